"""Random-effects terms: level codes, labels and per-row model columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.design._coding import CodedSpec, code_terms, replay
from mixedmodels.design._frame import as_pandas
from mixedmodels.design._levels import interaction_codes, level_label
from mixedmodels.design._prepare import PreparedColumns, prepare_columns
from mixedmodels.errors import DataError
from mixedmodels.formula import RandomTerm, parse_rhs

__all__ = ["ReTerm", "build_reterm", "check_grouping", "reterm_matrix"]


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term ``(lhs | group)`` evaluated on the data.

    Attributes
    ----------
    name : str
        lme4's name of the grouping factor: ``"Subject"``, ``"cask:batch"``.
    cnames : tuple of str
        Coefficient names as lme4 prints them: ``"(Intercept)"``, ``"Days"``.
    levels : tuple of str
        Level labels in factor order.
    codes : numpy.ndarray
        int64 (n,), level index of each row.
    z : numpy.ndarray
        float64 (n, k), per-row values of the k coefficients.
    lhs_spec : CodedSpec
        Replays ``z`` on new data (wraps a formulaic ``ModelSpec``).
    group : tuple of str
        Variables whose interaction is the grouping factor.
    lhs : str
        The left of the bar as parsed (``"1 + Days"``), to match ``re_form`` terms.
    """

    name: str
    cnames: tuple[str, ...]
    levels: tuple[str, ...]
    codes: np.ndarray
    z: np.ndarray
    lhs_spec: CodedSpec
    group: tuple[str, ...]
    lhs: str

    @property
    def nlevels(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)


def build_reterm(
    term: RandomTerm, data: pd.DataFrame | PreparedColumns, raw: Any, allow_python: bool = False,
    coded: tuple[np.ndarray, Any] | None = None,
) -> ReTerm:
    """Evaluate one random-effects term.

    Parameters
    ----------
    term : RandomTerm
        From the parsed formula.
    data : pandas.DataFrame or PreparedColumns
        Prepared data (rows already filtered).
    raw : pandas.DataFrame or mapping of Series
        The same rows as the user gave them, for the grouping variables.
    allow_python : bool
        Evaluate with formulaic's full namespace (trusted formulas only).
    coded : (ndarray, CodedSpec), optional
        The coding of ``term.lhs`` on the same rows when the caller has it already
        (the matrix is copied).

    Returns
    -------
    ReTerm
        Codes, labels and z.
    """
    if coded is None:
        z, spec = code_terms(parse_rhs(term.lhs), data, allow_python)
    else:
        z, spec = coded[0].copy(), coded[1]
    prepared = data.columns if isinstance(data, PreparedColumns) else {}
    # A grouping variable prepared as a factor is to_factor() of the same rows.
    groups = [
        prepared[g] if isinstance(prepared.get(g), pd.Categorical) else raw[g]
        for g in term.group
    ]
    codes, levels = interaction_codes(groups)
    return ReTerm(term.group_name, spec.names, levels, codes, z, spec, term.group, term.lhs)


def check_grouping(terms: tuple[ReTerm, ...], nobs: int) -> None:
    """lme4's checks on grouping factors.

    Raises
    ------
    DataError
        For a factor with one level, or with as many levels as observations.
    """
    for term in terms:
        if len(term.levels) < 2:
            raise DataError(
                f"grouping factor {term.name!r} must have more than one level "
                f"(it has {len(term.levels)})"
            )
    problems = [t.name for t in terms if len(t.levels) >= nobs]
    if problems:
        names = ", ".join(dict.fromkeys(problems))
        raise DataError(
            "number of levels of each grouping factor must be < number of observations "
            f"(problems: {names})"
        )


def reterm_matrix(
    term: ReTerm, newdata: pd.DataFrame, allow_new_levels: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Level codes and z of a fitted term for new data.

    Parameters
    ----------
    term : ReTerm
        A term of a fitted design.
    newdata : pandas.DataFrame
        New rows with the term's variables.
    allow_new_levels : bool
        When True, rows whose level was not seen in fitting (or is missing)
        get code -1; when False they raise.

    Returns
    -------
    codes : numpy.ndarray
        int64 (m,), index into ``term.levels`` or -1.
    z : numpy.ndarray
        float64 (m, k).

    Raises
    ------
    DataError
        For a level not seen in fitting (naming the term and the levels)
        when ``allow_new_levels`` is False, or a missing variable.
    """
    frame = as_pandas(newdata)
    needed = list(term.group) + term.lhs_spec.terms.variables()
    missing = [v for v in dict.fromkeys(needed) if v not in frame.columns]
    if missing:
        raise DataError(
            f"new data lacks variable{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} needed by random-effects term {term.name!r}"
        )
    labels = _row_labels(frame, term.group)
    index = {label: i for i, label in enumerate(term.levels)}
    codes = np.array(
        [index.get(label, -1) if label is not None else -1 for label in labels], dtype=np.int64
    )
    unseen = sorted({lab for lab, c in zip(labels, codes, strict=True) if c < 0 and lab})
    if (codes < 0).any() and not allow_new_levels:
        if unseen:
            raise DataError(
                f"new level{'s' if len(unseen) > 1 else ''} "
                f"{', '.join(map(repr, unseen[:10]))} in grouping factor {term.name!r} "
                "not seen in fitting (use allow_new_levels=True)"
            )
        raise DataError(f"missing values in grouping factor {term.name!r} of new data")
    prepared = prepare_columns(frame, term.lhs_spec.terms.variables(), fitting=False)
    z = replay(term.lhs_spec, prepared)
    return codes, z


def _row_labels(frame: pd.DataFrame, group: tuple[str, ...]) -> list[str | None]:
    columns = [frame[g] for g in group]
    out: list[str | None] = []
    for row in zip(*columns, strict=True):
        if any(pd.isna(v) for v in row):
            out.append(None)
        else:
            out.append(":".join(level_label(v) for v in row))
    return out
