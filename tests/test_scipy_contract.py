"""What a SciPy user expects of ``minimize``, through both front ends: ``numadam.minimize`` and
``scipy.optimize.minimize(method=numadam.adam)``. One test per item of the contract."""

import inspect
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from scipy.optimize import Bounds

import numadam
from tests.fuzz_inputs import CHEAP, assert_sound, odd_values, outcome


def via_numadam(fun, x0, **kwargs):
    return numadam.minimize(fun, x0, method="adam", **kwargs)


def via_scipy(fun, x0, **kwargs):
    return scipy.optimize.minimize(fun, x0, method=numadam.adam, **kwargs)


FRONT_ENDS = pytest.mark.parametrize("run", [via_numadam, via_scipy], ids=["numadam", "scipy"])


# 1. user code cannot corrupt the iterate ----------------------------------------------------


def mutating_fun(x):
    x -= 1.0  # changes the caller's copy only
    return float(x @ x)


def clean_fun(x):
    y = x - 1.0
    return float(y @ y)


def shifted_grad(x):
    return 2 * (x - 1)


@FRONT_ENDS
def test_fun_that_edits_its_argument_cannot_move_the_iterate(run):
    options = {"lr": 0.1, "maxiter": 50}
    edited = run(mutating_fun, [3.0, 3.0], jac=shifted_grad, options=options)
    clean = run(clean_fun, [3.0, 3.0], jac=shifted_grad, options=options)
    np.testing.assert_array_equal(edited.x, clean.x)
    assert np.abs(edited.x - 1).max() < 0.5  # not [-45, -45]


@njit
def mutating_jit_fun(x):
    x[:] = 0.0
    return (x[0] - 1.0) ** 2


@njit
def mutating_jit_grad(x):
    x[:] = 100.0
    return np.zeros(1)


def test_jitted_fun_that_edits_its_argument_cannot_move_the_iterate():
    result = numadam.minimize(mutating_jit_fun, [3.0], jac=mutating_jit_grad,
                              options={"maxiter": 5})
    assert result.compiled and result.x[0] == 3.0  # zero gradient: the point never moves


def test_callback_gets_a_copy():
    def callback(intermediate_result):
        intermediate_result.x[:] = 1e6

    result = numadam.minimize(clean_fun, [3.0, 3.0], jac=shifted_grad, callback=callback,
                              options={"lr": 0.1, "maxiter": 20})
    assert np.abs(result.x).max() < 10


# 2. jac="cs" is a real complex step -----------------------------------------------------------


def complex_safe(x):
    return np.sum(x**2) + np.sin(x[0])


@FRONT_ENDS
def test_complex_step_gives_the_true_gradient(run):
    """Through SciPy's front end SciPy itself turns jac="cs" into None before it calls any
    custom method (as for its own methods without finite differences): numadam then gets
    2-point differences, accurate to about 1e-8, not a complex step."""
    x0 = np.array([0.3, -0.7])
    result = run(complex_safe, x0, jac="cs", options={"maxiter": 0})
    exact = 2 * x0 + np.array([np.cos(0.3), 0.0])
    np.testing.assert_allclose(result.jac, exact, rtol=1e-14 if run is via_numadam else 1e-7)
    moved = run(complex_safe, x0, jac="cs", options={"lr": 0.05, "maxiter": 300})
    assert moved.fun < complex_safe(x0)


def refuses_complex(x):
    if np.iscomplexobj(x):
        raise TypeError("real input expected")
    return float(x @ x)


def test_complex_step_on_a_real_only_fun_is_a_clear_error():
    with pytest.raises(ValueError, match="jac='cs' needs a fun that computes in complex"):
        via_numadam(lambda x: float(np.real(x @ x)), [1.0, 2.0], jac="cs")
    with pytest.raises(ValueError, match="jac='cs' needs a fun that accepts complex"):
        via_numadam(refuses_complex, [1.0, 2.0], jac="cs")


# 3. finite differences stay inside the bounds ------------------------------------------------


