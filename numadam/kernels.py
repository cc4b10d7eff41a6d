"""Fused, single-pass, in-place Numba kernels for every update rule.

Each rule has three layers:

* ``_<rule>_element(i, ...)`` updates element ``i`` of the parameter and its state: the
  arithmetic, written once and inlined into both loops below at Numba's IR level;
* ``<rule>(...)`` loops over the whole vector on one thread;
* ``<rule>_parallel(...)`` loops with ``prange``, which hands each thread one contiguous chunk.
  Elementwise updates are race-free, so no reduction or synchronisation is needed.

Kernels take only 1-D C-contiguous arrays of one dtype and scalars already converted to that
dtype on the host (bias corrections, step sizes, ``1 - beta``): a Python literal such as ``1``
inside a kernel is an int64 and would promote float32 arithmetic to float64. So float32 stays
float32, and the loop body is a pure elementwise map, easy to mirror in CUDA.

Every kernel performs the same floating-point operations in the same order as
``numadam._reference`` (PyTorch's single-tensor path), so serial, parallel and reference results
are bitwise equal. ``fastmath`` stays off so that LLVM can neither reassociate the operations nor
contract them into FMAs. Kernels allocate nothing and validate nothing: that is the optimizers'
job. The arrays passed to one call must not overlap.

``maximize`` is passed as ``sign`` (``-1`` or ``+1`` in the array dtype): ``g * -1`` is exactly
``-g``, and the loop stays free of one more branch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# error_model="numpy": a division by zero yields inf/nan as in NumPy instead of raising
# ZeroDivisionError. With Python's error model, the per-element zero test blocks SIMD
# vectorization and costs about 5x in speed.
_JIT_OPTIONS = dict(cache=True, error_model="numpy")

_serial = njit(**_JIT_OPTIONS)
_parallel = njit(**_JIT_OPTIONS, parallel=True)
_element = njit(**_JIT_OPTIONS, inline="always")

#: Vectors of at least this many elements are updated by the ``*_parallel`` kernels. Measured by
#: ``python benchmarks/bench_kernels.py --threshold`` on the project's 2-core machine, where the
#: cost of waking the thread pool (a few microseconds) is repaid from about this size on.
PARALLEL_THRESHOLD = 32_768


@_element
def _lerp(start, end, weight, one_minus_weight):
    """``torch.lerp(start, end, weight)`` for one element (see ``_reference._lerp``)."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * one_minus_weight


# ------------------------------------------------------------------------------------------------
# Adam / AdamW
# ------------------------------------------------------------------------------------------------


@_element
def _adam_element(i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale,
                  weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size,
                  bias_correction2_sqrt, eps, amsgrad):
    g = grad[i] * sign
    p = param[i] * param_scale  # AdamW's decoupled decay; param_scale is exactly 1 for Adam
    if weight_decay != 0:
        g = g + weight_decay * p
    m = _lerp(exp_avg[i], g, one_minus_beta1, beta1)
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    if amsgrad:
        v = np.maximum(max_exp_avg_sq[i], v)  # NaN-propagating, like torch.maximum
        max_exp_avg_sq[i] = v
    denom = np.sqrt(v) / bias_correction2_sqrt + eps
    param[i] = p + neg_step_size * m / denom


@_element
def _adam_loop(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale, weight_decay,
               one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size,
               bias_correction2_sqrt, eps, amsgrad):
    for i in range(param.shape[0]):
        _adam_element(i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale,
                      weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size,
                      bias_correction2_sqrt, eps, amsgrad)


