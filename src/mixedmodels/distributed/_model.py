"""The model and the fit for data that is not in memory.

:class:`DistributedModel` is a :class:`~mixedmodels.model.LinearMixedModel` built from
A (``LinearMixedModel.from_cross_products``) that also holds the Dask frame and the
plan that replays the design on its partitions. Its fit is a
:class:`DistributedLmerFit`, an :class:`~mixedmodels.fit.LmerFit` whose row-wise
outputs are Dask collections and whose methods that need the rows in memory raise
:class:`~mixedmodels.errors.MixedModelsError`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.distributed._plan import RowPlan
from mixedmodels.distributed._reduce import Moments
from mixedmodels.distributed._rows import (
    RowOutput,
    SimulationTask,
    exact_quantiles,
    row_output,
    simulate_partition,
)
from mixedmodels.errors import MixedModelsError
from mixedmodels.fit import LmerFit
from mixedmodels.model import SCALE_RATIO_TOL, LinearMixedModel

__all__ = ["DistributedLmerFit", "DistributedModel", "RowsUnavailableError"]


class RowsUnavailableError(MixedModelsError):
    """A method that needs the rows in memory, called on a fit of Dask data."""


def _unavailable(what: str) -> RowsUnavailableError:
    return RowsUnavailableError(
        f"{what} needs the data's rows in memory, which a fit of Dask data does not hold; "
        "fit a pandas DataFrame (e.g. a sample, or ddf.compute()) for it"
    )


class DistributedModel(LinearMixedModel):
    """A linear mixed model whose rows stay in a Dask data frame.

    Built by :func:`mixedmodels.distributed.model_from_formula`; ``data`` is the Dask
    frame, ``plan`` replays the design on its partitions.
    """

    plan: RowPlan
    x_columns: np.ndarray
    x_moments: Moments
    x_binary: np.ndarray

    def attach(self, plan: RowPlan, x_columns: np.ndarray, moments: Moments,
               binary: np.ndarray) -> None:
        """Record the plan and the sums the design checks need."""
        self.plan = plan
        self.x_columns = np.asarray(x_columns, dtype=bool)
        self.x_moments = moments
        self.x_binary = np.asarray(binary, dtype=bool)

    def fit(self, *, start: np.ndarray | None = None, check: bool = True) -> DistributedLmerFit:
        """Optimise theta (on A only) and return the fit."""
        fit = super().fit(start=start, check=check)
        values = {f.name: getattr(fit, f.name) for f in dataclasses.fields(LmerFit)}
        return DistributedLmerFit(**values)

    def with_response(self, y: np.ndarray, reml: bool | None = None) -> LinearMixedModel:
        raise _unavailable("a new response (refit, bootstrap, profile)")

    def design_messages(self) -> list[str]:
        """Dropped columns and predictor scales (the scales from the column moments)."""
        messages = [m for m in super().design_messages()
                    if not m.startswith("Some predictor variables")]
        if self._scales_differ():
            messages.append(
                "Some predictor variables are on very different scales: consider rescaling"
            )
        return messages

    def _scales_differ(self) -> bool:
        """lme4's check of predictor scales over the non-binary columns of X."""
        keep = self.x_columns
        moments = self.x_moments
        n = moments.n
        if n < 2:
            return False
        variances = np.diagonal(moments.comoment)[:-1][keep] / (n - 1)
        binary = self.x_binary[keep]
        sds = np.sqrt(np.maximum(variances[~binary], 0.0))
        sds = sds[sds > 0]
        if len(sds) == 0:
            return False
        logs = np.abs(np.log(sds))
        ratios = np.abs(np.subtract.outer(np.log(sds), np.log(sds)))
        limit = math.log(SCALE_RATIO_TOL)
        return bool(np.any(logs > limit) or np.any(ratios > limit))


