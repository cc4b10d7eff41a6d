"""2-D Rosenbrock, Adam lr=1e-2, 20,000 iterations: time per iteration, in one process.

Usage::

    python benchmarks/bench_minimize.py

Rows: (a) a hand-written NumPy Adam loop, (b) ``numadam.minimize`` with a Python objective,
(c) ``numadam.minimize`` with a jitted objective (the compiled loop), (c2) the same with
``compiled="specialize"`` and ``njit(cache=True)`` functions, (c3)/(c4) (c)/(c2) with the
gradient written into a buffer (``jac_out=True``), (d) JAX + optax inside
``lax.fori_loop`` when JAX is installed. Each of (a)-(c) is run with SciPy's ``rosen`` /
``rosen_der`` and with a hand-written scalar objective (SciPy's vectorised functions cost
~15 us per call pair on 2-vectors, which would hide the optimizer's own cost). Then the
first-call compile time of the compiled loop, and the wall time of a fresh process (warm Numba
cache) that imports numadam and runs a first ``minimize`` with a Python objective.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit
from scipy.optimize import rosen, rosen_der

import numadam

ITERATIONS = 20_000
LR = 1e-2
X0 = [-1.2, 1.0]


def rosen_scalar(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def rosen_scalar_der(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                     200 * (x[1] - x[0] ** 2)])


rosen_jit = njit(rosen_scalar)
rosen_jit_der = njit(rosen_scalar_der)
#: The same, cached by Numba: compiled="specialize" then caches its loop on disk too.
rosen_cached = njit(cache=True)(rosen_scalar)
rosen_cached_der = njit(cache=True)(rosen_scalar_der)


@njit(cache=True)
def rosen_der_out(x, out):
    """The gradient written into ``out`` (``jac_out=True``)."""
    out[0] = -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2)
    out[1] = 200 * (x[1] - x[0] ** 2)


def numpy_adam_loop(fun, jac, iterations=ITERATIONS, lr=LR, beta1=0.9, beta2=0.999, eps=1e-8):
    """(a): the loop a tutorial writes."""
    x = np.array(X0)
    m, v = np.zeros(2), np.zeros(2)
    for t in range(1, iterations + 1):
        fun(x)
        g = jac(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
    return x


def per_iteration(run, repeats=3):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / ITERATIONS


def numadam_run(fun, jac, **options):
    return lambda: numadam.minimize(fun, X0, jac=jac, method="adam",
                                    options={"lr": LR, "maxiter": ITERATIONS, **options})


def jax_row():
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def f(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    optimizer = optax.adam(LR)

    @jax.jit
    def run(x):
        def body(_, carry):
            x, state = carry
            updates, state = optimizer.update(jax.grad(f)(x), state)
            return optax.apply_updates(x, updates), state
        return jax.lax.fori_loop(0, ITERATIONS, body, (x, optimizer.init(x)))[0]

    x0 = jnp.array(X0)
    start = time.perf_counter()
    run(x0).block_until_ready()
    compile_seconds = time.perf_counter() - start
    seconds = per_iteration(lambda: run(x0).block_until_ready())
    return seconds, compile_seconds


STARTUP = """
import time
start = time.perf_counter()
import numpy as np
import numadam
def f(x): return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
def g(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                     200 * (x[1] - x[0] ** 2)])
numadam.minimize(f, [-1.2, 1.0], jac=g, options={"lr": 1e-2, "maxiter": 100})
print(time.perf_counter() - start)
"""


#: A fresh process's time to the answer with a jitted objective (the user's functions with
#: cache=True, as a user who runs a script twice has them), after the imports.
FRESH_NUMADAM = """
import time
import numpy as np
from numba import njit
import numadam
start = time.perf_counter()
@njit(cache=True)
def f(x): return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
@njit(cache=True)
def g(x):
    out = np.empty(2)
    out[0] = -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2)
    out[1] = 200 * (x[1] - x[0] ** 2)
    return out
r = numadam.minimize(f, [-1.2, 1.0], jac=g, options={"lr": 1e-2, "maxiter": 20000})
assert r.compiled
print(time.perf_counter() - start)
"""

#: The same with compiled="specialize": the loop compiled for f and g, loaded from the disk.
FRESH_SPECIALIZED = FRESH_NUMADAM.replace('"maxiter": 20000}', '"maxiter": 20000, '
                                          '"compiled": "specialize"}')

FRESH_JAX = """
import time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import optax
start = time.perf_counter()
def f(x): return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
optimizer = optax.adam(1e-2)
@jax.jit
def run(x):
    def body(_, carry):
        x, state = carry
        updates, state = optimizer.update(jax.grad(f)(x), state)
        return optax.apply_updates(x, updates), state
    return jax.lax.fori_loop(0, 20000, body, (x, optimizer.init(x)))[0]
