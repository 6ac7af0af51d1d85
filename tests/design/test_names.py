"""Fixed-effects column names and coding, as lme4 prints them."""

import warnings

import numpy as np
import pytest

from mixedmodels.design import build_design


@pytest.mark.parametrize(
    ("formula", "xnames"),
    [
        ("y ~ x + (1|g)", ("(Intercept)", "x")),
        ("y ~ sex + (1|g)", ("(Intercept)", "sexM")),
        ("y ~ x*sex + (1|g)", ("(Intercept)", "x", "sexM", "x:sexM")),
        ("y ~ sex*x + (1|g)", ("(Intercept)", "sexM", "x", "sexM:x")),
        ("y ~ x + sex + sex:x + (1|g)", ("(Intercept)", "x", "sexM", "x:sexM")),
        ("y ~ 0 + f + (1|g)", ("fa", "fb", "fc")),
        ("y ~ 0 + f + sex + (1|g)", ("fa", "fb", "fc", "sexM")),
        ("y ~ x + x:f + (1|g)", ("(Intercept)", "x", "x:fb", "x:fc")),
        ("y ~ x:f + (1|g)", ("(Intercept)", "x:fa", "x:fb", "x:fc")),
        ("y ~ flag + (1|g)", ("(Intercept)", "flagTRUE")),
        ("y ~ size + (1|g)", ("(Intercept)", "sizelarge")),
        (
            "y ~ I(x^2) + scale(x) + log(x + 5) + (1|g)",
            ("(Intercept)", "I(x^2)", "scale(x)", "log(x + 5)"),
        ),
        ("y ~ C(f) + (1|g)", ("(Intercept)", "C(f)b", "C(f)c")),
        ("y ~ factor(batch) + (1|g)", ("(Intercept)", "factor(batch)B", "factor(batch)C")),
        ("y ~ (f + sex)^2 + (1|g)", ("(Intercept)", "fb", "fc", "sexM", "fb:sexM", "fc:sexM")),
        ("y ~ poly(x, 2) + (1|g)", ("(Intercept)", "poly(x, 2)1", "poly(x, 2)2")),
    ],
)
def test_fixed_names(mixed, formula, xnames):
    design = build_design(formula, mixed)
    assert design.xnames == xnames
    assert design.X.shape == (24, len(xnames))
    assert design.X.dtype == np.float64


def test_response_name_and_values(mixed):
    design = build_design("log(y + 10) ~ x + (1|g)", mixed)
    assert design.response_name == "log(y + 10)"
    np.testing.assert_allclose(design.y, np.log(mixed["y"] + 10))


def test_treatment_coding_values(mixed):
    design = build_design("y ~ sex + (1|g)", mixed)
    np.testing.assert_array_equal(design.X[:, 1], (mixed["sex"] == "M").astype(float))


def test_integer_predictor_is_numeric(sleep):
    design = build_design("Reaction ~ Subject + (1|Days)", sleep)
    assert design.xnames == ("(Intercept)", "Subject")


def test_interaction_without_margins_is_rank_deficient_like_r(mixed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = build_design("y ~ f:sex + (1|g)", mixed)
    assert design.xnames == ("(Intercept)", "fa:sexF", "fb:sexF", "fc:sexF", "fa:sexM", "fb:sexM")
    assert design.dropped == ("fc:sexM",)
    assert len(caught) == 1
