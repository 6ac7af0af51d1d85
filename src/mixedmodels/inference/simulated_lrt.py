"""Likelihood-ratio tests with a simulated null distribution.

- :func:`simulated_lrt` (DHARMa's ``simulateLRT``): the statistic is the log-likelihood
  ratio ``logLik(m1) - logLik(m0)``; its null distribution comes from responses
  simulated from ``m0``, each refitted with both models; the p-value is the proportion
  of simulated ratios at least as large as the observed one.
- :func:`pb_test` (pbkrtest's ``PBmodcomp``): the statistic is ``2 (logLik_large -
  logLik_small)`` with both models fitted by ML; the reference distribution comes from
  simulations of the small model; the parametric-bootstrap p-value is ``(1 + #{t* >
  t_obs, t* > 0}) / (1 + #{t* > 0})``, reported beside the chi-square p-value.

``m0`` may be a linear model without random effects
(:func:`mixedmodels.inference.linear_model.lm`), the null model when testing whether a
random effect is needed. Simulations use :func:`~.bootstrap.run_replicates`, so they
are reproducible for a seed whatever ``n_jobs``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels.errors import DataError, MixedModelsError
from mixedmodels.inference.bootstrap import refit_response, run_replicates
from mixedmodels.inference.lrt import REFIT_MESSAGE, ml_version

__all__ = ["PBTest", "SimulatedLRT", "pb_test", "simulated_lrt"]


@dataclass(frozen=True)
class SimulatedLRT:
    """Result of :func:`simulated_lrt`.

    Attributes
    ----------
    statistic : float
        Observed log-likelihood ratio logLik(m1) - logLik(m0).
    p_value : float
        Proportion of simulated ratios >= the observed one.
    distribution : ndarray
        The simulated ratios (NaN for failed refits), for plotting.
    messages : list of str
    """

    statistic: float
    p_value: float
    distribution: np.ndarray
    messages: list[str]

    @property
    def nsim(self) -> int:
        return len(self.distribution)


@dataclass(frozen=True)
class PBTest:
    """Result of :func:`pb_test` (pbkrtest's ``PBmodcomp``).

    Attributes
    ----------
    statistic : float
        2 (logLik_large - logLik_small), ML fits.
    df : int
        Difference in number of parameters.
    p_value_chisq, p_value : float
        Chi-square and parametric-bootstrap p-values.
    distribution : ndarray
        Simulated statistics.
    """

    statistic: float
    df: int
    p_value_chisq: float
    p_value: float
    distribution: np.ndarray

    @property
    def table(self) -> pd.DataFrame:
        """pbkrtest's table: rows LRT and PBtest; columns stat, df, p.value."""
        return pd.DataFrame(
            {"stat": [self.statistic, self.statistic], "df": [float(self.df), np.nan],
             "p.value": [self.p_value_chisq, self.p_value]},
            index=["LRT", "PBtest"],
        )


@dataclass
class _PairLoglik:
    """Refit both models to y; the log-likelihood ratio (picklable)."""

    m0: Any
    m1: Any

    def __call__(self, y: np.ndarray) -> tuple[list[str], np.ndarray, list[str]]:
        f0 = refit_response(self.m0, y)
        f1 = refit_response(self.m1, y)
        return ["ll0", "ll1"], np.array([f0.loglik, f1.loglik]), []


def _check_pair(m0: Any, m1: Any) -> None:
    if m0.nobs != m1.nobs:
        raise DataError("the two models were fitted to different numbers of rows")
    y0 = m0.model.design.y if hasattr(m0, "model") else m0.design.y
    y1 = m1.model.design.y if hasattr(m1, "model") else m1.design.y
    if not np.array_equal(y0, y1):
        raise DataError("the two models were fitted to different responses")


def _fixed_differ(m0: Any, m1: Any) -> bool:
    d0 = m0.model.design if hasattr(m0, "model") else m0.design
    d1 = m1.model.design if hasattr(m1, "model") else m1.design
    return d0.X.shape != d1.X.shape or not np.allclose(d0.X, d1.X)


def simulated_lrt(m0: Any, m1: Any, nsim: int = 250, seed: int | None = None,
                  n_jobs: int = 1, progress: bool | None = None) -> SimulatedLRT:
    """Simulated likelihood-ratio test of ``m0`` (null) against ``m1`` (DHARMa's
    ``simulateLRT``).

    The fits keep their criterion (REML fits are refitted by REML, as ``refit`` does in
    R) unless the fixed effects differ, when both are refitted with ML first (REML
    likelihoods of different fixed effects are not comparable), with a message.

    Parameters
    ----------
    m0, m1 : LmerFit or LinearModelFit
        Null and alternative model, fitted to the same rows.
    nsim : int
        Number of simulations.
    seed, n_jobs, progress
        As :func:`mixedmodels.inference.bootstrap.bootstrap`.
    """
    _check_pair(m0, m1)
    messages: list[str] = []
    if (getattr(m0, "reml", False) or getattr(m1, "reml", False)) and (
            _fixed_differ(m0, m1) or not (getattr(m0, "reml", False)
                                          and getattr(m1, "reml", False))):
        messages.append(REFIT_MESSAGE)
        warnings.warn(REFIT_MESSAGE, UserWarning, stacklevel=2)
        m0, m1 = ml_version(m0), ml_version(m1)
    observed = m1.loglik - m0.loglik
    _, values, _ = run_replicates(m0, _PairLoglik(m0, m1), nsim, seed, n_jobs, progress,
                                  label="simulated LRT")
    dist = values[:, 1] - values[:, 0]
    ok = np.isfinite(dist)
    if not ok.any():
        raise MixedModelsError("every simulated refit failed")
    p = float(np.mean(dist[ok] >= observed))
    return SimulatedLRT(float(observed), p, dist, messages)


def pb_test(m0: Any, m1: Any, nsim: int = 1000, seed: int | None = None,
            n_jobs: int = 1, progress: bool | None = None) -> PBTest:
    """Parametric-bootstrap likelihood-ratio test (pbkrtest's ``PBmodcomp``).

    Parameters
    ----------
    m0, m1 : LmerFit or LinearModelFit
        The two nested models, in either order (the one with fewer parameters is the
        null model); REML fits are refitted with ML.
    nsim, seed, n_jobs, progress
        As :func:`mixedmodels.inference.bootstrap.bootstrap`.
    """
    _check_pair(m0, m1)
    if m0.npar == m1.npar:
        raise MixedModelsError("the models have the same number of parameters")
    small, large = (m0, m1) if m0.npar < m1.npar else (m1, m0)
    small, large = ml_version(small), ml_version(large)
    tobs = 2.0 * (large.loglik - small.loglik)
    df = int(large.npar - small.npar)
    _, values, _ = run_replicates(small, _PairLoglik(small, large), nsim, seed, n_jobs,
                                  progress, label="PB test")
    ref = 2.0 * (values[:, 1] - values[:, 0])
    ref = ref[np.isfinite(ref)]
    positive = ref[ref > 0]
    p_pb = (1.0 + np.sum(positive > tobs)) / (1.0 + len(positive))
    return PBTest(float(tobs), df, float(stats.chi2.sf(tobs, df)), float(p_pb), ref)
