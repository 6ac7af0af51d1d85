"""Likelihood profiles of a linear mixed model (lme4's ``profile.merMod``).

The profile is taken on the maximum-likelihood deviance (a REML fit is refitted with
ML first, as lme4 does) and on lme4's scale: the standard deviation of each random
effect, the correlations, the residual standard deviation (named ``.sig01``, ``.sig02``,
..., ``.sigma`` in the order of theta) and the fixed effects.

For a parameter fixed at a value x, the other variance parameters are re-optimised
(the fixed effects are profiled out exactly), giving the deviance d(x); the profile
is the signed square root ``zeta(x) = sign(x - x_hat) sqrt(d(x) - d_hat)``. For a fixed
effect beta_j, the column j of X moves into the offset (``y - x_j beta_j``) and theta is
re-optimised for the model without that column.

Points are placed as lme4 places them: a first step of 1% from the estimate, then
steps that move zeta by about ``delta = cutoff / 8`` (cutoff =
``sqrt(qchisq(1 - alphamax, n_par))``), until |zeta| exceeds the cutoff or a bound is
reached. :func:`profile_interval` then finds where zeta crosses ``-/+ qnorm((1 +
level) / 2)`` by root finding between the bracketing points (lme4 interpolates a
spline through them; the root is what the spline approximates).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import nlopt
import numpy as np
import pandas as pd
from scipy import optimize, stats

from mixedmodels.errors import MixedModelsError
from mixedmodels.model import LinearMixedModel
from mixedmodels.optimize import minimize

__all__ = ["Profile", "profile", "profile_interval", "sdcor_names"]

# lme4's defaults.
ALPHAMAX = 0.01
MAXPTS = 100
DELTA_CUTOFF = 1.0 / 8.0
MAXMULT = 10.0
MINSTEP = 1e-6
# Deviance decrease below the optimum tolerated before complaining (lme4's devtol).
DEVTOL = 1e-6


def sdcor_names(fit: Any) -> list[str]:
    """lme4's names of the variance parameters: ``.sig01`` ... then ``.sigma``."""
    return [f".sig{i + 1:02d}" for i in range(len(fit.theta))] + [".sigma"]


def sdcor_values(model: LinearMixedModel, theta: np.ndarray, sigma: float) -> np.ndarray:
    """theta and sigma -> standard deviations and correlations (lme4's ``Cv_to_Sv``),
    followed by sigma. A correlation with a zero standard deviation is 0."""
    out = []
    for lam, (rows, cols) in zip(model.lambdas(theta), model._layout, strict=True):
        S = sigma**2 * lam @ lam.T
        sd = np.sqrt(np.maximum(np.diagonal(S), 0.0))
        for r, c in zip(rows, cols, strict=True):
            if r == c:
                out.append(sd[r])
            else:
                denom = sd[r] * sd[c]
                out.append(S[r, c] / denom if denom > 0 else 0.0)
    return np.array([*out, sigma])


