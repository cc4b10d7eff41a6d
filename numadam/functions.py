r"""Test functions with analytic gradients, known minima and plotting boxes.

Every value and gradient is an ``@njit`` function of a 1-D float array, so it can be called from
Python and from jitted code alike (``numadam.minimize`` then runs its compiled loop on it).
``rosen`` / ``rosen_der`` have the names and formula of ``scipy.optimize.rosen`` /
``rosen_der``. :data:`PROBLEMS` holds a :class:`Problem` record for each, as SciPy's global
optimization benchmarks do (``fglob``, ``global_optimum``).

- Rosenbrock (n-D): sum of 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2; minimum 0 at (1, ..., 1).
- Beale: (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2; minimum 0 at (3, 0.5).
- Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2; four minima of value 0.
- Booth: (x + 2y - 7)^2 + (2x + y - 5)^2; minimum 0 at (1, 3).
- Rastrigin (n-D): 10 n + sum of x_i^2 - 10 cos(2 pi x_i); minimum 0 at 0, local minima around.
- Ackley (n-D): -20 exp(-0.2 rms(x)) - exp(mean(cos 2 pi x)) + 20 + e; minimum 0 at 0.
- Styblinski-Tang (n-D): sum of (x_i^4 - 16 x_i^2 + 5 x_i) / 2; minimum -39.166 n at -2.9035.
- Ill-conditioned quadratic: 0.5 sum of d_i x_i^2, d log-spaced from 1 to the condition number.

References: Rosenbrock (1960); Beale (1958); Himmelblau (1972); Rastrigin (1974); Ackley
(1987); Styblinski & Tang (1990); see also Jamil & Yang, "A literature survey of benchmark
functions for global optimization problems" (2013).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

_jit = njit(cache=True)


@_jit
def rosen(x):
    """Rosenbrock: ``sum(100 (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)``, as SciPy's."""
    total = 0.0
    for i in range(x.shape[0] - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


@_jit
def rosen_der(x):
    """Gradient of :func:`rosen`."""
    n = x.shape[0]
    g = np.zeros(n)
    for i in range(n - 1):
        t = x[i + 1] - x[i] ** 2
        g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * t
    return g


@_jit
def beale(x):
    """Beale's function of two variables."""
    a, b = x[0], x[1]
    return ((1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2
            + (2.625 - a + a * b**3) ** 2)


@_jit
def beale_der(x):
    a, b = x[0], x[1]
    t1, t2, t3 = 1.5 - a + a * b, 2.25 - a + a * b**2, 2.625 - a + a * b**3
    g = np.empty(2)
    g[0] = 2 * t1 * (b - 1) + 2 * t2 * (b**2 - 1) + 2 * t3 * (b**3 - 1)
    g[1] = 2 * t1 * a + 2 * t2 * 2 * a * b + 2 * t3 * 3 * a * b**2
    return g


@_jit
def himmelblau(x):
    """Himmelblau's function: four minima of value 0."""
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


@_jit
def himmelblau_der(x):
    t1, t2 = x[0] ** 2 + x[1] - 11, x[0] + x[1] ** 2 - 7
    g = np.empty(2)
    g[0] = 4 * x[0] * t1 + 2 * t2
    g[1] = 2 * t1 + 4 * x[1] * t2
    return g


@_jit
def booth(x):
    """Booth's function: a convex quadratic with minimum 0 at (1, 3)."""
    return (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2


@_jit
def booth_der(x):
    t1, t2 = x[0] + 2 * x[1] - 7, 2 * x[0] + x[1] - 5
    g = np.empty(2)
    g[0] = 2 * t1 + 4 * t2
    g[1] = 4 * t1 + 2 * t2
    return g


@_jit
def rastrigin(x):
    """Rastrigin's function: a lattice of local minima around the global one at 0."""
    total = 10.0 * x.shape[0]
    for value in x:
        total += value**2 - 10.0 * math.cos(2 * math.pi * value)
    return total


@_jit
def rastrigin_der(x):
    g = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        g[i] = 2 * x[i] + 20 * math.pi * math.sin(2 * math.pi * x[i])
    return g


@_jit
def ackley(x):
    """Ackley's function: nearly flat far out, one deep funnel at 0."""
    n = x.shape[0]
    squares, cosines = 0.0, 0.0
    for value in x:
        squares += value**2
        cosines += math.cos(2 * math.pi * value)
    return (-20 * math.exp(-0.2 * math.sqrt(squares / n)) - math.exp(cosines / n)
            + 20 + math.e)


@_jit
def ackley_der(x):
    n = x.shape[0]
    squares, cosines = 0.0, 0.0
    for value in x:
        squares += value**2
        cosines += math.cos(2 * math.pi * value)
    root = math.sqrt(squares / n)
    g = np.empty(n)
    for i in range(n):
        radial = 0.0 if root == 0 else 4 * math.exp(-0.2 * root) * x[i] / (n * root)
        g[i] = radial + math.exp(cosines / n) * 2 * math.pi * math.sin(2 * math.pi * x[i]) / n
    return g


@_jit
def styblinski_tang(x):
    """Styblinski-Tang: minimum -39.16617 n at x_i = -2.903534."""
    total = 0.0
    for value in x:
        total += value**4 - 16 * value**2 + 5 * value
    return total / 2


@_jit
def styblinski_tang_der(x):
    g = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        g[i] = (4 * x[i] ** 3 - 32 * x[i] + 5) / 2
    return g


def ill_conditioned_quadratic(n=10, condition_number=1e4):
    """A diagonal quadratic ``0.5 * sum(d * x**2)``, ``d`` log-spaced from 1 to the condition
    number: the valley that momentum and per-coordinate scaling are meant for.

    Returns
    -------
    fun, jac : jitted callables of ``x``
    """
    diagonal = np.logspace(0, np.log10(condition_number), n)

    @njit
    def fun(x):
        total = 0.0
        for i in range(x.shape[0]):
            total += 0.5 * diagonal[i] * x[i] ** 2
        return total

    @njit
    def jac(x):
        return diagonal * x

    return fun, jac


# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A test function with what is known about it.

    Attributes
    ----------
    name : str
    fun, jac : callable
        Value and gradient of a 1-D float array (jitted).
    x0 : ndarray
        The customary start.
    minima : list of ndarray
        The global minimisers.
    fmin : float
        The minimum value.
    box : ((float, float), (float, float))
        A plotting window ``((xmin, xmax), (ymin, ymax))`` for 2-D versions.
    """

    name: str
    fun: callable
    jac: callable
    x0: np.ndarray
    minima: list = field(default_factory=list)
    fmin: float = 0.0
    box: tuple = ((-2.0, 2.0), (-2.0, 2.0))

    @property
    def dim(self):
        return self.x0.shape[0]

    def success(self, x, tol=1e-4):
        """Whether ``x`` is within ``tol`` (max-norm) of one of the minimisers."""
        return any(np.abs(np.asarray(x) - m).max() <= tol for m in self.minima)


def get_problem(name, n=2):
    """The :class:`Problem` called ``name`` in ``n`` dimensions (fixed-size ones ignore ``n``)."""
    ones = np.ones(n)
    if name == "rosenbrock":
        x0 = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
        return Problem(name, rosen, rosen_der, x0, [ones], 0.0, ((-2.0, 2.0), (-1.0, 3.0)))
    if name == "beale":
        return Problem(name, beale, beale_der, np.array([1.0, 1.0]), [np.array([3.0, 0.5])],
                       0.0, ((-4.5, 4.5), (-4.5, 4.5)))
    if name == "himmelblau":
        minima = [np.array(m) for m in (
            (3.0, 2.0), (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.283185991286170), (3.584428340330492, -1.848126526964404))]
        return Problem(name, himmelblau, himmelblau_der, np.array([0.0, 0.0]), minima, 0.0,
                       ((-5.0, 5.0), (-5.0, 5.0)))
    if name == "booth":
        return Problem(name, booth, booth_der, np.array([-5.0, -5.0]), [np.array([1.0, 3.0])],
                       0.0, ((-10.0, 10.0), (-10.0, 10.0)))
    if name == "rastrigin":
        return Problem(name, rastrigin, rastrigin_der, np.full(n, 2.5), [np.zeros(n)], 0.0,
                       ((-5.12, 5.12), (-5.12, 5.12)))
    if name == "ackley":
        return Problem(name, ackley, ackley_der, np.full(n, 2.5), [np.zeros(n)], 0.0,
                       ((-5.0, 5.0), (-5.0, 5.0)))
    if name == "styblinski_tang":
        return Problem(name, styblinski_tang, styblinski_tang_der, np.zeros(n),
                       [np.full(n, -2.903534027771)], -39.16616570377142 * n,
                       ((-5.0, 5.0), (-5.0, 5.0)))
    if name == "quadratic":
        fun, jac = ill_conditioned_quadratic(n)
        return Problem(name, fun, jac, np.ones(n), [np.zeros(n)], 0.0)
    raise ValueError(f"Unknown problem {name!r}; choose from {PROBLEMS}")


#: Names accepted by :func:`get_problem`.
PROBLEMS = ("rosenbrock", "beale", "himmelblau", "booth", "rastrigin", "ackley",
            "styblinski_tang", "quadratic")
