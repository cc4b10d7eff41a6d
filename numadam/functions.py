r"""Deterministic test functions with analytic gradients, for plain NumPy and for Numba.

The definitions, minima and customary starts follow the surveys [1]_ and [2]_.

Every value and gradient here is a ``numba.njit(cache=True)`` function of one 1-D float array:
call it from Python like any NumPy function, or from inside your own ``@njit`` code, and pass
it to :func:`numadam.minimize`, which then runs its whole loop in nopython mode::

    >>> import numpy as np, numadam
    >>> from numadam.functions import rosen, rosen_der
    >>> res = numadam.minimize(rosen, np.array([-1.2, 1.0]), jac=rosen_der, method="adam",
    ...                        options={"lr": 1e-2, "maxiter": 20000})

Conventions
-----------
* Input: a 1-D ``float64`` or ``float32`` array (integer arrays are accepted and treated as
  ``float64``); a list or tuple of numbers is taken as an array. Anything else (a matrix, a
  scalar) raises ``ValueError``.
* Value: a Python ``float`` (accumulated in double precision, whatever the input dtype).
* Gradient: a new 1-D array of the input's float dtype (``float32`` stays ``float32``).
* Two-dimensional functions (Beale, Himmelblau, Booth) raise ``ValueError`` for other sizes.

Each function also has a :class:`Problem` record -- start ``x0``, global minimisers, ``fmin``,
a plotting box -- built by :func:`get_problem` from the registry :data:`PROBLEMS`::

    >>> p = get_problem("rosenbrock", n=2)
    >>> p.fun(p.minima[0]) == p.fmin
    True

References
----------
.. [1] M. Jamil and X.-S. Yang, "A literature survey of benchmark functions for global
   optimization problems", Int. J. Math. Model. Numer. Optim. 4(2), 150-194 (2013).
.. [2] S. Surjanovic and D. Bingham, "Virtual Library of Simulation Experiments: Test
   Functions and Datasets", https://www.sfu.ca/~ssurjano/optimization.html
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit, types
from numba.extending import overload

__all__ = [
    "rosen", "rosen_der", "beale", "beale_der", "himmelblau", "himmelblau_der", "booth",
    "booth_der", "rastrigin", "rastrigin_der", "ackley", "ackley_der", "styblinski_tang",
    "styblinski_tang_der", "diagonal_quadratic", "diagonal_quadratic_der", "make_quadratic",
    "ill_conditioned_quadratic",
    "Problem", "PROBLEMS", "get_problem",
]

TWO_PI = 2.0 * math.pi


# ------------------------------------------------------------------------------------------------
# Helpers usable in nopython mode
# ------------------------------------------------------------------------------------------------


def _empty_gradient(x):
    """A new uninitialised 1-D array like ``x``: its float dtype, ``float64`` for integers."""
    raise NotImplementedError("only callable from jitted code")  # pragma: no cover


@overload(_empty_gradient, jit_options={"cache": True})
def _empty_gradient_overload(x):
    if isinstance(x.dtype, types.Float):
        return lambda x: np.empty(x.shape[0], x.dtype)
    return lambda x: np.empty(x.shape[0], np.float64)


def _as_real(value):
    """``value`` as a float: an integer entry becomes a float64 (products of int64 entries
    overflow), a float one is left as it is (float32 stays float32)."""
    raise NotImplementedError("only callable from jitted code")  # pragma: no cover


@overload(_as_real, jit_options={"cache": True})
def _as_real_overload(value):
    if isinstance(value, types.Integer):
        return lambda value: float(value)
    return lambda value: value


def _vector(x):
    """``x`` as the 1-D array the functions compute on: a 1-D array as it is, a list or tuple
    of numbers as an array (as SciPy's ``rosen`` takes them); anything else raises a
    ``ValueError`` (Numba's ``TypingError`` otherwise, deep in the function's body)."""
    raise NotImplementedError("only callable from jitted code")  # pragma: no cover


@njit(cache=True)
def _refuse(message):
    raise ValueError(message)


@overload(_vector, jit_options={"cache": True})
def _vector_overload(x):
    if isinstance(x, types.Array) and x.ndim == 1:
        return lambda x: x
    if isinstance(x, (types.List, types.UniTuple)) and isinstance(x.dtype, types.Number):
        return lambda x: np.asarray(x)
    what = f"a {x.ndim}-D array" if isinstance(x, types.Array) else str(x)
    message = f"x must be a 1-D array (a vector), got {what}"

    def refuse(x):
        _refuse(message)
        return np.empty(0)  # never reached: gives the body an array to type

    return refuse


@njit(cache=True)
def _check_2d(x):
    if x.shape[0] != 2:  # x is a vector (_vector)
        raise ValueError("this test function is defined for 2-D x only (a vector of 2)")


@njit(cache=True)
def _check_same_length(x, d):
    if d.shape[0] != x.shape[0]:
        raise ValueError("x and the quadratic's coefficients must have the same length")


# ------------------------------------------------------------------------------------------------
# Rosenbrock (SciPy's names and formulas)
# ------------------------------------------------------------------------------------------------


@njit(cache=True)
def rosen(x):
    r"""The Rosenbrock function, as :func:`scipy.optimize.rosen`.

    .. math::

        f(x) = \sum_{i=1}^{n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2

    Parameters
    ----------
    x : array_like, shape (n,)
        The point; ``n >= 1`` (for ``n == 1`` the sum is empty and ``f = 0``).

    Returns
    -------
    float
        The value at ``x``.

    Notes
    -----
    Global minimum ``f = 0`` at ``x = (1, ..., 1)``. For ``4 <= n <= 7`` there is also a local
    minimum near ``(-1, 1, ..., 1)``. The classic start is ``(-1.2, 1)``.

    See Also
    --------
    rosen_der, scipy.optimize.rosen

    References
    ----------
    .. [1] H. H. Rosenbrock, "An automatic method for finding the greatest or least value of a
       function", The Computer Journal 3(3), 175-184 (1960).
    """
    x = _vector(x)
    total = 0.0
    for i in range(x.shape[0] - 1):
        a = x[i + 1] - x[i] ** 2.0
        b = 1 - x[i]
        total += 100.0 * a**2.0 + b**2.0
    return total


@njit(cache=True)
def rosen_der(x):
    r"""The gradient of the Rosenbrock function, as :func:`scipy.optimize.rosen_der`.

    .. math::

        \partial_j f = 200 (x_j - x_{j-1}^2) - 400 x_j (x_{j+1} - x_j^2) - 2 (1 - x_j)

    with the first term absent for ``j = 1`` and the last two for ``j = n``.

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    ndarray, shape (n,)
        The gradient, of ``x``'s float dtype (zeros for ``n == 1``).

    See Also
    --------
    rosen, scipy.optimize.rosen_der
    """
    x = _vector(x)
    n = x.shape[0]
    der = _empty_gradient(x)
    if n == 1:
        der[0] = 0.0
        return der
    # Element by element, the expressions of scipy.optimize.rosen_der in its order.
    der[0] = -400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0])
    for j in range(1, n - 1):
        der[j] = (200 * (x[j] - x[j - 1] ** 2) - 400 * (x[j + 1] - x[j] ** 2) * x[j]
                  - 2 * (1 - x[j]))
    der[n - 1] = 200 * (x[n - 1] - x[n - 2] ** 2)
    return der


# ------------------------------------------------------------------------------------------------
# Two-dimensional functions
# ------------------------------------------------------------------------------------------------


@njit(cache=True)
def beale(x):
    r"""The Beale function (2-D).

    .. math::

        f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2

    Global minimum ``f = 0`` at ``(3, 0.5)``; usual domain ``[-4.5, 4.5]^2``. Flat plateaus
    and sharp ridges near the corners.

    Parameters
    ----------
    x : array_like, shape (2,)

    Returns
    -------
    float

    References
    ----------
    .. [1] E. M. L. Beale, "On an iterative method for finding a local minimum of a function of
       more than one variable", Tech. Rep. 25, Princeton University (1958). See also [1]_ of
       :mod:`numadam.functions`, function 10.
    """
    x = _vector(x)
    _check_2d(x)
    u, v = _as_real(x[0]), _as_real(x[1])
    t1 = 1.5 - u + u * v
    t2 = 2.25 - u + u * v * v
    t3 = 2.625 - u + u * v * v * v
    return t1 * t1 + t2 * t2 + t3 * t3


@njit(cache=True)
def beale_der(x):
    r"""The gradient of :func:`beale`.

    With :math:`t_k = c_k - x + x y^k` (:math:`c = 1.5, 2.25, 2.625`):
    :math:`\partial_x f = \sum_k 2 t_k (y^k - 1)`, :math:`\partial_y f = \sum_k 2 t_k k x y^{k-1}`.

    Parameters
    ----------
    x : array_like, shape (2,)

    Returns
    -------
    ndarray, shape (2,)
    """
    x = _vector(x)
    _check_2d(x)
    u, v = _as_real(x[0]), _as_real(x[1])
    t1 = 1.5 - u + u * v
    t2 = 2.25 - u + u * v * v
    t3 = 2.625 - u + u * v * v * v
    der = _empty_gradient(x)
    der[0] = 2.0 * (t1 * (v - 1.0) + t2 * (v * v - 1.0) + t3 * (v * v * v - 1.0))
    der[1] = 2.0 * u * (t1 + 2.0 * t2 * v + 3.0 * t3 * v * v)
    return der


@njit(cache=True)
def himmelblau(x):
    r"""Himmelblau's function (2-D).

    .. math::

        f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2

    Four global minima, all with ``f = 0``: ``(3, 2)``, ``(-2.805118..., 3.131312...)``,
    ``(-3.779310..., -3.283186...)``, ``(3.584428..., -1.848126...)``; local maximum
    ``f = 181.617`` at ``(-0.270845, -0.923039)``. Usual domain ``[-5, 5]^2``.

    Parameters
    ----------
    x : array_like, shape (2,)

    Returns
    -------
    float

    References
    ----------
    .. [1] D. M. Himmelblau, "Applied Nonlinear Programming", McGraw-Hill (1972).
    """
    x = _vector(x)
    _check_2d(x)
    a = x[0] * x[0] + x[1] - 11.0
    b = x[0] + x[1] * x[1] - 7.0
    return a * a + b * b


@njit(cache=True)
def himmelblau_der(x):
    r"""The gradient of :func:`himmelblau`.

    With :math:`a = x^2 + y - 11`, :math:`b = x + y^2 - 7`:
    :math:`\nabla f = (4 x a + 2 b,\; 2 a + 4 y b)`.

    Parameters
    ----------
    x : array_like, shape (2,)

    Returns
    -------
    ndarray, shape (2,)
    """
    x = _vector(x)
    _check_2d(x)
    a = x[0] * x[0] + x[1] - 11.0
    b = x[0] + x[1] * x[1] - 7.0
    der = _empty_gradient(x)
    der[0] = 4.0 * x[0] * a + 2.0 * b
    der[1] = 2.0 * a + 4.0 * x[1] * b
    return der


@njit(cache=True)
def booth(x):
    r"""The Booth function (2-D), a convex quadratic.

    .. math::

        f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2

    Global minimum ``f = 0`` at ``(1, 3)``; usual domain ``[-10, 10]^2``. Its Hessian
    ``[[10, 8], [8, 10]]`` has condition number 9.

    Parameters
    ----------
    x : array_like, shape (2,)

    Returns
    -------
    float

    References
    ----------
    .. [1] [1]_ of :mod:`numadam.functions`, function 22.
    """
    x = _vector(x)
    _check_2d(x)
    a = x[0] + 2.0 * x[1] - 7.0
    b = 2.0 * x[0] + x[1] - 5.0
    return a * a + b * b


@njit(cache=True)
def booth_der(x):
    r"""The gradient of :func:`booth`: :math:`(2a + 4b,\; 4a + 2b)` with
    :math:`a = x + 2y - 7`, :math:`b = 2x + y - 5`.

    Parameters
    ----------
    x : array_like, shape (2,)

    Returns
    -------
    ndarray, shape (2,)
    """
    x = _vector(x)
    _check_2d(x)
    a = x[0] + 2.0 * x[1] - 7.0
    b = 2.0 * x[0] + x[1] - 5.0
    der = _empty_gradient(x)
    der[0] = 2.0 * a + 4.0 * b
    der[1] = 4.0 * a + 2.0 * b
    return der


# ------------------------------------------------------------------------------------------------
# n-dimensional multimodal functions
# ------------------------------------------------------------------------------------------------


@njit(cache=True)
def rastrigin(x):
    r"""The Rastrigin function (n-D), with :math:`A = 10`.

    .. math::

        f(x) = A n + \sum_{i=1}^n \left(x_i^2 - A \cos(2 \pi x_i)\right)

    Global minimum ``f = 0`` at the origin; a local minimum near every integer point. Usual
    domain ``[-5.12, 5.12]^n``.

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    float

    References
    ----------
    .. [1] L. A. Rastrigin, "Systems of extremal control", Nauka, Moscow (1974).
    """
    x = _vector(x)
    total = 0.0
    for i in range(x.shape[0]):
        t = _as_real(x[i])
        total += t * t + 10.0 * (1.0 - math.cos(TWO_PI * t))
    return total


@njit(cache=True)
def rastrigin_der(x):
    r"""The gradient of :func:`rastrigin`: :math:`2 x_i + 2 \pi A \sin(2 \pi x_i)`.

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    ndarray, shape (n,)
    """
    x = _vector(x)
    der = _empty_gradient(x)
    for i in range(x.shape[0]):
        der[i] = 2.0 * x[i] + 10.0 * TWO_PI * math.sin(TWO_PI * x[i])
    return der


@njit(cache=True)
def _ackley_parts(x):
    n = x.shape[0]
    if n == 0:
        raise ValueError("ackley is defined for x of length >= 1")
    squares, cosines = 0.0, 0.0
    for i in range(n):
        t = _as_real(x[i])
        squares += t * t
        cosines += math.cos(TWO_PI * t)
    return math.sqrt(squares / n), cosines / n


@njit(cache=True)
def ackley(x):
    r"""The Ackley function (n-D), with :math:`a = 20`, :math:`b = 0.2`, :math:`c = 2\pi`.

    .. math::

        f(x) = -a \exp\left(-b \sqrt{\tfrac1n \textstyle\sum_i x_i^2}\right)
               - \exp\left(\tfrac1n \textstyle\sum_i \cos(c x_i)\right) + a + e

    Global minimum ``f = 0`` at the origin (computed exactly: the code evaluates
    :math:`-a\,\mathrm{expm1}(-b r) - e\,\mathrm{expm1}(m - 1)`); many local minima. Usual domain
    ``[-32.768, 32.768]^n``.

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    float

    References
    ----------
    .. [1] D. H. Ackley, "A connectionist machine for genetic hillclimbing", Kluwer (1987).
    """
    x = _vector(x)
    r, m = _ackley_parts(x)
    return -20.0 * math.expm1(-0.2 * r) - math.e * math.expm1(m - 1.0)


@njit(cache=True)
def ackley_der(x):
    r"""The gradient of :func:`ackley`.

    .. math::

        \partial_i f = \frac{a b\, e^{-b r}}{n r} x_i + \frac{c\, e^{m}}{n} \sin(c x_i),
        \quad r = \sqrt{\tfrac1n \textstyle\sum x_j^2},\; m = \tfrac1n \textstyle\sum \cos(c x_j)

    At the origin ``f`` has a cone-shaped kink and no gradient; this returns zeros there (a
    valid subgradient, and what makes the minimum stationary).

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    ndarray, shape (n,)
    """
    x = _vector(x)
    n = x.shape[0]
    r, m = _ackley_parts(x)
    radial = 0.0 if r == 0.0 else 20.0 * 0.2 * math.exp(-0.2 * r) / (n * r)
    periodic = TWO_PI * math.exp(m) / n
    der = _empty_gradient(x)
    for i in range(n):
        der[i] = radial * x[i] + periodic * math.sin(TWO_PI * x[i])
    return der


#: The minimiser of Styblinski-Tang along each coordinate: the root of 4 t^3 - 32 t + 5 = 0
#: near -2.9 (-2.903534027771177095...), and the value of one coordinate's term there.
STYBLINSKI_TANG_ARGMIN = -2.903534027771177
STYBLINSKI_TANG_MIN_PER_DIM = -39.16616570377141


@njit(cache=True)
def styblinski_tang(x):
    r"""The Styblinski-Tang function (n-D).

    .. math::

        f(x) = \tfrac12 \sum_{i=1}^n \left(x_i^4 - 16 x_i^2 + 5 x_i\right)

    Global minimum ``f = -39.16616570377141 n`` at ``x_i = -2.903534027771177`` for all ``i``;
    ``2^n - 1`` other local minima (each coordinate at either ``-2.9035`` or ``2.7468``). Usual
    domain ``[-5, 5]^n``.

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    float

    References
    ----------
    .. [1] M. A. Styblinski and T.-S. Tang, "Experiments in nonconvex optimization: stochastic
       approximation with function smoothing and simulated annealing", Neural Networks 3(4),
       467-483 (1990).
    """
    x = _vector(x)
    total = 0.0
    for i in range(x.shape[0]):
        t = _as_real(x[i])
        total += t * t * t * t - 16.0 * t * t + 5.0 * t
    return 0.5 * total


@njit(cache=True)
def styblinski_tang_der(x):
    r"""The gradient of :func:`styblinski_tang`: :math:`2 x_i^3 - 16 x_i + 2.5`.

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    ndarray, shape (n,)
    """
    x = _vector(x)
    der = _empty_gradient(x)
    for i in range(x.shape[0]):
        t = _as_real(x[i])
        der[i] = 2.0 * t * t * t - 16.0 * t + 2.5
    return der


# ------------------------------------------------------------------------------------------------
# Ill-conditioned quadratics
# ------------------------------------------------------------------------------------------------


@njit(cache=True)
def diagonal_quadratic(x, d):
    r"""The diagonal quadratic :math:`f(x) = \tfrac12 \sum_i d_i x_i^2`.

    Parameters
    ----------
    x : array_like, shape (n,)
    d : ndarray, shape (n,)
        The curvatures (Hessian diagonal); positive for a unique minimum at the origin, where
        ``f = 0``. The condition number is ``max(d) / min(d)``.

    Returns
    -------
    float

    See Also
    --------
    make_quadratic : ``d`` log-spaced from 1 to a condition number, as a one-argument problem.
    """
    x = _vector(x)
    _check_same_length(x, d)
    total = 0.0
    for i in range(x.shape[0]):
        total += d[i] * x[i] * x[i]
    return 0.5 * total


@njit(cache=True)
def diagonal_quadratic_der(x, d):
    r"""The gradient of :func:`diagonal_quadratic`: :math:`d_i x_i`.

    Parameters
    ----------
    x, d : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n,)
        Of ``x``'s float dtype.
    """
    x = _vector(x)
    _check_same_length(x, d)
    der = _empty_gradient(x)
    for i in range(x.shape[0]):
        der[i] = d[i] * x[i]
    return der


@njit(cache=True)
def _dense_quadratic(x, a):
    x = _vector(x)
    _check_same_length(x, a)
    total = 0.0
    for i in range(x.shape[0]):
        row = 0.0
        for j in range(x.shape[0]):
            row += a[i, j] * x[j]
        total += x[i] * row
    return 0.5 * total


@njit(cache=True)
def _dense_quadratic_der(x, a):
    x = _vector(x)
    _check_same_length(x, a)
    der = _empty_gradient(x)
    for i in range(x.shape[0]):
        row = 0.0
        for j in range(x.shape[0]):
            row += a[i, j] * x[j]
        der[i] = row
    return der


def _closures_over(matrix, value, gradient):
    """One-argument jitted ``fun(x)``, ``jac(x)`` with ``matrix`` frozen in as a constant.

    Numba freezes closure variables, so these are compiled once per call (not cached on disk)
    and take no extra argument: the form :func:`numadam.minimize`'s compiled loop and SciPy
    both accept.
    """
    frozen = np.array(matrix, dtype=np.float64)  # a private copy: later edits cannot leak in

    @njit
    def fun(x):
        return value(x, frozen)

    @njit
    def jac(x):
        return gradient(x, frozen)

    return fun, jac


@functools.lru_cache(maxsize=32)
def _diagonal_closures(n, kappa):
    return _closures_over(_log_spaced(n, kappa), diagonal_quadratic, diagonal_quadratic_der)


def _log_spaced(n, kappa):
    return np.geomspace(1.0, kappa, n) if n > 1 else np.ones(1)


def make_quadratic(n=2, kappa=1e3, *, rotate=False, rng=None, dtype=np.float64):
    r"""An ill-conditioned convex quadratic as a :class:`Problem` with jitted ``fun``/``jac``.

    .. math::

        f(x) = \tfrac12 x^\top A x, \qquad A = Q^\top \operatorname{diag}(d) Q, \qquad
        d_i = \kappa^{(i-1)/(n-1)}

    so the eigenvalues are log-spaced from 1 to :math:`\kappa` (the condition number) and the
    unique minimum is ``f = 0`` at the origin. Without rotation :math:`Q = I` and the
    coordinates are the eigenvectors: diagonal scaling (Adam's, RMSProp's) then removes the
    ill-conditioning entirely, while plain gradient descent needs ``lr < 2 / kappa`` and
    about ``kappa`` iterations. ``rotate=True`` draws a uniformly random orthogonal :math:`Q`,
    which diagonal preconditioners cannot undo.

    Parameters
    ----------
    n : int, default 2
        Dimension (``n == 1`` gives ``d = [1]``).
    kappa : float, default 1e3
        Condition number, ``>= 1``.
    rotate : bool, default False
        Rotate the eigenvectors by a random orthogonal matrix (dense ``A``: keep ``n`` modest).
    rng : numpy.random.Generator or int, optional
        Source of the rotation (only used with ``rotate=True``).
    dtype : {numpy.float64, numpy.float32}
        Dtype of ``x0`` and the minimiser.

    Returns
    -------
    Problem
        ``params`` holds ``kappa``, ``d`` (eigenvalues) and ``A`` (the Hessian).

    Notes
    -----
    ``fun`` and ``jac`` are Numba closures with ``A`` (or ``d``) frozen in; each new ``(n,
    kappa)`` or rotation costs one compile (not cached on disk). The unrotated
    ones are memoised per ``(n, kappa)``. For your own curvatures call the cached
    :func:`diagonal_quadratic` with ``args=(d,)``.
    """
    n = _dimension(n)
    kappa = float(kappa)
    if not kappa >= 1.0 or not math.isfinite(kappa):
        raise ValueError(f"kappa must be a finite number >= 1, got {kappa}")
    d = _log_spaced(n, kappa)
    if rotate:
        q, r = np.linalg.qr(np.random.default_rng(rng).standard_normal((n, n)))
        q *= np.sign(np.diag(r))  # Haar-distributed
        a = (q.T * d) @ q
        a = 0.5 * (a + a.T)
        fun, jac = _closures_over(a, _dense_quadratic, _dense_quadratic_der)
    else:
        a = np.diag(d)
        fun, jac = _diagonal_closures(n, kappa)
    name = "quadratic" + ("_rotated" if rotate else "")
    return Problem(name, fun, jac, np.ones(n, dtype=dtype), (np.zeros(n, dtype=dtype),), 0.0,
                   ((-1.5, 1.5),) * n, n, {"kappa": kappa, "d": d, "A": a})


def ill_conditioned_quadratic(n=10, condition_number=1e4):
    """The jitted ``(fun, jac)`` of :func:`make_quadratic` (``kappa=condition_number``).

    Parameters
    ----------
    n : int, default 10
    condition_number : float, default 1e4

    Returns
    -------
    fun, jac : jitted callables of ``x``
        ``0.5 * sum(d * x**2)`` and ``d * x``, ``d`` log-spaced from 1 to ``condition_number``.
    """
    problem = make_quadratic(n, condition_number)
    return problem.fun, problem.jac


# ------------------------------------------------------------------------------------------------
# Problem records and the registry
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Problem:
    """A test function with what is known about it.

    Attributes
    ----------
    name : str
        Registry name.
    fun, jac : callable
        ``fun(x) -> float`` and ``jac(x) -> ndarray``; jitted (``numba.njit``), so
        :func:`numadam.minimize` runs its compiled loop on them.
    x0 : ndarray
        A standard starting point (a fresh array for every :func:`get_problem` call).
    minima : tuple of ndarray
        All global minimisers (local minima are described in the function's docstring).
    fmin : float
        The global minimum value.
    bounds : tuple of (float, float)
        A box per coordinate: the function's usual domain, and for ``dim == 2`` the plotting
        box ``((xlo, xhi), (ylo, yhi))``. Usable as ``bounds=`` in ``minimize``.
    dim : int
        Dimension ``n``.
    params : dict
        Parameters of the instance (e.g. ``kappa`` for the quadratic); empty for most.
    """

    name: str
    fun: Callable
    jac: Callable
    x0: np.ndarray
    minima: tuple
    fmin: float
    bounds: tuple
    dim: int
    params: dict = field(default_factory=dict)

    @property
    def box(self):
        """The plotting window ``((xlo, xhi), (ylo, yhi))``: the first two ``bounds``."""
        return tuple(self.bounds[:2]) if self.dim >= 2 else (self.bounds[0], self.bounds[0])

    def distance(self, x):
        """Max-norm distance from ``x`` to the nearest global minimiser."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"x must have shape ({self.dim},) like the problem's minimisers, "
                             f"got {x.shape}")
        return min(float(np.max(np.abs(x - m))) for m in self.minima)

    def success(self, x, tol=1e-5):
        """Whether ``x`` is within ``tol`` (max norm) of a global minimiser."""
        return self.distance(x) <= tol

    def __repr__(self):
        return f"Problem(name={self.name!r}, dim={self.dim}, fmin={self.fmin!r})"


def _dimension(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _two_d(name, n):
    if n != 2:
        raise ValueError(f"{name} is defined for n=2 only, got n={n}")


def _alternating(n, pair, dtype):
    return np.resize(np.asarray(pair, dtype=dtype), n)


def _rosenbrock(n, dtype):
    box = ((-2.0, 2.0), (-1.0, 3.0)) if n == 2 else ((-2.0, 2.0),) * n
    return Problem("rosenbrock", rosen, rosen_der, _alternating(n, (-1.2, 1.0), dtype),
                   (np.ones(n, dtype=dtype),), 0.0, box, n)


def _beale(n, dtype):
    _two_d("beale", n)
    return Problem("beale", beale, beale_der, np.array([1.0, 1.0], dtype=dtype),
                   (np.array([3.0, 0.5], dtype=dtype),), 0.0, ((-4.5, 4.5), (-4.5, 4.5)), 2)


HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.2831859912861696),
    (3.5844283403304917, -1.8481265269644036),
)


