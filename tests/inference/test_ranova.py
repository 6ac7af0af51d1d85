"""ranova and drop1 against lmerTest / lme4 (tests/reference/lme4_inference.json)."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest
from reference.loader import inference_reference, reference_column

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.ranova import drop1, marginal_terms, ranova


@cache
def _fit(case_id: str):
    case = next(c for c in inference_reference()["terms"] if c["id"] == case_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case, mm.lmer(case["formula"], mm.datasets.load(case["dataset"]),
                             reml=case["reml"])


CASES = [c["id"] for c in inference_reference()["terms"]]
DROP_CASES = [c["id"] for c in inference_reference()["terms"] if "drop1_chisq" in c]


@pytest.mark.parametrize("case_id", CASES)
def test_ranova_matches_lmertest(case_id):
    case, fit = _fit(case_id)
    table = ranova(fit)
    ref = case["ranova"]
    assert list(table.index) == ref["rows"]
    np.testing.assert_array_equal(table["npar"].to_numpy(), reference_column(ref, "npar"))
    np.testing.assert_array_equal(table["Df"].to_numpy(), reference_column(ref, "Df"))
    for col in ("logLik", "AIC", "LRT"):
        np.testing.assert_allclose(
            table[col].to_numpy(), reference_column(ref, col), rtol=0, atol=1e-6
        )
    np.testing.assert_allclose(table["Pr(>Chisq)"].to_numpy(), reference_column(ref, "Pr(>Chisq)"),
                               rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case_id", DROP_CASES)
def test_drop1_chisq_matches_lme4(case_id):
    case, fit = _fit(case_id)
    table = drop1(fit, test="Chisq")
    ref = case["drop1_chisq"]
    assert list(table.index) == ref["rows"]
    np.testing.assert_array_equal(table["npar"].to_numpy(), reference_column(ref, "npar"))
    np.testing.assert_allclose(
        table["AIC"].to_numpy(), reference_column(ref, "AIC"), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        table["LRT"].to_numpy(), reference_column(ref, "LRT"), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(table["Pr(Chi)"].to_numpy(), reference_column(ref, "Pr(Chi)"),
                               rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case_id", DROP_CASES)
def test_drop1_f_matches_lmertest(case_id):
    case, fit = _fit(case_id)
    table = drop1(fit)
    ref = case["drop1_f"]
    assert list(table.index) == ref["rows"]
    np.testing.assert_array_equal(table["NumDF"].to_numpy(), reference_column(ref, "NumDF"))
    # Satterthwaite's numbers (the single-model F-test code): the 1e-3 relative.
    for col in ("DenDF", "F value", "Pr(>F)", "Sum Sq"):
        np.testing.assert_allclose(table[col].to_numpy(), reference_column(ref, col), rtol=1e-3)


def test_marginal_terms_respect_hierarchy():
    _, fit = _fit("exam_interaction")
    assert marginal_terms(fit) == ["schgend", "standLRT:sex"]


def test_ranova_without_reduction_removes_whole_terms():
    _, fit = _fit("sleep_slope_reml")
    table = ranova(fit, reduce_terms=False)
    assert list(table.index) == ["<none>", "(Days | Subject)"]
    # Removing the only random term leaves a linear model: p + 1 parameters.
    assert table["npar"].tolist() == [6, 3]


def test_drop1_rejects_unknown_test():
    _, fit = _fit("sleep_slope_reml")
    with pytest.raises(MixedModelsError, match="test must be"):
        drop1(fit, test="LR")
