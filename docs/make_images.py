"""Regenerate the plot images shown in the README (docs/images/*.png).

Run from the repository root::

    python docs/make_images.py

Every plot of :mod:`mixedmodels.plots` is drawn for lme4's sleep-study slope model
``Reaction ~ Days + (Days | Subject)``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import mixedmodels as mm  # noqa: E402
from mixedmodels import plots  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"


def main() -> None:
    """Draw each plot and write it as docs/images/<name>.png."""
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    figures = {
        "diagnostics": plots.plot_diagnostics(fit),
        "residuals": plots.plot_residuals(fit),
        "residuals_marginal": plots.plot_residuals(fit, kind="marginal"),
        "qq": plots.plot_qq(fit),
        "scale_location": plots.plot_scale_location(fit),
        "ranef_qq": plots.plot_ranef_qq(fit),
        "caterpillar": plots.plot_caterpillar(fit),
        "residuals_by_group": plots.plot_residuals_by_group(fit, "Subject", x="Days"),
        "ranef_vs_predictor": plots.plot_ranef_vs_predictor(fit, "Days"),
        "fitted_lines": plots.plot_fitted_lines(fit, "Days", "Subject"),
        "pooling": plots.plot_pooling(fit),
        "shrinkage": plots.plot_shrinkage(fit),
        "effects": plots.plot_effects(fit, "Days"),
        "simulated_residuals": plots.plot_simulated_residuals(fit, seed=1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        fig.savefig(OUT / f"{name}.png", dpi=80)
        print(OUT / f"{name}.png")


if __name__ == "__main__":
    main()
