"""Finite images: the ERF of any output unit on an input of a given shape.

On a finite input every padded position is a zero (zero padding) or a copy of an image pixel
(circular, reflect, replicate), so the network is still a linear map ``y = A x`` of the image,
with all-ones weights (or explicit ones), average kernels for pools,
ReLU gates at 1/2 and dropout at 1 as in :func:`erftheory.erf`. The ERF of output unit ``u``
is the row ``A^T e_u``, shaped like the input: one backward pass of the NumPy autograd
(:mod:`erftheory.finite_pass`). What the borders do to every unit at once, by forward passes
only, is :func:`erftheory.borders.border_maps` (also importable from here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import autograd as ag
from .architecture import Network
from .borders import BorderMaps, border_maps  # (re-exported: __init__, cli_theory, tests)
from .erf import DEFAULT_MAX_BYTES
from .errors import ERFError
from .finite_moments import _circular_centre, _position_dependent, _unbounded_mass, _wraps
from .finite_pass import _forward, _prepare
from .layers import PADDING_MODES
from .resolution import _indices

__all__ = ["FiniteERF", "BorderMaps", "finite_erf", "border_maps", "PADDING_MODES"]


@dataclass(frozen=True, eq=False)
class FiniteERF:
    """The ERF of one output unit on a finite input, shaped like the input.

    ``mass`` is its total; ``unbounded_mass`` that of the same unit on an unbounded input;
    ``centre`` its centre of mass per axis and ``nominal_centre`` the TRF centre of the unit.
    """

    values: np.ndarray
    unit: tuple[int, ...]
    output_shape: tuple[int, ...]
    mass: float
    unbounded_mass: float
    centre: tuple[float, ...]
    nominal_centre: tuple[float, ...]

    def to_dict(self) -> dict:
        """A JSON-ready summary (without the array)."""
        return {
            "input": list(self.values.shape),
            "output": list(self.output_shape),
            "unit": list(self.unit),
            "mass": self.mass,
            "unbounded_mass": self.unbounded_mass,
            "lost_fraction": 1 - self.mass / self.unbounded_mass if self.unbounded_mass else None,
            "centre": list(self.centre),
            "nominal_centre": list(self.nominal_centre),
        }


def finite_erf(
    arch,
    input_shape,
    unit=None,
    padding_mode: str | None = None,
    max_bytes: float = DEFAULT_MAX_BYTES,
) -> FiniteERF:
    """The ERF (all-ones weights) of output ``unit`` on an input of ``input_shape``.

    Parameters
    ----------
    arch : Network, dict, str or path
        Layers pad as they declare (amounts, ``'same'``/``'valid'``, mode).
    input_shape : sequence of int, or int for a 1-d network
        Positive sizes, one per axis (a bare int such as ``5`` means ``(5,)``, for a
        1-d network only).
    unit : sequence of int, or int for a 1-d network, optional
        Output index per axis; default the centre unit ``n // 2`` of the output.
    padding_mode : {"zeros", "circular", "reflect", "replicate"}, optional
        The network-wide padding mode, for the layers that declare none (a layer's own
        mode wins); None: those layers pad with zeros.
    max_bytes : float
        Refuse, before allocating, an input whose estimated working memory exceeds this
        many bytes (default 4 GiB). The backward pass keeps, per conv or pool, its im2col
        matrix (output positions x kernel taps values) and the gradient of every feature
        map: tens of times the input's own size.

    Returns
    -------
    FiniteERF

    Raises
    ------
    ERFError
        For a shape or unit that is not integers, one per axis (strings, bools and
        non-integer numbers such as ``5.5`` are refused, never truncated), a non-positive
        size, a unit outside the output, an input over 1 GiB, an unknown padding mode, a
        ``max_bytes`` that is not a positive number, or an input whose working memory would
        exceed it.

    Examples
    --------
    >>> r = finite_erf("1d: conv3/p1", (5,), unit=(0,))      # a border unit, zero padding
    >>> r.values.tolist(), r.mass, r.unbounded_mass
    ([1.0, 1.0, 0.0, 0.0, 0.0], 2.0, 3.0)
    """
    from .receptive_field import receptive_field

    net, shape, out = _prepare(arch, input_shape, padding_mode, max_bytes, backward=True)
    unit = _output_unit(unit, out)
    x = ag.Tensor(np.zeros((1, 1, *shape)), requires_grad=True)
    ag.total(ag.select(_forward(net.layers, x), unit)).backward()
    values = x.grad[0, 0]
    mass = float(values.sum())
    centre = _centre(net, values, shape, mass)
    nominal = _nominal_centre(receptive_field(net), unit)
    unbounded = _unbounded_mass(net, unit if _position_dependent(net) else None)
    return FiniteERF(values, unit, out, mass, unbounded, centre, nominal)


def _output_unit(unit, out) -> tuple[int, ...]:
    """``unit`` checked to lie inside an output of shape ``out``; None: the centre unit."""
    unit = tuple(n // 2 for n in out) if unit is None else _indices(unit, "unit", len(out), 0)
    if len(unit) != len(out) or any(not 0 <= u < n for u, n in zip(unit, out)):
        raise ERFError(f"unit {list(unit)} is outside the output of shape {list(out)}")
    return unit


def _centre(net: Network, values: np.ndarray, shape, mass: float) -> tuple[float, ...]:
    """The ERF's centre of mass per axis, a circular mean on a torus (NaN without mass)."""
    grids = np.indices(shape).reshape(len(shape), -1)
    if _wraps(net):  # on a torus the centre is a circular mean
        return tuple(
            float(
                _circular_centre(
                    float(np.cos(t) @ values.reshape(-1)),
                    float(np.sin(t) @ values.reshape(-1)),
                    n,
                    float(np.abs(values).sum()),
                )
            )
            if mass
            else math.nan
            for t, n in zip(2 * np.pi * grids / np.array(shape)[:, None], shape)
        )
    return tuple(float(g @ values.reshape(-1) / mass) if mass else math.nan for g in grids)


def _nominal_centre(rf, unit) -> tuple[float, ...]:
    """The TRF centre of output ``unit`` per axis, in input pixels."""
    return tuple(
        s + u * j + (r - 1) / 2 for s, u, j, r in zip(rf.start, unit, rf.effective_stride, rf.size)
    )
