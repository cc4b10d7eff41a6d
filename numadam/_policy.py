"""The iteration policy of every minimize loop, written once.

Every loop of :func:`numadam.minimize` and :func:`numadam.minimize_batch` (the Python loop, the
lean loop's compiled generator, the compiled loop, the batch's compiled run and its vectorized
form) runs the same iteration::

    while budget_left(...):
        if gradient_converged(...): status SUCCESS, stop   # gtol, before a step
        step with the rule; project(x) onto the bounds
        evaluate f, g at the new point
        if climbed_from_best(...): keep the previous point as the best so far
        nonfinite, step_norm = accept(x, f, g, previous)
        if nonfinite: restore the previous point, status NONFINITE, stop
        if converged_after_step(...): status SUCCESS, stop  # ftol, then xtol
    if best_is_lower(...): return the best point instead of the last

A run whose answer is not an iterate (iterate averaging, a schedule-free rule's evaluation
point, which extrapolates past the iterates) moves there, projects it onto the bounds
(:func:`project`: the answer never leaves the box) and tests ``gtol`` there
(:func:`answer_stands`): where the run stopped because ``gtol`` held at its last iterate but
it does not hold at the answer, the last iterate is returned instead, so that no success is
ever claimed at another point than the one returned. It ends with :func:`final_status` and
:func:`message`:

======  =======  ==========================================================================
status  success  meaning
======  =======  ==========================================================================
0       True     a tolerance was met (``gtol``: max-norm of the gradient, projected on the
                 bounds; ``ftol``: relative change of ``f``; ``xtol``: max-norm of the
                 step), or ``maxiter`` iterations
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

The loops differ only in how they evaluate the objective and how many problems they carry; each
fact of the policy (a stopping test, the best-point test, the status table) is here and nowhere
else.

The primitives run from Python and from Numba alike: the array ones are ``@njit`` functions
inlined where a compiled loop calls them, the scalar ones plain Python that Numba inlines
(``register_jitable``), so a Python caller pays no dispatch for them. A tolerance, ``maxfev``
or ``gtol`` that was not requested is passed as a negative number.

They compare with ``if d > largest`` rather than calling the builtin ``max``: Numba's float
``max`` costs about 20 ns, more than a whole 2-D Adam step. Their inputs are finite (iterates
and checked gradients), where both give the same value.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

__all__ = [
    "CALLBACK_STOP", "MAXFEV", "MAXITER", "NONFINITE", "STATUS_MESSAGES", "SUCCESS", "WORSE",
    "accept", "answer_stands", "copy_into", "answers_stand", "best_is_lower",
    "budget_left", "budget_warning", "climbed_from_best", "converged_after_step",
    "descent_sign", "final_status", "final_statuses", "gradient_converged", "max_abs",
    "max_abs_projected", "message", "project", "small_change",
]

# ------------------------------------------------------------------------------------------------
# The status table
# ------------------------------------------------------------------------------------------------

SUCCESS = 0  #: a tolerance was met, or maxiter completed when none was asked for
MAXITER = 1  #: maxiter reached while a requested tolerance was not met
MAXFEV = 2  #: maxfev evaluations of fun reached
NONFINITE = 3  #: fun or jac returned NaN or inf: the last finite iterate is returned
WORSE = 4  #: with return_best=False, the run ended above f(x0)
CALLBACK_STOP = 99  #: the callback raised StopIteration

STATUS_MESSAGES = {
    SUCCESS: "Optimization terminated successfully.",
    MAXITER: "Maximum number of iterations has been exceeded.",
    MAXFEV: "Maximum number of function evaluations has been exceeded.",
    NONFINITE: "NaN result encountered.",
    WORSE: "The last iterate is worse than the start (return_best=False).",
    CALLBACK_STOP: "`callback` raised `StopIteration`.",
}

#: The message of status 0 when no tolerance was requested (a fixed budget).
COMPLETED_MAXITER = "Completed maxiter iterations (no tolerance was requested)."


# ------------------------------------------------------------------------------------------------
# The stopping tests
# ------------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def max_abs(values):
    """``max|values|`` (0 for an empty vector)."""
    largest = 0.0
    for value in values:
        d = abs(value)
        if d > largest:
            largest = d
    return largest


@njit(cache=True, error_model="numpy")
def max_abs_projected(g, x, lower, upper, sign):
    """``max|g|`` over the components not blocked by an active bound: a component where ``x``
    sits on its lower bound and the step would go down (``sign * g > 0``), or on its upper bound
    and the step would go up, counts as 0 (the projected gradient of L-BFGS-B's ``pgtol``).
    ``sign`` is ``-1`` when maximizing."""
    largest = 0.0
    for i in range(g.shape[0]):
        d = sign * g[i]
        if (d > 0 and x[i] <= lower[i]) or (d < 0 and x[i] >= upper[i]):
            continue
        a = abs(g[i])
        if a > largest:
            largest = a
    return largest


@register_jitable  # not inlined in Numba's IR: in a generator's loop test that warned
def budget_left(nit, maxiter, nfev, maxfev):
    """Whether another iteration may run: fewer than ``maxiter`` iterations so far and, with a
    ``maxfev`` (not negative), fewer than ``maxfev`` evaluations of ``fun``."""
    return nit < maxiter and not (maxfev >= 0 and nfev >= maxfev)


@register_jitable(inline="always")
def gradient_converged(g, x, lower, upper, bounded, sign, gtol):
    """The ``gtol`` test, before a step: ``max|g| <= gtol``, the gradient projected on the
    bounds when ``bounded``."""
    return gtol >= 0 and (max_abs_projected(g, x, lower, upper, sign) if bounded
                          else max_abs(g)) <= gtol


@register_jitable
def small_change(f, f_previous, ftol):
    """The ``ftol`` test, ``|f - f_previous| <= ftol * max(|f|, |f_previous|, 1)``."""
    scale = 1.0
    if abs(f) > scale:
        scale = abs(f)
    if abs(f_previous) > scale:
        scale = abs(f_previous)
    return abs(f - f_previous) <= ftol * scale


@register_jitable(inline="always")
def converged_after_step(f, f_previous, step_norm, ftol, xtol):
    """The tests after an accepted step, in their order: ``ftol`` (:func:`small_change`), then
    ``xtol`` (the step's max-norm)."""
    return (ftol >= 0 and small_change(f, f_previous, ftol)) or (xtol >= 0
                                                                  and step_norm <= xtol)


# ------------------------------------------------------------------------------------------------
# A step: projection, acceptance, the best point
# ------------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", inline="always")
def project(x, lower, upper):
    """``x`` clipped into ``[lower, upper]`` in place: ``min(max(x, lo), hi)``, which is
    ``np.clip``."""
    for i in range(x.shape[0]):
        x[i] = min(max(x[i], lower[i]), upper[i])


@njit(cache=True, error_model="numpy")
def copy_into(destination, source):
    """``destination[:] = source`` for two vectors of one length, as a loop: Numba compiles a
    slice assignment with its broadcasting error message, string formatting that takes seconds
    to compile in every process that compiles a loop. Called, not inlined: inlined into the
    compiled minimize loop (where it runs only at the best point and at the end), it cost that
    loop's every iteration a few percent."""
    for i in range(destination.shape[0]):
        destination[i] = source[i]


@njit(cache=True, error_model="numpy", inline="always")
def accept(x, f, g, previous):
    """After evaluating at the new point ``x``: whether ``f`` or ``g`` is NaN/inf; if not, also
    the step's max-norm ``max|x - previous|``, and ``previous[:] = x`` for the next iteration.
    (A rejected point is the caller's to restore from ``previous``: status NONFINITE.)

    No early return inside the first loop: it kept LLVM from simplifying it, 7x slower at
    n = 2.
    """
    bad = (f - f) != 0  # NaN for inf and NaN
    for i in range(g.shape[0]):
        bad |= (g[i] - g[i]) != 0
    if bad:
        return True, 0.0
    largest = 0.0
    for i in range(x.shape[0]):
        d = abs(x[i] - previous[i])
        if d > largest:
            largest = d
        previous[i] = x[i]
    return False, largest


@register_jitable(inline="always")
def climbed_from_best(return_best, sign, f, f_previous, best_key):
    """Whether the step just taken climbed above the point before it (``f`` above
    ``f_previous``, below when maximizing) and that point is the lowest so far (its key
    ``sign * f_previous`` below ``best_key``): then the caller saves it as the best point.

    It is saved only when the run climbs away from it (rare in a descent), so that tracking it
    costs a comparison per iteration.
    """
    return return_best and sign * f > sign * f_previous and sign * f_previous < best_key


@register_jitable(inline="always")
def best_is_lower(best_key, sign, f):
    """At the end of a run: whether the saved best point is below the last one (then it is
    returned instead)."""
    return best_key < sign * f


# ------------------------------------------------------------------------------------------------
# The epilogue
# ------------------------------------------------------------------------------------------------


@register_jitable
def answer_stands(status, g, x, lower, upper, bounded, sign, gtol):
    """Whether the answer ``x`` of a run that is not its last iterate (an average, or a
    schedule-free rule's evaluation point, already projected onto the bounds), with ``g`` the
    gradient there, may be returned with the run's ``status``: not when the run claims a
    success, ``gtol`` was requested and it does not hold at ``x`` itself (the loop tested it at
    the iterates, and the answer may be far from them: schedule-free's point extrapolates
    past them). Then the caller returns the last iterate, where the tolerance was met."""
    return not (status == SUCCESS and gtol >= 0
                and not gradient_converged(g, x, lower, upper, bounded, sign, gtol))


@njit(cache=True, parallel=True, error_model="numpy")
def answers_stand(rows, status, G, X, lower, upper, bounded, sign, gtol):
    """:func:`answer_stands` of the problems ``rows`` of a batch, as a mask over ``rows``."""
    stands = np.empty(rows.shape[0], np.bool_)
    for j in prange(rows.shape[0]):
        b = rows[j]
        stands[j] = answer_stands(status[b], G[b], X[b], lower[b], upper[b], bounded, sign,
                                  gtol)
    return stands



@register_jitable
def final_status(status, nfev, maxfev, any_tolerance, sign, f, f_start):
    """A finished run's status: ``maxiter`` reached is ``MAXFEV`` when the evaluations ran out
    (``maxfev >= 0``) and a success when no tolerance was asked for; a success above the start
    (``sign * (f - f_start) > 0``) is ``WORSE``: never a success worse than ``x0``."""
    if status == MAXITER and maxfev >= 0 and nfev >= maxfev:
        status = MAXFEV
    if status == MAXITER and not any_tolerance:
        status = SUCCESS
    if status == SUCCESS and sign * (f - f_start) > 0:
        status = WORSE
    return status


@njit(cache=True, parallel=True, error_model="numpy")
def final_statuses(status, nfev, maxfev, any_tolerance, sign, F, F_start):
    """:func:`final_status` of every problem of a batch, in place."""
    for b in prange(status.shape[0]):
        status[b] = final_status(status[b], nfev[b], maxfev, any_tolerance, sign, F[b],
                                 F_start[b])


def message(status, any_tolerance):
    """The message of a final ``status``."""
    if status == SUCCESS and not any_tolerance:
        return COMPLETED_MAXITER
    return STATUS_MESSAGES[status]


def descent_sign(maximize):
    """``-1.0`` when maximizing, else ``1.0``: every comparison of values is of ``sign * f``."""
    return -1.0 if maximize else 1.0


def budget_warning(status, nfev, maxfev):
    """The warning ``disp=True`` gives for a run that used up ``maxiter`` or ``maxfev`` (the
    loop's status, before :func:`final_status`), as SciPy's methods warn whatever the status
    policy then makes of it; ``None`` for any other end."""
    if status != MAXITER:
        return None
    return STATUS_MESSAGES[MAXFEV if 0 <= maxfev <= nfev else MAXITER]
