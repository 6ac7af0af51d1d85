"""The blocked Cholesky factor against a dense factorisation of the whole matrix."""

from __future__ import annotations

import numpy as np
import pytest
from linalg_cases import factor_design, random_template

from mixedmodels.linalg import BlockedCholesky, cross_products


def _dense_z(codes, z, nlevels):
    cols = []
    for c, zz, nl in zip(codes, z, nlevels, strict=True):
        k = zz.shape[1]
        zj = np.zeros((len(c), nl * k))
        for t in range(k):
            zj[np.arange(len(c)), c * k + t] = zz[:, t]
        cols.append(zj)
    return cols


CASES = {
    "one scalar": [(12, 1, None, 0)],
    "one vector": [(10, 2, None, 0)],
    "crossed scalar": [(20, 1, None, 0), (7, 1, None, 0)],
    "crossed vector": [(15, 2, None, 0), (6, 3, None, 0)],
    "crossed vector, scalar later": [(16, 3, None, 0), (5, 1, None, 0)],
    "nested": [(24, 1, None, 0), (6, 1, 0, 0)],
    "nested vector": [(24, 2, None, 0), (6, 2, 0, 0)],
    "three crossed": [(30, 1, None, 0), (9, 2, None, 0), (4, 1, None, 0)],
    "three nested": [(36, 1, None, 0), (12, 1, 0, 0), (4, 1, 0, 0)],
}


