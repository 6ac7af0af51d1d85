"""The linear mixed model: design + cross-products + the profiled objective.

``LinearMixedModel`` holds what does not change while theta moves: the design, the
cross-product blocks A and the workspace of the blocked Cholesky factor L. Each call
of :meth:`LinearMixedModel.objective` updates L for a new theta and reads the REML
criterion or the deviance from it; the rows of the data are never touched again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import os
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import ThreadpoolController

from mixedmodels.design import Design, build_design
from mixedmodels.design._rank import rank_deficiency_message
from mixedmodels.distributed import is_distributed_input
from mixedmodels.errors import MixedModelsError
from mixedmodels.linalg import BlockedCholesky, CrossProducts, cross_products, response_blocks
from mixedmodels.linalg.dense_factor import DENSE_MAX_ORDER, DenseFactor
from mixedmodels.linalg.gradient import ObjectiveGradient, gradient_cost
from mixedmodels.optimize import minimize
from mixedmodels.start import START_MIN_EIGENVALUE, moment_theta, relative_covariances

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

# A diagonal element of a template below this is on the boundary (lme4's isSingular).
SINGULAR_TOL = 1e-4
# lme4's check.scaleX: warn when predictor scales differ by more than this factor.
SCALE_RATIO_TOL = 1e3
# Root mean squares of random-effect columns inside this band count as ordinary scales
# (theta in its own units, lme4's start); outside it theta is scaled (theta_scale).
SCALE_BAND = (1e-2, 1e2)
# Below this order of the largest dense block, BLAS runs single-threaded during a fit:
# for small blocks threads cost more than they give, and on a busy machine (parallel
# bootstrap workers, other jobs) spinning BLAS threads made a 128 x 128 Cholesky take
# 80 ms instead of 0.1 ms. d3's 840 x 840 block is also better single-threaded: its
# Cholesky is 5 ms of a 51 ms evaluation, and two threads made the evaluation 60-120 ms.
BLAS_THREADS_MIN_ORDER = 1024
# Below this many rows the design and the cross-products are built with one BLAS thread:
# their BLAS calls (lstsq, matrix-vector products of n x p) are far too small for
# threads, and a threaded call leaves OpenBLAS's worker spinning for a while after it
# returns; on a busy machine that stole the CPU from the fit that followed (kb07's
# design: 1.5 ms single-threaded, 15-21 ms with two threads under load, and the fit
# 110 -> 140-170 ms).
DESIGN_BLAS_THREADS_MIN_ROWS = 100_000
# Analytic gradients are used when the dense part they invert is at most this order
# and one gradient costs at most this many flops (see linalg/gradient.py): d3 2.6e9
# (about one evaluation more), InstEval 1.6e9; MovieLens (order 3706) stays with BOBYQA.
GRADIENT_MAX_ORDER = 1500
GRADIENT_MAX_FLOPS = 5e9
# Large models raise the eigenvalues of a term's moment estimate of Lambda Lambda' (in
# the units of theta_scale) to this squared: InstEval's dept term is estimated at 0.063
# (optimum 0.067), above it; an estimate of 0 or below (a variance whose optimum may be
# 0) starts near the bound, where the objective's slope is not yet 0.
START_FLOOR = 0.05
# With a gradient, L-BFGS-B replaces BOBYQA for models of this many terms or more,
# whatever their number of parameters (optimize.GRADIENT_MIN_PARAMS otherwise): with
# three crossed terms the dense block T makes evaluations dear and BOBYQA needed 117
# evaluations on InstEval's (1|s) + (1|d) + (1|dept), L-BFGS-B 27 (and 27 gradients).
GRADIENT_MIN_TERMS = 3


def lme4_term_order(nlevels: list[int]) -> list[int]:
    """lme4's order of random-effect terms.

    lme4 sorts terms by decreasing number of levels, but only when some later term
    has more levels than an earlier one; ties then come out in reverse order (it
    reverses a stable ascending sort). Matching it keeps theta, VarCorr and the
    printed tables in lme4's order.
    """
    m = len(nlevels)
    if not any(nlevels[i + 1] > nlevels[i] for i in range(m - 1)):
        return list(range(m))
    ascending = sorted(range(m), key=lambda i: nlevels[i])
    return ascending[::-1]


@functools.cache
def template_indices(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of theta in a k x k lower triangle, column by column.

    Cached (np.triu_indices costs more than building a small model); read-only.
    """
    cols, rows = np.triu_indices(k)
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


