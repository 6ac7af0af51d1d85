"""The whole pipeline: formula text -> response, fixed part, random terms."""

import pytest

from mixedmodels.formula import RandomTerm, parse_formula


def rt(lhs, group, source, name=None):
    group = tuple(group.split(":"))
    return (lhs, group, name or ":".join(group), source)


# formula -> (response, fixed, [(lhs, group, group_name, source), ...])
CASES = [
    (
        "Reaction ~ Days + (Days | Subject)",
        "Reaction",
        "1 + Days",
        [rt("1 + Days", "Subject", "(Days | Subject)")],
    ),
    ("y ~ x + (1|g)", "y", "1 + x", [rt("1", "g", "(1|g)")]),
    ("y ~ (1|g)", "y", "1", [rt("1", "g", "(1|g)")]),
    ("y ~ 0 + (1|g)", "y", "0", [rt("1", "g", "(1|g)")]),
    ("y ~ x + (x|g)", "y", "1 + x", [rt("1 + x", "g", "(x|g)")]),
    ("y ~ x + (0+x|g)", "y", "1 + x", [rt("0 + x", "g", "(0+x|g)")]),
    ("y ~ x + (-1+x|g)", "y", "1 + x", [rt("0 + x", "g", "(-1+x|g)")]),
    ("y ~ x + (x - 1 | g)", "y", "1 + x", [rt("0 + x", "g", "(x - 1 | g)")]),
    ("y ~ x + (x||g)", "y", "1 + x", [rt("1", "g", "(x||g)"), rt("0 + x", "g", "(x||g)")]),
    (
        "y ~ x + (0+x+z||g)",
        "y",
        "1 + x",
        [rt("0 + x", "g", "(0+x+z||g)"), rt("0 + z", "g", "(0+x+z||g)")],
    ),
    (
        "y ~ (x*z||g)",
        "y",
        "1",
        [
            rt("1", "g", "(x*z||g)"),
            rt("0 + x", "g", "(x*z||g)"),
            rt("0 + z", "g", "(x*z||g)"),
            rt("0 + x:z", "g", "(x*z||g)"),
        ],
    ),
    (
        "strength ~ 1 + (1|batch/cask)",
        "strength",
        "1",
        [rt("1", "cask:batch", "(1|batch/cask)"), rt("1", "batch", "(1|batch/cask)")],
    ),
    (
        "y ~ (1|a/b/c)",
        "y",
        "1",
        [
            rt("1", "c:b:a", "(1|a/b/c)", "c:(b:a)"),  # lme4's name
            rt("1", "b:a", "(1|a/b/c)"),
            rt("1", "a", "(1|a/b/c)"),
        ],
    ),
    ("y ~ (1|a:b)", "y", "1", [rt("1", "a:b", "(1|a:b)")]),
    (
        "y ~ x + (1|s) + (1|d) + (x|s)",
        "y",
        "1 + x",
        [rt("1", "s", "(1|s)"), rt("1", "d", "(1|d)"), rt("1 + x", "s", "(x|s)")],
    ),
    ("y ~ (f|g)", "y", "1", [rt("1 + f", "g", "(f|g)")]),
    ("y ~ (0 + f|g)", "y", "1", [rt("0 + f", "g", "(0 + f|g)")]),
    ("  y~x+( 1 |  g )  ", "y", "1 + x", [rt("1", "g", "( 1 |  g )")]),
    ("log(y) ~ 0 + a*b + (1|g)", "log(y)", "0 + a + b + a:b", [rt("1", "g", "(1|g)")]),
    ("y ~ a:b + (1|g)", "y", "1 + a:b", [rt("1", "g", "(1|g)")]),
    ("y ~ x - 1 + (1|g)", "y", "0 + x", [rt("1", "g", "(1|g)")]),
    ("y ~ -1 + x + (1|g)", "y", "0 + x", [rt("1", "g", "(1|g)")]),
    ("y ~ I(x^2) + (1|g)", "y", "1 + I(x ** 2)", [rt("1", "g", "(1|g)")]),
    ("y ~ scale(x) + C(f) + (1|g)", "y", "1 + scale(x) + C(f)", [rt("1", "g", "(1|g)")]),
    ("y ~ (a+b+c)^2 + (1|g)", "y", "1 + a + b + c + a:b + a:c + b:c", [rt("1", "g", "(1|g)")]),
    ("y ~ `my var` + (1|g)", "y", "1 + `my var`", [rt("1", "g", "(1|g)")]),
    ("y ~ my.var + (1|g)", "y", "1 + `my.var`", [rt("1", "g", "(1|g)")]),
    ("y ~ log(x + 1) + (1|g)", "y", "1 + log(x + 1)", [rt("1", "g", "(1|g)")]),
    ("y ~ b:a + a + (1|g)", "y", "1 + a + b:a", [rt("1", "g", "(1|g)")]),
    ("y ~ a/b + (1|g)", "y", "1 + a + a:b", [rt("1", "g", "(1|g)")]),
    ("y ~ a*b - a:b + (1|g)", "y", "1 + a + b", [rt("1", "g", "(1|g)")]),
    ("y ~ x + (1|g) + z", "y", "1 + x + z", [rt("1", "g", "(1|g)")]),
    ("y ~ x | g", "y", "1", [rt("1 + x", "g", "x | g")]),
]


@pytest.mark.parametrize(("text", "response", "fixed", "random"), CASES)
def test_parse_table(text, response, fixed, random):
    parsed = parse_formula(text)
    assert parsed.response == response
    assert parsed.fixed == fixed
    got = [(t.lhs, t.group, t.group_name, t.source) for t in parsed.random]
    assert got == random
    assert all(isinstance(t, RandomTerm) for t in parsed.random)


def test_parsed_formula_is_frozen():
    parsed = parse_formula("y ~ x + (1|g)")
    with pytest.raises(AttributeError):
        parsed.fixed = "0"


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("Reaction ~ Days + (Days | Subject)", ["Reaction", "Days", "Subject"]),
        ("log(y) ~ scale(x) + I(z^2) + (0 + f|g)", ["y", "x", "z", "f", "g"]),
        ("y ~ (1|batch/cask)", ["y", "cask", "batch"]),
        ("y ~ x + I(x > TRUE) + (1|g)", ["y", "x", "g"]),
        ("y ~ poly(x, degree = 2) + (1|g)", ["y", "x", "g"]),
    ],
)
def test_variables(text, variables):
    assert parse_formula(text).variables() == variables


def test_labels_keep_r_spelling():
    parsed = parse_formula("log(y) ~ I(x^2) + (1|g)")
    assert parsed.response_label == "log(y)"
