r"""Averaged SGD (Polyak & Juditsky, 1992), as ``torch.optim.ASGD``."""

from __future__ import annotations

import numpy as np

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Rule, element

DOC = r"""Averaged stochastic gradient descent (Polyak & Juditsky, 1992): ``torch.optim.ASGD``.

SGD with a decaying step size :math:`\eta_t` and a decay term, which also keeps the running
average :math:`\bar\theta` of its iterates from step :math:`t_0` on.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if } \lambda_{wd} \ne 0: \; g_t \leftarrow g_t + \lambda_{wd} \theta_{t-1} \\
   &\theta_t \leftarrow \theta_{t-1} (1 - \lambda \eta_{t-1}) - \eta_{t-1} g_t \\
   &\bar\theta_t \leftarrow \bar\theta_{t-1} + \mu_{t-1} (\theta_t - \bar\theta_{t-1})
     \quad (\bar\theta_t \leftarrow \theta_t \text{ while } \mu_{t-1} = 1) \\
   &\eta_t \leftarrow \gamma / (1 + \lambda \gamma t)^{\alpha}, \quad
     \mu_t \leftarrow 1 / \max(1, t - t_0), \quad \eta_0 = \gamma, \; \mu_0 = 1
   \end{aligned}

State vector: ``ax`` (:math:`\bar\theta`, the averaged iterate); carried scalars ``eta`` and
``mu`` (set at the first step, from ``lr``). As in PyTorch (whose scalar state is float32
unless its default dtype is float64), ``eta`` and ``mu`` are rounded to float32 at every step,
whatever the parameters' dtype. The parameter vector holds the iterate :math:`\theta`, and
``minimize(method="asgd")`` returns the iterate, as PyTorch's ASGD leaves it in the parameters;
the average is ``opt.state["ax"]`` (with the default ``t0 = 1e6`` it is a copy of the iterate
for the first million steps). For an averaged result of any method, use ``minimize``'s
iterate-averaging option.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-2, check.learning_rate, "learning rate"),
    "lambd": Hyperparameter(1e-4, check.lambd, "decay term"),
    "alpha": Hyperparameter(0.75, check.finite_real, "power of the step-size decay"),
    "t0": Hyperparameter(1e6, check.finite_real, "the step from which the iterates are averaged"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "L2 penalty"),
    "maximize": MAXIMIZE,
}

STATE = ("ax",)


@element
def update(i, g, param, ax, unused1, unused2, c, s):
    sign, weight_decay, one = c
    param_scale, neg_eta, mu = s
    g = g * sign
    p = param[i]
    if weight_decay != 0:
        g = g + weight_decay * p
    p = p * param_scale
    p = p + neg_eta * g
    param[i] = p
    if mu != one:
        a = ax[i]
        ax[i] = a + (p - a) * mu
    else:
        ax[i] = p


def constants(h, to_dtype):
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(h["weight_decay"]), to_dtype(1))


def step_inputs(h):
    return (h["lr"], h["lambd"], h["alpha"], h["t0"])


def step_scalars(inputs, carry, step):
    """``(1 - lambd eta, -eta, mu)`` of the carried ``(eta, mu)`` (``(lr, 1)`` at the first
    step), and the next ``(eta, mu)``, each rounded to float32 as PyTorch's."""
    lr, lambd, alpha, t0 = inputs
    eta, mu = carry
    if step == 1:
        eta, mu = float(np.float32(lr)), 1.0
    t = float(step)
    scalars = (1 - lambd * eta, -eta, mu)
    new_eta = float(np.float32(lr / ((1 + lambd * lr * t) ** alpha)))
    since = t - t0
    if since < 1.0:
        since = 1.0
    new_mu = float(np.float32(1 / since))
    return scalars, (new_eta, new_mu)


RULE = Rule(
    name="asgd", class_name="ASGD", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    carry=(0.0, 1.0), carry_names=("eta", "mu"),
)
