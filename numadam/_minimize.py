r"""SciPy-style ``minimize(fun, x0, method="adam")`` on top of numadam's optimizers.

A SciPy user can swap ``method="BFGS"`` for ``method="adam"`` and keep ``args``, ``jac``
(callable, ``True``, or finite differences), ``bounds``, ``callback`` (both protocols),
``tol`` and ``options``; the result is a :class:`scipy.optimize.OptimizeResult`. The per-method
callables :func:`adam`, :func:`rmsprop`, ... plug into SciPy itself::

    scipy.optimize.minimize(fun, x0, jac=grad, method=numadam.adam, options={"lr": 1e-2})

Stopping and status
-------------------

======  =======  ==========================================================================
status  success  meaning
======  =======  ==========================================================================
0       True     a tolerance was met (``gtol``: max-norm of the gradient, projected on the
                 bounds; ``ftol``: relative
                 change of ``f``; ``xtol``: max-norm of the step), or ``maxiter`` iterations
                 completed when no tolerance was asked for (fixed-budget stochastic runs)
1       False    ``maxiter`` reached while a requested tolerance was not met
2       False    ``maxfev`` evaluations of ``fun`` reached (finite differences included)
3       False    ``fun`` or ``jac`` returned NaN or inf, or the optimizer's per-step scalars
                 overflowed (extreme hyperparameters): the last finite iterate is returned
4       False    with ``return_best=False``, the run ended above ``f(x0)`` (below it when
                 maximizing); with the default ``return_best=True`` the lowest evaluated iterate
                 is returned instead, so no run reports success at a point worse than ``x0``
99      False    ``callback`` raised ``StopIteration``: the result equals the run with
                 ``maxiter`` set to that iteration, and ``fun`` is not called again
======  =======  ==========================================================================

An iteration is one optimizer step followed by one evaluation of ``fun`` and ``jac`` at the new
point; ``nit`` counts them, ``nfev`` counts calls of ``fun`` (finite differences included) and
``njev`` gradient evaluations. Tolerances are tested in the order ``gtol`` (before a step),
``ftol``, ``xtol`` (after it); the first met stops the run.

Stochastic objectives
---------------------
``fun`` and ``jac`` may be random (a minibatch loss, a noisy measurement): they bring their own
``np.random.Generator``. numadam itself draws no random numbers. With noise, prefer a fixed
budget (no tolerance: status 0 when ``maxiter`` completes) and iterate averaging,
``options={"average": "polyak"}`` (running mean of the iterates from ``average_start`` on) or
``"ema"`` (exponential moving average with ``average_decay``): the result's ``x`` is then the
averaged point, and ``fun``/``jac`` are evaluated once more there.

Compiled loop
-------------
When ``fun`` and ``jac`` are both Numba-jitted functions (``numba.njit``), or ``fun`` is and
returns ``(f, g)`` with ``jac=True``, and ``x0`` is float64,
the whole loop runs in nopython mode: no Python call per iteration (see
:mod:`numadam._compiled_loop`). It performs the same operations as the Python loop (the same
kernels, the same host scalars, in the same order), so both give bitwise-equal results. It
serves every method with constant hyperparameters, ``maxiter``, ``gtol``, ``ftol``, ``xtol`` and
bounds. A callback, a learning-rate schedule, gradient clipping, iterate averaging, finite
differences or a float32 ``x0`` select the Python loop automatically, as does an
objective Numba cannot call that way (e.g. ``fun`` returning an array: the Python loop then
raises its clear error). ``options={"compiled": False}`` turns it off; the result's ``compiled``
field says which loop ran. The compiled loop is cached on disk, with ``fun`` and ``jac`` typed
by their signatures: a fresh process compiles only the user's functions (nothing at all when
they are ``njit(cache=True)``). ``options={"compiled": "specialize"}`` compiles the loop for the
very functions instead, with them inlined: faster iterations, for seconds of compile; when the
functions are ``njit(cache=True)`` that loop is cached on disk like them (compiled again after
an edit of their file; like Numba's own cache, it does not see edits of other modules they
call: then delete the files ``_compiled_loop._bound_loop_*`` in numadam's ``__pycache__``, or
in ``NUMBA_CACHE_DIR``), else it is compiled in every process.

With a Python ``fun`` and ``jac`` and none of the options that act between iterations (callback,
schedule, clipping, averaging), the loop runs as a compiled generator that returns to Python
only to evaluate them (``_lean_loop``): one cheap resume per iteration instead of three calls
into compiled code. It too is bitwise equal to the general Python loop (tested through a callback
that does nothing, which selects the general loop).
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import sys
import types
import warnings

import numpy as np
from scipy.optimize import Bounds, OptimizeResult, OptimizeWarning
from scipy.optimize._numdiff import approx_derivative  # SciPy's own finite differences

from numadam import _compiled_loop, kernels, schedules
from numadam._compiled_loop import accept as _accept
from numadam._compiled_loop import max_abs as _max_abs
from numadam._compiled_loop import max_abs_projected as _max_abs_projected
from numadam._compiled_loop import small_change as _small_change
from numadam._validation import flag, real_scalar, unit_interval
from numadam.optimizers import CLASSES
from numadam.rules import VARIANTS

__all__ = ["minimize", "show_options"]

def _method_table():
    """method name -> (optimizer class, hyperparameters the method fixes), from the registry.

    A variant with its own class runs it (``adamw`` runs ``AdamW``); one without runs its rule's
    class with its settings fixed (``amsgrad`` runs ``Adam(amsgrad=True)``).
    """
    table = {}
    for variant in VARIANTS:
        if variant.method is None:
            continue
        if variant.class_name:
            table[variant.method] = (CLASSES[variant.class_name], {})
        else:
            table[variant.method] = (CLASSES[variant.rule.class_name], dict(variant.fixed))
    return table


METHODS = _method_table()

STATUS_MESSAGES = {
    0: "Optimization terminated successfully.",
    1: "Maximum number of iterations has been exceeded.",
    2: "Maximum number of function evaluations has been exceeded.",
    3: "NaN result encountered.",
    4: "The last iterate is worse than the start (return_best=False).",
    99: "`callback` raised `StopIteration`.",
}

#: The options every method takes, with their meaning (shown by :func:`show_options`).
COMMON_OPTIONS = {
    "maxiter": "int, default 1000. Number of iterations (optimizer steps).",
    "gtol": "float, optional. Stop when max|g| <= gtol (also set by minimize's `tol`); with "
            "bounds, components pushing out of an active bound are left out (projected "
            "gradient).",
    "ftol": "float, optional. Stop when |f_k - f_(k-1)| <= ftol * max(|f_k|, |f_(k-1)|, 1).",
    "xtol": "float, optional. Stop when max|x_k - x_(k-1)| <= xtol.",
    "schedule": "callable k -> lr, or 'constant', 'step', 'exponential', 'cosine', 'warmup'.",
    "schedule_options": "dict, parameters of a named schedule (see numadam.schedules); "
                        "'cosine' defaults to T_max=maxiter.",
    "clip_norm": "float, optional. Rescale g to this Euclidean norm when it is longer.",
    "clip_value": "float, optional. Clip every component of g to [-clip_value, clip_value].",
    "average": "None, 'polyak' or 'ema'. Return the running mean (Polyak-Ruppert) or an "
               "exponential moving average of the iterates instead of the last one.",
    "average_decay": "float in [0, 1), default 0.99. Decay of the 'ema' average.",
    "average_start": "int, default 0. Iteration from which iterates enter the average.",
    "compiled": "True (default), False or 'specialize'. Run the loop in nopython mode for "
                "jitted fun and jac: True loads it from Numba's disk cache and calls fun and "
                "jac through pointers (a fresh process compiles only fun and jac); "
                "'specialize' compiles it for these very functions, inlined (seconds of "
                "compile, then the fastest iterations; cached on disk when fun and jac are "
                "njit(cache=True), else compiled in every process).",
    "jac_out": "bool, default False. The gradient function writes the gradient into an array "
               "passed as its last argument instead of returning it: jac(x, *args, out) "
               "returns nothing, or with jac=True fun(x, *args, out) returns f. Saves an "
               "allocation per iteration in the compiled loop.",
    "maxfev": "int, optional. Stop (status 2) once fun has been evaluated this many times.",
    "disp": "bool, default False. Print a SciPy-style summary at the end.",
    "return_best": "bool, default True. If the last iterate's fun is above the lowest one "
                   "evaluated (a rough function, a step too long), return that lowest iterate "
                   "instead; with False a run that ends above f(x0) is not a success "
                   "(status 4). Off for iterate averaging and schedule-free rules.",
    "finite_diff_rel_step": "float or array, optional. Relative step of the finite "
                            "differences (SciPy's approx_derivative rel_step).",
    "device": "'cpu' (default) or 'cuda': run the optimizer's update on the GPU, its state kept "
              "there; fun and jac still see NumPy arrays (x and g cross the bus every "
              "iteration, so this pays off only for large vectors and costly steps).",
    "check_finite": "ignored: minimize always checks f and g and stops at the first NaN/inf.",
}

@functools.cache
def _hyperparameters(method):
    """The method's hyperparameters: ``{name: (default, one-line doc)}``, read-only (computed
    once: building it took 17 us of every call of ``minimize``)."""
    cls, fixed = METHODS[method]
    return types.MappingProxyType({name: (fixed.get(name, spec.default), spec.doc)
                                   for name, spec in cls.variant.hyperparameters().items()})


#: The value each of :data:`COMMON_OPTIONS` takes when not given (``None``: off, or not tested).
OPTION_DEFAULTS = {**dict.fromkeys(COMMON_OPTIONS), "maxiter": 1000, "average_decay": 0.99,
                   "average_start": 0, "compiled": True, "device": "cpu", "disp": False,
                   "return_best": True, "jac_out": False}


def show_options(method=None, *, disp=True):
    """Print (or return) every option of ``method``, or of every method, with its meaning.

    Parameters
    ----------
    method : str, optional
        One of :data:`METHODS`; all methods when omitted.
    disp : bool, default True
        Print the text; otherwise return it.
    """
    names = [_method_name(method)] if method is not None else list(METHODS)
    blocks = []
    for name in names:
        lines = [name, "=" * len(name), "Options", "-------"]
        for option, (default, doc) in _hyperparameters(name).items():
            lines.append(f"{option} : {doc}; default {default!r}")
        lines += [f"{option} : {text}" for option, text in COMMON_OPTIONS.items()]
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    if not disp:
        return text
    print(text)
    return None


def _method_name(method):
    if not isinstance(method, str):
        raise TypeError(f"method must be a string or a callable, got {type(method).__name__}")
    name = method.lower()
    if name not in METHODS:
        raise ValueError(f"Unknown solver {method!r}; numadam's methods are {list(METHODS)}")
    return name


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


def _initial_point(x0):
    """A float copy of ``x0`` (float32 stays float32, everything else becomes float64); a
    scalar becomes a vector of one, as SciPy's ``atleast_1d``."""
    array = np.atleast_1d(np.asarray(x0))
    if array.dtype.kind not in "biuf" or array.dtype == bool:
        raise TypeError(f"x0 must be an array of real numbers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"'x0' must only have one dimension; got shape {array.shape}")
    if array.size == 0:
        raise ValueError("x0 must not be empty")
    # float32 in either byte order stays float32
    dtype = np.float32 if array.dtype.kind == "f" and array.dtype.itemsize == 4 else np.float64
    x = np.array(array, dtype=dtype)  # always a copy: the caller's x0 is never modified
    if not np.isfinite(x).all():
        raise ValueError("x0 must be finite; it holds NaN or inf")
    return x


def _bounds_arrays(bounds, n, dtype):
    """``(lower, upper)`` arrays from a :class:`scipy.optimize.Bounds` or ``(lo, hi)`` pairs."""
    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        lower, upper = bounds.lb, bounds.ub
        if np.ndim(lower) > 1 or np.ndim(upper) > 1 or np.size(lower) not in (1, n) or (
                np.size(upper) not in (1, n)):
            raise ValueError("The number of bounds is not compatible with the length of `x0`.")
    else:
        try:
            pairs = [tuple(pair) for pair in bounds]
        except TypeError:
            raise TypeError(f"bounds must be a scipy.optimize.Bounds or a sequence of (lo, hi) "
                            f"pairs, got {bounds!r:.80}") from None
        if len(pairs) != n:
            raise ValueError("The number of bounds is not compatible with the length of `x0`.")
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"bounds must be (lo, hi) pairs, got {bounds!r:.80}")
        lower = [-np.inf if lo is None else lo for lo, _ in pairs]
        upper = [np.inf if hi is None else hi for _, hi in pairs]
    try:
        exact_lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,))
        exact_upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,))
    except (TypeError, ValueError):
        raise TypeError(f"bounds must hold real numbers (or None), got {bounds!r:.80}") from None
    check_box(exact_lower, exact_upper)
    # rounded inward in float32, so that no point the box allows lies outside the given one
    lower, upper = exact_lower.astype(dtype), exact_upper.astype(dtype)
    lower = np.where(lower < exact_lower, np.nextafter(lower, dtype.type(np.inf)), lower)
    upper = np.where(upper > exact_upper, np.nextafter(upper, dtype.type(-np.inf)), upper)
    if (lower > upper).any():
        raise ValueError(f"bounds: no {dtype.name} value lies between the lower and the upper "
                         f"bound of variable {int(np.argmax(lower > upper))}")
    return lower, upper


