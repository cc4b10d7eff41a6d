"""Rules with a reduction stage (per-step global sums: Prodigy's, Adafactor's norms) on every
front end: what runs them, what falls back to a loop that can, and what refuses them by
name."""

import math

import numba
import numpy as np
import pytest

import numadam
from numadam import _minimize, _reference, kernels
from numadam.rules import REDUCTION_BLOCK, REDUCTION_LANES
from tests.rule_table import BY_METHOD, ReferenceRun

REDUCING = [row.method for row in BY_METHOD.values() if row.cls.variant.rule.reduction]

#: hyperparameters that make a method converge from 0 in 300 steps: Adafactor's step is relative
#: to the parameters' RMS, floored at eps2 = 1e-3, so at lr 1e-2 it leaves 0 at 1e-5 a step
START_FROM_ZERO = {"adafactor": {"lr": 0.1}}


def _f(x):
    return float(np.sum(np.arange(1.0, x.size + 1) * (x - 1.0) ** 2))


def _g(x):
    return 2.0 * np.arange(1.0, x.size + 1) * (x - 1.0)


@numba.njit
def _f_jit(x):
    return np.sum(np.arange(1.0, x.size + 1) * (x - 1.0) ** 2)


@numba.njit
def _g_jit(x):
    return 2.0 * np.arange(1.0, x.size + 1) * (x - 1.0)


#: the capabilities of the reduction stage the loops carry: two passes (Prodigy); one fused pass,
#: and with decoupled decay a second one (D-Adapt Adam); a first-step flag among the step
#: scalars (DoG); sums that are means over the vector (Adafactor). Each compiles two loops of
#: its own (lean and compiled): DoG's and Adafactor's run with -m slow (their finish and step
#: scalars compile in the fast suite, below).
LOOP_CASES = [pytest.param("prodigy", {}, id="prodigy"),
              pytest.param("dadapt_adam", {}, id="dadapt_adam"),
              pytest.param("dadapt_adam", {"weight_decay": 0.1, "decouple": True},
                           id="dadapt_adam-decoupled"),
              pytest.param("dog", {}, id="dog", marks=pytest.mark.slow),
              pytest.param("adafactor", {"lr": 0.1}, id="adafactor", marks=pytest.mark.slow)]


@pytest.mark.parametrize("method, hyperparameters", LOOP_CASES)
def test_every_minimize_loop_steps_it_as_the_optimizer_class(method, hyperparameters,
                                                             monkeypatch):
    """The compiled loop (jitted objective), the lean loop (a Python objective) and the Python
    loop (a callback) each take the optimizer class's own steps, bitwise; a run resumed from
    its state (``result.state``) continues it bitwise in the compiled loop too."""
    chosen = []
    choose = _minimize.choose_loop
    monkeypatch.setattr(_minimize, "choose_loop",
                        lambda *a, **k: chosen.append(choose(*a, **k)) or chosen[-1])
    x0, options = np.zeros(6), dict(maxiter=300, return_best=False, **hyperparameters)
    jitted = numadam.minimize(_f_jit, x0, method=method, jac=_g_jit, options=options)
    plain = numadam.minimize(_f, x0, method=method, jac=_g, options=options)
    python = numadam.minimize(_f, x0, method=method, jac=_g, callback=lambda r: None,
                              options=options)
    assert chosen == ["compiled", "lean", "python"]
    opt = BY_METHOD[method].cls(x0.copy(), **hyperparameters)
    for _ in range(300):
        opt.step(_g(opt.param))
    for result in (jitted, plain, python):
        np.testing.assert_array_equal(result.x, opt.param)
        assert result.nit == 300
        assert result.state.get("carry") == opt.state_dict().get("carry")
    assert jitted.fun < 1e-3 * _f(x0) or hyperparameters.get("weight_decay")
    half = numadam.minimize(_f_jit, x0, method=method, jac=_g_jit,
                            options=dict(options, maxiter=150))
    rest = numadam.minimize(_f_jit, half.x, method=method, jac=_g_jit,
                            options=dict(options, maxiter=150, state=half.state))
    np.testing.assert_array_equal(rest.x, opt.param)


