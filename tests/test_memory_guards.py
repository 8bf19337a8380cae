"""Memory budgets of the finite-image ERF, the border maps and the Monte-Carlo cross-check.

Each refuses, before allocating, a run whose estimated working memory exceeds ``max_bytes``;
the estimate is checked against the peak that tracemalloc measures on runs it lets through.
"""

from __future__ import annotations

import math
import time
import tracemalloc

import pytest

from erftheory import ERFError, check, monte_carlo
from erftheory.budget import _bytes_text
from erftheory.finite import border_maps, finite_erf
from erftheory.finite_pass import _prepare, _working_bytes
from erftheory.forward import _monte_carlo_bytes
from erftheory.montecarlo import _input_geometry
from erftheory.parse import as_network
from erftheory.rewrites import _unpadded

REPORTED = [  # the review's cases: 21-23 GiB, 4.2 GB, 32.7 TiB and 7.2 GB
    (finite_erf, ("3d: conv3", (400, 400, 400)), {}),
    (border_maps, ("conv3", (4000, 4000)), {}),
    (check, ("conv3*3",), dict(samples=50, channels=100000)),
    (check, ("conv3*3",), dict(samples=50, channels=1000)),
]


def _finite_estimate(arch, shape, backward: bool) -> int:
    net, shape, _ = _prepare(arch, shape, None, math.inf, backward)
    return _working_bytes(net, shape, backward)


def _monte_carlo_estimate(arch, channels: int, batch: int) -> int:
    run = _unpadded(as_network(arch))
    return _monte_carlo_bytes(run, _input_geometry(run)[3], channels, batch, True)


def _traced_peak(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("function", "args", "kwargs"), REPORTED)
def test_the_reported_cases_are_refused_at_once_without_allocating(function, args, kwargs):
    if function is border_maps:  # 2.4 GiB with one pass alive at a time: under 4 GiB
        kwargs = dict(max_bytes=2**30)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ERFError, match="working memory.*over the budget"):
            function(*args, **kwargs)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 16 * 2**20


def test_the_message_names_the_estimate_the_budget_and_the_ways_out():
    needed = _finite_estimate("3d: conv3", (400, 400, 400), backward=True)
    with pytest.raises(ERFError) as finite:
        finite_erf("3d: conv3", (400, 400, 400))
    message = str(finite.value)
    assert _bytes_text(needed) in message and "budget of 4 GiB" in message
    assert "smaller input" in message and "max_bytes=" in message
    needed = _monte_carlo_estimate("conv3*3", 100000, 50)
    assert needed > 30 * 2**40  # the weights alone: 50 x 100000^2 x 9 values, three times
    with pytest.raises(ERFError) as mc:
        check("conv3*3", samples=50, channels=100000, max_bytes=2**30)
    message = str(mc.value)
    assert _bytes_text(needed) in message and "budget of 1 GiB" in message
    assert "fewer channels" in message and "smaller batch" in message


@pytest.mark.parametrize(
    ("function", "arch", "shape"),
    [
        (finite_erf, "conv3/p1*3, relu, maxpool2/s2, conv3", (400, 400)),
        (finite_erf, "3d: conv3/p1, res(conv3/p1)", (40, 40, 40)),
        (border_maps, "conv5/p2*3", (500, 500)),
    ],
)
def test_the_finite_budget_boundary_is_honest(function, arch, shape):
    needed = _finite_estimate(arch, shape, backward=function is finite_erf)
    peak = _traced_peak(lambda: function(arch, shape, max_bytes=needed))  # exactly the budget
    assert peak <= needed <= 3 * peak
    with pytest.raises(ERFError, match="over the budget"):
        function(arch, shape, max_bytes=needed - 1)


def test_the_monte_carlo_budget_boundary_is_honest():
    arch, channels, batch = "conv3/p1, relu, conv3*2", 48, 32
    needed = _monte_carlo_estimate(arch, channels, batch)
    peak = _traced_peak(
        lambda: monte_carlo(arch, samples=batch, channels=channels, max_bytes=needed)
    )
    assert peak <= needed <= 3 * peak
    for run in (monte_carlo, check):
        with pytest.raises(ERFError, match="over the budget"):
            run(arch, samples=batch, channels=channels, max_bytes=needed - 1)
    # the samples run in passes of `batch`: more samples need no more memory, a bigger batch does
    monte_carlo(arch, samples=3 * batch, channels=channels, batch=batch, max_bytes=needed)
    with pytest.raises(ERFError, match=f"batch={2 * batch}"):
        monte_carlo(arch, samples=3 * batch, channels=channels, batch=2 * batch, max_bytes=needed)


@pytest.mark.parametrize("bad", [0, -1, math.nan, "4G", True, None])
def test_a_budget_that_is_not_a_positive_size_is_refused(bad):
    for call in (
        lambda: finite_erf("1d: conv3/p1", (5,), max_bytes=bad),
        lambda: border_maps("1d: conv3/p1", (5,), max_bytes=bad),
        lambda: check("1d: conv3*3", samples=10, max_bytes=bad),
    ):
        with pytest.raises(ERFError, match="positive size"):
            call()
