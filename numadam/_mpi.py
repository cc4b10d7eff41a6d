"""The MPI plumbing shared by :mod:`numadam.distributed` and ``minimize_batch(comm=...)``.

Communicator checks, the hook that makes an uncaught exception end every rank, the agreement
of the ranks on their inputs and on their errors, and the split of ``total`` items into
contiguous blocks. It imports mpi4py only when a function here needs MPI, so that
``import numadam`` never does; it sits below both of its users (no import cycle).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback

import numpy as np

__all__ = ["abort_on_error", "abort_when_uncaught", "agree", "check_comm", "describe",
           "error_kind", "launched_ranks", "mpi_module", "raise_together", "report_and_abort",
           "share_of", "shares", "world"]


def mpi_module():
    """mpi4py's ``MPI`` module, or one clear ImportError."""
    if "mpi4py.MPI" not in sys.modules:
        # Read by MPICH when MPI starts (at this import). Its default reduce-scatter algorithm
        # took 0.36-0.53 ms for MNIST's 400 kB gradient on 2 ranks, "pairwise" 0.04 ms
        # (benchmarks/README.md); other MPIs ignore the variable, and a value the user set wins.
        os.environ.setdefault("MPIR_CVAR_REDUCE_SCATTER_INTRA_ALGORITHM", "pairwise")
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "numadam.distributed needs mpi4py and an MPI library; install them with "
            "pip install 'numadam[mpi]' (mpi4py and the MPICH wheel, which provides mpiexec)"
        ) from exc
    return MPI


def launched_ranks():
    """How many ranks ``mpiexec`` started this process among (1 without it), read from the
    launcher's environment (MPICH/Hydra, Open MPI, Slurm) without starting MPI."""
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def world():
    """``MPI.COMM_WORLD`` (importing mpi4py, which starts MPI)."""
    return mpi_module().COMM_WORLD


def check_comm(comm):
    MPI = mpi_module()
    if not isinstance(comm, MPI.Intracomm) or comm == MPI.COMM_NULL:
        what = "a null communicator" if isinstance(comm, MPI.Comm) else type(comm).__name__
        raise TypeError(f"comm must be an mpi4py intracommunicator such as MPI.COMM_WORLD, got "
                        f"{what}")
    return comm


def report_and_abort(comm, message):
    """Write ``message`` to stderr, give the launcher time to forward it, end every rank.

    ``Abort`` makes the launcher kill every process at once; output still in the pipe to the
    launcher was seen lost (on CI, all but the traceback's first line), hence the pause.
    """
    sys.stderr.write(message)
    sys.stderr.flush()
    time.sleep(0.5)
    comm.Abort(1)


def abort_when_uncaught(comm):
    """Make an exception that nobody catches end every rank of ``comm``, not just this one.

    Otherwise the failing rank's interpreter exits while the others wait in a collective it
    will never join: the run hangs. The hook runs only for an uncaught exception (which ends
    this process anyway): it prints the traceback as Python would, then calls ``Abort``.
    Installed once per process by the tools of this module when ``comm`` has several ranks;
    ``python -m mpi4py`` does the same for a whole script.
    """
    if comm.size == 1 or getattr(sys.excepthook, "numadam_aborts", False):
        return
    previous = sys.excepthook

    def abort(kind, value, trace):
        previous(kind, value, trace)
        # COMM_WORLD, not the communicator that installed the hook: that one may be freed by
        # now (a sub-communicator), and Abort on it would fail inside the hook
        everyone = mpi_module().COMM_WORLD
        report_and_abort(everyone, f"[rank {everyone.rank}] uncaught {kind.__name__}: "
                                    f"aborting all {everyone.size} ranks\n")

    abort.numadam_aborts = True
    sys.excepthook = abort


def shares(total, size):
    """How ``total`` items split into ``size`` contiguous blocks (``numpy.array_split``'s rule:
    the first ``total % size`` blocks have one more): ``(counts, offsets)``, int arrays."""
    offsets, counts = np.array([share_of(total, size, rank) for rank in range(size)],
                               np.int64).reshape(size, 2).T
    return np.ascontiguousarray(counts), np.ascontiguousarray(offsets)


def share_of(total, size, rank):
    """``(offset, count)`` of block ``rank`` in :func:`shares`' split, as Python ints."""
    base, extra = divmod(total, size)
    return rank * base + min(rank, extra), base + (rank < extra)


def agree(comm, what, local):
    """Check that every rank passed the same ``local`` value (a small tuple); ValueError on every
    rank otherwise, so that no rank goes on alone into a collective that would never match."""
    values = comm.allgather(local)
    if any(value != values[0] for value in values):
        raise ValueError(f"every rank must pass the same {what}; the ranks passed {values}")


@contextlib.contextmanager
def abort_on_error(comm=None):
    """End every rank when the code inside raises on one of them.

    Another rank may be waiting in a collective that the failing rank will never join: it would
    wait for ever. On an exception this prints the traceback, prefixed with the rank, to stderr
    and calls ``comm.Abort(1)``, which ends all ranks (``mpiexec`` exits non-zero). With one rank
    the exception is simply raised.

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.
    """
    comm = world() if comm is None else check_comm(comm)
    try:
        yield comm
    except BaseException as exc:
        if comm.size == 1 or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            raise
        text = "".join(traceback.format_exception(exc))
        report_and_abort(comm, "".join(f"[rank {comm.rank}] {line}\n"
                                        for line in text.splitlines())
                          + f"[rank {comm.rank}] aborting all {comm.size} ranks\n")


def describe(exc):
    return None if exc is None else f"{type(exc).__name__}: {exc}"


def error_kind(exc):
    """The kind of error the other ranks raise for ``exc``: its own for the input errors
    (ValueError, TypeError), RuntimeError for anything else; ``None`` without one."""
    if exc is None:
        return None
    return next((kind.__name__ for kind in (TypeError, ValueError) if isinstance(exc, kind)),
                "RuntimeError")


def raise_together(comm, failure, outcomes, what):
    """Raise on every rank if any rank failed, each rank an error of the same kind, so that code
    catching it goes on alike on every rank (one rank left in the handler would wait in a
    collective the others never join).

    ``outcomes`` are the ranks' ``(error_kind(failure), describe(failure), ...)``. The kind is the
    first failing rank's: a rank whose own failure is an instance of that kind raises it, any
    other one (a failing rank's ``ZeroDivisionError`` too, when the kind is RuntimeError) an
    error of that kind naming the first failing rank and its error.
    """
    failed = [(rank, outcome) for rank, outcome in enumerate(outcomes) if outcome[0] is not None]
    if not failed:
        return
    rank, (kind_name, description, *_) = failed[0]
    kind = {"TypeError": TypeError, "ValueError": ValueError}.get(kind_name, RuntimeError)
    if isinstance(failure, kind):
        raise failure
    raise kind(f"{what} failed on rank {rank} of {comm.size}: {description}") from failure
