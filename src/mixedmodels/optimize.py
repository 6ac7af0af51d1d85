"""Minimising the profiled objective over theta, and checking the optimum.

The optimiser is NLopt's BOBYQA, as in lme4 (``nloptwrap``) and MixedModels.jl, with
lme4's start (1 on the diagonal of each template, 0 elsewhere) and bounds (0 below on
the diagonal). Tolerances are tighter than lme4's so the optimum is at least as good.

The convergence check differs from lme4's. lme4 compares a finite-difference gradient
with a fixed tolerance; the gradient grows with the number of observations, so large
well-fitted models raise false alarms. Here the question asked is the one that
matters: how much could the objective still be lowered? With gradient g and Hessian H
of the free (interior) parameters, a Newton step lowers it by about ``g' H^{-1} g / 2``,
a number on the deviance scale whatever n is. Parameters on the boundary (singular
fits) are checked only for a descent direction into the feasible region.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import nlopt
import numpy as np
from scipy.linalg.lapack import dsyevd
from scipy.optimize import Bounds
from scipy.optimize import minimize as scipy_minimize

from mixedmodels.errors import MixedModelsError

Objective = Callable[[np.ndarray], float]
ObjectiveGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]
ObjectiveDerivatives = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]
Canonical = Callable[[np.ndarray], np.ndarray]
Rotate = Callable[[np.ndarray, int], "np.ndarray | None"]

# Deviance units: a possible further decrease below this is numerically irrelevant.
DECREASE_TOL = 1e-4
# Most BOBYQA restarts from the optimum when the check finds that the objective could
# still be lowered; a restart follows another only when that one lowered the objective
# by more than DECREASE_TOL. A check that moves a template column off its bound (the
# mirrored probe) hands BOBYQA a new start each time: on a random three-term design
# (the oracle test's) the first restart ended 0.0083 above a point the check then
# found, and the second reached the optimum, 0.26 lower still (where lme4 ends too).
MAX_RESTARTS = 3
# Distance from a lower bound under which a parameter counts as on the boundary.
BOUNDARY_TOL = 1e-4
# Step off a bound that probes for descent: a template diagonal at 0 enters the
# objective through its square, so a step of the size of the finite differences
# (1e-5) sees a slope of ~0 even when the optimum lies well inside (measured on
# penicillin's (1|plate) model at theta = 0: -1.6e-9 at 1e-5, -1.6e-3 at 1e-2).
BOUNDARY_PROBE = 1e-2
# Most parameters for which the full finite-difference Hessian is computed (from
# objective values; from an analytic gradient, up to MAX_HESSIAN_PARAMS_GRADIENT).
MAX_HESSIAN_PARAMS = 15
MAX_HESSIAN_PARAMS_GRADIENT = 60
# With an analytic gradient, L-BFGS-B replaces BOBYQA from this many parameters on.
GRADIENT_MIN_PARAMS = 4
# From a close start (close_start) with an analytic gradient and up to this many
# parameters, Newton iterations on a BFGS-updated finite-difference Hessian
# (_secant_newton) replace L-BFGS-B and BOBYQA: the Hessian costs one gradient per
# parameter. From lme4's start L-BFGS-B stays (on random designs the first full
# Newton steps sent parameters to their bounds).
SECANT_MAX_PARAMS = 10
# The Newton iterations stop once the decrement is below this (or the rounding noise)
# and the step below POLISH_SMALL_STEP.
SECANT_DECREMENT_TOL = 1e-6
# The Hessian is computed afresh where a step shrinks the Newton decrement by less
# than this factor (superlinear convergence shrinks it by far more: InstEval 3.2 ->
# 4e-3 -> 8e-6; from a start too far for the Hessian, 8.8 -> 0.98 -> 0.19).
SECANT_REFRESH = 0.1
# L-BFGS-B stops once an iteration lowers the objective by at most this, relative; the
# check's Hessian and the polish's Newton steps then finish (on d3 L-BFGS-B creeps at
# 1e-3 to 1e-2 an iteration before that). Evaluations from the moment start with
# 1e-11 / 1e-10 / 1e-9 / 1e-8: d3 32 / 32 / 29 / 23, kb07 57 / 54 / 50 / 67, InstEval
# 11 throughout; the same optima to 3e-15 relative.
LBFGSB_FTOL = 1e-9
# Length of L-BFGS-B's first step (steepest descent), in the parameters' units. SciPy's
# is 1: from the start (1 on template diagonals) it can land on a bound; on the badly
# scaled one-term model alarm_3 of the reference fits (which keeps BOBYQA: 3
# parameters, one term), L-BFGS-B forced on it stayed in a local optimum there 660
# above the optimum, while with 0.25 the check rescued it. Evaluations with 1 / 0.25:
# kb07 63 / 70, d3 72 / 51, InstEval (ML) 29 / 27.
LBFGSB_FIRST_STEP = 0.25
# From a start close to the optimum (a moment estimate), BOBYQA's initial trust region
# and L-BFGS-B's first step are this fraction of the usual ones. Evaluations on
# InstEval's three terms (L-BFGS-B) and insteval_dept's two (BOBYQA), from the moment
# start, with fractions 1 / 0.5 / 0.2 / 0.1: 14 / 12 / 11 / 11 and 37 / 25 / 22 / 24
# (from lme4's start: 25 and 47).
CLOSE_START_STEP = 0.2
# Most Newton iterations (exact Hessian) before BOBYQA takes over.
NEWTON_MAX_ITER = 50
# Newton stops once the predicted decrease is below this (or the rounding noise): the
# check's polish then takes the last step with the same Hessian, which needs only a
# gradient (from 1e-6 the next decrease is about 1e-12; observed ratios dec' / dec^2
# 0.15-0.6 on the bundled small models).
NEWTON_DECREMENT_TOL = 1e-6
# Relative rounding noise of an objective evaluation (observed up to 6e-13 on
# penicillin's crossed design).
NOISE_REL = 1e-11
# The check follows a valley (see _descends_along) only along curvatures below minus
# this fraction of the Hessian's largest eigenvalue: the curved valley that needed it
# had -0.29 against 200 (1.4e-3); kb07's nearly flat valleys have -0.043 and -0.020
# against 3166 (1.3e-5, 6e-6), where following cost 12 more evaluations and found
# nothing.
VALLEY_MIN_REL = 1e-4
# The polish takes no Newton step that moves no parameter (in its natural unit) by
# more than this: lme4's own xtol_abs. Its last steps measured 2e-10 to 2e-9
# (sleepstudy, pastes, kb07; predicted decreases 1e-20 to 1e-15), each one more
# gradient for a change in the tenth digit of theta.
POLISH_XTOL = 1e-8
# Nor a step below POLISH_SMALL_STEP whose predicted decrease is below this fraction of
# the objective (about 50 units in its last place: no evaluation can show it). Such
# steps measured 1.4e-8 to 4e-8 with decreases of 1e-16 to 4e-12 (sleepstudy,
# penicillin, InstEval at f = 2.4e5). Larger steps are taken whatever their decrease:
# in the nearly flat valleys BOBYQA stops in, theta can be off in its fifth digit.
POLISH_MIN_DECREASE_REL = 1e-14
POLISH_SMALL_STEP = 1e-6


@dataclass(frozen=True)
class ConvergenceCheck:
    """Derivatives at the optimum and the verdict drawn from them.

    Attributes
    ----------
    gradient : ndarray
        Finite-difference gradient (central for interior parameters, forward on the
        boundary).
    hessian : ndarray or None
        Finite-difference Hessian of the interior parameters (None if not computed).
    interior : ndarray of bool
        Which parameters are away from their bounds.
    decrease : float
        Predicted decrease of the objective from a Newton step (deviance units).
    messages : tuple of str
        Problems found; empty when the optimum passed every check.
    """

    gradient: np.ndarray
    hessian: np.ndarray | None
    interior: np.ndarray
    decrease: float
    messages: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.messages


@dataclass(frozen=True)
class OptSummary:
    """What the optimiser did.

    Attributes
    ----------
    optimizer : str
        ``"LN_BOBYQA"`` (NLopt), ``"L-BFGS-B"`` (SciPy, with analytic gradients) or
        ``"Newton"`` (with the exact Hessian, small models), ``" + LN_BOBYQA"``
        appended when a restart or fallback was needed.
    initial, final : ndarray
        Starting and final theta.
    fmin : float
        Objective at ``final``.
    feval : int
        Number of objective evaluations (the convergence check included; an
        evaluation with the gradient counts once here and once in ``ngrad``).
    return_code : str
        NLopt's result, e.g. ``"FTOL_REACHED"``.
    lower : ndarray
        Lower bounds of theta.
    ftol_rel, ftol_abs, xtol_abs : float
        Stopping tolerances.
    fitlog : ndarray
        Objective value of every evaluation during optimisation, in order.
    check : ConvergenceCheck or None
        The convergence check at the optimum.
    ngrad : int
        Number of analytic gradient evaluations (with the Hessian, for Newton).
    """

    optimizer: str
    initial: np.ndarray
    final: np.ndarray
    fmin: float
    feval: int
    return_code: str
    lower: np.ndarray
    ftol_rel: float
    ftol_abs: float
    xtol_abs: float
    fitlog: np.ndarray = field(repr=False)
    check: ConvergenceCheck | None = None
    ngrad: int = 0


_RESULT_NAMES = {
    nlopt.SUCCESS: "SUCCESS",
    nlopt.STOPVAL_REACHED: "STOPVAL_REACHED",
    nlopt.FTOL_REACHED: "FTOL_REACHED",
    nlopt.XTOL_REACHED: "XTOL_REACHED",
    nlopt.MAXEVAL_REACHED: "MAXEVAL_REACHED",
    nlopt.MAXTIME_REACHED: "MAXTIME_REACHED",
}


class _Recorder:
    """Wraps the objective: counts, logs, and remembers the best point seen."""

    def __init__(self, fun: Objective, gradient: ObjectiveGradient | None = None,
                 derivatives: ObjectiveDerivatives | None = None) -> None:
        self.fun = fun
        self.gradient = gradient
        self.derivatives = derivatives
        self.values: list[float] = []
        self.ngrad = 0
        self.best_x: np.ndarray | None = None
        self.best_f = np.inf
        # the last point with a gradient: (x, f, g)
        self.last_gradient: tuple[np.ndarray, float, np.ndarray] | None = None

    def _record(self, x: np.ndarray, f: float) -> None:
        self.values.append(f)
        if f < self.best_f:
            self.best_f = f
            self.best_x = np.array(x, dtype=float)

    def __call__(self, x: np.ndarray, grad: np.ndarray | None = None) -> float:
        f = float(self.fun(np.array(x, dtype=float)))
        self._record(x, f)
        return f

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective and its gradient (``inf`` and zeros where undefined)."""
        assert self.gradient is not None
        x = np.array(x, dtype=float)
        f, g = self.gradient(x)
        f = float(f)
        self.ngrad += 1
        self._record(x, f)
        if not (math.isfinite(f) and np.isfinite(g).all()):
            return np.inf, np.zeros(len(x))
        g = np.asarray(g, dtype=float)
        self.last_gradient = (x, f, g)
        return f, g

    def known_at(self, x: np.ndarray) -> dict[str, Any]:
        """``f0`` and ``g0`` for :func:`check_optimum` when the last gradient was
        taken at ``x`` (L-BFGS-B's last point is usually its best), else nothing."""
        last = self.last_gradient
        if last is None or not _same(last[0], x):
            return {}
        return {"f0": last[1], "g0": last[2].copy()}

    def value_gradient_hessian(self, x: np.ndarray,
                               record: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
        """The objective, its gradient and its Hessian (counted as a gradient).

        ``record=False``: the objective at ``x`` has just been evaluated and recorded
        (the objective functions of small models keep their factor for the
        derivatives at the same point), so it is not counted again.
        """
        assert self.derivatives is not None
        f, g, h = self.derivatives(np.array(x, dtype=float))
        f = float(f)
        self.ngrad += 1
        if record:
            self._record(x, f)
        return f, np.asarray(g, dtype=float), np.asarray(h, dtype=float)


def _bobyqa(
    rec: _Recorder, x0: np.ndarray, lower: np.ndarray, step: np.ndarray,
    ftol_rel: float, ftol_abs: float, xtol_abs: float, maxeval: int,
) -> str:
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lower)
    opt.set_min_objective(rec)
    opt.set_ftol_rel(ftol_rel)
    opt.set_ftol_abs(ftol_abs)
    opt.set_xtol_abs(xtol_abs)
    opt.set_maxeval(maxeval)
    opt.set_initial_step(step)
    try:
        opt.optimize(np.maximum(x0, lower))
        return _RESULT_NAMES.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
    except nlopt.RoundoffLimited:
        return "ROUNDOFF_LIMITED"


