"""mm.anova(m0, m1, ...) against lme4's anova() (tests/reference/lme4_inference.json)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from reference.loader import inference_reference, reference_column

import mixedmodels as mm
from mixedmodels.errors import DataError, FormulaError, MixedModelsError
from mixedmodels.inference.linear_model import lm
from mixedmodels.inference.lrt import REFIT_MESSAGE, anova_models


def _fit_call(call: str):
    """Evaluate the R call recorded in the JSON ("lmer(f, data, REML = FALSE)" / "lm(...)")."""
    kind, formula, data, ml = re.fullmatch(
        r"(lmer|lm)\((.*), (\w+)(, REML = FALSE)?\)", call).groups()
    frame = mm.datasets.load(data)
    if kind == "lm":
        return lm(formula, frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, frame, reml=ml is None)


CASES = [c["id"] for c in inference_reference()["anova"]]


@pytest.mark.parametrize("case_id", CASES)
def test_anova_matches_lme4(case_id):
    case = next(c for c in inference_reference()["anova"] if c["id"] == case_id)
    fits = [_fit_call(c) for c in case["calls"]]
    names = [f"m{i}" for i in range(len(fits))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = anova_models(*fits, refit=case["refit"], model_names=names)
    ref = case["table"]
    assert list(table.index) == ref["rows"]
    np.testing.assert_array_equal(table["npar"].to_numpy(), reference_column(ref, "npar"))
    np.testing.assert_array_equal(table["Df"].to_numpy(), reference_column(ref, "Df"))
    # Our optima are at least as good as lme4's; differences are ~1e-8 deviance units.
    for col in ("logLik", "deviance", "AIC", "BIC"):
        np.testing.assert_allclose(
            table[col].to_numpy(), reference_column(ref, col), rtol=0, atol=1e-6
        )
    # Acceptance: Chisq and p within 1e-5 of R (measured: < 3e-8).
    np.testing.assert_allclose(table["Chisq"].to_numpy(), reference_column(ref, "Chisq"), rtol=0,
                               atol=1e-6)
    np.testing.assert_allclose(table["Pr(>Chisq)"].to_numpy(), reference_column(ref, "Pr(>Chisq)"),
                               rtol=1e-6, atol=1e-12)
    messages = case["messages"]
    messages = [messages] if isinstance(messages, str) else messages  # JSON unboxes one
    refitted = any("refitting" in m for m in messages)
    assert (REFIT_MESSAGE in table.attrs["messages"]) == refitted
    assert any(str(w.message) == REFIT_MESSAGE for w in caught) == refitted


def test_lm_loglik_matches_r():
    # R: logLik(lm(Reaction ~ Days, sleepstudy)) -950.1465 (df = 3); REML = TRUE: -946.8318
    fit = lm("Reaction ~ Days", mm.datasets.load("sleepstudy"))
    assert fit.npar == 3
    assert fit.loglik == pytest.approx(-950.146528178182, abs=1e-9)
    assert fit.loglik_at(reml=True) == pytest.approx(-946.8318317360545, abs=1e-6)
    assert fit.aic == pytest.approx(1906.29305635636, abs=1e-8)
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]


def test_lm_refuses_random_terms():
    with pytest.raises(FormulaError, match="lmer"):
        lm("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))


def test_anova_needs_two_models():
    fit = _fit_call("lm(Reaction ~ Days, sleepstudy)")
    with pytest.raises(MixedModelsError, match="at least two"):
        anova_models(fit)
    with pytest.raises(MixedModelsError, match="fitted models"):
        anova_models(fit, "not a model")


def test_anova_refuses_different_rows():
    sleep = mm.datasets.load("sleepstudy")
    a = lm("Reaction ~ Days", sleep)
    b = lm("Reaction ~ Days", sleep.iloc[:100])
    with pytest.raises(DataError, match="same size"):
        anova_models(a, b)


def test_refit_false_with_mixed_criteria_warns():
    sleep = mm.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reml = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    ml = lm("Reaction ~ Days", sleep)
    with pytest.warns(UserWarning, match="some models fit with REML"):
        table = anova_models(reml, ml, refit=False)
    assert table.loc["MODEL1", "logLik"] == pytest.approx(reml.loglik)
