"""Noisy and stochastic objectives: reproducibility, unbiasedness, optima, rare features."""

import numpy as np
import pytest
import scipy.optimize
from scipy.special import comb

import numadam
from numadam import problems as P
from numadam.functions import get_problem

MAKERS = {
    "least_squares": lambda rng, **kw: P.make_least_squares(200, 6, 0.3, rng, **kw),
    "logistic": lambda rng, **kw: P.make_logistic(300, 6, rng, **kw),
    "sparse_logistic": lambda rng, **kw: P.make_sparse_logistic(2000, 12, 1e-3, rng, **kw),
}


def _central_differences(fun, x, h=1e-6):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


# ------------------------------------------------------------------------------------------------
# NoisyGradient
# ------------------------------------------------------------------------------------------------


def _noisy(rng, **kwargs):
    problem = get_problem("rosenbrock", 3)
    return problem, P.NoisyGradient(problem.fun, problem.jac, rng=rng, **kwargs)


def test_noisy_gradient_is_reproducible_from_its_seed():
    x = np.array([0.5, -0.3, 1.2])
    a, b, c = (_noisy(seed, sigma=0.5)[1] for seed in (3, 3, 4))
    draws_a = [a.jac(x) for _ in range(5)]
    draws_b = [b.jac(x) for _ in range(5)]
    draws_c = [c.jac(x) for _ in range(5)]
    np.testing.assert_array_equal(draws_a, draws_b)
    assert not np.allclose(draws_a, draws_c)
    assert not np.allclose(draws_a[0], draws_a[1])  # fresh noise at every call


def test_noisy_gradient_has_the_stated_mean_and_spread(rng):
    problem, noisy = _noisy(rng, sigma=2.0)
    x = np.array([0.5, -0.3, 1.2])
    draws = np.array([noisy.jac(x) for _ in range(4000)])
    standard_error = 2.0 / np.sqrt(len(draws))
    np.testing.assert_allclose(draws.mean(axis=0), problem.jac(x), atol=5 * standard_error)
    np.testing.assert_allclose(draws.std(axis=0), 2.0, rtol=0.05)
    assert noisy.fun(x) == problem.fun(x)  # fun exact by default
    assert (noisy.nfev, noisy.njev) == (1, 4000)


def test_noisy_value_and_per_coordinate_sigma(rng):
    problem, noisy = _noisy(rng, sigma=np.array([0.0, 1.0, 0.0]), fun_sigma=0.1)
    x = np.array([0.5, -0.3, 1.2])
    values = np.array([noisy.fun(x) for _ in range(2000)])
    assert values.std() == pytest.approx(0.1, rel=0.1)
    assert values.mean() == pytest.approx(problem.fun(x), abs=5 * 0.1 / np.sqrt(2000))
    g = noisy.jac(x)
    assert g[0] == problem.jac(x)[0] and g[2] == problem.jac(x)[2] and g[1] != problem.jac(x)[1]


def test_noisy_gradient_keeps_float32_and_accepts_a_problem():
    problem = get_problem("beale", dtype=np.float32)
    noisy = P.NoisyGradient.from_problem(problem, 0.1, np.random.default_rng(0))
    assert noisy.jac(problem.x0).dtype == np.float32
    assert noisy.jac(problem.x0.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"sigma": -1.0}, "sigma"),
    ({"sigma": float("nan")}, "sigma"),
    ({"sigma": 1.0, "fun_sigma": -0.1}, "fun_sigma"),
])
def test_noisy_gradient_rejects_bad_noise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _noisy(0, **kwargs)


# ------------------------------------------------------------------------------------------------
# Finite sums: reproducibility, gradients, unbiased minibatches
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MAKERS)
def test_same_seed_same_data_and_batches_other_seed_differs(kind):
    a, b, c = MAKERS[kind](5), MAKERS[kind](5), MAKERS[kind](6)
    np.testing.assert_array_equal(a.A, b.A)
    np.testing.assert_array_equal(a.b, b.b)
    assert not np.array_equal(a.A, c.A)
    x = np.linspace(-1, 1, a.n_features)
    ga = [a.jac(x) for _ in range(5)]
    np.testing.assert_array_equal(ga, [b.jac(x) for _ in range(5)])
    assert not np.allclose(ga, [c.jac(x) for _ in range(5)])
    # a Generator is used as is: resetting it restarts the batch sequence
    a.rng = np.random.default_rng(1)
    first = [a.batch() for _ in range(3)]
    a.rng = np.random.default_rng(1)
    np.testing.assert_array_equal(first, [a.batch() for _ in range(3)])


