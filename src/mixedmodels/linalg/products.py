"""Precomputed fill products ``L[i,0] L[j,0]'`` from the first (block-diagonal) column.

The first column of L receives no fill, so for every term ``i > 0``

    L[i,0] = Lambda_i' A[i,0] Lambda_0 L[0,0]^{-T}

and, with ``C_c = lam_0 (F_c F_c')^{-1} lam_0'`` for the face ``F_c`` of level c of
``L[0,0]`` (a k0 x k0 symmetric matrix per level),

    L[i,0] L[j,0]' = Lambda_i' (sum_c A[i,0][:, c] C_c A[j,0][:, c]') Lambda_j.

The pattern and the products of entries of ``A`` do not depend on theta. A
:class:`CrossPlan` stores them once as a fixed sparse matrix M, so that each evaluation
costs one sparse matrix-vector product ``M @ v`` (v: the ``C_c``, or the per-entry
``W_e = A[i,0]_e C_c`` for vector first terms), a blockwise ``lam_i' S lam_j`` and a
scatter into the dense target. This replaces scipy's sparse-times-sparse product (which
computes both triangles, counts the result's nonzeros first and converts it to dense)
by a streaming product over the lower triangle only.

Level columns c met by many rows of both blocks (``heavy``) are cheaper as a dense
product of the current values of ``L[i,0]`` restricted to those columns (BLAS syrk or
gemm): :class:`DenseColumns`. :func:`split_columns` chooses the split by a cost model,
and :class:`FillPlan` combines the two.

Two scipy internals are used where present, with public fallbacks: ``coo_tocsr`` to
build each chunk of a plan in place and ``csr_matvec`` to accumulate a product into the
target without a temporary.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools

from mixedmodels.linalg.blocks import Block, SparseBlock, sandwich, small_matmul
from mixedmodels.linalg.dense import subtract_gram_lower
from mixedmodels.linalg.parallel import csr_times, csr_transpose_times, map_parallel

# Most nonzeros a plan may hold (12 bytes each: a value and a column index). Columns
# beyond this budget go to the dense product instead.
MAX_PLAN_NNZ = 60_000_000
# Nonzeros generated per chunk while building a plan (bounds the temporaries, about
# 50 bytes each). Small enough that the temporaries are reused from the heap: with 2M
# per chunk, d3's plan (16.4M nonzeros) took 42,000 page faults and 0.5-1.1 s in a
# fresh process; with 131,072, 3,500 faults and 0.43-0.49 s on one thread, 0.26-0.33 s
# on two.
_CHUNK_NNZ = 1 << 17
# Rough relative costs on the project's 2-core machine (numpy 2, scipy-openblas):
# one nonzero of a plan's matrix-vector product (~1-2 ns), one multiply-add of a dense
# BLAS product (~0.025-0.04 ns), one multiply-add of scipy's sparse-times-sparse product
# including its symbolic pass (~1.5 ns) and of a sparse-times-dense product (~0.3 ns).
COST_PLAN = 1.0
COST_DENSE = 0.025
COST_SPGEMM = 1.5
COST_SPMM = 0.3
# Converting a sparse product result to dense (per entry of the target).
COST_TODENSE = 0.5
# Fixed cost of a plan per evaluation (Python and numpy call overheads, ~50 us): small
# products stay with the generic path.
COST_PLAN_OVERHEAD = 50_000.0
# A scalar plan writes straight into the target when at least this fraction of the
# target's level pairs is met (otherwise it computes the met entries and scatters them).
_DIRECT_FILL = 0.5


def column_pointers(block: SparseBlock) -> np.ndarray:
    """Start of each column level's entries (blocks are sorted by column, then row)."""
    counts = np.bincount(block.cols, minlength=block.ncol_levels)
    return np.concatenate([[0], np.cumsum(counts)])


