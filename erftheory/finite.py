"""Finite images: the ERF of any output unit, and what the borders do to every unit at once.

On a finite input every padded position is a zero (zero padding) or a copy of an image pixel
(circular, reflect, replicate), so the network is still a linear map ``y = A x`` of the image,
with all-ones weights (or explicit ones), average kernels for pools,
ReLU gates at 1/2 and dropout at 1 as in :func:`erftheory.erf`. The ERF of output unit ``u``
is the row ``A^T e_u``, shaped like the input: one backward pass of the NumPy autograd.

For all units at once no backward pass per unit is needed, by linearity: the forward pass of
an all-ones image gives every unit's ERF mass ``(A 1)(u)``, and that of the coordinate image
``c(p) = p`` (per axis) its first moment, so the ERF centre of every unit is
``(A c)(u) / (A 1)(u)``. With zero padding the mass lost to the padding is the unbounded
mass minus ``(A 1)(u)``; the pull is the centre's offset from the unit's nominal (TRF) centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import autograd as ag
from .architecture import (
    PADDING_MODES,
    AvgPool,
    BatchNorm,
    Block,
    Branches,
    Conv,
    Dropout,
    Identity,
    LayerNorm,
    LocallyConnected,
    MaxPool,
    Network,
    ReLU,
    Residual,
    Smooth,
    _all_layers,
    _Spatial,
    with_padding_mode,
)
from .budget import _check_budget, _estimated_bytes, _refuse_over_budget, _Tally
from .erf import DEFAULT_MAX_BYTES
from .errors import ERFError
from .resolution import _indices

__all__ = ["FiniteERF", "BorderMaps", "finite_erf", "border_maps", "PADDING_MODES"]


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


def _forward(layers, x: ag.Tensor) -> ag.Tensor:
    for layer in layers:
        for _ in range(layer.repeat):
            x = _layer(layer, x)
    return x


def _layer(layer, x: ag.Tensor) -> ag.Tensor:
    if isinstance(layer, Branches):
        outs = [_forward(path, x) for path in layer.branches]
        for o in outs[1:]:
            outs[0] = ag.add(outs[0], o)
        return outs[0]
    if isinstance(layer, Residual):
        return ag.add(x, _forward(layer.layers, x))
    if isinstance(layer, Block):
        return _forward(layer.layers, x)
    if type(layer) is Conv:
        w = np.ones(layer.kernel) if layer.weights is None else layer.weight_array
        return ag.conv(
            x,
            ag.Tensor(w[None, None]),
            layer.stride,
            layer.dilation,
            layer.padding,
            layer.padding_mode or "zeros",
        )
    if isinstance(layer, (AvgPool, MaxPool)):  # max pooling: its expectation, the average
        w = ag.Tensor(np.full(layer.kernel, 1.0 / math.prod(layer.kernel))[None, None])
        mode = layer.padding_mode or "zeros"
        args = (layer.stride, layer.dilation, layer.padding, mode)
        y = ag.conv(x, w, *args)
        if isinstance(layer, MaxPool) and mode == "zeros" and np.any(layer.padding):
            # frameworks pad a max pool with -inf: over iid inputs each input inside the
            # window is its max with equal probability, and the padding never is
            inside = _inside_share(x.shape[2:], layer)
            factor = np.divide(1.0, inside, out=np.zeros_like(inside), where=inside > 0)
            y = ag._pointwise(y, y.data * factor, factor)
        return y
    if isinstance(layer, LocallyConnected):
        mode = layer.padding_mode or "zeros"
        w = layer.weight_array
        return ag.local(x, w, layer.stride, layer.dilation, layer.padding, mode)
    if isinstance(layer, ReLU):
        return ag.scale(x, 0.5)
    if isinstance(layer, (Dropout, Identity, BatchNorm, LayerNorm)):
        return x
    raise ERFError(
        f"finite-image ERFs cover conv, pooling, locally connected, residual and branch "
        f"layers; {layer.type} is not modelled on finite inputs yet"
    )


def _inside_share(shape, layer) -> np.ndarray:
    """Per output position of a pool, the share of its window's taps inside the input.

    A product over axes (a window is a box): on each, the taps ``s i + d m - before`` that
    land in ``[0, n)``, counted in integers.
    """
    from .resolution import _out

    share = np.ones(())
    for n, m_out, k, d, s, (before, _) in zip(
        shape, _out(shape, layer), layer.kernel, layer.dilation, layer.stride, layer.padding
    ):
        taps = s * np.arange(m_out)[:, None] + d * np.arange(k)[None, :] - before
        share = np.multiply.outer(share, ((taps >= 0) & (taps < n)).sum(axis=1) / k)
    return share


def _released(y: ag.Tensor) -> np.ndarray:
    """The values of a forward pass's output, its graph freed at once (no backward pass).

    Each step's backward closure refers to its output tensor, a reference cycle that would
    keep every im2col matrix of the pass alive until a garbage collection, so the next pass
    would run beside it: break the cycles as ``Tensor.backward`` does when it ends.
    """
    values, stack = y.data[0, 0], [y]
    while stack:
        t = stack.pop()
        stack.extend(t._parents)
        t._backward, t._parents = ag._no_backward, ()
    return values


def _working_bytes(net: Network, shape, backward: bool) -> int:
    """Peak working memory of one pass of :func:`_forward` on a ``shape`` image, in bytes.

    Walks the layers at that resolution (one channel, batch 1): per conv or pool the im2col
    matrix (positions x taps), the padded copy and the output, kept for the backward pass;
    with ``backward`` also every tensor's gradient and the largest backward temporary (the
    im2col matrix's gradient), see :class:`erftheory.budget._Tally`. Beside the pass:
    the image and its gradient (or its copy). After a backward pass :func:`finite_erf` holds
    the gradient, the coordinate grids (int64) and their angles or products: at most
    ``2 + 3 dims`` images. The margin is :func:`erftheory.budget._estimated_bytes`'s.
    """
    tally = _Tally(backward)
    units = math.prod(_walk_bytes(net.layers, list(shape), tally))
    pixels, dims = math.prod(shape), len(shape)
    if backward:
        return _estimated_bytes(max(tally.values(2 * pixels), (2 + 3 * dims) * pixels))
    # border_maps: during a pass the image, its copy and the maps so far (the mass, a centre
    # and a pull per axis); at the end those maps, stacked, and the lost fraction
    during = tally.values(2 * pixels + (1 + 2 * dims) * units)
    return _estimated_bytes(max(during, pixels + (4 + 4 * dims) * units))


def _walk_bytes(layers, n, tally: _Tally):
    """:func:`_forward`'s arrays into ``tally``; returns the shape out."""
    for layer in layers:
        for _ in range(layer.repeat):
            n = _layer_bytes(layer, n, tally)
    return n


