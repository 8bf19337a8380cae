"""Moments predicted from the kernels alone agree with the composed ERF."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import architecture

import erftheory as et
from erftheory.moments import predicted_moments


def _weighted_moments(values):
    """Mean and covariance of |values| over array indices, computed directly."""
    p = np.abs(values) / np.abs(values).sum()
    grids = np.indices(values.shape).reshape(values.ndim, -1).astype(float)
    w = p.reshape(-1)
    mean = grids @ w
    c = grids - mean[:, None]
    return mean, (c * w) @ c.T, float(np.sum(values))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architecture(), st.sampled_from(["ones", "random"]))
def test_predicted_moments_equal_the_composed_erf(spec, weights):
    rf = et.receptive_field(spec)
    assume(math.prod(rf.size) <= 4000)
    try:
        result = et.erf(spec, weights=weights)
    except et.ERFError as err:
        # the one documented refusal a generated spec can reach; the moments refuse it alike
        assert "its own random" in str(err)
        with pytest.raises(et.ERFError, match="its own random"):
            predicted_moments(spec, weights)
        return
    mean, cov, total = _weighted_moments(result.values)
    predicted = predicted_moments(spec, weights)
    scale = max(1.0, float(np.max(np.abs(cov))))
    np.testing.assert_allclose(predicted.mean, mean, rtol=0, atol=1e-9 * max(rf.size))
    np.testing.assert_allclose(predicted.covariance, cov, rtol=0, atol=1e-9 * scale)
    assert predicted.log10_mass == pytest.approx(math.log10(total), abs=1e-9)


def test_plain_stack_closed_form():
    # Var = sum_l (d_l J_(l-1))^2 (k^2 - 1) / 12 per axis for uniform kernels
    m = predicted_moments("1d: conv3/s2, conv5/d3, conv3")
    expected = 1 * 8 / 12 + (3 * 2) ** 2 * 24 / 12 + 2**2 * 8 / 12
    assert m.covariance[0][0] == pytest.approx(expected, rel=1e-12)


def test_sheared_kernel_has_cross_covariance():
    # mass on the diagonal: offsets (0,0), (1,1), (2,2) -> Cov = [[2/3, 2/3], [2/3, 2/3]] per layer
    spec = "conv3/w[[1,0,0],[0,1,0],[0,0,1]]*4"
    m = predicted_moments(spec)
    np.testing.assert_allclose(m.covariance, [[8 / 3, 8 / 3], [8 / 3, 8 / 3]], rtol=1e-12)
    _, cov, _ = _weighted_moments(et.erf(spec).values)
    np.testing.assert_allclose(cov, m.covariance, rtol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architecture())
def test_per_layer_erf_std_equals_the_erf_of_each_prefix(spec):
    rf = et.receptive_field(spec)
    assume(math.prod(rf.size) <= 4000)
    net = et.as_network(spec)
    for i, row in enumerate(rf.rows):
        prefix = et.Network(net.layers[: i + 1], net.dims)
        np.testing.assert_allclose(row.erf_std, et.erf(prefix).std, rtol=1e-9, atol=1e-9)


def test_the_variance_stays_exact_where_the_mean_dwarfs_the_spread():
    # 10^18 layers: mean 10^18, variance n (k^2 - 1) / 12 = 6.67e17; a second moment minus
    # the mean squared cancelled it to 0 (an 'ERF std 0' in the rf table)
    m = predicted_moments("1d: conv3*1000000000000000000")
    assert m.covariance[0][0] == pytest.approx(1e18 * 8 / 12, rel=1e-12)
    assert m.mean[0] == pytest.approx(1e18, rel=1e-15)
