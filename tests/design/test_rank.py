"""Rank-deficient fixed effects: aliased columns dropped with lme4's message."""

import numpy as np
import pytest

from mixedmodels.design import RankDeficiencyWarning, build_design, independent_columns


def test_independent_columns_left_to_right():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 20))
    X = np.column_stack([np.ones(20), a, 2 * a + 1, b, np.zeros(20), a + b])
    np.testing.assert_array_equal(independent_columns(X), [True, True, False, True, False, False])


def test_tolerance_is_relative():
    x = np.linspace(0, 1, 10)
    X = np.column_stack([np.ones(10) * 1e-9, x * 1e9])
    assert independent_columns(X).all()


def test_duplicate_column_dropped_with_warning(mixed):
    frame = mixed.assign(x2=mixed["x"] * 3)
    with pytest.warns(RankDeficiencyWarning) as record:
        design = build_design("y ~ x + x2 + sex + (1|g)", frame)
    message = str(record[0].message)
    assert message == (
        "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient (x2)"
    )
    assert design.xnames == ("(Intercept)", "x", "sexM")
    assert design.dropped == ("x2",)
    assert design.X.shape == (24, 3)


def test_plural_message(mixed):
    frame = mixed.assign(x2=mixed["x"] * 3, x3=mixed["x"] - 1)
    with pytest.warns(RankDeficiencyWarning, match="dropping 2 columns / coefficients"):
        build_design("y ~ x + x2 + x3 + (1|g)", frame)


def test_replay_drops_same_columns(mixed):
    frame = mixed.assign(x2=mixed["x"] * 3)
    with pytest.warns(RankDeficiencyWarning):
        design = build_design("y ~ x + x2 + (1|g)", frame)
    from mixedmodels.design import fixed_matrix

    np.testing.assert_allclose(fixed_matrix(design, frame.iloc[:5]), design.X[:5])
