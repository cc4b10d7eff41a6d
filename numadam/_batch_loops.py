"""The loops of :func:`numadam.minimize_batch`: the compiled run of the jitted form and the
vectorized form's loop, both running the iteration of :mod:`numadam._policy` for every
problem, each to its own end.

*Jitted*: every problem runs the rule's compiled minimize loop
(:func:`numadam._compiled_loop.make_loop`) on its own row, state and hyperparameters, the
problems spread over the cores with ``prange``; cached on disk with ``fun`` and ``jac`` typed
by their signatures, as ``minimize``'s. *Vectorized*: the active problems' rows go to the user's
``fun`` and ``jac`` at once (:class:`numadam._objective.RowsObjective`); the policy's
primitives run row by row in three compiled passes (:func:`gtol_stops`, :func:`update_rows`,
:func:`accept_rows`).

The per-step scalars (bias corrections and the like), equal for every problem with the same
hyperparameters, are computed once per step for the batch and read from a table.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import get_num_threads, njit, prange, typeof, types
from numba.extending import overload
from scipy.optimize import OptimizeResult

from numadam import _compiled_loop, kernels
from numadam._cache import keyed_by_sources, template_copy
from numadam._compiled_loop import (
    climbed_from_best,
    converged_after_step,
    gradient_converged,
    row_of,
)
from numadam._objective import evaluate_row
from numadam._policy import (
    CALLBACK_STOP,
    MAXITER,
    NONFINITE,
    SUCCESS,
    accept,
    answers_stand,
    best_is_lower,
    copy_into,
    project,
)
from numadam._step_tables import store_tuple, tuple_like
from numadam.kernels import part

__all__ = ["cached_run", "explain_typing_error", "float_rows", "initial_state",
           "per_problem_steps", "specialized_run", "spread", "table_steps", "to_evaluation_point",
           "vectorized_loop"]


def per_problem_steps(cls, scalars, per_problem, B, overrides=({},)):
    """One optimizer per distinct hyperparameter setting (validating them), which setting each
    problem uses, and the settings' own optimizers: ``(steps, index, bases)``. With parameter
    groups, ``overrides`` holds each group's hyperparameters: then ``steps[k * G + g]`` is
    setting ``k``'s optimizer for group ``g`` (``G = len(overrides)``), the group's values over
    the setting's, and ``bases[k]`` the setting's without them (``bases`` is ``steps``
    without groups)."""
    grouped = overrides != ({},)

    def made(values):
        base = cls(np.zeros(1), **scalars, **values)  # its errors name the option
        if not grouped:
            return base, [base]
        group_steps = []
        specs = cls.variant.hyperparameters()
        for group, override in enumerate(overrides):
            try:
                step = cls(np.zeros(1), **{**scalars, **values, **override})
            except (TypeError, ValueError) as error:
                raise type(error)(f"groups[{group}]: {error}") from None
            for name in override:  # as the optimizers' groups refuse it
                if specs[name].fixed and step.hyperparameters[name] != base.hyperparameters[name]:
                    raise ValueError(f"groups[{group}][{name!r}] = {override[name]!r} differs "
                                     f"from the options' {base.hyperparameters[name]!r}: {name} "
                                     f"is fixed for the whole optimizer, so it cannot differ "
                                     f"between groups")
            group_steps.append(step)
        return base, group_steps

    index = np.zeros(B, np.int64)
    steps, bases, seen = [], [], {}
    for b in range(B if per_problem else 1):
        values = tuple((name, value_of(array[b])) for name, array in per_problem.items())
        if values not in seen:
            seen[values] = len(seen)
            base, group_steps = made(dict(values))
            bases.append(base)
            steps.extend(group_steps)
        index[b] = seen[values]
    in_use = [tuple(step.state[name].size != 0 for name in step.state_names) for step in steps]
    if len(set(in_use)) > 1:
        if grouped and len(set(in_use[:len(overrides)])) > 1:
            raise ValueError("every group must use the same state vectors (a momentum of 0 in "
                             "one group and not in another does not): give the value that "
                             "decides them to the options, not to a group")
        # e.g. momentum 0 for some problems and not for others
        raise ValueError(f"the per-problem values of {sorted(per_problem)} must keep the same "
                         f"state vectors in use for every problem (a momentum of 0 for some "
                         f"and not for others does not): split the batch")
    return steps, index, bases


def value_of(value):
    """One problem's hyperparameter as a plain (hashable) Python value: a float, or a tuple for
    a row of ``betas``."""
    return tuple(np.ravel(value).tolist()) if np.ndim(value) else value.item()


def float_rows(tuples):
    """Equal-length tuples of floats as the rows of a 2-D float64 array."""
    return np.array([list(values) for values in tuples], float).reshape(len(tuples), -1)


def initial_state(steps, index, X, segments=None, groups=1):
    """Each state vector of the rule for every problem, shape (B, n), initialised as each
    problem's optimizer initialises it (None when the rule does not use it): four slots, as
    many as a rule has at most (an elementwise rule's step reads the first three). With
    parameter groups (``segments`` rows ``(start, stop, group)``, ``groups`` of them), each
    group's elements as its optimizer (``steps[k * groups + g]``) initialises them."""
    first = steps[0]
    rule = first.variant.rule
    every = {**first.hyperparameters, **first.variant.fixed}
    if segments is None:
        segments = np.array([[0, X.shape[1], 0]])
    vectors = []
    for name in first.state_names:
        if first.state[name].size == 0:
            vectors.append(None)
        elif rule.initial_state(name, every) == "params":
            vectors.append(X.copy())
        else:
            initial = np.array([step.state[name][0] for step in steps])
            matrix = np.empty_like(X)
            for start, stop, group in segments.tolist():
                matrix[:, start:stop] = initial[index * groups + group][:, None]
            vectors.append(matrix)
    return tuple(vectors + [None] * (4 - len(vectors)))


def rows_of(arrays, b):
    """``tuple(array[b] for array in arrays)`` (Numba: one overload per tuple length)."""
    return tuple(array[b] for array in arrays)


@overload(rows_of)
def _rows_of(arrays, b):
    if len(arrays) == 0:
        return lambda arrays, b: ()

    def implementation(arrays, b):
        return (arrays[0][b],) + rows_of(arrays[1:], b)

    return implementation


#: Rows of step scalars tabulated per problem of a batch, at most (see :func:`_table_steps`).
TABLE_ROWS_PER_PROBLEM = 16


#: Rows tabulated per hyperparameter setting, at most.
TABLE_ROWS_MAX = 2**16


def table_steps(maxiter, settings, B):
    """How many steps' scalars to tabulate per hyperparameter setting.

    A problem's step ``t`` has the same scalars as every other problem with the same
    hyperparameters (they depend on the step only), so the batch computes them once per setting
    (:func:`numadam._step_tables.step_table`) and each problem reads them: its ``pow`` calls
    were a fifth of an iteration of a small fit. The table costs ``settings * rows``
    evaluations and grows with ``maxiter``; a run that stops early would waste most of it, so
    it stays within ``TABLE_ROWS_PER_PROBLEM`` rows per problem (and ``TABLE_ROWS_MAX`` per
    setting); later steps are computed as before.
    """
    return int(min(maxiter, TABLE_ROWS_PER_PROBLEM * B // settings, TABLE_ROWS_MAX))


#: The rule's minimize loop that :func:`_run` calls for each problem, and whether the rule has
#: a reduction stage (its steps' scalars follow from sums: no table; four state slots) or the
#: problems have parameter groups (the loop of a :class:`~numadam._compiled_loop.GroupedRule`),
#: set in each copy's own globals (see :func:`run_source`).
_LOOP = None
_REDUCED = _GROUPED = False


def _run(fun, jac, args, batch_args, S0, S1, S2, S3, constants, constants_like, inputs,
         inputs_like, tables, filled, scalars_like, carries, carry_like, setting, X, lower, upper,
         bounded, sign, maxiter, gtol, ftol, xtol, return_best, status, nit, F, G, nfev, F_start,
         first_steps, last, buffers, start, stop):
    """Every problem's compiled minimize loop: problems ``start`` to ``stop`` (:func:`spread`
    runs blocks of the batch on threads of their own, the GIL released). Its state and inputs
    as minimize's loop takes them for the rule (a constant branch: Numba types one). With
    parameter groups, ``constants`` is the segment table, ``inputs[b]`` problem ``b``'s group
    table (each group's constants, step inputs and carry, updated in place), ``tables[b]``
    its scratch and ``carries`` has no columns."""
    for b in range(start, stop):
        k = setting[b]
        if _GROUPED:
            state = (row_of(S0, b), row_of(S1, b), row_of(S2, b))
            step_constants = constants
            rule_inputs = (inputs[b], tables[b])
        elif _REDUCED:
            state = (row_of(S0, b), row_of(S1, b), row_of(S2, b), row_of(S3, b))
            step_constants = tuple_like(constants[k], constants_like)
            rule_inputs = tuple_like(inputs[k], inputs_like)
        else:
            state = (row_of(S0, b), row_of(S1, b), row_of(S2, b))
            step_constants = tuple_like(constants[k], constants_like)
            rule_inputs = (tables[k], filled, tuple_like(inputs[k], inputs_like), scalars_like)
        result = _LOOP(
            fun, jac, rows_of(batch_args, b) + args, state, step_constants, rule_inputs,
            tuple_like(carries[b], carry_like),
            first_steps[b], X[b], lower[b], upper[b], bounded, sign, maxiter, gtol, ftol,
            xtol, return_best, row_of(buffers, b))
        status[b], nit[b], F[b], nfev[b] = result[0], result[1], result[2], result[4]
        store_tuple(carries[b], result[5])  # the scalar state a resumed run starts from
        copy_into(last[b], result[7])  # the last iterate (X[b] unless return_best replaced it)
        F_start[b] = result[6]
        g = result[3]
        if g.shape[0] == G.shape[1]:
            copy_into(G[b], g)


def spread(run, arguments):
    """``run(*arguments)`` over every problem, the batch cut into as many contiguous blocks as
    Numba's thread count (``numba.set_num_threads``), each run on a thread of its own.

    Threads of a ``nogil`` function rather than ``prange``: the problems share nothing, and
    Numba's parallel lowering of the whole loop cost a third of the run's compile time (the
    time a first call of every rule and objective signature waits). Contiguous blocks, as
    ``prange`` cuts them: interleaved rows would have the threads write to the same cache
    lines of ``X``, ``F`` and the counts."""
    B = arguments.X.shape[0]
    threads = max(1, min(get_num_threads(), B))
    if threads == 1:
        run(*arguments, 0, B)
        return
    edges = [B * t // threads for t in range(threads + 1)]
    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(run, *arguments, edges[t], edges[t + 1])
                     for t in range(threads)]:
            done.result()  # re-raises a thread's exception here


@functools.cache
def run_source(rule, specialize):
    """The rule's batch run (:func:`_run`) as a Python function whose loop is minimize's own
    compiled loop: the disk-cached one (:func:`numadam._compiled_loop.cached_loop_for`), which
    minimize and minimize_batch share, or for ``specialize`` the one compiled for the very
    functions it meets (not cacheable): a :func:`~numadam._cache.template_copy` of :func:`_run`
    with the loop in its globals."""
    loop = (_compiled_loop.loop_for if specialize else _compiled_loop.cached_loop_for)(rule)
    return keyed_by_sources(template_copy(
        _run, f"_run_{rule.name}_{'specialized' if specialize else 'cached'}", _LOOP=loop,
        _REDUCED=rule.reduction is not None,
        _GROUPED=isinstance(rule, _compiled_loop.GroupedRule)))


@functools.cache
def specialized_run(rule):
    """``compiled="specialize"``: the run compiled for the very ``fun`` and ``jac`` it meets
    (seconds of compile per objective and process, not cached on disk)."""
    return njit(nogil=True, error_model="numpy")(run_source(rule, True))


#: (rule, argument types) -> the batch run compiled for them, in this process.
_RUNS = {}


def cached_run(rule, arguments, x_row):
    """The rule's batch run compiled for ``arguments`` (a :class:`numadam._batch.RunArguments`),
    ``fun`` and ``jac`` typed by their
    signatures (first-class function types) rather than by their identity, as minimize's
    compiled loop (:func:`numadam._compiled_loop.run`): cached on disk, so that a
    fresh process loads it and compiles only the user's functions. ``x_row``: a row of
    ``x0``, for the type of the point that ``fun`` and ``jac`` receive."""
    fun, jac, args, batch_args = (arguments.fun, arguments.jac, arguments.args,
                                  arguments.batch_args)
    buffers = arguments.buffers
    point = (typeof(x_row), *(typeof(array[0]) for array in batch_args),
             *(typeof(value) for value in args))
    # with jac_out the gradient function also takes the buffer it writes into
    with_out = point if buffers is None else (*point, typeof(buffers[0, 0]))
    fun_type = _compiled_loop.function_type(fun, with_out if jac is None else point)
    jac_type = types.none if jac is None else _compiled_loop.function_type(jac, with_out)
    if fun_type is None or jac_type is None:  # fixed signatures that need a conversion
        return specialized_run(rule)
    signature = (fun_type, jac_type, *(typeof(value) for value in arguments[2:]), types.int64,
                 types.int64)
    run = _RUNS.get((rule, signature))
    if run is None:
        run = _RUNS[rule, signature] = njit(signature, nogil=True, cache=True,
                                            error_model="numpy")(run_source(rule, False))
    return run


def gtol_stops(active, G, X, lower, upper, bounded, sign, gtol, status):
    """The ``gtol`` test of every active problem, before its step (status SUCCESS)."""
    for j in prange(active.shape[0]):
        b = active[j]
        if gradient_converged(G[b], X[b], lower[b], upper[b], bounded, sign, gtol):
            status[b] = SUCCESS


@njit(parallel=True, error_model="numpy")
def update_rows(active, take_step, S0, S1, S2, S3, constants, constants_like, inputs,
                inputs_like, carries, carry_like, setting, X, G, lower, upper, bounded, nit,
                step_counts, segments, groups, next_carries):
    """One step of every active problem (its own step count, scalars and carry), then the
    projection on its box: the optimizer's update and ``np.clip``, row by row. ``take_step``:
    the rule's step (:func:`row_step`; a rule with a reduction stage sums over its row).

    With parameter groups (``segments``: int64 rows ``(start, stop, group)``; ``None``
    without), each run of a row is stepped with its group's settings (row ``setting[b] *
    groups + group`` of ``constants`` and ``inputs``) and carry (row ``b * groups + group`` of
    ``carries``): as a separate optimizer on the group's elements, since an elementwise step
    of a part is that part of the step (a rule with a reduction stage: groups of one run).
    The carries after the step go to ``next_carries`` first, so that every run of a group
    starts from the same carry."""
    for j in prange(active.shape[0]):
        b = active[j]
        x = X[b]
        step = step_counts[b] + nit[b] + 1
        if segments is None:
            k = setting[b]
            carry = take_step(x, G[b], (row_of(S0, b), row_of(S1, b), row_of(S2, b),
                                        row_of(S3, b)),
                              tuple_like(constants[k], constants_like),
                              tuple_like(inputs[k], inputs_like),
                              tuple_like(carries[b], carry_like), step)
            store_tuple(carries[b], carry)
        else:
            for r in range(segments.shape[0]):
                low, high, group = segments[r, 0], segments[r, 1], segments[r, 2]
                k = setting[b] * groups + group
                row = b * groups + group
                carry = take_step(x[low:high], G[b, low:high],
                                  (part(row_of(S0, b), low, high), part(row_of(S1, b), low, high),
                                   part(row_of(S2, b), low, high),
                                   part(row_of(S3, b), low, high)),
                                  tuple_like(constants[k], constants_like),
                                  tuple_like(inputs[k], inputs_like),
                                  tuple_like(carries[row], carry_like), step)
                store_tuple(next_carries[row], carry)
            for group in range(groups):
                copy_into(carries[b * groups + group], next_carries[b * groups + group])
        if bounded:
            project(x, lower[b], upper[b])


@functools.cache
def row_step(rule):
    """The rule's step as minimize's loops take it (:func:`numadam._compiled_loop.step_for`),
    compiled on its own: what :func:`update_rows` calls for each row."""
    return njit(error_model="numpy")(_compiled_loop.step_for(rule))


def accept_rows(active, X, F_new, G_new, previous, F, G, nit, status, ftol, xtol, sign,
                return_best, best_key, best_F, best_X, best_G):
    """After evaluating the active problems at their new points: the policy's tests, row by
    row. A non-finite value restores the row's last finite iterate (status NONFINITE)."""
    for j in prange(active.shape[0]):
        b = active[j]
        x = X[b]
        nit[b] += 1
        if climbed_from_best(return_best, sign, F_new[j], F[b], best_key[b]):
            best_key[b], best_F[b] = sign * F[b], F[b]
            copy_into(best_X[b], previous[b])
            copy_into(best_G[b], G[b])
        nonfinite, step_norm = accept(x, F_new[j], G_new[j], previous[b])
        if nonfinite:
            copy_into(x, previous[b])
            nit[b] -= 1
            status[b] = NONFINITE
            continue
        f_previous = F[b]
        F[b] = F_new[j]
        copy_into(G[b], G_new[j])
        if converged_after_step(F[b], f_previous, step_norm, ftol, xtol):
            status[b] = SUCCESS


@functools.cache
def compiled_pass(function):
    """``function`` (:func:`gtol_stops` or :func:`accept_rows`) compiled in parallel and cached
    on disk, keyed by the code it inlines (the policy's primitives); compiled when first used,
    so that ``import numadam`` pays nothing for it. (:func:`update_rows` takes the rule's
    step as an argument: a function taking a dispatcher cannot be cached on disk.)"""
    return njit(cache=True, parallel=True, error_model="numpy")(keyed_by_sources(function))


def vectorized_loop(objective, take_step, state, constants, constants_like, inputs, inputs_like,
                    carries, carry_like, setting, X, F, G, nit, status, lower, upper, bounded,
                    sign, maxiter, maxfev, gtol, ftol, xtol, callback, every, return_best,
                    F_start, step_counts, last, constants_at=None, segments=None, groups=1):
    """The iteration of :mod:`numadam._policy` for all active problems at once, ``objective``
    (a :class:`~numadam._objective.RowsObjective`) evaluating their rows in one call, the rule
    stepping each row with ``take_step`` (:func:`row_step`).
    Tolerances and ``maxfev`` as the policy takes them (negative: not requested).
    ``constants_at(k)``: the settings' constants for step ``k`` (a learning-rate schedule:
    ``method="spsa"``'s gain), where they change from step to step. ``segments`` and
    ``groups``: the parameter groups (see :func:`update_rows`)."""
    active = np.arange(X.shape[0])
    F0, G0 = objective(X, active)
    F[:], G[:], F_start[:] = F0, G0, F0
    best_key = np.full(X.shape[0], np.inf)
    best_F, best_X, best_G = F.copy(), X.copy(), G.copy()
    bad = ~(np.isfinite(F0) & np.isfinite(G0).all(axis=1))
    status[bad] = NONFINITE
    active = active[~bad]
    previous = X.copy()
    next_carries = carries.copy()  # where a grouped step writes its carries first
    iteration = 0
    while active.size:
        # the policy's budget_left, as masks: each problem with its own count (finite
        # differences add more than one evaluation per iteration)
        active = active[nit[active] < maxiter]
        if maxfev >= 0:
            active = active[objective.nfev[active] < maxfev]
        if gtol >= 0 and active.size:
            compiled_pass(gtol_stops)(active, G, X, lower, upper, bounded, sign, gtol, status)
            active = active[status[active] == MAXITER]
        if not active.size:
            break
        if constants_at is not None:  # the active problems have all taken as many steps
            constants = constants_at(int(nit[active[0]]))
        update_rows(active, take_step, *state, constants, constants_like, inputs, inputs_like,
                    carries, carry_like, setting, X, G, lower, upper, bounded, nit, step_counts,
                    segments, groups, next_carries)
        F_new, G_new = objective(X[active], active)
        stepped = active
        compiled_pass(accept_rows)(active, X, F_new, G_new, previous, F, G, nit, status, ftol,
                                   xtol, sign, return_best, best_key, best_F, best_X, best_G)
        active = active[status[active] == MAXITER]
        iteration += 1
        if callback is not None and iteration % every == 0:
            try:
                callback(OptimizeResult(x=X.copy(), fun=F.copy(), jac=G.copy(), nit=nit.copy(),
                                        status=status.copy()))
            except StopIteration:
                # as minimize, whose callback comes before its ftol/xtol tests: a problem that
                # met one at this very step reports the stop too
                status[stepped[status[stepped] == SUCCESS]] = CALLBACK_STOP
                status[active] = CALLBACK_STOP
                break
    last[:] = X  # the last iterates
    worse = best_is_lower(best_key, sign, F)  # elementwise on the rows
    X[worse], F[worse], G[worse] = best_X[worse], best_F[worse], best_G[worse]


def to_evaluation_point(steps, setting, state, X, F, G, status, fun, jac, jac_out, args,
                         batch_args, objective, nfev, njev, jitted, lower, upper, bounded, sign,
                         gtol, segments=None, groups=1):
    """Schedule-free rules: as ``minimize`` does, move every finished problem from its gradient
    point to its evaluation point, project it onto its bounds and evaluate there; a problem
    whose value or gradient is not finite there keeps its last iterate, with status 3, and
    one that stopped at ``gtol`` keeps it where the gradient there does not meet ``gtol``
    (the policy's :func:`~numadam._policy.answer_stands`). With parameter groups, each run
    with its group's constants (``segments``, ``groups``: see :func:`update_rows`)."""
    rule = steps[0].variant.rule
    loops = kernels.for_rule(rule.modes["eval"])
    rows = np.flatnonzero(status != NONFINITE)
    iterates = X[rows], F[rows], G[rows]  # copies (fancy indexing)
    runs = [(0, X.shape[1], 0)] if segments is None else segments.tolist()
    for b in rows:
        for low, high, group in runs:
            step = steps[setting[b] * groups + group]
            every = {**step.hyperparameters, **step.variant.fixed}
            constants = tuple(float(v) for v in rule.mode_constants("eval", every, float))
            loops.serial(X[b, low:high], X[b, low:high],
                         *(None if S is None else S[b, low:high] for S in state[:3]),
                         constants, ())
        if bounded:  # the evaluation point extrapolates past the iterates, out of the box
            project(X[b], lower[b], upper[b])
    if jitted:
        for b in rows:
            extra = tuple(array[b] for array in batch_args) + args
            F[b], G[b] = evaluate_row(fun, jac, jac_out, X[b], extra)
            nfev[b] += 1
            njev[b] += 1
    elif rows.size:
        F[rows], G[rows] = objective(X[rows], rows)
    bad = ~(np.isfinite(F[rows]) & np.isfinite(G[rows]).all(axis=1))
    # the last iterate stands where the answer is not finite (status NONFINITE), or where the
    # run stopped at gtol and the answer does not meet it (status kept)
    fallback = bad.copy()
    fallback[~bad] = ~answers_stand(rows[~bad], status, G, X, lower, upper, bounded, sign, gtol)
    if fallback.any():
        X[rows[fallback]], F[rows[fallback]], G[rows[fallback]] = (values[fallback]
                                                                   for values in iterates)
        status[rows[bad]] = NONFINITE


def explain_typing_error(fun, jac, jac_out, x, extra):
    """Raise minimize's clear error when Numba could not compile the batch loop because ``fun``
    or ``jac`` returns the wrong kind of value for one problem's row; return otherwise (the
    caller re-raises Numba's error)."""
    try:
        f, g = evaluate_row(fun, jac, jac_out, x, extra)
    except Exception:  # noqa: BLE001 - the functions fail on their own: Numba's error stands
        return
    if np.ndim(f) != 0:
        raise ValueError(f"fun must return a scalar for one problem's row (jitted form), got "
                         f"an array of shape {np.shape(f)}")
    if np.shape(g) != x.shape:
        raise ValueError(f"jac must return an array of shape {x.shape} like a row of x0, got "
                         f"shape {np.shape(g)}")
