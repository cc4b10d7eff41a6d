"""SPSA: ``method="spsa"`` and ``jac="spsa"`` in minimize and minimize_batch. A seed makes a run
reproducible, every evaluation is counted, a pair shares its seed, the batch equals its own
minimize runs, and bad options get a clear error. No Numba compiling of its own: Python
objectives, SGD's and Adam's kernels."""

import numpy as np
import pytest

import numadam
from numadam import schedules


def sphere(x):
    return float(np.sum(x * x))


def noisy_sphere(x, seed=None):
    """``|x|^2`` plus noise; a point (minimize, an int seed) or rows (minimize_batch, one seed
    per row), with the same operations either way."""
    if np.ndim(x) == 1:
        return float(np.sum(x * x) + 0.01 * np.random.default_rng(seed).standard_normal())
    noise = np.array([np.random.default_rng(s).standard_normal() for s in seed])
    return np.sum(x * x, axis=1) + 0.01 * noise


def same_run(first, second):
    return (np.array_equal(first.x, second.x) and first.fun == second.fun
            and first.nfev == second.nfev and first.nit == second.nit
            and first.status == second.status)


@pytest.mark.parametrize("method, jac, options", [("spsa", None, {}),
                                                  ("adam", "spsa", {"lr": 0.05})])
def test_the_same_seed_gives_the_same_run(method, jac, options):
    options = {**options, "maxiter": 60}
    runs = [numadam.minimize(noisy_sphere, np.ones(5), method=method, jac=jac,
                             options={**options, "seed": seed}) for seed in (3, 3, 4)]
    assert same_run(runs[0], runs[1])
    assert not np.array_equal(runs[0].x, runs[2].x)
    # a SeedSequence is a seed like any other
    again = numadam.minimize(noisy_sphere, np.ones(5), method=method, jac=jac,
                             options={**options, "seed": np.random.SeedSequence(3)})
    assert same_run(runs[0], again)


def test_every_evaluation_is_counted_and_maxfev_stops():
    calls = []

    def counted(x):
        calls.append(1)
        return sphere(x)

    result = numadam.minimize(counted, np.ones(4), method="spsa",
                              options={"seed": 0, "maxiter": 25, "spsa_samples": 3})
    # an estimate at x0 and after each step (2 evaluations per sample), f at the answer
    assert result.nfev == len(calls) == 2 * 3 * (result.nit + 1) + 1
    assert result.nit == 25 and result.status == 0
    calls.clear()
    result = numadam.minimize(counted, np.ones(4), method="adam", jac="spsa",
                              options={"seed": 0, "maxfev": 41, "lr": 0.1})
    # 2 per estimate: the loop stops at the first count >= maxfev (42), then f at the answer
    assert result.status == 2 and not result.success
    assert result.nfev == len(calls) == 43 and result.nit == 20 and result.njev == 21


def test_both_evaluations_of_a_pair_get_the_same_seed():
    seen = []

    def recorded(x, seed=None):
        seen.append(seed)
        return sphere(x)

    numadam.minimize(recorded, np.ones(3), method="spsa",
                     options={"seed": 1, "maxiter": 10, "spsa_samples": 2})
    pairs = np.array(seen[:-1]).reshape(-1, 2)
    assert (pairs[:, 0] == pairs[:, 1]).all()
    assert len(set(pairs[:, 0].tolist())) == len(pairs)  # a new seed for every pair
    assert isinstance(seen[-1], int)  # the answer's evaluation gets its own

    def unseeded(x):  # no seed parameter: none is passed
        return sphere(x)

    assert numadam.minimize(unseeded, np.ones(3), method="spsa",
                            options={"seed": 1, "maxiter": 3}).nit == 3


def test_adam_with_the_spsa_estimate_converges_on_a_quadratic():
    scales = np.linspace(1.0, 3.0, 10)
    result = numadam.minimize(lambda x: float(np.sum(scales * x * x)), np.ones(10),
                              method="adam", jac="spsa",
                              options={"seed": 5, "lr": 0.05, "maxiter": 1500,
                                       "spsa_c": 0.1})
    assert result.success
    assert np.abs(result.x).max() < 1e-2
    assert result.fun == pytest.approx(float(np.sum(scales * result.x**2)))


