"""Resumable runs (issue 22): ``result.state`` and ``options={"state": ...}`` continue a run
bitwise, in every loop of ``minimize`` and both forms of ``minimize_batch``; a state that does
not fit raises before anything runs.

The objectives are test_minimize's and test_batch's, whose compiled loops those files compile
already (the loops are cached on disk by signature): this file adds little compile time.
"""

import numpy as np
import pytest

import numadam
from numadam import _resume
from numadam._minimize import choose_loop
from tests.test_batch import OBJECTIVES, decay_data
from tests.test_minimize import (
    quadratic,
    quadratic_grad,
    rosen_jit,
    rosen_jit_der,
    sine_valley,
    sine_valley_der,
)

#: adam (no carried scalar), nadam (a carried scalar), schedule-free (an evaluation point and
#: two carried scalars), asgd (an iterate average as its state)
RESUMED = ["adam", "nadam", "schedulefree_adamw", "asgd"]

LOOPS = {  # loop kind -> (fun, jac, x0, callback): what makes minimize's chooser pick it
    "compiled": (rosen_jit, rosen_jit_der, [-1.2, 1.0], None),
    "lean": (quadratic, quadratic_grad, [1.0, 2.0, 3.0], None),
    "python": (quadratic, quadratic_grad, [1.0, 2.0, 3.0], lambda intermediate_result: None),
}


def split_and_whole(method, loop, n_iter, **options):
    fun, jac, x0, callback = LOOPS[loop]
    options = {"lr": 1e-3 if loop == "compiled" else 1e-2, "maxiter": n_iter, **options}
    first = numadam.minimize(fun, x0, jac=jac, method=method, options=options,
                             callback=callback)
    second = numadam.minimize(fun, first.x, jac=jac, method=method, callback=callback,
                              options={**options, "state": first.state})
    whole = numadam.minimize(fun, x0, jac=jac, method=method, callback=callback,
                             options={**options, "maxiter": 2 * n_iter})
    return first, second, whole


def assert_same_run(second, whole):
    np.testing.assert_array_equal(second.x, whole.x)
    np.testing.assert_array_equal(second.jac, whole.jac)
    assert second.fun == whole.fun and second.status == whole.status
    assert second.state["step"] == whole.state["step"]
    for name, vector in whole.state["state"].items():
        np.testing.assert_array_equal(second.state["state"][name], vector)
    assert second.state.get("carry") == whole.state.get("carry")


@pytest.mark.parametrize("loop", list(LOOPS))
@pytest.mark.parametrize("method", RESUMED)
def test_n_then_n_more_equals_2n_bitwise_in_every_loop(method, loop):
    fun, jac, x0, callback = LOOPS[loop]
    first, second, whole = split_and_whole(method, loop, 40)
    assert first.compiled == second.compiled == (loop == "compiled")
    assert assert_same_run(second, whole) is None
    # nit and nfev count the call's own; the step count inside the state continues
    assert (first.nit, second.nit, whole.nit) == (40, 40, 80)
    assert (first.state["step"], second.state["step"]) == (40, 80)


def test_the_chooser_picks_each_loop_kind_with_a_state():
    from numadam._options import minimize_settings

    for loop, (fun, jac, x0, callback) in LOOPS.items():
        x = np.asarray(x0, float)
        optimizer = numadam.Adam(x.copy())
        settings = minimize_settings("adam", {"state": optimizer.state_dict()}, jac, 2)
        assert choose_loop(settings, optimizer.compiled_step(), x, fun, jac, callback) == loop


def test_a_resumed_run_may_change_the_learning_rate_and_keeps_its_bias_corrections():
    first = numadam.minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad,
                             options={"lr": 1e-2, "maxiter": 10})
    resumed = numadam.minimize(quadratic, first.x, jac=quadratic_grad,
                               options={"lr": 1e-3, "maxiter": 1, "state": first.state})
    assert resumed.state["hyperparameters"]["lr"] == 1e-3
    # the step taken is step 11's, by an optimizer loaded with the state: not a fresh one's
    optimizer = numadam.Adam(first.x.copy(), lr=1e-3)
    optimizer.load_state_dict({**first.state, "hyperparameters": {
        **first.state["hyperparameters"], "lr": 1e-3}})
    optimizer.step(quadratic_grad(first.x))
    np.testing.assert_array_equal(resumed.x, optimizer.param)