@functools.cache
def _template_lower_and_flat(k: int) -> tuple[np.ndarray, np.ndarray]:
    """The lower bounds of a k x k template's entries of theta (0 on the diagonal,
    -inf below) and their positions in the flattened template. Cached; read-only."""
    rows, cols = template_indices(k)
    lower = np.where(rows == cols, 0.0, -np.inf)
    flat = rows * k + cols
    lower.flags.writeable = False
    flat.flags.writeable = False
    return lower, flat


@functools.cache
def template_column_diagonals(k: int) -> np.ndarray:
    """For each entry of theta in a k x k template (:func:`template_indices`'s
    order), the position of the diagonal entry of its column. Cached; read-only."""
    rows, cols = template_indices(k)
    diagonal = {int(c): i for i, (r, c) in enumerate(zip(rows, cols, strict=True)) if r == c}
    out = np.array([diagonal[int(c)] for c in cols], dtype=np.intp)
    out.flags.writeable = False
    return out


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The factor's read-outs at one theta.

    Attributes
    ----------
    theta : ndarray
    pwrss : float
        Penalised weighted residual sum of squares r^2.
    ldL2, ldRX2 : float
        log det of the random-effects part and of the fixed-effects part of L L'.
    log_weights : float
        sum(log w) (0 without weights).
    n, p : int
        Observations and fixed-effect columns.
    beta : ndarray
        Conditional estimate of beta.
    vcov_unscaled : ndarray
        (R_X' R_X)^{-1}; vcov(beta) = sigma^2 times this.
    """

    theta: np.ndarray
    pwrss: float
    ldL2: float
    ldRX2: float
    log_weights: float
    n: int
    p: int
    beta: np.ndarray
    vcov_unscaled: np.ndarray

    def sigma2(self, reml: bool) -> float:
        """The profiled residual variance."""
        return self.pwrss / (self.n - self.p if reml else self.n)

    def deviance(self, sigma: float, reml: bool) -> float:
        """-2 log-likelihood (ML) or the REML criterion at this theta and a given sigma
        (not profiled): the function lmerTest differentiates for Satterthwaite."""
        s2 = sigma**2
        nn = self.n - self.p if reml else self.n
        value = self.ldL2 - self.log_weights + nn * math.log(2.0 * math.pi * s2) + self.pwrss / s2
        return value + self.ldRX2 if reml else value


class LinearMixedModel:
    """A linear mixed model ready to be fitted.

    Parameters
    ----------
    design : Design
        The response, fixed-effects matrix and random-effect terms.
    reml : bool
        Fit by REML (default) or maximum likelihood.
    data : DataFrame, optional
        The original data (kept for ``update``).
    data_name : str, optional
        Name of the data shown in summaries.
    fit_options : dict, optional
        The ``lmer`` arguments used, kept for ``update``.
    """

    def __init__(
        self,
        design: Design,
        reml: bool = True,
        *,
        data: Any = None,
        data_name: str | None = None,
        fit_options: dict[str, Any] | None = None,
        _z_blocks: Any = None,
    ) -> None:
        self._set_metadata(design, reml, data, data_name, fit_options)
        self.n, self.p = design.X.shape
        w = design.weights
        self.sqrt_weights = None if w is None else np.sqrt(w)
        self.log_weights = 0.0 if w is None else float(np.sum(np.log(w)))
        self._codes = [t.codes for t in self.reterms]
        self._nlevels = [len(t.levels) for t in self.reterms]
        self._z = [self._weighted(t.z) for t in self.reterms]
        xy = self._weighted(np.column_stack([design.X, self.working_response]))
        if _z_blocks is None:
            A = cross_products(self._codes, self._z, self._nlevels, xy)
        else:
            xz, xx = response_blocks(self._codes, self._z, self._nlevels, xy)
            A = _z_blocks.with_response(xz, xx)
        self._set_up(A)

    def _set_metadata(
        self, design: Design, reml: bool, data: Any, data_name: str | None,
        fit_options: dict[str, Any] | None,
    ) -> None:
        self.design = design
        self.reml = bool(reml)
        self.data = data
        self.data_name = data_name
        self.fit_options = dict(fit_options or {})
        order = lme4_term_order([len(t.levels) for t in design.reterms])
        self.reterms = tuple(design.reterms[i] for i in order)

    def _set_up(self, A: CrossProducts) -> None:
        """Everything that follows from the cross-products: the factor's workspace and
        the layout of theta."""
        self.A = A
        self._blocked: BlockedCholesky | None = None  # made on first use (_chol)
        # the theta the factor holds (its bytes) and that theta's templates
        self._factor_at: tuple[bytes, list[np.ndarray]] | None = None
        ks = [t.z.shape[1] for t in self.reterms]
        self._layout = [template_indices(k) for k in ks]
        bounds = list(itertools.accumulate((len(r) for r, _ in self._layout), initial=0))
        self.theta_slices = np.array(bounds)
        # lambdas(): per term k, theta's positions in the flattened template, its slice
        self._lambda_plan = [
            (k, _template_lower_and_flat(k)[1], a, b)
            for k, a, b in zip(ks, bounds[:-1], bounds[1:], strict=True)
        ]
        self.lower = np.concatenate([_template_lower_and_flat(k)[0] for k in ks] or [[]])
        self._column_diagonal: np.ndarray | None = None
        self._theta_scale: np.ndarray | None = None
        self._row_units_cache: list[np.ndarray] | None = None
        self._gradient_plans: dict[bool, ObjectiveGradient] = {}
        self._fitted = False
        self._small_factor: DenseFactor | None = None

    @property
    def _chol(self) -> BlockedCholesky:
        """The blocked factor of A, made on first use (small models are optimised and
        read from a dense factor, and need it only for other questions)."""
        if self._blocked is None:
            self._blocked = BlockedCholesky(self.A)
        return self._blocked

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_cross_products(
        cls,
        design: Design,
        A: CrossProducts,
        *,
        n: int,
        log_weights: float = 0.0,
        reml: bool = True,
        data: Any = None,
        data_name: str | None = None,
        fit_options: dict[str, Any] | None = None,
    ) -> LinearMixedModel:
        """A model from ready cross-product blocks, without the rows.

        For data that is never in memory (``mixedmodels.distributed`` reduces A over
        partitions): the objective, the optimiser and the estimates need only A.

        Parameters
        ----------
        design : Design
            Everything but the rows: formula, ``xnames``, ``fixed_spec``, ``reterms``
            (levels, coefficient names, specs); its ``y``, ``X``, codes and ``z`` may
            have no rows, but ``z`` must have its k columns.
        A : CrossProducts
            The blocks of ``[Z X y]'[Z X y]`` (rows weighted by sqrt(w), offset
            subtracted from y), terms in :func:`lme4_term_order` of ``design.reterms``,
            X's columns as ``design.xnames``.
        n : int
            Number of observations.
        log_weights : float
            sum(log w) over the rows (0 without weights).
        reml, data, data_name, fit_options
            As for the constructor.
        """
        model = cls.__new__(cls)
        model._set_metadata(design, reml, data, data_name, fit_options)
        model.n, model.p = int(n), len(design.xnames)
        model.sqrt_weights = None
        model.log_weights = float(log_weights)
        model._codes = [t.codes for t in model.reterms]
        model._nlevels = [len(t.levels) for t in model.reterms]
        model._z = [t.z for t in model.reterms]
        model._set_up(A)
        return model

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: Any,
        *,
        reml: bool = True,
        weights: Any = None,
        offset: Any = None,
        data_name: str | None = None,
        allow_python: bool = False,
    ) -> LinearMixedModel:
        """Build the model from an lme4 formula and a data frame.

        ``allow_python=True`` lets the formula call any Python (trusted formulas only).
        """
        with _design_blas_threads(data):
            design = build_design(formula, data, weights=weights, offset=offset,
                                  allow_python=allow_python)
            if data_name is None:
                data_name = _frame_name(data)
            options = {"formula": formula, "weights": weights, "offset": offset,
                       "allow_python": allow_python}
            return cls(design, reml, data=data, data_name=data_name, fit_options=options)

    def with_response(self, y: np.ndarray, reml: bool | None = None) -> LinearMixedModel:
        """The same model with another response; only the ``[X y]`` blocks are rebuilt."""
        y = np.asarray(y, dtype=float)
        if y.shape != (self.n,):
            raise MixedModelsError(f"the new response must have length {self.n}, not {y.shape}")
        if not np.all(np.isfinite(y)):
            raise MixedModelsError("the new response has missing or infinite values")
        design = dataclasses.replace(self.design, y=y)
        return LinearMixedModel(
            design, self.reml if reml is None else reml, data=self.data,
            data_name=self.data_name, fit_options=self.fit_options, _z_blocks=self.A,
        )

    def _weighted(self, a: np.ndarray) -> np.ndarray:
        if self.sqrt_weights is None:
            return np.asarray(a, dtype=float)
        return a * (self.sqrt_weights[:, None] if a.ndim == 2 else self.sqrt_weights)

    # ------------------------------------------------------------------ parameters
    @property
    def working_response(self) -> np.ndarray:
        """The response minus the offset."""
        off = self.design.offset
        return self.design.y if off is None else self.design.y - off

    @property
    def ntheta(self) -> int:
        return len(self.lower)

    def initial_theta(self) -> np.ndarray:
        """lme4's start: 1 on each template's diagonal, 0 below it, in the units of
        :meth:`theta_scale` (which are those of theta for predictors on ordinary
        scales)."""
        return np.where(np.isfinite(self.lower), 1.0, 0.0) * self.theta_scale()

    def start_theta(self) -> np.ndarray:
        """The optimiser's start: a moment estimate (:meth:`moment_start`) where there
        is one, lme4's (:meth:`initial_theta`) otherwise."""
        estimate = self.moment_start()
        return self.initial_theta() if estimate is None else estimate

    def moment_start(self) -> np.ndarray | None:
        """A moment estimate of theta (start.py), or None.

        Small dense one-term models with a vector-valued term use the two-stage
        estimate of :func:`~mixedmodels.start.moment_theta` (the optimum itself on
        balanced designs such as sleepstudy's slope model: one evaluation with its
        derivatives instead of seven evaluations and six from lme4's start). Every
        other model uses Henderson-style moments
        (:func:`~mixedmodels.start.relative_covariances`): on InstEval's three scalar
        terms L-BFGS-B then needs 11 evaluations instead of 25; balanced designs
        (penicillin, pastes) start at their optimum.

        Newton iterations from a start near 0 approach a variance whose optimum is 0
        only slowly, so the dense models take no estimate with an eigenvalue of a
        term's ``Lambda Lambda'`` below ``START_MIN_EIGENVALUE`` (a template diagonal of
        0.1, in the units of :meth:`theta_scale`). The other models raise such
        eigenvalues to ``START_FLOOR**2`` (a scalar term's gradient vanishes at 0: a
        start there would stay there).
        """
        if not self.ntheta:
            return None
        dense = self._dense_order() <= DENSE_MAX_ORDER
        units = self._row_units()
        if dense and len(self.reterms) == 1 and len(units[0]) > 1:
            rows, cols = self._layout[0]
            return moment_theta(self.A, self.n, rows, cols, units[0], self.reml)
        covariances = relative_covariances(self.A, self.n)
        if covariances is None:
            return None
        theta = []
        for cov, unit, (rows, cols) in zip(covariances, units, self._layout, strict=True):
            eig, vec = np.linalg.eigh(cov / np.multiply.outer(unit, unit))
            if not np.all(np.isfinite(eig)):
                return None
            if dense and eig[0] < START_MIN_EIGENVALUE:
                return None
            eig = np.maximum(eig, START_FLOOR**2)
            lam = np.linalg.cholesky((vec * eig) @ vec.T)
            theta.append((lam * unit[:, None])[rows, cols])
        return np.concatenate(theta)

    def theta_scale(self) -> np.ndarray:
        """The natural unit of each element of theta.

        A random effect's coefficient on a predictor z has the units of y / z, so the
        template entries in row r of a term scale as 1 / rms(z_r). lme4 starts every
        diagonal at 1, which presumes predictors on ordinary scales; where the root
        mean square of a term's column lies outside [1e-2, 1e2] the unit is
        1 / rms(z_r) instead, so that a predictor measured in other units gives the
        same fit. The optimiser works in these units, and the singularity test reads
        theta in them.
        """
        if self._theta_scale is None:
            self._theta_scale = np.concatenate([
                unit[rows] for unit, (rows, _) in zip(self._row_units(), self._layout,
                                                      strict=True)
            ])
        return self._theta_scale

    def _row_units(self) -> list[np.ndarray]:
        """Per term, the natural unit of each template row (:meth:`theta_scale`)."""
        if self._row_units_cache is None:
            lo, hi = SCALE_BAND
            self._row_units_cache = []
            for faces in self.A.diag:
                squares = np.einsum("lkk->k", faces).tolist()  # per column, sum of z^2
                unit = np.ones(len(squares))
                for r, square in enumerate(squares):
                    rms = math.sqrt(square / max(self.n, 1)) if square >= 0 else math.nan
                    if math.isfinite(rms) and rms > 0 and (rms < lo or rms > hi):
                        unit[r] = 1.0 / rms
                self._row_units_cache.append(unit)
        return self._row_units_cache

    def canonical_theta(self, theta: np.ndarray) -> np.ndarray:
        """The theta with non-negative template diagonals that gives the same model.

        A template column and minus it give the same covariance (lambda lambda'),
        hence the same objective: each column whose diagonal entry is negative is
        negated.
        """
        if self._column_diagonal is None:
            # theta's position of the diagonal entry of each entry's template column
            self._column_diagonal = np.concatenate([
                start + template_column_diagonals(k)
                for k, _, start, _ in self._lambda_plan
            ])
        theta = np.asarray(theta, dtype=float)
        return np.where(theta[self._column_diagonal] < 0.0, -theta, theta)

    def rotated_theta(self, theta: np.ndarray, i: int) -> np.ndarray | None:
        """The theta that gives the same model with the template column of the
        diagonal entry ``theta[i]`` (which must be 0) set to 0 below the diagonal.

        With a template diagonal at 0, the rest of its column and the later columns
        enter the covariance only through ``B B'`` (B: their rows below the
        diagonal), so B can be replaced by the lower triangle ``R'`` of its QR
        decomposition ``B' = Q R``, whose first column is 0. Returns None where
        ``theta[i]`` is not a diagonal entry at 0 or the column is 0 below it
        already.
        """
        theta = np.asarray(theta, dtype=float)
        for term, ((k, flat, a, b), (rows, cols)) in enumerate(
                zip(self._lambda_plan, self._layout, strict=True)):
            if a <= i < b:
                j = int(rows[i - a])
                if j != int(cols[i - a]) or theta[i] != 0.0 or j == k - 1:
                    return None
                lam = self.lambdas(theta)[term]
                if not np.any(lam[j + 1:, j]):
                    return None
                r = np.linalg.qr(lam[j + 1:, j:].T, mode="r")  # (k-j-1) x (k-j-1)
                r *= np.where(np.diagonal(r) < 0, -1.0, 1.0)[:, None]
                lam[j + 1:, j] = 0.0
                lam[j + 1:, j + 1:] = r.T
                out = theta.copy()
                out[a:b] = lam.ravel()[flat]
                return out
        return None

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        """The lower-triangular template of each term for ``theta``."""
        out = []
        for k, flat, a, b in self._lambda_plan:
            lam = np.zeros(k * k)
            lam[flat] = theta[a:b]
            out.append(lam.reshape(k, k))
        return out

    # ------------------------------------------------------------------ objective
    def objective(self, theta: np.ndarray, reml: bool | None = None) -> float:
        """The REML criterion or the deviance (-2 log-likelihood) at ``theta``.

        Returns ``inf`` where L cannot be formed.
        """
        if self._update_factor(np.asarray(theta, dtype=float)) is None:
            return math.inf
        return self._objective_from_factor(self.reml if reml is None else reml)

    def _update_factor(self, theta: np.ndarray) -> list[np.ndarray] | None:
        """Factor at ``theta``; returns its templates (:meth:`lambdas`), None where L
        cannot be formed.

        Nothing to do where the factor holds ``theta`` already: the fit reads its
        estimates off the factor at the optimum, which is usually the optimiser's last
        evaluation (InstEval: one evaluation, 13-16 ms, less). The gradient reads the
        factor and writes only its own buffers.
        """
        key = theta.tobytes()
        if self._factor_at is not None and self._factor_at[0] == key:
            return self._factor_at[1]
        self._factor_at = None
        lams = self.lambdas(theta)
        if not self._chol.update(lams):
            return None
        self._factor_at = (key, lams)
        return lams

    def objective_gradient(
        self, theta: np.ndarray, reml: bool | None = None
    ) -> tuple[float, np.ndarray]:
        """The objective and its analytic gradient with respect to theta.

        Returns ``(inf, nan...)`` where L cannot be formed. See linalg/gradient.py for
        the formulas; the cost is that of inverting the factor's dense part, so the
        optimiser uses it only where :meth:`gradient_is_cheap`.
        """
        reml = self.reml if reml is None else reml
        theta = np.asarray(theta, dtype=float)
        lams = self._update_factor(theta)
        if lams is None:
            return math.inf, np.full(self.ntheta, np.nan)
        f = self._objective_from_factor(reml)
        if not math.isfinite(f):
            return f, np.full(self.ntheta, np.nan)
        chol = self._chol
        plan = self._gradient_plan(reml)
        beta = chol.fixed_effects()
        try:
            logdet = plan.logdet(lams)
        except np.linalg.LinAlgError:
            return f, np.full(self.ntheta, np.nan)
        resid = plan.residual_products(lams, chol.spherical_effects(beta), beta)
        nn = self.n - self.p if reml else self.n
        factor = -2.0 * nn / chol.pwrss()
        grad = np.empty(self.ntheta)
        for j, (rows, cols) in enumerate(self._layout):
            part = 2.0 * logdet[j][cols, rows] + factor * resid[j][rows, cols]
            grad[self.theta_slices[j]:self.theta_slices[j + 1]] = part
        return f, grad

    def _gradient_plan(self, reml: bool) -> ObjectiveGradient:
        plan = self._gradient_plans.get(reml)
        if plan is None:
            plan = ObjectiveGradient(self._chol, with_x=reml)
            self._gradient_plans[reml] = plan
        return plan

    def gradient_is_cheap(self, reml: bool | None = None) -> bool:
        """Whether an analytic gradient costs little next to an evaluation (the dense
        part of the factor that it inverts is small)."""
        order, flops = gradient_cost(self._chol, self.reml if reml is None else reml)
        return order <= GRADIENT_MAX_ORDER and flops <= GRADIENT_MAX_FLOPS

    def evaluate(self, theta: np.ndarray) -> Evaluation:
        """Everything the factor gives at ``theta``: the pieces of the criterion, beta,
        and vcov(beta) / sigma^2. For inference code that needs them as functions of
        theta (derivatives for Satterthwaite, profiles)."""
        theta = np.asarray(theta, dtype=float)
        if self._update_factor(theta) is None:
            raise MixedModelsError(f"the model cannot be evaluated at theta = {theta}")
        chol = self._chol
        return Evaluation(
            theta=theta.copy(),
            pwrss=chol.pwrss(),
            ldL2=chol.logdet_random(),
            ldRX2=chol.logdet_fixed(),
            log_weights=self.log_weights,
            n=self.n,
            p=self.p,
            beta=chol.fixed_effects(),
            vcov_unscaled=chol.fixed_precision_inverse(),
        )

    def _objective_from_factor(self, reml: bool, chol: Any = None) -> float:
        chol = self._chol if chol is None else chol
        r2 = chol.pwrss()
        nmp = self.n - self.p
        if not r2 > 0 or (reml and nmp <= 0):  # REML needs residual degrees of freedom
            return math.inf
        ld = chol.logdet_random() - self.log_weights
        if reml:
            return ld + chol.logdet_fixed() + nmp * (1.0 + math.log(2.0 * math.pi * r2 / nmp))
        return ld + self.n * (1.0 + math.log(2.0 * math.pi * r2 / self.n))

    # ------------------------------------------------------------------ fitting
    def fit(self, *, start: np.ndarray | None = None, check: bool = True) -> LmerFit:
        """Optimise theta and return the fitted model.

        A model is fitted once; use ``LmerFit.refit`` or ``LmerFit.update`` for more.
        """
        from mixedmodels.fit import LmerFit

        if self._fitted:
            raise MixedModelsError("this model has been fitted already; use refit() or update()")
        self._fitted = True
        estimate = None
        if start is None:
            estimate = self.moment_start()
            x0 = self.initial_theta() if estimate is None else estimate
        else:
            x0 = np.asarray(start, dtype=float)
        if x0.shape != self.lower.shape:
            raise MixedModelsError(f"start must have {self.ntheta} values, not {x0.shape}")
        with self.blas_threads():
            objective, gradient, hessian = self._optimised_functions()
            opt = minimize(objective, x0, self.lower, check=check,
                           scale=self.theta_scale(), gradient=gradient, hessian=hessian,
                           canonical=self.canonical_theta, rotate=self.rotated_theta,
                           quasi_newton=len(self.A.diag) >= GRADIENT_MIN_TERMS,
                           close_start=estimate is not None)
            return LmerFit.from_model(self, opt.final, opt, self.fit_warnings(opt),
                                      factor=self._small_factor)

    def _optimised_functions(self) -> tuple[Any, Any, Any]:
        """The objective, its gradient and its Hessian for the optimiser (None where
        there is none).

        Small models (the whole factor of order at most ``DENSE_MAX_ORDER``) are
        evaluated with one dense factor (linalg/dense_factor.py), gradient and Hessian
        included, and optimised by Newton iterations; the fit's estimates are read
        from that factor too (``self._small_factor``; None for other models).
        """
        self._small_factor = None
        if self.ntheta and self._dense_order() <= DENSE_MAX_ORDER:
            return self._dense_functions()
        gradient = self.objective_gradient if self.gradient_is_cheap() else None
        return self.objective, gradient, None

    def _dense_order(self) -> int:
        """The order of the whole factor L (random effects, fixed effects, response)."""
        return sum(d.shape[0] * d.shape[1] for d in self.A.diag) + self.p + 1

    def _dense_functions(self) -> tuple[Any, Any, Any]:
        dense = self._small_factor = DenseFactor(self.A, self._layout)
        reml = self.reml
        nn = self.n - self.p if reml else self.n
        nan_g = np.full(self.ntheta, np.nan)
        nan_h = np.full((self.ntheta, self.ntheta), np.nan)

        def evaluate(theta: np.ndarray, derivatives: Any, nans: tuple) -> tuple:
            """The objective and ``derivatives()`` at theta (``nans`` where undefined)."""
            if not dense.update(theta):
                return (math.inf, *nans)
            f = self._objective_from_factor(reml, dense)
            if not math.isfinite(f):
                return (f, *nans)
            try:
                return (f, *derivatives())
            except np.linalg.LinAlgError:
                return (f, *nans)

        def objective(theta: np.ndarray) -> float:
            return evaluate(theta, tuple, ())[0]

        def objective_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
            return evaluate(theta, lambda: (dense.gradient(reml, nn),), (nan_g,))

        def derivatives(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            return evaluate(theta, lambda: dense.derivatives(reml, nn), (nan_g, nan_h))

        return objective, objective_gradient, derivatives

    def blas_threads(self) -> contextlib.AbstractContextManager[Any]:
        """A context limiting BLAS to one thread when every dense block is small, and
        otherwise numpy's own BLAS (where it is a library apart from SciPy's).

        The large dense kernels (``potrf``, ``potri``, ``trsm``, ``syrk``) are SciPy's;
        numpy's products here are small. Two thread pools of two threads on two cores
        fight: an OpenBLAS pool keeps spinning after its call returns, and InstEval's
        evaluation took 22-28 ms after a gradient instead of 12 ms (d3: 100-155 ms
        instead of 46 ms), with numpy's pool at one thread they did not.
        """
        # (no dense block of L is larger than the whole L)
        if (self._dense_order() < BLAS_THREADS_MIN_ORDER
                or self._chol.largest_dense_order() < BLAS_THREADS_MIN_ORDER):
            return _OneBlasThread(_blas_libraries())
        return _OneBlasThread(_numpy_blas_libraries())

    def fit_warnings(self, opt: Any) -> list[str]:
        """The messages lme4 would give (design messages, singular fit, convergence)."""
        messages = list(self.design_messages())
        if self.is_singular(opt.final):
            messages.append("boundary (singular) fit: see help('isSingular')")
        if opt.check is not None:
            messages.extend(f"Model failed to converge: {m}" for m in opt.check.messages)
        return messages

    def design_messages(self) -> list[str]:
        """Messages about the design: dropped columns and predictor scales."""
        messages = []
        dropped = self.design.dropped
        if dropped:
            messages.append(rank_deficiency_message(dropped))
        if _scales_differ(self.design.X):
            messages.append(
                "Some predictor variables are on very different scales: consider rescaling"
            )
        return messages

    def is_singular(self, theta: np.ndarray) -> bool:
        """lme4's isSingular: a template diagonal element (bounded by 0) below 1e-4."""
        bounded = np.isfinite(self.lower)
        relative = theta[bounded] / self.theta_scale()[bounded]
        return bool(np.any(relative < SINGULAR_TOL))


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """Finding the loaded BLAS libraries takes milliseconds: do it once."""
    return ThreadpoolController()


@functools.cache
def _blas_libraries() -> tuple[Any, ...]:
    """threadpoolctl's controllers of the loaded BLAS libraries (numpy's and SciPy's)."""
    return tuple(lib for lib in _blas_controller().lib_controllers if lib.user_api == "blas")


@functools.cache
def _numpy_blas_libraries() -> tuple[Any, ...]:
    """The BLAS libraries that numpy loaded for itself (none where numpy and SciPy
    share one)."""
    scipy_dirs = ("scipy.libs", f"scipy{os.sep}")
    return tuple(lib for lib in _blas_libraries()
                 if "numpy" in lib.filepath and not any(d in lib.filepath for d in scipy_dirs))


class _OneBlasThread(contextlib.AbstractContextManager):
    """One thread for the given BLAS libraries inside the context, the previous counts
    restored on exit.

    What ``threadpool_limits(1, user_api="blas")`` does, for libraries found once
    (:func:`_blas_libraries`): threadpoolctl's context re-reads every library's
    information on each entry (15 us, twice per ``lmer`` call; this costs 5 us), and
    a library already at one thread is left alone.
    """

    def __init__(self, libraries: tuple[Any, ...]) -> None:
        self.libraries = libraries

    def __enter__(self) -> _OneBlasThread:
        self._restore = []
        for lib in self.libraries:
            n = lib.get_num_threads()
            if n != 1:
                lib.set_num_threads(1)
                self._restore.append((lib, n))
        return self

    def __exit__(self, *exc: object) -> None:
        for lib, n in self._restore:
            lib.set_num_threads(n)


def _design_blas_threads(data: Any) -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread while the design of a data frame of fewer than
    ``DESIGN_BLAS_THREADS_MIN_ROWS`` rows is built."""
    shape = getattr(data, "shape", None)
    if shape and isinstance(shape[0], int) and shape[0] < DESIGN_BLAS_THREADS_MIN_ROWS:
        return _OneBlasThread(_blas_libraries())
    return contextlib.nullcontext()


def _scales_differ(X: np.ndarray) -> bool:
    """lme4's check of predictor scales over the non-binary columns of X."""
    if X.shape[0] < 2:
        return False
    # (X == 0) | (X == 1) is what np.isin(X, (0.0, 1.0)) computes, without its set-up
    binary = ((X == 0.0) | (X == 1.0)).all(axis=0)
    cols = X[:, ~binary]
    # np.std(cols, axis=0, ddof=1), step by step as numpy computes it (its Python
    # wrapper costs more than the arithmetic on a small design)
    dev = cols - cols.sum(axis=0, keepdims=True) / X.shape[0]
    sds = np.sqrt((dev * dev).sum(axis=0) / (X.shape[0] - 1))
    sds = sds[sds > 0]
    if len(sds) == 0:
        return False
    # a scale beyond the limit either way, or two scales whose ratio is (the largest
    # ratio is that of the largest and the smallest)
    logs = np.log(sds)
    hi, lo = float(logs.max()), float(logs.min())
    limit = math.log(SCALE_RATIO_TOL)
    return hi > limit or -lo > limit or hi - lo > limit


def _frame_name(data: Any) -> str:
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict) and isinstance(attrs.get("name"), str):
        return attrs["name"]
    return "data"


