"""Residual plots: Tukey-Anscombe, QQ, scale-location, per group, four panels."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import n_coefficients
from plot_helpers import bands, long_lines, n_points, scatter_points

import mixedmodels as mm
from mixedmodels.plots import (
    PlotError,
    plot_diagnostics,
    plot_qq,
    plot_residuals,
    plot_residuals_by_group,
    plot_scale_location,
)


def test_residuals_vs_fitted(any_fit: mm.LmerFit) -> None:
    fig = plot_residuals(any_fit)
    (ax,) = fig.axes
    (points,) = scatter_points(ax)
    assert len(points) == any_fit.nobs
    np.testing.assert_allclose(points[:, 0], any_fit.fitted().to_numpy())
    np.testing.assert_allclose(points[:, 1],
                               any_fit.residuals(kind="pearson", scaled=True).to_numpy())
    assert len(long_lines(ax)) == 1  # the LOWESS smooth
    zero = [ln for ln in ax.get_lines() if np.allclose(ln.get_ydata(), 0.0)]
    assert zero, "no zero line"
    assert ax.get_xlabel() == "Fitted values"
    assert ax.get_ylabel() == "Scaled residuals"


def test_marginal_residuals(sleep_fit: mm.LmerFit) -> None:
    fig = plot_residuals(sleep_fit, kind="marginal")
    (points,) = scatter_points(fig.axes[0])
    X, beta = sleep_fit.model.design.X, sleep_fit.beta
    np.testing.assert_allclose(points[:, 0], X @ beta)
    np.testing.assert_allclose(points[:, 1], sleep_fit.model.design.y - X @ beta)
    assert "Marginal" in fig.axes[0].get_ylabel()


def test_bad_kind(sleep_fit: mm.LmerFit) -> None:
    with pytest.raises(PlotError, match="conditional"):
        plot_residuals(sleep_fit, kind="pearson")


def test_draws_on_given_axes(sleep_fit: mm.LmerFit) -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert plot_residuals(sleep_fit, ax=ax) is fig
    assert n_points(ax) == 180


def test_qq(any_fit: mm.LmerFit) -> None:
    fig = plot_qq(any_fit)
    (ax,) = fig.axes
    (points,) = scatter_points(ax)
    res = np.sort(any_fit.residuals(kind="pearson", scaled=True).to_numpy())
    np.testing.assert_allclose(points[:, 1], res)
    assert np.all(np.diff(points[:, 0]) > 0)  # theoretical quantiles increase
    assert len(bands(ax)) == 1  # the simulation envelope
    assert ax.get_xlabel() == "Normal quantiles"
    # most points inside the 95% pointwise envelope for a reasonable fit
    path = bands(ax)[0].get_paths()[0].vertices
    assert path.shape[0] >= 2 * any_fit.nobs


def test_qq_without_envelope(sleep_fit: mm.LmerFit) -> None:
    assert bands(plot_qq(sleep_fit, envelope=0).axes[0]) == []


def test_scale_location(any_fit: mm.LmerFit) -> None:
    fig = plot_scale_location(any_fit)
    (ax,) = fig.axes
    (points,) = scatter_points(ax)
    res = any_fit.residuals(kind="pearson", scaled=True).to_numpy()
    np.testing.assert_allclose(points[:, 1], np.sqrt(np.abs(res)))
    assert len(long_lines(ax)) == 1
    assert ax.get_ylabel() == "sqrt(|scaled residuals|)"


@pytest.mark.parametrize(("name", "group", "panels", "levels"), [
    ("sleep", "Subject", 18, 18),
    ("penicillin", "plate", 24, 24),
    ("pastes", "cask:batch", 24, 30),
])
def test_residuals_by_group(request: pytest.FixtureRequest, name: str, group: str,
                            panels: int, levels: int) -> None:
    fit = request.getfixturevalue(f"{name}_fit")
    fig = plot_residuals_by_group(fit, group)
    assert len(fig.axes) == panels
    counts = [n_points(ax) for ax in fig.axes]
    title = fig._suptitle.get_text()
    if panels == levels:
        assert sum(counts) == fit.nobs
        assert "sample" not in title
    else:
        assert f"random sample of {panels} of {levels} levels" in title
        assert sum(counts) == panels * (fit.nobs // levels)
    assert fig._supylabel.get_text() == "Scaled residuals"


def test_residuals_by_group_cap_and_x(penicillin_fit: mm.LmerFit) -> None:
    fig = plot_residuals_by_group(penicillin_fit, "plate", x="dose", max_panels=5)
    assert len(fig.axes) == 5
    assert "5 of 24" in fig._suptitle.get_text()
    assert fig._supxlabel.get_text() == "dose"
    for ax in fig.axes:
        assert set(scatter_points(ax)[0][:, 0]) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}


def test_residuals_by_group_errors(sleep_fit: mm.LmerFit) -> None:
    with pytest.raises(PlotError, match="neither a grouping factor"):
        plot_residuals_by_group(sleep_fit, "Nope")
    with pytest.raises(PlotError, match="not a column"):
        plot_residuals_by_group(sleep_fit, "Subject", x="Nope")


def test_diagnostics(any_fit: mm.LmerFit) -> None:
    fig = plot_diagnostics(any_fit)
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Residuals vs fitted", "Normal QQ of residuals", "Scale-location",
                      "Normal QQ of random effects"]
    for ax in fig.axes[:3]:
        assert n_points(ax) == any_fit.nobs
    levels = sum(df.shape[0] * df.shape[1] for df in any_fit.ranef().values())
    assert n_points(fig.axes[3]) == levels
    assert len(scatter_points(fig.axes[3])) == n_coefficients(any_fit)
