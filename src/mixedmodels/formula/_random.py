"""Random-effects terms: find them in the right-hand side, expand ``||`` and ``/``.

lme4's rules, reproduced:

- ``(x || g)`` becomes ``(1 | g) + (0 + x | g)``, one term per term label of
  the left side (``expandDoubleVerts``); ``(0 + x + z || g)`` gives
  ``(0 + x | g) + (0 + z | g)``.
- ``(1 | a/b)`` becomes ``(1 | b:a) + (1 | a)``, and ``(1 | a/b/c)`` becomes
  ``(1 | c:b:a) + (1 | b:a) + (1 | a)``: lme4's ``findbars`` lists the innermost
  factor first and names it inner-to-outer (``"cask:batch"`` for
  ``batch/cask``).
- ``(1 | a:b)`` keeps the name as typed, ``"a:b"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixedmodels.errors import FormulaError
from mixedmodels.formula._ast import BinOp, Name, Node, Paren
from mixedmodels.formula._terms import TermList, expand_terms

__all__ = ["RandomTerm", "expand_random", "split_summands"]


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expansion.

    Attributes
    ----------
    lhs : str
        Left of the bar as a formulaic-ready right-hand side with an explicit
        intercept flag: ``"1 + Days"``, ``"0 + Days"``, ``"1"``, ``"0 + f"``.
    group : tuple of str
        Variables whose interaction is the grouping factor, in lme4's name
        order, e.g. ``("cask", "batch")``.
    group_name : str
        lme4's name of the grouping factor: ``"Subject"``, ``"cask:batch"``.
    source : str
        The term as typed, e.g. ``"(1 | batch/cask)"``; every term expanded
        from one typed term shares its source.
    """

    lhs: str
    group: tuple[str, ...]
    group_name: str
    source: str


@dataclass(frozen=True)
class _Summand:
    node: Node
    negative: bool


def split_summands(node: Node) -> list[_Summand]:
    """Flatten the top-level ``+``/``-`` chain of a right-hand side.

    Parameters
    ----------
    node : Node
        The right-hand side.

    Returns
    -------
    list
        Summands in order, each with its sign.
    """
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        left = split_summands(node.left)
        right = split_summands(node.right)
        if node.op == "-":
            right = [_Summand(s.node, not s.negative) for s in right]
        return left + right
    return [_Summand(node, False)]


def bar_of(node: Node) -> BinOp | None:
    """The ``|``/``||`` node of a random-effects summand, or None."""
    while isinstance(node, Paren):
        node = node.inner
    if isinstance(node, BinOp) and node.op in ("|", "||"):
        return node
    return None


def _group_chain(node: Node, text: str) -> list[list[str]]:
    """Split a grouping expression into its ``/`` levels, each a ``:`` list."""
    while isinstance(node, Paren):
        node = node.inner
    if isinstance(node, BinOp) and node.op == "/":
        return _group_chain(node.left, text) + _group_chain(node.right, text)
    return [_interaction(node, text)]


def _interaction(node: Node, text: str) -> list[str]:
    while isinstance(node, Paren):
        node = node.inner
    if isinstance(node, Name):
        return [node.id]
    if isinstance(node, BinOp) and node.op == ":":
        return _interaction(node.left, text) + _interaction(node.right, text)
    raise FormulaError(
        "grouping factor must be a variable name, an interaction 'a:b' or a nesting 'a/b'",
        text,
        node.pos,
    )


def _nested_groups(chain: list[list[str]]) -> list[tuple[tuple[str, ...], str]]:
    """Grouping factors of ``a/b/c`` and their names, in lme4's order.

    lme4 names them ``c:(b:a)``, ``b:a``, ``a``: each level is joined to the name of
    the one above it, which is parenthesised when it is itself an interaction.
    """
    groups: list[tuple[tuple[str, ...], str]] = []
    current: tuple[str, ...] = ()
    name = ""
    for level in chain:
        current = tuple(level) + current
        here = ":".join(level)
        if name:
            here = f"{here}:({name})" if ":" in name else f"{here}:{name}"
        name = here
        groups.append((current, name))
    return groups[::-1]


def _lhs_parts(bar: BinOp, text: str) -> list[TermList]:
    """Left sides after ``||`` expansion, each as a term list."""
    terms = expand_terms(bar.left, text, intercept=True)
    if bar.op == "|":
        return [terms]
    parts = [TermList(True, ())] if terms.intercept else []
    parts += [TermList(False, (term,)) for term in terms.terms]
    if not parts:
        raise FormulaError("random-effects term has no terms left of '||'", text, bar.op_pos)
    return parts


def expand_random(node: Node, text: str) -> list[RandomTerm]:
    """Expand one typed random-effects term into lme4's terms.

    Parameters
    ----------
    node : Node
        The summand, ``(lhs | group)`` or ``(lhs || group)``.
    text : str
        The whole formula, for ``source`` and error positions.

    Returns
    -------
    list of RandomTerm
        One per left side (after ``||``) and grouping factor (after ``/``).
    """
    bar = bar_of(node)
    if bar is None:
        raise TypeError("not a random-effects term")
    source = text[node.pos : node.end]
    groups = _nested_groups(_group_chain(bar.right, text))
    out: list[RandomTerm] = []
    for lhs in _lhs_parts(bar, text):
        if not lhs.intercept and not lhs.terms:
            raise FormulaError(
                "random-effects term has no terms left of the bar (only '0')", text, bar.pos
            )
        for group, name in groups:
            out.append(RandomTerm(lhs.to_code(), group, name, source))
    return out
