"""The fitted linear mixed model: the numbers, no printing.

An :class:`LmerFit` is computed once from the final factor L and never changes. Its
accessors follow lme4's names (fixef, ranef, coef, VarCorr, vcov, sigma, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels.design import fixed_matrix, reterm_matrix
from mixedmodels.errors import DataError, MixedModelsError
from mixedmodels.formula import parse_formula
from mixedmodels.varcorr import VarCorr

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mixedmodels.diagnostics import SimulatedResiduals
    from mixedmodels.display import Summary
    from mixedmodels.inference.bootstrap import BootstrapResult
    from mixedmodels.model import LinearMixedModel
    from mixedmodels.optimize import OptSummary


@dataclass(frozen=True, eq=False)
class LmerFit:
    """A fitted linear mixed model (lme4's ``merMod``).

    Build it with :func:`mixedmodels.lmer`; the constructor is internal.

    Attributes
    ----------
    theta : ndarray
        Relative covariance parameters (lme4's ``getME(m, "theta")``).
    sigma : float
        Residual standard deviation.
    objective : float
        REML criterion (REML fits) or deviance (ML fits), i.e. -2 log-likelihood.
    optsummary : OptSummary
        What the optimiser did.
    warnings : tuple of str
        lme4-style messages: dropped columns, scales, singular fit, convergence.
    """

    model: LinearMixedModel = field(repr=False)
    theta: np.ndarray
    beta: np.ndarray = field(repr=False)
    sigma: float
    objective: float
    u: tuple[np.ndarray, ...] = field(repr=False)
    vcov_unscaled: np.ndarray = field(repr=False)
    pwrss: float = field(repr=False)
    ldL2: float = field(repr=False)
    ldRX2: float = field(repr=False)
    optsummary: OptSummary = field(repr=False)
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_model(
        cls, model: LinearMixedModel, theta: np.ndarray, opt: OptSummary, messages: list[str],
        factor: Any = None,
    ) -> LmerFit:
        """Read every estimate off the factor at ``theta``: the model's blocked factor,
        or ``factor`` (the dense factor small models are optimised with)."""
        theta = np.array(theta, dtype=float)
        if factor is None:
            objective = model.objective(theta)
            chol = model._chol
        else:
            chol = factor
            objective = (model._objective_from_factor(model.reml, factor)
                         if factor.update(theta) else math.inf)
        if not math.isfinite(objective):
            # small models are optimised with a dense factor whose rounding differs:
            # on degenerate data it can accept a theta where this factor fails
            raise MixedModelsError(
                f"the model cannot be evaluated at the optimum theta = {theta}: the "
                "objective is infinite or undefined there (check the scale of the "
                "predictors, e.g. values near 1e150 overflow, and whether the "
                "random-effects structure is estimable)"
            )
        beta = chol.fixed_effects()
        u = tuple(chol.spherical_effects(beta))
        r2 = chol.pwrss()
        dof = model.n - model.p if model.reml else model.n
        return cls(
            model=model,
            theta=theta,
            beta=beta,
            sigma=math.sqrt(r2 / dof),
            objective=objective,
            u=u,
            vcov_unscaled=chol.fixed_precision_inverse(),
            pwrss=r2,
            ldL2=chol.logdet_random(),
            ldRX2=chol.logdet_fixed(),
            optsummary=opt,
            warnings=tuple(messages),
        )

    # ------------------------------------------------------------------ basics
    @property
    def reml(self) -> bool:
        return self.model.reml

    @property
    def formula(self) -> str:
        return self.model.design.formula.text

    @property
    def nobs(self) -> int:
        return self.model.n

    @property
    def n_dropped_na(self) -> int:
        """Rows dropped for missing values."""
        return self.model.design.n_dropped_na

    @property
    def dropped_columns(self) -> tuple[str, ...]:
        """Fixed-effect columns dropped because X was rank deficient."""
        return tuple(self.model.design.dropped)

    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects, theta and sigma."""
        return self.model.p + len(self.theta) + 1

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    @property
    def loglik(self) -> float:
        """Log-likelihood (the REML log-likelihood for REML fits, as lme4)."""
        return -self.objective / 2.0

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + self.npar * math.log(self.nobs)

    @property
    def deviance(self) -> float:
        """-2 log-likelihood at the estimates with sigma profiled out (ML scale).

        For ML fits this is the objective. For REML fits it is the ML deviance at the
        REML estimates of theta (lme4's ``deviance(m, REML = FALSE)``).
        """
        if not self.reml:
            return self.objective
        n = self.nobs
        return (self.ldL2 - self.model.log_weights
                + n * (1.0 + math.log(2.0 * math.pi * self.pwrss / n)))

    @property
    def is_singular(self) -> bool:
        return self.model.is_singular(self.theta)

    @property
    def converged(self) -> bool:
        check = self.optsummary.check
        return check is None or check.ok

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, with lme4's names."""
        return pd.Series(self.beta, index=list(self.model.design.xnames), name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effects estimates."""
        names = list(self.model.design.xnames)
        return pd.DataFrame(self.sigma**2 * self.vcov_unscaled, index=names, columns=names)

    @property
    def std_errors(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(
            self.sigma * np.sqrt(np.diagonal(self.vcov_unscaled)),
            index=list(self.model.design.xnames), name="Std. Error",
        )

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (each listed once)."""
        out: dict[str, int] = {}
        for term in self.model.reterms:
            out.setdefault(term.name, len(term.levels))
        return out

    @property
    def varcorr(self) -> VarCorr:
        """Estimated variances, standard deviations and correlations of the random effects."""
        lams = self.model.lambdas(self.theta)
        covs = [self.sigma**2 * lam @ lam.T for lam in lams]
        return VarCorr(
            [t.name for t in self.model.reterms],
            [tuple(t.cnames) for t in self.model.reterms],
            covs,
            self.sigma,
        )

    # ------------------------------------------------------------------ random effects
    def _b(self) -> list[np.ndarray]:
        """Conditional modes b = Lambda u, one (levels x k) array per term."""
        out = []
        for lam, u, term in zip(self.model.lambdas(self.theta), self.u, self.model.reterms,
                                strict=True):
            out.append(u.reshape(len(term.levels), -1) @ lam.T)
        return out

    def ranef(self, cond_var: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, by grouping factor.

        Terms on the same grouping factor (``(1|g) + (0+x|g)``) are joined into one
        table, as lme4 does.

        Parameters
        ----------
        cond_var : bool
            Also compute the conditional covariance of each level's effects given the
            data; stored in ``df.attrs["cond_var"]`` as an array (levels, k, k). As in
            lme4, effects of different terms are treated as independent (zero blocks).

        Returns
        -------
        dict of str -> DataFrame
            Levels x coefficients.
        """
        model = self.model
        faces = None
        if cond_var:
            model.objective(self.theta)
            faces = model._chol.random_inverse_faces()
            lams = model.lambdas(self.theta)
        groups: dict[str, list[int]] = {}
        for j, term in enumerate(model.reterms):
            groups.setdefault(term.name, []).append(j)
        b = self._b()
        out = {}
        for name, js in groups.items():
            levels = list(model.reterms[js[0]].levels)
            cols: list[str] = []
            for j in js:
                cols.extend(model.reterms[j].cnames)
            df = pd.DataFrame(np.hstack([b[j] for j in js]), index=pd.Index(levels, name=name),
                              columns=cols)
            if faces is not None:
                ktot = len(cols)
                cv = np.zeros((len(levels), ktot, ktot))
                start = 0
                for j in js:
                    k = len(model.reterms[j].cnames)
                    lam = lams[j]
                    block = self.sigma**2 * (lam @ faces[j] @ lam.T)
                    cv[:, start:start + k, start:start + k] = block
                    start += k
                df.attrs["cond_var"] = cv
            out[name] = df
        return out

    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-level coefficients: fixed effects plus the level's random effects."""
        fixef = self.fixef
        out = {}
        for name, re in self.ranef().items():
            cols = list(fixef.index) + [c for c in re.columns if c not in fixef.index]
            df = pd.DataFrame(0.0, index=re.index, columns=cols)
            for c in fixef.index:
                df[c] = fixef[c]
            for c in re.columns:
                df[c] = df[c] + re[c]
            out[name] = df
        return out

    # ------------------------------------------------------------------ fitted values
    def _row_index(self) -> pd.Index:
        return self.model.design.row_index

    def _linear_predictor(self, terms: list[int] | None) -> np.ndarray:
        """X beta + offset + the contribution of the chosen terms, on the fitting rows."""
        design = self.model.design
        eta = design.X @ self.beta
        if design.offset is not None:
            eta = eta + design.offset
        b = self._b()
        for j in self._all_terms() if terms is None else terms:
            term = self.model.reterms[j]
            eta = eta + np.einsum("nk,nk->n", term.z, b[j][term.codes])
        return eta

    def _all_terms(self) -> list[int]:
        return list(range(len(self.model.reterms)))

    def fitted(self) -> pd.Series:
        """Fitted values (conditional on the random effects)."""
        return pd.Series(self._linear_predictor(None), index=self._row_index(), name="fitted")

    def residuals(self, kind: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals.

        Parameters
        ----------
        kind : {"response", "pearson"}
            Response residuals ``y - fitted``, or Pearson residuals (multiplied by the
            square root of the prior weights).
        scaled : bool
            Divide by sigma (lme4's ``scaled = TRUE``).
        """
        if kind not in ("response", "pearson"):
            raise ValueError(f"kind must be 'response' or 'pearson', not {kind!r}")
        res = self.model.design.y - self._linear_predictor(None)
        if kind == "pearson" and self.model.sqrt_weights is not None:
            res = res * self.model.sqrt_weights
        if scaled:
            res = res / self.sigma
        return pd.Series(res, index=self._row_index(), name="residuals")

    def scaled_residual_quantiles(self) -> list[float] | None:
        """Min, 1Q, median, 3Q and max of the scaled Pearson residuals (lme4's summary);
        None when there are none."""
        resid = np.asarray(self.residuals(kind="pearson", scaled=True), dtype=float)
        resid = resid[np.isfinite(resid)]
        if not resid.size:
            return None
        return np.quantile(resid, [0.0, 0.25, 0.5, 0.75, 1.0]).tolist()

    def _terms_in(self, re_form: str | None) -> list[int]:
        """Indices of the model's terms named by ``re_form`` (None: all; "~0"/"NA": none)."""
        if re_form is None:
            return self._all_terms()
        text = re_form.strip()
        if text.replace(" ", "") in ("~0", "NA", "~-1", ""):
            return []
        parsed = parse_formula("y " + text if text.startswith("~") else text)
        wanted = {(t.group_name, t.lhs.replace(" ", "")) for t in parsed.random}
        chosen = []
        for j, term in enumerate(self.model.reterms):
            if (term.name, term.lhs.replace(" ", "")) in wanted:
                chosen.append(j)
        found = {(self.model.reterms[j].name, self.model.reterms[j].lhs.replace(" ", ""))
                 for j in chosen}
        missing = wanted - found
        if missing:
            raise DataError(
                f"re_form names random terms that are not in the model: "
                f"{', '.join(f'({lhs} | {g})' for g, lhs in sorted(missing))}"
            )
        return chosen

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        re_form: str | None = None,
        allow_new_levels: bool = False,
    ) -> pd.Series:
        """Predictions, as lme4's ``predict``.

        Parameters
        ----------
        newdata : DataFrame, optional
            New rows; the fitting rows when omitted.
        re_form : str, optional
            Random terms to include: None for all, ``"~0"`` (or ``"NA"``) for none
            (population-level predictions), or a formula such as ``"~(1|Subject)"``.
        allow_new_levels : bool
            Allow levels not seen in fitting; their random effects are 0 (the
            population value), as in lme4.
        """
        terms = self._terms_in(re_form)
        if newdata is None:
            return pd.Series(self._linear_predictor(terms), index=self._row_index(),
                             name="predict")
        design = self.model.design
        X = fixed_matrix(design, newdata)
        eta = X @ self.beta
        if design.offset is not None:
            eta = eta + self._new_offset(newdata)
        b = self._b()
        for j in terms:
            codes, z = reterm_matrix(self.model.reterms[j], newdata, allow_new_levels)
            known = codes >= 0
            contrib = np.zeros(len(codes))
            contrib[known] = np.einsum("nk,nk->n", z[known], b[j][codes[known]])
            eta = eta + contrib
        index = newdata.index if isinstance(newdata, pd.DataFrame) else None
        return pd.Series(eta, index=index, name="predict")

    def _new_offset(self, newdata: pd.DataFrame) -> np.ndarray:
        name = self.model.fit_options.get("offset")
        if isinstance(name, str) and name in newdata:
            return np.asarray(newdata[name], dtype=float)
        raise DataError(
            "the model has an offset; give it as a column name in lmer(offset='col') and "
            "include that column in newdata to predict"
        )

    def simulate(self, nsim: int = 1, seed: int | None = None,
                 re_form: str | None = None) -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's ``simulate``).

        Parameters
        ----------
        nsim : int
            Number of simulated responses.
        seed : int, optional
            Seed of numpy's default generator; the same seed gives the same result.
        re_form : str, optional
            Random terms to condition on (their fitted modes are kept; the others are
            drawn anew). None (default), ``"~0"`` or ``"NA"`` draws every random effect
            anew, as lme4's default ``re.form = NA``.

        Returns
        -------
        DataFrame
            One column per simulation (``sim_1`` ...), one row per observation.
        """
        out = self._simulate_values(nsim, np.random.default_rng(seed), re_form)
        return pd.DataFrame(out, index=self._row_index(),
                            columns=[f"sim_{s + 1}" for s in range(nsim)])

    def _simulate_values(self, nsim: int, rng: np.random.Generator,
                         re_form: str | None = None) -> np.ndarray:
        """:meth:`simulate`'s numbers, (n, nsim), drawn from ``rng`` (no data frame)."""
        if nsim < 1:
            raise ValueError("nsim must be at least 1")
        kept = [] if re_form is None else self._terms_in(re_form)
        model = self.model
        base = self._linear_predictor(kept)
        lams = model.lambdas(self.theta)
        noise_sd = self.sigma / (1.0 if model.sqrt_weights is None else model.sqrt_weights)
        out = np.empty((model.n, nsim))
        for s in range(nsim):
            y = base.copy()
            for j, term in enumerate(model.reterms):
                if j in kept:
                    continue
                k = lams[j].shape[0]
                b = self.sigma * rng.standard_normal((len(term.levels), k)) @ lams[j].T
                y += np.einsum("nk,nk->n", term.z, b[term.codes])
            y += noise_sd * rng.standard_normal(model.n)
            out[:, s] = y
        return out

    # ------------------------------------------------------------------ new fits
    def refit(self, y: Any) -> LmerFit:
        """Fit the same model to a new response (same rows), reusing the Z blocks."""
        return self.model.with_response(np.asarray(y, dtype=float)).fit()

    def update(self, formula: str | None = None, *, reml: bool | None = None,
               data: Any = None, **kwargs: Any) -> LmerFit:
        """Refit with a changed formula, fitting criterion or data (lme4's ``update``)."""
        from mixedmodels.model import lmer

        options = dict(self.model.fit_options)
        options.update(kwargs)
        return lmer(
            formula if formula is not None else options.pop("formula"),
            self.model.data if data is None else data,
            reml=self.reml if reml is None else reml,
            weights=options.get("weights"),
            offset=options.get("offset"),
            data_name=self.model.data_name if data is None else None,
            allow_python=options.get("allow_python", False),
        )

    def save(self, path: str | Path) -> Path:
        """Save the fit in mixedmodels' versioned, non-executable format (no pickle).

        Load it with :func:`mixedmodels.load`; see :mod:`mixedmodels.persist`.
        """
        from mixedmodels.persist import save

        return save(self, path)

    # ------------------------------------------------------------------ inference
    def coef_table(self, ddf: str | None = "satterthwaite", level: float = 0.95) -> pd.DataFrame:
        """Fixed effects with t tests and confidence intervals.

        Parameters
        ----------
        ddf : {"satterthwaite", "kenward-roger", None}
            Denominator df of the t tests (lmerTest); None: normal distribution.
        level : float
            Confidence level of the intervals.

        Returns
        -------
        DataFrame
            Columns estimate, std_error, df, t_value, p_value, conf_low, conf_high.
        """
        from mixedmodels.inference.coef_table import coef_table

        return coef_table(self, ddf=ddf, level=level)

    def anova(self, type: int | str = 3, ddf: str = "satterthwaite") -> pd.DataFrame:  # noqa: A002
        """F tests of the fixed-effects terms (lmerTest's ``anova()``).

        Parameters
        ----------
        type : {1, 2, 3}
            Type I (sequential), II or III (default) hypotheses.
        ddf : {"satterthwaite", "kenward-roger"}
            Method of the denominator degrees of freedom.

        Returns
        -------
        DataFrame
            Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F) per term.
        """
        from mixedmodels.inference.anova import anova_table

        return anova_table(self, type=type, ddf=ddf)

    def r2(self) -> pd.Series:
        """Marginal and conditional R2 (Nakagawa & Schielzeth, as performance::r2_nakagawa)."""
        from mixedmodels.inference.r2 import r2

        return r2(self)

    def icc(self) -> pd.Series:
        """Adjusted and unadjusted intra-class correlation (as performance::icc)."""
        from mixedmodels.inference.r2 import icc

        return icc(self)

    def confint(self, parm: list[str] | None = None, method: str = "profile",
                level: float = 0.95, nsim: int = 500, seed: int | None = None,
                n_jobs: int = 1, progress: bool | None = None) -> pd.DataFrame:
        """Confidence intervals for .sig01..., .sigma and the fixed effects (lme4's confint).

        ``method`` is "profile" (default, as lme4), "wald" or "boot" (percentile).
        """
        from mixedmodels.inference.confint import confint

        return confint(self, parm=parm, method=method, level=level, nsim=nsim, seed=seed,
                       n_jobs=n_jobs, progress=progress)

    def profile(self, which: list[str] | None = None) -> pd.DataFrame:
        """The likelihood profile (lme4's ``as.data.frame(profile(m))``).

        One row per point: ``parameter`` (R's ``.par``), ``zeta``, ``value`` (R's
        ``.focal``), then every parameter at that point. For intervals use
        :meth:`confint`; :func:`mixedmodels.inference.profile.profile` returns the
        profile object with bounds and interpolation.
        """
        from mixedmodels.inference.profile import profile

        return profile(self, which=which).frame

    def bootstrap(self, nsim: int, seed: int | None = None, n_jobs: int = 1,
                  statistic: Callable[[LmerFit], Any] | None = None,
                  progress: bool | None = None) -> BootstrapResult:
        """Parametric bootstrap (lme4's bootMer): refits on responses simulated from the fit.

        Replicates are the same for a seed whatever ``n_jobs``.
        """
        from mixedmodels.inference.bootstrap import bootstrap

        return bootstrap(self, nsim, seed=seed, n_jobs=n_jobs, statistic=statistic,
                         progress=progress)

    def predict_interval(self, newdata: pd.DataFrame | None = None, level: float = 0.95,
                         nsim: int = 500, seed: int | None = None, method: str = "boot",
                         re_form: str | None = None, allow_new_levels: bool = False,
                         n_jobs: int = 1, progress: bool | None = None) -> pd.DataFrame:
        """Predictions with parametric-bootstrap intervals (columns fit, lower, upper)."""
        from mixedmodels.inference.bootstrap import predict_interval

        return predict_interval(self, newdata=newdata, level=level, nsim=nsim, seed=seed,
                                method=method, re_form=re_form,
                                allow_new_levels=allow_new_levels, n_jobs=n_jobs,
                                progress=progress)

    def drop1(self, test: str = "F", ddf: str = "satterthwaite") -> pd.DataFrame:
        """Tests of dropping each fixed term: F (lmerTest, default) or "Chisq" (lme4)."""
        from mixedmodels.inference.ranova import drop1

        return drop1(self, test=test, ddf=ddf)

    def ranova(self, reduce_terms: bool = True) -> pd.DataFrame:
        """Likelihood-ratio tests of the random terms, each reduced in turn (lmerTest)."""
        from mixedmodels.inference.ranova import ranova

        return ranova(self, reduce_terms=reduce_terms)

    # ------------------------------------------------------------------ model checks
    def simulated_residuals(self, nsim: int = 250, seed: int | None = None,
                            re_form: str | None = None) -> SimulatedResiduals:
        """Scaled quantile residuals from simulations of the fit (as DHARMa).

        See :func:`mixedmodels.diagnostics.simulated_residuals`.
        """
        from mixedmodels.diagnostics import simulated_residuals

        return simulated_residuals(self, nsim=nsim, seed=seed, re_form=re_form)

    def equation(self, estimates: bool = False, digits: int = 2) -> str:
        """The model in LaTeX (equatiomatic's notation), optionally with estimates."""
        from mixedmodels.display.equation import equation

        return equation(self, estimates=estimates, digits=digits)

    def _repr_latex_(self) -> str:
        return "$$" + self.equation() + "$$"

    def report(self, path: str | Path, nsim: int = 250, seed: int | None = 1,
               title: str | None = None) -> Path:
        """Write a self-contained HTML report (summary, diagnostics, checks) to ``path``."""
        from mixedmodels.report import report

        return report(self, path, nsim=nsim, seed=seed, title=title)

    # ------------------------------------------------------------------ display
    def summary(self, ddf: str | None = "satterthwaite") -> Summary:
        """The summary: ``str()`` gives lmerTest's text layout (lme4's with ``ddf=None``),
        ``_repr_html_`` a table.

        Parameters
        ----------
        ddf : {"satterthwaite", "kenward-roger", None}
            Method of the t tests' df shown in the fixed-effects table; None shows
            lme4's table without df and p-values.
        """
        from mixedmodels.display import Summary

        return Summary.from_fit(self, ddf=ddf)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        method = "REML" if self.reml else "ML"
        return f"<LmerFit {self.formula!r} ({method}, objective {self.objective:.4f})>"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
