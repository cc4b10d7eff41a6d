"""The parameter-free rules (those with a reduction stage) against their reference packages,
when installed (they are not dependencies): ``prodigyopt.Prodigy``, ``dadaptation.DAdaptAdam``
``optax.contrib.dog``, and ``torch.optim.Adafactor`` (a 1-D parameter: the unfactored form; a
group per tensor of two or more dimensions: the factored form).

The gradients are a quadratic's, at the reference's iterate (both take the same gradients, so
that rounding differences are not fed back), so that the distance estimate ``d`` grows as it does
in use (random gradients leave it at ``d0``). The packages sum in their
own order and PyTorch fuses multiply-adds (see ``test_torch_parity.py``), so the comparison
allows relative differences of 1e-12 in float64.
"""

import inspect

import numpy as np
import pytest

import numadam

STEPS = 150
N = 257
RTOL = 1e-12


def _quadratic(rng):
    scales = np.logspace(-2, 1, N)
    target = rng.standard_normal(N)
    return lambda x: scales * (x - target)


PRODIGY_CASES = [
    dict(),
    dict(d0=1e-3, weight_decay=0.1),
    dict(d0=1e-4, weight_decay=0.05, decouple=False, use_bias_correction=True),
    dict(betas=(0.0, 0.99), beta3=0.9, safeguard_warmup=True, growth_rate=1.05, d_coef=0.5),
]


@pytest.mark.parametrize("options", PRODIGY_CASES, ids=str)
def test_prodigy_matches_prodigyopt(options, rng):
    torch = pytest.importorskip("torch")
    prodigyopt = pytest.importorskip("prodigyopt")
    gradient = _quadratic(rng)
    x0 = rng.standard_normal(N)
    x = x0.copy()
    ours = numadam.Prodigy(x, **options)
    param = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    theirs = prodigyopt.Prodigy([param], **options)
    for _ in range(STEPS):
        g = gradient(param.detach().numpy())
        param.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(g)
    group = theirs.param_groups[0]
    carry = ours.state_dict()["carry"]
    assert carry["d"] > 10 * group["d0"]  # the estimate moved: the sums were exercised
    np.testing.assert_allclose(x, param.detach().numpy(), rtol=RTOL, atol=RTOL * 1e-2)
    for name in ("d", "d_max", "d_numerator"):
        np.testing.assert_allclose(carry[name], group[name], rtol=RTOL, err_msg=name)
    assert carry["k"] == group["k"]
    state = theirs.state[param]
    for name in ("exp_avg", "exp_avg_sq", "s"):
        if name in state:
            np.testing.assert_allclose(ours.state[name], state[name].numpy(), rtol=RTOL,
                                       atol=RTOL * 1e-2 * np.abs(state[name].numpy()).max(),
                                       err_msg=name)


def test_prodigy_defaults_are_prodigyopts():
    prodigyopt = pytest.importorskip("prodigyopt")
    ours = inspect.signature(numadam.Prodigy).parameters
    theirs = inspect.signature(prodigyopt.Prodigy).parameters
    for name in ("lr", "betas", "beta3", "eps", "weight_decay", "decouple", "use_bias_correction",
                 "safeguard_warmup", "d0", "d_coef", "growth_rate"):
        assert ours[name].default == theirs[name].default, name


DADAPT_CASES = [
    dict(),
    dict(d0=1e-3, weight_decay=0.1),
    dict(d0=1e-4, weight_decay=0.05, decouple=True, use_bias_correction=True),
    dict(betas=(0.5, 0.99), growth_rate=1.05, eps=1e-6),
]


@pytest.mark.parametrize("options", DADAPT_CASES, ids=str)
def test_dadapt_adam_matches_dadaptation(options, rng):
    torch = pytest.importorskip("torch")
    dadaptation = pytest.importorskip("dadaptation")
    gradient = _quadratic(rng)
    x0 = rng.standard_normal(N)
    x = x0.copy()
    ours = numadam.DAdaptAdam(x, **options)
    param = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    theirs = dadaptation.DAdaptAdam([param], **options)
    for _ in range(STEPS):
        g = gradient(param.detach().numpy())
        param.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(g)
    group = theirs.param_groups[0]
    carry = ours.state_dict()["carry"]
    assert carry["d"] > 10 * options.get("d0", 1e-6)
    np.testing.assert_allclose(x, param.detach().numpy(), rtol=RTOL, atol=RTOL * 1e-2)
    for name in ("d", "numerator_weighted"):
        np.testing.assert_allclose(carry[name], group[name], rtol=RTOL, err_msg=name)
    assert carry["k"] == group["k"]
    state = theirs.state[param]
    for name in ("exp_avg", "exp_avg_sq", "s"):
        np.testing.assert_allclose(ours.state[name], state[name].numpy(), rtol=RTOL,
                                   atol=RTOL * 1e-2 * np.abs(state[name].numpy()).max(),
                                   err_msg=name)


