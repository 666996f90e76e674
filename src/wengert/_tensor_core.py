"""The engine behind :class:`wengert.Tensor`: grad mode, the Tensor trace and
how one primitive applied to Tensors is recorded.

A :class:`Tensor` is a :class:`~wengert._core.Tracer` of one global
:class:`TensorTrace` whose level is above every transformation, so a
primitive that meets a Tensor is processed here first.  The Tensor trace runs
the primitive on the Tensors' ``data`` (which may itself be a tracer of an
enclosing ``grad``/``vmap``/``jit``: those bind further down) and, when an
input requires grad and grad mode is on, applies the primitive's own JVP rule
to the inputs' tangents, exactly as ``linearize`` does.  A requires-grad
Tensor's tangent is a :class:`~wengert._core.LinVar` of the graph trace
``G``: the rule's linear equations point at their parents' LinVars, so the
graph is held by references alone (no global tape) and is freed with the last
Tensor that uses it.

The backward sweeps (``_tensor_backward``) transpose these equations with
the primitives' own transpose rules; ``create_graph=True`` re-runs each op's
JVP rule on Tensors instead.  No derivative rule lives here.
"""

from __future__ import annotations

import collections
import itertools
import threading
import weakref

from ._core import LinVar, Primitive, TapeTrace, Trace, Tracer

# Levels: the Tensor trace sits above every transformation (their levels are
# nesting depths: 1, 2, ...), the graph's LinVars just above it, and the local
# tapes of create_graph's re-linearisation above both.
TENSOR_LEVEL = 1 << 40
GRAPH_LEVEL = TENSOR_LEVEL + 0.5
RELIN_LEVEL = TENSOR_LEVEL + 0.75
# the JVP trace that applies a custom rule to Tensors' data (see ``construct``)
CONSTRUCT_LEVEL = TENSOR_LEVEL + 0.25


# ----------------------------------------------------------------------------
# Grad mode (per thread)


class _Mode(threading.local):
    enabled = True


_mode = _Mode()


def is_grad_enabled() -> bool:
    """True when Tensor operations are being recorded (the default).

    >>> import wengert as wg
    >>> from wengert.tensor import is_grad_enabled
    >>> with wg.no_grad():
    ...     is_grad_enabled()
    False
    """
    return _mode.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode for its block."""

    _value = True
    _bare = True  # ``@no_grad`` without parentheses decorates too

    def __new__(cls, *args, **kwargs):
        if cls._bare and len(args) == 1 and not kwargs and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __init__(self):
        self._prev = []

    def __enter__(self):
        self._prev.append(_mode.enabled)
        _mode.enabled = self._value
        return self

    def __exit__(self, *exc):
        _mode.enabled = self._prev.pop()
        return False

    def __call__(self, fn):
        import functools

        mode = type(self)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with mode():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 (PyTorch's spelling)
    """Turn Tensor recording off in a block (or a decorated function).

    Results computed inside do not require grad and hold no graph; use it for
    parameter updates and evaluation.  Per thread.

    >>> import wengert as wg
    >>> x = wg.tensor([1.0, 2.0], requires_grad=True)
    >>> with wg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False

    As a decorator, with or without parentheses (``@wg.no_grad()``, ``@wg.no_grad``):

    >>> @wg.no_grad
    ... def evaluate(t):
    ...     return t * 2
    >>> evaluate(x).requires_grad
    False
    """

    _value = False


class enable_grad(_GradMode):  # noqa: N801
    """Turn Tensor recording back on inside a ``no_grad`` block.

    >>> import wengert as wg
    >>> x = wg.tensor(1.0, requires_grad=True)
    >>> with wg.no_grad():
    ...     with wg.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """

    _value = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """``set_grad_enabled(mode)``: grad mode ``mode`` in a block (or decorated function).

    >>> import wengert as wg
    >>> from wengert.tensor import set_grad_enabled
    >>> with set_grad_enabled(False):
    ...     (wg.tensor(1.0, requires_grad=True) * 2).requires_grad
    False
    """

    _bare = False

    def __init__(self, mode: bool):
        super().__init__()
        self._value = bool(mode)

    def __call__(self, fn):
        import functools

        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(value):
                return fn(*args, **kwargs)

        return wrapper


# ----------------------------------------------------------------------------
# Traces


class GraphTrace(TapeTrace):
    """The trace of every requires-grad Tensor's tangent (a LinVar)."""

    __slots__ = ()

    def __init__(self, level):
        self.level = level
        # a tape that keeps nothing: the graph lives in the LinVars' references
        self.tape = collections.deque(maxlen=0)


