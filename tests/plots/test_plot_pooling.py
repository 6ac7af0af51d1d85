"""Fitted lines, pooling and shrinkage pictures."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import n_coefficients
from plot_helpers import n_points, scatter_points

import mixedmodels as mm
from mixedmodels.plots import (
    PlotError,
    plot_fitted_lines,
    plot_pooling,
    plot_shrinkage,
    pooling_estimates,
)


@pytest.mark.parametrize(("name", "x", "group", "levels"), [
    ("sleep", "Days", "Subject", 18),
    ("penicillin", "dose", "plate", 24),
    ("pastes", "position", "cask:batch", 30),
])
def test_fitted_lines(request: pytest.FixtureRequest, name: str, x: str, group: str,
                      levels: int) -> None:
    fit = request.getfixturevalue(f"{name}_fit")
    fig = plot_fitted_lines(fit, x, group)
    (ax,) = fig.axes
    assert n_points(ax) == fit.nobs
    lines = ax.get_lines()
    assert len(lines) == levels + 1  # one per level and the population line
    assert sum(len(ln.get_xdata()) for ln in lines[:-1]) == fit.nobs
    assert ax.get_xlabel() == x
    assert ax.get_ylabel() == fit.model.design.response_name


def test_fitted_lines_values(sleep_fit: mm.LmerFit) -> None:
    ax = plot_fitted_lines(sleep_fit, "Days", "Subject").axes[0]
    population = ax.get_lines()[-1]
    b0, b1 = sleep_fit.fixef
    np.testing.assert_allclose(population.get_ydata(), b0 + b1 * population.get_xdata())
    coef = sleep_fit.coef()["Subject"]
    first = ax.get_lines()[0]  # subject 308
    np.testing.assert_allclose(first.get_ydata(), coef.iloc[0, 0]
                               + coef.iloc[0, 1] * np.asarray(first.get_xdata()))


def test_pooling_estimates_sleepstudy(sleep_fit: mm.LmerFit) -> None:
    est = pooling_estimates(sleep_fit, "Subject")
    data = mm.datasets.load("sleepstudy")
    for i, subject in enumerate(est.levels):
        rows = data[data["Subject"].astype(str) == subject]
        slope, intercept = np.polyfit(rows["Days"], rows["Reaction"], 1)
        np.testing.assert_allclose(est.no_pooling[i], [intercept, slope], rtol=1e-10)
    slope, intercept = np.polyfit(data["Days"], data["Reaction"], 1)
    np.testing.assert_allclose(est.complete_pooling, [intercept, slope], rtol=1e-10)
    np.testing.assert_allclose(est.partial_pooling, sleep_fit.coef()["Subject"].to_numpy())


def test_pooling_picture(sleep_fit: mm.LmerFit) -> None:
    fig = plot_pooling(sleep_fit)
    (ax,) = fig.axes
    groups = scatter_points(ax)
    assert [len(p) for p in groups] == [18, 18, 1]  # no, partial, complete pooling
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 18
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("(Intercept)", "Days")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["no pooling", "partial pooling", "complete pooling"]
    # partial pooling is closer to the population than no pooling, on average
    est = pooling_estimates(sleep_fit, "Subject")
    centre = est.complete_pooling
    spread_no = np.linalg.norm((est.no_pooling - centre) / est.no_pooling.std(0), axis=1)
    spread_pp = np.linalg.norm((est.partial_pooling - centre) / est.no_pooling.std(0), axis=1)
    assert spread_pp.mean() < spread_no.mean()


def test_pooling_intercept_only() -> None:
    data = mm.datasets.load("dyestuff")
    fit = mm.lmer("Yield ~ 1 + (1 | Batch)", data)
    fig = plot_pooling(fit)
    (ax,) = fig.axes
    no, partial = scatter_points(ax)
    means = data.groupby("Batch", observed=True)["Yield"].mean().to_numpy()
    np.testing.assert_allclose(no[:, 1], means)
    grand = data["Yield"].mean()
    # intercept-only shrinkage: every group mean moves towards the grand mean
    assert np.all(np.abs(partial[:, 1] - grand) < np.abs(means - grand))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["No pooling", "Partial pooling"]


@pytest.mark.parametrize("name", ["penicillin", "pastes"])
def test_pooling_needs_one_factor(request: pytest.FixtureRequest, name: str) -> None:
    fit = request.getfixturevalue(f"{name}_fit")
    with pytest.raises(PlotError, match="one grouping factor.*has 2"):
        plot_pooling(fit)


def test_pooling_bad_slope(sleep_fit: mm.LmerFit) -> None:
    with pytest.raises(PlotError, match="not a random coefficient"):
        plot_pooling(sleep_fit, x="Hours")


def test_shrinkage(any_fit: mm.LmerFit) -> None:
    fig = plot_shrinkage(any_fit)
    assert len(fig.axes) == n_coefficients(any_fit)
    levels = [df.shape[0] for df in any_fit.ranef().values() for _ in df.columns]
    for ax, n in zip(fig.axes, levels, strict=True):
        assert n_points(ax) == n
        assert ax.get_xlabel() == "No pooling (own least squares)"
        assert ax.get_ylabel() == "Partial pooling (mixed model)"
        assert len(ax.get_lines()) == 2  # the 1:1 line and the complete-pooling line


def test_shrinkage_intercepts_shrink(penicillin_fit: mm.LmerFit) -> None:
    fig = plot_shrinkage(penicillin_fit)
    for ax in fig.axes:
        (points,) = scatter_points(ax)
        complete = ax.get_lines()[1].get_ydata()[0]
        assert np.all(np.abs(points[:, 1] - complete) <= np.abs(points[:, 0] - complete))
