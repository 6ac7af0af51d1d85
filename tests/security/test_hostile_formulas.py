"""Formulas are not code: a corpus of hostile formulas, none of which may run.

Every formula below tries to create a marker file (its path replaces ``MARK``) or to
set a global. Each goes through ``mm.lmer`` and through the command line; each must
be refused with a FormulaError (exit status 2 and ``error:`` on the command line),
and afterwards the marker must not exist and the global must not be set.
"""

from __future__ import annotations

import builtins
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from formulaic import model_matrix
from reference.loader import load_reference, reference_frame

import mixedmodels as mm
from mixedmodels.cli import main as cli_main
from mixedmodels.design import build_design
from mixedmodels.design._context import SAFE_CONTEXT
from mixedmodels.errors import FormulaError
from mixedmodels.formula import check_python_expression, parse_formula

SET_GLOBAL = "import builtins; builtins.MM_PWNED = 1"

HOSTILE = [
    "Reaction ~ I(__import__('os').system('touch MARK')) + (1|Subject)",
    "Reaction ~ I(__import__('os')) + (1|Subject)",
    "Reaction ~ I(exec(\"open('MARK', 'w')\")) + (1|Subject)",
    f"Reaction ~ I(exec('{SET_GLOBAL}')) + (1|Subject)",
    "Reaction ~ I(eval(\"open('MARK', 'w')\")) + (1|Subject)",
    "Reaction ~ I(open('MARK', 'w')) + (1|Subject)",
    "Reaction ~ open('MARK', 'w') + (1|Subject)",
    "Reaction ~ Days + (1|Subject) + I(compile(\"open('MARK','w')\", 'x', 'exec'))",
    "Reaction ~ I(__builtins__) + (1|Subject)",
    "Reaction ~ I(Days.__class__) + (1|Subject)",
    "Reaction ~ I(np.__dict__) + (1|Subject)",
    "Reaction ~ np.os.system('touch MARK') + (1|Subject)",
    "Reaction ~ os.system('touch MARK') + (1|Subject)",
    "Reaction ~ np.lib.format.open_memmap('MARK', mode='w+', shape=(1,)) + (1|Subject)",
    "Reaction ~ I((lambda: open('MARK', 'w'))()) + (1|Subject)",
    "Reaction ~ I(lambda x: open('MARK', 'w')) + (1|Subject)",
    "Reaction ~ I([open('MARK', 'w') for x in Days]) + (1|Subject)",
    "Reaction ~ I(Days[0]) + (1|Subject)",
    "Reaction ~ I(globals()['__builtins__']) + (1|Subject)",
    "Reaction ~ I(globals().update(MM_PWNED=1)) + (1|Subject)",
    "Reaction ~ {open('MARK', 'w')} + (1|Subject)",
    "Reaction ~ Q(\"__import__('os').system('touch MARK')\") + (1|Subject)",
    "Reaction ~ C(Subject, open('MARK', 'w')) + (1|Subject)",
    "Reaction ~ scale(Days, center=open('MARK', 'w')) + (1|Subject)",
    "Reaction ~ poly(Days, degree=exec(\"open('MARK','w')\")) + (1|Subject)",
    "Reaction ~ `__import__('os').system('touch MARK')` + (1|Subject)",
    "Reaction ~ getattr(Days, '__class__') + (1|Subject)",
    "Reaction ~ I(setattr(Days, 'x', 1)) + (1|Subject)",
    "Reaction ~ I(vars()) + (1|Subject)",
    "Reaction ~ I(breakpoint()) + (1|Subject)",
    "Reaction ~ I(__loader__) + (1|Subject)",
    "Reaction ~ I(type(Days)) + (1|Subject)",
    "log(__import__('os').system('touch MARK')) ~ Days + (1|Subject)",
    "I(open('MARK', 'w')) ~ Days + (1|Subject)",
    "Reaction ~ Days + (I(open('MARK', 'w')) | Subject)",
    "Reaction ~ Days + (1 | Subject) + (0 + exec(\"open('MARK','w')\") | Subject)",
    "Reaction ~ Days + (1 | open('MARK', 'w'))",
    "Reaction ~ I(f\"{open('MARK', 'w')}\") + (1|Subject)",
    "Reaction ~ I(Days if open('MARK', 'w') else Days) + (1|Subject)",
    "Reaction ~ I(Days %in% open('MARK', 'w')) + (1|Subject)",
    "Reaction ~ I(\"x\" + open('MARK', 'w')) + (1|Subject)",
    "Reaction ~ lag(Days) + (1|Subject)",
    "Reaction ~ hashed(Subject, levels=10) + (1|Subject)",
    "Reaction ~ log(Days, _context=1) + (1|Subject)",
    "Reaction ~ I(np.log(Days + 1)) + (1|Subject)",
]


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def _formula(template: str, marker: Path) -> str:
    return template.replace("MARK", str(marker))


def _clean() -> None:
    if hasattr(builtins, "MM_PWNED"):
        del builtins.MM_PWNED


def test_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 30
    assert len(set(HOSTILE)) == len(HOSTILE)


@pytest.mark.parametrize("template", HOSTILE)
def test_lmer_refuses_hostile_formula(template: str, sleepstudy, tmp_path: Path) -> None:
    _clean()
    marker = tmp_path / "pwned"
    with pytest.raises(FormulaError) as info:
        mm.lmer(_formula(template, marker), sleepstudy)
    assert str(info.value)
    assert not marker.exists()
    assert not hasattr(builtins, "MM_PWNED")


