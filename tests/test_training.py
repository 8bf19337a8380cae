"""The training experiment: the ERF widens when the task needs the whole field."""

from __future__ import annotations

import numpy as np
import pytest

import erftheory.autograd as ag
from erftheory.errors import ERFError
from erftheory.training import train_erf_growth


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_erf_grows_towards_the_flat_optimum(seed):
    r = train_erf_growth(layers=6, steps=600, seed=seed)
    assert r.losses[-1] < 1e-3 * r.losses[0]
    assert r.growth[0] > 1.2
    assert r.std_after[0] == pytest.approx(r.flat_std[0], rel=0.01)


def test_reported_erf_is_the_gradient_of_the_trained_network():
    # the ERF comes from composing the learned kernels; check it against backpropagation
    rng = np.random.default_rng(0)
    kernels = [rng.normal(size=3) for _ in range(4)]
    from erftheory.training import _erf_of

    composed = _erf_of(kernels, 1).values
    x = ag.Tensor(np.zeros((1, 1, 9)), requires_grad=True)
    y = x
    for k in kernels:
        y = ag.conv(y, ag.Tensor(k[None, None]), (1,), (1,), ((0, 0),))
    ag.total(ag.select(y, (0,))).backward()
    g = x.grad[0, 0]
    np.testing.assert_allclose(composed, g / g.sum(), rtol=1e-10)


def test_bad_settings():
    with pytest.raises(ERFError, match="must exceed"):
        train_erf_growth(layers=10, image=15)
    with pytest.raises(ERFError, match="1 or 2"):
        train_erf_growth(dims=3)
