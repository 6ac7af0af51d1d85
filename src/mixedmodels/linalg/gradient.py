"""Analytic gradient of the profiled objective with respect to theta.

With ``A~ = [Z X]'[Z X]`` (weighted), ``Lambda~ = diag(Lambda, I_p)`` and
``M = Lambda~' A~ Lambda~ + diag(I_q, 0)`` (the leading part of ``L L'``), the pieces of
the objective move with a parameter ``theta_i`` of term j as

* ``d log det M = 2 tr(M^{-1} Lambda~' A~ D_i)``, ``D_i = dLambda~ / dtheta_i``
  (``I_l kron E_rc`` in term j's block). Only the k x k diagonal blocks of
  ``M^{-1} Lambda~' A~`` at the levels of term j enter; for the ML deviance M is the
  random-effects part alone, for REML it includes the fixed effects;
* ``d r^2 = -2 (Z' res)' D_i u``, with ``u`` the spherical conditional modes and
  ``res = y - X beta - Z Lambda u`` (the envelope theorem: u and beta minimise r^2).

The first term's block of L is block diagonal (faces); the rest T (later terms and, for
REML, X) is treated as one dense block, ``Omega_TT = (M^{-1})_TT``, from the factor of
T by blocks: LAPACK's ``potri`` of T's leading block (the second term's, the largest)
and triangular solves for the rest (:class:`_Omega`). No off-diagonal block of
``M^{-1}`` is formed:

* a later term j with an invertible template: ``M^{-1} Lambda~' A~ Lambda~ = I - M^{-1}
  diag(I_q, 0)``, so its blocks sum to ``(l_j I - S_j) lambda_j^{-1}``, where ``S_j``
  sums the diagonal faces of ``Omega_TT`` over its levels;
* the first term: per level g, ``H_g = A~_Tg' Lambda_T Omega_TT Lambda_T' A~_Tg`` is the
  transpose of the fill of T (the factor's fill plans run backwards); with
  ``F_g = (L_g L_g')^{-1}`` its block is ``(F_g + F_g lambda_0' H_g lambda_0 F_g)
  lambda_0' A~_gg - F_g lambda_0' H_g``;
* a later term with a singular template: ``sum_g (Omega_TT Lambda_T' (A~_TT - B))_gg``
  with B the fill of T before scaling (once more the fill of its column);
* ``Z' res`` from A's blocks: ``Z'y - Z'X beta - Z'Z Lambda u``.

A gradient costs ``potri`` of T plus about one fill; :func:`gradient_cost` estimates it.
Where every block of ``A~_T0`` is dense and the factor has no fill plan (fully crossed
designs such as kb07's), ``H_g = V_g' V_g`` with ``V = L_TT^{-1} Lambda_T' A~_T0`` and
the ``S_j`` from the later terms' columns of ``L_TT^{-1}``, both from one triangular
solve (:meth:`_TraceRoute.dense_fill_adjoint`): half the products, no ``Omega_TT``.

This module knows the factor's storage (linalg/cholesky.py) but not the model.
"""

from __future__ import annotations

import numpy as np

from mixedmodels.linalg.blocks import (
    SparseBlock,
    as_dense,
    blockdiag_to_dense,
    scale_dense,
    scale_rows,
    times,
    times_transpose,
    transpose_times_vector,
)
from mixedmodels.linalg.cholesky import BlockedCholesky, CrossProducts
from mixedmodels.linalg.dense import (
    add_gram_transpose_lower,
    inverse_lower_inplace,
    left_solve,
    left_solve_transpose,
    mirror_lower,
    right_solve,
)
from mixedmodels.linalg.products import level_faces, level_products, sum_by_level

