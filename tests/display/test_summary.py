"""Summary objects: construction, tables, optional sections, HTML."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mixedmodels.display import Summary

VARCORR = [
    {"grp": "Subject", "var1": "(Intercept)", "var2": None, "vcov": 612.1002, "sdcor": 24.74066},
    {"grp": "Subject", "var1": "Days", "var2": None, "vcov": 35.07171, "sdcor": 5.922138},
    {"grp": "Subject", "var1": "(Intercept)", "var2": "Days", "vcov": 9.604409,
     "sdcor": 0.06555124},
    {"grp": "Residual", "var1": None, "var2": None, "vcov": 654.9400, "sdcor": 25.5918},
]


def make(**changes: object) -> Summary:
    values: dict = dict(
        formula="Reaction ~ Days + (Days | Subject)", reml=True,
        fixef={"(Intercept)": 251.405105, "Days": 10.467286},
        se={"(Intercept)": 6.824597, "Days": 1.545790},
        vcov=[[46.57512, -1.4576], [-1.4576, 2.389468]],
        varcorr=VARCORR, nobs=180, ngroups={"Subject": 18}, objective=1743.628272,
        aic=1755.628, bic=1774.786, loglik=-871.8141, deviance=1743.628, df_resid=174,
        resid_quantiles=[-3.9536, -0.4634, 0.0231, 0.4634, 5.1793], data_name="sleepstudy",
    )
    values.update(changes)
    return Summary.from_values(**values)


def test_tables_are_numbers() -> None:
    s = make()
    fixed = s.fixed_table
    assert list(fixed.columns) == ["Estimate", "Std. Error", "t value"]
    assert fixed.loc["Days", "t value"] == pytest.approx(10.467286 / 1.545790)
    rand = s.random_table
    assert list(rand.columns) == ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
    assert list(rand["Groups"]) == ["Subject", "", "Residual"]
    assert rand.loc[1, "Corr"] == pytest.approx(0.06555124)
    assert math.isnan(rand.loc[0, "Corr"])


def test_summary_is_frozen() -> None:
    with pytest.raises(AttributeError):
        make().nobs = 3  # type: ignore[misc]


def test_dropped_rows_line() -> None:
    lines = str(make(n_dropped_na=3)).splitlines()
    i = lines.index("Number of obs: 180, groups:  Subject, 18")
    assert lines[i + 1] == "3 observations dropped for missing values"
    assert "dropped" not in str(make())


def test_without_residuals_and_vcov() -> None:
    text = str(make(resid_quantiles=None, vcov=None))
    assert "Scaled residuals" not in text
    assert "Correlation of Fixed Effects" not in text


def test_df_and_p_columns_in_lmertest_layout() -> None:
    s = make()
    t = s.fixed_table["t value"]
    p = 2 * stats.t.sf(np.abs(t), 17)
    text = str(make(df={"(Intercept)": 17.0, "Days": 17.0},
                    p_values=dict(zip(t.index, p, strict=True)), ddf="satterthwaite"))
    # lmerTest: summary(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
    expected = [
        "Fixed effects:",
        "            Estimate Std. Error      df t value Pr(>|t|)    ",
        "(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***",
        "Days          10.467      1.546  17.000   6.771 3.26e-06 ***",
        "---",
    ]
    lines = text.splitlines()
    i = lines.index("Fixed effects:")
    assert lines[i:i + 5] == expected
    assert lines[i + 5].startswith("Signif. codes:  0 ")


def test_df_needs_p() -> None:
    with pytest.raises(ValueError, match="both"):
        make(df={"(Intercept)": 17.0, "Days": 17.0})


def test_many_fixed_effects_wrap_and_hide_correlation() -> None:
    names = [f"x{i}" for i in range(13)]
    s = make(fixef=dict.fromkeys(names, 1.0), se=dict.fromkeys(names, 0.5),
             vcov=np.eye(13) * 0.25)
    text = str(s)
    assert "Correlation matrix not shown by default, as p = 13 > 12." in text
    assert "Correlation of Fixed Effects" not in text


def test_wide_correlation_matrix_wraps_at_80_columns() -> None:
    names = [f"predictor{i:02d}" for i in range(12)]
    rng = np.random.default_rng(1)
    a = rng.standard_normal((40, 12))
    s = make(fixef=dict.fromkeys(names, 1.0), se=dict.fromkeys(names, 0.5),
             vcov=pd.DataFrame(a.T @ a, index=names, columns=names))
    lines = str(s).splitlines()
    start = lines.index("Correlation of Fixed Effects:")
    block = lines[start + 1:]
    assert all(len(line) < 80 for line in block)
    headers = [line for line in block if line.startswith(" " * 11)]
    assert len(headers) == 2  # columns split into two blocks, as R does


def test_messages_sections() -> None:
    text = str(make(fit_messages=["fixed-effect model matrix is rank deficient so dropping"
                                  " 1 column / coefficient"],
                    conv_messages=["boundary (singular) fit: see help('isSingular')"]))
    assert text.endswith(
        "fit warnings:\nfixed-effect model matrix is rank deficient so dropping 1 column /"
        " coefficient\noptimizer (nloptwrap) convergence code: 0 (OK)\n"
        "boundary (singular) fit: see help('isSingular')\n")


def test_html_is_self_contained() -> None:
    html = make(weights="w")._repr_html_()
    assert html.count("<table>") >= 4
    assert "24.741" in html and "251.405" in html and "Weights:" in html
    for external in ("<script", "<link", "src=", "http"):
        assert external not in html


def test_html_escapes() -> None:
    html = make(formula="y ~ x < 3 + (1 | g)")._repr_html_()
    assert "x &lt; 3" in html
