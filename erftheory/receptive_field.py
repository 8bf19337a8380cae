"""The theoretical receptive field (TRF): size, jump, start and centre after every layer.

Per axis, with jump (cumulative stride) ``J_0 = 1``, an elementary layer of kernel ``k``,
stride ``s``, dilation ``d`` and padding-before ``p`` updates::

    r     <- r + (k - 1) d J
    start <- start - p J
    J     <- J s

``start`` is the input coordinate of the first pixel of the field of output unit 0, so the
field of unit ``i`` covers ``[start + i J, start + i J + r - 1]`` and its centre is
``start + i J + (r - 1) / 2`` (Araujo, Norris and Sim, Distill 2019). The effective padding is
``-start``. A residual block widens the field by its body's field and, being centred, moves
the start by half of that.

The per-layer rows of the table (and the ERF's std after each layer) are built in
:mod:`erftheory.layer_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .architecture import Network
from .blocks import Block, Branches, Residual
from .errors import ERFError
from .layers import _Spatial

__all__ = ["receptive_field", "ReceptiveField", "LayerRow"]


@dataclass(frozen=True)
class _State:
    size: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[int, ...]


def _step(state: _State, layer) -> _State:
    """Apply one copy (repeat 1) of ``layer`` to the recurrence."""
    if isinstance(layer, (Residual, Branches)):
        # aligned branches (checked when the network was built): the union of their fields
        union = _union([_walk(path, len(state.size)) for path in layer.paths()])
        return _State(
            tuple(r + (u - 1) * j for r, u, j in zip(state.size, union.size, state.jump)),
            tuple(j * u for j, u in zip(state.jump, union.jump)),
            tuple(s + u * j for s, u, j in zip(state.start, union.start, state.jump)),
        )
    if isinstance(layer, Block):
        for inner in layer.layers:
            state = _apply(state, inner)
        return state
    if layer.type in ("globalavgpool", "adaptiveavgpool"):
        raise ERFError(
            f"{layer.type} spans the whole feature map: give the input resolution "
            "(input_shape= in Python, --input H,W for rf, erf and borders) or describe the "
            "network up to the layer before it"
        )
    if isinstance(layer, _Spatial):
        return _State(
            tuple(
                r + (k - 1) * d * j
                for r, k, d, j in zip(state.size, layer.kernel, layer.dilation, state.jump)
            ),
            tuple(j * s for j, s in zip(state.jump, layer.stride)),
            tuple(st - p[0] * j for st, p, j in zip(state.start, layer.padding, state.jump)),
        )
    return state  # activations and dropout act pointwise


def _union(states: list[_State]) -> _State:
    """The field covered by aligned branches (same jump, same centre)."""
    start = tuple(min(axis) for axis in zip(*(s.start for s in states)))
    end = tuple(
        max(axis) for axis in zip(*((a + r - 1 for a, r in zip(s.start, s.size)) for s in states))
    )
    return _State(tuple(e - a + 1 for a, e in zip(start, end)), states[0].jump, start)


# A total stride beyond any input: the field's integers would grow by digits a layer (a run
# of 100,000 stride-3 pools would take minutes) for a network no input can feed.
_MAX_JUMP = 2**256


def _apply(state: _State, layer) -> _State:
    once = _checked(_step(state, layer), layer)
    if once.jump == state.jump:
        # the increments of a step depend only on the jump, so they repeat exactly: a stack of
        # 10,000 layers costs one step
        n = layer.repeat
        return _State(
            tuple(a + n * (b - a) for a, b in zip(state.size, once.size)),
            state.jump,
            tuple(a + n * (b - a) for a, b in zip(state.start, once.start)),
        )
    for _ in range(layer.repeat - 1):
        once = _checked(_step(once, layer), layer)
    return once


def _checked(state: _State, layer) -> _State:
    """``state``, unless its total stride has passed any input's size (refused)."""
    if max(state.jump) > _MAX_JUMP:
        raise ERFError(
            f"the network's total stride passes 2^256 at a layer of type {layer.type} (more "
            "input pixels per output unit than any input has): no receptive field to compute; "
            "check the strides and repeats"
        )
    return state


