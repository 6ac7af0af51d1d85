"""The numbers lme4's ``summary(<lmerMod>)`` shows, gathered in one immutable object.

:class:`Summary` holds plain numbers and DataFrames; renderers (:mod:`.text`,
:mod:`.html`) turn it into lme4's text layout or HTML. Build it with
:meth:`Summary.from_fit` or, from numbers alone, :meth:`Summary.from_values`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels.display.tables import (
    coefficient_table,
    correlation_from_vcov,
    random_effects_table,
    varcorr_frame,
)
from mixedmodels.errors import MixedModelsError

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

# Messages about the fixed-effects design: lme4 prints them under "fit warnings:".
_DESIGN_MESSAGE_STARTS = (
    "fixed-effect model matrix is rank deficient",
    "Some predictor variables are on very different scales",
)
# NLopt results that lme4's nloptwrap reports as a non-zero convergence code.
_NLOPT_FAILURES = {
    "FAILURE": -1,
    "INVALID_ARGS": -2,
    "OUT_OF_MEMORY": -3,
    "ROUNDOFF_LIMITED": -4,
    "FORCED_STOP": -5,
}


@dataclass(frozen=True, eq=False)
class Summary:
    """Everything lme4's ``summary()`` of a linear mixed model shows.

    ``str(summary)`` is lme4's text layout; ``summary._repr_html_()`` an HTML version;
    :attr:`fixed_table` and :attr:`random_table` the tables as DataFrames of numbers.

    Attributes
    ----------
    formula : str
        Model formula as shown on the ``Formula:`` line.
    reml : bool
        REML (True) or maximum likelihood fit.
    data_name : str or None
        Name shown on the ``Data:`` line (omitted when None).
    nobs : int
        Number of observations used.
    ngroups : dict of str -> int
        Levels of each grouping factor, in lme4's order.
    objective : float
        REML criterion (REML fits) or deviance (ML fits).
    aic, bic, loglik, deviance : float
        Information criteria, log-likelihood and deviance (shown for ML fits).
    df_resid : int
        Residual degrees of freedom (``nobs`` minus the number of parameters).
    resid_quantiles : tuple of 5 float or None
        Min, first quartile, median, third quartile and max of the scaled Pearson
        residuals; None omits the section.
    varcorr : DataFrame
        Variance components in R's ``as.data.frame(VarCorr(m))`` layout (columns grp,
        var1, var2, vcov, sdcor; var1/var2 None where R has NA).
    coefficients : DataFrame
        Fixed effects: Estimate, Std. Error, [df,] t value[, Pr(>|t|)].
    fixef_corr : DataFrame or None
        Correlation matrix of the fixed-effects estimates.
    weights, offset : str or None
        Names shown on the ``Weights:`` and ``Offset:`` lines.
    fit_messages : tuple of str
        Messages about the design (lme4's "fit warnings:").
    conv_messages : tuple of str
        Optimiser and singular-fit messages (printed after the convergence code).
    optimizer : str
        Optimiser label of the convergence line.
    conv_code : int
        Optimiser convergence code (0: OK).
    n_dropped_na : int
        Rows dropped for missing values (not shown by lme4; shown here when > 0).
    ddf : str or None
        Method of the denominator degrees of freedom when the table has df and p-values.
    """

    formula: str
    reml: bool
    data_name: str | None
    nobs: int
    ngroups: Mapping[str, int]
    objective: float
    aic: float
    bic: float
    loglik: float
    deviance: float
    df_resid: int
    resid_quantiles: tuple[float, float, float, float, float] | None
    varcorr: pd.DataFrame = field(repr=False)
    coefficients: pd.DataFrame = field(repr=False)
    fixef_corr: pd.DataFrame | None = field(repr=False)
    weights: str | None = None
    offset: str | None = None
    fit_messages: tuple[str, ...] = ()
    conv_messages: tuple[str, ...] = ()
    optimizer: str = "nloptwrap"
    conv_code: int = 0
    n_dropped_na: int = 0
    ddf: str | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_values(
        cls,
        *,
        formula: str,
        reml: bool,
        fixef: pd.Series | Mapping[str, float],
        se: pd.Series | Mapping[str, float],
        vcov: pd.DataFrame | np.ndarray | Sequence[Sequence[float]] | None,
        varcorr: pd.DataFrame | Sequence[Mapping[str, Any]],
        nobs: int,
        ngroups: Mapping[str, int],
        objective: float,
        aic: float,
        bic: float,
        loglik: float,
        deviance: float,
        df_resid: int,
        resid_quantiles: Sequence[float] | Mapping[str, float] | None = None,
        data_name: str | None = None,
        weights: str | None = None,
        offset: str | None = None,
        fit_messages: Sequence[str] = (),
        conv_messages: Sequence[str] = (),
        optimizer: str = "nloptwrap",
        conv_code: int = 0,
        n_dropped_na: int = 0,
        df: pd.Series | Mapping[str, float] | None = None,
        p_values: pd.Series | Mapping[str, float] | None = None,
        ddf: str | None = None,
    ) -> Summary:
        """Build a summary from plain numbers.

        Parameters
        ----------
        fixef, se : Series or mapping
            Fixed-effects estimates and standard errors by name.
        vcov : DataFrame or array-like, (p, p), optional
            Covariance of the estimates (labels from ``fixef`` for arrays); gives the
            correlation section.
        varcorr : DataFrame or sequence of mappings
            Rows grp, var1, var2, vcov, sdcor as R's ``as.data.frame(VarCorr(m))``.
        resid_quantiles : sequence of 5 floats or mapping, optional
            Min, 1Q, median, 3Q, max of the scaled residuals (a mapping is read in
            insertion order).
        df, p_values : Series or mapping, optional
            Degrees of freedom and p-values of the t tests (both or neither).
        Other parameters are stored as given; see the class attributes.
        """
        if (df is None) != (p_values is None):
            raise ValueError("give both df and p_values, or neither")
        coefficients = coefficient_table(fixef, se, df=df, p_value=p_values)
        corr = None
        if vcov is not None:
            names = list(coefficients.index)
            if isinstance(vcov, pd.DataFrame):
                corr = correlation_from_vcov(vcov.loc[names, names])
            else:
                matrix = np.asarray(vcov, dtype=float).reshape(len(names), len(names))
                corr = correlation_from_vcov(matrix, names)
        quantiles = None
        if resid_quantiles is not None:
            values = (list(resid_quantiles.values()) if isinstance(resid_quantiles, Mapping)
                      else list(resid_quantiles))
            if len(values) != 5:
                raise ValueError("resid_quantiles needs 5 values: min, 1Q, median, 3Q, max")
            quantiles = tuple(float(v) for v in values)
        return cls(
            formula=formula,
            reml=bool(reml),
            data_name=data_name,
            nobs=int(nobs),
            ngroups={str(k): int(v) for k, v in ngroups.items()},
            objective=float(objective),
            aic=float(aic),
            bic=float(bic),
            loglik=float(loglik),
            deviance=float(deviance),
            df_resid=int(df_resid),
            resid_quantiles=quantiles,  # type: ignore[arg-type]
            varcorr=varcorr_frame(varcorr),
            coefficients=coefficients,
            fixef_corr=corr,
            weights=weights,
            offset=offset,
            fit_messages=tuple(fit_messages),
            conv_messages=tuple(conv_messages),
            optimizer=optimizer,
            conv_code=int(conv_code),
            n_dropped_na=int(n_dropped_na),
            ddf=ddf,
        )

    @classmethod
    def from_fit(cls, fit: LmerFit, ddf: str | None = "satterthwaite") -> Summary:
        """Gather the summary's numbers from a fitted model.

        Only the fit's accessors are read; the one computation is the quantiles of the
        scaled Pearson residuals, as lme4's ``summary``.

        Parameters
        ----------
        fit : LmerFit
        ddf : {"satterthwaite", "kenward-roger", None}
            Method of the t tests' df (lmerTest's layout, with df and Pr(>|t|)
            columns; Kenward-Roger also shows the adjusted standard errors); None gives
            lme4's table without them.
        """
        se, df, p_values, method = fit.std_errors, None, None, None
        if ddf is not None:
            method = _ddf_label(ddf)
            try:
                table = fit.coef_table(ddf=method)
            except (MixedModelsError, np.linalg.LinAlgError) as exc:
                # lmerTest also falls back to lme4's table when it cannot compute the df.
                warnings.warn(f"t tests not available ({exc}); showing lme4's table",
                              stacklevel=2)
                method = None
            else:
                se, df, p_values = table["std_error"], table["df"], table["p_value"]
        quantiles = fit.scaled_residual_quantiles()
        fit_messages, conv_messages = split_messages(fit.warnings)
        options = fit.model.fit_options
        return cls.from_values(
            formula=fit.formula,
            reml=fit.reml,
            fixef=fit.fixef,
            se=se,
            vcov=fit.vcov,
            varcorr=fit.varcorr.to_frame(),
            nobs=fit.nobs,
            ngroups=fit.ngroups,
            objective=fit.objective,
            aic=fit.aic,
            bic=fit.bic,
            loglik=fit.loglik,
            deviance=fit.deviance,
            df_resid=fit.df_resid,
            resid_quantiles=quantiles,
            data_name=fit.model.data_name,
            weights=_option_label(options.get("weights")),
            offset=_option_label(options.get("offset")),
            fit_messages=fit_messages,
            conv_messages=conv_messages,
            conv_code=_NLOPT_FAILURES.get(str(fit.optsummary.return_code), 0),
            n_dropped_na=fit.n_dropped_na,
            df=df,
            p_values=p_values,
            ddf=method,
        )

    # ------------------------------------------------------------------ tables
    @property
    def fixed_table(self) -> pd.DataFrame:
        """Fixed effects as numbers: Estimate, Std. Error, [df,] t value[, Pr(>|t|)]."""
        return self.coefficients.copy()

    @property
    def random_table(self) -> pd.DataFrame:
        """Random effects as numbers: Groups, Name, Variance, Std.Dev., Corr, Corr.1, ..."""
        return random_effects_table(self.varcorr)

    # ------------------------------------------------------------------ rendering
    def __str__(self) -> str:
        from mixedmodels.display.text import render_text

        return render_text(self)

    def _repr_html_(self) -> str:
        from mixedmodels.display.html import render_html

        return render_html(self)


def split_messages(messages: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sort a fit's messages as lme4 prints them: design messages, then optimiser ones.

    Returns
    -------
    fit_messages, conv_messages : tuple of str
    """
    design = tuple(m for m in messages if m.startswith(_DESIGN_MESSAGE_STARTS))
    other = tuple(m for m in messages if not m.startswith(_DESIGN_MESSAGE_STARTS))
    return design, other


def _ddf_label(ddf: str) -> str:
    """The canonical name of a df method (``"satterthwaite"`` or ``"kenward-roger"``)."""
    from mixedmodels.inference.contest import normalize_ddf

    return normalize_ddf(ddf) or ""


def _option_label(value: Any) -> str | None:
    """Label of a weights/offset option: its column name, or a generic note for arrays."""
    if value is None:
        return None
    return value if isinstance(value, str) else "(array)"
