"""Fits of tests/reference/lmertest_fits.json, built once per session.

``lmertest_case(id)`` gives the R record, the fit at lme4's theta (so that our numbers
can be compared with lmerTest's / pbkrtest's / performance's at the same variance
parameters: differences then measure only the inference code) and our own fit.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pytest
from reference.loader import REFERENCE_DIR, reference_frame

from mixedmodels import LinearMixedModel, LmerFit

JSON_PATH = REFERENCE_DIR / "lmertest_fits.json"


@dataclass(frozen=True)
class Case:
    record: dict[str, Any]
    at_r: LmerFit
    own: LmerFit


@lru_cache(maxsize=1)
def _records() -> dict[str, dict[str, Any]]:
    with JSON_PATH.open(encoding="utf-8") as handle:
        return {f["id"]: f for f in json.load(handle)["fits"]}


@cache
def _case(fit_id: str) -> Case:
    record = _records()[fit_id]
    data = reference_frame(record)
    name = record["dataset"] or fit_id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = LinearMixedModel.from_formula(record["formula"], data, reml=record["reml"],
                                            data_name=name).fit()
        model = LinearMixedModel.from_formula(record["formula"], data, reml=record["reml"],
                                              data_name=name)
        at_r = LmerFit.from_model(model, np.atleast_1d(record["theta"]), own.optsummary,
                                  list(own.warnings))
    return Case(record, at_r, own)


def fit_ids(require: str | None = None) -> list[str]:
    """Identifiers of the recorded fits (those with the field ``require``)."""
    return [k for k, v in _records().items() if require is None or require in v]


@pytest.fixture
def lmertest_case():
    return _case


def max_rel(a: Any, b: Any) -> float:
    """Largest relative difference of a from b (b's scale; exact zeros compared absolutely)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.where(b == 0.0, 1.0, np.abs(b))
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0
