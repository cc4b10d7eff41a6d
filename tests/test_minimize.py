"""numadam.minimize: convergence, SciPy interop, callbacks, stopping, bounds, errors, compiled
loop."""

import collections
import importlib
import os
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from numba.core.errors import TypingError
from scipy.optimize import Bounds, OptimizeWarning, rosen, rosen_der

from numadam import _batch as numadam_batch
from numadam import (
    _compiled_loop,
    _step_tables,
    adam,
    functions,
    minimize,
    rmsprop,
    schedules,
    sgd,
    show_options,
)
from numadam import _minimize as numadam_minimize
from numadam import _options as numadam_options
from numadam.rules import adam as adam_rule
from tests.fuzz_inputs import CHEAP, assert_sound, odd_values, outcome
from tests.rule_table import ELEMENTWISE, front_end_methods

METHODS = list(numadam_options.METHODS)  # every method of the registry
DIAGONAL = np.array([1.0, 3.0, 10.0])


def quadratic(x):
    return 0.5 * float(np.sum(DIAGONAL * x**2))


def quadratic_grad(x):
    return DIAGONAL * x


@njit
def rosen_jit(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


@njit
def rosen_jit_der(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])


@njit
def rosen_jit_der_out(x, out):
    out[:] = rosen_jit_der(x)


@njit
def rosen_jit_value_and_grad_out(x, out):
    out[:] = rosen_jit_der(x)
    return rosen_jit(x)


def rosen_der_out(x, out):  # a Python function writing into the array
    out[:] = rosen_jit_der(x)


# -- convergence ------------------------------------------------------------------------------


def test_adam_solves_rosenbrock_from_the_classic_start():
    result = minimize(rosen, [-1.2, 1.0], jac=rosen_der, method="adam",
                      options={"lr": 1e-2, "maxiter": 20_000, "gtol": 1e-8})
    assert result.success and result.status == 0
    assert np.abs(result.x - 1).max() < 1e-4
    assert result.nfev == result.njev == result.nit + 1
    assert result.fun == pytest.approx(rosen(result.x))
    np.testing.assert_allclose(result.jac, rosen_der(result.x))


#: method -> (lr, gtol, how close to the minimum it must end). Sign-based steps (Lion) end
#: within about lr of the minimum and never reach a small gradient: a fixed budget for them,
#: as for AdEMAMix, whose slow momentum (b3 = 0.9999) remembers ~10^4 steps of the 5000.
CONVERGENCE = {"sgd": (0.15, 1e-6, 1e-5), "momentum": (0.05, 1e-6, 1e-5),
               "nesterov": (0.05, 1e-6, 1e-5), "adagrad": (0.5, 1e-6, 1e-5),
               "adadelta": (0.1, 1e-4, 1e-4), "rprop": (0.01, 1e-4, 1e-4),
               "lion": (1e-3, None, 5e-3), "ademamix": (0.1, None, 1e-3),
               "dog": (1.0, 1e-6, 1e-5)}  # DoG: lr multiplies its own estimate


@pytest.mark.parametrize("method", METHODS)
def test_every_method_converges_on_a_convex_quadratic(method):
    # through the general Python loop (a callback selects it), whose kernels test_kernels.py
    # compiles anyway; the loops compiled per rule are checked against it below
    lr, gtol, distance = CONVERGENCE.get(method, (0.05, 1e-6, 1e-5))
    result = minimize(quadratic, [1.0, -2.0, 0.5], jac=quadratic_grad, method=method.upper(),
                      options={"lr": lr, "maxiter": 5000, "gtol": gtol},
                      callback=lambda intermediate_result: None)
    assert result.success, result.message
    assert np.abs(result.x).max() < distance
    assert result.method == method


def test_float32_start_stays_float32():
    result = minimize(quadratic, np.array([1.0, 2.0, 3.0], np.float32), jac=quadratic_grad,
                      options={"lr": 0.1, "maxiter": 50})
    assert result.x.dtype == np.float32 and result.jac.dtype == np.float32


# -- jac variants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("jac", [None, "2-point", "3-point"])
def test_finite_difference_gradients(jac):
    result = minimize(quadratic, [1.0, -1.0, 0.5], jac=jac,
                      options={"lr": 0.05, "maxiter": 3000, "gtol": 1e-5})
    assert result.success
    assert np.abs(result.x).max() < 1e-4
    evaluations_per_gradient = 2 * 3 if jac == "3-point" else 3
    assert result.nfev == (result.nit + 1) * (1 + evaluations_per_gradient)


def test_jac_true_means_fun_returns_value_and_gradient():
    calls = []

    def fun_and_grad(x):
        calls.append(1)
        return quadratic(x), quadratic_grad(x)

    result = minimize(fun_and_grad, [1.0, 1.0, 1.0], jac=True, options={"lr": 0.05,
                                                                        "maxiter": 100})
    assert len(calls) == result.nit + 1 == 101
    reference = minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
                         options={"lr": 0.05, "maxiter": 100})
    np.testing.assert_array_equal(result.x, reference.x)


def test_args_are_passed_to_fun_and_jac():
    result = minimize(lambda x, c: float(np.sum((x - c) ** 2)), [0.0, 0.0],
                      jac=lambda x, c: 2 * (x - c), args=(np.array([1.0, -2.0]),),
                      options={"lr": 0.1, "maxiter": 2000, "gtol": 1e-8})
    np.testing.assert_allclose(result.x, [1.0, -2.0], atol=1e-6)


# -- SciPy interop -------------------------------------------------------------------------------


def test_scipy_minimize_accepts_numadam_methods_with_bounds_and_callback():
    seen = []
    result = scipy.optimize.minimize(
        rosen, [-1.2, 1.0], jac=rosen_der, method=adam,
        bounds=[(-2.0, 0.8), (None, None)], callback=lambda xk: seen.append(xk),
        options={"lr": 1e-2, "maxiter": 5000},
    )
    assert isinstance(result, scipy.optimize.OptimizeResult)
    assert result.success and result.nit == 5000 == len(seen)
    assert all(-2.0 <= xk[0] <= 0.8 for xk in seen)
    assert result.x[0] == pytest.approx(0.8, abs=1e-6)  # the constrained minimum is on the bound
    assert result.x[1] == pytest.approx(0.64, abs=1e-3)


def test_scipy_minimize_passes_tol_and_rejects_what_adam_cannot_use():
    result = scipy.optimize.minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
                                     method=rmsprop, tol=1e-6,
                                     options={"lr": 0.01, "maxiter": 10_000})
    assert result.success and np.abs(result.jac).max() <= 1e-6
    with pytest.warns(RuntimeWarning, match="does not use Hessian information"):
        scipy.optimize.minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad, method=adam,
                                hess=lambda x: np.eye(3), options={"maxiter": 3})
    with pytest.raises(ValueError, match="constraints"):
        scipy.optimize.minimize(quadratic, [1.0], method=adam,
                                constraints=[{"type": "eq", "fun": lambda x: x[0]}])


def test_scipy_jac_true_goes_through_memoize_jac():
    result = scipy.optimize.minimize(lambda x: (quadratic(x), quadratic_grad(x)),
                                     [1.0, 1.0, 1.0], jac=True, method=sgd,
                                     options={"lr": 0.1, "maxiter": 500})
    assert np.abs(result.x).max() < 1e-6


def test_method_can_be_a_callable():
    assert minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, method=adam,
                    options={"lr": 0.1, "maxiter": 10}).nit == 10


# -- callbacks and stopping ---------------------------------------------------------------------


def test_stop_iteration_equals_the_run_with_that_maxiter():
    calls = {"fun": 0}

    def counted(x):
        calls["fun"] += 1
        return rosen(x)

    def stop_at_5(intermediate_result):
        if intermediate_result.nit == 5:
            raise StopIteration

    stopped = minimize(counted, [-1.2, 1.0], jac=rosen_der, callback=stop_at_5,
                       options={"lr": 1e-2, "maxiter": 100})
    fun_calls = calls["fun"]
    budget = minimize(rosen, [-1.2, 1.0], jac=rosen_der, options={"lr": 1e-2, "maxiter": 5})
    assert stopped.status == 99 and not stopped.success
    assert stopped.message == "`callback` raised `StopIteration`."
    assert stopped.nit == budget.nit == 5
    assert stopped.fun == budget.fun
    np.testing.assert_array_equal(stopped.x, budget.x)
    assert fun_calls == stopped.nfev == 6  # fun is not called after the stop