# Smallest diagonal (in absolute value) of a later term's template for the formula with
# its inverse: below it ``l I - S`` loses about ``eps l / |diagonal|`` to cancellation,
# and the formula without the inverse (one more fill) is used. A scalar term at exactly
# 0 needs neither: its derivatives are 0.
TRACE_MIN_DIAGONAL = 1e-4
# Cost of a nonzero of a fill plan's (transposed) matrix-vector product and of a
# multiply-add of a sparse-times-dense product, in flops of dense BLAS (about 1.5 ns
# and 0.3 ns against potri at 45 GFlop/s).
_PLAN_FLOPS = 70.0
_SPMM_FLOPS = 14.0


def _term_starts(chol: BlockedCholesky) -> np.ndarray:
    """Where each later term's columns begin in T (the last entry: their total)."""
    sizes = [chol.nlevels[j] * chol.ncoef[j] for j in range(1, chol.m)]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(int)


def gradient_cost(chol: BlockedCholesky, with_x: bool) -> tuple[int, float]:
    """Order of the dense block T and an estimate of one gradient (by the trace route)
    in flops of dense BLAS: ``potri`` of T and the transposed fill of T, or where every
    block below the first term is dense, the triangular solve with ``[Lambda_T' A~_T0,
    I]``."""
    tail = _Trailing(chol, with_x)
    route = _TraceRoute(tail)
    mt = float(tail.mt)
    if route.dense:
        return tail.mt, mt**2 * (route.l0 * route.k0 + tail.mz)
    return tail.mt, mt**3 + route.cost()


class _Trailing:
    """The dense block T (the later terms and, with ``with_x``, X) and its inverse
    ``Omega_TT`` (:class:`_Omega`)."""

    def __init__(self, chol: BlockedCholesky, with_x: bool) -> None:
        self.chol = chol
        self.with_x = with_x
        self.m, self.p = chol.m, chol.p
        self.starts = _term_starts(chol)
        self.mz = int(self.starts[-1])  # random-effect columns of T
        self.mt = self.mz + (self.p if with_x else 0)
        # T's blocks in order: the later terms, then X
        self.blocks = list(range(1, self.m)) + ([self.m] if with_x and self.p else [])
        self._lead: np.ndarray | None = None  # potri's buffer, reused
        self._whole: np.ndarray | None = None  # dense_factor's buffer, reused

    def rows(self, j: int) -> slice:
        """Term j's rows of T (``j == m``: the fixed effects')."""
        if j == self.m:
            return slice(self.mz, self.mt)
        return slice(int(self.starts[j - 1]), int(self.starts[j]))

    def _block(self, b: int, c: int) -> np.ndarray:
        """L's block (b, c) of T, dense, for b at or after c in T's order."""
        chol, m, p = self.chol, self.m, self.p
        if b == c:
            if b == m:
                return chol.xx[:p, :p]
            d = chol.diag[b]
            return blockdiag_to_dense(d) if chol.blockdiag[b] else d
        return chol.x[c][:p] if b == m else as_dense(chol.off[(b, c)])

    def _dense_rows(self, rows: list[int], cols: list[int],
                    out: np.ndarray | None = None) -> np.ndarray:
        """L's blocks (rows x cols) of T as one dense array, into ``out`` (zero above
        the block diagonal: only the blocks at or below it are written) or a new one."""
        size = [self.rows(b).stop - self.rows(b).start for b in rows]
        width = [self.rows(c).stop - self.rows(c).start for c in cols]
        if out is None:
            out = np.zeros((sum(size), sum(width)))
        r0 = 0
        for b, nb in zip(rows, size, strict=True):
            c0 = 0
            for c, nc in zip(cols, width, strict=True):
                if self.blocks.index(b) >= self.blocks.index(c):
                    out[r0:r0 + nb, c0:c0 + nc] = self._block(b, c)
                c0 += nc
            r0 += nb
        return out

    def dense_factor(self) -> np.ndarray:
        """``L_TT`` as one dense array; only its lower triangle is valid (the
        factor's folded block itself where it has one, else a buffer of this object's
        overwritten at each call)."""
        if self.chol.fold is not None:
            return self.chol.fold_factor[:self.mt, :self.mt]
        if self._whole is None:
            self._whole = np.zeros((self.mt, self.mt))
        return self._dense_rows(self.blocks, self.blocks, out=self._whole)

    def inverse(self) -> _Omega:
        """``Omega_TT`` from the 2 x 2 partition of ``L_TT`` into its leading block
        (T's first block, the largest) and the rest: ``potri`` of the leading block
        alone, and no dense copy of ``L_TT``."""
        lead, rest = self.blocks[0], self.blocks[1:]
        a = self._block(lead, lead)
        if self._lead is None or self._lead.shape != a.shape:
            self._lead = np.empty(a.shape)
        np.copyto(self._lead, a)
        a = self._lead
        w = c = None
        if rest:
            # L_TT = [[A, 0], [B, C]]: W = C^{-1} B A^{-1}, before potri overwrites A
            c = self._dense_rows(rest, rest)
            w = left_solve(c, right_solve(a, self._dense_rows(rest, [lead])))
        inverse_lower_inplace(a)
        if w is None:
            return _Omega(self, a, np.zeros((0, a.shape[0])), np.zeros((0, 0)))
        # Omega_AA = (A A')^{-1} + W'W, Omega_RA = -C^{-T} W, Omega_RR = (C C')^{-1}
        add_gram_transpose_lower(a, w)
        rr = inverse_lower_inplace(c.copy())
        mirror_lower(rr)
        return _Omega(self, a, -left_solve_transpose(c, w), rr)


