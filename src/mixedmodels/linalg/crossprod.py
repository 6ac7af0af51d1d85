"""Forming the cross-product blocks ``A = [Z X y]'[Z X y]`` in one pass over the rows.

Z is never materialised: each random-effect term is given by its level code per row and
its ``k`` per-row values, and every block is a sum over rows computed with ``bincount``.
"""

from __future__ import annotations

import numpy as np

from mixedmodels.linalg.blocks import SparseBlock
from mixedmodels.linalg.cholesky import CrossProducts


def _faces(codes: np.ndarray, z: np.ndarray, nlevels: int) -> np.ndarray:
    k = z.shape[1]
    out = np.empty((nlevels, k, k))
    for a in range(k):
        for b in range(a + 1):
            v = np.bincount(codes, weights=z[:, a] * z[:, b], minlength=nlevels)
            out[:, a, b] = v
            out[:, b, a] = v
    return out


def _off_block(
    codes_i: np.ndarray, z_i: np.ndarray, l_i: int,
    codes_j: np.ndarray, z_j: np.ndarray, l_j: int,
) -> SparseBlock:
    key = codes_j.astype(np.int64) * l_i + codes_i
    uniq, inverse = np.unique(key, return_inverse=True)
    nb = len(uniq)
    ki, kj = z_i.shape[1], z_j.shape[1]
    data = np.empty((nb, ki, kj))
    for a in range(ki):
        for b in range(kj):
            data[:, a, b] = np.bincount(inverse, weights=z_i[:, a] * z_j[:, b], minlength=nb)
    return SparseBlock(uniq % l_i, uniq // l_i, data, l_i, l_j)


def _xz_block(xy: np.ndarray, codes: np.ndarray, z: np.ndarray, nlevels: int) -> np.ndarray:
    p1, k = xy.shape[1], z.shape[1]
    out = np.empty((p1, nlevels, k))
    for c in range(p1):
        for t in range(k):
            out[c, :, t] = np.bincount(codes, weights=xy[:, c] * z[:, t], minlength=nlevels)
    return out.reshape(p1, nlevels * k)


def response_blocks(
    codes: list[np.ndarray], z: list[np.ndarray], nlevels: list[int], xy: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """The ``[X y]' Z_j`` blocks and ``[X y]'[X y]`` (rows already weighted)."""
    xz = [_xz_block(xy, c, zz, l) for c, zz, l in zip(codes, z, nlevels, strict=True)]
    return xz, xy.T @ xy


def cross_products(
    codes: list[np.ndarray], z: list[np.ndarray], nlevels: list[int], xy: np.ndarray
) -> CrossProducts:
    """All blocks of A.

    Parameters
    ----------
    codes : list of ndarray of int, each (n,)
        Level index of each row, per term.
    z : list of ndarray, each (n, k_j)
        Per-row values of the term's coefficients, already multiplied by sqrt(weights).
    nlevels : list of int
        Number of levels per term.
    xy : ndarray, (n, p + 1)
        ``[X y]``, rows already multiplied by sqrt(weights).
    """
    m = len(codes)
    diag = [_faces(codes[j], z[j], nlevels[j]) for j in range(m)]
    off = {
        (i, j): _off_block(codes[i], z[i], nlevels[i], codes[j], z[j], nlevels[j])
        for j in range(m)
        for i in range(j + 1, m)
    }
    xz, xx = response_blocks(codes, z, nlevels, xy)
    return CrossProducts(diag, off, xz, xx)
