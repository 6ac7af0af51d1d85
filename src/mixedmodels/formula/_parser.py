"""Stage 2 of formula parsing: tokens to a syntax tree, with R's precedences.

Operators are data: each binary operator has a binding power and an
associativity taken from R's ``?Syntax`` table, so ``1 + x | g`` groups as
``(1 + x) | g`` and ``-a:b`` as ``(-a):b``, exactly as in R.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixedmodels.errors import FormulaError
from mixedmodels.formula._ast import Arg, BinOp, Call, Name, Node, Num, Paren, Str, Unary
from mixedmodels.formula._tokens import Kind, Token, tokenize

__all__ = ["FormulaTree", "parse_expression", "parse_tree"]

# (left binding power, right binding power); right < left means right-associative.
_BINARY: dict[str, tuple[int, int]] = {
    "||": (20, 21),
    "|": (20, 21),
    "&&": (30, 31),
    "&": (30, 31),
    "==": (50, 51),
    "!=": (50, 51),
    "<": (50, 51),
    "<=": (50, 51),
    ">": (50, 51),
    ">=": (50, 51),
    "+": (60, 61),
    "-": (60, 61),
    "*": (70, 71),
    "/": (70, 71),
    "%": (80, 81),  # any %op%
    ":": (90, 91),
    "^": (110, 109),
}
_PREFIX = {"-": 100, "+": 100, "!": 40}


@dataclass(frozen=True)
class FormulaTree:
    """A parsed two-sided formula.

    Attributes
    ----------
    text : str
        The formula as typed.
    lhs : Node
        The response expression.
    rhs : Node
        Everything right of ``~``.
    tilde_pos : int
        Offset of the ``~``.
    """

    text: str
    lhs: Node
    rhs: Node
    tilde_pos: int


class _Parser:
    def __init__(self, text: str, tokens: list[Token]):
        self.text = text
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, message: str, token: Token) -> FormulaError:
        return FormulaError(message, self.text, token.pos)

    def unexpected(self, token: Token) -> FormulaError:
        if token.kind is Kind.END:
            return self.fail("unexpected end of formula", token)
        return self.fail(f"unexpected {token.text or token.kind.value!r}", token)

    def expression(self, min_bp: int = 0) -> Node:
        left = self.prefix()
        while True:
            token = self.peek()
            if token.kind is not Kind.OP:
                break
            key = "%" if token.text.startswith("%") else token.text
            if key not in _BINARY:
                break
            lbp, rbp = _BINARY[key]
            if lbp < min_bp:
                break
            self.advance()
            if key in ("|", "||") and self.peek().kind in (Kind.RPAREN, Kind.END):
                raise self.fail(f"nothing right of '{token.text}' in random-effects term", token)
            right = self.expression(rbp)
            left = BinOp(token.text, left, right, _start(left), _end(right), token.pos)
        return left

    def prefix(self) -> Node:
        token = self.advance()
        if token.kind is Kind.NAME:
            if self.peek().kind is Kind.LPAREN and not token.quoted:
                return self.call(token)
            return Name(token.text, token.pos, token.end, token.quoted)
        if token.kind is Kind.NUMBER:
            return Num(token.text, token.pos, token.end)
        if token.kind is Kind.STRING:
            return Str(token.text, token.pos, token.end)
        if token.kind is Kind.LPAREN:
            if self.peek().kind is Kind.RPAREN:
                raise self.fail("empty parentheses", token)
            if self.peek().kind is Kind.OP and self.peek().text in ("|", "||"):
                bar = self.peek()
                raise self.fail(f"nothing left of '{bar.text}' in random-effects term", bar)
            inner = self.expression()
            close = self.advance()
            if close.kind is not Kind.RPAREN:
                raise self.unexpected(close)
            return Paren(inner, token.pos, close.end)
        if token.kind is Kind.OP and token.text in _PREFIX:
            operand = self.expression(_PREFIX[token.text])
            return Unary(token.text, operand, token.pos, _end(operand))
        if token.kind is Kind.OP and token.text in ("|", "||"):
            raise self.fail(f"nothing left of '{token.text}' in random-effects term", token)
        raise self.unexpected(token)

    def call(self, name: Token) -> Call:
        self.advance()  # "("
        args: list[Arg] = []
        while self.peek().kind is not Kind.RPAREN:
            keyword = None
            if (
                self.peek().kind is Kind.NAME
                and self.tokens[self.i + 1].kind is Kind.OP
                and self.tokens[self.i + 1].text == "="
            ):
                keyword = self.advance().text
                self.advance()
            args.append(Arg(self.expression(), keyword))
            if self.peek().kind is Kind.COMMA:
                self.advance()
            elif self.peek().kind is not Kind.RPAREN:
                raise self.unexpected(self.peek())
        close = self.advance()
        return Call(name.text, tuple(args), name.pos, close.end)


def _start(node: Node) -> int:
    return node.pos


def _end(node: Node) -> int:
    return node.end


def parse_expression(text: str) -> Node:
    """Parse one expression (a formula side, without ``~``).

    Parameters
    ----------
    text : str
        Expression text, e.g. ``"1 + x + (1 | g)"``.

    Returns
    -------
    Node
        The syntax tree.

    Raises
    ------
    FormulaError
        For any syntax error, with its position.
    """
    tokens = tokenize(text)
    if tokens[0].kind is Kind.END:
        raise FormulaError("empty formula", text, 0)
    parser = _Parser(text, tokens)
    node = parser.expression()
    if parser.peek().kind is not Kind.END:
        raise parser.unexpected(parser.peek())
    return node


def parse_tree(text: str) -> FormulaTree:
    """Parse a two-sided formula ``response ~ terms``.

    Parameters
    ----------
    text : str
        The formula as typed in R.

    Returns
    -------
    FormulaTree
        Response and right-hand side trees.

    Raises
    ------
    FormulaError
        For an empty formula, a missing ``~`` or response, more than one
        ``~``, or any syntax error.
    """
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, not {type(text).__name__}")
    tokens = tokenize(text)
    if tokens[0].kind is Kind.END:
        raise FormulaError("empty formula", text, 0)
    tildes = [t for t in tokens if t.kind is Kind.OP and t.text == "~"]
    if not tildes:
        raise FormulaError(
            "formula has no '~': write the response left of '~', e.g. 'y ~ x + (1 | g)'",
            text,
            len(text.rstrip()),
        )
    if len(tildes) > 1:
        raise FormulaError("formula has more than one '~'", text, tildes[1].pos)
    tilde = tildes[0]
    split = tokens.index(tilde)
    if split == 0:
        raise FormulaError("formula has no response left of '~'", text, tilde.pos)
    if tokens[split + 1].kind is Kind.END:
        raise FormulaError("formula has nothing right of '~'", text, tilde.pos)
    end = Token(Kind.END, "", tilde.pos, tilde.pos)
    left = _Parser(text, tokens[:split] + [end])
    lhs = left.expression()
    if left.peek().kind is not Kind.END:
        raise left.unexpected(left.peek())
    right = _Parser(text, tokens[split + 1 :])
    rhs = right.expression()
    if right.peek().kind is not Kind.END:
        raise right.unexpected(right.peek())
    return FormulaTree(text, lhs, rhs, tilde.pos)
