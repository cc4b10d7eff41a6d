"""The iteration loop of :func:`numadam.minimize` in nopython mode, for jitted ``fun`` and ``jac``.

When both ``fun`` and ``jac`` are Numba dispatchers (``@numba.njit`` functions), they are passed
as first-class function arguments into :func:`_run`, an ``@njit`` loop that evaluates them,
checks the values, tests the tolerances and calls the update kernel of :mod:`numadam.kernels`
directly: no Python call per iteration.

Bitwise equality with the Python loop
-------------------------------------
The loop does, operation for operation, what ``_minimize._python_loop`` does: the same kernels,
with the same host scalars. The scalars that do not change from step to step are taken from the
optimizer object itself (``Adam._scalars_before`` ...); the two that change, Adam's
``-lr / (1 - beta1**t)`` and ``sqrt(1 - beta2**t)``, are computed here with the same float64
operations as ``Adam._update``. One trap: ``math.pow(beta, t)`` with an *integer* ``t`` compiles
to repeated squaring, whose last bit can differ from the C ``pow`` that Python's ``float ** int``
calls; the exponent is therefore converted to float first. The tolerance tests
(``max|g| <= gtol``, the relative change of ``f``, ``max|x_k - x_(k-1)|``) and the bound
projection (``min(max(x, lo), hi)``, which is ``np.clip``) are exact operations. So the results
are bitwise equal (the tests check it with ``np.array_equal``), provided the jitted objective
returns the same values when called from Numba as when called from Python, which holds for a
given dispatcher and argument types.

Limits
------
* float64 only (a float32 ``x0`` runs in the Python loop);
* constant hyperparameters: a callback, a learning-rate schedule, gradient clipping, iterate
  averaging, ``jac=True`` or finite differences select the Python loop;
* not cached on disk (``cache=True`` is off on purpose): a loop that takes the user's function
  as an argument is compiled once per objective and per session, about a second, and an on-disk
  cache keyed on user functions goes stale or recompiles unpredictably (numba #6972, #2952).
  Later calls with the same objective reuse the compiled loop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.core.errors import TypingError
from numba.extending import is_jitted

from numadam import kernels
from numadam.optimizers import Adam, RMSProp


@njit(cache=True, error_model="numpy")
def max_abs(values):
    """``max|values|`` (0 for an empty vector); NaN-free inputs assumed."""
    largest = 0.0
    for value in values:
        largest = max(largest, abs(value))
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
        largest = max(largest, abs(g[i]))
    return largest


@njit(cache=True, error_model="numpy")
def accept(x, f, g, previous):
    """After evaluating at the new point ``x``: whether ``f`` or ``g`` is NaN/inf; if not, also
    the step's max-norm ``max|x - previous|``, and ``previous[:] = x`` for the next iteration.

    One pass instead of three Python-level calls: this runs once per iteration of both loops.
    """
    if (f - f) != 0:
        return True, 0.0
    for i in range(g.shape[0]):
        if (g[i] - g[i]) != 0:
            return True, 0.0
    largest = 0.0
    for i in range(x.shape[0]):
        largest = max(largest, abs(x[i] - previous[i]))
        previous[i] = x[i]
    return False, largest


def descent_sign(optimizer):
    """``-1.0`` when the optimizer maximizes, else ``1.0``."""
    return -1.0 if optimizer.hyperparameters.get("maximize", False) else 1.0


def is_jitted_pair(fun, jac):
    """Whether ``fun`` and ``jac`` are both Numba dispatchers that the compiled loop can call."""
    return is_jitted(fun) and callable(jac) and is_jitted(jac)


# ------------------------------------------------------------------------------------------------
# One step of each rule: the optimizer's _update, in nopython mode
# ------------------------------------------------------------------------------------------------


@njit(error_model="numpy")
def _adam_step(state, x, g, step):
    vectors, before, after, lr, beta1, beta2 = state
    # float(step): see the module docstring (math.pow with an int exponent).
    neg_step_size = -(lr / (1 - math.pow(beta1, float(step))))
    bias_correction2_sqrt = math.sqrt(1 - math.pow(beta2, float(step)))
    kernels.adam(x, g, vectors[0], vectors[1], vectors[2], before[0], before[1], before[2],
                 before[3], before[4], before[5], before[6], neg_step_size,
                 bias_correction2_sqrt, after[0], after[1])


@njit(error_model="numpy")
def _rmsprop_step(state, x, g, step):
    vectors, s = state
    kernels.rmsprop(x, g, vectors[0], vectors[1], vectors[2], s[0], s[1], s[2], s[3], s[4],
                    s[5], s[6], s[7], s[8])


@njit(error_model="numpy")
def _sgd_step(state, x, g, step):
    vectors, head, first, later = state
    tail = first if step == 1 else later
    kernels.sgd(x, g, vectors[0], head[0], head[1], head[2], head[3], tail[0], tail[1], tail[2])


def _step_and_state(optimizer):
    """The optimizer's step function and its state as a tuple the compiled loop can take.

    The vectors are the optimizer's own (updated in place); the scalars are the ones the
    optimizer hands its kernel (float64 here: the compiled loop serves float64 only).
    """
    vectors = optimizer._state_vectors
    if isinstance(optimizer, Adam):
        return _adam_step, (vectors, optimizer._scalars_before, optimizer._scalars_after,
                            float(optimizer._lr), *map(float, optimizer._betas))
    if isinstance(optimizer, RMSProp):
        return _rmsprop_step, (vectors, optimizer._scalars)
    return _sgd_step, (vectors, optimizer._head, optimizer._first_step, optimizer._later_steps)


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------


@njit(error_model="numpy")
def _run(fun, jac, args, step, state, first_step, x, lower, upper, bounded, sign, maxiter, gtol,
         ftol, xtol):
    """``_minimize._python_loop`` line for line, minus the features listed in the module
    docstring. A negative tolerance means "not requested".

    Returns ``(status, nit, f, g, nfev)`` with ``x`` updated in place; status ``-1`` reports a
    gradient of the wrong shape (the caller raises).
    """
    f = fun(x, *args)
    g = jac(x, *args)
    nfev = 1
    if g.shape != x.shape:
        return -1, 0, f, g, nfev
    if (f - f) != 0 or kernels.count_nonfinite(g):
        return 3, 0, f, g, nfev
    previous = x.copy()
    status, nit = 1, 0
    while nit < maxiter:
        if gtol >= 0 and (max_abs_projected(g, x, lower, upper, sign) if bounded
                          else max_abs(g)) <= gtol:
            status = 0
            break
        step(state, x, g, first_step + nit)
        if bounded:
            for i in range(x.shape[0]):
                x[i] = min(max(x[i], lower[i]), upper[i])
        nit += 1
        f_previous = f
        f = fun(x, *args)
        g_new = jac(x, *args)
        nfev += 1
        if g_new.shape != x.shape:
            return -1, nit, f, g_new, nfev
        nonfinite, step_norm = accept(x, f, g_new, previous)
        if nonfinite:
            x[:] = previous
            f, nit, status = f_previous, nit - 1, 3
            break
        g = g_new
        if ftol >= 0 and abs(f - f_previous) <= ftol * max(abs(f), abs(f_previous), 1.0):
            status = 0
            break
        if xtol >= 0 and step_norm <= xtol:
            status = 0
            break
    return status, nit, f, g, nfev


def run(fun, jac, args, optimizer, x, limits, maxiter, gtol, ftol, xtol):
    """Run the compiled loop; ``None`` if Numba cannot type the objective this way (e.g. ``fun``
    returns an array), so that the caller falls back to the Python loop and its clear errors.

    Returns ``(status, nit, f, g, nfev)``; ``x`` and the optimizer's state are updated in place
    and its step count advanced.
    """
    step, state = _step_and_state(optimizer)
    bounded = limits is not None
    lower, upper = limits if bounded else (x[:0], x[:0])
    try:
        status, nit, f, g, nfev = _run(
            fun, jac, tuple(args), step, state, optimizer.step_count + 1, x, lower, upper,
            bounded, descent_sign(optimizer), int(maxiter), -1.0 if gtol is None else gtol,
            -1.0 if ftol is None else ftol, -1.0 if xtol is None else xtol)
    except TypingError:
        return None  # raised while compiling, before anything ran: x and state are untouched
    if status == -1:
        raise ValueError(f"jac must return an array of shape {x.shape} like x0, got shape "
                         f"{np.shape(g)}")
    optimizer.step_count += nit
    return status, nit, float(f), np.asarray(g), nfev
