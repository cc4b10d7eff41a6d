"""numadam.distributed on one machine: MNIST with 1 and 2 ranks, the Allreduce beside the step,
optimizer memory per rank, and ``minimize_batch`` over ranks.

Usage::

    python benchmarks/bench_distributed.py              # everything (a few minutes)
    python benchmarks/bench_distributed.py --repeats 1  # one round
    python benchmarks/bench_distributed.py --ranks 4    # K ranks instead of 2

The script starts ``mpiexec`` itself (from the ``mpi`` extra) and alternates the runs it
compares, so that a change in the machine's load hits both sides alike. Every rank runs one Numba
and one BLAS thread (K ranks share the machine's cores); the one-process rows run as
``python -m numadam mnist`` does, also on one thread. Rows:

(1) MNIST, 5 epochs of PyTorch's example (``python -m numadam mnist``): the sum of the epochs'
    training times (what the experiment prints; evaluation excluded) and the command's wall time,
    one process against ``mpiexec -n K`` plain and ``--sharded`` (on one machine the sharded
    steps go through shared memory). Target: K = 2 at most 0.75x one process.
(2) Inside one MNIST step on K ranks: this rank's forward and backward pass on its share of the
    batch of 64, the ``Allreduce`` of the 101,770-float32 gradient, the optimizer step, and the
    whole data-parallel step (plain, and sharded through MPI collectives and through shared
    memory); one process's step beside them.
(3) Optimizer state per rank, plain and sharded, in bytes.
(4) ``minimize_batch``: the 20,000 curve fits of ``bench_batch.py`` (jitted, ``jac=True``), one
    process on all cores against K ranks of one thread each (result gathered on every rank).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 5


def mpiexec():
    found = shutil.which("mpiexec", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        sys.exit("mpiexec not found: pip install -e '.[mpi]'")
    return found


def environment(threads):
    return {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def launch(argv, ranks, threads=1):
    """Run ``python argv`` alone (ranks 0) or under ``mpiexec -n ranks``; (stdout, wall s)."""
    command = [sys.executable, *argv]
    if ranks:
        command = [mpiexec(), "-n", str(ranks), *command]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=environment(threads), capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout, wall


# -- (1) MNIST ------------------------------------------------------------------------------------


def mnist_row(ranks, sharded, data_dir):
    argv = ["-m", "numadam", "mnist", "--epochs", str(EPOCHS)]
    argv += ["--data-dir", data_dir] if data_dir else []
    argv += ["--sharded"] if sharded else []
    out, wall = launch(argv, ranks)
    seconds = [float(s) for s in re.findall(r"\(([\d.]+) s\)", out)]
    accuracy = float(re.findall(r"Test Accuracy: ([\d.]+)%", out)[-1])
    return sum(seconds), wall, accuracy


def mnist_table(ranks, repeats, data_dir):
    rows = {"one process": (0, False), f"{ranks} ranks": (ranks, False),
            f"{ranks} ranks, sharded": (ranks, True)}
    results = {name: [] for name in rows}
    for _ in range(repeats):
        for name, (k, sharded) in rows.items():
            results[name].append(mnist_row(k, sharded, data_dir))
    base = min(r[0] for r in results["one process"])
    base_wall = min(r[1] for r in results["one process"])
    print(f"\n(1) MNIST, {EPOCHS} epochs, best of {repeats} (alternating)")
    print("| run | training s (5 epochs) | vs one process | command wall s | vs one process "
          "| final accuracy |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        train, wall = min(r[0] for r in runs), min(r[1] for r in runs)
        print(f"| {name} | {train:.2f} | {train / base:.2f}x | {wall:.2f} | "
              f"{wall / base_wall:.2f}x | {runs[-1][2]:.2f}% |")
    return {name: min(r[0] for r in runs) / base for name, runs in results.items()
            if name != "one process"}


# -- (2, 3) inside a step, on K ranks (worker mode) -----------------------------------------------


def step_worker(data_dir):
    """Run under mpiexec: time the pieces of one data-parallel MNIST step; rank 0 prints JSON."""
    import numadam
    from numadam import distributed
    from numadam.datasets import load_mnist
    from numadam.mlp import MLP
    from numadam.mnist import _gather_scaled

    comm = distributed.world()  # before mpi4py's import: numadam's MPICH setting applies
    MPI = sys.modules["mpi4py.MPI"]
    data = load_mnist(data_dir)
    images = data.train_images.reshape(len(data.train_labels), -1)
    labels = data.train_labels.astype(np.intp)
    rng = np.random.default_rng(0)
    net = MLP((784, 128, 10), rng=0)
    counts, offsets = distributed.shares(64, comm.size)
    local = int(counts[comm.rank])
    X = np.empty((local, 784), np.float32)
    X64 = np.empty((64, 784), np.float32)
    indices = rng.permutation(len(labels))

    def batch(i, size, out):
        _gather_scaled(images, indices[i * 64:i * 64 + size], out)
        return labels[indices[i * 64:i * 64 + size]]

    plain = distributed.DataParallel(numadam.Adam(net.params.copy(), lr=1e-3), comm)
    sharded = distributed.ShardedDataParallel(numadam.Adam, net.params.copy(), comm, lr=1e-3,
                                              shared_memory=False)
    shared = distributed.ShardedDataParallel(numadam.Adam, net.params.copy(), comm, lr=1e-3,
                                             shared_memory=True)
    alone = numadam.Adam(net.params.copy(), lr=1e-3)
    sharded_sum = np.empty(int(sharded.counts[comm.rank]), np.float32)
    buffer = np.empty_like(net.grad)
    parameters = net.params.copy()
    y_local, y_all = batch(0, local, X), batch(0, 64, X64)
    pieces = {
        "forward+backward, this rank's share": lambda: net.loss_and_grad(X, y_local),
        "Allreduce of the gradient": lambda: comm.Allreduce(net.grad, buffer),
        "Adam step, whole vector": lambda: alone.step(net.grad),
        "data-parallel step (Allreduce + Adam)": lambda: plain.step(net.grad),
        "Reduce_scatter of the gradient": lambda: comm.Reduce_scatter(
            net.grad, sharded_sum, recvcounts=sharded.counts),
        "Allgatherv of the parameters (in place)": lambda: comm.Allgatherv(
            MPI.IN_PLACE, [parameters, (sharded.counts, sharded.offsets)]),
        "sharded step, collectives (Reduce_scatter + Adam on 1/K + Allgatherv)":
            lambda: sharded.step(net.grad),
        "sharded step, shared memory (copy, barrier, Adam on 1/K, barrier, copy)":
            lambda: shared.step(net.grad),
        "one process: forward+backward of 64": lambda: net.loss_and_grad(X64, y_all),
    }
    timings = {}
    for name, piece in pieces.items():
        best = np.inf
        for _ in range(5):
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(200):
                piece()
            best = min(best, (time.perf_counter() - start) / 200)
        timings[name] = comm.allreduce(best, op=MPI.MAX)  # the slowest rank sets the pace
    memory = {"plain": sum(v.nbytes for v in plain.optimizer.state.values()),
              "sharded": sharded.state_nbytes}
    memory = {name: comm.allgather(value) for name, value in memory.items()}
    if comm.rank == 0:
        print(json.dumps({"timings": timings, "memory": memory, "n": int(net.params.size)}))


def step_table(ranks, data_dir):
    argv = [__file__, "--worker", "step"] + (["--data-dir", data_dir] if data_dir else [])
    out, _ = launch(argv, ranks)
    result = json.loads(out.strip().splitlines()[-1])
    print(f"\n(2) inside one MNIST step on {ranks} ranks (n = {result['n']:,} float32; slowest "
          f"rank, best of 5 x 200)")
    print("| piece | µs |")
    print("|---|---|")
    for name, seconds in result["timings"].items():
        print(f"| {name} | {seconds * 1e6:.0f} |")
    print(f"\n(3) optimizer state per rank ({ranks} ranks, Adam)")
    print("| state | bytes per rank |")
    print("|---|---|")
    for name, per_rank in result["memory"].items():
        print(f"| {name} | {', '.join(f'{b:,}' for b in per_rank)} |")


# -- (4) minimize_batch over ranks ----------------------------------------------------------------


def batch_worker():
    """Time minimize_batch of bench_batch's problems; under mpiexec with comm=COMM_WORLD.
    Rank 0 prints JSON (best wall time, a digest of the result)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_batch

    import numadam
    from numadam import distributed

    comm = distributed.world() if distributed.launched_ranks() > 1 else None
    T, Y, _ = bench_batch.problems(bench_batch.B_FULL)
    X0 = np.ones((T.shape[0], 2))

    def run():
        return numadam.minimize_batch(bench_batch.value_and_grad_loops, X0, jac=True,
                                      batch_args=(T, Y), options=bench_batch.OPTIONS, comm=comm)

    result = run()  # compile (cached after the first process) and warm up
    best = np.inf
    for _ in range(3):
        if comm is not None:
            comm.Barrier()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    if comm is None or comm.rank == 0:
        print(json.dumps({"seconds": best, "digest": result.x.tobytes().hex()[:32],
                          "nit": int(result.nit.sum())}))


