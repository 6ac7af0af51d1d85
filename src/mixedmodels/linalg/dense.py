"""Dense triangular kernels on C-ordered arrays, without copies.

LAPACK and BLAS work on Fortran-ordered arrays; a C-ordered matrix is the Fortran view
of its transpose. Calling the routines on ``a.T`` with the triangle flags swapped
avoids the copies that ``np.linalg.cholesky`` and ``scipy.linalg.solve_triangular``
make (about half the time of a 1000 x 1000 Cholesky).

Factors returned by :func:`cholesky_lower_inplace` hold L in their lower triangle;
the strict upper triangle is left as it was. Every consumer here reads only the lower
triangle. The solves overwrite their C-contiguous right-hand side: pass temporaries.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg.blas import dsyrk, dtrsm
from scipy.linalg.lapack import dpotrf, dpotri

try:  # the kernels behind np.linalg.cholesky / inv, without their Python wrappers
    from numpy.linalg import _umath_linalg
except ImportError:  # pragma: no cover - numpy without the private module
    _umath_linalg = None


def small_cholesky(a: np.ndarray) -> np.ndarray:
    """``np.linalg.cholesky(a)`` for small matrices or stacks of them, cheaper.

    The same LAPACK kernel (numpy's gufunc) on the same input, so the same numbers,
    without the wrapper's checks and error-state switching (several microseconds,
    more than the factorisation of a 3 x 3 matrix). Call it inside
    ``np.errstate(invalid="ignore")``: a matrix that is not positive definite comes
    back filled with NaN, which is turned into the LinAlgError numpy raises.

    Parameters
    ----------
    a : ndarray, (..., k, k), float64, C-ordered
    """
    if _umath_linalg is None:  # pragma: no cover
        return np.linalg.cholesky(a)
    out = _umath_linalg.cholesky_lo(a, signature="d->d")
    if math.isnan(np.add.reduce(out, axis=None)):
        raise np.linalg.LinAlgError("Matrix is not positive definite")
    return out


def small_inverse(a: np.ndarray) -> np.ndarray:
    """``np.linalg.inv(a)`` for a stack of nonsingular small matrices (Cholesky factors
    with a positive diagonal), by the same kernel without the wrapper."""
    if _umath_linalg is None:  # pragma: no cover
        return np.linalg.inv(a)
    return _umath_linalg.inv(a, signature="d->d")


def lower_inverse_faces(lower: np.ndarray) -> np.ndarray:
    """The inverses of a stack of small nonsingular lower triangles ``(l, k, k)``.

    Forward substitution a row at a time across the whole stack: ``k`` vectorised
    steps instead of an LU factorisation per matrix (``np.linalg.inv``). 1,000,000
    2 x 2 faces: 38 against 296 ms; 56 4 x 4 faces: 44 against 50 us. Exactly lower
    triangular; rows of the inverse ``X`` from ``X[i, :i] = -L[i, :i] X[:i, :i] /
    L[i, i]``.
    """
    k = lower.shape[1]
    out = np.zeros_like(lower)
    d = 1.0 / np.diagonal(lower, axis1=1, axis2=2)  # (l, k)
    out[:, 0, 0] = d[:, 0]
    for i in range(1, k):
        row = np.matmul(lower[:, i:i + 1, :i], out[:, :i, :i])[:, 0, :]
        np.multiply(row, -d[:, i:i + 1], out=out[:, i, :i])
        out[:, i, i] = d[:, i]
    return out


def cholesky_lower_inplace(a: np.ndarray) -> np.ndarray:
    """Overwrite the C-ordered symmetric ``a`` with its lower Cholesky factor.

    Only the lower triangle of ``a`` is read.

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``a`` is not positive definite.
    """
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    # The Fortran view a.T holds the upper triangle of the same symmetric matrix.
    u, info = dpotrf(a.T, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return u.T


def right_solve_transpose(L: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``t L^{-T}`` for lower-triangular ``L`` (C-ordered) and a C-ordered ``t``."""
    t = np.ascontiguousarray(t)
    # In Fortran views: X' = L^{-1} t' where L's view is U = L' (upper): use U'.
    x = dtrsm(1.0, L.T, t.T, side=0, lower=0, trans_a=1, diag=0, overwrite_b=1)
    return x.T


