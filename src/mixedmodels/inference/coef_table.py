"""The fixed-effects table with t tests and confidence intervals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.contest import KENWARD_ROGER, normalize_ddf
from mixedmodels.inference.kenward_roger import kr_adjustment
from mixedmodels.inference.satterthwaite import varpar_covariance

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = ["COEF_COLUMNS", "coef_table"]

COEF_COLUMNS = ["estimate", "std_error", "df", "t_value", "p_value", "conf_low", "conf_high"]


def coef_table(fit: LmerFit, ddf: str | None = "satterthwaite",
               level: float = 0.95) -> pd.DataFrame:
    """Estimates, standard errors, t tests and Wald intervals of the fixed effects.

    Parameters
    ----------
    fit : LmerFit
    ddf : {"satterthwaite", "kenward-roger", None}
        Denominator df of the t statistics (lmerTest's ``summary(m, ddf=...)``).
        Kenward-Roger also replaces the standard errors by those of pbkrtest's adjusted
        covariance (as lmerTest does). None: infinite df (normal p-values and intervals)
        and ``df`` is ``inf``.
    level : float
        Confidence level of the intervals, in (0, 1).

    Returns
    -------
    DataFrame
        Indexed by lme4's coefficient names; columns estimate, std_error, df, t_value,
        p_value, conf_low, conf_high.
    """
    if not 0.0 < level < 1.0:
        raise MixedModelsError(f"level must be between 0 and 1, not {level!r}")
    method = normalize_ddf(ddf)
    beta = np.asarray(fit.beta, dtype=float)
    p = len(beta)
    if method == KENWARD_ROGER:
        kr = kr_adjustment(fit)
        se = np.sqrt(np.diagonal(kr.vcov_adjusted))
        df = np.array([kr.ddf(np.eye(p)[i][None, :]) for i in range(p)])
    else:
        se = fit.sigma * np.sqrt(np.diagonal(np.asarray(fit.vcov_unscaled)))
        if method is None:
            df = np.full(p, np.inf)
        else:
            vp = varpar_covariance(fit)
            df = np.array([vp.contrast_df(np.eye(p)[i]) for i in range(p)])
    t = beta / se
    alpha = 1.0 - level
    finite = np.isfinite(df)
    dist_df = np.where(finite, df, 1.0)
    p_value = np.where(finite, 2.0 * stats.t.sf(np.abs(t), dist_df), 2.0 * stats.norm.sf(np.abs(t)))
    crit = np.where(finite, stats.t.ppf(1.0 - alpha / 2.0, dist_df),
                    stats.norm.ppf(1.0 - alpha / 2.0))
    return pd.DataFrame(
        {
            "estimate": beta,
            "std_error": se,
            "df": df,
            "t_value": t,
            "p_value": p_value,
            "conf_low": beta - crit * se,
            "conf_high": beta + crit * se,
        },
        index=pd.Index(list(fit.model.design.xnames)),
    )
