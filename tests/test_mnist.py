"""The MNIST experiment end to end: accuracy targets, printed lines, the command line, the plot."""

import io
import re
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from numadam import mnist
from numadam.__main__ import main as cli
from numadam.datasets import load_mnist
from tests.mnist_files import MNIST_DIR, requires_mnist

pytestmark = requires_mnist


@pytest.fixture(scope="module")
def data():
    return load_mnist(MNIST_DIR, download=False)


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_figures():
    """What README.md says ``python -m numadam mnist`` prints (seed 0): the first epoch's
    average loss and the last epoch's test accuracy, in percent."""
    text = README.read_text()
    block = text[text.index("What `python -m numadam mnist` prints"):]
    loss = float(re.search(r"Epoch 1, Average Loss: ([\d.]+)", block).group(1))
    accuracy = float(re.search(r"Epoch 5, Average Loss: [\d.]+\n\s*Test Accuracy: ([\d.]+)%",
                               block).group(1))
    return loss, accuracy


def test_the_command_prints_the_readmes_figures(capsys):
    """``python -m numadam mnist`` with its defaults (PyTorch's example: Adam, lr 1e-3, batch
    64, 5 full epochs, seed 0) prints the figures README.md shows: the first epoch's loss within
    0.01 and the final accuracy within 0.3 points (another machine's BLAS may round its sums
    otherwise), and >= 97.3% in any case."""
    loss, accuracy = readme_figures()
    assert cli(["mnist", "--data-dir", str(MNIST_DIR)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11  # a header, then 2 lines per epoch
    assert lines[0].startswith("MNIST: 60000 training") and lines[0].endswith(
        "adam(lr=0.001), batch 64, seed 0")
    assert lines[1].startswith("Epoch 1, Average Loss: ")
    assert all(line.startswith("Test Accuracy: ") for line in lines[2::2])
    first_loss = float(lines[1].rsplit(" ", 1)[1])
    final = float(re.search(r"Test Accuracy: ([\d.]+)%", lines[-1]).group(1))
    assert abs(first_loss - loss) <= 0.01, (lines[1], loss)
    assert abs(final - accuracy) <= 0.3 and final >= 97.3, (lines[-1], accuracy)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_the_experiment_reaches_its_accuracy_for_other_seeds(data, seed):
    """The PyTorch example's settings, 5 full epochs, the seeds README.md names besides 0:
    >= 97.3% and its first-epoch loss."""
    lines = []
    history = mnist.train(data, epochs=5, batch_size=64, lr=1e-3, optimizer="adam", seed=seed,
                          out=lines.append)
    assert history.test_accuracy[-1] >= 0.973
    assert 0.29 <= history.train_loss[0] <= 0.37
    assert lines[0].startswith("Epoch 1, Average Loss: ")
    assert lines[1].startswith("Test Accuracy: ")
    assert len(lines) == 10


def test_sgd_comparison_learns_more_slowly(data):
    adam = mnist.train(data, epochs=1, optimizer="adam", lr=1e-3, train_subset=10_000,
                       out=lambda line: None)
    sgd = mnist.train(data, epochs=1, optimizer="sgd", lr=1e-2, train_subset=10_000,
                      out=lambda line: None)
    assert adam.test_accuracy[0] > 0.85 and sgd.test_accuracy[0] > 0.5
    assert adam.test_accuracy[0] > sgd.test_accuracy[0]


def test_command_line_smoke_run_and_plot(tmp_path, capsys):
    png = tmp_path / "curves.png"
    status = cli(["mnist", "--epochs", "2", "--train-subset", "2000", "--seed", "3",
                  "--data-dir", str(MNIST_DIR), "--plot", str(png), "--optimizer", "rmsprop"])
    out = capsys.readouterr().out
    assert status == 0
    assert "Epoch 2, Average Loss: " in out and out.count("Test Accuracy: ") == 2
    assert "\r" not in out  # captured stdout is no terminal: plain lines, no progress bar
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_command_line_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        cli(["mnist", "--optimizer", "lbfgs"])
    with pytest.raises(SystemExit):
        cli(["mnist", "--epochs", "0"])
    # found by a review (2026-11-30): these ended in tracebacks, after loading or training
    for bad in (["--lr", "nan"], ["--lr", "-1"], ["--lr", "inf"], ["--train-subset", "0"],
                ["--plot", "/nonexistent/folder/curves.png"],
                ["--seed", "-1"]):  # issue 24: NumPy's SeedSequence traceback
        with pytest.raises(SystemExit) as stopped:
            cli(["mnist", *bad])
        assert stopped.value.code == 2, bad
    assert cli(["nonsense"]) == 2
    assert "mnist" in capsys.readouterr().out


def test_training_is_reproducible_for_a_seed(data):
    runs = [mnist.train(data, epochs=1, train_subset=3000, seed=5, out=lambda line: None)
            for _ in range(2)]
    assert runs[0].train_loss == runs[1].train_loss


def test_batches_are_pixels_over_255():
    images = np.array([[0, 51, 255], [255, 0, 1]], np.uint8)
    out = np.empty((2, 3), np.float32)
    mnist._gather_scaled(images, np.array([1, 0]), out)
    np.testing.assert_array_equal(out, np.array([[255, 0, 1], [0, 51, 255]], np.float32) / 255)


def test_progress_bar_is_drawn_then_erased(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain line (tqdm's: test_callbacks)
    stream, lines = io.StringIO(), []
    mnist.train(data, epochs=1, train_subset=2000, batch_size=100, out=lines.append,
                progress=stream)
    drawn = stream.getvalue()
    assert "\rEpoch 1: [" in drawn and "20/20 loss=" in drawn
    assert drawn.endswith("\r\033[K")  # erased before the epoch's lines are printed
    assert not any("\r" in line for line in lines)


def test_training_restores_the_thread_settings(data):
    """One Numba and one BLAS thread while training (see mnist.train), the caller's after."""
    from threadpoolctl import threadpool_info

    before = numba.get_num_threads(), [lib["num_threads"] for lib in threadpool_info()]
    mnist.train(data, epochs=1, train_subset=500, out=lambda line: None)
    assert (numba.get_num_threads(), [lib["num_threads"] for lib in threadpool_info()]) == before


def test_last_partial_batch_is_trained_and_counted(data, monkeypatch):
    """1000 images in batches of 300: four steps, the last of 100 images, like drop_last=False."""
    rows = []
    original = mnist.MLP.loss_and_grad

    def recording(self, X, y):
        rows.append(X.shape[0])
        return original(self, X, y)

    monkeypatch.setattr(mnist.MLP, "loss_and_grad", recording)
    history = mnist.train(data, epochs=1, train_subset=1000, batch_size=300,
                          out=lambda line: None)
    assert rows == [300, 300, 300, 100] and np.isfinite(history.train_loss[0])


@requires_mnist
def test_command_line_draws_its_bar_on_a_terminals_stderr_and_prints_the_same(capsys,
                                                                               monkeypatch):
    argv = ["mnist", "--epochs", "1", "--train-subset", "500", "--data-dir", str(MNIST_DIR)]

    def run():
        assert cli(argv) == 0
        captured = capsys.readouterr()
        # the epoch's time differs from run to run
        return re.sub(r"\(\d+\.\d+ s\)", "(s)", captured.out), captured.err

    plain_out, plain_err = run()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    out, err = run()
    assert out == plain_out and plain_err == ""
    assert "\rEpoch 1" in err  # tqdm's bar, or the plain line
