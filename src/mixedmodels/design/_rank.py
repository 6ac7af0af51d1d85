"""Rank-deficient fixed-effects matrices: which columns to drop.

R's ``qr()`` (LINPACK ``dqrdc2``, used by lme4's ``chkRank.drop.cols``)
moves a column to the end when what is left of it after removing its
projection on the earlier kept columns is smaller than ``tol`` times its
original norm; the columns moved are the ones lme4 drops. The same test is
done here left to right with a re-orthogonalised Gram-Schmidt basis.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RankDeficiencyWarning", "independent_basis", "independent_columns",
           "rank_deficiency_message"]


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient; columns were dropped."""


def rank_deficiency_message(dropped: tuple[str, ...]) -> str:
    """lme4's message naming the dropped columns."""
    count = len(dropped)
    noun = "column / coefficient" if count == 1 else "columns / coefficients"
    return (f"fixed-effect model matrix is rank deficient so dropping {count} {noun} "
            f"({', '.join(dropped)})")


def independent_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Mark the columns of ``X`` that are not combinations of earlier columns.

    Parameters
    ----------
    X : numpy.ndarray
        float64 (n, p).
    tol : float
        Relative tolerance, R's default for ``qr``.

    Returns
    -------
    numpy.ndarray
        bool (p,), True for columns kept.
    """
    return independent_basis(X, tol)[0]


def independent_basis(X: np.ndarray, tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """:func:`independent_columns` and the orthonormal basis of X's column space
    that it builds, (n, number kept)."""
    n, p = X.shape
    keep = np.zeros(p, dtype=bool)
    # the kept columns fill the leading columns of a Fortran-ordered buffer (each
    # column contiguous); norms as sqrt(x'x), which is what np.linalg.norm computes
    # for a vector, without its wrapper
    buffer = np.empty((n, p), order="F")
    rank = 0
    for j in range(p):
        column = X[:, j].astype(float)
        norm = math.sqrt(float(column @ column))
        if norm == 0.0:
            continue
        residual = column
        basis = buffer[:, :rank]
        for _ in range(2 if rank else 0):  # nothing to project off before the first
            residual = residual - basis @ (basis.T @ residual)
        rnorm = math.sqrt(float(residual @ residual))
        if rnorm < tol * norm:
            continue
        keep[j] = True
        np.divide(residual, rnorm, out=buffer[:, rank])
        rank += 1
    return keep, buffer[:, :rank]
