"""Readable NumPy versions of every update rule: the ground truth for the fast kernels.

Each function follows PyTorch's single-tensor ``torch.optim`` implementation line by line, in
the same order of floating-point operations, and updates its arrays in place. They are written
for clarity, not speed: every step allocates temporaries, as a tutorial would.

With NumPy >= 2 (NEP 50) a Python float combined with a float32 array is cast to float32 first,
so float32 inputs are computed in float32 throughout, as PyTorch does on the CPU.
"""

from __future__ import annotations

import math

import numpy as np


def _lerp(start, end, weight):
    """PyTorch's ``torch.lerp`` (scalar path): ``start + weight * (end - start)``.

    PyTorch switches to ``end - (end - start) * (1 - weight)`` for ``|weight| >= 0.5`` to keep
    precision; both forms are reproduced so that, e.g., ``beta1 = 0.3`` matches too.
    """
    weight = start.dtype.type(weight)  # PyTorch converts the weight to the tensor's dtype first
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1, beta2, eps,
         weight_decay, amsgrad, maximize, decoupled_weight_decay=False):
    """One Adam (or AdamW) step in place; ``step`` is the 1-based count after this update.

    ``max_exp_avg_sq`` is read and written only when ``amsgrad`` is true.
    """
    grad = -grad if maximize else grad
    if decoupled_weight_decay:
        param *= 1 - lr * weight_decay  # AdamW: decay the weights, not the gradient
    elif weight_decay != 0:
        grad = grad + weight_decay * param  # Adam: L2 penalty folded into the gradient

    exp_avg[:] = _lerp(exp_avg, grad, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad

    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = math.sqrt(bias_correction2)

    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        denom = np.sqrt(max_exp_avg_sq) / bias_correction2_sqrt + eps
    else:
        denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    param += -step_size * exp_avg / denom


def rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay,
            momentum, centered, maximize):
    """One RMSProp step in place.

    ``grad_avg`` is used only when ``centered``; ``momentum_buffer`` only when ``momentum > 0``.
    """
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param

    square_avg *= alpha
    square_avg += (1 - alpha) * grad * grad
    if centered:
        grad_avg[:] = _lerp(grad_avg, grad, 1 - alpha)
        avg = np.sqrt(square_avg + -1 * grad_avg * grad_avg)
    else:
        avg = np.sqrt(square_avg)
    avg = avg + eps

    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += grad / avg
        param += -lr * momentum_buffer
    else:
        param += -lr * grad / avg


def sgd(param, grad, momentum_buffer, *, first_step, lr, momentum, dampening, weight_decay,
        nesterov, maximize):
    """One SGD / momentum / Nesterov step in place.

    ``momentum_buffer`` is used only when ``momentum != 0``; on the first step it is set to the
    gradient itself (no dampening), as PyTorch does.
    """
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param

    if momentum != 0:
        if first_step:
            momentum_buffer[:] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        if nesterov:
            grad = grad + momentum * momentum_buffer
        else:
            grad = momentum_buffer
    param += -lr * grad
