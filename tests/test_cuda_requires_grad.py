"""PyTorch parameters (tensors that require grad) on the GPU path.

torch's ``__cuda_array_interface__`` raises ``RuntimeError`` for a tensor that requires grad,
which ``hasattr`` does not catch. numadam takes such a tensor through ``detach()`` (the same
memory, updated in place as torch's own optimizers update ``param.data``) and refuses any other
object whose interface raises, with a ``TypeError``.

Run under Numba's CUDA simulator unless ``NUMBA_ENABLE_CUDASIM`` is set already (as in
tests/test_cuda.py): host memory stands in for device memory, so host buffers pose as GPU arrays.
"""

import os
import sys

if "numba.cuda" not in sys.modules:  # the simulator is chosen when numba.cuda is first imported
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    from numba.core import config

    config.reload_config()

import numpy as np
import pytest

import numadam
import numadam.cuda as nc
from numadam import backends

pytestmark = pytest.mark.skipif(
    not nc._simulated(), reason="needs the CUDA simulator (host memory poses as GPU memory)")

N = 9
MESSAGE = "Can't get __cuda_array_interface__ on Variable that requires grad."


class HostAsGpu:
    """A GPU array as CuPy or torch expose one, over a NumPy array's memory (simulator)."""

    def __init__(self, host):
        self.host = host

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.host.shape, "typestr": self.host.dtype.str, "version": 3,
                "data": (self.host.ctypes.data, False), "strides": None}


class RequiresGrad:
    """Like torch's CUDA tensor that requires grad: its interface raises ``RuntimeError``; its
    ``detach()`` exposes the same memory."""

    def __init__(self, host):
        self.host = host

    @property
    def __cuda_array_interface__(self):
        raise RuntimeError(MESSAGE)

    def detach(self):
        return HostAsGpu(self.host)


class Refusing(RequiresGrad):
    """An interface that raises, and no ``detach()`` to get around it."""

    detach = None


def test_detection_does_not_raise():
    for value in (RequiresGrad(np.ones(3)), Refusing(np.ones(3))):
        assert nc.is_device_array(value)
        assert backends.backend_for(value) is nc.BACKEND


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_parameter_that_requires_grad_is_updated_in_place(dtype, rng):
    """Parameters and gradients that require grad: stepped through their detached memory, the
    caller's memory holds the result, bitwise the CPU's (the simulator's arithmetic)."""
    x_host = rng.standard_normal(N).astype(dtype)
    x0, x_cpu = x_host.copy(), x_host.copy()
    gpu = numadam.Adam(RequiresGrad(x_host), lr=0.1, amsgrad=True)
    cpu = numadam.Adam(x_cpu, lr=0.1, amsgrad=True)
    assert gpu.device == "cuda"
    for _ in range(3):
        g = rng.standard_normal(N).astype(dtype)
        gpu.step(RequiresGrad(g.copy()))
        cpu.step(g)
    assert not np.array_equal(x_host, x0)  # updated in the caller's memory
    np.testing.assert_array_equal(x_host, x_cpu)


def test_an_interface_that_raises_without_detach_is_refused(rng):
    with pytest.raises(TypeError, match="refuses to expose its GPU memory.*requires grad"):
        numadam.Adam(Refusing(np.ones(N)))
    opt = numadam.Adam(HostAsGpu(np.ones(N)))
    with pytest.raises(TypeError, match="refuses to expose its GPU memory"):
        opt.step(Refusing(np.ones(N)))
    assert opt.step_count == 0


def test_torch_parameter(rng):
    """A real ``torch.nn.Parameter`` through torch's own ``__cuda_array_interface__``: a CPU
    tensor that says it is on CUDA, which under the simulator is all the GPU path needs."""
    torch = pytest.importorskip("torch")

    class CudaLooking(torch.Tensor):
        @property
        def is_cuda(self):
            return True

    x0 = rng.standard_normal(N)
    param = torch.nn.Parameter(torch.tensor(x0).as_subclass(CudaLooking))
    with pytest.raises(RuntimeError, match="requires grad"):  # torch's refusal, as on a GPU
        param.__cuda_array_interface__
    x_cpu = x0.copy()
    gpu, cpu = numadam.SGD(param, lr=0.1, momentum=0.9), numadam.SGD(x_cpu, lr=0.1, momentum=0.9)
    for _ in range(3):
        g = rng.standard_normal(N)
        grad = torch.tensor(g).as_subclass(CudaLooking).requires_grad_()
        gpu.step(grad)
        cpu.step(g)
    assert param.requires_grad and param.grad is None  # still a parameter; autograd untouched
    np.testing.assert_array_equal(param.detach().numpy(), x_cpu)
