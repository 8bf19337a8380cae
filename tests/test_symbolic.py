"""Closed forms against the composed ERF (exact) and the moments."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import erftheory as et
from erftheory.symbolic import closed_form


@pytest.mark.parametrize(
    "arch, n",
    [
        ("1d: conv3*7", 7),
        ("1d: conv4/d2*5", 5),
        ("conv3x5*4", 4),
        ("(conv3, relu)*3", 3),
        ("1d: (conv3/s2, conv2)*2", 2),
    ],
)
def test_generating_function_coefficients_are_the_erf(arch, n):
    cf = closed_form(arch)
    x = sympy.Symbol("x")
    exact = et.erf(arch, exact=True).exact_values
    # the product over axes of the per-axis generating functions is the N-d ERF
    axes = []
    for g in cf.generating_function:
        poly = sympy.Poly(sympy.expand(g.subs(cf.n, n) if cf.n is not None else g), x)
        axes.append(np.array([sympy.Rational(c) for c in poly.all_coeffs()[::-1]], dtype=object))
    full = axes[0]
    for a in axes[1:]:
        full = np.multiply.outer(full, a)
    assert full.shape == exact.shape
    assert all(sympy.Rational(a) == sympy.Rational(b) for a, b in zip(full.flat, exact.flat))


def test_moments_in_n_match_the_erf():
    cf = closed_form("conv5x3*6")
    r = et.erf("conv5x3*6")
    for axis in range(2):
        assert float(cf.mean[axis].subs(cf.n, 6)) == pytest.approx(r.mean[axis], rel=1e-12)
        assert float(sympy.sqrt(cf.variance[axis]).subs(cf.n, 6)) == pytest.approx(
            r.std[axis], rel=1e-12
        )
    # the uniform kernel's variance (k^2 - 1)/12 per layer, as a formula in n
    assert sympy.simplify(cf.variance[0] - 2 * cf.n) == 0


def test_gaussian_limit_approaches_the_erf():
    cf = closed_form("1d: conv3*60")
    values = et.erf("1d: conv3*60").values
    p = sympy.Symbol("p")
    limit = sympy.lambdify(p, cf.gaussian_limit[0].subs(cf.n, 60))
    peak = values[60]
    assert float(limit(60)) == pytest.approx(peak, rel=0.01)  # local CLT: O(1/n) here


def test_fixed_network_has_no_symbol_and_latex_prints():
    cf = closed_form("1d: conv3/s2, conv3")
    assert cf.n is None and "G(x)" in cf.latex()
    with pytest.raises(et.ERFError, match="separable"):
        closed_form("conv3/w[[1,0,0],[0,1,0],[0,0,1]]*2")


def test_2d_axis_factors_are_primitive_integer_polynomials():
    x, y = sympy.symbols("x y")
    cf = closed_form("conv3*5")
    n = cf.n
    for g in cf.generating_function:  # each axis alone is the path-count function
        assert sympy.simplify(g - (x**2 + x + 1) ** n) == 0
    # a separable integer kernel: the axis factors multiply back to its polynomial
    kernel = [[2, 4, 2], [1, 2, 1], [0, 0, 0]]
    g0, g1 = closed_form(f"conv3/w{kernel}*3".replace(" ", "")).generating_function
    product = sympy.expand((g0 * g1.subs(x, y)).subs(n, 1))
    expected = sum(w * x**i * y**j for i, row in enumerate(kernel) for j, w in enumerate(row))
    assert sympy.expand(product - expected) == 0


def test_zero_sum_kernels_are_named_and_strided_stacks_keep_their_layers():
    with pytest.raises(et.ERFError, match="sums to 0"):
        closed_form("1d: conv3/w[1,-2,1]*3")
    x = sympy.Symbol("x")
    (g,) = closed_form("1d: conv3/s2, conv3").generating_function
    # one factor per layer, as in THEORY 2: (1 + x + x^2)(1 + x^2 + x^4)
    assert sympy.expand(g - (1 + x + x**2) * (1 + x**2 + x**4)) == 0
    assert set(g.as_ordered_factors()) == {1 + x + x**2, 1 + x**2 + x**4}


def test_signed_kernels_are_refused():
    # the generating function's moments are a signed map's: w[-1,3,-1]*3 gave variance -2n
    # and an imaginary Gaussian limit, while erftheory reports the moments of |ERF|
    from erftheory.symbolic import closed_form

    with pytest.raises(et.ERFError, match="negative weights"):
        closed_form("1d: conv3/w[-1,3,-1]*3")


def test_the_symbol_n_comes_with_its_value_in_this_network(capsys):
    # erf '1d: conv3*3' --symbolic printed (x^2+x+1)^n and mu = n without saying n = 3
    from erftheory.cli import main

    assert closed_form("1d: conv3*3").count == 3
    assert closed_form("1d: conv3*3, conv5").count is None  # n concrete: no symbol to give
    assert main(["erf", "1d: conv3*3", "--symbolic"]) == 0
    assert "(n = 3 in this network)" in capsys.readouterr().out
