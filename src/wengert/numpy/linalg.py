"""``wengert.numpy.linalg``: NumPy's ``linalg`` with derivatives.

Every function is batched over leading axes as in NumPy, returns NumPy
values outside transformations, and has derivatives of every order in both
modes (``wengert._prims_linalg`` holds the rules and their conventions).

>>> import wengert as wg, wengert.numpy as wnp
>>> A = wnp.array([[2.0, 1.0], [1.0, 3.0]])
>>> float(wnp.linalg.det(A))
5.000000000000001
>>> wg.grad(wnp.linalg.det)(A)  # the cofactor matrix
array([[ 3., -1.],
       [-1.,  2.]])

Conventions:

* ``norm`` at the zero vector/matrix (orders 2 and 'fro'): the gradient is 0,
  the minimum-norm subgradient (PyTorch's choice; the plain formula
  ``x / norm(x)`` is 0/0 there).  ``abs``-based orders (1, inf) follow
  ``sign``: 0 at 0.  Ties in ``max``/``min`` orders split the gradient evenly.
* ``cholesky``/``eigh``/``eigvalsh`` read one triangle (``UPLO``, or
  ``upper=``) and the real part of the diagonal, as NumPy does; their
  derivatives are those of NumPy's own function: 0 on the other triangle,
  and a read off-diagonal entry stands for both (JAX and PyTorch symmetrise
  ``dA`` instead; on a symmetric matrix the symmetric part of the gradient
  is the same).
* ``eigh``/``svd``: eigenvector (singular vector) derivatives need distinct
  eigenvalues (singular values); at degenerate points the coupling terms are
  dropped, so functions of the spectrum alone stay finite and correct.
* A singular matrix gives NumPy's ``LinAlgError`` under every
  transformation (``inv``, ``solve``, and the derivative of ``det``).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as _np

from .. import _prims_linalg as L
from .._core import Tracer
from . import _funcs as F
from ._base import SEQ, as_operand, dtype_of, lift, norm_axes, shape_of

LinAlgError = _np.linalg.LinAlgError

__all__ = ["LinAlgError", "inv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh", "eig", "eigvals",
           "svd", "svdvals", "norm", "vector_norm", "matrix_norm", "qr", "pinv",
           "matrix_power", "multi_dot", "matrix_transpose", "cond", "matmul", "tensordot",
           "outer", "cross", "diagonal", "trace", "vecdot", "matrix_rank", "lstsq"]

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])

_isT = isinstance
_NOVALUE = _np._NoValue


def _square(a, fname):
    s = tuple(shape_of(a))
    if len(s) < 2 or s[-1] != s[-2]:
        raise LinAlgError(
            f"linalg.{fname}: expected a square matrix or a stack of them, shape (..., n, n), "
            f"but got shape {s}")


def _matrix(a, fname):
    s = tuple(shape_of(a))
    if len(s) < 2:
        raise LinAlgError(
            f"linalg.{fname}: expected a matrix or a stack of them, shape (..., m, n), but "
            f"got shape {s} ({len(s)}-dimensional)")


def _check_dtype(a, fname):
    dt = dtype_of(a)
    if dt.kind not in "biufc" or dt == _np.float16 or dt == _np.longdouble and dt != _np.float64:
        raise TypeError(f"linalg.{fname}: array type {dt.name} is unsupported in linalg "
                        "(use float32, float64, complex64 or complex128)")


def _prep(a, fname, square=True):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        a = _np.asarray(a)
    if square:
        _square(a, fname)
    else:
        _matrix(a, fname)
    _check_dtype(a, fname)
    return a


def _H(x):
    x = F.swapaxes(x, -1, -2)
    return F.conj(x) if _np.issubdtype(dtype_of(x), _np.complexfloating) else x


# ----------------------------------------------------------------------------


def inv(a):
    """Matrix inverse; ``d(A⁻¹) = -A⁻¹ dA A⁻¹``.

    >>> import wengert.numpy as wnp
    >>> wnp.linalg.inv(wnp.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    a = _prep(a, "inv")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.inv(a)
    return L.inv_p.bind(a)


def slogdet(a):
    """``(sign, log|det|)``; ``d log|det A| = Re tr(A⁻¹ dA)``.

    >>> import wengert.numpy as wnp
    >>> s, l = wnp.linalg.slogdet(wnp.array([[2.0, 0.0], [0.0, -3.0]]))
    >>> float(s), round(float(l), 6)
    (-1.0, 1.791759)
    """
    a = _prep(a, "slogdet")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.slogdet(a)
    return SlogdetResult(*L.slogdet_p.bind(a))


def det(a):
    """Determinant; its gradient is the cofactor matrix ``adj(A)ᵀ``, which is
    defined at singular matrices too (computed from the SVD there).

    >>> import wengert as wg, wengert.numpy as wnp
    >>> round(float(wnp.linalg.det(wnp.array([[1.0, 2.0], [3.0, 4.0]]))), 12)
    -2.0
    >>> wg.grad(wnp.linalg.det)(wnp.array([[1.0, 2.0], [2.0, 4.0]])).round(12)  # singular
    array([[ 4., -2.],
           [-2.,  1.]])
    """
    a = _prep(a, "det")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.det(a)
    return L.det_p.bind(a)


def solve(a, b):
    """Solve ``a @ x = b``; ``b`` is a vector when 1-D, else a stack of
    matrices (NumPy 2's rule). ``dx = A⁻¹(db - dA x)``.

    >>> import wengert.numpy as wnp
    >>> wnp.linalg.solve(wnp.array([[2.0, 0.0], [0.0, 4.0]]), wnp.array([1.0, 1.0]))
    array([0.5 , 0.25])
    """
    a = _prep(a, "solve")
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return _np.linalg.solve(a, b)
    b = as_operand(b)
    if not _isT(b, Tracer) and not _isT(b := lift(b), Tracer):
        b = _np.asarray(b)
    sa, sb = tuple(shape_of(a)), tuple(shape_of(b))
    vec = len(sb) == 1
    if vec:
        b = F.reshape(b, sb + (1,))
        sb = sb + (1,)
    if sb[-2] != sa[-1]:
        raise ValueError(f"linalg.solve: a has shape {sa} but b has shape "
                         f"{tuple(shape_of(b)) if not vec else sb[:-1]}; b needs {sa[-1]} rows")
    batch = _np.broadcast_shapes(sa[:-2], sb[:-2])
    dt = _np.result_type(dtype_of(a), dtype_of(b))
    a = F.broadcast_to(F.astype(a, dt), batch + sa[-2:])
    b = F.broadcast_to(F.astype(b, dt), batch + sb[-2:])
    x = L.solve_p.bind(a, b)
    return F.reshape(x, batch + (sa[-1],)) if vec else x


def cholesky(a, /, *, upper=False):
    """Lower (or ``upper=True``: upper) Cholesky factor of a Hermitian
    positive-definite matrix; reads the lower (``upper=True``: upper) triangle
    of ``a`` as NumPy does, and so does the derivative.

    >>> import wengert.numpy as wnp
    >>> wnp.linalg.cholesky(wnp.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 0.],
           [1., 1.]])
    """
    a = _prep(a, "cholesky")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.cholesky(a, upper=upper) if upper else _np.linalg.cholesky(a)
    if upper:  # NumPy reads the upper triangle: the lower one of aᴴ
        return _H(L.cholesky_p.bind(_H(a)))
    return L.cholesky_p.bind(a)


def eigh(a, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of a Hermitian matrix.

    Eigenvector derivatives need distinct eigenvalues; at degenerate
    eigenvalues the coupling is dropped so spectral functions stay finite.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> wg.grad(lambda A: wnp.sum(wnp.linalg.eigh(A)[0]))(wnp.eye(2))  # d trace
    array([[1., 0.],
           [0., 1.]])
    """
    a = _prep(a, "eigh")
    if UPLO not in ("L", "U"):
        raise ValueError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.eigh(a, UPLO=UPLO)
    return EighResult(*L.eigh_p.bind(a, UPLO))


def eigvalsh(a, UPLO="L"):
    """Eigenvalues of a Hermitian matrix (``eigh(a)[0]``)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.eigvalsh(_prep(a, "eigvalsh"), UPLO=UPLO)
    return eigh(a, UPLO)[0]


def eig(a):
    """Eigenvalues and right eigenvectors (unit norm) of a general square matrix.

    Derivatives need distinct eigenvalues; eigenvectors are defined up to a
    complex phase, so differentiate phase-invariant quantities such as
    ``V diag(f(w)) V⁻¹`` (the eigenvalues, traces, matrix functions).

    >>> import wengert as wg, wengert.numpy as wnp
    >>> w = wnp.linalg.eig(wnp.array([[2.0, 1.0], [0.0, 3.0]]))[0]
    >>> w.tolist()
    [2.0, 3.0]
    """
    a = _prep(a, "eig")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.eig(a)
    return EigResult(*L.eig_p.bind(a))


def eigvals(a):
    """Eigenvalues of a general square matrix (``eig(a)[0]``)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.eigvals(_prep(a, "eigvals"))
    return eig(a)[0]


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Singular value decomposition ``a = U diag(S) Vh``.

    Derivatives of ``S`` always exist; those of ``U`` and ``Vh`` need distinct
    singular values (and nonzero ones when ``a`` is not square).  With
    ``full_matrices=True`` on a non-square ``a``, the completing columns get
    the minimal-rotation derivative.  ``hermitian`` only changes the untraced
    algorithm (traced calls use the general SVD).

    >>> import wengert.numpy as wnp
    >>> wnp.linalg.svd(wnp.array([[3.0, 0.0], [0.0, -2.0]]), compute_uv=False)
    array([3., 2.])
    """
    a = _prep(a, "svd", square=False)
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv,
                              hermitian=hermitian)
    if not compute_uv:
        return L.svd_p.bind(a, bool(full_matrices), False)[0]
    return SVDResult(*L.svd_p.bind(a, bool(full_matrices), True))


def svdvals(x, /):
    """Singular values (``svd(x, compute_uv=False)``)."""
    return svd(x, compute_uv=False)


def qr(a, mode="reduced"):
    """QR decomposition, modes 'reduced', 'complete' and 'r'.

    Differentiable for every shape: a wide matrix ``[X Y]`` is factored as
    ``X = QU``, ``R = [U, Qᴴ Y]`` (what Householder QR computes).

    >>> import wengert.numpy as wnp
    >>> q, r = wnp.linalg.qr(wnp.array([[3.0, 1.0], [4.0, 2.0]]))
    >>> round(float(abs(r[0, 0])), 12)
    5.0
    """
    a = _prep(a, "qr", square=False)
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"linalg.qr: unrecognized mode {mode!r}")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.qr(a, mode=mode)
    if mode == "raw":
        raise ValueError("linalg.qr: mode='raw' (Householder reflectors) has no derivative "
                         "in wengert; use mode='reduced', 'complete' or 'r'")
    m, n = tuple(a.shape)[-2:]
    if m >= n:
        q, r = L.qr_p.bind(a, mode == "complete")
    else:
        q, u = L.qr_p.bind(a[..., :, :m], False)
        r = F.concatenate([u, F.matmul(_H(q), a[..., :, m:])], axis=-1)
    return r if mode == "r" else QRResult(q, r)


