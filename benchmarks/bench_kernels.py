"""One optimizer step at n = 1e3, 1e5, 1e7: numadam beside plain NumPy and PyTorch, in one process.

Usage::

    python benchmarks/bench_kernels.py               # the table
    python benchmarks/bench_kernels.py --threshold   # serial vs parallel kernel, to set the cutoff
    python benchmarks/bench_kernels.py --quick       # n = 1e3 and 1e5 only

GB/s counts the arrays a step must move: Adam reads x, g, m, v and writes x, m, v (7 arrays);
RMSProp and SGD with momentum read x, g, one state and write x and the state (5 arrays). The
"memory roof" row is a parallel pass with Adam's exact traffic and trivial arithmetic: what the
machine's memory allows. Ratios are against plain NumPy written as tutorials write it.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from numba import njit, prange

import numadam
from numadam import kernels

try:
    import torch
except ImportError:  # optional: rows for PyTorch appear only when it is installed
    torch = None


def median_time(step, n):
    """Median wall time of ``step()`` over enough repeats for a stable figure."""
    step()  # warm up (compilation, page faults)
    repeats = max(7, min(20_000, int(2e8 / max(n, 1) / 10)))
    if n >= 10**7:
        repeats = 25
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        step()
        times[i] = time.perf_counter() - start
    return float(np.median(times))


# -- plain NumPy, as tutorials write it -----------------------------------------------------------


def numpy_adam(x, g, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m, v, t = np.zeros_like(x), np.zeros_like(x), [0]

    def step():
        t[0] += 1
        m[:] = beta1 * m + (1 - beta1) * g
        v[:] = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1 ** t[0])
        v_hat = v / (1 - beta2 ** t[0])
        x[:] = x - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def numpy_rmsprop(x, g, lr=1e-2, alpha=0.99, eps=1e-8):
    s = np.zeros_like(x)

    def step():
        s[:] = alpha * s + (1 - alpha) * g**2
        x[:] = x - lr * g / (np.sqrt(s) + eps)

    return step


def numpy_momentum(x, g, lr=1e-3, momentum=0.9):
    b = np.zeros_like(x)

    def step():
        b[:] = momentum * b + g
        x[:] = x - lr * b

    return step


@njit(parallel=True, cache=True)
def _memory_roof(x, g, m, v):
    # Adam's traffic (read x, g, m, v; write x, m, v) with the cheapest arithmetic
    for i in prange(x.shape[0]):
        a = g[i]
        m[i] = m[i] + a
        v[i] = v[i] + a
        x[i] = x[i] + a


RULES = {
    # name: (numadam factory, NumPy step factory, arrays moved per step, torch optimizer)
    "Adam": (lambda x: numadam.Adam(x), numpy_adam, 7, "Adam"),
    "AdamW": (lambda x: numadam.AdamW(x), None, 7, "AdamW"),
    "RMSProp": (lambda x: numadam.RMSProp(x), numpy_rmsprop, 5, None),
    "Momentum": (lambda x: numadam.SGD(x, momentum=0.9), numpy_momentum, 5, None),
}


def torch_step(name, x, g):
    param = torch.nn.Parameter(torch.from_numpy(x))
    param.grad = torch.from_numpy(g)
    optimizer = getattr(torch.optim, name)([param], fused=True)
    return optimizer.step


def table(sizes):
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, "
          f"torch {torch.__version__ if torch else 'not installed'}")
    header = (f"{'rule':9} {'n':>9} {'dtype':8} {'implementation':28} {'time/step':>11} "
              f"{'GB/s':>7} {'vs NumPy':>9}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for n in sizes:
        for dtype in (np.float32, np.float64):
            g = rng.standard_normal(n).astype(dtype)
            nbytes = n * np.dtype(dtype).itemsize
            for rule, (make, numpy_factory, arrays, torch_name) in RULES.items():
                rows = []
                if numpy_factory is not None:
                    rows.append(("plain NumPy", numpy_factory(np.ones(n, dtype), g)))
                optimizer = make(np.ones(n, dtype))
                rows.append(("numadam", lambda o=optimizer: o.step(g)))
                unchecked = make(np.ones(n, dtype))
                unchecked.check_finite = False
                rows.append(("numadam check_finite=False", lambda o=unchecked: o.step(g)))
                if torch is not None and torch_name is not None:
                    rows.append((f"torch {torch_name}(fused=True)",
                                 torch_step(torch_name, np.ones(n, dtype), g.copy())))
                if rule == "Adam":
                    roof = [np.ones(n, dtype) for _ in range(3)]
                    rows.append(("memory roof (same traffic)",
                                 lambda r=roof: _memory_roof(r[0], g, r[1], r[2])))
                baseline = None
                for label, step in rows:
                    seconds = median_time(step, n)
                    baseline = seconds if label == "plain NumPy" else baseline
                    ratio = f"{baseline / seconds:8.1f}x" if baseline else f"{'':9}"
                    print(f"{rule:9} {n:>9.0e} {np.dtype(dtype).name:8} {label:28} "
                          f"{_format_time(seconds):>11} {arrays * nbytes / seconds / 1e9:7.1f} "
                          f"{ratio}")
            print()


def threshold():
    """Serial against parallel Adam kernel across sizes: where does the second thread pay?"""
    print(f"threads {numba.get_num_threads()}; Adam float32, check_finite=False")
    print(f"{'n':>9} {'serial':>10} {'parallel':>10} {'parallel/serial':>16}")
    for exponent in range(10, 21):
        n = 2**exponent
        x = np.ones(n, np.float32)
        g = np.ones(n, np.float32)
        times = []
        for use_parallel in (False, True):
            optimizer = numadam.Adam(x.copy(), check_finite=False)
            optimizer._kernel = kernels.adam_parallel if use_parallel else kernels.adam
            times.append(median_time(lambda o=optimizer: o.step(g), n))
        print(f"{n:>9} {_format_time(times[0]):>10} {_format_time(times[1]):>10} "
              f"{times[1] / times[0]:16.2f}")
    print(f"current PARALLEL_THRESHOLD = {kernels.PARALLEL_THRESHOLD}")


def _format_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e3:.2f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", action="store_true", help="serial vs parallel sweep")
    parser.add_argument("--quick", action="store_true", help="skip n = 1e7")
    args = parser.parse_args()
    if args.threshold:
        threshold()
    else:
        table([10**3, 10**5] if args.quick else [10**3, 10**5, 10**7])


if __name__ == "__main__":
    main()
