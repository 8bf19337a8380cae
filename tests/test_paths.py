"""Path-length distributions of residual networks (Veit et al. 2016)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import erftheory as et
from erftheory.paths import path_lengths


@pytest.mark.parametrize("n", [1, 3, 8])
def test_identical_unit_gain_blocks_are_binomial(n):
    shares = path_lengths(f"conv3, res(conv3, relu, conv3)*{n}")
    assert shares == pytest.approx([math.comb(n, j) / 2**n for j in range(n + 1)])


def test_ones_gain_uses_path_counts():
    # body conv3, relu, conv3 in 2-D: 9 * 9 / 2 = 40.5 paths; shares ~ C(2, j) 40.5^j
    shares = path_lengths("res(conv3, relu, conv3)*2", gain="ones")
    weights = [1, 2 * 40.5, 40.5**2]
    assert shares == pytest.approx([w / sum(weights) for w in weights])
    # the shares add up to the ERF's total mass split: check against the ERF itself
    total = et.erf("res(conv3, relu, conv3)*2").values.sum()
    assert total == pytest.approx(sum(weights))


def test_nested_blocks_and_none():
    # outer identity (length 0), or the body: conv3 then an inner block (1 or 2 bodies)
    assert path_lengths("res(conv3, res(conv3))") == pytest.approx([0.5, 0.25, 0.25])
    assert path_lengths("conv3*4") is None
    assert et.erf("res(conv3)*3").to_dict()["path_lengths"] == pytest.approx(
        [1 / 8, 3 / 8, 3 / 8, 1 / 8]
    )
    with pytest.raises(et.ERFError, match="gain"):
        path_lengths("res(conv3)", gain="two")


def test_projection_shortcuts_count_as_residual_blocks():
    # ResNet's strided block: a 1x1/s2 projection beside the body; unit gains: C(3, j) / 8
    arch = "1d: conv3, add(conv1/s2 | conv3/s2, conv3), res(conv3)*2"
    assert path_lengths(arch) == pytest.approx([1 / 8, 3 / 8, 3 / 8, 1 / 8])
    # all-ones gains by hand: projection 1, body 3 * 3 = 9, residual bodies 3 each
    poly = np.polynomial.polynomial.polymul([1, 9], np.polynomial.polynomial.polypow([1, 3], 2))
    assert path_lengths(arch, gain="ones") == pytest.approx(poly / poly.sum())
    # and those masses are the ERF's: 3 (stem) * (1 + 9) * (1 + 3)^2 paths in all
    assert et.erf(arch).log10_mass == pytest.approx(np.log10(3 * 10 * 16))
    # Inception-like joins of more than two branches are not forks
    assert path_lengths("add(conv1 | conv3 | conv5)") is None


def test_a_signed_body_weighs_its_paths_by_the_magnitude_of_its_sum():
    # body conv3/w[1,-4,1]: its kernel sums to -2, so the paths through j of two
    # bodies carry C(2, j) 2^j of the mass (by magnitude): [1, 4, 4] / 9 (signed kernels once
    # made the moments route refuse)
    assert path_lengths("1d: res(conv3/w[1,-4,1])*2", gain="ones") == pytest.approx(
        [1 / 9, 4 / 9, 4 / 9], rel=1e-12
    )
