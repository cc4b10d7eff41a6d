"""The objective adapters' finite differences: numadam's copies of SciPy's step rules equal
SciPy's own (they stand in where a SciPy lacks those privates), bit for bit."""

import numpy as np
import pytest
from scipy.optimize import _numdiff

import numadam
from numadam import _objective


@pytest.mark.parametrize("method", ["2-point", "3-point", "cs"])
@pytest.mark.parametrize("relative", [None, 1e-3, "some zero"])
def test_the_absolute_step_is_scipys(rng, method, relative):
    x0 = np.concatenate([rng.normal(0, 10, 20), [0.0, -0.0, 1e-300, -5.0]])
    for f0 in (np.float64(1.5), np.float32(1.5)):
        for x in (x0, x0.astype(np.float32), x0.reshape(4, 6)):
            rel_step = relative
            if relative == "some zero":  # a step of 0 falls back on the default one
                rel_step = np.where(np.arange(x.size) % 2, 0.0, 1e-4).reshape(x.shape)
            ours = _objective.absolute_step(rel_step, x, f0, method)
            scipys = _numdiff._compute_absolute_step(rel_step, x, f0, method)
            np.testing.assert_array_equal(ours, scipys)
            assert ours.dtype == scipys.dtype


@pytest.mark.parametrize("scheme, num_steps", [("1-sided", 1), ("1-sided", 2), ("2-sided", 1),
                                               ("2-sided", 2)])
def test_the_adjustment_to_the_bounds_is_scipys(rng, scheme, num_steps):
    x0 = rng.uniform(-1, 1, (50, 3))
    h = rng.choice([-1, 1], x0.shape) * 10.0 ** rng.uniform(-8, 0.5, x0.shape)
    lower = x0 - rng.choice([0.0, 1e-9, 0.3, np.inf], x0.shape)
    upper = x0 + rng.choice([0.0, 1e-9, 0.3, np.inf], x0.shape)
    for bounds in ((lower, upper), (np.full_like(x0, -np.inf), np.full_like(x0, np.inf))):
        ours = _objective.adjust_scheme_to_bounds(x0, h, num_steps, scheme, *bounds)
        scipys = _numdiff._adjust_scheme_to_bounds(x0, h, num_steps, scheme, *bounds)
        for a, b in zip(ours, scipys):
            np.testing.assert_array_equal(a, b)


def without_scipys_numdiff(monkeypatch):
    monkeypatch.setattr(_objective, "scipy_numdiff", lambda: None)
    _objective.step_rules.cache_clear()
    monkeypatch.setattr(_objective, "step_rules",
                        lambda: (_objective.absolute_step, _objective.adjust_scheme_to_bounds))


def quartic(x):
    return float(np.sum((x - 0.3) ** 4) + x[0] * x[-1])


@pytest.mark.parametrize("jac", ["2-point", "3-point"])
@pytest.mark.parametrize("bounds, rel_step", [(None, None), ([(0.25, 0.5), (0.3, 0.3), (-1, 2)],
                                                             None), (None, 1e-5)])
def test_minimize_differences_without_scipys_numdiff_are_the_same(monkeypatch, jac, bounds,
                                                                   rel_step):
    options = {"maxiter": 40, "lr": 0.05, "finite_diff_rel_step": rel_step}
    run = [numadam.minimize(quartic, [0.5, 0.3, 1.0], jac=jac, bounds=bounds, options=options)]
    without_scipys_numdiff(monkeypatch)
    run.append(numadam.minimize(quartic, [0.5, 0.3, 1.0], jac=jac, bounds=bounds,
                                options=options))
    np.testing.assert_array_equal(run[0].x, run[1].x)
    assert (run[0].fun, run[0].nfev, run[0].nit) == (run[1].fun, run[1].nfev, run[1].nit)
    with pytest.raises(ImportError, match="jac='cs' needs"):
        numadam.minimize(quartic, [0.5, 0.3, 1.0], jac="cs")


def test_batch_differences_without_scipys_step_rules_are_the_same(monkeypatch):
    def rows(X):
        return np.sum((X - 0.3) ** 4, axis=1) + X[:, 0] * X[:, -1]

    X0 = np.array([[0.5, 0.3, 1.0], [-0.2, 0.1, 0.4]])
    lower = np.array([[0.25, 0.3, -1], [-1, -1, -1]])
    upper = np.array([[0.5, 0.3, 2], [1, 1, 1]])
    kwargs = dict(jac="3-point", bounds=(lower, upper), options={"maxiter": 30, "lr": 0.05})
    batch = [numadam.minimize_batch(rows, X0, **kwargs)]
    without_scipys_numdiff(monkeypatch)
    batch.append(numadam.minimize_batch(rows, X0, **kwargs))
    np.testing.assert_array_equal(batch[0].x, batch[1].x)
    np.testing.assert_array_equal(batch[0].nfev, batch[1].nfev)
