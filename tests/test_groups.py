"""Parameter groups (``numadam._groups``): a grouped optimizer is bitwise the separate optimizers
of its groups, for every rule, on the serial and the parallel pass; ``param_groups`` takes a
scheduler's edits at the next step; state dicts carry the groups; bad specs raise naming what
is wrong and change nothing.

Each rule compiles a driver (``numadam.kernels.grouped_for_rule``) around the loops its tests
elsewhere compile, in float64: the serial driver for every rule, the threaded one for four
rules by default and for the others with ``-m slow`` (its code is the same for every rule, only
the types differ); float32 is tested with Adam only, to keep the cold compile of this file short.
"""

import pickle

import numpy as np
import pytest

import numadam
from numadam import kernels
from tests.rule_table import ROWS

#: sizes of the leaves of the tree the torch-form tests ravel: "a" and "d" form group 0, "b"
#: group 1, "c" is in no group (frozen)
SERIAL = {"a": 600, "b": 30, "c": 70, "d": 331}
#: "a" above the parallel threshold (its segment runs the parallel loop), the others below
PARALLEL = {"a": kernels.PARALLEL_THRESHOLD + 10, "b": 40, "c": 7, "d": 1001}
STEPS = 4


def _tree(sizes, rng, dtype=np.float64):
    return numadam.ravel({name: rng.standard_normal(size).astype(dtype)
                          for name, size in sizes.items()})


def _other(row, options):
    """Options of a second group: another lr and, where the rule has one, weight decay."""
    cls = row.cls
    defaults = {name: p.default for name, p in cls.__signature__.parameters.items()}
    other = {"lr": options.get("lr", defaults["lr"]) * 0.5}
    if "weight_decay" in cls.hyperparameter_names():
        other["weight_decay"] = 0.0 if options.get("weight_decay", 0.0) else 0.05
    return other


def _runs(view, flat):
    start = (view.ctypes.data - flat.ctypes.data) // flat.itemsize
    return start, start + view.size


def _separate(row, flat, runs, options):
    """One optimizer over the elements of ``runs`` (concatenated: every rule is elementwise)."""
    return row.cls(np.concatenate([flat[a:b] for a, b in runs]), **options)


def _pieces(vector, runs):
    return np.concatenate([vector[a:b] for a, b in runs])


#: the rules whose threaded driver the default run compiles: three state vectors (adam), a flag
#: among the constants (sgd), a carried scalar (nadam), modes and a state that starts as the
#: parameters (schedule-free); ``-m slow`` runs the others
THREADED = {"adam", "sgd", "nadam", "schedulefree_adamw"}


def _cases():
    cases = []
    for row in ROWS:
        cases.append(pytest.param(row, SERIAL, id=f"{row.method}-serial"))
        cases.append(pytest.param(row, PARALLEL, id=f"{row.method}-parallel",
                                  marks=() if row.method in THREADED else pytest.mark.slow))
    return cases


@pytest.mark.parametrize("row, sizes", _cases())
def test_groups_are_bitwise_separate_optimizers(row, sizes, rng):
    flat, views = _tree(sizes, rng)
    frozen = flat[_runs(views["c"], flat)[0]:_runs(views["c"], flat)[1]].copy()
    options, other = row.sample, {**row.sample, **_other(row, row.sample)}
    opt = row.cls([{"params": [views["a"], views["d"]]}, {"params": views["b"], **other}],
                  **options)
    runs = [[_runs(views["a"], flat), _runs(views["d"], flat)], [_runs(views["b"], flat)]]
    separate = [_separate(row, flat, runs[0], options), _separate(row, flat, runs[1], other)]
    assert opt._threads == (flat.size >= kernels.PARALLEL_THRESHOLD)
    for _ in range(STEPS):
        grad = rng.standard_normal(flat.size)
        opt.step(grad)
        for part, group_runs in zip(separate, runs):
            part.step(_pieces(grad, group_runs))
    if row.cls.variant.rule.modes:  # schedule-free: the switch to the evaluation point too
        opt.eval()
        for part in separate:
            part.eval()
    for part, group_runs in zip(separate, runs):
        np.testing.assert_array_equal(_pieces(flat, group_runs), part.param)
        for name, vector in opt.state.items():
            if vector.size:
                np.testing.assert_array_equal(_pieces(vector, group_runs), part.state[name])
    start, stop = _runs(views["c"], flat)
    np.testing.assert_array_equal(flat[start:stop], frozen)  # in no group: not updated
    assert opt.step_count == STEPS


