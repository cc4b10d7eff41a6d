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


def schedulefree_adamw(param, grad, state, *, lr, betas, eps, weight_decay, warmup_steps, r,
                       weight_lr_power, maximize):
    """One step of ``schedulefree.AdamWScheduleFree`` (its ``foreach=False`` path) in train
    mode: ``param`` holds the gradient point y. ``state`` keeps the reference's group scalars
    (``k``, ``lr_max``, ``weight_sum``) beside ``z`` and ``exp_avg_sq``."""
    if "z" not in state:
        state.update(z=param.copy(), exp_avg_sq=np.zeros_like(param), k=0, lr_max=-1.0,
                     weight_sum=0.0)
    grad = -grad if maximize else grad
    beta1, beta2 = betas
    k = state["k"]
    sched = (k + 1) / warmup_steps if k < warmup_steps else 1.0
    bias_correction2 = 1 - beta2 ** (k + 1)
    lr = lr * sched
    lr_max = state["lr_max"] = max(lr, state["lr_max"])
    weight = ((k + 1) ** r) * (lr_max**weight_lr_power)
    weight_sum = state["weight_sum"] = state["weight_sum"] + weight
    try:
        ckp1 = weight / weight_sum
    except ZeroDivisionError:
        ckp1 = 0

    y, z, exp_avg_sq = param, state["z"], state["exp_avg_sq"]
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    denom = np.sqrt(exp_avg_sq / bias_correction2) + eps
    grad_normalized = grad / denom
    if weight_decay != 0:
        grad_normalized = grad_normalized + weight_decay * y
    y[:] = _lerp(y, z, ckp1)
    y += lr * (beta1 * (1 - ckp1) - 1) * grad_normalized
    z -= lr * grad_normalized
    state["k"] = k + 1


def schedulefree_adamw_switch(param, state, *, betas, to):
    """The reference's ``eval()`` (``to="eval"``: y -> x) or ``train()`` (x -> y)."""
    if "z" in state:
        beta1 = betas[0]
        param[:] = _lerp(param, state["z"], 1 - 1 / beta1 if to == "eval" else 1 - beta1)


def adamax(param, grad, state, *, lr, betas, eps, weight_decay, maximize):
    """One Adamax step in place: ``torch.maximum`` of the decayed norm and ``|grad| + eps``."""
    _zeros(state, ("exp_avg", "exp_inf"), param)
    state["step"] = step = state.get("step", 0) + 1
    exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
    beta1, beta2 = betas
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param

    exp_avg[:] = _lerp(exp_avg, grad, 1 - beta1)
    exp_inf *= beta2
    np.maximum(exp_inf, np.abs(grad) + eps, out=exp_inf)  # NaN-propagating, as torch.maximum

    bias_correction = 1 - beta1**step
    clr = lr / bias_correction
    param += -clr * exp_avg / exp_inf


def adagrad(param, grad, state, *, lr, lr_decay, weight_decay, initial_accumulator_value, eps,
            maximize):
    """One Adagrad step in place; the sum starts at ``initial_accumulator_value``."""
    state.setdefault("sum", np.full_like(param, initial_accumulator_value))
    state["step"] = step = state.get("step", 0) + 1
    state_sum = state["sum"]
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param

    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += grad * grad
    std = np.sqrt(state_sum) + eps
    param += -clr * grad / std


def adadelta(param, grad, state, *, lr, rho, eps, weight_decay, maximize):
    """One Adadelta step in place."""
    _zeros(state, ("square_avg", "acc_delta"), param)
    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param

    square_avg *= rho
    square_avg += (1 - rho) * grad * grad
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps)
    delta = delta / std * grad
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    param += -lr * delta


def _torch_sign(x):
    """``torch.sign`` on the CPU: ``(x > 0) - (x < 0)``, so ``+0.0`` for a zero and for NaN."""
    one = x.dtype.type(1)
    return np.where(x > 0, one, np.where(x < 0, -one, x.dtype.type(0)))


