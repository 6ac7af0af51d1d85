"""R2 and ICC against performance 0.10.2 (r2_nakagawa, icc)."""

from __future__ import annotations

import numpy as np
import pytest
from inference.conftest import fit_ids

from mixedmodels import lmer
from mixedmodels.datasets import load


@pytest.mark.parametrize("fit_id", fit_ids("r2"))
def test_r2_and_icc_match_performance(lmertest_case, fit_id):
    case = lmertest_case(fit_id)
    r2, icc = case.at_r.r2(), case.at_r.icc()
    ref_r2, ref_icc = case.record["r2"], case.record["icc"]
    assert r2["marginal"] == pytest.approx(ref_r2["marginal"], rel=1e-9, abs=1e-12)
    assert r2["conditional"] == pytest.approx(ref_r2["conditional"], rel=1e-9)
    assert icc["adjusted"] == pytest.approx(ref_icc["adjusted"], rel=1e-9)
    assert icc["unadjusted"] == pytest.approx(ref_icc["unadjusted"], rel=1e-9)
    # our own optimum: within the acceptance tolerance
    own = case.own.r2()
    assert own["conditional"] == pytest.approx(ref_r2["conditional"], abs=1e-4)


def test_singular_fit_has_no_conditional_r2():
    with pytest.warns(UserWarning, match="singular"):
        fit = lmer("Yield ~ 1 + (1 | Batch)", load("dyestuff2"))
    assert fit.r2()["marginal"] == pytest.approx(0.0, abs=1e-20)
    assert np.isnan(fit.r2()["conditional"])
    assert np.isnan(fit.icc()["adjusted"])