def test_both_callback_protocols():
    new_style, legacy = [], []

    def new(intermediate_result):
        new_style.append((intermediate_result.nit, intermediate_result.fun,
                          intermediate_result.x.copy()))

    def old(xk):
        xk[:] = 1e9  # a copy: mutating it must not disturb the run
        legacy.append(xk)

    a = minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, callback=new,
                 options={"lr": 0.1, "maxiter": 7})
    b = minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, callback=old,
                 options={"lr": 0.1, "maxiter": 7})
    assert [nit for nit, _, _ in new_style] == list(range(1, 8))
    assert new_style[-1][1] == a.fun
    np.testing.assert_array_equal(new_style[-1][2], a.x)
    assert len(legacy) == 7
    np.testing.assert_array_equal(a.x, b.x)


def test_status_for_maxiter_with_and_without_a_tolerance():
    free = minimize(rosen, [-1.2, 1.0], jac=rosen_der, options={"maxiter": 10})
    assert free.success and free.status == 0 and "Completed maxiter" in free.message
    strict = minimize(rosen, [-1.2, 1.0], jac=rosen_der, options={"maxiter": 10, "gtol": 1e-12})
    assert not strict.success and strict.status == 1
    assert strict.message == "Maximum number of iterations has been exceeded."


@pytest.mark.parametrize("option", ["ftol", "xtol"])
def test_ftol_and_xtol_stop(option):
    result = minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
                      options={"lr": 0.01, "maxiter": 100_000, option: 1e-10})
    assert result.success and result.status == 0 and result.nit < 100_000


@pytest.mark.parametrize("bad_at", [0, 3])
@pytest.mark.parametrize("where", ["fun", "jac"])
def test_non_finite_values_stop_with_the_last_finite_iterate(bad_at, where):
    count = {"n": 0}

    def fun(x):
        count["n"] += 1
        return np.nan if where == "fun" and count["n"] > bad_at else quadratic(x)

    def jac(x):
        return quadratic_grad(x) * (np.inf if where == "jac" and count["n"] > bad_at else 1)

    result = minimize(fun, [1.0, 2.0, 3.0], jac=jac, options={"lr": 0.1, "maxiter": 50})
    assert result.status == 3 and not result.success
    assert np.isfinite(result.x).all()
    if bad_at:
        assert result.nit == bad_at - 1 and np.isfinite(result.fun)
        budget = minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad,
                          options={"lr": 0.1, "maxiter": bad_at - 1})
        np.testing.assert_array_equal(result.x, budget.x)
    else:
        np.testing.assert_array_equal(result.x, [1.0, 2.0, 3.0])


# -- the lean Python loop -------------------------------------------------------------------------
# Without a callback, schedule, clipping or averaging, minimize runs a Python objective through a
# compiled generator (_lean_loop); with any of them, the general _python_loop. A callback that does
# nothing selects the general loop without changing the run, so the two are compared through it.


def do_nothing(intermediate_result):
    pass


def sine_valley(x):  # rough: Adam at lr 0.5 climbs out of the valleys, so return_best acts
    return float(np.sum(np.sin(5 * x) + 0.1 * x**2))


def sine_valley_der(x):
    return 5 * np.cos(5 * x) + 0.2 * x


LEAN_CASES = [
    ({}, dict(lr=1e-3, maxiter=300)),
    ({"bounds": [(-1.1, 2.0), (None, 0.95)]}, dict(lr=1e-2, maxiter=300, gtol=1e-3)),
    ({}, dict(lr=1e-2, maxiter=3000, ftol=1e-12)),
    ({}, dict(lr=1e-2, maxiter=3000, xtol=1e-7, maxfev=1500)),
    ({}, dict(lr=1e-2, maxiter=300, maximize=True)),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the SGD family overflows at lr 1e-2
@pytest.mark.parametrize("method", front_end_methods("lean", METHODS))
@pytest.mark.parametrize("case", range(len(LEAN_CASES)))
def test_lean_loop_equals_the_general_python_loop_bitwise(method, case):
    keywords, options = LEAN_CASES[case]
    if options.get("maximize") and "maximize" not in numadam_options.hyperparameters_of(method):
        pytest.skip(f"{method} has no maximize option")
    fun, jac = ((lambda x: -rosen(x)), (lambda x: -rosen_der(x))) if options.get(
        "maximize") else (rosen, rosen_der)
    lean = minimize(fun, [-1.2, 1.0], jac=jac, method=method, options=options, **keywords)
    general = minimize(fun, [-1.2, 1.0], jac=jac, method=method, options=options,
                       callback=do_nothing, **keywords)
    np.testing.assert_array_equal(lean.x, general.x)
    np.testing.assert_array_equal(lean.jac, general.jac)
    assert (lean.fun, lean.nit, lean.nfev, lean.njev, lean.status) == (
        general.fun, general.nit, general.nfev, general.njev, general.status)
    assert type(lean.nit) is int


@pytest.mark.parametrize("method", ["adam", "nadam", "sgd"])
@pytest.mark.parametrize("bad_at", [1, 7])
def test_lean_loop_stops_on_non_finite_values_like_the_general_loop(method, bad_at):
    def make():
        count = {"n": 0}

        def fun(x):
            count["n"] += 1
            return np.inf if count["n"] > bad_at else quadratic(x)
        return fun

    lean = minimize(make(), [1.0, 2.0, 3.0], jac=quadratic_grad, method=method,
                    options={"lr": 0.1, "maxiter": 50})
    general = minimize(make(), [1.0, 2.0, 3.0], jac=quadratic_grad, method=method,
                       options={"lr": 0.1, "maxiter": 50}, callback=do_nothing)
    assert lean.status == general.status == 3 and lean.nit == general.nit == bad_at - 1
    np.testing.assert_array_equal(lean.x, general.x)
    np.testing.assert_array_equal(lean.jac, general.jac)
    assert lean.fun == general.fun


def test_lean_loop_returns_the_best_iterate_like_the_general_loop():
    options = {"lr": 0.5, "maxiter": 40}
    lean = minimize(sine_valley, [0.3, -0.2], jac=sine_valley_der, options=options)
    general = minimize(sine_valley, [0.3, -0.2], jac=sine_valley_der, options=options,
                       callback=do_nothing)
    last = minimize(sine_valley, [0.3, -0.2], jac=sine_valley_der,
                    options=dict(options, return_best=False))
    assert lean.fun < last.fun  # the run climbed away from its best point
    np.testing.assert_array_equal(lean.x, general.x)
    np.testing.assert_array_equal(lean.jac, general.jac)
    assert (lean.fun, lean.nit, lean.status) == (general.fun, general.nit, general.status)
    assert lean.fun == sine_valley(lean.x)


def test_lean_loop_runs_unless_an_option_acts_between_iterations(monkeypatch):
    general_runs = []
    general_loop = numadam_minimize.python_loop

    def spy(*args, **kwargs):
        general_runs.append(1)
        return general_loop(*args, **kwargs)

    monkeypatch.setattr(numadam_minimize, "python_loop", spy)
    minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, options={"maxiter": 5})
    minimize(quadratic, [1.0, 2.0, 3.0], options={"maxiter": 5})  # finite differences
    assert general_runs == []
    minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, options={"maxiter": 5},
             callback=do_nothing)
    minimize(quadratic, np.array([1.0, 2.0, 3.0], dtype=np.float32),
             jac=lambda x: x, options={"maxiter": 5})  # float32: no compiled step
    minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad,
             options={"maxiter": 5, "clip_norm": 1.0})
    assert general_runs == [1, 1, 1]


class Boom(Exception):
    pass


LEAK_CHECK = """
import numpy as np, numadam
from numba.core.runtime import rtsys

class Boom(Exception):
    pass

def raising_after(calls):
    count = [0]
    def fun(x):
        count[0] += 1
        if count[0] > calls:
            raise Boom
        return float(x @ x)
    return fun

def live():
    stats = rtsys.get_allocation_stats()
    return stats.alloc - stats.free

numadam.minimize(raising_after(10**9), np.ones(3), jac=lambda x: 2 * x, options={"maxiter": 2})
before = live()
for _ in range(20):
    try:
        numadam.minimize(raising_after(3), np.ones(1000), jac=lambda x: 2 * x,
                         options={"maxiter": 50})
    except Boom:
        pass
print(live() - before)
"""


