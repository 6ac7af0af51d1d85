"""Single-term deletions: lmerTest's ``ranova`` (random terms) and ``drop1`` (fixed terms).

``ranova``: for each random-effects term (after lme4's expansion of ``||`` and ``/``),
lmerTest reduces the term and refits with the same criterion (REML stays REML):

- ``(1 | g)`` (no terms left of the bar) is removed;
- a term with covariates loses each marginal covariate in turn: ``(Days | Subject)``
  becomes ``(1 | Subject)`` (row ``"Days in (Days | Subject)"``); when the covariate is
  the only term left of the bar the result is ``(1 | g)``, even for ``(0 + x | g)``;
  ``(1 + x + z | g)`` gives ``(z | g)`` and ``(x | g)``.

When no random term is left the reduced model is a linear model, compared through its
(REML) log-likelihood as R's ``logLik(lm, REML = TRUE)`` gives it. The table has
``npar``, ``logLik``, ``AIC``, ``LRT`` = 2 (logLik_full - logLik_reduced), ``Df`` and
``Pr(>Chisq)``.

``drop1``: each fixed term that no other term contains (R's ``drop.scope``) is dropped.
``test="F"`` gives lmerTest's F tests of the term's coefficients with Satterthwaite or
Kenward-Roger denominator degrees of freedom (from the single-model ANOVA code of
:mod:`mixedmodels.inference`); ``test="Chisq"`` gives lme4's likelihood-ratio version
(every model refitted with ML; columns ``npar``, ``AIC``, ``LRT``, ``Pr(Chi)``).
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels.errors import MixedModelsError
from mixedmodels.formula import RandomTerm, TermList, parse_expression, parse_rhs
from mixedmodels.formula._render import to_label
from mixedmodels.inference.lrt import ml_version

__all__ = ["drop1", "marginal_terms", "ranova"]


# ---------------------------------------------------------------------------- formulas
def _rhs_label(terms: TermList) -> str:
    """R text of a term list: ``"1 + a + b"``, ``"0 + x"``, ``"1"``."""
    labels = terms.labels()
    if not labels:
        return "1" if terms.intercept else "0"
    return ("1 + " if terms.intercept else "0 + ") + " + ".join(labels)


def _random_label(term: RandomTerm) -> str:
    """The term as R's ``findbars`` deparses it: ``"Days | Subject"``, ``"1 | b:a"``."""
    lhs = None
    try:
        node = parse_expression(term.source)
        while hasattr(node, "inner"):
            node = node.inner
        if getattr(node, "op", None) == "|":
            lhs = to_label(node.left)
    except MixedModelsError:  # pragma: no cover - the source parsed once already
        lhs = None
    if lhs is None:
        lhs = _rhs_label(parse_rhs(term.lhs))
    return f"{lhs} | {term.group_name}"


def _random_text(lhs: str, term: RandomTerm) -> str:
    return f"({lhs} | {':'.join(term.group)})"


def _formula_text(parsed: Any, fixed: TermList, random: list[str]) -> str:
    response = parsed.response_label or parsed.response
    rhs = _rhs_label(fixed)
    return f"{response} ~ {' + '.join([rhs, *random])}"


def _marginal(terms: TermList) -> list[int]:
    """Indices of terms contained in no other term (R's ``drop.scope``)."""
    sets = [frozenset(f.label for f in t) for t in terms.terms]
    return [i for i, s in enumerate(sets)
            if not any(i != j and s < other for j, other in enumerate(sets))]


def marginal_terms(fit: Any) -> list[str]:
    """Labels of the fixed terms that can be dropped alone (R's ``drop.scope``)."""
    fixed = parse_rhs(fit.model.design.formula.fixed)
    return [fixed.labels()[i] for i in _marginal(fixed)]


def _fit_formula(fit: Any, text: str, reml: bool) -> Any:
    """Fit ``text`` to the data of ``fit`` (an lm when it has no random terms)."""
    from mixedmodels.inference.linear_model import lm, parse_fixed_formula
    from mixedmodels.model import LinearMixedModel

    options = fit.model.fit_options
    data = fit.model.data
    if data is None:
        raise MixedModelsError("the fit does not keep its data; refit it with lmer() first")
    try:
        parse_fixed_formula(text)
        has_random = False
    except MixedModelsError:
        has_random = True
    if not has_random:
        return lm(text, data, weights=options.get("weights"), offset=options.get("offset"))
    model = LinearMixedModel.from_formula(
        text, data, reml=reml, weights=options.get("weights"), offset=options.get("offset"),
        data_name=fit.model.data_name,
    )
    return model.fit()


