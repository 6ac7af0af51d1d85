"""HTML rendering of a :class:`~mixedmodels.display.Summary` for notebooks and reports.

Self-contained: one ``<div>`` with its own ``<style>`` (scoped by class), no scripts,
no external assets. The cells are the same strings as the text layout.
"""

from __future__ import annotations

from html import escape
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

_STYLE = """<style>
.mm-summary { font-family: sans-serif; font-size: 0.9em; }
.mm-summary h4 { margin: 0.8em 0 0.3em 0; }
.mm-summary table { border-collapse: collapse; margin-bottom: 0.5em; }
.mm-summary th, .mm-summary td { padding: 0.15em 0.6em; }
.mm-summary th { border-bottom: 1px solid #888; font-weight: 600; }
.mm-summary td.num { text-align: right; font-family: monospace; white-space: pre; }
.mm-summary td.txt, .mm-summary th.txt { text-align: left; }
.mm-summary th.num { text-align: right; }
.mm-summary p { margin: 0.2em 0; }
</style>"""


def _table(cells: Cells, numeric_from: int, row_header: str = "") -> str:
    """A table; columns from ``numeric_from`` on are right-aligned monospace."""
    head = [f'<th class="txt">{escape(row_header)}</th>'] if cells.rownames else []
    for j, name in enumerate(cells.colnames):
        cls = "num" if j >= numeric_from else "txt"
        head.append(f'<th class="{cls}">{escape(name)}</th>')
    body = []
    labels = cells.rownames if cells.rownames else [""] * len(cells.rows)
    for label, row in zip(labels, cells.rows, strict=True):
        tds = [f'<td class="txt">{escape(label)}</td>'] if cells.rownames else []
        for j, value in enumerate(row):
            cls = "num" if j >= numeric_from else "txt"
            tds.append(f'<td class="{cls}">{escape(value.strip())}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return ("<table><thead><tr>" + "".join(head) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def _row_table(names: list[str], values: list[str]) -> str:
    cells = Cells([], names, [values], right=True)
    return _table(cells, numeric_from=0)


def render_html(s: Summary) -> str:
    """The summary as an HTML fragment."""
    method = "REML" if s.reml else "maximum likelihood"
    parts = [_STYLE, '<div class="mm-summary">',
             f"<h4>Linear mixed model fit by {escape(method)}</h4>",
             f"<p><b>Formula:</b> <code>{escape(s.formula)}</code></p>"]
    if s.data_name is not None:
        parts.append(f"<p><b>Data:</b> {escape(s.data_name)}</p>")
    if s.weights is not None:
        parts.append(f"<p><b>Weights:</b> {escape(s.weights)}</p>")
    if s.offset is not None:
        parts.append(f"<p><b>Offset:</b> {escape(s.offset)}</p>")
    if s.reml:
        parts.append(f"<p><b>REML criterion at convergence:</b> {criterion_text(s.objective)}</p>")
    else:
        parts.append(_row_table(*information_cells(s.aic, s.bic, s.loglik, s.deviance,
                                                   s.df_resid)))
    if s.resid_quantiles is not None:
        parts.append("<h4>Scaled residuals</h4>")
        parts.append(_row_table(*residual_cells(s.resid_quantiles)))
    parts.append("<h4>Random effects</h4>")
    vc = varcorr_cells(varcorr_blocks(s.varcorr))
    parts.append(_table(Cells([], vc.colnames, vc.rows, right=False), numeric_from=2))
    groups = "; ".join(f"{escape(name)}, {n}" for name, n in s.ngroups.items())
    parts.append(f"<p>Number of obs: {s.nobs}, groups: {groups}</p>")
    if s.n_dropped_na > 0:
        parts.append(f"<p>{s.n_dropped_na} observation(s) dropped for missing values</p>")
    table = s.fixed_table
    if len(table):
        parts.append("<h4>Fixed effects</h4>")
        cells, has_stars = coefficient_cells(table)
        parts.append(_table(cells, numeric_from=0))
        if has_stars:
            parts.append(f"<p><small>{escape(SIGNIF_LEGEND)}</small></p>")
        if 1 < len(table) <= COR_MAX and s.fixef_corr is not None:
            parts.append("<details><summary>Correlation of fixed effects</summary>")
            parts.append(_table(fixef_correlation_cells(s.fixef_corr), numeric_from=0))
            parts.append("</details>")
    messages = list(s.fit_messages) + list(s.conv_messages)
    if s.conv_code != 0:
        messages.insert(0, f"optimizer ({s.optimizer}) convergence code: {s.conv_code}")
    for message in messages:
        parts.append(f'<p class="mm-warning">&#9888; {escape(message)}</p>')
    parts.append("</div>")
    return "\n".join(parts)
