"""Sparse products split over threads (linalg/parallel.py) against SciPy's own."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedmodels.linalg import parallel


@pytest.fixture(params=[1, 2, 3], ids=lambda t: f"{t}threads")
def threads(request, monkeypatch):
    # every product below takes the threaded path, on small matrices
    monkeypatch.setattr(parallel, "THREADS", request.param)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_NNZ", 1)
    return request.param


def _matrices():
    rng = np.random.default_rng(3)
    uniform = sp.random(300, 120, density=0.05, format="csr", random_state=4)
    # most nonzeros in one row, empty rows around it: uneven row ranges
    dense_row = sp.lil_matrix((50, 80))
    dense_row[7, :] = rng.normal(size=80)
    dense_row[40, 3] = 2.0
    wide = sp.csr_matrix(dense_row)
    big_index = sp.csr_matrix(uniform)
    big_index.indices = big_index.indices.astype(np.int64)
    big_index.indptr = big_index.indptr.astype(np.int64)
    return {"uniform": uniform, "one heavy row": wide, "int64 indices": big_index,
            "empty": sp.csr_matrix((20, 10))}


@pytest.mark.parametrize("name", list(_matrices()))
def test_products_match_scipy(threads, name):
    a = _matrices()[name]
    rng = np.random.default_rng(5)
    n_row, n_col = a.shape
    x, xs = rng.normal(size=n_col), rng.normal(size=(n_col, 4))
    v, vs = rng.normal(size=n_row), rng.normal(size=(n_row, 3))
    np.testing.assert_allclose(parallel.csr_times(a, x), a @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(parallel.csr_times(a, xs), a @ xs, rtol=1e-13, atol=1e-13)
    # a Fortran-ordered right-hand side (the transpose of a C-ordered array)
    np.testing.assert_allclose(parallel.csr_times(a, np.asfortranarray(xs)), a @ xs,
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(parallel.csr_transpose_times(a, v), a.T @ v,
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(parallel.csr_transpose_times(a, vs), a.T @ vs,
                               rtol=1e-13, atol=1e-13)


def test_accumulating_product_adds_into_out(threads):
    a = _matrices()["uniform"]
    x = np.random.default_rng(6).normal(size=a.shape[1])
    out = np.full(a.shape[0], 2.5)
    assert parallel.csr_times(a, x, out=out) is out
    np.testing.assert_allclose(out, 2.5 + a @ x, rtol=1e-13)


def test_row_ranges_cover_every_row_once():
    indptr = np.array([0, 0, 10, 10, 11, 30, 30])
    for parts in (1, 2, 3, 5):
        ranges = parallel._row_ranges(indptr, parts)
        covered = [r for r0, r1 in ranges for r in range(r0, r1)]
        assert covered == list(range(len(indptr) - 1))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_threaded_products_work_in_a_forked_child(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(parallel, "THREADS", 2)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_NNZ", 1)
    a = _matrices()["uniform"]
    x = np.ones(a.shape[1])
    parallel.csr_times(a, x)  # the parent's pool exists before the fork
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(parallel.csr_times, (a, x)).get(timeout=60)
    np.testing.assert_allclose(result, a @ x, rtol=1e-13)


def test_map_parallel_keeps_the_order_and_raises_the_first_error(threads):
    assert parallel.map_parallel(lambda i: i * i, 7) == [i * i for i in range(7)]
    assert parallel.map_parallel(lambda i: i, 0) == []

    def fails_at_three(i):
        if i == 3:
            raise ValueError("chunk 3")
        return i

    with pytest.raises(ValueError, match="chunk 3"):
        parallel.map_parallel(fails_at_three, 6)


@pytest.mark.parametrize("name", ["vector three crossed", "scalar crossed", "k0 = 3",
                                  "scalar first, vector later"])
def test_a_fill_plan_built_in_threads_is_the_one_built_on_one(monkeypatch, name):
    from linalg_cases import FACTOR_CASES, dense_targets, random_factor

    from mixedmodels.linalg import products

    chol, _ = random_factor(FACTOR_CASES[name], 7)
    targets = dense_targets(chol)
    assert targets
    for i, j in targets:
        a_i, a_j = chol.A.off[(i, 0)], chol.A.off[(j, 0)]
        # one chunk on one thread (what test_products checks against dense products),
        # then many chunks on one and on two threads
        built = []
        for chunk, threads in ((1 << 30, 1), (64, 1), (64, 2)):
            monkeypatch.setattr(products, "_CHUNK_NNZ", chunk)
            monkeypatch.setattr(parallel, "THREADS", threads)
            built.append(products.CrossPlan(a_i, a_j, i == j).matrix)
        whole = built[0]
        assert whole.nnz > 0
        for other in built[1:]:
            assert other.shape == whole.shape
            np.testing.assert_array_equal(other.indptr, whole.indptr)
            np.testing.assert_array_equal(other.indices, whole.indices)
            np.testing.assert_array_equal(other.data, whole.data)


def test_work_split_from_inside_the_pool_runs_there(threads):
    # a task that itself splits work must not wait on the pool it runs in
    a = _matrices()["uniform"]
    x = np.ones(a.shape[1])
    results = parallel.map_parallel(lambda i: parallel.csr_times(a, x * i), 4)
    for i, r in enumerate(results):
        np.testing.assert_allclose(r, a @ (x * i), rtol=1e-13)
