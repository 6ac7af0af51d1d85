"""Without Dask, the in-memory path works and Dask input says what to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mixedmodels as mm
from mixedmodels.distributed import MissingDependencyError, is_distributed_input


def test_import_does_not_load_dask():
    code = "import sys, mixedmodels; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_parquet_path_without_dask_names_the_extra(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "dask" or m.startswith("dask.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(MissingDependencyError, match=r"mixedmodels\[dask\]"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", str(tmp_path / "*.parquet"))
    with pytest.raises(mm.MixedModelsError):
        mm.lmer("Reaction ~ Days + (1 | Subject)", tmp_path)
    # The in-memory path does not need Dask.
    fit = mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))
    assert fit.nobs == 180


def test_what_goes_to_dask():
    assert is_distributed_input("data/*.parquet")
    assert is_distributed_input(["a.parquet", "b.parquet"])
    assert not is_distributed_input(mm.datasets.load("sleepstudy"))
    assert not is_distributed_input({"a": [1, 2]})
