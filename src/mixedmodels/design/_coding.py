"""Model matrices coded as R's ``model.matrix`` codes them.

formulaic evaluates every factor (transforms, stateful ``scale()``, level
sets) and produces each term with full indicator coding. R's rule then
decides, per term and factor, between treatment contrasts and indicators
(``TermCode`` in R's ``model.c``):

- a factor is coded by contrasts when the term without it is empty or is
  contained in an earlier term, by indicators otherwise;
- without an intercept, the first factor of the first term holding one is
  coded by indicators.

With treatment contrasts the contrast columns are the indicator columns
whose factor is not at its first level, so the R matrix is a column subset
of formulaic's full-coded matrix; :class:`CodedSpec` records that subset
and the formulaic ``ModelSpec`` that replays it on new data.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec, model_matrix
from formulaic.errors import FormulaicError

from mixedmodels.design._context import evaluation_context
from mixedmodels.design._levels import level_label
from mixedmodels.design._prepare import PreparedColumns
from mixedmodels.errors import DataError, FormulaError, MixedModelsError
from mixedmodels.formula import TermList, check_python_expression

__all__ = ["CodedSpec", "LazyModelSpec", "code_terms", "formulaic_code_terms", "replay"]


class LazyModelSpec:
    """formulaic's ``ModelSpec`` of a matrix built without formulaic, made on first use.

    The fast path (``design/_fast.py``) builds matrices of plain numeric and
    categorical columns itself; formulaic learns nothing from such columns but their
    categories, so the spec is formulaic's for one row with the same column types.

    Parameters
    ----------
    text : str
        The formulaic-ready right-hand side.
    skeleton : callable
        Returns the one-row frame.
    allow_python : bool
        The namespace to evaluate in.
    widths : tuple of int
        Columns of each formulaic term (the intercept first, when present), as the
        fast path laid them out; checked against formulaic's.
    """

    def __init__(self, text: str, skeleton: Any, allow_python: bool,
                 widths: tuple[int, ...]) -> None:
        self.text = text
        self._skeleton = skeleton
        self.allow_python = allow_python
        self.widths = widths
        self._spec: ModelSpec | None = None

    def get(self) -> ModelSpec:
        if self._spec is None:
            formula = _formula(self.text, self.allow_python)
            spec = _materialize(formula, self._skeleton(), self.text,
                                self.allow_python).model_spec
            widths = tuple(len(s.columns) for s in spec.structure)
            if widths != self.widths:  # pragma: no cover - a bug, not a user error
                raise MixedModelsError(
                    f"internal error: formulaic lays out {self.text!r} as {widths}, "
                    f"the fast path as {self.widths}"
                )
            self._spec = spec
            self._skeleton = None
        return self._spec


@dataclass(frozen=True)
class CodedSpec:
    """What is needed to rebuild an R-coded model matrix on new data.

    Attributes
    ----------
    source : formulaic.ModelSpec or LazyModelSpec
        formulaic's spec of the full-coded matrix, or what makes it on first use
        (designs built without formulaic); read it as :attr:`model_spec`.
    columns : tuple of int
        Columns of formulaic's matrix kept, in order.
    names : tuple of str
        R's names of the kept columns.
    terms : TermList
        The terms coded.
    categories : dict
        Levels of each categorical factor, by formulaic expression.
    allow_python : bool
        Evaluate with formulaic's full namespace (trusted formulas only);
        False: the closed namespace of ``design/_context.py``.
    """

    source: ModelSpec | LazyModelSpec
    columns: tuple[int, ...]
    names: tuple[str, ...]
    terms: TermList
    categories: dict[str, tuple[object, ...]]
    allow_python: bool = False

    @property
    def model_spec(self) -> ModelSpec:
        """formulaic's spec of the full-coded matrix (levels, transform state)."""
        source = self.source
        return source.get() if isinstance(source, LazyModelSpec) else source

    def subset(self, keep: np.ndarray) -> CodedSpec:
        """The same spec keeping only the columns where ``keep`` is True."""
        columns = tuple(c for c, k in zip(self.columns, keep, strict=True) if k)
        names = tuple(n for n, k in zip(self.names, keep, strict=True) if k)
        return replace(self, columns=columns, names=names)


