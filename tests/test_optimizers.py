"""The optimizer objects: documented equations, state round trips, compilation, validation."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numadam
from numadam import kernels
from tests.fuzz_inputs import CHEAP, odd_values, outcome
from tests.rule_table import sample_cases, threaded_sample

N = 64


def _preset(optimizer, rng, step=9):
    """Give ``optimizer`` a random state at ``step`` through ``load_state_dict``."""
    saved = optimizer.state_dict()
    saved["step"] = step
    for name, vector in saved["state"].items():
        if vector.size:
            # second-moment-like vectors must be non-negative; the max must dominate exp_avg_sq
            vector[:] = rng.uniform(0.1, 2.0, vector.size)
    if "max_exp_avg_sq" in saved["state"] and saved["state"]["max_exp_avg_sq"].size:
        saved["state"]["max_exp_avg_sq"] += saved["state"]["exp_avg_sq"] * rng.integers(0, 2, N)
        # a state a step could produce (load_state_dict checks it): the max is at least v
        np.maximum(saved["state"]["max_exp_avg_sq"], saved["state"]["exp_avg_sq"],
                   out=saved["state"]["max_exp_avg_sq"])
    optimizer.load_state_dict(saved)
    return {name: vector.copy() for name, vector in saved["state"].items()}


# -- white-box: one step recomputed by hand from the documented equations ------------------------


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_one_step_follows_the_documented_equations(amsgrad, decoupled, rng):
    lr, (beta1, beta2), eps, wd = 0.05, (0.8, 0.95), 1e-6, 0.1
    x = rng.standard_normal(N)
    cls = numadam.AdamW if decoupled else numadam.Adam
    opt = cls(x, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd, amsgrad=amsgrad)
    state = _preset(opt, rng, step=9)
    theta, g = x.copy(), rng.standard_normal(N)
    opt.step(g)

    t = 10
    if decoupled:
        theta = theta * (1 - lr * wd)
    else:
        g = g + wd * theta
    m = beta1 * state["exp_avg"] + (1 - beta1) * g
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g**2
    u = np.maximum(state["max_exp_avg_sq"], v) if amsgrad else v
    expected = theta - lr / (1 - beta1**t) * m / (np.sqrt(u) / math.sqrt(1 - beta2**t) + eps)

    assert opt.step_count == t
    np.testing.assert_allclose(opt.state["exp_avg"], m, rtol=1e-12)
    np.testing.assert_allclose(opt.state["exp_avg_sq"], v, rtol=1e-12)
    np.testing.assert_allclose(x, expected, rtol=1e-12)
    if amsgrad:
        np.testing.assert_allclose(opt.state["max_exp_avg_sq"], u, rtol=1e-12)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.7])
def test_rmsprop_one_step_follows_the_documented_equations(centered, momentum, rng):
    lr, alpha, eps, wd = 0.01, 0.9, 1e-6, 0.05
    x = rng.standard_normal(N)
    opt = numadam.RMSProp(x, lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=momentum,
                          centered=centered, maximize=True)
    state = _preset(opt, rng)
    if centered:  # keep the variance estimate positive: |grad_avg| < sqrt(square_avg)
        state["grad_avg"] = 0.1 * state["grad_avg"]
        saved = opt.state_dict()
        saved["state"]["grad_avg"][:] = state["grad_avg"]
        opt.load_state_dict(saved)
    theta, g = x.copy(), rng.standard_normal(N)
    opt.step(g)

    g = -g + wd * theta  # maximize, then L2
    v = alpha * state["square_avg"] + (1 - alpha) * g**2
    if centered:
        gbar = alpha * state["grad_avg"] + (1 - alpha) * g
        denom = np.sqrt(v - gbar**2) + eps
    else:
        denom = np.sqrt(v) + eps
    if momentum:
        b = momentum * state["momentum_buffer"] + g / denom
        expected = theta - lr * b
    else:
        expected = theta - lr * g / denom
    np.testing.assert_allclose(opt.state["square_avg"], v, rtol=1e-12)
    np.testing.assert_allclose(x, expected, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_one_step_follows_the_documented_equations(nesterov, rng):
    lr, mu, wd = 0.1, 0.9, 0.01
    dampening = 0.0 if nesterov else 0.3
    x = rng.standard_normal(N)
    opt = numadam.SGD(x, lr=lr, momentum=mu, dampening=dampening, weight_decay=wd,
                      nesterov=nesterov)
    state = _preset(opt, rng)
    theta, g = x.copy(), rng.standard_normal(N)
    opt.step(g)
    g = g + wd * theta
    b = mu * state["momentum_buffer"] + (1 - dampening) * g
    expected = theta - lr * (g + mu * b if nesterov else b)
    np.testing.assert_allclose(opt.state["momentum_buffer"], b, rtol=1e-12)
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_sgd_first_step_sets_the_buffer_to_the_gradient_without_dampening(rng):
    x = rng.standard_normal(N)
    opt = numadam.SGD(x, lr=0.1, momentum=0.9, dampening=0.5)
    theta, g = x.copy(), rng.standard_normal(N)
    opt.step(g)
    np.testing.assert_array_equal(opt.state["momentum_buffer"], g)
    np.testing.assert_allclose(x, theta - 0.1 * g, rtol=1e-15)


def test_momentum_is_sgd_with_momentum_by_default():
    opt = numadam.Momentum(np.zeros(3))
    assert isinstance(opt, numadam.SGD) and opt.momentum == 0.9


# -- saving and restoring -------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda x: numadam.Adam(x, lr=1e-2, amsgrad=True, weight_decay=1e-3),
    lambda x: numadam.AdamW(x, lr=1e-2),
    lambda x: numadam.RMSProp(x, centered=True, momentum=0.5),
    lambda x: numadam.SGD(x, lr=1e-2, momentum=0.9, nesterov=True),
], ids=["adam", "adamw", "rmsprop", "sgd"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_and_restore_continue_bitwise(make, dtype, rng):
    k = 7
    grads = [rng.standard_normal(N).astype(dtype) for _ in range(3 * k)]
    x = rng.standard_normal(N).astype(dtype)
    opt = make(x)
    for g in grads[:k]:
        opt.step(g)
    saved, x_saved = opt.state_dict(), x.copy()
    for g in grads[k:2 * k]:
        opt.step(g)
    for g in grads[2 * k:]:
        opt.step(g)

    x_restored = x_saved.copy()
    fresh = make(x_restored)
    fresh.load_state_dict(saved)
    for g in grads[k:]:
        fresh.step(g)
    np.testing.assert_array_equal(x_restored, x)
    for name in opt.state:
        np.testing.assert_array_equal(fresh.state[name], opt.state[name])
    assert fresh.step_count == opt.step_count == 3 * k


def test_state_dict_is_a_copy_and_restores_hyperparameters(rng):
    x = rng.standard_normal(N)
    opt = numadam.Adam(x, lr=0.1)
    opt.step(rng.standard_normal(N))
    saved = opt.state_dict()
    opt.step(rng.standard_normal(N))
    assert not np.array_equal(saved["state"]["exp_avg"], opt.state["exp_avg"])
    other = numadam.Adam(rng.standard_normal(N))
    other.load_state_dict(saved)
    assert other.lr == 0.1 and other.step_count == 1


@pytest.mark.parametrize("mutate, exception, match", [
    (lambda d: d["state"].__setitem__("exp_avg", np.zeros(N + 1)), ValueError, "shape"),
    (lambda d: d["state"].__setitem__("exp_avg", np.zeros(N, np.float32)), TypeError, "dtype"),
    (lambda d: d["state"].pop("exp_avg_sq"), ValueError, "exactly the vectors"),
    (lambda d: d.__setitem__("step", -1), ValueError, "non-negative integer"),
    (lambda d: d.__setitem__("step", 1.5), ValueError, "non-negative integer"),
    (lambda d: d["hyperparameters"].__setitem__("lr", -1.0), ValueError, "learning rate"),
    (lambda d: d["hyperparameters"].__setitem__("amsgrad", True), ValueError, "fixed"),
    (lambda d: d["hyperparameters"].pop("eps"), ValueError, "exactly"),
    (lambda d: d.pop("state"), ValueError, "keys"),
])
def test_load_state_dict_rejects_bad_state_and_changes_nothing(mutate, exception, match, rng):
    opt = numadam.Adam(rng.standard_normal(N), lr=0.01)
    opt.step(rng.standard_normal(N))
    before = opt.state_dict()
    bad = opt.state_dict()
    mutate(bad)
    with pytest.raises(exception, match=match):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["step"] == before["step"]
    assert after["hyperparameters"] == before["hyperparameters"]
    for name in before["state"]:
        np.testing.assert_array_equal(after["state"][name], before["state"][name])


# -- compilation and inputs -------------------------------------------------------------------


def test_a_second_call_compiles_nothing_new(rng):
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(N).astype(dtype)
        opt = numadam.Adam(x)
        opt.step(rng.standard_normal(N).astype(dtype))
        loops = kernels.for_rule(numadam.Adam.variant.rule.element)
        before = len(loops.serial_checked.signatures)
        for lr in (1e-3, 1e-2, 0.5):
            opt.lr = lr
            opt.step(rng.standard_normal(N).astype(dtype))
        numadam.Adam(x.copy(), amsgrad=True, maximize=True).step(np.ones(N, dtype))
        assert len(loops.serial_checked.signatures) == before


def test_read_only_and_strided_gradients_are_accepted(rng):
    x1, x2 = rng.standard_normal(N), None
    x2 = x1.copy()
    g = rng.standard_normal(2 * N)
    readonly = g[::2].copy()
    readonly.flags.writeable = False
    numadam.Adam(x1).step(readonly)
    numadam.Adam(x2).step(g[::2])  # strided: copied once to a contiguous buffer
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(x1, g[::2])


def test_gradient_that_is_the_parameter_vector_itself(rng):
    x, y = rng.standard_normal(N), None
    y = x.copy()
    numadam.SGD(x, lr=0.5).step(x)
    numadam.SGD(y, lr=0.5).step(y.copy())
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_before_raises_and_leaves_everything_untouched(bad, rng):
    x = rng.standard_normal(N).astype(np.float32)
    opt = numadam.Adam(x, amsgrad=True, check_finite="before")
    opt.step(rng.standard_normal(N).astype(np.float32))
    before, x_before = opt.state_dict(), x.copy()
    g = rng.standard_normal(N).astype(np.float32)
    g[5] = bad
    g_before = g.copy()
    with pytest.raises(numadam.NonFiniteGradientError, match="non-finite.*unchanged"):
        opt.step(g)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(g, g_before)
    assert opt.step_count == before["step"]
    for name, vector in before["state"].items():
        np.testing.assert_array_equal(opt.state[name], vector)


@pytest.mark.parametrize("row, options, n", threaded_sample(
    [pytest.param(*case.values, n, id=f"{case.id}-{label}") for case in sample_cases()
     for n, label in ((N, "serial"), (kernels.PARALLEL_THRESHOLD + 1, "parallel"))],
    parallel=lambda values: values[2] > N))
def test_fused_check_skips_non_finite_entries_and_raises(row, options, n, rng):
    """The default: entries with a NaN/inf gradient keep their parameter and state, every other
    entry takes the step exactly as a run on the finite entries alone would, and the error says
    so; the step counts."""
    x0 = rng.standard_normal(n)
    opt = row.cls(x0.copy(), **options)
    bad = np.zeros(n, bool)
    bad[[1, n // 2, n - 1]] = True
    gradients = []
    for step in range(1, 4):
        g = rng.standard_normal(n)
        gradients.append(g)
        if step == 2:
            g[bad] = [np.nan, np.inf, -np.inf]
        param_before = opt.param.copy()
        state_before = {name: vector.copy() for name, vector in opt.state.items()}
        if step == 2:
            with pytest.raises(numadam.NonFiniteGradientError, match="3 non-finite.*left "
                               "unchanged"):
                opt.step(g)
            np.testing.assert_array_equal(opt.param[bad], param_before[bad])
            for name, vector in opt.state.items():
                if vector.size:
                    np.testing.assert_array_equal(vector[bad], state_before[name][bad])
        else:
            opt.step(g)
        assert np.isfinite(opt.param).all()
    assert opt.step_count == 3
    if row.cls.variant.rule.reduction is not None:
        # its step size sums over every entry, skipped ones' other steps included: no run on
        # the finite entries alone matches (test_reduction.py checks it with zero gradients)
        return
    # the finite entries: exactly what the same optimizer does on them alone
    alone = row.cls(x0[~bad].copy(), **options)
    for g in gradients:
        alone.step(g[~bad])
    np.testing.assert_array_equal(opt.param[~bad], alone.param)


def test_check_finite_false_skips_the_check(rng):
    x = rng.standard_normal(N)
    opt = numadam.SGD(x, lr=0.1, check_finite=False)
    g = np.zeros(N)
    g[0] = np.nan
    opt.step(g)
    assert np.isnan(x[0]) and np.isfinite(x[1:]).all()


def test_float32_stays_float32(rng):
    x = rng.standard_normal(N).astype(np.float32)
    for cls in (numadam.Adam, numadam.AdamW, numadam.RMSProp, numadam.SGD):
        opt = cls(x)
        opt.step(np.ones(N, np.float32))
        assert x.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state.values())


def test_hyperparameters_can_change_between_steps_and_are_validated(rng):
    x = rng.standard_normal(N)
    opt = numadam.Adam(x, lr=1.0)
    opt.lr = 0.0
    x_before = x.copy()
    opt.step(rng.standard_normal(N))
    np.testing.assert_array_equal(x, x_before)  # lr = 0: no move
    with pytest.raises(ValueError, match="Invalid learning rate: -0.1"):
        opt.lr = -0.1
    assert opt.lr == 0.0
    with pytest.raises(AttributeError, match="fixed"):
        opt.amsgrad = True
    sgd = numadam.SGD(x, momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        sgd.momentum = 0.0
    assert sgd.momentum == 0.9


# -- the error table ----------------------------------------------------------------------------

X = np.zeros(4)
ERRORS = [
    (numadam.Adam, dict(lr=-1e-3), ValueError, "Invalid learning rate: -0.001"),
    (numadam.Adam, dict(lr=float("nan")), ValueError, "Invalid learning rate: nan"),
    (numadam.Adam, dict(lr=float("inf")), ValueError, "Invalid learning rate: inf"),
    (numadam.Adam, dict(lr="0.1"), TypeError, "lr must be a real number"),
    (numadam.Adam, dict(lr=1j), TypeError, "lr must be a real number"),
    (numadam.Adam, dict(eps=-1.0), ValueError, "Invalid epsilon value: -1.0"),
    (numadam.Adam, dict(eps=float("nan")), ValueError, "Invalid epsilon value: nan"),
    (numadam.Adam, dict(weight_decay=-0.1), ValueError, "Invalid weight_decay value: -0.1"),
    (numadam.Adam, dict(weight_decay=float("nan")), ValueError, "Invalid weight_decay value"),
    (numadam.Adam, dict(betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0"),
    (numadam.Adam, dict(betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1"),
    (numadam.Adam, dict(betas=(0.9, float("nan"))), ValueError, "beta parameter at index 1"),
    (numadam.Adam, dict(betas=(0.9,)), ValueError, "betas must be a pair"),
    (numadam.Adam, dict(betas=0.9), TypeError, "betas must be a pair"),
    (numadam.Adam, dict(amsgrad="yes"), TypeError, "amsgrad must be True or False"),
    (numadam.Adam, dict(foo=1), TypeError, "unexpected keyword"),
    (numadam.AdamW, dict(weight_decay=-1), ValueError, "Invalid weight_decay value"),
    (numadam.RMSProp, dict(alpha=1.5), ValueError, "Invalid alpha value: 1.5"),
    (numadam.RMSProp, dict(momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
    (numadam.SGD, dict(momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
    (numadam.SGD, dict(nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
    (numadam.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), ValueError,
     "Nesterov momentum requires a momentum and zero dampening"),
    (numadam.SGD, dict(dampening=float("inf")), ValueError, "Invalid dampening value"),
    (numadam.SGD, dict(check_finite=1), TypeError, "check_finite must be True, False or 'before'"),
    (numadam.SGD, dict(check_finite="after"), ValueError, "check_finite must be True, False"),
    (numadam.NAdam, dict(momentum_decay=-1), ValueError, "Invalid momentum_decay value"),
    (numadam.Adagrad, dict(lr_decay=-1), ValueError, "Invalid lr_decay value"),
    (numadam.Adagrad, dict(initial_accumulator_value=-1), ValueError,
     "Invalid initial_accumulator_value value"),
    (numadam.Adadelta, dict(rho=1.5), ValueError, "Invalid rho value"),
    (numadam.Rprop, dict(etas=(1.5, 1.2)), ValueError, "Invalid eta values"),
    (numadam.Rprop, dict(etas=0.5), TypeError, "etas"),
    (numadam.Rprop, dict(step_sizes=(1.0, 0.5)), ValueError, "step_sizes"),
    (numadam.Lion, dict(betas=(1.5, 0.99)), ValueError, "Invalid beta parameter at index 0"),
    (numadam.ScheduleFreeAdamW, dict(warmup_steps=-1), ValueError, "Invalid warmup_steps"),
    (numadam.ScheduleFreeAdamW, dict(warmup_steps=1.5), TypeError, "must be an integer"),
    (numadam.ScheduleFreeAdamW, dict(r=float("nan")), ValueError, "Invalid r value"),
    # PyTorch's implementation flags: accepted where they change nothing, refused otherwise
    (numadam.Adam, dict(capturable=True), ValueError, "capturable=True is not supported"),
    (numadam.AdamW, dict(differentiable=True), ValueError,
     "differentiable=True is not supported.*no autograd"),
    (numadam.SGD, dict(foreach="yes"), TypeError, "foreach must be None, True or False"),
    (numadam.Lion, dict(fused=1), TypeError, "fused must be None, True or False"),
]


@pytest.mark.parametrize("cls", list(numadam.optimizers.CLASSES.values()))
@pytest.mark.parametrize("flags", [
    dict(foreach=None, fused=None, capturable=False, differentiable=False),
    dict(foreach=False, fused=False), dict(foreach=True), dict(fused=True),
], ids=str)
def test_pytorch_implementation_flags_pass_through_and_change_nothing(cls, flags, rng):
    """Code written for torch.optim passes its keyword arguments: the step is the same."""
    x0 = rng.standard_normal(9)
    plain, flagged = cls(x0.copy()), cls(x0.copy(), **flags)
    for _ in range(3):
        g = rng.standard_normal(9)
        plain.step(g)
        flagged.step(g)
    np.testing.assert_array_equal(plain.param, flagged.param)


def test_constructors_have_pytorchs_signature():
    """PyTorch's positional order and defaults, maximize keyword-only (as in torch 2.x)."""
    import inspect

    signature = inspect.signature(numadam.Adam)
    assert list(signature.parameters)[:6] == ["params", "lr", "betas", "eps", "weight_decay",
                                              "amsgrad"]
    assert signature.parameters["maximize"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.parameters["decoupled_weight_decay"].kind is inspect.Parameter.KEYWORD_ONLY
    nadam = inspect.signature(numadam.NAdam).parameters
    assert list(nadam)[5:7] == ["momentum_decay", "decoupled_weight_decay"]
    assert nadam["lr"].default == 2e-3
    assert inspect.signature(numadam.Adagrad).parameters["eps"].default == 1e-10
    opt = numadam.Adam(np.zeros(2), 0.1, (0.5, 0.6))  # positional, as torch.optim.Adam takes
    assert opt.lr == 0.1 and opt.betas == (0.5, 0.6)
    assert issubclass(numadam.AdamW, numadam.Adam) and numadam.AdamW(np.zeros(1)).weight_decay \
        == 1e-2


def test_every_class_and_method_is_exported_from_the_registry():
    from numadam.rules import VARIANTS

    for variant in VARIANTS:
        if variant.class_name:
            assert getattr(numadam, variant.class_name).variant is variant
            assert variant.class_name in numadam.__all__
        if variant.method:
            assert callable(getattr(numadam, variant.method))
            assert variant.method in numadam.__all__
    assert "nadam" in numadam.show_options(disp=False)
    from numadam import mnist

    assert set(mnist.OPTIMIZERS) == {name.lower() for name in numadam.optimizers.CLASSES}


@pytest.mark.parametrize("cls, kwargs, exception, match", ERRORS)
def test_bad_hyperparameters(cls, kwargs, exception, match):
    x = X.copy()
    with pytest.raises(exception, match=match):
        cls(x, **kwargs)
    np.testing.assert_array_equal(x, X)


PARAM_ERRORS = [
    ([0.0, 1.0], TypeError, "params must be a 1-D NumPy array"),
    (np.zeros(3, dtype=np.int64), TypeError, "dtype float32 or float64, got int64"),
    (np.zeros(3, dtype=np.complex128), TypeError, "got complex128"),
    (np.zeros(3, dtype=np.float16), TypeError, "got float16"),
    (np.zeros((2, 3)), ValueError, r"must be 1-D .* got shape \(2, 3\)"),
    (np.zeros(6)[::2], ValueError, "C-contiguous"),
]


@pytest.mark.parametrize("params, exception, match", PARAM_ERRORS)
def test_bad_parameter_vectors(params, exception, match):
    with pytest.raises(exception, match=match):
        numadam.Adam(params)


def test_read_only_parameter_vector_is_rejected():
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        numadam.Adam(x)


GRAD_ERRORS = [
    (np.zeros(5), ValueError, r"grad has shape \(5,\), the parameters have shape \(4,\)"),
    (np.zeros(4, np.float32), TypeError, "grad has dtype float32, the parameters have float64"),
    (np.zeros(4, np.int64), TypeError, "grad has dtype int64"),
    (np.zeros(4, np.complex128), TypeError, "grad has dtype complex128"),
    (np.zeros((4, 1)), ValueError, "grad has shape"),
    ([0.0] * 4, TypeError, "grad must be a NumPy array"),
]


@pytest.mark.parametrize("grad, exception, match", GRAD_ERRORS)
def test_bad_gradients_raise_and_change_nothing(grad, exception, match):
    x = np.ones(4)
    opt = numadam.Adam(x)
    with pytest.raises(exception, match=match):
        opt.step(grad)
    np.testing.assert_array_equal(x, np.ones(4))
    assert opt.step_count == 0


@pytest.mark.parametrize("cls", [numadam.RMSProp, numadam.SGD])
def test_momentum_can_change_but_not_switch_on_or_off(cls):
    with_momentum = cls(np.zeros(3), momentum=0.9)
    with_momentum.momentum = 0.5
    assert with_momentum.momentum == 0.5
    with pytest.raises(ValueError, match="switching it on or off"):
        with_momentum.momentum = 0.0
    without = cls(np.zeros(3))
    with pytest.raises(ValueError, match="switching it on or off"):
        without.momentum = 0.9
    assert without.momentum == 0.0 and without.state["momentum_buffer"].size == 0


# Found by a review (2026-11-30): each case below failed before its fix ---------------------


def test_the_parameter_vector_cannot_be_swapped():
    opt = numadam.Adam(np.ones(4))
    with pytest.raises(AttributeError):
        opt.param = np.ones(2_000_000)  # the kernel wrote past the state's ends: a crash
    assert opt.param.shape == (4,)


def test_the_state_is_read_only_for_user_code():
    opt = numadam.Adam(np.ones(4), amsgrad=True)
    opt.step(np.ones(4))
    before = opt.state_dict()["state"]
    with pytest.raises(ValueError, match="read-only"):
        opt.state["exp_avg_sq"][:] = -1.0
    with pytest.raises(TypeError):
        opt.state["exp_avg"] = np.zeros(4)
    with pytest.raises(ValueError, match="writeable"):
        numadam.SGD(opt.state["exp_avg"])  # a second optimizer rewriting this one's state
    for name, vector in opt.state_dict()["state"].items():
        np.testing.assert_array_equal(vector, before[name])
    opt.step(np.ones(4))
    assert np.isfinite(opt.param).all()


@pytest.mark.parametrize("cls", [numadam.SGD, numadam.RMSProp])
@pytest.mark.parametrize("created, loaded", [(0.0, 0.9), (0.9, 0.0)])
def test_loading_cannot_switch_momentum_on_or_off(cls, created, loaded):
    opt = cls(np.ones(4), momentum=created)
    saved = opt.state_dict()
    saved["hyperparameters"]["momentum"] = loaded  # its own vectors, another momentum
    with pytest.raises(ValueError, match="switching it on or off"):
        opt.load_state_dict(saved)
    with pytest.raises(ValueError, match="momentum_buffer"):  # another's vectors
        opt.load_state_dict(cls(np.ones(4), momentum=loaded).state_dict())
    assert opt.momentum == created


def test_a_step_that_raises_is_not_counted():
    x = np.ones(4)
    opt = numadam.ScheduleFreeAdamW(x, lr=0.0, weight_lr_power=-1.0)  # 0.0 ** -1.0 at step 1
    for _ in range(3):
        with pytest.raises(ValueError, match="per-step scalars of step 1 cannot be computed"):
            opt.step(np.ones(4))
    assert opt.step_count == 0
    np.testing.assert_array_equal(x, np.ones(4))


def test_params_made_read_only_after_creation_get_a_clear_error():
    x = np.ones(4)
    opt = numadam.Adam(x)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only after the optimizer was created"):
        opt.step(np.ones(4))
    assert opt.step_count == 0


def test_schedule_free_refuses_a_zero_beta1():
    with pytest.raises(ValueError, match="beta parameter at index 0"):
        numadam.ScheduleFreeAdamW(np.ones(2), betas=(0.0, 0.999))


def test_a_hyperparameter_fixed_by_a_subclass_reads_back():
    assert numadam.AdamW(np.ones(2)).decoupled_weight_decay is True
    assert numadam.Adam(np.ones(2)).decoupled_weight_decay is False


@pytest.mark.parametrize("name", ["lr", "eps", "weight_decay"])
def test_integers_too_large_for_a_float_are_refused_naming_the_parameter(name):
    with pytest.raises(ValueError, match=f"{name} is too large for a float"):
        numadam.Adam(np.ones(2), **{name: 10**400})


def test_loaded_state_must_be_finite():
    source = numadam.NAdam(np.ones(3))
    source.step(np.ones(3))
    saved = source.state_dict()
    saved["carry"] = {"mu_product": float("nan")}
    with pytest.raises(ValueError, match="mu_product"):
        numadam.NAdam(np.ones(3)).load_state_dict(saved)
    saved = source.state_dict()
    saved["state"]["exp_avg"][0] = np.inf
    with pytest.raises(ValueError, match="holds NaN or inf"):
        numadam.NAdam(np.ones(3)).load_state_dict(saved)
    saved = source.state_dict()
    saved["step"] = 10**400
    with pytest.raises(ValueError, match="below 2\\*\\*62"):
        numadam.NAdam(np.ones(3)).load_state_dict(saved)


@pytest.mark.parametrize("factory, name", [(numadam.schedules.step, "step_size"),
                                           (numadam.schedules.cosine, "T_max"),
                                           (numadam.schedules.warmup, "warmup_iters")])
def test_schedules_take_integers_as_the_optimizers_do(factory, name):
    assert factory(0.1, **{name: np.int64(5)})(3) == factory(0.1, **{name: 5})(3)
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        factory(0.1, **{name: True})


# -- state invariants (issue 24) ----------------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs, entry, bad", [
    ("Adam", {}, "exp_avg_sq", -1.0),
    ("Adam", {"amsgrad": True}, "exp_avg_sq", -1.0),
    ("Adam", {"amsgrad": True}, "max_exp_avg_sq", 0.0),  # below exp_avg_sq
    ("AdamW", {}, "exp_avg_sq", -1e-300),
    ("NAdam", {}, "exp_avg_sq", -1.0),
    ("RAdam", {}, "exp_avg_sq", -1.0),
    ("Adamax", {}, "exp_inf", -1.0),
    ("Adagrad", {}, "sum", -1.0),
    ("Adadelta", {}, "square_avg", -1.0),
    ("Adadelta", {}, "acc_delta", -1.0),
    ("RMSProp", {"centered": True}, "square_avg", -1.0),
    ("Rprop", {}, "step_size", 51.0),  # above step_sizes' max of 50
    ("Rprop", {}, "step_size", -1.0),
    ("ScheduleFreeAdamW", {}, "exp_avg_sq", -1.0),
    ("ScheduleFreeAdamW", {}, "weight_sum", -1.0),  # a carried scalar
    ("ADOPT", {}, "exp_avg_sq", -1.0),
    ("AdEMAMix", {}, "exp_avg_sq", -1.0),
])
def test_load_state_dict_refuses_a_state_no_step_produces(cls, kwargs, entry, bad, rng):
    """Issue 24: a negative second moment loaded, and the next step made every parameter NaN.
    Each rule's invariants (its module's STATE_INVARIANTS) are checked on load: a ValueError
    naming the entry, nothing changed; the state the optimizer itself saved still loads."""
    x = rng.standard_normal(4)
    opt = getattr(numadam, cls)(x, **kwargs)
    for _ in range(3):
        opt.step(rng.standard_normal(4))
    good = opt.state_dict()
    bad_dict = opt.state_dict()
    if entry in bad_dict["state"]:
        bad_dict["state"][entry][1] = bad
    else:
        bad_dict["carry"][entry] = bad
    before = x.copy()
    with pytest.raises(ValueError, match=f"loaded state '{entry}' must be"):
        opt.load_state_dict(bad_dict)
    after = opt.state_dict()
    assert after["step"] == good["step"] and np.array_equal(x, before)
    for name in good["state"]:
        np.testing.assert_array_equal(after["state"][name], good["state"][name])
    opt.load_state_dict(good)
    fresh = getattr(numadam, cls)(np.zeros(4), **kwargs)
    fresh.load_state_dict(fresh.state_dict())  # a new optimizer's state (step 0) loads too


