"""``wengert.scipy.linalg``: differentiable parts of ``scipy.linalg`` (those
autograd has, and ``expm``).

Outside transformations each function is SciPy's own (same values, dtypes
and return forms).  Under them (``grad``, ``jvp``, ``vmap``, ``jit``…) the
functions take real matrices and are differentiable, to every order, in
every array argument:

* ``solve_triangular(a, b, trans=, lower=, unit_diagonal=)`` reads one
  triangle of ``a`` (not its diagonal with ``unit_diagonal``), and so does
  its derivative: the entries SciPy ignores get derivative 0;
* ``cholesky(a, lower=False)`` reads the upper triangle of ``a`` (the lower
  one with ``lower=True``), as LAPACK does;
* ``cho_factor`` returns ``(c, lower)`` with the factor in one triangle of
  ``c`` and ``a``'s entries in the other (as SciPy's); ``cho_solve`` reads
  only the factor's triangle;
* ``lu_factor`` returns ``(lu, piv)`` (the pivots have no derivative) and
  ``lu_solve((lu, piv), b, trans=)`` solves with them;
* ``solve_sylvester(a, b, q)`` solves ``A X + X B = Q``;
* ``sqrtm(a)`` (a real matrix with a real square root) differentiates
  through the Sylvester equation ``S dS + dS S = dA``;
* ``expm(a)`` differentiates through the Fréchet derivative ``L(A, E)``
  (SciPy's ``expm_frechet``; reverse mode uses ``L(Aᵀ, G)``).

>>> import numpy as np, wengert as wg
>>> from wengert.scipy.linalg import expm
>>> A = np.array([[0.0, 1.0], [-1.0, 0.0]])
>>> g = wg.grad(lambda t: expm(t * A)[0, 1])(0.3)  # d/dt sin t
>>> round(float(g), 12) == round(float(np.cos(0.3)), 12)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _prims_scipy_linalg as SL
from .. import numpy as wnp
from .._core import Tracer
from ..numpy._base import lift, shape_of

_sl = SL.scipy_linalg()  # a clear ImportError (pip install wengert[scipy]) if SciPy is missing

__all__ = ["solve_triangular", "cholesky", "cho_factor", "cho_solve", "lu_factor", "lu_solve",
           "solve_sylvester", "sqrtm", "expm"]


def _traced(*xs):
    return any(isinstance(x, Tracer) or isinstance(lift(x), Tracer) for x in xs)


def _real_matrix(a, fname, arg="a", square=True):
    a = wnp.asarray(a)
    s = tuple(shape_of(a))
    kind = np.dtype(a.dtype).kind
    if kind == "c":
        raise TypeError(f"scipy.linalg.{fname}: under wengert's transformations {arg} must be real, got "
                        f"{np.dtype(a.dtype).name}")
    if kind != "f":
        a = wnp.astype(a, np.float64)
    if len(s) < 2 or (square and s[-1] != s[-2]):
        raise ValueError(f"scipy.linalg.{fname}: {arg} must be a {'square ' if square else ''}matrix, got "
                         f"shape {s}")
    return a


def _rhs(b, n, fname):
    """b as (…, n, k) and a function restoring b's own shape."""
    b = wnp.asarray(b)
    if np.dtype(b.dtype).kind == "c":
        raise TypeError(f"scipy.linalg.{fname}: under wengert's transformations b must be real")
    if np.dtype(b.dtype).kind != "f":
        b = wnp.astype(b, np.float64)
    s = tuple(shape_of(b))
    if not s or s[0] != n:
        raise ValueError(f"scipy.linalg.{fname}: b must have {n} rows (a is {n}×{n}), got shape {s}")
    if len(s) == 1:
        return wnp.reshape(b, (n, 1)), lambda x: wnp.reshape(x, (n,))
    if len(s) > 2:
        return wnp.reshape(b, (n, -1)), lambda x: wnp.reshape(x, s)
    return b, lambda x: x


