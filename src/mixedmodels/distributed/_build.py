"""From (formula, Dask data) to a model holding A: the two passes and the checks."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.design import Design, ReTerm
from mixedmodels.design._build import _check_response_type
from mixedmodels.design._frame import check_columns, is_factor_like
from mixedmodels.design._levels import level_label
from mixedmodels.design._prepare import prepare_columns
from mixedmodels.design._rank import RankDeficiencyWarning, rank_deficiency_message
from mixedmodels.design._reterms import check_grouping
from mixedmodels.distributed._blocks import (
    BlockTask,
    Partial,
    combine_partials,
    combine_partials_root,
    partition_blocks,
)
from mixedmodels.distributed._learn import (
    Survey,
    SurveyResult,
    combine_surveys,
    factor_call_variables,
    learn_spec,
    skeleton_frame,
    stateful_arguments,
    survey_partition,
)
from mixedmodels.distributed._model import DistributedModel
from mixedmodels.distributed._plan import GroupingCoder, RowPlan, Selector
from mixedmodels.distributed._reduce import tree_reduce
from mixedmodels.errors import DataError
from mixedmodels.formula import ParsedFormula, parse_formula, parse_rhs
from mixedmodels.linalg import CrossProducts, SparseBlock
from mixedmodels.model import lme4_term_order

__all__ = ["as_dask_frame", "build_model"]

# Relative size of the residual sum of squares (from the moments of [X y]) below which
# the response counts as fitted exactly by the fixed effects.
_EXACT_FIT_TOL = 1e-14


def as_dask_frame(data: Any) -> Any:
    """A Dask data frame from a Dask frame or Parquet path(s).

    Raises
    ------
    DataError
        For files that cannot be read as Parquet, or another kind of input.
    """
    import dask.dataframe as dd

    if isinstance(data, dd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike, list, tuple)):
        paths = os.fspath(data) if isinstance(data, (str, os.PathLike)) else [
            os.fspath(p) for p in data]
        try:
            return dd.read_parquet(paths)
        except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot read Parquet data from {data!r}: {first}") from None
    raise DataError(f"data must be a data frame, not {type(data).__name__}")


def _data_name(data: Any) -> str:
    if isinstance(data, (str, os.PathLike)):
        return os.path.basename(os.fspath(data).rstrip("/")) or os.fspath(data)
    return "data"


@dataclass(frozen=True)
class _Learnt:
    plan: RowPlan
    reterms: tuple[ReTerm, ...]
    fixed_spec: Any
    survey: SurveyResult


def build_model(
    formula: str,
    data: Any,
    *,
    reml: bool = True,
    weights: str | None = None,
    offset: str | None = None,
    data_name: str | None = None,
    allow_python: bool = False,
) -> DistributedModel:
    """See :func:`mixedmodels.distributed.model_from_formula`."""
    frame = as_dask_frame(data)
    parsed = parse_formula(formula, allow_python=allow_python)
    meta = frame._meta
    variables = parsed.variables()
    check_columns(meta, variables, parsed.text)
    for what, value in (("weights", weights), ("offset", offset)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise DataError(f"with Dask data, {what} must be the name of a column")
        if value not in meta.columns:
            raise DataError(f"{what} column {value!r} not found in data")
        if is_factor_like(meta[value]):
            raise DataError(f"{what} must be numeric, but column {value!r} has dtype "
                            f"{meta[value].dtype}")
    _check_response_type(parsed, meta, {})
    parts = frame.to_delayed()
    probe: RowPlan | None = None
    for _ in range(2):
        selector = Selector(tuple(variables), weights, offset, probe)
        learnt = _learn(parsed, meta, selector, parts, allow_python)
        task = BlockTask(learnt.plan, tuple(len(t.levels) for t in _ordered(learnt.reterms)),
                         tuple(t.name for t in _ordered(learnt.reterms)))
        partial = tree_reduce(parts, partition_blocks, combine_partials, task,
                              root=combine_partials_root)
        if partial.n_missing == 0:
            break
        probe = learnt.plan
    else:  # pragma: no cover - a second pass never yields new missing values
        raise DataError("missing values remain after dropping incomplete rows")

    _check_partial(partial, parsed, learnt)
    keep = independent_columns_gram(partial.moments.gram()[:-1, :-1])
    fixed_spec = learnt.fixed_spec
    dropped = tuple(n for n, k in zip(fixed_spec.names, keep, strict=True) if not k)
    if dropped:
        warnings.warn(rank_deficiency_message(dropped), RankDeficiencyWarning, stacklevel=3)
        fixed_spec = fixed_spec.subset(keep)
    _check_residual_variation(partial, keep, fixed_spec, parsed)

    A = _cross_products(partial, keep, _ordered(learnt.reterms))
    p = len(fixed_spec.names)
    design = Design(
        formula=parsed,
        y=np.empty(0),
        response_name=parsed.response_label or parsed.response,
        X=np.empty((0, p)),
        xnames=fixed_spec.names,
        dropped=dropped,
        reterms=learnt.reterms,
        weights=None if weights is None else np.empty(0),
        offset=None if offset is None else np.empty(0),
        n_dropped_na=int(learnt.survey.n_total - partial.n),
        row_index=pd.RangeIndex(0),
        fixed_spec=fixed_spec,
    )
    options = {"formula": formula, "weights": weights, "offset": offset,
               "allow_python": allow_python}
    model = DistributedModel.from_cross_products(
        design, A, n=partial.n, log_weights=partial.log_weights, reml=reml, data=frame,
        data_name=_data_name(data) if data_name is None else data_name, fit_options=options,
    )
    model.attach(learnt.plan, keep, partial.moments, partial.binary)
    return model


def _ordered(reterms: tuple[ReTerm, ...]) -> list[ReTerm]:
    order = lme4_term_order([len(t.levels) for t in reterms])
    return [reterms[i] for i in order]


# ---------------------------------------------------------------------- pass 1
def _learn(parsed: ParsedFormula, meta: pd.DataFrame, selector: Selector, parts: list[Any],
           allow_python: bool) -> _Learnt:
    y_terms = parse_rhs(f"0 + {parsed.response}")
    fixed_terms = parse_rhs(parsed.fixed)
    lhs_terms = [parse_rhs(t.lhs) for t in parsed.random]
    all_terms = [y_terms, fixed_terms, *lhs_terms]
    spec_variables: list[str] = []
    for terms in all_terms:
        spec_variables += [v for v in terms.variables() if v not in spec_variables]
    factors = [v for v in spec_variables if is_factor_like(meta[v])]
    factors += [v for v in factor_call_variables(all_terms)
                if v in meta.columns and v not in factors]
    for term in parsed.random:
        factors += [g for g in term.group if g not in factors]
    variables = list(selector.variables)
    survey = Survey(
        selector=selector,
        factors=tuple(factors),
        numeric=tuple(v for v in variables if not is_factor_like(meta[v])),
        interactions=tuple(dict.fromkeys(t.group for t in parsed.random if len(t.group) > 1)),
        arguments=tuple(stateful_arguments(all_terms)),
        spec_variables=tuple(spec_variables),
        allow_python=allow_python,
    )
    result: SurveyResult = tree_reduce(parts, survey_partition, combine_surveys, survey)
    if result.n_total == 0:
        raise DataError("data has no rows")
    if result.n_kept == 0:
        raise DataError(
            "no rows left after dropping rows with missing values in "
            + ", ".join(repr(v) for v in variables)
        )
    for name in variables:
        count = result.infinite.get(name, 0)
        if count:
            raise DataError(f"variable {name!r} has {count} infinite value{'s' * (count > 1)}")
    levels = {name: info.levels() for name, info in result.factors.items()}
    skeleton = skeleton_frame(spec_variables, meta, levels)
    prepared = prepare_columns(skeleton, spec_variables, fitting=True)
    y_spec = learn_spec(y_terms, prepared, result.moments, allow_python)
    if len(y_spec.columns) != 1:
        raise DataError(
            f"response {parsed.response_label or parsed.response!r} must be one numeric "
            f"column, not {len(y_spec.columns)} columns"
        )
    fixed_spec = learn_spec(fixed_terms, prepared, result.moments, allow_python)
    reterms: list[ReTerm] = []
    coders: list[GroupingCoder] = []
    for term, terms in zip(parsed.random, lhs_terms, strict=True):
        spec = learn_spec(terms, prepared, result.moments, allow_python)
        coder, labels = _grouping(term.group, levels, result)
        coders.append(coder)
        reterms.append(ReTerm(term.group_name, spec.names, labels, np.empty(0, np.int64),
                              np.empty((0, len(spec.columns))), spec, term.group, term.lhs))
    check_grouping(tuple(reterms), result.n_kept)
    order = lme4_term_order([len(t.levels) for t in reterms])
    plan = RowPlan(selector, y_spec, fixed_spec, tuple(reterms[i].lhs_spec for i in order),
                   tuple(coders[i] for i in order))
    return _Learnt(plan, tuple(reterms), fixed_spec, result)


def _grouping(group: tuple[str, ...], levels: dict[str, np.ndarray],
              result: SurveyResult) -> tuple[GroupingCoder, tuple[str, ...]]:
    """The level map and labels of a grouping factor (R's ``interaction_codes``)."""
    categories = tuple(levels[g] for g in group)
    if len(group) == 1:
        return GroupingCoder(group, categories), tuple(level_label(c) for c in categories[0])
    combos = result.combinations[group]
    probe = GroupingCoder(group, categories)
    parts = probe.component_codes(combos)
    combined = np.zeros(len(combos), dtype=np.int64)
    for codes, cats in zip(parts, categories, strict=True):
        combined = combined * len(cats) + codes
    keys = np.unique(combined)
    labels = []
    for key in keys:
        pieces = []
        for cats in reversed(categories):
            key, index = divmod(int(key), len(cats))
            pieces.append(level_label(cats[index]))
        labels.append(":".join(reversed(pieces)))
    return GroupingCoder(group, categories, keys), tuple(labels)


# ---------------------------------------------------------------------- checks
def _check_partial(partial: Partial, parsed: ParsedFormula, learnt: _Learnt) -> None:
    """The in-memory path's checks on the evaluated design, from the sums."""
    if partial.infinite:
        what, name = partial.infinite[0]
        raise DataError(f"{what} {name!r} has infinite values")
    if partial.nonfinite_weights:
        raise DataError("weights must be finite")
    if partial.nonpositive_weights:
        raise DataError(
            f"weights must be positive ({partial.nonpositive_weights} are zero or negative)")
    if partial.infinite_offset:
        raise DataError("offset has infinite values")
    if partial.moments is None or partial.n == 0:  # pragma: no cover - caught in pass 1
        raise DataError("no rows left after dropping rows with missing values")


def _check_residual_variation(partial: Partial, keep: np.ndarray, fixed_spec: Any,
                              parsed: ParsedFormula) -> None:
    """Refuse a response that the fixed effects reproduce exactly (e.g. a constant).

    From the moments of ``[X, y - offset]``: centred when X has an intercept.
    """
    moments = partial.moments
    columns = np.append(keep, True)
    if "(Intercept)" in fixed_spec.names:
        C = moments.comoment[np.ix_(columns, columns)]
    else:
        C = moments.gram()[np.ix_(columns, columns)]
    cyy, cxy, cxx = C[-1, -1], C[:-1, -1], C[:-1, :-1]
    rss = cyy
    if cxx.size:
        coef, *_ = np.linalg.lstsq(cxx, cxy, rcond=None)
        rss = cyy - cxy @ coef
    scale = partial.y_scale
    constant = cyy <= moments.n * (1e-12 * scale) ** 2
    if scale == 0.0 or constant or rss <= _EXACT_FIT_TOL * cyy:
        name = parsed.response_label or parsed.response
        raise DataError(
            f"response {name!r} is fitted exactly by the fixed effects (a constant response?): "
            "there is no residual variation to model"
        )


def independent_columns_gram(G: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """``design.independent_columns`` from the Gram matrix ``X'X``.

    The same left-to-right test: a column is kept when what is left of it after its
    projection on the kept earlier columns has norm at least ``tol`` times its own.
    """
    p = G.shape[0]
    keep = np.zeros(p, dtype=bool)
    for j in range(p):
        norm2 = G[j, j]
        if not norm2 > 0.0:
            continue
        kept = np.flatnonzero(keep)
        residual2 = norm2
        if kept.size:
            coef = np.linalg.solve(G[np.ix_(kept, kept)], G[kept, j])
            residual2 = norm2 - G[j, kept] @ coef
        if residual2 < (tol**2) * norm2:
            continue
        keep[j] = True
    return keep


# ---------------------------------------------------------------------- A
def _cross_products(partial: Partial, keep: np.ndarray, reterms: list[ReTerm]) -> CrossProducts:
    rows = np.append(keep, True)
    nlevels = [len(t.levels) for t in reterms]
    off = {}
    for key in list(partial.off):
        block = partial.off.pop(key)  # the partial sums are not kept beside A
        if isinstance(block, np.ndarray):  # summed dense: A's block as it is
            off[key] = block
            continue
        level_cols, level_rows = np.divmod(block.keys.astype(np.int64), nlevels[key[0]])
        off[key] = SparseBlock(level_rows, level_cols, block.data, nlevels[key[0]],
                               nlevels[key[1]])
        del block
    xz = [np.ascontiguousarray(block[rows]) for block in partial.xz]
    xx = np.ascontiguousarray(partial.xx[np.ix_(rows, rows)])
    return CrossProducts(partial.diag, off, xz, xx)
