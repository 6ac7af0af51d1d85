"""Exception types raised by mixedmodels.

Every error caused by the user's input derives from :class:`MixedModelsError`, so
callers (and the command line) can catch exactly the library's own complaints.
"""

from __future__ import annotations


class MixedModelsError(Exception):
    """Base class of all errors raised for bad input or impossible fits."""


class FormulaError(MixedModelsError, ValueError):
    """A formula that cannot be parsed or refers to something that does not exist.

    Parameters
    ----------
    message : str
        What is wrong.
    formula : str, optional
        The formula text, shown with a caret under ``position``.
    position : int, optional
        Zero-based character offset of the problem in ``formula``.
    """

    def __init__(self, message: str, formula: str | None = None, position: int | None = None):
        self.formula = formula
        self.position = position
        text = message
        if formula is not None and position is not None:
            text = f"{message} at position {position}\n  {formula}\n  {' ' * position}^"
        super().__init__(text)


class DataError(MixedModelsError, ValueError):
    """Data that cannot be used for the requested model (missing column, bad values...)."""
