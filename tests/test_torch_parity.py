"""Trajectories against ``torch.optim`` itself, when PyTorch is installed (it is not a dependency).

PyTorch's single-tensor path (``foreach=False``) is the formula numadam follows, operation by
operation, but on the CPU two of PyTorch's kernels round differently from that formula, so the
trajectories are compared with a tolerance (measured on 32,775 elements, 100 steps, AVX2 CPU,
torch 2.13: one step differs in the last bit on 2 to 172 elements; after 100 steps relative
differences reach 5e-12 in float64 and 2e-3 in float32, the largest where a parameter is near
zero; absolute differences stay below 4e-15 and 3e-6):

* ``torch.sqrt`` is MKL's vector square root (``vdSqrt`` / ``vsSqrt``; libtorch_cpu exports
  them and they agree with ``torch.sqrt`` bit for bit), which is not correctly rounded: on an
  AMD EPYC it differs from IEEE ``sqrt`` on about 1.3% of float64 inputs (errors up to 0.525
  ulp) and 17% of float32 inputs (up to 0.74 ulp). PyTorch builds without MKL, and MKL on
  other processors, may round otherwise. numadam's kernels take the square root with
  ``math.sqrt`` (the processor's correctly rounded instruction) and cannot follow a vendor
  library's approximation, which also has no CUDA counterpart.
* PyTorch's vectorized kernels (``ATEN_CPU_CAPABILITY`` AVX2 or AVX512) fuse multiply-adds:
  ``add(x, alpha=a)`` is ``fma(a, x, y)``, ``lerp`` is ``fma(w, end - start, start)`` (and
  ``fma(-(end - start), 1 - w, end)`` for ``w >= 0.5``), ``addcmul(t1, t2, value=v)`` is
  ``fma(v * t1, t2, y)``; ``addcdiv`` is not fused. Its scalar kernels
  (``ATEN_CPU_CAPABILITY=default``) round each product, as numadam does. numadam does not fuse
  (its kernels run without fastmath, and LLVM does not contract): with the square root above
  unmatched, fusing would not make the trajectories equal either (measured: NAdam and Adadelta
  still differ on 131 to 10,811 of 32,775 elements after 100 steps), and it would depart from
  PyTorch's own scalar path.

:func:`test_reference_is_torch_up_to_its_sqrt` pins this down: with PyTorch's scalar kernels and
PyTorch's square root in place of NumPy's, :mod:`numadam._reference` (to which the kernels are
bitwise equal) reproduces ``torch.optim`` bit for bit over 100 steps.
"""

import numpy as np
import pytest

import numadam

torch = pytest.importorskip("torch")

STEPS = 150
N = 257

#: Rules held to a few ulps of the parameters' scale, ``max |ours - theirs| <= 8 eps max |x|``,
#: after STEPS steps: relative differences alone grow without bound where a parameter nears
#: zero (issue 23: NAdam and Adadelta with weight decay).
ULP_LEVEL = ("NAdam", "Adadelta")

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
    ("Adadelta", numadam.Adadelta, dict(rho=0.95, weight_decay=0.9)),
    ("NAdam", numadam.NAdam, dict()),
    ("NAdam", numadam.NAdam, dict(weight_decay=0.1)),
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
    theirs = param.detach().numpy()
    np.testing.assert_allclose(x, theirs, rtol=rtol, atol=rtol * 1e-2)
    if torch_name in ULP_LEVEL:  # measured: at most 1.85 (seeds 0 to 3)
        scale = np.finfo(dtype).eps * np.max(np.abs(theirs))
        assert np.max(np.abs(x - theirs)) <= 8 * scale, np.max(np.abs(x - theirs)) / scale


#: Run in a fresh process: ATen reads ATEN_CPU_CAPABILITY once, at its first kernel.
_UP_TO_SQRT = """
import inspect

import numpy as np
import torch
from numadam import _reference

class NumPyWithTorchSqrt:
    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def sqrt(x):
        return torch.from_numpy(np.ascontiguousarray(x)).sqrt().numpy()

_reference.np = NumPyWithTorchSqrt()
CASES = [
    ("nadam", "NAdam", dict(weight_decay=0.1)),
    ("nadam", "NAdam", dict(lr=1e-2, betas=(0.3, 0.9), weight_decay=0.1,
                            decoupled_weight_decay=True, maximize=True)),
    ("adadelta", "Adadelta", dict(rho=0.95, weight_decay=0.9)),
    ("adadelta", "Adadelta", dict(lr=0.5, rho=0.3, weight_decay=0.1, maximize=True)),
    ("adam", "Adam", dict(weight_decay=0.1)),
]
rng = np.random.default_rng(20261207)
for dtype in (np.float64, np.float32):
    for name, torch_name, options in CASES:
        x = rng.standard_normal(4_099).astype(dtype)
        param = torch.nn.Parameter(torch.from_numpy(x.copy()))
        theirs = getattr(torch.optim, torch_name)([param], foreach=False, **options)
        ours, state = getattr(_reference, name), {}
        names = inspect.signature(ours).parameters
        hyperparameters = {key: value for key, value in theirs.defaults.items() if key in names}
        for step in range(100):
            g = rng.standard_normal(x.size).astype(dtype)
            param.grad = torch.from_numpy(g.copy())
            theirs.step()
            ours(x, g, state, **hyperparameters)
        differ = int((x != param.detach().numpy()).sum())
        print(dtype.__name__, torch_name, options, "differ", differ)
        assert differ == 0
"""


@pytest.mark.skipif(__import__("platform").machine().lower() not in ("x86_64", "amd64"),
                    reason="x86-64 only: where FMA is baseline (aarch64), the compiler may fuse "
                           "PyTorch's scalar kernels too")
def test_reference_is_torch_up_to_its_sqrt():
    """:mod:`numadam._reference`'s NAdam, Adadelta and Adam, given ``torch.sqrt`` for
    ``np.sqrt``, equal PyTorch's scalar CPU kernels bit for bit over 100 steps (4,099 elements,
    weight decay): the two roundings of the module docstring are the only differences."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    done = subprocess.run([sys.executable, "-c", _UP_TO_SQRT], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr


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
