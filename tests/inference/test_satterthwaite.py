"""Satterthwaite df and t tests against lmerTest (tests/reference/lmertest_fits.json).

At lme4's theta the only differences left are those of the numerical derivatives
(lmerTest's numDeriv against our Richardson extrapolation): measured up to 1e-5 relative
for df and 3e-4 for p-values (the smallest p-values move most with df).
"""

from __future__ import annotations

import numpy as np
import pytest
from inference.conftest import fit_ids, max_rel

from mixedmodels import MixedModelsError
from mixedmodels.inference import f_test, satterthwaite_df, t_test, varpar_covariance


@pytest.mark.parametrize("fit_id", fit_ids())
def test_coefficient_df_and_p_match_lmertest(lmertest_case, fit_id):
    case = lmertest_case(fit_id)
    ref = case.record["coefficients"]
    table = case.at_r.coef_table()
    assert list(table.index) == ref["names"]
    assert max_rel(table["estimate"], ref["estimate"]) < 1e-6
    assert max_rel(table["std_error"], ref["se"]) < 1e-6
    assert max_rel(table["df"], ref["df"]) < 1e-4
    assert max_rel(table["t_value"], ref["t"]) < 1e-6
    assert max_rel(table["p_value"], ref["p"]) < 1e-3


@pytest.mark.parametrize("fit_id", ["sleepstudy_slope", "exam_interaction", "chickweight"])
def test_own_fit_within_acceptance(lmertest_case, fit_id):
    # Our optimum differs from lme4's by ~1e-5 in theta; df within 1e-3 relative and
    # p within 1e-3 relative or 1e-10 absolute (the acceptance criterion).
    case = lmertest_case(fit_id)
    ref = case.record["coefficients"]
    table = case.own.coef_table()
    assert max_rel(table["df"], ref["df"]) < 1e-3
    p, ref_p = np.asarray(table["p_value"]), np.asarray(ref["p"])
    assert np.all(np.abs(p - ref_p) <= 1e-3 * ref_p + 1e-10)


def test_single_row_f_test_is_squared_t(lmertest_case):
    fit = lmertest_case("exam_interaction").at_r
    l = np.zeros(len(fit.beta))  # noqa: E741
    l[1] = 1.0
    t = t_test(fit, l)
    f = f_test(fit, l[None, :])
    assert f.f_value == pytest.approx(t.t_value**2, rel=1e-12)
    assert f.den_df == pytest.approx(t.df, rel=1e-12)
    assert satterthwaite_df(fit, l)[0] == pytest.approx(t.df, rel=1e-12)


def test_multi_row_contrast_matches_anova_row(lmertest_case):
    # schgend has 2 columns: its Type III row is an F test of a 2-row contrast.
    case = lmertest_case("exam_interaction")
    names = list(case.at_r.fixef.index)
    L = np.zeros((2, len(names)))
    L[0, names.index("schgendboys")] = 1.0
    L[1, names.index("schgendgirls")] = 1.0
    test = f_test(case.at_r, L)
    ref = case.record["anova"]["type3"]
    row = ref["terms"].index("schgend")
    assert test.num_df == 2
    assert test.f_value == pytest.approx(ref["f"][row], rel=1e-6)
    assert test.den_df == pytest.approx(ref["dendf"][row], rel=1e-4)


def test_hessian_is_positive_definite_and_cached(lmertest_case):
    fit = lmertest_case("sleepstudy_slope").at_r
    vp = varpar_covariance(fit)
    assert vp is varpar_covariance(fit)
    assert np.all(np.linalg.eigvalsh(vp.hessian) > 0)
    assert vp.messages == ()
    assert vp.jacobian.shape == (4, 2, 2)


def test_factor_is_restored_after_derivatives(lmertest_case):
    fit = lmertest_case("machines_nested").own
    varpar_covariance(fit)
    assert fit.model.objective(fit.theta) == pytest.approx(fit.objective, rel=1e-12)
    # ranef(cond_var=True) reads the factor: it must still be at the estimates.
    assert fit.ranef(cond_var=True)["Worker"].shape == (6, 1)


def test_bad_contrast_is_refused(lmertest_case):
    fit = lmertest_case("machines").at_r
    with pytest.raises(MixedModelsError, match="3 columns"):
        t_test(fit, [1.0, 0.0])
    with pytest.raises(MixedModelsError, match="finite"):
        f_test(fit, [[np.nan, 0.0, 1.0]])
    with pytest.raises(MixedModelsError, match="ddf must be"):
        t_test(fit, [1.0, 0.0, 0.0], ddf="bogus")
