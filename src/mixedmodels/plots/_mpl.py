"""matplotlib, imported only when a plot is drawn, and the figure/axes plumbing.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through pyplot,
so drawing never opens a window or touches pyplot's global state; the caller saves the
figure (``fig.savefig``) or lets a notebook show it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mixedmodels.errors import MixedModelsError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PlotError", "get_axes", "new_figure", "require_matplotlib"]

INSTALL_HINT = "plotting needs matplotlib: pip install mixedmodels[plots]"


class PlotError(MixedModelsError, ValueError):
    """A plot that cannot be drawn for this fit or these arguments."""


def require_matplotlib() -> Any:
    """Import matplotlib or raise a :class:`MixedModelsError` saying how to install it."""
    try:
        import matplotlib
        import matplotlib.figure  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised with matplotlib absent
        raise MixedModelsError(INSTALL_HINT) from exc
    return matplotlib


def new_figure(nrows: int = 1, ncols: int = 1, *, panel: tuple[float, float] = (4.5, 3.6),
               sharex: bool = False, sharey: bool = False,
               squeeze: bool = False) -> tuple[Figure, Any]:
    """A constrained-layout figure with a grid of axes (a 2-d array unless ``squeeze``)."""
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=squeeze)
    return fig, axes


def get_axes(ax: Axes | None, panel: tuple[float, float] = (5.0, 4.0)) -> tuple[Figure, Axes]:
    """The figure and axes to draw a single panel on: ``ax`` itself, or a new figure."""
    if ax is not None:
        require_matplotlib()
        return ax.get_figure(root=True) if _has_root(ax) else ax.figure, ax
    fig, axes = new_figure(1, 1, panel=panel)
    return fig, axes[0, 0]


def _has_root(ax: Axes) -> bool:
    try:
        ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10
        return False
    return True


def grid_shape(count: int, max_cols: int = 4) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding ``count`` panels."""
    ncols = min(max_cols, max(1, count))
    nrows = -(-count // ncols)
    return nrows, ncols


def hide_unused(axes: Any, used: int) -> None:
    """Remove the axes of a grid beyond the first ``used`` ones."""
    flat = axes.ravel()
    for ax in flat[used:]:
        ax.remove()
