"""Hypothesis matrices of the Type I, II and III ANOVA tables, as lmerTest builds them.

Every function takes the fixed-effects design of a fit and returns, per model term, a
contrast matrix L (rows: hypotheses, columns: the fixed effects):

* Type I (sequential): rows of ``U'`` where ``X'X = U' D U`` (``U`` unit upper
  triangular, the Doolittle factorisation), for the columns of the term;
* Type II: each term tested after every term that does not contain it (marginal terms
  by their own coefficients);
* Type III: lmerTest's construction, independent of the coding: the columns of an
  over-parameterised (indicator-coded) design expressed in the coefficients of X, with
  the columns of each term made orthogonal to those of the terms containing it.

A term contains another when it has all of the other's variables and more, with the
same numeric variables (lmerTest's rule).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels.design import fixed_matrix
from mixedmodels.errors import MixedModelsError

if TYPE_CHECKING:
    from mixedmodels.design import Design

__all__ = [
    "TermStructure",
    "doolittle_upper",
    "term_structure",
    "type1_contrasts",
    "type2_contrasts",
    "type3_contrasts",
    "zapsmall",
]

# Entries of the Doolittle factor below this are set to zero (lmerTest's doolittle).
DOOLITTLE_EPS = 1e-6
# Rows of a Type III contrast with absolute sum below this are dropped.
ZERO_ROW_TOL = 1e-8


@dataclass(frozen=True)
class TermStructure:
    """Which columns of X belong to which model term.

    Attributes
    ----------
    labels : tuple of str
        R's term labels (``"Machine"``, ``"standLRT:sex"``), in the formula's order.
    assign : ndarray of int, (p,)
        R's ``assign`` attribute: 0 for the intercept, j for the j-th term (1-based).
    intercept : bool
        Whether X has an intercept column.
    variables : tuple of frozenset of str
        The variables (factor labels) of each term.
    numeric : tuple of frozenset of str
        The numeric (non-categorical) variables of each term.
    full_assign : ndarray of int
        ``assign`` of the indicator-coded ("over-parameterised") matrix.
    x_in_full : ndarray of int, (p,)
        Column of the indicator-coded matrix that each column of X is.
    """

    labels: tuple[str, ...]
    assign: np.ndarray
    intercept: bool
    variables: tuple[frozenset[str], ...]
    numeric: tuple[frozenset[str], ...]
    full_assign: np.ndarray
    x_in_full: np.ndarray

    def columns(self, term: int) -> np.ndarray:
        """Columns of X of term ``term`` (0-based index into ``labels``)."""
        return np.flatnonzero(self.assign == term + 1)

    @property
    def orders(self) -> tuple[int, ...]:
        """Number of variables in each term."""
        return tuple(len(v) for v in self.variables)

    def containing(self, term: int) -> list[int]:
        """Terms that contain ``term``, in formula order."""
        mine, nums = self.variables[term], self.numeric[term]
        return [j for j in range(len(self.labels))
                if mine < self.variables[j] and self.numeric[j] == nums]


def term_structure(design: Design) -> TermStructure:
    """The term structure of a fit's fixed-effects design.

    Parameters
    ----------
    design : Design
        ``fit.model.design``.

    Returns
    -------
    TermStructure
    """
    spec = design.fixed_spec
    terms = spec.terms
    model_spec = spec.model_spec
    full_assign: list[int] = []
    variables: list[frozenset[str]] = []
    numeric: list[frozenset[str]] = []
    j = 0
    for s in model_spec.structure:
        width = len(s.columns)
        if str(s.term) == "1":
            full_assign += [0] * width
            continue
        term = terms.terms[j]
        j += 1
        full_assign += [j] * width
        labels = frozenset(f.label for f in term)
        nums = frozenset(
            f.label for f, fexpr in zip(term, s.term.factors, strict=True)
            if not _is_categorical(model_spec, fexpr.expr)
        )
        variables.append(labels)
        numeric.append(nums)
    if j != len(terms.terms):
        raise MixedModelsError("cannot match the fixed-effects columns to the model terms")
    full = np.array(full_assign, dtype=int)
    x_in_full = np.array(spec.columns, dtype=int)
    return TermStructure(
        labels=tuple(terms.labels()),
        assign=full[x_in_full],
        intercept=bool(terms.intercept),
        variables=tuple(variables),
        numeric=tuple(numeric),
        full_assign=full,
        x_in_full=x_in_full,
    )


def _is_categorical(model_spec: Any, expr: str) -> bool:
    kind, _ = model_spec.encoder_state.get(expr, (None, {}))
    return getattr(kind, "value", str(kind)) == "categorical"


def indicator_matrix(design: Design, data: Any) -> np.ndarray:
    """The over-parameterised design: every factor of every term coded by indicators.

    This is lmerTest's ``get_rdX``: the intercept column and, per term, R's
    ``model.matrix(~ 0 + term)``. It is the full-coded matrix the design layer builds
    before choosing R's contrast columns, replayed on the fitting rows.
    """
    spec = design.fixed_spec
    total = sum(len(s.columns) for s in spec.model_spec.structure)
    full_spec = dataclasses.replace(spec, columns=tuple(range(total)),
                                    names=tuple(str(i) for i in range(total)))
    full_design = dataclasses.replace(design, fixed_spec=full_spec)
    frame = data if isinstance(data, pd.DataFrame) else _as_frame(data)
    rows = frame.loc[design.row_index]
    return fixed_matrix(full_design, rows)


def _as_frame(data: Any) -> pd.DataFrame:
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    return pd.DataFrame(data)


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest entry."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x
    mx = float(np.max(np.abs(x)))
    places = max(0, digits - int(np.ceil(np.log10(mx)))) if mx > 0 else digits
    return np.round(x, places)


def doolittle_upper(A: np.ndarray, eps: float = DOOLITTLE_EPS) -> np.ndarray:
    """Transpose of the unit lower factor of ``A = L U`` (no pivoting), small entries zeroed.

    For a symmetric positive definite A this is the unit upper triangular U with
    ``A = U' D U``. Pivots below ``eps`` give zero columns (aliased columns), as in
    lmerTest's ``doolittle``.
    """
    A = np.asarray(A, dtype=float)
    n = A.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = A[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = A[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L.T


def _type1_all(X: np.ndarray) -> np.ndarray:
    p = X.shape[1]
    return np.ones((1, 1)) if p == 1 else doolittle_upper(X.T @ X)


def type1_contrasts(X: np.ndarray, ts: TermStructure) -> dict[str, np.ndarray]:
    """Sequential (Type I) hypothesis matrices, one per term.

    Parameters
    ----------
    X : ndarray, (n, p)
    ts : TermStructure

    Returns
    -------
    dict of str -> ndarray (rows, p)
    """
    p = X.shape[1]
    if p == 0 or not ts.labels:
        return {}
    L = _type1_all(X)
    return {label: L[ts.columns(j)] for j, label in enumerate(ts.labels)}


def type2_contrasts(X: np.ndarray, ts: TermStructure) -> dict[str, np.ndarray]:
    """Type II hypothesis matrices: each term after all terms not containing it."""
    p = X.shape[1]
    if p <= 1 or len(ts.labels) <= 1:
        return type1_contrasts(X, ts)
    out = {}
    for j, label in enumerate(ts.labels):
        containing = ts.containing(j)
        if not containing:
            out[label] = np.eye(p)[ts.columns(j)]
            continue
        tested = np.concatenate([ts.columns(t) for t in [j, *containing]])
        rest = np.setdiff1d(np.arange(p), tested)
        order = np.concatenate([rest, tested])
        Lc = doolittle_upper(X[:, order].T @ X[:, order])
        rows = Lc[ts.assign[order] == j + 1]
        L = np.zeros_like(rows)
        L[:, order] = rows
        out[label] = L
    return out


def type3_contrasts(X: np.ndarray, ts: TermStructure, full: np.ndarray) -> dict[str, np.ndarray]:
    """Type III hypothesis matrices as lmerTest's ``get_contrasts_type3``.

    Parameters
    ----------
    X : ndarray, (n, p)
        The fit's fixed-effects matrix (treatment coding).
    ts : TermStructure
    full : ndarray, (n, m)
        The indicator-coded matrix (:func:`indicator_matrix`).
    """
    p = X.shape[1]
    if p <= 1 or len(ts.labels) <= 1:
        return type1_contrasts(X, ts)
    # Rows: columns of the full matrix; columns: coefficients of X.
    L = zapsmall((np.linalg.pinv(X) @ full).T)
    by_order = sorted(range(len(ts.labels)), key=lambda j: -ts.orders[j])
    for j in by_order:
        containing = ts.containing(j)
        if not containing:
            continue
        cols = ts.columns(j)
        basis = L[:, np.concatenate([ts.columns(t) for t in containing])]
        coef, *_ = np.linalg.lstsq(basis, L[:, cols], rcond=None)
        L[:, cols] = zapsmall(L[:, cols] - basis @ coef)
    L = L[ts.x_in_full]
    out = {}
    for j, label in enumerate(ts.labels):
        Lj = L[:, ts.columns(j)].T
        out[label] = Lj[np.abs(Lj).sum(axis=1) > ZERO_ROW_TOL]
    return out
