"""Each rule's plain-Python per-step scalar function, compiled by Numba for compiled loops."""

from __future__ import annotations

import functools

from numba import njit


@functools.cache
def jitted_step_scalars(rule):
    """``rule.step_scalars`` as a Numba dispatcher (the same source the optimizers run)."""
    return njit(error_model="numpy")(rule.step_scalars)
