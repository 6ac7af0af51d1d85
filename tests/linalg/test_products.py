"""Precomputed fill products (linalg/products.py) against the generic sparse products.

Each design is factored twice for the same templates: with the plans the factor chose,
or with a plan forced on every dense target (all columns through the sparse plan, all
through the dense columns, or a split), and with no plans at all (scipy products).
Every stored block of L must agree to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.linalg import BlockedCholesky, cross_products, products
from mixedmodels.linalg.blocks import (
    SparseBlock,
    sandwich,
    small_matmul,
    times_lower_transpose,
)
from mixedmodels.linalg.products import CrossPlan, FillPlan, split_columns


def _design(rng, n, terms):
    """Codes and z for terms (nlevels, k, nested_in, unused): ``unused`` levels get no rows;
    a nested term takes its level from an earlier term's level."""
    codes, z = [], []
    for nlev, k, parent, unused in terms:
        used = nlev - unused
        if parent is None:
            c = rng.integers(0, used, n)
            c[:used] = rng.permutation(used)
        else:
            c = codes[parent] % used
        # move the unused levels into the middle of the range
        c = np.where(c >= used // 2, c + unused, c)
        codes.append(c)
        zz = np.ones((n, k))
        if k > 1:
            zz[:, 1:] = rng.normal(size=(n, k - 1))
        z.append(zz)
    return codes, z


def _lam(rng, k):
    lam = np.tril(rng.normal(size=(k, k)))
    lam[np.diag_indices(k)] = np.abs(lam[np.diag_indices(k)]) + 0.3
    return lam


CASES = {
    # (nlevels, k, nested_in, unused levels)
    "vector crossed": [(40, 2, None, 0), (9, 2, None, 0)],
    "vector three crossed": [(50, 2, None, 3), (12, 2, None, 2), (5, 2, None, 1)],
    "vector first, scalar later": [(45, 2, None, 0), (10, 1, None, 2), (4, 1, None, 0)],
    "scalar first, vector later": [(45, 1, None, 2), (10, 3, None, 0), (6, 2, None, 1)],
    "scalar crossed": [(60, 1, None, 4), (15, 1, None, 1), (7, 1, None, 0)],
    "k0 = 3": [(30, 3, None, 0), (8, 2, None, 1)],
    "nested then crossed": [(48, 2, None, 0), (12, 2, 0, 0), (7, 2, None, 2)],
    "crossed then nested": [(48, 2, None, 2), (9, 1, None, 0), (3, 2, 1, 0)],
}


def _factor(terms, seed, plans=None):
    rng = np.random.default_rng(seed)
    n = 400
    codes, z = _design(rng, n, terms)
    nlevels = [t[0] for t in terms]
    xy = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    chol = BlockedCholesky(cross_products(codes, z, nlevels, xy))
    lams = [_lam(rng, t[1]) for t in terms]
    return chol, lams


def _blocks(chol):
    out = {}
    for j, d in enumerate(chol.diag):
        out[f"diag{j}"] = d.copy() if chol.blockdiag[j] else np.tril(d)
    for key, b in chol.off.items():
        out[f"off{key}"] = b.data.copy() if isinstance(b, SparseBlock) else b.copy()
    for j, x in enumerate(chol.x):
        out[f"x{j}"] = x.copy()
    out["xx"] = np.tril(chol.xx)
    return out


def _dense_targets(chol):
    for j in range(1, chol.m):
        for i in range(j, chol.m):
            dense = not chol.blockdiag[j] if i == j else not chol.sparse_off[(i, j)]
            if dense:
                yield i, j


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        scale = max(1.0, float(np.max(np.abs(b[key]), initial=0.0)))
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12 * scale, err_msg=key)


@pytest.mark.parametrize("mode", ["chosen", "sparse", "dense", "split"])
@pytest.mark.parametrize("name", list(CASES))
def test_plans_match_generic_products(name, mode):
    _check_plans(name, mode)


@pytest.mark.parametrize("direct_fill", [0.0, 2.0])
@pytest.mark.parametrize("name", ["scalar crossed", "vector first, scalar later"])
def test_scalar_layouts_match(name, direct_fill, monkeypatch):
    """Scalar targets written in place (any fill) or through the met pairs (never)."""
    monkeypatch.setattr(products, "_DIRECT_FILL", direct_fill)
    _check_plans(name, "sparse")