def test_lean_loop_frees_its_arrays_when_user_code_raises():
    """A compiled generator left suspended keeps its arrays: the lean loop ends it first."""
    environment = dict(os.environ, NUMBA_NRT_STATS="1")
    leaked = subprocess.run([sys.executable, "-c", LEAK_CHECK], capture_output=True, text=True,
                            check=True, env=environment).stdout.split()
    assert leaked == ["0"]


def test_lean_loop_raises_user_errors_and_the_next_run_is_unaffected():
    count = {"n": 0}

    def fun(x):
        count["n"] += 1
        if count["n"] == 4:
            raise Boom
        return quadratic(x)

    with pytest.raises(Boom):
        minimize(fun, [1.0, 2.0, 3.0], jac=quadratic_grad, options={"maxiter": 10})
    again = minimize(fun, [1.0, 2.0, 3.0], jac=quadratic_grad, options={"maxiter": 10})
    plain = minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, options={"maxiter": 10})
    np.testing.assert_array_equal(again.x, plain.x)


@pytest.mark.parametrize("jitted", [False, True])
def test_counts_beyond_int64_are_taken_as_no_limit(jitted):
    fun, jac = (rosen_jit, rosen_jit_der) if jitted else (quadratic, quadratic_grad)
    x0 = [-1.2, 1.0] if jitted else [1.0, 2.0, 3.0]
    result = minimize(fun, x0, jac=jac, options={"maxiter": 1e20, "maxfev": 1e25,
                                                 "gtol": 1e-3, "lr": 1e-2})
    assert result.success and result.compiled == jitted


def test_jitted_functions_with_declared_signatures_run_compiled():
    # declared here, not at the top: a signature compiles when the module is imported, in
    # every pytest worker that collects this file
    @njit("float64(float64[::1])")
    def declared_rosen(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    @njit("float64[::1](float64[::1])")
    def declared_rosen_der(x):
        return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                         200 * (x[1] - x[0] ** 2)])

    declared = minimize(declared_rosen, [-1.2, 1.0], jac=declared_rosen_der,
                        options={"maxiter": 50})
    lazy = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, options={"maxiter": 50})
    assert declared.compiled
    np.testing.assert_array_equal(declared.x, lazy.x)


@pytest.mark.parametrize("options", [
    dict(lr=1e-2, r=200.0),  # (k + 1) ** 200 overflows at step 34
    dict(lr=0.0, weight_lr_power=-1.0),  # 0.0 ** -1.0
])
def test_overflowing_step_scalars_stop_every_loop_at_the_last_finite_iterate(options):
    settings = dict(options, maxiter=200)
    runs = {"lean": minimize(rosen, [-1.2, 1.0], jac=rosen_der, method="schedulefree_adamw",
                             options=settings),
            "general": minimize(rosen, [-1.2, 1.0], jac=rosen_der, method="schedulefree_adamw",
                                options=settings, callback=do_nothing),
            "compiled": minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der,
                                 method="schedulefree_adamw", options=settings)}
    assert runs["compiled"].compiled
    for name, run in runs.items():
        assert run.status == 3 and np.isfinite(run.x).all() and np.isfinite(run.fun), name
        np.testing.assert_array_equal(run.x, runs["general"].x)
        assert run.nit == runs["general"].nit < 200


@pytest.mark.parametrize("buffers", [1, 2])
def test_a_jac_that_reuses_its_output_arrays_is_read_correctly_by_both_loops(buffers):
    outputs, calls = [np.empty(2) for _ in range(buffers)], [0]

    def jac(x):
        output = outputs[calls[0] % buffers]
        calls[0] += 1
        output[:] = sine_valley_der(x)
        return output

    options = {"lr": 0.5, "maxiter": 40}  # climbs, so that return_best restores a point
    fresh = minimize(sine_valley, [0.3, -0.2], jac=sine_valley_der, options=options)
    for callback in (None, do_nothing):
        result = minimize(sine_valley, [0.3, -0.2], jac=jac, options=options, callback=callback)
        np.testing.assert_array_equal(result.x, fresh.x)
        np.testing.assert_array_equal(result.jac, sine_valley_der(result.x))


def test_lean_loop_carries_nadams_scalar_state_like_the_general_loop():
    # NAdam's mu_product runs across steps inside the generator (its carry)
    x = np.array([1.0, 2.0, 3.0])
    whole = minimize(quadratic, x, jac=quadratic_grad, method="nadam",
                     options={"lr": 0.05, "maxiter": 40})
    general = minimize(quadratic, x, jac=quadratic_grad, method="nadam",
                       options={"lr": 0.05, "maxiter": 40}, callback=do_nothing)
    np.testing.assert_array_equal(whole.x, general.x)


# -- bounds, schedules, clipping, averaging -------------------------------------------------------


def test_bounds_project_x0_and_every_iterate():
    seen = []
    result = minimize(quadratic, [5.0, -5.0, 0.3], jac=quadratic_grad,
                      bounds=Bounds([0.5, -np.inf, -1.0], [np.inf, -0.25, 1.0]),
                      callback=lambda intermediate_result: seen.append(
                          intermediate_result.x.copy()),
                      options={"lr": 0.1, "maxiter": 2000})
    seen = np.array(seen)
    assert (seen[:, 0] >= 0.5).all() and (seen[:, 1] <= -0.25).all()
    np.testing.assert_allclose(result.x, [0.5, -0.25, 0.0], atol=1e-6)


def test_x0_outside_the_bounds_is_clipped_and_not_modified():
    x0 = np.array([10.0, 10.0, 10.0])
    result = minimize(quadratic, x0, jac=quadratic_grad, bounds=[(None, 1.0)] * 3,
                      options={"maxiter": 0})
    np.testing.assert_array_equal(result.x, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x0, [10.0, 10.0, 10.0])


def test_named_and_callable_schedules():
    lrs = []

    def schedule(k):
        lrs.append(0.1 / (1 + k))
        return lrs[-1]

    minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
             options={"schedule": schedule, "maxiter": 5})
    assert lrs == [0.1, 0.05, 0.1 / 3, 0.025, 0.02]
    cosine = minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
                      options={"lr": 0.1, "schedule": "cosine", "maxiter": 2000})
    assert np.abs(cosine.x).max() < 1e-3
    assert schedules.cosine(0.1, T_max=10)(10) == 0.0
    assert schedules.step(1.0, step_size=2, gamma=0.5)(5) == 0.25
    assert schedules.warmup(1.0, warmup_iters=4)(1) == 0.25
    assert schedules.exponential(1.0, gamma=0.5)(3) == 0.125


def test_gradient_clipping_limits_the_step_and_leaves_the_gradient_alone():
    grads = []

    def jac(x):
        grads.append(np.array([1e6, -1e6]))
        return grads[-1]

    minimize(lambda x: 0.0, [0.0, 0.0], jac=jac, method="sgd",
             options={"lr": 1.0, "maxiter": 1, "clip_value": 0.5})
    assert grads[0][0] == 1e6  # the objective's own array is untouched
    result = minimize(lambda x: 0.0, [0.0, 0.0], jac=lambda x: np.array([3.0, 4.0]),
                      method="sgd", options={"lr": 1.0, "maxiter": 1, "clip_norm": 1.0})
    np.testing.assert_allclose(result.x, [-0.6, -0.8])
    result = minimize(lambda x: 0.0, [0.0, 0.0], jac=lambda x: np.array([3.0, -0.1]),
                      method="sgd", options={"lr": 1.0, "maxiter": 1, "clip_value": 1.0})
    np.testing.assert_allclose(result.x, [-1.0, 0.1])


@pytest.mark.parametrize("average", ["polyak", "ema"])
def test_iterate_averaging_reduces_the_noise_of_a_stochastic_objective(average):
    target = np.array([1.0, -1.0])

    def run(seed, **options):
        rng = np.random.default_rng(seed)
        return minimize(lambda x: float(np.sum((x - target) ** 2)), [0.0, 0.0],
                        jac=lambda x: 2 * (x - target) + rng.normal(0, 1.0, 2), method="sgd",
                        options={"lr": 0.05, "maxiter": 3000, **options}).x

    # the last iterate (the default would return the iterate of lowest exact loss)
    plain = np.mean([np.linalg.norm(run(s, return_best=False) - target) for s in range(5)])
    averaged = np.mean([np.linalg.norm(run(s, average=average, average_start=500) - target)
                        for s in range(5)])
    assert averaged < 0.5 * plain


