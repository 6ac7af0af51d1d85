"""Parametric bootstrap of a linear mixed model (lme4's ``bootMer``).

Each replicate simulates a response from the fitted model (new random effects and new
noise, as :meth:`LmerFit.simulate`), refits the same model to it, reusing the model's
structure (only the ``[X y]`` blocks of A are rebuilt; the optimiser starts at the
fitted theta), and records a statistic of the refit.

Reproducibility: replicate i draws its response from its own generator, seeded by the
i-th child of ``numpy.random.SeedSequence(seed)`` (``SeedSequence.spawn``). Which
process runs a replicate does not matter, so the replicates are identical for any
``n_jobs``. Processes get the fit once (a pool initializer) and then only replicate
indices and seeds.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels.errors import MixedModelsError

__all__ = [
    "BootstrapResult",
    "bootstrap",
    "default_statistic",
    "percentile_interval",
    "predict_interval",
    "run_replicates",
]


# ---------------------------------------------------------------------------- statistics
def default_statistic(fit: Any) -> pd.Series:
    """lme4's ``confint(method = "boot")`` statistic: ``.sig01`` ... (standard
    deviations and correlations of the random effects, in theta's order), ``.sigma``,
    then the fixed effects."""
    from mixedmodels.inference.profile import sdcor_names

    return pd.Series(_default_values(fit),
                     index=sdcor_names(fit) + list(fit.model.design.xnames))


def _default_values(fit: Any) -> np.ndarray:
    """The values of :func:`default_statistic` (no Series: once per replicate)."""
    from mixedmodels.inference.profile import sdcor_values

    return np.concatenate([sdcor_values(fit.model, fit.theta, fit.sigma), fit.beta])


def _as_values(result: Any) -> tuple[list[str], np.ndarray]:
    if isinstance(result, pd.Series):
        return [str(i) for i in result.index], result.to_numpy(dtype=float)
    if isinstance(result, dict):
        return [str(k) for k in result], np.array(list(result.values()), dtype=float)
    arr = np.atleast_1d(np.asarray(result, dtype=float)).ravel()
    if arr.size == 1:
        return ["statistic"], arr
    return [f"statistic_{i + 1}" for i in range(arr.size)], arr


# ---------------------------------------------------------------------------- progress
class _Progress:
    """A one-line text progress bar on stderr (only when enabled)."""

    def __init__(self, total: int, enabled: bool, label: str = "bootstrap") -> None:
        self.total = total
        self.enabled = enabled
        self.label = label
        self.done = 0
        self._last = -1

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        percent = int(100 * self.done / max(self.total, 1))
        if percent == self._last and self.done < self.total:
            return
        self._last = percent
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _progress_enabled(progress: bool | None) -> bool:
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


# ---------------------------------------------------------------------------- engine
def refit_response(fit: Any, y: np.ndarray) -> Any:
    """The same model fitted to response ``y`` (Z blocks reused, start at the fit's
    theta); linear models (no random effects) are refitted by least squares."""
    if hasattr(fit, "model"):
        return fit.model.with_response(y).fit(start=fit.theta)
    return fit.refit(y)


def simulate_response(fit: Any, rng: np.random.Generator) -> np.ndarray:
    """One response simulated from ``fit`` with generator ``rng``."""
    values = getattr(fit, "_simulate_values", None)
    if values is not None:  # the same draws as fit.simulate, without the data frame
        return values(1, rng)[:, 0]
    return fit.simulate(1, seed=rng).iloc[:, 0].to_numpy()


@dataclass
class _Statistic:
    """Refit ``fit`` to y and apply ``statistic`` (picklable)."""

    fit: Any
    statistic: Callable[[Any], Any] | None = None
    _names: list[str] | None = field(default=None, init=False, repr=False)

    def __call__(self, y: np.ndarray) -> tuple[list[str], np.ndarray, list[str]]:
        refit = refit_response(self.fit, y)
        if self._names is None:
            names, values = _as_values(default_statistic(refit))
            self._names = names
        else:  # every refit has the same structure, hence the same names
            names, values = list(self._names), _default_values(refit)
        if self.statistic is not None:
            extra_names, extra = _as_values(self.statistic(refit))
            names, values = names + extra_names, np.concatenate([values, extra])
        return names, values, list(getattr(refit, "warnings", ()))


_WORKER: dict[str, Any] = {}


def _init_worker(source: Any, evaluate: Callable) -> None:
    _WORKER["source"] = source
    _WORKER["evaluate"] = evaluate


def _run_chunk(items: list[tuple[int, np.random.SeedSequence]]) -> list[tuple]:
    return [_one(_WORKER["source"], _WORKER["evaluate"], i, seq) for i, seq in items]


def _one(source: Any, evaluate: Callable, i: int, seq: np.random.SeedSequence) -> tuple:
    y = simulate_response(source, np.random.default_rng(seq))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names, values, messages = evaluate(y)
    except (MixedModelsError, np.linalg.LinAlgError, FloatingPointError) as err:
        return i, None, None, [f"failed: {err}"]
    return i, names, values, messages


def run_replicates(
    source: Any, evaluate: Callable[[np.ndarray], tuple[list[str], np.ndarray, list[str]]],
    nsim: int, seed: int | None = None, n_jobs: int = 1, progress: bool | None = None,
    label: str = "bootstrap",
) -> tuple[list[str], np.ndarray, list[list[str]]]:
    """Simulate ``nsim`` responses from ``source`` and apply ``evaluate`` to each.

    Returns the value names, an (nsim, k) array (NaN rows for failed replicates) and
    each replicate's messages. Replicate i uses ``SeedSequence(seed).spawn(nsim)[i]``.
    """
    if not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise MixedModelsError(f"nsim must be a positive integer, not {nsim!r}")
    seqs = np.random.SeedSequence(seed).spawn(int(nsim))
    items = list(enumerate(seqs))
    n_jobs = _resolve_jobs(n_jobs)
    bar = _Progress(nsim, _progress_enabled(progress), label)
    results: list[tuple] = []
    if n_jobs == 1 or nsim == 1:
        for i, seq in items:
            results.append(_one(source, evaluate, i, seq))
            bar.update(1)
    else:
        size = max(1, min(25, math.ceil(nsim / (4 * n_jobs))))
        chunks = [items[k:k + size] for k in range(0, nsim, size)]
        context = _context()
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context,
                                 initializer=_init_worker,
                                 initargs=(source, evaluate)) as pool:
            futures = [pool.submit(_run_chunk, chunk) for chunk in chunks]
            for future in as_completed(futures):
                part = future.result()
                results.extend(part)
                bar.update(len(part))
    results.sort(key=lambda r: r[0])
    names = next((r[1] for r in results if r[1] is not None), None)
    if names is None:
        raise MixedModelsError(f"all {nsim} replicates failed: {results[0][3]}")
    values = np.full((nsim, len(names)), np.nan)
    messages = []
    for i, _names, rvalues, msgs in results:
        if rvalues is not None and len(rvalues) == len(names):
            values[i] = rvalues
        messages.append(list(msgs))
    return list(names), values, messages


def _resolve_jobs(n_jobs: int) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def _context() -> Any:
    """fork where available (the fit and a user's statistic need not be picklable),
    the platform's default elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


# ---------------------------------------------------------------------------- results
def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval as the ``boot`` package computes it (``norm.inter``).

    With R finite replicates sorted, the alpha point is the order statistic
    ``(R + 1) alpha`` when that is an integer, otherwise an interpolation between the
    neighbouring order statistics on the normal-quantile scale.
    """
    t = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    R = len(t)
    if R == 0:
        return math.nan, math.nan
    out = []
    for alpha in ((1 - level) / 2, (1 + level) / 2):
        rk = (R + 1) * alpha
        k = int(math.floor(rk))
        if k == rk:
            out.append(t[min(max(k, 1), R) - 1])
        elif k <= 0:
            out.append(t[0])
        elif k >= R:
            out.append(t[R - 1])
        else:
            z, z1, z2 = (stats.norm.ppf(alpha), stats.norm.ppf(k / (R + 1)),
                         stats.norm.ppf((k + 1) / (R + 1)))
            out.append(t[k - 1] + (z - z1) / (z2 - z1) * (t[k] - t[k - 1]))
    return float(out[0]), float(out[1])


def _pct_label(a: float) -> str:
    return f"{100 * a:.3g} %"


@dataclass(frozen=True)
class BootstrapResult:
    """Replicates of a parametric bootstrap.

    Attributes
    ----------
    replicates : DataFrame
        One row per replicate (NaN for a failed refit); columns ``.sig01`` ...,
        ``.sigma``, the fixed effects, then any user statistic.
    observed : Series
        The same statistics on the original fit.
    seed : int or None
    messages : list of list of str
        Each replicate's fit messages (singular fits, convergence).
    """

    replicates: pd.DataFrame
    observed: pd.Series
    seed: int | None
    messages: list[list[str]] = field(repr=False)

    @property
    def nsim(self) -> int:
        return len(self.replicates)

    @property
    def n_failed(self) -> int:
        return int(self.replicates.isna().all(axis=1).sum())

    @property
    def n_singular(self) -> int:
        return sum(any("singular" in m for m in msgs) for msgs in self.messages)

    def percentile_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals of every column (``boot``'s interpolation), with R's
        column names (``"2.5 %"``, ``"97.5 %"``)."""
        if not 0 < level < 1:
            raise MixedModelsError(f"level must be between 0 and 1, not {level}")
        rows = [percentile_interval(self.replicates[c].to_numpy(), level)
                for c in self.replicates.columns]
        a = (1 - level) / 2
        return pd.DataFrame(rows, index=self.replicates.columns,
                            columns=[_pct_label(a), _pct_label(1 - a)])


def bootstrap(
    fit: Any,
    nsim: int,
    seed: int | None = None,
    n_jobs: int = 1,
    statistic: Callable[[Any], Any] | None = None,
    progress: bool | None = None,
) -> BootstrapResult:
    """Parametric bootstrap, as lme4's ``bootMer`` (``use.u = FALSE``, ``re.form = NA``).

    Parameters
    ----------
    fit : LmerFit
    nsim : int
        Number of replicates.
    seed : int, optional
        Seed of ``numpy.random.SeedSequence``; the replicates depend on it only (not on
        ``n_jobs``).
    n_jobs : int
        Processes to use (-1: all cores).
    statistic : callable, optional
        ``statistic(refit)`` -> float, array, dict or Series, recorded after the default
        columns. With ``n_jobs > 1`` on platforms without ``fork`` it must be picklable.
    progress : bool, optional
        Show a progress bar on stderr; default: only when stderr is a terminal.

    Returns
    -------
    BootstrapResult
    """
    if not hasattr(fit, "model"):
        raise MixedModelsError("bootstrap needs a fitted mixed model (LmerFit)")
    evaluate = _Statistic(fit, statistic)
    names, values, messages = run_replicates(fit, evaluate, nsim, seed, n_jobs, progress)
    obs_names, obs_values = _as_values(default_statistic(fit))
    if statistic is not None:
        extra_names, extra = _as_values(statistic(fit))
        obs_names, obs_values = obs_names + extra_names, np.concatenate([obs_values, extra])
    replicates = pd.DataFrame(values, columns=names)
    replicates.index.name = "replicate"
    return BootstrapResult(replicates, pd.Series(obs_values, index=obs_names), seed, messages)


@dataclass
class _Prediction:
    newdata: Any
    re_form: str | None
    allow_new_levels: bool

    def __call__(self, fit: Any) -> np.ndarray:
        return fit.predict(self.newdata, re_form=self.re_form,
                           allow_new_levels=self.allow_new_levels).to_numpy()


def predict_interval(
    fit: Any,
    newdata: pd.DataFrame | None = None,
    level: float = 0.95,
    nsim: int = 500,
    seed: int | None = None,
    method: str = "boot",
    re_form: str | None = None,
    allow_new_levels: bool = False,
    n_jobs: int = 1,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Predictions with parametric-bootstrap percentile intervals.

    Parameters
    ----------
    fit : LmerFit
    newdata : DataFrame, optional
        Rows to predict (the fitting rows by default).
    level : float
        Confidence level.
    nsim, seed, n_jobs, progress
        As :func:`bootstrap`.
    method : {"boot"}
        Only the parametric bootstrap is available.
    re_form, allow_new_levels
        As :meth:`LmerFit.predict` (``re_form="~0"``: population-level predictions).

    Returns
    -------
    DataFrame
        Columns ``fit`` (the prediction of the original fit), ``lower``, ``upper``.
    """
    if method != "boot":
        raise MixedModelsError(f"method must be 'boot', not {method!r}")
    stat = _Prediction(newdata, re_form, allow_new_levels)
    point = fit.predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)
    result = bootstrap(fit, nsim, seed=seed, n_jobs=n_jobs, statistic=stat, progress=progress)
    k = len(point)
    cols = result.replicates.columns[-k:] if k > 1 else ["statistic"]
    bounds = [percentile_interval(result.replicates[c].to_numpy(), level) for c in cols]
    out = pd.DataFrame({"fit": point.to_numpy(), "lower": [b[0] for b in bounds],
                        "upper": [b[1] for b in bounds]}, index=point.index)
    out.attrs["bootstrap"] = result
    return out

