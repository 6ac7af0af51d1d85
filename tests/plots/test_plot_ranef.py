"""Random-effect plots: QQ, caterpillar, modes against predictors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import n_coefficients
from plot_helpers import long_lines, n_points, scatter_points

import mixedmodels as mm
from mixedmodels.plots import PlotError, plot_caterpillar, plot_ranef_qq, plot_ranef_vs_predictor


def _titles(fit: mm.LmerFit) -> list[str]:
    return [f"{g}: {c}" for g, df in fit.ranef().items() for c in df.columns]


def test_ranef_qq(any_fit: mm.LmerFit) -> None:
    fig = plot_ranef_qq(any_fit)
    assert len(fig.axes) == n_coefficients(any_fit)
    assert [ax.get_title() for ax in fig.axes] == _titles(any_fit)
    for ax, (_, modes) in zip(fig.axes, [(g, df[c]) for g, df in any_fit.ranef().items()
                                       for c in df.columns], strict=True):
        (points,) = scatter_points(ax)
        np.testing.assert_allclose(points[:, 1], np.sort(modes.to_numpy()))
        assert ax.get_xlabel() == "Normal quantiles"
        assert ax.get_ylabel() == "Conditional mode"


def _errorbar_halfwidths(ax) -> np.ndarray:
    (segments,) = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    return np.array([abs(s[1, 0] - s[0, 0]) / 2 for s in segments.get_segments()])


def test_caterpillar(any_fit: mm.LmerFit) -> None:
    fig = plot_caterpillar(any_fit)
    assert len(fig.axes) == n_coefficients(any_fit)
    assert [ax.get_title() for ax in fig.axes] == _titles(any_fit)
    panels = [(df[c].to_numpy(), df.attrs["cond_var"][:, j, j], list(df.index))
              for _, df in any_fit.ranef(cond_var=True).items()
              for j, c in enumerate(df.columns)]
    for ax, (modes, cv, levels) in zip(fig.axes, panels, strict=True):
        (points,) = scatter_points(ax)
        assert len(points) == len(modes)
        np.testing.assert_allclose(points[:, 0], np.sort(modes))  # sorted
        order = np.argsort(modes, kind="stable")
        np.testing.assert_allclose(_errorbar_halfwidths(ax), 1.959964 * np.sqrt(cv[order]),
                                   rtol=1e-6)
        assert [t.get_text() for t in ax.get_yticklabels()] == [levels[i] for i in order]
        assert ax.get_xlabel() == "Conditional mode (95% interval)"


def test_caterpillar_intervals_match_lme4(sleep_fit: mm.LmerFit,
                                          pastes_fit: mm.LmerFit) -> None:
    # R: attr(ranef(lmer(Reaction ~ Days + (Days | Subject), sleepstudy),
    #   condVar = TRUE)$Subject, "postVar")[, , 1]  (subject 308)
    cv = sleep_fit.ranef(cond_var=True)["Subject"].attrs["cond_var"][0]
    np.testing.assert_allclose(cv, [[145.7055875, -21.4445036], [-21.4445036, 5.312282912]],
                               rtol=2e-4)
    # R: the same for lmer(strength ~ 1 + (1 | batch/cask), Pastes)
    re = pastes_fit.ranef(cond_var=True)
    np.testing.assert_allclose(re["cask:batch"].attrs["cond_var"][0, 0, 0], 1.303526942,
                               rtol=2e-4)
    np.testing.assert_allclose(re["batch"].attrs["cond_var"][0, 0, 0], 1.05779989, rtol=2e-4)
    fig = plot_caterpillar(sleep_fit)
    widths = _errorbar_halfwidths(fig.axes[1])
    assert widths.max() == pytest.approx(1.959964 * np.sqrt(5.312282912), rel=2e-4)


def test_caterpillar_level(sleep_fit: mm.LmerFit) -> None:
    w95 = _errorbar_halfwidths(plot_caterpillar(sleep_fit).axes[0])
    w50 = _errorbar_halfwidths(plot_caterpillar(sleep_fit, level=0.5).axes[0])
    np.testing.assert_allclose(w50 / w95, 0.6744898 / 1.959964, rtol=1e-6)
    with pytest.raises(PlotError):
        plot_caterpillar(sleep_fit, level=95)


@pytest.mark.parametrize(("name", "predictor"), [("sleep", "Days"), ("penicillin", "dose"),
                                                 ("pastes", "position")])
def test_ranef_vs_predictor(request: pytest.FixtureRequest, name: str, predictor: str) -> None:
    fit = request.getfixturevalue(f"{name}_fit")
    fig = plot_ranef_vs_predictor(fit, predictor)
    assert len(fig.axes) == n_coefficients(fit)
    for ax, (group, table) in zip(fig.axes, [(g, df) for g, df in fit.ranef().items()
                                           for _ in df.columns], strict=True):
        assert n_points(ax) == table.shape[0]
        assert ax.get_xlabel() == f"Mean of {predictor} in {group}"


def test_ranef_vs_predictor_values(penicillin_fit: mm.LmerFit) -> None:
    fig = plot_ranef_vs_predictor(penicillin_fit, "dose", group="sample")
    (ax,) = fig.axes
    (points,) = scatter_points(ax)
    # each sample has one dose: the means are 1..6, the modes the sample modes
    np.testing.assert_allclose(np.sort(points[:, 0]), np.arange(1.0, 7.0))
    np.testing.assert_allclose(points[:, 1],
                               penicillin_fit.ranef()["sample"]["(Intercept)"].to_numpy())
    assert len(long_lines(ax)) == 1


def test_ranef_vs_predictor_errors(sleep_fit: mm.LmerFit) -> None:
    with pytest.raises(PlotError, match="not a column"):
        plot_ranef_vs_predictor(sleep_fit, "nope")
    with pytest.raises(PlotError, match="not numeric"):
        plot_ranef_vs_predictor(sleep_fit, "Subject")
    with pytest.raises(PlotError, match="not a grouping factor"):
        plot_ranef_vs_predictor(sleep_fit, "Days", group="plate")
