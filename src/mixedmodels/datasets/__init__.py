"""Datasets bundled with mixedmodels, exported from R packages (lme4, mlmRev, nlme).

The data files live in ``datasets/data/`` as CSV (gzipped for the large ones) together with
``index.json``, which records for every dataset its file, a one-line description, its source
and the type of each column. Factor columns come back as :class:`pandas.Categorical` with
exactly R's level order (ordered where R's factor is ordered); integer columns as ``int64``
and double columns as ``float64``, as in R.

Examples
--------
>>> from mixedmodels import datasets
>>> df = datasets.load("sleepstudy")
>>> df.shape
(180, 3)
>>> df["Subject"].cat.categories[:3].tolist()
['308', '309', '310']
"""

from __future__ import annotations

import builtins
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from mixedmodels.errors import DataError

__all__ = ["describe", "list", "load"]

_DTYPES = {"integer": "int64", "double": "float64", "logical": "boolean", "character": "str"}


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, Any]]:
    """Read and cache ``data/index.json``."""
    text = resources.files(__package__).joinpath("data", "index.json").read_text("utf-8")
    return json.loads(text)


def _entry(name: str) -> dict[str, Any]:
    """Return the index entry of ``name`` or raise :class:`DataError`."""
    index = _index()
    key = name.lower() if isinstance(name, str) else name
    if key not in index:
        available = ", ".join(sorted(index))
        raise DataError(f"unknown dataset {name!r}; available datasets: {available}")
    return index[key]


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"sleepstudy"`` (case-insensitive). See :func:`list`.

    Returns
    -------
    pandas.DataFrame
        A fresh copy of the data, with the column names used in R. Factor columns are
        categorical with R's level order; ordered factors are ordered categoricals.

    Raises
    ------
    DataError
        If ``name`` is not a bundled dataset; the message lists the available names.
    """
    entry = _entry(name)
    columns: dict[str, dict[str, Any]] = entry["columns"]
    dtype = {
        col: ("str" if meta["type"] == "factor" else _DTYPES[meta["type"]])
        for col, meta in columns.items()
    }
    ref = resources.files(__package__).joinpath("data", entry["file"])
    with resources.as_file(ref) as path:
        frame = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])
    for col, meta in columns.items():
        if meta["type"] == "factor":
            frame[col] = pd.Categorical(
                frame[col], categories=meta["levels"], ordered=bool(meta["ordered"])
            )
    return frame


def list() -> pd.DataFrame:  # noqa: A001 - the name mirrors R's data() listing
    """List the bundled datasets.

    Returns
    -------
    pandas.DataFrame
        One row per dataset, indexed by name, with columns ``nobs``, ``ncol``,
        ``description`` and ``source``.
    """
    index = _index()
    rows = [
        {
            "name": name,
            "nobs": int(entry["nobs"]),
            "ncol": int(entry["ncol"]),
            "description": entry["description"],
            "source": entry["source"],
        }
        for name, entry in index.items()
    ]
    return pd.DataFrame(rows).set_index("name")


def describe(name: str) -> str:
    """Describe a bundled dataset in a few lines of text.

    Parameters
    ----------
    name : str
        Dataset name (case-insensitive).

    Returns
    -------
    str
        Name, size, description, source and one line per column with its type (and the
        levels of factors, abbreviated when there are many).

    Raises
    ------
    DataError
        If ``name`` is not a bundled dataset.
    """
    entry = _entry(name)
    lines = [
        f"{name.lower()}: {entry['nobs']} rows x {entry['ncol']} columns",
        f"  {entry['description']}",
        f"  Source: {entry['source']}",
        "  Columns:",
    ]
    for col, meta in entry["columns"].items():
        if meta["type"] == "factor":
            levels: builtins.list[str] = meta["levels"]
            kind = "ordered factor" if meta["ordered"] else "factor"
            sep = " < " if meta["ordered"] else ", "
            shown = sep.join(levels[:6]) + (sep + "..." if len(levels) > 6 else "")
            lines.append(f"    {col}: {kind} with {len(levels)} levels ({shown})")
        else:
            lines.append(f"    {col}: {meta['type']}")
    return "\n".join(lines)
