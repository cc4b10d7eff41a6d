"""The iteration loops of :func:`numadam.minimize` in nopython mode.

Two forms from one set of helpers: :func:`make_loop`, the whole loop for jitted ``fun`` and
``jac``, and :func:`make_driver`, the same loop as a generator that leaves each evaluation to
its Python caller (:func:`numadam._loops.lean_loop`, for Python objectives). Both run the
iteration of :mod:`numadam._policy`, calling its primitives.

When both ``fun`` and ``jac`` are Numba dispatchers (``@numba.njit`` functions), they are passed
as first-class functions into the rule's loop (:func:`make_loop`), an ``@njit`` loop that
evaluates them, checks the values, tests the tolerances and updates with the rule's element
function inlined: no Python call per iteration. The loop takes ``fun`` and ``jac`` typed by
their signatures, so it is cached on disk: a fresh process compiles only the user's functions
(see :func:`_cached_loop`). ``compiled="specialize"`` compiles it for the very functions
instead, inlined, which takes seconds and saves tens of nanoseconds per iteration; for
``njit(cache=True)`` functions that loop is cached on disk too (:func:`_specialized_on_disk`).
The rule's per-step scalars come from a table that the first run with a setting fills
(:mod:`numadam._step_tables`).

Bitwise equality with the Python loop
-------------------------------------
The loop calls, operation for operation, the primitives :func:`numadam._loops.python_loop`
calls (:mod:`numadam._policy`). The optimizer hands
it (:meth:`numadam.Optimizer.compiled_step`) its rule's compiled serial kernel and the rule's
per-step scalar function, compiled by Numba from the same plain-Python source the optimizer
runs, with the same constants: one loop serves every rule, and a new rule needs nothing here.
A rule with a reduction stage takes its step as the optimizer does (:func:`_reduced_step`: the
serial first pass and its sums, the rule's ``finish`` compiled by Numba, the update pass).
The tolerance tests (``max|g| <= gtol``, the relative change of ``f``, ``max|x_k - x_(k-1)|``)
and the bound projection (``min(max(x, lo), hi)``, which is ``np.clip``) are exact operations. So
the results are bitwise equal (the tests check it with ``np.array_equal``), provided the jitted
objective returns the same values when called from Numba as when called from Python, which holds
for a given dispatcher and argument types.

Limits
------
* float64 only (a float32 ``x0`` runs in the Python loop);
* constant hyperparameters: a callback, a learning-rate schedule, gradient clipping, iterate
  averaging or finite differences select the Python loop (a jitted ``fun`` returning
  ``(f, g)`` with ``jac=True`` runs here: one call per iteration instead of two);
* cached on disk per rule and per signature of ``fun``/``jac`` and their arguments (not per
  function object: a dispatcher-typed loop could not be cached, numba #6972, #2952);

Speed
-----
Per-iteration figures are in ``benchmarks/README.md`` (``benchmarks/bench_minimize.py``); most of
an iteration on a 2-D problem is the jitted gradient's array allocation and Adam's dependent
sqrt/divide chain.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import types as pytypes
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numba import njit, typeof, types
from numba.core.caching import NullCache
from numba.core.errors import TypingError
from numba.extending import intrinsic, is_jitted, overload, register_jitable

try:  # Numba's fingerprint of a value's type, in C: what its dispatchers key their type cache by
    from numba._dispatcher import compute_fingerprint
except ImportError:  # another version of Numba's internals: typeof, slower
    compute_fingerprint = None

from numadam import _policy, _step_tables
from numadam._cache import keyed_by_sources, sources_digest, template_copy
from numadam._objective import evaluate
from numadam._policy import (
    MAXITER,
    NONFINITE,
    SUCCESS,
    accept,
    budget_left,
    copy_into,
    project,
)
from numadam._step_tables import (
    beyond_table,
    in_table,
    jitable_finish,
    jitable_step_scalars,
    store_tuple,
    table_row,
)
from numadam.kernels import count_nonfinite, for_reduction, grouped_for_tag, like_tag
from numadam.rules import element_name, inlined_on_cpu
from numadam.rules._jit import jitted_step_scalars

# The policy's scalar tests as the loops below call them: Numba copies that Numba inlines before
# it types a loop (the registered functions are typed and compiled on their own first, for
# every signature: seconds of every loop's compile). Python callers keep the plain functions.
gradient_converged, climbed_from_best, converged_after_step, best_is_lower = (
    njit(inline="always")(test) for test in (
        _policy.gradient_converged, _policy.climbed_from_best, _policy.converged_after_step,
        _policy.best_is_lower))


def row_of(matrix, b):
    """``matrix[b]``; ``None`` for an absent matrix (``None``): a state the rule does not use,
    gradient buffers when the gradient functions allocate."""
    return None if matrix is None else matrix[b]


@overload(row_of, inline="always")
def _row_of(matrix, b):
    if isinstance(matrix, types.NoneType):
        return lambda matrix, b: None
    return lambda matrix, b: matrix[b]


@intrinsic
def data_address(typingctx, array):
    """The address of ``array``'s data, as an integer (no reference taken: ``array.ctypes``
    would count one)."""

    def codegen(context, builder, signature, arguments):
        data = context.make_array(signature.args[0])(context, builder, arguments[0]).data
        return builder.ptrtoint(data, context.get_value_type(types.uintp))

    return types.uintp(array), codegen


def owned_gradient(g, returned, copying, buffers):
    """``(g, address, copying)`` after an evaluation: ``g`` copied if the gradient function
    handed back the array it returned last time (``returned``, its address), or did so once
    before (``copying``), as :func:`numadam._loops.python_loop` does; fresh arrays are not
    copied, and with ``jac_out`` (``buffers``) the loop's own buffers never are. Compiled only
    (its overload: the address is an intrinsic's)."""
    raise NotImplementedError("only callable from jitted code")  # pragma: no cover


@overload(owned_gradient, inline="always")
def _owned_gradient(g, returned, copying, buffers):
    # chosen by type when compiling: with jac_out, no test at all (a branch there, even never
    # taken, cost ~40 ns an iteration of a 2-D fit through pointers)
    if not isinstance(buffers, types.NoneType):
        return lambda g, returned, copying, buffers: (g, returned, copying)

    def implementation(g, returned, copying, buffers):
        address = data_address(g)
        if copying or address == returned:
            return g.copy(), address, True
        return g, address, False

    return implementation


def is_jitted_pair(fun, jac):
    """Whether ``fun`` and ``jac`` are Numba dispatchers that the compiled loop can call: both
    jitted, or a jitted ``fun`` returning ``(f, g)`` with ``jac=True``."""
    return is_jitted(fun) and (jac is True or (callable(jac) and is_jitted(jac)))


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------


#: What :func:`_loop` and the step templates below call, set per rule in each copy's own
#: globals (see :func:`make_loop` and :func:`step_for`): the rule's element and its step
#: scalars; for a rule with a reduction stage or parameter groups (``_WHOLE_STEP``) its step,
#: which calls the two serial loops and ``finish``, or the groups' driver.
_ELEMENT = _STEP_SCALARS = _STEP = _REDUCE = _FINISH = _UPDATE = _GROUPED = None
_WHOLE_STEP = False


class GroupedRule(NamedTuple):
    """What the loops below step by for an optimizer with parameter groups, in place of its
    (elementwise) rule: the rule and ``tag``, the types of one group's ``(constants, step
    inputs, carry)`` (:func:`numadam.kernels.like_tag`; see
    :func:`numadam.kernels.grouped_for_rule`). Its step runs the groups' serial driver over
    the segment table; the loops take the segments as ``constants``, ``(table, scratch)`` as
    ``inputs`` and an empty ``carry`` (each group's is in the table). Made by :meth:`of`."""

    rule: Any
    tag: str

    @classmethod
    def of(cls, rule, like):
        if rule.reduction is not None:  # its groups are stepped one by one, on the host
            raise ValueError(f"the loops step {rule.name!r}'s groups one by one: no "
                             f"GroupedRule for a rule with a reduction stage")
        return cls(rule, like_tag(like))

    @property
    def element(self):
        return self.rule.element

    @property
    def reduction(self):
        return None

    @property
    def name(self):
        return f"{self.rule.name}_groups_{self.tag}"


def _loop(fun, jac, args, state, constants, inputs, carry, first_step, x, lower, upper,
         bounded, sign, maxiter, gtol, ftol, xtol, return_best, buffers):
    """The iteration of :mod:`numadam._policy`, with ``fun`` and ``jac`` evaluated here.
    The update is the rule's serial kernel, written out.

    Returns ``(status, nit, f, g, nfev, carry, f_start, last)`` with ``x`` updated in
    place and ``last`` the last iterate (``x`` unless the best point replaced it); status
    ``-1`` reports a gradient of the wrong shape (the caller raises).
    """
    # fun and jac each see their own copy of x (buffers refilled every call, no
    # allocation), so that user code cannot change the iterate
    x_fun, x_jac = x.copy(), x.copy()
    # with jac_out, the gradients go to two buffers in turn (``None`` otherwise): one holds
    # the current gradient, the other receives the next
    f, g = evaluate(fun, jac, x, x_fun, x_jac, args, row_of(buffers, 0))
    slot = 1
    nfev = 1
    if g.shape != x.shape:
        return -1, 0, f, g, nfev, carry, f, x
    if (f - f) != 0 or count_nonfinite(g):
        return NONFINITE, 0, f, g, nfev, carry, f, x
    # A jac may hand back one array on every call (a buffer of args, its own x), which
    # would change the gradient this loop holds: the first gradient is copied, and once
    # an array comes back again, every later one (owned_gradient)
    returned, copying = data_address(g), False
    g = g.copy()
    previous = x.copy()
    f_start = f
    # best_g is a copy, not a second reference to the gradient array: holding one made
    # every `g = g_new` pay reference counting, ~5 ns of a 150 ns iteration of a small fit
    best_x, best_f, best_g, best_key = x.copy(), f, g.copy(), np.inf
    status, nit = MAXITER, 0
    while nit < maxiter:
        if gradient_converged(g, x, lower, upper, bounded, sign, gtol):
            status = SUCCESS
            break
        if _WHOLE_STEP:  # a reduction stage or groups (a constant: Numba types one branch)
            carry_next = _STEP(x, g, state, constants, inputs, carry, first_step + nit)
        else:
            if in_table(inputs, first_step + nit):
                scalars, carry_next = table_row(inputs, first_step + nit, carry)
            else:
                scalars, carry_next = _STEP_SCALARS(inputs, carry, first_step + nit)
            for i in range(x.shape[0]):  # the rule's serial kernel, inlined
                _ELEMENT(i, g[i], x, state[0], state[1], state[2], constants, scalars)
        if bounded:
            project(x, lower, upper)
        nit += 1
        f_previous = f
        f, g_new = evaluate(fun, jac, x, x_fun, x_jac, args, row_of(buffers, slot))
        nfev += 1
        if g_new.shape != x.shape:
            return -1, nit, f, g_new, nfev, carry_next, f_start, x
        g_new, returned, copying = owned_gradient(g_new, returned, copying, buffers)
        if climbed_from_best(return_best, sign, f, f_previous, best_key):
            best_key, best_f = sign * f_previous, f_previous
            copy_into(best_g, g)
            copy_into(best_x, previous)
        nonfinite, step_norm = accept(x, f, g_new, previous)
        # the step's scalar state is kept even if its point is not, as the state vectors it
        # updated are (and as the lean and Python loops keep it)
        carry = carry_next
        if nonfinite:
            copy_into(x, previous)
            f, nit, status = f_previous, nit - 1, NONFINITE
            break
        g = g_new
        slot = 1 - slot
        if converged_after_step(f, f_previous, step_norm, ftol, xtol):
            status = SUCCESS
            break
    # previous is the last iterate here (accept copied it; a rejected point restored it)
    if best_is_lower(best_key, sign, f):
        copy_into(x, best_x)
        f, g = best_f, best_g
    return status, nit, f, g, nfev, carry, f_start, previous


def make_loop(rule):
    """The compiled loop of one rule: a :func:`~numadam._cache.template_copy` of :func:`_loop`
    whose globals hold the rule's element (inlined, so that one update costs what the
    optimizer's serial kernel costs) and its per-step scalar function reading the table; for a
    rule with a reduction stage or a :class:`GroupedRule`, its step (:func:`step_for`)
    inlined."""
    if isinstance(rule, GroupedRule):
        return template_copy(_loop, f"_loop_{rule.name}", _WHOLE_STEP=True,
                             _STEP=njit(inline="always")(step_for(rule)))
    name = f"_loop_{element_name(rule.element)}"
    if rule.reduction is not None:
        return template_copy(_loop, name, _WHOLE_STEP=True,
                             _STEP=njit(inline="always")(step_for(rule)))
    return template_copy(_loop, name, _WHOLE_STEP=False, _ELEMENT=inlined_on_cpu(rule.element),
                         _STEP_SCALARS=beyond_table(jitable_step_scalars(rule)))


def _take_step(x, g, state, constants, inputs, carry, step):
    """Step number ``step`` of an elementwise rule from ``x`` along ``g``; returns the rule's
    scalar state after it. (A function of its own: inlined into the generator, the rule's
    branches on unused state vectors miscompile in Numba 0.68.)"""
    scalars, carry = _STEP_SCALARS(inputs, carry, step)
    for i in range(x.shape[0]):  # the rule's serial kernel, inlined
        _ELEMENT(i, g[i], x, state[0], state[1], state[2], constants, scalars)
    return carry


def _reduced_step(x, g, state, constants, inputs, carry, step):
    """Step number ``step`` of a rule with a reduction stage, as the optimizer takes it
    (:class:`~numadam.rules.Reduction`): the first pass and its sums, ``finish``, then the
    update pass if one is due; returns the rule's scalar state after it. The loops are the
    unchecked serial ones: the policy tested the gradient before. (Its scalars follow from the
    sums, so there is no table.)"""
    scalars, carry = _STEP_SCALARS(inputs, carry, step)
    _, sum_a, sum_b = _REDUCE(x, g, state[0], state[1], state[2], state[3], constants, scalars)
    update, scalars, carry = _FINISH(inputs, carry, step, (sum_a, sum_b))
    if update:
        _UPDATE(x, g, state[0], state[1], state[2], state[3], constants, scalars)
    return carry


def _grouped_step(x, g, state, constants, inputs, carry, step):
    """Step number ``step`` of an optimizer with parameter groups (a :class:`GroupedRule`):
    the groups' serial driver over the segment table ``constants``, each group's scalars
    from its row of the table (``inputs = (table, scratch)``), its carry updated there;
    returns ``carry`` (empty). Scalars that are not finite for some group change nothing and
    raise, as the optimizer's step does."""
    table, scratch = inputs
    if _GROUPED(x, g, state[0], state[1], state[2], constants, table, scratch, step, 1) < 0:
        raise ValueError("the per-step scalars of a parameter group are not finite with its "
                         "hyperparameters; nothing was changed by that step")
    return carry


def step_for(rule):
    """A :func:`~numadam._cache.template_copy` of the step template of ``rule``, its functions in
    its globals: an elementwise rule's :func:`_take_step`, a rule with a reduction stage's
    :func:`_reduced_step`, an optimizer with parameter groups' :func:`_grouped_step` (``rule``
    a :class:`GroupedRule`)."""
    if isinstance(rule, GroupedRule):
        driver = grouped_for_tag(rule.element, jitted_step_scalars(rule.rule), rule.tag,
                                 False, False)
        return template_copy(_grouped_step, f"_grouped_step_{rule.name}", _GROUPED=driver)
    name = element_name(rule.element)
    if rule.reduction is None:
        return template_copy(_take_step, f"_take_step_{name}",
                             _ELEMENT=inlined_on_cpu(rule.element),
                             _STEP_SCALARS=jitable_step_scalars(rule))
    loops = for_reduction(rule.reduction.element, rule.element, False)
    return template_copy(_reduced_step, f"_reduced_step_{name}",
                         _STEP_SCALARS=jitable_step_scalars(rule),
                         _FINISH=jitable_finish(rule),
                         _REDUCE=loops.reduce_serial, _UPDATE=loops.update_serial)


def _published_take_step(rule):
    """The rule's step for the generator (:func:`step_for`), published under a name of this
    module.

    Numba keys the driver's disk cache by the pickle of what it closes over, this function
    included; published, it pickles by reference, the same in every process, whatever Numba
    functions its globals hold (a Numba function's pickle changes from process to process)."""
    copy = step_for(rule)
    globals()[copy.__name__] = copy
    return register_jitable(copy)


def make_driver(rule):
    """The lean loop's engine for one rule (:func:`numadam._loops.lean_loop`): the iteration of
    :mod:`numadam._policy` as a Numba generator that leaves each evaluation to its Python
    caller.

    Each time it yields, the caller evaluates the objective at ``x`` and stores the results in
    the buffers the generator reads. Resuming a compiled generator costs ~0.1 us, where a call
    of a compiled function with this loop's twenty arguments costs ~1 us (unboxing them): what
    is left per iteration is the user's code.
    """

    take_step = _published_take_step(rule)

    def driver(x, value, gradient, state, constants, inputs, carry, first_step, lower, upper,
               bounded, sign, maxiter, maxfev, gtol, ftol, xtol, return_best, outcome, last):
        """Yields the iteration number when ``f`` and ``g`` are wanted at ``x``; the caller
        then stores ``f`` in ``value[0]``, the evaluation count in ``value[1]`` (when ``maxfev``
        is not negative) and ``g`` in ``gradient``; they hold the values at the start point on
        the first call. A caller that cannot evaluate sets ``value[2]`` and resumes it once:
        it ends at once.

        Ends with ``x`` updated in place, the returned gradient in ``gradient``, the last
        iterate in ``last`` (``x`` unless the best point replaced it) and ``outcome`` =
        ``(status, nit, f, f_start, *carry)``.
        """
        f = f_start = value[0]
        g = gradient.copy()
        previous = x.copy()
        best_x, best_f, best_g, best_key = x.copy(), f, g.copy(), np.inf
        status, nit = MAXITER, 0
        while budget_left(nit, maxiter, value[1], maxfev):
            if gradient_converged(g, x, lower, upper, bounded, sign, gtol):
                status = SUCCESS
                break
            carry_next = take_step(x, g, state, constants, inputs, carry, first_step + nit)
            if bounded:
                project(x, lower, upper)
            nit += 1
            f_previous = f
            yield nit
            if value[2] != 0:  # the caller stops (its user code raised)
                return
            f = value[0]
            if climbed_from_best(return_best, sign, f, f_previous, best_key):
                best_key, best_f = sign * f_previous, f_previous
                copy_into(best_g, g)
                copy_into(best_x, previous)
            nonfinite, step_norm = accept(x, f, gradient, previous)
            carry = carry_next  # the step's scalar state is kept even if its point is not
            if nonfinite:
                copy_into(x, previous)
                f, nit, status = f_previous, nit - 1, NONFINITE
                break
            copy_into(g, gradient)
            if converged_after_step(f, f_previous, step_norm, ftol, xtol):
                status = SUCCESS
                break
        copy_into(last, x)
        if best_is_lower(best_key, sign, f):
            copy_into(x, best_x)
            f = best_f
            copy_into(g, best_g)
        copy_into(gradient, g)
        outcome[0], outcome[1], outcome[2], outcome[3] = status, nit, f, f_start
        store_tuple(outcome[4:], carry)

    return driver


@functools.cache
def driver_for(rule):
    """The rule's :func:`make_driver` generator, compiled (cached on disk)."""
    return njit(cache=True, error_model="numpy")(
        keyed_by_sources(make_driver(rule)))


class LoopArguments(NamedTuple):
    """The arguments of a rule's compiled loop (:func:`make_loop`), by name."""

    fun: Any
    jac: Any
    args: tuple
    state: tuple
    constants: tuple
    inputs: tuple
    carry: tuple
    first_step: int
    x: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    bounded: bool
    sign: float
    maxiter: int
    gtol: float
    ftol: float
    xtol: float
    return_best: bool
    buffers: Any


def run(fun, jac, args, optimizer, x, lower, upper, bounded, sign, maxiter, gtol, ftol, xtol,
        return_best, specialize=False, jac_out=False):
    """Run the compiled loop; ``None`` if it cannot serve this optimizer, or if Numba cannot
    type the objective this way (e.g. ``fun`` returns an array), so that the caller falls back
    to the Python loop and its clear errors.

    Tolerances as the policy takes them (negative: not requested). ``specialize``: compile the
    loop for these very functions (seconds of compile, then the fastest iterations; cached on
    disk for ``njit(cache=True)`` functions, see :func:`_specialized_on_disk`) instead of the
    loop cached on disk that calls them through pointers. ``jac_out``: the gradient function
    writes into a buffer passed as its last argument (:func:`numadam._objective.evaluate`).

    Returns ``(status, nit, f, g, nfev, f_start, last)``, ``last`` the last iterate (``x``
    unless the best point replaced it); ``x`` and the optimizer's state are updated in place
    and its step count advanced.
    """
    step = optimizer.compiled_step()
    if step is None:
        return None
    jac = None if jac is True else jac  # the loop's spelling of "fun returns (f, g)"
    rule = step.stepper
    # a rule with a reduction: its scalars follow from the sums; groups: from the table
    inputs = step.inputs
    if rule.reduction is None and not isinstance(rule, GroupedRule):
        # the table of this setting's step scalars, which the loop reads and extends (a run
        # from a later step than 1 computes them all: the table counts from step 1)
        table, filled = (_step_tables.table_for if optimizer.step_count == 0
                         else _step_tables.no_table)(rule, step.inputs, step.carry)
        inputs = (table, filled, step.inputs, (0.0,) * (table.shape[1] - len(step.carry)))
    arguments = LoopArguments(
        fun, jac, tuple(args), step.state, step.constants,
        inputs, step.carry, optimizer.step_count + 1, x,
        lower, upper, bounded, sign, int(maxiter), gtol, ftol, xtol, bool(return_best),
        np.empty((2, x.shape[0])) if jac_out else None)
    try:
        key = (specialize, rule, fun, jac, types_key(arguments[2:], foreign=arguments.args))
        known = key in _LOOP_OF_CALL.entries

        def find():
            return (_specialized_loop if specialize else _cached_loop)(rule, arguments)

        try:
            outcome = _LOOP_OF_CALL.get(key, find)(*arguments)
        except TypingError:
            _LOOP_OF_CALL.forget(key)  # not kept: a loop these arguments do not fit
            if not known:
                raise
            # a pointer loop found earlier that the functions no longer fit (fun.recompile()
            # with another return type, say): found afresh. (A specialized loop has the
            # functions compiled in: it runs the versions it was compiled with.)
            outcome = _LOOP_OF_CALL.get(key, find)(*arguments)
        status, nit, f, g, nfev, carry, f_start, last = outcome
    except TypingError:
        return None  # raised while compiling, before anything ran: x and state are untouched
    except TypeError as error:
        # Numba's dispatch refusing the arguments, before anything ran: a function compiled
        # for two types it does not tell apart as first-class functions (an int in int64 and
        # one beyond it, typed uint64). (A TypeError raised by the user's code propagates.)
        if not str(error).startswith("No matching definition"):
            raise
        _LOOP_OF_CALL.forget(key)
        return None
    if status == -1:
        raise ValueError(f"jac must return an array of shape {x.shape} like x0, got shape "
                         f"{np.shape(g)}")
    optimizer.advance(nit, carry)
    return status, nit, float(f), np.asarray(g), nfev, float(f_start), last


# ------------------------------------------------------------------------------------------------
# The loop for a call, kept under a cheap key of its types
# ------------------------------------------------------------------------------------------------


def types_key(values, foreign):
    """A key for the Numba types of the tuple ``values``, cheap to compute: equal keys mean
    equal types. Numba's own fingerprint (~0.5 us, where ``typeof`` of a ``minimize`` call's
    arguments takes ~120 us): what Numba's dispatchers key their calls by, so a loop found
    under it is the one Numba's dispatch takes too; the types themselves for values without
    one. ``foreign``: the part of ``values`` that is the user's (``args``), typed instead
    where the fingerprint does not tell its type (:func:`_fingerprint_exact`): an array in the
    other byte order (fingerprinted as the native one, then read as native; typed, it is
    refused, as Numba refuses it) or an int beyond int64."""
    if compute_fingerprint is not None and _fingerprint_exact(foreign):
        try:
            return compute_fingerprint(values)
        except NotImplementedError:  # a value without one (a dict...)
            pass
    return tuple(typeof(value) for value in values)


def _fingerprint_exact(value):
    """Whether Numba's fingerprint of ``value`` (in tuples, however nested) tells its type:
    not for an array in the other byte order, nor for an int beyond int64 (typed uint64, but
    fingerprinted as any int)."""
    if isinstance(value, tuple):
        return all(_fingerprint_exact(item) for item in value)
    if isinstance(value, int):
        return -2**63 <= value < 2**63
    return not isinstance(value, np.ndarray) or value.dtype.isnative


class Memo:
    """A dict that keeps its ``size`` most recently used entries: for lookups keyed by user
    functions, which it would otherwise keep alive for the whole process. Safe to use from
    several threads (``make`` runs outside the lock)."""

    def __init__(self, size):
        self.size, self.entries, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, make):
        """The value of ``key``, made by ``make()`` the first time."""
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
                return value
        value = make()
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value

    def forget(self, key):
        """Drop ``key``'s entry, if there is one."""
        with self.lock:
            self.entries.pop(key, None)


