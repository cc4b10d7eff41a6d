"""Learning-rate sensitivity: final loss against the learning rate, 1e-4 to 1, per optimizer.

    python gallery/lr_sensitivity.py [--quick]

The claim under test: Adam is less sensitive to its learning rate than SGD. Two problems:
least squares on minibatches (well conditioned) and the ill-conditioned quadratic (condition
number 1e3, 10 dimensions), a fixed budget of iterations each. ``good range`` counts the grid
points at which the optimizer cut f - f* at least 100-fold from the start: the learning rates
that work. The second row asks the same of the parameter-free rules, which have no learning
rate to tune but an initial estimate of their step, ``d0``, from 1e-8 to 1 (Prodigy and
D-Adaptation Adam; DoG's ``init_step=("distance", d0)`` plays the same role), at their other
defaults. Writes ``images/lr_sensitivity.png``.
"""

import numpy as np
from _common import COLORS, OPTIMIZERS, parse_args, plt, run, save

from numadam.functions import ill_conditioned_quadratic
from numadam.problems import make_least_squares


def least_squares():
    problem = make_least_squares(n_samples=1000, n_features=10, batch_size=32, rng=0)
    return problem.fun, problem.jac, np.zeros(10), problem.fun(problem.optimum)


def quadratic():
    fun, jac = ill_conditioned_quadratic(10, condition_number=1e3)
    return fun, jac, np.ones(10), 0.0


PROBLEMS = {"least squares, minibatches": least_squares,
            "ill-conditioned quadratic (kappa = 1e3)": quadratic}

#: the parameter-free rules: (label, method, the options that set the initial estimate d0)
PARAMETER_FREE = [
    ("Prodigy", "prodigy", lambda d0: {"d0": d0}),
    ("D-Adapt Adam", "dadapt_adam", lambda d0: {"d0": d0}),
    ("DoG", "dog", lambda d0: {"init_step": ("distance", d0)}),
]
PARAMETER_FREE_COLORS = {"Prodigy": "tab:purple", "D-Adapt Adam": "tab:orange",
                         "DoG": "tab:brown"}


def good_range(gaps, start_gap, factor=100.0):
    """How many learning rates cut the gap ``f - f*`` by ``factor`` from the start."""
    return int(np.sum(gaps <= start_gap / factor))


def plot_gaps(ax, xs, gaps, start_gap, color, label):
    """One optimizer's final gaps against ``xs`` (a diverged run is left out of the line)."""
    shown = np.where(np.isfinite(gaps), np.maximum(gaps, 1e-16), np.nan)
    ax.loglog(xs, shown, "o-", color=color, ms=3, label=label)


def finish_axes(ax, title, xlabel, maxiter, start_gap):
    """The 100-fold line (a run below it works), titles, grid and legend."""
    ax.axhline(start_gap / 100, color="k", lw=0.8, ls=":")
    ax.set(title=title, xlabel=xlabel, ylabel=f"f - f* after {maxiter} iterations")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def main():
    args = parse_args(__doc__.splitlines()[0])
    lrs = np.logspace(-4, 0, 9 if args.quick else 17)
    d0s = np.logspace(-8, 0, 9 if args.quick else 17)
    maxiter = 500 if args.quick else 2000
    results = {}
    fig, all_axes = plt.subplots(2, 2, figsize=(12, 8.4))
    for column, (title, make) in enumerate(PROBLEMS.items()):
        fun, jac, x0, fmin = make()
        start_gap = fun(x0) - fmin

        def final_gap(method, lr, **options):
            result, _, _ = run(fun, jac, x0, method, lr, maxiter, record=False, **options)
            gap = fun(result.x) - fmin
            return gap if result.status != 3 and np.isfinite(gap) and gap < 1e12 else np.inf

        ax = all_axes[0, column]
        for label, method, _ in OPTIMIZERS:
            gaps = np.array([final_gap(method, lr) for lr in lrs])
            results[(title, label)] = good_range(gaps, start_gap), gaps
            plot_gaps(ax, lrs, gaps, start_gap, COLORS[label], f"{label} (works at "
                      f"{good_range(gaps, start_gap)} of {lrs.size} rates)")
        finish_axes(ax, title, "learning rate", maxiter, start_gap)

        ax = all_axes[1, column]
        for label, method, options in PARAMETER_FREE:
            gaps = np.array([final_gap(method, 1.0, **options(d0)) for d0 in d0s])
            results[(title, label)] = good_range(gaps, start_gap), gaps
            plot_gaps(ax, d0s, gaps, start_gap, PARAMETER_FREE_COLORS[label], f"{label} (works "
                      f"at {good_range(gaps, start_gap)} of {d0s.size} values of d0)")
        finish_axes(ax, f"{title}: parameter-free, lr = 1", "initial step estimate d0", maxiter,
                    start_gap)
    fig.tight_layout()
    save(fig, args.out, "lr_sensitivity.png")
    for (title, label), (good, gaps) in results.items():
        what = "learning rates" if label in COLORS else "values of d0"
        print(f"{title:40} {label:12} works at {good} of {gaps.size} {what}")
    return results


if __name__ == "__main__":
    main()
