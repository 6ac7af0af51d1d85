"""Command line front end: ``mixedmodels fit``, ``report`` and ``datasets``.

Uses only the public API. Bad input exits with status 2 and one line on stderr that
starts with ``error:``; lme4-style fit messages go to stderr as ``warning:`` lines.

Examples
--------
::

    mixedmodels fit sleepstudy "Reaction ~ Days + (Days | Subject)"
    mixedmodels fit data.csv "y ~ x + (1 | g)" --ml --json
    mixedmodels fit sleepstudy "Reaction ~ Days + (Days | Subject)" --plots plots/
    mixedmodels report sleepstudy "Reaction ~ Days + (Days | Subject)" -o report.html
    mixedmodels datasets
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from mixedmodels import datasets
from mixedmodels.errors import DataError, FormulaError, MixedModelsError
from mixedmodels.model import lmer

EXIT_USAGE = 2
DDF_CHOICES = ("satterthwaite", "kenward-roger", "none")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class CliError(Exception):
    """A problem with the command line's input, reported as one ``error:`` line."""


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one ``error:`` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mixedmodels`` command."""
    parser = _Parser(prog="mixedmodels",
                     description="Fit linear mixed models with lme4's formulas.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    fit = commands.add_parser("fit", help="fit a model and print lme4's summary")
    fit.add_argument("data", metavar="DATA",
                     help="CSV or Parquet file, or the name of a bundled dataset")
    fit.add_argument("formula", metavar="FORMULA",
                     help="lme4 formula, e.g. 'Reaction ~ Days + (Days | Subject)'")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--ddf", choices=DDF_CHOICES, default="satterthwaite",
                     help="df of the fixed-effects t tests (default: satterthwaite, as "
                          "lmerTest; none: lme4's table without p-values)")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.add_argument("--weights", metavar="COL", help="column of prior weights")
    fit.add_argument("--offset", metavar="COL", help="column of a known offset")
    fit.add_argument("--plots", metavar="DIR",
                     help="also write the standard diagnostic plots as PNG files to DIR")
    report = commands.add_parser("report", help="fit a model and write an HTML report")
    report.add_argument("data", metavar="DATA",
                        help="CSV or Parquet file, or the name of a bundled dataset")
    report.add_argument("formula", metavar="FORMULA", help="lme4 formula")
    report.add_argument("-o", "--output", metavar="FILE", required=True,
                        help="the HTML file to write")
    report.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    report.add_argument("--weights", metavar="COL", help="column of prior weights")
    report.add_argument("--offset", metavar="COL", help="column of a known offset")
    report.add_argument("--nsim", metavar="N", type=int, default=250,
                        help="simulations for the simulated residuals (default 250)")
    report.add_argument("--seed", metavar="N", type=int, default=1,
                        help="seed of the simulations (default 1)")
    commands.add_parser("datasets", help="list the bundled datasets")
    return parser


# ---------------------------------------------------------------------- data
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in _CSV_SUFFIXES + _PARQUET_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _stem(path: Path) -> str:
    suffix = _suffix(path)
    return path.name[: -len(suffix)] if suffix and path.name.lower().endswith(suffix) \
        else path.stem


def load_data(spec: str) -> tuple[pd.DataFrame, str]:
    """Read DATA: a CSV or Parquet file, or a bundled dataset name.

    Returns
    -------
    frame : DataFrame
    name : str
        The dataset name or the file's stem, shown as ``Data:`` in the summary.
    """
    path = Path(spec)
    suffix = _suffix(path)
    if path.is_file():
        if suffix in _PARQUET_SUFFIXES:
            try:
                frame = pd.read_parquet(path)
            except ImportError as exc:
                raise CliError("reading Parquet files needs pyarrow "
                               "(pip install 'mixedmodels[parquet]')") from exc
        else:
            sep = "\t" if suffix == ".tsv" else ","
            frame = pd.read_csv(path, sep=sep)
        return frame, _stem(path)
    if path.is_dir():
        raise CliError(f"{spec} is a directory, not a data file")
    looks_like_path = suffix in _CSV_SUFFIXES + _PARQUET_SUFFIXES or "/" in spec or "\\" in spec
    if looks_like_path:
        raise CliError(f"no such file: {spec}")
    try:
        return datasets.load(spec), spec.lower()
    except DataError as exc:
        raise CliError(f"{spec!r} is neither a file nor a bundled dataset "
                       f"(see 'mixedmodels datasets')") from exc


# ---------------------------------------------------------------------- output
def _number(x: Any) -> float | None:
    """A float for JSON, None for NaN/inf."""
    value = float(x)
    return value if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """numpy/pandas scalars as JSON-ready Python values."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _number(value)
    if isinstance(value, str):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _ddf(name: str) -> str | None:
    return None if name == "none" else name


