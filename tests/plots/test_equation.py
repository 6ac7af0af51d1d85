"""The model as a LaTeX equation (equatiomatic's notation)."""

from __future__ import annotations

import pandas as pd

import mixedmodels as mm
from mixedmodels.display.equation import equation, latex_name


def test_correlated_slopes(sleep_fit: mm.LmerFit) -> None:
    assert equation(sleep_fit) == (
        "\\begin{aligned}\n"
        r"\operatorname{Reaction}_{i} &\sim N \left(\alpha_{j[i]} + "
        r"\beta_{1j[i]}(\operatorname{Days}), \sigma^2 \right) \\" "\n"
        r"\left(\begin{array}{c} \alpha_{j} \\ \beta_{1j} \end{array}\right) &\sim N \left("
        r"\left(\begin{array}{c} \mu_{\alpha_{j}} \\ \mu_{\beta_{1j}} \end{array}\right), "
        r"\left(\begin{array}{cc} \sigma^2_{\alpha_{j}} & \rho_{\alpha_{j}\beta_{1j}} "
        r"\sigma_{\alpha_{j}} \sigma_{\beta_{1j}} \\ \rho_{\alpha_{j}\beta_{1j}} "
        r"\sigma_{\beta_{1j}} \sigma_{\alpha_{j}} & \sigma^2_{\beta_{1j}} \end{array}\right)"
        r" \right), \text{ for Subject } j = 1, \dots, J" "\n"
        "\\end{aligned}"
    )


def test_estimates(sleep_fit: mm.LmerFit) -> None:
    text = equation(sleep_fit, estimates=True)
    # lme4: fixef 251.405, 10.467; sd 24.74, 5.92, corr 0.07; residual sd 25.59
    for number in ("25.59^2", "251.41", "10.47", "24.74^2", "5.92^2",
                   r"0.07 \cdot 24.74 \cdot 5.92"):
        assert number in text, number
    assert r"\mu" not in text and r"\sigma" not in text
    assert equation(sleep_fit, estimates=True, digits=3).count("251.405") == 1


def test_independent_slopes() -> None:
    fit = mm.lmer("Reaction ~ Days + (Days || Subject)", mm.datasets.load("sleepstudy"))
    lines = equation(fit).splitlines()
    assert lines[2] == (r"\alpha_{j} &\sim N \left(\mu_{\alpha_{j}}, \sigma^2_{\alpha_{j}} "
                        r"\right), \text{ for Subject } j = 1, \dots, J \\")
    assert lines[3].startswith(r"\beta_{1j} &\sim N \left(\mu_{\beta_{1j}}, ")


def test_crossed(penicillin_fit: mm.LmerFit) -> None:
    lines = equation(penicillin_fit).splitlines()
    assert lines[1] == (r"\operatorname{diameter}_{i} &\sim N \left(\alpha_{j[i],k[i]}, "
                        r"\sigma^2 \right) \\")
    assert r"\text{ for plate } j = 1" in lines[2]
    # the second factor's intercepts have mean 0: one population mean
    assert lines[3].startswith(r"\alpha_{k} &\sim N \left(0, \sigma^2_{\alpha_{k}}")
    assert r"\text{ for sample } k = 1, \dots, K" in lines[3]


def test_nested(pastes_fit: mm.LmerFit) -> None:
    text = equation(pastes_fit, estimates=True)
    assert r"\text{ for cask:batch } j" in text and r"\text{ for batch } k" in text
    assert r"\alpha_{j[i],k[i]}" in text
    assert "60.05" in text  # lme4: fixef 60.0533


def test_factor_and_interaction_names() -> None:
    data = mm.datasets.load("exam")
    fit = mm.lmer("normexam ~ standLRT * sex + (1 | school)", data)
    text = equation(fit)
    assert (r"\beta_{3}(\operatorname{standLRT} \times \operatorname{sex}_{\operatorname{M}})"
            in text)
    assert latex_name("a_b") == r"\operatorname{a\_b}"
    negative = equation(fit, estimates=True)
    assert "- 0.17(" in negative and "+ -" not in negative


def test_underscores_escaped() -> None:
    data = mm.datasets.load("sleepstudy").rename(columns={"Reaction": "reaction_time"})
    fit = mm.lmer("reaction_time ~ Days + (1 | Subject)", pd.DataFrame(data))
    assert r"\operatorname{reaction\_time}_{i}" in equation(fit)
