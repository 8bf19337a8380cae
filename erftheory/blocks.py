"""Containers of layers: blocks, residual blocks and branches, and the walks over them.

A container resolves its inner layers as the network does; a residual block or a join
checks that its branches are aligned (one stride and one centre for every output unit).
The walks (``_all_layers``, ``_map_layers``, ``_depth``, ``_fractional_jump``) descend into
nested containers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from .errors import ERFError
from .layers import ConvTranspose, Upsample, _Layer, _Spatial
from .pointwise import Identity

__all__ = ["Block", "Residual", "Branches"]


def _sequence(value, where: str, name: str) -> tuple:
    """``value`` as a tuple (of layers, or of branches), or a one-line refusal."""
    try:
        if isinstance(value, (str, bytes, dict)):
            raise TypeError
        return tuple(value)
    except TypeError:
        raise ERFError(f"{where}: {name}={value!r} is not a sequence of layers") from None


@dataclass(frozen=True)
class Block(_Layer):
    """A group of layers in sequence, repeated as a whole (``(conv3, relu) * 10``)."""

    layers: tuple = ()
    repeat: int = 1

    def __post_init__(self):
        object.__setattr__(self, "layers", _sequence(self.layers, type(self).__name__, "layers"))
        super().__post_init__()

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        if not self.layers:
            raise ERFError(f"{where}: a {self.type} needs at least one layer")
        layers = tuple(
            _resolve_layer(layer, dims, f"{where}.layers[{i}]", inside_residual)
            for i, layer in enumerate(self.layers)
        )
        return replace(self, layers=layers)


@dataclass(frozen=True)
class Residual(Block):
    """A residual block ``y = x + F(x)``; F has total stride 1 and is centred ('same').

    Padding inside the body defaults to 'same'. The body's receptive field must be odd on
    every axis and centred on its output unit, otherwise the identity and the body would
    not be aligned.
    """

    def paths(self) -> tuple:
        """The branches joined by addition: the body and the identity."""
        return (self.layers, (Identity(),))

    def _resolve(self, dims, where, inside_residual):
        resolved = Block._resolve(self, dims, where, True)
        _check_alignment(resolved.paths(), dims, where, ("the residual body", "the identity"))
        return resolved


@dataclass(frozen=True)
class Branches(_Layer):
    """Parallel branches joined by addition or concatenation (Inception, ResNet shortcuts).

    Every branch reads the same input; their outputs must be aligned: the same effective
    stride and the same centre for every output unit (Araujo et al., Distill 2019), which
    the model checks. Padding inside a branch defaults to 'same'. In the linear model a
    concatenation feeding a conv is a sum over the channels it reads, so ``join="concat"``
    has the same spatial kernel as ``join="add"``.

    Examples
    --------
    >>> from erftheory import Conv, Network
    >>> b = Branches([[Conv(3, stride=2)], [Conv(1, stride=2)]], join="add")
    >>> Network([b], dims=1).layers[0].branches[0][0].padding
    ((1, 1),)
    """

    branches: tuple = ()
    join: str = "add"
    repeat: int = 1

    def __post_init__(self):
        where = type(self).__name__
        branches = _sequence(self.branches, where, "branches")
        branches = tuple(_sequence(b, where, f"branches[{i}]") for i, b in enumerate(branches))
        object.__setattr__(self, "branches", branches)
        super().__post_init__()

    def _check(self, where):
        super()._check(where)
        if not isinstance(self.join, str) or self.join not in ("add", "concat"):
            raise ERFError(f"{where}: join={self.join!r} is not 'add' or 'concat'")

    def paths(self) -> tuple:
        """The branches, each a tuple of layers."""
        return self.branches

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        self._check(where)
        if len(self.branches) < 2 or any(not b for b in self.branches):
            raise ERFError(
                f"{where}: a join needs at least two non-empty branches (use an identity "
                "layer for a shortcut)"
            )
        branches = tuple(
            tuple(
                _resolve_layer(layer, dims, f"{where}.branches[{b}][{i}]", True)
                for i, layer in enumerate(branch)
            )
            for b, branch in enumerate(self.branches)
        )
        names = tuple(f"branch {b}" for b in range(len(branches)))
        _check_alignment(branches, dims, where, names)
        return replace(self, branches=branches)


def _check_alignment(paths, dims: int, where: str, names) -> None:
    """Refuse branches whose output units do not share one stride and one centre.

    Paths with upsampling or transposed convs are joined by index, as frameworks do; their
    fields come from backpropagation (exact whatever the alignment), so only the stride, a
    fraction, must agree: branches at different resolutions cannot be joined.
    """
    from .receptive_field import _walk  # the TRF recurrence, shared with rf tables

    if any(isinstance(x, (Upsample, ConvTranspose)) for path in paths for x in _all_layers(path)):
        jumps = [_fractional_jump(path, dims) for path in paths]
        for name, jump in zip(names[1:], jumps[1:]):
            if jump != jumps[0]:
                raise ERFError(
                    f"{where}: {name} has effective stride {[_ratio_text(j) for j in jump]} "
                    f"but {names[0]} has {[_ratio_text(j) for j in jumps[0]]}; joined branches "
                    "must keep the same resolution"
                )
        return
    states = [_walk(path, dims) for path in paths]
    first = states[0]
    for name, state in zip(names[1:], states[1:]):
        if state.jump != first.jump:
            raise ERFError(
                f"{where}: {name} has effective stride {list(state.jump)} but {names[0]} has "
                f"{list(first.jump)}; joined branches must keep the same resolution"
            )
        for axis in range(dims):
            twice = [2 * s.start[axis] + s.size[axis] - 1 for s in (first, state)]
            if twice[0] != twice[1]:
                raise ERFError(
                    f"{where}: misaligned branches on axis {axis}: {names[0]} is centred at "
                    f"{twice[0] / 2:g} (field {first.size[axis]}, start {first.start[axis]}) "
                    f"but {name} at {twice[1] / 2:g} (field {state.size[axis]}, start "
                    f"{state.start[axis]}); " + _alignment_hint(twice)
                )


def _alignment_hint(twice: list[int]) -> str:
    """How to align two branch centres (given doubled), or why padding cannot."""
    if twice[0] % 2 == twice[1] % 2:
        return "pad them so that their centres agree"
    return (
        "padding cannot align them: one centre is at a half-integer (an even field, as of "
        "an even kernel) and padding, even asymmetric, moves a centre by whole pixels; make "
        "both fields odd (an odd kernel such as conv3 for conv2, or two even layers), then pad"
    )


def _resolve_layer(layer, dims: int, where: str, inside_residual: bool):
    if not isinstance(layer, _Layer):
        raise ERFError(f"{where}: {layer!r} is not a layer (Conv, AvgPool, MaxPool, ...)")
    return layer._resolve(dims, where, inside_residual)


def _ratio_text(x: Fraction) -> str:
    """An exact stride as text: ``'1/4'``, or its power of ten where the integers run long."""
    if max(x.numerator.bit_length(), x.denominator.bit_length()) <= 64:
        return str(x)
    return f"~10^{math.log10(x.numerator) - math.log10(x.denominator):.1f}"


def _fractional_jump(layers, dims: int) -> tuple[Fraction, ...]:
    """Input pixels per output unit of a path, as fractions (upsampling divides)."""
    jump = (Fraction(1),) * dims
    for layer in layers:
        if isinstance(layer, Branches):
            step = _fractional_jump(layer.branches[0], dims)  # aligned when resolved
        elif isinstance(layer, Residual):
            step = (Fraction(1),) * dims
        elif isinstance(layer, Block):
            step = _fractional_jump(layer.layers, dims)
        elif isinstance(layer, Upsample):
            step = tuple(Fraction(1, u) for u in layer.factor)
        elif isinstance(layer, ConvTranspose):
            step = tuple(Fraction(1, s) for s in layer.stride)
        elif isinstance(layer, _Spatial):
            step = tuple(Fraction(s) for s in layer.stride)
        else:
            continue
        jump = tuple(j * t**layer.repeat for j, t in zip(jump, step))
    return jump


def _map_layers(layers, change, descend=lambda layer: True) -> tuple:
    """``layers`` with ``change`` applied to every layer that is not a container.

    Branches and blocks (residual ones included) are rebuilt around their changed layers,
    where ``descend(container)`` says so; other containers go to ``change`` whole.
    """

    def one(layer):
        if isinstance(layer, Branches) and descend(layer):
            return replace(layer, branches=tuple(tuple(map(one, b)) for b in layer.branches))
        if isinstance(layer, Block) and descend(layer):
            return replace(layer, layers=tuple(map(one, layer.layers)))
        return change(layer)

    return tuple(map(one, layers))


def _all_layers(layers):
    """Every layer, nested ones included (branches, residual bodies, blocks)."""
    for layer in layers:
        yield layer
        if isinstance(layer, Branches):
            for path in layer.branches:
                yield from _all_layers(path)
        elif isinstance(layer, Block):
            yield from _all_layers(layer.layers)


def _depth(layers) -> int:
    total = 0
    for layer in layers:
        if isinstance(layer, Branches):
            total += layer.repeat * max(_depth(b) for b in layer.branches)
        elif isinstance(layer, Block):
            total += layer.repeat * _depth(layer.layers)
        elif isinstance(layer, _Spatial):
            total += layer.repeat
    return total
