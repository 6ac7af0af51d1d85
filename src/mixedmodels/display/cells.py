"""Tables turned into strings the way lme4 and R format them, for any renderer.

Each function takes numbers (from :mod:`mixedmodels.display.tables`) and returns a
:class:`Cells` grid of strings: the text renderer pads and aligns them, the HTML
renderer puts them in ``<td>``. The rules are R's: ``printCoefmat`` for the fixed
effects, lme4's ``formatVC`` for the random effects, ``print.summary.merMod`` for the
correlation of the fixed effects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixedmodels.display.rformat import (
    abbreviate,
    format_number,
    format_pval,
    format_real,
    round_half,
    signif_stars,
    zapsmall,
)
from mixedmodels.display.tables import VarCorrBlock

# lme4's print.summary.merMod: digits = max(3, getOption("digits") - 3).
SUMMARY_DIGITS = 4
# lme4's option lme4.summary.cor.max: larger fixed-effect correlation matrices are not shown.
COR_MAX = 12


@dataclass(frozen=True)
class Cells:
    """A grid of formatted strings with row and column labels.

    Attributes
    ----------
    rownames : list of str
        Row labels ("" where R prints none).
    colnames : list of str
        Column labels.
    rows : list of list of str
        ``len(rownames)`` rows of ``len(colnames)`` strings.
    right : bool
        Whether R right-justifies the columns (else left-justifies).
    """

    rownames: list[str]
    colnames: list[str]
    rows: list[list[str]]
    right: bool


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def coefficient_cells(table: pd.DataFrame, digits: int = SUMMARY_DIGITS,
                      stars: bool = True) -> tuple[Cells, bool]:
    """Format a coefficient table as R's ``printCoefmat``.

    The columns before the test statistic (estimate, standard error and, in lmerTest's
    layout, df) share one format; the statistic is rounded to ``digits - 1`` decimals;
    a last column named ``Pr(>|t|)`` is formatted as p-values, followed by significance
    stars when any is below 0.1.

    Parameters
    ----------
    table : DataFrame
        Coefficients by row; the statistic is the last column, or the one before the
        p-values.
    digits : int
        R's ``digits``.
    stars : bool
        Whether to add significance stars (R's ``show.signif.stars``).

    Returns
    -------
    cells : Cells
    has_stars : bool
        Whether a stars column was added (the caller prints R's legend).
    """
    colnames = [str(c) for c in table.columns]
    xm = table.to_numpy(dtype=float).copy()
    nrow, nc = xm.shape
    has_p = nc >= 4 and colnames[-1][:3] in ("Pr(", "p-v")
    k = nc - int(has_p) - 1
    cs_ind = list(range(k))
    tst_ind = k
    dig_tst = max(1, min(5, digits - 1))
    cells = [[""] * nc for _ in range(nrow)]
    ok = ~np.isnan(xm)

    if cs_ind:
        coef_se = xm[:, cs_ind]
        acs = np.abs(coef_se)
        finite = np.isfinite(acs)
        if finite.any():
            nonzero = acs[finite & (acs != 0)]
            if nonzero.size:
                digmin = 1 + np.floor(np.log10([nonzero.min(), nonzero.max()]))
            else:
                digmin = np.array([1.0, 1.0])
            places = int(max(1, digits - digmin[0], digits - digmin[1]))
            flat = [_nan_to_none(round_half(float(v), places)) if np.isfinite(v) else
                    _nan_to_none(float(v)) for v in coef_se.ravel(order="F")]
            texts = format_real(flat, digits=digits)
            for idx, text in enumerate(texts):
                i, j = idx % nrow, idx // nrow
                cells[i][cs_ind[j]] = text
    tst = [_nan_to_none(round_half(float(v), dig_tst)) for v in xm[:, tst_ind]]
    for i, text in enumerate(format_real(tst, digits=digits)):
        cells[i][tst_ind] = text

    # Entries that are not 0 but print as 0 get one digit fewer, formatted alone.
    for j in cs_ind:
        for i in range(nrow):
            if not ok[i, j]:
                continue
            shown = float(cells[i][j])
            if (xm[i, j] == 0) != (shown == 0):
                cells[i][j] = format_number(float(xm[i, j]), digits=max(1, digits - 1))
    for i in range(nrow):
        for j in range(nc):
            if np.isnan(xm[i, j]) and not (has_p and j == nc - 1):
                cells[i][j] = "NA"

    has_stars = False
    if has_p:
        pv = [_nan_to_none(float(v)) for v in xm[:, -1]]
        for i, text in enumerate(format_pval(pv, digits=dig_tst)):
            cells[i][-1] = text
        has_stars = stars and any(p is not None and p < 0.1 for p in pv)
        if has_stars:
            codes = signif_stars(pv)
            width = max(len(c) for c in codes)
            for row, code in zip(cells, codes, strict=True):
                row.append(code.ljust(width))
            colnames = [*colnames, ""]
    return Cells([str(r) for r in table.index], colnames, cells, right=True), has_stars


def varcorr_cells(blocks: Sequence[VarCorrBlock], digits: int = SUMMARY_DIGITS) -> Cells:
    """Format the random-effects table as lme4's ``formatVC``.

    Variances and standard deviations are each formatted as one vector (common
    decimals); correlations per term with ``max(2, digits - 2)`` decimals, lower
    triangle only, padded to the largest term.
    """
    colnames = ["Groups", "Name", "Variance", "Std.Dev."]
    groups: list[str] = []
    names: list[str] = []
    for block in blocks:
        for i, name in enumerate(block.names):
            groups.append(block.group if i == 0 else "")
            names.append(name)
    variances = [_nan_to_none(float(v)) for b in blocks for v in b.variances]
    stddevs = [_nan_to_none(float(v)) for b in blocks for v in b.stddevs]
    rows = [
        [g, n, v, s]
        for g, n, v, s in zip(groups, names, format_real(variances, digits),
                              format_real(stddevs, digits), strict=True)
    ]
    maxlen = max(len(b.names) for b in blocks if not b.is_residual) if blocks else 1
    if maxlen > 1:
        dig = max(2, digits - 2)
        corr_rows: list[list[str]] = []
        for block in blocks:
            k = len(block.names)
            flat = [_nan_to_none(round_half(float(v), dig)) if not math.isnan(v) else float(v)
                    for v in block.corr.ravel()]
            texts = format_real(flat, digits=7, nsmall=dig)
            for i in range(k):
                row = [texts[i * k + j] if j < i else "" for j in range(maxlen)]
                corr_rows.append(row[: maxlen - 1])
        for row, extra in zip(rows, corr_rows, strict=True):
            row.extend(extra)
        colnames += ["Corr"] + [""] * (maxlen - 2)
    return Cells([""] * len(rows), colnames, rows, right=False)


def fixef_correlation_cells(corr: pd.DataFrame) -> Cells:
    """Lower triangle of the fixed-effects correlations as lme4 prints it.

    Rows are labelled with names abbreviated to 11 characters, columns to 6; the first
    row and the last column (empty) are left out.
    """
    names = [str(n) for n in corr.index]
    p = len(names)
    values = corr.to_numpy(dtype=float)
    flat = [_nan_to_none(round_half(float(v), 3)) if not math.isnan(v) else float(v)
            for v in values.ravel()]
    texts = format_real(flat, digits=7, nsmall=3)
    rownames = abbreviate(names, 11)
    colnames = abbreviate(names, 6)
    rows = [[texts[i * p + j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    return Cells(rownames[1:], colnames[: p - 1], rows, right=False)


def residual_cells(quantiles: Sequence[float], digits: int = SUMMARY_DIGITS
                   ) -> tuple[list[str], list[str]]:
    """Names and strings of the scaled-residual quantiles (lme4's ``.prt.resids``)."""
    names = ["Min", "1Q", "Median", "3Q", "Max"]
    return names, format_real(zapsmall(list(quantiles), digits + 1), digits)


def information_cells(aic: float, bic: float, loglik: float, deviance: float,
                      df_resid: int) -> tuple[list[str], list[str]]:
    """Names and strings of the ML information criteria (lme4's ``.prt.aictab``)."""
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    values = [round_half(float(v), 1) for v in (aic, bic, loglik, deviance, df_resid)]
    texts = [t.strip() for t in format_real(values)]
    texts[-1] = format_number(values[-1])
    return names, texts


def criterion_text(objective: float) -> str:
    """The REML criterion as lme4 prints it: ``format(round(x, 1))``."""
    return format_number(round_half(float(objective), 1))
