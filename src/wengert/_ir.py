"""The Wengert list as a first-class IR: :func:`make_graph` and :class:`Graph`.

Tracing a function on example arguments with a :class:`StagingTrace` gives a
:class:`Graph`: its inputs, a numbered list of primitive applications
(:class:`Eqn`) and its outputs.  Staging tracers carry the concrete example
value (each primitive's output is computed at once while tracing), so shapes
and dtypes are known without per-primitive shape rules.

Tracing runs under whatever transformations are active, and transformations
run inside the traced function are traced too: ``make_graph(wg.grad(f), x)``
is one graph holding the forward sweep and the backward sweep.

>>> import wengert as wg, wengert.numpy as wnp
>>> g = wg.make_graph(lambda x, y: x * y + wnp.sin(x), 1.0, 2.0)
>>> print(g)  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
inputs  v1: f64[], v2: f64[]
   1  v3 = mul v1 v2     : f64[]  # ...
   2  v4 = sin v1        : f64[]  # ...
   3  v5 = add v3 v4     : f64[]  # ...
outputs v5
>>> float(g(0.5, 3.0)) == 0.5 * 3.0 + float(wnp.sin(0.5))
True
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._core import _P, Primitive, Trace, Tracer, end_level, new_level
from .tree_util import PyTreeDef, tree_flatten, tree_unflatten

__all__ = [
    "ConcretizationError",
    "TracerBoolError",
    "IRError",
    "check_graph",
    "Var",
    "Eqn",
    "Graph",
    "StagingTrace",
    "StagedTracer",
    "make_graph",
    "stage",
    "user_frame",
    "user_location",
]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


# ----------------------------------------------------------------------------
# Where the user is


def user_frame(start=None):
    """The innermost stack frame outside the wengert package (or ``None``)."""
    f = start if start is not None else sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not (fn.startswith(_PKG_DIR) or fn.startswith("<wengert")):
            return f
        f = f.f_back
    return None


def user_location(full: bool = False) -> str | None:
    """``"file.py:12"`` of the innermost user frame (full path if ``full``)."""
    f = user_frame(sys._getframe(1))
    if f is None:
        return None
    fn = f.f_code.co_filename
    return f"{fn if full else os.path.basename(fn)}:{f.f_lineno}"


def _describe_user_line() -> str:
    f = user_frame(sys._getframe(1))
    if f is None:
        return ""
    fn, ln = f.f_code.co_filename, f.f_lineno
    text = linecache.getline(fn, ln).strip()
    return f"\n  at {fn}:{ln} (in {f.f_code.co_name})" + (f"\n    {text}" if text else "")


def short_src(src: str | None) -> str | None:
    """``"/path/to/file.py:12"`` -> ``"file.py:12"``."""
    if not src:
        return src
    fn, _, ln = src.rpartition(":")
    return f"{os.path.basename(fn)}:{ln}" if fn else src


class ConcretizationError(TypeError):
    """A traced value's contents were needed while staging (``jit``/``make_graph``)."""


class TracerBoolError(ConcretizationError):
    """Python control flow (``if``/``while``/``bool``) on a staged value."""


# ----------------------------------------------------------------------------
# The IR


_DT_SHORT = {"float64": "f64", "float32": "f32", "float16": "f16", "complex128": "c128",
             "complex64": "c64", "int64": "i64", "int32": "i32", "int16": "i16",
             "int8": "i8", "uint8": "u8", "uint32": "u32", "uint64": "u64", "bool": "bool"}


_SHORT_CACHE: dict = {}


def _short_dtype(dt) -> str:
    r = _SHORT_CACHE.get(dt)
    if r is not None:
        return r
    try:
        name = np.dtype(dt).name
    except TypeError:
        return str(dt)
    r = _SHORT_CACHE[dt] = _DT_SHORT.get(name, name)
    return r


def aval_str(shape, dtype) -> str:
    """``f64[2,3]``: the short type of an array value."""
    return f"{_short_dtype(dtype)}[{','.join(str(s) for s in shape)}]"


