"""SPSA on a noisy quadratic in n = 100, at equal budgets of function evaluations.

Usage::

    python benchmarks/bench_spsa.py [--seeds 20] [--budget 2000] [--noise 0.1]

The objective is ``f(x) = sum(d_i x_i^2) + noise * N(0, 1)``, ``d`` log-spaced over
``[10^-3, 10^-1.5]`` (the curvature SPSA's default gain ``a = 1`` stays stable at in 100
variables), from ``x0 = 1``. Every run gets at most ``budget`` evaluations of ``fun``, its
answer's own evaluation included (numadam's SPSA: ``(budget - 1) // 2 - 1`` steps, one
estimate more, then the answer; noisyopt: ``(budget - 1) // 2`` steps, the same count of
evaluations), and is scored by the noise-free ``f`` at the returned ``x`` (as a fraction of
``f(x0)``); the table gives the median and quartiles over the seeds.

Rows: (a) ``method="adam", jac="spsa"`` and (b) ``method="adam", jac="2-point"`` at the same
``lr``; (c) ``method="spsa"`` at its defaults and (d) ``noisyopt.minimizeSPSA`` at its defaults
(when noisyopt is installed: ``pip install noisyopt``). A ``fun`` with a
``seed`` parameter gets common random numbers for each pair, in numadam as in noisyopt
(``paired=True``). Last, the same seed run twice must give the same run.
"""

from __future__ import annotations

import argparse

import numpy as np

import numadam

N = 100
CURVATURE = np.logspace(-3, -1.5, N)
X0 = np.ones(N)
LR = 0.01


def noisy_quadratic(noise, rng):
    """``f`` with its noise drawn from ``default_rng(seed)`` when given a seed (a pair's common
    random numbers), else from the run's own generator ``rng``."""

    def fun(x, seed=None):
        source = rng if seed is None else np.random.default_rng(seed)
        return float(np.sum(CURVATURE * x * x) + noise * source.standard_normal())

    return fun


def true_value(x):
    return float(np.sum(CURVATURE * x * x))


def numadam_run(method, jac, options, seed, noise, budget):
    fun = noisy_quadratic(noise, np.random.default_rng([seed, 1]))
    # the iterations the budget affords: an estimate at x0 and after each step, and with SPSA
    # one more evaluation at the answer
    per_estimate, last = (2, 1) if jac in ("spsa", None) else (N + 1, 0)
    maxiter = (budget - last) // per_estimate - 1
    result = numadam.minimize(fun, X0, method=method, jac=jac,
                              options={"maxiter": maxiter, "seed": seed, **options})
    assert result.nfev <= budget, (method, jac, result.nfev)
    return result


def noisyopt_run(seed, noise, budget):
    import noisyopt

    fun = noisy_quadratic(noise, np.random.default_rng([seed, 1]))
    np.random.seed(seed)  # noisyopt draws from NumPy's global generator
    return noisyopt.minimizeSPSA(fun, X0.copy(), niter=(budget - 1) // 2)  # 2 per iteration


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.1)
    arguments = parser.parse_args()
    seeds, budget, noise = range(arguments.seeds), arguments.budget, arguments.noise
    rows = {
        f"(a) adam, jac='spsa', lr={LR}": lambda s: numadam_run(
            "adam", "spsa", {"lr": LR}, s, noise, budget),
        f"(b) adam, jac='2-point', lr={LR}": lambda s: numadam_run(
            "adam", "2-point", {"lr": LR}, s, noise, budget),
        "(c) numadam method='spsa', defaults": lambda s: numadam_run(
            "spsa", None, {}, s, noise, budget),
    }
    try:
        import noisyopt  # noqa: F401
    except ImportError:
        print("noisyopt is not installed: row (d) left out (pip install noisyopt)")
    else:
        rows["(d) noisyopt.minimizeSPSA, defaults"] = lambda s: noisyopt_run(s, noise, budget)
    start = true_value(X0)
    print(f"n = {N}, budget = {budget} evaluations, noise sd = {noise}, {len(seeds)} seeds; "
          f"f(x0) = {start:.4f}; noise-free f at the answer / f(x0):")
    print(f"{'run':42s} {'median':>9s} {'q25':>9s} {'q75':>9s} {'iterations':>10s}")
    medians = {}
    for name, run in rows.items():
        results = [run(seed) for seed in seeds]
        scores = np.array([true_value(result.x) for result in results]) / start
        medians[name] = np.median(scores)
        q25, q75 = np.percentile(scores, [25, 75])
        print(f"{name:42s} {medians[name]:9.4f} {q25:9.4f} {q75:9.4f} "
              f"{int(np.median([result.nit for result in results])):10d}")
    names = list(medians)
    print(f"(a)/(b) median ratio: {medians[names[0]] / medians[names[1]]:.3f} "
          f"(below 1: SPSA ends lower than finite differences)")
    if len(names) > 3:
        print(f"(c)/(d) median ratio: {medians[names[2]] / medians[names[3]]:.3f} "
              f"(at most 1: numadam's SPSA ends no higher than noisyopt's)")
    for method, jac, options in (("spsa", None, {}), ("adam", "spsa", {"lr": LR})):
        first, second = (numadam_run(method, jac, options, 3, noise, budget) for _ in range(2))
        same = (np.array_equal(first.x, second.x) and first.fun == second.fun
                and first.nfev == second.nfev)
        print(f"same seed, same run ({method}, jac={jac!r}): {same}")


if __name__ == "__main__":
    main()