# -- the error table ------------------------------------------------------------------------------

ERRORS = [
    (dict(x0=[[1.0, 2.0]]), ValueError, "'x0' must only have one dimension"),
    (dict(x0=[]), ValueError, "x0 must not be empty"),
    (dict(x0=[1.0, np.nan]), ValueError, "x0 must be finite"),
    (dict(x0=["a", "b"]), TypeError, "x0 must be an array of real numbers"),
    (dict(x0=[1 + 2j, 0j]), TypeError, "x0 must be an array of real numbers"),
    (dict(fun=lambda x: x), ValueError, "fun must return a scalar"),
    (dict(fun=lambda x: "high"), TypeError, "fun must return a real number"),
    (dict(fun=42), TypeError, "fun must be callable"),
    (dict(jac=lambda x: np.ones(3)), ValueError, r"jac must return an array of shape \(2,\)"),
    (dict(jac="5-point"), ValueError, "jac must be a callable"),
    (dict(method="lbfgs"), ValueError, "Unknown solver 'lbfgs'"),
    (dict(method=3), TypeError, "method must be a string or a callable"),
    (dict(options={"lr": -1.0}), ValueError, "Invalid learning rate: -1.0"),
    (dict(options={"betas": (0.9, 1.5)}), ValueError, "Invalid beta parameter at index 1"),
    (dict(options={"maxiter": -1}), ValueError, "maxiter must be a non-negative number"),
    (dict(options={"gtol": -1.0}), ValueError, "gtol must be non-negative"),
    (dict(options={"average": "median"}), ValueError, "average must be"),
    (dict(options={"schedule": "linear"}), ValueError, "schedule must be a callable or one of"),
    (dict(method="amsgrad", options={"amsgrad": False}), ValueError, "`amsgrad` is fixed"),
    (dict(bounds=[(0.0, 1.0)]), ValueError,
     "number of bounds is not compatible with the length of `x0`"),
    (dict(bounds=[(1.0, 0.0), (None, None)]), ValueError, "An upper bound is less than"),
    (dict(callback=5), TypeError, "callback must be callable"),
    (dict(options={"average_decay": 1.0}), ValueError, "Invalid average_decay: 1.0"),
    (dict(options={"average_start": -1}), ValueError, "average_start must be a non-negative"),
    (dict(options={"compiled": "no"}), ValueError, "compiled must be True, False or"),
    (dict(options={"clip_norm": -1.0}), ValueError, "clip_norm must be non-negative"),
    (dict(method="rmsprop", options={"alpha": 1.0}), ValueError, "Invalid alpha value: 1.0"),
    (dict(method="nesterov", options={"dampening": 0.5}), ValueError,
     "Nesterov momentum requires"),
]


@pytest.mark.parametrize("kwargs, exception, match", ERRORS)
def test_error_table(kwargs, exception, match):
    arguments = dict(fun=rosen, x0=[-1.2, 1.0], jac=rosen_der, options={"maxiter": 3})
    arguments.update(kwargs)
    before = repr(arguments["x0"])
    with pytest.raises(exception, match=match):
        minimize(**arguments)
    assert repr(arguments["x0"]) == before


def test_unknown_options_warn_like_scipy():
    with pytest.warns(OptimizeWarning, match="Unknown solver options: learning_rate"):
        minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
                 options={"learning_rate": 0.1, "maxiter": 1})


def test_known_options_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
                 options={"lr": 0.1, "maxiter": 1, "ftol": 1e-9, "clip_norm": 10.0})


def test_x0_is_never_modified():
    x0 = np.array([-1.2, 1.0])
    minimize(rosen, x0, jac=rosen_der, options={"maxiter": 100})
    np.testing.assert_array_equal(x0, [-1.2, 1.0])


def test_show_options_lists_hyperparameters_and_common_options(capsys):
    show_options("adam")
    text = capsys.readouterr().out
    for option in ("lr", "betas", "eps", "amsgrad", "maxiter", "gtol", "schedule", "clip_norm",
                   "average"):
        assert f"\n{option} :" in text
    everything = show_options(disp=False)
    assert all(method in everything for method in METHODS)
    assert "Options" in adam.__doc__


# -- the compiled loop ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", front_end_methods("compiled", ELEMENTWISE))
def test_compiled_loop_equals_python_loop_bitwise_for_each_rule(method):
    settings = dict(lr=1e-3, maxiter=300)
    compiled = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, method=method,
                        bounds=[(-1.1, 2.0), (None, 0.95)], options=settings)
    python = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, method=method,
                      bounds=[(-1.1, 2.0), (None, 0.95)], options=dict(settings, compiled=False))
    assert compiled.compiled and not python.compiled
    np.testing.assert_array_equal(compiled.x, python.x)
    assert compiled.fun == python.fun and compiled.nit == python.nit == 300
    assert (compiled.nfev, compiled.status) == (python.nfev, python.status)


@pytest.mark.parametrize("method, options", [
    ("adam", {"lr": 1e-2}),
    ("amsgrad", {"lr": 1e-2, "weight_decay": 1e-3}),
    ("adamw", {"lr": 1e-2, "maximize": False}),
    ("rmsprop", {"lr": 1e-3, "centered": True, "momentum": 0.5}),
    ("nesterov", {"lr": 1e-4}),
    ("sgd", {"lr": 1e-4, "momentum": 0.9, "dampening": 0.1}),
    ("adam", {"lr": 1e-2, "gtol": 1e-3}),  # gtol on the projected gradient, at the bound
    ("adam", {"lr": 1e-2, "betas": (0.5, 0.9)}),  # both bias corrections reach exactly 1
])
def test_compiled_loop_equals_python_loop_bitwise(method, options):
    settings = dict(options, maxiter=3000, ftol=1e-15)
    compiled = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, method=method,
                        bounds=[(-1.1, 2.0), (None, 0.95)], options=settings)
    python = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, method=method,
                      bounds=[(-1.1, 2.0), (None, 0.95)], options=dict(settings, compiled=False))
    assert compiled.compiled and not python.compiled
    np.testing.assert_array_equal(compiled.x, python.x)
    assert compiled.fun == python.fun
    assert (compiled.nit, compiled.nfev, compiled.status) == (python.nit, python.nfev,
                                                               python.status)


def step_table_of(method, **hyperparameters):
    """The process's step table (``_step_tables.table_for``) of a fresh optimizer of
    ``method``."""
    cls, fixed = numadam_options.METHODS[method]
    step = cls(np.zeros(2), **fixed, **hyperparameters).compiled_step()
    return _step_tables.table_for(cls.variant.rule, step.inputs, step.carry)


@pytest.fixture
def no_step_tables(monkeypatch):
    """The process's step tables, empty for the test (and restored after it)."""
    monkeypatch.setattr(_step_tables, "_TABLES", type(_step_tables._TABLES)())


@pytest.mark.parametrize("method", ["adam", "nadam", "radam", "adagrad", "schedulefree_adamw"])
def test_compiled_runs_tabulate_the_step_scalars_and_read_them_bitwise(method, no_step_tables):
    lr = 1e-3
    table, filled = step_table_of(method, lr=lr)
    assert filled[0] == 0
    runs = {}
    for name, maxiter in (("first 50", 50), ("120", 120), ("120 again", 120)):
        runs[name] = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, method=method,
                              options={"lr": lr, "maxiter": maxiter})
        assert runs[name].compiled
        assert filled[0] == min(maxiter, 120)  # stored the steps it computed, in order
    python = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, method=method,
                      options={"lr": lr, "maxiter": 120, "compiled": False})
    for name in ("120", "120 again"):  # read 50 rows and computed 70 / read all 120
        np.testing.assert_array_equal(runs[name].x, python.x)
        assert runs[name].fun == python.fun


