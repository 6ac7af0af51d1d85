"""Bad-input fuzzing: random data frames and formulas into ``mm.lmer``.

Every call must either fit (with finite estimates, or NaN only where the fit says
so: a warning or a failed convergence check) or raise a MixedModelsError with a
message; never another exception and never a hang (each call runs under an alarm).

Profiles: ``fuzz-ci`` (100 examples, derandomised, the default run) and
``fuzz-slow`` (2,000 examples, ``-m slow``).
"""

from __future__ import annotations

import math
import signal
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError

settings.register_profile(
    "fuzz-ci", max_examples=100, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-slow", max_examples=2000, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CI = settings.get_profile("fuzz-ci")
SLOW = settings.get_profile("fuzz-slow")
SECONDS_PER_CALL = 30

UNICODE = "größe x"  # a unicode name with a space, referenced with backquotes


def _numeric(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    values = rng.normal(size=n)
    if kind == "huge":
        values = values * 1e150
    elif kind == "tiny":
        values = values * 1e-150
    elif kind == "constant":
        values = np.full(n, 3.0)
    elif kind == "nan":
        values[rng.random(n) < 0.3] = np.nan
    elif kind == "inf":
        values[rng.integers(0, n)] = np.inf
    elif kind == "allnan":
        values = np.full(n, np.nan)
    elif kind == "integer":
        values = rng.integers(-3, 4, n).astype(float)
    return values


NUMERIC_KINDS = ["plain", "plain", "huge", "tiny", "constant", "nan", "inf", "allnan",
                 "integer"]


@st.composite
def frames(draw) -> pd.DataFrame:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.sampled_from([1, 2, 3, 5, 8, 20, 40]))
    ngroups = draw(st.integers(1, 6))
    frame = pd.DataFrame({
        "y": _numeric(rng, n, draw(st.sampled_from(NUMERIC_KINDS))),
        "x": _numeric(rng, n, draw(st.sampled_from(NUMERIC_KINDS))),
        UNICODE: _numeric(rng, n, draw(st.sampled_from(NUMERIC_KINDS))),
        "g": rng.choice([f"G{i}" for i in range(ngroups)], n),
        "h": rng.integers(0, max(1, ngroups // 2) + 1, n),
        "f": pd.Categorical(rng.choice(["a", "b"], n), categories=["a", "b", "unused"]),
        "s": [str(v) for v in np.round(rng.normal(size=n), 3)],  # numbers as strings
        "flag": rng.integers(0, 2, n).astype(bool),
    })
    frame["x2"] = frame["x"]  # a duplicated column
    if draw(st.booleans()):
        frame.loc[frame.index[rng.integers(0, n)], "g"] = None
    return frame


RESPONSES = ["y", "log(y)", "s", "f", "x", "`" + UNICODE + "`", "flag", "I(y^2)"]
FIXED = ["x", "x2", "`" + UNICODE + "`", "f", "s", "flag", "log(x)", "scale(x)", "I(x^2)",
         "poly(x, 2)", "sqrt(abs(x))", "factor(h)", "x:f", "x*flag", "exp(x)", "0", "1",
         "C(f)", "center(y)", "Q('" + UNICODE + "')"]
RANDOM = ["(1 | g)", "(x | g)", "(1 | h)", "(0 + x || g)", "(1 | g/h)", "(1 | g:h)",
          "(f | g)", "(1 | f)", "(1 | flag)", "(1 | s)", "(`" + UNICODE + "` | g)", "(1 | x)"]


@st.composite
def formulas(draw) -> str:
    response = draw(st.sampled_from(RESPONSES))
    fixed = draw(st.lists(st.sampled_from(FIXED), max_size=3))
    random = draw(st.lists(st.sampled_from(RANDOM), min_size=0, max_size=2))
    rhs = " + ".join(fixed + random) or "1"
    return f"{response} ~ {rhs}"


@contextmanager
def _alarm(seconds: int):
    def fail(signum, frame):
        raise TimeoutError(f"lmer did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_call(frame: pd.DataFrame, formula: str, reml: bool) -> None:
    with _alarm(SECONDS_PER_CALL), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = mm.lmer(formula, frame, reml=reml)
        except MixedModelsError as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message for {formula!r}"
            return
    numbers = np.concatenate([fit.beta, fit.theta, [fit.sigma, fit.objective],
                              np.ravel(fit.vcov_unscaled)])
    flagged = bool(fit.warnings) or not fit.converged
    if not np.all(np.isfinite(numbers)):
        assert flagged, f"non-finite estimates without a warning for {formula!r}"
    assert math.isfinite(fit.objective) or flagged


@CI
@given(frame=frames(), formula=formulas(), reml=st.booleans())
def test_lmer_fits_or_raises_library_error(frame, formula, reml) -> None:
    check_call(frame, formula, reml)


@pytest.mark.slow
@SLOW
@given(frame=frames(), formula=formulas(), reml=st.booleans())
def test_lmer_fits_or_raises_library_error_slow(frame, formula, reml) -> None:
    check_call(frame, formula, reml)


# ---------------------------------------------------------------- regressions found
def test_constant_response_is_a_data_error() -> None:
    """Found by the fuzzer: a constant response made every objective value infinite
    and the optimiser's check failed with a TypeError; now refused by the design."""
    frame = pd.DataFrame({"y": [3.0] * 5, "x": [0.1, 0.5, -1.0, 2.0, 0.3],
                          "g": ["a", "b", "c", "b", "c"]})
    with pytest.raises(mm.DataError, match="fitted exactly by the fixed effects"):
        mm.lmer("y ~ 1 + (x | g)", frame)
    with pytest.raises(mm.DataError, match="fitted exactly"):
        mm.lmer("y ~ x + (1 | g)", frame.assign(y=2.0 * frame["x"] - 1.0))
    # No intercept and a non-zero constant is a legitimate (if odd) model: it is not refused
    # by this check.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mm.lmer("y ~ 0 + x + (1 | g)", frame)
        except MixedModelsError as exc:
            assert "fitted exactly" not in str(exc)


def test_huge_random_slope_values_do_not_crash_the_check() -> None:
    frame = pd.DataFrame({
        "y": [0.125730, -0.132105, 0.640423],
        "x": [1.049001e149, -5.356694e149, 3.615951e149],
        "g": ["G1", "G1", "G0"],
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = mm.lmer("y ~ (x | g)", frame, reml=False)
        except MixedModelsError:
            return
    assert np.all(np.isfinite(fit.beta)) or fit.warnings


def test_all_infinite_objective_is_a_library_error() -> None:
    # x^2 overflows (1e320): every cross-product, hence every objective value, is
    # infinite; lmer must say so rather than fail inside the optimiser (found by the
    # slow fuzz run as "TypeError: len() of unsized object").
    frame = pd.DataFrame({
        "y": [0.125730, -0.132105, 0.640423, 0.3],
        "x": [1.049001e160, -5.356694e160, 3.615951e160, 2.0e160],
        "g": ["G1", "G1", "G0", "G0"],
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MixedModelsError, match="infinite or undefined"):
            mm.lmer("y ~ (x | g)", frame, reml=False)
