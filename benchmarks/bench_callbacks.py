"""What observing a ``minimize`` run costs: µs per iteration with no callback, an empty one,
``numadam.callbacks.History`` (every iteration and every 10th) and ``CSVLogger``, and what
``result.state`` adds to a call. All rows in one process, interleaved, best of 5.

Usage::

    python benchmarks/bench_callbacks.py

2-D Rosenbrock written by hand (a cheap objective: SciPy's ``rosen`` alone costs ~15 µs a call
pair on 2-vectors), Adam lr = 1e-3, 20,000 iterations. Without a callback ``minimize`` runs its
lean loop; any callback runs the Python loop, which builds ``intermediate_result`` (copies of
``x`` and ``jac``, ``nit``, ``lr``, ``grad_norm``) every iteration.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

import numadam
from numadam.callbacks import CSVLogger, History

ITERATIONS = 20_000
EMPTY = "(b) empty callback (Python loop)"
X0 = np.array([-1.2, 1.0])


def rosen(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def rosen_der(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                     200 * (x[1] - x[0] ** 2)])


def empty(intermediate_result):
    pass


def run(callback):
    start = time.perf_counter()
    numadam.minimize(rosen, X0, jac=rosen_der, callback=callback,
                     options={"lr": 1e-3, "maxiter": ITERATIONS})
    return (time.perf_counter() - start) / ITERATIONS


def main():
    folder = tempfile.mkdtemp()
    rows = {"(a) no callback (lean loop)": lambda: None,
            EMPTY: lambda: empty,
            "(c) History()": History,
            "(d) History(every=10)": lambda: History(every=10),
            "(e) CSVLogger(path, every=10)": lambda: CSVLogger(os.path.join(folder, "r.csv"),
                                                               every=10)}
    best = dict.fromkeys(rows, np.inf)
    run(None)
    for _ in range(5):
        for label, make in rows.items():
            callback = make()
            best[label] = min(best[label], run(callback))
            if isinstance(callback, CSVLogger):
                callback.close()
    print(f"2-D Rosenbrock, Adam, {ITERATIONS} iterations (best of 5, interleaved)")
    print(f"{'':36} {'us/iter':>8} {'vs (b)':>8}")
    for label, seconds in best.items():
        print(f"{label:36} {seconds * 1e6:8.2f} {(seconds - best[EMPTY]) * 1e6:+8.2f}")
    optimizer = numadam.Adam(np.zeros(2))
    start, calls = time.perf_counter(), 20_000
    for _ in range(calls):
        optimizer.state_dict()
    print(f"\nresult.state (state_dict of a 2-D Adam) per minimize call: "
          f"{(time.perf_counter() - start) / calls * 1e6:.2f} us")


if __name__ == "__main__":
    main()
