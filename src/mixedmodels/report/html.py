"""A self-contained HTML report of a fit: one page, images embedded, no network.

Sections (each an ``<section id=...>``): model (formula, data, equation), summary
(lme4's tables), checks (convergence, singularity, residual tests, in plain words with
what to try next), diagnostics (the four panels), simulated residuals, random effects
(caterpillar and shrinkage plots).
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mixedmodels.fit import LmerFit

__all__ = ["SECTIONS", "render_report", "report"]

SECTIONS = ("model", "summary", "checks", "diagnostics", "simulated-residuals",
            "random-effects")

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
pre, code { background: #f6f6f6; font-size: .9em; }
pre { padding: .8em; overflow-x: auto; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { padding: .2em .6em; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; height: auto; }
.check { margin: .6em 0; padding: .5em .8em; border-left: 4px solid #3a3; background: #f4fbf4; }
.check.fail { border-left-color: #c33; background: #fdf3f3; }
.check h3 { margin: 0 0 .2em 0; font-size: 1em; }
.status { font-weight: bold; }
nav a { margin-right: 1em; }
"""

_TITLES = {
    "model": "Model",
    "summary": "Summary",
    "checks": "Checks",
    "diagnostics": "Diagnostic plots",
    "simulated-residuals": "Simulated residuals",
    "random-effects": "Random effects",
}


def _png(fig: Figure, dpi: int = 90) -> str:
    """A figure as a base64 PNG ``<img>``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _section(key: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{_TITLES[key]}</h2>\n{body}\n</section>'


def _check_html(check) -> str:
    cls = "check" if check.ok else "check fail"
    status = "OK" if check.ok else "Needs attention"
    parts = [f'<div class="{cls}"><h3>{html.escape(check.title)}: '
             f'<span class="status">{status}</span></h3>',
             f"<p>{html.escape(check.finding)}</p>"]
    if check.advice:
        parts.append("<p>What to try next:</p><ul>"
                     + "".join(f"<li>{html.escape(a)}</li>" for a in check.advice)
                     + "</ul>")
    parts.append("</div>")
    return "\n".join(parts)


def render_report(fit: LmerFit, nsim: int = 250, seed: int | None = 1,
                  title: str | None = None) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    fit : LmerFit
    nsim : int
        Simulations for the simulated residuals.
    seed : int, optional
        Seed of the simulations (the report is reproducible with a fixed seed).
    title : str, optional
        Page title (default: the formula).

    Returns
    -------
    str
        A complete HTML document with no external resources.
    """
    from mixedmodels.diagnostics import simulated_residuals
    from mixedmodels.display.equation import equation
    from mixedmodels.plots import (
        plot_caterpillar,
        plot_diagnostics,
        plot_shrinkage,
        plot_simulated_residuals,
    )
    from mixedmodels.report.checks import fit_checks

    sim = simulated_residuals(fit, nsim=nsim, seed=seed)
    checks = fit_checks(fit, sim)
    method = "REML" if fit.reml else "maximum likelihood"
    data_name = fit.model.data_name
    groups = ", ".join(f"{html.escape(str(g))} ({n} levels)" for g, n in fit.ngroups.items())
    model = [
        f"<p>Linear mixed model fit by {method}: <code>{html.escape(fit.formula)}</code></p>",
        f"<p>Data: {html.escape(str(data_name)) if data_name else 'unnamed data'}; "
        f"{fit.nobs} observations; grouping factors: {groups}.</p>",
        "<p>The model as an equation (LaTeX source):</p>",
        f'<pre class="equation">{html.escape(equation(fit))}</pre>',
        "<p>With the estimates:</p>",
        f'<pre class="equation">{html.escape(equation(fit, estimates=True))}</pre>',
    ]
    failed = [c for c in checks if not c.ok]
    overview = ("<p>Every check passed.</p>" if not failed else
                f"<p>{len(failed)} of {len(checks)} checks need attention: "
                + ", ".join(html.escape(c.title) for c in failed) + ".</p>")
    summary_html = fit.summary()._repr_html_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diag = _png(plot_diagnostics(fit))
        simfig = _png(plot_simulated_residuals(sim))
        cater = _png(plot_caterpillar(fit))
        shrink = _png(plot_shrinkage(fit))
    tests = sim.tests()
    tests_html = tests.to_html(float_format=lambda v: f"{v:.4g}", border=0)
    body = [
        _section("model", "\n".join(model)),
        _section("summary", summary_html),
        _section("checks", overview + "\n" + "\n".join(_check_html(c) for c in checks)),
        _section("diagnostics",
                 "<p>Residuals against fitted values (with a LOWESS smooth), a normal QQ "
                 "plot of the residuals with a 95% simulation envelope, the scale-location "
                 "plot, and a normal QQ plot of the standardised random effects.</p>\n"
                 + diag),
        _section("simulated-residuals",
                 f"<p>Scaled quantile residuals from {sim.nsim} responses simulated from "
                 "the fitted model (as R's DHARMa): uniform on (0, 1) when the model is "
                 "right.</p>\n" + simfig + "\n" + tests_html),
        _section("random-effects",
                 "<p>Conditional modes with 95% intervals from their conditional "
                 "variances, and each group's own least-squares estimate against the "
                 "mixed model's (shrinkage towards the population value).</p>\n"
                 + cater + "\n" + shrink),
    ]
    page_title = html.escape(title or f"mixedmodels report: {fit.formula}")
    nav = "<nav>" + "".join(f'<a href="#{k}">{_TITLES[k]}</a>' for k in SECTIONS) + "</nav>"
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{page_title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>{page_title}</h1>\n{nav}\n" + "\n".join(body) + "\n</body>\n</html>\n")


def report(fit: LmerFit, path: str | Path, nsim: int = 250, seed: int | None = 1,
           title: str | None = None) -> Path:
    """Write the HTML report of a fit to ``path`` and return the path.

    Parameters
    ----------
    fit : LmerFit
    path : str or Path
        Output file (``.html``).
    nsim, seed, title
        As in :func:`render_report`.
    """
    path = Path(path)
    path.write_text(render_report(fit, nsim=nsim, seed=seed, title=title), encoding="utf-8")
    return path
