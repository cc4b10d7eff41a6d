r"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``."""

from __future__ import annotations

import math

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Rule, element, nonnegative

DOC = r"""Adadelta (Zeiler, 2012), with ``torch.optim.Adadelta``'s formula, defaults and options.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &v_t \leftarrow \rho v_{t-1} + (1-\rho) g_t^2 \\
   &\Delta x_t \leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
   &u_t \leftarrow \rho u_{t-1} + (1-\rho) \Delta x_t^2 \\
   &\theta_t \leftarrow \theta_{t-1} - \gamma \Delta x_t
   \end{aligned}

State vectors: ``square_avg`` (:math:`v`) and ``acc_delta`` (:math:`u`). ``eps`` is added
inside both square roots, as in PyTorch; ``lr`` scales the update (the paper's has none: 1.0).
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1.0, check.learning_rate, "coefficient of the update"),
    "rho": Hyperparameter(0.9, check.rho,
                          "decay rate of the squared-gradient and squared-update averages"),
    "eps": Hyperparameter(1e-6, check.epsilon, "added inside the square roots"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "L2 penalty"),
    "maximize": MAXIMIZE,
}

STATE = ("square_avg", "acc_delta")

#: both are running means of squares, whose square roots the next step takes
STATE_INVARIANTS = (nonnegative("square_avg"), nonnegative("acc_delta"))


@element
def update(i, g, param, square_avg, acc_delta, unused1, c, s):
    sign, weight_decay, rho, one_minus_rho, eps, neg_lr, one = c
    g = g * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    v = square_avg[i] * rho + one_minus_rho * g * g
    square_avg[i] = v
    u = acc_delta[i]
    # "* one" is exact (and folded away when compiled); it keeps std in the array dtype under
    # the CUDA simulator, where math.sqrt returns a Python float and the quotient of the two
    # square roots would otherwise be taken in float64.
    std = math.sqrt(v + eps) * one
    delta = math.sqrt(u + eps) / std * g
    acc_delta[i] = u * rho + one_minus_rho * delta * delta
    param[i] = p + neg_lr * delta


def constants(h, to_dtype):
    return (
        to_dtype(-1 if h["maximize"] else 1), to_dtype(h["weight_decay"]), to_dtype(h["rho"]),
        to_dtype(1 - h["rho"]), to_dtype(h["eps"]), to_dtype(-h["lr"]), to_dtype(1),
    )


def step_scalars(inputs, carry, step):
    return (), carry


RULE = Rule(
    name="adadelta", class_name="Adadelta", doc=DOC, hyperparameters=HYPERPARAMETERS,
    state=STATE, element=update, constants=constants, step_scalars=step_scalars,
    state_invariants=STATE_INVARIANTS,
)
