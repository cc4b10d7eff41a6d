"""``multistart``: a global search by many local runs, one :func:`numadam.minimize_batch`
of starts drawn in a box with ``scipy.stats.qmc``."""

from __future__ import annotations

import numbers

import numpy as np
from scipy.optimize import Bounds, OptimizeResult

from numadam._batch import minimize_batch
from numadam._inputs import multistart_box

__all__ = ["multistart"]


def multistart(fun, bounds, n_starts, *, jac=None, args=(), method="adam", rng=None,
               options=None, sampler="lhs"):
    """Global search by many local runs: ``n_starts`` starts drawn in the box ``bounds`` with
    ``scipy.stats.qmc`` (Latin hypercube by default, ``sampler="sobol"`` or ``"halton"``), run as
    one :func:`minimize_batch` (``fun``/``jac`` in either of its forms, the box enforced), and
    the best finite result returned.

    Returns
    -------
    scipy.optimize.OptimizeResult
        The best problem's ``x``, ``fun``, ``jac``, ``nit``, ``status``, ``success``,
        ``message``, and ``batch``: the whole batch's result (``batch.x`` holds every run's end).
    """
    if isinstance(n_starts, bool) or not isinstance(n_starts, numbers.Integral) or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
    from scipy.stats import qmc  # imported here: scipy.stats alone adds 0.2 s to `import numadam`

    lower, upper = multistart_box(bounds)
    samplers = {"lhs": qmc.LatinHypercube, "sobol": qmc.Sobol, "halton": qmc.Halton}
    if sampler not in samplers:
        raise ValueError(f"sampler must be one of {list(samplers)}, got {sampler!r}")
    unit = samplers[sampler](d=lower.size, seed=np.random.default_rng(rng)).random(int(n_starts))
    starts = qmc.scale(unit, lower, upper)
    batch = minimize_batch(fun, starts, args=args, method=method, jac=jac,
                           bounds=Bounds(lower, upper), options=options)
    sign = -1.0 if (options or {}).get("maximize", False) else 1.0
    fun_values = np.where(np.isfinite(batch.fun), sign * batch.fun, np.inf)
    best = int(np.argmin(fun_values))
    return OptimizeResult(x=batch.x[best].copy(), fun=float(batch.fun[best]),
                          jac=batch.jac[best].copy(), nit=int(batch.nit[best]),
                          nfev=int(batch.nfev.sum()), status=int(batch.status[best]),
                          success=bool(batch.success[best]), message=batch.message[best],
                          batch=batch)
