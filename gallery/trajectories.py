"""Trajectories of Adam, RMSProp, Momentum and SGD over the contours of three test functions,
and their convergence curves (f - f* against the iteration, log scale).

    python gallery/trajectories.py [--quick]

Writes ``images/trajectories.png`` and ``images/convergence.png``. Each optimizer uses a learning
rate picked once per function from a small grid (the best final value), so the picture compares
each method at its own good setting rather than at one arbitrary shared value.
"""

import numpy as np
from _common import COLORS, OPTIMIZERS, parse_args, plt, run, save

from numadam.functions import get_problem

FUNCTIONS = ["rosenbrock", "beale", "himmelblau"]
LR_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def best_run(problem, method, maxiter):
    """The run with the learning rate (from LR_GRID) that ends lowest; diverged runs lose."""
    best = None
    for lr in LR_GRID:
        result, xs, fs = run(problem.fun, problem.jac, problem.x0, method, lr, maxiter)
        final = fs[-1] if result.status != 3 and np.isfinite(fs[-1]) else np.inf
        if best is None or final < best[0]:
            best = (final, lr, xs, fs)
    return best


def main():
    args = parse_args(__doc__.splitlines()[0])
    maxiter = 2000 if args.quick else 10_000
    results = {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    fig_c, axes_c = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, ax_c, name in zip(axes, axes_c, FUNCTIONS):
        problem = get_problem(name)
        (x_lo, x_hi), (y_lo, y_hi) = problem.box
        X, Y = np.meshgrid(np.linspace(x_lo, x_hi, 200), np.linspace(y_lo, y_hi, 200))
        Z = np.array([[problem.fun(np.array([x, y])) for x, y in zip(row_x, row_y)]
                      for row_x, row_y in zip(X, Y)])
        ax.contour(X, Y, np.log10(Z - problem.fmin + 1e-3), levels=25, cmap="viridis",
                   linewidths=0.6)
        for label, method, _ in OPTIMIZERS:
            final, lr, xs, fs = best_run(problem, method, maxiter)
            results[(name, label)] = {"final": final - problem.fmin, "lr": lr}
            ax.plot(xs[:, 0], xs[:, 1], color=COLORS[label], lw=1.2,
                    label=f"{label} (lr={lr:g})")
            ax_c.semilogy(np.maximum(fs - problem.fmin, 1e-16), color=COLORS[label],
                          label=f"{label} (lr={lr:g})")
        for minimum in problem.minima:
            ax.plot(*minimum, "k*", ms=12)
        ax.plot(*problem.x0, "ko", ms=6)
        ax.set(xlim=(x_lo, x_hi), ylim=(y_lo, y_hi), title=f"{name.capitalize()}")
        ax.legend(fontsize=7, loc="lower right")
        ax_c.set(xlabel="iteration", ylabel="f - f*", title=f"{name.capitalize()}")
        ax_c.grid(alpha=0.3)
        ax_c.legend(fontsize=7)
    fig.suptitle(f"Trajectories from the customary start ({maxiter} iterations, "
                 "best learning rate of each)")
    fig.tight_layout()
    fig_c.tight_layout()
    save(fig, args.out, "trajectories.png")
    save(fig_c, args.out, "convergence.png")
    for (name, label), r in results.items():
        print(f"{name:11} {label:9} lr={r['lr']:<7g} final f - f* = {r['final']:.3g}")
    return results


if __name__ == "__main__":
    main()
