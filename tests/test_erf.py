"""The ERF of linear networks against independent computations."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import brute_force_erf
from strategies import architecture

import erftheory as et


def _small(spec):
    rf = et.receptive_field(spec)
    return math.prod(rf.size) <= 2500 and max(rf.size) <= 60, rf


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architecture(signed=True), st.sampled_from(["fft", "direct", "auto"]))
def test_composition_matches_brute_force_forward_pass(spec, method):
    ok, rf = _small(spec)
    assume(ok)
    expected = brute_force_erf(et.as_network(spec), rf.size, rf.effective_stride, rf.start)
    result = et.erf(spec, method=method)
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(result.values, expected, rtol=0, atol=1e-10 * scale)
    # the stated bound holds against the brute force (which is itself exact here up to ~1e-15)
    assert np.max(np.abs(result.values - expected)) <= result.abs_error + 1e-13 * scale


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architecture(max_layers=3))
def test_exact_mode_matches_brute_force(spec):
    ok, rf = _small(spec)
    assume(ok and math.prod(rf.size) <= 400)
    expected = brute_force_erf(et.as_network(spec), rf.size, rf.effective_stride, rf.start)
    result = et.erf(spec, exact=True)
    exact = np.array([float(v) for v in result.exact_values.flat]).reshape(rf.size)
    np.testing.assert_allclose(exact, expected, rtol=1e-12, atol=1e-300)
    assert all(isinstance(v, (int, Fraction)) for v in result.exact_values.flat)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architecture(max_layers=3))
def test_fft_never_negative_and_zero_outside_support(spec):
    ok, rf = _small(spec)
    assume(ok and math.prod(rf.size) <= 400)
    exact = et.erf(spec, exact=True).exact_values
    values = et.erf(spec, method="fft").values
    assert np.all(values >= 0)  # the strategy draws non-negative weights
    zero = np.array([v == 0 for v in exact.flat]).reshape(exact.shape)
    assert np.all(values[zero] == 0)


@pytest.mark.parametrize("k,n", [(2, 7), (3, 5), (3, 12), (5, 6), (4, 20)])
def test_ones_stack_equals_multinomial_coefficients(k, n):
    x = sympy.symbols("x")
    coeffs = sympy.Poly(sum(x**i for i in range(k)) ** n, x).all_coeffs()[::-1]
    expected = np.array([int(c) for c in coeffs], dtype=float)
    result = et.erf(f"1d: conv{k}*{n}")
    np.testing.assert_array_equal(result.values, expected)
    assert result.std[0] ** 2 == pytest.approx(n * (k * k - 1) / 12, rel=1e-12)
    exact = et.erf(f"1d: conv{k}*{n}", exact=True).exact_values
    assert [int(v) for v in exact] == [int(c) for c in coeffs]


def test_exact_counts_beyond_float64_are_flagged():
    x = sympy.symbols("x")
    coeffs = [int(c) for c in sympy.Poly((1 + x + x**2) ** 40, x).all_coeffs()[::-1]]
    result = et.erf("1d: conv3*40", exact=True)
    assert list(result.exact_values) == coeffs
    assert max(coeffs) > 2**53 and not result.float_exact
    small = et.erf("1d: conv3*10", exact=True)
    assert small.float_exact is True
    # a float run does not check: unknown (null in JSON), not False for exact integers
    floats = et.erf("1d: conv3*3")
    assert floats.values.tolist() == [1, 3, 6, 7, 6, 3, 1] and floats.float_exact is None
    assert floats.to_dict()["float_exact"] is None


@pytest.mark.parametrize("method", ["auto", "fft", "direct"])
def test_2d_ones_stack_is_outer_product_of_1d(method):
    one = et.erf("1d: conv3*6, conv5*2").values
    two = et.erf("conv3*6, conv5*2", method=method)
    tol = {"rtol": 0, "atol": two.abs_error} if method == "fft" else {"rtol": 1e-13}
    np.testing.assert_allclose(two.values, np.outer(one, one), **tol)
    aniso = et.erf("conv3x5*4", method=method)
    tol = {"rtol": 0, "atol": aniso.abs_error} if method == "fft" else {"rtol": 1e-13}
    expected = np.outer(et.erf("1d: conv3*4").values, et.erf("1d: conv5*4").values)
    np.testing.assert_allclose(aniso.values, expected, **tol)


def test_variance_and_mass_of_plain_stacks():
    for k, n in [(3, 10), (5, 7), (2, 31)]:
        r = et.erf(f"conv{k}*{n}")
        assert r.std == pytest.approx([math.sqrt(n * (k * k - 1) / 12)] * 2, rel=1e-12)
        assert r.values.sum() == pytest.approx(float(k * k) ** n, rel=1e-12)
    w = [[1, 2, 0], [0, 1, 3], [2, 0, 1]]
    r = et.erf(
        {
            "dims": 2,
            "layers": [
                {"type": "conv", "kernel": 3, "weights": w, "repeat": 3},
                {"type": "avgpool", "kernel": 2, "stride": 1},
            ],
        }
    )
    assert r.values.sum() == pytest.approx(10.0**3 * 1.0, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(architecture())
def test_trf_formula_and_support_bounding_box(spec):
    ok, rf = _small(spec)
    assume(ok and "weights" not in str(spec))  # explicit zero weights may shrink the support
    net = et.as_network(spec)
    # 1 + sum (k - 1) d J over a flattened plain stack (residual bodies add their field)
    size, jump = [1] * net.dims, [1] * net.dims

    def walk(layers, size, jump):
        for layer in layers:
            for _ in range(layer.repeat):
                if isinstance(layer, et.Branches):  # aligned: the widest branch's field
                    walks = [walk(b, [1] * net.dims, [1] * net.dims) for b in layer.branches]
                    widest = [max(w[0][a] for w in walks) for a in range(net.dims)]
                    size = [s + (b - 1) * j for s, b, j in zip(size, widest, jump)]
                    jump = [j * s for j, s in zip(jump, walks[0][1])]
                elif isinstance(layer, et.Residual):
                    inner, _ = walk(layer.layers, [1] * net.dims, [1] * net.dims)
                    size = [s + (b - 1) * j for s, b, j in zip(size, inner, jump)]
                elif hasattr(layer, "kernel"):
                    size = [
                        s + (k - 1) * d * j
                        for s, k, d, j in zip(size, layer.kernel, layer.dilation, jump)
                    ]
                    jump = [j * s for j, s in zip(jump, layer.stride)]
        return size, jump

    size, jump = walk(net.layers, size, jump)
    assert list(rf.size) == size and list(rf.effective_stride) == jump
    exact = et.erf(spec, exact=True).exact_values if math.prod(rf.size) <= 400 else None
    values = et.erf(spec).values
    nonzero = values != 0 if exact is None else np.vectorize(lambda v: v != 0)(exact)
    for axis in range(net.dims):
        occupied = np.flatnonzero(nonzero.any(axis=tuple(a for a in range(net.dims) if a != axis)))
        assert occupied[0] == 0 and occupied[-1] == rf.size[axis] - 1


def test_single_conv_with_weights_is_its_kernel_unflipped():
    w = [[1, 2, 3], [4, 5, 6]]
    r = et.erf({"dims": 2, "layers": [{"type": "conv", "kernel": [2, 3], "weights": w}]})
    np.testing.assert_array_equal(r.values, np.array(w, dtype=float))


def test_two_layer_non_symmetric_by_hand():
    # z[i] = x[i] + 2 x[i+1];  y = z[0] + 3 z[2] = x0 + 2 x1 + 3 x2 + 6 x3
    r = et.erf("1d: conv2/w[1,2], conv3/w[1,0,3]")
    assert r.values.tolist() == [1, 2, 3, 6]
    # with stride 2 below: z[i] = x[2i] + 2 x[2i+1];  y = z0 + 3 z2 = x0 + 2x1 + 3x4 + 6x5
    r = et.erf("1d: conv2/s2/w[1,2], conv3/w[1,0,3]")
    assert r.values.tolist() == [1, 2, 0, 0, 3, 6]


def test_theory_section6_examples():
    assert et.erf("1d: conv3/d1, conv3/d3, conv3/d9").values.tolist() == [1] * 27
    assert et.erf("1d: conv3/s2, conv3").values.tolist() == [1, 1, 2, 1, 2, 1, 1]
    for n in (1, 4, 9):
        binom = [math.comb(2 * n, j) for j in range(2 * n + 1)]
        assert et.erf(f"1d: res(conv3)*{n}").values.tolist() == binom
        assert [int(v) for v in et.erf(f"1d: res(conv3)*{n}", exact=True).exact_values] == binom


def test_gridding_zeros_are_exact():
    values = et.erf("1d: conv3/d2*5", method="fft").values
    assert np.all(values[1::2] == 0) and np.all(values[::2] > 0)


def _random_mode_brute_force(pattern):
    """E[g^2] for a 1-D chain of random conv3 (R) and fixed avgpool3/s1 (A) by enumeration.

    g(p) = sum over all offset tuples with total p of prod(w_random) * prod(1/3 for pools);
    E[g^2] keeps pairs of tuples whose random offsets coincide (zero-mean iid weights).
    """
    import itertools

    n = len(pattern)
    out = np.zeros(2 * n + 1)
    for offsets in itertools.product(range(3), repeat=n):
        for other in itertools.product(range(3), repeat=n):
            if sum(offsets) != sum(other):
                continue
            if any(a != b for a, b, kind in zip(offsets, other, pattern) if kind == "R"):
                continue
            out[sum(offsets)] += (1 / 9) ** pattern.count("A")
    return out


def test_random_weights_exact_rule_with_pools():
    spec = "1d: conv3, avgpool3/s1, conv3, avgpool3/s1, conv3"
    values = et.erf(spec, weights="random").values
    np.testing.assert_allclose(values, _random_mode_brute_force("RARAR"), rtol=1e-12)
    assert values.sum() == pytest.approx(6.333333333333, rel=1e-9)  # THEORY.md section 4
    exact = et.erf(spec, weights="random", exact=True).exact_values
    assert sum(exact) == Fraction(57, 9)


def test_random_weights_without_fixed_layers_are_path_counts():
    for spec in ["conv3*6", "1d: conv3/s2*3, conv5", "conv3, res(conv3, relu, conv3)*3"]:
        ones = et.erf(spec).values
        rnd = et.erf(spec, weights="random").values
        if "relu" not in spec:
            np.testing.assert_allclose(rnd, ones, rtol=1e-12)
    # relu: 1/2 on E[g] and on E[g^2]; dropout: 1 on E[g], 1/(1-p) on E[g^2]
    base = et.erf("conv3*2", weights="random").values
    np.testing.assert_allclose(et.erf("conv3, relu, conv3", weights="random").values, base / 2)
    np.testing.assert_allclose(et.erf("conv3, dropout0.2, conv3").values, et.erf("conv3*2").values)
    np.testing.assert_allclose(
        et.erf("conv3, dropout0.2, conv3", weights="random").values, base / 0.8, rtol=1e-13
    )


def test_random_residual_with_fixed_layers_expands_over_paths():
    # y = x + F(x), F = avgpool3/s1 (fixed) then conv3 (random), after a random conv3
    spec = "1d: conv3, res(avgpool3/s1, conv3)"
    # groups: identity path: V = conv3 (ones) -> [1,1,1] centred in the 7-wide field;
    # body path: V = conv3 * conv3 composed, C = avgpool kernel [1/3,1/3,1/3] squared pointwise
    v = np.convolve(np.ones(3), np.ones(3))
    body = np.convolve(v, np.full(3, 1 / 9))
    expected = body.copy()
    expected[2:5] += 1
    np.testing.assert_allclose(et.erf(spec, weights="random").values, expected, rtol=1e-13)


def test_maxpool_modes():
    np.testing.assert_allclose(et.erf("1d: maxpool3").values, [1 / 3] * 3)
    np.testing.assert_allclose(et.erf("1d: maxpool3", weights="random").values, [1 / 3] * 3)
    np.testing.assert_allclose(et.erf("1d: avgpool3", weights="random").values, [1 / 9] * 3)


def test_normalisation_and_overflow():
    with pytest.raises(et.ERFError, match="normalize"):
        et.erf("1d: conv3*700")
    r = et.erf("1d: conv3*700", normalize="sum")
    assert r.values.sum() == pytest.approx(1.0, rel=1e-12)
    assert r.log10_mass == pytest.approx(700 * math.log10(3), rel=1e-12)
    peak = et.erf("1d: conv3*700", normalize="peak").values
    assert peak.max() == 1.0 and np.all(np.isfinite(peak))
    exact = et.erf("1d: conv3*100", normalize="sum", exact=True)
    x = sympy.symbols("x")
    coeffs = sympy.Poly((1 + x + x**2) ** 100, x).all_coeffs()[::-1]
    assert exact.exact_values[100] == Fraction(int(coeffs[100]), 3**100)


def test_deep_normalised_tails_are_accurate_or_reported():
    n = 300
    x = sympy.symbols("x")
    coeffs = [int(c) for c in sympy.Poly((1 + x + x**2) ** n, x).all_coeffs()[::-1]]
    truth = np.array([float(Fraction(c, 3**n)) for c in coeffs])
    r = et.erf(f"1d: conv3*{n}", normalize="sum")
    rel = np.abs(r.values - truth) / truth
    assert np.max(rel) <= r.rel_error and r.rel_error < 1e-12
    fft = et.erf(f"1d: conv3*{n}", normalize="sum", method="fft")
    assert np.max(np.abs(fft.values - truth)) <= fft.abs_error


def test_underflow_is_counted():
    r = et.erf("1d: conv3*1000", normalize="sum")
    # (1/3)^1000 ~ 1e-477: the outermost entries underflow, and the result says how many
    assert r.underflow > 0 and r.values[0] == 0


def test_memory_budget_refused_before_allocating():
    with pytest.raises(et.ERFError, match="GiB"):
        et.erf("conv3*5000", normalize="sum")
    with pytest.raises(et.ERFError, match="budget"):
        et.erf("conv3*10", max_bytes=1000)


def test_bad_options():
    for kwargs in [{"weights": "uniform"}, {"normalize": "max"}, {"method": "magic"}]:
        with pytest.raises(et.ERFError, match="is not one of"):
            et.erf("conv3", **kwargs)
    with pytest.raises(et.ERFError, match="tanh"):
        et.erf("conv3, tanh")


def test_result_prints_a_report():
    text = str(et.erf("conv3*10"))
    assert "receptive field   21 x 21" in text and "std" in text


def test_branches_by_hand():
    # ResNet-style projection shortcut: conv3/s2 (padding 1) + conv1/s2, centred together
    assert et.erf("1d: add(conv3/s2 | conv1/s2)").values.tolist() == [1, 2, 1]
    # a conv after the join at jump 2: [1,2,1] composed with [1,0,1,0,1]
    assert et.erf("1d: add(conv3/s2 | conv1/s2), conv3").values.tolist() == [1, 2, 2, 2, 2, 2, 1]
    # concat feeding a conv is a sum over the channels: the same spatial kernel as add
    cat = et.erf("cat(conv1 | conv3, conv3 | maxpool3/s1, conv1), conv3").values
    add = et.erf("add(conv1 | conv3, conv3 | maxpool3/s1, conv1), conv3").values
    np.testing.assert_array_equal(cat, add)


def test_misaligned_branches_are_refused():
    with pytest.raises(et.ERFError, match="misaligned branches on axis 1"):
        et.erf("add(conv3 | conv3x2/p1x0)")
    with pytest.raises(et.ERFError, match="effective stride"):
        et.erf("add(conv3/s2 | conv3)")


def test_random_branches_with_a_fixed_branch():
    # conv3 (random), then conv3/s2 (random) | avgpool1/s2 (fixed, centred): the groups
    # are V = conv3*conv3 = [1,2,3,2,1] and V = conv3 with C = [1] in the middle
    values = et.erf("1d: conv3, add(conv3/s2 | avgpool1/s2)", weights="random").values
    assert values.tolist() == [1, 3, 4, 3, 1]


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_deep_stacks_neither_underflow_nor_overflow(method):
    # 3-tap layers normalised by powers of two shrink by 3/4 per layer: (3/4)^3000 ~ 1e-375
    # would underflow without rescaling on the way
    r = et.erf("1d: conv3*3000", normalize="sum", method=method)
    assert r.values.sum() == pytest.approx(1.0, rel=1e-12)
    assert r.log10_mass == pytest.approx(3000 * math.log10(3), rel=1e-12)
    sigma = math.sqrt(3000 * 2 / 3)
    assert r.values.max() == pytest.approx(1 / (sigma * math.sqrt(2 * math.pi)), rel=1e-3)
    peak = et.erf("1d: conv3*10, conv2/d30/w[1,1], conv3*1000", normalize="peak", method=method)
    assert peak.values.max() == 1.0 and np.all(np.isfinite(peak.values))


def test_tails_within_1e12_relative_at_depth_1000():
    # exact counts of (1 + x + x^2)^1000 with Python integers, normalised exactly
    counts = [1]
    for _ in range(1000):
        padded = [0, 0] + counts + [0, 0]
        counts = [padded[i] + padded[i + 1] + padded[i + 2] for i in range(len(counts) + 2)]
    total = 3**1000
    exact = np.array([float(Fraction(c, total)) for c in counts])
    r = et.erf("1d: conv3*1000", normalize="sum")
    # the bound holds above the underflow floor, a little above float64's normal range
    floor = r.underflow_floor
    assert np.finfo(float).tiny <= floor <= 1e-290
    covered = exact >= floor * (1 + 1e-9)
    rel = np.abs(r.values[covered] - exact[covered]) / exact[covered]
    assert rel.max() <= r.rel_error <= 1e-12
    # what the bound does not cover is counted, not silently zeroed
    assert r.underflow == np.count_nonzero(r.values < floor)
    assert r.underflow >= np.count_nonzero(exact < floor * (1 - 1e-9))


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["conv3", "conv5/p2", "conv3/d2/p1", "conv3/s2/p1", "res(conv3/p1, conv3/p1)"]),
    st.integers(1, 40),
)
def test_repeated_layer_field_equals_the_unrolled_stack(layer, n):
    # the recurrence of a repeated layer (closed form when the jump is unchanged) against n
    # copies written out, each applied once
    unrolled = et.receptive_field("1d: " + ", ".join([layer] * n))
    forms = [f"1d: ({layer})*{n}"] + ([] if "(" in layer else [f"1d: {layer}*{n}"])
    for form in forms:  # a repeated block, and a layer with a repeat count
        repeated = et.receptive_field(form)
        assert (repeated.size, repeated.effective_stride, repeated.start) == (
            unrolled.size,
            unrolled.effective_stride,
            unrolled.start,
        )


def test_paths_that_cancel_give_a_zero_erf():
    # x + (-x): the residual's two paths cancel exactly
    spec = {
        "dims": 1,
        "layers": [
            {"type": "residual", "layers": [{"type": "conv", "kernel": 1, "weights": [-1]}]}
        ],
    }
    for method in ("auto", "direct", "fft"):
        assert et.erf(spec, method=method).values.tolist() == [0.0]
    assert et.erf("1d: conv3/w[0,0,0], conv3").values.tolist() == [0.0] * 5
    with pytest.raises(et.ERFError, match="identically zero"):
        et.erf(spec, normalize="sum")


@pytest.mark.parametrize(
    "arch, normalize",
    [
        (arch, normalize)
        for arch in ("2d: conv3*1000", "3d: conv3*60", "2d: conv3*20", "conv3/d2*5")
        for normalize in ("sum", "peak", None)
        if not (normalize is None and "1000" in arch)  # raw: beyond float64, refused
    ],
)
def test_separable_maps_formed_from_vectors_keep_their_invariants(arch, normalize):
    # the map of a separable stack is formed once from its normalised vectors: check the
    # result against independent passes over the array it returns
    r = et.erf(arch, normalize=normalize)
    v = r.values
    if normalize == "sum":
        assert v.sum() == pytest.approx(1.0, rel=1e-12)
    if normalize == "peak":
        assert v.max() == 1.0
    floor = r.underflow_floor
    support = et.erf(arch, exact=False, method="direct").values != 0 if v.size < 10**6 else None
    small = (v < floor) if support is None else (v < floor) & support
    assert r.underflow == int(np.count_nonzero(small))
    assert np.all(v >= 0) and v.flags.c_contiguous


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-400, 0), min_size=1, max_size=20).map(lambda e: np.exp(np.array(e))),
        min_size=1,
        max_size=3,
    ),
    st.booleans(),
    st.floats(-700, 0),
)
def test_underflow_count_from_vectors_equals_a_count_over_the_map(vectors, zero, log_floor):
    from erftheory.bounds import count_below_outer

    if zero:
        vectors[0][0] = 0.0
    full = vectors[0]
    for v in vectors[1:]:
        full = np.multiply.outer(full, v)  # the map as erf forms it
    floor = max(np.finfo(float).tiny, float(np.exp(log_floor)))
    assert count_below_outer(vectors, floor) == np.count_nonzero(full < floor)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kernel=st.lists(st.integers(-4, 4), min_size=2, max_size=4).filter(
        lambda k: any(k) and min(k) < 0
    ),
    depth=st.integers(1, 6),
    normalize=st.sampled_from(["sum", "peak"]),
    scale=st.sampled_from([1.0, 0.1, 1e-3]),
)
def test_signed_maps_normalised_within_their_bound(kernel, depth, normalize, scale):
    # signed kernels: the divisor (a sum that may nearly cancel, or the peak) is computed
    # too, and its error must be in the bound; a divisor that is zero is refused
    weights = ",".join(repr(w * scale) for w in kernel)
    spec = f"1d: conv{len(kernel)}/w[{weights}]*{depth}"
    exact = np.array(
        [Fraction(v) for v in et.erf(spec, exact=True).exact_values.ravel()], dtype=object
    )
    divisor = sum(exact) if normalize == "sum" else max(abs(v) for v in exact)  # sum 1
    if divisor == 0:
        with pytest.raises(et.ERFError, match="cannot be normalised"):
            et.erf(spec, normalize=normalize)
        return
    try:
        r = et.erf(spec, normalize=normalize)
    except et.ERFError as err:  # refused: only where the divisor is lost in the error
        assert "cancel" in str(err) and normalize == "sum"
        largest = max(abs(v) for v in exact)
        assert abs(divisor) <= Fraction(len(exact)) * largest * Fraction(1, 2**40)
        return
    for value, truth in zip(r.values.ravel(), exact):
        assert abs(Fraction(float(value)) - truth / divisor) <= Fraction(r.abs_error)
    # honest, not vacuous: cancellation (sum |v| over the divisor) scales it, nothing else
    spread = float(sum(abs(v) for v in exact) / abs(divisor))
    assert r.abs_error < 1e-12 * spread**2


def test_degenerate_maps_say_what_they_are():
    zero = et.erf("1d: conv3/w[0,0,0]")
    assert "undefined: every path cancels" in zero.text() and "10^-inf" not in zero.text()
    signed = et.erf("1d: conv3/w[1,-2,1]*2")
    assert "signed" in signed.text() and signed.to_dict(analysis=False)["signed"] is True
    assert et.erf("1d: conv3").to_dict(analysis=False)["signed"] is False


@pytest.mark.parametrize(
    "options, says",
    [
        (dict(unit=(1,)), "needs 2 integer indices"),
        (dict(max_bytes=-1), "positive size"),
        (dict(max_bytes="4GB"), "positive size"),  # (a TypeError from the comparison before)
        (dict(exact=True, method="fft"), "picks a float method"),
    ],
)
def test_bad_options_are_named(options, says):
    with pytest.raises(et.ERFError, match=says):
        et.erf("conv3", **options)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(-50, 50), min_size=2, max_size=8).filter(lambda v: sum(v) > 0),
    error=st.fractions(min_value=0, max_value=Fraction(1, 100)),
    signs=st.lists(st.sampled_from([-1, 1]), min_size=8, max_size=8),
)
def test_normalised_bound_covers_any_errors_within_it(values, error, signs):
    # entries off by up to A each (any signs), the sum then off by up to N A: every
    # normalised entry stays within the bound, whatever the errors (worst corners included)
    from erftheory.float_result import _normalised_error

    exact = [Fraction(v) for v in values]
    total = sum(exact)
    computed = [v + s * error for v, s in zip(exact, signs)]
    divisor = abs(sum(computed))
    peak = max(abs(v) for v in computed)
    try:
        bound = _normalised_error(
            np.array([float(v) for v in computed]), "sum", float(divisor), float(peak), float(error)
        )
    except et.ERFError:  # refused only where the sum is lost in its error
        assert divisor <= len(values) * error * 2 + Fraction(1, 10**6)
        return
    for v, c in zip(exact, computed):
        assert abs(c / divisor - v / total) <= Fraction(bound) * (1 + Fraction(1, 10**9))


_TINY_A = "conv3/w[1e-150,3e-150,1e-150]"
_TINY_B = "conv3/w[2e-150,1e-150,2e-150]"
_TINY_C = "conv5/w[1e-150,1e-150,1e-150,1e-150,1e-150]"


@pytest.mark.parametrize("normalize", ["sum", "peak"])
@pytest.mark.parametrize(
    "spec",
    [
        f"1d: add(conv3, {_TINY_A}*80 | conv3, {_TINY_B}*80)",
        f"1d: add({_TINY_A}*80, conv3 | conv3, {_TINY_C}*79, {_TINY_B})",
    ],
)
def test_path_groups_of_extreme_scale_keep_their_weights(spec, normalize):
    # each random-mode path group carries a power of two near 2^-40000; their sum weighs
    # each by 2^(e - top), which must be exact (an integer exponent) or every entry of a
    # group moves by ulp(40000)/2 ~ 4e-12 of it. Checked against exact rationals.
    r = et.erf(spec, weights="random", normalize=normalize, method="fft")
    exact = et.erf(spec, weights="random", normalize=normalize, exact=True)
    expected = np.array([float(v) for v in exact.values])
    err = float(np.abs(r.values - expected).max())
    assert err <= r.abs_error
    assert err <= 1e-13  # FFT rounding only: ~1e-15 measured, the exponents add nothing


@settings(max_examples=40, deadline=None)
@given(
    digits=st.integers(1, 12),
    mantissa=st.integers(1, 9),
    depth=st.integers(0, 120),
    method=st.sampled_from(["direct", "fft"]),
)
def test_a_sum_that_nearly_cancels_is_normalised_not_refused(digits, mantissa, depth, method):
    # [-1, 2 + m 10^-d, -1] sums to m 10^-d (as typed; its float only near it): the map's
    # sum is the product of its kernels' sums, known exactly, so dividing by it costs one
    # rounding however small it is. Against exact rationals of the weights as typed.
    eps = f"{mantissa}e-{digits}"
    spec = f"1d: conv3/w[-1,{2 + float(eps)!r},-1]" + f", conv3*{depth}" * (depth > 0)
    r = et.erf(spec, normalize="sum", method=method)
    exact = et.erf(spec, normalize="sum", exact=True).exact_values
    err = max(abs(Fraction(float(v)) - t) for v, t in zip(r.values, exact))
    assert err <= Fraction(r.abs_error)
    peak = max(abs(t) for t in exact)
    assert r.abs_error <= 1e-9 * float(peak)  # tight, not vacuous: cancellation costs ~1/eps


def test_a_sum_that_is_zero_as_typed_is_refused():
    # 0.1 + 0.2 - 0.3 is 0 as typed, 2^-55 in float64: the typed weights decide (as with
    # exact=True), so the sum is zero, not a tiny number to divide by
    spec = "1d: conv3/w[0.1,0.2,-0.3], conv3*4"
    with pytest.raises(et.ERFError, match="exactly zero"):
        et.erf(spec, normalize="sum")
    with pytest.raises(et.ERFError, match="cannot be normalised"):
        et.erf(spec, normalize="sum", exact=True)
    assert et.erf(spec, normalize="peak").values.max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "spec",
    [
        "1d: conv1/w[-3], conv3*4",  # every entry negative
        "1d: conv3/w[1,-2.0001,1]*3",  # signed, sum (-1e-4)^3
        "2d: conv3/w[[0,-1,0],[-1,3.9999999999,-1],[0,-1,0]]*3, dropout0.9*2",
    ],
)
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_a_negative_sum_normalises_to_sum_one(spec, method):
    # dividing by the (signed) sum, as exact=True does: the map sums to +1, not -1
    r = et.erf(spec, normalize="sum", method=method)
    exact = et.erf(spec, normalize="sum", exact=True).exact_values
    assert sum(Fraction(v) for v in exact.flat) == 1
    err = max(abs(Fraction(float(v)) - Fraction(t)) for v, t in zip(r.values.flat, exact.flat))
    assert err <= Fraction(r.abs_error)
    peak = max(abs(Fraction(t)) for t in exact.flat)
    assert r.abs_error <= 1e-6 * float(peak)


def test_a_sum_too_small_to_normalise_in_float64():
    # (1 + 4e-16 - 2 + 1)^56 ~ 10^-868 against a peak ~ 10^27: quotients near 10^895
    spec = "1d: conv3/w[1.0000000000000004,-2.0,1.0]*56"
    with pytest.raises(et.ERFError, match=r"would reach 10\^89[0-9]"):
        et.erf(spec, normalize="sum")
    r = et.erf(spec, normalize="sum", exact=True)  # exact: kept, floats shown at peak 1
    assert r.normalize == "peak" and np.abs(r.values).max() == 1.0
    assert sum(Fraction(v) for v in r.exact_values.flat) == 1


def _max_error(r, exact) -> Fraction:
    return max(abs(Fraction(float(v)) - Fraction(t)) for v, t in zip(r.values.flat, exact.flat))


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        # 1/(1 - p) of dropout's p as typed (0.9 is 9/10, its float a rounding away)
        ("1d: dropout0.9*10, conv3", {"weights": "random", "method": "direct"}),
        ("1d: add(dropout0.999999, conv3 | conv5, conv1/w[1000])", {"weights": "random"}),
        # 1e23 is an integer as typed, but not as a float64
        ("1d: conv2/w[1e23, 1]*3", {"method": "direct"}),
        # joins of fixed branches have an exact sum too (the branches' sums added)
        ("1d: res(conv3), conv3/w[-1,2.000000000000001,-1]", {"normalize": "sum"}),
        ("1d: add(conv3|conv1), conv3/w[-1,2.0000000000001,-1]", {"normalize": "sum"}),
        ("1d: add(conv3|conv1), conv3/w[-1,2.0000000000001,-1]", {"method": "fft"}),
    ],
)
def test_numbers_count_as_typed_within_the_bound(spec, options):
    exact_options = {k: v for k, v in options.items() if k != "method"}
    exact = et.erf(spec, exact=True, **exact_options).exact_values
    r = et.erf(spec, **options)
    assert _max_error(r, exact) <= Fraction(r.abs_error)
    if r.rel_error is not None:
        for v, t in zip(r.values.flat, exact.flat):
            assert abs(Fraction(float(v)) - Fraction(t)) <= Fraction(r.rel_error) * abs(Fraction(t))


def test_subnormal_weights_and_zero_kernels_say_what_they_are():
    with pytest.raises(et.ERFError, match="subnormal"):
        et.erf("1d: conv2/w[1e-322,3e-322]", normalize="peak")
    zero = et.erf("1d: conv3, conv2/w[0,0]", weights="random")
    assert not zero.values.any()
    with pytest.raises(et.ERFError, match="identically zero"):
        et.erf("1d: conv2/w[0,0]", weights="random", normalize="sum")


def test_adjoint_sum_is_one_and_bounds_its_divisor():
    # an upsampling network with a negative sum: to sum 1 like every other path
    r = et.erf("1d: conv3, up2, conv3/w[-1,-1,-1]", normalize="sum")
    assert r.values.sum() == pytest.approx(1.0, rel=1e-14) and r.values.min() >= 0
    # a sum that nearly cancels widens the bound by peak / sum, refused when lost in it
    near = et.erf("1d: conv3/w[1,-2.001,1], up2, conv3", normalize="sum")
    raw = et.erf("1d: conv3/w[1,-2.001,1], up2, conv3")
    assert near.abs_error > raw.abs_error * np.abs(raw.values).max() / abs(raw.values.sum()) ** 2


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        # a signed branch's absolute error enters the join's kernel (as roundings of its L1)
        (
            "1d: cat(conv3, relu | conv5*70, conv3/w[-0.5,1,-0.5]*5), conv2/w[-3,-2]/s2*3",
            {"method": "direct"},
        ),
        (
            "1d: add(conv1/w[-1]*3 | cat(conv1 | conv3/w[-1,2,-9.99999999999999e-01], "
            "conv1/w[-0.9]*10)*2, maxpool3/s1/p1), conv1*2, "
            "cat(dropout0.2, relu | conv3/w[1,-2,1.00001e+00]*5, conv3*64)",
            {"normalize": "sum", "method": "fft"},
        ),
    ],
)
def test_joined_signed_branches_carry_their_errors(spec, options):
    # found by fuzzing against exact=True: the join dropped a signed branch's error (the
    # measured error was 10^5 times the bound)
    exact_options = {k: v for k, v in options.items() if k != "method"}
    exact = et.erf(spec, exact=True, **exact_options).exact_values
    r = et.erf(spec, **options)
    assert _max_error(r, exact) <= Fraction(r.abs_error)


def test_a_lost_bound_is_refused_by_name():
    # signed branches that cancel over 64 layers, joined: the rounding errors may exceed the
    # values, so there is no float answer to stand behind
    spec = "1d: res(conv3/w[-1.7795,-0.3,0.24]*64, conv3/w[-2.771,1.27,-0.58]*70)*3, relu"
    with pytest.raises(et.ERFError, match="error bound of this ERF is lost"):
        et.erf(spec, weights="random", normalize="peak", method="fft")


def test_an_explicit_direct_method_that_would_take_minutes_is_refused():
    # random mode squares a 786k-entry fixed part; direct would convolve it quadratically
    spec = "1d: add(conv1/w[5]/d2, conv3/p1 | relu)*2, avgpool5/s2/p1*17, conv3/p1, relu*2"
    with pytest.raises(et.ERFError, match="method='direct' would take about"):
        et.erf(spec, weights="random", normalize="peak", method="direct")
    assert et.erf(spec, weights="random", normalize="peak").method == "fft"


def test_exact_random_mode_counts_its_squared_fixed_part():
    # avgpool2*11 is a fixed kernel of 2^11 entries; squared, it is composed with the random
    # conv as one kernel: 28 s of Fractions before the limit counted it
    with pytest.raises(et.ERFError, match="exact arithmetic would take about"):
        et.erf("1d: avgpool2*11, conv3", weights="random", exact=True)
    small = et.erf("1d: avgpool2*3, conv3", weights="random", exact=True)
    # by hand: the pools compose to a box of 8 at 1/8 (squared: 1/64); the conv sits at jump
    # 8, so its three unit-variance taps place three copies of the box side by side
    assert small.exact_values.tolist() == [Fraction(1, 64)] * 24


def test_exact_mode_counts_the_size_of_its_numbers():
    # weights count as typed: 1e-300 is 1/10^300, so 200 layers make 200,000-bit path sums
    # over 200,000-bit denominators (minutes of Python arithmetic for 240,000 operations)
    with pytest.raises(et.ERFError, match="up to 199,400 bits over 199,200-bit"):
        et.erf("1d: conv3/w[1e-300,1,0.123456789]*200", exact=True)
    few = et.erf("1d: conv3/w[1e-300,1,0.123456789]*3", exact=True).exact_values
    a, b, c = Fraction(1, 10**300), Fraction(1), Fraction(123456789, 10**9)
    assert few[0] == a**3 and few[3] == b**3 + 6 * a * b * c and few[6] == c**3


def test_a_sum_lost_in_its_error_bound_is_refused_with_the_ways_out():
    # random mode with a signed explicit kernel: E[g^2] is the square of a fixed part whose
    # signed paths cancel (absolute products of 3^94 ~ 1e45 for values below 1e33), so the bound of
    # its sum exceeds the sum; the refusal names peak normalisation and exact mode, and both work
    spec = "1d: conv3/w[1,1,-1]*94"
    with pytest.raises(et.ERFError, match=r"normalize='peak'.*exact=True"):
        et.erf(spec, weights="random", normalize="sum")
    exact = et.erf(spec, weights="random", normalize="peak", exact=True).exact_values
    r = et.erf(spec, weights="random", normalize="peak")
    errors = [abs(Fraction(got) - want) for got, want in zip(r.values.tolist(), exact.tolist())]
    assert max(errors) <= Fraction(r.abs_error)


@pytest.mark.parametrize(
    "returned, match",
    [
        (2.0, "array of that shape"),
        ([[1, 1, 1]], "array of that shape"),
        ("x", "array of"),
        ([[1, -1, 1]] * 3, "non-negative"),
        ([[1, float("nan"), 1]] * 3, "finite"),
    ],
)
def test_a_variance_function_returning_a_bad_kernel_is_refused(returned, match):
    with pytest.raises(et.ERFError, match=match):
        et.erf("conv3*2", weights="random", variance=lambda layer: returned)


def test_a_variance_function_gives_each_conv_its_kernel():
    # two layers, the variance kernel [1, 2, 1] on each axis: E[g^2] is its composition
    v = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0])
    got = et.erf("conv3*2", weights="random", variance=lambda layer: v).values
    line = np.convolve([1.0, 2.0, 1.0], [1.0, 2.0, 1.0])
    np.testing.assert_array_equal(got, np.outer(line, line))


@pytest.mark.parametrize(
    "arch",
    [
        "1d: conv3/w[0.1,0.7,0.2]*30",  # typed decimals: the exact total is of 1/10s
        "1d: avgpool3/s1*20, conv5*7",  # a pool's 1/3: inexact kernel, exact total 1
        "1d: conv3/w[1,2,3]*120",  # exact blocks, then the rest in binary
        "1d: res(conv3/p1*4), conv3/d2*9",  # a join: the total is the branches' added
        "2d: conv3*30",  # separable: the total divides the first axis's vector alone
        "2d: conv3/w[[1,2,1],[2,4,2],[1,2,1]]*9, avgpool3/s1*4",  # integer and pool axes
        "2d: conv3/w[[0.1,0.2,0.1],[0.2,0.4,0.2],[0.1,0.2,0.1]]*7",  # typed decimals
        "3d: conv3*4, conv5/d2",  # three axes, one vector shared by all
    ],
)
def test_maps_normalised_by_their_exact_total_stay_within_their_bound(arch):
    # a non-negative map normalised to sum 1 is divided by its exact total (correctly
    # rounded; a separable one on one axis): every entry against Python fractions, and the
    # map sums to 1 within its bound
    from oracle import assert_within_relative_bound

    r = et.erf(arch, normalize="sum")
    exact = et.erf(arch, normalize="sum", exact=True).exact_values
    assert sum(exact.flat) == 1
    assert r.rel_error is not None
    assert_within_relative_bound(r, exact)
    assert abs(math.fsum(r.values.flat) - 1) <= r.rel_error + r.values.size * 2.0**-53


def test_the_exact_refusal_names_the_limit_it_hit():
    # 900 all-ones layers: 1801 entries x 3 taps x 900 layers = 4.9e6 operations, under the
    # 5e6 limit on their count, but on numbers of ~1,430 bits (3^900): over the limit on
    # operations times words. 3000 layers: 5.4e7 operations, over the count's own limit. The
    # message once listed both limits and a '0-bit denominators' for plain integers
    with pytest.raises(et.ERFError, match="over the limit of 1e\\+08") as err:
        et.erf("1d: conv3*900", exact=True)
    assert "denominator" not in str(err.value) and "4.9e+06 operations" in str(err.value)
    with pytest.raises(et.ERFError, match="5.4e\\+07 operations, over the limit of 5e\\+06"):
        et.erf("1d: conv3*3000", exact=True)


@settings(max_examples=40, deadline=None)
@given(
    kernels=st.lists(
        st.lists(st.integers(-3, 3), min_size=1, max_size=3).filter(lambda k: sum(k) != 0),
        min_size=1,
        max_size=3,
    ),
    normalize=st.sampled_from([None, "sum", "peak"]),
)
def test_the_sign_of_the_raw_total_is_reported(kernels, normalize):
    # a chain's total is the product of its kernels' sums: its sign, which the summary used to
    # drop (-4 read as 10^0.602), is mass_sign in every mode, exact included
    arch = "1d: " + ", ".join(f"conv{len(k)}/w{k}".replace(" ", "") for k in kernels)
    sign = -1 if math.prod(sum(k) for k in kernels) < 0 else 1
    for r in (et.erf(arch, normalize=normalize), et.erf(arch, normalize=normalize, exact=True)):
        assert r.mass_sign == sign
        assert r.to_dict()["mass_sign"] == sign
        assert ("total mass        -10^" in str(r)) == (sign < 0)