@pytest.mark.parametrize("method", REDUCING)
def test_finish_and_step_scalars_compile_as_they_run_in_python(method):
    """What the compiled loops call on the host's behalf: the rule's ``step_scalars`` and
    ``finish``, compiled by Numba, give the Python functions' values, for a first step and a
    later one, with sums that end a step early (zeros) and sums that do not."""
    rule = BY_METHOD[method].cls.variant.rule
    opt = BY_METHOD[method].cls(np.zeros(3))
    inputs = opt.compiled_step().inputs
    step_scalars = numba.njit(rule.step_scalars)
    finish = numba.njit(rule.reduction.finish)
    for step, carry in ((1, rule.carry), (7, tuple(0.5 + i for i in range(len(rule.carry))))):
        scalars, carry = rule.step_scalars(inputs, carry, step)
        assert step_scalars(inputs, carry, step) == rule.step_scalars(inputs, carry, step)
        for sums in ((0.0, 0.0), (0.25, 3.0)):
            assert finish(inputs, carry, step, sums) == rule.reduction.finish(inputs, carry,
                                                                               step, sums)


@pytest.mark.parametrize("method, hyperparameters", LOOP_CASES)
def test_the_jitted_batch_equals_separate_minimize_runs_bitwise(method, hyperparameters, rng):
    """minimize_batch's jitted form runs each problem's compiled loop with its own state and
    carry: every row is minimize's answer for it, with a per-problem hyperparameter (lr, or
    Prodigy's and D-Adapt Adam's d0), and a batch resumed from its state continues bitwise."""
    X0 = rng.standard_normal((4, 6))
    name = "d0" if method in ("prodigy", "dadapt_adam") else "lr"
    values = np.array([1e-6, 1e-3, 1e-2, 1e-1] if name == "d0" else [0.05, 0.1, 0.2, 0.4])
    options = dict(maxiter=120, return_best=False, **hyperparameters)
    batch = numadam.minimize_batch(_f_jit, X0, method=method, jac=_g_jit,
                                   options=dict(options, **{name: values}))
    assert batch.compiled
    for b in range(4):
        alone = numadam.minimize(_f_jit, X0[b], method=method, jac=_g_jit,
                                 options=dict(options, **{name: values[b]}))
        np.testing.assert_array_equal(batch.x[b], alone.x)
        assert batch.nit[b] == alone.nit and batch.fun[b] == alone.fun
    half = numadam.minimize_batch(_f_jit, X0, method=method, jac=_g_jit,
                                  options=dict(options, maxiter=60, **{name: values}))
    rest = numadam.minimize_batch(_f_jit, half.x, method=method, jac=_g_jit,
                                  options=dict(options, maxiter=60, state=half.state,
                                               **{name: values}))
    np.testing.assert_array_equal(rest.x, batch.x)


def _rows_f(X):
    return np.sum(np.arange(1.0, X.shape[1] + 1) * (X - 1.0) ** 2, axis=1)


def _rows_g(X):
    return 2.0 * np.arange(1.0, X.shape[1] + 1) * (X - 1.0)


@pytest.mark.parametrize("method, hyperparameters", LOOP_CASES)
def test_the_vectorized_batch_equals_separate_minimize_runs_bitwise(method, hyperparameters,
                                                                    rng):
    """minimize_batch's vectorized form (a Python ``fun`` of the rows) takes each problem's
    whole step on its row, its sums over the row: every row is minimize's answer for it."""
    X0 = rng.standard_normal((4, 6))
    options = dict(maxiter=120, return_best=False, **hyperparameters)
    batch = numadam.minimize_batch(_rows_f, X0, method=method, jac=_rows_g, options=options)
    assert not batch.compiled
    for b in range(4):
        alone = numadam.minimize(_f, X0[b], method=method, jac=_g, options=options)
        np.testing.assert_array_equal(batch.x[b], alone.x)
        assert batch.nit[b] == alone.nit and batch.fun[b] == alone.fun


