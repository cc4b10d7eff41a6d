"""Shared fixtures and helpers for numadam's tests."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator: all test randomness goes through it."""
    return np.random.default_rng(20261124)
