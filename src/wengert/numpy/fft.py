"""``wengert.numpy.fft`` (filled in by the FFT work)."""
import numpy as _np


def __getattr__(name: str):
    if hasattr(_np.fft, name):
        raise NotImplementedError(f"wengert.numpy.fft.{name} is not supported yet")
    raise AttributeError(f"module 'wengert.numpy.fft' has no attribute '{name}'")
