"""The public entry point: ``parse_formula`` and the :class:`ParsedFormula` result."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from mixedmodels.errors import FormulaError
from mixedmodels.formula._ast import BinOp, Call, Node, Paren, Unary
from mixedmodels.formula._parser import parse_expression, parse_tree
from mixedmodels.formula._random import RandomTerm, bar_of, expand_random, split_summands
from mixedmodels.formula._render import names_in, to_code, to_label
from mixedmodels.formula._safety import check_tree
from mixedmodels.formula._terms import TermList, expand_terms

__all__ = ["ParsedFormula", "parse_formula", "parse_rhs"]


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into response, fixed part and random terms.

    Attributes
    ----------
    text : str
        The formula as typed.
    response : str
        The response, formulaic-ready: ``"Reaction"``, ``"log(Reaction)"``.
    fixed : str
        The fixed-effects right-hand side, formulaic-ready and expanded into
        R's terms with an explicit intercept flag: ``"1 + Days"``,
        ``"0 + a + b + a:b"``, ``"1"``.
    random : tuple of RandomTerm
        Random-effects terms, fully expanded, in formula order.
    response_label : str
        R's name of the response: ``"log(Reaction)"``.
    allow_python : bool
        True when the formula was parsed with ``allow_python=True``: it may hold
        any Python expression and is evaluated with formulaic's full namespace.
    """

    text: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]
    response_label: str = ""
    allow_python: bool = False

    def variables(self) -> list[str]:
        """Every data column the formula reads, first appearance first.

        Returns
        -------
        list of str
            Columns of the response, fixed part, random-term left sides and
            grouping factors.
        """
        known = self.__dict__.get("_variables")  # parse_formula's objects are shared
        if known is not None:
            return list(known)
        found: list[str] = []

        def add(names: list[str]) -> None:
            found.extend(n for n in names if n not in found)

        add(names_in(parse_expression(self.response)))
        add(parse_rhs(self.fixed).variables())
        for term in self.random:
            add(parse_rhs(term.lhs).variables())
            add(list(term.group))
        object.__setattr__(self, "_variables", tuple(found))  # frozen: not a field
        return found


def parse_rhs(text: str) -> TermList:
    """Expand a formulaic-ready right-hand side (``fixed`` or a term's ``lhs``).

    Parameters
    ----------
    text : str
        E.g. ``"1 + a + b + a:b"``.

    Returns
    -------
    TermList
        Intercept flag and terms in R's order.
    """
    if isinstance(text, str):
        return _parse_rhs_cached(text)
    return expand_terms(parse_expression(text), text, intercept=True)


@functools.lru_cache(maxsize=512)
def _parse_rhs_cached(text: str) -> TermList:
    # TermList is immutable, so one result can serve every caller.
    return expand_terms(parse_expression(text), text, intercept=True)


def parse_formula(text: str, *, allow_python: bool = False) -> ParsedFormula:
    """Parse an lme4 formula as typed in R.

    Parameters
    ----------
    text : str
        E.g. ``"Reaction ~ Days + (Days | Subject)"``.
    allow_python : bool
        By default a formula is data, not code: only column names, numbers,
        arithmetic, comparisons, the random-term syntax and the functions in
        :data:`mixedmodels.formula.ALLOWED_FUNCTIONS` are accepted. True skips
        that check, for trusted formulas that need arbitrary Python inside
        ``I()`` (formulaic then evaluates them with its full namespace, which
        can run any code: never use it with formulas from others).

    Returns
    -------
    ParsedFormula
        Response, fixed part and expanded random terms.

    Raises
    ------
    FormulaError
        For a syntax error, a missing response, a misplaced or empty
        random-effects term, a formula with no random-effects term, or (unless
        ``allow_python``) a call, name or string outside the closed grammar; the
        error carries the 0-based position of the problem.

    Examples
    --------
    >>> f = parse_formula("y ~ x + (x || g)")
    >>> f.fixed, [t.lhs for t in f.random]
    ('1 + x', ['1', '0 + x'])
    """
    if isinstance(text, str):
        return _parse_formula_cached(text, bool(allow_python))
    return _parse_formula(text, allow_python)


@functools.lru_cache(maxsize=256)
def _parse_formula_cached(text: str, allow_python: bool) -> ParsedFormula:
    # ParsedFormula is immutable; formulas that do not parse raise and are not cached.
    return _parse_formula(text, allow_python)


def _parse_formula(text: str, allow_python: bool) -> ParsedFormula:
    tree = parse_tree(text)
    if not allow_python:
        check_tree(tree.lhs, text)
        check_tree(tree.rhs, text)
    if bar_of(tree.lhs) is not None or _has_bar(tree.lhs):
        raise FormulaError("random-effects term left of '~'", text, tree.lhs.pos)
    fixed_nodes: list[tuple[Node, bool]] = []
    random: list[RandomTerm] = []
    for summand in split_summands(tree.rhs):
        if bar_of(summand.node) is not None:
            if summand.negative:
                raise FormulaError(
                    "a random-effects term cannot be subtracted", text, summand.node.pos
                )
            random.extend(expand_random(summand.node, text))
        else:
            fixed_nodes.append((summand.node, summand.negative))
    fixed = _fixed_terms(fixed_nodes, text)
    if not random:
        raise FormulaError("no random effects terms specified in formula", text, len(text))
    return ParsedFormula(
        text=text,
        response=to_code(tree.lhs),
        fixed=fixed.to_code(),
        random=tuple(random),
        response_label=to_label(tree.lhs),
        allow_python=bool(allow_python),
    )


def _has_bar(node: Node) -> bool:
    if isinstance(node, BinOp):
        return node.op in ("|", "||") or _has_bar(node.left) or _has_bar(node.right)
    if isinstance(node, Paren):
        return _has_bar(node.inner)
    if isinstance(node, Unary):
        return _has_bar(node.operand)
    if isinstance(node, Call):
        return any(_has_bar(a.value) for a in node.args)
    return False


def _fixed_terms(nodes: list[tuple[Node, bool]], text: str) -> TermList:
    """Expand the fixed summands (random terms removed) as one sum."""
    if not nodes:
        return TermList(True, ())
    node, negative = nodes[0]
    if negative:
        node = Unary("-", node, node.pos, node.end)
    for other, neg in nodes[1:]:
        node = BinOp("-" if neg else "+", node, other, node.pos, other.end, other.pos)
    return expand_terms(node, text, intercept=True)