def _loglik(fit: Any, reml: bool) -> float:
    if hasattr(fit, "loglik_at"):
        return fit.loglik_at(reml)
    return fit.loglik


# ---------------------------------------------------------------------------- ranova
@dataclass(frozen=True)
class _Reduction:
    label: str
    random: list[str]


def _reductions(parsed: Any, reduce_terms: bool) -> list[_Reduction]:
    terms = list(parsed.random)
    texts = [_random_text(_rhs_label(parse_rhs(t.lhs)), t) for t in terms]
    out = []
    for i, term in enumerate(terms):
        label = _random_label(term)
        others = texts[:i] + texts[i + 1:]
        lhs = parse_rhs(term.lhs)
        scope = _marginal(lhs)
        if not reduce_terms or not lhs.terms or not scope:
            out.append(_Reduction(f"({label})", others))
            continue
        for k in scope:
            if len(lhs.terms) == 1:
                new_lhs = "1"
            else:
                new_lhs = _rhs_label(TermList(lhs.intercept,
                                              lhs.terms[:k] + lhs.terms[k + 1:]))
            name = lhs.labels()[k]
            out.append(_Reduction(f"{name} in ({label})",
                                  others + [_random_text(new_lhs, term)]))
    return out


def ranova(fit: Any, reduce_terms: bool = True) -> pd.DataFrame:
    """Likelihood-ratio tests of the random-effects terms (lmerTest's ``ranova``).

    Parameters
    ----------
    fit : LmerFit
        The full model; reduced models are fitted with the same criterion (REML or ML).
    reduce_terms : bool
        Reduce terms with covariates to ``(1 | g)`` (default, as lmerTest); False
        removes every term whole.

    Returns
    -------
    DataFrame
        Rows ``"<none>"`` then one per reduction (``"(1 | Batch)"``,
        ``"Days in (Days | Subject)"``); columns ``npar``, ``logLik``, ``AIC``, ``LRT``,
        ``Df``, ``Pr(>Chisq)``. ``attrs["formulas"]`` holds the reduced formulas and
        ``attrs["messages"]`` the reduced fits' warnings.
    """
    if not hasattr(fit, "model") or not fit.model.reterms:
        raise MixedModelsError("ranova needs a fitted mixed model with random-effects terms")
    parsed = fit.model.design.formula
    fixed = parse_rhs(parsed.fixed)
    reml = fit.reml
    rows = ["<none>"]
    npar = [fit.npar]
    llk = [fit.loglik]
    formulas: dict[str, str] = {}
    messages: list[str] = []
    for red in _reductions(parsed, reduce_terms):
        text = _formula_text(parsed, fixed, red.random)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reduced = _fit_formula(fit, text, reml)
        messages.extend(f"{red.label}: {w.message}" for w in caught)
        messages.extend(f"{red.label}: {m}" for m in getattr(reduced, "warnings", ()))
        if reduced.nobs != fit.nobs:
            raise MixedModelsError("number of rows in use has changed: remove missing values?")
        rows.append(red.label)
        npar.append(reduced.npar)
        llk.append(_loglik(reduced, reml))
        formulas[red.label] = text
    table = _lr_table(rows, np.array(npar), np.array(llk))
    table.attrs["formulas"] = formulas
    table.attrs["messages"] = messages
    table.attrs["heading"] = ["ANOVA-like table for random-effects: Single term deletions",
                              "Model:", _formula_text(parsed, fixed, [
                                  f"({_random_label(t)})" for t in parsed.random])]
    return table


def _lr_table(rows: list[str], npar: np.ndarray, llk: np.ndarray) -> pd.DataFrame:
    """lmerTest's table: each row against the first."""
    lrt = np.full(len(rows), np.nan)
    df = np.full(len(rows), np.nan)
    p = np.full(len(rows), np.nan)
    lrt[1:] = 2.0 * (llk[0] - llk[1:])
    df[1:] = npar[0] - npar[1:]
    ok = np.isfinite(df) & (df > 0)
    p[ok] = stats.chi2.sf(lrt[ok], df[ok])
    return pd.DataFrame(
        {"npar": npar.astype(int), "logLik": llk, "AIC": -2.0 * llk + 2.0 * npar,
         "LRT": lrt, "Df": df, "Pr(>Chisq)": p},
        index=pd.Index(rows),
    )


