"""Pixel shuffle (depth to space) against a brute-force network that shuffles real channels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import correlate

import erftheory as et


def _shuffle(h: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """PyTorch's PixelShuffle on one image: ``(C r1 r2.., *grid)`` to ``(C, r1 H, r2 W, ..)``."""
    d = len(factors)
    c = h.shape[0] // int(np.prod(factors))
    grid = h.shape[1:]
    x = h.reshape(c, *factors, *grid)
    # (C, r1, .., rd, H1, .., Hd) -> (C, H1, r1, .., Hd, rd)
    order = [0] + [i for a in range(d) for i in (1 + d + a, 1 + a)]
    return x.transpose(order).reshape(c, *(n * r for n, r in zip(grid, factors)))


def _forward(x: np.ndarray, k1: int, factors: tuple[int, ...], k2: int) -> np.ndarray:
    """conv k1 (1 -> prod(factors) channels), pixel shuffle, conv k2 (-> 1); all weights 1."""
    d = x.ndim
    box1, box2 = np.ones((k1,) * d), np.ones((k2,) * d)
    h = correlate(x, box1, mode="valid", method="direct")
    channels = np.stack([h] * int(np.prod(factors)))  # all-ones weights: every channel alike
    z = _shuffle(channels, factors)[0]
    return correlate(z, box2, mode="valid", method="direct")


def _gradient(size: tuple[int, ...], unit, k1, factors, k2) -> np.ndarray:
    """d y[unit] / d x over the input grid, one impulse at a time (the network is linear)."""
    grad = np.zeros(size)
    for p in np.ndindex(*size):
        x = np.zeros(size)
        x[p] = 1.0
        grad[p] = _forward(x, k1, factors, k2)[unit]
    return grad


def _trimmed(a: np.ndarray) -> np.ndarray:
    """``a`` cut to the box around its non-zero entries."""
    nz = np.nonzero(a)
    return a[tuple(slice(i.min(), i.max() + 1) for i in nz)]


@pytest.mark.parametrize(
    ("dims", "k1", "factors", "k2", "units"),
    [
        (1, 3, (2,), 3, [(u,) for u in range(5)]),
        (1, 2, (3,), 4, [(u,) for u in range(7)]),
        (2, 3, (2, 3), 3, [(0, 0), (1, 0), (0, 1), (1, 2), (3, 4)]),
    ],
)
def test_the_erf_is_the_gradient_of_a_network_shuffling_real_channels(dims, k1, factors, k2, units):
    size = (14,) * dims
    compact = f"{dims}d: conv{k1}, pixelshuffle{'x'.join(map(str, factors))}, conv{k2}"
    for unit in units:
        expected = _trimmed(_gradient(size, unit, k1, factors, k2))
        got = et.erf(compact, unit=unit if dims > 1 else unit[0]).values
        np.testing.assert_array_equal(_trimmed(got), expected)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(2, 3), st.integers(1, 4), st.integers(0, 5))
def test_pixel_shuffle_matches_brute_force_for_any_sizes_and_phase(k1, r, k2, unit):
    expected = _trimmed(_gradient((16,), (unit,), k1, (r,), k2))
    got = et.erf(f"1d: conv{k1}, pixelshuffle{r}, conv{k2}", unit=unit).values
    np.testing.assert_array_equal(_trimmed(got), expected)


def test_descriptions_round_trip_and_random_mode_is_refused_by_name():
    net = et.as_network("conv3, pixelshuffle2x3, conv3")
    assert isinstance(net.layers[1], et.PixelShuffle) and net.layers[1].factor == (2, 3)
    assert et.to_compact(net) == "2d: conv3, pixelshuffle2x3, conv3"
    spec = et.to_dict(net)
    assert spec["layers"][1] == {"type": "pixelshuffle", "factor": [2, 3]}
    assert et.from_dict(json.loads(json.dumps(spec))) == net
    with pytest.raises(et.ERFError, match="pixel shuffles"):
        et.erf(net, weights="random")
    with pytest.raises(et.ERFError, match="not 'bilinear'"):
        et.PixelShuffle(2, mode="bilinear")
    with pytest.raises(et.ERFError, match=r"layers\[1\]: factor=0"):
        et.as_network("conv3, pixelshuffle0")
