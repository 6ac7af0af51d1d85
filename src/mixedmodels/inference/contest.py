"""t and F tests of contrasts of the fixed effects (lmerTest's ``contest``).

:func:`t_test` tests one contrast ``l' beta = 0``; :func:`f_test` a set of them,
``L beta = 0``, with the denominator df of Satterthwaite's method (lmerTest's
``contestMD``: the F statistic is the mean of the squared t statistics of the
eigen-directions of ``L vcov L'``, whose Satterthwaite df are combined by matching the
first two moments) or of Kenward and Roger's (pbkrtest's ``KRmodcomp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.kenward_roger import kr_adjustment
from mixedmodels.inference.satterthwaite import varpar_covariance

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = ["FTest", "TTest", "f_test", "normalize_ddf", "t_test"]

SATTERTHWAITE = "satterthwaite"
KENWARD_ROGER = "kenward-roger"
_ALIASES = {
    "satterthwaite": SATTERTHWAITE,
    "satt": SATTERTHWAITE,
    "kenward-roger": KENWARD_ROGER,
    "kenward_roger": KENWARD_ROGER,
    "kenwardroger": KENWARD_ROGER,
    "kr": KENWARD_ROGER,
}
# Relative tolerance for the positive eigenvalues of L vcov L' (lmerTest's eps).
EIGEN_EPS = float(np.sqrt(np.finfo(float).eps))
# Satterthwaite df of the eigen-directions equal within this are averaged.
EQUAL_DF_TOL = 1e-8


def normalize_ddf(ddf: str | None) -> str | None:
    """``"satterthwaite"``, ``"kenward-roger"`` or None from the accepted spellings.

    Raises
    ------
    MixedModelsError
        For an unknown method.
    """
    if ddf is None:
        return None
    key = str(ddf).strip().lower().replace(" ", "-")
    if key in ("none", "lme4", "wald", "normal"):
        return None
    if key not in _ALIASES:
        raise MixedModelsError(
            f"ddf must be 'satterthwaite', 'kenward-roger' or None, not {ddf!r}"
        )
    return _ALIASES[key]


@dataclass(frozen=True)
class TTest:
    """Test of one contrast: estimate, standard error, df, t and two-sided p."""

    estimate: float
    std_error: float
    df: float
    t_value: float
    p_value: float


@dataclass(frozen=True)
class FTest:
    """F test of a set of contrasts, as a row of lmerTest's ANOVA table.

    ``sum_sq`` and ``mean_sq`` are lmerTest's: ``mean_sq = F sigma^2`` (before the
    Kenward-Roger scaling of F) and ``sum_sq = mean_sq * num_df``.
    """

    sum_sq: float
    mean_sq: float
    num_df: int
    den_df: float
    f_value: float
    p_value: float


def _check_contrast(fit: LmerFit, L: np.ndarray) -> np.ndarray:
    L = np.atleast_2d(np.asarray(L, dtype=float))
    p = len(fit.beta)
    if L.ndim != 2 or L.shape[1] != p:
        raise MixedModelsError(
            f"a contrast needs {p} columns (one per fixed effect), not shape {L.shape}"
        )
    if not np.all(np.isfinite(L)):
        raise MixedModelsError("contrasts must be finite numbers")
    return L


def t_test(fit: LmerFit, l: np.ndarray, ddf: str | None = SATTERTHWAITE) -> TTest:  # noqa: E741
    """Test ``l' beta = 0``.

    Parameters
    ----------
    fit : LmerFit
    l : array-like, (p,)
    ddf : {"satterthwaite", "kenward-roger", None}
        None: the normal distribution (infinite df), with lme4's covariance.

    Returns
    -------
    TTest
        With Kenward-Roger the standard error is from the adjusted covariance.
    """
    l = _check_contrast(fit, l)[0]  # noqa: E741
    method = normalize_ddf(ddf)
    estimate = float(l @ fit.beta)
    if method == KENWARD_ROGER:
        kr = kr_adjustment(fit)
        var = float(l @ kr.vcov_adjusted @ l)
        df = kr.ddf(l[None, :])
    else:
        vcov = fit.sigma**2 * np.asarray(fit.vcov_unscaled)
        var = float(l @ vcov @ l)
        df = np.inf if method is None else varpar_covariance(fit).contrast_df(l)
    se = float(np.sqrt(var))
    t = estimate / se
    if np.isfinite(df):
        p = float(2.0 * stats.t.sf(abs(t), df))
    else:
        p = float(2.0 * stats.norm.sf(abs(t)))
    return TTest(estimate, se, float(df), t, p)


def _ftable(f_unscaled: float, num_df: int, den_df: float, sigma: float,
            scale: float = 1.0) -> FTest:
    mean_sq = f_unscaled * sigma**2
    f_value = f_unscaled * scale
    p = float(stats.f.sf(f_value, num_df, den_df))
    return FTest(mean_sq * num_df, mean_sq, num_df, float(den_df), float(f_value), p)


def f_test(fit: LmerFit, L: np.ndarray, ddf: str = SATTERTHWAITE) -> FTest | None:
    """Test ``L beta = 0`` with an F statistic.

    Parameters
    ----------
    fit : LmerFit
    L : array-like, (m, p)
    ddf : {"satterthwaite", "kenward-roger"}

    Returns
    -------
    FTest or None
        None when L has no rows or no direction with positive variance.
    """
    method = normalize_ddf(ddf)
    if method is None:
        raise MixedModelsError("an F test needs ddf='satterthwaite' or 'kenward-roger'")
    L = _check_contrast(fit, L)
    if L.shape[0] == 0:
        return None
    if method == KENWARD_ROGER:
        return kr_adjustment(fit).f_test(L, fit.beta, fit.sigma)
    if L.shape[0] == 1:
        t = t_test(fit, L[0], method)
        return _ftable(t.t_value**2, 1, t.df, fit.sigma)
    vp = varpar_covariance(fit)
    VL = L @ vp.vcov_beta @ L.T
    d, P = np.linalg.eigh(VL)
    d, P = d[::-1], P[:, ::-1]
    tol = max(EIGEN_EPS * d[0], 0.0)
    q = int(np.sum(d > tol))
    if q == 0:
        return None
    PtL = P.T @ L
    if q == 1:
        t = t_test(fit, PtL[0], method)
        return _ftable(t.t_value**2, 1, t.df, fit.sigma)
    PtL = PtL[:q]
    t2 = (PtL @ fit.beta) ** 2 / d[:q]
    f_unscaled = float(np.sum(t2) / q)
    nu = np.array([vp.contrast_df(row) for row in PtL])
    return _ftable(f_unscaled, q, combine_df(nu), fit.sigma)


def combine_df(nu: np.ndarray) -> float:
    """The F statistic's df from the t statistics' df (lmerTest's ``get_Fstat_ddf``).

    With ``E = sum(nu / (nu - 2))`` the df is ``2 E / (E - q)``; 2 when any df is 2 or
    less; the common value when all are equal.
    """
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < EQUAL_DF_TOL):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - len(nu))