@FRONT_ENDS
@pytest.mark.parametrize("scheme", ["2-point", "3-point"])
def test_finite_differences_never_leave_the_box(run, scheme):
    seen = []

    def fun(x):
        seen.append(x[0])
        return float(np.sqrt(1 - x[0]) + 0.1 * x[0] ** 2)  # NaN beyond x = 1

    result = run(fun, [0.5], jac=scheme, bounds=[(0.0, 1.0)],
                 options={"lr": 0.05, "maxiter": 300})
    assert min(seen) >= 0.0 and max(seen) <= 1.0
    assert result.status != 3 and result.x[0] > 0.99  # reaches the bound, as L-BFGS-B does


# 4. the values SciPy accepts from fun --------------------------------------------------------


@FRONT_ENDS
@pytest.mark.parametrize("wrap", [lambda v: np.array([v]), lambda v: np.array(v),
                                  lambda v: np.float32(v), lambda v: np.array([[v]])],
                         ids=["size-1", "0-d", "numpy scalar", "1x1"])
def test_fun_may_return_a_size_one_array(run, wrap):
    result = run(lambda x: wrap(clean_fun(x)), [3.0, 3.0], jac=shifted_grad,
                 options={"lr": 0.1, "maxiter": 200})
    assert isinstance(result.fun, float) and result.fun < 1e-3


# 5. scalar x0, non-tuple args ----------------------------------------------------------------


@FRONT_ENDS
def test_scalar_x0_and_non_tuple_args(run):
    result = run(lambda x, c: float((x[0] - c) ** 2), 3.0, args=2.0,
                 jac=lambda x, c: 2 * (x - c), options={"lr": 0.1, "maxiter": 500})
    assert result.x.shape == (1,) and result.x[0] == pytest.approx(2.0, abs=1e-3)


# 6. SciPy's signature: hess and hessp warn and are ignored, constraints refused ---------------


def test_numadam_minimize_has_scipys_signature():
    ours = list(inspect.signature(numadam.minimize).parameters)
    theirs = list(inspect.signature(scipy.optimize.minimize).parameters)
    assert ours == theirs


@FRONT_ENDS
@pytest.mark.parametrize("name", ["hess", "hessp"])
def test_hessians_warn_and_are_ignored(run, name):
    plain = run(clean_fun, [3.0, 3.0], jac=shifted_grad, options={"maxiter": 20})
    with pytest.warns(RuntimeWarning, match=f"does not use Hessian information \\({name}\\)"):
        given = run(clean_fun, [3.0, 3.0], jac=shifted_grad, options={"maxiter": 20},
                    **{name: lambda *a: np.eye(2)})
    np.testing.assert_array_equal(given.x, plain.x)


@FRONT_ENDS
def test_constraints_are_refused_clearly(run):
    with pytest.raises(ValueError, match="cannot handle constraints"):
        run(clean_fun, [3.0, 3.0], jac=shifted_grad,
            constraints=[{"type": "eq", "fun": lambda x: x[0]}])


# 7. options as SciPy's methods take them ----------------------------------------------------


@FRONT_ENDS
@pytest.mark.parametrize("maxiter, nit", [(10.0, 10), (None, 1000), (np.int32(7), 7),
                                          (100.1, 100), (2.5, 2)])  # a float truncated: gh-23430
def test_maxiter_as_scipy_takes_it(run, maxiter, nit):
    result = run(clean_fun, [3.0, 3.0], jac=shifted_grad,
                 options={"lr": 1e-4, "maxiter": maxiter})
    assert result.nit == nit


@FRONT_ENDS
def test_maxiter_inf_runs_to_the_tolerance(run):
    result = run(clean_fun, [3.0, 3.0], jac=shifted_grad,
                 options={"lr": 0.1, "maxiter": np.inf, "gtol": 1e-6})
    assert result.success and np.abs(result.jac).max() <= 1e-6
    with pytest.raises(ValueError, match="maxiter=inf needs a tolerance"):
        run(clean_fun, [3.0, 3.0], jac=shifted_grad, options={"maxiter": np.inf})
    with pytest.raises(ValueError, match="maxiter must be a non-negative number"):
        run(clean_fun, [3.0, 3.0], jac=shifted_grad, options={"maxiter": -2.5})


@FRONT_ENDS
def test_an_upper_bound_below_its_lower_one_raises_scipys_message(run):
    with pytest.raises(ValueError, match="An upper bound is less than the corresponding lower"):
        run(clean_fun, [0.5, 0.5], jac=shifted_grad, bounds=[(0, 1), (1, 0)])
    scipy_message = "An upper bound is less than the corresponding lower bound."
    with pytest.raises(ValueError, match=scipy_message):  # SciPy's own L-BFGS-B says the same
        scipy.optimize.minimize(clean_fun, [0.5, 0.5], bounds=[(0, 1), (1, 0)])