run(jnp.array([-1.2, 1.0])).block_until_ready()
print(time.perf_counter() - start)
"""


def fresh_process(script, runs=3):
    """Best time to the answer over ``runs`` new processes (the first warms the caches), as
    ``(after the imports, from the interpreter's start)``: the script prints the first, the
    second is the wall time of the whole process. The script runs from a file: Numba caches
    only functions that live in one."""
    # one folder per script for every run of the benchmark: the loop numadam caches for the
    # script's functions (compiled="specialize") is then replaced, not added to, by the next run
    folder = Path(tempfile.gettempdir()) / "numadam_bench_minimize"
    folder.mkdir(exist_ok=True)
    path = folder / f"fresh_{hashlib.sha256(script.encode()).hexdigest()[:8]}.py"
    path.write_text(script)
    subprocess.run([sys.executable, str(path)], check=True, capture_output=True)
    inside, whole = [], []
    for _ in range(runs):
        start = time.perf_counter()
        printed = subprocess.run([sys.executable, str(path)], check=True,
                                 capture_output=True, text=True).stdout
        whole.append(time.perf_counter() - start)
        inside.append(float(printed))
    return min(inside), min(whole)


def main():
    rows = []
    for label, fun, jac in (("scipy rosen/rosen_der", rosen, rosen_der),
                            ("hand-written scalar objective", rosen_scalar, rosen_scalar_der)):
        baseline = per_iteration(lambda f=fun, j=jac: numpy_adam_loop(f, j))
        rows.append((f"(a) NumPy Adam loop, {label}", baseline, baseline))
        rows.append((f"(b) numadam.minimize, {label}", per_iteration(numadam_run(fun, jac)),
                     baseline))
    scalar_baseline = rows[2][1]

    start = time.perf_counter()
    numadam_run(rosen_jit, rosen_jit_der)()
    compile_seconds = time.perf_counter() - start
    compiled = per_iteration(numadam_run(rosen_jit, rosen_jit_der))
    rows.append(("(c) numadam.minimize, jitted objective (compiled loop)", compiled,
                 scalar_baseline))
    numadam_run(rosen_cached, rosen_cached_der, compiled="specialize")()  # compiled or loaded
    specialized = per_iteration(numadam_run(rosen_cached, rosen_cached_der,
                                            compiled="specialize"))
    rows.append(("(c2) the same, compiled='specialize' (cache=True)", specialized,
                 scalar_baseline))
    numadam_run(rosen_cached, rosen_der_out, jac_out=True)()
    rows.append(("(c3) (c), gradient written (jac_out)",
                 per_iteration(numadam_run(rosen_cached, rosen_der_out, jac_out=True)),
                 scalar_baseline))
    numadam_run(rosen_cached, rosen_der_out, jac_out=True, compiled="specialize")()
    rows.append(("(c4) (c2), gradient written (jac_out)",
                 per_iteration(numadam_run(rosen_cached, rosen_der_out, jac_out=True,
                                           compiled="specialize")), scalar_baseline))
    jax = jax_row()
    if jax is not None:
        rows.append(("(d) JAX + optax, lax.fori_loop", jax[0], scalar_baseline))

    print(f"2-D Rosenbrock, Adam lr={LR}, {ITERATIONS} iterations (best of 3)")
    print(f"{'':58} {'us/iter':>9} {'speed-up vs (a)':>16}")
    for label, seconds, baseline in rows:
        print(f"{label:58} {seconds * 1e6:9.3f} {baseline / seconds:15.1f}x")
    print(f"\ncompiled loop, first call (compile + run): {compile_seconds:.2f} s")
    if jax is not None:
        print(f"JAX first call (compile + run): {jax[1]:.2f} s")
        print(f"compiled loop vs JAX per iteration: {jax[0] / compiled:.2f}x, "
              f"specialized: {jax[0] / specialized:.2f}x")
    subprocess.run([sys.executable, "-c", STARTUP], check=True, capture_output=True)  # warm
    start = time.perf_counter()
    inside = float(subprocess.run([sys.executable, "-c", STARTUP], check=True,
                                  capture_output=True, text=True).stdout)
    whole = time.perf_counter() - start
    print(f"fresh process, warm Numba cache: import numadam + first minimize (Python "
          f"objective): {inside:.2f} s inside the process, {whole:.2f} s with interpreter start")
    ours = fresh_process(FRESH_NUMADAM)
    specialized = fresh_process(FRESH_SPECIALIZED)
    print("fresh process, jitted objective (cache=True), 20,000 iterations, time to the answer, "
          "s (after the imports / from the interpreter's start):")
    print(f"  numadam                         {ours[0]:.3f} / {ours[1]:.3f}")
    print(f"  numadam, compiled='specialize'  {specialized[0]:.3f} / {specialized[1]:.3f}")
    try:
        import jax  # noqa: F401
    except ImportError:
        return
    theirs = fresh_process(FRESH_JAX)
    print(f"  JAX + optax                     {theirs[0]:.3f} / {theirs[1]:.3f}")
    print(f"  numadam / JAX                   {ours[0] / theirs[0]:.2f} / "
          f"{ours[1] / theirs[1]:.2f}")
    print(f"  specialized / JAX               {specialized[0] / theirs[0]:.2f} / "
          f"{specialized[1] / theirs[1]:.2f}")


if __name__ == "__main__":
    main()