def right_solve(L: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``t L^{-1}`` for lower-triangular ``L`` (C-ordered) and a C-ordered ``t``."""
    t = np.ascontiguousarray(t)
    # In Fortran views: L' X' = t' with U = L' (upper), no transpose.
    x = dtrsm(1.0, L.T, t.T, side=0, lower=0, trans_a=0, diag=0, overwrite_b=1)
    return x.T


def left_solve(L: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``L^{-1} t`` for lower-triangular ``L`` (C-ordered) and a 1-d or 2-d ``t``."""
    if t.ndim == 1:
        return left_solve(L, t[:, None])[:, 0]
    t = np.ascontiguousarray(t)
    # X' = t' L^{-T}: in Fortran views B = t' (c x n), A = U = L' (upper); right side.
    x = dtrsm(1.0, L.T, t.T, side=1, lower=0, trans_a=0, diag=0, overwrite_b=1)
    return x.T


def left_solve_transpose(L: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``L^{-T} t`` for lower-triangular ``L`` (C-ordered) and a 1-d or 2-d ``t``."""
    if t.ndim == 1:
        return left_solve_transpose(L, t[:, None])[:, 0]
    t = np.ascontiguousarray(t)
    # X' = t' L^{-1}: Fortran views B = t', A = U = L'; X' = B U^{-T}.
    x = dtrsm(1.0, L.T, t.T, side=1, lower=0, trans_a=1, diag=0, overwrite_b=1)
    return x.T


def subtract_gram_lower(t: np.ndarray, d: np.ndarray) -> None:
    """``t -= d d'`` on the lower triangle of the C-ordered square ``t`` (BLAS syrk).

    The strict upper triangle of ``t`` is left as it was. ``d`` may be C- or
    Fortran-ordered.
    """
    # t's Fortran view holds the upper triangle of the same symmetric matrix; with
    # D = d.T in Fortran order (h x n), trans=1 gives D'D = d d'; a Fortran-ordered d
    # is passed as it is (trans=0: d d')
    if d.flags.f_contiguous and not d.flags.c_contiguous:
        out = dsyrk(-1.0, d, beta=1.0, c=t.T, trans=0, lower=0, overwrite_c=1)
    else:
        out = dsyrk(-1.0, d.T, beta=1.0, c=t.T, trans=1, lower=0, overwrite_c=1)
    if not np.shares_memory(out, t):  # pragma: no cover - f2py made a copy
        t.T[...] = out


def add_gram_transpose_lower(t: np.ndarray, w: np.ndarray) -> None:
    """``t += w' w`` on the lower triangle of the C-ordered square ``t`` (BLAS syrk)."""
    w = np.ascontiguousarray(w)
    # w's Fortran view is w' (n x r); trans=0 gives w' w.
    out = dsyrk(1.0, w.T, beta=1.0, c=t.T, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(out, t):  # pragma: no cover - f2py made a copy
        t.T[...] = out


def inverse_lower_inplace(a: np.ndarray) -> np.ndarray:
    """Overwrite the lower Cholesky factor ``L`` in the C-ordered ``a`` with the lower
    triangle of ``(L L')^{-1}`` (LAPACK potri); the strict upper triangle is left as
    it was.

    Raises
    ------
    numpy.linalg.LinAlgError
        When L is singular.
    """
    if not a.flags.c_contiguous:
        raise ValueError("potri needs a C-contiguous factor to work in place")
    # a's Fortran view holds the upper triangle U = L' of the same matrix
    out, info = dpotri(a.T, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed ({info})")
    if not np.shares_memory(out, a):  # pragma: no cover - f2py made a copy
        a.T[...] = out
    return a


def mirror_lower(a: np.ndarray, block: int = 128) -> None:
    """Copy the strict lower triangle of the square ``a`` into its upper one, in
    blocks of rows (order 1142: 0.76 ms, against 1.8 ms for flat-index take and put;
    order 136: 13 us, against 11 us)."""
    n = a.shape[0]
    for i in range(0, n, block):
        j = min(i + block, n)
        a[i:j, j:] = a[j:, i:j].T
        face = a[i:j, i:j]
        np.copyto(face, face.T.copy(), where=_strict_upper(j - i))


@functools.cache
def _strict_upper(k: int) -> np.ndarray:
    """The mask of a k x k strict upper triangle."""
    return np.triu(np.ones((k, k), dtype=bool), 1)
