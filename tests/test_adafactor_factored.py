"""Adafactor's factored form (a parameter group with a shape of two or more dimensions) against
``numadam._reference.adafactor_factored``, bitwise; its state, its inputs and where it runs.
PyTorch's own: ``test_parameter_free_parity.py``."""

import numpy as np
import pytest

import numadam
from numadam import _reference

DEFAULTS = dict(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                maximize=False)
CASES = [dict(), dict(lr=0.05, weight_decay=0.1, maximize=True),
         dict(eps=(1e-3, 1e-3), beta2_decay=-0.5, d=2.0)]


def _reference_run(x0, shape, gradients, options, dtype):
    """The factored reference on ``x0[:size]`` shaped, the unfactored one on the rest."""
    size = int(np.prod(shape))
    head, tail = x0[:size].reshape(shape).astype(dtype), x0[size:].astype(dtype)
    head_state, tail_state = {}, {}
    hyperparameters = {**DEFAULTS, **options}
    for g in gradients:
        g = g.astype(dtype)
        _reference.adafactor_factored(head, g[:size].reshape(shape), head_state,
                                      **hyperparameters)
        if tail.size:
            _reference.adafactor(tail, g[size:], tail_state, **hyperparameters)
    return np.concatenate([head.ravel(), tail]), head_state, tail_state


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5)])
@pytest.mark.parametrize("options", CASES, ids=str)
@pytest.mark.parametrize("check_finite", [True, False])
def test_a_shaped_range_steps_as_the_factored_reference(options, shape, dtype, check_finite,
                                                         rng):
    size = int(np.prod(shape))
    x0 = rng.standard_normal(size + 7)
    gradients = [rng.standard_normal(x0.size) for _ in range(30)]
    x = x0.astype(dtype)
    opt = numadam.Adafactor(x, groups=[{"range": (0, size), "shape": shape}],
                            check_finite=check_finite, **options)
    for g in gradients:
        opt.step(g.astype(dtype))
    expected, head_state, tail_state = _reference_run(x0, shape, gradients, options, dtype)
    np.testing.assert_array_equal(x, expected)
    # the state is compact: the group's row and column variances, then the rest's variance
    rows, cols = head_state["row_var"].ravel(), head_state["col_var"].ravel()
    np.testing.assert_array_equal(opt.state["variance"], np.concatenate(
        [rows, cols, tail_state["variance"]]))
    assert opt.param_groups[0]["shape"] == shape
    assert opt.param_groups[0]["params"][0].shape == shape


def test_the_rest_around_a_shaped_range_steps_as_one_vector_beside_it(rng):
    """A shaped range in the middle: the elements no range covers (two runs) form one more
    group, stepped as their concatenation, its state after the range's in the compact
    vector."""
    x0 = rng.standard_normal(25)
    gradients = [rng.standard_normal(25) for _ in range(15)]
    x = x0.copy()
    opt = numadam.Adafactor(x, groups=[{"range": (5, 17), "shape": (3, 4), "lr": 0.05}])
    for g in gradients:
        opt.step(g)
    middle, state = x0[5:17].reshape(3, 4).copy(), {}
    rest, rest_state = np.concatenate([x0[:5], x0[17:]]), {}
    for g in gradients:
        _reference.adafactor_factored(middle, g[5:17].reshape(3, 4), state,
                                      **{**DEFAULTS, "lr": 0.05})
        _reference.adafactor(rest, np.concatenate([g[:5], g[17:]]), rest_state, **DEFAULTS)
    np.testing.assert_array_equal(x[5:17], middle.ravel())
    np.testing.assert_array_equal(np.concatenate([x[:5], x[17:]]), rest)
    np.testing.assert_array_equal(opt.state["variance"], np.concatenate(
        [state["row_var"], state["col_var"], rest_state["variance"]]))


