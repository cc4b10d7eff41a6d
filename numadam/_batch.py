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

*Vectorized* (anything else): ``fun(X, *batch_args, *args) -> (B',)`` and ``jac(...) -> (B', n)``,
called each iteration with only the still-active problems' rows (and their ``batch_args`` rows).
``jac=True`` (``fun`` returns both) and finite differences (``"2-point"``, ``"3-point"``, SciPy's
step rule) work as in ``minimize``. The update of all active problems is one compiled call.

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

import functools
import numbers

import numpy as np
from numba import njit, prange, typeof, types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable
from scipy.optimize import Bounds, OptimizeResult
from scipy.optimize._numdiff import (  # SciPy's own step rules, as minimize's approx_derivative
    _adjust_scheme_to_bounds,
    _compute_absolute_step,
)

from numadam import _compiled_loop, kernels
from numadam._cache import keyed_by_sources
from numadam._compiled_loop import (
    accept,
    converged_after_step,
    max_abs,
    max_abs_projected,
    row_of,
)
from numadam._minimize import (
    COMMON_OPTIONS,
    METHODS,
    OPTION_DEFAULTS,
    STATUS_MESSAGES,
    _count,
    _method_name,
    _tolerance,
    check_box,
    check_stops,
    disp_flag,
    jac_out_flag,
    split_options,
)
from numadam._step_tables import (
    beyond_table,
    jitable_step_scalars,
    step_table,
    store_tuple,
    tuple_like,
)
from numadam._validation import flag

__all__ = ["minimize_batch", "multistart"]

_UNSET = object()

#: The options of minimize_batch besides the method's hyperparameters.
BATCH_OPTIONS = {
    "maxiter": 1000,
    "maxfev": None,
    "gtol": None,
    "ftol": None,
    "xtol": None,
    "callback_every": 1,
    "compiled": True,
    "return_best": True,
    "jac_out": False,
    "disp": False,
    # accepted and ignored, as by minimize: every problem stops at its first NaN/inf
    "check_finite": None,
}

#: minimize's options that minimize_batch refuses (ValueError) rather than ignores: schedules,
#: clipping and averaging act in minimize's Python loop between iterations, and the batch has
#: no finite_diff_rel_step or device. Any later option of minimize lands here until the batch
#: supports it.
REFUSED_OPTIONS = tuple(name for name in COMMON_OPTIONS if name not in BATCH_OPTIONS)


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


def _batch_points(x0):
    X = np.asarray(x0)
    if X.dtype.kind not in "biuf" or X.dtype == bool:
        raise TypeError(f"x0 must be an array of real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"x0 must be 2-D, shape (B, n): one row per problem; got shape "
                         f"{X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"x0 must hold at least one problem and one variable; got shape "
                         f"{X.shape}")
    X = np.array(X, dtype=np.float64)  # a copy: the caller's x0 is never modified
    if not np.isfinite(X).all():
        raise ValueError("x0 must be finite; it holds NaN or inf")
    return X


def _batch_args(batch_args, B):
    if isinstance(batch_args, list):  # a list of arrays, as a tuple (not stacked into one)
        batch_args = tuple(batch_args)
    if not isinstance(batch_args, tuple):
        batch_args = (batch_args,)
    arrays = []
    for index, array in enumerate(batch_args):
        array = np.ascontiguousarray(array)
        if not array.dtype.isnative:  # the other byte order: Numba reads only the native one
            array = array.astype(array.dtype.newbyteorder("="))
        if array.ndim == 0 or array.shape[0] != B:
            raise ValueError(f"batch_args[{index}] must have first axis B = {B} (one row per "
                             f"problem); got shape {array.shape}")
        arrays.append(array)
    return tuple(arrays)


def _batch_bounds(bounds, B, n):
    """``(lower, upper)`` of shape (B, n), or None."""
    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        lower, upper = np.asarray(bounds.lb, float), np.asarray(bounds.ub, float)
    elif isinstance(bounds, tuple) and len(bounds) == 2 and np.ndim(bounds[0]) == 2:
        lower, upper = np.asarray(bounds[0], float), np.asarray(bounds[1], float)
    else:
        pairs = list(bounds)
        if len(pairs) != n:
            raise ValueError(f"bounds must hold one (lo, hi) pair per variable, a Bounds, or "
                             f"a pair of (B, n) arrays: got {len(pairs)} pairs for {n} "
                             f"variables")
        lower = np.array([-np.inf if lo is None else lo for lo, _ in pairs], float)
        upper = np.array([np.inf if hi is None else hi for _, hi in pairs], float)
    for name, array in (("lower", lower), ("upper", upper)):
        if array.shape not in ((), (1,), (n,), (B, n)):
            raise ValueError(f"{name} bounds must have shape (n,) = ({n},) shared by all "
                             f"problems or (B, n) = ({B}, {n}) per problem; got {array.shape}")
    lower = np.ascontiguousarray(np.broadcast_to(lower, (B, n)))
    upper = np.ascontiguousarray(np.broadcast_to(upper, (B, n)))
    check_box(lower, upper)
    return lower, upper