def _himmelblau(n, dtype):
    _two_d("himmelblau", n)
    return Problem("himmelblau", himmelblau, himmelblau_der, np.array([0.0, 0.0], dtype=dtype),
                   tuple(np.array(m, dtype=dtype) for m in HIMMELBLAU_MINIMA), 0.0,
                   ((-5.0, 5.0), (-5.0, 5.0)), 2)


def _booth(n, dtype):
    _two_d("booth", n)
    return Problem("booth", booth, booth_der, np.array([0.0, 0.0], dtype=dtype),
                   (np.array([1.0, 3.0], dtype=dtype),), 0.0, ((-10.0, 10.0), (-10.0, 10.0)), 2)


def _rastrigin(n, dtype):
    return Problem("rastrigin", rastrigin, rastrigin_der, _alternating(n, (-2.0, 3.5), dtype),
                   (np.zeros(n, dtype=dtype),), 0.0, ((-5.12, 5.12),) * n, n)


def _ackley(n, dtype):
    return Problem("ackley", ackley, ackley_der, _alternating(n, (2.0, -1.5), dtype),
                   (np.zeros(n, dtype=dtype),), 0.0, ((-5.0, 5.0),) * n, n)


def _styblinski_tang(n, dtype):
    return Problem("styblinski_tang", styblinski_tang, styblinski_tang_der,
                   np.zeros(n, dtype=dtype), (np.full(n, STYBLINSKI_TANG_ARGMIN, dtype=dtype),),
                   STYBLINSKI_TANG_MIN_PER_DIM * n, ((-5.0, 5.0),) * n, n)


