"""numadam.distributed: checks on one rank here, and the multi-rank checks of
tests/mpi_checks.py run under ``mpiexec -n 2`` (skipped without mpi4py and mpiexec)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numadam
from numadam import distributed
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


def run_ranks(*argv, ranks=2, timeout=300):
    """``mpiexec -n ranks python argv...`` from the repository root, one Numba and one BLAS
    thread per rank (the ranks share the machine's cores)."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, *argv], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------------------------
# Several ranks
# ------------------------------------------------------------------------------------------------

CHECKS = ["identity", "one_process", "sharded", "nonfinite", "batch", "batch_failure",
          "mismatch", "shared_memory_lifetime", "switch_waits", "agreement"]


@requires_mpiexec
@pytest.mark.parametrize("check", CHECKS)
def test_on_two_ranks(check):
    """Each check of tests/mpi_checks.py (its docstring says what) passes on every rank."""
    done = run_ranks("tests/mpi_checks.py", check)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"PASS {check} on 2 ranks" in done.stdout


@requires_mpiexec
def test_a_failing_rank_ends_every_rank_with_its_error():
    """Rank 1 raises while rank 0 waits in the Allreduce: abort_on_error ends both (no hang:
    the timeout would fail the test) and the traceback names the rank and the error."""
    done = run_ranks("tests/mpi_checks.py", "abort", timeout=120)
    assert done.returncode != 0
    assert "[rank 1] RuntimeError: user code failed on the last rank" in done.stderr
    assert "PASS" not in done.stdout


@requires_mpiexec
def test_an_uncaught_exception_on_one_rank_ends_every_rank():
    """No abort_on_error this time: the excepthook that DataParallel installed ends the run."""
    done = run_ranks("tests/mpi_checks.py", "uncaught", timeout=120)
    assert done.returncode != 0
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
