"""The HTML report: self-contained, every section, checks in plain words."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import mixedmodels as mm
from mixedmodels.report import SECTIONS, fit_checks, render_report, report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    """Collects section ids, image sources and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if tag == "section":
            self.sections.append(values.get("id") or "")
        if tag == "img":
            self.images.append(values.get("src") or "")
        for key in ("src", "href"):
            if values.get(key):
                self.urls.append(values[key] or "")


@pytest.fixture(scope="module")
def sleep_html(sleep_fit: mm.LmerFit) -> str:
    return render_report(sleep_fit, nsim=100, seed=1)


def test_self_contained(sleep_html: str) -> None:
    page = _Collector()
    page.feed(sleep_html)
    assert page.sections == list(SECTIONS)
    assert not {"script", "link", "iframe", "object"} & page.tags
    for url in page.urls:
        assert url.startswith(("#", "data:image/png;base64,")), url[:60]
    assert len(page.images) == 4  # diagnostics, simulated residuals, caterpillar, shrinkage
    for src in page.images:
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert not re.search(r"https?://", sleep_html)
    assert "@import" not in sleep_html and "url(" not in sleep_html


def test_sections_have_content(sleep_html: str, sleep_fit: mm.LmerFit) -> None:
    assert sleep_fit.summary()._repr_html_() in sleep_html
    assert r"\begin{aligned}" in sleep_html and "251.41" in sleep_html
    assert "Every check passed." in sleep_html
    for title in ("Convergence", "Singular fit", "Distribution of residuals", "Dispersion",
                  "Outliers", "Residuals along the predictions"):
        assert f"{title}: <span class=\"status\">OK</span>" in sleep_html, title
    assert "uniformity (KS)" in sleep_html  # the table of tests


def test_singular_fit_explained(tmp_path: Path) -> None:
    # dyestuff2: the batch variance is estimated as zero (lme4: singular fit)
    with pytest.warns(UserWarning, match="singular"):
        fit = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("dyestuff2"))
    assert fit.is_singular
    checks = {c.title: c for c in fit_checks(fit)}
    singular = checks["Singular fit"]
    assert not singular.ok
    assert "the standard deviation of (Intercept) over Batch is estimated as zero" in \
        singular.finding
    assert any("||" in advice for advice in singular.advice)
    path = report(fit, tmp_path / "dyestuff2.html", nsim=50)
    text = path.read_text(encoding="utf-8")
    assert "Singular fit: <span class=\"status\">Needs attention</span>" in text
    assert "What to try next:" in text and "(x || g)" in text


def test_convergence_advice_mentions_rescaling(sleep_fit: mm.LmerFit) -> None:
    from mixedmodels.report.checks import convergence_check

    check = convergence_check(sleep_fit)
    assert check.ok and "minimum" in check.finding


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--enable-logging=stderr", "--v=0"]


def _chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra,
                           page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_in_headless_chromium(tmp_path: Path, sleep_fit: mm.LmerFit) -> None:
    # the console detector works: a page with an error is caught
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><html><body><script>console.error('x');"
                       "</script></body></html>")
    assert _console_lines(_chromium(tmp_path, control, "--dump-dom").stderr)

    page = report(sleep_fit, tmp_path / "report.html", nsim=100)
    dom = _chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console_lines(dom.stderr) == []
    for key in SECTIONS:
        assert f'<section id="{key}">' in dom.stdout, key
    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,3000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_lines(result.stderr) == []
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 50_000  # a page with images drawn
