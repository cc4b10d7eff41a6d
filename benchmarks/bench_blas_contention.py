"""``minimize`` with a NumPy objective whose BLAS runs threaded, beside numadam's threaded step.

Usage::

    python benchmarks/bench_blas_contention.py            # as the process is configured
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_blas_contention.py
    OMP_WAIT_POLICY=passive python benchmarks/bench_blas_contention.py

From n = ``kernels.PARALLEL_THRESHOLD`` on, the optimizer's step runs on Numba's thread pool
(OpenMP), and an objective written with NumPy runs its dot products on OpenBLAS's own pool.
Each pool's threads spin for a while after their work, waiting for more, so on a small machine
the two take turns starving each other. The script times one ``minimize`` iteration (Python
loop, a callback that does nothing) with the step on all threads and with the serial step
(``PARALLEL_THRESHOLD`` raised in this process), for n = 1e5 and 1e6; the ratio is the cost of
the contention. Results in benchmarks/README.md.
"""

from __future__ import annotations

import time

import numpy as np

import numadam
from numadam import kernels


def per_iteration(n, iterations=100, repeats=3):
    """Best time per iteration of an Adam ``minimize`` run on a diagonal quadratic."""
    a = np.random.default_rng(0).uniform(1, 2, n)

    def fun(x):
        return 0.5 * float(a @ (x * x))  # a BLAS dot product

    def jac(x):
        return a * x

    def callback(intermediate_result):  # selects the Python loop at every size
        pass

    options = {"maxiter": iterations, "gtol": 0, "ftol": 0, "xtol": 0}
    numadam.minimize(fun, np.ones(n), jac=jac, method="adam", callback=callback,
                     options=dict(options, maxiter=5))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = numadam.minimize(fun, np.ones(n), jac=jac, method="adam", callback=callback,
                                  options=options)
        best = min(best, (time.perf_counter() - start) / result.nit)
    return best


def main():
    threshold = kernels.PARALLEL_THRESHOLD
    print(f"{'n':>9}  {'threaded step':>14}  {'serial step':>12}  threaded / serial")
    for n in (10**5, 10**6):
        kernels.PARALLEL_THRESHOLD = threshold
        threaded = per_iteration(n)
        kernels.PARALLEL_THRESHOLD = 10**18
        serial = per_iteration(n)
        kernels.PARALLEL_THRESHOLD = threshold
        print(f"{n:>9.0e}  {threaded * 1e6:>11.0f} us  {serial * 1e6:>9.0f} us  "
              f"{threaded / serial:.1f}x")


if __name__ == "__main__":
    main()
