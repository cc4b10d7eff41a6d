"""``minimize``'s loops for a Python objective: the general loop and the lean one.

Both run the iteration of :mod:`numadam._policy` over a :class:`~numadam._objective.
PointObjective`:

- :func:`python_loop` runs it in Python, with what acts between two iterations (a callback, a
  learning-rate schedule, gradient clipping, iterate averaging) and for any optimizer (float32,
  the GPU);
- :func:`lean_loop` runs it in a compiled generator (:func:`numadam._compiled_loop.driver_for`)
  that hands back to Python only to evaluate ``fun`` and ``jac``: one cheap resume per
  iteration instead of three calls into compiled code.

Both are bitwise equal to each other and to the compiled loop: the same primitives, in the same
order. Tolerances, ``maxfev`` and a missing bound are passed as the policy takes them (negative:
not requested). Each returns ``(status, nit, f, g, f_start)`` with ``x`` updated in place, and
writes the last iterate into ``last`` (``x`` unless the best point replaced it); the status is
the loop's, before :func:`numadam._policy.final_status`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import OptimizeResult

from numadam import _compiled_loop, kernels
from numadam._policy import (
    CALLBACK_STOP,
    MAXITER,
    NONFINITE,
    SUCCESS,
    accept,
    best_is_lower,
    budget_left,
    climbed_from_best,
    converged_after_step,
    gradient_converged,
    project,
)

__all__ = ["Averager", "clip", "lean_loop", "norm", "python_loop"]


def norm(g):
    """The Euclidean norm of ``g`` as a float, for a callback's ``intermediate_result``: by
    ``math.hypot`` for a short vector (a fifth of ``np.dot``'s cost on two entries, and no
    overflow), by a dot product for a long one."""
    if g.shape[0] <= 64:
        return math.hypot(*g.tolist())
    return math.sqrt(g.dot(g))


def clip(g, clip_norm, clip_value):
    """The clipped gradient, as a new array (the objective's own array is never modified)."""
    if clip_value is not None:
        g = np.clip(g, -clip_value, clip_value)
    if clip_norm is not None:
        norm = float(np.linalg.norm(g))
        if norm > clip_norm:
            g = g * g.dtype.type(clip_norm / norm)
    return g


class Averager:
    """The running average of the iterates from iteration ``start`` on: Polyak-Ruppert's mean
    (``"polyak"``) or an exponential moving average with ``decay`` (``"ema"``)."""

    def __init__(self, kind, decay, start):
        self.kind, self.decay, self.start = kind, decay, start
        self.point, self.count = None, 0

    def add(self, x, nit):
        if nit < self.start:
            return
        if self.point is None:
            self.point = x.copy()
        elif self.kind == "polyak":
            self.point += (x - self.point) / (self.count + 1)
        else:
            self.point *= self.decay
            self.point += (1 - self.decay) * x
        self.count += 1


def python_loop(objective, optimizer, x, lower, upper, bounded, sign, maxiter, maxfev, gtol,
                ftol, xtol, return_best, last, *, callback=None, schedule=None, clip_norm=None,
                clip_value=None, averager=None):
    """The iteration in Python. ``averager`` (an :class:`Averager`) collects the iterates;
    evaluating at its point is the caller's."""
    # Bound once: this loop is hot.
    evaluate, update = objective.evaluate, optimizer.step_prechecked
    # A jac may hand back one array on every call (or views of one), which would change the
    # gradient this loop holds: seen once, every later gradient is copied (fresh arrays never
    # are).
    f, returned = evaluate(x)
    g, copying = returned.copy(), False
    last[:] = x
    if not math.isfinite(f) or kernels.count_nonfinite(g):
        return NONFINITE, 0, f, g, f
    clipping = clip_norm is not None or clip_value is not None
    best_key, best, f_start = math.inf, None, f
    previous = x.copy()  # the last accepted iterate
    status, nit = MAXITER, 0
    while budget_left(nit, maxiter, objective.nfev, maxfev):
        if gradient_converged(g, x, lower, upper, bounded, sign, gtol):
            status = SUCCESS
            break
        if schedule is not None:
            optimizer.lr = schedule(nit)
        try:
            update(clip(g, clip_norm, clip_value) if clipping else g)
        except (OverflowError, ZeroDivisionError):
            # The rule's per-step scalars overflowed in Python's arithmetic (extreme
            # hyperparameters, e.g. schedule-free's r = 200 at step 34). The compiled loops
            # compute them in IEEE arithmetic, step to a NaN point and stop there with status
            # NONFINITE at the last finite iterate: so does this loop, without that evaluation
            # (the step that raised is not counted).
            status = NONFINITE
            break
        if bounded:
            project(x, lower, upper)
        nit += 1
        f_previous = f
        f, g_new = evaluate(x)
        # a fresh view of one buffer each call (``buf[:]``) is as much the same array
        if copying or g_new is returned or (g_new.base is not None
                                            and np.may_share_memory(g_new, g)):
            copying, returned, g_new = True, g_new, g_new.copy()
        else:
            returned = g_new
        if climbed_from_best(return_best, sign, f, f_previous, best_key):
            best_key, best = sign * f_previous, (previous.copy(), f_previous, g.copy())
        nonfinite, step_norm = accept(x, f, g_new, previous)
        if nonfinite:
            x[:] = previous  # the last finite iterate, with its f and g
            f, nit, status = f_previous, nit - 1, NONFINITE
            optimizer.step_count -= 1  # the step is not counted (its state changes are kept)
            break
        g = g_new
        if averager is not None:
            averager.add(x, nit)
        if callback is not None:
            try:
                callback(OptimizeResult(x=x.copy(), fun=f, jac=g.copy(), nit=nit,
                                        lr=optimizer.lr, grad_norm=norm(g)))
            except StopIteration:
                status = CALLBACK_STOP
                break
        if converged_after_step(f, f_previous, step_norm, ftol, xtol):
            status = SUCCESS
            break
    last[:] = x
    if best_is_lower(best_key, sign, f):
        x[:], f, g = best
    return status, nit, f, g, f_start


def lean_loop(objective, optimizer, step, x, lower, upper, bounded, sign, maxiter, maxfev,
              gtol, ftol, xtol, return_best, last):
    """:func:`python_loop` without a callback, schedule, clipping or averaging, run by a
    compiled generator that hands back to Python only to evaluate ``fun`` and ``jac``.
    ``step`` is the optimizer's :class:`~numadam.optimizers.CompiledStep`: its state vectors
    are updated in place, and the steps recorded with :meth:`~numadam.Optimizer.advance`."""
    evaluate = objective.evaluate
    f, g = evaluate(x)
    last[:] = x
    if not math.isfinite(f) or kernels.count_nonfinite(g):
        return NONFINITE, 0, f, g, f
    value = np.array([f, objective.nfev, 0.0])  # f, evaluations so far, "stop" (see below)
    gradient = g.copy()
    outcome = np.empty(4 + len(step.carry))
    counting = maxfev >= 0
    driver = _compiled_loop.driver_for(step.stepper)(
        x, value, gradient, step.state, step.constants, step.inputs, step.carry,
        optimizer.step_count + 1, lower, upper, bounded, sign, maxiter, maxfev, gtol, ftol,
        xtol, return_best, outcome, last)
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
    return status, nit, f, gradient, f_start
