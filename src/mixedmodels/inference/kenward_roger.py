"""Kenward and Roger's adjusted covariance and denominator df, as pbkrtest computes them.

The marginal covariance of y is ``Sigma = sum_i gamma_i G_i``: one parameter gamma_i per
entry of the lower triangle of each random term's covariance matrix (with ``G_i = Z_j
(I kron (E_rc + E_cr)) Z_j'``, or ``E_rr`` on the diagonal), and the residual variance
(``G = I``). With ``Phi = (X' Sigma^{-1} X)^{-1}``,

* ``P_i = -X' S G_i S X``, ``Q_ij = X' S G_i S G_j S X`` (``S = Sigma^{-1}``);
* the expected information of gamma (REML), ``I_ij = tr(S G_i S G_j) - 2 tr(Phi Q_ij)
  + tr(Phi P_i Phi P_j)``, and ``W = 2 I^{-1}``;
* the adjusted covariance ``Phi_A = Phi + 2 Phi (sum_ij W_ij (Q_ij - P_i Phi P_j)) Phi``
  (Kenward & Roger 1997, eq. 2, the second derivatives of Sigma being zero);
* for a hypothesis ``L beta = 0`` with q = rank(L), the F scaling and denominator df
  from ``A1``, ``A2`` (Kenward & Roger 1997, section 4).

Nothing of size n x n is formed: with ``Sigma = sigma^2 (I + Z Lambda Lambda' Z')`` every
quantity is written through Woodbury's identity in terms of the cross-products Z'Z, Z'X
and X'X. The cost is that of dense q x q matrices (q random effects): models with more
than :data:`MAX_RANDOM_EFFECTS` random effects are refused.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy import linalg, stats

from mixedmodels.errors import MixedModelsError

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit
    from mixedmodels.inference.contest import FTest

__all__ = ["MAX_RANDOM_EFFECTS", "KRAdjustment", "kenward_roger_df", "kr_adjustment",
           "vcov_adjusted"]

# Largest number of random effects (columns of Z) accepted: the work is dense q x q.
MAX_RANDOM_EFFECTS = 4000
# pbkrtest inverts the information with a generalised inverse below this eigenvalue.
INFORMATION_TOL = 1e-10

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class KRAdjustment:
    """The pieces of Kenward and Roger's method for one REML fit.

    Attributes
    ----------
    vcov : ndarray, (p, p)
        ``Phi``, the unadjusted covariance of beta.
    vcov_adjusted : ndarray, (p, p)
        ``Phi_A``, pbkrtest's ``vcovAdj``.
    P : ndarray, (g, p, p)
        ``P_i`` per covariance parameter (the residual variance last).
    W : ndarray, (g, g)
        Asymptotic covariance of the covariance parameters, ``2 I^{-1}``.
    """

    vcov: np.ndarray
    vcov_adjusted: np.ndarray
    P: np.ndarray
    W: np.ndarray

    def _a1_a2(self, L: np.ndarray) -> tuple[float, float]:
        Phi = self.vcov
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        U = np.einsum("ab,bc,icd,de->iae", Theta, Phi, self.P, Phi)  # Theta Phi P_i Phi
        traces = np.einsum("iaa->i", U)
        cross = np.einsum("iab,jba->ij", U, U)
        A1 = float(traces @ self.W @ traces)
        A2 = float(np.sum(self.W * cross))
        return A1, A2

    def _moments(self, L: np.ndarray, q: int) -> tuple[float, float]:
        """Denominator df and F scaling for a hypothesis of rank q."""
        A1, A2 = self._a1_a2(L)
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
        denom = 3.0 * q + 2.0 * (1.0 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2.0 - g) / denom
        V0 = 1.0 + c1 * B
        V1 = 1.0 - c2 * B
        V2 = 1.0 - c3 * B
        if abs(V0) < 1e-10:
            V0 = 0.0
        ratio = 1.0 if abs(1.0 - A2 / q) < 1e-14 and abs(V1) < 1e-14 else (1.0 - A2 / q) / V1
        rho = (1.0 / q) * ratio**2 * V0 / V2
        df2 = 4.0 + (q + 2.0) / (q * rho - 1.0)
        scaling = 1.0 if abs(df2 - 2.0) < 0.01 else df2 * (1.0 - A2 / q) / (df2 - 2.0)
        return df2, scaling

    def ddf(self, L: np.ndarray) -> float:
        """Kenward-Roger df of ``L beta`` with q = number of rows (pbkrtest's ``Lb_ddf``)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        return self._moments(L, L.shape[0])[0]

    def f_test(self, L: np.ndarray, beta: np.ndarray, sigma: float) -> FTest:
        """The F test of ``L beta = 0`` (pbkrtest's ``KRmodcomp`` as lmerTest reports it)."""
        from mixedmodels.inference.contest import FTest

        L = np.atleast_2d(np.asarray(L, dtype=float))
        q = int(np.linalg.matrix_rank(L))
        if q == 0:
            raise MixedModelsError("the contrast matrix has rank 0")
        df2, scaling = self._moments(L, q)
        Lb = L @ beta
        wald = float(Lb @ np.linalg.solve(L @ self.vcov_adjusted @ L.T, Lb))
        f_unscaled = wald / q
        mean_sq = f_unscaled * sigma**2
        f_value = f_unscaled * scaling
        p = float(stats.f.sf(f_value, q, df2))
        return FTest(mean_sq * q, mean_sq, q, float(df2), float(f_value), p)


def kr_adjustment(fit: LmerFit) -> KRAdjustment:
    """Kenward and Roger's adjustment of a REML fit (cached per fit).

    Raises
    ------
    MixedModelsError
        For ML fits (as pbkrtest), weighted fits, and models with more than
        :data:`MAX_RANDOM_EFFECTS` random effects.
    """
    cached = _CACHE.get(fit)
    if cached is None:
        cached = _compute(fit)
        _CACHE[fit] = cached
    return cached


def vcov_adjusted(fit: LmerFit) -> np.ndarray:
    """pbkrtest's ``vcovAdj``: the Kenward-Roger adjusted covariance of beta, (p, p)."""
    return kr_adjustment(fit).vcov_adjusted


def kenward_roger_df(fit: LmerFit, L: np.ndarray) -> float:
    """pbkrtest's ``get_Lb_ddf``: Kenward-Roger df of the contrasts ``L beta`` (rows of L)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[1] != len(fit.beta):
        raise MixedModelsError(
            f"a contrast needs {len(fit.beta)} columns (one per fixed effect), not {L.shape[1]}"
        )
    return kr_adjustment(fit).ddf(L)


def _random_design(fit: LmerFit) -> tuple[sp.csr_matrix, list[tuple[int, int, int]]]:
    """Z (n x q, lme4's column order) and (offset, levels, k) per term."""
    model = fit.model
    n = model.n
    blocks, layout = [], []
    offset = 0
    for term in model.reterms:
        k = term.z.shape[1]
        nlev = len(term.levels)
        rows = np.repeat(np.arange(n), k)
        cols = (term.codes[:, None] * k + np.arange(k)[None, :]).ravel()
        blocks.append(sp.csr_matrix((term.z.ravel(), (rows, cols)), shape=(n, nlev * k)))
        layout.append((offset, nlev, k))
        offset += nlev * k
    return sp.hstack(blocks, format="csr"), layout


def _parameter_patterns(layout: list[tuple[int, int, int]], q: int) -> list[sp.csr_matrix]:
    """D_i with G_i = Z D_i Z', one per lower-triangle entry of each term's covariance."""
    out = []
    for offset, nlev, k in layout:
        base = offset + np.arange(nlev) * k
        cols_, rows_ = np.triu_indices(k)  # column-major lower triangle: (row, col)
        for r, c in zip(rows_, cols_, strict=True):
            if r == c:
                i, j = base + r, base + r
            else:
                i = np.concatenate([base + r, base + c])
                j = np.concatenate([base + c, base + r])
            out.append(sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(q, q)))
    return out


def _compute(fit: LmerFit) -> KRAdjustment:
    if not fit.reml:
        raise MixedModelsError(
            "Kenward-Roger's method is only available for REML fits; refit with reml=True"
        )
    model = fit.model
    if model.sqrt_weights is not None:
        raise MixedModelsError(
            "Kenward-Roger's method is not available for fits with prior weights "
            "(pbkrtest ignores them); use ddf='satterthwaite'"
        )
    Z, layout = _random_design(fit)
    q = Z.shape[1]
    if q > MAX_RANDOM_EFFECTS:
        raise MixedModelsError(
            f"Kenward-Roger's method works with dense {q} x {q} matrices here; models with "
            f"more than {MAX_RANDOM_EFFECTS} random effects are refused: use "
            "ddf='satterthwaite'"
        )
    X = model.design.X
    n = model.n
    s2 = fit.sigma**2
    lambdas = model.lambdas(fit.theta)
    Lam = sp.block_diag(
        [sp.kron(sp.identity(nlev), lam) for (_, nlev, _), lam in zip(layout, lambdas,
                                                                        strict=True)],
        format="csr",
    )
    ZZ = (Z.T @ Z).toarray()
    ZX = np.asarray(Z.T @ X)
    XX = X.T @ X
    # Sigma^{-1} = (I - Z T Z') / sigma^2 with T = Lambda (I + Lambda'Z'Z Lambda)^{-1} Lambda'.
    LtZZL = np.asarray((Lam.T @ (Lam.T @ ZZ).T).T)
    C = np.eye(q) + LtZZL
    cf = linalg.cho_factor(C, lower=True)
    Lt = Lam.T.toarray()
    T = Lam @ linalg.cho_solve(cf, Lt)
    T = np.asarray(T)
    TZZ = T @ ZZ
    TZX = T @ ZX
    ZSZ = (ZZ - ZZ @ TZZ) / s2
    ZSX = (ZX - ZZ @ TZX) / s2
    M = np.eye(q) - TZZ
    ZS2Z = M.T @ ZZ @ M / s2**2
    ZS2X = M.T @ ZSX / s2
    XS2X = (XX - 2.0 * ZX.T @ TZX + TZX.T @ ZZ @ TZX) / s2**2
    XS3X = (XS2X - ZSX.T @ T @ ZSX) / s2
    trS2 = (n - 2.0 * np.trace(TZZ) + np.sum(TZZ * TZZ.T)) / s2**2

    Phi = s2 * np.asarray(fit.vcov_unscaled)
    patterns = _parameter_patterns(layout, q)
    g = len(patterns) + 1
    p = X.shape[1]
    DZSX = [D @ ZSX for D in patterns]           # D_i Z'SX, (q, p)
    DZSZ = [np.asarray(D @ ZSZ) for D in patterns]  # D_i Z'SZ, (q, q)
    P = np.empty((g, p, p))
    for i in range(g - 1):
        P[i] = -ZSX.T @ DZSX[i]
    P[g - 1] = -XS2X
    Q = np.empty((g, g, p, p))
    K = np.empty((g, g))
    for i in range(g - 1):
        for j in range(i, g - 1):
            Q[i, j] = DZSX[i].T @ ZSZ @ DZSX[j]
            K[i, j] = np.sum(DZSZ[i] * DZSZ[j].T)
        Q[i, g - 1] = DZSX[i].T @ ZS2X
        K[i, g - 1] = float(np.sum((patterns[i].multiply(ZS2Z)).sum()))
    Q[g - 1, g - 1] = XS3X
    K[g - 1, g - 1] = trS2
    for i in range(g):
        for j in range(i):
            Q[i, j] = Q[j, i].T
            K[i, j] = K[j, i]
    info = np.empty((g, g))
    for i in range(g):
        PhiPi = Phi @ P[i]
        for j in range(i, g):
            info[i, j] = info[j, i] = (K[i, j] - 2.0 * np.sum(Phi * Q[i, j])
                                       + np.sum(PhiPi * (P[j] @ Phi)))
    if np.min(np.abs(np.linalg.eigvalsh(info))) > INFORMATION_TOL:
        W = 2.0 * np.linalg.inv(info)
    else:
        W = 2.0 * np.linalg.pinv(info)
    W = (W + W.T) / 2.0
    UU = np.zeros((p, p))
    for i in range(g):
        for j in range(g):
            UU += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j])
    adjusted = Phi + 2.0 * Phi @ UU @ Phi
    return KRAdjustment(vcov=Phi, vcov_adjusted=adjusted, P=P, W=W)
