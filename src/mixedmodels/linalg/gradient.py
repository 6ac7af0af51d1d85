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

``M^{-1}`` is needed only on the pattern of A (Takahashi's selected inverse). Here the
first term's block of L is block diagonal (faces), and the rest T (later terms and, for
REML, X) is treated as one dense block: ``Omega_TT`` from the dense factor of T by
LAPACK (``potri``), ``Omega_T0 = -Omega_TT L_T0 L_00^{-1}``, and the first term's diagonal
faces of ``M^{-1}`` as ``L_g^{-T} (L_g^{-1} - L_T0[:, g]' Omega_T0[:, g])``. This is cheap
when T is small, as for crossed designs with one large factor and few levels
elsewhere (kb07-shaped: T = 128 + 8); :func:`gradient_cost` lets the caller decide.

This module knows the factor's storage (linalg/cholesky.py) but not the model.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from mixedmodels.linalg.blocks import SparseBlock, blockdiag_to_dense
from mixedmodels.linalg.cholesky import BlockedCholesky


def _dense(block: np.ndarray | SparseBlock) -> np.ndarray:
    return block.toarray() if isinstance(block, SparseBlock) else np.asarray(block)


def gradient_cost(chol: BlockedCholesky, with_x: bool) -> tuple[int, float]:
    """Order of the dense block T and a flop estimate of one gradient."""
    q0 = chol.nlevels[0] * chol.ncoef[0]
    mt = sum(chol.nlevels[j] * chol.ncoef[j] for j in range(1, chol.m))
    mt += chol.p if with_x else 0
    return mt, float(mt) ** 3 + 2.0 * mt * mt * q0


class ObjectiveGradient:
    """The fixed parts of the gradient: A's blocks in the layout (first term, T).

    Parameters
    ----------
    chol : BlockedCholesky
        The factor (its ``A`` is read once here; its blocks at each call).
    with_x : bool
        Include the fixed effects in M (REML) or not (ML).
    """

    def __init__(self, chol: BlockedCholesky, with_x: bool) -> None:
        A = chol.A
        self.chol = chol
        self.with_x = with_x
        self.m, self.p = chol.m, chol.p
        self.l0, self.k0 = chol.nlevels[0], chol.ncoef[0]
        sizes = [chol.nlevels[j] * chol.ncoef[j] for j in range(1, self.m)]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.mz = int(self.starts[-1])  # random-effect columns of T
        self.mt = self.mz + (self.p if with_x else 0)
        q0 = self.l0 * self.k0
        # A~[T, 0], all of A~[T, T] and the random rows of [X y]' Z_T, dense, fixed.
        self.a_t0 = np.zeros((self.mt, q0))
        self.a_tt = np.zeros((self.mt, self.mt))
        for j in range(1, self.m):
            rj = self._rows(j)
            self.a_t0[rj] = _dense(A.off[(j, 0)])
            self.a_tt[rj, rj] = blockdiag_to_dense(A.diag[j])
            for i in range(j + 1, self.m):
                block = _dense(A.off[(i, j)])
                self.a_tt[self._rows(i), rj] = block
                self.a_tt[rj, self._rows(i)] = block.T
        if with_x:
            xs = slice(self.mz, self.mt)
            self.a_t0[xs] = A.xz[0][: self.p]
            for j in range(1, self.m):
                self.a_tt[xs, self._rows(j)] = A.xz[j][: self.p]
                self.a_tt[self._rows(j), xs] = A.xz[j][: self.p].T
            self.a_tt[xs, xs] = A.xx[: self.p, : self.p]

    def _rows(self, j: int) -> slice:
        return slice(int(self.starts[j - 1]), int(self.starts[j]))

    # ------------------------------------------------------------------ pieces
    def _lambda_rows(self, a: np.ndarray, lams: list[np.ndarray]) -> np.ndarray:
        """``Lambda~_T' a`` for a matrix with T's rows."""
        out = a.copy()
        for j in range(1, self.m):
            k = lams[j].shape[0]
            rows = a[self._rows(j)]
            c = rows.shape[1]
            out[self._rows(j)] = np.matmul(lams[j].T, rows.reshape(-1, k, c)).reshape(-1, c)
        return out

    def _factor_t(self) -> tuple[np.ndarray, np.ndarray]:
        """Dense ``L_TT`` and ``L_T0`` from the factor's blocks."""
        chol = self.chol
        ltt = np.zeros((self.mt, self.mt))
        lt0 = np.zeros((self.mt, self.l0 * self.k0))
        for j in range(1, self.m):
            rj = self._rows(j)
            d = chol.diag[j]
            ltt[rj, rj] = blockdiag_to_dense(d) if chol.blockdiag[j] else d
            lt0[rj] = _dense(chol.off[(j, 0)])
            for i in range(j + 1, self.m):
                ltt[self._rows(i), rj] = _dense(chol.off[(i, j)])
        if self.with_x:
            xs = slice(self.mz, self.mt)
            lt0[xs] = chol.x[0][: self.p]
            for j in range(1, self.m):
                ltt[xs, self._rows(j)] = chol.x[j][: self.p]
            ltt[xs, xs] = chol.xx[: self.p, : self.p]
        return ltt, lt0

    def _selected_inverse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``Omega_TT`` (dense), ``Omega_T0`` (dense) and the first term's faces of M^{-1}."""
        chol = self.chol
        ltt, lt0 = self._factor_t()
        inv0 = chol.diag_inv[0]  # (l0, k0, k0), inverses of the lower faces
        if self.mt:
            # potri on the Fortran view of the C-ordered lower factor: the upper
            # triangle of the transpose holds the inverse.
            omega_tt, info = lapack.dpotri(ltt.T, lower=0, overwrite_c=0)
            if info != 0:
                raise np.linalg.LinAlgError(f"potri failed ({info})")
            omega_tt = np.triu(omega_tt) + np.triu(omega_tt, 1).T
            # level-major (l0, mt, k0) views for batched products over the faces
            w = (omega_tt @ lt0).reshape(self.mt, self.l0, self.k0).transpose(1, 0, 2)
            omega_g = -np.matmul(w, inv0)
            lt0_g = lt0.reshape(self.mt, self.l0, self.k0).transpose(1, 2, 0)
            fill = np.matmul(lt0_g, omega_g)
            omega_t0 = omega_g.transpose(1, 0, 2).reshape(self.mt, -1)
        else:
            omega_tt = np.zeros((0, 0))
            omega_t0 = np.zeros((0, self.l0 * self.k0))
            fill = 0.0
        faces0 = np.matmul(inv0.transpose(0, 2, 1), inv0 - fill)
        return omega_tt, omega_t0, faces0

    def logdet(self, lams: list[np.ndarray]) -> list[np.ndarray]:
        """Per term, ``sum_g G_j(g)`` with ``G = (M^{-1} Lambda~' A~)`` on level g's
        diagonal block: the derivative of log det M along theta entry (r, c) of term j
        is ``2 G_j[c, r]``."""
        A = self.chol.A
        omega_tt, omega_t0, faces0 = self._selected_inverse()
        l0, k0 = self.l0, self.k0
        # term 0: its own faces, then the rows of T
        q00 = np.matmul(lams[0].T, A.diag[0])
        g0 = faces0.transpose(1, 0, 2).reshape(k0, -1) @ q00.reshape(-1, k0)
        if self.mt:
            q_t0 = self._lambda_rows(self.a_t0, lams)
            g0 += omega_t0.reshape(-1, k0).T @ q_t0.reshape(-1, k0)
        out = [g0]
        if self.m == 1:
            return out
        # terms j >= 1: the first term's columns, then T's
        a_t0_lam = (self.a_t0.reshape(self.mt, l0, k0) @ lams[0]).reshape(self.mt, -1)
        q_tt = self._lambda_rows(self.a_tt, lams)
        for j in range(1, self.m):
            rj = self._rows(j)
            k = lams[j].shape[0]
            # sum over levels g and the other index of om[g, c, .] a[g, r, .]
            om0 = omega_t0[rj].reshape(-1, k, omega_t0.shape[1]).transpose(1, 0, 2)
            a0 = a_t0_lam[rj].reshape(-1, k, omega_t0.shape[1]).transpose(1, 0, 2)
            gj = om0.reshape(k, -1) @ a0.reshape(k, -1).T
            omt = omega_tt[rj].reshape(-1, k, self.mt).transpose(1, 0, 2)
            qt = q_tt[:, rj].reshape(self.mt, -1, k).transpose(1, 0, 2)
            gj += omt.reshape(k, -1) @ qt.reshape(-1, k)
            out.append(gj)
        return out

    def residual_products(self, lams: list[np.ndarray], u: list[np.ndarray],
                          beta: np.ndarray) -> list[np.ndarray]:
        """Per term, ``sum_g (Z' res)_(g, r) u_(g, c)`` as a k x k array [r, c]."""
        A = self.chol.A
        p = self.p
        l0, k0 = self.l0, self.k0
        v = [(u[j].reshape(-1, lams[j].shape[0]) @ lams[j].T).ravel() for j in range(self.m)]
        v_t = np.concatenate(v[1:]) if self.m > 1 else np.zeros(0)
        zres = [A.xz[j][p] - A.xz[j][:p].T @ beta for j in range(self.m)]
        zres[0] = zres[0] - np.matmul(A.diag[0], v[0].reshape(l0, k0, 1)).ravel()
        if self.mz:
            a_z0 = self.a_t0[: self.mz]
            zres[0] = zres[0] - a_z0.T @ v_t
            rest = a_z0 @ v[0] + self.a_tt[: self.mz, : self.mz] @ v_t
            for j in range(1, self.m):
                zres[j] = zres[j] - rest[self._rows(j)]
        out = []
        for j in range(self.m):
            k = lams[j].shape[0]
            out.append(zres[j].reshape(-1, k).T @ u[j].reshape(-1, k))
        return out
