"""The dense factor used to optimise small models against the blocked factor: the
same objective and the same analytic gradient, on every kind of design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from linalg_cases import CASES, case_data, crossed_frame

import mixedmodels as mm
from mixedmodels.linalg.dense_factor import DENSE_MAX_ORDER, DenseFactor
from mixedmodels.model import LinearMixedModel


def _data(name: str) -> pd.DataFrame:
    return case_data(name, crossed_frame(n=300, levels=(12, 5, 3)))


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("name", "formula", "kw"), CASES)
def test_dense_objective_and_gradient_match_the_blocked_factor(name, formula, kw, reml):
    model = LinearMixedModel.from_formula(formula, _data(name), reml=reml, **kw)
    objective, objective_gradient, _ = model._dense_functions()
    rng = np.random.default_rng(11)
    bounded = np.isfinite(model.lower)
    for _ in range(3):
        theta = np.where(bounded, rng.uniform(0.1, 1.5, model.ntheta),
                         rng.normal(0.0, 0.4, model.ntheta))
        f, grad = model.objective_gradient(theta)
        assert objective(theta) == pytest.approx(f, rel=1e-12)
        fd, gd = objective_gradient(theta)
        assert fd == pytest.approx(f, rel=1e-12)
        scale = max(float(np.max(np.abs(grad))), 1.0)
        assert np.max(np.abs(gd - grad)) / scale < 1e-9, (gd, grad)


@pytest.mark.parametrize(("name", "formula", "kw"), CASES)
def test_dense_estimates_match_the_blocked_factor(name, formula, kw):
    # the fit of a small model reads beta, u and vcov(beta) off the dense factor
    model = LinearMixedModel.from_formula(formula, _data(name), **kw)
    dense = DenseFactor(model.A, model._layout)
    theta = np.where(np.isfinite(model.lower), 0.8, 0.3)
    assert dense.update(theta)
    ev = model.evaluate(theta)  # the blocked factor
    np.testing.assert_allclose(dense.fixed_effects(), ev.beta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense.fixed_precision_inverse(), ev.vcov_unscaled,
                               rtol=1e-10, atol=1e-14)
    u_dense = dense.spherical_effects(ev.beta)
    u_blocked = model._chol.spherical_effects(ev.beta)
    assert len(u_dense) == len(u_blocked) == len(model.reterms)
    for a, b in zip(u_dense, u_blocked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_dense_factor_reports_a_factor_that_cannot_be_formed():
    model = LinearMixedModel.from_formula("Reaction ~ Days + (Days | Subject)",
                                          mm.datasets.load("sleepstudy"))
    factor = DenseFactor(model.A, model._layout)
    assert factor.update(np.array([1.0, 0.0, 1.0]))
    assert not factor.update(np.array([np.nan, 0.0, 1.0]))
    objective, objective_gradient, _ = model._dense_functions()
    assert objective(np.array([np.nan, 0.0, 1.0])) == np.inf
    f, g = objective_gradient(np.array([np.nan, 0.0, 1.0]))
    assert f == np.inf and np.all(np.isnan(g))


def test_small_models_are_optimised_with_the_dense_factor():
    sleep = mm.datasets.load("sleepstudy")
    model = LinearMixedModel.from_formula("Reaction ~ Days + (Days | Subject)", sleep)
    assert 18 * 2 + 2 + 1 <= DENSE_MAX_ORDER
    objective, _, hessian = model._optimised_functions()
    assert objective != model.objective and hessian is not None