# ---------------------------------------------------------------------------- drop1
def drop1(fit: Any, test: str = "F", ddf: str = "satterthwaite") -> pd.DataFrame:
    """Tests of dropping each marginal fixed term (lmerTest's / lme4's ``drop1``).

    Parameters
    ----------
    fit : LmerFit
        The full model.
    test : {"F", "Chisq"}
        ``"F"``: lmerTest's F test of the term's coefficients (columns ``Sum Sq``,
        ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``), needs the
        single-model F tests of :mod:`mixedmodels.inference`. ``"Chisq"``: lme4's
        likelihood-ratio version (models refitted with ML; columns ``npar``, ``AIC``,
        ``LRT``, ``Pr(Chi)``; first row ``"<none>"``).
    ddf : {"satterthwaite", "kenward-roger"}
        Denominator degrees of freedom for ``test="F"``.

    Returns
    -------
    DataFrame
        One row per marginal term (term labels as R's).
    """
    if test not in ("F", "Chisq"):
        raise MixedModelsError(f"test must be 'F' or 'Chisq', not {test!r}")
    parsed = fit.model.design.formula
    fixed = parse_rhs(parsed.fixed)
    scope = _marginal(fixed)
    labels = fixed.labels()
    if test == "F":
        return _drop1_f(fit, [labels[i] for i in scope], ddf)
    random = [_random_text(_rhs_label(parse_rhs(t.lhs)), t) for t in parsed.random]
    full = ml_version(fit)
    rows = ["<none>"]
    npar = [full.npar]
    llk = [full.loglik]
    messages: list[str] = []
    for i in scope:
        reduced_fixed = TermList(fixed.intercept, fixed.terms[:i] + fixed.terms[i + 1:])
        text = _formula_text(parsed, reduced_fixed, random)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reduced = _fit_formula(fit, text, reml=False)
        messages.extend(f"{labels[i]}: {w.message}" for w in caught)
        rows.append(labels[i])
        npar.append(reduced.npar)
        llk.append(reduced.loglik)
    npar_a = np.array(npar, dtype=float)
    llk_a = np.array(llk)
    aic = -2.0 * llk_a + 2.0 * npar_a
    dfs = npar_a[0] - npar_a
    dfs[0] = np.nan
    lrt = 2.0 * (llk_a[0] - llk_a)
    lrt[0] = np.nan
    p = np.full(len(rows), np.nan)
    p[1:] = stats.chi2.sf(lrt[1:], dfs[1:])
    table = pd.DataFrame({"npar": dfs, "AIC": aic, "LRT": lrt, "Pr(Chi)": p},
                         index=pd.Index(rows))
    table.attrs["messages"] = messages
    return table


def _drop1_f(fit: Any, scope: list[str], ddf: str) -> pd.DataFrame:
    """lmerTest's drop1: for each marginal term, the F test that its coefficients are 0
    (identity rows of L on the term's columns; the Type I contrast when X has one term
    or one column, as lmerTest's ``get_contrasts_marginal``). The F-test code of the
    single-model ANOVA is imported at call time."""
    try:
        anova = importlib.import_module("mixedmodels.inference.anova")
        contest = importlib.import_module("mixedmodels.inference.contest")
        contrasts = importlib.import_module("mixedmodels.inference.contrasts")
    except ImportError as err:  # pragma: no cover - part of the same package
        raise MixedModelsError(
            "drop1(test='F') needs the Satterthwaite/Kenward-Roger F tests; use "
            "drop1(fit, test='Chisq')"
        ) from err
    design = fit.model.design
    ts = contrasts.term_structure(design)
    p = design.X.shape[1]
    if p <= 1 or len(ts.labels) <= 1:
        matrices = anova.hypothesis_matrices(fit, 1)
    else:
        matrices = {}
        for k, label in enumerate(ts.labels):
            cols = ts.columns(k)
            L = np.zeros((len(cols), p))
            L[np.arange(len(cols)), cols] = 1.0
            matrices[label] = L
    columns = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    rows = []
    for label in scope:
        L = matrices.get(label)
        test = contest.f_test(fit, L, ddf) if L is not None and L.shape[0] else None
        if test is None:
            rows.append([np.nan] * len(columns))
        else:
            rows.append([test.sum_sq, test.mean_sq, test.num_df, test.den_df, test.f_value,
                         test.p_value])
    table = pd.DataFrame(rows, index=pd.Index(scope, dtype=object), columns=columns,
                         dtype=float)
    how = "Kenward-Roger's" if "kenward" in str(ddf).lower() else "Satterthwaite's"
    table.attrs["heading"] = f"Single term deletions using {how} method"
    table.attrs["hypotheses"] = {label: matrices.get(label) for label in scope}
    return table
