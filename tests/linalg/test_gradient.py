"""The analytic gradient of the profiled objective against Richardson-extrapolated
finite differences, on designs covering every storage kind of the factor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from linalg_cases import (
    CASES,
    FACTOR_CASES,
    case_data,
    crossed_frame,
    dense_logdet_blocks,
    factor_with_plans,
)

import mixedmodels as mm
from mixedmodels.inference._numderiv import jacobian
from mixedmodels.linalg import gradient, products
from mixedmodels.model import LinearMixedModel

RTOL = 1e-7


def _data(name: str) -> pd.DataFrame:
    return case_data(name, crossed_frame())


@pytest.fixture(params=["invertible", "general"])
def route(request, monkeypatch) -> str:
    """How later terms' blocks are computed: with the inverse of their templates
    wherever it applies, or everywhere by the formula without it (the bound on the
    template diagonals raised)."""
    if request.param == "general":
        monkeypatch.setattr(gradient, "TRACE_MIN_DIAGONAL", np.inf)
    return request.param


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("name", "formula", "kw"), CASES)
def test_gradient_matches_finite_differences(name, formula, kw, reml, route) -> None:
    model = LinearMixedModel.from_formula(formula, _data(name), reml=reml, **kw)
    rng = np.random.default_rng(7)
    bounded = np.isfinite(model.lower)
    for _ in range(2):
        theta = np.where(bounded, rng.uniform(0.2, 1.5, model.ntheta),
                         rng.normal(0.0, 0.4, model.ntheta))
        f, grad = model.objective_gradient(theta)
        assert f == pytest.approx(model.objective(theta), rel=1e-14)
        fd = jacobian(lambda t: np.array([model.objective(t)]), theta)[:, 0]
        scale = max(float(np.max(np.abs(fd))), 1.0)
        assert np.max(np.abs(grad - fd)) / scale < RTOL, (grad, fd)


def test_gradient_on_the_boundary(route) -> None:
    # theta_3 = 0 (a singular template): the formulas hold without inverting Lambda.
    # The objective is even in a zero diagonal (flip the sign of that spherical
    # effect), so that derivative is 0; the others match finite differences.
    model = LinearMixedModel.from_formula("Reaction ~ Days + (Days | Subject)",
                                          mm.datasets.load("sleepstudy"))
    theta = np.array([0.9, 0.1, 0.0])
    _, grad = model.objective_gradient(theta)
    assert model.objective(theta + [0, 0, 1e-3]) == pytest.approx(
        model.objective(theta - [0, 0, 1e-3]), rel=1e-13)
    assert grad[2] == 0.0
    fd = jacobian(lambda t: np.array([model.objective(np.append(t, 0.0))]), theta[:2])[:, 0]
    np.testing.assert_allclose(grad[:2], fd, rtol=1e-7)


def test_gradient_is_zero_at_the_optimum() -> None:
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    model = LinearMixedModel.from_formula("Reaction ~ Days + (Days | Subject)",
                                          mm.datasets.load("sleepstudy"))
    _, grad = model.objective_gradient(fit.theta)
    assert np.max(np.abs(grad)) < 1e-4


def test_gradient_on_a_sparse_design(route) -> None:
    # Few rows per level of g among many levels of h: L_T0 is sparse.
    rng = np.random.default_rng(4)
    n = 3000
    frame = pd.DataFrame({"g": rng.integers(0, 600, n).astype(str),
                          "h": rng.integers(0, 300, n).astype(str),
                          "x": rng.normal(size=n)})
    frame["y"] = frame["x"] + rng.normal(size=n)
    model = LinearMixedModel.from_formula("y ~ x + (1 | g) + (1 | h)", frame)
    theta = np.array([0.6, 0.9])
    _, grad = model.objective_gradient(theta)
    fd = jacobian(lambda t: np.array([model.objective(t)]), theta)[:, 0]
    np.testing.assert_allclose(grad, fd, rtol=RTOL)


@pytest.mark.parametrize("reml", [True, False])
def test_gradient_with_a_block_of_A_stored_dense(reml, route) -> None:
    # The Dask path hands dense off-diagonal blocks of A to the factor: the gradient
    # reads their pattern as every level pair and agrees with the sparse storage.
    from mixedmodels.linalg.cholesky import CrossProducts

    frame = crossed_frame(5)
    formula = "y ~ x + (1 + u | g) + (1 + u | h) + (1 | i)"
    sparse = LinearMixedModel.from_formula(formula, frame, reml=reml)
    A = sparse.A
    off = {key: block.toarray() if key == (1, 0) else block for key, block in A.off.items()}
    dense = LinearMixedModel.from_cross_products(
        sparse.design, CrossProducts(A.diag, off, A.xz, A.xx), n=sparse.n, reml=reml)
    assert isinstance(dense.A.off[(1, 0)], np.ndarray)
    theta = np.where(np.isfinite(sparse.lower), 0.8, 0.2)
    f, grad = dense.objective_gradient(theta)
    f_ref, grad_ref = sparse.objective_gradient(theta)
    assert f == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-9 * np.abs(grad_ref).max())


@pytest.mark.parametrize("dense_route", [False, True])
@pytest.mark.parametrize("direct_fill", [0.0, 2.0])
@pytest.mark.parametrize("with_x", [True, False])
@pytest.mark.parametrize("mode", ["chosen", "none", "sparse", "dense", "split"])
@pytest.mark.parametrize("name", list(FACTOR_CASES))
def test_logdet_blocks_match_the_dense_reference(name, mode, with_x, direct_fill,
                                                dense_route, monkeypatch) -> None:
    # The first term's blocks read L_T0' Omega L_T0 through every kind of fill plan
    # (the transposed products), without plans, or by the triangular solve of the
    # dense route (forced on or off, whatever the blocks): the same as M^{-1} Lambda' A
    # formed densely.
    monkeypatch.setattr(products, "_DIRECT_FILL", direct_fill)
    chol, lams = factor_with_plans(name, mode)
    assert chol.update(lams)
    grad = gradient.ObjectiveGradient(chol, with_x)
    grad.route.dense = dense_route
    for a, b in zip(grad.logdet(lams), dense_logdet_blocks(chol, lams, with_x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())
    # Z' res from A's blocks equals Lambda^{-T} u (the normal equations of u)
    beta = chol.fixed_effects()
    u = chol.spherical_effects(beta)
    from_a = gradient.residual_products_from_a(chol, lams, u, beta)
    for lam, uj, a in zip(lams, u, from_a, strict=True):
        g = uj.reshape(-1, lam.shape[0])
        b = np.linalg.solve(lam.T, g.T @ g)
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8 * np.abs(b).max())


@pytest.mark.parametrize("dense_route", [False, True])
@pytest.mark.parametrize("with_x", [True, False])
@pytest.mark.parametrize("name", ["vector crossed", "vector three crossed", "k0 = 3",
                                  "scalar first, vector later"])
def test_logdet_blocks_with_a_singular_first_template(name, with_x, dense_route) -> None:
    # The first term's formula needs no inverse of its template: a zero diagonal
    # there (and the whole template at zero) against the dense reference, by either
    # way of forming H_g.
    chol, lams = factor_with_plans(name, "chosen")
    for zero in (np.s_[-1, -1], np.s_[:, :]):
        lams[0] = lams[0].copy()
        lams[0][zero] = 0.0
        assert chol.update(lams)
        grad = gradient.ObjectiveGradient(chol, with_x)
        grad.route.dense = dense_route
        for a, b in zip(grad.logdet(lams), dense_logdet_blocks(chol, lams, with_x), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


def test_dense_route_is_chosen_where_every_block_is_dense() -> None:
    # fully crossed terms without fill plans: the triangular solve; with plans (or a
    # sparse block below the first term) the products
    chol, _ = factor_with_plans("vector three crossed", "none")
    assert gradient.ObjectiveGradient(chol, True).route.dense
    chol, _ = factor_with_plans("vector three crossed", "sparse")
    assert not gradient.ObjectiveGradient(chol, True).route.dense
    chol, _ = factor_with_plans("nested then crossed", "none")
    assert not gradient.ObjectiveGradient(chol, False).route.dense


def test_trace_route_cost_counts_the_plans() -> None:
    # the cost estimate grows with a plan's nonzeros; without plans (every block dense
    # here) it is the dense route's: the triangular solve with [Lambda_T' A_T0, I]
    chol, _ = factor_with_plans("scalar crossed", "sparse")
    with_plans = gradient.gradient_cost(chol, False)
    chol.plans = {}
    without = gradient.gradient_cost(chol, False)
    assert with_plans[0] == without[0] == 22
    assert with_plans[1] > 22.0**3
    assert without[1] == 22.0**2 * (chol.nlevels[0] * chol.ncoef[0] + 22)


@pytest.mark.parametrize("with_x", [True, False])
@pytest.mark.parametrize("mode", ["chosen", "none", "sparse", "dense", "split"])
@pytest.mark.parametrize("name", list(FACTOR_CASES))
def test_logdet_blocks_with_singular_later_templates(name, mode, with_x) -> None:
    # A later template with a zero diagonal (or all zero) cannot be inverted: its
    # blocks come from Omega_TT Lambda_T' (A_TT - B), with B the fill of T before
    # scaling, through every kind of plan; against the dense reference.
    chol, lams = factor_with_plans(name, mode)
    for j in range(1, chol.m):
        for zero in (np.s_[-1, -1], np.s_[:, :]):
            lam = [t.copy() for t in lams]
            lam[j][zero] = 0.0
            assert chol.update(lam)
            grad = gradient.ObjectiveGradient(chol, with_x)
            kinds = gradient._later_kinds(lam)
            assert kinds[j] == ("zero" if lam[j].shape == (1, 1) else "singular")
            for a, b in zip(grad.logdet(lam), dense_logdet_blocks(chol, lam, with_x), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())
