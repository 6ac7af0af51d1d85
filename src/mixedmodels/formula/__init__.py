"""lme4's formula grammar: tokens -> syntax tree -> terms, random-term expansion.

Each stage can be used alone: :func:`tokenize`, :func:`parse_tree` /
:func:`parse_expression`, :func:`expand_terms` / :func:`parse_rhs`, and the
whole pipeline :func:`parse_formula`.
"""

from mixedmodels.formula._parsed import ParsedFormula, parse_formula, parse_rhs
from mixedmodels.formula._parser import FormulaTree, parse_expression, parse_tree
from mixedmodels.formula._random import RandomTerm
from mixedmodels.formula._safety import (
    ALLOWED_FUNCTIONS,
    check_python_expression,
    check_tree,
)
from mixedmodels.formula._terms import Factor, Term, TermList, expand_terms
from mixedmodels.formula._tokens import Kind, Token, tokenize

__all__ = [
    "ALLOWED_FUNCTIONS",
    "Factor",
    "FormulaTree",
    "Kind",
    "ParsedFormula",
    "RandomTerm",
    "Term",
    "TermList",
    "Token",
    "check_python_expression",
    "check_tree",
    "expand_terms",
    "parse_expression",
    "parse_formula",
    "parse_rhs",
    "parse_tree",
    "tokenize",
]
