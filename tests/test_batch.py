"""minimize_batch and multistart: every problem of a batch equals its own minimize run bitwise,
problems stop alone, and bad input gets a clear error."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from scipy.optimize import Bounds, OptimizeWarning

import numadam
from numadam import _options, functions
from tests.fuzz_inputs import CHEAP, assert_sound, odd_values, outcome
from tests.rule_table import ELEMENTWISE, front_end_methods

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
                                             bounds=None, callback=None):
    for b in range(X0.shape[0]):
        row_bounds = None if bounds is None else Bounds(bounds[0][b], bounds[1][b])
        single = numadam.minimize(fun, X0[b], args=(T[b], Y[b]), jac=jac, method=method,
                                  bounds=row_bounds, options=options, callback=callback)
        np.testing.assert_array_equal(batch.x[b], single.x)
        assert batch.fun[b] == single.fun
        assert (batch.nit[b], batch.status[b]) == (single.nit, single.status), b
        assert batch.nfev[b] == single.nfev and batch.message[b] == single.message


#: The methods whose jitted batch run (compiled per method, ~10 s each) the fast tests check:
#: the plain update, a scalar carried across steps, a flag among the constants, schedule-free's
#: evaluation point (adam's and schedule-free's also serve test_maxfev_...). Every method runs in
#: the vectorized form below; all of them jitted under ``-m slow``.
JITTED_SAMPLE = ["adam", "nadam", "nesterov", "schedulefree_adamw"]


def _sampled(methods, sample):
    """``methods`` as parameters, those outside ``sample`` marked slow."""
    return [method if method in sample else pytest.param(method, marks=pytest.mark.slow)
            for method in methods]


@pytest.mark.parametrize("method", _sampled(ELEMENTWISE, JITTED_SAMPLE))
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
    # the specialized run is compiled afresh for each (~12 s): one fast, two under -m slow
    pytest.param("nesterov", dict(lr=0.01, momentum=0.9), marks=pytest.mark.slow),  # a flag
    pytest.param("nadam", dict(lr=0.02), marks=pytest.mark.slow),  # a carried scalar
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


def test_jitted_functions_with_declared_signatures_run_compiled(rng):
    # declared here, not at the top: a signature compiles when the module is imported, in
    # every pytest worker that collects this file
    @njit("float64(float64[::1], float64[::1], float64[::1])")
    def declared_decay_loss(x, t, y):
        return decay_loss(x, t, y)

    @njit("float64[::1](float64[::1], float64[::1], float64[::1])")
    def declared_decay_grad(x, t, y):
        return decay_grad(x, t, y)

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
        "from numadam import _batch_loops, _options\n"
        "from numadam._step_tables import step_table\n"
        "from numadam.functions import rosen, rosen_der\n"
        "X0 = np.tile([-1.2, 1.0], (3, 1))\n"
        "r = numadam.minimize_batch(rosen, X0, jac=rosen_der, method='nadam',"
        " options={'maxiter': 5})\n"
        "(run,) = _batch_loops._RUNS.values()\n"
        "table = step_table(_options.METHODS['nadam'][0].variant.rule)\n"
        "print(r.compiled, *(sum(getattr(f.stats, k).values()) for f in (run, table)"
        " for k in ('cache_hits', 'cache_misses')))\n")
    assert runs[1] == ["True", "1", "0", "1", "0"]  # the second process: hits, no compile


def general_loop(intermediate_result):
    """A callback that does nothing: it selects minimize's general Python loop, the one every
    other loop is checked against (and whose kernels test_kernels.py compiles anyway)."""


@pytest.mark.parametrize("method", front_end_methods("vectorized", ELEMENTWISE))
def test_vectorized_batch_equals_separate_minimize_runs_bitwise(method, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    options = dict(lr=0.02, gtol=1e-4, maxiter=150)
    batch = numadam.minimize_batch(vectorized_loss, X0, method=method, jac=vectorized_grad,
                                   options=options, batch_args=(T, Y))
    assert not batch.compiled
    _assert_each_problem_is_its_own_minimize(batch, decay_loss.py_func, decay_grad.py_func, X0,
                                             T, Y, method, options, callback=general_loop)


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
    (dict(options=dict(maxiter=-1)), ValueError, "maxiter must be a non-negative number"),
    (dict(options=dict(callback_every=0)), ValueError, "callback_every must be a positive"),
    (dict(bounds=Bounds(np.zeros(3), np.ones(3))), ValueError, r"lower bounds must have shape"),
    (dict(bounds=[(0, 1)]), ValueError, "one \\(lo, hi\\) pair per variable"),
    (dict(bounds=Bounds([1, 1], [0, 0])), ValueError, "An upper bound is less than"),
    (dict(fun=lambda X: np.zeros(len(X) + 1)), ValueError,
     r"fun must return an array of shape \(B',\) = \(3,\)"),
    (dict(jac=lambda X: np.zeros((len(X), 5))), ValueError,
     r"jac must return an array of shape \(B', n\) = \(3, 2\)"),
    (dict(method="bfgs"), ValueError, "Unknown solver"),
    (dict(options=dict(maximize=np.array([False, True, False]))), ValueError,
     "maximize must be one value for the whole batch"),
    (dict(method="sgd", options=dict(momentum=np.array([0.0, 0.9, 0.9]))), ValueError,
     r"per-problem values of \['momentum'\] must keep the same state vectors"),
    (dict(options=dict(return_best="no")), TypeError, "return_best must be True or False"),
    (dict(options=dict(maxiter=np.inf)), ValueError, "maxiter=inf needs a tolerance"),
    (dict(bounds=[(-np.inf, -np.inf), (0, 1)]), ValueError, "room for finite values"),
    (dict(options=dict(compiled="yes")), ValueError,
     "compiled must be True, False or 'specialize', got 'yes'"),
    (dict(options=dict(maxfev=-1)), ValueError, "maxfev must be a non-negative number"),
    (dict(options=dict(maxfev=float("nan"))), ValueError, "maxfev must be a non-negative number"),
    (dict(options=dict(maxiter=np.inf, maxfev=np.inf)), ValueError,
     "maxiter=inf needs a tolerance"),
    (dict(options=dict(disp="yes")), TypeError, "disp must be True or False"),
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


# Found by a review (2026-11-30): each case below failed before its fix ---------------------


@pytest.mark.parametrize("method", front_end_methods("vectorized", ELEMENTWISE))
def test_one_variable_problems_run(method):
    X0 = np.array([[3.0], [-2.0], [0.5]])
    batch = numadam.minimize_batch(lambda X: 0.5 * np.sum(X * X, axis=1), X0,
                                   jac=lambda X: X.copy(), method=method,
                                   options=dict(maxiter=20))
    for b in range(3):
        single = numadam.minimize(lambda x: 0.5 * float(x @ x), X0[b], jac=lambda x: x.copy(),
                                  method=method, options=dict(maxiter=20),
                                  callback=general_loop)
        np.testing.assert_array_equal(batch.x[b], single.x)


@njit
def square(x, c):
    return 0.5 * np.sum((x - c) ** 2)


@njit
def square_value_and_grad(x, c):
    return 0.5 * np.sum((x - c) ** 2), x - c


@njit
def square_value_grad_out(x, c, out):
    for i in range(x.shape[0]):
        out[i] = x[i] - c[i]
    return 0.5 * np.sum((x - c) ** 2)


@njit
def square_emptying_x(x, c):
    value = 0.5 * np.sum((x - c) ** 2)
    x[:] = -100.0  # works on its argument in place
    return value


@njit
def square_grad(x, c):
    return x - c


@pytest.mark.parametrize("fun, jac, jac_out", [
    (square_value_and_grad, True, False),
    # each form compiles schedule-free's batch run and compiled loop afresh; the forms
    # themselves are checked with Adam (test_jac_out_... and test_vectorized_functions_...)
    pytest.param(square_value_grad_out, True, True, marks=pytest.mark.slow),
    pytest.param(square_emptying_x, square_grad, False, marks=pytest.mark.slow)])
def test_schedule_free_jitted_forms_end_at_minimizes_point(fun, jac, jac_out):
    X0, C = np.zeros((2, 2)), np.array([[1.0, 2.0], [-1.0, 0.5]])
    options = dict(maxiter=30, jac_out=jac_out)
    batch = numadam.minimize_batch(fun, X0, jac=jac, method="schedulefree_adamw",
                                   options=options, batch_args=(C,))
    assert batch.compiled
    for b in range(2):
        single = numadam.minimize(fun, X0[b], args=(C[b],), jac=jac,
                                  method="schedulefree_adamw", options=options)
        np.testing.assert_array_equal(batch.x[b], single.x)
        np.testing.assert_array_equal(batch.jac[b], single.jac)


@njit
def square_nan_at(x, c, poison):
    """0.5 |x - c|^2, but NaN at the point ``poison`` exactly."""
    if x[0] == poison[0] and x[1] == poison[1]:
        return np.nan
    return 0.5 * np.sum((x - c) ** 2)


@njit
def square_grad_of_poisoned(x, c, poison):
    return x - c


def test_schedule_free_non_finite_at_the_evaluation_point_is_status_3_as_minimize():
    X0, C = np.zeros((2, 2)), np.array([[1.0, 2.0], [-1.0, 0.5]])
    options = dict(maxiter=30)
    clean = numadam.minimize_batch(square_nan_at, X0, jac=square_grad_of_poisoned,
                                   args=(np.full(2, 7.0),),
                                   method="schedulefree_adamw", options=options,
                                   batch_args=(C,))
    # problem 0's evaluation point poisoned: its value there is NaN, problem 1's is not
    poison = np.array([clean.x[0], [7.0, 7.0]])
    vectorized = (lambda X, C, P: np.array([square_nan_at(x, c, p) for x, c, p in zip(X, C, P)]),
                  lambda X, C, P: X - C)
    for fun, jac in ((square_nan_at, square_grad_of_poisoned), vectorized):
        batch = numadam.minimize_batch(fun, X0, jac=jac, method="schedulefree_adamw",
                                       options=options, batch_args=(C, poison))
        assert batch.status.tolist() == [3, 0]
        assert np.isfinite(batch.fun).all()
        for b in range(2):
            single = numadam.minimize(square_nan_at, X0[b], args=(C[b], poison[b]),
                                      jac=square_grad_of_poisoned,
                                      method="schedulefree_adamw", options=options)
            assert batch.status[b] == single.status
            np.testing.assert_array_equal(batch.x[b], single.x)
            assert batch.fun[b] == single.fun


def test_vectorized_functions_editing_their_points_change_nothing():
    C = np.array([[1.0, 2.0], [3.0, 4.0]])

    def fun(X, C):
        X -= C  # in place on what it receives
        return 0.5 * np.sum(X * X, axis=1)

    def jac(X, C):
        return X - C

    result = numadam.minimize_batch(fun, np.zeros((2, 2)), jac=jac, batch_args=(C,),
                                    options=dict(maxiter=0))
    np.testing.assert_array_equal(result.x, np.zeros((2, 2)))
    np.testing.assert_array_equal(result.jac, -C)


def test_multistart_maximizing_keeps_the_highest_value():
    def fun(X):  # a local maximum of 0.5 at x0 = -1, the global one of 1 at x0 = 2
        return np.where(X[:, 0] > 0.5, 1.0 - (X[:, 0] - 2) ** 2, 0.5 - (X[:, 0] + 1) ** 2) - (
            X[:, 1] ** 2)

    def jac(X):
        return np.stack([np.where(X[:, 0] > 0.5, -2 * (X[:, 0] - 2), -2 * (X[:, 0] + 1)),
                         -2 * X[:, 1]], axis=1)

    result = numadam.multistart(fun, [(-3, 3), (-1, 1)], 16, jac=jac, rng=0,
                                options=dict(maximize=True, lr=0.05, maxiter=500))
    assert result.fun == result.batch.fun.max() and abs(result.x[0] - 2) < 1e-3


@njit
def square_returning_array(x, c):
    return (x - c) ** 2


@njit
def square_grad_2d(x, c):
    return (x - c).reshape(1, -1)


@pytest.mark.parametrize("fun, jac, match", [
    (square_returning_array, square_grad, "fun must return a scalar"),
    (square, square_grad_2d, r"jac must return an array of shape \(2,\)"),
])
def test_jitted_functions_returning_the_wrong_shape_get_a_clear_error(fun, jac, match):
    with pytest.raises(ValueError, match=match):
        numadam.minimize_batch(fun, np.zeros((2, 2)), jac=jac, batch_args=(np.ones((2, 2)),),
                               options=dict(maxiter=3))


@pytest.mark.parametrize("scheme", ["2-point", "3-point"])
def test_finite_differences_stay_in_the_bounds_and_equal_minimizes(scheme):
    lower, upper = np.array([0.0, 0.0]), np.array([1.0, 1.0])

    def fun_row(x):
        if (x < lower).any() or (x > upper).any():
            raise AssertionError(f"evaluated outside the box at {x}")
        return float(np.sqrt(1 - x[0]) + 0.1 * x[0] ** 2 + (x[1] - 0.45) ** 2)

    def fun(X):
        return np.array([fun_row(x) for x in X])

    X0 = np.array([[0.2, 0.9], [0.99999999, 0.0], [0.5, 1.0]])
    options = dict(lr=0.01, maxiter=60)
    batch = numadam.minimize_batch(fun, X0, jac=scheme, bounds=Bounds(lower, upper),
                                   options=options)
    for b in range(3):
        single = numadam.minimize(fun_row, X0[b], jac=scheme, bounds=Bounds(lower, upper),
                                  options=options)
        np.testing.assert_array_equal(batch.x[b], single.x)
        assert (batch.nit[b], batch.status[b]) == (single.nit, single.status)


def test_a_variable_fixed_by_its_bounds_gets_a_zero_difference():
    X0 = np.array([[0.5, 0.5], [0.2, 0.7]])
    bounds = (np.array([[0.5, 0.0], [0.0, 0.0]]), np.array([[0.5, 1.0], [1.0, 1.0]]))
    result = numadam.minimize_batch(lambda X: np.sum((X - 3.0) ** 2, axis=1), X0,
                                    bounds=bounds, options=dict(lr=0.05, maxiter=50))
    assert result.jac[0, 0] == 0.0 and result.x[0, 0] == 0.5 and (result.status == 0).all()


def test_a_scalar_bounds_object_is_shared_by_every_variable():
    result = numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), np.ones((3, 2)),
                                    jac=lambda X: 2 * X, bounds=Bounds(-1, 1),
                                    options=dict(maxiter=3))
    single = numadam.minimize(lambda x: float(x @ x), np.ones(2), jac=lambda x: 2 * x,
                              bounds=Bounds(-1, 1), options=dict(maxiter=3))
    np.testing.assert_array_equal(result.x[0], single.x)


def test_a_pair_valued_hyperparameter_given_as_an_array_is_one_pair():
    X0 = np.ones((3, 2))
    as_array = numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), X0, jac=lambda X: 2 * X,
                                      method="rprop", options=dict(etas=np.array([0.4, 1.3]),
                                                                   maxiter=5))
    as_tuple = numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), X0, jac=lambda X: 2 * X,
                                      method="rprop", options=dict(etas=(0.4, 1.3), maxiter=5))
    np.testing.assert_array_equal(as_array.x, as_tuple.x)


def test_batch_args_as_a_list_or_in_the_other_byte_order(rng):
    T, Y, _ = decay_data(rng, b=2)
    options = dict(lr=0.05, maxiter=50)
    plain = numadam.minimize_batch(decay_loss, np.ones((2, 2)), jac=decay_grad,
                                   batch_args=(T, Y), options=options)
    as_list = numadam.minimize_batch(decay_loss, np.ones((2, 2)), jac=decay_grad,
                                     batch_args=[T, Y], options=options)
    swapped = numadam.minimize_batch(decay_loss, np.ones((2, 2)), jac=decay_grad,
                                     batch_args=(T.astype(">f8"), Y.astype(">f8")),
                                     options=options)
    np.testing.assert_array_equal(as_list.x, plain.x)
    np.testing.assert_array_equal(swapped.x, plain.x)


def test_finite_differences_count_gradient_evaluations_as_minimize():
    batch = numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), np.ones((2, 2)),
                                   options=dict(maxiter=4))
    single = numadam.minimize(lambda x: float(x @ x), np.ones(2), options=dict(maxiter=4))
    assert batch.njev[0] == single.njev and batch.nfev[0] == single.nfev


def test_a_stop_at_the_step_that_meets_ftol_reports_the_stop_as_minimize():
    options = dict(lr=0.3, maxiter=200, ftol=1e-3)
    plain = numadam.minimize(lambda x: float(x @ x), [1.0, -0.5], jac=lambda x: 2 * x,
                             options=options)
    assert plain.status == 0 and plain.nit > 1

    def stopping_at(iteration):
        calls = [0]

        def callback(*_, **__):
            calls[0] += 1
            if calls[0] == iteration:
                raise StopIteration
        return callback

    single = numadam.minimize(lambda x: float(x @ x), [1.0, -0.5], jac=lambda x: 2 * x,
                              callback=stopping_at(plain.nit), options=options)
    batch = numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), np.array([[1.0, -0.5]]),
                                   jac=lambda X: 2 * X, callback=stopping_at(plain.nit),
                                   options=options)
    assert single.status == 99 and batch.status[0] == single.status
    assert batch.nit[0] == single.nit


# -- minimize's options: maxfev and disp as minimize, the others refused ----------------------


def value_and_grad_rows(X, T, Y):
    return vectorized_loss(X, T, Y), vectorized_grad(X, T, Y)


def value_and_grad_row(x, t, y):
    return decay_loss.py_func(x, t, y), decay_grad.py_func(x, t, y)


#: (batch fun, batch jac, single fun, single jac) of each form, the gradient apart or with fun
MAXFEV_FORMS = {
    "jitted": (decay_loss, decay_grad, decay_loss, decay_grad),
    "jitted, jac=True": (decay_value_and_grad, True, decay_value_and_grad, True),
    "vectorized": (vectorized_loss, vectorized_grad, decay_loss.py_func, decay_grad.py_func),
    "vectorized, jac=True": (value_and_grad_rows, True, value_and_grad_row, True),
}

#: options, and the statuses the batch must end with
MAXFEV_CASES = {
    "maxfev binds": (dict(lr=0.02, maxiter=50, maxfev=20), {2}),
    "maxiter binds": (dict(lr=0.02, maxiter=30, maxfev=100), {0}),
    "both at once": (dict(lr=0.02, maxiter=30, maxfev=31), {2}),  # nfev = 31 after 30 steps
    "gtol or maxfev": (dict(lr=0.05, maxiter=300, maxfev=200, gtol=1e-3), {0, 2}),
    "maxiter=inf": (dict(lr=0.02, maxiter=np.inf, maxfev=30), {2}),
}


@pytest.mark.parametrize("method", ["adam", "schedulefree_adamw"])
@pytest.mark.parametrize("case", list(MAXFEV_CASES))
@pytest.mark.parametrize("form", list(MAXFEV_FORMS))
def test_maxfev_equals_separate_minimize_runs_bitwise(form, case, method, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    fun, jac, single_fun, single_jac = MAXFEV_FORMS[form]
    options, statuses = MAXFEV_CASES[case]
    batch = numadam.minimize_batch(fun, X0, jac=jac, method=method, options=options,
                                   batch_args=(T, Y))
    assert batch.compiled == form.startswith("jitted")
    assert set(batch.status.tolist()) == statuses
    if 2 in statuses:  # every problem stopped at maxfev evaluations (one more: schedule-free's
        # evaluation at its averaged point)
        stopped = batch.status == 2
        extra = 1 if method == "schedulefree_adamw" else 0
        assert (batch.nfev[stopped] == options["maxfev"] + extra).all()
    _assert_each_problem_is_its_own_minimize(batch, single_fun, single_jac, X0, T, Y, method,
                                             options)


@pytest.mark.parametrize("maxfev, statuses", [(25, {2}), (400, {0})])
@pytest.mark.parametrize("scheme", ["2-point", "3-point"])
def test_maxfev_with_finite_differences_equals_minimize_bitwise(scheme, maxfev, statuses, rng):
    """Finite differences cost 1 + n (2-point) or 1 + 2n (3-point) evaluations per iteration,
    fewer where a bound fixes a variable (no difference is taken there, as in minimize): each
    problem's own count decides when it stops."""
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    lower, upper = np.zeros((B, 2)), np.full((B, 2), 3.0)
    lower[::2, 0] = upper[::2, 0] = X0[::2, 0]  # variable 0 fixed in every other problem
    options = dict(lr=0.02, maxiter=40, maxfev=maxfev)
    batch = numadam.minimize_batch(vectorized_loss, X0, jac=scheme, bounds=(lower, upper),
                                   options=options, batch_args=(T, Y))
    assert set(batch.status.tolist()) == statuses
    assert batch.nfev[0] != batch.nfev[1]  # the fixed variable costs no evaluation
    _assert_each_problem_is_its_own_minimize(batch, decay_loss.py_func, scheme, X0, T, Y,
                                             "adam", options, bounds=(lower, upper))


