r"""Prodigy (Mishchenko & Defazio, 2024), as ``prodigyopt.Prodigy``: Adam with a learned scale."""

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

DOC = r"""Prodigy (Mishchenko & Defazio, 2024): parameter-free Adam, as ``prodigyopt.Prodigy``.

Adam whose step is scaled by :math:`d`, an estimate of the distance to the solution learned
from the gradients: it only grows, from ``d0``. ``lr`` multiplies it (keep 1.0). Each step,
with :math:`\eta_t = d_t\,\mathrm{lr}\,\rho_t` (:math:`\rho_t = \sqrt{1-\beta_2^{k+1}}/
(1-\beta_1^{k+1})` with ``use_bias_correction``, else 1):

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if not decouple}: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
   &r_t \leftarrow \beta_3 r_{t-1}
     + \tfrac{d_t}{d_0} \eta_t \langle g_t, \theta_0 - \theta_{t-1} \rangle \\
   &m_t \leftarrow \beta_1 m_{t-1} + d_t (1-\beta_1) g_t, \quad
    v_t \leftarrow \beta_2 v_{t-1} + d_t^2 (1-\beta_2) g_t^2 \\
   &s_t \leftarrow \beta_3 s_{t-1} + \tfrac{d_t}{d_0} \eta_t g_t
     \quad (\tfrac{d_t}{d_0} d_t g_t \text{ with safeguard\_warmup}) \\
   &\hat d \leftarrow d_{coef}\, r_t / \lVert s_t \rVert_1, \quad
     d_{t+1} \leftarrow \min(\max_{\tau \le t} \hat d_\tau \vee d_0,\; d_t \cdot
     \text{growth\_rate}) \\
   &\textbf{if decouple}: \; \theta \leftarrow \theta - \lambda \eta_t \theta; \quad
     \theta_t \leftarrow \theta - \eta_t \frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon}
   \end{aligned}

The inner product and :math:`\lVert s_t \rVert_1` are global sums over the vector, so a step
is two passes: the sums (with the moments' update), then the parameters'. They are summed in
float64, in blocks of a fixed length and a fixed order (serial and parallel loops agree
bitwise; PyTorch sums in the parameters' dtype, in its own order). When
:math:`\lVert s_t \rVert_1 = 0` (a zero gradient so far) the step ends before the parameters'
pass and ``k`` does not advance, as in ``prodigyopt``. With :math:`\beta_1 = 0` the update
uses :math:`d_{t+1} g_t` in place of :math:`m_t`.

State vectors: ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`), ``s`` and ``p0``
(:math:`\theta_0`, the starting point); carried scalars ``d``, ``d_max``, ``d_numerator``
(:math:`r`) and ``k`` (the steps taken). ``prodigyopt``'s ``slice_p`` and ``fsdp_in_use``
(memory and distribution options of PyTorch models) are not offered. The optimizer class and
every ``minimize`` loop and ``minimize_batch`` (both forms) run it, on the CPU and (the class
and ``minimize``) on the GPU; parameter groups step each group as a separate optimizer on its
elements (its own ``d``, from its own sums; ``prodigyopt`` shares one ``d`` across its groups).
"""


def _beta3(name, value):
    return None if value is None else check.unit_interval(name, value)


HYPERPARAMETERS = {
    "lr": Hyperparameter(1.0, check.positive_finite, "multiplies the learned step (keep 1.0)"),
    "betas": Hyperparameter((0.9, 0.999), check.betas,
                            "decay rates of the first and second moments"),
    "beta3": Hyperparameter(None, _beta3, "decay of the d estimate's sums (None: sqrt(beta2))",
                            annotation="float | None"),
    "eps": Hyperparameter(1e-8, check.epsilon, "added to the denominator (times d)"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "weight decay"),
    "decouple": Hyperparameter(True, check.flag, "decoupled (AdamW) weight decay, or L2"),
    "use_bias_correction": Hyperparameter(False, check.flag,
                                          "Adam's bias corrections in the step"),
    "safeguard_warmup": Hyperparameter(False, check.flag,
                                       "leave lr out of s (for runs with a warm-up)"),
    "d0": Hyperparameter(1e-6, check.positive_finite, "initial d estimate"),
    "d_coef": Hyperparameter(1.0, check.finite_real, "multiplies the d estimate"),
    "growth_rate": Hyperparameter(math.inf, check.positive, "largest growth factor of d a step"),
    "maximize": MAXIMIZE,
}

STATE = ("exp_avg", "exp_avg_sq", "s", "p0")

STATE_INVARIANTS = (nonnegative("exp_avg_sq"),)


@element
def _gradient(g, p, c):
    """The gradient the rule steps along, from the parameter's value ``p`` (a value, not the
    vector and an index: an array passed to a nested element kept its reference counting in
    the serial loops, an atomic operation per element)."""
    sign, l2 = c[0], c[1]
    g = g * sign
    if l2 != 0:
        g = g + l2 * p
    return g


