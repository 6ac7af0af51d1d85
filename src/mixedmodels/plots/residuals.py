"""Residual plots: Tukey-Anscombe, normal QQ, scale-location, per-group small multiples,
and the four-panel diagnostics figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedmodels.plots._data import grouping_codes, normal_quantiles, numeric_column
from mixedmodels.plots._lowess import lowess
from mixedmodels.plots._mpl import PlotError, get_axes, grid_shape, hide_unused, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mixedmodels.fit import LmerFit

__all__ = [
    "plot_diagnostics",
    "plot_qq",
    "plot_residuals",
    "plot_residuals_by_group",
    "plot_scale_location",
]

POINT = {"s": 12, "alpha": 0.6, "color": "C0", "edgecolors": "none"}
SMOOTH = {"color": "C3", "linewidth": 1.6}
REFERENCE = {"color": "0.4", "linestyle": "--", "linewidth": 1.0}


def _residuals_and_fitted(fit: LmerFit, kind: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    if kind == "conditional":
        res = fit.residuals(kind="pearson", scaled=True).to_numpy()
        return res, fit.fitted().to_numpy(), "Fitted values", "Scaled residuals"
    if kind == "marginal":
        marginal = fit.predict(re_form="~0").to_numpy()
        res = fit.model.design.y - marginal
        return res, marginal, "Marginal fitted values (X beta)", "Marginal residuals (y - X beta)"
    raise PlotError(f"kind must be 'conditional' or 'marginal', not {kind!r}")


def plot_residuals(fit: LmerFit, kind: str = "conditional", ax: Axes | None = None) -> Figure:
    """Tukey-Anscombe plot: residuals against fitted values, a LOWESS smooth and zero line.

    Parameters
    ----------
    fit : LmerFit
    kind : {"conditional", "marginal"}
        Scaled Pearson residuals against the conditional fitted values (lme4's
        ``plot(m)``), or ``y - X beta`` against ``X beta`` (the random effects left in).
    ax : matplotlib Axes, optional
        Draw on these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    res, fitted, xlabel, ylabel = _residuals_and_fitted(fit, kind)
    fig, ax = get_axes(ax)
    ax.scatter(fitted, res, **POINT)
    ax.axhline(0.0, **REFERENCE)
    xs, ys = lowess(fitted, res)
    ax.plot(xs, ys, label="LOWESS", **SMOOTH)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("Residuals vs fitted" if kind == "conditional" else "Marginal residuals")
    return fig