def rprop(param, grad, state, *, lr, etas, step_sizes, maximize):
    """One Rprop step in place; the step sizes start at ``lr``."""
    state.setdefault("prev", np.zeros_like(param))
    state.setdefault("step_size", np.full_like(param, lr))
    prev, step_size = state["prev"], state["step_size"]
    etaminus, etaplus = etas
    step_size_min, step_size_max = step_sizes
    grad = -grad if maximize else grad

    sign = _torch_sign(grad * prev)
    sign[sign > 0] = etaplus
    sign[sign < 0] = etaminus
    sign[sign == 0] = 1
    step_size *= sign
    # torch's clamp_(min, max): max(., min) then min(., max), NaN propagating
    np.minimum(np.maximum(step_size, step_size_min), step_size_max, out=step_size)

    grad = grad.copy()
    grad[sign == sign.dtype.type(etaminus)] = 0  # no move where the gradient changed sign
    param += -1 * _torch_sign(grad) * step_size  # addcmul_(grad.sign(), step_size, value=-1)
    prev[:] = grad


def _jnp_sign(x):
    """``jnp.sign``: -1 or 1, and a zero (of either sign) or NaN is returned as it is."""
    one = x.dtype.type(1)
    return np.where(x > 0, one, np.where(x < 0, -one, x))


def lion(param, grad, state, *, lr, betas, weight_decay, maximize):
    """One Lion step in place, as ``optax.lion`` (``maximize``: optax on the negated gradient)."""
    _zeros(state, ("exp_avg",), param)
    exp_avg = state["exp_avg"]
    beta1, beta2 = betas
    grad = -grad if maximize else grad

    update = _jnp_sign((1.0 - beta1) * grad + beta1 * exp_avg)  # scale_by_lion
    exp_avg[:] = (1 - beta2) * grad + beta2 * exp_avg
    if weight_decay != 0:
        update = update + weight_decay * param  # add_decayed_weights
    param += -lr * update  # scale_by_learning_rate, then apply_updates


