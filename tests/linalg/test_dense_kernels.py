"""The in-place dense kernels on C-ordered arrays against numpy's dense algebra."""

import numpy as np
import pytest

from mixedmodels.linalg.dense import (
    add_gram_transpose_lower,
    cholesky_lower_inplace,
    inverse_lower_inplace,
    left_solve,
    left_solve_transpose,
    lower_inverse_faces,
    mirror_lower,
    right_solve,
    right_solve_transpose,
    subtract_gram_lower,
)


def _factor(rng, n):
    a = rng.normal(size=(n, n))
    return np.linalg.cholesky(a @ a.T + n * np.eye(n))


@pytest.mark.parametrize("n", [1, 7, 130])
def test_triangular_solves(n):
    rng = np.random.default_rng(n)
    L = _factor(rng, n)
    t = rng.normal(size=(4, n))
    np.testing.assert_allclose(right_solve(L, t.copy()) @ L, t, atol=1e-10)
    np.testing.assert_allclose(right_solve_transpose(L, t.copy()) @ L.T, t, atol=1e-10)
    np.testing.assert_allclose(L @ left_solve(L, t.T.copy()), t.T, atol=1e-10)
    np.testing.assert_allclose(L.T @ left_solve_transpose(L, t.T.copy()), t.T, atol=1e-10)


@pytest.mark.parametrize("n", [1, 7, 130, 300])
def test_inverse_gram_and_mirror_touch_the_lower_triangle_only(n):
    rng = np.random.default_rng(n)
    L = _factor(rng, n)
    upper = np.triu(np.full((n, n), 7.0), 1)
    a = np.tril(L) + upper  # garbage above the diagonal
    out = inverse_lower_inplace(a)
    assert np.shares_memory(out, a)
    inverse = np.linalg.inv(L @ L.T)
    np.testing.assert_allclose(np.tril(a), np.tril(inverse), rtol=1e-10, atol=1e-12)
    assert np.array_equal(np.triu(a, 1), upper)
    w = rng.normal(size=(3, n))
    add_gram_transpose_lower(a, w)
    np.testing.assert_allclose(np.tril(a), np.tril(inverse + w.T @ w), rtol=1e-10, atol=1e-12)
    assert np.array_equal(np.triu(a, 1), upper)
    mirror_lower(a)
    np.testing.assert_allclose(a, inverse + w.T @ w, rtol=1e-10, atol=1e-12)
    assert np.array_equal(a, a.T)


@pytest.mark.parametrize(("nfaces", "k"), [(5, 1), (56, 4), (3000, 2), (9, 6)])
def test_inverses_of_lower_faces(nfaces, k):
    rng = np.random.default_rng(k)
    a = rng.normal(size=(nfaces, k, k))
    L = np.linalg.cholesky(a @ a.transpose(0, 2, 1) + k * np.eye(k))
    inv = lower_inverse_faces(L)
    assert np.array_equal(inv, np.tril(inv))
    np.testing.assert_allclose(np.matmul(inv, L), np.broadcast_to(np.eye(k), L.shape),
                               atol=1e-13)


def test_cholesky_and_inverse_raise_on_failure():
    with pytest.raises(np.linalg.LinAlgError):
        cholesky_lower_inplace(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(np.linalg.LinAlgError):
        inverse_lower_inplace(np.array([[1.0, 0.0], [1.0, 0.0]]))


@pytest.mark.parametrize("order", ["C", "F"])
def test_gram_subtraction_touches_the_lower_triangle_only(order):
    rng = np.random.default_rng(3)
    t = rng.normal(size=(9, 9))
    t = t @ t.T
    d = np.asarray(rng.normal(size=(9, 20)), order=order)
    a = t.copy()
    subtract_gram_lower(a, d)
    np.testing.assert_allclose(np.tril(a), np.tril(t - d @ d.T), atol=1e-12)
    assert np.array_equal(np.triu(a, 1), np.triu(t, 1))
