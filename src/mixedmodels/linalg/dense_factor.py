"""The whole factor L as one dense matrix, for models with few random effects.

For small models (sleepstudy: 18 subjects x 2 coefficients, 2 fixed effects) the
blocked factor of linalg/cholesky.py costs about 25 numpy calls per evaluation on
blocks of a few dozen numbers: call overhead, not arithmetic. Here
``Omega = Lambda~' A~ Lambda~ + diag(I_q, 0)``, with ``A~ = [Z X y]'[Z X y]`` and
``Lambda~ = diag(Lambda, I_{p+1})``, is formed as one (q + p + 1)-square matrix and
factored by one LAPACK call: an evaluation is a handful of calls whatever the number
of terms. The analytic gradient (the formulas of linalg/gradient.py, with the dense
inverse of the leading block) is a handful more, and so is the exact Hessian that lets
the optimiser take Newton steps (``DenseFactor.derivatives``).

Used while optimising, and the fit's estimates are read from it at the optimum (the
blocked factor is not updated for them). This module knows nothing about formulas or
models.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dsymm, dtrmm, dtrsv
from scipy.linalg.lapack import dpotrf, dpotri, dtrtri

from mixedmodels.linalg.blocks import as_dense, blockdiag_to_dense
from mixedmodels.linalg.cholesky import CrossProducts

# Largest order q + p + 1 for which the dense factor is used: below it one dense
# evaluation is cheaper than a blocked one (measured on the bundled small models).
DENSE_MAX_ORDER = 64


def dense_cross_products(A: CrossProducts) -> np.ndarray:
    """``A~ = [Z X y]'[Z X y]`` as one symmetric dense array (terms in A's order)."""
    starts = list(itertools.accumulate((d.shape[0] * d.shape[1] for d in A.diag), initial=0))
    q = starts[-1]
    order = q + A.xx.shape[0]
    out = np.zeros((order, order))
    for j, faces in enumerate(A.diag):
        rj = slice(starts[j], starts[j + 1])
        out[rj, rj] = blockdiag_to_dense(faces)
        for i in range(j + 1, len(A.diag)):
            ri = slice(starts[i], starts[i + 1])
            block = as_dense(A.off[(i, j)])
            out[ri, rj] = block
            out[rj, ri] = block.T
        out[q:, rj] = A.xz[j]
        out[rj, q:] = A.xz[j].T
    out[q:, q:] = A.xx
    return out


@dataclass(frozen=True)
class _EntryPlan:
    """Where theta sits in Lambda~, for a shape of terms (read-only arrays).

    pos: flat positions of Lambda~'s entries that hold theta; src: the index into
    theta of each; r, c: each entry's absolute template row and column; pairs:
    (ntheta, entries) indicator of the entries of each parameter; rr, rq: flat
    positions of the pairs of entries' rows in A~ and in a (q, q) array; flat: for
    w = q and w = q + p, the flat positions in a (q, w) array of (r_e, c_f) and in a
    (w, w) array of (c_e, c_f) (``take`` on them is several times faster than
    two-dimensional fancy indexing); shift: the identity added to the random
    effects' diagonal of Omega.
    """

    ntheta: int
    pos: np.ndarray
    src: np.ndarray
    r: np.ndarray
    c: np.ndarray
    pairs: np.ndarray
    rr: np.ndarray
    rq: np.ndarray
    flat: dict[int, tuple[np.ndarray, np.ndarray]]
    shift: np.ndarray


@functools.lru_cache(maxsize=64)
def _entry_plan(shape: tuple[tuple[int, int], ...], order: int,
                layout: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]) -> _EntryPlan:
    """The :class:`_EntryPlan` of terms with ``shape`` ((levels, k) per term) and
    template positions ``layout``; cached, since it depends on no data (refits,
    bootstrap replicates and repeated fits of one formula share it)."""
    pos, src, row_idx, col_idx = [], [], [], []
    start, offset = 0, 0
    for (nlev, k), (rows, cols) in zip(shape, layout, strict=True):
        rows_a, cols_a = np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)
        base = offset + np.arange(nlev)[:, None] * k  # (l, 1)
        r_abs = base + rows_a[None, :]  # (l, t_j)
        c_abs = base + cols_a[None, :]
        pos.append((r_abs * order + c_abs).ravel())
        src.append(np.broadcast_to(start + np.arange(len(rows)), r_abs.shape).ravel())
        row_idx.append(r_abs.ravel())
        col_idx.append(c_abs.ravel())
        start += len(rows)
        offset += nlev * k
    src_all = np.concatenate(src)
    r_all = np.concatenate(row_idx)
    pairs = np.zeros((start, len(src_all)))
    pairs[src_all, np.arange(len(src_all))] = 1.0
    shift = np.zeros(order)
    shift[:offset] = 1.0
    c_all = np.concatenate(col_idx)
    flat = {w: (r_all[:, None] * w + c_all[None, :], c_all[:, None] * w + c_all[None, :])
            for w in (offset, order - 1)}
    plan = _EntryPlan(start, np.concatenate(pos), src_all, r_all, c_all, pairs,
                      r_all[:, None] * order + r_all[None, :],
                      r_all[:, None] * offset + r_all[None, :], flat, shift)
    arrays = [v for v in vars(plan).values() if isinstance(v, np.ndarray)]
    for value in arrays + [a for pair in flat.values() for a in pair]:
        value.flags.writeable = False
    return plan


class DenseFactor:
    """Dense lower Cholesky factor of ``Omega(theta)``, updated in place.

    Parameters
    ----------
    A : CrossProducts
        The cross-product blocks (terms in the factor's order).
    layout : list of (rows, cols)
        For each term, the template positions of its entries of theta, in theta's
        order (theta is the concatenation over terms).
    """

    def __init__(self, A: CrossProducts, layout: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.a = dense_cross_products(A)
        self.order = self.a.shape[0]
        self.p = A.xx.shape[0] - 1
        self.q = self.order - self.p - 1
        shape = tuple((faces.shape[0], faces.shape[1]) for faces in A.diag)
        starts = list(itertools.accumulate((nlev * k for nlev, k in shape), initial=0))
        self._term_bounds = list(itertools.pairwise(starts))
        plan = _entry_plan(shape, self.order, tuple(tuple(map(tuple, rc)) for rc in layout))
        self.ntheta = plan.ntheta
        self._pos, self._src, self._r, self._c = plan.pos, plan.src, plan.r, plan.c
        self._pairs, self._shift, self._rq = plan.pairs, plan.shift, plan.rq
        self._flat = plan.flat
        # for the Hessian: A~ at pairs of entries' template rows
        self._a_rr = self.a.take(plan.rr)
        self._lam = np.eye(self.order)
        self.L = np.zeros((self.order, self.order))
        self._g = np.zeros((self.order, self.order))  # Lambda~' A~ (C-ordered)
        self._theta_key: bytes | None = None  # theta of L (None: no valid factor)
        self._log_diagonal: np.ndarray | None = None  # log of L's first q + p diagonals

    def update(self, theta: np.ndarray) -> bool:
        """Factor ``Omega(theta)``; False when it is not positive definite.

        Nothing is recomputed when L already is the factor at this theta (the
        optimiser asks for the derivatives at a point whose objective it has just
        evaluated).
        """
        key = theta.tobytes()
        if key == self._theta_key:
            return True
        self._theta_key = None
        lam = self._lam
        lam.flat[self._pos] = theta[self._src]
        # Fortran views (no copies): lam.T is Lambda~' (upper), self.a.T is A~.
        g = dtrmm(1.0, lam.T, self.a.T, side=0, lower=0)  # G = Lambda~' A~
        omega = dtrmm(1.0, lam.T, g, side=1, lower=0, trans_a=1)  # G Lambda~
        omega.T.reshape(-1)[:: self.order + 1] += self._shift
        c, info = dpotrf(omega, lower=1, clean=1, overwrite_a=1)  # zero upper triangle
        # potrf passes NaN through; any NaN in Omega reaches the last diagonal of L
        if info != 0 or not math.isfinite(c[-1, -1]):
            return False
        self._g = g
        self.L = c  # Fortran-ordered, lower triangular
        self._theta_key = key
        self._log_diagonal = None
        return True

    def pwrss(self) -> float:
        """Penalised residual sum of squares (the last diagonal of L, squared)."""
        v = self.L[-1, -1]
        return float(v * v)

    def _logs(self) -> np.ndarray:
        """The logarithms of L's diagonal but the last, taken once per update."""
        if self._log_diagonal is None:
            self._log_diagonal = np.log(self.L.diagonal()[: self.q + self.p])
        return self._log_diagonal

    def logdet_random(self) -> float:
        """``log det`` of the random-effects part of ``L L'``."""
        return 2.0 * float(np.add.reduce(self._logs()[: self.q]))

    def logdet_fixed(self) -> float:
        """``log det(R_X' R_X)``, the fixed-effects part."""
        return 2.0 * float(np.add.reduce(self._logs()[self.q:]))

    def fixed_effects(self) -> np.ndarray:
        """The conditional estimate of beta at the last update."""
        q, k = self.q, self.q + self.p
        if self.p == 0:
            return np.zeros(0)
        return dtrsv(self.L[q:k, q:k], self.L[-1, q:k], lower=1, trans=1)

    def spherical_effects(self, beta: np.ndarray) -> list[np.ndarray]:
        """The conditional modes ``u`` at the last update, one flat array per term
        (as ``BlockedCholesky.spherical_effects``)."""
        q, k = self.q, self.q + self.p
        L = self.L
        rhs = L[-1, :q] - L[q:k, :q].T @ beta
        u = dtrsv(L[:q, :q], rhs, lower=1, trans=1)
        return [u[a:b] for a, b in self._term_bounds]

    def fixed_precision_inverse(self) -> np.ndarray:
        """``(R_X' R_X)^{-1}``: vcov(beta) divided by sigma^2, at the last update."""
        q, k = self.q, self.q + self.p
        if self.p == 0:
            return np.zeros((0, 0))
        rinv, info = dtrtri(self.L[q:k, q:k], lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the fixed-effects factor is singular")
        return rinv.T @ rinv

    def gradient(self, with_x: bool, nn: float) -> np.ndarray:
        """d objective / d theta at the last update.

        ``with_x``: the log-determinant includes the fixed effects (REML); ``nn``:
        n - p for REML, n for ML. See linalg/gradient.py for the formulas: with
        ``W`` the leading block of ``Omega`` (random effects, and X for REML), entry
        (r, c) of a template at level g contributes ``2 (W^{-1} G)[(g,c), (g,r)]``,
        ``G = Lambda~' A~``, and ``-2 nn / r^2 (Z' res)_(g,r) u_(g,c)``.
        """
        q, p = self.q, self.p
        w = q + p if with_x else q
        L = self.L
        inv, info = dpotri(L[:w, :w], lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("potri failed")
        b = dsymm(1.0, inv, self._g[:w, :q], side=0, lower=1)  # W^{-1} G[W, Z]
        # L' z = r e_last gives z = [-u; -beta; 1]; Lambda~ z = [-Lambda u; -beta; 1]
        rhs = np.zeros(self.order)
        rhs[-1] = L[-1, -1]
        z = dtrsv(L, rhs, lower=1, trans=1)
        v = self._lam @ z
        zres = self.a[:q] @ v  # Z' (y - X beta - Z Lambda u)
        r2 = L[-1, -1] ** 2
        weights = 2.0 * b[self._c, self._r] + (2.0 * nn / r2) * zres[self._r] * z[self._c]
        return np.bincount(self._src, weights=weights, minlength=self.ntheta)

    def derivatives(self, with_x: bool, nn: float) -> tuple[np.ndarray, np.ndarray]:
        """The gradient and the Hessian of the objective at the last update.

        With ``Omega_i = d Omega / d theta_i = R_i + R_i'`` (``R_i = E_i' A~ Lambda~``,
        E_i the pattern of theta_i in Lambda~; Omega is linear in each Lambda~ factor),
        ``S = Omega_W^{-1}`` and ``z = [-u; -beta; 1]`` (so that ``r^2 = z' Omega z``):

        * log det: ``l_i = tr(S Omega_i)``, ``l_ij = tr(S Omega_ij) - tr(S Omega_i S
          Omega_j)`` with ``Omega_ij = E_i' A~ E_j + E_j' A~ E_i``;
        * r^2 (envelope theorem): ``r2_i = z' Omega_i z``, ``r2_ij = z' Omega_ij z
          - 2 v_i' M^{-1} v_j``, ``v_i = (Omega_i z)`` over the Z and X rows and M the
          Z and X block of Omega;
        * objective ``l + nn log r^2``: ``f_i = l_i + nn r2_i / r^2``, ``f_ij = l_ij
          + nn (r2_ij / r^2 - r2_i r2_j / r^4)``.

        Everything is summed over the entries e of Lambda~ that hold theta: entry e
        (theta index i(e), position (r_e, c_e)) gives ``R_i`` the row
        ``a_e = (A~ Lambda~)[r_e, :]`` at row c_e, so with ``P = A_W S[:, c]``,
        ``Q = A_W S A_W'`` (A_W: the rows a_e over W) ``tr(S R_i) = sum P_ee``,
        ``tr(S R_i S R_j) = sum P_ef P_fe`` and ``tr(S R_i S R_j') = sum Q_ef S_{c_e
        c_f}`` (e in i, f in j): a few products of order (entries x W) whatever the
        number of parameters.
        """
        q, p, order = self.q, self.p, self.order
        k = q + p
        w = k if with_x else q
        L = self.L
        c, pairs = self._c, self._pairs
        r = self._r
        # the rows of A~ Lambda~ = G' at the random effects: entry e's a_e is row r_e
        u = self._g.T[:q]
        u_w = u[:, :w]
        # M^{-1} and S from the inverse of L's leading block (its leading q x q block is
        # the inverse of L_ZZ)
        li, info = dtrtri(L[:k, :k], lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("trtri failed")
        m_inv = li.T @ li
        s = m_inv if with_x else li[:q, :q].T @ li[:q, :q]
        t_u = u_w @ s  # P = t_u[r, c] (S is symmetric), Q = (t_u U_W')[r, r]
        rc, cc = self._flat[w]
        pm = t_u.take(rc)
        # L' z = r e_last gives z
        rhs = np.zeros(order)
        rhs[-1] = L[-1, -1]
        z = dtrsv(L, rhs, lower=1, trans=1)
        r2 = L[-1, -1] ** 2
        zc = z[c]
        az = (u @ z)[r]
        # (Omega_i z) over Z and X: the sum over i's entries of a_e z_{c_e} + e_{c_e}
        # (a_e . z); (parameter, row) and (parameter, column) pairs are unique
        wz = np.zeros((len(pairs), q))
        wz[self._src, r] = zc
        v = wz @ u[:, :k]
        v[self._src, c] += az
        r2_1 = 2.0 * (pairs @ (zc * az))
        grad = 2.0 * (pairs @ pm.diagonal()) + (nn / r2) * r2_1
        # half the per-pair terms of the Hessian: tr(S Omega_ij), tr(S Omega_i S
        # Omega_j), nn z' Omega_ij z / r^2
        half = self._a_rr - (t_u @ u_w.T).take(self._rq)  # A~ at (r_e, r_f) is _a_rr
        half *= s.take(cc)
        half -= pm * pm.T
        zn = (nn / r2) * zc
        half += np.multiply.outer(zn, zc) * self._a_rr
        hess = (2.0 * (pairs @ half @ pairs.T) - (2.0 * nn / r2) * (v @ m_inv @ v.T)
                - (nn / (r2 * r2)) * np.multiply.outer(r2_1, r2_1))
        return grad, (hess + hess.T) / 2.0


def _inverse_from_factor(lower: np.ndarray) -> np.ndarray:
    """``(L L')^{-1}`` from a lower Cholesky factor, both triangles filled."""
    inv, info = dpotri(lower, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("potri failed")
    return np.tril(inv) + np.tril(inv, -1).T
