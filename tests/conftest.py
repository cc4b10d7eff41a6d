"""Shared fixtures and helpers for numadam's tests."""

import os
import shutil
import subprocess
import sys
import tempfile

# The suite runs in two pytest-xdist workers (pyproject.toml: -n 2 --dist loadfile). Each worker
# keeps Numba's disk cache in a folder of its own, set before Numba is first imported: two
# processes writing the same function's cache index at once can lose each other's entries
# (Numba reads, extends and rewrites it), which the tests that count a fresh process's cache
# hits would see. The processes a worker starts (fresh processes, MPI ranks) share its folder.
if os.environ.get("PYTEST_XDIST_WORKER") and "NUMBA_CACHE_DIR" not in os.environ:
    WORKER_CACHE = tempfile.mkdtemp(prefix=f"numadam-numba-{os.environ['PYTEST_XDIST_WORKER']}-")
    os.environ["NUMBA_CACHE_DIR"] = WORKER_CACHE
else:
    WORKER_CACHE = None

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_sessionfinish(session):
    if WORKER_CACHE is not None:
        shutil.rmtree(WORKER_CACHE, ignore_errors=True)


@pytest.fixture
def rng():
    """A fresh, seeded generator: all test randomness goes through it."""
    return np.random.default_rng(20261124)


@pytest.fixture
def run_twice(tmp_path):
    """``run_twice(source, env=None, times=2)``: the words the script ``source`` prints in each
    of two (``times``) new Python processes, one after the other (run from a file: Numba caches
    only functions that live in one), with the environment ``env`` (the current one by
    default)."""

    def run(source, env=None, times=2):
        script = tmp_path / "fresh.py"
        script.write_text(source)
        return [subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                               check=True, env=env).stdout.split() for _ in range(times)]

    return run
