"""The whole factor L as one dense matrix, for models with few random effects.

For small models (sleepstudy: 18 subjects x 2 coefficients, 2 fixed effects) the
blocked factor of linalg/cholesky.py costs about 25 numpy calls per evaluation on
blocks of a few dozen numbers: call overhead, not arithmetic. Here
``Omega = Lambda~' A~ Lambda~ + diag(I_q, 0)``, with ``A~ = [Z X y]'[Z X y]`` and
``Lambda~ = diag(Lambda, I_{p+1})``, is formed as one (q + p + 1)-square matrix and
factored by one LAPACK call: an evaluation is a handful of calls whatever the number
of terms. The analytic gradient (the formulas of linalg/gradient.py, with the dense
inverse of the leading block) is a handful more.

Used only while optimising; the estimates are read from the blocked factor.
This module knows nothing about formulas or models.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.blas import dsymm, dtrmm, dtrsv
from scipy.linalg.lapack import dpotrf, dpotri

from mixedmodels.linalg.blocks import SparseBlock, blockdiag_to_dense
from mixedmodels.linalg.cholesky import CrossProducts

# Largest order q + p + 1 for which the dense factor is used: below it one dense
# evaluation is cheaper than a blocked one (measured on the bundled small models).
DENSE_MAX_ORDER = 64


def _dense(block: np.ndarray | SparseBlock) -> np.ndarray:
    return block.toarray() if isinstance(block, SparseBlock) else np.asarray(block)


def dense_cross_products(A: CrossProducts) -> np.ndarray:
    """``A~ = [Z X y]'[Z X y]`` as one symmetric dense array (terms in A's order)."""
    sizes = [d.shape[0] * d.shape[1] for d in A.diag]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    q = int(starts[-1])
    order = q + A.xx.shape[0]
    out = np.zeros((order, order))
    for j, faces in enumerate(A.diag):
        rj = slice(starts[j], starts[j + 1])
        out[rj, rj] = blockdiag_to_dense(faces)
        for i in range(j + 1, len(A.diag)):
            ri = slice(starts[i], starts[i + 1])
            block = _dense(A.off[(i, j)])
            out[ri, rj] = block
            out[rj, ri] = block.T
        out[q:, rj] = A.xz[j]
        out[rj, q:] = A.xz[j].T
    out[q:, q:] = A.xx
    return out


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
        # Lambda~'s nonzeros: (flat position, index into theta); the identity elsewhere
        # on the diagonal of the [X y] part. And, per entry of Lambda~, the parameter it
        # belongs to with its (level, r, c) positions for the gradient.
        pos, src, row_idx, col_idx = [], [], [], []
        start, offset = 0, 0
        for faces, (rows, cols) in zip(A.diag, layout, strict=True):
            nlev, k = faces.shape[0], faces.shape[1]
            base = offset + np.arange(nlev)[:, None] * k  # (l, 1)
            r_abs = base + rows[None, :]  # (l, t_j)
            c_abs = base + cols[None, :]
            pos.append((r_abs * self.order + c_abs).ravel())
            src.append(np.broadcast_to(start + np.arange(len(rows)), r_abs.shape).ravel())
            row_idx.append(r_abs.ravel())
            col_idx.append(c_abs.ravel())
            start += len(rows)
            offset += nlev * k
        self.ntheta = start
        self._pos = np.concatenate(pos)
        self._src = np.concatenate(src)
        self._r = np.concatenate(row_idx)  # template row of each entry (absolute)
        self._c = np.concatenate(col_idx)
        self._lam = np.eye(self.order)
        self._shift = np.zeros(self.order)
        self._shift[: self.q] = 1.0
        self._diag = np.arange(self.order) * (self.order + 1)
        self.L = np.zeros((self.order, self.order))
        self._g = np.zeros((self.order, self.order))  # Lambda~' A~ (C-ordered)

    def update(self, theta: np.ndarray) -> bool:
        """Factor ``Omega(theta)``; False when it is not positive definite."""
        lam = self._lam
        lam.flat[self._pos] = theta[self._src]
        # Fortran views (no copies): lam.T is Lambda~' (upper), self.a.T is A~.
        g = dtrmm(1.0, lam.T, self.a.T, side=0, lower=0)  # G = Lambda~' A~
        omega = dtrmm(1.0, lam.T, g, side=1, lower=0, trans_a=1)  # G Lambda~
        omega.T.reshape(-1)[:: self.order + 1] += self._shift
        c, info = dpotrf(omega, lower=1, clean=0, overwrite_a=1)
        # potrf passes NaN through; any NaN in Omega reaches the last diagonal of L
        if info != 0 or not math.isfinite(c[-1, -1]):
            return False
        self._g = g
        self.L = c  # Fortran-ordered; its lower triangle is L
        return True

    def pwrss(self) -> float:
        """Penalised residual sum of squares (the last diagonal of L, squared)."""
        v = self.L[-1, -1]
        return float(v * v)

    def logdet_random(self) -> float:
        """``log det`` of the random-effects part of ``L L'``."""
        d = self.L.diagonal()[: self.q]
        return 2.0 * float(np.add.reduce(np.log(d)))

    def logdet_fixed(self) -> float:
        """``log det(R_X' R_X)``, the fixed-effects part."""
        d = self.L.diagonal()[self.q: self.q + self.p]
        return 2.0 * float(np.add.reduce(np.log(d)))

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
