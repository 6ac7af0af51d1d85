"""Columns as formulaic should see them: R's factors and plain floats."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedmodels.design._frame import is_factor_like
from mixedmodels.design._levels import level_label, to_factor

__all__ = ["prepare_columns"]


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
    out: dict[str, object] = {}
    for name in names:
        series = frame[name]
        if is_factor_like(series):
            if fitting:
                out[name] = pd.Series(to_factor(series), index=frame.index)
            elif pd.api.types.is_bool_dtype(series.dtype):
                out[name] = series.map(lambda v: v if pd.isna(v) else level_label(bool(v)))
            else:
                out[name] = series.astype(object)
        else:
            out[name] = pd.Series(
                pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan), index=frame.index
            )
    return pd.DataFrame(out, index=frame.index)