def test_float32_ranges_with_a_default_group(rng):
    x0 = rng.standard_normal(1031).astype(np.float32)
    x = x0.copy()
    opt = numadam.Adam(x, lr=1e-3, amsgrad=True,
                       groups=[{"range": (100, 300), "lr": 1e-2, "betas": (0.8, 0.9)},
                               {"range": (500, 600), "eps": 1e-3, "maximize": True}])
    assert [group.get("range") for group in opt.param_groups] == [(100, 300), (500, 600), None]
    rest = [(0, 100), (300, 500), (600, 1031)]
    assert [_runs(view, x) for view in opt.param_groups[2]["params"]] == rest
    layout = [([(100, 300)], {"lr": 1e-2, "betas": (0.8, 0.9)}),
              ([(500, 600)], {"eps": 1e-3, "maximize": True}), (rest, {})]
    separate = [numadam.Adam(_pieces(x0, runs), **{"lr": 1e-3, "amsgrad": True, **options})
                for runs, options in layout]
    for _ in range(STEPS):
        grad = rng.standard_normal(x.size).astype(np.float32)
        opt.step(grad)
        for part, (runs, _) in zip(separate, layout):
            part.step(_pieces(grad, runs))
    for part, (runs, _) in zip(separate, layout):
        np.testing.assert_array_equal(_pieces(x, runs), part.param)
        assert part.param.dtype == np.float32


@pytest.mark.parametrize("cls", [numadam.Adam, numadam.Prodigy])
def test_non_finite_gradient_entries_are_skipped_and_counted(cls, rng):
    x = rng.standard_normal(200)
    opt = cls(x, groups=[{"range": (0, 50), "lr": 1e-2}])
    grad = rng.standard_normal(200)
    grad[[3, 60, 61]] = [np.nan, np.inf, -np.inf]
    before = x.copy()
    with pytest.raises(numadam.NonFiniteGradientError, match="3 non-finite"):
        opt.step(grad)
    assert opt.step_count == 1
    np.testing.assert_array_equal(x[[3, 60, 61]], before[[3, 60, 61]])
    assert (x[:3] != before[:3]).all()
    opt.check_finite = "before"
    with pytest.raises(numadam.NonFiniteGradientError, match="unchanged"):
        opt.step(grad)
    assert opt.step_count == 1


# -- param_groups as a PyTorch scheduler uses it --------------------------------------------------


@pytest.mark.parametrize("cls", [numadam.Adam, numadam.Prodigy])
def test_a_scheduler_loop_ports_unchanged(cls, rng):
    flat, views = _tree(SERIAL, rng)
    opt = cls([{"params": views["a"]}, {"params": views["b"], "lr": 1e-2}], lr=1e-3)
    runs = [[_runs(views["a"], flat)], [_runs(views["b"], flat)]]
    separate = [cls(_pieces(flat, runs[0]), lr=1e-3), cls(_pieces(flat, runs[1]), lr=1e-2)]
    for epoch in range(5):
        grad = rng.standard_normal(flat.size)
        opt.step(grad)
        for part, group_runs in zip(separate, runs):
            part.step(_pieces(grad, group_runs))
        for group in opt.param_groups:  # torch.optim.lr_scheduler.StepLR(gamma=0.5), by hand
            group.setdefault("initial_lr", group["lr"])  # what torch's schedulers store
            group["lr"] = group["lr"] * 0.5
        for part in separate:
            part.lr = part.lr * 0.5
    for part, group_runs in zip(separate, runs):
        np.testing.assert_array_equal(_pieces(flat, group_runs), part.param)
    assert opt.param_groups[1]["initial_lr"] == 1e-2


def test_an_ungrouped_optimizer_has_one_group_that_tracks_its_attributes(rng):
    x = rng.standard_normal(50)
    opt = numadam.SGD(x, lr=0.1, momentum=0.9)
    (group,) = opt.param_groups
    assert group["params"][0] is x and group["lr"] == 0.1
    opt.lr = 0.2
    assert group["lr"] == 0.2
    group["lr"] = 0.05
    assert opt.lr == 0.2  # applied at the next step
    opt.step(np.ones(50))
    assert opt.lr == 0.05 and not opt._slow


