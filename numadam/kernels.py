"""The CPU target: every rule's element function compiled into fused, in-place Numba loops.

For each rule (see :mod:`numadam.rules`) :func:`for_rule` builds four loops from the rule's one
element function, inlined at Numba's IR level:

* ``serial`` / ``parallel``: one pass over the vector, on one thread / with ``prange``, which
  hands each thread one contiguous chunk (elementwise updates are race-free);
* ``serial_checked`` / ``parallel_checked``: the same pass, which also skips every element whose
  gradient is NaN or infinite (its parameter and state are left as they were) and returns how many
  it skipped. The test costs nothing measurable: the loop is memory-bound and still vectorizes,
  so a finiteness check fused this way is free where a separate pre-pass costs one more read of
  the gradient.

Every loop takes ``(param, grad, state0, state1, state2, c, s)``: 1-D C-contiguous arrays of one
dtype, three state vectors (``None`` for an unused one; separate arguments, as a tuple of arrays
unpacked outside a ``prange`` loop loses the loop's writes to them in Numba 0.68), ``c`` and ``s``
the rule's constants and per-step scalars: values of the array dtype, passed as Python floats
and converted in the loop (see :func:`_in_dtype_of`). Kernels allocate nothing
and validate nothing: that is the front ends' job. The arrays of one call must not overlap.
``fastmath`` stays off so that LLVM can neither reassociate nor contract into FMAs: results are
bitwise those of ``numadam._reference``.

The loops are made by a factory, yet cached on disk: the only thing they close over is the rule's
element, a plain module-level function, which Numba's cache key pickles by reference.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from numba import njit, prange, types
from numba.extending import intrinsic

from numadam._cache import keyed_by_sources

# error_model="numpy": a division by zero yields inf/nan as in NumPy instead of raising
# ZeroDivisionError. With Python's error model, the per-element zero test blocks SIMD
# vectorization and costs about 5x in speed.
_JIT_OPTIONS = dict(cache=True, error_model="numpy")

#: Vectors of at least this many elements are updated by the parallel loops. Measured by
#: ``python benchmarks/bench_kernels.py --threshold`` on the project's 2-core machine, where the
#: cost of waking the thread pool (a few microseconds) is repaid from about this size on.
PARALLEL_THRESHOLD = 32_768


@intrinsic
def _in_dtype_of(typingctx, values, array):
    """``values`` (a tuple) with every float converted to ``array``'s dtype (round to nearest,
    as ``np.float32(x)``); other members (flags) unchanged.

    The host passes float32 scalars as Python floats holding float32 values: Numba's dispatcher
    unboxes a Python float several times faster than an ``np.float32``, which is half the call
    overhead of a small float32 step. For float64 arrays this is the identity.
    """
    members = [array.dtype if isinstance(t, types.Float) else t for t in values]
    result = types.Tuple(members) if members else values

    def codegen(context, builder, signature, args):
        tuple_in = args[0]
        out = context.get_value_type(result)(None)  # undef, filled member by member
        for index, (source, target) in enumerate(zip(values, members)):
            member = builder.extract_value(tuple_in, index)
            member = context.cast(builder, member, source, target)
            out = builder.insert_value(out, member, index)
        return out if members else tuple_in

    return result(values, array), codegen


class Loops(NamedTuple):
    """The four compiled loops of one rule."""

    serial: object
    parallel: object
    serial_checked: object
    parallel_checked: object

    def choose(self, n, checked):
        """The loop for a vector of ``n`` elements, fused with the finiteness check or not."""
        if n >= PARALLEL_THRESHOLD:
            return self.parallel_checked if checked else self.parallel
        return self.serial_checked if checked else self.serial


@functools.cache
def for_rule(element) -> Loops:
    """The CPU loops of the rule whose element function is ``element`` (compiled lazily)."""

    def serial(param, grad, state0, state1, state2, c, s):
        c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
        for i in range(param.shape[0]):
            element(i, grad[i], param, state0, state1, state2, c, s)

    def parallel(param, grad, state0, state1, state2, c, s):
        c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
        for i in prange(param.shape[0]):
            element(i, grad[i], param, state0, state1, state2, c, s)

    def serial_checked(param, grad, state0, state1, state2, c, s):
        c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
        skipped = 0
        for i in range(param.shape[0]):
            g = grad[i]
            if g - g == 0:  # finite: g - g is NaN for inf and NaN
                element(i, g, param, state0, state1, state2, c, s)
            else:
                skipped += 1
        return skipped

    def parallel_checked(param, grad, state0, state1, state2, c, s):
        c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
        skipped = 0
        for i in prange(param.shape[0]):
            g = grad[i]
            if g - g == 0:
                element(i, g, param, state0, state1, state2, c, s)
            else:
                skipped += 1
        return skipped

    serial, parallel, serial_checked, parallel_checked = (
        keyed_by_sources(loop) for loop in (serial, parallel, serial_checked, parallel_checked))
    return Loops(
        njit(**_JIT_OPTIONS)(serial), njit(**_JIT_OPTIONS, parallel=True)(parallel),
        njit(**_JIT_OPTIONS)(serial_checked),
        njit(**_JIT_OPTIONS, parallel=True)(parallel_checked),
    )


# ------------------------------------------------------------------------------------------------
# Finiteness of a vector, for the front ends that check before they step (minimize, and
# check_finite="before").
# ------------------------------------------------------------------------------------------------


@njit(**_JIT_OPTIONS)
def count_nonfinite(grad):
    """Number of NaN or infinite entries of ``grad``, on one thread."""
    bad = 0
    for i in range(grad.shape[0]):
        bad += (grad[i] - grad[i]) != 0  # integers keep the reduction free to vectorize
    return bad


@njit(**_JIT_OPTIONS, parallel=True)
def count_nonfinite_parallel(grad):
    """:func:`count_nonfinite` on all threads."""
    bad = 0
    for i in prange(grad.shape[0]):
        bad += (grad[i] - grad[i]) != 0
    return bad
