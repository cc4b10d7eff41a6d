r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, as ``torch.optim.NAdam``."""

from __future__ import annotations

import math

import numpy as np

from numadam import _validation as check
from numadam.rules._rule import Hyperparameter, Rule, element, lerp

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
    "betas": Hyperparameter((0.9, 0.999), check.betas,
                            "decay rates of the first and second moments"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the denominator"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay,
                                   "L2 penalty (decoupled with decoupled_weight_decay)"),
    "momentum_decay": Hyperparameter(4e-3, check.momentum_decay,
                                     "decay of the momentum schedule mu_t"),
    "decoupled_weight_decay": Hyperparameter(False, check.flag,
                                             "decay the weights, not the gradient (NAdamW)"),
    "maximize": Hyperparameter(False, check.flag, "ascend instead of descend",
                               keyword_only=True),
}

STATE = ("exp_avg", "exp_avg_sq")


@element
def update(i, g, param, exp_avg, exp_avg_sq, unused1, c, s):
    sign, param_scale, weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2, eps = c
    bias_correction2, grad_scale, exp_avg_scale = s
    g = g * sign
    p = param[i] * param_scale  # decoupled decay; param_scale is exactly 1 otherwise
    if weight_decay != 0:
        g = g + weight_decay * p
    m = lerp(exp_avg[i], g, one_minus_beta1, beta1)
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    denom = math.sqrt(v / bias_correction2) + eps
    p = p + grad_scale * g / denom  # PyTorch's two addcdiv_, each rounded
    param[i] = p + exp_avg_scale * m / denom


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
        to_dtype(1 - beta2), to_dtype(beta2), to_dtype(h["eps"]),
    )


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
)
