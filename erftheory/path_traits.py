"""What a path of layers holds, as the linearised model in random mode needs to know.

Whether a path passes a random layer (a conv without weights, a max pool), a fixed one (an
average pool, a conv with explicit weights) or a random gate (ReLU, dropout); whether its mean
is zero; which conv reads the channels after a point; and the joins of paths whose sum's second
moment is not modelled, refused by name (see :mod:`erftheory.linearize`).
"""

from __future__ import annotations

from .blocks import Block, Branches, Residual, _all_layers
from .errors import ERFError
from .layers import AvgPool, Conv, MaxPool
from .pointwise import Dropout, ReLU


def _has_random(layers, mode: str) -> bool:
    """Whether a path holds a random layer (random mode: a conv without weights, a max pool)."""
    return mode == "random" and any(
        (isinstance(x, Conv) and x.weights is None) or isinstance(x, MaxPool)
        for x in _all_layers(layers)
    )


def _join_name(layer) -> str:
    return "residual block" if isinstance(layer, Residual) else "join of branches"


def _zero_mean(layers) -> bool:
    """Whether every route through a sequence of layers passes a zero-mean random conv."""
    for x in layers:
        if isinstance(x, Conv) and x.weights is None:
            return True
        if isinstance(x, Branches) and all(_zero_mean(b) for b in x.branches):
            return True
        if isinstance(x, Block) and not isinstance(x, Residual) and _zero_mean(x.layers):
            return True
    return False  # a residual keeps its identity; pools, gates and fixed kernels have a mean


def _reader(rest, outer: str | None) -> str | None:
    """The first layer after a point that mixes channels: a ``"random"`` or ``"fixed"`` conv.

    Average pools, normalisations and identities act alike on every channel and are looked
    through; a gate or max pool acts per channel with a random mask, so a fixed conv after
    one is ``"gated"``. None where a join or block comes first (not looked into) or nothing
    does (the output).
    """
    gated = False
    for x in rest:
        if isinstance(x, Conv):
            return "random" if x.weights is None else ("gated" if gated else "fixed")
        if isinstance(x, (Branches, Block)):
            return None
        gated = gated or isinstance(x, (ReLU, Dropout, MaxPool))
    return "gated" if gated and outer == "fixed" else outer


def _refuse_concat_in_sum(layer, paths) -> None:
    """Random mode: paths summed into one fixed kernel must not hold a concatenation.

    Its channel groups reach the next random conv through independent weights, each group
    with the other paths added to it; one summed kernel would correlate the groups.
    """
    if any(isinstance(x, Branches) and x.join == "concat" for p in paths for x in _all_layers(p)):
        raise ERFError(
            f"weights='random': a {_join_name(layer)} adds a concatenation without "
            "random-weight layers to another path; each of its channel groups would get that "
            "path added on its own, which is not modelled (a real network cannot add them: "
            "the concatenation has more channels). weights='ones' sums over the channels"
        )


def _has_gate(layers) -> bool:
    """Whether a path passes a random gate (ReLU, dropout)."""
    return any(isinstance(x, (ReLU, Dropout)) for x in _all_layers(layers))


def _has_fixed(layers) -> bool:
    return any(
        isinstance(x, AvgPool) or (isinstance(x, Conv) and x.weights is not None)
        for x in _all_layers(layers)
    )


def _refuse_correlated_sum(layer, paths, random) -> None:
    """Random mode: refuse a join whose paths correlate in a way that is not modelled.

    ``random`` says which paths hold a random layer (:func:`_has_random`).
    """
    meaned = [not _zero_mean(p) for p in paths]
    mixed = [m and r for m, r in zip(meaned, random)]
    if any(mixed) and sum(meaned) > 1:
        # a path that is random but not zero-mean (a max pool routes with mean 1/K; a
        # residual inside keeps its identity) correlates with the other paths of non-zero
        # mean, and its second moment is not its mean squared: not modelled
        raise ERFError(
            f"weights='random': a {_join_name(layer)} joins a random path whose mean is not "
            "zero (a max pool without a random-weight conv after it, or a residual block "
            "inside a branch) with another path of non-zero mean; they correlate, and "
            "their sum's second moment is not modelled (weights='ones' is exact in "
            "expectation; `erftheory check` measures the random case)"
        )
    fixed_paths = [p for p, r in zip(paths, random) if not r]
    if len(fixed_paths) > 1 and any(map(_has_gate, fixed_paths)):
        # their sum is squared after the gates are averaged: E[(1 + D)^2] != (1 + E[D])^2
        raise ERFError(
            f"weights='random': a {_join_name(layer)} joins paths without random-weight "
            "layers, one of them through a ReLU or dropout gate; the gate's randomness does "
            "not factor out of their sum, so this is not modelled (weights='ones' is exact; "
            "`erftheory check` measures the random case)"
        )
