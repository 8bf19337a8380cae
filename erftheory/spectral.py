"""The FFT method of composition: a product of the factors' spectra.

A run of ``n`` identical layers costs what one costs (the spectrum to the power ``n``). The
error is absolute (see :mod:`erftheory.compose`), and the result is cleaned of round-off
off its exact support and, for non-negative kernels, below zero (:func:`_clean`).
"""

from __future__ import annotations

import math

import numpy as np

from .factor import Factor, _upsample
from .progress import progress
from .rank_one import _rank_one


def _fft(factors: list[Factor], shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Product of spectra: ``(array, log2_scale)`` with the result ``array * 2**log2_scale``.

    Separable factors contribute per-axis 1-D spectra. Each spectrum is divided by its
    largest magnitude before it is raised to its power, so powers never underflow. For a
    non-negative kernel that magnitude is its sum (the spectrum at frequency 0), so the small
    kernel is divided before its transform instead of the grid-sized spectrum after it.
    The divisors' logarithms, summed, are off by at most a few ``u`` per layer (each
    ``|log2|`` is at most ``log2`` of the grid): within the ``ops * eps`` of the FFT's bound.
    """
    import scipy.fft  # ~0.2 s to import: only where a transform is taken

    grid = tuple(scipy.fft.next_fast_len(n, real=True) for n in shape)
    half = grid[:-1] + (grid[-1] // 2 + 1,)
    spectrum = np.ones(half, dtype=complex)
    log2_scale = 0.0

    def spectrum_of(kernel, power, transform, size):
        nonlocal log2_scale
        if (kernel >= 0).all():
            top = float(kernel.sum())
            spec = transform(kernel / top, size)
        else:
            spec = transform(kernel, size)
            top = float(np.abs(spec).max())
            spec /= top
        log2_scale += power * math.log2(top)
        return spec**power

    long = math.prod(half) > 2**22  # seconds per transform: a bar (on a terminal)
    for f in progress(factors, label="erf: spectra", enabled=None if long else False):
        vectors = _rank_one(f.kernel)
        if vectors is None:
            up = _upsample(f.kernel, f.scale)
            spectrum *= spectrum_of(up, f.power, scipy.fft.rfftn, grid)
            continue
        for axis, (v, s, n) in enumerate(zip(vectors, f.scale, grid)):
            last = axis == len(grid) - 1
            transform = scipy.fft.rfft if last else scipy.fft.fft
            spec = spectrum_of(_upsample(v, (s,)), f.power, transform, n)
            view = [1] * len(grid)
            view[axis] = spec.size
            spectrum *= spec.reshape(view)
    out = scipy.fft.irfftn(spectrum, grid)[tuple(slice(0, n) for n in shape)]
    # an integer exponent out (the fraction into the values, one more rounding): exponents
    # then add and subtract exactly however large they grow; a float sum of a large integer
    # and a fraction would keep only ulp(exponent) of it, a relative error of the whole map
    whole = math.floor(log2_scale)
    if log2_scale != whole:
        out *= 2.0 ** (log2_scale - whole)
    return out, whole


def _clean(values: np.ndarray, support: np.ndarray | None, nonneg: bool) -> np.ndarray:
    """FFT round-off removed: zero off the exact support, and no negatives from positive kernels."""
    if support is not None and not support.all():
        values = np.where(support, values, 0.0)
    if nonneg:
        np.maximum(values, 0.0, out=values)
    return values
