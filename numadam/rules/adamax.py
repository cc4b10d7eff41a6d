r"""Adamax (Kingma & Ba, 2015, section 7.1), as ``torch.optim.Adamax``."""

from __future__ import annotations

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Rule, element, lerp, maximum, nonnegative
from numadam.rules.adam import bias_correction_done

DOC = r"""Adamax (Kingma & Ba, 2015), Adam with the infinity norm, as ``torch.optim.Adamax``.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
       \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
   &u_t \leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\
   &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\, \frac{m_t}{u_t}
   \end{aligned}

State vectors: ``exp_avg`` (:math:`m`) and ``exp_inf`` (:math:`u`). ``eps`` is added to
:math:`|g_t|` inside the maximum, as in PyTorch; the maximum propagates NaN, like
``torch.maximum``.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(2e-3, check.learning_rate, "learning rate"),
    "betas": Hyperparameter((0.9, 0.999), check.betas,
                            "decay rates of the first moment and of the infinity norm"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the gradient's magnitude"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "L2 penalty"),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg", "exp_inf")

#: a running max of magnitudes
STATE_INVARIANTS = (nonnegative("exp_inf"),)


@element
def update(i, g, param, exp_avg, exp_inf, unused1, c, s):
    sign, weight_decay, one_minus_beta1, beta1, beta2, eps = c
    (neg_clr,) = s
    g = g * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    m = lerp(exp_avg[i], g, one_minus_beta1, beta1)
    u = maximum(exp_inf[i] * beta2, abs(g) + eps)  # NaN-propagating, like torch.maximum
    exp_avg[i] = m
    exp_inf[i] = u
    param[i] = p + neg_clr * m / u


def constants(h, to_dtype):
    beta1, beta2 = h["betas"]
    one_minus_beta1 = to_dtype(1 - beta1)
    return (
        to_dtype(-1 if h["maximize"] else 1), to_dtype(h["weight_decay"]),
        one_minus_beta1, to_dtype(1) - one_minus_beta1,  # torch.lerp's weight and 1 - weight
        to_dtype(beta2), to_dtype(h["eps"]),
    )


def step_inputs(h):
    beta1 = h["betas"][0]
    return (h["lr"], beta1, bias_correction_done(beta1))


def step_scalars(inputs, carry, step):
    """``(-lr / (1 - beta1**t),)``, with a float exponent (see :mod:`numadam.rules.adam`)."""
    lr, beta1, done1 = inputs
    t = float(step)
    bias_correction = 1.0
    if t < done1:
        bias_correction = 1 - beta1**t
    return (-(lr / bias_correction),), carry


RULE = Rule(
    name="adamax", class_name="Adamax", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    state_invariants=STATE_INVARIANTS,
)