def pinv(a, rcond=None, hermitian=False, *, rtol=_NOVALUE):
    """Moore–Penrose pseudo-inverse; its derivative (Golub–Pereyra) holds
    where the rank does not change.

    >>> import wengert.numpy as wnp
    >>> wnp.linalg.pinv(wnp.array([[2.0, 0.0]]))
    array([[0.5],
           [0. ]])
    """
    a = _prep(a, "pinv", square=False)
    if rcond is None:
        if rtol is _NOVALUE:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(tuple(shape_of(a))[-2:]) * _np.finfo(dtype_of(a)).eps
        else:
            rcond = rtol
    elif rtol is not _NOVALUE:
        raise ValueError("linalg.pinv: `rtol` and `rcond` can't be both set")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.pinv(a, rcond=rcond, hermitian=hermitian)
    return L.pinv_p.bind(a, rcond, bool(hermitian))


def matrix_power(a, n):
    """``a`` to an integer power by repeated squaring (negative: of ``inv(a)``).

    >>> import wengert.numpy as wnp
    >>> wnp.linalg.matrix_power(wnp.array([[1.0, 1.0], [0.0, 1.0]]), 3)
    array([[1., 3.],
           [0., 1.]])
    """
    a = _prep(a, "matrix_power")
    if not isinstance(n, (int, _np.integer)):
        raise TypeError(f"linalg.matrix_power: exponent must be an integer, got {n!r}")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.linalg.matrix_power(a, n)
    n = int(n)
    if n == 0:
        return _np.broadcast_to(_np.eye(a.shape[-1], dtype=dtype_of(a)), tuple(a.shape)).copy()
    if n < 0:
        a = inv(a)
        n = -n
    result = None
    z = a
    while True:
        if n & 1:
            result = z if result is None else F.matmul(result, z)
        n >>= 1
        if not n:
            return result
        z = F.matmul(z, z)


