"""Summaries of real fits have lme4's layout (numbers are checked in tests/reference)."""

from __future__ import annotations

import re
import warnings

import pytest
from reference.loader import reference_fit, reference_frame

import mixedmodels as mm
from mixedmodels.display import Summary

IDS = ["dyestuff2_singular", "exam_rankdef", "sleepstudy_slope_ml", "pastes_nested",
       "sleepstudy_offset"]


def _fit(ref: dict) -> mm.LmerFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(ref["formula"], reference_frame(ref), reml=ref["reml"],
                       weights=ref["weights"], offset=ref["offset"],
                       data_name=ref["dataset"] or ref["id"])


@pytest.mark.parametrize("fit_id", IDS)
def test_layout_matches_lme4(fit_id: str) -> None:
    ref = reference_fit(fit_id)
    fit = _fit(ref)
    summary = fit.summary(ddf=None)  # lme4's layout; the default is lmerTest's
    assert isinstance(summary, Summary)
    assert str(fit) == str(fit.summary(ddf="satterthwaite"))
    got = str(summary).splitlines()
    want = ref["summary_text"].splitlines()
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        # Lines without numbers (headers, labels) must be identical; numbered lines
        # must have the same shape (numbers may differ in the last printed digit).
        if w.startswith(("   Data:", "fixed-effect model matrix")):
            continue
        assert re.sub(r"[0-9]", "9", g) == re.sub(r"[0-9]", "9", w) or (
            len(g) == len(w) and re.sub(r"[0-9.\-]", "", g) == re.sub(r"[0-9.\-]", "", w)
        ), f"\n got: {g!r}\nwant: {w!r}"


def test_messages_are_sorted_like_lme4() -> None:
    rankdef = _fit(reference_fit("exam_rankdef")).summary()
    assert rankdef.fit_messages[0].startswith("fixed-effect model matrix is rank deficient")
    assert rankdef.conv_messages == ()
    singular = _fit(reference_fit("dyestuff2_singular")).summary()
    assert singular.conv_messages == ("boundary (singular) fit: see help('isSingular')",)
    assert singular.fit_messages == ()