def test_method_spsa_is_noisyopts_minimizespsa():
    # in one variable SPSA's estimate of x^2's gradient is 2x whatever the direction: both
    # runs are deterministic and take the same steps (noisyopt's gains, A = 0.01 * niter)
    noisyopt = pytest.importorskip("noisyopt")
    theirs = noisyopt.minimizeSPSA(lambda x, seed=None: sphere(x), np.array([1.5]), niter=40)
    ours = numadam.minimize(sphere, [1.5], method="spsa",
                            options={"maxiter": 40, "return_best": False})
    np.testing.assert_array_equal(ours.x, theirs.x)
    bounded = numadam.minimize(sphere, [1.5], method="spsa", bounds=[(0.2, 2.0)],
                               options={"maxiter": 40, "return_best": False})
    theirs = noisyopt.minimizeSPSA(lambda x, seed=None: sphere(x), np.array([1.5]), niter=40,
                                   bounds=[(0.2, 2.0)])
    np.testing.assert_array_equal(bounded.x, theirs.x)


def test_the_gain_sequences_are_spalls():
    gain = schedules.spsa(2.0, A=5.0, alpha=0.602)
    assert gain(0) == 2.0 / 6.0**0.602 and gain(9) == 2.0 / 15.0**0.602


def test_bounds_hold_at_every_evaluation_and_a_fixed_variable_stays():
    points = []

    def recorded(x):
        points.append(x.copy())
        return sphere(x - 3)

    result = numadam.minimize(recorded, [0.5, 0.5, 1.0], method="spsa",
                              bounds=[(0, 1), (0.5, 0.5), (-1, 2)],
                              options={"seed": 2, "maxiter": 50})
    points = np.array(points)
    assert (points >= [0, 0.5, -1]).all() and (points <= [1, 0.5, 2]).all()
    assert result.x[1] == 0.5 and result.jac[1] == 0


def test_float32_stays_float32():
    result = numadam.minimize(sphere, np.ones(3, np.float32), method="adam", jac="spsa",
                              options={"seed": 0, "maxiter": 20, "lr": 0.1})
    assert result.x.dtype == np.float32 and result.jac.dtype == np.float32


# jac="spsa" with SGD rather than Adam in the batch: the batch's update compiles for each rule
# in every process (seconds), and method="spsa" runs SGD's already
@pytest.mark.parametrize("method, jac, options", [
    ("spsa", None, {}),
    ("sgd", "spsa", {"lr": 0.05}),
    ("spsa", None, {"spsa_samples": 2, "maxfev": 90, "A": 3.0}),
])
def test_each_problem_of_a_batch_is_its_own_minimize_run(method, jac, options):
    X0 = np.random.default_rng(0).standard_normal((4, 6))
    options = {**options, "maxiter": 50}
    batch = numadam.minimize_batch(noisy_sphere, X0, method=method, jac=jac,
                                   options={**options, "seed": 7})
    # problem b draws as minimize with seed=SeedSequence(7).spawn(B)[b]
    for b, seed in enumerate(np.random.SeedSequence(7).spawn(4)):
        alone = numadam.minimize(noisy_sphere, X0[b], method=method, jac=jac,
                                 options={**options, "seed": seed})
        assert np.array_equal(alone.x, batch.x[b]) and alone.fun == batch.fun[b]
        assert (alone.nfev, alone.nit, alone.status) == (batch.nfev[b], batch.nit[b],
                                                         batch.status[b])
    # or one seed per problem, each as minimize takes it
    batch = numadam.minimize_batch(noisy_sphere, X0, method=method, jac=jac,
                                   options={**options, "seed": [10, 11, 12, 13]})
    alone = numadam.minimize(noisy_sphere, X0[2], method=method, jac=jac,
                             options={**options, "seed": 12})
    assert np.array_equal(alone.x, batch.x[2]) and alone.nfev == batch.nfev[2]


