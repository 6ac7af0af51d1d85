"""Simulation-based (DHARMa) scaled residuals and their tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedmodels as mm
from mixedmodels.diagnostics import simulated_residuals
from mixedmodels.diagnostics.simulated_residuals import scaled_quantile_residuals
from mixedmodels.errors import MixedModelsError


def _data(seed: int, quadratic: float) -> pd.DataFrame:
    """30 groups of 10: y = 1 + x/2 + quadratic x^2 + b_g + e, b_g and e standard normal."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 10)
    x = rng.uniform(-2, 2, 300)
    y = 1 + 0.5 * x + quadratic * x**2 + rng.normal(0, 1, 30)[g] + rng.normal(0, 1, 300)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})


def test_pit_definition() -> None:
    observed = np.array([0.5, 2.0, -5.0, 1.0])
    simulated = np.array([[0.0, 1.0, 2.0, 3.0]] * 4)
    res = scaled_quantile_residuals(observed, simulated, np.random.default_rng(0))
    np.testing.assert_allclose(res[[0, 2]], [0.25, 0.0])
    assert 0.5 <= res[1] <= 0.75  # one tie at 2: between 2/4 and 3/4
    assert 0.25 <= res[3] <= 0.5


def test_residuals_and_reproducibility(sleep_fit: mm.LmerFit) -> None:
    a = simulated_residuals(sleep_fit, nsim=100, seed=5)
    b = simulated_residuals(sleep_fit, nsim=100, seed=5)
    pd.testing.assert_series_equal(a.residuals, b.residuals)
    assert a.simulated.shape == (180, 100)
    assert a.residuals.between(0, 1).all()
    expected = (a.simulated < a.observed[:, None]).mean(axis=1)
    np.testing.assert_allclose(a.residuals, expected)  # continuous: no ties
    np.testing.assert_allclose(a.predicted, sleep_fit.predict(re_form="~0"))
    c = simulated_residuals(sleep_fit, nsim=100, seed=5, re_form="~(Days | Subject)")
    np.testing.assert_allclose(c.predicted, sleep_fit.fitted())


def test_tests_as_numbers(sleep_fit: mm.LmerFit) -> None:
    sim = simulated_residuals(sleep_fit, seed=1)
    table = sim.tests()
    assert list(table.index) == ["uniformity (KS)", "dispersion", "outliers", "quantiles"]
    ks = stats.kstest(sim.residuals, "uniform")
    assert table.loc["uniformity (KS)", "p_value"] == pytest.approx(ks.pvalue, rel=1e-12)
    disp = sim.test_dispersion()
    observed = np.var(sim.observed - sim.predicted, ddof=1)
    simulated = np.var(sim.simulated - sim.predicted[:, None], axis=0, ddof=1)
    assert disp.statistic == pytest.approx(observed / simulated.mean(), rel=1e-12)
    assert 0.8 < disp.statistic < 1.2  # a correct model reproduces the spread
    out = sim.test_outliers()
    n_out = int(((sim.residuals == 0) | (sim.residuals == 1)).sum())
    assert out.statistic == n_out
    assert out.details["expected"] == pytest.approx(180 * 2 / 251)
    assert out.p_value == pytest.approx(
        stats.binomtest(n_out, 180, 2 / 251).pvalue, rel=1e-12)
    assert (table["p_value"] > 0.05).all()


def test_reference_residuals_are_ranks(sleep_fit: mm.LmerFit) -> None:
    sim = simulated_residuals(sleep_fit, nsim=20, seed=2)
    ref = sim.reference_residuals()
    both = np.column_stack([sim.observed, sim.simulated])
    s = 7
    expected = (np.delete(both, s + 1, axis=1) < sim.simulated[:, [s]]).mean(axis=1)
    np.testing.assert_allclose(ref[:, s], expected)


def test_detects_missing_quadratic() -> None:
    fit = mm.lmer("y ~ x + (1 | g)", _data(0, quadratic=0.5))
    sim = simulated_residuals(fit, seed=0)
    assert sim.test_quantiles().p_value < 0.01
    right = mm.lmer("y ~ x + I(x^2) + (1 | g)", _data(0, quadratic=0.5))
    assert simulated_residuals(right, seed=0).test_quantiles().p_value > 0.05


def test_detects_overdispersion() -> None:
    data = _data(1, quadratic=0.0)
    fit = mm.lmer("y ~ x + (1 | g)", data)
    sim = simulated_residuals(fit, seed=1)
    # the same simulations compared with responses spread twice as far
    wider = type(sim)(sim.residuals, sim.predicted + 2 * (sim.observed - sim.predicted),
                      sim.simulated, sim.predicted, sim.nsim)
    assert wider.test_dispersion().statistic > 3.0
    assert wider.test_dispersion().p_value < 0.01


def test_bad_nsim(sleep_fit: mm.LmerFit) -> None:
    with pytest.raises(MixedModelsError, match="nsim"):
        simulated_residuals(sleep_fit, nsim=1)


@pytest.mark.slow
def test_uniformity_not_systematically_small_on_correct_models() -> None:
    pvalues = []
    for seed in range(50):
        fit = mm.lmer("y ~ x + (1 | g)", _data(seed, quadratic=0.0))
        sim = simulated_residuals(fit, seed=seed)
        pvalues.append(sim.test_uniformity().p_value)
    pvalues = np.array(pvalues)
    # at level 0.05, at most 7 of 50 rejections (P(Binomial(50, 0.05) > 7) = 0.003)
    assert np.sum(pvalues < 0.05) <= 7
    assert np.median(pvalues) > 0.3


@pytest.mark.slow
def test_missing_quadratic_detected_over_seeds() -> None:
    detected = 0
    for seed in range(20):
        fit = mm.lmer("y ~ x + (1 | g)", _data(100 + seed, quadratic=0.5))
        detected += simulated_residuals(fit, seed=seed).test_quantiles().p_value < 0.05
    assert detected >= 17
