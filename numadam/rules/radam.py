r"""RAdam (Liu et al., 2020): Adam with a rectified adaptive step, as ``torch.optim.RAdam``."""

from __future__ import annotations

import math

from numadam import _validation as check
from numadam.rules._rule import Hyperparameter, Rule, element, lerp

DOC = r"""RAdam (Liu et al., 2020), with ``torch.optim.RAdam``'s formula, defaults and options.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
   &\textbf{if decoupled}: \; \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
     \quad \textbf{else if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
       \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
   &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
     \hat m_t \leftarrow m_t / (1-\beta_1^t) \\
   &\rho_\infty \leftarrow 2/(1-\beta_2) - 1, \quad
     \rho_t \leftarrow \rho_\infty - 2t\beta_2^t/(1-\beta_2^t) \\
   &\textbf{if } \rho_t > 5: \; r_t \leftarrow \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
     {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}, \;
     \theta_t \leftarrow \theta_{t-1} - \gamma \hat m_t
     \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon}\, r_t \\
   &\textbf{else}: \; \theta_t \leftarrow \theta_{t-1} - \gamma \hat m_t
   \end{aligned}

State vectors: ``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`). While the variance
estimate is not yet tractable (:math:`\rho_t \le 5`, the first steps) the update is plain
momentum SGD with bias correction.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-3, check.learning_rate, "learning rate"),
    "betas": Hyperparameter((0.9, 0.999), check.betas,
                            "decay rates of the first and second moments"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the denominator"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay,
                                   "L2 penalty (decoupled with decoupled_weight_decay)"),
    "decoupled_weight_decay": Hyperparameter(False, check.flag,
                                             "decay the weights, not the gradient (RAdamW)"),
    "maximize": Hyperparameter(False, check.flag, "ascend instead of descend",
                               keyword_only=True),
}

STATE = ("exp_avg", "exp_avg_sq")


@element
def update(i, g, param, exp_avg, exp_avg_sq, unused1, c, s):
    (sign, param_scale, weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, eps, lr,
     one) = c
    bias_correction1, bias_correction2_sqrt, rect, rectified = s
    g = g * sign
    p = param[i] * param_scale  # decoupled decay; param_scale is exactly 1 otherwise
    if weight_decay != 0:
        g = g + weight_decay * p
    m = lerp(exp_avg[i], g, one_minus_beta1, beta1)
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    step = m / bias_correction1 * lr
    if rectified != 0:  # the same for every element of a step
        # torch's `scalar / tensor` is `tensor.reciprocal() * scalar`: two roundings
        adaptive_lr = one / (math.sqrt(v) + eps) * bias_correction2_sqrt
        step = step * adaptive_lr * rect
    param[i] = p - step  # torch's add_(step, alpha=-1): the same bits


def constants(h, to_dtype):
    beta1, beta2 = h["betas"]
    one_minus_beta1 = to_dtype(1 - beta1)
    if h["decoupled_weight_decay"]:
        param_scale, l2 = to_dtype(1 - h["lr"] * h["weight_decay"]), to_dtype(0)
    else:
        param_scale, l2 = to_dtype(1), to_dtype(h["weight_decay"])
    return (
        to_dtype(-1 if h["maximize"] else 1), param_scale, l2,
        one_minus_beta1, to_dtype(1) - one_minus_beta1,  # torch.lerp's weight and 1 - weight
        to_dtype(1 - beta2), to_dtype(beta2), to_dtype(h["eps"]), to_dtype(h["lr"]),
        to_dtype(1),
    )


def step_inputs(h):
    beta1, beta2 = h["betas"]
    return (beta1, beta2)


def step_scalars(inputs, carry, step):
    """``(1 - beta1**t, sqrt(1 - beta2**t), r_t, 1.0)`` once the variance is tractable
    (``rho_t > 5``), ``(1 - beta1**t, 1.0, 1.0, 0.0)`` before: the last scalar picks the branch
    for every element. PyTorch's Python-float arithmetic (``** 0.5``, not ``math.sqrt``)."""
    beta1, beta2 = inputs
    t = float(step)
    bias_correction1 = 1 - beta1**t
    bias_correction2 = 1 - beta2**t
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        return (bias_correction1, bias_correction2**0.5, rect, 1.0), carry
    return (bias_correction1, 1.0, 1.0, 0.0), carry


RULE = Rule(
    name="radam", class_name="RAdam", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
)