def _bobyqa_step(x0: np.ndarray, lower: np.ndarray, fraction: float = 1.0) -> np.ndarray:
    """BOBYQA's initial trust-region radius per parameter; 0.75 on a diagonal starting
    at 1 stays inside the bound."""
    return fraction * np.where(np.isfinite(lower), 0.75, 1.0) * np.maximum(np.abs(x0), 0.5)


def _lbfgsb(rec: _Recorder, x0: np.ndarray, lower: np.ndarray, maxeval: int,
            fraction: float = 1.0) -> str:
    """Bounded quasi-Newton with the analytic gradient (SciPy's L-BFGS-B).

    L-BFGS-B's first step has unit length; it runs on ``x / c`` with
    ``c = fraction * LBFGSB_FIRST_STEP`` so that the first step is that long in x (its
    later steps adapt to the curvature).
    """
    c = fraction * LBFGSB_FIRST_STEP

    def scaled(phi: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = rec.value_and_gradient(phi * c)
        return f, g * c

    bounds = Bounds(lower / c, np.full(len(lower), np.inf))
    result = scipy_minimize(
        scaled, np.maximum(x0, lower) / c, jac=True, method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": LBFGSB_FTOL, "gtol": 1e-9, "maxcor": 20, "maxfun": maxeval,
                 "maxiter": maxeval},
    )
    return "L-BFGS-B: " + str(result.message)


