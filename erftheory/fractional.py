"""The ERF of a network with upsampling or transposed convs, by the adjoint pass.

Kernel composition needs every layer to be a kernel at an integer stride; with fractional
strides the ERF is backpropagated through the network instead (:mod:`erftheory.adjoint`),
and its error bound counts the pass's roundings (:func:`_adjoint_ops`) against the absolute
paths' sum (:func:`_fractional_result`).
"""

from __future__ import annotations

import math

import numpy as np

from .bounds import TINY as _TINY
from .bounds import gamma
from .errors import ERFError
from .float_result import _normalised_error
from .receptive_field import ReceptiveField
from .result import ERFResult


def _fractional_result(net, base, weights, normalize, exact, unit) -> ERFResult:
    """The ERF of a network with upsampling/transposed convs (see :mod:`erftheory.adjoint`)."""
    from .adjoint import backpropagate

    if weights != "ones" or exact:
        raise ERFError(
            "networks with upsampling, pixel shuffles or transposed convs have an analytic ERF in "
            "weights='ones' float mode only (random weights and exact mode are not modelled "
            "for fractional strides yet); compare with the all-ones map (validate: "
            "--theory ones, theory='ones')"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values, start = backpropagate(net, unit)
    if not np.isfinite(values).all():
        raise ERFError(
            "the ERF overflows float64 in the backward pass of this network (weights too "
            "large for its depth); scale the explicit weights down"
        )
    rf = ReceptiveField(
        values.shape, base.effective_stride, start, base.rows, base.treated_as_identity
    )
    total = float(values.sum())
    peak = float(np.max(np.abs(values)))
    if peak == 0 and normalize is not None:
        raise ERFError(f"the ERF is identically zero; it cannot be normalised to {normalize}")
    ops = _adjoint_ops(net.layers)
    # the roundings scale with the paths' absolute products, which signed weights can make
    # far larger than the values they cancel down to: a second pass with |w| measures them
    scale = float(np.abs(values).sum())
    if _has_negative_weight(net.layers):
        with np.errstate(over="ignore", invalid="ignore"):
            scale = float(backpropagate(net, unit, absolute=True)[0].sum())
        if not math.isfinite(scale):
            raise ERFError(
                "the error bound of this ERF overflows float64 (its signed paths' absolute "
                "products leave float64 before they cancel); scale the explicit weights down"
            )
        scale *= 1 + gamma(ops + 2)  # the pass's own roundings (non-negative terms)
    error = gamma(ops + 2) * scale
    divisor = 1.0
    if normalize is not None:  # to sum 1 (a negative sum flips the signs) or to peak 1
        divisor = total if normalize == "sum" else peak
        error = _normalised_error(values, normalize, abs(divisor), peak, error, exact_hint=False)
    values = values / divisor
    return ERFResult(
        values=values,
        receptive_field=rf,
        weights=weights,
        normalize=normalize,
        method="adjoint",
        log10_mass=math.log10(abs(total)) if total else -math.inf,
        # no relative bound: the adjoint does not rescale on the way, so tails may underflow
        # unseen; the absolute bound takes the normalisation's rounding too
        abs_error=error,
        rel_error=None,
        underflow=int(np.count_nonzero((values != 0) & (np.abs(values) < _TINY))),
        network=net,
        mass_sign=-1 if total < 0 else 1,
    )


def _adjoint_ops(layers) -> int:
    """Roundings per path of the adjoint pass: taps per layer, nested repeats multiplied."""
    from .blocks import Block, Branches

    total = 0
    for layer in layers:
        if isinstance(layer, Branches):
            own = sum(_adjoint_ops(path) for path in layer.branches) + len(layer.branches)
        elif isinstance(layer, Block):
            own = _adjoint_ops(layer.layers) + 1  # a residual's skip is one more sum
        else:
            taps = getattr(layer, "kernel", None) or getattr(layer, "factor", None) or (1,)
            own = math.prod(taps) if isinstance(taps, tuple) else int(taps)
            own = 2 * own + 1  # a product and a sum per tap (bilinear: a weight each), slack
        total += layer.repeat * own
    return total


def _has_negative_weight(layers) -> bool:
    """Whether any explicit weight (conv, transposed or locally connected) is negative."""
    from .blocks import _all_layers

    return any(
        getattr(layer, "weights", None) is not None and (layer.weight_array < 0).any()
        for layer in _all_layers(layers)
    )
