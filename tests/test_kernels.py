"""Every rule's kernels, serial and parallel, against the NumPy reference, for the option
combinations of the shared rule table (``tests/rule_table.py``).

The optimizers compute the host scalars and call a kernel; the reference recomputes everything
from the hyperparameters on its own. Running both for 200 steps of random gradients compares the
whole chain, state vectors included.

Every combination runs on one target (float64, the serial kernel). The others are sampled
(``covering_cases``): float32 serial with combinations that hold every pair of option values of
each rule; the parallel kernels (each compiled per state layout and dtype, slow to run on a busy
machine) with combinations that hold every option value and both dtypes. Hypothesis draws
further mixes with other hyperparameter values than the grid's round ones (derandomized: the
same draws on every run). ``pytest -m slow`` runs the whole grid on the other targets too.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numadam
from numadam import kernels
from tests.rule_table import (
    BY_METHOD,
    ROWS,
    ReferenceRun,
    all_cases,
    covering_cases,
    sample_cases,
    threaded_sample,
)

N = 1031  # odd, so that the vectorized loops have a remainder; run at n < threshold and forced
STEPS = 200


def _force_kernel(optimizer, parallel):
    """Make ``optimizer`` use its serial or its parallel loop whatever its size (white box: the
    loop choice is the only thing a test cannot reach through the public API at this size)."""
    rule = optimizer.variant.rule
    checked = optimizer.check_finite is True
    if rule.reduction is not None:  # a reduction pass and an update pass
        loops = kernels.for_reduction(rule.reduction.element, rule.element, checked)
        optimizer._reduce, optimizer._update = (
            (loops.reduce_parallel, loops.update_parallel) if parallel
            else (loops.reduce_serial, loops.update_serial))
        unchecked = kernels.for_reduction(rule.reduction.element, rule.element, False)
        optimizer._update_all_finite = (unchecked.update_parallel if parallel
                                        else unchecked.update_serial)
        return optimizer
    loops = kernels.for_rule(rule.element)
    if parallel:
        optimizer._kernel = loops.parallel_checked if checked else loops.parallel
    else:
        optimizer._kernel = loops.serial_checked if checked else loops.serial
    return optimizer


def _gradients(rng, dtype, steps=STEPS, n=N):
    for _ in range(steps):
        yield (rng.standard_normal(n) * rng.uniform(0.1, 10)).astype(dtype)


def _run_both(row, options, dtype, parallel, rng, check_finite=True):
    x0 = rng.standard_normal(N).astype(dtype)
    fast = _force_kernel(row.cls(x0.copy(), check_finite=check_finite, **options), parallel)
    reference = ReferenceRun(row, x0.copy(), options)
    for grad in _gradients(rng, dtype):
        fast.step(grad)
        reference.step(grad)
    return fast, reference


def _assert_bitwise(fast, reference):
    # The kernels keep the reference's order of operations, so on this machine (no FMA
    # contraction, fastmath off) they agree to the last bit.
    np.testing.assert_array_equal(fast.param, reference.x)
    for name, vector in fast.state.items():
        assert vector.dtype == fast.dtype, name
        if vector.size:  # unused state vectors are empty in the optimizer
            np.testing.assert_array_equal(vector, reference.state[name], err_msg=name)


#: the targets besides float64 serial: (dtype, parallel)
OTHER_TARGETS = [(np.float32, False), (np.float64, True), (np.float32, True)]
DTYPES = [np.float32, np.float64]


def _target_id(dtype, parallel):
    return f"{dtype.__name__}-{'parallel' if parallel else 'serial'}"


def _check_bitwise(row, options, dtype, parallel, rng):
    fast, reference = _run_both(row, options, dtype, parallel, rng)
    assert fast.param.dtype == dtype
    _assert_bitwise(fast, reference)


@pytest.mark.parametrize("row, options", all_cases())
def test_kernel_matches_reference_bitwise(row, options, rng):
    """Every option combination of every rule: the float64 serial kernel."""
    _check_bitwise(row, options, np.float64, False, rng)


@pytest.mark.parametrize("row, options", covering_cases(shift=1))
def test_float32_kernel_matches_reference_bitwise(row, options, rng):
    """The float32 serial kernel: every pair of option values of every rule."""
    _check_bitwise(row, options, np.float32, False, rng)


@pytest.mark.parametrize("row, options, dtype", threaded_sample(
    covering_cases({"dtype": DTYPES}, shift=2, strength=1)))
def test_parallel_kernel_matches_reference_bitwise(row, options, dtype, rng):
    """The parallel kernels: every option value of every rule, and both dtypes (the rules of
    rule_table.PARALLEL_ROWS in the fast suite)."""
    _check_bitwise(row, options, dtype, True, rng)


CASES = [case.values for case in all_cases()]


@st.composite
def mixes_with_other_values(draw):
    """A combination of the grid with other values of lr, weight_decay and betas (which do not
    change the compiled kernel, so nothing compiles afresh)."""
    row, options = draw(st.sampled_from(CASES))
    options = dict(options, lr=draw(st.floats(1e-4, 1.0)))
    if "weight_decay" in row.grid:
        options["weight_decay"] = draw(st.floats(0.0, 0.5))
    if "betas" in row.grid:  # (beta1, beta2), or AdEMAMix's (beta1, beta2, beta3)
        options["betas"] = (draw(st.floats(0.05, 0.99)), *(
            draw(st.floats(0.5, 0.9999)) for _ in row.grid["betas"][0][1:]))
    return row, options


@settings(derandomize=True, database=None, max_examples=60, deadline=None)
@given(mix=mixes_with_other_values(), dtype=st.sampled_from(DTYPES))
def test_serial_kernels_match_reference_bitwise_for_drawn_values(mix, dtype):
    """Bitwise equality hangs on the order of operations, which round values can hide: drawn
    hyperparameter values, in both dtypes."""
    row, options = mix
    _check_bitwise(row, options, dtype, False, np.random.default_rng(20261124))


@pytest.mark.slow
@pytest.mark.parametrize("dtype, parallel", OTHER_TARGETS,
                         ids=[_target_id(*target) for target in OTHER_TARGETS])
@pytest.mark.parametrize("row, options", all_cases())
def test_kernel_matches_reference_bitwise_whole_grid(row, options, dtype, parallel, rng):
    """The long version of the sampled tests: every combination on the three other targets."""
    _check_bitwise(row, options, dtype, parallel, rng)


@pytest.mark.parametrize("row, options, parallel", threaded_sample(
    [pytest.param(*case.values, parallel, id=f"{case.id}-{label}") for case in sample_cases()
     for parallel, label in ((False, "serial"), (True, "parallel"))],
    parallel=lambda values: values[2]))
def test_unchecked_kernels_match_reference_bitwise(row, options, parallel, rng):
    fast, reference = _run_both(row, options, np.float32, parallel, rng, check_finite=False)
    _assert_bitwise(fast, reference)


@pytest.mark.parametrize("row, options", threaded_sample(sample_cases()))
def test_serial_and_parallel_kernels_are_bitwise_equal(row, options, rng):
    x0 = rng.standard_normal(N).astype(np.float32)
    serial, parallel = (_force_kernel(row.cls(x0.copy(), **options), use_parallel)
                        for use_parallel in (False, True))
    for grad in _gradients(rng, np.float32, steps=50):
        serial.step(grad)
        parallel.step(grad)
    np.testing.assert_array_equal(serial.param, parallel.param)
    for name in serial.state:
        np.testing.assert_array_equal(serial.state[name], parallel.state[name])


def test_every_registered_class_has_a_row():
    assert {row.cls for row in ROWS} == set(numadam.optimizers.CLASSES.values())


def test_large_vectors_use_the_parallel_kernel():
    loops = kernels.for_rule(numadam.Adam.variant.rule.element)
    small = numadam.Adam(np.zeros(kernels.PARALLEL_THRESHOLD - 1))
    large = numadam.Adam(np.zeros(kernels.PARALLEL_THRESHOLD))
    assert small._kernel is loops.serial_checked
    assert large._kernel is loops.parallel_checked
    assert numadam.Adam(np.zeros(3), check_finite=False)._kernel is loops.serial


#: non-finite gradient entries where the checked loops' blocks make a difference: the first and
#: last entry, a run across a block boundary, a whole block, and a lone entry
_B = kernels.CHECK_BLOCK
_BAD = [0, _B - 2, _B - 1, _B, _B + 1, *range(2 * _B, 3 * _B), 3 * _B + 17, 4 * _B + 36]


@pytest.mark.parametrize("method", ["adam", "sgd", "rprop", "prodigy"])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_checked_loops_skip_entries_across_blocks(method, parallel, rng):
    """The checked loops test the gradient a block at a time and update each run of finite
    entries as a plain loop: every skipped entry keeps its parameter and state, the count is
    exact, and (elementwise rules) every other entry is what a run on it alone gives."""
    row = BY_METHOD[method]
    n = 4 * _B + 37
    bad = np.zeros(n, bool)
    bad[_BAD] = True
    x0 = rng.standard_normal(n)
    opt = _force_kernel(row.cls(x0.copy()), parallel)
    first, second = rng.standard_normal(n), rng.standard_normal(n)
    opt.step(first)
    second[bad] = np.where(np.arange(bad.sum()) % 2, np.nan, -np.inf)
    param_before = opt.param.copy()
    state_before = {name: vector.copy() for name, vector in opt.state.items()}
    with pytest.raises(numadam.NonFiniteGradientError, match=f"{bad.sum()} non-finite"):
        opt.step(second)
    np.testing.assert_array_equal(opt.param[bad], param_before[bad])
    for name, vector in opt.state.items():
        if vector.size:
            np.testing.assert_array_equal(vector[bad], state_before[name][bad], err_msg=name)
    assert np.isfinite(opt.param).all()
    if row.cls.variant.rule.reduction is None:
        alone = row.cls(x0[~bad].copy())
        alone.step(first[~bad])
        alone.step(second[~bad])
        np.testing.assert_array_equal(opt.param[~bad], alone.param)


@pytest.mark.parametrize("count", [kernels.count_nonfinite, kernels.count_nonfinite_parallel])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_count_nonfinite(count, dtype):
    grad = np.arange(100, dtype=dtype)
    assert count(grad) == 0
    grad[[3, 50, 99]] = [np.nan, np.inf, -np.inf]
    assert count(grad) == 3
    assert count(np.finfo(dtype).max * np.ones(5, dtype)) == 0  # huge but finite


def test_the_cpu_loops_inline_copies_of_the_registered_elements():
    """The loops take copies that Numba inlines before typing (numadam.rules.inlined_on_cpu),
    with the elements they call copied so too; the registered functions, which numba-cuda and
    the simulator use, stay as they are."""
    from numadam.rules import adam, inlined_on_cpu

    copy = inlined_on_cpu(adam.update)
    assert copy is inlined_on_cpu(adam.update)  # one copy per element
    assert copy.targetoptions["inline"] == "always"
    assert copy.py_func.__code__ is adam.update.__code__
    helper = copy.py_func.__globals__["moments"]
    assert helper is inlined_on_cpu(adam.moments)
    assert helper.targetoptions["inline"] == "always"
    assert adam.update.__globals__["moments"] is adam.moments  # not a Numba function
    loops = kernels.for_rule(adam.update)
    assert loops.serial.py_func.__globals__["_ELEMENT"] is copy
    assert "_ELEMENT" not in (loops.serial.py_func.__code__.co_freevars)  # a global: cacheable
