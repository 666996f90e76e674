"""The AD core: primitives, traces, tracers, forward mode and the linear tape.

Design A of ``shared/CORE-DESIGN.md`` (see ``docs/design.md``):

* every primitive has a JVP rule; only linear primitives have a transpose;
* forward mode is a :class:`JVPTrace` whose tracers carry ``(primal, tangent)``;
* reverse mode is the same trace with :class:`LinVar` tangents: each linear
  operation applied to a tangent is recorded once on a flat tape (a Wengert
  list of the linearised program), which :func:`backward_pass` sweeps
  backwards, applying transpose rules;
* ``None`` is the symbolic zero tangent/cotangent;
* traces are ordered by ``level``: the highest-level trace among a
  primitive's arguments processes it and treats every other tracer as a
  constant, which is what rules out perturbation confusion.
"""

from __future__ import annotations

import math
import sys
import threading
from sys import getrefcount as _getrefcount

import numpy as np

from ._shapes import broadcast_shapes2

__all__ = [
    "Primitive",
    "Trace",
    "Tracer",
    "JVPTrace",
    "JVPTracer",
    "TapeTrace",
    "LinVar",
    "backward_pass",
    "new_level",
    "end_level",
    "LeakedTracerError",
]


class LeakedTracerError(RuntimeError):
    """A traced value was used after the transformation that made it returned."""


class _State(threading.local):
    depth = 0


_state = _State()


def new_level() -> int:
    """Enter a transformation: returns its (per-thread) nesting level."""
    d = _state.depth + 1
    _state.depth = d
    return d


def end_level() -> None:
    _state.depth -= 1


def current_depth() -> int:
    return _state.depth


# ----------------------------------------------------------------------------
# Primitives


class Primitive:
    """One primitive operation: its NumPy implementation and its rules.

    ``nin`` array arguments come first, static parameters (``params``) after,
    all positional.  ``jvps`` holds one rule per array argument,
    ``rule(t, ans, *args, *params)`` returning that argument's contribution
    to the output tangent (``None`` entries: not differentiable in that
    argument); or ``jvp_full(primals, tangents, ans, params)`` for rules that
    need all tangents at once.  Linear primitives have ``transpose(ct, *args,
    *params)`` where the linear arguments are passed as ``None``; it returns
    one cotangent per argument.
    """

    __slots__ = (
        "name", "impl", "nin", "nparams", "jvps", "jvp_full", "transpose",
        "batch", "multiple_results", "nondiff", "linear", "bind", "doc",
        "extra", "jvp_trace", "bilinear", "lin1", "sparsity",
    )

    def __init__(self, name, impl, nin=1, *, nparams=0, jvps=None,
                 jvp_full=None, transpose=None, linear=False, nondiff=False,
                 multiple_results=False, batch=None, doc=""):
        self.name = name
        self.impl = impl
        self.nin = nin
        self.nparams = nparams
        self.jvps = jvps
        self.jvp_full = jvp_full
        self.transpose = transpose
        self.linear = linear
        self.nondiff = nondiff
        self.multiple_results = multiple_results
        self.batch = batch
        self.doc = doc
        self.extra = {}
        # optional ``jvp_trace(trace, primals, tangents, params)`` returning the
        # output tracer(s): replaces bind-then-``jvp`` for that primitive
        self.jvp_trace = None
        # for a bilinear primitive (mul, matmul): the primitive of its tangent
        # ``op(xt, y) + op(x, yt)``, one tape equation when both tangents are
        # on the same tape (reverse mode) instead of three
        self.bilinear = None
        # linear in its one array argument, with the JVP ``p(t, *params)``:
        # reverse mode records ``p`` itself on the tape
        self.lin1 = False
        # ``rule(ins, outs, n, *params)``: which outputs depend on which inputs
        # (wengert.sparse.rules; set by _prims.set_sparsity; None: the dense rule)
        self.sparsity = None
        self.bind = _make_bind(self)

    def __repr__(self):
        return f"<primitive {self.name}>"

    def jvp(self, primals, tangents, ans, params):
        """Output tangent (or ``None`` for a symbolic zero)."""
        if self.jvp_full is not None:
            return self.jvp_full(primals, tangents, ans, params)
        jvps = self.jvps
        out = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            rule = jvps[i]
            if rule is None:
                continue
            c = rule(t, ans, *primals, *params)
            if c is None:
                continue
            out = c if out is None else out + c
        return out


