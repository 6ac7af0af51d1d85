"""Pooling pictures: per-group fitted lines, no / complete / partial pooling, shrinkage.

The three estimates of a group's coefficients (intercept, slopes of one grouping factor):

* no pooling: an ordinary least-squares fit in each group alone;
* complete pooling: one least-squares fit to all groups together;
* partial pooling: the mixed model's per-group coefficients (``fit.coef()``).

So that the three are comparable in models with more terms, both least-squares fits use
the partial response ``y - (the fitted value without this factor's coefficients)``: the
other fixed effects and the other factors' random effects are held at the mixed
model's estimates. For ``Reaction ~ Days + (Days | Subject)`` this is plain per-subject
regression of Reaction on Days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mixedmodels.plots._data import grouping_codes, numeric_column, response_label
from mixedmodels.plots._mpl import PlotError, get_axes, grid_shape, hide_unused, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mixedmodels.fit import LmerFit

__all__ = ["PoolingEstimates", "plot_fitted_lines", "plot_pooling", "plot_shrinkage",
           "pooling_estimates"]

REFERENCE = {"color": "0.4", "linestyle": "--", "linewidth": 1.0}


@dataclass(frozen=True)
class PoolingEstimates:
    """No-, complete- and partial-pooling estimates of one grouping factor's coefficients.

    Attributes
    ----------
    group : str
        The grouping factor.
    coefficients : list of str
        Its coefficients (lme4's names).
    levels : list of str
        Level labels.
    no_pooling : ndarray (levels, k)
        Per-group least-squares estimates (NaN where a group cannot determine them).
    complete_pooling : ndarray (k,)
        One least-squares fit over all groups.
    partial_pooling : ndarray (levels, k)
        The mixed model's per-level coefficients.
    """

    group: str
    coefficients: list[str]
    levels: list[str]
    no_pooling: np.ndarray
    complete_pooling: np.ndarray
    partial_pooling: np.ndarray


def pooling_estimates(fit: LmerFit, group: str) -> PoolingEstimates:
    """The three estimates of the coefficients of grouping factor ``group``."""
    terms = [j for j, t in enumerate(fit.model.reterms) if t.name == group]
    if not terms:
        raise PlotError(f"{group!r} is not a grouping factor of the model "
                        f"({', '.join(repr(g) for g in fit.ngroups)})")
    reterms = fit.model.reterms
    Z = np.hstack([reterms[j].z for j in terms])
    codes = np.asarray(reterms[terms[0]].codes)
    coefs = [c for j in terms for c in reterms[j].cnames]
    levels = [str(x) for x in reterms[terms[0]].levels]
    xnames = list(fit.model.design.xnames)
    fixed_part = np.array([fit.beta[xnames.index(c)] if c in xnames else 0.0 for c in coefs])
    others = [j for j in range(len(reterms)) if j not in terms]
    # fitted value without this factor's coefficients (fixed and random)
    eta_other = fit._linear_predictor(others) - Z @ fixed_part
    r = fit.model.design.y - eta_other
    k = Z.shape[1]
    no_pool = np.full((len(levels), k), np.nan)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(levels) + 1))
    for g in range(len(levels)):
        rows = order[bounds[g]:bounds[g + 1]]
        Zg = Z[rows]
        if len(rows) >= k and np.linalg.matrix_rank(Zg) == k:
            no_pool[g] = np.linalg.lstsq(Zg, r[rows], rcond=None)[0]
    complete = np.linalg.lstsq(Z, r, rcond=None)[0]
    partial = fit.coef()[group][coefs].to_numpy(dtype=float) if coefs else np.empty((0, 0))
    # coef() adds fixef only for names it knows; make sure absent fixed parts are 0
    return PoolingEstimates(group, coefs, levels, no_pool, complete, partial)


def plot_fitted_lines(fit: LmerFit, x: str, group: str, ax: Axes | None = None) -> Figure:
    """Data and fitted lines: one conditional line per group and the population line.

    Parameters
    ----------
    fit : LmerFit
    x : str
        A numeric column for the horizontal axis.
    group : str
        A grouping factor of the model or a column; one line per level.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        The points, one line per level (the conditional fitted values) and, last, the
        population line (the marginal fitted values, averaged at each value of x).
    """
    xv = numeric_column(fit, x)
    codes, levels = grouping_codes(fit, group)
    y = fit.model.design.y
    cond = fit.fitted().to_numpy()
    marg = fit.predict(re_form="~0").to_numpy()
    fig, ax = get_axes(ax, panel=(6.0, 4.5))
    ax.scatter(xv, y, s=10, alpha=0.5, color="0.35", edgecolors="none", label="data")
    alpha = 0.8 if len(levels) <= 30 else 0.35
    for g in range(len(levels)):
        rows = np.flatnonzero(codes == g)
        rows = rows[np.argsort(xv[rows], kind="stable")]
        ax.plot(xv[rows], cond[rows], linewidth=0.9, alpha=alpha, color=f"C{g % 10}")
    ux, inverse = np.unique(xv, return_inverse=True)
    mean_marg = np.bincount(inverse, weights=marg) / np.bincount(inverse)
    ax.plot(ux, mean_marg, color="black", linewidth=2.6, label="population (fixed effects)")
    ax.set_xlabel(x)
    ax.set_ylabel(response_label(fit))
    ax.set_title(f"Fitted lines by {group}")
    ax.legend(fontsize=8, loc="best")
    return fig


def _single_factor(fit: LmerFit) -> str:
    groups = list(fit.ngroups)
    if len(groups) != 1:
        raise PlotError(
            "plot_pooling needs a model with one grouping factor; this model has "
            f"{len(groups)} ({', '.join(groups)}): use plot_shrinkage, which draws every "
            "factor")
    return groups[0]


def plot_pooling(fit: LmerFit, x: str | None = None, ax: Axes | None = None) -> Figure:
    """No pooling, complete pooling and partial pooling, with arrows showing shrinkage.

    With one random coefficient (``(1 | g)``) the groups' estimates are drawn in two
    columns, no pooling and partial pooling, joined by arrows, with the complete-pooling
    estimate as a horizontal line. With a random intercept and slopes, each group is a
    point in the plane (intercept, slope of ``x``): an arrow from its own least-squares
    fit to its mixed-model coefficients, and the complete-pooling fit as a cross.

    Parameters
    ----------
    fit : LmerFit
        A model with exactly one grouping factor.
    x : str, optional
        The random slope to draw against the intercept (a coefficient name such as
        ``"Days"``); the first slope by default.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    group = _single_factor(fit)
    est = pooling_estimates(fit, group)
    coefs = est.coefficients
    fig, ax = get_axes(ax, panel=(6.0, 4.8))
    ok = ~np.isnan(est.no_pooling).any(axis=1)
    if len(coefs) == 1:
        if x is not None and x != coefs[0]:
            raise PlotError(f"{x!r} is not a random coefficient of {group} ({coefs[0]})")
        no, part = est.no_pooling[ok, 0], est.partial_pooling[ok, 0]
        ax.scatter(np.zeros(len(no)), no, color="C0", label="no pooling", zorder=3)
        ax.scatter(np.ones(len(part)), part, color="C1", label="partial pooling", zorder=3)
        for a, b in zip(no, part, strict=True):
            ax.annotate("", xy=(1.0, b), xytext=(0.0, a),
                        arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 0.8})
        ax.axhline(est.complete_pooling[0], color="C2", linewidth=1.5,
                   label="complete pooling")
        ax.set_xticks([0, 1], ["No pooling", "Partial pooling"])
        ax.set_xlim(-0.4, 1.4)
        ax.set_ylabel(f"{coefs[0]} of {group}")
        ax.set_xlabel("Estimate")
    else:
        ix, iy = _pair(coefs, x, group)
        no, part = est.no_pooling[ok], est.partial_pooling[ok]
        ax.scatter(no[:, ix], no[:, iy], color="C0", label="no pooling", zorder=3)
        ax.scatter(part[:, ix], part[:, iy], color="C1", label="partial pooling", zorder=3)
        for a, b in zip(no, part, strict=True):
            ax.annotate("", xy=(b[ix], b[iy]), xytext=(a[ix], a[iy]),
                        arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 0.8})
        cp = est.complete_pooling
        ax.scatter([cp[ix]], [cp[iy]], marker="X", s=110, color="C2", zorder=4,
                   label="complete pooling")
        ax.set_xlabel(coefs[ix])
        ax.set_ylabel(coefs[iy])
    dropped = int((~ok).sum())
    title = f"Pooling: {group}"
    if dropped:
        title += f" ({dropped} groups too small for their own fit not shown)"
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    return fig


