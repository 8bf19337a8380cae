"""The analytic ERF an empirical map is compared with: which theory, which output unit.

The aggregation protocol implies the theory (:data:`THEORY_FOR`, see the table in
:mod:`erftheory.validate`); a network with upsampling or transposed convs has an ERF that
depends on the output unit's phase, so every phase is a candidate theory.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ERFError

__all__ = ["THEORY_FOR"]

THEORY_FOR = {
    "sq": ("random", "E[g^2], random weights"),
    "abs": ("random-sqrt", "sqrt(E[g^2]), random weights"),
    "relu": ("random-sqrt", "sqrt(E[g^2]), random weights"),
    "raw": ("ones", "E[g], all-ones weights"),
    "none": ("random-sqrt", "sqrt(E[g^2]), random weights"),
}
_THEORIES = {
    "random": "E[g^2], random weights",
    "random-sqrt": "sqrt(E[g^2]), random weights",
    "ones": "E[g], all-ones weights",
}


def _theory(aggregate: str, theory: str | None) -> tuple[str, str]:
    """The analytic map that ``aggregate`` (or ``theory``) compares with, and what it is."""
    if aggregate not in THEORY_FOR:
        raise ERFError(f"aggregate={aggregate!r} is not one of {', '.join(THEORY_FOR)}")
    mode, text = THEORY_FOR[aggregate]
    if theory is not None:
        if theory not in _THEORIES:
            raise ERFError(f"theory={theory!r} is not one of {', '.join(_THEORIES)}")
        mode, text = theory, _THEORIES[theory]
    return mode, text


def _analytic(net, mode: str, output_unit, max_bytes) -> np.ndarray:
    """The analytic map of ``mode`` for ``output_unit`` (its shape; any scale)."""
    from .erf import erf

    weights = "ones" if mode == "ones" else "random"
    analytic = erf(
        net, weights=weights, normalize="peak", unit=output_unit, max_bytes=max_bytes
    ).values
    return np.sqrt(analytic) if mode == "random-sqrt" else analytic


# phases tried at most, over all axes, when the output unit of a fractional network is fitted
_MAX_PHASES = 64


def _phases(net, output_unit) -> list:
    """The output units to try: the one given, or every phase of a fractional network.

    A network with upsampling or transposed convs repeats its ERF with a period dividing
    the product of their factors and strides per axis; other networks give every unit the
    same ERF (unit 0 is enough).
    """
    import itertools

    from .blocks import _all_layers
    from .layers import ConvTranspose, Upsample

    if output_unit is not None:
        return [output_unit]
    if not net.fractional:
        return [None]
    period = [1] * net.dims
    for layer in _all_layers(net.layers):
        if isinstance(layer, (Upsample, ConvTranspose)):
            factor = layer.factor if isinstance(layer, Upsample) else layer.stride
            period = [p * f**layer.repeat for p, f in zip(period, factor)]
    if math.prod(period) > _MAX_PHASES:
        return [(0,) * net.dims]
    return list(itertools.product(*(range(p) for p in period)))


def _phase_note(phases, chosen, output_unit, net) -> str:
    """Which output unit the theory is of, for a network whose ERF depends on it.

    A given ``output_unit`` that cannot matter (no upsampling, transposed or locally
    connected layer: every unit has the same ERF) is said to have changed nothing.
    """
    if output_unit is not None and not _unit_dependent(net):
        return (
            f"output unit {list(output_unit)} changes nothing: this network (no upsampling, "
            "transposed or locally connected layer) gives every output unit the same ERF"
        )
    if output_unit is not None or phases == [None]:
        return ""
    if len(phases) == 1:
        return (
            f"The theory is the ERF of output unit {list(chosen)}: this network's ERF depends on "
            "the output unit's phase (upsampling or transposed convs) and it has too many "
            "phases to try each; pass the measured unit as output_unit (--output-unit)."
        )
    return (
        f"The output unit's phase was fitted: of the {len(phases)} phases of this network "
        "(upsampling or transposed convs make the ERF depend on it), output unit "
        f"{list(chosen)} has the least total variation; pass output_unit (--output-unit) to "
        "compare with the unit measured."
    )


def _unit_dependent(net) -> bool:
    """Whether the ERF depends on the output unit (on an unbounded input)."""
    from .blocks import _all_layers
    from .layers import LocallyConnected

    return net.fractional or any(isinstance(x, LocallyConnected) for x in _all_layers(net.layers))


def _padding_note(net, map_shape) -> str:
    """Why a field cut by the map's edge differs inside the image too, where the net pads."""
    from .blocks import _all_layers

    pads = any(
        any(any(pair) for pair in getattr(layer, "padding", None) or ())
        for layer in _all_layers(net.layers)
    )
    if not pads:
        return ""
    shape = "x".join(map(str, map_shape))
    return (
        "The network pads and its field reaches past the map: paths through the padding of "
        "the intermediate feature maps are lost, so even the values inside the image differ "
        "from the unbounded theory compared here. The exact reference is the finite-input "
        f"ERF: erftheory.finite_erf(arch, {tuple(map_shape)}) (erftheory erf ARCH --input "
        f"{shape}), all-ones weights."
    )
