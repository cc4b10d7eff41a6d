"""The CUDA kernels and the optimizers on GPU arrays, run under Numba's CUDA simulator.

CI has no GPU: unless ``NUMBA_ENABLE_CUDASIM`` is set already, this module selects the simulator
before ``numba.cuda`` is first imported (no other test module imports it), so the kernels run as
Python threads over host memory and every test here runs. With a GPU,
``NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/test_cuda.py`` runs the same tests on the device
(the bitwise comparisons with the CPU kernels then give way to the tolerances, since NVVM
contracts multiply-adds), plus the tests marked ``needs_gpu``.

Sizes stay small (about 100 elements, 20 steps): the simulator runs a few milliseconds a launch.
Under the simulator the grids are shrunk to 2 blocks of 8 threads, so that every thread's
grid-stride loop wraps several times.
"""

import os
import subprocess
import sys
import textwrap

if "numba.cuda" not in sys.modules:  # the simulator is chosen when numba.cuda is first imported
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    from numba.core import config

    config.reload_config()

import numpy as np
import pytest

import numadam
import numadam.cuda as nc
from numadam import kernels
from numadam.rules import _rule
from tests.rule_table import BY_METHOD, ROWS, ReferenceRun, all_cases, covering_cases

SIMULATED = nc._simulated()
N = 103  # odd, not a multiple of the block size
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
STEPS = 20

needs_cuda = pytest.mark.skipif(
    not nc.is_available(), reason="numba.cuda is neither simulated nor backed by a GPU here"
)
simulator_only = pytest.mark.skipif(
    not SIMULATED, reason="needs the CUDA simulator (host memory stands in for device memory)"
)
needs_gpu = pytest.mark.skipif(
    SIMULATED or not nc.is_available(), reason="needs a real NVIDIA GPU with its driver"
)


@pytest.fixture(autouse=True)
def small_grids(monkeypatch):
    """Under the simulator, 2 blocks of 8 threads: grid-stride loops wrap, launches stay fast."""
    if SIMULATED:
        monkeypatch.setattr(nc, "THREADS_PER_BLOCK", 8)
        monkeypatch.setattr(nc, "BLOCKS_PER_MULTIPROCESSOR", 2)


class ForeignGpuArray:
    """Stands for a CuPy array or a PyTorch CUDA tensor: an object that exposes its memory only
    through ``__cuda_array_interface__``. Under the simulator device memory is host memory, so it
    wraps a NumPy array's buffer."""

    def __init__(self, host, readonly=False):
        self.host, self.readonly = host, readonly

    @property
    def __cuda_array_interface__(self):
        strides = None if self.host.flags.c_contiguous else self.host.strides
        return {"shape": self.host.shape, "typestr": self.host.dtype.str, "version": 3,
                "data": (self.host.ctypes.data, self.readonly), "strides": strides}


def _on_device(array):
    return nc.to_device(array)


# -- the kernels against the reference and the CPU kernels ----------------------------------------


DTYPES = [np.float32, np.float64]


@needs_cuda
@pytest.mark.parametrize("row, options, dtype",
                         covering_cases({"dtype": DTYPES}, shift=3, strength=1))
def test_cuda_kernel_matches_reference(row, options, dtype, rng):
    """Option combinations of each rule that hold every option value and both dtypes
    (tests/rule_table.py's covering_cases): STEPS steps of random gradients through an optimizer
    on the GPU, against the NumPy reference (the tolerance is the contract) and the CPU kernels
    (bitwise under the simulator, which evaluates the same operations in the same dtype).
    ``pytest -m slow`` runs every combination in both dtypes."""
    _check_against_reference_and_cpu(row, options, dtype, rng)


@needs_cuda
@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row, options", all_cases())
def test_cuda_kernel_matches_reference_whole_grid(row, options, dtype, rng):
    """The long version of test_cuda_kernel_matches_reference: every option combination."""
    _check_against_reference_and_cpu(row, options, dtype, rng)


