"""B = 20,000 small curve fits: ``numadam.minimize_batch`` beside a SciPy loop and JAX ``vmap``.

Usage::

    python benchmarks/bench_batch.py                     # B = 20,000; SciPy on a 2,000 subset
    python benchmarks/bench_batch.py --quick             # B = 2,000 (SciPy on all of them)
    python benchmarks/bench_batch.py --scipy-subset 0    # SciPy on every problem (slow)

Problem b fits ``a*exp(-k*t)`` to 16 samples on t in [0, 2] with Gaussian noise 0.01
(a ~ U(0.5, 2), k ~ U(0.5, 3), seed 0), loss 0.5 * sum of squared residuals, from x0 = (1, 1),
Adam lr 0.05, gtol 1e-5, maxiter 3000. Rows:

(1) ``minimize_batch`` jitted form: ``@njit`` fun and jac of ``(x, t_row, y_row)`` written with
    array expressions, ``batch_args=(T, Y)`` (the whole run compiled, problems over the cores);
(1b) the same with the objective written as scalar loops (what the objective itself costs);
(1c) value and gradient in one scalar-loop function, ``jac=True`` (one call per iteration);
(1d) the same writing the gradient into the array it is given (``jac_out=True``: no
    allocation per iteration);
(1e) (1d) compiled with ``njit(fastmath=True)``, as a Numba user tunes a hot objective (its
    sums reassociated; the optimizer's own arithmetic is untouched, and the run still equals
    ``minimize`` with the same function bitwise);
(2) ``minimize_batch`` vectorized form: NumPy fun/jac on the active problems' (B', n) rows;
(3) ``scipy.optimize.minimize(method="L-BFGS-B", jac=...)`` per problem in a Python loop, with
    the jitted fun/jac of (1) (its fastest objective here); on a subset, scaled linearly to B;
(4) JAX + optax.adam, ``jax.vmap`` of a ``lax.fori_loop`` of 3000 fixed steps under ``jit``,
    float64, when JAX is installed;
(4b) the same with ``lax.while_loop`` stopping at gtol (under ``vmap`` every problem runs
    until the slowest one stops): for information, not a target row.

Wall times are the best of ``--repeats`` runs, and of as many more as fill ``MIN_SECONDS`` per
row, after a warm-up (the median is printed too); the first call, compile included, is
reported separately for the compiled rows. Accuracy is the
median of |k - k_true| / k_true; "err. (1)/row" divides numadam (1)'s by the row's, on the
same problems (the SciPy subset for row (3)). Targets: at least 10x faster than (3) and than
(4), at the same median accuracy within 5%; the verdict is printed for every numadam row.
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np
import scipy
from numba import njit
from scipy.optimize import minimize

import numadam

B_FULL = 20_000
B_QUICK = 2_000
SAMPLES = 16
NOISE = 0.01
SEED = 0
LR = 0.05
GTOL = 1e-5
MAXITER = 3000
OPTIONS = {"lr": LR, "gtol": GTOL, "maxiter": MAXITER}
TARGET_SPEEDUP = 10.0
TARGET_ACCURACY = 0.05


def problems(B, seed=SEED):
    """``(T, Y, k_true)``: the sample times and noisy values of B fits, one row per problem."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, B)
    k = rng.uniform(0.5, 3.0, B)
    T = np.tile(np.linspace(0.0, 2.0, SAMPLES), (B, 1))
    Y = a[:, None] * np.exp(-k[:, None] * T) + NOISE * rng.standard_normal((B, SAMPLES))
    return T, Y, k


# -- (1) jitted form: one problem's row -----------------------------------------------------------


@njit
def fun(x, t, y):
    r = x[0] * np.exp(-x[1] * t) - y
    return 0.5 * np.sum(r * r)


@njit
def jac(x, t, y):
    e = np.exp(-x[1] * t)
    r = x[0] * e - y
    g = np.empty(2)
    g[0] = np.sum(r * e)
    g[1] = -x[0] * np.sum(r * t * e)
    return g


# -- (1b) the same objective as scalar loops ------------------------------------------------------


@njit
def fun_loops(x, t, y):
    total = 0.0
    for i in range(t.shape[0]):
        r = x[0] * np.exp(-x[1] * t[i]) - y[i]
        total += r * r
    return 0.5 * total


