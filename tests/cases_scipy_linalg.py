"""Sweep cases for ``wengert.scipy.linalg``: values against SciPy, first and
second derivatives in every mode against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from cases import Case

sl = pytest.importorskip("scipy.linalg")

import wengert.numpy as wnp  # noqa: E402
from wengert.scipy import linalg as L  # noqa: E402

CASES: list[Case] = []


def add(name, fn, args, ref, **kw):
    CASES.append(Case(f"scipy.linalg.{name}", fn, args, ref, tags=("scipy",), **kw))


def R(*shapes, lo=-1.0, hi=1.0):
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) for s in shapes)
    return build



# the other triangle of a is random: the solve (and its derivative) must ignore it
for _lower, _trans, _unit in ((False, 0, False), (True, 0, False), (False, 1, False), (True, 2, False),
                              (True, 0, True), (False, "T", True)):
    _kw = {"lower": _lower, "trans": _trans, "unit_diagonal": _unit}
    add(f"solve_triangular{_kw}",
        (lambda kw: lambda a, b: L.solve_triangular(a + 3.0 * np.eye(3), b, **kw))(_kw),
        R((3, 3), (3, 2) if _lower else (3,)),
        (lambda kw: lambda a, b: sl.solve_triangular(a + 3.0 * np.eye(3), b, **kw))(_kw))


def _spd(a):
    return a @ a.T + 3.0 * np.eye(a.shape[-1])


def _spd_w(a):
    return wnp.matmul(a, wnp.matrix_transpose(a)) + 3.0 * np.eye(a.shape[-1])


for _lower in (False, True):
    add(f"cholesky-lower={_lower}", (lambda lo: lambda a: L.cholesky(_spd_w(a), lower=lo))(_lower), R((3, 3)),
        (lambda lo: lambda a: sl.cholesky(_spd(a), lower=lo))(_lower))
    # the raw matrix: the triangle that is read is differentiated, the other gets 0
    add(f"cholesky-raw-lower={_lower}", (lambda lo: lambda a: L.cholesky(a + 3.0 * np.eye(3), lower=lo))(_lower),
        R((3, 3)), (lambda lo: lambda a: sl.cholesky(a + 3.0 * np.eye(3), lower=lo))(_lower))
    add(f"cho_factor-lower={_lower}", (lambda lo: lambda a: L.cho_factor(_spd_w(a), lower=lo)[0])(_lower), R((3, 3)),
        (lambda lo: lambda a: sl.cho_factor(_spd(a), lower=lo)[0])(_lower))
    # a vector b for one, a matrix for the other (both shapes of SciPy's b)
    add(f"cho_solve-lower={_lower}",
        (lambda lo: lambda a, b: L.cho_solve(L.cho_factor(_spd_w(a), lower=lo), b))(_lower),
        R((3, 3), (3, 2) if _lower else (3,)),
        (lambda lo: lambda a, b: sl.cho_solve(sl.cho_factor(_spd(a), lower=lo), b))(_lower))

# lu: a matrix whose pivoting swaps rows (a large entry below the diagonal)
_SWAP = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
add("lu_factor", lambda a: L.lu_factor(a + _SWAP)[0], R((3, 3)), lambda a: sl.lu_factor(a + _SWAP)[0])
for _t in (0, 1, 2):
    add(f"lu_solve-trans={_t}", (lambda t: lambda a, b: L.lu_solve(L.lu_factor(a + _SWAP), b, trans=t))(_t),
        R((3, 3), (3, 2) if _t == 1 else (3,)),
        (lambda t: lambda a, b: sl.lu_solve(sl.lu_factor(a + _SWAP), b, trans=t))(_t))

add("solve_sylvester", lambda a, b, q: L.solve_sylvester(a + 3.0 * np.eye(3), b + 2.0 * np.eye(2), q),
    R((3, 3), (2, 2), (3, 2)), lambda a, b, q: sl.solve_sylvester(a + 3.0 * np.eye(3), b + 2.0 * np.eye(2), q))
add("sqrtm", lambda a: L.sqrtm(_spd_w(a)), R((3, 3)), lambda a: sl.sqrtm(_spd(a)), tol=1e-5)
add("sqrtm-nonsymmetric", lambda a: L.sqrtm(a * 0.3 + 2.0 * np.eye(3)), R((3, 3)),
    lambda a: sl.sqrtm(a * 0.3 + 2.0 * np.eye(3)), tol=1e-5)
add("expm", L.expm, R((3, 3)), sl.expm)
add("expm-2x2", lambda a: L.expm(a * 2.0), R((2, 2)), lambda a: sl.expm(a * 2.0))