def _trans(trans, fname):
    t = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}.get(trans)
    if t is None:
        raise ValueError(f"scipy.linalg.{fname}: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return t


def _matrix_only(a, fname):
    if len(tuple(shape_of(a))) != 2:
        raise ValueError(f"scipy.linalg.{fname}: a must be a 2-D matrix (use wg.vmap for a batch), got "
                         f"shape {tuple(shape_of(a))}")


def solve_triangular(a: Any, b: Any, trans: Any = 0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, check_finite: bool = True) -> Any:
    """``x`` with ``op(a) x = b``, ``a`` triangular (``op``: ``trans`` 0 none, 1 or 2 transpose).

    >>> import numpy as np, wengert as wg
    >>> a = np.array([[2.0, 0.0], [1.0, 4.0]])
    >>> wg.grad(lambda b: solve_triangular(a, b, lower=True).sum())(np.ones(2))  # a⁻ᵀ 1
    array([0.375, 0.25 ])
    """
    if not _traced(a, b):
        return _sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal,
                                    overwrite_b=overwrite_b, check_finite=check_finite)
    a = _real_matrix(a, "solve_triangular")
    _matrix_only(a, "solve_triangular")
    b2, back = _rhs(b, shape_of(a)[-1], "solve_triangular")
    return back(SL.solve_triangular_p.bind(a, b2, bool(lower), _trans(trans, "solve_triangular"),
                                           bool(unit_diagonal)))