#: (specialize, rule, fun, jac, types_key of the other arguments) -> the loop that :func:`run`
#: calls: a run repeated with the same functions skips typing its twenty arguments in Python,
#: which took longer than a short run itself (~150 us a call)
_LOOP_OF_CALL = Memo(64)


def _specialized_loop(rule, arguments):
    """``compiled="specialize"``: the loop for these very functions, taking :func:`run`'s
    arguments; loaded from the disk or compiled first, apart from the run
    (:func:`_specialized_on_disk`), for functions that Numba caches."""
    bound = _specialized_on_disk(rule, arguments.fun, arguments.jac)
    if bound is None:
        return loop_for(rule)
    try:
        bound.compile(tuple(typeof(value) for value in arguments[2:]))
    except OSError:  # its cache files changed under it (another process): no cache
        return loop_for(rule)
    return lambda fun, jac, *rest: bound(*rest)


# ------------------------------------------------------------------------------------------------
# Caching the loop on disk: every function argument as a first-class function type
# ------------------------------------------------------------------------------------------------

#: (argument types) -> the loop compiled for them, in this process.
_LOOPS = {}


def function_type(dispatcher, argument_types):
    """``dispatcher`` compiled for ``argument_types``, as a first-class function type; ``None``
    when it has no version for exactly these types and may not compile one (an ``njit`` given
    explicit signatures: Numba converts the arguments when the caller is compiled for it)."""
    argument_types = tuple(argument_types)
    if argument_types not in dispatcher.overloads:
        try:
            dispatcher.compile(argument_types)
        except RuntimeError:  # "compilation disabled"
            return None
    return types.FunctionType(dispatcher.overloads[argument_types].signature)


