"""Composition of upsampled kernels: the engine behind every ERF.

A factor is a kernel ``w`` upsampled by ``scale`` (``scale - 1`` zeros between taps, per axis)
and repeated ``power`` times. The composition of factors is their full convolution, of size
``1 + sum (k - 1) * scale * power`` per axis. Three methods:

``"direct"``
    Shift-and-add over the taps, in float64. With non-negative kernels every entry is a sum of
    non-negative terms, so its relative error is at most about ``ops * eps`` (``ops`` = the
    number of taps applied), tails included.
``"fft"``
    A product of spectra, ``prod W_l(scale_l * omega) ** power_l``: a run of n identical layers
    costs what one costs. Its error is absolute, bounded by about ``(10 log2 N + ops) * eps``
    times the composition of the absolute kernels; the result is cut to its exact support and,
    for non-negative kernels, clipped at zero, so round-off never shows as a negative value or
    as a value where the exact one is zero.
``"exact"``
    Python integers and fractions, shift-and-add: true path counts, for teaching sizes.

Separable (rank-one) kernels are composed one axis at a time and joined by an outer product,
so they never pay for an N-d transform. Kernels are scaled by powers of two to about unit L1
norm while composing and the scale is carried as a base-2 exponent, so nothing overflows on
the way and integer counts stay exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.fft

__all__ = ["Factor", "Composition", "compose", "composed_shape"]

_EPS = np.finfo(float).eps
# auto picks "direct" for 1-D axes when it costs at most this many multiply-adds
_DIRECT_FLOPS = 3e7
_DIRECT_OPS = 4000


@dataclass(frozen=True, eq=False)
class Factor:
    """A kernel upsampled by ``scale`` per axis and repeated ``power`` times."""

    kernel: np.ndarray
    scale: tuple[int, ...]
    power: int = 1

    @property
    def span(self) -> tuple[int, ...]:
        """The size of the factor's composition minus one, per axis."""
        return tuple((k - 1) * s * self.power for k, s in zip(self.kernel.shape, self.scale))


@dataclass(frozen=True, eq=False)
class Composition:
    """A composed kernel as ``values * 2 ** exponent``.

    ``values`` peaks near 1 (float) or is exact (object array, ``exponent`` 0). The direct
    method scales by integer powers of two only, which keeps integer path counts exact in
    float64 up to 2^53; the FFT's exponent may be fractional.
    ``abs_error`` bounds the absolute error of ``values``; ``rel_error`` the relative error of
    every non-zero entry, where the method guarantees one (else None).
    """

    values: np.ndarray
    exponent: float
    method: str
    abs_error: float
    rel_error: float | None
    support: np.ndarray | None = None  # exact non-zero pattern (bool); None: the whole box
    vectors: tuple | None = None  # with outer=False: values is their outer product (not formed)


def composed_shape(factors: list[Factor], dims: int) -> tuple[int, ...]:
    """Shape of the composition of ``factors``."""
    shape = [1] * dims
    for f in factors:
        shape = [n + s for n, s in zip(shape, f.span)]
    return tuple(shape)


def _upsample(kernel: np.ndarray, scale: tuple[int, ...]) -> np.ndarray:
    shape = tuple((k - 1) * s + 1 for k, s in zip(kernel.shape, scale))
    out = np.zeros(shape, dtype=kernel.dtype)
    out[tuple(slice(None, None, s) for s in scale)] = kernel
    return out


def _rank_one(kernel: np.ndarray) -> list[np.ndarray] | None:
    """Per-axis vectors whose outer product is ``kernel``, or None if it is not rank one."""
    if kernel.ndim == 1:
        return [kernel]
    pivot = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    top = kernel[pivot]
    if top == 0:
        return None
    vectors = []
    for axis in range(kernel.ndim):
        index = list(pivot)
        index[axis] = slice(None)
        vectors.append(kernel[tuple(index)] / (top if axis else 1))
    outer = vectors[0]
    for v in vectors[1:]:
        outer = np.multiply.outer(outer, v)
    if np.max(np.abs(outer - kernel)) > 1e-14 * abs(top):
        return None
    # about unit L1 norm on every axis but the first, which carries the kernel's own norm and
    # sign; powers of two keep integer kernels exact
    norms = [_power_of_two(float(np.sum(np.abs(v)))) for v in vectors]
    return [vectors[0] * math.prod(norms[1:])] + [v / n for v, n in zip(vectors[1:], norms[1:])]


