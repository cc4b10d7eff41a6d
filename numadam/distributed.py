"""Scale-out over MPI: data-parallel optimizers, sharded optimizer state, and
:func:`numadam.minimize_batch` across ranks.

Everything here is plain MPI through `mpi4py <https://mpi4py.readthedocs.io>`_, run with
``mpiexec -n K python script.py``: every rank runs the same script on its own share of the
data. Install the extra with ``pip install "numadam[mpi]"`` (mpi4py and MPICH from PyPI, which
brings ``mpiexec``); a system MPI works too. ``import numadam`` never imports mpi4py; using this
module without it raises one :class:`ImportError` saying what to install.

::

    from mpi4py import MPI
    import numadam
    from numadam.distributed import DataParallel

    opt = DataParallel(numadam.Adam(params, lr=1e-3), MPI.COMM_WORLD)
    for batch in my_share_of_each_global_batch():
        opt.step(local_gradient(params, batch))   # the average over ranks, one Allreduce

Three tools:

:class:`DataParallel`
    An optimizer whose gradient is averaged over the ranks (one ``Allreduce``) before it steps:
    every rank holds the whole parameter vector and the whole optimizer state, and takes the
    same step, so the parameters stay bitwise identical on all ranks. ``state_dict()`` is the
    wrapped optimizer's; ``load_state_dict()`` (collective) loads one on every rank, or on
    none.
:class:`ShardedDataParallel`
    The same steps with the optimizer state split over the ranks (ZeRO stage 1): one
    ``Reduce_scatter`` leaves on rank r the summed gradient of its slice of the flat vector,
    rank r keeps state for and updates only that slice, then one ``Allgatherv`` hands every
    rank the new parameters. When every rank runs on one machine, the gradients and the new
    slices go through memory that all ranks map instead (an MPI-3 shared window, two
    barriers a step; faster, figures in ``benchmarks/README.md``). Optimizer memory and
    update work per rank are divided by K, and with two ranks the parameters are bitwise
    equal to :class:`DataParallel`'s (the rules are elementwise; with more ranks, up to the
    order of the summation). Its ``state_dict()`` gathers the whole state onto every rank, in
    the format of the unsharded optimizer's, and ``load_state_dict()`` takes each rank's slice
    of one (both collective): a run checkpointed sharded resumes sharded or unsharded, and the
    reverse, on any number of ranks.
``numadam.minimize_batch(..., comm=comm)``
    Splits the B problems into K contiguous blocks, solves each block on its rank and gathers
    the whole result on every rank: bitwise equal to one process, since problems are
    independent.

Failures never hang the run:

- a non-finite gradient on any rank makes the summed gradient non-finite, so every rank raises
  the same :class:`~numadam.NonFiniteGradientError` and skips the same entries;
- an exception inside ``minimize_batch(..., comm=comm)`` on one rank is raised on every rank
  as the same kind of error, so that a handler catches it on all of them or on none: a
  :class:`ValueError` or :class:`TypeError` as such (the failing rank's own; on the others
  one naming the failing rank and its error), anything else as a :class:`RuntimeError`
  naming them (on the failing rank too, with its own error as the ``__cause__``);
- an exception in the user's own code between two steps (the others wait in the next
  collective) that nobody catches ends every rank: the wrappers install a ``sys.excepthook``
  that prints the traceback and calls ``MPI_Abort`` (``python -m mpi4py script.py`` does the
  same); code that catches exceptions itself can run inside :func:`abort_on_error` instead;
- ranks whose optimizers differ in their hyperparameters or ``check_finite`` get the same
  ``ValueError`` when the wrapper is created;
- a state dict that :meth:`DataParallel.load_state_dict` or
  :meth:`ShardedDataParallel.load_state_dict` refuses on one rank (a NaN in that rank's
  slice, say, or a dict that differs from the other ranks') is refused on every rank with the
  same kind of error, none of them changed.

- a step whose inputs are wrong on one rank (a gradient of another shape or dtype, a bad
  ``weight``), or a ``weight`` given on some ranks and not on others, raises on every rank
  before anything changes, as the same kind of error (caught, the ranks go on alike): the
  checks' outcomes travel as two counts at the end of the step's own ``Allreduce`` (or
  ``Reduce_scatter``, or shared block), not in a collective of their own;
- ``minimize_batch(..., comm=comm)`` refuses, on every rank, ranks whose ``x0``, bounds,
  options, ``batch_args`` or method differ (a digest of each, compared once at the start).

One case the hook cannot see: ``sys.exit(1)`` on one rank (Python calls no hook for
``SystemExit``; run such code inside :func:`abort_on_error`, which ends every rank).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
from numba import njit

from numadam import _validation as check
from numadam._mpi import (
    abort_on_error,
    abort_when_uncaught,
    agree,
    check_comm,
    describe,
    error_kind,
    launched_ranks,
    mpi_module,
    raise_together,
    share_of,
    shares,
    world,
)
from numadam.backends import CPU, NonFiniteGradientError
from numadam.rules import refuse

__all__ = ["DataParallel", "ShardedDataParallel", "abort_on_error", "launched_ranks", "share_of",
           "shares", "world"]


# ------------------------------------------------------------------------------------------------
# Data parallel
# ------------------------------------------------------------------------------------------------


def _join(comm, optimizer_name, param):
    """What both wrappers do first, on every rank: check ``comm``, make an uncaught exception
    end every rank, check that the ranks agree on the optimizer and the vector, and take rank
    0's parameters. Returns ``comm``."""
    comm = check_comm(comm)
    abort_when_uncaught(comm)
    agree(comm, "optimizer class, parameter size and dtype",
           (optimizer_name, param.shape[0], param.dtype.str))
    comm.Bcast(param, root=0)
    return comm