@dataclass
class _Point:
    """Derivatives at one point, kept for the convergence check."""

    x: np.ndarray
    f: float
    g: np.ndarray
    h: np.ndarray


def _newton(rec: _Recorder, x0: np.ndarray, lower: np.ndarray,
            last: list[_Point], canonical: Canonical | None = None) -> str:
    """Projected Newton iterations with the exact Hessian and a backtracking line search.

    Parameters at their bound with a gradient pushing outwards are held there; the
    Hessian of the others is made positive definite by taking absolute eigenvalues.
    Stops once the predicted decrease is below ``NEWTON_DECREMENT_TOL`` or the
    objective's rounding noise (the check's Newton polish then takes the last step
    with the Hessian of the last iterate and settles the last digits); returns a code
    starting with
    ``NEWTON_FAILED`` when it cannot go on (then BOBYQA takes over). The derivatives
    at the last iterate are appended to ``last``.

    A trial point costs one objective value; the derivatives are computed only at
    the point the line search accepts, right after its objective (``rec.fun`` and
    ``rec.derivatives`` may share the work at the same point).

    With ``canonical`` (the objective is the same at ``canonical(x)`` for points x
    below their bounds: a template column and minus it give the same covariance),
    a full step that crosses a bound and is rejected at the bound is tried once at
    the equivalent point before the step is shortened. Near zero the objective
    rises steeply in such a parameter, and the quadratic model overshoots the bound
    (sleepstudy's slope from lme4's start): the mirrored point is often close to the
    optimum where the shortened steps are not. The point at the bound comes first so
    that singular fits reach the bound exactly (mirrored first, a slope variance whose
    optimum is 0 ended at a template of 5e-7).
    """
    x = np.maximum(x0, lower)
    f, g, h = rec.value_gradient_hessian(x)
    for _ in range(NEWTON_MAX_ITER):
        if not (math.isfinite(f) and np.isfinite(h).all()):
            return "NEWTON_FAILED: not finite"
        last[:] = [_Point(x, f, g, h)]
        try:
            d, free, raw = _projected_step(x, g, h, lower)
        except np.linalg.LinAlgError:
            return "NEWTON_FAILED: Hessian"
        if -float(g @ d) / 2.0 <= max(_noise(f), NEWTON_DECREMENT_TOL):
            # a minimum only with positive curvature: also at the bound, where the
            # gradient of a scalar term's theta vanishes (f depends on theta^2 there)
            held = ~free | (x <= lower)
            if (h.diagonal()[held] <= 0).any() or raw.min(initial=1.0) <= 0:
                return "NEWTON_FAILED: not a minimum"
            return "NEWTON_DECREMENT_TOL_REACHED"
        step = 1.0
        full = x + d
        y = np.maximum(full, lower)
        fy = rec(y)
        accepted = fy <= f + 1e-4 * float(g @ (y - x))
        if not accepted and canonical is not None and bool((full < lower).any()):
            mirrored = canonical(full)
            fm = rec(mirrored)
            if fm <= f + 1e-4 * float(g @ d):  # the objective there is f(x + d)
                y, fy, accepted = mirrored, fm, True
        while not accepted:
            step *= 0.5
            if step < 1e-10:
                return "NEWTON_FAILED: no descent"
            y = np.maximum(x + step * d, lower)
            fy = rec(y)
            accepted = fy <= f + 1e-4 * float(g @ (y - x))
        fy, gy, hy = rec.value_gradient_hessian(y, record=False)
        x, f, g, h = y, fy, gy, hy
    return "NEWTON_FAILED: iterations"


