"""Storage for the blocks of the cross-product matrix A and its Cholesky factor L.

Three kinds of block appear:

* block-diagonal: ``l`` square faces of size ``k`` stored as an array ``(l, k, k)``;
* block-sparse: nonzero ``kr x kc`` blocks at (row level, column level) positions;
* dense: a plain 2-d array.

Row ``a * k + c`` of a block belongs to level ``a`` and coefficient ``c`` (levels
outermost), which is the order of ``Lambda = I_l kron lambda``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mixedmodels.linalg.parallel import csr_times, csr_transpose_times


class SparseBlock:
    """A block-sparse matrix with a fixed pattern and updatable values.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (nb,)
        Level indices of the nonzero blocks, sorted by column then row.
    data : ndarray, shape (nb, kr, kc)
        The values of the blocks.
    nrow_levels, ncol_levels : int
        Number of row and column levels; the matrix is
        ``(nrow_levels * kr) x (ncol_levels * kc)``.
    """

    def __init__(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        data: np.ndarray,
        nrow_levels: int,
        ncol_levels: int,
        _pattern: tuple[sp.csr_matrix, np.ndarray] | None = None,
    ) -> None:
        self.rows = rows
        self.cols = cols
        self.data = data
        self.nrow_levels = nrow_levels
        self.ncol_levels = ncol_levels
        # the element-level CSR pattern, made on first use (tocsr, like): a block that
        # the factor stores dense never needs it (kb07's: 1.2 ms of a 4 ms design)
        self._pattern_of: tuple[sp.csr_matrix, np.ndarray] | None = _pattern
        self._csr_values_of: np.ndarray | None = None  # the data array _csr holds

    @property
    def _pattern(self) -> tuple[sp.csr_matrix, np.ndarray]:
        if self._pattern_of is None:
            self._pattern_of = self._element_pattern()
        return self._pattern_of

    @property
    def _csr(self) -> sp.csr_matrix:
        return self._pattern[0]

    @property
    def _perm(self) -> np.ndarray:
        return self._pattern[1]

    @property
    def block_shape(self) -> tuple[int, int]:
        return self.data.shape[1], self.data.shape[2]

    @property
    def shape(self) -> tuple[int, int]:
        kr, kc = self.block_shape
        return self.nrow_levels * kr, self.ncol_levels * kc

    def _element_pattern(self) -> tuple[sp.csr_matrix, np.ndarray]:
        nb, kr, kc = self.data.shape
        i = np.arange(kr)[None, :, None]
        j = np.arange(kc)[None, None, :]
        erow = (self.rows[:, None, None] * kr + i) + 0 * j
        ecol = (self.cols[:, None, None] * kc + j) + 0 * i
        # Carry each element's position in data.ravel() through the conversion.
        position = np.arange(1, nb * kr * kc + 1, dtype=np.float64)
        csr = sp.csr_matrix(
            (position, (erow.ravel(), ecol.ravel())), shape=self.shape
        )
        perm = csr.data.astype(np.int64) - 1
        return csr, perm

    def like(self, data: np.ndarray) -> SparseBlock:
        """A block with the same pattern and new values."""
        if len(self._perm) < 100_000:
            csr = self._csr.copy()
        else:  # a CSR matrix of its own for the values, sharing the (fixed) index arrays
            csr = sp.csr_matrix((np.empty_like(self._csr.data), self._csr.indices,
                                 self._csr.indptr), shape=self._csr.shape, copy=False)
        return SparseBlock(
            self.rows, self.cols, data, self.nrow_levels, self.ncol_levels,
            _pattern=(csr, self._perm),
        )

    def tocsr(self) -> sp.csr_matrix:
        """The element-level CSR matrix holding the current values (shared storage).

        The values are copied once per ``data`` array: give a block new values with
        :meth:`like` (or by assigning ``data``), not by writing into ``data``.
        """
        if self._csr_values_of is not self.data:
            self._csr.data[:] = self.data.ravel()[self._perm]
            self._csr_values_of = self.data
        return self._csr

    def toarray(self) -> np.ndarray:
        """The dense matrix (each block's values placed directly; no CSR made)."""
        kr, kc = self.block_shape
        out = np.zeros((self.nrow_levels, kr, self.ncol_levels, kc))
        out[self.rows, :, self.cols, :] = self.data
        return out.reshape(self.shape)

    def is_nested(self) -> bool:
        """True when each column level has at most one nonzero row level."""
        return bool(np.all(np.bincount(self.cols, minlength=self.ncol_levels) <= 1))

    def density(self) -> float:
        return len(self.rows) / float(self.nrow_levels * self.ncol_levels)


Block = np.ndarray | SparseBlock

# From about this many tiny matrices on, elementwise passes beat a batched matmul.
MANY_MATRICES = 4096


def as_dense(block: Block) -> np.ndarray:
    """A block as a dense array (a SparseBlock expanded, an array as it is)."""
    return block.toarray() if isinstance(block, SparseBlock) else np.asarray(block)


def blockdiag_to_dense(faces: np.ndarray) -> np.ndarray:
    """Expand ``(l, k, k)`` faces into the dense ``(l k) x (l k)`` block-diagonal matrix."""
    l, k, _ = faces.shape
    out = np.zeros((l, k, l, k))
    idx = np.arange(l)
    out[idx, :, idx, :] = faces
    return out.reshape(l * k, l * k)


def sandwich(blocks: np.ndarray, lam_r: np.ndarray, lam_c: np.ndarray) -> np.ndarray:
    """``lam_r' B lam_c`` for every block B of an ``(nb, kr, kc)`` array.

    For a few blocks: two tall-skinny matrix products over all blocks at once (BLAS),
    about three times faster than a batched ``matmul`` of tiny matrices. For many
    blocks and lower-triangular templates: elementwise multiply-adds over whole planes,
    skipping the zero upper triangles. Those cost the same on one thread, and do not call a
    threaded BLAS whose synchronisation, on a busy machine, cost several milliseconds
    per call (d3: 9 ms per sandwich with two OpenBLAS threads, 1 ms with one).
    """
    nb, kr, kc = blocks.shape
    if nb < MANY_MATRICES or np.triu(lam_r, 1).any() or np.triu(lam_c, 1).any():
        right = (blocks.reshape(-1, kc) @ lam_c).reshape(nb, kr, kc)
        left = right.transpose(0, 2, 1).reshape(-1, kr) @ lam_r
        return left.reshape(nb, kc, kr).transpose(0, 2, 1)
    b = blocks.transpose(1, 2, 0)  # planes b[a, t], each (nb,)
    right = np.empty((kr, kc, nb))
    for s in range(kc):  # right[:, s] = sum_{t >= s} b[:, t] lam_c[t, s]
        acc = b[:, s] * lam_c[s, s]
        for t in range(s + 1, kc):
            if lam_c[t, s] != 0.0:
                acc += b[:, t] * lam_c[t, s]
        right[:, s] = acc
    out = np.empty((nb, kr, kc))
    for a in range(kr):  # out[a] = sum_{u >= a} lam_r[u, a] right[u]
        acc = right[a] * lam_r[a, a]
        for u in range(a + 1, kr):
            if lam_r[u, a] != 0.0:
                acc += right[u] * lam_r[u, a]
        out[:, a, :] = acc.T
    return out


def scale_sparse(block: SparseBlock, lam_r: np.ndarray, lam_c: np.ndarray) -> np.ndarray:
    """Values of ``lam_r' B lam_c`` applied blockwise (lam_* are k x k templates)."""
    if lam_r.shape == (1, 1) and lam_c.shape == (1, 1):
        return block.data * (lam_r[0, 0] * lam_c[0, 0])
    return sandwich(block.data, lam_r, lam_c)


# Elements per chunk of the in-place kernels on dense blocks (bounds their temporaries).
_CHUNK_ELEMENTS = 1 << 22


def _row_chunks(nlevels: int, per_level: int) -> list[tuple[int, int]]:
    step = max(1, _CHUNK_ELEMENTS // max(1, per_level))
    return [(s, min(s + step, nlevels)) for s in range(0, nlevels, step)]


def scale_dense(a: np.ndarray, lam_r: np.ndarray, lam_c: np.ndarray, out: np.ndarray) -> None:
    """``out = (I kron lam_r)' a (I kron lam_c)`` for a dense block ``a`` whose rows are
    (level, coefficient) pairs of ``lam_r``'s term and columns those of ``lam_c``'s.

    Written into ``out`` (same shape, not ``a``) in chunks of row levels: the only
    temporaries are a chunk's. For scalar terms the values are those of
    :func:`scale_sparse` on the same entries.
    """
    if lam_r.shape == (1, 1) and lam_c.shape == (1, 1):
        np.multiply(a, lam_r[0, 0] * lam_c[0, 0], out=out)
        return
    kr, kc = lam_r.shape[0], lam_c.shape[0]
    ncols = a.shape[1]
    for s, e in _row_chunks(a.shape[0] // kr, kr * ncols):
        rows = slice(s * kr, e * kr)
        left = scale_rows(a[rows], lam_r)
        out[rows] = (left.reshape(-1, kc) @ lam_c).reshape((e - s) * kr, ncols)


def right_solve_faces_inplace(t3: np.ndarray, inv: np.ndarray) -> None:
    """``t3[:, a, :] = t3[:, a, :] @ inv[a]'`` for every level a, in place.

    ``t3`` is ``(r, l, k)`` (a C-ordered dense block viewed by levels), ``inv`` the
    ``(l, k, k)`` inverses of lower-triangular faces. Done in chunks of levels, so the
    temporaries are a chunk's, not the block's; each level's product is computed as
    in the out-of-place solve (the same numbers).
    """
    r, nlevels, k = t3.shape
    batched = r >= 16 or nlevels < 1024  # as BlockedCholesky._right_solve decides
    for s, e in _row_chunks(nlevels, r * k):
        part = t3[:, s:e, :]
        if batched:
            solved = np.matmul(part.transpose(1, 0, 2), inv[s:e].transpose(0, 2, 1))
            part[...] = solved.transpose(1, 0, 2)
        else:
            part[...] = times_lower_transpose(part, inv[s:e])


def times_lower_transpose(a: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """``out[..., s] = sum_t a[..., t] lower[..., s, t]`` for lower-triangular ``lower``.

    Row vectors ``a`` (``(..., k)``) times the transposes of ``k x k`` lower triangles
    that broadcast against ``a``'s leading axes (``(..., k, k)``). Done as
    ``k (k + 1) / 2`` elementwise multiply-adds over whole planes, skipping the zero upper
    triangle: for many tiny matrices (thousands of 2 x 2 faces) several times faster
    than a batched ``matmul``, slower for a few larger ones (callers choose).
    """
    k = lower.shape[-1]
    planes = np.moveaxis(a, -1, 0)
    out = np.empty(np.broadcast_shapes(a.shape, lower.shape[:-1]))
    for s in range(k):
        acc = planes[0] * lower[..., s, 0]
        for t in range(1, s + 1):
            acc += planes[t] * lower[..., s, t]
        out[..., s] = acc
    return out


def small_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``a @ b`` for many tiny matrices (``(n, r, k) @ (n, k, c)``).

    Below a few thousand matrices ``np.matmul``; above, ``r c k`` elementwise
    multiply-adds over whole planes, which avoid matmul's per-matrix overhead.
    """
    n, r, k = a.shape
    c = b.shape[-1]
    if n < MANY_MATRICES:
        return np.matmul(a, b)
    out = np.empty((n, r, c))
    for i in range(r):
        for j in range(c):
            acc = a[:, i, 0] * b[:, 0, j]
            for t in range(1, k):
                acc += a[:, i, t] * b[:, t, j]
            out[:, i, j] = acc
    return out


def scale_rows(dense: np.ndarray, lam: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``(I_l kron lam)' D`` for a dense D whose rows are (level, coefficient) pairs,
    into ``out`` or a new array. ``out`` is viewed as ``(l, k, columns)``: its rows
    must be evenly spaced (a row slice of a 2-d array is)."""
    if out is None:
        out = np.empty(dense.shape)
    k = lam.shape[0]
    if k == 1:
        return np.multiply(dense, lam[0, 0], out=out)
    ncols = dense.shape[1]
    np.matmul(lam.T, dense.reshape(-1, k, ncols), out=out.reshape(-1, k, ncols))
    return out


def scale_columns(dense: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``D (I_l kron lam)`` for a dense D whose columns are (level, coefficient) pairs."""
    k = lam.shape[0]
    if k == 1:
        return dense * lam[0, 0]
    r = dense.shape[0]
    return (dense.reshape(-1, k) @ lam).reshape(r, -1)


def scale_faces(faces: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``lam' F lam`` for each face F."""
    if lam.shape == (1, 1):
        return faces * lam[0, 0] ** 2
    return sandwich(faces, lam, lam)


def times_transpose(a: Block, b: Block) -> np.ndarray:
    """Dense ``a @ b.T`` for blocks that are dense arrays or SparseBlocks."""
    a_sparse = isinstance(a, SparseBlock)
    b_sparse = isinstance(b, SparseBlock)
    if a_sparse and b_sparse:
        out = a.tocsr() @ b.tocsr().T
        return out.toarray()
    if a_sparse:
        return csr_times(a.tocsr(), b.T)
    if b_sparse:
        return csr_times(b.tocsr(), a.T).T
    return a @ b.T


def transpose_times_vector(a: Block, v: np.ndarray) -> np.ndarray:
    """``a.T @ v`` for a dense array or SparseBlock."""
    if isinstance(a, SparseBlock):
        return csr_transpose_times(a.tocsr(), v)
    return a.T @ v


def times(a: Block, m: np.ndarray) -> np.ndarray:
    """``a @ m`` for a dense array or SparseBlock and a dense m."""
    if isinstance(a, SparseBlock):
        return csr_times(a.tocsr(), m)
    return a @ m
