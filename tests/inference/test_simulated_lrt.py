"""Simulated likelihood-ratio tests (DHARMa's simulateLRT, pbkrtest's PBmodcomp)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from reference.loader import inference_reference
from scipy import stats

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.linear_model import lm
from mixedmodels.inference.simulated_lrt import pb_test, simulated_lrt


def _lmer(formula, data, reml=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data, reml=reml)


def test_pb_test_statistic_matches_pbkrtest():
    ref = inference_reference()["pbmodcomp"]
    sleep = mm.datasets.load("sleepstudy")
    large = _lmer(ref["large"], sleep)
    small = _lmer(ref["small"], sleep)
    result = pb_test(small, large, nsim=8, seed=1)
    assert result.statistic == pytest.approx(ref["lrt"]["stat"], abs=1e-6)
    assert result.df == ref["lrt"]["df"]
    assert result.p_value_chisq == pytest.approx(ref["lrt"]["p.value"], rel=1e-6)
    assert list(result.table.index) == ["LRT", "PBtest"]
    # nothing in 8 simulations comes near an observed statistic of 42: p = 1 / (1 + npos)
    npos = int(np.sum(result.distribution > 0))
    assert result.p_value == pytest.approx(1 / (1 + npos))
    assert pb_test(large, small, nsim=8, seed=1).statistic == result.statistic


def test_simulated_lrt_reproducible_and_shaped():
    sleep = mm.datasets.load("sleepstudy")
    m0 = lm("Reaction ~ Days", sleep)
    m1 = _lmer("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    a = simulated_lrt(m0, m1, nsim=6, seed=2)
    b = simulated_lrt(m0, m1, nsim=6, seed=2, n_jobs=2)
    np.testing.assert_array_equal(a.distribution, b.distribution)
    assert a.statistic == pytest.approx(m1.loglik - m0.loglik)
    assert a.nsim == 6 and a.p_value == 0.0  # observed ratio 53 is far beyond the null
    assert np.all(a.distribution > -1e-6)  # m1 contains m0: refits never lose likelihood


def test_simulated_lrt_refuses_different_rows():
    sleep = mm.datasets.load("sleepstudy")
    with pytest.raises(MixedModelsError, match="rows"):
        simulated_lrt(lm("Reaction ~ Days", sleep.iloc[:90]),
                      _lmer("Reaction ~ Days + (1 | Subject)", sleep, reml=False), nsim=2)


@pytest.mark.slow
def test_simulated_lrt_rejects_and_is_calibrated():
    """Power: with a random intercept present the test rejects. Null: data simulated
    without a random effect give p-values whose lower tail is uniform (P(p <= a) ~ a);
    about half the null datasets give a ratio of 0 (variance on the boundary), which
    makes the upper tail conservative, as in DHARMa."""
    sleep = mm.datasets.load("sleepstudy")
    m0 = lm("Reaction ~ Days", sleep)
    m1 = _lmer("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    assert simulated_lrt(m0, m1, nsim=100, seed=1, n_jobs=2).p_value < 0.01

    rng = np.random.default_rng(2026)
    pvalues = []
    for _ in range(40):
        data = sleep.copy()
        data["Reaction"] = m0.simulate(1, seed=rng).iloc[:, 0].to_numpy()
        n0 = lm("Reaction ~ Days", data)
        n1 = _lmer("Reaction ~ Days + (1 | Subject)", data, reml=False)
        pvalues.append(simulated_lrt(n0, n1, nsim=40, seed=int(rng.integers(1 << 31)),
                                     n_jobs=2).p_value)
    pvalues = np.array(pvalues)
    for a in (0.1, 0.25, 0.5):
        k = int(np.sum(pvalues <= a))
        lo, hi = stats.binom.ppf([0.001, 0.999], len(pvalues), a)
        assert lo <= k <= hi, (a, k)
