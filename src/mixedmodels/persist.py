"""Saving and loading fitted models in a safe, versioned, non-executable format.

Format (``FORMAT_NAME``, version ``FORMAT_VERSION``)
-----------------------------------------------------
A zip archive with two members and nothing else:

``manifest.json``
    UTF-8 JSON: the format name and version, the library version that wrote it,
    the formula text (and whether it was fitted with ``allow_python``), REML or ML,
    the data name, the weights/offset column names, a description of every stored
    data column (name, kind, dtype, categories), the row index, the number of rows
    dropped for missing values, the warnings, the optimiser summary (scalars), the
    scalar estimates (sigma, objective, pwrss, log-determinants) and the SHA-256 of
    ``arrays.npz``.
``arrays.npz``
    numpy arrays read with ``allow_pickle=False``: the data columns the model used
    (``col_<i>``; strings as fixed-width unicode, categoricals as codes plus
    categories), weights, offset, row index, theta, beta, u, vcov_unscaled and the
    optimiser's arrays.

Nothing in the file is executed: JSON and plain arrays only, no pickle.

What is stored, and why
-----------------------
The formulaic ``ModelSpec`` objects that replay the fixed and random parts on new
data (factor levels, ``scale()`` centres and scales, spline knots, polynomial
coefficients) are not serialisable as data. They are a deterministic function of
the formula and of the rows the model used, so the file stores those rows (only
the used rows and only the variables the formula reads; they are part of the fit
anyway: fitted values, residuals and simulations are defined on them) and
:func:`load` rebuilds the design with ``build_design`` on them. This restores every
spec exactly, and the loaded object is a real :class:`~mixedmodels.fit.LmerFit`,
with the model, its factor and the data, so summary, predict (on new data too),
simulate, ranef, refit and anova work as on the original.

The stored estimates are then checked against those recomputed from the rebuilt
model at the stored theta (they must agree to 1e-6 relative, or the file was
altered) and the stored values are kept, so the loaded fit reports exactly what
was saved.

Safety
------
The formula is parsed with the closed grammar (formulas are not code) unless the
caller of :func:`load` passes ``allow_python=True``; a file written from a fit that
needed ``allow_python`` cannot be loaded without it. Any malformed, truncated or
altered file raises :class:`PersistError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels.errors import MixedModelsError

if TYPE_CHECKING:
    from mixedmodels.fit import LmerFit

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "PersistError", "load", "save"]

FORMAT_NAME = "mixedmodels-lmerfit"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_ARRAYS = "arrays.npz"
# Stored and recomputed estimates must agree this closely.
_CONSISTENCY_RTOL = 1e-6
# Largest member accepted when reading (bytes, uncompressed).
_MAX_MEMBER = 4 * 1024**3


class PersistError(MixedModelsError):
    """A fit that cannot be saved, or a file that cannot be loaded."""


# ---------------------------------------------------------------------- saving
def save(fit: LmerFit, path: str | Path) -> Path:
    """Write a fitted model to ``path``.

    Parameters
    ----------
    fit : LmerFit
        The fitted model.
    path : str or Path
        File to write (conventionally ``*.mmfit``); overwritten if it exists.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    PersistError
        For a data column of a type that cannot be stored as plain data
        (e.g. an object column mixing strings and numbers).
    """
    from mixedmodels import __version__

    model = fit.model
    design = model.design
    frame = _used_frame(fit)
    arrays: dict[str, np.ndarray] = {}
    columns = []
    for i, name in enumerate(frame.columns):
        columns.append(_encode_column(name, frame[name], f"col_{i}", arrays))
    index = _encode_index(design.row_index, arrays)
    if design.weights is not None:
        arrays["weights"] = np.asarray(design.weights, dtype=float)
    if design.offset is not None:
        arrays["offset"] = np.asarray(design.offset, dtype=float)
    arrays["theta"] = np.asarray(fit.theta, dtype=float)
    arrays["beta"] = np.asarray(fit.beta, dtype=float)
    arrays["vcov_unscaled"] = np.asarray(fit.vcov_unscaled, dtype=float)
    for j, u in enumerate(fit.u):
        arrays[f"u_{j}"] = np.asarray(u, dtype=float)
    opt = _encode_opt(fit.optsummary, arrays)

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    options = model.fit_options
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "formula": design.formula.text,
        "allow_python": bool(getattr(design.formula, "allow_python", False)),
        "reml": bool(model.reml),
        "data_name": model.data_name,
        "weights_column": options.get("weights") if isinstance(options.get("weights"), str)
        else None,
        "offset_column": options.get("offset") if isinstance(options.get("offset"), str)
        else None,
        "columns": columns,
        "index": index,
        "n_dropped_na": int(design.n_dropped_na),
        "n_u": len(fit.u),
        "warnings": list(fit.warnings),
        "estimates": {
            "sigma": float(fit.sigma),
            "objective": float(fit.objective),
            "pwrss": float(fit.pwrss),
            "ldL2": float(fit.ldL2),
            "ldRX2": float(fit.ldRX2),
        },
        "optsummary": opt,
        "arrays_sha256": hashlib.sha256(payload).hexdigest(),
    }
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, indent=1, allow_nan=True))
        archive.writestr(_ARRAYS, payload)
    return path


def _used_frame(fit: LmerFit) -> pd.DataFrame:
    """The rows the model used, the variables the formula reads."""
    model = fit.model
    design = model.design
    data = model.data
    variables = design.formula.variables()
    if data is None:
        raise PersistError("the fit does not hold its data; it cannot be saved")
    from mixedmodels.design._frame import as_pandas

    frame = as_pandas(data)
    try:
        return frame.loc[design.row_index, variables]
    except KeyError:
        # A frame with a duplicated or changed index: fall back to positions.
        keep = frame.index.get_indexer(design.row_index)
        if (keep < 0).any() or frame.index.has_duplicates:
            raise PersistError(
                "cannot find the fitting rows in the fit's data (was it modified?)"
            ) from None
        return frame.iloc[keep][variables]


def _value_kind(values: np.ndarray) -> str:
    if values.dtype.kind == "b":
        return "bool"
    if values.dtype.kind in "iu":
        return "int"
    if values.dtype.kind == "f":
        return "float"
    if values.dtype.kind == "U":
        return "str"
    raise TypeError


def _plain(values: Any, what: str) -> tuple[np.ndarray, str]:
    """Values as a pickle-free numpy array and their kind."""
    array = np.asarray(values)
    if array.dtype.kind == "O":
        items = list(array)
        if all(isinstance(v, str) for v in items):
            array = np.array(items, dtype=str) if items else np.array([], dtype="<U1")
        elif all(isinstance(v, (bool, np.bool_)) for v in items):
            array = np.array(items, dtype=bool)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
            array = np.array(items, dtype=np.int64)
        elif all(isinstance(v, (float, int, np.number)) for v in items):
            array = np.array(items, dtype=float)
        else:
            raise PersistError(f"{what} mixes value types and cannot be saved as plain data")
    try:
        return array, _value_kind(array)
    except TypeError:
        raise PersistError(f"{what} has dtype {array.dtype}, which cannot be saved") from None


def _encode_column(name: str, series: pd.Series, key: str, arrays: dict) -> dict[str, Any]:
    what = f"column {name!r}"
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats, kind = _plain(dtype.categories.to_numpy(), f"the categories of {what}")
        arrays[key] = np.asarray(series.cat.codes.to_numpy(), dtype=np.int64)
        arrays[key + "_categories"] = cats
        return {"name": name, "kind": "category", "categories_kind": kind,
                "ordered": bool(dtype.ordered), "key": key}
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        target = np.int64 if pd.api.types.is_integer_dtype(dtype) else float
        arrays[key] = series.to_numpy(dtype=target)
        return {"name": name, "kind": "numeric", "dtype": str(dtype), "key": key}
    values, kind = _plain(series.to_numpy(dtype=object), what)
    arrays[key] = values
    return {"name": name, "kind": kind, "dtype": str(dtype), "key": key}


def _encode_index(index: pd.Index, arrays: dict) -> dict[str, Any]:
    if isinstance(index, pd.RangeIndex):
        return {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step,
                "name": index.name if isinstance(index.name, str) else None}
    try:
        values, kind = _plain(index.to_numpy(dtype=object), "the row index")
    except PersistError:
        return {"kind": "positions"}
    arrays["index"] = values
    return {"kind": kind, "name": index.name if isinstance(index.name, str) else None}


def _encode_opt(opt: Any, arrays: dict) -> dict[str, Any]:
    arrays["opt_initial"] = np.asarray(opt.initial, dtype=float)
    arrays["opt_final"] = np.asarray(opt.final, dtype=float)
    arrays["opt_lower"] = np.asarray(opt.lower, dtype=float)
    arrays["opt_fitlog"] = np.asarray(opt.fitlog, dtype=float)
    out: dict[str, Any] = {
        "optimizer": str(opt.optimizer),
        "fmin": float(opt.fmin),
        "feval": int(opt.feval),
        "ngrad": int(opt.ngrad),
        "return_code": str(opt.return_code),
        "ftol_rel": float(opt.ftol_rel),
        "ftol_abs": float(opt.ftol_abs),
        "xtol_abs": float(opt.xtol_abs),
        "check": None,
    }
    check = opt.check
    if check is not None:
        arrays["check_gradient"] = np.asarray(check.gradient, dtype=float)
        arrays["check_interior"] = np.asarray(check.interior, dtype=bool)
        if check.hessian is not None:
            arrays["check_hessian"] = np.asarray(check.hessian, dtype=float)
        out["check"] = {
            "decrease": float(check.decrease),
            "messages": [str(m) for m in check.messages],
            "hessian": check.hessian is not None,
        }
    return out


# ---------------------------------------------------------------------- loading
def load(path: str | Path, *, allow_python: bool = False) -> LmerFit:
    """Read a fitted model written by :func:`save`.

    Parameters
    ----------
    path : str or Path
        The file.
    allow_python : bool
        Needed only for a fit whose formula was evaluated with
        ``allow_python=True``; it lets the stored formula run arbitrary Python,
        so use it only for files you trust.

    Returns
    -------
    LmerFit
        A real fit: the model rebuilt from the stored rows, with the stored
        estimates.

    Raises
    ------
    PersistError
        For a file that is not a fit file, of another format version, truncated,
        altered, or inconsistent with the estimates it holds.
    """
    manifest, arrays = _read(Path(path))
    try:
        return _rebuild(manifest, arrays, allow_python)
    except PersistError:
        raise
    except MixedModelsError as exc:
        raise PersistError(f"cannot rebuild the fit stored in {str(path)!r}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError,
            ZeroDivisionError, OverflowError) as exc:
        raise PersistError(
            f"{str(path)!r} is damaged or was altered ({type(exc).__name__}: {exc})"
        ) from None


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if names != {_MANIFEST, _ARRAYS}:
                raise PersistError(f"{str(path)!r} is not a mixedmodels fit file")
            for info in archive.infolist():
                if info.file_size > _MAX_MEMBER:
                    raise PersistError(f"{str(path)!r}: member {info.filename} is too large")
            manifest_bytes = archive.read(_MANIFEST)
            payload = archive.read(_ARRAYS)
    except FileNotFoundError:
        raise PersistError(f"no such file: {str(path)!r}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            NotImplementedError) as exc:
        raise PersistError(
            f"{str(path)!r} is not a readable mixedmodels fit file (truncated or damaged: "
            f"{exc})"
        ) from None
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PersistError(f"{str(path)!r} has a damaged manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise PersistError(f"{str(path)!r} is not a mixedmodels fit file")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        from mixedmodels import __version__

        raise PersistError(
            f"{str(path)!r} uses fit-file format version {version!r} (written by "
            f"mixedmodels {manifest.get('library_version')!r}); this mixedmodels "
            f"({__version__}) reads format version {FORMAT_VERSION} only: load it with the "
            "version that wrote it and refit, or save it again"
        )
    if hashlib.sha256(payload).hexdigest() != manifest.get("arrays_sha256"):
        raise PersistError(f"{str(path)!r} was altered or damaged (checksum mismatch)")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise PersistError(f"{str(path)!r} has damaged arrays ({exc})") from None
    return manifest, arrays


def _decode_values(values: np.ndarray, kind: str) -> np.ndarray:
    expected = {"bool": "b", "int": "iu", "float": "f", "str": "U"}[kind]
    if values.dtype.kind not in expected:
        raise PersistError(f"stored values of kind {kind!r} have dtype {values.dtype}")
    return values


def _decode_column(spec: dict[str, Any], arrays: dict, n: int) -> pd.Series:
    values = arrays[spec["key"]]
    if values.shape != (n,):
        raise PersistError(f"column {spec['name']!r} has {values.shape} values, not {n}")
    kind = spec["kind"]
    if kind == "category":
        cats = _decode_values(arrays[spec["key"] + "_categories"], spec["categories_kind"])
        codes = values.astype(np.int64)
        if codes.min(initial=0) < 0 or codes.max(initial=-1) >= len(cats):
            raise PersistError(f"column {spec['name']!r} has codes outside its categories")
        categorical = pd.Categorical.from_codes(
            codes, categories=pd.Index(cats.tolist()), ordered=bool(spec["ordered"])
        )
        return pd.Series(categorical, name=spec["name"])
    if kind == "numeric":
        series = pd.Series(values, name=spec["name"])
        if values.dtype.kind not in "iuf":
            raise PersistError(f"column {spec['name']!r} is not numeric")
        return series.astype(spec["dtype"]) if spec["dtype"] in _SAFE_DTYPES else series
    values = _decode_values(values, kind)
    series = pd.Series(values.tolist(), name=spec["name"], dtype=object)
    if kind == "bool" and spec.get("dtype") == "bool":
        return series.astype(bool)
    if kind == "str" and spec.get("dtype") in ("str", "string"):
        return series.astype(spec["dtype"])
    return series


# dtype names restored with astype (plain numpy / pandas names, never evaluated).
_SAFE_DTYPES = {"int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
                "float64", "float32", "Int64", "Int32", "Float64"}


def _decode_index(spec: dict[str, Any], arrays: dict, n: int) -> pd.Index:
    kind = spec["kind"]
    if kind == "range":
        index = pd.RangeIndex(int(spec["start"]), int(spec["stop"]), int(spec["step"]),
                              name=spec.get("name"))
    elif kind == "positions":
        index = pd.RangeIndex(n)
    else:
        index = pd.Index(_decode_values(arrays["index"], kind).tolist(), name=spec.get("name"))
    if len(index) != n:
        raise PersistError(f"the stored row index has {len(index)} labels, not {n}")
    return index


def _decode_opt(spec: dict[str, Any], arrays: dict) -> Any:
    from mixedmodels.optimize import ConvergenceCheck, OptSummary

    check = None
    if spec["check"] is not None:
        c = spec["check"]
        check = ConvergenceCheck(
            gradient=arrays["check_gradient"],
            hessian=arrays["check_hessian"] if c["hessian"] else None,
            interior=arrays["check_interior"],
            decrease=float(c["decrease"]),
            messages=tuple(str(m) for m in c["messages"]),
        )
    return OptSummary(
        optimizer=str(spec["optimizer"]),
        initial=arrays["opt_initial"],
        final=arrays["opt_final"],
        fmin=float(spec["fmin"]),
        feval=int(spec["feval"]),
        return_code=str(spec["return_code"]),
        lower=arrays["opt_lower"],
        ftol_rel=float(spec["ftol_rel"]),
        ftol_abs=float(spec["ftol_abs"]),
        xtol_abs=float(spec["xtol_abs"]),
        fitlog=arrays["opt_fitlog"],
        check=check,
        ngrad=int(spec.get("ngrad", 0)),
    )


def _rebuild(manifest: dict[str, Any], arrays: dict, allow_python: bool) -> LmerFit:
    from mixedmodels.design import RankDeficiencyWarning, build_design
    from mixedmodels.fit import LmerFit
    from mixedmodels.model import LinearMixedModel

    if manifest.get("allow_python") and not allow_python:
        raise PersistError(
            "this fit's formula was evaluated with allow_python=True; load it with "
            "load(path, allow_python=True) only if you trust the file"
        )
    theta = arrays["theta"]
    columns = manifest["columns"]
    if not columns:
        raise PersistError("the file holds no data columns")
    n = int(arrays[columns[0]["key"]].shape[0])
    index = _decode_index(manifest["index"], arrays, n)
    frame = pd.DataFrame(index=index)
    for c in columns:
        series = _decode_column(c, arrays, n)
        series.index = index
        frame[c["name"]] = series
    frame.attrs["name"] = manifest.get("data_name")
    weights = arrays.get("weights")
    offset = arrays.get("offset")
    with warnings.catch_warnings():
        # The design's messages were stored with the fit's warnings.
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        design = build_design(str(manifest["formula"]), frame, weights=weights,
                              offset=offset,
                              allow_python=bool(allow_python and manifest.get("allow_python")))
    design = dataclasses.replace(design, n_dropped_na=int(manifest["n_dropped_na"]))
    options = {
        "formula": str(manifest["formula"]),
        "weights": manifest.get("weights_column") or weights,
        "offset": manifest.get("offset_column") or offset,
    }
    if manifest.get("weights_column"):
        frame[manifest["weights_column"]] = weights
    if manifest.get("offset_column"):
        frame[manifest["offset_column"]] = offset
    model = LinearMixedModel(design, bool(manifest["reml"]), data=frame,
                             data_name=manifest.get("data_name"), fit_options=options)
    if theta.shape != model.lower.shape:
        raise PersistError(f"theta has {theta.shape} values; the model needs {model.ntheta}")
    opt = _decode_opt(manifest["optsummary"], arrays)
    model._fitted = True
    fit = LmerFit.from_model(model, theta, opt, list(manifest["warnings"]))
    est = manifest["estimates"]
    stored = {
        "beta": arrays["beta"],
        "vcov_unscaled": arrays["vcov_unscaled"],
        "sigma": float(est["sigma"]),
        "objective": float(est["objective"]),
        "pwrss": float(est["pwrss"]),
        "ldL2": float(est["ldL2"]),
        "ldRX2": float(est["ldRX2"]),
        "u": tuple(arrays[f"u_{j}"] for j in range(int(manifest["n_u"]))),
    }
    _check_consistent(fit, stored)
    return dataclasses.replace(fit, **stored)


def _check_consistent(fit: LmerFit, stored: dict[str, Any]) -> None:
    for name, value in stored.items():
        mine = getattr(fit, name)
        if name == "u":
            if len(mine) != len(value):
                raise PersistError("the stored random effects do not match the model")
            mine = np.concatenate([np.ravel(a) for a in mine]) if mine else np.zeros(0)
            value = np.concatenate([np.ravel(a) for a in value]) if value else np.zeros(0)
        mine = np.asarray(mine, dtype=float)
        value = np.asarray(value, dtype=float)
        if mine.shape != value.shape:
            raise PersistError(f"the stored {name} has shape {value.shape}, not {mine.shape}")
        scale = max(float(np.max(np.abs(mine), initial=0.0)), 1.0)
        diff = float(np.max(np.abs(mine - value), initial=0.0))
        if not (math.isfinite(diff) and diff <= _CONSISTENCY_RTOL * scale):
            raise PersistError(
                f"the stored {name} does not match the model rebuilt from the stored data "
                f"(difference {diff:.3g}): the file was altered or written by an "
                "incompatible version"
            )
