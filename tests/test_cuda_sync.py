"""What a step on the GPU asks of the host (issue 26): no wait, no allocation, the gradient's
stream.

Run under Numba's CUDA simulator unless ``NUMBA_ENABLE_CUDASIM`` is set already (as in
tests/test_cuda.py). The simulator runs every launch and copy at once, whatever the stream, so
what is checked here is what the host asks for: which calls a step makes (a copy to the host
with or without a stream, a ``synchronize``, an allocation) and the stream each launch is given
(the simulator's launch takes it and ignores it: the tests read the configuration). Whether a
real GPU overlaps them is for ``benchmarks/bench_cuda.py`` on one.
"""

import functools
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

pytestmark = pytest.mark.skipif(
    not nc._simulated(), reason="reads the simulator's calls (NUMBA_ENABLE_CUDASIM=1)")

N = 37
cuda = nc.cuda


@pytest.fixture(autouse=True)
def small_grids(monkeypatch):
    monkeypatch.setattr(nc, "THREADS_PER_BLOCK", 8)
    monkeypatch.setattr(nc, "BLOCKS_PER_MULTIPROCESSOR", 1)


class ForeignGpuArray:
    """A CuPy-like array over a NumPy buffer (the simulator's "device" memory), whose
    ``__cuda_array_interface__`` names ``stream`` (CuPy names its current stream)."""

    def __init__(self, host, stream=None):
        self.host, self.stream = host, stream

    @property
    def __cuda_array_interface__(self):
        interface = {"shape": self.host.shape, "typestr": self.host.dtype.str, "version": 3,
                     "data": (self.host.ctypes.data, False), "strides": None}
        if self.stream is not None:
            interface["stream"] = self.stream
        return interface


@pytest.fixture
def host_calls(monkeypatch):
    """``{what: [details]}`` of the calls from now on that make the host wait or allocate
    device (or pinned) memory, and of every launch's configuration and copy to the host."""
    calls = {"copy_to_host": [], "copy_to_device": [], "synchronize": [], "allocate": [],
             "launch": []}
    fake_array = cuda.devicearray.FakeCUDAArray

    def recorder(name, real, detail=lambda *args, **kwargs: args):
        @functools.wraps(real)
        def record(*args, **kwargs):
            calls[name].append(detail(*args, **kwargs))
            return real(*args, **kwargs)
        return record

    real_to_host = fake_array.copy_to_host
    monkeypatch.setattr(fake_array, "copy_to_host", recorder(
        "copy_to_host", real_to_host,
        lambda self, ary=None, stream=0: stream))
    monkeypatch.setattr(fake_array, "copy_to_device", recorder(
        "copy_to_device", fake_array.copy_to_device))
    for owner in [cuda, cuda.stream, type(cuda.event()), getattr(nc, "_SimulatedStream", None)]:
        if owner is not None:
            monkeypatch.setattr(owner, "synchronize",
                                recorder("synchronize", owner.synchronize))
    for name in ["device_array", "device_array_like", "to_device", "pinned_array",
                 "mapped_array", "event"]:
        monkeypatch.setattr(cuda, name, recorder("allocate", getattr(cuda, name),
                                                 lambda *args, name=name, **kwargs: name))
    kernel_class = type(nc._gather)
    real_getitem = kernel_class.__getitem__

    def getitem(self, configuration):
        calls["launch"].append((self.fn.__name__, configuration))
        return real_getitem(self, configuration)

    monkeypatch.setattr(kernel_class, "__getitem__", getitem)

    def clear():
        for name, seen in calls.items():
            if name != "clear":
                seen.clear()

    calls["clear"] = clear
    return calls


