"""The sum of joined branches' kernels as one factor, saying how accurate its floats are.

Where branches join and their paths are summed into one kernel (``collapse`` in
:mod:`erftheory.linearize`), each branch is evaluated on its own and placed within the union
field; this sums them into a :class:`erftheory.compose.Factor` that carries the roundings,
underflow and exact pattern of the sum.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .bounds import U as _U
from .bounds import gamma
from .factor import Factor


def _summed_factor(evaluated, size, jump, sums, exact: bool) -> Factor:
    """Evaluated kernels ``(offset, *_evaluate(...))`` summed into a field of ``size``.

    ``sums``: each branch's exact sum (None in exact mode); ``exact``: Fraction kernels.
    """
    from .path_sum import scale2

    kernel = np.zeros(size, dtype=object if exact else float)
    pattern = np.zeros(size, dtype=bool)
    total = None if None in sums else sum(sums, Fraction(0))  # the branches' sums add
    if exact:
        for offset, values, *_ in evaluated:
            kernel[tuple(slice(o, o + n) for o, n in zip(offset, values.shape))] += values
        return Factor(kernel, jump)
    # one exponent for the sum (the largest branch's): a branch's raw floats could
    # overflow or flush where the composition does not
    top = max((e for _, v, e, *_ in evaluated if v.any()), default=0)
    counts, tiny, cancels, l1_terms, l1_error = [], 0.0, False, 0.0, 0.0
    for offset, values, exponent, _, error, count, support, fraction in evaluated:
        values = scale2(values, exponent - top)
        cancels = cancels or bool((values < 0).any())
        counts.append(count)
        tiny += fraction
        l1 = float(np.abs(values).sum())
        l1_terms += l1
        # the branch's error in L1: relative (gamma per entry) or, for an absolute bound
        # per entry (signed, FFT), its size times that
        scaled = float(scale2(error, exponent - top))
        l1_error += gamma(count) * l1 if count is not None else values.size * scaled
        where = tuple(slice(o, o + n) for o, n in zip(offset, values.shape))
        kernel[where] += values
        pattern[where] |= True if support is None else support
    if None not in counts:
        count = max(counts) + len(counts)
    else:  # as roundings of the terms' L1 (compose.Factor's unit), plus one per sum
        count = math.ceil(l1_error / (_U * l1_terms)) + len(counts) if l1_terms else 0
    l1 = float(np.abs(kernel).sum())
    # scaling a smaller branch to the largest may flush a tail: u tiny 2^9 each, at most
    tiny += len(counts) * 2.0**9 * np.finfo(float).tiny / l1 if l1 else 0.0
    return Factor(
        kernel,
        jump,
        roundings=count,
        tiny=tiny,
        support=pattern,
        cancels=cancels,
        l1=l1_terms,
        exponent=top,
        total=total,
    )