@functools.cache
def _loop_source(rule):
    """The rule's loop as a Python function (its disk cache keyed by the code it inlines), its
    step scalars read from a table (:mod:`numadam._step_tables`)."""
    return keyed_by_sources(make_loop(rule))


@functools.cache
def loop_for(rule):
    """The rule's loop, compiled lazily for the types it meets (dispatchers included, so not
    cached on disk): ``compiled="specialize"`` for functions that Numba does not cache."""
    return njit(error_model="numpy")(_loop_source(rule))


@functools.cache
def cached_loop_for(rule):
    """The rule's loop, compiled lazily for the types it meets and cached on disk, for callers
    that pass ``fun`` and ``jac`` typed by their signatures (minimize_batch's run calls it for
    each problem). It is the same function as :func:`_cached_loop`'s: Numba files both under one
    name, so each finds on disk what the other compiled for the same types."""
    return njit(cache=True, error_model="numpy")(_loop_source(rule))


# ------------------------------------------------------------------------------------------------
# compiled="specialize" for njit(cache=True) functions: the loop for these very functions, cached
# ------------------------------------------------------------------------------------------------


def _bound_loop(args, state, constants, inputs, carry, first_step, x, lower, upper, bounded,
                sign, maxiter, gtol, ftol, xtol, return_best, buffers):
    """The template of :func:`_specialized_on_disk`'s loops: the rule's loop ``LOOP`` (inlined)
    with the user's functions ``FUN`` and ``JAC``, all three globals of each copy."""
    return LOOP(FUN, JAC, args, state, constants, inputs, carry,  # noqa: F821
                first_step, x, lower, upper, bounded, sign, maxiter, gtol, ftol, xtol,
                return_best, buffers)