def _walk(layers, dims: int) -> _State:
    """The TRF state after ``layers``, starting from a single pixel."""
    state = _State((1,) * dims, (1,) * dims, (0,) * dims)
    for layer in layers:
        state = _apply(state, layer)
    return state


class _Later:
    """A field value to compute on first read: ``function(*args)`` (see :class:`_Deferred`)."""

    def __init__(self, function, *args):
        self.function, self.args = function, args


class _Deferred:
    """A frozen dataclass field that may be given as a :class:`_Later`, computed on first read.

    ``receptive_field`` hands over its rows this way: a row's ERF std composes the moments of
    the layer kernels, which costs more than the receptive field itself, and ``erf()`` reads
    no row. Reading the field (printing, comparing, ``to_dict``) gives the same tuple as if it
    had been computed up front; assigning to it still raises, as on any frozen field.
    """

    def __set_name__(self, owner, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:  # no class-level value: the dataclass sees a field without default
            raise AttributeError(self.name)
        value = obj.__dict__[self.name]
        if isinstance(value, _Later):
            value = obj.__dict__[self.name] = value.function(*value.args)
        return value

    def __set__(self, obj, value):  # only ever reached from the dataclass's __init__
        obj.__dict__[self.name] = value


@dataclass(frozen=True)
class LayerRow:
    """The TRF after one layer entry of the network (after all its repeats)."""

    index: int
    layer: str
    kernel: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    dilation: tuple[int, ...] | None
    repeat: int
    size: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[int, ...]
    erf_std: tuple[float, ...] | None = None

    @property
    def centre(self) -> tuple[float, ...]:
        """Input coordinate of the centre of the field of output unit 0."""
        return tuple(s + (r - 1) / 2 for s, r in zip(self.start, self.size))

    def to_dict(self) -> dict:
        """A JSON-ready dict (``erf_std``: the ones-weight ``|ERF|``'s std after this layer)."""
        return {
            "index": self.index,
            "layer": self.layer,
            "kernel": _list(self.kernel),
            "stride": _list(self.stride),
            "dilation": _list(self.dilation),
            "repeat": self.repeat,
            "receptive_field": list(self.size),
            "jump": _list(self.jump),
            "start": list(self.start),
            "centre": list(self.centre),
            "erf_std": _list(self.erf_std),
        }


def _list(value):
    if value is None:
        return None
    return [v if isinstance(v, (int, float)) else str(v) for v in value]


@dataclass(frozen=True)
class ReceptiveField:
    """The theoretical receptive field of a network, per axis, with per-layer rows.

    Attributes
    ----------
    size : tuple of int
        Receptive field size per axis.
    effective_stride : tuple of int
        The jump ``J_L``: input distance between neighbouring output units.
    start : tuple of int
        Input coordinate of the first pixel of the field of output unit 0.
    effective_padding : tuple of int
        ``-start`` (the convention of Araujo et al.'s library).
    rows : tuple of LayerRow
        The field after each layer entry (built when first read).
    """

    size: tuple[int, ...]
    effective_stride: tuple[int, ...]
    start: tuple[int, ...]
    rows: tuple[LayerRow, ...] = _Deferred()  # required (no default), computed on first read
    treated_as_identity: tuple[str, ...] = ()

    @property
    def effective_padding(self) -> tuple[int, ...]:
        """``-start`` per axis."""
        return tuple(-s for s in self.start)

    @property
    def centre(self) -> tuple[float, ...]:
        """Input coordinate of the centre of the field of output unit 0."""
        return tuple(s + (r - 1) / 2 for s, r in zip(self.start, self.size))

    def field_of(self, unit) -> list[tuple[int, int]]:
        """First and last input pixel of the field of output unit ``unit`` (per axis).

        ``unit`` holds one integer index per axis (a bare integer for a 1-d field).

        Raises
        ------
        ERFError
            For a unit that is not one integer per axis.
        """
        dims, unit = len(self.size), _py(unit)
        if isinstance(unit, int) and not isinstance(unit, bool) and dims == 1:
            unit = (unit,)
        try:
            indices = list(unit)
        except TypeError:
            indices = None
        if (
            indices is None
            or len(indices) != dims
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in map(_py, indices))
        ):
            raise ERFError(
                f"unit={unit!r} is not {dims} integer index(es), one per axis of this "
                f"{dims}-d field" + (" (or a bare integer)" if dims == 1 else "")
            )
        return [
            (s + i * j, s + i * j + r - 1)
            for s, i, j, r in zip(self.start, map(_py, indices), self.effective_stride, self.size)
        ]

    def to_dict(self) -> dict:
        """A JSON-ready dict with ``receptive_field``, ``effective_stride`` and the rows."""
        return {
            "receptive_field": list(self.size),
            "effective_stride": _list(self.effective_stride),
            "effective_padding": list(self.effective_padding),
            "start": list(self.start),
            "centre": list(self.centre),
            "layers": [row.to_dict() for row in self.rows],
            "treated_as_identity": list(self.treated_as_identity),
        }

    def __str__(self) -> str:
        from .report import table

        header = ["#", "layer", "kernel", "stride", "dil", "rep", "RF", "jump", "start", "ERF std"]
        body = [
            [
                row.index,
                row.layer,
                _axes_text(row.kernel),
                _axes_text(row.stride),
                _axes_text(row.dilation),
                row.repeat,
                _axes_text(row.size),
                _axes_text(row.jump),
                _axes_text(row.start),
                "-" if row.erf_std is None else _axes_text([f"{v:.3g}" for v in row.erf_std]),
            ]
            for row in self.rows
        ]
        summary = (
            f"receptive field {_axes_text(self.size)}, effective stride "
            f"{_axes_text(self.effective_stride)}, effective padding "
            f"{_axes_text(self.effective_padding)}"
        )
        if self.treated_as_identity:
            summary += "\ntreated as identity (opt-in): " + ", ".join(self.treated_as_identity)
        return table(header, body) + "\n" + summary


