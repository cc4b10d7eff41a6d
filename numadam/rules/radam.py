r"""RAdam (Liu et al., 2020): Adam with a rectified adaptive step, as ``torch.optim.RAdam``."""

from __future__ import annotations

import dataclasses
import math

from numadam import _validation as check
from numadam.rules import adam
from numadam.rules._rule import (
    DECOUPLED_WEIGHT_DECAY,
    MAXIMIZE,
    Hyperparameter,
    Rule,
    element,
    nonnegative,
)

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
    # Adam's betas, eps and weight_decay
    **{name: adam.HYPERPARAMETERS[name] for name in ("betas", "eps", "weight_decay")},
    "decoupled_weight_decay": dataclasses.replace(DECOUPLED_WEIGHT_DECAY, keyword_only=False),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg", "exp_avg_sq")

#: v is a running mean of squares
STATE_INVARIANTS = (nonnegative("exp_avg_sq"),)


@element
def update(i, g, param, exp_avg, exp_avg_sq, unused1, c, s):
    eps, lr, one = c[7], c[8], c[9]
    bias_correction1, bias_correction2_sqrt, rect, rectified = s
    g, p, m, v = adam.moments(i, g, param, exp_avg, exp_avg_sq, c)
    step = m / bias_correction1 * lr
    if rectified != 0:  # the same for every element of a step
        # torch's `scalar / tensor` is `tensor.reciprocal() * scalar`: two roundings
        adaptive_lr = one / (math.sqrt(v) + eps) * bias_correction2_sqrt
        step = step * adaptive_lr * rect
    param[i] = p - step  # torch's add_(step, alpha=-1): the same bits


def constants(h, to_dtype):
    # Adam's (sign, decay, betas, eps), then lr and a one for torch's `scalar / tensor`
    return (*adam.constants(h, to_dtype), to_dtype(h["lr"]), to_dtype(1))


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
    state_invariants=STATE_INVARIANTS,
)
