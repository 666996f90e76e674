"""More of NumPy's namespace, as compositions of ``wengert.numpy`` functions
(no new primitives): array-API aliases, differences and integrals,
convolution, interpolation, polynomials, NaN-aware reductions, order
statistics, covariance, and the helpers ``pad``/``take_along_axis`` need for
value-computing pad modes and for indices that are themselves traced.

Every function returns NumPy's own result when nothing is traced.

>>> import wengert as wg, wengert.numpy as wnp
>>> float(wg.grad(lambda x: wnp.trapezoid(x ** 2))(wnp.array([0.0, 1.0, 2.0]))[1])
2.0
>>> wg.grad(lambda x: wnp.median(x))(wnp.array([3.0, 1.0, 2.0, 10.0]))
array([0.5, 0. , 0.5, 0. ])
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .._core import Tracer
from . import _funcs as F
from ._base import SEQ, _flat_seq, any_tracer, as_operand, dtype_of, index_gather, lift, norm_axes, norm_axis, shape_of
from ._dtypes import as_numpy_dtype, cast_inputs, numpy_dtype
from ._exact import exact_call, exact_nodiff, in_composite, inexact

_isT = isinstance

__all__ = [
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "atan2", "pow", "fix", "matrix_transpose",
    "vecdot", "matvec", "vecmat", "unstack", "rollaxis", "dsplit", "diagflat", "append",
    "delete", "insert", "block", "resize", "choose", "diff", "ediff1d", "gradient",
    "trapezoid", "convolve", "correlate", "interp", "polyval", "polyadd", "polysub", "polymul",
    "polyder", "polyint", "vander", "copysign", "heaviside", "nan_to_num", "nansum", "nanprod",
    "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nancumsum", "nancumprod", "nanargmax",
    "nanargmin", "median", "quantile", "percentile", "cov", "corrcoef", "ldexp", "modf",
    "divmod", "isposinf", "isneginf", "isreal", "iscomplex", "signbit", "bincount",
    "argpartition", "digitize", "isin", "lexsort", "unwrap", "apply_along_axis",
    "diag_indices_from", "tril_indices_from", "triu_indices_from", "ix_", "bartlett",
    "blackman", "hamming", "hanning", "kaiser",
]

# --- aliases (NumPy 2 / array API names) -----------------------------------------------
acos, acosh, asin, asinh = F.arccos, F.arccosh, F.arcsin, F.arcsinh  # noqa: F821
atan, atanh, atan2, pow = F.arctan, F.arctanh, F.arctan2, F.power  # noqa: A001
fix = F.trunc
diag_indices_from = np.diag_indices_from
tril_indices_from = np.tril_indices_from
triu_indices_from = np.triu_indices_from
ix_ = np.ix_
bartlett, blackman, hamming, hanning, kaiser = np.bartlett, np.blackman, np.hamming, np.hanning, np.kaiser


def _traced(*xs):
    """Is any argument traced, or a (nested) list holding a traced value (which
    the traced path's ``as_operand`` makes one array, see ``_base.lift``)?"""
    return any_tracer(xs) or any_tracer(_flat_seq(xs))


def matrix_transpose(x, /):
    """Swap the last two axes."""
    if type(x) in SEQ:
        x = lift(x)
    return F.swapaxes(x, -1, -2) if _isT(x, Tracer) else np.matrix_transpose(x)


def vecdot(x1, x2, /, *, axis=-1):
    """``sum(conj(x1) * x2, axis)``."""
    if not _traced(x1, x2):
        return np.vecdot(x1, x2, axis=axis)
    x1, x2 = as_operand(x1), as_operand(x2)
    if np.issubdtype(dtype_of(x1), np.complexfloating):
        x1 = F.conj(x1)
    return F.sum(F.multiply(x1, x2), axis=axis)


def matvec(x1, x2, /):
    """Matrix–vector product over stacks, ``x1 @ x2[..., None]``."""
    if not _traced(x1, x2):
        return np.matvec(x1, x2)
    return F.matmul(x1, F.expand_dims(as_operand(x2), -1))[..., 0]


def vecmat(x1, x2, /):
    """Vector–matrix product over stacks, ``conj(x1)[..., None, :] @ x2``."""
    if not _traced(x1, x2):
        return np.vecmat(x1, x2)
    x1 = as_operand(x1)
    if np.issubdtype(dtype_of(x1), np.complexfloating):
        x1 = F.conj(x1)
    return F.matmul(F.expand_dims(x1, -2), x2)[..., 0, :]


def unstack(x, /, *, axis=0):
    """Split into a tuple of the slices along ``axis``."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return np.unstack(x, axis=axis)
    y = F.moveaxis(x, axis, 0)
    return tuple(y[i] for i in range(y.shape[0]))


def rollaxis(a, axis, start=0):
    """``numpy.rollaxis`` (a transpose)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.rollaxis(a, axis, start)
    n = len(a.shape)
    axis = norm_axis(axis, n, "rollaxis")
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise np.exceptions.AxisError(f"rollaxis: start {start} is out of bounds for {n} dimensions")
    if axis < start:
        start -= 1
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return F.transpose(a, axes)


def dsplit(ary, indices_or_sections):
    """Split along the third axis."""
    if not _isT(ary, Tracer) and not _isT(ary := lift(ary), Tracer):
        return np.dsplit(ary, indices_or_sections)
    return F.split(ary, indices_or_sections, axis=2)


def diagflat(v, k=0):
    """A 2-D array with the flattened ``v`` on diagonal ``k``."""
    if not _isT(v, Tracer) and not _isT(v := lift(v), Tracer):
        return np.diagflat(v, k)
    return F.diag(F.ravel(v), k)


def append(arr, values, axis=None):
    """``concatenate`` of ``arr`` and ``values`` (flattened when ``axis`` is None)."""
    if not _traced(arr, values):
        return np.append(arr, values, axis)
    arr, values = as_operand(arr), as_operand(values)
    if axis is None:
        return F.concatenate([F.ravel(arr), F.ravel(values)])
    return F.concatenate([arr, values], axis=axis)


def delete(arr, obj, axis=None):
    """``numpy.delete`` as one gather (``obj`` must be concrete)."""
    if not _isT(arr, Tracer) and not _isT(arr := lift(arr), Tracer):
        return np.delete(arr, obj, axis)
    return index_gather(arr, lambda pos: np.delete(pos, obj, axis))


def insert(arr, obj, values, axis=None):
    """``numpy.insert``: one gather from ``arr`` and ``values`` together;
    differentiable in both."""
    if not _traced(arr, values):
        return np.insert(arr, obj, values, axis)
    arr, values = as_operand(arr), as_operand(values)
    dt = np.result_type(dtype_of(arr), dtype_of(values))
    n = math.prod(shape_of(arr))
    m = math.prod(shape_of(values))
    pos = np.arange(n).reshape(shape_of(arr))
    ids = np.insert(pos, obj, -1 - np.arange(m).reshape(shape_of(values)), axis)
    ids = np.where(ids < 0, n + (-1 - ids), ids)
    flat = F.concatenate([F.ravel(F.astype(arr, dt)), F.ravel(F.astype(values, dt))])
    return F.reshape(flat[ids.ravel()], ids.shape)


def block(arrays):
    """``numpy.block``: nested lists joined innermost-last-axis first."""
    leaves = []

    def depth(x):
        if isinstance(x, list):
            if not x:
                raise ValueError("block: lists cannot be empty")
            ds = {depth(e) for e in x}
            if len(ds) != 1:
                raise ValueError("block: list depths are mismatched")
            return 1 + ds.pop()
        leaves.append(x)
        return 0

    d = depth(arrays)
    if not any_tracer(leaves):
        return np.block(arrays)
    nd = builtins.max([d] + [len(shape_of(x)) for x in leaves])

    def build(x, level):
        if isinstance(x, list):
            return F.concatenate([build(e, level + 1) for e in x], axis=-(d - level))
        x = as_operand(x)
        s = tuple(shape_of(x))
        return F.reshape(x, (1,) * (nd - len(s)) + s)

    return build(arrays, 0)


def resize(a, new_shape):
    """``numpy.resize``: repeat the flattened array to fill ``new_shape``."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.resize(a, new_shape)
    return index_gather(a, lambda pos: np.resize(pos, new_shape))


def choose(a, choices, out=None, mode="raise"):
    """``numpy.choose`` with concrete indices ``a``; differentiable in ``choices``."""
    if type(a) in SEQ:
        a = lift(a)
    choices = [lift(c) for c in choices]
    if not any_tracer(choices) and not _isT(a, Tracer):
        return np.choose(a, choices, mode=mode)
    try:
        a = np.asarray(F._concrete(a, "choose"))
    except TypeError:  # indices traced inside jit/vmap: one staged gather (issue 10, G1)
        return _choose_traced(a, choices, mode)
    shape = np.broadcast_shapes(a.shape, *[shape_of(c) for c in choices])
    c = F.stack([F.broadcast_to(as_operand(x), shape) for x in choices])
    idx = np.choose(np.broadcast_to(a, shape), np.arange(len(choices)).reshape((-1,) + (1,) * len(shape)),
                    mode=mode)
    return F.take_along_axis(c, idx[None], 0)[0]


def _choose_traced(a, choices, mode):
    n = len(choices)
    if mode == "clip":
        a = F.clip(a, 0, n - 1)
    elif mode == "wrap":
        a = F.mod(a, n)
    elif mode != "raise":
        raise ValueError(f"wnp.choose: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    shape = np.broadcast_shapes(shape_of(a), *[shape_of(c) for c in choices])
    c = F.stack([F.broadcast_to(as_operand(x), shape) for x in choices])
    if mode == "raise":  # NumPy's choose refuses negative indices
        from ._gather import index_check_p
        a = index_check_p.bind(a, n, "wnp.choose", False)
    return F.take_along_axis(c, F.broadcast_to(a, shape)[None], 0)[0]


# --- differences, integrals, convolution ---------------------------------------------------


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``n``-th discrete difference along ``axis``."""
    if not _traced(a, None if prepend is np._NoValue else prepend, None if append is np._NoValue else append):
        kw = {}
        if prepend is not np._NoValue:
            kw["prepend"] = prepend
        if append is not np._NoValue:
            kw["append"] = append
        return np.diff(a, n, axis, **kw)
    a = as_operand(a)
    if dtype_of(a) == np.bool_ and prepend is np._NoValue and append is np._NoValue:
        return exact_nodiff(np.diff, (a, n, axis), {})  # NumPy's not_equal for bool, in every mode
    nd = len(shape_of(a))
    ax = norm_axis(axis, nd, "diff")
    parts = []
    for extra in (prepend, None, append):
        if extra is None:
            parts.append(a)
        elif extra is not np._NoValue:
            e = as_operand(extra)
            if len(shape_of(e)) == 0:
                shape = list(shape_of(a))
                shape[ax] = 1
                e = F.broadcast_to(e, tuple(shape))
            parts.append(e)
    if len(parts) > 1:
        a = F.concatenate(parts, axis=ax)
    pre = (slice(None),) * ax
    for _ in range(n):
        a = a[pre + (slice(1, None),)] - a[pre + (slice(None, -1),)]
    return a


def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with optional ends."""
    if not _traced(ary, to_end, to_begin):
        return np.ediff1d(ary, to_end, to_begin)
    d = diff(F.ravel(as_operand(ary)))
    dt = dtype_of(d)
    parts = []
    if to_begin is not None:
        parts.append(F.astype(F.ravel(as_operand(to_begin)), dt))
    parts.append(d)
    if to_end is not None:
        parts.append(F.astype(F.ravel(as_operand(to_end)), dt))
    return F.concatenate(parts) if len(parts) > 1 else d


def _linear_along(a, axis, fn):
    """Apply the linear map ``fn`` (NumPy, acting along axis 0) along ``axis``
    of a traced ``a``, as a matrix built from the identity."""
    a = as_operand(a)
    nd = len(shape_of(a))
    ax = norm_axis(axis, nd, "function")
    n = shape_of(a)[ax]
    M = np.asarray(fn(np.eye(n)))  # (m, n): column j is fn(e_j)
    y = F.moveaxis(a, ax, -1)
    dt = dtype_of(a) if dtype_of(a).kind in "fc" else np.result_type(M, dtype_of(a))
    out = F.matmul(y, M.T.astype(dt))
    return F.moveaxis(out, -1, ax)


def gradient(f, *varargs, axis=None, edge_order=1):
    """``numpy.gradient`` (spacings/coordinates must be constants): it is
    linear in ``f``, applied as NumPy's own stencil matrix."""
    if not _isT(f, Tracer) and not _isT(f := lift(f), Tracer):
        return np.gradient(f, *varargs, axis=axis, edge_order=edge_order)
    if not in_composite() and (len(f.shape) == 1 or isinstance(axis, (int, np.integer))):  # one output
        return exact_call(np.gradient, gradient, (f,) + varargs, {"axis": axis, "edge_order": edge_order})
    nd = len(f.shape)
    axes = norm_axes(axis, nd, "gradient") if axis is not None else tuple(range(nd))
    if isinstance(axis, (int, np.integer)):
        axes = (norm_axis(axis, nd, "gradient"),)
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    else:
        spacing = list(varargs)
    outs = [_linear_along(f, ax, lambda e, h=h: np.gradient(e, h, axis=0, edge_order=edge_order))
            for ax, h in zip(axes, spacing)]
    return outs[0] if len(outs) == 1 else tuple(outs)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Trapezoidal rule; differentiable in ``y`` and in the sample points ``x``."""
    if not _traced(y, x, dx):
        return np.trapezoid(y, x, dx, axis)
    dt = numpy_dtype(np.trapezoid, y, x, dx, axis)  # NumPy's dtype (issue 10)
    y = as_operand(y)
    nd = len(shape_of(y))
    ax = norm_axis(axis, nd, "trapezoid")
    if x is None:
        d = dx
    else:
        x = as_operand(x)
        d = diff(x, axis=-1 if len(shape_of(x)) == 1 else ax)
        if len(shape_of(x)) == 1 and nd > 1:
            shape = [1] * nd
            shape[ax] = shape_of(d)[0]
            d = F.reshape(d, tuple(shape))
    pre = (slice(None),) * ax
    mid = (y[pre + (slice(1, None),)] + y[pre + (slice(None, -1),)]) * 0.5
    return as_numpy_dtype(F.sum(F.multiply(d, mid), axis=ax), dt)


def _conv_full(a, v):
    """Full 1-D convolution of traced vectors: anti-diagonal sums of the outer product."""
    n, m = shape_of(a)[0], shape_of(v)[0]
    P = F.outer(a, v)
    k = (np.arange(n)[:, None] + np.arange(m)[None, :]).ravel()
    S = np.zeros((n * m, n + m - 1), dtype=np.finfo(np.result_type(dtype_of(a), dtype_of(v), 1.0)).dtype)
    S[np.arange(n * m), k] = 1.0
    return F.matmul(F.ravel(P), S)


def _mode_slice(full, n, m, mode):
    if mode == "full":
        return full
    lo, hi = builtins.min(n, m), builtins.max(n, m)
    if mode == "same":
        start = (lo - 1) // 2
        return full[start:start + hi]
    if mode == "valid":
        return full[lo - 1:hi]
    raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")


def convolve(a, v, mode="full"):
    """1-D discrete convolution; differentiable in both inputs."""
    if not _traced(a, v):
        return np.convolve(a, v, mode)
    if not in_composite():  # NumPy's value bit for bit (jit equals eager), the composition's derivatives
        return exact_call(np.convolve, convolve, (a, v, mode), {})
    a, v = F.ravel(as_operand(a)), F.ravel(as_operand(v))
    n, m = shape_of(a)[0], shape_of(v)[0]
    if n == 0 or m == 0:
        raise ValueError("convolve: inputs cannot be empty")
    return _mode_slice(_conv_full(a, v), n, m, mode)


def correlate(a, v, mode="valid"):
    """1-D cross-correlation ``c[k] = Σ a[n+k] conj(v[n])``."""
    if not _traced(a, v):
        return np.correlate(a, v, mode)
    if not in_composite():  # NumPy's value bit for bit (jit equals eager), the composition's derivatives
        return exact_call(np.correlate, correlate, (a, v, mode), {})
    a, v = F.ravel(as_operand(a)), F.ravel(as_operand(v))
    if np.issubdtype(dtype_of(v), np.complexfloating):
        v = F.conj(v)
    n, m = shape_of(a)[0], shape_of(v)[0]
    if n >= m:
        return _mode_slice(_conv_full(a, F.flip(v)), n, m, mode)
    # NumPy swaps the inputs when v is longer and reverses the result
    r = _mode_slice(_conv_full(F.flip(a), v), n, m, mode)
    r = F.flip(r)
    return F.conj(r) if np.issubdtype(dtype_of(r), np.complexfloating) else r


# --- interpolation and polynomials ------------------------------------------------------------


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation; differentiable in ``x``, ``fp``,
    ``left`` and ``right`` (``xp`` is a constant).  At a knot the
    derivative in ``x`` is the slope of the segment to its right."""
    if not _traced(x, fp, left, right):
        return np.interp(x, xp, fp, left, right, period)
    if not in_composite():  # NumPy's value bit for bit (jit equals eager), the composition's derivatives
        return exact_call(np.interp, interp, (x, xp, fp, left, right, period), {})
    xp = np.asarray(F._concrete(xp, "interp"), dtype=float)
    fp = as_operand(fp)
    x = as_operand(x)
    if period is not None:
        period = abs(float(period))
        order = np.argsort(xp % period)
        xs = (xp % period)[order]
        fp = F.take(fp, order)
        xp = np.concatenate([xs[-1:] - period, xs, xs[:1] + period])
        fp = F.concatenate([fp[-1:], fp, fp[:1]])
        x = F.mod(x, period)
        left = right = None
    m = xp.shape[0]
    # segment index j (1..m-1) with xp[j-1] <= x < xp[j], by comparisons (works under vmap)
    cnt = F.sum(F.astype(F.greater_equal(F.expand_dims(x, -1), xp), np.int64), axis=-1)
    j = F.clip(cnt, 1, m - 1)
    onehot_hi = F.equal(F.expand_dims(j, -1), np.arange(m))
    onehot_lo = F.equal(F.expand_dims(j - 1, -1), np.arange(m))

    def pick(vals, onehot):
        return F.sum(F.where(onehot, vals, 0.0), axis=-1)

    x0, x1 = pick(xp, onehot_lo), pick(xp, onehot_hi)
    f0, f1 = pick(fp, onehot_lo), pick(fp, onehot_hi)
    out = f0 + (f1 - f0) * ((x - x0) / (x1 - x0))
    lv = fp[0] if left is None else left
    rv = fp[-1] if right is None else right
    out = F.where(F.less(x, xp[0]), lv, out)
    return F.where(F.greater(x, xp[-1]), rv, out)


def polyval(p, x):
    """Horner's rule, ``p[0] x^(n-1) + ... + p[-1]``."""
    if not _traced(p, x):
        return np.polyval(p, x)
    p, x = as_operand(p), as_operand(x)
    dt = numpy_dtype(np.polyval, p, x)  # NumPy's dtype (issue 10)
    if dt is not None and dt.kind not in "fc" and dtype_of(x).kind in "iub":
        y = F.zeros_like(x, dtype=dt) if not _isT(x, Tracer) else F.astype(x * 0, dt)
        for i in range(shape_of(p)[0]):
            y = y * x + p[i]
        return as_numpy_dtype(y, dt)
    p, x = cast_inputs(dt, p, x)
    y = F.zeros_like(x) if not _isT(x, Tracer) else x * 0.0
    for i in range(shape_of(p)[0]):
        y = y * x + p[i]
    return y


def _polypad(a, b):
    a, b = F.atleast_1d(as_operand(a)), F.atleast_1d(as_operand(b))
    n = builtins.max(shape_of(a)[0], shape_of(b)[0])
    a = F.pad(a, (n - shape_of(a)[0], 0)) if shape_of(a)[0] < n else a
    b = F.pad(b, (n - shape_of(b)[0], 0)) if shape_of(b)[0] < n else b
    return a, b


def polyadd(a1, a2):
    """Sum of polynomial coefficient arrays."""
    if not _traced(a1, a2):
        return np.polyadd(a1, a2)
    a, b = _polypad(a1, a2)
    return a + b


def polysub(a1, a2):
    """Difference of polynomial coefficient arrays."""
    if not _traced(a1, a2):
        return np.polysub(a1, a2)
    a, b = _polypad(a1, a2)
    return a - b


def polymul(a1, a2):
    """Product of polynomials (a convolution of coefficients)."""
    if not _traced(a1, a2):
        return np.polymul(a1, a2)
    return convolve(a1, a2)


def polyder(p, m=1):
    """``m``-th derivative of a polynomial's coefficients."""
    if not _isT(p, Tracer) and not _isT(p := lift(p), Tracer):
        return np.polyder(p, m)
    for _ in range(m):
        n = shape_of(p)[0] - 1
        if n <= 0:
            return np.zeros(1, dtype=dtype_of(p))
        p = p[:-1] * np.arange(n, 0, -1, dtype=float)
    return p


def polyint(p, m=1, k=None):
    """``m``-th antiderivative (integration constants ``k``, default 0)."""
    if not _traced(p, k):
        return np.polyint(p, m, k)
    ks = np.zeros(m) if k is None else k
    ks = [ks] * m if np.ndim(ks) == 0 and not _isT(ks, Tracer) else ks
    for i in range(m):
        n = shape_of(p)[0]
        p = p / np.arange(n, 0, -1, dtype=float)
        p = F.concatenate([p, F.reshape(as_operand(ks[i]) * 1.0 + F.zeros_like(p[:1]), (1,))])
    return p


def vander(x, N=None, increasing=False):
    """Vandermonde matrix: columns ``x**(N-1) ... x**0`` (or increasing)."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return np.vander(x, N, increasing)
    dt = numpy_dtype(np.vander, x, N, increasing)  # NumPy's dtype (issue 10)
    (x,) = cast_inputs(dt, x)
    n = shape_of(x)[0] if N is None else N
    cols = [x ** k if k else F.ones_like(x) + x * 0 for k in range(n)]
    if not increasing:
        cols = cols[::-1]
    return as_numpy_dtype(F.stack(cols, axis=1), dt)


# --- elementwise extras ---------------------------------------------------------------------


def signbit(x, /):
    """True where the sign bit is set (also for -0.0); not differentiable."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return np.signbit(x)
    with np.errstate(divide="ignore"):
        negzero = F.logical_and(F.equal(x, 0), F.less(F.divide(1.0, F.stop_gradient(x)), 0))
    return F.logical_or(F.less(x, 0), negzero)


def copysign(x1, x2, /):
    """``|x1|`` with the sign of ``x2``; derivative in ``x1`` is ±sign(x1), 0 in ``x2``."""
    if type(x1) in SEQ:
        x1 = lift(x1)
    if type(x2) in SEQ:
        x2 = lift(x2)
    if not _traced(x1, x2):
        return np.copysign(x1, x2)
    dt = numpy_dtype(np.copysign, x1, x2)  # NumPy's dtype (issue 10)
    x1 = float(x1) if type(x1) in (bool, int) else x1
    (x1,) = cast_inputs(dt, x1)
    r = F.where(signbit(x2) if _isT(x2, Tracer) else np.signbit(x2), -F.abs(x1), F.abs(x1))
    return as_numpy_dtype(r, dt)


def heaviside(x1, x2, /):
    """Step function: 0 below 0, 1 above, ``x2`` at 0 (differentiable in ``x2``)."""
    if type(x1) in SEQ:
        x1 = lift(x1)
    if type(x2) in SEQ:
        x2 = lift(x2)
    if not _traced(x1, x2):
        return np.heaviside(x1, x2)
    dt = numpy_dtype(np.heaviside, x1, x2)  # NumPy's dtype (issue 10)
    return as_numpy_dtype(F.where(F.less(x1, 0), 0.0, F.where(F.greater(x1, 0), 1.0, x2)), dt)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """Replace NaN/±inf by finite numbers (derivative 1 where x is finite)."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    if not inexact(x):  # integers and bools have no NaN: NumPy returns them unchanged
        return x
    if np.issubdtype(dtype_of(x), np.complexfloating):
        return F.add(nan_to_num(F.real(x), nan=nan, posinf=posinf, neginf=neginf),
                     F.multiply(nan_to_num(F.imag(x), nan=nan, posinf=posinf, neginf=neginf), 1j))
    fi = np.finfo(dtype_of(x))
    pos = fi.max if posinf is None else posinf
    neg = fi.min if neginf is None else neginf
    r = F.where(F.isnan(x), nan, x)
    r = F.where(isposinf(x), pos, r)
    return F.where(isneginf(x), neg, r)


def isposinf(x, /):
    """``isinf(x) & (x > 0)``."""
    if type(x) in SEQ:
        x = lift(x)
    return F.logical_and(F.isinf(x), F.greater(x, 0)) if _isT(x, Tracer) else np.isposinf(x)


def isneginf(x, /):
    """``isinf(x) & (x < 0)``."""
    if type(x) in SEQ:
        x = lift(x)
    return F.logical_and(F.isinf(x), F.less(x, 0)) if _isT(x, Tracer) else np.isneginf(x)


def isreal(x, /):
    """``imag(x) == 0``."""
    if type(x) in SEQ:
        x = lift(x)
    return F.equal(F.imag(x), 0) if _isT(x, Tracer) else np.isreal(x)


def iscomplex(x, /):
    """``imag(x) != 0``."""
    if type(x) in SEQ:
        x = lift(x)
    return F.not_equal(F.imag(x), 0) if _isT(x, Tracer) else np.iscomplex(x)


def ldexp(x1, x2, /):
    """``x1 * 2**x2`` (``x2`` integer)."""
    if type(x1) in SEQ:
        x1 = lift(x1)
    if type(x2) in SEQ:
        x2 = lift(x2)
    if not _traced(x1, x2):
        return np.ldexp(x1, x2)
    dt = numpy_dtype(np.ldexp, x1, x2) or (dtype_of(x1) if dtype_of(x1).kind == "f" else np.float64)
    e = F.astype(as_operand(x2), dt) if _isT(x2, Tracer) else np.asarray(x2, dtype=dt)
    return F.multiply(x1, F.power(np.asarray(2.0, dt)[()], e))


def modf(x, /):
    """``(x - trunc(x), trunc(x))``."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return np.modf(x)
    t = F.trunc(x)
    return x - t, t


def divmod(x1, x2, /):  # noqa: A001
    """``(floor_divide(x1, x2), mod(x1, x2))``."""
    if type(x1) in SEQ:
        x1 = lift(x1)
    if type(x2) in SEQ:
        x2 = lift(x2)
    if not _traced(x1, x2):
        return np.divmod(x1, x2)
    return F.floor_divide(x1, x2), F.mod(x1, x2)


# --- NaN-aware reductions -------------------------------------------------------------------


def _nanfill(a, value):
    return F.where(F.isnan(a), value, a)


def _nan_red(name, fill, red):
    npf = getattr(np, name)

    def f(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=True):
        if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
            return npf(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)
        if out is not None:
            F._traced_out(name, out)
        if not inexact(a) and _isT(where, Tracer) is False and _isT(initial, Tracer) is False:
            # integers have no NaN: NumPy's function (its int64 result), no derivative
            return exact_nodiff(npf, (a,), {"axis": axis, "dtype": dtype, "keepdims": keepdims,
                                            "initial": initial, "where": where})
        if dtype is not None:
            a = F.astype(a, dtype)
        return red(_nanfill(a, fill), axis=axis, keepdims=keepdims, initial=initial, where=where)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"``numpy.{name}``: NaNs count as {fill}; their gradient is 0 (``initial=``, "
                 "``where=`` as in NumPy).")
    return f