def _make_bind(p):
    impl = p.impl
    nin = p.nin
    if nin == 1:
        def bind(x, *params):
            if isinstance(x, Tracer):
                return x._trace.process(p, (x,), params)
            return impl(x, *params)
    elif nin == 2:
        def bind(x, y, *params):
            if isinstance(x, Tracer):
                if isinstance(y, Tracer) and y._trace.level > x._trace.level:
                    return y._trace.process2(p, x, y, params)
                return x._trace.process2(p, x, y, params)
            if isinstance(y, Tracer):
                return y._trace.process2(p, x, y, params)
            return impl(x, y, *params)
    else:
        nparams = p.nparams

        def bind(*args):
            if nin is None:  # variadic: the last `nparams` are parameters
                k = len(args) - nparams
            else:
                k = nin
            top = None
            for a in args[:k]:
                if isinstance(a, Tracer) and (top is None or a._trace.level > top.level):
                    top = a._trace
            if top is None:
                return impl(*args)
            return top.process(p, args[:k], args[k:])
    bind.__name__ = p.name
    return bind


# ----------------------------------------------------------------------------
# Traces and tracers


class Trace:
    """One transformation in flight: processes primitives on its tracers."""

    __slots__ = ("level",)

    def __init__(self, level):
        self.level = level

    def _unzip(self, args):
        """(primals, tangents, any tangent?) of this trace's arguments."""
        primals = []
        tangents = []
        any_t = False
        for a in args:
            if type(a) is JVPTracer and a._trace is self:
                primals.append(a.primal)
                t = a.tangent
                if t is not None:
                    any_t = True
                tangents.append(t)
            else:
                primals.append(a)
                tangents.append(None)
        return primals, tangents, any_t

    def split_outputs(self, outs, const=None):
        """(primals, tangents) of a transformed function's outputs; outputs
        that are not this trace's tracers are constants (``const`` maps them)
        with a ``None`` tangent."""
        vals = []
        ts = []
        for o in outs:
            if type(o) is JVPTracer and o._trace is self:
                vals.append(o.primal)
                ts.append(o.tangent)
            else:
                vals.append(o if const is None else const(o))
                ts.append(None)
        return vals, ts

    def _process_construct(self, p, args, params):
        """Constructs that run user code (control flow, checkpoint, custom
        rules) see the trace itself and build their outputs."""
        primals, tangents, any_t = self._unzip(args)
        if not any_t:
            return p.bind(*primals, *params)
        return p.jvp_trace(self, primals, tangents, params)

    def process2(self, p, x, y, params):
        """Binary primitives (subclasses may specialise)."""
        return self.process(p, (x, y), params)

    def kill(self):
        """Called on exit: a leaked tracer now raises instead of computing."""
        self.__class__ = _dead_class(type(self))


_DEAD = {}


def _dead_process(self, p, args, params):
    raise LeakedTracerError(
        f"a traced value from a finished transformation was used in `{p.name}`. "
        "Values computed inside grad/jvp/vmap/jit (tracers) are only valid while "
        "that transformation runs; return them from the function instead of "
        "storing them in outer variables."
    )


def _dead_class(cls):
    d = _DEAD.get(cls)
    if d is None:
        d = type("Dead" + cls.__name__, (cls,), {
            "__slots__": (), "process": _dead_process,
            "process2": lambda self, p, x, y, params: _dead_process(self, p, (x, y), params)})
        _DEAD[cls] = d
    return d


