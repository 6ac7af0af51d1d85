"""From (formula, data) to the numbers the engine needs: :func:`build_design`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.design._coding import CodedSpec, code_terms, replay
from mixedmodels.design._fast import plain_numeric
from mixedmodels.design._frame import (
    as_pandas,
    check_columns,
    column_values,
    is_factor_like,
    isna,
    missing_mask,
    resolve_vector,
)
from mixedmodels.design._prepare import PreparedColumns, prepare, prepare_columns
from mixedmodels.design._rank import (
    RankDeficiencyWarning,
    independent_basis,
    rank_deficiency_message,
)
from mixedmodels.design._reterms import ReTerm, build_reterm, check_grouping
from mixedmodels.errors import DataError
from mixedmodels.formula import ParsedFormula, parse_formula, parse_rhs

__all__ = ["Design", "build_design", "fixed_matrix"]


@dataclass(frozen=True)
class Design:
    """Everything a linear mixed model needs from the formula and the data.

    Attributes
    ----------
    formula : ParsedFormula
        The parsed formula.
    y : numpy.ndarray
        float64 (n,), the response.
    response_name : str
        R's name of the response: ``"Reaction"``, ``"log(Reaction)"``.
    X : numpy.ndarray
        float64 (n, p), full column rank (aliased columns removed).
    xnames : tuple of str
        lme4's coefficient names: ``"(Intercept)"``, ``"Days"``, ``"sexM"``.
    dropped : tuple of str
        Names of the aliased columns dropped for rank deficiency.
    reterms : tuple of ReTerm
        Random-effects terms in formula order.
    weights : numpy.ndarray or None
        (n,) prior weights, positive.
    offset : numpy.ndarray or None
        (n,) offset.
    n_dropped_na : int
        Rows dropped for missing values.
    row_index : pandas.Index
        Index labels of the rows used.
    fixed_spec : CodedSpec
        Replays ``X`` on new data (formulaic ``ModelSpec`` + kept columns).
    """

    formula: ParsedFormula
    y: np.ndarray
    response_name: str
    X: np.ndarray
    xnames: tuple[str, ...]
    dropped: tuple[str, ...]
    reterms: tuple[ReTerm, ...]
    weights: np.ndarray | None
    offset: np.ndarray | None
    n_dropped_na: int
    row_index: pd.Index
    fixed_spec: CodedSpec

    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return int(self.y.shape[0])


def build_design(
    formula: str | ParsedFormula,
    data: Any,
    weights: Any = None,
    offset: Any = None,
    *,
    allow_python: bool = False,
) -> Design:
    """Evaluate an lme4 formula on a data frame.

    Parameters
    ----------
    formula : str or ParsedFormula
        E.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : DataFrame-like
        pandas, polars, pyarrow or any frame with ``to_pandas()``; not modified.
    weights, offset : str or array-like, optional
        A column name or n values.
    allow_python : bool
        False (default): the formula is data, not code; only names, numbers,
        arithmetic, the random-term syntax and the functions in
        ``mixedmodels.formula.ALLOWED_FUNCTIONS`` are accepted, and formulaic
        evaluates terms in a closed namespace. True: any Python expression is
        evaluated with formulaic's full namespace; only for trusted formulas,
        since such a formula can run arbitrary code.

    Returns
    -------
    Design
        Response, fixed-effects matrix, random-effects terms and bookkeeping.

    Raises
    ------
    FormulaError
        For a bad formula or a variable that is not a column of ``data``.
    DataError
        For empty data, no complete rows, a non-numeric response, infinite
        values, bad weights or offset, or a grouping factor with one level
        or as many levels as observations.

    Warns
    -----
    RankDeficiencyWarning
        When aliased fixed-effects columns are dropped.
    """
    if isinstance(formula, ParsedFormula):
        if not (allow_python and formula.allow_python):
            # A ParsedFormula may have been built by hand or with allow_python: check it.
            formula = parse_formula(formula.text, allow_python=allow_python)
        parsed = formula
    else:
        parsed = parse_formula(formula, allow_python=allow_python)
    frame = as_pandas(data)
    if frame.shape[0] == 0:
        raise DataError("data has no rows")
    variables = parsed.variables()
    check_columns(frame, variables, parsed.text)
    w = resolve_vector(weights, frame, "weights")
    off = resolve_vector(offset, frame, "offset")
    # Each column is looked up once, as an array where it can be: pandas indexing costs
    # more than a small design.
    columns = {name: column_values(frame, name) for name in variables}
    _check_response_type(parsed, frame, columns)

    drop = np.zeros(frame.shape[0], dtype=bool)
    for series in columns.values():
        drop |= isna(series)
    for vector in (w, off):
        if vector is not None:
            drop |= np.isnan(vector)
    n_total = frame.shape[0]
    finite = False
    for _ in range(2):
        if drop.all():
            raise DataError(
                "no rows left after dropping rows with missing values in "
                + ", ".join(repr(v) for v in variables)
            )
        keep = ~drop
        if keep.all():
            rows, row_index = columns, frame.index
        else:
            rows = {name: series[keep] for name, series in columns.items()}
            row_index = frame.index[keep]
        prepared = prepare(rows, variables, row_index)
        _check_finite_columns(prepared, variables)
        y, X, fixed_spec, reterms = _evaluate(parsed, prepared, rows, allow_python)
        # the usual case first: nothing missing, nothing infinite
        finite = (bool(np.isfinite(y).all()) and bool(np.isfinite(X).all())
                  and all(np.isfinite(term.z).all() for term in reterms))
        if finite:
            break
        bad = np.isnan(y) | np.isnan(X).any(axis=1)
        for term in reterms:
            bad |= np.isnan(term.z).any(axis=1)
        if not bad.any():
            break
        drop[np.flatnonzero(keep)[bad]] = True
    else:  # pragma: no cover - a second pass never yields new missing values
        raise DataError("missing values remain after dropping incomplete rows")

    if not finite:
        _check_finite(y, (parsed.response_label or parsed.response,), "response")
        _check_finite(X, fixed_spec.names, "fixed-effects column")
        for term in reterms:
            _check_finite(term.z, term.cnames, f"random-effects column of {term.name!r}")
    check_grouping(reterms, y.shape[0])
    w = _check_weights(w[keep]) if w is not None else None
    off = off[keep] if off is not None else None
    if off is not None and not np.isfinite(off).all():
        raise DataError("offset has infinite values")

    mask, basis = independent_basis(X)
    _check_residual_variation(y if off is None else y - off, basis, parsed)
    dropped = tuple(n for n, k in zip(fixed_spec.names, mask, strict=True) if not k)
    if dropped:
        warnings.warn(rank_deficiency_message(dropped), RankDeficiencyWarning, stacklevel=2)
        X = np.ascontiguousarray(X[:, mask])
        fixed_spec = fixed_spec.subset(mask)

    return Design(
        formula=parsed,
        y=y,
        response_name=parsed.response_label or parsed.response,
        X=X,
        xnames=fixed_spec.names,
        dropped=dropped,
        reterms=tuple(reterms),
        weights=w,
        offset=off,
        n_dropped_na=int(n_total - keep.sum()),
        row_index=row_index,
        fixed_spec=fixed_spec,
    )


def _evaluate(
    parsed: ParsedFormula, prepared: PreparedColumns, rows: Any, allow_python: bool
):
    y = plain_numeric(parsed.response, prepared)
    if y is not None:
        y_matrix = y[:, None]
    else:
        y_matrix, _ = code_terms(parse_rhs(f"0 + {parsed.response}"), prepared, allow_python)
    if y_matrix.shape[1] != 1:
        raise DataError(
            f"response {parsed.response_label or parsed.response!r} must be one numeric "
            f"column, not {y_matrix.shape[1]} columns"
        )
    X, fixed_spec = code_terms(parse_rhs(parsed.fixed), prepared, allow_python)
    # a random term whose left side is the fixed part's (lme4's usual maximal term,
    # ``y ~ x + (x | g)``) has the same coding: a copy of X, not a second coding
    same = {parsed.fixed: (X, fixed_spec)}
    reterms = [build_reterm(term, prepared, rows, allow_python, coded=same.get(term.lhs))
               for term in parsed.random]
    return y_matrix[:, 0].copy(), X, fixed_spec, reterms


def _check_response_type(
    parsed: ParsedFormula, frame: pd.DataFrame, columns: dict[str, Any]
) -> None:
    name = parsed.response.strip("`")
    if name not in frame.columns:
        return
    series = columns[name] if name in columns else frame[name]
    if is_factor_like(series):
        if pd.api.types.is_bool_dtype(series.dtype):
            return
        raise DataError(f"response {name!r} must be numeric, but has dtype {series.dtype}")


def _check_finite_columns(prepared: PreparedColumns, variables: list[str]) -> None:
    for name in variables:
        values = prepared.columns[name]
        if not isinstance(values, np.ndarray):  # a factor
            continue
        infinite = np.isinf(values)
        if infinite.any():
            count = int(infinite.sum())
            raise DataError(f"variable {name!r} has {count} infinite value{'s' * (count > 1)}")


def _check_residual_variation(y: np.ndarray, basis: np.ndarray, parsed: ParsedFormula) -> None:
    """Refuse a response that the fixed effects reproduce exactly (e.g. a constant).

    Then every theta gives a zero penalised residual sum of squares: the criterion
    is -infinity and there is no residual variance to estimate. ``basis`` is an
    orthonormal basis of X's column space (:func:`independent_basis`); y is projected
    off it twice, as the basis was built (the same residual as a least-squares fit).
    """
    scale = float(np.abs(y).max(initial=0.0))
    resid = y
    if basis.shape[1]:
        with np.errstate(all="ignore"):  # extreme magnitudes: left to the engine
            for _ in range(2):
                resid = resid - basis @ (basis.T @ resid)
    if scale == 0.0 or float(np.abs(resid).max(initial=0.0)) <= 1e-12 * scale:
        name = parsed.response_label or parsed.response
        raise DataError(
            f"response {name!r} is fitted exactly by the fixed effects (a constant response?): "
            "there is no residual variation to model"
        )


def _check_finite(matrix: np.ndarray, names, what: str) -> None:
    matrix = matrix.reshape(matrix.shape[0], -1)
    bad = ~np.isfinite(matrix).all(axis=0)
    if bad.any():
        name = [n for n, b in zip(names, bad, strict=True) if b][0]
        raise DataError(f"{what} {name!r} has infinite values")


def _check_weights(w: np.ndarray) -> np.ndarray:
    if not np.isfinite(w).all():
        raise DataError("weights must be finite")
    if (w <= 0).any():
        raise DataError(f"weights must be positive ({int((w <= 0).sum())} are zero or negative)")
    return w


def fixed_matrix(design: Design, newdata: Any) -> np.ndarray:
    """The fixed-effects matrix of a fitted design for new data.

    Parameters
    ----------
    design : Design
        From :func:`build_design`.
    newdata : DataFrame-like
        Rows to predict for; needs the fixed-part variables only.

    Returns
    -------
    numpy.ndarray
        float64 (m, p) with the design's columns, factor levels and
        ``scale()`` state; rows with a missing value are NaN.

    Raises
    ------
    DataError
        For a missing variable or a factor level not seen in fitting.
    """
    frame = as_pandas(newdata)
    terms = design.fixed_spec.terms
    needed = terms.variables()
    missing = [v for v in needed if v not in frame.columns]
    if missing:
        raise DataError(
            f"new data lacks variable{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} of the fixed effects"
        )
    prepared = prepare_columns(frame, needed, fitting=False)
    X = replay(design.fixed_spec, prepared)
    incomplete = missing_mask(frame, needed)
    if incomplete.any():
        X[incomplete] = np.nan
    return X
