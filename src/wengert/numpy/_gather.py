"""Indexing with traced integer indices: one staged gather (issue 10, G1).

``x[i]`` where ``i`` is a traced integer (``x[wnp.argmax(x)]`` under ``jit``
or ``vmap``), ``take``/``take_along_axis`` with traced indices and
``partition`` all reduce to :data:`gather_p`: ``flat[pos]`` on the flattened
operand, where ``pos`` (the flat position of every output element) is integer
arithmetic on the indices.  Its transpose is a scatter-add
(:data:`scatter_p`), so the derivative flows back to the gathered elements
(repeated indices accumulate); under ``vmap`` both stay one gather on the
flattened batch.

Out-of-bounds indices raise ``IndexError`` when the staged code runs (as
NumPy does eagerly), from :data:`index_check_p`, which also maps negative
indices to their positive equivalents.
"""

from __future__ import annotations

import numpy as np

from .._core import Primitive, Tracer
from .._vmap import register_batch_rule

__all__ = ["gather_p", "scatter_p", "index_check_p", "argpartition_p", "dynamic_getitem", "take_along_axis_gather"]


# ----------------------------------------------------------------------------
# The primitives


def _gather_impl(flat, pos, n):
    return flat[pos]


def _scatter_impl(v, pos, n):
    v = np.asarray(v)
    z = np.zeros((n,), dtype=v.dtype)
    np.add.at(z, np.asarray(pos).ravel(), v.ravel())
    return z


gather_p = Primitive("gather", _gather_impl, 2, nparams=1, linear=True,
                     jvps=(lambda t, ans, flat, pos, n: gather_p.bind(t, pos, n), None),
                     transpose=lambda ct, flat, pos, n: (scatter_p.bind(ct, pos, n), None),
                     doc="flat[pos] with integer positions pos (traced or not)")
scatter_p = Primitive("scatter", _scatter_impl, 2, nparams=1, linear=True,
                      jvps=(lambda t, ans, v, pos, n: scatter_p.bind(t, pos, n), None),
                      transpose=lambda ct, v, pos, n: (gather_p.bind(ct, pos, n), None),
                      doc="zeros(n) with v added at the positions pos (repeats accumulate)")


def _index_check_impl(i, n, what, negative=True):
    i = np.asarray(i)
    lo = -n if negative else 0
    if i.size and (np.min(i) < lo or np.max(i) >= n):
        bad = i[(i < lo) | (i >= n)].ravel()[0]
        raise IndexError(f"{what}: index {int(bad)} is out of bounds for axis with size {n} "
                         "(a traced index, checked when the staged code runs)")
    return np.where(i < 0, i + n, i) if i.size and np.min(i) < 0 else i


index_check_p = Primitive("index_check", _index_check_impl, 1, nparams=3, nondiff=True,
                          doc="integer indices checked against an axis of size n; negatives wrapped")


def _argpartition_impl(x, kth, axis):
    return np.argpartition(x, kth, axis=axis)


argpartition_p = Primitive("argpartition", _argpartition_impl, 1, nparams=2, nondiff=True,
                           doc="NumPy's argpartition (introselect), the same in every mode")


def _arange_b(size, nd):
    return np.arange(size).reshape((size,) + (1,) * nd)


def _gather_batch(size, vals, batched, n):
    flat, pos = vals
    bf, bp = batched
    if not bf:
        return gather_p.bind(flat, pos, n)  # batch of positions into one array
    from . import _funcs as F
    nd = len(pos.shape) - (1 if bp else 0)
    offs = _arange_b(size, nd) * n
    return gather_p.bind(F.reshape(flat, (size * n,)), F.add(pos, offs), size * n)


def _scatter_batch(size, vals, batched, n):
    from . import _funcs as F
    v, pos = vals
    bv, bp = batched
    if not bv:
        v = F.broadcast_to(v, (size,) + tuple(v.shape))
    nd = len(v.shape) - 1
    if not bp:
        pos = F.broadcast_to(pos, (size,) + tuple(np.shape(pos) if not isinstance(pos, Tracer) else pos.shape))
    offs = _arange_b(size, nd) * n
    return F.reshape(scatter_p.bind(v, F.add(pos, offs), size * n), (size, n))


def _argpartition_batch(size, vals, batched, kth, axis):
    return argpartition_p.bind(vals[0], kth, axis + 1)


register_batch_rule(gather_p, _gather_batch)
register_batch_rule(scatter_p, _scatter_batch)
register_batch_rule(index_check_p, lambda size, vals, batched, n, what, neg: index_check_p.bind(vals[0], n, what, neg))
register_batch_rule(argpartition_p, _argpartition_batch)


# ----------------------------------------------------------------------------
# NumPy's indexing on top of them


def _is_int_scalar(i) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _expand(idx, ndim):
    """The index with Ellipsis expanded; each entry with the axis of x it consumes (None for np.newaxis)."""
    n_consume = sum(1 for i in idx if i is not None and i is not Ellipsis)
    out = []
    ax = 0
    for i in idx:
        if i is Ellipsis:
            for _ in range(ndim - n_consume):
                out.append((slice(None), ax))
                ax += 1
        elif i is None:
            out.append((None, None))
        else:
            out.append((i, ax))
            ax += 1
    if ax > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {ax} were indexed")
    while ax < ndim:
        out.append((slice(None), ax))
        ax += 1
    return out


