"""Pass 1: what the design learns from the data, summed over partitions.

Per partition (after the rows are selected as in memory): the values of every factor
(with a categorical's level order), the combinations of interaction grouping factors,
counts of infinite values, and the moments of the arguments of ``scale()`` and
``center()``. Combined, they give the levels in R's order and the transform state;
formulaic then builds each ``CodedSpec`` on a small frame holding every level once,
and the state of ``scale()``/``center()`` is set from the combined moments.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.design._coding import CodedSpec, _materialize, code_terms
from mixedmodels.design._frame import is_factor_like
from mixedmodels.design._levels import to_factor
from mixedmodels.design._prepare import prepare_columns
from mixedmodels.distributed._plan import Selector, factor_values
from mixedmodels.distributed._reduce import Moments
from mixedmodels.errors import DataError, MixedModelsError
from mixedmodels.formula import TermList

__all__ = ["FactorInfo", "Survey", "SurveyResult", "combine_surveys", "stateful_arguments",
           "survey_partition"]

# Transforms whose state is computed here from moments; any other stateful transform
# (poly, splines) needs all the values at once and is refused on Dask data.
_MOMENT_TRANSFORMS = ("scale", "center")
_FACTOR_CALLS = ("C", "factor")


@dataclass(frozen=True)
class Survey:
    """What pass 1 collects from each partition.

    Attributes
    ----------
    selector : Selector
    factors : tuple of str
        Variables whose levels are collected.
    numeric : tuple of str
        Numeric variables checked for infinite values.
    interactions : tuple of tuple of str
        Grouping factors of more than one variable.
    arguments : tuple of str
        Arguments of ``scale()``/``center()`` (formulaic code).
    spec_variables : tuple of str
        Variables the formula's specs read (for the arguments).
    allow_python : bool
    """

    selector: Selector
    factors: tuple[str, ...]
    numeric: tuple[str, ...]
    interactions: tuple[tuple[str, ...], ...]
    arguments: tuple[str, ...]
    spec_variables: tuple[str, ...]
    allow_python: bool = False


@dataclass
class FactorInfo:
    """Values of a factor over some partitions.

    Attributes
    ----------
    categorical : bool
        Every partition held a categorical.
    categories : list
        The categoricals' categories, united in order of appearance (as ``dask``'s
        concatenation of partitions unites them).
    present : ndarray
        Distinct values present in the selected rows.
    """

    categorical: bool
    categories: list[Any]
    present: np.ndarray

    def levels(self) -> np.ndarray:
        """The values in R's level order (``to_factor`` of the rows, unused levels out)."""
        if self.categorical:
            values = pd.Series(pd.Categorical(self.present, categories=self.categories))
        else:
            values = (pd.Series(list(self.present)) if len(self.present)
                      else pd.Series([], dtype=float))
        return to_factor(values).categories.to_numpy()


@dataclass
class SurveyResult:
    """Pass 1 over some partitions.

    Attributes
    ----------
    n_total, n_kept : int
        Rows, and rows selected.
    infinite : dict of str -> int
    factors : dict of str -> FactorInfo
    combinations : dict of tuple -> DataFrame
        Distinct combinations of each interaction's variables.
    moments : dict of str -> Moments
        Of each argument of scale()/center().
    """

    n_total: int = 0
    n_kept: int = 0
    infinite: dict[str, int] = field(default_factory=dict)
    factors: dict[str, FactorInfo] = field(default_factory=dict)
    combinations: dict[tuple[str, ...], pd.DataFrame] = field(default_factory=dict)
    moments: dict[str, Moments] = field(default_factory=dict)


