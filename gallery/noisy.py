"""Noisy objectives: the final loss of each optimizer over many seeds (strip plot).

    python gallery/noisy.py [--quick]

Two problems: Rosenbrock with Gaussian noise on the gradient (sigma = 1), and logistic
regression trained on minibatches of 32. Each optimizer runs with one fixed learning rate per
problem, the same for every seed, chosen as its best on seed 0; each dot is one seed's final
full-objective value. Writes ``images/noisy.png``.
"""

import numpy as np
from _common import COLORS, OPTIMIZERS, parse_args, plt, run, save

from numadam.functions import get_problem
from numadam.problems import NoisyGradient, make_logistic

LR_GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def noisy_rosenbrock(seed):
    problem = get_problem("rosenbrock")
    noisy = NoisyGradient(problem.fun, problem.jac, sigma=1.0, rng=seed)
    return noisy.fun, noisy.jac, problem.x0, problem.fmin


def minibatch_logistic(seed):
    problem = make_logistic(n_samples=2000, n_features=20, batch_size=32, rng=1000 + seed)
    return problem.fun, problem.jac, np.zeros(20), problem.fun(problem.optimum)


PROBLEMS = {"Rosenbrock, noisy gradient": noisy_rosenbrock,
            "logistic regression, minibatches": minibatch_logistic}


def final_gap(make, seed, method, lr, maxiter):
    fun, jac, x0, fmin = make(seed)
    result, _, _ = run(fun, jac, x0, method, lr, maxiter, record=False)
    return fun(result.x) - fmin if result.status != 3 else np.inf


def main():
    args = parse_args(__doc__.splitlines()[0])
    seeds = range(3 if args.quick else 20)
    maxiter = 500 if args.quick else 3000
    results = {}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, (title, make) in zip(axes, PROBLEMS.items()):
        tick_labels = []
        for position, (label, method, _) in enumerate(OPTIMIZERS):
            lr = min(LR_GRID, key=lambda lr: final_gap(make, 0, method, lr, maxiter))
            tick_labels.append(f"{label}\nlr={lr:g}")
            gaps = np.array([final_gap(make, seed, method, lr, maxiter) for seed in seeds])
            results[(title, label)] = gaps
            jitter = np.random.default_rng(position).uniform(-0.15, 0.15, gaps.size)
            ax.scatter(position + jitter, np.maximum(gaps, 1e-12), color=COLORS[label], s=14)
            ax.plot([position - 0.3, position + 0.3], [np.median(gaps)] * 2, color="k", lw=1)
        ax.set_yscale("log")
        ax.set_xticks(range(len(OPTIMIZERS)), tick_labels)
        ax.set(title=title, ylabel="final f - f* (one dot per seed; bar: median)")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save(fig, args.out, "noisy.png")
    for (title, label), gaps in results.items():
        print(f"{title:34} {label:9} median {np.median(gaps):.3g}")
    return results


if __name__ == "__main__":
    main()
