"""Effect plots: the predicted response over one predictor, as R's effects package."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.plots._data import model_frame, response_label
from mixedmodels.plots._mpl import PlotError, get_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mixedmodels.fit import LmerFit

__all__ = ["effect_frame", "plot_effects"]


def _is_categorical(values: pd.Series) -> bool:
    return (isinstance(values.dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(values)
            or pd.api.types.is_bool_dtype(values))


def _typical(values: pd.Series) -> object:
    """The value a predictor is held at: its mean, or its first (reference) level."""
    if _is_categorical(values):
        if isinstance(values.dtype, pd.CategoricalDtype):
            return values.cat.categories[0]
        return sorted(values.dropna().unique(), key=str)[0]
    return float(values.mean())


def effect_frame(fit: LmerFit, term: str, n: int = 100, level: float = 0.95) -> pd.DataFrame:
    """Population-level predictions over one predictor with a confidence band.

    The other predictors are held at their means (numeric) or first levels (factors).
    The band is ``x' beta +- z sqrt(x' V x)`` with V the covariance of the fixed effects.

    Parameters
    ----------
    fit : LmerFit
    term : str
        A variable of the fixed part of the formula.
    n : int
        Grid points for a numeric predictor.
    level : float
        Coverage of the band.

    Returns
    -------
    DataFrame
        Columns ``term``, fit, se, lower, upper; one row per grid value or level.
    """
    from scipy import stats

    from mixedmodels.design import fixed_matrix

    design = fit.model.design
    variables = sorted(design.fixed_spec.model_spec.required_variables)
    if term not in variables:
        shown = ", ".join(repr(v) for v in variables) or "none"
        raise PlotError(f"{term!r} is not a variable of the fixed part of the formula "
                        f"(variables: {shown})")
    frame = model_frame(fit)
    values = frame[term]
    if _is_categorical(values):
        grid = (list(values.cat.categories) if isinstance(values.dtype, pd.CategoricalDtype)
                else sorted(values.dropna().unique(), key=str))
    else:
        grid = np.linspace(float(values.min()), float(values.max()), n)
    new = pd.DataFrame({term: grid})
    if isinstance(values.dtype, pd.CategoricalDtype):
        new[term] = pd.Categorical(new[term], categories=values.cat.categories)
    for var in variables:
        if var == term:
            continue
        typical = _typical(frame[var])
        new[var] = [typical] * len(new)
        if isinstance(frame[var].dtype, pd.CategoricalDtype):
            new[var] = pd.Categorical(new[var], categories=frame[var].cat.categories)
    offset = fit.model.fit_options.get("offset")
    if design.offset is not None:
        if not isinstance(offset, str):
            raise PlotError("effect plots of a model with an offset need the offset given "
                            "as a column name (lmer(offset='col'))")
        new[offset] = float(np.mean(design.offset))
    X = fixed_matrix(design, new)
    est = fit.predict(new, re_form="~0").to_numpy()
    V = fit.vcov.to_numpy()
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    return pd.DataFrame({term: grid, "fit": est, "se": se,
                         "lower": est - z * se, "upper": est + z * se})


def plot_effects(fit: LmerFit, term: str, level: float = 0.95, ax: Axes | None = None
                 ) -> Figure:
    """Predicted response (fixed effects only) over one predictor with a confidence band.

    Numeric predictors give a line and a shaded band; factors give points with
    error bars. The other predictors are held at their means or reference levels.

    Parameters
    ----------
    fit : LmerFit
    term : str
        A variable of the fixed part of the formula.
    level : float
        Coverage of the band.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = effect_frame(fit, term, level=level)
    fig, ax = get_axes(ax)
    x = table[term]
    if pd.api.types.is_numeric_dtype(x) and not isinstance(x.dtype, pd.CategoricalDtype):
        ax.fill_between(x, table["lower"], table["upper"], color="C0", alpha=0.2,
                        linewidth=0, label=f"{level:.0%} confidence band")
        ax.plot(x, table["fit"], color="C0", linewidth=2.0, label="prediction")
    else:
        pos = np.arange(len(table))
        ax.errorbar(pos, table["fit"], yerr=[table["fit"] - table["lower"],
                                             table["upper"] - table["fit"]],
                    fmt="o", color="C0", capsize=4)
        ax.set_xticks(pos, [str(v) for v in x])
    ax.set_xlabel(term)
    ax.set_ylabel(response_label(fit))
    ax.set_title(f"Effect of {term}")
    return fig
