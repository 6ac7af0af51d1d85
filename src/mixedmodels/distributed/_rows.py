"""Row-wise outputs on the partitions: predictors, residuals, simulations, quantiles.

Each function here runs on one partition (a pandas frame): it selects and evaluates
the rows with the fit's :class:`RowPlan` and combines them with the estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.distributed._plan import Evaluated, RowPlan

__all__ = ["RowOutput", "SimulationTask", "bin_counts", "bin_values", "row_output",
           "simulate_partition"]

# Quantiles: values are binned by the top bits of their order-preserving integer image.
_QUANTILE_BITS = 20


@dataclass(frozen=True)
class RowOutput:
    """Everything a row-wise output needs besides the rows.

    Attributes
    ----------
    plan : RowPlan
    keep : ndarray of bool
        Columns of the plan's fixed-effects spec kept in X (aliased ones dropped).
    beta : ndarray
    b : tuple of ndarray
        Conditional modes, (levels, k) per term (model order).
    terms : tuple of int
        Terms whose modes enter the predictor.
    kind : str
        "predictor", "response" or "pearson".
    sigma : float
    scaled : bool
        Divide residuals by sigma.
    name : str
        Name of the output series.
    """

    plan: RowPlan
    keep: np.ndarray
    beta: np.ndarray
    b: tuple[np.ndarray, ...]
    terms: tuple[int, ...]
    kind: str = "predictor"
    sigma: float = 1.0
    scaled: bool = False
    name: str = "fitted"


def linear_predictor(ev: Evaluated, out: RowOutput, terms: tuple[int, ...]) -> np.ndarray:
    """X beta + offset + the chosen terms' z b[codes]."""
    eta = ev.X[:, out.keep] @ out.beta
    if ev.offset is not None:
        eta = eta + ev.offset
    for j in terms:
        eta = eta + np.einsum("nk,nk->n", ev.z[j], out.b[j][ev.codes[j]])
    return eta


def _values(ev: Evaluated, out: RowOutput) -> np.ndarray:
    eta = linear_predictor(ev, out, out.terms)
    if out.kind == "predictor":
        return eta
    res = ev.y - eta
    if out.kind == "pearson" and ev.weights is not None:
        res = res * np.sqrt(ev.weights)
    if out.scaled:
        res = res / out.sigma
    return res


def row_output(frame: pd.DataFrame, out: RowOutput) -> pd.Series:
    """The output on the rows of one partition the model used."""
    rows, ev = out.plan.rows(frame)
    values = _values(ev, out) if len(rows) else np.empty(0)
    return pd.Series(values, index=rows.index, name=out.name, dtype=float)


@dataclass(frozen=True)
class SimulationTask:
    """Simulated responses: fixed draws of the random effects, noise per partition.

    Attributes
    ----------
    output : RowOutput
        Predictor with the conditioned-on terms (``output.terms``).
    draws : tuple of tuple of ndarray
        Per simulation, per term not conditioned on, b (levels, k); None for the
        others.
    redrawn : tuple of int
        Terms drawn anew.
    seed : int
        With the partition number, seeds the residual noise.
    """

    output: RowOutput
    draws: tuple[tuple[np.ndarray | None, ...], ...]
    redrawn: tuple[int, ...]
    seed: int


def simulate_partition(frame: pd.DataFrame, task: SimulationTask,
                       partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Simulated responses on one partition's rows."""
    out = task.output
    rows, ev = out.plan.rows(frame)
    nsim = len(task.draws)
    columns = [f"sim_{s + 1}" for s in range(nsim)]
    if not len(rows):
        return pd.DataFrame(np.empty((0, nsim)), index=rows.index, columns=columns)
    number = 0 if partition_info is None else int(partition_info.get("number", 0))
    rng = np.random.default_rng([task.seed, number])
    base = linear_predictor(ev, out, out.terms)
    noise_sd = out.sigma if ev.weights is None else out.sigma / np.sqrt(ev.weights)
    values = np.empty((len(rows), nsim))
    for s, draws in enumerate(task.draws):
        y = base.copy()
        for j in task.redrawn:
            y += np.einsum("nk,nk->n", ev.z[j], draws[j][ev.codes[j]])
        y += noise_sd * rng.standard_normal(len(rows))
        values[:, s] = y
    return pd.DataFrame(values, index=rows.index, columns=columns)


# ---------------------------------------------------------------------- quantiles
def _bins(values: np.ndarray) -> np.ndarray:
    """Order-preserving bins of float64 values: top bits of their sortable image."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    image = np.where(bits & sign, ~bits, bits | sign)
    return (image >> np.uint64(64 - _QUANTILE_BITS)).astype(np.int64)


def _finite_residuals(frame: pd.DataFrame, out: RowOutput) -> np.ndarray:
    rows, ev = out.plan.rows(frame)
    if not len(rows):
        return np.empty(0)
    values = _values(ev, out)
    return values[np.isfinite(values)]


def bin_counts(frame: pd.DataFrame | None, out: RowOutput) -> np.ndarray:
    """Counts of the output's finite values per bin (pass 1 of exact quantiles)."""
    values = np.empty(0) if frame is None else _finite_residuals(frame, out)
    return np.bincount(_bins(values), minlength=1 << _QUANTILE_BITS)


def add_counts(*counts: np.ndarray) -> np.ndarray:
    """Sum of bin counts."""
    return np.sum(counts, axis=0)


def bin_values(frame: pd.DataFrame | None, out: RowOutput,
               wanted: np.ndarray) -> np.ndarray:
    """The values falling in the wanted bins (pass 2 of exact quantiles)."""
    values = np.empty(0) if frame is None else _finite_residuals(frame, out)
    return values[np.isin(_bins(values), wanted)]


def join_values(*parts: np.ndarray) -> np.ndarray:
    """Concatenation of value arrays."""
    return np.concatenate(parts)


def exact_quantiles(parts: list[Any], out: RowOutput, probs: list[float]) -> list[float] | None:
    """Quantiles (R's type 7, numpy's default) of a row-wise output over all partitions,
    exactly, in two passes; only bin counts and the values of a few bins reach the
    client."""
    from mixedmodels.distributed._reduce import tree_reduce

    counts = tree_reduce(parts, bin_counts, add_counts, out)
    n = int(counts.sum())
    if n == 0:
        return None
    cumulative = np.cumsum(counts)
    ranks = []
    for q in probs:
        h = (n - 1) * q
        lo = int(np.floor(h))
        ranks.append((h, lo, min(lo + 1, n - 1)))
    needed = sorted({r for _, lo, hi in ranks for r in (lo, hi)})
    bins_of = {r: int(np.searchsorted(cumulative, r, side="right")) for r in needed}
    wanted = np.array(sorted(set(bins_of.values())), dtype=np.int64)
    values = tree_reduce(parts, bin_values, join_values, out, wanted)
    by_bin = {int(b): np.sort(values[_bins(values) == b]) for b in wanted}
    start = np.concatenate([[0], cumulative])

    def order_statistic(r: int) -> float:
        b = bins_of[r]
        return float(by_bin[b][r - int(start[b])])

    result = []
    for h, lo, hi in ranks:
        a, c = order_statistic(lo), order_statistic(hi)
        result.append(a + (h - lo) * (c - a))
    return result