def _psd_cholesky(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero columns where a
    pivot vanishes), so boundary values (sd 0, correlation +/-1) map to a theta."""
    k = S.shape[0]
    L = np.zeros_like(S)
    for j in range(k):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d <= 1e-14 * max(S[j, j], 1e-300):
            continue
        L[j, j] = math.sqrt(d)
        for i in range(j + 1, k):
            L[i, j] = (S[i, j] - L[i, :j] @ L[j, :j]) / L[j, j]
    return L


def sdcor_to_theta(model: LinearMixedModel, values: np.ndarray, sigma: float) -> np.ndarray:
    """Standard deviations and correlations (without sigma) -> theta (``Sv_to_Cv``)."""
    theta = np.empty(model.ntheta)
    for j, (rows, cols) in enumerate(model._layout):
        lo, hi = model.theta_slices[j], model.theta_slices[j + 1]
        v = values[lo:hi]
        k = int(rows.max()) + 1
        sd = np.zeros(k)
        R = np.eye(k)
        for val, r, c in zip(v, rows, cols, strict=True):
            if r == c:
                sd[r] = val
            else:
                R[r, c] = R[c, r] = val
        S = R * np.outer(sd, sd) / sigma**2
        L = _psd_cholesky(S)
        theta[lo:hi] = L[rows, cols]
    return theta


def _bounds(model: LinearMixedModel) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = [], []
    for rows, cols in model._layout:
        for r, c in zip(rows, cols, strict=True):
            lower.append(0.0 if r == c else -1.0)
            upper.append(np.inf if r == c else 1.0)
    return np.array([*lower, 0.0]), np.array([*upper, np.inf])


def _minimize_box(fun: Any, x0: np.ndarray, lower: np.ndarray,
                  upper: np.ndarray) -> tuple[float, np.ndarray]:
    """Minimise over a box with NLopt (BOBYQA; Nelder-Mead in one dimension)."""
    n = len(x0)
    x0 = np.clip(x0, lower, upper)
    if n == 0:
        return float(fun(x0)), x0
    best = {"f": np.inf, "x": x0.copy()}

    def f(x: np.ndarray, grad: np.ndarray) -> float:
        value = float(fun(np.array(x)))
        if not math.isfinite(value):
            value = 1e300
        if value < best["f"]:
            best["f"], best["x"] = value, np.array(x)
        return value

    algo = nlopt.LN_BOBYQA if n > 1 else nlopt.LN_NELDERMEAD
    opt = nlopt.opt(algo, n)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_min_objective(f)
    opt.set_ftol_abs(1e-11)
    opt.set_ftol_rel(1e-14)
    opt.set_xtol_rel(1e-10)
    opt.set_maxeval(20_000)
    width = np.where(np.isfinite(upper - lower), (upper - lower) / 4.0, np.inf)
    step = np.minimum(np.maximum(0.1 * np.abs(x0), 0.02), width)
    step = np.where(step > 0, step, 0.01)
    opt.set_initial_step(step)
    try:
        opt.optimize(x0)
    except (nlopt.RoundoffLimited, ValueError, RuntimeError):
        pass
    return best["f"], best["x"]


class _Profiler:
    """The ML fit and the deviance as a function of the sd/cor parameters."""

    def __init__(self, fit: Any) -> None:
        from mixedmodels.inference.lrt import ml_version

        self.fit = fit
        ml = ml_version(fit)
        self.ml = ml
        self.model: LinearMixedModel = ml.model
        self.base = float(ml.objective)
        self.names = sdcor_names(fit) + list(fit.model.design.xnames)
        self.nvp = len(fit.theta) + 1
        self.p = len(ml.beta)
        self.opt = np.concatenate([sdcor_values(self.model, ml.theta, ml.sigma), ml.beta])
        self.lower, self.upper = _bounds(self.model)
        self.stderr = np.asarray(ml.std_errors, dtype=float)
        self.cutoff = math.sqrt(stats.chi2.ppf(1.0 - ALPHAMAX, self.nvp + self.p))
        self.delta = self.cutoff * DELTA_CUTOFF
        self._fixed_models: dict[int, LinearMixedModel] = {}

    # -------------------------------------------------------------- variance parameters
    def deviance(self, values: np.ndarray) -> float:
        sigma = values[-1]
        if not sigma > 0:
            return math.inf
        theta = sdcor_to_theta(self.model, values[:-1], sigma)
        # Only r^2 and log det are needed: update the factor and read them (the full
        # Evaluation also inverts the fixed-effects block, which costs more).
        model = self.model
        chol = model._chol
        if not chol.update(model.lambdas(theta)):
            return math.inf
        s2 = sigma**2
        return (chol.logdet_random() - model.log_weights + model.n * math.log(2.0 * math.pi * s2)
                + chol.pwrss() / s2)

    def _variance_point(self, w: int, x: float, start: np.ndarray) -> np.ndarray:
        others = np.delete(np.arange(self.nvp), w)

        def dev(sub: np.ndarray) -> float:
            values = np.empty(self.nvp)
            values[w] = x
            values[others] = sub
            return self.deviance(values)

        fval, sub = _minimize_box(dev, start[others], self.lower[others], self.upper[others])
        values = np.empty(self.nvp)
        values[w] = x
        values[others] = sub
        theta = sdcor_to_theta(self.model, values[:-1], values[-1])
        beta = self.model.evaluate(theta).beta
        return self._row(w, x, fval, np.concatenate([values, beta]))

    def _row(self, w: int, x: float, fval: float, params: np.ndarray) -> np.ndarray:
        diff = fval - self.base
        if diff < -DEVTOL:
            raise MixedModelsError(
                f"profiling found a lower deviance than the fit ({fval:.6f} < "
                f"{self.base:.6f}): the fit has not converged"
            )
        zeta = math.copysign(math.sqrt(max(diff, 0.0)), x - self.opt[w])
        if x == self.opt[w]:
            zeta = 0.0
        return np.concatenate([[zeta], params])

    # -------------------------------------------------------------- fixed effects
    def _fixed_model(self, j: int, value: float) -> LinearMixedModel:
        design = self.model.design
        y = design.y - value * design.X[:, j]
        if j not in self._fixed_models:
            reduced = dataclasses.replace(
                design, X=np.ascontiguousarray(np.delete(design.X, j, axis=1)),
                xnames=tuple(n for i, n in enumerate(design.xnames) if i != j), y=y,
            )
            model = LinearMixedModel(reduced, reml=False, data=self.model.data,
                                     _z_blocks=self.model.A)
            self._fixed_models[j] = model
            return model
        return self._fixed_models[j].with_response(y)

    def _fixed_point(self, j: int, x: float) -> np.ndarray:
        model = self._fixed_model(j, x)
        opt = minimize(model.objective, self.ml.theta, model.lower, check=False,
                       scale=model.theta_scale())
        ev = model.evaluate(opt.final)
        sigma = math.sqrt(ev.pwrss / model.n)
        beta = np.insert(ev.beta, j, x)
        params = np.concatenate([sdcor_values(model, opt.final, sigma), beta])
        return self._row(self.nvp + j, x, float(opt.fmin), params)

    # -------------------------------------------------------------- the walk
    def point(self, w: int, x: float, start: np.ndarray | None = None) -> np.ndarray:
        """The profile row (zeta, all parameters) at parameter ``w`` = ``x``."""
        if w < self.nvp:
            return self._variance_point(w, x, self.opt[: self.nvp] if start is None
                                        else start[: self.nvp])
        return self._fixed_point(w - self.nvp, x)

    def _fill(self, w: int, rows: list[np.ndarray], lowcut: float,
              upcut: float) -> list[np.ndarray]:
        col = 1 + w
        while len(rows) < MAXPTS:
            last = rows[-1]
            x_last = last[col]
            if not (lowcut < x_last < upcut) or not abs(last[0]) <= self.cutoff:
                break
            num = last[col] - rows[-2][col]
            denom = last[0] - rows[-2][0]
            if not np.isfinite(denom) or denom == 0:
                step = MINSTEP
            else:
                step = self.delta * num / denom
                if step < 0:
                    step = MINSTEP
                elif abs(step) > MAXMULT * abs(num):
                    step = MAXMULT * abs(num)
            x_new = min(upcut, max(lowcut, x_last + math.copysign(step, num)))
            rows.append(self.point(w, x_new, last[1:]))
        return rows

    def walk(self, w: int) -> np.ndarray:
        """lme4's points for parameter ``w``, sorted by the parameter's value."""
        pw = self.opt[w]
        if w < self.nvp:
            lowcut, upcut = self.lower[w], self.upper[w]
            shift = 0.001 if pw == 0 else pw * 1.01
        else:
            lowcut, upcut = -np.inf, np.inf
            shift = pw + self.delta * self.stderr[w - self.nvp]
        center = np.concatenate([[0.0], self.opt])
        first = self.point(w, shift)
        upper = self._fill(w, [center, first], lowcut, upcut)
        lower = self._fill(w, [first, center], lowcut, upcut) if pw > lowcut else []
        rows = np.array(upper + lower)
        rows = rows[np.argsort(rows[:, 1 + w], kind="stable")]
        _, keep = np.unique(rows[:, 1 + w], return_index=True)
        return rows[np.sort(keep)]


@dataclasses.dataclass(frozen=True)
class Profile:
    """A likelihood profile (lme4's ``thpr``).

    Attributes
    ----------
    frame : DataFrame
        One row per point: ``parameter`` (the profiled parameter, R's ``.par``),
        ``zeta``, ``value`` (the profiled parameter's value, R's ``.focal``), then every
        parameter (``.sig01`` ... ``.sigma``, fixed effects) at that point.
    lower, upper : Series
        Bounds of each profiled parameter.
    """

    frame: pd.DataFrame
    lower: pd.Series
    upper: pd.Series
    estimates: pd.Series
    _profiler: Any = dataclasses.field(repr=False, compare=False)

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Profile confidence interval of one parameter (see :func:`profile_interval`)."""
        return profile_interval(self, name, level)


def profile(fit: Any, which: list[str] | None = None) -> Profile:
    """Profile the likelihood of a fit, as lme4's ``profile(m)``.

    Parameters
    ----------
    fit : LmerFit
    which : list of str, optional
        Parameters to profile (``".sig01"``, ``".sigma"``, ``"Days"``...); all by default.

    Returns
    -------
    Profile
        ``.frame`` is ``as.data.frame(profile(m))`` with columns renamed: ``parameter``
        (``.par``), ``zeta`` (``.zeta``), ``value`` (``.focal``), then the parameters.
    """
    prof = _Profiler(fit)
    names = prof.names
    wanted = names if which is None else list(which)
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise MixedModelsError(
            f"unknown parameter(s) {unknown}; the parameters are {names}"
        )
    blocks = []
    for name in wanted:
        w = names.index(name)
        rows = prof.walk(w)
        block = pd.DataFrame(rows[:, 1:], columns=names)
        block.insert(0, "value", rows[:, 1 + w])
        block.insert(0, "zeta", rows[:, 0])
        block.insert(0, "parameter", name)
        blocks.append(block)
    frame = pd.concat(blocks, ignore_index=True)
    lower = np.concatenate([prof.lower, np.full(prof.p, -np.inf)])
    upper = np.concatenate([prof.upper, np.full(prof.p, np.inf)])
    return Profile(frame, pd.Series(lower, index=names), pd.Series(upper, index=names),
                   pd.Series(prof.opt, index=names), prof)


def profile_interval(prof: Profile, name: str, level: float = 0.95) -> tuple[float, float]:
    """Where the profile of ``name`` crosses ``-/+ qnorm((1 + level) / 2)``.

    The crossing is bracketed by the profile's points and found by root finding on
    zeta (each evaluation re-optimises the other parameters). Where the profile does
    not reach the level before a bound (an sd that may be 0, a correlation that may
    be +/-1), the bound is the limit, as in lme4.
    """
    if not 0 < level < 1:
        raise MixedModelsError(f"level must be between 0 and 1, not {level}")
    z = stats.norm.ppf((1.0 + level) / 2.0)
    block = prof.frame[prof.frame["parameter"] == name]
    if block.empty:
        raise MixedModelsError(f"{name!r} was not profiled")
    x = block["value"].to_numpy()
    zeta = block["zeta"].to_numpy()
    profiler = prof._profiler
    w = profiler.names.index(name)
    out = []
    for target, bound in ((-z, prof.lower[name]), (z, prof.upper[name])):
        out.append(_crossing(profiler, w, x, zeta, target, bound))
    return out[0], out[1]


def _crossing(profiler: _Profiler, w: int, x: np.ndarray, zeta: np.ndarray,
              target: float, bound: float) -> float:
    above = zeta - target
    idx = np.flatnonzero(np.sign(above[:-1]) * np.sign(above[1:]) <= 0)
    if len(idx) == 0:
        return float(bound) if np.isfinite(bound) else math.nan
    i = idx[0] if target > 0 else idx[-1]
    a, b = x[i], x[i + 1]
    if above[i] == 0:
        return float(a)
    if above[i + 1] == 0:
        return float(b)

    def f(v: float) -> float:
        return profiler.point(w, v)[0] - target

    return float(optimize.brentq(f, a, b, xtol=1e-10 * max(1.0, abs(a)), rtol=1e-12))
