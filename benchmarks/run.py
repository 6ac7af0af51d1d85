"""Benchmark suite: our fits, lme4's and statsmodels' on the same data in the same run.

Usage (from the repository root)::

    python benchmarks/run.py                      # every model, lme4 where R is present
    python benchmarks/run.py sleepstudy insteval  # some models
    python benchmarks/run.py --markdown BENCHMARKS.md --json benchmarks/results.json

Each model runs in its own process (so peak memory is its own): the data are generated
(seeded) or loaded, the model is fitted ``repeats`` times (after one untimed warm-up fit
where it is fitted more than once: the first call in a process pays for first-use
costs, lme4's as much as ours; lme4 gets the same warm-up and as many timed fits), and
the median wall time, the objective evaluations, the time per evaluation (measured at
the optimum) and the peak resident memory of the process are reported. When Rscript
with lme4 is installed, lme4 fits the same data (written to a temporary CSV) in the
same run and the ratio of median times is reported; statsmodels' MixedLM likewise
where it can express the model and is installed (with a time cap).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

STATSMODELS_CAP_S = 300
LME4_CAP_S = 1800


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(name: str, csv: str | None) -> dict:
    """Fit one benchmark model in this process and return its measurements."""
    import numpy as np
    from models import BY_NAME

    import mixedmodels as mm

    bench = BY_NAME[name]
    data = bench.data()
    if csv:
        data.to_csv(csv, index=False)
    rss_data = _peak_rss_mb()
    times, fit = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if bench.repeats > 1:
            mm.lmer(bench.formula, data, reml=bench.reml)  # warm-up, untimed
        for _ in range(bench.repeats):
            t0 = time.perf_counter()
            fit = mm.lmer(bench.formula, data, reml=bench.reml)
            times.append(time.perf_counter() - t0)
    # alternately at the optimum and next to it: the model does not factor again at
    # the theta its factor holds
    thetas = [fit.theta, fit.theta * (1.0 + 1e-6)]

    def timed(call: Callable[[np.ndarray], object]) -> list[float]:
        out = []
        for k in range(6):
            t0 = time.perf_counter()
            call(thetas[k % 2])
            out.append(time.perf_counter() - t0)
        return out

    with fit.model.blas_threads():  # as during the fit
        evals = timed(fit.model.objective)
        grads = timed(fit.model.objective_gradient) if fit.optsummary.ngrad else []
    return {
        "name": name,
        "nobs": fit.nobs,
        "ntheta": len(fit.theta),
        "seconds": statistics.median(times),
        "feval": fit.optsummary.feval,
        "ms_per_eval": 1000 * float(np.median(evals)),
        "ngrad": fit.optsummary.ngrad,
        "ms_per_gradient": 1000 * float(np.median(grads)) if grads else None,
        "objective": fit.objective,
        "converged": fit.converged,
        "peak_rss_mb": _peak_rss_mb(),
        "data_rss_mb": rss_data,
        "factors": [c for c in data.columns
                    if str(data[c].dtype) in ("category", "object", "str", "string")
                    or c in {t for term in fit.model.reterms for t in term.group}],
    }


def statsmodels_worker(name: str) -> dict:
    import statsmodels.formula.api as smf
    from models import BY_NAME

    bench = BY_NAME[name]
    data = bench.data()
    fixed, group, re_formula = bench.statsmodels
    t0 = time.perf_counter()
    model = smf.mixedlm(fixed, data, groups=data[group], re_formula=re_formula)
    result = model.fit(reml=bench.reml)
    seconds = time.perf_counter() - t0
    objective = -2.0 * result.llf
    return {"seconds": seconds, "objective": objective}


def run_one(name: str, use_lme4: bool, use_statsmodels: bool) -> dict:
    from models import BY_NAME

    bench = BY_NAME[name]
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(Path(tmp) / "data.csv") if use_lme4 and bench.lme4 else None
        cmd = [sys.executable, __file__, "--worker", name] + (["--csv", csv] if csv else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["reference"] = bench.reference
        if csv:
            cmd = ["Rscript", str(HERE / "lme4_time.R"), csv, bench.formula,
                   "TRUE" if bench.reml else "FALSE", str(bench.repeats),
                   ",".join(result["factors"]), "1" if bench.repeats > 1 else "0"]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                   timeout=LME4_CAP_S)
                lme4 = json.loads(r.stdout.strip().splitlines()[-1])
                result["lme4"] = lme4
                result["ratio_lme4"] = lme4["seconds"] / result["seconds"]
            except (subprocess.SubprocessError, json.JSONDecodeError) as exc:
                result["lme4"] = {"error": type(exc).__name__}
    if use_statsmodels and bench.statsmodels is not None:
        cmd = [sys.executable, __file__, "--statsmodels-worker", name]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, check=True,
                               timeout=STATSMODELS_CAP_S)
            sm = json.loads(r.stdout.strip().splitlines()[-1])
            result["statsmodels"] = sm
            result["ratio_statsmodels"] = sm["seconds"] / result["seconds"]
        except subprocess.TimeoutExpired:
            result["statsmodels"] = {"error": f"over {STATSMODELS_CAP_S} s"}
        except (subprocess.SubprocessError, json.JSONDecodeError) as exc:
            result["statsmodels"] = {"error": type(exc).__name__}
    return result


def machine() -> dict:
    import nlopt
    import numpy as np
    import scipy

    import mixedmodels

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "nlopt": nlopt.__version__ if hasattr(nlopt, "__version__") else "?",
        "mixedmodels": mixedmodels.__version__,
    }


def _fmt_time(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def _fmt_ms(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.2f}"


def _fmt_speed(speed: dict | None) -> str:
    if not speed:
        return "-"
    return (f"BLAS {speed['blas_gflops_1']:.1f} / {speed['blas_gflops_all']:.1f} GFlop/s "
            f"(1 / all threads), Python loop {speed['python_us']:.0f} us")


def markdown(results: list[dict], info: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), Python "
        f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, mixedmodels "
        f"{info['mixedmodels']}; lme4 {results[0].get('lme4', {}).get('version', '-')} in "
        "the same run. Regenerate with `python benchmarks/run.py --markdown BENCHMARKS.md`.",
        "",
        f"Machine speed (benchmarks/calibrate.py) before the first model: "
        f"{_fmt_speed(info.get('speed_before'))}; after the last: "
        f"{_fmt_speed(info.get('speed_after'))}.",
        "",
        "The Python loop's time just before each model (us) is in the last column: the",
        "machine's speed at the time of that model's fits.",
        "",
        "| model | n | theta | time | evals | of them gradients | ms/eval | ms/gradient | "
        "peak RSS | lme4 | x lme4 | objective - lme4's | MixedModels.jl (published) | "
        "Python loop |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lme4 = r.get("lme4", {})
        lt = _fmt_time(lme4["seconds"]) if "seconds" in lme4 else lme4.get("error", "-")
        ratio = f"{r['ratio_lme4']:.1f}" if "ratio_lme4" in r else "-"
        diff = f"{r['objective'] - lme4['objective']:.2e}" if "objective" in lme4 else "-"
        lines.append(
            f"| {r['name']} | {r['nobs']:,} | {r['ntheta']} | {_fmt_time(r['seconds'])} | "
            f"{r['feval']} | {r['ngrad']} | {r['ms_per_eval']:.2f} | "
            f"{_fmt_ms(r['ms_per_gradient'])} | {r['peak_rss_mb']:.0f} MB | {lt} | "
            f"{ratio} | {diff} | {r['reference'] or '-'} | "
            f"{r.get('python_us_before', '-')} |"
        )
    sm = [r for r in results if "statsmodels" in r]
    if sm:
        lines += ["", "statsmodels MixedLM (same data, same run):", "",
                  "| model | statsmodels | x statsmodels | objective - ours |",
                  "|---|---|---|---|"]
        for r in sm:
            s = r["statsmodels"]
            if "seconds" in s:
                lines.append(f"| {r['name']} | {_fmt_time(s['seconds'])} | "
                             f"{r['ratio_statsmodels']:.1f} | "
                             f"{s['objective'] - r['objective']:.2e} |")
            else:
                lines.append(f"| {r['name']} | {s['error']} | - | - |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from models import BENCHMARKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models to run (default: all)")
    parser.add_argument("--no-lme4", action="store_true")
    parser.add_argument("--statsmodels", action="store_true")
    parser.add_argument("--markdown", help="write a BENCHMARKS.md table here")
    parser.add_argument("--json", help="write all measurements here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--statsmodels-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.csv)))
        return
    if args.statsmodels_worker:
        print(json.dumps(statsmodels_worker(args.statsmodels_worker)))
        return
    names = args.names or [b.name for b in BENCHMARKS]
    use_lme4 = not args.no_lme4 and shutil.which("Rscript") is not None
    from calibrate import machine_speed, python_speed

    before = machine_speed()
    print(f"machine speed before: {_fmt_speed(before)}", flush=True)
    results = []

    def write(info: dict) -> None:
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": info, "results": results},
                                                  indent=2))
        if args.markdown:
            Path(args.markdown).write_text(markdown(results, info))

    for name in names:
        speed = python_speed()  # the machine drifts within a run: recorded per model
        r = run_one(name, use_lme4, args.statsmodels)
        r["python_us_before"] = speed
        results.append(r)
        extra = f"  lme4 x{r['ratio_lme4']:.1f}" if "ratio_lme4" in r else ""
        print(f"{name:16s} {_fmt_time(r['seconds']):>10s}  {r['feval']:4d} evals "
              f"({r['ngrad']} gradients)  {r['ms_per_eval']:8.2f} ms/eval  "
              f"{_fmt_ms(r['ms_per_gradient']):>8s} ms/gradient  "
              f"{r['peak_rss_mb']:7.0f} MB{extra}  (Python loop {speed:.0f} us before)",
              flush=True)
        # written after every model, so a long run that is stopped keeps what it measured
        write({**machine(), "speed_before": before})
    after = machine_speed()
    print(f"machine speed after: {_fmt_speed(after)}", flush=True)
    write({**machine(), "speed_before": before, "speed_after": after})


if __name__ == "__main__":
    main()
