"""Stage 3: R's term algebra, testable without the random-term layer."""

import pytest

from mixedmodels.formula import parse_expression, parse_rhs


@pytest.mark.parametrize(
    ("rhs", "intercept", "labels"),
    [
        ("a*b*c", True, ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
        ("(a+b)^2", True, ["a", "b", "a:b"]),
        ("(a+b)**2", True, ["a", "b", "a:b"]),
        ("a + b %in% a", True, ["a", "a:b"]),
        ("(a+b)/c", True, ["a", "b", "a:b:c"]),
        ("0 + x", False, ["x"]),
        ("x + 0", False, ["x"]),
        ("x - 1", False, ["x"]),
        ("x - 1 + 1", True, ["x"]),
        ("a:b + b:a", True, ["a:b"]),
        ("I(x^2) + log(x)", True, ["I(x^2)", "log(x)"]),
        ("I(x/2) + I(x * 2) + I(x - 1)", True, ["I(x/2)", "I(x * 2)", "I(x - 1)"]),
        ("poly(x, 2)", True, ["poly(x, 2)"]),
        ("`my var` + `x`", True, ["`my var`", "x"]),
    ],
)
def test_term_table(rhs, intercept, labels):
    terms = parse_rhs(rhs)
    assert terms.intercept is intercept
    assert terms.labels() == labels


def test_code_round_trips():
    terms = parse_rhs("1 + I(x^2) + a*b")
    assert terms.to_code() == "1 + I(x ** 2) + a + b + a:b"
    assert parse_rhs(terms.to_code()).labels() == terms.labels()


def test_parse_expression_keeps_spans():
    node = parse_expression("x + (1 | g)")
    assert (node.pos, node.end) == (0, 11)
    assert (node.right.pos, node.right.end) == (4, 11)
