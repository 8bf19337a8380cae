"""Issue 10's brute-force impulse responses for the newer layer types, in 1-D, 2-D and 3-D.

Each layer is implemented directly in numpy on a batch of basis images (a delta at every
input pixel), the output unit's row of the Jacobian is read off, and the analytic ERF must
equal it at the input position the receptive field reports. Asymmetric padding and
dilation are part of every case.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import erftheory as et


def _conv(x, w, s, d, pad):
    """Zero-padded strided dilated correlation, batch axis first: sum_m w[m] x[s i + d m]."""
    x = np.pad(x, [(0, 0), *pad])
    k, dims = w.shape, w.ndim
    out = [(x.shape[1 + a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(dims)]
    z = np.zeros((x.shape[0], *out))
    for m in np.ndindex(*k):
        view = tuple(
            slice(d[a] * m[a], d[a] * m[a] + s[a] * (out[a] - 1) + 1, s[a]) for a in range(dims)
        )
        z += w[m] * x[(slice(None), *view)]
    return z


def _local(x, w, s, d, pad):
    """Locally connected: z[i] = sum_m w[i, m] x[s i + d m], one kernel per position."""
    x = np.pad(x, [(0, 0), *pad])
    dims = x.ndim - 1
    out, k = w.shape[:dims], w.shape[dims:]
    z = np.zeros((x.shape[0], *out))
    for i in np.ndindex(*out):
        for m in np.ndindex(*k):
            at = tuple(s[a] * i[a] + d[a] * m[a] for a in range(dims))
            z[(slice(None), *i)] += w[i + m] * x[(slice(None), *at)]
    return z


def _adaptive(x, output):
    """Adaptive average pooling with even windows (PyTorch's rule when n % output == 0)."""
    dims = x.ndim - 1
    size = [n // o for n, o in zip(x.shape[1:], output)]
    z = np.zeros((x.shape[0], *output))
    for i in np.ndindex(*output):
        window = tuple(slice(i[a] * size[a], (i[a] + 1) * size[a]) for a in range(dims))
        z[(slice(None), *i)] = x[(slice(None), *window)].mean(axis=tuple(range(1, dims + 1)))
    return z


def _row(forward, shape, unit):
    n = math.prod(shape)
    basis = np.eye(n).reshape((n, *shape))
    return forward(basis)[(slice(None), *unit)].reshape(shape)


def _check(arch, forward, shape, unit):
    r = et.erf(arch, unit=unit, input_shape=shape)
    row = _row(forward, shape, unit)
    # the unit's field: every unit has the same ERF, shifted by the effective stride
    start = [first for first, _ in r.receptive_field.field_of(unit)]
    placed = np.zeros(shape)
    # the analytic ERF, placed at its start, must be the row (nothing outside it)
    region = tuple(slice(max(s, 0), s + m) for s, m in zip(start, r.values.shape))
    crop = tuple(
        slice(max(-s, 0), max(-s, 0) + (sl.stop - sl.start)) for s, sl in zip(start, region)
    )
    placed[region] = r.values[crop]
    np.testing.assert_allclose(placed, row, rtol=1e-12, atol=1e-12)
    assert abs(row.sum() - r.values.sum()) < 1e-9 * abs(row).sum()


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_locally_connected_impulse(dims):
    rng = np.random.default_rng(dims)
    k, s, d, pad, positions = (2,) * dims, (2,) * dims, (2,) * dims, ((1, 0),) * dims, 3
    w = rng.normal(size=(positions,) * dims + k)
    spec = {
        "dims": dims,
        "layers": [
            {"type": "conv", "kernel": 3, "dilation": 2, "padding": [[0, 1]]},
            {
                "type": "local",
                "kernel": 2,
                "stride": 2,
                "dilation": 2,
                "padding": [[1, 0]],
                "weights": w.tolist(),
            },
        ],
    }
    # conv3/d2/p0-1 maps 10 to 7; the local layer (2, s2, d2, p1-0) maps 7 to 3 positions
    shape = (10,) * dims

    def forward(x):
        z = _conv(x, np.ones((3,) * dims), (1,) * dims, (2,) * dims, ((0, 1),) * dims)
        return _local(z, w, s, d, pad)

    for unit in [(1,) * dims, (positions - 1,) * dims]:  # unit 0 reads the padding
        r = et.erf(spec, unit=unit)  # the unbounded ERF of this unit
        row = _row(forward, shape, unit)
        start = r.receptive_field.start
        assert min(start) >= 0 and all(a + m <= n for a, m, n in zip(start, r.values.shape, shape))
        got = np.zeros(shape)
        got[tuple(slice(a, a + m) for a, m in zip(start, r.values.shape))] = r.values
        np.testing.assert_allclose(got, row, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_global_and_adaptive_pooling_impulse(dims):
    # at a stated resolution these pools are average pools over the feature map: with valid
    # convs below them, the field is the image and the analytic ERF is the Jacobian row
    shape = (10,) * dims

    def conv(x):  # conv3/d2 (valid): 10 -> 6
        return _conv(x, np.ones((3,) * dims), (1,) * dims, (2,) * dims, ((0, 0),) * dims)

    _check(f"{dims}d: conv3/d2, gap", lambda x: _adaptive(conv(x), (1,) * dims), shape, (0,) * dims)
    for unit in [(0,) * dims, (2,) * dims]:  # adaptive pooling to 3: windows of 2
        _check(f"{dims}d: conv3/d2, aap3", lambda x: _adaptive(conv(x), (3,) * dims), shape, unit)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_grouped_and_depthwise_convs_impulse(dims):
    # 4 channels in 2 groups (and depthwise: 4), all-ones weights, asymmetric padding and
    # dilation, each input channel its own image: output channel 0 reads exactly the input
    # channels of its group, each through the plain conv's ERF; the others not at all
    shape, channels, unit = (7,) * dims, 4, (2,) * dims
    pixels = math.prod(shape)
    for groups in (2, 4):
        per = channels // groups

        def forward(x, per=per):  # x: (B, channels, *spatial)
            return sum(
                _conv(x[:, c], np.ones((3,) * dims), (1,) * dims, (2,) * dims, ((1, 0),) * dims)
                for c in range(per)
            )

        basis = np.eye(channels * pixels).reshape((channels * pixels, channels, *shape))
        row = forward(basis)[(slice(None), *unit)].reshape((channels, *shape))
        r = et.erf(f"{dims}d: conv3/d2/p1-0/g{groups}")
        origin = [first for first, _ in r.receptive_field.field_of(unit)]
        placed = np.zeros(shape)
        placed[tuple(slice(o, o + m) for o, m in zip(origin, r.values.shape))] = r.values
        for c in range(channels):
            expected = placed if c < per else np.zeros(shape)
            np.testing.assert_allclose(row[c], expected, rtol=1e-12, atol=1e-12)
