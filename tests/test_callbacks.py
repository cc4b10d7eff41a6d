"""numadam.callbacks (issue 22): History, CSVLogger and ProgressBar record and draw what they
claim, in minimize and minimize_batch; ``intermediate_result`` carries ``nit``, ``lr`` and
``grad_norm``; ``options={"progress": True}``; tqdm's bar and the fallback without tqdm.

Only Python objectives (test_minimize's quadratic, test_batch's vectorized fit): a callback runs
minimize's Python loop and the batch's vectorized form, so this file compiles next to nothing.
"""

import csv
import io
import math
import sys

import numpy as np
import pytest

import numadam
from numadam.callbacks import CSVLogger, History, ProgressBar, chain
from tests.test_batch import OBJECTIVES, decay_data
from tests.test_minimize import quadratic, quadratic_grad

X0 = [1.0, 2.0, 3.0]


class Seen:
    """Every intermediate_result, as given."""

    def __init__(self):
        self.results = []

    def __call__(self, intermediate_result):
        self.results.append(dict(intermediate_result))


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` raises ImportError


def test_intermediate_result_carries_nit_lr_and_the_gradient_norm():
    seen = Seen()
    numadam.minimize(quadratic, X0, jac=quadratic_grad, callback=seen,
                     options={"lr": 0.1, "maxiter": 6, "schedule": lambda k: 0.1 / (k + 1)})
    assert [r["nit"] for r in seen.results] == [1, 2, 3, 4, 5, 6]
    assert [r["lr"] for r in seen.results] == [0.1 / k for k in range(1, 7)]
    for r in seen.results:
        assert r["grad_norm"] == math.hypot(*r["jac"])


@pytest.mark.parametrize("every", [1, 3])
def test_history_arrays_equal_the_values_seen(every):
    seen, history = Seen(), History(every=every, keep_x=True)
    result = numadam.minimize(quadratic, X0, jac=quadratic_grad, callback=chain(seen, history),
                              options={"lr": 0.05, "maxiter": 10})
    kept = seen.results[every - 1::every]
    assert len(history) == len(kept) == 10 // every
    np.testing.assert_array_equal(history.iteration, [r["nit"] for r in kept])
    np.testing.assert_array_equal(history.fun, [r["fun"] for r in kept])
    np.testing.assert_array_equal(history.grad_norm, [r["grad_norm"] for r in kept])
    np.testing.assert_array_equal(history.lr, 0.05)
    np.testing.assert_array_equal(history.x, [r["x"] for r in kept])
    assert history.iteration.dtype == np.int64 and history.fun.dtype == np.float64
    assert history.fun[-1] == result.fun or every != 1


def test_history_of_a_batch_has_a_column_per_problem():
    fun, jac = OBJECTIVES["vectorized"]
    T, Y, _ = decay_data(np.random.default_rng(1))
    lrs = np.linspace(0.01, 0.05, T.shape[0])
    history, seen = History(), Seen()
    result = numadam.minimize_batch(fun, np.ones((T.shape[0], 2)), jac=jac, batch_args=(T, Y),
                                    callback=chain(seen, history),
                                    options={"lr": lrs, "maxiter": 4})
    assert history.fun.shape == history.grad_norm.shape == history.lr.shape == (4, T.shape[0])
    np.testing.assert_array_equal(history.fun[-1], result.fun)
    np.testing.assert_array_equal(history.grad_norm[-1], np.linalg.norm(result.jac, axis=1))
    np.testing.assert_array_equal(history.lr[0], lrs)
    np.testing.assert_array_equal(history.iteration, [1, 2, 3, 4])


def test_csv_logger_writes_what_history_records(tmp_path):
    path = tmp_path / "run.csv"
    history = History(every=2)
    with CSVLogger(path, every=2) as logger:
        numadam.minimize(quadratic, X0, jac=quadratic_grad, callback=chain(history, logger),
                         options={"lr": 0.05, "maxiter": 7})
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["iteration", "fun", "grad_norm", "lr"]
    table = np.array(rows[1:], float)
    np.testing.assert_array_equal(table[:, 0], [2, 4, 6])
    np.testing.assert_array_equal(table[:, 1], history.fun)  # repr: exact round trip
    np.testing.assert_array_equal(table[:, 2], history.grad_norm)
    np.testing.assert_array_equal(table[:, 3], 0.05)


def test_csv_logger_writes_a_line_per_problem_of_a_batch(tmp_path):
    fun, jac = OBJECTIVES["vectorized"]
    T, Y, _ = decay_data(np.random.default_rng(1))
    path = tmp_path / "batch.csv"
    with CSVLogger(path) as logger:
        result = numadam.minimize_batch(fun, np.ones((T.shape[0], 2)), jac=jac,
                                        batch_args=(T, Y), callback=logger,
                                        options={"maxiter": 2})
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["problem", "iteration", "fun", "grad_norm", "lr"]
    assert len(rows) == 1 + 2 * T.shape[0]
    last = np.array(rows[-T.shape[0]:], float)
    np.testing.assert_array_equal(last[:, 0], np.arange(T.shape[0]))
    np.testing.assert_array_equal(last[:, 2], result.fun)


def test_progress_option_draws_one_rewritten_line_on_stderr_without_tqdm(no_tqdm, capsys):
    result = numadam.minimize(quadratic, X0, jac=quadratic_grad,
                              options={"maxiter": 30, "progress": True})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("\r[") and captured.err.endswith("30/30 fun="
                                                                    f"{result.fun:.6g}\x1b[K\n")
    assert captured.err.count("\n") == 1


def test_progress_option_in_minimize_batch(no_tqdm, capsys):
    fun, jac = OBJECTIVES["vectorized"]
    T, Y, _ = decay_data(np.random.default_rng(1))
    numadam.minimize_batch(fun, np.ones((T.shape[0], 2)), jac=jac, batch_args=(T, Y),
                           options={"maxiter": 5, "progress": True})
    err = capsys.readouterr().err
    assert "5/5 fun=" in err and "(min)" in err and err.endswith("\n")


def test_progress_bar_by_hand_erased_when_not_left(no_tqdm):
    stream = io.StringIO()
    with ProgressBar(total=3, desc="Epoch 1", leave=False, file=stream, mininterval=0) as bar:
        for _ in range(3):
            bar.update(loss="0.5")
    text = stream.getvalue()
    assert "\rEpoch 1: [" in text and "3/3 loss=0.5" in text and text.endswith("\r\x1b[K")
    assert bar.n == 3


def test_progress_bar_with_tqdm():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    numadam.minimize(quadratic, X0, jac=quadratic_grad, callback=ProgressBar(
        total=20, file=stream, mininterval=0), options={"maxiter": 20})
    assert "20/20" in stream.getvalue()


def test_callbacks_cost_nothing_when_off():
    from numadam._minimize import choose_loop
    from numadam._options import minimize_settings

    x = np.array(X0)
    settings = minimize_settings("adam", {"progress": False}, quadratic_grad, 2)
    step = numadam.Adam(x.copy()).compiled_step()
    assert choose_loop(settings, step, x, quadratic, quadratic_grad, None) == "lean"


@pytest.mark.parametrize("make, error, match", [
    (lambda: History(every=0), ValueError, "every must be a positive integer"),
    (lambda: CSVLogger("/nonexistent/folder/run.csv"), OSError, "run.csv"),
    (lambda: numadam.minimize(quadratic, X0, options={"progress": "yes"}), TypeError,
     "progress must be True or False"),
    (lambda: History().x, AttributeError, "keep_x"),
])
def test_bad_inputs(make, error, match):
    with pytest.raises(error, match=match):
        make()