def _check_against_reference_and_cpu(row, options, dtype, rng):
    x0 = rng.standard_normal(N).astype(dtype)
    x_ref, x_cpu = x0.copy(), x0.copy()
    gpu = row.cls(_on_device(x0), **options)
    cpu = row.cls(x_cpu, **options)
    reference = ReferenceRun(row, x_ref, options)
    assert gpu.device == "cuda" and cpu.device == "cpu"
    for _ in range(STEPS):
        grad = (rng.standard_normal(N) * rng.uniform(0.1, 10)).astype(dtype)
        gpu.step(_on_device(grad))
        cpu.step(grad)
        reference.step(grad)

    rtol = TOLERANCE[dtype]
    x_gpu = nc.to_host(gpu.param)
    assert x_gpu.dtype == dtype
    np.testing.assert_allclose(x_gpu, reference.x, rtol=rtol, atol=rtol * 1e-3)
    saved = gpu.state_dict()["state"]
    for name, vector in saved.items():
        assert isinstance(vector, np.ndarray) and vector.dtype == dtype, name
        if vector.size:
            np.testing.assert_allclose(vector, reference.state[name], rtol=rtol,
                                       atol=rtol * 1e-3, err_msg=name)
    if SIMULATED:
        np.testing.assert_array_equal(x_gpu, x_cpu)
        for name, vector in saved.items():
            np.testing.assert_array_equal(vector, cpu.state[name], err_msg=name)


REDUCTION_ROWS = [row for row in ROWS if row.cls.variant.rule.reduction is not None]


@needs_cuda
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the simulator's g - g
@pytest.mark.parametrize("row", REDUCTION_ROWS, ids=lambda row: row.method)
def test_reduction_sums_over_blocks_in_the_cpu_order(row, rng, monkeypatch):
    """A rule with a reduction stage over two blocks of ``REDUCTION_BLOCK`` entries (the
    second partial) that one GPU block strides over, with non-finite gradient entries at a
    block's and a lane row's edges: the first pass's sums are the CPU loops' (bitwise, so the
    steps are, under the simulator), the same entries are skipped and counted, and the carry
    agrees. ``test_reduction_sums_with_a_thread_per_lane`` runs the launch's real shape."""
    monkeypatch.setattr(nc, "BLOCKS_PER_MULTIPROCESSOR", 1)
    dtype = np.float32 if REDUCTION_ROWS.index(row) % 2 else np.float64
    _check_reduction_against_cpu(row, dtype, _rule.REDUCTION_BLOCK + 103, rng)


@needs_cuda
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("n", [pytest.param(300, marks=[pytest.mark.slow] if SIMULATED else [])])
def test_reduction_sums_with_a_thread_per_lane(n, rng, monkeypatch):
    """The launch's shape on a GPU, a thread per lane (the test above runs several lanes per
    thread, to keep the simulator fast: 256 simulated threads take seconds, ``-m slow``)."""
    monkeypatch.setattr(nc, "THREADS_PER_BLOCK", 256)
    _check_reduction_against_cpu(REDUCTION_ROWS[0], np.float32, n, rng, steps=1)


def _check_reduction_against_cpu(row, dtype, n, rng, steps=2):
    x0 = rng.standard_normal(n).astype(dtype)
    x_cpu = x0.copy()
    gpu, cpu = row.cls(_on_device(x0), **row.sample), row.cls(x_cpu, **row.sample)
    bad = [0, _rule.REDUCTION_LANES - 1, n - 1] if n < _rule.REDUCTION_BLOCK else [
        _rule.REDUCTION_BLOCK - 1, _rule.REDUCTION_BLOCK, n - 1]
    for step in range(steps):
        grad = rng.standard_normal(n).astype(dtype)
        if step == steps - 1:
            grad[bad] = [np.nan, np.inf, -np.inf]
        errors = []
        for optimizer, g in ((gpu, _on_device(grad)), (cpu, grad)):
            try:
                optimizer.step(g)
            except numadam.NonFiniteGradientError as error:
                errors.append(str(error))
        assert len(errors) == (2 if step == steps - 1 else 0)
        assert len(set(errors)) <= 1  # the same count, for the same step
    x_gpu = nc.to_host(gpu.param)
    np.testing.assert_array_equal(x_gpu[bad], x_cpu[bad])
    assert gpu.step_count == cpu.step_count == steps
    if SIMULATED:
        np.testing.assert_array_equal(x_gpu, x_cpu)
        assert gpu._carry == cpu._carry
        for name, vector in gpu.state_dict()["state"].items():
            np.testing.assert_array_equal(vector, cpu.state[name], err_msg=name)
    else:
        np.testing.assert_allclose(x_gpu, x_cpu, rtol=TOLERANCE[dtype], atol=0)


#: groups as ranges of a flat GPU vector: the elements 100-150 and 200-300 form the third group
#: (two runs), with the constructor's hyperparameters
GROUPS = [{"range": (0, 100), "lr": 1e-2}, {"range": (150, 200), "weight_decay": 0.1}]
GROUPED = ["adam", "nadam", "adagrad", "schedulefree_adamw", "prodigy", "adafactor"]


