"""R's functions, as formulaic evaluates them inside formula terms.

formulaic already provides ``I``, ``C``, ``scale``, ``center``, ``poly``,
``bs`` and friends; this adds R's arithmetic functions under their R names.
"""

from __future__ import annotations

import numpy as np
from formulaic.transforms import C

__all__ = ["R_CONTEXT"]


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
