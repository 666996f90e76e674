"""``wengert.numpy.linalg`` (filled in by the linear-algebra work)."""
import numpy as _np

LinAlgError = _np.linalg.LinAlgError


def __getattr__(name: str):
    if hasattr(_np.linalg, name):
        raise NotImplementedError(f"wengert.numpy.linalg.{name} is not supported yet")
    raise AttributeError(f"module 'wengert.numpy.linalg' has no attribute '{name}'")
