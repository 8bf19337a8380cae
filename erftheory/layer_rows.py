"""The rows of a receptive-field table: the TRF and the ERF's std after every layer entry.

:func:`erftheory.receptive_field` builds these rows when they are first read (see
:class:`erftheory.receptive_field._Deferred`). The TRF comes from the recurrence of
:mod:`erftheory.receptive_field`; the std of the ones-weight ``|ERF|`` grows layer by layer
as the kernels' covariances add (:class:`_ERFGrowth`), or is read off the composed map once
a signed weight makes ``|ERF|`` no convolution of distributions (:func:`_map_std`). A network
with fractional strides has its rows from exact backpropagation (:func:`_fractional`).
"""

from __future__ import annotations

from .architecture import Network
from .errors import ERFError
from .layers import _Spatial
from .receptive_field import LayerRow, ReceptiveField, _apply, _walk


def _rows(net: Network) -> tuple[LayerRow, ...]:
    """The TRF and the ones-weight ERF's std (of ``|ERF|``) after each layer entry.

    Kernel covariances add while every kernel is non-negative; from the first entry with a
    signed explicit weight on, ``|ERF|`` is no convolution of distributions, so its std is
    taken from the composed map of the prefix (as :func:`erftheory.erf` would give it).
    """
    from .blocks import _all_layers

    state = _walk((), net.dims)
    growth = _ERFGrowth(net.dims)
    signed = False
    rows = []
    for index, layer in enumerate(net.layers):
        signed = signed or any(
            getattr(x, "weights", None) is not None and (x.weight_array < 0).any()
            for x in _all_layers((layer,))
        )
        if signed:
            erf_std = _map_std(Network(net.layers[: index + 1], net.dims))
        else:
            erf_std = growth.add(layer, state.jump)
        state = _apply(state, layer)
        rows.append(_row(index, layer, state.size, state.jump, state.start, erf_std))
    return tuple(rows)


class _ERFGrowth:
    """The ones-weight ERF's covariance, layer by layer: covariances of composed kernels add.

    Each entry's own kernel moments (at unit jump) are scaled by the jump below it; only
    the entries' kernels are composed, never the ERF (see :mod:`erftheory.moments`).
    """

    def __init__(self, dims: int):
        import numpy as np

        self.dims, self.cov = dims, np.zeros((dims, dims))

    def add(self, layer, jump) -> tuple[float, ...] | None:
        import numpy as np

        from .moments import _predicted

        if self.cov is None:
            return None
        try:  # the layer is resolved already: no network to build and validate around it
            cov = np.array(_predicted((layer,), self.dims).covariance)
        except ERFError as err:
            if "closed form" not in str(err):  # kernels summing to zero: no moments from here
                self.cov = None
                return None
            cov = np.zeros((self.dims, self.dims))  # tanh/sigmoid are pointwise
        scale = np.asarray(jump, dtype=float)
        self.cov = self.cov + cov * np.outer(scale, scale)
        return tuple(float(np.sqrt(max(self.cov[a, a], 0.0))) for a in range(self.dims))


def _map_std(prefix: Network) -> tuple[float, ...] | None:
    """The std of ``|ERF|`` of a network from its composed map; None where it has none."""
    from .erf import erf

    try:  # peak-normalised: a deep signed stack's raw values may leave float64
        return erf(prefix, normalize="peak").std
    except ERFError:  # an all-zero map, or one beyond the memory budget
        return None


def _row(index, layer, size, jump, start, erf_std) -> LayerRow:
    from .compact import describe

    spatial = isinstance(layer, _Spatial)
    return LayerRow(
        index=index,
        layer=describe(layer),
        kernel=layer.kernel if spatial else None,
        stride=layer.stride if spatial else None,
        dilation=layer.dilation if spatial else None,
        repeat=layer.repeat,
        size=tuple(size),
        jump=jump,
        start=start,
        erf_std=erf_std,
    )


def _fractional(net: Network) -> ReceptiveField:
    """Rows of a network with upsampling/transposed convs, from exact backpropagation.

    With fractional strides the field depends on the output unit's phase; the rows describe
    output unit 0 of each prefix. The jump is a fraction (input pixels per output unit).
    """
    import math

    import numpy as np

    from .adjoint import backpropagate
    from .blocks import _fractional_jump
    from .result import _moments

    rows = []
    for index, layer in enumerate(net.layers):
        prefix = Network(net.layers[: index + 1], net.dims)
        with np.errstate(over="ignore", invalid="ignore"):
            g, start = backpropagate(prefix)
        jump = _fractional_jump(prefix.layers, net.dims)  # blocks and joins included
        jump_shown = tuple(int(j) if j.denominator == 1 else j for j in jump)
        # an overflowing pass (huge explicit weights) has no ERF std (erf says why)
        std = _moments(g)[1] if np.isfinite(g).all() else (math.nan,) * net.dims
        rows.append(_row(index, layer, g.shape, jump_shown, start, std))
    last = rows[-1]
    return ReceptiveField(last.size, last.jump, last.start, tuple(rows), net.treated_as_identity)