@pytest.mark.parametrize("loop", ["lean", "python"])
def test_return_best_runs_resume_exactly_wherever_they_are_cut(loop):
    """Adam at lr 0.5 climbs out of sine_valley's valleys, so return_best returns a point other
    than the last iterate: the state keeps the iterate (where the next run starts) and the
    lowest point (which the next run returns where nothing lower comes), as one run would."""
    callback = None if loop == "lean" else LOOPS["python"][3]
    options = {"lr": 0.5, "maxiter": 12}
    whole = numadam.minimize(sine_valley, [0.3, -0.2], jac=sine_valley_der, callback=callback,
                             options={**options, "maxiter": 36})
    replaced = 0
    for cuts in ([12, 12, 12], [5, 31], [30, 6], [1, 1, 34]):
        x, state = [0.3, -0.2], None
        for count in cuts:
            part = numadam.minimize(sine_valley, x, jac=sine_valley_der, callback=callback,
                                    options={**options, "maxiter": count, "state": state})
            x, state = part.x, part.state
            replaced += _resume.BEST in state
        assert_same_run(part, whole)
    assert replaced  # the cuts met runs whose answer was not their last iterate


def test_return_best_resumes_exactly_in_the_compiled_loop():
    fun, jac, x0, _ = LOOPS["compiled"]  # Adam at lr 1e-2 climbs on Rosenbrock
    options = {"lr": 1e-2, "maxiter": 50}
    first = numadam.minimize(fun, x0, jac=jac, options=options)
    assert _resume.ITERATE in first.state and _resume.BEST in first.state
    second = numadam.minimize(fun, first.x, jac=jac, options={**options, "state": first.state})
    whole = numadam.minimize(fun, x0, jac=jac, options={**options, "maxiter": 100})
    assert second.compiled and whole.compiled
    assert_same_run(second, whole)


def test_schedule_free_state_holds_the_last_iterate_beside_its_answer():
    first, second, whole = split_and_whole("schedulefree_adamw", "lean", 20)
    assert first.state["mode"] == "eval"
    iterate = first.state[_resume.ITERATE]
    assert not np.array_equal(iterate, first.x)  # x is the evaluation point
    # without the iterate, the rest loads into an optimizer over result.x
    optimizer = numadam.ScheduleFreeAdamW(first.x.copy(), lr=1e-2)
    optimizer.load_state_dict({k: v for k, v in first.state.items() if k != _resume.ITERATE})
    np.testing.assert_allclose(optimizer.train().param, iterate, rtol=1e-12)


def test_bounds_with_a_state():
    options = {"lr": 1e-2, "maxiter": 15}
    bounds = [(0.5, 2.0)] * 3
    first = numadam.minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, bounds=bounds,
                             options=options)
    second = numadam.minimize(quadratic, first.x, jac=quadratic_grad, bounds=bounds,
                              options={**options, "state": first.state})
    whole = numadam.minimize(quadratic, [1.0, 2.0, 3.0], jac=quadratic_grad, bounds=bounds,
                             options={**options, "maxiter": 30})
    assert_same_run(second, whole)


def _state(method="adam", n=3, **changes):
    state = numadam.minimize(quadratic, np.ones(n), jac=quadratic_grad, method=method,
                             options={"maxiter": 2}).state if n == 3 else \
        getattr(numadam, {"adam": "Adam", "nadam": "NAdam"}[method])(np.ones(n)).state_dict()
    return {**state, **changes}


