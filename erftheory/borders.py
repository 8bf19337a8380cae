"""Border maps: how much ERF mass every output unit loses to the padding, and its centre's pull.

For all units at once no backward pass per unit is needed, by linearity: the forward pass of
an all-ones image gives every unit's ERF mass ``(A 1)(u)``, and that of the coordinate image
``c(p) = p`` (per axis) its first moment, so the ERF centre of every unit is
``(A c)(u) / (A 1)(u)``. With zero padding the mass lost to the padding is the unbounded
mass minus ``(A 1)(u)``; the pull is the centre's offset from the unit's nominal (TRF) centre.
(``A`` is the finite-input network as a linear map, see :mod:`erftheory.finite_pass`.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import autograd as ag
from .erf import DEFAULT_MAX_BYTES
from .finite_moments import (
    _circular_centre,
    _local_mass,
    _position_dependent,
    _unbounded_mass,
    _wraps,
)
from .finite_pass import _forward, _prepare, _released
from .report import json_ready

__all__ = ["BorderMaps", "border_maps"]


@dataclass(frozen=True, eq=False)
class BorderMaps:
    """Per output unit: ERF mass, the fraction lost to padding, the ERF centre and its pull.

    ``lost_fraction = 1 - mass / unbounded_mass`` (zero padding loses mass; the other modes
    fold it back onto the image); ``pull[a]`` is the centre minus the nominal TRF centre
    along axis ``a`` (input pixels).
    """

    mass: np.ndarray
    lost_fraction: np.ndarray
    centre: np.ndarray
    pull: np.ndarray
    unbounded_mass: float | np.ndarray  # per unit behind locally connected layers
    input_shape: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-ready summary statistics and the maps as nested lists."""
        return {
            "input": list(self.input_shape),
            "output": list(self.mass.shape),
            "unbounded_mass": json_ready(self.unbounded_mass),
            "max_lost_fraction": (
                float(np.nanmax(self.lost_fraction))
                if np.any(~np.isnan(self.lost_fraction))
                else None  # the kernels sum to zero: no mass to lose
            ),
            "units_losing_mass": int(np.count_nonzero(self.lost_fraction > 1e-12)),
            "max_pull": [
                json_ready(np.nanmax(np.abs(p))) if np.any(~np.isnan(p)) else None
                for p in self.pull
            ],
            "lost_fraction": json_ready(self.lost_fraction),
            "pull": [json_ready(p) for p in self.pull],  # NaN: no centre (no mass, or flat)
        }

    def __str__(self) -> str:
        d = self.to_dict()
        return "\n".join(
            [
                f"borders of a {' x '.join(map(str, self.input_shape))} input "
                f"({' x '.join(map(str, self.mass.shape))} output units)",
                f"  units losing ERF mass to padding       {d['units_losing_mass']} of "
                f"{self.mass.size}",
                "  largest mass lost                      "
                + (
                    f"{d['max_lost_fraction']:.1%}"
                    if d["max_lost_fraction"] is not None
                    else "undefined (the kernels sum to zero: no mass to lose)"
                ),
                f"  largest pull of the ERF centre         "
                f"{' x '.join('-' if v is None else f'{v:.3g}' for v in d['max_pull'])} pixels",
            ]
        )