def test_disp_prints_one_summary_of_the_batch(capsys, rng):
    T, Y, _ = decay_data(rng)
    X0 = 1 + 0.1 * rng.standard_normal((B, 2))
    options = dict(lr=0.05, maxiter=300, maxfev=200, gtol=1e-3)
    quiet = numadam.minimize_batch(decay_loss, X0, jac=decay_grad, options=options,
                                   batch_args=(T, Y))
    assert capsys.readouterr().out == ""
    batch = numadam.minimize_batch(decay_loss, X0, jac=decay_grad, batch_args=(T, Y),
                                   options=dict(options, disp=True))
    lines = capsys.readouterr().out.splitlines()
    np.testing.assert_array_equal(batch.x, quiet.x)  # disp changes nothing else
    converged, stopped = int((batch.status == 0).sum()), int((batch.status == 2).sum())
    assert converged and stopped and converged + stopped == B
    assert lines == [
        f"minimize_batch: {converged} of {B} problems terminated successfully.",
        f"         Status 0: {converged} (Optimization terminated successfully.)",
        f"         Status 2: {stopped} (Maximum number of function evaluations has been "
        f"exceeded.)",
        f"         Iterations: {batch.nit.sum()} in all, at most {batch.nit.max()} per problem",
        f"         Function evaluations: {batch.nfev.sum()} in all",
        f"         Gradient evaluations: {batch.njev.sum()} in all",
    ]


