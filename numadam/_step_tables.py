"""A rule's per-step scalars, computed once and read from a table by the compiled loops.

A rule's per-step scalars (Adam's bias corrections, NAdam's momentum products...) depend on the
step number and the hyperparameters, not on the iterate. On a small problem their ``pow`` calls
are a large part of an iteration: Adam's ``beta2**t`` alone is ~20 ns of a 60-100 ns iteration
of a 2-D fit. So the compiled loops read them from a table:

* ``minimize``'s compiled loop keeps one table per rule and hyperparameter setting for the
  process (:func:`table_for`) and fills it as it goes: the first run with a setting computes
  each step's scalars once, as it always did, and stores them; later runs read them.
* ``minimize_batch`` computes each setting's table before the run (:func:`step_table`); every
  problem with that setting reads it.

Beyond the table's end the loop computes the scalars as before. The table holds the very values
that the rule's step-scalar function returns (the same compiled operations on the same inputs),
so reading them changes no bit of a run.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np
from numba import njit, types
from numba.extending import overload, register_jitable

from numadam._cache import keyed_by_sources

#: Steps tabulated per rule and setting, at most. Adam with ``beta2 = 0.999`` calls ``pow`` up
#: to step ~36,700 (see ``rules.adam.bias_correction_done``); a row is a few floats.
CAPACITY = 2**16

#: Settings whose tables the process keeps (the least recently used is dropped first).
KEPT = 16


@functools.cache
def jitable_step_scalars(rule):
    """The rule's plain-Python step-scalar function, registered with Numba once."""
    return register_jitable(rule.step_scalars)


@functools.cache
def jitable_finish(rule):
    """The ``finish`` of a rule with a reduction stage, registered with Numba once."""
    return register_jitable(rule.reduction.finish)


def tuple_like(row, like):
    """The values of the 1-D float array ``row`` as a tuple like ``like``: as long, each value
    in the type of ``like``'s (a flag such as SGD's ``nesterov`` back to a bool)."""
    return tuple(type(kind)(value) for kind, value in zip(like, row.tolist()))


@overload(tuple_like)
def _tuple_like(row, like):
    count = len(like)
    if count == 0:
        return lambda row, like: ()
    if all(isinstance(kind, types.Float) for kind in like):
        from numba.np.unsafe.ndarray import to_fixed_tuple

        return lambda row, like: to_fixed_tuple(row, count)
    values = ", ".join(_converted(f"row[{i}]", kind) for i, kind in enumerate(like))
    namespace = {}
    exec(f"def implementation(row, like):\n    return ({values},)", namespace)
    return namespace["implementation"]


@register_jitable
def in_table(inputs, step):
    """Whether step ``step``'s scalars are in the table of ``inputs`` (:func:`beyond_table`)."""
    return step <= inputs[1][0]


def table_row(inputs, step, carry):
    """Step ``step``'s scalars and carry from the table of ``inputs`` (see
    :func:`beyond_table`), as tuples like the rule's scalars and ``carry``.

    Compiled, it reads the entries where they are, called (not inlined by Numba) with the
    ``inputs`` tuple whole: bound to a name in the loop, or a row taken as a view, each of the
    table's arrays cost an NRT incref/decref pair (atomic operations) every iteration, ~3 ns of
    a 38 ns iteration of a 2-D fit."""
    table, _, _, scalars_like = inputs
    row = table[step - 1]
    return tuple_like(row, scalars_like), tuple_like(row[len(scalars_like):], carry)


@overload(table_row)
def _table_row(inputs, step, carry):
    scalars_like = inputs[3]
    count = len(scalars_like)
    scalars = "".join(_converted(f"inputs[0][step - 1, {i}]", kind) + ", "
                      for i, kind in enumerate(scalars_like))
    rest = "".join(_converted(f"inputs[0][step - 1, {count + i}]", kind) + ", "
                   for i, kind in enumerate(carry))
    namespace = {}
    exec(f"def implementation(inputs, step, carry):\n    return ({scalars}), ({rest})",
         namespace)
    return namespace["implementation"]


def _converted(value, kind):
    """The source that converts the float ``value`` to the Numba type ``kind``, as
    :func:`tuple_like` does."""
    if isinstance(kind, types.Boolean):
        return f"{value} != 0"
    if isinstance(kind, types.Integer):
        return f"int({value})"
    return value