def _settings(optimizer):
    """What every rank's optimizer must share besides its class and vector: a wrapper whose
    ranks differ in these would step apart, or wait in collectives that never match."""
    return sorted(optimizer.hyperparameters.items()), optimizer.check_finite


def _check_gradient(grad, param):
    if not isinstance(grad, np.ndarray):
        raise TypeError(f"grad must be a NumPy array like the parameters, got "
                        f"{check.describe_array(grad)}")
    if grad.dtype != param.dtype or grad.shape != param.shape:
        raise ValueError(f"grad must have the parameters' shape {param.shape} and dtype "
                         f"{param.dtype}; got shape {grad.shape}, dtype {grad.dtype}")
    return np.ascontiguousarray(grad)


def _check_weight(weight):
    if weight is None:
        return None
    weight = check.real_scalar("weight", weight)
    if not np.isfinite(weight):
        raise ValueError(f"weight must be finite, got {weight}")
    return weight


def _train_mode(optimizer):
    """The mode in which ``optimizer`` may step (schedule-free's ``"train"``), ``None`` for a
    rule without modes."""
    return next(iter(optimizer.variant.rule.modes), None)


def _checked_step_inputs(optimizer, train_mode, param, grad, weight):
    """This rank's checks of a step's inputs, made before its first collective:
    ``(grad, weight, failure)``, with ``failure`` the exception a check raised (``None`` when
    all passed). They never raise here: a rank that raised before the collective would leave
    the others waiting in it for ever (a caller catching the error goes on alone). The ranks
    learn of each other's failures through the step's own collective (:class:`_Agreement`)."""
    try:
        grad = _check_gradient(grad, param)
        weight = _check_weight(weight)
        if train_mode is not None and optimizer.mode != train_mode:
            raise RuntimeError(f"{type(optimizer).__name__}.step needs train mode; the "
                               f"parameters hold the {optimizer.mode} point (call train() on "
                               f"every rank first)")
    except Exception as exc:  # noqa: BLE001 - every rank learns of it in the collective
        return None, None, exc
    return grad, weight, None


class _Agreement:
    """Two counts carried at the end of the buffer a step already reduces (summed over the
    ranks with the gradients): the ranks whose checks failed, and the ranks that passed a
    ``weight``. So every rank knows, after the step's one collective and before it changes
    anything, whether all ranks' inputs passed and whether they agree on the weight; the
    failing ranks' errors are then gathered (a collective every rank joins, as all of them
    saw the same counts) and raised on every rank as the same kind of error."""

    SLOTS = 2

    @staticmethod
    def write(slots, failure, weight):
        slots[0] = failure is not None
        slots[1] = weight is not None

    @staticmethod
    def settle(comm, slots, failure, weight, what, sync=None):
        """Raise on every rank when the summed ``slots`` report a failed check or a weight
        given on some ranks only; return otherwise. ``sync``: called before raising a weight
        disagreement, where no other collective follows (the shared-memory transport's
        barrier: no rank may write the next step's slots while another still reads these)."""
        failed, weighted = int(slots[0]), int(slots[1])
        if failed:
            outcomes = comm.allgather((error_kind(failure), describe(failure)))
            raise_together(comm, failure, outcomes, what)
        if weighted not in (0, comm.size):
            if sync is not None:
                sync()
            raise ValueError(f"weight must be given on every rank or on none: {weighted} of "
                             f"{comm.size} ranks passed one to {what} (this one "
                             f"{'did' if weight is not None else 'did not'})")