BAD_STATES = [
    (lambda: [1, 2], "must be a dict"),
    (lambda: _state("nadam"), "does not fit method 'adam'.*keys"),
    (lambda: _state(n=4), "does not fit method 'adam'.*shape \\(4,\\)"),
    (lambda: _state(step=-1), "step"),
    (lambda: {k: v for k, v in _state().items() if k != "step"}, "keys"),
    (lambda: {**_state(), "extra": 1}, "keys"),
    (lambda: _state(state={**_state()["state"], "exp_avg_sq": -np.ones(3)}), "non-negative"),
    (lambda: _state(state={**_state()["state"], "exp_avg": np.ones(3, np.float32)}),
     "dtype float64"),
]


@pytest.mark.parametrize("make, match", BAD_STATES)
def test_a_state_that_does_not_fit_raises_a_value_error_before_anything_runs(make, match):
    calls = []

    def counted(x):
        calls.append(1)
        return quadratic(x)

    state = make()
    x0 = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=match):
        numadam.minimize(counted, x0, jac=quadratic_grad, options={"state": state})
    assert calls == [] and np.array_equal(x0, [1.0, 2.0, 3.0])


def test_amsgrads_state_does_not_fit_adam():
    state = numadam.Adam(np.ones(3), amsgrad=True).state_dict()  # method "amsgrad"'s
    with pytest.raises(ValueError, match="'max_exp_avg_sq' has shape \\(3,\\)"):
        numadam.minimize(quadratic, np.ones(3), jac=quadratic_grad, method="adam",
                         options={"state": state})


def test_show_options_lists_state_and_progress():
    text = numadam.show_options("adam", disp=False)
    assert "\nstate : dict" in text and "\nprogress : bool" in text


# -- minimize_batch -----------------------------------------------------------------------------


#: the vectorized form compiles its update for each rule in every process (~5 s): adam's only
BATCH_CASES = [("adam", "vectorized"), ("adam", "jitted"), ("nadam", "jitted"),
               ("schedulefree_adamw", "jitted")]


@pytest.mark.parametrize("method, form", BATCH_CASES)
def test_batch_n_then_n_more_equals_2n_and_each_problem_its_minimize(method, form):
    fun, jac = OBJECTIVES[form]
    T, Y, _ = decay_data(np.random.default_rng(4))
    X0 = np.tile([1.0, 1.0], (T.shape[0], 1))
    # at lr 0.034 problem 3 climbs at the end of the first half: return_best returns its lowest
    # point, and the state keeps its last iterate too
    options = {"lr": np.linspace(0.01, 0.05, T.shape[0]), "maxiter": 25}
    first = numadam.minimize_batch(fun, X0, jac=jac, method=method, options=options,
                                   batch_args=(T, Y))
    second = numadam.minimize_batch(fun, first.x, jac=jac, method=method, batch_args=(T, Y),
                                    options={**options, "state": first.state})
    whole = numadam.minimize_batch(fun, X0, jac=jac, method=method, batch_args=(T, Y),
                                   options={**options, "maxiter": 50})
    assert second.compiled == (form == "jitted")
    if method == "adam":
        assert np.isfinite(first.state[_resume.BEST]["fun"]).sum() == 1  # problem 3
    np.testing.assert_array_equal(second.x, whole.x)
    np.testing.assert_array_equal(second.fun, whole.fun)
    np.testing.assert_array_equal(second.state["step"], whole.state["step"])
    np.testing.assert_array_equal(second.nit, 25)
    for name, matrix in whole.state["state"].items():
        np.testing.assert_array_equal(second.state["state"][name], matrix)
    # problem 2's part of the batch's state resumes its own minimize run alike
    b = 3 if method == "adam" else 2
    one_fun, one_jac = (OBJECTIVES["jitted"] if form == "jitted"
                        else (decay_loss_py, decay_grad_py))
    single = numadam.minimize(one_fun, first.x[b], args=(T[b], Y[b]), jac=one_jac,
                              method=method, options={
                                  "lr": options["lr"][b], "maxiter": 25,
                                  "state": _resume.problem_state(first.state, b)})
    np.testing.assert_array_equal(single.x, second.x[b])