@FRONT_ENDS
@pytest.mark.parametrize("options, warned", [
    ({"maxiter": 3}, "Maximum number of iterations has been exceeded"),
    ({"maxiter": 3, "gtol": 1e-12}, "Maximum number of iterations has been exceeded"),
    ({"maxiter": 50, "maxfev": 4}, "Maximum number of function evaluations has been exceeded"),
    ({"maxiter": 500, "gtol": 1e-3, "lr": 0.1}, None),  # a tolerance met: no warning
])
def test_disp_warns_when_the_budget_runs_out_as_scipy(run, options, warned, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(clean_fun, [3.0, 3.0], jac=shifted_grad, options={**options, "disp": True})
    budget = [w for w in caught if issubclass(w.category, scipy.optimize.OptimizeWarning)]
    if warned is None:
        assert budget == []
    else:
        assert [str(w.message) for w in budget] == [warned + "."]
        assert budget[0].filename == __file__  # points at the caller's line
    assert "Iterations:" in capsys.readouterr().out


@FRONT_ENDS
def test_disp_and_finite_diff_rel_step_are_known_options(run, capsys):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "Unknown solver options")
        warnings.filterwarnings("ignore", "Maximum number of iterations")  # disp's, as SciPy
        result = run(clean_fun, [3.0, 3.0], options={"disp": True, "maxiter": 5,
                                                     "finite_diff_rel_step": 1e-6})
    printed = capsys.readouterr().out
    assert "Iterations: 5" in printed and "Function evaluations:" in printed
    assert result.nit == 5


@FRONT_ENDS
def test_maxfev_stops_with_status_2(run):
    result = run(clean_fun, [3.0, 3.0], jac=shifted_grad,
                 options={"lr": 0.01, "maxiter": 1000, "maxfev": 20, "gtol": 1e-12})
    assert result.status == 2 and not result.success and result.nfev == 20
    assert "function evaluations" in result.message
    differences = run(clean_fun, [3.0, 3.0], options={"maxfev": 20, "gtol": 1e-12})
    assert differences.status == 2 and 20 <= differences.nfev < 23  # an iteration costs 3


@njit
def jit_fun(x):
    return (x[0] - 1.0) ** 2


@njit
def jit_grad(x):
    return 2 * (x - 1.0)


def test_maxfev_in_the_compiled_loop_equals_the_python_loop():
    options = {"lr": 0.01, "maxfev": 20, "gtol": 1e-12}
    compiled = numadam.minimize(jit_fun, [3.0], jac=jit_grad, options=options)
    python = numadam.minimize(jit_fun, [3.0], jac=jit_grad, options={**options,
                                                                     "compiled": False})
    assert compiled.compiled and (compiled.status, compiled.nfev) == (2, 20)
    np.testing.assert_array_equal(compiled.x, python.x)
    assert (python.status, python.nfev, python.nit) == (2, 20, compiled.nit)


@FRONT_ENDS
@pytest.mark.parametrize("bounds", [Bounds([0.0] * 3, [1.0] * 3), [(0, 1), (0, 1), (0, 1)]])
def test_malformed_bounds_get_scipys_message(run, bounds):
    with pytest.raises(ValueError, match="number of bounds is not compatible with the length"):
        run(clean_fun, [3.0, 3.0], jac=shifted_grad, bounds=bounds)


# 8. never a success at a point worse than the start -----------------------------------------


def rough(x):
    """A bowl under ripples much shorter than Adam's steps at lr = 0.3."""
    return float(np.sum(x**2 + 0.5 * np.sin(40 * x)))


def rough_grad(x):
    return 2 * x + 20 * np.cos(40 * x)


@FRONT_ENDS
def test_the_best_evaluated_iterate_is_returned(run):
    seen = []

    def fun(x):
        seen.append(rough(x))
        return seen[-1]

    x0 = [0.05, -0.02]
    result = run(fun, x0, jac=rough_grad, options={"lr": 0.3, "maxiter": 60})
    assert result.fun == min(seen) <= rough(np.array(x0))
    assert result.fun == rough(result.x)
    np.testing.assert_array_equal(result.jac, rough_grad(result.x))
    last = run(fun, x0, jac=rough_grad, options={"lr": 0.3, "maxiter": 60,
                                                 "return_best": False})
    assert last.fun > rough(np.array(x0))  # this run ends above its start...
    assert last.status == 4 and not last.success  # ... and does not call that a success
    assert "worse than the start" in last.message


