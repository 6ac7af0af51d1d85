"""Turn syntax trees back into text: formulaic-ready code and R-style labels.

Two renderings of the same tree are needed:

- ``to_code``: what formulaic evaluates. Inside function calls R's syntax is
  translated to Python (``^`` -> ``**``, ``TRUE`` -> ``True``, ``as.factor(x)`` ->
  ``factor(x)``); names that are not Python identifiers are backquoted.
- ``to_label``: what R prints for the same expression (``deparse``): spaces
  around ``+ - * ==`` and ``%op%``, none around ``^ : /``; non-syntactic
  names backquoted. Coefficient names are built from these labels.
"""

from __future__ import annotations

import keyword
import re

from mixedmodels.formula._ast import Arg, BinOp, Call, Name, Node, Num, Paren, Str, Unary

__all__ = ["CONSTANTS", "names_in", "to_code", "to_label"]

#: Names that are constants, never data columns.
CONSTANTS = frozenset({"TRUE", "FALSE", "True", "False", "pi", "Inf", "NaN", "NA", "NULL"})

_R_SYNTACTIC = re.compile(r"^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$|^\.$")
_R_TIGHT = {"^", ":", "/"}
_PY_OPS = {"^": "**", "%%": "%", "%/%": "//", "&&": "&", "||": "|"}
_PY_FUNCS = {"as.factor": "factor", "ceiling": "ceil"}
_PY_CONSTANTS = {"TRUE": "True", "FALSE": "False", "Inf": "inf"}


def _python_name(name: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    return f"`{name}`"


def _r_name(name: str) -> str:
    return name if _R_SYNTACTIC.match(name) else f"`{name}`"


def _strip_integer_suffix(text: str) -> str:
    return text[:-1] if text.endswith("L") else text


def to_code(node: Node, in_call: bool = False) -> str:
    """Render a tree as formulaic-ready text.

    Parameters
    ----------
    node : Node
        The expression.
    in_call : bool
        True inside a function call, where R's arithmetic is translated to
        Python (at the formula level ``^`` stays formulaic's ``**`` power).

    Returns
    -------
    str
        Text formulaic can parse, with the same meaning R gives the expression.
    """
    if isinstance(node, Name):
        if in_call and not node.quoted and node.id in _PY_CONSTANTS:
            return _PY_CONSTANTS[node.id]
        return _python_name(node.id)
    if isinstance(node, Num):
        return _strip_integer_suffix(node.text)
    if isinstance(node, Str):
        return repr(node.value)
    if isinstance(node, Paren):
        return f"({to_code(node.inner, in_call)})"
    if isinstance(node, Unary):
        op = "~" if (node.op == "!" and in_call) else node.op
        return f"{op}{to_code(node.operand, in_call)}"
    if isinstance(node, Call):
        func = _PY_FUNCS.get(node.func, node.func)
        return f"{func}({', '.join(_arg_code(arg) for arg in node.args)})"
    if isinstance(node, BinOp):
        op = _PY_OPS.get(node.op, node.op) if in_call else ("**" if node.op == "^" else node.op)
        left = to_code(node.left, in_call)
        right = to_code(node.right, in_call)
        if in_call and op == "**" and isinstance(node.left, Unary):
            left = f"({left})"
        return f"{left} {op} {right}"
    raise TypeError(f"not a formula node: {node!r}")


def _arg_code(arg: Arg) -> str:
    value = to_code(arg.value, in_call=True)
    return f"{arg.keyword}={value}" if arg.keyword else value


def to_label(node: Node) -> str:
    """Render a tree as R's ``deparse`` would print it.

    Parameters
    ----------
    node : Node
        The expression.

    Returns
    -------
    str
        R's label, e.g. ``"I(x^2)"``, ``"log(y + 1)"``, ``"poly(x, 2)"``.
    """
    if isinstance(node, Name):
        return _r_name(node.id)
    if isinstance(node, Num):
        return _strip_integer_suffix(node.text)
    if isinstance(node, Str):
        return '"' + node.value.replace('"', '\\"') + '"'
    if isinstance(node, Paren):
        return f"({to_label(node.inner)})"
    if isinstance(node, Unary):
        return f"{node.op}{to_label(node.operand)}"
    if isinstance(node, Call):
        args = ", ".join(
            f"{a.keyword} = {to_label(a.value)}" if a.keyword else to_label(a.value)
            for a in node.args
        )
        return f"{node.func}({args})"
    if isinstance(node, BinOp):
        sep = node.op if node.op in _R_TIGHT else f" {node.op} "
        return f"{to_label(node.left)}{sep}{to_label(node.right)}"
    raise TypeError(f"not a formula node: {node!r}")


def names_in(node: Node) -> list[str]:
    """Names of the data columns an expression reads, in order of appearance.

    Function names, keyword names and constants (``TRUE``, ``pi``...) are not
    columns and are left out; ``Q("name")`` reads the column ``name``.

    Parameters
    ----------
    node : Node
        The expression.

    Returns
    -------
    list of str
        Distinct names, first appearance first.
    """
    found: list[str] = []

    def visit(n: Node) -> None:
        if isinstance(n, Name):
            if (n.quoted or n.id not in CONSTANTS) and n.id not in found:
                found.append(n.id)
        elif isinstance(n, Paren):
            visit(n.inner)
        elif isinstance(n, Unary):
            visit(n.operand)
        elif isinstance(n, BinOp):
            visit(n.left)
            visit(n.right)
        elif isinstance(n, Call):
            if n.func == "Q" and len(n.args) == 1 and isinstance(n.args[0].value, Str):
                if n.args[0].value.value not in found:
                    found.append(n.args[0].value.value)
                return
            for arg in n.args:
                visit(arg.value)

    visit(node)
    return found