def test_dadapt_adam_defaults_are_dadaptations():
    dadaptation = pytest.importorskip("dadaptation")
    ours = inspect.signature(numadam.DAdaptAdam).parameters
    theirs = inspect.signature(dadaptation.DAdaptAdam).parameters
    for name in ("lr", "betas", "eps", "weight_decay", "decouple", "use_bias_correction", "d0",
                 "growth_rate"):
        assert ours[name].default == theirs[name].default, name


DOG_CASES = [
    dict(),
    dict(init_step=("distance", 1e-3), weight_decay=0.1),
    dict(init_step=("learning_rate", 1e-2), eps=1e-6),
]


@pytest.mark.parametrize("options", DOG_CASES, ids=str)
def test_dog_matches_optax(options, rng):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        gradient = _quadratic(rng)
        x0 = rng.standard_normal(N)
        x = x0.copy()
        ours = numadam.DoG(x, **options)
        solver = optax.contrib.dog(**{("learning_rate" if k == "lr" else k): v
                                      for k, v in options.items()})
        params = jax.numpy.asarray(x0.copy())
        state = solver.init(params)
        for _ in range(STEPS):
            g = gradient(np.asarray(params))
            updates, state = solver.update(jax.numpy.asarray(g), state, params)
            params = optax.apply_updates(params, updates)
            ours.step(g)
        dog_state = state[1]  # chain(identity or decay, scale_by_dog, learning rate)
        carry = ours.state_dict()["carry"]
        np.testing.assert_allclose(x, np.asarray(params), rtol=RTOL, atol=RTOL * 1e-2)
        for name in ("max_dist", "sum_sq_norm_grads"):
            np.testing.assert_allclose(carry[name], float(getattr(dog_state, name)), rtol=RTOL,
                                       err_msg=name)
        assert carry["max_dist"] > 0.1  # it moved far from its start (r_0 <= 1e-3)
    finally:
        jax.config.update("jax_enable_x64", before)


def test_dog_defaults_are_optaxs():
    optax = pytest.importorskip("optax")
    ours = inspect.signature(numadam.DoG).parameters
    theirs = inspect.signature(optax.contrib.dog).parameters
    assert ours["lr"].default == theirs["learning_rate"].default
    for name in ("init_step", "eps", "weight_decay"):
        assert ours[name].default == theirs[name].default, name


ADAFACTOR_CASES = [
    dict(),
    dict(lr=0.05, weight_decay=0.1),
    dict(eps=(1e-30, 1e-3), beta2_decay=-0.5, d=1.5, maximize=True),
    dict(lr=1.0),  # rho_t = 1 / sqrt(t): large steps, the update's clipping exercised
]


@pytest.mark.parametrize("options", ADAFACTOR_CASES, ids=str)
def test_adafactor_matches_torch(options, rng):
    torch = pytest.importorskip("torch")
    if not hasattr(torch.optim, "Adafactor"):  # PyTorch >= 2.5
        pytest.skip("torch.optim.Adafactor needs PyTorch 2.5 or later")
    gradient = _quadratic(rng)
    if options.get("maximize"):  # ascend the negated quadratic: the same iterates
        gradient = (lambda descend: lambda x: -descend(x))(gradient)
    x0 = rng.standard_normal(N)
    x = x0.copy()
    ours = numadam.Adafactor(x, **options)
    param = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    theirs = torch.optim.Adafactor([param], foreach=False, **options)
    for _ in range(STEPS):
        g = gradient(param.detach().numpy())
        param.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(g)
    assert np.abs(x - x0).max() > 0.5  # it moved: the step sizes and the clipping were exercised
    np.testing.assert_allclose(x, param.detach().numpy(), rtol=RTOL, atol=RTOL * 1e-2)
    variance = theirs.state[param]["variance"].numpy()
    np.testing.assert_allclose(ours.state["variance"], variance, rtol=RTOL,
                               atol=RTOL * 1e-2 * np.abs(variance).max())