def _direct(factors: list[Factor], shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Shift-and-add composition: ``(array, shift)`` with the result ``array * 2**shift``.

    Float arrays are rescaled by powers of two (exactly) whenever their peak drifts far from
    1, so that deep stacks neither underflow nor overflow; exact object arrays never are.
    1-D float axes use ``np.convolve`` for unit-scale kernels: the same products and sums
    per entry (so the same error bound), in one call per layer instead of one per tap.
    """
    dtype = factors[0].kernel.dtype if factors else float
    if len(shape) == 1 and dtype != np.dtype(object):
        return _direct_1d(factors, shape[0])
    out = np.zeros(shape, dtype=dtype)
    out[(0,) * len(shape)] = 1
    extent, shift = [1] * len(shape), 0
    step = 0
    for f in factors:
        taps = [(idx, w) for idx, w in np.ndenumerate(f.kernel) if w != 0]
        for _ in range(f.power):
            step += 1
            new_extent = [e + (k - 1) * s for e, k, s in zip(extent, f.kernel.shape, f.scale)]
            acc = np.zeros(new_extent, dtype=dtype)
            src = out[tuple(slice(0, e) for e in extent)]
            for idx, w in taps:
                acc[tuple(slice(i * s, i * s + e) for i, s, e in zip(idx, f.scale, extent))] += (
                    w * src
                )
            if dtype != np.dtype(object) and step % 4 == 0:
                acc, shift = _recentred(acc, shift)
            extent = new_extent
            out[tuple(slice(0, e) for e in extent)] = acc
    return out, shift


def _direct_1d(factors: list[Factor], n: int) -> tuple[np.ndarray, int]:
    out, shift, step = np.ones(1), 0, 0
    for f in factors:
        scale, taps = f.scale[0], [(m, w) for m, w in enumerate(f.kernel) if w != 0]
        for _ in range(f.power):
            step += 1
            if scale == 1:  # dense kernel: one C call
                out = np.convolve(out, f.kernel)
            else:  # upsampled: one slice per tap (zeros between taps would cost scale x)
                acc = np.zeros(out.size + (f.kernel.size - 1) * scale)
                for m, w in taps:
                    acc[m * scale : m * scale + out.size] += w * out
                out = acc
            if step % 4 == 0:
                out, shift = _recentred(out, shift)
    assert out.shape == (n,), (out.shape, n)
    return out, shift


def _recentred(acc: np.ndarray, shift: int) -> tuple[np.ndarray, int]:
    """Rescale by a power of two (exactly) when the peak leaves [2^-8, 2^8].

    Keeping the peak near 1 leaves tails 300 orders of magnitude below it inside float64; a
    step shrinks the peak by at most 2k (unit-ish L1 norm), so looking every 4th step loses
    at most a few bits of that range.
    """
    peak = float(np.max(np.abs(acc)))
    if peak and not 2.0**-8 < peak < 2.0**8:
        k = math.frexp(peak)[1]
        return np.ldexp(acc, -k), shift + k
    return acc, shift


def _fft(factors: list[Factor], shape: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """Product of spectra: ``(array, log2_scale)`` with the result ``array * 2**log2_scale``.

    Separable factors contribute per-axis 1-D spectra. Each spectrum is divided by its
    largest magnitude before it is raised to its power, so powers never underflow.
    """
    grid = tuple(scipy.fft.next_fast_len(n, real=True) for n in shape)
    half = grid[:-1] + (grid[-1] // 2 + 1,)
    spectrum = np.ones(half, dtype=complex)
    log2_scale = 0.0

    def normalised(spec, power):
        nonlocal log2_scale
        top = float(np.max(np.abs(spec)))
        log2_scale += power * math.log2(top)
        return (spec / top) ** power

    for f in factors:
        vectors = _rank_one(f.kernel)
        if vectors is None:
            padded = np.zeros(grid)
            up = _upsample(f.kernel, f.scale)
            padded[tuple(slice(0, n) for n in up.shape)] = up
            spectrum *= normalised(scipy.fft.rfftn(padded), f.power)
            continue
        for axis, (v, s, n) in enumerate(zip(vectors, f.scale, grid)):
            up = _upsample(v, (s,))
            last = axis == len(grid) - 1
            spec = scipy.fft.rfft(up, n) if last else scipy.fft.fft(up, n)
            view = [1] * len(grid)
            view[axis] = spec.size
            spectrum *= normalised(spec, f.power).reshape(view)
    out = scipy.fft.irfftn(spectrum, grid)
    return out[tuple(slice(0, n) for n in shape)], log2_scale


def _support(factors: list[Factor], shape: tuple[int, ...]) -> np.ndarray:
    """Exact support (Minkowski sum of the factors' supports), by doubling with thresholds."""
    if all(max(f.scale) == 1 and np.all(f.kernel != 0) for f in factors):
        return np.ones(shape, dtype=bool)  # Minkowski sums of full boxes fill their box

    def dilate(a, b):
        size = tuple(x + y - 1 for x, y in zip(a.shape, b.shape))
        grid = tuple(scipy.fft.next_fast_len(n, real=True) for n in size)
        c = scipy.fft.irfftn(scipy.fft.rfftn(a, grid) * scipy.fft.rfftn(b, grid), grid)
        return c[tuple(slice(0, n) for n in size)] > 0.5

    out = np.ones((1,) * len(shape), dtype=bool)
    for f in factors:
        base, n = _upsample(f.kernel != 0, f.scale), f.power
        while n:
            if n & 1:
                out = dilate(out.astype(float), base.astype(float))
            n >>= 1
            if n:
                base = dilate(base.astype(float), base.astype(float))
    return out


def _compose_axes(factors, shape, method):
    """Compose rank-one factors axis by axis: per-axis vectors, their log2 scale, methods."""
    vectors, methods, log2_scale = [], set(), 0.0
    done = {}  # isotropic stacks compose the same vector on every axis: do it once
    for axis, n in enumerate(shape):
        axis_factors = []
        for f in factors:
            v = _rank_one(f.kernel)[axis]
            # a power of two out of each factor (exact): axes that differ only by it share
            k = math.frexp(float(np.max(np.abs(v))))[1]
            log2_scale += f.power * k
            axis_factors.append(Factor(np.ldexp(v, -k), (f.scale[axis],), f.power))
        ops = sum(f.power * np.count_nonzero(f.kernel) for f in axis_factors)
        chosen = method
        if method == "auto":
            chosen = "direct" if ops <= _DIRECT_OPS and ops * n <= _DIRECT_FLOPS else "fft"
        key = (n, chosen, tuple((f.kernel.tobytes(), f.scale, f.power) for f in axis_factors))
        if key not in done:
            run = _direct if chosen == "direct" else _fft
            vector, scale = run(axis_factors, (n,))
            # peak 1 on every axis (an exact power of two), so the outer product of the axes
            # cannot underflow where the composed values themselves would not
            top = float(np.max(np.abs(vector)))
            shift = math.frexp(top)[1] if top else 0
            done[key] = (np.ldexp(vector, -shift), scale + shift)
        vector, scale = done[key]
        vectors.append(vector)
        log2_scale += scale
        methods.add(chosen)
    return vectors, methods, log2_scale


def compose(
    factors: list[Factor], dims: int, method: str = "auto", outer: bool = True
) -> Composition:
    """Compose upsampled kernels (full convolution) into one array.

    Parameters
    ----------
    factors : list of Factor
        Kernels (float arrays, or object arrays of ints/Fractions for ``method="exact"``).
    dims : int
        Number of axes.
    method : {"auto", "direct", "fft", "exact"}
        ``"auto"`` composes separable kernels axis by axis (direct when cheap, else FFT) and
        non-separable ones by an N-d FFT.
    outer : bool
        With False, a separable result keeps its per-axis vectors (``vectors``) and leaves
        ``values`` None, for a caller that forms the outer product itself (once, after
        scaling a vector instead of the whole map).

    Returns
    -------
    Composition

    Examples
    --------
    >>> ones = Factor(np.ones(3), (1,), power=2)
    >>> c = compose([ones], dims=1)
    >>> [float(v * 2.0**c.exponent) for v in c.values]
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    shape = composed_shape(factors, dims)
    if method == "exact":
        values = _direct(factors, shape)[0] if factors else _delta(shape, Fraction)
        return Composition(values, 0, "exact", 0.0, 0.0)
    if any(not np.any(f.kernel) for f in factors):  # every path crosses a zero kernel
        return Composition(np.zeros(shape), 0, "direct", 0.0, 0.0, np.zeros(shape, dtype=bool))
    exponent = 0.0
    normalised = []
    scales = [_log2_l1_bound(f.kernel) for f in factors]
    for f, k in zip(factors, scales):
        # a power of two near the L1 norm: no overflow, and integer counts stay exact
        exponent += f.power * k
        normalised.append(Factor(np.ldexp(f.kernel, -k), f.scale, f.power))
    nonneg = all(np.all(f.kernel >= 0) for f in factors)
    ops = sum(f.power * np.count_nonzero(f.kernel) for f in factors)
    separable = all(_rank_one(f.kernel) is not None for f in normalised)
    if not normalised:
        values, methods = np.ones((1,) * dims), {"direct"}
    elif separable and method in ("auto", "direct", "fft"):
        vectors, methods, scale = _compose_axes(normalised, shape, method)
        exponent += scale
        axes = [
            _support(
                [Factor(_rank_one(f.kernel)[a], (f.scale[a],), f.power) for f in normalised], (n,)
            )
            for a, n in enumerate(shape)
        ]
        if "fft" in methods:  # clear FFT round-off on the vectors: the outer product is clean
            vectors = [_clean(v, s, nonneg) for v, s in zip(vectors, axes)]
        values = _outer(vectors) if outer or dims == 1 else None
        support = None if all(a.all() for a in axes) else _outer(axes)
    else:
        chosen = method
        if method == "auto":  # direct when cheap: exact for integers, relative errors
            cheap = ops <= _DIRECT_OPS and ops * math.prod(shape) <= _DIRECT_FLOPS
            chosen = "direct" if cheap else "fft"
        methods = {chosen}
        values, scale = (_direct if chosen == "direct" else _fft)(normalised, shape)
        exponent += scale
    # L1 norm of the composition of |kernels|, in the units of ``values``: the scale of the
    # rounding errors (for non-negative kernels it is the sum of the values)
    log2_l1 = sum(f.power * math.log2(float(np.sum(np.abs(f.kernel)))) for f in normalised)
    l1 = 2.0 ** (log2_l1 - (exponent - sum(f.power * k for f, k in zip(normalised, scales))))
    abs_error, rel_error = 0.0, None
    if not (separable and normalised):
        support = _support(normalised, shape)
        support = None if support.all() else support
        if "fft" in methods:
            values = _clean(values, support, nonneg)
    if "fft" in methods:
        grid = math.prod(scipy.fft.next_fast_len(n, real=True) for n in shape)
        abs_error = (10 * math.log2(max(grid, 2)) + ops + 10) * _EPS * l1
    else:
        rel_error = (ops + dims) * _EPS if nonneg else None
        abs_error = (ops + dims) * _EPS * l1
    kept = tuple(vectors) if separable and normalised and values is None else None
    used = "+".join(sorted(methods))
    return Composition(values, exponent, used, abs_error, rel_error, support, kept)


def _clean(values: np.ndarray, support: np.ndarray | None, nonneg: bool) -> np.ndarray:
    """FFT round-off removed: zero off the exact support, and no negatives from positive kernels."""
    if support is not None and not support.all():
        values = np.where(support, values, 0.0)
    if nonneg:
        np.maximum(values, 0.0, out=values)
    return values


def _outer(vectors: list[np.ndarray]) -> np.ndarray:
    out = vectors[0]
    for v in vectors[1:]:
        out = np.multiply.outer(out, v)
    return out


def _log2_l1_bound(kernel: np.ndarray) -> int:
    """``k`` with ``2^k`` the power of two in ``[L1, 2 L1)``, without overflowing the sum."""
    top = math.frexp(float(np.max(np.abs(kernel))))[1]
    mantissa, exponent = math.frexp(float(np.sum(np.abs(np.ldexp(kernel, -top)))))
    return top + exponent - (mantissa == 0.5)


def _power_of_two(x: float) -> float:
    """The power of two in [x, 2x)."""
    mantissa, exponent = math.frexp(x)
    return math.ldexp(1.0, exponent - (mantissa == 0.5))


def _delta(shape, kind):
    out = np.empty(shape, dtype=object)
    out.fill(kind(0))
    out[(0,) * len(shape)] = kind(1)
    return out