def _layer_bytes(layer, n, tally: _Tally):
    from .resolution import _out

    if isinstance(layer, Branches):
        outs = [_walk_bytes(path, n, tally) for path in layer.branches]
        values = math.prod(outs[0])
        tally.add((len(outs) - 1) * values, (len(outs) - 1) * values, 0, values)
        return outs[0]
    if isinstance(layer, Residual):
        out = _walk_bytes(layer.layers, n, tally)
        values = math.prod(out)
        tally.add(values, values, 0, values)  # the sum, its gradient, the input's two summed
        return out
    if isinstance(layer, Block):
        return _walk_bytes(layer.layers, n, tally)
    if type(layer) is Conv or isinstance(layer, (AvgPool, MaxPool)):
        return tally.conv(n, layer)
    if isinstance(layer, LocallyConnected):  # a strided view times its weights (a new array)
        padded = tally.pad(n, layer, 1)
        out = _out(n, layer)
        values, taps = math.prod(out), math.prod(layer.kernel)
        tally.add(values * (taps + 1), values, values * taps, values * taps + padded)
        return out
    if isinstance(layer, ReLU):  # a scale: the value and its slope array
        values = math.prod(n)
        tally.add(2 * values, values)
    return n  # other layers run as the identity, or are refused by _forward


_MAX_INPUT_BYTES = 2**30  # one float64 image; every forward pass holds a few of them


def _prepare(arch, input_shape, padding_mode, max_bytes, backward: bool):
    from .parse import as_network
    from .resolution import at_resolution, output_shape

    _check_budget(max_bytes)
    net = as_network(arch)
    shape = _indices(input_shape, "input shape", net.dims, 1)
    if math.prod(shape) * 8 > _MAX_INPUT_BYTES:
        raise ERFError(
            f"input shape {list(shape)} is {math.prod(shape) * 8 / 2**30:.3g} GiB as float64, "
            "over the 1 GiB a finite-image ERF allows"
        )
    net = with_padding_mode(at_resolution(net, shape), padding_mode)
    if any(isinstance(x, Smooth) for x in _all_layers(net.layers)):
        raise ERFError(
            "the analytic ERF has no closed form for tanh, sigmoid, GELU or SiLU; measure it "
            "with `erftheory check`"
        )
    out = output_shape(net.layers, shape, f"input {list(shape)}")
    what = "a finite-image ERF" if backward else "computing the border maps"
    _refuse_over_budget(
        f"{what} of a {' x '.join(map(str, shape))} input",
        _working_bytes(net, shape, backward),
        max_bytes,
        "use a smaller input",
    )
    return net, shape, out


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


def _json(values):
    """Nested lists (or a float) with NaN as None: strict JSON has no NaN."""
    a = np.asarray(values, dtype=float)
    return np.where(np.isnan(a), None, a).tolist() if a.ndim else _none_if_nan(float(a))