@element
def reduce(i, g, param, exp_avg, exp_avg_sq, s_vector, p0, c, s):
    """The first pass: the moments and ``s`` updated; returns ``(g (p0 - p), |s|)``."""
    beta1, beta2, beta3 = c[2], c[3], c[4]
    m_coef, v_coef, s_coef = s
    p = param[i]
    g = _gradient(g, p, c)
    dot = g * (p0[i] - p)
    m = exp_avg[i]
    exp_avg[i] = m * beta1 + m_coef * g if c[6] else m  # beta1 > 0; stored either way (Reduction)
    exp_avg_sq[i] = exp_avg_sq[i] * beta2 + v_coef * g * g
    s_new = s_vector[i] * beta3 + s_coef * g
    s_vector[i] = s_new
    return dot, abs(s_new)


@element
def update(i, g, param, exp_avg, exp_avg_sq, s_vector, p0, c, s):
    """The second pass: the parameters, with the new ``d`` (in ``d eps``)."""
    d_eps, neg_decay_dlr, neg_dlr, neg_dlr_d = s
    denom = math.sqrt(exp_avg_sq[i]) + d_eps
    p = param[i]
    if c[5]:  # decoupled weight decay, nonzero
        p = p + neg_decay_dlr * p
    if c[6]:
        p = p + neg_dlr * (exp_avg[i] / denom)
    else:
        g = _gradient(g, param[i], c)  # param unchanged: the L2 and the decay exclude each other
        p = p + neg_dlr_d * (g / denom)
    param[i] = p


def constants(h, to_dtype):
    beta1, beta2 = h["betas"]
    beta3 = math.sqrt(beta2) if h["beta3"] is None else h["beta3"]
    decay = h["weight_decay"]
    return (to_dtype(-1 if h["maximize"] else 1),
            to_dtype(0 if h["decouple"] else decay),
            to_dtype(beta1), to_dtype(beta2), to_dtype(beta3),
            bool(decay != 0 and h["decouple"]), bool(beta1 > 0))


def step_inputs(h):
    beta1, beta2 = h["betas"]
    beta3 = math.sqrt(beta2) if h["beta3"] is None else h["beta3"]
    return (h["lr"], beta1, beta2, beta3, h["eps"], h["weight_decay"], h["d0"], h["d_coef"],
            h["growth_rate"], h["use_bias_correction"], h["safeguard_warmup"])


@register_jitable
def _step_size(inputs, d, k):
    """``dlr``: ``d lr`` times the bias correction of step ``k + 1``."""
    lr, beta1, beta2 = inputs[0], inputs[1], inputs[2]
    bias_correction = 1.0
    if inputs[9]:
        bias_correction = ((1 - beta2 ** (k + 1)) ** 0.5) / (1 - beta1 ** (k + 1))
    return d * lr * bias_correction


def step_scalars(inputs, carry, step):
    """The first pass's ``(d (1 - beta1), d^2 (1 - beta2), s's coefficient)``; the carry
    ``(d, d_max, d_numerator, k)`` starts at ``(d0, d0, 0, 0)`` at the first step."""
    beta1, beta2, d0 = inputs[1], inputs[2], inputs[6]
    d, d_max, numerator, k = carry
    if step == 1:
        d, d_max, numerator, k = d0, d0, 0.0, 0.0
    dlr = _step_size(inputs, d, k)
    s_coef = (d / d0) * d if inputs[10] else (d / d0) * dlr
    return (d * (1 - beta1), d * d * (1 - beta2), s_coef), (d, d_max, numerator, k)


def finish(inputs, carry, step, sums):
    """The new ``d`` from the sums ``(<g, p0 - p>, ||s||_1)``, and the update's scalars."""
    beta3, eps, decay, d0, d_coef, growth_rate = inputs[3:9]
    dot, s_norm = sums
    d, d_max, numerator, k = carry
    dlr = _step_size(inputs, d, k)
    delta = 0.0 + (d / d0) * dlr * dot
    denominator = 0.0 + s_norm
    if denominator == 0:  # prodigyopt returns before the parameters' pass
        return False, (0.0, 0.0, 0.0, 0.0), carry
    numerator = numerator * beta3 + delta
    d_hat = d_coef * numerator / denominator
    if d == d0:
        d = max(d, d_hat)
    d_max = max(d_max, d_hat)
    d = min(d_max, d * growth_rate)
    return True, (d * eps, -decay * dlr, -dlr, -dlr * d), (d, d_max, numerator, k + 1)


RULE = Rule(
    name="prodigy", class_name="Prodigy", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    carry=(0.0, 0.0, 0.0, 0.0), carry_names=("d", "d_max", "d_numerator", "k"),
    initial_state=lambda name, h: "params" if name == "p0" else 0.0,
    state_invariants=STATE_INVARIANTS,
    reduction=Reduction(element=reduce, finish=finish),
)
