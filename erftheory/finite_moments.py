"""Mass and centre of an ERF on a finite input, beside those of the unbounded input.

The mass a finite-input ERF keeps is compared with the unit's mass on an unbounded input
(:func:`_unbounded_mass`, or :func:`_local_mass` per unit behind locally connected layers);
its centre is a centre of mass, or a circular mean when a layer pads circularly and the
input is a torus (:func:`_wraps`, :func:`_circular_centre`). Shared by
:func:`erftheory.finite.finite_erf` and :func:`erftheory.borders.border_maps`.
"""

from __future__ import annotations

import math

import numpy as np

from .architecture import Network
from .blocks import _all_layers
from .errors import ERFError
from .layers import LocallyConnected, _Spatial


def _wraps(net: Network) -> bool:
    """Whether a layer pads circularly (the input is then a torus for the centre)."""
    return any(
        isinstance(x, _Spatial) and x.padding_mode == "circular" for x in _all_layers(net.layers)
    )


def _circular_centre(cos_moment, sin_moment, n: int, mass):
    """The circular mean position in ``[0, n)`` from the first trigonometric moments.

    NaN where it is undefined: a field spread evenly around the circle has a resultant of
    (numerically) zero length, and no direction.
    """
    centre = (np.arctan2(sin_moment, cos_moment) * n / (2 * np.pi)) % n
    # a centre at 0 comes back as a tiny negative angle, which wraps to n - eps (or to n
    # itself after rounding): within rounding of n is 0
    centre = np.where(n - centre <= 1e-12 * n, 0.0, centre)
    flat = np.hypot(cos_moment, sin_moment) <= 1e-9 * np.abs(mass)
    return np.where(flat, np.nan, centre) if np.ndim(centre) else (math.nan if flat else centre)


def _unbounded_mass(net: Network, unit=None) -> float:
    """The ERF mass of a unit on an unbounded input (exact in float64 when it fits).

    Every unit has the same one, except behind a locally connected layer, whose kernels
    differ from unit to unit (and whose grid may not hold the paths: then NaN).
    """
    from .erf import erf

    try:
        return float(erf(net, unit=unit).values.sum())
    except ERFError:  # beyond float64 raw: the logarithm is what there is
        try:
            return 10.0 ** erf(net, normalize="sum", unit=unit).log10_mass
        except ERFError:
            return math.nan


def _local_mass(net: Network, unit) -> float:
    """One unit's unbounded mass behind locally connected layers (NaN off their grid)."""
    from .adjoint import backpropagate

    try:
        return float(backpropagate(net, unit)[0].sum())
    except ERFError:
        return math.nan


def _position_dependent(net: Network) -> bool:
    """Whether a locally connected layer gives every unit its own kernels (and mass)."""
    return any(isinstance(x, LocallyConnected) for x in _all_layers(net.layers))