@dataclasses.dataclass(frozen=True, eq=False)
class DistributedLmerFit(LmerFit):
    """A fit of Dask data: the same numbers as :class:`LmerFit`; row-wise outputs are
    Dask collections, computed partition by partition when asked for.
    """

    @property
    def frame(self) -> Any:
        """The Dask data frame fitted."""
        return self.model.data

    def _output(self, terms: list[int] | None, kind: str = "predictor",
                scaled: bool = False, name: str = "fitted") -> RowOutput:
        model = self.model
        return RowOutput(
            plan=model.plan, keep=model.x_columns, beta=np.asarray(self.beta),
            b=tuple(self._b()),
            terms=tuple(self._all_terms() if terms is None else terms),
            kind=kind, sigma=float(self.sigma), scaled=scaled, name=name,
        )

    def _map_rows(self, out: RowOutput) -> Any:
        import dask

        meta = pd.Series([], dtype=float, name=out.name)
        return self.frame.map_partitions(row_output, dask.delayed(out, traverse=False),
                                         meta=meta)

    # ------------------------------------------------------------------ rows
    def fitted(self) -> Any:
        """Fitted values, a Dask Series (one value per row used, the rows' index)."""
        return self._map_rows(self._output(None))

    def residuals(self, kind: str = "response", scaled: bool = False) -> Any:
        """Residuals, a Dask Series; ``kind`` and ``scaled`` as for :class:`LmerFit`."""
        if kind not in ("response", "pearson"):
            raise ValueError(f"kind must be 'response' or 'pearson', not {kind!r}")
        return self._map_rows(self._output(None, kind=kind, scaled=scaled, name="residuals"))

    def predict(self, newdata: Any = None, re_form: str | None = None,
                allow_new_levels: bool = False) -> Any:
        """Predictions: a Dask Series for the fitted rows (``newdata=None``) or a Dask
        ``newdata``; a pandas Series for a pandas ``newdata``."""
        terms = self._terms_in(re_form)
        if newdata is None:
            return self._map_rows(self._output(terms, name="predict"))
        from mixedmodels.distributed import is_distributed_input

        if not is_distributed_input(newdata):
            return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)
        import dask

        from mixedmodels.distributed._build import as_dask_frame

        frame = as_dask_frame(newdata)
        model = self.model
        offset = model.fit_options.get("offset") if model.design.offset is not None else None
        task = _PredictTask(model.design, tuple(model.reterms[j] for j in terms),
                            tuple(self._b()[j] for j in terms), np.asarray(self.beta), offset,
                            allow_new_levels)
        meta = pd.Series([], dtype=float, name="predict")
        return frame.map_partitions(_predict_partition, dask.delayed(task, traverse=False),
                                    meta=meta)

    def simulate(self, nsim: int = 1, seed: int | None = None,
                 re_form: str | None = None) -> Any:
        """Simulated responses, a Dask DataFrame (columns ``sim_1`` ...).

        The random effects are drawn on the client from ``seed``; the residual noise of
        each partition from ``(seed, partition number)``, so the result does not
        depend on where or how often a partition is computed. With the same seed the
        numbers differ from an in-memory fit's simulation (another order of draws).
        """
        import dask

        if nsim < 1:
            raise ValueError("nsim must be at least 1")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (1 << 63))
        rng = np.random.default_rng(seed)
        kept = [] if re_form is None else self._terms_in(re_form)
        model = self.model
        lams = model.lambdas(self.theta)
        redrawn = tuple(j for j in range(len(model.reterms)) if j not in kept)
        draws = []
        for _ in range(nsim):
            per_term: list[np.ndarray | None] = [None] * len(model.reterms)
            for j in redrawn:
                k = lams[j].shape[0]
                levels = len(model.reterms[j].levels)
                per_term[j] = self.sigma * rng.standard_normal((levels, k)) @ lams[j].T
            draws.append(tuple(per_term))
        task = SimulationTask(self._output(kept, name="simulate"), tuple(draws), redrawn,
                              int(rng.integers(1 << 62)))
        meta = pd.DataFrame({f"sim_{s + 1}": pd.Series([], dtype=float) for s in range(nsim)})
        return self.frame.map_partitions(simulate_partition, dask.delayed(task, traverse=False),
                                         meta=meta)

    def scaled_residual_quantiles(self) -> list[float] | None:
        """Min, 1Q, median, 3Q, max of the scaled Pearson residuals, exactly, in two
        passes over the partitions."""
        out = self._output(None, kind="pearson", scaled=True, name="residuals")
        return exact_quantiles(self.frame.to_delayed(), out, [0.0, 0.25, 0.5, 0.75, 1.0])

    # ------------------------------------------------------------------ not available
    def coef_table(self, ddf: str | None = "satterthwaite", level: float = 0.95) -> pd.DataFrame:
        from mixedmodels.inference.contest import normalize_ddf

        if normalize_ddf(ddf) == "kenward-roger":
            raise _unavailable("Kenward-Roger's method (it needs Z and X)")
        return super().coef_table(ddf=ddf, level=level)

    def refit(self, y: Any) -> LmerFit:
        raise _unavailable("refit()")

    def save(self, path: Any) -> Any:
        raise _unavailable("save() (the saved fit holds its rows)")

    def anova(self, type: int | str = 3, ddf: str = "satterthwaite") -> pd.DataFrame:  # noqa: A002
        raise _unavailable("anova() of one model (its contrasts are built from X)")

    def r2(self) -> pd.Series:
        raise _unavailable("r2()")

    def icc(self) -> pd.Series:
        raise _unavailable("icc()")

    def confint(self, parm: list[str] | None = None, method: str = "profile",
                level: float = 0.95, nsim: int = 500, seed: int | None = None,
                n_jobs: int = 1, progress: bool | None = None) -> pd.DataFrame:
        if method != "wald":
            raise _unavailable(f"confint(method={method!r}) (use method='wald')")
        return super().confint(parm=parm, method=method, level=level)

    def profile(self, which: list[str] | None = None) -> pd.DataFrame:
        raise _unavailable("profile()")

    def bootstrap(self, nsim: int, seed: int | None = None, n_jobs: int = 1,
                  statistic: Any = None, progress: bool | None = None) -> Any:
        raise _unavailable("bootstrap()")

    def predict_interval(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        raise _unavailable("predict_interval()")

    def drop1(self, test: str = "F", ddf: str = "satterthwaite") -> pd.DataFrame:
        raise _unavailable("drop1()")

    def ranova(self, reduce_terms: bool = True) -> pd.DataFrame:
        raise _unavailable("ranova()")

    def simulated_residuals(self, *args: Any, **kwargs: Any) -> Any:
        raise _unavailable("simulated_residuals()")

    def report(self, *args: Any, **kwargs: Any) -> Any:
        raise _unavailable("report() (its plots show the rows)")


@dataclasses.dataclass(frozen=True)
class _PredictTask:
    """What ``predict`` needs on a partition of new data (no rows, no factor)."""

    design: Any
    reterms: tuple[Any, ...]
    b: tuple[np.ndarray, ...]
    beta: np.ndarray
    offset: str | None
    allow_new_levels: bool


def _predict_partition(frame: pd.DataFrame, task: _PredictTask) -> pd.Series:
    """``LmerFit.predict`` on one partition of new data."""
    from mixedmodels.design import fixed_matrix, reterm_matrix

    if not len(frame):
        return pd.Series([], dtype=float, name="predict", index=frame.index)
    eta = fixed_matrix(task.design, frame) @ task.beta
    if task.offset is not None:
        if task.offset not in frame.columns:
            raise MixedModelsError(
                f"the model has an offset: new data needs its column {task.offset!r}")
        eta = eta + np.asarray(frame[task.offset], dtype=float)
    for term, b in zip(task.reterms, task.b, strict=True):
        codes, z = reterm_matrix(term, frame, task.allow_new_levels)
        known = codes >= 0
        contrib = np.zeros(len(codes))
        contrib[known] = np.einsum("nk,nk->n", z[known], b[codes[known]])
        eta = eta + contrib
    return pd.Series(eta, index=frame.index, name="predict")
