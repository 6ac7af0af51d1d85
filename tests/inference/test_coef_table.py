"""coef_table and the lmerTest-style summary."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mixedmodels import MixedModelsError


def test_columns_and_intervals(lmertest_case):
    fit = lmertest_case("sleepstudy_slope").at_r
    table = fit.coef_table(level=0.9)
    assert list(table.columns) == ["estimate", "std_error", "df", "t_value", "p_value",
                                   "conf_low", "conf_high"]
    crit = stats.t.ppf(0.95, table["df"])
    assert np.allclose(table["conf_high"] - table["estimate"], crit * table["std_error"])
    assert np.allclose(table["estimate"] - table["conf_low"], crit * table["std_error"])


def test_no_ddf_gives_normal_tests(lmertest_case):
    fit = lmertest_case("machines").at_r
    table = fit.coef_table(ddf=None)
    assert np.all(np.isinf(table["df"]))
    assert np.allclose(table["std_error"], fit.std_errors)
    assert np.allclose(table["p_value"], 2 * stats.norm.sf(np.abs(table["t_value"])))
    assert np.allclose(table["conf_high"] - table["estimate"], 1.959964 * table["std_error"])


def test_bad_level(lmertest_case):
    with pytest.raises(MixedModelsError, match="level"):
        lmertest_case("machines").at_r.coef_table(level=1.5)


@pytest.mark.parametrize("fit_id", ["machines", "sleepstudy_slope", "sleepstudy_slope_ml"])
def test_summary_prints_as_lmertest(lmertest_case, fit_id):
    case = lmertest_case(fit_id)
    expected = case.record["summary_text"]
    # R printed the significance legend with typographic quotes (UTF-8 locale)
    expected = expected.replace("\u2018", "'").replace("\u2019", "'")
    assert str(case.at_r.summary()).rstrip("\n") == expected


def test_summary_without_ddf_is_lme4s(lmertest_case):
    text = str(lmertest_case("machines").at_r.summary(ddf=None))
    assert text.startswith("Linear mixed model fit by REML ['lmerMod']\n")
    assert "Pr(>|t|)" not in text
    kr = str(lmertest_case("machines").at_r.summary(ddf="kenward-roger"))
    assert kr.startswith("Linear mixed model fit by REML. t-tests use Kenward-Roger's method [\n"
                         "lmerModLmerTest]\n")
