"""A moment estimate of theta, as the optimiser's start for one-term models.

lme4 starts every template at the identity. For a model with one random-effects term,
the classical two-stage moment estimate is available from the cross-products alone
(no pass over the rows):

1. ``beta_ols`` from ``X'X`` and ``X'y``; ``r = y - X beta_ols``.
2. Per level i, the least-squares coefficients of r on the term's columns:
   ``b_i = (Z_i'Z_i)^{-1} Z_i'r`` (``Z_i'r = Z_i'y - Z_i'X beta_ols``).
3. The pooled within-level residual variance
   ``s^2 = (r'r - sum_i b_i' Z_i'r) / (n - p - l k)``.
4. ``Sigma = cov(b_i) / s^2 - mean_i (Z_i'Z_i)^{-1}``: the between-level covariance
   in units of the residual variance, which is ``Lambda Lambda'``.

theta is read from Sigma's Cholesky factor. Where Sigma has an eigenvalue below
``START_MIN_EIGENVALUE`` (a variance near 0, or an indefinite estimate) there is no
moment start: the optimum may then be on the boundary, which Newton iterations from
lme4's start reach exactly, while from a start near 0 they approach it only cubically
(Dyestuff2 ended at a template of 4e-8 instead of 0). On balanced designs the
estimate is close to the optimum: sleepstudy's slope model starts at (0.957, 0.016,
0.229) against the optimum (0.967, 0.015, 0.231), and its Newton iterations drop from
5 to 3. On unbalanced designs with few rows per level the equally weighted estimate is
noisy (mlmRev's Exam, ``(standLRT | school)``: the correlation's sign is wrong), so the
model uses it only where the exact Newton iterations follow (small models).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dposv, dsyevd

from mixedmodels.linalg.cholesky import CrossProducts
from mixedmodels.linalg.dense import small_cholesky, small_inverse

# Smallest eigenvalue of the estimate of Lambda Lambda' (in the units of theta_scale)
# for a moment start: a template of 0.1.
START_MIN_EIGENVALUE = 0.01
# Faces Z_i'Z_i with a squared Cholesky pivot below this fraction of its diagonal entry
# are taken as rank deficient (a level with fewer rows than coefficients).
RANK_TOL = 1e-8


def moment_theta(
    A: CrossProducts, n: int, rows: np.ndarray, cols: np.ndarray, unit: np.ndarray
) -> np.ndarray | None:
    """The moment estimate of theta of a one-term model, or None where there is none.

    Parameters
    ----------
    A : CrossProducts
        The cross-product blocks of a model with one random-effects term.
    n : int
        Number of observations.
    rows, cols : ndarray of int
        The template positions of theta's entries (lme4's order).
    unit : ndarray, (k,)
        The natural unit of each template row (``LinearMixedModel.theta_scale``):
        ``START_MIN_EIGENVALUE`` applies in these units.

    Returns
    -------
    ndarray or None
        theta; None for more than one term, fewer than three levels, no residual
        degrees of freedom, a level whose coefficients are not estimable on its own
        rows, a residual variance that is not positive, or an estimate near the
        boundary.
    """
    if len(A.diag) != 1:
        return None
    faces = A.diag[0]
    nlev, k, _ = faces.shape
    p = A.xx.shape[0] - 1
    dof = n - p - nlev * k
    if nlev < 3 or dof <= 0:
        return None
    xx = A.xx
    # numpy's and LAPACK's kernels without numpy.linalg's wrappers, which cost more
    # than these small problems
    with np.errstate(all="ignore"):
        try:
            factors = small_cholesky(np.ascontiguousarray(faces))
        except np.linalg.LinAlgError:
            return None
        pivots = np.diagonal(factors, axis1=1, axis2=2)
        if not np.all(pivots * pivots > RANK_TOL * np.diagonal(faces, axis1=1, axis2=2)):
            return None
        half = small_inverse(factors)  # (Z_i'Z_i)^{-1} = half' half
        inverse = np.matmul(half.transpose(0, 2, 1), half)
        beta = np.zeros(0)
        if p:
            _, beta, info = dposv(xx[:p, :p], xx[:p, p], lower=1)
            if info != 0:
                return None
        xz = A.xz[0]
        zr = (xz[p] - beta @ xz[:p]).reshape(nlev, k)
        b = np.matmul(inverse, zr[:, :, None])[:, :, 0]
        s2 = (xx[p, p] - beta @ xx[:p, p] - float(np.add.reduce(b * zr, axis=None))) / dof
        if not (math.isfinite(s2) and s2 > 0):
            return None
        dev = b - np.add.reduce(b, axis=0) / nlev
        sigma = (dev.T @ dev) / ((nlev - 1) * s2) - np.add.reduce(inverse, axis=0) / nlev
        sigma /= np.multiply.outer(unit, unit)  # in natural units
        if not np.all(np.isfinite(sigma)):
            return None
        eig, _, info = dsyevd(sigma, compute_v=0, lower=1)
        if info != 0 or eig[0] < START_MIN_EIGENVALUE:
            return None
        lam = small_cholesky(sigma)
    return (lam * unit[:, None])[rows, cols]


def scalar_moment_ratios(A: CrossProducts, n: int) -> np.ndarray | None:
    """Moment estimates of ``sigma_j^2 / sigma^2`` for a model of scalar terms only.

    Henderson's idea with within-level sums of squares, all from the cross-products.
    With ``r = y - X beta_ols`` and ``P_k`` the projection onto term k's columns
    (one per level), the within-level sum of squares ``Q_k = r'r - r'P_k r`` and the
    total ``T = r'r`` have the expectations (the fixed effects' projection counted in
    ``T`` only)::

        E Q_k = sigma^2 (n - p - l_k) + sum_{m != k} sigma_m^2 (tr Z_m'Z_m - S_km)
        E T   = sigma^2 (n - p)       + sum_m sigma_m^2 (tr Z_m'Z_m - tr((X'X)^-1 X'Z_m Z_m'X))

    with ``S_km = sum_l (Z_k'Z_k)_l^-1 sum_j (Z_k'Z_m)_lj^2``: as many equations as
    unknowns, crossed or nested. On InstEval's three terms they give theta (0.268,
    0.445, 0.063) against the optimum (0.276, 0.437, 0.067), on penicillin (1.52,
    3.48) against (1.54, 3.51), on pastes (3.47, 1.53) against (3.53, 1.56).

    Parameters
    ----------
    A : CrossProducts
        The cross-product blocks; every term must have one column.
    n : int
        Number of observations.

    Returns
    -------
    ndarray or None
        The ratios (some may be negative or 0), in the terms' order; None where a
        term has more than one column, the fixed effects or the system are singular,
        or the residual variance is not positive.
    """
    nterm = len(A.diag)
    if nterm == 0 or any(face.shape[1] != 1 for face in A.diag):
        return None
    p = A.xx.shape[0] - 1
    xx = A.xx
    counts = [face[:, 0, 0] for face in A.diag]
    if any(not np.all(c > 0) for c in counts) or n - p <= 0:
        return None
    with np.errstate(all="ignore"):
        xx_inv = np.zeros((0, 0))
        beta = np.zeros(0)
        if p:
            _, xx_inv, info = dposv(xx[:p, :p], np.eye(p), lower=1)
            if info != 0:
                return None
            beta = xx_inv @ xx[:p, p]
        rr = float(xx[p, p] - beta @ xx[:p, p])
        traces = np.array([float(np.add.reduce(c)) for c in counts])
        shared = np.diag(traces)  # S_km
        for (i, j), block in A.off.items():
            if isinstance(block, np.ndarray):
                sq = block * block
                shared[i, j] = float(np.add.reduce(np.add.reduce(sq, axis=1) / counts[i]))
                shared[j, i] = float(np.add.reduce(np.add.reduce(sq, axis=0) / counts[j]))
            else:
                sq = block.data[:, 0, 0] ** 2
                by_row = np.bincount(block.rows, sq, minlength=len(counts[i]))
                by_col = np.bincount(block.cols, sq, minlength=len(counts[j]))
                shared[i, j] = float(np.add.reduce(by_row / counts[i]))
                shared[j, i] = float(np.add.reduce(by_col / counts[j]))
        system = np.empty((nterm + 1, nterm + 1))
        rhs = np.empty(nterm + 1)
        for k in range(nterm):
            zr = A.xz[k][p] - beta @ A.xz[k][:p]
            rhs[k] = rr - float(np.add.reduce(zr * zr / counts[k]))
            system[k, 0] = n - p - len(counts[k])
            system[k, 1:] = traces - shared[k]
            xz = A.xz[k][:p]
            system[nterm, 1 + k] = traces[k] - float(np.add.reduce(xx_inv * (xz @ xz.T),
                                                                   axis=None))
        rhs[nterm] = rr
        system[nterm, 0] = n - p
        try:
            solution = np.linalg.solve(system, rhs)
        except np.linalg.LinAlgError:
            return None
    if not (np.all(np.isfinite(solution)) and solution[0] > 0):
        return None
    return solution[1:] / solution[0]
