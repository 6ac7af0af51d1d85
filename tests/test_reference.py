"""Fits compared with lme4 (values in tests/reference/lme4_fits.json, made by lme4_fits.R).

Tolerances are per quantity (issue 2): the objective may not be worse than lme4's by
more than 1e-6 relative (a lower one passes); fixed effects and standard errors agree
within 1e-4 relative or 1e-6 absolute; variance components within 1e-3 relative.
Conditional modes, fitted values and conditional variances depend on theta, which is
less well determined than the objective; they get 1e-3 relative to their scale.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from reference.loader import load_reference, reference_frame

import mixedmodels as mm

REFERENCE = {fit["id"]: fit for fit in load_reference()}
IDS = list(REFERENCE)


@cache
def fitted(fit_id: str) -> mm.LmerFit:
    """Each reference model is fitted once per test session."""
    ref = REFERENCE[fit_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(
            ref["formula"], reference_frame(ref), reml=ref["reml"],
            weights=ref["weights"], offset=ref["offset"],
        )


def close(ours, theirs, rtol, atol=0.0):
    ours = np.asarray(ours, dtype=float)
    theirs = np.asarray(theirs, dtype=float)
    return np.all(np.abs(ours - theirs) <= np.maximum(rtol * np.abs(theirs), atol))


def test_reference_covers_the_grammar():
    formulas = " ".join(f["formula"] for f in REFERENCE.values())
    for form in ("(Days | Subject)", "(Days || Subject)", "(0 + Days | Subject)",
                 "(-1 + Days | Subject)", "(1 | batch/cask)", "(1 | a/b/c)", "(1 | batch:cask)",
                 "(0 + Machine | Worker)", "(1 | plate) + (1 | sample)"):
        assert form in formulas
    assert len(REFERENCE) >= 14
    assert any(f["weights"] for f in REFERENCE.values())
    assert any(f["offset"] for f in REFERENCE.values())
    assert any(f["singular"] for f in REFERENCE.values())
    assert any(f["dropped_columns"] for f in REFERENCE.values())
    assert any(not f["reml"] for f in REFERENCE.values())


@pytest.mark.parametrize("fit_id", IDS)
def test_objective_not_worse(fit_id):
    ref = REFERENCE[fit_id]
    fit = fitted(fit_id)
    assert fit.objective <= ref["objective"] + 1e-6 * abs(ref["objective"])
    # and not absurdly better either: the same model, not another one
    assert fit.objective >= ref["objective"] - 1e-3 * abs(ref["objective"])
    assert fit.reml == ref["reml"]


# lme4's BOBYQA stops at ftol_abs = 1e-8; on flat surfaces its theta is then measurably
# off the optimum. Beyond this gap (deviance units, ~1000x the objective's rounding
# noise) lme4's estimates belong to a point that is not the optimum, so they are
# compared with ours at lme4's own theta (where they must agree to 1e-9) instead of at
# our lower optimum. Only insteval_crossed_ml is that far (gap 1.4e-6; its intercept SE
# at the optimum differs from lme4's by 1.1e-4 relative).
SUBOPTIMAL_GAP = 1e-6


def estimates_at(model, theta):
    """beta and standard errors read off the factor at a given theta."""
    model.objective(theta)
    chol = model._chol
    dof = model.n - model.p if model.reml else model.n
    se = np.sqrt(chol.pwrss() / dof * np.diagonal(chol.fixed_precision_inverse()))
    return chol.fixed_effects(), se


@pytest.mark.parametrize("fit_id", IDS)
def test_fixed_effects_and_standard_errors(fit_id):
    ref = REFERENCE[fit_id]
    fit = fitted(fit_id)
    assert list(fit.fixef.index) == list(ref["fixef"])
    assert list(fit.dropped_columns) == ref["dropped_columns"]
    lme4_theta = np.array(list(ref["theta"].values()), dtype=float)
    gap = fit.model.objective(lme4_theta) - fit.objective
    if gap > SUBOPTIMAL_GAP:
        assert fit.converged
        beta, se = estimates_at(fit.model, lme4_theta)
        assert close(beta, list(ref["fixef"].values()), 1e-9, 1e-12)
        assert close(se, list(ref["se"].values()), 1e-9, 1e-12)
        return
    assert close(fit.fixef.values, list(ref["fixef"].values()), 1e-4, 1e-6)
    assert close(fit.std_errors.values, list(ref["se"].values()), 1e-4, 1e-6)
    p = len(ref["fixef"])
    vcov = np.array(ref["vcov"]["values"], dtype=float).reshape(p, p)
    scale = np.sqrt(np.outer(np.diagonal(vcov), np.diagonal(vcov)))
    assert np.all(np.abs(fit.vcov.values - vcov) <= 2e-4 * scale)


@pytest.mark.parametrize("fit_id", IDS)
def test_estimates_at_lme4_theta_equal_lme4s(fit_id):
    """Apart from the optimiser, the estimates are lme4's to rounding error."""
    ref = REFERENCE[fit_id]
    beta, se = estimates_at(fitted(fit_id).model, np.array(list(ref["theta"].values())))
    assert close(beta, list(ref["fixef"].values()), 1e-9, 1e-12)
    assert close(se, list(ref["se"].values()), 1e-9, 1e-12)


