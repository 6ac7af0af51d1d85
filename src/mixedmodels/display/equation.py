r"""The model as a LaTeX equation, in the notation of R's equatiomatic (Gelman & Hill).

For ``Reaction ~ Days + (Days | Subject)``::

    \operatorname{Reaction}_{i} \sim N(\alpha_{j[i]} + \beta_{1j[i]}(\operatorname{Days}),
        \sigma^2)
    (\alpha_{j}, \beta_{1j})' \sim N((\mu_{\alpha_{j}}, \mu_{\beta_{1j}})', \Sigma)
    \text{for Subject } j = 1, \dots, J

Coefficients are the intercept ``alpha`` and slopes ``beta_1 .. beta_p`` in the order of
the fixed-effects columns; a coefficient that varies over a grouping factor with index
letter ``j`` carries the subscript ``j[i]``. Each random term gets its own distribution:
a normal for one coefficient, a multivariate normal with standard deviations and
correlations for correlated coefficients (terms split by ``||`` are independent normals).
The mean of a varying coefficient is its fixed effect (``mu``) where it first varies and
0 in any further grouping factor (so crossed and nested intercepts add up to one mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = ["equation", "latex_name"]

INDEX_LETTERS = "jklmnopqrstuvwxyz"
_ESCAPES = {"\\": r"\backslash{}", "_": r"\_", "%": r"\%", "$": r"\$", "#": r"\#",
            "&": r"\&", "{": r"\{", "}": r"\}", "^": r"\hat{}", "~": r"\sim{}"}


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _op(text: str) -> str:
    return rf"\operatorname{{{_escape(text)}}}"


def latex_name(column: str, categories: dict[str, tuple[object, ...]] | None = None) -> str:
    r"""A fixed-effects column name in LaTeX: ``sexM`` -> ``\operatorname{sex}_{\operatorname{M}}``,
    interactions joined by ``\times``."""
    parts = []
    for part in column.split(":"):
        text = _op(part)
        for var, levels in (categories or {}).items():
            if part.startswith(var) and part != var:
                level = part[len(var):]
                if level in {str(v) for v in levels}:
                    text = rf"{_op(var)}_{{{_op(level)}}}"
                    break
        parts.append(text)
    return r" \times ".join(parts)


@dataclass
class _Coef:
    name: str          # lme4 name: "(Intercept)", "Days"
    symbol: str        # "\alpha" or "\beta_{1"...
    number: int        # 0 for the intercept
    fixed: int | None  # column of X, None when the coefficient has no fixed effect
    letters: list[str]  # index letters of the grouping factors it varies over

    def base(self) -> str:
        return r"\alpha" if self.number == 0 else rf"\beta_{{{self.number}"

    def at(self, index: str) -> str:
        """The coefficient with a subscript: ``\alpha_{j[i]}``, ``\beta_{1j}``."""
        if self.number == 0:
            return rf"\alpha_{{{index}}}" if index else r"\alpha"
        return rf"\beta_{{{self.number}{index}}}"


def _fmt(x: float, digits: int) -> str:
    text = f"{x:.{digits}f}"
    return "0" if float(text) == 0 and text.lstrip("-").replace("0", "").strip(".") == "" \
        else text


def equation(fit: LmerFit, estimates: bool = False, digits: int = 2) -> str:
    """The model as LaTeX (an ``aligned`` environment, without ``$$``).

    Parameters
    ----------
    fit : LmerFit
    estimates : bool
        Put the estimates in place of the fixed effects, means, standard deviations and
        correlations (the random effects of the groups stay symbols).
    digits : int
        Decimals of the estimates.

    Returns
    -------
    str
        LaTeX source for math mode.
    """
    design = fit.model.design
    reterms = fit.model.reterms
    xnames = list(design.xnames)
    categories = design.fixed_spec.categories
    letters = {name: INDEX_LETTERS[i % len(INDEX_LETTERS)]
               for i, name in enumerate(fit.ngroups)}

    coefs: dict[str, _Coef] = {}
    count = 0
    for col, name in enumerate(xnames):
        number = 0 if name == "(Intercept)" else (count := count + 1)
        coefs[name] = _Coef(name, "", number, col, [])
    for term in reterms:
        for cname in term.cnames:
            if cname not in coefs:
                number = 0 if cname == "(Intercept)" else (count := count + 1)
                coefs[cname] = _Coef(cname, "", number, None, [])
            if letters[term.name] not in coefs[cname].letters:
                coefs[cname].letters.append(letters[term.name])

    def value(c: _Coef) -> float:
        return float(fit.beta[c.fixed]) if c.fixed is not None else 0.0

    # mean structure
    pieces = []
    for c in coefs.values():
        index = ",".join(f"{letter}[i]" for letter in c.letters)
        if c.letters:
            sym = c.at(index)
        elif estimates:
            sym = _fmt(value(c), digits)
        else:
            sym = c.at("") if c.number == 0 else rf"\beta_{{{c.number}}}"
        if c.name == "(Intercept)":
            pieces.append(sym)
        else:
            pieces.append(rf"{sym}({latex_name(c.name, categories)})")
    if design.offset is not None:
        pieces.append(r"\operatorname{offset}")
    mean = " + ".join(pieces) if pieces else "0"
    mean = mean.replace("+ -", "- ")
    sigma2 = f"{_fmt(fit.sigma, digits)}^2" if estimates else r"\sigma^2"
    response = rf"{_op(str(design.response_name))}_{{i}}"
    lines = [rf"{response} &\sim N \left({mean}, {sigma2} \right)"]

    # one distribution per random term
    seen: set[str] = set()
    lams = fit.model.lambdas(fit.theta)
    for term, lam in zip(reterms, lams, strict=True):
        letter = letters[term.name]
        cov = fit.sigma**2 * lam @ lam.T
        members = [coefs[c] for c in term.cnames]
        syms = [m.at(letter) for m in members]
        means = []
        for m in members:
            first = m.letters[0] == letter and m.name not in seen
            if not first:
                means.append("0")
            elif estimates:
                means.append(_fmt(value(m), digits))
            else:
                means.append(rf"\mu_{{{m.at(letter)}}}")
        sds = np.sqrt(np.maximum(np.diagonal(cov), 0.0))
        if len(members) == 1:
            var = f"{_fmt(sds[0], digits)}^2" if estimates else rf"\sigma^2_{{{syms[0]}}}"
            lines.append(rf"{syms[0]} &\sim N \left({means[0]}, {var} \right), "
                         rf"\text{{ for {_escape(term.name)} }} {letter} = 1, \dots, "
                         rf"{letter.upper()}")
        else:
            lines.append(_mvn_line(syms, means, cov, sds, estimates, digits, term.name,
                                   letter))
        seen.update(m.name for m in members)
    body = r" \\" + "\n"
    return "\\begin{aligned}\n" + body.join(lines) + "\n\\end{aligned}"


def _column(entries: list[str]) -> str:
    return r"\left(\begin{array}{c} " + r" \\ ".join(entries) + r" \end{array}\right)"


def _mvn_line(syms: list[str], means: list[str], cov: np.ndarray, sds: np.ndarray,
              estimates: bool, digits: int, group: str, letter: str) -> str:
    """A multivariate normal for correlated coefficients."""
    k = len(syms)
    rows = []
    for a in range(k):
        cells = []
        for b in range(k):
            if a == b:
                cells.append(f"{_fmt(sds[a], digits)}^2" if estimates
                             else rf"\sigma^2_{{{syms[a]}}}")
            elif estimates:
                denom = sds[a] * sds[b]
                rho = cov[a, b] / denom if denom > 0 else 0.0
                cells.append(rf"{_fmt(rho, digits)} \cdot {_fmt(sds[a], digits)} \cdot "
                             rf"{_fmt(sds[b], digits)}")
            else:
                first, second = (syms[a], syms[b]) if a < b else (syms[b], syms[a])
                cells.append(rf"\rho_{{{first}{second}}} \sigma_{{{syms[a]}}} "
                             rf"\sigma_{{{syms[b]}}}")
        rows.append(" & ".join(cells))
    matrix = (r"\left(\begin{array}{" + "c" * k + "} " + r" \\ ".join(rows)
              + r" \end{array}\right)")
    return (rf"{_column(syms)} &\sim N \left({_column(means)}, {matrix} \right), "
            rf"\text{{ for {_escape(group)} }} {letter} = 1, \dots, {letter.upper()}")
