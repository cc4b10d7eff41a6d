"""Every gallery script runs with --quick, writes a real PNG, and shows what it claims to show.

The scripts are run in-process (imported from gallery/ and their ``main`` called) so that the
facts each plot is drawn to show can be asserted on what ``main`` returns.
"""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.mnist_files import requires_mnist

GALLERY = Path(__file__).resolve().parents[1] / "gallery"


@pytest.fixture
def script(monkeypatch, tmp_path):
    """Import a gallery script and call its main with --quick, writing into tmp_path."""
    monkeypatch.syspath_prepend(str(GALLERY))

    def run(name):
        monkeypatch.setattr(sys, "argv", [f"{name}.py", "--quick", "--out", str(tmp_path)])
        return importlib.import_module(name).main()

    return run


def _assert_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_trajectories_and_convergence(script, tmp_path):
    results = script("trajectories")
    _assert_png(tmp_path / "trajectories.png")
    _assert_png(tmp_path / "convergence.png")
    assert results[("rosenbrock", "Adam")]["final"] < 1e-3  # Adam solves Rosenbrock in budget
    assert results[("himmelblau", "Adam")]["final"] < 1e-6
    # plain SGD is the one that does not finish Rosenbrock's valley
    assert results[("rosenbrock", "SGD")]["final"] > results[("rosenbrock", "Adam")]["final"]


def test_noisy_objectives(script, tmp_path):
    results = script("noisy")
    _assert_png(tmp_path / "noisy.png")
    median = {key: np.median(gaps) for key, gaps in results.items()}
    rosen = "Rosenbrock, noisy gradient"
    assert median[(rosen, "Adam")] < median[(rosen, "SGD")]  # the noise hurts SGD most


def test_learning_rate_sensitivity(script, tmp_path):
    results = script("lr_sensitivity")
    _assert_png(tmp_path / "lr_sensitivity.png")
    hard = "ill-conditioned quadratic (kappa = 1e3)"
    easy = "least squares, minibatches"
    # the claim holds on the ill-conditioned problem ...
    assert results[(hard, "Adam")][0] > results[(hard, "SGD")][0]
    # ... and fails on the well-conditioned one, where momentum SGD works over the widest range
    assert results[(easy, "Momentum")][0] >= results[(easy, "Adam")][0]
    # the parameter-free rules work whatever their initial estimate d0 (8 of 9 at least)
    for problem in (easy, hard):
        for label in ("Prodigy", "D-Adapt Adam", "DoG"):
            assert results[(problem, label)][0] >= 8, (problem, label)


def test_sparse_gradients(script, tmp_path):
    results = script("sparse")
    _assert_png(tmp_path / "sparse.png")
    assert results["Adam"]["final"] < results["SGD"]["final"]



def test_parameter_map(script, tmp_path):
    results = script("parameter_map")
    _assert_png(tmp_path / "parameter_map.png")
    assert results["voxels"] == 40 * 40
    assert results["converged"] == 1.0  # every voxel's fit met gtol
    assert results["median_relative_error"] < 0.05  # the map is recovered under the noise
    # each voxel ends where SciPy's L-BFGS-B does, the least-squares fit, not just near the truth
    assert results["max_difference_from_scipy"] < 2e-3
    assert results["numadam_seconds"] > 0 and results["scipy_seconds"] > 0


@requires_mnist
def test_mnist_adam_vs_sgd(script, tmp_path, monkeypatch):
    from tests.mnist_files import MNIST_DIR

    monkeypatch.setenv("NUMADAM_DATA_DIR", str(MNIST_DIR))
    histories = script("mnist_adam_vs_sgd")
    _assert_png(tmp_path / "mnist_adam_vs_sgd.png")
    adam, sgd = histories.values()
    assert adam.test_accuracy[-1] > sgd.test_accuracy[-1]


def test_parameter_groups(script, tmp_path):
    results = script("groups")
    _assert_png(tmp_path / "groups.png")
    # one rate per parameter group reaches the least-squares fit; the best single rate does not
    assert results["grouped"] < 1e-8 < results["single"][1]
    assert results["iterations_to_1e-6"]["grouped"] is not None
