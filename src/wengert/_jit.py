"""``wg.jit``: trace once per input signature, optimise the Wengert list,
generate straight-line NumPy code, compile it and cache it.

Pipeline (one pass each, run on the first call with a new signature):

1. **stage** -- :func:`wengert._ir.stage` traces the function (and every
   transformation inside it: ``jit(grad(f))`` is one graph holding the forward
   and the backward sweep);
2. **optimise** -- :func:`optimize`: constant folding, algebraic
   simplification of what derivative rules produce (``x*1``, ``x-0.0``,
   ``neg(neg(x))``, reshapes/broadcasts/transposes to the same shape, NumPy
   broadcasting instead of explicit ``broadcast_to`` in elementwise ops),
   common-subexpression elimination and dead-code elimination.  Every
   rewrite keeps shape, dtype and value bit for bit: ``x+0.0`` is *not*
   ``x`` (``-0.0 + 0.0`` is ``+0.0``), ``0*x`` is not ``0`` (NaN for
   ``x = inf``).  Under ``wg.config.debug_ir`` the graph is checked
   (:func:`wengert._ir.check_graph`) after every pass;
3. **generate** -- :func:`codegen`: one line of Python per equation, calling
   NumPy directly (operators for arithmetic, ``np.sin(...)`` for ufuncs,
   ``np.add.reduce`` for sums) and the primitive's own implementation for the
   rest, with the parameters bound as constants;
4. **compile** with :func:`compile`/``exec`` (in pieces of :data:`CHUNK`
   equations; graphs longer than :data:`INTERPRET_ABOVE` run in
   :func:`interpret` instead) and cache it under the signature
   (pytree structure, shapes, dtypes, Python-scalar types, static arguments,
   ``wg.config.debug_nans``).

>>> import wengert as wg, wengert.numpy as wnp
>>> df = wg.jit(wg.grad(lambda x, y: x * x * y + y + 2, argnums=(0, 1)))
>>> tuple(float(g) for g in df(3.0, 4.0))
(24.0, 10.0)
>>> df.trace_count, df(5.0, 1.0) is not None, df.trace_count
(1, True, 1)
"""

from __future__ import annotations

import functools
import gc
import inspect
import itertools
import keyword
import math
import operator
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _prims as P
from ._config import config
from ._core import LinVar, Primitive, Tracer
from ._ir import (
    CTX,
    Eqn,
    Graph,
    Var,
    _fmt_const,
    _fmt_param,
    _short_dtype,
    aval_str,
    check_graph,
    graph_out_avals,
    short_src,
    stage,
)
from ._linecache import register_source
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["jit", "Jitted", "optimize", "codegen", "interpret"]


# ----------------------------------------------------------------------------
# Optimisation


def _is_const(a) -> bool:
    return type(a) is not Var


def _const_all(a, value) -> bool:
    """True if constant ``a`` equals ``value`` everywhere (and is numeric)."""
    t = type(a)
    if t is float or t is int:
        return a == value
    if t is Var or isinstance(a, Tracer):
        return False
    if isinstance(a, (bool, np.bool_)):
        return False
    if isinstance(a, (int, float, complex, np.number)):
        return a == value
    if isinstance(a, np.ndarray) and a.dtype.kind in "iufc" and a.size <= 1 << 20:
        return bool(np.all(a == value))
    return False


def _aval_of_const(c):
    if isinstance(c, np.ndarray):
        return c.shape, c.dtype
    if isinstance(c, np.generic):
        return (), c.dtype
    return None


def _same(out: Var, a) -> bool:
    """Can ``a`` stand for ``out`` (same shape and dtype)?"""
    if type(a) is Var:
        return a.shape == out.shape and a.dtype == out.dtype
    av = _aval_of_const(a)
    return av is not None and av[0] == out.shape and av[1] == out.dtype


_ELEMENTWISE_BINARY = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "arctan2", "hypot",
    "logaddexp", "logaddexp2", "mod", "fmod", "equal", "not_equal", "less",
    "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
    "logical_xor", "floor_divide",
}


def _real_or_int(v) -> bool:
    return np.dtype(v.dtype).kind in "fiu"


def _const_zero(a, negative: bool) -> bool:
    """``a`` is a constant that is zero everywhere, and every zero is ``-0.0``
    (``negative``) or ``+0.0``.  Integer zeros count as ``+0``."""
    t = type(a)
    if t is float:
        return a == 0.0 and (math.copysign(1.0, a) < 0) == negative
    if t is int:
        return a == 0 and not negative
    if not _const_all(a, 0):
        return False
    if isinstance(a, (int, np.integer)) or (isinstance(a, np.ndarray) and a.dtype.kind in "iu"):
        return not negative
    try:
        sb = np.signbit(np.real(a)) & (np.signbit(np.imag(a)) | (np.dtype(np.result_type(a)).kind != "c"))
        return bool(np.all(sb)) if negative else not bool(np.any(np.signbit(np.real(a))))
    except TypeError:
        return False


# Each rule gets (prim, inputs, params, output Var, producers) and returns None
# (no change), ("atom", a) (the output *is* a: same shape, dtype and value,
# bit for bit), or ("eqn", prim, inputs, params) (an equivalent equation).
# Identities that hold in real arithmetic but not in IEEE floats are not
# used: x + 0 is not x (-0.0 + 0.0 = +0.0), 0 * x is not 0 (inf, NaN), and
# complex x * 1 is not x (inf * 0 = NaN in the cross terms).

def _r_mul(p, ins, params, out, prod):
    x, y = ins
    # x * 1 == x exactly for real floats and integers (incl. -0.0, inf, NaN)
    if type(y) is not Var and _const_all(y, 1) and _same(out, x) and _real_or_int(out):
        return ("atom", x)
    if type(x) is not Var and _const_all(x, 1) and _same(out, y) and _real_or_int(out):
        return ("atom", y)
    return _r_bcast(p, ins, params, out, prod)


def _shape_of(a):
    if type(a) is Var:
        return a.shape
    if isinstance(a, np.ndarray):
        return a.shape
    return None


def _r_div(p, ins, params, out, prod):
    x, y = ins
    if type(y) is not Var and _const_all(y, 1) and _same(out, x) and _real_or_int(out):
        return ("atom", x)
    return _r_bcast(p, ins, params, out, prod)


def _r_add(p, ins, params, out, prod):
    # x + (-0.0) == x for every float x; x + (+0.0) is not (-0.0 + 0.0 = +0.0)
    x, y = ins
    if type(y) is not Var and _same(out, x) and _real_or_int(out) and _const_zero(y, out.dtype.kind == "f"):
        return ("atom", x)
    if type(x) is not Var and _same(out, y) and _real_or_int(out) and _const_zero(x, out.dtype.kind == "f"):
        return ("atom", y)
    return _r_bcast(p, ins, params, out, prod)


def _r_sub(p, ins, params, out, prod):
    # x - (+0.0) == x for every float x; x - (-0.0) is x + 0.0
    x, y = ins
    if type(y) is not Var and _same(out, x) and _real_or_int(out) and _const_zero(y, False):
        return ("atom", x)
    return _r_bcast(p, ins, params, out, prod)


def _r_neg(p, ins, params, out, prod):
    src = prod.get(ins[0]) if type(ins[0]) is Var else None
    if src is not None and src.prim is p and _same(out, src.inputs[0]):
        return ("atom", src.inputs[0])
    return None


def _r_reshape(p, ins, params, out, prod):
    x = ins[0]
    shape = tuple(params[0])
    if type(x) is not Var:
        return None
    if x.shape == shape and _same(out, x):
        return ("atom", x)
    src = prod.get(x)
    if src is not None and src.prim is p and type(src.inputs[0]) is Var:
        y = src.inputs[0]
        if y.shape == shape and y.dtype == out.dtype:
            return ("atom", y)
        return ("eqn", p, [y], (shape, y.shape))
    return None


