"""Least-squares fit of a Gaussian (amplitude, mean, full covariance) to an empirical ERF map.

:func:`erftheory.validate.validate` reports the fit (``Validation.gaussian_fit``) beside the
moments: where a measured ERF is Gaussian, as the central limit theorem predicts for a deep
network, the fit and the moments agree.
"""

from __future__ import annotations

import math

import numpy as np


def _fit_gaussian(p: np.ndarray, mean0, cov0) -> dict | None:
    """Least-squares fit of ``a exp(-(x - m)^T S^-1 (x - m) / 2)`` to ``p`` (full S).

    Levenberg-Marquardt over ``theta = (a, m, L[tril])``, ``S^-1 = L L^T``, from the map's
    moments, with the analytic Jacobian of :class:`_GaussianResidual`. The solver is
    MINPACK's ``lmder`` with the settings ``least_squares(method="lm")`` gives it (tolerances
    1e-8, 100 evaluations per parameter, steps scaled by the Jacobian's column norms), and
    the same iterates, called through ``leastsq``: it takes the Jacobian one parameter per
    row, as MINPACK stores it, where ``least_squares`` copies and transposes it at every
    step (at 2001^2, 190 MB each time; the fit is 1.7x faster this way).
    """
    from scipy.optimize import leastsq

    d = p.ndim
    target = p.reshape(-1)
    try:
        chol0 = np.linalg.cholesky(np.linalg.inv(cov0 + 1e-9 * np.eye(d)))
    except np.linalg.LinAlgError:
        chol0 = np.eye(d)
    residual = _GaussianResidual(p)
    theta0 = np.concatenate([[target.max()], mean0, chol0[residual.tri]])
    if target.size <= theta0.size:  # no more pixels than parameters: nothing to fit
        return None
    theta, _, info, _, _ = leastsq(
        residual,
        theta0,
        Dfun=residual.jacobian,
        col_deriv=True,
        full_output=True,
        ftol=1e-8,
        xtol=1e-8,
        gtol=1e-8,
        maxfev=100 * theta0.size,
    )
    lower = residual.lower(theta)
    try:
        cov = np.linalg.inv(lower @ lower.T)
    except np.linalg.LinAlgError:  # a degenerate fit (a flat map has no Gaussian shape)
        return None
    fvec = info["fvec"]  # the residual at theta
    spread = float(((target - target.mean()) ** 2).sum())
    r2 = 1 - float(fvec @ fvec) / spread if spread > 0 else None  # None: a flat map
    return {
        "mean": [float(v) for v in theta[1 : 1 + d]],
        "covariance": [[float(v) for v in row] for row in cov],
        "std": [float(math.sqrt(max(cov[a, a], 0.0))) for a in range(d)],
        "r2": r2,
    }


# Jacobian rows where exp(-|z|^2 / 2) is below this have squares that underflow: they add
# nothing to the solver's sums, and zeroed they spare its QR factorisation slow subnormal
# arithmetic (the conv3*1000 ERF, 2001^2: 63% of the rows, the fit 1.3x faster, the same
# result to the last bit). The residual keeps them.
_NEGLIGIBLE = math.sqrt(np.finfo(float).tiny)


class _GaussianResidual:
    """``a exp(-|L^T (x - m)|^2 / 2) - p(x)`` over the grid of ``p`` (flat), and its Jacobian.

    ``theta = (a, m, L[tril])``, ``L`` lower-triangular. With ``dev = x - m``,
    ``z = L^T dev`` and ``f = a exp(-|z|^2 / 2)`` the model, the derivatives are::

        df/da = exp(-|z|^2 / 2),    df/dm_j = f (L z)_j,    df/dL_ij = -f z_j dev_i  (i >= j)

    The solver asks for the Jacobian at the point whose residual it has just read, so the
    last point's ``dev``, ``z`` and ``exp(-|z|^2 / 2)`` are kept for it, and so is its
    Jacobian once built (``leastsq`` asks twice at the start) until the point changes. The
    work arrays are allocated once for the whole fit. Each residual is a new array; the
    Jacobian is the kept one, which the solver copies and does not write to (made
    read-only, it would be copied once more).

    Parameters
    ----------
    p : numpy.ndarray
        The map to fit, 1- to 3-d.
    """

    def __init__(self, p: np.ndarray) -> None:
        d = p.ndim
        self.target = p.reshape(-1)
        self.tri = np.tril_indices(d)
        self.grids = np.indices(p.shape, dtype=float).reshape(d, -1)
        self.dev, self.z = np.empty_like(self.grids), np.empty_like(self.grids)
        self.unit = np.empty(self.target.size)  # exp(-|z|^2 / 2)
        self.theta: np.ndarray | None = None  # the point dev, z, unit and jac belong to
        self.jac: np.ndarray | None = None

    def lower(self, theta: np.ndarray) -> np.ndarray:
        """The lower-triangular ``L`` of ``theta``."""
        d = self.grids.shape[0]
        lower = np.zeros((d, d))
        lower[self.tri] = theta[1 + d :]
        return lower

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """The residual at ``theta``, shape ``(p.size,)``."""
        self._evaluate(theta)
        residual = theta[0] * self.unit
        residual -= self.target
        return residual

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """The Jacobian at ``theta``, one row per parameter: shape ``(len(theta), p.size)``."""
        self._evaluate(theta)
        if self.jac is None:
            d = self.grids.shape[0]
            jac = np.empty((theta.size, self.target.size))
            np.multiply(self.unit, self.unit >= _NEGLIGIBLE, out=jac[0])
            minus_fz = self.z * (-theta[0] * jac[0])
            np.matmul(-self.lower(theta), minus_fz, out=jac[1 : 1 + d])
            for row, (i, j) in enumerate(zip(*self.tri), start=1 + d):
                np.multiply(self.dev[i], minus_fz[j], out=jac[row])
            self.jac = jac
        return self.jac

    def _evaluate(self, theta: np.ndarray) -> None:
        """``dev``, ``z`` and ``exp(-|z|^2 / 2)`` at ``theta``, unless they are there."""
        if self.theta is not None and np.array_equal(theta, self.theta):
            return
        self.jac = None  # before the next one is built: one Jacobian at a time
        mean = theta[1 : 1 + self.grids.shape[0]]
        np.subtract(self.grids, mean[:, None], out=self.dev)
        np.matmul(self.lower(theta).T, self.dev, out=self.z)
        quad = np.square(self.z[0], out=self.unit)
        for row in self.z[1:]:  # row by row, as numpy sums over the first axis
            quad += np.square(row)
        np.multiply(quad, -0.5, out=quad)
        np.exp(quad, out=quad)
        self.theta = np.array(theta, dtype=float)  # a copy: the caller may reuse its array