@pytest.mark.parametrize("make", [
    lambda x: numadam.Adam(x, amsgrad=True),
    lambda x: numadam.SGD(x, lr=0.1, momentum=0.9),
], ids=["adam-amsgrad", "sgd-momentum"])
def test_a_checked_step_neither_waits_nor_allocates(make, host_calls, rng):
    """The default ``check_finite=True``: after the first step, a step makes no blocking copy
    (its one copy to the host, the non-finite count's, is asynchronous: it names the launch's
    stream), no copy to the device, no synchronize and no allocation: even a step whose
    gradient holds NaN, and the one that reports it."""
    x0 = rng.standard_normal(N)
    x_cpu = x0.copy()
    gpu, cpu = make(nc.to_device(x0)), make(x_cpu)
    grads = [rng.standard_normal(N) for _ in range(6)]
    grads[2][[3, 30]] = np.nan
    gpu.step(nc.to_device(grads[0]))
    cpu.step(grads[0])
    device_grads = [nc.to_device(g) for g in grads]
    host_calls["clear"]()
    for i, g in enumerate(grads[1:], start=1):
        if i == 3:
            with pytest.raises(numadam.NonFiniteGradientError, match=r"\(2 at step 3\)"):
                gpu.step(device_grads[i])
        else:
            gpu.step(device_grads[i])
        with pytest.raises(numadam.NonFiniteGradientError) if i == 2 else _nothing():
            cpu.step(g)
        if i == 1:  # a plain step, before any NaN
            assert (host_calls["synchronize"], host_calls["copy_to_device"]) == ([], [])
            assert host_calls["copy_to_host"] == [host_calls["launch"][0][1][2]]
    assert host_calls["synchronize"] == []
    assert host_calls["copy_to_device"] == []
    assert host_calls["allocate"] == []
    streams = [configuration[2] for name, configuration in host_calls["launch"]]
    assert len(streams) == 5 and all(stream is streams[0] for stream in streams)
    assert host_calls["copy_to_host"] == streams  # each asynchronous, on its launch's stream
    gpu.synchronize()
    np.testing.assert_array_equal(nc.to_host(gpu.param), x_cpu)  # the numerics are unchanged


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("check_finite", [False, "before"])
def test_other_modes_allocate_nothing_per_step(check_finite, host_calls, rng):
    """``check_finite=False`` makes no transfer; ``"before"`` waits for its count (it must know
    it before the step) but allocates nothing after its first call."""
    opt = numadam.Adam(nc.to_device(rng.standard_normal(N)), check_finite=check_finite)
    grads = [nc.to_device(rng.standard_normal(N)) for _ in range(4)]
    opt.step(grads[0])
    host_calls["clear"]()
    for g in grads[1:]:
        opt.step(g)
    assert host_calls["allocate"] == [] and host_calls["copy_to_device"] == []
    waits = 0 if check_finite is False else 3
    assert len(host_calls["synchronize"]) == waits
    assert len(host_calls["copy_to_host"]) == waits


def _two_steps_on_stream_7(opt, host_calls, rng):
    """A first step, then two more recorded (gradients on stream 7, whose stream object is
    returned); checks that the two allocate nothing and copy nothing to the device."""
    grads = [ForeignGpuArray(rng.standard_normal(N), stream=7) for _ in range(3)]
    opt.step(grads[0])
    host_calls["clear"]()
    for g in grads[1:]:
        opt.step(g)
    assert host_calls["allocate"] == [] and host_calls["copy_to_device"] == []
    return nc._external_stream(7)


@pytest.mark.parametrize("check_finite", [True, False])
def test_a_reduction_step_waits_once_for_its_sums(check_finite, host_calls, rng):
    """A rule with a reduction stage (Prodigy): its step size follows from sums over the
    vector, so the step waits once, on the gradient's stream, for the blocks' sums (and the
    count of skipped entries, when checked) copied on that stream; both passes go to it; no
    allocation, no copy to the device."""
    opt = numadam.Prodigy(nc.to_device(rng.standard_normal(N)), check_finite=check_finite)
    stream = _two_steps_on_stream_7(opt, host_calls, rng)
    assert [name for name, _ in host_calls["launch"]] == ["reduce", "update"] * 2
    assert all(configuration[2] is stream for _, configuration in host_calls["launch"])
    assert host_calls["copy_to_host"] == [stream] * (2 + 2 * check_finite)
    assert len(host_calls["synchronize"]) == 2


def test_a_grouped_step_neither_waits_nor_allocates(host_calls, rng):
    """Parameter groups on the GPU (three groups, four runs): one launch a step, on the
    gradient's stream, its count copied asynchronously; no wait, no allocation."""
    opt = numadam.Adam(nc.to_device(rng.standard_normal(N)),
                       groups=[{"range": (0, 10), "lr": 0.1}, {"range": (20, 30)}])
    stream = _two_steps_on_stream_7(opt, host_calls, rng)
    assert host_calls["synchronize"] == []
    assert _launch_streams(host_calls) == [stream] * 2
    assert host_calls["copy_to_host"] == [stream] * 2