def test_disp_across_ranks_prints_the_whole_batch_once(capsys):
    MPI = pytest.importorskip("mpi4py.MPI")
    result = numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), np.ones((3, 2)),
                                    jac=lambda X: 2 * X, comm=MPI.COMM_SELF,
                                    options=dict(maxiter=4, disp=True))
    out = capsys.readouterr().out
    assert out.count("minimize_batch:") == 1  # not once more by the rank's own run
    assert "0 of 3 problems" not in out and f"Iterations: {result.nit.sum()} in all" in out


#: minimize's options that minimize_batch refuses, with a value minimize takes
REFUSED = {"schedule": "cosine", "schedule_options": {"T_max": 5}, "clip_norm": 1.0,
           "clip_value": 1.0, "average": "polyak", "average_decay": 0.9, "average_start": 3,
           "finite_diff_rel_step": 1e-6, "device": "cuda"}


def test_the_refused_options_are_those_of_minimize_the_batch_lacks():
    assert sorted(_options.REFUSED_OPTIONS) == sorted(REFUSED)


@pytest.mark.parametrize("form", ["jitted", "vectorized"])
@pytest.mark.parametrize("option", list(REFUSED))
def test_options_of_minimize_the_batch_lacks_raise(option, form, rng):
    T, Y, _ = decay_data(rng)
    X0 = np.ones((B, 2))
    before = [X0.copy(), T.copy(), Y.copy()]
    fun, jac = OBJECTIVES[form]
    with pytest.raises(ValueError, match=rf"minimize_batch does not support the option "
                                         rf"'{option}', which numadam.minimize does"):
        numadam.minimize_batch(fun, X0, jac=jac, batch_args=(T, Y),
                               options={"maxiter": 5, option: REFUSED[option]})
    for array, copy in zip([X0, T, Y], before):
        np.testing.assert_array_equal(array, copy)  # the caller's arrays untouched