@pytest.mark.parametrize("fit_id", IDS)
def test_variance_components(fit_id):
    ref = REFERENCE[fit_id]
    fit = fitted(fit_id)
    ours = fit.varcorr.to_frame()
    assert len(ours) == len(ref["varcorr"])
    resid_var = ref["sigma"] ** 2
    for row, theirs in zip(ours.itertuples(), ref["varcorr"], strict=True):
        names = tuple(None if pd.isna(v) else v for v in (row.grp, row.var1, row.var2))
        assert names == (theirs["grp"], theirs["var1"], theirs["var2"])
        if theirs["var2"] is None:
            assert close(row.vcov, theirs["vcov"], 1e-3, 1e-6 * resid_var), row
            assert close(row.sdcor, theirs["sdcor"], 1e-3, 1e-3 * np.sqrt(1e-6 * resid_var)), row
        else:  # a covariance and a correlation; correlations near 0 need an absolute bound
            assert close(row.sdcor, theirs["sdcor"], 1e-3, 1e-3), row
    assert close(fit.sigma, ref["sigma"], 1e-3)


@pytest.mark.parametrize("fit_id", IDS)
def test_likelihood_summaries(fit_id):
    ref = REFERENCE[fit_id]
    fit = fitted(fit_id)
    assert fit.nobs == ref["nobs"]
    assert fit.df_resid == ref["df_resid"]
    assert fit.ngroups == ref["ngroups"]
    assert fit.is_singular == ref["singular"]
    tol = 1e-6 * abs(ref["objective"])
    assert fit.loglik >= ref["loglik"] - tol
    assert fit.aic <= ref["aic"] + tol
    assert fit.bic <= ref["bic"] + tol
    assert abs(fit.aic - ref["aic"]) < 1e-3 * abs(ref["aic"])


@pytest.mark.parametrize("fit_id", [i for i in IDS if "fitted" in REFERENCE[i]])
def test_fitted_ranef_and_conditional_variances(fit_id):
    ref = REFERENCE[fit_id]
    fit = fitted(fit_id)
    # a singular fit has constant fitted values: then their magnitude sets the scale
    y_scale = max(np.std(ref["fitted"]), 1e-3 * np.max(np.abs(ref["fitted"])))
    assert close(fit.fitted().values, ref["fitted"], 0, 1e-3 * y_scale)
    assert close(fit.predict(re_form="~0").values, ref["predict_fixed"], 0, 1e-4 * y_scale)
    ranef = fit.ranef(cond_var=True)
    assert set(ranef) == set(ref["ranef"])
    for group, theirs in ref["ranef"].items():
        ours = ranef[group]
        assert list(ours.index) == theirs["levels"]
        assert list(ours.columns) == list(np.atleast_1d(theirs["columns"]))
        values = np.array(theirs["values"], dtype=float).reshape(ours.shape)
        scale = np.maximum(np.std(values, axis=0), 1e-8)
        assert np.all(np.abs(ours.values - values) <= 1e-3 * scale + 1e-8)
        cv = np.array(ref["condvar"][group], dtype=float)  # NaN: lme4 gives no cross-term block
        known = ~np.isnan(cv)
        cv_scale = np.max(np.abs(cv[known]))
        assert np.all(np.abs(ours.attrs["cond_var"][known] - cv[known]) <= 2e-3 * cv_scale)


@pytest.mark.parametrize("fit_id", IDS)
def test_objective_at_lme4_theta_equals_lme4_objective(fit_id):
    """The criterion itself, apart from the optimiser: same theta, same number."""
    ref = REFERENCE[fit_id]
    model = fitted(fit_id).model
    theta = np.array(list(ref["theta"].values()), dtype=float)
    assert abs(model.objective(theta) - ref["objective"]) <= 1e-10 * abs(ref["objective"])
