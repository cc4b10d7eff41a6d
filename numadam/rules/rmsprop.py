r"""RMSProp (Hinton, 2012), as ``torch.optim.RMSprop``."""

from __future__ import annotations

import math

from numadam import _validation as check
from numadam.rules._rule import (
    MAXIMIZE,
    Hyperparameter,
    Rule,
    element,
    lerp,
    load,
    nonnegative,
    store,
)

DOC = r"""RMSProp (Hinton, 2012), with ``torch.optim.RMSprop``'s formula, defaults and options.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &v_t \leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2 \\
   &\textbf{if centered}: \; \bar g_t \leftarrow \operatorname{lerp}(\bar g_{t-1}, g_t,
     1-\alpha), \; \tilde v_t \leftarrow v_t - \bar g_t^2
     \quad \textbf{else} \; \tilde v_t \leftarrow v_t \\
   &\textbf{if } \mu > 0: \; b_t \leftarrow \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon),
     \; \theta_t \leftarrow \theta_{t-1} - \gamma b_t \\
   &\textbf{else}: \; \theta_t \leftarrow \theta_{t-1}
     - \gamma g_t / (\sqrt{\tilde v_t}+\epsilon)
   \end{aligned}

State vectors: ``square_avg`` (:math:`v`), ``grad_avg`` (:math:`\bar g`, empty unless
``centered``) and ``momentum_buffer`` (:math:`b`, empty unless ``momentum > 0``). ``eps`` is
added outside the square root, as in PyTorch (optax's default puts it inside).
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-2, check.learning_rate, "learning rate"),
    "alpha": Hyperparameter(0.99, check.alpha, "decay rate of the squared-gradient average"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the square root"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "L2 penalty"),
    "momentum": Hyperparameter(0.0, check.momentum,
                               "momentum factor (on or off is fixed at creation)"),
    "centered": Hyperparameter(False, check.flag,
                               "normalise by the gradient's estimated variance", fixed=True),
    "maximize": MAXIMIZE,
}

STATE = ("square_avg", "grad_avg", "momentum_buffer")

#: a running mean of squares. (Centered, square_avg >= grad_avg**2 holds in exact
#: arithmetic only: rounding may break it in a state the rule itself produced.)
STATE_INVARIANTS = (nonnegative("square_avg"),)


def state_is_used(name, h):
    if name == "grad_avg":
        return h["centered"]
    if name == "momentum_buffer":
        return h["momentum"] > 0
    return True


def check_momentum_stays_on_or_off(current, candidate):
    """Momentum may change between non-zero values, not switch on or off: the momentum buffer
    exists (or not) from the optimizer's creation on. Shared by the rules with a momentum."""
    if "momentum" in current and (candidate["momentum"] != 0) != (current["momentum"] != 0):
        raise ValueError(
            "momentum can change between non-zero values, but switching it on or off after "
            "creation would need a new momentum buffer; create a new optimizer"
        )


@element
def update(i, g, param, square_avg, grad_avg, momentum_buffer, c, s):
    sign, weight_decay, alpha, one_minus_alpha, lerp_complement, eps, neg_lr, momentum = c
    g = g * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    v = square_avg[i] * alpha + one_minus_alpha * g * g
    square_avg[i] = v
    if grad_avg is not None:  # centered
        a = lerp(load(grad_avg, i), g, one_minus_alpha, lerp_complement)
        store(grad_avg, i, a)
        v = v - a * a  # torch's addcmul(value=-1) computes v + (-a) * a: the same bits
    avg = math.sqrt(v) + eps
    if momentum_buffer is not None:
        b = load(momentum_buffer, i) * momentum + g / avg
        store(momentum_buffer, i, b)
        param[i] = p + neg_lr * b
    else:
        param[i] = p + neg_lr * g / avg


def constants(h, to_dtype):
    # torch.lerp(grad_avg, grad, 1 - alpha) needs 1 - (1 - alpha) computed in the array dtype,
    # which is not always alpha: in float64, 1 - (1 - 0.3) == 0.30000000000000004.
    one_minus_alpha = to_dtype(1 - h["alpha"])
    return (
        to_dtype(-1 if h["maximize"] else 1), to_dtype(h["weight_decay"]), to_dtype(h["alpha"]),
        one_minus_alpha, to_dtype(1) - one_minus_alpha, to_dtype(h["eps"]), to_dtype(-h["lr"]),
        to_dtype(h["momentum"]),
    )


def step_scalars(inputs, carry, step):
    return (), carry


RULE = Rule(
    name="rmsprop", class_name="RMSProp", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_scalars=step_scalars, state_is_used=state_is_used,
    check_combination=check_momentum_stays_on_or_off,
    state_invariants=STATE_INVARIANTS,
)
