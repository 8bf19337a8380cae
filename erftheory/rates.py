"""How fast the Gaussian arrives: Berry-Esseen and local-CLT rates for stacks of one kernel.

For ``n`` layers of the same non-negative kernel, taken as the law of one offset with mean
``mu``, variance ``sigma^2`` and third absolute moment ``rho``:

* Berry-Esseen: ``sup_x |F_n(x) - Phi(z)| <= C rho / (sigma^3 sqrt n)``, ``C <= 0.4748``;
* local CLT: the scaled pointwise error ``sigma sqrt(n) sup_x |P(S_n = x) - phi(z)/(sigma sqrt n)|``
  is ``O(1/sqrt n)`` in general and ``O(1/n)`` for symmetric kernels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ERFError

__all__ = ["BERRY_ESSEEN_C", "CLTRates", "berry_esseen_bound", "clt_rates"]

BERRY_ESSEEN_C = 0.4748  # Shevtsova (2011), iid summands


_MAX_LAW_ENTRIES = 2**25  # n (len(kernel) - 1) + 1 entries of the law, a few float64 copies


def _show(kernel) -> str:
    """The user's kernel for a message, shortened when long."""
    text = repr(kernel.tolist() if isinstance(kernel, np.ndarray) else kernel)
    return text if len(text) <= 80 else text[:77] + "..."


def _kernel_law(kernel) -> tuple[np.ndarray, float, float, float]:
    """Normalised 1-d kernel and its mean, variance and third absolute central moment."""
    valid = "must be a non-empty 1-d array of finite, non-negative real weights"
    if isinstance(kernel, (str, bytes)):
        raise ERFError(f"kernel {_show(kernel)} is a string: it {valid}")
    try:
        raw = np.asarray(kernel)
    except (TypeError, ValueError):  # ragged
        raise ERFError(f"kernel {_show(kernel)} {valid}") from None
    if raw.dtype.kind not in "iuf" or raw.ndim != 1 or raw.size == 0:
        # bools, complex, strings, objects (None, huge ints), scalars, 2-d
        raise ERFError(f"kernel {_show(kernel)} {valid}")
    w = raw.astype(float)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ERFError(f"kernel {_show(kernel)} {valid}")
    if not np.any(w):
        raise ERFError(f"kernel {_show(kernel)} is all zero: it is not a distribution")
    w = w / w.max()  # first to the largest weight: the sum of [1e308, 1e308] overflows
    w = w / w.sum()
    x = np.arange(w.size)
    mu = float(w @ x)
    var = float(w @ (x - mu) ** 2)
    if var == 0:
        raise ERFError(
            f"kernel {_show(kernel)} has one non-zero tap: its stack is a point mass, no CLT"
        )
    return w, mu, var, float(w @ np.abs(x - mu) ** 3)