@pytest.mark.parametrize("key, value, exception, match", [
    ("lr", -1.0, ValueError, r"param_groups\[1\]\['lr'\]: Invalid learning rate"),
    ("betas", (1.5, 0.9), ValueError, r"param_groups\[1\]\['betas'\]"),
    ("eps", "small", TypeError, r"param_groups\[1\]\['eps'\]"),
    ("amsgrad", True, ValueError, r"param_groups\[1\]\['amsgrad'\] was changed: amsgrad is fixed"),
    ("params", [], ValueError, r"param_groups\[1\]\['params'\] was changed"),
])
def test_a_bad_edit_raises_at_the_next_step_naming_group_and_key(key, value, exception, match,
                                                                  rng):
    x = rng.standard_normal(100)
    opt = numadam.Adam(x, groups=[{"range": (0, 40)}, {"range": (40, 100), "lr": 1e-2}])
    opt.step(np.ones(100))
    before, table = x.copy(), opt._table.copy()
    opt.param_groups[1][key] = value
    with pytest.raises(exception, match=match):
        opt.step(np.ones(100))
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(opt._table, table)
    assert opt.step_count == 1


def test_hyperparameter_attributes_of_a_grouped_optimizer(rng):
    opt = numadam.Adam(rng.standard_normal(10), lr=1e-3, groups=[{"range": (0, 5), "lr": 1.0}])
    assert opt.lr == 1e-3 and opt.hyperparameters["lr"] == 1e-3  # the constructor's
    with pytest.raises(AttributeError, match=r"param_groups\[i\]\['lr'\]"):
        opt.lr = 1e-2
    assert "2 parameter groups" in repr(opt)


# -- state dicts --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["nadam", "asgd", "dog"])  # rules carrying scalars
def test_state_dict_round_trip_with_groups(method, rng):
    row = next(row for row in ROWS if row.method == method)
    x0 = rng.standard_normal(300)
    groups = [{"range": (0, 100), "lr": 1e-2}, {"range": (200, 300), "weight_decay": 0.1}]
    x = x0.copy()
    opt = row.cls(x, **row.sample, groups=groups)
    grads = [rng.standard_normal(300) for _ in range(6)]
    for grad in grads[:3]:
        opt.step(grad)
    opt.param_groups[0]["lr"] = 5e-3  # an edit not applied yet is saved
    saved = pickle.loads(pickle.dumps(opt.state_dict()))
    assert [group["segments"] for group in saved["param_groups"]] == [
        [[0, 100]], [[200, 300]], [[100, 200]]]
    assert saved["param_groups"][0]["lr"] == 5e-3
    assert len(saved["carry"]) == 3
    for grad in grads[3:]:
        opt.step(grad)
    expected = x.copy()

    y = saved_x = x0.copy()
    restored = row.cls(y, **row.sample, groups=groups)
    for grad in grads[:3]:  # the same parameters as when saved
        restored.step(grad)
    restored.param_groups[1]["lr"] = 123.0  # an edit the load replaces
    restored.load_state_dict(saved)
    assert restored.param_groups[0]["lr"] == 5e-3 and restored.param_groups[1]["lr"] != 123.0
    for grad in grads[3:]:
        restored.step(grad)
    np.testing.assert_array_equal(saved_x, expected)
    assert restored.state_dict()["carry"] == opt.state_dict()["carry"]


def test_load_state_dict_refuses_other_groups_and_changes_nothing(rng):
    x = rng.standard_normal(100)
    opt = numadam.Adam(x, groups=[{"range": (0, 50), "lr": 1e-2}])
    opt.step(np.ones(100))
    saved = opt.state_dict()
    other = numadam.Adam(rng.standard_normal(100), groups=[{"range": (0, 60), "lr": 1e-2}])
    with pytest.raises(ValueError, match=r"\['segments'\].*differs"):
        other.load_state_dict(saved)
    bad = opt.state_dict()
    bad["param_groups"][1]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"state_dict\['param_groups'\]\[1\]\['lr'\]"):
        opt.load_state_dict(bad)
    assert opt.param_groups[1]["lr"] == 1e-3
    with pytest.raises(ValueError, match="parameter groups"):
        numadam.Adam(rng.standard_normal(100)).load_state_dict(saved)
    sgd = numadam.SGD(rng.standard_normal(100), lr=0.1, momentum=0.9,
                      groups=[{"range": (0, 50)}])
    switched = sgd.state_dict()
    for group in switched["param_groups"]:
        group["momentum"] = 0.0
    with pytest.raises(ValueError, match=r"state_dict\['param_groups'\]\[0\]: .*momentum"):
        sgd.load_state_dict(switched)
    ungrouped = numadam.Adam(rng.standard_normal(100)).state_dict()
    with pytest.raises(ValueError, match="param_groups"):
        opt.load_state_dict(ungrouped)


