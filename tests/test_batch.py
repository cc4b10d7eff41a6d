"""minimize_batch and multistart: every problem of a batch equals its own minimize run bitwise,
problems stop alone, and bad input gets a clear error."""

import numpy as np
import pytest
from numba import njit
from scipy.optimize import Bounds, OptimizeWarning

import numadam
from numadam import functions
from numadam._minimize import METHODS

B, SAMPLES = 6, 16


@njit
def decay_loss(x, t, y):
    r = x[0] * np.exp(-x[1] * t) - y
    return 0.5 * np.sum(r * r)


@njit
def decay_grad(x, t, y):
    e = np.exp(-x[1] * t)
    r = x[0] * e - y
    out = np.empty(2)
    out[0] = np.sum(r * e)
    out[1] = np.sum(r * (-x[0] * t * e))
    return out


def vectorized_loss(X, T, Y):
    """Row by row with the same operations as the single-problem Python function."""
    return np.array([decay_loss.py_func(X[i], T[i], Y[i]) for i in range(X.shape[0])])


def vectorized_grad(X, T, Y):
    return np.stack([decay_grad.py_func(X[i], T[i], Y[i]) for i in range(X.shape[0])])


#: the decay fit in each of minimize_batch's two forms
OBJECTIVES = {"jitted": (decay_loss, decay_grad), "vectorized": (vectorized_loss, vectorized_grad)}


def decay_data(rng, b=B):
    t = np.tile(np.linspace(0, 2, SAMPLES), (b, 1))
    a, k = rng.uniform(0.5, 2, b), rng.uniform(0.5, 3, b)
    y = a[:, None] * np.exp(-k[:, None] * t) + 0.01 * rng.standard_normal((b, SAMPLES))
    return t, y, k


def _assert_each_problem_is_its_own_minimize(batch, fun, jac, X0, T, Y, method, options,
                                             bounds=None):
    for b in range(X0.shape[0]):
        row_bounds = None if bounds is None else Bounds(bounds[0][b], bounds[1][b])
        single = numadam.minimize(fun, X0[b], args=(T[b], Y[b]), jac=jac, method=method,
                                  bounds=row_bounds, options=options)
        np.testing.assert_array_equal(batch.x[b], single.x)
        assert batch.fun[b] == single.fun
        assert (batch.nit[b], batch.status[b]) == (single.nit, single.status), b
        assert batch.nfev[b] == single.nfev and batch.message[b] == single.message


