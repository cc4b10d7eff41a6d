"""Trajectories against ``optax`` itself, for the rules that follow optax rather than PyTorch
(PyTorch has no Lion). optax and JAX are not dependencies: the tests skip without them.

optax runs eagerly here, one dispatched operation at a time, so XLA fuses nothing and each
operation rounds once, as numadam's kernels do.
"""

import numpy as np
import pytest

import numadam

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

STEPS = 150
N = 257


@pytest.fixture
def jax_x64():
    """float64 in JAX for the test's duration, then the setting as it was."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


LION_CASES = [
    dict(),
    dict(lr=1e-2, weight_decay=0.0),
    dict(lr=1e-2, betas=(0.3, 0.9), weight_decay=0.1),
    dict(lr=1e-2, weight_decay=0.1, maximize=True),
    dict(lr=3e-3, betas=(0.0, 0.5), maximize=True),
]


def _optax_lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=1e-3, maximize=False):
    """``optax.lion`` with numadam's names; ``maximize`` negates the gradient."""
    return optax.lion(learning_rate=lr, b1=betas[0], b2=betas[1],
                      weight_decay=weight_decay), maximize


@pytest.mark.usefixtures("jax_x64")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", LION_CASES, ids=str)
def test_lion_trajectory_matches_optax_bitwise(options, dtype, rng):
    x0 = rng.standard_normal(N).astype(dtype)
    x = x0.copy()
    ours = numadam.Lion(x, **options)
    solver, maximize = _optax_lion(**options)
    params = jnp.asarray(x0.copy())
    assert params.dtype == dtype
    opt_state = solver.init(params)
    for _ in range(STEPS):
        g = (rng.standard_normal(N) * rng.uniform(0.1, 10)).astype(dtype)
        theirs_g = jnp.asarray(-g if maximize else g)
        updates, opt_state = solver.update(theirs_g, opt_state, params)
        params = optax.apply_updates(params, updates)
        ours.step(g)
    assert np.asarray(params).dtype == dtype
    # every operation in the same order and dtype: the same bits, state included
    np.testing.assert_array_equal(x, np.asarray(params))
    mu = opt_state[0].mu
    np.testing.assert_array_equal(ours.state["exp_avg"], np.asarray(mu))


def test_lion_defaults_are_optax_defaults():
    import inspect

    parameters = inspect.signature(numadam.Lion).parameters
    optax_parameters = inspect.signature(optax.lion).parameters
    assert parameters["betas"].default == (optax_parameters["b1"].default,
                                           optax_parameters["b2"].default)
    assert parameters["weight_decay"].default == optax_parameters["weight_decay"].default
    assert parameters["lr"].default == 1e-4


def _optax_adopt(lr=1e-3, betas=(0.9, 0.9999), eps=1e-6, nesterov=False, use_clipping=True,
                 maximize=False):
    return optax.contrib.adopt(learning_rate=lr, b1=betas[0], b2=betas[1], eps=eps,
                               nesterov=nesterov, use_clipping=use_clipping), maximize


def _optax_ademamix(lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=5.0, eps=1e-8, eps_root=0.0,
                    weight_decay=0.0, maximize=False):
    return optax.contrib.ademamix(learning_rate=lr, b1=betas[0], b2=betas[1], b3=betas[2],
                                  alpha=alpha, eps=eps, eps_root=eps_root,
                                  weight_decay=weight_decay), maximize


CONTRIB_CASES = [
    (numadam.ADOPT, _optax_adopt, dict()),
    (numadam.ADOPT, _optax_adopt, dict(lr=1e-2, nesterov=True, maximize=True)),
    (numadam.ADOPT, _optax_adopt, dict(lr=1e-2, betas=(0.3, 0.9), eps=1e-3,
                                       use_clipping=False)),
    (numadam.AdEMAMix, _optax_ademamix, dict()),
    (numadam.AdEMAMix, _optax_ademamix, dict(lr=1e-2, alpha=2.0, betas=(0.9, 0.999, 0.99),
                                             weight_decay=0.1, maximize=True)),
    (numadam.AdEMAMix, _optax_ademamix, dict(lr=1e-2, betas=(0.3, 0.9, 0.999), eps_root=1e-8)),
]


@pytest.mark.usefixtures("jax_x64")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls, peer, options", CONTRIB_CASES,
                         ids=[f"{c[0].__name__}-{c[2]}" for c in CONTRIB_CASES])
def test_optax_contrib_trajectory_matches_bitwise(cls, peer, options, dtype, rng):
    """ADOPT and AdEMAMix against ``optax.contrib``: the same bits in both dtypes, state
    included (XLA's CPU division by a scalar, a multiplication by its reciprocal, reproduced)."""
    x0 = rng.standard_normal(N).astype(dtype)
    x = x0.copy()
    ours = cls(x, **options)
    solver, maximize = peer(**options)
    params = jnp.asarray(x0.copy())
    opt_state = solver.init(params)
    for _ in range(STEPS):
        g = (rng.standard_normal(N) * rng.uniform(0.1, 10)).astype(dtype)
        updates, opt_state = solver.update(jnp.asarray(-g if maximize else g), opt_state, params)
        params = optax.apply_updates(params, updates)
        ours.step(g)
    assert np.asarray(params).dtype == dtype
    np.testing.assert_array_equal(x, np.asarray(params))
    state = opt_state[0]
    theirs = ({"exp_avg": state.mu, "exp_avg_sq": state.nu} if cls is numadam.ADOPT else
              {"exp_avg_fast": state.m1, "exp_avg_slow": state.m2, "exp_avg_sq": state.nu})
    for name, vector in theirs.items():
        np.testing.assert_array_equal(ours.state[name], np.asarray(vector), err_msg=name)


@pytest.mark.parametrize("cls, peer, names", [
    (numadam.ADOPT, "adopt", dict(eps="eps", nesterov="nesterov", use_clipping="use_clipping")),
    (numadam.AdEMAMix, "ademamix", dict(alpha="alpha", eps="eps", eps_root="eps_root",
                                        weight_decay="weight_decay")),
])
def test_optax_contrib_defaults_are_optax_defaults(cls, peer, names):
    import inspect

    parameters = inspect.signature(cls).parameters
    optax_parameters = inspect.signature(getattr(optax.contrib, peer)).parameters
    betas = tuple(optax_parameters[b].default for b in ("b1", "b2", "b3")
                  if b in optax_parameters)
    assert parameters["betas"].default == betas
    for ours, theirs in names.items():
        assert parameters[ours].default == optax_parameters[theirs].default, ours
    # optax has no default learning rate: 1e-3 is the authors' (their PyTorch code's)
    assert parameters["lr"].default == 1e-3
