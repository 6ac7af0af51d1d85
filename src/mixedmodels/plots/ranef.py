"""Pictures of the random effects: QQ plots, caterpillar plots, modes against predictors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.plots._data import model_frame, ranef_panels
from mixedmodels.plots._lowess import lowess
from mixedmodels.plots._mpl import PlotError, grid_shape, hide_unused, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mixedmodels.fit import LmerFit

__all__ = ["plot_caterpillar", "plot_ranef_qq", "plot_ranef_vs_predictor",
           "random_effect_sds", "standardized_modes"]

REFERENCE = {"color": "0.4", "linestyle": "--", "linewidth": 1.0}
MAX_LABELLED_LEVELS = 40


def random_effect_sds(fit: LmerFit) -> dict[tuple[str, str], float]:
    """Estimated standard deviation of each (grouping factor, coefficient)."""
    out = {}
    for lam, term in zip(fit.model.lambdas(fit.theta), fit.model.reterms, strict=True):
        cov = fit.sigma**2 * lam @ lam.T
        for j, cname in enumerate(term.cnames):
            out[(term.name, cname)] = float(np.sqrt(max(cov[j, j], 0.0)))
    return out


def standardized_modes(fit: LmerFit) -> list[tuple[str, np.ndarray]]:
    """Conditional modes divided by their estimated standard deviation, per coefficient.

    Coefficients whose variance is estimated as zero (singular fits) are left out.
    """
    sds = random_effect_sds(fit)
    out = []
    for group, coef, modes, _, _ in ranef_panels(fit):
        sd = sds.get((group, coef), 0.0)
        if sd > 0:
            out.append((f"{group}: {coef}", modes / sd))
    return out


def plot_ranef_qq(fit: LmerFit) -> Figure:
    """Normal QQ plots of the conditional modes, one panel per grouping factor and
    coefficient, each with a line through the quartiles (lme4's ``qqmath(ranef(m))``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from mixedmodels.plots.residuals import _qq_panel

    panels = ranef_panels(fit)
    nrows, ncols = grid_shape(len(panels), max_cols=3)
    fig, axes = new_figure(nrows, ncols, panel=(4.0, 3.4))
    for ax, (group, coef, modes, _, _) in zip(axes.ravel(), panels, strict=False):
        _qq_panel(ax, modes, envelope=0.0)
        ax.set_title(f"{group}: {coef}")
        ax.set_ylabel("Conditional mode")
    hide_unused(axes, len(panels))
    return fig


def plot_caterpillar(fit: LmerFit, level: float = 0.95) -> Figure:
    """Caterpillar plot: sorted conditional modes with intervals from their conditional
    variances (lme4's ``dotplot(ranef(m, condVar = TRUE))``).

    One panel per grouping factor and coefficient; levels sorted by their mode and named
    on the vertical axis (when there are at most 40 of them).

    Parameters
    ----------
    fit : LmerFit
    level : float
        Coverage of the intervals, ``mode +- z sqrt(conditional variance)``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy import stats

    if not 0.0 < level < 1.0:
        raise PlotError("level must be between 0 and 1")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    panels = ranef_panels(fit, cond_var=True)
    nmax = max(len(p[2]) for p in panels)
    height = min(9.0, max(2.6, 0.16 * nmax + 1.0))
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(nrows, ncols, panel=(3.6, height))
    for ax, (group, coef, modes, labels, sd) in zip(axes.ravel(), panels, strict=False):
        order = np.argsort(modes, kind="stable")
        pos = np.arange(len(modes))
        half = z * sd[order]
        ax.errorbar(modes[order], pos, xerr=half, fmt="none", ecolor="0.45", elinewidth=1.0)
        ax.scatter(modes[order], pos, s=16, color="C0", zorder=3)
        ax.axvline(0.0, **REFERENCE)
        if len(modes) <= MAX_LABELLED_LEVELS:
            ax.set_yticks(pos, [labels[i] for i in order], fontsize=7)
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{len(modes)} levels (sorted)")
        ax.set_title(f"{group}: {coef}")
        ax.set_xlabel(f"Conditional mode ({level:.0%} interval)")
    hide_unused(axes, len(panels))
    return fig


def plot_ranef_vs_predictor(fit: LmerFit, predictor: str, group: str | None = None) -> Figure:
    """Conditional modes against the group means of a numeric predictor.

    A trend means the random effects absorb an effect of the predictor that the fixed
    part misses (for example a between-group effect of a within-group predictor).

    Parameters
    ----------
    fit : LmerFit
    predictor : str
        A numeric column of the data.
    group : str, optional
        Only this grouping factor (default: every grouping factor).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per grouping factor and coefficient.
    """
    frame = model_frame(fit)
    if predictor not in frame.columns:
        raise PlotError(f"{predictor!r} is not a column of the data")
    values = frame[predictor]
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        raise PlotError(f"predictor {predictor!r} is not numeric")
    values = np.asarray(values, dtype=float)
    codes_of = {t.name: np.asarray(t.codes) for t in fit.model.reterms}
    panels = [p for p in ranef_panels(fit) if group is None or p[0] == group]
    if not panels:
        raise PlotError(f"{group!r} is not a grouping factor of the model "
                        f"({', '.join(repr(g) for g in fit.ngroups)})")
    nrows, ncols = grid_shape(len(panels), max_cols=3)
    fig, axes = new_figure(nrows, ncols, panel=(4.0, 3.4))
    for ax, (name, coef, modes, _, _) in zip(axes.ravel(), panels, strict=False):
        codes = codes_of[name]
        counts = np.bincount(codes, minlength=len(modes))
        means = np.bincount(codes, weights=values, minlength=len(modes)) / np.maximum(counts, 1)
        ax.scatter(means, modes, s=16, color="C0", alpha=0.8, edgecolors="none")
        ax.axhline(0.0, **REFERENCE)
        if len(np.unique(means)) > 3:
            xs, ys = lowess(means, modes)
            ax.plot(xs, ys, color="C3", linewidth=1.5)
        ax.set_xlabel(f"Mean of {predictor} in {name}")
        ax.set_ylabel("Conditional mode")
        ax.set_title(f"{name}: {coef}")
    hide_unused(axes, len(panels))
    return fig
