"""The command line, run in a subprocess as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mixedmodels import datasets

SLEEP = "Reaction ~ Days + (Days | Subject)"
JSON_KEYS = {
    "formula", "reml", "objective", "loglik", "aic", "bic", "sigma", "theta", "fixef",
    "se", "df", "p", "varcorr", "nobs", "ngroups", "singular", "converged", "warnings",
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mixedmodels", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sleep_summary() -> subprocess.CompletedProcess[str]:
    return run_cli("fit", "sleepstudy", SLEEP, "--ddf", "none")


def test_default_summary_has_lmertest_p_values() -> None:
    result = run_cli("fit", "sleepstudy", SLEEP)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Linear mixed model fit by REML. t-tests use Satterthwaite's method [")
    assert "Pr(>|t|)" in out
    # lmerTest: Days df 17.0, Pr(>|t|) 3.26e-06
    days = next(x for x in out.splitlines() if x.startswith("Days "))
    assert "17.000" in days and "3.26e-06" in days


def test_fit_prints_lme4_summary(sleep_summary: subprocess.CompletedProcess[str]) -> None:
    assert sleep_summary.returncode == 0, sleep_summary.stderr
    out = sleep_summary.stdout
    assert out.startswith("Linear mixed model fit by REML ['lmerMod']\n")
    assert "   Data: sleepstudy\n" in out
    assert "REML criterion at convergence: 1743.6" in out
    # Values as lme4 prints them (R: summary(lmer(Reaction ~ Days + (Days | Subject),
    # sleepstudy))); the random-effect standard deviations are checked below.
    for value in ("5.922", "0.07", "25.592", "251.405", "10.467", "6.825", "1.546"):
        assert value in out, value
    assert "Number of obs: 180, groups:  Subject, 18" in out
    assert sleep_summary.stderr == ""


def test_fit_intercept_sd_at_the_true_optimum(
    sleep_summary: subprocess.CompletedProcess[str],
) -> None:
    # lme4 prints 24.741 (sd 24.74066) because BOBYQA stops early on this flat surface;
    # the optimum is at sd 24.74045 (1.45e-9 lower REML criterion than lme4's theta, and
    # a tight Nelder-Mead started from lme4's theta converges to it), which prints 24.740.
    # tests/test_reference.py checks that our objective is never worse than lme4's.
    line = next(x for x in sleep_summary.stdout.splitlines() if "(Intercept)" in x)
    assert "24.740" in line


def test_fit_json() -> None:
    result = run_cli("fit", "sleepstudy", SLEEP, "--ml", "--json")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert set(obj) == JSON_KEYS
    assert obj["reml"] is False
    # lmerTest (ML): Satterthwaite df 18.0011 and 18.0002, Days p 1.6522e-06
    assert obj["df"]["(Intercept)"] == pytest.approx(18.0011347663803, rel=1e-3)
    assert obj["df"]["Days"] == pytest.approx(18.0001769285147, rel=1e-3)
    assert obj["p"]["Days"] == pytest.approx(1.65222790511593e-06, rel=1e-3)
    plain = json.loads(run_cli("fit", "sleepstudy", SLEEP, "--json", "--ddf", "none").stdout)
    assert plain["df"] is None and plain["p"] is None
    assert obj["nobs"] == 180 and obj["ngroups"] == {"Subject": 18}
    # lme4: deviance 1751.939 under ML
    assert obj["objective"] == pytest.approx(1751.939, abs=1e-3)
    assert list(obj["fixef"]) == ["(Intercept)", "Days"]
    assert obj["varcorr"][-1]["grp"] == "Residual" and obj["varcorr"][-1]["var1"] is None
    assert obj["singular"] is False and obj["converged"] is True


def test_warnings_go_to_stderr() -> None:
    result = run_cli("fit", "dyestuff2", "Yield ~ 1 + (1 | Batch)")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "warning: boundary (singular) fit: see help('isSingular')\n"
    assert "boundary (singular) fit" in result.stdout  # also in the summary, as lme4


def test_fit_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "sleep.csv"
    datasets.load("sleepstudy").to_csv(path, index=False)
    result = run_cli("fit", str(path), "Reaction ~ Days + (1 | Subject)", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ngroups"] == {"Subject": 18}
    text = run_cli("fit", str(path), "Reaction ~ Days + (1 | Subject)").stdout
    assert "   Data: sleep\n" in text


def test_datasets_lists_bundled_data() -> None:
    result = run_cli("datasets")
    assert result.returncode == 0
    assert "sleepstudy" in result.stdout and "insteval" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("fit", "nosuchdataset", "y ~ x + (1 | g)"),
        ("fit", "missing/file.csv", "y ~ x + (1 | g)"),
        ("fit", "sleepstudy", "Reaction ~ Days + (Days | Subject"),
        ("fit", "sleepstudy", "Reaction ~ Dayz + (Days | Subject)"),
        ("fit", "sleepstudy", SLEEP, "--weights", "nosuchcolumn"),
        ("fit", "sleepstudy"),
        ("nosuchcommand",),
    ],
    ids=["dataset", "file", "syntax", "variable", "weights", "argument", "command"],
)
def test_bad_input_exits_2_with_one_error_line(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""


def test_fit_parquet_file(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "sleep.parquet"
    datasets.load("sleepstudy").to_parquet(path)
    result = run_cli("fit", str(path), "Reaction ~ Days + (1 | Subject)")
    assert result.returncode == 0, result.stderr
    assert "   Data: sleep\n" in result.stdout