def test_the_compiled_loop_reads_its_steps_scalars_from_the_table(no_step_tables):
    lr = 1e-3
    table, filled = step_table_of("adam", lr=lr)
    x0 = [-1.2, 1.0]
    first = minimize(rosen_jit, x0, jac=rosen_jit_der, options={"lr": lr, "maxiter": 30})
    assert not np.array_equal(first.x, x0)
    table[:filled[0], 0] = 0.0  # Adam's first scalar is -lr / (1 - beta1**t): no step
    again = minimize(rosen_jit, x0, jac=rosen_jit_der, options={"lr": lr, "maxiter": 30})
    np.testing.assert_array_equal(again.x, x0)


def test_step_tables_tell_minus_zero_from_zero(no_step_tables):
    assert step_table_of("adam", lr=0.0)[0] is not step_table_of("adam", lr=-0.0)[0]
    x0 = np.array([-0.0, 0.0])
    for lr in (0.0, -0.0):
        compiled = minimize(rosen_jit, x0, jac=rosen_jit_der, options={"lr": lr, "maxiter": 3})
        python = minimize(rosen_jit, x0, jac=rosen_jit_der,
                          options={"lr": lr, "maxiter": 3, "compiled": False})
        assert compiled.compiled
        assert [value.hex() for value in compiled.x] == [value.hex() for value in python.x]


def test_compiled_loop_reaches_the_rosenbrock_minimum_and_reports_gtol():
    result = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der,
                      options={"lr": 1e-2, "maxiter": 20_000, "gtol": 1e-8})
    assert result.compiled and result.success
    assert np.abs(result.x - 1).max() < 1e-4


def test_features_the_compiled_loop_lacks_select_the_python_loop():
    result = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der,
                      callback=lambda xk: None, options={"maxiter": 3})
    assert not result.compiled and result.nit == 3


def test_compiled_loop_stops_on_non_finite_values():
    @njit
    def cliff(x):
        return np.nan if x[0] > 0.5 else (x[0] - 2.0) ** 2

    @njit
    def cliff_der(x):
        return np.array([2 * (x[0] - 2.0)])

    result = minimize(cliff, [0.0], jac=cliff_der, options={"lr": 0.1, "maxiter": 100})
    assert result.compiled and result.status == 3
    assert result.x[0] <= 0.5 and np.isfinite(result.fun)


def test_every_loop_keeps_the_carry_of_a_step_to_a_non_finite_point():
    """The rejected step's state changes are kept (its state vectors and its scalar state),
    in the compiled loop as in the lean and Python loops: their states agree, so a resumed
    run does not depend on which loop ran (NAdam carries its momentum product)."""

    @njit
    def cliff(x):
        return np.nan if x[0] < 0.9 else np.sum(x * x)

    @njit
    def cliff_der(x):
        return 2 * x

    options = {"lr": 0.02, "maxiter": 50}
    runs = [minimize(cliff, np.ones(3), jac=cliff_der, method="nadam", options=options),
            minimize(lambda x: float(cliff(x)), np.ones(3), jac=lambda x: 2 * x,
                     method="nadam", options=options),
            minimize(lambda x: float(cliff(x)), np.ones(3), jac=lambda x: 2 * x,
                     method="nadam", options=options, callback=lambda intermediate_result: None)]
    assert [result.compiled for result in runs] == [True, False, False]
    for result in runs:
        assert result.status == 3
        assert result.state["step"] == runs[0].state["step"] == runs[0].nit
        assert result.state["carry"] == runs[0].state["carry"]
        for name, vector in result.state["state"].items():
            np.testing.assert_array_equal(vector, runs[0].state["state"][name])


class StopAt:
    """A callable-object callback: the third protocol of SciPy's test_callback_stopiteration."""

    def __init__(self, k):
        self.k, self.seen = k, []

    def __call__(self, intermediate_result):
        self.seen.append(intermediate_result.x)
        if intermediate_result.nit == self.k:
            raise StopIteration


def stop_at_4_keyword_only(*, intermediate_result):
    if intermediate_result.nit == 4:
        raise StopIteration


def stop_at_4_legacy(xk):
    stop_at_4_legacy.calls += 1
    if stop_at_4_legacy.calls == 4:
        raise StopIteration


@pytest.mark.parametrize("style", ["object", "keyword-only", "legacy"])
@pytest.mark.parametrize("through_scipy", [False, True])
def test_stop_iteration_for_every_callback_style_and_through_scipy(style, through_scipy):
    stop_at_4_legacy.calls = 0
    callback = {"object": StopAt(4), "keyword-only": stop_at_4_keyword_only,
                "legacy": stop_at_4_legacy}[style]
    run = scipy.optimize.minimize if through_scipy else minimize
    stopped = run(rosen, [-1.2, 1.0], jac=rosen_der, method=adam, callback=callback,
                  options={"lr": 1e-2, "maxiter": 50})
    budget = minimize(rosen, [-1.2, 1.0], jac=rosen_der, options={"lr": 1e-2, "maxiter": 4})
    assert (stopped.status, stopped.success, stopped.nit) == (99, False, 4)
    assert stopped.message.startswith("`callback` raised `StopIteration`")
    assert stopped.fun == budget.fun
    np.testing.assert_array_equal(stopped.x, budget.x)


def test_intermediate_results_are_copies_that_later_iterations_do_not_change():
    callback = StopAt(-1)
    result = minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, callback=callback,
                      options={"lr": 0.1, "maxiter": 5})
    assert len(callback.seen) == 5
    assert not np.array_equal(callback.seen[0], callback.seen[-1])
    np.testing.assert_array_equal(callback.seen[-1], result.x)
    assert callback.seen[-1] is not result.x


def test_unknown_option_warning_points_at_the_caller():
    with pytest.warns(OptimizeWarning) as direct:
        minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad,
                 options={"maxiter": 1, "lrr": 0.1})
    with pytest.warns(OptimizeWarning) as via_scipy:
        scipy.optimize.minimize(quadratic, [1.0, 1.0, 1.0], jac=quadratic_grad, method=adam,
                                options={"maxiter": 1, "lrr": 0.1})
    assert direct[0].filename == via_scipy[0].filename == __file__


def test_scipy_bounds_object_and_gtol_on_the_projected_gradient():
    seen = []
    result = scipy.optimize.minimize(
        quadratic, [2.0, 2.0, 2.0], jac=quadratic_grad, method=sgd,
        bounds=Bounds([1.0, -np.inf, -np.inf], [np.inf, np.inf, np.inf]),
        callback=lambda intermediate_result: seen.append(intermediate_result.fun),
        options={"lr": 0.05, "momentum": 0.5, "maxiter": 500, "gtol": 1e-9})
    assert result.success and result.status == 0 and len(seen) == result.nit < 500
    np.testing.assert_allclose(result.x, [1.0, 0.0, 0.0], atol=1e-8)
    assert result.jac[0] == 1.0  # the full gradient is not small: the bound is active
    assert result.fun == seen[-1]
    # maximize: the maximum of the convex quadratic on the box is a corner, on upper bounds
    upper = minimize(quadratic, [0.5, 0.5, 0.5], jac=quadratic_grad, method="sgd",
                     bounds=[(-1.0, 1.0)] * 3,
                     options={"lr": 0.05, "maximize": True, "maxiter": 500, "gtol": 1e-9})
    assert upper.success and upper.nit < 500
    np.testing.assert_array_equal(upper.x, [1.0, 1.0, 1.0])


@njit
def shifted_quadratic(x, c):
    return 0.5 * np.sum((x - c) ** 2)


@njit
def shifted_quadratic_der(x, c):
    return x - c


@pytest.mark.parametrize("method, options", [
    ("adam", {"lr": 0.05, "gtol": 1e-7}),
    ("rmsprop", {"lr": 0.01, "xtol": 1e-9}),
    ("momentum", {"lr": 0.05, "gtol": 1e-9}),
])
def test_compiled_loop_with_args_gtol_and_xtol_equals_the_python_loop(method, options):
    c = np.array([1.0, -2.0, 3.0])
    settings = dict(options, maxiter=20_000)
    compiled = minimize(shifted_quadratic, np.zeros(3), args=(c,), jac=shifted_quadratic_der,
                        method=method, options=settings)
    python = minimize(shifted_quadratic, np.zeros(3), args=(c,), jac=shifted_quadratic_der,
                      method=method, options=dict(settings, compiled=False))
    assert compiled.compiled and not python.compiled
    assert compiled.success and compiled.nit < 20_000
    np.testing.assert_array_equal(compiled.x, python.x)
    np.testing.assert_array_equal(compiled.jac, python.jac)
    assert (compiled.fun, compiled.nit, compiled.nfev, compiled.njev) == (
        python.fun, python.nit, python.nfev, python.njev)