def _launch_streams(host_calls):
    return [configuration[2] if len(configuration) > 2 else None
            for name, configuration in host_calls["launch"] if name == "update"]


def test_launches_go_to_the_stream_of_the_gradients_interface(host_calls, rng):
    """A CuPy-like gradient naming stream 7 in its ``__cuda_array_interface__``: the update
    and the count's copy go to that stream (and the host waits for nothing)."""
    x0 = rng.standard_normal(N)
    opt = numadam.RMSProp(ForeignGpuArray(x0), lr=1e-2)
    host_calls["clear"]()
    opt.step(ForeignGpuArray(rng.standard_normal(N), stream=7))
    (stream,) = _launch_streams(host_calls)
    assert stream is nc._external_stream(7) and stream.handle == 7
    assert host_calls["copy_to_host"] == [stream]
    assert host_calls["synchronize"] == []
    # without a stream in the interface: the default stream, as a stream object (an
    # asynchronous copy needs one)
    host_calls["clear"]()
    opt.step(ForeignGpuArray(rng.standard_normal(N)))
    assert _launch_streams(host_calls) == [nc.launch_stream(nc.to_device(x0))]
    assert _launch_streams(host_calls)[0] is not None and host_calls["synchronize"] == []


def test_launches_go_to_a_numba_arrays_stream(host_calls, rng):
    """A Numba device array bound to a stream (``array.bind(stream)``, or made on one)."""
    opt = numadam.Adam(nc.to_device(rng.standard_normal(N)))
    stream = cuda.stream()
    host_calls["clear"]()
    opt.step(nc.to_device(rng.standard_normal(N)).bind(stream))
    assert _launch_streams(host_calls) == [stream]
    assert host_calls["copy_to_host"] == [stream]


def test_launches_go_to_torchs_current_stream(host_calls, monkeypatch, rng):
    """A torch CUDA tensor's interface names no stream: torch's current stream on its device
    is the one (asked of torch at each step; here a stand-in answers 11)."""
    asked = []

    def current_stream_pointer(value):
        asked.append(value)
        return 11

    monkeypatch.setattr(nc, "_torch_stream_pointer", current_stream_pointer)
    opt = numadam.Adam(ForeignGpuArray(rng.standard_normal(N)))
    host_calls["clear"]()
    grad = ForeignGpuArray(rng.standard_normal(N), stream=5)  # torch's own choice wins
    opt.step(grad)
    assert _launch_streams(host_calls) == [nc._external_stream(11)]
    assert asked[-1] is grad


def test_a_strided_gradient_is_gathered_on_its_stream(host_calls, rng):
    opt = numadam.SGD(nc.to_device(rng.standard_normal(N)), lr=0.1)
    host_calls["clear"]()
    opt.step(ForeignGpuArray(rng.standard_normal(2 * N)[::2].copy(), stream=3))
    host_calls["clear"]()
    long = rng.standard_normal(2 * N)
    stream = cuda.stream()
    opt.step(nc.to_device(long).bind(stream)[::2])
    assert [(name, configuration[2]) for name, configuration in host_calls["launch"]] == [
        ("_gather", stream), ("update", stream)]


def test_foreign_arrays_are_wrapped_without_waiting(monkeypatch):
    """Outside the simulator, ``as_cuda_array(sync=False)``: the host does not wait for the
    array's stream (CuPy's), the array carries it instead."""
    wrapped = []

    def as_cuda_array(value, sync=True):
        wrapped.append(sync)
        return cuda.devicearray.FakeCUDAArray(np.zeros(3))

    monkeypatch.setattr(nc, "_simulated", lambda: False)
    monkeypatch.setattr(cuda, "as_cuda_array", as_cuda_array, raising=False)
    monkeypatch.setattr(nc, "_external_stream", lambda handle: ("stream", handle))
    array = nc.as_device_array(ForeignGpuArray(np.zeros(3), stream=42))
    assert wrapped == [False] and array.stream == ("stream", 42)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf, simulated
