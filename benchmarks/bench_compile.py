"""First calls with a cold Numba cache: what a user waits for before the first step or answer.

Usage::

    python benchmarks/bench_compile.py [--repeats 2]

Each case runs in a new Python process with an empty Numba cache folder of its own, and
reports the wall time of its first call (compile included; the imports are not counted):

* ``Adam step, n = 1e3`` / ``n = 1e5``: ``numadam.Adam(x).step(g)`` (the serial checked loop;
  the parallel one from ``kernels.PARALLEL_THRESHOLD`` elements);
* ``minimize, jitted objective``: the compiled loop (2-D Rosenbrock, ``njit`` fun and jac);
* ``minimize, compiled=False``: the same objective through the lean loop (a compiled
  generator);
* ``minimize_batch, jitted``: 8 problems of a jitted least-squares fit, after nothing else;
* ``minimize_batch after minimize``: the same batch after one ``minimize`` of the same
  objective in the same process (the batch's run calls minimize's compiled loop);
* ``kernel_ptx(cc=(9, 0))``: every CUDA kernel to PTX (numba-cuda and its NVVM; no GPU).

Run it with ``PYTHONPATH=<another checkout>`` to time another version of numadam the same way.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

SETUP = """
import time
import numpy as np
from numba import njit
import numadam

@njit
def rosen(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

@njit
def rosen_der(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                     200 * (x[1] - x[0] ** 2)])

@njit
def fit(x, t, y):
    return np.sum((x[0] * np.exp(-x[1] * t) - y) ** 2)

@njit
def fit_der(x, t, y):
    e = np.exp(-x[1] * t)
    r = x[0] * e - y
    return np.array([2 * np.sum(r * e), -2 * np.sum(r * x[0] * t * e)])

T = np.tile(np.linspace(0, 1, 20), (8, 1))
Y = np.exp(-T)
X0 = np.ones((8, 2))
# the user's own functions compiled first: only numadam's compile is timed
rosen(np.zeros(2)), rosen_der(np.zeros(2)), fit(X0[0], T[0], Y[0]), fit_der(X0[0], T[0], Y[0])
"""

CASES = {
    "Adam step, n = 1e3": "numadam.Adam(np.zeros(1000), lr=1e-3).step(np.ones(1000))",
    "Adam step, n = 1e5": "numadam.Adam(np.zeros(100_000), lr=1e-3).step(np.ones(100_000))",
    "minimize, jitted objective": (
        "numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der, options={'maxiter': 100})"),
    "minimize, compiled=False": (
        "numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der,"
        " options={'maxiter': 100, 'compiled': False})"),
    "minimize_batch, jitted": (
        "numadam.minimize_batch(fit, X0, jac=fit_der, batch_args=(T, Y),"
        " options={'maxiter': 100})"),
    "minimize_batch after minimize": (
        "numadam.minimize_batch(fit, X0, jac=fit_der, batch_args=(T, Y),"
        " options={'maxiter': 100})"),
    "kernel_ptx(cc=(9, 0))": "import numadam.cuda; numadam.cuda.kernel_ptx(cc=(9, 0))",
}
#: What runs before the timed call, untimed, in the same process.
BEFORE = {
    "minimize_batch after minimize": (
        "numadam.minimize(fit, X0[0], jac=fit_der, args=(T[0], Y[0]), options={'maxiter': 100})"),
}


def first_call(name):
    """Seconds of the first call of case ``name`` in a new process with an empty cache."""
    source = (SETUP + BEFORE.get(name, "") + "\nstart = time.perf_counter()\n" + CASES[name]
              + "\nprint(time.perf_counter() - start)\n")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        # run from the empty folder: from the checkout, ``-c`` would import its numadam
        # whatever PYTHONPATH says
        done = subprocess.run([sys.executable, "-c", source + "print(numadam.__file__)\n"],
                              capture_output=True, text=True, env=env, cwd=cache)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1]}"
    seconds, where = done.stdout.split()[-2:]
    return float(seconds), where


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="new processes per case")
    args = parser.parse_args()
    print(f"{'case (cold Numba cache)':40s} first call, s")
    where = set()
    for name in CASES:
        times = [first_call(name) for _ in range(args.repeats)]
        where.update(t[1] for t in times if not isinstance(t, str))
        text = " / ".join(t if isinstance(t, str) else f"{t[0]:.2f}" for t in times)
        print(f"{name:40s} {text}")
    print("numadam from", ", ".join(sorted(os.path.dirname(path) for path in where)))


if __name__ == "__main__":
    main()