# -- bad group specs ------------------------------------------------------------------------------


def _specs():
    flat, views = numadam.ravel({"W": np.zeros((3, 4)), "b": np.zeros(4)})
    other_flat, other = numadam.ravel({"W": np.zeros((3, 4))})
    matrix = np.zeros((4, 5))
    return [
        ("overlap", [{"params": views["W"]}, {"params": flat[10:]}], ValueError,
         r"params\[0\]\['params'\] and params\[1\]\['params'\] overlap"),
        ("two vectors", [{"params": views["W"]}, {"params": other["W"]}], ValueError,
         "not views of one vector"),
        ("unknown key", [{"params": views["W"], "learning_rate": 1.0}], TypeError,
         r"params\[0\] has unknown key\(s\) \['learning_rate'\]"),
        ("check_finite per group", [{"params": views["W"], "check_finite": False}], TypeError,
         "unknown key"),
        ("strided view", [{"params": views["W"][:, ::2]}], ValueError, "not C-contiguous"),
        ("view of a matrix", [{"params": matrix[1]}], ValueError, "must be 1-D"),
        ("not an array", [{"params": [1.0, 2.0]}], TypeError, "must be a NumPy array"),
        ("no params", [{"lr": 1.0}], ValueError, r"params\[0\] has no 'params' entry"),
        ("amsgrad differs", [{"params": views["W"]}, {"params": views["b"], "amsgrad": True}],
         ValueError, r"params\[1\]\['amsgrad'\] = True differs .* cannot differ between groups"),
        ("bad lr", [{"params": views["W"], "lr": -1.0}], ValueError,
         r"params\[0\]\['lr'\]: Invalid learning rate"),
        ("a dict and an array", [{"params": views["W"]}, views["b"]], TypeError,
         r"params\[1\] must be a dict"),
    ]


@pytest.mark.parametrize("case", _specs(), ids=lambda case: case[0])
def test_bad_torch_form_specs(case):
    _, params, exception, match = case
    with pytest.raises(exception, match=match):
        numadam.Adam(params)


@pytest.mark.parametrize("groups, exception, match", [
    ([{"range": (0, 6)}, {"range": (5, 8)}], ValueError, r"groups\[0\]\['range'\] and "
                                                        r"groups\[1\]\['range'\] overlap"),
    ([{"range": (0, 11)}], ValueError, "0 <= start < stop <= 10"),
    ([{"range": (3, 3)}], ValueError, "0 <= start < stop"),
    ([{"range": (0.0, 3)}], TypeError, "pair of integers"),
    ([{"range": (0, 3), "momentum": 0.9}], TypeError, r"unknown key\(s\) \['momentum'\]"),
    ([{"lr": 1.0}], ValueError, "has no 'range' entry"),
    ({"range": (0, 3)}, TypeError, "must be a list of dicts"),
])
def test_bad_range_specs(groups, exception, match):
    x = np.zeros(10)
    with pytest.raises(exception, match=match):
        numadam.Adam(x, groups=groups)
    assert not x.any()


def test_groups_must_agree_on_the_state_vectors():
    with pytest.raises(ValueError, match="'momentum_buffer' .* differ in \\['momentum'\\]"):
        numadam.SGD(np.zeros(10), lr=0.1, momentum=0.9,
                    groups=[{"range": (0, 5), "momentum": 0.0}])
    with pytest.raises(ValueError, match=r"groups\[0\]: Nesterov momentum requires"):
        numadam.SGD(np.zeros(10), lr=0.1, groups=[{"range": (0, 5), "nesterov": True}])


def test_both_forms_at_once_and_views_of_gpu_arrays_are_refused():
    flat, views = numadam.ravel({"W": np.zeros(4)})
    with pytest.raises(TypeError, match="not both"):
        numadam.Adam([{"params": views["W"]}], groups=[{"range": (0, 2)}])

    class FakeGPUArray:
        __cuda_array_interface__ = {}

    # the GPU takes groups as ranges (tests/test_cuda.py); a view cannot be traced back
    with pytest.raises(TypeError, match="on the GPU give the groups as ranges"):
        numadam.Adam([{"params": FakeGPUArray()}])


