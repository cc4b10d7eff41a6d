"""Checks of numadam.distributed that need several ranks, run by tests/test_distributed.py.

``mpiexec -n 2 python tests/mpi_checks.py --report DIR check...`` runs the checks named, one
after another, in one launch (each on a communicator of its own) and reports each one's outcome
on each rank as a line of JSON in ``DIR/rank<r>.jsonl``: the pytest side asserts per check.
After each check the ranks meet on a communicator no check uses. A rank whose check failed
waits there for the others a little while only: when another rank is still held inside the
check (waiting in a collective the failed rank left), it aborts the launch, and the pytest side
launches the checks not run yet again.

``mpiexec -n 2 python tests/mpi_checks.py <check>`` runs one check inside ``abort_on_error``
(a failure on one rank ends all of them, mpiexec exits non-zero) and prints ``PASS`` on rank 0:
for running a check by hand, and for ``abort`` and ``uncaught``, which end the launch.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import numpy as np
from mpi4py import MPI

import numadam
from numadam import distributed
from numadam.distributed import DataParallel, ShardedDataParallel

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.rank, COMM.size
#: Every optimizer class.
#: the rules ShardedDataParallel runs: those without a reduction stage (a rule whose step needs
#: sums over the whole vector cannot step one slice alone; it is refused, checked below)
RULES = [name for name, cls in numadam.optimizers.CLASSES.items()
         if cls.variant.rule.reduction is None]
REDUCING = [name for name in numadam.optimizers.CLASSES if name not in RULES]
#: The rules check_sharded also runs in float32 (every rule runs in float64): one of each way a
#: rule's state can be laid out (no state vector by default, two, a carried scalar, state that
#: starts from the parameters or from the learning rate, schedule-free's two points). What a
#: shard does is the same for every rule; each rule's kernels, both dtypes, are checked against
#: the reference by tests/test_kernels.py.
FLOAT32_RULES = ["SGD", "Adam", "NAdam", "ASGD", "Rprop", "ScheduleFreeAdamW"]


def dtypes_of(name):
    """The dtypes check_sharded runs the rule ``name`` in."""
    return (np.float32, np.float64) if name in FLOAT32_RULES else (np.float64,)


def same_on_every_rank(array):
    """Assert that ``array`` is bitwise the same on every rank."""
    arrays = COMM.allgather(np.asarray(array))
    for rank, other in enumerate(arrays):
        assert other.tobytes() == arrays[0].tobytes(), f"rank {rank} differs from rank 0"


def least_squares(rng, rows, n, dtype=np.float64):
    """A global batch ``(A, y)``, drawn alike on every rank (one seed)."""
    return rng.standard_normal((rows, n)).astype(dtype), rng.standard_normal(rows).astype(dtype)


def mean_gradient(params, A, y):
    """Gradient of ``0.5 * mean((A @ params - y)**2)``."""
    return A.T @ (A @ params - y) / A.shape[0]


def my_rows(rows):
    counts, offsets = distributed.shares(rows, SIZE)
    return slice(int(offsets[RANK]), int(offsets[RANK] + counts[RANK]))


def check_identity():
    """Parameters start from rank 0's and stay bitwise identical though each rank's gradient
    differs."""
    rng = np.random.default_rng(RANK)  # different data and starting point on each rank
    params = rng.standard_normal(101)
    opt = DataParallel(numadam.Adam(params, lr=1e-2), COMM)
    start = COMM.bcast(params.copy() if RANK == 0 else None)
    assert np.array_equal(params, start), "the parameters were not broadcast from rank 0"
    A, y = least_squares(rng, 16, 101)
    for _ in range(30):
        opt.step(mean_gradient(params, A, y))
    same_on_every_rank(params)
    assert not np.array_equal(params, start)


def check_one_process():
    """Data-parallel on shares of a global batch equals one process on the whole batch up to
    the summation order: rtol 1e-10 after 50 Adam steps (float64). Equal shares take the
    default average; shares of unequal size are weighted by their size."""
    for rows in (64, 63):
        A, y = least_squares(np.random.default_rng(7), rows, 20)
        x0 = np.linspace(-1.0, 1.0, 20)
        alone = x0.copy()
        single = numadam.Adam(alone, lr=1e-2)
        parallel = x0.copy()
        opt = DataParallel(numadam.Adam(parallel, lr=1e-2), COMM)
        mine = my_rows(rows)
        weight = None if rows % SIZE == 0 else (mine.stop - mine.start) / rows
        for _ in range(50):
            single.step(mean_gradient(alone, A, y))
            opt.step(mean_gradient(parallel, A[mine], y[mine]), weight)
        np.testing.assert_allclose(parallel, alone, rtol=1e-10, atol=1e-14)
        assert not np.array_equal(parallel, x0)
        same_on_every_rank(parallel)


def check_sharded():
    """Sharded state gives the unsharded run's parameters bitwise, for every rule in float64
    and those of FLOAT32_RULES in float32 too, with a size that does not split evenly,
    through shared memory and through collectives, unweighted and weighted steps; each rank
    holds about 1/K of the state."""
    assert set(FLOAT32_RULES) <= set(RULES), set(FLOAT32_RULES) - set(RULES)
    for name in REDUCING:
        x = np.ones(11)
        try:
            ShardedDataParallel(getattr(numadam, name), x, COMM)
        except NotImplementedError as error:
            assert "ShardedDataParallel" in str(error), error
        else:
            raise AssertionError(f"ShardedDataParallel accepted {name}")
    for shared in (True, False):
        for name in RULES:
            cls = getattr(numadam, name)
            for dtype in dtypes_of(name):
                n = 1001
                rng = np.random.default_rng(3)
                x0 = rng.standard_normal(n).astype(dtype)
                targets = np.random.default_rng(RANK + 10).standard_normal(n).astype(dtype)
                whole, sliced = x0.copy(), x0.copy()
                plain = DataParallel(cls(whole, lr=1e-2), COMM)
                sharded = ShardedDataParallel(cls, sliced, COMM, lr=1e-2, shared_memory=shared)
                assert sharded.shared_memory is shared
                weight = (RANK + 1) / (SIZE * (SIZE + 1) / 2)  # unequal shares summing to 1
                for step in range(25):
                    plain.step(whole - targets, weight if step % 3 == 2 else None)
                    sharded.step(sliced - targets, weight if step % 3 == 2 else None)
                label = f"{name} {dtype.__name__} shared_memory={shared}"
                assert_equal_sums(whole, sliced, f"{label}: differs")
                if hasattr(plain.optimizer, "eval"):  # schedule-free: the evaluation point too
                    plain.optimizer.eval()
                    sharded.eval()
                    assert_equal_sums(whole, sliced, f"{label}: eval point differs")
                assert not np.array_equal(whole, x0), label
                same_on_every_rank(sliced)
                full = sum(v.nbytes for v in plain.optimizer.state.values())
                assert sharded.state_nbytes * SIZE <= full + 16 * SIZE, (label,
                                                                         sharded.state_nbytes)


def assert_equal_sums(expected, actual, message):
    """Bitwise on two ranks (sums of two terms); with more, up to the summation order."""
    if SIZE == 2:
        assert expected.tobytes() == actual.tobytes(), message
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6, err_msg=message)


def check_shared_memory_lifetime():
    """close() gives the shared block back and later steps go through the collectives, still
    equal to DataParallel; wrappers closed by a with block can be made by the thousand (each
    window holds a communicator: MPICH has 2048); a with block left by an exception does not
    close (another rank may be waiting in a step); the block takes its room in /dev/shm when
    opened; a /dev/shm without room for it means collectives by default and a ValueError on
    every rank for shared_memory=True."""
    whole, sliced = np.linspace(-1.0, 1.0, 101), np.linspace(-1.0, 1.0, 101)
    plain = DataParallel(numadam.Adam(whole, lr=1e-2), COMM)
    sharded = ShardedDataParallel(numadam.Adam, sliced, COMM, lr=1e-2)
    assert sharded.shared_memory
    for step in range(10):
        if step == 5:
            sharded.close()
            assert not sharded.shared_memory
        plain.step(np.sin(whole) + RANK)
        sharded.step(np.sin(sliced) + RANK)
    assert_equal_sums(whole, sliced, "steps after close() differ")
    for _ in range(2100):
        with ShardedDataParallel(numadam.SGD, np.zeros(4), COMM, lr=0.1) as opt:
            opt.step(np.ones(4))
    free_before = distributed._shared_memory_room()
    with ShardedDataParallel(numadam.Adam, np.zeros(1_000_000), COMM):
        COMM.Barrier()  # rank 0 has written it
        # the block is written when opened: it takes its room at once
        assert free_before - distributed._shared_memory_room() >= 8_000_000 * (SIZE + 1) * 0.9
    try:
        with ShardedDataParallel(numadam.SGD, np.zeros(4), COMM, lr=0.1) as opt:
            raise KeyError("inside")  # on every rank: nobody waits in a step
    except KeyError:
        assert opt.shared_memory  # not closed on the way out of an exception
        opt.close()
    room = distributed._shared_memory_room
    distributed._shared_memory_room = lambda: 100  # bytes: far too few
    try:
        assert not ShardedDataParallel(numadam.Adam, np.zeros(101), COMM).shared_memory
        try:
            ShardedDataParallel(numadam.Adam, np.zeros(101), COMM, shared_memory=True)
        except ValueError as exc:
            assert "/dev/shm has 100 free" in str(exc), str(exc)
        else:
            raise AssertionError("no ValueError")
    finally:
        distributed._shared_memory_room = room


def check_switch_waits():
    """A train/eval switch right after a step waits until every rank has read the step's
    results: a rank slow to read them (held back after the step's last barrier) still sees
    the step's non-finite gradient, not the switch's count of zero."""
    original = distributed._SharedBlock.barrier

    def slow(block):
        original(block)
        time.sleep(0.05)

    params = np.ones(8)
    opt = ShardedDataParallel(numadam.ScheduleFreeAdamW, params, COMM, lr=0.1,
                              shared_memory=True)
    grad = np.full(8, 0.5)
    if RANK == 0:
        grad[0] = np.nan  # in rank 0's slice
    if RANK == SIZE - 1:
        distributed._SharedBlock.barrier = slow
    try:
        try:
            opt.step(grad)
        except numadam.NonFiniteGradientError:
            raised = True
        else:
            raised = False
        opt.eval()
    finally:
        distributed._SharedBlock.barrier = original
    everyone = COMM.allgather(raised)
    assert all(everyone), f"raised on each rank: {everyone}"
    same_on_every_rank(params)


def check_nonfinite():
    """A NaN in one rank's gradient raises the same error on every rank, skips that entry
    everywhere, and the parameters stay identical (plain, and sharded through either
    transport); with ``check_finite="before"`` no rank steps at all."""
    makers = [lambda p, **k: DataParallel(numadam.Adam(p, lr=0.1, **k), COMM)] + [
        lambda p, shared=shared, **k: ShardedDataParallel(numadam.Adam, p, COMM, lr=0.1,
                                                          shared_memory=shared, **k)
        for shared in (True, False)]
    for make in makers:
        for check_finite in (True, "before"):
            params = np.ones(11)
            opt = make(params, check_finite=check_finite)
            grad = np.full(11, 0.5)
            if RANK == SIZE - 1:
                grad[[2, 9]] = np.nan  # one entry in each rank's slice when sharded over 2
            try:
                opt.step(grad)
            except numadam.NonFiniteGradientError as exc:
                message = str(exc)
            else:
                raise AssertionError("no NonFiniteGradientError")
            assert "2 non-finite" in message, message
            if check_finite is True:
                assert params[2] == params[9] == 1.0 and params[0] < 1.0
            else:
                assert (params == 1.0).all()
            same_on_every_rank(params)
            opt.step(np.full(11, 0.5))  # and the next step goes on alike everywhere
            same_on_every_rank(params)


def check_batch():
    """minimize_batch over the ranks equals one process bitwise: an uneven split, per-problem
    lr and bounds, both forms; a batch smaller than the number of ranks."""
    rng = np.random.default_rng(5)
    B = 7
    X0 = rng.uniform(-2.0, 2.0, (B, 3))
    centers = rng.uniform(-1.0, 1.0, (B, 3))
    options = {"lr": np.linspace(0.01, 0.1, B), "maxiter": 300, "gtol": 1e-6}
    bounds = (np.full((B, 3), -1.5), np.full((B, 3), 1.5))

    def fun(X, C):
        return 0.5 * np.sum((X - C) ** 2, axis=1) + np.sum(np.cos(X), axis=1)

    def jac(X, C):
        return X - C - np.sin(X)

    from numba import njit

    @njit
    def fun_row(x, c):
        return 0.5 * np.sum((x - c) ** 2) + np.sum(np.cos(x))

    @njit
    def jac_row(x, c):
        return x - c - np.sin(x)

    for f, g in ((fun, jac), (fun_row, jac_row)):
        for rows in (slice(None), slice(0, 1)):
            kwargs = dict(jac=g, bounds=(bounds[0][rows], bounds[1][rows]),
                          options={**options, "lr": options["lr"][rows]},
                          batch_args=(centers[rows],))
            spread = numadam.minimize_batch(f, X0[rows], comm=COMM, **kwargs)
            alone = numadam.minimize_batch(f, X0[rows], **kwargs)
            for key in ("x", "fun", "jac", "nit", "nfev", "status"):
                assert spread[key].tobytes() == alone[key].tobytes(), key
            assert spread.message == alone.message
            assert spread.compiled == alone.compiled
            same_on_every_rank(spread.x)
            # resumed from the whole state, each rank taking its block's rows (issue 22)
            more = {**kwargs, "options": {**kwargs["options"], "state": spread.state}}
            spread = numadam.minimize_batch(f, spread.x, comm=COMM, **more)
            alone = numadam.minimize_batch(f, alone.x, **more)
            assert spread.x.tobytes() == alone.x.tobytes()
            assert spread.state["step"].tobytes() == alone.state["step"].tobytes()


def check_batch_failure():
    """An objective raising on one rank's problems only: every rank raises, none hangs. Not an
    input error (ZeroDivisionError): a RuntimeError on every rank, the failing rank's too (its
    own error as the cause), naming the failing rank and its error."""
    B = 4
    marker = np.zeros(B)
    marker[-1] = 1.0  # the last problem belongs to the last rank

    def fun(X, flag):
        if flag.max() > 0:
            raise ZeroDivisionError("objective failed on purpose")
        return np.sum(X**2, axis=1)

    def jac(X, flag):
        return 2 * X

    try:
        numadam.minimize_batch(fun, np.ones((B, 2)), jac=jac, batch_args=(marker,), comm=COMM)
    except RuntimeError as exc:  # the same kind on every rank: one handler catches it on all
        assert (f"minimize_batch failed on rank {SIZE - 1} of {SIZE}: ZeroDivisionError: "
                f"objective failed on purpose") in str(exc), str(exc)
        if RANK == SIZE - 1:
            assert isinstance(exc.__cause__, ZeroDivisionError), repr(exc.__cause__)
    else:
        raise AssertionError("minimize_batch did not raise")
    # the run goes on afterwards: the ranks are still in step
    same_on_every_rank(np.arange(3.0))


def check_batch_failure_same_kind():
    """Bad input on one rank only, caught by the caller as the kind of error it expects: every
    rank raises that kind (the failing rank its own error, the others one naming it and what
    was wrong), so that every rank goes on alike, here into the next collectives. In the
    validation of the inputs (x0 with NaN or of strings on one rank) and in the solve (an
    objective raising ValueError, or returning the wrong shape, on one rank's problems)."""
    B, last = 4, SIZE - 1
    marker = np.zeros(B)
    marker[-1] = 1.0  # the last problem belongs to the last rank

    def raises(X, flag):
        if flag.max() > 0:
            raise ValueError("objective refused its input on purpose")
        return np.sum(X**2, axis=1)

    def wrong_shape(X, flag):
        value = np.sum(X**2, axis=1)
        return np.append(value, 0.0) if flag.max() > 0 else value

    def jac(X, flag):
        return 2 * X

    nan_x0 = np.ones((B, 2))
    nan_x0[0, 0] = np.nan
    text_x0 = np.full((B, 2), "a")
    cases = [
        (dict(fun=raises, x0=np.ones((B, 2))), ValueError,
         "ValueError: objective refused its input on purpose"),
        (dict(fun=wrong_shape, x0=np.ones((B, 2))), ValueError, "ValueError: "),
        (dict(fun=raises, x0=nan_x0 if RANK == last else np.ones((B, 2))), ValueError,
         "ValueError: x0 must be finite"),
        (dict(fun=raises, x0=text_x0 if RANK == last else np.ones((B, 2))), TypeError,
         "TypeError: x0 must be an array of real numbers"),
        (dict(fun=lambda X, flag: np.sum(X**2, axis=1), x0=np.ones((B, 2)),
              options=dict(disp="yes" if RANK == last else False)), TypeError,
         "TypeError: disp must be True or False"),
    ]
    for kwargs, error, description in cases:
        try:
            numadam.minimize_batch(jac=jac, batch_args=(marker,), comm=COMM, **kwargs)
        except error as exc:
            message = f"{type(exc).__name__}: {exc}"
            if RANK == last:
                assert message.startswith(description), (message, description)
            else:
                assert f"minimize_batch failed on rank {last} of {SIZE}: {description}" in \
                    message, (message, description)
        else:
            raise AssertionError(f"minimize_batch did not raise {error.__name__} on rank "
                                 f"{RANK} ({description})")
        # every rank caught it: the ranks are still in step, and a good batch solves
        same_on_every_rank(np.arange(3.0))
    result = numadam.minimize_batch(raises, np.ones((B, 2)), jac=jac,
                                    batch_args=(np.zeros(B),), comm=COMM)
    same_on_every_rank(result.x)
    assert result.x.shape == (B, 2)


def check_mismatch():
    """Ranks passing vectors of different sizes get the same ValueError, before any collective
    that would not match."""
    for make in (lambda p: DataParallel(numadam.Adam(p), COMM),
                 lambda p: ShardedDataParallel(numadam.Adam, p, COMM)):
        try:
            make(np.zeros(10 + RANK))
        except ValueError as exc:
            assert "every rank must pass the same" in str(exc), str(exc)
        else:
            raise AssertionError("no ValueError")
    try:
        numadam.minimize_batch(lambda X: X[:, 0], np.zeros((3 + RANK, 2)), jac=lambda X: X,
                               comm=COMM)
    except ValueError as exc:
        assert "x0 shape" in str(exc), str(exc)
    else:
        raise AssertionError("no ValueError")


def check_agreement():
    """Found by a review (2026-11-30). Ranks whose optimizers differ in a hyperparameter or in
    check_finite get the same ValueError (they stepped apart, or deadlocked); DataParallel
    takes rank 0's optimizer state with its parameters (schedule-free builds z from the
    parameters before the broadcast); a sharded wrapper's first step, with no collective
    before it, keeps every rank's gradient (rank 0 zeroed the shared block after another rank
    may have written its row)."""
    for make in (lambda: DataParallel(numadam.Adam(np.zeros(4), lr=0.1 + RANK), COMM),
                 lambda: DataParallel(numadam.Adam(np.zeros(4),
                                                   check_finite=[True, "before"][RANK % 2]),
                                      COMM),
                 lambda: ShardedDataParallel(numadam.Adam, np.zeros(4), COMM, lr=0.1 + RANK)):
        try:
            make()
        except ValueError as exc:
            assert "every rank must pass the same hyperparameters" in str(exc), str(exc)
        else:
            raise AssertionError("no ValueError")
    params = np.random.default_rng(RANK).standard_normal(5)  # different on every rank
    opt = DataParallel(numadam.ScheduleFreeAdamW(params, lr=0.1), COMM)
    for _ in range(3):
        opt.step(np.ones(5))
    same_on_every_rank(opt.param)
    for shared_memory in (True, None):
        for n in (1000, 100_000):
            grad = np.full(n, float(RANK + 1))
            sharded = ShardedDataParallel(numadam.SGD, np.zeros(n), COMM, lr=1.0,
                                          shared_memory=shared_memory)
            sharded.step(grad)  # the very first collective operation on the block
            expected = -np.mean(np.arange(1.0, SIZE + 1))
            assert (sharded.param == expected).all(), (n, np.unique(sharded.param))
            sharded.close()


def raises_on_every_rank(call, error, own, others):
    """``call()`` raises ``error`` on every rank: on the last rank a message containing
    ``own``, on the others one naming the last rank and containing ``others``."""
    try:
        call()
    except error as exc:
        text = str(exc)
        expected = own if RANK == SIZE - 1 else others
        assert expected in text, (text, expected)
        return text
    raise AssertionError(f"no {error.__name__} on rank {RANK}")


def check_step_failure_agreement():
    """Issue 24, items 2 and 3: a step whose inputs are wrong on one rank only (a gradient of
    the wrong length or a list, a NaN weight), caught there, hung the other ranks in the
    Allreduce; a weight given on some ranks only made the ranks' parameters differ silently.
    Now every rank raises the same kind of error before anything changes (the others naming
    the failing rank), for DataParallel and both transports of ShardedDataParallel, and the
    next step goes on alike everywhere."""
    n, last = 11, SIZE - 1
    makers = {"DataParallel": lambda p: DataParallel(numadam.Adam(p, lr=0.1), COMM),
              "sharded, shared memory": lambda p: ShardedDataParallel(
                  numadam.Adam, p, COMM, lr=0.1, shared_memory=True),
              "sharded, collectives": lambda p: ShardedDataParallel(
                  numadam.Adam, p, COMM, lr=0.1, shared_memory=False)}
    named = f"failed on rank {last} of {SIZE}"
    for label, make in makers.items():
        params = np.linspace(-1.0, 1.0, n)
        opt = make(params)
        opt.step(np.ones(n))
        before, step = params.copy(), opt.optimizer.step_count
        good = np.full(n, 0.5)
        cases = [
            (dict(grad=np.ones(n + 1) if RANK == last else good), ValueError,
             "grad must have the parameters' shape", f"{named}: ValueError: grad must have"),
            (dict(grad=list(good) if RANK == last else good), TypeError,
             "grad must be a NumPy array", f"{named}: TypeError: grad must be"),
            (dict(grad=good, weight=np.nan if RANK == last else 0.5), ValueError,
             "weight must be finite", f"{named}: ValueError: weight must be finite"),
            (dict(grad=good, weight=0.5 if RANK == last else None), ValueError,
             "weight must be given on every rank or on none",
             "weight must be given on every rank or on none"),
        ]
        for kwargs, error, own, others in cases:
            raises_on_every_rank(lambda: opt.step(**kwargs), error, own, others)
            assert params.tobytes() == before.tobytes(), f"{label}: parameters changed"
            assert opt.optimizer.step_count == step, f"{label}: a step was counted"
        opt.step(good)  # the ranks are still in step
        same_on_every_rank(params)
        assert not np.array_equal(params, before)
        if hasattr(opt, "close"):
            opt.close()


def check_batch_inputs_agree():
    """Issue 24, item 3: minimize_batch(comm=...) compared only the shape (B, n): ranks passing
    another x0 or other options (maxiter 3 and 50) got a silently mixed result. A digest of the
    inputs, compared once at the start, refuses them on every rank, naming what differs."""
    B = 4
    X0 = np.ones((B, 2))

    def fun(X):
        return np.sum(X**2, axis=1)

    def jac(X):
        return 2 * X

    cases = [
        (dict(x0=X0 + (RANK == SIZE - 1)), "x0"),
        (dict(x0=X0, options={"maxiter": 3 if RANK == 0 else 50}), "options"),
        (dict(x0=X0, options={"lr": np.full(B, 0.1 + 0.1 * RANK)}), "options"),
        (dict(x0=X0, bounds=[(-1.0, 1.0 + RANK)] * 2), "bounds"),
        (dict(x0=X0, method="adam" if RANK == 0 else "sgd"), "method"),
    ]
    for kwargs, part in cases:
        try:
            numadam.minimize_batch(fun, jac=jac, comm=COMM, **kwargs)
        except ValueError as exc:
            assert "every rank must pass the same" in str(exc) and part in str(exc), str(exc)
        else:
            raise AssertionError(f"no ValueError for {part} differing")
    result = numadam.minimize_batch(fun, X0, jac=jac, comm=COMM, options={"maxiter": 5})
    assert (result.nit == 5).all()
    same_on_every_rank(result.x)


# ------------------------------------------------------------------------------------------------
# ShardedDataParallel.state_dict / load_state_dict
# ------------------------------------------------------------------------------------------------

#: (class name, hyperparameters besides lr): state layouts that differ (an unused, empty
#: vector; a vector used or not by a hyperparameter; one vector; a scalar carry; a mode).
STATE_CASES = [("Adam", {}), ("Adam", {"amsgrad": True}), ("SGD", {"momentum": 0.9}),
               ("SGD", {}), ("RMSProp", {"centered": True, "momentum": 0.5}), ("NAdam", {}),
               ("ScheduleFreeAdamW", {})]


def every_ranks_targets(n, dtype):
    """Rank r's gradient at x is ``x - targets[r]``: every rank draws every rank's targets, so
    that a plain optimizer can step along the ranks' average without a collective."""
    return [np.random.default_rng(rank + 10).standard_normal(n).astype(dtype)
            for rank in range(SIZE)]


def average(x, targets):
    """The ranks' average gradient as the sharded wrapper computes it (shared memory): summed in
    rank order, then divided by the number of ranks."""
    total = x - targets[0]
    for target in targets[1:]:
        total = total + (x - target)
    return total / x.dtype.type(SIZE)


def assert_same_state(expected, actual, label):
    """``actual`` is a state dict of ``expected``'s format (keys, types, dtypes, shapes) with its
    values: scalars exactly, vectors as :func:`assert_equal_sums`."""
    assert actual.keys() == expected.keys(), (label, sorted(actual), sorted(expected))
    for key in expected:
        if key != "state":
            assert actual[key] == expected[key], (label, key, actual[key], expected[key])
            assert type(actual[key]) is type(expected[key]), (label, key)
    assert actual["state"].keys() == expected["state"].keys(), label
    for name, vector in expected["state"].items():
        got = actual["state"][name]
        assert isinstance(got, np.ndarray) and got.dtype == vector.dtype, (label, name)
        assert got.shape == vector.shape, (label, name, got.shape, vector.shape)
        assert_equal_sums(vector, got, f"{label}: state {name!r} differs")


def check_state_dict_resumes_unsharded():
    """(a) k sharded steps, then state_dict(): on every rank the same dict, in the format of
    the class's own state_dict and equal to DataParallel's after the same steps; a plain
    optimizer loading it continues m steps exactly as the sharded run does. Every state layout
    of STATE_CASES, both dtypes, both transports, a size that does not split evenly and one
    smaller than the number of ranks (a rank with an empty slice)."""
    k, m = 7, 6
    for shared in (True, False):
        for name, extra in STATE_CASES:
            cls = getattr(numadam, name)
            for dtype in (np.float32, np.float64):
                for n in (1001, 1):
                    label = f"{name} {extra} {dtype.__name__} n={n} shared_memory={shared}"
                    x0 = np.random.default_rng(3).standard_normal(n).astype(dtype)
                    targets = every_ranks_targets(n, dtype)
                    sliced, whole = x0.copy(), x0.copy()
                    sharded = ShardedDataParallel(cls, sliced, COMM, lr=1e-2,
                                                  shared_memory=shared, **extra)
                    plain = DataParallel(cls(whole, lr=1e-2, **extra), COMM)
                    for _ in range(k):
                        sharded.step(sliced - targets[RANK])
                        plain.step(whole - targets[RANK])
                    saved = sharded.state_dict()
                    assert saved["step"] == k, label
                    assert_same_state(plain.state_dict(), saved, label)
                    for vector in saved["state"].values():
                        same_on_every_rank(vector)
                    resumed = sliced.copy()
                    alone = cls(resumed, lr=1e-2, **extra)
                    alone.load_state_dict(saved)
                    for _ in range(m):
                        sharded.step(sliced - targets[RANK])
                        alone.step(average(resumed, targets))
                    assert not np.array_equal(sliced, x0), label
                    assert_equal_sums(sliced, resumed, f"{label}: the resumed run differs")
                    assert_same_state(alone.state_dict(), sharded.state_dict(), label)
                    sharded.close()


def check_state_dict_from_unsharded():
    """(b) A plain optimizer's state_dict after k steps, loaded into a new ShardedDataParallel
    over the same parameters: m more steps of each give the same parameters and state. Also a
    schedule-free state saved in eval mode (the wrapper's slices switch back to train from
    it), and a wrapper that had stepped already (its own state replaced entirely)."""
    k, m, n = 5, 6, 1001
    for shared in (True, False):
        for name, extra in STATE_CASES + [("ScheduleFreeAdamW", {"eval": True})]:
            extra = dict(extra)
            in_eval = extra.pop("eval", False)
            cls = getattr(numadam, name)
            for dtype in (np.float32, np.float64):
                label = f"{name} {extra} eval={in_eval} {dtype.__name__} shared_memory={shared}"
                targets = every_ranks_targets(n, dtype)
                alone = np.random.default_rng(4).standard_normal(n).astype(dtype)
                plain = cls(alone, lr=1e-2, **extra)
                for _ in range(k):
                    plain.step(average(alone, targets))
                if in_eval:
                    plain.eval()
                for stepped_before in (False, True):
                    base = alone.copy()
                    reference = cls(base, lr=1e-2, **extra)
                    reference.load_state_dict(plain.state_dict())
                    sliced = base.copy()
                    sharded = ShardedDataParallel(cls, sliced, COMM, lr=1e-2,
                                                  shared_memory=shared, **extra)
                    if stepped_before:  # its own state, then its parameters put back
                        for _ in range(3):
                            sharded.step(np.ones(n, dtype))
                        sliced[:] = base
                    sharded.load_state_dict(plain.state_dict())
                    assert_same_state(plain.state_dict(), sharded.state_dict(), label)
                    if in_eval:
                        reference.train()
                        sharded.train()
                        assert_equal_sums(base, sliced, f"{label}: train point differs")
                    for _ in range(m):
                        reference.step(average(base, targets))
                        sharded.step(sliced - targets[RANK])
                    assert not np.array_equal(base, alone), label
                    assert_equal_sums(base, sliced, f"{label} stepped_before="
                                                    f"{stepped_before}: differs")
                    assert_same_state(reference.state_dict(), sharded.state_dict(), label)
                    same_on_every_rank(sliced)
                    sharded.close()


def refused_everywhere(wrapper, state_dict, error, *matches):
    """Load ``state_dict`` (each rank its own) into ``wrapper`` (sharded or not): it must raise
    ``error`` on this rank with each of ``matches`` in the message, on every rank, and change
    nothing here."""
    before = wrapper.optimizer.state_dict()
    param = wrapper.param.copy()
    try:
        wrapper.load_state_dict(state_dict)
    except error as exc:
        message = f"{type(exc).__name__}: {exc}"
    else:
        message = None
    assert message is not None, f"rank {RANK}: no {error.__name__}"
    for match in matches:
        assert match in message, (match, message)
    everyone = COMM.allgather(message)
    assert all(everyone), everyone
    after = wrapper.optimizer.state_dict()
    assert after.keys() == before.keys()
    for key in before:
        if key != "state":
            assert after[key] == before[key], (key, after[key], before[key])
    for name, vector in before["state"].items():
        assert after["state"][name].tobytes() == vector.tobytes(), f"state {name!r} changed"
    assert wrapper.param.tobytes() == param.tobytes()
    return message


class Stepped:
    """A wrapper made by ``make(params)`` and its twin over equal parameters of size ``n``,
    stepped alike three times toward every rank's targets; ``good`` is the wrapper's state dict
    then, ``loadable`` one that differs from it in every entry (a rank that took a bad dict
    made from it, or its own part of one, would be seen to have changed)."""

    def __init__(self, make, n):
        self.targets = every_ranks_targets(n, np.float64)
        self.params, self.twin_params = np.linspace(-1, 1, n), np.linspace(-1, 1, n)
        self.wrapper, self.twin = make(self.params), make(self.twin_params)
        self.step(3)
        self.good = self.wrapper.state_dict()
        self.loadable = {**self.good, "step": self.good["step"] + 10,
                         "state": {key: v * 0.5 + 0.25
                                   for key, v in self.good["state"].items()}}

    def step(self, count):
        for _ in range(count):
            self.wrapper.step(self.params - self.targets[RANK])
            self.twin.step(self.twin_params - self.targets[RANK])

    def changed(self, vectors=None, **entries):
        """``loadable`` with these entries and state vectors instead."""
        loadable = self.loadable
        return {**loadable, **entries, "state": {**loadable["state"], **(vectors or {})}}

    def on_last(self, state_dict):
        """``state_dict`` on the last rank, ``loadable`` on the others."""
        return state_dict if RANK == SIZE - 1 else self.loadable

    def steps_on_as_its_twin(self, name):
        """Nothing changed by the refused dicts: the wrapper steps on as its twin, and the
        flawless dict loads."""
        self.step(2)
        assert self.params.tobytes() == self.twin_params.tobytes(), name
        assert_same_state(self.twin.state_dict(), self.wrapper.state_dict(), name)
        self.wrapper.load_state_dict(self.loadable)
        assert_same_state(self.loadable, self.wrapper.state_dict(), name)


def names_last(message):
    """On the ranks that did not fail, ``message`` names the last rank, which did."""
    if RANK != SIZE - 1:
        assert f"failed on rank {SIZE - 1} of {SIZE}" in message, message


def refuses_the_common_flaws(run, name, vector, n):
    """The bad dicts both wrappers refuse alike, on every rank (``run``: a :class:`Stepped`):
    a vector of the wrong shape or dtype, a bad or fixed hyperparameter, a missing key, a
    list; a bad step or vector on the last rank only."""
    wrapper, changed, good = run.wrapper, run.changed, run.good
    whole = run.loadable["state"][vector]
    refused_everywhere(wrapper, changed({vector: np.zeros(n + 1)}), ValueError,
                       f"{vector!r} has shape ({n + 1},)", f"({n},)")
    refused_everywhere(wrapper, changed({vector: whole.astype(np.float32)}), TypeError,
                       "dtype float64")
    other = {**good["hyperparameters"], "lr": -1.0}
    refused_everywhere(wrapper, changed(hyperparameters=other), ValueError,
                       "Invalid learning rate")
    if name == "Adam":  # fixed at creation
        other = {**good["hyperparameters"], "amsgrad": True}
        refused_everywhere(wrapper, changed(hyperparameters=other), ValueError, "amsgrad",
                           "fixed at creation")
    if name == "SGD":  # the momentum buffer exists: momentum may not switch off
        other = {**good["hyperparameters"], "momentum": 0.0}
        refused_everywhere(wrapper, changed(hyperparameters=other), ValueError,
                           "switching it on or off")
    refused_everywhere(wrapper, {k: v for k, v in run.loadable.items() if k != "step"},
                       ValueError, "keys")
    refused_everywhere(wrapper, [run.loadable], ValueError, "keys")
    # bad on one rank only: the others raise the same kind of error, naming it
    names_last(refused_everywhere(wrapper, run.on_last(changed(step=-1)), ValueError,
                                  "state_dict['step']"))
    names_last(refused_everywhere(wrapper, run.on_last(changed({vector: list(whole)})),
                                  TypeError, f"{vector!r} must be an array"))


def check_state_dict_refused():
    """(c) A bad state dict (wrong shape, dtype, step, keys; NaN in one rank's slice only;
    other hyperparameters; bad on one rank only; ranks passing different steps) raises on
    every rank, the failing rank its own error and the others the same kind naming it, and
    changes no rank's state or parameters: afterwards the wrapper steps on exactly like a twin
    that never saw the bad dicts, and the dict they were made from loads."""
    n, last = 11, SIZE - 1
    mine = slice(*(lambda offset, count: (offset, offset + count))(
        *distributed.share_of(n, SIZE, RANK)))
    last_start = distributed.share_of(n, SIZE, last)[0]
    for name, extra, vector in (("Adam", {}, "exp_avg_sq"),
                                ("SGD", {"momentum": 0.9}, "momentum_buffer")):
        cls = getattr(numadam, name)
        run = Stepped(lambda params: ShardedDataParallel(cls, params, COMM, lr=0.1, **extra), n)
        whole = run.loadable["state"][vector]
        nan_in_last = whole.copy()
        nan_in_last[last_start] = np.nan  # in the last rank's slice only
        names_last(refused_everywhere(run.wrapper, run.changed({vector: nan_in_last}),
                                      ValueError, "holds NaN or inf"))
        refuses_the_common_flaws(run, name, vector, n)
        # each rank's dict passes alone, but they differ: no rank may load its own
        refused_everywhere(run.wrapper, run.changed(step=run.loadable["step"] + RANK),
                           ValueError, "every rank must pass the same state_dict")
        run.steps_on_as_its_twin(name)
        assert run.wrapper.optimizer.state[vector].tobytes() == whole[mine].tobytes()
        run.wrapper.close()
        run.twin.close()


# ------------------------------------------------------------------------------------------------
# DataParallel.load_state_dict
# ------------------------------------------------------------------------------------------------


def check_data_parallel_state_dict_resumes():
    """k DataParallel steps, then state_dict(): a new DataParallel over the parameters reached,
    loading it (or a ShardedDataParallel's state_dict after the same k steps, or a plain
    optimizer's stepping along the ranks' average), goes on m steps exactly as the run that was
    never interrupted, parameters and state; also a wrapper that had stepped before loading
    (its own state replaced entirely), and a schedule-free state saved in eval mode."""
    k, m = 6, 5
    for name, extra in STATE_CASES + [("ScheduleFreeAdamW", {"eval": True})]:
        extra = dict(extra)
        in_eval = extra.pop("eval", False)
        cls = getattr(numadam, name)
        for dtype in (np.float32, np.float64):
            for n in (1001, 1):
                label = f"{name} {extra} eval={in_eval} {dtype.__name__} n={n}"
                x0 = np.random.default_rng(5).standard_normal(n).astype(dtype)
                targets = every_ranks_targets(n, dtype)
                run, sliced, alone = x0.copy(), x0.copy(), x0.copy()
                uninterrupted = DataParallel(cls(run, lr=1e-2, **extra), COMM)
                sharded = ShardedDataParallel(cls, sliced, COMM, lr=1e-2, **extra)
                plain = cls(alone, lr=1e-2, **extra)
                for _ in range(k):
                    uninterrupted.step(run - targets[RANK])
                    sharded.step(sliced - targets[RANK])
                    plain.step(average(alone, targets))
                if in_eval:
                    uninterrupted.optimizer.eval()
                    plain.eval()
                    sharded.eval()
                saved = {"DataParallel": uninterrupted.state_dict(),
                         "ShardedDataParallel": sharded.state_dict(), "plain": plain.state_dict()}
                sharded.close()
                reached = run.copy()
                assert not np.array_equal(reached, x0), label
                if in_eval:
                    uninterrupted.optimizer.train()
                for _ in range(m):
                    uninterrupted.step(run - targets[RANK])
                for source, state_dict in saved.items():
                    for stepped_before in (False, True):
                        where = f"{label} from {source} stepped_before={stepped_before}"
                        resumed = reached.copy()
                        fresh = DataParallel(cls(resumed, lr=1e-2, **extra), COMM)
                        if stepped_before:  # its own state, then its parameters put back
                            for _ in range(3):
                                fresh.step(np.ones(n, dtype))
                            resumed[:] = reached
                        fresh.load_state_dict(state_dict)
                        assert_same_state(saved["DataParallel"], fresh.state_dict(), where)
                        if in_eval:
                            fresh.optimizer.train()
                        for _ in range(m):
                            fresh.step(resumed - targets[RANK])
                        assert_equal_sums(run, resumed, f"{where}: the resumed run differs")
                        assert_same_state(uninterrupted.state_dict(), fresh.state_dict(), where)
                        same_on_every_rank(resumed)


def check_data_parallel_state_dict_refused():
    """A bad state dict for DataParallel (wrong shape, dtype, step, keys; NaN on every rank or
    on one rank only; other hyperparameters; bad on one rank only; dicts that each load but
    differ between ranks in their step, a hyperparameter, one state entry, the scalar state or
    the mode) raises on every rank, the failing rank its own error and the others the same
    kind naming it, and changes no rank's state or parameters: afterwards the wrapper steps on
    exactly like a twin that never saw the bad dicts, and the dict they were made from
    loads."""
    n, last = 11, SIZE - 1
    for name, extra, vector in (("Adam", {}, "exp_avg_sq"),
                                ("SGD", {"momentum": 0.9}, "momentum_buffer"),
                                ("ScheduleFreeAdamW", {}, "z")):
        cls = getattr(numadam, name)
        run = Stepped(lambda params: DataParallel(cls(params, lr=0.1, **extra), COMM), n)
        wrapper, changed, on_last, loadable = run.wrapper, run.changed, run.on_last, run.loadable
        whole = loadable["state"][vector]
        with_nan = whole.copy()
        with_nan[n // 2] = np.nan
        refused_everywhere(wrapper, changed({vector: with_nan}), ValueError, "holds NaN or inf")
        names_last(refused_everywhere(wrapper, on_last(changed({vector: with_nan})), ValueError,
                                      "holds NaN or inf"))
        refuses_the_common_flaws(run, name, vector, n)
        # each rank's dict passes alone, but they differ: no rank may load its own
        same = "every rank must pass the same state_dict"
        refused_everywhere(wrapper, changed(step=loadable["step"] + RANK), ValueError, same,
                           "in step")
        other = {**loadable["hyperparameters"], "lr": 0.5}
        refused_everywhere(wrapper, on_last(changed(hyperparameters=other)), ValueError, same,
                           f"rank {last}'s differs from rank 0's in hyperparameters")
        nudged = whole.copy()
        nudged[-1] = np.nextafter(nudged[-1], np.inf)  # one ulp, one entry, one rank
        refused_everywhere(wrapper, on_last(changed({vector: nudged})), ValueError, same,
                           f"in state {vector!r}")
        if "carry" in loadable:
            carry = {key: value + 1.0 for key, value in loadable["carry"].items()}
            refused_everywhere(wrapper, on_last(changed(carry=carry)), ValueError, same,
                               "in carry")
        if "mode" in loadable:
            refused_everywhere(wrapper, on_last(changed(mode="eval")), ValueError, same,
                               "in mode")
        run.steps_on_as_its_twin(name)
        assert wrapper.optimizer.state[vector].tobytes() == whole.tobytes()
        same_on_every_rank(run.params)


def check_abort():
    """One rank raising between steps while the others wait in the Allreduce: abort_on_error
    ends them all (the pytest side expects a non-zero exit and this message)."""
    params = np.ones(5)
    opt = DataParallel(numadam.SGD(params, lr=0.1), COMM)
    if RANK == SIZE - 1:
        raise RuntimeError("user code failed on the last rank")
    opt.step(np.ones(5))  # waits for the failing rank for ever, unless aborted


def check_uncaught():
    """As ``abort``, without abort_on_error: the exception is not caught at all, and the hook
    DataParallel installed ends every rank."""
    params = np.ones(5)
    opt = DataParallel(numadam.SGD(params, lr=0.1), COMM)
    if RANK == SIZE - 1:
        raise RuntimeError("uncaught on the last rank")
    opt.step(np.ones(5))


#: The checks that run on one process as they do on several, compiling what the ranks would.
ONE_PROCESS_CHECKS = ["identity", "nonfinite", "batch", "batch_failure_same_kind",
                      "state_dict_resumes_unsharded"]


def warm_up(directory):
    """Compile into Numba's disk cache, in one process and without MPI ranks, what the checks
    compile: the launch's ranks then load it instead of each compiling the same code at the
    same time (they halve the cores each has). Its outcome does not matter: whatever it missed,
    the ranks compile as before; the checks themselves run only in the launch."""
    for name in RULES:  # check_sharded's steps: every rule's kernels
        cls = getattr(numadam, name)
        for dtype in dtypes_of(name):
            x = np.ones(1001, dtype)
            optimizer = cls(x, lr=1e-2)
            optimizer.step(x - 2)
            if hasattr(optimizer, "eval"):
                optimizer.eval()
    run_reporting([name for name in ONE_PROCESS_CHECKS if name in CHECKS], directory)


CHECKS = {name[len("check_"):]: f for name, f in globals().items() if name.startswith("check_")}
#: The checks that end the launch on purpose: each needs a launch of its own.
ENDING = ("abort", "uncaught")
#: How long a rank whose check failed waits for the other ranks to finish that check.
GRACE_SECONDS = 20.0


def run_reporting(names, directory):
    """Run the checks ``names`` in turn, each on a fresh duplicate of COMM_WORLD; write each
    one's outcome on this rank to ``directory/rank<RANK>.jsonl`` as soon as it is known."""
    global COMM
    world = MPI.COMM_WORLD
    between = world.Dup()  # the meeting after each check: no check ever uses it
    path = os.path.join(directory, f"rank{RANK}.jsonl")
    with open(path, "a", encoding="utf-8") as report:
        def write(**entry):
            report.write(json.dumps({"rank": RANK, **entry}) + "\n")
            report.flush()
            os.fsync(report.fileno())

        for name in names:
            COMM = world.Dup()
            started = time.perf_counter()
            try:
                CHECKS[name]()
            except Exception:  # noqa: BLE001 - reported, then the other checks go on
                error = traceback.format_exc()
            else:
                error = None
            write(check=name, ok=error is None, error=error,
                  seconds=round(time.perf_counter() - started, 3))
            meeting = between.Ibarrier()
            deadline = None if error is None else time.monotonic() + GRACE_SECONDS
            while not meeting.Test():
                if deadline is not None and time.monotonic() > deadline:
                    write(check=name, ok=False, aborted=True,
                          error=f"rank {RANK} failed {name} and the other ranks did not finish "
                                f"it within {GRACE_SECONDS} s: the launch was aborted")
                    world.Abort(1)
                time.sleep(0.002)
    COMM = world


if __name__ == "__main__":
    if sys.argv[1] == "--warm-up":
        warm_up(sys.argv[2])
        sys.exit(0)
    if sys.argv[1] == "--report":
        run_reporting(sys.argv[3:], sys.argv[2])
        sys.exit(0)
    if sys.argv[1] == "uncaught":
        CHECKS["uncaught"]()
    with distributed.abort_on_error(COMM):
        CHECKS[sys.argv[1]]()
    COMM.Barrier()
    if RANK == 0:
        print(f"PASS {sys.argv[1]} on {SIZE} ranks", flush=True)
