"""Plain-text rendering of a :class:`~mixedmodels.display.Summary` in lme4's layout.

One small function per section, as lme4's ``.prt.*`` helpers, and two layout helpers
that reproduce R's ``print`` of a named vector and of a character matrix (column
blocks wrapped at 80 characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mixedmodels.display.cells import (
    COR_MAX,
    Cells,
    coefficient_cells,
    criterion_text,
    fixef_correlation_cells,
    information_cells,
    residual_cells,
    varcorr_cells,
)
from mixedmodels.display.rformat import SIGNIF_LEGEND
from mixedmodels.display.tables import varcorr_blocks

if TYPE_CHECKING:
    from mixedmodels.display.summary import Summary

# R's getOption("width") and the gap between printed columns.
WIDTH = 80
GAP = 1


def named_vector_lines(names: Sequence[str], values: Sequence[str],
                       width: int = WIDTH) -> list[str]:
    """R's print of a named vector: right-justified columns, each followed by a space."""
    w = max([len(v) for v in values] + [len(n) for n in names])
    per_line = max(1, width // (w + GAP))
    lines = []
    for start in range(0, len(values), per_line):
        chunk = range(start, min(start + per_line, len(values)))
        lines.append("".join(names[k].rjust(w) + " " * GAP for k in chunk))
        lines.append("".join(values[k].rjust(w) + " " * GAP for k in chunk))
    return lines


def matrix_lines(cells: Cells, width: int = WIDTH) -> list[str]:
    """R's print of a character matrix (``quote = FALSE``), wrapping columns at ``width``."""
    rlabw = max((len(r) for r in cells.rownames), default=0)
    ncol = len(cells.colnames)
    widths = [
        max([len(cells.colnames[j])] + [len(row[j]) for row in cells.rows])
        for j in range(ncol)
    ]

    def just(text: str, w: int) -> str:
        return text.rjust(w) if cells.right else text.ljust(w)

    lines: list[str] = []
    jmin = 0
    while jmin < ncol:
        total = rlabw + widths[jmin] + GAP
        jmax = jmin + 1
        while jmax < ncol and total + widths[jmax] + GAP < width:
            total += widths[jmax] + GAP
            jmax += 1
        cols = range(jmin, jmax)
        lines.append(" " * rlabw + "".join(" " * GAP + just(cells.colnames[j], widths[j])
                                           for j in cols))
        for label, row in zip(cells.rownames, cells.rows, strict=True):
            lines.append(label.ljust(rlabw)
                         + "".join(" " * GAP + just(row[j], widths[j]) for j in cols))
        jmin = jmax
    return lines


def fill_lines(items: Sequence[str], width: int = WIDTH) -> list[str]:
    """R's ``cat(..., fill = TRUE)``: items joined by spaces, broken before ``width``."""
    lines: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + 1 + len(item) > width:
            lines.append(current)
            current = item
        else:
            current = item if not current else current + " " + item
    lines.append(current)
    return lines


# ---------------------------------------------------------------------- sections
def title_lines(s: Summary) -> list[str]:
    """The title (lme4's ``.prt.methTit``).

    lme4: ``Linear mixed model fit by REML ['lmerMod']``. With t tests (lmerTest):
    ``Linear mixed model fit by REML. t-tests use Satterthwaite's method
    [lmerModLmerTest]``, wrapped as R does when the line is longer than 80 characters.
    """
    method = "REML" if s.reml else "maximum likelihood "
    title = f"Linear mixed model fit by {method}"
    if s.ddf is None:
        return [f"{title} ['lmerMod']"]
    how = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}.get(
        s.ddf, s.ddf)
    return method_title_lines(f"{title}. t-tests use {how} method", "lmerModLmerTest")


def method_title_lines(title: str, klass: str, width: int = WIDTH) -> list[str]:
    """lme4's ``.prt.methTit``: ``title ['class']``, or, when that is wider than
    ``width``, ``strwrap(title, width - 2, exdent = 2)`` followed by `` [class]`` through
    ``cat(..., sep = "", fill = TRUE)``."""
    if len(title) + 5 + len(klass) <= width:
        return [f"{title} ['{klass}']"]
    items = [*strwrap(title, width - 2, exdent=2), " [", klass, "]"]
    lines: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + len(item) > width:
            lines.append(current)
            current = item
        else:
            current += item
    lines.append(current)
    return lines