@pytest.mark.filterwarnings("error::scipy.optimize.OptimizeWarning")
def test_refused_options_at_minimizes_defaults_are_accepted():
    """A dict of options shared with minimize may spell out its defaults ("off")."""
    defaults = dict(schedule=None, schedule_options=None, clip_norm=None, clip_value=None,
                    average=None, average_decay=0.99, average_start=0.0,
                    finite_diff_rel_step=None, device="cpu")
    assert sorted(defaults) == sorted(REFUSED)
    fun, jac = lambda X: np.sum((X - 1) ** 2, axis=1), lambda X: 2 * (X - 1)
    plain = numadam.minimize_batch(fun, X2, jac=jac, options=dict(maxiter=5))
    spelled = numadam.minimize_batch(fun, X2, jac=jac, options=dict(maxiter=5, **defaults))
    np.testing.assert_array_equal(spelled.x, plain.x)
    for option, value in (("average_decay", 0.98), ("average_start", True), ("device", None)):
        with pytest.raises(ValueError, match=f"does not support the option '{option}'"):
            numadam.minimize_batch(fun, X2, jac=jac, options={"maxiter": 5, option: value})


def test_several_refused_options_are_named_together():
    with pytest.raises(ValueError, match="the options 'average', 'clip_norm', 'schedule',"):
        numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), X2, jac=lambda X: 2 * X,
                               options=dict(schedule="step", clip_norm=1.0, average="ema"))


