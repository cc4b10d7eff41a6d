r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, as ``torch.optim.NAdam``."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

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

DOC = r"""NAdam (Dozat, 2016), with ``torch.optim.NAdam``'s formula, defaults and options.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
   &\textbf{if decoupled}: \; \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
     \quad \textbf{else if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &\mu_t \leftarrow \beta_1 \big(1 - \tfrac12\, 0.96^{t\psi}\big), \quad
     \mu_{t+1} \leftarrow \beta_1 \big(1 - \tfrac12\, 0.96^{(t+1)\psi}\big), \quad
     \Pi_t \leftarrow \Pi_{t-1} \mu_t \;(\Pi_0 = 1) \\
   &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
       \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
   &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
     d_t \leftarrow \sqrt{v_t / (1-\beta_2^t)} + \epsilon \\
   &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma (1-\mu_t)}{1-\Pi_t}\,\frac{g_t}{d_t}
     - \frac{\gamma \mu_{t+1}}{1-\Pi_t \mu_{t+1}}\,\frac{m_t}{d_t}
   \end{aligned}

State vectors: ``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`); scalar state
``mu_product`` (:math:`\Pi_t`, the ``momentum_decay`` :math:`\psi` schedule's running product).
As in PyTorch (whose scalar state is float32 unless its default dtype is float64),
``mu_product`` is rounded to float32 at every step, whatever the parameters' dtype.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(2e-3, check.learning_rate, "learning rate"),
    # Adam's betas, eps and weight_decay
    **{name: adam.HYPERPARAMETERS[name] for name in ("betas", "eps", "weight_decay")},
    "momentum_decay": Hyperparameter(4e-3, check.momentum_decay,
                                     "decay of the momentum schedule mu_t"),
    "decoupled_weight_decay": dataclasses.replace(DECOUPLED_WEIGHT_DECAY, keyword_only=False),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg", "exp_avg_sq")

#: v is a running mean of squares
STATE_INVARIANTS = (nonnegative("exp_avg_sq"),)


@element
def update(i, g, param, exp_avg, exp_avg_sq, unused1, c, s):
    eps = c[7]
    bias_correction2, grad_scale, exp_avg_scale = s
    g, p, m, v = adam.moments(i, g, param, exp_avg, exp_avg_sq, c)
    denom = math.sqrt(v / bias_correction2) + eps
    p = p + grad_scale * g / denom  # PyTorch's two addcdiv_, each rounded
    param[i] = p + exp_avg_scale * m / denom


def constants(h, to_dtype):
    return adam.constants(h, to_dtype)  # the same as Adam's: sign, decay, betas, eps


def step_inputs(h):
    beta1, beta2 = h["betas"]
    return (h["lr"], beta1, beta2, h["momentum_decay"])


def step_scalars(inputs, carry, step):
    """``(1 - beta2**t, -lr (1 - mu_t) / (1 - mu_product), -lr mu_next / (1 - mu_product
    mu_next))`` and the new ``mu_product``, with PyTorch's Python-float arithmetic.

    PyTorch keeps ``mu_product`` in a float32 tensor (its default scalar dtype): ``mu_product *=
    mu`` multiplies in float32 (``mu`` rounded to float32 first) and ``.item()`` reads it back
    as a double. Reproduced here, also for float64 parameters.
    """
    lr, beta1, beta2, momentum_decay = inputs
    t = float(step)
    bias_correction2 = 1 - beta2**t
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1.0) * momentum_decay)))
    mu_product = float(np.float32(carry[0]) * np.float32(mu))
    mu_product_next = mu_product * mu_next
    grad_scale = -lr * (1.0 - mu) / (1.0 - mu_product)
    exp_avg_scale = (-lr * mu_next) / (1.0 - mu_product_next)
    return (bias_correction2, grad_scale, exp_avg_scale), (mu_product,)


RULE = Rule(
    name="nadam", class_name="NAdam", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    carry=(1.0,), carry_names=("mu_product",),
    state_invariants=STATE_INVARIANTS,
)
