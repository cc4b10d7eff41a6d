"""What every gallery script shares: options, the output folder, the optimizers compared."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import numadam  # noqa: E402

IMAGES = Path(__file__).resolve().parent / "images"

#: The four optimizers the gallery compares, as (label, minimize method, extra options).
OPTIMIZERS = [
    ("Adam", "adam", {}),
    ("RMSProp", "rmsprop", {}),
    ("Momentum", "momentum", {}),
    ("SGD", "sgd", {}),
]
COLORS = {"Adam": "tab:red", "RMSProp": "tab:green", "Momentum": "tab:blue", "SGD": "tab:gray"}


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller budgets, for CI")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder for the PNG files")
    return parser.parse_args()


def run(fun, jac, x0, method, lr, maxiter, record=True, **options):
    """``numadam.minimize`` recording every iterate and value (the start included)."""
    xs, fs = [np.array(x0, dtype=float)], [float(fun(np.asarray(x0, dtype=float)))]

    def callback(intermediate_result):
        xs.append(intermediate_result.x.copy())
        fs.append(float(intermediate_result.fun))

    result = numadam.minimize(fun, x0, jac=jac, method=method,
                              callback=callback if record else None,
                              options={"lr": lr, "maxiter": maxiter, **options})
    return result, np.array(xs), np.array(fs)


def save(fig, out, name):
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")
    return path