def multi_dot(arrays, *, out=None):
    """``a @ b @ c ...`` with NumPy's rule for 1-D first/last arguments."""
    arrays = [lift(x) for x in arrays]
    if not any(_isT(x, Tracer) for x in arrays):
        return _np.linalg.multi_dot(arrays, out=out)
    F._traced_out("linalg.multi_dot", out)
    r = arrays[0]
    for x in arrays[1:]:
        r = F.matmul(r, x)
    return r


def matrix_transpose(x, /):
    """Swap the last two axes."""
    return F.swapaxes(x, -1, -2)


# ----------------------------------------------------------------------------
# norms


def _safe_sqrt_sum_sq(x, axis, keepdims):
    """``sqrt(sum |x|²)`` whose derivative at 0 is 0 (not 0/0)."""
    if _np.issubdtype(dtype_of(x), _np.complexfloating):
        sq = F.real(x * F.conj(x))
    else:
        sq = x * x
    s = F.sum(sq, axis=axis, keepdims=keepdims)
    zero = F.equal(s, 0)
    return F.where(zero, 0.0, F.sqrt(F.where(zero, 1.0, s)))


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return _safe_sqrt_sum_sq(x, axis, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"linalg.norm: invalid norm order {ord!r} for vectors")
    ax = F.abs(x)
    if ord == _np.inf:
        return F.max(ax, axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return F.min(ax, axis=axis, keepdims=keepdims)
    if ord == 0:
        nz = F.astype(F.not_equal(x, 0), F.real(x).dtype if hasattr(x, "dtype") else float)
        return F.sum(nz, axis=axis, keepdims=keepdims)
    if ord == 1:
        return F.sum(ax, axis=axis, keepdims=keepdims)
    return F.power(F.sum(F.power(ax, ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    nd = len(shape_of(x))
    r, c = axes
    if ord in (None, "fro", "f"):
        res = _safe_sqrt_sum_sq(x, (r, c), True)
    elif ord in (2, -2, "nuc"):
        y = F.moveaxis(x, (r, c), (-2, -1))
        s = svd(y, compute_uv=False)
        red = F.max if ord == 2 else F.min if ord == -2 else F.sum
        res = red(s, axis=-1)
        res = F.expand_dims(F.expand_dims(res, -1), -1)
        res = F.moveaxis(res, (-2, -1), (r, c))
    elif ord in (1, -1, _np.inf, -_np.inf):
        red = F.max if ord in (1, _np.inf) else F.min
        summed, over = (r, c) if ord in (1, -1) else (c, r)
        res = red(F.sum(F.abs(x), axis=summed, keepdims=True), axis=over, keepdims=True)
    else:
        raise ValueError(f"linalg.norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        return res
    return F.squeeze(res, axis=(r % nd, c % nd))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector and matrix norms with NumPy's ``ord``/``axis``/``keepdims``.

    Orders: vectors None/2, 1, inf, -inf, 0, any p; matrices 'fro', 'nuc', 1,
    -1, 2, -2, inf, -inf.  At zero, the gradient of the 2-/Frobenius norm is
    0 (the minimum-norm subgradient), of 1/inf norms 0 (``abs′(0) = 0``).

    >>> import wengert as wg, wengert.numpy as wnp
    >>> float(wnp.linalg.norm(wnp.array([3.0, 4.0])))
    5.0
    >>> wg.grad(wnp.linalg.norm)(wnp.zeros(2))
    array([0., 0.])
    """
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    shape = tuple(x.shape)
    nd = len(shape)
    if not _np.issubdtype(dtype_of(x), _np.inexact):
        x = F.astype(x, float)
    if axis is None:
        if ord is None:
            r = _safe_sqrt_sum_sq(F.ravel(x), None, False)
            return F.reshape(r, (1,) * nd) if keepdims else r
        if nd == 1:
            axis = (0,)
        elif nd == 2:
            axis = (0, 1)
        else:
            raise ValueError("linalg.norm: improper number of dimensions to norm (give axis=)")
    elif isinstance(axis, (int, _np.integer)):
        axis = (int(axis),)
    axis = tuple(int(a) for a in axis)
    norm_axes(axis, nd, "linalg.norm")  # validates range and repeats
    if len(axis) == 1:
        return _vector_norm(x, ord, axis[0], keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, (axis[0] % nd, axis[1] % nd), keepdims)
    raise ValueError("linalg.norm: improper number of dimensions to norm")


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """NumPy 2's ``vector_norm``: ``axis=None`` flattens."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    if axis is None:
        r = _vector_norm(F.ravel(x), ord, 0, False)
        return F.reshape(r, (1,) * len(x.shape)) if keepdims else r
    if isinstance(axis, tuple) and len(axis) > 1:
        nd = len(x.shape)
        axes = norm_axes(axis, nd, "linalg.vector_norm")
        rest = [i for i in range(nd) if i not in axes]
        y = F.transpose(x, rest + list(axes))
        y = F.reshape(y, tuple(x.shape[i] for i in rest) + (-1,))
        r = _vector_norm(y, ord, -1, False)
        if keepdims:
            r = F.reshape(r, tuple(1 if i in axes else s for i, s in enumerate(x.shape)))
        return r
    return _vector_norm(x, ord, axis if not isinstance(axis, tuple) else axis[0], keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """NumPy 2's ``matrix_norm`` over the last two axes."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


def cond(x, p=None):
    """Condition number; for ``p`` None/2/-2 the ratio of extreme singular
    values, otherwise ``norm(x, p) * norm(inv(x), p)``."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _np.linalg.cond(x, p)
    if p in (None, 2, -2):
        s = svd(x, compute_uv=False)
        lo, hi = F.min(s, axis=-1), F.max(s, axis=-1)
        return hi / lo if p != -2 else lo / hi
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


# --- array-API spellings over the trailing axes --------------------------------------------


def matmul(x1, x2, /):
    """``x1 @ x2``."""
    return F.matmul(x1, x2)


def tensordot(x1, x2, /, *, axes=2):
    """``numpy.tensordot``."""
    return F.tensordot(x1, x2, axes=axes)


def outer(x1, x2, /):
    """Outer product of two vectors."""
    if not (_isT(x1, Tracer) or _isT(x2, Tracer)):
        return _np.linalg.outer(x1, x2)
    if len(shape_of(x1)) != 1 or len(shape_of(x2)) != 1:
        raise ValueError("linalg.outer: both inputs must be 1-dimensional")
    return F.outer(x1, x2)


def cross(x1, x2, /, *, axis=-1):
    """Cross product of 3-vectors along ``axis``."""
    if not (_isT(x1, Tracer) or _isT(x2, Tracer)):
        return _np.linalg.cross(x1, x2, axis=axis)
    return F.cross(x1, x2, axis=axis)


def diagonal(x, /, *, offset=0):
    """Diagonals of the trailing two axes."""
    return F.diagonal(x, offset, -2, -1) if _isT(x, Tracer) else _np.linalg.diagonal(x, offset=offset)


def trace(x, /, *, offset=0, dtype=None):
    """Traces of the trailing two axes."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _np.linalg.trace(x, offset=offset, dtype=dtype)
    return F.sum(diagonal(x, offset=offset), axis=-1, dtype=dtype)


def vecdot(x1, x2, /, *, axis=-1):
    """``sum(conj(x1) * x2, axis)``."""
    from ._extra import vecdot as _vecdot
    return _vecdot(x1, x2, axis=axis)


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """Rank (an integer: not differentiable), from the concrete value."""
    return _np.linalg.matrix_rank(F._concrete(A, "linalg.matrix_rank"), tol, hermitian, rtol=rtol)


def lstsq(a, b, rcond=None):
    """Least squares ``(x, residuals, rank, s)``; ``x = pinv(a) @ b`` with
    NumPy's cutoff, differentiable in ``a`` and ``b`` where the rank is
    locally constant.  ``residuals`` (``m > n`` and full rank) are
    ``sum(|b - a x|², axis=0)``."""
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return _np.linalg.lstsq(a, b, rcond=rcond)
    a = _prep(a, "lstsq", square=False)
    if len(shape_of(a)) != 2:
        raise LinAlgError(f"linalg.lstsq: a must be 2-dimensional, got shape {tuple(shape_of(a))}")
    m, n = tuple(shape_of(a))
    if rcond is None:
        rcond = _np.finfo(dtype_of(a)).eps * max(m, n)
    s = svd(a, compute_uv=False)
    x = F.matmul(pinv(a, rcond=rcond), b)
    try:
        sv = _np.asarray(F._concrete(s, "linalg.lstsq"))
        rank = int(_np.sum(sv > rcond * sv.max())) if sv.size else 0
    except TypeError:  # inside vmap/jit: no concrete value, assume full rank
        rank = min(m, n)
    if m > n and rank == n:
        r = F.subtract(b, F.matmul(a, x))
        sq = F.real(r * F.conj(r)) if _np.issubdtype(dtype_of(r), _np.complexfloating) else r * r
        resid = F.sum(sq, axis=0)
        if len(shape_of(resid)) == 0:
            resid = F.reshape(resid, (1,))
    else:
        resid = _np.empty((0,), dtype=_np.finfo(dtype_of(a)).dtype)
    return x, resid, rank, s


def __getattr__(name: str):
    if hasattr(_np.linalg, name) and not name.startswith("__"):
        from ._dispatch import NotSupportedError  # AttributeError too: hasattr() is False
        raise NotSupportedError(f"wengert.numpy.linalg.{name} is not supported yet: it has no derivative rule. "
            f"Use numpy.linalg.{name} on constants, or open an issue.", name=name, obj=None)
    raise AttributeError(f"module 'wengert.numpy.linalg' has no attribute '{name}'")