class Var:
    """A variable of a graph: one value with a shape and a dtype.

    Variables are compared by identity; their printed names (``v1``, ``v2``,
    ...) are given by the :class:`Graph` that lists them.
    """

    # ``_tmp``: scratch space of one pass at a time (jit's interpret() keeps a
    # variable's last use and register there instead of in dicts)
    __slots__ = ("shape", "dtype", "_tmp")

    def __init__(self, shape: Sequence[int] = (), dtype: Any = np.float64):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype

    @property
    def aval(self) -> str:
        return aval_str(self.shape, self.dtype)

    def __repr__(self):
        return f"Var({self.aval})"


class Eqn:
    """One row of the Wengert list: ``outputs = prim(inputs, params)``.

    ``prim`` is a :class:`~wengert._core.Primitive` (or, for graphs built by
    hand, any object with a ``name``, or a string); ``inputs`` holds
    :class:`Var` objects and constants (any other value); ``outputs`` is a
    list of :class:`Var` (one entry unless the primitive has multiple
    results); ``params`` the primitive's static parameters; ``src`` the
    user's ``file:line`` that made it (or ``None``); ``note`` says which
    sweep made it where known (e.g. ``"adjoint of sqrt"``).
    """

    __slots__ = ("prim", "inputs", "outputs", "params", "src", "note", "row")

    def __init__(self, prim, inputs, outputs, params=(), src=None, note=None, row=None):
        self.prim = prim
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.params = tuple(params)
        self.src = src
        self.note = note
        self.row = row

    @property
    def name(self) -> str:
        p = self.prim
        if isinstance(p, str):
            return p
        n = getattr(p, "name", None)
        return n if n is not None else repr(p)

    @property
    def multiple_results(self) -> bool:
        return bool(getattr(self.prim, "multiple_results", False))

    def __repr__(self):
        return f"Eqn({self.name}, {len(self.inputs)} in, {len(self.outputs)} out)"


def _fmt_const(c) -> str:
    if isinstance(c, (bool, int, float, complex)) and not isinstance(c, np.generic):
        return repr(c)
    if isinstance(c, np.generic):
        return repr(c.item())
    if isinstance(c, np.ndarray):
        if c.size <= 6 and c.ndim <= 1:
            body = np.array2string(c, separator=" ", threshold=6)
            return body if c.dtype == np.float64 else f"{body}:{_short_dtype(c.dtype)}"
        return f"<const {aval_str(c.shape, c.dtype)}>"
    if isinstance(c, Tracer):
        return f"<outer tracer {c._describe()}>"
    return _fmt_param(c)


