"""How fast the machine is right now: a dense BLAS kernel and a pure-Python loop.

The benchmark machine is a shared 2-core VM whose speed drifts between sessions and
within one (the same code measured InstEval at 0.47 and 0.64 s, d3 at 2.3 and 4.0 s,
on the same day). Timings of different runs can only be compared together with the
machine's speed at the time, so the suite measures it before and after its models
and records both with the results.

Two figures, as the models' times depend on both:

* ``blas_gflops_1``, ``blas_gflops_all``: LAPACK's Cholesky (``dpotrf``) of a fixed
  1000 x 1000 matrix on one BLAS thread and on all, in GFlop/s (the large models'
  evaluations are mostly such kernels);
* ``python_us``: a fixed loop of interpreter work (integer arithmetic, list and dict
  operations, small numpy calls), in microseconds (the small models' fits are mostly
  interpreter and numpy call overhead).

Each figure is the median of several repetitions.
"""

from __future__ import annotations

import statistics
import time

ORDER = 1000
REPEATS = 9


def _median_seconds(call, repeats: int = REPEATS) -> float:
    call()  # untimed: first-use costs
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cholesky_seconds(a, threads: int | None) -> float:
    from scipy.linalg.lapack import dpotrf
    from threadpoolctl import threadpool_limits

    def one() -> None:
        b = a.copy(order="F")
        _, info = dpotrf(b, lower=1, overwrite_a=1)
        assert info == 0

    if threads is None:
        return _median_seconds(one)
    with threadpool_limits(threads, user_api="blas"):
        return _median_seconds(one)


def _python_loop() -> None:
    import numpy as np

    total, table, items = 0, {}, []
    for i in range(2000):
        total += i * 3 % 7
        table[i & 63] = total
        items.append(total)
    small = np.arange(8.0)
    for _ in range(200):
        small = np.sqrt(small * small + 1.0) - 1.0
    items.sort()


def python_speed() -> float:
    """The Python loop alone, in microseconds (cheap enough to take before each model)."""
    return round(_median_seconds(_python_loop, 21) * 1e6, 1)


def machine_speed() -> dict[str, float]:
    """The machine's speed now: BLAS GFlop/s (one thread, all) and the Python loop."""
    import numpy as np

    rng = np.random.default_rng(20261123)
    r = rng.standard_normal((ORDER, ORDER))
    a = r @ r.T + ORDER * np.eye(ORDER)
    flops = ORDER**3 / 3.0
    return {
        "blas_gflops_1": round(flops / _cholesky_seconds(a, 1) / 1e9, 1),
        "blas_gflops_all": round(flops / _cholesky_seconds(a, None) / 1e9, 1),
        "python_us": python_speed(),
    }


if __name__ == "__main__":
    print(machine_speed())
