"""A small LOWESS smoother (Cleveland 1979): local linear fits with tricube weights
and bisquare robustness iterations, as R's ``lowess``.

For many points the smooth is computed at up to ``max_points`` evaluation points spread
over the range of x and interpolated, so that the cost stays linear in n per point.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lowess"]


def _local_fit(x: np.ndarray, y: np.ndarray, w_robust: np.ndarray, x0: np.ndarray,
               k: int) -> np.ndarray:
    """Weighted local-linear fits at each of ``x0`` using the ``k`` nearest x values."""
    out = np.empty(len(x0))
    for i, point in enumerate(x0):
        dist = np.abs(x - point)
        h = np.partition(dist, k - 1)[k - 1]
        if h <= 0:
            h = dist[dist > 0].min() if np.any(dist > 0) else 1.0
        u = np.clip(dist / (h * 1.0000001), 0.0, 1.0)
        w = (1.0 - u**3) ** 3 * w_robust
        sw = w.sum()
        if sw <= 0:
            out[i] = np.nan
            continue
        xm = (w @ x) / sw
        ym = (w @ y) / sw
        sxx = w @ (x - xm) ** 2
        slope = (w @ ((x - xm) * (y - ym))) / sxx if sxx > 1e-12 * max(1.0, xm**2) else 0.0
        out[i] = ym + slope * (point - xm)
    return out


def lowess(x: np.ndarray, y: np.ndarray, frac: float = 2.0 / 3.0, iterations: int = 3,
           max_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Locally weighted scatterplot smoothing.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        The points; non-finite pairs are ignored.
    frac : float
        Share of the points in each local fit (R's ``f``).
    iterations : int
        Robustness iterations (R's ``iter``).
    max_points : int
        Largest number of distinct x values at which local fits are computed; the smooth
        is linearly interpolated between them.

    Returns
    -------
    xs, ys : ndarray
        The smooth at sorted evaluation points (distinct x values, or a grid of
        ``max_points`` values when there are more).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    if n < 3:
        order = np.argsort(x)
        return x[order], y[order]
    k = min(n, max(2, int(frac * n + 1e-7)))
    grid = np.unique(x)
    if len(grid) > max_points:
        grid = np.linspace(x.min(), x.max(), max_points)
    w_robust = np.ones(n)
    fit = _local_fit(x, y, w_robust, grid, k)
    for _ in range(iterations):
        resid = y - np.interp(x, grid, fit)
        scale = np.median(np.abs(resid))
        if scale <= 0:
            break
        u = np.clip(resid / (6.0 * scale), -1.0, 1.0)
        w_robust = (1.0 - u**2) ** 2
        fit = _local_fit(x, y, w_robust, grid, k)
    return grid, fit
