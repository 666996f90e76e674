"""Result dtypes as NumPy's: traced paths of ``wnp`` functions that are built
from several primitives (``copysign`` as a ``where``, ``vander`` as a stack of
powers, ...) can promote differently from the NumPy function they stand for
(issue 10: jit/grad and eager disagreed on 16 of 244 function/argument
combinations).  :func:`numpy_dtype` asks NumPy itself, on tiny dummy arrays
of the arguments' dtypes (every axis of length 1; Python scalars passed as
they are, so they stay weakly typed), and :func:`as_numpy_dtype` casts a
traced result to it.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core import Tracer

_ARRAYS = (np.ndarray, np.generic, Tracer)


def _dummy(a):
    if isinstance(a, _ARRAYS):
        shape = tuple(min(int(s), 1) for s in a.shape)
        return np.ones(shape, np.dtype(a.dtype))
    if isinstance(a, (list, tuple)) and any(isinstance(x, Tracer) for x in a):
        return np.ones(np.shape(a), np.result_type(*[_dummy(x) for x in a]))
    return a


def numpy_dtype(npfunc, *args, **kwargs) -> np.dtype | None:
    """The dtype ``npfunc(*args, **kwargs)`` has in NumPy (``None`` if NumPy
    raises on the dummies).

    >>> import numpy as np
    >>> numpy_dtype(np.copysign, 1.0, np.ones(3, np.float32))
    dtype('float32')
    """
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            r = npfunc(*[_dummy(a) for a in args], **{k: _dummy(v) for k, v in kwargs.items()})
    except Exception:
        return None
    if isinstance(r, tuple):
        r = r[0]
    return np.result_type(r)


def as_numpy_dtype(result, dtype):
    """``result`` cast to ``dtype`` (a ``numpy_dtype`` answer) if it differs."""
    if dtype is None or np.dtype(getattr(result, "dtype", np.result_type(result))) == dtype:
        return result
    from ._funcs import astype
    return astype(result, dtype)


def cast_inputs(dtype, *args):
    """Traced or array arguments cast to ``dtype`` where their kind differs
    (so that a float result is computed in NumPy's precision, not rounded
    after); Python scalars and ``None`` unchanged."""
    if dtype is None or dtype.kind not in "fc":
        return args
    from ._funcs import astype
    out = []
    for a in args:
        if isinstance(a, _ARRAYS) and np.dtype(a.dtype) != dtype and np.dtype(a.dtype).kind not in "c":
            a = astype(a, dtype)
        out.append(a)
    return tuple(out)
