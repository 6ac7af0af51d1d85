"""Off-diagonal blocks of A summed as dense arrays (issue 6: 50 million rows under 4 GB).

Where the level pairs of a block are dense, the reduction sums it as a dense array and
the factor takes that array as A's block: the same numbers as the sparse path.
"""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.distributed import _reduce
from mixedmodels.distributed._reduce import Coordinates, count_pairs, sum_block
from mixedmodels.linalg import (
    BlockedCholesky,
    CrossProducts,
    SparseBlock,
    blocks,
    cholesky,
    cross_products,
)


def _part(rng, n, l_i, l_j, ki, kj):
    codes_i = rng.integers(0, l_i, n)
    codes_j = rng.integers(0, l_j, n)
    z_i = np.column_stack([np.ones(n), rng.normal(size=(n, ki - 1))])
    z_j = np.column_stack([np.ones(n), rng.normal(size=(n, kj - 1))])
    return Coordinates.of(codes_i, z_i, l_i, codes_j, z_j, l_j)


def _dense(c: Coordinates) -> np.ndarray:
    """The reference: every pair's block placed by hand."""
    _, ki, kj = c.data.shape
    out = np.zeros(c.dense_shape())
    for key, block in zip(c.keys, c.data, strict=True):
        col, row = divmod(int(key), c.nrow_levels)
        out[row * ki:(row + 1) * ki, col * kj:(col + 1) * kj] = block
    return out


@pytest.mark.parametrize("k", [(1, 1), (2, 3)])
def test_dense_sum_equals_merged_coordinates(k):
    rng = np.random.default_rng(1)
    ki, kj = k
    parts = [_part(rng, n, 12, 9, ki, kj) for n in (40, 0, 25, 30)]
    merged = Coordinates.merge_all(parts)
    assert merged.keys.dtype == np.int32
    # few pairs: coordinates, as before
    assert isinstance(sum_block(parts), Coordinates)
    # at the root, dense from the factor's density on (the union of the pairs)
    union = count_pairs(parts)
    assert union == len(merged.keys)
    fraction = union / (12 * 9)
    dense = sum_block(parts, dense_at=fraction)
    assert isinstance(dense, np.ndarray) and dense.flags.c_contiguous
    np.testing.assert_allclose(dense, _dense(merged), rtol=1e-14, atol=1e-14)
    assert isinstance(sum_block(parts, dense_at=fraction * 1.01), Coordinates)
    # a dense part plus coordinates; the dense input is left as it was
    first = sum_block(parts[:2], dense_at=0.0)
    kept = first.copy()
    again = sum_block([first, *parts[2:]])
    np.testing.assert_allclose(again, dense, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(first, kept)


def test_many_pairs_are_summed_dense_anywhere():
    rng = np.random.default_rng(2)
    parts = [_part(rng, 60, 6, 5, 1, 1) for _ in range(4)]  # 240 pairs >= 30 cells
    out = sum_block(parts)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, _dense(Coordinates.merge_all(parts)), rtol=1e-14)


def test_tree_reduce_root_runs_once_also_for_one_partition():
    dask = pytest.importorskip("dask")

    def parts(n):
        return [dask.delayed(i) for i in range(n)]

    with dask.config.set(scheduler="sync"):
        assert _reduce.tree_reduce(parts(1), _ident, _sum) == 0
        assert _reduce.tree_reduce(parts(1), _ident, _sum, root=_root) == ("root", 0)
        assert _reduce.tree_reduce(parts(20), _ident, _sum, split_every=4,
                                   root=_root) == ("root", 190)
        assert _reduce.tree_reduce(parts(20), _ident, _sum, split_every=4) == 190


def _ident(x):
    return x


def _sum(*xs):
    return sum(xs)


def _root(*xs):
    return ("root", sum(xs))


