"""R's functions, as formulaic evaluates them inside formula terms.

formulaic already provides ``I``, ``C``, ``scale``, ``center``, ``poly``,
``bs`` and friends; this adds R's arithmetic functions under their R names.

Two namespaces are built. :data:`R_CONTEXT` is used with ``allow_python=True``:
formulaic then also sees its own transforms and every Python builtin.
:data:`SAFE_CONTEXT` (the default) holds only the functions of the closed
formula grammar (``mixedmodels.formula.ALLOWED_FUNCTIONS``); every other name
formulaic or Python would resolve (builtins such as ``__import__``, ``eval``,
``open``; formulaic transforms such as ``np``) is shadowed by a stand-in that
refuses to be called. Data columns are looked up before the context, so a column
may still be called ``open``.
"""

from __future__ import annotations

import builtins

import numpy as np
from formulaic.transforms import TRANSFORMS, C

from mixedmodels.errors import FormulaError

__all__ = ["R_CONTEXT", "SAFE_CONTEXT", "evaluation_context"]


def _log(x, base=None):
    """R's ``log(x, base = exp(1))``."""
    return np.log(x) if base is None else np.log(x) / np.log(base)


def _round(x, digits=0):
    """R's ``round(x, digits = 0)`` (half to even, as R does)."""
    return np.round(x, int(digits))


R_CONTEXT: dict[str, object] = {
    "factor": C,
    "log": _log,
    "log10": np.log10,
    "log2": np.log2,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sign": np.sign,
    "floor": np.floor,
    "ceil": np.ceil,
    "trunc": np.trunc,
    "round": _round,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "pi": np.pi,
    "inf": np.inf,
}


class _Refused:
    """Stands for a name outside the closed formula namespace; calling it raises."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise FormulaError(
            f"{self.name!r} is not allowed in a formula (formulas are not code; "
            "see allow_python)"
        )

    def __repr__(self) -> str:
        return f"<refused {self.name}>"


def _safe_context() -> dict[str, object]:
    allowed_python = {
        "factor", "log", "log10", "log2", "log1p", "exp", "expm1", "sqrt", "abs", "sign",
        "floor", "ceil", "trunc", "round", "sin", "cos", "tan", "asin", "acos", "atan",
        "sinh", "cosh", "tanh", "pi", "inf",
    }
    allowed_transforms = {"I", "C", "scale", "center", "poly", "bs", "cr", "cs", "cc", "Q"}
    context: dict[str, object] = {
        name: _Refused(name) for name in dir(builtins) if name not in ("True", "False", "None")
    }
    context.update({name: _Refused(name) for name in TRANSFORMS})
    context.update({name: R_CONTEXT[name] for name in allowed_python})
    context.update({name: TRANSFORMS[name] for name in allowed_transforms})
    return context


SAFE_CONTEXT: dict[str, object] = _safe_context()


def evaluation_context(allow_python: bool) -> dict[str, object]:
    """The namespace formulaic evaluates formula terms in.

    Parameters
    ----------
    allow_python : bool
        False (default everywhere): the closed namespace :data:`SAFE_CONTEXT`.
        True: :data:`R_CONTEXT`, on top of formulaic's transforms and Python's
        builtins.

    Returns
    -------
    dict
        Name -> function or constant.
    """
    return R_CONTEXT if allow_python else SAFE_CONTEXT