def test_an_option_unknown_to_minimize_too_still_only_warns():
    with pytest.warns(OptimizeWarning, match="Unknown solver options: clip$"):
        result = numadam.minimize_batch(lambda X: np.sum(X * X, axis=1), X2,
                                        jac=lambda X: 2 * X, options=dict(maxiter=3, clip=1.0))
    assert (result.nit == 3).all()


def test_check_finite_is_accepted_and_ignored_as_by_minimize():
    fun, jac = (lambda X: np.sum(X * X, axis=1)), (lambda X: 2 * X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checked = numadam.minimize_batch(fun, X2, jac=jac,
                                         options=dict(maxiter=3, check_finite=False))
    plain = numadam.minimize_batch(fun, X2, jac=jac, options=dict(maxiter=3))
    np.testing.assert_array_equal(checked.x, plain.x)


def test_schedule_free_with_bounds_answers_inside_the_box_in_every_form():
    """Issue 24, item 1: the evaluation point (an extrapolation past the iterates) was
    returned unprojected, outside the box, and success was claimed where gtol held at the
    training point only. Both forms (jitted, vectorized with a gradient and with finite
    differences) and multistart: every row inside the box, success only where the gradient
    projected on the bounds meets gtol at the row returned."""
    X0 = np.array([[1.0, 0.0], [0.5, 0.5]])
    C = np.full((2, 2), 2.0)  # the minimum (2, 2) lies outside the box [0, 1]^2
    box = [(0.0, 1.0), (0.0, 1.0)]
    options = {"maxiter": 60, "lr": 0.05, "gtol": 1e-6}

    def fun(X, C):
        return 0.5 * np.sum((X - C) ** 2, axis=1)

    def jac(X, C):
        return X - C

    def truthful(result):
        x, g = result.x, result.jac
        assert ((x >= 0.0) & (x <= 1.0)).all(), x
        blocked = ((g < 0) & (x >= 1.0)) | ((g > 0) & (x <= 0.0))
        met = np.abs(np.where(blocked, 0.0, g)).max(axis=1) <= 1e-6
        assert not (result.success & ~met).any(), (x, g, result.status)

    for f, g in ((square_value_and_grad, True), (fun, jac), (fun, "2-point")):
        result = numadam.minimize_batch(f, X0, jac=g, method="schedulefree_adamw", bounds=box,
                                        options=options, batch_args=(C,))
        assert result.compiled == (g is True)
        truthful(result)
    best = numadam.multistart(lambda X: fun(X, 2.0), box, 3, jac=lambda X: jac(X, 2.0), rng=1,
                              method="schedulefree_adamw", options=options)
    truthful(best.batch)


@pytest.mark.parametrize("jac, kwargs", [
    ("2-point", {}), (None, {}),
    (square_grad, {"callback": lambda intermediate: None}),
    (True, {"callback": lambda intermediate: None}),
    (square_grad, {"options": {"compiled": False}}),
])
def test_a_jitted_per_row_fun_is_never_called_with_the_matrix(jac, kwargs):
    """Issue 24, item 4: with finite differences or a callback (which the jitted form cannot
    run) a jitted per-row fun was handed the whole (B, n) matrix; with B == n it returned
    values of the right shape from the wrong numbers and reported success at wrong points
    (or, with a callback, a raw Numba TypingError). Now it runs row by row: each problem is
    its own minimize run, bitwise."""
    X0, C = np.zeros((2, 2)), np.array([[1.0, 2.0], [-1.0, 0.5]])
    fun = square_value_and_grad if jac is True else square
    extra = dict(kwargs)
    # plain gradient descent halves the error every step: a few iterations, each a few
    # parallel passes of the vectorized loop
    options = {"lr": 0.5, "maxiter": 100, "gtol": 1e-6, **extra.pop("options", {})}
    batch = numadam.minimize_batch(fun, X0, jac=jac, method="sgd", options=options,
                                   batch_args=(C,), **extra)
    assert not batch.compiled
    for b in range(2):
        single = numadam.minimize(fun, X0[b], args=(C[b],), jac=jac, method="sgd",
                                  options={**options, "compiled": False})
        np.testing.assert_array_equal(batch.x[b], single.x)
        assert (batch.nit[b], batch.nfev[b], batch.status[b]) == (single.nit, single.nfev,
                                                                  single.status)
    assert batch.success.all() and (batch.nit < 50).all()
    np.testing.assert_allclose(batch.x, C, atol=1e-5)


def test_a_jitted_per_row_fun_returning_an_array_gets_a_clear_error():
    with pytest.raises(ValueError, match="fun must return a scalar"):
        numadam.minimize_batch(square_grad, np.zeros((2, 2)), jac="2-point",
                               batch_args=(np.ones((2, 2)),))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_args=(np.array([1.0, "x"], dtype=object),)), TypeError,
     r"batch_args\[0\] must be an array of numbers, got dtype object"),
    (dict(batch_args=([[1.0], [1.0, 2.0]],)), ValueError, r"batch_args\[0\] must be an array"),
    (dict(options={"lr": np.array([0.1, None], dtype=object)}), TypeError,
     "per-problem hyperparameter lr must be an array of real numbers, got dtype object"),
    (dict(options={"betas": np.array([[0.9, 0.99], [0.9, None]], dtype=object)}), TypeError,
     "per-problem hyperparameter betas"),
    (dict(options={"lr": np.array([0.1, 1j])}), TypeError, "lr must be an array of real"),
    (dict(method=print), TypeError, "method must be the name of a numadam method"),
])
def test_odd_batch_inputs_get_a_clear_error(kwargs, error, match):
    """Issue 24 (smaller): these ended in Numba's or NumPy's own errors."""
    with pytest.raises(error, match=match):
        numadam.minimize_batch(lambda X, *a: np.sum(X**2, axis=1), np.ones((2, 2)),
                               jac=lambda X, *a: 2 * X, **kwargs)