class _Omega:
    """``Omega_TT = (M^{-1})_TT`` by blocks of T: the leading block (only its lower
    triangle valid until :meth:`block` mirrors it), the rest's rows against it, and
    the rest."""

    def __init__(self, tail: _Trailing, lead: np.ndarray, rest_lead: np.ndarray,
                 rest: np.ndarray) -> None:
        self.tail = tail
        self.lead_block = tail.blocks[0]
        self.n = lead.shape[0]
        self._lead, self._rest_lead, self._rest = lead, rest_lead, rest
        self._mirrored = False

    def _rest_rows(self, b: int) -> slice:
        r = self.tail.rows(b)
        return slice(r.start - self.n, r.stop - self.n)

    def block(self, b: int, c: int, lower: bool = False) -> np.ndarray:
        """``Omega[b, c]`` for b at or after c in T's order, C-contiguous where it is
        the leading block. ``lower``: only the lower triangle of a diagonal block is
        read (the leading block is then not mirrored)."""
        if b == c == self.lead_block:
            if not (lower or self._mirrored):
                mirror_lower(self._lead)
                self._mirrored = True
            return self._lead
        if c == self.lead_block:
            return self._rest_lead[self._rest_rows(b)]
        return self._rest[self._rest_rows(b), self._rest_rows(c)]

    def band(self, j: int) -> np.ndarray:
        """Term j's rows of ``Omega_TT`` (all of T's columns)."""
        if j == self.lead_block:
            return np.hstack([self.block(j, j), self._rest_lead.T])
        rows = self._rest_rows(j)
        return np.hstack([self._rest_lead[rows], self._rest[rows]])

    def face_sum(self, j: int) -> np.ndarray:
        """``S_j``: the diagonal faces of ``Omega[j, j]`` summed over term j's levels
        (from the lower triangle: a face's entries above its diagonal mirrored)."""
        chol = self.tail.chol
        l, k = chol.nlevels[j], chol.ncoef[j]
        s = np.einsum("akal->kl", self.block(j, j, lower=True).reshape(l, k, l, k))
        return np.tril(s) + np.tril(s, -1).T


class _InverseFactor:
    """``L_TT^{-1}``, for the diagonal faces of ``Omega_TT = L_TT^{-T} L_TT^{-1}``."""

    def __init__(self, tail: _Trailing, inverse: np.ndarray) -> None:
        self.tail = tail
        self.inverse = inverse  # zero above the diagonal

    def face_sum(self, j: int) -> np.ndarray:
        """``S_j``: the diagonal faces of ``Omega[j, j]`` summed over term j's levels,
        ``sum_g L^{-1}[:, g]' L^{-1}[:, g]`` over T's rows at or below term j's."""
        rows = self.tail.rows(j)
        k = self.tail.chol.ncoef[j]
        cols = self.inverse[rows.start:, rows].reshape(-1, k)
        return cols.T @ cols


