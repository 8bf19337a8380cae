"""Rewrites of a network for the Monte-Carlo run and for the theory it is checked against.

The Monte-Carlo network (:mod:`erftheory.montecarlo`) runs with its activations replaced on
request (:func:`with_activation`) and its top-level layers unpadded (:func:`_unpadded`); the
theory (:mod:`erftheory.prediction`) sees repeats written out (:func:`_unrolled`) and convs
without explicit weights given fixed ones (:func:`_fixed_convs`,
:func:`_without_random_convs`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .architecture import Network
from .blocks import Block, Branches, Residual, _all_layers, _map_layers
from .errors import ERFError
from .layers import Conv, MaxPool, _Spatial
from .pointwise import GELU, Identity, ReLU, Sigmoid, SiLU, Smooth, Tanh

__all__ = ["ACTIVATIONS", "with_activation"]

ACTIVATIONS = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "silu": SiLU,
    "linear": None,
}


def with_activation(net: Network, activation: str) -> Network:
    """The network with its activations replaced: one ``activation`` after every conv.

    ``"linear"`` removes them all.

    Examples
    --------
    >>> from erftheory.parse import as_network, to_compact
    >>> to_compact(with_activation(as_network("1d: conv3, relu, conv3"), "tanh"))
    '1d: conv3, tanh, conv3, tanh'
    >>> to_compact(with_activation(as_network("1d: conv3, relu, conv3"), "linear"))
    '1d: conv3, conv3'
    """
    if activation not in ACTIVATIONS:
        raise ERFError(f"activation={activation!r} is not one of {', '.join(ACTIVATIONS)}")
    gate = ACTIVATIONS[activation]

    def rebuild(layers):
        out = []
        for layer in layers:
            if isinstance(layer, (ReLU, Smooth)):
                continue
            if isinstance(layer, Branches):
                out.append(
                    replace(
                        layer, branches=tuple(rebuild(b) or (Identity(),) for b in layer.branches)
                    )
                )
            elif isinstance(layer, Block):
                out.append(replace(layer, layers=rebuild(layer.layers) or (Identity(),)))
            elif isinstance(layer, Conv) and gate is not None:
                unit = (replace(layer, repeat=1), gate())
                out.append(Block(unit, repeat=layer.repeat) if layer.repeat > 1 else unit[0])
                if layer.repeat == 1:
                    out.append(gate())
            else:
                out.append(layer)
        return tuple(out)

    return Network(rebuild(net.layers), net.dims)


def _unpadded(net: Network) -> Network:
    """Top-level conv/pool layers without padding (the ERF's shape does not depend on it)."""

    def strip(layer):
        if isinstance(layer, _Spatial):
            return replace(layer, padding=((0, 0),) * net.dims)
        return layer

    def plain_block(layer):  # a residual body and the branches keep their padding
        return isinstance(layer, Block) and not isinstance(layer, Residual)

    return Network(_map_layers(net.layers, strip, plain_block), net.dims)


def _unrolled(net: Network) -> Network:
    """The network with every repeat written out: each conv run is a layer object of its own.

    A conv repeated after a concatenation reads more channels the first time than the next
    (``cat(conv1 | id), conv3*2``): its weights' variance under Xavier or He differs per run,
    which a variance function of the layer object can only tell apart once they are distinct.
    """

    def unroll(layers) -> tuple:
        out = []
        for layer in layers:
            for _ in range(layer.repeat):
                one = replace(layer, repeat=1)
                if isinstance(layer, Branches):
                    one = replace(one, branches=tuple(unroll(b) for b in layer.branches))
                elif isinstance(layer, Block):
                    one = replace(one, layers=unroll(layer.layers))
                out.append(one)
        return tuple(out)

    return replace(net, layers=unroll(net.layers))


def _fixed_convs(net: Network) -> Network:
    """``net`` with every conv without explicit weights given all-ones weights (fixed)."""
    return _random_convs_as(net, np.ones)


def _without_random_convs(net: Network) -> Network:
    """``net`` with every random conv's weights zero: the paths that keep a mean."""
    return _random_convs_as(net, np.zeros)


def _random_convs_as(net: Network, fill) -> Network:
    """``net`` with every conv without explicit weights given ``fill(kernel)`` as weights."""

    def fixed(layer):
        if isinstance(layer, Conv) and layer.weights is None:
            return replace(layer, weights=fill(layer.kernel).tolist())
        return layer

    return replace(net, layers=_map_layers(net.layers, fixed))


def _non_negative(net: Network) -> bool:
    """Whether every fixed kernel is non-negative (convs without weights are all ones)."""
    return all(
        not (isinstance(x, Conv) and x.weights is not None and (x.weight_array < 0).any())
        for x in _layers(net)
    )


def _layers(net: Network) -> list:
    """Every layer of ``net``, blocks' bodies included, in order."""
    return list(_all_layers(net.layers))


def _gated(net: Network) -> bool:
    """Whether any layer gates the gradient (ReLU, a smooth activation, a max pool)."""
    return any(isinstance(x, (ReLU, Smooth, MaxPool)) for x in _all_layers(net.layers))
