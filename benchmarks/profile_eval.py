"""Time (and optionally profile) one objective evaluation of a benchmark model.

Usage::

    python benchmarks/profile_eval.py d3 [--repeats 15] [--profile] [--theta 0.5,0.1,...]
        [--threads 1]

The model is built once (no fit); ``objective(theta)`` is timed at a fixed theta
(default: a theta off the start, 0.7 on the template diagonals, 0.1 below them) under
the same BLAS thread limit as a fit (or ``--threads``). Prints the median, minimum and
maximum in ms; ``--profile`` adds a cProfile listing. On a shared machine compare
versions with ``--threads 1`` and alternate the runs.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))

from models import BY_NAME  # noqa: E402

import mixedmodels as mm  # noqa: E402


def build(name: str) -> mm.LinearMixedModel:
    bench = BY_NAME[name]
    data = bench.data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.LinearMixedModel.from_formula(bench.formula, data, reml=bench.reml)


def default_theta(model: mm.LinearMixedModel) -> np.ndarray:
    return np.where(np.isfinite(model.lower), 0.7, 0.1)


def time_evals(model: mm.LinearMixedModel, theta: np.ndarray, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.objective(theta)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--theta", default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads (default: as during a fit)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    model = build(args.name)
    print(f"built in {time.perf_counter() - t0:.2f} s; structure:")
    for line in model._chol.describe():
        print("  ", line)
    theta = (default_theta(model) if args.theta is None
             else np.array([float(v) for v in args.theta.split(",")]))
    limit = (model.blas_threads() if args.threads is None
             else threadpool_limits(args.threads, user_api="blas"))
    with limit:
        print(f"objective {model.objective(theta):.10f}")
        ms = time_evals(model, theta, args.repeats)
        print(f"{args.name}: median {statistics.median(ms):.2f} ms  "
              f"min {min(ms):.2f}  max {max(ms):.2f}  ({args.repeats} evaluations)")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            time_evals(model, theta, max(3, args.repeats // 3))
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
