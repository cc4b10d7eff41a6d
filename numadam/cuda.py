"""``numba.cuda`` versions of every update kernel, and the device-array helpers the optimizers use.

The optimizers switch to this module by themselves when their parameter vector lives on an
NVIDIA GPU (a Numba device array, or anything exposing ``__cuda_array_interface__``: CuPy
arrays, PyTorch CUDA tensors)::

    x = cupy.zeros(10**8, dtype=cupy.float32)       # or numadam.cuda.to_device(numpy_array)
    opt = numadam.Adam(x, lr=1e-3)                  # state vectors allocated on the same GPU
    opt.step(grad)                                  # grad on the GPU too; x updated in place

Nothing here is imported by ``import numadam``: the module is loaded the first time a device
array reaches an optimizer (or ``minimize`` is asked for the GPU), and ``import numadam.cuda``
itself never fails. Without ``numba.cuda`` (``pip install 'numadam[cuda]'`` brings in
``numba-cuda``) or without a GPU and its driver, every entry point raises one
:class:`CudaUnavailableError` that says what is missing.

Kernels
-------
Each rule's update is its element function (``numadam/rules/<rule>.py``), compiled for the GPU
from the same source as the CPU loops of :mod:`numadam.kernels` and run in a grid-stride loop;
:class:`CUDABackend` hands out launchers with the CPU loops' arguments, so an optimizer does the
same thing on either device. Where the CPU loops take ``None`` for a state vector the rule does
not use, a kernel cannot (numba-cuda does not pass ``None`` to the device): the launcher passes
an array instead, to a kernel compiled for that pattern of state vectors (:func:`_kernel_for`).

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) results match the CPU loops. On a real
GPU they agree to a few ulps: NVVM contracts ``a * b + c`` into fused multiply-adds, which the
CPU loops avoid, while division and square root stay correctly rounded.

Streams and waiting
-------------------
A step's kernel goes to the stream of its gradient (:func:`launch_stream`): the ``stream`` of its
``__cuda_array_interface__`` (CuPy exports its current stream), PyTorch's current stream on the
tensor's device for a torch tensor (whose interface names none), a Numba device array's own
``stream`` (the default stream unless it was made with one or bound to one with
``array.bind(stream)``). So a step is ordered after the work that produced its gradient without
the host waiting for it: foreign arrays are wrapped with ``as_cuda_array(sync=False)``.

No step waits for the GPU (but those of the rules with a reduction stage, whose step size
follows from sums over the vector: see :class:`_Reduction`), the default
``check_finite=True`` included: the kernel adds the count
of the non-finite entries it skipped to a counter on the device, an asynchronous copy on the same
stream brings it to pinned host memory and an event marks its arrival; a later step (or
``Optimizer.synchronize()``) reads it once the event has passed, without waiting
(:class:`NonFiniteReports`). Nothing is allocated per step. What waits: ``check_finite="before"``
(it must know the count before the step), :func:`count_nonfinite`, ``state_dict()`` and the
copies to and from the host, and an optimizer's creation (its state vectors are filled before it
returns).

:func:`kernel_ptx` compiles every kernel to PTX without a GPU (numba-cuda brings NVVM from PyPI):
``tests/test_cuda_ptx.py`` checks with it that each compiles for real targets, which the
simulator cannot tell.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import math
import sys
import threading
import traceback
import types

import numpy as np

from numadam.rules import _rule

try:  # numba's built-in CUDA target, or the numba-cuda package's when that is installed
    from numba import cuda
except Exception as error:  # noqa: BLE001 - any failure here only disables the GPU path
    cuda = None
    _IMPORT_ERROR = f"numba.cuda cannot be imported ({type(error).__name__}: {error})"
else:
    _IMPORT_ERROR = None
    # numba-cuda's compiler inlines only what is registered with it (see numadam.rules._rule)
    _rule.register_for_cuda()

__all__ = [
    "CudaUnavailableError", "THREADS_PER_BLOCK", "BLOCKS_PER_MULTIPROCESSOR",
    "GROUPS_PER_LAUNCH", "require",
    "is_available", "is_device_array", "as_device_array", "to_device", "to_host", "full", "zeros",
    "count_nonfinite", "launch_stream", "NonFiniteReports", "CUDABackend", "BACKEND",
    "kernel_ptx", "kernel_signatures",
]

#: Threads in one block of every kernel launch.
THREADS_PER_BLOCK = 256
#: Grids are at most this many blocks per multiprocessor; longer vectors are covered by each
#: thread's grid-stride loop. Both knobs are read at every launch, so tests can shrink them to
#: make small vectors wrap around the grid.
BLOCKS_PER_MULTIPROCESSOR = 32
#: Parameter groups stepped in one launch, at most: their constants and scalars are kernel
#: arguments (CUDA caps a launch's at 4 KiB before 12.1; a float64 Adam group takes 80 bytes);
#: more groups launch once per run.
GROUPS_PER_LAUNCH = 16
#: Steps whose non-finite counts may be in flight at once (:class:`NonFiniteReports`): a host
#: that runs further ahead of the GPU waits for the oldest of them.
REPORTS_IN_FLIGHT = 64


class CudaUnavailableError(RuntimeError):
    """The CUDA path was asked for, but ``numba.cuda`` or a GPU with its driver is missing."""


def _unavailable_reason():
    """Why the CUDA path cannot run here, or ``None`` when it can."""
    if cuda is None:
        return _IMPORT_ERROR
    try:
        if cuda.is_available():
            return None
    except Exception as error:  # noqa: BLE001
        return f"{type(error).__name__}: {error}"
    try:  # the driver's own explanation (no library found, no device, ...)
        from numba.cuda.cudadrv.driver import driver

        reason = driver.initialization_error
    except Exception:  # noqa: BLE001
        reason = None
    return " ".join(str(reason or "numba.cuda.is_available() is False").split())


_available = False


def require():
    """Return ``numba.cuda`` if a GPU can be used, else raise :class:`CudaUnavailableError`."""
    global _available
    if not _available:
        reason = _unavailable_reason()
        if reason is not None:
            raise CudaUnavailableError(
                "numadam's CUDA path needs an NVIDIA GPU with its driver and the numba-cuda "
                "package (pip install 'numadam[cuda]'); none was found: " + reason
            )
        _available = True
    return cuda


def is_available():
    """Whether :func:`require` would succeed (a GPU, its driver and ``numba.cuda`` are there)."""
    return _unavailable_reason() is None


def _simulated():
    """Whether ``numba.cuda`` is Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` when it was
    first imported; asked of the module itself, as the configuration may be reloaded since)."""
    module = getattr(getattr(cuda, "devicearray", None), "__name__", "")
    return cuda is not None and "simulator" in module


# ------------------------------------------------------------------------------------------------
# Device arrays
# ------------------------------------------------------------------------------------------------


def is_device_array(value):
    """Whether ``value`` is a GPU array: a Numba device array or any object exposing
    ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors, parameters that require
    grad included: see :func:`as_device_array`). Never imports numba.cuda."""
    if isinstance(value, np.ndarray):
        return False
    if getattr(type(value), "__cuda_ndarray__", False):
        return True
    try:
        return hasattr(value, "__cuda_array_interface__")
    except RuntimeError:  # torch's CUDA tensor that requires grad: a GPU array all the same
        return True


def _cuda_interface(value):
    """``(exporter, interface)``: ``value`` and its ``__cuda_array_interface__``, or, for a
    PyTorch tensor that requires grad, its ``detach()``-ed tensor and that one's interface.

    torch refuses to export a tensor that requires grad (``RuntimeError``), to keep autograd from
    missing a change. An optimizer's update is none of autograd's business: torch's own
    optimizers apply it to the parameter's data in place, and the detached tensor is that data
    (the same memory), so numadam updates it as they do. Another object whose interface raises,
    without a ``detach()``, is refused with a :class:`TypeError`.
    """
    try:
        return value, value.__cuda_array_interface__
    except AttributeError:
        raise TypeError(f"expected a GPU array, got {type(value).__name__}") from None
    except RuntimeError as error:
        detach = getattr(value, "detach", None)
        if not callable(detach):
            raise TypeError(
                f"{type(value).__name__} refuses to expose its GPU memory "
                f"(__cuda_array_interface__ raised RuntimeError: {error}); pass an array that "
                f"exposes it"
            ) from None
        value = detach()
        return value, value.__cuda_array_interface__


class _HostView:
    """Exposes a simulated device pointer through ``__array_interface__`` (simulator only)."""

    def __init__(self, owner, interface):
        self.owner = owner  # keeps the exporting object, hence its memory, alive
        self.__array_interface__ = {
            "version": 3, "shape": tuple(interface["shape"]), "typestr": interface["typestr"],
            "data": tuple(interface["data"]), "strides": interface.get("strides"),
        }


def _torch_stream_pointer(value):
    """The handle of PyTorch's current stream on the device of ``value`` if it is a torch
    tensor (0 for the legacy default stream), else ``None``. torch's
    ``__cuda_array_interface__`` names no stream: its kernels go to the current one."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor) or value.device.type != "cuda":
        return None
    return int(torch.cuda.current_stream(value.device).cuda_stream)


class _SimulatedStream:
    """Under the simulator (which has no external streams), a stream given by its handle."""

    def __init__(self, handle):
        self.handle = handle

    def synchronize(self):
        pass

    def __repr__(self):
        return f"<simulated external stream {self.handle}>"


@functools.cache
def _external_stream(handle):
    """The stream of an interface's ``stream`` entry (1: legacy default, 2: per-thread default,
    else a ``CUstream``), made once per handle."""
    if _simulated():
        return _SimulatedStream(handle)
    return require().external_stream(handle)


def _stream_for(value, interface):
    """The stream ``value``'s producer uses (see :func:`launch_stream`), or 0 (the default)."""
    handle = _torch_stream_pointer(value)
    if handle is None:
        handle = interface.get("stream")
    return 0 if not handle else _external_stream(int(handle))


def as_device_array(value):
    """``value`` as a Numba device array sharing its memory (no copy, no wait).

    Numba device arrays are returned as they are; other objects go through
    ``cuda.as_cuda_array(sync=False)`` (a PyTorch tensor that requires grad, an
    ``nn.Parameter``, through its ``detach()``: see :func:`_cuda_interface`): the host does not
    wait for the array's stream; instead the array carries that stream (its ``stream``
    attribute), on which :func:`launch_stream` orders the work that reads it. Under the
    simulator, where "device" memory is host memory, the pointer of
    ``__cuda_array_interface__`` is wrapped directly.
    """
    cuda = require()
    if getattr(type(value), "__cuda_ndarray__", False):
        return value
    value, interface = _cuda_interface(value)
    stream = _stream_for(value, interface)
    if _simulated():
        view = np.asarray(_HostView(value, interface))
        return cuda.devicearray.FakeCUDAArray(view, stream=stream)
    array = cuda.as_cuda_array(value, sync=False)
    array.stream = stream
    return array


_default = None


def launch_stream(array):
    """The stream to launch work reading the device array ``array`` on: its ``stream``
    (see :func:`as_device_array`), else the default stream (as a stream object, so that copies
    on it are asynchronous)."""
    stream = getattr(array, "stream", 0)
    if stream:
        return stream
    global _default
    if _default is None:
        _default = require().default_stream()
    return _default


def to_device(array):
    """Copy a host array to a new device array."""
    return require().to_device(np.ascontiguousarray(array))


def to_host(device_array):
    """Copy a device array (or anything :func:`as_device_array` takes) to a new NumPy array,
    after the work queued on its stream (see :func:`launch_stream`); waits for the copy."""
    array = as_device_array(device_array)
    stream = launch_stream(array)
    host = array.copy_to_host(stream=stream)
    stream.synchronize()
    return host


def full(n, value, dtype):
    """A new device vector of ``n`` elements equal to ``value``, filled on the device (no host
    array of ``n`` elements); returns once it is filled."""
    cuda = require()
    dtype = np.dtype(dtype)
    out = cuda.device_array(n, dtype)
    if n:
        stream = launch_stream(out)
        _fill[(*_grid(n), stream)](out, dtype.type(value))
        stream.synchronize()
    return out


def zeros(n, dtype):
    """A new zero-filled device vector of ``n`` elements (see :func:`full`)."""
    return full(n, 0, dtype)


def copy_to_device(device_array, host_array):
    """Overwrite ``device_array`` with the host array of the same shape and dtype."""
    if device_array.shape[0]:
        device_array.copy_to_device(np.ascontiguousarray(host_array))


def _describe(value):
    if is_device_array(value):
        try:
            array = as_device_array(value)
            return f"a GPU array of shape {tuple(array.shape)} and dtype {array.dtype}"
        except Exception:  # noqa: BLE001
            pass
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


def parameter_vector(name, value):
    """The checks of ``numadam._validation.parameter_vector`` for a GPU array; returns it as a
    Numba device array sharing its memory (it is updated in place and never copied)."""
    if getattr(type(value), "__cuda_ndarray__", False):
        readonly = False  # Numba's device arrays are always writeable
    else:
        value, interface = _cuda_interface(value)
        readonly = bool(interface["data"][1])
    array = as_device_array(value)
    if array.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {array.dtype}; convert it first"
        )
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one flat parameter vector), got shape {tuple(array.shape)}"
        )
    if not array.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous, so that it can be updated in place")
    if readonly:
        raise ValueError(f"{name} must be writeable: it is updated in place")
    return array


def _memory_span(interface):
    """``(first byte, one past the last byte)`` of a 1-D array, from its
    ``__cuda_array_interface__`` (an empty span for an empty array)."""
    start, (n,) = interface["data"][0], interface["shape"]
    itemsize = np.dtype(interface["typestr"]).itemsize
    if n == 0:
        return start, start
    stride = (interface.get("strides") or (itemsize,))[0]
    last = start + (n - 1) * stride
    return min(start, last), max(start, last) + itemsize


def _may_overlap(a, b):
    """Whether two device vectors may share memory (conservative for interleaved strides)."""
    if _simulated():
        return np.may_share_memory(a._ary, b._ary)
    a_first, a_end = _memory_span(a.__cuda_array_interface__)
    b_first, b_end = _memory_span(b.__cuda_array_interface__)
    return a_first < a_end and b_first < b_end and a_first < b_end and b_first < a_end


def check_grad(grad, param):
    """The CPU backend's ``check_grad`` for parameters on the GPU.

    Returns ``grad`` as a C-contiguous device vector that does not overlap the parameters
    (copied on the device only when it is strided or overlaps), or raises as the CPU path does.
    """
    if not is_device_array(grad):
        raise TypeError(
            f"grad must be a GPU array like the parameters, got {_describe(grad)}; copy it to "
            f"the GPU first (numadam.cuda.to_device(grad)) or compute it there"
        )
    grad = as_device_array(grad)
    if grad.dtype != param.dtype:
        raise TypeError(
            f"grad has dtype {grad.dtype}, the parameters have {param.dtype}: they must "
            f"match (no silent conversion)"
        )
    if tuple(grad.shape) != tuple(param.shape):
        raise ValueError(
            f"grad has shape {tuple(grad.shape)}, the parameters have shape {tuple(param.shape)}"
        )
    if not grad.is_c_contiguous() or _may_overlap(grad, param):
        stream = launch_stream(grad)
        copy = require().device_array(grad.shape[0], grad.dtype, stream=getattr(grad, "stream", 0))
        if grad.shape[0]:
            _gather[(*_grid(grad.shape[0]), stream)](copy, grad)
        grad = copy
    return grad


_max_blocks_cache = None


def _max_blocks():
    global _max_blocks_cache
    if _max_blocks_cache is None:
        try:
            multiprocessors = require().get_current_device().MULTIPROCESSOR_COUNT
        except Exception:  # noqa: BLE001 - the simulator's fake device has no such attribute
            multiprocessors = 1
        _max_blocks_cache = max(1, int(multiprocessors))
    return _max_blocks_cache * BLOCKS_PER_MULTIPROCESSOR


def _grid(n):
    """Launch configuration ``(blocks, THREADS_PER_BLOCK)`` for a vector of ``n > 0`` elements."""
    return min(-(-n // THREADS_PER_BLOCK), _max_blocks()), THREADS_PER_BLOCK


# ------------------------------------------------------------------------------------------------
# Kernels. Without numba.cuda they are stand-ins that raise CudaUnavailableError when launched.
# ------------------------------------------------------------------------------------------------


class _Unavailable:
    def __init__(self, function):
        self.__wrapped__ = function

    def __getitem__(self, configuration):
        return self

    def __call__(self, *args):
        require()


def _kernel(function):
    return _Unavailable(function) if cuda is None else cuda.jit(function)


def _device(function):
    return function if cuda is None else cuda.jit(device=True)(function)


@_kernel
def _fill(out, value):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        out[i] = value


@_kernel
def _gather(out, source):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        out[i] = source[i]


@_kernel
def _count_nonfinite_kernel(grad, count):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    bad = 0
    for i in range(start, grad.shape[0], stride):
        if not math.isfinite(grad[i]):
            bad += 1
    if bad:  # one atomic per thread that saw a bad value, none otherwise
        cuda.atomic.add(count, 0, bad)


# ------------------------------------------------------------------------------------------------
# Each rule's update: the rule's element function (numadam/rules/<rule>.py), compiled for the GPU
# from the same source as the CPU loops, inside a grid-stride loop.
# ------------------------------------------------------------------------------------------------


@_rule.element
def _absent(vector):
    """``None`` in place of a state slot the rule does not use (see :func:`_kernel_for`)."""
    return None


@_rule.element
def _present(vector):
    """The state vector of a slot the rule uses, unchanged (see :func:`_kernel_for`)."""
    return vector


#: An element as the compiled kernels call it: a device function that numba-cuda inlines on its
#: untyped IR, as the CPU loops do theirs (:func:`numadam.rules.inlined_on_cpu`); what
#: numadam.rules registers is typed and compiled on its own first, for every signature, which
#: doubled the kernels' compile time. (The simulator runs the registered functions as Python.)
_inlined_on_gpu = _rule.inlined_by(
    lambda function: cuda.jit(device=True, inline="always")(function))


def _slots(element, present):
    """``element`` and the slot functions of ``present`` (see :func:`_kernel_for`), as the
    kernels call them: under the simulator the Python functions, compiled the copies
    numba-cuda inlines before it types the kernel."""
    slots = tuple(_present if used else _absent for used in present)
    if _simulated():
        return element, slots
    return _inlined_on_gpu(element), tuple(_inlined_on_gpu(slot) for slot in slots)


@functools.cache
def _kernel_for(element, present):
    """The kernel of the rule whose element function is ``element``, for the state slots
    flagged in ``present`` (three bools; four for a rule with a reduction stage, whose
    elements take four state vectors).

    A kernel argument cannot be ``None`` (numba-cuda's launch refuses to pack it), yet the
    element compiles away the code of an absent state vector only when it receives ``None``.
    So the host passes a placeholder array for an absent slot and the kernel, specialized by
    which slots hold a vector, turns it back into ``None`` at compile time: one kernel per
    pattern of state vectors, none of which takes a ``none`` argument.
    """
    element, slots = _slots(element, present)
    if len(present) == 4:
        return _four_slot_kernel(element, *slots)
    slot0, slot1, slot2 = slots

    @_kernel
    def update(param, grad, state0, state1, state2, c, s, skipped, checked):
        vector0, vector1, vector2 = slot0(state0), slot1(state1), slot2(state2)
        start, stride = cuda.grid(1), cuda.gridsize(1)
        bad = 0
        for i in range(start, param.shape[0], stride):
            g = grad[i]
            if not checked or g - g == 0:  # skip NaN and inf when checked (see kernels)
                element(i, g, param, vector0, vector1, vector2, c, s)
            else:
                bad += 1
        if bad:  # one atomic per thread that saw a bad value, none otherwise
            cuda.atomic.add(skipped, 0, bad)

    return update


@functools.cache
def _grouped_kernel_for(element, present):
    """The parameter groups' kernel of the rule whose element function is ``element`` (three
    state slots flagged in ``present``, as :func:`_kernel_for`): one launch for every group.

    ``segments`` (a device array of int64 rows ``(start, stop, group)``) lists the runs; every
    thread walks them in order, taking its grid-stride share of each with the group's
    ``per_group[group]`` = ``(constants, scalars)`` (a tuple of such pairs, passed by value:
    the same types for every group, so a run-time index picks one)."""
    element, (slot0, slot1, slot2) = _slots(element, present)

    @_kernel
    def update(param, grad, state0, state1, state2, segments, per_group, skipped, checked):
        vector0, vector1, vector2 = slot0(state0), slot1(state1), slot2(state2)
        start, stride = cuda.grid(1), cuda.gridsize(1)
        bad = 0
        for r in range(segments.shape[0]):
            low, high, group = segments[r, 0], segments[r, 1], segments[r, 2]
            c, s = per_group[group]
            for i in range(low + start, high, stride):
                g = grad[i]
                if not checked or g - g == 0:
                    element(i, g, param, vector0, vector1, vector2, c, s)
                else:
                    bad += 1
        if bad:
            cuda.atomic.add(skipped, 0, bad)

    return update


def _four_slot_kernel(element, slot0, slot1, slot2, slot3):
    """:func:`_kernel_for`'s update kernel for an element of four state vectors (the update
    pass of a rule with a reduction stage)."""

    @_kernel
    def update(param, grad, state0, state1, state2, state3, c, s, skipped, checked):
        vector0, vector1 = slot0(state0), slot1(state1)
        vector2, vector3 = slot2(state2), slot3(state3)
        start, stride = cuda.grid(1), cuda.gridsize(1)
        bad = 0
        for i in range(start, param.shape[0], stride):
            g = grad[i]
            if not checked or g - g == 0:
                element(i, g, param, vector0, vector1, vector2, vector3, c, s)
            else:
                bad += 1
        if bad:
            cuda.atomic.add(skipped, 0, bad)

    return update


@functools.cache
def _reduce_kernel_for(element, present):
    """The first pass of a rule with a reduction stage: its reduction's ``element`` run on
    every entry (four state slots flagged in ``present``, as :func:`_kernel_for`), its two
    terms summed per block of :data:`~numadam.rules.REDUCTION_BLOCK` entries into
    ``partial[k]``, in the order of the CPU loops (:func:`numadam.kernels.for_reduction`).

    A GPU block takes a CPU block at a time (grid-stride over the blocks): lane ``j`` of
    :data:`~numadam.rules.REDUCTION_LANES` adds the block's entries ``j, j + lanes, ...`` from
    0.0 in float64 (a thread per lane with 256 threads, the launch's shape; a thread takes
    several lanes in smaller blocks), then thread 0 adds the lanes in order. The host adds the
    blocks' sums in block order (:class:`_Reduction`), so the sums are the CPU's bit for bit,
    and the float64 additions are exact roundings on any device: a real GPU differs from the
    CPU only by the elements' contracted multiply-adds (see the module docstring).
    """
    element, (slot0, slot1, slot2, slot3) = _slots(element, present)
    lanes, block = _rule.REDUCTION_LANES, _rule.REDUCTION_BLOCK

    @_kernel
    def reduce(param, grad, state0, state1, state2, state3, c, s, skipped, checked, partial):
        vector0, vector1 = slot0(state0), slot1(state1)
        vector2, vector3 = slot2(state2), slot3(state3)
        sums = cuda.shared.array((2, lanes), np.float64)
        thread, threads = cuda.threadIdx.x, cuda.blockDim.x
        n = param.shape[0]
        bad = 0
        for k in range(cuda.blockIdx.x, (n + block - 1) // block, cuda.gridDim.x):
            start = k * block
            stop = min(n, start + block)
            for lane in range(thread, lanes, threads):
                sum_a = np.float64(0.0)
                sum_b = np.float64(0.0)
                for i in range(start + lane, stop, lanes):
                    g = grad[i]
                    if not checked or g - g == 0:  # skip NaN and inf when checked
                        a, b = element(i, g, param, vector0, vector1, vector2, vector3, c, s)
                        sum_a += np.float64(a)
                        sum_b += np.float64(b)
                    else:
                        bad += 1
                sums[0, lane] = sum_a
                sums[1, lane] = sum_b
            cuda.syncthreads()
            if thread == 0:
                total_a = np.float64(0.0)
                total_b = np.float64(0.0)
                for lane in range(lanes):
                    total_a += sums[0, lane]
                    total_b += sums[1, lane]
                partial[k, 0] = total_a
                partial[k, 1] = total_b
            cuda.syncthreads()  # the lanes are read before the next block writes them
        if bad:
            cuda.atomic.add(skipped, 0, bad)

    return reduce


def _in_dtype(c, s, dtype):
    """The constants ``c`` (flags kept) and step scalars ``s`` in ``dtype``, as a kernel takes
    them (the host hands over Python floats holding values of that dtype)."""
    to_dtype = np.dtype(dtype).type
    return (tuple(v if isinstance(v, bool) else to_dtype(v) for v in c),
            tuple(to_dtype(v) for v in s))


def _launch_arguments(element, param, grad, states, c, s, skipped, checked,
                      kernel_for=None):
    """``(kernel, arguments)`` of one update: the CPU loops' arguments as the kernel of
    :func:`_kernel_for` takes them (or of ``kernel_for``, called alike: a reduction's first
    pass, :func:`_reduce_kernel_for`, which takes the blocks' sums after these).

    An absent state vector (``None``) is replaced by the parameter vector, an array of the right
    dtype and layout that the kernel never touches (it sees ``None`` there). Scalars are handed
    over by the host as Python floats holding values of the parameters' dtype (see
    :mod:`numadam.kernels`); the GPU kernel takes them in that dtype.
    """
    present = tuple(vector is not None for vector in states)
    states = tuple(param if vector is None else vector for vector in states)
    c, s = _in_dtype(c, s, param.dtype)
    kernel = (_kernel_for if kernel_for is None else kernel_for)(element, present)
    return kernel, (param, grad, *states, c, s, skipped, checked)


def _event():
    cuda = require()
    return cuda.event() if _simulated() else cuda.event(timing=False)


def _event_done(event):
    """Whether ``event`` has passed, without waiting (the simulator's have, always)."""
    query = getattr(event, "query", None)
    return True if query is None else bool(query())


class NonFiniteReports:
    """The counts of non-finite gradient entries that an optimizer's checked steps skipped,
    brought to the host without the host waiting for the GPU.

    Each checked launch takes a slot: the kernel adds its count to the slot's counter on the
    device, then an asynchronous copy on the launch's stream brings the counter to the slot's
    pinned host memory and an event marks the copy's arrival (:meth:`counter`, :meth:`record`).
    The counters are never reset (a reset would be a transfer before the launch): a slot's count
    is its counter's increase since the slot's last use, which has been read before the slot is
    used again. :meth:`ready` collects, without waiting, the counts whose events have passed;
    with ``wait=True`` it waits for all of them. Everything is allocated here, once: a step
    allocates nothing.

    At most :data:`REPORTS_IN_FLIGHT` launches are in flight; a host further ahead waits for
    the oldest (the GPU then has that many steps queued: the wait costs it nothing).
    """

    def __init__(self, slots=None):
        cuda = require()
        slots = REPORTS_IN_FLIGHT if slots is None else slots
        self._counters = cuda.to_device(np.zeros(slots, np.int64))
        self._arrived = cuda.pinned_array(slots, np.int64)
        self._arrived[:] = 0
        self._read = np.zeros(slots, np.int64)  # each counter's value when last read
        self._events = [_event() for _ in range(slots)]
        self._counter_views = [self._counters[i:i + 1] for i in range(slots)]
        self._arrived_views = [self._arrived[i:i + 1] for i in range(slots)]
        self._free = collections.deque(range(slots))
        self._in_flight = collections.deque()  # [slot, step], oldest first
        self._known = []  # [(step, count)] read and not yet handed out

    def counter(self):
        """The device counter the next checked launch adds to (waits only when every slot is
        in flight)."""
        if not self._free:
            self._collect(self._in_flight.popleft(), wait=True)
        return self._counter_views[self._free[0]]

    def record(self, stream):
        """After the launch that added to :meth:`counter`'s counter, on ``stream``: the copy of
        the counter to pinned host memory and the event of its arrival, neither waited for."""
        slot = self._free.popleft()
        self._counter_views[slot].copy_to_host(self._arrived_views[slot], stream=stream)
        self._events[slot].record(stream)
        self._in_flight.append([slot, None])

    def launched(self, step):
        """Name the step of the launches recorded since the last call."""
        for entry in reversed(self._in_flight):
            if entry[1] is not None:
                break
            entry[1] = step

    def _collect(self, entry, wait):
        slot, step = entry
        if wait:
            self._events[slot].synchronize()
        total = int(self._arrived[slot])
        count, self._read[slot] = total - int(self._read[slot]), total
        self._free.append(slot)
        if count and self._known and self._known[-1][0] == step:  # a step of several launches
            self._known[-1] = (step, self._known[-1][1] + count)
        elif count:
            self._known.append((step, count))

    def ready(self, wait=False):
        """``[(step, count)]``: the steps that skipped non-finite entries, among those whose
        count has arrived and was not handed out before (all launched so far with ``wait``)."""
        while self._in_flight:
            if not wait and not _event_done(self._events[self._in_flight[0][0]]):
                break
            self._collect(self._in_flight.popleft(), wait)
        known, self._known = self._known, []
        return known

    @property
    def in_flight(self):
        """How many checked launches' counts have not arrived or not been read yet."""
        return len(self._in_flight)


class _Update:
    """The host launcher of one rule's kernel, with the CPU loops' arguments. It returns 0
    without waiting: with ``checked``, the kernel skips non-finite entries and their count
    goes to ``reports`` (a :class:`NonFiniteReports`), read later."""

    def __init__(self, element, checked, reports=None):
        if checked and reports is None:
            reports = NonFiniteReports()
        self.element, self.checked, self.reports = element, checked, reports
        # the counter argument of an unchecked launch, which never writes it
        self._unused = None if checked else require().device_array(1, np.int64)

    def __call__(self, param, grad, state0, state1, state2, c, s):
        n = param.shape[0]
        if not n:
            return 0
        stream = launch_stream(grad)
        counter = self.reports.counter() if self.checked else self._unused
        kernel, arguments = _launch_arguments(self.element, param, grad, (state0, state1, state2),
                                              c, s, counter, self.checked)
        kernel[(*_grid(n), stream)](*arguments)
        if self.checked:
            self.reports.record(stream)
        return 0

    def grouped(self, param, grad, state0, state1, state2, segments, per_group, runs):
        """The step of parameter groups in one launch (:func:`_grouped_kernel_for`):
        ``segments`` a device array of rows ``(start, stop, group)`` (``runs`` the same on the
        host), ``per_group`` each group's ``(constants, scalars)`` as the CPU loops take them.
        Beyond :data:`GROUPS_PER_LAUNCH` groups, a launch per run instead (the groups' values
        are kernel arguments, which CUDA caps at a few KiB)."""
        n = param.shape[0]
        if not n:
            return 0
        if len(per_group) > GROUPS_PER_LAUNCH:
            states = (state0, state1, state2)
            for start, stop, group in runs.tolist():
                self(param[start:stop], grad[start:stop],
                     *(None if vector is None else vector[start:stop] for vector in states),
                     *per_group[group])
            return 0
        stream = launch_stream(grad)
        counter = self.reports.counter() if self.checked else self._unused
        states = (state0, state1, state2)
        present = tuple(vector is not None for vector in states)
        states = tuple(param if vector is None else vector for vector in states)
        per_group = tuple(_in_dtype(c, s, param.dtype) for c, s in per_group)
        kernel = _grouped_kernel_for(self.element, present)
        kernel[(*_grid(n), stream)](param, grad, *states, segments, per_group, counter,
                                    self.checked)
        if self.checked:
            self.reports.record(stream)
        return 0


class _Reduction:
    """The host launchers of the two passes of a rule with a reduction stage, with the CPU
    loops' arguments and results (see :class:`numadam.kernels.ReductionLoops`): ``reduce``
    returns ``(skipped, sum_a, sum_b)``, ``update`` returns 0.

    The step's update scalars follow from the sums on the host (the rule's ``finish``), so the
    first pass waits for the GPU: the blocks' sums (16 bytes per 4,096 entries) and the count
    of skipped entries come to pinned host memory, where the blocks' sums are added in block
    order, as the CPU loops add them. That one wait per step (per group, with parameter
    groups) is what a rule with a global quantity costs (prodigyopt and dadaptation read
    theirs with ``.item()``). The buffers are made once per optimizer: a step allocates
    nothing on the device.
    """

    def __init__(self, rule, n, checked):
        cuda = require()
        self.reduce_element, self.update_element = rule.reduction.element, rule.element
        self.checked = checked
        blocks = max(1, -(-n // _rule.REDUCTION_BLOCK))
        self._partial = cuda.device_array((blocks, 2), np.float64)
        self._arrived = cuda.pinned_array((blocks, 2), np.float64)
        # the blocks' sums after a row of zeros: each total starts at 0.0, as the CPU's does
        self._terms, self._totals = np.zeros((blocks + 1, 2)), np.empty((blocks + 1, 2))
        self._counter = cuda.to_device(np.zeros(1, np.int64))  # never reset: read its increase
        self._count = cuda.pinned_array(1, np.int64)
        self._count[0] = self._read = 0
        self._unused = cuda.device_array(1, np.int64)  # the update pass's count (known already)

    def reduce(self, param, grad, state0, state1, state2, state3, c, s):
        n = param.shape[0]
        if not n:
            return 0, 0.0, 0.0
        stream = launch_stream(grad)
        kernel, arguments = _launch_arguments(
            self.reduce_element, param, grad, (state0, state1, state2, state3), c, s,
            self._counter, self.checked, kernel_for=_reduce_kernel_for)
        blocks = -(-n // _rule.REDUCTION_BLOCK)
        threads = min(THREADS_PER_BLOCK, _rule.REDUCTION_LANES)
        kernel[(min(blocks, _max_blocks()), threads, stream)](*arguments, self._partial)
        self._partial.copy_to_host(self._arrived, stream=stream)
        if self.checked:
            self._counter.copy_to_host(self._count, stream=stream)
        stream.synchronize()
        self._terms[1:] = self._arrived
        # np.add.accumulate adds in order down the axis (no pairwise summation)
        sum_a, sum_b = np.add.accumulate(self._terms, axis=0, out=self._totals)[-1]
        skipped, self._read = int(self._count[0]) - self._read, int(self._count[0])
        return skipped, float(sum_a), float(sum_b)

    def update(self, param, grad, state0, state1, state2, state3, c, s, checked=None):
        n = param.shape[0]
        if n:
            kernel, arguments = _launch_arguments(
                self.update_element, param, grad, (state0, state1, state2, state3), c, s,
                self._unused, self.checked if checked is None else checked)
            kernel[(*_grid(n), launch_stream(grad))](*arguments)
        return 0

    def update_unchecked(self, param, grad, state0, state1, state2, state3, c, s):
        return self.update(param, grad, state0, state1, state2, state3, c, s, checked=False)


_scratch = {}  # device -> (counter, its pinned host copy, [its value when last read])
_scratch_lock = threading.Lock()


def _current_device_id():
    device = getattr(require().current_context(), "device", None)
    return getattr(device, "id", 0)


def count_nonfinite(grad):
    """Number of NaN or infinite entries of the device vector ``grad``.

    It waits for the count (on ``grad``'s stream, see :func:`launch_stream`): the one transfer
    that must reach the host before the caller goes on (``check_finite="before"``). One counter
    and its pinned host copy are made at the first call on a device and kept (never reset: the
    count is the counter's increase).
    """
    n = grad.shape[0]
    if not n:
        return 0
    with _scratch_lock:
        device = _current_device_id()
        if device not in _scratch:
            cuda = require()
            arrived = cuda.pinned_array(1, np.int64)
            arrived[:] = 0
            _scratch[device] = cuda.to_device(np.zeros(1, np.int64)), arrived, [0]
        counter, arrived, read = _scratch[device]
        stream = launch_stream(grad)
        _count_nonfinite_kernel[(*_grid(n), stream)](grad, counter)
        counter.copy_to_host(arrived, stream=stream)
        stream.synchronize()
        total = int(arrived[0])
        count, read[0] = total - read[0], total
    return count


class CUDABackend:
    """GPU arrays, updated by the kernels above (see :class:`numadam.backends.CPUBackend`)."""

    device = "cuda"

    @staticmethod
    def parameter_vector(name, value):
        return parameter_vector(name, value)

    @staticmethod
    def check_grad(grad, param):
        return check_grad(grad, param)

    @staticmethod
    def full(n, value, dtype):
        return full(n, value, dtype)

    @staticmethod
    def copy(vector):
        out = require().device_array(vector.shape[0], vector.dtype)
        if vector.shape[0]:
            stream = launch_stream(vector)
            _gather[(*_grid(vector.shape[0]), stream)](out, vector)
            stream.synchronize()
        return out

    @staticmethod
    def to_host(vector):
        require().synchronize()  # the steps may run on streams a default-stream copy ignores
        return to_host(vector)

    @staticmethod
    def copy_in(vector, host_values):
        require().synchronize()
        copy_to_device(vector, host_values)
        require().synchronize()

    @staticmethod
    def fill(vector, value):
        if vector.shape[0]:
            stream = launch_stream(vector)
            _fill[(*_grid(vector.shape[0]), stream)](vector, vector.dtype.type(value))
            stream.synchronize()

    @staticmethod
    def segments(table):
        """The segment table of parameter groups, on the device (a wait, once)."""
        return to_device(np.ascontiguousarray(table, dtype=np.int64))

    @staticmethod
    def gather(vector, runs, out):
        # device-to-device copies on the default stream, after everything queued (the steps
        # of a group of several runs wait for their sums anyway)
        require().synchronize()
        position = 0
        for start, stop in runs:
            out[position:position + stop - start].copy_to_device(vector[start:stop])
            position += stop - start

    @staticmethod
    def scatter(values, runs, vector):
        require().synchronize()
        position = 0
        for start, stop in runs:
            vector[start:stop].copy_to_device(values[position:position + stop - start])
            position += stop - start
        require().synchronize()

    @staticmethod
    def update(rule, n, checked, reports=None, threads=True):
        return _Update(rule.element, checked, reports)

    @staticmethod
    def reduction(rule, n, checked, threads=True):
        loops = _Reduction(rule, n, checked)
        return loops.reduce, loops.update, loops.update_unchecked

    @staticmethod
    def nonfinite_reports():
        return NonFiniteReports()

    @staticmethod
    def synchronize(reports):
        require().synchronize()
        return reports.ready(wait=True)

    @staticmethod
    def count_nonfinite(grad, threads=True):
        return count_nonfinite(grad)


BACKEND = CUDABackend()


# ------------------------------------------------------------------------------------------------
# Every kernel compiled to PTX, without a GPU: the check that each compiles for real targets
# (tests/test_cuda_ptx.py), where the simulator would run any of them as Python.
# ------------------------------------------------------------------------------------------------


def _settings(variant):
    """Keyword settings of ``variant``'s class to try, fewest changes from the defaults first:
    each hyperparameter at its default and at one alternative (the other flag; zero for a
    non-zero number, 0.5 for a zero one), every combination, plus a method variant's fixed
    settings. What decides the state vectors (``amsgrad``, ``centered``, a momentum on or off)
    is a flag or a number that is zero or not, so every pattern of state vectors turns up."""
    choices = []
    for name, spec in variant.hyperparameters().items():
        default = spec.default
        if isinstance(default, bool):
            alternatives = (default, not default)
        elif isinstance(default, (int, float)):
            alternatives = (default, 0.5 if default == 0 else 0.0)
        else:
            alternatives = (default,)
        choices.append([(name, value, value != default) for value in alternatives])
    fixed = {} if variant.class_name else dict(variant.fixed)
    combinations = sorted(itertools.product(*choices),
                          key=lambda settings: sum(changed for _, _, changed in settings))
    for settings in combinations:
        changed = {name: value for name, value, is_changed in settings if is_changed}
        yield {name: value for name, value, _ in settings} | fixed, changed | fixed


#: The rules whose parameter groups' kernel (:func:`_grouped_kernel_for`) :func:`kernel_ptx`
#: compiles: the same template around each rule's element, whose own kernel is compiled
#: anyway; a flag among the constants (SGD) and state vectors (Adam).
_GROUPED_SAMPLE = ("Adam", "SGD")


def _kernel_launches(dtypes=(np.float32, np.float64)):
    """``[(label, kernel, arguments)]``: one launch of every distinct kernel, with the arguments
    a launch passes (host arrays of the right dtype stand in for device vectors; they type
    alike).

    Every class and method variant of the registry, at every setting of :func:`_settings` the
    optimizer accepts, yields the update kernel of its state pattern and, for rules with modes,
    the mode switches; a kernel already listed is skipped. Then the helper kernels.
    """
    import numadam  # the optimizer classes; numadam.cuda is imported after numadam anyway
    from numadam.rules import VARIANTS

    launches, seen = [], set()
    skipped = np.zeros(1, np.int64)
    for dtype in map(np.dtype, dtypes):
        for variant in VARIANTS:
            rule = variant.rule
            name = variant.class_name or rule.class_name
            cls = getattr(numadam, name)
            for options, changed in _settings(variant):
                try:
                    optimizer = cls(np.zeros(1, dtype), **options)
                except (TypeError, ValueError):  # a combination the optimizer refuses
                    continue
                # An optimizer's own launch arguments (see Optimizer.step and Modes._switch).
                param, states = optimizer._param, optimizer._state_vectors
                present = tuple(vector is not None for vector in states)
                settings = ", ".join(f"{key}={value!r}" for key, value in changed.items())
                scalars = optimizer._step_scalars(optimizer._inputs, optimizer._carry, 1)[0]
                updates = []
                update_scalars = scalars
                if rule.reduction is not None:  # the first pass; the update's scalars follow
                    updates.append((f"{name}({settings}).reduce", rule.reduction.element,
                                    optimizer._constants, scalars))
                    update_scalars = rule.reduction.finish(optimizer._inputs, optimizer._carry,
                                                           1, (1.0, 1.0))[1]
                updates.append((f"{name}({settings})", rule.element, optimizer._constants,
                                update_scalars))
                every = optimizer._all_hyperparameters()
                updates += [(f"{name}({settings}).{mode}()", element,
                             rule.mode_constants(mode, every, optimizer._to_dtype), ())
                            for mode, element in rule.modes.items()]
                if name in _GROUPED_SAMPLE and not changed:  # the groups' one launch
                    grouped = (f"{name}() groups {dtype}", _grouped_kernel_for(
                        rule.element, present), (param, param, *(
                            param if vector is None else vector for vector in states),
                        np.zeros((1, 3), np.int64),
                        (_in_dtype(optimizer._constants, scalars, dtype),) * 2, skipped, True))
                    launches.append(grouped)
                for label, element, c, s in updates:
                    if (element, present, dtype) in seen:
                        continue
                    seen.add((element, present, dtype))
                    first_pass = rule.reduction is not None and element is rule.reduction.element
                    kernel, arguments = _launch_arguments(
                        element, param, param, states, c, s, skipped, True,
                        kernel_for=_reduce_kernel_for if first_pass else None)
                    if first_pass:  # the blocks' sums
                        arguments += (np.zeros((1, 2)),)
                    launches.append((f"{label} {dtype}", kernel, arguments))
        vector = np.zeros(1, dtype)
        launches += [(f"fill {dtype}", _fill, (vector, dtype.type(0))),
                     (f"copy {dtype}", _gather, (vector, vector)),
                     (f"count_nonfinite {dtype}", _count_nonfinite_kernel, (vector, skipped))]
    return launches


def _compiler():
    """numba-cuda's ``numba.cuda``, or :class:`CudaUnavailableError` saying why it is not here
    (a GPU is not needed: NVVM compiles)."""
    if cuda is None:
        raise CudaUnavailableError(_IMPORT_ERROR)
    if _simulated():
        raise CudaUnavailableError(
            "numba.cuda is the CUDA simulator (NUMBA_ENABLE_CUDASIM=1), which compiles nothing; "
            "compile in a process where it is not set")
    if getattr(cuda, "implementation", None) != "NVIDIA":
        raise CudaUnavailableError(
            "numba.cuda is Numba's built-in CUDA target; compiling the kernels needs the "
            "numba-cuda package (pip install 'numadam[cuda]')")
    return cuda


def kernel_signatures(dtypes=(np.float32, np.float64)):
    """The argument types of every kernel numadam launches, as a launch would type them.

    Parameters
    ----------
    dtypes : sequence of dtype, optional
        The parameter dtypes to list kernels for.

    Returns
    -------
    dict of str to tuple of numba types
        By the labels of :func:`kernel_ptx`.

    Raises
    ------
    CudaUnavailableError
        Without numba-cuda (or under the simulator).
    """
    _compiler()
    return {label: tuple(kernel.typeof_pyval(argument) for argument in arguments)
            for label, kernel, arguments in _kernel_launches(dtypes)}


@contextlib.contextmanager
def _current_device_stand_in(cc):
    """Lets numba-cuda compile without a driver.

    numba-cuda types each helper an element calls (inlined, see numadam.rules._rule) by
    compiling it as a device function for the current device's compute capability, which it
    asks the driver for: without a driver (CI) that fails. Then a stand-in device answers
    ``cc``. Only the helpers' typing sees it: their own compiled code is never used, being
    inlined, and the kernel is compiled for the ``cc`` it is asked for.
    """
    if is_available():
        yield
        return
    from numba.cuda import dispatcher

    real = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    try:
        yield
    finally:
        dispatcher.get_current_device = real


def _code_library(function, argument_types, cc):
    """The kernel ``function`` typed and lowered by numba-cuda for compute capability ``cc``
    (what ``compile_ptx`` does before NVVM runs), kept: lowering takes 0.5 to 2 s a kernel,
    NVVM 50 ms. Asked for another compute capability, the library runs NVVM again on the same
    lowering, which is what numba-cuda does with a kernel launched on devices of several
    (``CUDACodeLibrary.get_asm_str(cc)``); so :func:`kernel_ptx` keeps one library per kernel,
    lowered for the first compute capability it was asked for."""
    from numba.cuda.compiler import _compile_pyfunc_with_fixup

    library, _ = _compile_pyfunc_with_fixup(function, argument_types, device=False, abi="numba",
                                            cc=cc)
    return library


#: ``(function, argument types) -> library`` of the kernels :func:`kernel_ptx` compiled.
_libraries = {}


def kernel_ptx(cc=(9, 0), dtypes=(np.float32, np.float64)):
    """The PTX of every kernel numadam launches, compiled for compute capability ``cc``.

    Each rule's update once per pattern of state vectors its settings allow (Adam with and
    without ``amsgrad``, RMSProp centered or not, with momentum or not, SGD with momentum or
    not, ...), each mode switch, the first pass of each rule with a reduction stage
    (``"Prodigy().reduce float32"``), the parameter groups' kernel of a sample of rules
    (``"Adam() groups float32"``), and the helper kernels (``fill``, ``copy``,
    ``count_nonfinite``), for each dtype: compiled from the arguments a launch passes, as a
    launch compiles them. No GPU is needed, only numba-cuda and its NVVM (``pip install
    'numadam[cuda]'``). The typed kernels are kept, so that a call for another ``cc`` only runs
    NVVM again.

    Parameters
    ----------
    cc : tuple of int, optional
        ``(major, minor)``: ``(8, 0)`` for the A100, ``(9, 0)`` for the H100.
    dtypes : sequence of dtype, optional
        The parameter dtypes to compile the kernels for.

    Returns
    -------
    dict of str to str
        The PTX of each kernel, by a readable label: ``"Adam(amsgrad=True) float32"``,
        ``"ScheduleFreeAdamW().eval() float64"``, ``"copy float32"``; a label names the
        settings that select the kernel (the first class or method in the registry that
        launches it).

    Raises
    ------
    CudaUnavailableError
        Without numba-cuda (or under the simulator).
    RuntimeError
        When kernels fail to compile: every one of them, with its error.
    """
    compiler = _compiler()
    cc = tuple(cc)
    ptx, failures = {}, []
    with _current_device_stand_in(cc):
        for label, kernel, arguments in _kernel_launches(dtypes):
            argument_types = tuple(kernel.typeof_pyval(argument) for argument in arguments)
            try:
                key = kernel.py_func, argument_types
                try:
                    if key not in _libraries:
                        _libraries[key] = _code_library(*key, cc)
                except ImportError:  # numba-cuda without this internal: its public way
                    ptx[label] = compiler.compile_ptx(kernel.py_func, argument_types, cc=cc)[0]
                else:
                    ptx[label] = _libraries[key].get_asm_str(cc=cc)
            except Exception as error:  # noqa: BLE001 - every failure, reported below
                # Numba's internal assertions carry no message: where they fired, then
                where = traceback.extract_tb(error.__traceback__)[-1]
                message = " ".join(str(error).split()) or f"at {where.filename}:{where.lineno}"
                failures.append(f"{label}: {type(error).__name__}: {message[:300]}")
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(failures) + len(ptx)} kernels do not "
                           f"compile for compute capability {cc}:\n" + "\n".join(failures))
    return ptx
