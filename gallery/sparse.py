"""Sparse gradients (rare features): Adam against SGD and RMSProp on logistic regression.

    python gallery/sparse.py [--quick]

Feature j is non-zero in a fraction p_j of the samples, p_j log-spaced from 1 to 1e-3, and the
model is trained on minibatches of 32. Each optimizer gets its best learning rate from a grid;
the curves show the full training loss (minus the optimum's) every 50 steps. Writes
``images/sparse.png``.
"""

import numpy as np
from _common import COLORS, parse_args, plt, run, save

from numadam.problems import make_sparse_logistic

CONTENDERS = [("Adam", "adam"), ("RMSProp", "rmsprop"), ("SGD", "sgd")]
LR_GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]


def main():
    args = parse_args(__doc__.splitlines()[0])
    maxiter = 600 if args.quick else 5000
    problem = make_sparse_logistic(n_samples=5000, n_features=50, min_frequency=1e-3, rng=0)
    fmin = problem.fun(problem.optimum)
    x0 = np.zeros(problem.A.shape[1])
    results = {}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, method in CONTENDERS:
        best = None
        for lr in LR_GRID:
            problem.rng = np.random.default_rng(1)  # the same batches for every run
            result, xs, _ = run(problem.fun, problem.jac, x0, method, lr, maxiter)
            gaps = np.array([problem.fun(x) - fmin for x in xs[::50]])
            if result.status != 3 and (best is None or gaps[-1] < best[0][-1]):
                best = (gaps, lr)
        gaps, lr = best
        results[label] = {"final": gaps[-1], "lr": lr}
        ax.semilogy(np.arange(gaps.size) * 50, gaps, color=COLORS[label],
                    label=f"{label} (best lr={lr:g}): final {gaps[-1]:.2e}")
    ax.set(xlabel="iteration", ylabel="training loss - optimum",
           title="Logistic regression on rare features (minibatch 32)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, args.out, "sparse.png")
    for label, r in results.items():
        print(f"{label:8} lr={r['lr']:<6g} final loss - optimum = {r['final']:.3g}")
    return results


if __name__ == "__main__":
    main()
