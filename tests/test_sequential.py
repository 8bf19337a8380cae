"""FFT composition against direct sequential convolution with scipy.signal (issue 2's test).

An independent route to the same ERF: walk the layers in order and convolve (``full``,
``method="direct"``) each upsampled kernel into the running map. Residual blocks are
``delta + K_body`` with the delta at the body's centre, aligned branches are their kernels
added about a common centre, ReLU is a factor 1/2 and pools are their averaging kernels.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import architecture

import erftheory as et


def _upsampled(kernel: np.ndarray, scale) -> np.ndarray:
    out = np.zeros([(k - 1) * s + 1 for k, s in zip(kernel.shape, scale)])
    out[tuple(slice(None, None, s) for s in scale)] = kernel
    return out


def _centred_sum(kernels: list[np.ndarray]) -> np.ndarray:
    """Kernels of odd sizes added about their common centre."""
    shape = [max(k.shape[a] for k in kernels) for a in range(kernels[0].ndim)]
    out = np.zeros(shape)
    for k in kernels:
        lo = [(n - m) // 2 for n, m in zip(shape, k.shape)]
        out[tuple(slice(a, a + m) for a, m in zip(lo, k.shape))] += k
    return out


def sequential(layers, dims: int, jump=None) -> tuple[np.ndarray, tuple[int, ...]]:
    """The ERF of ``layers`` at input jump ``jump``, and the jump after them."""
    jump = (1,) * dims if jump is None else jump
    g = np.ones((1,) * dims)
    for layer in layers:
        for _ in range(layer.repeat):
            if isinstance(layer, et.Residual):
                body, _ = sequential(layer.layers, dims, jump)
                kernel = _centred_sum([body, np.ones((1,) * dims)])
            elif isinstance(layer, et.Branches):
                parts = [sequential(b, dims, jump) for b in layer.branches]
                kernel = _centred_sum([p[0] for p in parts])
                new_jump = parts[0][1]
            elif isinstance(layer, (et.Conv, et.AvgPool, et.MaxPool)):
                if isinstance(layer, et.Conv):
                    w = np.ones(layer.kernel) if layer.weights is None else layer.weight_array
                else:
                    w = np.full(layer.kernel, 1 / math.prod(layer.kernel))
                scale = tuple(d * j for d, j in zip(layer.dilation, jump))
                kernel = _upsampled(w, scale)
                new_jump = tuple(j * s for j, s in zip(jump, layer.stride))
            elif isinstance(layer, et.ReLU):
                kernel = np.full((1,) * dims, 0.5)
            else:  # identity, dropout (a factor 1 on E[g])
                kernel = np.ones((1,) * dims)
            g = scipy.signal.convolve(g, kernel, mode="full", method="direct")
            if isinstance(layer, (et.Branches, et.Conv, et.AvgPool, et.MaxPool)):
                jump = new_jump
    return g, jump


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architecture(signed=True))
def test_fft_composition_equals_sequential_scipy_convolution(spec):
    net = et.as_network(spec)
    rf = et.receptive_field(net)
    assume(math.prod(rf.size) <= 40_000)
    expected, _ = sequential(net.layers, net.dims)
    result = et.erf(net, method="fft")
    assert result.values.shape == expected.shape
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(result.values, expected, rtol=0, atol=1e-9 * scale)
    assert np.max(np.abs(result.values - expected)) <= result.abs_error + 1e-12 * scale


@given(st.integers(1, 3), st.integers(1, 12))
@settings(max_examples=20, deadline=None)
def test_identical_layers_are_one_power(dims, n):
    # n identical 3-tap layers: the sequential product, whatever the method
    expected, _ = sequential(et.as_network(f"{dims}d: conv3*{n}").layers, dims)
    for method in ("fft", "direct", "auto"):
        r = et.erf(f"{dims}d: conv3*{n}", method=method)
        if r.rel_error is not None:  # direct: every entry to its relative bound
            np.testing.assert_allclose(r.values, expected, rtol=max(r.rel_error, 1e-15))
        else:  # FFT: within its absolute bound
            assert np.max(np.abs(r.values - expected)) <= r.abs_error
