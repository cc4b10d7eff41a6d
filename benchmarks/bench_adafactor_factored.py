"""Adafactor's factored form: one step on an m x n matrix, numadam beside ``torch.optim.Adafactor``
(single-tensor and foreach paths) and beside numadam's unfactored Adafactor and Adam on the same
number of elements, in one process.

Usage::

    python benchmarks/bench_adafactor_factored.py              # 100x100, 1000x1000, 3162x3162
    python benchmarks/bench_adafactor_factored.py --shapes 1000x1000 --dtype float32

numadam's steps use every Numba thread from ``kernels.PARALLEL_THRESHOLD`` elements on (the
factored one, chunks of 64 rows), and PyTorch its intra-op threads. Ratios are PyTorch's time
(the faster of its two paths) over numadam's: above 1, numadam is faster.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_kernels import median_time  # the same repeats and median as the kernel table

import numadam

try:
    import torch
except ImportError:  # optional: its columns appear only when it is installed
    torch = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["100x100", "1000x1000", "3162x3162"])
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"dtype {args.dtype}; times are medians of one step")
    header = ["shape", "numadam factored", "unfactored", "Adam"]
    if torch is not None and hasattr(torch.optim, "Adafactor"):
        header += ["torch", "torch foreach", "torch / numadam"]
    print(" | ".join(header))
    for text in args.shapes:
        m, n = (int(v) for v in text.split("x"))
        size = m * n
        x = rng.standard_normal(size).astype(args.dtype)
        g = rng.standard_normal(size).astype(args.dtype)
        factored = numadam.Adafactor(x.copy(), groups=[{"range": (0, size), "shape": (m, n)}])
        ours = median_time(lambda: factored.step(g), size)
        row = [text, f"{ours * 1e3:.3f} ms"]
        for opt in (numadam.Adafactor(x.copy()), numadam.Adam(x.copy())):
            row.append(f"{median_time(lambda opt=opt: opt.step(g), size) * 1e3:.3f} ms")
        if len(header) > 4:
            theirs = []
            for foreach in (False, True):
                param = torch.nn.Parameter(torch.from_numpy(x.reshape(m, n).copy()))
                param.grad = torch.from_numpy(g.reshape(m, n).copy())
                opt = torch.optim.Adafactor([param], foreach=foreach)
                theirs.append(median_time(opt.step, size))
                row.append(f"{theirs[-1] * 1e3:.3f} ms")
            row.append(f"{min(theirs) / ours:.2f}x")
        print(" | ".join(row))


if __name__ == "__main__":
    main()