class DataParallel:
    """An optimizer stepping along the gradient averaged over the ranks of ``comm``.

    On creation the parameters are broadcast from rank 0 (every rank must pass an optimizer of
    the same class over a vector of the same size and dtype; this is checked). Each
    :meth:`step` sums the ranks' gradients with one ``Allreduce`` into a buffer of its own,
    divides by the number of ranks and steps the wrapped optimizer: every rank takes the same
    step on the same numbers, so the parameters stay bitwise identical everywhere.

    Parameters
    ----------
    optimizer : numadam.Optimizer
        Over a NumPy parameter vector (each rank its own copy of the model).
    comm : mpi4py intracommunicator
        E.g. ``MPI.COMM_WORLD``.

    Notes
    -----
    Against one process stepping on the whole global batch, the averaged gradient differs only
    by the order of the summation (the ranks' partial means are added last), i.e. by a few ulps
    per entry. Ranks holding unequal shares of a batch pass ``weight = local / global`` so that
    the sum is the global mean.

    :meth:`state_dict` and :meth:`load_state_dict` save and restore the state in the wrapped
    optimizer's format, which :class:`ShardedDataParallel` shares: a run checkpointed here
    resumes sharded or not, on any number of ranks, and the reverse.
    """

    def __init__(self, optimizer, comm):
        from numadam.optimizers import Optimizer

        abort_when_uncaught(check_comm(comm))  # first: a check below may fail on one rank
        if not isinstance(optimizer, Optimizer) or optimizer.device != "cpu":
            raise TypeError(f"optimizer must be a numadam optimizer over a NumPy vector, got "
                            f"{optimizer!r}")
        self.optimizer = optimizer
        param = optimizer.param
        self.comm = _join(comm, type(optimizer).__name__, param)
        agree(self.comm, "hyperparameters and check_finite", _settings(optimizer))
        # rank 0's state too: a rule may have built its state from the parameters before the
        # broadcast (schedule-free's z), and a rank may have loaded another one
        saved = self.comm.bcast(optimizer.state_dict() if self.comm.rank == 0 else None, root=0)
        if self.comm.rank != 0:
            optimizer.load_state_dict(saved)
        self._summed = np.empty_like(param)  # the sum over ranks (the caller's grad is only read)
        # what the step reduces: this rank's (weighted) gradient, then the agreement's counts
        self._buffer = np.empty(param.shape[0] + _Agreement.SLOTS, param.dtype)
        self._gradients, self._slots = np.split(self._buffer, [param.shape[0]])
        self._train_mode = _train_mode(optimizer)

    @property
    def param(self):
        """The parameter vector (the wrapped optimizer's; identical on every rank)."""
        return self.optimizer.param

    def step(self, grad, weight=None):
        """Step every rank along the sum over ranks of ``weight * grad``.

        Parameters
        ----------
        grad : ndarray
            This rank's gradient (of its share of the batch); only read.
        weight : float, optional
            This rank's weight; by default ``1 / comm.size`` (the average of the ranks'
            gradients). Pass ``local_count / global_count`` when the shares differ in size.
            Every rank passes a weight, or none does (checked: a ValueError on every rank).

        Raises
        ------
        NonFiniteGradientError
            On every rank alike, when any rank's gradient held NaN or inf (see the optimizer's
            ``check_finite``).
        ValueError, TypeError, RuntimeError
            On every rank alike, nothing changed on any rank, when the inputs of any rank are
            wrong (a gradient of another shape or dtype, a bad weight, an optimizer not in
            train mode: the failing rank raises its own error, the others one of the same kind
            naming it), or when a ``weight`` was given on some ranks only (ValueError). The
            ranks learn of it in the step's one ``Allreduce``, which carries two counts after
            the gradient: a caller catching the error goes on alike on every rank.
        """
        optimizer = self.optimizer
        grad, weight, failure = _checked_step_inputs(optimizer, self._train_mode,
                                                     optimizer.param, grad, weight)
        buffer, summed, size = self._buffer, self._summed, self.comm.size
        gradients, slots = self._gradients, self._slots
        if failure is not None:  # this rank still joins the reduction, with zeros
            gradients.fill(0)
        elif weight is None:
            np.copyto(gradients, grad)
        else:
            np.multiply(grad, weight, out=gradients)
        _Agreement.write(slots, failure, weight)
        self.comm.Allreduce(mpi_module().IN_PLACE, buffer)
        _Agreement.settle(self.comm, slots, failure, weight, "DataParallel.step")
        if weight is None:
            np.divide(gradients, size, out=summed)
        else:
            np.copyto(summed, gradients)
        optimizer.step(summed)

    def state_dict(self):
        """The wrapped optimizer's :meth:`~numadam.Optimizer.state_dict` (the same on every
        rank)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict):
        """Restore a saved optimizer state on every rank. Collective: every rank calls it, with
        the same dict.

        The dict is one that :meth:`state_dict` returned, one that
        :meth:`ShardedDataParallel.state_dict` returned (a sharded run resumes unsharded), or
        the ``state_dict()`` of a plain optimizer of the same class over a vector of the
        parameters' size. Each rank checks it as :meth:`numadam.Optimizer.load_state_dict` does
        (the keys; each vector's dtype and the parameters' length, or empty for a vector unused
        with these hyperparameters; a non-negative step; hyperparameters valid together with
        the current ones, those fixed at creation unchanged; finite values), then the ranks
        compare their outcomes and their dicts (step, hyperparameters, scalar state, mode and
        a checksum of each state vector's bytes): either every rank loads, or none does and
        every rank raises.

        Parameters
        ----------
        state_dict : dict
            The whole state. Only read; each rank copies it.

        Raises
        ------
        ValueError, TypeError
            On every rank, with nothing changed on any rank, when the dict is wrong on any rank
            (a rank whose own dict passed raises the failing rank's kind of error, naming that
            rank and what was wrong), or a ValueError when the ranks' dicts differ.

        Notes
        -----
        The parameters are not part of the dict (as with the optimizers): restore them on
        every rank, or on rank 0 and broadcast them. The check is a trial load into a new
        optimizer, so this rank briefly holds the state twice, and the dicts are compared by
        one ``allgather`` of a few scalars and a 16-byte digest per vector, not by moving the
        vectors.
        """
        optimizer = self.optimizer
        failure, summary = None, None
        try:
            # A trial on a new optimizer with the current hyperparameters: the same checks as
            # the real load, which then cannot fail, and no change yet if another rank's does.
            # It only reads the parameters (a schedule-free rule copies them into z).
            trial = type(optimizer)(optimizer.param, **optimizer.hyperparameters)
            trial.load_state_dict(state_dict)
            summary = _summary_of(trial, state_dict)
        except Exception as exc:  # every rank still joins the comparison below
            failure = exc
        outcomes = self.comm.allgather((error_kind(failure), describe(failure), summary))
        raise_together(self.comm, failure, outcomes, "DataParallel.load_state_dict")
        # Each rank's dict passed alone; loading different ones would set the ranks stepping
        # apart for ever, each with the same parameters but its own state.
        summaries = [outcome[2] for outcome in outcomes]
        differing = [(rank, [name for name, value in summary.items()
                             if value != summaries[0][name]])
                     for rank, summary in enumerate(summaries) if summary != summaries[0]]
        if differing:
            where = "; ".join(f"rank {rank}'s differs from rank 0's in {', '.join(names)}"
                              for rank, names in differing)
            raise ValueError(f"every rank must pass the same state_dict to "
                             f"DataParallel.load_state_dict: {where}")
        optimizer.load_state_dict(state_dict)


def _summary_of(trial, state_dict):
    """What two ranks' dicts must share, from ``trial`` (an optimizer that loaded
    ``state_dict`` without error): the step, hyperparameters, scalar state and mode as they
    are, each state vector as a digest of its bytes (the vectors themselves would be the whole
    state again through the network). A dict, by entry, so that a difference can be named."""
    summary = {"step": trial.step_count,
               "hyperparameters": sorted(trial.hyperparameters.items()),
               "carry": sorted((name, float(value))
                               for name, value in state_dict.get("carry", {}).items()),
               "mode": state_dict.get("mode")}
    for name, vector in trial.state.items():
        # bytes, not values: data-parallel ranks hold bitwise the same state, and keep it so
        summary[f"state {name!r}"] = hashlib.blake2b(np.ascontiguousarray(vector).data,
                                                     digest_size=16).digest()
    return summary


class ShardedDataParallel:
    """Data-parallel steps with the optimizer state split over the ranks (ZeRO stage 1).

    The flat parameter vector is cut into ``comm.size`` contiguous slices (the first
    ``n % size`` one element longer). Rank r builds ``optimizer_class`` over its slice only, so
    it holds that slice's state. Each :meth:`step` leaves on rank r the sum over ranks of its
    slice of the gradients, updates that slice, and shares the new slices: the same bytes
    moved as :class:`DataParallel`'s ``Allreduce``, 1/K of the update work and of the state
    per rank. Two transports:

    * MPI collectives: one ``Reduce_scatter`` of the gradients, one in-place ``Allgatherv`` of
      the parameters (and, unless ``check_finite`` is False, an ``Allreduce`` of the count of
      non-finite entries);
    * shared memory, when every rank runs on one machine (MPI-3 shared windows): each rank
      writes its gradient into a block of memory that all ranks map, sums its slice of
      everyone's there, writes its new slice beside them and copies the others' slices; two
      barriers, no collective carrying data (faster: ``benchmarks/README.md``).

    Every rule is elementwise, so with two ranks the parameters are bitwise equal to
    :class:`DataParallel`'s with either transport (each sum has two terms, and
    ``a + b == b + a``); with more, the slices' terms are added in another order than MPI's
    ``Allreduce`` may use, so they agree up to the summation order.

    :meth:`state_dict` and :meth:`load_state_dict` save and restore the whole state in the
    unsharded optimizer's format (every rank calls them), so that a sharded run can be
    checkpointed, and resumed with or without sharding.

    Parameters
    ----------
    optimizer_class : type
        A numadam optimizer class, e.g. ``numadam.Adam``.
    params : ndarray
        The whole parameter vector, updated in place (every rank its own copy; rank 0's values
        are broadcast on creation).
    comm : mpi4py intracommunicator
    shared_memory : bool, optional
        The transport: shared memory (``True``; a ``ValueError`` when the ranks are not all on
        one machine or /dev/shm has no room left for the block), MPI collectives (``False``),
        or shared memory where it can be used (``None``, the default). Every rank passes the
        same. One rank needs neither.
    **hyperparameters
        Passed to ``optimizer_class``.

    Attributes
    ----------
    optimizer : numadam.Optimizer
        This rank's optimizer, over ``params[offset : offset + count]``.
    shared_memory : bool
        Whether the steps go through shared memory.

    Notes
    -----
    The shared block (``(K + 1) n`` values, in /dev/shm) and the communicator MPI makes for it
    last until :meth:`close` (or the end of a ``with`` block, or of the process): a program
    that builds many of these wrappers closes them, or it runs out of both.
    ``check_finite="before"`` adds an ``Allreduce`` of the count to either transport: no rank
    may step before every rank knows its slice is finite.
    """

    def __init__(self, optimizer_class, params, comm, *, shared_memory=None, **hyperparameters):
        from numadam.optimizers import Optimizer

        abort_when_uncaught(check_comm(comm))  # first: a check below may fail on one rank
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
            raise TypeError(f"optimizer_class must be a numadam optimizer class such as "
                            f"numadam.Adam, got {optimizer_class!r}")
        if shared_memory not in (None, True, False):
            raise ValueError(f"shared_memory must be True, False or None, got {shared_memory!r}")
        # a step that needs sums over the whole vector cannot run on one rank's slice
        refuse(optimizer_class.variant.rule, "ShardedDataParallel (one slice per rank)")
        self.param = check.parameter_vector("params", params)
        n = self.param.shape[0]
        self.comm = _join(comm, optimizer_class.__name__, self.param)
        agree(self.comm, "shared_memory", (shared_memory,))
        self.counts, self.offsets = shares(n, self.comm.size)
        offset, count = share_of(n, self.comm.size, self.comm.rank)
        self._slice = slice(offset, offset + count)
        self.optimizer = optimizer_class(self.param[self._slice], **hyperparameters)
        agree(self.comm, "hyperparameters and check_finite", _settings(self.optimizer))
        self._layout = (self.counts, self.offsets)
        self._summed = np.empty(count, self.param.dtype)  # this rank's slice of the sum
        # the collectives' transport reduces each rank's slice followed by the agreement's
        # counts (_Agreement): the send buffer holds the slices so, in rank order
        slots = _Agreement.SLOTS
        self._send = None  # allocated at the first step through the collectives
        self._recv = np.empty(count + slots, self.param.dtype)
        self._recv_sum, self._recv_slots = np.split(self._recv, [count])
        self._train_mode = _train_mode(self.optimizer)
        self._recvcounts = self.counts + slots
        self._send_starts = self.offsets + slots * np.arange(self.comm.size)
        self._count = np.zeros(1, np.int64)
        self._shared = _SharedBlock.open(self.comm, self.param, shared_memory)
        self.shared_memory = self._shared is not None

    def step(self, grad, weight=None):
        """As :meth:`DataParallel.step`; every rank ends with the whole new parameter vector.

        A non-finite gradient entry on any rank raises the same
        :class:`~numadam.NonFiniteGradientError` on every rank (with collectives, one more
        ``Allreduce``, of the count, unless the optimizer's ``check_finite`` is False).
        """
        optimizer = self.optimizer
        grad, weight, failure = _checked_step_inputs(optimizer, self._train_mode, self.param,
                                                     grad, weight)
        summed, comm, shared = self._summed, self.comm, self._shared
        what = "ShardedDataParallel.step"
        if shared is not None:
            slots = shared.sum_slice(grad, weight, self._slice, summed, failure)
            _Agreement.settle(comm, slots, failure, weight, what, sync=shared.barrier)
        else:
            slots = self._reduce_scatter(grad, weight, failure)
            _Agreement.settle(comm, slots, failure, weight, what)
            if weight is None:
                np.divide(self._recv_sum, comm.size, out=summed)
            else:
                np.copyto(summed, self._recv_sum)
        if optimizer.check_finite == "before":  # no rank steps if any slice is bad
            bad = self._total(CPU.count_nonfinite(summed))
            if bad:
                raise NonFiniteGradientError.unchanged(bad)
        skipped = 0
        try:
            optimizer.step(summed)
        except NonFiniteGradientError:  # reported below for all slices, once they are shared
            skipped = CPU.count_nonfinite(summed)
        if shared is not None:
            bad = shared.share_slices(self._slice, skipped)
        else:
            bad = self._total(skipped) if optimizer.check_finite is True else 0
            comm.Allgatherv(mpi_module().IN_PLACE, [self.param, self._layout])
        if bad:
            raise NonFiniteGradientError.skipped(bad, optimizer.step_count)

    def _reduce_scatter(self, grad, weight, failure):
        """The collectives' reduction: every rank's slice of the (weighted) gradients, summed
        over the ranks into ``self._recv``, with the agreement's counts after it (returned)."""
        if self._send is None:
            self._send = np.empty(self.param.shape[0] + _Agreement.SLOTS * self.comm.size,
                                  self.param.dtype)
        send, slots = self._send, _Agreement.SLOTS
        for start, offset, count in zip(self._send_starts.tolist(), self.offsets.tolist(),
                                        self.counts.tolist()):
            part = send[start:start + count]
            if failure is not None:  # this rank still joins the reduction, with zeros
                part.fill(0)
            elif weight is None:
                np.copyto(part, grad[offset:offset + count])
            else:
                np.multiply(grad[offset:offset + count], weight, out=part)
            _Agreement.write(send[start + count:start + count + slots], failure, weight)
        self.comm.Reduce_scatter(send, self._recv, recvcounts=self._recvcounts)
        return self._recv_slots

    def _total(self, count):
        """The sum of ``count`` over the ranks."""
        self._count[0] = count
        self.comm.Allreduce(mpi_module().IN_PLACE, self._count)
        return int(self._count[0])

    # -- saving and restoring ---------------------------------------------------------------

    def state_dict(self):
        """The whole optimizer state, gathered from every rank's slice: the same dict on every
        rank. Collective: every rank calls it.

        The format is that of ``optimizer_class``'s own
        :meth:`~numadam.Optimizer.state_dict` over the whole parameter vector (the step count,
        the hyperparameters, one vector of the parameters' length per state vector in use,
        empty ones for the others, the scalar state of rules that carry one, the mode of
        schedule-free rules): an unsharded optimizer of the same class and hyperparameters
        loads it and goes on as the sharded one would (bitwise on two ranks; on more, the
        sharded steps differ from unsharded ones by the summation order, see the class), and
        :meth:`load_state_dict` of a wrapper over any number of ranks takes it.

        Returns
        -------
        dict
            ``{"step": int, "hyperparameters": dict, "state": {name: ndarray}}`` (plus
            ``"carry"`` and ``"mode"`` where the rule has them), new arrays owned by the caller.

        Notes
        -----
        Every rank receives the whole state, one ``Allgatherv`` per state vector in use (as
        ZeRO's consolidation, but onto every rank rather than one, so that no rank holds a
        different answer): this rank briefly holds K times its share of the state. The
        parameters are not part of it, as with the optimizers: they are the same on every
        rank, so any rank may save ``params`` beside it.
        """
        # The scalars (step, hyperparameters, carry, mode) are the same on every rank: they
        # change only in steps, switches and loads, which every rank makes together.
        saved = self.optimizer.state_dict()
        n = self.param.shape[0]
        counts = self.counts
        for name, length in self._whole_lengths().items():
            if length:
                whole = np.empty(n, self.param.dtype)
                # rank r's slice lands at offsets[r]: the slices are contiguous, in rank order
                self.comm.Allgatherv(saved["state"][name], [whole, (counts, self.offsets)])
                saved["state"][name] = whole
        return saved

    def load_state_dict(self, state_dict):
        """Take this rank's slice of a whole optimizer state. Collective: every rank calls it,
        with the same dict.

        The dict is one that :meth:`state_dict` returned, or the ``state_dict()`` of an
        unsharded optimizer of ``optimizer_class`` over the whole vector (a run may move
        between the two, and between numbers of ranks). Each rank checks it as
        :meth:`numadam.Optimizer.load_state_dict` does (the keys; each vector's dtype and the
        parameters' length, or empty for a vector unused with these hyperparameters; a
        non-negative step; hyperparameters valid together with the current ones, those fixed
        at creation unchanged; finite values, in this rank's slice), then the ranks compare
        their outcomes and their dicts' step, hyperparameters, scalar state and mode: either
        every rank loads, or none does and every rank raises.

        Parameters
        ----------
        state_dict : dict
            The whole state. Only read; each rank copies its slice.

        Raises
        ------
        ValueError, TypeError
            On every rank, with nothing changed on any rank, when the dict is wrong on any rank
            (a rank whose own dict passed raises the failing rank's kind of error, naming that
            rank and what was wrong) or when the ranks' dicts differ in their step,
            hyperparameters, scalar state or mode.

        Notes
        -----
        The check is a trial load into a new optimizer over this rank's slice, so that a dict
        refused on one rank leaves the others unchanged too: it holds one more slice of the
        state until the ranks agree. The state vectors themselves are not compared across
        ranks (that would move the whole state again): each rank takes its slice of its own
        dict.
        """
        optimizer = self.optimizer
        failure, summary = None, None
        try:
            piece = self._slice_of(state_dict)
            # A trial on a new optimizer with the current hyperparameters: the same checks as
            # the real load, which then cannot fail, and no change yet if another rank's does.
            trial = type(optimizer)(self.param[self._slice], **optimizer.hyperparameters)
            trial.load_state_dict(piece)
            carry = piece.get("carry", {})
            summary = (trial.step_count, sorted(trial.hyperparameters.items()),
                       sorted((name, float(value)) for name, value in carry.items()),
                       piece.get("mode"))
        except Exception as exc:  # every rank still joins the comparison below
            failure = exc
        outcomes = self.comm.allgather((error_kind(failure), describe(failure), summary))
        raise_together(self.comm, failure, outcomes, "ShardedDataParallel.load_state_dict")
        summaries = [outcome[2] for outcome in outcomes]
        if any(other != summaries[0] for other in summaries):
            raise ValueError(f"every rank must pass the same state_dict to load_state_dict; "
                             f"their (step, hyperparameters, carry, mode) differ: {summaries}")
        optimizer.load_state_dict(piece)

    def _whole_lengths(self):
        """name -> the length of that state vector in the whole state: the parameters'
        length, or 0 for a vector the rule does not use with these hyperparameters (an
        unsharded optimizer holds an empty one)."""
        optimizer, n = self.optimizer, self.param.shape[0]
        reference = optimizer
        if self._slice.stop == self._slice.start:
            # this rank's slice is empty (fewer entries than ranks): its vectors are empty,
            # used or not. Which are used depends on the hyperparameters alone: ask a
            # one-entry optimizer.
            reference = type(optimizer)(np.zeros(1, optimizer.dtype),
                                        **optimizer.hyperparameters)
        return {name: n if vector.shape[0] else 0 for name, vector in reference.state.items()}

    def _slice_of(self, state_dict):
        """``state_dict`` with this rank's slice of each whole state vector in place of the
        vector; the vectors' lengths are checked first (a longer vector's slice would pass).
        Anything that is not a dict of arrays is left to the optimizer's load to refuse."""
        if not (isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict)):
            return state_dict
        lengths = self._whole_lengths()
        vectors = {}
        for name, vector in state_dict["state"].items():
            if name in lengths and isinstance(vector, np.ndarray):
                if vector.shape != (lengths[name],):
                    raise ValueError(
                        f"loaded state {name!r} has shape {vector.shape}, the optimizer's has "
                        f"({lengths[name]},) (parameters of size {self.param.shape[0]})")
                if lengths[name]:
                    vector = vector[self._slice]
            vectors[name] = vector
        return {**state_dict, "state": vectors}

    def train(self):
        """For rules with a train/eval switch (schedule-free): every rank moves its slice to
        the train point, then the slices are shared. Call it on every rank."""
        return self._switch("train")

    def eval(self):
        """As :meth:`train`, to the point to evaluate, test or save."""
        return self._switch("eval")

    def _switch(self, mode):
        if not hasattr(self.optimizer, mode):
            raise AttributeError(f"{type(self.optimizer).__name__} has no train/eval modes")
        if self._shared is not None:
            # the other ranks may still be reading what the last step shared
            self._shared.barrier()
            getattr(self.optimizer, mode)()
            self._shared.share_slices(self._slice, 0)
        else:
            getattr(self.optimizer, mode)()
            self.comm.Allgatherv(mpi_module().IN_PLACE, [self.param, self._layout])
        return self

    @property
    def state_nbytes(self):
        """Bytes of optimizer state held by this rank."""
        return sum(vector.nbytes for vector in self.optimizer.state.values())

    def close(self):
        """Give back the shared memory block (and the MPI communicator it holds); later steps
        go through the MPI collectives. Collective: every rank calls it. A ``with`` block
        calls it when it ends without an exception (with one, the other ranks may be waiting
        in a step: the block stays, and the exception goes on, to end every rank if nobody
        catches it)."""
        if self._shared is not None:
            self._shared.free()
            self._shared = None
            self.shared_memory = False

    def __enter__(self):
        return self

    def __exit__(self, kind, value, trace):
        if kind is None:
            self.close()


