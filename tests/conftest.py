"""Shared fixtures and helpers for numadam's tests (each pytest-xdist worker's Numba cache
folder is set in the root conftest.py, before the doctest collection imports numadam)."""

import subprocess
import sys

import numpy as np
import pytest


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