def test_compiled_loop_does_not_recompile_for_the_same_objective():
    minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, options={"maxiter": 2})
    loops = dict(_compiled_loop._LOOPS)
    result = minimize(rosen_jit, [0.0, 0.0], jac=rosen_jit_der, bounds=[(-1, 1)] * 2,
                      options={"maxiter": 2, "gtol": 1e-3})
    assert result.compiled
    assert _compiled_loop._LOOPS == loops  # the same compiled loop, not a new one


@njit
def scaled_square(x, scale):
    return scale * (x[0] * x[0] + x[1] * x[1])


@njit
def scaled_square_der(x, scale):
    return 2.0 * scale * x


@pytest.mark.parametrize("specialize", [
    False, pytest.param(True, marks=pytest.mark.slow)])  # three loops more, with fun inlined
def test_a_repeated_run_reuses_the_loop_found_for_its_types(monkeypatch, specialize):
    """The loop found for a call is kept under a key of its argument types: a second run with
    the same functions and types does not look it up again, while other types (an integer
    ``scale`` instead of a float, a NumPy float32) get a loop of their own, with
    the same answers as the Python loop."""
    mode = "specialize" if specialize else True
    first = minimize(scaled_square, [1.0, -2.0], args=(0.5,), jac=scaled_square_der,
                     options={"maxiter": 3, "compiled": mode})
    assert first.compiled
    found = []
    lookup = "_specialized_loop" if specialize else "_cached_loop"
    original = getattr(_compiled_loop, lookup)
    monkeypatch.setattr(_compiled_loop, lookup,
                        lambda rule, arguments: found.append(arguments) or original(rule,
                                                                                   arguments))
    again = minimize(scaled_square, [1.0, -2.0], args=(0.5,), jac=scaled_square_der,
                     options={"maxiter": 3, "compiled": mode})
    assert found == [] and again.compiled
    np.testing.assert_array_equal(again.x, first.x)
    for scale in (2, np.float32(0.5)):
        settings = {"maxiter": 3, "compiled": mode}
        other = minimize(scaled_square, [1.0, -2.0], args=(scale,), jac=scaled_square_der,
                         options=settings)
        python = minimize(scaled_square, [1.0, -2.0], args=(scale,), jac=scaled_square_der,
                          options=dict(settings, compiled=False))
        assert other.compiled and found[-1][2] == (scale,)
        np.testing.assert_array_equal(other.x, python.x)
    assert len(found) == 2


Pair = collections.namedtuple("Pair", "a b")


def test_the_types_key_tells_types_apart_as_typeof_does(monkeypatch):
    """Values of different Numba types get different keys (with Numba's fingerprint and with
    typeof); an array in the other byte order, which Numba fingerprints as a native one, is
    typed instead, and refused as Numba refuses it."""
    values = [(1.0,), (1,), (True,), (np.ones(2),), (np.ones(2, np.float32),), (np.ones((2, 2)),),
              (np.ones((2, 2)).T,), (None,), ("text",), ((1.0, 2.0),), ((1.0, 2),),
              (np.float32(1.0),), (Pair(1.0, 2.0),)]
    for compute_fingerprint in (_compiled_loop.compute_fingerprint, None):
        monkeypatch.setattr(_compiled_loop, "compute_fingerprint", compute_fingerprint)
        keys = [_compiled_loop.types_key(value, value) for value in values]
        assert len(set(keys)) == len(values)
        assert _compiled_loop.types_key((np.zeros(2),), (np.zeros(2),)) == keys[3]
        for foreign in ((np.ones(2, ">f8"),), ((1.0, (np.ones(2, ">f8"),)),)):
            with pytest.raises(TypingError):
                _compiled_loop.types_key(foreign, foreign)


@njit
def distance_to_first(x, p):
    return float(np.sum((x - p[0]) ** 2))


@njit
def distance_to_first_der(x, p):
    return 2 * (x - p[0])


def test_named_tuple_and_record_arguments_run_as_in_the_python_loop():
    """Numba's dispatch keys a call by the fingerprint, which does not tell apart two named
    tuple classes of the same fields, nor aligned and packed records: the loop found for the
    first one serves the second, as Numba's own dispatch does (typing the second apart made
    the loop refuse it)."""
    options = {"maxiter": 3}
    kinds = [collections.namedtuple("Params", "a b")(1.0, 2.0) for _ in range(2)]  # 2 classes
    for align in (False, True):
        kinds.append(np.ones(1, np.dtype([("a", "f8"), ("b", "f8")], align=align))[0])
    for params in kinds:
        compiled = minimize(distance_to_first, np.zeros(2), args=(params,),
                            jac=distance_to_first_der, options=options)
        python = minimize(distance_to_first, np.zeros(2), args=(params,),
                          jac=distance_to_first_der, options=dict(options, compiled=False))
        assert compiled.compiled, type(params)
        np.testing.assert_array_equal(compiled.x, python.x)


def test_an_argument_numba_cannot_type_is_refused_as_the_python_loop_refuses_it():
    """A big-endian array has the fingerprint of a native one: after a run with a native
    array, the compiled loop must not reuse that run's loop (it read the bytes as native and
    returned garbage); it refuses the array as Numba does."""
    native = np.array([1.0, -2.0])
    kwargs = {"jac": shifted_quadratic_der, "options": {"maxiter": 5}}
    assert minimize(shifted_quadratic, np.zeros(2), args=(native,), **kwargs).compiled
    with pytest.raises(TypingError):
        minimize(shifted_quadratic, np.zeros(2), args=(native.astype(">f8"),), **kwargs)


RETURNS_FLOAT32 = False


@njit
def quadratic_of_changing_type(x, c):
    value = 0.5 * np.sum((x - c) ** 2)
    return np.float32(value) if RETURNS_FLOAT32 else value


def test_a_recompiled_objective_gets_a_loop_that_fits_it(monkeypatch):
    """The loop kept for a call no longer fits the function after ``recompile()`` with
    another return type: the next run finds a new one, still compiled."""
    kwargs = {"args": (1.0,), "jac": shifted_quadratic_der, "options": {"maxiter": 5}}
    assert minimize(quadratic_of_changing_type, np.zeros(2), **kwargs).compiled
    monkeypatch.setattr(sys.modules[__name__], "RETURNS_FLOAT32", True)
    quadratic_of_changing_type.recompile()
    again = minimize(quadratic_of_changing_type, np.zeros(2), **kwargs)
    python = minimize(quadratic_of_changing_type, np.zeros(2),
                      **dict(kwargs, options={"maxiter": 5, "compiled": False}))
    assert again.compiled
    assert again.fun == python.fun and np.array_equal(again.x, python.x)
    assert again.fun != minimize(shifted_quadratic, np.zeros(2), **kwargs).fun  # float32 now


def test_the_memo_keeps_its_most_recently_used_entries():
    memo = _compiled_loop.Memo(2)
    made = []
    for key in ("a", "b", "a", "c", "a", "b"):
        memo.get(key, lambda key=key: made.append(key) or key.upper())
    assert made == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came
    assert list(memo.entries) == ["a", "b"]


def test_a_fresh_process_loads_the_compiled_loop_from_the_disk_cache(run_twice):
    """Only the user's functions compile in a new process; the loop itself comes from Numba's
    cache (written by the first process at the latest)."""
    runs = run_twice(
        "import numpy as np, numadam\n"
        "from numadam import _compiled_loop\n"
        "from numadam.functions import rosen, rosen_der\n"
        "r = numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der, options={'maxiter': 5})\n"
        "(loop,) = _compiled_loop._LOOPS.values()\n"
        "print(r.compiled, sum(loop.stats.cache_hits.values()),"
        " sum(loop.stats.cache_misses.values()))\n")
    assert runs[1] == ["True", "1", "0"]  # the second process: one cache hit, no compile


