r"""DoG, Distance over Gradients (Ivgi, Hinder & Carmon, 2023), as ``optax.contrib.dog``."""

from __future__ import annotations

import math

from numba.extending import register_jitable

from numadam import _validation as check
from numadam.rules._rule import MAXIMIZE, Hyperparameter, Reduction, Rule, element

DOC = r"""DoG, Distance over Gradients (Ivgi, Hinder & Carmon, 2023): parameter-free SGD, as
``optax.contrib.dog``.

The step size is the largest distance travelled from the start over the root of the sum of the
squared gradient norms so far:

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(x_t) \quad (-\nabla f \text{ if maximize}); \quad
     \textbf{if } \lambda \text{ is not None}: \; g_t \leftarrow g_t + \lambda x_t \\
   &\bar r_t \leftarrow \max(\bar r_{t-1}, \lVert x_t - x_0 \rVert), \quad
     G_t \leftarrow G_{t-1} + \lVert g_t \rVert^2, \quad
     \eta_t \leftarrow \frac{\bar r_t}{\sqrt{G_t + \epsilon}} \\
   &x_{t+1} \leftarrow x_t - \gamma\, (\eta_t g_t)
   \end{aligned}

``init_step`` sets :math:`\bar r_0`: ``("heuristic", a)``, :math:`a (1 + \lVert x_0 \rVert)`
(the default, with :math:`a = 10^{-6}`); ``("distance", r)``, :math:`r`;
``("learning_rate", \eta)``, :math:`\bar r_0 = 0` and a first step of size :math:`\eta`.
:math:`\gamma` is ``lr`` (optax's ``learning_rate``, keep 1.0).

The two norms are global sums over the vector, so a step is two passes: the sums, then the
update. They are summed in float64 (also for float32 parameters, where optax keeps its scalars
in float32), in blocks of a fixed length and a fixed order (serial and parallel loops agree
bitwise). :math:`\lVert x_0 \rVert` is summed at the first step, from the starting point
``p0`` (the parameters when the optimizer was made), where the distance is 0.

State vector: ``p0`` (:math:`x_0`); carried scalars ``max_dist`` (:math:`\bar r`) and
``sum_sq_norm_grads`` (:math:`G`). optax's ``mask`` is not offered. The optimizer class and
every ``minimize`` loop and ``minimize_batch`` (both forms) run it, on the CPU and (the class
and ``minimize``) on the GPU; parameter groups step each group as a separate optimizer on its
elements (its own distance and gradient sums).
"""

#: init_step's kinds, as the codes the per-step scalars read
_KINDS = {"distance": 0.0, "learning_rate": 1.0, "heuristic": 2.0}


def _init_step(name, value):
    try:
        kind, amount = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (kind, value), kind one of {sorted(_KINDS)}, "
                        f"got {value!r}") from None
    if kind not in _KINDS:
        raise ValueError(f"Invalid {name} kind {kind!r}: one of {sorted(_KINDS)}")
    return (kind, check.nonnegative(name, amount))


def _weight_decay(name, value):
    return None if value is None else check.weight_decay(name, value)


def _eps(name, value):
    value = check.epsilon(name, value)
    if value == 0:  # sqrt(G + eps) would be 0 before the first nonzero gradient
        raise ValueError(f"Invalid epsilon value: {value} (it must be positive)")
    return value


HYPERPARAMETERS = {
    "lr": Hyperparameter(1.0, check.learning_rate,
                         "multiplies the learned step (optax's learning_rate; keep 1.0)"),
    "init_step": Hyperparameter(("heuristic", 1e-6), _init_step,
                                "the initial distance: ('heuristic' | 'distance' | "
                                "'learning_rate', value)", annotation="tuple[str, float]"),
    "eps": Hyperparameter(1e-8, _eps, "added to the sum of squared gradient norms"),
    "weight_decay": Hyperparameter(None, _weight_decay,
                                   "adds weight_decay * x to the gradient (None: nothing)",
                                   annotation="float | None"),
    "maximize": MAXIMIZE,
}

STATE = ("p0",)


@element
def _gradient(g, p, c):
    """The gradient the rule steps along, from the parameter's value ``p`` (as Prodigy's)."""
    sign, weight_decay, decayed = c
    g = g * sign
    if decayed:
        g = g + weight_decay * p
    return g


@element
def reduce(i, g, param, p0, unused1, unused2, unused3, c, s):
    """``((x0 - x)^2, g^2)``, or ``(x^2, g^2)`` at the first step (for the heuristic)."""
    p = param[i]
    g = _gradient(g, p, c)
    if s[0]:  # the first step
        return p * p, g * g
    difference = p0[i] - p
    return difference * difference, g * g


@element
def update(i, g, param, p0, unused1, unused2, unused3, c, s):
    neg_lr, eta = s
    p = param[i]
    param[i] = p + neg_lr * (eta * _gradient(g, p, c))


def constants(h, to_dtype):
    decay = h["weight_decay"]
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(0.0 if decay is None else decay),
            decay is not None)


def step_inputs(h):
    kind, amount = h["init_step"]
    return (h["lr"], _KINDS[kind], amount, h["eps"])


def step_scalars(inputs, carry, step):
    """The first pass's flag: the first step sums ``x^2`` in place of ``(x0 - x)^2``."""
    return (step == 1,), carry


@register_jitable
def _maximum(a, b):
    """``jnp.maximum``: the larger, NaN if either is."""
    return a if a > b or a != a else b


def finish(inputs, carry, step, sums):
    """``eta`` from the sums ``(||x0 - x||^2 or ||x0||^2, ||g||^2)``; the new carry."""
    lr, kind, amount, eps = inputs
    max_dist, sum_sq = carry
    distance = math.sqrt(sums[0])
    if step == 1:
        max_dist = 0.0  # "learning_rate"
        if kind == 0.0:
            max_dist = amount
        elif kind == 2.0:
            max_dist = amount * (1 + distance)
        distance = 0.0  # the iterate is the starting point
    max_dist = _maximum(max_dist, distance)
    sum_sq = sum_sq + sums[1]
    eta = max_dist / math.sqrt(sum_sq + eps)
    if step == 1 and kind == 1.0:
        eta = amount
    return True, (-lr, eta), (max_dist, sum_sq)


RULE = Rule(
    name="dog", class_name="DoG", doc=DOC, hyperparameters=HYPERPARAMETERS, state=STATE,
    element=update, constants=constants, step_inputs=step_inputs, step_scalars=step_scalars,
    carry=(0.0, 0.0), carry_names=("max_dist", "sum_sq_norm_grads"),
    initial_state=lambda name, h: "params",
    reduction=Reduction(element=reduce, finish=finish),
)
