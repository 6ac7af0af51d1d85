"""ranova and drop1 against lmerTest / lme4 (tests/reference/lme4_inference.json)."""

from __future__ import annotations

import json
import warnings
from functools import cache, lru_cache

import numpy as np
import pytest
from reference.loader import REFERENCE_DIR

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.ranova import drop1, marginal_terms, ranova


@lru_cache(maxsize=1)
def _doc() -> dict:
    return json.loads((REFERENCE_DIR / "lme4_inference.json").read_text(encoding="utf-8"))


def _column(table: dict, name: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in table["columns"][name]], float)


@cache
def _fit(case_id: str):
    case = next(c for c in _doc()["terms"] if c["id"] == case_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case, mm.lmer(case["formula"], mm.datasets.load(case["dataset"]),
                             reml=case["reml"])


CASES = [c["id"] for c in _doc()["terms"]]
DROP_CASES = [c["id"] for c in _doc()["terms"] if "drop1_chisq" in c]


@pytest.mark.parametrize("case_id", CASES)
def test_ranova_matches_lmertest(case_id):
    case, fit = _fit(case_id)
    table = ranova(fit)
    ref = case["ranova"]
    assert list(table.index) == ref["rows"]
    np.testing.assert_array_equal(table["npar"].to_numpy(), _column(ref, "npar"))
    np.testing.assert_array_equal(table["Df"].to_numpy(), _column(ref, "Df"))
    for col in ("logLik", "AIC", "LRT"):
        np.testing.assert_allclose(table[col].to_numpy(), _column(ref, col), rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["Pr(>Chisq)"].to_numpy(), _column(ref, "Pr(>Chisq)"),
                               rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case_id", DROP_CASES)
def test_drop1_chisq_matches_lme4(case_id):
    case, fit = _fit(case_id)
    table = drop1(fit, test="Chisq")
    ref = case["drop1_chisq"]
    assert list(table.index) == ref["rows"]
    np.testing.assert_array_equal(table["npar"].to_numpy(), _column(ref, "npar"))
    np.testing.assert_allclose(table["AIC"].to_numpy(), _column(ref, "AIC"), rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["LRT"].to_numpy(), _column(ref, "LRT"), rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["Pr(Chi)"].to_numpy(), _column(ref, "Pr(Chi)"),
                               rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case_id", DROP_CASES)
def test_drop1_f_matches_lmertest(case_id):
    case, fit = _fit(case_id)
    table = drop1(fit)
    ref = case["drop1_f"]
    assert list(table.index) == ref["rows"]
    np.testing.assert_array_equal(table["NumDF"].to_numpy(), _column(ref, "NumDF"))
    # Satterthwaite's numbers (the single-model F-test code): the 1e-3 relative.
    for col in ("DenDF", "F value", "Pr(>F)", "Sum Sq"):
        np.testing.assert_allclose(table[col].to_numpy(), _column(ref, col), rtol=1e-3)


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
