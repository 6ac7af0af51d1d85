"""The text summary, built from lme4's own numbers, must equal lme4's printed summary.

Each reference fit's numbers (``tests/reference/lme4_fits.json``) are put into a
:class:`Summary` without fitting anything, and ``str(summary)`` is compared line by line
with lme4's ``summary_text`` (R: ``capture.output(print(summary(m)))``).

Lines that cannot be produced from those numbers are listed in ``UNREPRODUCIBLE``:

- lme4 prints the formula of a ``||`` term expanded (``(Days || Subject)`` becomes
  ``((1 | Subject) + (0 + Days | Subject))``), while the JSON has the formula as typed;
- for the weighted fit, lme4's summary shows quantiles of the *Pearson* scaled residuals
  while the JSON records those of ``resid(m, scaled = TRUE)`` (response residuals),
  which differ when there are weights.
"""

from __future__ import annotations

import pytest
from reference.loader import load_reference

from mixedmodels.display import Summary

FITS = load_reference()

# (fit id, line index): lines whose text is not determined by the recorded numbers.
UNREPRODUCIBLE = {
    ("sleepstudy_uncorr", 1),  # Formula: with (Days || Subject) expanded by lme4
    ("exam_uncorr_ml", 1),  # Formula: with (standLRT || school) expanded by lme4
    ("sleepstudy_weights", 9),  # Pearson residual quantiles; JSON has response ones
}


def summary_from_reference(ref: dict) -> Summary:
    """A Summary holding the numbers lme4 recorded for one fit."""
    vcov = ref["vcov"]
    names = vcov["names"]
    messages = [m.split(": ", 1)[1] for m in ref["messages"]]
    conv = set(ref["conv_messages"])
    return Summary.from_values(
        formula=ref["formula"],
        reml=ref["reml"],
        fixef=ref["fixef"],
        se=ref["se"],
        vcov=vcov["values"] if len(names) > 1 else [[vcov["values"][0]]],
        varcorr=ref["varcorr"],
        nobs=ref["nobs"],
        ngroups=ref["ngroups"],
        objective=ref["objective"],
        aic=ref["aic"],
        bic=ref["bic"],
        loglik=ref["loglik"],
        deviance=ref["deviance"],
        df_resid=ref["df_resid"],
        resid_quantiles=ref["scaled_resid_quantiles"],
        data_name=_data_name(ref),
        weights=ref["weights"],
        offset=ref["offset"],
        fit_messages=[m for m in messages if m not in conv],
        conv_messages=ref["conv_messages"],
    )


def _data_name(ref: dict) -> str:
    # lme4 shows the R variable's name; for fits on a data file the script names the
    # data frame after the file (sleepstudy_weights.csv -> sleepstudy_weights).
    if ref["dataset"] is not None:
        return ref["dataset"]
    return ref["call"].split("data = ", 1)[1].split(",")[0].split(")")[0]


@pytest.mark.parametrize("ref", FITS, ids=[f["id"] for f in FITS])
def test_text_matches_lme4(ref: dict) -> None:
    summary = summary_from_reference(ref)
    got = str(summary).splitlines()
    want = ref["summary_text"].splitlines()
    assert len(got) == len(want), "\n".join(got)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if (ref["id"], i) in UNREPRODUCIBLE:
            continue
        assert g == w, f"line {i}:\n got: {g!r}\nwant: {w!r}"


def test_unreproducible_lines_are_the_ones_described() -> None:
    for fit_id, line in UNREPRODUCIBLE:
        ref = next(f for f in FITS if f["id"] == fit_id)
        text = ref["summary_text"].splitlines()
        if "||" in ref["formula"]:
            assert text[line].startswith("Formula:")
        else:
            assert ref["weights"] is not None
            assert text[line - 2] == "Scaled residuals: "
