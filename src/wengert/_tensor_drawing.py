"""A small record of a Tensor graph, taken at ``backward()`` time, so that
``Tensor.to_dot()`` can draw the graph — values and gradients — after a
backward pass that freed it.

Recording costs about as much as the backward pass of a small graph, so it
is off until a Tensor graph is first drawn in the process (``to_dot``,
``graph``, ``to_wengert`` switch it on: whoever draws once is likely to draw
again) and is skipped for graphs of more than :data:`LIMIT` tensors (nobody
reads such a drawing).  The record keeps, per tensor, its shape and dtype,
its value and its gradient only when they have at most :data:`SMALL`
elements (what the drawing prints; larger ones print as their shape), the
primitive and its parameters, and weak references to the leaves, whose
``.grad`` is read when drawing.  No large buffer is kept alive.
"""

from __future__ import annotations

import weakref

import numpy as np

from ._core import Tracer
from ._tensor_core import Tensor

SMALL = 4  # values with at most this many elements are kept (the drawing prints them)
LIMIT = 200  # graphs with more tensors than this are not recorded


class _State:
    enabled = False  # switched on by the first drawing of a Tensor graph


STATE = _State()


class Aval:
    """A value too large to keep: its shape and dtype (or that it was traced)."""

    __slots__ = ("shape", "dtype", "traced")

    def __init__(self, shape, dtype, traced=False):
        self.shape, self.dtype, self.traced = tuple(shape), np.dtype(dtype), traced

    def __repr__(self):
        return "<traced>" if self.traced else f"<const {self.dtype.name}{list(self.shape)}>"


def summary(x, copy=False):
    """``x`` when small (a copy if ``copy``), else its :class:`Aval`."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        x = x._data
    if isinstance(x, Tracer):
        return Aval(x.shape, x.dtype, traced=True)
    if isinstance(x, (np.ndarray, np.generic)):
        if x.size > SMALL:
            return Aval(x.shape, x.dtype)
        return np.array(x, copy=True) if copy else x
    return x  # a Python number


class Snap:
    """One tensor of the record (read like a Tensor by the drawing)."""

    __slots__ = ("_node", "_rg", "_retain", "value", "grad_ct", "leaf", "shape", "dtype")


class _Cotangents(dict):
    """The sweep's ``want`` map: keeps a summary of each cotangent, not the array."""

    __slots__ = ()

    def __setitem__(self, key, ct):
        dict.__setitem__(self, key, summary(ct, copy=True))


class Record:
    """The record of the graph below some output tensors."""

    __slots__ = ("snaps", "want", "by_tan")

    def __init__(self, snaps, want, by_tan):
        self.snaps = snaps  # id(output tensor) -> Snap
        self.want = want
        self.by_tan = by_tan  # id(LinVar) -> Snap

    def finish(self, outputs):
        """After the sweep: give each recorded tensor its cotangent and attach
        the record to the outputs."""
        want = self.want
        for k, s in self.by_tan.items():
            s.grad_ct = want.get(k)
        for t in outputs:
            t._drawing = self.snaps[id(t)]


def record(outputs) -> Record | None:
    """A :class:`Record` of the graph below ``outputs``; None when recording is
    off or the graph is too big (then the outputs are marked as such)."""
    if not STATE.enabled:
        return None
    memo: dict = {}
    order = []
    stack = list(outputs)
    while stack:
        t = stack.pop()
        k = id(t)
        if k in memo:
            continue
        memo[k] = None
        order.append(t)
        if len(order) > LIMIT:
            for o in outputs:
                o._drawing = False
            return None
        node = t._node
        if node is not None:
            stack.extend(a for a in node[2] if type(a) is Tensor)
    want = _Cotangents()
    by_tan = {}
    for t in order:
        s = Snap()
        memo[id(t)] = s
        d = t._data
        s.shape, s.dtype = tuple(d.shape), np.dtype(d.dtype)
        s._rg, s._retain, s.grad_ct = t._rg, t._retain, None
        if t._node is None:
            s.leaf = weakref.ref(t)
            s.value = summary(d, copy=True)  # an optimizer may update it in place
        else:
            s.leaf = None
            s.value = summary(d)
    for t in order:
        node = t._node
        s = memo[id(t)]
        if node is None:
            s._node = None
            continue
        args = tuple(memo[id(a)] if type(a) is Tensor else summary(a) for a in node[2])
        s._node = (node[0], node[1], args) + tuple(node[3:])
        if t._tan is not None:
            k = id(t._tan)
            dict.__setitem__(want, k, None)
            by_tan[k] = s
    return Record({id(t): memo[id(t)] for t in outputs}, want, by_tan)
