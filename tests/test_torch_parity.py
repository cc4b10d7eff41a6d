"""Trajectories against ``torch.optim`` itself, when PyTorch is installed (it is not a dependency).

PyTorch's single-tensor path (``foreach=False``) is the formula numadam follows, operation by
operation. PyTorch's vectorized CPU kernels, however, fuse multiply-adds (``add(alpha=)``,
``lerp``, ``addcmul``), rounding once where the formula rounds twice, so even plain SGD differs
from it in the last bit on a third to a half of the elements (measured: relative differences up
to 3e-14 in float64 and 3e-5 in float32 after 100 steps). The comparison allows for that.
"""

import numpy as np
import pytest

import numadam

torch = pytest.importorskip("torch")

STEPS = 150
N = 257

CASES = [
    ("Adam", numadam.Adam, dict(lr=1e-2)),
    ("Adam", numadam.Adam, dict(lr=1e-2, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", numadam.Adam, dict(lr=1e-2, betas=(0.0, 0.99))),
    ("AdamW", numadam.AdamW, dict(lr=1e-2, weight_decay=0.1)),
    ("AdamW", numadam.AdamW, dict(lr=1e-2, amsgrad=True)),
    ("Adam", numadam.Adam, dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True,
                                maximize=True)),
    ("RMSprop", numadam.RMSProp, dict(lr=1e-3)),
    ("RMSprop", numadam.RMSProp, dict(lr=1e-3, centered=True, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", numadam.RMSProp, dict(lr=1e-3, alpha=0.3, centered=True, maximize=True)),
    ("SGD", numadam.SGD, dict(lr=1e-2)),
    ("SGD", numadam.SGD, dict(lr=1e-2, momentum=0.9, dampening=0.2, weight_decay=0.1)),
    ("SGD", numadam.SGD, dict(lr=1e-2, momentum=0.9, nesterov=True, maximize=True)),
    ("Adamax", numadam.Adamax, dict()),
    ("Adamax", numadam.Adamax, dict(lr=1e-2, betas=(0.3, 0.99), weight_decay=0.1,
                                    maximize=True)),
    ("Adagrad", numadam.Adagrad, dict()),
    ("Adagrad", numadam.Adagrad, dict(lr=1e-2, lr_decay=0.01, weight_decay=0.1,
                                      initial_accumulator_value=0.1, maximize=True)),
    ("Adadelta", numadam.Adadelta, dict()),
    ("Adadelta", numadam.Adadelta, dict(lr=0.5, rho=0.3, weight_decay=0.1, maximize=True)),
    ("NAdam", numadam.NAdam, dict()),
    ("NAdam", numadam.NAdam, dict(lr=1e-2, weight_decay=0.1, momentum_decay=0.1,
                                  maximize=True)),
    ("NAdam", numadam.NAdam, dict(lr=1e-2, betas=(0.3, 0.9), weight_decay=0.1,
                                  decoupled_weight_decay=True)),
    ("RAdam", numadam.RAdam, dict()),
    ("RAdam", numadam.RAdam, dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    ("RAdam", numadam.RAdam, dict(lr=1e-2, betas=(0.3, 0.9), weight_decay=0.1,
                                  decoupled_weight_decay=True, maximize=True)),
    ("Rprop", numadam.Rprop, dict()),
    ("Rprop", numadam.Rprop, dict(lr=0.1, etas=(0.3, 2.0), step_sizes=(1e-3, 0.05),
                                  maximize=True)),
    ("Rprop", numadam.Rprop, dict(lr=1e-3, etas=(0.7, 1.5), step_sizes=(1e-4, 2.0))),
    ("ASGD", numadam.ASGD, dict()),
    ("ASGD", numadam.ASGD, dict(lr=1e-2, lambd=0.1, t0=5.0, weight_decay=0.1)),
    ("ASGD", numadam.ASGD, dict(lr=0.05, alpha=0.5, t0=20.0, maximize=True)),
]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("torch_name, cls, options", CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_trajectory_matches_torch(torch_name, cls, options, dtype, rtol, rng):
    x0 = rng.standard_normal(N).astype(dtype)
    x = x0.copy()
    ours = cls(x, **options)
    param = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    theirs = getattr(torch.optim, torch_name)([param], foreach=False, **options)
    for _ in range(STEPS):
        g = rng.standard_normal(N).astype(dtype)
        param.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(g)
    np.testing.assert_allclose(x, param.detach().numpy(), rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("options", [dict(), dict(lr=1e-2, lambd=0.1, t0=5.0, weight_decay=0.1)],
                         ids=str)
def test_asgd_average_matches_torch(options, rng):
    """ASGD's averaged iterate ``ax`` (the state, not the parameters) and its float32 scalars."""
    x0 = rng.standard_normal(N)
    ours = numadam.ASGD(x0.copy(), **options)
    param = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    theirs = torch.optim.ASGD([param], foreach=False, **options)
    for _ in range(STEPS):
        g = rng.standard_normal(N)
        param.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(g)
    state = theirs.state[param]
    np.testing.assert_allclose(ours.state["ax"], state["ax"].numpy(), rtol=1e-12, atol=1e-14)
    carry = ours.state_dict()["carry"]
    assert (carry["eta"], carry["mu"]) == (state["eta"].item(), state["mu"].item())


def test_asgd_defaults_are_torch_defaults():
    import inspect

    ours = inspect.signature(numadam.ASGD).parameters
    theirs = inspect.signature(torch.optim.ASGD).parameters
    for name in ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize"):
        assert ours[name].default == theirs[name].default, name


def test_parameter_groups_follow_torch_with_a_scheduler(rng):
    """Two groups (``numadam._groups``) against torch's, and StepLR ported through
    ``param_groups``."""
    flat, views = numadam.ravel({"W": rng.standard_normal(60), "b": rng.standard_normal(6)})
    runs = {"W": (0, 60), "b": (60, 66)}
    tensors = [torch.nn.Parameter(torch.from_numpy(views[name].copy())) for name in ("W", "b")]
    reference = torch.optim.Adam([{"params": [tensors[0]]},
                                  {"params": [tensors[1]], "lr": 1e-2, "weight_decay": 0.0}],
                                 lr=1e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(reference, step_size=3, gamma=0.5)
    opt = numadam.Adam([{"params": views["W"]},
                        {"params": views["b"], "lr": 1e-2, "weight_decay": 0.0}],
                       lr=1e-3, weight_decay=0.01)
    for step in range(1, 13):
        grad = rng.standard_normal(flat.size)
        for tensor, name in zip(tensors, ("W", "b")):
            start, stop = runs[name]
            tensor.grad = torch.from_numpy(grad[start:stop].copy())
        reference.step()
        scheduler.step()
        opt.step(grad)
        if step % 3 == 0:  # StepLR's rule, through param_groups as a port would write it
            for group in opt.param_groups:
                group["lr"] *= 0.5
    assert [group["lr"] for group in opt.param_groups] == [
        group["lr"] for group in reference.param_groups]
    for tensor, name in zip(tensors, ("W", "b")):
        np.testing.assert_allclose(views[name], tensor.detach().numpy(), rtol=1e-12)