def _settings(method, options, B):
    """Split ``options`` into the method's hyperparameters (scalar or per problem) and the
    batch settings; minimize's options that the batch does not support raise
    (:data:`REFUSED_OPTIONS`), unknown names warn, as in SciPy."""
    cls, fixed = METHODS[method]
    hyperparameters = dict.fromkeys(cls.hyperparameter_names(), _UNSET)
    # refused when set to anything but minimize's default (a dict of options shared with
    # minimize may spell out schedule=None or device="cpu")
    refused = sorted(name for name, value in options.items()
                     if name in REFUSED_OPTIONS and name not in hyperparameters
                     and not _is_default(value, OPTION_DEFAULTS[name]))
    if refused:
        names = ", ".join(f"{name!r}" for name in refused)
        raise ValueError(f"minimize_batch does not support the option{'s' * (len(refused) > 1)}"
                         f" {names}, which numadam.minimize does: run those problems one by "
                         f"one with numadam.minimize")
    settings = dict(BATCH_OPTIONS)
    # minimize's options left at their defaults are known, not unknown: no warning for them
    options = {name: value for name, value in options.items()
               if name not in REFUSED_OPTIONS or name in hyperparameters}
    split_options(method, options, hyperparameters, settings, stacklevel=4)
    hyperparameters = {k: v for k, v in hyperparameters.items() if v is not _UNSET}
    per_problem = {}
    specs = cls.variant.hyperparameters()
    for name, value in hyperparameters.items():
        spec = specs[name]
        # a pair (betas, etas, step_sizes) is per problem as a (B, 2) array, not as one pair
        pair = isinstance(spec.default, tuple)
        if isinstance(value, np.ndarray) and value.ndim >= (2 if pair else 1):
            if value.shape[0] != B:
                raise ValueError(f"per-problem hyperparameter {name} must have length B = {B};"
                                 f" got shape {value.shape}")
            if spec.fixed:
                raise ValueError(f"{name} decides which state vectors exist: it must be one "
                                 f"value for the whole batch, not an array")
            if name == "maximize":
                raise ValueError("maximize must be one value for the whole batch, not an "
                                 "array")
            per_problem[name] = value
    scalars = {k: v for k, v in {**fixed, **hyperparameters}.items() if k not in per_problem}
    return cls, scalars, per_problem, settings


def _per_problem_steps(cls, scalars, per_problem, B):
    """One optimizer per distinct hyperparameter setting (validating them), and which setting
    each problem uses: ``(steps, index)``."""
    index = np.zeros(B, np.int64)
    if not per_problem:
        return [cls(np.zeros(1), **scalars)], index
    steps, seen = [], {}
    for b in range(B):
        values = tuple((name, _value_of(array[b])) for name, array in per_problem.items())
        if values not in seen:
            seen[values] = len(steps)
            steps.append(cls(np.zeros(1), **scalars, **dict(values)))
        index[b] = seen[values]
    in_use = {tuple(step.state[name].size != 0 for name in step.state_names) for step in steps}
    if len(in_use) > 1:  # e.g. momentum 0 for some problems and not for others
        raise ValueError(f"the per-problem values of {sorted(per_problem)} must keep the same "
                         f"state vectors in use for every problem (a momentum of 0 for some "
                         f"and not for others does not): split the batch")
    return steps, index


def _is_default(value, default):
    """Whether an option's ``value`` is ``default`` (``None``, a string, or a number)."""
    if default is None or value is None:
        return value is default
    if isinstance(default, (str, bool)):
        return type(value) is type(default) and value == default
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == default


def _float_rows(tuples):
    """Equal-length tuples of floats as the rows of a 2-D float64 array."""
    return np.array([list(values) for values in tuples], float).reshape(len(tuples), -1)


def _value_of(value):
    """One problem's hyperparameter as a plain (hashable) Python value: a float, or a tuple for
    a row of ``betas``."""
    return tuple(np.ravel(value).tolist()) if np.ndim(value) else value.item()


def _state(steps, index, X):
    """Each state vector of the rule for every problem, shape (B, n), initialised as each
    problem's optimizer initialises it (None when the rule does not use it)."""
    first = steps[0]
    rule = first.variant.rule
    every = {**first.hyperparameters, **first.variant.fixed}
    vectors = []
    for name in first.state_names:
        if first.state[name].size == 0:
            vectors.append(None)
        elif rule.initial_state(name, every) == "params":
            vectors.append(X.copy())
        else:
            initial = np.array([step.state[name][0] for step in steps])[index]
            vectors.append(np.array(np.broadcast_to(initial[:, None], X.shape)))  # writeable
    return tuple(vectors + [None] * (3 - len(vectors)))


