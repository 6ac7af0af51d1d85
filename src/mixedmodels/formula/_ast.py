"""Stage 2 of formula parsing: the syntax tree.

Each node records the span of formula text it was parsed from, so errors and
random terms can point back at what the user typed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Arg", "BinOp", "Call", "Name", "Node", "Num", "Paren", "Str", "Unary"]


@dataclass(frozen=True)
class Name:
    """A variable or constant name (backquoted when ``quoted``)."""

    id: str
    pos: int
    end: int
    quoted: bool = False


@dataclass(frozen=True)
class Num:
    """A numeric literal, as typed."""

    text: str
    pos: int
    end: int

    @property
    def value(self) -> float:
        """The literal's value (an R integer suffix ``L`` is ignored)."""
        return float(self.text.rstrip("L"))


@dataclass(frozen=True)
class Str:
    """A string literal."""

    value: str
    pos: int
    end: int


@dataclass(frozen=True)
class Arg:
    """One argument of a call, with its keyword when given as ``name = value``."""

    value: Node
    keyword: str | None = None


@dataclass(frozen=True)
class Call:
    """A function call such as ``log(x)`` or ``I(x^2)``."""

    func: str
    args: tuple[Arg, ...]
    pos: int
    end: int


@dataclass(frozen=True)
class BinOp:
    """A binary operator (``^`` for both R's ``^`` and Python's ``**``)."""

    op: str
    left: Node
    right: Node
    pos: int
    end: int
    op_pos: int


@dataclass(frozen=True)
class Unary:
    """A prefix operator: ``-``, ``+`` or ``!``."""

    op: str
    operand: Node
    pos: int
    end: int


@dataclass(frozen=True)
class Paren:
    """A parenthesised expression."""

    inner: Node
    pos: int
    end: int


Node = Name | Num | Str | Call | BinOp | Unary | Paren
