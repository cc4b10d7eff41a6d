"""One Adam step on the GPU at n = 1e6, 1e7 and 1e8, float32 and float64, ``check_finite`` on and
off: numadam beside a device-to-device copy and beside ``torch.optim.Adam(fused=True)``, with the
host synchronizations each step makes.

Usage::

    python benchmarks/bench_cuda.py                          # n = 1e6, 1e7, 1e8; both dtypes
    python benchmarks/bench_cuda.py --sizes 10000000         # other sizes
    python benchmarks/bench_cuda.py --threads-per-block 512 --blocks-per-sm 16   # grid tuning
    python benchmarks/bench_cuda.py --rules Prodigy,DAdaptAdam,DoG,Adafactor   # + those rules

Without a GPU (or under ``NUMBA_ENABLE_CUDASIM=1``) it says so and exits with status 0
(``--allow-simulator`` runs it on the simulator anyway, to check the script: its times mean
nothing).

Times are CUDA-event times of ``--steps`` back-to-back steps divided by their number, median of
``--repeats``; host launch overhead overlaps the previous step's kernel, as in a training loop.
GB/s counts the bytes a step must move: Adam reads x, g, m, v and writes x, m, v (7 vectors); the
copy reads one vector and writes one (2 vectors). "x torch" is torch's time over numadam's (above
1: numadam is faster).

Host syncs per step are counted over the timed steps: for numadam, every call that makes the
host wait for the GPU (a copy to or from the host without a stream, a ``synchronize`` of a
stream, an event or the device), found by wrapping those calls; for torch, the synchronizing
operations ``torch.cuda.set_sync_debug_mode("warn")`` reports. The timing's own event
synchronization is not counted. ``--rules`` adds the default step of other optimizer classes
(the rules with a reduction stage wait once a step for their sums: 1 host sync), with their time
over Adam's default step in the "x torch" column's place (below 1: slower than Adam; their GB/s
is Adam's bytes over their time). Targets (issue 26): no host sync per step; numadam's Adam at
least 85% of the copy's bandwidth, and at least PyTorch's fused Adam at n = 1e8.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import warnings

import numpy as np

import numadam
import numadam.cuda as nc

try:
    import torch
except ImportError:  # optional: the PyTorch column appears only when it is installed with CUDA
    torch = None

ADAM_VECTORS = 7  # x, g, m, v read; x, m, v written
COPY_VECTORS = 2


class HostSyncs:
    """Counts the calls through which numba.cuda makes the host wait for the GPU, while
    ``counting`` is on: ``copy_to_host`` / ``copy_to_device`` without a stream (blocking),
    ``synchronize`` of a stream, of an event and of the device. Asynchronous copies (given a
    stream) are counted apart."""

    def __init__(self, cuda):
        self.cuda, self.blocking, self.asynchronous, self.counting = cuda, 0, 0, False
        self._undo = []
        array_class = type(nc.zeros(1, np.float32))
        for name in ("copy_to_host", "copy_to_device"):
            self._wrap(array_class, name, self._copy)
        for owner in (type(cuda.default_stream()), type(cuda.event())):
            self._wrap(owner, "synchronize", self._wait)
        self._wrap(cuda, "synchronize", self._wait)

    def _wrap(self, owner, name, count):
        real, own = getattr(owner, name), name in vars(owner)

        @functools.wraps(real)
        def wrapper(*args, **kwargs):
            if self.counting:
                count(name, args, kwargs)
            return real(*args, **kwargs)

        setattr(owner, name, wrapper)
        self._undo.append((owner, name, real, own))

    def _copy(self, name, args, kwargs):
        stream = kwargs.get("stream", args[2] if len(args) > 2 else 0)
        if stream:
            self.asynchronous += 1
        else:
            self.blocking += 1

    def _wait(self, name, args, kwargs):
        self.blocking += 1

    @contextlib.contextmanager
    def count(self):
        self.blocking = self.asynchronous = 0
        self.counting = True
        try:
            yield self
        finally:
            self.counting = False

    def restore(self):
        for owner, name, real, own in reversed(self._undo):
            if own:
                setattr(owner, name, real)
            else:  # inherited: the base class's again
                delattr(owner, name)


def event_time(run, steps, repeats, record, synchronize):
    """Median over ``repeats`` of the event time of ``steps`` calls of ``run()``, per call (s)."""
    run()  # warm up: compilation, state allocation, first touch
    synchronize()
    times = []
    for _ in range(repeats):
        elapsed = record(lambda: [run() for _ in range(steps)])
        times.append(elapsed / steps)
    return float(np.median(times))


def numba_events(cuda, syncs):
    def record(work):
        start, end = cuda.event(), cuda.event()
        start.record()
        with syncs.count():
            work()
        end.record()
        end.synchronize()  # the timing's own wait, not counted
        return start.elapsed_time(end) / 1e3

    return record, cuda.synchronize


def torch_events(counted):
    def record(work):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                work()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counted.append(sum("synchroniz" in str(w.message) for w in caught))
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    return record, torch.cuda.synchronize


def size_label(n):
    """``10^8`` for a power of ten, else ``n`` with thousands separators."""
    power = round(np.log10(n)) if n > 0 else 0
    return f"10^{power}" if 10**power == n else f"{n:,}"


def bench_size(n, dtype, steps, repeats, cuda, syncs, simulated, rules=()):
    """``(copy row, [numadam rows], torch row)``; a row is ``(label, s/step, bytes/s, syncs per
    step)``; the numadam rows are Adam's three modes, then the default step of each class named
    in ``rules``."""
    record, synchronize = numba_events(cuda, syncs)
    itemsize = np.dtype(dtype).itemsize

    src, dst = nc.zeros(n, dtype), nc.zeros(n, dtype)
    t_copy = event_time(lambda: dst.copy_to_device(src), steps, repeats, record, synchronize)
    copy = ("device-to-device copy", t_copy, COPY_VECTORS * n * itemsize / t_copy, None)
    src = dst = None  # freed before the next allocations

    rng = np.random.default_rng(0)
    x = nc.to_device(rng.standard_normal(n).astype(dtype))
    g = nc.to_device((rng.standard_normal(n) * 1e-2).astype(dtype))
    adam_bytes = ADAM_VECTORS * n * itemsize
    ours = []
    runs = [("Adam", {"lr": 1e-6, "check_finite": check}) for check in (True, False, "before")]
    runs += [(name, {}) for name in rules]
    for name, options in runs:
        opt = getattr(numadam, name)(x, **options)
        blocking, timed = [], []

        def run(opt=opt):
            opt.step(g)

        def counted_record(work):
            elapsed = record(work)
            blocking.append(syncs.blocking)
            timed.append(steps)
            return elapsed

        t = event_time(run, steps, repeats, counted_record, synchronize)
        opt.synchronize()
        label = (f"numadam {name}, check_finite={options['check_finite']!r}" if options
                 else f"numadam {name}")
        ours.append((label, t, adam_bytes / t, sum(blocking) / sum(timed)))
        del opt
    synchronize()
    x = g = None

    theirs = None
    if torch is not None and torch.cuda.is_available() and not simulated:
        tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
        p = torch.nn.Parameter(torch.randn(n, device="cuda", dtype=tdtype))
        p.grad = torch.randn(n, device="cuda", dtype=tdtype) * 1e-2
        opt = torch.optim.Adam([p], lr=1e-6, fused=True)
        counted = []
        t_record, t_sync = torch_events(counted)
        t = event_time(opt.step, steps, repeats, t_record, t_sync)
        theirs = (f"torch.optim.Adam(fused=True) {torch.__version__}", t, adam_bytes / t,
                  sum(counted) / (steps * len(counted)))
        del opt, p
        torch.cuda.empty_cache()
    return copy, ours, theirs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000,100000000")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--steps", type=int, default=10, help="steps between two events")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads-per-block", type=int, default=nc.THREADS_PER_BLOCK)
    parser.add_argument("--blocks-per-sm", type=int, default=nc.BLOCKS_PER_MULTIPROCESSOR)
    parser.add_argument("--rules", default="",
                        help="comma-separated optimizer classes to time beside Adam")
    parser.add_argument("--allow-simulator", action="store_true",
                        help="run on the CUDA simulator (checks the script; times mean nothing)")
    args = parser.parse_args(argv)
    rules = [name.strip() for name in args.rules.split(",") if name.strip()]
    unknown = [name for name in rules if not isinstance(getattr(numadam, name, None), type)]
    if unknown:
        parser.error(f"--rules: not optimizer classes of numadam: {', '.join(unknown)}")

    simulated = nc._simulated()
    if simulated and not args.allow_simulator:
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
    name = getattr(device, "name", "simulator")
    name = name.decode() if isinstance(name, bytes) else name
    sms = getattr(device, "MULTIPROCESSOR_COUNT", "?")
    print(f"# {name}, {sms} SMs; {nc.THREADS_PER_BLOCK} threads/block, "
          f"<= {nc.BLOCKS_PER_MULTIPROCESSOR} blocks/SM; median of {args.repeats} x "
          f"{args.steps} steps" + ("; SIMULATOR: times mean nothing" if simulated else ""))
    if torch is None or not torch.cuda.is_available():
        print("# torch.optim.Adam(fused=True): not run (PyTorch with CUDA not installed)")
    syncs = HostSyncs(cuda)
    verdicts = []
    try:
        for dtype_name in args.dtypes.split(","):
            dtype = {"float32": np.float32, "float64": np.float64}[dtype_name.strip()]
            print(f"\n## {np.dtype(dtype).name}\n")
            print("| n | | ms / step | GB/s | % of copy | host syncs / step | x torch |")
            print("|---:|---|---:|---:|---:|---:|---:|")
            for n in (int(float(size)) for size in args.sizes.split(",")):
                copy, ours, theirs = bench_size(n, dtype, args.steps, args.repeats, cuda, syncs,
                                                simulated, rules)
                copy_rate = copy[2]
                adam, others = ours[:3], ours[3:]
                rows = ([(copy, "")] + [(row, f"{theirs[1] / row[1]:.2f}" if theirs else "")
                                        for row in adam] + ([(theirs, "")] if theirs else [])
                        + [(row, f"{adam[0][1] / row[1]:.2f} Adam") for row in others])
                for (label, t, rate, per_step), ratio in rows:
                    per_step = "" if per_step is None else f"{per_step:g}"
                    print(f"| {size_label(n)} | {label} | {t * 1e3:.3f} | {rate / 1e9:.0f} | "
                          f"{100 * rate / copy_rate:.0f}% | {per_step} | {ratio} |")
                default = ours[0]
                verdicts.append(
                    f"{np.dtype(dtype).name} n = {size_label(n)}: numadam's default step at "
                    f"{100 * default[2] / copy_rate:.0f}% of the copy (target >= 85%), "
                    f"{default[3]:g} host syncs per step (target 0)"
                    + (f", {theirs[1] / default[1]:.2f}x torch's fused Adam (target >= 1 at "
                       f"10^8)" if theirs else ""))
    finally:
        syncs.restore()
    print("\n" + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