G = GraphTrace(GRAPH_LEVEL)


class TensorTrace(Trace):
    """Processes every primitive applied to a Tensor (see the module docstring)."""

    __slots__ = ()

    def process(self, p, args, params):
        """Run ``p`` on the Tensors' data; record it when something requires
        grad.  One Tensor argument and one JVP rule (most ops) here, the rest
        by :func:`apply`."""
        if len(args) != 1 or p.jvp_full is not None or p.multiple_results:
            return apply(p, args, params)
        x = args[0]  # the Tensor trace only sees primitives applied to a Tensor
        xd = x._data
        ans = p.bind(xd, *params) if isinstance(xd, Tracer) else p.impl(xd, *params)
        out = _new(Tensor)
        out._data = ans
        if not x._rg or p.nondiff or not _mode.enabled:
            out._tan = None
            out._rg = False
            out._node = None
            return out
        tx = x._tan
        if tx is not None:
            t = p.jvps[0](tx, ans, xd, *params)
            if t is tx:
                t = LinVar(G, IDENTITY_P, (t,), ())
            out._tan = t
        else:
            out._tan = None
        out._rg = True
        out._node = (p, params, args, next(_counter))
        return out


TRACE = TensorTrace(TENSOR_LEVEL)


def _identity_T(ct, x):
    return (ct,)


# ``identity`` is a graph-only linear equation (never bound on values, not in
# the registry): it gives a non-leaf Tensor its own tangent when its op's JVP
# returned an input's tangent unchanged (``x + 2``), so that the cotangent
# arriving at a Tensor's tangent is always that Tensor's gradient.
IDENTITY_P = Primitive("identity", lambda x: x, 1, linear=True, transpose=_identity_T)
# tensors whose ``.grad`` is kept (``retain_grad``): id(tangent) -> weakref(tensor)
RETAINED: dict = {}
FREED_P = Primitive("freed", lambda x: x, 1, linear=True)

_counter = itertools.count(1)


class _InplaceState:
    seen = False  # set by the first in-place operation on any Tensor


INPLACE = _InplaceState()


# ----------------------------------------------------------------------------
# Tensor (the core slots; the public methods are added by ``wengert.tensor``)


class Tensor(Tracer):
    """A value that records the operations applied to it (see :mod:`wengert.tensor`)."""

    __slots__ = ("_data", "_tan", "_rg", "_node", "__dict__", "__weakref__")
    _trace = TRACE
    # rarely set, hence instance-dict attributes with class defaults
    _grad = None
    _retain = False
    _version = 0
    _mod = 0
    _name = None


_new = object.__new__


def make(data, tan, rg, node):
    t = _new(Tensor)
    t._data = data
    t._tan = tan
    t._rg = rg
    t._node = node
    return t


def const(data):
    """A Tensor that does not require grad."""
    t = _new(Tensor)
    t._data = data
    t._tan = None
    t._rg = False
    t._node = None
    return t


def make_leaf(data, requires_grad):
    t = _new(Tensor)
    t._data = data
    t._node = None
    if requires_grad:
        t._rg = True
        t._tan = LinVar(G, None, (), (weakref.ref(t),))
    else:
        t._rg = False
        t._tan = None
    return t


def apply(p, args, params):
    """:meth:`TensorTrace.process` for several arguments, ``jvp_full`` rules
    and multiple results."""
    if p.jvp_trace is not None:  # control flow, checkpoint, custom rules
        return construct(p, args, params)
    primals = []
    tans = []
    need = False
    for a in args:
        if isinstance(a, Tensor):
            primals.append(a._data)
            if a._rg:
                need = True
                tans.append(a._tan)
            else:
                tans.append(None)
        else:
            primals.append(a)
            tans.append(None)
    ans = p.bind(*primals, *params)
    if not need or p.nondiff or not _mode.enabled:
        if p.multiple_results:
            return tuple(const(a) for a in ans)
        return const(ans)
    t = p.jvp(primals, tans, ans, params)
    node = (p, params, args, next(_counter))
    if p.multiple_results:
        outs = []
        for i, (a, ti) in enumerate(zip(ans, t)):
            ti = _own(ti, tans)
            outs.append(make(a, ti, True, node + (i,)))
        return tuple(outs)
    return make(ans, _own(t, tans), True, node)