@pytest.mark.parametrize("template", HOSTILE)
def test_cli_refuses_hostile_formula(template: str, tmp_path: Path, capsys) -> None:
    _clean()
    marker = tmp_path / "pwned"
    status = cli_main(["fit", "sleepstudy", _formula(template, marker)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error:")
    assert not marker.exists()
    assert not hasattr(builtins, "MM_PWNED")


@pytest.mark.parametrize("index", [0, 2, 5])
def test_cli_subprocess_refuses_hostile_formula(index: int, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    done = subprocess.run(
        [sys.executable, "-m", "mixedmodels", "fit", "sleepstudy",
         _formula(HOSTILE[index], marker)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error:")
    assert "Traceback" not in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("formula", "offending", "position"),
    [
        ("y ~ I(exec('1')) + (1|g)", "'exec'", 6),
        ("y ~ x + (1|g) + open('f')", "'open'", 16),
        ("y ~ I(__import__) + (1|g)", "'__import__'", 6),
        ("y ~ I(x.__class__) + (1|g)", "'x.__class__'", 6),
        ("y ~ I('a') + x + 'b' + (1|g)", "'b'", 17),
        ("y ~ I(x %o% x) + (1|g)", "'%o%'", 8),
    ],
)
def test_refusal_names_the_offending_part(formula: str, offending: str, position: int) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    assert offending in str(info.value)
    assert info.value.position == position


@pytest.mark.parametrize(
    "code",
    [
        "x.__class__",
        "np.log(x)",
        "x[0]",
        "(lambda: 1)()",
        "[v for v in x]",
        "{v: 1 for v in x}",
        "__import__('os')",
        "open('f')",
        "log(x, **kw)",
        "f'{x}'",
        "x if y else z",
        "(x := 1)",
    ],
)
def test_python_level_check_refuses(code: str) -> None:
    """The second guard, on each factor's Python text as formulaic would run it."""
    with pytest.raises(FormulaError):
        check_python_expression(code)


@pytest.mark.parametrize(
    "code", ["I(x ** 2)", "log(`my var` + 1)", "scale(x)", "poly(x, degree=2)", "C(f)",
             "Q('my var')", "I(x > 1)", "I(~(x > 1))", "x"],
)
def test_python_level_check_accepts(code: str) -> None:
    check_python_expression(code)


def test_closed_namespace_refuses_builtins(tmp_path: Path) -> None:
    """Even an expression that reached formulaic could not call a builtin."""
    marker = tmp_path / "pwned"
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(Exception, match="not allowed"):
        model_matrix(f"I(open({str(marker)!r}, 'w'))", frame, context=SAFE_CONTEXT)
    assert not marker.exists()
    # a column may still carry a builtin's name
    frame = pd.DataFrame({"open": [1.0, 2.0, 3.0]})
    assert model_matrix("I(open ** 2)", frame, context=SAFE_CONTEXT).shape == (3, 2)


def test_allow_python_restores_full_evaluation(sleepstudy) -> None:
    formula = "Reaction ~ I(np.log(Days + 1)) + (1|Subject)"
    with pytest.raises(FormulaError, match="not allowed"):
        build_design(formula, sleepstudy)
    design = build_design(formula, sleepstudy, allow_python=True)
    assert design.xnames == ("(Intercept)", "I(np.log(Days + 1))")
    assert parse_formula(formula, allow_python=True).allow_python


def test_parsed_formula_is_checked_again(sleepstudy) -> None:
    """A ParsedFormula made with allow_python is checked when build_design is not."""
    parsed = parse_formula("Reaction ~ I(np.log(Days + 1)) + (1|Subject)", allow_python=True)
    with pytest.raises(FormulaError, match="not allowed"):
        build_design(parsed, sleepstudy)


@pytest.mark.parametrize(
    "fit", load_reference(), ids=lambda f: f["id"]
)
def test_reference_formulas_still_parse_and_evaluate(fit) -> None:
    parsed = parse_formula(fit["formula"])
    assert not parsed.allow_python
    if fit["id"] == "insteval_crossed_ml":
        return  # 73,421 rows: the formula's parse is what matters here
    design = build_design(parsed, reference_frame(fit), weights=fit["weights"],
                          offset=fit["offset"])
    assert design.X.shape[0] == fit["nobs"]


@pytest.mark.parametrize(
    "formula",
    [
        "log(Reaction) ~ scale(Days) + I(Days^2) + (1 + Days | Subject)",
        "Reaction ~ poly(Days, 2) + log1p(Days) + sqrt(Days) + (1|Subject)",
        "Reaction ~ abs(Days - 4) + exp(Days / 10) + log10(Days + 1) + (1|Subject)",
        "Reaction ~ center(Days) + log2(Days + 1) + (1|Subject)",
        "Reaction ~ C(Subject) + (1|Days)",
        "Reaction ~ factor(Days > 4) + I((Days - 4.5)^2) + (1|Subject)",
        "Reaction ~ bs(Days, df=4) + (1|Subject)",
        "Reaction ~ 0 + cr(Days, df=4) + (1|Subject)",
        "Reaction ~ Q('Days') + (1|Subject)",
        "Reaction ~ as.factor(Days) + (1|Subject)",
    ],
)
def test_allowed_transforms_evaluate(formula: str, sleepstudy) -> None:
    design = build_design(formula, sleepstudy)
    assert design.X.shape[0] == 180