def residual_products(chol: BlockedCholesky, lams: list[np.ndarray], u: list[np.ndarray],
                      beta: np.ndarray) -> list[np.ndarray]:
    """Per term, ``sum_g (Z' res)_(g, r) u_(g, c)`` as a k x k array [r, c].

    u solves the normal equations ``Lambda' Z' res = u``, so for a template whose
    diagonal is at least ``TRACE_MIN_DIAGONAL`` this is ``lambda^{-T} U'U`` (U: the
    term's u by levels); for the others :func:`residual_products_from_a`.
    """
    out: list[np.ndarray | None] = []
    for lam, uj in zip(lams, u, strict=True):
        if not _invertible(lam):
            out.append(None)
            continue
        g = uj.reshape(-1, lam.shape[0])
        out.append(left_solve_transpose(lam, g.T @ g))
    rest = [j for j, o in enumerate(out) if o is None]
    if rest:
        for j, o in zip(rest, residual_products_from_a(chol, lams, u, beta, rest), strict=True):
            out[j] = o
    return out


def residual_products_from_a(chol: BlockedCholesky, lams: list[np.ndarray],
                             u: list[np.ndarray], beta: np.ndarray,
                             terms: list[int] | None = None) -> list[np.ndarray]:
    """:func:`residual_products` for ``terms`` (default: all) with ``Z' res = Z' y -
    Z' X beta - Z' Z Lambda u`` from A's blocks (the factor's dense copies where it
    has them; no inverse of a template: valid for every theta)."""
    A = chol.A
    m, p = len(A.diag), A.xx.shape[0] - 1
    v = [(u[j].reshape(-1, lams[j].shape[0]) @ lams[j].T) for j in range(m)]
    out = []
    for j in range(m) if terms is None else terms:
        zres = A.xz[j][p] - A.xz[j][:p].T @ beta
        zres -= np.matmul(A.diag[j], v[j][:, :, None]).ravel()
        for i in range(m):
            if i > j:
                zres -= transpose_times_vector(chol.dense_a(i, j), v[i].ravel())
            elif i < j:
                zres -= times(chol.dense_a(j, i), v[i].ravel())
        k = lams[j].shape[0]
        out.append(zres.reshape(-1, k).T @ u[j].reshape(-1, k))
    return out


def _times_faces(block: np.ndarray | SparseBlock, faces: np.ndarray) -> np.ndarray | SparseBlock:
    """``block (I kron C)`` blockwise: each level c's columns times its face ``C_c``."""
    if isinstance(block, SparseBlock):
        return block.like(np.matmul(block.data, faces[block.cols]))
    l0, k0 = faces.shape[0], faces.shape[1]
    return np.matmul(block.reshape(-1, l0, 1, k0), faces[None]).reshape(block.shape)


def _a_t0(A: CrossProducts, b: int) -> np.ndarray | SparseBlock:
    """Block b of ``A~_T0``: a later term's ``A[b,0]``, or (``b == len(A.diag)``) X's."""
    return A.xz[0][: A.xx.shape[0] - 1] if b == len(A.diag) else A.off[(b, 0)]