def test_a_jitted_fun_missing_its_batch_args_gets_a_clear_error():
    """Issue 24 (smaller): a forgotten batch_args ended in Numba's "Signature mismatch"."""
    for batch_args in ((), (np.ones((2, 2)), np.ones((2, 2)))):
        with pytest.raises(TypeError, match="fun takes 2 positional arguments, but the batch "
                                            "calls it with"):
            numadam.minimize_batch(square, np.ones((2, 2)), jac=square_grad,
                                   batch_args=batch_args)


def test_the_scipy_entry_point_names_its_method_for_the_batch():
    """Issue 24 (smaller): method=numadam.adam said "method must be a string or a callable,
    got function"; the batch now takes numadam's entry points by their names."""
    X0 = np.array([[1.0, -1.0], [0.5, 2.0]])
    runs = [numadam.minimize_batch(lambda X: np.sum(X**2, axis=1), X0, jac=lambda X: 2 * X,
                                   method=method, options={"maxiter": 5})
            for method in (numadam.nadam, "nadam")]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    assert runs[0].method == "nadam"


def test_multistart_with_an_empty_box_gets_a_clear_error():
    """Issue 24 (smaller): NumPy's "zero-size array to reduction operation"."""
    for bounds in (Bounds([], []), [], [("a", "b")]):
        with pytest.raises((ValueError, TypeError), match="bounds must"):
            numadam.multistart(lambda X: np.sum(X**2, axis=1), bounds, 3,
                               jac=lambda X: 2 * X)


