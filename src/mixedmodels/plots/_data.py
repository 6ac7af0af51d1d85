"""What the plots read off a fit: the model frame, grouping factors, residuals, modes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.plots._mpl import PlotError

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = [
    "grouping_codes",
    "model_frame",
    "normal_quantiles",
    "numeric_column",
    "ranef_panels",
    "response_label",
]


def model_frame(fit: LmerFit) -> pd.DataFrame:
    """The rows of the user's data that the fit used, in fitting order."""
    from mixedmodels.design._frame import as_pandas

    frame = as_pandas(fit.model.data)
    index = fit.model.design.row_index
    if frame.index.is_unique:
        return frame.loc[index]
    raise PlotError("the data's index has duplicate labels; reset it (df.reset_index()) "
                    "before fitting to draw plots that need the data's columns")


def response_label(fit: LmerFit) -> str:
    """The response as written in the formula (``Reaction``, ``log(y)``)."""
    return str(fit.model.design.response_name)


def grouping_codes(fit: LmerFit, group: str) -> tuple[np.ndarray, list[str]]:
    """Per-row level codes and level labels of ``group``.

    ``group`` is the name of a grouping factor of the model (``"Subject"``,
    ``"cask:batch"``) or a column of the data.
    """
    for term in fit.model.reterms:
        if term.name == group:
            return np.asarray(term.codes), [str(x) for x in term.levels]
    frame = model_frame(fit)
    if group not in frame.columns:
        names = ", ".join(repr(t) for t in fit.ngroups)
        raise PlotError(f"{group!r} is neither a grouping factor of the model ({names}) "
                        f"nor a column of the data")
    codes, uniques = pd.factorize(frame[group], sort=True)
    if (codes < 0).any():
        raise PlotError(f"column {group!r} has missing values in the rows of the fit")
    return codes.astype(np.int64), [str(u) for u in uniques]


def numeric_column(fit: LmerFit, name: str) -> np.ndarray:
    """A numeric column of the data, on the rows of the fit."""
    frame = model_frame(fit)
    if name not in frame.columns:
        raise PlotError(f"{name!r} is not a column of the data")
    values = frame[name]
    if not pd.api.types.is_numeric_dtype(values) or isinstance(values.dtype,
                                                                pd.CategoricalDtype):
        raise PlotError(f"column {name!r} is not numeric")
    return np.asarray(values, dtype=float)


def normal_quantiles(n: int) -> np.ndarray:
    """Theoretical normal quantiles for a sample of size n (R's ``ppoints``)."""
    from scipy import stats

    a = 3.0 / 8.0 if n <= 10 else 0.5
    p = (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)
    return stats.norm.ppf(p)


def ranef_panels(fit: LmerFit, cond_var: bool = False
                 ) -> list[tuple[str, str, np.ndarray, list[str], np.ndarray | None]]:
    """One entry per grouping factor and coefficient.

    Returns
    -------
    list of (group, coefficient, modes, level labels, conditional sd or None)
    """
    panels = []
    for group, df in fit.ranef(cond_var=cond_var).items():
        cv = df.attrs.get("cond_var") if cond_var else None
        for j, coef in enumerate(df.columns):
            sd = np.sqrt(np.maximum(cv[:, j, j], 0.0)) if cv is not None else None
            panels.append((str(group), str(coef), df[coef].to_numpy(dtype=float),
                           [str(x) for x in df.index], sd))
    return panels
