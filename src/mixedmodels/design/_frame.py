"""Data frames in: conversion to pandas, column checks, missing-value masks.

The user's frame is never modified: everything here returns new objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.errors import DataError, FormulaError
from mixedmodels.formula import Kind, tokenize

__all__ = [
    "as_pandas", "check_columns", "column_values", "is_factor_like", "isna", "missing_mask",
    "resolve_vector",
]

# numpy kinds whose column is read as a plain array (numbers; booleans are factors)
_ARRAY_KINDS = "iuf"


def as_pandas(data: Any) -> pd.DataFrame:
    """Convert a data frame of any common library to pandas.

    Parameters
    ----------
    data : DataFrame-like
        pandas, polars, pyarrow (anything with ``to_pandas()``), an object
        speaking the dataframe interchange or Arrow stream protocol, or a
        mapping of column names to sequences.

    Returns
    -------
    pandas.DataFrame
        A frame that may share memory with ``data``; callers must not modify it.

    Raises
    ------
    DataError
        For anything that is not a data frame.
    """
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):
        frame = data.to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    if hasattr(data, "__arrow_c_stream__"):
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - pyarrow is optional
            pass
        else:
            return pa.table(data).to_pandas()
    if hasattr(data, "__dataframe__"):
        return pd.api.interchange.from_dataframe(data)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise DataError(f"data must be a data frame, not {type(data).__name__}")


def variable_position(text: str, name: str) -> int | None:
    """Offset of the first token naming ``name`` in a formula, or None."""
    try:
        tokens = tokenize(text)
    except FormulaError:
        return None
    for token in tokens:
        if token.kind is Kind.NAME and token.text == name:
            return token.pos
    return None


def check_columns(frame: pd.DataFrame, names: list[str], formula: str) -> None:
    """Raise FormulaError naming the first variable that is not a column."""
    missing = [name for name in names if name not in frame.columns]
    if not missing:
        return
    listed = ", ".join(repr(m) for m in missing)
    plural = "s" if len(missing) > 1 else ""
    raise FormulaError(
        f"variable{plural} {listed} not found in data (columns: "
        f"{', '.join(map(str, frame.columns[:20]))}{', ...' if frame.shape[1] > 20 else ''})",
        formula,
        variable_position(formula, missing[0]),
    )


def resolve_vector(value: Any, frame: pd.DataFrame, what: str) -> np.ndarray | None:
    """Turn a ``weights``/``offset`` argument into a float array of length n.

    Parameters
    ----------
    value : None, str or array-like
        A column name or values, one per row of ``frame``.
    frame : pandas.DataFrame
        The data.
    what : str
        ``"weights"`` or ``"offset"``, for messages.

    Returns
    -------
    numpy.ndarray or None
        float64 values (NaN where missing), or None when ``value`` is None.

    Raises
    ------
    DataError
        For an unknown column, a wrong length or non-numeric values.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value not in frame.columns:
            raise DataError(f"{what} column {value!r} not found in data")
        value = frame[value]
    values = pd.Series(value).reset_index(drop=True) if not np.isscalar(value) else None
    if values is None or values.ndim != 1:
        raise DataError(f"{what} must be a column name or a one-dimensional array")
    if len(values) != len(frame):
        raise DataError(f"{what} has length {len(values)} but data has {len(frame)} rows")
    try:
        return pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numeric ({exc})") from None


def column_values(frame: pd.DataFrame, name: str) -> np.ndarray | pd.Categorical | pd.Series:
    """Column ``name`` of ``frame``: its numpy array (numbers) or its Categorical without
    a Series around it, or else the Series ``frame[name]``.

    Indexing a frame builds a Series (an index view, a block lookup: 14 us), more than
    the rest of a small model's design takes per column; the frame's own array costs
    1 us. The array is the frame's: read it, never modify it. Where the frame cannot
    give it (a duplicated name, a pandas without the accessor) the Series comes back.
    """
    getter = getattr(frame, "_get_column_array", None)
    if getter is not None:
        loc = frame.columns.get_loc(name)
        if isinstance(loc, int):
            values = getter(loc)
            if (isinstance(values, np.ndarray) and values.ndim == 1
                    and values.dtype.kind in _ARRAY_KINDS) or isinstance(values, pd.Categorical):
                return values
    return frame[name]


def missing_mask(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Boolean mask of rows with a missing value in any of ``names``."""
    mask = np.zeros(len(frame), dtype=bool)
    for name in names:
        mask |= isna(frame[name])
    return mask


def isna(series: pd.Series | np.ndarray | pd.Categorical) -> np.ndarray:
    """``series.isna().to_numpy()``, computed directly for the common dtypes; also for
    the arrays :func:`column_values` gives."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return np.isnan(np.asarray(series))
        if dtype.kind in "iub":
            return np.zeros(len(series), dtype=bool)
    elif isinstance(dtype, pd.CategoricalDtype):
        factor = series if isinstance(series, pd.Categorical) else series.array
        return factor.codes == -1
    return np.asarray(pd.isna(series), dtype=bool)


def is_factor_like(series: pd.Series) -> bool:
    """Whether R would treat the column as a factor in a model matrix."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iufcmM":  # numbers, dates: no
        return False
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    )
