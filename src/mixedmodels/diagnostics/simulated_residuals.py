"""Simulation-based scaled quantile residuals and their tests (as R's DHARMa).

For each observation, the residual is the share of responses simulated from the fitted
model that fall below the observed one (a randomised probability integral transform:
ties are split by a uniform draw). If the model is right, the residuals are uniform on
(0, 1) whatever the response distribution, so one set of checks serves every model:

* uniformity: Kolmogorov-Smirnov test against U(0, 1) (DHARMa's ``testUniformity``);
* dispersion: the spread of the observed responses around the predictions against the
  spread of the simulated ones (``testDispersion``, type "DHARMa");
* outliers: the number of observations outside every simulated value against the
  binomial count expected, with probability 2 / (nsim + 1) each (``testOutliers``);
* quantiles: whether the residuals' quartiles change along the predictions (a binned
  stand-in for DHARMa's quantile-regression ``testQuantiles``, calibrated by simulation
  because residuals of one group are correlated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.errors import MixedModelsError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mixedmodels.fit import LmerFit

__all__ = ["SimulatedResiduals", "TestResult", "simulated_residuals"]


@dataclass(frozen=True)
class TestResult:
    """One test on the simulated residuals.

    Attributes
    ----------
    name : str
        Which test.
    statistic : float
        KS distance, dispersion ratio, observed outlier count or chi-square statistic.
    p_value : float
        Two-sided p-value.
    details : dict
        Further numbers (expected outlier count, per-quantile p-values, ...).
    """

    name: str
    statistic: float
    p_value: float
    details: dict[str, float] = field(default_factory=dict)

    def passed(self, alpha: float = 0.05) -> bool:
        """True when the test does not reject at level ``alpha``."""
        return bool(self.p_value >= alpha)


@dataclass(frozen=True, eq=False)
class SimulatedResiduals:
    """Scaled quantile residuals of a fit, with the simulations they came from.

    Attributes
    ----------
    residuals : Series
        Scaled residuals in [0, 1], one per observation.
    observed : ndarray (n,)
        The response.
    simulated : ndarray (n, nsim)
        Responses simulated from the fit.
    predicted : ndarray (n,)
        The predictions the residuals are plotted against: population-level
        (``re_form="~0"``) when every random effect is simulated anew, conditional on
        the kept terms otherwise.
    nsim : int
    re_form : str or None
    """

    residuals: pd.Series
    observed: np.ndarray = field(repr=False)
    simulated: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    nsim: int
    re_form: str | None = None

    def test_uniformity(self) -> TestResult:
        """Kolmogorov-Smirnov test of the residuals against U(0, 1)."""
        from scipy import stats

        res = stats.kstest(self.residuals.to_numpy(), "uniform")
        return TestResult("uniformity (KS)", float(res.statistic), float(res.pvalue))

    def test_dispersion(self) -> TestResult:
        """Observed spread around the predictions over the mean simulated spread.

        The statistic is ``var(y - predicted) / mean_s var(y_s - predicted)``: above 1
        means more variation than the model produces, below 1 less. The p-value is
        two-sided: twice the smaller tail share of simulated spreads beyond the observed.
        """
        observed = float(np.var(self.observed - self.predicted, ddof=1))
        simulated = np.var(self.simulated - self.predicted[:, None], axis=0, ddof=1)
        ratio = observed / float(np.mean(simulated))
        upper = float(np.mean(simulated >= observed))
        lower = float(np.mean(simulated <= observed))
        p = min(1.0, 2.0 * min(upper, lower))
        return TestResult("dispersion", ratio, p,
                          {"observed_spread": observed,
                           "mean_simulated_spread": float(np.mean(simulated))})

    def test_outliers(self) -> TestResult:
        """Binomial test of the number of residuals at 0 or 1 (outside every simulation).

        Each observation falls outside all ``nsim`` simulations with probability
        ``2 / (nsim + 1)`` when the model is right.
        """
        from scipy import stats

        res = self.residuals.to_numpy()
        low = int(np.sum(res <= 0.0))
        high = int(np.sum(res >= 1.0))
        count = low + high
        n = len(res)
        prob = 2.0 / (self.nsim + 1.0)
        p = stats.binomtest(count, n, prob, alternative="two-sided").pvalue
        return TestResult("outliers", float(count), float(p),
                          {"expected": n * prob, "below": float(low), "above": float(high)})

    def test_quantiles(self, bins: int | None = None,
                       quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)) -> TestResult:
        """Do the residuals' quantiles change along the predictions?

        The observations are split into ``bins`` groups by the rank of their prediction;
        for each quantile q, the counts of residuals below q in each group are compared
        with their expectation ``size * q`` by a chi-square statistic, summed over the
        quantiles. Residuals of one group are correlated (they share its random
        effects), so the statistic is referred to its simulated distribution rather
        than to a chi-square: each simulated response's own residuals (its rank among
        the other simulations) give one draw of the statistic under the model, and the
        p-value is ``(1 + #{draws >= observed}) / (1 + nsim)``.

        Parameters
        ----------
        bins : int, optional
            Number of groups (default: n / 25, between 2 and 10).
        quantiles : tuple of float
        """
        from scipy import stats

        res = self.residuals.to_numpy()
        n = len(res)
        if bins is None:
            bins = int(min(10, max(2, n // 25)))
        ranks = stats.rankdata(self.predicted, method="ordinal") - 1
        group = (ranks * bins // n).astype(int)
        sizes = np.bincount(group, minlength=bins).astype(float)
        qs = np.asarray(quantiles, dtype=float)

        def statistic(values: np.ndarray) -> np.ndarray:
            """Chi-square statistic of each column of ``values`` (n, m)."""
            total = np.zeros(values.shape[1])
            for q in qs:
                below = np.zeros((bins, values.shape[1]))
                np.add.at(below, group, (values < q).astype(float))
                expected = (sizes * q)[:, None]
                total += np.sum((below - expected) ** 2 / (expected * (1.0 - q)), axis=0)
            return total

        observed = float(statistic(res[:, None])[0])
        reference = statistic(self.reference_residuals())
        p = (1.0 + float(np.sum(reference >= observed))) / (1.0 + len(reference))
        details = {"bins": float(bins)}
        for q in qs:
            below = np.bincount(group, weights=(res < q).astype(float), minlength=bins)
            chi = float(np.sum((below - sizes * q) ** 2 / (sizes * q * (1.0 - q))))
            details[f"chi2_{q:g}"] = chi
        return TestResult("quantiles", observed, p, details)

    def reference_residuals(self) -> np.ndarray:
        """Scaled residuals of each simulated response against the other simulations.

        Column s holds, for every observation, the share of the other ``nsim - 1``
        simulations and the observed response that lie below simulation s: draws of the
        residuals when the model is right, with the same dependence between
        observations.

        Returns
        -------
        ndarray (n, nsim)
        """
        both = np.column_stack([self.observed, self.simulated])
        order = np.argsort(both, axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(both.shape[1])[None, :], axis=1)
        return ranks[:, 1:] / float(self.nsim)

    def tests(self) -> pd.DataFrame:
        """Every test as a table: statistic and p-value, one row per test."""
        results = [self.test_uniformity(), self.test_dispersion(), self.test_outliers(),
                   self.test_quantiles()]
        return pd.DataFrame({"statistic": [r.statistic for r in results],
                             "p_value": [r.p_value for r in results]},
                            index=pd.Index([r.name for r in results], name="test"))

    def plot(self) -> Figure:
        """QQ plot against U(0, 1) and residuals against predicted ranks."""
        from mixedmodels.plots.simulated import plot_simulated_residuals

        return plot_simulated_residuals(self)


def scaled_quantile_residuals(observed: np.ndarray, simulated: np.ndarray,
                              rng: np.random.Generator) -> np.ndarray:
    """Randomised PIT: share of simulations below each observation, ties split uniformly.

    Parameters
    ----------
    observed : ndarray (n,)
    simulated : ndarray (n, nsim)
    rng : numpy Generator
        Draws the uniform position within ties.

    Returns
    -------
    ndarray (n,)
        Values in [0, 1].
    """
    nsim = simulated.shape[1]
    below = np.sum(simulated < observed[:, None], axis=1)
    ties = np.sum(simulated == observed[:, None], axis=1)
    return (below + rng.uniform(size=len(observed)) * ties) / nsim


def simulated_residuals(fit: LmerFit, nsim: int = 250, seed: int | None = None,
                        re_form: str | None = None) -> SimulatedResiduals:
    """Scaled quantile residuals from responses simulated by the fitted model.

    Parameters
    ----------
    fit : LmerFit
    nsim : int
        Number of simulated responses (DHARMa's default 250).
    seed : int, optional
        Seed; the same seed gives the same residuals.
    re_form : str, optional
        Passed to ``fit.simulate``: None (default) draws every random effect anew
        (unconditional simulations, as DHARMa's default for lme4); a formula such as
        ``"~(1|Subject)"`` keeps those terms at their conditional modes.

    Returns
    -------
    SimulatedResiduals
    """
    if int(nsim) != nsim or nsim < 2:
        raise MixedModelsError(f"nsim must be an integer of at least 2, not {nsim!r}")
    nsim = int(nsim)
    rng = np.random.default_rng(seed)
    sim_seed = int(rng.integers(2**32))
    simulated = fit.simulate(nsim=nsim, seed=sim_seed, re_form=re_form).to_numpy()
    observed = np.asarray(fit.model.design.y, dtype=float)
    unconditional = re_form is None or re_form.replace(" ", "") in ("~0", "NA", "~-1", "")
    predicted = fit.predict(re_form="~0" if unconditional else re_form).to_numpy()
    res = scaled_quantile_residuals(observed, simulated, rng)
    return SimulatedResiduals(
        residuals=pd.Series(res, index=fit.fitted().index, name="scaled_residuals"),
        observed=observed, simulated=simulated, predicted=predicted, nsim=nsim,
        re_form=re_form,
    )