def _r_broadcast(p, ins, params, out, prod):
    x = ins[0]
    if type(x) is Var and x.shape == tuple(params[0]) and _same(out, x):
        return ("atom", x)
    return None


def _r_transpose(p, ins, params, out, prod):
    x = ins[0]
    perm = tuple(params[0])
    if perm == tuple(range(len(perm))) and _same(out, x):
        return ("atom", x)
    src = prod.get(x) if type(x) is Var else None
    if src is not None and src.prim is p and len(src.params) == 1 and len(params) == 1:
        p1 = tuple(src.params[0])
        comp = tuple(p1[i] for i in perm)
        y = src.inputs[0]
        if comp == tuple(range(len(comp))):
            return ("atom", y) if _same(out, y) else None
        return ("eqn", p, [y], (comp,))
    return None


def _r_convert(p, ins, params, out, prod):
    x = ins[0]
    if type(x) is Var and x.dtype == np.dtype(params[0]) and _same(out, x):
        return ("atom", x)
    return None


def _r_identity(p, ins, params, out, prod):
    return ("atom", ins[0]) if _same(out, ins[0]) else None


def _r_select(p, ins, params, out, prod):
    # select(c, a, a) is a only where a already has the output's shape: the
    # condition may broadcast it (issue 10: dropping that broadcast changed the
    # shape of everything downstream)
    c, x, y = ins
    if x is y and _same(out, x):
        return ("atom", x)
    return None


def _bshape(a):
    return a.shape if type(a) is Var else np.shape(a)


def _r_bcast(p, ins, params, out, prod):
    """An operand broadcast explicitly by ``broadcast_to`` from a variable: let
    NumPy broadcast it instead (no ``broadcast_to`` in the generated code), if
    the operands still broadcast to the output's shape.  Broadcasting only
    repeats values, so every element is computed from the same two numbers."""
    if len(ins) != 2:
        return None
    new = list(ins)
    changed = False
    for i in (0, 1):
        a = new[i]
        src = prod.get(a) if type(a) is Var else None
        if src is None or src.prim is not P.broadcast_p or type(src.inputs[0]) is not Var:
            continue
        cand = list(new)
        cand[i] = src.inputs[0]
        try:
            shape = np.broadcast_shapes(_bshape(cand[0]), _bshape(cand[1]))
        except ValueError:
            continue
        if tuple(shape) == out.shape and src.inputs[0].dtype == a.dtype:
            new = cand
            changed = True
    return ("eqn", p, new, params) if changed else None


_RULES: dict = {}
# the primitives whose producing equation a rule inspects (``prod``)
_LOOKED_THROUGH: frozenset = frozenset()


def _rules() -> dict:
    if not _RULES:
        R = P.REGISTRY
        for n in _ELEMENTWISE_BINARY:
            if n in R:
                _RULES[R[n]] = _r_bcast
        _RULES.update({
            R["mul"]: _r_mul, R["div"]: _r_div, R["add"]: _r_add, R["sub"]: _r_sub,
            R["neg"]: _r_neg, R["reshape"]: _r_reshape, R["broadcast_to"]: _r_broadcast,
            R["transpose"]: _r_transpose, R["convert_element_type"]: _r_convert,
            R["stop_gradient"]: _r_identity, R["select"]: _r_select,
        })
        global _LOOKED_THROUGH
        _LOOKED_THROUGH = frozenset({R["neg"], R["reshape"], R["transpose"], R["broadcast_to"], P.broadcast_p})
    return _RULES


def _const_key(a):
    if isinstance(a, np.ndarray):
        return ("arr", id(a))
    if isinstance(a, (int, float, complex, np.generic)):
        return (type(a), repr(a))
    return (type(a), a)


def _param_key(p):
    """A hashable key for a parameter that tells apart what ``==`` does not:
    ``0.0``/``-0.0``, ``1``/``1.0``/``True``, arrays by identity."""
    t = type(p)
    if t is tuple or t is list:
        return (t, tuple(_param_key(q) for q in p))
    if t is slice:
        return (t, _param_key(p.start), _param_key(p.stop), _param_key(p.step))
    if isinstance(p, np.ndarray):
        return ("arr", id(p))
    if isinstance(p, (int, float, complex, np.generic)):
        return (t, repr(p))
    hash(p)
    return (t, p)


# add and mul are commutative bit for bit in IEEE arithmetic (the same
# rounding of the same exact result) for real and integer operands of one
# dtype; complex products are not relied on.
_COMMUTATIVE = frozenset({"add", "mul"})


def _simplify(graph: Graph, blame: dict | None = None) -> Graph:
    """Pass 'simplify', one sweep in order: constant folding, the algebraic
    rules above, and common-subexpression elimination."""
    sub: dict = {}
    cse: dict = {}
    prod: dict = {}  # producers of the values the rules look through
    new: list = []
    rules = _rules()
    registry = P.REGISTRY
    commutative = frozenset(registry[n] for n in _COMMUTATIVE if n in registry)

    def fix_atom(out0, a, rule, e):
        if blame is not None:
            ok = _same(out0, a) if type(a) is Var or isinstance(a, (np.ndarray, np.generic)) else True
            if not ok:
                from ._ir import IRError
                raise IRError(f"Wengert list broken in pass 'simplify': rewrite rule '{rule}' replaces "
                              f"the output {out0.aval} of row {e.row} ({e.name}) by a value of type "
                              f"{aval_str(*_aval_of_const(a)) if type(a) is not Var else a.aval}")
            blame[out0] = rule
        sub[out0] = a

    for e in graph.eqns:
        p = e.prim
        if isinstance(p, str):
            p = registry[p]
        ins = e.inputs
        has_var = False
        for a in ins:
            if type(a) is Var:
                if a in sub:
                    ins = [sub.get(b, b) if type(b) is Var else b for b in ins]
                    has_var = any(type(b) is Var for b in ins)
                    break
                has_var = True
        params = e.params
        outputs = e.outputs
        # constant folding
        if not has_var and ins and not any(isinstance(a, Tracer) for a in ins):
            try:
                val = p.impl(*ins, *params)
            except Exception:  # keep the equation: it raises at run time as it would eagerly
                pass
            else:
                vals = val if p.multiple_results else (val,)
                for v, c in zip(outputs, vals):
                    if type(c) in (bool, int, float, complex):
                        c = v.dtype.type(c)  # a strongly typed value, as traced
                    fix_atom(v, c, "fold", e)
                continue
        # algebraic simplification (repeat while it rewrites)
        rule = rules.get(p)
        rewritten = None
        if rule is not None and len(outputs) == 1 and not p.multiple_results:
            out0 = outputs[0]
            atom = False
            for _ in range(4):
                r = rule(p, ins, params, out0, prod)
                if r is None:
                    break
                rewritten = rule.__name__.lstrip("_").removeprefix("r_")
                if r[0] == "atom":
                    fix_atom(out0, r[1], rewritten, e)
                    atom = True
                    break
                _, p, ins, params = r
                rule = rules.get(p)
                if rule is None:
                    break
            if atom:
                continue
        # common subexpressions
        try:
            if len(ins) == 2:
                a, b = ins
                ta, tb = type(a) is Var, type(b) is Var
                if ta and tb and p in commutative and id(a) > id(b) and a.dtype == b.dtype \
                        and a.dtype.kind in "fiu":
                    kins = [b, a, p]  # one key for a + b and b + a
                else:
                    kins = [a if ta else _const_key(a), b if tb else _const_key(b), p]
            else:
                kins = [a if type(a) is Var else _const_key(a) for a in ins]
                kins.append(p)
            if params:
                kins.append(_param_key(params))
            key = tuple(kins)
            prev = cse.get(key)
        except TypeError:  # unhashable parameters or constants: never merged
            key = prev = None
        if prev is not None:
            for v, w in zip(outputs, prev.outputs):
                fix_atom(v, w, "cse", e)
            continue
        if p is e.prim and ins is e.inputs and params is e.params:
            ne = e  # unchanged: shared with the traced graph
        else:
            ne = Eqn(p, ins, outputs, params, e.src, e.note, e.row)
        if blame is not None and rewritten is not None:
            blame[ne] = rewritten
        if key is not None:
            cse[key] = ne
        if p in _LOOKED_THROUGH:
            for v in outputs:
                prod[v] = ne
        new.append(ne)
    outs = [sub.get(o, o) if type(o) is Var else o for o in graph.outputs]
    g = Graph(graph.inputs, new, outs, graph.in_tree, graph.out_tree, graph.name)
    # an output that became an input (x * 1 -> x) must still be a new array, as eagerly
    ins_set = set(graph.inputs)
    g.copy_outputs = {k for k, (o, n) in enumerate(zip(graph.outputs, outs))
                      if type(n) is Var and n is not o and n in ins_set}
    g.copy_outputs |= getattr(graph, "copy_outputs", set())
    return g