def nadam(param, grad, state, *, lr, betas, eps, weight_decay, momentum_decay,
          decoupled_weight_decay, maximize):
    """One NAdam step in place.

    ``mu_product`` is a float32 scalar, as PyTorch's (its default scalar dtype): ``mu_product
    *= mu`` rounds ``mu`` to float32 and multiplies in float32, whatever the parameters' dtype.
    """
    _zeros(state, ("exp_avg", "exp_avg_sq"), param)
    state.setdefault("mu_product", np.float32(1.0))
    state["step"] = step = state.get("step", 0) + 1
    step = float(step)  # PyTorch's step is a float tensor, read back with .item()
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    beta1, beta2 = betas
    grad = -grad if maximize else grad

    bias_correction2 = 1 - beta2**step
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param

    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    state["mu_product"] = mu_product = np.float32(state["mu_product"] * np.float32(mu))

    exp_avg[:] = _lerp(exp_avg, grad, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    denom = np.sqrt(exp_avg_sq / bias_correction2) + eps

    mu_product_next = float(mu_product) * mu_next
    param += (-lr * (1.0 - mu) / (1.0 - float(mu_product))) * grad / denom
    param += ((-lr * mu_next) / (1.0 - mu_product_next)) * exp_avg / denom


def radam(param, grad, state, *, lr, betas, eps, weight_decay, decoupled_weight_decay,
          maximize):
    """One RAdam step in place: bias-corrected momentum SGD until the variance of the adaptive
    learning rate is tractable (``rho_t > 5``), then the rectified Adam step."""
    _zeros(state, ("exp_avg", "exp_avg_sq"), param)
    state["step"] = step = state.get("step", 0) + 1
    step = float(step)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    beta1, beta2 = betas
    grad = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param

    exp_avg[:] = _lerp(exp_avg, grad, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad

    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    bias_corrected_exp_avg = exp_avg / bias_correction1
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2

    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        # PyTorch's `scalar / tensor` is `tensor.reciprocal() * scalar`
        adaptive_lr = (1 / (np.sqrt(exp_avg_sq) + eps)) * bias_correction2**0.5
        param -= bias_corrected_exp_avg * lr * adaptive_lr * rect
    else:
        param -= bias_corrected_exp_avg * lr


def adopt(param, grad, state, *, lr, betas, eps, nesterov, use_clipping, maximize):
    """One ADOPT step in place, as ``optax.contrib.adopt`` (``scale_by_adopt``, then the
    learning rate; ``maximize``: optax on the negated gradient).

    The first step only fills the second moment (optax's ``b2 = 0``, ``b1 = 1`` at count 0, and
    its clip value ``0**0.25 = 0``): the parameters do not move. The normalized gradient is
    divided by the *previous* second moment, and clipped to ``±count**0.25``.
    """
    _zeros(state, ("exp_avg", "exp_avg_sq"), param)
    count = state.get("step", 0)  # optax's count, before its increment
    state["step"] = count + 1
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    b1, b2 = betas
    b1 = b1 if count > 0 else 1.0
    b2 = b2 if count > 0 else 0.0
    grad = -grad if maximize else grad

    nu_old = exp_avg_sq.copy()
    exp_avg_sq[:] = (1 - b2) * (grad * grad) + b2 * exp_avg_sq
    normalized = grad / np.maximum(np.sqrt(nu_old), eps)
    if use_clipping:
        clip = float(count) ** 0.25
        normalized = np.minimum(clip, np.maximum(-clip, normalized))  # jnp.clip
    exp_avg[:] = (1 - b1) * normalized + b1 * exp_avg
    update = (1 - b1) * normalized + b1 * exp_avg if nesterov else exp_avg
    param += -lr * update


def ademamix(param, grad, state, *, lr, betas, alpha, eps, eps_root, weight_decay, maximize):
    """One AdEMAMix step in place, as ``optax.contrib.ademamix`` with constant ``alpha`` and
    ``b3`` (optax's defaults): ``scale_by_ademamix``, ``add_decayed_weights``, the learning
    rate (``maximize``: optax on the negated gradient)."""
    _zeros(state, ("exp_avg_fast", "exp_avg_slow", "exp_avg_sq"), param)
    state["step"] = step = state.get("step", 0) + 1
    m1, m2, nu = state["exp_avg_fast"], state["exp_avg_slow"], state["exp_avg_sq"]
    b1, b2, b3 = betas
    grad = -grad if maximize else grad

    m1[:] = (1 - b1) * grad + b1 * m1
    m2[:] = (1 - b3) * grad + b3 * m2
    nu[:] = (1 - b2) * (grad * grad) + b2 * nu
    # optax casts the corrections to the dtype and divides by them; XLA on the CPU divides an
    # array by a scalar as a multiplication by the scalar's reciprocal
    one = param.dtype.type(1)
    m1_hat = m1 * (one / param.dtype.type(1 - b1**step))
    nu_hat = nu * (one / param.dtype.type(1 - b2**step))
    update = (m1_hat + alpha * m2) / (np.sqrt(nu_hat + eps_root) + eps)
    if weight_decay != 0:
        update = update + weight_decay * param
    param += -lr * update


def asgd(param, grad, state, *, lr, lambd, alpha, t0, weight_decay, maximize):
    """One ASGD step in place, as ``torch.optim.ASGD``'s single-tensor path.

    ``eta`` and ``mu`` are float32 scalars, as PyTorch's (its default scalar dtype), whatever
    the parameters' dtype; ``ax`` (the average of the iterates from step ``t0`` on) is a copy
    of the iterate while ``mu`` is 1.
    """
    state.setdefault("ax", np.zeros_like(param))
    state.setdefault("eta", np.float32(lr))
    state.setdefault("mu", np.float32(1.0))
    state["step"] = step = state.get("step", 0) + 1
    step = float(step)
    ax = state["ax"]
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param

    eta = float(state["eta"])
    param *= 1 - lambd * eta
    param += -eta * grad
    mu = float(state["mu"])
    if mu != 1:
        ax += (param - ax) * mu
    else:
        ax[:] = param
    state["eta"] = np.float32(lr / ((1 + lambd * lr * step) ** alpha))
    state["mu"] = np.float32(1 / max(1, step - t0))


REDUCTION_BLOCK = 4096  # numadam.rules._rule's, restated: the order of the global sums
REDUCTION_LANES = 256


def _blocked_sum(terms):
    """The sum of ``terms`` in float64 in the kernels' order: each block of
    ``REDUCTION_BLOCK`` consecutive terms read as rows of ``REDUCTION_LANES``; each lane (column)
    added down the rows from 0.0, the block's lanes added in order from 0.0, the blocks' sums in
    order from 0.0. ``np.cumsum`` adds in order; a leading row of zeros makes each sum start at
    0.0 as the kernels' accumulators do (which matters for the sign of a zero), and zeros pad
    the last block (adding 0.0 to a sum that started at 0.0 changes nothing)."""
    terms = np.asarray(terms, dtype=np.float64)
    blocks = -(-terms.size // REDUCTION_BLOCK)
    rows = REDUCTION_BLOCK // REDUCTION_LANES
    padded = np.zeros(blocks * REDUCTION_BLOCK)
    padded[:terms.size] = terms
    padded = padded.reshape(blocks, rows, REDUCTION_LANES)
    lanes = np.cumsum(np.concatenate([np.zeros((blocks, 1, REDUCTION_LANES)), padded], axis=1),
                      axis=1)[:, -1, :]
    sums = np.cumsum(np.hstack([np.zeros((blocks, 1)), lanes]), axis=1)[:, -1]
    return float(np.cumsum(np.hstack([0.0, sums]))[-1])


def prodigy(param, grad, state, *, lr, betas, beta3, eps, weight_decay, decouple,
            use_bias_correction, safeguard_warmup, d0, d_coef, growth_rate, maximize):
    """One Prodigy step in place, as ``prodigyopt.Prodigy.step`` (one parameter group), its
    global sums in float64 in the blocked order (:func:`_blocked_sum`)."""
    if "p0" not in state:
        state.update(s=np.zeros_like(param), p0=param.copy(), exp_avg=np.zeros_like(param),
                     exp_avg_sq=np.zeros_like(param), d=d0, d_max=d0, d_numerator=0.0, k=0)
    dtype = param.dtype.type
    beta1, beta2 = betas
    if beta3 is None:
        beta3 = math.sqrt(beta2)
    k, d, d_max = state["k"], state["d"], state["d_max"]
    bias_correction = 1
    if use_bias_correction:
        bias_correction = ((1 - beta2 ** (k + 1)) ** 0.5) / (1 - beta1 ** (k + 1))
    dlr = d * lr * bias_correction
    d_numerator = state["d_numerator"] * beta3
    grad = -grad if maximize else grad.copy()
    if weight_decay != 0 and not decouple:
        grad = grad + dtype(weight_decay) * param
    s, p0, exp_avg, exp_avg_sq = (state[key] for key in ("s", "p0", "exp_avg", "exp_avg_sq"))
    delta_numerator = 0.0
    delta_numerator += (d / d0) * dlr * _blocked_sum(grad * (p0 - param))
    if beta1 > 0:
        exp_avg *= dtype(beta1)
        exp_avg += dtype(d * (1 - beta1)) * grad
    exp_avg_sq *= dtype(beta2)
    exp_avg_sq += dtype(d * d * (1 - beta2)) * grad * grad
    s *= dtype(beta3)
    s += dtype((d / d0) * d if safeguard_warmup else (d / d0) * dlr) * grad
    d_denom = 0.0
    d_denom += _blocked_sum(np.abs(s))
    if d_denom == 0:
        return
    d_numerator = d_numerator + delta_numerator
    d_hat = d_coef * d_numerator / d_denom
    if d == d0:
        d = max(d, d_hat)
    d_max = max(d_max, d_hat)
    d = min(d_max, d * growth_rate)
    state.update(d=d, d_max=d_max, d_numerator=d_numerator, k=k + 1)
    denom = np.sqrt(exp_avg_sq) + dtype(d * eps)
    if weight_decay != 0 and decouple:
        param += dtype(-weight_decay * dlr) * param
    if beta1 > 0:
        param += dtype(-dlr) * (exp_avg / denom)
    else:
        param += dtype(-dlr * d) * (grad / denom)


def dadapt_adam(param, grad, state, *, lr, betas, eps, weight_decay, decouple,
                use_bias_correction, d0, growth_rate, maximize):
    """One D-Adaptation Adam step in place, as ``dadaptation.DAdaptAdam.step`` (one parameter
    group, ``layer_scale`` 1), its global sums in float64 in the blocked order."""
    if "s" not in state:
        state.update(s=np.zeros_like(param), exp_avg=np.zeros_like(param),
                     exp_avg_sq=np.zeros_like(param), d=d0, numerator_weighted=0.0, k=0)
    dtype = param.dtype.type
    beta1, beta2 = betas
    k, d = state["k"], state["d"]
    bias_correction = 1
    if use_bias_correction:
        bias_correction = ((1 - beta2 ** (k + 1)) ** 0.5) / (1 - beta1 ** (k + 1))
    dlr = d * lr * bias_correction
    sqrt_beta2 = beta2 ** (0.5)
    grad = -grad if maximize else grad.copy()
    if weight_decay != 0 and not decouple:
        grad = grad + dtype(weight_decay) * param
    s, exp_avg, exp_avg_sq = (state[key] for key in ("s", "exp_avg", "exp_avg_sq"))
    denom = np.sqrt(exp_avg_sq) + dtype(eps)
    numerator_acum = 0.0
    numerator_acum += 1.0 * dlr * _blocked_sum(grad * (s / denom))
    exp_avg *= dtype(beta1)
    exp_avg += dtype(1.0 * dlr * (1 - beta1)) * grad
    exp_avg_sq *= dtype(beta2)
    exp_avg_sq += dtype(1 - beta2) * grad * grad
    s *= dtype(sqrt_beta2)
    s += dtype(dlr * (1 - sqrt_beta2)) * grad
    sk_l1 = 0.0
    sk_l1 += 1.0 * _blocked_sum(np.abs(s))
    numerator_weighted = sqrt_beta2 * state["numerator_weighted"] + (
        1 - sqrt_beta2) * numerator_acum
    if sk_l1 == 0:
        return
    d_hat = numerator_weighted / ((1 - sqrt_beta2) * sk_l1)
    d = max(d, min(d_hat, d * growth_rate))
    state.update(d=d, numerator_weighted=numerator_weighted, k=k + 1)
    denom = np.sqrt(exp_avg_sq) + dtype(eps)
    if weight_decay != 0 and decouple:
        param += dtype(-weight_decay * dlr) * param
    param -= exp_avg / denom


def dog(param, grad, state, *, lr, init_step, eps, weight_decay, maximize):
    """One DoG step in place, as ``optax.contrib.dog`` (``optax.chain`` of the weight decay,
    ``scale_by_dog`` and the learning rate), its norms summed in float64 in the blocked order;
    ``p0`` is the point of the first step."""
    kind, value = init_step
    grad = -grad if maximize else grad
    if weight_decay is not None:
        grad = grad + param.dtype.type(weight_decay) * param
    if "p0" not in state:
        norm = math.sqrt(_blocked_sum(param * param))
        r_epsilon = {"distance": value, "heuristic": value * (1 + norm),
                     "learning_rate": 0.0}[kind]
        state.update(p0=param.copy(), max_dist=r_epsilon, sum_sq_norm_grads=0.0, first=True)
    difference = state["p0"] - param
    dist = math.sqrt(_blocked_sum(difference * difference))
    if state["first"]:
        dist = 0.0
    max_dist = state["max_dist"]
    max_dist = max_dist if max_dist > dist or math.isnan(max_dist) else dist
    sum_sq_norm_grads = state["sum_sq_norm_grads"] + _blocked_sum(grad * grad)
    learning_rate = max_dist / math.sqrt(sum_sq_norm_grads + eps)
    if kind == "learning_rate" and state["first"]:
        learning_rate = value
    state.update(max_dist=max_dist, sum_sq_norm_grads=sum_sq_norm_grads, first=False)
    param += param.dtype.type(-lr) * (param.dtype.type(learning_rate) * grad)


def adafactor(param, grad, state, *, lr, beta2_decay, eps, d, weight_decay, maximize):
    """One Adafactor step in place, as ``torch.optim.Adafactor`` on a 1-D parameter (the
    unfactored second moment), its root mean squares from float64 sums in the blocked order of
    the terms scaled by ``1 / n`` (as the kernels take them)."""
    dtype = param.dtype.type
    n = param.size
    grad = -grad if maximize else grad
    _zeros(state, ["variance"], param)
    state["step"] = step = state.get("step", 0) + 1
    eps1, eps2 = eps
    if eps1 is None:
        eps1 = float(np.finfo(param.dtype).eps)
    one_minus_beta2_t = float(step) ** beta2_decay
    rho_t = min(lr, 1 / (float(step) ** 0.5))
    rms = math.sqrt(_blocked_sum((param * param).astype(np.float64) * (1.0 / n)))
    alpha = max(eps2, rms) * rho_t
    if weight_decay != 0:
        param *= dtype(1 - lr * weight_decay)
    variance = state["variance"]
    variance[:] = _lerp(variance, grad * grad, one_minus_beta2_t)
    floor = np.maximum(variance, dtype(eps1 * eps1))
    update = (dtype(1) / np.sqrt(floor)) * grad
    # the update's mean square from g^2 / max(v, eps1^2), as numadam's first pass takes it (the
    # square of the update in exact arithmetic; PyTorch squares the update)
    mean_square = _blocked_sum(((grad * grad) / floor).astype(np.float64) * (1.0 / n))
    denom = max(1.0, math.sqrt(mean_square) / d)
    param += dtype(-alpha / denom) * update


FACTORED_LANES = 8  # numadam.rules.adafactor's, restated: the order of a row's sums
FACTORED_CHUNK = 64  # and of a column's


def _in_order(terms, axis=None):
    """The float64 sum of ``terms`` added one after the other in C order (along ``axis``), as
    the factored loops add them (``np.cumsum`` adds in order; its first term is the sum of
    it and 0.0 for the non-negative terms summed here)."""
    terms = np.asarray(terms, dtype=np.float64)
    if axis is None:
        return float(np.cumsum(terms.ravel())[-1])
    return np.take(np.cumsum(terms, axis=axis), -1, axis=axis)


def _row_sums(terms):
    """Each row's sum of ``terms`` (..., m, n) in the factored loops' order: lane ``k`` adds
    the terms ``k, k + FACTORED_LANES, ...`` (zeros pad the last lanes), the lanes are added
    in order."""
    pad = -terms.shape[-1] % FACTORED_LANES
    padded = np.concatenate([terms, np.zeros(terms.shape[:-1] + (pad,))], axis=-1)
    lanes = _in_order(padded.reshape(terms.shape[:-1] + (-1, FACTORED_LANES)), axis=-2)
    return _in_order(lanes, axis=-1)


def _column_sums(terms):
    """Each column's sum of ``terms`` (..., m, n) in the factored loops' order: down the rows
    of each chunk of ``FACTORED_CHUNK`` rows (zero rows pad the last), then the chunks'."""
    pad = -terms.shape[-2] % FACTORED_CHUNK
    padded = np.concatenate([terms, np.zeros(terms.shape[:-2] + (pad, terms.shape[-1]))],
                            axis=-2)
    chunks = _in_order(padded.reshape(terms.shape[:-2] + (-1, FACTORED_CHUNK,
                                                          terms.shape[-1])), axis=-2)
    return _in_order(chunks, axis=-2)


def adafactor_factored(param, grad, state, *, lr, beta2_decay, eps, d, weight_decay,
                       maximize):
    """One Adafactor step in place, as ``torch.optim.Adafactor`` on a parameter of two or more
    dimensions (the factored second moment: ``state["row_var"]`` of shape ``(..., m)``,
    ``state["col_var"]`` of shape ``(..., n)``; where m or n is 1, that factor taken as the
    mean of the other before the step, as numadam keeps only the other), computed in float64
    and stored in the parameters' dtype, its sums in the loops' order (a row's in lanes, a
    column's down the rows of chunks, then over the chunks, the group's over its rows' sums),
    each element's reciprocal root its row's times its column's
    (``numadam.rules.adafactor``)."""
    dtype = param.dtype
    m, n = param.shape[-2:]
    g = (-1.0 if maximize else 1.0) * grad.astype(np.float64)
    state.setdefault("row_var", np.zeros(param.shape[:-1], dtype))
    state.setdefault("col_var", np.zeros(param.shape[:-2] + (n,), dtype))
    state["step"] = step = state.get("step", 0) + 1
    eps1, eps2 = eps
    eps1 = float(np.finfo(dtype).eps) if eps1 is None else float(eps1)
    one_minus_beta2_t = float(step) ** beta2_decay
    rho_t = min(lr, 1 / (float(step) ** 0.5))
    p = param.astype(np.float64)
    scale = 1.0 / param.size
    alpha = max(eps2, math.sqrt(_in_order(_row_sums((p * p) * scale)))) * rho_t
    row_var, col_var = state["row_var"], state["col_var"]
    if m == 1:  # numadam keeps the other factor only; this one is its mean (exact arithmetic)
        row_var[...] = (_in_order(col_var, axis=-1) / n)[..., None]
    elif n == 1:
        col_var[...] = (_in_order(row_var, axis=-1) / m)[..., None]
    row_var[...] = _lerp(row_var.astype(np.float64), _row_sums(g * g) / n, one_minus_beta2_t)
    col_var[...] = _lerp(col_var.astype(np.float64), _column_sums(g * g) / m,
                         one_minus_beta2_t)
    rows, cols = row_var.astype(np.float64), col_var.astype(np.float64)
    # a zero variance (its root unused), eps1 = 0 (its reciprocal unused; zero rows give NaN,
    # as in PyTorch)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = rows / np.maximum(_in_order(rows, axis=-1) / m, eps1)[..., None]
        roots = (1.0 / np.sqrt(share))[..., :, None] * (1.0 / np.sqrt(cols))[..., None, :]
        small = share[..., :, None] * cols[..., None, :] < eps1 * eps1
        update = np.where(small, np.float64(1.0) / np.float64(eps1), roots) * g
    denom = max(1.0, math.sqrt(_in_order(_row_sums((update * update) * scale))) / d)
    if weight_decay != 0:
        p = p * (1 - lr * weight_decay)
    param[...] = p + (-alpha / denom) * update