@njit
def jac_loops(x, t, y):
    g0 = 0.0
    g1 = 0.0
    for i in range(t.shape[0]):
        e = np.exp(-x[1] * t[i])
        r = x[0] * e - y[i]
        g0 += r * e
        g1 -= r * t[i] * e
    g = np.empty(2)
    g[0] = g0
    g[1] = x[0] * g1
    return g


@njit
def value_and_grad_loops(x, t, y):
    """(1c): the value and the gradient in one pass (``jac=True``), as ``jax.grad`` shares the
    exponentials between them."""
    total = 0.0
    g0 = 0.0
    g1 = 0.0
    for i in range(t.shape[0]):
        e = np.exp(-x[1] * t[i])
        r = x[0] * e - y[i]
        total += r * r
        g0 += r * e
        g1 -= r * t[i] * e
    g = np.empty(2)
    g[0] = g0
    g[1] = x[0] * g1
    return 0.5 * total, g


@njit
def value_and_grad_out(x, t, y, out):
    """(1d): (1c) writing the gradient into ``out`` (``jac_out=True``)."""
    total = 0.0
    g0 = 0.0
    g1 = 0.0
    for i in range(t.shape[0]):
        e = np.exp(-x[1] * t[i])
        r = x[0] * e - y[i]
        total += r * r
        g0 += r * e
        g1 -= r * t[i] * e
    out[0] = g0
    out[1] = x[0] * g1
    return 0.5 * total


#: (1e): the same source, compiled allowing reassociation (the three sums interleave)
value_and_grad_fast = njit(fastmath=True)(value_and_grad_out.py_func)


# -- (2) vectorized form: the active problems' rows at once ---------------------------------------


def fun_rows(X, T, Y):
    R = X[:, :1] * np.exp(-X[:, 1:] * T) - Y
    return 0.5 * np.einsum("ij,ij->i", R, R)


def jac_rows(X, T, Y):
    E = np.exp(-X[:, 1:] * T)
    RE = (X[:, :1] * E - Y) * E
    return np.stack([RE.sum(axis=1), -X[:, 0] * np.einsum("ij,ij->i", RE, T)], axis=1)


# -- timing ---------------------------------------------------------------------------------------


#: Every row is timed for at least this long (and ``--repeats`` runs): on a shared machine a slow
#: spell lasts seconds, and three runs of a 0.3 s row fit in one, where a peer's three 3 s runs
#: do not (``timeit``'s autorange gives every row the same chance of a quiet moment).
MIN_SECONDS = 3.0


def timed(run, repeats, min_seconds=MIN_SECONDS):
    """``(best, median, result)`` of calls of ``run()`` (warm it up first): ``repeats`` calls,
    and more until they have taken ``min_seconds`` together."""
    times, result = [], None
    while len(times) < repeats or sum(times) < min_seconds:
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times)), result


def first_call(run):
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def relative_error(X, k_true):
    return np.abs(X[:, 1] - k_true) / k_true


# -- rows -----------------------------------------------------------------------------------------


def numadam_row(f, g, X0, T, Y, repeats, jitted, **options):
    def run():
        return numadam.minimize_batch(f, X0, jac=g, method="adam",
                                      options={**OPTIONS, **options}, batch_args=(T, Y))

    compile_seconds, result = first_call(run) if jitted else (None, run())
    if result.compiled != jitted:
        raise RuntimeError(f"expected the {'jitted' if jitted else 'vectorized'} form")
    best, median, result = timed(run, repeats)
    return best, median, result, compile_seconds


def scipy_row(X0, T, Y, subset, repeats):
    """The SciPy loop on the first ``subset`` problems; times as measured (not scaled)."""
    def run():
        out = np.empty((subset, 2))
        nit = np.empty(subset, np.int64)
        for b in range(subset):
            r = minimize(fun, X0[b], args=(T[b], Y[b]), jac=jac, method="L-BFGS-B",
                         options={"gtol": GTOL, "maxiter": MAXITER})
            out[b], nit[b] = r.x, r.nit
        return out, nit

    minimize(fun, X0[0], args=(T[0], Y[0]), jac=jac, method="L-BFGS-B")  # warm-up
    return timed(run, repeats)


