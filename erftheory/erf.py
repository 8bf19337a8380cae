"""The effective receptive field of a network's centre output unit, on an unbounded input.

For a linear network ``d y / d x`` is the composition of the layers' kernels, each upsampled by
its dilation times the jump below it::

    g = (w_1 up 1) * (w_2 up d_2 J_1) * ... * (w_L up d_L J_(L-1))

Index 0 of the array on each axis is the first input pixel of the theoretical receptive field.
``weights="ones"`` gives ``E[d y / d x]`` (exact path counts for an all-ones network);
``weights="random"`` gives ``E[(d y / d x)^2]`` for iid zero-mean unit-variance conv weights.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from .budget import _check_budget
from .errors import ERFError
from .exact import _exact_result, _refuse_slow_exact
from .float_result import _float_result
from .fractional import _fractional_result
from .model_notes import _model_notes
from .parse import as_network
from .path_sum import _evaluate, _terms
from .receptive_field import ReceptiveField, receptive_field
from .result import ERFResult

__all__ = ["erf", "ERFResult", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 4 * 2**30
_WEIGHTS = ("ones", "random")
_NORMALIZE = (None, "sum", "peak")
_METHODS = ("auto", "direct", "fft")


# A pure function of an immutable network, memoised (as its path groups are,
# :func:`erftheory.path_sum._terms`): a notebook, a sweep or a check calls erf on the same few
# networks again and again.
@functools.lru_cache(maxsize=64)
def _receptive_field(net) -> ReceptiveField:
    return receptive_field(net)


def _check(name, value, valid):
    if value not in valid:
        raise ERFError(f"{name}={value!r} is not one of {', '.join(map(repr, valid))}")


def erf(
    arch,
    weights: str = "ones",
    normalize: str | None = None,
    exact: bool = False,
    method: str = "auto",
    max_bytes: float = DEFAULT_MAX_BYTES,
    input_shape=None,
    unit=None,
    variance=None,
) -> ERFResult:
    """The effective receptive field of the centre output unit.

    Parameters
    ----------
    arch : Network, dict, str or path
        The architecture (network, JSON dict or file, or compact string such as ``"conv3*10"``).
    weights : {"ones", "random"}
        ``"ones"``: ``E[d y / d x]`` with all conv weights 1 (unless explicit), exact path
        counts for an all-ones network. ``"random"``: ``E[(d y / d x)^2]`` for iid zero-mean
        unit-variance conv weights.
    normalize : {None, "sum", "peak"}
        Divide by the total or by the largest absolute value; needed for deep networks whose
        raw values overflow float64 (about 3^646 for 3-tap layers). The total is the product
        of the kernels' sums, exact even where signed entries nearly cancel; the map then
        sums to 1 (a negative total flips its signs); a total of exactly zero is refused, and
        one so small that the quotients leave float64 too (``exact=True`` keeps them).
    exact : bool
        Compute in Python integers / fractions (``exact_values``); for teaching sizes.
        Weights count as typed in every mode (``0.1`` is 1/10; float bounds include the
        rounding of 0.1 to float64).
    method : {"auto", "direct", "fft"}
        Float composition method (see :mod:`erftheory.compose`); the result records it.
    max_bytes : float
        Refuse, before allocating, an ERF whose working memory would exceed this.
    input_shape : sequence of int, optional
        The input resolution, needed (only) to size global and adaptive pooling.
    variance : array or callable, optional
        With ``weights="random"``: the per-offset variance of the conv weights whose kernel
        has this shape (a centre-light or border-heavy initialisation), instead of 1; or a
        function of a conv layer returning its variance kernel (None: unit variances).
    unit : sequence of int, or int for a 1-d network, optional
        The output unit (default 0; indices up to 2^40 in magnitude), where the ERF
        depends on it: upsampling and transposed convs (the unit's phase) and locally
        connected layers. On an unbounded input every other network gives every unit the
        same ERF.

    Returns
    -------
    ERFResult

    Raises
    ------
    ERFError
        Bad input, a raw result beyond float64, or a result beyond the memory budget.

    Examples
    --------
    >>> r = erf("1d: conv3*2")
    >>> r.values.tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    >>> round(float(r.std[0]) ** 2, 12)  # n (k^2 - 1) / 12 = 2 * 8 / 12
    1.333333333333
    >>> erf("conv3*3", exact=True).exact_values[3, 3]  # (7 paths per axis at the centre)^2
    49

    References
    ----------
    W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
    Convolutional Neural Networks", NeurIPS 2016.
    """
    _check("weights", weights, _WEIGHTS)
    _check("normalize", normalize, _NORMALIZE)
    _check("method", method, _METHODS)
    if exact and method != "auto":
        raise ERFError(f"exact=True computes exactly; method={method!r} picks a float method")
    _check_budget(max_bytes)
    net = as_network(arch)
    if unit is not None:
        unit = _unit(unit, net.dims)
    if input_shape is not None:
        from .resolution import at_resolution

        net = at_resolution(net, input_shape)
    rf = _receptive_field(net)
    size = math.prod(rf.size)
    _check_memory(rf.size, size, exact, max_bytes)
    if net.fractional:
        return _fractional_result(net, rf, weights, normalize, exact, unit)
    terms, variance = _path_groups(net, weights, exact, variance)
    if exact:
        _refuse_slow_exact(terms, size)
    evaluated = _evaluate(
        terms, net.dims, weights, exact, method, vectors=True, memo=variance is None
    )
    values = evaluated[0]
    shape = tuple(v.size for v in values) if isinstance(values, tuple) else values.shape
    if shape != rf.size:  # the two recurrences must agree: a bug if not
        raise AssertionError(f"ERF shape {shape} != receptive field {rf.size}")
    if exact:
        result = _exact_result(values, rf, weights, normalize, net)
        notes = _model_notes(net) if weights == "random" else ()
        if notes or variance is not None:
            result = dataclasses.replace(result, notes=notes, variance=variance)
        return result
    return _float_result(net, rf, terms, weights, normalize, variance, evaluated)


def _check_memory(rf_size: tuple[int, ...], size: int, exact: bool, max_bytes: float) -> None:
    """Refuse, before allocating, an ERF whose working memory would exceed ``max_bytes``."""
    needed = size * 8 * (12 if exact else 6)
    if needed > max_bytes:
        raise ERFError(
            f"the ERF is {' x '.join(map(str, rf_size))} = {size:,} values and needs about "
            f"{needed / 2**30:.3g} GiB of working memory, over the budget of "
            f"{max_bytes / 2**30:.3g} GiB; raise it with max_bytes= (--max-memory on the "
            "command line) or describe a shallower network"
        )


def _path_groups(net, weights: str, exact: bool, variance):
    """The network's path groups, and ``variance`` checked: ``(terms, variance)``.

    A network's own are memoised (:func:`erftheory.path_sum._terms`); those of a variance
    kernel are made for the call.
    """
    if variance is not None and weights != "random":
        raise ERFError("variance= applies to weights='random' (the weights' variances)")
    if variance is None:
        terms = _terms(net, weights, exact)
    else:
        from .linearize import linearize
        from .variances import _checked_variance

        variance = _checked_variance(variance, net)  # kept on the result (its analysis)
        terms = linearize(net, weights, exact, variance)
    return terms, variance


_MAX_UNIT = 2**40  # unit indices: far beyond any feature map, exact in every float step


def _unit(unit, dims: int) -> tuple[int, ...]:
    """An output unit's indices, checked: integers (a bare one for 1-D), one per axis."""
    if isinstance(unit, (int, np.integer)) and not isinstance(unit, bool):
        unit = (unit,)
    try:
        values = list(unit)
    except TypeError:
        values = None
    if values is None or len(values) != dims:
        raise ERFError(f"unit={unit!r} needs {dims} integer indices (dims={dims})")
    for u in values:
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)):
            raise ERFError(f"unit={unit!r}: indices are integers, got {u!r}")
        if abs(u) > _MAX_UNIT:
            raise ERFError(
                f"unit={unit!r}: indices up to 2^40 in magnitude (the ERF depends on the "
                "unit's phase only: an index that large says the same as a small one with "
                "its phase)"
            )
    return tuple(int(u) for u in values)
