"""Confidence intervals for the parameters of a linear mixed model (lme4's ``confint``).

Rows as lme4 names and orders them: ``.sig01``, ``.sig02``, ... (standard deviations and
correlations of the random effects, in theta's order), ``.sigma``, then the fixed
effects; columns ``"2.5 %"`` and ``"97.5 %"`` (R's labels for the level).

- ``"wald"``: estimate -/+ qnorm((1 + level) / 2) standard errors for the fixed effects
  (the fit's own covariance, REML or ML); missing for the variance parameters, as lme4.
- ``"profile"``: where the likelihood profile (:mod:`.profile`, on the ML deviance)
  crosses -/+ qnorm((1 + level) / 2); a bound (sd 0, correlation +/-1) where it does
  not.
- ``"boot"``: percentile intervals of a parametric bootstrap (:mod:`.bootstrap`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels.errors import MixedModelsError

__all__ = ["confint"]

_METHODS = {"wald": "wald", "profile": "profile", "boot": "boot", "bootstrap": "boot"}


def _labels(level: float) -> list[str]:
    a = (1 - level) / 2
    return [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]


def confint(
    fit: Any,
    parm: list[str] | None = None,
    method: str = "profile",
    level: float = 0.95,
    nsim: int = 500,
    seed: int | None = None,
    n_jobs: int = 1,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Confidence intervals for the variance parameters and fixed effects.

    Parameters
    ----------
    fit : LmerFit
    parm : list of str, optional
        Rows to return (``".sig01"``, ``".sigma"``, ``"Days"``...); all by default.
    method : {"profile", "wald", "boot"}
        lme4's default is the profile.
    level : float
        Confidence level.
    nsim, seed, n_jobs, progress
        For ``method="boot"``: as :func:`mixedmodels.inference.bootstrap.bootstrap`.

    Returns
    -------
    DataFrame
        Rows ``.sig01`` ... ``.sigma`` and fixed effects; columns like ``"2.5 %"``.
    """
    from mixedmodels.inference.profile import sdcor_names

    key = _METHODS.get(str(method).lower())
    if key is None:
        raise MixedModelsError(f"method must be 'wald', 'profile' or 'boot', not {method!r}")
    if not 0 < level < 1:
        raise MixedModelsError(f"level must be between 0 and 1, not {level}")
    vnames = sdcor_names(fit)
    fnames = list(fit.model.design.xnames)
    names = vnames + fnames
    wanted = names if parm is None else list(parm)
    unknown = [p for p in wanted if p not in names]
    if unknown:
        raise MixedModelsError(f"unknown parameter(s) {unknown}; the parameters are {names}")
    columns = _labels(level)
    if key == "wald":
        z = stats.norm.ppf((1 + level) / 2)
        beta = np.asarray(fit.beta)
        se = np.asarray(fit.std_errors, dtype=float)
        table = pd.DataFrame(np.nan, index=names, columns=columns)
        table.loc[fnames, columns[0]] = beta - z * se
        table.loc[fnames, columns[1]] = beta + z * se
        return table.loc[wanted]
    if key == "profile":
        from mixedmodels.inference.profile import profile

        prof = profile(fit, which=wanted)
        rows = [prof.interval(name, level) for name in wanted]
        return pd.DataFrame(rows, index=wanted, columns=columns)
    from mixedmodels.inference.bootstrap import bootstrap

    result = bootstrap(fit, nsim, seed=seed, n_jobs=n_jobs, progress=progress)
    table = result.percentile_intervals(level).loc[wanted]
    table.attrs["bootstrap"] = result
    return table
