"""A parameter map fitted voxel by voxel: 40,000 small curve fits in one minimize_batch call,
timed against a SciPy loop.

    python gallery/parameter_map.py [--quick]

A phantom (a head-like ellipse holding disks of different decay rates and a band where the rate
rises from left to right) gives each voxel a decay rate k in [0.5, 3] and an amplitude a; the
voxel's signal is a exp(-k t) at 16 times on [0, 2] plus Gaussian noise (sigma 0.02). Every
voxel's (a, k) is fitted by least squares with ``numadam.minimize_batch`` (Adam, lr 0.05, gtol
1e-5, at most 3,000 iterations, from (1, 1); jitted fun and jac, one compiled call for the whole
map, spread over all cores). The same fits by ``scipy.optimize.minimize(method="L-BFGS-B")`` in a
Python loop (with the same jitted fun and jac) are timed on a random subset of voxels and scaled
to the map. Writes ``images/parameter_map.png``: true k, fitted k, and fitted - true. The full
run fits 200 x 200 voxels and times SciPy on 1,000; ``--quick`` fits 40 x 40 and times 100.
"""

import time

import numba
import numpy as np
from _common import parse_args, plt, save
from numba import njit
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

import numadam

TIMES = np.linspace(0.0, 2.0, 16)
NOISE = 0.02
OPTIONS = {"lr": 0.05, "gtol": 1e-5, "maxiter": 3000}


@njit
def loss(x, y, t):
    """Half the sum of squared residuals of a exp(-k t) against y, x = (a, k)."""
    r = x[0] * np.exp(-x[1] * t) - y
    return 0.5 * np.sum(r * r)


@njit
def grad(x, y, t):
    e = np.exp(-x[1] * t)
    r = x[0] * e - y
    out = np.empty(2)
    out[0] = np.sum(r * e)
    out[1] = -x[0] * np.sum(r * t * e)
    return out


def phantom(size):
    """True amplitude and decay-rate maps, shape (size, size), on the square [-1, 1]^2."""
    v, u = np.mgrid[1:-1:size * 1j, -1:1:size * 1j]  # u across (left to right), v up
    a = np.full((size, size), 0.4)
    k = np.full((size, size), 0.5)  # the medium around the head

    def ellipse(cu, cv, ru, rv, degrees=0.0):
        c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
        du, dv = u - cu, v - cv
        return ((c * du + s * dv) / ru) ** 2 + ((c * dv - s * du) / rv) ** 2 <= 1.0

    head = ellipse(0.0, 0.0, 0.69, 0.92)
    a[head], k[head] = 1.0, 1.0
    for shape, amplitude, rate in [
            ((0.22, 0.05, 0.11, 0.31, 18.0), 0.8, 2.5),  # Shepp-Logan's two tilted ellipses
            ((-0.22, 0.05, 0.16, 0.41, -18.0), 0.8, 2.0),
            ((0.0, 0.52, 0.18, 0.18), 1.2, 1.5),  # and three disks
            ((-0.30, -0.42, 0.09, 0.09), 0.7, 3.0),
            ((0.30, -0.42, 0.09, 0.09), 0.9, 0.5)]:
        inside = ellipse(*shape)
        a[inside], k[inside] = amplitude, rate
    band = head & (np.abs(v + 0.64) <= 0.08) & (np.abs(u) <= 0.55)
    a[band], k[band] = 1.1, 0.5 + 2.5 * (u[band] + 0.55) / 1.1  # k from 0.5 to 3, left to right
    return a, k


def scipy_loop(Y, indices):
    """Fit the voxels ``indices`` one by one with SciPy's L-BFGS-B; (k per voxel, seconds).

    BLAS is held to one thread: L-BFGS-B's tiny matrix operations only lose to threads (up to
    20x slower on a loaded machine), so this is SciPy at its fastest."""
    k = np.empty(indices.size)
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        for i, b in enumerate(indices):
            k[i] = minimize(loss, np.ones(2), args=(Y[b], TIMES), jac=grad,
                            method="L-BFGS-B").x[1]
        return k, time.perf_counter() - start


def main():
    args = parse_args(__doc__.splitlines()[0])
    size, subset = (40, 100) if args.quick else (200, 1000)
    rng = np.random.default_rng(0)
    a_true, k_true = phantom(size)
    B = size * size
    Y = (a_true.reshape(B, 1) * np.exp(-k_true.reshape(B, 1) * TIMES)
         + NOISE * rng.standard_normal((B, TIMES.size)))
    X0 = np.ones((B, 2))

    # SciPy first, so that no worker thread of the parallel run can compete with its loop
    indices = rng.choice(B, size=subset, replace=False)
    minimize(loss, np.ones(2), args=(Y[0], TIMES), jac=grad, method="L-BFGS-B")  # warm up
    k_scipy, subset_seconds = scipy_loop(Y, indices)
    scipy_seconds = subset_seconds * B / subset

    def fit(rows):
        return numadam.minimize_batch(loss, X0[rows], args=(TIMES,), jac=grad, method="adam",
                                      options=OPTIONS, batch_args=(Y[rows],))

    start = time.perf_counter()
    fit(slice(0, 2))  # compiles the batch loop for these functions (once per process)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = fit(slice(None))
    numadam_seconds = time.perf_counter() - start
    k_fit = result.x[:, 1].reshape(size, size)

    error = k_fit - k_true
    results = {
        "voxels": B,
        "numadam_seconds": numadam_seconds,
        "compile_seconds": compile_seconds,
        "scipy_seconds": scipy_seconds,
        "scipy_subset": subset,
        "speedup": scipy_seconds / numadam_seconds,
        "threads": numba.get_num_threads(),
        "converged": float(np.mean(result.status == 0)),
        "median_nit": float(np.median(result.nit)),
        "max_nit": int(result.nit.max()),
        "median_relative_error": float(np.median(np.abs(error) / k_true)),
        "max_difference_from_scipy": float(np.max(np.abs(result.x[indices, 1] - k_scipy))),
    }

    fig, axes = plt.subplots(1, 3, figsize=(15, 5.0))
    extent = (-1, 1, -1, 1)
    for ax, image, title in [(axes[0], k_true, "true k"),
                             (axes[1], k_fit, "fitted k (minimize_batch, Adam)")]:
        shown = ax.imshow(image, cmap="viridis", vmin=0.3, vmax=3.2, extent=extent)
        ax.set_title(title)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    limit = np.percentile(np.abs(error), 99)
    shown = axes[2].imshow(error, cmap="RdBu_r", vmin=-limit, vmax=limit, extent=extent)
    axes[2].set_title(f"fitted - true (median relative error "
                      f"{results['median_relative_error']:.1%})")
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"Decay-rate map, {size} x {size} = {B:,} voxel fits of a exp(-k t) (16 times, noise "
        f"{NOISE:g}).  minimize_batch: {numadam_seconds:.2f} s on {results['threads']} "
        f"threads;\nSciPy L-BFGS-B loop: {scipy_seconds:.1f} s (one core, scaled from "
        f"{subset:,} voxels), {results['speedup']:.0f}x longer.  Compilation "
        f"({compile_seconds:.0f} s, once) not counted.")
    fig.tight_layout()
    save(fig, args.out, "parameter_map.png")
    for name, value in results.items():
        print(f"{name:26} {value:.4g}" if isinstance(value, float) else f"{name:26} {value}")
    return results


if __name__ == "__main__":
    main()