def check_box(lower, upper):
    """Bounds that a box can be made of (``minimize``'s and ``minimize_batch``'s): no NaN,
    ``lower <= upper``, and room for finite values."""
    if np.isnan(lower).any() or np.isnan(upper).any() or (lower > upper).any():
        raise ValueError("bounds must satisfy lower <= upper, without NaN")
    if (lower == np.inf).any() or (upper == -np.inf).any():
        raise ValueError("bounds must leave room for finite values: a lower bound of +inf or "
                         "an upper bound of -inf allows none")


def check_stops(maxiter, maxfev, any_tolerance):
    """An unlimited ``maxiter`` needs something else to stop the run."""
    if maxiter == sys.maxsize and maxfev in (None, sys.maxsize) and not any_tolerance:
        raise ValueError("maxiter=inf needs a tolerance (gtol, ftol or xtol) or a finite "
                         "maxfev to stop at")


class _Objective:
    """``fun`` and its gradient as one call, ``evaluate(x) -> (f, g)``, counting evaluations.

    User code only ever sees copies of the iterate: ``fun`` and ``jac`` each get their own, so
    an in-place edit (``x -= 1``) changes the caller's copy, never the optimizer's point.
    Finite differences are SciPy's ``approx_derivative`` with the bounds passed on (no point
    outside the box is ever evaluated); ``"cs"`` is a true complex step.
    """

    def __init__(self, fun, jac, args, x, limits=None, rel_step=None, jac_out=False):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        self.fun, self.args, self.nfev, self.njev = fun, tuple(args), 0, 0
        self.shape, self.dtype, self.point = x.shape, x.dtype, x
        self.fd_bounds = (-np.inf, np.inf) if limits is None else limits
        # the variables that finite differences vary: not those fixed by their bounds
        # (lower == upper), where SciPy's step would be 0 (a 0/0); None when all are free
        fixed = None if limits is None else limits[0] == limits[1]
        self.free = None if fixed is None or not fixed.any() else np.flatnonzero(~fixed)
        self.rel_step = _relative_step(rel_step, x.shape[0])
        if jac_out:  # the gradient function writes into a new array it is given
            self.jac, self._evaluate = jac, self._with_gradient_out
        elif callable(jac):
            self.jac, self._evaluate = jac, self._with_jac
        elif jac is True:
            self._evaluate = self._with_value_and_grad
        elif jac is None or jac is False or jac in ("2-point", "3-point", "cs"):
            self.fd_method = "2-point" if jac in (None, False) else jac
            self._evaluate = self._with_finite_differences
        else:
            raise ValueError(f"jac must be a callable, True, None, '2-point', '3-point' or "
                             f"'cs', got {jac!r}")

    def _value(self, value):
        self.nfev += 1
        if isinstance(value, (float, np.floating)):  # the common case, checked cheaply
            return float(value)
        return _real_value(value)

    def _gradient(self, g):
        self.njev += 1
        if type(g) is not np.ndarray or g.dtype != self.dtype or not g.flags.c_contiguous:
            array = np.asarray(g)
            if array.dtype.kind not in "biuf":  # complex, text, objects: not a gradient
                raise TypeError(f"jac must return an array of real numbers, got {g!r:.80}")
            g = np.ascontiguousarray(array, dtype=self.dtype)
        elif g.base is not None and np.may_share_memory(g, self.point):
            g = g.copy()  # a view of x itself: x changes during the step
        if g.shape != self.shape:
            raise ValueError(f"jac must return an array of shape {self.shape} like x0, got "
                             f"shape {g.shape}")
        return g

    def _with_jac(self, x):
        # _value and _gradient inlined for the common case (a float and a fresh C-contiguous
        # vector of x's dtype): this runs once per iteration, where ~1 us of checks would be a
        # third of the cost of a small problem.
        f = self.fun(x.copy(), *self.args)
        g = self.jac(x.copy(), *self.args)
        if type(f) is float or type(f) is np.float64:
            self.nfev += 1
        else:
            f = self._value(f)
        if (type(g) is np.ndarray and g.dtype is self.dtype and g.base is None
                and g.shape == self.shape and g.flags.c_contiguous):
            self.njev += 1
        else:
            g = self._gradient(g)
        return f, g

    def _with_gradient_out(self, x):
        g = np.empty(self.shape, self.dtype)
        if self.jac is True:
            f = self.fun(x.copy(), *self.args, g)
        else:
            f = self.fun(x.copy(), *self.args)
            self.jac(x.copy(), *self.args, g)
        return self._value(f), self._gradient(g)

    def _with_value_and_grad(self, x):
        result = self.fun(x.copy(), *self.args)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ValueError("with jac=True, fun must return a pair (f, g)")
        return self._value(result[0]), self._gradient(result[1])

    def _with_finite_differences(self, x):
        f = self._value(self.fun(x.copy(), *self.args))
        if self.fd_method == "cs":
            self._last_f = f  # approx_derivative would evaluate it again at the real point
            return f, self._gradient(self._complex_step(x))

        def counted(point):
            self.nfev += 1
            return _real_value(self.fun(point.astype(self.dtype), *self.args))

        # x in its own dtype: SciPy sizes the step by it (a float64 step vanishes in float32)
        return f, self._gradient(self._differences(counted, x, self.fd_method, f))

    def _differences(self, counted, x, method, f0):
        """SciPy's ``approx_derivative`` of ``counted`` at ``x`` within the bounds, over the
        free variables: a variable fixed by its bounds gets 0 (the projection keeps it)."""
        if self.free is None:
            return np.asarray(approx_derivative(counted, x, method=method, f0=f0,
                                                rel_step=self.rel_step, bounds=self.fd_bounds),
                              dtype=self.dtype)
        free, (lower, upper) = self.free, self.fd_bounds

        def on_free(point):
            full = x.astype(np.result_type(x, point))
            full[free] = point
            return counted(full)

        g = np.zeros(self.shape, self.dtype)
        if free.size:
            rel_step = self.rel_step if np.ndim(self.rel_step) == 0 else self.rel_step[free]
            g[free] = approx_derivative(on_free, x[free], method=method, f0=f0,
                                        rel_step=rel_step, bounds=(lower[free], upper[free]))
        return g

    def _complex_step(self, x):
        """``Im f(x + ih e_i) / h`` for each i: exact to rounding, for a complex-safe ``fun``."""

        def counted(point):
            self.nfev += 1
            try:
                value = self.fun(point, *self.args)
            except TypeError as error:
                raise ValueError(f"jac='cs' needs a fun that accepts complex arguments; it "
                                 f"raised {type(error).__name__}: {error}") from error
            if np.size(value) != 1:
                raise ValueError(f"fun must return a scalar, got an array of shape "
                                 f"{np.shape(value)}")
            value = np.ravel(value)[0]
            if not np.iscomplexobj(value):
                raise ValueError(
                    "jac='cs' needs a fun that computes in complex arithmetic (it returned a "
                    "real number for a complex x: the imaginary part, hence the gradient, was "
                    "lost); use jac='2-point' or '3-point', or a callable jac")
            return value

        return self._differences(counted, x.astype(np.float64), "cs", self._last_f)

    def __call__(self, x):
        return self._evaluate(x)