def survey_partition(frame: pd.DataFrame | None, survey: Survey) -> SurveyResult:
    """Pass 1 on one partition."""
    out = SurveyResult()
    if frame is None:
        return out
    rows = survey.selector.select(frame)
    out.n_total, out.n_kept = len(frame), len(rows)
    for name in survey.numeric:
        values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        out.infinite[name] = int(np.isinf(values).sum())
    for name in survey.factors:
        series = rows[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = list(series.cat.categories)
            used = np.unique(series.cat.codes.to_numpy())
            present = np.asarray(series.cat.categories[used[used >= 0]], dtype=object)
            out.factors[name] = FactorInfo(True, cats, present)
        else:
            present = np.asarray(pd.unique(series), dtype=object)
            out.factors[name] = FactorInfo(False, [], present)
    for group in survey.interactions:
        combos = pd.DataFrame({g: factor_values(rows[g]).astype(object) for g in group})
        out.combinations[group] = combos.drop_duplicates(ignore_index=True)
    if survey.arguments:
        prepared = prepare_columns(rows, list(survey.spec_variables), fitting=False)
        for argument in survey.arguments:
            out.moments[argument] = Moments.of(
                _argument_values(argument, prepared, survey.allow_python))
    return out


def _argument_values(argument: str, prepared: pd.DataFrame, allow_python: bool) -> np.ndarray:
    if len(prepared) == 0:
        return np.empty((0, 1))
    text = f"0 + I({argument})"
    matrix = _materialize(text, prepared, text, allow_python)
    values = matrix.to_numpy(dtype=float) if hasattr(matrix, "to_numpy") else np.asarray(matrix)
    if values.ndim != 2 or values.shape[1] != 1:
        raise MixedModelsError(
            f"scale()/center() of {argument!r} on Dask data needs one numeric column")
    return values


def combine_surveys(*parts: SurveyResult) -> SurveyResult:
    """Combine pass-1 results (in partition order)."""
    out = SurveyResult()
    for part in parts:
        out.n_total += part.n_total
        out.n_kept += part.n_kept
        for name, count in part.infinite.items():
            out.infinite[name] = out.infinite.get(name, 0) + count
        for name, info in part.factors.items():
            have = out.factors.get(name)
            if have is None:
                out.factors[name] = FactorInfo(info.categorical, list(info.categories),
                                               info.present)
                continue
            if have.categorical and info.categorical:
                known = set(have.categories)
                have.categories.extend(c for c in info.categories if c not in known)
            else:
                have.categorical = False
                have.categories = []
            have.present = np.asarray(
                pd.unique(np.concatenate([have.present, info.present])), dtype=object)
        for group, combos in part.combinations.items():
            have_c = out.combinations.get(group)
            out.combinations[group] = combos if have_c is None else pd.concat(
                [have_c, combos], ignore_index=True).drop_duplicates(ignore_index=True)
        for argument, moments in part.moments.items():
            have_m = out.moments.get(argument)
            out.moments[argument] = moments if have_m is None else have_m.merge(moments)
    return out


# ---------------------------------------------------------------------- formula scans
def _calls(code: str) -> list[ast.Call]:
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return []
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _call_name(node: ast.Call) -> str | None:
    return node.func.id if isinstance(node.func, ast.Name) else None


def _codes(terms: TermList) -> list[str]:
    return [factor.code for term in terms.terms for factor in term]


def stateful_arguments(term_lists: list[TermList]) -> list[str]:
    """Arguments of every ``scale()``/``center()`` call, as formulaic code."""
    found: list[str] = []
    for terms in term_lists:
        for code in _codes(terms):
            for node in _calls(code):
                if _call_name(node) in _MOMENT_TRANSFORMS and node.args:
                    argument = ast.unparse(node.args[0])
                    if argument not in found:
                        found.append(argument)
    return found


def factor_call_variables(term_lists: list[TermList]) -> list[str]:
    """Variables inside ``C()``/``factor()`` calls (their values are the levels)."""
    found: list[str] = []
    for terms in term_lists:
        for code in _codes(terms):
            for node in _calls(code):
                if _call_name(node) in _FACTOR_CALLS:
                    for sub in ast.walk(node):
                        if (isinstance(sub, ast.Name) and sub is not node.func
                                and sub.id not in found):
                            found.append(sub.id)
    return found


# ---------------------------------------------------------------------- specs
def skeleton_frame(variables: list[str], meta: pd.DataFrame,
                   levels: dict[str, np.ndarray]) -> pd.DataFrame:
    """A small frame holding every level of every factor at least once.

    formulaic learns the level sets from it; numeric columns get distinct values
    (their transform state is set afterwards from the data's moments).
    """
    size = max([2, *(len(v) for v in levels.values())])
    columns: dict[str, Any] = {}
    for name in variables:
        if name in levels and len(levels[name]):
            values = levels[name]
            cycled = [values[i % len(values)] for i in range(size)]
            if is_factor_like(meta[name]):
                columns[name] = pd.Categorical(cycled, categories=pd.Index(values))
            else:
                columns[name] = np.asarray(cycled, dtype=float)
        else:
            columns[name] = np.arange(1.0, size + 1.0)
    return pd.DataFrame(columns)


def learn_spec(terms: TermList, skeleton: pd.DataFrame, moments: dict[str, Moments],
               allow_python: bool) -> CodedSpec:
    """The ``CodedSpec`` of a term list: levels from the skeleton, state from moments."""
    _, spec = code_terms(terms, skeleton, allow_python)
    state = spec.model_spec.transform_state
    if not state:
        return spec
    new_state = {expr: _transform_state(expr, dict(value), moments)
                 for expr, value in state.items()}
    model_spec = spec.model_spec.update(transform_state=new_state)
    return dataclasses.replace(spec, source=model_spec)


def _transform_state(expr: str, state: dict[str, Any],
                     moments: dict[str, Moments]) -> dict[str, Any]:
    calls = _calls(expr)
    node = calls[0] if calls else None
    name = _call_name(node) if node is not None else None
    if node is None or name not in _MOMENT_TRANSFORMS or not node.args:
        raise MixedModelsError(
            f"{expr!r} learns its state from all the rows at once, which is not available "
            "for Dask data (only scale() and center() are); compute it before fitting"
        )
    argument = ast.unparse(node.args[0])
    stats = moments.get(argument)
    if stats is None or stats.n == 0:
        raise DataError(f"no values to compute {expr!r} from")
    mean = float(stats.mean[0])
    m2 = float(stats.comoment[0, 0])
    keywords = {k.arg: k.value for k in node.keywords}
    center_mode = _mode(keywords.get("center"))
    scale_mode = False if name == "center" else _mode(keywords.get("scale"))
    if center_mode is True:
        state["center"] = np.float64(mean)
    elif center_mode is False:
        state["center"] = None
    if scale_mode is True:
        ddof = float(state.get("ddof", 1))
        c = state["center"]
        shift = mean - (0.0 if c is None else float(c))
        state["scale"] = np.float64(np.sqrt((m2 + stats.n * shift**2) / (stats.n - ddof)))
    elif scale_mode is False:
        state["scale"] = None
    return state


def _mode(value: ast.expr | None) -> bool | None:
    """True: learnt from the data; False: off; None: given (kept as formulaic set it)."""
    if value is None:
        return True
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return value.value
    return None
