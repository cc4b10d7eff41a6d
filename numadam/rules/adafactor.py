r"""Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor`` on a vector (unfactored)."""

from __future__ import annotations

import math

import numpy as np

from numadam import _validation as check
from numadam.rules._rule import (
    MAXIMIZE,
    Hyperparameter,
    Reduction,
    Rule,
    element,
    lerp,
    maximum,
    nonnegative,
)

DOC = r"""Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor`` for a 1-D parameter:
its unfactored form.

A second moment with a decay that tends to 1, a step relative to the parameters' scale and an
update clipped by its root mean square. Each step :math:`t`, over the :math:`n` elements:

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \hat\beta_{2,t} \leftarrow 1 - t^{c}, \quad
     \rho_t \leftarrow \min(\mathrm{lr}, 1/\sqrt{t}) \\
   &\alpha_t \leftarrow \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\, \rho_t, \quad
     \theta \leftarrow \theta_{t-1} (1 - \mathrm{lr}\,\lambda) \\
   &v_t \leftarrow \operatorname{lerp}(v_{t-1}, g_t^2, 1 - \hat\beta_{2,t}), \quad
     u_t \leftarrow \frac{g_t}{\sqrt{\max(v_t, \epsilon_1^2)}} \\
   &\theta_t \leftarrow \theta - \frac{\alpha_t}{\max(1, \mathrm{RMS}(u_t) / d)}\, u_t
   \end{aligned}

with :math:`\mathrm{RMS}(x) = \lVert x \rVert_2 / \sqrt n`, :math:`c` = ``beta2_decay``,
``eps = (eps1, eps2)`` (``eps1=None``: the dtype's machine epsilon) and :math:`\lambda` =
``weight_decay``. PyTorch factors the second moment of a parameter of two or more dimensions
into row and column means; numadam's parameters are one flat vector, which PyTorch does not
factor, so this is Adafactor's unfactored form (one ``variance`` per element).

The two root mean squares are global sums over the vector, so a step is two passes: the
variance and the sums, then the parameters. They are summed in float64 (also for float32
parameters, where PyTorch takes its norms in float32), in blocks of a fixed length and a fixed
order (serial and parallel loops agree bitwise), each term divided by :math:`n` (the sums are
the mean squares).

State vector: ``variance`` (:math:`v`). The optimizer class and every ``minimize`` loop and
``minimize_batch`` (both forms) run it, on the CPU and (the class and ``minimize``) on the GPU;
parameter groups step each group as a separate optimizer on its elements (its own root mean
squares: PyTorch takes them per tensor, so a group per tensor matches it).
"""


def _beta2_decay(name, value):
    value = check.real_scalar(name, value)
    if not value <= 0.0:  # so that NaN fails too
        raise ValueError(f"{name} should be <= 0 but is: {value}")
    return value


def _eps(name, value):
    """``(eps1, eps2)``: eps1 ``None`` (the dtype's epsilon) or ``>= 0``, eps2 ``>= 0``."""
    try:
        eps1, eps2 = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (eps1 or None, eps2), got {value!r}") from None
    if eps1 is not None:
        eps1 = check.nonnegative(name, eps1, "epsilon1 value")
    return (eps1, check.nonnegative(name, eps2, "epsilon2 value"))


def _d(name, value):
    value = check.real_scalar(name, value)
    if not 1.0 <= value < math.inf:
        raise ValueError(f"Clipping threshold {name} should be >= 1 but is: {value}")
    return value


HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-2, check.learning_rate,
                         "caps the relative step size min(lr, 1/sqrt(t))"),
    "beta2_decay": Hyperparameter(-0.8, _beta2_decay,
                                  "the second moment's weight of g^2 at step t is t**beta2_decay"),
    "eps": Hyperparameter((None, 1e-3), _eps,
                          "(eps1, eps2): floors of sqrt(variance) (None: machine epsilon) "
                          "and of the parameters' RMS", annotation="tuple[float | None, float]"),
    "d": Hyperparameter(1.0, _d, "clipping threshold of the update's RMS"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "decoupled weight decay (times lr)"),
    "maximize": MAXIMIZE,
}

STATE = ("variance",)

STATE_INVARIANTS = (nonnegative("variance"),)


@element
def _direction(g, v, c):
    """PyTorch's ``rsqrt(clamp(v, min=eps1^2)) * g``: the reciprocal root first, as it does."""
    return (c[1] / math.sqrt(maximum(v, c[2]))) * g


@element
def reduce(i, g, param, variance, unused1, unused2, unused3, c, s):
    """The first pass: the variance updated; returns ``(param^2 / n, u^2 / n)``, ``param``
    before the weight decay.

    The terms are scaled by ``1 / n`` here because ``finish`` does not know the vector's
    length: a product by the float64 ``1 / n`` (a float64 term, the dtype the loop sums in
    anyway), which LLVM hoists out of the loop, where a division per term cost more than the
    rest of the pass.
    """
    weight = s[0]
    g = g * c[0]
    v = lerp(variance[i], g * g, weight, c[1] - weight)
    variance[i] = v
    u = _direction(g, v, c)
    p = param[i]
    scale = np.float64(1.0) / param.shape[0]  # float64 under the CUDA simulator too
    return (p * p) * scale, (u * u) * scale


@element
def update(i, g, param, variance, unused1, unused2, unused3, c, s):
    """The second pass: the decayed parameters minus the clipped, scaled update."""
    decay, neg_step = s
    g = g * c[0]
    p = param[i]
    if c[3]:  # weight decay
        p = p * decay
    param[i] = p + neg_step * _direction(g, variance[i], c)


def constants(h, to_dtype):
    eps1 = h["eps"][0]
    if eps1 is None:
        eps1 = float(np.finfo(to_dtype).eps)
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(1), to_dtype(eps1 * eps1),
            h["weight_decay"] != 0)


def step_inputs(h):
    return (h["lr"], h["beta2_decay"], h["eps"][1], h["d"], h["weight_decay"])


def step_scalars(inputs, carry, step):
    """The first pass's lerp weight ``1 - beta2_t = step ** beta2_decay``."""
    return (float(step) ** inputs[1],), carry


def finish(inputs, carry, step, sums):
    """The update pass's ``(1 - lr weight_decay, -alpha / denom)`` from the mean squares
    ``(mean(param^2), mean(u^2))``, with Python's ``min`` and ``max`` as PyTorch's."""
    lr, _, eps2, d, weight_decay = inputs
    rho = min(lr, 1 / (float(step) ** 0.5))
    alpha = max(eps2, math.sqrt(sums[0])) * rho
    denom = max(1.0, math.sqrt(sums[1]) / d)
    return True, (1 - lr * weight_decay, -alpha / denom), carry


RULE = Rule(
    name="adafactor", class_name="Adafactor", doc=DOC, hyperparameters=HYPERPARAMETERS,
    state=STATE, element=update, constants=constants, step_inputs=step_inputs,
    step_scalars=step_scalars, state_invariants=STATE_INVARIANTS,
    reduction=Reduction(element=reduce, finish=finish),
)