def _fmt_param(p) -> str:
    if isinstance(p, np.ndarray):
        if p.size <= 6 and p.ndim <= 1:
            return np.array2string(p, separator=",")
        return f"<{aval_str(p.shape, p.dtype)}>"
    if isinstance(p, tuple):
        inner = ", ".join(_fmt_param(x) for x in p)
        return f"({inner}{',' if len(p) == 1 else ''})"
    if isinstance(p, list):
        return "[" + ", ".join(_fmt_param(x) for x in p) + "]"
    if isinstance(p, slice):
        parts = ["" if v is None else str(v) for v in (p.start, p.stop, p.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if p.step is not None else "")
    if p is Ellipsis:
        return "..."
    if isinstance(p, np.dtype):
        return p.name
    if isinstance(p, type):
        return p.__name__
    if isinstance(p, Graph):
        return f"<graph {len(p.eqns)} eqns>"
    if callable(p):
        return getattr(p, "__name__", type(p).__name__)
    r = repr(p)
    return r if len(r) <= 48 else r[:45] + "..."


class Graph:
    """A traced program (Wengert list): inputs, equations, outputs.

    Build one with :func:`make_graph`, or by hand from records (other parts of
    wengert print their own graphs in the same format):

    >>> from wengert._ir import Graph, Eqn, Var
    >>> x, y = Var((), "float64"), Var((), "float64")
    >>> g = Graph([x], [Eqn("sin", [x], [y])], [y])
    >>> print(g)  # doctest: +NORMALIZE_WHITESPACE
    inputs  v1: f64[]
       1  v2 = sin v1     : f64[]
    outputs v2

    ``graph(*args)`` (or :meth:`evaluate`) runs it by binding each primitive,
    so it runs under every transformation: ``wg.grad(graph)`` works.
    ``in_tree``/``out_tree`` are the pytree structures of the arguments and
    results (when ``None``: flat arguments, and one result or a tuple).
    """

    def __init__(self, inputs: Sequence[Var], eqns: Sequence[Eqn], outputs: Sequence[Any],
                 in_tree: PyTreeDef | None = None, out_tree: PyTreeDef | None = None,
                 name: str | None = None):
        self.inputs = list(inputs)
        self.eqns = list(eqns)
        self.outputs = list(outputs)
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.name = name
        for i, e in enumerate(self.eqns):
            if e.row is None:
                e.row = i + 1

    # -- names --------------------------------------------------------------
    def var_names(self) -> dict:
        """``{Var: "v<n>"}``: inputs first, then each equation's outputs in order."""
        names = {}
        n = 0
        for v in self.inputs:
            n += 1
            names[v] = f"v{n}"
        for e in self.eqns:
            for v in e.outputs:
                if v not in names:
                    n += 1
                    names[v] = f"v{n}"
        return names

    def _atom(self, a, names) -> str:
        if type(a) is Var:
            return names.get(a, "v?")
        return _fmt_const(a)

    def rows(self) -> list[dict]:
        """The listing as data: one dict per equation with ``row``, ``outputs``
        (names), ``op``, ``params``, ``inputs`` (names or constant text),
        ``aval`` and ``src``."""
        names = self.var_names()
        out = []
        for i, e in enumerate(self.eqns):
            out.append({
                "row": e.row if e.row is not None else i + 1,
                "outputs": [names[v] for v in e.outputs],
                "op": e.name,
                "params": e.params,
                "inputs": [self._atom(a, names) for a in e.inputs],
                "aval": ", ".join(v.aval for v in e.outputs),
                "src": e.src,
                "note": e.note,
            })
        return out

    def __str__(self):
        names = self.var_names()
        lines = ["inputs  " + ", ".join(f"{names[v]}: {v.aval}" for v in self.inputs)]
        body = []
        for r in self.rows():
            op = r["op"]
            if r["params"]:
                op += "[" + ", ".join(_fmt_param(p) for p in r["params"]) + "]"
            lhs = ", ".join(r["outputs"]) if r["outputs"] else "_"
            text = f"{lhs} = {op} {' '.join(r['inputs'])}".rstrip()
            tail = ""
            if r["src"] or r["note"]:
                tail = "  # " + " ".join(x for x in (r["note"], short_src(r["src"])) if x)
            body.append((r["row"], text, r["aval"], tail))
        width = max([len(t) for _, t, _, _ in body] + [10])
        for row, text, aval, tail in body:
            lines.append(f"{row:4d}  {text.ljust(width)}  : {aval}{tail}")
        outs = [self._atom(o, names) for o in self.outputs]
        lines.append("outputs " + ", ".join(outs))
        return "\n".join(lines)

    def __repr__(self):
        return (f"<Graph {self.name or ''} {len(self.inputs)} inputs, "
                f"{len(self.eqns)} equations, {len(self.outputs)} outputs>")

    def __len__(self):
        return len(self.eqns)

    # -- running it -------------------------------------------------------
    def evaluate(self, *args: Any) -> Any:
        """Run the graph on new arguments (same structure as the example)."""
        leaves, tree = tree_flatten(list(args))
        if self.in_tree is not None and tree != self.in_tree:
            # allow a flat list of leaves too
            if len(leaves) != len(self.inputs):
                raise TypeError(f"Graph.evaluate: arguments of structure {tree} do not match "
                                f"the traced structure {self.in_tree}")
        if len(leaves) != len(self.inputs):
            raise TypeError(f"Graph.evaluate: expected {len(self.inputs)} array arguments, "
                            f"got {len(leaves)}")
        outs = self.evaluate_flat(leaves)
        if self.out_tree is None:  # a hand-built graph: one value, or a tuple
            return outs[0] if len(outs) == 1 else tuple(outs)
        return tree_unflatten(self.out_tree, outs)

    __call__ = evaluate

    def evaluate_flat(self, leaves: Sequence[Any]) -> list:
        """Run on a flat list of input values; returns the flat list of outputs."""
        env = {}
        for v, x in zip(self.inputs, leaves):
            if isinstance(x, (float, int, complex, bool)):
                x = v.dtype.type(x)
            env[v] = x
        for e in self.eqns:
            p = e.prim
            if isinstance(p, str):
                from ._prims import REGISTRY
                p = REGISTRY[p]
            vals = [env[a] if type(a) is Var else a for a in e.inputs]
            out = p.bind(*vals, *e.params)
            if getattr(p, "multiple_results", False):
                for v, o in zip(e.outputs, out):
                    env[v] = o
            else:
                env[e.outputs[0]] = out
        return [env[o] if type(o) is Var else o for o in self.outputs]


# ----------------------------------------------------------------------------
# Checking a graph (the verifier run after every optimiser pass under
# ``wg.config.debug_ir``)


class IRError(AssertionError):
    """A Wengert list that is not well formed: a variable used before it is
    defined or defined twice, or an equation whose declared shape/dtype is not
    what its primitive computes.  Raised by :func:`check_graph`."""


# Primitives whose implementation runs user code (bodies of control flow,
# custom rules, checkpointed functions) or closes over a primal point: their
# results are not recomputed on dummy values (a ``while_loop`` body might not
# terminate on zeros); their variables are still checked.
_OPAQUE = frozenset({
    "cond", "while_loop", "scan", "custom_jvp_call", "custom_vjp_call", "checkpoint",
    "linearize", "linearization_jvp", "linearization_vjp", "linear_call", "linear_call_out",
    "jit_linear",
})


# Primitives whose result dtype depends on the values, as in NumPy
# (``np.linalg.eig`` is real when every eigenvalue is): shapes are checked.
_VALUE_DTYPE = frozenset({"linalg_eig"})


def _dummy(v: Var, fill: str):
    if fill == "eye" and len(v.shape) >= 2 and v.shape[-1] == v.shape[-2]:
        a = np.broadcast_to(np.eye(v.shape[-1], dtype=v.dtype), v.shape).copy()
    elif fill == "zeros":
        a = np.zeros(v.shape, v.dtype)
    else:
        a = np.ones(v.shape, v.dtype)
    return a[()] if a.ndim == 0 else a


def _computed_avals(prim, ins, params):
    """The output avals of ``prim`` on dummy values of its inputs' avals (the
    primitive's own implementation, so exact), or ``None`` if it cannot be run
    on dummies (it raised on zeros, ones and identity matrices)."""
    import warnings
    for fill in ("zeros", "eye", "ones"):
        vals = [_dummy(a, fill) if type(a) is Var else a for a in ins]
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = prim.impl(*vals, *params)
        except Exception:
            continue
        outs = out if getattr(prim, "multiple_results", False) else (out,)
        try:
            return [(tuple(np.shape(o)), np.result_type(o)) for o in outs]
        except TypeError:
            return None
    return None


def _describe_eqn(graph: Graph, e: Eqn, names: dict) -> str:
    ins = " ".join(graph._atom(a, names) if type(a) is not Var or a in names else "v?<undefined>"
                   for a in e.inputs)
    outs = ", ".join(names.get(v, "v?") for v in e.outputs)
    params = "[" + ", ".join(_fmt_param(p) for p in e.params) + "]" if e.params else ""
    return f"row {e.row}: `{outs} = {e.name}{params} {ins}`"


def check_graph(graph: Graph, after: str | None = None, out_avals: Sequence | None = None,
                blame: dict | None = None) -> None:
    """Check that ``graph`` is a well-formed Wengert list; raise :class:`IRError` if not.

    Like JAX's ``core.check_jaxpr``: every input is a distinct variable; each
    equation uses only variables defined before it (inputs or earlier
    outputs), defines each of its outputs exactly once, and declares the
    shape and dtype its primitive computes from its inputs and parameters
    (recomputed by running the primitive's implementation on dummy arrays of
    the input shapes and dtypes); every output variable is defined, with the
    shape and dtype of ``out_avals`` if given.  ``after`` names the
    optimiser pass that produced the graph, ``blame`` maps equations (or
    variables) to the rewrite rule that made them, for the message.

    >>> import wengert as wg
    >>> from wengert._ir import check_graph, Var, Eqn, Graph, IRError
    >>> g = wg.make_graph(lambda x: x * 2.0 + 1.0, 3.0)
    >>> check_graph(g)            # well formed: returns None
    >>> g.eqns[0].outputs[0].shape = (2,)     # declare a wrong shape
    >>> try:
    ...     check_graph(g, after="my_pass")
    ... except IRError as err:
    ...     print(str(err).splitlines()[0])
    Wengert list broken after pass 'my_pass': row 1: `v2 = mul v1 2.0` declares f64[2] but mul computes f64[]
    """
    from ._prims import REGISTRY
    blame = blame or {}
    names = graph.var_names()
    where = f" after pass '{after}'" if after else ""

    def fail(msg, e=None, var=None):
        rule = blame.get(e) if e is not None else None
        if rule is None and var is not None:
            rule = blame.get(var)
        extra = f"\n  (made by rewrite rule '{rule}')" if rule else ""
        if e is not None and e.src:
            extra += f"\n  traced at {short_src(e.src)}"
        raise IRError(f"Wengert list broken{where}: {msg}{extra}")

    defined: set = set()
    for v in graph.inputs:
        if type(v) is not Var:
            fail(f"input {v!r} is not a Var")
        if v in defined:
            fail(f"input {names.get(v)} is listed twice")
        defined.add(v)
    for e in graph.eqns:
        for a in e.inputs:
            if type(a) is Var and a not in defined:
                fail(f"{_describe_eqn(graph, e, names)} uses {names.get(a, 'a variable')} "
                     "before it is defined", e, a)
        for v in e.outputs:
            if type(v) is not Var:
                fail(f"{_describe_eqn(graph, e, names)} has an output that is not a Var: {v!r}", e)
            if v in defined:
                fail(f"{_describe_eqn(graph, e, names)} defines {names[v]} a second time", e, v)
            defined.add(v)
        p = e.prim
        if isinstance(p, str):
            p = REGISTRY.get(p)
        if p is None or not hasattr(p, "impl"):
            continue
        multi = bool(getattr(p, "multiple_results", False))
        if not multi and len(e.outputs) != 1:
            fail(f"{_describe_eqn(graph, e, names)} has {len(e.outputs)} outputs; "
                 f"{e.name} has one result", e)
        if p.name in _OPAQUE or any(callable(q) or isinstance(q, Graph) for q in e.params):
            continue
        got = _computed_avals(p, e.inputs, e.params)
        if got is None:
            continue
        if len(got) != len(e.outputs):
            fail(f"{_describe_eqn(graph, e, names)} declares {len(e.outputs)} outputs but "
                 f"{e.name} computes {len(got)}", e)
        for v, (shape, dtype) in zip(e.outputs, got):
            if v.shape != shape or (v.dtype != dtype and p.name not in _VALUE_DTYPE):
                fail(f"{_describe_eqn(graph, e, names)} declares {v.aval} but {e.name} "
                     f"computes {aval_str(shape, dtype)}", e, v)
    for k, o in enumerate(graph.outputs):
        if type(o) is Var and o not in defined:
            fail(f"output {k} ({names.get(o, 'a variable')}) is never defined", None, o)
        if out_avals is not None and out_avals[k] is not None:
            want = out_avals[k]
            if type(o) is Var:
                have = (o.shape, o.dtype)
            elif isinstance(o, (np.ndarray, np.generic)):
                have = (o.shape, o.dtype)
            else:
                continue
            if have != want:
                fail(f"output {k} ({graph._atom(o, names)}) is {aval_str(*have)}, "
                     f"the traced function returns {aval_str(*want)}", None, o)


def graph_out_avals(graph: Graph) -> list:
    """``(shape, dtype)`` of each output of ``graph`` (``None`` for untyped constants)."""
    res = []
    for o in graph.outputs:
        if type(o) is Var or isinstance(o, (np.ndarray, np.generic)):
            res.append((tuple(o.shape), o.dtype))
        else:
            res.append(None)
    return res


# ----------------------------------------------------------------------------
# Staging


class _Ctx(threading.local):
    origin = None  # (note, src) while a checking backward pass transposes an equation


CTX = _Ctx()


def _backward_code():
    from . import _core
    return _core.backward_pass.__code__


_BACKWARD_CODE = _backward_code()


class StagingTrace(Trace):
    """Records each primitive applied to its tracers as one :class:`Eqn`."""

    __slots__ = ("eqns", "record_src", "has_outer")

    def __init__(self, level, record_src=True):
        self.level = level
        self.eqns = []
        self.record_src = record_src
        self.has_outer = False

    def process(self, p, args, params):
        vals = []
        ins = []
        for a in args:
            if type(a) is StagedTracer and a._trace is self:
                vals.append(a.val)
                ins.append(a._var)
            else:
                if isinstance(a, Tracer):
                    self.has_outer = True
                vals.append(a)
                ins.append(a)
        out = p.bind(*vals, *params)
        return self._record(p, ins, params, out)

    def process2(self, p, x, y, params):
        if type(x) is StagedTracer and x._trace is self:
            xv = x.val
            x = x._var
        else:
            xv = x
            if isinstance(x, Tracer):
                self.has_outer = True
        if type(y) is StagedTracer and y._trace is self:
            yv = y.val
            y = y._var
        else:
            yv = y
            if isinstance(y, Tracer):
                self.has_outer = True
        if isinstance(xv, Tracer) or isinstance(yv, Tracer):
            out = p.bind(xv, yv, *params)
        else:
            out = p.impl(xv, yv, *params)
        return self._record(p, [x, y], params, out)

    def _record(self, p, ins, params, out):
        src = note = None
        if self.record_src:
            o = CTX.origin
            if o is not None:
                note, src = o
            else:
                f = sys._getframe(2)
                while f is not None:
                    co = f.f_code
                    fn = co.co_filename
                    if not (fn.startswith(_PKG_DIR) or fn.startswith("<wengert")):
                        src = f"{fn}:{f.f_lineno}"
                        break
                    if co is _BACKWARD_CODE:
                        note = "reverse sweep"
                    f = f.f_back
        if p.multiple_results:
            tracers = tuple(StagedTracer(self, o, _var_of(o)) for o in out)
            self.eqns.append(Eqn(p, ins, [t._var for t in tracers], params, src, note))
            return tracers
        try:
            var = Var.__new__(Var)
            shape = out.shape
            sh = _SHAPES.get(shape)
            if sh is None:  # one tuple per shape (a long trace has many equal shapes)
                if len(_SHAPES) > 4096:
                    _SHAPES.clear()
                sh = _SHAPES[shape] = tuple(shape)
            var.shape = sh
            d = out.dtype
            var.dtype = d if isinstance(d, np.dtype) else np.dtype(d)
        except AttributeError:
            var = _var_of(out)
        t = StagedTracer(self, out, var)
        self.eqns.append(Eqn(p, ins, [var], params, src, note))
        return t


_SHAPES: dict = {}


def _var_of(val) -> Var:
    try:
        return Var(val.shape, val.dtype)
    except AttributeError:
        return Var(np.shape(val), np.result_type(val))


class StagedTracer(Tracer):
    """A value being staged into a graph: its example value and its variable."""

    __slots__ = ("val", "_var")

    def __init__(self, trace, val, var):
        self._trace = trace
        self.val = val
        self._var = var

    @property
    def shape(self):
        return self._var.shape

    @property
    def dtype(self):
        return self._var.dtype

    def _staged_error(self, what, cls=ConcretizationError):
        raise cls(
            f"{what} of a value traced by jit/make_graph ({self._describe()}): its "
            "contents are not known while the function is being traced (the trace is "
            "reused for every input of this shape). Use wg.cond(pred, true_fun, "
            "false_fun, *operands) or wnp.where for branches, wg.while_loop / "
            "wg.fori_loop for loops, or mark the argument static with "
            "wg.jit(f, static_argnums=...)." + _describe_user_line())

    def __bool__(self):
        self._staged_error("Python control flow (if/while/and/or/bool())", TracerBoolError)

    def __float__(self):
        self._staged_error("float()")

    def __int__(self):
        self._staged_error("int()")

    def __complex__(self):
        self._staged_error("complex()")

    def __index__(self):
        self._staged_error("using as an index/int (__index__)")

    def __array__(self, *args, **kwargs):
        self._staged_error("converting to a NumPy array (np.asarray, np.array([...]), a shape or "
                           "size such as wnp.arange(n)) — build arrays with wnp.array/wnp.stack —")

    def concrete(self):
        """Data-dependent operations (indexing by traced integers or masks,
        sorting permutations, nonzero) cannot be staged: they raise."""
        self._staged_error(
            "a data-dependent operation (indexing with traced indices or a traced "
            "boolean mask, sort/argsort/partition permutations, nonzero, item(), ...) "
            "needs the contents")

    def __repr__(self):
        return f"StagedTracer({self._var.aval})"

    # Fast operators for the common cases (a Python scalar, or an operand of
    # the same shape): the backward sweep's ``ct * c`` products come here.
    def _fast(self, other):
        t = type(other)
        if t is float or t is int:
            return True
        if t is StagedTracer:
            return other._trace is self._trace and other._var.shape == self._var.shape
        if t is np.ndarray or isinstance(other, np.generic):
            return other.shape == self._var.shape
        return False

    def __mul__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.mul, self, other, ())
        return Tracer.__mul__(self, other)

    def __rmul__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.mul, other, self, ())
        return Tracer.__rmul__(self, other)

    def __add__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.add, self, other, ())
        return Tracer.__add__(self, other)

    def __radd__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.add, other, self, ())
        return Tracer.__radd__(self, other)

    def __sub__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.sub, self, other, ())
        return Tracer.__sub__(self, other)

    def __rsub__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.sub, other, self, ())
        return Tracer.__rsub__(self, other)

    def __truediv__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.div, self, other, ())
        return Tracer.__truediv__(self, other)

    def __rtruediv__(self, other):
        if self._fast(other):
            return self._trace.process2(_P.div, other, self, ())
        return Tracer.__rtruediv__(self, other)


