"""Moment estimates of theta, as the optimiser's start.

Two estimators: the two-stage one below, for small one-term models, and Henderson's
method generalised to vector-valued terms (:func:`relative_covariances`) for the
others.

The two-stage estimate of a one-term model.

lme4 starts every template at the identity. For a model with one random-effects term,
the classical two-stage moment estimate is available from the cross-products alone
(no pass over the rows):

1. ``beta_ols`` from ``X'X`` and ``X'y``; ``r = y - X beta_ols``.
2. Per level i, the least-squares coefficients of r on the term's columns:
   ``b_i = (Z_i'Z_i)^{-1} Z_i'r`` (``Z_i'r = Z_i'y - Z_i'X beta_ols``).
3. The within-level residual variance ``s^2``: the residual sum of squares of y on X
   and every level's Z_i together, over ``n - l k`` degrees of freedom (ML) or
   ``n - l k - rank`` (REML), where ``rank`` is that of X once the levels' Z_i are
   projected off (0 where X lies in their span, as for ``y ~ x + (x | g)``).
4. ``Sigma = cov(b_i) / s^2 - mean_i (Z_i'Z_i)^{-1}``: the between-level covariance
   in units of the residual variance, which is ``Lambda Lambda'``; ``cov`` divides by
   ``l - 1`` for REML and by ``l`` for ML.

theta is read from Sigma's Cholesky factor. On a balanced design (every level has the
same rows of X and Z) whose fixed effects leave the mean of the levels' coefficients
free (an intercept and X's within-level part, e.g. ``X_i = Z_i`` as in sleepstudy)
this is the optimum itself where it is inside the bounds: the likelihood factors into
the levels' coefficients ``b_i ~ N(mu, Sigma + sigma^2 (Z_0'Z_0)^{-1})`` and the
within-level residuals, each maximised by its moments (REML: the coefficients'
covariance on ``l - 1`` degrees of freedom, the residuals less X's within part's).
sleepstudy's slope model starts at its optimum and its Newton iterations stop at the
start. Where Sigma has an eigenvalue below ``START_MIN_EIGENVALUE`` (a variance near 0,
or an indefinite estimate) there is no moment start: the optimum may then be on the
boundary, which Newton iterations from lme4's start reach exactly, while from a start
near 0 they approach it only cubically (Dyestuff2 ended at a template of 4e-8 instead
of 0). On unbalanced designs with few rows per level the equally weighted estimate is
noisy (mlmRev's Exam, ``(standLRT | school)``: the correlation's sign is wrong), so the
model uses it only where the exact Newton iterations follow (small models).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg.lapack import dposv, dsyevd

from mixedmodels.linalg.cholesky import CrossProducts
from mixedmodels.linalg.dense import small_cholesky, small_inverse

# Smallest eigenvalue of the estimate of Lambda Lambda' (in the units of theta_scale)
# for a moment start: a template of 0.1.
START_MIN_EIGENVALUE = 0.01
# Squared norm, relative to the column's, of the part of an X column off the levels'
# Z_i below which it adds no rank to the within-level fit (the moment start's
# residual degrees of freedom).
WITHIN_RANK_TOL = 1e-10
# A sparse block of A with at least this fraction of its level pairs, and at most
# DENSE_PAIRS_MAX_SIZE entries when dense, enters the moment equations through dense
# products over every pair (kb07's fully crossed 56 x 32 levels of 4 x 4 blocks:
# relative_covariances 2.75 -> 2.26 ms) instead of one tiny product per nonzero pair.
DENSE_PAIRS = 0.25
DENSE_PAIRS_MAX_SIZE = 1 << 21
# Faces Z_i'Z_i with a squared Cholesky pivot below this fraction of its diagonal entry
# are taken as rank deficient (a level with fewer rows than coefficients).
RANK_TOL = 1e-8
# A residual variance estimate below this fraction of the residual mean square of the
# fixed effects alone is rounding noise (a response the terms reproduce exactly): no
# moment start.
RESIDUAL_MIN_REL = 1e-8
# Ridge, relative to the faces' mean diagonal, that makes a singular face's weighting
# factor (relative_covariances) invertible.
FACE_RIDGE = 1e-3
# Singular values of the moment equations below this fraction of the largest are
# treated as 0 (directions no level can show).
SYSTEM_RCOND = 1e-10


def moment_theta(
    A: CrossProducts, n: int, rows: np.ndarray, cols: np.ndarray, unit: np.ndarray,
    reml: bool = True,
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
    reml : bool
        The criterion: the levels' coefficients' covariance divides by ``l - 1``
        (REML) or ``l`` (ML).

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
    if nlev < 3 or n - nlev * k <= 0:
        return None
    xx = A.xx
    # numpy's and LAPACK's kernels without numpy.linalg's wrappers, which cost more
    # than these small problems
    with np.errstate(all="ignore"):
        try:
            factors = small_cholesky(np.ascontiguousarray(faces))
        except np.linalg.LinAlgError:
            return None
        pivots = factors.diagonal(0, 1, 2)
        if not (pivots * pivots > RANK_TOL * faces.diagonal(0, 1, 2)).all():
            return None
        half = small_inverse(factors)  # (Z_i'Z_i)^{-1} = half' half
        inverse = np.matmul(half.transpose(0, 2, 1), half)
        beta = np.zeros(0)
        if p:
            _, beta, info = dposv(xx[:p, :p], xx[:p, p], lower=1)
            if info != 0:
                return None
        xz = A.xz[0]  # [X y]'Z, (p + 1, l k)
        # per level (Z_i'Z_i)^{-1} Z_i'[X y], and [X y]' P [X y] (P: the projection on
        # the levels' Z_i), whose complement in [X y]'[X y] is the within-level part
        coef = np.matmul(inverse, xz.reshape(p + 1, nlev, k).transpose(1, 2, 0))
        within = xx - xz @ coef.reshape(nlev * k, p + 1)
        rss, rank = _residual_after(within, xx.diagonal()[:p])
        # ML's residual variance divides by the within-level contrasts, REML's by
        # those left once X's part off the Z_i is estimated too
        dof = n - nlev * k - (rank if reml else 0)
        if dof <= 0:
            return None
        s2 = rss / dof
        ols = (xx[p, p] - beta @ xx[:p, p]) / max(n - p, 1)  # r'r / (n - p)
        if not (math.isfinite(s2) and s2 > RESIDUAL_MIN_REL * ols):
            return None
        b = coef[:, :, p] - coef[:, :, :p] @ beta  # (Z_i'Z_i)^{-1} Z_i'r
        dev = b - np.add.reduce(b, axis=0) / nlev
        spread = (nlev - 1) if reml else nlev
        sigma = (dev.T @ dev) / (spread * s2) - np.add.reduce(inverse, axis=0) / nlev
        sigma /= np.multiply.outer(unit, unit)  # in natural units
        if not math.isfinite(np.add.reduce(sigma, axis=None)):  # any inf or NaN
            return None
        eig, _, info = dsyevd(sigma, compute_v=0, lower=1)
        if info != 0 or eig[0] < START_MIN_EIGENVALUE:
            return None
        lam = small_cholesky(sigma)
    return (lam * unit[:, None])[rows, cols]


def _residual_after(within: np.ndarray, norms2: np.ndarray) -> tuple[float, int]:
    """The residual sum of squares of y on X and the levels' Z_i, and the rank of X
    once the Z_i are projected off, from ``within = [X y]'(I - P)[X y]``.

    X's columns are swept out of ``within`` in order (Gaussian elimination of the
    symmetric matrix: the last diagonal is then y's residual sum of squares); a column
    whose part off the Z_i and the earlier columns is below ``WITHIN_RANK_TOL`` of its
    norm (squared; ``norms2``: X's squared column norms) is skipped and adds no rank
    (an intercept, or a predictor the term also holds).
    """
    w = within.copy()
    rank = 0
    for j, norm2 in enumerate(norms2.tolist()):
        pivot = float(w[j, j])
        if not pivot > WITHIN_RANK_TOL * norm2:
            continue
        rank += 1
        w -= np.multiply.outer(w[:, j], w[j] / pivot)
    return float(w[-1, -1]), rank


def relative_covariances(A: CrossProducts, n: int) -> list[np.ndarray] | None:
    """Moment estimates of every term's ``Sigma_j / sigma^2`` (``Lambda_j Lambda_j'``).

    Henderson's method generalised to vector-valued terms, from the cross-products
    alone. With ``M = I - X (X'X)^-1 X'``, ``r = M y`` and, per level l of term k,
    ``F_l`` the Cholesky factor of ``Z_kl'Z_kl``, the statistics
    ``U_k = sum_l F_l^-1 Z_kl'r r'Z_kl F_l^-T`` (one symmetric ``k_k x k_k`` matrix
    per term; for a scalar term the between-level sum of squares of its one-way
    ANOVA) and ``T = r'r`` have the expectations::

        E U_k = sum_l F_l^-1 Z_kl'M V M Z_kl F_l^-T,    E T = tr(M V)

    with ``V = sigma^2 I + sum_m Z_m (I x Sigma_m) Z_m'``: linear in sigma^2 and the
    Sigma_m, as many equations as unknowns, crossed or nested. ``Z_kl'M Z_mj`` is
    ``Z_kl'Z_mj`` (sparse) less a rank-p part, so every coefficient comes from the
    blocks of A at the cost of a few passes over them. Where a level's face is
    singular its weighting is regularised (:func:`_weighting_factor`); directions of
    a Sigma_k that no equation sees get the least-squares solution's 0.

    On balanced designs these are the ANOVA estimators, which are the REML estimates
    when those are inside the bounds: penicillin (1.540, 3.512), pastes (3.527,
    1.563) and Dyestuff (0.848) start at their optima. InstEval's three terms (ML,
    unbalanced): (0.267, 0.446, 0.063) against the optimum (0.276, 0.437, 0.067).

    Parameters
    ----------
    A : CrossProducts
        The cross-product blocks.
    n : int
        Number of observations.

    Returns
    -------
    list of ndarray or None
        ``Sigma_j / sigma^2`` per term (symmetric, possibly indefinite), in the terms'
        order and theta's units; None where the fixed effects are singular or the
        residual variance estimate is not positive (``RESIDUAL_MIN_REL``).
    """
    nterm = len(A.diag)
    p = A.xx.shape[0] - 1
    if nterm == 0 or n - p <= 0:
        return None
    sizes = [face.shape[1] for face in A.diag]
    nvech = [k * (k + 1) // 2 for k in sizes]
    offset = np.concatenate([[1], 1 + np.cumsum(nvech)]).astype(int)
    xx = A.xx
    with np.errstate(all="ignore"):
        beta = np.zeros(0)
        xx_inv = np.zeros((0, 0))
        if p:
            _, xx_inv, info = dposv(xx[:p, :p], np.eye(p), lower=1)
            if info != 0:
                return None
            beta = xx_inv @ xx[:p, p]
        try:
            chol = [_weighting_factor(face) for face in A.diag]
        except np.linalg.LinAlgError:
            return None
        finv = [small_inverse(f) for f in chol]
        # per term, per level: a_l = X'Z_kl (p, k) and v_l = F_l^-1 a_l' (X'X)^-1 (k, p)
        a = [A.xz[k][:p].reshape(p, A.diag[k].shape[0], sizes[k]).transpose(1, 0, 2)
             for k in range(nterm)]
        v = [np.matmul(finv[k], np.matmul(xx_inv, a[k]).transpose(0, 2, 1))
             for k in range(nterm)]
        # sum_l v_l (x) v_l and sum_j a_j (x) a_j: the rank-p parts of every pair
        vv = [_outer_sum(vk, vk) for vk in v]
        aa = [_outer_sum(ak, ak) for ak in a]
        system = np.zeros((offset[-1], offset[-1]))
        rhs = np.zeros(offset[-1])
        # unknowns: sigma^2, then vech(Sigma_k) per term; equations: T, then vech(U_k)
        rhs[0] = xx[p, p] - beta @ xx[:p, p]
        system[0, 0] = n - p
        for k in range(nterm):
            kk, nlev = sizes[k], A.diag[k].shape[0]
            zr = A.xz[k][p].reshape(nlev, kk) - np.tensordot(beta, a[k], axes=([0], [1]))
            u = np.matmul(finv[k], zr[:, :, None])[:, :, 0]
            rhs[_rows(k, offset)] = _vech(u.T @ u)
            # sigma^2: sum_l F_l^-1 Z_kl'M Z_kl F_l^-T = l_k I - sum_l v_l a_l F_l^-T
            fz = np.matmul(np.matmul(v[k], a[k]), finv[k].transpose(0, 2, 1))
            system[_rows(k, offset), 0] = _vech(nlev * np.eye(kk) - np.add.reduce(fz, axis=0))
            # T: tr(Sigma_k sum_l Z_kl'M Z_kl)
            d = np.add.reduce(A.diag[k] - np.matmul(a[k].transpose(0, 2, 1),
                                                   np.matmul(xx_inv, a[k])), axis=0)
            system[0, _rows(k, offset)] = _vech_coefficients(d[None, None])[0]
            # Z_kl'Z_kl = F_l F_l' is term k's own block with itself
            g = np.matmul(finv[k], A.diag[k])  # F_l^-1 Z_kl'Z_kl (F_l' where it is exact)
            h = np.matmul(v[k], a[k])  # F_l^-1 a_l'(X'X)^-1 a_l
            _add_pair(system, k, k, g, h, vv[k], aa[k], offset)
        for (i, j), block in A.off.items():
            ki, kj = sizes[i], sizes[j]
            li, lj = A.diag[i].shape[0], A.diag[j].shape[0]
            if isinstance(block, np.ndarray) or (
                    len(block.rows) >= DENSE_PAIRS * li * lj
                    and li * ki * lj * kj <= DENSE_PAIRS_MAX_SIZE):
                # every level pair (g is 0 where Z_il'Z_jm is: no contribution), by
                # BLAS products instead of one tiny product per pair
                dense = A.dense_off(i, j)
                g_ij, h_ij = _dense_pair_products(dense, finv[i], v[i], a[j])
                g_ji, h_ji = _dense_pair_products(np.ascontiguousarray(dense.T), finv[j],
                                                  v[j], a[i])
            else:
                g_ij = np.matmul(finv[i][block.rows], block.data)
                g_ji = np.matmul(finv[j][block.cols], block.data.transpose(0, 2, 1))
                h_ij = np.matmul(v[i][block.rows], a[j][block.cols])
                h_ji = np.matmul(v[j][block.cols], a[i][block.rows])
            _add_pair(system, i, j, g_ij, h_ij, vv[i], aa[j], offset)
            _add_pair(system, j, i, g_ji, h_ji, vv[j], aa[i], offset)
        for k in range(nterm):  # the rank-p part for pairs of terms that share no block
            for m in range(nterm):
                if m != k and (max(k, m), min(k, m)) not in A.off:
                    _add_pair(system, k, m, None, None, vv[k], aa[m], offset)
        # least squares: a direction of some Sigma_k that no level can show (a term's
        # column constant within every level of its factor) gets no weight
        try:
            solution = np.linalg.lstsq(system, rhs, rcond=SYSTEM_RCOND)[0]
        except np.linalg.LinAlgError:
            return None
    if not (np.all(np.isfinite(solution))
            and solution[0] > RESIDUAL_MIN_REL * rhs[0] / (n - p)):
        return None
    return [_unvech(solution[_rows(k, offset)], sizes[k]) / solution[0]
            for k in range(nterm)]


def _dense_pair_products(block: np.ndarray, finv: np.ndarray, v: np.ndarray,
                         a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``g_lj = F_l^-1 Z_kl'Z_mj`` and ``h_lj = v_l a_j`` for every level pair (l, j) of
    a dense block ``Z_k'Z_m`` (``(l_k k_k, l_m k_m)``), as ``(l_k l_m, k_k, k_m)``
    arrays in row-level-major order."""
    lk, kk, p = v.shape
    lm, km = a.shape[0], a.shape[2]
    g = np.matmul(finv, block.reshape(lk, kk, lm * km)).reshape(lk, kk, lm, km)
    h = (v.reshape(lk * kk, p) @ a.transpose(1, 0, 2).reshape(p, lm * km)).reshape(
        lk, kk, lm, km)
    return (g.transpose(0, 2, 1, 3).reshape(-1, kk, km),
            h.transpose(0, 2, 1, 3).reshape(-1, kk, km))


