"""Fits shared by the plot tests: a slope model, a crossed model and a nested model."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

import mixedmodels as mm  # noqa: E402

matplotlib.use("Agg")

SLEEP = "Reaction ~ Days + (Days | Subject)"
PENICILLIN = "diameter ~ 1 + (1 | plate) + (1 | sample)"
PASTES = "strength ~ 1 + (1 | batch/cask)"


@pytest.fixture(scope="session")
def sleep_fit() -> mm.LmerFit:
    return mm.lmer(SLEEP, mm.datasets.load("sleepstudy"))


@pytest.fixture(scope="session")
def penicillin_fit() -> mm.LmerFit:
    data = mm.datasets.load("penicillin")
    # a numeric column (not in the model) for the plots that need an x
    data["dose"] = data["sample"].cat.codes.astype(float) + 1.0
    return mm.lmer(PENICILLIN, data)


@pytest.fixture(scope="session")
def pastes_fit() -> mm.LmerFit:
    data = mm.datasets.load("pastes")
    data["position"] = np.tile([1.0, 2.0], len(data) // 2)
    return mm.lmer(PASTES, data)


@pytest.fixture(scope="session", params=["sleep", "penicillin", "pastes"])
def any_fit(request: pytest.FixtureRequest) -> mm.LmerFit:
    return request.getfixturevalue(f"{request.param}_fit")


def n_coefficients(fit: mm.LmerFit) -> int:
    return sum(df.shape[1] for df in fit.ranef().values())
