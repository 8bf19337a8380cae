"""Uncertainty over images: per-image maps, the zero-mean test and bootstrap intervals.

A stack of per-image gradients says how much the measured ERF would move with other images.
The per-image maps over the compared window are resampled (``BOOTSTRAP_RESAMPLES`` times,
seed 0) to give a 95% interval of the std ratio per axis and a verdict; a ``raw`` (signed)
mean map is first tested against zero, the expectation under random weights.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BOOTSTRAP_RESAMPLES", "BOOTSTRAP_MIN_IMAGES"]

# the per-image maps over the compared window (standard errors, the bootstrap) at most
_PER_IMAGE_BYTES = 256 * 2**20
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_MIN_IMAGES = 10


def _images(read, aggregate: str, window) -> np.ndarray | None:
    """Each image's map over ``window`` (input slices), or None (a single map, too large)."""
    from .aggregation import _per_image

    if read.images < 2 or aggregate == "none":
        return None
    size = read.images * math.prod(s.stop - s.start for s in window)
    if 8 * size > _PER_IMAGE_BYTES:
        return None
    return _per_image(read, aggregate, window)


def _zero_mean_note(per_image: np.ndarray) -> str:
    """A note where a ``raw`` mean map is indistinguishable from zero ("" otherwise).

    The test: with ``n`` images and ``k`` compared pixels of non-zero spread, the sum of
    squared z-scores ``Q = sum (mean / se)^2`` (``se = sd / sqrt(n)``) has, were every
    pixel's mean zero, expectation ``k (n - 1) / (n - 3)`` and standard deviation about
    ``sqrt(2 k) (n - 1) / (n - 3)`` (Student t with ``n - 1`` degrees of freedom, squared);
    a ``Q`` below expectation + 3 sd is indistinguishable from noise.
    """
    n = per_image.shape[0]
    if n < 4:
        return ""
    flat = per_image.reshape(n, -1)
    mean, sd = flat.mean(axis=0), flat.std(axis=0, ddof=1)
    spread = sd > 0
    k = int(spread.sum())
    if k == 0:
        return ""
    q = float(((mean[spread] / (sd[spread] / math.sqrt(n))) ** 2).sum())
    factor = (n - 1) / (n - 3) if n > 3 else math.inf
    expected, limit = k * factor, k * factor + 3 * math.sqrt(2 * k) * factor
    if q >= limit:
        return ""
    return (
        f"aggregate='raw': the mean map is indistinguishable from zero over the {k} compared "
        f"pixels (sum of squared z-scores {q:.4g}, expected {expected:.4g} and below "
        f"{limit:.4g} were every mean zero, {n} images): with random weights E[g] = 0 and "
        "this mean is noise; compare aggregate='sq' (E[g^2]) instead."
    )


def _bootstrap(per_image, read, aggregate: str, log_scale: bool, theory_std):
    """95% bootstrap intervals of the std ratio per axis, the verdict, and a note.

    Over images (``BOOTSTRAP_RESAMPLES`` resamples, seed 0), the window and position held
    fixed; with fewer than ``BOOTSTRAP_MIN_IMAGES`` images the verdict is "undetermined".
    """
    if per_image is None or per_image.shape[0] < BOOTSTRAP_MIN_IMAGES:
        return None, "undetermined", ""
    if any(t == 0 for t in theory_std):
        return None, "undetermined", ""
    n = per_image.shape[0]
    flat = per_image.reshape(n, -1)
    rng = np.random.default_rng(0)
    power = 2 if aggregate == "sq" else 1
    ratios = []
    step = max(1, 2**22 // flat.shape[1])
    for first in range(0, BOOTSTRAP_RESAMPLES, step):
        rows = min(step, BOOTSTRAP_RESAMPLES - first)
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(rows)])
        means = (counts @ flat) / n
        if log_scale:
            with np.errstate(over="ignore", under="ignore"):
                means = np.log10(np.maximum(np.ldexp(means, power * read.exponent), 0) + 1.0)
        means = np.abs(means).reshape((rows,) + per_image.shape[1:])
        ratios.append(_stds(means) / np.asarray(theory_std))
    ratio = np.concatenate(ratios)
    low, high = np.percentile(ratio, [2.5, 97.5], axis=0)
    interval = tuple((float(lo), float(hi)) for lo, hi in zip(low, high))
    wider = [lo > 1 for lo, _ in interval]
    narrower = [hi < 1 for _, hi in interval]
    if not any(wider) and not any(narrower):
        verdict = "consistent"
    elif not any(narrower):
        verdict = "wider"
    elif not any(wider):
        verdict = "narrower"
    else:
        verdict = "mixed"
    note = (
        f"The std ratio's 95% intervals are bootstrap percentiles over the {n} images "
        f"({BOOTSTRAP_RESAMPLES} resamples, seed 0, the field's position held fixed); the "
        "verdict is 'consistent' where every axis's interval holds 1."
    )
    if aggregate in ("abs", "relu") and verdict != "consistent":
        note += (
            f" With {aggregate!r} the theory sqrt(E[g^2]) is exact only for Gaussian gradients:"
            " with few channels E|g| is a few percent narrower (module docstring), so confirm "
            "the verdict with aggregate='sq'."
        )
    return interval, verdict, note


def _stds(maps: np.ndarray) -> np.ndarray:
    """The std per axis of each map (``maps[b]``) as a distribution: shape ``(b, d)``."""
    total = maps.reshape(maps.shape[0], -1).sum(axis=1)
    out = []
    for axis in range(1, maps.ndim):
        line = maps.sum(axis=tuple(a for a in range(1, maps.ndim) if a != axis)) / total[:, None]
        x = np.arange(line.shape[1])
        mean = line @ x
        out.append(np.sqrt(np.maximum(line @ x**2 - mean**2, 0.0)))
    return np.stack(out, axis=1)
