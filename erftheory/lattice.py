"""The lattice an ERF's support lies on ("gridding"), and predictions restricted to it.

Dilation and stride put the support of an ERF on a sublattice of the grid, product over
axes or not (a checkerboard); a local limit theorem then holds on that lattice only.
`_lattice` finds it from the support's differences (a Hermite normal form, `_echelon`) and
`_restrict` sets a prediction to 0 off it and renormalises.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .gaussian_grid import GridPrediction


def _lattice(support: np.ndarray) -> tuple[list[int], np.ndarray | None, int, tuple]:
    """The lattice the support's differences generate: steps, grid mask, index and basis.

    ``support`` is the exact non-zero pattern (``p > 0``: only exact zeros are off it, so
    a tiny but non-zero entry counts). The differences between support points generate a
    lattice ``L`` of ``Z^d``; where ``L`` has full rank and index ``[Z^d : L] > 1`` the
    support lies on the coset ``s0 + L`` ("gridding"), product over axes (dilation) or not
    (a checkerboard). Returns the step of each axis' projection of ``L``, the mask of
    ``s0 + L`` on the grid (None for index 1 or a lattice of lower rank), the index and
    ``L``'s basis in row echelon form (rows of ints).
    """
    d = support.ndim
    unit = tuple(tuple(int(a == b) for b in range(d)) for a in range(d))
    adjacent = [bool(np.any(_pairs(support, a))) for a in range(d)]
    if all(adjacent):  # neighbours along every axis: every unit vector is in L
        return [1] * d, None, 1, unit
    points = np.argwhere(support)
    steps = np.unique(np.diff(points, axis=0), axis=0) if len(points) > 1 else points[:0]
    known = np.array([unit[a] for a in range(d) if adjacent[a]], dtype=np.int64).reshape(-1, d)
    steps = np.concatenate([steps.astype(np.int64), known])
    steps = steps[np.any(steps != 0, axis=1)]
    basis = _echelon(steps[: 2 * d].tolist(), d)
    while True:  # each pass adds a rank or divides the index: a few passes at most
        outside = steps[~_members(steps, basis)]
        if not len(outside):
            break
        basis = _echelon([row for _, row in basis] + outside[: 2 * d].tolist(), d)
    rows = tuple(tuple(row) for _, row in basis)
    spans = [math.gcd(*(row[a] for row in rows)) or 1 for a in range(d)]
    if len(basis) < d:  # a lattice of lower rank: no d-dimensional local limit to restrict
        return spans, None, 1, rows
    index = math.prod(row[c] for c, row in basis)
    if index == 1:
        return spans, None, 1, rows
    grid = np.indices(support.shape).reshape(d, -1).T - points[0]
    mask = _members(grid, basis).reshape(support.shape)
    return spans, mask, index, rows


def _pairs(support: np.ndarray, axis: int) -> np.ndarray:
    """Where a support point has a support neighbour one step further along ``axis``."""
    n = support.shape[axis]
    return support.take(range(n - 1), axis) & support.take(range(1, n), axis)


def _echelon(vectors: list, d: int) -> list[tuple[int, list[int]]]:
    """A basis in row echelon form (Euclid per column) of the lattice ``vectors`` generate.

    Returns ``(pivot column, row)`` pairs with increasing pivots and positive pivot entries
    (entries above a pivot reduced below it: the Hermite normal form), so ``prod(pivots)``
    is the index of a full-rank lattice.
    """
    rows = [[int(x) for x in v] for v in vectors if any(v)]
    basis = []
    for c in range(d):
        active = [r for r in rows if r[c]]
        rest = [r for r in rows if not r[c]]
        while len(active) > 1:
            active.sort(key=lambda r: abs(r[c]))
            pivot, reduced = active[0], [active[0]]
            for r in active[1:]:
                q = r[c] // pivot[c]
                r = [a - q * b for a, b in zip(r, pivot)]
                (reduced if r[c] else rest).append(r)
            active = reduced
        if active:
            pivot = active[0] if active[0][c] > 0 else [-a for a in active[0]]
            basis.append((c, pivot))
        rows = [r for r in rest if any(r)]
    for i, (_, row) in enumerate(basis):  # Hermite normal form: 0 <= entries above a pivot
        for c, lower in basis[i + 1 :]:
            q = row[c] // lower[c]
            row[:] = [a - q * b for a, b in zip(row, lower)]
    return basis


def _members(vectors: np.ndarray, basis) -> np.ndarray:
    """Which rows of ``vectors`` (integers) lie in the lattice of an echelon ``basis``."""
    left = np.array(vectors, dtype=np.int64)
    inside = np.ones(len(left), dtype=bool)
    for c, row in basis:
        inside &= left[:, c] % row[c] == 0
        left -= (left[:, c] // row[c])[:, None] * np.asarray(row, dtype=np.int64)
    return inside & ~np.any(left != 0, axis=1)


def _restrict(pred: GridPrediction, mask: np.ndarray | None) -> GridPrediction | None:
    """The prediction set to 0 off the lattice and renormalised on it.

    None where its mass on the lattice is not positive (an Edgeworth series of a very skewed
    kernel can be negative there): nothing to renormalise.
    """
    if mask is None:
        return pred
    values = np.where(mask, pred.values, 0.0)
    total = float(values.sum())
    if not total > 0:
        return None
    logs = pred.log_values
    logs = None if logs is None else np.where(mask, logs - math.log(total), -np.inf)
    return dataclasses.replace(pred, values=values / total, log_values=logs)
