"""The summary's tables as DataFrames of numbers, shared by every renderer.

The functions here only arrange numbers (and take the ratio that defines a t value and
the scaling that turns a covariance into a correlation); they format nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Column labels of the fixed-effects table, in lmerTest's order. ``df`` and
# ``Pr(>|t|)`` are present only when degrees of freedom were computed.
ESTIMATE = "Estimate"
STD_ERROR = "Std. Error"
DF = "df"
T_VALUE = "t value"
P_VALUE = "Pr(>|t|)"

VARCORR_COLUMNS = ["grp", "var1", "var2", "vcov", "sdcor"]


def coefficient_table(
    estimate: pd.Series | Mapping[str, float],
    std_error: pd.Series | Mapping[str, float],
    df: pd.Series | Mapping[str, float] | None = None,
    p_value: pd.Series | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Fixed-effects table: Estimate, Std. Error, [df,] t value[, Pr(>|t|)].

    Parameters
    ----------
    estimate, std_error : Series or mapping
        Estimates and standard errors, indexed by lme4's coefficient names.
    df, p_value : Series or mapping, optional
        Denominator degrees of freedom and p-values (lmerTest's layout); both or neither.

    Returns
    -------
    DataFrame
        One row per coefficient, columns in lmerTest's order.
    """
    est = pd.Series(estimate, dtype=float)
    se = pd.Series(std_error, dtype=float).reindex(est.index)
    columns: dict[str, pd.Series] = {ESTIMATE: est, STD_ERROR: se}
    if df is not None:
        columns[DF] = pd.Series(df, dtype=float).reindex(est.index)
    columns[T_VALUE] = est / se
    if p_value is not None:
        columns[P_VALUE] = pd.Series(p_value, dtype=float).reindex(est.index)
    return pd.DataFrame(columns, index=est.index)


def correlation_from_vcov(vcov: pd.DataFrame | np.ndarray, names: Sequence[str] | None = None
                          ) -> pd.DataFrame:
    """Correlation matrix of the fixed-effects estimates (R's ``cov2cor``).

    Parameters
    ----------
    vcov : DataFrame or ndarray, (p, p)
        Covariance matrix of the estimates.
    names : sequence of str, optional
        Labels, when ``vcov`` is an array.
    """
    if isinstance(vcov, pd.DataFrame):
        names = list(vcov.index)
        values = vcov.to_numpy(dtype=float)
    else:
        values = np.asarray(vcov, dtype=float)
        names = list(names) if names is not None else [str(i) for i in range(len(values))]
    sd = np.sqrt(np.diagonal(values))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = values / np.outer(sd, sd)
    return pd.DataFrame(corr, index=names, columns=names)


def varcorr_frame(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Normalise variance components to R's ``as.data.frame(VarCorr(m))`` layout.

    Parameters
    ----------
    rows : DataFrame or sequence of mappings
        Columns (keys) grp, var1, var2, vcov, sdcor; var1/var2 missing as None or NaN.
    """
    frame = pd.DataFrame(list(rows) if not isinstance(rows, pd.DataFrame) else rows)
    frame = frame.loc[:, VARCORR_COLUMNS].reset_index(drop=True)
    columns: dict[str, Any] = {
        col: pd.Series([None if _missing(v) else str(v) for v in frame[col]], dtype=object)
        for col in ("grp", "var1", "var2")
    }
    for col in ("vcov", "sdcor"):
        columns[col] = frame[col].astype(float)
    return pd.DataFrame(columns)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


@dataclass(frozen=True)
class VarCorrBlock:
    """One random-effects term (or the residual) read from the long VarCorr table.

    Attributes
    ----------
    group : str
        Group label as lme4 prints it (``"Subject"``, ``"Subject.1"``, ``"Residual"``).
    names : tuple of str
        Coefficient names (``("",)`` for the residual).
    variances, stddevs : ndarray, (k,)
        Variances and standard deviations.
    corr : ndarray, (k, k)
        Correlations (1 on the diagonal; NaN where a standard deviation is 0).
    """

    group: str
    names: tuple[str, ...]
    variances: np.ndarray
    stddevs: np.ndarray
    corr: np.ndarray

    @property
    def is_residual(self) -> bool:
        return self.group == "Residual" and self.names == ("",)


def varcorr_blocks(frame: pd.DataFrame) -> list[VarCorrBlock]:
    """Split the long VarCorr table into terms, keeping lme4's order."""
    order: list[str] = []
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for grp, var1, var2, vcov, sdcor in frame.loc[:, VARCORR_COLUMNS].itertuples(index=False):
        if grp not in rows:
            order.append(grp)
            rows[grp] = []
        var1 = None if _missing(var1) else var1
        var2 = None if _missing(var2) else var2
        rows[grp].append((var1, var2, vcov, sdcor))
    blocks = []
    for grp in order:
        entries = rows[grp]
        names = [v1 for v1, v2, _, _ in entries if v2 is None]
        names = ["" if n is None else n for n in names]
        variances = np.array([vc for _, v2, vc, _ in entries if v2 is None], dtype=float)
        stddevs = np.array([sd for _, v2, _, sd in entries if v2 is None], dtype=float)
        k = len(names)
        corr = np.eye(k)
        position = {n: i for i, n in enumerate(names)}
        for v1, v2, _, sd in entries:
            if v2 is not None:
                i, j = position[v1], position[v2]
                corr[i, j] = corr[j, i] = sd
        blocks.append(VarCorrBlock(grp, tuple(names), variances, stddevs, corr))
    return blocks


def random_effects_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Random-effects table in lme4's layout, as numbers.

    Columns Groups, Name, Variance, Std.Dev., then ``Corr``, ``Corr.1``, ... where column
    ``Corr.j`` of a coefficient's row holds its correlation with coefficient j of the same
    term (lower triangle only; NaN elsewhere). Groups is empty on continuation rows.
    """
    blocks = varcorr_blocks(frame)
    ncorr = max((len(b.names) for b in blocks), default=1) - 1
    corr_cols = ["Corr"] + [f"Corr.{j}" for j in range(1, ncorr)] if ncorr > 0 else []
    records = []
    for block in blocks:
        for i, name in enumerate(block.names):
            record: dict[str, Any] = {
                "Groups": block.group if i == 0 else "",
                "Name": name,
                "Variance": block.variances[i],
                "Std.Dev.": block.stddevs[i],
            }
            for j, col in enumerate(corr_cols):
                record[col] = block.corr[i, j] if j < i else np.nan
            records.append(record)
    return pd.DataFrame(records, columns=["Groups", "Name", "Variance", "Std.Dev.", *corr_cols])