# -- through minimize ---------------------------------------------------------------------------

SCALES = np.array([1.0, 4.0, 0.01, 0.02, 0.05])  # the last three: quantities in other units


def separable(x):
    return 0.5 * float(np.sum(SCALES * x**2))


def _jitted_separable():
    """``separable`` and its gradient, jitted."""
    numba = pytest.importorskip("numba")
    scales = SCALES

    @numba.njit
    def fun(x):
        return 0.5 * np.sum(scales * x**2)

    @numba.njit
    def jac(x):
        return scales * x

    return fun, jac


def separable_grad(x):
    return SCALES * x


@pytest.mark.parametrize("method", ["adam"])
def test_minimize_with_groups_equals_a_run_per_group(method):
    """A separable objective: each group's part of the answer is the run of that part alone,
    at the group's lr (the rest at the options' lr), bitwise. (A rule with a reduction stage:
    the optimizer's groups above, and minimize_batch's against minimize below.)"""
    x0 = np.array([1.0, -2.0, 3.0, -1.0, 0.5])
    settings = {"lr": 1e-2, "maxiter": 50, "return_best": False}
    grouped = numadam.minimize(separable, x0, jac=separable_grad, method=method, options=dict(
        settings, groups=[{"range": (2, 5), "lr": 0.5}]))
    assert grouped.nit == 50 and not grouped.compiled
    for part, lr in ((slice(0, 2), 1e-2), (slice(2, 5), 0.5)):
        scales = SCALES[part]
        alone = numadam.minimize(lambda x: 0.5 * float(np.sum(scales * x**2)), x0[part],
                                 jac=lambda x: scales * x, method=method,
                                 options=dict(settings, lr=lr))
        np.testing.assert_array_equal(grouped.x[part], alone.x)
    assert grouped.state["param_groups"][0]["lr"] == 0.5


@pytest.mark.parametrize("method", ["nadam", pytest.param("adam", marks=pytest.mark.slow),
                                    pytest.param("schedulefree_adamw", marks=pytest.mark.slow)])
def test_minimize_runs_groups_in_its_compiled_and_lean_loops(method):
    """A jitted objective runs the compiled loop with groups, a Python one the lean loop; both
    bitwise the Python loop (a callback runs it): the answer, the iterations, each group's
    carry (NAdam, schedule-free) and the step count. (Each rule compiles two loops of its own:
    the fast suite runs the rule with a carried scalar.)"""
    fun, jac = _jitted_separable()
    x0 = np.array([1.0, -2.0, 3.0, -1.0, 0.5])
    options = {"lr": 1e-2, "maxiter": 60, "return_best": False, "groups": BATCH_GROUPS}
    compiled = numadam.minimize(fun, x0, jac=jac, method=method, options=options)
    lean = numadam.minimize(separable, x0, jac=separable_grad, method=method, options=options)
    python = numadam.minimize(separable, x0, jac=separable_grad, method=method, options=options,
                              callback=lambda intermediate_result: None)
    assert compiled.compiled and not lean.compiled
    for result in (compiled, lean):
        np.testing.assert_array_equal(result.x, python.x)
        assert result.nit == python.nit == 60
        assert result.state.get("carry") == python.state.get("carry")
        assert result.state["step"] == python.state["step"] == 60


@pytest.mark.parametrize("options, exception, match", [
    ({"groups": {"range": (0, 2)}}, TypeError, "groups must be a list of dicts"),
    ({"groups": [{"range": (0, 9)}]}, ValueError, "range"),
    ({"groups": [{"range": (0, 2), "lrr": 1.0}]}, TypeError, "lrr"),
    ({"groups": [{"range": (0, 2)}], "schedule": "cosine"}, ValueError, "schedule"),
])
def test_minimize_refuses_bad_groups(options, exception, match):
    x0 = np.ones(5)
    with pytest.raises(exception, match=match):
        numadam.minimize(separable, x0, jac=separable_grad, options=options)
    assert (x0 == 1).all()


# -- through minimize_batch ---------------------------------------------------------------------


def separable_rows(X):
    return 0.5 * np.sum(SCALES * X**2, axis=1)


def separable_rows_grad(X):
    return SCALES * X