def batch_table(ranks, repeats):
    import numba

    cores = numba.config.NUMBA_NUM_THREADS
    results = {"one process": [], f"{ranks} ranks": []}
    for _ in range(repeats):
        out, _ = launch([__file__, "--worker", "batch"], 0, threads=cores)
        results["one process"].append(json.loads(out.strip().splitlines()[-1]))
        out, _ = launch([__file__, "--worker", "batch"], ranks, threads=max(1, cores // ranks))
        results[f"{ranks} ranks"].append(json.loads(out.strip().splitlines()[-1]))
    base = min(r["seconds"] for r in results["one process"])
    print(f"\n(4) minimize_batch, 20,000 fits (bench_batch.py, jac=True), best of {repeats}")
    print("| run | s | vs one process | same result |")
    print("|---|---|---|---|")
    reference = results["one process"][0]["digest"]
    for name, runs in results.items():
        seconds = min(r["seconds"] for r in runs)
        same = all(r["digest"] == reference for r in runs)
        same = "bitwise" if same else "NO"
        print(f"| {name} | {seconds:.3f} | {seconds / base:.2f}x | {same} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("NUMADAM_DATA_DIR"))
    parser.add_argument("--only", choices=["mnist", "step", "batch"])
    parser.add_argument("--worker", choices=["step", "batch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "step":
        return step_worker(args.data_dir)
    if args.worker == "batch":
        return batch_worker()
    import numba

    print(f"{os.cpu_count()} CPUs, numba {numba.__version__}, {args.ranks} ranks")
    if args.only in (None, "step"):
        step_table(args.ranks, args.data_dir)
    if args.only in (None, "mnist"):
        for name, ratio in mnist_table(args.ranks, args.repeats, args.data_dir).items():
            print(f"{name} / one process (training time): {ratio:.2f}x "
                  f"(target <= 0.75x: {'met' if ratio <= 0.75 else 'NOT met'})")
    if args.only in (None, "batch"):
        batch_table(args.ranks, args.repeats)


if __name__ == "__main__":
    main()
