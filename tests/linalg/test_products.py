"""Precomputed fill products (linalg/products.py) against the generic sparse products.

Each design is factored twice for the same templates: with the plans the factor chose,
or with a plan forced on every dense target (all columns through the sparse plan, all
through the dense columns, or a split), and with no plans at all (scipy products).
Every stored block of L must agree to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from linalg_cases import FACTOR_CASES, factor_with_plans, random_factor

from mixedmodels.linalg import products
from mixedmodels.linalg.blocks import (
    SparseBlock,
    sandwich,
    small_matmul,
    times_lower_transpose,
)
from mixedmodels.linalg.products import CrossPlan, split_columns


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


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        scale = max(1.0, float(np.max(np.abs(b[key]), initial=0.0)))
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12 * scale, err_msg=key)


@pytest.mark.parametrize("mode", ["chosen", "sparse", "dense", "split"])
@pytest.mark.parametrize("name", list(FACTOR_CASES))
def test_plans_match_generic_products(name, mode):
    _check_plans(name, mode)


@pytest.mark.parametrize("direct_fill", [0.0, 2.0])
@pytest.mark.parametrize("name", ["scalar crossed", "vector first, scalar later"])
def test_scalar_layouts_match(name, direct_fill, monkeypatch):
    """Scalar targets written in place (any fill) or through the met pairs (never)."""
    monkeypatch.setattr(products, "_DIRECT_FILL", direct_fill)
    _check_plans(name, "sparse")


def _check_plans(name, mode):
    chol, lams = factor_with_plans(name, mode)
    assert chol.update(lams)
    with_plans = _blocks(chol)
    chol.plans = {}
    assert chol.update(lams)
    _assert_same(with_plans, _blocks(chol))


def test_plan_layouts():
    """Scalar targets accumulate directly; vector targets go through level pairs."""
    chol, _ = random_factor(FACTOR_CASES["vector first, scalar later"], 3)
    plan = CrossPlan(chol.A.off[(1, 0)], chol.A.off[(1, 0)], lower_only=True)
    assert plan.direct and not plan.by_level
    chol, _ = random_factor(FACTOR_CASES["scalar first, vector later"], 4)
    plan = CrossPlan(chol.A.off[(2, 0)], chol.A.off[(1, 0)], lower_only=False)
    assert not plan.direct and plan.by_level
    assert plan.npairs == len(np.unique(plan.targets // (3 * 2)))  # not all pairs met


def test_split_respects_budget(monkeypatch):
    # dense products made expensive: only the budget moves columns to them
    monkeypatch.setattr(products, "COST_DENSE", 1e3)
    chol, _ = random_factor(FACTOR_CASES["scalar crossed"], 5)
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


@pytest.mark.parametrize("lower_only", [True, False])
@pytest.mark.parametrize("name", ["scalar crossed", "vector crossed", "crossed then nested"])
def test_chunk_counts_without_generating(name, lower_only):
    """The scalar plans size their chunks by counting entry pairs: the counts equal
    the lengths of the chunks generated, with and without a column subset."""
    chol, _ = random_factor(FACTOR_CASES[name], 6)
    a_i = chol.A.off[(1, 0)]
    a_j = a_i if lower_only else chol.A.off[(chol.m - 1, 0)]
    rng = np.random.default_rng(1)
    for columns in (None, rng.random(a_i.ncol_levels) < 0.6):
        gen = products._PairGenerator(a_i, a_j, lower_only, columns, chunk=50)
        assert len(gen) > 2
        generated = [len(gen.chunk(i)[2]) for i in range(len(gen))]
        assert list(gen.counts()) == generated


def test_sparse_block_toarray_matches_its_csr_and_makes_no_pattern():
    # the dense matrix is placed block by block; the CSR pattern is made only when the
    # CSR form (or a block like it) is asked for, and holds the same values
    rng = np.random.default_rng(5)
    rows, cols = np.array([0, 2, 1, 2, 3]), np.array([0, 0, 1, 1, 2])
    block = SparseBlock(rows, cols, rng.normal(size=(5, 2, 3)), 4, 3)
    dense = block.toarray()
    assert block._pattern_of is None
    np.testing.assert_array_equal(dense, block.tocsr().toarray())
    other = block.like(rng.normal(size=(5, 2, 3)))
    assert other._perm is block._perm  # the pattern is shared
    np.testing.assert_array_equal(other.toarray(), other.tocsr().toarray())