@_serial
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale, weight_decay,
         one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size, bias_correction2_sqrt,
         eps, amsgrad):
    """One Adam/AdamW step in place, on one thread.

    Parameters
    ----------
    param, grad, exp_avg, exp_avg_sq : ndarray
        1-D C-contiguous arrays of one dtype; ``grad`` is only read.
    max_exp_avg_sq : ndarray
        The AMSGrad running maximum of ``exp_avg_sq``; touched only when ``amsgrad`` is true
        (pass an empty array otherwise).
    sign : scalar
        ``-1`` to maximize, ``+1`` to minimize.
    param_scale : scalar
        ``1 - lr * weight_decay`` for AdamW; exactly ``1`` for Adam.
    weight_decay : scalar
        L2 penalty folded into the gradient (Adam); ``0`` for AdamW.
    one_minus_beta1, beta1 : scalar
        ``exp_avg`` becomes ``torch.lerp(exp_avg, grad, one_minus_beta1)``; ``beta1`` here must be
        ``1 - one_minus_beta1`` computed in the array dtype, as ``torch.lerp`` computes it.
    one_minus_beta2, beta2 : scalar
        ``exp_avg_sq`` becomes ``exp_avg_sq * beta2 + one_minus_beta2 * grad * grad``.
    neg_step_size : scalar
        ``-lr / (1 - beta1**step)``.
    bias_correction2_sqrt : scalar
        ``sqrt(1 - beta2**step)``.
    eps : scalar
        Added to the denominator after the bias correction, as PyTorch does.
    amsgrad : bool
        Divide by the running maximum of ``exp_avg_sq`` instead of ``exp_avg_sq``.
    """
    # Unswitched by hand: LLVM vectorizes the loop only when the conditional load/store of the
    # AMSGrad buffer is resolved at compile time (the parallel loop vectorizes either way).
    if amsgrad:
        _adam_loop(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale,
                   weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size,
                   bias_correction2_sqrt, eps, True)
    else:
        _adam_loop(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale,
                   weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size,
                   bias_correction2_sqrt, eps, False)


@_parallel
def adam_parallel(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale,
                  weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size,
                  bias_correction2_sqrt, eps, amsgrad):
    """:func:`adam` on all threads."""
    for i in prange(param.shape[0]):
        _adam_element(i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, sign, param_scale,
                      weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, neg_step_size,
                      bias_correction2_sqrt, eps, amsgrad)


# ------------------------------------------------------------------------------------------------
# RMSProp
# ------------------------------------------------------------------------------------------------


@_element
def _rmsprop_element(i, param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay,
                     alpha, one_minus_alpha, lerp_complement, eps, neg_lr, momentum, centered,
                     has_momentum):
    g = grad[i] * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    s = square_avg[i] * alpha + one_minus_alpha * g * g
    square_avg[i] = s
    if centered:
        a = _lerp(grad_avg[i], g, one_minus_alpha, lerp_complement)
        grad_avg[i] = a
        s = s - a * a  # torch's addcmul(value=-1) computes s + (-a) * a: the same bits
    avg = np.sqrt(s) + eps
    if has_momentum:
        b = momentum_buffer[i] * momentum + g / avg
        momentum_buffer[i] = b
        param[i] = p + neg_lr * b
    else:
        param[i] = p + neg_lr * g / avg


@_element
def _rmsprop_loop(param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay, alpha,
                  one_minus_alpha, lerp_complement, eps, neg_lr, momentum, centered, has_momentum):
    for i in range(param.shape[0]):
        _rmsprop_element(i, param, grad, square_avg, grad_avg, momentum_buffer, sign,
                         weight_decay, alpha, one_minus_alpha, lerp_complement, eps, neg_lr,
                         momentum, centered, has_momentum)


@_serial
def rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay, alpha,
            one_minus_alpha, lerp_complement, eps, neg_lr, momentum, centered):
    """One RMSProp step in place, on one thread.

    ``grad_avg`` is touched only when ``centered``, ``momentum_buffer`` only when
    ``momentum > 0`` (pass empty arrays otherwise). ``neg_lr`` is ``-lr``. The centred average
    becomes ``torch.lerp(grad_avg, grad, one_minus_alpha)``, whose second form needs
    ``lerp_complement = 1 - one_minus_alpha`` computed in the array dtype (which is not always
    ``alpha``: in float64, ``1 - (1 - 0.3) == 0.30000000000000004``).
    """
    # Unswitched by hand on the flags that load and store optional buffers (see adam).
    has_momentum = momentum > 0
    if centered and has_momentum:
        _rmsprop_loop(param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay,
                      alpha, one_minus_alpha, lerp_complement, eps, neg_lr, momentum, True, True)
    elif centered:
        _rmsprop_loop(param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay,
                      alpha, one_minus_alpha, lerp_complement, eps, neg_lr, momentum, True, False)
    elif has_momentum:
        _rmsprop_loop(param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay,
                      alpha, one_minus_alpha, lerp_complement, eps, neg_lr, momentum, False, True)
    else:
        _rmsprop_loop(param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay,
                      alpha, one_minus_alpha, lerp_complement, eps, neg_lr, momentum, False, False)