def _pair(coefs: list[str], x: str | None, group: str) -> tuple[int, int]:
    """Indices of the coefficients on the horizontal and vertical axes."""
    if x is None:
        iy = next((i for i, c in enumerate(coefs) if c != "(Intercept)"), 1)
    elif x in coefs:
        iy = coefs.index(x)
    else:
        raise PlotError(f"{x!r} is not a random coefficient of {group} "
                        f"({', '.join(coefs)})")
    ix = coefs.index("(Intercept)") if "(Intercept)" in coefs and iy != coefs.index(
        "(Intercept)") else (0 if iy != 0 else 1)
    return ix, iy


def plot_shrinkage(fit: LmerFit) -> Figure:
    """Each group's own least-squares estimate against its mixed-model estimate.

    One panel per grouping factor and coefficient, with the 1:1 line (no shrinkage)
    and the complete-pooling estimate as a horizontal line: points lie between the two,
    closer to the horizontal line the less a group's own data say.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = []
    for group in fit.ngroups:
        est = pooling_estimates(fit, group)
        for j, coef in enumerate(est.coefficients):
            panels.append((group, coef, est.no_pooling[:, j], est.partial_pooling[:, j],
                           est.complete_pooling[j]))
    nrows, ncols = grid_shape(len(panels), max_cols=3)
    fig, axes = new_figure(nrows, ncols, panel=(4.0, 3.6))
    for ax, (group, coef, no, part, complete) in zip(axes.ravel(), panels, strict=False):
        ok = ~np.isnan(no)
        ax.scatter(no[ok], part[ok], s=18, color="C0", zorder=3, edgecolors="none")
        lo = np.nanmin(np.concatenate([no[ok], part[ok]])) if ok.any() else 0.0
        hi = np.nanmax(np.concatenate([no[ok], part[ok]])) if ok.any() else 1.0
        ax.plot([lo, hi], [lo, hi], **REFERENCE, label="1:1 (no shrinkage)")
        ax.axhline(complete, color="C2", linewidth=1.2, label="complete pooling")
        ax.set_xlabel("No pooling (own least squares)")
        ax.set_ylabel("Partial pooling (mixed model)")
        title = f"{group}: {coef}"
        if not ok.all():
            title += f" ({int((~ok).sum())} not estimable)"
        ax.set_title(title, fontsize=10)
    axes.ravel()[0].legend(fontsize=7, loc="upper left")
    hide_unused(axes, len(panels))
    return fig