def test_every_rule_with_a_second_moment_declares_it_non_negative():
    """The invariants are declared once per rule, in its module: every rule whose state holds a
    mean or sum of squares says so."""
    from numadam.rules import RULES

    squares = {"exp_avg_sq", "square_avg", "sum", "exp_inf", "acc_delta"}
    for rule in RULES:
        declared = {invariant.entry for invariant in rule.state_invariants}
        assert squares & set(rule.state) <= declared, rule.name


# -- odd inputs: a working optimizer or a clear error, the input unchanged (issue 24) ------------


@CHEAP
@given(params=odd_values(st.sampled_from([(), (0,), (3,), (2, 3)])),
       lr=odd_values(st.sampled_from([(), (1,)])),
       name=st.sampled_from(["Adam", "SGD", "Rprop", "ScheduleFreeAdamW"]))
def test_any_parameters_and_lr_give_an_optimizer_or_an_error_naming_them(params, lr, name):
    cls = getattr(numadam, name)
    opt = outcome(lambda: cls(params, lr=lr), ["params", "lr", "learning rate"], lr)
    if opt is not None:
        assert np.isfinite(opt.param).all() or not np.isfinite(np.asarray(params,
                                                                          float)).all()


@CHEAP
@given(grad=odd_values(st.sampled_from([(), (0,), (3,), (4,), (2, 3)])))
def test_any_gradient_steps_or_gets_an_error_naming_it(grad):
    x = np.array([0.5, -1.0, 2.0])
    opt = numadam.Adam(x, lr=0.1, check_finite="before")
    before = x.copy()
    stepped = outcome(lambda: opt.step(grad) or True, ["grad", "non-finite", "NaN"], grad)
    if stepped is None:  # refused: nothing changed
        assert x.tobytes() == before.tobytes() and opt.step_count == 0
    else:
        assert np.isfinite(x).all()


