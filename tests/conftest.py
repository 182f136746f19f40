import numpy as np
import pytest

from skfewaudio import make_sounds


@pytest.fixture(scope="session")
def sounds():
    """Eight synthetic classes of short clips: (X, y)."""
    return make_sounds(n_classes=8, n_per_class=10, duration=0.5, sample_rate=16000,
                       random_state=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