# -- odd inputs: a sound result or a clear error, the input unchanged (issue 24) ----------------


def _fuzz_rows(X, *rows):
    return np.sum(X * X, axis=1)


def _fuzz_rows_grad(X, *rows):
    return 2 * X


@CHEAP
@given(x0=odd_values(st.sampled_from([(), (2,), (0, 2), (2, 0), (2, 3), (2, 1, 2)])))
def test_any_batch_x0_gives_a_sound_result_or_an_error_naming_it(x0):
    result = outcome(lambda: numadam.minimize_batch(_fuzz_rows, x0, jac=_fuzz_rows_grad,
                                                    options={"maxiter": 3}), ["x0"], x0)
    if result is not None:
        assert_sound(result)
        assert result.x.shape == np.shape(x0)


@CHEAP
@given(batch_args=odd_values(st.sampled_from([(), (2,), (3,), (0,), (2, 2)])),
       lr=odd_values(st.sampled_from([(), (2,), (3,), (2, 2)])))
def test_any_batch_args_and_hyperparameters_give_a_sound_result_or_an_error_naming_them(
        batch_args, lr):
    result = outcome(lambda: numadam.minimize_batch(
        _fuzz_rows, np.ones((2, 2)), jac=_fuzz_rows_grad, batch_args=batch_args,
        options={"maxiter": 3, "lr": lr}),
        ["batch_args", "lr", "learning rate", "hyperparameter"], batch_args, lr)
    if result is not None:
        assert_sound(result)