@pytest.mark.parametrize("name", list(CASES))
def test_blocked_factor_matches_dense(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    terms = CASES[name]
    n, p = 200, 3
    codes, z = factor_design(rng, n, terms)
    nlevels = [t[0] for t in terms]
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = rng.normal(size=n)
    xy = np.column_stack([X, y])
    chol = BlockedCholesky(cross_products(codes, z, nlevels, xy))
    lams = [random_template(rng, t[1], 0.1) for t in terms]
    assert chol.update(lams)

    zs = _dense_z(codes, z, nlevels)
    zl = np.hstack([
        zj @ np.kron(np.eye(nl), lam) for zj, nl, lam in zip(zs, nlevels, lams, strict=True)
    ])
    q = zl.shape[1]
    full = np.column_stack([zl, xy])
    M = full.T @ full
    M[np.arange(q), np.arange(q)] += 1.0
    L = np.linalg.cholesky(M)
    d = np.diagonal(L)
    np.testing.assert_allclose(chol.logdet_random(), 2 * np.log(d[:q]).sum(), rtol=1e-12)
    np.testing.assert_allclose(chol.logdet_fixed(), 2 * np.log(d[q:q + p]).sum(), rtol=1e-12)
    np.testing.assert_allclose(chol.pwrss(), d[-1] ** 2, rtol=1e-12)

    # beta and u solve the penalised least-squares problem
    sol = np.linalg.solve(M[:-1, :-1], M[:-1, -1])
    beta = chol.fixed_effects()
    np.testing.assert_allclose(beta, sol[q:], rtol=1e-10, atol=1e-12)
    u = np.concatenate(chol.spherical_effects(beta))
    np.testing.assert_allclose(u, sol[:q], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        chol.fixed_precision_inverse(), np.linalg.inv(M[:-1, :-1])[q:, q:], rtol=1e-10
    )

    # conditional-variance faces: diagonal blocks of (L_Z L_Z')^{-1}
    inv = np.linalg.inv(M[:q, :q])
    start = 0
    for faces, nl, (_, k, _, _) in zip(chol.random_inverse_faces(), nlevels, terms, strict=True):
        for a in range(nl):
            s = start + a * k
            np.testing.assert_allclose(faces[a], inv[s:s + k, s:s + k], rtol=1e-10, atol=1e-14)
        start += nl * k


def test_structure_of_nested_and_crossed():
    rng = np.random.default_rng(1)
    n = 100
    nested = factor_design(rng, n, CASES["nested"])
    xy = np.column_stack([np.ones(n), rng.normal(size=n)])
    chol = BlockedCholesky(cross_products(*nested, [24, 6], xy))
    assert chol.describe() == ["L[0,0]: block-diagonal", "L[1,0]: sparse", "L[1,1]: block-diagonal"]
    crossed = factor_design(rng, n, CASES["crossed scalar"])
    chol = BlockedCholesky(cross_products(*crossed, [20, 7], xy))
    assert chol.describe()[2] == "L[1,1]: dense"


def test_updates_that_keep_the_first_template_equal_a_fresh_factor():
    # the first term's faces are kept while its template is unchanged; any update
    # sequence gives the factor of a fresh object, to the bit
    rng = np.random.default_rng(11)
    terms = CASES["crossed vector"]
    n = 200
    codes, z = factor_design(rng, n, terms)
    nlevels = [t[0] for t in terms]
    xy = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    A = cross_products(codes, z, nlevels, xy)
    chol = BlockedCholesky(A)
    first = random_template(rng, 2, 0.1)
    other = random_template(rng, 2, 0.1)
    sequence = [[first, random_template(rng, 3, 0.1)], [first, random_template(rng, 3, 0.1)],
                [other, random_template(rng, 3, 0.1)], [first, random_template(rng, 3, 0.1)]]
    # a failed update (a non-finite first template) in between forgets the faces
    bad = np.full((2, 2), np.nan)
    assert not chol.update([bad, sequence[0][1]])
    for lams in sequence:
        assert chol.update(lams)
        fresh = BlockedCholesky(A)
        assert fresh.update(lams)
        for a, b in [(chol.pwrss(), fresh.pwrss()), (chol.logdet_random(), fresh.logdet_random()),
                     (chol.logdet_fixed(), fresh.logdet_fixed())]:
            assert a == b
        np.testing.assert_array_equal(chol.off[(1, 0)], fresh.off[(1, 0)])


@pytest.mark.parametrize("name", ["crossed scalar", "crossed vector",
                                  "crossed vector, scalar later", "three crossed"])
def test_folded_update_matches_the_blockwise_one(name):
    # where every block below the first term is dense the later terms and [X y] are
    # updated as one array; the blockwise update gives the same factor
    rng = np.random.default_rng(5)
    terms = CASES[name]
    n = 200
    codes, z = factor_design(rng, n, terms)
    nlevels = [t[0] for t in terms]
    xy = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    A = cross_products(codes, z, nlevels, xy)
    folded, blockwise = BlockedCholesky(A), BlockedCholesky(A)
    assert folded.fold is not None
    blockwise.fold = None
    for _ in range(2):
        lams = [random_template(rng, t[1], 0.1) for t in terms]
        assert folded.update(lams) and blockwise.update(lams)
        for a, b in [(folded.pwrss(), blockwise.pwrss()),
                     (folded.logdet_random(), blockwise.logdet_random()),
                     (folded.logdet_fixed(), blockwise.logdet_fixed())]:
            assert a == pytest.approx(b, rel=1e-12)
        beta = folded.fixed_effects()
        np.testing.assert_allclose(beta, blockwise.fixed_effects(), rtol=1e-10, atol=1e-13)
        for a, b in zip(folded.spherical_effects(beta), blockwise.spherical_effects(beta),
                        strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        for key, block in blockwise.off.items():
            np.testing.assert_allclose(folded.off[key], block, rtol=1e-10, atol=1e-13)
        for j in range(1, len(terms)):
            np.testing.assert_allclose(np.tril(folded.diag[j]), np.tril(blockwise.diag[j]),
                                       rtol=1e-10, atol=1e-13)
        for a, b in zip(folded.x, blockwise.x, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(folded.xx, blockwise.xx, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(folded.fixed_precision_inverse(),
                                   blockwise.fixed_precision_inverse(), rtol=1e-10)


def test_nested_and_sparse_factors_are_not_folded():
    rng = np.random.default_rng(2)
    n = 100
    xy = np.column_stack([np.ones(n), rng.normal(size=n)])
    for name in ["nested", "three nested", "one vector"]:
        terms = CASES[name]
        codes, z = factor_design(rng, n, terms)
        chol = BlockedCholesky(cross_products(codes, z, [t[0] for t in terms], xy))
        assert chol.fold is None
