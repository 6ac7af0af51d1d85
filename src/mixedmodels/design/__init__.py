"""From (formula, data) to the numbers the engine needs.

:func:`build_design` evaluates an lme4 formula on a data frame into a
:class:`Design` (response, fixed-effects matrix with lme4's column names,
one :class:`ReTerm` per random-effects term); :func:`fixed_matrix` and
:func:`reterm_matrix` replay them on new data.
"""

from mixedmodels.design._build import Design, build_design, fixed_matrix
from mixedmodels.design._coding import CodedSpec
from mixedmodels.design._rank import RankDeficiencyWarning, independent_columns
from mixedmodels.design._reterms import ReTerm, reterm_matrix

__all__ = [
    "CodedSpec",
    "Design",
    "RankDeficiencyWarning",
    "ReTerm",
    "build_design",
    "fixed_matrix",
    "independent_columns",
    "reterm_matrix",
]
