"""R2 and intra-class correlation of a linear mixed model (performance's ``r2_nakagawa``
and ``icc``).

Nakagawa & Schielzeth (2013), extended to random slopes by Johnson (2014): with

* ``var_f`` the variance (n - 1 denominator) of the fixed part ``X beta``;
* ``var_r = sum_j tr(Sigma_j Z_j'Z_j) / n`` over the random terms, where Sigma_j is the
  term's covariance matrix and Z_j its columns taken, as performance does, from the
  fixed-effects matrix (the columns with the term's coefficient names; an intercept is
  a column of ones); terms with one level per observation are left out, and so are
  the second and later terms on the same grouping factor (``(1|g) + (0 + x|g)``, which
  lme4 names ``g`` and ``g.1``): performance looks the terms up by the names of
  ``ranef()``, which lists each grouping factor once, so only the term named ``g``
  counts. This matches performance 0.10.2 (it leaves out the slope variance of
  ``(x || g)``);
* ``var_e = sigma^2``;

marginal R2 is ``var_f / (var_f + var_r + var_e)``, conditional R2
``(var_f + var_r) / (var_f + var_r + var_e)``, the adjusted ICC ``var_r / (var_r + var_e)``
and the unadjusted ICC ``var_r / (var_f + var_r + var_e)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = ["VarianceComponents", "icc", "r2", "variance_components"]

# performance treats a fit as singular (and drops the random variance) at this tolerance.
SINGULAR_TOL = 1e-5


@dataclass(frozen=True)
class VarianceComponents:
    """The variances R2 and ICC are built from.

    Attributes
    ----------
    fixed, random, residual : float
        ``var_f``, ``var_r`` (NaN for a singular fit, as performance) and ``var_e``.
    """

    fixed: float
    random: float
    residual: float


def variance_components(fit: LmerFit) -> VarianceComponents:
    """Fixed, random and residual variance as performance computes them."""
    design = fit.model.design
    X = np.asarray(design.X)
    n = X.shape[0]
    eta = X @ fit.beta
    var_f = float(np.var(eta, ddof=1)) if n > 1 else 0.0
    names = list(design.xnames)
    if "(Intercept)" not in names:
        X = np.column_stack([np.ones(n), X])
        names = ["(Intercept)", *names]
    column = {name: i for i, name in enumerate(names)}
    lambdas = fit.model.lambdas(fit.theta)
    singular = any(np.any(np.abs(np.diag(lam)) < SINGULAR_TOL) for lam in lambdas)
    var_r = 0.0
    seen: set[str] = set()
    for term, lam in zip(fit.model.reterms, lambdas, strict=True):
        if len(term.levels) == n or term.name in seen:
            continue
        seen.add(term.name)
        cov = fit.sigma**2 * lam @ lam.T
        keep = [i for i, c in enumerate(term.cnames) if c in column]
        if not keep:
            continue
        Z = X[:, [column[term.cnames[i]] for i in keep]]
        S = cov[np.ix_(keep, keep)]
        var_r += float(np.sum((Z @ S) * Z)) / n
    return VarianceComponents(var_f, np.nan if singular else var_r, fit.sigma**2)


def r2(fit: LmerFit) -> pd.Series:
    """Marginal and conditional R2 (Nakagawa & Schielzeth; Johnson for random slopes).

    Returns
    -------
    Series
        ``marginal`` and ``conditional``.
    """
    v = variance_components(fit)
    random = 0.0 if np.isnan(v.random) else v.random
    total = v.fixed + random + v.residual
    conditional = np.nan if np.isnan(v.random) else (v.fixed + v.random) / total
    return pd.Series({"marginal": v.fixed / total, "conditional": conditional}, name="R2")


def icc(fit: LmerFit) -> pd.Series:
    """Adjusted and unadjusted intra-class correlation (performance's ``icc``).

    Returns
    -------
    Series
        ``adjusted`` (random over random + residual variance) and ``unadjusted``
        (random over the total, fixed part included); NaN for singular fits.
    """
    v = variance_components(fit)
    adjusted = v.random / (v.random + v.residual)
    unadjusted = v.random / (v.fixed + v.random + v.residual)
    return pd.Series({"adjusted": adjusted, "unadjusted": unadjusted}, name="ICC")
