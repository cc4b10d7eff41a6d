r"""``minimize_batch``: many small independent problems at once, each with its own state,
hyperparameters and stopping; and ``multistart``, a batch of starts drawn in a box.

::

    result = numadam.minimize_batch(fun, X0, jac=jac, method="adam",
                                    options={"lr": lrs, "gtol": 1e-6}, batch_args=(T, Y))
    result.x          # (B, n): row b is problem b's answer
    result.status     # (B,): minimize's status table, per problem

Two forms
---------
*Jitted* (``fun`` and ``jac`` are ``numba.njit`` functions): ``fun(x_b, *rows_b, *args) ->
float`` and ``jac(...) -> (n,)``, where ``rows_b`` are the rows ``b`` of the ``batch_args``. The
whole run is compiled: problems are spread over all cores with ``prange``, and each runs the very
loop of :func:`numadam.minimize`'s compiled path (``numadam._compiled_loop``) on its own
row, state vectors and hyperparameters, to its own end. No Python call per iteration. As in
``minimize``, the run takes ``fun`` and ``jac`` typed by their signatures and is cached on disk:
a new process compiles only the user's functions (``options={"compiled": "specialize"}``
compiles it for the very functions instead, seconds per objective and process). The
per-step scalars (bias corrections and the like), equal for every problem with the same
hyperparameters, are computed once per step for the batch and read from a table.

*Vectorized* (``fun`` not jitted): ``fun(X, *batch_args, *args) -> (B',)`` and ``jac(...) ->
(B', n)``, called each iteration with only the still-active problems' rows (and their
``batch_args`` rows). ``jac=True`` (``fun`` returns both) and finite differences
(``"2-point"``, ``"3-point"``, SciPy's step rule) work as in ``minimize``. The update of all
active problems is one compiled call.

Which form is decided by ``fun`` alone: a jitted ``fun`` takes one problem's row, always. Where
the jitted form cannot run it (finite differences, a callback, ``compiled=False``, a ``jac``
that is not jitted), the vectorized form's loop calls ``fun`` and ``jac`` row by row from
Python: slower, never handed the matrix. (A jitted function written for whole matrices is
passed wrapped, ``lambda X, *a: f(X, *a)``.)

Either way a problem that meets a tolerance (``gtol``, ``ftol``, ``xtol``), ``maxiter``,
``maxfev`` (its own count of evaluations), or a non-finite value stops alone: its row and
counters freeze and it costs nothing more. Each problem of a batch equals a separate
:func:`numadam.minimize` run with the same method and options, bitwise (``x``, ``fun``, ``nit``,
``nfev``, ``status``): the same kernels, the same scalars, the same tests, in the same order.
The arithmetic is float64. The options of ``minimize`` that act between iterations (schedules,
clipping, averaging), ``finite_diff_rel_step`` and ``device`` are refused with a
``ValueError``, not ignored.

Hyperparameters are scalars or arrays of shape ``(B,)`` (one value per problem), except those
fixed at creation (``amsgrad``, ``centered``, whether momentum is on), which decide what state
exists and so must be scalars. ``comm`` spreads the problems over MPI ranks
(:mod:`numadam.distributed`).
"""


from __future__ import annotations

import numbers
import sys
from typing import Any, NamedTuple

import numpy as np
from numba.core.errors import TypingError
from numba.extending import is_jitted
from scipy.optimize import OptimizeResult

