"""The CPU target: every rule's element function compiled into fused, in-place Numba loops.

For each rule (see :mod:`numadam.rules`) :func:`for_rule` builds four loops from the rule's one
element function, inlined at Numba's IR level:

* ``serial`` / ``parallel``: one pass over the vector, on one thread / with ``prange``, which
  hands each thread one contiguous chunk (elementwise updates are race-free);
* ``serial_checked`` / ``parallel_checked``: the same pass, which also skips every element whose
  gradient is NaN or infinite (its parameter and state are left as they were) and returns how many
  it skipped. They test the gradient a block of :data:`CHECK_BLOCK` elements at a time, then
  update the block's runs of finite entries (the whole block, usually) with the plain loop: the
  second read of the block comes from cache, and the plain loop vectorizes. A test-and-skip per
  element, fused into the update, left the loop scalar on an AVX2 machine (2-3x the plain step).

Every loop takes ``(param, grad, state0, state1, state2, c, s)``: 1-D C-contiguous arrays of one
dtype, three state vectors (``None`` for an unused one; separate arguments, as a tuple of arrays
unpacked outside a ``prange`` loop loses the loop's writes to them in Numba 0.68), ``c`` and ``s``
the rule's constants and per-step scalars: values of the array dtype, passed as Python floats
and converted in the loop (see :func:`_in_dtype_of`). Kernels allocate nothing
and validate nothing: that is the front ends' job. The arrays of one call must not overlap.
``fastmath`` stays off so that LLVM can neither reassociate nor contract into FMAs: results are
bitwise those of ``numadam._reference``.

Each rule's loops are the module-level templates below, each a copy with globals of its own that
name the rule's element (:func:`numadam.rules.inlined_on_cpu`), and a name of its own under
which Numba's disk cache files it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from numadam._cache import keyed_by_sources, template_copy
from numadam.rules import element_name, inlined_on_cpu

# from the module that defines them: a constant's module is in the key of the loops that
# freeze it (numadam._cache), and the package's __init__ is in no loop's key
from numadam.rules._rule import REDUCTION_BLOCK, REDUCTION_LANES

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


#: The checked loops test the gradient one block of this many elements at a time (a few
#: pages: still in L1/L2 cache when the update reads it again). A block without a non-finite
#: entry, the usual case, is then updated by the plain loop, which LLVM vectorizes.
CHECK_BLOCK = 2048


@njit(inline="always")
def _finite_from(grad, start, stop):
    """The first index from ``start`` on (``stop`` if none) whose gradient is finite."""
    while start < stop and not grad[start] - grad[start] == 0:
        start += 1
    return start


@njit(inline="always")
def _nonfinite_from(grad, start, stop):
    """The first index from ``start`` on (``stop`` if none) whose gradient is not finite."""
    while start < stop and grad[start] - grad[start] == 0:
        start += 1
    return start


class Loops(NamedTuple):
    """The four compiled loops of one rule."""

    serial: object
    parallel: object
    serial_checked: object
    parallel_checked: object

    def choose(self, n, checked, threads=True):
        """The loop for a vector of ``n`` elements, fused with the finiteness check or not; a
        threaded one from :data:`PARALLEL_THRESHOLD` elements on, unless ``threads`` is False."""
        if threads and n >= PARALLEL_THRESHOLD:
            return self.parallel_checked if checked else self.parallel
        return self.serial_checked if checked else self.serial


#: The rule's element function as each loop below calls it, set per rule in the loop's own
#: globals (see :func:`for_rule`).
_ELEMENT = None


def _serial(param, grad, state0, state1, state2, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    for i in range(param.shape[0]):
        _ELEMENT(i, grad[i], param, state0, state1, state2, c, s)


def _parallel(param, grad, state0, state1, state2, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    for i in prange(param.shape[0]):
        _ELEMENT(i, grad[i], param, state0, state1, state2, c, s)


def _serial_checked(param, grad, state0, state1, state2, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    n = param.shape[0]
    skipped = 0
    for k in range((n + CHECK_BLOCK - 1) // CHECK_BLOCK):
        start, stop = k * CHECK_BLOCK, min(n, (k + 1) * CHECK_BLOCK)
        bad = count_nonfinite(grad[start:stop])
        # the block's runs of finite entries (the whole block, usually), each updated as arrays
        # of its own: indices from 0 let LLVM drop Numba's negative-index wraparound, which
        # would keep the loop from vectorizing. (One copy of the element: two would trip
        # Numba's inliner on the elements that rebind a variable.)
        low = start if bad == 0 else _finite_from(grad, start, stop)
        while low < stop:
            high = stop if bad == 0 else _nonfinite_from(grad, low, stop)
            p, g = param[low:high], grad[low:high]
            p0, p1 = part(state0, low, high), part(state1, low, high)
            p2 = part(state2, low, high)
            for i in range(p.shape[0]):
                _ELEMENT(i, g[i], p, p0, p1, p2, c, s)
            low = stop if bad == 0 else _finite_from(grad, high, stop)
        skipped += bad
    return skipped


def _parallel_checked(param, grad, state0, state1, state2, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    n = param.shape[0]
    skipped = 0
    for k in prange((n + CHECK_BLOCK - 1) // CHECK_BLOCK):
        start, stop = k * CHECK_BLOCK, min(n, (k + 1) * CHECK_BLOCK)
        bad = count_nonfinite(grad[start:stop])
        # the block's runs of finite entries, as in _serial_checked
        low = start if bad == 0 else _finite_from(grad, start, stop)
        while low < stop:
            high = stop if bad == 0 else _nonfinite_from(grad, low, stop)
            p, g = param[low:high], grad[low:high]
            p0, p1 = part(state0, low, high), part(state1, low, high)
            p2 = part(state2, low, high)
            for i in range(p.shape[0]):
                _ELEMENT(i, g[i], p, p0, p1, p2, c, s)
            low = stop if bad == 0 else _finite_from(grad, high, stop)
        skipped += bad
    return skipped


def _bound(template, parallel, name, **names):
    """``template`` compiled as its :func:`~numadam._cache.template_copy` named
    ``<template>_<name>`` (plus a digest of the code it inlines), ``names`` in its globals."""
    function = template_copy(template, f"{template.__name__}_{name}", **names)
    return njit(**_JIT_OPTIONS, parallel=parallel)(keyed_by_sources(function))


@functools.cache
def for_rule(element) -> Loops:
    """The CPU loops of the rule whose element function is ``element`` (compiled lazily)."""
    inlined = inlined_on_cpu(element)
    return Loops(*(_bound(template, parallel, element_name(element), _ELEMENT=inlined)
                   for template, parallel in ((_serial, False), (_parallel, True),
                                              (_serial_checked, False),
                                              (_parallel_checked, True))))


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


# ------------------------------------------------------------------------------------------------
# Parameter groups: one pass over the vector with a table of segments.
# ------------------------------------------------------------------------------------------------

def _element_pointer(context, builder, array_type, array_value, offset_type, offset, index):
    """A pointer to ``array[offset + index]`` of a 1-D C-contiguous array (no bounds check)."""
    array = context.make_array(array_type)(context, builder, array_value)
    at = builder.add(context.cast(builder, offset, offset_type, types.intp),
                     context.get_constant(types.intp, index))
    return builder.gep(array.data, [at])


@intrinsic
def _row_like(typingctx, row, offset, like, array):
    """``(row[offset], row[offset + 1], ...)``, one member per member of the tuple ``like``,
    each converted to its type (a float to ``array``'s dtype, a flag to a bool: ``x != 0``).

    ``row`` is a float64 row of a group table (:func:`grouped_for_rule`), C-contiguous; only
    ``like``'s type counts, not its value.
    """
    members = [array.dtype if isinstance(t, types.Float) else t for t in like]
    result = types.Tuple(members) if members else like

    def codegen(context, builder, signature, args):
        out = context.get_value_type(result)(None)  # undef, filled member by member
        for index, target in enumerate(members):
            pointer = _element_pointer(context, builder, row, args[0], offset, args[1], index)
            value = context.cast(builder, builder.load(pointer), types.float64, target)
            out = builder.insert_value(out, value, index)
        return out

    return result(row, offset, like, array), codegen


@intrinsic
def _store_row(typingctx, row, offset, values):
    """``row[offset + j] = values[j]`` for each member of the tuple ``values`` (as float64;
    ``row`` a C-contiguous float64 row)."""

    def codegen(context, builder, signature, args):
        for index, source in enumerate(values):
            pointer = _element_pointer(context, builder, row, args[0], offset, args[1], index)
            member = builder.extract_value(args[2], index)
            builder.store(context.cast(builder, member, source, types.float64), pointer)
        return context.get_dummy_value()

    return types.none(row, offset, values), codegen


#: What the driver of :func:`grouped_for_rule` calls, set per rule in the driver's own globals
#: (see there): the rule's serial loop, its compiled ``step_scalars``, ``(constants, step
#: inputs, carry)`` of one group, as values whose types (float or flag) the table's columns are
#: read back as, and whether the driver runs on all threads.
_SHORT = _STEP_SCALARS = None
_LIKE = ((), (), ())
_THREADS = False


def _grouped(param, grad, state0, state1, state2, segments, table, scratch, step, parts):
    """The driver of :func:`grouped_for_rule`, before it is bound to a rule."""
    c_like, inputs_like, carry_like = _LIKE
    nc = len(c_like)
    ni = len(inputs_like)
    ncarry = len(carry_like)
    s_like, _ = _STEP_SCALARS(_row_like(table[0], nc, inputs_like, table),
                              _row_like(table[0], nc + ni, carry_like, table), step)
    ns = len(s_like)
    for k in range(table.shape[0]):
        s, carry = _STEP_SCALARS(_row_like(table[k], nc, inputs_like, table),
                                 _row_like(table[k], nc + ni, carry_like, table), step)
        _store_row(scratch[k], 0, s)
        _store_row(scratch[k], ns, carry)
        for j in range(ns + ncarry):
            if not scratch[k, j] - scratch[k, j] == 0:
                return -1
    for k in range(table.shape[0]):
        for j in range(ncarry):
            table[k, nc + ni + j] = scratch[k, ns + j]
    if _THREADS:  # one launch: thread t updates the t-th part of every segment
        total = 0
        for thread in prange(parts):
            share = np.int64(thread)
            for row in range(segments.shape[0]):
                first, last, member = segments[row, 0], segments[row, 1], segments[row, 2]
                low = first + (last - first) * share // parts
                high = first + (last - first) * (share + 1) // parts
                if low < high:
                    c_part = _row_like(table[member], 0, c_like, table)
                    s_part = _row_like(scratch[member], 0, s_like, table)
                    total += _count(_SHORT(param[low:high], grad[low:high],
                                           part(state0, low, high), part(state1, low, high),
                                           part(state2, low, high), c_part, s_part))
        return total
    skipped = 0
    for k in range(segments.shape[0]):
        start, stop, group = segments[k, 0], segments[k, 1], segments[k, 2]
        # floats as the host passes them to the loops (float64, converted by the loop): the
        # loop compiled for the optimizers without groups, for the same argument types
        c = _row_like(table[group], 0, c_like, table)
        s = _row_like(scratch[group], 0, s_like, table)
        skipped += _count(_SHORT(param[start:stop], grad[start:stop], part(state0, start, stop),
                                 part(state1, start, stop), part(state2, start, stop), c, s))
    return skipped


def group_like(constants, inputs, carry):
    """``like`` for :func:`grouped_for_rule` from one group's constants, step inputs and carry:
    a flag stays a flag, an integer input an integer, anything else a float."""
    return (tuple(False if isinstance(v, bool) else 0.0 for v in constants),
            tuple(0 if isinstance(v, int) and not isinstance(v, bool) else 0.0 for v in inputs),
            tuple(0.0 for _ in carry))


def like_tag(like):
    """The types of ``like`` as a name: per part, ``b`` a flag, ``i`` an integer, ``f`` a
    float (``"bff_ff_f"``). It tells apart what equal values of other types do not (``False
    == 0 == 0.0``): the drivers are cached and named by it."""
    return "_".join("".join("b" if isinstance(value, bool) else "i" if isinstance(value, int)
                            else "f" for value in part) or "0" for part in like)


def like_from_tag(tag):
    """The ``like`` of :func:`like_tag`'s name."""
    values = {"b": False, "i": 0, "f": 0.0}
    return tuple(() if part == "0" else tuple(values[kind] for kind in part)
                 for part in tag.split("_"))


def grouped_for_rule(element, step_scalars, like, checked, threads):
    """The grouped pass of a rule: each segment of the vector updated by the rule's own serial
    loop (:func:`for_rule`) with its group's constants and per-step scalars.

    A driver around the loop that the optimizers without groups use, compiled once per rule,
    flags and dtype: no second copy of the element to compile, and each segment is bitwise what
    an optimizer of its own makes of it. ``checked`` picks the loop fused with the finiteness
    check. With ``threads`` the driver runs one ``prange`` over ``parts``, thread ``t``
    updating the ``t``-th of ``parts`` equal parts of every segment (one launch of the thread pool
    however many segments, each thread the same share). ``step_scalars`` is the rule's,
    compiled; ``like`` is ``(constants, step inputs, carry)`` of one group: values whose types
    (float or flag) the table's columns are read back as. The driver is called as::

        driver(param, grad, state0, state1, state2, segments, table, scratch, step, parts)

    * ``segments``: int64 ``(k, 3)``, rows ``(start, stop, group)``, disjoint; elements outside
      every segment are not touched;
    * ``table``: float64 ``(groups, len(c) + len(inputs) + len(carry))``: each group's constants
      (values of the parameters' dtype), the inputs of its per-step scalars and its carried
      scalars (updated by the call);
    * ``scratch``: float64 ``(groups, len(s) + len(carry))``, written by the call;
    * ``step``: the step number; ``parts``: the number of threads (``numba.get_num_threads()``,
      read on the host: read in the driver, it would keep Numba from caching it).

    Each group's per-step scalars are the rule's own ``step_scalars`` (the function the
    optimizers run on the host), compiled, computed once per group and step before the pass:
    the host does no per-group work. Returns the number of skipped entries, or ``-1`` if some
    group's scalars are not finite: then nothing was changed.

    The driver is :func:`_grouped` with globals of its own that name these. Numba's disk cache
    keys a closure by the pickle of what it closes over, which for Numba functions changes
    from process to process (a new uuid each); globals are not in the key, so the driver's
    name carries the rule, the flags and the ``like`` types instead (:func:`like_tag`, which
    also keys the cache: equal values of other types compare equal).
    """
    return grouped_for_tag(element, step_scalars, like_tag(like), bool(checked), bool(threads))


@functools.cache
def grouped_for_tag(element, step_scalars, tag, checked, threads):
    """:func:`grouped_for_rule` for the ``like`` whose :func:`like_tag` is ``tag``."""
    loops = for_rule(element)
    like = like_from_tag(tag)
    name = (f"_grouped_{element_name(element)}_{'checked' if checked else 'unchecked'}_"
            f"{'threads' if threads else 'serial'}_{tag}")
    driver = template_copy(_grouped, name,
                           _SHORT=loops.serial_checked if checked else loops.serial,
                           _STEP_SCALARS=step_scalars, _LIKE=like, _THREADS=bool(threads))
    return njit(**_JIT_OPTIONS, parallel=bool(threads))(keyed_by_sources(driver))


def part(vector, start, stop):
    """``vector[start:stop]``; ``None`` for an absent state vector."""
    return vector[start:stop]


def _count(skipped):
    """What an unchecked loop returns (``None``) as 0."""
    return skipped


@overload(part, inline="always")
def _part_overload(vector, start, stop):
    if isinstance(vector, types.NoneType):
        return lambda vector, start, stop: None
    return lambda vector, start, stop: vector[start:stop]


@overload(_count, inline="always")
def _count_overload(skipped):
    if isinstance(skipped, types.NoneType):
        return lambda skipped: 0
    return lambda skipped: skipped


# ------------------------------------------------------------------------------------------------
# Rules with a reduction stage (Prodigy, D-Adaptation, DoG, Adafactor): a pass that sums two terms
# over the vector, in a fixed blocked order, then (unless fused) the update pass.
# ------------------------------------------------------------------------------------------------

class ReductionLoops(NamedTuple):
    """The loops of a rule with a :class:`~numadam.rules._rule.Reduction`.

    ``reduce_*(param, grad, state0, state1, state2, state3, c, s)`` run the reduction's element
    and return ``(skipped, sum_a, sum_b)``; ``update_*`` (same arguments) run the rule's
    element and return the number of skipped entries. ``checked`` loops skip the elements whose
    gradient is not finite (in both passes); unchecked ones return 0 skipped.
    """

    reduce_serial: object
    reduce_parallel: object
    update_serial: object
    update_parallel: object

    def choose(self, n, threads=True):
        """``(reduce, update)`` for a vector of ``n`` elements (threaded as
        :meth:`Loops.choose`)."""
        if threads and n >= PARALLEL_THRESHOLD:
            return self.reduce_parallel, self.update_parallel
        return self.reduce_serial, self.update_serial


#: What the loops below call, set per rule in each loop's own globals (see
#: :func:`for_reduction`): the reduction's element, the rule's element, the blocks of the two
#: passes, and whether the loops skip non-finite gradient entries.
_REDUCE_ELEMENT = _UPDATE_ELEMENT = _REDUCE_BLOCK = _UPDATE_BLOCK = None
_CHECKED = False


def _reduce_block(param, grad, state0, state1, state2, state3, c, s, start, stop, lanes_a,
                  lanes_b):
    """``(skipped, sum_a, sum_b)`` of the block ``start:stop`` in the lane order of
    :data:`~numadam.rules.REDUCTION_LANES` (``lanes_a``/``lanes_b``: scratch of that length).

    Each lane adds its column of the block's rows from 0.0 (independent chains, which LLVM
    vectorizes; one chain would be a float64 add's latency per element), then the lanes are
    added in order. The indices are unsigned, so that Numba leaves out the negative-index
    wraparound that would keep the loop from vectorizing (slices from 0 would do it too, but
    an element may read the vector's length)."""
    for j in range(REDUCTION_LANES):
        lanes_a[j] = 0.0
        lanes_b[j] = 0.0
    skipped = 0
    for low in range(start, stop, REDUCTION_LANES):
        high = min(stop, low + REDUCTION_LANES)
        bad = count_nonfinite(grad[low:high]) if _CHECKED else 0
        # the row's runs of finite entries (the whole row, usually), as in _serial_checked
        first = low if bad == 0 else _finite_from(grad, low, high)
        while first < high:
            last = high if bad == 0 else _nonfinite_from(grad, first, high)
            base, lane = np.uint64(first), np.uint64(first - low)
            for j in range(np.uint64(0), np.uint64(last - first)):
                i = base + j
                a, b = _REDUCE_ELEMENT(i, grad[i], param, state0, state1, state2, state3, c, s)
                lanes_a[lane + j] += np.float64(a)
                lanes_b[lane + j] += np.float64(b)
            first = high if bad == 0 else _finite_from(grad, last, high)
        skipped += bad
    sum_a = 0.0
    sum_b = 0.0
    for j in range(REDUCTION_LANES):
        sum_a += lanes_a[j]
        sum_b += lanes_b[j]
    return skipped, sum_a, sum_b


def _reduce_serial(param, grad, state0, state1, state2, state3, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    n = param.shape[0]
    lanes_a, lanes_b = np.empty(REDUCTION_LANES), np.empty(REDUCTION_LANES)
    skipped = 0
    total_a = 0.0
    total_b = 0.0
    for k in range((n + REDUCTION_BLOCK - 1) // REDUCTION_BLOCK):
        bad, sum_a, sum_b = _REDUCE_BLOCK(param, grad, state0, state1, state2, state3, c, s,
                                          k * REDUCTION_BLOCK,
                                          min(n, (k + 1) * REDUCTION_BLOCK), lanes_a, lanes_b)
        skipped += bad
        total_a += sum_a
        total_b += sum_b
    return skipped, total_a, total_b


def _reduce_parallel(param, grad, state0, state1, state2, state3, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    n = param.shape[0]
    blocks = (n + REDUCTION_BLOCK - 1) // REDUCTION_BLOCK
    partial = np.empty((blocks, 2))
    skips = np.zeros(blocks, np.int64)
    for k in prange(blocks):
        lanes_a, lanes_b = np.empty(REDUCTION_LANES), np.empty(REDUCTION_LANES)
        bad, sum_a, sum_b = _REDUCE_BLOCK(param, grad, state0, state1, state2, state3, c, s,
                                          k * REDUCTION_BLOCK,
                                          min(n, (k + 1) * REDUCTION_BLOCK), lanes_a, lanes_b)
        partial[k, 0] = sum_a
        partial[k, 1] = sum_b
        skips[k] = bad
    total_a = 0.0
    total_b = 0.0
    skipped = 0
    for k in range(blocks):  # the blocks' sums in block order, as the serial loop adds them
        total_a += partial[k, 0]
        total_b += partial[k, 1]
        skipped += skips[k]
    return skipped, total_a, total_b


def _update_serial(param, grad, state0, state1, state2, state3, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    n = param.shape[0]
    skipped = 0
    for k in range((n + CHECK_BLOCK - 1) // CHECK_BLOCK):
        skipped += _UPDATE_BLOCK(param, grad, state0, state1, state2, state3, c, s,
                                 k * CHECK_BLOCK, min(n, (k + 1) * CHECK_BLOCK))
    return skipped


def _update_parallel(param, grad, state0, state1, state2, state3, c, s):
    c, s = _in_dtype_of(c, param), _in_dtype_of(s, param)
    n = param.shape[0]
    skipped = 0
    for k in prange((n + CHECK_BLOCK - 1) // CHECK_BLOCK):
        skipped += _UPDATE_BLOCK(param, grad, state0, state1, state2, state3, c, s,
                                 k * CHECK_BLOCK, min(n, (k + 1) * CHECK_BLOCK))
    return skipped


def _update_block(param, grad, state0, state1, state2, state3, c, s, start, stop):
    """The update of ``start:stop``, as :func:`for_rule`'s checked loops do it: the block tested
    first, then its runs of finite entries (the whole block, usually) updated by the plain loop."""
    bad = count_nonfinite(grad[start:stop]) if _CHECKED else 0
    low = start if bad == 0 else _finite_from(grad, start, stop)
    while low < stop:
        high = stop if bad == 0 else _nonfinite_from(grad, low, stop)
        p, g = param[low:high], grad[low:high]
        p0, p1 = part(state0, low, high), part(state1, low, high)
        p2, p3 = part(state2, low, high), part(state3, low, high)
        for i in range(p.shape[0]):
            _UPDATE_ELEMENT(i, g[i], p, p0, p1, p2, p3, c, s)
        low = stop if bad == 0 else _finite_from(grad, high, stop)
    return bad


@functools.cache
def for_reduction(reduce_element, update_element, checked) -> ReductionLoops:
    """The loops of a rule with a reduction: its reduction's element ``reduce_element`` and its
    own element ``update_element`` (four state slots each; compiled lazily); ``checked`` ones
    skip the elements whose gradient is not finite, in both passes.

    The sums are deterministic. Each block of :data:`REDUCTION_BLOCK` consecutive elements is
    read as rows of :data:`REDUCTION_LANES` elements; lane ``j`` adds the ``j``-th term of
    every row, from the first row to the last, into a float64 accumulator that starts at 0.0;
    the block's sum adds the lanes from the first to the last, from 0.0; and the total adds
    the blocks' sums from the first block to the last, from 0.0. The lanes are independent
    chains, so the loop vectorizes without the reassociation that ``fastmath`` would allow (one
    chain per block ran at a float64 add's latency per element: D-Adaptation's step was about
    four times Adam's). The parallel loop hands whole blocks to the threads and adds their
    sums in the same order afterwards, so serial and parallel agree bitwise whatever the
    number of threads; ``numadam._reference`` sums in the same order.

    Each loop is its module-level function with globals of its own, as
    :func:`grouped_for_rule`'s driver, named after the rule and the flag for the disk cache.
    """
    reduce_element, update = inlined_on_cpu(reduce_element), inlined_on_cpu(update_element)
    checked = bool(checked)
    reduce_block = njit(inline="always")(template_copy(
        _reduce_block, "_reduce_block", _CHECKED=checked, _REDUCE_ELEMENT=reduce_element))
    update_block = njit(inline="always")(template_copy(
        _update_block, "_update_block", _CHECKED=checked, _UPDATE_ELEMENT=update))
    name = f"{element_name(update_element)}_{'checked' if checked else 'unchecked'}"
    loops = [_bound(loop, parallel, name, _CHECKED=checked, _REDUCE_BLOCK=reduce_block,
                    _UPDATE_BLOCK=update_block)
             for loop, parallel in ((_reduce_serial, False), (_reduce_parallel, True),
                                    (_update_serial, False), (_update_parallel, True))]
    return ReductionLoops(*loops)
