"""Numerical robustness: extreme predictor scales, collinearity, boundary fits, |rho| -> 1."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

RTOL = 1e-6


def _close(a, b, what: str, rtol: float = RTOL) -> None:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-300)
    err = float(np.max(np.abs(a - b), initial=0.0)) / scale
    assert err <= rtol, f"{what}: relative difference {err:.3g}"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def _quiet_fit(formula: str, data: pd.DataFrame, **kw) -> mm.LmerFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data, **kw)


def _check_rescaled(sleep: pd.DataFrame, c: float, reml: bool) -> None:
    base = _quiet_fit("Reaction ~ Days + (1 | Subject)", sleep, reml=reml)
    scaled = _quiet_fit("Reaction ~ D + (1 | Subject)", sleep.assign(D=sleep["Days"] * c),
                        reml=reml)
    # beta_D = beta_Days / c; the intercept, sigma and theta do not change
    _close(scaled.beta * np.array([1.0, c]), base.beta, "beta (back-transformed)")
    _close(scaled.std_errors.to_numpy() * np.array([1.0, c]), base.std_errors.to_numpy(),
           "standard errors (back-transformed)")
    _close(scaled.sigma, base.sigma, "sigma")
    _close(scaled.theta, base.theta, "theta")
    _close(scaled.fitted().to_numpy(), base.fitted().to_numpy(), "fitted")
    if reml:  # log|X'V^-1X| moves by +2 log c
        _close(scaled.objective - 2.0 * np.log(c), base.objective, "REML criterion")
    else:
        _close(scaled.objective, base.objective, "deviance")


@pytest.mark.parametrize("c", [1e-8, 1e8])
@pytest.mark.parametrize("reml", [True, False])
def test_fixed_predictor_scale_does_not_change_the_fit(sleep, c: float, reml: bool) -> None:
    _check_rescaled(sleep, c, reml)


def _check_slope_rescaled(sleep: pd.DataFrame, c: float) -> None:
    base = _quiet_fit("Reaction ~ Days + (Days | Subject)", sleep)
    scaled = _quiet_fit("Reaction ~ D + (D | Subject)", sleep.assign(D=sleep["Days"] * c))
    _close(scaled.beta * np.array([1.0, c]), base.beta, "beta (back-transformed)")
    _close(scaled.sigma, base.sigma, "sigma")
    vb = base.varcorr.to_frame()
    vs = scaled.varcorr.to_frame()
    back = np.array([1.0, c, 1.0, 1.0])  # sd(Intercept), sd(D), cor, residual sd
    _close(vs["sdcor"].to_numpy() * back, vb["sdcor"].to_numpy(), "sd and correlation")
    # neither a false singular-fit message (theta is read in the predictor's units)
    # nor a convergence failure
    assert scaled.is_singular == base.is_singular
    assert scaled.converged


@pytest.mark.parametrize("c", [1e-8, 1e-3, 1e3, 1e8])
def test_random_slope_scale_does_not_change_the_fit(sleep, c: float) -> None:
    _check_slope_rescaled(sleep, c)


def test_collinear_fixed_effects_are_dropped_with_a_message(sleep) -> None:
    data = sleep.assign(D2=2.0 * sleep["Days"] - 1.0, D3=sleep["Days"])
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 2 columns.*\(D2, D3\)"):
        fit = mm.lmer("Reaction ~ Days + D2 + D3 + (1 | Subject)", data)
    assert fit.dropped_columns == ("D2", "D3")
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    assert any("rank deficient" in w for w in fit.warnings)
    reference = _quiet_fit("Reaction ~ Days + (1 | Subject)", sleep)
    _close(fit.beta, reference.beta, "beta", 1e-10)
    _close(fit.objective, reference.objective, "objective", 1e-12)


def test_zero_variance_is_singular_not_a_convergence_failure() -> None:
    dyestuff2 = mm.datasets.load("dyestuff2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mm.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)
    messages = [str(w.message) for w in caught]
    assert fit.is_singular
    assert fit.theta[0] == 0.0
    assert fit.converged
    assert any("singular" in m for m in messages)
    assert not any("failed to converge" in m for m in messages + list(fit.warnings))


def _correlated(rho: float, seed: int = 1, groups: int = 60, per: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, rho * 0.5], [rho * 0.5, 0.25]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
    g = np.repeat(np.arange(groups), per)
    x = np.tile(np.linspace(-1, 1, per), groups)
    y = 1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + 0.3 * rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{v:02d}" for v in g]})


@pytest.mark.parametrize("rho", [0.999, -0.999])
def test_near_singular_correlation_converges(rho: float) -> None:
    data = _correlated(rho)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mm.lmer("y ~ x + (x | g)", data, reml=False)
    assert fit.converged, fit.warnings
    assert not any("failed to converge" in str(w.message) for w in caught)
    cor = fit.varcorr.to_frame()
    estimate = float(cor.loc[cor["var2"].notna() & (cor["grp"] == "g"), "sdcor"].iloc[0])
    assert np.sign(estimate) == np.sign(rho) and abs(estimate) > 0.9
    # a local minimum: the objective does not go down around the optimum
    for i in range(len(fit.theta)):
        for step in (1e-4, -1e-4):
            t = fit.theta.copy()
            t[i] += step
            t = np.maximum(t, fit.model.lower)
            assert fit.model.objective(t) >= fit.objective - 1e-7