def _contract(x_b: np.ndarray | SparseBlock, weights: np.ndarray,
              x_c: np.ndarray | SparseBlock, l0: int, k0: int) -> np.ndarray:
    """``X_b[:, g]' W X_c[:, g]`` for every level g of the first term, ``(l0, k0, k0)``,
    for blocks X of ``L_T0`` (dense or sparse) and dense weights W."""
    if isinstance(x_b, SparseBlock) and not isinstance(x_c, SparseBlock):
        # the product on the dense side: W' X_b, contracted with X_c
        return _contract(x_c, np.ascontiguousarray(weights.T), x_b, l0, k0).transpose(0, 2, 1)
    y = transpose_times_vector(x_c, weights.T).T  # W X_c, (rows of b, q0)
    if isinstance(x_b, SparseBlock):
        kb = x_b.block_shape[0]
        at = y.reshape(x_b.nrow_levels, kb, l0, k0)[x_b.rows, :, x_b.cols, :]
        return sum_by_level(np.matmul(x_b.data.transpose(0, 2, 1), at), x_b.cols, l0)
    return level_products(x_b.reshape(-1, l0, k0), y.reshape(-1, l0, k0))


class _TraceRoute:
    """The diagonal faces of ``M^{-1}`` through ``M^{-1} Lambda~' A~ Lambda~ = I - M^{-1} P``.

    For a later term j with an invertible template, ``G_j = sum_g (M^{-1} Lambda~'
    A~)_gg`` equals ``(l_j I - S_j) lambda_j^{-1}``, where ``S_j`` sums the diagonal
    faces of ``M^{-1}`` (of ``Omega_TT``) over term j's levels. The first term's
    ``G_0`` (:meth:`first_term`) needs, per level g, ``H_g = A_Tg' Lambda_T Omega_TT
    Lambda_T' A_Tg``: the transpose of the fill ``L_T0 L_T0'`` of T. Where the factor
    has a fill plan for a pair of T's terms, the plan run backwards
    (:meth:`CrossPlan.adjoint`, :meth:`DenseColumns.adjoint`) gives it at about the
    fill's cost; elsewhere a product with A's blocks does. No off-diagonal block of
    ``M^{-1}`` is formed.
    """

    def __init__(self, tail: _Trailing) -> None:
        chol = tail.chol
        self.tail = tail
        self.chol = chol
        self.m = chol.m
        self.l0, self.k0 = chol.nlevels[0], chol.ncoef[0]
        self.blocks = tail.blocks
        # every block of A~_T0 dense and no fill plan: V's triangular solve
        # (dense_fill_adjoint) beats the products of fill_adjoint
        self.dense = not any(chol.plans.get((b, c)) for b, c in self._pairs() if b < self.m) \
            and all(isinstance(self._a_t0(b), np.ndarray) for b in self.blocks)
        self._rhs: np.ndarray | None = None  # dense_fill_adjoint's buffer, reused

    def _a_t0(self, b: int) -> np.ndarray | SparseBlock:
        """Block b of ``A~_T0``, dense where L stores it dense (the factor's copy:
        BLAS products beat sparse ones there)."""
        return _a_t0(self.chol.A, b) if b == self.m else self.chol.dense_a(b, 0)

    def _pairs(self) -> list[tuple[int, int]]:
        return [(b, c) for i, b in enumerate(self.blocks) for c in self.blocks[: i + 1]]

    def cost(self) -> float:
        """Flops (of dense BLAS) of :meth:`first_term` beyond ``potri``."""
        chol, k0 = self.chol, self.k0
        total = 0.0
        for b, c in self._pairs():
            plan = chol.plans.get((b, c)) if b < self.m else None
            rows_b = self.tail.rows(b).stop - self.tail.rows(b).start
            rows_c = self.tail.rows(c).stop - self.tail.rows(c).start
            if plan is None:
                total += _SPMM_FLOPS * min(rows_b * self._entries(c), rows_c * self._entries(b))
                continue
            if plan.sparse is not None:
                total += _PLAN_FLOPS * plan.sparse.nnz
            if plan.dense is not None:
                total += 2.0 * rows_b * rows_c * len(plan.dense.levels) * k0
        return total

    def _entries(self, b: int) -> int:
        """Stored entries of block b of ``A~_T0`` as the trace route reads it."""
        chol = self.chol
        if b == self.m:
            return chol.p * self.l0 * self.k0
        a = chol.A.off[(b, 0)]
        if isinstance(a, SparseBlock) and chol.sparse_off[(b, 0)]:
            return a.data.size
        return a.shape[0] * a.shape[1]

    def _weights(self, sig: np.ndarray, b: int, c: int, lams: list[np.ndarray]) -> np.ndarray:
        """``Lambda_b Omega_bc Lambda_c'`` (X's rows unscaled)."""
        one = np.ones((1, 1))
        lam_b = lams[b] if b < self.m else one
        lam_c = lams[c] if c < self.m else one
        out = np.empty(sig.shape)
        scale_dense(np.ascontiguousarray(sig), lam_b.T, lam_c.T, out=out)
        return out

    def first_term(self, h: np.ndarray, lams: list[np.ndarray]) -> np.ndarray:
        """``G_0 = sum_g (M^{-1})_gg lambda_0' A_gg + (M^{-1})_gT Lambda_T' A_Tg``.

        With ``H_g = A_Tg' Lambda_T Omega_TT Lambda_T' A_Tg`` (``h``, ``(l0, k0, k0)``)
        and ``F_g = (L_g L_g')^{-1}`` the diagonal face is ``F_g + F_g lambda_0' H_g
        lambda_0 F_g`` and the second part ``-F_g lambda_0' H_g``: no inverse of
        ``lambda_0`` (a singular first template is fine) and no cancellation near 0.
        """
        chol = self.chol
        inv0 = chol.diag_inv[0]  # L_g^{-1}
        f = np.matmul(inv0.transpose(0, 2, 1), inv0)
        lam_t = lams[0].T
        f_lam = np.matmul(f, lam_t)  # F_g lambda_0'
        own = np.matmul(f_lam, chol.A.diag[0])  # F_g lambda_0' A_gg
        inner = np.matmul(lams[0], own)
        inner -= np.eye(own.shape[1])  # lambda_0 F_g lambda_0' A_gg - I
        return np.add.reduce(own + np.matmul(f_lam, np.matmul(h, inner)), axis=0)

    def fill_adjoint(self, omega: _Omega, lams: list[np.ndarray]) -> np.ndarray:
        """``H_g = A_Tg' Lambda_T Omega_TT Lambda_T' A_Tg`` for every level g of the first
        term, ``(l0, k0, k0)``, by the fill plans run backwards where the factor has
        them and by products with A's blocks elsewhere."""
        chol, l0, k0, m = self.chol, self.l0, self.k0, self.m
        h = np.zeros((l0, k0, k0))
        for b, c in self._pairs():
            both = 1.0 if b == c else 2.0  # the pair (c, b) of the symmetric sum
            plan = chol.plans.get((b, c)) if b < m else None
            if plan is not None and plan.sparse is not None:
                if b == c:  # the plan's lower level pairs, from the lower triangle
                    h += plan.sparse.adjoint_symmetric(omega.block(b, b, lower=True), lams[b])
                else:
                    w = 2.0 * omega.block(b, c)
                    h += plan.sparse.adjoint(w, lams[b], lams[c])
                if plan.dense is None:
                    continue
            sig = omega.block(b, c)
            if plan is None:
                w = self._weights(both * sig, b, c, lams)
                h += _contract(self._a_t0(b), w, self._a_t0(c), l0, k0)
            elif plan.dense is not None:
                w = self._weights(both * sig, b, c, lams)
                h += plan.dense.adjoint(w, chol.A.off[(b, 0)], chol.A.off[(c, 0)], k0, l0)
        return 0.5 * (h + h.transpose(0, 2, 1))

    def _a_tt(self, b: int, j: int) -> np.ndarray:
        """``A~[b, j]`` dense, for b a later term or X (``b == m``) and j a later term
        (the factor's dense copy where it has one)."""
        chol = self.chol
        if b == j:
            return blockdiag_to_dense(chol.A.diag[j])
        if b == self.m:
            return chol.A.xz[j][: chol.p]
        return as_dense(chol.dense_a(b, j)) if b > j else as_dense(chol.dense_a(j, b)).T

    def _fill(self, b: int, j: int, faces: np.ndarray) -> np.ndarray:
        """``B[b, j] = sum_c A~[b,0][:, c] C_c A~[j,0][:, c]'`` (the fill of T before
        the templates scale it), dense and whole, by the factor's plans where it has
        them."""
        chol = self.chol
        if b < j:
            return self._fill(j, b, faces).T
        plan = chol.plans.get((b, j)) if b < self.m else None
        if plan is None:
            return times_transpose(_times_faces(self._a_t0(b), faces), self._a_t0(j))
        rows_b, rows_j = self.tail.rows(b), self.tail.rows(j)
        out = np.zeros((rows_b.stop - rows_b.start, rows_j.stop - rows_j.start))
        if plan.sparse is not None:
            k_b, k_j = chol.ncoef[b], chol.ncoef[j]
            plan.sparse.subtract_from(out, faces, np.eye(k_b), np.eye(k_j))
            np.negative(out, out=out)
            if b == j:  # the plan wrote the lower level pairs: mirror the strict ones
                l = chol.nlevels[j]
                strict = np.tri(l, l, -1).reshape(l, 1, l, 1)
                out += (out.reshape(l, k_j, l, k_j) * strict).reshape(out.shape).T
        if plan.dense is not None:
            out += plan.dense.product_of(chol.A.off[(b, 0)], chol.A.off[(j, 0)], faces)
        return out

    def later_term(self, omega: _Omega, lams: list[np.ndarray], j: int,
                   faces: np.ndarray) -> np.ndarray:
        """``G_j`` for a later term without inverting its template:
        ``sum_g (Omega_TT Lambda_T' (A~_TT - B))_gg`` over term j's levels, since
        ``(M^{-1})_T0 Lambda_0' A~_0T = -Omega_TT Lambda_T' B``. Costs the fill of T's
        column j once more (used where ``lambda_j`` is singular)."""
        chol = self.chol
        l, k = chol.nlevels[j], chol.ncoef[j]
        one = np.ones((1, 1))
        parts = []
        for b in self.blocks:
            block = self._a_tt(b, j) - self._fill(b, j, faces)
            scaled = np.empty(block.shape)
            scale_dense(np.ascontiguousarray(block), lams[b] if b < self.m else one,
                        np.eye(k), out=scaled)
            parts.append(scaled)
        q = np.concatenate(parts)  # Lambda_T' (A~_TT - B)[:, term j]
        sig = omega.band(j)
        return np.einsum("gat,tgb->ab", sig.reshape(l, k, -1), q.reshape(-1, l, k))

    def dense_fill_adjoint(self, lams: list[np.ndarray]) -> tuple[np.ndarray, _InverseFactor]:
        """``H_g`` (as :meth:`fill_adjoint`) and ``L_TT^{-1}``'s columns of the later
        terms where A's blocks below the first term are dense: with ``V = L_TT^{-1}
        Lambda_T' A~_T0``, ``H_g = V_g' V_g``, since ``Omega_TT = L_TT^{-T} L_TT^{-1}``.

        One triangular solve with ``[Lambda_T' A~_T0, I]``: half the products of
        :meth:`fill_adjoint` on dense blocks (``m_T^2 q_0`` multiply-adds against
        about twice that, kb07's T of order 136 against 224 columns), no
        ``Omega_TT``, and the inverse's columns faster than LAPACK's ``trtri`` of all
        of T at these orders (kb07: 233 against 151 + 126 us).
        """
        tail, l0, k0, chol = self.tail, self.l0, self.k0, self.chol
        lower = tail.dense_factor()
        q0, mt, mz = l0 * k0, tail.mt, tail.mz
        if self._rhs is None:
            self._rhs = np.empty((mt, q0 + mz))
        rhs = self._rhs
        right = rhs[:, :q0]  # Lambda_T' A~_T0
        if chol.fold is not None:  # the factor's update has it
            right[...] = chol.fold_left[:mt]
        else:
            for b in self.blocks:
                a = as_dense(self._a_t0(b))
                if b == self.m:
                    right[tail.rows(b)] = a
                else:
                    scale_rows(a, lams[b], out=right[tail.rows(b)])
        rhs[:, q0:] = 0.0
        rhs[:mz, q0:].flat[::mz + 1] = 1.0
        out = left_solve(lower, rhs)  # in place
        v = out[:, :q0].reshape(mt, l0, k0)
        return level_products(v, v), _InverseFactor(tail, out[:, q0:])

    def logdet(self, lams: list[np.ndarray], kinds: list[str]) -> list[np.ndarray]:
        """``G_j`` per term, by the kind of each later term (:func:`_later_kinds`)."""
        chol = self.chol
        omega: _Omega | _InverseFactor | None = None
        if not self.blocks:
            h = np.zeros((self.l0, self.k0, self.k0))
        elif self.dense and "singular" not in kinds:
            h, omega = self.dense_fill_adjoint(lams)
        else:
            omega = self.tail.inverse()
            h = self.fill_adjoint(omega, lams)
        out = [self.first_term(h, lams)]
        faces = None
        for j in range(1, self.m):
            l, k = chol.nlevels[j], chol.ncoef[j]
            if kinds[j] == "zero":
                out.append(np.zeros((k, k)))
            elif kinds[j] == "singular":
                if faces is None:
                    faces = level_faces(chol.diag_inv[0], lams[0])
                out.append(self.later_term(omega, lams, j, faces))
            else:
                s_j = omega.face_sum(j)
                out.append(right_solve(lams[j], l * np.eye(k) - s_j))
        return out


