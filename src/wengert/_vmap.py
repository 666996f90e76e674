"""``vmap``: the batching transformation, one batching rule per primitive.

A :class:`BatchTracer` holds its batch at axis 0 of ``val`` (canonical
position); rules see ``vals`` and a ``batched`` flag per argument and return
the output with its batch at axis 0.  Unbatched *traced* operands (values of
an outer transformation) are broadcast explicitly so that every primitive
stays strict for the traces below.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _prims as P
from ._core import Trace, Tracer, end_level, new_level, writeable
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["vmap", "BatchTracer", "BatchTrace", "BATCH_RULES", "register_batch_rule",
           "run_batched", "BatchedOuts"]


class BatchTrace(Trace):
    __slots__ = ("size", "name")

    def __init__(self, level, size, name="vmap"):
        self.level = level
        self.size = size
        self.name = name

    def process(self, p, args, params):
        vals = []
        batched = []
        for a in args:
            if type(a) is BatchTracer and a._trace is self:
                vals.append(a.val)
                batched.append(True)
            else:
                vals.append(a)
                batched.append(False)
        rule = p.batch
        if rule is None:
            raise NotImplementedError(f"vmap: primitive `{p.name}` has no batching rule")
        out = rule(self.size, vals, batched, *params)
        if p.multiple_results:
            if p.jvp_trace is not None:  # a construct running user code
                _check_raw(self, out)
                flags = getattr(out, "flags", None)
                if flags is not None:  # outputs that do not depend on the batch stay unbatched
                    return tuple(BatchTracer(self, o) if f else o for o, f in zip(out, flags))
            return tuple(BatchTracer(self, o) for o in out)
        return BatchTracer(self, out)


class BatchedOuts(tuple):
    """What a construct's batching rule may return: its raw outputs and which
    of them carry the batch (the others are returned unbatched, so that a
    value that does not depend on the batch, such as the primal output of a
    loop under ``jacfwd``, stays concrete)."""

    def __new__(cls, outs, flags):
        t = super().__new__(cls, outs)
        t.flags = tuple(flags)
        return t


def _check_raw(trace, outs):
    """The raw outputs of a construct's batching rule hold no tracer at this
    trace's level or above: one there came from a traced value the user's
    function captured without it being an operand (see ``_control``)."""
    level = trace.level
    for o in outs:
        if isinstance(o, Tracer) and o._trace.level >= level:
            from ._control import CaptureLeak
            raise CaptureLeak


class BatchTracer(Tracer):
    __slots__ = ("val",)

    def __init__(self, trace, val):
        self._trace = trace
        self.val = val

    @property
    def shape(self):
        return tuple(self.val.shape)[1:]

    @property
    def dtype(self):
        return self.val.dtype

    def __bool__(self):
        raise TypeError(
            f"Python control flow (`if`, `while`, `and`/`or`) on a value batched by "
            f"vmap ({self._describe()}): each example could take a different branch. "
            "Use wnp.where(cond, a, b) for values, or wg.cond / wg.while_loop.")

    def __repr__(self):
        return f"BatchTracer(val={self.val!r})"


# ----------------------------------------------------------------------------
# Helpers for rules


def _bcast(v, size):
    """An unbatched operand made batched (axis 0)."""
    shape = (size,) + tuple(v.shape)
    if isinstance(v, Tracer):
        return P.broadcast_to(v, shape, tuple(v.shape))
    return np.broadcast_to(v, shape)


def _fix_unbatched_tracers(size, vals, batched):
    """Broadcast unbatched tracer operands (from outer transformations)."""
    out = []
    for v, b in zip(vals, batched):
        if not b and isinstance(v, Tracer):
            v = _bcast(v, size)
        out.append(v)
    return out


def _elementwise(p):
    bind = p.bind

    def rule(size, vals, batched, *params):
        vals = _fix_unbatched_tracers(size, vals, batched)
        # unbatched array operands of lower rank broadcast against (B,)+S by NumPy
        return bind(*vals, *params)
    return rule


def _all_batched(size, vals, batched):
    return [v if b else _bcast(v, size) if not isinstance(v, (int, float, complex, bool)) else v
            for v, b in zip(vals, batched)]


def _shift(axes):
    return tuple(a + 1 for a in axes)


def _reduce_rule(p):
    def rule(size, vals, batched, axes, in_shape):
        return p.bind(vals[0], _shift(axes), (size,) + tuple(in_shape))
    return rule


def _reshape_rule(size, vals, batched, shape, in_shape):
    return P.reshape(vals[0], (size,) + tuple(shape), (size,) + tuple(in_shape))


def _broadcast_rule(size, vals, batched, shape, in_shape):
    x = vals[0]
    lead = len(shape) - len(in_shape)
    if lead:
        mid = (1,) * lead + tuple(in_shape)
        x = P.reshape(x, (size,) + mid, (size,) + tuple(in_shape))
        in_shape = mid
    return P.broadcast_to(x, (size,) + tuple(shape), (size,) + tuple(in_shape))


def _transpose_rule(size, vals, batched, perm):
    return P.transpose(vals[0], (0,) + tuple(a + 1 for a in perm))


def _adv_layout(idx):
    """(is_advanced_split, broadcast shape of the advanced indices)."""
    pos = [k for k, i in enumerate(idx) if isinstance(i, np.ndarray)]
    if not pos:
        return False, ()
    split = pos != list(range(pos[0], pos[-1] + 1))
    shape = np.broadcast_shapes(*[idx[k].shape for k in pos])
    return split, shape


def _getitem_rule(size, vals, batched, idx, in_shape):
    bidx = (slice(None),) + tuple(idx)
    r = P.getitem(vals[0], bidx, (size,) + tuple(in_shape))
    split, ashape = _adv_layout(idx)
    if split:
        r = _moveaxis(r, len(ashape), 0)
    return r


def _scatter_rule(size, vals, batched, idx, shape):
    v = vals[0]
    split, ashape = _adv_layout(idx)
    if split:
        v = _moveaxis(v, 0, len(ashape))
    return P.scatter_add(v, (slice(None),) + tuple(idx), (size,) + tuple(shape))


def _moveaxis(x, src, dst):
    nd = len(x.shape) if not isinstance(x, BatchTracer) else x.ndim
    order = [i for i in range(nd) if i != src]
    order.insert(dst, src)
    return P.transpose(x, tuple(order))


def _concat_rule(size, vals, batched, axis, sizes):
    vals = _all_batched(size, vals, batched)
    return P.concatenate_p.bind(*vals, axis + 1, sizes)


def _pad_rule(size, vals, batched, widths):
    return P.pad_p.bind(vals[0], ((0, 0),) + tuple(widths))


def _cumsum_rule(size, vals, batched, axis, reverse):
    return P.cumsum_p.bind(vals[0], axis + 1, reverse)


def _matmul_rule(size, vals, batched):
    bx, by = batched
    nx = len(vals[0].shape) - bx
    ny = len(vals[1].shape) - by
    if nx == 1 or ny == 1:
        # a vector operand: as an einsum with the batch index z
        sx = "k" if nx == 1 else "mk"
        sy = "k" if ny == 1 else "kn"
        so = sx.replace("k", "") + sy.replace("k", "")
        sizes = {}
        for spec, v, b in ((sx, vals[0], bx), (sy, vals[1], by)):
            sh = tuple(v.shape)[1:] if b else tuple(v.shape)
            sizes.update(zip(spec, sh))
        sizes["z"] = size
        x, y = _fix_unbatched_tracers(size, vals, batched)
        hx = bx or isinstance(vals[0], Tracer)
        hy = by or isinstance(vals[1], Tracer)
        spec = f"{'z' if hx else ''}{sx},{'z' if hy else ''}{sy}->z{so}"
        return P.einsum(x, y, spec, tuple(sorted(sizes.items())))
    x, y = _fix_unbatched_tracers(size, vals, batched)
    if bx and not by and len(y.shape) == 2:
        # (B, ..., n, k) @ (k, m): NumPy broadcasts the plain matrix
        return P.matmul(x, y)
    if by and not bx and len(x.shape) == 2:
        return P.matmul(x, y)
    x, y = _all_batched(size, [x, y], [bx or isinstance(x, Tracer), by or isinstance(y, Tracer)])
    return P.matmul(x, y)


def _einsum_rule(size, vals, batched, spec, sizes):
    ins, out = spec.split("->")
    a, b = ins.split(",")
    z = next(c for c in string.ascii_letters if c not in set(spec))
    has = [bt or isinstance(v, Tracer) for v, bt in zip(vals, batched)]
    x, y = _fix_unbatched_tracers(size, vals, batched)
    a2 = z + a if has[0] else a
    b2 = z + b if has[1] else b
    return P.einsum(x, y, f"{a2},{b2}->{z}{out}", tuple(sorted(sizes + ((z, size),))))


def _argrule(p):
    def rule(size, vals, batched, axis, *rest):  # rest: argsort's kind
        x = vals[0]
        if axis is None:
            x = np.reshape(x, (size, -1)) if not isinstance(x, Tracer) else \
                P.reshape(x, (size, int(np.prod(x.shape[1:]))), tuple(x.shape))
            return p.bind(x, 1, *rest)
        nd = len(x.shape) - 1
        return p.bind(x, (axis % nd) + 1, *rest)
    return rule


def _convert_rule(size, vals, batched, dtype, in_dtype):
    return P.convert_p.bind(vals[0], dtype, in_dtype)


def _tangent_rule(op_p):
    """``op(xt, y) + op(x, yt)`` (a bilinear op's tangent), batched by ``op``'s rule."""
    def rule(size, vals, batched):
        from .numpy._base import binary
        xt, yt, x, y = vals
        bxt, byt, bx, by = batched

        def part(a, b, ba, bb):
            if ba or bb:
                return op_p.batch(size, [a, b], [ba, bb])
            return _bcast(op_p.bind(a, b), size)
        return binary(P.add_p, part(xt, y, bxt, by), part(x, yt, bx, byt))
    return rule


BATCH_RULES: dict[str, Callable] = {}


def register_batch_rule(p, rule):
    p.batch = rule
    BATCH_RULES[p.name] = rule


_ELEMENTWISE = [
    "neg", "add", "sub", "mul", "div", "conj", "real", "imag", "sin", "cos", "tan",
    "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
    "arctanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
    "cbrt", "abs", "pow", "maximum", "minimum", "arctan2", "hypot", "logaddexp",
    "logaddexp2", "mod", "fmod", "select", "stop_gradient",
] + list(P.NONDIFF)
for _n in _ELEMENTWISE:
    register_batch_rule(P.REGISTRY[_n], _elementwise(P.REGISTRY[_n]))
for _n in ("reduce_sum", "reduce_max", "reduce_min"):
    register_batch_rule(P.REGISTRY[_n], _reduce_rule(P.REGISTRY[_n]))
register_batch_rule(P.reshape_p, _reshape_rule)
register_batch_rule(P.broadcast_p, _broadcast_rule)
register_batch_rule(P.transpose_p, _transpose_rule)
register_batch_rule(P.getitem_p, _getitem_rule)
register_batch_rule(P.scatter_add_p, _scatter_rule)
register_batch_rule(P.concatenate_p, _concat_rule)
register_batch_rule(P.pad_p, _pad_rule)
register_batch_rule(P.cumsum_p, _cumsum_rule)
register_batch_rule(P.matmul_p, _matmul_rule)
register_batch_rule(P.einsum_p, _einsum_rule)
register_batch_rule(P.convert_p, _convert_rule)
register_batch_rule(P.mul_tangent_p, _tangent_rule(P.mul_p))
register_batch_rule(P.matmul_tangent_p, _tangent_rule(P.matmul_p))
for _n in ("argmax", "argmin", "argsort"):
    register_batch_rule(P.REGISTRY[_n], _argrule(P.REGISTRY[_n]))


# ----------------------------------------------------------------------------
# The transformation


def _flatten_axes(name, axes, tree_args, nargs):
    """Broadcast an in_axes spec (int/None or a pytree prefix) to the leaves."""
    if axes is None or isinstance(axes, (int, np.integer)):
        leaves = tree_flatten(tree_args)[0]
        return [None if axes is None else int(axes)] * len(leaves)
    if isinstance(axes, list):
        axes = tuple(axes)
    if not isinstance(axes, tuple) or len(axes) != nargs:
        raise ValueError(
            f"vmap({name}): in_axes={axes!r} must be an int, None, or a tuple with one entry "
            f"per positional argument, but {name} was called with {nargs} positional "
            f"argument{'s' if nargs != 1 else ''} (keyword arguments are never mapped)")
    out = []
    for ax, arg in zip(axes, tree_args):
        out.extend(_broadcast_prefix(name, ax, arg))
    return out


def _broadcast_prefix(name, ax, tree):
    if ax is None or isinstance(ax, (int, np.integer)):
        return [None if ax is None else int(ax)] * len(tree_flatten(tree)[0])
    if isinstance(ax, (tuple, list)) and isinstance(tree, (tuple, list)) and len(ax) == len(tree):
        out = []
        for a, t in zip(ax, tree):
            out.extend(_broadcast_prefix(name, a, t))
        return out
    if isinstance(ax, dict) and isinstance(tree, dict) and set(ax) == set(tree):
        out = []
        for k in sorted(tree):
            out.extend(_broadcast_prefix(name, ax[k], tree[k]))
        return out
    raise ValueError(f"vmap({name}): in_axes entry {ax!r} does not match the argument's "
                     f"structure {tree_flatten(tree)[1]}")


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """Vectorise ``fun`` over a batch axis of its arguments.

    ``in_axes``: an int, ``None`` (not batched), or a tuple/pytree prefix with
    one entry per argument; ``out_axes`` likewise for the outputs.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> wg.vmap(lambda x, y: wnp.dot(x, y), in_axes=(0, None))(wnp.ones((3, 2)), wnp.array([1.0, 2.0]))
    array([3., 3., 3.])
    """
    name = getattr(fun, "__name__", "fun")

    _check_axes_spec(name, "in_axes", in_axes)
    _check_axes_spec(name, "out_axes", out_axes)
    if not callable(fun):
        raise TypeError(f"vmap: fun must be callable, got {type(fun).__name__}")

    @functools.wraps(fun)
    def vmapped(*args, **kwargs):
        leaves, in_tree = tree_flatten(list(args))
        axes = _flatten_axes(name, in_axes, list(args), len(args))
        where = _leaf_positions(args)
        size = None
        first = None
        for k, (x, ax) in enumerate(zip(leaves, axes)):
            if ax is None:
                continue
            shp = tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)
            if not -len(shp) <= ax < len(shp):
                hint = ("a scalar has no axis to map; use in_axes=None for it" if not shp
                        else f"valid axes: {-len(shp)} to {len(shp) - 1}")
                raise ValueError(f"vmap({name}): in_axes={ax} is out of range for {where[k]}, "
                                 f"of shape {shp} ({hint})")
            n = shp[ax]
            if size is None:
                size, first = n, (k, ax)
            elif n != size:
                k0, a0 = first
                raise ValueError(
                    f"vmap({name}) got inconsistent sizes for the mapped axis: {where[k0]} has "
                    f"size {size} along axis {a0} but {where[k]} has size {n} along axis {ax}; "
                    "every batched argument needs the same size along its in_axes")
        if size is None:
            raise ValueError(f"vmap({name}) needs at least one batched argument (in_axes all None)")
        level = new_level()
        trace = BatchTrace(level, size)
        try:
            tr = []
            for x, ax in zip(leaves, axes):
                if ax is None:
                    tr.append(x)
                    continue
                if not isinstance(x, (Tracer, np.ndarray)):
                    x = np.asarray(x)
                if ax % len(x.shape) != 0:
                    x = _moveaxis_any(x, ax % len(x.shape), 0)
                tr.append(BatchTracer(trace, x))
            out = fun(*tree_unflatten(in_tree, tr), **kwargs)
            out_leaves, out_tree = tree_flatten(out)
            o_axes = _out_axes(name, out_axes, out, len(out_leaves))
            res = []
            for o, oax in zip(out_leaves, o_axes):
                if type(o) is BatchTracer and o._trace is trace:
                    v = o.val
                else:
                    if oax is None:
                        res.append(o)
                        continue
                    v = _bcast(o if isinstance(o, (Tracer, np.ndarray, np.generic)) else np.asarray(o), size)
                if oax is None:
                    raise ValueError(f"vmap({name}): out_axes=None for an output that is batched "
                                     "(it differs across the batch); give it an axis")
                nd = len(v.shape)
                if not -nd <= oax < nd:
                    raise ValueError(f"vmap({name}): out_axes={oax} is out of range for an output "
                                     f"of shape {tuple(v.shape)[1:]} (valid: {-nd} to {nd - 1})")
                if oax % max(nd, 1) != 0:
                    v = _moveaxis_any(v, 0, oax % len(v.shape))
                res.append(writeable(v))
        finally:
            end_level()
            trace.kill()
        return tree_unflatten(out_tree, res)

    return vmapped


def _check_axes_spec(name, what, spec):
    for a in tree_flatten(spec)[0]:
        if a is not None and (isinstance(a, bool) or not isinstance(a, (int, np.integer))):
            raise TypeError(f"vmap({name}): {what} entries must be ints or None, got {a!r}")


def _leaf_positions(args):
    """A description of each leaf of ``args`` for error messages."""
    out = []
    for i, a in enumerate(args):
        n = len(tree_flatten(a)[0])
        if n == 1 and tree_flatten(a)[1] == tree_flatten(0.0)[1]:
            out.append(f"argument {i}")
        else:
            out.extend(f"leaf {j} of argument {i}" for j in range(n))
    return out


def run_batched(fn: Callable, size: int, vals: list, flags: list) -> tuple[list, list]:
    """Run ``fn(list) -> list`` with the entries of ``vals`` where ``flags``
    batched (batch at axis 0); returns the raw outputs and which are batched.

    The building block of batching rules for primitives that hold user
    functions (control flow, custom rules): the function is run under a
    nested :class:`BatchTrace`, never in a Python loop over examples.
    """
    level = new_level()
    trace = BatchTrace(level, size)
    try:
        args = [BatchTracer(trace, v) if b else v for v, b in zip(vals, flags)]
        outs = fn(args)
        res, oflags = [], []
        for o in outs:
            if type(o) is BatchTracer and o._trace is trace:
                res.append(o.val)
                oflags.append(True)
            else:
                res.append(o)
                oflags.append(False)
    finally:
        end_level()
        trace.kill()
    return res, oflags


def _out_axes(name, out_axes, out, n):
    if out_axes is None or isinstance(out_axes, (int, np.integer)):
        return [None if out_axes is None else int(out_axes)] * n
    return _broadcast_prefix(name, out_axes, out)


def _moveaxis_any(x, src, dst):
    if isinstance(x, Tracer):
        from .numpy import moveaxis
        return moveaxis(x, src, dst)
    return np.moveaxis(x, src, dst)


# ``WENGERT_DEBUG_NANS=1``: install the NaN checks at import (wengert._config)
if __import__("os").environ.get("WENGERT_DEBUG_NANS", "").strip().lower() not in (
        "", "0", "false", "no", "off"):
    from . import _config  # noqa: F401,E402
