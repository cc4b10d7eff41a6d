r"""ADOPT (Taniguchi et al., 2024), as ``optax.contrib.adopt``: PyTorch has no ADOPT."""

from __future__ import annotations

import math

from numadam import _validation as check
from numadam.rules._rule import (
    MAXIMIZE,
    Hyperparameter,
    Rule,
    element,
    maximum,
    minimum,
    nonnegative,
)

DOC = r"""ADOPT (Taniguchi et al., 2024), with ``optax.contrib.adopt``'s formula and defaults.

Adam with the gradient normalized by the *previous* second moment, before it enters the
momentum, so that it converges for any :math:`\beta_2`. PyTorch has no ADOPT, so this follows
optax (``scale_by_adopt``, then the learning rate), operation by operation.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
   &\textbf{if } t = 1: \; v_1 \leftarrow g_1^2, \; m_1 \leftarrow 0
     \quad (\theta \text{ does not move}) \\
   &\textbf{else}: \; u_t \leftarrow \operatorname{clip}\Big(
       \frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}, \pm (t-1)^{1/4}\Big), \quad
     v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
   &\phantom{\textbf{else}:} \; m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) u_t \\
   &\theta_t \leftarrow \theta_{t-1} - \gamma\, m_t
     \quad (\textbf{nesterov}: \; \gamma\, (\beta_1 m_t + (1-\beta_1) u_t))
   \end{aligned}

State vectors: ``exp_avg`` (:math:`m`, optax's ``mu``) and ``exp_avg_sq`` (:math:`v`,
its ``nu``). ``betas`` are optax's ``(b1, b2)``, ``lr`` its ``learning_rate`` (which optax
requires; 1e-3 is the ADOPT authors' default); ``use_clipping=False`` drops the clip.
optax's ``clip_value_fn`` is its default, :math:`\text{count}^{1/4}`, and cannot be
changed. ``maximize`` is optax on the negated gradient. As in optax (``jnp.maximum``,
``jnp.clip``), NaN propagates through the maximum and the clip.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-3, check.learning_rate, "learning rate"),
    "betas": Hyperparameter((0.9, 0.9999), check.betas,
                            "(b1, b2): decay rates of the momentum and of the second moment"),
    "eps": Hyperparameter(1e-6, check.epsilon, "lower bound of the denominator"),
    "nesterov": Hyperparameter(False, check.flag, "Nesterov momentum"),
    "use_clipping": Hyperparameter(True, check.flag,
                                   "clip the normalized gradient to (t - 1)**0.25"),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg", "exp_avg_sq")


#: what every state the rule produces satisfies (checked by load_state_dict)
STATE_INVARIANTS = (nonnegative("exp_avg_sq"),)


@element
def update(i, g, param, exp_avg, exp_avg_sq, unused, c, s):
    sign, eps, neg_lr, use_clipping, nesterov = c
    one_minus_beta1, beta1, one_minus_beta2, beta2, clip, neg_clip = s
    g = g * sign
    v = exp_avg_sq[i]  # the previous second moment normalizes this step's gradient
    exp_avg_sq[i] = one_minus_beta2 * (g * g) + beta2 * v
    u = g / maximum(math.sqrt(v), eps)
    if use_clipping:
        u = minimum(clip, maximum(neg_clip, u))  # jnp.clip(u, -clip, clip)
    m = one_minus_beta1 * u + beta1 * exp_avg[i]
    exp_avg[i] = m
    if nesterov:
        m = one_minus_beta1 * u + beta1 * m
    param[i] = param[i] + neg_lr * m


def constants(h, to_dtype):
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(h["eps"]), to_dtype(-h["lr"]),
            h["use_clipping"], h["nesterov"])


def step_inputs(h):
    beta1, beta2 = h["betas"]
    return (beta1, beta2)


def step_scalars(inputs, carry, step):
    """``(1 - b1, b1, 1 - b2, b2, clip, -clip)`` of optax's count ``step - 1``: ``b1 = 1`` and
    ``b2 = 0`` at count 0, the clip value ``count**0.25``."""
    beta1, beta2 = inputs
    if step == 1:
        return (0.0, 1.0, 1.0, 0.0, 0.0, -0.0), carry
    clip = float(step - 1) ** 0.25
    return (1 - beta1, beta1, 1 - beta2, beta2, clip, -clip), carry


RULE = Rule(
    name="adopt", class_name="ADOPT", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    state_invariants=STATE_INVARIANTS,
)