# ---------------------------------------------------------------------- the factor
def _random_model(rng, n, terms, p=3):
    codes, z = [], []
    for nlev, k in terms:
        c = rng.integers(0, nlev, n)
        c[:nlev] = np.arange(nlev)
        codes.append(c)
        zz = np.ones((n, k))
        zz[:, 1:] = rng.normal(size=(n, k - 1))
        z.append(zz)
    xy = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1)), rng.normal(size=n)])
    return cross_products(codes, z, [t[0] for t in terms], xy)


def _lams(rng, terms):
    out = []
    for _, k in terms:
        lam = np.tril(rng.normal(size=(k, k)))
        lam[np.diag_indices(k)] = np.abs(lam[np.diag_indices(k)]) + 0.2
        out.append(lam)
    return out


def _readouts(chol: BlockedCholesky):
    beta = chol.fixed_effects()
    return (chol.logdet_random(), chol.logdet_fixed(), chol.pwrss(), beta,
            *chol.spherical_effects(beta), *chol.random_inverse_faces())


@pytest.mark.parametrize("terms", [
    [(40, 1), (12, 1)],
    [(30, 2), (8, 3)],
    [(30, 1), (10, 2), (5, 1)],
])
@pytest.mark.parametrize("in_place", [False, True])
def test_factor_of_dense_blocks_equals_sparse(terms, in_place, monkeypatch):
    if in_place:  # the chunked in-place kernels, with chunks of a few levels
        monkeypatch.setattr(cholesky, "_IN_PLACE_SIZE", 0)
        monkeypatch.setattr(blocks, "_CHUNK_ELEMENTS", 50)
    rng = np.random.default_rng(len(terms) + 10 * terms[0][1])
    sparse = _random_model(rng, 900, terms)
    off = {key: block.toarray() for key, block in sparse.off.items()}
    dense = CrossProducts(sparse.diag, off, sparse.xz, sparse.xx)
    ref, chol = BlockedCholesky(sparse), BlockedCholesky(dense)
    assert not any(chol.sparse_off.values())  # a dense block of A: dense in L
    for _ in range(3):  # updates overwrite L's buffers: each equals a fresh factor
        lams = _lams(rng, terms)
        assert ref.update(lams) and chol.update(lams)
        for got, want in zip(_readouts(chol), _readouts(ref), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert isinstance(chol.A.off[(1, 0)], np.ndarray)
    assert isinstance(ref.A.off[(1, 0)], SparseBlock)


def test_scale_dense_is_the_blockwise_sandwich(monkeypatch):
    monkeypatch.setattr(blocks, "_CHUNK_ELEMENTS", 30)
    rng = np.random.default_rng(3)
    lam_r = np.tril(rng.normal(size=(2, 2)))
    lam_c = np.tril(rng.normal(size=(3, 3)))
    a = rng.normal(size=(7 * 2, 5 * 3))
    want = np.kron(np.eye(7), lam_r).T @ a @ np.kron(np.eye(5), lam_c)
    out = np.empty_like(a)
    blocks.scale_dense(a, lam_r, lam_c, out)
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)
    b = rng.normal(size=(7, 5))
    out = np.empty_like(b)
    blocks.scale_dense(b, np.array([[2.0]]), np.array([[0.75]]), out)
    np.testing.assert_array_equal(out, b * 1.5)  # as scale_sparse on the same entries


@pytest.mark.parametrize("shape", [(20, 50, 2), (4, 1500, 3)])  # batched, elementwise
def test_right_solve_faces_in_place(shape, monkeypatch):
    monkeypatch.setattr(blocks, "_CHUNK_ELEMENTS", 64)
    rng = np.random.default_rng(4)
    r, nlevels, k = shape
    t = rng.normal(size=(r, nlevels * k))
    inv = np.tril(rng.normal(size=(nlevels, k, k)))
    want = np.einsum("rat,ast->ras", t.reshape(r, nlevels, k), inv).reshape(r, -1)
    blocks.right_solve_faces_inplace(t.reshape(r, nlevels, k), inv)
    np.testing.assert_allclose(t, want, rtol=1e-13, atol=1e-13)
