"""The test-function gallery and the noisy / stochastic objectives."""

import numpy as np
import pytest
import scipy.optimize
from numba import njit
from scipy.optimize import approx_fprime

from numadam import functions, problems

N_DIM = {"rosenbrock": 4, "rastrigin": 3, "ackley": 3, "styblinski_tang": 3, "quadratic": 5}


def _problem(name):
    return functions.get_problem(name, N_DIM.get(name, 2))


@pytest.mark.parametrize("name", functions.PROBLEMS)
def test_value_and_gradient_at_the_known_minima(name):
    problem = _problem(name)
    assert problem.minima
    for minimum in problem.minima:
        assert problem.fun(minimum) == pytest.approx(problem.fmin, abs=1e-9)
        assert np.abs(problem.jac(minimum)).max() < 1e-6
        assert problem.success(minimum)
    assert problem.fun(problem.x0) > problem.fmin + 1e-3  # the start is not the answer


@pytest.mark.parametrize("name", functions.PROBLEMS)
def test_gradient_matches_finite_differences(name, rng):
    problem = _problem(name)
    (xlo, xhi), (ylo, yhi) = problem.box
    for _ in range(5):
        x = rng.uniform(min(xlo, ylo), max(xhi, yhi), problem.dim) * 0.9
        numeric = approx_fprime(x, problem.fun, 1e-7)
        np.testing.assert_allclose(problem.jac(x), numeric, rtol=1e-4,
                                   atol=1e-4 * max(1.0, np.abs(numeric).max()))


def test_rosenbrock_is_scipys(rng):
    for n in (2, 5):
        x = rng.standard_normal(n)
        assert functions.rosen(x) == pytest.approx(scipy.optimize.rosen(x), rel=1e-14)
        np.testing.assert_allclose(functions.rosen_der(x), scipy.optimize.rosen_der(x),
                                   rtol=1e-14)


@njit
def _call_inside_jitted_code(x):
    return (functions.rosen(x) + functions.beale(x) + functions.himmelblau(x)
            + functions.ackley(x) + functions.rastrigin_der(x)[0])


def test_functions_work_inside_jitted_code(rng):
    x = rng.standard_normal(2)
    expected = (functions.rosen.py_func(x) + functions.beale.py_func(x)
                + functions.himmelblau.py_func(x) + functions.ackley.py_func(x)
                + functions.rastrigin_der.py_func(x)[0])
    assert _call_inside_jitted_code(x) == pytest.approx(expected, rel=1e-12)


def test_unknown_problem():
    with pytest.raises(ValueError, match="Unknown problem"):
        functions.get_problem("banana")


def test_ill_conditioned_quadratic_has_the_stated_condition_number():
    fun, jac = functions.ill_conditioned_quadratic(4, condition_number=100.0)
    np.testing.assert_allclose(jac(np.ones(4)), np.logspace(0, 2, 4))
    assert fun(np.ones(4)) == pytest.approx(0.5 * np.logspace(0, 2, 4).sum())


# -- stochastic objectives ---------------------------------------------------------------------


def test_noisy_gradient_is_reproducible_and_unbiased():
    a = problems.NoisyGradient(functions.booth, functions.booth_der, sigma=1.0, rng=3)
    b = problems.NoisyGradient(functions.booth, functions.booth_der, sigma=1.0, rng=3)
    c = problems.NoisyGradient(functions.booth, functions.booth_der, sigma=1.0, rng=4)
    x = np.array([0.5, 0.5])
    np.testing.assert_array_equal(a.jac(x), b.jac(x))
    assert not np.array_equal(a.jac(x), c.jac(x))
    mean = np.mean([a.jac(x) for _ in range(4000)], axis=0)
    np.testing.assert_allclose(mean, functions.booth_der(x), atol=0.1)
    assert a.fun(x) == functions.booth(x)
    with pytest.raises(ValueError, match="sigma"):
        problems.NoisyGradient(functions.booth, functions.booth_der, sigma=-1)


@pytest.mark.parametrize("make", [problems.make_least_squares, problems.make_logistic])
def test_minibatch_gradient_is_an_unbiased_estimate(make):
    problem = make(n_samples=200, n_features=5, batch_size=20, rng=0)
    x = np.linspace(-0.5, 0.5, 5)
    mean = np.mean([problem.jac(x) for _ in range(3000)], axis=0)
    full = problem.full_jac(x)
    np.testing.assert_allclose(mean, full, atol=0.05 * np.abs(full).max() + 1e-3)
    again = make(n_samples=200, n_features=5, batch_size=20, rng=0)
    np.testing.assert_array_equal(problem.A, again.A)


@pytest.mark.parametrize("make", [problems.make_least_squares, problems.make_logistic])
def test_the_stated_optimum_has_zero_full_gradient(make):
    problem = make(n_samples=300, n_features=4, rng=1)
    assert np.abs(problem.full_jac(problem.optimum)).max() < 1e-8


def test_sparse_problem_has_the_stated_feature_frequencies():
    problem = problems.make_sparse_logistic(n_samples=20_000, n_features=10, min_frequency=0.01,
                                            rng=2)
    observed = np.mean(problem.A != 0, axis=0)
    np.testing.assert_allclose(observed, problem.frequencies, rtol=0.25)
    assert problem.frequencies[0] == 1.0 and problem.frequencies[-1] == pytest.approx(0.01)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        problems.make_least_squares(n_samples=10, batch_size=11)
