"""Bad data: DataError or FormulaError naming the problem and the variable."""

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design import build_design
from mixedmodels.errors import DataError, FormulaError


@pytest.mark.parametrize(
    ("formula", "error", "fragment"),
    [
        ("y ~ nope + (1|g)", FormulaError, "variable 'nope' not found in data"),
        ("y ~ x + (1|nope)", FormulaError, "variable 'nope' not found in data"),
        ("nope ~ x + (1|g)", FormulaError, "variable 'nope' not found in data"),
        ("y ~ log(nope) + (1|g)", FormulaError, "variable 'nope' not found in data"),
        ("y ~ x + (nope|g)", FormulaError, "variable 'nope' not found in data"),
        ("y ~ frobnicate(x) + (1|g)", FormulaError, "frobnicate"),
        ("sex ~ x + (1|g)", DataError, "response 'sex' must be numeric, but has dtype"),
        (
            "y ~ x + (1|one)",
            DataError,
            "grouping factor 'one' must have more than one level (it has 1)",
        ),
        (
            "y ~ x + (1|id)",
            DataError,
            "number of levels of each grouping factor must be < number of observations "
            "(problems: id)",
        ),
        ("y ~ x + const + (1|g)", DataError, "factor 'const' has 1 level"),
    ],
)
def test_formula_data_errors(mixed, formula, error, fragment):
    frame = mixed.assign(one="k", id=np.arange(24), const="z")
    with pytest.raises(error) as info:
        build_design(formula, frame)
    assert fragment in str(info.value)


def test_missing_column_position(mixed):
    with pytest.raises(FormulaError) as info:
        build_design("y ~ x + nope + (1|g)", mixed)
    assert info.value.position == 8


def test_empty_frame(mixed):
    with pytest.raises(DataError, match="data has no rows"):
        build_design("y ~ x + (1|g)", mixed.iloc[:0])


def test_no_complete_rows(mixed):
    with pytest.raises(DataError, match="no rows left after dropping rows with missing"):
        build_design("y ~ x + (1|g)", mixed.assign(x=np.nan))


def test_infinite_values(mixed):
    frame = mixed.copy()
    frame.loc[3, "x"] = np.inf
    with pytest.raises(DataError, match="variable 'x' has 1 infinite value"):
        build_design("y ~ x + (1|g)", frame)


def test_infinite_after_transform(mixed):
    frame = mixed.assign(z=np.r_[0.0, np.ones(23)])
    with pytest.raises(DataError, match=r"'log\(z\)' has infinite values"):
        build_design("y ~ log(z) + (1|g)", frame)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"weights": np.ones(5)}, "weights has length 5 but data has 24 rows"),
        ({"offset": np.ones(25)}, "offset has length 25 but data has 24 rows"),
        ({"weights": np.r_[0.0, np.ones(23)]}, "weights must be positive"),
        ({"weights": np.r_[-1.0, np.ones(23)]}, "weights must be positive"),
        ({"weights": np.r_[np.inf, np.ones(23)]}, "weights must be finite"),
        ({"weights": "nope"}, "weights column 'nope' not found"),
        ({"weights": ["a"] * 24}, "weights must be numeric"),
        ({"offset": np.r_[np.inf, np.ones(23)]}, "offset has infinite values"),
    ],
)
def test_weight_and_offset_errors(mixed, kwargs, fragment):
    with pytest.raises(DataError) as info:
        build_design("y ~ x + (1|g)", mixed, **kwargs)
    assert fragment in str(info.value)


def test_not_a_frame():
    with pytest.raises(DataError, match="data must be a data frame"):
        build_design("y ~ x + (1|g)", 42)


def test_errors_are_not_formulaic_tracebacks(mixed):
    with pytest.raises(FormulaError) as info:
        build_design("y ~ frobnicate(x) + (1|g)", mixed)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_dict_data():
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": ["a", "a", "b", "b"]})
    assert build_design("y ~ 1 + (1|g)", frame.to_dict("list")).X.shape == (4, 1)
