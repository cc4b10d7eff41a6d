r"""Noisy and stochastic objectives, all randomness through an explicit ``rng``.

Every objective here has SciPy-style ``fun(x)`` and ``jac(x)`` methods on 1-D float arrays, so
``numadam.minimize(obj.fun, x0, jac=obj.jac, method="adam")`` (or SciPy's ``minimize``) takes
it as it is. ``rng`` is anything :func:`numpy.random.default_rng` accepts -- an ``int`` seed, a
``numpy.random.Generator`` (used as is, so its state advances) or ``None`` (fresh entropy, not
reproducible). The same seed gives the same data and the same sequence of noise or minibatches.

Objectives
----------
:class:`NoisyGradient`
    Any function with Gaussian noise added to its gradient (and optionally its value).
:class:`LeastSquares`, :func:`make_least_squares`
    Linear regression on synthetic data, exact optimum from :func:`numpy.linalg.lstsq`.
:class:`LogisticRegression`, :func:`make_logistic`
    Binary logistic regression with a small L2 term; reference optimum from SciPy's L-BFGS-B
    polished by Newton steps.
:func:`make_sparse_logistic`
    Logistic regression on rare features: feature ``j`` is non-zero in a fraction ``p_j`` of the
    samples, ``p_j`` log-spaced from 1 down to 0.001 -- the setting where Adam's per-coordinate
    step sizes are claimed to beat SGD [1]_ [2]_.

For the finite-sum objectives, ``fun`` is the full-batch loss, ``full_jac`` the full-batch
gradient and ``jac`` the *minibatch* gradient: each call draws ``batch_size`` distinct samples
uniformly at random with the objective's ``rng`` (``batch_size=None`` makes ``jac`` exact). So
``minimize(obj.fun, x0, jac=obj.jac)`` is minibatch training that reports the exact loss, and
``minimize(obj.batch_fun_and_jac, x0, jac=True)`` uses one batch for both.

References
----------
.. [1] J. Duchi, E. Hazan and Y. Singer, "Adaptive subgradient methods for online learning and
   stochastic optimization", JMLR 12, 2121-2159 (2011).
.. [2] D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR (2015),
   section 6.1.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy.optimize import minimize as scipy_minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

__all__ = ["NoisyGradient", "MinibatchObjective", "LeastSquares", "LogisticRegression",
           "make_least_squares", "make_logistic", "make_sparse_logistic"]


def _float_dtype(x):
    """float32 stays float32; everything else is computed and returned as float64."""
    return np.float32 if np.asarray(x).dtype == np.float32 else np.float64


def _nonnegative(name, value):
    value = np.asarray(value, dtype=np.float64)
    if not (np.all(np.isfinite(value)) and np.all(value >= 0)):
        raise ValueError(f"{name} must be finite and non-negative, got {value!r}")
    return float(value) if value.ndim == 0 else value


def _read_only(array):
    """``array``, made read-only: a cached result that an edit would make stale (``fmin`` is
    computed from the cached ``optimum``)."""
    array.flags.writeable = False
    return array


def _count(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------------
# Gradient noise around any function
# ------------------------------------------------------------------------------------------------


class NoisyGradient:
    r"""A function whose gradient (and optionally value) is observed with Gaussian noise.

    .. math::

        \tilde g(x) = \nabla f(x) + \sigma \xi, \quad \xi \sim N(0, I); \qquad
        \tilde f(x) = f(x) + \sigma_f \zeta, \quad \zeta \sim N(0, 1)

    with fresh draws at every call: an unbiased gradient oracle with variance
    :math:`\sigma^2` per coordinate.

    Parameters
    ----------
    fun, jac : callable
        The exact value ``fun(x) -> float`` and gradient ``jac(x) -> ndarray`` (for instance a
        :class:`numadam.functions.Problem`'s).
    sigma : float or ndarray, default 0.1
        Standard deviation of the gradient noise (an array gives one per coordinate).
    rng : int, numpy.random.Generator or None
        Source of all the noise.
    fun_sigma : float, default 0.0
        Standard deviation of the noise on the value; ``0`` keeps ``fun`` exact, so a loss
        curve measures the optimizer rather than the noise.

    Attributes
    ----------
    true_fun, true_jac : callable
        The exact functions.
    rng : numpy.random.Generator
    nfev, njev : int
        Number of calls of ``fun`` and ``jac``.

    Examples
    --------
    >>> from numadam.functions import get_problem
    >>> p = get_problem("rosenbrock")
    >>> noisy = NoisyGradient(p.fun, p.jac, sigma=1.0, rng=0)
    >>> g = noisy.jac(p.x0)          # p.jac(p.x0) + N(0, 1) noise
    """

    def __init__(self, fun, jac, sigma=0.1, rng=None, *, fun_sigma=0.0):
        if not (callable(fun) and callable(jac)):
            raise TypeError("fun and jac must be callable")
        self.true_fun, self.true_jac = fun, jac
        self.sigma = _nonnegative("sigma", sigma)  # a float or a new array: not the caller's
        self.fun_sigma = _nonnegative("fun_sigma", fun_sigma)
        if not isinstance(self.fun_sigma, float):
            raise ValueError("fun_sigma must be a scalar")
        self.rng = np.random.default_rng(rng)
        self.nfev = self.njev = 0

    @classmethod
    def from_problem(cls, problem, sigma=0.1, rng=None, *, fun_sigma=0.0):
        """A :class:`NoisyGradient` around ``problem.fun`` / ``problem.jac``."""
        return cls(problem.fun, problem.jac, sigma, rng, fun_sigma=fun_sigma)

    def fun(self, x):
        """The value at ``x``, plus ``fun_sigma`` times a standard normal draw."""
        self.nfev += 1
        value = float(self.true_fun(x))
        if self.fun_sigma:
            value += self.fun_sigma * self.rng.standard_normal()
        return value

    def jac(self, x):
        """The gradient at ``x`` plus ``sigma`` times a standard normal vector (x's dtype)."""
        self.njev += 1
        dtype = _float_dtype(x)
        g = np.asarray(self.true_jac(x))
        noise = self.rng.standard_normal(g.shape, dtype=dtype)
        return (g + self.sigma * noise).astype(dtype, copy=False)

    def __repr__(self):
        return f"NoisyGradient(sigma={self.sigma!r}, fun_sigma={self.fun_sigma!r})"


# ------------------------------------------------------------------------------------------------
# Finite sums: full-batch and minibatch evaluation
# ------------------------------------------------------------------------------------------------


class MinibatchObjective:
    r"""A mean of per-sample losses plus an L2 term, with full-batch and minibatch evaluation.

    .. math::

        f(x) = \frac1m \sum_{i=1}^m \ell(a_i^\top x, b_i) + \frac{\lambda}{2} \|x\|^2

    Subclasses define the per-sample loss :math:`\ell(z, b)` and its derivative in :math:`z`.

    Parameters
    ----------
    A : ndarray, shape (m, n)
        One sample per row.
    b : ndarray, shape (m,)
        Targets.
    batch_size : int or None, default 32
        Samples per call of :meth:`jac`; ``None`` means the full batch.
    l2 : float, default 0.0
        :math:`\lambda`.
    rng : int, numpy.random.Generator or None
        Source of the minibatches. Assigning a new ``Generator`` to ``rng`` restarts the batch
        sequence (no other sampler state exists).
    replace : bool, default False
        Draw each batch's samples with replacement (i.i.d.) instead of as a uniform random
        subset. Both give unbiased gradients.
    coef : ndarray, optional
        The weights that generated the data, kept as ``coef_true``.

    Attributes
    ----------
    A, b, l2, batch_size, replace, rng, coef_true
    n_samples, n_features, dim : int
    x0 : ndarray
        Zeros, the usual start.
    optimum : ndarray
        The minimiser of the full objective (computed on first access).
    fmin : float
        ``fun(optimum)``.
    """

    name = "finite sum"

    def __init__(self, A, b, *, batch_size=32, l2=0.0, rng=None, replace=False, coef=None):
        # copies, read-only: an edit of the caller's arrays (or of these) cannot change the
        # objective under its cached optimum
        A = np.array(A, dtype=np.float64)
        b = np.array(b, dtype=np.float64)
        if A.ndim != 2 or b.ndim != 1 or A.shape[0] != b.shape[0] or A.shape[0] == 0:
            raise ValueError(f"A must have shape (m, n) and b shape (m,) with m >= 1, got "
                             f"{A.shape} and {b.shape}")
        if not (np.isfinite(A).all() and np.isfinite(b).all()):
            raise ValueError("A and b must be finite; they hold NaN or inf")
        A.flags.writeable = b.flags.writeable = False
        self.A, self.b = A, b
        if batch_size is not None:
            batch_size = _count("batch_size", batch_size)
            if batch_size > A.shape[0] and not replace:
                raise ValueError(f"batch_size must be at most the number of samples "
                                 f"({A.shape[0]}) without replacement, got {batch_size}")
        self.batch_size = batch_size
        self.l2 = _nonnegative("l2", l2)
        if not isinstance(self.l2, float):
            raise ValueError("l2 must be a scalar")
        self.replace = bool(replace)
        self.rng = np.random.default_rng(rng)
        self.coef_true = None if coef is None else np.asarray(coef, dtype=np.float64)

    # sizes ------------------------------------------------------------------------------------

    @property
    def n_samples(self):
        return self.A.shape[0]

    @property
    def n_features(self):
        return self.A.shape[1]

    dim = n_features

    @property
    def x0(self):
        return np.zeros(self.n_features)

    # the per-sample loss (subclasses) ---------------------------------------------------------

    def _losses(self, z, b):  # pragma: no cover - abstract
        """Per-sample losses for margins ``z``."""
        raise NotImplementedError

    def _derivatives(self, z, b):  # pragma: no cover - abstract
        """d loss / d z per sample."""
        raise NotImplementedError

    # evaluation -------------------------------------------------------------------------------

    def batch(self):
        """Row indices of a fresh minibatch (all rows when ``batch_size`` is None)."""
        m = self.n_samples
        if self.batch_size is None:
            return np.arange(m)
        if self.replace:
            return self.rng.integers(0, m, self.batch_size)
        return self.rng.choice(m, self.batch_size, replace=False)

    def loss(self, x, rows=None):
        """The objective on the samples ``rows`` (all when None): mean loss + L2 term."""
        A, b = (self.A, self.b) if rows is None else (self.A[rows], self.b[rows])
        xd = np.asarray(x, dtype=np.float64)
        return float(np.mean(self._losses(A @ xd, b))) + 0.5 * self.l2 * float(xd @ xd)

    def gradient(self, x, rows=None):
        """The gradient of :meth:`loss` on ``rows`` (all when None), in x's float dtype."""
        A, b = (self.A, self.b) if rows is None else (self.A[rows], self.b[rows])
        xd = np.asarray(x, dtype=np.float64)
        g = A.T @ self._derivatives(A @ xd, b) / A.shape[0] + self.l2 * xd
        return g.astype(_float_dtype(x), copy=False)

    def fun(self, x):
        """The full-batch objective."""
        return self.loss(x)

    def full_jac(self, x):
        """The full-batch gradient."""
        return self.gradient(x)

    def fun_and_jac(self, x):
        """``(fun(x), full_jac(x))``, sharing the product ``A @ x``."""
        return self._both(x, None)

    def jac(self, x):
        """The gradient on a fresh minibatch: an unbiased estimate of :meth:`full_jac`."""
        return self.gradient(x, self.batch())

    def batch_fun_and_jac(self, x):
        """Value and gradient on one fresh minibatch (for ``minimize(..., jac=True)``)."""
        return self._both(x, self.batch())

    def _both(self, x, rows):
        A, b = (self.A, self.b) if rows is None else (self.A[rows], self.b[rows])
        xd = np.asarray(x, dtype=np.float64)
        z = A @ xd
        f = float(np.mean(self._losses(z, b))) + 0.5 * self.l2 * float(xd @ xd)
        g = A.T @ self._derivatives(z, b) / A.shape[0] + self.l2 * xd
        return f, g.astype(_float_dtype(x), copy=False)

    # the optimum ------------------------------------------------------------------------------

    @cached_property
    def fmin(self):
        """The full objective at :attr:`optimum`."""
        return self.fun(self.optimum)

    def __repr__(self):
        return (f"{type(self).__name__}(n_samples={self.n_samples}, "
                f"n_features={self.n_features}, batch_size={self.batch_size}, l2={self.l2})")


class LeastSquares(MinibatchObjective):
    r"""Linear least squares :math:`f(x) = \frac1{2m}\|A x - b\|^2 + \frac\lambda2 \|x\|^2`.

    The minibatch gradient is :math:`A_B^\top (A_B x - b_B) / |B| + \lambda x`. See
    :class:`MinibatchObjective` for the parameters and attributes.
    """

    name = "least squares"

    def _losses(self, z, b):
        r = z - b
        return 0.5 * r * r

    def _derivatives(self, z, b):
        return z - b

    @cached_property
    def optimum(self):
        """The exact minimiser, from :func:`numpy.linalg.lstsq` (minimum-norm if not unique).

        With ``l2 > 0`` the system is augmented by :math:`\\sqrt{m\\lambda}\\, I` rows.
        """
        A, b = self.A, self.b
        if self.l2 > 0:
            A = np.vstack([A, np.sqrt(self.n_samples * self.l2) * np.eye(self.n_features)])
            b = np.concatenate([b, np.zeros(self.n_features)])
        return _read_only(np.linalg.lstsq(A, b, rcond=None)[0])


class LogisticRegression(MinibatchObjective):
    r"""Binary logistic regression, labels :math:`b_i \in \{0, 1\}`:

    .. math::

        f(x) = \frac1m \sum_i \left(\log(1 + e^{z_i}) - b_i z_i\right) + \frac\lambda2 \|x\|^2,
        \quad z = A x

    with gradient :math:`A^\top(\sigma(z) - b)/m + \lambda x`, evaluated without overflow. See
    :class:`MinibatchObjective` for the parameters and attributes. ``l2 > 0`` makes the
    optimum unique and finite even on separable data.
    """

    name = "logistic regression"

    def __init__(self, A, b, **kwargs):
        super().__init__(A, b, **kwargs)
        if not np.all((self.b == 0) | (self.b == 1)):
            raise ValueError("logistic regression labels b must be 0 or 1")

    def _losses(self, z, b):
        return np.logaddexp(0.0, z) - b * z

    def _derivatives(self, z, b):
        return expit(z) - b

    @cached_property
    def optimum(self):
        """A reference minimiser: SciPy's L-BFGS-B, then Newton steps to full precision.

        Raises ``RuntimeError`` when Newton's method does not converge or the gradient's
        max-norm stays above 1e-10 (with ``l2 = 0`` on separable data there is no minimiser).
        """
        with threadpool_limits(1):  # matrix-vector products: threads only contend here
            x = scipy_minimize(self.fun_and_jac, np.zeros(self.n_features), jac=True,
                               method="L-BFGS-B", options={"gtol": 1e-7, "maxiter": 10_000}).x
            x, converged = self._newton(x)
        if not (converged and np.max(np.abs(self.full_jac(x))) <= 1e-10):
            raise RuntimeError("the reference optimum did not converge; with l2=0 the data may "
                               "be separable (no finite minimiser): use l2 > 0")
        return _read_only(x)

    def _newton(self, x, maxiter=50):
        """Newton's method with backtracking on the full objective (strongly convex for l2 > 0).

        Returns ``(x, converged)``: converged when the Newton step becomes negligible
        (quadratic convergence). Without L2 on separable data the steps stay
        large as ``|x|`` grows and ``f`` creeps to 0: not converged, even though the gradient
        is tiny there.
        """
        A, m = self.A, self.n_samples
        f, g = self.fun_and_jac(x)
        for _ in range(maxiter):
            s = expit(A @ x)
            hessian = (A.T * (s * (1 - s))) @ A / m + self.l2 * np.eye(self.n_features)
            try:
                step = np.linalg.solve(hessian, g)
            except np.linalg.LinAlgError:
                return x, False
            if np.max(np.abs(step)) <= 1e-9 * max(1.0, np.max(np.abs(x))):
                return x - step, True  # the quadratic region: this last step is exact enough
            t = 1.0
            while True:
                f_new, g_new = self.fun_and_jac(x - t * step)
                if f_new <= f - 1e-4 * t * float(g @ step) or t < 1e-10:
                    break
                t *= 0.5
            if f_new > f:
                return x, False
            x, f, g = x - t * step, f_new, g_new
        return x, False


# ------------------------------------------------------------------------------------------------
# Synthetic data
# ------------------------------------------------------------------------------------------------


def make_least_squares(n_samples=1000, n_features=20, noise=0.1, rng=None, *, batch_size=32,
                       l2=0.0, replace=False):
    """Synthetic linear regression ``b = A x_true + noise * N(0, 1)``.

    Parameters
    ----------
    n_samples, n_features : int
    noise : float, default 0.1
        Standard deviation of the additive target noise.
    rng : int, numpy.random.Generator or None
        Draws ``A ~ N(0, 1)``, ``x_true ~ N(0, 1)`` and the noise, then the minibatches.
    batch_size, l2, replace
        See :class:`MinibatchObjective`.

    Returns
    -------
    LeastSquares
        With ``coef_true = x_true`` and the exact ``optimum``.
    """
    m, n = _count("n_samples", n_samples), _count("n_features", n_features)
    noise = _nonnegative("noise", noise)
    rng = np.random.default_rng(rng)
    A = rng.standard_normal((m, n))
    coef = rng.standard_normal(n)
    b = A @ coef + noise * rng.standard_normal(m)
    return LeastSquares(A, b, batch_size=batch_size, l2=l2, rng=rng, replace=replace,
                        coef=coef)


def make_logistic(n_samples=1000, n_features=20, rng=None, *, batch_size=32, l2=1e-3,
                  replace=False):
    """Synthetic binary classification from a random linear model.

    ``A ~ N(0, 1)``, ``x_true ~ N(0, 4 / n_features)`` (so the logits ``A x_true`` have standard
    deviation about 2), labels ``b_i ~ Bernoulli(sigmoid(a_i . x_true))``.

    Parameters
    ----------
    n_samples, n_features : int
    rng : int, numpy.random.Generator or None
        Draws the data, then the minibatches.
    batch_size, l2, replace
        See :class:`MinibatchObjective`; ``l2=1e-3`` by default.

    Returns
    -------
    LogisticRegression
    """
    m, n = _count("n_samples", n_samples), _count("n_features", n_features)
    rng = np.random.default_rng(rng)
    A = rng.standard_normal((m, n))
    coef = rng.standard_normal(n) * (2.0 / np.sqrt(n))
    b = (rng.random(m) < expit(A @ coef)).astype(np.float64)
    return LogisticRegression(A, b, batch_size=batch_size, l2=l2, rng=rng, replace=replace,
                              coef=coef)


def make_sparse_logistic(n_samples=5000, n_features=50, min_frequency=1e-3, rng=None, *,
                         batch_size=32, l2=1e-4, replace=False):
    r"""Logistic regression on rare features: sparse, informative gradient components.

    Feature ``j`` is non-zero in exactly ``max(1, round(p_j * n_samples))`` samples chosen at
    random, with ``p_j`` log-spaced from 1 (feature 0 is always present, like an intercept)
    down to ``min_frequency``. Its non-zero values are log-normal (positive, median 1). The true
    weights have standard deviation :math:`2 / \sqrt{n p_j}`, so every feature contributes
    equally to the logits' variance and the rare ones carry large weights when present. A
    minibatch of 32 then sees a rare feature only every few dozen steps: a single global step
    size (SGD) barely moves its weight, while Adam's and RMSProp's per-coordinate scaling is
    claimed to help.

    Parameters
    ----------
    n_samples, n_features : int
    min_frequency : float in (0, 1], default 1e-3
        The rarest feature's frequency.
    rng : int, numpy.random.Generator or None
    batch_size, l2, replace
        See :class:`MinibatchObjective`; ``l2=1e-4`` by default.

    Returns
    -------
    LogisticRegression
        With extra attributes ``frequencies`` (the realised fraction of samples where each
        feature is non-zero, ``counts / n_samples``), ``counts`` and ``target_frequencies``
        (the ``p_j``).
    """
    m, n = _count("n_samples", n_samples), _count("n_features", n_features)
    min_frequency = float(min_frequency)
    if not 0.0 < min_frequency <= 1.0:
        raise ValueError(f"min_frequency must be in (0, 1], got {min_frequency}")
    rng = np.random.default_rng(rng)
    target = np.geomspace(1.0, min_frequency, n) if n > 1 else np.ones(1)
    counts = np.maximum(1, np.rint(target * m)).astype(np.int64)
    A = np.zeros((m, n))
    for j, count in enumerate(counts):
        rows = rng.choice(m, count, replace=False)
        A[rows, j] = np.exp(0.5 * rng.standard_normal(count))
    coef = rng.standard_normal(n) * 2.0 / np.sqrt(n * counts / m)
    b = (rng.random(m) < expit(A @ coef)).astype(np.float64)
    problem = LogisticRegression(A, b, batch_size=batch_size, l2=l2, rng=rng, replace=replace,
                                 coef=coef)
    problem.counts = counts
    problem.frequencies = counts / m
    problem.target_frequencies = target
    return problem
