"""Parametric bootstrap: reproducibility across processes, percentile intervals, lme4's
confint(method = "boot") (tests/reference/lme4_inference.json)."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import pytest
from reference.loader import inference_reference
from scipy import stats

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.bootstrap import (
    bootstrap,
    default_statistic,
    percentile_interval,
    predict_interval,
)


@lru_cache(maxsize=1)
def _sleep():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


def _mean_days(fit):
    return {"mean_fitted": float(fit.fitted().mean())}


def test_same_replicates_for_any_n_jobs():
    fit = _sleep()
    one = bootstrap(fit, 6, seed=11, n_jobs=1, statistic=_mean_days, progress=False)
    two = bootstrap(fit, 6, seed=11, n_jobs=2, statistic=_mean_days, progress=False)
    np.testing.assert_array_equal(one.replicates.to_numpy(), two.replicates.to_numpy())
    assert list(one.replicates.columns) == [".sig01", ".sig02", ".sig03", ".sigma",
                                            "(Intercept)", "Days", "mean_fitted"]
    other = bootstrap(fit, 6, seed=12, progress=False)
    assert not np.allclose(one.replicates["Days"], other.replicates["Days"])


def test_replicate_is_a_refit_of_a_simulation():
    """Replicate i refits the response drawn with SeedSequence(seed).spawn(nsim)[i]."""
    fit = _sleep()
    result = bootstrap(fit, 3, seed=5, progress=False)
    seq = np.random.SeedSequence(5).spawn(3)[2]
    y = fit.simulate(1, seed=np.random.default_rng(seq)).iloc[:, 0].to_numpy()
    refit = fit.model.with_response(y).fit(start=fit.theta)
    np.testing.assert_allclose(result.replicates.iloc[2].to_numpy(),
                               default_statistic(refit).to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(result.observed.to_numpy(),
                               default_statistic(fit).to_numpy(), rtol=0)


def test_progress_bar_only_when_asked(capsys):
    fit = _sleep()
    bootstrap(fit, 2, seed=1, progress=False)
    assert capsys.readouterr().err == ""
    bootstrap(fit, 2, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "bootstrap [" in err and "2/2" in err
    bootstrap(fit, 2, seed=1)  # default: only on a terminal, and pytest's stderr is not one
    assert capsys.readouterr().err == ""


def test_percentile_interval_is_boots_norm_inter():
    t = np.arange(1.0, 1000.0)  # R = 999: (R + 1) * 0.025 = 25 is an order statistic
    # (1 - 0.95) / 2 is 0.025000000000000022 in doubles, in R too: rk is a hair above 25
    assert percentile_interval(t, 0.95) == pytest.approx((25.0, 975.0), rel=1e-12)
    t = np.arange(1.0, 1001.0)  # R = 1000: rk = 25.025, interpolated on the normal scale
    z, z1, z2 = stats.norm.ppf([0.025, 25 / 1001, 26 / 1001])
    lower = 25 + (z - z1) / (z2 - z1)
    low, high = percentile_interval(t, 0.95)
    assert low == pytest.approx(lower, rel=1e-14)
    assert 975 < high < 976


def test_predict_interval_brackets_the_prediction():
    fit = _sleep()
    new = mm.datasets.load("sleepstudy").iloc[[0, 15]]
    out = predict_interval(fit, new, nsim=20, seed=3, re_form="~0", progress=False)
    assert list(out.columns) == ["fit", "lower", "upper"]
    np.testing.assert_allclose(out["fit"], fit.predict(new, re_form="~0"), rtol=1e-12)
    assert (out["lower"] < out["fit"]).all() and (out["fit"] < out["upper"]).all()
    with pytest.raises(MixedModelsError, match="method"):
        predict_interval(fit, new, method="delta")


def test_bad_nsim():
    with pytest.raises(MixedModelsError, match="nsim"):
        bootstrap(_sleep(), 0)


def _quantile_se(values: np.ndarray, p: float) -> float:
    """Standard error of the p-quantile of n draws, from order statistics: the ranks
    n p -/+ 1.96 sqrt(n p (1 - p)) bracket the quantile with 95% probability, so their
    values span about 2 x 1.96 standard errors (no density estimate needed)."""
    t = np.sort(values[np.isfinite(values)])
    n = len(t)
    d = math.ceil(1.96 * math.sqrt(n * p * (1 - p)))
    k = round(n * p)
    return (t[min(k + d, n - 1)] - t[max(k - d, 0)]) / (2 * 1.96)


@pytest.mark.slow
def test_bootstrap_1000_matches_lme4_within_monte_carlo_error():
    """1000 replicates on 2 processes, identical on 1; percentile intervals against lme4's
    confint(m, method = "boot", nsim = 1000) (another random stream, so the comparison
    is within Monte Carlo error).

    Allowance per bound: both ends are quantiles of 1000 draws, each with standard error
    se (estimated from our replicates by order statistics, ``_quantile_se``); their
    difference has sd sqrt(2) se, and 4 sqrt(2) se keeps the chance that any of the 12
    bounds fails by chance below 1e-3.
    """
    ref = inference_reference()["boot"]
    fit = _sleep()
    two = bootstrap(fit, 1000, seed=ref["seed"], n_jobs=2)
    one = bootstrap(fit, 1000, seed=ref["seed"], n_jobs=1, progress=False)
    np.testing.assert_array_equal(one.replicates.to_numpy(), two.replicates.to_numpy())
    assert two.n_failed == 0
    ci = two.percentile_intervals(0.95)
    table = ref["confint"]
    assert list(ci.index) == table["rows"]
    for j, p in ((0, 0.025), (1, 0.975)):
        col = ci.columns[j]
        for name, r_value in zip(table["rows"], table["columns"][col], strict=True):
            se = _quantile_se(two.replicates[name].to_numpy(), p)
            assert abs(ci.loc[name, col] - r_value) <= 4 * math.sqrt(2) * se, (name, col)
    # the replicate means agree too (sd / sqrt(1000) each)
    for name in table["rows"]:
        sd = ref["replicate_sd"][name]
        mean = np.nanmean(two.replicates[name])
        assert abs(mean - ref["replicate_mean"][name]) <= 4 * math.sqrt(2) * sd / math.sqrt(1000)