from numadam import _compiled_loop
from numadam._batch_across import minimize_batch_across
from numadam._batch_loops import (
    cached_run,
    explain_typing_error,
    float_rows,
    initial_state,
    per_problem_steps,
    row_step,
    specialized_run,
    spread,
    table_steps,
    to_evaluation_point,
    vectorized_loop,
)
from numadam._compiled_loop import GroupedRule
from numadam._groups import layout_from_ranges
from numadam._inputs import batch_bounds, batch_points, batch_rows
from numadam._objective import RowsObjective, check_row_arity
from numadam._options import (
    BATCH_OPTIONS,
    SPSA,
    batch_method_name,
    batch_settings,
    check_stops,
    count,
    disp_flag,
    generators,
    jac_out_flag,
    return_best_flag,
    spsa_estimate,
    spsa_jac,
    spsa_parts,
    tolerance,
)
from numadam._policy import MAXITER, SUCCESS, descent_sign, final_statuses, message
from numadam._resume import batch_state, continue_best_rows, load_batch_state
from numadam._step_tables import step_table
from numadam._validation import flag
from numadam.callbacks import ProgressBar, chain
from numadam.kernels import group_like

__all__ = ["choose_form", "minimize_batch", "summary"]


def minimize_batch(fun, x0, args=(), method="adam", jac=None, bounds=None, tol=None,
                   callback=None, options=None, *, batch_args=(), comm=None):
    """Minimize B independent problems at once, each with its own state and stopping.

    Parameters
    ----------
    fun : callable
        Jitted: ``fun(x_b, *batch_rows_b, *args) -> float``. Otherwise vectorized:
        ``fun(X, *batch_args_rows, *args) -> (B',)`` for the ``B'`` active problems' rows.
    x0 : array_like, shape (B, n)
        One starting point per row; never modified.
    args : tuple
        Extra arguments shared by all problems (a non-tuple is wrapped).
    method : str, default "adam"
        Any method of :func:`numadam.minimize`.
    jac : callable, True, None, "2-point", "3-point" or "spsa"
        Jitted: ``jac(x_b, *batch_rows_b, *args) -> (n,)``. Vectorized: ``(B', n)``; ``True``
        when ``fun`` returns ``(F, G)``; otherwise finite differences (of a jitted ``fun``, row
        by row from Python), or SPSA's estimate (``"spsa"``, as ``minimize``'s: each problem
        with its own random directions, see ``seed`` below; a vectorized ``fun`` with a
        ``seed`` parameter gets ``seed=`` an array of one seed per row, the same for both
        points of each pair; a jitted ``fun`` gets none).
    bounds : Bounds, sequence of (lo, hi) pairs, or (lower, upper) arrays of shape (B, n)
        Shared ``(n,)`` or per problem ``(B, n)``; enforced by projection.
    tol : float, optional
        Sets ``gtol`` unless ``options`` sets it.
    callback : callable, optional
        Called every ``callback_every`` iterations (an option, default 1; vectorized form only)
        with an ``OptimizeResult`` of the whole batch (``x``, ``fun``, ``jac``, ``nit``,
        ``status``: copies; ``lr``, a scalar or the per-problem array; ``grad_norm`` (B,));
        ``StopIteration`` stops every problem still running (status 99).
    options : dict, optional
        The method's hyperparameters, each a scalar or an array of shape ``(B,)``, and
        ``maxiter``, ``maxfev``, ``gtol``, ``ftol``, ``xtol`` (per problem stopping, as in
        ``minimize``), ``callback_every``, ``compiled``: for jitted ``fun``/``jac``, ``True``
        (default) runs the compiled batch loop from Numba's disk cache, calling ``fun`` and
        ``jac`` through pointers (a new process compiles only them); ``"specialize"`` compiles
        the loop for the very functions (seconds per objective and process); ``False`` runs
        the vectorized form's loop, calling them row by row from Python. ``jac_out=True``:
        the gradient function writes the gradient into an array passed as its last argument
        instead of returning it (``jac(x_b, *rows, *args, out)`` returns nothing; with
        ``jac=True``, ``fun(..., out)`` returns the value; in the vectorized form ``out`` has
        shape (B', n)): no allocation per iteration.

        ``maxfev``: int, None (default) or inf. Each problem stops once ``fun`` has been
        evaluated ``maxfev`` times for it (finite differences included), with status 2 unless
        another stop came first, exactly as its own ``minimize`` run: with a gradient
        function every iteration costs one evaluation, so ``maxfev`` caps ``nit`` at
        ``maxfev - 1``. ``disp``: bool, default False; True prints one summary of the batch at
        the end (problems per status, totals of ``nit``, ``nfev``, ``njev``; with ``comm``,
        on rank 0 only). ``return_best`` as in ``minimize``; ``check_finite`` is accepted and
        ignored, as by ``minimize`` (every problem stops at its first NaN or inf).

        ``seed``, ``spsa_samples``, ``spsa_c``, ``spsa_gamma`` (``jac="spsa"``,
        ``method="spsa"``, whose ``a``, ``A``, ``alpha`` are one value for the batch): problem
        ``b`` draws its directions and seeds as ``minimize`` with
        ``seed=np.random.SeedSequence(seed).spawn(B)[b]`` (``seed`` None, an int or a
        SeedSequence), or with ``seed=seed[b]`` when ``seed`` is a sequence of ``B`` seeds; so
        each problem equals that ``minimize`` run, bitwise, and keeps its draws when the batch
        grows (child ``b`` of a SeedSequence does not depend on ``B``).

        ``state``: a batch result's ``state``, every problem's optimizer state stacked, to
        resume each problem where it stopped (``x0`` its ``x``; see :mod:`numadam._resume`).
        ``progress``: bool, default False; draw a progress bar on stderr (a callback: the
        vectorized form).

        ``groups``: parameter groups by index ranges of a row, as ``minimize``'s
        (``[{"range": (0, 10), "lr": 1e-2}, ...]``, the elements no range covers one more
        group), the same for every problem: a group's hyperparameters override the options'
        (per-problem arrays included) for its elements, and every problem equals its own
        ``minimize`` run with these groups, bitwise. Both forms run them (the jitted form: each
        problem's compiled loop stepping its own group table); a rule with a reduction stage
        takes groups of one run each (cover the row with ranges), in the vectorized form (a
        jitted ``fun`` row by row); no ``maximize`` per group, no ``method="spsa"``. The state
        carries each problem's scalars per group ((B, groups) arrays) and the groups, which a
        resumed run must give again.

        ``minimize``'s other options, ``schedule``, ``schedule_options``, ``clip_norm``,
        ``clip_value``, ``average``, ``average_decay``, ``average_start``,
        ``finite_diff_rel_step`` and ``device``, raise ``ValueError``: the batch does not
        support them (run such problems with ``minimize``). Other unknown names warn
        (``OptimizeWarning``), as in SciPy.
    batch_args : tuple of arrays
        Per-problem data: each array's first axis is B, and its row b belongs to problem b.
    comm : mpi4py intracommunicator, optional
        Solve across the ranks of ``comm`` (:mod:`numadam.distributed`): every rank passes the
        same arguments, solves a contiguous block of the problems, and receives the whole
        result, bitwise equal to one process's. The callback, if any, sees its rank's block,
        and its ``StopIteration`` stops that block's problems only (the ranks do not wait for
        each other between iterations): a run a callback stops is not one process's then.
        An exception on any rank is raised on every rank, as the same kind of error: the
        failing rank's ``ValueError`` or ``TypeError`` (naming that rank on the others),
        ``RuntimeError`` for any other kind; ``disp`` prints the whole batch's summary once,
        on rank 0.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (B, n), ``fun``, ``nit``, ``nfev``, ``njev``, ``status``, ``success`` (arrays of
        length B), ``jac`` (B, n), ``message`` (a list), ``method``, ``compiled``, ``state``
        (every problem's optimizer state, stacked; ``numadam._resume.problem_state`` gives
        one problem's).
    """
    if comm is not None:
        return minimize_batch_across(comm, minimize_batch, summary, fun, x0, args, method, jac,
                                     bounds, tol, callback, options, batch_args)
    method = batch_method_name(method)
    jac = spsa_jac(method, jac)
    X = batch_points(x0)
    B, n = X.shape
    args = args if isinstance(args, tuple) else (args,)
    batch_args = batch_rows(batch_args, B)
    options = dict(options or {})
    if tol is not None:
        options.setdefault("gtol", tol)
    cls, scalars, per_problem, settings = batch_settings(method, options, B)
    gtol, ftol, xtol = (tolerance(k, settings[k]) for k in ("gtol", "ftol", "xtol"))
    any_tolerance = gtol is not None or ftol is not None or xtol is not None
    maxiter = count("maxiter", settings["maxiter"], BATCH_OPTIONS["maxiter"])  # as minimize
    maxfev = count("maxfev", settings["maxfev"], None)
    check_stops(maxiter, maxfev, any_tolerance)
    estimate = spsa_estimate(settings)
    schedule = None
    if method == SPSA:  # SGD stepping by the gain sequence (numadam._options.spsa_parts)
        scalars, schedule = spsa_parts(scalars, maxiter, maxfev, estimate[2])
    maxfev = -1 if maxfev is None else maxfev  # the policy's "no limit"
    tolerances = tuple(-1.0 if tol is None else tol for tol in (gtol, ftol, xtol))
    disp = disp_flag(settings["disp"])
    jac_out = jac_out_flag(settings["jac_out"], jac)
    every = settings["callback_every"]
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ValueError(f"callback_every must be a positive integer, got {every!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    if settings["compiled"] not in (True, False, "specialize"):
        raise ValueError(f"compiled must be True, False or 'specialize', got "
                         f"{settings['compiled']!r}")
    limits = batch_bounds(bounds, B, n)
    if limits is not None:
        np.clip(X, *limits, out=X)
    segments, overrides, param_groups = batch_groups(settings["groups"], cls, n, method)
    groups = len(overrides)  # steps[k * groups + g]: setting k's optimizer for group g
    steps, setting, bases = per_problem_steps(cls, scalars, per_problem, B, overrides)
    compiled = [step.compiled_step() for step in steps]
    state = initial_state(steps, setting, X, segments, groups)
    rule = steps[0].variant.rule
    sign = descent_sign(bases[0].hyperparameters.get("maximize", False))
    bounded = limits is not None
    lower, upper = limits if bounded else (X[:, :0], X[:, :0])
    # the constants, step inputs and carried scalars of each setting as rows of float arrays,
    # turned back into the rule's tuples inside the compiled loops (a typed List of tuples
    # would compile its methods in every process: 0.6 s)
    constants = float_rows([step.constants for step in compiled])
    inputs = float_rows([step.inputs for step in compiled])
    status = np.full(B, MAXITER, np.int64)
    nit = np.zeros(B, np.int64)
    F = np.full(B, np.nan)
    G = np.zeros((B, n))
    # row b * groups + g: problem b's carry in group g
    carries = np.ascontiguousarray(float_rows([step.carry for step in compiled])[
        (setting[:, None] * groups + np.arange(groups)).ravel()])
    resumed = settings["state"] is not None
    saved_best = None  # the lowest points of the runs a state continues
    if resumed:  # every problem's saved state, checked whole before anything runs
        step_counts, saved_best = load_batch_state(settings["state"], steps, setting, state,
                                                   carries, X, method, param_groups,
                                                   segments, bases[0])
        if limits is not None:
            np.clip(X, *limits, out=X)
    else:
        step_counts = np.zeros(B, np.int64)
    F_start = np.full(B, np.nan)
    last = X.copy()  # each problem's last iterate, where return_best puts another point in X
    # as minimize: the lowest iterate is returned if the run ends above it
    return_best = return_best_flag(options, jac) and not rule.modes
    bar = None
    if flag("progress", settings["progress"]):  # closed below, once the loop ran
        bar = ProgressBar(total=None if maxiter == sys.maxsize else maxiter)
    callback = observed(chain(callback, bar), bases[0].hyperparameters, per_problem)
    # a rule with a reduction stage runs its groups in the vectorized form only
    form = choose_form(settings, fun, jac, callback,
                       rows_only=segments is not None and rule.reduction is not None)
    if form != "vectorized":
        check_row_arity(fun, jac, len(batch_args), len(args), jac_out)
    if form == "jitted":
        # as minimize's compiled path: every iteration evaluates fun once, so maxfev caps the
        # iterations
        cap = maxiter if maxfev < 0 else min(maxiter, max(maxfev - 1, 0))
        nfev = np.zeros(B, np.int64)
        scalars_like = tuple(0.0 for _ in compiled[0].step_scalars(compiled[0].inputs,
                                                                   compiled[0].carry, 1)[0])
        setting_carries = float_rows([step.carry for step in compiled])
        # a resumed run computes every step's scalars: the table counts from step 1 and the
        # rule's initial carry
        # (a rule with a reduction has none: its steps' scalars follow from the sums)
        rows = (0 if resumed or rule.reduction or segments is not None
                else table_steps(cap, len(compiled), B))
        tables = np.empty((len(compiled), rows, len(scalars_like) + setting_carries.shape[1]))
        if rows:
            step_table(rule)(inputs, compiled[0].inputs, setting_carries, compiled[0].carry,
                             tables)
        filled = np.array([tables.shape[1]])  # every row, read only (the problems run at once)
        stepper, run_constants, run_inputs, run_carries = rule, constants, inputs, carries
        if segments is not None:  # each problem's group table, the groups' driver its step
            first = compiled[0]
            stepper = GroupedRule.of(rule, group_like(first.constants, first.inputs,
                                                       first.carry))
            run_inputs, tables = group_tables(compiled, setting, carries, groups,
                                              len(scalars_like))
            run_constants, run_carries = segments, np.zeros((B, 0))  # carries: in the tables
        arguments = RunArguments(
            fun, None if jac is True else jac, args, batch_args, *state, run_constants,
            compiled[0].constants, run_inputs, compiled[0].inputs, tables, filled, scalars_like,
            run_carries, compiled[0].carry if segments is None else (), setting, X, lower,
            upper, bounded, sign, int(cap), *tolerances, return_best, status, nit, F, G, nfev,
            F_start, step_counts + 1, last, np.empty((B, 2, n)) if jac_out else None)
        try:
            run = (specialized_run(stepper) if settings["compiled"] == "specialize"
                   else cached_run(stepper, arguments, X[0]))
            spread(run, arguments)
        except TypingError:  # raised while compiling, before anything ran
            explain_typing_error(fun, jac, jac_out, X[0].copy(),
                                 tuple(array[0] for array in batch_args) + args)
            raise
        if (status == -1).any():
            raise ValueError(f"jac must return an array of shape ({n},) like a row of x0")
        if segments is not None:  # each problem's carry per group, from its group table
            carry_width = carries.shape[1]
            carries[:] = run_inputs[:, :, run_inputs.shape[2] - carry_width:].reshape(
                carries.shape)
        njev = nfev.copy()
        objective = None
    else:
        spsa = ((generators(settings["seed"], B), *estimate)
                if isinstance(jac, str) and jac == "spsa" else None)
        objective = RowsObjective(fun, jac, args, batch_args, B, n, jac_out, limits,
                                  per_row=form == "rows", spsa=spsa)
        constants_at = None
        if schedule is not None:
            def constants_at(k):  # the settings' constants at the learning rate of step k
                for step in steps:
                    step.lr = schedule(k)
                return float_rows([step.compiled_step().constants for step in steps])
        vectorized_loop(objective, row_step(rule), state, constants, compiled[0].constants,
                        inputs, compiled[0].inputs, carries, compiled[0].carry, setting, X, F, G,
                        nit, status, lower, upper, bounded, sign, maxiter, maxfev, *tolerances,
                        callback, every, return_best, F_start, step_counts, last, constants_at,
                        segments, groups)
        nfev, njev = objective.nfev, objective.njev
    if bar is not None:
        bar.close()
    nfev_of_loop = nfev.copy()  # before a schedule-free rule's last evaluation
    if return_best:  # a resumed run returns the lowest point of all its runs, as one run would
        continue_best_rows(X, F, G, last, saved_best, sign)
    # where an answer is not the last iterate, the state keeps the iterates too, and the lowest
    # points where return_best put them in their place
    replaced = ~(X == last).all(axis=1)
    best = None
    if replaced.any():
        best = {"x": X.copy(), "fun": np.where(replaced, F, np.nan), "jac": G.copy()}
    iterates = last if rule.modes or best is not None else None
    if rule.modes:
        to_evaluation_point(steps, setting, state, X, F, G, status, fun, jac, jac_out, args,
                            batch_args, objective, nfev, njev, form == "jitted", lower, upper,
                            bounded, sign, tolerances[0], segments, groups)
    # the policy's final status, for all problems at once (a Python loop over the problems
    # took 10 ms of the 0.35 s of B = 20,000 small fits)
    final_statuses(status, nfev_of_loop, maxfev, any_tolerance, sign, F, F_start)
    if objective is not None and objective.estimates_values:  # SPSA: f at the answers
        F[:] = objective.values(X, np.arange(B))
    messages = {code: message(code, any_tolerance) for code in np.unique(status).tolist()}
    result = OptimizeResult(x=X, fun=F, jac=G, nit=nit, nfev=nfev, njev=njev, status=status,
                            success=status == SUCCESS,
                            message=[messages[code] for code in status.tolist()],
                            method=method, compiled=form == "jitted",
                            state=batch_state(steps, setting, state, carries, step_counts + nit,
                                              per_problem, iterates, best, param_groups,
                                              bases[0]))
    if disp:
        print(summary(result))
    return result


def batch_groups(groups, cls, n, method):
    """``(segments, overrides, param_groups)`` of the ``groups`` option: the runs as int64
    rows ``(start, stop, group)``, each group's hyperparameters
    (:func:`numadam._groups.layout_from_ranges`, the elements no range covers a last group)
    and both as the state records them, ``[{"segments": [[start, stop], ...],
    **hyperparameters}]``; ``(None, ({},), None)`` without groups."""
    if groups is None:
        return None, ({},), None
    if method == SPSA:
        raise ValueError("groups cannot be combined with method='spsa', whose gain is one "
                         "sequence for the batch")
    layout = layout_from_ranges(np.zeros(n), groups, cls.hyperparameter_names())
    if any("shape" in entry for entry in layout.entries):
        raise ValueError("minimize_batch takes no group 'shape' (it decides only Adafactor's "
                         "factored form, which the optimizer classes and minimize run)")
    if any("maximize" in override for override in layout.overrides):
        raise ValueError("maximize must be one value for the whole batch, not a group's")
    rule = cls.variant.rule
    if rule.reduction is not None and any(len(runs) > 1 for runs in layout.segments):
        raise ValueError(f"method {rule.name!r} sums over each group's elements: in "
                         f"minimize_batch each group must be one run of x (the elements no "
                         f"range covers form a group too: cover x with ranges)")
    param_groups = [{"segments": [list(run) for run in runs], **override}
                    for runs, override in zip(layout.segments, layout.overrides)]
    return layout.table(), layout.overrides, param_groups


def group_tables(compiled, setting, carries, groups, scalars):
    """``(tables, scratch)`` of the jitted form with parameter groups: problem ``b``'s group
    table ``tables[b]`` (row ``g``: group ``g``'s constants, step inputs and carry, as an
    optimizer's, :func:`numadam.kernels.grouped_for_rule`), its carries from ``carries`` (a
    row per problem and group); ``scratch[b]`` the driver's."""
    B = setting.shape[0]
    rows = float_rows([(*step.constants, *step.inputs, *step.carry) for step in compiled])
    tables = rows.reshape(-1, groups, rows.shape[1])[setting]  # a copy per problem
    width = carries.shape[1]
    if width:
        tables[:, :, rows.shape[1] - width:] = carries.reshape(B, groups, width)
    return tables, np.zeros((B, groups, scalars + width))


def choose_form(settings, fun, jac, callback, rows_only=False):
    """Which form runs a batch, decided by ``fun``: a jitted ``fun`` takes one problem's row
    (the jitted form's protocol), any other the active rows at once.

    - ``"jitted"`` (every problem's compiled loop, in parallel): jitted ``fun`` and ``jac``
      (or ``jac=True``), no callback, ``compiled`` not off, not ``rows_only`` (parameter
      groups of a rule with a reduction stage);
    - ``"rows"``: a jitted ``fun`` that form cannot run (finite differences, a callback,
      ``compiled=False``, a Python ``jac``): the vectorized form's loop, calling ``fun`` and
      ``jac`` row by row from Python (:class:`numadam._objective.RowByRow`), never with the
      matrix;
    - ``"vectorized"``: anything else (``fun`` and ``jac`` take the active rows at once).
    """
    if not is_jitted(fun):
        return "vectorized"
    if (settings["compiled"] is not False and callback is None and not rows_only
            and _compiled_loop.is_jitted_pair(fun, jac)):
        return "jitted"
    return "rows"


class RunArguments(NamedTuple):
    """The arguments of the jitted form's compiled run (:func:`numadam._batch_loops.run_source`),
    by name."""

    fun: Any
    jac: Any
    args: tuple
    batch_args: tuple
    S0: Any
    S1: Any
    S2: Any
    S3: Any
    constants: np.ndarray
    constants_like: tuple
    inputs: np.ndarray
    inputs_like: tuple
    tables: np.ndarray
    filled: np.ndarray
    scalars_like: tuple
    carries: np.ndarray
    carry_like: tuple
    setting: np.ndarray
    X: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    bounded: bool
    sign: float
    maxiter: int
    gtol: float
    ftol: float
    xtol: float
    return_best: bool
    status: np.ndarray
    nit: np.ndarray
    F: np.ndarray
    G: np.ndarray
    nfev: np.ndarray
    F_start: np.ndarray
    first_steps: np.ndarray
    last: np.ndarray
    buffers: Any


def observed(callback, hyperparameters, per_problem):
    """``callback`` given what a callback of :mod:`numadam.callbacks` reads besides the
    batch's arrays: ``lr`` (a scalar, or the per-problem array) and ``grad_norm`` (B,)."""
    if callback is None:
        return None
    lr = per_problem.get("lr", hyperparameters.get("lr"))

    def call(result):
        result["lr"] = lr
        result["grad_norm"] = np.linalg.norm(result["jac"], axis=1)
        callback(result)

    return call


def summary(result):
    """``disp=True``: minimize prints a summary of its run; the batch prints one of all its
    problems: how many ended with each status, and the totals of the counters."""
    status = result.status
    lines = [f"minimize_batch: {int(result.success.sum())} of {status.size} problems "
             f"terminated successfully."]
    for code in np.unique(status).tolist():
        first = int(np.argmax(status == code))
        lines.append(f"         Status {code}: {int((status == code).sum())} "
                     f"({result.message[first]})")
    lines += [f"         Iterations: {int(result.nit.sum())} in all, at most "
              f"{int(result.nit.max())} per problem",
              f"         Function evaluations: {int(result.nfev.sum())} in all",
              f"         Gradient evaluations: {int(result.njev.sum())} in all"]
    return "\n".join(lines)