@functools.cache
def _inlined_loop(rule):
    """The rule's loop, inlined where it is called (into :func:`_bound_loop`'s copies)."""
    return njit(inline="always")(
        make_loop(rule))


def _value_key(value):
    """A text that tells apart two values the user's function may close over or default to (or
    a compile option), the same in every process; ``None`` for a value without one (a Numba
    function's pickle, say, holds an identifier that is new in every process; a repr may hold a
    memory address)."""
    if isinstance(value, tuple):
        keys = [_value_key(item) for item in value]
        if None in keys:
            return None
        kind = type(value)  # a named tuple's fields are read by name
        return f"{kind.__module__}.{kind.__qualname__}{getattr(kind, '_fields', '')}({keys})"
    if isinstance(value, (set, frozenset)):
        keys = [_value_key(item) for item in value]
        return None if None in keys else f"{type(value).__name__}({sorted(keys)})"
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return None
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"ndarray({value.dtype!r}, {value.shape}, {digest})"  # repr names fields
    if isinstance(value, pytypes.CodeType):
        return _code_key(value)
    if isinstance(value, (bool, int, float, complex, str, bytes, type(None), np.generic)):
        return f"{type(value).__name__}({value!r})"  # repr tells -0.0 from 0.0
    return None


def _code_key(code):
    """A text with everything of a code object that its compiled version depends on: bytecode,
    constants (nested functions' code included), names and first line; ``None`` if a constant
    has no :func:`_value_key`."""
    constants = _value_key(code.co_consts)
    return None if constants is None else (
        f"code({code.co_code.hex()}, {constants}, {code.co_names}, {code.co_varnames}, "
        f"{code.co_freevars}, {code.co_firstlineno})")


