"""An objective whose NumPy calls run on BLAS threads, beside numadam's threaded step.

Usage::

    python benchmarks/bench_blas_contention.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_blas_contention.py   # BLAS on one thread

From n = ``kernels.PARALLEL_THRESHOLD`` on, an optimizer's step runs on Numba's thread pool
(OpenMP), and an objective written with NumPy runs its dot products on OpenBLAS's own pool.
Each pool's threads spin for a while after their work, waiting for more, so on a small machine
the two take turns starving each other. The script times one iteration (the objective's value
and gradient, then a step) of a hand-written loop with ``opt.threaded`` True (the default) and
False, and of ``minimize``'s Python loop (which sets it to False), for n = 1e5 and 1e6.
Results in benchmarks/README.md.
"""

from __future__ import annotations

import time

import numpy as np

import numadam


def objective(n):
    a = np.random.default_rng(0).uniform(1, 2, n)

    def fun(x):
        return 0.5 * float(a @ (x * x))  # a BLAS dot product

    def jac(x):
        return a * x

    return fun, jac


def best_per_iteration(run, repeats=3):
    run(5)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        iterations = run(100)
        best = min(best, (time.perf_counter() - start) / iterations)
    return best


def hand_written(n, threaded):
    fun, jac = objective(n)

    def run(iterations):
        x = np.ones(n)
        opt = numadam.Adam(x)
        opt.threaded = threaded
        for _ in range(iterations):
            fun(x)
            opt.step(jac(x))
        return iterations

    return run


def with_minimize(n):
    fun, jac = objective(n)

    def callback(intermediate_result):  # selects the Python loop at every size
        pass

    def run(iterations):
        options = {"maxiter": iterations, "gtol": 0, "ftol": 0, "xtol": 0}
        return numadam.minimize(fun, np.ones(n), jac=jac, method="adam", callback=callback,
                                options=options).nit

    return run


def main():
    print(f"{'n':>7}  {'loop, threaded':>15}  {'loop, not threaded':>18}  {'minimize':>9}  "
          f"threaded / not")
    for n in (10**5, 10**6):
        threaded = best_per_iteration(hand_written(n, True))
        serial = best_per_iteration(hand_written(n, False))
        minimize = best_per_iteration(with_minimize(n))
        print(f"{n:>7.0e}  {threaded * 1e6:>12.0f} us  {serial * 1e6:>15.0f} us  "
              f"{minimize * 1e6:>6.0f} us  {threaded / serial:.1f}x")


if __name__ == "__main__":
    main()
