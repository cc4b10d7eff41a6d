"""numadam.distributed: checks on one rank here, and the multi-rank checks of
tests/mpi_checks.py run under ``mpiexec -n 2`` (skipped without mpi4py and mpiexec)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numadam
from numadam import _mpi, distributed
from tests.fuzz_inputs import CHEAP, odd_values, outcome
from tests.mnist_files import MNIST_DIR, requires_mnist

ROOT = Path(__file__).resolve().parents[1]

try:
    from mpi4py import MPI
except ImportError:  # the mpi extra is not installed
    MPI = None

requires_mpi4py = pytest.mark.skipif(MPI is None, reason="mpi4py is not installed (extra: mpi)")
#: mpiexec of the environment running the tests first (the MPICH wheel puts it beside python)
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join(
    [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
requires_mpiexec = pytest.mark.skipif(MPI is None or MPIEXEC is None,
                                      reason="mpi4py or mpiexec is missing (extra: mpi)")


def rank_environment():
    """A rank's environment: one Numba and one BLAS thread (the ranks share the machine's
    cores), the repository importable."""
    return {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def run_ranks(*argv, ranks=2, timeout=300):
    """``mpiexec -n ranks python argv...`` from the repository root, one Numba and one BLAS
    thread per rank (the ranks share the machine's cores). Past ``timeout`` seconds the launch
    is killed, mpiexec and every rank (a hang must not stall the test run), and ``returncode``
    is None."""
    with subprocess.Popen([MPIEXEC, "-n", str(ranks), sys.executable, *argv], cwd=ROOT,
                          env=rank_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as launch:
        try:
            stdout, stderr = launch.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGKILL)
            stdout, stderr = launch.communicate()
            return subprocess.CompletedProcess(launch.args, None, stdout, stderr)
    return subprocess.CompletedProcess(launch.args, launch.returncode, stdout, stderr)


# ------------------------------------------------------------------------------------------------
# Several ranks
# ------------------------------------------------------------------------------------------------

#: The checks of tests/mpi_checks.py run in one launch, in this order.
CHECKS = ["identity", "one_process", "sharded", "nonfinite", "batch", "batch_failure",
          "batch_failure_same_kind", "mismatch", "shared_memory_lifetime", "switch_waits",
          "agreement", "state_dict_resumes_unsharded", "state_dict_from_unsharded",
          "state_dict_refused", "data_parallel_state_dict_resumes",
          "data_parallel_state_dict_refused", "step_failure_agreement", "batch_inputs_agree"]
RANKS = 2
#: The most all the launches of the checks may take together: a hang fails its check (and the
#: launch's remaining checks run again in a new launch, in the time left), never stalls the run.
CHECKS_TIMEOUT = 300


def _read_reports(directory):
    """Each check's entries, one per rank that finished it: {check: {rank: entry}}."""
    entries = {}
    for path in sorted(Path(directory).glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            ranks = entries.setdefault(entry["check"], {})
            if entry.get("aborted"):  # a failed rank gave up waiting: add why to its error
                entry = {**ranks.get(entry["rank"], {}), **entry,
                         "error": f"{ranks.get(entry['rank'], {}).get('error')}\n"
                                  f"{entry['error']}"}
            ranks[entry["rank"]] = entry
    return entries


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def run_checks(names, make_directory, script="tests/mpi_checks.py", timeout=CHECKS_TIMEOUT):
    """The checks ``names`` of ``script`` under ``mpiexec -n RANKS``, in one launch, each
    reporting on each rank: {check: (passed, why)}.

    A launch ended early (a rank that failed a check while another was held inside it aborts
    it; a hang is killed at the deadline) is followed by a launch of the checks it did not
    reach, while time is left. ``make_directory()`` gives an empty folder for each launch."""
    outcome, remaining = {}, list(names)
    deadline = time.monotonic() + timeout
    while remaining:
        left = deadline - time.monotonic()
        if left <= 1:
            for name in remaining:
                outcome[name] = (False, f"not run: the {timeout} s of the launches were "
                                        f"spent before {name}")
            break
        directory = make_directory()
        done = run_ranks(script, "--report", str(directory), *remaining, ranks=RANKS,
                         timeout=left)
        ended = ("was killed at the deadline" if done.returncode is None
                 else f"exited with status {done.returncode}")
        launch = (f"the launch {ended}; its output ends with:\n{_tail(done.stdout)}\n"
                  f"{_tail(done.stderr)}")
        reports = _read_reports(directory)
        reached = [name for name in remaining if name in reports]
        for name in reached:
            ranks = reports[name]
            failed = {rank: entry["error"] for rank, entry in sorted(ranks.items())
                      if not entry["ok"]}
            missing = [rank for rank in range(RANKS) if rank not in ranks]
            if not failed and not missing:
                outcome[name] = (True, "")
                continue
            why = "".join(f"[rank {rank}] {error}\n" for rank, error in failed.items())
            why += "".join(f"[rank {rank}] did not finish {name}\n" for rank in missing)
            outcome[name] = (False, f"{why}{launch}")
        remaining = [name for name in remaining if name not in reports]
        if not remaining:
            break
        if done.returncode is None:  # killed at the deadline, held in this check
            outcome[remaining.pop(0)] = (False, f"no rank finished it: {launch}")
        elif done.returncode == 0 or not reached:  # it would end so again
            for name in remaining:
                outcome[name] = (False, f"not run: {launch}")
            break
    return outcome


@pytest.fixture(scope="module")
def two_rank_checks(tmp_path_factory):
    """Every check of CHECKS, all in one launch of ``mpiexec -n 2``: {check: (passed, why)}.

    First one process compiles what the checks need into Numba's disk cache
    (``mpi_checks.warm_up``), so that the ranks load it rather than each compile it again."""
    try:
        subprocess.run([sys.executable, str(ROOT / "tests" / "mpi_checks.py"), "--warm-up",
                        str(tmp_path_factory.mktemp("warm_up"))], cwd=ROOT,
                       env=rank_environment(),
                       capture_output=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:  # only time lost: the ranks compile what it missed
        pass
    return run_checks(CHECKS, lambda: tmp_path_factory.mktemp("mpi_checks"))


def test_the_launch_runs_every_check_of_mpi_checks():
    """CHECKS names every check of tests/mpi_checks.py but those that end their launch."""
    source = (ROOT / "tests" / "mpi_checks.py").read_text()
    defined = set(re.findall(r"^def check_(\w+)\(", source, flags=re.MULTILINE))
    assert defined - set(CHECKS) == {"abort", "uncaught"}
    assert set(CHECKS) <= defined and len(set(CHECKS)) == len(CHECKS)


@requires_mpiexec
@pytest.mark.parametrize("check", CHECKS)
def test_on_two_ranks(check, two_rank_checks):
    """Each check of tests/mpi_checks.py (its docstring says what) passes on every rank."""
    passed, why = two_rank_checks[check]
    assert passed, why


@requires_mpiexec
def test_a_failing_rank_ends_every_rank_with_its_error():
    """Rank 1 raises while rank 0 waits in the Allreduce: abort_on_error ends both (no hang:
    the timeout would fail the test) and the traceback names the rank and the error."""
    done = run_ranks("tests/mpi_checks.py", "abort", timeout=120)
    assert done.returncode not in (0, None), done.stdout + done.stderr
    assert "[rank 1] RuntimeError: user code failed on the last rank" in done.stderr
    assert "PASS" not in done.stdout


@requires_mpiexec
def test_an_uncaught_exception_on_one_rank_ends_every_rank():
    """No abort_on_error this time: the excepthook that DataParallel installed ends the run."""
    done = run_ranks("tests/mpi_checks.py", "uncaught", timeout=120)
    assert done.returncode not in (0, None), done.stdout + done.stderr
    assert "RuntimeError: uncaught on the last rank" in done.stderr
    assert "uncaught RuntimeError: aborting all 2 ranks" in done.stderr


@requires_mpiexec
@requires_mnist
@pytest.mark.slow
def test_mnist_on_two_ranks_reaches_its_accuracy():
    """``mpiexec -n 2 python -m numadam mnist``: only rank 0 prints, >= 97.3% after 5 epochs,
    and the sharded state prints the very same figures (bitwise equal parameters)."""
    outputs = []
    for extra in ([], ["--sharded"]):
        done = run_ranks("-m", "numadam", "mnist", "--data-dir", str(MNIST_DIR), *extra,
                         timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    lines = outputs[0].splitlines()
    assert lines[0].endswith("2 ranks") and len(lines) == 11  # the header, 2 lines per epoch
    accuracy = float(re.search(r"Test Accuracy: ([\d.]+)%", lines[-1]).group(1))
    assert accuracy >= 97.3
    strip_times = re.compile(r"\s+\([\d.]+ s\)")
    assert ([strip_times.sub("", line) for line in outputs[1].splitlines()[1:]]
            == [strip_times.sub("", line) for line in lines[1:]])


# ------------------------------------------------------------------------------------------------
# One rank, in this process
# ------------------------------------------------------------------------------------------------


def test_import_numadam_does_not_import_mpi4py():
    done = subprocess.run([sys.executable, "-c", "import sys, numadam, numadam.distributed; "
                           "print('mpi4py' in sys.modules)"], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.strip() == "False"


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `from mpi4py import MPI` fail
    with pytest.raises(ImportError, match=r"numadam\[mpi\]"):
        distributed.DataParallel(numadam.Adam(np.zeros(3)), object())
    with pytest.raises(ImportError, match=r"numadam\[mpi\]"):
        numadam.minimize_batch(lambda X: X[:, 0], np.zeros((2, 1)), jac=lambda X: X,
                               comm=object())


def test_shares_split_like_numpy_array_split():
    for total in range(0, 12):
        for size in range(1, 5):
            counts, offsets = distributed.shares(total, size)
            expected = np.array_split(np.arange(total), size)
            assert list(counts) == [len(part) for part in expected]
            assert list(offsets) == [part[0] if len(part) else int(o) for part, o in
                                     zip(expected, offsets)]
            assert counts.sum() == total and offsets[0] == 0
            assert (np.diff(offsets) == counts[:-1]).all()
            for rank in range(size):
                assert distributed.share_of(total, size, rank) == (offsets[rank], counts[rank])


@requires_mpi4py
@pytest.mark.parametrize("call, error, match", [
    (lambda: distributed.DataParallel(numadam.Adam(np.zeros(3)), "world"), TypeError, "comm"),
    (lambda: distributed.DataParallel(np.zeros(3), MPI.COMM_SELF), TypeError, "optimizer"),
    (lambda: distributed.ShardedDataParallel(numadam.Adam(np.zeros(3)), np.zeros(3),
                                             MPI.COMM_SELF), TypeError, "optimizer_class"),
    (lambda: distributed.ShardedDataParallel(numadam.Adam, [1.0, 2.0], MPI.COMM_SELF),
     TypeError, "params"),
    (lambda: distributed.DataParallel(numadam.Adam(np.zeros(3)), MPI.COMM_SELF).step(
        np.zeros(4)), ValueError, "grad"),
    (lambda: distributed.DataParallel(numadam.Adam(np.zeros(3)), MPI.COMM_SELF).step(
        np.zeros(3, np.float32)), ValueError, "dtype"),
    (lambda: distributed.DataParallel(numadam.Adam(np.zeros(3)), MPI.COMM_SELF).step(
        np.zeros(3), weight=np.nan), ValueError, "weight"),
    (lambda: distributed.ShardedDataParallel(numadam.Adam, np.zeros(3), MPI.COMM_SELF).eval(),
     AttributeError, "no train/eval modes"),
    (lambda: distributed.ShardedDataParallel(numadam.Adam, np.zeros(3), MPI.COMM_SELF,
                                             shared_memory="yes"), ValueError, "shared_memory"),
    (lambda: numadam.minimize_batch(lambda X: X[:, 0], np.zeros((2, 1)), jac=lambda X: X,
                                    comm=3), TypeError, "comm"),
    (lambda: numadam.minimize_batch(lambda X: X[:, 0], np.zeros(2), jac=lambda X: X,
                                    comm=MPI.COMM_SELF), ValueError, "x0 must be 2-D"),
])
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


@requires_mpi4py
@pytest.mark.parametrize("name", ["Adam", "NAdam", "Lion"])
def test_one_rank_steps_like_the_plain_optimizer(name, rng):
    """On a communicator of one rank both wrappers take the plain optimizer's steps bitwise,
    leave the caller's gradient as it was, and the sharded one holds the whole state."""
    cls = getattr(numadam, name)
    x0 = rng.standard_normal(33)
    plain, data_parallel, sharded = x0.copy(), x0.copy(), x0.copy()
    opt = cls(plain, lr=1e-2)
    dp = distributed.DataParallel(cls(data_parallel, lr=1e-2), MPI.COMM_SELF)
    zero = distributed.ShardedDataParallel(cls, sharded, MPI.COMM_SELF, lr=1e-2)
    for _ in range(20):
        grad = np.sin(3 * plain) + plain
        kept = grad.copy()
        opt.step(grad)
        dp.step(grad)
        zero.step(grad)
        assert np.array_equal(grad, kept)
    assert plain.tobytes() == data_parallel.tobytes() == sharded.tobytes()
    assert zero.state_nbytes == sum(v.nbytes for v in opt.state.values())
    assert dp.state_dict()["step"] == 20


@requires_mpi4py
@CHEAP
@given(grad=odd_values(st.sampled_from([(), (0,), (5,), (6,), (2, 5)])),
       weight=odd_values(st.sampled_from([(), (1,)])),
       sharded=st.booleans())
def test_one_rank_step_takes_any_input_soundly_or_names_it(grad, weight, sharded):
    """Issue 24: a step on one rank with any gradient and weight: it steps (the parameters
    finite), or raises a ValueError/TypeError naming them with nothing changed."""
    params = np.linspace(-1.0, 1.0, 5)
    wrapper = (distributed.ShardedDataParallel(numadam.Adam, params, MPI.COMM_SELF, lr=0.1,
                                               check_finite="before") if sharded
               else distributed.DataParallel(numadam.Adam(params, lr=0.1,
                                                          check_finite="before"),
                                             MPI.COMM_SELF))
    before = params.copy()
    stepped = outcome(lambda: wrapper.step(grad, weight) or True,
                      ["grad", "weight", "non-finite", "NaN"], grad, weight)
    if stepped is None:
        assert params.tobytes() == before.tobytes()
        assert wrapper.optimizer.step_count == 0
    else:
        assert np.isfinite(params).all()
    wrapper.step(np.ones(5))  # a refused step leaves the wrapper usable
    if sharded:
        wrapper.close()


#: (class name, hyperparameters besides lr): state layouts that differ (an empty unused
#: vector, a vector used by a hyperparameter, a scalar carry, a mode).
STATE_CASES = [("Adam", {}), ("Adam", {"amsgrad": True}), ("SGD", {"momentum": 0.9}),
               ("SGD", {}), ("NAdam", {}), ("ScheduleFreeAdamW", {})]


def assert_same_state(expected, actual):
    """Two state dicts of the same format (keys, types, dtypes, shapes), bitwise equal."""
    assert actual.keys() == expected.keys()
    for key in expected.keys() - {"state"}:
        assert actual[key] == expected[key] and type(actual[key]) is type(expected[key]), key
    assert actual["state"].keys() == expected["state"].keys()
    for name, vector in expected["state"].items():
        got = actual["state"][name]
        assert got.dtype == vector.dtype and got.shape == vector.shape, name
        assert got.tobytes() == vector.tobytes(), name


@requires_mpi4py
@pytest.mark.parametrize("name, extra", STATE_CASES)
def test_sharded_state_dict_on_one_rank_moves_to_and_from_the_plain_optimizer(name, extra, rng):
    """On a communicator of one rank: the sharded state_dict after k steps is the plain
    optimizer's, bitwise; a plain optimizer loading it, and a new wrapper loading the plain
    one's, both continue as the plain run."""
    cls = getattr(numadam, name)
    x0 = rng.standard_normal(33)
    plain_params, sharded_params = x0.copy(), x0.copy()
    plain = cls(plain_params, lr=1e-2, **extra)
    zero = distributed.ShardedDataParallel(cls, sharded_params, MPI.COMM_SELF, lr=1e-2, **extra)
    for _ in range(6):
        plain.step(np.sin(3 * plain_params) + plain_params)
        zero.step(np.sin(3 * sharded_params) + sharded_params)
    saved = zero.state_dict()
    assert saved["step"] == 6
    assert_same_state(plain.state_dict(), saved)
    resumed = cls(sharded_params.copy(), lr=1e-2, **extra)
    resumed.load_state_dict(saved)
    again_params = plain_params.copy()
    again = distributed.ShardedDataParallel(cls, again_params, MPI.COMM_SELF, lr=1e-2, **extra)
    again.load_state_dict(plain.state_dict())
    for _ in range(5):
        for opt in (plain, resumed):
            opt.step(np.sin(3 * opt.param) + opt.param)
        again.step(np.sin(3 * again_params) + again_params)
    assert not np.array_equal(plain_params, x0)
    assert plain_params.tobytes() == resumed.param.tobytes() == again_params.tobytes()
    assert_same_state(plain.state_dict(), again.state_dict())


def _with(state, vectors=None, **entries):
    return {**state, **entries, "state": {**state["state"], **(vectors or {})}}


#: (a flaw put into a loadable Adam state dict over 11 parameters, the error, its message)
BAD_STATE_DICTS = [
    (lambda s: _with(s, {"exp_avg": np.zeros(12)}), ValueError,
     r"'exp_avg' has shape \(12,\), the optimizer's has \(11,\)"),
    (lambda s: _with(s, {"exp_avg": np.zeros((11, 1))}), ValueError, r"shape \(11, 1\)"),
    (lambda s: _with(s, {"max_exp_avg_sq": np.zeros(11)}), ValueError,
     r"'max_exp_avg_sq' has shape \(11,\), the optimizer's has \(0,\)"),
    (lambda s: _with(s, {"exp_avg": s["state"]["exp_avg"].astype(np.float32)}), TypeError,
     "dtype float64"),
    (lambda s: _with(s, {"exp_avg": list(s["state"]["exp_avg"])}), TypeError, "must be an array"),
    (lambda s: _with(s, {"exp_avg_sq": np.full(11, np.inf)}), ValueError, "NaN or inf"),
    (lambda s: _with(s, hyperparameters={**s["hyperparameters"], "amsgrad": True}), ValueError,
     "fixed at creation"),
    (lambda s: _with(s, hyperparameters={**s["hyperparameters"], "lr": np.nan}), ValueError,
     "learning rate"),
    (lambda s: _with(s, step=-1), ValueError, "step"),
    (lambda s: {**s, "extra": 1}, ValueError, "keys"),
    (lambda s: _with(s, {"z": np.zeros(11)}), ValueError, "exactly the vectors"),
    (lambda s: None, ValueError, "keys"),
]


@requires_mpi4py
@pytest.mark.parametrize("bad, error, match", BAD_STATE_DICTS)
def test_sharded_load_state_dict_refuses_bad_input_and_changes_nothing(bad, error, match):
    params = np.linspace(-1.0, 1.0, 11)
    zero = distributed.ShardedDataParallel(numadam.Adam, params, MPI.COMM_SELF, lr=0.1)
    for _ in range(3):
        zero.step(params - 0.5)
    before = zero.state_dict()
    # differs from the current state everywhere but for its flaw: a partial load would show
    flawless = _with(before, {name: v * 0.5 + 0.25 for name, v in before["state"].items()},
                     step=7)
    with pytest.raises(error, match=match):
        zero.load_state_dict(bad(flawless))
    assert_same_state(before, zero.state_dict())
    zero.load_state_dict(flawless)  # the dict without its flaw loads
    assert_same_state(flawless, zero.state_dict())


@requires_mpi4py
@pytest.mark.parametrize("name, extra", STATE_CASES)
def test_data_parallel_state_dict_on_one_rank_resumes(name, extra, rng):
    """On a communicator of one rank: a new DataParallel over the parameters reached after k
    steps, loading the DataParallel's state_dict (or a ShardedDataParallel's, or a plain
    optimizer's, after the same steps), goes on m steps bitwise as the uninterrupted run."""
    cls = getattr(numadam, name)
    x0 = rng.standard_normal(33)
    run, sliced, alone = x0.copy(), x0.copy(), x0.copy()
    uninterrupted = distributed.DataParallel(cls(run, lr=1e-2, **extra), MPI.COMM_SELF)
    zero = distributed.ShardedDataParallel(cls, sliced, MPI.COMM_SELF, lr=1e-2, **extra)
    plain = cls(alone, lr=1e-2, **extra)
    for _ in range(6):
        for opt in (uninterrupted, zero, plain):
            opt.step(np.sin(3 * opt.param) + opt.param)
    saved = [uninterrupted.state_dict(), zero.state_dict(), plain.state_dict()]
    reached = run.copy()
    for _ in range(5):
        uninterrupted.step(np.sin(3 * run) + run)
    assert not np.array_equal(run, reached)
    for state_dict in saved:
        resumed = reached.copy()
        fresh = distributed.DataParallel(cls(resumed, lr=1e-2, **extra), MPI.COMM_SELF)
        fresh.step(np.ones(33))  # its own state, replaced entirely by the load
        resumed[:] = reached
        fresh.load_state_dict(state_dict)
        assert_same_state(saved[0], fresh.state_dict())
        for _ in range(5):
            fresh.step(np.sin(3 * resumed) + resumed)
        assert resumed.tobytes() == run.tobytes()
        assert_same_state(uninterrupted.state_dict(), fresh.state_dict())


@requires_mpi4py
@pytest.mark.parametrize("bad, error, match", BAD_STATE_DICTS)
def test_data_parallel_load_state_dict_refuses_bad_input_and_changes_nothing(bad, error, match):
    params = np.linspace(-1.0, 1.0, 11)
    opt = distributed.DataParallel(numadam.Adam(params, lr=0.1), MPI.COMM_SELF)
    for _ in range(3):
        opt.step(params - 0.5)
    before, kept = opt.state_dict(), params.copy()
    flawless = _with(before, {name: v * 0.5 + 0.25 for name, v in before["state"].items()},
                     step=7)
    with pytest.raises(error, match=match):
        opt.load_state_dict(bad(flawless))
    assert_same_state(before, opt.state_dict())
    assert params.tobytes() == kept.tobytes()
    opt.load_state_dict(flawless)  # the dict without its flaw loads
    assert_same_state(flawless, opt.state_dict())


def test_raise_together_gives_every_rank_the_first_failures_kind():
    """What each of three ranks raises, given every rank's outcome: the first failing rank's
    kind of error everywhere; a rank raises its own error only when it is of that kind."""
    comm = types.SimpleNamespace(size=3)
    own = {1: ValueError("bad x0"), 2: ZeroDivisionError("division")}
    outcomes = [(_mpi.error_kind(own.get(rank)), _mpi.describe(own.get(rank)))
                for rank in range(3)]
    assert outcomes[0] == (None, None) and outcomes[2][0] == "RuntimeError"
    with pytest.raises(ValueError, match="^solve failed on rank 1 of 3: ValueError: bad x0$"):
        _mpi.raise_together(comm, None, outcomes, "solve")
    with pytest.raises(ValueError) as raised:
        _mpi.raise_together(comm, own[1], outcomes, "solve")
    assert raised.value is own[1]
    with pytest.raises(ValueError, match="failed on rank 1 of 3") as raised:
        _mpi.raise_together(comm, own[2], outcomes, "solve")
    assert raised.value.__cause__ is own[2]
    # not an input error: a RuntimeError everywhere, the failing rank's own as its cause
    outcomes = [outcomes[0], outcomes[2], outcomes[0]]
    for failure in (None, own[2]):
        with pytest.raises(RuntimeError, match="rank 1 of 3: ZeroDivisionError: division") as \
                raised:
            _mpi.raise_together(comm, failure, outcomes, "solve")
        assert raised.value.__cause__ is failure
    assert _mpi.raise_together(comm, None, [(None, None)] * 3, "solve") is None


@requires_mpi4py
def test_minimize_batch_on_one_rank_raises_input_errors_as_they_are():
    """comm=COMM_SELF: an objective's ValueError comes out as it was raised, anything else as a
    RuntimeError naming rank 0 (the kinds every rank of a larger communicator raises)."""
    def fails(error):
        def fun(X):
            raise error
        return fun

    refused = ValueError("objective refused its input")
    with pytest.raises(ValueError) as raised:
        numadam.minimize_batch(fails(refused), np.ones((3, 2)), jac=lambda X: X,
                               comm=MPI.COMM_SELF)
    assert raised.value is refused
    broken = ZeroDivisionError("objective divided by zero")
    expected = "minimize_batch failed on rank 0 of 1: ZeroDivisionError: objective divided"
    with pytest.raises(RuntimeError, match=expected) as raised:
        numadam.minimize_batch(fails(broken), np.ones((3, 2)), jac=lambda X: X,
                               comm=MPI.COMM_SELF)
    assert raised.value.__cause__ is broken


@requires_mpi4py
def test_minimize_batch_on_one_rank_equals_no_comm(rng):
    X0 = rng.standard_normal((5, 2))
    kwargs = dict(jac=lambda X: 2 * X, options={"lr": np.linspace(0.01, 0.1, 5), "gtol": 1e-6})
    alone = numadam.minimize_batch(lambda X: np.sum(X**2, axis=1), X0, **kwargs)
    spread = numadam.minimize_batch(lambda X: np.sum(X**2, axis=1), X0, comm=MPI.COMM_SELF,
                                    **kwargs)
    for key in ("x", "fun", "nit", "status"):
        assert np.array_equal(alone[key], spread[key])


def test_launched_ranks_reads_the_launcher_environment(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.launched_ranks() == 1
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distributed.launched_ranks() == 4
    monkeypatch.setenv("PMI_SIZE", "3")
    assert distributed.launched_ranks() == 3


@requires_mpi4py
@requires_mnist
def test_mnist_sharded_on_one_process_prints_the_plain_figures(capsys):
    """``--sharded`` without mpiexec trains on a communicator of one rank: the same numbers."""
    from numadam.__main__ import main as cli

    outputs = []
    for extra in ([], ["--sharded"]):
        status = cli(["mnist", "--epochs", "1", "--train-subset", "2000", "--data-dir",
                      str(MNIST_DIR), *extra])
        assert status == 0
        outputs.append(capsys.readouterr().out.splitlines())
    assert outputs[1][0].endswith(", 1 rank (sharded state)")
    strip_times = re.compile(r"\s+\([\d.]+ s\)")
    assert ([strip_times.sub("", line) for line in outputs[1][1:]]
            == [strip_times.sub("", line) for line in outputs[0][1:]])
