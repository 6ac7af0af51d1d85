"""Columns as formulaic should see them: R's factors and plain floats."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.design._frame import is_factor_like
from mixedmodels.design._levels import level_label, to_factor

__all__ = ["PreparedColumns", "prepare", "prepare_columns"]


class PreparedColumns:
    """Prepared fitting columns, held as arrays until a data frame is needed.

    Factor-like columns are :class:`pandas.Categorical` with R's level order and no
    unused levels; the others are float64 arrays. :meth:`frame` is the data frame
    formulaic evaluates (built once, on first use): the design's fast path
    (``design/_fast.py``) reads the arrays and never needs it.

    Parameters
    ----------
    columns : dict
        Name -> Categorical or float64 array, each of length ``len(index)``.
    index : pandas.Index
        Index of the rows.
    """

    def __init__(self, columns: dict[str, object], index: pd.Index) -> None:
        self.columns = columns
        self.index = index
        self._frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.index)

    def frame(self) -> pd.DataFrame:
        """The columns as a data frame (what :func:`prepare_columns` returns)."""
        if self._frame is None:
            index = self.index
            self._frame = pd.DataFrame(
                {name: pd.Series(values, index=index) for name, values in self.columns.items()},
                index=index,
            )
        return self._frame

    def skeleton(self, names: list[str]) -> pd.DataFrame:
        """The first row of ``names`` with the same dtypes (categories included)."""
        out: dict[str, object] = {}
        for name in names:
            values = self.columns[name]
            if isinstance(values, pd.Categorical):
                out[name] = pd.Categorical.from_codes(
                    values.codes[:1], dtype=values.dtype
                )
            else:
                out[name] = np.asarray(values)[:1]
        return pd.DataFrame(out, index=self.index[:1])


def prepare(frame: Any, names: list[str], index: pd.Index | None = None) -> PreparedColumns:
    """The fitting columns ``names`` of ``frame``, converted (see :func:`prepare_columns`).

    ``frame`` is a data frame, or a mapping of names to Series (or the arrays that
    :func:`~mixedmodels.design._frame.column_values` gives) with the rows' ``index``.
    """
    out: dict[str, object] = {}
    for name in names:
        series = frame[name]
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
            # what pd.to_numeric(...).to_numpy(dtype=float) gives, without pandas
            out[name] = np.array(np.asarray(series), dtype=float)
        elif is_factor_like(series):
            out[name] = to_factor(series)
        else:
            out[name] = pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan)
    return PreparedColumns(out, frame.index if index is None else index)


def prepare_columns(frame: pd.DataFrame, names: list[str], fitting: bool = True) -> pd.DataFrame:
    """A new frame holding ``names`` converted for formulaic.

    Parameters
    ----------
    frame : pandas.DataFrame
        Source data (not modified).
    names : list of str
        Columns to take.
    fitting : bool
        True for the fitting data: factor-like columns become categoricals
        with R's level order and no unused levels. False for new data:
        values are only normalised (booleans to ``"FALSE"``/``"TRUE"``) and
        formulaic maps them onto the levels learnt in fitting.

    Returns
    -------
    pandas.DataFrame
        Same index as ``frame``; numbers as float64 (missing as NaN).
    """
    if fitting:
        return prepare(frame, names).frame()
    out: dict[str, object] = {}
    for name in names:
        series = frame[name]
        if is_factor_like(series):
            if pd.api.types.is_bool_dtype(series.dtype):
                out[name] = series.map(lambda v: v if pd.isna(v) else level_label(bool(v)))
            else:
                out[name] = series.astype(object)
        else:
            out[name] = pd.Series(
                pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan), index=frame.index
            )
    return pd.DataFrame(out, index=frame.index)
