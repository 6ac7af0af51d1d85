"""LmerFit's accessors beyond the reference numbers: predict, residuals, coef, messages."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


@pytest.fixture(scope="module")
def sleepstudy():
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleepstudy):
    return mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)


def test_predict_on_new_data_equals_fitted_rows(fit, sleepstudy):
    new = sleepstudy.iloc[[5, 17, 100]]
    np.testing.assert_allclose(fit.predict(new).values, fit.fitted().iloc[[5, 17, 100]].values,
                               rtol=1e-12)
    pop = fit.predict(new, re_form="~0").values
    np.testing.assert_allclose(pop, fit.fixef["(Intercept)"] + fit.fixef["Days"] * new["Days"])
    assert list(fit.predict(new).index) == list(new.index)


def test_predict_with_a_subset_of_terms(sleepstudy):
    fit = mm.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleepstudy)
    only_intercepts = fit.predict(re_form="~(1 | Subject)").to_numpy()
    b = fit.ranef()["Subject"]
    codes = sleepstudy["Subject"].cat.codes.to_numpy()
    expected = fit.predict(re_form="~0").to_numpy() + b["(Intercept)"].to_numpy()[codes]
    np.testing.assert_allclose(only_intercepts, expected, rtol=1e-12)
    with pytest.raises(mm.DataError, match="not in the model"):
        fit.predict(re_form="~(1 | Days)")


def test_new_levels(fit, sleepstudy):
    new = pd.DataFrame({"Days": [0.0, 3.0], "Subject": ["999", "308"]})
    with pytest.raises(mm.DataError, match="999"):
        fit.predict(new)
    out = fit.predict(new, allow_new_levels=True).to_numpy()
    assert out[0] == pytest.approx(fit.fixef["(Intercept)"])
    assert out[1] == pytest.approx(fit.predict(sleepstudy.iloc[[3]]).iloc[0])


def test_coef_adds_fixed_and_random(fit):
    coef = fit.coef()["Subject"]
    ranef = fit.ranef()["Subject"]
    np.testing.assert_allclose(coef["Days"], fit.fixef["Days"] + ranef["Days"])
    assert list(coef.columns) == ["(Intercept)", "Days"]


def test_residuals(sleepstudy):
    w = 1.0 + (sleepstudy["Days"] % 3)
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy.assign(w=w), weights="w")
    response = fit.residuals()
    np.testing.assert_allclose(response + fit.fitted(), sleepstudy["Reaction"])
    pearson = fit.residuals(kind="pearson", scaled=True)
    np.testing.assert_allclose(pearson, response * np.sqrt(w) / fit.sigma)
    with pytest.raises(ValueError, match="kind"):
        fit.residuals(kind="deviance")


def test_missing_rows_are_dropped_and_counted(sleepstudy):
    data = sleepstudy.copy()
    data.loc[[0, 7, 50], "Reaction"] = np.nan
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert fit.nobs == 177
    assert fit.n_dropped_na == 3
    assert len(fit.fitted()) == 177
    assert 0 not in fit.fitted().index


def test_scale_warning(sleepstudy):
    data = sleepstudy.assign(big=sleepstudy["Days"] * 1e5 + np.arange(len(sleepstudy)))
    with pytest.warns(UserWarning, match="very different scales"):
        fit = mm.lmer("Reaction ~ Days + big + (1 | Subject)", data)
    assert any("very different scales" in m for m in fit.warnings)


def test_singular_fit_message():
    data = mm.datasets.load("dyestuff2")
    with pytest.warns(UserWarning, match="boundary"):
        fit = mm.lmer("Yield ~ 1 + (1 | Batch)", data)
    assert fit.is_singular
    assert fit.converged  # a variance at zero is not a convergence failure


def test_integer_grouping_column_is_a_factor(sleepstudy):
    data = sleepstudy.assign(Subject=sleepstudy["Subject"].astype(str).astype(int))
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert fit.ngroups == {"Subject": 18}
    assert fit.objective == pytest.approx(1743.6282719, rel=1e-9)


def test_pyarrow_table_is_accepted(sleepstudy):
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pandas(sleepstudy)
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", table)
    assert fit.objective == pytest.approx(1743.6282719, rel=1e-9)


def test_offset(sleepstudy):
    off = 2.5 * sleepstudy["Days"]
    with_offset = mm.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy.assign(off=off),
                          offset="off")
    plain = mm.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    # an offset proportional to a predictor shifts that coefficient only
    assert with_offset.fixef["Days"] == pytest.approx(plain.fixef["Days"] - 2.5, rel=1e-6)
    assert with_offset.objective == pytest.approx(plain.objective, rel=1e-9)
    new = sleepstudy.assign(off=off).iloc[:4]
    np.testing.assert_allclose(with_offset.predict(new), with_offset.fitted().iloc[:4])


def test_repr_and_no_warning_for_clean_fit(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert "REML" in repr(fit)
    assert fit.optsummary.feval > 0 and fit.optsummary.return_code.endswith("REACHED")


def test_polars_frame_is_accepted(sleepstudy):
    pl = pytest.importorskip("polars")
    frame = pl.from_pandas(sleepstudy.assign(Subject=sleepstudy["Subject"].astype(str)))
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", frame)
    assert fit.objective == pytest.approx(1743.6282719, rel=1e-9)


def test_model_check_methods_delegate(fit):
    assert fit._repr_latex_() == "$$" + fit.equation() + "$$"
    assert r"\sim N" in fit.equation()
    assert "251.4" in fit.equation(estimates=True)
    sim = fit.simulated_residuals(nsim=40, seed=3)
    again = fit.simulated_residuals(nsim=40, seed=3)
    np.testing.assert_array_equal(sim.residuals, again.residuals)
    assert list(sim.tests().index)[0].startswith("uniformity")


def test_anova_dispatches_on_the_number_of_models(fit, sleepstudy):
    pd.testing.assert_frame_equal(mm.anova(fit), fit.anova())
    with pytest.warns(UserWarning, match="refitting"):
        table = mm.anova(mm.lmer("Reaction ~ 1 + (Days | Subject)", sleepstudy), fit)
    # R: anova(m0, m1) Chisq 23.537 on 1 df
    assert table["Chisq"].iloc[1] == pytest.approx(23.5365, rel=1e-4)
    with pytest.raises(TypeError):
        mm.anova()


def test_inference_methods_delegate(fit):
    wald = fit.confint(method="wald")
    assert list(wald.index) == [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]
    assert wald.loc["Days"].iloc[0] < fit.fixef["Days"] < wald.loc["Days"].iloc[1]
    assert "Days" in fit.drop1().index
    assert len(fit.ranova()) == 2


def test_profile_is_a_data_frame():
    fit = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("dyestuff"))
    prof = fit.profile(which=[".sigma"])
    assert isinstance(prof, pd.DataFrame)
    assert {"parameter", "zeta", "value"} <= set(prof.columns)
    assert set(prof["parameter"]) == {".sigma"}
    # zeta is 0 at the estimate and changes sign across it
    assert prof["zeta"].min() < 0 < prof["zeta"].max()