def _none_if_nan(x: float):
    return None if math.isnan(x) else x


def _position_dependent(net: Network) -> bool:
    return any(isinstance(x, LocallyConnected) for x in _all_layers(net.layers))


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
    unit = tuple(n // 2 for n in out) if unit is None else _indices(unit, "unit", len(out), 0)
    if len(unit) != len(out) or any(not 0 <= u < n for u, n in zip(unit, out)):
        raise ERFError(f"unit {list(unit)} is outside the output of shape {list(out)}")
    x = ag.Tensor(np.zeros((1, 1, *shape)), requires_grad=True)
    ag.total(ag.select(_forward(net.layers, x), unit)).backward()
    values = x.grad[0, 0]
    mass = float(values.sum())
    grids = np.indices(shape).reshape(len(shape), -1)
    if _wraps(net):  # on a torus the centre is a circular mean
        centre = tuple(
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
    else:
        centre = tuple(float(g @ values.reshape(-1) / mass) if mass else math.nan for g in grids)
    rf = receptive_field(net)
    nominal = tuple(
        s + u * j + (r - 1) / 2 for s, u, j, r in zip(rf.start, unit, rf.effective_stride, rf.size)
    )
    unbounded = _unbounded_mass(net, unit if _position_dependent(net) else None)
    return FiniteERF(values, unit, out, mass, unbounded, centre, nominal)


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
            "unbounded_mass": _json(self.unbounded_mass),
            "max_lost_fraction": (
                float(np.nanmax(self.lost_fraction))
                if np.any(~np.isnan(self.lost_fraction))
                else None  # the kernels sum to zero: no mass to lose
            ),
            "units_losing_mass": int(np.count_nonzero(self.lost_fraction > 1e-12)),
            "max_pull": [
                _none_if_nan(float(np.nanmax(np.abs(p)))) if np.any(~np.isnan(p)) else None
                for p in self.pull
            ],
            "lost_fraction": _json(self.lost_fraction),
            "pull": [_json(p) for p in self.pull],  # NaN: no centre (no mass, or flat)
        }

    def __str__(self) -> str:
        d = self.to_dict()
        return "\n".join(
            [
                f"borders of a {' x '.join(map(str, self.input_shape))} input "
                f"({' x '.join(map(str, self.mass.shape))} output units)",
                f"  units losing ERF mass to zero padding  {d['units_losing_mass']} of "
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
        As for :func:`finite_erf`.
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
        As for :func:`finite_erf`.

    Examples
    --------
    >>> b = border_maps("1d: conv3/p1*2", (6,))
    >>> b.mass.tolist()                  # 9 paths per unit, minus those into the padding
    [5.0, 8.0, 9.0, 9.0, 8.0, 5.0]
    """
    from .receptive_field import receptive_field

    net, shape, out = _prepare(arch, input_shape, padding_mode, max_bytes, backward=False)
    ones = _released(_forward(net.layers, ag.Tensor(np.ones((1, 1, *shape)))))
    if _position_dependent(net):  # a mass per unit: one adjoint pass each (local layers)
        unbounded = np.array([_local_mass(net, u) for u in np.ndindex(*out)]).reshape(out)
    else:
        unbounded = _unbounded_mass(net)
    rf = receptive_field(net)
    centres, pulls = [], []
    wraps = _wraps(net)
    for axis, n in enumerate(shape):
        along = [-1 if a == axis else 1 for a in range(len(shape))]

        def moment(image, along=along):
            image = np.broadcast_to(image.reshape(along), shape)
            return _released(_forward(net.layers, ag.Tensor(np.array(image)[None, None])))

        units = np.arange(out[axis]).reshape([-1 if a == axis else 1 for a in range(len(out))])
        nominal = rf.start[axis] + units * rf.effective_stride[axis] + (rf.size[axis] - 1) / 2
        if wraps:  # a circular mean: cos and sin images, and the pull wrapped to [-n/2, n/2)
            angle = 2 * np.pi * np.arange(n) / n
            centre = _circular_centre(moment(np.cos(angle)), moment(np.sin(angle)), n, ones)
            pull = (centre - nominal + n / 2) % n - n / 2
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                centre = np.where(ones != 0, moment(np.arange(n, dtype=float)) / ones, np.nan)
            pull = centre - nominal
        centres.append(centre)
        pulls.append(pull)
    # (a kernel summing to zero has no mass to lose: NaN, undefined, as the text says)
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = np.where(np.asarray(unbounded) != 0, 1.0 - ones / unbounded, np.nan)
    lost[np.abs(lost) < 1e-12] = 0.0
    return BorderMaps(ones, lost, np.array(centres), np.array(pulls), unbounded, shape)
