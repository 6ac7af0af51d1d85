"""``mixedmodels fit --plots DIR`` and ``mixedmodels report``, run as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

SLEEP = "Reaction ~ Days + (Days | Subject)"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STANDARD = {"diagnostics", "residuals", "qq", "scale_location", "ranef_qq", "caterpillar",
            "shrinkage", "simulated_residuals"}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mixedmodels", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_fit_writes_plots(tmp_path: Path) -> None:
    out = tmp_path / "plots" / "sleep"
    result = run_cli("fit", "sleepstudy", SLEEP, "--plots", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Linear mixed model fit by REML")  # summary unchanged
    assert result.stderr == ""
    written = {p.stem for p in out.glob("*.png")}
    assert written == STANDARD | {"pooling"}  # one grouping factor: pooling too
    for path in out.glob("*.png"):
        assert path.read_bytes().startswith(PNG_MAGIC), path


def test_fit_plots_crossed_model_without_pooling(tmp_path: Path) -> None:
    result = run_cli("fit", "penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", "--json",
                     "--plots", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("{")
    assert {p.stem for p in tmp_path.glob("*.png")} == STANDARD


def test_plots_into_a_file_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    result = run_cli("fit", "sleepstudy", SLEEP, "--plots", str(target))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "not a directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_report(tmp_path: Path) -> None:
    out = tmp_path / "out.html"
    result = run_cli("report", "sleepstudy", SLEEP, "-o", str(out), "--nsim", "60")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    text = out.read_text(encoding="utf-8")
    for key in ("model", "summary", "checks", "diagnostics", "simulated-residuals",
                "random-effects"):
        assert f'<section id="{key}">' in text
    assert "Data: sleepstudy" in text


def test_report_from_csv_with_warning(tmp_path: Path) -> None:
    import mixedmodels as mm

    csv = tmp_path / "dye.csv"
    mm.datasets.load("dyestuff2").to_csv(csv, index=False)
    out = tmp_path / "dye.html"
    result = run_cli("report", str(csv), "Yield ~ 1 + (1 | Batch)", "-o", str(out),
                     "--nsim", "30")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "warning: boundary (singular) fit: see help('isSingular')\n"
    assert "The fit is singular" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("args", "message"), [
    (("report", "sleepstudy", SLEEP), "-o"),
    (("report", "sleepstudy", "Reaction ~ Nope + (1 | Subject)", "-o", "x.html"), "Nope"),
    (("report", "sleepstudy", SLEEP, "-o", "x.html", "--nsim", "1"), "--nsim"),
])
def test_report_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "x.html").exists()