def cholesky(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """The Cholesky factor: upper ``U`` with ``a = Uᵀ U`` (``lower=True``: ``L``, ``a = L Lᵀ``),
    read from that triangle of ``a``.

    >>> import numpy as np, wengert as wg
    >>> round(float(wg.grad(lambda s: cholesky(s * np.eye(2))[1, 1])(4.0)), 12)  # d√s/ds
    0.25
    """
    if not _traced(a):
        return _sl.cholesky(a, lower=lower, overwrite_a=overwrite_a, check_finite=check_finite)
    a = _real_matrix(a, "cholesky")
    if lower:
        return wnp.linalg.cholesky(a)
    return wnp.matrix_transpose(wnp.linalg.cholesky(wnp.matrix_transpose(a)))


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """``(c, lower)``: the Cholesky factor in one triangle of ``c``, ``a``'s
    entries in the other (as SciPy's); for ``cho_solve``."""
    if not _traced(a):
        return _sl.cho_factor(a, lower=lower, overwrite_a=overwrite_a, check_finite=check_finite)
    a = _real_matrix(a, "cho_factor")
    c = cholesky(a, lower=lower)
    other = wnp.triu(a, 1) if lower else wnp.tril(a, -1)
    return c + other, bool(lower)


def cho_solve(c_and_lower: Any, b: Any, overwrite_b: bool = False, check_finite: bool = True) -> Any:
    """``x`` with ``a x = b`` from ``cho_factor(a)``; reads only the factor's triangle.

    >>> import numpy as np, wengert as wg
    >>> a = np.array([[4.0, 2.0], [2.0, 3.0]])
    >>> g = wg.grad(lambda b: cho_solve(cho_factor(a), b).sum())(np.ones(2))
    >>> bool(np.allclose(g, np.linalg.solve(a, np.ones(2))))
    True
    """
    c, lower = c_and_lower
    if not _traced(c, b):
        return _sl.cho_solve((c, lower), b, overwrite_b=overwrite_b, check_finite=check_finite)
    c = _real_matrix(c, "cho_solve", "c")
    _matrix_only(c, "cho_solve")
    b2, back = _rhs(b, shape_of(c)[-1], "cho_solve")
    if lower:  # a = L Lᵀ
        y = SL.solve_triangular_p.bind(c, b2, True, 0, False)
        return back(SL.solve_triangular_p.bind(c, y, True, 1, False))
    y = SL.solve_triangular_p.bind(c, b2, False, 1, False)  # a = Uᵀ U
    return back(SL.solve_triangular_p.bind(c, y, False, 0, False))


def lu_factor(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """``(lu, piv)``: ``a = P L U`` packed as SciPy's (``piv``: LAPACK's 0-based row swaps).

    >>> import numpy as np, wengert as wg
    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> g = wg.grad(lambda a: lu_solve(lu_factor(a), np.ones(2)).sum())(a)
    >>> bool(np.allclose(g, wg.grad(lambda a: wg.numpy.linalg.solve(a, np.ones(2)).sum())(a)))
    True
    """
    if not _traced(a):
        return _sl.lu_factor(a, overwrite_a=overwrite_a, check_finite=check_finite)
    a = _real_matrix(a, "lu_factor")
    _matrix_only(a, "lu_factor")
    lu, piv = SL.lu_factor_p.bind(a)
    return lu, piv


def lu_solve(lu_and_piv: Any, b: Any, trans: Any = 0, overwrite_b: bool = False, check_finite: bool = True) -> Any:
    """``x`` with ``op(a) x = b`` from ``lu_factor(a)`` (``trans`` 0: ``a``, 1 or 2: ``aᵀ``)."""
    lu, piv = lu_and_piv
    if not _traced(lu, b):
        return _sl.lu_solve((lu, piv), b, trans=trans, overwrite_b=overwrite_b, check_finite=check_finite)
    lu = _real_matrix(lu, "lu_solve", "lu")
    _matrix_only(lu, "lu_solve")
    b2, back = _rhs(b, shape_of(lu)[-1], "lu_solve")
    pm = SL.lu_perm_p.bind(piv, np.dtype(lu.dtype).name)
    if _trans(trans, "lu_solve") == 0:  # x = U⁻¹ L⁻¹ Pᵀ b
        y = SL.solve_triangular_p.bind(lu, wnp.matmul(wnp.matrix_transpose(pm), b2), True, 0, True)
        return back(SL.solve_triangular_p.bind(lu, y, False, 0, False))
    y = SL.solve_triangular_p.bind(lu, b2, False, 1, False)  # aᵀ = Uᵀ Lᵀ Pᵀ: x = P L⁻ᵀ U⁻ᵀ b
    return back(wnp.matmul(pm, SL.solve_triangular_p.bind(lu, y, True, 1, True)))


def solve_sylvester(a: Any, b: Any, q: Any) -> Any:
    """``X`` with ``A X + X B = Q``; differentiable in ``a``, ``b`` and ``q``.

    >>> import numpy as np, wengert as wg
    >>> round(float(wg.grad(lambda q: solve_sylvester(np.eye(2), np.eye(2), q).sum())(np.ones((2, 2)))[0, 0]), 12)
    0.5
    """
    if not _traced(a, b, q):
        return _sl.solve_sylvester(a, b, q)
    a = _real_matrix(a, "solve_sylvester")
    b = _real_matrix(b, "solve_sylvester", "b")
    q = _real_matrix(q, "solve_sylvester", "q", square=False)
    for x in (a, b, q):
        _matrix_only(x, "solve_sylvester")
    if tuple(shape_of(q)) != (shape_of(a)[0], shape_of(b)[0]):
        raise ValueError(f"scipy.linalg.solve_sylvester: q must have shape {(shape_of(a)[0], shape_of(b)[0])} "
                         f"(rows of a, columns of b), got {tuple(shape_of(q))}")
    return SL.sylvester_p.bind(a, b, q)


def sqrtm(A: Any, **kwargs: Any) -> Any:
    """The principal matrix square root ``S`` (``S S = A``); under transformations
    ``A`` must be real with a real square root (SciPy's deprecated ``disp=``/
    ``blocksize=`` are passed to SciPy outside transformations only).

    >>> import numpy as np, wengert as wg
    >>> round(float(wg.grad(lambda s: sqrtm(s * np.eye(2))[0, 0])(4.0)), 12)  # d√s/ds
    0.25
    """
    if not _traced(A):
        return _sl.sqrtm(A, **kwargs)
    if kwargs:
        raise TypeError(f"scipy.linalg.sqrtm: under wengert's transformations only sqrtm(A) is supported "
                        f"(SciPy deprecated {', '.join(kwargs)}); drop the keyword arguments")
    A = _real_matrix(A, "sqrtm", "A")
    _matrix_only(A, "sqrtm")
    return SL.sqrtm_p.bind(A)


def expm(A: Any) -> Any:
    """The matrix exponential; its derivative is the Fréchet derivative ``L(A, dA)``."""
    if not _traced(A):
        return _sl.expm(A)
    A = _real_matrix(A, "expm", "A")
    return SL.expm_p.bind(A)
