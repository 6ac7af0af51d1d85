"""Designs shared by the tests of the analytic derivatives (blocked and dense factors)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels.linalg import BlockedCholesky, cross_products
from mixedmodels.linalg.blocks import SparseBlock, blockdiag_to_dense
from mixedmodels.linalg.products import FillPlan


def crossed_frame(seed: int = 3, n: int = 400,
                  levels: tuple[int, int, int] = (25, 9, 4)) -> pd.DataFrame:
    """Three crossed factors g, h, i, predictors x and u, weights w and a response y."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "g": rng.integers(0, levels[0], n).astype(str),
        "h": rng.integers(0, levels[1], n).astype(str),
        "i": rng.integers(0, levels[2], n).astype(str),
        "x": rng.normal(size=n),
        "u": rng.normal(size=n),
        "w": rng.uniform(0.5, 2.0, n),
    })
    frame["y"] = frame["x"] + rng.normal(size=n) + frame["g"].astype(int) * 0.05
    return frame


# (dataset, formula, keyword arguments): every storage kind of the factor, weights, offset
CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {}),
    ("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", {}),
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", {}),
    ("pastes", "strength ~ 1 + (1 | batch/cask)", {}),
    ("crossed", "y ~ x + (1 + u | g) + (1 + u | h) + (1 | i)", {}),
    ("crossed", "y ~ x + (1 + u | g) + (1 | h)", {"weights": "w"}),
    ("crossed", "y ~ x + (1 | g) + (0 + u | h)", {"offset": "x"}),
]


def case_data(name: str, crossed: pd.DataFrame) -> pd.DataFrame:
    """A bundled dataset, or ``crossed`` for the name "crossed"."""
    return crossed if name == "crossed" else mm.datasets.load(name)


# Factor designs for the fill plans and the gradient's trace route:
# (nlevels, k, nested_in, unused levels) per term
FACTOR_CASES = {
    "vector crossed": [(40, 2, None, 0), (9, 2, None, 0)],
    "vector three crossed": [(50, 2, None, 3), (12, 2, None, 2), (5, 2, None, 1)],
    "vector first, scalar later": [(45, 2, None, 0), (10, 1, None, 2), (4, 1, None, 0)],
    "scalar first, vector later": [(45, 1, None, 2), (10, 3, None, 0), (6, 2, None, 1)],
    "scalar crossed": [(60, 1, None, 4), (15, 1, None, 1), (7, 1, None, 0)],
    "k0 = 3": [(30, 3, None, 0), (8, 2, None, 1)],
    "nested then crossed": [(48, 2, None, 0), (12, 2, 0, 0), (7, 2, None, 2)],
    "crossed then nested": [(48, 2, None, 2), (9, 1, None, 0), (3, 2, 1, 0)],
}


def factor_design(rng: np.random.Generator, n: int,
                  terms: list[tuple]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Codes and z for terms (nlevels, k, nested_in, unused): ``unused`` levels get no rows;
    a nested term takes its level from an earlier term's level."""
    codes, z = [], []
    for nlev, k, parent, unused in terms:
        used = nlev - unused
        if parent is None:
            c = rng.integers(0, used, n)
            c[:used] = rng.permutation(used)
        else:
            c = codes[parent] % used
        # move the unused levels into the middle of the range
        c = np.where(c >= used // 2, c + unused, c)
        codes.append(c)
        zz = np.ones((n, k))
        if k > 1:
            zz[:, 1:] = rng.normal(size=(n, k - 1))
        z.append(zz)
    return codes, z


def random_template(rng: np.random.Generator, k: int, least: float = 0.3) -> np.ndarray:
    """A lower-triangular template with diagonal at least ``least``."""
    lam = np.tril(rng.normal(size=(k, k)))
    lam[np.diag_indices(k)] = np.abs(lam[np.diag_indices(k)]) + least
    return lam


def random_factor(terms: list[tuple], seed: int) -> tuple[BlockedCholesky, list[np.ndarray]]:
    """The factor of a random design (400 rows, [1 x] and y) and random templates."""
    rng = np.random.default_rng(seed)
    n = 400
    codes, z = factor_design(rng, n, terms)
    nlevels = [t[0] for t in terms]
    xy = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    chol = BlockedCholesky(cross_products(codes, z, nlevels, xy))
    lams = [random_template(rng, t[1]) for t in terms]
    return chol, lams


def dense_targets(chol: BlockedCholesky):
    """The (i, j) blocks of L that receive fill as dense targets."""
    for j in range(1, chol.m):
        for i in range(j, chol.m):
            dense = not chol.blockdiag[j] if i == j else not chol.sparse_off[(i, j)]
            if dense:
                yield i, j


def factor_with_plans(name: str, mode: str) -> tuple[BlockedCholesky, list[np.ndarray]]:
    """A factor of FACTOR_CASES[name] with the plans it chose ("chosen"), none ("none"),
    or one forced on every dense target: all columns through the sparse plan
    ("sparse"), all through the dense columns ("dense"), or a random split ("split")."""
    seed = sum(map(ord, name))
    chol, lams = random_factor(FACTOR_CASES[name], seed)
    if mode == "none":
        chol.plans = {}
    elif mode != "chosen":
        chol.plans = {}
        rng = np.random.default_rng(seed + 1)
        for i, j in dense_targets(chol):
            a_i, a_j = chol.A.off[(i, 0)], chol.A.off[(j, 0)]
            l0 = a_i.ncol_levels
            heavy = {"sparse": np.zeros(l0, bool), "dense": np.ones(l0, bool),
                     "split": rng.random(l0) < 0.3}[mode]
            chol.plans[(i, j)] = FillPlan(a_i, a_j, i == j, heavy)
        assert chol.plans, "the case should have a dense target"
    return chol, lams


def dense_logdet_blocks(chol: BlockedCholesky, lams: list[np.ndarray],
                        with_x: bool) -> list[np.ndarray]:
    """Per term, ``sum_g (M^{-1} Lambda~' A~)_gg`` from dense matrices: the reference
    for the gradient's ``logdet`` (M includes X's block when ``with_x``)."""
    A = chol.A
    sizes = [d.shape[0] * d.shape[1] for d in A.diag]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    q, p = int(starts[-1]), chol.p
    n = q + (p if with_x else 0)
    a = np.zeros((q + p, q + p))
    for j, d in enumerate(A.diag):
        rj = slice(starts[j], starts[j + 1])
        a[rj, rj] = blockdiag_to_dense(d)
        a[q:, rj] = A.xz[j][:p]
        a[rj, q:] = A.xz[j][:p].T
        for i in range(j + 1, len(A.diag)):
            ri = slice(starts[i], starts[i + 1])
            block = A.off[(i, j)]
            block = block.toarray() if isinstance(block, SparseBlock) else block
            a[ri, rj] = block
            a[rj, ri] = block.T
    a[q:, q:] = A.xx[:p, :p]
    lam = np.eye(q + p)
    for j, t in enumerate(lams):
        lam[starts[j]:starts[j + 1], starts[j]:starts[j + 1]] = np.kron(
            np.eye(A.diag[j].shape[0]), t)
    a, lam = a[:n, :n], lam[:n, :n]
    m = lam.T @ a @ lam
    m[:q, :q] += np.eye(q)
    x = np.linalg.solve(m, lam.T @ a)
    out = []
    for j, t in enumerate(lams):
        l, k = A.diag[j].shape[0], t.shape[0]
        xj = x[starts[j]:starts[j + 1], starts[j]:starts[j + 1]].reshape(l, k, l, k)
        out.append(np.einsum("akal->kl", xj))
    return out
