"""Parameters in different units: one learning rate for all against one per parameter group.

    python gallery/groups.py [--quick]

A decay curve y(t) = g exp(-t / tau) + b fitted to 200 noisy samples: an amplitude g of about
40 (say nS), a time constant tau of about 0.015 (s) and an offset b of about 2. Adam moves each
parameter by about its learning rate per step, whatever the gradient's scale, so one rate cannot
suit all three: small enough for tau, it takes thousands of steps to move g; large enough for g,
it throws tau about. The left panel shows the best single rate of a grid; the right one gives
each parameter a group whose rate is 1% of its typical size (``options={"groups": ...}``, as
torch's ``param_groups``). Writes ``images/groups.png``.
"""

import numpy as np
from _common import parse_args, plt, run, save
from scipy.optimize import least_squares

T = np.linspace(0.0, 0.1, 200)
TRUTH = np.array([40.0, 0.015, 2.0])  # g, tau, b
X0 = np.array([10.0, 0.05, 0.0])
SCALES = np.array([40.0, 0.01, 2.0])  # each parameter's typical size
LR_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]


def model(x):
    g, tau, b = x
    return g * np.exp(-T / tau) + b


def make_fit(rng):
    y = model(TRUTH) + 0.5 * rng.standard_normal(T.size)

    def fun(x):
        return 0.5 * float(np.mean((model(x) - y) ** 2))

    def jac(x):
        g, tau, b = x
        e = np.exp(-T / tau)
        r = (model(x) - y) / T.size
        return np.array([r @ e, r @ (g * e * T / tau**2), r.sum()])

    best = least_squares(lambda x: model(x) - y, TRUTH, x_scale=SCALES, xtol=1e-15,
                         ftol=1e-15, gtol=1e-15)
    return fun, jac, fun(best.x)


def main():
    args = parse_args(__doc__.splitlines()[0])
    maxiter = 2000 if args.quick else 10_000
    fun, jac, fmin = make_fit(np.random.default_rng(0))
    gaps = {}
    for lr in LR_GRID:  # one rate for every parameter, the best of the grid
        _, _, fs = run(fun, jac, X0, "adam", lr, maxiter)
        gaps[f"one lr = {lr:g}"] = np.maximum(fs - fmin, 1e-16)
    single = min(gaps, key=lambda label: gaps[label][-1])
    groups = [{"range": (i, i + 1), "lr": 0.01 * scale} for i, scale in enumerate(SCALES)]
    _, _, fs = run(fun, jac, X0, "adam", 1e-3, maxiter, groups=groups)
    grouped = np.maximum(fs - fmin, 1e-16)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for label, curve in gaps.items():
        axes[0].semilogy(curve, lw=2 if label == single else 0.8,
                         color="tab:red" if label == single else "0.7",
                         label=label if label == single else None)
    axes[0].set(title="Adam, one learning rate for all (grid in grey)", xlabel="iteration",
                ylabel="f - f*")
    axes[1].semilogy(gaps[single], color="tab:red", lw=1, label=f"best {single}")
    axes[1].semilogy(grouped, color="tab:blue", lw=2,
                     label="one group per parameter, lr = 1% of its size")
    axes[1].set(title="Adam with parameter groups", xlabel="iteration")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Fitting g exp(-t / tau) + b: g ~ 40, tau ~ 0.015, b ~ 2")
    fig.tight_layout()
    save(fig, args.out, "groups.png")
    results = {"single": (single, gaps[single][-1]), "grouped": grouped[-1],
               "iterations_to_1e-6": {
                   "single": int(np.argmax(gaps[single] < 1e-6)) if (gaps[single] < 1e-6).any()
                   else None,
                   "grouped": int(np.argmax(grouped < 1e-6)) if (grouped < 1e-6).any() else None}}
    print(f"best single lr: {single}, final f - f* = {gaps[single][-1]:.3g}")
    print(f"one group per parameter: final f - f* = {grouped[-1]:.3g}")
    print(f"iterations to f - f* < 1e-6: {results['iterations_to_1e-6']}")
    return results


if __name__ == "__main__":
    main()