@pytest.mark.parametrize("kind", MAKERS)
def test_full_gradient_matches_finite_differences(kind, rng):
    objective = MAKERS[kind](rng, l2=0.01)
    for _ in range(3):
        x = rng.standard_normal(objective.n_features)
        np.testing.assert_allclose(objective.full_jac(x),
                                   _central_differences(objective.fun, x), rtol=1e-6,
                                   atol=1e-8)
        f, g = objective.fun_and_jac(x)
        assert f == objective.fun(x)
        np.testing.assert_array_equal(g, objective.full_jac(x))


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("kind", MAKERS)
def test_minibatch_gradient_is_unbiased(kind, replace, rng):
    objective = MAKERS[kind](rng, batch_size=8, l2=0.05, replace=replace)
    x = 0.5 * rng.standard_normal(objective.n_features)
    draws = np.array([objective.jac(x) for _ in range(3000)])
    full = objective.full_jac(x)
    standard_error = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - full) <= 5 * standard_error + 1e-12)
    # and it is a real minibatch: draws vary, unlike the full gradient
    assert np.all(draws.std(axis=0)[standard_error > 0] > 0) and draws.std() > 0


def test_minibatch_is_the_gradient_on_its_rows(rng):
    objective = P.make_logistic(100, 4, rng, batch_size=10, l2=0.1)
    x = rng.standard_normal(4)
    objective.rng = np.random.default_rng(11)
    rows = objective.batch()
    assert len(np.unique(rows)) == 10  # without replacement
    objective.rng = np.random.default_rng(11)
    f, g = objective.batch_fun_and_jac(x)
    A, b = objective.A[rows], objective.b[rows]
    z = A @ x
    expected_f = np.mean(np.log1p(np.exp(z)) - b * z) + 0.05 * x @ x
    expected_g = A.T @ (1 / (1 + np.exp(-z)) - b) / 10 + 0.1 * x
    assert f == pytest.approx(expected_f, rel=1e-12)
    np.testing.assert_allclose(g, expected_g, rtol=1e-12)
    objective.rng = np.random.default_rng(11)
    np.testing.assert_allclose(objective.jac(x), expected_g, rtol=1e-12)


@pytest.mark.parametrize("kind", MAKERS)
def test_minibatch_equals_the_full_objective_of_its_rows(kind, rng):
    objective = MAKERS[kind](rng, batch_size=5, l2=0.3)
    x = rng.standard_normal(objective.n_features)
    state = objective.rng.bit_generator.state
    rows = objective.batch()
    sub = type(objective)(objective.A[rows], objective.b[rows], batch_size=None, l2=0.3)
    objective.rng.bit_generator.state = state
    np.testing.assert_allclose(objective.jac(x), sub.full_jac(x), rtol=1e-13, atol=1e-15)
    objective.rng.bit_generator.state = state
    f, g = objective.batch_fun_and_jac(x)
    assert f == pytest.approx(sub.fun(x), rel=1e-13)
    np.testing.assert_allclose(g, sub.full_jac(x), rtol=1e-13, atol=1e-15)