def _projected_step(x: np.ndarray, g: np.ndarray, h: np.ndarray,
                    lower: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The projected Newton step, the free parameters and their Hessian's eigenvalues.

    Parameters at their bound with a gradient pushing outwards are held there; the
    Hessian of the others is made positive definite by taking absolute eigenvalues
    (at least 1e-10 of the largest). Raises ``LinAlgError`` where the
    eigendecomposition fails.
    """
    free = ~((x <= lower) & (g > 0))
    every = bool(free.all())
    raw, vec = _eigh(h if every else h[np.ix_(free, free)])
    eig = np.abs(raw)
    eig = np.maximum(eig, 1e-10 * max(1.0, float(eig.max(initial=0.0))))
    if every:
        return -(vec @ ((vec.T @ g) / eig)), free, raw
    d = np.zeros_like(x)
    d[free] = -(vec @ ((vec.T @ g[free]) / eig))
    return d, free, raw


def _secant_newton(rec: _Recorder, x0: np.ndarray, lower: np.ndarray, maxeval: int,
                   last: list[_Point],
                   canonical: Canonical | None = None) -> tuple[str, bool]:
    """Projected Newton iterations on a finite-difference Hessian, updated by BFGS:
    for models with an analytic gradient and few parameters.

    The Hessian costs one gradient per parameter (forward differences of the analytic
    gradient); from a moment start, close to the optimum, the full Newton steps then
    converge in a few iterations where L-BFGS-B, which learns the curvature from its
    steps, needs several times as many (InstEval 11 evaluations, d3 29). Each trial
    point of the line search costs a gradient. After each step the Hessian is
    updated by BFGS (skipped where the step's curvature is not positive), or computed
    afresh where the Newton decrement fell by less than ``SECANT_REFRESH``: the start
    was too far for its Hessian to hold along the way (superlinear convergence shrinks
    the decrement by far more).

    Stops where the decrement is below ``SECANT_DECREMENT_TOL`` or the rounding noise
    and the step below ``POLISH_SMALL_STEP``; steps whose objective the noise hides are
    taken while the decrement at their end falls. Returns the code and whether the last
    Hessian computed afresh was positive definite; a code starting with
    ``NEWTON_FAILED`` when it cannot go on (L-BFGS-B then takes over). The
    derivatives at the last iterate, its Hessian the updated one, are appended to
    ``last``.
    """
    x = np.maximum(x0, lower)
    f, g = rec.value_and_gradient(x)
    decrement = np.inf
    h = None  # None: to be computed afresh at x
    tried: set[int] = set()  # parameters moved off their bound once already
    fresh = positive = False
    while rec.ngrad < maxeval:
        if not math.isfinite(f):
            return "NEWTON_FAILED: not finite", positive
        if h is None:
            h = _hessian_from_gradient(rec.value_and_gradient, x, g, _steps(x),
                                       np.arange(len(x)))
            fresh = True
            if not np.isfinite(h).all():
                return "NEWTON_FAILED: Hessian not finite", positive
        try:
            d, _, raw = _projected_step(x, g, h, lower)
        except np.linalg.LinAlgError:
            return "NEWTON_FAILED: Hessian", positive
        before, decrement = decrement, -float(g @ d) / 2.0
        small = decrement <= max(_noise(f), SECANT_DECREMENT_TOL)
        if not (fresh or small) and decrement > SECANT_REFRESH * before:
            h, decrement = None, before
            continue
        if fresh:
            positive = bool(raw.min(initial=1.0) > 0)
        last[:] = [_Point(x, f, g, h)]
        done = small and float(np.max(np.abs(d), initial=0.0)) <= POLISH_SMALL_STEP
        if fresh or done:
            escape = _off_the_bound(rec, x, f, g, h, lower, tried)
            if escape is not None:
                (x, f, g), h, decrement = escape, None, np.inf
                continue
        if done:
            return "NEWTON_DECREMENT_TOL_REACHED", positive
        step = 1.0
        mirrored = None
        if canonical is not None and not small and bool((x + d < lower).any()):
            mirrored = canonical(x + d)
            fm = rec(mirrored)
        while True:
            y = np.maximum(x + step * d, lower)
            fy, gy = rec.value_and_gradient(y)
            if mirrored is not None and fm < fy and fm <= f + 1e-4 * float(g @ d):
                # the objective there is f(x + d)
                y = mirrored
                fy, gy = rec.value_and_gradient(y)
                break
            mirrored = None
            if fy <= f + 1e-4 * float(g @ (y - x)):
                break
            if small:
                # the objective cannot tell such steps apart from its rounding noise;
                # the gradient can: the step is taken while the decrement falls
                if not fy <= f + _noise(f):
                    return "NEWTON_DECREMENT_TOL_REACHED", positive
                try:
                    dy, _, _ = _projected_step(y, gy, h, lower)
                except np.linalg.LinAlgError:
                    return "NEWTON_FAILED: Hessian", positive
                if not -float(gy @ dy) / 2.0 < decrement:
                    return "NEWTON_DECREMENT_TOL_REACHED", positive
                break
            step *= 0.5
            if step < 1e-10 or rec.ngrad >= maxeval:
                return "NEWTON_FAILED: no descent", positive
        h = _bfgs_update(h, y - x, gy - g)
        fresh = False
        x, f, g = y, fy, gy
    return "NEWTON_FAILED: iterations", positive


def _off_the_bound(rec: _Recorder, x: np.ndarray, f: float, g: np.ndarray, h: np.ndarray,
                   lower: np.ndarray,
                   tried: set[int]) -> tuple[np.ndarray, float, np.ndarray] | None:
    """A point off the bound below x by more than ``DECREASE_TOL``, with its objective
    and gradient, or None.

    A step that overshoots a scalar term's bound lands on 0, where the objective's
    slope is 0 (it depends on theta^2) whatever the optimum; where the curvature
    there is negative, the Newton steps (on absolute eigenvalues) barely move it.
    Such a parameter within ``BOUNDARY_TOL`` of its bound is moved 10 and 1 times
    ``BOUNDARY_PROBE`` off it, the first point that lowers the objective kept; once
    per parameter (``tried``), so that a narrow dip costs at most two gradients.
    """
    near = x - lower <= BOUNDARY_TOL
    for i in np.flatnonzero(near & (np.diag(h) < 0) & (g <= 0)):
        if int(i) in tried:
            continue
        tried.add(int(i))
        for distance in (10.0 * BOUNDARY_PROBE, BOUNDARY_PROBE):
            y = x.copy()
            y[i] = lower[i] + distance
            fy, gy = rec.value_and_gradient(y)
            if fy < f - DECREASE_TOL:
                return y, fy, gy
    return None


def _bfgs_update(h: np.ndarray, s: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """The BFGS update of the Hessian ``h`` by the step ``s`` and the gradient's change
    ``dg`` along it; ``h`` itself where the step's curvature ``s'dg`` is not positive."""
    curvature = float(s @ dg)
    hs = h @ s
    shs = float(s @ hs)
    if not (curvature > 0 and shs > 0):
        return h
    h = h - np.multiply.outer(hs, hs) / shs + np.multiply.outer(dg, dg) / curvature
    return (h + h.T) / 2.0


def minimize(
    fun: Objective,
    x0: np.ndarray,
    lower: np.ndarray,
    *,
    ftol_rel: float = 1e-12,
    ftol_abs: float = 1e-10,
    xtol_abs: float = 1e-10,
    maxeval: int = 100_000,
    check: bool = True,
    scale: np.ndarray | None = None,
    gradient: ObjectiveGradient | None = None,
    hessian: ObjectiveDerivatives | None = None,
    canonical: Canonical | None = None,
    rotate: Rotate | None = None,
    quasi_newton: bool = False,
    close_start: bool = False,
) -> OptSummary:
    """Minimise ``fun`` over theta, then check the optimum.

    With an exact Hessian, Newton iterations; with an analytic gradient, from a close
    start and with at most ``SECANT_MAX_PARAMS`` parameters, Newton iterations on a
    finite-difference Hessian updated by BFGS; with an analytic gradient and at least
    ``GRADIENT_MIN_PARAMS`` parameters otherwise, L-BFGS-B (far fewer evaluations than
    BOBYQA); BOBYQA otherwise.
    The check then uses the gradient too. When the check finds that the objective
    could still be lowered, BOBYQA is restarted from the optimum with a small
    initial step (up to ``MAX_RESTARTS`` times, while each restart lowers the
    objective).

    Parameters
    ----------
    fun : callable
        theta -> objective (returns ``inf`` where undefined).
    x0, lower : ndarray, (t,)
        Start and lower bounds.
    check : bool
        Whether to run the convergence check.
    scale : ndarray, (t,), optional
        The natural unit of each parameter. The optimiser, its tolerances, the
        finite-difference steps and the boundary test work on ``theta / scale``; the
        check's gradient and Hessian are with respect to ``theta / scale``.
    gradient : callable, optional
        theta -> (objective, gradient), the same objective as ``fun``.
    hessian : callable, optional
        theta -> (objective, gradient, Hessian), with ``gradient``: Newton iterations
        replace BOBYQA and L-BFGS-B (for small models, where the exact Hessian costs
        a few gradients), and the check uses the exact Hessian at the optimum.
    canonical : callable, optional
        x -> the point equivalent to x (the same objective) with every parameter at
        or above its bound, where the objective has such a symmetry (a template
        column and minus it; only sign changes, so the same in scaled units). The
        Newton iterations use it for steps that cross a bound.
    rotate : callable, optional
        (x, i) -> the point equivalent to x whose template column with its diagonal
        at parameter i (on its bound) is 0 below the diagonal, the column's part
        folded into the later columns; None where there is nothing to fold. Row
        scalings commute with it, so the same in scaled units. The check probes
        off the bound from there too.
    quasi_newton : bool
        With ``gradient``, use L-BFGS-B below ``GRADIENT_MIN_PARAMS`` parameters too.
    close_start : bool
        x0 is an estimate close to the optimum: BOBYQA's initial trust region and
        L-BFGS-B's first step are ``CLOSE_START_STEP`` of the usual ones, and with a
        gradient the finite-difference Newton iterations are used.
    """
    x0 = np.asarray(x0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    if scale is not None and (np.asarray(scale) != 1.0).any():
        scale = np.asarray(scale, dtype=float)
        if scale.shape != x0.shape or not np.all(scale > 0):
            raise ValueError("scale must hold one positive value per parameter")
        scaled_gradient = scaled_hessian = None
        if gradient is not None:
            def scaled_gradient(phi: np.ndarray) -> tuple[float, np.ndarray]:
                f, g = gradient(phi * scale)
                return f, g * scale
        if hessian is not None:
            scale2 = np.multiply.outer(scale, scale)

            def scaled_hessian(phi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
                f, g, h = hessian(phi * scale)
                return f, g * scale, h * scale2
        out = minimize(lambda phi: fun(phi * scale), x0 / scale, lower / scale,
                       ftol_rel=ftol_rel, ftol_abs=ftol_abs, xtol_abs=xtol_abs,
                       maxeval=maxeval, check=check, gradient=scaled_gradient,
                       hessian=scaled_hessian, canonical=canonical, rotate=rotate,
                       quasi_newton=quasi_newton,
                       close_start=close_start)
        return dataclasses.replace(out, initial=x0, final=out.final * scale, lower=lower)
    rec = _Recorder(fun, gradient, hessian if gradient is not None else None)
    fraction = CLOSE_START_STEP if close_start else 1.0
    last: list[_Point] = []
    approximate = False  # whether last[0].h is an updated (BFGS) Hessian
    if rec.derivatives is not None:
        optimizer = "Newton"
        code = _newton(rec, x0, lower, last, canonical)
        if code.startswith("NEWTON_FAILED"):
            # BOBYQA from the start, as without a Hessian
            code = _bobyqa(rec, x0, lower, _bobyqa_step(x0, lower), ftol_rel, ftol_abs,
                           xtol_abs, maxeval)
            optimizer += " + LN_BOBYQA"
            last = []
    elif gradient is not None and close_start and len(x0) <= SECANT_MAX_PARAMS:
        optimizer = "secant Newton"
        code, positive = _secant_newton(rec, x0, lower, maxeval, last, canonical)
        approximate = True
        if code.startswith("NEWTON_FAILED"):
            code = _lbfgsb(rec, rec.best_x, lower, maxeval, fraction)
            optimizer += " + L-BFGS-B"
            last = []
        elif not positive:
            # updates of an indefinite start say little about the curvature at the end
            last = []
    elif gradient is not None and (quasi_newton or len(x0) >= GRADIENT_MIN_PARAMS):
        optimizer = "L-BFGS-B"
        code = _lbfgsb(rec, x0, lower, maxeval, fraction)
    else:
        optimizer = "LN_BOBYQA"
        code = _bobyqa(rec, x0, lower, _bobyqa_step(x0, lower, fraction), ftol_rel, ftol_abs,
                       xtol_abs, maxeval)
    if rec.best_x is None:
        raise MixedModelsError(
            "the objective is infinite or undefined at every theta tried: the model "
            "cannot be fitted to these data (check the scale of the predictors, e.g. "
            "values near 1e150 overflow, and whether the random-effects structure is "
            "estimable)"
        )
    result: ConvergenceCheck | None = None
    if check:
        grad = rec.value_and_gradient if gradient is not None else None
        known = {}
        if last and _same(last[0].x, rec.best_x):
            # the exact derivatives at the optimum: nothing to evaluate for the check
            pt = last[0]
            interior = (pt.x - lower) > BOUNDARY_TOL
            known = {"f0": pt.f, "g0": pt.g, "interior": interior, "full_hessian": pt.h,
                     "hessian": pt.h if interior.all() else pt.h[np.ix_(interior, interior)]}
        else:
            known = rec.known_at(rec.best_x)
        result = _polish(rec, lower, check_optimum(rec, rec.best_x, lower, gradient=grad,
                                                   canonical=canonical, rotate=rotate,
                                                   **known), grad)
        if not result.ok and approximate and "hessian" in known:
            # an updated Hessian is an approximation: before anything is restarted,
            # the check is repeated with a finite-difference one
            result = _polish(rec, lower, check_optimum(rec, rec.best_x, lower, gradient=grad,
                                                       canonical=canonical, rotate=rotate,
                                                       **rec.known_at(rec.best_x)), grad)
        restarts = 0
        while not result.ok and restarts < MAX_RESTARTS:
            # each restart starts where the check left the best point (off a bound
            # with a column negated, say); another only when this one went lower
            restarts += 1
            before = rec.best_f
            restart = np.full_like(x0, 0.05)
            code = _bobyqa(rec, rec.best_x, lower, restart, ftol_rel, ftol_abs, xtol_abs, maxeval)
            if restarts == 1:
                optimizer += " + LN_BOBYQA"
            result = _polish(rec, lower, check_optimum(rec, rec.best_x, lower, gradient=grad,
                                                       canonical=canonical, rotate=rotate,
                                                       **rec.known_at(rec.best_x)),
                             grad)
            if not rec.best_f < before - DECREASE_TOL:
                break
    final = rec.best_x
    fmin = rec.best_f
    return OptSummary(
        optimizer=optimizer,
        initial=x0,
        final=final,
        fmin=fmin,
        feval=len(rec.values),
        ngrad=rec.ngrad,
        return_code=code,
        lower=lower,
        ftol_rel=ftol_rel,
        ftol_abs=ftol_abs,
        xtol_abs=xtol_abs,
        fitlog=np.asarray(rec.values),
        check=result,
    )


def _polish(rec: _Recorder, lower: np.ndarray, result: ConvergenceCheck,
            gradient: ObjectiveGradient | None = None,
            max_steps: int = 3, xtol: float = POLISH_XTOL) -> ConvergenceCheck:
    """Newton steps on the interior parameters from the check's derivatives.

    BOBYQA stops once the objective stalls; on flat surfaces theta can then be off in
    the fifth digit, enough to change printed standard deviations. The check has
    already paid for the gradient and Hessian, so a Newton step costs one evaluation
    (with the gradient, when there is one); the check is then repeated there with the
    same Hessian.

    A step is kept when it lowers the objective. Near the optimum the objective's
    rounding noise (about 1e-12 relative on crossed designs) hides the last digits
    of theta, while the gradient still locates the minimiser: a step whose
    objective is within that noise is then kept when the Newton decrement at the
    new point is smaller (with an analytic gradient), or when the predicted decrease
    was itself below the noise (finite differences).

    A step that would move no parameter by more than ``xtol`` is not taken: theta
    is settled to lme4's tolerance (after a Newton optimisation the second step is
    typically 1e-9 or less, and its objective pure rounding noise); nor is a small
    step (``POLISH_SMALL_STEP``) whose predicted decrease no evaluation of the
    objective could show (``POLISH_MIN_DECREASE_REL``).
    """
    for _ in range(max_steps):
        if result.hessian is None or result.decrease <= 0.0:
            break
        free = result.interior.nonzero()[0]
        try:
            eig, vec = _eigh(result.hessian)
        except np.linalg.LinAlgError:
            break
        delta = _newton_parts(eig, vec, result.gradient[free])[0]
        size = float(np.abs(delta).max(initial=0.0))
        if not size > xtol:
            break
        if (size <= POLISH_SMALL_STEP
                and result.decrease <= POLISH_MIN_DECREASE_REL * max(1.0, abs(rec.best_f))):
            break
        # a Hessian with non-positive curvature along which the check found a descent
        # is not reused at the new point: its quadratic model leaves out those
        # directions (an objective that dips and rises again along one of them passed
        # such a re-check 2e-4 above the optimum). Where the check found none (the
        # nearly flat valleys of kb07's maximal model) it is reused.
        reuse = result.hessian if eig[0] > 0 or result.ok else None
        before = rec.best_f
        x = rec.best_x.copy()
        x[free] = np.maximum(x[free] - delta, lower[free])
        if gradient is not None:
            f, g = gradient(x)
        else:
            f, g = rec(x), None
        there = None
        if f < before or (gradient is not None and f <= before + _noise(before)):
            there = check_optimum(rec, x, lower, hessian=reuse,
                                  interior=result.interior, gradient=gradient, f0=f, g0=g,
                                  probe=not result.ok)
        if f < before:
            result = there
            continue
        if not f <= before + _noise(before):
            break
        if gradient is not None:
            if not there.decrease < result.decrease:
                break
            result = there
        elif result.decrease < _noise(before):
            result = check_optimum(rec, x, lower, hessian=reuse,
                                   interior=result.interior, f0=f, probe=not result.ok)
        else:
            break
        rec.best_x, rec.best_f = x, f
    return result


_last_eigh: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _eigh(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.linalg.eigh(h)``, remembered for the last matrix.

    The Newton iterations, the check and its polish take the eigendecomposition of
    the same Hessian (the same array) up to four times. The arrays are never
    modified in place; the remembered entry is replaced as one tuple. LAPACK's
    ``syevd`` (numpy's routine, on the lower triangle) is called directly: numpy's
    wrapper costs three times the decomposition of a small Hessian (4.2 against 1.4
    us at 3 x 3).
    """
    global _last_eigh
    last = _last_eigh
    if last is not None and last[0] is h:
        return last[1], last[2]
    eig, vec, info = dsyevd(h, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("the eigenvalue decomposition did not converge")
    _last_eigh = (h, eig, vec)
    return eig, vec


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays hold the same values bit for bit (``np.array_equal`` costs
    ten times as much on the few parameters of a small model)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _noise(f: float) -> float:
    return NOISE_REL * max(1.0, abs(f))


def _steps(x: np.ndarray) -> np.ndarray:
    return 1e-4 * np.maximum(np.abs(x), 0.1)


def check_optimum(
    fun: Objective,
    x: np.ndarray,
    lower: np.ndarray,
    *,
    hessian: np.ndarray | None = None,
    interior: np.ndarray | None = None,
    gradient: ObjectiveGradient | None = None,
    f0: float | None = None,
    g0: np.ndarray | None = None,
    probe: bool = True,
    full_hessian: np.ndarray | None = None,
    canonical: Canonical | None = None,
    rotate: Rotate | None = None,
) -> ConvergenceCheck:
    """Finite-difference checks of a (local) minimum.

    Evaluating ``fun`` may move the caller's notion of the best point: the
    recorder used by :func:`minimize` keeps whichever point is lowest.

    Parameters
    ----------
    hessian, interior : ndarray, optional
        A Hessian of the interior parameters from a nearby point (after a Newton
        step) to reuse instead of recomputing it; used only when the same
        parameters are interior here.
    gradient : callable, optional
        theta -> (objective, analytic gradient). The gradient of the interior
        parameters is then exact and the Hessian is formed by forward differences of
        it (t gradients instead of 2 t^2 objective values).
    f0, g0 : float and ndarray, optional
        The objective (and with ``gradient``, the gradient) at ``x`` when the caller
        has them already.
    probe : bool
        Whether to probe directions of non-positive curvature (False: the caller
        probed them with the same Hessian at a nearby point and found no descent).
    canonical : callable, optional
        As for :func:`minimize`: a template diagonal on its bound is then also probed
        with the rest of its column negated (the same objective on the bound, not off
        it: random-slope fits have two such boundary optima, and the optimiser can
        stop at the worse one).
    rotate : callable, optional
        As for :func:`minimize`: a template diagonal on its bound is then also probed
        from the equivalent point whose column is 0 below it. On the bound the rest
        of that column can be rotated into the later columns without changing the
        objective, and the descent off the bound can need such a rotation (a random
        three-term design stopped 1.24 above the optimum with the column at
        (0, -0.92) and the slope's diagonal at 0.24; the optimum has (0.11, 0.04) and
        0.95).
    full_hessian : ndarray, optional
        The exact Hessian over all parameters at ``x`` (with ``gradient``). Where some
        parameters are on their bounds, the quadratic model is also minimised over the
        moves that keep them feasible (:func:`_cone_descent`) and the objective is
        tried there: parameters on the bound can descend together where none does
        alone.
    """
    x = np.asarray(x, dtype=float)
    t = len(x)
    exact = None
    if gradient is not None:
        if f0 is None or g0 is None:
            f0, g0 = gradient(x)
        exact = g0
    elif f0 is None:
        f0 = fun(x)
    h = _steps(x)
    here = (x - lower) > BOUNDARY_TOL
    if interior is None or not _same(here, interior):
        hessian = None
    interior = here
    messages: list[str] = []

    seen: dict[bytes, float] = {}

    def at(delta: np.ndarray) -> float:
        # the gradient's central differences are the Hessian diagonal's points
        key = (delta + 0.0).tobytes()  # + 0.0: -0.0 and 0.0 are one point
        if key not in seen:
            seen[key] = fun(x + delta)
        return seen[key]

    grad = np.zeros(t)
    for i in range(t):
        if exact is not None and interior[i]:
            grad[i] = exact[i]
            continue
        e = np.zeros(t)
        e[i] = h[i]
        if interior[i]:
            grad[i] = (at(e) - at(-e)) / (2 * h[i])
        else:
            fwd = at(e)
            grad[i] = (fwd - f0) / h[i]
            drop = 1e-7 * max(1.0, abs(f0))
            if not fwd < f0 - drop and probe and BOUNDARY_PROBE > h[i]:
                fwd = at(_unit(t, i, BOUNDARY_PROBE))
            if fwd < f0 - drop:
                messages.append(
                    f"the objective decreases by {f0 - fwd:.3g} moving parameter {i + 1} "
                    "off its bound: the boundary fit may not be optimal"
                )
            elif probe:
                # on the bound, points with the rest of the column negated or rotated
                # into the later columns give the same objective; off it they do not
                for how, there in _equivalent_probes(x, i, t, canonical, rotate):
                    value = at(there - x)
                    if value < f0 - drop:
                        messages.append(
                            f"the objective decreases by {f0 - value:.3g} moving "
                            f"parameter {i + 1} off its bound with the rest of its template "
                            f"column {how}: the boundary fit may not be optimal"
                        )
                        break
    if (full_hessian is not None and exact is not None and probe and not interior.all()
            and np.isfinite(f0) and np.all(np.isfinite(full_hessian))):
        d = _cone_descent(exact, full_hessian, ~interior, BOUNDARY_PROBE)
        if d is not None:
            fy = fun(np.maximum(x + d, lower))
            if fy < f0 - DECREASE_TOL:
                messages.append(
                    f"the objective decreases by {f0 - fy:.3g} moving parameters off their "
                    "bounds together: the boundary fit may not be optimal"
                )
    free = interior.nonzero()[0]
    hess = None
    decrease = 0.0
    if not (math.isfinite(f0) and np.isfinite(grad).all()):
        messages.append(
            "the objective or its finite-difference gradient is not finite at the optimum"
        )
        return ConvergenceCheck(grad, None, interior, np.inf, tuple(messages))
    most = MAX_HESSIAN_PARAMS if gradient is None else MAX_HESSIAN_PARAMS_GRADIENT
    if len(free) and len(free) <= most:
        if hessian is not None:
            hess = hessian
        else:
            probe = True  # a new Hessian has not been probed yet
            if gradient is not None:
                hess = _hessian_from_gradient(gradient, x, exact, h, free)
            else:
                hess = _hessian(at, f0, h, free)
        g = grad[free]
        if not np.isfinite(hess).all():
            messages.append("the finite-difference Hessian at the optimum is not finite")
            return ConvergenceCheck(grad, hess, interior, np.inf, tuple(messages))
        eig, vec = _eigh(hess)
        decrease = float(_newton_parts(eig, vec, g)[1].sum()) / 2.0
        if eig[0] <= 0 and probe and _descends_along(fun, x, f0, lower, free, eig, vec, g,
                                                     gradient):
            nneg = int(np.sum(eig <= 0))
            messages.append(
                f"the Hessian at the optimum is not positive definite ({nneg} non-positive "
                "eigenvalue(s)) and the objective decreases along a direction of negative "
                "curvature: the model may be unidentifiable or not at a minimum"
            )
    elif len(free):
        # Too many parameters for the full Hessian: use its diagonal.
        g = grad[free]
        diag = np.array([(at(_unit(t, i, h[i])) - 2 * f0 + at(_unit(t, i, -h[i]))) / h[i] ** 2
                         for i in free])
        if np.any(diag <= 0):
            messages.append("the objective is not convex along some parameter at the optimum")
        else:
            decrease = float(np.sum(g**2 / diag)) / 2.0
    if decrease > DECREASE_TOL:
        messages.append(
            f"the objective could still be lowered by about {decrease:.2g} "
            f"(max|gradient| = {np.max(np.abs(grad)):.3g})"
        )
    return ConvergenceCheck(grad, hess, interior, decrease, tuple(messages))


def _equivalent_probes(
    x: np.ndarray, i: int, t: int, canonical: Canonical | None, rotate: Rotate | None,
) -> Iterator[tuple[str, np.ndarray]]:
    """Points ``BOUNDARY_PROBE`` off the bound of parameter i (a template diagonal at 0)
    from points equivalent to x there, one at a time: the mirrored point (the column
    below negated; the key of an unchanged column is the plain probe's, evaluated
    already) and the point whose column below is rotated into the later columns."""
    if canonical is not None:
        yield "negated", canonical(x - _unit(t, i, BOUNDARY_PROBE))
    if rotate is not None:
        folded = rotate(x, i)
        if folded is not None:
            yield "rotated into the later ones", folded + _unit(t, i, BOUNDARY_PROBE)


def _newton_parts(eig: np.ndarray, vec: np.ndarray,
                  g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Newton step ``H^{-1} g`` and the terms of ``g' H^{-1} g`` over the
    directions of positive curvature (all of them when H is positive definite)."""
    if eig.size and eig[0] <= 0:  # eigh returns them in ascending order
        pos = eig > 0
        eig, vec = eig[pos], vec[:, pos]
    along = vec.T @ g
    return vec @ (along / eig), along**2 / eig


def _descends_along(fun: Objective, x: np.ndarray, f0: float, lower: np.ndarray,
                    free: np.ndarray, eig: np.ndarray, vec: np.ndarray,
                    g: np.ndarray, gradient: ObjectiveGradient | None = None) -> bool:
    """Whether the objective falls by more than DECREASE_TOL along a direction of
    non-positive curvature.

    Near a singular fit the Hessian can have eigenvalues of either sign at the 1e-3
    level in nearly flat valleys (kb07's maximal model): a non-positive eigenvalue by
    itself says nothing about how much the objective could still be lowered. Each
    such direction is probed both ways, at the distance where the quadratic model
    predicts ten times the tolerance (at most 1 in the parameters' units), and where
    the gradient along it (``g``, of the free parameters) does, downhill: the
    objective need not be quadratic there. (A variance parameter near 0 whose
    objective falls by 6e-4 to 0.0246 from 0.01 and rises beyond 0.03: the curvature's
    distance, 0.026, overshot the dip, the gradient's, 0.02, found it.)

    With ``gradient``, a probe point that does not descend is also followed down the
    valley: one Newton step from it over the directions of positive curvature (the
    Hessian's, with the gradient there). In a curved valley every straight line from
    the point rises while the valley falls: a three-coefficient fit stopped 0.11 above
    its optimum with an eigenvalue of -0.29, its straight probes rising by 0.003-0.44.
    Only curvatures below ``-VALLEY_MIN_REL`` times the largest eigenvalue are followed.
    """
    positive = eig > 0
    pvec, peig = vec[:, positive], eig[positive]
    for k in np.flatnonzero(eig <= 0):
        probes = [(min(1.0, np.sqrt(20.0 * DECREASE_TOL / max(-eig[k], 1e-300))), sign)
                  for sign in (1.0, -1.0)]
        slope = float(vec[:, k] @ g)
        if slope != 0.0:
            probes.append((min(1.0, 10.0 * DECREASE_TOL / abs(slope)), -np.sign(slope)))
        for step, sign in probes:
            y = x.copy()
            y[free] = np.maximum(y[free] + sign * step * vec[:, k], lower[free])
            if fun(y) < f0 - DECREASE_TOL:
                return True
            if gradient is None or not len(peig) or -eig[k] < VALLEY_MIN_REL * peig[-1]:
                continue
            fy, gy = gradient(y)
            gy = np.asarray(gy, dtype=float)[free]
            if not (np.isfinite(fy) and np.all(np.isfinite(gy))):
                continue
            z = y.copy()
            z[free] = np.maximum(y[free] - pvec @ ((pvec.T @ gy) / peig), lower[free])
            if fun(z) < f0 - DECREASE_TOL:
                return True
    return False


def _cone_descent(g: np.ndarray, h: np.ndarray, bound: np.ndarray,
                  radius: float) -> np.ndarray | None:
    """A step d of length at most ``radius`` with ``d >= 0`` on the ``bound``
    parameters that lowers the quadratic model ``g'd + d'Hd / 2`` by more than
    DECREASE_TOL, or None.

    Projected gradient steps on the model (the projection onto that cone within the
    ball: clip, then shorten), from the steepest descent and from both signs of each
    direction of negative curvature. At a saddle on the boundary the gradient is 0 and
    the interior parameters' Hessian can be positive definite: a random-slope
    template at 0 together with another term's parameters (measured: a decrease of
    5.5e-4 at distance 1e-2 that no single parameter showed).
    """
    eig, vec = np.linalg.eigh(h)
    lipschitz = max(float(np.abs(eig).max(initial=0.0)), 1e-12)

    def project(d: np.ndarray) -> np.ndarray:
        d = d.copy()
        d[bound] = np.maximum(d[bound], 0.0)
        norm = float(np.linalg.norm(d))
        return d * (radius / norm) if norm > radius else d

    starts = [-g] + [sign * vec[:, k] for k in np.flatnonzero(eig < 0) for sign in (1.0, -1.0)]
    best, best_q = None, -DECREASE_TOL
    for d in starts:
        d = project(radius * d / max(float(np.linalg.norm(d)), 1e-300))
        for _ in range(200):
            d = project(d - (g + h @ d) / lipschitz)
        q = float(g @ d + 0.5 * d @ h @ d)
        if q < best_q:
            best, best_q = d, q
    return best


def _unit(t: int, i: int, value: float) -> np.ndarray:
    e = np.zeros(t)
    e[i] = value
    return e


def _hessian(
    at: Callable[[np.ndarray], float], f0: float, h: np.ndarray, free: np.ndarray
) -> np.ndarray:
    t = len(h)
    r = len(free)
    hess = np.empty((r, r))
    for a, i in enumerate(free):
        hess[a, a] = (at(_unit(t, i, h[i])) - 2 * f0 + at(_unit(t, i, -h[i]))) / h[i] ** 2
        for b in range(a):
            j = free[b]
            pp = _unit(t, i, h[i]) + _unit(t, j, h[j])
            pm = _unit(t, i, h[i]) - _unit(t, j, h[j])
            v = (at(pp) - at(pm) - at(-pm) + at(-pp)) / (4 * h[i] * h[j])
            hess[a, b] = hess[b, a] = v
    return hess


def _hessian_from_gradient(
    gradient: ObjectiveGradient, x: np.ndarray, g0: np.ndarray,
    h: np.ndarray, free: np.ndarray,
) -> np.ndarray:
    """Forward differences of the analytic gradient over the free parameters,
    symmetrised: one gradient per parameter. In the nearly flat directions of
    rank-deficient templates (kb07's maximal model) their error can give a small
    spurious negative eigenvalue; the check then probes that direction
    (:func:`_descends_along`) before it reports anything."""
    t = len(x)
    cols = [(gradient(x + _unit(t, i, h[i]))[1][free] - g0[free]) / h[i] for i in free]
    hess = np.array(cols).T
    return (hess + hess.T) / 2.0
