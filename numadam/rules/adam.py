r"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as ``torch.optim.Adam``."""

from __future__ import annotations

import functools
import math

from numadam import _validation as check
from numadam.rules._rule import (
    DECOUPLED_WEIGHT_DECAY,
    MAXIMIZE,
    Hyperparameter,
    Invariant,
    Rule,
    element,
    lerp,
    load,
    maximum,
    nonnegative,
    store,
)

DOC = r"""Adam (Kingma & Ba, 2015), with PyTorch's formula, defaults and options.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
   &\textbf{if decoupled}: \; \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
     \quad \textbf{else if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
       \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
   &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
   &\textbf{if amsgrad}: \; \hat v^{\max}_t \leftarrow \max(\hat v^{\max}_{t-1}, v_t),
       \; u_t \leftarrow \hat v^{\max}_t \quad \textbf{else} \; u_t \leftarrow v_t \\
   &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
       \frac{m_t}{\sqrt{u_t}/\sqrt{1-\beta_2^t} + \epsilon}
   \end{aligned}

State vectors: ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and ``max_exp_avg_sq``
(:math:`\hat v^{\max}`, empty unless ``amsgrad``).
"""

DOC_W = r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

Before each Adam step the parameters shrink, :math:`\theta \leftarrow \theta(1-\gamma\lambda)`,
and the gradient carries no L2 term: :class:`Adam` with ``decoupled_weight_decay=True``. The
default ``weight_decay`` is ``1e-2``, as in PyTorch.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-3, check.learning_rate, "learning rate"),
    "betas": Hyperparameter((0.9, 0.999), check.betas,
                            "decay rates of the first and second moments"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the denominator"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay,
                                   "L2 penalty (decoupled with decoupled_weight_decay)"),
    "amsgrad": Hyperparameter(False, check.flag,
                              "use the running maximum of the second moment", fixed=True),
    "maximize": MAXIMIZE,
    "decoupled_weight_decay": DECOUPLED_WEIGHT_DECAY,
}

STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

#: v is a running mean of squares, and AMSGrad's max of the v's is at least the last one
STATE_INVARIANTS = (
    nonnegative("exp_avg_sq"),
    Invariant("max_exp_avg_sq",
              lambda state, h, step: state["max_exp_avg_sq"] >= state["exp_avg_sq"],
              "at least exp_avg_sq (AMSGrad keeps the running max of it)",
              reads=("exp_avg_sq",)),
)


def state_is_used(name, h):
    return name != "max_exp_avg_sq" or h["amsgrad"]


@element
def moments(i, g, param, exp_avg, exp_avg_sq, c):
    """The Adam family's first half (Adam, NAdam, RAdam): the signed gradient with its L2 term,
    the decayed parameter, and the two updated moments, stored. ``c`` starts with the seven
    constants of :func:`constants`. Returns ``(g, p, m, v)``."""
    sign, param_scale, weight_decay, one_minus_beta1, beta1, one_minus_beta2, beta2 = c[:7]
    g = g * sign
    p = param[i] * param_scale  # decoupled decay; param_scale is exactly 1 otherwise
    if weight_decay != 0:
        g = g + weight_decay * p
    m = lerp(exp_avg[i], g, one_minus_beta1, beta1)
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    return g, p, m, v


@element
def update(i, g, param, exp_avg, exp_avg_sq, max_exp_avg_sq, c, s):
    neg_step_size, bias_correction2_sqrt = s
    g, p, m, v = moments(i, g, param, exp_avg, exp_avg_sq, c)
    if max_exp_avg_sq is not None:  # amsgrad
        v = maximum(load(max_exp_avg_sq, i), v)  # NaN-propagating, like torch.maximum
        store(max_exp_avg_sq, i, v)
    denom = math.sqrt(v) / bias_correction2_sqrt + c[7]  # eps
    param[i] = p + neg_step_size * m / denom


def constants(h, to_dtype):
    beta1, beta2 = h["betas"]
    one_minus_beta1 = to_dtype(1 - beta1)
    if h["decoupled_weight_decay"]:
        param_scale, l2 = to_dtype(1 - h["lr"] * h["weight_decay"]), to_dtype(0)
    else:
        param_scale, l2 = to_dtype(1), to_dtype(h["weight_decay"])
    return (
        to_dtype(-1 if h["maximize"] else 1), param_scale, l2,
        one_minus_beta1, to_dtype(1) - one_minus_beta1,  # torch.lerp's weight and 1 - weight
        to_dtype(1 - beta2), to_dtype(beta2), to_dtype(h["eps"]),
    )


#: Beyond 2**53 a float step count is no longer exact; bias corrections are 1 long before.
_NEVER = float(2**53)


@functools.lru_cache(maxsize=64)
def bias_correction_done(beta):
    """The first step ``t`` from which ``1 - beta**t`` is exactly ``1.0``, or ``2**53``.

    From then on it is exactly 1 at every later step too (``beta**t`` falls with ``t``, and
    ``fl(1 - y)`` cannot fall as ``y`` does), so :func:`step_scalars` skips two ``pow`` calls
    there without changing a bit: a third of a 2-D Adam iteration in the compiled loop.
    ``beta1 = 0.9`` reaches it at ``t = 350``; ``beta2 = 0.999`` near 36,700.
    """
    if 1 - beta**_NEVER != 1.0:
        return _NEVER
    low, high = 0, 2**53  # 1 - beta**low != 1.0 (or low == 0), 1 - beta**high == 1.0
    while high - low > 1:
        middle = (low + high) // 2
        if 1 - beta ** float(middle) == 1.0:
            high = middle
        else:
            low = middle
    return float(high)


def step_inputs(h):
    beta1, beta2 = h["betas"]
    return (h["lr"], beta1, beta2, bias_correction_done(beta1), bias_correction_done(beta2))


def step_scalars(inputs, carry, step):
    """``(-lr / (1 - beta1**t), sqrt(1 - beta2**t))``.

    The exponent is a float on purpose: Numba compiles ``beta ** t`` with an integer ``t`` to
    repeated squaring, whose last bit can differ from the C ``pow`` that Python calls.
    """
    lr, beta1, beta2, done1, done2 = inputs
    t = float(step)
    bias_correction1 = 1.0
    if t < done1:
        bias_correction1 = 1 - beta1**t
    bias_correction2_sqrt = 1.0
    if t < done2:
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
    return (-(lr / bias_correction1), bias_correction2_sqrt), carry


RULE = Rule(
    name="adam", class_name="Adam", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    state_is_used=state_is_used,
    state_invariants=STATE_INVARIANTS,
)