def _block_head(size):
    """Bytes before the rows of :class:`_SharedBlock`: a count per rank (non-finite entries),
    then the agreement's counts of each rank (8-byte integers: the rows stay aligned)."""
    return 8 * size * (1 + _Agreement.SLOTS)


def _shared_memory_room():
    """Bytes free in /dev/shm, where MPICH keeps its shared windows on Linux (Open MPI keeps
    them in its session folder, often under /tmp); ``None`` where there is no such folder."""
    try:
        stats = os.statvfs("/dev/shm")
    except (OSError, AttributeError):  # no /dev/shm (macOS), or no statvfs (Windows)
        return None
    return stats.f_bavail * stats.f_frsize


class _SharedBlock:
    """:class:`ShardedDataParallel`'s transport through memory that every rank maps (an MPI-3
    shared window): a row per rank for its gradient, one row for the new parameters, and a
    count per rank. Barriers order the writes and reads; a row is never written while
    another rank may still read it (see :meth:`sum_slice` and :meth:`share_slices`; the
    train/eval switch waits at a barrier first)."""

    def __init__(self, comm, param, window):
        self.comm, self.param, self.window = comm, param, window
        size, n = comm.size, param.shape[0]
        memory = np.frombuffer(window.Shared_query(0)[0], np.uint8)
        # the counts first: 8-byte aligned, as the rows after them; then each rank's
        # agreement counts (_Agreement)
        self.bad = memory[:8 * size].view(np.int64)
        head = _block_head(size)
        self.agreement = memory[8 * size:head].view(np.int64).reshape(size, _Agreement.SLOTS)
        rows = memory[head:head + (size + 1) * n * param.itemsize].view(param.dtype)
        self.gradients = rows[:size * n].reshape(size, n)
        self.shared_param = rows[size * n:]
        counts, offsets = shares(n, size)
        self.others = [slice(int(offsets[q]), int(offsets[q] + counts[q]))
                       for q in range(size) if q != comm.rank]
        self.own = np.empty(int(counts[comm.rank]), param.dtype)  # weight * this rank's slice
        self.divisor = param.dtype.type(size)  # np.divide(out, size) divides in out's dtype
        if comm.rank == 0:
            # written now, so that its pages are taken: an untouched block takes no room in
            # /dev/shm, and the room check of a block opened after it would count it free
            memory[:] = 0
        window.Lock_all(mpi_module().MODE_NOCHECK)  # a passive epoch for the window's lifetime
        self.barrier()  # no rank writes its first gradient before the block is zeroed

    @classmethod
    def open(cls, comm, param, wanted):
        """The block for ``comm``'s ranks; ``None`` for collectives (``wanted`` False, or
        None with ranks on several machines, or one rank)."""
        if wanted is False or comm.size == 1:
            return None
        MPI = mpi_module()
        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        together = node.size == comm.size
        node.Free()
        if not together:
            if wanted:
                raise ValueError("shared_memory=True needs every rank on one machine; these "
                                 "ranks are on several")
            return None
        n, size = param.shape[0], comm.size
        nbytes = _block_head(size) + (size + 1) * n * param.itemsize
        # MPICH backs the window with a file in /dev/shm: too small a one (Docker's default is
        # 64 MB) would end the run with SIGBUS at the first write, not with an error. (Another
        # process may still take the room between this check and the block's first write.)
        room = comm.bcast(_shared_memory_room() if comm.rank == 0 else None, root=0)
        if room is not None and room < nbytes:
            if wanted:
                raise ValueError(f"shared_memory=True needs {nbytes:,} bytes of shared memory; "
                                 f"/dev/shm has {room:,} free")
            return None
        window = MPI.Win.Allocate_shared(nbytes if comm.rank == 0 else 0, 1, comm=comm)
        return cls(comm, param, window)

    def free(self):
        """Give the block back (collective: every rank calls it)."""
        self.barrier()  # no rank may still be reading it
        self.window.Unlock_all()
        self.window.Free()

    def barrier(self):
        """Every rank's writes visible to every rank (the window's memory model asks for the
        syncs around the barrier)."""
        self.window.Sync()
        self.comm.Barrier()
        self.window.Sync()

    def sum_slice(self, grad, weight, mine, out, failure=None):
        """``out`` = the sum in rank order of the ranks' ``weight * grad`` over the slice
        ``mine`` (their average without weights): write the other ranks' slices of this rank's
        gradient into its row, and this rank's agreement counts (:class:`_Agreement`, from
        ``failure`` and ``weight``), wait for theirs, add: the two ranks' average in one
        vectorized pass, anything else in NumPy's passes. Returns the agreement's counts
        summed over the ranks; where they report a failed check or a weight disagreement,
        ``out`` is left as it was (the caller raises on every rank).

        The counts are read after the barrier and written again only in the next step, after
        the barrier of :meth:`share_slices` (or of the caller's raise), which every rank
        passes after reading them."""
        rank = self.comm.rank
        _Agreement.write(self.agreement[rank], failure, weight)
        if failure is None:
            row = self.gradients[rank]
            for other in self.others:
                if weight is None:
                    row[other] = grad[other]
                else:
                    np.multiply(grad[other], weight, out=row[other])
            own = grad[mine]
            if weight is not None:
                own = np.multiply(own, weight, out=self.own)
        self.barrier()
        slots = self.agreement.sum(axis=0)
        if slots[0] or slots[1] not in (0, self.comm.size):
            return slots
        terms = [own if q == rank else self.gradients[q, mine] for q in range(self.comm.size)]
        if weight is None and len(terms) == 2:  # the common case in one pass, not two
            _average_of_two(terms[0], terms[1], self.divisor, out)
            return slots
        np.add(terms[0], terms[1], out=out)  # in rank order, as np.add.reduce would
        for term in terms[2:]:
            np.add(out, term, out=out)
        if weight is None:
            np.divide(out, self.comm.size, out=out)  # as the collectives' path does
        return slots

    def share_slices(self, mine, bad):
        """Publish this rank's new slice of the parameters and its count of non-finite
        entries; copy the other ranks' slices. Returns the count summed over the ranks.

        The next step's writes are safe: a rank writes its gradient row only after this
        barrier, when every rank has summed, and the parameter row only after the next one,
        when every rank has copied."""
        self.shared_param[mine] = self.param[mine]
        self.bad[self.comm.rank] = bad
        self.barrier()
        for other in self.others:
            self.param[other] = self.shared_param[other]
        return int(self.bad.sum())


@njit(cache=True, error_model="numpy")
def _average_of_two(a, b, divisor, out):
    """``out = (a + b) / divisor``, element by element in the arrays' dtype: what ``np.add``
    then ``np.divide`` give, in one vectorized pass."""
    for i in range(out.shape[0]):
        out[i] = (a[i] + b[i]) / divisor