def strwrap(text: str, width: int, exdent: int = 0) -> list[str]:
    """R's ``strwrap`` of one paragraph: words joined greedily into lines shorter than
    ``width``; lines after the first indented by ``exdent`` spaces."""
    lines: list[str] = []
    current: list[str] = []
    length = 0
    for word in text.split():
        indent = exdent if lines else 0
        extra = len(word) + (1 if current else 0)
        if current and indent + length + extra >= width:
            lines.append(" " * indent + " ".join(current))
            current, length = [word], len(word)
        else:
            current.append(word)
            length += extra
    if current:
        lines.append(" " * (exdent if lines else 0) + " ".join(current))
    return lines


def call_lines(s: Summary) -> list[str]:
    """Formula, data, weights and offset (lme4's ``.prt.call``)."""
    lines = [f"Formula: {s.formula}"]
    if s.data_name is not None:
        lines.append(f"   Data: {s.data_name}")
    if s.weights is not None:
        lines.append(f"Weights: {s.weights}")
    if s.offset is not None:
        lines.append(f" Offset: {s.offset}")
    return lines


def criterion_lines(s: Summary) -> list[str]:
    """REML criterion, or the ML information criteria (lme4's ``.prt.aictab``)."""
    if s.reml:
        return [f"REML criterion at convergence: {criterion_text(s.objective)}"]
    names, values = information_cells(s.aic, s.bic, s.loglik, s.deviance, s.df_resid)
    return named_vector_lines(names, values)


def residual_lines(s: Summary) -> list[str]:
    """Quantiles of the scaled residuals (lme4's ``.prt.resids``)."""
    if s.resid_quantiles is None:
        return []
    names, values = residual_cells(s.resid_quantiles)
    return ["Scaled residuals: ", *named_vector_lines(names, values), ""]


def random_lines(s: Summary) -> list[str]:
    """The random-effects table (lme4's ``.prt.VC``)."""
    return ["Random effects:", *matrix_lines(varcorr_cells(varcorr_blocks(s.varcorr)))]


def groups_lines(s: Summary) -> list[str]:
    """Number of observations and of levels per grouping factor (lme4's ``.prt.grps``)."""
    groups = "; ".join(f"{name}, {n}" for name, n in s.ngroups.items())
    lines = fill_lines([f"Number of obs: {s.nobs}, groups: ", groups])
    if s.n_dropped_na > 0:
        noun = "observation" if s.n_dropped_na == 1 else "observations"
        lines.append(f"{s.n_dropped_na} {noun} dropped for missing values")
    return lines


def fixed_lines(s: Summary) -> list[str]:
    """Fixed-effects table and their correlations (``print.summary.merMod``)."""
    table = s.fixed_table
    p = len(table)
    if p == 0:
        return []
    cells, has_stars = coefficient_cells(table)
    lines = ["", "Fixed effects:", *matrix_lines(cells)]
    if has_stars:
        lines += ["---", SIGNIF_LEGEND]
    if p > COR_MAX:
        lines += ["", f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                  "Use the fit's vcov if you need it"]
    elif p > 1 and s.fixef_corr is not None:
        lines += ["", "Correlation of Fixed Effects:",
                  *matrix_lines(fixef_correlation_cells(s.fixef_corr))]
    return lines


def message_lines(s: Summary) -> list[str]:
    """Design messages, then the optimiser's code and messages (lme4's ``.prt.warn``)."""
    lines: list[str] = []
    if s.fit_messages:
        lines += ["fit warnings:", *s.fit_messages]
    if s.conv_code != 0 or s.conv_messages:
        status = "OK" if s.conv_code == 0 else "failed"
        lines.append(f"optimizer ({s.optimizer}) convergence code: {s.conv_code} ({status})")
        lines += list(s.conv_messages)
    return lines


def render_text(s: Summary) -> str:
    """The whole summary in lme4's layout, ending with a newline."""
    lines = [
        *title_lines(s),
        *call_lines(s),
        "",
        *criterion_lines(s),
        "",
        *residual_lines(s),
        *random_lines(s),
        *groups_lines(s),
        *fixed_lines(s),
        *message_lines(s),
    ]
    return "\n".join(lines) + "\n"