def numba_cache_stamp(dispatcher):
    """What identifies the compiled code of ``dispatcher`` (an ``njit(cache=True)`` function),
    as ``(owner, version)``.

    ``owner``: the index file that Numba keeps for it (its file, name and line) and the values
    of its closure and defaults (two closures made by one factory are different functions).
    ``version``: a digest of the source stamp that Numba recorded when it was decorated (a
    digest of its file), its code object and its compile options.

    The source stamp is the one recorded at decoration, not the file's now: a file edited after
    the import changes nothing in the loaded function, so it must not change the stamp. Like
    Numba's own cache, it does not see an edit of another module that the function calls.
    ``None`` when Numba does not cache the function, or when the stamp would not be the same in
    another process (a closure over a Numba function or another object): such functions get
    no loop on disk.
    """
    cache = getattr(dispatcher, "_cache", None)  # what Numba's cache=True sets
    if cache is None or isinstance(cache, NullCache):
        return None
    py_func = dispatcher.py_func
    values = _value_key((tuple(cell.cell_contents for cell in py_func.__closure__ or ()),
                         py_func.__defaults__ or (),
                         tuple(sorted((py_func.__kwdefaults__ or {}).items()))))
    code = _code_key(py_func.__code__)
    options = _value_key(tuple(sorted(dispatcher.targetoptions.items())))
    try:
        recorded = cache._cache_file  # numba.core.caching.IndexDataCacheFile
        where, source = recorded._index_path, repr(recorded._source_stamp)
    except AttributeError:  # another version of Numba's internals: no loop on disk
        return None
    if values is None or code is None or options is None:
        return None
    return _digest(where, values), _digest(source, code, options)