@needs_cuda
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the simulator's g - g
@pytest.mark.parametrize("method", GROUPED)
def test_parameter_groups_on_the_gpu_step_as_on_the_cpu(method, rng):
    """Parameter groups of a GPU vector, given as ranges: each group's own hyperparameters, a
    carried scalar (NAdam), a per-group initial state (Adagrad), modes (schedule-free), a
    reduction stage over a group of one run and over one of two runs (Prodigy, Adafactor),
    non-finite entries in three groups: the CPU's steps (bitwise under the simulator), the
    same counts reported (by a later step for an elementwise rule), the same carry."""
    row = BY_METHOD[method]
    names = row.cls.hyperparameter_names()
    groups = [{key: value for key, value in group.items() if key == "range" or key in names}
              for group in GROUPS]
    n = 300
    x0 = rng.standard_normal(n)
    x_cpu = x0.copy()
    gpu = row.cls(_on_device(x0), **row.sample, groups=groups)
    cpu = row.cls(x_cpu, **row.sample, groups=groups)
    reported = {"cpu": 0, "gpu": 0}
    for step in range(5):
        grad = rng.standard_normal(n)
        if step == 2:
            grad[[3, 160, 250]] = np.nan
        for label, optimizer, g in (("gpu", gpu, _on_device(grad)), ("cpu", cpu, grad)):
            try:
                optimizer.step(g)
            except numadam.NonFiniteGradientError as error:
                reported[label] += sum(error.counts.values())
    try:
        gpu.synchronize()
    except numadam.NonFiniteGradientError as error:
        reported["gpu"] += sum(error.counts.values())
    assert reported == {"cpu": 3, "gpu": 3}
    if row.cls.variant.rule.modes:
        gpu.eval()
        cpu.eval()
    saved, expected = gpu.state_dict(), cpu.state_dict()
    assert saved.get("carry") == expected.get("carry")
    assert [group["segments"] for group in saved["param_groups"]] == [
        group["segments"] for group in expected["param_groups"]]
    x_gpu = nc.to_host(gpu.param)
    if SIMULATED:
        np.testing.assert_array_equal(x_gpu, x_cpu)
        for name, vector in saved["state"].items():
            np.testing.assert_array_equal(vector, cpu.state[name], err_msg=name)
    else:
        np.testing.assert_allclose(x_gpu, x_cpu, rtol=1e-12)


@needs_cuda
def test_more_groups_than_one_launch_takes_launch_per_run(rng, monkeypatch):
    """Beyond ``GROUPS_PER_LAUNCH`` groups (whose values are kernel arguments, which CUDA
    caps) a step launches once per run: the CPU's steps all the same."""
    monkeypatch.setattr(nc, "GROUPS_PER_LAUNCH", 2)
    groups = [{"range": (10 * k, 10 * k + 5), "lr": 0.01 * (k + 1)} for k in range(4)]
    x0 = rng.standard_normal(50)
    x_cpu = x0.copy()
    gpu = numadam.NAdam(_on_device(x0), groups=groups)
    cpu = numadam.NAdam(x_cpu, groups=groups)
    for _ in range(3):
        grad = rng.standard_normal(50)
        gpu.step(_on_device(grad))
        cpu.step(grad)
    assert gpu.state_dict()["carry"] == cpu.state_dict()["carry"]
    x_gpu = nc.to_host(gpu.param)
    if SIMULATED:
        np.testing.assert_array_equal(x_gpu, x_cpu)
    else:
        np.testing.assert_allclose(x_gpu, x_cpu, rtol=1e-12)


@needs_cuda
def test_param_groups_edits_and_minimize_with_groups_on_the_gpu():
    """A scheduler's edit of ``param_groups`` applies at the next GPU step, and ``minimize``
    takes groups with ``device="cuda"``: the CPU's answers."""
    x0 = np.linspace(-1.0, 1.0, 40)
    runs = []
    for x in (_on_device(x0.copy()), x0.copy()):
        opt = numadam.Adam(x, lr=1e-2, groups=[{"range": (0, 10), "lr": 0.1}])
        for _ in range(3):
            opt.step(_on_device(x0) if opt.device == "cuda" else x0)
            opt.param_groups[0]["lr"] *= 0.5
        runs.append(nc.to_host(x) if opt.device == "cuda" else x)
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12)
    options = {"lr": 1e-2, "maxiter": 20, "groups": [{"range": (0, 2), "lr": 0.1}]}
    results = [numadam.minimize(lambda x: float(x @ x), x0[:5], jac=lambda x: 2 * x,
                                options={**options, "device": device})
               for device in ("cuda", "cpu")]
    assert results[0].nit == results[1].nit == 20
    np.testing.assert_allclose(results[0].x, results[1].x, rtol=1e-12)
    if SIMULATED:
        np.testing.assert_array_equal(runs[0], runs[1])
        np.testing.assert_array_equal(results[0].x, results[1].x)


