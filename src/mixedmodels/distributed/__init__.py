"""Exact fits on data that is not in memory: Parquet files and Dask data frames.

The engine needs the rows only to form ``A = [Z X y]'[Z X y]``, a sum over rows. Here
the rows stay where they are (Parquet files, the partitions of a Dask data frame on a
cluster) and two passes over the partitions give A exactly:

1. per partition, after dropping incomplete rows as the in-memory path does: the
   levels of every factor, and sums for the state of ``scale()``/``center()``;
   combined into the design's specification (levels in R's order, transform state);
2. per partition, the specification replayed on the rows gives level codes, ``z`` and
   ``[X y]`` (weighted, offset subtracted) and the partial blocks of A; these are
   reduced with a tree (faces and dense blocks as array sums, sparse blocks as
   coordinate sums), so the client receives A only.

The fit is then the in-memory engine's, on A. Row-wise outputs (fitted values,
residuals, predictions, simulations) are Dask collections computed partition by
partition from the estimates.

Dask is optional (``pip install 'mixedmodels[dask]'``) and imported lazily:
``import mixedmodels`` never imports it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mixedmodels.errors import MixedModelsError

if TYPE_CHECKING:
    from mixedmodels.distributed._model import DistributedModel

__all__ = [
    "INSTALL_HINT",
    "MissingDependencyError",
    "is_distributed_input",
    "model_from_formula",
    "require_dask",
]

INSTALL_HINT = "pip install 'mixedmodels[dask]'"


class MissingDependencyError(MixedModelsError, ImportError):
    """An optional dependency needed for the requested input is not installed."""


def is_distributed_input(data: Any) -> bool:
    """Whether ``data`` is for the Dask path: a Dask data frame, or a path, glob or
    list of paths of Parquet files.

    Checked without importing Dask.
    """
    if isinstance(data, (str, os.PathLike)):
        return True
    if isinstance(data, (list, tuple)) and data and all(
        isinstance(d, (str, os.PathLike)) for d in data
    ):
        return True
    module = type(data).__module__ or ""
    return module.split(".")[0] in ("dask", "dask_expr")


def require_dask(what: str = "Dask data") -> None:
    """Import Dask's data frames or raise :class:`MissingDependencyError`.

    Parameters
    ----------
    what : str
        The input that needs Dask, for the message.
    """
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs the optional dependency Dask, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None


def model_from_formula(
    formula: str,
    data: Any,
    *,
    reml: bool = True,
    weights: str | None = None,
    offset: str | None = None,
    data_name: str | None = None,
    allow_python: bool = False,
) -> DistributedModel:
    """Build a :class:`LinearMixedModel` from Dask or Parquet data (two passes).

    Parameters
    ----------
    formula : str
        An lme4 formula.
    data : dask.dataframe.DataFrame, str, os.PathLike or list of them
        A Dask data frame, or Parquet files (a file, a directory, a glob or a list),
        read lazily with ``dask.dataframe.read_parquet``.
    reml : bool
        REML (default) or maximum likelihood.
    weights, offset : str, optional
        Column names (arrays cannot be aligned with partitions).
    data_name : str, optional
        Name shown as ``Data:`` in the summary.
    allow_python : bool
        As for :func:`mixedmodels.lmer`.

    Returns
    -------
    DistributedModel
        A :class:`~mixedmodels.model.LinearMixedModel` holding A, not the rows.
    """
    if isinstance(data, (str, os.PathLike)) or isinstance(data, (list, tuple)):
        require_dask("Parquet data given as a path")
    else:
        require_dask()
    from mixedmodels.distributed._build import build_model

    return build_model(formula, data, reml=reml, weights=weights, offset=offset,
                       data_name=data_name, allow_python=allow_python)
