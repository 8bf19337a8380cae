"""The NumPy autograd: every op against central finite differences and brute-force loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import erftheory.autograd as ag
from erftheory.errors import ERFError

FD = dict(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])


def numeric_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * h)
    return g


def check(op, *arrays, rng):
    """d(sum(op(...) * R))/d(inputs) by autograd vs finite differences, R random."""
    tensors = [ag.Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = op(*tensors)
    weights = rng.normal(size=out.shape)
    loss = ag.total(ag._pointwise(out, out.data * weights, weights))
    loss.backward()
    for k, a in enumerate(arrays):

        def f(v, k=k):
            args = [t.data if j != k else v for j, t in enumerate(tensors)]
            return float((op(*[ag.Tensor(x) for x in args]).data * weights).sum())

        expected = numeric_grad(f, a.copy())
        np.testing.assert_allclose(tensors[k].grad, expected, rtol=1e-5, atol=1e-6)


@st.composite
def conv_case(draw):
    dims = draw(st.integers(1, 3))
    k = [draw(st.integers(1, 3)) for _ in range(dims)]
    s = [draw(st.integers(1, 3)) for _ in range(dims)]
    d = [draw(st.integers(1, 2)) for _ in range(dims)]
    pad = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(dims)]
    mode = draw(st.sampled_from(["zeros", "circular", "reflect", "replicate"]))
    n = [draw(st.integers(3 if dims < 3 else 3, 7 if dims < 3 else 4)) for _ in range(dims)]
    per_sample = draw(st.booleans())
    return dims, k, s, d, pad, mode, n, per_sample


@settings(**FD)
@given(conv_case(), st.integers(0, 2**31))
def test_conv_gradients(case, seed):
    dims, k, s, d, pad, mode, n, per_sample = case
    assume(all(d_ * (k_ - 1) + 1 <= n_ + b + a for k_, d_, n_, (b, a) in zip(k, d, n, pad)))
    assume(mode != "reflect" or all(max(b, a) < n_ for n_, (b, a) in zip(n, pad)))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 2, *n))
    w = rng.normal(size=((2,) if per_sample else ()) + (3, 2, *k))
    check(lambda a, b: ag.conv(a, b, tuple(s), tuple(d), tuple(pad), mode), x, w, rng=rng)


def _brute_conv(x, w, s, d, pad, mode):
    np_mode = {"zeros": "constant", "circular": "wrap", "reflect": "reflect", "replicate": "edge"}[
        mode
    ]
    xp = np.pad(x, [(0, 0), (0, 0), *pad], mode=np_mode)
    dims = len(s)
    k = w.shape[-dims:]
    out_n = [(xp.shape[2 + a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(dims)]
    out = np.zeros((x.shape[0], w.shape[-dims - 2], *out_n))
    for b, o, c in itertools.product(range(x.shape[0]), range(out.shape[1]), range(x.shape[1])):
        for i in np.ndindex(*out_n):
            for m in np.ndindex(*k):
                src = tuple(s[a] * i[a] + d[a] * m[a] for a in range(dims))
                wv = w[b, o, c][m] if w.ndim == dims + 3 else w[o, c][m]
                out[(b, o, *i)] += wv * xp[(b, c, *src)]
    return out


@settings(**FD)
@given(conv_case(), st.integers(0, 2**31))
def test_conv_forward_against_loops(case, seed):
    dims, k, s, d, pad, mode, n, per_sample = case
    assume(all(d_ * (k_ - 1) + 1 <= n_ + b + a for k_, d_, n_, (b, a) in zip(k, d, n, pad)))
    assume(mode != "reflect" or all(max(b, a) < n_ for n_, (b, a) in zip(n, pad)))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 2, *n))
    w = rng.normal(size=((2,) if per_sample else ()) + (3, 2, *k))
    got = ag.conv(ag.Tensor(x), ag.Tensor(w), tuple(s), tuple(d), tuple(pad), mode).data
    np.testing.assert_allclose(got, _brute_conv(x, w, s, d, pad, mode), rtol=1e-12, atol=1e-12)


def test_conv_1d_equals_np_correlate():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=20), rng.normal(size=4)
    got = ag.conv(ag.Tensor(x[None, None]), ag.Tensor(w[None, None]), (1,), (1,), ((0, 0),)).data
    np.testing.assert_allclose(got[0, 0], np.correlate(x, w, mode="valid"), rtol=1e-12)


@settings(**FD)
@given(st.integers(1, 3), st.integers(0, 2**31))
def test_pooling_and_pointwise_gradients(dims, seed):
    rng = np.random.default_rng(seed)
    n = 5 if dims < 3 else 4
    x = rng.normal(size=(2, 2) + (n,) * dims)
    x[np.abs(x) < 1e-3] = 0.5  # finite differences straddling ReLU's kink at 0 are wrong
    k, s, pad = (2,) * dims, (2,) * dims, ((1, 0),) * dims
    check(lambda a: ag.avg_pool(a, k, s, pad), x, rng=rng)
    check(lambda a: ag.max_pool(a, (3,) * dims, (1,) * dims, ((1, 1),) * dims), x, rng=rng)
    for op in (
        ag.relu,
        ag.tanh,
        ag.sigmoid,
        ag.gelu,
        ag.silu,
        ag.identity,
        ag.square,
        lambda a: ag.scale(a, -2.5),
    ):
        check(op, x, rng=rng)
    check(lambda a, b: ag.add(a, b), x, rng.normal(size=x.shape), rng=rng)
    check(lambda a: ag.select(ag.relu(a), (1,) * dims, channel=None), x, rng=rng)


def test_pooling_against_brute_force():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 1, 6, 6))
    avg = ag.avg_pool(ag.Tensor(x), (2, 2), (2, 2), ((0, 0), (0, 0))).data
    np.testing.assert_allclose(avg[0, 0], x[0, 0].reshape(3, 2, 3, 2).mean(axis=(1, 3)))
    t = ag.Tensor(x, requires_grad=True)
    mx = ag.max_pool(t, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_allclose(mx.data[0, 0], x[0, 0].reshape(3, 2, 3, 2).max(axis=(1, 3)))
    ag.total(mx).backward()
    blocks = x[0, 0].reshape(3, 2, 3, 2).transpose(0, 2, 1, 3).reshape(3, 3, 4)
    routed = t.grad[0, 0].reshape(3, 2, 3, 2).transpose(0, 2, 1, 3).reshape(3, 3, 4)
    assert np.array_equal(routed.argmax(axis=-1), blocks.argmax(axis=-1)) and routed.sum() == 9


def test_dropout_mask_rate_and_seed():
    x = ag.Tensor(np.ones((1, 1, 200, 200)))
    a = ag.dropout(x, 0.3, np.random.default_rng(7)).data
    b = ag.dropout(x, 0.3, np.random.default_rng(7)).data
    assert np.array_equal(a, b)
    kept = np.mean(a > 0)
    assert abs(kept - 0.7) < 4 * np.sqrt(0.21 / 40000)  # binomial, 4 standard errors
    assert np.allclose(a[a > 0], 1 / 0.7)


def test_bad_arguments():
    x = ag.Tensor(np.ones((1, 1, 4)))
    with pytest.raises(ERFError, match="does not fit"):
        ag.conv(x, ag.Tensor(np.ones((1, 1, 6))), (1,), (1,), ((0, 0),))
    with pytest.raises(ERFError, match="outside"):
        ag.dropout(x, 1.0, np.random.default_rng(0))
    with pytest.raises(ERFError, match="padding_mode"):
        ag.conv(x, ag.Tensor(np.ones((1, 1, 3))), (1,), (1,), ((1, 1),), "mirror")


def test_gelu_and_silu_values():
    from scipy.special import erf

    x = np.linspace(-4, 4, 17)
    # closed forms: GELU x (1 + erf(x / sqrt 2)) / 2 (PyTorch's default), SiLU x / (1 + e^-x)
    np.testing.assert_allclose(ag.gelu(ag.Tensor(x)).data, x * (1 + erf(x / np.sqrt(2))) / 2)
    np.testing.assert_allclose(ag.silu(ag.Tensor(x)).data, x / (1 + np.exp(-x)))


@settings(**FD)
@given(
    st.integers(1, 2),
    st.data(),
    st.sampled_from(["zeros", "circular", "reflect", "replicate"]),
    st.integers(0, 2**31),
)
def test_pooling_gradients_on_random_shapes(dims, data, mode, seed):
    rng = np.random.default_rng(seed)
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    pad = tuple((data.draw(st.integers(0, kk - 1)), data.draw(st.integers(0, kk - 1))) for kk in k)
    n = tuple(data.draw(st.integers(max(kk, 2), 6)) for kk in k)
    x = rng.normal(size=(2, 2, *n))
    check(lambda a: ag.avg_pool(a, k, s, pad, mode), x, rng=rng)
    # max pooling pads with -inf (as frameworks do); ties have probability 0 for normal data
    check(lambda a: ag.max_pool(a, k, s, pad), x, rng=rng)


@settings(**FD)
@given(st.integers(1, 2), st.data(), st.integers(0, 2**31))
def test_locally_connected_gradient(dims, data, seed):
    rng = np.random.default_rng(seed)
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    s = tuple(data.draw(st.integers(1, 2)) for _ in range(dims))
    d = tuple(data.draw(st.integers(1, 2)) for _ in range(dims))
    pad = tuple((data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1))) for _ in k)
    n = tuple(data.draw(st.integers(4, 6)) for _ in k)
    out = tuple(
        (m + b + a - dd * (kk - 1) - 1) // ss + 1 for m, (b, a), kk, dd, ss in zip(n, pad, k, d, s)
    )
    assume(min(out) >= 1)
    w = rng.normal(size=(*out, *k))
    x = rng.normal(size=(2, 2, *n))
    check(lambda a: ag.local(a, w, s, d, pad, "zeros"), x, rng=rng)
    # and its forward pass by loops: z[i] = sum_m w[i, m] xpad[s i + d m]
    xp = np.pad(x, [(0, 0), (0, 0), *pad])
    z = ag.local(ag.Tensor(x), w, s, d, pad).data
    for i in np.ndindex(*out):
        want = sum(
            w[i + m]
            * xp[
                (slice(None), slice(None))
                + tuple(si * ii + di * mi for si, ii, di, mi in zip(s, i, d, m))
            ]
            for m in np.ndindex(*k)
        )
        np.testing.assert_allclose(z[(slice(None), slice(None), *i)], want, rtol=1e-12)


@settings(**FD)
@given(st.integers(1, 3), st.data(), st.integers(0, 2**31))
def test_concat_gradient_splits_the_gradient(dims, data, seed):
    rng = np.random.default_rng(seed)
    spatial = (3,) * dims
    sizes = [data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(1, 3)))]
    arrays = [rng.normal(size=(2, c, *spatial)) for c in sizes]
    check(lambda *t: ag.concat(t, axis=1), *arrays, rng=rng)
    # any axis, negative ones too: the last spatial axis of differently sized parts
    parts = [rng.normal(size=(2, 2, *spatial[:-1], n)) for n in sizes]
    check(lambda *t: ag.concat(t, axis=-1), *parts, rng=rng)


def test_concat_forward_and_a_tensor_joined_twice():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 1, 4)), rng.normal(size=(2, 3, 4))
    got = ag.concat([ag.Tensor(a), ag.Tensor(b)]).data
    assert got.shape == (2, 4, 4)
    np.testing.assert_array_equal(got[:, :1], a)
    np.testing.assert_array_equal(got[:, 1:], b)
    # a tensor in two places receives the sum of both slices of the gradient
    t = ag.Tensor(a, requires_grad=True)
    weights = rng.normal(size=(2, 2, 4))
    out = ag.concat([t, t])
    ag.total(ag._pointwise(out, out.data * weights, weights)).backward()
    np.testing.assert_allclose(t.grad, weights[:, :1] + weights[:, 1:], rtol=1e-15)


def test_concat_bad_arguments():
    x, y = ag.Tensor(np.ones((1, 2, 4))), ag.Tensor(np.ones((1, 2, 5)))
    with pytest.raises(ERFError, match=r"shapes \[1, 2, 4\], \[1, 2, 5\]"):
        ag.concat([x, y], axis=1)
    with pytest.raises(ERFError, match="axis=3 is outside the 3 axes"):
        ag.concat([x, x], axis=3)
    with pytest.raises(ERFError, match="at least one tensor"):
        ag.concat([])
    with pytest.raises(ERFError, match="other axes agree"):
        ag.concat([x, ag.Tensor(np.ones((1, 2)))], axis=1)
