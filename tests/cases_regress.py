"""Sweep cases for the defects of issue 10 in wengert.numpy (einsum forms,
sinc at 0, lists of traced values, reshape/ravel orders, std of one element,
pow with array exponents): every sweep (finite differences to order 2 in both
modes, jit, vmap, Tensor) runs them."""

from __future__ import annotations

import numpy as np
from cases import Case, U

import wengert.numpy as wnp
from wengert import _prims

CASES: list[Case] = []


def add(name, fn, args, ref=None, **kw):
    CASES.append(Case("regress." + name, fn, args, ref, **kw))


def _fixed(*arrays):
    return lambda rng: tuple(np.array(a, dtype=float) for a in arrays)


# einsum: summed-away indices, implicit outputs, '...', diagonals, size-1 broadcasting
_EINSUM = [
    ("ij->j", [(3, 4)]), ("ij,k->kj", [(3, 4), (2,)]), ("ij,jk", [(2, 3), (3, 4)]),
    ("ii", [(3, 3)]), ("iij->ji", [(2, 2, 3)]), ("...ij->...", [(2, 3, 4)]),
    ("...i,...i", [(3, 1, 4), (2, 4)]), ("ij,jk", [(2, 1), (3, 4)]), ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("abc,cd,de,ea->b", [(2, 3, 2), (2, 3), (3, 2), (2, 2)]), ("ij,k->", [(2, 3), (4,)]),
]
for _spec, _shapes in _EINSUM:
    add(f"einsum[{_spec}]", (lambda s: lambda *xs: wnp.einsum(s, *xs))(_spec), U(-1.5, 1.5, *_shapes),
        (lambda s: lambda *xs: np.einsum(s, *xs))(_spec))

# sinc through 0 (its Maclaurin series there) and on both sides of the switch at |pi x| = 0.5
add("sinc-at-0", wnp.sinc, _fixed([0.0, 1e-3, -0.159, 0.16, 0.7]), np.sinc)

# lists of traced values, as NumPy takes them
add("mean-list", lambda a, b: wnp.mean([a, b], axis=0), U(0.5, 2, (3,), (3,)),
    lambda a, b: np.mean([a, b], axis=0))
add("std-tuple", lambda a, b: wnp.std((a, b)), U(0.5, 2, (3,), (3,)), lambda a, b: np.std((a, b)))
add("var-list", lambda a, b: wnp.var([a, 2.0 * b, a * b], axis=0, ddof=1), U(0.5, 2, (3,), (3,)),
    lambda a, b: np.var([a, 2.0 * b, a * b], axis=0, ddof=1))
add("norm-list", lambda a, b: wnp.linalg.norm([a, b]), U(0.5, 2, (), ()), lambda a, b: np.linalg.norm([a, b]))
add("dot-list", lambda a, b: wnp.dot([a, b], [b, 1.0]), U(0.5, 2, (), ()), lambda a, b: np.dot([a, b], [b, 1.0]))
add("sin-nested-list", lambda a, b: wnp.sin([[a, b], [b, 1.0]]), U(0.5, 2, (), ()),
    lambda a, b: np.sin([[a, b], [b, 1.0]]))

# reshape / ravel / flatten in every order
add("reshape-F", lambda x: wnp.reshape(x, (4, 6), order="F"), U(-2, 2, (2, 3, 4)),
    lambda x: np.reshape(x, (4, 6), order="F"))
add("reshape-F-1", lambda x: wnp.reshape(x, (3, -1), order="F"), U(-2, 2, (2, 3, 2)),
    lambda x: np.reshape(x, (3, -1), order="F"))
add("reshape-A", lambda x: wnp.reshape(x, (6,), order="A"), U(-2, 2, (2, 3)),
    lambda x: np.reshape(x, (6,), order="A"))
add("ravel-F", lambda x: wnp.ravel(x, order="F"), U(-2, 2, (2, 3, 2)), lambda x: np.ravel(x, order="F"))
add("ravel-F-2d", lambda x: wnp.ravel(x, "F") * 2.0, U(-2, 2, (3, 2)), lambda x: np.ravel(x, "F") * 2.0)
add("ravel-K", lambda x: wnp.ravel(x, order="K"), U(-2, 2, (3, 2)), lambda x: np.ravel(x, order="K"))

# std / var where the reduced axis has one element: constant 0
add("std-one", lambda x: wnp.std(x, axis=1) + x[:, 0], U(0.5, 2, (3, 1)), lambda x: np.std(x, axis=1) + x[:, 0])
add("var-one", lambda x: wnp.var(x, axis=0, keepdims=True) * x, U(0.5, 2, (1, 3)),
    lambda x: np.var(x, axis=0, keepdims=True) * x)

# pow with a traced array exponent, including exponent 0 and 1
add("pow-array-exp", lambda x, y: x ** (y * np.array([0.0, 1.0, 1.0])), U(0.5, 2, (3,), (3,)),
    lambda x, y: x ** (y * np.array([0.0, 1.0, 1.0])))
add("pow-self", lambda x: x ** x, U(0.3, 2, (3,)), lambda x: x ** x)

# the primitive behind pow's tangents: t * c, 0 where t = 0 (reached directly too)
add("mul_safe", lambda t, c: _prims.mul_safe(t, c), U(0.5, 2, (2, 3), (2, 3)), np.multiply)
