"""Pass 2: the partial blocks of A on each partition, and their sum."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedmodels.distributed._plan import RowPlan
from mixedmodels.distributed._reduce import Coordinates, Moments, sum_block
from mixedmodels.linalg.cholesky import SPARSE_DENSITY
from mixedmodels.linalg.crossprod import _faces, response_blocks

__all__ = ["BlockTask", "Partial", "combine_partials", "combine_partials_root", "partition_blocks"]


@dataclass(frozen=True)
class BlockTask:
    """What pass 2 needs on every partition.

    Attributes
    ----------
    plan : RowPlan
        Terms in the model's order.
    nlevels : tuple of int
        Levels of each term, same order.
    term_names : tuple of str
        Grouping factor names, for messages.
    """

    plan: RowPlan
    nlevels: tuple[int, ...]
    term_names: tuple[str, ...]


@dataclass
class Partial:
    """Sums over the rows of some partitions.

    Attributes
    ----------
    n : int
        Rows used.
    n_missing : int
        Rows whose evaluated design has missing values (they must be dropped and the
        design learnt again, as in memory).
    diag, off, xz, xx
        The blocks of A, rows weighted by sqrt(w); ``off`` as coordinate sums, or as
        dense arrays where the sum is dense (see ``_reduce.sum_block``).
    moments : Moments or None
        Of the unweighted ``[X, y - offset]``.
    binary : ndarray of bool
        Per column of X: every value is 0 or 1.
    y_scale : float
        max |y - offset|.
    log_weights : float
        sum(log w).
    nonfinite_weights, nonpositive_weights, infinite_offset : int
        Counts of bad values.
    infinite : list of (str, str)
        (what, name) of columns with infinite values.
    """

    n: int = 0
    n_missing: int = 0
    diag: list[np.ndarray] = field(default_factory=list)
    off: dict[tuple[int, int], Coordinates | np.ndarray] = field(default_factory=dict)
    xz: list[np.ndarray] = field(default_factory=list)
    xx: np.ndarray | None = None
    moments: Moments | None = None
    binary: np.ndarray | None = None
    y_scale: float = 0.0
    log_weights: float = 0.0
    nonfinite_weights: int = 0
    nonpositive_weights: int = 0
    infinite_offset: int = 0
    infinite: list[tuple[str, str]] = field(default_factory=list)


def partition_blocks(frame: pd.DataFrame | None, task: BlockTask) -> Partial:
    """Pass 2 on one partition."""
    plan = task.plan
    if frame is None:
        frame = pd.DataFrame(columns=list(plan.selector.variables))
    _, ev = plan.rows(frame)
    out = Partial()
    missing = ev.missing_rows()
    out.n_missing = int(missing.sum())
    if out.n_missing:
        return out
    y, X, z, codes = ev.y, ev.X, ev.z, ev.codes
    out.infinite = _infinite_columns(ev, plan, task.term_names)
    working = y if ev.offset is None else y - ev.offset
    if ev.offset is not None:
        out.infinite_offset = int(np.isinf(ev.offset).sum())
    if ev.weights is not None:
        w = ev.weights
        out.nonfinite_weights = int((~np.isfinite(w)).sum())
        out.nonpositive_weights = int((w <= 0).sum())
    if out.infinite or out.infinite_offset or out.nonfinite_weights or out.nonpositive_weights:
        return out
    out.n = len(y)
    unweighted = np.column_stack([X, working])
    out.moments = Moments.of(unweighted)
    out.binary = np.isin(X, (0.0, 1.0)).all(axis=0)
    out.y_scale = float(np.max(np.abs(working), initial=0.0))
    if ev.weights is None:
        zw = [np.asarray(zz, dtype=float) for zz in z]
        xy = unweighted
    else:
        sqrt_w = np.sqrt(ev.weights)
        out.log_weights = float(np.sum(np.log(ev.weights)))
        zw = [zz * sqrt_w[:, None] for zz in z]
        xy = unweighted * sqrt_w[:, None]
    nlevels = list(task.nlevels)
    m = len(nlevels)
    out.diag = [_faces(codes[j], zw[j], nlevels[j]) for j in range(m)]
    out.off = {
        (i, j): Coordinates.of(codes[i], zw[i], nlevels[i], codes[j], zw[j], nlevels[j])
        for j in range(m)
        for i in range(j + 1, m)
    }
    out.xz, out.xx = response_blocks(codes, zw, nlevels, xy)
    return out


def _infinite_columns(ev, plan: RowPlan, term_names: tuple[str, ...]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if np.isinf(ev.y).any():
        found.append(("response", plan.response.names[0]))
    bad = np.isinf(ev.X).any(axis=0)
    found += [("fixed-effects column", plan.fixed.names[c]) for c in np.flatnonzero(bad)]
    for spec, name, z in zip(plan.lhs, term_names, ev.z, strict=True):
        bad = np.isinf(z).any(axis=0)
        found += [(f"random-effects column of {name!r}", spec.names[c])
                  for c in np.flatnonzero(bad)]
    return found


def combine_partials(*parts: Partial, root: bool = False) -> Partial:
    """Sum of partial results.

    ``root``: these are the last partial results, so off-diagonal blocks whose level
    pairs are dense enough for the factor to store them dense are summed as dense
    arrays (``_reduce.sum_block``).
    """
    out = Partial()
    full = [p for p in parts if p.moments is not None]
    for p in parts:
        out.n_missing += p.n_missing
        out.nonfinite_weights += p.nonfinite_weights
        out.nonpositive_weights += p.nonpositive_weights
        out.infinite_offset += p.infinite_offset
        out.infinite += [item for item in p.infinite if item not in out.infinite]
    if not full:
        return out
    first = full[0]
    out.n = sum(p.n for p in full)
    out.diag = [sum((p.diag[j] for p in full[1:]), start=first.diag[j].copy())
                for j in range(len(first.diag))]
    dense_at = SPARSE_DENSITY if root else None
    out.off = {key: sum_block([p.off[key] for p in full], dense_at) for key in first.off}
    out.xz = [sum((p.xz[j] for p in full[1:]), start=first.xz[j].copy())
              for j in range(len(first.xz))]
    out.xx = sum((p.xx for p in full[1:]), start=first.xx.copy())
    moments = first.moments
    for p in full[1:]:
        moments = moments.merge(p.moments)
    out.moments = moments
    out.binary = np.logical_and.reduce([p.binary for p in full])
    out.y_scale = max(p.y_scale for p in full)
    out.log_weights = sum(p.log_weights for p in full)
    return out


def combine_partials_root(*parts: Partial) -> Partial:
    """The last sum of the reduction (:func:`combine_partials` with ``root=True``)."""
    return combine_partials(*parts, root=True)
