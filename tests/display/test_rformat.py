"""R's formatting rules, checked against what R prints."""

from __future__ import annotations

import pytest

from mixedmodels.display.rformat import abbreviate, format_pval, format_real, zapsmall


@pytest.mark.parametrize(
    ("values", "digits", "expected"),
    [
        # format(c(612.1002, 35.0717, 654.94), digits = 4)
        ([612.1002, 35.0717, 654.94], 4, ["612.10", " 35.07", "654.94"]),
        ([1764.1, 2451.3], 4, ["1764", "2451"]),
        ([0.0, 13.806], 4, [" 0.00", "13.81"]),
        ([0.0108452, 0.00032664, 0.0066161], 4, ["0.0108452", "0.0003266", "0.0066161"]),
        ([1743.6], 7, ["1743.6"]),
        ([247.0], 7, ["247"]),
        ([1e-10, 1.0], 4, ["1e-10", "1e+00"]),
        ([123456.0], 3, ["123456"]),
        ([None, 1.5], 4, [" NA", "1.5"]),  # format(c(NA, 1.5))
        ([float("nan"), -2.25], 4, ["  NaN", "-2.25"]),
        ([-0.0], 4, ["0"]),
    ],
)
def test_format_real(values: list, digits: int, expected: list[str]) -> None:
    assert format_real(values, digits) == expected


def test_format_real_nsmall() -> None:
    # format(round(c(1, 0.0655), 2), nsmall = 2)
    assert format_real([1.0, 0.07], 7, nsmall=2) == ["1.00", "0.07"]


def test_zapsmall_uses_unrounded_log10() -> None:
    # R 4.2: zapsmall(x, 5) rounds to round(5 - log10(max|x|)) decimals
    assert zapsmall([-2.07923367, 0.06292216, 2.97958581], 5) == [-2.07923, 0.06292, 2.97959]
    assert zapsmall([-3.95, 0.0231177, 5.179], 5) == [-3.95, 0.0231, 5.179]


def test_abbreviate_like_r() -> None:
    names = ["(Intercept)", "standLRT", "sexM", "schgendboys", "schgendgirls",
             "standLRT:sexM"]
    assert abbreviate(names, 6)[:5] == ["(Intr)", "stnLRT", "sexM", "schgndb", "schgndg"]
    assert abbreviate(names, 11) == ["(Intercept)", "standLRT", "sexM", "schgendboys",
                                     "schgendgrls", "stndLRT:sxM"]
    assert abbreviate(["scale(Days)", "MachineB"], 6) == ["scl(D)", "MachnB"]


def test_format_pval() -> None:
    # format.pval(c(1e-20, 3.26e-06), digits = 3)
    assert format_pval([1e-20, 3.2621e-06], 3) == ["< 2e-16", "3.26e-06"]
    assert format_pval([0.5, None], 3) == ["0.5", "NA"]
