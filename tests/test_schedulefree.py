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
