"""The architecture model: the network, a frozen sequence of layers on a ``dims``-d input.

The layers are frozen dataclasses defined by concept (:mod:`erftheory.layers` the spatial
ones, :mod:`erftheory.pointwise` activations and the like, :mod:`erftheory.blocks` the
containers and the walks over them) and importable from here. Every per-axis field
(``kernel``, ``stride``, ``dilation``, ``padding``) may be given as an int (the same on every
axis) or a tuple per axis; :class:`Network` resolves them to tuples of length ``dims`` and
validates them, so the rest of erftheory trusts its frozen objects.

Conventions (cross-correlation, as in framework conv layers)::

    z_l[i] = sum_m w_l[m] * z_(l-1)[s_l * i + d_l * m - p_l]

where ``p_l`` is the padding before the first input element.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Union

from .blocks import Block, Branches, Residual, _all_layers, _depth, _map_layers, _resolve_layer
from .errors import ERFError
from .layers import (
    PADDING_MODES,
    AdaptiveAvgPool,
    AvgPool,
    Conv,
    ConvTranspose,
    GlobalAvgPool,
    LocallyConnected,
    MaxPool,
    PixelShuffle,
    Upsample,
    _Spatial,
)
from .pointwise import (
    GELU,
    BatchNorm,
    Dropout,
    Identity,
    LayerNorm,
    ReLU,
    Sigmoid,
    SiLU,
    Tanh,
)

__all__ = [
    "Conv",
    "AvgPool",
    "MaxPool",
    "ReLU",
    "Tanh",
    "GELU",
    "SiLU",
    "Sigmoid",
    "Dropout",
    "Residual",
    "Block",
    "Branches",
    "Identity",
    "BatchNorm",
    "LayerNorm",
    "ConvTranspose",
    "LocallyConnected",
    "Upsample",
    "PixelShuffle",
    "GlobalAvgPool",
    "AdaptiveAvgPool",
    "Network",
    "Layer",
]


Layer = Union[
    Conv,
    AvgPool,
    MaxPool,
    ConvTranspose,
    LocallyConnected,
    Upsample,
    PixelShuffle,
    GlobalAvgPool,
    AdaptiveAvgPool,
    ReLU,
    Tanh,
    Sigmoid,
    GELU,
    SiLU,
    Identity,
    BatchNorm,
    LayerNorm,
    Dropout,
    Block,
    Residual,
    Branches,
]


def _check_dims(dims) -> None:
    """Refuse dims that are not 1, 2 or 3."""
    if isinstance(dims, bool) or not isinstance(dims, int) or dims not in (1, 2, 3):
        raise ERFError(f"dims={dims!r} is not 1, 2 or 3")


@dataclass(frozen=True)
class Network:
    """An immutable network: ``dims`` spatial axes and a sequence of layers.

    Parameters
    ----------
    layers : sequence of layers
        Any :data:`Layer`: Conv, AvgPool, MaxPool, ConvTranspose, LocallyConnected, Upsample,
        PixelShuffle, GlobalAvgPool, AdaptiveAvgPool, the pointwise layers (ReLU, Tanh,
        Sigmoid, GELU, SiLU, Identity, BatchNorm, LayerNorm, Dropout) and the blocks (Block,
        Residual, Branches).
    dims : int
        Number of spatial axes, 1, 2 or 3.

    Examples
    --------
    >>> net = Network([Conv(3) * 10], dims=2)
    >>> net.layers[0].kernel
    (3, 3)
    """

    layers: tuple = ()
    dims: int = 2

    def __post_init__(self):
        _check_dims(self.dims)
        try:
            layers = tuple(self.layers)
        except TypeError:
            raise ERFError(
                f"layers={self.layers!r} is not a sequence of layers (Conv(3), ReLU(), ...)"
            ) from None
        if not layers:
            raise ERFError("the network has no layers")
        resolved = tuple(
            _resolve_layer(layer, self.dims, f"layers[{i}]", False)
            for i, layer in enumerate(layers)
        )
        object.__setattr__(self, "layers", resolved)

    def __hash__(self) -> int:  # hashed once: networks key the memo caches of every call
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.layers, self.dims))
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self) -> dict:  # the hash memo stays behind: str hashes vary by process
        state = dict(self.__dict__)
        state.pop("_hash", None)
        return state

    def __add__(self, other: Network) -> Network:
        if not isinstance(other, Network) or other.dims != self.dims:
            raise ERFError("only networks with the same dims can be concatenated")
        return Network(self.layers + other.layers, self.dims)

    def repeated(self, n: int) -> Network:
        """The whole network repeated ``n`` times in sequence (for depth sweeps)."""
        return Network((Block(self.layers, repeat=1) * n,), self.dims)

    @property
    def needs_resolution(self) -> bool:
        """Whether the network has global or adaptive pooling (sized by the input)."""
        return any(isinstance(x, (GlobalAvgPool, AdaptiveAvgPool)) for x in self.layers)

    @functools.cached_property
    def fractional(self) -> bool:
        """Whether the ERF needs backpropagation: fractional strides or position-dependent kernels.

        Upsampling and transposed convs (the ERF depends on the unit's phase) and locally
        connected layers (a kernel per position) are not kernel compositions.
        """
        kinds = (Upsample, ConvTranspose, LocallyConnected)
        return any(isinstance(x, kinds) for x in _all_layers(self.layers))

    @property
    def treated_as_identity(self) -> tuple[str, ...]:
        """Layer types the user opted to treat as identity (sorted, unique)."""
        return tuple(
            sorted(
                {x.origin for x in _all_layers(self.layers) if isinstance(x, Identity) and x.origin}
            )
        )

    @property
    def depth(self) -> int:
        """The number of conv and pooling layers, counting repeats (activations excluded)."""
        return _depth(self.layers)


def with_padding_mode(net: Network, mode: str | None) -> Network:
    """The network with ``mode`` for every conv/pool that declares no padding mode.

    The network-wide default of the JSON format's top-level ``"padding"``, the compact
    string's ``circular:`` prefix and ``--padding``; a layer's own mode overrides it (so a
    prefix in the architecture, stored on its layers, wins over ``--padding``). ``None``
    changes nothing.
    """
    if mode is None:
        return net
    if mode not in PADDING_MODES:
        raise ERFError(f"padding mode {mode!r} is not one of {', '.join(PADDING_MODES)}")

    def set_mode(layer):
        if isinstance(layer, _Spatial) and not isinstance(layer, ConvTranspose):  # pads no input
            return replace(layer, padding_mode=layer.padding_mode or mode)
        return layer

    return Network(_map_layers(net.layers, set_mode), net.dims)