def dynamic_getitem(x, idx, fname="indexing"):
    """``x[idx]`` where some entries of the tuple ``idx`` are traced integer
    arrays or scalars: one gather on the flattened ``x``."""
    from . import _funcs as F
    shape = tuple(x.shape)
    ndim = len(shape)
    ent = _expand(idx, ndim)
    traced = [k for k, (i, _) in enumerate(ent) if isinstance(i, Tracer)]
    for k in traced:
        dt = np.dtype(ent[k][0].dtype)
        if dt == np.bool_:
            from .._ir import ConcretizationError
            raise ConcretizationError(
                f"wnp.{fname}: a boolean mask traced by jit or vmap (x[x > 0]) is a data-dependent operation: "
                "the result's shape depends on the mask's values, which are not known while staging. Keep the "
                "shape: wnp.where(mask, x, 0.0), or a reduction with where=mask (wnp.sum(x, where=mask))")
        if dt.kind not in "iu":
            raise IndexError("arrays used as indices must be of integer (or boolean) type")
    strides = [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(ndim)]
    n = int(np.prod(shape, dtype=np.int64))
    # the concrete entries' contribution, in NumPy's own output layout: traced entries replaced by zeros
    dummy = tuple(np.zeros(tuple(i.shape), np.intp) if k in traced else i for k, (i, _) in enumerate(ent))
    trace_axes = {ent[k][1] for k in traced}
    base = np.zeros((), np.intp)
    for d in range(ndim):
        if d not in trace_axes:
            base = base + np.arange(shape[d]).reshape((-1,) + (1,) * (ndim - 1 - d)) * strides[d]
    base = np.broadcast_to(base, shape)[dummy]
    out_shape = base.shape
    # where NumPy puts the broadcast advanced-index axes
    adv = [k for k, (i, _) in enumerate(ent)
           if isinstance(i, (Tracer, np.ndarray, list)) or _is_int_scalar(i)]
    bshape = np.broadcast_shapes(*[tuple(np.shape(ent[k][0])) if not isinstance(ent[k][0], Tracer)
                                   else tuple(ent[k][0].shape) for k in adv])
    split = adv != list(range(adv[0], adv[-1] + 1))
    if split:
        p = 0
    else:
        p = sum(1 for i, _ in ent[:adv[0]] if i is None or isinstance(i, slice))
    post = len(out_shape) - p - len(bshape)
    pos = base
    for k in traced:
        i, d = ent[k]
        ic = index_check_p.bind(i, shape[d], f"wnp.{fname}", True)
        c = F.broadcast_to(ic * strides[d], bshape) if tuple(i.shape) != bshape else ic * strides[d]
        c = F.reshape(c, (1,) * p + bshape + (1,) * post)
        pos = F.add(pos, c)
    if tuple(pos.shape) != out_shape:
        pos = F.broadcast_to(pos, out_shape)
    if np.dtype(pos.dtype) != np.intp:
        pos = F.astype(pos, np.intp)
    return gather_p.bind(F.reshape(x, (n,)), pos, n)


def take_along_axis_gather(arr, indices, axis, fname="take_along_axis"):
    """``take_along_axis`` with traced ``indices`` (NumPy's broadcasting of
    the other axes): one gather."""
    from . import _funcs as F
    from ._base import as_operand, norm_axis
    arr = as_operand(arr)
    if axis is None:
        arr, indices, axis = F.ravel(arr), F.ravel(indices), 0
    shape = tuple(arr.shape)
    ndim = len(shape)
    ishape = tuple(indices.shape)
    if len(ishape) != ndim:
        raise ValueError(f"wnp.{fname}: `indices` and `arr` must have the same number of dimensions")
    ax = norm_axis(axis, ndim, fname)
    out_shape = tuple(np.broadcast_shapes(tuple(s if d != ax else 1 for d, s in enumerate(shape)),
                                          tuple(s if d != ax else 1 for d, s in enumerate(ishape))))
    out_shape = out_shape[:ax] + (ishape[ax],) + out_shape[ax + 1:]
    strides = [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(ndim)]
    n = int(np.prod(shape, dtype=np.int64))
    base = np.zeros((), np.intp)
    for d in range(ndim):
        if d != ax:
            base = base + np.arange(shape[d]).reshape((-1,) + (1,) * (ndim - 1 - d)) * strides[d]
    ic = index_check_p.bind(indices, shape[ax], f"wnp.{fname}", True)
    pos = F.add(base, ic * strides[ax])
    if tuple(pos.shape) != out_shape:
        pos = F.broadcast_to(pos, out_shape)
    if np.dtype(pos.dtype) != np.intp:
        pos = F.astype(pos, np.intp)
    return gather_p.bind(F.reshape(arr, (n,)), pos, n)