@njit
def rough_jit(x):
    return np.sum(x**2 + 0.5 * np.sin(40 * x))


@njit
def rough_jit_grad(x):
    return 2 * x + 20 * np.cos(40 * x)


@pytest.mark.parametrize("return_best", [True, False])
def test_best_iterate_in_the_compiled_loop_equals_the_python_loop(return_best):
    options = {"lr": 0.3, "maxiter": 60, "return_best": return_best}
    compiled = numadam.minimize(rough_jit, [0.05, -0.02], jac=rough_jit_grad, options=options)
    python = numadam.minimize(rough_jit, [0.05, -0.02], jac=rough_jit_grad,
                              options={**options, "compiled": False})
    assert compiled.compiled and not python.compiled
    np.testing.assert_array_equal(compiled.x, python.x)
    assert (compiled.fun, compiled.status, compiled.nit) == (python.fun, python.status,
                                                             python.nit)
    batch = numadam.minimize_batch(rough_jit, np.array([[0.05, -0.02]] * 2), jac=rough_jit_grad,
                                   options=options)
    np.testing.assert_array_equal(batch.x[0], compiled.x)
    assert batch.status[0] == compiled.status


def test_maximize_keeps_the_highest_point():
    result = numadam.minimize(lambda x: -rough(x), [0.05, -0.02],
                              jac=lambda x: -rough_grad(x),
                              options={"lr": 0.3, "maxiter": 60, "maximize": True})
    assert result.fun >= -rough(np.array([0.05, -0.02]))


# Found by a review (2026-11-30): each case below failed before its fix ---------------------


def shifted_square(x):
    return float(((x - 3.0) ** 2).sum())


@FRONT_ENDS
def test_float32_finite_differences_take_a_float32_sized_step(run):
    single = run(shifted_square, np.array([0.05, 0.99], np.float32), options={"maxiter": 5})
    double = run(shifted_square, np.array([0.05, 0.99]), options={"maxiter": 5})
    assert single.x.dtype == np.float32 and single.nit == 5
    np.testing.assert_allclose(single.jac, double.jac, rtol=1e-3)  # was exactly 0


@FRONT_ENDS
@pytest.mark.parametrize("jac", [None, "3-point", "cs"])
def test_a_variable_fixed_by_its_bounds_gets_no_finite_difference(run, jac):
    def fun(x):
        return ((x - 3.0) ** 2).sum()  # complex-safe, for "cs"

    result = run(fun, [0.05, 0.5], jac=jac, bounds=[(0.05, 0.05), (0, 1)],
                 options={"lr": 0.05, "maxiter": 100})
    assert result.status == 0 and result.jac[0] == 0.0  # was a 0/0: NaN, status 3
    assert result.x[0] == 0.05 and result.x[1] == 1.0


@FRONT_ENDS
def test_float32_bounds_are_rounded_inward(run):
    seen = []

    def fun(x):
        seen.append(x.copy())
        return float(-x.sum())  # pushes x up against its upper bound

    result = run(fun, np.array([0.0], np.float32), bounds=[(-0.1, 0.1)],
                 options={"lr": 0.1, "maxiter": 5})
    assert max(float(x[0]) for x in seen) <= 0.1 and float(result.x[0]) <= 0.1


@FRONT_ENDS
@pytest.mark.parametrize("bounds, match", [
    ([(-np.inf, -np.inf), (0, 1)], "room for finite values"),
    ([(np.inf, np.inf), (0, 1)], "room for finite values"),
    (5, "sequence of \\(lo, hi\\) pairs"),
    ([(0, 1, 2), (0, 1)], "\\(lo, hi\\) pairs"),
    ([(0j, 1), (0, 1)], "real numbers"),
    (Bounds(np.zeros((2, 1)), np.ones((2, 1))), "not compatible with the length"),
])
def test_bounds_without_room_or_malformed_are_refused_naming_bounds(run, bounds, match):
    with pytest.raises((TypeError, ValueError), match=match):
        run(clean_fun, [0.5, 0.5], jac=shifted_grad, bounds=bounds)


