r"""Resilient backpropagation (Riedmiller & Braun, 1993), as ``torch.optim.Rprop``."""

from __future__ import annotations

from numadam import _validation as check
from numadam.rules._rule import (
    MAXIMIZE,
    Hyperparameter,
    Invariant,
    Rule,
    element,
    maximum,
    minimum,
)

DOC = r"""Resilient backpropagation (Riedmiller & Braun, 1993), as ``torch.optim.Rprop``.

Each element has its own step size, which grows while its gradient keeps its sign and shrinks
when the sign flips; only the sign of the gradient moves the parameter.

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
   &\eta_t \leftarrow \begin{cases} \eta_+ & g_t g^{\text{prev}}_{t-1} > 0 \\
     \eta_- & g_t g^{\text{prev}}_{t-1} < 0 \\ 1 & \text{otherwise} \end{cases}, \quad
     s_t \leftarrow \min(\max(\eta_t s_{t-1}, s_{\min}), s_{\max}) \\
   &\textbf{if } g_t g^{\text{prev}}_{t-1} < 0: \; g_t \leftarrow 0 \\
   &\theta_t \leftarrow \theta_{t-1} - \operatorname{sign}(g_t)\, s_t, \quad
     g^{\text{prev}}_t \leftarrow g_t
   \end{aligned}

State vectors: ``prev`` (:math:`g^{\text{prev}}`, zeros at first) and ``step_size``
(:math:`s`, set to ``lr`` at creation: changing ``lr`` later changes nothing, as in PyTorch).
``etas`` are :math:`(\eta_-, \eta_+)`, ``step_sizes`` :math:`(s_{\min}, s_{\max})`. As in
PyTorch, the sign of a NaN is 0, so a NaN gradient (with ``check_finite=False``) leaves its
parameter and its step size unchanged.
"""

HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-2, check.learning_rate, "initial step size of every element"),
    "etas": Hyperparameter((0.5, 1.2), check.etas,
                           "(etaminus, etaplus): step size factors on a sign flip and on none"),
    "step_sizes": Hyperparameter((1e-6, 50.0), check.step_sizes,
                                 "(min, max): the range of the step sizes"),
    "maximize": MAXIMIZE,
}

STATE = ("prev", "step_size")


def _step_sizes_in_range(state, h, step):
    """Every step clamps the step sizes into ``step_sizes``; before the first they are the
    creation ``lr`` (any non-negative value)."""
    step_min, step_max = h["step_sizes"]
    sizes = state["step_size"]
    if step == 0:
        return sizes >= 0
    return (sizes >= step_min) & (sizes <= step_max)


STATE_INVARIANTS = (
    Invariant("step_size", _step_sizes_in_range,
              "within step_sizes = (min, max) once a step was taken (every step clamps it "
              "there), and non-negative before"),
)


def initial_state(name, h):
    """PyTorch's ``torch.full_like(grad, lr)`` for the step sizes, zeros for ``prev``."""
    return h["lr"] if name == "step_size" else 0.0


@element
def update(i, g, param, prev, step_size, unused1, c, s):
    sign, etaminus, etaplus, step_min, step_max, zero, one, neg_one, neg_zero = c
    g = g * sign
    product = g * prev[i]
    # torch: sign = product.sign() (0 for a zero or NaN product), then sign[sign > 0] = etaplus,
    # sign[sign < 0] = etaminus, sign[sign == 0] = 1, in that order
    factor = zero
    if product > 0:
        factor = etaplus
    elif product < 0:
        factor = etaminus
    if factor == 0:
        factor = one
    step = minimum(maximum(step_size[i] * factor, step_min), step_max)  # torch's clamp_
    step_size[i] = step
    if factor == etaminus:  # a sign flip: this step ignores the gradient
        g = zero
    prev[i] = g
    # param.addcmul_(grad.sign(), step_size, value=-1): param + (-1 * sign(g)) * step
    direction = neg_zero
    if g > 0:
        direction = neg_one
    elif g < 0:
        direction = one
    param[i] = param[i] + direction * step


def constants(h, to_dtype):
    etaminus, etaplus = h["etas"]
    step_min, step_max = h["step_sizes"]
    return (
        to_dtype(-1 if h["maximize"] else 1), to_dtype(etaminus), to_dtype(etaplus),
        to_dtype(step_min), to_dtype(step_max),
        to_dtype(0), to_dtype(1), to_dtype(-1), to_dtype(-0.0),
    )


def step_scalars(inputs, carry, step):
    return (), carry


RULE = Rule(
    name="rprop", class_name="Rprop", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_scalars=step_scalars, initial_state=initial_state,
    state_invariants=STATE_INVARIANTS,
)