def fit_to_json(fit: Any, ddf: str | None = "satterthwaite") -> dict[str, Any]:
    """The ``--json`` object of a fit; df and p are the t tests' (null when ddf is None)."""
    table = fit.coef_table(ddf=ddf) if ddf is not None else None
    varcorr = [
        {key: _plain(val) for key, val in row.items()}
        for row in fit.varcorr.to_frame().to_dict(orient="records")
    ]
    return {
        "formula": fit.formula,
        "reml": bool(fit.reml),
        "objective": _number(fit.objective),
        "loglik": _number(fit.loglik),
        "aic": _number(fit.aic),
        "bic": _number(fit.bic),
        "sigma": _number(fit.sigma),
        "theta": [_number(t) for t in np.asarray(fit.theta, dtype=float)],
        "fixef": {str(k): _number(v) for k, v in fit.fixef.items()},
        "se": {str(k): _number(v) for k, v in fit.std_errors.items()},
        "df": None if table is None else {str(k): _number(v) for k, v in table["df"].items()},
        "p": None if table is None else {str(k): _number(v) for k, v in table["p_value"].items()},
        "varcorr": varcorr,
        "nobs": int(fit.nobs),
        "ngroups": {str(k): int(v) for k, v in fit.ngroups.items()},
        "singular": bool(fit.is_singular),
        "converged": bool(fit.converged),
        "warnings": [str(w) for w in fit.warnings],
    }


# ---------------------------------------------------------------------- plots
def standard_plots(fit: Any) -> dict[str, Any]:
    """The standard plots of a fit by file stem (matplotlib figures).

    Residuals vs fitted, normal QQ, scale-location, the four panels together, QQ of
    the random effects, caterpillar, shrinkage, simulated residuals and, for a model
    with one grouping factor, the pooling picture.
    """
    from mixedmodels import plots

    figures = {
        "diagnostics": plots.plot_diagnostics(fit),
        "residuals": plots.plot_residuals(fit),
        "qq": plots.plot_qq(fit),
        "scale_location": plots.plot_scale_location(fit),
        "ranef_qq": plots.plot_ranef_qq(fit),
        "caterpillar": plots.plot_caterpillar(fit),
        "shrinkage": plots.plot_shrinkage(fit),
        "simulated_residuals": plots.plot_simulated_residuals(fit, seed=1),
    }
    if len(fit.ngroups) == 1:
        figures["pooling"] = plots.plot_pooling(fit)
    return figures


def write_plots(fit: Any, directory: str | Path, dpi: int = 100) -> list[Path]:
    """Write :func:`standard_plots` as PNG files into ``directory`` (created if needed)."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise CliError(f"--plots {directory}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, fig in standard_plots(fit).items():
        path = out / f"{stem}.png"
        fig.savefig(path, dpi=dpi)
        written.append(path)
    return written


# ---------------------------------------------------------------------- commands
def _fit_from_args(args: argparse.Namespace) -> Any:
    """Read DATA and fit FORMULA with the options shared by ``fit`` and ``report``."""
    data, name = load_data(args.data)
    for option in ("weights", "offset"):
        column = getattr(args, option)
        if column is not None and column not in data.columns:
            raise CliError(f"--{option} column {column!r} is not in the data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(args.formula, data, reml=not args.ml, weights=args.weights,
                    offset=args.offset, data_name=name)


def run_fit(args: argparse.Namespace) -> int:
    """``mixedmodels fit``: fit, print the summary (or JSON), warnings on stderr."""
    fit = _fit_from_args(args)
    if args.plots is not None:
        write_plots(fit, args.plots)
    if args.json:
        sys.stdout.write(json.dumps(fit_to_json(fit, _ddf(args.ddf)), indent=2) + "\n")
    else:
        sys.stdout.write(str(fit.summary(ddf=_ddf(args.ddf))))
    for message in fit.warnings:
        sys.stderr.write(f"warning: {message}\n")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """``mixedmodels report``: fit and write the HTML report; warnings on stderr."""
    from mixedmodels.report import report

    if args.nsim < 2:
        raise CliError("--nsim must be at least 2")
    output = Path(args.output)
    if output.is_dir():
        raise CliError(f"-o {args.output}: is a directory")
    fit = _fit_from_args(args)
    report(fit, output, nsim=args.nsim, seed=args.seed)
    sys.stdout.write(f"wrote {output}\n")
    for message in fit.warnings:
        sys.stderr.write(f"warning: {message}\n")
    return 0


def run_datasets(args: argparse.Namespace) -> int:
    """``mixedmodels datasets``: one line per bundled dataset."""
    table = datasets.list()
    names = [str(n) for n in table.index]
    width = max([len("name")] + [len(n) for n in names])
    lines = [f"{'name'.ljust(width)}  {'nobs':>6}  {'ncol':>4}  description"]
    for name, row in zip(names, table.itertuples(index=False), strict=True):
        lines.append(f"{name.ljust(width)}  {row.nobs:>6}  {row.ncol:>4}  {row.description}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _one_line(exc: BaseException) -> str:
    """An exception as one line: the first line of its message, plus the formula."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if isinstance(exc, FormulaError) and exc.formula is not None and exc.formula not in text:
        text = f"{text} in formula {exc.formula!r}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    handlers = {"fit": run_fit, "report": run_report, "datasets": run_datasets}
    try:
        return handlers[args.command](args)
    except (CliError, MixedModelsError, OSError, ValueError, KeyError,
            pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return EXIT_USAGE
