"""Learning-rate schedules: callables ``schedule(k) -> lr`` of the iteration ``k = 0, 1, ...``.

Each factory takes the base learning rate first, as PyTorch's ``lr_scheduler`` classes take the
optimizer's. ``numadam.minimize`` accepts any callable of the iteration, or one of the names in
:data:`SCHEDULES` with its parameters in ``options["schedule_options"]``.
"""

from __future__ import annotations

import math
import numbers

from numadam import _validation as check


def constant(lr):
    """``lr`` at every iteration."""
    lr = check.learning_rate("lr", lr)
    return lambda k: lr


def step(lr, step_size=100, gamma=0.1):
    """``lr * gamma ** (k // step_size)``: decay by ``gamma`` every ``step_size`` iterations."""
    lr = check.learning_rate("lr", lr)
    step_size = _positive_integer("step_size", step_size)
    gamma = check.nonnegative("gamma", gamma)
    return lambda k: lr * gamma ** (k // step_size)


def exponential(lr, gamma=0.999):
    """``lr * gamma ** k``."""
    lr = check.learning_rate("lr", lr)
    gamma = check.nonnegative("gamma", gamma)
    return lambda k: lr * gamma**k


def cosine(lr, T_max=1000, eta_min=0.0):  # noqa: N803 - PyTorch's name
    """Cosine annealing from ``lr`` to ``eta_min`` over ``T_max`` iterations, then ``eta_min``."""
    lr = check.learning_rate("lr", lr)
    eta_min = check.learning_rate("eta_min", eta_min)
    T_max = _positive_integer("T_max", T_max)  # noqa: N806 - PyTorch's name
    return lambda k: eta_min + (lr - eta_min) * (1 + math.cos(math.pi * min(k, T_max) / T_max)) / 2


def warmup(lr, warmup_iters=100, start_factor=0.0):
    """Linear warm-up from ``start_factor * lr`` to ``lr`` over ``warmup_iters``, then ``lr``."""
    lr = check.learning_rate("lr", lr)
    warmup_iters = _positive_integer("warmup_iters", warmup_iters)
    start_factor = check.unit_interval("start_factor", start_factor)
    return lambda k: lr * (start_factor + (1 - start_factor) * min(k, warmup_iters) / warmup_iters)


def spsa(lr, A=0.0, alpha=0.602):  # noqa: N803 - Spall's name
    """Spall's step gain ``a_k = lr / (k + 1 + A) ** alpha`` (SPSA's ``a``, ``A``, ``alpha``;
    Spall, IEEE Trans. Aerosp. Electron. Syst. 34, 1998): the schedule of ``method="spsa"``,
    computed as ``noisyopt.minimizeSPSA`` computes it (its ``A`` is ``0.01 * niter``)."""
    lr = check.learning_rate("lr", lr)
    A = check.nonnegative("A", A)  # noqa: N806
    alpha = check.nonnegative("alpha", alpha)
    return lambda k: lr / (k + 1.0 + A) ** alpha


def _positive_integer(name, value):
    """An integer ``>= 1`` (a NumPy integer too; bool excluded), as an int, checked as the
    optimizers check theirs."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


#: Named schedules for ``minimize(options={"schedule": name, "schedule_options": {...}})``.
SCHEDULES = {
    "constant": constant,
    "step": step,
    "exponential": exponential,
    "cosine": cosine,
    "warmup": warmup,
    "spsa": spsa,
}
