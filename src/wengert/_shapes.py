"""Shape arithmetic shared by the core and the NumPy layer."""

from __future__ import annotations

import numpy as np

__all__ = ["broadcast_shapes2"]


_BCAST: dict = {}


def broadcast_shapes2(a, b):
    """NumPy's broadcast of two shapes (a faster np.broadcast_shapes for two)."""
    a = tuple(a)
    b = tuple(b)
    r = _BCAST.get((a, b))
    if r is not None:
        return r
    r = _broadcast_shapes2(a, b)
    if len(_BCAST) < 4096:
        _BCAST[(a, b)] = r
    return r


def _broadcast_shapes2(a, b):
    if len(a) < len(b):
        a = (1,) * (len(b) - len(a)) + a
    elif len(b) < len(a):
        b = (1,) * (len(a) - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return np.broadcast_shapes(a, b)  # raises NumPy's own error
    return tuple(out)
