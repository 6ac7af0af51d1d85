"""The HTML report of a fit and the plain-words checks it shows."""

from mixedmodels.report.checks import Check, fit_checks
from mixedmodels.report.html import SECTIONS, render_report, report

__all__ = ["SECTIONS", "Check", "fit_checks", "render_report", "report"]
