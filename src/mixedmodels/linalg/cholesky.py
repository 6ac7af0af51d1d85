"""Blocked Cholesky factor of the penalised cross-product matrix.

For random-effect blocks ``1..m`` and the ``[X y]`` block, the factor ``L`` satisfies

    L L' = diag(Lambda', I) A diag(Lambda, I) + diag(I, 0)

where ``A = [Z X y]'[Z X y]``. The structure (which blocks are block-diagonal, sparse
or dense) is decided once from the pattern of ``A``; each update for a new ``Lambda``
then only recomputes values.

This module knows nothing about formulas or models: it takes the blocks of ``A`` and
the small ``lambda_j`` templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg.blas import dtrsv
from scipy.linalg.lapack import dtrtri

from mixedmodels.linalg.blocks import (
    MANY_MATRICES,
    Block,
    SparseBlock,
    blockdiag_to_dense,
    right_solve_faces_inplace,
    scale_columns,
    scale_dense,
    scale_faces,
    scale_rows,
    scale_sparse,
    times,
    times_lower_transpose,
    times_transpose,
    transpose_times_vector,
)
from mixedmodels.linalg.dense import (
    cholesky_lower_inplace,
    left_solve,
    left_solve_transpose,
    lower_inverse_faces,
    right_solve_transpose,
    small_cholesky,
    subtract_gram_lower,
)
from mixedmodels.linalg.products import FillPlan, generic_cost, level_faces, split_columns

# Off-diagonal blocks denser than this (as a fraction of level pairs) are stored dense.
SPARSE_DENSITY = 0.25
# Dense temporaries of more elements than this are solved in place, in chunks.
_IN_PLACE_SIZE = 1 << 24
# Dense blocks below a vector-valued first term of at most this many elements are
# scaled and solved in one pass over their columns (one temporary of their size).
_SCALE_SOLVE_SIZE = 1 << 20
# Where every block below the first term is dense, the later terms and [X y] are
# updated as one dense array when it and its block beside the first term hold at most
# this many elements each (:meth:`BlockedCholesky._update_folded`).
_FOLD_SIZE = 1 << 20


@dataclass
class CrossProducts:
    """The blocks of ``A = [Z X y]'[Z X y]`` (lower triangle).

    Attributes
    ----------
    diag : list of ndarray, each (l_j, k_j, k_j)
        ``Z_j' Z_j``, block diagonal because each row has one level of each factor.
    off : dict of (i, j) -> SparseBlock or ndarray, i > j
        ``Z_i' Z_j`` at level granularity, or as a dense ``(l_i k_i, l_j k_j)`` array
        (C-ordered) where it is dense: such a block of L is then stored dense too,
        in a buffer of its own that each update overwrites (no sparse copy of A's
        block is ever made).
    xz : list of ndarray, each (p + 1, l_j k_j)
        ``[X y]' Z_j``.
    xx : ndarray, (p + 1, p + 1)
        ``[X y]' [X y]``.
    """

    diag: list[np.ndarray]
    off: dict[tuple[int, int], Block]
    xz: list[np.ndarray]
    xx: np.ndarray
    # What depends on the Z blocks only (the fill plans), shared with with_response().
    z_cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def with_response(self, xz: list[np.ndarray], xx: np.ndarray) -> CrossProducts:
        """The same Z blocks with new ``[X y]`` blocks (for a new response)."""
        return CrossProducts(self.diag, self.off, xz, xx, self.z_cache)

    def dense_off(self, i: int, j: int) -> np.ndarray:
        """Block (i, j) of ``off`` as a dense array, made once per Z (in ``z_cache``)
        where it is sparse."""
        a = self.off[(i, j)]
        if not isinstance(a, SparseBlock):
            return a
        cache = self.z_cache.setdefault("dense_off", {})
        dense = cache.get((i, j))
        if dense is None:
            dense = cache[(i, j)] = a.toarray()
        return dense


def _faces_cholesky(faces: np.ndarray) -> np.ndarray:
    if faces.shape[1] == 1:
        return np.sqrt(faces)
    return small_cholesky(faces)


def _faces_inverse(chol_faces: np.ndarray) -> np.ndarray:
    if chol_faces.shape[1] == 1:
        return 1.0 / chol_faces
    return lower_inverse_faces(chol_faces)


class BlockedCholesky:
    """Blocked lower Cholesky factor, updated in place for each ``Lambda``.

    Parameters
    ----------
    A : CrossProducts
        The cross-product blocks, with random-effect terms ordered so that the
        first has the most levels.
    """

    def __init__(self, A: CrossProducts) -> None:
        self.A = A
        self.m = len(A.diag)
        self.nlevels = [d.shape[0] for d in A.diag]
        self.ncoef = [d.shape[1] for d in A.diag]
        self.p = A.xx.shape[0] - 1
        self.blockdiag = [True] * self.m
        self.sparse_off: dict[tuple[int, int], bool] = {}
        self._decide_structure()
        if "fill_plans" not in A.z_cache:  # built once per Z, reused for new responses
            A.z_cache["fill_plans"] = self._make_plans()
        self.plans: dict[tuple[int, int], FillPlan] = dict(A.z_cache["fill_plans"])
        self._lams: list[np.ndarray] = []
        self._faces0: np.ndarray | None = None
        # the first template and A's faces that diag[0] and diag_inv[0] hold
        self._first_at: tuple[bytes, np.ndarray] | None = None
        self.diag: list[np.ndarray] = [np.empty(0)] * self.m
        self.diag_inv: list[np.ndarray | None] = [None] * self.m
        self.off: dict[tuple[int, int], Block] = {}
        self.x: list[np.ndarray] = [np.empty(0)] * self.m
        self.xx = np.empty((self.p + 1, self.p + 1))
        self.fold = self._fold_layout()
        if self.fold is not None:
            n, q0 = self.fold[-1].stop, self.nlevels[0] * self.ncoef[0]
            # the folded block of L (zero above its diagonal where never written), A's
            # block below the first term scaled on the left, and L's block there
            self.fold_factor = np.zeros((n, n))
            self.fold_left = np.empty((n, q0))
            self.fold_left[self.fold[-1]] = A.xz[0]
            self._fold_below = np.empty((n, q0), order="F")
            self._fold_scaled = np.zeros((n, n))  # T's block of Lambda' A Lambda + I
            self._fold_scaled[self.fold[-1], self.fold[-1]] = A.xx
            self._fold_at: bytes | None = None  # the later templates it holds
            self._xx_mask = np.tri(self.p + 1)

    # ------------------------------------------------------------------ structure
    def _decide_structure(self) -> None:
        m = self.m
        for j in range(m):
            if j > 0:
                # Diagonal block j stays block diagonal when every earlier term is
                # nested in term j, i.e. all fill lands on the diagonal faces.
                self.blockdiag[j] = all(
                    self.sparse_off[(j, k)] and self.A.off[(j, k)].is_nested() for k in range(j)
                )
            for i in range(j + 1, m):
                no_fill = all(
                    not (self._nonzero(i, k) and self._nonzero(j, k)) for k in range(j)
                )
                a = self.A.off[(i, j)]
                self.sparse_off[(i, j)] = (
                    isinstance(a, SparseBlock)
                    and self.blockdiag[j]
                    and no_fill
                    and (a.is_nested() or a.density() < SPARSE_DENSITY)
                )

    def _fold_layout(self) -> list[slice] | None:
        """The rows of each later term and of ``[X y]`` (last) in the folded block, or
        None where the factor is not updated folded (:meth:`_update_folded`)."""
        m = self.m
        if m < 2 or not self.blockdiag[0] or any(self.blockdiag[1:]) or self.plans:
            return None
        if any(self.sparse_off.values()):
            return None
        sizes = [self.nlevels[j] * self.ncoef[j] for j in range(1, m)] + [self.p + 1]
        n = sum(sizes)
        if n * max(n, self.nlevels[0] * self.ncoef[0]) > _FOLD_SIZE:
            return None
        ends = np.cumsum(sizes)
        return [slice(int(e - s), int(e)) for s, e in zip(sizes, ends, strict=True)]

    def dense_a(self, i: int, j: int) -> Block:
        """A's off-diagonal block (i, j), as a dense array where L stores that block
        dense (made once per Z and shared by models with other responses), else as A
        holds it.

        Scaling a dense copy by the templates (``scale_dense``, into L's buffer) costs
        a fraction of scaling the sparse blocks and scattering them into a new dense
        array at every evaluation (kb07's 128 x 224 block of 1792 4 x 4 blocks: 40
        against 250 us), and its products with vectors are BLAS calls; L's block is
        already that large.
        """
        a = self.A.off[(i, j)]
        if not isinstance(a, SparseBlock) or self.sparse_off[(i, j)]:
            return a
        return self.A.dense_off(i, j)

    def _make_plans(self) -> dict[tuple[int, int], FillPlan]:
        """Precomputed ``L[i,0] L[j,0]'`` for dense targets, where cheaper than the
        generic sparse products (by the cost model of ``linalg.products``)."""
        plans: dict[tuple[int, int], FillPlan] = {}
        for j in range(1, self.m):
            for i in range(j, self.m):
                dense_target = not self.blockdiag[j] if i == j else not self.sparse_off[(i, j)]
                if not dense_target:
                    continue
                a_i, a_j = self.A.off[(i, 0)], self.A.off[(j, 0)]
                if not (isinstance(a_i, SparseBlock) and isinstance(a_j, SparseBlock)):
                    continue  # a dense block of A: L[i,0] L[j,0]' by BLAS
                if len(a_i.rows) == 0 or len(a_j.rows) == 0:
                    continue
                symmetric = i == j
                heavy, _, cost = split_columns(a_i, a_j, symmetric)
                generic = generic_cost(a_i, a_j, self.sparse_off[(i, 0)],
                                       self.sparse_off[(j, 0)], symmetric)
                if cost < generic:
                    plans[(i, j)] = FillPlan(a_i, a_j, symmetric, heavy)
        return plans

    def _subtract_fill(self, t: np.ndarray, i: int, j: int, k: int) -> None:
        """``t -= L[i,k] L[j,k]'`` (dense t), by a plan where there is one."""
        plan = self.plans.get((i, j)) if k == 0 else None
        if plan is None:
            block = self.off[(i, k)]
            if i == j and isinstance(block, np.ndarray):
                subtract_gram_lower(t, block)  # t's lower triangle is all that is read
            else:
                t -= times_transpose(block, self.off[(j, k)])
            return
        if self._faces0 is None:
            self._faces0 = level_faces(self.diag_inv[0], self._lams[0])
        lam = self._lams
        plan.subtract_from(t, self._faces0, lam[i], lam[j], self.off[(i, 0)], self.off[(j, 0)])

    def _nonzero(self, i: int, j: int) -> bool:
        a = self.A.off[(i, j)]
        return isinstance(a, np.ndarray) or len(a.rows) > 0

    def largest_dense_order(self) -> int:
        """Order of the largest dense diagonal block (the [X y] block included)."""
        dense = [self.nlevels[j] * self.ncoef[j] for j in range(self.m) if not self.blockdiag[j]]
        return max([self.p + 1, *dense])

    def describe(self) -> list[str]:
        """One line per block of L naming its storage (for diagnostics and tests)."""
        lines = []
        for j in range(self.m):
            kind = "block-diagonal" if self.blockdiag[j] else "dense"
            lines.append(f"L[{j},{j}]: {kind}")
            for i in range(j + 1, self.m):
                kind = "sparse" if self.sparse_off[(i, j)] else "dense"
                lines.append(f"L[{i},{j}]: {kind}")
        return lines

    # ------------------------------------------------------------------ update
    def update(self, lams: list[np.ndarray]) -> bool:
        """Recompute L for the templates ``lams`` (one k_j x k_j lower triangle per term).

        Returns
        -------
        bool
            False when a diagonal block is not positive definite (the fixed-effects
            block of a degenerate problem); the factor is then unusable.
        """
        # small_cholesky signals failure by NaN (raised as LinAlgError), as np.linalg's
        # kernels do inside the same error state: no RuntimeWarning.
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return self._update(lams)

    def _update(self, lams: list[np.ndarray]) -> bool:
        A = self.A
        self._lams = lams
        self._faces0 = None
        try:
            if self.fold is not None:
                self._update_folded(lams)
                return True
            for j in range(self.m):
                if j == 0:
                    self._update_first(lams[0])
                else:
                    self._update_diagonal(j, lams[j])
                for i in range(j + 1, self.m):
                    self._update_off(i, j, lams)
                t = scale_columns(A.xz[j], lams[j])
                for k in range(j):
                    t -= times_transpose(self.x[k], self.off[(j, k)])
                self.x[j] = self._right_solve(t, j)
            xx = A.xx.copy()
            for k in range(self.m):
                xx -= self.x[k] @ self.x[k].T
            self.xx = small_cholesky(xx)
        except np.linalg.LinAlgError:
            return False
        return True

    def _update_folded(self, lams: list[np.ndarray]) -> None:
        """The update where every block below the first term is dense (fully crossed
        designs such as kb07's): the later terms and ``[X y]`` as one dense block T.

        ``L_T0 = Lambda_T' A_T0 (I kron lambda_0) L_00^{-T}`` in one batched product
        over the first term's levels, then ``L_TT`` from one ``syrk`` and one ``potrf``
        of T's scaled block of A: three BLAS calls for what the blockwise update does
        in one per block and several small ones for ``[X y]``. L's blocks are then
        views of these arrays (the same numbers as the blockwise update computes, up
        to rounding).
        """
        self._update_first(lams[0])
        self._scale_folded(lams)
        m, rows, xy = self.m, self.fold, self.fold[-1]
        w, left, below = self.fold_factor, self.fold_left, self._fold_below
        n = w.shape[0]
        np.copyto(w, self._fold_scaled)
        # level c's columns of L_T0 are left's times lambda_0 L_c^{-T}: in L_T0's
        # transpose (below is Fortran-ordered) one product per level with a row-major
        # operand (twice as fast as the same product on left's column blocks)
        k0 = self.ncoef[0]
        np.matmul(np.matmul(self.diag_inv[0], lams[0].T), left.T.reshape(-1, k0, n),
                  out=below.T.reshape(-1, k0, n))
        subtract_gram_lower(w, below)
        cholesky_lower_inplace(w)
        for j in range(1, m):
            r = rows[j - 1]
            self.diag[j] = w[r, r]
            self.off[(j, 0)] = below[r]
            for i in range(j + 1, m):
                self.off[(i, j)] = w[rows[i - 1], r]
            self.x[j] = w[xy, r]
        self.x[0] = below[xy]
        self.xx = w[xy, xy] * self._xx_mask  # as small_cholesky gives it: zero above

    def _scale_folded(self, lams: list[np.ndarray]) -> None:
        """``Lambda_T' A_T0`` (``fold_left``) and T's block of ``Lambda' A Lambda + I``
        (lower triangle), unless they hold the later templates already (the check's
        Hessian steps the first term's parameters one at a time)."""
        key = b"".join(lam.tobytes() for lam in lams[1:])
        if self._fold_at == key:
            return
        self._fold_at = None
        A, m, rows, xy = self.A, self.m, self.fold, self.fold[-1]
        w = self._fold_scaled
        for j in range(1, m):
            r, lam, l, k = rows[j - 1], lams[j], self.nlevels[j], self.ncoef[j]
            scale_rows(self.dense_a(j, 0), lam, out=self.fold_left[r])
            # the diagonal block's faces (it is 0 between them, from the start)
            diag = w[r, r].reshape(l, k, l, k)
            at = np.arange(l)
            diag[at, :, at, :] = scale_faces(A.diag[j], lam)
            diag[at, np.arange(k)[:, None], at, np.arange(k)[:, None]] += 1.0
            for i in range(j + 1, m):
                scale_dense(self.dense_a(i, j), lams[i], lam, out=w[rows[i - 1], r])
            w[xy, r] = scale_columns(A.xz[j], lam)
        self._fold_at = key

    def _update_first(self, lam: np.ndarray) -> None:
        """The first term's faces, unless they hold ``lam`` already: they depend on its
        template and ``A.diag[0]`` alone, and stay where only later terms' parameters
        moved (the convergence check's Hessian steps them one at a time)."""
        key = lam.tobytes()
        first = self._first_at
        if first is not None and first[0] == key and first[1] is self.A.diag[0]:
            return
        self._first_at = None
        self._update_diagonal(0, lam)
        self._first_at = (key, self.A.diag[0])

    def _update_diagonal(self, j: int, lam: np.ndarray) -> None:
        faces = scale_faces(self.A.diag[j], lam)
        k = self.ncoef[j]
        if self.blockdiag[j]:
            faces = faces + np.eye(k)
            for kk in range(j):
                s = self.off[(j, kk)]
                np.subtract.at(faces, s.rows, np.matmul(s.data, s.data.transpose(0, 2, 1)))
            chol = _faces_cholesky(faces)
            self.diag[j] = chol
            self.diag_inv[j] = _faces_inverse(chol)
        else:
            d = blockdiag_to_dense(faces)
            d.flat[:: d.shape[0] + 1] += 1.0  # the diagonal (np.diag_indices_from is slow)
            for kk in range(j):
                self._subtract_fill(d, j, j, kk)
            self.diag[j] = cholesky_lower_inplace(d)

    def _update_off(self, i: int, j: int, lams: list[np.ndarray]) -> None:
        a = self.dense_a(i, j)
        if isinstance(a, np.ndarray):
            # L's block in a buffer of its own, overwritten in place: no temporary of
            # the block's size (A's dense blocks are the largest arrays of a fit)
            t = self.off.get((i, j))
            if t is None or not t.flags.c_contiguous:  # C-ordered, as plans and BLAS want
                t = np.empty(a.shape)
            if j == 0 and self.ncoef[0] > 1 and a.size <= _SCALE_SOLVE_SIZE:
                self.off[(i, 0)] = self._scale_solve_first(a, lams[i], lams[0], t)
                return
            scale_dense(a, lams[i], lams[j], out=t)
            for k in range(j):
                self._subtract_fill(t, i, j, k)
            self.off[(i, j)] = self._right_solve(t, j)
            return
        # a sparse block of L (dense_a gives the others dense)
        vals = scale_sparse(a, lams[i], lams[j])
        self.off[(i, j)] = a.like(self._right_solve_blocks(vals, a.cols, j))

    def _scale_solve_first(self, a: np.ndarray, lam_i: np.ndarray, lam_0: np.ndarray,
                           out: np.ndarray) -> np.ndarray:
        """``L[i,0] = (I kron lam_i)' a (I kron lam_0) L_00^{-T}`` for a dense block ``a``
        of A below the first term (which has no fill to subtract), into ``out``.

        Per column level c the right factors make one k x k matrix ``lam_0 L_c^{-T}``:
        one batched product over the columns instead of two (kb07's 128 x 224 block:
        115-175 against 250-295 us) and no transposed copy of the result.
        """
        r, k = a.shape[0], lam_0.shape[0]
        right = np.matmul(lam_0, self.diag_inv[0].transpose(0, 2, 1))
        left = scale_rows(a, lam_i)
        np.matmul(left.reshape(r, -1, k).transpose(1, 0, 2), right,
                  out=out.reshape(r, -1, k).transpose(1, 0, 2))
        return out

    def _right_solve(self, t: np.ndarray, j: int) -> np.ndarray:
        """``t L_jj^{-T}`` for a dense temporary t (overwritten)."""
        if self.blockdiag[j]:
            k = self.ncoef[j]
            if k == 1:
                return np.divide(t, self.diag[j][:, 0, 0][None, :], out=t)
            r = t.shape[0]
            t3 = t.reshape(r, -1, k)
            if t.size > _IN_PLACE_SIZE:  # level by level chunks, written back into t
                right_solve_faces_inplace(t3, self.diag_inv[j])
                return t
            # per level a: t[:, a, :] @ inv_a' (inv_a lower triangular)
            if r >= 16 or t3.shape[1] < 1024:  # else: many tiny products, elementwise
                out = np.matmul(t3.transpose(1, 0, 2), self.diag_inv[j].transpose(0, 2, 1))
                return out.transpose(1, 0, 2).reshape(r, -1)
            return times_lower_transpose(t3, self.diag_inv[j]).reshape(r, -1)
        return right_solve_transpose(self.diag[j], t)

    def _right_solve_blocks(self, vals: np.ndarray, cols: np.ndarray, j: int) -> np.ndarray:
        """Blockwise ``B L_b^{-T}`` for sparse blocks in column levels ``cols``."""
        if self.ncoef[j] == 1:
            return vals / self.diag[j][cols, :, :]
        inv = self.diag_inv[j][cols]
        if len(cols) < MANY_MATRICES:
            return np.matmul(vals, inv.transpose(0, 2, 1))
        return times_lower_transpose(vals, inv[:, None])

    # ------------------------------------------------------------------ read-outs
    def logdet_random(self) -> float:
        """``log det`` of the random-effects part of ``L L'``."""
        # np.add.reduce and ndarray.diagonal: np.sum's and np.diagonal's reductions
        # without their wrappers (this runs once per objective evaluation)
        total = 0.0
        for j in range(self.m):
            d = self.diag[j]
            diag = d.diagonal(0, 1, 2) if self.blockdiag[j] else d.diagonal()
            total += 2.0 * float(np.add.reduce(np.log(diag), axis=None))
        return total

    def logdet_fixed(self) -> float:
        """``log det(R_X' R_X)``, the fixed-effects part."""
        return 2.0 * float(np.add.reduce(np.log(self.xx.diagonal()[: self.p]), axis=None))

    def pwrss(self) -> float:
        """Penalised weighted residual sum of squares (the last diagonal of L, squared)."""
        return float(self.xx[self.p, self.p] ** 2)

    # ------------------------------------------------------------------ solves
    def _transpose_solve(self, j: int, rhs: np.ndarray) -> np.ndarray:
        """Solve ``L_jj' x = rhs``."""
        if self.blockdiag[j]:
            k = self.ncoef[j]
            if k == 1:
                return rhs / self.diag[j][:, 0, 0]
            # per level inv' rhs, as the row vector rhs' inv
            return np.matmul(rhs.reshape(-1, 1, k), self.diag_inv[j]).ravel()
        return left_solve_transpose(self.diag[j], rhs)

    def fixed_effects(self) -> np.ndarray:
        """The conditional estimate of beta at the current theta."""
        p = self.p
        if p == 0:
            return np.zeros(0)
        # BLAS directly: scipy.linalg.solve_triangular's checks cost more than the
        # solve at the usual few fixed effects
        return dtrsv(self.xx[:p, :p], self.xx[p, :p], lower=1, trans=1)

    def spherical_effects(self, beta: np.ndarray) -> list[np.ndarray]:
        """The conditional modes ``u`` (one flat array per term) at the current theta."""
        p = self.p
        if self.fold is not None:
            return self._folded_spherical(beta)
        v = [self.x[j][p, :] - self.x[j][:p, :].T @ beta for j in range(self.m)]
        u: list[np.ndarray] = [np.empty(0)] * self.m
        for j in range(self.m - 1, -1, -1):
            rhs = v[j].copy()
            for i in range(j + 1, self.m):
                rhs -= transpose_times_vector(self.off[(i, j)], u[i])
            u[j] = self._transpose_solve(j, rhs)
        return u

    def _folded_spherical(self, beta: np.ndarray) -> list[np.ndarray]:
        """:meth:`spherical_effects` from the folded block: the later terms' ``u`` by
        one triangular solve with all of it (a right side that is 0 in the rows of
        ``[X y]`` gives 0 there), then the first term's."""
        w, xy, p = self.fold_factor, self.fold[-1], self.p
        mz = xy.start
        rhs = np.zeros(w.shape[0])
        x = w[xy, :mz]
        rhs[:mz] = x[p] - x[:p].T @ beta
        s = dtrsv(w.T, rhs, lower=0)  # w.T: L' in Fortran order
        v0 = self.x[0][p] - self.x[0][:p].T @ beta - self._fold_below[:mz].T @ s[:mz]
        return [self._transpose_solve(0, v0)] + [s[r] for r in self.fold[:-1]]

    def fixed_precision_inverse(self) -> np.ndarray:
        """``(R_X' R_X)^{-1}``: vcov(beta) divided by sigma^2."""
        p = self.p
        if p == 0:
            return np.zeros((0, 0))
        rinv, info = dtrtri(self.xx[:p, :p], lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the fixed-effects factor is singular")
        return rinv.T @ rinv

    def random_inverse_faces(self) -> list[np.ndarray]:
        """Diagonal faces of ``(L_Z L_Z')^{-1}``, one ``(l_j, k_j, k_j)`` array per term.

        ``sigma^2 Lambda_j F Lambda_j'`` for a face F is the conditional covariance of
        that level's random effects given the data (lme4's ``condVar``).
        """
        out = []
        for j in range(self.m):
            l, k = self.nlevels[j], self.ncoef[j]
            # Column block j of M = L_Z^{-1}: the diagonal block, then M[i, j] for i > j.
            if self.blockdiag[j]:
                inv = self.diag_inv[j]
                faces = np.matmul(inv.transpose(0, 2, 1), inv)
                below = [self._left_multiply_by_inverse_faces(self.off.get((i, j)), j)
                         for i in range(j + 1, self.m)]
                mjj: np.ndarray | None = None
            else:
                mjj = left_solve(self.diag[j], np.eye(l * k))
                m3 = mjj.reshape(-1, l, k)
                faces = np.einsum("rak,ral->akl", m3, m3)
                below = [times(self.off[(i, j)], mjj) for i in range(j + 1, self.m)]
            column: dict[int, np.ndarray] = {}
            for idx, i in enumerate(range(j + 1, self.m)):
                acc = below[idx]
                for kk in range(j + 1, i):
                    acc = acc + times(self.off[(i, kk)], column[kk])
                column[i] = -self._left_solve(i, acc)
                m3 = column[i].reshape(-1, l, k)
                faces = faces + np.einsum("rak,ral->akl", m3, m3)
            out.append(faces)
        return out

    def _left_multiply_by_inverse_faces(self, block: Block, j: int) -> np.ndarray:
        """Dense ``B D`` where D is block j's inverse faces (block diagonal)."""
        k = self.ncoef[j]
        inv = self.diag_inv[j]
        if isinstance(block, SparseBlock):
            return block.like(np.matmul(block.data, inv[block.cols])).toarray()
        r = block.shape[0]
        return np.einsum("rak,akl->ral", block.reshape(r, -1, k), inv).reshape(r, -1)

    def _left_solve(self, i: int, t: np.ndarray) -> np.ndarray:
        """``L_ii^{-1} t`` for a dense temporary t (overwritten)."""
        if self.blockdiag[i]:
            k = self.ncoef[i]
            c = t.shape[1]
            t3 = t.reshape(-1, k, c)
            return np.matmul(self.diag_inv[i], t3).reshape(-1, c)
        return left_solve(self.diag[i], t)

