"""Odd inputs for the property-based tests of the public entry points (issue 24), and the one
rule they check: a call either returns a sound result or raises a ValueError or TypeError that
names the parameter, and never changes its input.

The tests live beside the entry point's other tests (tests/test_minimize.py, test_batch.py,
test_optimizers.py), so that what they compile (a loop, a kernel) is shared with those: they
use plain Python objectives, few examples and no deadline, derandomized so that every run
tries the same inputs.
"""

from __future__ import annotations

import copy
import math

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: The settings of every property-based test: cheap, reproducible, no database in the tree.
CHEAP = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])

#: Values: ordinary ones, NaN, the infinities, huge and tiny ones, signed zeros.
VALUES = st.one_of(st.floats(-10.0, 10.0),
                   st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e-320, 0.0,
                                    -0.0, 3.0e38, 7e4]))

#: Every kind of dtype a user may hand over, the odd ones included.
DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.bool_,
                          np.complex128, object, "U2"])


@st.composite
def odd_arrays(draw, shapes):
    """An array of any dtype of :data:`DTYPES` with a shape from ``shapes``."""
    shape = draw(shapes)
    values = draw(hnp.arrays(np.float64, shape, elements=VALUES))
    dtype = draw(DTYPES)
    if dtype == "U2":
        return np.full(shape, "ab")
    with np.errstate(all="ignore"):  # NaN to int, huge to float16: whatever NumPy makes of it
        return values.astype(dtype)


def odd_values(shapes):
    """Arrays of :func:`odd_arrays`, and the same values as lists, tuples, scalars; ``None``
    and text."""
    arrays = odd_arrays(shapes)
    return st.one_of(arrays, arrays.map(lambda array: array.tolist()),
                     arrays.map(lambda array: tuple(np.atleast_1d(array).tolist())),
                     VALUES, st.none(), st.text(max_size=3))


def snapshot(value):
    """What must not change: a deep copy (arrays compared by bytes, shape and dtype)."""
    return copy.deepcopy(value)


def unchanged(before, after):
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.dtype == after.dtype
                and before.shape == after.shape and before.tobytes() == after.tobytes())
    if isinstance(before, (list, tuple)):
        return (type(before) is type(after) and len(before) == len(after)
                and all(unchanged(a, b) for a, b in zip(before, after)))
    if isinstance(before, float) and math.isnan(before):
        return isinstance(after, float) and math.isnan(after)
    if isinstance(before, dict):
        return before.keys() == after.keys() and all(unchanged(before[k], after[k])
                                                      for k in before)
    return before == after


def outcome(call, names, *inputs):
    """``call()``'s result, or ``None`` where it raised a ValueError or TypeError whose message
    names one of ``names``; anything else fails the test (another error, a message naming
    nothing the user passed), as does any change to ``inputs``."""
    before = [snapshot(value) for value in inputs]
    try:
        result = call()
    except (ValueError, TypeError) as error:
        text = str(error)
        assert any(name in text for name in names), (
            f"{type(error).__name__} names none of {names}: {text}")
        result = None
    for old, new in zip(before, inputs):
        assert unchanged(old, new), f"the input changed: {old!r} -> {new!r}"
    return result


def assert_sound(result):
    """A result that claims success holds finite numbers; whatever it holds, ``fun`` is never
    NaN with a success."""
    success = np.atleast_1d(result.success)
    fun = np.atleast_1d(result.fun)
    x = np.asarray(result.x).reshape(success.size, -1)
    assert np.isfinite(x).all(), x  # a returned point is always a finite one
    assert np.isfinite(fun[success]).all(), (fun, success)
