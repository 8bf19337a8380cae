"""How the ERF mass of a residual network splits over path lengths (Veit et al. 2016).

Veit, Wilber and Belongie, "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks" (NeurIPS 2016): unrolled, ``n`` residual blocks give ``2^n`` paths, one for every
choice of identity or body in each block; their lengths follow a binomial distribution and
most of the gradient flows through short ones. Here a path's length is the number of residual
bodies it passes through (a block with a projection shortcut, a two-branch addition whose
shorter branch is a single conv or pool, counts like a residual block), and its weight is its
share of the ERF's total mass (all-ones weights, ReLU gates at 1/2, as :func:`erftheory.erf`
with ``weights="ones"``): with ``m_b`` the mass of block ``b``'s body, the generating
polynomial is ``prod_b (1 + m_b t)`` and the share of length ``j`` is its coefficient of
``t^j`` over its value at ``t = 1``.

The split depends on the bodies' gains. ``gain="unit"`` (the default) takes every body to
preserve the gradient's scale, as variance-preserving initialisations (He et al. 2015) with
normalisation do: ``m_b = 1``, and ``n`` identical blocks give the binomial ``C(n, j) / 2^n`` of
Veit et al. ``gain="ones"`` uses the all-ones path counts (with ReLU gates at 1/2), where a
body's mass is its number of paths, so long paths dominate.
"""

from __future__ import annotations

import numpy as np

from .architecture import Network
from .blocks import Block, Branches, Residual

__all__ = ["path_lengths"]


def _polynomial(layers, dims: int, gain: str) -> np.ndarray:
    """Mass by number of residual bodies traversed, as polynomial coefficients in t."""
    poly = np.ones(1)
    for layer in layers:
        for _ in range(layer.repeat):
            fork = _fork(layer)
            if fork is not None:
                shortcut, body_layers = fork
                body = _polynomial(body_layers, dims, gain)
                mass = _mass(body_layers, dims, gain)
                body = body / body.sum() * mass  # the body's own mass, split by inner lengths
                # shortcut: length 0 (identity, or a projection conv's own mass)
                step = np.concatenate([[_mass(shortcut, dims, gain)], body])
                poly = np.convolve(poly, step)
            elif isinstance(layer, Block) and not isinstance(layer, Branches):
                poly = np.convolve(poly, _polynomial(layer.layers, dims, gain))
    return poly


def _fork(layer):
    """``(shortcut, body)`` of a residual-like block, or None.

    Residual blocks, and two-branch additions whose shorter branch is one conv or pool (the
    strided projection shortcut of ResNets).
    """
    from .blocks import _depth

    if isinstance(layer, Residual):
        return (), layer.layers
    if isinstance(layer, Branches) and layer.join == "add" and len(layer.branches) == 2:
        short, long = sorted(layer.branches, key=_depth)
        if _depth(short) <= 1 < _depth(long):
            return short, long
    return None


def _mass(layers, dims: int, gain: str) -> float:
    if gain == "unit" or not layers:
        return 1.0
    from .exact import _exact_total
    from .moments import predicted_moments

    net = Network(tuple(layers), dims)
    total = _exact_total(net, "ones")  # the product of the kernels' sums, exact (signed too)
    if total is not None:
        return abs(float(total))
    return 10 ** predicted_moments(net).log10_mass


def path_lengths(arch, gain: str = "unit") -> list[float] | None:
    """Share of the ERF mass carried by paths through 0, 1, 2, ... residual bodies.

    Parameters
    ----------
    arch : Network, dict, str or path
    gain : {"unit", "ones"}
        Each body's mass: 1 (variance-preserving) or its all-ones path count.

    Returns
    -------
    list of float or None
        None for a network without residual blocks.

    Examples
    --------
    >>> path_lengths("res(conv3)*2")  # binomial C(2, j) / 4
    [0.25, 0.5, 0.25]
    >>> [round(p, 4) for p in path_lengths("1d: res(conv3)*2", gain="ones")]  # (1 + 3t)^2 / 16
    [0.0625, 0.375, 0.5625]
    """
    from .errors import ERFError
    from .parse import as_network

    if gain not in ("unit", "ones"):
        raise ERFError(f"gain={gain!r} is not 'unit' or 'ones'")
    net = as_network(arch)
    poly = _polynomial(net.layers, net.dims, gain)
    if poly.size == 1:
        return None
    return [float(v) for v in poly / poly.sum()]
