"""One optimizer step at n = 1e3, 1e5, 1e7: numadam beside plain NumPy and PyTorch, in one process.

Usage::

    python benchmarks/bench_kernels.py               # the table
    python benchmarks/bench_kernels.py --threshold   # serial vs parallel kernel, to set the cutoff
    python benchmarks/bench_kernels.py --quick       # n = 1e3 and 1e5 only
    python benchmarks/bench_kernels.py --groups      # Adam with 3 parameter groups vs 1
    python benchmarks/bench_kernels.py --groups --rules Prodigy DoG   # other rules' groups
    python benchmarks/bench_kernels.py --rules Adam Prodigy DAdaptAdam DoG --sizes 1e7

Every class of the rule registry gets its rows; PyTorch's row uses its fused CPU kernel where it
has one (Adam, AdamW, SGD, Adagrad), else its foreach path. GB/s counts the arrays a step must
move: x, g and each used state vector read, x and the states written (Adam: 7 arrays). The
"memory roof" row is a parallel pass with Adam's exact traffic and trivial arithmetic: what the
machine's memory allows. Ratios are against plain NumPy written as tutorials write it. The rules
with a reduction stage (Prodigy, DAdaptAdam, DoG, Adafactor) also print their step's time over
Adam's, when Adam is in the table, measured in pairs of steps (one of the rule, one of Adam) so
that the machine's drift does not enter the ratio.
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


def paired_ratios(step, other, pairs=41):
    """The quartiles of ``step``'s time over ``other``'s, each ratio from one call of each
    made one after the other (both warmed up first)."""
    step()
    other()
    ratios = np.empty(pairs)
    for i in range(pairs):
        start = time.perf_counter()
        step()
        middle = time.perf_counter()
        other()
        ratios[i] = (middle - start) / (time.perf_counter() - middle)
    return tuple(np.percentile(ratios, [25, 50, 75]))


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


#: Interleaved measurement rounds per table cell.
ROUNDS = 3
#: ... and per cell of the --groups table
GROUP_ROUNDS = 7

#: numadam class -> (NumPy tutorial step factory or None, options for numadam and torch)
NUMPY_STEPS = {"Adam": numpy_adam, "RMSProp": numpy_rmsprop, "Momentum": numpy_momentum}
#: numadam class -> torch.optim class, where PyTorch has the rule
TORCH_NAMES = {"Adam": "Adam", "AdamW": "AdamW", "RMSProp": "RMSprop", "SGD": "SGD",
               "Momentum": "SGD", "NAdam": "NAdam", "RAdam": "RAdam", "Adamax": "Adamax",
               "Adagrad": "Adagrad", "Adadelta": "Adadelta", "Rprop": "Rprop"}
#: PyTorch's CPU fused kernels (2.x); the other rules run its foreach path, its fastest there
TORCH_FUSED = {"Adam", "AdamW", "SGD", "Adagrad"}
#: options both get, so that the rows compare the same work (SGD: plain, Momentum: 0.9)
OPTIONS = {"Momentum": {"momentum": 0.9}}


def arrays_moved(optimizer):
    """Arrays a step must move: read x, g and every used state vector; write x and the states."""
    states = sum(1 for vector in optimizer.state.values() if vector.size)
    return 3 + 2 * states


def torch_step(name, x, g, options):
    param = torch.nn.Parameter(torch.from_numpy(x))
    param.grad = torch.from_numpy(g)
    implementation = {"fused": True} if name in TORCH_FUSED else {"foreach": True}
    optimizer = getattr(torch.optim, name)([param], **implementation, **options)
    label = f"torch {name}({next(iter(implementation))}=True)"
    return label, optimizer.step


def table(sizes, rules=()):
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, "
          f"torch {torch.__version__ if torch else 'not installed'}")
    header = (f"{'rule':17} {'n':>9} {'dtype':8} {'implementation':30} {'time/step':>11} "
              f"{'GB/s':>7} {'vs NumPy':>9}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    adam_steps = {}  # (n, dtype) -> numadam Adam's step, for the rules compared with it
    for n in sizes:
        for dtype in (np.float32, np.float64):
            g = rng.standard_normal(n).astype(dtype)
            nbytes = n * np.dtype(dtype).itemsize
            for rule, cls in numadam.optimizers.CLASSES.items():
                if rules and rule not in rules:
                    continue
                options = OPTIONS.get(rule, {})
                rows = []
                if rule in NUMPY_STEPS:
                    rows.append(("plain NumPy", NUMPY_STEPS[rule](np.ones(n, dtype), g)))
                optimizer = cls(np.ones(n, dtype), **options)
                arrays = arrays_moved(optimizer)
                rows.append(("numadam", lambda o=optimizer: o.step(g)))
                for mode in (False, "before"):
                    other = cls(np.ones(n, dtype), check_finite=mode, **options)
                    rows.append((f"numadam check_finite={mode!r}", lambda o=other: o.step(g)))
                torch_name = TORCH_NAMES.get(rule)
                if torch is not None and torch_name is not None:
                    rows.append(torch_step(torch_name, np.ones(n, dtype), g.copy(), options))
                if rule == "Adam":
                    roof = [np.ones(n, dtype) for _ in range(3)]
                    rows.append(("memory roof (same traffic)",
                                 lambda r=roof: _memory_roof(r[0], g, r[1], r[2])))
                baseline = None
                # Rounds interleave the rows, so that a slow spell of the machine hits them all;
                # each row keeps its best median.
                times = {}
                for _ in range(ROUNDS):
                    for label, step in rows:
                        seconds = median_time(step, n)
                        times[label] = min(times.get(label, seconds), seconds)
                for label, step in rows:
                    seconds = times[label]
                    baseline = seconds if label == "plain NumPy" else baseline
                    ratio = f"{baseline / seconds:8.1f}x" if baseline else f"{'':9}"
                    peer = [t for label, t in times.items() if label.startswith("torch")]
                    vs_torch = (f"{peer[0] / seconds:8.2f}x" if peer and label == "numadam"
                                else "")
                    print(f"{rule:17} {n:>9.0e} {np.dtype(dtype).name:8} {label:30} "
                          f"{_format_time(seconds):>11} {arrays * nbytes / seconds / 1e9:7.1f} "
                          f"{ratio}{vs_torch}")
                if rule == "Adam":
                    adam_steps[n, dtype] = dict(rows)["numadam"]
                elif cls.variant.rule.reduction is not None and (n, dtype) in adam_steps:
                    # the parameter-free rules' target: within 1.3x of Adam's step, measured
                    # in pairs (this rule's step, then Adam's) so that the machine's drift
                    # between the two tables' rows does not enter the ratio
                    low, median, high = paired_ratios(dict(rows)["numadam"],
                                                      adam_steps[n, dtype])
                    print(f"{'':17} numadam {rule} step / Adam step: {median:.2f}x "
                          f"(paired steps; quartiles {low:.2f}-{high:.2f}x)")
                torch_time = [t for label, t in times.items() if label.startswith("torch")]
                if torch_time:
                    print(f"{'':17} numadam (default) vs torch: "
                          f"{torch_time[0] / times['numadam']:.2f}x")
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
            loops = kernels.for_rule(numadam.Adam.variant.rule.element)
            optimizer._kernel = loops.parallel if use_parallel else loops.serial
            times.append(median_time(lambda o=optimizer: o.step(g), n))
        print(f"{n:>9} {_format_time(times[0]):>10} {_format_time(times[1]):>10} "
              f"{times[1] / times[0]:16.2f}")
    print(f"current PARALLEL_THRESHOLD = {kernels.PARALLEL_THRESHOLD}")


def groups(sizes, rules=("Adam",)):
    """Float32: a step of three parameter groups against the step of the same vector without
    groups, in one process, rounds interleaved. Adam's groups are one pass over a segment
    table; a rule with a reduction stage steps one group after the other (its own sums)."""
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}; float32, "
          f"check_finite=True (the default)")
    print(f"{'rule':>10} {'n':>9} {'no groups':>11} {'1 group':>11} {'3 groups':>11} "
          f"{'3 / none':>9} {'3 - none':>10}")
    rng = np.random.default_rng(0)
    for name in rules:
        cls = getattr(numadam, name)
        lr = cls.__signature__.parameters["lr"].default
        for n in sizes:
            g = rng.standard_normal(n).astype(np.float32)
            plain = cls(np.ones(n, np.float32))
            one = cls(np.ones(n, np.float32), groups=[{"range": (0, n)}])
            flat, views = numadam.ravel({"a": np.ones(n // 2, np.float32),
                                         "b": np.ones(n // 4, np.float32),
                                         "c": np.ones(n - n // 2 - n // 4, np.float32)})
            if name == "Adam":
                other = [{"lr": 1e-2, "weight_decay": 0.0}, {"lr": 3e-3, "betas": (0.8, 0.99)}]
            else:
                other = [{"lr": lr * 0.5}, {"lr": lr * 0.25}]
            three = cls([{"params": views["a"]}, {"params": views["b"], **other[0]},
                         {"params": views["c"], **other[1]}])
            rows = {"none": plain, "one": one, "three": three}
            times = {}
            for _ in range(GROUP_ROUNDS):  # more than the table's: three launches meet more noise
                for label, optimizer in rows.items():
                    seconds = median_time(lambda o=optimizer: o.step(g), n)
                    times[label] = min(times.get(label, seconds), seconds)
            print(f"{name:>10} {n:>9.0e} {_format_time(times['none']):>11} "
                  f"{_format_time(times['one']):>11} {_format_time(times['three']):>11} "
                  f"{times['three'] / times['none']:8.3f}x "
                  f"{(times['three'] - times['none']) * 1e6:+8.2f} us")


def _format_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e3:.2f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", action="store_true", help="serial vs parallel sweep")
    parser.add_argument("--quick", action="store_true", help="skip n = 1e7")
    parser.add_argument("--groups", action="store_true",
                        help="Adam with 3 parameter groups against none (n = 1e3, 1e7)")
    parser.add_argument("--sizes", type=float, nargs="+", help="vector sizes, e.g. 1e3 1e7")
    parser.add_argument("--rules", nargs="+", default=(),
                        help="class names (Adam, Lion, ...); every registered class by default")
    args = parser.parse_args()
    if args.threshold:
        threshold()
    elif args.groups:
        groups([int(n) for n in args.sizes] if args.sizes else [10**3, 10**7],
               args.rules or ("Adam",))
    else:
        sizes = [int(n) for n in args.sizes] if args.sizes else (
            [10**3, 10**5] if args.quick else [10**3, 10**5, 10**7])
        table(sizes, args.rules)


if __name__ == "__main__":
    main()
