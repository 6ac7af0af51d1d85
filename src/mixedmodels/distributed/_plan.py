"""What is done to every partition: select the rows the model uses, evaluate them.

Both are plain data (picklable) so they can be sent to Dask workers: a
:class:`Selector` drops rows exactly as ``build_design`` does in memory, and a
:class:`RowPlan` replays the learnt design (``CodedSpec`` of the response, the
fixed effects and each random term's left side, level maps of the grouping
factors) on the selected rows, as ``predict`` does on new data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixedmodels.design._coding import CodedSpec, replay
from mixedmodels.design._frame import missing_mask
from mixedmodels.design._levels import level_label
from mixedmodels.design._prepare import prepare_columns

__all__ = ["Evaluated", "GroupingCoder", "RowPlan", "Selector", "numeric_column"]


def numeric_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as float64 (missing as NaN)."""
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


@dataclass(frozen=True)
class Selector:
    """Which rows of a partition the model uses.

    Attributes
    ----------
    variables : tuple of str
        Every column the formula reads: a row missing any of them is dropped.
    weights, offset : str or None
        Columns of the prior weights and the offset (missing values drop the row).
    probe : RowPlan or None
        The plan learnt before rows whose evaluated design has missing values (e.g.
        ``log`` of a negative number) were dropped: rows it evaluates to NaN are
        dropped too, as the in-memory path's second pass does.
    """

    variables: tuple[str, ...]
    weights: str | None = None
    offset: str | None = None
    probe: RowPlan | None = None

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` the model uses."""
        drop = missing_mask(frame, list(self.variables))
        for name in (self.weights, self.offset):
            if name is not None:
                drop |= np.isnan(numeric_column(frame, name))
        rows = frame[~drop] if drop.any() else frame
        if self.probe is not None and len(rows):
            bad = self.probe.evaluate(rows).missing_rows()
            if bad.any():
                rows = rows[~bad]
        return rows


@dataclass(frozen=True)
class GroupingCoder:
    """Level codes of a grouping factor (one variable or an interaction).

    Attributes
    ----------
    group : tuple of str
        The grouping variables.
    categories : tuple of ndarray
        Per variable, its values in R's level order (booleans as ``"FALSE"``/``"TRUE"``).
    keys : ndarray or None
        For an interaction: the sorted mixed-radix keys of the combinations present
        (R drops the others); None for one variable.
    """

    group: tuple[str, ...]
    categories: tuple[np.ndarray, ...]
    keys: np.ndarray | None = None

    def component_codes(self, frame: pd.DataFrame) -> list[np.ndarray]:
        """Per variable, the index of each row's value in ``categories`` (-1: unseen)."""
        out = []
        for name, cats in zip(self.group, self.categories, strict=True):
            values = factor_values(frame[name])
            codes = pd.Categorical(values, categories=pd.Index(cats)).codes
            out.append(np.asarray(codes, dtype=np.int64))
        return out

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """The level index of each row (-1 for a level not seen in fitting)."""
        parts = self.component_codes(frame)
        if self.keys is None:
            return parts[0]
        combined = np.zeros(len(frame), dtype=np.int64)
        unseen = np.zeros(len(frame), dtype=bool)
        for codes, cats in zip(parts, self.categories, strict=True):
            unseen |= codes < 0
            combined = combined * len(cats) + codes
        index = np.searchsorted(self.keys, combined)
        index = np.minimum(index, len(self.keys) - 1)
        unseen |= self.keys[index] != combined
        return np.where(unseen, -1, index).astype(np.int64)


def factor_values(series: pd.Series) -> pd.Series:
    """Values as the level categories hold them: booleans as R's labels."""
    if pd.api.types.is_bool_dtype(series.dtype) or (
        pd.api.types.is_object_dtype(series.dtype)
        and len(series) > 0
        and all(isinstance(v, (bool, np.bool_)) for v in series.dropna())
    ):
        return series.map(lambda v: v if pd.isna(v) else level_label(bool(v)))
    return series


@dataclass(frozen=True)
class Evaluated:
    """The design evaluated on the rows of one partition.

    Attributes
    ----------
    y : ndarray (n,)
    X : ndarray (n, p)
        All columns of the fixed-effects spec (before aliased columns are dropped).
    z : list of ndarray (n, k_j)
    codes : list of ndarray (n,)
    weights, offset : ndarray (n,) or None
    """

    y: np.ndarray
    X: np.ndarray
    z: list[np.ndarray]
    codes: list[np.ndarray]
    weights: np.ndarray | None
    offset: np.ndarray | None

    def missing_rows(self) -> np.ndarray:
        """Rows whose response, fixed-effects or random-effects values are NaN."""
        bad = np.isnan(self.y) | np.isnan(self.X).any(axis=1)
        for z in self.z:
            bad |= np.isnan(z).any(axis=1)
        return bad


@dataclass(frozen=True)
class RowPlan:
    """The learnt design, replayed on a partition's rows.

    Attributes
    ----------
    selector : Selector
    response : CodedSpec
        ``0 + response``: one column.
    fixed : CodedSpec
        The fixed effects, every column formulaic codes (aliased ones included).
    lhs : tuple of CodedSpec
        Each random term's left side, terms in the model's (lme4's) order.
    coders : tuple of GroupingCoder
        Each term's grouping factor, same order.
    """

    selector: Selector
    response: CodedSpec
    fixed: CodedSpec
    lhs: tuple[CodedSpec, ...]
    coders: tuple[GroupingCoder, ...]

    def variables(self) -> list[str]:
        """Columns the specs read (not the grouping variables)."""
        found: list[str] = []
        for spec in (self.response, self.fixed, *self.lhs):
            found += [v for v in spec.terms.variables() if v not in found]
        return found

    def evaluate(self, rows: pd.DataFrame) -> Evaluated:
        """Evaluate the design on selected rows.

        Parameters
        ----------
        rows : pandas.DataFrame
            Rows returned by ``selector.select``.
        """
        n = len(rows)
        if n == 0:
            return Evaluated(
                np.empty(0), np.empty((0, len(self.fixed.columns))),
                [np.empty((0, len(s.columns))) for s in self.lhs],
                [np.empty(0, np.int64) for _ in self.coders],
                None if self.selector.weights is None else np.empty(0),
                None if self.selector.offset is None else np.empty(0),
            )
        prepared = prepare_columns(rows, self.variables(), fitting=False)
        y = replay(self.response, prepared)[:, 0].copy()
        X = replay(self.fixed, prepared)
        z = [replay(spec, prepared) for spec in self.lhs]
        codes = [coder.codes(rows) for coder in self.coders]
        sel = self.selector
        w = None if sel.weights is None else numeric_column(rows, sel.weights)
        off = None if sel.offset is None else numeric_column(rows, sel.offset)
        return Evaluated(y, X, z, codes, w, off)

    def rows(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, Evaluated]:
        """Select and evaluate."""
        rows = self.selector.select(frame)
        return rows, self.evaluate(rows)