@pytest.mark.parametrize("method", list(METHODS))
def test_jitted_batch_equals_separate_minimize_runs_bitwise(method, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    options = dict(lr=0.02, gtol=1e-4, maxiter=150)
    batch = numadam.minimize_batch(decay_loss, X0, method=method, jac=decay_grad,
                                   options=options, batch_args=(T, Y))
    assert batch.compiled and batch.x.shape == (B, 2) and batch.method == method
    _assert_each_problem_is_its_own_minimize(batch, decay_loss, decay_grad, X0, T, Y, method,
                                             options)


@pytest.mark.parametrize("method, options", [
    ("nesterov", dict(lr=0.01, momentum=0.9)),  # a flag among the constants
    ("nadam", dict(lr=0.02)),  # a scalar carried across steps
    ("adam", dict(lr=np.linspace(0.01, 0.05, B), gtol=1e-4)),  # one setting per problem
])
def test_jitted_batch_from_the_disk_cache_equals_the_specialized_one(method, options, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    runs = [numadam.minimize_batch(decay_loss, X0, method=method, jac=decay_grad,
                                   options=dict(options, maxiter=150, compiled=mode),
                                   batch_args=(T, Y))
            for mode in (True, "specialize")]
    assert runs[0].compiled and runs[1].compiled
    for name in ("x", "fun", "jac", "nit", "nfev", "status"):
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


@njit("float64(float64[::1], float64[::1], float64[::1])")
def declared_decay_loss(x, t, y):
    return decay_loss(x, t, y)


@njit("float64[::1](float64[::1], float64[::1], float64[::1])")
def declared_decay_grad(x, t, y):
    return decay_grad(x, t, y)


def test_jitted_functions_with_declared_signatures_run_compiled(rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    runs = [numadam.minimize_batch(fun, X0, jac=jac, options=dict(lr=0.02, maxiter=50),
                                   batch_args=(T, Y))
            for fun, jac in ((declared_decay_loss, declared_decay_grad),
                             (decay_loss, decay_grad))]
    assert runs[0].compiled
    np.testing.assert_array_equal(runs[0].x, runs[1].x)


def test_a_fresh_process_loads_the_batch_run_from_the_disk_cache(run_twice):
    """As minimize's compiled loop: a new process compiles only the user's functions; the batch
    run and the step table come from Numba's cache (written by the first process at the
    latest)."""
    runs = run_twice(
        "import numpy as np, numadam\n"
        "from numadam import _batch\n"
        "from numadam.functions import rosen, rosen_der\n"
        "X0 = np.tile([-1.2, 1.0], (3, 1))\n"
        "r = numadam.minimize_batch(rosen, X0, jac=rosen_der, method='nadam',"
        " options={'maxiter': 5})\n"
        "(run,) = _batch._RUNS.values()\n"
        "table = _batch.step_table(_batch.METHODS['nadam'][0].variant.rule)\n"
        "print(r.compiled, *(sum(getattr(f.stats, k).values()) for f in (run, table)"
        " for k in ('cache_hits', 'cache_misses')))\n")
    assert runs[1] == ["True", "1", "0", "1", "0"]  # the second process: hits, no compile


@pytest.mark.parametrize("method", list(METHODS))
def test_vectorized_batch_equals_separate_minimize_runs_bitwise(method, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    options = dict(lr=0.02, gtol=1e-4, maxiter=150)
    batch = numadam.minimize_batch(vectorized_loss, X0, method=method, jac=vectorized_grad,
                                   options=options, batch_args=(T, Y))
    assert not batch.compiled
    _assert_each_problem_is_its_own_minimize(batch, decay_loss.py_func, decay_grad.py_func, X0,
                                             T, Y, method, options)


def test_jac_true_and_finite_differences_in_the_vectorized_form(rng):
    T, Y, k = decay_data(rng)
    X0 = np.ones((B, 2))
    both = numadam.minimize_batch(lambda X, T, Y: (vectorized_loss(X, T, Y),
                                                   vectorized_grad(X, T, Y)),
                                  X0, jac=True, options=dict(lr=0.05, maxiter=400),
                                  batch_args=(T, Y))
    plain = numadam.minimize_batch(vectorized_loss, X0, jac=vectorized_grad,
                                   options=dict(lr=0.05, maxiter=400), batch_args=(T, Y))
    np.testing.assert_array_equal(both.x, plain.x)
    for scheme in ("2-point", "3-point"):
        approx = numadam.minimize_batch(vectorized_loss, X0, jac=scheme,
                                        options=dict(lr=0.05, maxiter=400), batch_args=(T, Y))
        np.testing.assert_allclose(approx.x, plain.x, rtol=1e-4)
        assert (approx.nfev > plain.nfev).all()  # the differences cost evaluations


def test_a_converged_problem_freezes(rng):
    T, Y, _ = decay_data(rng)
    X0 = np.ones((B, 2))
    short = numadam.minimize_batch(decay_loss, X0, jac=decay_grad, batch_args=(T, Y),
                                   options=dict(lr=0.05, gtol=1e-5, maxiter=200))
    long = numadam.minimize_batch(decay_loss, X0, jac=decay_grad, batch_args=(T, Y),
                                  options=dict(lr=0.05, gtol=1e-5, maxiter=3000))
    done = short.status == 0
    assert done.any() and (~done).any()  # some problems stop early, others run on
    np.testing.assert_array_equal(long.x[done], short.x[done])
    np.testing.assert_array_equal(long.nit[done], short.nit[done])
    assert (long.nit[~done] > short.nit[~done]).all()


@pytest.mark.parametrize("form", ["jitted", "vectorized"])
def test_per_problem_learning_rates(form, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    lr = np.array([0.0, 0.01, 0.02, 0.0, 0.05, 0.03])
    fun, jac = OBJECTIVES[form]
    batch = numadam.minimize_batch(fun, X0, jac=jac, batch_args=(T, Y),
                                   options=dict(lr=lr, maxiter=50))
    np.testing.assert_array_equal(batch.x[lr == 0], X0[lr == 0])  # lr = 0 stays at x0
    assert not np.array_equal(batch.x[lr > 0], X0[lr > 0])
    single = numadam.minimize(decay_loss, X0[4], args=(T[4], Y[4]), jac=decay_grad,
                              options=dict(lr=0.05, maxiter=50))
    np.testing.assert_array_equal(batch.x[4], single.x)


def test_per_problem_bounds(rng):
    T, Y, _ = decay_data(rng)
    X0 = np.ones((B, 2))
    lower = np.tile([0.0, 0.0], (B, 1))
    upper = np.tile([3.0, 3.0], (B, 1))
    upper[:, 1] = np.linspace(0.6, 3.0, B)  # a different cap on k for each problem
    options = dict(lr=0.05, maxiter=300)
    batch = numadam.minimize_batch(decay_loss, X0, jac=decay_grad, batch_args=(T, Y),
                                   bounds=(lower, upper), options=options)
    assert (batch.x >= lower).all() and (batch.x <= upper).all()
    assert batch.x[0, 1] == upper[0, 1]  # the tightest cap is active
    _assert_each_problem_is_its_own_minimize(batch, decay_loss, decay_grad, X0, T, Y, "adam",
                                             options, bounds=(lower, upper))
    shared = numadam.minimize_batch(decay_loss, X0, jac=decay_grad, batch_args=(T, Y),
                                    bounds=[(0, 3), (0, 0.6)], options=options)
    assert (shared.x[:, 1] <= 0.6).all()


@pytest.mark.parametrize("form", ["jitted", "vectorized"])
def test_one_nan_problem_stops_alone(form, rng):
    T, Y, _ = decay_data(rng)
    Y_bad = Y.copy()
    Y_bad[2, 5] = np.nan
    X0 = np.ones((B, 2))
    fun, jac = OBJECTIVES[form]
    options = dict(lr=0.05, maxiter=200)
    good = numadam.minimize_batch(fun, X0, jac=jac, batch_args=(T, Y), options=options)
    bad = numadam.minimize_batch(fun, X0, jac=jac, batch_args=(T, Y_bad), options=options)
    assert bad.status[2] == 3 and not bad.success[2] and bad.nit[2] == 0
    np.testing.assert_array_equal(bad.x[2], X0[2])  # its last finite iterate
    others = np.arange(B) != 2
    np.testing.assert_array_equal(bad.x[others], good.x[others])
    assert (bad.status[others] == 0).all()


def test_callback_sees_the_batch_and_can_stop_it(rng):
    T, Y, _ = decay_data(rng)
    seen = []

    def callback(intermediate):
        seen.append(intermediate.nit.copy())
        if len(seen) == 3:
            raise StopIteration

    batch = numadam.minimize_batch(vectorized_loss, np.ones((B, 2)), jac=vectorized_grad,
                                   batch_args=(T, Y), callback=callback,
                                   options=dict(lr=0.05, maxiter=100, callback_every=10))
    assert [int(nit.max()) for nit in seen] == [10, 20, 30]
    assert (batch.status == 99).all() and (batch.nit == 30).all()


def test_shared_args_and_no_batch_args():
    @njit
    def shifted(x, c):
        return 0.5 * np.sum((x - c) ** 2)

    @njit
    def shifted_grad(x, c):
        return x - c

    c = np.array([1.0, -2.0, 3.0])
    batch = numadam.minimize_batch(shifted, np.zeros((4, 3)), args=(c,), jac=shifted_grad,
                                   options=dict(lr=0.1, gtol=1e-8, maxiter=5000))
    assert batch.success.all()
    np.testing.assert_allclose(batch.x, np.tile(c, (4, 1)), atol=1e-7)


X2 = np.ones((3, 2))
ERRORS = [
    (dict(x0=np.ones(3)), ValueError, r"x0 must be 2-D, shape \(B, n\)"),
    (dict(x0=np.ones((0, 2))), ValueError, "at least one problem"),
    (dict(x0=np.array([[1.0, np.nan]])), ValueError, "x0 must be finite"),
    (dict(batch_args=(np.ones((4, 5)),)), ValueError, r"batch_args\[0\] must have first axis B"),
    (dict(options=dict(lr=np.array([0.1, 0.2]))), ValueError,
     "per-problem hyperparameter lr must have length B = 3"),
    (dict(options=dict(amsgrad=np.array([True, False, True]))), ValueError,
     "amsgrad decides which state vectors exist"),
    (dict(options=dict(lr=-1.0)), ValueError, "Invalid learning rate"),
    (dict(options=dict(maxiter=-1)), ValueError, "maxiter must be a non-negative integer"),
    (dict(options=dict(callback_every=0)), ValueError, "callback_every must be a positive"),
    (dict(bounds=Bounds(np.zeros(3), np.ones(3))), ValueError, r"lower bounds must have shape"),
    (dict(bounds=[(0, 1)]), ValueError, "one \\(lo, hi\\) pair per variable"),
    (dict(bounds=Bounds([1, 1], [0, 0])), ValueError, "lower <= upper"),
    (dict(fun=lambda X: np.zeros(len(X) + 1)), ValueError,
     r"fun must return an array of shape \(B',\) = \(3,\)"),
    (dict(jac=lambda X: np.zeros((len(X), 5))), ValueError,
     r"jac must return an array of shape \(B', n\) = \(3, 2\)"),
    (dict(method="bfgs"), ValueError, "Unknown solver"),
    (dict(options=dict(compiled="yes")), ValueError,
     "compiled must be True, False or 'specialize', got 'yes'"),
]


@pytest.mark.parametrize("changes, exception, match", ERRORS)
def test_bad_input_gets_a_clear_error(changes, exception, match):
    arguments = dict(fun=lambda X: 0.5 * np.sum(X * X, axis=1), x0=X2.copy(),
                     jac=lambda X: X.copy(), options=dict(maxiter=5))
    arguments.update(changes)
    before = np.array(arguments["x0"], copy=True)
    with pytest.raises(exception, match=match):
        numadam.minimize_batch(**arguments)
    np.testing.assert_array_equal(arguments["x0"], before)  # the caller's data untouched


def test_unknown_options_warn_as_in_scipy():
    with pytest.warns(OptimizeWarning, match="Unknown solver options: colour"):
        numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), X2, jac=lambda X: 2 * X,
                               options=dict(maxiter=2, colour="red"))


def test_multistart_finds_the_global_minimum_of_styblinski_tang():
    """2-D Styblinski-Tang: three local minima beside the global one; starts drawn by Latin
    hypercube in the usual box."""
    result = numadam.multistart(functions.styblinski_tang, [(-5, 5), (-5, 5)], 32,
                                jac=functions.styblinski_tang_der, rng=0,
                                options=dict(lr=0.05, gtol=1e-8, maxiter=5000))
    np.testing.assert_allclose(result.x, functions.STYBLINSKI_TANG_ARGMIN, atol=1e-6)
    assert result.fun == pytest.approx(2 * functions.STYBLINSKI_TANG_MIN_PER_DIM)
    assert result.success and result.batch.x.shape == (32, 2)
    ends = np.round(result.batch.x, 2)
    assert len({tuple(end) for end in ends}) > 1  # the starts found several minima


@pytest.mark.parametrize("bounds, n_starts, match", [
    ([(-5, 5), (1, 1)], 4, "finite box with lower < upper"),
    ([(-5, 5), (0, np.inf)], 4, "finite box"),
    ([(-5, 5)], 0, "n_starts must be a positive integer"),
])
def test_multistart_rejects_bad_input(bounds, n_starts, match):
    with pytest.raises(ValueError, match=match):
        numadam.multistart(functions.styblinski_tang, bounds, n_starts,
                           jac=functions.styblinski_tang_der)


@njit
def decay_value_and_grad(x, t, y):
    return decay_loss(x, t, y), decay_grad(x, t, y)


def test_jitted_value_and_gradient_in_one_function(rng):
    T, Y, _ = decay_data(rng)
    options = dict(lr=0.05, gtol=1e-5, maxiter=500)
    both = numadam.minimize_batch(decay_value_and_grad, np.ones((B, 2)), jac=True,
                                  options=options, batch_args=(T, Y))
    separate = numadam.minimize_batch(decay_loss, np.ones((B, 2)), jac=decay_grad,
                                      options=options, batch_args=(T, Y))
    assert both.compiled
    np.testing.assert_array_equal(both.x, separate.x)
    np.testing.assert_array_equal(both.nit, separate.nit)


# -- jac_out: the gradient written into an array the loop hands over ------------------------------


@njit
def decay_grad_out(x, t, y, out):
    out[:] = decay_grad(x, t, y)


@njit
def decay_value_and_grad_out(x, t, y, out):
    out[:] = decay_grad(x, t, y)
    return decay_loss(x, t, y)


def vectorized_grad_out(X, T, Y, out):
    out[:] = vectorized_grad(X, T, Y)


def vectorized_value_and_grad_out(X, T, Y, out):
    out[:] = vectorized_grad(X, T, Y)
    return vectorized_loss(X, T, Y)


@pytest.mark.parametrize("form, fun, jac, writing", [
    ("jitted", decay_loss, decay_grad, (decay_loss, decay_grad_out)),
    ("jitted", decay_loss, decay_grad, (decay_value_and_grad_out, True)),
    ("vectorized", vectorized_loss, vectorized_grad, (vectorized_loss, vectorized_grad_out)),
    ("vectorized", vectorized_loss, vectorized_grad, (vectorized_value_and_grad_out, True)),
])
def test_jac_out_equals_returning_the_gradient_bitwise(form, fun, jac, writing, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    options = dict(lr=0.05, gtol=1e-5, maxiter=400)
    returning = numadam.minimize_batch(fun, X0, jac=jac, options=options, batch_args=(T, Y))
    written = numadam.minimize_batch(writing[0], X0, jac=writing[1], batch_args=(T, Y),
                                     options=dict(options, jac_out=True))
    assert written.compiled == (form == "jitted")
    for field in ("x", "fun", "jac", "nit", "nfev", "status"):
        np.testing.assert_array_equal(written[field], returning[field])
