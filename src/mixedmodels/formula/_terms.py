"""Stage 3 of formula parsing: R's term algebra.

An R model formula's right-hand side denotes a set of terms, each an
unordered set of factors, plus an intercept flag. This module expands a
syntax tree into that set with R's rules (``terms.formula``):

- ``a + b`` unites, ``a - b`` removes, ``a:b`` interacts, ``a*b`` is
  ``a + b + a:b``, ``a/b`` is ``a + a:b`` (``b`` within all of ``a``),
  ``(a + b)^n`` keeps interactions up to order ``n``, ``a %in% b`` is ``a:b``;
- ``0`` / ``-1`` remove the intercept, ``1`` / ``+1`` / ``-0`` restore it;
- terms are ordered by degree, first appearance first within a degree;
  factors inside a term are ordered by their first appearance in the formula.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixedmodels.errors import FormulaError
from mixedmodels.formula._ast import BinOp, Call, Name, Node, Num, Paren, Str, Unary
from mixedmodels.formula._render import names_in, to_code, to_label

__all__ = ["Factor", "Term", "TermList", "expand_terms"]


@dataclass(frozen=True)
class Factor:
    """One variable of a model term: a column or an expression of columns.

    Attributes
    ----------
    label : str
        R's name for it (``deparse``): ``"Days"``, ``"I(x^2)"``, ``"log(y)"``.
    code : str
        The formulaic-ready expression.
    variables : tuple of str
        Data columns the expression reads.
    """

    label: str
    code: str
    variables: tuple[str, ...]


Term = tuple[Factor, ...]


@dataclass(frozen=True)
class TermList:
    """The expanded right-hand side of a formula.

    Attributes
    ----------
    intercept : bool
        Whether the model has an intercept.
    terms : tuple of Term
        Non-intercept terms in R's order.
    """

    intercept: bool
    terms: tuple[Term, ...]

    def to_code(self) -> str:
        """Formulaic-ready text: ``"1 + a + b + a:b"``, ``"0 + x"``, ``"1"``."""
        parts = ["1" if self.intercept else "0"]
        parts += [":".join(f.code for f in term) for term in self.terms]
        return " + ".join(parts)

    def labels(self) -> list[str]:
        """R's term labels: ``["a", "b", "a:b"]``."""
        return [":".join(f.label for f in term) for term in self.terms]

    def variables(self) -> list[str]:
        """Data columns read by any term, first appearance first."""
        found: list[str] = []
        for term in self.terms:
            for factor in term:
                found += [v for v in factor.variables if v not in found]
        return found


@dataclass
class _Set:
    """Intermediate result: terms as frozensets of factor labels."""

    terms: list[frozenset[str]]
    intercept: bool | None = None


