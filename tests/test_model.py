"""The model layer: lme4's term order, theta layout, refits, and the convergence alarms."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.model import LinearMixedModel, lme4_term_order, template_indices
from mixedmodels.optimize import minimize

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@pytest.mark.parametrize(
    ("nlevels", "order"),
    [
        ([18, 18], [0, 1]),          # no increase: formula order kept
        ([30, 10], [0, 1]),
        ([10, 30], [1, 0]),
        ([2, 5, 5], [2, 1, 0]),      # ties come out reversed, as R's rev(order())
        ([5, 2, 5], [2, 0, 1]),
    ],
)
def test_lme4_term_order(nlevels, order):
    assert lme4_term_order(nlevels) == order


def test_theta_is_the_lower_triangle_column_by_column():
    rows, cols = template_indices(3)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 0), (1, 0), (2, 0), (1, 1), (2, 1), (2, 2)
    ]


@pytest.fixture(scope="module")
def sleepstudy():
    return mm.datasets.load("sleepstudy")


def test_theta_layout_and_bounds(sleepstudy):
    model = LinearMixedModel.from_formula(
        "Reaction ~ Days + (Days | Subject) + (1 | Days)", sleepstudy
    )
    # Days has 10 levels, Subject 18: Subject first (more levels), as lme4
    assert [t.name for t in model.reterms] == ["Subject", "Days"]
    np.testing.assert_array_equal(model.lower, [0.0, -np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(model.initial_theta(), [1.0, 0.0, 1.0, 1.0])


def test_canonical_theta_negates_columns_and_keeps_the_objective(sleepstudy):
    # (1 + Days + x | Subject): 3 x 3 template, theta = l11 l21 l31 l22 l32 l33
    data = sleepstudy.assign(x=np.random.default_rng(1).normal(size=len(sleepstudy)))
    model = LinearMixedModel.from_formula("Reaction ~ Days + (1 + Days + x | Subject)", data)
    theta = np.array([0.8, -0.3, 0.2, -0.5, 0.4, -0.1])
    canonical = model.canonical_theta(theta)
    np.testing.assert_array_equal(canonical, [0.8, -0.3, 0.2, 0.5, -0.4, 0.1])
    assert model.objective(canonical) == pytest.approx(model.objective(theta), rel=1e-13)
    np.testing.assert_array_equal(model.canonical_theta(canonical), canonical)


def test_newton_mirrors_a_step_that_overshoots_a_bound(sleepstudy):
    # sleepstudy from lme4's start: the Newton step takes the slope's diagonal below
    # 0, where the objective at the bound is worse; the mirrored point is near the
    # optimum, and the optimum is the same as without mirroring
    runs = []
    for canonical in (False, True):
        model = LinearMixedModel.from_formula("Reaction ~ Days + (Days | Subject)", sleepstudy)
        with model.blas_threads():
            f, fg, fgh = model._optimised_functions()
            seen = []

            def mirror(x, model=model, seen=seen):
                seen.append(x.copy())
                return model.canonical_theta(x)

            opt = minimize(f, model.initial_theta(), model.lower, gradient=fg, hessian=fgh,
                           canonical=mirror if canonical else None)
        runs.append((opt, seen))
    (plain, _), (mirrored, seen) = runs
    assert seen and seen[0][2] < 0
    assert mirrored.optimizer == "Newton" and mirrored.check.ok
    assert mirrored.fmin <= plain.fmin + 1e-9
    np.testing.assert_allclose(mirrored.final, plain.final, rtol=1e-7)
    assert mirrored.feval < plain.feval


def test_fit_twice_is_refused(sleepstudy):
    model = LinearMixedModel.from_formula("Reaction ~ Days + (1 | Subject)", sleepstudy)
    model.fit()
    with pytest.raises(mm.MixedModelsError, match="fitted already"):
        model.fit()


def test_refit_with_the_same_response_gives_the_same_fit(sleepstudy):
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    again = fit.refit(sleepstudy["Reaction"].to_numpy())
    assert again.objective == pytest.approx(fit.objective, rel=1e-12)
    np.testing.assert_allclose(again.beta, fit.beta, rtol=1e-10)
    other = fit.refit(sleepstudy["Reaction"].to_numpy() * 2.0)
    np.testing.assert_allclose(other.beta, 2.0 * fit.beta, rtol=1e-6)


def test_update_switches_to_ml_and_changes_formula(sleepstudy):
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    ml = fit.update(reml=False)
    assert not ml.reml
    assert ml.objective == pytest.approx(1751.9393444890, rel=1e-8)
    smaller = fit.update("Reaction ~ Days + (1 | Subject)")
    assert len(smaller.theta) == 1


def test_simulate_is_reproducible_and_has_the_right_spread(sleepstudy):
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    a = fit.simulate(nsim=200, seed=42)
    b = fit.simulate(nsim=200, seed=42)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns[:2]) == ["sim_1", "sim_2"]
    # conditional on all random effects, only the residual noise is left
    cond = fit.simulate(nsim=400, seed=1, re_form="~(Days | Subject)")
    resid = cond.sub(fit.fitted(), axis=0).to_numpy()
    assert np.std(resid) == pytest.approx(fit.sigma, rel=0.02)
    # unconditional: the marginal variance of day-0 responses is sigma^2 + var(intercept)
    day0 = (sleepstudy["Days"] == 0).to_numpy()
    vc = fit.varcorr.to_frame()
    expected = vc.loc[0, "vcov"] + fit.sigma**2
    assert np.var(a.to_numpy()[day0]) == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize(
    "alarm", json.loads((REFERENCE_DIR / "convergence_alarms.json").read_text()),
    ids=lambda a: a["id"],
)
def test_no_false_convergence_alarm(alarm):
    """lme4 warns 'failed to converge' here; our optimum is as good or better, and silent."""
    data = pd.read_csv(REFERENCE_DIR / alarm["data_file"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = mm.lmer(alarm["formula"], data, reml=alarm["reml"])
    assert alarm["warnings"]  # lme4 did warn
    assert fit.converged
    assert not fit.warnings
    assert fit.objective <= alarm["objective"] + 1e-6 * abs(alarm["objective"])


def test_evaluate_agrees_with_the_profiled_objective(sleepstudy):
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    ev = fit.model.evaluate(fit.theta)
    for reml in (True, False):
        s = np.sqrt(ev.sigma2(reml))
        # at the profiled sigma the unprofiled deviance equals the profiled objective
        profiled = fit.model.objective(fit.theta, reml)
        assert ev.deviance(s, reml) == pytest.approx(profiled, rel=1e-12)
        # and sigma is its minimiser
        assert ev.deviance(s * 1.01, reml) > ev.deviance(s, reml)
        assert ev.deviance(s * 0.99, reml) > ev.deviance(s, reml)
    np.testing.assert_allclose(ev.beta, fit.beta, rtol=1e-12)
    np.testing.assert_allclose(fit.sigma**2 * ev.vcov_unscaled, fit.vcov.values, rtol=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_the_factor_after_a_gradient_is_the_factor_at_its_theta(reml):
    # the fit reads its estimates off the factor the optimiser's last evaluation left
    # (a gradient, usually); the gradient must not have overwritten any of it
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame({"g": rng.integers(0, 25, n).astype(str),
                          "h": rng.integers(0, 15, n).astype(str),
                          "u": rng.normal(size=n), "y": rng.normal(size=n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LinearMixedModel.from_formula("y ~ u + (1 + u | g) + (1 | h)", frame, reml=reml)
    theta = np.array([0.8, 0.1, 0.5, 0.6])
    model.objective_gradient(theta)
    cached = model.evaluate(theta)
    model.objective(theta * 1.1)  # elsewhere, then back: a fresh factor
    fresh = model.evaluate(theta)
    for name in ("pwrss", "ldL2", "ldRX2", "beta", "vcov_unscaled"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(fresh, name))


@pytest.mark.parametrize("most, optimizer", [(10, "secant Newton"), (0, "L-BFGS-B")])
def test_gradient_optimizer_reaches_bobyqas_optimum(monkeypatch, most, optimizer):
    import mixedmodels.optimize as optimize

    monkeypatch.setattr(optimize, "SECANT_MAX_PARAMS", most)

    rng = np.random.default_rng(11)
    n = 600
    frame = pd.DataFrame({"g": rng.integers(0, 30, n).astype(str),
                          "h": rng.integers(0, 12, n).astype(str),
                          "u": rng.normal(size=n)})
    gb = rng.normal(size=(30, 2))
    hb = rng.normal(size=(12, 2)) * 0.5
    gi, hi = frame["g"].astype(int), frame["h"].astype(int)
    frame["y"] = (gb[gi, 0] + hb[hi, 0] + (1.0 + gb[gi, 1] + hb[hi, 1]) * frame["u"]
                  + rng.normal(size=n))
    formula = "y ~ u + (1 + u | g) + (1 + u | h)"
    fast = mm.lmer(formula, frame)
    assert fast.optsummary.optimizer == optimizer
    monkeypatch.setattr(optimize, "GRADIENT_MIN_PARAMS", 100)
    monkeypatch.setattr(optimize, "SECANT_MAX_PARAMS", 0)
    slow = mm.lmer(formula, frame)
    assert slow.optsummary.optimizer == "LN_BOBYQA"
    assert fast.objective <= slow.objective + 1e-10 * abs(slow.objective)
    # the Newton iterations stop at a step below POLISH_SMALL_STEP (1e-6) whose
    # predicted decrease no evaluation of the objective can show
    atol = 1e-6 if optimizer == "secant Newton" else 1e-7
    np.testing.assert_allclose(fast.theta, slow.theta, rtol=1e-5, atol=atol)
    assert fast.optsummary.feval < slow.optsummary.feval