@FRONT_ENDS
def test_a_single_constraint_object_is_refused_clearly(run):
    constraint = scipy.optimize.NonlinearConstraint(lambda x: x[0], 0, 1)
    with pytest.raises(ValueError, match="cannot handle constraints"):
        run(clean_fun, [3.0, 3.0], jac=shifted_grad, constraints=constraint)


@FRONT_ENDS
def test_maxfev_inf_with_a_finite_maxiter_and_the_reverse(run):
    result = run(clean_fun, [3.0, 3.0], jac=shifted_grad,
                 options={"maxfev": np.inf, "maxiter": 10})
    assert result.nit == 10
    result = run(clean_fun, [3.0, 3.0], jac=shifted_grad,
                 options={"maxiter": np.inf, "maxfev": 10})
    assert result.status == 2 and result.nfev == 10


def test_the_hessian_warning_points_at_the_minimize_call():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # the call's first line
        numadam.minimize(clean_fun, [3.0, 3.0], jac=shifted_grad, hess=np.eye,
                         options={"maxiter": 2})
    assert [warning.lineno for warning in caught] == [line]
    assert caught[0].filename == __file__


@FRONT_ENDS
@pytest.mark.parametrize("value", [1.0 + 2.0j, np.complex128(1.0), "0.99", [object()]])
def test_fun_values_that_are_not_real_numbers_are_refused(run, value):
    with pytest.raises(TypeError, match="fun must return a real number"):
        run(lambda x: value, [3.0, 3.0], jac=shifted_grad, options={"maxiter": 2})


@FRONT_ENDS
@pytest.mark.parametrize("value", [np.array([1j, 1.0]), ["1.0", "2.0"], None])
def test_gradients_that_are_not_real_numbers_are_refused(run, value):
    with pytest.raises(TypeError, match="jac must return an array of real numbers"):
        run(clean_fun, [3.0, 3.0], jac=lambda x: value, options={"maxiter": 2})


@FRONT_ENDS
def test_finite_diff_rel_step_is_checked(run):
    with pytest.raises(ValueError, match="finite_diff_rel_step"):
        run(clean_fun, [3.0, 3.0], options={"finite_diff_rel_step": "a"})
    with pytest.raises(ValueError, match="finite_diff_rel_step"):
        run(clean_fun, [3.0, 3.0], options={"finite_diff_rel_step": [1e-3, 1e-3, 1e-3]})


@FRONT_ENDS
def test_a_callback_editing_the_gradient_changes_nothing(run):
    def editing(intermediate_result):
        intermediate_result.jac *= 0
        intermediate_result.x *= 0

    options = {"lr": 0.1, "maxiter": 30}
    plain = run(clean_fun, [3.0, 3.0], jac=shifted_grad, options=options)
    edited = run(clean_fun, [3.0, 3.0], jac=shifted_grad, callback=editing, options=options)
    np.testing.assert_array_equal(edited.x, plain.x)


def nan_near_one(x):
    return np.nan if abs(x[0] - 1.0) < 0.1 else float((x[0] - 1.0) ** 2)


@FRONT_ENDS
def test_a_nan_at_the_averaged_point_is_not_a_success(run):
    result = run(nan_near_one, [0.0], jac=shifted_grad,
                 options={"lr": 1.0, "maxiter": 10, "average": "polyak"})
    assert result.status == 3 and not result.success and np.isfinite(result.fun)
    assert result.fun == nan_near_one(result.x)


def test_a_nan_at_the_schedule_free_evaluation_point_is_not_a_success():
    calls = [0]

    def fun(x):
        calls[0] += 1
        return np.nan if calls[0] == 7 else float(((x - 1.0) ** 2).sum())  # 7: the last one

    result = numadam.minimize(fun, [0.0, 0.0], jac=shifted_grad, method="schedulefree_adamw",
                              options={"maxiter": 5})
    assert result.status == 3 and not result.success and np.isfinite(result.fun)


@njit
def square_in_buffer(x, buffer):
    return ((x - 1.0) ** 2).sum()


@njit
def gradient_in_buffer(x, buffer):
    for i in range(x.shape[0]):
        buffer[i] = 2.0 * (x[i] - 1.0)
    return buffer  # one array on every call


