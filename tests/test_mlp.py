"""The flat-vector MLP: views, initialisation, loss, gradients against finite differences."""

import numpy as np
import pytest

import numadam
from numadam import mlp as mlp_module
from numadam.mlp import MLP


def test_views_alias_the_flat_vectors():
    net = MLP((5, 4, 3), rng=0)
    assert net.params.shape == (5 * 4 + 4 + 4 * 3 + 3,)
    assert [w.shape for w in net.weights] == [(5, 4), (4, 3)]
    assert [b.shape for b in net.biases] == [(4,), (3,)]
    net.weights[1][2, 1] = 123.0
    assert 123.0 in net.params
    net.grad[:] = 7
    assert all((g == 7).all() for g in net.weight_grads + net.bias_grads)
    assert all(np.shares_memory(v, net.params) for v in net.weights + net.biases)


def test_initialisation_follows_torch_linear_bounds_and_is_seeded():
    net = MLP((784, 128, 10), rng=1)
    assert net.params.dtype == np.float32
    for weight, bias in zip(net.weights, net.biases):
        bound = 1 / np.sqrt(weight.shape[0])
        assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
        assert np.abs(weight).max() > 0.9 * bound  # really spread over the interval
    np.testing.assert_array_equal(net.params, MLP((784, 128, 10), rng=1).params)
    assert not np.array_equal(net.params, MLP((784, 128, 10), rng=2).params)


