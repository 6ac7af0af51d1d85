"""Bad input through the public entry point: the library's error types, clear messages."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm


@pytest.fixture(scope="module")
def data():
    return mm.datasets.load("sleepstudy")


@pytest.mark.parametrize(
    ("formula", "pattern"),
    [
        ("Reaction ~ Days + (Days | Subject", r"parenthes"),
        ("Reaction ~ Days + Days | Subject)", r"parenthes"),
        ("Reaction ~ Days + ( | Subject)", r"left of the bar|nothing"),
        ("Reaction ~ Days + (Days | )", r"right of the bar|nothing|grouping"),
        ("Reaction ~ Days", r"no random effects terms"),
        ("Reaction ~ Dayz + (1 | Subject)", r"Dayz"),
        ("Reaction ~ Days + (1 | Subjekt)", r"Subjekt"),
        ("~ Days + (1 | Subject)", r"response"),
        ("", r"empty"),
    ],
)
def test_formula_errors(data, formula, pattern):
    with pytest.raises(mm.FormulaError, match=pattern):
        mm.lmer(formula, data)


def test_formula_error_gives_the_position(data):
    with pytest.raises(mm.FormulaError) as info:
        mm.lmer("Reaction ~ Days + (Days | Subject", data)
    assert info.value.position is not None
    assert "^" in str(info.value)


def test_non_numeric_response(data):
    with pytest.raises(mm.DataError, match="Subject"):
        mm.lmer("Subject ~ Days + (1 | Subject)", data)


def test_empty_data_frame(data):
    with pytest.raises(mm.DataError, match="empty|no rows"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", data.iloc[:0])


def test_grouping_factor_with_one_level(data):
    one = data[data["Subject"] == "308"]
    with pytest.raises(mm.DataError, match="more than one level"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", one)


def test_grouping_factor_with_a_level_per_row(data):
    rows = data.assign(obs=np.arange(len(data)))
    with pytest.raises(mm.DataError, match=r"< number of observations \(problems: obs\)"):
        mm.lmer("Reaction ~ Days + (1 | obs)", rows)


def test_infinite_values(data):
    bad = data.assign(Days=data["Days"].where(data.index != 3, np.inf))
    with pytest.raises(mm.DataError, match="Days"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", bad)


def test_missing_column_in_weights(data):
    with pytest.raises(mm.MixedModelsError, match="wt"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", data, weights="wt")


def test_bad_weights(data):
    with pytest.raises(mm.DataError, match="weights"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", data, weights=-np.ones(len(data)))


def test_not_a_data_frame():
    with pytest.raises(mm.MixedModelsError):
        mm.lmer("y ~ 1 + (1 | g)", 42)


def test_all_rows_missing(data):
    gone = data.assign(Reaction=np.nan)
    with pytest.raises(mm.DataError, match="no rows|missing"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", gone)


def test_errors_are_value_errors_too(data):
    # callers catching ValueError (pandas habit) still catch ours
    with pytest.raises(ValueError):
        mm.lmer("Reaction ~ Days", data)
    assert issubclass(mm.DataError, mm.MixedModelsError)
