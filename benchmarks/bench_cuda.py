"""One Adam step on the GPU at n = 1e8, float32 and float64: numadam beside a device-to-device copy
and beside ``torch.optim.Adam(fused=True)``.

Usage::

    python benchmarks/bench_cuda.py                 # n = 1e8, float32 and float64
    python benchmarks/bench_cuda.py --n 10000000    # another size
    python benchmarks/bench_cuda.py --threads-per-block 512 --blocks-per-sm 16   # grid tuning

Without a GPU (or under ``NUMBA_ENABLE_CUDASIM=1``) it says so and exits with status 0.

Times are CUDA-event times of ``--steps`` back-to-back steps divided by their number, median of
``--repeats``; host launch overhead overlaps the previous step's kernel, as in a training loop.
GB/s counts the bytes a step must move: Adam reads x, g, m, v and writes x, m, v (7 vectors); the
copy reads one vector and writes one (2 vectors). The "finiteness check" row is the default
``check_finite=True``, whose extra read of g and device-to-host wait are counted as overhead (its
GB/s still counts 7 vectors). Targets from the issue: numadam's Adam at least 85% of the copy's
bandwidth, and at least PyTorch's fused Adam.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import numadam
import numadam.cuda as nc

try:
    import torch
except ImportError:  # optional: the PyTorch row appears only when it is installed with CUDA
    torch = None

ADAM_VECTORS = 7  # x, g, m, v read; x, m, v written
COPY_VECTORS = 2


def event_time(run, steps, repeats, record, synchronize):
    """Median over ``repeats`` of the event time of ``steps`` calls of ``run()``, per call (s)."""
    run()  # warm up: compilation, state allocation, first touch
    synchronize()
    times = []
    for _ in range(repeats):
        elapsed = record(lambda: [run() for _ in range(steps)])
        times.append(elapsed / steps)
    return float(np.median(times))


def numba_events(cuda):
    def record(work):
        start, end = cuda.event(), cuda.event()
        start.record()
        work()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    return record, cuda.synchronize


def torch_events():
    def record(work):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    return record, torch.cuda.synchronize


def bench_dtype(n, dtype, steps, repeats):
    cuda = nc.require()
    record, synchronize = numba_events(cuda)
    itemsize = np.dtype(dtype).itemsize
    rows = []

    src, dst = nc.zeros(n, dtype), nc.zeros(n, dtype)
    t_copy = event_time(lambda: dst.copy_to_device(src), steps, repeats, record, synchronize)
    rows.append(("device-to-device copy", t_copy, COPY_VECTORS * n * itemsize / t_copy))

    rng = np.random.default_rng(0)
    x = nc.to_device(rng.standard_normal(n).astype(dtype))
    g = nc.to_device((rng.standard_normal(n) * 1e-2).astype(dtype))
    adam_bytes = ADAM_VECTORS * n * itemsize
    for label, check_finite in (("numadam Adam", False),
                                ("numadam Adam, finiteness check", True)):
        opt = numadam.Adam(x, lr=1e-6, check_finite=check_finite)
        t = event_time(lambda opt=opt: opt.step(g), steps, repeats, record, synchronize)
        rows.append((label, t, adam_bytes / t))
    synchronize()

    if torch is not None and torch.cuda.is_available():
        tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
        p = torch.nn.Parameter(torch.randn(n, device="cuda", dtype=tdtype))
        p.grad = torch.randn(n, device="cuda", dtype=tdtype) * 1e-2
        opt = torch.optim.Adam([p], lr=1e-6, fused=True)
        t_record, t_sync = torch_events()
        t = event_time(opt.step, steps, repeats, t_record, t_sync)
        rows.append((f"torch.optim.Adam(fused=True) {torch.__version__}", t, adam_bytes / t))
        del opt, p
        torch.cuda.empty_cache()
    else:
        rows.append(("torch.optim.Adam(fused=True)", None, None))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10**8)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--steps", type=int, default=10, help="steps between two events")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads-per-block", type=int, default=nc.THREADS_PER_BLOCK)
    parser.add_argument("--blocks-per-sm", type=int, default=nc.BLOCKS_PER_MULTIPROCESSOR)
    args = parser.parse_args(argv)

    if nc._simulated():
        print("bench_cuda: numba.cuda is the simulator (NUMBA_ENABLE_CUDASIM=1); nothing to "
              "measure. Unset it and run on a machine with an NVIDIA GPU.")
        return 0
    try:
        cuda = nc.require()
    except nc.CudaUnavailableError as error:
        print(f"bench_cuda: no GPU, nothing measured.\n{error}")
        return 0

    nc.THREADS_PER_BLOCK, nc.BLOCKS_PER_MULTIPROCESSOR = (args.threads_per_block,
                                                         args.blocks_per_sm)
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    print(f"# {name}, {device.MULTIPROCESSOR_COUNT} SMs; n = {args.n:,}; "
          f"{nc.THREADS_PER_BLOCK} threads/block, <= {nc.BLOCKS_PER_MULTIPROCESSOR} blocks/SM; "
          f"median of {args.repeats} x {args.steps} steps")
    for name in args.dtypes.split(","):
        dtype = {"float32": np.float32, "float64": np.float64}[name.strip()]
        rows = bench_dtype(args.n, dtype, args.steps, args.repeats)
        copy_rate = rows[0][2]
        print(f"\n## {np.dtype(dtype).name}\n")
        print("| | ms / step | GB/s | % of copy |")
        print("|---|---:|---:|---:|")
        for label, t, rate in rows:
            if t is None:
                print(f"| {label} | not run (PyTorch with CUDA not installed) | | |")
            else:
                print(f"| {label} | {t * 1e3:.3f} | {rate / 1e9:.0f} | "
                      f"{100 * rate / copy_rate:.0f}% |")
        ours = rows[1][2]
        verdicts = [f"numadam Adam at {100 * ours / copy_rate:.0f}% of the copy's bandwidth "
                    f"(target >= 85%): {'met' if ours >= 0.85 * copy_rate else 'MISSED'}"]
        if rows[-1][1] is not None:
            theirs = rows[-1][2]
            verdicts.append(f"{ours / theirs:.2f}x PyTorch's fused Adam (target >= 1): "
                            f"{'met' if ours >= theirs else 'MISSED'}")
        print("\n" + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