@pytest.mark.parametrize("options", ADAFACTOR_CASES[:3], ids=str)
def test_factored_adafactor_matches_torch(options, rng):
    """A matrix, a stack of matrices, a vector, a row and a column, a group each, against one
    ``torch.optim.Adafactor`` over the five tensors: all but the vector factored (their row and
    column variances too)."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch.optim, "Adafactor"):
        pytest.skip("torch.optim.Adafactor needs PyTorch 2.5 or later")
    shapes = {"W": (6, 9), "U": (3, 4, 5), "b": (11,), "r": (1, 7), "c": (5, 1)}
    flat, views = numadam.ravel({key: rng.standard_normal(shape)
                                 for key, shape in shapes.items()})
    scales = np.logspace(-2, 1, flat.size)
    target = rng.standard_normal(flat.size)
    sign = -1.0 if options.get("maximize") else 1.0
    tensors = {key: torch.nn.Parameter(torch.from_numpy(view.copy()))
               for key, view in views.items()}
    ours = numadam.Adafactor([{"params": views[key]} for key in shapes], **options)
    theirs = torch.optim.Adafactor(list(tensors.values()), foreach=False, **options)
    start = flat.copy()
    for _ in range(STEPS):
        at = np.concatenate([tensors[key].detach().numpy().ravel() for key in sorted(shapes)])
        g = sign * scales * (at - target)
        grads = numadam.unravel(g, views)
        for key, tensor in tensors.items():
            tensor.grad = torch.from_numpy(grads[key].copy())
        theirs.step()
        ours.step(g)
    assert np.abs(flat - start).max() > 0.5
    for key, tensor in tensors.items():
        np.testing.assert_allclose(views[key], tensor.detach().numpy(), rtol=RTOL,
                                   atol=RTOL * 1e-2)
    # the compact state, group after group: W's and U's row then column variances, b's
    # variance, r's column variances (its one row: their mean), c's row variances
    expected = []
    for key in shapes:
        state = theirs.state[tensors[key]]
        if key == "b":
            expected.append(state["variance"].numpy().ravel())
        if key in ("W", "U", "c"):
            expected.append(state["row_var"].numpy().ravel())
        if key in ("W", "U", "r"):
            expected.append(state["col_var"].numpy().ravel())
    expected = np.concatenate(expected)
    np.testing.assert_allclose(ours.state["variance"], expected, rtol=RTOL)


@pytest.mark.parametrize("shape", [(1, 50), (50, 1), (4, 1, 1)])
def test_factored_adafactor_with_a_dimension_of_one_matches_torch_below_eps1(shape, rng):
    """Gradients so small that the row variances fall below eps1, where PyTorch's factored
    form departs from the unfactored one: numadam's one kept factor and its mean follow it."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch.optim, "Adafactor"):
        pytest.skip("torch.optim.Adafactor needs PyTorch 2.5 or later")
    x0 = rng.standard_normal(shape)
    x = x0.ravel().copy()
    ours = numadam.Adafactor(x, groups=[{"range": (0, x.size), "shape": shape}])
    param = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    theirs = torch.optim.Adafactor([param], foreach=False)
    for _ in range(20):
        g = rng.standard_normal(shape) * 1e-10
        param.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(g.ravel())
    assert np.abs(x - x0.ravel()).max() > 0.01
    np.testing.assert_allclose(x, param.detach().numpy().ravel(), rtol=RTOL, atol=1e-14)


def test_adafactor_defaults_are_torchs():
    torch = pytest.importorskip("torch")
    if not hasattr(torch.optim, "Adafactor"):
        pytest.skip("torch.optim.Adafactor needs PyTorch 2.5 or later")
    ours = inspect.signature(numadam.Adafactor).parameters
    theirs = inspect.signature(torch.optim.Adafactor).parameters
    for name in ("lr", "beta2_decay", "eps", "d", "weight_decay", "maximize"):
        assert ours[name].default == theirs[name].default, name