@needs_cuda
def test_a_factored_group_is_refused_on_the_gpu():
    """Adafactor's factored form runs on the CPU: a range with a shape on the GPU is refused
    with a message that says so, before any step."""
    x = _on_device(np.ones(12))
    with pytest.raises(ValueError, match="factored form, which runs on the CPU only"):
        numadam.Adafactor(x, groups=[{"range": (0, 12), "shape": (3, 4)}])
    numadam.Adafactor(x, groups=[{"range": (0, 12), "shape": (12,)}])  # 1-D: unfactored


@needs_cuda
@pytest.mark.parametrize("n", [1, 7, 16, 17, 100, 1000])
def test_grid_stride_loop_updates_every_element_exactly_once(n):
    """SGD with lr=1 and a gradient of ones subtracts exactly 1 from each element it visits."""
    x = _on_device(np.zeros(n))
    numadam.SGD(x, lr=1.0).step(_on_device(np.ones(n)))
    np.testing.assert_array_equal(nc.to_host(x), -np.ones(n))


@needs_cuda
def test_empty_vectors_launch_nothing():
    opt = numadam.Adam(_on_device(np.zeros(0)), amsgrad=True)
    opt.step(_on_device(np.zeros(0)))
    assert nc.count_nonfinite(_on_device(np.zeros(0))) == 0
    assert opt.state_dict()["state"]["exp_avg"].shape == (0,)


@needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_count_nonfinite_matches_the_cpu_kernel(dtype, rng):
    grad = rng.standard_normal(N).astype(dtype)
    assert nc.count_nonfinite(_on_device(grad)) == 0
    grad[[0, 5, 50, N - 1]] = [np.nan, np.inf, -np.inf, np.nan]
    grad[7] = np.finfo(dtype).max  # large but finite
    assert nc.count_nonfinite(_on_device(grad)) == kernels.count_nonfinite(grad) == 4


@needs_cuda
def test_hyperparameters_can_change_between_steps(rng):
    grads = [rng.standard_normal(N) for _ in range(6)]
    x_cpu = rng.standard_normal(N)
    gpu, cpu = numadam.AdamW(_on_device(x_cpu)), numadam.AdamW(x_cpu)
    for i, g in enumerate(grads):
        for opt in (gpu, cpu):
            opt.lr, opt.betas = 1e-2 / (i + 1), (0.9 - 0.1 * (i % 2), 0.999)
        gpu.step(_on_device(g))
        cpu.step(g)
    np.testing.assert_allclose(nc.to_host(gpu.param), x_cpu, rtol=1e-12)


# -- state: on the device, saved to the host, restored --------------------------------------------


MAKERS = [
    lambda x: numadam.Adam(x, lr=1e-2, amsgrad=True, weight_decay=1e-3),
    lambda x: numadam.AdamW(x, lr=1e-2),
    lambda x: numadam.RMSProp(x, centered=True, momentum=0.5),
    lambda x: numadam.SGD(x, lr=1e-2, momentum=0.9, nesterov=True),
    lambda x: numadam.Prodigy(x, d0=1e-3, weight_decay=0.1),  # a reduction: carry and p0
]
MAKER_IDS = ["adam", "adamw", "rmsprop", "sgd", "prodigy"]