def _dce(graph: Graph, blame: dict | None = None) -> Graph:
    """Pass 'dce': drop the equations no output depends on."""
    live = {o for o in graph.outputs if type(o) is Var}
    kept = []
    for e in reversed(graph.eqns):
        outs = e.outputs
        if (outs[0] in live) if len(outs) == 1 else any(v in live for v in outs):
            kept.append(e)
            for a in e.inputs:
                if type(a) is Var:
                    live.add(a)
    kept.reverse()
    g = Graph(graph.inputs, kept, graph.outputs, graph.in_tree, graph.out_tree, graph.name)
    g.copy_outputs = getattr(graph, "copy_outputs", set())
    return g


#: The optimiser's passes, in order: ``(name, pass(graph, blame) -> graph)``.
#: Under ``wg.config.debug_ir`` the graph is checked after each one.
PASSES: list = [("simplify", _simplify), ("dce", _dce)]


def optimize(graph: Graph, check: bool | None = None) -> Graph:
    """Constant folding, algebraic simplification, CSE and DCE of ``graph``.

    Returns a new :class:`Graph` sharing the variables of ``graph``; rows keep
    their number in the original listing.  Every rewrite keeps each value's
    shape, dtype and bits (``-0.0``, ``inf`` and NaN included).  With
    ``check`` (default: ``wg.config.debug_ir``) the graph is verified by
    :func:`wengert._ir.check_graph` after tracing and after each pass.

    >>> import wengert as wg
    >>> g = wg.make_graph(wg.grad(lambda x: x * x), 3.0)
    >>> print(optimize(g))  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
    inputs  v1: f64[]
       4  v2 = add v1 v1  : f64[]  # reverse sweep ...
    outputs v2
    """
    if check is None:
        check = config.debug_ir
    blame = out_avals = None
    if check:
        blame = {}
        out_avals = graph_out_avals(graph)
        check_graph(graph, "trace", out_avals)
    for name, fn in PASSES:
        graph = fn(graph, blame)
        if check:
            check_graph(graph, name, out_avals, blame)
    return graph


# ----------------------------------------------------------------------------
# Code generation

_INFIX = {
    operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
    operator.pow: "**", operator.floordiv: "//", operator.eq: "==", operator.ne: "!=",
    operator.lt: "<", operator.le: "<=", operator.gt: ">", operator.ge: ">=",
    operator.matmul: "@",
}


def _literal(x) -> str | None:
    """Python source for ``x`` if it is a plain literal that round-trips."""
    t = type(x)
    if x is None or t is bool or t is int or t is str:
        return repr(x)
    if t is float:
        if math.isfinite(x):
            r = repr(x)
            return f"({r})" if x < 0 or r.startswith("-") else r
        return None
    if t is tuple:
        parts = [_literal(v) for v in x]
        if any(s is None for s in parts):
            return None
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if t is slice:
        parts = [_literal(v) for v in (x.start, x.stop, x.step)]
        if any(s is None for s in parts):
            return None
        return f"slice({', '.join(parts)})"
    return None


def _index_src(idx) -> str | None:
    """``a[1:, ::2]``-style text for a basic index tuple, or None."""
    parts = []
    for i in idx:
        if i is None:
            parts.append("None")
        elif i is Ellipsis:
            parts.append("...")
        elif type(i) is int:
            parts.append(repr(i))
        elif type(i) is slice and all(v is None or type(v) is int for v in (i.start, i.stop, i.step)):
            s = ("" if i.start is None else str(i.start)) + ":" + ("" if i.stop is None else str(i.stop))
            if i.step is not None:
                s += f":{i.step}"
            parts.append(s)
        else:
            return None
    if not parts:
        return "()"
    return ", ".join(parts) + ("," if len(parts) == 1 and parts[0] != "..." else "")


def _nan_any(x) -> bool:
    try:
        return bool(np.isnan(x).any())
    except TypeError:
        return False


class _Gen:
    def __init__(self, graph: Graph, name: str):
        self.g = graph
        self.name = name
        self.glb: dict = {"np": np, "__builtins__": __builtins__}
        self.n_const = 0
        self.names = {}

    def const(self, c, hint="c") -> str:
        lit = _literal(c)
        if lit is not None and type(c) is not str:
            return lit
        self.n_const += 1
        nm = f"_{hint}{self.n_const}"
        self.glb[nm] = c
        return nm

    def atom(self, a) -> str:
        if type(a) is Var:
            return self.names[a]
        return self.const(a)

    def expr(self, e: Eqn, args: list[str]) -> str:
        p = e.prim
        impl = p.impl
        params = e.params
        name = p.name
        core = P.REGISTRY.get(name) is p
        if not params:
            op = _INFIX.get(impl)
            if op is not None and len(args) == 2:
                return f"{args[0]} {op} {args[1]}"
            if impl is operator.neg and len(args) == 1:
                return f"-{args[0]}"
            if isinstance(impl, np.ufunc) and getattr(np, impl.__name__, None) is impl:
                return f"np.{impl.__name__}({', '.join(args)})"
            if impl is np.where:
                return f"np.where({', '.join(args)})"
        if core:
            if name == "reduce_sum":
                return f"np.add.reduce({args[0]}, axis={_literal(tuple(params[0]))})"
            if name == "reduce_max":
                return f"np.maximum.reduce({args[0]}, axis={_literal(tuple(params[0]))})"
            if name == "reduce_min":
                return f"np.minimum.reduce({args[0]}, axis={_literal(tuple(params[0]))})"
            if name == "reshape":
                return f"np.reshape({args[0]}, {_literal(tuple(params[0]))})"
            if name == "broadcast_to":
                return f"np.broadcast_to({args[0]}, {_literal(tuple(params[0]))})"
            if name == "transpose":
                return f"np.transpose({args[0]}, {_literal(tuple(params[0]))})"
            if name == "getitem":
                s = _index_src(params[0])
                if s is None:
                    s = self.const(params[0], "idx")
                return f"{args[0]}[{s}]"
        fn = self.const(impl, name.replace(".", "_") if name.isidentifier() else "impl")
        ps = [self.const(v, "p") for v in params]
        return f"{fn}({', '.join(args + ps)})"

    def tree_expr(self, tree, leaves: list[str]) -> str:
        it = iter(leaves)

        def go(t):
            k = t.kind
            if k == "leaf":
                return next(it)
            if k == "none":
                return "None"
            if k is tuple:
                kids = [go(c) for c in t.children]
                return "(" + ", ".join(kids) + ("," if len(kids) == 1 else "") + ")"
            if k is list:
                return "[" + ", ".join(go(c) for c in t.children) + "]"
            if k is dict and all(type(key) is str for key in t.aux):
                return "{" + ", ".join(f"{key!r}: {go(c)}" for key, c in zip(t.aux, t.children)) + "}"
            raise _NotLiteral
        try:
            return go(tree)
        except _NotLiteral:
            self.glb["_unflatten"] = tree_unflatten
            return f"_unflatten({self.const(tree, 'tree')}, [{', '.join(leaves)}])"


class _NotLiteral(Exception):
    pass


_FILE_IDS = itertools.count(1)


