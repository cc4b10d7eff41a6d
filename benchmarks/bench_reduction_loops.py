"""``minimize`` with the rules that have a reduction stage: time per iteration, in one process.

Usage::

    python benchmarks/bench_reduction_loops.py [method ...]

A weighted quadratic in n = 10, 5,000 iterations, each method at its defaults, with a jitted
objective (the compiled loop) and with a Python one (the lean loop); the best of five runs.
Methods: ``prodigy dadapt_adam dog adafactor`` by default. To compare two checkouts, run it
with ``PYTHONPATH=<checkout>`` for each.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from numba import njit

import numadam

N, MAXITER, RUNS = 10, 5000, 5


@njit(cache=True)
def jitted_fun(x):
    return np.sum(np.arange(1.0, x.size + 1) * (x - 1.0) ** 2)


@njit(cache=True)
def jitted_jac(x):
    return 2.0 * np.arange(1.0, x.size + 1) * (x - 1.0)


def python_fun(x):
    return float(np.sum(np.arange(1.0, x.size + 1) * (x - 1.0) ** 2))


def python_jac(x):
    return 2.0 * np.arange(1.0, x.size + 1) * (x - 1.0)


def per_iteration(method, fun, jac):
    """Seconds per iteration, the best of RUNS runs after one that compiles."""
    options = {"maxiter": MAXITER}
    numadam.minimize(fun, np.zeros(N), jac=jac, method=method, options=options)
    best = np.inf
    for _ in range(RUNS):
        start = time.perf_counter()
        result = numadam.minimize(fun, np.zeros(N), jac=jac, method=method, options=options)
        best = min(best, (time.perf_counter() - start) / max(result.nit, 1))
    return best


def main():
    methods = sys.argv[1:] or ["prodigy", "dadapt_adam", "dog", "adafactor"]
    print(f"{'method':12} {'jitted objective':>18} {'Python objective':>18}")
    for method in methods:
        jitted = per_iteration(method, jitted_fun, jitted_jac)
        python = per_iteration(method, python_fun, python_jac)
        print(f"{method:12} {jitted * 1e6:15.2f} us {python * 1e6:15.2f} us")


if __name__ == "__main__":
    main()
