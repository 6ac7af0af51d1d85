"""Tests of the bundled datasets and of the lme4 reference loader."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from mixedmodels import datasets
from mixedmodels.errors import DataError

# name -> (nobs, {column: dtype kind}) where kind is "f" float64, "i" int64, "c" categorical
EXPECTED: dict[str, tuple[int, dict[str, str]]] = {
    "sleepstudy": (180, {"Reaction": "f", "Days": "f", "Subject": "c"}),
    "dyestuff": (30, {"Batch": "c", "Yield": "f"}),
    "dyestuff2": (30, {"Batch": "c", "Yield": "f"}),
    "penicillin": (144, {"diameter": "f", "plate": "c", "sample": "c"}),
    "pastes": (60, {"strength": "f", "batch": "c", "cask": "c", "sample": "c"}),
    "insteval": (
        73421,
        {"s": "c", "d": "c", "studage": "c", "lectage": "c", "service": "c", "dept": "c", "y": "i"},
    ),
    "exam": (
        4059,
        {
            "school": "c",
            "normexam": "f",
            "schgend": "c",
            "schavg": "f",
            "vr": "c",
            "intake": "c",
            "standLRT": "f",
            "sex": "c",
            "type": "c",
            "student": "c",
        },
    ),
    "machines": (54, {"Worker": "c", "Machine": "c", "score": "f"}),
}

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def _check_dtype(series: pd.Series, kind: str) -> None:
    if kind == "f":
        assert series.dtype == np.float64
    elif kind == "i":
        assert series.dtype == np.int64
    else:
        assert isinstance(series.dtype, pd.CategoricalDtype)
        assert not series.isna().any()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_shape_and_dtypes(name: str) -> None:
    nobs, columns = EXPECTED[name]
    frame = datasets.load(name)
    assert frame.shape == (nobs, len(columns))
    assert list(frame.columns) == list(columns)
    for col, kind in columns.items():
        _check_dtype(frame[col], kind)


def test_list_matches_expected() -> None:
    table = datasets.list()
    assert sorted(table.index) == sorted(EXPECTED)
    assert list(table.columns) == ["nobs", "ncol", "description", "source"]
    for name, (nobs, columns) in EXPECTED.items():
        assert table.loc[name, "nobs"] == nobs
        assert table.loc[name, "ncol"] == len(columns)
        assert table.loc[name, "source"]
    assert table.loc["sleepstudy", "source"].startswith("lme4::sleepstudy; Belenky")


def test_machines_worker_order() -> None:
    worker = datasets.load("machines")["Worker"]
    assert list(worker.cat.categories) == ["6", "2", "4", "1", "3", "5"]
    assert worker.cat.ordered
    assert not datasets.load("machines")["Machine"].cat.ordered


def test_level_orders() -> None:
    sleep = datasets.load("sleepstudy")
    assert list(sleep["Subject"].cat.categories[:4]) == ["308", "309", "310", "330"]
    exam = datasets.load("exam")
    assert list(exam["schgend"].cat.categories) == ["mixed", "boys", "girls"]
    assert list(exam["school"].cat.categories[:3]) == ["1", "2", "3"]
    assert len(exam["school"].cat.categories) == 65
    inst = datasets.load("insteval")
    assert list(inst["dept"].cat.categories[:3]) == ["15", "5", "10"]
    assert list(inst["studage"].cat.categories) == ["2", "4", "6", "8"]
    assert inst["studage"].cat.ordered and inst["lectage"].cat.ordered
    assert len(inst["s"].cat.categories) == 2972
    assert len(inst["d"].cat.categories) == 1128
    assert len(datasets.load("pastes")["sample"].cat.categories) == 30


def test_known_values() -> None:
    sleep = datasets.load("sleepstudy")
    assert sleep["Reaction"].iloc[0] == 249.56
    assert sleep["Reaction"].mean() == pytest.approx(298.50789166666664, rel=1e-12)
    assert datasets.load("dyestuff")["Yield"].sum() == pytest.approx(45825.0)


def test_load_is_case_insensitive_and_fresh() -> None:
    first = datasets.load("Dyestuff")
    first.loc[0, "Yield"] = -1.0
    assert datasets.load("dyestuff").loc[0, "Yield"] != -1.0


def test_unknown_name() -> None:
    with pytest.raises(DataError) as info:
        datasets.load("no_such_data")
    message = str(info.value)
    assert "no_such_data" in message
    for name in EXPECTED:
        assert name in message


def test_describe() -> None:
    text = datasets.describe("machines")
    assert "54 rows" in text and "nlme::Machines" in text
    assert "6 < 2 < 4 < 1 < 3 < 5" in text
    with pytest.raises(DataError):
        datasets.describe("nope")


def _loader() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_mm_reference_loader", REFERENCE_DIR / "loader.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_json() -> None:
    with (REFERENCE_DIR / "lme4_fits.json").open(encoding="utf-8") as handle:
        doc = json.load(handle)
    assert {"R_version", "lme4_version", "generated", "fits"} <= set(doc)
    fits = doc["fits"]
    assert len(fits) == 22
    assert len({f["id"] for f in fits}) == 22
    slope = next(f for f in fits if f["id"] == "sleepstudy_slope_reml")
    assert slope["objective"] == pytest.approx(1743.628, abs=1e-3)
    assert slope["fixef"]["(Intercept)"] == pytest.approx(251.405, abs=1e-3)
    assert slope["fixef"]["Days"] == pytest.approx(10.467, abs=1e-3)
    rankdef = next(f for f in fits if f["id"] == "exam_rankdef")
    assert rankdef["dropped_columns"] == ["typeSngl"]
    assert next(f for f in fits if f["id"] == "dyestuff2_singular")["singular"]


def test_reference_frames() -> None:
    loader = _loader()
    for fit in loader.load_reference():
        frame = loader.reference_frame(fit)
        assert len(frame) == fit["nobs"]
        for col, levels in fit["factors"].items():
            assert list(frame[col].cat.categories) == levels
            assert not frame[col].isna().any()
        if fit["weights"]:
            assert fit["weights"] in frame
        if fit["offset"]:
            assert fit["offset"] in frame
    nested = loader.reference_frame(loader.reference_fit("nested3"))
    assert nested.shape == (240, 5)
    assert nested["y"].dtype == np.float64
    machines = loader.reference_frame(loader.reference_fit("machines_nested"))
    assert machines["Worker"].cat.ordered
