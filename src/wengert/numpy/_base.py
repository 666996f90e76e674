"""Shared helpers of the NumPy namespace: broadcasting, axes, index tricks."""

from __future__ import annotations

import numpy as np

from .. import _prims as P
from .._core import JVPTracer, Tracer, broadcast_tangent
from .._shapes import broadcast_shapes2

WEAK = frozenset({int, float, complex, bool})


def is_tracer(x) -> bool:
    return isinstance(x, Tracer)


def any_tracer(xs) -> bool:
    for x in xs:
        if isinstance(x, Tracer):
            return True
    return False


def shape_of(x) -> tuple:
    if isinstance(x, (np.ndarray, np.generic, Tracer)):
        return tuple(x.shape)
    return np.shape(x)


def dtype_of(x):
    dt = getattr(x, "dtype", None)
    if dt is not None:
        return np.dtype(dt)
    if type(x) is list or type(x) is tuple:
        return np.asarray(x).dtype
    return np.result_type(x)


def as_operand(x):
    """Leave tracers, arrays and weak Python scalars alone; make the rest arrays."""
    t = type(x)
    if t in WEAK or isinstance(x, (Tracer, np.ndarray, np.generic)):
        return x
    if t is list or t is tuple:
        if any_tracer(_flat_seq(x)):
            from . import _funcs
            return _funcs.array(x)
    return np.asarray(x)


SEQ = (list, tuple)  # ``if type(x) in SEQ: x = lift(x)``: the cheap guard before lift


def lift(x):
    """A (nested) list or tuple holding traced values as one traced array
    (``wnp.array``, a stack), as NumPy would make an array of it; anything
    else unchanged.  Every ``wnp`` function that takes an array passes its
    array arguments through this (or ``as_operand``) before choosing the
    NumPy path, so ``wnp.mean([a, b])`` works on traced ``a`` and ``b``."""
    t = type(x)
    if (t is list or t is tuple) and any_tracer(_flat_seq(x)):
        from . import _funcs
        return _funcs.array(x)
    return x


def _flat_seq(x):
    out = []
    stack = [x]
    while stack:
        y = stack.pop()
        if type(y) in (list, tuple):
            stack.extend(y)
        else:
            out.append(y)
    return out


def broadcast_traced(x, shape):
    """Broadcast a traced value to ``shape`` through the broadcast primitive."""
    xs = tuple(x.shape)
    if xs == shape:
        return x
    return P.broadcast_to(x, tuple(shape), xs)


def binary(p, x, y):
    """Bind a strict binary primitive with NumPy broadcasting.

    Only traced operands are broadcast explicitly (so that no rule has to
    undo broadcasting); constants are left to NumPy.
    """
    tx = type(x)
    ty = type(y)
    if tx in WEAK or ty in WEAK:
        return p.bind(x, y)
    if not isinstance(x, (Tracer, np.ndarray, np.generic)):
        x = as_operand(x)
    if not isinstance(y, (Tracer, np.ndarray, np.generic)):
        y = as_operand(y)
    xs = getattr(x, "shape", None)
    ys = getattr(y, "shape", None)
    if xs is None or ys is None:  # a reverse-mode tangent: rules are strict already
        return p.bind(x, y)
    if xs != ys:
        xt = isinstance(x, Tracer)
        yt = isinstance(y, Tracer)
        if not ((xt and not yt and ys == ()) or (yt and not xt and xs == ())):
            if (p is P.mul_p or p is P.div_p) and _forward_only(x) and _forward_only(y):
                # every tangent term of a product or quotient has the full
                # broadcast shape, and forward mode on concrete values needs no
                # transpose: NumPy's broadcasting does it all
                return p.bind(x, y)
            out = broadcast_shapes2(xs, ys)
            if xt and xs != out:
                x = _broadcast_operand(p, x, out, tuple(xs))
            if yt and ys != out:
                y = _broadcast_operand(p, y, out, tuple(ys))
    return p.bind(x, y)


def _broadcast_operand(p, x, shape, in_shape):
    """Broadcast a traced operand of ``p`` to ``shape``; a forward-mode
    tracer over a concrete value, operand of add/sub/mul/div, broadcasts
    only its tangent (see ``_core.broadcast_tangent``)."""
    if type(x) is JVPTracer and p in _SHAPE_FREE_RULES and not isinstance(x.primal, Tracer):
        return broadcast_tangent(p, x, shape, in_shape)
    return P.broadcast_to(x, shape, in_shape)


_SHAPE_FREE_RULES = frozenset({P.add_p, P.sub_p, P.mul_p, P.div_p})


def _forward_only(v) -> bool:
    """A constant, or a forward-mode tracer over concrete values."""
    if not isinstance(v, Tracer):
        return True
    return type(v) is JVPTracer and not isinstance(v.primal, Tracer) and not isinstance(v.tangent, Tracer)




_AXES: dict = {}


def norm_axes(axis, ndim, fname="function"):
    """Normalise ``axis`` (None, int or tuple) to a sorted tuple of non-negative ints."""
    try:
        return _AXES[(axis, ndim)]
    except (KeyError, TypeError):  # not seen yet, or unhashable (a list)
        pass
    r = _norm_axes(axis, ndim, fname)
    if len(_AXES) < 4096 and type(axis) in (type(None), int, tuple):
        _AXES[(axis, ndim)] = r
    return r


def _norm_axes(axis, ndim, fname):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(
                f"{fname}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fname}: repeated axis in {axis}")
    return tuple(sorted(out))


def norm_axis(axis, ndim, fname="function"):
    return norm_axes(axis, ndim, fname)[0]


def reshape_t(x, shape):
    """Reshape a traced value (shape given fully)."""
    xs = tuple(x.shape)
    shape = tuple(int(s) for s in shape)
    if xs == shape:
        return x
    return P.reshape(x, shape, xs)


def index_gather(x, numpy_fn):
    """Apply a pure rearrangement ``numpy_fn`` to a traced ``x`` by gathering.

    ``numpy_fn`` is run on an array of flat positions; the result says which
    element of ``x`` goes where, and a single gather (whose transpose is a
    scatter-add) does the work.  Flip, roll, tile, repeat, rot90, diagonal,
    take and the padding modes all reduce to this.
    """
    shape = tuple(x.shape)
    n = int(np.prod(shape, dtype=np.int64))
    pos = numpy_fn(np.arange(n).reshape(shape))
    flat = reshape_t(x, (n,))
    return P.getitem(flat, (np.asarray(pos),), (n,))
