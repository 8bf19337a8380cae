"""From a network to kernels: the linearised model of every layer.

Each layer becomes a kernel upsampled by its dilation times the jump below it, or a scalar:

========== ======================== =========================================
layer      ``weights="ones"`` (E[g]) ``weights="random"`` (E[g^2])
========== ======================== =========================================
conv       fixed, all ones           random, variance 1 per tap
conv + w   fixed, ``w``              fixed, ``w`` (enters through ``C^2``)
avgpool    fixed, ``1/K``            fixed, ``1/K`` (enters through ``C^2``)
maxpool    fixed, ``1/K``            random routing, ``1/K`` per tap
relu       scalar 1/2                scalar 1/2
dropout    scalar 1                  ``1/(1-p)``, per unit (below)
residual   fixed, ``delta + K_F``    expanded over paths (see below)
========== ======================== =========================================

``K = prod(kernel)``. In random mode paths that pass through different random layers never
correlate, while paths that share their random weights and differ only in the offsets of
fixed layers do, so::

    E[g^2] = sum over path groups t of  c_t * (V_t1 * V_t2 * ...) * C_t^2

with ``V`` the random layers' variance kernels, ``C_t`` the composition of the group's fixed
kernels squared pointwise after composing, and ``c_t`` its scalars. Dropout draws its mask
independently per unit: two paths through the same unit carry ``E[m^2] = 1/(1-p)``, through
different units ``E[m]^2 = 1``. Between fixed layers, where paths to one input pixel may cross
it at different units, it splits a group in two: the group as it is, plus ``p/(1-p)`` times
the pairs that cross at one unit, whose fixed kernels below and above it are then composed and
squared apart (``C_below^2 * C_above^2``); below or above every fixed layer it is the scalar
``1/(1-p)``. A ReLU stays the scalar 1/2 (THEORY.md: the shape is left alone; read as
independent switches per unit it would split like dropout, but its real gates are correlated
across neighbouring units and measure closer to the scalar). A residual block
``y = x + F(x)`` whose body holds a random layer splits every group in two (identity or body);
``n`` identical blocks give ``C(n, j)`` groups through ``j`` bodies. Concatenated branches
feed the next conv through independent weights per channel group, so in random mode they are
kept apart like paths through different random layers, unless that conv has explicit weights
(the same for every channel: a sum, as for added branches). A random path whose mean is not zero
(a max pool routes with mean ``1/K``; a residual block inside a branch keeps its identity)
correlates with the other paths of non-zero mean, and its second moment is not its mean
squared: joined with one, it is refused by name. A single path without random layers keeps
its own groups, so a gate on it enters by its second moment.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from .blocks import Block, Branches, Residual, _all_layers
from .branch_sums import _summed_factor
from .errors import ERFError
from .factor import Factor
from .layers import AvgPool, Conv, MaxPool, _Spatial
from .path_traits import (
    _has_fixed,
    _has_random,
    _reader,
    _refuse_concat_in_sum,
    _refuse_correlated_sum,
)
from .pointwise import BatchNorm, Dropout, Identity, LayerNorm, ReLU
from .terms import Term, _powered, _product, _shifted, _unique_displacements
from .variances import _variance_kernel

__all__ = ["Term", "linearize"]

# random mode keeps path groups apart; beyond this many products of groups the composition
# (one per group, over the whole field) is refused before it starts (by _times, kept beside
# these limits)
_MAX_GROUPS = 4096
_FLOAT_TINY = float(np.finfo(float).tiny)  # below it floats are subnormal
_MAX_PRODUCTS = 16 * _MAX_GROUPS  # products of two group lists formed before merging


# a group's exact gain raised to a repeat: (1/2)^n for n ReLUs has n bits; past this many the
# power alone would take minutes and gigabytes (relu*10^11 did), so it is refused
_MAX_COEF_BITS = 1 << 20


def _coef_power(coef, n: int, layer):
    """``coef ** n`` exactly, refused where it would have over ``_MAX_COEF_BITS`` bits."""
    if coef not in (0, 1, -1):
        size = math.log2(max(abs(coef.numerator), coef.denominator))
        if n * size > _MAX_COEF_BITS:
            raise ERFError(
                f"{n:,} copies of {layer.type} multiply the ERF by ({coef})^{n:,}, a number of "
                f"about {n * size:,.0f} bits, past the {_MAX_COEF_BITS:,} the exact gains are kept "
                "to; describe fewer copies"
            )
    return coef**n


def _times(a: list[Term], b: list[Term]) -> list[Term]:
    """All products of a group of ``a`` with a group of ``b``, equal groups merged."""
    if len(a) == 1 and len(b) == 1:  # one product: nothing to merge it with
        return [_product(a[0], b[0])]
    if len(a) * len(b) > _MAX_PRODUCTS:  # merging would take long: refused before it starts
        _too_many_groups()
    merged: dict = {}
    for s in a:
        for t in b:
            term = _product(s, t)
            k = term.key()
            if k in merged:
                term = dataclasses.replace(term, coef=merged[k].coef + term.coef)
            merged[k] = term
    if len(merged) > _MAX_GROUPS:  # counted after merging: equal groups are one composition
        _too_many_groups()
    return list(merged.values())


def _too_many_groups():
    raise ERFError(
        f"weights='random': this network splits into over {_MAX_GROUPS} path groups (paths "
        "through different random layers whose fixed layers, pools or explicit kernels, "
        "differ, and each dropout between overlapping fixed layers doubles them), each a "
        "composition over the whole field: too many to compute. "
        "weights='ones' is exact; `erftheory check` estimates the random case where it runs"
    )


class _Linearizer:
    """Builds the path groups of a sequence of layers, one layer at a time (see the module).

    ``no_fixed``: the network has no fixed layer at all; ``reader``: what reads the end of the
    sequence being built (see :func:`erftheory.path_traits._reader`); ``split``: dropout
    splits groups (see :meth:`gate`).
    """

    def __init__(self, dims: int, mode: str, exact: bool, variance=None):
        self.dims, self.mode, self.exact = dims, mode, exact
        self.no_fixed, self.reader = False, None  # reader: see _reader
        self.split = True  # dropout splits groups (see gate; _linearize may find it idle)
        if variance is None or callable(variance):
            self.variance = variance
        else:
            array = np.asarray(variance, dtype=float)
            self.variance = lambda layer: array if array.shape == layer.kernel else None
        # exact coefficients in both modes (a float 0.5^1100 underflows, 2^1100 overflows);
        # erf carries their power of two in the exponent
        self.one = Fraction(1)

    def number(self, x):  # as typed in both modes (coefficients are exact Fractions)
        return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)

    def array(self, values) -> np.ndarray:
        if not self.exact:
            return np.asarray(values, dtype=float)
        flat = [Fraction(repr(float(v))) for v in np.asarray(values, dtype=float).flat]
        return np.array(flat + [None], dtype=object)[:-1].reshape(np.shape(values))

    def spatial(self, layer, jump):
        """The (kind, kernel) of one conv or pool layer."""
        size = math.prod(layer.kernel)
        if isinstance(layer, Conv):
            if layer.weights is not None:
                return "fixed", self.array(layer.weight_array)
            if self.mode != "random":
                return "fixed", self.array(np.ones(layer.kernel))
            v = None if self.variance is None else self.variance(layer)
            if v is not None:  # the initialisation's variance kernel
                return "random", self.array(_variance_kernel(v, layer))
            return "random", self.array(np.ones(layer.kernel))
        uniform = self.array(np.ones(layer.kernel))
        uniform = uniform * (Fraction(1, size) if self.exact else 1.0 / size)
        if isinstance(layer, MaxPool) and self.mode == "random":
            return "random", uniform
        assert isinstance(layer, (AvgPool, MaxPool))
        return "fixed", uniform

    def given(self, layer) -> tuple[Fraction | None, bool]:
        """The exact sum of a fixed layer's kernel as given, and whether its floats round it.

        Weights count as typed: the shortest decimals that print as their floats (what
        ``exact=True`` reads), so 0.1 is 1/10 and its float one rounding away from it.
        """
        if self.exact:
            return None, False
        size = math.prod(layer.kernel)
        if not isinstance(layer, Conv):  # a pool's 1/K rounds unless K is a power of two
            return Fraction(1), bool(size & (size - 1))
        if layer.weights is None:
            return Fraction(size), False
        floats = [float(w) for w in layer.weight_array.flat]
        typed = [Fraction(repr(w)) for w in floats]
        inexact = [t != w for t, w in zip(typed, floats)]  # 0.1, and 1e23 (not an integer)
        tiny = [w for w, off in zip(floats, inexact) if off and abs(w) < _FLOAT_TINY]
        if tiny:  # a subnormal float is not one rounding from its decimal
            raise ERFError(
                f"a weight of {tiny[0]!r} is subnormal in float64, so far from the number "
                "typed (a few digits at most): scale the layer's weights up (a normalised ERF "
                "does not change) or use exact=True (--exact)"
            )
        return sum(typed, Fraction(0)), any(inexact)

    def gate(self, layer) -> list[Term]:
        """A gate's groups: dropout's masks in random mode are independent per unit.

        Two paths through units ``i`` and ``j`` of a dropout layer carry ``E[m_i m_j]``: ``1``,
        or ``E[m^2] = 1/(1 - p)`` where ``i = j`` (a unit kept with probability ``1 - p``,
        scaled by ``1/(1 - p)``), which is where their fixed displacements below the layer
        agree (their random offsets agree in any pair that correlates). So it is ``1`` on the
        pairs as they are plus ``p/(1 - p)`` on the pairs that agree there: a group that
        ``closes`` (:func:`_product`). Without fixed layers anywhere no pair's displacements
        can differ: one scalar. A ReLU is the scalar 1/2 on ``E[g^2]`` whatever surrounds it
        (THEORY.md section 4: the shape is left alone); its real gates are correlated across
        neighbouring units, which `erftheory check` measures.
        """
        second = self.scalar(layer)
        splits = self.mode == "random" and not self.no_fixed and self.split
        if not splits or not isinstance(layer, Dropout):
            return [Term(second, (), ())]
        parts = [(self.one, False), (second - self.one, True)]
        return [Term(c, (), (), closes=closes) for c, closes in parts if c]

    def scalar(self, layer):
        if isinstance(layer, (Identity, BatchNorm, LayerNorm)):
            return self.one
        if isinstance(layer, ReLU):
            return self.number(0.5)
        if isinstance(layer, Dropout):
            return (
                self.one / (self.one - self.number(layer.p))
                if self.mode == "random"
                else (self.one)
            )
        raise ERFError(
            f"the analytic ERF has no closed form for {layer.type} (only for linear layers, "
            "ReLU and dropout); measure it by Monte Carlo with `erftheory check`"
        )

    def layers(self, layers, jump, root: bool = False) -> tuple[list[Term], tuple[int, ...]]:
        """The groups of a sequence of layers, and the jump after it.

        ``root``: the sequence starts at the input, so nothing fixed lies below it (its groups
        are marked as closing from the start: a gate before any fixed layer changes nothing).
        """
        terms = [Term(self.one, (), (), closes=root)]
        outer = self.reader  # what reads the end of this sequence (restored below)
        for i, layer in enumerate(layers):
            # a repeated layer is read by its next copy first
            self.reader = _reader(layers[i + 1 :], outer) if layer.repeat == 1 else None
            step, after = self.layer(layer, jump)
            plain = len(step) == 1 and not (step[0].shift or step[0].closed or step[0].closes)
            if layer.repeat > 1 and after == jump and plain:
                # n copies at the same scale: one group whose factors are raised to the power n
                # (a run of identical layers costs what one costs)
                (t,) = step
                n = layer.repeat
                step = [
                    Term(_coef_power(t.coef, n, layer), _powered(t.random, n), _powered(t.fixed, n))
                ]
                terms = _times(terms, step)
                continue
            terms, jump = _times(terms, step), after
            for _ in range(layer.repeat - 1):
                step, jump = self.layer(layer, jump)
                terms = _times(terms, step)
        self.reader = outer
        return terms, jump

    def layer(self, layer, jump):
        if layer.type in ("upsample", "pixelshuffle", "convtranspose", "local"):
            raise ERFError(
                f"{layer.type} is not a kernel composition (a fractional stride or a kernel per "
                "position): its ERF comes from erftheory.erf by backpropagation"
            )
        if isinstance(layer, (Residual, Branches)):
            return self.join(layer, jump)
        if isinstance(layer, Block):
            return self.layers(layer.layers, jump)
        if isinstance(layer, _Spatial):
            kind, kernel = self.spatial(layer, jump)
            scale = tuple(d * j for d, j in zip(layer.dilation, jump))
            total, inexact = self.given(layer) if kind == "fixed" else (None, False)
            f = (Factor(kernel, scale, roundings=int(inexact), total=total),)
            term = Term(self.one, f, ()) if kind == "random" else Term(self.one, (), f)
            return [term], tuple(j * s for j, s in zip(jump, layer.stride))
        if isinstance(layer, (ReLU, Dropout)):
            return self.gate(layer), jump
        return [Term(self.scalar(layer), (), ())], jump

    def join(self, layer, jump):
        """Aligned branches added (or concatenated) together; a residual is body + identity."""
        from .receptive_field import _union, _walk

        paths = layer.paths()
        states = [_walk(path, self.dims) for path in paths]
        union = _union(states)
        out_jump = tuple(j * u for j, u in zip(jump, union.jump))
        random = [_has_random(path, self.mode) for path in paths]
        concat = getattr(layer, "join", "add") == "concat"
        if self.mode == "random" and concat and self.reader == "gated":
            raise ERFError(
                "weights='random': a concatenation is read by a conv with explicit weights "
                "after a ReLU, dropout or max pool: each channel group passes its own random "
                "mask, so the groups neither add nor stay apart, which is not modelled "
                "(weights='ones' is exact; `erftheory check` measures the random case)"
            )
        if self.mode == "random" and concat and self.reader != "fixed":
            # concatenated branches feed different input channels of the next conv, whose
            # weights are independent: their paths never correlate, whatever they hold (a
            # conv with explicit weights reads every channel with them: a sum, as in add)
            return self._apart(paths, states, union, jump), out_jump
        if self.mode == "random":
            _refuse_correlated_sum(layer, paths, random)
        if self.mode == "random" and any(random) and not self.no_fixed:
            return self._random_apart(layer, paths, states, random, union, jump), out_jump
        # E[g] in ones mode; in random mode with nothing fixed anywhere E[g^2] factorises into
        # one random kernel; branches with no random layer at all are one fixed kernel
        mode = self.mode if any(random) else "ones"
        if self.mode == "random" and mode == "ones":
            _refuse_concat_in_sum(layer, paths)
        f = (self.collapse(list(zip(paths, states)), union, mode, jump),)
        return [Term(self.one, f, ()) if mode == "random" else Term(self.one, (), f)], out_jump

    def _random_apart(self, layer, paths, states, random, union, jump) -> list[Term]:
        """Random mode: the groups of joined paths, some of them through random layers.

        Paths through different random layers never correlate: their groups are kept apart;
        the branches without a random layer are one fixed kernel between them.
        """
        kept = [(p, st) for p, st, r in zip(paths, states, random) if r]
        out = self._apart(*zip(*kept), union, jump)
        fixed = [(p, st) for p, st, r in zip(paths, states, random) if not r]
        if len(fixed) == 1:  # its own groups: a gate on it enters by its second moment
            out += self._apart(*zip(*fixed), union, jump)
        elif fixed:
            _refuse_concat_in_sum(layer, [p for p, _ in fixed])
            out.append(Term(self.one, (), (self.collapse(fixed, union, "ones", jump),)))
        return out

    def _apart(self, paths, states, union, jump) -> list[Term]:
        """Each path's own groups, placed within the union field (paths that never correlate).

        Paths without fixed layers share one group: with no fixed offsets of their own, their
        second moments add as kernels (one random factor) whatever follows, so a network of
        many branched modules does not multiply its groups by every branch of every module.
        """
        branches = list(zip(paths, states))
        plain = [(p, st) for p, st in branches if not _has_fixed(p)]
        out = []
        if len(plain) > 1:
            # (their gates' groups that close the fixed layers below apart from the others)
            for closes in (False, True):
                kernel = self.collapse(plain, union, "random", jump, closes)
                if kernel is not None:
                    out.append(Term(self.one, (kernel,), (), closes=closes))
            branches = [(p, st) for p, st in branches if _has_fixed(p)]
        for path, state in branches:
            shift = tuple((a - u) * j for a, u, j in zip(state.start, union.start, jump))
            out += [_shifted(t, shift) for t in self.layers(path, jump)[0]]
        return out

    def collapse(self, branches, union, mode: str, jump, closes=None) -> Factor | None:
        """The sum of the branches' kernels at unit scale, each placed within the union field.

        ``closes``: only the branches' groups that close (True) or do not (False) the fixed
        layers below (their gates', see :meth:`gate`); None where none of them is taken.

        As a factor that says how accurate its float entries are (see
        :class:`erftheory.compose.Factor`): the worst branch's roundings and one per sum,
        where a branch with an absolute bound only (signed, or from the FFT) counts its L1
        error (entries times that bound) as roundings of the terms' L1; no relative bound
        once a branch has a negative entry (its error then scales with the branches'
        absolute values); the branches' underflow errors; and the exact pattern (a tail
        flushed to zero is still in it).
        """
        from .exact import _exact_sum  # the one place that turns terms into an array
        from .path_sum import _evaluate

        inner = _Linearizer(self.dims, mode, self.exact, self.variance)
        inner.no_fixed, inner.reader, inner.split = self.no_fixed, self.reader, self.split
        evaluated, sums = [], []
        for path, state in branches:
            terms, _ = inner.layers(path, (1,) * self.dims)
            if closes is not None:
                terms = [t for t in terms if t.closes == closes]
                if not terms:
                    continue
            offset = tuple(a - u for a, u in zip(state.start, union.start))
            evaluated.append((offset, *_evaluate(terms, self.dims, mode, self.exact, "auto")))
            sums.append(None if self.exact else _exact_sum(terms, mode, 0))
        if not evaluated:
            return None
        return _summed_factor(evaluated, union.size, jump, sums, self.exact)


def linearize(net, mode: str = "ones", exact: bool = False, variance=None) -> list[Term]:
    """The path groups of a network's linearised model (see the module docstring).

    Parameters
    ----------
    net : Network
    mode : {"ones", "random"}
    exact : bool
        Kernels as Fractions instead of floats.
    variance : array or callable, optional
        Per-offset weight variances of the random convs whose kernel has its shape (an
        initialisation scheme), or a function of the conv layer giving
        its variance kernel (or None); unit variances otherwise.

    Returns
    -------
    list of Term
        In ``"ones"`` mode a single term whose fixed factors compose to E[d y / d x].
    """
    return _linearize(net.layers, net.dims, mode, exact, variance)


def _linearize(layers: tuple, dims: int, mode: str = "ones", exact=False, variance=None) -> list:
    """:func:`linearize` of already-resolved layers (no network to build or validate)."""
    lin = _Linearizer(dims, mode, exact, variance)
    lin.no_fixed, lin.reader = not _has_fixed(layers), None
    dropout = any(isinstance(x, Dropout) for x in _all_layers(layers))
    if mode == "random" and dropout and not lin.no_fixed:
        # first without splitting at dropout: where every group's fixed kernels reach each
        # displacement one way only (non-overlapping pools), the split changes nothing and
        # would only multiply the groups (2^k for k dropouts between pools)
        lin.split = False
        terms, _ = lin.layers(layers, (1,) * dims, root=True)
        if all(_unique_displacements(t.fixed, dims) for t in terms):
            return terms
        lin.split = True
    terms, _ = lin.layers(layers, (1,) * dims, root=True)
    if all(not t.closed and not t.closes for t in terms):
        return terms
    # a last closed block with no fixed factor after it is the group's open one (squared after
    # composing all the same: a gate above every fixed layer splits nothing); then groups
    # differ only in their factors, and equal ones merge
    merged = {}
    for t in terms:
        if t.closed and not t.fixed:
            t = dataclasses.replace(t, fixed=t.closed[-1], closed=t.closed[:-1])
        t = dataclasses.replace(t, closes=False)
        k = t.key()
        merged[k] = dataclasses.replace(t, coef=merged[k].coef + t.coef) if k in merged else t
    return list(merged.values())