#: Graphs longer than this are compiled as several functions of this many
#: equations each (``compile`` of one function of 10^5 lines needs gigabytes
#: for its syntax tree); values crossing a boundary travel in a list.
CHUNK = 500


def codegen(graph: Graph, name: str = "f", in_types: Sequence[type] | None = None,
            debug_nans: bool = False, chunk: int | None = None,
            compile_code: bool = True) -> tuple[str, Callable | None]:
    """Python source for ``graph`` and the compiled function.

    The function takes the flat input leaves and returns the outputs in the
    graph's output structure.  ``in_types[i]`` is the Python type of leaf
    ``i`` at call time (Python scalars are converted to NumPy on entry).
    Graphs of more than ``chunk`` (default :data:`CHUNK`) equations become
    one function per ``chunk`` equations, called in turn by the main one.
    The source is in :mod:`linecache` (for tracebacks) while the function
    lives.  With ``compile_code=False`` only the source is made (the function
    is ``None``).
    """
    chunk = CHUNK if chunk is None else max(1, int(chunk))
    gen = _Gen(graph, name)
    names = graph.var_names()
    gen.names = names
    fname = "".join(c if c.isalnum() or c == "_" else "_" for c in name).strip("_") or "f"
    if not fname[0].isalpha() or keyword.iskeyword(fname):
        fname = "f_" + fname
    file_id = next(_FILE_IDS)
    gen.compile_code = compile_code
    eqns = graph.eqns
    out_vars = {o for o in graph.outputs if type(o) is Var}
    in_vars = set(graph.inputs)
    if debug_nans:
        gen.glb["_nan"] = _nan_any
        gen.glb["_nan_found"] = _nan_found
    # last use of each big intermediate, to drop it early (NumPy reuses the memory)
    last = {}
    for k, e in enumerate(eqns):
        for a in e.inputs:
            if type(a) is Var and len(a.shape) >= 1 and math.prod(a.shape) >= 4096 \
                    and a not in out_vars and a not in in_vars:
                last[a] = k
    header = [f"def {fname}({', '.join(names[v] for v in graph.inputs)}):\n"]
    for i, v in enumerate(graph.inputs):
        t = in_types[i] if in_types is not None else None
        if t in (float, int, bool, complex):
            conv = gen.const(v.dtype.type, "to_" + _short_dtype(v.dtype))
            header.append(f"    {names[v]} = {conv}({names[v]})\n")
    parts: list = []  # (filename, lines) of each compiled piece, in the order shown
    keep: list = []   # the compiled pieces' functions
    if len(eqns) <= chunk:
        lines = header
        for k, e in enumerate(eqns):
            _emit(gen, names, k, e, lines, last, debug_nans)
        lines.append(f"    return {_returns(gen, graph, names.__getitem__)}\n")
        filename = f"<wengert-jit {fname} #{file_id}>"
        fn = _compile_piece(gen, fname, lines, filename)
        parts.append((filename, lines))
    else:
        fn = _codegen_chunked(gen, graph, names, fname, header, chunk, last, debug_nans, file_id,
                              parts, keep)
    if fn is not None:
        for filename, lines in parts:
            register_source(filename, lines, fn)
    consts = [f"#   {k} = {_show_const(v)}" for k, v in gen.glb.items()
              if k.startswith("_") and k not in _HELPERS and not k.startswith(f"{fname}_part")]
    src = "".join(line for _, lines in parts for line in lines)
    if consts:
        src = "# constants:\n" + "\n".join(consts) + "\n" + src
    return src, fn


_HELPERS = ("__builtins__", "_nan", "_nan_found", "_unflatten", "_copy")


def _emit(gen, names, k, e, lines, last, debug_nans):
    """The line(s) of equation ``k``."""
    const = gen.const
    args = [names[a] if type(a) is Var else const(a) for a in e.inputs]
    rhs = gen.expr(e, args)
    outs = e.outputs
    if len(outs) == 1 and not e.multiple_results:
        lhs = names[outs[0]]
    else:
        lhs = ", ".join([names[v] for v in outs]) + ("," if len(outs) == 1 else "")
    comment = e.name
    if e.note:
        comment += f" [{e.note}]"
    if e.src:
        comment += " " + short_src(e.src)
    lines.append(f"    {lhs} = {rhs}  # {comment}\n")
    if debug_nans:
        info = gen.const((e.name, e.row, e.src, e.note), "eq")
        vin = [gen.atom(a) for a in e.inputs if type(a) is Var]
        tup = "(" + ", ".join(vin) + ("," if len(vin) == 1 else "") + ")"
        for v in e.outputs:
            if v.dtype.kind in "fc":
                lines.append(f"    if _nan({names[v]}): _nan_found({info}, {tup})\n")
    if last:
        dead = [names[a] for a in dict.fromkeys([a for a in e.inputs if type(a) is Var])
                if last.get(a) == k]
        if dead:
            lines.append(f"    del {', '.join(dead)}\n")


def _returns(gen, graph, ref) -> str:
    """The return expression; ``ref(var)`` is the source of a variable's value."""
    leaves = []
    copies = getattr(graph, "copy_outputs", ())
    for k, o in enumerate(graph.outputs):
        if type(o) is Var:
            if k in copies:  # an input standing for a computed output: a new array, as eagerly
                gen.glb["_copy"] = _copy_array
                leaves.append(f"_copy({ref(o)})")
            else:
                leaves.append(ref(o))
        elif isinstance(o, np.ndarray):
            leaves.append(f"{gen.const(o)}.copy()")
        elif isinstance(o, (bool, int, float, complex)):
            leaves.append(gen.const(np.asarray(o)[()]))
        else:
            leaves.append(gen.const(o))
    if graph.out_tree is None:
        return leaves[0] if len(leaves) == 1 else "(" + ", ".join(leaves) + ",)"
    return gen.tree_expr(graph.out_tree, leaves)


def _compile_piece(gen, fname, lines, filename):
    if not gen.compile_code:
        return None
    code = compile("".join(lines), filename, "exec")
    exec(code, gen.glb)
    return gen.glb[fname]


def _codegen_chunked(gen, graph, names, fname, header, chunk, last, debug_nans, file_id, parts, keep):
    """One function per ``chunk`` equations; a value used in a later piece
    than the one defining it lives in a slot of the list ``s`` between them
    (slots are reused once their value is dead, and cleared)."""
    eqns = graph.eqns
    nchunks = (len(eqns) + chunk - 1) // chunk
    final = nchunks  # the main function's return counts as a use in piece `final`
    defined = {v: -1 for v in graph.inputs}
    used_last: dict = {}
    for k, e in enumerate(eqns):
        c = k // chunk
        for a in e.inputs:
            if type(a) is Var:
                used_last[a] = c
        for v in e.outputs:
            defined[v] = c
    for o in graph.outputs:
        if type(o) is Var:
            used_last[o] = final
    slot: dict = {}
    free: list = []
    nslots = 0

    def alloc(v):
        nonlocal nslots
        if free:
            slot[v] = free.pop()
        else:
            slot[v] = nslots
            nslots += 1

    dies: dict = {}  # piece -> slots whose value is dead after it
    for v in graph.inputs:
        if used_last.get(v, -1) >= 0:
            alloc(v)
    entry_slots = [(slot[v], names[v]) for v in graph.inputs if v in slot]
    for c in range(nchunks):
        ks = range(c * chunk, min(len(eqns), (c + 1) * chunk))
        lines = [f"def {fname}_part{c + 1}(s):\n"]
        loads = {}
        for k in ks:
            for a in eqns[k].inputs:
                if type(a) is Var and defined[a] < c and a not in loads:
                    loads[a] = None
        for a in loads:
            lines.append(f"    {names[a]} = s[{slot[a]}]\n")
        for k in ks:
            _emit(gen, names, k, eqns[k], lines, last, debug_nans)
        # values dead after this piece free their slots (cleared unless reused below)
        freed = [slot.pop(a) for a in loads if used_last.get(a) == c]
        free.extend(freed)
        stores = []
        for k in ks:
            for v in eqns[k].outputs:
                if used_last.get(v, -1) > c:
                    alloc(v)
                    stores.append(v)
        reused = {slot[v] for v in stores}
        for i in freed:
            if i not in reused:
                lines.append(f"    s[{i}] = None\n")
        for v in stores:
            lines.append(f"    s[{slot[v]}] = {names[v]}\n")
        if len(lines) == 1:
            lines.append("    pass\n")
        filename = f"<wengert-jit {fname} #{file_id} part {c + 1}>"
        keep.append(_compile_piece(gen, f"{fname}_part{c + 1}", lines, filename))
        parts.append((filename, lines))
        dies[c] = freed
    body = list(header)
    init = ["None"] * nslots
    for i, nm in entry_slots:
        init[i] = nm
    body.append(f"    s = [{', '.join(init)}]\n")
    for c in range(nchunks):
        body.append(f"    {fname}_part{c + 1}(s)\n")
    body.append(f"    return {_returns(gen, graph, lambda v: f's[{slot[v]}]')}\n")
    filename = f"<wengert-jit {fname} #{file_id}>"
    fn = _compile_piece(gen, fname, body, filename)
    parts.insert(0, (filename, body))
    return fn


