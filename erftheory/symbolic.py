"""Closed forms with sympy: generating functions, moments in n, and the Gaussian limit.

For ``weights="ones"`` a network whose kernels are separable has, per axis, the path-count
generating function ``G(x) = prod_l (sum_m w_l[m] x^(m s_l))^(n_l)`` with ``s_l`` the layer's
scale (dilation times jump): the coefficient of ``x^p`` is the ERF at position ``p``. When
the whole network is one entry of total stride 1 repeated ``n`` times (``"conv3*10"``,
``"(conv3, relu)*8"``), ``n`` is kept as a symbol, so the mean ``n mu``, the variance
``n sigma^2`` and the Gaussian
limit ``M^n / sqrt(2 pi n sigma^2) exp(-(p - n mu)^2 / (2 n sigma^2))`` read as formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import ERFError

__all__ = ["ClosedForm", "closed_form"]


@dataclass(frozen=True)
class ClosedForm:
    """Per-axis sympy expressions; ``n`` is the repeat count symbol (or None if fixed).

    ``count`` is the value ``n`` takes in the network the forms were derived from (None
    where ``n`` is None).
    """

    n: object
    generating_function: tuple
    mean: tuple
    variance: tuple
    gaussian_limit: tuple
    count: int | None = None

    def latex(self) -> str:
        """All expressions as LaTeX, one line each.

        An axis of zero variance (every kernel one tap wide on it) is a point mass, which
        has no Gaussian limit: its ``g(p)`` line says so and is exact (a Kronecker delta).
        """
        import sympy

        lines = []
        for axis in range(len(self.mean)):
            tag = f"axis {axis}: " if len(self.mean) > 1 else ""
            limit = self.gaussian_limit[axis]
            if limit.has(sympy.KroneckerDelta):
                last = (
                    f"{tag}g(p) = {sympy.latex(limit)} (zero variance: a point mass, "
                    "no Gaussian limit)"
                )
            else:
                last = f"{tag}g(p) \\approx {sympy.latex(limit)}"
            lines += [
                f"{tag}G(x) = {sympy.latex(self.generating_function[axis])}",
                f"{tag}\\mu = {sympy.latex(self.mean[axis])}",
                f"{tag}\\sigma^2 = {sympy.latex(self.variance[axis])}",
                last,
            ]
        return "\n".join(lines)


def _block(net):
    """The repeated entry and its count when the network is one entry repeated, else None."""
    from dataclasses import replace

    from .receptive_field import _walk

    if len(net.layers) == 1 and net.layers[0].repeat > 1:
        layer = replace(net.layers[0], repeat=1)
        # a strided block rescales the next copy (x -> x^J): not a power, keep n concrete
        if all(j == 1 for j in _walk((layer,), net.dims).jump):
            return layer, net.layers[0].repeat
    return None, None


def closed_form(arch, symbolic_n: bool = True, weights: str = "ones") -> ClosedForm:
    """Generating function, mean, variance and Gaussian limit of the ``weights="ones"`` ERF.

    On an axis where every kernel is one tap wide the variance is 0 and the ERF is a point
    mass ``M^n delta(p - mu)``: ``gaussian_limit`` holds that exact expression (a
    ``KroneckerDelta``) instead of a Gaussian, which does not exist there.

    Parameters
    ----------
    arch : Network, dict, str or path
        A network whose layers compose to one separable kernel per axis (no tanh/sigmoid).
    symbolic_n : bool
        Keep the repeat count of a network that is one repeated entry as the symbol ``n``.
    weights : {"ones"}
        The ERF the forms describe. Only ``"ones"`` has them: ``"random"`` squares the
        composition ``C`` of the fixed kernels after composing (THEORY.md section 4), which
        is no product of per-layer generating functions, so it is refused.

    Returns
    -------
    ClosedForm

    Raises
    ------
    ERFError
        For ``weights="random"`` (or an unknown mode), signed, zero-sum or non-separable
        kernels.

    Examples
    --------
    >>> cf = closed_form("1d: conv3*10")
    >>> str(cf.variance[0])
    '2*n/3'
    >>> str(cf.generating_function[0])
    '(x**2 + x + 1)**n'
    """
    if weights != "ones":
        if weights == "random":
            raise ERFError(
                "closed forms are for weights='ones'; weights='random' squares the fixed "
                "kernels' composition C after composing (THEORY.md section 4), so no closed "
                "form is offered: use erf(..., weights='random') and its moments"
            )
        raise ERFError(f"weights={weights!r} is not one of 'ones' (closed forms), 'random'")
    import sympy

    from .architecture import Network
    from .linearize import linearize
    from .parse import as_network
    from .rank_one import _rank_one

    net = as_network(arch)
    block, count = _block(net) if symbolic_n else (None, None)
    unit = Network((block,), net.dims) if block is not None else net
    (term,) = linearize(unit, "ones", exact=True)
    n = sympy.Symbol("n", positive=True, integer=True) if block is not None else sympy.Integer(1)
    x, p = sympy.symbols("x p")
    gens, means, variances, limits = [], [], [], []
    per_axis = []
    for f in term.fixed:
        if sum(f.kernel.flat) == 0:
            raise ERFError(
                f"the kernel {[str(w) for w in f.kernel.flat]} sums to 0: the ERF is then no "
                "distribution, and has no mean or variance to give in closed form"
            )
        if any(w < 0 for w in f.kernel.flat):
            raise ERFError(
                f"the kernel {[str(w) for w in f.kernel.flat]} has negative weights: the "
                "generating function's moments are then a signed map's, not those of |ERF| "
                "that erftheory reports (a negative 'variance' can come out); compute the ERF "
                "and take its moments instead"
            )
        if _rank_one(f.kernel.astype(float)) is None:
            raise ERFError(
                "the closed form needs separable kernels (an outer product per axis); "
                f"a {list(f.kernel.shape)} kernel is not"
            )
        per_axis.append(f)
    for axis in range(net.dims):
        g, coef = sympy.Integer(1), sympy.Rational(term.coef)
        for f in per_axis:
            vector = _primitive(_axis_vector(f.kernel, axis))
            poly = sum(sympy.Integer(w) * x ** (m * f.scale[axis]) for m, w in enumerate(vector))
            if axis == 0:  # the scalar the primitive per-axis vectors leave over
                poly *= sympy.Rational(_leftover(f.kernel))
            g *= poly**f.power
        if axis == 0:
            g *= coef
        gen = g**n if block is not None else g
        total = g.subs(x, 1)
        mu = sympy.simplify(sympy.diff(g, x).subs(x, 1) / total)
        second = sympy.simplify((sympy.diff(g, x, 2) + sympy.diff(g, x)).subs(x, 1) / total)
        var = sympy.simplify(second - mu**2)
        mean_n, var_n = sympy.simplify(n * mu), sympy.simplify(n * var)
        if var == 0:  # one tap on this axis in every kernel: a point mass, exactly
            limit = total**n * sympy.KroneckerDelta(p, mean_n)
        else:
            limit = (
                total**n
                / sympy.sqrt(2 * sympy.pi * var_n)
                * sympy.exp(-((p - mean_n) ** 2) / (2 * var_n))
            )
        gens.append(gen)
        means.append(mean_n)
        variances.append(var_n)
        limits.append(limit)
    return ClosedForm(
        n if block is not None else None,
        tuple(gens),
        tuple(means),
        tuple(variances),
        tuple(limits),
        count if block is not None else None,
    )


def _primitive(values) -> list[int]:
    """The integer vector proportional to ``values`` with coprime entries, first one > 0."""
    fractions = [Fraction(v) for v in values]
    scale = math.lcm(*(f.denominator for f in fractions))
    ints = [int(f * scale) for f in fractions]
    divisor = math.gcd(*ints) or 1
    ints = [i // divisor for i in ints]
    first = next((i for i in ints if i), 1)
    return [-i for i in ints] if first < 0 else ints


def _leftover(kernel) -> Fraction:
    """``c`` with ``kernel = c * outer(primitive per-axis vectors)`` (exact)."""
    index = next(i for i, v in np.ndenumerate(kernel) if v != 0)
    product = Fraction(1)
    for axis in range(kernel.ndim):
        product *= _primitive(_axis_vector(kernel, axis))[index[axis]]
    return Fraction(kernel[index]) / product


def _axis_vector(kernel, axis: int) -> list:
    """Exact per-axis factor of a separable kernel: marginals, all but axis 0 summing to 1.

    For ``K = u_0 (x) u_1 (x) ...`` the marginal along ``a`` is ``u_a`` times the other
    factors' sums, so ``marginal_0 * prod_(a >= 1) marginal_a / total = K``.
    """
    others = tuple(b for b in range(kernel.ndim) if b != axis)
    marginal = kernel.sum(axis=others) if others else kernel
    if axis == 0:
        return list(marginal)
    total = sum(marginal)
    return [v / total for v in marginal]