def _quadratic(n, dtype, **params):
    return make_quadratic(n, dtype=dtype, **params)


#: name -> factory ``(n, dtype, **params) -> Problem``; use :func:`get_problem`.
PROBLEMS = {
    "rosenbrock": _rosenbrock,
    "beale": _beale,
    "himmelblau": _himmelblau,
    "booth": _booth,
    "rastrigin": _rastrigin,
    "ackley": _ackley,
    "styblinski_tang": _styblinski_tang,
    "quadratic": _quadratic,
}

_ALIASES = {"rosen": "rosenbrock", "styblinski": "styblinski_tang",
            "ill_conditioned_quadratic": "quadratic"}


def get_problem(name, n=2, *, dtype=np.float64, **params):
    """Build a :class:`Problem` from the registry.

    Parameters
    ----------
    name : str
        One of ``PROBLEMS``: ``"rosenbrock"``, ``"beale"``, ``"himmelblau"``, ``"booth"`` (these
        three 2-D only), ``"rastrigin"``, ``"ackley"``, ``"styblinski_tang"``, ``"quadratic"``.
        Case and ``-`` vs ``_`` do not matter; ``"rosen"`` is an alias.
    n : int, default 2
        Dimension.
    dtype : {numpy.float64, numpy.float32}
        Dtype of ``x0`` and ``minima``.
    **params
        Passed to the factory; only ``"quadratic"`` takes any (``kappa``, ``rotate``, ``rng``,
        see :func:`make_quadratic`).

    Returns
    -------
    Problem
        A fresh record (its arrays are not shared with other calls).
    """
    key = str(name).lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose from {sorted(PROBLEMS)}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if params and key != "quadratic":
        raise TypeError(f"{key} takes no parameters, got {sorted(params)}")
    return PROBLEMS[key](_dimension(n), dtype, **params)