#: (rule, fun, jac) -> their loop of :func:`_specialized_on_disk`, in this process.
_SPECIALIZED = {}


def _specialized_on_disk(rule, fun, jac):
    """``compiled="specialize"`` when ``fun`` (and ``jac``, unless ``None``) are
    ``njit(cache=True)`` functions: the rule's loop compiled for these very functions, with
    them inlined, and cached on disk like them. ``None`` for functions Numba does not cache.

    The loop is a copy of :func:`_bound_loop` whose globals are the rule's loop and the user's
    functions; a dispatcher given as an argument would make it uncacheable (numba #6972).
    Numba files it under its name, ``_bound_loop_<rule>_<owner>_<version>``: from the
    functions' :func:`numba_cache_stamp`, the owner digest names the functions and the version
    digest holds their versions and the code the rule's loop inlines (:mod:`numadam._cache`).
    (Two functions defined on one line, such as two lambdas, share an owner: each evicts the
    other's loop.) So an edit of their file (or of that code) compiles the loop afresh, as it
    does the functions themselves, and the files of the owner's older versions are deleted
    then. The first process compiles it (seconds); later ones load it and need not load the
    functions at all.
    """
    key = (rule, fun, jac)
    loop = _SPECIALIZED.get(key)
    if loop is None:
        stamps = [numba_cache_stamp(fun), ("", "") if jac is None else numba_cache_stamp(jac)]
        if None in stamps:
            return None
        prefix = f"_bound_loop_{rule.name}_{_digest(*(owner for owner, _ in stamps))[:10]}_"
        versions = (version for _, version in stamps)
        name = prefix + _digest(sources_digest(_inlined_loop(rule)), *versions)[:16]
        namespace = {"__name__": __name__, "LOOP": _inlined_loop(rule), "FUN": fun, "JAC": jac}
        copy = pytypes.FunctionType(_bound_loop.__code__, namespace, name)
        copy.__qualname__ = name
        loop = _SPECIALIZED[key] = njit(cache=True, error_model="numpy")(copy)
        _delete_older_versions(loop, prefix, name)
    return loop