def plot_qq(fit: LmerFit, envelope: float = 0.95, nsim: int = 199, seed: int = 1,
            ax: Axes | None = None) -> Figure:
    """Normal QQ plot of the scaled residuals with a reference line and a simulation envelope.

    The reference line passes through the first and third quartiles (R's ``qqline``).
    The envelope holds the pointwise ``envelope`` range of the sorted values of ``nsim``
    normal samples of the same size placed on that line (as ``car::qqPlot``'s parametric
    envelope): points outside it are further from normal than sampling explains.

    Parameters
    ----------
    fit : LmerFit
    envelope : float
        Coverage of the pointwise envelope; 0 draws none.
    nsim : int
        Simulated samples for the envelope.
    seed : int
        Seed of the simulation (the figure is reproducible).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    res = np.sort(fit.residuals(kind="pearson", scaled=True).to_numpy())
    fig, ax = get_axes(ax)
    _qq_panel(ax, res, envelope, nsim, seed)
    ax.set_ylabel("Scaled residuals")
    ax.set_title("Normal QQ of residuals")
    return fig


def _qq_panel(ax: Axes, values: np.ndarray, envelope: float = 0.95, nsim: int = 199,
              seed: int = 1, color: str = "C0") -> None:
    """Sorted values against normal quantiles, the quartile line and an envelope."""
    from scipy import stats

    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    theo = normal_quantiles(n)
    q1, q3 = np.quantile(values, [0.25, 0.75])
    z1, z3 = stats.norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (z3 - z1)
    intercept = q1 - slope * z1
    if envelope > 0 and n >= 3:
        rng = np.random.default_rng(seed)
        sims = np.sort(rng.standard_normal((nsim, n)), axis=1)
        alpha = (1.0 - envelope) / 2.0
        lo, hi = np.quantile(sims, [alpha, 1.0 - alpha], axis=0)
        ax.fill_between(theo, intercept + slope * lo, intercept + slope * hi, color="0.85",
                        linewidth=0, label=f"{envelope:.0%} envelope")
    ax.scatter(theo, values, s=12, alpha=0.7, color=color, edgecolors="none")
    ax.axline((0.0, intercept), slope=slope if slope > 0 else 1.0, **REFERENCE)
    ax.set_xlabel("Normal quantiles")


def plot_scale_location(fit: LmerFit, ax: Axes | None = None) -> Figure:
    """Scale-location plot: sqrt(|scaled residuals|) against fitted values, with a smooth.

    A trend in the smooth means the residual spread changes with the mean.
    """
    res = fit.residuals(kind="pearson", scaled=True).to_numpy()
    fitted = fit.fitted().to_numpy()
    root = np.sqrt(np.abs(res))
    fig, ax = get_axes(ax)
    ax.scatter(fitted, root, **POINT)
    xs, ys = lowess(fitted, root)
    ax.plot(xs, ys, label="LOWESS", **SMOOTH)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel("sqrt(|scaled residuals|)")
    ax.set_title("Scale-location")
    return fig


def plot_residuals_by_group(fit: LmerFit, group: str, x: str | None = None,
                            max_panels: int = 24, seed: int = 1) -> Figure:
    """Small multiples of scaled residuals, one panel per level of ``group``.

    lme4's ``plot(m, resid(., scaled = TRUE) ~ fitted(.) | group)``.

    Parameters
    ----------
    fit : LmerFit
    group : str
        A grouping factor of the model (``"Subject"``, ``"cask:batch"``) or a column.
    x : str, optional
        A numeric column for the horizontal axis; fitted values when omitted.
    max_panels : int
        At most this many levels are drawn; when there are more, a random sample of
        levels (seeded by ``seed``) is drawn and the figure's title says so.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if max_panels < 1:
        raise PlotError("max_panels must be at least 1")
    codes, levels = grouping_codes(fit, group)
    res = fit.residuals(kind="pearson", scaled=True).to_numpy()
    xv = fit.fitted().to_numpy() if x is None else numeric_column(fit, x)
    chosen = np.arange(len(levels))
    sampled = len(levels) > max_panels
    if sampled:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(levels), size=max_panels, replace=False))
    nrows, ncols = grid_shape(len(chosen), max_cols=6)
    fig, axes = new_figure(nrows, ncols, panel=(2.2, 1.9), sharex=True, sharey=True)
    lim = np.nanmax(np.abs(res)) * 1.05 if len(res) else 1.0
    for ax, level in zip(axes.ravel(), chosen, strict=False):
        rows = codes == level
        ax.scatter(xv[rows], res[rows], s=10, alpha=0.8, color="C0", edgecolors="none")
        ax.axhline(0.0, **REFERENCE)
        ax.set_title(levels[level], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_ylim(-lim, lim)
    hide_unused(axes, len(chosen))
    title = f"Scaled residuals by {group}"
    if sampled:
        title += f" (showing a random sample of {max_panels} of {len(levels)} levels)"
    fig.suptitle(title)
    fig.supxlabel("Fitted values" if x is None else x)
    fig.supylabel("Scaled residuals")
    return fig


def plot_diagnostics(fit: LmerFit) -> Figure:
    """The four standard panels: residuals vs fitted, normal QQ of residuals,
    scale-location, and a normal QQ plot of the standardised random effects.

    Returns
    -------
    matplotlib.figure.Figure
        Four axes in a 2 x 2 grid.
    """
    from mixedmodels.plots.ranef import standardized_modes

    fig, axes = new_figure(2, 2, panel=(4.6, 3.6))
    plot_residuals(fit, ax=axes[0, 0])
    plot_qq(fit, ax=axes[0, 1])
    plot_scale_location(fit, ax=axes[1, 0])
    ax = axes[1, 1]
    modes = standardized_modes(fit)
    for i, (label, values) in enumerate(modes):
        theo = normal_quantiles(len(values))
        ax.scatter(theo, np.sort(values), s=14, alpha=0.8, color=f"C{i % 10}",
                   edgecolors="none", label=label)
    ax.axline((0.0, 0.0), slope=1.0, **REFERENCE)
    ax.set_xlabel("Normal quantiles")
    ax.set_ylabel("Standardised conditional modes")
    ax.set_title("Normal QQ of random effects")
    if len(modes) > 1:
        ax.legend(fontsize=7, loc="upper left")
    return fig
