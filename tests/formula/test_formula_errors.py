"""Every formula error names the problem and points at it."""

import pytest

from mixedmodels.errors import FormulaError, MixedModelsError
from mixedmodels.formula import parse_formula

ERRORS = [
    ("", 0, "empty formula"),
    ("   ", 0, "empty formula"),
    ("y x + (1|g)", 11, "no '~'"),
    ("~ x + (1|g)", 0, "no response"),
    ("y ~", 2, "nothing right of '~'"),
    ("y ~ x + (1|g", 8, "'(' is never closed"),
    ("y ~ x + 1|g)", 11, "')' has no matching '('"),
    ("y ~ x + (|g)", 9, "nothing left of '|'"),
    ("y ~ x + ( || g)", 10, "nothing left of '||'"),
    ("y ~ x + (1|)", 10, "nothing right of '|'"),
    ("y ~ x", 5, "no random effects terms specified in formula"),
    ("y ~ x + (1|g) # 3", 14, "unexpected character '#'"),
    ("y ~ x ~ z + (1|g)", 6, "more than one '~'"),
    ("y ~ x * (1|g)", 10, "top-level summand"),
    ("y ~ x - (1|g)", 8, "cannot be subtracted"),
    ("y ~ x + (0|g)", 9, "no terms left of the bar"),
    ("y ~ 2 + (1|g)", 4, "only 0 and 1"),
    ("y ~ x + (1|log(g))", 11, "grouping factor must be a variable name"),
    ("y ~ x + (1|g) +", 15, "unexpected end of formula"),
    ("y ~ (a+b)^x + (1|g)", 10, "positive integer"),
    ("y ~ x + ()", 8, "empty parentheses"),
]


@pytest.mark.parametrize(("text", "position", "fragment"), ERRORS)
def test_formula_errors(text, position, fragment):
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert info.value.position == position, str(info.value)
    assert fragment in str(info.value)
    assert isinstance(info.value, MixedModelsError)


def test_non_string_formula():
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(3)