#: Graphs of more equations than this run in :func:`interpret` instead of
#: compiled Python: generating and compiling source costs ~50 us per
#: equation, several times an eager gradient's ~10 us, and for so long a
#: program the compiled code saves little over the loop (issue 10: jit of a
#: 10^5-operation chain in <= 3x eager grad's time and memory).
INTERPRET_ABOVE = 20_000


def interpret(graph: Graph, in_types: Sequence[type] | None = None) -> Callable:
    """A function running ``graph`` as a loop over its equations (each one
    the primitive's own implementation on values held in a list of
    registers), for graphs too long to be worth compiling.  Same arguments
    and results as the function :func:`codegen` makes; a register is reused
    (and its value dropped) after the last use of the value it holds.

    >>> import numpy as np, wengert as wg
    >>> g = optimize(wg.make_graph(lambda x: x * 2.0 + 1.0, np.ones(2)))
    >>> interpret(g)(np.array([1.0, 2.0]))
    array([3., 5.])
    """
    eqns = graph.eqns
    n = len(eqns)
    # last use of every variable (graph outputs: never dead), kept on the Var
    for v in graph.inputs:
        v._tmp = -1
    for e in eqns:
        for v in e.outputs:
            v._tmp = -1
    n_consts = 0
    for k, e in enumerate(eqns):
        for a in e.inputs:
            if type(a) is Var:
                a._tmp = k
            else:
                n_consts += 1
    for o in graph.outputs:
        if type(o) is Var:
            o._tmp = n
    # registers: the constants first (filled once), then the values
    free: list = []
    n_regs = n_consts
    consts: list = []

    def take():
        nonlocal n_regs
        if free:
            return free.pop()
        n_regs += 1
        return n_regs - 1

    last = {}
    reg = {}  # Var -> register, for the values alive now
    for v in graph.inputs:
        last[v] = v._tmp
        reg[v] = take()
    in_regs = [reg[v] for v in graph.inputs]
    for v in graph.inputs:
        if last[v] < 0:  # never used: its register is free at once
            free.append(reg.pop(v))
    impls, inss, paramss, outss = [], [], [], []
    for k, e in enumerate(eqns):
        p = e.prim
        if isinstance(p, str):
            p = P.REGISTRY[p]
        ins = []
        dies = False
        for a in e.inputs:
            if type(a) is Var:
                ins.append(reg[a])
                if a._tmp == k:
                    dies = True
            else:  # a constant: a register of its own
                ins.append(len(consts))
                consts.append(a)
        if dies:  # registers whose value dies here are free for this equation's results
            for a in e.inputs:
                if type(a) is Var and a._tmp == k and a in reg:
                    free.append(reg.pop(a))
        outs = e.outputs
        if len(outs) == 1 and not e.multiple_results:
            v = outs[0]
            r = free.pop() if free else take()
            if v._tmp >= 0:
                reg[v] = r
            else:
                free.append(r)  # a result nothing uses
            outss.append(r)
        else:
            rs = []
            for v in outs:
                r = take()
                if v._tmp >= 0:
                    reg[v] = r
                else:
                    free.append(r)
                rs.append(r)
            outss.append(tuple(rs))
        impls.append(p.impl)
        inss.append(tuple(ins))
        paramss.append(e.params)
    out_spec = []
    copies = getattr(graph, "copy_outputs", ())
    for k, o in enumerate(graph.outputs):
        if type(o) is Var:
            out_spec.append((0 if k not in copies else 1, reg[o]))
        elif isinstance(o, np.ndarray):
            out_spec.append((2, o))
        elif isinstance(o, (bool, int, float, complex)):
            out_spec.append((3, np.asarray(o)[()]))
        else:
            out_spec.append((3, o))
    for v in graph.inputs:
        v._tmp = None
    for e in eqns:
        for v in e.outputs:
            v._tmp = None
    convs = [None] * len(in_regs)
    for i, v in enumerate(graph.inputs):
        t = in_types[i] if in_types is not None else None
        if t in (float, int, bool, complex):
            convs[i] = v.dtype.type
    out_tree = graph.out_tree
    template = consts + [None] * (n_regs - n_consts)
    tuple_types = (tuple, list)

    def run(*leaves):
        env = list(template)
        for i, x in enumerate(leaves):
            c = convs[i]
            env[in_regs[i]] = x if c is None else c(x)
        for impl, ins, params, out in zip(impls, inss, paramss, outss):
            r = impl(*[env[i] for i in ins], *params)
            if type(out) is int:
                env[out] = r
            else:
                if not isinstance(r, tuple_types):
                    r = tuple(r)
                for i, o in zip(out, r):
                    env[i] = o
        res = []
        for kind, o in out_spec:
            if kind == 0:
                res.append(env[o])
            elif kind == 1:
                res.append(_copy_array(env[o]))
            elif kind == 2:
                res.append(o.copy())
            else:
                res.append(o)
        if out_tree is None:
            return res[0] if len(res) == 1 else tuple(res)
        return tree_unflatten(out_tree, res)

    run.__name__ = graph.name or "interpreted"
    return run


def _copy_array(v):
    return v.copy() if isinstance(v, np.ndarray) else v


def _show_const(v) -> str:
    if isinstance(v, (np.ndarray, np.generic)):
        return _fmt_const(v)
    if callable(v):
        mod = getattr(v, "__module__", None) or ""
        return f"{mod + '.' if mod else ''}{getattr(v, '__qualname__', getattr(v, '__name__', repr(v)))}"
    return _fmt_param(v)


def _nan_found(info, inputs):
    from ._config import NanError
    for x in inputs:
        if _nan_any(x):
            return  # propagated from an input: reported where it appeared
    from ._config import _line_text
    name, row, src, note = info
    where = f"\n  at {src}{_line_text(src)}" if src else ""
    what = f" [{note}]" if note else ""
    raise NanError(
        f"debug_nans: primitive `{name}`{what} produced NaN from inputs without NaN, at "
        f"row {row} of the Wengert list (the wg.make_graph listing), inside jit{where}")


# ----------------------------------------------------------------------------
# The jitted function

_SCALARS = (float, int, bool, complex, np.float64, np.float32, np.complex128,
            np.complex64, np.int64, np.int32, np.bool_, np.float16)
_SCALAR_SET = frozenset(_SCALARS)
_LIVE: weakref.WeakSet = weakref.WeakSet()


def _clear_fast_caches():
    """Called when wg.config changes: the next call takes the full lookup."""
    for j in list(_LIVE):
        j._fast.clear()