def store_tuple(row, values):
    """``row[:len(values)] = values`` for a tuple of floats, the empty one included."""
    row[:len(values)] = values


@overload(store_tuple)
def _store_tuple(row, values):
    if len(values) == 0:
        return lambda row, values: None

    def implementation(row, values):
        for i in range(len(values)):
            row[i] = values[i]

    return implementation


@functools.cache
def beyond_table(step_scalars):
    """The compiled loops' step-scalar function for a step whose scalars are not in the table
    yet (:func:`in_table`; those that are, :func:`table_row` reads): computed with
    ``step_scalars`` (registered with Numba), and stored in the table if it is the row after
    the filled ones (each step follows from the previous one's carry, so rows fill in order).

    Its ``inputs`` are ``(table, filled, inputs, scalars_like)``: rows of the scalars and then
    the carry after each step, counted from step 1 and the rule's initial carry; a 1-element
    integer array with the number of rows filled; the rule's own inputs; a tuple as long as the
    rule's scalars.
    """

    def scalars_at(inputs, carry, step):
        table, filled, rule_inputs, scalars_like = inputs
        scalars, carry = step_scalars(rule_inputs, carry, step)
        if step == filled[0] + 1 and step <= table.shape[0]:
            store_tuple(table[step - 1], scalars)
            store_tuple(table[step - 1, len(scalars_like):], carry)
            filled[0] = step
        return scalars, carry

    return register_jitable(scalars_at)


@functools.cache
def scalar_count(rule):
    """How many scalars the rule's step-scalar function returns: a property of the rule (Numba
    needs a tuple of one length), counted at step 1 with the rule's default hyperparameters,
    with which it does not raise (other settings may: schedule-free's ``0.0 ** -1.0``)."""
    defaults = {name: hyperparameter.default
                for name, hyperparameter in rule.hyperparameters.items()}
    return len(rule.step_scalars(rule.step_inputs(defaults), rule.carry, 1)[0])


#: (rule, inputs, carry) -> (table, filled), the tables of minimize's compiled loop.
_TABLES: OrderedDict = OrderedDict()


def table_for(rule, inputs, carry):
    """The process's table of ``rule``'s scalars with these inputs from step 1 and this carry,
    as ``(table, filled)`` for :func:`beyond_table`. Empty (not filled) at first; the loop that
    reads it fills it."""
    key = (rule, _exactly(inputs), _exactly(carry))
    entry = _TABLES.get(key)
    if entry is None:
        columns = scalar_count(rule) + len(carry)
        entry = _TABLES[key] = (np.empty((CAPACITY, columns)), np.zeros(1, np.int64))
        while len(_TABLES) > KEPT:
            _TABLES.popitem(last=False)
    else:
        _TABLES.move_to_end(key)
    return entry


def _exactly(values):
    """``values`` as a key that tells apart values that compare equal (``-0.0`` and ``0.0``)."""
    return tuple(value.hex() if isinstance(value, float) else (type(value), value)
                 for value in values)


def no_table(rule, inputs, carry):
    """A table without rows, for a run that does not start at step 1 (it computes every
    step)."""
    return np.empty((0, scalar_count(rule) + len(carry))), np.zeros(1, np.int64)


def _make_step_table(step_scalars):
    """The step table of a rule whose step-scalar function is ``step_scalars``."""

    def fill(inputs, inputs_like, carries, carry_like, table):
        """``table[k, t - 1]``: the scalars and then the carry that ``step_scalars`` gives at
        step ``t`` for setting ``k``, starting from its carry, as the loop computes them."""
        for k in range(table.shape[0]):
            setting_inputs = tuple_like(inputs[k], inputs_like)
            carry = tuple_like(carries[k], carry_like)
            for t in range(table.shape[1]):
                scalars, carry = step_scalars(setting_inputs, carry, t + 1)
                store_tuple(table[k, t], scalars)
                store_tuple(table[k, t, len(scalars):], carry)

    return fill


@functools.cache
def step_table(rule):
    """The rule's step table (:func:`_make_step_table`) for ``minimize_batch``'s settings,
    compiled and cached on disk."""
    return njit(cache=True, error_model="numpy")(
        keyed_by_sources(_make_step_table(jitable_step_scalars(rule))))