def _weighting_factor(faces: np.ndarray) -> np.ndarray:
    """Cholesky factors F_l of the faces ``Z_kl'Z_kl``; where a face is singular (a
    level on which the term's columns are collinear), of the face plus a ridge of
    ``FACE_RIDGE`` times the faces' mean diagonal. Any weighting gives unbiased moment
    equations; F_l^-1 is the efficient one where it exists."""
    faces = np.ascontiguousarray(faces)
    k = faces.shape[1]
    if k == 1:
        singular = ~(faces[:, 0, 0] > 0)
    else:
        try:
            factors = small_cholesky(faces)
            pivots = np.diagonal(factors, axis1=1, axis2=2)
            diag = np.diagonal(faces, axis1=1, axis2=2)
            if np.all(pivots * pivots > RANK_TOL * diag):
                return factors
        except np.linalg.LinAlgError:
            pass
        eig = np.linalg.eigvalsh(faces)
        singular = ~(eig[:, 0] > RANK_TOL * eig[:, -1])
    if np.any(singular):
        diag = np.diagonal(faces, axis1=1, axis2=2)
        ridge = FACE_RIDGE * max(float(np.mean(diag)), 1e-300)
        faces = faces.copy()
        faces[singular] += ridge * np.eye(k)
    return small_cholesky(faces)