def test_full_batch_mode_and_float32(rng):
    objective = P.make_least_squares(50, 3, 0.1, rng, batch_size=None)
    x = rng.standard_normal(3)
    np.testing.assert_array_equal(objective.jac(x), objective.full_jac(x))
    g32 = objective.jac(x.astype(np.float32))
    assert g32.dtype == np.float32
    assert objective.batch_fun_and_jac(x.astype(np.float32))[1].dtype == np.float32
    np.testing.assert_allclose(g32, objective.full_jac(x), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Optima
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_least_squares_optimum_is_exact(l2, rng):
    objective = P.make_least_squares(300, 8, 0.5, rng, l2=l2)
    x = objective.optimum
    np.testing.assert_allclose(objective.full_jac(x), 0.0, atol=1e-13)
    A, b, m = objective.A, objective.b, objective.n_samples
    np.testing.assert_allclose(x, np.linalg.solve(A.T @ A / m + l2 * np.eye(8), A.T @ b / m),
                               rtol=1e-10)
    assert objective.fmin == objective.fun(x)
    for _ in range(10):
        assert objective.fun(x + 1e-4 * rng.standard_normal(8)) > objective.fmin
    if l2 == 0:  # low noise: the fit recovers the generating weights
        np.testing.assert_allclose(x, objective.coef_true, atol=0.2)


@pytest.mark.parametrize("kind", ["logistic", "sparse_logistic"])
def test_logistic_reference_optimum_is_stationary_and_minimal(kind, rng):
    objective = MAKERS[kind](rng)
    x = objective.optimum
    assert np.max(np.abs(objective.full_jac(x))) < 1e-12
    independent = scipy.optimize.minimize(objective.fun, np.zeros(objective.n_features),
                                          jac=objective.full_jac, method="BFGS",
                                          options={"gtol": 1e-9})
    np.testing.assert_allclose(x, independent.x, rtol=1e-5, atol=1e-5)
    assert objective.fmin <= independent.fun
    for _ in range(10):
        assert objective.fun(x + 1e-4 * rng.standard_normal(x.size)) > objective.fmin


def test_logistic_without_l2_on_separable_data_says_so():
    A = np.array([[1.0], [2.0], [-1.0], [-3.0]])
    objective = P.LogisticRegression(A, np.array([1.0, 1.0, 0.0, 0.0]), batch_size=2)
    with pytest.raises(RuntimeError, match="separable"):
        objective.optimum


# ------------------------------------------------------------------------------------------------
# Rare features
# ------------------------------------------------------------------------------------------------


def test_sparse_problem_has_the_stated_feature_frequencies(rng):
    m, n = 5000, 30
    objective = P.make_sparse_logistic(m, n, 1e-3, rng, batch_size=32)
    nonzero = np.count_nonzero(objective.A, axis=0)
    np.testing.assert_array_equal(nonzero, objective.counts)
    np.testing.assert_array_equal(objective.frequencies, nonzero / m)
    target = objective.target_frequencies
    assert target[0] == 1.0 and target[-1] == pytest.approx(1e-3)
    np.testing.assert_allclose(np.diff(np.log(target)), np.log(1e-3) / (n - 1))
    assert np.all(np.abs(objective.frequencies - target) <= 0.5 / m)
    assert nonzero[0] == m and nonzero[-1] == 5  # every sample, and 5 in 5000
    assert np.all(objective.A >= 0) and 0.2 < objective.b.mean() < 0.8


def test_rare_features_rarely_reach_a_minibatch_gradient(rng):
    m, batch_size = 2000, 16
    objective = P.make_sparse_logistic(m, 12, 1e-2, rng, batch_size=batch_size, l2=1e-3)
    draws = 4000
    seen = np.zeros(12)
    for _ in range(draws):
        seen += objective.jac(objective.x0) != 0  # at x = 0 the L2 term vanishes
    # P(a batch of distinct rows includes one of the c rows holding feature j)
    expected = 1 - comb(m - objective.counts, batch_size) / comb(m, batch_size)
    spread = np.sqrt(draws * expected * (1 - expected))
    assert np.all(np.abs(seen - draws * expected) <= 5 * spread + 1)
    assert seen[0] == draws and seen[-1] < 0.2 * draws


def test_sparse_problem_runs_under_numadam_minimize():
    objective = P.make_sparse_logistic(2000, 12, 1e-2, 0, batch_size=32)
    start = objective.fun(objective.x0) - objective.fmin
    for method, lr in (("adam", 1e-2), ("sgd", 0.1)):
        objective.rng = np.random.default_rng(1)
        result = numadam.minimize(objective.fun, objective.x0, jac=objective.jac,
                                  method=method, options={"lr": lr, "maxiter": 300})
        assert result.fun - objective.fmin < 0.5 * start


# ------------------------------------------------------------------------------------------------
# SciPy compatibility and validation
# ------------------------------------------------------------------------------------------------


def test_objectives_plug_into_scipy_minimize(rng):
    objective = P.make_least_squares(100, 5, 0.1, rng)
    result = scipy.optimize.minimize(objective.fun, objective.x0, jac=objective.full_jac,
                                     method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(result.x, objective.optimum, rtol=1e-7, atol=1e-9)
    result = scipy.optimize.minimize(objective.fun_and_jac, objective.x0, jac=True,
                                     method="L-BFGS-B")
    assert result.fun == pytest.approx(objective.fmin, abs=1e-8)
    result = numadam.minimize(objective.batch_fun_and_jac, objective.x0, jac=True,
                              method="adam", options={"lr": 0.05, "maxiter": 400})
    assert objective.fun(result.x) - objective.fmin < 0.05


@pytest.mark.parametrize(("call", "exception", "match"), [
    (lambda: P.make_least_squares(10, 2, 0.1, 0, batch_size=11), ValueError, "at most"),
    (lambda: P.make_least_squares(10, 2, 0.1, 0, batch_size=0), ValueError, "batch_size"),
    (lambda: P.make_least_squares(10, 2, -0.1, 0), ValueError, "noise"),
    (lambda: P.make_least_squares(0, 2), ValueError, "n_samples"),
    (lambda: P.make_logistic(10, 2, 0, l2=-1.0, batch_size=4), ValueError, "l2"),
    (lambda: P.make_sparse_logistic(10, 2, 0.0), ValueError, "min_frequency"),
    (lambda: P.LogisticRegression(np.ones((3, 2)), np.array([0.0, 2.0, 1.0]), batch_size=2),
     ValueError,
     "0 or 1"),
    (lambda: P.LeastSquares(np.ones((3, 2)), np.ones(4)), ValueError, "shape"),
])
def test_validation(call, exception, match):
    with pytest.raises(exception, match=match):
        call()


def test_batch_with_replacement_may_exceed_the_sample_count():
    objective = P.make_least_squares(10, 2, 0.1, 0, batch_size=25, replace=True)
    assert objective.batch().shape == (25,)
    assert "LeastSquares" in repr(objective)


def test_least_squares_keeps_its_own_read_only_data():  # found by a review (2026-11-30)
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((20, 3)), rng.standard_normal(20)
    objective = P.LeastSquares(A, b, batch_size=None)
    fmin = objective.fmin
    A[:] = 0.0  # the caller edits its arrays afterwards
    assert objective.fun(objective.optimum) == fmin
    with pytest.raises(ValueError, match="read-only"):
        objective.optimum[:] = 99.0
    with pytest.raises(ValueError, match="finite"):
        P.LeastSquares(np.full((4, 2), np.nan), np.ones(4))