def lmer(
    formula: str,
    data: Any,
    *,
    reml: bool = True,
    weights: Any = None,
    offset: Any = None,
    start: np.ndarray | None = None,
    data_name: str | None = None,
    allow_python: bool = False,
) -> LmerFit:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Parameters
    ----------
    formula : str
        An lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : DataFrame, dask.dataframe.DataFrame or str
        pandas DataFrame (polars and pyarrow tables are converted); or a Dask data
        frame, or a path, glob or list of paths of Parquet files (read lazily with
        Dask): the fit is then exact and no rows reach this process (needs
        ``pip install 'mixedmodels[dask]'``; see ``mixedmodels.distributed``).
    reml : bool
        REML (default) or maximum likelihood.
    weights : array-like or str, optional
        Prior weights (a column name or an array with one value per row).
    offset : array-like or str, optional
        A known component of the linear predictor.
    start : ndarray, optional
        Starting theta.
    data_name : str, optional
        Name shown as ``Data:`` in the summary.
    allow_python : bool
        Formulas are not code: by default only column names, numbers and a fixed list
        of transforms (log, exp, sqrt, scale, poly, I(), C(), ...) are evaluated, so a
        formula from an untrusted source cannot run anything. True restores formulaic's
        full Python evaluation, for trusted formulas only.

    Returns
    -------
    LmerFit

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> round(fit.objective, 1)
    1743.6
    """
    if is_distributed_input(data):
        # Dask data frames and Parquet paths: A is reduced over partitions (distributed/).
        from mixedmodels.distributed import model_from_formula

        model: LinearMixedModel = model_from_formula(
            formula, data, reml=reml, weights=weights, offset=offset, data_name=data_name,
            allow_python=allow_python,
        )
    else:
        model = LinearMixedModel.from_formula(
            formula, data, reml=reml, weights=weights, offset=offset, data_name=data_name,
            allow_python=allow_python,
        )
    fit = model.fit(start=start)
    for message in fit.warnings:
        warnings.warn(message, stacklevel=2)
    return fit
