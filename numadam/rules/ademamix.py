r"""AdEMAMix (Pagliardini et al., 2024), as ``optax.contrib.ademamix``: PyTorch has none."""

from __future__ import annotations

import math

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Rule, element, nonnegative

DOC = r"""AdEMAMix (Pagliardini et al., 2024), with ``optax.contrib.ademamix``'s formula.

AdamW with a mixture of two momenta: a fast one (:math:`\beta_1`, bias-corrected) and a
slow one (:math:`\beta_3`, not corrected) weighted by :math:`\alpha`. PyTorch has no
AdEMAMix, so this follows optax (``scale_by_ademamix``, ``add_decayed_weights``, then the
learning rate), operation by operation.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
   &m^{(1)}_t \leftarrow \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t, \quad
     m^{(2)}_t \leftarrow \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t, \quad
     v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
   &\theta_t \leftarrow \theta_{t-1} - \gamma \Big(
     \frac{m^{(1)}_t / (1-\beta_1^t) + \alpha\, m^{(2)}_t}
          {\sqrt{v_t / (1-\beta_2^t) + \bar\epsilon} + \epsilon} + \lambda \theta_{t-1}\Big)
   \end{aligned}

State vectors: ``exp_avg_fast`` (:math:`m^{(1)}`, optax's ``m1``), ``exp_avg_slow``
(:math:`m^{(2)}`, ``m2``) and ``exp_avg_sq`` (:math:`v`, ``nu``). ``betas`` are optax's
``(b1, b2, b3)``, ``lr`` its ``learning_rate`` (which optax requires; 1e-3 is the authors'
default), ``eps_root`` its :math:`\bar\epsilon`. The weight decay is decoupled from the
gradient but, as in optax, multiplied by the learning rate. ``alpha`` and ``b3`` are constants,
optax's defaults; optax also accepts schedules for them (the paper's warmups), which this rule
does not take. ``maximize`` is optax on the negated gradient. As XLA does on the CPU, the bias
corrections divide as a multiplication by their reciprocal, in the parameters' dtype.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-3, check.learning_rate, "learning rate"),
    "betas": Hyperparameter((0.9, 0.999, 0.9999), check.beta_triple,
                            "(b1, b2, b3): decay rates of the fast momentum, the second moment "
                            "and the slow momentum"),
    "alpha": Hyperparameter(5.0, check.finite_real, "weight of the slow momentum"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the denominator"),
    "eps_root": Hyperparameter(0.0, check.epsilon,
                               "added to the second moment inside the square root"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay,
                                   "decoupled weight decay, multiplied by the learning rate"),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg_fast", "exp_avg_slow", "exp_avg_sq")


#: what every state the rule produces satisfies (checked by load_state_dict)
STATE_INVARIANTS = (nonnegative("exp_avg_sq"),)


@element
def update(i, g, param, exp_avg_fast, exp_avg_slow, exp_avg_sq, c, s):
    (sign, one_minus_beta1, beta1, one_minus_beta2, beta2, one_minus_beta3, beta3, alpha, eps,
     eps_root, weight_decay, neg_lr, one) = c
    bias_correction1, bias_correction2 = s
    g = g * sign
    m1 = one_minus_beta1 * g + beta1 * exp_avg_fast[i]
    m2 = one_minus_beta3 * g + beta3 * exp_avg_slow[i]
    v = one_minus_beta2 * (g * g) + beta2 * exp_avg_sq[i]
    exp_avg_fast[i] = m1
    exp_avg_slow[i] = m2
    exp_avg_sq[i] = v
    m1_hat = m1 * (one / bias_correction1)  # XLA's division by a scalar (loop-invariant)
    v_hat = v * (one / bias_correction2)
    u = (m1_hat + alpha * m2) / (math.sqrt(v_hat + eps_root) + eps)
    p = param[i]
    if weight_decay != 0:
        u = u + weight_decay * p
    param[i] = p + neg_lr * u


def constants(h, to_dtype):
    beta1, beta2, beta3 = h["betas"]
    return (
        to_dtype(-1 if h["maximize"] else 1), to_dtype(1 - beta1), to_dtype(beta1),
        to_dtype(1 - beta2), to_dtype(beta2), to_dtype(1 - beta3), to_dtype(beta3),
        to_dtype(h["alpha"]), to_dtype(h["eps"]), to_dtype(h["eps_root"]),
        to_dtype(h["weight_decay"]), to_dtype(-h["lr"]), to_dtype(1),
    )


def step_inputs(h):
    beta1, beta2, _ = h["betas"]
    return (beta1, beta2)


def step_scalars(inputs, carry, step):
    """``(1 - b1**t, 1 - b2**t)``, with a float exponent (see :mod:`numadam.rules.adam`)."""
    beta1, beta2 = inputs
    t = float(step)
    return (1 - beta1**t, 1 - beta2**t), carry


RULE = Rule(
    name="ademamix", class_name="AdEMAMix", doc=DOC, hyperparameters=HYPERPARAMETERS,
    state=STATE, element=update, constants=constants, step_inputs=step_inputs,
    step_scalars=step_scalars, state_invariants=STATE_INVARIANTS,
)