def jax_rows(X0, T, Y, repeats):
    """(4) fixed 3000 steps and (4b) stopping at gtol, or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    optimizer = optax.adam(LR)

    def loss(x, t, y):
        r = x[0] * jnp.exp(-x[1] * t) - y
        return 0.5 * jnp.sum(r * r)

    grad = jax.grad(loss)

    def fixed_steps(x, t, y):
        def body(_, carry):
            x, state = carry
            updates, state = optimizer.update(grad(x, t, y), state)
            return optax.apply_updates(x, updates), state
        return jax.lax.fori_loop(0, MAXITER, body, (x, optimizer.init(x)))[0]

    def until_gtol(x, t, y):
        def cond(carry):
            _, _, g, nit = carry
            return (nit < MAXITER) & (jnp.max(jnp.abs(g)) > GTOL)

        def body(carry):
            x, state, g, nit = carry
            updates, state = optimizer.update(g, state)
            x = optax.apply_updates(x, updates)
            return x, state, grad(x, t, y), nit + 1
        x, _, _, nit = jax.lax.while_loop(cond, body, (x, optimizer.init(x), grad(x, t, y), 0))
        return x, nit

    X0j, Tj, Yj = (jnp.asarray(a, dtype=jnp.float64) for a in (X0, T, Y))
    rows = {}
    for name, fit in (("fixed", fixed_steps), ("gtol", until_gtol)):
        compiled = jax.jit(jax.vmap(fit))

        def run(compiled=compiled):
            return jax.tree_util.tree_map(np.asarray,
                                          jax.block_until_ready(compiled(X0j, Tj, Yj)))

        compile_seconds, _ = first_call(run)
        rows[name] = (*timed(run, repeats), compile_seconds)
    return rows, jax.__version__, optax.__version__


# -- report ---------------------------------------------------------------------------------------


def verdict(met):
    return "met" if met else "NOT met"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"B = {B_QUICK:,} instead of "
                        f"{B_FULL:,}")
    parser.add_argument("--batch", type=int, help="number of problems B (overrides --quick)")
    parser.add_argument("--scipy-subset", type=int, default=2_000,
                        help="problems the SciPy loop runs, scaled to B (0: all B)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row")
    args = parser.parse_args()
    B = args.batch or (B_QUICK if args.quick else B_FULL)
    subset = min(B, args.scipy_subset) if args.scipy_subset > 0 else B
    T, Y, k_true = problems(B)
    X0 = np.ones((B, 2))
    load_before = os.getloadavg()[0]

    rows = []  # (label, best seconds for B problems, median, X, k_true of those problems, note)
    best, median, jitted, compile_jitted = numadam_row(fun, jac, X0, T, Y, args.repeats, True)
    rows.append(("(1) numadam jitted (array expressions)", best, median, jitted.x, k_true, ""))
    best, median, loops, compile_loops = numadam_row(fun_loops, jac_loops, X0, T, Y,
                                                     args.repeats, True)
    rows.append(("(1b) numadam jitted (scalar loops)", best, median, loops.x, k_true, ""))
    best, median, fused, _ = numadam_row(value_and_grad_loops, True, X0, T, Y, args.repeats,
                                         True)
    rows.append(("(1c) numadam jitted, jac=True (one pass)", best, median, fused.x, k_true, ""))
    best, median, written, _ = numadam_row(value_and_grad_out, True, X0, T, Y, args.repeats,
                                           True, jac_out=True)
    rows.append(("(1d) the same, gradient written (jac_out)", best, median, written.x, k_true,
                 ""))
    best, median, fast, _ = numadam_row(value_and_grad_fast, True, X0, T, Y, args.repeats,
                                        True, jac_out=True)
    rows.append(("(1e) (1d) with njit(fastmath=True)", best, median, fast.x, k_true, ""))
    best, median, vectorized, _ = numadam_row(fun_rows, jac_rows, X0, T, Y, args.repeats, False)
    rows.append(("(2) numadam vectorized (NumPy rows)", best, median, vectorized.x, k_true, ""))
    best, median, (x_scipy, nit_scipy) = scipy_row(X0, T, Y, subset, args.repeats)
    scale = B / subset
    scipy_seconds = best * scale
    rows.append(("(3) SciPy L-BFGS-B loop", best * scale, median * scale, x_scipy,
                 k_true[:subset], f"{subset:,} problems timed, x{scale:g}" if scale != 1 else ""))
    jax = jax_rows(X0, T, Y, args.repeats)
    if jax is not None:
        (fixed, gtol_stop), jax_version, optax_version = jax[0].values(), jax[1], jax[2]
        rows.append(("(4) JAX vmap + optax, 3000 fixed steps", fixed[0], fixed[1], fixed[2],
                     k_true, ""))
        rows.append(("(4b) JAX vmap + optax, stop at gtol", gtol_stop[0], gtol_stop[1],
                     gtol_stop[2][0], k_true, "info only"))
    load_after = os.getloadavg()[0]

    print(f"B = {B:,} fits of a*exp(-k*t), {SAMPLES} samples, noise {NOISE}; Adam lr {LR}, "
          f"gtol {GTOL:g}, maxiter {MAXITER}; best (median) of at least {args.repeats} runs "
          f"and {MIN_SECONDS:g} s per row")
    print(f"numadam {numadam.__version__}, numba {numba.__version__} "
          f"({numba.get_num_threads()} threads, {os.cpu_count()} CPUs), SciPy "
          f"{scipy.__version__}" + (f", JAX {jax_version} + optax {optax_version}" if jax else
                                   ", JAX not installed: rows (4) skipped"))
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
    print()
    speed_label = "(1) faster by"
    print(f"{'row':42} {'wall s (best)':>13} {'median':>8} {'median rel. err. k':>19} "
          f"{speed_label:>14} {'err. (1)/row':>12}  note")
    reference = rows[0][1]
    comparisons = {}
    for label, best, median, X, k, note in rows:
        error = float(np.median(relative_error(X, k)))
        own = float(np.median(relative_error(jitted.x[:len(k)], k)))
        comparisons[label[:4].strip()] = (best / reference, own / error)
        print(f"{label:42} {best:13.2f} {median:8.2f} {error:19.5f} {best / reference:13.1f}x "
              f"{own / error:12.3f}  {note}")
    print()
    print(f"numadam (1) per problem: status 0 (converged) {np.sum(jitted.status == 0):,} / {B:,};"
          f" iterations median {np.median(jitted.nit):.0f}, max {jitted.nit.max()}, total "
          f"{jitted.nit.sum():,} (JAX (4): {B * MAXITER:,}); "
          f"{reference / jitted.nit.sum() * 1e9:.0f} ns per problem-iteration")
    print(f"SciPy L-BFGS-B: iterations median {np.median(nit_scipy):.0f}; "
          f"{scipy_seconds / B * 1e6:.0f} us per problem")
    if jax is not None:
        print(f"JAX (4): {fixed[0] / (B * MAXITER) * 1e9:.0f} ns per problem-iteration; (4b) ran "
              f"{gtol_stop[2][1].max()} iterations (the slowest problem's), median nit "
              f"{np.median(gtol_stop[2][1]):.0f}")
    print()
    print(f"first call, compile included: numadam (1) {compile_jitted:.2f} s (first "
          f"minimize_batch of the process), (1b) {compile_loops:.2f} s (a further objective)"
          + (f"; JAX (4) {fixed[3]:.2f} s, (4b) {gtol_stop[3]:.2f} s" if jax else ""))
    print()
    peers = [("(3)", "the SciPy loop")] + ([("(4)", "JAX vmap")] if jax else [])
    print(f"targets: >= {TARGET_SPEEDUP:g}x faster than "
          + " and than ".join(name for _, name in peers)
          + f", at the same median accuracy within {TARGET_ACCURACY:.0%}, for each numadam row:")
    by_key = {label[:4].strip(): (best, X, k) for label, best, _, X, k, _ in rows}
    for label, *_ in rows[:6]:  # numadam's rows
        best, X, _ = by_key[label[:4].strip()]
        ratios, errors = [], []
        for peer, _ in peers:  # time ratio, and this row's median error over the peer's
            peer_best, peer_X, peer_k = by_key[peer]  # (on the peer's problems)
            ratios.append(peer_best / best)
            errors.append(float(np.median(relative_error(X[:len(peer_k)], peer_k)))
                          / float(np.median(relative_error(peer_X, peer_k))))
        met = min(ratios) >= TARGET_SPEEDUP and max(abs(e - 1) for e in errors) <= TARGET_ACCURACY
        print(f"  {label:42} " + ", ".join(
            f"{ratio:5.1f}x {name} (error {error:.3f}x)"
            for ratio, error, (_, name) in zip(ratios, errors, peers)) + f": {verdict(met)}")
    if jax is None:
        print("target against JAX vmap: not measured (JAX not installed)")


if __name__ == "__main__":
    main()
