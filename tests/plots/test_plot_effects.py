"""Effect plots, simulated-residual plots, LOWESS and the lazy matplotlib import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from plot_helpers import bands, n_points

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.plots import PlotError, effect_frame, plot_effects, plot_simulated_residuals
from mixedmodels.plots._lowess import lowess


def test_effects_numeric(sleep_fit: mm.LmerFit) -> None:
    fig = plot_effects(sleep_fit, "Days")
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert len(x) == 100 and x[0] == 0.0 and x[-1] == 9.0
    b0, b1 = sleep_fit.fixef
    np.testing.assert_allclose(y, b0 + b1 * x)
    assert len(bands(ax)) == 1
    table = effect_frame(sleep_fit, "Days")
    V = sleep_fit.vcov.to_numpy()
    se = np.sqrt(V[0, 0] + 2 * x * V[0, 1] + x**2 * V[1, 1])
    np.testing.assert_allclose(table["se"], se)
    np.testing.assert_allclose(table["upper"] - table["fit"], 1.959964 * se, rtol=1e-6)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Days", "Reaction")


def test_effects_factor_with_others_at_reference() -> None:
    data = mm.datasets.load("exam")
    fit = mm.lmer("normexam ~ standLRT + sex + (1 | school)", data)
    fig = plot_effects(fit, "sex")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["F", "M"]
    table = effect_frame(fit, "sex")
    b = fit.fixef
    mean_lrt = data["standLRT"].mean()
    np.testing.assert_allclose(table["fit"], [b["(Intercept)"] + b["standLRT"] * mean_lrt,
                                              b["(Intercept)"] + b["standLRT"] * mean_lrt
                                              + b["sexM"]])


@pytest.mark.parametrize("name", ["penicillin", "pastes"])
def test_effects_needs_a_fixed_variable(request: pytest.FixtureRequest, name: str) -> None:
    fit = request.getfixturevalue(f"{name}_fit")
    with pytest.raises(PlotError, match="not a variable of the fixed part.*none"):
        plot_effects(fit, "dose")


@pytest.mark.parametrize("name", ["sleep", "penicillin", "pastes"])
def test_simulated_residuals_plot(request: pytest.FixtureRequest, name: str) -> None:
    fit = request.getfixturevalue(f"{name}_fit")
    fig = plot_simulated_residuals(fit, nsim=50, seed=3)
    assert len(fig.axes) == 2
    qq, vs = fig.axes
    assert n_points(qq) == fit.nobs and n_points(vs) == fit.nobs
    assert "KS test: p = " in qq.texts[0].get_text()
    assert qq.get_xlabel() == "Expected (uniform quantiles)"
    assert vs.get_xlabel() == "Predicted (rank transformed)"
    assert len(vs.get_lines()) == 6  # three reference levels and three binned quartiles


def test_lowess_matches_r() -> None:
    # R: lowess(cars$speed, cars$dist, delta = 0) at the distinct speeds
    speed = [4, 4, 7, 7, 8, 9, 10, 10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14,
             14, 15, 15, 15, 16, 16, 17, 17, 17, 18, 18, 18, 18, 19, 19, 19, 20, 20, 20, 20,
             20, 22, 23, 24, 24, 24, 24, 25]
    dist = [2, 10, 4, 22, 16, 10, 18, 26, 34, 17, 28, 14, 20, 24, 28, 26, 34, 34, 46, 26, 36,
            60, 80, 20, 26, 54, 32, 40, 32, 40, 50, 42, 56, 76, 84, 36, 46, 68, 32, 48, 52, 56,
            64, 66, 54, 70, 92, 93, 120, 85]
    expected = [4.965459277, 13.12449504, 15.85863338, 18.57969051, 21.28031258, 24.12927715,
                27.11954855, 30.02727633, 32.96250614, 36.75772834, 40.43507456, 43.46349178,
                46.88547895, 50.79315173, 56.49122409, 67.58582423, 73.07969527, 78.64316355,
                84.3286981]
    xs, ys = lowess(np.array(speed, float), np.array(dist, float))
    np.testing.assert_array_equal(xs, np.unique(speed))
    np.testing.assert_allclose(ys, expected, rtol=1e-7)


def test_lowess_many_points_is_smooth() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 5000)
    y = np.sin(x) + rng.normal(0, 0.1, 5000)
    xs, ys = lowess(x, y, frac=0.1)
    assert len(xs) == 200
    np.testing.assert_allclose(ys, np.sin(xs), atol=0.06)


def test_importing_does_not_import_matplotlib() -> None:
    code = ("import sys, mixedmodels, mixedmodels.plots, mixedmodels.diagnostics, "
            "mixedmodels.report, mixedmodels.display.equation, mixedmodels.cli; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch,
                                 sleep_fit: mm.LmerFit) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MixedModelsError, match=r"pip install mixedmodels\[plots\]"):
        plot_effects(sleep_fit, "Days")