def _materialize(spec_or_formula, data: pd.DataFrame, formula_text: str, allow_python: bool):
    context = evaluation_context(allow_python)
    try:
        # NaN and infinite values are reported (or their rows dropped) by the caller.
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("error", category=_mismatch_warning())
            if isinstance(spec_or_formula, ModelSpec):
                return spec_or_formula.get_model_matrix(data, context=context)
            return model_matrix(
                spec_or_formula,
                data,
                ensure_full_rank=False,
                na_action="ignore",
                context=context,
            )
    except _mismatch_warning() as exc:
        raise DataError(f"new data has factor levels not seen in fitting: {exc}") from None
    except FormulaicError as exc:
        raise FormulaError(f"cannot evaluate {formula_text!r}: {_first_line(exc)}") from None
    except (NameError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise FormulaError(f"cannot evaluate {formula_text!r}: {exc}") from None


def _mismatch_warning() -> type[Warning]:
    from formulaic.errors import DataMismatchWarning

    return DataMismatchWarning


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _kind(model_spec: ModelSpec, expr: str) -> tuple[str, tuple[object, ...]]:
    kind, state = model_spec.encoder_state.get(expr, (None, {}))
    name = getattr(kind, "value", str(kind))
    if name == "categorical":
        return name, tuple(state.get("categories", ()))
    return name, ()


def _formula(text: str, allow_python: bool) -> Formula:
    """formulaic's formula, each Python factor checked against the closed grammar."""
    try:
        formula = Formula(text, _ordering="none")
    except FormulaicError as exc:
        raise FormulaError(f"cannot evaluate {text!r}: {_first_line(exc)}") from None
    if not allow_python:
        for term in formula:
            for factor in term.factors:
                if getattr(factor.eval_method, "value", "") == "python":
                    check_python_expression(factor.expr)
    return formula


def code_terms(
    terms: TermList, data: pd.DataFrame | PreparedColumns, allow_python: bool = False
) -> tuple[np.ndarray, CodedSpec]:
    """Build the R-coded model matrix of a term list.

    Terms made of plain numeric and categorical columns are coded directly
    (``design/_fast.py``), everything else through formulaic; both give the same
    matrix and spec.

    Parameters
    ----------
    terms : TermList
        Intercept flag and terms in R's order.
    data : pandas.DataFrame or PreparedColumns
        Prepared data (factors as categoricals, no missing values).
    allow_python : bool
        Evaluate with formulaic's full namespace (trusted formulas only).

    Returns
    -------
    matrix : numpy.ndarray
        float64 (n, p).
    spec : CodedSpec
        For :func:`replay` on new data.

    Raises
    ------
    FormulaError
        When formulaic cannot evaluate a term.
    DataError
        For a factor coded by contrasts that has fewer than two levels.
    """
    from mixedmodels.design._fast import fast_code_terms

    fast = fast_code_terms(terms, data, allow_python)
    if fast is not None:
        return fast
    return formulaic_code_terms(terms, data, allow_python)


def formulaic_code_terms(
    terms: TermList, data: Any, allow_python: bool = False
) -> tuple[np.ndarray, CodedSpec]:
    """:func:`code_terms` through formulaic, whatever the terms."""
    if not isinstance(data, pd.DataFrame):
        data = data.frame()
    text = terms.to_code()
    formula = _formula(text, allow_python)
    full = _materialize(formula, data, text, allow_python)
    spec = full.model_spec
    structure = [s for s in spec.structure if str(s.term) != "1"]
    if len(structure) != len(terms.terms):
        raise FormulaError(f"formulaic expanded {text!r} into unexpected terms")
    values = full.to_numpy(dtype=float) if hasattr(full, "to_numpy") else np.asarray(full, float)
    offsets = {}
    start = 0
    for s in spec.structure:
        offsets[str(s.term)] = (start, len(s.columns))
        start += len(s.columns)
    columns: list[int] = []
    names: list[str] = []
    if terms.intercept:
        columns.append(0)
        names.append("(Intercept)")
    categories: dict[str, tuple[object, ...]] = {}
    term_kinds = [[_kind(spec, f.expr) for f in s.term.factors] for s in structure]
    full_coded = r_coding(terms, term_kinds)
    for term, s, kinds, codes in zip(terms.terms, structure, term_kinds, full_coded,
                                     strict=True):
        first, width = offsets[str(s.term)]
        exprs = [f.expr for f in s.term.factors]
        for expr, (kind, cats) in zip(exprs, kinds, strict=True):
            if kind == "categorical":
                categories[expr] = cats
        widths = _widths(kinds, width, text)
        for offset, parts in term_columns(term, kinds, widths, codes):
            columns.append(first + offset)
            names.append(":".join(parts))
    spec_out = CodedSpec(spec, tuple(columns), tuple(names), terms, categories, allow_python)
    return np.ascontiguousarray(values[:, columns]), spec_out


def _widths(kinds, width: int, text: str) -> list[int]:
    widths = [len(cats) if kind == "categorical" else 0 for kind, cats in kinds]
    known = int(np.prod([w for w in widths if w])) if any(widths) else 1
    unknown = [i for i, w in enumerate(widths) if not w]
    if not unknown:
        return widths
    rest = width // known if known else 0
    if len(unknown) > 1 and rest != 1:
        raise FormulaError(f"cannot code the interaction of matrix-valued terms in {text!r}")
    for i in unknown:
        widths[i] = rest if len(unknown) == 1 else 1
    return widths


def r_coding(terms: TermList, term_kinds: list[list[tuple[str, tuple[object, ...]]]]
             ) -> list[list[int]]:
    """R's code per term and factor: 1 contrasts, 2 indicators, 0 numeric.

    ``term_kinds`` holds, per term and factor, formulaic's kind (``"categorical"``,
    ``"numerical"``, ...) and the categories of a categorical factor.
    """
    label_sets = [frozenset(f.label for f in term) for term in terms.terms]
    out: list[list[int]] = []
    first_done = terms.intercept
    for j, (term, kinds) in enumerate(zip(terms.terms, term_kinds, strict=True)):
        codes = []
        for factor, (kind, cats) in zip(term, kinds, strict=True):
            if kind != "categorical":
                codes.append(0)
                continue
            margin = label_sets[j] - {factor.label}
            contrast = not margin or any(margin <= label_sets[i] for i in range(j))
            if not first_done:
                first_done = True
                contrast = False
            if contrast and len(cats) < 2:
                raise DataError(
                    f"factor {factor.label!r} has {len(cats)} level"
                    f"{'s' if len(cats) != 1 else ''}: contrasts can be applied only to "
                    "factors with 2 or more levels"
                )
            codes.append(1 if contrast else 2)
        out.append(codes)
    return out


def term_columns(term, kinds, widths, codes):
    """Yield (column offset within the term, name parts) for kept columns."""
    total = math.prod(widths)
    for offset in range(total):
        rest = offset
        parts: list[str] = []
        keep = True
        for factor, (kind, cats), width, code in zip(term, kinds, widths, codes, strict=True):
            index = rest % width
            rest //= width
            if kind == "categorical":
                if code == 1 and index == 0:
                    keep = False
                    break
                parts.append(factor.label + level_label(cats[index]))
            elif width > 1:
                parts.append(f"{factor.label}{index + 1}")
            else:
                parts.append(factor.label)
        if keep:
            yield offset, parts


def replay(spec: CodedSpec, data: pd.DataFrame) -> np.ndarray:
    """Rebuild the matrix of :func:`code_terms` on new data.

    Parameters
    ----------
    spec : CodedSpec
        From :func:`code_terms`.
    data : pandas.DataFrame
        New data, prepared as the fitting data was.

    Returns
    -------
    numpy.ndarray
        float64 (m, p), same columns, levels and transform state.

    Raises
    ------
    DataError
        For a factor level not seen in fitting.
    """
    _check_new_levels(spec, data)
    matrix = _materialize(spec.model_spec, data, spec.terms.to_code(), spec.allow_python)
    values = matrix.to_numpy(dtype=float) if hasattr(matrix, "to_numpy") else np.asarray(matrix)
    return np.ascontiguousarray(values[:, list(spec.columns)])


def _check_new_levels(spec: CodedSpec, data: pd.DataFrame) -> None:
    for expr, cats in spec.categories.items():
        if expr not in data.columns:
            continue
        values = data[expr].dropna()
        known = {level_label(c) for c in cats}
        new = sorted({level_label(v) for v in values.unique()} - known)
        if new:
            raise DataError(
                f"factor {expr!r} has new level{'s' if len(new) > 1 else ''} "
                f"{', '.join(map(repr, new))} not seen in fitting"
            )
