"""Ordinary linear models (R's ``lm``), for comparison with mixed models.

A model without random effects is the null model of many tests of a random effect
(``anova(lmer_fit, lm_fit)``, lmerTest's ``ranova`` when the last random term is
removed). :func:`lm` fits one by least squares and reports the log-likelihood as R's
``logLik.lm`` counts it: the residual standard deviation is a parameter, so
``npar = p + 1``.

``build_design`` insists on a random-effects term, so the formula is parsed here with
the formula layer's stages (syntax tree, safety check, R's term algebra) and X is coded
with the design layer's own functions (same column names, contrasts and dropped
aliased columns as in a mixed model on the same data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.design import Design, independent_columns
from mixedmodels.design._coding import code_terms
from mixedmodels.design._frame import as_pandas, check_columns, missing_mask, resolve_vector
from mixedmodels.design._prepare import prepare_columns
from mixedmodels.errors import DataError, FormulaError
from mixedmodels.formula import ParsedFormula, check_tree, expand_terms, parse_rhs, parse_tree
from mixedmodels.formula._render import to_code, to_label

__all__ = ["LinearModelFit", "fixed_design", "lm", "parse_fixed_formula"]


def parse_fixed_formula(text: str) -> ParsedFormula:
    """Parse a formula without random-effects terms, e.g. ``"Reaction ~ Days"``.

    :func:`mixedmodels.formula.parse_formula` insists on a random term; this goes
    through the same stages (syntax tree, R's term algebra) and returns a
    :class:`ParsedFormula` with no random terms, which ``build_design`` accepts.

    Raises
    ------
    FormulaError
        For a syntax error or a random-effects term (use ``lmer`` for those).
    """
    tree = parse_tree(text)
    check_tree(tree.lhs, text)
    check_tree(tree.rhs, text)
    try:
        terms = expand_terms(tree.rhs, text, intercept=True)
    except FormulaError as err:
        if "random-effects term" in str(err):
            raise FormulaError(
                "lm() fits models without random effects; use lmer() for a formula with "
                "'(... | g)' terms", text, err.position,
            ) from None
        raise
    return ParsedFormula(
        text=text,
        response=to_code(tree.lhs),
        fixed=terms.to_code(),
        random=(),
        response_label=to_label(tree.lhs),
    )


@dataclass(frozen=True, eq=False)
class LinearModelFit:
    """A linear model fitted by least squares (R's ``lm``).

    Attributes
    ----------
    design : Design
        Response, X (lme4's column names), weights and offset.
    beta : ndarray, (p,)
        Coefficients.
    rss : float
        Weighted residual sum of squares (R's ``deviance(lm)``).
    logdet_r : float
        sum(log |diag R|) of the QR factor of the weighted X (the REML correction).
    data : DataFrame or None
        The data the model was fitted to (for refits).
    fit_options : dict
        ``formula``, ``weights``, ``offset`` as given to :func:`lm`.
    """

    design: Design = field(repr=False)
    beta: np.ndarray
    rss: float
    logdet_r: float = field(repr=False)
    data: Any = field(default=None, repr=False)
    fit_options: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def formula(self) -> str:
        return self.design.formula.text

    @property
    def reml(self) -> bool:
        """Always False: ``lm`` is a maximum-likelihood fit (R's ``logLik(lm)``)."""
        return False

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def p(self) -> int:
        return int(self.design.X.shape[1])

    @property
    def npar(self) -> int:
        """Coefficients plus the residual standard deviation (``attr(logLik(m), "df")``)."""
        return self.p + 1

    @property
    def df_resid(self) -> int:
        return self.nobs - self.p

    @property
    def sigma(self) -> float:
        """Residual standard error, sqrt(RSS / (n - p)) (R's ``sigma(lm)``)."""
        return math.sqrt(self.rss / self.df_resid)

    # ------------------------------------------------------------------ likelihood
    def loglik_at(self, reml: bool = False) -> float:
        """R's ``logLik(m, REML = reml)``.

        ML: ``(sum log w - n (log 2 pi + 1 - log n + log RSS)) / 2``; REML replaces n
        by n - p and subtracts sum(log |diag R|).
        """
        w = self.design.weights
        log_w = 0.0 if w is None else float(np.sum(np.log(w)))
        n = self.nobs - (self.p if reml else 0)
        value = 0.5 * (log_w - n * (math.log(2.0 * math.pi) + 1.0 - math.log(n)
                                    + math.log(self.rss)))
        return value - self.logdet_r if reml else value

    @property
    def loglik(self) -> float:
        """Maximum-likelihood log-likelihood."""
        return self.loglik_at(False)

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (the ``deviance`` column of ``anova``; R's
        ``deviance(lm)`` is the residual sum of squares, :attr:`rss` here)."""
        return -2.0 * self.loglik

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + self.npar * math.log(self.nobs)

    # ------------------------------------------------------------------ estimates
    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=list(self.design.xnames), name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        X = self._weighted(self.design.X)
        names = list(self.design.xnames)
        return pd.DataFrame(self.sigma**2 * np.linalg.inv(X.T @ X), index=names, columns=names)

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diagonal(self.vcov.to_numpy())),
                         index=list(self.design.xnames), name="Std. Error")

    def fitted(self) -> pd.Series:
        eta = self.design.X @ self.beta
        if self.design.offset is not None:
            eta = eta + self.design.offset
        return pd.Series(eta, index=self.design.row_index, name="fitted")

    def residuals(self) -> pd.Series:
        return pd.Series(self.design.y - self.fitted().to_numpy(), index=self.design.row_index,
                         name="residuals")

    # ------------------------------------------------------------------ new responses
    def simulate(self, nsim: int = 1, seed: Any = None) -> pd.DataFrame:
        """Simulate responses: fitted values plus normal noise with sd sigma / sqrt(w).

        ``seed`` is anything ``numpy.random.default_rng`` accepts (an int, a
        SeedSequence or a Generator, which is then used as is).
        """
        if nsim < 1:
            raise ValueError("nsim must be at least 1")
        rng = np.random.default_rng(seed)
        w = self.design.weights
        sd = self.sigma / (1.0 if w is None else np.sqrt(w))
        mean = self.fitted().to_numpy()
        out = np.empty((self.nobs, nsim))
        for s in range(nsim):
            out[:, s] = mean + sd * rng.standard_normal(self.nobs)
        return pd.DataFrame(out, index=self.design.row_index,
                            columns=[f"sim_{s + 1}" for s in range(nsim)])

    def refit(self, y: Any) -> LinearModelFit:
        """The same model fitted to a new response (same rows)."""
        y = np.asarray(y, dtype=float)
        if y.shape != (self.nobs,):
            raise ValueError(f"the new response must have length {self.nobs}, not {y.shape}")
        design = _replace_response(self.design, y)
        return _fit_design(design, self.data, self.fit_options)

    def update(self, formula: str | None = None, *, reml: bool | None = None,
               data: Any = None) -> LinearModelFit:
        """Refit with another formula or data (``reml`` is accepted and ignored)."""
        options = dict(self.fit_options)
        return lm(formula or options["formula"], self.data if data is None else data,
                  weights=options.get("weights"), offset=options.get("offset"))

    def _weighted(self, a: np.ndarray) -> np.ndarray:
        w = self.design.weights
        if w is None:
            return a
        s = np.sqrt(w)
        return a * (s[:, None] if a.ndim == 2 else s)

    def __repr__(self) -> str:
        return f"<LinearModelFit {self.formula!r} (logLik {self.loglik:.4f})>"


def _replace_response(design: Design, y: np.ndarray) -> Design:
    from dataclasses import replace

    return replace(design, y=y)


def _fit_design(design: Design, data: Any, options: dict[str, Any]) -> LinearModelFit:
    X = design.X
    y = design.y if design.offset is None else design.y - design.offset
    if design.weights is not None:
        s = np.sqrt(design.weights)
        X = X * s[:, None]
        y = y * s
    n, p = X.shape
    if n <= p:
        raise DataError(f"lm needs more observations ({n}) than coefficients ({p})")
    if p:
        Q, R = np.linalg.qr(X)
        beta = np.linalg.solve(R, Q.T @ y)
        logdet = float(np.sum(np.log(np.abs(np.diagonal(R)))))
        resid = y - X @ beta
    else:
        beta = np.zeros(0)
        logdet = 0.0
        resid = y
    return LinearModelFit(design=design, beta=beta, rss=float(resid @ resid), logdet_r=logdet,
                          data=data, fit_options=dict(options))


def lm(formula: str, data: Any, *, weights: Any = None, offset: Any = None) -> LinearModelFit:
    """Fit a linear model without random effects, as R's ``lm``.

    Parameters
    ----------
    formula : str
        An R formula without random-effects terms, e.g. ``"Reaction ~ Days"``.
    data : DataFrame
        The data (rows with missing values in used variables are dropped).
    weights, offset : str or array-like, optional
        A column name or one value per row.

    Returns
    -------
    LinearModelFit
        With ``loglik``, ``npar`` (coefficients + sigma), ``aic``, ``bic``, ``deviance``
        (-2 log-likelihood) as R's ``logLik(lm)`` gives them.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> from mixedmodels.inference.linear_model import lm
    >>> round(lm("Reaction ~ Days", mm.datasets.load("sleepstudy")).loglik, 4)
    -950.1465
    """
    parsed = parse_fixed_formula(formula)
    design = fixed_design(parsed, data, weights=weights, offset=offset)
    options = {"formula": parsed.text, "weights": weights, "offset": offset}
    return _fit_design(design, data, options)


def fixed_design(parsed: ParsedFormula, data: Any, weights: Any = None,
                 offset: Any = None) -> Design:
    """A :class:`Design` with no random-effects terms (rows with missing values dropped,
    aliased columns removed with a warning, as ``build_design`` does)."""
    import warnings

    from mixedmodels.design import RankDeficiencyWarning

    frame = as_pandas(data)
    if frame.shape[0] == 0:
        raise DataError("data has no rows")
    variables = parsed.variables()
    check_columns(frame, variables, parsed.text)
    w = resolve_vector(weights, frame, "weights")
    off = resolve_vector(offset, frame, "offset")
    drop = missing_mask(frame, variables)
    for vector in (w, off):
        if vector is not None:
            drop |= np.isnan(vector)
    if drop.all():
        raise DataError("no rows left after dropping rows with missing values")
    keep = ~drop
    rows = frame.loc[keep]
    prepared = prepare_columns(rows, variables)
    y_matrix, _ = code_terms(parse_rhs(f"0 + {parsed.response}"), prepared)
    if y_matrix.shape[1] != 1:
        raise DataError(f"response {parsed.response_label!r} must be one numeric column")
    y = y_matrix[:, 0].copy()
    X, spec = code_terms(parse_rhs(parsed.fixed), prepared)
    if not (np.isfinite(y).all() and np.isfinite(X).all()):
        raise DataError("the response or a fixed-effects column has infinite values")
    w = None if w is None else w[keep]
    if w is not None and (w <= 0).any():
        raise DataError("weights must be positive")
    off = None if off is None else off[keep]
    mask = independent_columns(X)
    dropped = tuple(n for n, k in zip(spec.names, mask, strict=True) if not k)
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column(s) ({', '.join(dropped)})", RankDeficiencyWarning, stacklevel=3,
        )
        X = np.ascontiguousarray(X[:, mask])
        spec = spec.subset(mask)
    return Design(
        formula=parsed, y=y, response_name=parsed.response_label or parsed.response, X=X,
        xnames=spec.names, dropped=dropped, reterms=(), weights=w, offset=off,
        n_dropped_na=int(drop.sum()), row_index=rows.index, fixed_spec=spec,
    )