def _real_value(value):
    """``fun``'s value as a float: a real number, or an array of one (SciPy takes a size-1 or
    0-d array as the value); anything else raises."""
    if np.size(value) != 1:
        raise ValueError(f"fun must return a scalar, got an array of shape {np.shape(value)}")
    item = np.ravel(value)[0]
    if not isinstance(item, (numbers.Real, np.integer, np.floating, np.bool_)):
        raise TypeError(f"fun must return a real number, got {value!r:.80}")  # complex, text
    return float(item)


def _relative_step(rel_step, n):
    """``finite_diff_rel_step`` checked: None, or finite numbers, one or one per variable (as
    SciPy, which falls back on its default step where one gives a step of 0)."""
    if rel_step is None:
        return None
    try:
        steps = np.asarray(rel_step, dtype=np.float64)
    except (TypeError, ValueError):
        steps = None
    if steps is None or steps.ndim > 1 or steps.size not in (1, n) or not (
            np.isfinite(steps).all()):
        raise ValueError(f"finite_diff_rel_step must be None or finite numbers (one, or one "
                         f"per variable: {n}), got {rel_step!r}")
    return float(steps.ravel()[0]) if steps.size == 1 else steps


def _callback_caller(callback):
    """``call(result)`` for either SciPy callback protocol, detected as SciPy detects it."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    try:
        parameters = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        parameters = set()
    if parameters == {"intermediate_result"}:
        return lambda result: callback(intermediate_result=result)
    return lambda result: callback(np.copy(result.x))


def _clip(g, clip_norm, clip_value):
    """The clipped gradient, as a new array (the objective's own array is never modified)."""
    if clip_value is not None:
        g = np.clip(g, -clip_value, clip_value)
    if clip_norm is not None:
        norm = float(np.linalg.norm(g))
        if norm > clip_norm:
            g = g * g.dtype.type(clip_norm / norm)
    return g


def _schedule(schedule, schedule_options, lr, maxiter):
    if schedule is None:
        return None
    if callable(schedule):
        return schedule
    if schedule not in schedules.SCHEDULES:
        raise ValueError(f"schedule must be a callable or one of {list(schedules.SCHEDULES)}, "
                         f"got {schedule!r}")
    settings = dict(schedule_options or {})
    if schedule == "cosine":
        settings.setdefault("T_max", maxiter)
    return schedules.SCHEDULES[schedule](lr, **settings)


def _tolerance(name, value):
    if value is None:
        return None
    value = real_scalar(name, value)
    if not value >= 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


# ------------------------------------------------------------------------------------------------
# minimize
# ------------------------------------------------------------------------------------------------


def minimize(fun, x0, args=(), method="adam", jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol=None, callback=None, options=None):
    """Minimize ``fun`` from ``x0`` with a first-order method, SciPy's way.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``; with ``jac=True``, ``fun(x, *args) -> (float, ndarray)``.
        It may be stochastic (a minibatch loss, a noisy measurement).
    x0 : array_like, shape (n,)
        Starting point; never modified. float32 stays float32, anything else becomes float64.
    args : tuple
        Extra arguments of ``fun`` and ``jac``.
    method : str or callable, default "adam"
        Any method of the rule registry, case-insensitive (``list(numadam._minimize.METHODS)``:
        "adam", "adamw", "amsgrad", "nadam", "radam", "adamax", "adagrad", "adadelta",
        "rmsprop", "rprop", "sgd", "momentum", "nesterov", "lion", "schedulefree_adamw"); or a
        callable with SciPy's custom-method signature. With "schedulefree_adamw" the result is
        the averaged (evaluation) point, where ``fun`` and ``jac`` are evaluated once more.
    jac : callable, True, None, "2-point", "3-point" or "cs"
        The gradient ``jac(x, *args) -> ndarray (n,)``; ``True`` when ``fun`` returns it too;
        otherwise finite differences by SciPy's ``approx_derivative`` (``None``: "2-point";
        "cs": complex step, for a ``fun`` that computes in complex arithmetic), never evaluated
        outside ``bounds``.
    hess, hessp : ignored
        Accepted as SciPy's signature has them; first-order methods warn and ignore them, as
        SciPy's own do.
    bounds : scipy.optimize.Bounds or sequence of (lo, hi), optional
        Box constraints, enforced by projection: ``x0`` and every iterate are clipped inside.
    constraints : ()
        Only the empty default: these methods handle bounds, not general constraints.
    tol : float, optional
        Sets ``gtol`` unless ``options`` sets it.
    callback : callable, optional
        ``callback(intermediate_result)`` (an ``OptimizeResult`` with ``x``, ``fun``, ``jac``,
        ``nit``) or the legacy ``callback(xk)`` (a copy); raising ``StopIteration`` stops.
    options : dict, optional
        The method's hyperparameters (PyTorch's names and defaults, e.g. ``lr``, ``betas``) and
        the options listed by :func:`show_options`. Unknown options warn
        (``OptimizeWarning``), as in SciPy.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``njev``, ``success``, ``status``,
        ``message`` (see the status table in the module docstring), and ``method`` and
        ``compiled`` (whether the nopython loop ran).

    Examples
    --------
    >>> from scipy.optimize import rosen, rosen_der
    >>> import numadam
    >>> result = numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der, method="adam",
    ...                           options={"lr": 1e-2, "maxiter": 20000, "gtol": 1e-8})
    >>> result.success, bool(abs(result.x - 1).max() < 1e-4)
    (True, True)
    """
    options = dict(options or {})
    if tol is not None:
        options.setdefault("gtol", tol)
    if callable(method):
        return method(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, bounds=bounds,
                      constraints=constraints, callback=callback, **options)
    name = _method_name(method)
    _first_order_only(name, hess, hessp, constraints, stacklevel=2)
    return _minimize(fun, x0, args, name, jac, bounds, callback, options, stacklevel=3)


def _first_order_only(method, hess, hessp, constraints, stacklevel):
    """``hess``/``hessp`` warn and are ignored, as SciPy's first-order methods do; constraints
    other than bounds raise (a single one too, which SciPy takes as a list of one).
    ``stacklevel``: the caller's frame, counted from the caller (1 is the caller itself)."""
    for name, value in (("hess", hess), ("hessp", hessp)):
        if value is not None:
            warnings.warn(f"Method {method} does not use Hessian information ({name}).",
                          RuntimeWarning, stacklevel=stacklevel + 1)
    if constraints is not None and (isinstance(constraints, dict)
                                    or not hasattr(constraints, "__len__") or len(constraints)):
        raise ValueError(f"method {method!r} cannot handle constraints (only bounds); use "
                         f"bounds, or a constrained SciPy method such as 'SLSQP' or "
                         f"'trust-constr'")


def split_options(method, options, hyperparameters, settings, stacklevel):
    """Sort ``options`` into ``hyperparameters`` (the method's names) and ``settings`` (the
    front end's), in place; a value contradicting the method's fixed settings raises, unknown
    names warn (``OptimizeWarning``, at ``stacklevel``), as in SciPy."""
    fixed = METHODS[method][1]
    unknown = []
    for name, value in options.items():
        if name in hyperparameters:
            if name in fixed and not np.array_equal(value, fixed[name]):
                raise ValueError(f"`{name}` is fixed to {fixed[name]!r} by method={method!r}")
            hyperparameters[name] = value
        elif name in settings:
            settings[name] = value
        else:
            unknown.append(name)
    if unknown:
        warnings.warn(f"Unknown solver options: {', '.join(sorted(unknown))}", OptimizeWarning,
                      stacklevel=stacklevel)


def _minimize(fun, x0, args, method, jac, bounds, callback, options, stacklevel=4):
    # stacklevel: the first frame in user code, for the unknown-option warning (as SciPy's
    # _check_unknown_options): user -> minimize -> _minimize is 3; user -> scipy's minimize ->
    # numadam.adam -> _minimize is 4.
    cls, fixed = METHODS[method]
    hyperparameters = {name: default for name, (default, _) in _hyperparameters(method).items()}
    settings = dict(OPTION_DEFAULTS)
    split_options(method, options, hyperparameters, settings, stacklevel + 1)

    gtol, ftol, xtol = (_tolerance(k, settings[k]) for k in ("gtol", "ftol", "xtol"))
    any_tolerance = gtol is not None or ftol is not None or xtol is not None
    maxiter = _count("maxiter", settings["maxiter"], 1000)
    maxfev = _count("maxfev", settings["maxfev"], None)
    check_stops(maxiter, maxfev, any_tolerance)
    disp = disp_flag(settings["disp"])
    clip_norm = _tolerance("clip_norm", settings["clip_norm"])
    clip_value = _tolerance("clip_value", settings["clip_value"])
    average = settings["average"]
    if average not in (None, "polyak", "ema"):
        raise ValueError(f"average must be None, 'polyak' or 'ema', got {average!r}")
    average_decay = unit_interval("average_decay", settings["average_decay"])
    average_start = settings["average_start"]
    if (isinstance(average_start, bool) or not isinstance(average_start, (int, np.integer))
            or average_start < 0):
        raise ValueError(f"average_start must be a non-negative integer, got {average_start!r}")
    compiled_mode = settings["compiled"]
    if compiled_mode not in (True, False, "specialize"):
        raise ValueError(f"compiled must be True, False or 'specialize', got {compiled_mode!r}")
    use_compiled = compiled_mode is not False

    x = _initial_point(x0)
    limits = _bounds_arrays(bounds, x.size, x.dtype)
    if limits is not None:
        np.clip(x, *limits, out=x)
    device = settings["device"]
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        optimizer = _OnGPU(cls, x, hyperparameters)
        use_compiled = False
    else:
        optimizer = cls(x, **hyperparameters)  # validates the hyperparameters
    schedule = _schedule(settings["schedule"], settings["schedule_options"], optimizer.lr,
                         maxiter)
    args = args if isinstance(args, tuple) else (args,)  # as SciPy wraps a non-tuple
    jac_out = jac_out_flag(settings["jac_out"], jac)
    objective = _Objective(fun, jac, args, x, limits, settings["finite_diff_rel_step"],
                           jac_out)

    callback = _callback_caller(callback)
    # The answer of an averaging run or a schedule-free rule is its average, not an iterate.
    return_best = (flag("return_best", settings["return_best"]) and average is None
                   and not cls.variant.rule.modes)
    compiled = None
    if (use_compiled and x.dtype == np.float64 and callback is None and schedule is None
            and clip_norm is None and clip_value is None and average is None
            and _compiled_loop.is_jitted_pair(fun, jac)):
        # with a callable jac every iteration evaluates fun once: maxfev caps the iterations
        cap = maxiter if maxfev is None else min(maxiter, max(maxfev - 1, 0))
        compiled = _compiled_loop.run(fun, jac, objective.args, optimizer, x, limits, cap,
                                      gtol, ftol, xtol, return_best,
                                      specialize=compiled_mode == "specialize",
                                      jac_out=jac_out)
    if compiled is not None:
        status, nit, f, g, objective.nfev, f_start = compiled
        objective.njev = objective.nfev
        if status == 1 and maxfev is not None and objective.nfev >= maxfev:
            status = 2
    else:
        # Without the options that act between two iterations, the lean loop does the same with
        # one compiled call per iteration instead of three.
        lean = (callback is None and schedule is None and clip_norm is None
                and clip_value is None and average is None
                and x.shape[0] < kernels.PARALLEL_THRESHOLD)  # else the step runs in parallel
        step = optimizer.compiled_step() if lean else None
        if step is not None:
            status, nit, f, g, f_start = _lean_loop(objective, optimizer, step, x, limits,
                                                    maxiter, gtol, ftol, xtol, maxfev,
                                                    return_best)
        else:
            status, nit, f, g, x, f_start = _python_loop(
                objective, optimizer, x, limits, maxiter, gtol, ftol, xtol, maxfev,
                callback=callback, schedule=schedule, clip_norm=clip_norm,
                clip_value=clip_value, average=average, average_decay=average_decay,
                average_start=average_start, return_best=return_best)
    if getattr(optimizer, "mode", None) == "train" and status != 3:
        # Schedule-free: the iterates are gradient points; the answer is the averaged point,
        # unless fun or jac is not finite there: then the last iterate, with status 3
        iterate = x.copy(), f, g
        optimizer.eval()
        f, g = objective(x)
        if not math.isfinite(f) or kernels.count_nonfinite(g):
            x[:], f, g = iterate
            status = 3
    if status == 1 and not any_tolerance:
        status = 0
    if status == 0 and _compiled_loop.descent_sign(optimizer) * (f - f_start) > 0:
        status = 4  # never a success at a point worse than the start
    if status == 0 and not any_tolerance:
        message = "Completed maxiter iterations (no tolerance was requested)."
    else:
        message = STATUS_MESSAGES[status]
    if disp:
        print(f"{message}\n         Current function value: {f:.6f}\n         Iterations: {nit}"
              f"\n         Function evaluations: {objective.nfev}\n         Gradient "
              f"evaluations: {objective.njev}")
    return OptimizeResult(x=x, fun=f, jac=g, nit=nit, nfev=objective.nfev, njev=objective.njev,
                          status=status, success=status == 0, message=message, method=method,
                          compiled=compiled is not None)


def disp_flag(value):
    """The ``disp`` option, checked: a bool, or an integer (SciPy's methods take ``disp=1``)."""
    return flag("disp", bool(value) if isinstance(value, (int, np.integer)) else value)


def jac_out_flag(value, jac):
    """The ``jac_out`` option, checked: it needs a gradient function (a callable ``jac`` or
    ``jac=True``) to hand the array to."""
    value = flag("jac_out", value)
    if value and not (callable(jac) or jac is True):
        raise ValueError(f"jac_out=True needs a callable jac or jac=True, got jac={jac!r}")
    return value


def _count(name, value, default):
    """``maxiter`` / ``maxfev`` as SciPy's methods take them: an integer (an integral float
    too), ``None`` for the default, ``inf`` for no limit (``sys.maxsize``)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0 or (
            math.isfinite(value) and value != int(value)) or math.isnan(value):
        raise ValueError(f"{name} must be a non-negative integer, None or inf, got {value!r}")
    if math.isinf(value):
        return sys.maxsize
    return min(int(value), sys.maxsize)  # no run gets near: a count compiled code can take


class _OnGPU:
    """An optimizer whose state and update live on the GPU, driven by the host loop.

    The loop keeps ``x`` and ``g`` as NumPy arrays for the objective; each update sends both to
    the device (the loop may have projected or restored ``x`` on the host), steps there, and
    brings ``x`` back. Everything else (``lr``, ``step_count``, hyperparameters) is the wrapped
    optimizer's.
    """

    def __init__(self, cls, x, hyperparameters):
        from numadam import cuda  # imported only for this option

        self._cuda, self._x = cuda, x
        self._x_device = cuda.to_device(x)
        self._g_device = cuda.zeros(x.shape[0], x.dtype)
        self.__dict__["optimizer"] = cls(self._x_device, **hyperparameters)

    def step_prechecked(self, g):
        self._cuda.copy_to_device(self._x_device, self._x)
        self._cuda.copy_to_device(self._g_device, g)
        self.optimizer.step_prechecked(self._g_device)
        self._x_device.copy_to_host(self._x)

    def eval(self):
        self.optimizer.eval()
        self._x_device.copy_to_host(self._x)

    def __getattr__(self, name):
        return getattr(self.__dict__["optimizer"], name)

    def __setattr__(self, name, value):
        if name in ("lr", "step_count"):
            setattr(self.optimizer, name, value)
        else:
            object.__setattr__(self, name, value)


def _python_loop(objective, optimizer, x, limits, maxiter, gtol, ftol, xtol, maxfev, *, callback,
                 schedule, clip_norm, clip_value, average, average_decay, average_start,
                 return_best):
    # Bound once: this loop is hot.
    evaluate, update = objective._evaluate, optimizer.step_prechecked
    # A jac may hand back one array on every call (or views of one), which would change the
    # gradient this loop holds: seen once, every later gradient is copied (fresh arrays never
    # are).
    f, returned = evaluate(x)
    g, copying = returned.copy(), False
    if not math.isfinite(f) or kernels.count_nonfinite(g):
        return 3, 0, f, g, x, f
    clipping = clip_norm is not None or clip_value is not None
    sign = _compiled_loop.descent_sign(optimizer)
    if limits is not None:
        lower, upper = limits
    # The lowest point so far is saved only when the run climbs away from it (rare in a
    # descent), so that tracking it costs a comparison per iteration.
    best_f, best, f_start = math.inf, None, f
    previous = x.copy()  # the last accepted iterate
    averaged, averaged_count = None, 0
    status, nit = 1, 0
    counting = maxfev is not None
    ascending = sign < 0
    while nit < maxiter and not (counting and objective.nfev >= maxfev):
        if gtol is not None and (_max_abs(g) if limits is None
                                 else _max_abs_projected(g, x, lower, upper, sign)) <= gtol:
            status = 0
            break
        if schedule is not None:
            optimizer.lr = schedule(nit)
        try:
            update(_clip(g, clip_norm, clip_value) if clipping else g)
        except (OverflowError, ZeroDivisionError):
            # The rule's per-step scalars overflowed in Python's arithmetic (extreme
            # hyperparameters, e.g. schedule-free's r = 200 at step 34). The compiled loops
            # compute them in IEEE arithmetic, step to a NaN point and stop there with status
            # 3 at the last finite iterate: so does this loop, without that evaluation (the
            # step that raised is not counted).
            status = 3
            break
        if limits is not None:
            np.clip(x, *limits, out=x)
        nit += 1
        f_previous = f
        f, g_new = evaluate(x)
        # a fresh view of one buffer each call (``buf[:]``) is as much the same array
        if copying or g_new is returned or (g_new.base is not None
                                            and np.may_share_memory(g_new, g)):
            copying, returned, g_new = True, g_new, g_new.copy()
        else:
            returned = g_new
        if return_best and (f < f_previous if ascending else f > f_previous) and (
                sign * f_previous < best_f):
            best_f, best = sign * f_previous, (previous.copy(), f_previous, g.copy())
        nonfinite, step_norm = _accept(x, f, g_new, previous)
        if nonfinite:
            x[:] = previous  # the last finite iterate, with its f and g
            f, nit, status = f_previous, nit - 1, 3
            optimizer.step_count -= 1  # the step is not counted (its state changes are kept)
            break
        g = g_new
        if average is not None and nit >= average_start:
            if averaged is None:
                averaged = x.copy()
            elif average == "polyak":
                averaged += (x - averaged) / (averaged_count + 1)
            else:
                averaged *= average_decay
                averaged += (1 - average_decay) * x
            averaged_count += 1
        if callback is not None:
            try:
                callback(OptimizeResult(x=x.copy(), fun=f, jac=g.copy(), nit=nit))
            except StopIteration:
                status = 99
                break
        if ftol is not None and _small_change(f, f_previous, ftol):
            status = 0
            break
        if xtol is not None and step_norm <= xtol:
            status = 0
            break
    if status == 1 and maxfev is not None and objective.nfev >= maxfev:
        status = 2
    if best is not None and best_f < sign * f:
        x[:], f, g = best
    if averaged is not None and status != 3:
        f_averaged, g_averaged = evaluate(averaged)
        if math.isfinite(f_averaged) and not kernels.count_nonfinite(g_averaged):
            x, f, g = averaged, f_averaged, g_averaged
        else:  # the last iterate, with status 3, rather than a point where fun is NaN
            status = 3
    return status, nit, f, g, x, f_start


def _lean_loop(objective, optimizer, step, x, limits, maxiter, gtol, ftol, xtol, maxfev,
               return_best):
    """:func:`_python_loop` without a callback, schedule, clipping or averaging: the same
    operations in the same order (bitwise-equal results), run by a compiled generator
    (:func:`numadam._compiled_loop.driver_for`) that hands back to Python only to evaluate
    ``fun`` and ``jac``. ``step`` is the optimizer's :class:`~numadam.optimizers.CompiledStep`:
    its state vectors are updated in place, and the steps recorded with
    :meth:`~numadam.Optimizer.advance`. Returns ``(status, nit, f, g, f_start)``, with ``x``
    updated in place."""
    evaluate = objective._evaluate
    f, g = evaluate(x)
    if not math.isfinite(f) or kernels.count_nonfinite(g):
        return 3, 0, f, g, f
    bounded = limits is not None
    lower, upper = limits if bounded else (x[:0], x[:0])
    value = np.array([f, objective.nfev, 0.0])  # f, evaluations so far, "stop" (see below)
    gradient = g.copy()
    outcome = np.empty(4 + len(step.carry))
    counting = maxfev is not None
    driver = _compiled_loop.driver_for(optimizer.variant.rule)(
        x, value, gradient, step.state, step.constants, step.inputs, step.carry,
        optimizer.step_count + 1, lower, upper, bounded, _compiled_loop.descent_sign(optimizer),
        maxiter, maxfev if counting else -1, *(-1.0 if tol is None else tol
                                              for tol in (gtol, ftol, xtol)),
        return_best, outcome)
    try:
        for _ in driver:  # each time the driver wants f and g at x
            value[0], gradient[:] = evaluate(x)
            if counting:
                value[1] = objective.nfev
    except BaseException:
        # user code raised: let the driver end, which frees its arrays (a compiled generator
        # left suspended never does)
        value[2] = 1
        for _ in driver:
            pass
        raise
    status, nit, f, f_start, *carry = outcome.tolist()
    status, nit = int(status), int(nit)
    optimizer.advance(nit, carry)
    if status == 1 and counting and objective.nfev >= maxfev:
        status = 2
    return status, nit, f, gradient, f_start


# ------------------------------------------------------------------------------------------------
# Entry points for scipy.optimize.minimize(method=numadam.adam)
# ------------------------------------------------------------------------------------------------


def _scipy_method(name):
    def method(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None, constraints=(),
               callback=None, **options):
        _first_order_only(name, hess, hessp, constraints, stacklevel=3)
        if "tol" in options:  # SciPy passes minimize's `tol` to custom methods as an option
            options.setdefault("gtol", options.pop("tol"))
        return _minimize(fun, x0, args, name, jac, bounds, callback, options)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"``{name}`` for ``scipy.optimize.minimize(fun, x0, method=numadam.{name}, "
        f"options={{...}})``; the same as ``numadam.minimize(..., method={name!r})``.\n\n"
        f"Options\n-------\n" + show_options(name, disp=False).split("-------\n", 1)[1]
    )
    return method


# SciPy's naming for per-method solvers (``_minimize_bfgs``), and the public names to pass as
# ``method=``: the same functions, one per method of the registry.
for _name in METHODS:
    globals()[_name] = globals()[f"_minimize_{_name}"] = _scipy_method(_name)
__all__ += list(METHODS)