# ------------------------------------------------------------------------------------------------
# Compiled pieces
# ------------------------------------------------------------------------------------------------


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


def _table_steps(maxiter, settings, B):
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


def _make_run(loop):
    """Every problem's compiled minimize ``loop``, the problems spread over the cores."""

    def run(fun, jac, args, batch_args, S0, S1, S2, constants, constants_like, inputs,
            inputs_like, tables, filled, scalars_like, carries, carry_like, setting, X, lower,
            upper, bounded, sign, maxiter, gtol, ftol, xtol, return_best, status, nit, F, G, nfev,
            F_start, buffers):
        for b in prange(X.shape[0]):
            k = setting[b]
            result = loop(
                fun, jac, rows_of(batch_args, b) + args,
                (row_of(S0, b), row_of(S1, b), row_of(S2, b)),
                tuple_like(constants[k], constants_like),
                (tables[k], filled, tuple_like(inputs[k], inputs_like), scalars_like),
                tuple_like(carries[b], carry_like),
                1, X[b], lower[b], upper[b], bounded, sign, maxiter, gtol, ftol, xtol,
                return_best, row_of(buffers, b))
            status[b], nit[b], F[b], nfev[b] = result[0], result[1], result[2], result[4]
            F_start[b] = result[6]
            g = result[3]
            if g.shape[0] == G.shape[1]:
                G[b] = g

    return run


@functools.cache
def _run_source(rule):
    """The rule's batch run (:func:`_make_run`) as a Python function: the compiled minimize
    loop with its step scalars read from a table (:mod:`numadam._step_tables`)."""
    loop = _compiled_loop._make_loop(rule.element, beyond_table(jitable_step_scalars(rule)))
    # Numba's disk cache keys a closure by the pickle of what it closes over. A local function
    # pickles by value, with the Numba functions it calls, whose pickles change from process to
    # process (a new uuid each): the key would never match again. Published under a name of
    # this module, the loop pickles by reference, the same in every process.
    loop.__module__, loop.__name__ = __name__, f"_batch_loop_{rule.name}"
    loop.__qualname__ = loop.__name__
    globals()[loop.__name__] = register_jitable(loop)
    return keyed_by_sources(_make_run(loop))


@functools.cache
def _specialized_run(rule):
    """``compiled="specialize"``: the run compiled for the very ``fun`` and ``jac`` it meets
    (seconds of compile per objective and process, not cached on disk)."""
    return njit(parallel=True, error_model="numpy")(_run_source(rule))


#: (rule, argument types) -> the batch run compiled for them, in this process.
_RUNS = {}


def _cached_run(rule, arguments, x_row):
    """The rule's batch run compiled for these arguments, ``fun`` and ``jac`` typed by their
    signatures (first-class function types) rather than by their identity, as minimize's
    compiled loop (:func:`numadam._compiled_loop._cached_loop`): cached on disk, so that a
    fresh process loads it and compiles only the user's functions. ``x_row``: a row of
    ``x0``, for the type of the point that ``fun`` and ``jac`` receive."""
    fun, jac, args, batch_args = arguments[:4]
    buffers = arguments[-1]
    point = (typeof(x_row), *(typeof(array[0]) for array in batch_args),
             *(typeof(value) for value in args))
    # with jac_out the gradient function also takes the buffer it writes into
    with_out = point if buffers is None else (*point, typeof(buffers[0, 0]))
    fun_type = _compiled_loop.function_type(fun, with_out if jac is None else point)
    jac_type = types.none if jac is None else _compiled_loop.function_type(jac, with_out)
    if fun_type is None or jac_type is None:  # fixed signatures that need a conversion
        return _specialized_run(rule)
    signature = (fun_type, jac_type, *(typeof(value) for value in arguments[2:]))
    run = _RUNS.get((rule, signature))
    if run is None:
        run = _RUNS[rule, signature] = njit(signature, parallel=True, cache=True,
                                            error_model="numpy")(_run_source(rule))
    return run


@njit(parallel=True, error_model="numpy")
def _gtol_stops(active, G, X, lower, upper, bounded, sign, gtol, status):
    """Status 0 for the active problems whose (projected) gradient meets ``gtol``."""
    for j in prange(active.shape[0]):
        b = active[j]
        norm = max_abs_projected(G[b], X[b], lower[b], upper[b], sign) if bounded else max_abs(
            G[b])
        if norm <= gtol:
            status[b] = 0