def test_a_fresh_process_loads_the_lean_loops_generator_from_the_disk_cache(run_twice):
    """The lean loop's compiled generator (a Python objective) comes from Numba's cache in a
    new process: its key must not hold anything that changes from process to process (a Numba
    dispatcher in what it closes over did, and every process compiled it again)."""
    runs = run_twice(
        "import numpy as np, numadam\n"
        "from numadam import _compiled_loop\n"
        "r = numadam.minimize(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,"
        " method='nadam', bounds=[(-1, 2)] * 3, options={'maxiter': 5})\n"
        "driver = _compiled_loop.driver_for(numadam.NAdam.variant.rule)\n"
        "print(sum(driver.stats.cache_hits.values()), sum(driver.stats.cache_misses.values()))\n")
    assert runs[1] == ["1", "0"]  # the second process: one cache hit, no compile


def test_the_specialized_loop_equals_the_pointer_loop_bitwise():
    """compiled="specialize": for functions Numba caches (numadam.functions), the loop
    compiled for them and cached on disk; for others (rosen_jit), compiled in the process."""
    settings = {"lr": 1e-2, "maxiter": 400, "ftol": 1e-15}
    for fun, jac in ((functions.rosen, functions.rosen_der), (rosen_jit, rosen_jit_der)):
        runs = [minimize(fun, [-1.2, 1.0], jac=jac, method="nadam", bounds=[(-1.1, 2.0)] * 2,
                         options=dict(settings, compiled=mode)) for mode in (True, "specialize")]
        assert runs[0].compiled and runs[1].compiled
        np.testing.assert_array_equal(runs[0].x, runs[1].x)
        assert (runs[0].fun, runs[0].nit, runs[0].status) == (runs[1].fun, runs[1].nit,
                                                              runs[1].status)
    rule = numadam_options.METHODS["nadam"][0].variant.rule
    assert (rule, functions.rosen, functions.rosen_der) in _compiled_loop._SPECIALIZED
    assert (rule, rosen_jit, rosen_jit_der) not in _compiled_loop._SPECIALIZED


SPECIALIZED_SCRIPT = """
import numpy as np, numadam
from numba import njit
from numba.core.errors import TypingError
from numadam import _compiled_loop

@njit(cache=True)
def f(x):
    return (1 - x[0]) ** 2 + SCALE * (x[1] - x[0] ** 2) ** 2

@njit(cache=True)
def g(x):
    return np.array([-2 * (1 - x[0]) - 4 * SCALE * x[0] * (x[1] - x[0] ** 2),
                     2 * SCALE * (x[1] - x[0] ** 2)])

r = numadam.minimize(f, [-1.2, 1.0], jac=g, options={"maxiter": 300, "lr": 1e-2,
                                                     "compiled": "specialize"})
(loop,) = _compiled_loop._SPECIALIZED.values()
print(r.compiled, sum(loop.stats.cache_hits.values()), sum(loop.stats.cache_misses.values()),
      r.fun.hex())
"""


def test_a_fresh_process_loads_the_specialized_loop(run_twice, tmp_path):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = run_twice(SPECIALIZED_SCRIPT.replace("SCALE", "100.0"), env=environment)
    assert runs[0][:3] == ["True", "0", "1"]  # compiled by the first process
    assert runs[1] == ["True", "1", "0", runs[0][3]]  # loaded by the second, the same answer
    expected = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der,
                        options={"maxiter": 300, "lr": 1e-2})
    assert float.fromhex(runs[0][3]) == expected.fun


@pytest.mark.slow  # two more compiles of the specialized loop (tests/test_cache.py: edits)
def test_an_edited_objective_compiles_the_specialized_loop_afresh(run_twice, tmp_path):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    (first,) = run_twice(SPECIALIZED_SCRIPT.replace("SCALE", "100.0"), env=environment, times=1)
    assert first[:3] == ["True", "0", "1"]
    expected = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der,
                        options={"maxiter": 300, "lr": 1e-2})
    # one process suffices to see the edit compiled afresh (a second would only load it)
    edited = run_twice(SPECIALIZED_SCRIPT.replace("SCALE", "50.0"), env=environment, times=1)
    assert edited[0][:3] == ["True", "0", "1"]  # the edited functions: compiled afresh
    assert float.fromhex(edited[0][3]) != expected.fun
    files = list((tmp_path / "cache").rglob("*._bound_loop_adam_*"))
    assert files and len({path.name.split("-")[0] for path in files}) == 1  # the old deleted


STAMPED = """from numba import njit
from numba.core.errors import TypingError

@njit(cache=True)
def one(x):
    return (x[0] - 1.0) ** 2

@njit(cache=True)
def three(x):
    return (x[0] - 3.0) ** 2

@njit(cache=True)
def with_default(x, c=1.0):
    return (x[0] - c) ** 2

def make(c, inner=None):
    @njit(cache=True)
    def closure(x):
        return (x[0] - c) ** 2 if inner is None else inner(x)
    return closure

@njit
def not_cached(x):
    return x[0]
"""


@pytest.fixture
def stamped(tmp_path, monkeypatch):
    """A module of jitted functions in a file of ``tmp_path``, imported."""
    (tmp_path / "stamped_objective.py").write_text(STAMPED)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "stamped_objective", raising=False)
    return importlib.import_module("stamped_objective")


def test_numba_cache_stamp_tells_apart_what_changes_the_compiled_code(stamped):
    stamp = _compiled_loop.numba_cache_stamp
    P, Q = collections.namedtuple("P", "a b"), collections.namedtuple("Q", "b a")
    structured = [np.zeros(1, [("a", "<i8"), ("b", "<f8")]),
                  np.zeros(1, [("a", "<f8"), ("b", "<i8")])]  # the same bytes
    functions = [stamped.one, stamped.three, stamped.with_default, stamped.make(1.0),
                 stamped.make(3.0), stamped.make(-0.0), stamped.make(0.0), stamped.make(P(1, 2)),
                 stamped.make(Q(1, 2)), *(stamped.make(array) for array in structured)]
    stamps = [stamp(function) for function in functions]
    # constants, defaults, closure values (-0.0, named tuples, structured dtypes)
    assert len(set(stamps)) == len(stamps)
    assert stamp(stamped.make(1.0)) == stamp(stamped.make(1.0))
    assert stamp(stamped.make(1.0))[0] != stamp(stamped.make(3.0))[0]  # two owners, one line
    assert stamp(stamped.not_cached) is None
    assert stamp(stamped.make(1.0, inner=stamped.one)) is None  # its pickle changes per process


def test_numba_cache_stamp_is_the_same_in_every_process(tmp_path):
    """Even for a compile option given as a set, whose order follows string hashing."""
    (tmp_path / "hashed_objective.py").write_text(
        "from numba import njit\n\n@njit(cache=True, fastmath={'nsz', 'arcp', 'contract'})\n"
        "def f(x):\n    return x[0] in {'a', 'b', 'c'}\n")
    script = ("import sys; sys.path.insert(0, sys.argv[1])\n"
              "from numadam._compiled_loop import numba_cache_stamp\n"
              "from hashed_objective import f\nprint(*numba_cache_stamp(f))\n")
    printed = {subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True,
                              capture_output=True, text=True,
                              env=dict(os.environ, PYTHONHASHSEED=seed)).stdout
               for seed in ("1", "2", "3")}
    assert len(printed) == 1 and printed != {""}


def test_only_older_versions_of_a_specialized_loop_are_deleted(tmp_path):
    module = "_compiled_loop"
    current, older = "_bound_loop_adam_0123456789_aaaa", "_bound_loop_adam_0123456789_bbbb"
    names = [f"{module}.{current}-1.py311.nbi", f"{module}.{current}-1.py311.1.nbc",
             f"{module}.{older}-1.py311.nbi", f"{module}.{older}-1.py311.1.nbc",
             f"{module}.{older}-1.py311.nbi.tmp.77",  # being written by another process
             f"{module}._bound_loop_adam_9876543210_bbbb-1.py311.nbi"]  # another owner
    for name in names:
        (tmp_path / name).write_text("")
    loop = types.SimpleNamespace(_cache=types.SimpleNamespace(_cache_path=str(tmp_path)))
    _compiled_loop._delete_older_versions(loop, "_bound_loop_adam_0123456789_", current)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        names[:2] + names[4:])