@needs_cuda
@pytest.mark.parametrize("make", MAKERS, ids=MAKER_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_lives_on_the_device(make, dtype):
    opt = make(_on_device(np.zeros(N, dtype)))
    for name, vector in opt.state.items():
        assert nc.is_device_array(vector), name
        assert vector.dtype == dtype and vector.shape[0] in (0, N), name


@needs_cuda
@pytest.mark.parametrize("make", MAKERS, ids=MAKER_IDS)
def test_save_and_restore_round_trip(make, rng):
    """state_dict() brings the state to the host; load_state_dict() puts it back on the device,
    and the run goes on as if never interrupted. The saved state is interchangeable with a CPU
    optimizer's, both ways."""
    k = 5
    grads = [rng.standard_normal(N) for _ in range(2 * k)]
    x0 = rng.standard_normal(N)
    x = _on_device(x0)
    opt = make(x)
    for g in grads[:k]:
        opt.step(_on_device(g))
    saved, x_saved = opt.state_dict(), nc.to_host(x)
    assert all(isinstance(v, np.ndarray) for v in saved["state"].values())
    for g in grads[k:]:
        opt.step(_on_device(g))

    restored = _on_device(x_saved)
    fresh = make(restored)
    fresh.load_state_dict(saved)
    for g in grads[k:]:
        fresh.step(_on_device(g))
    np.testing.assert_array_equal(nc.to_host(restored), nc.to_host(x))
    assert fresh.step_count == opt.step_count == 2 * k

    # GPU state -> CPU optimizer, and CPU state -> GPU optimizer
    x_cpu = x_saved.copy()
    cpu = make(x_cpu)
    cpu.load_state_dict(saved)
    for g in grads[k:]:
        cpu.step(g)
    np.testing.assert_allclose(x_cpu, nc.to_host(x), rtol=1e-12)
    back = make(_on_device(x_cpu))
    back.load_state_dict(cpu.state_dict())
    for name, vector in back.state_dict()["state"].items():
        np.testing.assert_array_equal(vector, cpu.state[name], err_msg=name)


@needs_cuda
def test_state_dict_is_a_host_copy(rng):
    opt = numadam.Adam(_on_device(rng.standard_normal(N)))
    opt.step(_on_device(rng.standard_normal(N)))
    saved = opt.state_dict()
    saved["state"]["exp_avg"][:] = 123.0
    assert not np.any(nc.to_host(opt.state["exp_avg"]) == 123.0)


@needs_cuda
def test_load_state_dict_rejects_bad_state_and_changes_nothing(rng):
    opt = numadam.Adam(_on_device(rng.standard_normal(N)))
    opt.step(_on_device(rng.standard_normal(N)))
    before = opt.state_dict()
    bad = opt.state_dict()
    bad["state"]["exp_avg"] = bad["state"]["exp_avg"][:-1]
    with pytest.raises(ValueError, match="has shape"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"]["exp_avg"] = bad["state"]["exp_avg"].astype(np.float32)
    with pytest.raises(TypeError, match="dtype float64"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    for name in before["state"]:
        np.testing.assert_array_equal(after["state"][name], before["state"][name])


# -- device arrays: Numba's, and anything exposing __cuda_array_interface__ -----------------------


@simulator_only
def test_foreign_gpu_arrays_are_updated_in_place_without_a_copy(rng):
    """A CuPy- or PyTorch-like array: the optimizer wraps its memory, never copies it."""
    x_host = rng.standard_normal(N)
    x_cpu = x_host.copy()
    gpu, cpu = numadam.Adam(ForeignGpuArray(x_host), lr=0.1), numadam.Adam(x_cpu, lr=0.1)
    assert gpu.device == "cuda"
    for _ in range(3):
        g = rng.standard_normal(N)
        gpu.step(ForeignGpuArray(g.copy()))
        cpu.step(g)
    np.testing.assert_array_equal(x_host, x_cpu)  # the caller's memory holds the result
    np.testing.assert_array_equal(nc.to_host(ForeignGpuArray(x_host)), x_cpu)


def _assert_matches_cpu(actual, expected, err_msg=""):
    """Bitwise under the simulator, which does the CPU kernels' arithmetic; on a GPU within the
    documented tolerance (README, Numerics), since NVVM fuses multiply-adds the CPU rounds
    twice."""
    if SIMULATED:
        np.testing.assert_array_equal(actual, expected, err_msg=err_msg)
    else:
        rtol = TOLERANCE[expected.dtype.type]
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * 1e-3,
                                   err_msg=err_msg)


@needs_cuda
def test_strided_and_overlapping_gradients_are_accepted(rng):
    g_long = rng.standard_normal(2 * N)
    x0 = rng.standard_normal(N)
    gpu, x_cpu = numadam.SGD(_on_device(x0), lr=0.1, momentum=0.9), x0.copy()
    cpu = numadam.SGD(x_cpu, lr=0.1, momentum=0.9)
    gpu.step(_on_device(g_long)[::2])  # a strided device view
    cpu.step(g_long[::2])
    gpu.step(gpu.param)  # the gradient is the parameter vector itself
    cpu.step(x_cpu)
    _assert_matches_cpu(nc.to_host(gpu.param), x_cpu)


def test_memory_spans_for_the_overlap_check():
    """The pointer arithmetic behind the overlap check on a real GPU, on host pointers."""
    x = np.arange(10.0)

    def span(array):
        return nc._memory_span(ForeignGpuArray(array).__cuda_array_interface__)

    def overlap(a, b):
        (a0, a1), (b0, b1) = span(a), span(b)
        return a0 < a1 and b0 < b1 and a0 < b1 and b0 < a1

    base = x.ctypes.data
    assert span(x) == (base, base + 80)
    assert span(x[::3]) == (base, base + 80)
    assert span(x[::-1]) == (base, base + 80)
    assert span(x[:0]) == (base, base)
    assert overlap(x, x) and overlap(x[:6], x[5:]) and overlap(x[::2], x[1::2])
    assert not overlap(x[:5], x[5:]) and not overlap(x[:0], x)


@needs_cuda
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # simulator, unchecked step
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_semantics_on_the_gpu(bad, rng):
    """The CPU's semantics (tests/test_optimizers.py) with the GPU's timing: the fused check
    skips the bad entries as the CPU does, but their count reaches the host after the step, so
    the next step (taken all the same) or synchronize() raises, naming the step; "before"
    changes nothing; False lets NaN through."""
    x0 = rng.standard_normal(N)
    cpu, gpu = numadam.Adam(x0.copy(), amsgrad=True), numadam.Adam(_on_device(x0), amsgrad=True)
    grad = rng.standard_normal(N)
    cpu.step(grad)
    gpu.step(_on_device(grad))
    grad[N // 2] = bad
    skipped_before = nc.to_host(gpu.param)[N // 2]
    with pytest.raises(numadam.NonFiniteGradientError, match="1 non-finite value"):
        cpu.step(grad)
    gpu.step(_on_device(grad))  # the count is on its way to the host: no error yet
    assert nc.to_host(gpu.param)[N // 2] == skipped_before  # the bad entry was left as it was
    _assert_matches_cpu(nc.to_host(gpu.param), cpu.param)
    assert gpu.step_count == cpu.step_count == 2
    for name, vector in gpu.state_dict()["state"].items():
        _assert_matches_cpu(vector, cpu.state[name], err_msg=name)

    good = rng.standard_normal(N)
    cpu.step(good)
    with pytest.raises(numadam.NonFiniteGradientError,
                       match=r"1 non-finite value.*\(1 at step 2\).*by step 3, which was taken"
                       ) as raised:
        gpu.step(_on_device(good))
    assert raised.value.counts == {2: 1} and gpu.step_count == 3
    _assert_matches_cpu(nc.to_host(gpu.param), cpu.param)
    gpu.synchronize()  # reported already: nothing left
    gpu.step(_on_device(grad))  # the last step's count: synchronize() reports it
    with pytest.raises(numadam.NonFiniteGradientError, match=r"\(1 at step 4\).*synchronize"):
        gpu.synchronize()
    gpu.synchronize()
    with pytest.raises(numadam.NonFiniteGradientError):
        cpu.step(grad)
    _assert_matches_cpu(nc.to_host(gpu.param), cpu.param)

    gpu.check_finite = "before"
    before, x_before = gpu.state_dict(), nc.to_host(gpu.param)
    with pytest.raises(ValueError, match="unchanged"):
        gpu.step(_on_device(grad))
    np.testing.assert_array_equal(nc.to_host(gpu.param), x_before)
    assert gpu.step_count == before["step"]
    gpu.check_finite = False
    gpu.step(_on_device(grad))  # taken without the check
    assert np.isnan(nc.to_host(gpu.param)[N // 2])


@needs_cuda
@pytest.mark.parametrize("grad, exception, match", [
    (lambda: np.ones(N), TypeError, "must be a GPU array like the parameters"),
    (lambda: _on_device(np.ones(N, np.float32)), TypeError, "dtype float32.*must match"),
    (lambda: _on_device(np.ones(N + 1)), ValueError, r"shape \(104,\)"),
    (lambda: [1.0] * N, TypeError, "must be a GPU array"),
])
def test_bad_gradients_raise(grad, exception, match):
    opt = numadam.Adam(_on_device(np.ones(N)))
    with pytest.raises(exception, match=match):
        opt.step(grad())
    assert opt.step_count == 0


@needs_cuda
@pytest.mark.parametrize("params, exception, match", [
    (lambda: _on_device(np.ones(4, np.int64)), TypeError, "float32 or float64"),
    (lambda: _on_device(np.ones((2, 3))), ValueError, "must be 1-D"),
    (lambda: _on_device(np.ones(8))[::2], ValueError, "C-contiguous"),
])
def test_bad_parameter_vectors(params, exception, match):
    with pytest.raises(exception, match=match):
        numadam.Adam(params())


@simulator_only
def test_read_only_gpu_parameter_vector_is_rejected():
    with pytest.raises(ValueError, match="writeable"):
        numadam.Adam(ForeignGpuArray(np.ones(4), readonly=True))


def test_device_array_detection_never_imports_anything():
    assert not nc.is_device_array(np.ones(3))
    assert not nc.is_device_array([1.0])
    assert nc.is_device_array(ForeignGpuArray(np.ones(3)))


@needs_gpu
def test_pytorch_cuda_tensors_work_in_place():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    x = torch.linspace(-1, 1, 1000, device="cuda", dtype=torch.float32)
    x_cpu = x.cpu().numpy().copy()
    gpu, cpu = numadam.Adam(x, lr=1e-2), numadam.Adam(x_cpu, lr=1e-2)
    for _ in range(10):
        gpu.step(2 * x)
        cpu.step(2 * x_cpu)
    torch.cuda.synchronize()
    np.testing.assert_allclose(x.cpu().numpy(), x_cpu, rtol=1e-5)


@needs_gpu
def test_cupy_arrays_work_in_place():
    cupy = pytest.importorskip("cupy")
    x = cupy.linspace(-1, 1, 1000)
    x_cpu = cupy.asnumpy(x).copy()
    gpu, cpu = numadam.RMSProp(x, lr=1e-2), numadam.RMSProp(x_cpu, lr=1e-2)
    for _ in range(10):
        gpu.step(2 * x)
        cpu.step(2 * x_cpu)
    np.testing.assert_allclose(cupy.asnumpy(x), x_cpu, rtol=1e-12)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_vector_on_a_real_gpu(dtype, rng):
    """Default grid (THREADS_PER_BLOCK, all multiprocessors) over a vector larger than it."""
    n = 3_000_017
    x0 = rng.standard_normal(n).astype(dtype)
    x_cpu = x0.copy()
    gpu, cpu = numadam.Adam(nc.to_device(x0), amsgrad=True), numadam.Adam(x_cpu, amsgrad=True)
    for _ in range(5):
        g = rng.standard_normal(n).astype(dtype)
        gpu.step(nc.to_device(g))
        cpu.step(g)
    np.testing.assert_allclose(nc.to_host(gpu.param), x_cpu, rtol=TOLERANCE[dtype])


# -- without a GPU: one clear error, and importing numadam never fails ----------------------------


NO_GPU = r"needs an NVIDIA GPU with its driver and the numba-cuda package \(pip install " \
         r"'numadam\[cuda\]'\); none was found: "


def test_no_gpu_raises_one_clear_error(monkeypatch):
    monkeypatch.setattr(nc, "_available", False)
    monkeypatch.setattr(nc, "_unavailable_reason", lambda: "CUDA driver library cannot be found")
    for attempt in (
        lambda: numadam.Adam(ForeignGpuArray(np.ones(3))),
        lambda: nc.to_device(np.ones(3)),
        lambda: nc.zeros(3, np.float64),
        nc.require,
    ):
        with pytest.raises(nc.CudaUnavailableError, match=NO_GPU + "CUDA driver library"):
            attempt()
    assert not nc.is_available()
    assert issubclass(nc.CudaUnavailableError, RuntimeError)


def _run_python(code, **env):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_without_numba_cuda_numadam_imports_and_says_what_is_missing():
    out = _run_python("""
        import sys
        sys.modules["numba.cuda"] = None  # as if numba had no CUDA target and no numba-cuda
        import numpy as np
        import numadam
        x = np.ones(3)
        numadam.Adam(x).step(x)  # the CPU path is untouched
        import numadam.cuda
        for attempt in (numadam.cuda.require, lambda: numadam.cuda.to_device(x)):
            try:
                attempt()
            except numadam.cuda.CudaUnavailableError as error:
                print(error)
        print(numadam.cuda.is_available())
    """)
    lines = out.splitlines()
    assert len(lines) == 3 and lines[-1] == "False"
    for line in lines[:2]:
        assert "pip install 'numadam[cuda]'" in line
        assert "numba.cuda cannot be imported" in line


def test_without_a_driver_the_error_gives_the_drivers_reason():
    out = _run_python("""
        import numadam.cuda
        if numadam.cuda.is_available():
            print("GPU")
        else:
            try:
                numadam.cuda.require()
            except numadam.cuda.CudaUnavailableError as error:
                print(error)
    """, NUMBA_ENABLE_CUDASIM="0")
    if out.strip() == "GPU":
        pytest.skip("a real GPU is present")
    assert "none was found: " in out
    assert out.split("none was found: ", 1)[1].strip()  # a reason, from numba's driver


def test_importing_numadam_does_not_import_numba_cuda():
    out = _run_python("""
        import sys
        import numpy as np
        import numadam
        numadam.SGD(np.ones(3)).step(np.ones(3))
        print("numba.cuda" in sys.modules, "numadam.cuda" in sys.modules)
    """)
    assert out.split() == ["False", "False"]


def test_ci_runs_these_tests():
    """In CI the simulator (or a GPU) must be there: the tests above must not all skip."""
    if os.environ.get("CI"):
        assert nc.is_available(), nc._unavailable_reason()


def test_benchmark_without_a_gpu_says_so_and_exits_0():
    if nc.is_available() and not SIMULATED:
        pytest.skip("a real GPU is present: the benchmark would run for real")
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_cuda.py")
    result = subprocess.run([sys.executable, script], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"})
    assert result.returncode == 0, result.stderr
    assert "bench_cuda: no GPU, nothing measured" in result.stdout
    assert "pip install 'numadam[cuda]'" in result.stdout


# -- minimize(options={"device": "cuda"}) ---------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("method", ["adam", "rmsprop", "nesterov",
                                    pytest.param("prodigy", marks=pytest.mark.slow)])
def test_minimize_runs_the_update_on_the_gpu(method):
    from scipy.optimize import rosen, rosen_der

    options = {"lr": 1e-3, "maxiter": 30, "gtol": 1e-12}
    gpu = numadam.minimize(rosen, [-1.2, 1.0, 0.5], jac=rosen_der, method=method,
                           bounds=[(-1.1, 2.0)] * 3, options=dict(options, device="cuda"))
    cpu = numadam.minimize(rosen, [-1.2, 1.0, 0.5], jac=rosen_der, method=method,
                           bounds=[(-1.1, 2.0)] * 3, options=options)
    assert isinstance(gpu.x, np.ndarray) and gpu.nit == cpu.nit == 30
    assert (gpu.status, gpu.nfev) == (cpu.status, cpu.nfev)
    np.testing.assert_allclose(gpu.x, cpu.x, rtol=1e-12)
    if SIMULATED:  # the simulator does the CPU's arithmetic: nothing fused, bitwise equal
        np.testing.assert_array_equal(gpu.x, cpu.x)


@needs_cuda
def test_minimize_on_the_gpu_with_a_schedule_and_a_stop():
    from scipy.optimize import rosen, rosen_der

    def stop_at_4(intermediate_result):
        if intermediate_result.nit == 4:
            raise StopIteration

    gpu = numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der, callback=stop_at_4,
                           options={"device": "cuda", "schedule": "cosine", "maxiter": 10})
    cpu = numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der,
                           options={"schedule": "cosine", "schedule_options": {"T_max": 10},
                                    "maxiter": 4})
    assert gpu.status == 99 and gpu.nit == 4
    np.testing.assert_allclose(gpu.x, cpu.x, rtol=1e-12)


@needs_cuda
def test_minimize_on_the_gpu_resumes_from_its_state():
    from scipy.optimize import rosen, rosen_der

    options = {"lr": 1e-3, "maxiter": 10, "device": "cuda", "eps": 1e-7}
    first = numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der, options=options)
    second = numadam.minimize(rosen, first.x, jac=rosen_der,
                              options={**options, "state": first.state})
    whole = numadam.minimize(rosen, [-1.2, 1.0], jac=rosen_der, options={**options,
                                                                         "maxiter": 20})
    assert (second.nit, second.state["step"]) == (10, 20)
    assert second.state["hyperparameters"]["eps"] == 1e-7
    np.testing.assert_allclose(second.x, whole.x, rtol=1e-12)
    if SIMULATED:
        np.testing.assert_array_equal(second.x, whole.x)


def test_minimize_rejects_an_unknown_device():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        numadam.minimize(lambda x: 0.0, [1.0], jac=lambda x: np.zeros(1),
                         options={"device": "tpu"})
