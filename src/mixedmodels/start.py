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