@njit(parallel=True, error_model="numpy")
def _update_rows(active, kernel, step_scalars, S0, S1, S2, constants, constants_like, inputs,
                 inputs_like, carries, carry_like, setting, X, G, lower, upper, bounded, nit):
    """One step of every active problem (its own step count, scalars and carry), then the
    projection on its box: the optimizer's update and ``np.clip``, row by row."""
    for j in prange(active.shape[0]):
        b = active[j]
        k = setting[b]
        scalars, carry = step_scalars(tuple_like(inputs[k], inputs_like),
                                      tuple_like(carries[b], carry_like), nit[b] + 1)
        x = X[b]
        kernel(x, G[b], row_of(S0, b), row_of(S1, b), row_of(S2, b),
               tuple_like(constants[k], constants_like), scalars)
        store_tuple(carries[b], carry)
        if bounded:
            for i in range(x.shape[0]):
                x[i] = min(max(x[i], lower[b, i]), upper[b, i])


@njit(parallel=True, error_model="numpy")
def _accept_rows(active, X, F_new, G_new, previous, F, G, nit, status, ftol, xtol, sign,
                 return_best, best_key, best_F, best_X, best_G):
    """After evaluating the active problems at their new points: ``minimize``'s tests, row by
    row. A non-finite value restores the row's last finite iterate (status 3)."""
    for j in prange(active.shape[0]):
        b = active[j]
        x = X[b]
        nit[b] += 1
        if return_best and sign * F_new[j] > sign * F[b] and sign * F[b] < best_key[b]:
            best_key[b], best_F[b] = sign * F[b], F[b]
            best_X[b] = previous[b]
            best_G[b] = G[b]
        nonfinite, step_norm = accept(x, F_new[j], G_new[j], previous[b])
        if nonfinite:
            x[:] = previous[b]
            nit[b] -= 1
            status[b] = 3
            continue
        f_previous = F[b]
        F[b] = F_new[j]
        G[b] = G_new[j]
        if converged_after_step(F[b], f_previous, step_norm, ftol, xtol):
            status[b] = 0


# ------------------------------------------------------------------------------------------------
# The vectorized form's objective: (B', n) -> (B',), (B', n)
# ------------------------------------------------------------------------------------------------


class _BatchObjective:
    """``evaluate(rows) -> (F, G)`` for the active problems ``rows``, counting evaluations per
    problem; gradients from ``jac``, from ``fun`` itself (``jac=True``) or by finite
    differences (within the bounds ``limits``, as ``minimize``'s). ``fun`` and ``jac`` each get
    their own copy of the points: user code cannot change the iterates."""

    def __init__(self, fun, jac, args, batch_args, B, n, jac_out=False, limits=None):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        self.fun, self.jac, self.args, self.batch_args = fun, jac, args, batch_args
        self.jac_out, self.limits = jac_out, limits
        self.nfev, self.njev, self.n = np.zeros(B, np.int64), np.zeros(B, np.int64), n
        if not (callable(jac) or jac is True or jac in (None, False, "2-point", "3-point")):
            raise ValueError(f"jac must be a callable, True, None, '2-point' or '3-point', "
                             f"got {jac!r}")

    def _values(self, values, count):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (count,):
            raise ValueError(f"fun must return an array of shape (B',) = ({count},), one value "
                             f"per active problem; got shape {values.shape}")
        return values

    def _gradients(self, gradients, count):
        gradients = np.asarray(gradients, dtype=np.float64)
        if gradients.shape != (count, self.n):
            raise ValueError(f"jac must return an array of shape (B', n) = ({count}, {self.n});"
                             f" got shape {gradients.shape}")
        return gradients

    def __call__(self, X, rows):
        extra = tuple(array[rows] for array in self.batch_args) + self.args
        count = len(rows)
        if self.jac_out:  # the gradient function writes into the array it is given
            G = np.empty((count, self.n))
            if self.jac is True:
                F = self._values(self.fun(X.copy(), *extra, G), count)
            else:
                F = self._values(self.fun(X.copy(), *extra), count)
                self.jac(X.copy(), *extra, G)
        elif self.jac is True:
            result = self.fun(X.copy(), *extra)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise ValueError("with jac=True, fun must return a pair (F, G)")
            F, G = self._values(result[0], count), self._gradients(result[1], count)
        elif callable(self.jac):
            F = self._values(self.fun(X.copy(), *extra), count)
            G = self._gradients(self.jac(X.copy(), *extra), count)
        else:
            F = self._values(self.fun(X.copy(), *extra), count)
            G = self._finite_differences(X, F, extra, rows)
        self.nfev[rows] += 1
        self.njev[rows] += 1
        return F, G

    def _finite_differences(self, X, F, extra, rows):
        """SciPy's ``approx_derivative`` for every row at once, one coordinate at a time: its
        absolute step, its adjustment to the bounds and its quotients, the same operations as
        ``minimize``'s (so the same bits). A variable fixed by its bounds gets 0 without an
        evaluation, as ``minimize``'s differences leave it out: each problem's ``nfev`` is
        ``minimize``'s (which ``maxfev`` tests)."""
        method = "3-point" if self.jac == "3-point" else "2-point"
        if self.limits is None:
            lower, upper = np.full_like(X, -np.inf), np.full_like(X, np.inf)
        else:
            lower, upper = self.limits[0][rows], self.limits[1][rows]
        h = _compute_absolute_step(None, X, F, method)
        h, one_sided = _adjust_scheme_to_bounds(
            X, h, 1, "1-sided" if method == "2-point" else "2-sided", lower, upper)
        G = np.zeros_like(X)
        free = lower != upper
        batch_count = len(self.batch_args)
        with np.errstate(divide="ignore", invalid="ignore"):  # as SciPy's quotients: no warning
            for i in range(X.shape[1]):
                on = free[:, i]
                if not on.any():
                    continue
                if on.all():  # every problem (the common case): no copies, no masks
                    on = slice(None)
                    X_i, F_i, extra_i, rows_i = X, F, extra, rows
                else:  # only the problems where variable i is free, with their data rows
                    X_i, F_i, rows_i = X[on], F[on], rows[on]
                    extra_i = (*(array[on] for array in extra[:batch_count]),
                               *extra[batch_count:])
                x_i, h_i, side, count = X_i[:, i], h[on, i], one_sided[on, i], len(rows_i)
                if method == "2-point":
                    forward = X_i.copy()
                    forward[:, i] = x_i + h_i
                    G[on, i] = (self._values(self.fun(forward, *extra_i), count) - F_i) / (
                        (x_i + h_i) - x_i)
                    self.nfev[rows_i] += 1
                    continue
                first, second = X_i.copy(), X_i.copy()
                first[:, i] = np.where(side, x_i + h_i, x_i - h_i)
                second[:, i] = np.where(side, x_i + 2 * h_i, x_i + h_i)
                dx = np.where(side, second[:, i] - x_i, second[:, i] - first[:, i])
                f_first = self._values(self.fun(first, *extra_i), count)
                f_second = self._values(self.fun(second, *extra_i), count)
                G[on, i] = np.where(side, -3.0 * F_i + 4 * f_first - f_second,
                                    f_second - f_first) / dx
                self.nfev[rows_i] += 2
        return G