@CHEAP
@given(vector=odd_values(st.sampled_from([(), (0,), (3,), (4,), (2, 3)])),
       entry=st.sampled_from(["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]),
       step=st.one_of(st.integers(-2, 5), odd_values(st.just(()))))
def test_any_state_dict_entry_loads_or_gets_an_error_naming_it(vector, entry, step):
    """A state dict with any value in place of a state vector or the step: it loads (and the
    next step is finite), or a ValueError/TypeError names the entry; nothing changed."""
    x = np.array([0.5, -1.0, 2.0])
    opt = numadam.Adam(x, lr=0.1, amsgrad=True)
    opt.step(np.ones(3))
    saved = opt.state_dict()
    bad = {**saved, "step": step, "state": {**saved["state"], entry: vector}}
    before = x.copy()
    loaded = outcome(lambda: opt.load_state_dict(bad) or True,
                     [entry, "state_dict['step']"], vector, step)
    if loaded is None:
        assert x.tobytes() == before.tobytes()
        assert opt.state_dict()["step"] == saved["step"]
        for name, value in saved["state"].items():
            assert opt.state[name].tobytes() == value.tobytes(), name
    else:
        opt.step(np.ones(3))
        assert np.isfinite(x).all()


@pytest.mark.parametrize("make", [
    lambda x: numadam.Adam(x),
    lambda x: numadam.Adam(x, groups=[{"range": (0, 1000), "lr": 1e-2}]),
    lambda x: numadam.Prodigy(x),
], ids=["adam", "adam-groups", "prodigy"])
def test_threaded_false_steps_on_one_thread_bitwise_as_on_all(make, rng):
    """``threaded = False``: the serial loops whatever the size, the same results bit for bit."""
    n = kernels.PARALLEL_THRESHOLD + 5
    x0 = rng.standard_normal(n)
    on_all, on_one = make(x0.copy()), make(x0.copy())
    on_one.threaded = False
    assert on_all.threaded and not on_one.threaded
    rule = on_one.variant.rule
    if rule.reduction is not None:  # white box: the loops each one picked
        loops = kernels.for_reduction(rule.reduction.element, rule.element, True)
        assert on_all._reduce is loops.reduce_parallel and on_one._reduce is loops.reduce_serial
    else:
        assert on_all._threads and not on_one._threads
        if on_one._layout is None:
            loops = kernels.for_rule(rule.element)
            assert on_all._kernel is loops.parallel_checked
            assert on_one._kernel is loops.serial_checked
    for _ in range(3):
        g = rng.standard_normal(n)
        on_all.step(g)
        on_one.step(g)
    np.testing.assert_array_equal(on_one.param, on_all.param)
    on_one.threaded = True
    assert on_one._threads or rule.reduction is not None


def test_threaded_takes_only_a_bool(rng):
    opt = numadam.Adam(rng.standard_normal(10))
    with pytest.raises(TypeError, match="threaded must be True or False, got 1"):
        opt.threaded = 1
    assert opt.threaded is True


def test_minimizes_python_loop_steps_on_one_thread(monkeypatch):
    """Its objective runs between the steps, maybe on BLAS threads: numadam's step must not
    spin up a second pool of threads beside them (benchmarks/bench_blas_contention.py)."""
    from numadam.backends import CPU

    asked = []
    update = CPU.update

    def spy(rule, n, checked, reports=None, threads=True):
        asked.append(threads)
        return update(rule, n, checked, reports, threads)

    monkeypatch.setattr(CPU, "update", spy)
    n = kernels.PARALLEL_THRESHOLD + 5
    result = numadam.minimize(lambda x: float(x @ x), np.ones(n), jac=lambda x: 2 * x,
                              callback=lambda intermediate_result: None,
                              options={"maxiter": 3})
    assert result.nit == 3
    assert asked[0] is True and asked[-1] is False  # created as usual, then set for the loop
