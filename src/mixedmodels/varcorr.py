"""Variance components of a fit: lme4's ``VarCorr``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def unique_group_names(names: list[str]) -> list[str]:
    """Make repeated group names unique as R's make.unique does: g, g.1, g.2."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


@dataclass(frozen=True)
class VarCorr:
    """Covariance matrices of the random effects, one per term, and sigma.

    Attributes
    ----------
    groups : list of str
        Grouping-factor name of each term, in lme4's order (may repeat).
    names : list of tuple of str
        Coefficient names of each term.
    covariances : list of ndarray
        k x k covariance matrix of each term.
    sigma : float
        Residual standard deviation.
    """

    groups: list[str]
    names: list[tuple[str, ...]]
    covariances: list[np.ndarray]
    sigma: float

    def to_frame(self) -> pd.DataFrame:
        """Long table like R's ``as.data.frame(VarCorr(m))``.

        Columns grp, var1, var2, vcov, sdcor: per term the variances (var2 missing,
        sdcor the standard deviation), then the covariances (sdcor the correlation),
        then the residual row.
        """
        rows = []
        for grp, names, cov in zip(unique_group_names(self.groups), self.names,
                                   self.covariances, strict=True):
            sd = np.sqrt(np.diagonal(cov))
            for i, name in enumerate(names):
                rows.append((grp, name, None, cov[i, i], sd[i]))
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    denom = sd[i] * sd[j]
                    corr = cov[j, i] / denom if denom > 0 else np.nan
                    rows.append((grp, names[i], names[j], cov[j, i], corr))
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def correlations(self) -> list[np.ndarray]:
        """Correlation matrix of each term (NaN where a standard deviation is 0)."""
        out = []
        for cov in self.covariances:
            sd = np.sqrt(np.diagonal(cov))
            with np.errstate(divide="ignore", invalid="ignore"):
                out.append(cov / np.outer(sd, sd))
        return out
