"""Upsampling and transposed convolutions against a brute-force forward pass (1-D to 3-D)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import erftheory as et
from erftheory.adjoint import backpropagate


# ------------------------------------------------------------ an independent forward pass
# Arrays carry a leading batch axis (the basis vectors pushed through at once); loops over
# output positions and taps keep the definitions literal.
def _conv(x, w, s, d, pad):
    x = np.pad(x, [(0, 0), *pad])
    k = w.shape
    dims = w.ndim
    out_n = [(x.shape[1 + a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(dims)]
    out = np.zeros((x.shape[0], *out_n))
    for i in np.ndindex(*out_n):
        for m in np.ndindex(*k):
            out[(slice(None), *i)] += (
                w[m] * x[(slice(None),) + tuple(s[a] * i[a] + d[a] * m[a] for a in range(dims))]
            )
    return out


def _transposed(x, w, s, d, pad):
    k = w.shape
    dims = w.ndim
    full = [(x.shape[1 + a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 for a in range(dims)]
    out = np.zeros((x.shape[0], *full))
    for i in np.ndindex(*x.shape[1:]):
        for m in np.ndindex(*k):
            where = tuple(s[a] * i[a] + d[a] * m[a] for a in range(dims))
            out[(slice(None), *where)] += w[m] * x[(slice(None), *i)]
    return out[(slice(None),) + tuple(slice(b, n - a) for (b, a), n in zip(pad, full))]


def _upsample(x, factor, mode):
    for axis, u in enumerate(factor, start=1):
        n = x.shape[axis]
        if mode == "nearest":
            x = np.repeat(x, u, axis=axis)
            continue
        pos = (np.arange(n * u) + 0.5) / u - 0.5
        pos = np.clip(pos, 0, n - 1)  # frameworks clamp at the borders
        left = np.floor(pos).astype(int)
        right = np.minimum(left + 1, n - 1)
        frac = (pos - left).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
        x = np.take(x, left, axis=axis) * (1 - frac) + np.take(x, right, axis=axis) * frac
    return x


def _forward(net, x):
    """The network on a batch ``x`` of shape ``(B, *spatial)``."""
    return _layers(net.layers, x)


def _layers(layers, x):
    for layer in layers:
        for _ in range(layer.repeat):
            if isinstance(layer, et.Residual):  # y = x + F(x), joined by index
                x = x + _layers(layer.layers, x)
            elif isinstance(layer, et.Branches):  # add, or concat read by a sum over channels
                x = sum(_layers(branch, x) for branch in layer.branches)
            elif isinstance(layer, et.Block):
                x = _layers(layer.layers, x)
            elif isinstance(layer, et.Upsample):
                x = _upsample(x, layer.factor, layer.mode)
            elif isinstance(layer, et.ConvTranspose):
                w = np.ones(layer.kernel) if layer.weights is None else layer.weight_array
                x = _transposed(x, w, layer.stride, layer.dilation, layer.padding)
            elif isinstance(layer, et.Conv):
                w = np.ones(layer.kernel) if layer.weights is None else layer.weight_array
                x = _conv(x, w, layer.stride, layer.dilation, layer.padding)
            elif isinstance(layer, et.AvgPool):
                w = np.full(layer.kernel, 1 / math.prod(layer.kernel))
                x = _conv(x, w, layer.stride, layer.dilation, layer.padding)
            elif isinstance(layer, et.ReLU):
                x = 0.5 * x
    return x


def _jacobian_row(net, n, unit):
    """d y[unit] / d x for an input of n pixels per axis, pushing every basis vector at once."""
    basis = np.eye(n**net.dims).reshape((n**net.dims,) + (n,) * net.dims)
    return _forward(net, basis)[(slice(None), *unit)].reshape((n,) * net.dims)


# ------------------------------------------------------------ tests
# joins whose paths have fractional strides (U-Net style), shapes kept equal on even inputs
_JOINS = [
    "res(conv3/s2/p1, up2)",
    "res(conv{k}/s2/p{h}, up2/bilinear, conv3/p1)",
    "add(id | conv3/s2/p1, convtranspose2/s2)",
    "cat(conv3/p1 | avgpool2, convtranspose{k}/s2/p{h}-{a})",
    "add(up2, conv2/s2 | conv{k}/p{h})",
]


@st.composite
def fractional_net(draw):
    dims = draw(st.integers(1, 2))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "up", "convt", "join"]))
        if kind == "join":
            k = draw(st.sampled_from([1, 3, 5]))
            template = draw(st.sampled_from(_JOINS))
            # transposed conv k, stride 2: (n - 1) 2 + k - h - a = 2 n needs h + a = k - 2
            h = (k - 1) // 2
            layers.append(template.format(k=k, h=h, a=max(k - 2 - h, 0)))
        elif kind == "up":
            layers.append(f"up{draw(st.integers(2, 3))}" + draw(st.sampled_from(["", "/bilinear"])))
        else:
            k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            b, a = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            name = "conv" if kind == "conv" else "convtranspose"
            layers.append(f"{name}{k}/s{s}/d{d}/p{b}-{a}")
    return f"{dims}d: " + ", ".join(layers)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fractional_net(), st.data())
def test_backpropagation_matches_the_brute_force_jacobian(arch, data):
    net = et.as_network(arch)
    n = 40 if net.dims == 1 else 16
    try:
        out = _forward(net, np.zeros((1,) + (n,) * net.dims))[0]
    except (ValueError, IndexError):
        assume(False)
    assume(min(out.shape) >= 3 and all(v <= (200 if net.dims == 1 else 40) for v in out.shape))
    # units near the middle, at every phase of the fractional strides: far from the borders
    # of the input and of every intermediate map (a cropping transposed conv or a clamping
    # bilinear upsampling changes units near an intermediate border, which the unbounded
    # model does not have)
    unit = tuple(
        data.draw(st.integers(max(0, m // 2 - 3), min(m - 1, m // 2 + 3))) for m in out.shape
    )
    g, start = backpropagate(net, unit)
    row = _jacobian_row(net, n, unit)
    assume(all(s >= 4 and s + m <= n - 4 for s, m in zip(start, g.shape)))
    expected = row[tuple(slice(s, s + m) for s, m in zip(start, g.shape))]
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)
    assert np.abs(row).sum() == pytest.approx(np.abs(g).sum(), rel=1e-12)


@pytest.mark.parametrize("template", _JOINS)
@pytest.mark.parametrize("dims", [1, 2])
def test_joins_with_fractional_paths_match_the_brute_force(template, dims):
    # every join template (k = 3) between two convs, at every phase of the middle units
    net = et.as_network(f"{dims}d: conv3/p1, " + template.format(k=3, h=1, a=0) + ", conv2/p1")
    n = 24 if dims == 1 else 12
    out = _forward(net, np.zeros((1,) + (n,) * dims))[0]
    assert out.shape == (n + 1,) * dims  # the joins keep the resolution (conv2/p1 adds one)
    for offset in range(2):
        unit = (n // 2 + offset,) * dims
        r = et.erf(net, unit=unit)  # the public path: backpropagation through the joins
        start = r.receptive_field.start
        row = _jacobian_row(net, n, unit)
        expected = row[tuple(slice(s, s + m) for s, m in zip(start, r.values.shape))]
        np.testing.assert_allclose(r.values, expected, rtol=1e-12, atol=1e-12)
        assert np.abs(row).sum() == pytest.approx(np.abs(r.values).sum(), rel=1e-12)


def test_hand_computed_cases():
    # z1[i] = x[2i] + x[2i+1] + x[2i+2]; z2[j] = z1[j // 2]; y = z2[0] + z2[1] + z2[2]
    assert et.erf("1d: conv3/s2, up2, conv3").values.tolist() == [2, 2, 3, 1, 1]
    # transposed conv k3 s2: y[0] = x[0] (m = 0) + x[-1] (m = 2); the field starts at -1
    g, start = backpropagate(et.as_network("1d: convtranspose3/s2"))
    assert g.tolist() == [1, 1] and start == (-1,)
    # bilinear x2 then conv3 at unit 0: x[-1] 1/4, x[0] 3/4 + 3/4 + 1/4, x[1] 1/4 + 3/4
    assert et.erf("1d: up2/bilinear, conv3").values.tolist() == [0.25, 1.75, 1.0]


def test_3d_and_reports():
    net = et.as_network("3d: conv3/s2, up2, conv2")
    n = 8
    g, start = backpropagate(net, (2, 2, 2))
    row = _jacobian_row(net, n, (2, 2, 2))
    np.testing.assert_allclose(g, row[tuple(slice(s, s + m) for s, m in zip(start, g.shape))])
    rf = et.receptive_field("conv3/s2, up2, conv3, up2/bilinear")
    assert str(rf.effective_stride[0]) == "1/2"
    # the framework default stride of a transposed conv is 1 (PyTorch, TensorFlow)
    assert et.as_network("convtranspose4").layers[0].stride == (1, 1)
    assert et.to_compact(et.as_network("up2/bilinear, convtranspose4/s2/p1")) == (
        "2d: up2/bilinear, convtranspose4/s2/p1"
    )
    with pytest.raises(et.ERFError, match="weights='ones'"):
        et.erf("conv3, up2", weights="random")
    # branches joined at different resolutions are refused with both strides
    with pytest.raises(et.ERFError, match=r"effective stride \['1/2'\]"):
        et.erf("1d: add(id | conv3/s2/p1, up4)")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 2), st.integers(1, 2), st.integers(0, 1), st.data())
def test_locally_connected_against_brute_force(k, s, d, p, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    positions = 6
    w = rng.normal(size=(positions, k))
    spec = {
        "dims": 1,
        "layers": [
            {"type": "conv", "kernel": 2},
            {
                "type": "local",
                "kernel": k,
                "stride": s,
                "dilation": d,
                "padding": p,
                "weights": w.tolist(),
            },
        ],
    }
    unit = data.draw(st.integers(0, positions - 1))
    r = et.erf(spec, unit=(unit,))
    start = r.receptive_field.start[0]

    def y(x, margin):
        """y[unit] = sum_m W[unit, m] z[s unit + d m - p], z[t] = x[t] + x[t + 1], by loops."""
        z = lambda t: x[t + margin] + x[t + 1 + margin]  # noqa: E731
        return sum(w[unit, m] * z(s * unit + d * m - p) for m in range(k))

    margin, n = 5, 20
    jac = np.array([y(np.eye(n + 2 * margin)[j], margin) for j in range(n + 2 * margin)])
    expected = np.zeros(n + 2 * margin)
    expected[margin + start : margin + start + r.values.size] = r.values
    np.testing.assert_allclose(expected, jac, atol=1e-12)
    with pytest.raises(et.ERFError, match="pick a unit inside the grid"):
        et.erf(spec, unit=(positions + 3,))


@pytest.mark.parametrize(
    "arch",
    [
        "3d: conv3/p1-0, up2/bilinear, conv2/d2/p0-1",
        "3d: conv2/s2/p0-1, convtranspose3x2x4/s2/p1-0x0-0x1-1, conv3/p1",
        "3d: up2, conv3/s2/d1/p1-2, convtranspose2/s2",
        "3d: conv3/p1, add(id | conv3/s2/p1, up2)",
    ],
)
def test_3d_fractional_layers_match_the_brute_force(arch):
    # asymmetric padding, dilation, anisotropic strides, bilinear and a join, in 3-D
    net = et.as_network(arch)
    n = 10
    out = _forward(net, np.zeros((1,) + (n,) * 3))[0]
    unit = tuple(m // 2 for m in out.shape)
    r = et.erf(net, unit=unit)
    row = _jacobian_row(net, n, unit)
    start = r.receptive_field.start
    assert all(s >= 1 and s + m <= n - 1 for s, m in zip(start, r.values.shape))
    expected = row[tuple(slice(s, s + m) for s, m in zip(start, r.values.shape))]
    np.testing.assert_allclose(r.values, expected, rtol=1e-12, atol=1e-12)
    assert np.abs(row).sum() == pytest.approx(np.abs(r.values).sum(), rel=1e-12)


def test_the_adjoint_bound_covers_signed_paths_that_cancel():
    # differences of a smooth bump cancel to values 10^5 below their paths' absolute products;
    # the bound once scaled with the values and was exceeded 10^12-fold (1.4e38 > 2.6e26).
    # up2 at the output side: unit 0 sees the same ERF as the network without it, exactly.
    body = "conv3*80, conv2/w[1,-1]*60"
    r = et.erf(f"1d: {body}, up2")
    assert r.method == "adjoint"
    exact = et.erf(f"1d: {body}", exact=True).exact_values
    errors = [abs(Fraction(got) - want) for got, want in zip(r.values.tolist(), exact.tolist())]
    assert max(errors) <= Fraction(r.abs_error)
    assert max(errors) > 0  # float64 cannot hold these paths exactly: the bound is exercised


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(-3, 3), min_size=2, max_size=3).filter(any),
    st.integers(1, 50),
    st.integers(0, 60),
)
def test_the_adjoint_bound_holds_for_signed_integer_kernels(weights, n, m):
    body = f"conv{len(weights)}/w[{','.join(map(str, weights))}]*{n}" + (
        f", conv3*{m}" if m else ""
    )
    r = et.erf(f"1d: {body}, up2")
    exact = et.erf(f"1d: {body}", exact=True).exact_values
    assert r.values.shape == exact.shape
    for got, want in zip(r.values.tolist(), exact.tolist()):
        assert abs(Fraction(got) - want) <= Fraction(r.abs_error)


def test_a_cancelled_upsampling_map_is_not_sent_to_exact_mode():
    # exact mode refuses fractional strides: the refusal used to suggest it anyway
    with pytest.raises(et.ERFError, match=r"normalize=None\) shows it") as err:
        et.erf("1d: up5/bilinear*2, conv3/w[1,-2,1]", normalize="peak")
    assert "exact=True" not in str(err.value)