#: the groups of the batch tests: two ranges with their own lr, the rest (two runs: elements 0
#: and 2) with the options'
BATCH_GROUPS = [{"range": (1, 2), "lr": 0.5}, {"range": (3, 5), "lr": 0.05}]
#: ranges covering x (a rule with a reduction stage takes groups of one run in a batch)
COVERING = [{"range": (0, 2)}, *BATCH_GROUPS[1:], {"range": (2, 3), "lr": 0.5}]


@pytest.mark.parametrize("method, groups", [
    ("adam", BATCH_GROUPS), ("schedulefree_adamw", BATCH_GROUPS), ("prodigy", COVERING)],
    ids=["adam", "schedulefree_adamw", "prodigy"])
def test_minimize_batch_with_groups_equals_minimize_per_problem(method, groups, rng):
    """Every problem's answer is ``minimize``'s with the same groups, bitwise (carried scalars
    and per-group constants at the switch to the evaluation point, schedule-free; per-group
    sums, Prodigy);
    with per-problem learning rates that the groups' own override (Adam); and a batch
    resumed from its state after 15 of 30 iterations ends where the whole run does. (NAdam's
    carry per group: the resume tests below.)"""
    X0 = rng.standard_normal((4, 5))
    options = {"maxiter": 30, "return_best": False, "groups": groups}
    per_problem = {"lr": np.array([1e-2, 2e-2, 3e-2, 4e-2])} if method == "adam" else {}
    batch = numadam.minimize_batch(separable_rows, X0, method=method, jac=separable_rows_grad,
                                   options={**options, **per_problem})
    for b in range(4):
        alone = numadam.minimize(separable, X0[b], method=method, jac=separable_grad,
                                 options={**options, **{k: v[b] for k, v in per_problem.items()}})
        np.testing.assert_array_equal(batch.x[b], alone.x)
        assert (batch.nit[b], batch.fun[b]) == (alone.nit, alone.fun)
    half = numadam.minimize_batch(separable_rows, X0, method=method, jac=separable_rows_grad,
                                  options={**options, **per_problem, "maxiter": 15})
    rest = numadam.minimize_batch(separable_rows, half.x, method=method,
                                  jac=separable_rows_grad,
                                  options={**options, **per_problem, "maxiter": 15,
                                           "state": half.state})
    np.testing.assert_array_equal(rest.x, batch.x)
    for name, values in batch.state.get("carry", {}).items():
        rest = 1 if groups is BATCH_GROUPS else 0  # BATCH_GROUPS leaves a group of the rest
        assert values.shape == (4, len(groups) + rest), name


@pytest.mark.parametrize("method", ["nadam", pytest.param("prodigy", marks=pytest.mark.slow)])
def test_a_jitted_objective_with_groups(method):
    """A jitted ``fun`` with groups: an elementwise rule runs the jitted form (each problem's
    compiled loop with its group table), a rule with a reduction stage the vectorized loop
    row by row; either way every answer and carry is ``minimize``'s, and a jitted batch
    resumed from its state after 10 of 20 iterations ends where the whole run does."""
    fun, jac = _jitted_separable()
    X0 = np.array([1.0, -2.0, 3.0, -1.0, 0.5]) * np.array([[1.0], [0.5]])
    groups = BATCH_GROUPS if method == "nadam" else COVERING
    options = {"maxiter": 20, "return_best": False, "groups": groups,
               "lr": np.array([1e-2, 2e-2])}
    batch = numadam.minimize_batch(fun, X0, jac=jac, method=method, options=options)
    assert batch.compiled == (method == "nadam")
    for b in range(2):
        alone = numadam.minimize(separable, X0[b], jac=separable_grad, method=method,
                                 options={**options, "lr": options["lr"][b]})
        np.testing.assert_array_equal(batch.x[b], alone.x)
        carries = [[group[name] for name in sorted(group)] for group in alone.state["carry"]]
        assert [[batch.state["carry"][name][b, g] for name in sorted(batch.state["carry"])]
                for g in range(len(carries))] == carries
    half = numadam.minimize_batch(fun, X0, jac=jac, method=method,
                                  options={**options, "maxiter": 10})
    rest = numadam.minimize_batch(fun, half.x, jac=jac, method=method,
                                  options={**options, "maxiter": 10, "state": half.state})
    np.testing.assert_array_equal(rest.x, batch.x)