def test_reports_arrive_late_and_slots_are_reused(monkeypatch, host_calls, rng):
    """With events that have not passed, a step reports nothing; with every slot in flight
    (two here) a step waits for the oldest only, and each count reaches its own step:
    the counters are cumulative, a slot's count is its increase."""
    monkeypatch.setattr(nc, "REPORTS_IN_FLIGHT", 2)
    monkeypatch.setattr(nc, "_event_done", lambda event: False)
    x0 = rng.standard_normal(N)
    x_cpu = x0.copy()
    gpu, cpu = numadam.Adam(nc.to_device(x0)), numadam.Adam(x_cpu)
    bad = {1: [0], 2: [1, 2], 4: [4, 5, 6]}
    host_calls["clear"]()
    errors = []
    for step in range(1, 7):
        g = rng.standard_normal(N)
        g[bad.get(step, [])] = np.inf
        try:
            cpu.step(g)
        except numadam.NonFiniteGradientError:
            pass
        try:
            gpu.step(nc.to_device(g))
        except numadam.NonFiniteGradientError as error:
            errors.append((step, error.counts))
    # from step 3 on, each step waits for the oldest slot's count as it launches (step 3 for
    # step 1's, step 4 for step 2's, ...) and the next step reports it; step 4's count was read
    # by step 6, and is reported by synchronize()
    assert errors == [(4, {1: 1}), (5, {2: 2})]
    assert len(host_calls["synchronize"]) == 4
    with pytest.raises(numadam.NonFiniteGradientError, match=r"\(3 at step 4\)") as raised:
        gpu.synchronize()
    assert raised.value.counts == {4: 3}
    np.testing.assert_array_equal(nc.to_host(gpu.param), x_cpu)


def test_full_fills_on_the_device(monkeypatch):
    """No host array of ``n`` elements (4 GB at n = 10^9 float32 before): the fill is a kernel."""
    n = 64
    big = []
    for name in ["full", "zeros", "ones", "empty", "array", "asarray", "ascontiguousarray"]:
        real = getattr(np, name)

        def watch(*args, real=real, **kwargs):
            out = real(*args, **kwargs)
            if isinstance(out, np.ndarray) and out.size >= n:
                big.append(real.__name__)
            return out

        monkeypatch.setattr(np, name, watch)
    out = nc.BACKEND.full(n, 0.25, np.float32)
    zeros = nc.zeros(n, np.float64)
    monkeypatch.undo()
    assert big == []
    assert nc.to_host(out).dtype == np.float32
    np.testing.assert_array_equal(nc.to_host(out), np.full(n, 0.25, np.float32))
    np.testing.assert_array_equal(nc.to_host(zeros), np.zeros(n))


def test_rprop_state_starts_at_lr_on_the_device(rng):
    """Rprop's step sizes start at ``lr`` (``BACKEND.full`` with a non-zero value)."""
    opt = numadam.Rprop(nc.to_device(rng.standard_normal(N)), lr=0.03)
    np.testing.assert_array_equal(nc.to_host(opt.state["step_size"]), np.full(N, 0.03))


def test_benchmark_counts_host_syncs_on_the_simulator(capsys):
    """benchmarks/bench_cuda.py end to end on the simulator (``--allow-simulator``; its times
    mean nothing): its count of host syncs per step is 0 for the default step and without the
    check, 1 for ``check_finite="before"`` (which must wait for its count) and for a rule with a
    reduction stage (which waits for its sums)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_cuda.py"
    spec = importlib.util.spec_from_file_location("bench_cuda", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--allow-simulator", "--sizes", "24", "--dtypes", "float32",
                       "--steps", "2", "--repeats", "1", "--threads-per-block", "8",
                       "--blocks-per-sm", "1", "--rules", "Prodigy"]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines()
            if "numadam " in line and line.startswith("|")]
    syncs = {row[2].strip(): row[6].strip() for row in rows}
    assert syncs == {"numadam Adam, check_finite=True": "0",
                     "numadam Adam, check_finite=False": "0",
                     "numadam Adam, check_finite='before'": "1",
                     "numadam Prodigy": "1"}  # its sums
    # the counting wrappers are gone
    assert "wrapper" not in getattr(type(nc.zeros(1, np.float32)).copy_to_host, "__qualname__")
