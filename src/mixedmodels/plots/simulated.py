"""Plots of simulation-based (DHARMa) residuals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mixedmodels.plots._mpl import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_simulated_residuals"]

QUANTILES = (0.25, 0.5, 0.75)


def plot_simulated_residuals(fit: Any, nsim: int = 250, seed: int | None = 1,
                             re_form: str | None = None) -> Figure:
    """DHARMa's two panels: a QQ plot against U(0, 1) with the tests' p-values, and the
    residuals against the rank-transformed predictions with binned quartile lines.

    Parameters
    ----------
    fit : LmerFit or SimulatedResiduals
        A fit (residuals are simulated with ``nsim``, ``seed`` and ``re_form``) or the
        result of :func:`mixedmodels.diagnostics.simulated_residuals`.
    nsim, seed, re_form
        As in :func:`~mixedmodels.diagnostics.simulated_residuals`.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes.
    """
    from scipy import stats

    from mixedmodels.diagnostics import SimulatedResiduals, simulated_residuals

    sim = fit if isinstance(fit, SimulatedResiduals) else simulated_residuals(
        fit, nsim=nsim, seed=seed, re_form=re_form)
    res = sim.residuals.to_numpy()
    n = len(res)
    fig, axes = new_figure(1, 2, panel=(4.8, 4.2))
    ax = axes[0, 0]
    expected = (np.arange(1, n + 1) - 0.5) / n
    ax.scatter(expected, np.sort(res), s=10, color="C0", alpha=0.7, edgecolors="none")
    ax.plot([0, 1], [0, 1], color="C3", linewidth=1.2)
    uni, disp, out = sim.test_uniformity(), sim.test_dispersion(), sim.test_outliers()
    text = (f"KS test: p = {uni.p_value:.3g}\nDispersion test: p = {disp.p_value:.3g}\n"
            f"Outlier test: p = {out.p_value:.3g}")
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.7"})
    ax.set_xlabel("Expected (uniform quantiles)")
    ax.set_ylabel("Observed (scaled residuals)")
    ax.set_title("QQ plot of simulated residuals")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)

    ax = axes[0, 1]
    rank = (stats.rankdata(sim.predicted, method="average") - 0.5) / n
    outlier = (res <= 0.0) | (res >= 1.0)
    ax.scatter(rank[~outlier], res[~outlier], s=10, color="C0", alpha=0.6, edgecolors="none")
    if outlier.any():
        ax.scatter(rank[outlier], res[outlier], s=22, color="C3", marker="*",
                   label="outside all simulations")
    quant = sim.test_quantiles()
    bins = int(quant.details["bins"])
    order = np.argsort(rank, kind="stable")
    chunks = np.array_split(order, bins)
    centres = np.array([rank[c].mean() for c in chunks])
    for q in QUANTILES:
        ax.axhline(q, color="0.6", linestyle="--", linewidth=0.8)
        values = np.array([np.quantile(res[c], q) for c in chunks])
        ax.plot(centres, values, color="C3" if quant.p_value < 0.05 else "C2",
                linewidth=1.6)
    ax.set_xlabel("Predicted (rank transformed)")
    ax.set_ylabel("Scaled residuals")
    ax.set_title(f"Residuals vs predicted (quantile test p = {quant.p_value:.3g})",
                 fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    if outlier.any():
        ax.legend(fontsize=7, loc="lower right")
    return fig
