"""Activations and dropout on the autograd: elementwise maps with their slopes.

Each is a value and a slope handed to :func:`erftheory.autograd_engine._pointwise`; the
slope is the local gradient the backward pass multiplies in.
"""

from __future__ import annotations

import math

import numpy as np

from .autograd_engine import Tensor, _pointwise, total  # noqa: F401 (total: the doctests)
from .errors import ERFError

__all__ = ["relu", "tanh", "gelu", "silu", "sigmoid", "identity", "dropout"]


def relu(x: Tensor) -> Tensor:
    """max(x, 0); its gate passes the gradient where x > 0.

    Examples
    --------
    >>> x = Tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    >>> y = relu(x)
    >>> total(y).backward()
    >>> y.data.tolist(), x.grad.tolist()
    ([0.0, 0.5, 2.0], [0.0, 1.0, 1.0])
    """
    return _pointwise(x, np.maximum(x.data, 0.0), (x.data > 0).astype(float))


def gelu(x: Tensor) -> Tensor:
    """GELU ``x Phi(x)`` (exact, erf-based), slope ``Phi(x) + x phi(x)``."""
    from scipy.special import ndtr

    cdf = ndtr(x.data)
    pdf = np.exp(-0.5 * x.data**2) / math.sqrt(2 * math.pi)
    return _pointwise(x, x.data * cdf, cdf + x.data * pdf)


def silu(x: Tensor) -> Tensor:
    """SiLU ``x sigmoid(x)``, slope ``s (1 + x (1 - s))``."""
    s = 0.5 * (1.0 + np.tanh(0.5 * x.data))
    return _pointwise(x, x.data * s, s * (1.0 + x.data * (1.0 - s)))


def tanh(x: Tensor) -> Tensor:
    """tanh(x), slope 1 - tanh^2."""
    t = np.tanh(x.data)
    return _pointwise(x, t, 1.0 - t * t)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), slope s (1 - s)."""
    s = 0.5 * (1.0 + np.tanh(0.5 * x.data))  # overflow-free logistic
    return _pointwise(x, s, s * (1.0 - s))


def identity(x: Tensor) -> Tensor:
    """x itself."""
    return x


def dropout(x: Tensor, p: float, rng: np.random.Generator) -> Tensor:
    """Keep each unit with probability 1 - p and scale it by 1 / (1 - p) (framework style).

    Examples
    --------
    >>> y = dropout(Tensor(np.ones(1000)), 0.5, np.random.default_rng(0))
    >>> sorted(set(y.data.tolist()))  # dropped, or kept at 1 / (1 - p)
    [0.0, 2.0]
    """
    if not 0 <= p < 1:
        raise ERFError(f"dropout p={p!r} is outside [0, 1)")
    mask = (rng.random(x.shape) >= p) / (1.0 - p)
    return _pointwise(x, x.data * mask, mask)
