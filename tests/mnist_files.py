"""Where the tests find the real MNIST files: where numadam itself finds them (see
``numadam.datasets.find_mnist``: ``$NUMADAM_DATA_DIR``, then ``~/.cache/numadam/mnist``)."""

import pytest

from numadam.datasets import cache_dir, find_mnist

#: The folder holding the four MNIST files, or None (the tests that need them skip).
MNIST_DIR = find_mnist()

requires_mnist = pytest.mark.skipif(
    MNIST_DIR is None,
    reason=f"the MNIST files are neither in $NUMADAM_DATA_DIR nor in {cache_dir()}",
)
