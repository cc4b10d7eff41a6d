r"""Schedule-free AdamW (Defazio et al., 2024), as ``schedulefree.AdamWScheduleFree``."""

from __future__ import annotations

import math

from numadam import _validation as check
from numadam.rules._rule import (
    MAXIMIZE,
    Hyperparameter,
    Invariant,
    Rule,
    element,
    lerp,
    nonnegative,
)

DOC = r"""Schedule-free AdamW (Defazio et al., 2024), as ``schedulefree.AdamWScheduleFree``.

No learning-rate schedule is needed: the parameters interpolate between a plain AdamW-style
sequence :math:`z` and its weighted running average :math:`x`. In train mode the parameter
vector holds the gradient point :math:`y`; :meth:`eval` moves it to the average :math:`x` (the
point to evaluate, test or save), :meth:`train` moves it back, exactly as the reference package
does. ``step`` runs only in train mode; a new optimizer starts in train mode (the reference
starts in eval mode, where ``train()`` is a no-op before its state exists: calling ``train()``
first, as with the reference, changes nothing).

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(y_{t-1}) \quad (-\nabla f \text{ if maximize}), \quad
     \gamma_t \leftarrow \gamma \min(1, t / \text{warmup\_steps}) \\
   &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
     \hat g_t \leftarrow g_t / (\sqrt{v_t / (1-\beta_2^t)} + \epsilon) + \lambda y_{t-1} \\
   &w_t \leftarrow t^r \, (\max_{k \le t} \gamma_k)^{p}, \quad c_t \leftarrow w_t / \textstyle
     \sum_{k \le t} w_k \\
   &y_t \leftarrow \operatorname{lerp}(y_{t-1}, z_{t-1}, c_t)
     + \gamma_t (\beta_1 (1 - c_t) - 1) \hat g_t, \quad
     z_t \leftarrow z_{t-1} - \gamma_t \hat g_t \\
   &\text{eval: } x = \operatorname{lerp}(y, z, 1 - 1/\beta_1), \quad
     \text{train: } y = \operatorname{lerp}(x, z, 1 - \beta_1)
   \end{aligned}

State vectors: ``z`` (a copy of the parameters at creation) and ``exp_avg_sq`` (:math:`v`);
carried scalars ``lr_max`` and ``weight_sum``.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(0.0025, check.learning_rate, "learning rate"),
    "betas": Hyperparameter((0.9, 0.999), check.betas,
                            "interpolation / averaging (beta1) and second-moment (beta2) rates"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the denominator"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "weight decay, computed at y"),
    "warmup_steps": Hyperparameter(0, check.nonnegative_integer,
                                   "steps of linear learning-rate warmup"),
    "r": Hyperparameter(0.0, check.finite_real, "power of t in the averaging weights"),
    "weight_lr_power": Hyperparameter(2.0, check.finite_real,
                                      "power of the (max) learning rate in the weights"),
    "maximize": MAXIMIZE,
}

STATE = ("z", "exp_avg_sq")

#: v is a running mean of squares; the averaging weights sum to a non-negative total
STATE_INVARIANTS = (
    nonnegative("exp_avg_sq"),
    Invariant("weight_sum", lambda state, h, step: state["weight_sum"] >= 0,
              "non-negative (a sum of averaging weights)"),
)


def initial_state(name, h):
    return "params" if name == "z" else 0.0


@element
def update(i, g, param, z, exp_avg_sq, unused, c, s):
    sign, beta2, one_minus_beta2, eps, weight_decay, one = c
    bias_correction2, ckp1, y_step, neg_lr = s
    g = g * sign
    y = param[i]
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    exp_avg_sq[i] = v
    g = g / (math.sqrt(v / bias_correction2) + eps)
    if weight_decay != 0:
        g = g + weight_decay * y
    zi = z[i]
    # torch.lerp's second form uses 1 - weight computed in the array dtype
    param[i] = lerp(y, zi, ckp1, one - ckp1) + y_step * g
    z[i] = zi + neg_lr * g  # torch's sub_(g, alpha=lr) computes z - lr * g: the same bits


@element
def to_eval(i, g, param, z, exp_avg_sq, unused, c, s):
    """y -> x: ``param = lerp(param, z, 1 - 1/beta1)``."""
    weight, one_minus_weight = c
    param[i] = lerp(param[i], z[i], weight, one_minus_weight)


@element
def to_train(i, g, param, z, exp_avg_sq, unused, c, s):
    """x -> y: ``param = lerp(param, z, 1 - beta1)``."""
    weight, one_minus_weight = c
    param[i] = lerp(param[i], z[i], weight, one_minus_weight)


def mode_constants(mode, h, to_dtype):
    beta1 = h["betas"][0]
    weight = to_dtype(1 - 1 / beta1 if mode == "eval" else 1 - beta1)
    return weight, to_dtype(1) - weight


def constants(h, to_dtype):
    beta2 = h["betas"][1]
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(beta2), to_dtype(1 - beta2),
            to_dtype(h["eps"]), to_dtype(h["weight_decay"]), to_dtype(1))


def step_inputs(h):
    beta1, beta2 = h["betas"]
    return (h["lr"], beta1, beta2, float(h["warmup_steps"]), h["r"], h["weight_lr_power"])


def step_scalars(inputs, carry, step):
    """The reference's per-step scalars, in its order of operations; ``carry`` is
    ``(lr_max, weight_sum)``."""
    base_lr, beta1, beta2, warmup_steps, r, weight_lr_power = inputs
    lr_max, weight_sum = carry
    t = float(step)  # the reference's k + 1
    sched = 1.0
    if t - 1 < warmup_steps:
        sched = t / warmup_steps
    bias_correction2 = 1 - beta2**t
    lr = base_lr * sched
    if lr > lr_max:
        lr_max = lr
    weight = (t**r) * (lr_max**weight_lr_power)
    weight_sum = weight_sum + weight
    ckp1 = 0.0
    if weight_sum != 0:
        ckp1 = weight / weight_sum
    y_step = lr * (beta1 * (1 - ckp1) - 1)
    return (bias_correction2, ckp1, y_step, -lr), (lr_max, weight_sum)


def check_combination(current, candidate):
    if candidate["betas"][0] == 0:  # the switches between the points divide by beta1
        raise ValueError("Invalid beta parameter at index 0: 0.0 (schedule-free's train and "
                         "eval points are apart by a factor 1 - 1/beta1; it must be > 0)")


RULE = Rule(
    name="schedulefree_adamw", class_name="ScheduleFreeAdamW", doc=DOC,
    check_combination=check_combination,
    hyperparameters=HYPERPARAMETERS, state=STATE, element=update, constants=constants,
    step_inputs=step_inputs, step_scalars=step_scalars, carry=(-1.0, 0.0),
    carry_names=("lr_max", "weight_sum"), initial_state=initial_state,
    modes={"train": to_train, "eval": to_eval}, mode_constants=mode_constants,
    state_invariants=STATE_INVARIANTS,
)
