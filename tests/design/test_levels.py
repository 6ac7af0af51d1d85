"""Factor level order and labels, as R's factor() makes them."""

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design import build_design
from mixedmodels.design._levels import interaction_codes, level_label, to_factor


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (True, "TRUE"),
        (False, "FALSE"),
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
        ("a", "a"),
        (np.int64(10), "10"),
    ],
)
def test_level_label(value, label):
    assert level_label(value) == label


def test_numbers_sort_numerically():
    factor = to_factor(pd.Series([10, 9, 100, 9]))
    assert [level_label(c) for c in factor.categories] == ["9", "10", "100"]


def test_strings_sort_as_strings():
    factor = to_factor(pd.Series(["b", "B", "a", "10", "9"]))
    assert list(factor.categories) == ["10", "9", "B", "a", "b"]


def test_categorical_keeps_order_and_drops_unused():
    series = pd.Series(pd.Categorical(["lo", "hi"], categories=["hi", "mid", "lo"]))
    assert list(to_factor(series).categories) == ["hi", "lo"]


def test_integer_grouping_factor(sleep):
    design = build_design("Reaction ~ Days + (Days | Subject)", sleep)
    term = design.reterms[0]
    assert term.levels == ("308", "309", "310", "330", "331", "332")
    np.testing.assert_array_equal(term.codes, np.repeat(np.arange(6), 10))
    assert term.codes.dtype == np.int64
    assert term.cnames == ("(Intercept)", "Days")
    np.testing.assert_array_equal(term.z, np.column_stack([np.ones(60), sleep["Days"]]))


def test_interaction_levels_lexicographic_and_unused_dropped():
    a = pd.Series(["a2", "a1", "a1", "a2"])
    b = pd.Series(["b1", "b2", "b1", "b1"])
    codes, labels = interaction_codes([b, a])
    assert labels == ("b1:a1", "b1:a2", "b2:a1")
    np.testing.assert_array_equal(codes, [1, 2, 0, 1])


def test_nested_terms(mixed):
    design = build_design("y ~ 1 + (1|batch/cask)", mixed)
    inner, outer = design.reterms
    assert (inner.name, inner.group) == ("cask:batch", ("cask", "batch"))
    assert inner.levels == ("a:A", "a:B", "a:C", "b:A", "b:B", "b:C")
    assert (outer.name, outer.levels) == ("batch", ("A", "B", "C"))
    labels = np.array(inner.levels)[inner.codes]
    expected = mixed["cask"] + ":" + mixed["batch"]
    np.testing.assert_array_equal(labels, expected.to_numpy())


def test_factor_left_of_bar(mixed):
    design = build_design("y ~ 1 + (0 + f | g) + (f | batch)", mixed)
    full, contrasts = design.reterms
    assert full.cnames == ("fa", "fb", "fc")
    np.testing.assert_array_equal(full.z.sum(axis=1), np.ones(24))
    assert contrasts.cnames == ("(Intercept)", "fb", "fc")
    np.testing.assert_array_equal(contrasts.z[:, 2], (mixed["f"] == "c").astype(float))


def test_boolean_grouping_factor(mixed):
    design = build_design("y ~ x + (1|flag)", mixed)
    assert design.reterms[0].levels == ("FALSE", "TRUE")


def test_uncorrelated_terms(sleep):
    design = build_design("Reaction ~ Days + (Days || Subject)", sleep)
    assert [(t.name, t.cnames) for t in design.reterms] == [
        ("Subject", ("(Intercept)",)),
        ("Subject", ("Days",)),
    ]


@pytest.mark.parametrize("dtype", ["str", "string[python]", "string[pyarrow]", object])
def test_string_category_labels_whatever_the_storage(dtype):
    from mixedmodels.design._levels import factor_codes

    if dtype == "string[pyarrow]":
        pytest.importorskip("pyarrow")
    values = pd.Series(["b", "a", "c", "a"], dtype=dtype)
    codes, labels = factor_codes(values.astype("category"))
    assert labels == ("a", "b", "c")
    assert all(type(label) is str for label in labels)
    assert codes.tolist() == [1, 0, 2, 0]