class _Expander:
    def __init__(self, text: str):
        self.text = text
        self.factors: dict[str, Factor] = {}
        self.order: list[str] = []

    def factor(self, node: Node) -> _Set:
        label = to_label(node)
        if label not in self.factors:
            self.factors[label] = Factor(label, to_code(node), tuple(names_in(node)))
            self.order.append(label)
        return _Set([frozenset([label])])

    def fail(self, message: str, node: Node) -> FormulaError:
        return FormulaError(message, self.text or None, node.pos if self.text else None)

    def expand(self, node: Node) -> _Set:
        if isinstance(node, Paren):
            return self.expand(node.inner)
        if isinstance(node, Num):
            if node.value == 1:
                return _Set([], True)
            if node.value == 0:
                return _Set([], False)
            raise self.fail(f"invalid model term '{node.text}' (only 0 and 1 allowed)", node)
        if isinstance(node, (Name, Call)):
            return self.factor(node)
        if isinstance(node, Str):
            raise self.fail("a string is not a model term", node)
        if isinstance(node, Unary):
            inner = self.expand(node.operand)
            if node.op == "+":
                return inner
            if node.op == "-":
                return _Set([], _negate(inner.intercept))
            raise self.fail(f"operator '{node.op}' is not allowed in a model formula", node)
        if isinstance(node, BinOp):
            return self.binary(node)
        raise TypeError(f"not a formula node: {node!r}")

    def binary(self, node: BinOp) -> _Set:
        op = node.op
        if op in ("|", "||"):
            raise FormulaError(
                "random-effects term must be a top-level summand of the formula, in "
                "parentheses, e.g. 'y ~ x + (1 | g)'",
                self.text or None,
                node.op_pos if self.text else None,
            )
        left = self.expand(node.left)
        if op == "^":
            return self.power(node, left)
        right = self.expand(node.right)
        if op == "+":
            intercept = right.intercept if right.intercept is not None else left.intercept
            return _Set(_union(left.terms, right.terms), intercept)
        if op == "-":
            removed = set(right.terms)
            terms = [t for t in left.terms if t not in removed]
            intercept = left.intercept
            if right.intercept is not None:
                intercept = _negate(right.intercept)
            return _Set(terms, intercept)
        if op in (":", "%in%"):
            return _Set(_interact(left.terms, right.terms), left.intercept)
        if op == "*":
            both = _union(left.terms, right.terms)
            return _Set(_union(both, _interact(left.terms, right.terms)), left.intercept)
        if op == "/":
            outer = frozenset().union(*left.terms) if left.terms else frozenset()
            nested = _interact([outer], right.terms) if outer else right.terms
            return _Set(_union(left.terms, nested), left.intercept)
        raise FormulaError(
            f"operator '{op}' is not allowed in a model formula (use it inside I())",
            self.text or None,
            node.op_pos if self.text else None,
        )

    def power(self, node: BinOp, left: _Set) -> _Set:
        exponent = _unparen(node.right)
        if not isinstance(exponent, Num) or exponent.value < 1 or exponent.value % 1:
            raise self.fail("the power of a formula term must be a positive integer", node.right)
        result = left.terms
        for _ in range(int(exponent.value) - 1):
            result = _union(result, _interact(result, left.terms))
        return _Set(result, left.intercept)

    def finish(self, result: _Set, default_intercept: bool) -> TermList:
        rank = {label: i for i, label in enumerate(self.order)}
        terms = sorted(result.terms, key=len)  # stable: appearance order within a degree
        ordered = tuple(
            tuple(self.factors[label] for label in sorted(term, key=rank.__getitem__))
            for term in terms
        )
        intercept = default_intercept if result.intercept is None else result.intercept
        return TermList(intercept, ordered)


def _negate(flag: bool | None) -> bool | None:
    return None if flag is None else not flag


def _unparen(node: Node) -> Node:
    while isinstance(node, Paren):
        node = node.inner
    return node


def _union(a: list[frozenset[str]], b: list[frozenset[str]]) -> list[frozenset[str]]:
    out = list(a)
    out += [t for t in b if t not in out]
    return _dedupe(out)


def _dedupe(terms: list[frozenset[str]]) -> list[frozenset[str]]:
    out: list[frozenset[str]] = []
    for term in terms:
        if term not in out:
            out.append(term)
    return out


def _interact(a: list[frozenset[str]], b: list[frozenset[str]]) -> list[frozenset[str]]:
    return _dedupe([ta | tb for ta in a for tb in b])


def expand_terms(node: Node, text: str = "", intercept: bool = True) -> TermList:
    """Expand a right-hand side tree into R's ordered term list.

    Parameters
    ----------
    node : Node
        The right-hand side (without random-effects terms).
    text : str, optional
        The formula the node was parsed from, for error positions.
    intercept : bool
        The intercept flag when the expression neither adds nor removes it.

    Returns
    -------
    TermList
        Intercept flag and terms in R's order.

    Raises
    ------
    FormulaError
        For a random-effects bar inside another term, a number other than
        0 or 1 as a term, or an operator R does not allow in formulas.
    """
    expander = _Expander(text)
    return expander.finish(expander.expand(node), intercept)
