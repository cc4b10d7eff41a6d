"""What the optimizers hand the CUDA kernels: never ``None`` (numba-cuda's launch refuses to pack
it), and the kernel specialized for the state vectors that exist.

Run under Numba's CUDA simulator unless ``NUMBA_ENABLE_CUDASIM`` is set already (see
tests/test_cuda.py, which selects it the same way); the simulator runs the kernels as Python, so
whether they compile for a GPU is tests/test_cuda_ptx.py's question.
"""

import os
import sys

if "numba.cuda" not in sys.modules:  # the simulator is chosen when numba.cuda is first imported
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    from numba.core import config

    config.reload_config()

import numpy as np
import pytest

import numadam
import numadam.cuda as nc
from tests.rule_table import ELEMENTWISE_ROWS, all_cases

pytestmark = pytest.mark.skipif(
    not nc.is_available(), reason="numba.cuda is neither simulated nor backed by a GPU here")

N = 5


@pytest.fixture
def launches(monkeypatch):
    """Every ``(kernel, arguments, states)`` the optimizers launch from now on, ``states`` being
    the three state slots the optimizer passed (``None`` for an absent one)."""
    seen = []
    real = nc._launch_arguments

    def recording(element, param, grad, states, c, s, skipped, checked):
        kernel, arguments = real(element, param, grad, states, c, s, skipped, checked)
        seen.append((element, kernel, arguments, states))
        return kernel, arguments

    monkeypatch.setattr(nc, "_launch_arguments", recording)
    if nc._simulated():  # small grids: the simulator runs a thread per element
        monkeypatch.setattr(nc, "THREADS_PER_BLOCK", 4)
        monkeypatch.setattr(nc, "BLOCKS_PER_MULTIPROCESSOR", 1)
    return seen


def _check(launches, expected):
    assert len(launches) == expected
    for element, kernel, arguments, states in launches:
        assert not any(argument is None for argument in arguments), arguments
        present = tuple(vector is not None for vector in states)
        assert kernel is nc._kernel_for(element, present)
        # an absent slot gets the parameter vector, which the kernel never touches
        for vector, argument in zip(states, arguments[2:5]):
            assert argument is (arguments[0] if vector is None else vector)


@pytest.mark.parametrize("row, options", all_cases(ELEMENTWISE_ROWS))
def test_no_none_reaches_a_kernel(row, options, launches):
    """One step of each option combination of each rule (both dtypes): the kernel's arguments
    are arrays and scalars only, and its specialization matches the state vectors passed."""
    for dtype in (np.float32, np.float64):
        opt = row.cls(nc.to_device(np.ones(N, dtype)), **options)
        opt.step(nc.to_device(np.full(N, 0.5, dtype)))
    _check(launches, 2)


def test_mode_switches_get_no_none(launches):
    """Schedule-free's train/eval passes, whose third state slot is always absent."""
    opt = numadam.ScheduleFreeAdamW(nc.to_device(np.ones(N)))
    opt.eval()
    opt.train()
    _check(launches, 2)
    assert [arguments[4] is arguments[0] for _, _, arguments, _ in launches] == [True, True]
