r"""Lion (Chen et al., 2023), as ``optax.lion``: PyTorch has no Lion."""

from __future__ import annotations

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Rule, element

DOC = r"""Lion (Chen et al., 2023), with ``optax.lion``'s formula and defaults.

PyTorch has no Lion, so this follows optax (``scale_by_lion``, then ``add_decayed_weights``,
then the learning rate), operation by operation.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
   &u_t \leftarrow \operatorname{sign}\big((1-\beta_1) g_t + \beta_1 m_{t-1}\big) \\
   &m_t \leftarrow (1-\beta_2) g_t + \beta_2 m_{t-1} \\
   &\theta_t \leftarrow \theta_{t-1} - \gamma\,(u_t + \lambda \theta_{t-1})
   \end{aligned}

State vector: ``exp_avg`` (:math:`m`, optax's ``mu``). ``betas`` are optax's ``(b1, b2)``,
``lr`` its ``learning_rate``. The weight decay is decoupled from the gradient but, as in optax,
multiplied by the learning rate; ``maximize`` is optax on the negated gradient. The sign of a
zero is that zero (and of a NaN, NaN), as ``jnp.sign``. A learning rate 3-10x smaller than
AdamW's, and a weight decay 3-10x larger, are typical.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-4, check.learning_rate, "learning rate"),
    "betas": Hyperparameter((0.9, 0.99), check.betas,
                            "(b1, b2): interpolation rate of the update, decay of the momentum"),
    "weight_decay": Hyperparameter(1e-3, check.weight_decay,
                                   "decoupled weight decay, multiplied by the learning rate"),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg",)


@element
def update(i, g, param, exp_avg, unused1, unused2, c, s):
    sign, one_minus_beta1, beta1, one_minus_beta2, beta2, weight_decay, neg_lr, one, neg_one = c
    g = g * sign
    m = exp_avg[i]
    x = one_minus_beta1 * g + beta1 * m
    u = x  # jnp.sign: a zero keeps its sign, NaN stays NaN
    if x > 0:
        u = one
    elif x < 0:
        u = neg_one
    exp_avg[i] = one_minus_beta2 * g + beta2 * m
    p = param[i]
    if weight_decay != 0:
        u = u + weight_decay * p
    param[i] = p + neg_lr * u


def constants(h, to_dtype):
    beta1, beta2 = h["betas"]
    # optax computes 1.0 - b1 in Python, then combines it with the array in the array's dtype
    return (
        to_dtype(-1 if h["maximize"] else 1), to_dtype(1.0 - beta1), to_dtype(beta1),
        to_dtype(1 - beta2), to_dtype(beta2), to_dtype(h["weight_decay"]), to_dtype(-h["lr"]),
        to_dtype(1), to_dtype(-1),
    )


def step_scalars(inputs, carry, step):
    return (), carry


RULE = Rule(
    name="lion", class_name="Lion", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_scalars=step_scalars,
)