def _invertible(lam: np.ndarray) -> bool:
    """Whether the formulas with ``lambda^{-1}`` apply to a template: every diagonal
    at least ``TRACE_MIN_DIAGONAL`` in absolute value."""
    return bool(np.abs(lam.diagonal()).min() >= TRACE_MIN_DIAGONAL)


def _later_kinds(lams: list[np.ndarray]) -> list[str]:
    """How the trace route treats each later term: "zero" (a scalar term at 0: its
    derivatives are 0), "invertible" (``(l I - S_j) lambda_j^{-1}``) or "singular"
    (a template diagonal below ``TRACE_MIN_DIAGONAL``: :meth:`_TraceRoute.later_term`).
    The first term's formula needs no inverse ("any")."""
    kinds = ["any"]
    for lam in lams[1:]:
        if lam.shape == (1, 1) and lam[0, 0] == 0.0:
            kinds.append("zero")
        elif _invertible(lam):
            kinds.append("invertible")
        else:
            kinds.append("singular")
    return kinds


class ObjectiveGradient:
    """The pieces of the gradient that the factor gives.

    Parameters
    ----------
    chol : BlockedCholesky
        The factor (read at each call).
    with_x : bool
        Include the fixed effects in M (REML) or not (ML).
    """

    def __init__(self, chol: BlockedCholesky, with_x: bool) -> None:
        self.chol = chol
        self.with_x = with_x
        self.route = _TraceRoute(_Trailing(chol, with_x))

    def logdet(self, lams: list[np.ndarray]) -> list[np.ndarray]:
        """Per term, ``sum_g G_j(g)`` with ``G = (M^{-1} Lambda~' A~)`` on level g's
        diagonal block: the derivative of log det M along theta entry (r, c) of term j
        is ``2 G_j[c, r]``."""
        return self.route.logdet(lams, _later_kinds(lams))

    def residual_products(self, lams: list[np.ndarray], u: list[np.ndarray],
                          beta: np.ndarray) -> list[np.ndarray]:
        """Per term, ``sum_g (Z' res)_(g, r) u_(g, c)`` as a k x k array [r, c]."""
        return residual_products(self.chol, lams, u, beta)
