"""Readable NumPy versions of every update rule: the ground truth for the fast kernels.

Written independently of :mod:`numadam.rules` on purpose. Each function takes
``(param, grad, state, **hyperparameters)``, with the optimizer's hyperparameter names, and keeps
its state in the dict ``state`` (empty before the first step), as ``torch.optim`` does. Each
follows PyTorch's single-tensor ``torch.optim`` implementation (or the rule's reference
implementation) line by line, in the same order of floating-point operations, and updates its
arrays in place. They are written for clarity, not speed: every step allocates temporaries.

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


def _zeros(state, names, param):
    """PyTorch's lazy state initialization: zero vectors on the first step."""
    for name in names:
        state.setdefault(name, np.zeros_like(param))


def adam(param, grad, state, *, lr, betas, eps, weight_decay, amsgrad, maximize,
         decoupled_weight_decay=False):
    """One Adam (or AdamW) step in place; ``state`` starts as an empty dict."""
    _zeros(state, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), param)
    state["step"] = step = state.get("step", 0) + 1
    exp_avg, exp_avg_sq, max_exp_avg_sq = (state[k] for k in ("exp_avg", "exp_avg_sq",
                                                                "max_exp_avg_sq"))
    beta1, beta2 = betas
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


def adamw(param, grad, state, **hyperparameters):
    """``torch.optim.AdamW``: Adam with decoupled weight decay."""
    adam(param, grad, state, decoupled_weight_decay=True, **hyperparameters)


def rmsprop(param, grad, state, *, lr, alpha, eps, weight_decay, momentum, centered, maximize):
    """One RMSProp step in place."""
    _zeros(state, ("square_avg", "grad_avg", "momentum_buffer"), param)
    square_avg, grad_avg, momentum_buffer = (state[k] for k in ("square_avg", "grad_avg",
                                                                 "momentum_buffer"))
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


def sgd(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """One SGD / momentum / Nesterov step in place.

    On the first step the momentum buffer is set to the gradient itself (no dampening), as
    PyTorch does.
    """
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param

    if momentum != 0:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = grad.copy()
        else:
            momentum_buffer = state["momentum_buffer"]
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        if nesterov:
            grad = grad + momentum * state["momentum_buffer"]
        else:
            grad = state["momentum_buffer"]
    param += -lr * grad


def momentum(param, grad, state, **hyperparameters):
    """``numadam.Momentum``: SGD under another name and default."""
    sgd(param, grad, state, **hyperparameters)