def test_problems_of_a_batch_stop_alone():
    # Δ·x0 is never 0 here: an estimate of a gradient of 0 at x0 would meet gtol at once
    X0 = np.tile([1.0, 2.0, 4.0], (3, 1))
    result = numadam.minimize_batch(
        lambda X: np.sum(X * X, axis=1), X0, method="sgd", jac="spsa",
        options={"seed": 0, "lr": np.array([0.1, 0.1, 1e-9]), "gtol": 1e-3,
                 "maxiter": 400, "spsa_c": 1e-3})
    assert result.status.tolist() == [0, 0, 1]
    assert result.nit[2] == 400 and result.nit[0] < 400


def test_show_options_lists_spsa():
    text = numadam.show_options("spsa", disp=False)
    for name in ("a :", "A :", "alpha :", "seed :", "spsa_samples :", "spsa_c :",
                 "spsa_gamma :"):
        assert name in text
    assert "spsa_samples" in numadam.show_options("adam", disp=False)


BAD_OPTIONS = [
    ({"spsa_samples": 0}, ValueError, "spsa_samples must be a positive integer"),
    ({"spsa_samples": 1.5}, ValueError, "spsa_samples must be a positive integer"),
    ({"spsa_samples": True}, ValueError, "spsa_samples must be a positive integer"),
    ({"spsa_c": 0.0}, ValueError, "spsa_c must be a positive finite"),
    ({"spsa_c": np.inf}, ValueError, "spsa_c must be a positive finite"),
    ({"spsa_c": "big"}, TypeError, "spsa_c must be a real number"),
    ({"spsa_gamma": -0.1}, ValueError, "spsa_gamma must be a non-negative"),
    ({"seed": -1}, ValueError, "seed must be None"),
    ({"seed": 1.5}, ValueError, "seed must be None"),
    ({"seed": "x"}, ValueError, "seed must be None"),
    ({"a": -1.0}, ValueError, "Invalid a"),
    ({"A": -1.0}, ValueError, "Invalid A"),
    ({"alpha": np.nan}, ValueError, "Invalid alpha"),
    ({"schedule": "cosine"}, ValueError, "schedule option cannot be set"),
]


@pytest.mark.parametrize("options, exception, match", BAD_OPTIONS)
def test_bad_options_name_themselves(options, exception, match):
    with pytest.raises(exception, match=match):
        numadam.minimize(sphere, np.ones(2), method="spsa", options={"maxiter": 2, **options})


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "spsa", "jac": "2-point"}, "jac must be None or 'spsa'"),
    ({"method": "spsa", "jac": lambda x: 2 * x}, "jac must be None or 'spsa'"),
    ({"method": "adam", "jac": "SPSA"}, "jac must be a callable"),
])
def test_bad_jac(kwargs, match):
    with pytest.raises(ValueError, match=match):
        numadam.minimize(sphere, np.ones(2), options={"maxiter": 2}, **kwargs)


@pytest.mark.parametrize("options, match", [
    ({"seed": [1, 2]}, "sequence of B = 3 seeds"),
    ({"seed": 2.5}, "seed must be None"),
    ({"a": np.ones(3)}, "a as one value for the whole batch"),
    ({"spsa_samples": 0}, "spsa_samples must be a positive integer"),
])
def test_bad_batch_options(options, match):
    with pytest.raises(ValueError, match=match):
        numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), np.ones((3, 2)),
                               method="spsa", options={"maxiter": 2, **options})


def test_return_best_is_off_with_spsa_estimates():
    # the loop's values are noisy means there: the lowest would be the luckiest draw. In one
    # variable the estimate of x^2's gradient is exact, and lr = 1.5 doubles |x| every step
    options = {"lr": 1.5, "maxiter": 5, "seed": 0}
    last = numadam.minimize(sphere, [1.0], method="sgd", jac="spsa", options=options)
    assert last.x[0] == pytest.approx(-32.0) and last.status == 4
    best = numadam.minimize(sphere, [1.0], method="sgd", jac="spsa",
                            options={**options, "return_best": True})
    assert best.x[0] == 1.0


def test_numadam_spsa_is_a_scipy_custom_method():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    options = {"seed": 1, "maxiter": 30}
    through_scipy = scipy_optimize.minimize(sphere, np.ones(3), method=numadam.spsa,
                                            options=options)
    assert same_run(through_scipy, numadam.minimize(sphere, np.ones(3), method="spsa",
                                                    options=options))
