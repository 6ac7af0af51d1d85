"""Kenward-Roger against pbkrtest 0.5.2 (vcovAdj, get_Lb_ddf) and lmerTest's KR tables.

At lme4's theta the numbers agree to ~1e-12: the formulas are evaluated in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest
from inference.conftest import fit_ids, max_rel

from mixedmodels import MixedModelsError
from mixedmodels.inference import kenward_roger_df, kr_adjustment, vcov_adjusted


@pytest.mark.parametrize("fit_id", fit_ids("kr_vcov_adj"))
def test_adjusted_vcov_and_df_match_pbkrtest(lmertest_case, fit_id):
    case = lmertest_case(fit_id)
    fit = case.at_r
    ref = np.array(case.record["kr_vcov_adj"], dtype=float)
    ours = vcov_adjusted(fit)
    # entries relative to the largest variance (some covariances are ~0)
    assert np.max(np.abs(ours - ref)) < 1e-9 * np.max(np.abs(np.diag(ref)))
    p = len(fit.beta)
    df = [kenward_roger_df(fit, np.eye(p)[i]) for i in range(p)]
    assert max_rel(df, case.record["kr_df"]) < 1e-8


@pytest.mark.parametrize("fit_id", fit_ids("coefficients_kr"))
def test_kr_t_tests_match_lmertest(lmertest_case, fit_id):
    case = lmertest_case(fit_id)
    ref = case.record["coefficients_kr"]
    table = case.at_r.coef_table(ddf="kenward-roger")
    assert max_rel(table["std_error"], ref["se"]) < 1e-8
    assert max_rel(table["df"], ref["df"]) < 1e-8
    assert max_rel(table["p_value"], ref["p"]) < 1e-6


def test_own_fit_within_acceptance(lmertest_case):
    case = lmertest_case("exam_slope")
    table = case.own.coef_table(ddf="kenward-roger")
    assert max_rel(table["df"], case.record["kr_df"]) < 1e-3


def test_ml_fit_is_refused(lmertest_case):
    fit = lmertest_case("sleepstudy_slope_ml").at_r
    with pytest.raises(MixedModelsError, match="only available for REML"):
        kr_adjustment(fit)
    with pytest.raises(MixedModelsError, match="only available for REML"):
        fit.anova(ddf="kenward-roger")


def test_adjusted_vcov_is_not_smaller(lmertest_case):
    # The adjustment adds the uncertainty of the variance parameters.
    kr = kr_adjustment(lmertest_case("oats_unbalanced").at_r)
    assert np.all(np.linalg.eigvalsh(kr.vcov_adjusted - kr.vcov) > -1e-10)