def decay_loss_py(x, t, y):
    return OBJECTIVES["jitted"][0].py_func(x, t, y)


def decay_grad_py(x, t, y):
    return OBJECTIVES["jitted"][1].py_func(x, t, y)


def test_batch_state_that_does_not_fit_names_the_problem():
    fun, jac = OBJECTIVES["vectorized"]
    T, Y, _ = decay_data(np.random.default_rng(4))
    X0 = np.tile([1.0, 1.0], (T.shape[0], 1))
    state = numadam.minimize_batch(fun, X0, jac=jac, options={"maxiter": 3},
                                   batch_args=(T, Y)).state
    bad = {**state, "state": {**state["state"], "exp_avg_sq": state["state"]["exp_avg_sq"].copy()}}
    bad["state"]["exp_avg_sq"][3, 1] = -1.0
    with pytest.raises(ValueError, match="non-negative.*problem 3"):
        numadam.minimize_batch(fun, X0, jac=jac, options={"state": bad}, batch_args=(T, Y))
    with pytest.raises(ValueError, match="one count per problem"):
        numadam.minimize_batch(fun, X0[:4], jac=jac, options={"state": state},
                               batch_args=(T[:4], Y[:4]))
    with pytest.raises(ValueError, match="does not fit method 'nadam'"):
        numadam.minimize_batch(fun, X0, jac=jac, method="nadam", options={"state": state},
                               batch_args=(T, Y))


def test_batch_schedule_free_state_without_its_iterate_starts_from_the_train_point():
    # the evaluation points moved back to train mode, as minimize's optimizer.train() does
    fun, jac = OBJECTIVES["jitted"]
    T, Y, _ = decay_data(np.random.default_rng(4))
    X0 = np.tile([1.0, 1.0], (T.shape[0], 1))
    options = {"lr": 0.02, "maxiter": 10}
    first = numadam.minimize_batch(fun, X0, jac=jac, method="schedulefree_adamw",
                                   options=options, batch_args=(T, Y))
    state = {k: v for k, v in first.state.items() if k != _resume.ITERATE}
    second = numadam.minimize_batch(fun, first.x, jac=jac, method="schedulefree_adamw",
                                    options={**options, "state": state}, batch_args=(T, Y))
    b = 1
    single = numadam.minimize(fun, first.x[b], args=(T[b], Y[b]), jac=jac,
                              method="schedulefree_adamw", options={
                                  **options, "state": _resume.problem_state(state, b)})
    np.testing.assert_array_equal(single.x, second.x[b])
    assert second.state["step"][b] == 20


@pytest.mark.parametrize("change, match", [
    (lambda s: s["state"]["exp_avg"].__setitem__((2, 0), np.nan), "NaN or inf \\(problem 2\\)"),
    (lambda s: s.__setitem__("iterate", np.zeros((3, 2))), "'iterate'.*shape \\(6, 2\\)"),
    (lambda s: s.__setitem__("step", s["step"].astype(float)), "integer array"),
    (lambda s: s["step"].__setitem__(4, -1), "non-negative.*problem 4"),
    (lambda s: s["hyperparameters"].__setitem__("amsgrad", True), "amsgrad=True differs"),
    (lambda s: s.pop("hyperparameters"), "keys"),
])
def test_batch_state_errors(change, match):
    fun, jac = OBJECTIVES["jitted"]
    T, Y, _ = decay_data(np.random.default_rng(4))
    X0 = np.ones((T.shape[0], 2))
    state = numadam.minimize_batch(fun, X0, jac=jac, options={"maxiter": 2},
                                   batch_args=(T, Y)).state
    state = {**state, "state": {k: v.copy() for k, v in state["state"].items()},
             "hyperparameters": dict(state["hyperparameters"]), "step": state["step"].copy()}
    change(state)
    with pytest.raises(ValueError, match=match):
        numadam.minimize_batch(fun, X0, jac=jac, options={"state": state}, batch_args=(T, Y))