def _py(index):
    """A numpy integer as a Python int (anything else unchanged, for the check)."""
    import numpy as np

    return int(index) if isinstance(index, np.integer) else index


def _axes_text(values) -> str:
    if values is None:
        return "-"
    if len(set(values)) == 1:
        return str(values[0])
    return "x".join(str(v) for v in values)


def receptive_field(arch, input_shape=None) -> ReceptiveField:
    """The theoretical receptive field of a network, with one row per layer entry.

    Parameters
    ----------
    arch : Network, dict, str or path
        A network, a dict in the JSON format, a path to a JSON file, or a compact string.
    input_shape : sequence of int, optional
        The input resolution; needed (only) by global and adaptive pooling.

    Returns
    -------
    ReceptiveField
        Size, effective stride, start and effective padding per axis, and per-layer rows.

    Examples
    --------
    >>> rf = receptive_field("conv3*10")
    >>> rf.size, rf.effective_stride
    ((21, 21), (1, 1))
    >>> receptive_field("1d: conv7/s2/p3, maxpool3/s2/p1").size
    (11,)
    """
    from .layer_rows import _fractional, _rows  # imported here: it imports this module
    from .parse import as_network

    net: Network = as_network(arch)
    if input_shape is not None:
        from .resolution import at_resolution

        net = at_resolution(net, input_shape)
    if net.fractional:
        return _fractional(net)
    state = _walk(net.layers, net.dims)
    rows = _Later(_rows, net)  # built when first read (see _Deferred)
    return ReceptiveField(state.size, state.jump, state.start, rows, net.treated_as_identity)
