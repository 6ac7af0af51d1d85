"""Load the lme4 reference fits recorded in ``tests/reference/lme4_fits.json``.

Import it by path or with ``tests/`` on ``sys.path`` (``from reference.loader import ...``);
it does not depend on any conftest.

Examples
--------
>>> fits = load_reference()
>>> fit = next(f for f in fits if f["id"] == "sleepstudy_slope_reml")
>>> data = reference_frame(fit)
>>> data.shape
(180, 3)
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels import datasets

REFERENCE_DIR = Path(__file__).resolve().parent
JSON_PATH = REFERENCE_DIR / "lme4_fits.json"

_DTYPES = {"integer": "int64", "double": "float64", "factor": "str"}


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    """Parse the JSON file once."""
    with JSON_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)


def load_reference() -> list[dict[str, Any]]:
    """Return the recorded lme4 fits.

    Returns
    -------
    list of dict
        One dict per fit, in the order of ``lme4_fits.R``; see ``README.md`` for the fields.
        A fresh copy is returned each call, so callers may modify it.
    """
    return json.loads(json.dumps(_document()["fits"]))


def reference_metadata() -> dict[str, Any]:
    """Return the document's metadata (``R_version``, ``lme4_version``, ``generated``).

    Returns
    -------
    dict
        The top-level fields of the JSON document other than ``fits``.
    """
    return {k: v for k, v in _document().items() if k != "fits"}


def reference_fit(fit_id: str) -> dict[str, Any]:
    """Return the recorded fit with identifier ``fit_id``.

    Parameters
    ----------
    fit_id : str
        Identifier such as ``"sleepstudy_slope_reml"``.

    Returns
    -------
    dict
        The fit's record.

    Raises
    ------
    KeyError
        If no fit has this identifier.
    """
    for fit in load_reference():
        if fit["id"] == fit_id:
            return fit
    raise KeyError(fit_id)


def reference_frame(fit: dict[str, Any]) -> pd.DataFrame:
    """Return the data a reference fit was computed on.

    Parameters
    ----------
    fit : dict
        A record from :func:`load_reference`.

    Returns
    -------
    pandas.DataFrame
        The bundled dataset (via :func:`mixedmodels.datasets.load`) or the fit's
        ``data_file``, with every factor column categorical in the recorded level order
        (ordered where R's factor was ordered).
    """
    columns: dict[str, str] = fit["columns"]
    if fit["data_file"] is not None:
        frame = pd.read_csv(
            REFERENCE_DIR / fit["data_file"],
            dtype={col: _DTYPES[kind] for col, kind in columns.items()},
            keep_default_na=False,
            na_values=[""],
        )
    else:
        frame = datasets.load(fit["dataset"])
    ordered = set(fit.get("ordered_factors") or [])
    for col, levels in fit["factors"].items():
        values = frame[col].astype("str")
        frame[col] = pd.Categorical(values, categories=levels, ordered=col in ordered)
    return frame


@lru_cache(maxsize=1)
def inference_reference() -> dict[str, Any]:
    """The document written by ``lme4_inference.R`` (anova, ranova, confint, boot...).

    Cached: callers must not modify it.
    """
    with (REFERENCE_DIR / "lme4_inference.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def reference_column(table: dict[str, Any], name: str) -> np.ndarray:
    """Column ``name`` of a recorded R table as floats (R's NA as NaN)."""
    return np.array([np.nan if v is None else v for v in table["columns"][name]], float)
