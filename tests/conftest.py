"""Shared fixtures and helpers for numadam's tests."""

import os
import subprocess
import sys

# The suite runs in two pytest-xdist workers (pyproject.toml: -n 2 --dist loadfile) that share
# one Numba disk cache, set before Numba is first imported: what one worker compiled (a rule's
# kernels, its minimize loops), the other loads. Numba's saves into a cache are not safe when
# two processes save entries of one function at once; tests/numba_cache_lock.py makes them so.
# The processes a worker starts (fresh processes, MPI ranks) use the same folder. It stays
# between runs (under .pytest_cache, which git ignores), so that a local run compiles only
# what changed since the last; a fresh clone, as CI's, starts cold.
if os.environ.get("PYTEST_XDIST_WORKER") and "NUMBA_CACHE_DIR" not in os.environ:
    SHARED_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                ".pytest_cache", "numba")
    os.makedirs(SHARED_CACHE, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = SHARED_CACHE

from tests.numba_cache_lock import install as _lock_numba_cache_saves  # noqa: E402

_lock_numba_cache_saves()

import numpy as np  # noqa: E402
import pytest  # noqa: E402


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


#: The test files that compile the most, longest first (worker-seconds from a cold cache): they
#: are handed to the xdist workers first, so that the cheap files fill in at the end instead of
#: one worker waiting for the other's long file.
LONGEST_FIRST = ("test_minimize.py", "test_batch.py", "test_kernels.py", "test_distributed.py",
                 "test_gallery.py", "test_groups.py", "test_cuda.py", "test_cuda_ptx.py")


def pytest_collection_modifyitems(items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file