@pytest.mark.parametrize("method, options, exception, match", [
    ("adam", {"groups": {"range": (0, 2)}}, TypeError, "groups must be a list of dicts"),
    ("adam", {"groups": [{"range": (0, 9)}]}, ValueError, r"groups\[0\]\['range'\]"),
    ("adam", {"groups": [{"range": (0, 2), "lrr": 1.0}]}, TypeError, "lrr"),
    ("adam", {"groups": [{"range": (0, 2), "lr": -1.0}]}, ValueError, r"groups\[0\]: .*-1"),
    ("adam", {"groups": [{"range": (0, 2), "maximize": True}]}, ValueError, "maximize"),
    ("prodigy", {"groups": [{"range": (1, 2)}]}, ValueError, "one run of x"),
    ("spsa", {"groups": [{"range": (0, 2)}]}, ValueError, "spsa"),
    ("sgd", {"groups": [{"range": (0, 2), "momentum": 0.9}], "lr": 0.1}, ValueError,
     "every group must use the same state vectors"),
    ("adam", {"groups": [{"range": (0, 2), "amsgrad": True}]}, ValueError,
     r"groups\[0\]\['amsgrad'\].*fixed"),
    ("adam", {"groups": [{"range": (0, 2), "lr": 0.5}], "lr": -1.0}, ValueError,
     "^Invalid learning rate"),  # the options' value, not a group's
])
def test_minimize_batch_refuses_bad_groups(method, options, exception, match):
    X0 = np.ones((2, 5))
    with pytest.raises(exception, match=match):
        numadam.minimize_batch(separable_rows, X0, method=method, jac=separable_rows_grad,
                               options=options)
    assert (X0 == 1).all()


def test_a_batch_state_resumes_only_with_its_groups():
    X0 = np.ones((2, 5))
    saved = numadam.minimize_batch(separable_rows, X0, method="nadam", jac=separable_rows_grad,
                                   options={"maxiter": 3, "groups": BATCH_GROUPS,
                                            "lr": 1e-2}).state
    assert saved["hyperparameters"]["lr"] == 1e-2  # the options', not the first group's
    assert saved["param_groups"] == [{"segments": [[1, 2]], "lr": 0.5},
                                     {"segments": [[3, 5]], "lr": 0.05},
                                     {"segments": [[0, 1], [2, 3]]}]
    for options, match in (({}, "saved with parameter groups"),
                           ({"groups": BATCH_GROUPS[:1]}, "saved with the parameter groups")):
        with pytest.raises(ValueError, match=match):
            numadam.minimize_batch(separable_rows, X0, method="nadam", jac=separable_rows_grad,
                                   options={"maxiter": 3, "state": saved, "lr": 1e-2,
                                            **options})
    plain = numadam.minimize_batch(separable_rows, X0, method="nadam", jac=separable_rows_grad,
                                   options={"maxiter": 3}).state
    with pytest.raises(ValueError, match="keys"):
        numadam.minimize_batch(separable_rows, X0, method="nadam", jac=separable_rows_grad,
                               options={"maxiter": 3, "state": plain, "groups": BATCH_GROUPS})


def test_one_problem_of_a_grouped_batch_resumes_in_minimize():
    """``numadam._resume.problem_state`` of a grouped batch's state is that problem's
    ``minimize`` state (each group's hyperparameters and carry): ``minimize`` resumed from it
    ends where the whole batch does."""
    from numadam._resume import problem_state

    X0 = np.tile(np.array([1.0, -2.0, 3.0, -1.0, 0.5]), (2, 1)) * [[1.0], [0.5]]
    options = {"maxiter": 10, "return_best": False, "groups": BATCH_GROUPS,
               "lr": np.array([1e-2, 2e-2])}
    half = numadam.minimize_batch(separable_rows, X0, method="nadam", jac=separable_rows_grad,
                                  options=options)
    whole = numadam.minimize_batch(separable_rows, X0, method="nadam", jac=separable_rows_grad,
                                   options={**options, "maxiter": 20})
    for b in range(2):
        one = problem_state(half.state, b)
        assert [group["lr"] for group in one["param_groups"]] == [0.5, 0.05, options["lr"][b]]
        assert len(one["carry"]) == 3
        rest = numadam.minimize(separable, half.x[b], method="nadam", jac=separable_grad,
                                options={**options, "lr": options["lr"][b], "state": one})
        np.testing.assert_array_equal(rest.x, whole.x[b])
