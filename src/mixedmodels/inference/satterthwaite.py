"""Satterthwaite's denominator degrees of freedom, as lmerTest computes them.

The variance parameters are ``varpar = (theta, sigma)``. lmerTest approximates their
covariance by ``A = 2 H^{-1}``, with H the Hessian of the (unprofiled) deviance or REML
criterion as a function of varpar, and differentiates ``vcov(beta) = sigma^2 (R_X'R_X)^{-1}``
with respect to varpar. For a contrast l with variance ``v = l' vcov(beta) l`` and gradient
``g = dv/dvarpar``, the degrees of freedom are ``2 v^2 / (g' A g)``. Both derivatives are
taken numerically, by central differences with Richardson extrapolation.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mixedmodels.errors import MixedModelsError
from mixedmodels.inference._numderiv import hessian, jacobian

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = ["VarparCovariance", "satterthwaite_df", "varpar_covariance"]

# Eigenvalues of H within this of zero are dropped from its inverse (lmerTest's tol).
EIGEN_TOL = 1e-8

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class VarparCovariance:
    """What Satterthwaite's method needs from a fit.

    Attributes
    ----------
    varpar : ndarray, (k,)
        ``(theta, sigma)`` at the estimates.
    hessian : ndarray, (k, k)
        Hessian of the deviance (ML fits) or REML criterion as a function of varpar.
    vcov_varpar : ndarray, (k, k)
        ``2 H^{-1}`` over the eigenvalues of H above ``1e-8`` (a pseudo-inverse).
    vcov_beta : ndarray, (p, p)
        Covariance of the fixed effects.
    jacobian : ndarray, (k, p, p)
        Derivative of ``vcov_beta`` with respect to each element of varpar.
    messages : tuple of str
        lmerTest's warnings about negative or near-zero eigenvalues of H.
    """

    varpar: np.ndarray
    hessian: np.ndarray
    vcov_varpar: np.ndarray
    vcov_beta: np.ndarray
    jacobian: np.ndarray
    messages: tuple[str, ...] = ()

    def contrast_df(self, l: np.ndarray) -> float:  # noqa: E741 - lmerTest's name
        """Satterthwaite df of the contrast ``l' beta`` (l of length p)."""
        l = np.asarray(l, dtype=float)  # noqa: E741
        var = float(l @ self.vcov_beta @ l)
        grad = np.einsum("i,kij,j->k", l, self.jacobian, l)
        denom = float(grad @ self.vcov_varpar @ grad)
        if denom <= 0.0:
            return np.inf
        return 2.0 * var**2 / denom


def varpar_covariance(fit: LmerFit) -> VarparCovariance:
    """Hessian and Jacobian of a fit for Satterthwaite's method (cached per fit).

    Parameters
    ----------
    fit : LmerFit

    Returns
    -------
    VarparCovariance
    """
    cached = _CACHE.get(fit)
    if cached is None:
        cached = _compute(fit)
        _CACHE[fit] = cached
    return cached


def _compute(fit: LmerFit) -> VarparCovariance:
    model = fit.model
    reml = fit.reml
    ntheta = len(fit.theta)
    evaluations: dict[bytes, object] = {}

    def evaluate(theta: np.ndarray):
        key = np.asarray(theta, dtype=float).tobytes()
        ev = evaluations.get(key)
        if ev is None:
            ev = model.evaluate(theta)
            evaluations[key] = ev
        return ev

    def deviance(varpar: np.ndarray) -> float:
        return evaluate(varpar[:ntheta]).deviance(float(varpar[ntheta]), reml)

    def covbeta(varpar: np.ndarray) -> np.ndarray:
        return varpar[ntheta] ** 2 * evaluate(varpar[:ntheta]).vcov_unscaled

    varpar = np.append(np.asarray(fit.theta, dtype=float), fit.sigma)
    try:
        H = hessian(deviance, varpar)
        J = jacobian(covbeta, varpar)
    except MixedModelsError as exc:
        raise MixedModelsError(
            f"Satterthwaite's method needs the criterion near the estimates: {exc}"
        ) from None
    finally:
        model.evaluate(fit.theta)  # leave the factor at the estimates
    values, vectors = np.linalg.eigh(H)
    messages = []
    negative = values < -EIGEN_TOL
    zero = np.abs(values) <= EIGEN_TOL
    if negative.any():
        messages.append(
            f"Model failed to converge with {int(negative.sum())} negative eigenvalue"
            f"{'s' if negative.sum() > 1 else ''}: "
            + " ".join(f"{v:.1e}" for v in values[negative])
        )
    if zero.any():
        messages.append(
            f"Model may not have converged with {int(zero.sum())} eigenvalue"
            f"{'s' if zero.sum() > 1 else ''} close to zero: "
            + " ".join(f"{v:.1e}" for v in values[zero])
        )
    keep = values > EIGEN_TOL
    Hinv = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    return VarparCovariance(
        varpar=varpar,
        hessian=H,
        vcov_varpar=2.0 * Hinv,
        vcov_beta=fit.sigma**2 * np.asarray(fit.vcov_unscaled),
        jacobian=J,
        messages=tuple(messages),
    )


def satterthwaite_df(fit: LmerFit, L: np.ndarray) -> np.ndarray:
    """Satterthwaite df of each row of a contrast matrix, tested alone.

    Parameters
    ----------
    fit : LmerFit
    L : array-like, (m, p) or (p,)
        Contrasts of the fixed effects.

    Returns
    -------
    ndarray, (m,)
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    p = len(fit.beta)
    if L.shape[1] != p:
        raise MixedModelsError(
            f"contrasts need {p} columns (one per fixed effect), not {L.shape[1]}"
        )
    vp = varpar_covariance(fit)
    return np.array([vp.contrast_df(row) for row in L])
