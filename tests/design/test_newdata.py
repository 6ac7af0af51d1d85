"""Replaying the design on new data: same columns, levels and transform state."""

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design import build_design, fixed_matrix, reterm_matrix
from mixedmodels.errors import DataError


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ x*sex + (1|g)",
        "y ~ scale(x) + f + flag + (1|g)",
        "y ~ I(x^3) + poly(x, 2) + size + (x|g)",
        "y ~ 0 + f:x + (0 + f|g) + (1|batch/cask)",
    ],
)
def test_replay_subset_equals_rows(mixed, formula):
    design = build_design(formula, mixed)
    rows = [3, 7, 11, 2]
    subset = mixed.iloc[rows]
    np.testing.assert_allclose(fixed_matrix(design, subset), design.X[rows])
    for term in design.reterms:
        codes, z = reterm_matrix(term, subset, allow_new_levels=False)
        np.testing.assert_array_equal(codes, term.codes[rows])
        np.testing.assert_allclose(z, term.z[rows])


def test_scale_state_is_kept(mixed):
    design = build_design("y ~ scale(x) + (1|g)", mixed)
    one = fixed_matrix(design, mixed.iloc[[0]])
    expected = (mixed["x"].iloc[0] - mixed["x"].mean()) / mixed["x"].std()
    np.testing.assert_allclose(one[0, 1], expected)


def test_new_fixed_level(mixed):
    design = build_design("y ~ f + (1|g)", mixed)
    with pytest.raises(DataError, match="factor 'f' has new level 'zz'"):
        fixed_matrix(design, pd.DataFrame({"f": ["a", "zz"]}))


def test_new_group_level(sleep):
    design = build_design("Reaction ~ Days + (Days | Subject)", sleep)
    term = design.reterms[0]
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": [308, 999]})
    codes, z = reterm_matrix(term, new, allow_new_levels=True)
    np.testing.assert_array_equal(codes, [0, -1])
    np.testing.assert_array_equal(z, [[1, 1], [1, 2]])
    with pytest.raises(DataError, match="new level '999' in grouping factor 'Subject'"):
        reterm_matrix(term, new, allow_new_levels=False)


def test_missing_values_in_newdata_give_nan(mixed):
    design = build_design("y ~ x + (1|g)", mixed)
    X = fixed_matrix(design, pd.DataFrame({"x": [1.0, np.nan]}))
    assert np.isnan(X[1]).all() and not np.isnan(X[0]).any()


def test_newdata_missing_variable(mixed):
    design = build_design("y ~ x + (1|g)", mixed)
    with pytest.raises(DataError, match="lacks variable 'x'"):
        fixed_matrix(design, pd.DataFrame({"z": [1.0]}))