class Tracer:
    """A value being traced by a transformation.

    NumPy hands its ufuncs and functions applied to tracers (``np.sin(x)``,
    ``np.sum(x)``, ``ndarray * x``) to :mod:`wengert.numpy` through NEP 13/18
    (``__array_ufunc__``/``__array_function__``, see
    ``wengert/numpy/_dispatch.py``, which installs the handlers directly);
    the operators are installed by :mod:`wengert.numpy` too.
    """

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .numpy._dispatch import array_ufunc
        return array_ufunc(self, ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from .numpy._dispatch import array_function
        return array_function(self, func, types, args, kwargs)

    # shape, dtype are provided by subclasses
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def __len__(self):
        s = self.shape
        if not s:
            raise TypeError("len() of a 0-d traced value")
        return s[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"cannot convert a traced value ({self._describe()}) to a NumPy array: "
            "its derivative would be lost. np.array([...])/np.asarray of traced values "
            "cannot be intercepted: build the array with wnp.array([...]) or "
            "wnp.stack([...]) (import wengert.numpy as wnp). Writing a traced value into "
            "a NumPy array in place (a[i] = x) cannot be either: use the functional "
            "a = wg.at(a)[i].set(x) (x.at[i].set(v) on a traced array)."
        )

    def __float__(self):
        raise TypeError(
            f"float() of a traced value ({self._describe()}) would drop its "
            "derivative (NumPy calls it when a traced value is written into an array: "
            "use a = wg.at(a)[i].set(x) instead of a[i] = x, or wnp.array([...]) "
            "instead of np.array([...])). Keep it an array, or use wg.stop_gradient if "
            "a constant is meant."
        )

    __int__ = __float__
    __complex__ = __float__

    def __setitem__(self, key, value):
        raise TypeError(
            f"in-place assignment into a traced array ({self._describe()}) is not "
            "supported: AD needs every value to stay as it was computed. Build a new "
            "array instead: `x = x.at[idx].set(new)` (JAX's idiom; also .add, .multiply, "
            ".min, .max), or `x = wnp.where(mask, new, x)`."
        )

    def __hash__(self):
        raise TypeError(f"unhashable traced value ({self._describe()})")

    def _describe(self):
        try:
            return f"{np.dtype(self.dtype).name}{list(self.shape)}"
        except Exception:  # pragma: no cover - describing must never fail
            return type(self).__name__


class JVPTrace(Trace):
    """Forward mode: tracers carry a primal and a tangent."""

    __slots__ = ()

    def process(self, p, args, params):
        if p.jvp_trace is not None:
            return self._process_construct(p, args, params)
        n = len(args)
        if n == 2:
            return self.process2(p, args[0], args[1], params)
        if n == 1:
            x = args[0]
            if type(x) is JVPTracer and x._trace is self:
                xp = x.primal
                t = x.tangent
            else:
                xp = x
                t = None
            ans = p.bind(xp, *params) if isinstance(xp, Tracer) else p.impl(xp, *params)
            if t is None or p.nondiff:
                return ans
            if p.lin1 and type(t) is LinVar:  # the tangent's equation is p itself
                tr = t._trace
                v = LinVar(tr, p, (t,), params)
                tr.tape.append(v)
                return JVPTracer(self, ans, v)
            if p.jvp_full is None:
                rule = p.jvps[0]
                t_out = None if rule is None else rule(t, ans, xp, *params)
            else:
                t_out = p.jvp_full((xp,), (t,), ans, params)
            if p.multiple_results:
                return tuple(a if t is None else JVPTracer(self, a, t) for a, t in zip(ans, t_out))
            if t_out is None:
                return ans
            return JVPTracer(self, ans, t_out)
        primals, tangents, any_t = self._unzip(args)
        ans = p.bind(*primals, *params)
        if not any_t or p.nondiff:
            return ans
        t_out = p.jvp(primals, tangents, ans, params)
        if p.multiple_results:
            return tuple(a if t is None else JVPTracer(self, a, t) for a, t in zip(ans, t_out))
        if t_out is None:
            return ans
        return JVPTracer(self, ans, t_out)

    def process2(self, p, x, y, params):
        """The binary fast path (most of any program's operations)."""
        if type(x) is JVPTracer and x._trace is self:
            xp = x.primal
            xt = x.tangent
        else:
            xp = x
            xt = None
        if type(y) is JVPTracer and y._trace is self:
            yp = y.primal
            yt = y.tangent
        else:
            yp = y
            yt = None
        if isinstance(xp, Tracer) or isinstance(yp, Tracer):
            ans = p.bind(xp, yp, *params)
        else:
            ans = p.impl(xp, yp, *params)
        if p.nondiff or (xt is None and yt is None):
            return ans
        if p.bilinear is not None and not params:
            # a product in reverse mode: its tangent is one tape equation
            if type(xt) is LinVar:
                tr = xt._trace
                if yt is None:
                    v = LinVar(tr, p, (xt, yp), ())
                elif type(yt) is LinVar and yt._trace is tr:
                    v = LinVar(tr, p.bilinear, (xt, yt, xp, yp), ())
                else:
                    v = None
                if v is not None:
                    tr.tape.append(v)
                    return JVPTracer(self, ans, v)
            elif xt is None and type(yt) is LinVar:
                tr = yt._trace
                v = LinVar(tr, p, (xp, yt), ())
                tr.tape.append(v)
                return JVPTracer(self, ans, v)
        elif p is _P.add:
            t_out = xt if yt is None else yt if xt is None else xt + yt
            return JVPTracer(self, ans, t_out)
        if p.jvp_full is not None:
            t_out = p.jvp_full((xp, yp), (xt, yt), ans, params)
        else:
            jv = p.jvps
            t_out = None
            if xt is not None and jv[0] is not None:
                t_out = jv[0](xt, ans, xp, yp, *params)
            if yt is not None and jv[1] is not None:
                c = jv[1](yt, ans, xp, yp, *params)
                if c is not None:
                    t_out = c if t_out is None else t_out + c
        if p.multiple_results:
            return tuple(a if t is None else JVPTracer(self, a, t) for a, t in zip(ans, t_out))
        if t_out is None:
            return ans
        return JVPTracer(self, ans, t_out)


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent

    @property
    def shape(self):
        return self.primal.shape

    @property
    def dtype(self):
        return self.primal.dtype

    def __bool__(self):
        return bool(self.primal)

    def __repr__(self):
        return f"JVPTracer(primal={self.primal!r})"

    # Fast operators for the common cases (a Python scalar, or a tracer of the
    # same trace and shape); everything else takes the NumPy-level path that
    # wengert.numpy installs on Tracer (broadcasting, promotion).
    def _same(self, other):
        t = type(other)
        if t is float or t is int:
            return True
        if t is np.ndarray:  # a constant of the same shape (NumPy promotes as it would)
            return other.shape == self.primal.shape
        return t is JVPTracer and other._trace is self._trace and other.primal.shape == self.primal.shape

    def _bshape(self, v):
        """The shape of ``v`` for the broadcasting fast path: a tracer of
        this trace over a concrete value, or an array (None: neither)."""
        t = type(v)
        if t is JVPTracer:
            if v._trace is self._trace:
                pr = v.primal
                if type(pr) is np.ndarray or isinstance(pr, np.generic):
                    return pr.shape
            return None
        return v.shape if t is np.ndarray else None

    def _broadcasting(self, p, x, y):
        """``p(x, y)`` (add, sub, mul or div; one operand is this tracer) with
        NumPy's broadcasting, as ``wnp`` does it: primals are left to NumPy,
        a tangent of a smaller shape is broadcast explicitly (reverse mode
        needs it for the transpose).  None where the general path is needed."""
        sx = self._bshape(x)
        if sx is None:
            return None
        sy = self._bshape(y)
        if sy is None:
            return None
        out = broadcast_shapes2(sx, sy)
        if sx != out and type(x) is JVPTracer:
            x = broadcast_tangent(p, x, out, sx)
        if sy != out and type(y) is JVPTracer:
            y = broadcast_tangent(p, y, out, sy)
        return self._trace.process2(p, x, y, ())

    def __mul__(self, other):
        if self._same(other):
            return self._trace.process2(_P.mul, self, other, ())
        r = self._broadcasting(_P.mul, self, other)
        return Tracer.__mul__(self, other) if r is None else r

    def __rmul__(self, other):
        if self._same(other):
            return self._trace.process2(_P.mul, other, self, ())
        r = self._broadcasting(_P.mul, other, self)
        return Tracer.__rmul__(self, other) if r is None else r

    def __add__(self, other):
        if self._same(other):
            return self._trace.process2(_P.add, self, other, ())
        r = self._broadcasting(_P.add, self, other)
        return Tracer.__add__(self, other) if r is None else r

    def __radd__(self, other):
        if self._same(other):
            return self._trace.process2(_P.add, other, self, ())
        r = self._broadcasting(_P.add, other, self)
        return Tracer.__radd__(self, other) if r is None else r

    def __sub__(self, other):
        if self._same(other):
            return self._trace.process2(_P.sub, self, other, ())
        r = self._broadcasting(_P.sub, self, other)
        return Tracer.__sub__(self, other) if r is None else r

    def __rsub__(self, other):
        if self._same(other):
            return self._trace.process2(_P.sub, other, self, ())
        r = self._broadcasting(_P.sub, other, self)
        return Tracer.__rsub__(self, other) if r is None else r

    def __truediv__(self, other):
        if self._same(other):
            return self._trace.process2(_P.div, self, other, ())
        r = self._broadcasting(_P.div, self, other)
        return Tracer.__truediv__(self, other) if r is None else r

    def __rtruediv__(self, other):
        if self._same(other):
            return self._trace.process2(_P.div, other, self, ())
        r = self._broadcasting(_P.div, other, self)
        return Tracer.__rtruediv__(self, other) if r is None else r

    def _mm_shape(self, v):
        """The shape of an operand of this trace's ``@`` fast path (None: no)."""
        t = type(v)
        if t is JVPTracer:
            return v.primal.shape if v._trace is self._trace else None
        return v.shape if t is np.ndarray else None

    def _mm(self, a, b):
        """Are ``a @ b`` (one of them this tracer) matrix/vector operands the
        primitive takes as they are (1-D or 2-D, inner sizes equal)?"""
        sa = self._mm_shape(a)
        sb = self._mm_shape(b)
        return (sa is not None and sb is not None and 0 < len(sa) <= 2 and 0 < len(sb) <= 2
                and sa[-1] == sb[0])

    def __matmul__(self, other):
        if self._mm(self, other):
            return self._trace.process2(_P.matmul, self, other, ())
        return Tracer.__matmul__(self, other)

    def __rmatmul__(self, other):
        if self._mm(other, self):
            return self._trace.process2(_P.matmul, other, self, ())
        return Tracer.__rmatmul__(self, other)


def broadcast_tangent(p, v, shape, in_shape):
    """The operand ``v`` (a JVPTracer over a concrete value) of ``p`` (add,
    sub, mul or div) broadcast to ``shape``: the primal stays as it is
    (``p``'s NumPy implementation broadcasts it), and the tangent is
    broadcast explicitly, as the transpose needs; every tangent term of
    these rules then has the full shape."""
    t = v.tangent
    if type(t) is LinVar:  # reverse mode: one equation on the tape
        tr = t._trace
        t = LinVar(tr, _P.broadcast, (t,), (shape, in_shape))
        tr.tape.append(t)
    elif t is None or (not isinstance(t, Tracer) and (p is _P.mul or p is _P.div)):
        # forward mode on concrete values: a product's tangent terms get the
        # full shape from the other operand
        return v
    else:
        t = _P.broadcast.bind(t, shape, in_shape)
    return JVPTracer(v._trace, v.primal, t)


class TapeTrace(Trace):
    """Records linear operations on :class:`LinVar` tangents on a flat tape."""

    __slots__ = ("tape",)

    def __init__(self, level):
        self.level = level
        self.tape = []

    def process(self, p, args, params):
        if p.transpose is None:
            if p.nondiff:
                # a non-differentiable function of a tangent (e.g. its shape
                # queries) has a zero tangent
                return None
            raise TypeError(
                f"internal error: primitive `{p.name}` is not linear but was applied "
                "to a tangent while linearizing; its JVP rule must be linear in the "
                "tangent"
            )
        v = LinVar(self, p, args, params)
        self.tape.append(v)
        return v


class LinVar(Tracer):
    """A tangent in reverse mode: one equation of the linear tape.

    ``prim``/``args``/``params`` say how it was computed from other LinVars
    (``prim`` is ``None`` for an input); ``ct`` accumulates its cotangent
    during :func:`backward_pass`.
    """

    __slots__ = ("prim", "args", "params", "ct")
    # internal values: NumPy's protocols behave as if not implemented
    __array_ufunc__ = None

    def __array_function__(self, func, types, args, kwargs):
        return func._implementation(*args, **kwargs)

    def __init__(self, trace, prim, args, params):
        self._trace = trace
        self.prim = prim
        self.args = args
        self.params = params
        self.ct = None

    # Fast operators: a tangent only ever meets constants linearly.
    def __mul__(self, c):
        if isinstance(c, Tracer) and c._trace is self._trace:
            raise TypeError("internal error: product of two tangents")
        tr = self._trace
        v = LinVar(tr, _P.mul, (self, c), ())
        tr.tape.append(v)
        return v

    __rmul__ = __mul__

    def __truediv__(self, c):
        tr = self._trace
        v = LinVar(tr, _P.div, (self, c), ())
        tr.tape.append(v)
        return v

    def __neg__(self):
        tr = self._trace
        v = LinVar(tr, _P.neg, (self,), ())
        tr.tape.append(v)
        return v

    def __add__(self, other):
        if other is None:
            return self
        tr = self._trace
        if type(other) is LinVar and other._trace is tr:
            v = LinVar(tr, _P.add, (self, other), ())
            tr.tape.append(v)
            return v
        return _P.add.bind(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        tr = self._trace
        if type(other) is LinVar and other._trace is tr:
            v = LinVar(tr, _P.sub, (self, other), ())
            tr.tape.append(v)
            return v
        return _P.sub.bind(self, other)

    def __rsub__(self, other):
        return _P.sub.bind(other, self)

    # No ``shape``/``dtype``: tangents on the tape are not shape-tracked, and
    # NumPy-level helpers see an AttributeError and bind primitives directly.

    def __repr__(self):
        return f"LinVar({self.prim.name if self.prim else 'input'})"


class _PrimRefs:
    """Late-bound references to the primitives the core's fast paths use."""

    mul = div = neg = add = sub = matmul = mul_tangent = matmul_tangent = broadcast = None


_P = _PrimRefs()


# In-place updates of cotangents rely on reference counts to know that
# nothing else holds an array; Python 3.14 skips some counts (borrowed stack
# references), so there the sweep always makes new arrays.
_INPLACE = sys.version_info < (3, 14)


def writeable(x):
    """A result for the user: a read-only NumPy view (a broadcast, which
    sweeps and batching rules make cheaply) becomes a writeable copy."""
    if type(x) is np.ndarray and not x.flags.writeable:
        return x.copy()
    return x


def _accumulate(a, c):
    old = a.ct
    if old is None:
        a.ct = c
    elif (type(old) is np.ndarray and type(c) is np.ndarray and old.base is None
          and _INPLACE and _getrefcount(old) == 3 and old.shape == c.shape and old.dtype == c.dtype):
        # a sum this sweep made and nobody else holds: add in place (as a
        # hand-written gradient does with `gW += ...`)
        old += c
    else:
        a.ct = old + c


# Hooks swapped in by ``wengert._config`` while ``wg.config.debug_nans`` is on
# (empty otherwise: one dict truth test per backward pass).
_debug_hooks: dict = {}


def backward_pass(trace, seeds):
    """Sweep ``trace``'s tape backwards from ``seeds`` [(LinVar, cotangent)].

    Cotangents land in the ``ct`` slot of every LinVar, inputs included.
    Iterative (no recursion), in reverse creation order, which is a
    topological order of the tape.
    """
    if _debug_hooks:
        return _debug_hooks["backward_pass"](trace, seeds)
    for v, ct in seeds:
        if type(v) is LinVar and v._trace is trace and ct is not None:
            _accumulate(v, ct)
    mul, div, neg, add, sub, mm = _P.mul, _P.div, _P.neg, _P.add, _P.sub, _P.matmul
    mul_t, mm_t = _P.mul_tangent, _P.matmul_tangent
    outers = {}  # id(LinVar) -> [LinVar, left factors, right factors]: deferred sums of outer products
    tape = trace.tape
    for i in range(len(tape) - 1, -1, -1):
        eq = tape[i]
        if outers and id(eq) in outers:
            _flush_outers(outers.pop(id(eq)))
        ct = eq.ct
        if ct is None:
            continue
        eq.ct = None
        p = eq.prim
        args = eq.args
        # (the first cotangent of a LinVar is stored without a call)
        if p is mul:
            a, c = args
            if type(a) is not LinVar or a._trace is not trace:
                a, c = c, a
            if type(ct) is np.ndarray and type(c) is np.ndarray and ct.base is None \
                    and _INPLACE and _getrefcount(ct) == 2 and ct.shape == c.shape and ct.dtype == c.dtype:
                # a cotangent this sweep made and nobody else holds: scale it in place
                ct *= c
                c = ct
            else:
                c = ct * c
            if a.ct is None:
                a.ct = c
            else:
                _accumulate(a, c)
            continue
        if p is add or p is sub:
            a, b = args
            if type(a) is LinVar and a._trace is trace:
                if a.ct is None:
                    a.ct = ct
                else:
                    _accumulate(a, ct)
            if type(b) is LinVar and b._trace is trace:
                c = ct if p is add else -ct
                if b.ct is None:
                    b.ct = c
                else:
                    _accumulate(b, c)
            continue
        if p is neg:
            a = args[0]
            if a.ct is None:
                a.ct = -ct
            else:
                _accumulate(a, -ct)
            continue
        if p is div and type(args[1]) is not LinVar:
            a = args[0]
            c = ct / args[1]
            if a.ct is None:
                a.ct = c
            else:
                _accumulate(a, c)
            continue
        if p is mm and type(ct) is np.ndarray:
            a, b = args
            if type(a) is LinVar and a._trace is trace:
                if type(b) is np.ndarray and _mm_ct_left(outers, a, ct, b):
                    continue
            elif type(b) is LinVar and b._trace is trace and type(a) is np.ndarray:
                if _mm_ct_right(outers, b, ct, a):
                    continue
        if p is mul_t:  # x_dot * y + x * y_dot
            xt, yt, x, y = args
            _accumulate(xt, ct * y)
            _accumulate(yt, x * ct)
            continue
        if p is mm_t and type(ct) is np.ndarray and ct.ndim >= 1 and type(args[2]) is np.ndarray \
                and type(args[3]) is np.ndarray:  # x_dot @ y + x @ y_dot
            xt, yt, x, y = args
            if _mm_ct_left(outers, xt, ct, y) and _mm_ct_right(outers, yt, ct, x):
                continue
            raise AssertionError("internal error: matmul tangent of unexpected ranks")
        if len(args) == 1:  # unary linear primitives (reshape, sum, getitem, ...)
            c = p.transpose(ct, None, *eq.params)[0]
            if c is not None:
                a = args[0]
                if a.ct is None:
                    a.ct = c
                else:
                    _accumulate(a, c)
            continue
        lin = [type(a) is LinVar and a._trace is trace for a in args]
        targs = [None if f else a for a, f in zip(args, lin)]
        cts = p.transpose(ct, *targs, *eq.params)
        for a, f, c in zip(args, lin, cts):
            if f and c is not None:
                _accumulate(a, c)
    for rec in outers.values():  # the inputs' (off the tape)
        _flush_outers(rec)


def _mm_ct_left(outers, a, ct, b):
    """Cotangent of the linear left operand ``a`` of ``a @ b`` (concrete
    ``ct`` and ``b``); False for rank combinations left to the transpose rule."""
    nc, nb = ct.ndim, b.ndim
    if nc >= 2 and nb == nc:
        _accumulate(a, np.matmul(ct, b.T if nb == 2 else np.swapaxes(b, -1, -2)))
    elif nc == 1 and nb == 1:
        # matrix @ vector: the cotangent is the outer product ct ⊗ b; a
        # recurrence makes one per step, and their sum is one matrix product
        # at the end (Σ_t c_t ⊗ b_t = C^T B)
        _defer_outer(outers, a, ct, b)
    elif nc == 1 and nb == 2:  # vector @ matrix: b ct
        _accumulate(a, np.matmul(b, ct))
    elif nc == 0 and nb == 1:  # vector · vector
        _accumulate(a, ct * b)
    else:
        return False
    return True


def _mm_ct_right(outers, b, ct, a):
    """Cotangent of the linear right operand ``b`` of ``a @ b``."""
    nc, na = ct.ndim, a.ndim
    if nc >= 2 and na == nc:
        _accumulate(b, np.matmul(a.T if na == 2 else np.swapaxes(a, -1, -2), ct))
    elif nc == 1 and na == 2:  # matrix @ vector: a^T ct, as ct @ a (no transpose)
        _accumulate(b, np.matmul(ct, a))
    elif nc == 1 and na == 1:  # vector @ matrix: the outer product a ⊗ ct
        _defer_outer(outers, b, a, ct)
    elif nc == 0 and na == 1:
        _accumulate(b, a * ct)
    else:
        return False
    return True


def _defer_outer(outers, a, left, right):
    rec = outers.get(id(a))
    if rec is None:
        outers[id(a)] = [a, [left], [right]]
    else:
        rec[1].append(left)
        rec[2].append(right)


def _flush_outers(rec):
    a, ls, rs = rec
    if len(ls) == 1:
        _accumulate(a, np.multiply.outer(ls[0], rs[0]))
    else:
        _accumulate(a, np.matmul(np.stack(ls, 1), np.stack(rs)))


def evaluate_tape(trace, inputs, values, outputs):
    """Run the linear tape forwards (``linearize``'s JVP function)."""
    env = {id(v): x for v, x in zip(inputs, values)}

    def read(a):
        if type(a) is LinVar and a._trace is trace:
            return env.get(id(a))
        return a

    for eq in trace.tape:
        args = [read(a) for a in eq.args]
        if any(a is None for a, o in zip(args, eq.args) if type(o) is LinVar):
            # a symbolic-zero input: substitute zeros lazily (rare)
            args = [_zeros_for(o, a) for a, o in zip(args, eq.args)]
        env[id(eq)] = eq.prim.bind(*args, *eq.params)
    return [read(o) if o is not None else None for o in outputs]


def _zeros_for(orig, val):
    if val is None and type(orig) is LinVar:
        return 0.0
    return val
