r"""D-Adaptation Adam (Defazio & Mishchenko, 2023), as ``dadaptation.DAdaptAdam``."""

from __future__ import annotations

import math

from numba.extending import register_jitable

from numadam import _validation as check
from numadam.rules._rule import (
    MAXIMIZE,
    Hyperparameter,
    Reduction,
    Rule,
    element,
    nonnegative,
)

DOC = r"""D-Adaptation Adam (Defazio & Mishchenko, 2023): Adam with a learned step size, as
``dadaptation.DAdaptAdam``.

The step size :math:`d` (times ``lr``, keep 1.0) is a lower bound on the distance to the
solution, estimated from the gradients; it only grows, from ``d0``. Each step, with
:math:`\eta_t = d_t\,\mathrm{lr}\,\rho_t` (:math:`\rho_t` Adam's bias corrections of step
:math:`k+1` with ``use_bias_correction``, else 1) and :math:`\sqrt{\beta_2}` written
:math:`\beta_3`:

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if not decouple}: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &r_t \leftarrow \beta_3 r_{t-1} + (1-\beta_3)\, \eta_t
     \Big\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}} + \epsilon} \Big\rangle \\
   &m_t \leftarrow \beta_1 m_{t-1} + \eta_t (1-\beta_1) g_t, \quad
    v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
    s_t \leftarrow \beta_3 s_{t-1} + \eta_t (1-\beta_3) g_t \\
   &d_{t+1} \leftarrow \max\!\Big(d_t,\; \min\Big(\frac{r_t}{(1-\beta_3)\lVert s_t \rVert_1},\;
     d_t \cdot \text{growth\_rate}\Big)\Big) \\
   &\textbf{if decouple}: \; \theta \leftarrow \theta - \lambda \eta_t \theta; \quad
     \theta_t \leftarrow \theta - \frac{m_t}{\sqrt{v_t} + \epsilon}
   \end{aligned}

The update does not need the new :math:`d`, so a step is one pass over the vector (the inner
product and :math:`\lVert s_t \rVert_1` summed while it updates), or two with decoupled weight
decay (which ``dadaptation`` skips, with the whole update, when :math:`\lVert s_t \rVert_1 =
0`). The sums are taken in float64, in blocks of a fixed length and a fixed order (serial and
parallel loops agree bitwise; PyTorch sums in the parameters' dtype, in its own order).

State vectors: ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and ``s``; carried scalars
``d``, ``numerator_weighted`` (:math:`r`) and ``k`` (the steps taken). ``dadaptation``'s
``log_every``, ``layer_scale`` and ``fsdp_in_use`` are not offered. The optimizer class and
every ``minimize`` loop and ``minimize_batch`` (both forms) run it, on the CPU and (the class
and ``minimize``) on the GPU; parameter groups step each group as a separate optimizer on its
elements (its own ``d``, from its own sums; ``dadaptation`` shares one ``d`` across its
groups).
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1.0, check.positive_finite, "multiplies the learned step (keep 1.0)"),
    "betas": Hyperparameter((0.9, 0.999), check.betas,
                            "decay rates of the first and second moments"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the denominator"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "weight decay"),
    "decouple": Hyperparameter(False, check.flag, "decoupled (AdamW) weight decay, or L2"),
    "use_bias_correction": Hyperparameter(False, check.flag,
                                          "Adam's bias corrections in the step"),
    "d0": Hyperparameter(1e-6, check.positive_finite, "initial d estimate"),
    "growth_rate": Hyperparameter(math.inf, check.positive, "largest growth factor of d a step"),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg", "exp_avg_sq", "s")

STATE_INVARIANTS = (nonnegative("exp_avg_sq"),)


@element
def reduce(i, g, param, exp_avg, exp_avg_sq, s_vector, unused, c, s):
    """The moments and ``s`` updated (and ``param``, fused, unless decoupled decay needs the
    second pass); returns ``(g s_old / (sqrt(v_old) + eps), |s|)``."""
    sign, l2, beta1, beta2, sqrt_beta2, one_minus_beta2, eps, fused = c
    m_coef, s_coef = s[0], s[1]
    g = g * sign
    p = param[i]
    if l2 != 0:
        g = g + l2 * p
    s_old = s_vector[i]
    dot = g * (s_old / (math.sqrt(exp_avg_sq[i]) + eps))
    m = exp_avg[i] * beta1 + m_coef * g
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    s_new = s_old * sqrt_beta2 + s_coef * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    s_vector[i] = s_new
    # stored either way (the old value when the second pass updates): see Reduction
    param[i] = p - m / (math.sqrt(v) + eps) if fused else p
    return dot, abs(s_new)


@element
def update(i, g, param, exp_avg, exp_avg_sq, s_vector, unused, c, s):
    """The second pass, with decoupled weight decay only."""
    eps = c[6]
    neg_decay_dlr = s[0]
    denom = math.sqrt(exp_avg_sq[i]) + eps
    p = param[i]
    p = p + neg_decay_dlr * p
    param[i] = p - exp_avg[i] / denom


def _decoupled(h):
    return h["weight_decay"] != 0 and h["decouple"]


def constants(h, to_dtype):
    beta1, beta2 = h["betas"]
    return (to_dtype(-1 if h["maximize"] else 1),
            to_dtype(0 if h["decouple"] else h["weight_decay"]),
            to_dtype(beta1), to_dtype(beta2), to_dtype(beta2**0.5), to_dtype(1 - beta2),
            to_dtype(h["eps"]), not _decoupled(h))


def step_inputs(h):
    beta1, beta2 = h["betas"]
    return (h["lr"], beta1, beta2, h["weight_decay"], _decoupled(h), h["use_bias_correction"],
            h["d0"], h["growth_rate"])


@register_jitable
def _step_size(inputs, d, k):
    lr, beta1, beta2 = inputs[0], inputs[1], inputs[2]
    bias_correction = 1.0
    if inputs[5]:
        bias_correction = ((1 - beta2 ** (k + 1)) ** 0.5) / (1 - beta1 ** (k + 1))
    return d * lr * bias_correction


def step_scalars(inputs, carry, step):
    """The first pass's ``(eta (1 - beta1), eta (1 - sqrt(beta2)), -lambda eta)``; the carry
    ``(d, numerator_weighted, k)`` starts at ``(d0, 0, 0)`` at the first step."""
    beta1, beta2, decay = inputs[1], inputs[2], inputs[3]
    d, numerator, k = carry
    if step == 1:
        d, numerator, k = inputs[6], 0.0, 0.0
    dlr = _step_size(inputs, d, k)
    return ((1.0 * dlr) * (1 - beta1), dlr * (1 - beta2**0.5), -decay * dlr), (d, numerator, k)


def finish(inputs, carry, step, sums):
    """The new ``d`` from the sums; the second pass's scalars with decoupled decay."""
    beta2, decay, decoupled, growth_rate = inputs[2], inputs[3], inputs[4], inputs[7]
    dot, s_norm = sums
    d, numerator, k = carry
    sqrt_beta2 = beta2**0.5
    dlr = _step_size(inputs, d, k)
    numerator_acum = 0.0 + 1.0 * dlr * dot
    numerator = sqrt_beta2 * numerator + (1 - sqrt_beta2) * numerator_acum
    sk_l1 = 0.0 + 1.0 * s_norm
    if sk_l1 == 0:  # dadaptation returns before the parameters' update
        return False, (0.0,), carry
    d_hat = numerator / ((1 - sqrt_beta2) * sk_l1)
    d = max(d, min(d_hat, d * growth_rate))
    return decoupled, (-decay * dlr,), (d, numerator, k + 1)


RULE = Rule(
    name="dadapt_adam", class_name="DAdaptAdam", doc=DOC, hyperparameters=HYPERPARAMETERS,
    state=STATE, element=update, constants=constants, step_inputs=step_inputs,
    step_scalars=step_scalars, carry=(0.0, 0.0, 0.0),
    carry_names=("d", "numerator_weighted", "k"), state_invariants=STATE_INVARIANTS,
    reduction=Reduction(element=reduce, finish=finish),
)
