r"""SciPy-style ``minimize(fun, x0, method="adam")`` on top of numadam's optimizers.

A SciPy user can swap ``method="BFGS"`` for ``method="adam"`` and keep ``args``, ``jac``
(callable, ``True``, or finite differences), ``bounds``, ``callback`` (both protocols),
``tol`` and ``options``; the result is a :class:`scipy.optimize.OptimizeResult`. The per-method
callables :func:`adam`, :func:`rmsprop`, ... plug into SciPy itself::

    scipy.optimize.minimize(fun, x0, jac=grad, method=numadam.adam, options={"lr": 1e-2})

Stopping and status
-------------------
The status codes and the stopping tests are the iteration policy's, written once in
:mod:`numadam._policy` (its docstring tables them).

Stochastic objectives
---------------------
``fun`` and ``jac`` may be random (a minibatch loss, a noisy measurement): they bring their own
``np.random.Generator``. numadam itself draws random numbers only for SPSA (below), from the
generator of ``options["seed"]``. With noise, prefer a fixed
budget (no tolerance: status 0 when ``maxiter`` completes) and iterate averaging,
``options={"average": "polyak"}`` (running mean of the iterates from ``average_start`` on) or
``"ema"`` (exponential moving average with ``average_decay``): the result's ``x`` is then the
averaged point, and ``fun``/``jac`` are evaluated once more there.

SPSA
----
``method="spsa"`` is Spall's simultaneous perturbation stochastic approximation: SGD stepping
``x ← x − a_k ĝ`` with ``a_k = a / (k + 1 + A) ** alpha``, ``ĝ`` the two-evaluation estimate
``jac="spsa"`` (see :mod:`numadam._objective`), both with ``noisyopt.minimizeSPSA``'s defaults and
formulas; ``jac="spsa"`` gives that estimate to any other method. An iteration costs ``2 *
spsa_samples`` evaluations of ``fun``, all counted in ``nfev`` (``maxfev`` is tested before each
iteration, so a run may pass it by less than one estimate); the values the loop sees (for
``ftol``, ``return_best``, the status) are the means of those evaluations, and the result's
``fun`` is ``fun`` evaluated once more at the returned ``x``. ``options={"seed": ...}`` makes the
run reproducible; a ``fun`` with a ``seed`` parameter gets the same seed for both points of a
pair (common random numbers). No compiled code of its own: the Python loop with SGD's kernel.

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
only to evaluate them (:func:`numadam._loops.lean_loop`): one cheap resume per iteration
instead of three calls into compiled code. It too is bitwise equal to the general Python loop
(tested through a callback that does nothing, which selects the general loop).
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning

from numadam import _compiled_loop, kernels
from numadam._inputs import bounds_arrays, callback_caller, initial_point
from numadam._loops import Averager, lean_loop, python_loop
from numadam._objective import PointObjective
from numadam._on_gpu import OnGPU
from numadam._options import (
    generator,
    method_class,
    method_name,
    minimize_settings,
    relative_step,
    schedule_from,
    spsa_jac,
)
from numadam._policy import (
    NONFINITE,
    answer_stands,
    budget_warning,
    descent_sign,
    final_status,
    message,
    project,
)
from numadam._resume import continue_best, load_state, replaced, result_state
from numadam.callbacks import ProgressBar, chain

__all__ = ["choose_loop", "first_order_only", "minimize", "solve"]


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
        Any method of the rule registry, case-insensitive (``list(numadam._options.METHODS)``:
        "adam", "adamw", "amsgrad", "nadam", "radam", "adamax", "adagrad", "adadelta",
        "rmsprop", "rprop", "sgd", "momentum", "nesterov", "lion", "asgd", "adopt", "ademamix",
        "schedulefree_adamw", and "spsa": see SPSA in the module docstring); or a callable
        with SciPy's custom-method signature. With
        "schedulefree_adamw" the result is the averaged (evaluation) point, projected onto
        ``bounds``, where ``fun`` and ``jac`` are evaluated once more; a run that stopped at
        ``gtol`` returns its last iterate instead when the gradient at that point does not meet
        ``gtol``. With "asgd" it is the iterate, as PyTorch's ASGD leaves it in the parameters
        (its average is the optimizer's state; ``options={"average": "polyak",
        "average_start": ...}`` returns an averaged point for any method).
    jac : callable, True, None, "2-point", "3-point", "cs" or "spsa"
        The gradient ``jac(x, *args) -> ndarray (n,)``; ``True`` when ``fun`` returns it too;
        otherwise finite differences by SciPy's ``approx_derivative`` (``None``: "2-point";
        "cs": complex step, for a ``fun`` that computes in complex arithmetic), never evaluated
        outside ``bounds``; "spsa": the simultaneous-perturbation estimate, two evaluations
        whatever ``n`` (options ``seed``, ``spsa_samples``, ``spsa_c``, ``spsa_gamma``).
        ``method="spsa"`` takes only ``None`` or "spsa".
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
        ``nit``, ``lr``: the step's learning rate, ``grad_norm``: the Euclidean norm of
        ``jac``) or the legacy ``callback(xk)`` (a copy); raising ``StopIteration`` stops.
        :mod:`numadam.callbacks` has a progress bar, a history and a CSV logger.
    options : dict, optional
        The method's hyperparameters (PyTorch's names and defaults, e.g. ``lr``, ``betas``) and
        the options listed by :func:`show_options`. Unknown options warn
        (``OptimizeWarning``), as in SciPy.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``njev``, ``success``, ``status``,
        ``message`` (see the status table in the module docstring), ``method``, ``compiled``
        (whether the nopython loop ran) and ``state``: the optimizer's state dict, which
        ``options={"state": result.state}`` resumes from (:mod:`numadam._resume`; ``nit``
        counts this call's iterations, ``state["step"]`` all of them).

    Examples
    --------
    >>> from numadam.functions import rosen, rosen_der  # jitted: the whole loop runs compiled
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
    name = method_name(method)
    first_order_only(name, hess, hessp, constraints, stacklevel=2)
    return solve(fun, x0, args, name, jac, bounds, callback, options, stacklevel=3)


def first_order_only(method, hess, hessp, constraints, stacklevel):
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


def choose_loop(settings, step, x, fun, jac, callback, compiled=True):
    """Which loop runs a ``minimize`` call, the first that can serve it (``step``: the
    optimizer's :class:`~numadam.optimizers.CompiledStep`, ``None`` where it has none;
    ``compiled=False`` once the compiled loop turned the objective down):

    - ``"compiled"`` (:func:`numadam._compiled_loop.run`): jitted ``fun`` and ``jac``, a
      float64 ``x`` on the CPU, nothing acting between iterations, ``compiled`` not off, an
      optimizer a compiled loop can step (with parameter groups, an elementwise rule's);
    - ``"lean"`` (:func:`numadam._loops.lean_loop`): nothing acting between iterations and an
      optimizer a compiled generator can step (float64 on the CPU, below the size where the
      step runs in parallel; with parameter groups, an elementwise rule's);
    - ``"python"`` (:func:`numadam._loops.python_loop`): everything else.
    """
    plain = callback is None and not settings.between_iterations
    if (compiled and plain and step is not None and settings.compiled is not False
            and settings.device == "cpu" and x.dtype == np.float64
            and _compiled_loop.is_jitted_pair(fun, jac)):
        return "compiled"
    if plain and x.shape[0] < kernels.PARALLEL_THRESHOLD and step is not None:
        return "lean"
    return "python"


def solve(fun, x0, args, method, jac, bounds, callback, options, stacklevel=4):
    """``minimize`` for a method of the registry: check the inputs, pick the loop, run it,
    move to the answer point and build the result.

    ``stacklevel``: the first frame in user code, for the warnings (as SciPy's
    ``_check_unknown_options``): user -> minimize -> solve is 3; user -> scipy's minimize ->
    numadam.adam -> solve is 4.
    """
    jac = spsa_jac(method, jac)
    cls, _ = method_class(method)
    settings = minimize_settings(method, options, jac, stacklevel + 1)
    x = initial_point(x0)
    limits = bounds_arrays(bounds, x.size, x.dtype)
    bounded = limits is not None
    if bounded:
        np.clip(x, *limits, out=x)
    lower, upper = limits if bounded else (x[:0], x[:0])
    groups = {} if settings.groups is None else {"groups": settings.groups}
    if settings.device == "cuda":
        optimizer = OnGPU(cls, x, {**settings.hyperparameters, **groups})
    else:
        optimizer = cls(x, **settings.hyperparameters, **groups)  # validates them all
    saved_best = None  # the lowest point of the runs a state continues
    if settings.state is not None:
        saved_best = load_state(optimizer, settings.state, method, x)
        if bounded:  # a saved gradient point lies in the box it was run in, maybe not this one
            np.clip(x, *limits, out=x)
    schedule = schedule_from(settings.schedule, settings.schedule_options, optimizer.lr,
                             settings.maxiter)
    args = args if isinstance(args, tuple) else (args,)  # as SciPy wraps a non-tuple
    spsa = ((generator(settings.seed), *settings.spsa)
            if isinstance(jac, str) and jac == "spsa" else None)
    objective = PointObjective(fun, jac, args, x, limits,
                               relative_step(settings.finite_diff_rel_step, x.shape[0]),
                               settings.jac_out, spsa)
    callback = callback_caller(callback)
    bar = None
    if settings.progress:  # closed below, once the loop ran
        bar = ProgressBar(total=None if maxiter_unlimited(settings.maxiter) else settings.maxiter)
        callback = chain(callback, bar)
    # The answer of an averaging run or a schedule-free rule is its average, not an iterate.
    return_best = (settings.return_best and settings.average is None
                   and not cls.variant.rule.modes)
    sign = descent_sign(optimizer.hyperparameters.get("maximize", False))
    maxiter = settings.maxiter
    maxfev = -1 if settings.maxfev is None else settings.maxfev  # the policy's "no limit"
    tolerances = tuple(-1.0 if tol is None else tol
                       for tol in (settings.gtol, settings.ftol, settings.xtol))
    step = optimizer.compiled_step()
    loop = choose_loop(settings, step, x, fun, jac, callback)
    averager = None
    last = np.empty_like(x)  # the last iterate, where return_best puts another point in x
    if loop == "compiled":
        # with a callable jac every iteration evaluates fun once: maxfev caps the iterations
        cap = maxiter if maxfev < 0 else min(maxiter, max(maxfev - 1, 0))
        outcome = _compiled_loop.run(fun, jac, objective.args, optimizer, x, lower, upper,
                                     bounded, sign, cap, *tolerances, return_best,
                                     specialize=settings.compiled == "specialize",
                                     jac_out=settings.jac_out)
        if outcome is None:  # Numba cannot call them so: the Python side and its clear errors
            loop = choose_loop(settings, step, x, fun, jac, callback, compiled=False)
        else:
            status, nit, f, g, objective.nfev, f_start, last[:] = outcome
            objective.njev = objective.nfev
    if loop == "lean":
        status, nit, f, g, f_start = lean_loop(
            objective, optimizer, step, x, lower, upper, bounded, sign,
            maxiter, maxfev, *tolerances, return_best, last)
    elif loop == "python":
        if settings.device == "cpu":
            # the objective runs between the steps, maybe on BLAS threads of its own: the step
            # on one thread, as in the other loops, so that two pools never spin against each
            # other (Optimizer.threaded)
            optimizer.threaded = False
        if settings.average is not None:
            averager = Averager(settings.average, settings.average_decay,
                                settings.average_start)
        status, nit, f, g, f_start = python_loop(
            objective, optimizer, x, lower, upper, bounded, sign, maxiter, maxfev, *tolerances,
            return_best, last, callback=callback, schedule=schedule,
            clip_norm=settings.clip_norm,
            clip_value=settings.clip_value, averager=averager)
    if bar is not None:
        bar.close()
    nfev_of_loop = objective.nfev
    if return_best:  # a resumed run returns the lowest point of all its runs, as one run would
        f, g = continue_best(x, f, g, last, saved_best, sign)
    # where the answer is not the last iterate, the state keeps the iterate too, and the lowest
    # point where return_best put it in its place
    other_point = replaced(x, last)
    best = {"x": x.copy(), "fun": f, "jac": np.array(g)} if other_point else None
    iterate = last if other_point or cls.variant.rule.modes or averager is not None else None
    x, f, g, status = _to_answer_point(objective, optimizer, averager, x, f, g, status, lower,
                                       upper, bounded, sign, tolerances[0])
    if settings.disp:
        warning = budget_warning(status, nfev_of_loop, maxfev)
        if warning is not None:  # as SciPy's methods, whatever the status becomes below
            warnings.warn(warning, OptimizeWarning, stacklevel=stacklevel)
    status = final_status(status, nfev_of_loop, maxfev, settings.any_tolerance, sign, f,
                          f_start)
    if objective.estimates_value:  # SPSA: the loop saw means around the points, not f(x)
        f = objective.value(x)
    text = message(status, settings.any_tolerance)
    if settings.disp:
        print(f"{text}\n         Current function value: {f:.6f}\n         Iterations: {nit}"
              f"\n         Function evaluations: {objective.nfev}\n         Gradient "
              f"evaluations: {objective.njev}")
    return OptimizeResult(x=x, fun=f, jac=g, nit=nit, nfev=objective.nfev, njev=objective.njev,
                          status=status, success=status == 0, message=text, method=method,
                          compiled=loop == "compiled",
                          state=result_state(optimizer, iterate, best))


def maxiter_unlimited(maxiter):
    """Whether ``maxiter`` is the "no limit" of ``maxiter=inf`` (``_options.count``)."""
    return maxiter == sys.maxsize


def _to_answer_point(objective, optimizer, averager, x, f, g, status, lower, upper, bounded,
                     sign, gtol):
    """The answer of a run that is not its last iterate, evaluated there: the average of the
    iterates (``average``), or a schedule-free rule's evaluation point, projected onto the
    bounds (the policy's :func:`~numadam._policy.project`). Where ``fun`` or ``jac`` is not
    finite there, the last iterate stands, with status NONFINITE; where the run stopped at
    ``gtol`` and the gradient there does not meet it, the last iterate stands too (the
    policy's :func:`~numadam._policy.answer_stands`). Returns ``(x, f, g, status)``."""
    schedule_free = getattr(optimizer, "mode", None) == "train"
    averaged = averager is not None and averager.point is not None
    if status == NONFINITE or not (schedule_free or averaged):
        return x, f, g, status
    last = x.copy(), f, g
    if averaged:
        point = averager.point
    else:
        optimizer.eval()  # moves x to the evaluation point, in place
        point = x
    if bounded:  # schedule-free's point extrapolates past the iterates, out of the box
        project(point, lower, upper)
    f_answer, g_answer = objective.evaluate(point)
    finite = math.isfinite(f_answer) and not kernels.count_nonfinite(g_answer)
    if finite and answer_stands(status, g_answer, point, lower, upper, bounded, sign, gtol):
        return point, f_answer, g_answer, status
    x[:] = last[0]  # the last iterate: where gtol was met, or the last finite point
    return x, last[1], last[2], status if finite else NONFINITE
