"""Stage 1: characters to tokens."""

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.formula import Kind, tokenize


def kinds_and_texts(text):
    return [(t.kind, t.text) for t in tokenize(text)[:-1]]


def test_simple_formula_tokens_and_positions():
    tokens = tokenize("y ~ x + (1|g)")
    assert [t.text for t in tokens[:-1]] == ["y", "~", "x", "+", "(", "1", "|", "g", ")"]
    assert [t.pos for t in tokens[:-1]] == [0, 2, 4, 6, 8, 9, 10, 11, 12]
    assert tokens[-1].kind is Kind.END


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a||b", [(Kind.NAME, "a"), (Kind.OP, "||"), (Kind.NAME, "b")]),
        ("x**2", [(Kind.NAME, "x"), (Kind.OP, "^"), (Kind.NUMBER, "2")]),
        ("`my var`", [(Kind.NAME, "my var")]),
        ("my.var", [(Kind.NAME, "my.var")]),
        (".5e-3", [(Kind.NUMBER, ".5e-3")]),
        ("2L", [(Kind.NUMBER, "2L")]),
        ("a %in% b", [(Kind.NAME, "a"), (Kind.OP, "%in%"), (Kind.NAME, "b")]),
        ("'s'", [(Kind.STRING, "s")]),
    ],
)
def test_token_table(text, expected):
    assert kinds_and_texts(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("y ~ x $ z", 6, "unexpected character '$'"),
        ("y ~ (x", 4, "'(' is never closed"),
        ("y ~ x)", 5, "')' has no matching '('"),
        ("y ~ `x", 4, "unterminated backquoted name"),
        ("y ~ ((a) + (1|g)", 4, "'(' is never closed"),
    ],
)
def test_token_errors(text, position, fragment):
    with pytest.raises(FormulaError) as info:
        tokenize(text)
    assert info.value.position == position
    assert fragment in str(info.value)
