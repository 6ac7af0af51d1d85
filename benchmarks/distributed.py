"""Benchmark: an exact fit of Parquet data larger than this process's memory budget.

Simulates ``y ~ x1 + x2 + (1|g1) + (1|g2)`` (g1: 100,000 levels, g2: 1,000 levels,
crossed at random) in Parquet files written chunk by chunk (never all rows at once),
then fits it as ``mm.lmer(formula, "dir/*.parquet", reml=False)`` does (building A in
two passes over the files, then optimising on A) on Dask's default threaded scheduler
(or a LocalCluster with ``--workers``). Reports the wall time of the fit (and of its two
steps), the peak resident memory of this (the client) process, the storage of the
factor's blocks and the estimates beside the simulation's values; the generation runs
in a child process and is not counted. ``--skip-generate`` reuses the files in ``--dir``.

Usage::

    python benchmarks/distributed.py --rows 50000000 --dir /tmp/mm-bench
    python benchmarks/distributed.py --rows 5000000 --dir /tmp/mm-bench-5m --workers 2
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FORMULA = "y ~ x1 + x2 + (1|g1) + (1|g2)"
LEVELS = (100_000, 1_000)
SD = {"g1": 0.8, "g2": 0.5, "residual": 1.0}
BETA = (1.0, 0.5, -0.3)


def generate(rows: int, folder: Path, chunk: int, seed: int) -> None:
    """Write ``rows`` simulated rows as Parquet files of ``chunk`` rows each."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    effects = np.random.default_rng(seed)
    b1 = SD["g1"] * effects.standard_normal(LEVELS[0])
    b2 = SD["g2"] * effects.standard_normal(LEVELS[1])
    for i, start in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - start)
        rng = np.random.default_rng([seed, i])
        g1 = rng.integers(0, LEVELS[0], n, dtype=np.int32)
        g2 = rng.integers(0, LEVELS[1], n, dtype=np.int32)
        x1 = rng.standard_normal(n)
        x2 = rng.uniform(-1.0, 1.0, n)
        y = (BETA[0] + BETA[1] * x1 + BETA[2] * x2 + b1[g1] + b2[g2]
             + SD["residual"] * rng.standard_normal(n))
        table = pa.table({"y": y, "x1": x1, "x2": x2, "g1": g1, "g2": g2})
        pq.write_table(table, folder / f"part-{i:05d}.parquet")


def peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fit(folder: Path, workers: int) -> dict:
    import dask
    import pyarrow
    import scipy

    import mixedmodels as mm
    from mixedmodels.distributed import model_from_formula

    client = None
    if workers:
        from dask.distributed import Client, LocalCluster

        client = Client(LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                     dashboard_address=None))
    # mm.lmer(FORMULA, path, reml=False) in its two steps, timed apart
    start = time.perf_counter()
    model = model_from_formula(FORMULA, str(folder / "*.parquet"), reml=False)
    built = time.perf_counter()
    build_rss = peak_rss_mib()
    result = model.fit()
    seconds = time.perf_counter() - start
    out = {
        "formula": FORMULA,
        "nobs": result.nobs,
        "ngroups": result.ngroups,
        "partitions": result.model.data.npartitions,
        "fit_seconds": round(seconds, 1),
        "build_seconds": round(built - start, 1),
        "optimise_seconds": round(seconds - (built - start), 1),
        "client_peak_rss_mib": round(peak_rss_mib(), 1),
        "client_peak_rss_mib_building": round(build_rss, 1),
        "storage": model._chol.describe(),
        "objective": result.objective,
        "fixef": result.fixef.round(5).to_dict(),
        "sd": result.varcorr.to_frame()["sdcor"].round(5).tolist(),
        "truth": {"fixef": list(BETA), "sd": [SD["g1"], SD["g2"], SD["residual"]]},
        "evaluations": result.optsummary.feval,
        "warnings": list(result.warnings),
        "scheduler": f"LocalCluster({workers} processes)" if workers else "threads (default)",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__, "pyarrow": pyarrow.__version__,
                     "dask": dask.__version__, "mixedmodels": mm.__version__},
    }
    if client is not None:
        client.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mm-distributed-bench"))
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--workers", type=int, default=0,
                        help="LocalCluster worker processes (0: threaded scheduler)")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--skip-generate", action="store_true")
    args = parser.parse_args(argv)
    if args.generate_only:
        generate(args.rows, args.dir, args.chunk, args.seed)
        return
    if not args.skip_generate:
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate-only", "--rows", str(args.rows),
                        "--chunk", str(args.chunk), "--dir", str(args.dir),
                        "--seed", str(args.seed)], check=True)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
    print(json.dumps(fit(args.dir, args.workers), indent=1))


if __name__ == "__main__":
    main()
