"""Every kernel, serial and parallel, against the NumPy reference, for every option combination.

The optimizers compute the host scalars and call a kernel; the reference recomputes everything
from the hyperparameters on its own. Running both for 200 steps of random gradients compares the
whole chain, state vectors included.
"""

import itertools

import numpy as np
import pytest

import numadam
from numadam import _reference, kernels

N = 1031  # odd, so that the vectorized loops have a remainder; run at n < threshold and forced
STEPS = 200
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def _adam_cases():
    for amsgrad, weight_decay, maximize, decoupled, betas in itertools.product(
        (False, True), (0.0, 0.1), (False, True), (False, True), ((0.9, 0.999), (0.0, 0.99))
    ):
        options = dict(lr=1e-2, betas=betas, eps=1e-8, weight_decay=weight_decay,
                       amsgrad=amsgrad, maximize=maximize)
        yield pytest.param("adamw" if decoupled else "adam", options,
                           id=f"{'adamw' if decoupled else 'adam'}-{options}")


def _rmsprop_cases():
    for centered, momentum, weight_decay, maximize, alpha in itertools.product(
        (False, True), (0.0, 0.9), (0.0, 0.1), (False, True), (0.99, 0.3)
    ):
        options = dict(lr=1e-2, alpha=alpha, eps=1e-8, weight_decay=weight_decay,
                       momentum=momentum, centered=centered, maximize=maximize)
        yield pytest.param("rmsprop", options, id=f"rmsprop-{options}")


def _sgd_cases():
    for momentum, dampening, nesterov, weight_decay, maximize in itertools.product(
        (0.0, 0.9), (0.0, 0.1), (False, True), (0.0, 0.1), (False, True)
    ):
        if nesterov and (momentum == 0 or dampening != 0):
            continue  # rejected by the optimizer, as in PyTorch
        options = dict(lr=1e-2, momentum=momentum, dampening=dampening, nesterov=nesterov,
                       weight_decay=weight_decay, maximize=maximize)
        yield pytest.param("sgd", options, id=f"sgd-{options}")


CASES = [*_adam_cases(), *_rmsprop_cases(), *_sgd_cases()]

OPTIMIZERS = {"adam": numadam.Adam, "adamw": numadam.AdamW, "rmsprop": numadam.RMSProp,
              "sgd": numadam.SGD}


class ReferenceRun:
    """The reference update with its own state, driven step by step like an optimizer."""

    def __init__(self, rule, x, options):
        self.rule, self.x, self.options, self.step_count = rule, x, dict(options), 0
        zeros = lambda: np.zeros_like(x)  # noqa: E731
        if rule in ("adam", "adamw"):
            self.state = {"exp_avg": zeros(), "exp_avg_sq": zeros(), "max_exp_avg_sq": zeros()}
        elif rule == "rmsprop":
            self.state = {"square_avg": zeros(), "grad_avg": zeros(), "momentum_buffer": zeros()}
        else:
            self.state = {"momentum_buffer": zeros()}

    def step(self, grad):
        self.step_count += 1
        o, s = self.options, self.state
        if self.rule in ("adam", "adamw"):
            _reference.adam(self.x, grad, s["exp_avg"], s["exp_avg_sq"], s["max_exp_avg_sq"],
                            step=self.step_count, lr=o["lr"], beta1=o["betas"][0],
                            beta2=o["betas"][1], eps=o["eps"], weight_decay=o["weight_decay"],
                            amsgrad=o["amsgrad"], maximize=o["maximize"],
                            decoupled_weight_decay=self.rule == "adamw")
        elif self.rule == "rmsprop":
            _reference.rmsprop(self.x, grad, s["square_avg"], s["grad_avg"], s["momentum_buffer"],
                               **o)
        else:
            _reference.sgd(self.x, grad, s["momentum_buffer"],
                           first_step=self.step_count == 1, **o)


def _force_kernel(optimizer, parallel):
    """Make ``optimizer`` use its serial or its parallel kernel whatever its size."""
    optimizer._kernel = optimizer._parallel_kernel if parallel else optimizer._serial_kernel
    return optimizer


def _run_both(rule, options, dtype, parallel, rng, steps=STEPS):
    x0 = rng.standard_normal(N).astype(dtype)
    x_fast, x_ref = x0.copy(), x0.copy()
    fast = _force_kernel(OPTIMIZERS[rule](x_fast, **options), parallel)
    reference = ReferenceRun(rule, x_ref, options)
    for _ in range(steps):
        grad = (rng.standard_normal(N) * rng.uniform(0.1, 10)).astype(dtype)
        fast.step(grad)
        reference.step(grad)
    return fast, reference


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule, options", CASES)
def test_kernel_matches_reference(rule, options, dtype, parallel, rng):
    fast, reference = _run_both(rule, options, dtype, parallel, rng)
    rtol = TOLERANCE[dtype]
    assert fast.param.dtype == dtype
    np.testing.assert_allclose(fast.param, reference.x, rtol=rtol, atol=rtol * 1e-3)
    for name, vector in fast.state.items():
        assert vector.dtype == dtype, name
        if vector.size:  # unused state vectors are empty in the optimizer
            np.testing.assert_allclose(vector, reference.state[name], rtol=rtol,
                                       atol=rtol * 1e-3, err_msg=name)
    # The kernels keep the reference's order of operations, so on this machine (no FMA
    # contraction, fastmath off) they agree to the last bit; the tolerance above is the contract.
    np.testing.assert_array_equal(fast.param, reference.x)


@pytest.mark.parametrize("rule", ["adam", "adamw", "rmsprop", "sgd"])
def test_serial_and_parallel_kernels_are_bitwise_equal(rule, rng):
    options = {"adam": dict(amsgrad=True, weight_decay=0.1), "adamw": {},
               "rmsprop": dict(centered=True, momentum=0.5),
               "sgd": dict(momentum=0.9, nesterov=True)}[rule]
    x0 = rng.standard_normal(N).astype(np.float32)
    serial, parallel = (_force_kernel(OPTIMIZERS[rule](x0.copy(), **options), use_parallel)
                        for use_parallel in (False, True))
    for _ in range(50):
        grad = rng.standard_normal(N).astype(np.float32)
        serial.step(grad)
        parallel.step(grad)
    np.testing.assert_array_equal(serial.param, parallel.param)
    for name in serial.state:
        np.testing.assert_array_equal(serial.state[name], parallel.state[name])


def test_large_vectors_use_the_parallel_kernel():
    small = numadam.Adam(np.zeros(kernels.PARALLEL_THRESHOLD - 1))
    large = numadam.Adam(np.zeros(kernels.PARALLEL_THRESHOLD))
    assert small._kernel is kernels.adam
    assert large._kernel is kernels.adam_parallel


@pytest.mark.parametrize("count", [kernels.count_nonfinite, kernels.count_nonfinite_parallel])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_count_nonfinite(count, dtype):
    grad = np.arange(100, dtype=dtype)
    assert count(grad) == 0
    grad[[3, 50, 99]] = [np.nan, np.inf, -np.inf]
    assert count(grad) == 3
    assert count(np.finfo(dtype).max * np.ones(5, dtype)) == 0  # huge but finite