@pytest.mark.parametrize("method", REDUCING)
def test_state_dict_resumes_bitwise(method, rng):
    row = BY_METHOD[method]
    x0 = rng.standard_normal(50)
    whole, first = row.cls(x0.copy(), **row.sample), row.cls(x0.copy(), **row.sample)
    grads = [rng.standard_normal(50) for _ in range(20)]
    for g in grads:
        whole.step(g)
    for g in grads[:10]:
        first.step(g)
    second = row.cls(first.param.copy(), **row.sample)
    second.load_state_dict(first.state_dict())
    for g in grads[10:]:
        second.step(g)
    np.testing.assert_array_equal(second.param, whole.param)
    # a rule without carried scalars (Adafactor) has no "carry" entry
    assert second.state_dict().get("carry") == whole.state_dict().get("carry")


#: vector lengths and the entries skipped in them: within one row of lanes; over three blocks
#: (a partial last row and block, skipped entries at the rows' and blocks' edges and a whole row);
#: the same where the threaded loops run
_ROW, _BLOCK = REDUCTION_LANES, REDUCTION_BLOCK
_EDGES = [0, 3, _ROW - 1, _ROW, *range(2 * _ROW, 3 * _ROW), _BLOCK - 1, _BLOCK, 2 * _BLOCK + 1]
SKIPPED = {"one row": (40, [3, 17]),
           "three blocks": (2 * _BLOCK + 300, [*_EDGES, 2 * _BLOCK + 299]),
           "threaded": (kernels.PARALLEL_THRESHOLD + 300,
                        [*_EDGES, 8 * _BLOCK - 1, 8 * _BLOCK + 299])}


@pytest.mark.parametrize("n, skipped", SKIPPED.values(), ids=SKIPPED.keys())
@pytest.mark.parametrize("method", REDUCING)
def test_nonfinite_gradient_entries_are_skipped_in_both_passes(method, n, skipped, rng):
    """With check_finite=True the entries are left as they were and add nothing to the sums:
    as the reference stepping the whole vector with zero gradients there (the entries start
    at 0, without weight decay, so that a zero gradient leaves them, and their state, at 0 and
    adds 0 to the sums). The whole vector, not the finite entries alone: Adafactor's sums are
    means over all ``n`` elements. Over several blocks, the sums are the reference's bitwise:
    the lanes' order (numadam.rules.REDUCTION_LANES) in the serial and the threaded loops."""
    row = BY_METHOD[method]
    options = {k: v for k, v in row.sample.items() if k != "weight_decay"}
    keep = np.ones(n, bool)
    keep[skipped] = False
    x0 = np.where(keep, rng.standard_normal(n), 0.0)
    opt = row.cls(x0.copy(), **options)
    reference = ReferenceRun(row, x0.copy(), options)
    for step in range(5):
        g = rng.standard_normal(n)
        reference.step(np.where(keep, g, 0.0))
        if step == 2:
            g[~keep] = np.where(np.arange(len(skipped)) % 2, np.nan, -np.inf)
            with pytest.raises(numadam.NonFiniteGradientError, match=f"{len(skipped)} non-f"):
                opt.step(g)
        else:
            g[~keep] = 0.0  # what the skipped entries would have done is not compared
            opt.step(g)
    np.testing.assert_array_equal(opt.param, reference.x)


def test_the_reference_sums_in_the_kernels_order(rng):
    """``_reference``'s NumPy form of the sums is the order the kernels document, written out as
    a loop: lanes down each block's rows, then the lanes, then the blocks, each from 0.0."""

    def written_out(terms):
        total = 0.0
        for start in range(0, len(terms), _BLOCK):
            lanes = [0.0] * _ROW
            for offset, term in enumerate(terms[start:start + _BLOCK]):
                lanes[offset % _ROW] += term
            block = 0.0
            for lane in lanes:
                block += lane
            total += block
        return total

    assert (_reference.REDUCTION_BLOCK, _reference.REDUCTION_LANES) == (_BLOCK, _ROW)
    for n in (0, 1, _ROW - 1, _ROW + 1, _BLOCK, 2 * _BLOCK + 300):
        terms = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 9, n)
        assert _reference._blocked_sum(terms) == written_out(terms.tolist())
    assert math.copysign(1, _reference._blocked_sum(np.full(3, -0.0))) == 1  # 0.0 + -0.0
