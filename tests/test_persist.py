"""Saving and loading fits: round trips for every lme4 reference fit, damaged files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference.loader import load_reference, reference_frame

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.persist import FORMAT_VERSION, PersistError, load, save

FITS = load_reference()
pytestmark = pytest.mark.filterwarnings("ignore:boundary \\(singular\\) fit")


def _fit(ref: dict) -> mm.LmerFit:
    frame = reference_frame(ref)
    with pytest.warns() if ref["dropped_columns"] else _nothing():
        return mm.lmer(ref["formula"], frame, reml=ref["reml"], weights=ref["weights"],
                       offset=ref["offset"], data_name=ref["dataset"] or "data")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _new_data(fit: mm.LmerFit, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows like the fitting data, numeric predictors moved, in a new order."""
    rows = frame.iloc[np.linspace(0, len(frame) - 1, 12).astype(int)[::-1]].copy()
    response = fit.model.design.formula.variables()[0]
    for name in fit.model.design.formula.variables():
        col = rows[name]
        if name != response and pd.api.types.is_float_dtype(col.dtype):
            rows[name] = col + 0.25
    rows.index = [f"new{i}" for i in range(len(rows))]
    return rows


@pytest.mark.parametrize(
    "ref",
    [pytest.param(f, marks=pytest.mark.slow) if f["id"] == "insteval_crossed_ml" else f
     for f in FITS],
    ids=[f["id"] for f in FITS],
)
def test_round_trip(ref: dict, tmp_path: Path) -> None:
    fit = _fit(ref)
    path = save(fit, tmp_path / "fit.mmfit")
    loaded = load(path)
    assert isinstance(loaded, mm.LmerFit)
    # estimates: exactly what was saved
    np.testing.assert_array_equal(loaded.theta, fit.theta)
    np.testing.assert_array_equal(loaded.beta, fit.beta)
    assert loaded.sigma == fit.sigma
    assert loaded.objective == fit.objective
    assert (loaded.loglik, loaded.aic, loaded.bic, loaded.deviance) == (
        fit.loglik, fit.aic, fit.bic, fit.deviance)
    pd.testing.assert_frame_equal(loaded.vcov, fit.vcov)
    assert loaded.warnings == fit.warnings
    assert loaded.converged == fit.converged and loaded.is_singular == fit.is_singular
    assert loaded.nobs == fit.nobs and loaded.ngroups == fit.ngroups
    assert loaded.reml == fit.reml and loaded.formula == fit.formula
    # summary, random effects, fitted values
    assert str(loaded.summary()) == str(fit.summary())
    pd.testing.assert_frame_equal(loaded.varcorr.to_frame(), fit.varcorr.to_frame())
    for name, re in fit.ranef(cond_var=True).items():
        got = loaded.ranef(cond_var=True)[name]
        pd.testing.assert_frame_equal(got, re)
        np.testing.assert_allclose(got.attrs["cond_var"], re.attrs["cond_var"],
                                   rtol=1e-12, atol=0)
    pd.testing.assert_series_equal(loaded.fitted(), fit.fitted())
    pd.testing.assert_series_equal(loaded.residuals(), fit.residuals())
    # predictions on new data (factor levels, scale() state, offsets)
    frame = reference_frame(ref)
    new = _new_data(fit, frame)
    pd.testing.assert_series_equal(loaded.predict(new), fit.predict(new))
    pd.testing.assert_series_equal(loaded.predict(new, re_form="~0"),
                                   fit.predict(new, re_form="~0"))
    # simulation
    pd.testing.assert_frame_equal(loaded.simulate(3, seed=11), fit.simulate(3, seed=11))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[mm.LmerFit, Path]:
    sleep = mm.datasets.load("sleepstudy")
    fit = mm.lmer("Reaction ~ scale(Days) + (Days | Subject)", sleep)
    return fit, save(fit, tmp_path_factory.mktemp("persist") / "fit.mmfit")


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _resign(members: dict[str, bytes]) -> dict[str, bytes]:
    import hashlib

    manifest = json.loads(members["manifest.json"])
    manifest["arrays_sha256"] = hashlib.sha256(members["arrays.npz"]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    return members


def test_file_is_plain_json_and_arrays(saved) -> None:
    _, path = saved
    members = _members(path)
    assert set(members) == {"manifest.json", "arrays.npz"}
    manifest = json.loads(members["manifest.json"])
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["formula"] == "Reaction ~ scale(Days) + (Days | Subject)"
    with np.load(io.BytesIO(members["arrays.npz"]), allow_pickle=False) as npz:
        assert all(npz[k].dtype.kind != "O" for k in npz.files)


def test_other_format_version_is_refused_clearly(saved, tmp_path: Path) -> None:
    _, path = saved
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    manifest["format_version"] = FORMAT_VERSION + 1
    members["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(PersistError, match="format version 2.*reads format version 1"):
        load(_write(tmp_path / "v2.mmfit", members))


@pytest.mark.parametrize("cut", [0, 10, 100, 1000, -200, -10])
def test_truncated_file(saved, tmp_path: Path, cut: int) -> None:
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "cut.mmfit"
    bad.write_bytes(data[:cut])
    with pytest.raises(PersistError):
        load(bad)


def test_flipped_bytes_in_arrays(saved, tmp_path: Path) -> None:
    _, path = saved
    members = _members(path)
    arrays = bytearray(members["arrays.npz"])
    arrays[len(arrays) // 2] ^= 0xFF
    members["arrays.npz"] = bytes(arrays)
    with pytest.raises(PersistError, match="checksum"):
        load(_write(tmp_path / "flip.mmfit", members))


def test_altered_estimate_is_detected(saved, tmp_path: Path) -> None:
    _, path = saved
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    manifest["estimates"]["sigma"] *= 1.01
    members["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(PersistError, match="sigma does not match"):
        load(_write(tmp_path / "sigma.mmfit", members))


def test_altered_data_with_valid_checksum_is_detected(saved, tmp_path: Path) -> None:
    _, path = saved
    members = _members(path)
    with np.load(io.BytesIO(members["arrays.npz"]), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["col_0"] = arrays["col_0"] * 1.5  # the response
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    members["arrays.npz"] = buffer.getvalue()
    with pytest.raises(PersistError, match="does not match"):
        load(_write(tmp_path / "data.mmfit", _resign(members)))


def test_pickled_arrays_are_refused(saved, tmp_path: Path) -> None:
    _, path = saved
    members = _members(path)
    with np.load(io.BytesIO(members["arrays.npz"]), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["col_0"] = np.array([object()] * len(arrays["col_0"]), dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    members["arrays.npz"] = buffer.getvalue()
    with pytest.raises(PersistError):
        load(_write(tmp_path / "pickle.mmfit", _resign(members)))


def test_hostile_formula_in_file_is_refused(saved, tmp_path: Path) -> None:
    _, path = saved
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    marker = tmp_path / "pwned"
    manifest["formula"] = (f"Reaction ~ I(exec(\"open({str(marker)!r}, 'w')\")) "
                           "+ (Days | Subject)")
    members["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(PersistError, match="not allowed"):
        load(_write(tmp_path / "hostile.mmfit", members))
    assert not marker.exists()
    manifest["allow_python"] = True
    members["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(PersistError, match="allow_python=True"):
        load(_write(tmp_path / "hostile2.mmfit", members))
    assert not marker.exists()


@pytest.mark.parametrize(
    "content", [b"", b"not a zip", b"PK\x03\x04" + b"\x00" * 40, json.dumps({}).encode()]
)
def test_not_a_fit_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mmfit"
    bad.write_bytes(content)
    with pytest.raises(PersistError):
        load(bad)


def test_wrong_members_and_manifest(saved, tmp_path: Path) -> None:
    _, path = saved
    members = _members(path)
    with pytest.raises(PersistError, match="not a mixedmodels fit file"):
        load(_write(tmp_path / "extra.mmfit", {**members, "evil.py": b"print(1)"}))
    with pytest.raises(PersistError, match="damaged manifest"):
        load(_write(tmp_path / "m.mmfit", {**members, "manifest.json": b"{not json"}))
    manifest = json.loads(members["manifest.json"])
    del manifest["columns"]
    with pytest.raises(PersistError):
        load(_write(tmp_path / "m2.mmfit",
                    {**members, "manifest.json": json.dumps(manifest).encode()}))
    with pytest.raises(PersistError, match="no such file"):
        load(tmp_path / "missing.mmfit")


def test_column_kinds_round_trip(tmp_path: Path) -> None:
    """Integer, boolean, string, categorical and unicode-named columns; a custom index."""
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame({
        "y": rng.normal(size=n),
        "größe x": rng.normal(size=n),
        "k": rng.integers(0, 3, n),
        "flag": rng.integers(0, 2, n).astype(bool),
        "s": rng.choice(["a", "b", "c"], n),
        "g": pd.Categorical(rng.choice(["u", "v", "w", "z"], n), categories=["z", "w", "v",
                                                                               "u", "unused"]),
        "h": rng.integers(10, 16, n),
    }, index=[f"r{i}" for i in range(n)])
    frame.loc["r3", "y"] = np.nan
    fit = mm.lmer("y ~ `größe x` + factor(k) + flag + s + (1 | g) + (1 | h)", frame)
    loaded = load(save(fit, tmp_path / "kinds.mmfit"))
    assert loaded.n_dropped_na == 1
    assert str(loaded.summary()) == str(fit.summary())
    new = frame.iloc[::7]
    pd.testing.assert_series_equal(loaded.predict(new), fit.predict(new))
    pd.testing.assert_series_equal(loaded.fitted(), fit.fitted())


def test_persist_error_is_a_library_error() -> None:
    assert issubclass(PersistError, MixedModelsError)