@njit
def gradient_in_x(x, buffer):
    for i in range(x.shape[0]):
        x[i] = 2.0 * (x[i] - 1.0)
    return x  # its own argument


@pytest.mark.parametrize("jac", [gradient_in_buffer, gradient_in_x])
def test_a_jitted_jac_handing_back_one_array_keeps_the_right_gradient(jac):
    options = {"lr": 1.5, "maxiter": 5}  # overshoots: the best point is the start
    runs = [numadam.minimize(square_in_buffer, [0.0, 0.5], args=(np.zeros(2),), jac=jac,
                             method="sgd", options={**options, "compiled": compiled})
            for compiled in (True, False)]
    assert runs[0].compiled and not runs[1].compiled
    for result in runs:
        np.testing.assert_array_equal(result.jac, 2 * (result.x - 1))
    batch = numadam.minimize_batch(square_in_buffer, np.array([[0.0, 0.5]]), jac=jac,
                                   args=(np.zeros(2),), method="sgd", options=options)
    np.testing.assert_array_equal(batch.jac[0], runs[0].jac)


def test_views_of_one_buffer_are_copied_in_the_python_loop():
    buffer = np.zeros(2)

    def jac(x):
        buffer[:] = 2.0 * (x - 1.0)
        return buffer[:]  # a new view of the same memory on every call

    options = {"lr": 0.3, "maxiter": 4}
    with_callback = numadam.minimize(clean_fun, [0.0, 0.5], jac=jac, method="momentum",
                                     callback=lambda xk: None, options=options)
    np.testing.assert_array_equal(with_callback.jac, 2 * (with_callback.x - 1))


INTS_APART = """
import numpy as np
from numba import njit
import numadam

@njit
def offset_square(x, k):
    return ((x - 1.0) ** 2).sum() + (1.0 if k > 0 else -1.0)

@njit
def offset_square_grad(x, k):
    return 2.0 * (x - 1.0)

fun, jac = njit(offset_square.py_func), njit(offset_square_grad.py_func)
expected = [numadam.minimize(fun, [0.0, 0.0], args=(k,), jac=jac,
                             options={"maxiter": 3, "compiled": False}).fun for k in (2**63, -5)]
results = [numadam.minimize(offset_square, [0.0, 0.0], args=(k,), jac=offset_square_grad,
                            options={"maxiter": 3}).fun for k in (2**63, -5)]
assert results == expected, (results, expected)
print("ok")
"""


def test_ints_numba_types_apart_get_their_own_loop():
    # 2**63 is typed uint64 and -5 int64, but fingerprinted alike: the loop kept for the first
    # call must not be reused for the second (it raised OverflowError). (The reverse order
    # fails in Numba's own dispatch of the function.) In a process of its own: after Numba's
    # dispatch refuses such a call, it refuses every later function of that signature through
    # the compiled loop (they fall back on the Python loop), which other tests would see.
    done = subprocess.run([sys.executable, "-c", INTS_APART], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and "ok" in done.stdout, done.stdout + done.stderr


def test_float32_in_the_other_byte_order_stays_float32():
    result = numadam.minimize(clean_fun, np.array([3.0, 3.0], ">f4"), jac=shifted_grad,
                              options={"maxiter": 3})
    assert result.x.dtype == np.float32


# -- odd inputs through SciPy's own minimize (issue 24) ------------------------------------------


def _fuzz_square(x):
    return float(np.sum(x * x))


def _fuzz_square_grad(x):
    return 2 * x


@CHEAP
@given(x0=odd_values(st.sampled_from([(), (0,), (3,), (2, 3)])),
       lr=odd_values(st.sampled_from([(), (2,)])),
       method=st.sampled_from([numadam.adam, numadam.schedulefree_adamw, numadam.rprop]))
def test_the_scipy_entry_points_take_any_input_soundly_or_name_it(x0, lr, method):
    """SciPy checks some inputs itself (its messages name x0 too); whatever passes reaches
    numadam's checks: a sound result or a ValueError/TypeError naming the parameter."""
    result = outcome(lambda: scipy.optimize.minimize(_fuzz_square, x0, jac=_fuzz_square_grad,
                                                     method=method,
                                                     options={"lr": lr, "maxiter": 3}),
                     ["x0", "lr", "learning rate"], x0, lr)
    if result is not None:
        assert_sound(result)
