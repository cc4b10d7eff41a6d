"""Where the tests find the real MNIST files: $NUMADAM_DATA_DIR, else ../shared/data/mnist."""

import os
from pathlib import Path

import pytest

MNIST_DIR = Path(os.environ.get("NUMADAM_DATA_DIR")
                 or Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")

requires_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
    and not (MNIST_DIR / "train-images-idx3-ubyte").is_file(),
    reason=f"the MNIST files are not in {MNIST_DIR} (set NUMADAM_DATA_DIR)",
)
