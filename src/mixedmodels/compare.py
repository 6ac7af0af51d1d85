"""``mm.anova``: one model's F tests, or a likelihood-ratio comparison of several."""

from __future__ import annotations

from typing import Any

import pandas as pd


def anova(*fits: Any, type: int | str = 3, ddf: str = "satterthwaite",  # noqa: A002
          refit: bool = True, model_names: list[str] | None = None) -> pd.DataFrame:
    """R's ``anova()`` on fitted models.

    With one mixed model: the F tests of its fixed-effects terms (lmerTest's
    ``anova(m, type, ddf)``). With several models (mixed or ``mm.lm`` fits): the
    likelihood-ratio table of lme4's ``anova(m0, m1, ...)`` (npar, AIC, BIC, logLik,
    deviance, Chisq, Df, Pr(>Chisq)), refitting REML fits with ML unless
    ``refit=False``.
    """
    if not fits:
        raise TypeError("anova() needs at least one fitted model")
    if len(fits) == 1:
        return fits[0].anova(type=type, ddf=ddf)
    from mixedmodels.inference.lrt import anova_models

    return anova_models(*fits, refit=refit, model_names=model_names)
