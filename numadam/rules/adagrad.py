r"""Adagrad (Duchi, Hazan & Singer, 2011), as ``torch.optim.Adagrad``."""

from __future__ import annotations

import math

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Rule, element, nonnegative

DOC = r"""Adagrad (Duchi, Hazan & Singer, 2011), with ``torch.optim.Adagrad``'s formula, defaults
and options.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &\tilde\gamma_t \leftarrow \gamma / (1 + (t-1)\eta) \\
   &s_t \leftarrow s_{t-1} + g_t^2, \quad s_0 = \text{initial\_accumulator\_value} \\
   &\theta_t \leftarrow \theta_{t-1} - \tilde\gamma_t \, \frac{g_t}{\sqrt{s_t} + \epsilon}
   \end{aligned}

State vector: ``sum`` (:math:`s`), which starts at ``initial_accumulator_value``: that value is
only read when the optimizer is created, as in PyTorch. :math:`\eta` is ``lr_decay``.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-2, check.learning_rate, "learning rate"),
    "lr_decay": Hyperparameter(0.0, check.lr_decay,
                               "the learning rate at step t is lr / (1 + (t - 1) lr_decay)"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "L2 penalty"),
    "initial_accumulator_value": Hyperparameter(
        0.0, check.initial_accumulator_value,
        "starting value of the sum of squared gradients (read at creation)"),
    "eps": Hyperparameter(1e-10, check.epsilon, "added to the square root"),
    "maximize": MAXIMIZE,
}

STATE = ("sum",)

#: a sum of squares (from a non-negative initial_accumulator_value)
STATE_INVARIANTS = (nonnegative("sum"),)


def initial_state(name, h):
    return h["initial_accumulator_value"]


@element
def update(i, g, param, state_sum, unused1, unused2, c, s):
    sign, weight_decay, eps = c
    (neg_clr,) = s
    g = g * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    v = state_sum[i] + g * g  # torch's addcmul(value=1): 1 * g * g is exactly g * g
    state_sum[i] = v
    param[i] = p + neg_clr * g / (math.sqrt(v) + eps)


def constants(h, to_dtype):
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(h["weight_decay"]),
            to_dtype(h["eps"]))


def step_inputs(h):
    return (h["lr"], h["lr_decay"])


def step_scalars(inputs, carry, step):
    """``(-lr / (1 + (t - 1) * lr_decay),)``, PyTorch's Python-float arithmetic."""
    lr, lr_decay = inputs
    return (-(lr / (1 + (float(step) - 1) * lr_decay)),), carry


RULE = Rule(
    name="adagrad", class_name="Adagrad", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    initial_state=initial_state,
    state_invariants=STATE_INVARIANTS,
)
