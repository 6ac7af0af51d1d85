"""ANOVA tables of one model against lmerTest's anova(type = 1, 2, 3).

At lme4's theta: F values agree to ~1e-12 (they need no derivatives), DenDF (Satterthwaite)
to ~1e-5, Kenward-Roger DenDF to ~1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
from inference.conftest import fit_ids, max_rel

from mixedmodels import MixedModelsError
from mixedmodels.inference.anova import ANOVA_COLUMNS, hypothesis_matrices

KEYS = [("type1", 1, "satterthwaite"), ("type2", 2, "satterthwaite"),
        ("type3", 3, "satterthwaite"), ("type3_kr", 3, "kenward-roger")]


@pytest.mark.parametrize("fit_id", fit_ids("anova"))
@pytest.mark.parametrize(("key", "kind", "ddf"), KEYS)
def test_anova_matches_lmertest(lmertest_case, fit_id, key, kind, ddf):
    case = lmertest_case(fit_id)
    if key not in case.record["anova"]:
        pytest.skip("no Kenward-Roger table for ML fits")
    ref = case.record["anova"][key]
    table = case.at_r.anova(type=kind, ddf=ddf)
    assert list(table.columns) == ANOVA_COLUMNS
    assert list(table.index) == ref["terms"]
    assert list(table["NumDF"]) == ref["numdf"]
    assert max_rel(table["F value"], ref["f"]) < 1e-9
    assert max_rel(table["Sum Sq"], ref["sum_sq"]) < 1e-9
    assert max_rel(table["Mean Sq"], ref["mean_sq"]) < 1e-9
    assert max_rel(table["DenDF"], ref["dendf"]) < 1e-4
    p, ref_p = np.asarray(table["Pr(>F)"]), np.asarray(ref["p"])
    assert np.all(np.abs(p - ref_p) <= 1e-3 * ref_p + 1e-10)


def test_types_differ_on_unbalanced_interaction(lmertest_case):
    fit = lmertest_case("oats_unbalanced").at_r
    f = {k: fit.anova(type=k)["F value"] for k in (1, 2, 3)}
    assert f[1]["nitro"] != pytest.approx(f[2]["nitro"], rel=1e-6)
    assert f[2]["nitro"] != pytest.approx(f[3]["nitro"], rel=1e-6)
    # the highest-order term is tested alike by all three types
    assert f[1]["nitro:Variety"] == pytest.approx(f[3]["nitro:Variety"], rel=1e-10)


def test_own_fit_within_acceptance(lmertest_case):
    case = lmertest_case("chickweight")
    for key, kind, ddf in KEYS:
        table = case.own.anova(type=kind, ddf=ddf)
        assert max_rel(table["F value"], case.record["anova"][key]["f"]) < 1e-4


def test_type3_hypotheses_do_not_depend_on_reference_level(lmertest_case):
    # Type III F of a main effect in a model with its interaction: the same whatever
    # level is the reference (coding-free hypotheses).
    case = lmertest_case("oats_unbalanced")
    data = case.at_r.model.data.copy()
    data["Variety"] = data["Variety"].cat.reorder_categories(
        list(data["Variety"].cat.categories)[::-1])
    refit = case.at_r.update(data=data)
    a, b = case.own.anova(type=3), refit.anova(type=3)
    assert np.allclose(a["F value"], b["F value"], rtol=1e-4)


def test_heading_and_hypotheses(lmertest_case):
    fit = lmertest_case("machines").at_r
    table = fit.anova(type="II")
    heading = "Type II Analysis of Variance Table with Satterthwaite's method"
    assert table.attrs["heading"] == heading
    L = hypothesis_matrices(fit, 3)["Machine"]
    assert L.shape == (2, 3)


def test_bad_arguments(lmertest_case):
    fit = lmertest_case("machines").at_r
    with pytest.raises(MixedModelsError, match="type must be"):
        fit.anova(type=4)
    with pytest.raises(MixedModelsError, match="anova needs"):
        fit.anova(ddf=None)


def test_intercept_only_model_has_empty_table(lmertest_case):
    table = lmertest_case("dyestuff").at_r.anova()
    assert table.shape == (0, 6)
