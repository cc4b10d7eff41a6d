"""Resumable runs: the optimizer state a ``minimize`` or ``minimize_batch`` result carries
(``result.state``) and the ``state`` option that takes it back.

``minimize``
    ``result.state`` is the optimizer's :meth:`~numadam.Optimizer.state_dict` at the end of the
    run: ``{"step", "hyperparameters", "state"}`` (and ``"carry"``, ``"mode"`` for the rules
    that have them), loadable into an optimizer of the method over ``result.x`` with
    :meth:`~numadam.Optimizer.load_state_dict`. Where the answer ``x`` is not the last iterate
    (a rule with train and eval modes, schedule-free, answers at its evaluation point; iterate
    averaging at the average; ``return_best`` at the lowest point when the run climbed at its
    end), it also holds ``"iterate"``, the last iterate (the gradient point): a run resumed
    with it restarts there, bitwise, and ``x0`` only gives the size (the switch from an
    evaluation point back to the gradient point is not exact in floating point). Where
    ``return_best`` returned the lowest point, ``"best"`` holds it (``x``, ``fun``, ``jac``):
    the resumed run returns it where it finds nothing lower, as one run would. Drop those two
    keys to load the rest into an optimizer.

``minimize_batch``
    ``result.state`` stacks every problem's: ``"step"`` an int64 array (B,);
    ``"hyperparameters"`` each a scalar, or an array with a first axis of B for a per-problem
    one; ``"state"`` each vector as a (B, n) array ((B, 0) when unused); ``"carry"`` each
    scalar as a (B,) array; ``"mode"``; ``"iterate"`` (B, n) where some answer is not its
    last iterate; ``"best"`` with ``x``, ``jac`` (B, n) and ``fun`` (B,), NaN for a problem
    whose answer was its last iterate. Problem ``b``'s own state dict is :func:`problem_state`
    of it.

Resuming from ``x0 = result.x`` and ``options={"state": result.state}``, with the same options,
continues the run: its step count continues (so do the bias corrections), and ``N`` iterations
then ``N`` more give the result of ``2N`` at once, bitwise, in every loop. ``nit`` and ``nfev``
count the resumed call's own iterations and evaluations (``maxiter`` is this call's budget);
``result.state["step"]`` counts them all. The hyperparameters are the call's (its options and
the defaults, as when creating an optimizer), so a resumed run may change the learning rate;
those fixed at creation (``amsgrad``, whether momentum is on) must equal the saved ones.

Iterate averaging starts a new average (the continuation is exact for the iterates, not for
the average). A run that stopped on a non-finite value keeps the state changes of its rejected
step, as the optimizer does.

A state that does not fit (another method's, another size or dtype, missing or extra keys, a
negative step, values no step could produce) raises a ``ValueError`` naming the problem, before
anything runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numadam import kernels

__all__ = ["BEST", "ITERATE", "batch_rows_of", "batch_state", "concatenate_states",
           "continue_best", "continue_best_rows", "load_batch_state", "load_state",
           "problem_state", "replaced", "result_state"]

#: The key of the last iterate in a state whose result's ``x`` is another point.
ITERATE = "iterate"

#: The key of the lowest point so far (``x``, ``fun``, ``jac``), where ``return_best`` put it
#: in the last iterate's place.
BEST = "best"


def _not_fitting(method, where, error):
    return ValueError(f"options['state'] does not fit method {method!r} {where}: {error}")


def _checked_dict(state):
    if not isinstance(state, dict):
        raise ValueError(f"options['state'] must be a dict, the `state` of an earlier result "
                         f"(or an Optimizer.state_dict()), got {type(state).__name__}")
    return state


def load_state(optimizer, state, method, x):
    """Load ``state`` (``minimize``'s ``state`` option) into ``optimizer``, created over ``x``
    with the call's hyperparameters, which it keeps; move ``x`` to the gradient point (the
    saved ``iterate``, or the train mode's point of an evaluation point without one). Checked
    whole before anything changes: a ``ValueError`` naming what does not fit."""
    state = dict(_checked_dict(state))
    iterate = state.pop(ITERATE, None)
    best = state.pop(BEST, None)
    where = f"with x0 of size {x.shape[0]} and dtype {x.dtype}"
    if best is not None:
        if (not isinstance(best, dict) or set(best) != {"x", "fun", "jac"}
                or not all(_finite_vector(best[key], x.shape) for key in ("x", "jac"))
                or not isinstance(best["fun"], float) or not np.isfinite(best["fun"])):
            raise _not_fitting(method, where, f"{BEST!r} must be a dict of a finite point "
                               f"'x' of shape {x.shape}, its value 'fun' and gradient 'jac'")
    if iterate is not None:
        if not _finite_vector(iterate, x.shape):
            raise _not_fitting(method, where, f"{ITERATE!r} must be a finite array of "
                               f"shape {x.shape}")
        if "mode" in state:
            state["mode"] = "train"
    call = optimizer.hyperparameters
    try:
        optimizer.load_state_dict(state)
    except (TypeError, ValueError) as error:
        raise _not_fitting(method, where, error) from None
    for name, value in call.items():  # the call's, those fixed at creation checked equal
        if not _same(optimizer.hyperparameters[name], value):
            setattr(optimizer, name, value)
    if iterate is not None:
        x[:] = iterate
    elif getattr(optimizer, "mode", "train") != "train":
        optimizer.train()  # moves x from the evaluation point
    return best


def _finite_vector(value, shape):
    return isinstance(value, np.ndarray) and value.shape == shape and bool(
        np.isfinite(value).all())


def replaced(x, last):
    """Whether the answer ``x`` is another point than the last iterate ``last`` (then
    ``f`` differs too: the loops replace the last iterate only by a lower point). By their
    bytes for a short vector: a fraction of ``np.array_equal``'s microseconds."""
    if x.shape[0] <= 64:
        return x.tobytes() != last.tobytes()
    return not np.array_equal(x, last)


def continue_best(x, f, g, last, saved, sign):
    """After a resumed run with ``return_best``: ``saved`` (the earlier runs' lowest point, or
    ``None``) in ``x``'s place where it is lower than this run's answer, as one run of all
    their iterations would return it (``x`` the answer, ``last`` the last iterate: this run
    replaced it where they differ, and then an equal value keeps the earlier point, as one
    run's strict comparisons do). Returns ``(f, g)``."""
    if saved is None:
        return f, g
    key, current = sign * saved["fun"], sign * f
    if key < current or (key == current and replaced(x, last)):
        x[:] = saved["x"]
        return saved["fun"], saved["jac"].copy()
    return f, g


def _same(a, b):
    return type(a) is type(b) and a == b


def result_state(optimizer, iterate=None, best=None):
    """``result.state`` of a ``minimize`` run: the optimizer's state dict, the last
    ``iterate`` where the answer is another point, and the lowest point so far where
    ``return_best`` returned it."""
    saved = optimizer.state_dict()
    if iterate is not None:
        saved[ITERATE] = iterate
    if best is not None:
        saved[BEST] = best
    return saved


# ------------------------------------------------------------------------------------------------
# minimize_batch: stacked states
# ------------------------------------------------------------------------------------------------


def batch_state(steps, setting, vectors, carries, step_counts, per_problem, iterates,
                best=None, param_groups=None, base=None):
    """``result.state`` of a ``minimize_batch`` run: every problem's state stacked.

    ``steps``: an optimizer per hyperparameter setting, ``setting`` the one of each problem;
    ``vectors``: the rule's state matrices (``None`` where unused); ``carries``: (B, k) scalar
    state; ``step_counts``: (B,); ``per_problem``: the per-problem hyperparameter arrays;
    ``iterates``: the last iterates (B, n) where an answer is another point, else ``None``;
    ``best``: the lowest points (``fun`` NaN for a problem whose answer is its last iterate);
    ``param_groups``: with parameter groups, each group's ``{"segments": [[start, stop],
    ...], **its own hyperparameters}``, saved with the state (each problem's carried scalars
    are then (B, groups) arrays, ``carries`` having a row per problem and group); ``base``:
    the first setting's optimizer without the groups' hyperparameters (``steps[0]`` without
    groups), whose hyperparameters are the batch's."""
    first = steps[0]
    base = first if base is None else base
    B = len(setting)
    hyperparameters = {name: (np.array(per_problem[name]) if name in per_problem else value)
                       for name, value in base.hyperparameters.items()}
    state = {}
    for name, matrix in zip(first.state_names, vectors):
        state[name] = np.zeros((B, 0)) if matrix is None else matrix.copy()
    saved: dict[str, Any] = {"step": np.array(step_counts, np.int64),
                             "hyperparameters": hyperparameters, "state": state}
    saved_first = first.state_dict()
    if "carry" in saved_first:
        per_group = carries.shape[0] // B
        saved["carry"] = {name: carries[:, i].reshape(B, per_group).copy() if param_groups
                          else carries[:, i].copy()
                          for i, name in enumerate(saved_first["carry"])}
    if param_groups is not None:
        saved["param_groups"] = param_groups
    if "mode" in saved_first:
        saved["mode"] = "eval"
    if iterates is not None:
        saved[ITERATE] = iterates
    if best is not None:
        saved[BEST] = best
    return saved


def problem_state(state, b):
    """Problem ``b``'s own state dict from a batch's stacked ``state`` (what its own
    ``minimize`` run would return as ``result.state``)."""
    state = _checked_dict(state)
    one = {}
    for key, value in state.items():
        if key == "step":
            one[key] = int(np.asarray(value)[b])
        elif key == "hyperparameters":
            one[key] = {name: _problem_value(v, b) for name, v in value.items()}
        elif key == "state":
            one[key] = {name: np.array(matrix[b]) for name, matrix in value.items()}
        elif key == "carry" and "param_groups" in state:  # a dict per group, as minimize's
            one[key] = [{name: float(v[b, g]) for name, v in value.items()}
                        for g in range(len(state["param_groups"]))]
        elif key == "carry":
            one[key] = {name: float(v[b]) for name, v in value.items()}
        elif key == "param_groups":  # each group's hyperparameters over the problem's
            base = {name: _problem_value(v, b) for name, v in state["hyperparameters"].items()}
            one[key] = [{**base, **group} for group in value]
        elif key == ITERATE:
            one[key] = np.array(value[b])
        elif key == BEST:
            if np.isfinite(value["fun"][b]):  # a problem whose answer was its last iterate: none
                one[key] = {"x": np.array(value["x"][b]), "fun": float(value["fun"][b]),
                            "jac": np.array(value["jac"][b])}
        else:
            one[key] = value
    return one


def _problem_value(value, b):
    if isinstance(value, np.ndarray):
        row = value[b]
        return tuple(row.tolist()) if row.ndim else row.item()
    return value


def batch_rows_of(state, rows):
    """The stacked ``state`` of the problems ``rows`` (a slice): an MPI rank's block."""
    state = _checked_dict(state)

    def cut(value):
        return value[rows] if isinstance(value, np.ndarray) and value.ndim else value

    return {key: ({name: cut(v) for name, v in value.items()} if isinstance(value, dict)
                  else cut(value)) for key, value in state.items()}


def concatenate_states(states):
    """One stacked state from the stacked states of consecutive blocks of a batch (the MPI
    ranks' blocks, in rank order): every per-problem array joined along its first axis."""
    first = states[0]

    def join(values):
        return (np.concatenate(values) if isinstance(values[0], np.ndarray)
                and values[0].ndim else values[0])

    joined = {}
    for key, value in first.items():
        if isinstance(value, dict):
            joined[key] = {name: join([state[key][name] for state in states]) for name in value}
        else:
            joined[key] = join([state[key] for state in states])
    return joined


def load_batch_state(state, steps, setting, vectors, carries, X, method, param_groups=None,
                     segments=None, base=None):
    """Load the stacked ``state`` (``minimize_batch``'s option) into the batch's state
    matrices ``vectors``, ``carries`` (B, k) and points ``X`` (B, n), in place; returns the
    step count of each problem (B,) int64. With parameter groups (``param_groups`` as
    :func:`batch_state` takes them, which must be those the state was saved with, and their
    runs ``segments``), ``carries`` has a row per problem and group and ``steps[k * G + g]``
    is setting ``k``'s optimizer for group ``g`` (``base``: the first setting's without the
    groups' hyperparameters).

    Checked whole before anything changes, with the checks of
    :meth:`~numadam.Optimizer.load_state_dict` (keys, sizes, dtype, finite values, the
    hyperparameters fixed at creation, the rule's state invariants) run on every problem's
    rows at once: a ``ValueError`` naming what does not fit, and the problem where it is one.
    """
    B, n = X.shape
    first = steps[0]
    rule = first.variant.rule
    template = first.state_dict()  # its keys and names; a vector of size 0 is an unused one

    def fail(text):
        return _not_fitting(method, f"with x0 of shape {X.shape}", text)

    per_group = carries.shape[0] // B  # the groups' count (1 without groups)
    state = _checked_dict(state)
    keys = set(template) | ({"param_groups"} if param_groups is not None else set())
    if set(state) - {ITERATE, BEST} != keys:
        if "param_groups" in state and param_groups is None:
            raise fail("it was saved with parameter groups: pass the same groups option")
        raise fail(f"it must hold the keys {sorted(keys)}, as the `state` of a "
                   f"minimize_batch result, got {sorted(state)}")
    if param_groups is not None and state["param_groups"] != param_groups:
        raise fail(f"it was saved with the parameter groups {state['param_groups']!r}, not "
                   f"these ({param_groups!r}): pass the same groups option")
    counts = state["step"]
    if (not isinstance(counts, np.ndarray) or counts.shape != (B,)
            or counts.dtype.kind not in "iu"):
        raise fail(f"state['step'] must be an integer array of shape ({B},), one count per "
                   f"problem, got {_described(counts)}")
    wrong = (counts < 0) | (counts >= 2**62)
    if wrong.any():
        b = int(np.argmax(wrong))
        raise fail(f"state['step'] must be non-negative and below 2**62, got {counts[b]} "
                   f"(problem {b})")
    _check_saved_hyperparameters(state["hyperparameters"], first if base is None else base,
                                 fail)
    loaded = {}
    for key, names in (("state", tuple(template["state"])),
                       ("carry", tuple(template.get("carry", ())))):
        saved = state.get(key, {})
        if not isinstance(saved, dict) or set(saved) != set(names):
            raise fail(f"state[{key!r}] must hold exactly {list(names)}, got "
                       f"{sorted(saved) if isinstance(saved, dict) else _described(saved)}")
        for name in names:
            shape = (((B, per_group) if param_groups is not None else (B,)) if key == "carry"
                     else (B, n if template[key][name].size else 0))
            loaded[name] = _checked_rows(saved[name], shape, f"state[{key!r}][{name!r}]", fail)
    iterate = state.get(ITERATE)
    if iterate is not None:
        iterate = _checked_rows(iterate, (B, n), f"state[{ITERATE!r}]", fail)
    best = state.get(BEST)
    if best is not None:
        if not isinstance(best, dict) or set(best) != {"x", "fun", "jac"}:
            raise fail(f"state[{BEST!r}] must hold 'x', 'fun' and 'jac'")
        fun = best["fun"]
        if not isinstance(fun, np.ndarray) or fun.shape != (B,) or fun.dtype != np.float64:
            raise fail(f"state[{BEST!r}]['fun'] must be a float64 array of shape ({B},)")
        for name in ("x", "jac"):
            _checked_rows(best[name], (B, n), f"state[{BEST!r}][{name!r}]", fail)
    mode = state.get("mode")
    if rule.modes and mode not in rule.modes:
        raise fail(f"state['mode'] must be one of {list(rule.modes)}, got {mode!r}")
    _check_invariants(rule, steps[::per_group], setting, counts, loaded, fail)
    for matrix, name in zip(vectors, template["state"]):
        if matrix is not None:
            matrix[:] = loaded[name]
    for i, name in enumerate(template.get("carry", ())):
        carries[:, i] = loaded[name].ravel()  # row b * groups + g, as (B, groups) is laid out
    if iterate is not None:
        X[:] = iterate
    elif rule.modes and mode != next(iter(rule.modes)):  # evaluation points: to train mode
        train = kernels.for_rule(rule.modes[next(iter(rule.modes))]).serial
        rows = vectors[:3]  # a rule with modes is elementwise: three state slots
        runs = [(0, n, 0)] if segments is None else segments.tolist()
        for b in range(B):
            for low, high, group in runs:
                step = steps[setting[b] * per_group + group]
                every = {**step.hyperparameters, **step.variant.fixed}
                constants = tuple(float(v) for v in rule.mode_constants(
                    next(iter(rule.modes)), every, float))
                train(X[b, low:high], X[b, low:high],
                      *(None if m is None else m[b, low:high] for m in rows), constants, ())
    return counts.astype(np.int64), best


def continue_best_rows(X, F, G, last, saved, sign):
    """:func:`continue_best` for every problem of a batch, in place (``saved``: the stacked
    lowest points, ``fun`` NaN where a problem has none)."""
    if saved is None:
        return
    key, current = sign * saved["fun"], sign * F
    take = (key < current) | ((key == current) & ~(X == last).all(axis=1))
    X[take], F[take], G[take] = saved["x"][take], saved["fun"][take], saved["jac"][take]


def _described(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def _checked_rows(value, shape, name, fail):
    """A float64 array of ``shape``, finite: ``value`` as it is, or a ValueError."""
    if not isinstance(value, np.ndarray) or value.dtype != np.float64 or value.shape != shape:
        raise fail(f"{name} must be a float64 array of shape {shape}, one row per problem, "
                   f"got {_described(value)}")
    finite = np.isfinite(value).reshape(shape[0], -1).all(axis=1)
    if not finite.all():
        raise fail(f"{name} holds NaN or inf (problem {int(np.argmin(finite))})")
    return value


def _check_saved_hyperparameters(saved, first, fail):
    """The saved hyperparameters' names are the method's, and those fixed at creation (which
    decide the state vectors) equal the call's. The others are the call's to set."""
    names = first.hyperparameter_names()
    if not isinstance(saved, dict) or set(saved) != set(names):
        raise fail(f"state['hyperparameters'] must hold exactly {list(names)}, got "
                   f"{sorted(saved) if isinstance(saved, dict) else _described(saved)}")
    specs = first.variant.hyperparameters()
    call = first.hyperparameters
    for name in names:
        if specs[name].fixed and not np.array_equal(saved[name], call[name]):
            raise fail(f"loaded hyperparameter {name}={saved[name]!r} differs from this "
                       f"call's {call[name]!r}, which is fixed at creation")


def _check_invariants(rule, steps, setting, counts, loaded, fail):
    """The rule's state invariants (:meth:`~numadam.Optimizer.load_state_dict`'s), on the rows
    of every hyperparameter setting and step count at once."""
    groups = np.unique(np.stack([setting, counts]), axis=1).T
    for k, step in groups.tolist():
        rows = np.flatnonzero((setting == k) & (counts == step))
        every = {**steps[k].hyperparameters, **steps[k].variant.fixed}
        values = {name: array[rows] for name, array in loaded.items()}
        for invariant in rule.state_invariants:
            if any(values[name].size == 0 for name in (invariant.entry, *invariant.reads)):
                continue  # a vector unused with these hyperparameters
            holds = np.asarray(invariant.holds(values, every, step))
            holds = np.broadcast_to(holds, values[invariant.entry].shape)
            good = holds.reshape(rows.shape[0], -1).all(axis=1)
            if not good.all():
                b = int(rows[np.argmin(good)])
                raise fail(f"loaded state {invariant.entry!r} must be {invariant.text} "
                           f"(problem {b})")
