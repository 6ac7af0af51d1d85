"""Likelihood-ratio comparison of nested models: R's ``anova(m0, m1, ...)`` on merMod.

lme4's rule, reproduced: with ``refit=True`` (the default) every REML fit is refitted by
maximum likelihood before the comparison, whether or not the fixed effects differ, and a
message says so ("refitting model(s) with ML (instead of REML)"). Models are then
sorted by their number of parameters (a stable sort: ties keep the order given), and
each row is tested against the row above it:

    Chisq = 2 max(0, logLik_i - logLik_{i-1}),   Df = npar_i - npar_{i-1},
    Pr(>Chisq) = P(chi^2_Df > Chisq)  (missing when Df = 0).

Ordinary linear models (:func:`mixedmodels.inference.linear_model.lm`) take part with
their maximum-likelihood log-likelihood, as ``anova(lmer_fit, lm_fit)`` does in R.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels.errors import DataError, MixedModelsError

__all__ = ["REFIT_MESSAGE", "anova_models", "ml_version"]

REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"
MIXED_REML_MESSAGE = "some models fit with REML = TRUE, some not"


def _check_model(fit: Any) -> None:
    from mixedmodels.fit import LmerFit
    from mixedmodels.inference.linear_model import LinearModelFit

    if not isinstance(fit, (LmerFit, LinearModelFit)):
        raise MixedModelsError(
            f"anova compares fitted models (LmerFit or lm fits), not {type(fit).__name__}"
        )


def ml_version(fit: Any) -> Any:
    """The maximum-likelihood fit of the same model (``fit`` itself if it is one).

    A REML fit is refitted with ML on the same rows, reusing its Z blocks and starting
    from its theta (lme4's ``refitML``).
    """
    if not getattr(fit, "reml", False):
        return fit
    model = fit.model.with_response(fit.model.design.y, reml=False)
    return model.fit(start=fit.theta)


def _response(fit: Any) -> np.ndarray:
    design = fit.model.design if hasattr(fit, "model") else fit.design
    return np.asarray(design.y)


def anova_models(*fits: Any, refit: bool = True,
                 model_names: list[str] | None = None) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models, as R's ``anova(m0, m1, ...)``.

    Parameters
    ----------
    *fits : LmerFit or LinearModelFit
        Two or more models fitted to the same rows.
    refit : bool
        Refit REML fits with maximum likelihood first (lme4's default). With False, the
        REML log-likelihoods are compared, which is valid only when the models have the
        same fixed effects; mixing REML and ML fits then gives a warning.
    model_names : list of str, optional
        Row labels in the order the fits are given; default ``MODEL1``, ``MODEL2``, ...
        (lme4's generic names).

    Returns
    -------
    DataFrame
        Rows sorted by ``npar``; columns ``npar``, ``AIC``, ``BIC``, ``logLik``,
        ``deviance`` (-2 logLik), ``Chisq``, ``Df``, ``Pr(>Chisq)`` (NaN in the first
        row). ``df.attrs["messages"]`` lists messages (the ML refit), and
        ``df.attrs["formulas"]`` maps row labels to formulas.

    Raises
    ------
    MixedModelsError
        For fewer than two models or something that is not a fitted model.
    DataError
        When the models were fitted to different numbers of rows or responses.

    Warns
    -----
    UserWarning
        With the refit message when REML fits are refitted with ML.
    """
    if len(fits) < 2:
        raise MixedModelsError(
            "anova needs at least two models to compare; for the ANOVA table of one model "
            "use fit.anova()"
        )
    for fit in fits:
        _check_model(fit)
    names = list(model_names) if model_names is not None else [
        f"MODEL{i + 1}" for i in range(len(fits))]
    if len(names) != len(fits) or len(set(names)) != len(names):
        raise MixedModelsError("model_names must give one distinct name per model")
    nobs = {fit.nobs for fit in fits}
    if len(nobs) > 1:
        raise DataError(
            f"models were not all fitted to the same size of dataset ({sorted(nobs)} rows)"
        )
    y0 = _response(fits[0])
    if any(not np.array_equal(_response(f), y0) for f in fits[1:]):
        raise DataError("models were not all fitted to the same response values")

    messages: list[str] = []
    reml = [bool(f.reml) for f in fits]
    models = list(fits)
    if refit:
        if any(reml):
            messages.append(REFIT_MESSAGE)
            warnings.warn(REFIT_MESSAGE, UserWarning, stacklevel=2)
            models = [ml_version(f) for f in models]
    elif any(reml) and not all(reml):
        messages.append(MIXED_REML_MESSAGE)
        warnings.warn(MIXED_REML_MESSAGE, UserWarning, stacklevel=2)

    npar = np.array([m.npar for m in models])
    order = np.argsort(npar, kind="stable")
    models = [models[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order]
    llk = np.array([m.loglik for m in models], dtype=float)
    chisq = np.full(len(models), np.nan)
    df = np.full(len(models), np.nan)
    chisq[1:] = 2.0 * np.maximum(0.0, np.diff(llk))
    df[1:] = np.diff(npar)
    pval = np.full(len(models), np.nan)
    testable = np.isfinite(df) & (df > 0)
    pval[testable] = stats.chi2.sf(chisq[testable], df[testable])
    table = pd.DataFrame(
        {
            "npar": npar.astype(int),
            "AIC": [m.aic for m in models],
            "BIC": [m.bic for m in models],
            "logLik": llk,
            "deviance": -2.0 * llk,
            "Chisq": chisq,
            "Df": df,
            "Pr(>Chisq)": pval,
        },
        index=pd.Index(names),
    )
    table.attrs["messages"] = messages
    table.attrs["formulas"] = {n: m.formula for n, m in zip(names, models, strict=True)}
    table.attrs["heading"] = ["Models:"] + [f"{n}: {m.formula}"
                                            for n, m in zip(names, models, strict=True)]
    return table
