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
calls; the exponent is therefore converted to float first. Once ``1 - beta**t`` is exactly 1 it
stays 1 (see :func:`bias_correction_done`), and the loop stops calling ``pow`` from that step
on, without changing a bit. The tolerance tests
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
* not cached on disk (``cache=True`` is off on purpose, see ``anchors-style.md`` section 7.10b):
  a loop that takes the user's function as an argument is compiled once per objective (type
  signature) and per session, 1.5-4 s on the project's machine (the first in a process is the
  slowest), and an on-disk cache keyed on user functions goes stale or recompiles unpredictably
  (numba #6972, #2952). Later calls with the same objective reuse the compiled loop.

Speed
-----
About 0.06 us per iteration on 2-D Rosenbrock (``benchmarks/bench_minimize.py``), most of it
the jitted gradient's array allocation and Adam's dependent sqrt/divide chain. The update is
written into the loop body rather than a helper function: a Numba call that passes the state
arrays costs ~40 ns in reference counting, more than the 2-D step itself.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.core.errors import TypingError
from numba.extending import is_jitted

from numadam import kernels
from numadam.optimizers import Adam, RMSProp

# The helpers below compare with ``if d > largest`` rather than calling the builtin ``max``:
# Numba's float ``max`` costs about 20 ns, more than a whole 2-D Adam step. Their inputs are
# finite (the iterates and checked gradients), where both give the same value.


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


@njit(cache=True, error_model="numpy")
def accept(x, f, g, previous):
    """After evaluating at the new point ``x``: whether ``f`` or ``g`` is NaN/inf; if not, also
    the step's max-norm ``max|x - previous|``, and ``previous[:] = x`` for the next iteration.

    One call instead of three Python-level ones: this runs once per iteration of both loops. (No
    early return inside the first loop: it kept LLVM from simplifying it, 7x slower at n = 2.)
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


@njit(cache=True, error_model="numpy")
def small_change(f, f_previous, ftol):
    """The ``ftol`` test, ``|f - f_previous| <= ftol * max(|f|, |f_previous|, 1)``."""
    scale = 1.0
    if abs(f) > scale:
        scale = abs(f)
    if abs(f_previous) > scale:
        scale = abs(f_previous)
    return abs(f - f_previous) <= ftol * scale


def descent_sign(optimizer):
    """``-1.0`` when the optimizer maximizes, else ``1.0``."""
    return -1.0 if optimizer.hyperparameters.get("maximize", False) else 1.0


def is_jitted_pair(fun, jac):
    """Whether ``fun`` and ``jac`` are both Numba dispatchers that the compiled loop can call."""
    return is_jitted(fun) and callable(jac) and is_jitted(jac)


# ------------------------------------------------------------------------------------------------
# One step of each rule: the optimizer's _update, in nopython mode
# ------------------------------------------------------------------------------------------------

ADAM, RMSPROP, SGD = 0, 1, 2

#: Beyond 2**53 a float step count is no longer exact; bias corrections are 1 long before.
_NEVER = float(2**53)


def bias_correction_done(beta):
    """The first step ``t`` from which ``1 - beta**t`` is exactly ``1.0`` (Python's ``**``, the
    C ``pow`` that ``Adam._update`` calls), or ``2**53`` if there is none before.

    From then on the bias correction is exactly 1 at every later step too (``beta**t`` falls
    with ``t``, and ``fl(1 - y)`` cannot fall as ``y`` does), so the compiled loop stops calling
    ``pow`` there without changing a bit: two ``pow`` calls cost about 25 ns, a third of a 2-D
    Adam iteration. ``beta1 = 0.9`` reaches it at ``t = 350``; ``beta2 = 0.999`` near 36,700.
    """
    if 1 - beta**_NEVER != 1.0:
        return _NEVER
    low, high = 0, 2**53  # 1 - beta**low != 1.0 (or low == 0), 1 - beta**high == 1.0
    while high - low > 1:
        middle = (low + high) // 2
        if 1 - beta ** float(middle) == 1.0:
            high = middle
        else:
            low = middle
    return float(high)


def _rule_and_state(optimizer):
    """``(rule, vectors, scalars, flag)``: the optimizer's state vectors (its own, updated in
    place) and the float64 scalars it hands its kernel, in one flat array so that one compiled
    loop serves every rule. The values are the optimizer's own, bit for bit."""
    vectors = optimizer._state_vectors
    if isinstance(optimizer, Adam):
        beta1, beta2 = optimizer._betas
        scalars = [*optimizer._scalars_before, optimizer._scalars_after[0], optimizer._lr,
                   beta1, beta2, bias_correction_done(beta1), bias_correction_done(beta2)]
        return ADAM, vectors, scalars, optimizer._scalars_after[1]
    if isinstance(optimizer, RMSProp):
        return RMSPROP, vectors, list(optimizer._scalars[:8]), optimizer._scalars[8]
    empty = vectors[0][:0]
    first, later = optimizer._first_step, optimizer._later_steps
    scalars = [*optimizer._head, first[0], first[1], later[0], later[1]]
    return SGD, (vectors[0], empty, empty), scalars, later[2]


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------


@njit(error_model="numpy")
def _run(fun, jac, args, rule, v0, v1, v2, s, flag, first_step, x, lower, upper, bounded,
         sign, maxiter, gtol, ftol, xtol):
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
        # One update of x by `rule`: the kernel call of <Rule>._update with the same scalars.
        # Written out here rather than in a helper function: a call that passes the arrays
        # costs ~40 ns (reference counting), more than the whole 2-D step.
        step = first_step + nit
        if rule == ADAM:
            # float(step): see the module docstring (math.pow with an int exponent).
            t = float(step)
            neg_step_size = -(s[8] / 1.0)
            if t < s[11]:
                neg_step_size = -(s[8] / (1 - math.pow(s[9], t)))
            bias_correction2_sqrt = 1.0
            if t < s[12]:
                bias_correction2_sqrt = math.sqrt(1 - math.pow(s[10], t))
            kernels.adam(x, g, v0, v1, v2, s[0], s[1], s[2], s[3], s[4], s[5], s[6],
                         neg_step_size, bias_correction2_sqrt, s[7], flag)
        elif rule == RMSPROP:
            kernels.rmsprop(x, g, v0, v1, v2, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                            flag)
        elif step == 1:  # SGD: PyTorch's first step sets the buffer to g (see SGD._update)
            kernels.sgd(x, g, v0, s[0], s[1], s[2], s[3], s[4], s[5], flag)
        else:
            kernels.sgd(x, g, v0, s[0], s[1], s[2], s[3], s[6], s[7], flag)
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
        if ftol >= 0 and small_change(f, f_previous, ftol):
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
    rule, (v0, v1, v2), scalars, flag = _rule_and_state(optimizer)
    bounded = limits is not None
    lower, upper = limits if bounded else (x[:0], x[:0])
    try:
        status, nit, f, g, nfev = _run(
            fun, jac, tuple(args), rule, v0, v1, v2, np.array(scalars, np.float64), bool(flag),
            optimizer.step_count + 1, x, lower, upper, bounded, descent_sign(optimizer),
            int(maxiter), -1.0 if gtol is None else gtol,
            -1.0 if ftol is None else ftol, -1.0 if xtol is None else xtol)
    except TypingError:
        return None  # raised while compiling, before anything ran: x and state are untouched
    if status == -1:
        raise ValueError(f"jac must return an array of shape {x.shape} like x0, got shape "
                         f"{np.shape(g)}")
    optimizer.step_count += nit
    return status, nit, float(f), np.asarray(g), nfev
