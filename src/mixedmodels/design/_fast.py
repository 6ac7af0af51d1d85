"""R-coded model matrices of simple term lists without formulaic.

Building a small design through formulaic costs milliseconds (parsing, its
materialiser, pandas frames), more than fitting a model like sleepstudy's. When
every factor of every term is a plain data column, numeric or an (unordered)
categorical, the matrix is easy to build directly; this module does so and gives
exactly what :func:`mixedmodels.design._coding.code_terms` gives through
formulaic: the same columns (values bit for bit, products taken in formulaic's
order), names, level order, R coding (contrasts or indicators, errors included)
and a :class:`CodedSpec` whose formulaic ``ModelSpec`` is built on first use (from
one row with the same column types, which is all formulaic learns from plain
columns), for replay on new data.

Anything else (transforms, ``I()``, ``C()``, ``poly``, names needing quotes,
ordered factors, other dtypes) returns None and goes through formulaic.
"""

from __future__ import annotations

import functools
import keyword
import math
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.design._frame import column_values
from mixedmodels.formula import TermList

__all__ = ["fast_code_terms", "plain_numeric", "simple_columns"]

# Column kinds as formulaic names them in a ModelSpec's encoder state.
NUMERICAL = "numerical"
CATEGORICAL = "categorical"


def _is_plain_identifier(code: str) -> bool:
    return code.isidentifier() and not keyword.iskeyword(code)


def _plain_name(factor: Any) -> str | None:
    code = factor.code
    if factor.label == code and factor.variables == (code,) and _is_plain_identifier(code):
        return code
    return None


def _column(data: Any, name: str) -> Any:
    """The prepared column ``name`` as a Categorical or float64 array, or None."""
    columns = getattr(data, "columns", None)
    if isinstance(columns, dict):  # PreparedColumns
        values = columns.get(name)
    elif isinstance(data, pd.DataFrame) and name in data.columns:
        # the frame's own array (a DataFrame for duplicated names: declined below)
        values = column_values(data, name)
        if isinstance(values, pd.Series):  # where the frame cannot give its array
            values = (values.array if isinstance(values.dtype, pd.CategoricalDtype)
                      else values.to_numpy())
    else:
        return None
    if isinstance(values, pd.Categorical):
        return None if values.ordered else values
    if isinstance(values, np.ndarray) and values.dtype == np.float64 and values.ndim == 1:
        return values
    return None


def plain_numeric(code: str, data: Any) -> np.ndarray | None:
    """The prepared float64 column ``code`` when ``code`` is a plain column name and the
    column numeric (what coding ``0 + code`` gives), else None."""
    if not _is_plain_identifier(code):
        return None
    values = _column(data, code)
    return values if isinstance(values, np.ndarray) else None


def simple_columns(terms: TermList, data: Any) -> dict[str, Any] | None:
    """Every column the terms read, when each factor is a plain column; else None."""
    out: dict[str, Any] = {}
    for term in terms.terms:
        for factor in term:
            name = _plain_name(factor)
            if name is None:
                return None
            if name not in out:
                values = _column(data, name)
                if values is None:
                    return None
                out[name] = values
    return out


def fast_code_terms(
    terms: TermList, data: Any, allow_python: bool = False
) -> tuple[np.ndarray, Any] | None:
    """:func:`code_terms` without formulaic for simple term lists; None otherwise.

    Parameters
    ----------
    terms : TermList
        Intercept flag and terms in R's order.
    data : PreparedColumns or pandas.DataFrame
        Prepared data (factors as categoricals, numbers as float64, no missing
        values), at least one row.
    allow_python : bool
        Recorded in the spec (replay on new data goes through formulaic).

    Returns
    -------
    (matrix, CodedSpec) or None
    """
    from mixedmodels.design._coding import CodedSpec, LazyModelSpec, r_coding, term_columns

    n = len(data)
    if n == 0:
        return None
    columns = simple_columns(terms, data)
    if columns is None:
        return None
    kinds_of: dict[str, tuple[str, tuple[object, ...]]] = {}
    for name, values in columns.items():
        if isinstance(values, pd.Categorical):
            # formulaic's state: list(Series(values).astype("category").cat.categories)
            kinds_of[name] = (CATEGORICAL, tuple(list(values.categories)))
        else:
            kinds_of[name] = (NUMERICAL, ())
    term_kinds = [[kinds_of[f.code] for f in term] for term in terms.terms]
    coding = r_coding(terms, term_kinds)

    out_columns: list[int] = []
    names: list[str] = []
    values_out: list[np.ndarray] = []
    start = 0
    if terms.intercept:
        out_columns.append(0)
        names.append("(Intercept)")
        values_out.append(np.ones(n))
        start = 1
    widths_all: list[int] = []
    categories: dict[str, tuple[object, ...]] = {}
    for term, kinds, codes in zip(terms.terms, term_kinds, coding, strict=True):
        widths = [len(cats) if kind == CATEGORICAL else 1 for kind, cats in kinds]
        for factor, (kind, cats) in zip(term, kinds, strict=True):
            if kind == CATEGORICAL:
                categories[factor.code] = cats
        width = math.prod(widths)
        widths_all.append(width)
        for offset, parts in term_columns(term, kinds, widths, codes):
            out_columns.append(start + offset)
            names.append(":".join(parts))
            values_out.append(_product(term, widths, offset, columns))
        start += width
    if values_out:
        matrix = np.empty((n, len(values_out)))
        for j, v in enumerate(values_out):
            matrix[:, j] = v
    else:
        matrix = np.empty((n, 0))
    used = list(columns)
    lazy = LazyModelSpec(
        terms.to_code(), functools.partial(_skeleton, data, used), allow_python,
        (1,) * terms.intercept + tuple(widths_all),
    )
    spec = CodedSpec(lazy, tuple(out_columns), tuple(names), terms, categories, allow_python)
    return matrix, spec


def _skeleton(data: Any, names: list[str]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.iloc[:1][names]
    return data.skeleton(names)


def _indicator(values: pd.Categorical, index: int) -> np.ndarray:
    return np.asarray(values.codes) == index


def _product(term: Any, widths: list[int], offset: int, columns: dict[str, Any]) -> np.ndarray:
    """One column of a term, multiplied in formulaic's order.

    formulaic multiplies the single-column factors first (in term order), then
    takes the product of the multi-column factors (in term order) times that, and
    finally multiplies by 1 (its ``scale``). Factors vary first-fastest along the
    term's columns.
    """
    rest = offset
    multi: list[np.ndarray] = []
    solo: list[np.ndarray] = []
    for factor, width in zip(term, widths, strict=True):
        index = rest % width
        rest //= width
        values = columns[factor.code]
        column = _indicator(values, index) if isinstance(values, pd.Categorical) else values
        (multi if width > 1 else solo).append(column)
    parts = multi + ([functools.reduce(np.multiply, solo)] if solo else [])
    return 1 * functools.reduce(np.multiply, parts)