def level_faces(diag_inv: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``C_c = lam (F_c F_c')^{-1} lam'`` from the inverse faces ``F_c^{-1}``."""
    if lam.shape == (1, 1):
        return (lam[0, 0] * diag_inv) ** 2
    g = np.matmul(lam, diag_inv.transpose(0, 2, 1))
    return np.matmul(g, g.transpose(0, 2, 1))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each start s and length n."""
    total = int(lengths.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets


class _PairGenerator:
    """The entry pairs ``(e1, e2)`` of ``a_i`` and ``a_j`` that share a column level,
    in chunks of consecutive row levels of ``a_i`` (about ``chunk`` pairs each).

    Generating by row level keeps a chunk's rows of the plan together, so that each
    chunk is converted to CSR on its own (in cache) and written in place.
    ``lower_only`` (a_i is a_j) keeps the pairs with ``r1 >= r2``.
    """

    def __init__(self, a_i: SparseBlock, a_j: SparseBlock, lower_only: bool,
                 columns: np.ndarray | None, chunk: int) -> None:
        self.a_i, self.a_j, self.lower_only = a_i, a_j, lower_only
        self.ptr_j = column_pointers(a_j)
        self.count_j = np.diff(self.ptr_j)
        order = np.lexsort((a_i.cols, a_i.rows))
        keep = self.count_j[a_i.cols[order]] > 0
        if columns is not None:
            keep &= columns[a_i.cols[order]]
        self.order = order[keep]
        rows = a_i.rows[self.order]
        self.row_start = np.searchsorted(rows, np.arange(a_i.nrow_levels + 1))
        work = np.concatenate([[0], np.cumsum(self.count_j[a_i.cols[self.order]])])
        at_rows = work[self.row_start]
        cuts = np.searchsorted(at_rows, np.arange(1, 1 + int(at_rows[-1]) // chunk) * chunk)
        self.bounds = np.unique(np.concatenate([[0], cuts, [a_i.nrow_levels]]))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def counts(self) -> np.ndarray:
        """Each chunk's number of entry pairs, without generating them.

        With ``lower_only`` the pairs of entry e1 are the entries of its column at or
        above its row: its rank in the column plus one (entries sorted by column,
        then row, one per level pair).
        """
        cols = self.a_i.cols[self.order]
        if self.lower_only:
            per_entry = self.order - self.ptr_j[cols] + 1
        else:
            per_entry = self.count_j[cols]
        work = np.concatenate([[0], np.cumsum(per_entry)])
        return np.diff(work[self.row_start[self.bounds]])

    def chunk(self, i: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        """``(first row level, end row level, e1, e2)`` of chunk i (safe to call from
        several threads)."""
        a_i, a_j = self.a_i, self.a_j
        r0, r1 = self.bounds[i], self.bounds[i + 1]
        e1 = self.order[self.row_start[r0]:self.row_start[r1]]
        c = a_i.cols[e1]
        reps = self.count_j[c]
        e2 = _ranges(self.ptr_j[c], reps)
        e1 = np.repeat(e1, reps)
        if self.lower_only:
            keep = a_i.rows[e1] >= a_j.rows[e2]
            e1, e2 = e1[keep], e2[keep]
        return int(r0), int(r1), e1, e2

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """Yield :meth:`chunk` for each chunk in turn."""
        for i in range(len(self)):
            yield self.chunk(i)


def _coo_to_csr_into(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, nrows: int,
                     ncols: int, indptr: np.ndarray, indices: np.ndarray,
                     values: np.ndarray) -> None:
    """CSR arrays of coordinates without duplicates, written into the given arrays."""
    index = indices.dtype
    rows, cols = rows.astype(index, copy=False), cols.astype(index, copy=False)
    try:
        _sparsetools.coo_tocsr(nrows, ncols, len(data), rows, cols, data,
                               indptr, indices, values)
    except (AttributeError, TypeError):  # pragma: no cover - scipy internals changed
        m = sp.coo_matrix((data, (rows, cols)), shape=(nrows, ncols)).tocsr()
        indptr[:] = m.indptr
        indices[:] = m.indices
        values[:] = m.data


def _accumulate(matrix: sp.csr_matrix, v: np.ndarray, out: np.ndarray) -> None:
    """``out += matrix @ v`` without a temporary for the product."""
    csr_times(matrix, v, out=out)


class CrossPlan:
    """The fixed part of ``L[i,0] L[j,0]'`` over a set of column levels of term 0.

    Parameters
    ----------
    a_i, a_j : SparseBlock
        ``A[i,0]`` and ``A[j,0]`` (blocks ``k_i x k0`` and ``k_j x k0``, sorted by
        column then row).
    lower_only : bool
        i == j: keep only level pairs with ``r1 >= r2`` (the Cholesky factorisation
        of a diagonal target reads the lower triangle only).
    columns : ndarray of bool, optional
        The column levels to include (default: all).

    Notes
    -----
    With k0 = 1 the vector of the product is ``C_c`` per level and each (r1, r2, c)
    triple holds ``k_i k_j`` nonzeros ``A_e1[a] A_e2[b]``. With k0 > 1 it is the
    per-entry ``W_e = A[i,0]_e C_c`` (``k_i x k0``, entries ordered by row level so that
    a row of M reads a contiguous stretch) and each triple holds ``k_i k_j k0``
    nonzeros ``A_e2[b, s]``: fewer than the ``k_i k_j k0 (k0 + 1) / 2`` that
    expanding ``C_c`` would need.

    When terms i and j are scalar and most level pairs are met, the rows of M are the
    entries of the dense target itself and the product accumulates into it directly
    (``direct``). Otherwise the rows are the ``k_i x k_j`` blocks of the level pairs
    met, which are scaled by ``lam_i'`` and ``lam_j`` and then scattered.
    """

    def __init__(
        self,
        a_i: SparseBlock,
        a_j: SparseBlock,
        lower_only: bool,
        columns: np.ndarray | None = None,
    ) -> None:
        ki, k0 = a_i.block_shape
        kj = a_j.block_shape[0]
        self.k = (ki, kj, k0)
        self.by_level = k0 == 1
        l_i, l_j = a_i.nrow_levels, a_j.nrow_levels
        self._target_width = l_j * kj
        self._diagonal: sp.csr_matrix | None = None
        self._lower: tuple[np.ndarray, np.ndarray] | None = None
        kk = ki * kj
        per_pair = kk * (1 if self.by_level else k0)  # nonzeros of M per entry pair
        gen = _PairGenerator(a_i, a_j, lower_only, columns, max(1, _CHUNK_NNZ // per_pair))
        ab = np.arange(kk)
        a_idx, b_idx = ab // kj, ab % kj

        area = l_i * (l_i + 1) // 2 if lower_only else l_i * l_j
        # scalar terms i and j: one pass that writes M by target entries (the direct
        # layout), its rows compressed to the level pairs met afterwards where those
        # are too few for it; otherwise a first pass marks the level pairs met, in
        # row-major order, and counts each chunk's entry pairs. The chunks are
        # independent and share the cores (linalg/parallel.py).
        by_entry = ki == 1 and kj == 1
        if by_entry:
            sizes = gen.counts() * per_pair
            pairs = np.empty(0, dtype=np.int64)
        else:
            met = np.zeros(l_i * l_j, dtype=bool)

            def mark(i: int) -> int:
                _, _, e1, e2 = gen.chunk(i)
                # threads only ever store True here: concurrent stores cannot lose one
                met[a_i.rows[e1].astype(np.int64) * l_j + a_j.rows[e2]] = True
                return len(e1) * per_pair

            sizes = map_parallel(mark, len(gen))
            pairs = np.flatnonzero(met)
            met = None  # the mask is not needed beyond here (it can be large)
        self.direct = by_entry
        if self.direct:
            nrows = l_i * l_j
        else:
            # rows (pair, a, b) of M
            pair_index = np.full(l_i * l_j, -1, dtype=np.int64)
            pair_index[pairs] = np.arange(len(pairs))
            nrows = len(pairs) * kk
            r1, r2 = pairs // l_j, pairs % l_j
            width = l_j * kj
            self.targets = ((r1[:, None] * ki + a_idx) * width + r2[:, None] * kj
                            + b_idx).ravel()
            self.npairs = len(pairs)

        if not self.by_level:
            # entries of a_i by row level then column level: W's order
            order = np.lexsort((a_i.cols, a_i.rows))
            position = np.empty(len(order), dtype=np.int64)
            position[order] = np.arange(len(order))
            self._w_cols = a_i.cols[order]
            self._w_values = a_i.data[order]
        self._l0 = a_i.ncol_levels
        ncols = a_i.ncol_levels if self.by_level else len(a_i.rows) * ki * k0
        starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        nnz = int(starts[-1])
        index = np.int32 if max(nrows, ncols, nnz) < 2**31 - 1 else np.int64
        indptr = np.empty(nrows + 1, dtype=index)
        indices = np.empty(nnz, dtype=index)
        data = np.empty(nnz)

        def fill(i: int) -> int:
            """Chunk i's rows of M, written in place; returns its end row."""
            lev0, lev1, e1, e2 = gen.chunk(i)
            key = a_i.rows[e1].astype(np.int64) * l_j + a_j.rows[e2]
            # this chunk's rows of M: [row0, row1)
            if self.direct:
                row0, row1 = lev0 * l_j, lev1 * l_j
                rows = key[:, None] - row0
            else:
                p0, p1 = np.searchsorted(pairs, [lev0 * l_j, lev1 * l_j])
                row0, row1 = int(p0) * kk, int(p1) * kk
                rows = (pair_index[key] - p0)[:, None] * kk + ab
            if self.by_level:
                vals = a_i.data[e1][:, a_idx, 0] * a_j.data[e2][:, b_idx, 0]
                col = np.broadcast_to(a_i.cols[e1][:, None], rows.shape)
            else:
                s_idx = np.arange(k0)
                rows = np.broadcast_to(rows[:, :, None], (len(e1), kk, k0))
                vals = a_j.data[e2][:, b_idx, :]
                col = ((position[e1][:, None] * ki + a_idx) * k0)[:, :, None] + s_idx
            at, end = int(starts[i]), int(starts[i + 1])
            # the chunk's own row pointers: the next chunk's first one is this one's end
            local = np.empty(row1 - row0 + 1, dtype=index)
            _coo_to_csr_into(rows.ravel(), col.ravel(), vals.ravel(), row1 - row0, ncols,
                             local, indices[at:end], data[at:end])
            indptr[row0:row1] = local[:-1] + at
            return row1

        ends = map_parallel(fill, len(gen))
        indptr[0] = 0
        indptr[(ends[-1] if ends else 0):] = nnz
        if by_entry:
            # the level pairs met: the target entries with a nonempty row
            pairs = np.flatnonzero(np.diff(indptr))
            if len(pairs) < _DIRECT_FILL * area:
                self.direct = False
                indptr = np.concatenate([indptr[pairs], [nnz]]).astype(index)
                nrows = len(pairs)
                self.targets = pairs
                self.npairs = len(pairs)
        self.matrix = sp.csr_matrix((data, indices, indptr), shape=(nrows, ncols))

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def subtract_from(
        self, target: np.ndarray, faces: np.ndarray, lam_i: np.ndarray, lam_j: np.ndarray
    ) -> None:
        """``target -= Lambda_i' (sum_c A_i[:, c] C_c A_j[:, c]') Lambda_j``.

        ``faces`` holds ``C_c`` per level of term 0, ``(l0, k0, k0)``; ``target`` is
        C-contiguous.
        """
        ki, kj, _ = self.k
        if not target.flags.c_contiguous:
            raise ValueError("the target of a plan must be C-contiguous")
        flat = target.reshape(-1)  # a view
        if self.direct:
            scale = -lam_i[0, 0] * lam_j[0, 0]
            if self.by_level:
                v = scale * faces[:, 0, 0]
            else:
                v = small_matmul(self._w_values, scale * faces[self._w_cols]).ravel()
            _accumulate(self.matrix, v, flat)
            return
        if ki == 1 and kj == 1:
            faces = faces * (lam_i[0, 0] * lam_j[0, 0])
        if self.by_level:
            v = faces[:, 0, 0]
        else:
            v = small_matmul(self._w_values, faces[self._w_cols]).ravel()
        s = csr_times(self.matrix, v)
        if ki > 1 or kj > 1:
            s = sandwich(s.reshape(self.npairs, ki, kj), lam_i, lam_j).ravel()
        flat[self.targets] -= s

    def adjoint(self, weights: np.ndarray, lam_i: np.ndarray, lam_j: np.ndarray) -> np.ndarray:
        """The faces ``H_c = A_i[:, c]' Lambda_i S Lambda_j' A_j[:, c]``, ``(l0, k0, k0)``.

        The transpose of :meth:`subtract_from` (without its minus sign): for every set
        of faces ``C``, ``sum_c <H_c, C_c> = <S, Lambda_i' (sum_c A_i[:, c] C_c
        A_j[:, c]') Lambda_j>`` over the entries the plan writes, for S = ``weights``
        (C-contiguous, the target's shape). Costs about as much as the fill.
        """
        ki, kj, k0 = self.k
        flat = weights.reshape(-1)
        if self.direct:
            s = flat * (lam_i[0, 0] * lam_j[0, 0])
        else:
            s = flat[self.targets]
            if ki > 1 or kj > 1:  # the transpose of s -> lam_i' s lam_j: s -> lam_i s lam_j'
                s = sandwich(s.reshape(self.npairs, ki, kj), lam_i.T, lam_j.T).ravel()
            else:
                s = s * (lam_i[0, 0] * lam_j[0, 0])
        return self._faces_of(csr_transpose_times(self.matrix, s))

    def adjoint_symmetric(self, weights: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """:meth:`adjoint` of a lower-only plan (i == j) for the symmetric S whose
        lower triangle ``weights`` holds (C-contiguous; the rest is not read), each
        level pair below the diagonal counted twice (for itself and its mirror)."""
        ki = self.k[0]
        flat = weights.reshape(-1)
        if self.direct:
            # rows of M are the target's entries: M' (2 S - diag S), the upper rows empty
            v = csr_transpose_times(self.matrix, flat)
            v *= 2.0
            v -= csr_transpose_times(self._diagonal_rows(), np.diagonal(weights).copy())
            v *= lam[0, 0] ** 2
            return self._faces_of(v)
        at, double = self._lower_targets()
        s = flat[at] * double
        if ki > 1:
            s = sandwich(s.reshape(self.npairs, ki, ki), lam.T, lam.T).ravel()
        else:
            s *= lam[0, 0] ** 2
        return self._faces_of(csr_transpose_times(self.matrix, s))

    def _diagonal_rows(self) -> sp.csr_matrix:
        """The rows of a direct plan's M on the target's diagonal (made once)."""
        if self._diagonal is None:
            n = self._target_width
            self._diagonal = self.matrix[np.arange(n) * (n + 1)]
        return self._diagonal

    def _lower_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """Per target entry of a lower-only plan: where its value sits in the lower
        triangle (an entry above a diagonal face's diagonal reads its mirror) and its
        count (2 below the diagonal level pairs, 1 on them). Made once."""
        if self._lower is None:
            n = self._target_width
            row, col = np.divmod(self.targets, n)
            at = np.where(row >= col, self.targets, col * n + row)
            ki = self.k[0]
            double = np.where(row // ki > col // ki, 2.0, 1.0)
            self._lower = (at, double)
        return self._lower

    def _faces_of(self, v: np.ndarray) -> np.ndarray:
        """The faces ``(l0, k0, k0)`` from ``M' s``."""
        if self.by_level:
            return v.reshape(-1, 1, 1)
        ki, _, k0 = self.k
        # v holds d<S, .>/dW_e per entry e of a_i, with W_e = A_i,e C_c: the face's
        # part is A_i,e' v_e, summed over the entries of each column level
        per_entry = small_matmul(self._w_values.transpose(0, 2, 1), v.reshape(-1, ki, k0))
        return sum_by_level(per_entry, self._w_cols, self._l0)


class DenseColumns:
    """``L[i,0][:, H] L[j,0][:, H]'`` for a set H of column levels, by dense BLAS.

    Parameters
    ----------
    a_i, a_j : SparseBlock
        ``A[i,0]`` and ``A[j,0]`` (the patterns of ``L[i,0]`` and ``L[j,0]``).
    columns : ndarray of bool
        The column levels H.
    symmetric : bool
        i == j: only the lower triangle of the target is updated (syrk).
    """

    def __init__(self, a_i: SparseBlock, a_j: SparseBlock, columns: np.ndarray,
                 symmetric: bool) -> None:
        self.levels = np.flatnonzero(columns)
        self.symmetric = symmetric
        rank = np.full(len(columns), -1, dtype=np.int64)
        rank[self.levels] = np.arange(len(self.levels))
        self._sides = [self._side(a, rank) for a in ((a_i,) if symmetric else (a_i, a_j))]

    def _side(self, a: SparseBlock, rank: np.ndarray) -> tuple:
        kr, kc = a.block_shape
        entries = np.flatnonzero(rank[a.cols] >= 0)
        return entries, a.rows[entries], rank[a.cols[entries]], a.nrow_levels, kr, kc

    def _gather(self, block: Block, side: tuple) -> np.ndarray:
        entries, rows, hcols, nrow, kr, kc = side
        nh = len(self.levels)
        if isinstance(block, SparseBlock):
            out = np.zeros((nrow, kr, nh, kc))
            out[rows, :, hcols, :] = block.data[entries]
            return out.reshape(nrow * kr, nh * kc)
        if nh * kc == block.shape[1]:  # every level: the block itself
            return block
        elem = (self.levels[:, None] * kc + np.arange(kc)).ravel()
        return np.ascontiguousarray(block[:, elem])

    def adjoint(self, weights: np.ndarray, b_i: Block, b_j: Block, k0: int,
                l0: int) -> np.ndarray:
        """``B_i[:, c]' S B_j[:, c]`` for each column level c in H (zero elsewhere),
        ``(l0, k0, k0)``, for S = ``weights`` (all of it: symmetric weights are not
        halved) and blocks ``B_i``, ``B_j`` on the pattern of ``A[i,0]``, ``A[j,0]``
        (A's own, or L's)."""
        d_i = self._gather(b_i, self._sides[0])
        d_j = d_i if self.symmetric else self._gather(b_j, self._sides[1])
        nh = len(self.levels)
        out = np.zeros((l0, k0, k0))
        y = (weights @ d_j).reshape(-1, nh, k0)
        out[self.levels] = level_products(d_i.reshape(-1, nh, k0), y)
        return out

    def product_of(self, a_i: Block, a_j: Block, faces: np.ndarray) -> np.ndarray:
        """``sum_c A_i[:, c] C_c A_j[:, c]'`` over the column levels c in H, dense and
        whole (both triangles), from A's blocks and the faces ``C_c`` (``(l0, k0, k0)``)."""
        d_i = self._gather(a_i, self._sides[0])
        d_j = d_i if self.symmetric else self._gather(a_j, self._sides[1])
        nh, k0 = len(self.levels), faces.shape[1]
        scaled = np.matmul(d_i.reshape(-1, nh, 1, k0), faces[self.levels][None]).reshape(
            d_i.shape)
        return scaled @ d_j.T

    def subtract_from(self, target: np.ndarray, l_i: Block, l_j: Block) -> None:
        """``target -= L[i,0][:, H] L[j,0][:, H]'`` (lower triangle only when symmetric)."""
        d_i = self._gather(l_i, self._sides[0])
        if self.symmetric:
            subtract_gram_lower(target, d_i)
            return
        d_j = self._gather(l_j, self._sides[1])
        target -= d_i @ d_j.T


def level_products(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``out[g] = x[:, g, :]' y[:, g, :]`` for ``(r, l, k)`` arrays, ``(l, k, k)``.

    A batched matmul (k > 1) or a column sum of products (k = 1): numpy's einsum for
    this contraction was 6-13x slower at k = 2 and 4 (d3's and kb07's shapes).
    """
    if x.shape[2] == 1:
        return np.add.reduce(x[:, :, 0] * y[:, :, 0], axis=0).reshape(-1, 1, 1)
    return np.matmul(x.transpose(1, 2, 0), y.transpose(1, 0, 2))


def sum_by_level(values: np.ndarray, levels: np.ndarray, nlevels: int) -> np.ndarray:
    """``out[c] = sum of values[e] over e with levels[e] == c`` for ``(n, k, k)`` values."""
    k2 = values.shape[1] * values.shape[2]
    flat = values.reshape(-1, k2)
    out = np.empty((nlevels, k2))
    for t in range(k2):
        out[:, t] = np.bincount(levels, weights=flat[:, t], minlength=nlevels)
    return out.reshape(nlevels, values.shape[1], values.shape[2])


def split_columns(
    a_i: SparseBlock, a_j: SparseBlock, lower_only: bool,
    max_nnz: int = MAX_PLAN_NNZ,
) -> tuple[np.ndarray, int, float]:
    """Which column levels go to the dense product, by estimated cost.

    Returns
    -------
    heavy : ndarray of bool
        Column levels for :class:`DenseColumns`.
    plan_nnz : int
        Nonzeros of the plan over the other columns.
    cost : float
        Estimated cost of plan + dense product (ns-like units of the COST_* constants).
    """
    ki, k0 = a_i.block_shape
    kj = a_j.block_shape[0]
    m = 1 if k0 == 1 else k0
    ci = np.bincount(a_i.cols, minlength=a_i.ncol_levels).astype(np.float64)
    cj = np.bincount(a_j.cols, minlength=a_j.ncol_levels).astype(np.float64)
    triples = ci * (ci + 1) / 2 if lower_only else ci * cj
    nnz = triples * ki * kj * m
    dense_one = a_i.nrow_levels * ki * a_j.nrow_levels * kj * k0 * (0.5 if lower_only else 1.0)
    heavy = nnz * COST_PLAN > dense_one * COST_DENSE
    light = np.flatnonzero(~heavy)
    total = nnz[light].sum()
    if total > max_nnz:
        # move the heaviest remaining columns until the rest fits in the budget
        light = light[np.argsort(-nnz[light], kind="stable")]
        remaining = total - np.cumsum(nnz[light])
        heavy[light[: int(np.argmax(remaining <= max_nnz)) + 1]] = True
    plan_nnz = int(nnz[~heavy].sum())
    cost = COST_PLAN_OVERHEAD + plan_nnz * COST_PLAN + dense_one * COST_DENSE * heavy.sum()
    return heavy, plan_nnz, cost


def generic_cost(a_i: SparseBlock, a_j: SparseBlock, sparse_i: bool, sparse_j: bool,
                 symmetric: bool) -> float:
    """Estimated cost of ``L[i,0] L[j,0]'`` by :func:`blocks.times_transpose`.

    ``sparse_*`` tell whether ``L[i,0]`` and ``L[j,0]`` are stored sparse.
    """
    ki, k0 = a_i.block_shape
    kj = a_j.block_shape[0]
    n_i, n_j = a_i.nrow_levels * ki, a_j.nrow_levels * kj
    if sparse_i and sparse_j:
        ci = np.bincount(a_i.cols, minlength=a_i.ncol_levels).astype(np.float64)
        cj = ci if symmetric else np.bincount(a_j.cols, minlength=a_j.ncol_levels)
        return float(ci @ cj) * ki * kj * k0 * COST_SPGEMM + n_i * n_j * COST_TODENSE
    if sparse_i or sparse_j:
        nnz, other = (len(a_i.rows) * ki, n_j) if sparse_i else (len(a_j.rows) * kj, n_i)
        return nnz * k0 * other * COST_SPMM
    return n_i * n_j * a_i.ncol_levels * k0 * COST_DENSE


class FillPlan:
    """``L[i,0] L[j,0]'`` as a :class:`CrossPlan` over the light column levels and
    :class:`DenseColumns` over the heavy ones (either may be absent)."""

    def __init__(self, a_i: SparseBlock, a_j: SparseBlock, symmetric: bool,
                 heavy: np.ndarray) -> None:
        self.sparse = CrossPlan(a_i, a_j, symmetric, ~heavy) if not heavy.all() else None
        self.dense = DenseColumns(a_i, a_j, heavy, symmetric) if heavy.any() else None

    def subtract_from(self, target: np.ndarray, faces: np.ndarray, lam_i: np.ndarray,
                      lam_j: np.ndarray, l_i: Block, l_j: Block) -> None:
        """``target -= L[i,0] L[j,0]'`` (the lower triangle only when symmetric)."""
        if self.sparse is not None:
            self.sparse.subtract_from(target, faces, lam_i, lam_j)
        if self.dense is not None:
            self.dense.subtract_from(target, l_i, l_j)
