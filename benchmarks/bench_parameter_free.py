"""Issue 23's acceptance check for the parameter-free rules: at their defaults, do Prodigy and
D-Adaptation Adam cut f - f* 100-fold in 2000 iterations whatever their initial estimate d0?

Usage::

    python benchmarks/bench_parameter_free.py            # Prodigy and DAdaptAdam (and DoG)
    python benchmarks/bench_parameter_free.py --steps 2000 --target 100

Two problems: an ill-conditioned quadratic (condition number 1e4, eigenvectors rotated at
random, so that no diagonal scaling undoes it) and a least-squares fit (200 noisy observations,
20 coefficients, columns of scales 1e-2 to 1e1). For each of 17 values of d0, log-spaced from
1e-8 to 1, a run of the optimizer class at its other defaults from the problem's start, and the
ratio (f0 - f*) / (f - f*) at its last iterate. The criterion: at least 15 of the 17 runs reach
the target ratio on each problem. DoG has no d0; its row uses ``init_step=("distance", d0)``,
the same role, for comparison.
"""

from __future__ import annotations

import argparse

import numpy as np

import numadam
from numadam.functions import make_quadratic

D0S = np.logspace(-8, 0, 17)


def quadratic():
    problem = make_quadratic(50, 1e4, rotate=True, rng=0)
    a = problem.params["A"]
    return "quadratic (kappa 1e4, rotated)", (lambda x: 0.5 * x @ a @ x), (lambda x: a @ x), \
        np.ones(50), 0.0


def least_squares():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((200, 20)) * np.logspace(-2, 1, 20)
    b = a @ rng.standard_normal(20) + 0.1 * rng.standard_normal(200)
    solution = np.linalg.lstsq(a, b, rcond=None)[0]

    def fun(x):
        r = a @ x - b
        return 0.5 * (r @ r) / 200

    return "least squares (200 x 20)", fun, (lambda x: a.T @ (a @ x - b) / 200), \
        np.zeros(20), fun(solution)


def run(cls, options, fun, jac, x0, steps):
    x = x0.copy()
    optimizer = cls(x, **options)
    for _ in range(steps):
        optimizer.step(jac(x))
    return fun(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--target", type=float, default=100.0)
    args = parser.parse_args()
    rules = [("Prodigy", numadam.Prodigy, lambda d0: {"d0": d0}),
             ("DAdaptAdam", numadam.DAdaptAdam, lambda d0: {"d0": d0}),
             ("DoG", numadam.DoG, lambda d0: {"init_step": ("distance", d0)})]
    print(f"{args.steps} iterations; a run passes when (f0 - f*) / (f - f*) >= {args.target:g}")
    print(f"d0 = {', '.join(f'{d0:.0e}' for d0 in D0S)}")
    for name, fun, jac, x0, f_star in (quadratic(), least_squares()):
        gap0 = fun(x0) - f_star
        print(f"\n{name}: f0 - f* = {gap0:.3e}")
        for label, cls, options in rules:
            reductions = [gap0 / max(run(cls, options(d0), fun, jac, x0, args.steps) - f_star,
                                     1e-300) for d0 in D0S]
            passed = sum(r >= args.target for r in reductions)
            print(f"  {label:11} {passed:2d}/{len(D0S)} pass; reduction min {min(reductions):.3g}"
                  f", median {np.median(reductions):.3g}")
            print("   " + " ".join(f"{r:.1e}" for r in reductions))


if __name__ == "__main__":
    main()
