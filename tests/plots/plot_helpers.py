"""Reading a matplotlib figure's content back for the tests."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection, PolyCollection


def scatter_points(ax) -> list[np.ndarray]:
    """Offsets of each scatter on the axes."""
    return [np.asarray(c.get_offsets()) for c in ax.collections
            if isinstance(c, PathCollection)]


def n_points(ax) -> int:
    return sum(len(p) for p in scatter_points(ax))


def bands(ax) -> list[PolyCollection]:
    return [c for c in ax.collections if type(c).__name__ in ("PolyCollection",
                                                               "FillBetweenPolyCollection")]


def long_lines(ax, min_points: int = 3) -> list:
    """Lines with at least ``min_points`` vertices (smooths, fitted lines)."""
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) >= min_points]