def construct(p, args, params):
    """A primitive that runs user code (one with a ``jvp_trace`` rule).

    Control flow and ``checkpoint`` run inline on the Tensors
    (``p.extra["tensor_inline"]``): each operation of the body is recorded
    as if the loop had been written in Python.  The others (custom rules)
    apply their rule to the data and the graph's tangents, as ``linearize``
    does, through a JVP trace just above the Tensor trace."""
    inline = p.extra.get("tensor_inline")
    if inline is not None:
        return inline(args, params)
    from ._core import JVPTrace, JVPTracer
    primals = []
    tans = []
    need = False
    for a in args:
        if isinstance(a, Tensor):
            primals.append(a._data)
            tans.append(a._tan if a._rg else None)
            need = need or a._rg
        else:
            primals.append(a)
            tans.append(None)
    if not need or not _mode.enabled:
        ans = p.bind(*primals, *params)
        return tuple(const(a) for a in ans) if p.multiple_results else const(ans)
    trace = JVPTrace(CONSTRUCT_LEVEL)
    try:
        outs = p.jvp_trace(trace, primals, tans, params)
    finally:
        trace.kill()
    node = (p, params, args, next(_counter))
    res = []
    for i, o in enumerate(outs if p.multiple_results else (outs,)):
        if type(o) is JVPTracer and o._trace is trace:
            v, t = o.primal, o.tangent
        else:
            v, t = o, None
        if isinstance(v, Tracer) and v._trace.level >= TENSOR_LEVEL:
            from ._control import CaptureLeak  # a Tensor reached other than as an argument
            raise CaptureLeak
        if type(t) is LinVar:
            res.append(make(v, _own(t, tans), True, node + (i,) if p.multiple_results else node))
        else:  # a zero tangent
            res.append(const(v))
    return tuple(res) if p.multiple_results else res[0]


def _own(t, tans):
    """A non-leaf Tensor owns its tangent (so retain_grad and grads with
    respect to it see its own cotangent, not its input's)."""
    if t is None:
        return None
    for u in tans:
        if u is t:
            return LinVar(G, IDENTITY_P, (t,), ())
    return t


def binary_methods(p, slow, cast):
    """``Tensor.__op__`` and ``Tensor.__rop__`` for the binary primitive ``p``.

    Same-shape Tensor operands and Python numbers are recorded here directly
    (what :func:`apply` does, spelled out for the hottest path of the Tensor
    interface: ``p.jvps`` holds one rule per operand); anything else goes to
    ``slow(x, cast(y))``, the ``wnp`` function, which broadcasts."""
    impl = p.impl
    bind = p.bind

    def op(x, y):
        tp = type(y)
        xd = x._data
        if tp is Tensor:
            yd = y._data
            if yd.shape != xd.shape:
                return slow(x, y)
            if y._rg:
                rg = True
                ty = y._tan
            else:
                rg = x._rg
                ty = None
        elif tp is float or tp is int:
            yd = y
            rg = x._rg
            ty = None
        else:
            return slow(x, cast(y))
        if isinstance(xd, Tracer) or isinstance(yd, Tracer):
            ans = bind(xd, yd)  # the data of an enclosing transformation
        else:
            ans = impl(xd, yd)  # what ``bind`` does with plain values
        out = _new(Tensor)
        out._data = ans
        if not rg or not _mode.enabled:
            out._tan = None
            out._rg = False
            out._node = None
            return out
        tx = x._tan if x._rg else None
        t = None
        jx, jy = p.jvps
        if tx is not None:
            t = jx(tx, ans, xd, yd)
        if ty is not None:
            c = jy(ty, ans, xd, yd)
            if c is not None:
                t = c if t is None else t + c
        if t is not None and (t is tx or t is ty):
            t = LinVar(G, IDENTITY_P, (t,), ())
        out._tan = t
        out._rg = True
        out._node = (p, (), (x, y), next(_counter))
        return out

    def rop(y, x):  # ``x op y`` for a non-Tensor ``x``
        tp = type(x)
        if tp is not float and tp is not int:
            return slow(cast(x), y)
        yd = y._data
        ans = bind(x, yd) if isinstance(yd, Tracer) else impl(x, yd)
        out = _new(Tensor)
        out._data = ans
        if not y._rg or not _mode.enabled:
            out._tan = None
            out._rg = False
            out._node = None
            return out
        ty = y._tan
        t = None
        if ty is not None:
            t = p.jvps[1](ty, ans, x, yd)
            if t is ty:
                t = LinVar(G, IDENTITY_P, (t,), ())
        out._tan = t
        out._rg = True
        out._node = (p, (), (x, y), next(_counter))
        return out

    return op, rop


def fast_unary(p, x):
    """``apply`` for a unary primitive without parameters."""
    return TRACE.process(p, (x,), ())


__all__ = ["Tensor", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]
