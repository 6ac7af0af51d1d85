"""The ANOVA table of one model (lmerTest's ``anova(<lmerModLmerTest>)``).

One F test per model term, of the term's Type I, II or III hypothesis matrix
(:mod:`.contrasts`), with Satterthwaite's or Kenward-Roger's denominator df.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.contest import KENWARD_ROGER, f_test, normalize_ddf
from mixedmodels.inference.contrasts import (
    indicator_matrix,
    term_structure,
    type1_contrasts,
    type2_contrasts,
    type3_contrasts,
)

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = ["ANOVA_COLUMNS", "anova_table", "hypothesis_matrices"]

ANOVA_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
_TYPES = {1: 1, 2: 2, 3: 3, "1": 1, "2": 2, "3": 3, "I": 1, "II": 2, "III": 3}


def _anova_type(type: int | str) -> int:  # noqa: A002 - R's argument name
    key = type.upper() if isinstance(type, str) else type
    if key not in _TYPES:
        raise MixedModelsError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), not {type!r}")
    return _TYPES[key]


def hypothesis_matrices(fit: LmerFit, type: int | str = 3) -> dict[str, np.ndarray]:  # noqa: A002
    """The hypothesis matrix L of each term for the Type I, II or III test.

    Parameters
    ----------
    fit : LmerFit
    type : {1, 2, 3, "I", "II", "III"}

    Returns
    -------
    dict of str -> ndarray (rows, p)
        Keyed by R's term labels, in the formula's order.
    """
    kind = _anova_type(type)
    design = fit.model.design
    X = design.X
    ts = term_structure(design)
    if kind == 1:
        return type1_contrasts(X, ts)
    if kind == 2:
        return type2_contrasts(X, ts)
    full = indicator_matrix(design, fit.model.data) if ts.labels and X.shape[1] > 1 else None
    return type3_contrasts(X, ts, full) if full is not None else type1_contrasts(X, ts)


def anova_table(fit: LmerFit, type: int | str = 3,  # noqa: A002
                ddf: str = "satterthwaite") -> pd.DataFrame:
    """F tests of each fixed-effects term, as lmerTest's ``anova()``.

    Parameters
    ----------
    fit : LmerFit
    type : {1, 2, 3, "I", "II", "III"}
        Sequential (1), marginal to containing terms (2), or lmerTest's coding-free
        Type III (3, default).
    ddf : {"satterthwaite", "kenward-roger"}
        Method of the denominator degrees of freedom (Kenward-Roger: REML fits only).

    Returns
    -------
    DataFrame
        One row per term; columns Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F);
        ``attrs["heading"]`` holds lmerTest's heading and ``attrs["hypotheses"]`` the
        matrices tested.
    """
    method = normalize_ddf(ddf)
    if method is None:
        raise MixedModelsError("anova needs ddf='satterthwaite' or 'kenward-roger'")
    kind = _anova_type(type)
    matrices = hypothesis_matrices(fit, kind)
    rows, names, untestable = [], [], []
    for label, L in matrices.items():
        test = f_test(fit, L, method) if L.shape[0] else None
        if test is None:
            untestable.append(label)
            continue
        names.append(label)
        rows.append([test.sum_sq, test.mean_sq, test.num_df, test.den_df, test.f_value,
                     test.p_value])
    for label in untestable:  # lmerTest appends them, all NA, at the end
        names.append(label)
        rows.append([np.nan] * len(ANOVA_COLUMNS))
    table = pd.DataFrame(rows, index=pd.Index(names, dtype=object), columns=ANOVA_COLUMNS,
                         dtype=float)
    table["NumDF"] = table["NumDF"].astype("Int64") if untestable else table["NumDF"].astype(int)
    roman = {1: "I", 2: "II", 3: "III"}[kind]
    how = "Kenward-Roger's" if method == KENWARD_ROGER else "Satterthwaite's"
    table.attrs["heading"] = f"Type {roman} Analysis of Variance Table with {how} method"
    table.attrs["hypotheses"] = matrices
    return table
