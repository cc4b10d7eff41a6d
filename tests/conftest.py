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


# The order in which the xdist workers take the test files is pytest-xdist's (loadfile hands
# out the files with the most tests first: measured, the two workers end within 10 s of each
# other; handing out the files that compile longest first instead, with
# --no-loadscope-reorder, was no faster).
