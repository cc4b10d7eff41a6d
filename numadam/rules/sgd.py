r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``."""

from __future__ import annotations

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Rule, element, load, store
from numadam.rules.rmsprop import check_momentum_stays_on_or_off

DOC = r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &\textbf{if } \mu \ne 0: \; b_t \leftarrow
       \begin{cases} g_t & t = 1 \\ \mu b_{t-1} + (1-\tau) g_t & t > 1 \end{cases},
     \quad g_t \leftarrow \begin{cases} g_t + \mu b_t & \text{nesterov} \\
     b_t & \text{otherwise} \end{cases} \\
   &\theta_t \leftarrow \theta_{t-1} - \gamma g_t
   \end{aligned}

State vector: ``momentum_buffer`` (:math:`b`, empty unless ``momentum != 0``). Nesterov
momentum needs ``momentum > 0`` and ``dampening == 0``.
"""

DOC_MOMENTUM = """:class:`SGD` with ``momentum=0.9`` by default: heavy-ball momentum under its own
name."""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-3, check.learning_rate, "learning rate"),
    "momentum": Hyperparameter(0.0, check.momentum,
                               "momentum factor (on or off is fixed at creation)"),
    "dampening": Hyperparameter(0.0, check.dampening, "dampening of the momentum"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "L2 penalty"),
    "nesterov": Hyperparameter(False, check.flag, "Nesterov momentum"),
    "maximize": MAXIMIZE,
}

STATE = ("momentum_buffer",)


def state_is_used(name, h):
    return h["momentum"] != 0


def check_combination(current, candidate):
    if candidate["nesterov"] and (candidate["momentum"] <= 0 or candidate["dampening"] != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    check_momentum_stays_on_or_off(current, candidate)


@element
def update(i, g, param, momentum_buffer, unused1, unused2, c, s):
    sign, weight_decay, neg_lr, momentum, nesterov = c
    buffer_decay, grad_scale = s
    g = g * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum_buffer is not None:
        b = load(momentum_buffer, i) * buffer_decay + grad_scale * g
        store(momentum_buffer, i, b)
        if nesterov:
            g = g + momentum * b
        else:
            g = b
    param[i] = p + neg_lr * g


def constants(h, to_dtype):
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(h["weight_decay"]),
            to_dtype(-h["lr"]), to_dtype(h["momentum"]), h["nesterov"])


def step_inputs(h):
    return (h["momentum"], 1 - h["dampening"])


def step_scalars(inputs, carry, step):
    """The buffer becomes ``b * buffer_decay + grad_scale * g``: PyTorch's ``momentum`` and
    ``1 - dampening``, except on the first step, where PyTorch sets it to ``g`` itself, which
    ``(0, 1)`` reproduces exactly from a zeroed buffer (``0 * 0 + 1 * g == g``; only the sign of a
    zero may differ, which no later operation can see)."""
    if step == 1:
        return (0.0, 1.0), carry
    return (inputs[0], inputs[1]), carry


RULE = Rule(
    name="sgd", class_name="SGD", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    state_is_used=state_is_used, check_combination=check_combination,
)
