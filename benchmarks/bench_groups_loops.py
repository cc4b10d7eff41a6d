"""``minimize`` with parameter groups: time per iteration of each loop, in one process.

Usage::

    python benchmarks/bench_groups_loops.py [method ...]

A weighted quadratic in n = 10, 5,000 iterations, three groups by ranges (``lr`` 0.1, 0.01
and the options' 1e-3), beside the same run without groups: a jitted objective (the compiled
loop), a Python one (the lean loop) and a Python one with a callback (the Python loop, which
ran every call with groups before); the best of five runs. Methods: ``adam nadam`` by
default. (The objectives are ``bench_reduction_loops.py``'s.)
"""

from __future__ import annotations

import sys
import time

import numpy as np
from bench_reduction_loops import jitted_fun, jitted_jac, python_fun, python_jac

import numadam

N, MAXITER, RUNS = 10, 5000, 5
GROUPS = [{"range": (0, 3), "lr": 0.1}, {"range": (3, 6), "lr": 0.01}]


def per_iteration(method, fun, jac, options, callback=None):
    """Best of RUNS: seconds per iteration of one minimize call (after a first, compiling)."""
    x0 = np.zeros(N)
    numadam.minimize(fun, x0, jac=jac, method=method, options=options, callback=callback)
    best = np.inf
    for _ in range(RUNS):
        start = time.perf_counter()
        result = numadam.minimize(fun, x0, jac=jac, method=method, options=options,
                                  callback=callback)
        best = min(best, (time.perf_counter() - start) / result.nit)
    return best


def main(methods):
    options = {"lr": 1e-3, "maxiter": MAXITER, "gtol": 0.0, "return_best": False}
    print(f"n = {N}, {MAXITER} iterations, best of {RUNS}; us per iteration")
    print(f"{'method':>8} {'loop':>9} {'no groups':>10} {'3 groups':>9}")
    for method in methods:
        for loop, fun, jac, callback in (
                ("compiled", jitted_fun, jitted_jac, None),
                ("lean", python_fun, python_jac, None),
                ("python", python_fun, python_jac, lambda intermediate_result: None)):
            plain = per_iteration(method, fun, jac, options, callback)
            grouped = per_iteration(method, fun, jac, {**options, "groups": GROUPS}, callback)
            print(f"{method:>8} {loop:>9} {plain * 1e6:10.2f} {grouped * 1e6:9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["adam", "nadam"])
