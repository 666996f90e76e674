import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import wengert  # noqa: E402

# jit checks its Wengert list after tracing and after every optimiser pass
wengert.config.debug_ir = True


@pytest.fixture
def rng():
    return np.random.default_rng(0)