def test_numba_cache_stamp_is_the_one_recorded_at_import(stamped, tmp_path):
    """An edit after the import does not change the loaded function, nor its stamp; once the
    module is imported again, both change."""
    before = _compiled_loop.numba_cache_stamp(stamped.one)
    path = tmp_path / "stamped_objective.py"
    path.write_text(STAMPED.replace("1.0) ** 2", "2.0) ** 2", 1))  # the same size
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 10**9))
    assert _compiled_loop.numba_cache_stamp(stamped.one) == before
    reloaded = importlib.reload(stamped)
    assert _compiled_loop.numba_cache_stamp(reloaded.one) != before


def test_compiled_loop_is_skipped_for_float32_and_on_request():
    x0 = np.array([-1.2, 1.0], np.float32)
    assert not minimize(rosen_jit, x0, jac=rosen_jit_der, options={"maxiter": 2}).compiled
    assert not minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der,
                        options={"maxiter": 2, "compiled": False}).compiled


def test_compiled_loop_reports_bad_objectives_like_the_python_loop():
    @njit
    def vector_valued(x):
        return x * 2.0

    @njit
    def wrong_shape_der(x):
        return np.ones(3)

    with pytest.raises(ValueError, match="fun must return a scalar"):
        minimize(vector_valued, [1.0, 2.0], jac=rosen_jit_der, options={"maxiter": 2})
    with pytest.raises(ValueError, match=r"jac must return an array of shape \(2,\)"):
        minimize(rosen_jit, [1.0, 2.0], jac=wrong_shape_der, options={"maxiter": 2})


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.999])
def test_bias_correction_done_is_the_first_step_where_the_correction_is_exactly_one(beta):
    t = adam_rule.bias_correction_done(beta)
    assert 1 - beta**t == 1.0
    assert t == 1.0 or 1 - beta ** (t - 1) != 1.0
    assert adam_rule.bias_correction_done(1 - 2.0**-52) == 2.0**53  # not before 2**53


@njit
def rosen_value_and_grad(x):
    return rosen_jit(x), rosen_jit_der(x)


def test_jitted_fun_returning_value_and_gradient_runs_compiled_and_equals_the_python_loop():
    options = {"lr": 1e-3, "maxiter": 500}
    compiled = minimize(rosen_value_and_grad, [-1.2, 1.0], jac=True, options=options)
    python = minimize(rosen_value_and_grad, [-1.2, 1.0], jac=True,
                      options={**options, "compiled": False})
    separate = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, options=options)
    assert compiled.compiled and not python.compiled and separate.compiled
    for other in (python, separate):
        np.testing.assert_array_equal(compiled.x, other.x)
        assert (compiled.fun, compiled.nit, compiled.nfev) == (other.fun, other.nit,
                                                               other.nfev)


# -- jac_out: the gradient written into an array the loop hands over ------------------------------


JAC_OUT_CASES = [
    (rosen_jit, rosen_jit_der_out, {}, True),  # the compiled loop
    (rosen_jit_value_and_grad_out, True, {}, True),
    (rosen_jit, rosen_der_out, {}, False),  # the lean loop
    (rosen_jit, rosen_jit_der_out, {"compiled": False}, False),
    (rosen_jit_value_and_grad_out, True, {"callback": True}, False),  # the general loop
]


@pytest.mark.parametrize("method, fun, jac, options, compiled", [
    # NAdam (a carried scalar) through the compiled loop's two forms compiles two loops more
    pytest.param(method, *case, marks=[pytest.mark.slow] if method == "nadam" and case[3] else [])
    for method in ("adam", "nadam") for case in JAC_OUT_CASES])
def test_jac_out_equals_returning_the_gradient_bitwise(method, fun, jac, options, compiled):
    settings = {"lr": 1e-2, "maxiter": 300, "ftol": 1e-15, **options}
    callback = do_nothing if settings.pop("callback", False) else None
    bounds = [(-1.1, 2.0), (None, 0.95)]
    returning = minimize(rosen_jit, [-1.2, 1.0], jac=rosen_jit_der, method=method,
                         bounds=bounds, options=settings, callback=callback)
    written = minimize(fun, [-1.2, 1.0], jac=jac, method=method, bounds=bounds,
                       options=dict(settings, jac_out=True), callback=callback)
    assert written.compiled == compiled
    np.testing.assert_array_equal(written.x, returning.x)
    np.testing.assert_array_equal(written.jac, returning.jac)
    assert (written.fun, written.nit, written.nfev, written.status) == (
        returning.fun, returning.nit, returning.nfev, returning.status)


@pytest.mark.parametrize("jac, value, match", [
    (None, True, "jac_out=True needs a callable jac or jac=True"),
    ("2-point", True, "jac_out=True needs a callable jac or jac=True"),
    (rosen_jit_der_out, "yes", "jac_out"),
])
def test_jac_out_needs_a_gradient_function(jac, value, match):
    for run in (lambda: minimize(rosen_jit, [-1.2, 1.0], jac=jac, options={"jac_out": value}),
                lambda: numadam_batch.minimize_batch(rosen_jit, np.zeros((2, 2)), jac=jac,
                                                     options={"jac_out": value})):
        with pytest.raises((ValueError, TypeError), match=match):
            run()


def test_schedule_free_compiled_loop_answers_inside_the_box():
    """Issue 24, item 1, in the compiled loop: Rosenbrock's minimum (1, 1) outside the box
    [0, 0.5]^2; the evaluation point returned lies inside, and success only where gtol holds
    there (tests/test_schedulefree.py checks the other loops)."""
    for gtol in (None, 1e-6):
        result = minimize(rosen_jit, [0.0, 0.0], jac=rosen_jit_der, method="schedulefree_adamw",
                          bounds=[(0.0, 0.5)] * 2, options={"lr": 0.05, "maxiter": 300,
                                                            "gtol": gtol})
        assert result.compiled
        assert ((result.x >= 0.0) & (result.x <= 0.5)).all(), result.x
        g = result.jac
        blocked = ((g < 0) & (result.x >= 0.5)) | ((g > 0) & (result.x <= 0.0))
        if gtol is not None:
            assert result.success == (np.abs(np.where(blocked, 0.0, g)).max() <= gtol)


# -- odd inputs: a sound result or a clear error, the input unchanged (issue 24) ----------------

FUZZ_SHAPES = st.sampled_from([(), (0,), (1,), (3,), (2, 3), (3, 1)])


def _fuzz_square(x):
    return float(np.sum(x * x))


def _fuzz_square_grad(x):
    return 2 * x


@CHEAP
@given(x0=odd_values(FUZZ_SHAPES), jac=st.sampled_from([_fuzz_square_grad, "2-point"]))
def test_any_x0_gives_a_sound_result_or_an_error_naming_it(x0, jac):
    result = outcome(lambda: minimize(_fuzz_square, x0, jac=jac, options={"maxiter": 3}),
                     ["x0"], x0)
    if result is not None:
        assert_sound(result)
        assert result.x.shape == np.atleast_1d(np.asarray(x0)).shape


@CHEAP
@given(bounds=odd_values(st.sampled_from([(3, 2), (2, 2), (0, 2), (3,), (3, 2, 1), ()])))
def test_any_bounds_give_a_sound_result_inside_or_an_error_naming_them(bounds):
    result = outcome(lambda: minimize(_fuzz_square, [0.5, -0.5, 1.0], jac=_fuzz_square_grad,
                                      bounds=bounds, options={"maxiter": 3}), ["bound"], bounds)
    if result is not None and bounds is not None:
        assert_sound(result)
        lower, upper = np.asarray(bounds, dtype=float).T
        assert ((result.x >= lower) & (result.x <= upper)).all()


@CHEAP
@given(lr=odd_values(st.sampled_from([(), (1,), (2,)])),
       gtol=odd_values(st.sampled_from([(), (1,)])),
       maxiter=st.one_of(st.integers(-2, 5), odd_values(st.just(()))))
def test_any_options_give_a_sound_result_or_an_error_naming_them(lr, gtol, maxiter):
    options = {"lr": lr, "gtol": gtol, "maxiter": maxiter}
    result = outcome(lambda: minimize(_fuzz_square, [0.5, -0.5], jac=_fuzz_square_grad,
                                      method="adam", options=options),
                     ["lr", "learning rate", "gtol", "maxiter"], options)
    if result is not None:
        assert_sound(result)