# ------------------------------------------------------------------------------------------------
# minimize_batch
# ------------------------------------------------------------------------------------------------


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
    jac : callable, True, None, "2-point" or "3-point"
        Jitted: ``jac(x_b, *batch_rows_b, *args) -> (n,)``. Vectorized: ``(B', n)``; ``True``
        when ``fun`` returns ``(F, G)``; otherwise finite differences (vectorized form only).
    bounds : Bounds, sequence of (lo, hi) pairs, or (lower, upper) arrays of shape (B, n)
        Shared ``(n,)`` or per problem ``(B, n)``; enforced by projection.
    tol : float, optional
        Sets ``gtol`` unless ``options`` sets it.
    callback : callable, optional
        Called every ``callback_every`` iterations (an option, default 1; vectorized form only)
        with an ``OptimizeResult`` of the whole batch (``x``, ``fun``, ``jac``, ``nit``,
        ``status``: copies); ``StopIteration`` stops every problem still running (status 99).
    options : dict, optional
        The method's hyperparameters, each a scalar or an array of shape ``(B,)``, and
        ``maxiter``, ``maxfev``, ``gtol``, ``ftol``, ``xtol`` (per problem stopping, as in
        ``minimize``), ``callback_every``, ``compiled``: for jitted ``fun``/``jac``, ``True``
        (default) runs the compiled batch loop from Numba's disk cache, calling ``fun`` and
        ``jac`` through pointers (a new process compiles only them); ``"specialize"`` compiles
        the loop for the very functions (seconds per objective and process); ``False`` selects
        the vectorized form. ``jac_out=True``: the gradient function writes the gradient into an
        array passed as its last argument instead of returning it (``jac(x_b, *rows, *args,
        out)`` returns nothing; with ``jac=True``, ``fun(..., out)`` returns the value; in
        the vectorized form ``out`` has shape (B', n)): no allocation per iteration.

        ``maxfev``: int, None (default) or inf. Each problem stops once ``fun`` has been
        evaluated ``maxfev`` times for it (finite differences included), with status 2 unless
        another stop came first, exactly as its own ``minimize`` run: with a gradient
        function every iteration costs one evaluation, so ``maxfev`` caps ``nit`` at
        ``maxfev - 1``. ``disp``: bool, default False; True prints one summary of the batch at
        the end (problems per status, totals of ``nit``, ``nfev``, ``njev``; with ``comm``,
        on rank 0 only). ``return_best`` as in ``minimize``; ``check_finite`` is accepted and
        ignored, as by ``minimize`` (every problem stops at its first NaN or inf).

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
        length B), ``jac`` (B, n), ``message`` (a list), ``method``, ``compiled``.
    """
    if comm is not None:
        from numadam import distributed

        return distributed._minimize_batch_across(comm, minimize_batch, fun, x0, args, method,
                                                  jac, bounds, tol, callback, options,
                                                  batch_args)
    method = _method_name(method)
    X = _batch_points(x0)
    B, n = X.shape
    args = args if isinstance(args, tuple) else (args,)
    batch_args = _batch_args(batch_args, B)
    options = dict(options or {})
    if tol is not None:
        options.setdefault("gtol", tol)
    cls, scalars, per_problem, settings = _settings(method, options, B)
    gtol, ftol, xtol = (_tolerance(k, settings[k]) for k in ("gtol", "ftol", "xtol"))
    maxiter = _count("maxiter", settings["maxiter"], BATCH_OPTIONS["maxiter"])  # as minimize
    maxfev = _count("maxfev", settings["maxfev"], None)
    check_stops(maxiter, maxfev, gtol is not None or ftol is not None or xtol is not None)
    disp = disp_flag(settings["disp"])
    jac_out = jac_out_flag(settings["jac_out"], jac)
    every = settings["callback_every"]
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ValueError(f"callback_every must be a positive integer, got {every!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    limits = _batch_bounds(bounds, B, n)
    if limits is not None:
        np.clip(X, *limits, out=X)
    steps, setting = _per_problem_steps(cls, scalars, per_problem, B)
    compiled = [step.compiled_step() for step in steps]
    state = _state(steps, setting, X)
    sign = _compiled_loop.descent_sign(steps[0])
    lower, upper = limits if limits is not None else (X[:, :0], X[:, :0])
    # the constants, step inputs and carried scalars of each setting as rows of float arrays,
    # turned back into the rule's tuples inside the compiled loops (a typed List of tuples
    # would compile its methods in every process: 0.6 s)
    constants = _float_rows([step.constants for step in compiled])
    inputs = _float_rows([step.inputs for step in compiled])
    kernel, step_scalars = compiled[0].kernel, compiled[0].step_scalars

    if settings["compiled"] not in (True, False, "specialize"):
        raise ValueError(f"compiled must be True, False or 'specialize', got "
                         f"{settings['compiled']!r}")
    jitted = (settings["compiled"] is not False and callback is None
              and _compiled_loop.is_jitted_pair(fun, jac))
    status = np.ones(B, np.int64)
    nit = np.zeros(B, np.int64)
    F = np.full(B, np.nan)
    G = np.zeros((B, n))
    carries = np.ascontiguousarray(_float_rows([step.carry for step in compiled])[setting])
    F_start = np.full(B, np.nan)
    # as minimize: the lowest iterate is returned if the run ends above it (module docstring)
    return_best = (flag("return_best", settings["return_best"])
                   and not steps[0].variant.rule.modes)
    if jitted:
        # as minimize's compiled path: every iteration evaluates fun once, so maxfev caps the
        # iterations
        cap = maxiter if maxfev is None else min(maxiter, max(maxfev - 1, 0))
        nfev = np.zeros(B, np.int64)
        rule = steps[0].variant.rule
        scalars_like = tuple(0.0 for _ in compiled[0].step_scalars(compiled[0].inputs,
                                                                   compiled[0].carry, 1)[0])
        setting_carries = _float_rows([step.carry for step in compiled])
        tables = np.empty((len(compiled), _table_steps(cap, len(compiled), B),
                           len(scalars_like) + setting_carries.shape[1]))
        step_table(rule)(inputs, compiled[0].inputs, setting_carries, compiled[0].carry,
                         tables)
        filled = np.array([tables.shape[1]])  # every row, read only (the problems run at once)
        arguments = (fun, None if jac is True else jac, args, batch_args, *state, constants,
                     compiled[0].constants, inputs, compiled[0].inputs, tables, filled,
                     scalars_like,
                     carries, compiled[0].carry, setting, X, lower, upper, limits is not None,
                     sign, int(cap), -1.0 if gtol is None else gtol,
                     -1.0 if ftol is None else ftol, -1.0 if xtol is None else xtol,
                     return_best, status, nit, F, G, nfev, F_start,
                     np.empty((B, 2, n)) if jac_out else None)
        try:
            run = (_specialized_run(rule) if settings["compiled"] == "specialize"
                   else _cached_run(rule, arguments, X[0]))
            run(*arguments)
        except TypingError:  # raised while compiling, before anything ran
            _explain_typing_error(fun, jac, jac_out, X[0].copy(),
                                  tuple(array[0] for array in batch_args) + args)
            raise
        if (status == -1).any():
            raise ValueError(f"jac must return an array of shape ({n},) like a row of x0")
        njev = nfev.copy()
        objective = None
    else:
        objective = _BatchObjective(fun, jac, args, batch_args, B, n, jac_out, limits)
        _vectorized_loop(objective, kernel, step_scalars, state, constants,
                         compiled[0].constants, inputs, compiled[0].inputs, carries,
                         compiled[0].carry, setting, X, F, G, nit, status, lower, upper,
                         limits is not None, sign, maxiter, maxfev, gtol, ftol, xtol, callback,
                         every, return_best, F_start)
        nfev, njev = objective.nfev, objective.njev
    if maxfev is not None:  # as minimize, before a schedule-free rule's last evaluation
        status[(status == 1) & (nfev >= maxfev)] = 2
    if steps[0].variant.rule.modes:
        _to_evaluation_point(steps, setting, state, X, F, G, status, fun, jac, jac_out, args,
                             batch_args, objective, nfev, njev, jitted)
    # minimize's final status and message, for all problems at once (a Python loop over the
    # problems took 10 ms of the 0.35 s of B = 20,000 small fits)
    any_tolerance = gtol is not None or ftol is not None or xtol is not None
    if not any_tolerance:
        status[status == 1] = 0
    status[(status == 0) & (sign * (F - F_start) > 0)] = 4  # no success worse than the start
    messages = {code: STATUS_MESSAGES[code] for code in np.unique(status).tolist()}
    if not any_tolerance:
        messages[0] = "Completed maxiter iterations (no tolerance was requested)."
    messages = [messages[code] for code in status.tolist()]
    result = OptimizeResult(x=X, fun=F, jac=G, nit=nit, nfev=nfev, njev=njev, status=status,
                            success=status == 0, message=messages, method=method,
                            compiled=bool(jitted))
    if disp:
        print(_summary(result))
    return result


def _summary(result):
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


def _vectorized_loop(objective, kernel, step_scalars, state, constants, constants_like, inputs,
                     inputs_like, carries, carry_like, setting, X, F, G, nit, status, lower,
                     upper, bounded, sign, maxiter, maxfev, gtol, ftol, xtol, callback, every,
                     return_best, F_start):
    """``minimize``'s Python loop for all active problems at once."""
    active = np.arange(X.shape[0])
    F0, G0 = objective(X, active)
    F[:], G[:], F_start[:] = F0, G0, F0
    best_key = np.full(X.shape[0], np.inf)
    best_F, best_X, best_G = F.copy(), X.copy(), G.copy()
    bad = ~(np.isfinite(F0) & np.isfinite(G0).all(axis=1))
    status[bad] = 3
    active = active[~bad]
    previous = X.copy()
    iteration = 0
    while active.size:
        # as minimize's `while nit < maxiter and not nfev >= maxfev`, each problem with its
        # own count (finite differences add more than one evaluation per iteration)
        active = active[nit[active] < maxiter]
        if maxfev is not None:
            active = active[objective.nfev[active] < maxfev]
        if gtol is not None and active.size:
            _gtol_stops(active, G, X, lower, upper, bounded, sign, gtol, status)
            active = active[status[active] == 1]
        if not active.size:
            break
        _update_rows(active, kernel, step_scalars, *state, constants, constants_like, inputs,
                     inputs_like, carries, carry_like, setting, X, G, lower, upper, bounded,
                     nit)
        F_new, G_new = objective(X[active], active)
        stepped = active
        _accept_rows(active, X, F_new, G_new, previous, F, G, nit, status,
                     -1.0 if ftol is None else ftol, -1.0 if xtol is None else xtol, sign,
                     return_best, best_key, best_F, best_X, best_G)
        active = active[status[active] == 1]
        iteration += 1
        if callback is not None and iteration % every == 0:
            try:
                callback(OptimizeResult(x=X.copy(), fun=F.copy(), jac=G.copy(), nit=nit.copy(),
                                        status=status.copy()))
            except StopIteration:
                # as minimize, whose callback comes before its ftol/xtol tests: a problem that
                # met one at this very step reports the stop too
                status[stepped[status[stepped] == 0]] = 99
                status[active] = 99
                break
    worse = best_key < sign * F
    X[worse], F[worse], G[worse] = best_X[worse], best_F[worse], best_G[worse]


def _to_evaluation_point(steps, setting, state, X, F, G, status, fun, jac, jac_out, args,
                         batch_args, objective, nfev, njev, jitted):
    """Schedule-free rules: as ``minimize`` does, move every finished problem from its gradient
    point to its evaluation point and evaluate there; a problem whose value or gradient is not
    finite there keeps its last iterate, with status 3."""
    rule = steps[0].variant.rule
    loops = kernels.for_rule(rule.modes["eval"])
    rows = np.flatnonzero(status != 3)
    iterates = X[rows], F[rows], G[rows]  # copies (fancy indexing)
    for b in rows:
        step = steps[setting[b]]
        every = {**step.hyperparameters, **step.variant.fixed}
        constants = tuple(float(v) for v in rule.mode_constants("eval", every, float))
        loops.serial(X[b], X[b], *(row_of(S, b) for S in state), constants, ())
    if jitted:
        for b in rows:
            extra = tuple(array[b] for array in batch_args) + args
            F[b], G[b] = _evaluate_row(fun, jac, jac_out, X[b], extra)
            nfev[b] += 1
            njev[b] += 1
    elif rows.size:
        F[rows], G[rows] = objective(X[rows], rows)
    bad = ~(np.isfinite(F[rows]) & np.isfinite(G[rows]).all(axis=1))
    if bad.any():
        X[rows[bad]], F[rows[bad]], G[rows[bad]] = (values[bad] for values in iterates)
        status[rows[bad]] = 3


def _evaluate_row(fun, jac, jac_out, x, extra):
    """``(f, g)`` of one problem at ``x`` from Python, as the compiled loop evaluates them: each
    function gets its own copy of ``x``; ``jac=True`` and ``jac_out`` as in ``minimize``."""
    if jac_out:
        g = np.empty(x.shape[0])
        if jac is True:
            return fun(x.copy(), *extra, g), g
        f = fun(x.copy(), *extra)
        jac(x.copy(), *extra, g)
        return f, g
    if jac is True:
        return fun(x.copy(), *extra)
    return fun(x.copy(), *extra), jac(x.copy(), *extra)


def _explain_typing_error(fun, jac, jac_out, x, extra):
    """Raise minimize's clear error when Numba could not compile the batch loop because ``fun``
    or ``jac`` returns the wrong kind of value for one problem's row; return otherwise (the
    caller re-raises Numba's error)."""
    try:
        f, g = _evaluate_row(fun, jac, jac_out, x, extra)
    except Exception:  # noqa: BLE001 - the functions fail on their own: Numba's error stands
        return
    if np.ndim(f) != 0:
        raise ValueError(f"fun must return a scalar for one problem's row (jitted form), got "
                         f"an array of shape {np.shape(f)}")
    if np.shape(g) != x.shape:
        raise ValueError(f"jac must return an array of shape {x.shape} like a row of x0, got "
                         f"shape {np.shape(g)}")


# ------------------------------------------------------------------------------------------------
# multistart
# ------------------------------------------------------------------------------------------------


def multistart(fun, bounds, n_starts, *, jac=None, args=(), method="adam", rng=None,
               options=None, sampler="lhs"):
    """Global search by many local runs: ``n_starts`` starts drawn in the box ``bounds`` with
    ``scipy.stats.qmc`` (Latin hypercube by default, ``sampler="sobol"`` or ``"halton"``), run as
    one :func:`minimize_batch` (``fun``/``jac`` in either of its forms, the box enforced), and
    the best finite result returned.

    Returns
    -------
    scipy.optimize.OptimizeResult
        The best problem's ``x``, ``fun``, ``jac``, ``nit``, ``status``, ``success``,
        ``message``, and ``batch``: the whole batch's result (``batch.x`` holds every run's end).
    """
    if isinstance(n_starts, bool) or not isinstance(n_starts, numbers.Integral) or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
    from scipy.stats import qmc  # imported here: scipy.stats alone adds 0.2 s to `import numadam`

    lower, upper = _box(bounds)
    samplers = {"lhs": qmc.LatinHypercube, "sobol": qmc.Sobol, "halton": qmc.Halton}
    if sampler not in samplers:
        raise ValueError(f"sampler must be one of {list(samplers)}, got {sampler!r}")
    unit = samplers[sampler](d=lower.size, seed=np.random.default_rng(rng)).random(int(n_starts))
    starts = qmc.scale(unit, lower, upper)
    batch = minimize_batch(fun, starts, args=args, method=method, jac=jac,
                           bounds=Bounds(lower, upper), options=options)
    sign = -1.0 if (options or {}).get("maximize", False) else 1.0
    fun_values = np.where(np.isfinite(batch.fun), sign * batch.fun, np.inf)
    best = int(np.argmin(fun_values))
    return OptimizeResult(x=batch.x[best].copy(), fun=float(batch.fun[best]),
                          jac=batch.jac[best].copy(), nit=int(batch.nit[best]),
                          nfev=int(batch.nfev.sum()), status=int(batch.status[best]),
                          success=bool(batch.success[best]), message=batch.message[best],
                          batch=batch)


def _box(bounds):
    if isinstance(bounds, Bounds):
        lower, upper = np.atleast_1d(bounds.lb).astype(float), np.atleast_1d(bounds.ub).astype(
            float)
    else:
        pairs = np.asarray(bounds, dtype=float)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"bounds must be a Bounds or a sequence of (lo, hi) pairs; got "
                             f"shape {pairs.shape}")
        lower, upper = pairs[:, 0], pairs[:, 1]
    if not (np.isfinite(lower).all() and np.isfinite(upper).all() and (lower < upper).all()):
        raise ValueError("multistart needs a finite box with lower < upper in every variable")
    return lower, upper