def test_gradient_matches_central_finite_differences(rng):
    net = MLP((6, 5, 4, 3), dtype=np.float64, rng=3)
    X = rng.standard_normal((7, 6))
    y = rng.integers(0, 3, 7)
    net.loss_and_grad(X, y)
    analytic = net.grad.copy()
    numeric = np.empty_like(analytic)
    h = 1e-6
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + h
        up = net.loss(X, y)
        net.params[i] = saved - h
        down = net.loss(X, y)
        net.params[i] = saved
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_loss_equals_the_textbook_formula(rng):
    net = MLP((3, 4, 5), dtype=np.float64, rng=0)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 5, 6)
    hidden = np.maximum(X @ net.weights[0] + net.biases[0], 0)
    logits = hidden @ net.weights[1] + net.biases[1]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(probabilities[np.arange(6), y]))
    assert net.loss(X, y) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(net.logits(X), logits, rtol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    net = MLP((2, 3), dtype=np.float32, rng=0)
    net.weights[0][:] = [[1e4, -1e4, 0], [0, 0, 0]]
    net.biases[0][:] = 0
    X = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
    loss = net.loss_and_grad(X, np.array([1, 1]))
    # row 0: logits (1e4, -1e4, 0), label 1 -> loss 2e4; row 1: label 1 is the max -> loss ~0
    assert np.isfinite(loss) and loss == pytest.approx(1e4, rel=1e-6)
    # d loss / d logits: row 0 is (softmax - onehot) / 2 = ((1, 0, 0) - (0, 1, 0)) / 2, row 1 is 0
    np.testing.assert_allclose(net.bias_grads[0], [0.5, -0.5, 0], atol=1e-7)
    np.testing.assert_allclose(net.weight_grads[0], [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-7)
    assert net.grad.dtype == np.float32


def test_predict_accuracy_and_shapes(rng):
    net = MLP((4, 8, 3), rng=0)
    X = rng.standard_normal((10, 4)).astype(np.float32)
    assert net.predict(X).shape == (10,)
    assert net.logits(X).shape == (10, 3)
    labels = net.predict(X)
    assert net.accuracy(X, labels) == 1.0


def test_one_optimizer_step_trains_every_layer(rng):
    net = MLP((4, 8, 3), rng=0)
    X = rng.standard_normal((32, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    opt = numadam.Adam(net.params, lr=1e-2)
    first = net.loss_and_grad(X, y)
    for _ in range(300):
        net.loss_and_grad(X, y)
        opt.step(net.grad)
    assert net.loss(X, y) < 0.25 * first


@pytest.mark.parametrize("X, y, exception, match", [
    (np.zeros((2, 5), np.float32), [0, 1], ValueError, r"shape \(n, 4\)"),
    (np.zeros(4, np.float32), None, ValueError, "2-D"),
    (np.zeros((2, 4), np.float64), [0, 1], TypeError, "dtype float64"),
    (np.zeros((2, 4), np.float32), [0, 3], ValueError, "outside 0..2"),
    (np.zeros((2, 4), np.float32), [0, -1], ValueError, "outside"),
    (np.zeros((2, 4), np.float32), [0.5, 1.0], ValueError, "integer labels"),
    (np.zeros((2, 4), np.float32), [0], ValueError, "integer labels of shape"),
    (np.zeros((0, 4), np.float32), np.zeros(0, int), ValueError, "X must hold at least one"),
    ([[0.0] * 4], None, ValueError, "X must be a 2-D array"),
])
def test_bad_inputs(X, y, exception, match):
    net = MLP((4, 3), rng=0)
    with pytest.raises(exception, match=match):
        if y is None:
            net.predict(X)
        else:
            net.loss_and_grad(X, np.asarray(y))


def test_bad_construction():
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP((784,))
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP((784, 12.5, 10))
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP((784, 0, 10))
    with pytest.raises(ValueError, match="blas_threads"):
        MLP((2, 2), blas_threads=0)
    with pytest.raises(TypeError, match="float32 or float64"):
        MLP((2, 2), dtype=np.int32)


def test_seed_and_generator_give_the_same_network():
    np.testing.assert_array_equal(MLP((6, 5, 3), rng=5).params,
                                  MLP((6, 5, 3), rng=np.random.default_rng(5)).params)


def test_float32_stays_float32(rng):
    net = MLP((4, 8, 3), rng=0)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    assert isinstance(net.loss_and_grad(X, np.arange(5) % 3), float)
    assert net.logits(X).dtype == np.float32 and net.grad.dtype == np.float32
    assert all(b.dtype == np.float32 for b in net._buffers[0] + net._buffers[1])


def test_float32_agrees_with_float64(rng):
    net64 = MLP((6, 5, 4), dtype=np.float64, rng=2)
    net32 = MLP((6, 5, 4), rng=2)
    np.testing.assert_allclose(net32.params, net64.params, rtol=1e-7)
    X, y = rng.standard_normal((9, 6)), rng.integers(0, 4, 9)
    assert net32.loss_and_grad(X.astype(np.float32), y) == pytest.approx(
        net64.loss_and_grad(X, y), rel=1e-5)
    np.testing.assert_allclose(net32.grad, net64.grad, rtol=1e-4, atol=1e-6)


def test_gradient_is_written_in_place_and_loss_leaves_it_alone(rng):
    net = MLP((4, 8, 3), rng=0)
    grad, first_view = net.grad, net.weight_grads[0]
    X = rng.standard_normal((5, 4)).astype(np.float32)
    net.loss_and_grad(X, np.arange(5) % 3)
    saved = net.grad.copy()
    net.loss(X[:3], np.zeros(3, int))
    assert net.grad is grad and net.weight_grads[0] is first_view
    np.testing.assert_array_equal(net.grad, saved)


def test_changing_batch_sizes_reuse_buffers_correctly(rng):
    """Growing and shrinking batches (the buffers are row slices) give a fresh net's answer."""
    net = MLP((6, 7, 3), dtype=np.float64, rng=4)
    X, y = rng.standard_normal((20, 6)), rng.integers(0, 3, 20)
    for rows in (5, 20, 3, 20, 1, 5):
        loss = net.loss_and_grad(X[:rows], y[:rows])
        fresh = MLP((6, 7, 3), dtype=np.float64, rng=4)
        assert loss == fresh.loss_and_grad(X[:rows], y[:rows])
        np.testing.assert_array_equal(net.grad, fresh.grad)
    assert net._capacity == 20


def test_predict_and_logits_in_chunks_match_one_pass(rng, monkeypatch):
    net = MLP((4, 8, 3), dtype=np.float64, rng=0)
    X = rng.standard_normal((10, 4))
    whole_logits, whole_classes = net.logits(X), net.predict(X)
    monkeypatch.setattr(mlp_module, "EVAL_CHUNK_ROWS", 3)
    fresh = MLP((4, 8, 3), dtype=np.float64, rng=0)
    # BLAS may take another code path for a 1-row chunk: equal to rounding
    np.testing.assert_allclose(fresh.logits(X), whole_logits, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(fresh.predict(X), whole_classes)
    assert fresh._capacity == 3  # evaluation kept only a chunk's worth of buffers
    np.testing.assert_array_equal(whole_classes, whole_logits.argmax(axis=1))
    y = whole_classes.copy()
    y[:4] = (y[:4] + 1) % 3
    assert fresh.accuracy(X, y) == pytest.approx(0.6)


def test_blas_is_limited_during_a_call_and_restored_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    libraries = mlp_module._blas_libraries()
    if not libraries:
        pytest.skip("no BLAS library visible to threadpoolctl")
    seen = []
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with mlp_module._BlasThreads(1):
            seen.append([lib.get_num_threads() for lib in libraries])
        assert [lib.get_num_threads() for lib in libraries] == [2] * len(libraries)
        with mlp_module._BlasThreads(None):
            seen.append([lib.get_num_threads() for lib in libraries])
    assert seen == [[1] * len(libraries), [2] * len(libraries)]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("call", ["loss_and_grad", "loss", "predict", "logits", "accuracy"])
def test_non_finite_inputs_raise_instead_of_returning_nan(bad, call, monkeypatch):
    monkeypatch.setattr(mlp_module, "EVAL_CHUNK_ROWS", 2)  # the bad row in the second chunk
    net = MLP((4, 3, 2), rng=0)
    X = np.ones((4, 4), np.float32)
    X[3, 1] = bad
    y = np.array([0, 1, 1, 0])
    before = X.copy()
    arguments = (X, y) if call in ("loss_and_grad", "loss", "accuracy") else (X,)
    with pytest.raises(ValueError, match="X holds non-finite values .* first at row 3"):
        getattr(net, call)(*arguments)
    np.testing.assert_array_equal(X, before)


def test_non_finite_params_are_named():
    net = MLP((4, 3, 2), rng=0)
    net.params[0] = np.nan
    with pytest.raises(ValueError, match="params hold non-finite values"):
        net.loss(np.ones((2, 4), np.float32), np.array([0, 1]))