def border_maps(
    arch,
    input_shape,
    padding_mode: str | None = None,
    max_bytes: float = DEFAULT_MAX_BYTES,
) -> BorderMaps:
    """How much ERF mass each output unit loses to the padding, and where its centre moves.

    Two forward passes per axis (an all-ones image and a coordinate image), never one
    backward pass per unit: see the module docstring.

    Parameters
    ----------
    arch : Network, dict, str or path
        Layers pad as they declare (amounts, ``'same'``/``'valid'``, mode).
    input_shape : sequence of int, or int for a 1-d network
        Positive sizes, one per axis (a bare int such as ``5`` means ``(5,)``, for a
        1-d network only).
    padding_mode : {"zeros", "circular", "reflect", "replicate"}, optional
        As for :func:`~erftheory.finite.finite_erf`.
    max_bytes : float
        Refuse, before allocating, an input whose estimated working memory exceeds this
        many bytes (default 4 GiB). One forward pass at a time is alive: per conv or pool
        its im2col matrix (output positions x kernel taps values), padded copy and output.

    Returns
    -------
    BorderMaps

    Raises
    ------
    ERFError
        As for :func:`~erftheory.finite.finite_erf`.

    Examples
    --------
    >>> b = border_maps("1d: conv3/p1*2", (6,))
    >>> b.mass.tolist()                  # 9 paths per unit, minus those into the padding
    [5.0, 8.0, 9.0, 9.0, 8.0, 5.0]
    """
    from .receptive_field import receptive_field

    net, shape, out = _prepare(arch, input_shape, padding_mode, max_bytes, backward=False)
    ones = _released(_forward(net.layers, ag.Tensor(np.ones((1, 1, *shape)))))
    unbounded = _unbounded_masses(net, out)
    rf = receptive_field(net)
    centres, pulls = [], []
    wraps = _wraps(net)
    for axis in range(len(shape)):
        nominal = _nominal_centres(rf, out, axis)
        centre, pull = _centre_and_pull(net, shape, axis, nominal, ones, wraps)
        centres.append(centre)
        pulls.append(pull)
    lost = _lost_fraction(ones, unbounded)
    return BorderMaps(ones, lost, np.array(centres), np.array(pulls), unbounded, shape)


def _unbounded_masses(net, out) -> float | np.ndarray:
    """The unbounded ERF mass: one for every unit, or one per unit behind local layers."""
    if _position_dependent(net):  # a mass per unit: one adjoint pass each (local layers)
        return np.array([_local_mass(net, u) for u in np.ndindex(*out)]).reshape(out)
    return _unbounded_mass(net)


def _moment(net, shape, axis: int, profile: np.ndarray) -> np.ndarray:
    """Every unit's response to the image that is ``profile`` along ``axis``, constant across."""
    along = [-1 if a == axis else 1 for a in range(len(shape))]
    image = np.broadcast_to(profile.reshape(along), shape)
    return _released(_forward(net.layers, ag.Tensor(np.array(image)[None, None])))


def _nominal_centres(rf, out, axis: int) -> np.ndarray:
    """The TRF centre of every output unit along ``axis`` (input pixels), broadcastable."""
    units = np.arange(out[axis]).reshape([-1 if a == axis else 1 for a in range(len(out))])
    return rf.start[axis] + units * rf.effective_stride[axis] + (rf.size[axis] - 1) / 2


def _centre_and_pull(net, shape, axis: int, nominal, ones, wraps: bool):
    """Every unit's ERF centre along ``axis``, and its offset from ``nominal`` (NaN: none)."""
    n = shape[axis]
    if wraps:  # a circular mean: cos and sin images, and the pull wrapped to [-n/2, n/2)
        angle = 2 * np.pi * np.arange(n) / n
        centre = _circular_centre(
            _moment(net, shape, axis, np.cos(angle)),
            _moment(net, shape, axis, np.sin(angle)),
            n,
            ones,
        )
        return centre, (centre - nominal + n / 2) % n - n / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(
            ones != 0, _moment(net, shape, axis, np.arange(n, dtype=float)) / ones, np.nan
        )
    return centre, centre - nominal


def _lost_fraction(ones, unbounded) -> np.ndarray:
    """``1 - mass / unbounded_mass`` per unit, rounding noise below 1e-12 set to zero."""
    # (a kernel summing to zero has no mass to lose: NaN, undefined, as the text says)
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = np.where(np.asarray(unbounded) != 0, 1.0 - ones / unbounded, np.nan)
    lost[np.abs(lost) < 1e-12] = 0.0
    return lost