def _digest(*texts):
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()


def _delete_older_versions(loop, prefix, name):
    """Delete the cache files of the loops named ``prefix...`` other than ``name``: compiled for
    an earlier version of the same functions, they would never be loaded again."""
    try:
        folder = Path(loop._cache._cache_path)  # where Numba files this loop
    except AttributeError:
        return
    module = Path(__file__).stem
    for path in folder.glob(f"{module}.{prefix}*"):
        # not a file being written (Numba writes "<name>.tmp.<id>", then renames it)
        if not path.name.startswith(f"{module}.{name}-") and ".tmp." not in path.name:
            with contextlib.suppress(OSError):  # another process may have deleted it
                path.unlink()


def _cached_loop(rule, arguments):
    """The rule's loop compiled for these arguments, with ``fun`` and ``jac`` typed by their
    signatures rather than by their identity.

    A Numba function that takes a dispatcher is compiled for that very dispatcher and cannot be
    cached on disk (its type is the object); typed by signature, it can. So a fresh process
    loads the loop from Numba's cache and compiles only the user's own ``fun`` and ``jac``
    (nothing at all when they are ``njit(cache=True)``); they are then called through
    pointers, which costs a few nanoseconds per call.
    """
    fun, jac, args = arguments.fun, arguments.jac, arguments.args
    x, buffers = arguments.x, arguments.buffers
    point = (typeof(x), *(typeof(value) for value in args))
    # with jac_out the gradient function also takes the buffer it writes into
    with_out = point if buffers is None else (*point, typeof(buffers[0]))
    fun_type = function_type(fun, with_out if jac is None else point)
    jac_type = types.none if jac is None else function_type(jac, with_out)
    if fun_type is None or jac_type is None:
        return loop_for(rule)
    signature = (fun_type, jac_type, *(typeof(value) for value in arguments[2:]))
    loop = _LOOPS.get((rule, signature))
    if loop is None:
        loop = _LOOPS[rule, signature] = njit(signature, cache=True, error_model="numpy")(
            _loop_source(rule))
    return loop