def _example(x):
    """Canonical example value of an input leaf (weak Python scalars -> NumPy)."""
    t = type(x)
    if t is float:
        return np.float64(x)
    if t is int:
        return np.int64(x)
    if t is bool:
        return np.bool_(x)
    if t is complex:
        return np.complex128(x)
    if isinstance(x, (np.ndarray, np.generic, Tracer)):
        return x
    raise TypeError(f"not an array: {type(x).__name__}")


def stage(fun: Callable, args: Sequence[Any], kwargs: dict | None = None,
          static_argnums: Sequence[int] = (), name: str | None = None,
          record_src: bool = True) -> Graph:
    """Trace ``fun(*args, **kwargs)`` into a :class:`Graph`.

    Arguments at ``static_argnums`` are passed through as Python values (not
    inputs of the graph); every other argument is a pytree of arrays.
    """
    kwargs = kwargs or {}
    fname = name or getattr(fun, "__name__", type(fun).__name__)
    static = set(static_argnums)
    dyn = [a for i, a in enumerate(args) if i not in static]
    leaves, in_tree = tree_flatten((dyn, kwargs))
    examples = []
    for i, x in enumerate(leaves):
        try:
            examples.append(_example(x))
        except TypeError:
            raise TypeError(
                f"{fname}: argument leaf {i} is a {type(x).__name__}, not an array or "
                "number; pass it as a static argument (static_argnums) or close over it"
            ) from None
    level = new_level()
    trace = StagingTrace(level, record_src)
    try:
        invars = [_var_of(x) for x in examples]
        tracers = [StagedTracer(trace, x, v) for x, v in zip(examples, invars)]
        dyn_t, kw_t = tree_unflatten(in_tree, tracers)
        it = iter(dyn_t)
        full = [a if i in static else next(it) for i, a in enumerate(args)]
        try:
            out = fun(*full, **kw_t)
        except TypeError as e:
            if "StagedTracer" in str(e) and "integer" in str(e) and not isinstance(e, ConcretizationError):
                # NumPy refused a traced value as a shape (np.zeros(n)) with its own message
                raise ConcretizationError(
                    f"{e}: a value traced by jit was used as a shape, size or count; array "
                    "shapes must be known while tracing. Mark that argument static: "
                    "wg.jit(f, static_argnums=(i,)) or static_argnames=('name',) (it is then "
                    "traced again for each value).") from e
            raise
        out_leaves, out_tree = tree_flatten(out)
        outs = []
        vals = []
        for o in out_leaves:
            if type(o) is StagedTracer and o._trace is trace:
                outs.append(o._var)
                vals.append(o.val)
            else:
                if isinstance(o, Tracer):
                    trace.has_outer = True
                outs.append(o)
                vals.append(o)
    finally:
        end_level()
        trace.kill()
    g = Graph(invars, trace.eqns, outs, in_tree, out_tree, fname)
    g.has_outer = trace.has_outer
    g.example_outputs = vals  # the outputs computed while tracing (flat)
    return g