def _rows(k: int, offset: np.ndarray) -> slice:
    return slice(int(offset[k]), int(offset[k + 1]))


@functools.cache
def _tril(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.tril_indices(k)``, cached (it costs more than the small models' algebra)."""
    r, c = np.tril_indices(k)
    r.flags.writeable = False
    c.flags.writeable = False
    return r, c


def _vech(m: np.ndarray) -> np.ndarray:
    """The lower triangle of a symmetric matrix, row by row."""
    r, c = _tril(m.shape[0])
    return m[r, c]


def _unvech(v: np.ndarray, k: int) -> np.ndarray:
    m = np.zeros((k, k))
    r, c = _tril(k)
    m[r, c] = v
    m[c, r] = v
    return m


def _vech_coefficients(t: np.ndarray) -> np.ndarray:
    """A linear map ``Sigma -> M``, ``M[a, b] = sum_cd t[a, b, c, d] Sigma[c, d]``, as
    the matrix from vech(Sigma) (symmetric) to vech(M)."""
    ka, kc = t.shape[0], t.shape[2]
    ra, ca = _tril(ka)
    rc, cc = _tril(kc)
    coef = t[ra, ca][:, rc, cc]
    off = rc != cc
    coef[:, off] += t[ra, ca][:, cc[off], rc[off]]
    return coef


def _outer_sum(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``t[a, b, c, d] = sum_n g[n, a, c] h[n, b, d]``, as one matrix product."""
    n, ka, kc = g.shape
    kb, kd = h.shape[1], h.shape[2]
    prod = g.reshape(n, ka * kc).T @ h.reshape(n, kb * kd)
    return prod.reshape(ka, kc, kb, kd).transpose(0, 2, 1, 3)


def _add_pair(system: np.ndarray, k: int, m: int, g: np.ndarray | None,
              h: np.ndarray | None, vv: np.ndarray, aa: np.ndarray,
              offset: np.ndarray) -> None:
    """Add ``sum_{l,j} W_lj Sigma_m W_lj'`` to the equations of ``U_k``, with
    ``W_lj = F_l^-1 Z_kl'M Z_mj = g_lj - h_lj`` on the blocks where ``Z_kl'Z_mj`` is
    not 0 (``g`` and ``h``, (nb, k_k, k_m)) and ``- v_l a_j`` on all pairs (through
    ``vv = sum_l v_l (x) v_l`` and ``aa = sum_j a_j (x) a_j``)."""
    ka, kc, p = vv.shape[0], aa.shape[2], vv.shape[2]
    t = (vv.reshape(ka * ka, p * p) @ aa.reshape(p * p, kc * kc)).reshape(ka, ka, kc, kc)
    if g is not None:
        gh = _outer_sum(g, g - h)
        t += gh - _outer_sum(h, g)
    system[_rows(k, offset), _rows(m, offset)] += _vech_coefficients(t)