def _check_plans(name, mode):
    seed = sum(map(ord, name))
    chol, lams = _factor(CASES[name], seed)
    if mode != "chosen":
        chol.plans = {}
        rng = np.random.default_rng(seed + 1)
        for i, j in _dense_targets(chol):
            a_i, a_j = chol.A.off[(i, 0)], chol.A.off[(j, 0)]
            l0 = a_i.ncol_levels
            heavy = {"sparse": np.zeros(l0, bool), "dense": np.ones(l0, bool),
                     "split": rng.random(l0) < 0.3}[mode]
            chol.plans[(i, j)] = FillPlan(a_i, a_j, i == j, heavy)
        assert chol.plans, "the case should have a dense target"
    assert chol.update(lams)
    with_plans = _blocks(chol)
    chol.plans = {}
    assert chol.update(lams)
    _assert_same(with_plans, _blocks(chol))


def test_plan_layouts():
    """Scalar targets accumulate directly; vector targets go through level pairs."""
    chol, _ = _factor(CASES["vector first, scalar later"], 3)
    plan = CrossPlan(chol.A.off[(1, 0)], chol.A.off[(1, 0)], lower_only=True)
    assert plan.direct and not plan.by_level
    chol, _ = _factor(CASES["scalar first, vector later"], 4)
    plan = CrossPlan(chol.A.off[(2, 0)], chol.A.off[(1, 0)], lower_only=False)
    assert not plan.direct and plan.by_level
    assert plan.npairs == len(np.unique(plan.targets // (3 * 2)))  # not all pairs met


def test_split_respects_budget(monkeypatch):
    # dense products made expensive: only the budget moves columns to them
    monkeypatch.setattr(products, "COST_DENSE", 1e3)
    chol, _ = _factor(CASES["scalar crossed"], 5)
    a = chol.A.off[(1, 0)]
    heavy, nnz, _ = split_columns(a, a, True)
    assert nnz > 0 and not heavy.any()
    heavy_b, nnz_b, _ = split_columns(a, a, True, max_nnz=nnz // 3)
    assert nnz_b <= nnz // 3
    assert heavy_b.sum() > heavy.sum()
    assert np.all(heavy_b[heavy])  # columns already dense stay dense
    plan = CrossPlan(a, a, True, ~heavy_b)
    assert plan.nnz == nnz_b


def test_small_kernels_match_matmul():
    rng = np.random.default_rng(7)
    for nb, kr, kc in [(5000, 2, 2), (5000, 3, 1), (5000, 1, 4), (20, 2, 3)]:
        blocks = rng.normal(size=(nb, kr, kc))
        lam_r, lam_c = np.tril(rng.normal(size=(kr, kr))), np.tril(rng.normal(size=(kc, kc)))
        lam_c[-1, 0] = 0.0
        expected = np.einsum("ua,nut,ts->nas", lam_r, blocks, lam_c)
        np.testing.assert_allclose(sandwich(blocks, lam_r, lam_c), expected, rtol=1e-12,
                                   atol=1e-12)
        full = rng.normal(size=(kc, kc))  # not triangular: the BLAS route
        np.testing.assert_allclose(sandwich(blocks, lam_r, full),
                                   np.einsum("ua,nut,ts->nas", lam_r, blocks, full),
                                   rtol=1e-12, atol=1e-12)
    for n, r, k in [(5000, 2, 2), (4500, 3, 4), (10, 2, 3)]:
        a = rng.normal(size=(n, r, k))
        b = rng.normal(size=(n, k, k))
        np.testing.assert_allclose(small_matmul(a, b), np.matmul(a, b), rtol=1e-13, atol=1e-13)
        low = np.tril(b)
        np.testing.assert_allclose(times_lower_transpose(a, low[:, None]),
                                   np.matmul(a, low.transpose(0, 2, 1)), rtol=1e-13, atol=1e-13)
    # dense layout: rows x levels x k against per-level triangles
    a = rng.normal(size=(3, 50, 3))
    low = np.tril(rng.normal(size=(50, 3, 3)))
    expected = np.einsum("rlt,lst->rls", a, low)
    np.testing.assert_allclose(times_lower_transpose(a, low), expected, rtol=1e-13, atol=1e-13)