def _leaf_sig(x, fname, i):
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype)
    if t in _SCALAR_SET:
        return t
    if isinstance(x, np.ndarray):
        return (t, x.shape, x.dtype)
    if isinstance(x, np.generic):
        return t
    raise TypeError(
        f"jit({fname}): argument leaf {i} is a {t.__name__}, not an array or number. "
        "Pass arrays (or pytrees of arrays) as arguments, and mark other arguments "
        "static with wg.jit(f, static_argnums=(...)) (they must be hashable); make a "
        "class of containers a pytree node with wg.tree_util.register_dataclass(cls) "
        "(frozen dataclasses are nodes automatically) or register_pytree_node.")


class _Entry:
    """One signature's trace, and the code generated from it.

    Compilation is tiered: the first call with a signature only traces (its
    values are the ones tracing computed), and the graph is optimised and
    turned into Python source on the second call.  A function called once
    never pays for code generation, and the first call costs little more
    than an eager one."""

    __slots__ = ("_fn", "_source", "graph", "_opt", "shown", "leaf_types", "debug", "name")

    def __init__(self, graph, leaf_types, debug, name):
        self._fn = None
        self._source = None
        self._opt = None
        self.graph = graph
        self.leaf_types = leaf_types
        self.debug = debug
        self.name = name
        self.shown = False  # source re-generated with the user's lines

    @property
    def compiled(self) -> bool:
        return self._fn is not None

    @property
    def opt(self) -> Graph:
        if self._opt is None:
            self._opt = _quietly(optimize, self.graph)
        return self._opt

    @property
    def fn(self):
        if self._fn is None:
            self._build()
        return self._fn

    def _build(self):
        opt = self.opt
        if len(opt.eqns) > INTERPRET_ABOVE and not self.debug:
            self._fn = _quietly(interpret, opt, self.leaf_types)
            return  # the source is made when asked for (.source())
        src, self._fn = _quietly(codegen, opt, self.name, self.leaf_types, self.debug)
        if self._source is None:  # .source() may have shown one with the user's lines
            self._source = src

    @property
    def source(self) -> str:
        if self._source is None:
            self._build()
        if self._source is None:  # run by interpret(): the equivalent Python, not compiled
            self._source = _quietly(codegen, self.opt, self.name, self.leaf_types, self.debug, None,
                                    False)[0]
        return self._source

    @source.setter
    def source(self, text: str) -> None:
        self._source = text


def _quietly(f, *args):
    """Run ``f`` with the cyclic garbage collector paused: tracing and
    optimising make many small objects that all live until the end, which
    the collector would only traverse again and again."""
    gc_on = gc.isenabled()
    gc.disable()
    try:
        return f(*args)
    finally:
        if gc_on:
            gc.enable()


def _as_out(v, var):
    """An example output returned by the first call (as the compiled code would)."""
    if type(var) is Var:
        return v
    if isinstance(v, np.ndarray):
        return v.copy()  # a constant of the graph: never hand out the cached one
    if isinstance(v, (bool, int, float, complex)):
        return np.asarray(v)[()]
    return v