def _check_depth(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ERFError(f"depth n={n!r} is not a positive integer (the number of layers: 1, 2, ...)")
    return int(n)


def _check_constant(constant) -> float:
    if (
        isinstance(constant, bool)
        or not isinstance(constant, (int, float, np.integer, np.floating))
        or not 0 < constant < math.inf
    ):
        raise ERFError(
            f"constant={constant!r} is not a positive, finite Berry-Esseen constant "
            f"(the default is {BERRY_ESSEEN_C})"
        )
    return float(constant)


def berry_esseen_bound(kernel, n: int, constant: float = BERRY_ESSEEN_C) -> float:
    """Berry-Esseen bound ``C rho / (sigma^3 sqrt n)`` on ``sup_x |F_n(x) - Phi(z)|``.

    For ``n`` layers of the same non-negative 1-d kernel, taken as the law of one offset
    with variance ``sigma^2`` and ``rho = E|X - mu|^3``.

    Parameters
    ----------
    kernel : array_like
        Non-negative 1-d weights.
    n : int
        Number of layers: a positive integer (not a bool, not a float).
    constant : float
        ``C = 0.4748`` (Shevtsova 2011) by default; positive and finite.

    Returns
    -------
    float

    Raises
    ------
    ERFError
        For a kernel that is not a non-empty 1-d array of finite, non-negative real weights
        (bools, strings, NaN and complex numbers are refused), an all-zero or one-tap
        kernel, a depth ``n`` that is not a positive integer, or a constant that is not
        positive and finite.

    Examples
    --------
    >>> round(berry_esseen_bound([1, 1, 1], 100), 6)  # rho = 2/3, sigma^2 = 2/3
    0.058151

    References
    ----------
    I. Shevtsova, "On the absolute constants in the Berry-Esseen type
    inequalities for identically distributed summands", arXiv:1111.6554 (2011).
    """
    n = _check_depth(n)
    constant = _check_constant(constant)
    _, _, var, rho = _kernel_law(kernel)
    root = math.sqrt(n) if n < 2**1000 else math.exp(0.5 * math.log(n))  # no float overflow
    return float(constant * rho / (var**1.5 * root))


@dataclass(frozen=True)
class CLTRates:
    """Exact distances of an ``n``-layer stack of one 1-d kernel from the normal law.

    ``kolmogorov = sup_x |F_n(x) - Phi(z)|`` (bounded by ``berry_esseen``);
    ``local_error = max_x |sigma_n P(S_n = x) - h phi(z)|``, the scaled pointwise error of the
    local CLT on the lattice of span ``h`` the sum lives on: ``O(1/sqrt n)`` in general,
    ``O(1/n)`` for symmetric kernels.
    """

    n: int
    berry_esseen: float
    kolmogorov: float
    local_error: float
    lattice_span: int

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def clt_rates(kernel, n: int) -> CLTRates:
    """Berry-Esseen bound, exact Kolmogorov distance and local-CLT error at depth ``n``.

    The law of the sum of ``n`` offsets (the ``n``-layer ERF, normalised) is computed by FFT
    (absolute error about 1e-16 per entry).

    Parameters
    ----------
    kernel : array_like
        Non-negative 1-d weights of the repeated layer.
    n : int
        Number of layers: a positive integer (not a bool, not a float).

    Returns
    -------
    CLTRates

    Raises
    ------
    ERFError
        As for `berry_esseen_bound`; also when the law of the sum, ``n (len(kernel) - 1) + 1``
        entries, exceeds 2**25 entries (`berry_esseen_bound` alone costs nothing).

    Examples
    --------
    >>> r = clt_rates([1, 1, 1], 50)
    >>> r.kolmogorov < r.berry_esseen, r.lattice_span
    (True, 1)

    References
    ----------
    Luo et al., NeurIPS 2016, section 2.2.
    """
    from scipy.special import ndtr

    n = _check_depth(n)
    w, mu, var, _ = _kernel_law(kernel)
    taps = np.flatnonzero(w)
    span = int(np.gcd.reduce(np.diff(taps))) if taps.size > 1 else 1
    size = n * (w.size - 1) + 1
    if size > _MAX_LAW_ENTRIES:
        raise ERFError(
            f"depth n={n} with a {w.size}-tap kernel gives a law of {size} entries, over the "
            f"{_MAX_LAW_ENTRIES} that clt_rates computes; berry_esseen_bound(kernel, n) has "
            "no such limit"
        )
    import scipy.fft  # ~0.2 s to import: only here

    law = scipy.fft.irfft(scipy.fft.rfft(w, size) ** n, size)
    sigma = math.sqrt(n * var)
    z = (np.arange(size) - n * mu) / sigma
    cdf = np.cumsum(law)
    before = np.concatenate([[0.0], cdf[:-1]])
    gauss = ndtr(z)
    kolmogorov = float(max(np.max(np.abs(cdf - gauss)), np.max(np.abs(before - gauss))))
    on_lattice = (np.arange(size) - n * taps[0]) % span == 0
    density = span * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    local = float(np.max(np.abs(sigma * law - density)[on_lattice]))
    return CLTRates(n, berry_esseen_bound(w, n), kolmogorov, local, span)
