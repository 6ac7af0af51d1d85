"""Formulas are not code: the closed grammar of formula expressions.

formulaic evaluates every factor of a formula as Python, so a formula such as
``y ~ I(__import__('os').system('...'))`` would run a shell command. Formulas are
therefore checked before anything is evaluated, on two levels:

- :func:`check_tree` walks the syntax tree of the lme4 formula (positions as
  typed) and refuses calls outside :data:`ALLOWED_FUNCTIONS`, dunder names,
  string literals anywhere but as a direct argument of an allowed call, and
  ``%op%`` operators inside calls other than ``%%`` and ``%/%``. Attribute
  access, subscripts, lambdas and comprehensions have no syntax in the grammar
  (the tokenizer and parser refuse them).
- :func:`check_python_expression` re-checks each factor's Python text, as
  formulaic will evaluate it, with the ``ast`` module and an allow-list of node
  types, so a rendering bug cannot smuggle code through either.

The design layer also evaluates formulas in a namespace that holds only the
allowed functions and shadows every Python builtin (``design/_context.py``).
``allow_python=True`` on :func:`mixedmodels.formula.parse_formula` and
:func:`mixedmodels.design.build_design` switches all of this off, for trusted use.
"""

from __future__ import annotations

import ast
import re

from mixedmodels.errors import FormulaError
from mixedmodels.formula._ast import BinOp, Call, Name, Node, Num, Paren, Str, Unary

__all__ = ["ALLOWED_FUNCTIONS", "check_python_expression", "check_tree"]

#: Functions a formula may call (R names; ``as.factor`` is rendered as ``factor``).
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {
        # identity and arithmetic
        "I", "log", "log10", "log1p", "log2", "exp", "expm1", "sqrt", "abs", "sign",
        "floor", "ceiling", "ceil", "trunc", "round",
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
        # stateful transforms
        "scale", "center", "poly",
        # factors
        "C", "factor", "as.factor",
        # splines supplied by formulaic
        "bs", "cr", "cs", "cc",
        # a column by name: Q("my var")
        "Q",
    }
)

# Names formulaic and Python know under the rendered spelling of an allowed function.
_PYTHON_FUNCTIONS = (ALLOWED_FUNCTIONS - {"as.factor", "ceiling"}) | {"factor", "ceil"}
_CALL_OPS = {"+", "-", "*", "/", "^", "%%", "%/%", "==", "!=", "<", "<=", ">", ">=", "&", "&&",
             "|", "||"}


def _refuse(message: str, text: str, pos: int) -> FormulaError:
    error = FormulaError(f"{message} (formulas are not code; see allow_python)", text, pos)
    error.__suppress_context__ = True  # nothing was evaluated: no context to show
    return error


def check_tree(node: Node, text: str, in_call: bool = False, as_argument: bool = False) -> None:
    """Refuse anything in a formula tree outside the closed grammar.

    Parameters
    ----------
    node : Node
        A syntax tree (a formula side or a whole right-hand side).
    text : str
        The formula, for error positions.
    in_call : bool
        True inside a function call's arguments.
    as_argument : bool
        True when ``node`` is itself a direct argument of a call.

    Raises
    ------
    FormulaError
        Naming the offending part and its position.
    """
    if isinstance(node, Name):
        if node.id.startswith("__") or (node.id.endswith("__") and len(node.id) > 2):
            raise _refuse(f"name {node.id!r} is not allowed in a formula", text, node.pos)
        return
    if isinstance(node, Num):
        return
    if isinstance(node, Str):
        if not as_argument:
            raise _refuse(
                f"string {node.value!r} is allowed only as an argument of a function",
                text, node.pos,
            )
        return
    if isinstance(node, Paren):
        check_tree(node.inner, text, in_call)
        return
    if isinstance(node, Unary):
        check_tree(node.operand, text, in_call)
        return
    if isinstance(node, BinOp):
        if in_call and node.op not in _CALL_OPS:
            raise _refuse(f"operator {node.op!r} is not allowed inside a function call",
                          text, node.op_pos)
        check_tree(node.left, text, in_call)
        check_tree(node.right, text, in_call)
        return
    if isinstance(node, Call):
        if node.func not in ALLOWED_FUNCTIONS:
            allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
            raise _refuse(
                f"function {node.func!r} is not allowed in a formula (allowed: {allowed})",
                text, node.pos,
            )
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.startswith("_"):
                raise _refuse(f"keyword {arg.keyword!r} is not allowed", text, node.pos)
            check_tree(arg.value, text, in_call=True, as_argument=True)
        if node.func == "Q" and (
            len(node.args) != 1 or not isinstance(node.args[0].value, Str)
        ):
            raise _refuse("Q() takes one column name as a string", text, node.pos)
        return
    raise TypeError(f"not a formula node: {node!r}")


_BACKQUOTED = re.compile(r"`[^`]*`")
_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Name, ast.Load,
    ast.Constant, ast.Call, ast.keyword, ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
)


def check_python_expression(code: str) -> None:
    """Refuse a factor's Python text unless it is in the closed grammar.

    Parameters
    ----------
    code : str
        One factor as formulaic will evaluate it, e.g. ``"I(x ** 2)"``,
        ``"log(`my var`)"``; backquoted names are column names.

    Raises
    ------
    FormulaError
        For any syntax outside names, numbers, strings, arithmetic, comparisons
        and calls of allowed functions by name.
    """
    masked = _BACKQUOTED.sub("_column_", code)
    try:
        tree = ast.parse(masked.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot evaluate {code!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise FormulaError(
                f"{type(node).__name__} in {code!r} is not allowed in a formula "
                "(formulas are not code; see allow_python)"
            )
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise FormulaError(f"name {node.id!r} in {code!r} is not allowed in a formula")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _PYTHON_FUNCTIONS
        ):
            raise FormulaError(
                f"call of {ast.unparse(node.func)!r} in {code!r} is not allowed in a formula"
            )
        if isinstance(node, ast.keyword) and (node.arg is None or node.arg.startswith("_")):
            raise FormulaError(f"keyword argument in {code!r} is not allowed in a formula")
