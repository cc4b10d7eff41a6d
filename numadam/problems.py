"""Noisy and stochastic objectives for first-order methods, all randomness through an ``rng``.

Each objective exposes SciPy-style ``fun(x)`` and ``jac(x)`` on 1-D float64 arrays, so it plugs
straight into ``numadam.minimize``. Minibatch objectives draw a new batch at every ``jac`` call
from their own ``numpy.random.Generator``: runs are reproducible from a seed.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize as scipy_minimize
from scipy.special import expit, log1p


class NoisyGradient:
    """A deterministic function whose gradient is observed with Gaussian noise.

    ``jac(x) = true_jac(x) + sigma * N(0, I)``; ``fun`` stays exact, so the loss curve measures
    the optimizer, not the noise.
    """

    def __init__(self, fun, jac, sigma=0.1, rng=None):
        if not sigma >= 0:
            raise ValueError(f"sigma must be non-negative, got {sigma!r}")
        self.true_fun, self.true_jac, self.sigma = fun, jac, float(sigma)
        self.rng = np.random.default_rng(rng)

    def fun(self, x):
        return float(self.true_fun(x))

    def jac(self, x):
        g = np.asarray(self.true_jac(x), dtype=np.float64)
        return g + self.sigma * self.rng.standard_normal(g.shape)


class _Minibatch:
    """A sum of per-sample losses, with full-batch ``fun`` and minibatch ``jac``."""

    def __init__(self, A, b, batch_size, l2, rng):
        self.A, self.b, self.l2 = A, b, float(l2)
        if not (isinstance(batch_size, int) and 1 <= batch_size <= A.shape[0]):
            raise ValueError(f"batch_size must be an integer in 1..{A.shape[0]}, "
                             f"got {batch_size!r}")
        self.batch_size = batch_size
        self.rng = np.random.default_rng(rng)

    def batch(self):
        """Indices of a fresh minibatch, sampled without replacement."""
        return self.rng.choice(self.A.shape[0], self.batch_size, replace=False)

    def jac(self, x):
        """An unbiased estimate of the full gradient, from one minibatch."""
        return self.full_jac(x, self.batch())

    def fun(self, x):
        return self.full_fun(x, None)


class LeastSquares(_Minibatch):
    """``f(x) = mean((A x - b)^2) / 2``: synthetic linear regression with a known optimum."""

    def full_fun(self, x, rows):
        A, b = (self.A, self.b) if rows is None else (self.A[rows], self.b[rows])
        residual = A @ x - b
        return 0.5 * float(residual @ residual) / A.shape[0] + 0.5 * self.l2 * float(x @ x)

    def full_jac(self, x, rows=None):
        A, b = (self.A, self.b) if rows is None else (self.A[rows], self.b[rows])
        return A.T @ (A @ x - b) / A.shape[0] + self.l2 * x

    @property
    def optimum(self):
        """The exact minimiser (normal equations with the L2 term)."""
        n = self.A.shape[0]
        lhs = self.A.T @ self.A / n + self.l2 * np.eye(self.A.shape[1])
        return np.linalg.solve(lhs, self.A.T @ self.b / n)


class LogisticRegression(_Minibatch):
    """Mean logistic loss with labels in {0, 1} and an L2 term (so the optimum is unique)."""

    def full_fun(self, x, rows):
        A, b = (self.A, self.b) if rows is None else (self.A[rows], self.b[rows])
        z = A @ x
        # log(1 + e^z) - b z, computed without overflow
        losses = np.maximum(z, 0) + log1p(np.exp(-np.abs(z))) - b * z
        return float(np.mean(losses)) + 0.5 * self.l2 * float(x @ x)

    def full_jac(self, x, rows=None):
        A, b = (self.A, self.b) if rows is None else (self.A[rows], self.b[rows])
        return A.T @ (expit(A @ x) - b) / A.shape[0] + self.l2 * x

    @property
    def optimum(self):
        """A reference minimiser from SciPy's L-BFGS-B, converged to ``gtol=1e-12``."""
        result = scipy_minimize(lambda x: self.full_fun(x, None), np.zeros(self.A.shape[1]),
                                jac=self.full_jac, method="L-BFGS-B",
                                options={"gtol": 1e-12, "ftol": 0, "maxiter": 10_000})
        return result.x


def make_least_squares(n_samples=1000, n_features=20, noise=0.1, batch_size=32, l2=0.0,
                       rng=None):
    """Synthetic regression ``b = A x_true + noise``; returns a :class:`LeastSquares`."""
    rng = np.random.default_rng(rng)
    A = rng.standard_normal((n_samples, n_features))
    b = A @ rng.standard_normal(n_features) + noise * rng.standard_normal(n_samples)
    return LeastSquares(A, b, batch_size, l2, rng)


def make_logistic(n_samples=1000, n_features=20, batch_size=32, l2=1e-3, rng=None):
    """Synthetic binary classification from a random linear model; a :class:`LogisticRegression`."""
    rng = np.random.default_rng(rng)
    A = rng.standard_normal((n_samples, n_features))
    b = (rng.random(n_samples) < expit(A @ rng.standard_normal(n_features))).astype(float)
    return LogisticRegression(A, b, batch_size, l2, rng)


def make_sparse_logistic(n_samples=5000, n_features=50, min_frequency=1e-3, batch_size=32,
                         l2=1e-4, rng=None):
    """Logistic regression on rare features: feature ``j`` is non-zero in a fraction ``p_j`` of
    the samples, ``p_j`` log-spaced from 1 down to ``min_frequency``.

    Rare features get rare, small gradient components; a single global step size (SGD) barely
    moves their weights, while Adam's and RMSProp's per-coordinate scaling is claimed to help.
    The frequencies are stored as ``problem.frequencies``.
    """
    rng = np.random.default_rng(rng)
    frequencies = np.logspace(0, np.log10(min_frequency), n_features)
    mask = rng.random((n_samples, n_features)) < frequencies
    A = np.where(mask, rng.standard_normal((n_samples, n_features)) + 1.0, 0.0)
    weights = 2 * rng.standard_normal(n_features)
    b = (rng.random(n_samples) < expit(A @ weights)).astype(float)
    problem = LogisticRegression(A, b, batch_size, l2, rng)
    problem.frequencies = frequencies
    return problem
