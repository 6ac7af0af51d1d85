"""Stage 1 of formula parsing: characters to tokens.

The tokenizer accepts R's formula syntax as typed by lme4 users and the
formulaic-ready text this package renders (``**`` is read as ``^``, Python
string quotes and backquoted names are accepted), so rendered parts of a
formula can be parsed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from mixedmodels.errors import FormulaError

__all__ = ["Kind", "Token", "tokenize"]


class Kind(Enum):
    """Kinds of formula tokens."""

    NAME = "name"
    NUMBER = "number"
    STRING = "string"
    OP = "op"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@dataclass(frozen=True)
class Token:
    """One token of a formula.

    Attributes
    ----------
    kind : Kind
        What the token is.
    text : str
        The token's value: the name without backquotes, the operator
        (``**`` normalised to ``^``), the literal as typed.
    pos : int
        Zero-based offset of the token's first character in the formula.
    end : int
        Offset one past the token's last character.
    quoted : bool
        True for a backquoted name.
    """

    kind: Kind
    text: str
    pos: int
    end: int
    quoted: bool = False


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?")
_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")
_SPECIAL = re.compile(r"%[^%]*%")
# Longest operators first.
_OPERATORS = (
    "||",
    "&&",
    "**",
    "==",
    "!=",
    "<=",
    ">=",
    "~",
    "+",
    "-",
    "*",
    "/",
    "^",
    ":",
    "|",
    "&",
    "!",
    "<",
    ">",
    "=",
)


def tokenize(text: str) -> list[Token]:
    """Split a formula into tokens.

    Parameters
    ----------
    text : str
        The formula, as typed in R.

    Returns
    -------
    list of Token
        The tokens, ending with one token of kind ``Kind.END``.

    Raises
    ------
    FormulaError
        For a character that cannot start a token, an unterminated string or
        backquoted name, or unbalanced parentheses.
    """
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "`'\"":
            close = text.find(ch, i + 1)
            if close < 0:
                what = "backquoted name" if ch == "`" else "string"
                raise FormulaError(f"unterminated {what}", text, i)
            kind = Kind.NAME if ch == "`" else Kind.STRING
            value = text[i + 1 : close]
            if kind is Kind.NAME and not value:
                raise FormulaError("empty backquoted name", text, i)
            tokens.append(Token(kind, value, i, close + 1, quoted=ch == "`"))
            i = close + 1
            continue
        match = _NUMBER.match(text, i)
        if match and (ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit())):
            tokens.append(Token(Kind.NUMBER, match.group(), i, match.end()))
            i = match.end()
            continue
        match = _NAME.match(text, i)
        if match:
            tokens.append(Token(Kind.NAME, match.group(), i, match.end()))
            i = match.end()
            continue
        if ch == "%":
            match = _SPECIAL.match(text, i)
            if not match:
                raise FormulaError("unterminated %op% operator", text, i)
            tokens.append(Token(Kind.OP, match.group(), i, match.end()))
            i = match.end()
            continue
        if ch in "()":
            tokens.append(Token(Kind.LPAREN if ch == "(" else Kind.RPAREN, ch, i, i + 1))
            i += 1
            continue
        if ch == ",":
            tokens.append(Token(Kind.COMMA, ch, i, i + 1))
            i += 1
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token(Kind.OP, "^" if op == "**" else op, i, i + len(op)))
                i += len(op)
                break
        else:
            raise FormulaError(f"unexpected character {ch!r} in formula", text, i)
    tokens.append(Token(Kind.END, "", n, n))
    _check_parentheses(text, tokens)
    return tokens


def _check_parentheses(text: str, tokens: list[Token]) -> None:
    """Raise FormulaError naming the first unbalanced parenthesis."""
    stack: list[Token] = []
    for token in tokens:
        if token.kind is Kind.LPAREN:
            stack.append(token)
        elif token.kind is Kind.RPAREN:
            if not stack:
                raise FormulaError(
                    "unbalanced parentheses: ')' has no matching '('", text, token.pos
                )
            stack.pop()
    if stack:
        raise FormulaError("unbalanced parentheses: '(' is never closed", text, stack[-1].pos)
