"""``wnp.r_``, ``wnp.c_`` and ``wnp.real_if_close``: NumPy's index tricks on
traced values.

``r_[...]``/``c_[...]`` follow NumPy's rules: a slice ``a:b:s`` is
``arange(a, b, s)`` (``a:b:nj`` is ``linspace(a, b, n)``), arrays and numbers
are concatenated (along the first axis for ``r_``; ``c_`` stacks 1-D pieces
as columns), and a leading string ``"axis,ndmin,trans1d"`` chooses the axis,
the minimum rank and where a 1-D piece's axis goes.  With nothing traced the
result is NumPy's own.

>>> import numpy as np, wengert as wg, wengert.numpy as wnp
>>> wg.grad(lambda x: wnp.sum(wnp.r_[x, 0:3, 2 * x] ** 2))(np.array([1.0]))
array([10.])
>>> wnp.c_[np.array([1.0, 2.0]), np.array([3.0, 4.0])]
array([[1., 3.],
       [2., 4.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._core import Tracer
from . import _funcs as F
from ._base import dtype_of, lift, shape_of

__all__ = ["r_", "c_", "real_if_close"]


def _traced(x) -> bool:
    if isinstance(x, Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(_traced(v) for v in x)
    return False


class _AxisConcatenator:
    """NumPy's ``AxisConcatenator`` for traced pieces (``np.r_``/``np.c_`` otherwise)."""

    def __init__(self, name, numpy_obj, axis, ndmin, trans1d):
        self._name = name
        self._np = numpy_obj
        self._axis, self._ndmin, self._trans1d = axis, ndmin, trans1d

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if not any(_traced(k) for k in items):
            return self._np[key]
        axis, ndmin, trans1d = self._axis, self._ndmin, self._trans1d
        pieces, scalars = [], []
        for i, item in enumerate(items):
            if isinstance(item, str):
                if i != 0:
                    raise ValueError(f"wnp.{self._name}: a string directive must come first, got {item!r} at "
                                     f"position {i}")
                if item in ("r", "c"):
                    raise ValueError(f"wnp.{self._name}: the matrix directives 'r'/'c' (np.matrix results) are "
                                     f"not supported; use wnp.reshape on the result")
                try:
                    vec = [int(v) for v in item.split(",")]
                except ValueError:
                    raise ValueError(f"wnp.{self._name}: the directive must be 'axis[,ndmin[,trans1d]]' with "
                                     f"integers, got {item!r}") from None
                axis = vec[0]
                if len(vec) > 1:
                    ndmin = vec[1]
                if len(vec) > 2:
                    trans1d = vec[2]
                continue
            if isinstance(item, slice):
                x = np.r_[item]  # arange / linspace of constants, as NumPy computes it
                if ndmin > 1:
                    x = self._expand(x, ndmin, trans1d)
                pieces.append(x)
                continue
            if isinstance(item, (bool, int, float, complex)):
                scalars.append(item)
                pieces.append(item)
                continue
            x = lift(item)  # lists of traced values are stacked
            pieces.append(self._expand(x, ndmin, trans1d))
        arrays = [p for p in pieces if not isinstance(p, (bool, int, float, complex))]
        dtype = np.result_type(*[dtype_of(p) for p in arrays], *scalars)
        out = []
        for p in pieces:
            if isinstance(p, (bool, int, float, complex)):
                p = np.full((1,) * max(ndmin, 1), p, dtype=dtype)
            elif dtype_of(p) != dtype:
                p = F.astype(p, dtype)
            out.append(p)
        return F.concatenate(out, axis=axis)

    @staticmethod
    def _expand(x, ndmin, trans1d):
        s = tuple(shape_of(x))
        nd = len(s)
        if nd >= ndmin:
            return x
        x = F.reshape(x, (1,) * (ndmin - nd) + s)
        if trans1d != -1:
            k2 = ndmin - nd
            k1 = trans1d + k2 + 1 if trans1d < 0 else trans1d
            defaxes = list(range(ndmin))
            axes = defaxes[:k1] + defaxes[k2:] + defaxes[k1:k2]
            x = F.transpose(x, axes)
        return x

    def __len__(self):
        return 0


r_ = _AxisConcatenator("r_", np.r_, 0, 1, -1)
c_ = _AxisConcatenator("c_", np.c_, -1, 2, 0)


def real_if_close(a: Any, tol: Any = 100) -> Any:
    """``real(a)`` if every imaginary part is within ``tol`` machine epsilons of 0
    (``tol`` < 1: an absolute tolerance), else ``a`` — decided on the values, so
    under ``jit`` it needs a concrete input.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> float(wg.grad(lambda x: wnp.real_if_close(x * (1 + 1e-20j)))(2.0))
    1.0
    """
    a = lift(a)
    if not isinstance(a, Tracer):
        return np.real_if_close(a, tol=tol)
    dt = np.dtype(dtype_of(a))
    if dt.kind != "c":
        return a
    if tol > 1:
        tol = np.finfo(dt).eps * tol
    v = F._concrete(a, "real_if_close")
    if np.all(np.abs(np.imag(v)) < tol):
        return F.real(a)
    return a
