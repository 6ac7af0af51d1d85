"""Diagnostic and effect plots of fitted models (matplotlib, imported only when drawing).

Every function takes a fit and returns a :class:`matplotlib.figure.Figure`; the ones that
draw a single panel take ``ax=`` to draw on existing axes. Importing this package does
not import matplotlib; drawing without it raises a :class:`~mixedmodels.MixedModelsError`
that says ``pip install mixedmodels[plots]``.
"""

from mixedmodels.plots._mpl import PlotError
from mixedmodels.plots.effects import effect_frame, plot_effects
from mixedmodels.plots.pooling import (
    PoolingEstimates,
    plot_fitted_lines,
    plot_pooling,
    plot_shrinkage,
    pooling_estimates,
)
from mixedmodels.plots.ranef import plot_caterpillar, plot_ranef_qq, plot_ranef_vs_predictor
from mixedmodels.plots.residuals import (
    plot_diagnostics,
    plot_qq,
    plot_residuals,
    plot_residuals_by_group,
    plot_scale_location,
)
from mixedmodels.plots.simulated import plot_simulated_residuals

__all__ = [
    "PlotError",
    "PoolingEstimates",
    "effect_frame",
    "plot_caterpillar",
    "plot_diagnostics",
    "plot_effects",
    "plot_fitted_lines",
    "plot_pooling",
    "plot_qq",
    "plot_ranef_qq",
    "plot_ranef_vs_predictor",
    "plot_residuals",
    "plot_residuals_by_group",
    "plot_scale_location",
    "plot_shrinkage",
    "plot_simulated_residuals",
    "pooling_estimates",
]