def make_graph(fun: Callable, *args: Any, static_argnums: Sequence[int] = (), **kwargs: Any) -> Graph:
    """The traced program of ``fun`` at ``args``: a :class:`Graph`.

    Transformations applied to ``fun`` are traced into the same graph:

    >>> import wengert as wg
    >>> g = wg.make_graph(wg.grad(lambda x: x * x), 3.0)
    >>> [e.name for e in g.eqns]
    ['mul', 'mul', 'mul', 'add']
    >>> float(g(5.0))
    10.0

    ``str(graph)`` is the numbered listing; ``graph.eqns`` the equations as
    data; ``graph(*args)`` evaluates it on new arguments of the same
    structure.  Python control flow on traced values raises
    :class:`TracerBoolError` (use ``wg.cond`` / ``wg.while_loop``).

    Given the function alone, ``make_graph(fun)`` returns a function of the
    arguments, as JAX's ``make_jaxpr`` does:

    >>> len(wg.make_graph(lambda x: x * x + 1.0)(2.0).eqns)
    2
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if not args and not kwargs:
        return _GraphMaker(fun, static_argnums)
    return stage(fun, args, kwargs, static_argnums)


class _GraphMaker:
    """``make_graph(fun)``: call it with the arguments to get the Graph."""

    __slots__ = ("fun", "static_argnums")

    def __init__(self, fun, static_argnums):
        self.fun = fun
        self.static_argnums = static_argnums

    def __call__(self, *args: Any, **kwargs: Any) -> Graph:
        return stage(self.fun, args, kwargs, self.static_argnums)

    def __repr__(self):
        return f"make_graph({getattr(self.fun, '__name__', self.fun)!r})"


# A Primitive reference for type checkers / other modules.
_PrimitiveT = Primitive
