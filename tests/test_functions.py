"""The test-function gallery: values, gradients, minima, Numba use, the Problem registry."""

import ast
import inspect
import math

import numpy as np
import pytest
import scipy.optimize
from numba import njit

import numadam
from numadam import functions as F

TWO_D = ("beale", "himmelblau", "booth")
N_D = ("rosenbrock", "rastrigin", "ackley", "styblinski_tang", "quadratic")

# (name, n) for every registry entry, n-D ones in 2 and 5 dimensions
CASES = [(name, 2) for name in TWO_D] + [(name, n) for name in N_D for n in (2, 5)]
CASE_IDS = [f"{name}-{n}" for name, n in CASES]


def _problem(name, n, **params):
    if name == "quadratic":
        params.setdefault("kappa", 100.0)
    return F.get_problem(name, n, **params)


def _central_differences(fun, x):
    """Central differences with a step scaled to each coordinate (error about eps^(2/3))."""
    g = np.empty_like(x)
    for i in range(x.size):
        h = 6e-6 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (fun(up) - fun(down)) / (up[i] - down[i])
    return g


# Independent NumPy formulas, written from the literature rather than from functions.py.
def _np_rosen(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _np_beale(x):
    u, v = x
    return sum((c - u * (1 - v**k)) ** 2 for k, c in ((1, 1.5), (2, 2.25), (3, 2.625)))


def _np_rastrigin(x):
    return 10 * x.size + np.sum(x**2 - 10 * np.cos(2 * np.pi * x))


def _np_ackley(x):
    return (-20 * np.exp(-0.2 * np.sqrt(np.mean(x**2))) - np.exp(np.mean(np.cos(2 * np.pi * x)))
            + 20 + np.e)


REFERENCE_FORMULAS = {
    "rosenbrock": _np_rosen,
    "beale": _np_beale,
    "himmelblau": lambda x: (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2,
    "booth": lambda x: (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2,
    "rastrigin": _np_rastrigin,
    "ackley": _np_ackley,
    "styblinski_tang": lambda x: np.sum(x**4 - 16 * x**2 + 5 * x) / 2,
    "quadratic": lambda x: 0.5 * np.sum(np.geomspace(1, 100, x.size) * x**2),
}


def _random_points(problem, rng, count=6):
    lo, hi = np.array(problem.bounds).T
    return [rng.uniform(lo, hi) for _ in range(count)]


# ------------------------------------------------------------------------------------------------
# Minima, gradients, formulas
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "n"), CASES, ids=CASE_IDS)
def test_value_and_gradient_at_the_known_minima(name, n):
    problem = _problem(name, n)
    assert problem.dim == n == problem.x0.size and len(problem.bounds) == n
    assert problem.minima
    for minimum in problem.minima:
        assert minimum.shape == (n,)
        assert problem.fun(minimum) == pytest.approx(problem.fmin, rel=1e-14, abs=1e-14)
        np.testing.assert_allclose(problem.jac(minimum), 0.0, atol=1e-12)
        assert problem.success(minimum) and problem.distance(minimum) == 0.0
        lo, hi = np.array(problem.bounds).T
        assert np.all((lo <= minimum) & (minimum <= hi))
    # the start is inside the box and not already a minimiser
    assert problem.fun(problem.x0) > problem.fmin + 1e-2
    assert not problem.success(problem.x0)


@pytest.mark.parametrize(("name", "n"), CASES, ids=CASE_IDS)
def test_known_minimum_is_not_beaten_nearby(name, n, rng):
    problem = _problem(name, n)
    for minimum in problem.minima:
        for _ in range(20):
            assert problem.fun(minimum + 1e-3 * rng.standard_normal(n)) > problem.fmin


@pytest.mark.parametrize(("name", "n"), CASES, ids=CASE_IDS)
def test_gradient_matches_central_differences(name, n, rng):
    problem = _problem(name, n)
    for x in _random_points(problem, rng):
        numeric = _central_differences(problem.fun, x)
        scale = max(1.0, np.abs(numeric).max())
        np.testing.assert_allclose(problem.jac(x), numeric, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.parametrize(("name", "n"), CASES, ids=CASE_IDS)
def test_value_matches_an_independent_numpy_formula(name, n, rng):
    problem = _problem(name, n)
    reference = REFERENCE_FORMULAS[name]
    for x in _random_points(problem, rng):
        assert problem.fun(x) == pytest.approx(reference(x), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(("fun", "x", "expected"), [
    (F.rosen, [1.0, 2.0], 100.0),
    (F.rosen, [0.0, 0.0, 0.0], 2.0),
    (F.beale, [0.0, 0.0], 1.5**2 + 2.25**2 + 2.625**2),
    (F.himmelblau, [0.0, 0.0], 170.0),
    (F.booth, [0.0, 0.0], 74.0),
    (F.rastrigin, [1.0, 1.0], 2.0),
    (F.rastrigin, [0.5, 0.0, 0.0], 20.25),
    (F.ackley, [1.0, 1.0], 20 * (1 - math.exp(-0.2))),
    (F.styblinski_tang, [0.0, 0.0], 0.0),
    (F.styblinski_tang, [1.0, 1.0], -10.0),
])
def test_values_from_the_literature(fun, x, expected):
    assert fun(np.array(x)) == pytest.approx(expected, rel=1e-13, abs=1e-13)


def test_rosen_is_scipys_bitwise(rng):
    for n in (2, 3, 7, 50):
        x = 2 * rng.standard_normal(n)
        assert F.rosen(x) == pytest.approx(scipy.optimize.rosen(x), rel=1e-14)
        np.testing.assert_array_equal(F.rosen_der(x), scipy.optimize.rosen_der(x))
    x32 = rng.standard_normal(6).astype(np.float32)
    np.testing.assert_allclose(F.rosen_der(x32), scipy.optimize.rosen_der(x32), rtol=1e-5)
    assert F.rosen(np.array([3.0])) == 0.0  # empty sum, as SciPy
    np.testing.assert_array_equal(F.rosen_der(np.array([3.0])), [0.0])


def test_ackley_subgradient_at_the_kink():
    np.testing.assert_array_equal(F.ackley_der(np.zeros(3)), 0.0)
    # near the kink the gradient has norm about a*b = 4 (times a unit vector / sqrt(n))
    g = F.ackley_der(np.array([1e-9, 0.0]))
    assert g[0] == pytest.approx(4 / math.sqrt(2), rel=1e-6)


def test_styblinski_tang_constants():
    t = F.STYBLINSKI_TANG_ARGMIN
    assert abs(4 * t**3 - 32 * t + 5) < 1e-12
    assert 0.5 * (t**4 - 16 * t**2 + 5 * t) == pytest.approx(F.STYBLINSKI_TANG_MIN_PER_DIM,
                                                             rel=1e-15)


# ------------------------------------------------------------------------------------------------
# dtypes, shapes, Numba
# ------------------------------------------------------------------------------------------------


VALUE_AND_GRADIENT = [
    (F.rosen, F.rosen_der, 4), (F.beale, F.beale_der, 2), (F.himmelblau, F.himmelblau_der, 2),
    (F.booth, F.booth_der, 2), (F.rastrigin, F.rastrigin_der, 3), (F.ackley, F.ackley_der, 3),
    (F.styblinski_tang, F.styblinski_tang_der, 3),
]
PAIR_IDS = [fun.__name__ for fun, _, _ in VALUE_AND_GRADIENT]


@pytest.mark.parametrize(("fun", "jac", "n"), VALUE_AND_GRADIENT, ids=PAIR_IDS)
def test_float32_stays_float32_and_integers_become_float64(fun, jac, n, rng):
    x = rng.uniform(-2, 2, n)
    x32 = x.astype(np.float32)
    g32 = jac(x32)
    assert g32.dtype == np.float32 and g32.shape == (n,)
    np.testing.assert_allclose(g32, jac(x32.astype(np.float64)), rtol=1e-6, atol=1e-6)
    assert isinstance(fun(x32), float)
    ints = np.arange(n) - 1
    assert jac(ints).dtype == np.float64
    np.testing.assert_array_equal(jac(ints), jac(ints.astype(np.float64)))
    assert fun(ints) == fun(ints.astype(np.float64))
    # a strided view works and the input is never modified
    wide = np.repeat(x, 2)
    np.testing.assert_array_equal(jac(wide[::2]), jac(x))
    before = x.copy()
    fun(x), jac(x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", TWO_D)
def test_two_dimensional_functions_reject_other_sizes(name):
    problem = F.get_problem(name)
    for size in (1, 3):
        with pytest.raises(ValueError, match="2-D"):
            problem.fun(np.zeros(size))
        with pytest.raises(ValueError, match="2-D"):
            problem.jac(np.zeros(size))


@njit
def _value_and_gradient_inside(fun, jac, x):
    return fun(x), jac(x)


@njit
def _gradient_descent(x, lr, steps):
    """A fully compiled loop using the gallery: the point of making them @njit."""
    for _ in range(steps):
        x = x - lr * F.rosen_der(x)
    return x, F.rosen(x)


@pytest.mark.parametrize(("name", "n"), CASES, ids=CASE_IDS)
def test_numpy_call_and_call_from_jitted_code_agree(name, n, rng):
    problem = _problem(name, n)
    x = _random_points(problem, rng, 1)[0]
    f, g = _value_and_gradient_inside(problem.fun, problem.jac, x)
    assert f == pytest.approx(problem.fun(x), rel=1e-15, abs=1e-300)
    np.testing.assert_allclose(g, problem.jac(x), rtol=1e-15, atol=1e-300)


def test_a_compiled_loop_can_use_the_functions():
    x0 = np.array([-1.2, 1.0])
    x, f = _gradient_descent(x0, 1e-3, 2000)
    # the same loop in Python gives the same iterate
    y = x0.copy()
    for _ in range(2000):
        y = y - 1e-3 * F.rosen_der(y)
    np.testing.assert_allclose(x, y, rtol=1e-12)
    assert f == pytest.approx(F.rosen(y), rel=1e-12) and f < F.rosen(x0)


def test_numadam_minimize_runs_its_compiled_loop_on_a_problem():
    problem = F.get_problem("rosenbrock")
    result = numadam.minimize(problem.fun, problem.x0, jac=problem.jac, method="adam",
                              options={"lr": 2e-2, "maxiter": 3000})
    assert getattr(result, "compiled", True)
    assert problem.success(result.x, tol=1e-2), result.x
    python_loop = numadam.minimize(problem.fun, problem.x0, jac=problem.jac, method="adam",
                                   options={"lr": 2e-2, "maxiter": 3000, "compiled": False})
    np.testing.assert_allclose(result.x, python_loop.x, rtol=1e-12)
    np.testing.assert_array_equal(problem.x0, [-1.2, 1.0])  # the record's start is untouched


# ------------------------------------------------------------------------------------------------
# The ill-conditioned quadratic
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rotate", [False, True])
def test_quadratic_has_the_requested_spectrum(rotate, rng):
    problem = F.make_quadratic(6, kappa=1e4, rotate=rotate, rng=1)
    d, A = problem.params["d"], problem.params["A"]
    assert d[0] == 1.0 and d[-1] == 1e4
    np.testing.assert_allclose(np.diff(np.log(d)), np.log(1e4) / 5)
    np.testing.assert_allclose(np.linalg.eigvalsh(A), d, rtol=1e-10)
    assert np.linalg.cond(A) == pytest.approx(1e4, rel=1e-8)
    assert (np.count_nonzero(A - np.diag(np.diag(A))) > 0) == rotate
    x = rng.standard_normal(6)
    assert problem.fun(x) == pytest.approx(0.5 * x @ A @ x, rel=1e-12)
    np.testing.assert_allclose(problem.jac(x), A @ x, rtol=1e-12, atol=1e-12)
    assert problem.jac(x.astype(np.float32)).dtype == np.float32


def test_quadratic_rotation_is_reproducible_and_frozen():
    a = F.make_quadratic(4, 10.0, rotate=True, rng=7)
    b = F.make_quadratic(4, 10.0, rotate=True, rng=7)
    c = F.make_quadratic(4, 10.0, rotate=True, rng=8)
    x = np.arange(1.0, 5.0)
    assert a.fun(x) == b.fun(x) != c.fun(x)
    a.params["A"][:] = 0.0  # the jitted functions hold their own copy
    assert a.fun(x) == b.fun(x)


def test_diagonal_quadratic_and_legacy_factory(rng):
    d = np.array([1.0, 10.0, 100.0])
    x = rng.standard_normal(3)
    assert F.diagonal_quadratic(x, d) == pytest.approx(0.5 * np.sum(d * x * x))
    np.testing.assert_allclose(F.diagonal_quadratic_der(x, d), d * x)
    fun, jac = F.ill_conditioned_quadratic(3, condition_number=100.0)
    assert fun(x) == pytest.approx(F.diagonal_quadratic(x, d), rel=1e-14)
    np.testing.assert_allclose(jac(x), d * x, rtol=1e-14)


@pytest.mark.parametrize("kappa", [0.5, float("nan"), float("inf")])
def test_quadratic_rejects_bad_condition_numbers(kappa):
    with pytest.raises(ValueError, match="kappa"):
        F.make_quadratic(3, kappa)


# ------------------------------------------------------------------------------------------------
# The registry and the Problem record
# ------------------------------------------------------------------------------------------------


def test_registry_names_and_aliases():
    assert set(F.PROBLEMS) == set(TWO_D) | set(N_D)
    assert F.get_problem("Rosen").name == "rosenbrock"
    assert F.get_problem("styblinski-tang", 3).name == "styblinski_tang"
    assert F.get_problem("ill_conditioned_quadratic", 3).name == "quadratic"
    assert F.get_problem("quadratic", 3, rotate=True, rng=0).name == "quadratic_rotated"


@pytest.mark.parametrize(("args", "kwargs", "exception", "match"), [
    (("nope",), {}, ValueError, "unknown problem"),
    (("beale", 3), {}, ValueError, "n=2 only"),
    (("rastrigin", 0), {}, ValueError, "positive integer"),
    (("rastrigin", 2.5), {}, ValueError, "positive integer"),
    (("rastrigin",), {"kappa": 3.0}, TypeError, "takes no parameters"),
    (("rastrigin",), {"dtype": np.int64}, ValueError, "float32 or float64"),
])
def test_get_problem_errors(args, kwargs, exception, match):
    with pytest.raises(exception, match=match):
        F.get_problem(*args, **kwargs)


def test_problems_are_fresh_typed_and_frozen():
    a = F.get_problem("rosenbrock", 5)
    np.testing.assert_array_equal(a.x0, [-1.2, 1.0, -1.2, 1.0, -1.2])
    a.x0[:] = 0.0
    assert F.get_problem("rosenbrock", 5).x0[0] == -1.2
    with pytest.raises(AttributeError):
        a.fmin = 1.0
    p32 = F.get_problem("himmelblau", dtype=np.float32)
    assert p32.x0.dtype == np.float32 and all(m.dtype == np.float32 for m in p32.minima)
    assert len(p32.minima) == 4
    assert F.get_problem("styblinski_tang", 4).fmin == pytest.approx(-39.16616570377142 * 4)
    assert "rosenbrock" in repr(a)


def test_box_distance_and_success():
    problem = F.get_problem("rosenbrock")
    assert problem.box == ((-2.0, 2.0), (-1.0, 3.0)) == problem.bounds
    assert F.get_problem("rastrigin", 5).box == ((-5.12, 5.12), (-5.12, 5.12))
    assert problem.distance([1.0, 1.5]) == 0.5
    assert problem.success([1.0, 1.0 + 1e-6]) and not problem.success([1.0, 1.0 + 1e-4])
    assert problem.success([1.0, 1.0 + 1e-4], tol=1e-3)
    himmelblau = F.get_problem("himmelblau")
    assert himmelblau.success(np.array(F.HIMMELBLAU_MINIMA[2]) + 1e-7)


# Found by a review (2026-11-30): each case below failed before its fix ---------------------


def test_quadratics_refuse_a_point_of_another_length():
    quadratic = F.make_quadratic(3)
    with pytest.raises(ValueError, match="same length"):
        quadratic.fun(np.ones(5))  # read past the coefficients' end: garbage
    with pytest.raises(ValueError, match="same length"):
        F.diagonal_quadratic_der(np.ones(5), np.ones(2))
    rotated = F.make_quadratic(3, rotate=True, rng=0)
    with pytest.raises(ValueError, match="same length"):
        rotated.jac(np.ones(4))


@pytest.mark.parametrize("fun, point", [(F.styblinski_tang, [100000, 1]),
                                        (F.rastrigin, [2**32, 0]), (F.ackley, [2**32, 3]),
                                        (F.beale, [100000, 3000])])
def test_integer_points_are_computed_as_float64(fun, point):
    assert fun(np.array(point)) == fun(np.array(point, dtype=np.float64))


#: Every value and gradient function of one point.
ONE_ARGUMENT = [F.rosen, F.rosen_der, F.beale, F.beale_der, F.himmelblau, F.himmelblau_der,
                F.booth, F.booth_der, F.rastrigin, F.rastrigin_der, F.ackley, F.ackley_der,
                F.styblinski_tang, F.styblinski_tang_der]

#: A value and a gradient of each kind (n-D, 2-D, with a helper): every input type compiles
#: the function afresh, so the behaviour is checked on these and the line that gives it is
#: checked in every function (test_every_function_takes_its_point_through_vector)
SAMPLE = [F.rosen, F.rosen_der, F.beale_der, F.ackley]


@pytest.mark.parametrize("fun", ONE_ARGUMENT + [F.diagonal_quadratic, F.diagonal_quadratic_der,
                                                F._dense_quadratic, F._dense_quadratic_der],
                         ids=lambda f: f.__name__)
def test_every_function_takes_its_point_through_vector(fun):
    statements = ast.parse(inspect.getsource(fun.py_func)).body[0].body
    if isinstance(statements[0], ast.Expr):  # the docstring
        statements = statements[1:]
    assert ast.unparse(statements[0]) == "x = _vector(x)"


@pytest.mark.parametrize("fun", SAMPLE, ids=lambda f: f.__name__)
def test_what_is_not_a_vector_is_refused_naming_x(fun):
    for bad, what in ((np.ones((2, 2)), "a 2-D array"), (np.ones(()), "a 0-D array"),
                      (2.0, "float64"), ((1, 2.0), "Tuple")):
        with pytest.raises(ValueError, match=f"x must be a 1-D array \\(a vector\\), got {what}"):
            fun(bad)


@pytest.mark.filterwarnings("ignore::numba.NumbaPendingDeprecationWarning")  # reflected lists
@pytest.mark.parametrize("fun", SAMPLE, ids=lambda f: f.__name__)
def test_lists_and_tuples_of_numbers_are_taken_as_arrays(fun):
    point = [0.5, -1.25]
    expected = fun(np.array(point))
    for given in (point, tuple(point)):
        np.testing.assert_array_equal(fun(given), expected)
    np.testing.assert_array_equal(fun([1, 2]), fun(np.array([1.0, 2.0])))


@pytest.mark.filterwarnings("ignore::numba.NumbaPendingDeprecationWarning")  # reflected lists
def test_quadratics_take_a_list_and_refuse_a_matrix():
    point = [0.5, -1.25]
    assert F.diagonal_quadratic(point, np.array([1.0, 3.0])) == pytest.approx(
        0.5 * (0.25 + 3 * 1.5625))
    with pytest.raises(ValueError, match="x must be a 1-D array"):
        F.diagonal_quadratic(np.ones((2, 2)), np.ones(2))
    rotated = F.make_quadratic(2, rotate=True, rng=0)
    assert rotated.fun(point) == rotated.fun(np.array(point))
    np.testing.assert_array_equal(rotated.jac(tuple(point)), rotated.jac(np.array(point)))


def test_distance_refuses_a_point_of_another_dimension():
    problem = F.get_problem("rosenbrock", n=3)
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        problem.distance([1.0])


def test_ackley_refuses_an_empty_point():
    with pytest.raises(ValueError, match="length >= 1"):
        F.ackley(np.empty(0))