@CHEAP
@given(bounds=odd_values(st.sampled_from([(2, 2), (0, 2), (2,), (3, 2), ()])),
       n_starts=st.one_of(st.integers(-1, 3), odd_values(st.just(()))))
def test_any_multistart_box_gives_a_sound_result_or_an_error_naming_it(bounds, n_starts):
    result = outcome(lambda: numadam.multistart(_fuzz_rows, bounds, n_starts,
                                                jac=_fuzz_rows_grad, rng=0,
                                                options={"maxiter": 3}),
                     ["bounds", "n_starts"], bounds, n_starts)
    if result is not None:
        assert_sound(result)


@njit
def _whole_matrix_values(X):
    return np.sum(X * X, axis=1)


def test_a_jitted_fun_written_for_the_matrix_fails_saying_how_it_was_called():
    """The protocol is decided by fun: a jitted fun takes rows. One written for the whole
    matrix fails at its first row with a note saying so (and how to pass it instead)."""
    with pytest.raises(Exception) as raised:
        numadam.minimize_batch(_whole_matrix_values, np.ones((2, 2)), jac=lambda X: 2 * X,
                               options={"maxiter": 3})
    text = str(raised.value) + "".join(getattr(raised.value, "__notes__", []))
    assert "called it with one problem's row" in text and "lambda X, *a" in text
    wrapped = numadam.minimize_batch(lambda X: _whole_matrix_values(X), np.ones((2, 2)),
                                     jac=lambda X: 2 * X, options={"maxiter": 3})
    assert wrapped.x.shape == (2, 2) and not wrapped.compiled