nansum = _nan_red("nansum", 0.0, F.sum)
nanprod = _nan_red("nanprod", 1.0, F.prod)


def nanmax(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=True):
    """Maximum ignoring NaNs (ties split the gradient; ``initial=``, ``where=`` as in NumPy)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.nanmax(a, axis=axis, out=out, keepdims=keepdims, initial=initial, where=where)
    if out is not None:
        F._traced_out("nanmax", out)
    return F.max(_nanfill(a, -np.inf), axis=axis, keepdims=keepdims, initial=initial, where=where)


def nanmin(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=True):
    """Minimum ignoring NaNs (ties split the gradient; ``initial=``, ``where=`` as in NumPy)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.nanmin(a, axis=axis, out=out, keepdims=keepdims, initial=initial, where=where)
    if out is not None:
        F._traced_out("nanmin", out)
    return F.min(_nanfill(a, np.inf), axis=axis, keepdims=keepdims, initial=initial, where=where)


def _nancount(a, axis, keepdims, where=True):
    ok = F.logical_not(F.isnan(a))
    if where is not True:
        ok = F.logical_and(ok, F._mask(where, a, "nanmean"))
    return F.sum(F.astype(ok, np.finfo(dtype_of(a)).dtype if np.dtype(dtype_of(a)).kind in "fc" else float),
                 axis=axis, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    """Mean of the non-NaN elements (``where=`` as in NumPy)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.nanmean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, where=where)
    if out is not None:
        F._traced_out("nanmean", out)
    if dtype is not None:
        a = F.astype(a, dtype)
    return nansum(a, axis=axis, keepdims=keepdims, where=where) / _nancount(a, axis, keepdims, where)


def _nan_traced_kw(name, where, mean):
    if where is not True or mean is not np._NoValue:
        raise TypeError(f"wnp.{name}: where= and mean= are not supported on traced values; mask the input "
                        "instead (e.g. wnp.where(mask, x, wnp.nan)), or use wnp.var/wnp.std, which take them")


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=np._NoValue,
           correction=np._NoValue):
    """Variance of the non-NaN elements (``correction=`` is ``ddof``)."""
    ddof = F._ddof("nanvar", ddof, correction)
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer) and not _isT(mean, Tracer):
        return np.nanvar(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean)
    if out is not None:
        F._traced_out("nanvar", out)
    _nan_traced_kw("nanvar", where, mean)
    if dtype is not None:
        a = F.astype(a, dtype)
    d = _nanfill(a - nanmean(a, axis=axis, keepdims=True), 0.0)
    sq = F.real(d * F.conj(d)) if np.issubdtype(dtype_of(a), np.complexfloating) else d * d
    return F.sum(sq, axis=axis, keepdims=keepdims) / (_nancount(a, axis, keepdims) - ddof)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=np._NoValue,
           correction=np._NoValue):
    """Standard deviation of the non-NaN elements (``correction=`` is ``ddof``)."""
    ddof = F._ddof("nanstd", ddof, correction)
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer) and not _isT(mean, Tracer):
        return np.nanstd(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean)
    if out is not None:
        F._traced_out("nanstd", out)
    _nan_traced_kw("nanstd", where, mean)
    return F._safe_sqrt(nanvar(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))  # 0 where it is 0, as std


def nancumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum with NaNs as 0."""
    if type(a) in SEQ:
        a = lift(a)
    if not _isT(a, Tracer):
        return np.nancumsum(a, axis=axis, dtype=dtype, out=out)
    F._traced_out("nancumsum", out)
    if not inexact(a):
        return exact_nodiff(np.nancumsum, (a,), {"axis": axis, "dtype": dtype})
    return F.cumsum(_nanfill(a, 0.0), axis=axis, dtype=dtype)


def nancumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product with NaNs as 1."""
    if type(a) in SEQ:
        a = lift(a)
    if not _isT(a, Tracer):
        return np.nancumprod(a, axis=axis, dtype=dtype, out=out)
    F._traced_out("nancumprod", out)
    if not inexact(a):
        return exact_nodiff(np.nancumprod, (a,), {"axis": axis, "dtype": dtype})
    return F.cumprod(_nanfill(a, 1.0), axis=axis, dtype=dtype)


def nanargmax(a, axis=None, out=None, keepdims=False):
    """Index of the maximum ignoring NaNs (not differentiable)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.nanargmax(a, axis=axis, out=out, keepdims=keepdims)
    F._traced_out("nanargmax", out)
    return F.argmax(_nanfill(a, -np.inf), axis=axis, keepdims=keepdims)


def nanargmin(a, axis=None, out=None, keepdims=False):
    """Index of the minimum ignoring NaNs (not differentiable)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.nanargmin(a, axis=axis, out=out, keepdims=keepdims)
    F._traced_out("nanargmin", out)
    return F.argmin(_nanfill(a, np.inf), axis=axis, keepdims=keepdims)


# --- order statistics -------------------------------------------------------------------------


_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None):
    """``numpy.quantile`` by sorting; the gradient goes to the (one or two)
    order statistics the quantile interpolates, with their weights.
    (``overwrite_input=`` is a memory hint: the input is never modified.)"""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer) and not _isT(weights, Tracer):
        return np.quantile(a, q, axis=axis, out=out, overwrite_input=overwrite_input, method=method,
                           keepdims=keepdims, weights=weights)
    F._traced_out("quantile", out)
    if not in_composite() and weights is None:  # NumPy's value bit for bit, the composition's derivatives
        return exact_call(np.quantile, quantile, (a, q), {"axis": axis, "method": method, "keepdims": keepdims})
    if weights is not None:
        raise TypeError("wnp.quantile(..., weights=...) is not supported on traced values; "
                        "pass the weights only with concrete (untraced) arrays")
    if method not in _METHODS:
        raise ValueError(f"quantile: method must be one of {_METHODS} under a transformation, got {method!r}")
    qv = np.asarray(F._concrete(q, "quantile"), dtype=float)
    if np.any((qv < 0) | (qv > 1)):
        raise ValueError("quantile: quantiles must be in the range [0, 1]")
    nd = len(a.shape)
    if axis is None:
        y, ax = F.ravel(a), 0
    else:
        y, ax = a, norm_axes(axis, nd, "quantile")
        if len(ax) > 1:
            rest = [i for i in range(nd) if i not in ax]
            y = F.transpose(a, rest + list(ax))
            y = F.reshape(y, tuple(a.shape[i] for i in rest) + (-1,))
            ax = len(rest)
        else:
            ax = ax[0]
    s = F.moveaxis(F.sort(y, axis=ax), ax, -1)
    n = s.shape[-1]
    pos = qv * (n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    if method == "lower":
        hi, frac = lo, frac * 0
    elif method == "higher":
        lo = np.ceil(pos).astype(int)
        hi, frac = lo, frac * 0
    elif method == "nearest":
        lo = np.around(pos).astype(int)
        hi, frac = lo, frac * 0
    elif method == "midpoint":
        frac = np.where(frac > 0, 0.5, 0.0)
    lo_v = s[..., lo.ravel()]
    hi_v = s[..., hi.ravel()]
    r = lo_v + (hi_v - lo_v) * frac.ravel().astype(np.finfo(dtype_of(a)).dtype)  # (..., q.size)
    r = F.reshape(F.moveaxis(r, -1, 0), qv.shape + tuple(r.shape[:-1]))
    if keepdims:
        axes = tuple(range(nd)) if axis is None else norm_axes(axis, nd, "quantile")
        shape = qv.shape + tuple(1 if i in axes else sz for i, sz in enumerate(a.shape))
        r = F.reshape(r, shape)
    return r


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None):
    """``quantile(a, q / 100)``."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer) and not _isT(weights, Tracer):
        return np.percentile(a, q, axis=axis, out=out, overwrite_input=overwrite_input, method=method,
                             keepdims=keepdims, weights=weights)
    F._traced_out("percentile", out)
    if weights is not None:
        raise TypeError("wnp.percentile(..., weights=...) is not supported on traced values; "
                        "pass the weights only with concrete (untraced) arrays")
    return quantile(a, np.asarray(F._concrete(q, "percentile"), dtype=float) / 100.0, axis=axis,
                    method=method, keepdims=keepdims)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """Median by sorting: for an even count the two middle elements get ½ of the gradient each."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.median(a, axis=axis, out=out, overwrite_input=overwrite_input, keepdims=keepdims)
    F._traced_out("median", out)
    if np.dtype(dtype_of(a)).kind == "b":  # NumPy's median of bools (a mean of two), no derivative
        return exact_nodiff(np.median, (a,), {"axis": axis, "keepdims": keepdims})
    if np.dtype(dtype_of(a)).kind == "c":  # NumPy's value (complex numbers sorted lexicographically)
        return exact_call(np.median, _complex_median_derivative, (a,), {"axis": axis, "keepdims": keepdims})
    return quantile(a, 0.5, axis=axis, keepdims=keepdims)


def _complex_median_derivative(a, axis=None, keepdims=False):
    raise TypeError("wnp.median: the derivative of the median of complex values is not supported "
                    "(NumPy orders complex numbers lexicographically); take the median of wnp.real(a) and "
                    "wnp.imag(a) separately, or use wg.stop_gradient(a)")


_complex_median_derivative.batch_by_loop = True  # vmap: NumPy's median of each example


# --- covariance -----------------------------------------------------------------------------


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """``numpy.cov`` (NumPy's algorithm, weights included); differentiable in
    the data and in the weights."""
    if not _traced(m, y, fweights, aweights):
        return np.cov(m, y, rowvar, bias, ddof, fweights, aweights, dtype=dtype)
    if not in_composite():  # NumPy's value bit for bit (jit equals eager), the composition's derivatives
        return exact_call(np.cov, cov, (m, y, rowvar, bias, ddof, fweights, aweights), {"dtype": dtype})
    X = F.atleast_2d(as_operand(m))
    if not rowvar and shape_of(X)[0] != 1:
        X = F.transpose(X)
    if y is not None:
        Y = F.atleast_2d(as_operand(y))
        if not rowvar and shape_of(Y)[0] != 1:
            Y = F.transpose(Y)
        X = F.concatenate([X, Y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        w = as_operand(fweights)
    if aweights is not None:
        w = as_operand(aweights) if w is None else w * as_operand(aweights)
    avg, w_sum = F.average(X, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        fact = w_sum - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * F.sum(w * as_operand(aweights)) / w_sum
    X = X - avg[:, None]
    XT = F.transpose(X) if w is None else F.transpose(X * w)
    c = F.matmul(X, F.conj(XT) if np.issubdtype(dtype_of(X), np.complexfloating) else XT)
    c = c / fact
    return F.squeeze(c)


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """Pearson correlation coefficients, ``cov / outer(σ, σ)``."""
    if not _traced(x, y):
        return np.corrcoef(x, y, rowvar, dtype=dtype)
    if not in_composite():  # NumPy's value bit for bit (jit equals eager), the composition's derivatives
        return exact_call(np.corrcoef, corrcoef, (x, y, rowvar), {"dtype": dtype})
    c = cov(x, y, rowvar)
    if len(shape_of(c)) == 0:
        return c / c
    d = F.real(F.diagonal(c)) if np.issubdtype(dtype_of(c), np.complexfloating) else F.diagonal(c)
    sd = F.sqrt(d)
    return c / sd[:, None] / sd[None, :]


# --- counting and index queries --------------------------------------------------------------


def bincount(x, /, weights=None, minlength=0):
    """Counts of the (concrete) non-negative ints ``x``; with ``weights`` it
    is a scatter-add, differentiable in the weights."""
    if not _traced(x, weights):
        return np.bincount(x, weights, minlength)
    xv = np.asarray(F._concrete(x, "bincount"))
    n = builtins.max(int(xv.max()) + 1 if xv.size else 0, minlength)
    if weights is None:
        return np.bincount(xv, minlength=minlength)
    from .. import _prims as P
    w = as_operand(weights)
    if not _isT(w, Tracer) and not _isT(w := lift(w), Tracer):
        return np.bincount(xv, w, minlength)
    return P.scatter_add(F.astype(w, np.float64) if dtype_of(w).kind != "c" else w, (xv,), (n,))


def _concrete_fn(name):
    npf = getattr(np, name)

    def f(*args, **kwargs):
        args = [F._concrete(a, name) if _isT(a, Tracer) else a for a in args]
        return npf(*args, **kwargs)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``numpy.{name}`` on concrete values (indices: not differentiable)."
    return f


def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """``numpy.argpartition`` (``kth`` an int or a sequence) of the concrete
    value: indices, not differentiable; under vmap each example's own."""
    if type(a) in SEQ:
        a = lift(a)
    if not _isT(a, Tracer):
        return np.argpartition(a, kth, axis=axis, kind=kind, order=order)
    if axis is None:
        a = F.ravel(a)
        axis = -1
    ax = norm_axis(axis, len(a.shape), "argpartition")
    from ._gather import argpartition_p
    # one primitive (NumPy's introselect) in every mode: staged by jit, batched by vmap
    return argpartition_p.bind(a, _kth(kth), ax)


def _kth(kth):
    k = np.asarray(F._concrete(kth, "argpartition"))
    return int(k) if k.ndim == 0 else tuple(int(v) for v in k.ravel())
digitize = _concrete_fn("digitize")
isin = _concrete_fn("isin")
lexsort = _concrete_fn("lexsort")


def unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    """``numpy.unwrap``: adds a piecewise-constant correction (gradient 1)."""
    if not _isT(p, Tracer) and not _isT(p := lift(p), Tracer):
        return np.unwrap(p, discont, axis, period=period)
    pv = F.stop_gradient(p)
    nd = len(p.shape)
    ax = norm_axis(axis, nd, "unwrap")
    dd = diff(pv, axis=ax)
    if discont is None:
        discont = period / 2
    high = period / 2
    ddmod = F.mod(dd + high, period) - high
    ddmod = F.where(F.logical_and(F.equal(ddmod, -high), F.greater(dd, 0)), high, ddmod)
    corr = F.where(F.less(F.abs(dd), discont), 0.0, ddmod - dd)
    shape = list(p.shape)
    shape[ax] = 1
    corr = F.concatenate([np.zeros(tuple(shape), dtype=dtype_of(p)), F.cumsum(corr, axis=ax)], axis=ax)
    return p + F.stop_gradient(corr)


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """Apply ``func1d`` to every 1-D slice along ``axis`` (a Python loop)."""
    if not _isT(arr, Tracer) and not _isT(arr := lift(arr), Tracer):
        return np.apply_along_axis(func1d, axis, arr, *args, **kwargs)
    nd = len(arr.shape)
    ax = norm_axis(axis, nd, "apply_along_axis")
    y = F.moveaxis(arr, ax, -1)
    outer = tuple(y.shape[:-1])
    res = [as_operand(func1d(y[idx], *args, **kwargs)) for idx in np.ndindex(outer)]
    out = F.reshape(F.stack(res), outer + tuple(shape_of(res[0])))
    k = len(shape_of(res[0]))
    if k == 0:
        return out
    return F.moveaxis(out, tuple(range(len(outer), len(outer) + k)), tuple(range(ax, ax + k)))


# --- helpers used by wengert.numpy._funcs ------------------------------------------------------


def pad_values(array, widths, mode, kwargs):
    """``numpy.pad`` modes that compute values ('maximum', 'minimum',
    'mean', 'median', 'linear_ramp', 'empty'), axis by axis as NumPy does."""
    x = as_operand(array)
    nd = len(widths)
    if mode == "empty":
        return F.pad(x, widths)
    stat = kwargs.get("stat_length")
    stat = np.broadcast_to(np.asarray(-1 if stat is None else stat), (nd, 2)) if mode != "linear_ramp" else None
    ends = np.broadcast_to(np.asarray(kwargs.get("end_values", 0)), (nd, 2)) if mode == "linear_ramp" else None
    red = {"maximum": F.max, "minimum": F.min, "mean": F.mean, "median": median}.get(mode)
    if red is None and mode != "linear_ramp":
        raise ValueError(f"pad: mode {mode!r} is not supported")
    for i, (lo, hi) in enumerate(widths):
        if lo == 0 and hi == 0:
            continue
        n = shape_of(x)[i]
        pre = (slice(None),) * i
        shape = list(shape_of(x))
        parts = []
        for side, width in ((0, lo), (1, hi)):
            if width == 0:
                parts.append(None)
                continue
            shape[i] = width
            if mode == "linear_ramp":
                edge = x[pre + ((slice(0, 1),) if side == 0 else (slice(n - 1, n),))]
                end = float(ends[i, side])
                k = (np.arange(width, dtype=float) / width).astype(np.finfo(dtype_of(x)).dtype)
                coef = k if side == 0 else k[::-1]
                cshape = [1] * nd
                cshape[i] = width
                parts.append(end + (edge - end) * coef.reshape(cshape))
            else:
                L = int(stat[i, side])
                L = n if L < 0 else builtins.max(1, builtins.min(L, n))
                region = x[pre + ((slice(0, L),) if side == 0 else (slice(n - L, n),))]
                parts.append(F.broadcast_to(red(region, axis=i, keepdims=True), tuple(shape)))
        pieces = [p for p in (parts[0], x, parts[1]) if p is not None]
        x = F.concatenate(pieces, axis=i)
    return x


choose = F.with_out(choose)