class Jitted:
    """A function compiled by :func:`jit` (one compiled version per signature)."""

    def __init__(self, fun: Callable, static_argnums: Sequence[int] = (),
                 static_argnames: str | Sequence[str] = (), backend: str = "auto"):
        if not callable(fun):
            raise TypeError(f"jit: expected a function, got {type(fun).__name__}")
        if isinstance(static_argnums, (int, np.integer)):
            static_argnums = (int(static_argnums),)
        try:
            static_argnums = tuple(int(i) for i in static_argnums)
        except TypeError:
            raise TypeError(f"jit: static_argnums must be an int or a tuple of ints, got "
                            f"{static_argnums!r}") from None
        self._static_given = static_argnums
        static_argnums, self._static_names = _static_names(fun, static_argnums, static_argnames)
        _check_backend(backend)
        self._backend = backend
        self._kw_jits: dict = {}
        functools.update_wrapper(self, fun, updated=())
        self._fun = fun
        self._static = static_argnums
        self._cache: dict = {}
        self._fast: dict = {}
        self.trace_count = 0
        self._name = getattr(fun, "__name__", type(fun).__name__)
        _LIVE.add(self)

    def __repr__(self):
        return f"<jit-compiled {self._name}>"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        if not kwargs:
            sig = []
            for a in args:
                t = type(a)
                if t is np.ndarray:
                    sig.append((a.shape, a.dtype))
                elif t in _SCALAR_SET:
                    sig.append(t)
                else:
                    break
            else:
                fn = self._fast.get(tuple(sig))
                if fn is not None:
                    return fn(*args)
        return self._call_slow(args, kwargs)

    # -- the full path ---------------------------------------------------------
    def _split(self, args):
        n = len(args)
        static = set()
        for i in self._static:
            if not -n <= i < n:
                if i >= n and i not in self._static_given:
                    continue  # from static_argnames: passed by keyword or left to its default
                raise ValueError(f"jit({self._name}): static_argnums={self._static} names "
                                 f"argument {i}, but {n} positional arguments were given")
            static.add(i % n)
        svals = []
        for i in sorted(static):
            v = args[i]
            try:
                hash(v)
            except TypeError:
                raise TypeError(
                    f"jit({self._name}): static argument {i} (static_argnums) must be "
                    f"hashable, got an unhashable {type(v).__name__}. Pass a tuple instead "
                    "of a list/array, or make it a regular (traced) argument.") from None
            svals.append((i, type(v), v))
        dyn = [a for i, a in enumerate(args) if i not in static]
        return static, tuple(svals), dyn

    def _lookup(self, args, kwargs):
        static, svals, dyn = self._split(args)
        leaves, tree = tree_flatten((dyn, kwargs))
        for x in leaves:
            if isinstance(x, Tracer):
                return None, leaves, static, None
        sig = tuple(_leaf_sig(x, self._name, i) for i, x in enumerate(leaves))
        key = (tree, sig, svals, config.debug_nans)
        entry = self._cache.get(key)
        first = None
        if entry is None:
            entry = self._compile(args, kwargs, static, leaves)
            if isinstance(entry, Graph):
                return entry, leaves, static, None
            self._cache[key] = entry
            g = entry.graph
            first, g.example_outputs = g.example_outputs, None
        if first is None and not kwargs and not static and all(
                type(a) is np.ndarray or type(a) in _SCALAR_SET for a in args):
            self._fast[sig] = entry.fn  # compiled on the second call (see _Entry)
        return entry, leaves, static, first

    def _compile(self, args, kwargs, static, leaves):
        self.trace_count += 1
        debug = config.debug_nans
        prev = CTX.origin
        try:
            # user source lines are recorded when debug_nans needs them for its
            # messages (walking the stack per operation slows tracing down);
            # .source() traces again with them for display
            graph = _quietly(stage, self._fun, args, kwargs, tuple(sorted(static)), self._name,
                             debug)
        finally:
            CTX.origin = prev
        if getattr(graph, "has_outer", False):
            return graph  # closes over an outer transformation's values: not cached
        return _Entry(graph, [type(x) for x in leaves], debug, self._name)

    def _static_kw(self, kwargs):
        """(the Jitted for ``kwargs``' static_argnames values, the other kwargs),
        or (None, kwargs) when no static argument is passed by keyword."""
        names = self._static_names
        if not names or not kwargs or names.isdisjoint(kwargs):
            return None, kwargs
        skw = {k: v for k, v in kwargs.items() if k in names}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        key = []
        for k in sorted(skw):
            v = skw[k]
            try:
                hash(v)
            except TypeError:
                raise TypeError(
                    f"jit({self._name}): static argument {k!r} (static_argnames) must be "
                    f"hashable, got an unhashable {type(v).__name__}. Pass a tuple instead "
                    "of a list/array, or make it a regular (traced) argument.") from None
            key.append((k, type(v), v))
        key = tuple(key)
        j = self._kw_jits.get(key)
        if j is None:
            try:
                pos = [p.name for p in inspect.signature(self._fun).parameters.values()
                       if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            except (TypeError, ValueError):
                pos = []
            # a static_argnums parameter passed by keyword is bound here, not by position
            nums = tuple(i for i in self._static_given if not (0 <= i < len(pos) and pos[i] in skw))
            j = Jitted(functools.partial(self._fun, **skw), nums, backend=self._backend)
            j._name = self._name
            self._kw_jits[key] = j
        return j, rest

    def _call_slow(self, args, kwargs):
        inner, kwargs = self._static_kw(kwargs)
        if inner is not None:  # static arguments by keyword: one Jitted per value
            before = inner.trace_count
            try:
                return inner(*args, **kwargs)
            finally:
                self.trace_count += inner.trace_count - before
        entry, leaves, static, first = self._lookup(args, kwargs)
        if entry is None:
            # called with values of outer transformations (vmap/jvp/grad of a jitted
            # function, or jit inside jit)
            rev = self.__dict__.get("_reverse_ok")
            if rev and not any(rev.values()):
                # reverse mode was found not worth compiling for this function
                for x in leaves:
                    if type(getattr(x, "tangent", None)) is LinVar:
                        return self._fun(*args, **kwargs)
            return self._call_traced(args, kwargs, leaves, static)
        if isinstance(entry, Graph):
            # the function closes over values of an outer transformation: run the
            # staged graph (binding each primitive) instead of caching it
            return tree_unflatten(entry.out_tree, entry.evaluate_flat(leaves))
        if first is not None and not config.debug_nans:
            # the first call returns what tracing computed (the same NumPy
            # operations, unoptimised) instead of running the code once more;
            # with debug_nans on, the checking code runs
            return tree_unflatten(entry.graph.out_tree,
                                  [_as_out(v, o) for v, o in zip(first, entry.graph.outputs)])
        return entry.fn(*leaves)

    # -- under other transformations ---------------------------------------------
    def _call_traced(self, args, kwargs, leaves, static):
        """``vmap(jit(f))`` runs ``jit(vmap(f))``; ``jvp(jit(f))`` runs ``jit(jvp(f))``
        (both compiled and cached); everything else (reverse mode, nesting,
        jit inside jit) runs ``f`` inline under the outer transformations."""
        from ._core import JVPTrace, JVPTracer
        from ._vmap import BatchTrace, BatchTracer
        traces = {x._trace for x in leaves if isinstance(x, Tracer)}
        if len(traces) == 1:
            (tr,) = traces
            if type(tr) is BatchTrace:
                vals, axes = [], []
                for x in leaves:
                    if type(x) is BatchTracer:
                        vals.append(x.val)
                        axes.append(0)
                    else:
                        vals.append(x)
                        axes.append(None)
                # values of further-out transformations go on to jv's own rules
                jv = self._derived("vmap", args, kwargs, static, tuple(axes))
                try:
                    out = jv(*vals)
                except TypeError:
                    # cannot be staged batched (e.g. indexing by values of the
                    # batch): vmap runs the function itself, or says why not
                    return self._fun(*args, **kwargs)
                if not _has_tracer_of(out, tr):
                    return _tree_map(lambda o: BatchTracer(tr, o), out)
            elif type(tr) is JVPTrace:
                ps, ts = [], []
                for x in leaves:
                    if type(x) is JVPTracer and x._trace is tr:
                        ps.append(x.primal)
                        ts.append(x.tangent)
                    else:
                        ps.append(x)
                        ts.append(None)
                concrete = not any(isinstance(p, Tracer) for p in ps)
                if any(type(t) is LinVar for t in ts):
                    if concrete and all(t is None or type(t) is LinVar for t in ts):
                        return self._call_linearized(tr, args, kwargs, static, ps, ts)
                elif not any(isinstance(t, Tracer) for t in ts):
                    fwd = self._call_forward(tr, args, kwargs, static, ps, ts)
                    if fwd is not _INLINE:
                        return fwd
        return self._fun(*args, **kwargs)

    def _call_forward(self, tr, args, kwargs, static, ps, ts):
        """Forward mode: a cached ``jit(jvp(f))``."""
        from ._core import JVPTracer
        ps2, ts2 = [], []
        for p, t in zip(ps, ts):
            p = np.asarray(p)[()] if type(p) in (float, complex) else p
            dt = np.dtype(p.dtype) if isinstance(p, Tracer) else np.result_type(p)
            if dt.kind not in "fc":
                return _INLINE
            ps2.append(p)
            ts2.append(np.zeros(tuple(p.shape), dt)[()] if t is None else t)
        jj = self._derived("jvp", args, kwargs, static, None)
        try:
            out, tout = jj(ps2, ts2)
        except TypeError:  # not stageable: run inline under jvp instead
            return _INLINE
        if _has_tracer_of((out, tout), tr):  # it closes over this trace's values
            return _INLINE
        return _tree_map(lambda o, t: JVPTracer(tr, o, t), out, tout)

    def _call_linearized(self, tr, args, kwargs, static, ps, ts):
        """Reverse mode: the compiled function gives the primal outputs, and one
        linear tape equation per output stands for its tangent; its transpose
        runs a cached ``jit`` of the function's VJP (recomputing the forward
        sweep inside the compiled code)."""
        from ._core import JVPTracer
        static_set = set(static)
        tree = tree_flatten(([a for i, a in enumerate(args) if i not in static_set], kwargs))[1]
        dyn, kw = tree_unflatten(tree, ps)
        it = iter(dyn)
        full = [args[i] if i in static_set else next(it) for i in range(len(args))]
        dkey = None
        if not kw and not static:
            dkey = tuple([(p.shape, p.dtype) if type(p) is np.ndarray else type(p) for p in full])
        decisions = self.__dict__.setdefault("_reverse_ok", {})
        ok = decisions.get(dkey) if dkey is not None else None
        if ok is None:
            entry = self._lookup(full, kw)[0]
            ok = isinstance(entry, _Entry) and _worth_compiling_reverse(entry)
            if dkey is not None:
                decisions[dkey] = ok
        if not ok:
            return self._fun(*args, **kwargs)
        out = self(*full, **kw)
        out_leaves, out_tree = tree_flatten(out)
        if any(isinstance(o, Tracer) for o in out_leaves):
            # it closes over values of this (or an outer) transformation
            return self._fun(*args, **kwargs)
        mask = tuple(t is not None for t in ts)
        lin = [t for t in ts if t is not None]
        bundle = _Linearized(self, full, kw, static, ps, mask)
        res = []
        for k, o in enumerate(out_leaves):
            if isinstance(o, (np.ndarray, np.generic)) and o.dtype.kind in "fc":
                res.append(JVPTracer(tr, o, _jit_linear_p.bind(*lin, k, bundle)))
            else:
                res.append(o)
        return tree_unflatten(out_tree, res)

    def _derived(self, kind, args, kwargs, static, extra):
        """A cached Jitted of vmap/jvp of this function's flat form."""
        static_vals = {i: args[i] for i in static}
        key = (kind, tree_flatten(([a for i, a in enumerate(args) if i not in static], kwargs))[1],
               tuple(sorted((i, type(v), v) for i, v in static_vals.items())), extra)
        d = self.__dict__.setdefault("_derived_cache", {})
        j = d.get(key)
        if j is not None:
            return j
        tree = key[1]
        nargs = len(args)
        fun = self._fun

        def flat(*ls):
            dyn, kw = tree_unflatten(tree, list(ls))
            it = iter(dyn)
            full = [static_vals[i] if i in static_vals else next(it) for i in range(nargs)]
            return fun(*full, **kw)

        flat.__name__ = self._name
        if kind == "vjp":
            from ._api import vjp
            mask = extra
            lin_idx = [i for i, m in enumerate(mask) if m]

            def fvjp(ps, ct, k):
                def g(*lv):
                    full = list(ps)
                    for i, v in zip(lin_idx, lv):
                        full[i] = v
                    return tree_flatten(flat(*full))[0][k]
                return vjp(g, *[ps[i] for i in lin_idx])[1](ct)
            fvjp.__name__ = f"vjp_{self._name}"
            j = Jitted(fvjp, static_argnums=(2,))
        elif kind == "vmap":
            from ._vmap import vmap
            j = Jitted(vmap(flat, in_axes=extra))
        else:
            from ._api import jvp

            def fjvp(ps, ts):
                return jvp(flat, tuple(ps), tuple(ts))
            fjvp.__name__ = f"jvp_{self._name}"
            j = Jitted(fjvp)
        d[key] = j
        return j

    # -- inspection ------------------------------------------------------------
    def _entry(self, args, kwargs):
        entry = self._lookup(args, kwargs)[0]
        if not isinstance(entry, _Entry):
            raise TypeError(f"jit({self._name}): cannot compile for values of an outer "
                            "transformation; call .source()/.graph() with arrays")
        return entry

    def source(self, *args, **kwargs) -> str:
        """The generated Python source for these arguments' signature.

        >>> import wengert as wg, wengert.numpy as wnp
        >>> print(wg.jit(lambda x: wnp.sin(x) * 2.0).source(1.0))  # doctest: +ELLIPSIS
        # constants:
        #   _to_f641 = numpy.float64
        def f_lambda(v1):
            v1 = _to_f641(v1)
            v2 = np.sin(v1)  # sin ...
            v3 = v2 * 2.0  # mul ...
            return v3
        <BLANKLINE>
        """
        inner, kwargs = self._static_kw(kwargs)
        if inner is not None:
            return inner.source(*args, **kwargs)
        entry = self._entry(args, kwargs)
        if not entry.shown and not any(e.src for e in entry.graph.eqns):
            static = set(i % len(args) for i in self._static) if args else set()
            g = stage(self._fun, args, kwargs, tuple(sorted(static)), self._name)
            leaves = tree_flatten(([a for i, a in enumerate(args) if i not in static], kwargs))[0]
            entry.source, _ = codegen(optimize(g), self._name, [type(x) for x in leaves],
                                      config.debug_nans)
            entry.shown = True
        return entry.source

    def graph(self, *args, optimized: bool = True, **kwargs) -> Graph:
        """The (optimised, by default) Wengert list compiled for these arguments."""
        inner, kwargs = self._static_kw(kwargs)
        if inner is not None:
            return inner.graph(*args, optimized=optimized, **kwargs)
        e = self._entry(args, kwargs)
        return e.opt if optimized else e.graph

    def _cache_size(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()
        self._fast.clear()
        self._kw_jits.clear()


_INLINE = object()

# Reverse mode through a jitted call recomputes its forward sweep inside the
# compiled VJP.  That pays off for long chains of cheap operations (the
# interpreter overhead of eager reverse mode dominates them) and not for short
# functions or BLAS-bound ones, which run inline under grad instead.
_REVERSE_MIN_EQNS = 64
_HEAVY = frozenset({"matmul", "einsum", "conv", "linalg_solve", "linalg_inv", "linalg_cholesky",
                    "linalg_eigh", "linalg_svd", "linalg_qr", "linalg_det", "linalg_slogdet",
                    "linalg_cofactor"})


def _worth_compiling_reverse(entry) -> bool:
    eqns = entry.opt.eqns
    if len(eqns) < _REVERSE_MIN_EQNS:
        return False
    return not any(e.name in _HEAVY for e in eqns)


def _has_tracer_of(tree, trace) -> bool:
    """Does ``tree`` hold a tracer of ``trace`` (or of a transformation inside it)?"""
    for x in tree_flatten(tree)[0]:
        if isinstance(x, Tracer) and x._trace.level >= trace.level:
            return True
    return False


class _Linearized:
    """What a reverse-mode tape equation of a jitted call needs: the function,
    the primal point, and which inputs carry tangents."""

    __slots__ = ("jitted", "args", "kwargs", "static", "ps", "mask")

    def __init__(self, jitted, args, kwargs, static, ps, mask):
        self.jitted = jitted
        self.args = tuple(args)  # the primal point, static arguments included
        self.kwargs = kwargs
        self.static = static
        self.ps = ps
        self.mask = mask

    def __repr__(self):
        return f"<linearized {self.jitted._name}>"

    def vjp(self, ct, k):
        j = self.jitted._derived("vjp", self.args, self.kwargs, self.static, self.mask)
        return j(self.ps, ct, k)

    def jvp(self, tangents, k):
        j = self.jitted._derived("jvp", self.args, self.kwargs, self.static, None)
        it = iter(tangents)
        ts = []
        for p, m in zip(self.ps, self.mask):
            t = next(it) if m else None
            if t is None or (type(t) is float and t == 0.0):
                t = np.zeros(np.shape(p), np.result_type(p))[()]
            ts.append(t)
        out, tout = j(list(self.ps), ts)
        return tree_flatten(tout)[0][k]


def _jit_linear_impl(*args):
    *tangents, k, bundle = args
    return bundle.jvp(tangents, k)


def _jit_linear_T(ct, *args):
    *_, k, bundle = args
    return tuple(bundle.vjp(ct, k))


_jit_linear_p = Primitive("jit_linear", _jit_linear_impl, None, nparams=2, linear=True,
                          transpose=_jit_linear_T,
                          doc="the tangent map of a jitted call in reverse mode")


def _tree_map(f, *trees):
    from .tree_util import tree_map
    return tree_map(f, *trees)


def _static_names(fun, static_argnums, static_argnames):
    """JAX's rule: ``static_argnames`` also makes the positional parameters
    of those names static, and ``static_argnums`` the keyword use of theirs."""
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    try:
        static_argnames = tuple(static_argnames)
    except TypeError:
        raise TypeError(f"jit: static_argnames must be a str or a tuple of str, got "
                        f"{static_argnames!r}") from None
    for n in static_argnames:
        if not isinstance(n, str):
            raise TypeError(f"jit: static_argnames must be a str or a tuple of str, got {static_argnames!r}")
    names = set(static_argnames)
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):  # a builtin or a callable without a signature
        return static_argnums, frozenset(names)
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    nums = list(static_argnums)
    for i, n in enumerate(positional):
        if n in names and i not in nums:
            nums.append(i)
    for i in static_argnums:
        if 0 <= i < len(positional) and params[i].kind is not params[i].POSITIONAL_ONLY:
            names.add(positional[i])
    return tuple(nums), frozenset(names)


_BACKENDS = ("auto", "numpy")


def _check_backend(backend):
    if backend in _BACKENDS:
        return
    if backend == "numba":
        raise NotImplementedError(
            "jit(backend='numba'): the fusing numba backend is not part of this version of "
            "wengert; jit generates NumPy code (backend='auto' or 'numpy').")
    raise ValueError(f"jit: unknown backend {backend!r}; expected one of {_BACKENDS}")


def jit(fun: Callable | None = None, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), backend: str = "auto") -> Any:
    """Compile ``fun``: trace once per input signature, optimise, generate NumPy code.

    The signature is the pytree structure of the arguments, each leaf's shape
    and dtype (Python scalars by type), and the values of the static
    arguments (which must be hashable): ``static_argnums`` by position,
    ``static_argnames`` by name (as in JAX, each also covers the argument
    passed the other way); the function is traced again for each new static
    value.  ``backend`` is ``"auto"`` or ``"numpy"`` (generated NumPy code).  Python control flow on traced values
    raises :class:`~wengert._ir.TracerBoolError`: use ``wg.cond`` /
    ``wg.while_loop``, ``wnp.where``, or make the argument static.  Results are
    NumPy arrays or scalars.  ``jit(f).source(*args)`` shows the generated code.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> f = wg.jit(lambda x, n: wnp.sum(x ** n), static_argnums=1)
    >>> float(f(wnp.arange(3.0), 2))
    5.0
    >>> g = wg.jit(lambda x, *, power=2: wnp.sum(x ** power), static_argnames="power")
    >>> float(g(wnp.arange(3.0), power=3))
    9.0
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 backend=backend)
    if isinstance(fun, Jitted) and not static_argnums and not static_argnames:
        _check_backend(backend)
        return fun
    return Jitted(fun, static_argnums, static_argnames, backend)