@_parallel
def rmsprop_parallel(param, grad, square_avg, grad_avg, momentum_buffer, sign, weight_decay,
                     alpha, one_minus_alpha, lerp_complement, eps, neg_lr, momentum, centered):
    """:func:`rmsprop` on all threads."""
    has_momentum = momentum > 0
    for i in prange(param.shape[0]):
        _rmsprop_element(i, param, grad, square_avg, grad_avg, momentum_buffer, sign,
                         weight_decay, alpha, one_minus_alpha, lerp_complement, eps, neg_lr,
                         momentum, centered, has_momentum)


# ------------------------------------------------------------------------------------------------
# SGD / Momentum / Nesterov
# ------------------------------------------------------------------------------------------------


@_element
def _sgd_element(i, param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum,
                 buffer_decay, grad_scale, nesterov, has_momentum):
    g = grad[i] * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    if has_momentum:
        b = momentum_buffer[i] * buffer_decay + grad_scale * g
        momentum_buffer[i] = b
        if nesterov:
            g = g + momentum * b
        else:
            g = b
    param[i] = p + neg_lr * g


@_element
def _sgd_loop(param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum, buffer_decay,
              grad_scale, nesterov, has_momentum):
    for i in range(param.shape[0]):
        _sgd_element(i, param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum,
                     buffer_decay, grad_scale, nesterov, has_momentum)


@_serial
def sgd(param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum, buffer_decay,
        grad_scale, nesterov):
    """One SGD / momentum / Nesterov step in place, on one thread.

    The momentum buffer becomes ``momentum_buffer * buffer_decay + grad_scale * grad``:
    ``buffer_decay = momentum`` and ``grad_scale = 1 - dampening`` on every step but the first,
    where PyTorch sets the buffer to the gradient itself, which ``buffer_decay = 0`` and
    ``grad_scale = 1`` reproduce exactly from a zeroed buffer (``0 * 0 + 1 * g == g``; only the
    sign of a zero may differ, which no later operation can see). ``momentum_buffer`` is touched
    only when ``momentum != 0`` (pass an empty array otherwise). ``neg_lr`` is ``-lr``.
    """
    # Unswitched by hand on the flag that loads and stores the buffer (see adam).
    if momentum != 0:
        _sgd_loop(param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum,
                  buffer_decay, grad_scale, nesterov, True)
    else:
        _sgd_loop(param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum,
                  buffer_decay, grad_scale, nesterov, False)


@_parallel
def sgd_parallel(param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum,
                 buffer_decay, grad_scale, nesterov):
    """:func:`sgd` on all threads."""
    has_momentum = momentum != 0
    for i in prange(param.shape[0]):
        _sgd_element(i, param, grad, momentum_buffer, sign, weight_decay, neg_lr, momentum,
                     buffer_decay, grad_scale, nesterov, has_momentum)


# ------------------------------------------------------------------------------------------------
# Finiteness check of the gradient: a read-only pass run before an update, so that a bad gradient
# is caught before anything is written.
# ------------------------------------------------------------------------------------------------


@_element
def _is_nonfinite(value):
    # value - value is 0 for every finite value and NaN for inf and NaN; counting integers keeps
    # the reduction free to vectorize.
    return (value - value) != 0


@_serial
def count_nonfinite(grad):
    """Number of NaN or infinite entries of ``grad``, on one thread."""
    bad = 0
    for i in range(grad.shape[0]):
        bad += _is_nonfinite(grad[i])
    return bad


@_parallel
def count_nonfinite_parallel(grad):
    """:func:`count_nonfinite` on all threads."""
    bad = 0
    for i in prange(grad.shape[0]):
        bad += _is_nonfinite(grad[i])
    return bad
