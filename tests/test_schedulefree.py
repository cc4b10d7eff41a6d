"""ScheduleFreeAdamW's train/eval switching, and the trajectory against the reference package
``schedulefree.AdamWScheduleFree`` when it is installed."""

import numpy as np
import pytest

import numadam
from numadam import _reference

N = 257
STEPS = 150


def _run(opt, rng, steps, dtype=np.float64):
    gradients = [rng.standard_normal(N).astype(dtype) for _ in range(steps)]
    for g in gradients:
        opt.step(g)
    return gradients


def test_eval_and_train_move_the_parameters_as_the_reference_does(rng):
    x0 = rng.standard_normal(N)
    opt = numadam.ScheduleFreeAdamW(x0.copy(), lr=1e-2, betas=(0.8, 0.99))
    assert opt.mode == "train"
    reference_x, state = x0.copy(), {}
    for g in _run(opt, rng, 20):
        _reference.schedulefree_adamw(reference_x, g, state, lr=1e-2, betas=(0.8, 0.99),
                                      eps=1e-8, weight_decay=0.0, warmup_steps=0, r=0.0,
                                      weight_lr_power=2.0, maximize=False)
    y = opt.param.copy()
    np.testing.assert_array_equal(y, reference_x)
    assert opt.eval() is opt and opt.mode == "eval"
    _reference.schedulefree_adamw_switch(reference_x, state, betas=(0.8, 0.99), to="eval")
    np.testing.assert_array_equal(opt.param, reference_x)
    assert not np.array_equal(opt.param, y)
    opt.eval()  # already there: nothing moves
    np.testing.assert_array_equal(opt.param, reference_x)
    opt.train()
    np.testing.assert_allclose(opt.param, y, rtol=1e-12)


def test_step_in_eval_mode_raises_and_changes_nothing(rng):
    x = rng.standard_normal(N)
    opt = numadam.ScheduleFreeAdamW(x)
    _run(opt, rng, 3)
    opt.eval()
    before = x.copy()
    with pytest.raises(RuntimeError, match="train mode"):
        opt.step(np.ones(N))
    np.testing.assert_array_equal(x, before)
    assert opt.step_count == 3


def test_state_dict_keeps_the_mode_and_the_carried_scalars(rng):
    opt = numadam.ScheduleFreeAdamW(rng.standard_normal(N), warmup_steps=3)
    _run(opt, rng, 5)
    opt.eval()
    saved = opt.state_dict()
    assert saved["mode"] == "eval" and set(saved["carry"]) == {"lr_max", "weight_sum"}
    twin = numadam.ScheduleFreeAdamW(saved_x := opt.param.copy(), warmup_steps=3)
    twin.load_state_dict(saved)
    assert twin.mode == "eval"
    twin.train()
    opt.train()
    np.testing.assert_array_equal(twin.param, opt.param)
    g = rng.standard_normal(N)
    twin.step(g)
    opt.step(g)
    np.testing.assert_array_equal(twin.param, opt.param)
    assert saved_x is twin.param
    with pytest.raises(ValueError, match="mode"):
        twin.load_state_dict({**saved, "mode": "sideways"})


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("options", [
    dict(lr=1e-2),
    dict(lr=1e-2, weight_decay=0.1, warmup_steps=10, r=0.5, betas=(0.95, 0.99)),
    dict(lr=3e-3, weight_lr_power=0.0, eps=1e-6),
], ids=str)
def test_trajectory_matches_the_reference_package(options, dtype, rtol, rng):
    torch = pytest.importorskip("torch")
    schedulefree = pytest.importorskip("schedulefree")
    x0 = rng.standard_normal(N).astype(dtype)
    ours = numadam.ScheduleFreeAdamW(x0.copy(), **options)
    param = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    theirs = schedulefree.AdamWScheduleFree([param], foreach=False, **options)
    theirs.train()
    for _ in range(STEPS):
        g = rng.standard_normal(N).astype(dtype)
        param.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(g)
    np.testing.assert_allclose(ours.param, param.detach().numpy(), rtol=rtol, atol=rtol * 1e-2)
    theirs.eval()
    ours.eval()
    np.testing.assert_allclose(ours.param, param.detach().numpy(), rtol=rtol, atol=rtol * 1e-2)


def test_maximize_is_minimizing_the_negated_objective(rng):
    x0 = rng.standard_normal(N)
    up = numadam.ScheduleFreeAdamW(x0.copy(), maximize=True)
    down = numadam.ScheduleFreeAdamW(x0.copy())
    for _ in range(10):
        g = rng.standard_normal(N)
        up.step(g)
        down.step(-g)
    np.testing.assert_array_equal(up.param, down.param)


# -- bounds: the answer inside the box, the status tested there (issue 24, item 1) -------------


def _far(x):
    """A minimum at (2, 2), outside the box [0, 1]^2 of the tests below: the answer is (1, 1)."""
    return np.sum((x - 2.0) ** 2)


def _far_jac(x):
    return 2 * (x - 2.0)


def _far_rows(X):
    return np.sum((X - 2.0) ** 2, axis=1)


def _far_rows_jac(X):
    return 2 * (X - 2.0)


BOX = [(0.0, 1.0), (0.0, 1.0)]
SF_OPTIONS = {"maxiter": 300, "lr": 0.05, "gtol": 1e-6}


def _assert_inside_and_truthful(x, g, success, gtol=1e-6):
    """Inside the box; a success only where the gradient projected on the bounds meets gtol
    at the very point returned."""
    x, g = np.atleast_2d(x), np.atleast_2d(g)
    assert ((x >= 0.0) & (x <= 1.0)).all(), x
    for row, grad, ok in zip(x, g, np.atleast_1d(success)):
        blocked = ((grad < 0) & (row >= 1.0)) | ((grad > 0) & (row <= 0.0))
        if ok:
            assert np.abs(np.where(blocked, 0.0, grad)).max() <= gtol, (row, grad)


@pytest.mark.parametrize("x0, jac", [([1.0, 0.0], _far_jac), ([0.5, 0.5], _far_jac),
                                     ([0.5, 0.5], "2-point"), ([0.5, 0.5], None)])
def test_minimize_with_bounds_answers_inside_the_box_with_a_truthful_status(x0, jac):
    """Issue 24: the evaluation point (an extrapolation past the iterates) was returned
    unprojected, outside the box ([-0.667, -0.323]), or with success=True at [0.96, 0.96]
    (gtol passed at the training point), or finite differences ended in SciPy's raw "x0
    violates bound constraints"."""
    x0 = np.array(x0)
    start = x0.copy()
    for call in (lambda: numadam.minimize(_far, x0, method="schedulefree_adamw", jac=jac,
                                          bounds=BOX, options=SF_OPTIONS),
                 lambda: numadam.minimize(_far, x0, method="schedulefree_adamw", jac=jac,
                                          bounds=BOX, callback=lambda xk: None,
                                          options=SF_OPTIONS)):
        result = call()
        _assert_inside_and_truthful(result.x, result.jac, result.success)
        assert result.success == (result.status == 0)
    np.testing.assert_array_equal(x0, start)


def test_scipy_entry_point_answers_inside_the_box():
    import scipy.optimize

    result = scipy.optimize.minimize(_far, np.array([0.5, 0.5]), jac=_far_jac, bounds=BOX,
                                     method=numadam.schedulefree_adamw, options=SF_OPTIONS)
    _assert_inside_and_truthful(result.x, result.jac, result.success)
