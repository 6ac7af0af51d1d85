"""Rows with missing values are dropped and counted; the user's frame is untouched."""

import numpy as np
import pandas as pd

from mixedmodels.design import build_design


def test_missing_values_dropped_and_counted(mixed):
    frame = mixed.copy()
    frame.loc[0, "y"] = np.nan
    frame.loc[1, "x"] = None
    frame.loc[2, "g"] = None
    frame.loc[3, "cask"] = np.nan  # unused column: no effect
    before = frame.copy()
    design = build_design("y ~ x + (1|g)", frame)
    assert design.n_dropped_na == 3
    assert list(design.row_index) == list(range(3, 24))
    assert design.y.shape == (21,)
    pd.testing.assert_frame_equal(frame, before)


def test_missing_weights_and_offset_drop_rows(mixed):
    w = np.ones(24)
    w[5] = np.nan
    off = np.zeros(24)
    off[6] = np.nan
    design = build_design("y ~ x + (1|g)", mixed, weights=w, offset=off)
    assert design.n_dropped_na == 2
    assert design.weights.shape == design.offset.shape == (22,)


def test_weights_from_column(mixed):
    frame = mixed.assign(w=np.arange(1.0, 25.0))
    design = build_design("y ~ x + (1|g)", frame, weights="w")
    np.testing.assert_array_equal(design.weights, np.arange(1.0, 25.0))
    assert design.offset is None


def test_unused_levels_dropped_after_missing(mixed):
    frame = mixed.copy()
    frame.loc[frame["g"] == "u", "y"] = np.nan
    design = build_design("y ~ x + (1|g)", frame)
    assert design.reterms[0].levels == ("p", "q", "r", "s", "t")


def test_nullable_dtypes(mixed):
    frame = mixed.assign(k=pd.array([1, 2, None] * 8, dtype="Int64"))
    design = build_design("y ~ k + (1|g)", frame)
    assert design.n_dropped_na == 8
    assert design.xnames == ("(Intercept)", "k")


def test_expression_giving_nan_drops_row(mixed):
    frame = mixed.assign(pos=np.r_[-1.0, np.arange(1.0, 24.0)])
    design = build_design("y ~ log(pos) + (1|g)", frame)
    assert design.n_dropped_na == 1


def test_pyarrow_table(mixed):
    pa = __import__("pytest").importorskip("pyarrow")
    table = pa.Table.from_pandas(mixed.drop(columns=["size"]), preserve_index=False)
    design = build_design("y ~ x + sex + (1|g)", table)
    assert design.xnames == ("(Intercept)", "x", "sexM")
