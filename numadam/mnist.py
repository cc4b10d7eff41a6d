"""The MNIST experiment: PyTorch's example MLP, trained with numadam's optimizers.

The PyTorch script being reproduced trains a 784-128-10 ReLU MLP with cross-entropy and
``Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)``, batches of 64 shuffled each epoch, inputs
``pixel / 255``, for 5 epochs, and prints after each epoch::

    Epoch 1, Average Loss: 0.3256
    Test Accuracy: 94.50%

Its comparison is plain SGD with ``lr=0.01``. Run it with ``python -m numadam mnist``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

import numadam
from numadam import distributed
from numadam.callbacks import ProgressBar
from numadam.datasets import load_mnist
from numadam.mlp import MLP

OPTIMIZERS = {name.lower(): cls for name, cls in numadam.optimizers.CLASSES.items()}


@njit(cache=True)
def _gather_scaled(images, indices, out):
    """``out[k] = images[indices[k]] / 255`` as float32, flattened: one batch, one pass."""
    scale = np.float32(255)
    pixels = out.shape[1]
    for k in range(indices.shape[0]):
        row = images[indices[k]]
        for j in range(pixels):
            out[k, j] = np.float32(row[j]) / scale


@dataclass
class History:
    """What one run measured, epoch by epoch."""

    train_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)


def evaluate(net, images, labels, batch_size=2000, comm=None):
    """Test accuracy of ``net`` on uint8 ``images`` (n, 784), in large batches; with ``comm``,
    each rank counts its block of the images and the counts are summed."""
    first, end = 0, images.shape[0]
    if comm is not None:
        first, count = distributed.share_of(images.shape[0], comm.size, comm.rank)
        end = first + count
    correct = 0
    buffer = np.empty((batch_size, images.shape[1]), np.float32)
    for start in range(first, end, batch_size):
        indices = np.arange(start, min(start + batch_size, end))
        batch = buffer[: indices.shape[0]]
        _gather_scaled(images, indices, batch)
        correct += int(np.sum(net.predict(batch) == labels[indices]))
    if comm is not None:
        correct = comm.allreduce(correct)
    return correct / images.shape[0]


def train(data, **settings):
    """Train the MLP on MNIST and print the experiment's lines after each epoch.

    Runs :func:`train_on_one_blas_thread`'s loop with BLAS and Numba each limited to one thread
    (both restored afterwards). The batches' matrix products are small (64 x 784 x 128): a second
    BLAS thread spins against Numba's threads, and a parallel kernel launched 938 times an epoch
    waits for a second core each time; on a small, shared machine either makes an epoch many
    times slower (figures in ``benchmarks/README.md``).
    Parameters and return value are those of :func:`train_on_one_blas_thread`.
    """
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return train_on_one_blas_thread(data, **settings)
    finally:
        numba.set_num_threads(numba_threads)


def train_on_one_blas_thread(data, *, epochs=5, batch_size=64, lr=1e-3, optimizer="adam",
                             seed=0, hidden=128, train_subset=None, out=print, progress=False,
                             comm=None, sharded=False):
    """The training loop: the experiment's lines are printed after each epoch.

    Parameters
    ----------
    data : numadam.datasets.MNIST
    epochs, batch_size, lr : int, int, float
        The experiment's settings; the last batch of an epoch may be smaller (no sample dropped).
    optimizer : {"adam", "adamw", "sgd", "rmsprop", "momentum"}
        Built with its PyTorch defaults and ``lr``.
    seed : int
        Seeds the initial weights and the shuffling.
    hidden : int
        Hidden layer width.
    train_subset : int, optional
        Train on the first ``train_subset`` images only (for quick runs).
    out : callable
        Receives each printed line.
    progress : bool or file
        Draw a progress bar while an epoch runs (:class:`numadam.callbacks.ProgressBar`: tqdm
        when installed), on this stream (``True``: ``sys.stderr``), erased before the epoch's
        lines are printed.
    comm : mpi4py intracommunicator, optional
        Train data-parallel over its ranks (:mod:`numadam.distributed`): every rank draws the
        same batches (one process's order for ``seed``), computes the gradient of its
        contiguous share of each batch, and steps along their weighted sum, the batch's mean.
        Each rank passes its own ``out``; the printed figures are the whole batch's.
    sharded : bool
        With ``comm``: keep each rank's slice of the optimizer state only
        (:class:`~numadam.distributed.ShardedDataParallel`).

    Returns
    -------
    History
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    # Independent streams for the initial weights and the batch order, so that changing one
    # (say, the hidden width) leaves the other as it was.
    init_rng, shuffle_rng = map(np.random.default_rng, np.random.SeedSequence(seed).spawn(2))
    train_images = data.train_images.reshape(data.train_images.shape[0], -1)
    train_labels = data.train_labels.astype(np.intp)
    if train_subset is not None:
        train_images, train_labels = train_images[:train_subset], train_labels[:train_subset]
    test_images = data.test_images.reshape(data.test_images.shape[0], -1)

    net = MLP((train_images.shape[1], hidden, 10), rng=init_rng)
    opt = _optimizer(OPTIMIZERS[optimizer], net.params, lr, comm, sharded)
    batch = np.empty((batch_size, train_images.shape[1]), np.float32)
    history = History()
    stream = sys.stderr if progress is True else progress or None
    n = train_images.shape[0]
    batches = (n + batch_size - 1) // batch_size
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = shuffle_rng.permutation(n)
        total = 0.0
        bar = None if stream is None else ProgressBar(total=batches, desc=f"Epoch {epoch}",
                                                      leave=False, file=stream)
        for b in range(batches):
            indices = order[b * batch_size:(b + 1) * batch_size]
            if comm is None:
                x = batch[: indices.shape[0]]
                _gather_scaled(train_images, indices, x)
                total += net.loss_and_grad(x, train_labels[indices])
                opt.step(net.grad)
            else:
                total += _local_step(net, opt, comm, indices, train_images, train_labels, batch)
            if bar is not None and (b % 20 == 0 or b == batches - 1):
                bar.update(b + 1 - bar.n, loss=f"{total / (b + 1):.4f}")
        seconds = time.perf_counter() - start
        if comm is not None:
            total = comm.allreduce(total)  # each rank summed its shares' weighted losses
        accuracy = evaluate(net, test_images, data.test_labels, comm=comm)
        if bar is not None:
            bar.close()  # erases the bar: the epoch's lines replace it
        history.train_loss.append(total / batches)
        history.test_accuracy.append(accuracy)
        history.seconds.append(seconds)
        out(f"Epoch {epoch}, Average Loss: {total / batches:.4f}")
        out(f"Test Accuracy: {100 * accuracy:.2f}%  ({seconds:.2f} s)")
    return history


def _optimizer(cls, params, lr, comm, sharded):
    """The optimizer: plain, or data-parallel over ``comm`` (its state sharded or not)."""
    if comm is None:
        if sharded:
            raise ValueError("sharded=True needs comm (training over MPI ranks)")
        return cls(params, lr=lr)
    if sharded:
        return distributed.ShardedDataParallel(cls, params, comm, lr=lr)
    return distributed.DataParallel(cls(params, lr=lr), comm)


def _local_step(net, opt, comm, indices, images, labels, buffer):
    """One data-parallel step: this rank's contiguous share of the batch ``indices``, its mean
    loss and gradient weighted by its share of the batch, stepped over the ranks.
    Returns the rank's weighted loss (the batch loss once summed over ranks)."""
    offset, count = distributed.share_of(indices.shape[0], comm.size, comm.rank)
    weight = count / indices.shape[0]
    # equal shares: the plain average, divided out after the sum (on a sharded rank's slice
    # only) rather than multiplied into every rank's whole gradient before it
    step_weight = None if indices.shape[0] % comm.size == 0 else weight
    if count == 0:  # a last batch smaller than the number of ranks
        net.grad[:] = 0
        loss = 0.0
    else:
        mine = indices[offset:offset + count]
        x = buffer[:count]
        _gather_scaled(images, mine, x)
        loss = net.loss_and_grad(x, labels[mine])
    opt.step(net.grad, step_weight)
    return loss * weight


def plot_history(history, path, label="numadam"):
    """Save loss and accuracy curves of one run to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history.train_loss) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, history.train_loss, marker="o", label=label)
    ax_loss.set(xlabel="epoch", ylabel="average training loss", title="Training loss")
    ax_acc.plot(epochs, 100 * np.asarray(history.test_accuracy), marker="o", label=label)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    """``python -m numadam mnist``: run the experiment from the command line."""
    parser = argparse.ArgumentParser(prog="python -m numadam mnist", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="save loss/accuracy curves to this file")
    parser.add_argument("--data-dir", help="directory holding the four MNIST IDX files")
    parser.add_argument("--sharded", action="store_true",
                        help="under mpiexec: split the optimizer state over the ranks")
    parser.add_argument("--train-subset", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if not (0 < args.lr < math.inf):
        parser.error(f"--lr must be a positive finite number, got {args.lr}")
    if args.seed < 0:  # NumPy's SeedSequence takes non-negative integers only
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    if args.train_subset is not None and args.train_subset < 1:
        parser.error("--train-subset must be at least 1")
    if args.plot and not os.path.isdir(os.path.dirname(os.path.abspath(args.plot))):
        parser.error(f"--plot: the folder of {args.plot} does not exist")
    if distributed.launched_ranks() > 1 or args.sharded:
        with distributed.abort_on_error() as comm:  # a failing rank ends them all
            return _run(args, comm)
    return _run(args, None)


def _run(args, comm):
    """Load the data, train, print (rank 0 only), plot."""
    rank = 0 if comm is None else comm.rank
    if comm is not None and rank != 0:
        comm.Barrier()  # rank 0 downloads the files if they are missing; then the others read
    data = load_mnist(args.data_dir)
    if comm is not None and rank == 0:
        comm.Barrier()

    def out(line):
        if rank == 0:
            print(line, flush=True)

    ranks = ""
    if comm is not None:
        ranks = f", {comm.size} rank{'s' * (comm.size != 1)}"
        ranks += " (sharded state)" if args.sharded else ""
    out(f"MNIST: {len(data.train_labels)} training, {len(data.test_labels)} test images; "
        f"784-128-10 MLP, {args.optimizer}(lr={args.lr}), batch {args.batch_size}, "
        f"seed {args.seed}{ranks}")
    history = train(data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    optimizer=args.optimizer, seed=args.seed, train_subset=args.train_subset,
                    progress=comm is None and sys.stderr.isatty(), out=out, comm=comm,
                    sharded=args.sharded)
    if args.plot and rank == 0:
        plot_history(history, args.plot, label=f"{args.optimizer} lr={args.lr}")
        print(f"Curves saved to {args.plot}")
    return 0