def test_threads_step_a_large_group_as_one_thread_and_the_reference(rng):
    """From ``kernels.PARALLEL_THRESHOLD`` elements on, chunks of rows run on threads: the
    same bits as one thread and as the reference (five chunks, the last one short)."""
    shape = (300, 110)
    assert np.prod(shape) >= numadam.kernels.PARALLEL_THRESHOLD
    x0 = rng.standard_normal(int(np.prod(shape)))
    gradients = [rng.standard_normal(x0.size) for _ in range(3)]
    runs = []
    for threaded in (True, False):
        x = x0.copy()
        opt = numadam.Adafactor(x, groups=[{"range": (0, x.size), "shape": shape}])
        opt.threaded = threaded
        for g in gradients:
            opt.step(g)
        runs.append(x)
    expected, _, _ = _reference_run(x0, shape, gradients, {}, np.float64)
    np.testing.assert_array_equal(runs[0], expected)
    np.testing.assert_array_equal(runs[1], expected)


def test_a_group_of_one_view_factors_by_the_views_shape(rng):
    """PyTorch's form: a group of one matrix view is factored, a group of a vector or of two
    views steps as a vector (pooled, as before)."""
    flat, views = numadam.ravel({"W": rng.standard_normal((4, 5)), "b": rng.standard_normal(3),
                                 "c": rng.standard_normal((2, 2))})
    x0 = flat.copy()
    opt = numadam.Adafactor([{"params": views["W"]}, {"params": [views["b"], views["c"]]}])
    gradients = [rng.standard_normal(flat.size) for _ in range(20)]
    for g in gradients:
        opt.step(g)
    W, state = x0[:20].reshape(4, 5).copy(), {}
    rest, rest_state = x0[20:].copy(), {}  # "W" sorts before "b" and "c": one run, 20 on
    for g in gradients:
        _reference.adafactor_factored(W, g[:20].reshape(4, 5), state, **DEFAULTS)
        _reference.adafactor(rest, g[20:], rest_state, **DEFAULTS)
    np.testing.assert_array_equal(views["W"], W)
    np.testing.assert_array_equal(flat[20:], rest)
    saved = opt.state_dict()["param_groups"]
    assert saved[0]["shape"] == [4, 5] and "shape" not in saved[1]
    # 4 + 5 variances for W, then the 7 of the pooled group: 16 numbers for 27 parameters
    np.testing.assert_array_equal(opt.state["variance"], np.concatenate(
        [state["row_var"], state["col_var"], rest_state["variance"]]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 12), (12, 1), (2, 1, 6), (2, 5, 1), (3, 1, 1)])
def test_a_dimension_of_one_keeps_one_factor_and_steps_as_the_reference(shape, dtype, rng):
    """Where m or n is 1 the group keeps the other factor only (it fills the group's part of
    the variance vector) and takes the one of length 1 as its mean; gradients small enough
    that the row mean falls below eps1 (where PyTorch's factored form departs from the
    unfactored one) and large ones."""
    size = int(np.prod(shape))
    x0 = rng.standard_normal(size)
    scale = 1e-5 if dtype == np.float32 else 1e-10
    gradients = [rng.standard_normal(size) * (scale if k % 2 else 1.0) for k in range(12)]
    x = x0.astype(dtype)
    opt = numadam.Adafactor(x, groups=[{"range": (0, size), "shape": shape}])
    for g in gradients:
        opt.step(g.astype(dtype))
    expected, state, _ = _reference_run(x0, shape, gradients, {}, dtype)
    np.testing.assert_array_equal(x, expected)
    kept = state["col_var"] if shape[-2] == 1 else state["row_var"]
    np.testing.assert_array_equal(opt.state["variance"], kept.ravel())


def test_a_non_finite_gradient_entry_adds_nothing_and_changes_nothing(rng):
    x = rng.standard_normal(12)
    opt = numadam.Adafactor(x, groups=[{"range": (0, 12), "shape": (3, 4)}], lr=0.1)
    opt.step(rng.standard_normal(12))
    before = x.copy()
    g = rng.standard_normal(12)
    g[6] = np.nan
    with pytest.raises(numadam.NonFiniteGradientError, match="1 non-finite"):
        opt.step(g)
    assert x[6] == before[6]
    assert np.isfinite(x).all() and np.isfinite(opt.state["variance"]).all()
    assert (x != before).sum() == 11
    opt.step(rng.standard_normal(12))  # and it goes on
    assert np.isfinite(x).all()


