"""An independent E[(dy/dx)^2] for 1-D networks: second-moment matrices propagated backwards.

Every layer is a matrix on a finite input (zero padding, as declared). Starting from
``S = e_c e_c^T`` at the centre output unit, each layer maps ``S`` to ``E[A^T S A]``:

* a conv without weights: iid zero-mean taps of unit variance, ``sum_m B_m^T S B_m``
  (``B_m`` places tap ``m``), mean 0;
* a conv with weights, an average pool: the fixed ``A^T S A``;
* dropout multiplies each unit by its own mask, independent across units (kept with
  probability ``1 - p``, scaled by ``1/(1 - p)``): ``E[m_i m_j] S_ij``, which is ``S`` plus
  ``p/(1 - p) diag(S)``, mean 1; a ReLU: ``S / 2``, mean 1/2 (THEORY.md, section 4);
* a residual ``I + J``: ``S + M^T S + S M + E[J^T S J]`` with ``M = E[J]``;
* branches added: ``sum_b E[J_b^T S J_b] + sum_{a != b} M_a^T S M_b`` (independent branches);
* branches concatenated (followed by a random conv, whose weights differ per channel
  group): ``sum_b E[J_b^T S J_b]``, no cross terms; read by a conv with explicit weights
  (the same weights on every channel group, the first channel-mixing layer after it, pools
  and identities looked through), the groups add: as branches added.

``diag(S)`` at the input is ``E[g^2]``. Nothing here shares code with the package's path
groups; it costs O(N^3) per layer, so it is for small networks only. Max pooling is left out.
"""

from __future__ import annotations

import numpy as np

from erftheory import AvgPool, Branches, Conv, Dropout, Identity, ReLU, Residual
from erftheory.architecture import Block


def _out(n: int, layer) -> int:
    (pl, pr), k, d, s = layer.padding[0], layer.kernel[0], layer.dilation[0], layer.stride[0]
    return (n + pl + pr - d * (k - 1) - 1) // s + 1


def _taps(n: int, layer) -> list[np.ndarray]:
    (pl, _), k, d, s = layer.padding[0], layer.kernel[0], layer.dilation[0], layer.stride[0]
    m_out = _out(n, layer)
    out = []
    for m in range(k):
        b = np.zeros((m_out, n))
        for i in range(m_out):
            j = s * i + d * m - pl
            if 0 <= j < n:
                b[i, j] = 1.0
        out.append(b)
    return out


def _size(n: int, layers) -> int:
    for layer in layers:
        for _ in range(layer.repeat):
            if isinstance(layer, (Conv, AvgPool)):
                n = _out(n, layer)
            elif isinstance(layer, Branches):
                n = _size(n, layer.branches[0])
            elif isinstance(layer, Block) and not isinstance(layer, Residual):
                n = _size(n, layer.layers)
    return n


def _mean(n: int, layers) -> np.ndarray:
    """E[J] of a sequence, as an (out x n) matrix."""
    m = np.eye(n)
    for layer in layers:
        for _ in range(layer.repeat):
            k = m.shape[0]
            if isinstance(layer, Conv):
                taps = _taps(k, layer)
                a = (
                    0 * taps[0]
                    if layer.weights is None
                    else sum(w * b for w, b in zip(layer.weights, taps))
                )
            elif isinstance(layer, AvgPool):
                taps = _taps(k, layer)
                a = sum(taps) / len(taps)
            elif isinstance(layer, ReLU):
                a = 0.5 * np.eye(k)
            elif isinstance(layer, (Dropout, Identity)):
                a = np.eye(k)
            elif isinstance(layer, Residual):
                a = np.eye(k) + _mean(k, layer.layers)
            elif isinstance(layer, Branches):
                a = sum(_mean(k, b) for b in layer.branches)
            else:
                a = _mean(k, layer.layers)
            m = a @ m
    return m


def _back(n: int, layers, s: np.ndarray, fixed_after: bool = False) -> np.ndarray:
    """E[J^T S J] for a sequence on an input of length n.

    ``fixed_after``: what reads the sequence's output mixes channels with explicit weights.
    """
    flat = [layer for layer in layers for _ in range(layer.repeat)]
    sizes = [n]
    for layer in flat:
        sizes.append(_size(sizes[-1], [_once(layer)]))
    for i in reversed(range(len(flat))):
        s = _one(sizes[i], flat[i], s, _fixed_reader(flat[i + 1 :], fixed_after))
    return s


def _fixed_reader(rest, outer: bool) -> bool:
    """Whether the first channel-mixing layer in ``rest`` is a conv with explicit weights."""
    for x in rest:
        if isinstance(x, Conv):
            return x.weights is not None
        if not isinstance(x, (AvgPool, Identity)):
            return False  # a gate, a dropout mask or a block: not a plain fixed read
    return outer


def _once(layer):
    import dataclasses

    return dataclasses.replace(layer, repeat=1)


def _one(n: int, layer, s: np.ndarray, fixed_after: bool = False) -> np.ndarray:
    if isinstance(layer, Conv) and layer.weights is None:
        return sum(b.T @ s @ b for b in _taps(n, layer))
    if isinstance(layer, (Conv, AvgPool)):
        a = _mean(n, [_once(layer)])
        return a.T @ s @ a
    if isinstance(layer, ReLU):
        return 0.5 * s
    if isinstance(layer, Dropout):
        return s + layer.p / (1 - layer.p) * np.diag(np.diag(s))
    if isinstance(layer, Identity):
        return s
    if isinstance(layer, Residual):
        m = _mean(n, layer.layers)
        return s + m.T @ s + s @ m + _back(n, layer.layers, s)
    if isinstance(layer, Branches):
        out = sum(_back(n, b, s) for b in layer.branches)
        if layer.join == "add" or fixed_after:
            means = [_mean(n, b) for b in layer.branches]
            for a, ma in enumerate(means):
                for b, mb in enumerate(means):
                    if a != b:
                        out = out + ma.T @ s @ mb
        return out
    if isinstance(layer, Block):
        return _back(n, layer.layers, s, fixed_after)
    raise ValueError(f"the oracle does not model {layer.type}")


def second_moment_erf(net, n: int) -> np.ndarray:
    """``E[g^2]`` of the centre output unit over an input of length ``n``, cut to its support."""
    out = _size(n, net.layers)
    s = np.zeros((out, out))
    s[out // 2, out // 2] = 1.0
    d = np.diag(_back(n, net.layers, s))
    nonzero = np.flatnonzero(np.abs(d) > 1e-300)
    return d[nonzero[0] : nonzero[-1] + 1]
