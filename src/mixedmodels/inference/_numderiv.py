"""Numerical derivatives by central differences with Richardson extrapolation.

The steps are those of R's numDeriv: ``h = d |x| + eps`` where ``|x|`` is below
``zero_tol`` (``eps`` alone there), halved ``r - 1`` times; the central differences,
whose error is a series in ``h^2``, are then extrapolated to ``h = 0``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# numDeriv's defaults, but a smaller relative step for the Hessian (0.01 instead of 0.1):
# with four levels of extrapolation both are far more accurate than the statistics need.
STEP_RELATIVE = 1e-2
STEP_ABSOLUTE = 1e-4
ZERO_TOL = 1.781029e-5  # sqrt(.Machine$double.eps / 7e-7), numDeriv's
LEVELS = 4


def _steps(x: np.ndarray, d: float, eps: float) -> np.ndarray:
    return d * np.abs(x) + eps * (np.abs(x) < ZERO_TOL)


def _extrapolate(values: list[np.ndarray]) -> np.ndarray:
    """Richardson's table for a series in h^2 with h halved at each level."""
    table = [np.asarray(v, dtype=float) for v in values]
    m = 1
    while len(table) > 1:
        factor = 4.0**m
        table = [(factor * table[k + 1] - table[k]) / (factor - 1.0)
                 for k in range(len(table) - 1)]
        m += 1
    return table[0]


def jacobian(
    func: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    d: float = STEP_RELATIVE,
    eps: float = STEP_ABSOLUTE,
    levels: int = LEVELS,
) -> np.ndarray:
    """Derivatives of an array-valued function.

    Parameters
    ----------
    func : callable
        ``func(x)`` returns an array of any shape ``S``.
    x : ndarray, (k,)
        Where to differentiate.
    d, eps : float
        Relative step, and absolute step for components near zero.
    levels : int
        Number of step halvings extrapolated.

    Returns
    -------
    ndarray, (k, *S)
        ``out[i]`` is the derivative with respect to ``x[i]``.
    """
    x = np.asarray(x, dtype=float)
    h0 = _steps(x, d, eps)
    out = []
    for i in range(len(x)):
        estimates = []
        for level in range(levels):
            h = h0[i] / 2.0**level
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            estimates.append((np.asarray(func(up)) - np.asarray(func(down))) / (2.0 * h))
        out.append(_extrapolate(estimates))
    return np.array(out)


def hessian(
    func: Callable[[np.ndarray], float],
    x: np.ndarray,
    d: float = STEP_RELATIVE,
    eps: float = STEP_ABSOLUTE,
    levels: int = LEVELS,
) -> np.ndarray:
    """Second derivatives of a scalar function.

    Diagonal entries from ``(f(x+h) - 2 f(x) + f(x-h)) / h^2``, off-diagonal ones from
    the four-point central formula, each extrapolated over ``levels`` halvings of h.

    Returns
    -------
    ndarray, (k, k)
        Symmetric.
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    h0 = _steps(x, d, eps)
    f0 = float(func(x))
    H = np.empty((k, k))

    def shifted(steps: dict[int, float]) -> float:
        y = x.copy()
        for i, s in steps.items():
            y[i] += s
        return float(func(y))

    for i in range(k):
        estimates = []
        for level in range(levels):
            h = h0[i] / 2.0**level
            estimates.append((shifted({i: h}) - 2.0 * f0 + shifted({i: -h})) / h**2)
        H[i, i] = float(_extrapolate(estimates))
        for j in range(i):
            estimates = []
            for level in range(levels):
                hi, hj = h0[i] / 2.0**level, h0[j] / 2.0**level
                value = (shifted({i: hi, j: hj}) - shifted({i: hi, j: -hj})
                         - shifted({i: -hi, j: hj}) + shifted({i: -hi, j: -hj}))
                estimates.append(value / (4.0 * hi * hj))
            H[i, j] = H[j, i] = float(_extrapolate(estimates))
    return H
