"""An independent oracle: the linear mixed model's likelihood by dense linear algebra.

Written from the textbook formulas, sharing no code with the engine (nothing from
``mixedmodels`` is imported). The model is

    y = X beta + Z b + e,   b ~ N(0, sigma^2 Lambda Lambda'),   e ~ N(0, sigma^2 W^{-1}),

so y ~ N(X beta, sigma^2 Sigma) with Sigma = Z Lambda Lambda' Z' + W^{-1}. For a given
theta (the free entries of Lambda):

- beta by generalised least squares, beta = (X' Sigma^{-1} X)^{-1} X' Sigma^{-1} y;
- with r = y - X beta and d = n (ML) or n - p (REML), sigma^2 = r' Sigma^{-1} r / d;
- -2 log-likelihood profiled over beta and sigma (ML) is
  d (1 + log(2 pi sigma^2)) + log|Sigma|, and the REML criterion (lme4's, -2 times
  the REML log-likelihood) adds log|X' Sigma^{-1} X|;
- vcov(beta) = sigma^2 (X' Sigma^{-1} X)^{-1};
- the conditional modes are the BLUPs b = G Z' V^{-1} r with G = sigma^2 Lambda Lambda' and
  V = sigma^2 Sigma, i.e. b = Lambda Lambda' Z' Sigma^{-1} r;
- their conditional variances (beta taken as known, as lme4's condVar) are
  G - G Z' V^{-1} Z G.

Every matrix is built densely from the level codes and per-row z values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla


@dataclass(frozen=True)
class DenseTerm:
    """One random-effects term: a grouping factor and its per-row z values.

    Attributes
    ----------
    codes : ndarray
        int (n,), level index of each row (0 .. nlevels-1).
    nlevels : int
        Number of levels.
    z : ndarray
        float (n, k), the term's model columns.
    """

    codes: np.ndarray
    nlevels: int
    z: np.ndarray

    @property
    def k(self) -> int:
        return int(self.z.shape[1])

    @property
    def ntheta(self) -> int:
        return self.k * (self.k + 1) // 2


@dataclass(frozen=True)
class OracleResult:
    """Everything the oracle computes at one theta.

    Attributes
    ----------
    objective : float
        REML criterion or ML deviance (-2 log-likelihood, profiled).
    beta : ndarray
    vcov : ndarray
        sigma^2 (X' Sigma^{-1} X)^{-1}.
    sigma2 : float
        Profiled residual variance.
    modes : list of ndarray
        Conditional modes per term, (nlevels, k).
    cond_var : list of ndarray
        Conditional covariance of each level's effects per term, (nlevels, k, k).
    """

    objective: float
    beta: np.ndarray
    vcov: np.ndarray
    sigma2: float
    modes: list[np.ndarray]
    cond_var: list[np.ndarray]


def template(values: np.ndarray, k: int) -> np.ndarray:
    """Lower-triangular k x k factor filled column by column (lme4's theta order)."""
    lam = np.zeros((k, k))
    pos = 0
    for col in range(k):
        for row in range(col, k):
            lam[row, col] = values[pos]
            pos += 1
    return lam


def dense_z_lambda(terms: list[DenseTerm], theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense Z (n, q) and Lambda (q, q); columns of a term ordered level by level.

    For a term with k columns, the random effect of level l and column c sits at
    offset + l * k + c.
    """
    n = terms[0].codes.shape[0]
    q = sum(t.nlevels * t.k for t in terms)
    Z = np.zeros((n, q))
    Lam = np.zeros((q, q))
    offset = 0
    tpos = 0
    for term in terms:
        k = term.k
        lam = template(theta[tpos : tpos + term.ntheta], k)
        tpos += term.ntheta
        for row in range(n):
            start = offset + term.codes[row] * k
            Z[row, start : start + k] = term.z[row]
        for level in range(term.nlevels):
            start = offset + level * k
            Lam[start : start + k, start : start + k] = lam
        offset += term.nlevels * k
    if tpos != len(theta):
        raise ValueError("theta has the wrong length")
    return Z, Lam


def evaluate(
    y: np.ndarray,
    X: np.ndarray,
    terms: list[DenseTerm],
    theta: np.ndarray,
    weights: np.ndarray | None = None,
    reml: bool = True,
) -> OracleResult:
    """The likelihood and its by-products at ``theta``, by dense algebra."""
    n, p = X.shape
    Z, Lam = dense_z_lambda(terms, np.asarray(theta, dtype=float))
    G = Lam @ Lam.T  # relative covariance of b
    w_inv = np.ones(n) if weights is None else 1.0 / np.asarray(weights, dtype=float)
    Sigma = Z @ G @ Z.T + np.diag(w_inv)
    C = sla.cho_factor(Sigma, lower=True)
    logdet_sigma = 2.0 * np.sum(np.log(np.diag(C[0])))
    Si_X = sla.cho_solve(C, X)
    Si_y = sla.cho_solve(C, y)
    XtSiX = X.T @ Si_X
    CX = sla.cho_factor(XtSiX, lower=True)
    beta = sla.cho_solve(CX, X.T @ Si_y)
    r = y - X @ beta
    Si_r = sla.cho_solve(C, r)
    quad = float(r @ Si_r)
    d = n - p if reml else n
    sigma2 = quad / d
    objective = logdet_sigma + d * (1.0 + math.log(2.0 * math.pi * sigma2))
    if reml:
        objective += 2.0 * np.sum(np.log(np.diag(CX[0])))
    vcov = sigma2 * sla.cho_solve(CX, np.eye(p))
    b = G @ Z.T @ Si_r
    GZt = G @ Z.T
    cond = sigma2 * (G - GZt @ sla.cho_solve(C, GZt.T))
    modes: list[np.ndarray] = []
    cond_var: list[np.ndarray] = []
    offset = 0
    for term in terms:
        k, m = term.k, term.nlevels
        modes.append(b[offset : offset + m * k].reshape(m, k))
        blocks = np.empty((m, k, k))
        for level in range(m):
            s = offset + level * k
            blocks[level] = cond[s : s + k, s : s + k]
        cond_var.append(blocks)
        offset += m * k
    return OracleResult(objective, beta, vcov, sigma2, modes, cond_var)


def objective(
    y: np.ndarray,
    X: np.ndarray,
    terms: list[DenseTerm],
    theta: np.ndarray,
    weights: np.ndarray | None = None,
    reml: bool = True,
) -> float:
    """The REML criterion or ML deviance at ``theta`` (inf where Sigma is not PD)."""
    try:
        return evaluate(y, X, terms, theta, weights, reml).objective
    except (np.linalg.LinAlgError, ValueError):
        return math.inf