def test_the_state_dict_records_the_shape_and_resumes_bitwise(rng):
    groups = [{"range": (0, 12), "shape": (3, 4)}]
    x0 = rng.standard_normal(15)
    gradients = [rng.standard_normal(15) for _ in range(20)]
    x = x0.copy()
    opt = numadam.Adafactor(x, groups=groups)
    for g in gradients[:10]:
        opt.step(g)
    saved = opt.state_dict()
    assert saved["param_groups"][0]["shape"] == [3, 4]
    y = x.copy()
    resumed = numadam.Adafactor(y, groups=groups)
    resumed.load_state_dict(saved)
    for g in gradients[10:]:
        opt.step(g)
        resumed.step(g)
    np.testing.assert_array_equal(x, y)
    tuple_shape = {**saved, "param_groups": [{**saved["param_groups"][0], "shape": (3, 4)},
                                             *saved["param_groups"][1:]]}
    numadam.Adafactor(x.copy(), groups=groups).load_state_dict(tuple_shape)  # a tuple is fine
    unfactored = numadam.Adafactor(x.copy(), groups=[{"range": (0, 12)}])
    with pytest.raises(ValueError, match=r"\['shape'\] = \[3, 4\] differs"):
        unfactored.load_state_dict(saved)
    plain = unfactored.state_dict()
    with pytest.raises(ValueError, match=r"\['shape'\] = None differs"):
        resumed.load_state_dict(plain)


def test_minimize_steps_a_shaped_group_as_the_optimizer(rng):
    a = np.diag(np.logspace(0, 2, 12))
    x0 = rng.standard_normal(12)
    groups = [{"range": (0, 12), "shape": (3, 4)}]
    result = numadam.minimize(lambda x: 0.5 * x @ a @ x, x0, jac=lambda x: a @ x,
                              method="adafactor", options={"groups": groups, "maxiter": 40,
                                                           "gtol": 0.0, "lr": 0.1})
    x = x0.copy()
    opt = numadam.Adafactor(x, groups=groups, lr=0.1)
    for _ in range(40):
        opt.step(a @ x)
    assert result.nit == 40
    np.testing.assert_array_equal(result.x, x)
    # and a run resumed from its state (which records the shape) continues bitwise
    options = {"groups": groups, "maxiter": 20, "gtol": 0.0, "lr": 0.1}
    first = numadam.minimize(lambda x: 0.5 * x @ a @ x, x0, jac=lambda x: a @ x,
                             method="adafactor", options=options)
    assert first.state["param_groups"][0]["shape"] == [3, 4]
    second = numadam.minimize(lambda x: 0.5 * x @ a @ x, first.x, jac=lambda x: a @ x,
                              method="adafactor", options={**options, "state": first.state})
    np.testing.assert_array_equal(second.x, x)


@pytest.mark.parametrize("shape, error, match", [
    ((3, 5), ValueError, "product is the range's size, 12"),
    ((4, 3 + 2**62), ValueError, "product is the range's size, 12"),  # no int64 wrap-around
    ((3, 0, 4), ValueError, "positive integers"),
    ((3.0, 4), TypeError, "tuple of integers"),
    ("34", TypeError, "tuple of integers"),
])
def test_a_bad_shape_is_refused_naming_it(shape, error, match):
    x = np.ones(12)
    with pytest.raises(error, match=match) as raised:
        numadam.Adafactor(x, groups=[{"range": (0, 12), "shape": shape}])
    assert "groups[0]['shape']" in str(raised.value)
    assert (x == 1).all()


def test_minimize_batch_refuses_a_shape():
    with pytest.raises(ValueError, match="minimize_batch takes no group 'shape'"):
        numadam.minimize_batch(lambda x: (x * x).sum(axis=1), np.ones((2, 12)),
                               jac=lambda x: 2 * x, method="adafactor",
                               options={"groups": [{"range": (0, 12), "shape": (3, 4)}]})
