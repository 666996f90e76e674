"""Sweep cases for NumPy idioms autograd users reach for: ``wnp.r_``/``wnp.c_``
and ``einsum`` in the sublist form (``wnp.real_if_close`` decides on the
values, so it cannot be staged by jit: tests/test_scipy.py tests it)."""

from __future__ import annotations

import numpy as np
from cases import Case

import wengert.numpy as wnp
from wengert.numpy import c_ as wc_  # noqa: F401  (the objects, not wnp.X: NumPy's r_/c_ cannot be
from wengert.numpy import r_ as wr_  # noqa: F401  dispatched, so the np.* sweep must not rewrite these)

CASES: list[Case] = []


def U(lo, hi, *shapes):
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) for s in shapes)
    return build


def add(name, fn, args, ref, **kw):
    CASES.append(Case(name, fn, args, ref, **kw))


_R = {
    "r_[x, 0:3, y]": (lambda r, c: lambda x, y: r[x, 0:3, y], ((2,), (3,))),
    "r_[x, 1, 2.5]": (lambda r, c: lambda x, y: r[x, 1, 2.5, y], ((2,), (1,))),
    "r_[0:1:3j, x]": (lambda r, c: lambda x, y: r[0:1:3j, x * y], ((2,), (2,))),
    "r_['0,2', x, y]": (lambda r, c: lambda x, y: r["0,2", x, y], ((3,), (3,))),
    "r_['-1,2,0', x, y]": (lambda r, c: lambda x, y: r["-1,2,0", x, y], ((3,), (3,))),
    "r_['1', X, Y]": (lambda r, c: lambda x, y: r["1", x, y], ((2, 2), (2, 3))),
    "c_[x, y, 2y]": (lambda r, c: lambda x, y: c[x, y, 2 * y], ((3,), (3,))),
    "c_[X, y]": (lambda r, c: lambda x, y: c[x, y], ((3, 2), (3,))),
}
for _n, (_mk, _shapes) in _R.items():
    add(_n, _mk(wr_, wc_), U(-2, 2, *_shapes), _mk(np.r_, np.c_))

# einsum(op0, sublist0, op1, sublist1, ..., [sublistout])
add("einsum-sublist-matmul", lambda a, b: wnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), U(-1, 1, (2, 3), (3, 4)),
    lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]))
add("einsum-sublist-implicit", lambda a, b: wnp.einsum(a, [0, 1], b, [1, 2]), U(-1, 1, (2, 3), (3, 4)),
    lambda a, b: np.einsum(a, [0, 1], b, [1, 2]))
add("einsum-sublist-ellipsis", lambda a, b: wnp.einsum(a, [Ellipsis, 1], b, [1], [Ellipsis]),
    U(-1, 1, (2, 3, 4), (4,)), lambda a, b: np.einsum(a, [Ellipsis, 1], b, [1], [Ellipsis]))
add("einsum-sublist-trace", lambda a: wnp.einsum(a, [0, 0]), U(-1, 1, (3, 3)), lambda a: np.einsum(a, [0, 0]))
