"""The checks of a fit in plain words, with what to try when one fails.

Each check is a :class:`Check`: a title, whether it passed, what was found, and advice.
The report renders them; nothing here draws or formats HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mixedmodels.diagnostics import SimulatedResiduals
    from mixedmodels.fit import LmerFit

__all__ = ["Check", "fit_checks"]

FEW_LEVELS = 5


@dataclass(frozen=True)
class Check:
    """One check of the fit.

    Attributes
    ----------
    title : str
    ok : bool
    finding : str
        What was found, in plain words.
    advice : tuple of str
        What to try next (empty when the check passed).
    """

    title: str
    ok: bool
    finding: str
    advice: tuple[str, ...] = ()


def _singular_parts(fit: LmerFit) -> list[str]:
    """The variance components at the boundary: zero variances, correlations of +-1."""
    frame = fit.varcorr.to_frame()
    parts = []
    for row in frame.itertuples(index=False):
        if row.grp == "Residual":
            continue
        var2 = row.var2
        if var2 is None or (isinstance(var2, float) and np.isnan(var2)) or pd.isna(var2):
            if row.sdcor < 1e-4 * max(fit.sigma, 1e-300):
                parts.append(f"the standard deviation of {row.var1} over {row.grp} is "
                             f"estimated as zero")
        elif abs(row.sdcor) > 1.0 - 1e-4:
            parts.append(f"the correlation of {row.var1} and {var2} over {row.grp} is "
                         f"estimated as {row.sdcor:+.0f}")
    return parts


def convergence_check(fit: LmerFit) -> Check:
    """Did the optimiser reach a minimum?"""
    if fit.converged:
        return Check("Convergence", True,
                     f"The optimiser reached a minimum of the "
                     f"{'REML criterion' if fit.reml else 'deviance'} after "
                     f"{fit.optsummary.feval} evaluations.")
    messages = fit.optsummary.check.messages if fit.optsummary.check is not None else ()
    finding = ("The optimiser stopped where the objective could still be lowered"
               + (": " + "; ".join(messages) if messages else "") + ".")
    return Check("Convergence", False, finding, (
        "Rescale numeric predictors (centre them and divide by their standard deviation, "
        "e.g. scale(x) in the formula): very different scales make the problem badly "
        "conditioned.",
        "Simplify the random-effects structure: drop correlations with || or remove "
        "random slopes the data cannot support.",
        "Check the data for groups with very few observations or extreme values.",
    ))


def singular_check(fit: LmerFit) -> Check:
    """Is the fit on the boundary of the parameter space?"""
    if not fit.is_singular:
        return Check("Singular fit", True,
                     "No variance is estimated as zero and no correlation as +1 or -1.")
    parts = _singular_parts(fit)
    finding = ("The fit is singular: "
               + ("; ".join(parts) if parts else "a variance-covariance matrix of the "
                  "random effects is not of full rank")
               + ". The random-effects structure is more complex than the data can "
                 "estimate.")
    return Check("Singular fit", False, finding, (
        "Remove the random terms whose variance is zero, or the random slopes that are "
        "perfectly correlated with the intercept.",
        "Drop the correlations between random coefficients with || "
        "(e.g. (x || g) instead of (x | g)).",
        "A grouping factor with few levels cannot estimate a variance well: consider it "
        "as a fixed effect instead.",
    ))


def levels_check(fit: LmerFit) -> Check:
    """Does every grouping factor have enough levels to estimate a variance?"""
    few = {g: n for g, n in fit.ngroups.items() if n < FEW_LEVELS}
    if not few:
        return Check("Number of groups", True,
                     "Every grouping factor has at least five levels: "
                     + ", ".join(f"{g} {n}" for g, n in fit.ngroups.items()) + ".")
    return Check("Number of groups", False,
                 "Few levels to estimate a variance from: "
                 + ", ".join(f"{g} has {n}" for g, n in few.items()) + ".",
                 ("Treat a factor with very few levels as a fixed effect, or expect wide "
                  "uncertainty in its variance.",))


def message_check(fit: LmerFit) -> Check:
    """The fit's own messages (scales of predictors, dropped columns)."""
    messages = [m for m in fit.warnings
                if not m.startswith("boundary (singular)") and "converge" not in m]
    if not messages:
        return Check("Fit messages", True, "The fit produced no messages.")
    advice = []
    if any("scale" in m for m in messages):
        advice.append("Rescale numeric predictors (scale(x) in the formula, or divide by a "
                      "round number such as 1000).")
    if any("rank deficient" in m for m in messages):
        advice.append("Some fixed-effect columns are linear combinations of others: "
                      "remove the redundant predictors or interactions.")
    return Check("Fit messages", False, " ".join(m.rstrip(".") + "." for m in messages),
                 tuple(advice))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def residual_checks(sim: SimulatedResiduals, alpha: float = 0.05) -> list[Check]:
    """The simulated-residual tests as checks."""
    uni, disp, out, quant = (sim.test_uniformity(), sim.test_dispersion(),
                             sim.test_outliers(), sim.test_quantiles())
    checks = [
        Check("Distribution of residuals", uni.passed(alpha),
              f"Kolmogorov-Smirnov test of the simulated residuals against uniform: "
              f"D = {uni.statistic:.3f}, p = {uni.p_value:.3g}.",
              () if uni.passed(alpha) else (
                  "The responses do not follow the model's normal distribution: look at "
                  "the QQ plot; a transformation of the response (log(y)) may help.",
                  "Missing predictors or interactions also show here.")),
        Check("Dispersion", disp.passed(alpha),
              f"Observed spread over simulated spread: {disp.statistic:.3f} "
              f"(p = {disp.p_value:.3g}).",
              () if disp.passed(alpha) else (
                  "The data vary more (or less) than the model predicts: check for a "
                  "missing grouping factor, heteroscedasticity (scale-location plot) or "
                  "outliers.",)),
        Check("Outliers", out.passed(alpha),
              f"{_count(int(out.statistic), 'observation')} outside every simulated value "
              f"(expected {out.details['expected']:.1f}; p = {out.p_value:.3g}).",
              () if out.passed(alpha) else (
                  "Look at the observations with the largest residuals: data errors, or a "
                  "heavier-tailed distribution than normal.",)),
        Check("Residuals along the predictions", quant.passed(alpha),
              f"Quartiles of the simulated residuals in {int(quant.details['bins'])} bins "
              f"of the predictions: p = {quant.p_value:.3g}.",
              () if quant.passed(alpha) else (
                  "The mean structure misses a pattern: try a nonlinear term "
                  "(I(x^2), a spline) or an interaction, and look at the residuals against "
                  "each predictor.",)),
    ]
    return checks


def fit_checks(fit: LmerFit, sim: SimulatedResiduals | None = None) -> list[Check]:
    """Every check of the fit, in the order the report shows them."""
    checks = [convergence_check(fit), singular_check(fit), levels_check(fit),
              message_check(fit)]
    if sim is not None:
        checks.extend(residual_checks(sim))
    return checks
