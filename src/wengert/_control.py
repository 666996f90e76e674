"""Control flow as primitives: ``cond``, ``fori_loop``, ``while_loop``, ``scan``.

Each construct is one primitive whose parameters hold the user's functions
(flattened to lists of leaves), so ``jit`` stages it as a single operation
and its implementation runs the loop in Python at run time.

* Forward mode binds the same primitive on the JVP of the body (carry =
  primals + tangents): still one operation.
* Reverse mode (tangents are :class:`~wengert._core.LinVar`) runs the loop in
  Python on the JVP trace's own tracers: every iteration's linear operations
  land on the tape as they happen, which *is* the stack of per-iteration
  residuals; the backward sweep walks it in reverse.  This is how
  ``while_loop`` is reverse-differentiable.  ``scan(checkpoint="sqrt" |
  "binomial")`` instead records one linear equation whose transpose
  recomputes the steps from stored carries (see :class:`_ScanLin`).
* ``vmap`` binds the primitive on batched bodies; a batched predicate makes
  ``cond`` evaluate both branches and select, and ``while_loop`` run until
  every example is done, leaving finished examples unchanged.
* Traced values a function captured in closure cells become operands
  (:class:`Closure`).  One reached any other way (an attribute, a global, a
  default argument ...) is caught: by a scan of the function's objects before
  binding, or at run time, where an implementation with concrete operands
  returning a tracer (or a rule producing one at its own level) raises
  :class:`CaptureLeak`.  The public function then runs the construct inline,
  as the Python loop it stands for: never a different number.
* ``wg.Tensor`` operands run the construct inline too (each operation on the
  Tensors' graph).

>>> import wengert as wg, wengert.numpy as wnp
>>> float(wg.fori_loop(0, 3, lambda i, x: x * 2.0, 1.0))
8.0
>>> float(wg.grad(lambda x: wg.while_loop(lambda c: c < 10.0, lambda c: c * x, 1.0))(3.0))
27.0
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _prims as P
from ._core import (
    JVPTrace,
    JVPTracer,
    LinVar,
    Primitive,
    TapeTrace,
    Tracer,
    backward_pass,
    end_level,
    evaluate_tape,
    new_level,
)
from ._vmap import BatchedOuts, BatchTracer, register_batch_rule, run_batched
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["cond", "fori_loop", "while_loop", "scan"]


# ----------------------------------------------------------------------------
# Small helpers shared with _checkpoint and _custom


def _shape(x) -> tuple:
    if isinstance(x, Tracer):
        return tuple(x.shape)
    return np.shape(x)


def _dtype(x):
    dt = getattr(x, "dtype", None)
    return np.dtype(dt) if dt is not None else np.result_type(x)


def _inexact(x) -> bool:
    return _dtype(x).kind in "fc"


def _canon(x):
    """Leaves entering a construct: Python scalars become NumPy scalars."""
    if isinstance(x, (Tracer, np.ndarray, np.generic)):
        return x
    return np.asarray(x)[()] if np.ndim(x) == 0 else np.asarray(x)


def _zeros(x):
    return np.zeros(_shape(x), dtype=_dtype(x))


def _stack(xs):
    if any(isinstance(x, Tracer) for x in xs):
        from .numpy import stack
        return stack(xs)
    return np.stack([np.asarray(x) for x in xs])


class CaptureLeak(Exception):
    """A construct's function used a traced value that is not one of its
    operands (reached through an object attribute, a global, a default
    argument ...): the construct cannot be one operation, and the public
    function that bound it runs it inline instead (see :func:`run_or_inline`)."""

    def __init__(self, msg=None):
        super().__init__(msg or (
            "a function given to cond/while_loop/scan/fori_loop/checkpoint/custom_jvp/custom_vjp "
            "used a traced value that is not one of its operands (it reached it through an "
            "object attribute, a global, a default argument, a functools.partial ...). Pass "
            "that value through the carry or the operands instead."))


def check_no_tracers(outs):
    """An implementation's outputs: with concrete operands, a tracer among
    them came from a traced value the function captured."""
    for o in outs:
        if isinstance(o, Tracer):
            raise CaptureLeak
    return outs


def check_jvp_outputs(trace, outs):
    """Outputs of a construct's JVP rule at ``trace``: a primal or a forward
    tangent that is itself a tracer at ``trace``'s level or above was
    computed from a captured value that the rule did not see as an operand."""
    level = trace.level
    for o in outs:
        if type(o) is JVPTracer and o._trace is trace:
            v = o.primal
            if isinstance(v, Tracer) and v._trace.level >= level:
                raise CaptureLeak
            v = o.tangent
            if isinstance(v, Tracer) and type(v) is not LinVar and v._trace.level >= level:
                raise CaptureLeak
        elif isinstance(o, Tracer) and o._trace is not trace and type(o) is not LinVar \
                and o._trace.level >= level:
            raise CaptureLeak
    return outs


def checked_jvp(rule):
    """``rule`` (a construct's ``jvp_trace``) with its outputs checked."""
    def jvp_trace(trace, primals, tangents, params):
        return check_jvp_outputs(trace, rule(trace, primals, tangents, params))
    jvp_trace.__name__ = getattr(rule, "__name__", "jvp_trace")
    return jvp_trace


def run_or_inline(bind, inline):
    """``bind()`` the construct as one operation; if its function turned out
    to use a traced value it was not given as an operand, run ``inline()``:
    the same computation as plain Python on the values at hand, which every
    transformation in flight sees operation by operation (a loop is unrolled
    under ``jit``)."""
    try:
        return bind()
    except CaptureLeak:
        return inline()


_SKIP_TYPES = (str, bytes, int, float, complex, bool, type(None), np.ndarray, np.generic,
               type, types.ModuleType, range, slice, types.BuiltinFunctionType, np.ufunc)
_SKIP_EXACT = frozenset(_SKIP_TYPES)
_SCAN_BUDGET = 200


def _is_tracer_tree(obj, depth=0, seen=None, mod=None) -> bool:
    """Does ``obj`` (a function, its closure, defaults and globals, a bound
    method, a ``functools.partial``, a container, an object's attributes)
    hold a tracer?  A bounded walk (globals are followed in the first
    function's module only): what it misses, the checks at run time
    (:class:`CaptureLeak`) catch."""
    t = type(obj)
    if t in _SKIP_EXACT:
        return False
    if isinstance(obj, Tracer):
        return True
    if depth > 6 or isinstance(obj, _SKIP_TYPES):
        return False
    if seen is None:
        seen = set()
    if id(obj) in seen or len(seen) > _SCAN_BUDGET:
        return False
    seen.add(id(obj))
    d = depth + 1
    if t is types.FunctionType:
        for c in obj.__closure__ or ():
            try:
                v = c.cell_contents
            except ValueError:
                continue
            if _is_tracer_tree(v, d, seen, mod):
                return True
        if obj.__defaults__ and _is_tracer_tree(obj.__defaults__, d, seen, mod):
            return True
        if obj.__kwdefaults__ and _is_tracer_tree(obj.__kwdefaults__, d, seen, mod):
            return True
        g = obj.__globals__
        if mod is None and not g.get("__name__", "").startswith("wengert."):
            mod = g  # the user's module (not a wrapper made by wengert)
        if g is mod:
            for name in _code_names(obj.__code__):
                v = g.get(name)
                if v is not None and _is_tracer_tree(v, d, seen, mod):
                    return True
        return False
    if isinstance(obj, (tuple, list, set, frozenset)):
        return any(_is_tracer_tree(o, d, seen, mod) for o in obj)
    if isinstance(obj, dict):
        return any(_is_tracer_tree(o, d, seen, mod) for o in obj.values())
    if t is types.MethodType:
        return _is_tracer_tree(obj.__self__, d, seen, mod) or _is_tracer_tree(obj.__func__, d, seen, mod)
    if isinstance(obj, functools.partial):
        return (_is_tracer_tree(obj.func, d, seen, mod)
                or _is_tracer_tree(obj.args, d, seen, mod)
                or _is_tracer_tree(obj.keywords, d, seen, mod))
    if t.__module__.startswith("wengert."):  # the library's own objects (primitives, ...)
        return False
    # an object's attributes (instance dict and slots)
    try:
        dct = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        dct = None
    if isinstance(dct, dict) and _is_tracer_tree(dct, d, seen, mod):
        return True
    for cls in t.__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            if slot.startswith("__") and not slot.endswith("__"):
                slot = f"_{cls.__name__.lstrip('_')}{slot}"
            try:
                v = object.__getattribute__(obj, slot)
            except AttributeError:
                continue
            if _is_tracer_tree(v, d, seen, mod):
                return True
    return False


@functools.lru_cache(maxsize=4096)
def _code_names(code) -> tuple:
    """Global names a code object (and the functions defined in it) reads."""
    names = list(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            names.extend(_code_names(c))
    return tuple(dict.fromkeys(names))


def closes_over_tracers(*fns) -> bool:
    """True when a function captured a traced value (then it cannot be staged
    as one operation: it runs inline, under the transformations in flight)."""
    return any(_is_tracer_tree(f) for f in fns)


class Closure:
    """Closure conversion: the traced values a function captured (in its
    closure cells, or those of functions it captured) become explicit
    operands, so the construct can be one primitive.

    ``values`` are the captured tracers; ``wrap(fn, n)`` turns ``fn(list)``
    into ``fn2(list + consts)`` which puts the given constants into the cells
    while ``fn`` runs (and restores them after).  ``complete`` is False when
    some traced value is captured in a way this does not reach (then the
    construct runs inline instead).
    """

    def __init__(self, *fns):
        self.slots = []
        self.values = []
        seen = set()
        cells = set()
        for f in fns:
            self._scan(f, seen, cells, 0)
        self.complete = True
        if self.values:
            with self.substituted([_Opaque()] * len(self.values)):
                self.complete = not closes_over_tracers(*fns)
        else:
            self.complete = not closes_over_tracers(*fns)

    def _scan(self, f, seen, cells, depth):
        if depth > 4 or id(f) in seen or getattr(f, "__code__", None) is None:
            return
        seen.add(id(f))
        for cell in getattr(f, "__closure__", None) or ():
            try:
                v = cell.cell_contents
            except ValueError:
                continue
            if isinstance(v, (Tracer, tuple, list, dict)):
                leaves, tree = tree_flatten(v)
                mask = [isinstance(x, Tracer) for x in leaves]
                if any(mask) and id(cell) not in cells:
                    cells.add(id(cell))
                    self.slots.append((cell, tree, mask, leaves))
                    self.values.extend(x for x, m in zip(leaves, mask) if m)
            elif callable(v):
                self._scan(v, seen, cells, depth + 1)

    def substituted(self, values):
        return _Substituted(self.slots, values)

    def wrap(self, fn, n):
        """``fn(list[:n])`` run with the cells holding ``list[n:]``."""
        if not self.slots:
            return fn
        slots = self.slots

        def wrapped(args):
            with _Substituted(slots, args[n:]):
                return fn(args[:n])
        return wrapped


class _Opaque:
    """A placeholder (not a tracer) used to check that conversion is complete."""


class _Substituted:
    __slots__ = ("slots", "values", "saved")

    def __init__(self, slots, values):
        self.slots = slots
        self.values = values
        self.saved = None

    def __enter__(self):
        it = iter(self.values)
        saved = []
        for cell, tree, mask, leaves in self.slots:
            saved.append(cell.cell_contents)
            new = [next(it) if m else x for x, m in zip(leaves, mask)]
            cell.cell_contents = tree_unflatten(tree, new)
        self.saved = saved
        return self

    def __exit__(self, *exc):
        for (cell, *_), old in zip(self.slots, self.saved):
            cell.cell_contents = old
        return False


def _check_callable(f, what, caller):
    if not callable(f):
        raise TypeError(f"{caller}: {what} must be callable, got {type(f).__name__} "
                        f"({f!r:.60})")


def _avals(leaves):
    return [(_shape(x), _dtype(x)) for x in leaves]


def _fmt_aval(a):
    shape, dt = a
    return f"{dt.name}{list(shape)}"


def _check_same(caller, what, tree_a, tree_b, avals_a, avals_b, names=("expected", "got")):
    if tree_a != tree_b:
        raise TypeError(f"{caller}: {what}: structure {tree_b} does not match {tree_a} "
                        f"({names[0]} {tree_a}, {names[1]} {tree_b})")
    for k, (a, b) in enumerate(zip(avals_a, avals_b)):
        if a[0] != b[0] or a[1] != b[1]:
            raise TypeError(f"{caller}: {what}: leaf {k} is {_fmt_aval(b)} but {names[0]} "
                            f"{_fmt_aval(a)} (shapes and dtypes must match exactly; cast "
                            "with .astype or reshape in the function)")


# ----------------------------------------------------------------------------
# Linearizing a flat function at a point (an inner level), and running the
# resulting tape forwards or backwards as often as needed


class Lin:
    """The linear tape of one flat function at one point.

    ``forward(tangents)`` evaluates it (``None``: zero), ``backward(cts)``
    pulls cotangents back (``None`` for a zero), both reusable.
    """

    __slots__ = ("tape", "eqs", "ins", "outs")

    def __init__(self, tape, ins, outs):
        self.tape = tape
        # take the equations out of the trace: a LinVar -> trace -> tape ->
        # LinVar cycle would keep every coefficient alive until a GC pass
        self.eqs = tape.tape
        tape.tape = []
        self.ins = ins
        self.outs = outs

    def forward(self, tangents):
        ins = [v for v in self.ins if v is not None]
        vals = [t for v, t in zip(self.ins, tangents) if v is not None]
        self.tape.tape = self.eqs
        try:
            return evaluate_tape(self.tape, ins, vals, [o if type(o) is LinVar else None
                                                        for o in self.outs])
        finally:
            self.tape.tape = []

    def backward(self, cts):
        tr = self.tape
        for v in self.ins:
            if v is not None:
                v.ct = None
        seeds = [(o, c) for o, c in zip(self.outs, cts)
                 if type(o) is LinVar and o._trace is tr and c is not None]
        if seeds:
            tr.tape = self.eqs
            try:
                backward_pass(tr, seeds)
            finally:
                tr.tape = []
        out = []
        for v in self.ins:
            if v is None:
                out.append(None)
            else:
                out.append(v.ct)
                v.ct = None
        return out


def linearize_flat(fn, primals, diff):
    """``fn(list) -> list`` linearized at ``primals`` in the inputs where ``diff``.

    Returns ``(primal outputs, Lin)``.  Runs at a fresh level above every
    transformation in flight, so tracers of those are constants here and the
    recorded coefficients carry their derivatives (higher order works).
    """
    level = new_level()
    trace = JVPTrace(level)
    tape = TapeTrace(level + 0.5)
    try:
        ins = [LinVar(tape, None, (), ()) if d else None for d in diff]
        args = [JVPTracer(trace, x, v) if v is not None else x for x, v in zip(primals, ins)]
        vals, ts = trace.split_outputs(fn(args))
    finally:
        end_level()
        trace.kill()
    return vals, Lin(tape, ins, ts)


def jvp_flat_fn(fn, tmask, box):
    """The JVP of ``fn(list) -> list`` as one flat function.

    ``jf(primals + tangents)`` takes a tangent for each input where ``tmask``
    and returns ``outputs + tangents`` of the inexact outputs (zeros
    instantiated); ``box`` receives that output mask.
    """
    n = len(tmask)

    def jf(args):
        primals = args[:n]
        it = iter(args[n:])
        tangents = [next(it) if m else None for m in tmask]
        level = new_level()
        trace = JVPTrace(level)
        try:
            tr = [JVPTracer(trace, x, t) if t is not None else x for x, t in zip(primals, tangents)]
            vals, touts = trace.split_outputs(fn(tr))
        finally:
            end_level()
            trace.kill()
        omask = [_inexact(v) for v in vals]
        if not box:
            box.append(omask)
        return list(vals) + [_zeros(v) if t is None else t
                             for v, t, m in zip(vals, touts, omask) if m]

    return jf


# ----------------------------------------------------------------------------
# One linear tape equation standing for a whole sub-computation


class _TupleCT:
    """Cotangent of a tuple-valued linear equation (summed entrywise)."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items

    def __add__(self, other):
        if other is None:
            return self
        out = []
        for a, b in zip(self.items, other.items):
            out.append(b if a is None else a if b is None else a + b)
        return _TupleCT(out)

    __radd__ = __add__


class LinearFn:
    """What :data:`linear_call_p` runs: ``forward(tangents) -> list`` and
    ``transpose(cts) -> list`` (one cotangent per tangent input)."""

    __slots__ = ("name", "forward", "transpose", "n_out")

    def __init__(self, name, forward, transpose, n_out):
        self.name = name
        self.forward = forward
        self.transpose = transpose
        self.n_out = n_out

    def __repr__(self):
        return f"<linear {self.name}>"


def _linear_call_impl(*args):
    *ts, fn = args
    return tuple(fn.forward(list(ts)))


def _linear_call_T(ct, *args):
    *ts, fn = args
    if ct is None:
        return [None] * len(ts)
    cts = fn.transpose(list(ct.items))
    return [c if t is None else None for c, t in zip(cts, ts)]


def _linear_call_jvp(primals, tangents, ans, params):
    if all(t is None for t in tangents):
        return None
    return linear_call_p.bind(*tangents, *params)


linear_call_p = Primitive("linear_call", _linear_call_impl, None, nparams=1, linear=True,
                          jvp_full=_linear_call_jvp, transpose=_linear_call_T,
                          doc="a linear sub-computation as one tape equation")


def _proj_impl(tup, i, n):
    return tup[i]


def _proj_T(ct, tup, i, n):
    items = [None] * n
    items[i] = ct
    return (_TupleCT(items),)


proj_p = Primitive("linear_call_out", _proj_impl, 1, linear=True, transpose=_proj_T,
                   jvps=(lambda t, ans, tup, i, n: proj_p.bind(t, i, n),))


def _linear_call_batch(size, vals, batched, fn):
    from ._vmap import vmap
    axes = tuple(0 if b else None for b in batched)
    return tuple(vmap(lambda *ts: _linear_call_impl(*ts, fn), in_axes=axes)(*vals))


register_batch_rule(linear_call_p, _linear_call_batch)
register_batch_rule(proj_p, lambda size, vals, batched, i, n: vals[0][i])


def record_linear(trace, fn: LinearFn, tangents, primal_outs, out_mask):
    """Record ``fn`` as one equation on the tape of ``trace``'s tangents and
    return the outputs as tracers of ``trace`` (inexact outputs only)."""
    drv = linear_call_p.bind(*tangents, fn)
    outs = []
    k = 0
    for v, m in zip(primal_outs, out_mask):
        if m:
            outs.append(JVPTracer(trace, v, proj_p.bind(drv, k, fn.n_out)))
            k += 1
        else:
            outs.append(v)
    return tuple(outs)


def is_linearizing(tangents) -> bool:
    return any(type(t) is LinVar for t in tangents)


def wrap_jvp(trace, vals, tangents):
    return tuple(v if t is None else JVPTracer(trace, v, t) for v, t in zip(vals, tangents))


# ----------------------------------------------------------------------------
# Reverse mode under jit: the linearization is made at run time


def _staged_class():
    try:
        from ._ir import StagedTracer
    except ImportError:  # pragma: no cover - the IR is part of the package
        return None
    return StagedTracer


def any_staged(values) -> bool:
    """Are some of ``values`` being staged by ``jit`` / ``make_graph``?"""
    cls = _staged_class()
    if cls is None:
        return False
    for v in values:
        while isinstance(v, BatchTracer):
            v = v.val
        if isinstance(v, cls):
            return True
    return False


def _deep_staged(values) -> bool:
    """Is some value staged by jit underneath its forward/reverse/batch tracers?"""
    cls = _staged_class()
    for v in values:
        while isinstance(v, Tracer):
            if isinstance(v, cls):
                return True
            if isinstance(v, JVPTracer):
                v = v.primal
            elif isinstance(v, BatchTracer):
                v = v.val
            else:
                break
    return False


class _Handle:
    """A run-time linearization (the per-iteration residuals of a loop)."""

    __slots__ = ("lin", "ins", "outs")

    def __init__(self, lin, ins, outs):
        self.lin = lin
        self.ins = ins
        self.outs = outs

    def __repr__(self):
        return "<linearization>"


def _stage_lin_impl(*args):
    *primals, p, params, diff = args
    vals, lin = linearize_flat(lambda a: list(p.bind(*a, *params)), list(primals), list(diff))
    check_no_tracers(vals)
    h = np.empty((), dtype=object)
    h[()] = _Handle(lin, [(_shape(x), _dtype(x)) for x in primals],
                    [(_shape(v), _dtype(v)) for v in vals])
    return tuple(vals) + (h,)


def _vmapped(core, h, rest, vms):
    """``core(h, rest)``, under one ``vmap`` per entry of ``vms`` (the
    in_axes of the tangents/cotangents, innermost first): batches that came
    after the linearization was made (jacrev's batch of cotangents)."""
    if not vms:
        return core(h, rest)
    from ._vmap import vmap
    fn = lambda *r: core(h, list(r))  # noqa: E731
    for vm in vms:
        fn = vmap(fn, in_axes=vm)
    return tuple(fn(*rest))


def _lin_apply_core(h, ts, diff, omask):
    it = iter(ts)
    res = h.lin.forward([next(it) if d else None for d in diff])
    return tuple(np.zeros(a[0], a[1]) if r is None else r
                 for r, a, m in zip(res, h.outs, omask) if m)


def _lin_T_core(h, cts, diff, omask):
    it = iter(cts)
    got = h.lin.backward([next(it) if m else None for m in omask])
    return tuple(np.zeros(a[0], a[1]) if g is None else g
                 for g, a, d in zip(got, h.ins, diff) if d)


def _lin_apply_impl(*args):
    h, *ts, diff, omask, vms = args
    h = h[()] if isinstance(h, np.ndarray) else h
    return _vmapped(lambda h, r: _lin_apply_core(h, r, diff, omask), h, ts, vms)


def _lin_T_impl(*args):
    h, *cts, diff, omask, vms = args
    h = h[()] if isinstance(h, np.ndarray) else h
    return _vmapped(lambda h, r: _lin_T_core(h, r, diff, omask), h, cts, vms)


def _no_second_order(primals, tangents, ans, params):
    raise TypeError(
        "reverse mode of a loop or cond staged by jit is linearized at run time, and "
        "differentiating that again inside jit (jit of grad of grad) is not supported; "
        "take the higher derivative outside jit, or use forward mode (jacfwd) on top")


def _lin_linear_jvp(get_self, get_dual):
    """JVP of applying a run-time linearization (or its transpose): linear in
    the tangents/cotangents it is applied to, so their derivative is the same
    operation (one tape equation whose transpose is the dual operation); the
    handle itself has no derivative (it is made from values that are not
    being differentiated, see ``_first_order``)."""
    def jvp_full(primals, tangents, ans, params):
        if tangents[0] is not None:
            return _no_second_order(primals, tangents, ans, params)
        h, *rest = primals
        trest = tangents[1:]
        n = len(ans)
        if all(t is None for t in trest):
            return (None,) * n
        diff, omask, vms = params

        def forward(ts):
            ts = [_zeros(r) if t is None else t for t, r in zip(ts, rest)]
            return list(get_self().bind(h, *ts, diff, omask, vms))

        def transpose(cts):
            cts = [_zeros(a) if c is None else c for c, a in zip(cts, ans)]
            return list(get_dual().bind(h, *cts, diff, omask, vms))

        if not any(type(t) is LinVar for t in trest):  # forward mode: apply it
            return tuple(forward(list(trest)))
        fn = LinearFn(get_self().name, forward, transpose, n)
        drv = linear_call_p.bind(*trest, fn)
        return tuple(proj_p.bind(drv, k, n) for k in range(n))
    return jvp_full


stage_lin_p = Primitive("linearize", _stage_lin_impl, None, nparams=3, multiple_results=True,
                        jvp_full=_no_second_order,
                        doc="run a construct and keep its linearization (for jit of grad)")
lin_apply_p = Primitive("linearization_jvp", _lin_apply_impl, None, nparams=3,
                        multiple_results=True,
                        jvp_full=_lin_linear_jvp(lambda: lin_apply_p, lambda: lin_T_p))
lin_T_p = Primitive("linearization_vjp", _lin_T_impl, None, nparams=3, multiple_results=True,
                    jvp_full=_lin_linear_jvp(lambda: lin_T_p, lambda: lin_apply_p))


def _stage_lin_batch(size, vals, batched, p, params, diff):
    def run(a):
        return list(p.bind(*a, *params))
    vals = [v if b else _bcast_raw(_canon(v), size) for v, b in zip(vals, batched)]
    return stage_lin_p.bind(*vals, _BatchedConstruct(run, size), (), diff)


class _BatchedConstruct:
    """``bind`` of a construct on raw batched values (for the batch rule above)."""

    name = "batched"

    def __init__(self, run, size):
        self.run = run
        self.size = size

    def __repr__(self):
        return "batched"

    def bind(self, *a):
        return _batched_fn(self.run, self.size, [True] * len(a))(list(a))


def _lin_batch(get_p):
    def rule(size, vals, batched, diff, omask, vms):
        h, *rest = vals
        if not batched[0]:
            # a linearization made outside this vmap, applied to a batch
            # (jacrev's cotangents): one more vmap around it at run time
            axes = tuple(0 if b else None for b in batched[1:])
            return get_p().bind(h, *rest, diff, omask, tuple(vms) + (axes,))
        # the handle holds the batched linearization: apply it to batched values
        rest = [v if b else _bcast_raw(_canon(v), size) for v, b in zip(rest, batched[1:])]
        return get_p().bind(h, *rest, diff, omask, vms)
    return rule


register_batch_rule(stage_lin_p, _stage_lin_batch)
register_batch_rule(lin_apply_p, _lin_batch(lambda: lin_apply_p))
register_batch_rule(lin_T_p, _lin_batch(lambda: lin_T_p))


def _first_order(values) -> bool:
    """Are ``values`` staged or concrete, with no derivative being taken of
    them (no tracer of a forward/reverse trace, batched or not)?"""
    cls = _staged_class()
    for v in values:
        while isinstance(v, BatchTracer):
            v = v.val
        if isinstance(v, Tracer) and not isinstance(v, cls):
            return False
    return True


def staged_linearize(trace, p, primals, tangents, params):
    """Reverse mode of construct ``p`` whose primals are being staged: one
    operation runs it and keeps its linearization at run time (a handle),
    and the tape equation's forward and transpose are one operation each.

    When the primals are themselves being differentiated (``jit`` of a
    second derivative), the forward and transpose are instead operations
    that linearize the construct again (a ``cond`` of the branches' JVPs or
    VJPs; a checkpointed operation for a loop): those are differentiable
    like any other, to any order."""
    if not _first_order(primals):
        if p is cond_p:
            return _cond_staged_lin(trace, primals, tangents, params)
        if _reverse_traced(primals):
            raise TypeError(_REV_REV_MSG.format(p.name))
        return _staged_recompute(trace, p, primals, tangents, params)
    diff = tuple(t is not None and _inexact(x) for x, t in zip(primals, tangents))
    res = stage_lin_p.bind(*primals, p, params, diff)
    outs, h = list(res[:-1]), res[-1]
    omask = tuple(_inexact(o) for o in outs)
    ins = [x for x, d in zip(primals, diff) if d]
    outs_d = [o for o, m in zip(outs, omask) if m]

    def forward(ts):
        ts = [_zeros(x) if t is None else t for t, x in zip(ts, ins)]
        return list(lin_apply_p.bind(h, *ts, diff, omask, ()))

    def transpose(cts):
        cts = [_zeros(o) if c is None else c for c, o in zip(cts, outs_d)]
        return list(lin_T_p.bind(h, *cts, diff, omask, ()))

    fn = LinearFn(p.name, forward, transpose, len(outs_d))
    return record_linear(trace, fn, [t for t, d in zip(tangents, diff) if d], outs, omask)


_REV_REV_MSG = (
    "{}: a reverse-mode derivative of a reverse-mode derivative of this loop inside jit, "
    "with a loop condition that depends on the staged values, is not supported (the loop "
    "cannot be unrolled while tracing, and its staged linearization is first order). Take "
    "the outer derivative outside jit, or use forward mode for it: jit(jacfwd(jacrev(f))) "
    "or jit(jacrev(jacfwd(f))) work")


def _reverse_traced(values) -> bool:
    """Is some value (or what it wraps) being differentiated in reverse mode?"""
    for v in values:
        while isinstance(v, Tracer):
            if isinstance(v, JVPTracer):
                if type(v.tangent) is LinVar:
                    return True
                v = v.primal
            elif isinstance(v, BatchTracer):
                v = v.val
            else:
                break
    return False


def _cond_staged_lin(trace, primals, tangents, params):
    """Reverse mode of a ``cond`` whose predicate is staged: its JVP and its
    transpose are each a ``cond`` on the same predicate of the branches'
    JVPs and VJPs (the branch taken is linearized again in the backward
    pass).  Those are ordinary ``cond`` operations: differentiable again,
    in either mode, inside ``jit`` too."""
    pred, *ops = primals
    t_fn, f_fn, info = params
    diff = [t is not None and _inexact(x) for x, t in zip(ops, tangents[1:])]
    outs = list(cond_p.bind(pred, *ops, *params))
    omask = [_inexact(o) for o in outs]
    ins = [x for x, d in zip(ops, diff) if d]
    outs_d = [o for o, m in zip(outs, omask) if m]
    n = len(ops)

    def tangent_fn(branch):
        jf = jvp_flat_fn(branch, diff, [])
        return lambda args: jf(args)[len(outs):]

    def vjp_fn(branch):
        def v(args):
            _, lin = linearize_flat(branch, args[:n], diff)
            it = iter(args[n:])
            got = lin.backward([next(it) if m else None for m in omask])
            return [_zeros(x) if g is None else g for g, x, d in zip(got, args[:n], diff) if d]
        return v

    def forward(ts):
        ts = [_zeros(x) if t is None else t for t, x in zip(ts, ins)]
        return list(cond_p.bind(pred, *ops, *ts, tangent_fn(t_fn), tangent_fn(f_fn), info))

    def transpose(cts):
        cts = [_zeros(o) if c is None else c for c, o in zip(cts, outs_d)]
        return list(cond_p.bind(pred, *ops, *cts, vjp_fn(t_fn), vjp_fn(f_fn), info))

    fn = LinearFn("cond", forward, transpose, len(outs_d))
    return record_linear(trace, fn, [t for t, d in zip(tangents[1:], diff) if d], outs, omask)


def _staged_recompute(trace, p, primals, tangents, params):
    from ._checkpoint import remat_p
    diff = [t is not None and _inexact(x) for x, t in zip(primals, tangents)]
    outs = list(p.bind(*primals, *params))
    omask = [_inexact(o) for o in outs]
    ins = [x for x, d in zip(primals, diff) if d]
    outs_d = [o for o, m in zip(outs, omask) if m]
    n = len(primals)

    def run(a):
        return list(p.bind(*a, *params))

    box = []
    jf = jvp_flat_fn(run, diff, box)

    def jvp_fn(args):  # (primals, tangents of the differentiated ones) -> output tangents
        return jf(args)[len(outs):]

    def vjp_fn(args):  # (primals, output cotangents) -> cotangents of the differentiated ones
        _, lin = linearize_flat(run, args[:n], diff)
        it = iter(args[n:])
        got = lin.backward([next(it) if m else None for m in omask])
        return [_zeros(x) if g is None else g for g, x, d in zip(got, args[:n], diff) if d]

    def forward(ts):
        ts = [_zeros(x) if t is None else t for t, x in zip(ts, ins)]
        return list(remat_p.bind(*primals, *ts, jvp_fn, f"jvp({p.name})"))

    def transpose(cts):
        cts = [_zeros(o) if c is None else c for c, o in zip(cts, outs_d)]
        return list(remat_p.bind(*primals, *cts, vjp_fn, f"vjp({p.name})"))

    fn = LinearFn(p.name, forward, transpose, len(outs_d))
    return record_linear(trace, fn, [t for t, d in zip(tangents, diff) if d], outs, omask)


# ----------------------------------------------------------------------------
# Batched values: peel to a concrete predicate


class _Unknown(Exception):
    pass


def concrete_any(c) -> bool:
    """``any`` of a (possibly batched, possibly differentiated) predicate."""
    while True:
        if isinstance(c, JVPTracer):
            c = c.primal
        elif isinstance(c, BatchTracer):
            c = c.val
        elif isinstance(c, Tracer):
            raise _Unknown
        else:
            return bool(np.any(c))


def _is_batched(c) -> bool:
    while isinstance(c, JVPTracer):
        c = c.primal
    return isinstance(c, BatchTracer) or isinstance(c, Tracer)


def _check_pred(c, caller):
    shp = _shape(c)
    if shp != ():
        raise TypeError(f"{caller}: the predicate must be a boolean scalar, got shape {shp}")
    if _dtype(c).kind not in "biu":
        raise TypeError(f"{caller}: the predicate must be a boolean scalar, got {_dtype(c).name}")


def _where(c, a, b):
    from .numpy import where
    return where(c, a, b)


# ----------------------------------------------------------------------------
# Batching helpers


def _bcast_raw(v, size):
    shape = (size,) + _shape(v)
    if isinstance(v, Tracer):
        return P.broadcast_to(v, shape, _shape(v))
    return np.broadcast_to(v, shape)


class _FlagMismatch(Exception):
    """A batched function batched an output that a trial run (on zeros) had
    found unbatched (its batching depends on the values): the batching rule
    that made the guess binds again with every output batched."""


def _batched_fn(fn, size, in_flags, force_out=None):
    """``fn(list) -> list`` run on raw batched values (batch at axis 0 where
    ``in_flags``); outputs all batched (``force_out`` None) or batched where
    ``force_out`` says (an output batched elsewhere raises ``_FlagMismatch``)."""

    def fb(vals):
        outs, oflags = run_batched(fn, size, list(vals), list(in_flags))
        res = []
        for k, (o, b) in enumerate(zip(outs, oflags)):
            want = True if force_out is None or k >= len(force_out) else force_out[k]
            if want and not b:
                o = _bcast_raw(_canon(o), size)
            elif b and not want:
                raise _FlagMismatch
            res.append(o)
        return res

    return fb


def _concrete_below(vals) -> bool:
    """Are ``vals`` concrete under their forward/reverse/batch tracers (not
    staged by jit or recorded)?  Only then does a batching rule trust trial
    runs to leave some outputs unbatched: the bind runs the function at once,
    so a wrong guess is caught (``_FlagMismatch``) and not replayed later."""
    for v in vals:
        while isinstance(v, Tracer):
            if isinstance(v, JVPTracer):
                v = v.primal
            elif isinstance(v, BatchTracer):
                v = v.val
            else:
                return False
    return True


def _out_flags(fn, size, vals, flags, orig=None):
    """Which outputs of ``fn`` are batched, found by a trial run on zeros
    (``orig``: which ``vals`` already hold a batch axis; default ``flags``)."""
    orig = flags if orig is None else orig
    trial = [np.zeros(((size,) if f and not o else ()) + _shape(v), _dtype(v))
             for v, f, o in zip(vals, flags, orig)]
    with np.errstate(all="ignore"):
        _, oflags = run_batched(fn, size, trial, list(flags))
    return oflags


def _carry_fixpoint(step, size, c_vals, c_flags, x_vals, x_flags, n_c, with_outs=False):
    """Carry leaves batched after the loop: grow the set until it is stable
    (``with_outs``: also which other outputs of ``step`` are then batched)."""
    orig = list(c_flags) + list(x_flags)
    c_flags = list(c_flags)
    oflags = None
    for _ in range(n_c + 1):
        oflags = _out_flags(step, size, list(c_vals) + list(x_vals), c_flags + list(x_flags),
                            orig)
        new = [a or b for a, b in zip(c_flags, oflags[:n_c])]
        if new == c_flags:
            break
        c_flags = new
    else:
        oflags = None
    if with_outs:
        return c_flags, None if oflags is None else list(oflags[n_c:])
    return c_flags


# ----------------------------------------------------------------------------
# cond


def _cond_impl(*args):
    pred, *ops = args[:-3]
    t_fn, f_fn, info = args[-3:]
    return check_no_tracers(tuple(t_fn(list(ops)) if pred else f_fn(list(ops))))


def _py_cond(pred, t_fn, f_fn, ops):
    """cond on values of any transformation: a concrete predicate picks a
    branch; a traced one evaluates both and selects."""
    if not isinstance(pred, Tracer) or (isinstance(pred, JVPTracer) and not _is_batched(pred)):
        return tuple(t_fn(list(ops)) if bool(pred) else f_fn(list(ops)))
    a = t_fn(list(ops))
    b = f_fn(list(ops))
    return tuple(_where(pred, x, y) for x, y in zip(a, b))


def _cond_jvp(trace, primals, tangents, params):
    pred, *ops = primals
    t_fn, f_fn, info = params
    ts = tangents[1:]
    if is_linearizing(tangents):
        if any_staged(primals):
            return staged_linearize(trace, cond_p, primals, tangents, params)
        return _py_cond(pred, t_fn, f_fn, wrap_jvp(trace, ops, ts))
    tmask = [t is not None or _inexact(x) for x, t in zip(ops, ts)]
    tm = [m and _inexact(x) for m, x in zip(tmask, ops)]
    box_t, box_f = [], []
    jt = jvp_flat_fn(t_fn, tm, box_t)
    jf = jvp_flat_fn(f_fn, tm, box_f)
    targs = [(_zeros(x) if t is None else t) for x, t, m in zip(ops, ts, tm) if m]
    outs = cond_p.bind(pred, *ops, *targs, jt, jf, info)
    omask = (box_t or box_f)[0]
    n = len(omask)
    vals = outs[:n]
    it = iter(outs[n:])
    return tuple(JVPTracer(trace, v, next(it)) if m else v for v, m in zip(vals, omask))


def _cond_batch(size, vals, batched, t_fn, f_fn, info):
    pred, *ops = vals
    pb, ob = batched[0], batched[1:]
    if pb:
        a = _batched_fn(t_fn, size, ob)(ops)
        b = _batched_fn(f_fn, size, ob)(ops)
        out = []
        for x, y in zip(a, b):
            p = pred
            nd = len(_shape(x)) - 1
            if nd:
                p = _reshape_any(pred, (size,) + (1,) * nd)
            out.append(_where(p, x, y))
        return tuple(out)
    if _concrete_below(vals):
        # the bind runs the branch taken at once: its outputs that do not
        # depend on the batch stay unbatched (as the branch made them)
        box = []

        def recording(fn):
            def fb(xs):
                outs, flags = run_batched(fn, size, list(xs), list(ob))
                if not box:
                    box.append(flags)
                return outs
            return fb

        outs = cond_p.bind(pred, *ops, recording(t_fn), recording(f_fn), info)
        if not box:  # pragma: no cover - the branch taken runs during the bind
            raise RuntimeError("cond: the batched branch did not run during the bind")
        return BatchedOuts(outs, box[0])
    return cond_p.bind(pred, *ops, _batched_fn(t_fn, size, ob), _batched_fn(f_fn, size, ob), info)


def _reshape_any(x, shape):
    if isinstance(x, Tracer):
        return P.reshape(x, shape, _shape(x))
    return np.reshape(x, shape)


cond_p = Primitive("cond", _cond_impl, None, nparams=3, multiple_results=True,
                   doc="if pred: true_fun(*operands) else false_fun(*operands)")
cond_p.jvp_trace = checked_jvp(_cond_jvp)


def _tensor_data(v):
    """A ``wg.Tensor`` predicate's data (its value decides the branch)."""
    from ._tensor_core import Tensor
    while isinstance(v, Tensor):
        v = v._data
    return v


# wg.Tensor operands: the construct runs inline, each operation of the branch
# or body recorded on the Tensors' graph (see _tensor_core.construct)
cond_p.extra["tensor_inline"] = lambda args, params: _py_cond(
    _tensor_data(args[0]), params[0], params[1], args[1:])
register_batch_rule(cond_p, _cond_batch)


def _flat_fun(fun, in_tree, caller, what, out_box):
    """``fun(*tree)`` as a list -> list function; records the output tree."""

    def f(leaves):
        out = fun(*tree_unflatten(in_tree, list(leaves)))
        leaves_o, tree_o = tree_flatten(out)
        leaves_o = [_canon(x) for x in leaves_o]
        if not out_box:
            out_box.append((tree_o, _avals(leaves_o)))
        else:
            t0, a0 = out_box[0]
            _check_same(caller, f"{what} returned a different structure on a later call",
                        t0, tree_o, a0, _avals(leaves_o))
        return leaves_o

    return f


def _trial_outputs(fn, leaves):
    """Run ``fn`` on zeros shaped like ``leaves`` (for checking branches)."""
    with np.errstate(all="ignore"):
        return fn([_zeros(x) for x in leaves])


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as one operation.

    Under ``jit`` it is staged as a single ``cond``; under ``vmap`` with a
    batched ``pred`` both branches run and the results are selected per
    example (``wnp.where``).  Both branches must return the same structure,
    shapes and dtypes; this is checked at the call.  Differentiable in both
    modes, to any order.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> f = lambda x: wg.cond(x > 0, wnp.sin, wnp.cos, x)
    >>> float(wg.grad(f)(0.5)) == float(wnp.cos(0.5))
    True
    >>> wg.vmap(f)(wnp.array([-1.0, 1.0])).round(4)
    array([0.5403, 0.8415])
    """
    _check_callable(true_fun, "true_fun", "cond")
    _check_callable(false_fun, "false_fun", "cond")
    leaves, in_tree = tree_flatten(list(operands))
    leaves = [_canon(x) for x in leaves]
    pred = _canon(pred)
    _check_pred(pred, "cond")
    box_t, box_f = [], []
    t_fn = _flat_fun(true_fun, in_tree, "cond", "true_fun", box_t)
    f_fn = _flat_fun(false_fun, in_tree, "cond", "false_fun", box_f)
    clo = Closure(true_fun, false_fun)
    t_in, f_in, l_in = t_fn, f_fn, leaves

    def inline():
        return _py_cond(pred, t_in, f_in, l_in)

    if not clo.complete:
        outs = inline()
        box = box_t or box_f
        return tree_unflatten(box[0][0], list(outs))
    n = len(leaves)
    t_fn, f_fn = clo.wrap(t_fn, n), clo.wrap(f_fn, n)
    leaves = leaves + clo.values
    # both branches must agree: check on a trial run with zeros
    try:
        t_fn(_zeros_list(leaves))
        f_fn(_zeros_list(leaves))
    except TypeError:
        raise
    except Exception:  # a branch that cannot run on zeros: checked when it runs
        box_t.clear()
        box_f.clear()
    if box_t and box_f:
        (tt, ta), (ft, fa) = box_t[0], box_f[0]
        if tt != ft or ta != fa:
            _check_same("cond", "true_fun and false_fun must return the same structure, "
                        "shapes and dtypes", tt, ft, ta, fa,
                        names=("true_fun returned", "false_fun returned"))
    outs = run_or_inline(lambda: cond_p.bind(pred, *leaves, t_fn, f_fn, None), inline)
    return tree_unflatten((box_t or box_f)[0][0], list(outs))


def _zeros_list(leaves):
    return [_zeros(x) for x in leaves]


# ----------------------------------------------------------------------------
# while_loop


def _while_impl(*args):
    *carry, cond_fn, body_fn, info = args
    carry = list(carry)
    while True:
        c = cond_fn(carry)
        if isinstance(c, Tracer):  # concrete carry: a captured traced value
            raise CaptureLeak
        if not c:
            break
        carry = body_fn(carry)
    return check_no_tracers(tuple(carry))


_STAGED_WHILE_MSG = (
    "while_loop (or fori_loop with traced bounds): the loop condition depends on a value "
    "being staged by jit, and the loop has to run as Python here, which needs a concrete "
    "condition. This happens when the loop's functions use a traced value that is not part "
    "of init_val, reached in a "
    "way that closure conversion cannot turn into an operand (an object attribute, a "
    "global, a default argument, a functools.partial): pass that value in init_val "
    "(carry it through the loop unchanged) instead. It also happens for a reverse-mode "
    "derivative of a reverse-mode derivative of the loop inside jit: take the outer "
    "derivative outside jit, or use forward mode (jacfwd) for it")


class StagedConditionError(TypeError):
    """A ``while_loop`` run as Python (see ``run_or_inline``) met a condition
    staged by ``jit``: it cannot decide whether to go on."""


def _pred_value(c) -> bool:
    if isinstance(c, Tracer):
        try:
            return concrete_any(c) if _is_batched(c) else bool(c)
        except _Unknown:
            raise StagedConditionError(_STAGED_WHILE_MSG) from None
    return bool(c)


def _py_while(cond_fn, body_fn, carry):
    """while_loop on values of any transformation; examples of a batched
    predicate that are done keep their carry (masked update)."""
    carry = list(carry)
    while True:
        c = cond_fn(carry)
        if isinstance(c, Tracer) and _is_batched(c):
            try:
                go = concrete_any(c)
            except _Unknown:
                raise StagedConditionError(_STAGED_WHILE_MSG) from None
            if not go:
                return tuple(carry)
            new = body_fn(carry)
            carry = [_where(c, n, o) for n, o in zip(new, carry)]
        else:
            if not bool(c):
                return tuple(carry)
            carry = body_fn(carry)


def _while_jvp(trace, primals, tangents, params):
    cond_fn, body_fn, info = params
    if is_linearizing(tangents):
        if any_staged(primals):
            return staged_linearize(trace, while_p, primals, tangents, params)
        try:
            return _py_while(cond_fn, body_fn, wrap_jvp(trace, primals, tangents))
        except StagedConditionError:
            # values being differentiated again, under jit: the condition is
            # staged (what the steps tried so far put on the tape is unused)
            if not _deep_staged(primals):
                raise
            return staged_linearize(trace, while_p, primals, tangents, params)
    tm = [_inexact(x) for x in primals]
    box = []
    jb = jvp_flat_fn(body_fn, tm, box)
    n = len(primals)

    def jcond(c):
        return cond_fn(c[:n])

    targs = [(_zeros(x) if t is None else t) for x, t, m in zip(primals, tangents, tm) if m]
    outs = while_p.bind(*primals, *targs, jcond, jb, info)
    it = iter(outs[n:])
    return tuple(JVPTracer(trace, v, next(it)) if m else v for v, m in zip(outs[:n], tm))


def _while_batch(size, vals, batched, cond_fn1, body_fn, info):
    n = len(vals)

    def cond_fn(c):
        return [cond_fn1(c)]

    pflag = _out_flags(cond_fn, size, vals, batched)[0]
    if pflag:
        flags = [True] * n
    else:
        flags = _carry_fixpoint(body_fn, size, vals, batched, [], [], n)
        pflag = _out_flags(cond_fn, size, vals, flags, batched)[0]
        if pflag:
            flags = [True] * n
    try:
        return _while_batched(size, vals, batched, cond_fn, body_fn, info, flags, pflag)
    except _FlagMismatch:  # the trial runs guessed wrong: every carry batched
        return _while_batched(size, vals, batched, cond_fn, body_fn, info, [True] * n, True)


def _while_batched(size, vals, batched, cond_fn, body_fn, info, flags, pflag):
    carry = [v if b else _bcast_raw(_canon(v), size) if f else v
             for v, b, f in zip(vals, batched, flags)]
    cb = _batched_fn(cond_fn, size, flags, force_out=[pflag])
    bb = _batched_fn(body_fn, size, flags, force_out=flags)
    if pflag:
        def mcond(c):
            return concrete_any_raw(cb(c)[0])

        def mbody(c):
            p = cb(c)[0]
            new = bb(c)
            out = []
            for x, o in zip(new, c):
                nd = len(_shape(x)) - 1
                pp = _reshape_any(p, (size,) + (1,) * nd) if nd else p
                out.append(_where(pp, x, o))
            return out

        outs = while_p.bind(*carry, mcond, mbody, info)
    else:
        outs = while_p.bind(*carry, lambda c: cb(c)[0], bb, info)
    return BatchedOuts(outs, flags)


def concrete_any_raw(c) -> bool:
    if isinstance(c, Tracer):
        try:
            return concrete_any(c)
        except _Unknown:
            raise TypeError("while_loop: cannot decide a batched loop condition on a "
                            "value traced by jit") from None
    return bool(np.any(c))


while_p = Primitive("while_loop", _while_impl, None, nparams=3, multiple_results=True,
                    doc="while cond_fun(carry): carry = body_fun(carry)")
while_p.jvp_trace = checked_jvp(_while_jvp)
while_p.extra["tensor_inline"] = lambda args, params: _py_while(
    lambda c: _tensor_data(params[0](c)), params[1], args)
register_batch_rule(while_p, _while_batch)


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """``while cond_fun(val): val = body_fun(val)``; returns ``val``, as one operation.

    ``val`` may be a pytree; ``body_fun`` must return the same structure,
    shapes and dtypes.  Differentiable in forward mode *and* in reverse mode
    (unlike JAX): reverse mode keeps what each iteration needs (its linear
    operations on the tape) and sweeps them backwards.  Under ``vmap`` a
    batched condition runs the loop until every example is done; finished
    examples keep their value.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> f = lambda x: wg.while_loop(lambda v: v[1] < 3, lambda v: (v[0] * x, v[1] + 1), (1.0, 0))[0]
    >>> float(f(2.0)), float(wg.grad(f)(2.0))
    (8.0, 12.0)
    """
    _check_callable(cond_fun, "cond_fun", "while_loop")
    _check_callable(body_fun, "body_fun", "while_loop")
    leaves, tree = tree_flatten(init_val)
    leaves = [_canon(x) for x in leaves]
    avals = _avals(leaves)

    def cond_fn(c):
        r = cond_fun(tree_unflatten(tree, list(c)))
        r = _canon(r)
        _check_pred(r, "while_loop (cond_fun)")
        return r

    def body_fn(c):
        out = body_fun(tree_unflatten(tree, list(c)))
        ol, ot = tree_flatten(out)
        ol = [_canon(x) for x in ol]
        _check_same("while_loop", "body_fun must return a value of the same structure, "
                    "shapes and dtypes as init_val", tree, ot, avals, _avals(ol),
                    names=("init_val is", "body_fun returned"))
        return ol

    clo = Closure(cond_fun, body_fun)

    def inline():
        return _py_while(cond_fn, body_fn, leaves)

    if not clo.complete:
        outs = inline()
    else:
        n = len(leaves)
        if clo.slots:
            # captured values ride along in the carry, unchanged
            cond_c = clo.wrap(cond_fn, n)
            body_in = clo.wrap(body_fn, n)

            def body_c(c):
                return list(body_in(c)) + list(c[n:])
        else:
            cond_c, body_c = cond_fn, body_fn
        outs = run_or_inline(lambda: while_p.bind(*leaves, *clo.values, cond_c, body_c, None)[:n],
                             inline)
    return tree_unflatten(tree, list(outs))


# ----------------------------------------------------------------------------
# scan


def _take(x, i):
    return x[i]


def _scan_loop(body, carry, xs, length, reverse, on_step=None):
    carry = list(carry)
    ys = []
    order = range(length - 1, -1, -1) if reverse else range(length)
    for i in order:
        carry, y = body(carry, [_take(x, i) for x in xs])
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, ys


def _stack_ys(ys, body, carry, xs):
    if ys:
        return [_stack([y[j] for y in ys]) for j in range(len(ys[0]))]
    # zero steps: the shapes of y come from one trial call
    with np.errstate(all="ignore"):
        _, y0 = body([_zeros(c) for c in carry],
                     [np.zeros(_shape(x)[1:], _dtype(x)) for x in xs])
    return [np.zeros((0,) + _shape(y), _dtype(y)) for y in y0]


def _scan_impl(*args):
    *ops, body, n_c, length, reverse, ckpt, slots = args
    carry, xs = ops[:n_c], ops[n_c:]
    carry, ys = _scan_loop(body, carry, xs, length, reverse)
    return tuple(carry) + tuple(_stack_ys(ys, body, ops[:n_c], xs))


def _scan_impl_checked(*args):
    return check_no_tracers(_scan_impl(*args))


def _scan_jvp(trace, primals, tangents, params):
    body, n_c, length, reverse, ckpt, slots = params
    if is_linearizing(tangents):
        if any_staged(primals):
            return staged_linearize(trace, scan_p, primals, tangents, params)
        if ckpt is not None and length > 1:
            return _scan_ckpt_linearize(trace, primals, tangents, params)
        return _scan_impl(*wrap_jvp(trace, primals, tangents), *params)
    carry, xs = primals[:n_c], primals[n_c:]
    ct, xt = tangents[:n_c], tangents[n_c:]
    cm = [_inexact(x) for x in carry]
    xm = [t is not None and _inexact(x) for x, t in zip(xs, xt)]
    box = []
    n_cm = sum(cm)

    def flat(a):
        c, y = body(a[:n_c], a[n_c:])
        return list(c) + list(y)

    jf = jvp_flat_fn(flat, cm + xm, box)

    def jbody(c_all, x_all):
        args = list(c_all[:n_c]) + list(x_all[:len(xs)]) + list(c_all[n_c:]) + list(x_all[len(xs):])
        out = jf(args)
        n_out = len(out) - sum(box[0])
        prim, tans = out[:n_out], out[n_out:]
        return prim[:n_c] + tans[:n_cm], prim[n_c:] + tans[n_cm:]

    c_t = [(_zeros(x) if t is None else t) for x, t, m in zip(carry, ct, cm) if m]
    x_t = [t for t, m in zip(xt, xm) if m]
    outs = scan_p.bind(*carry, *c_t, *xs, *x_t, jbody, n_c + n_cm, length, reverse, None, None)
    omask = box[0]
    n_y = len(omask) - n_c
    cp, ctan = outs[:n_c], outs[n_c:n_c + n_cm]
    rest = outs[n_c + n_cm:]
    yp, ytan = rest[:n_y], rest[n_y:]
    res = []
    it = iter(ctan)
    for v, m in zip(cp, cm):
        res.append(JVPTracer(trace, v, next(it)) if m else v)
    it = iter(ytan)
    for v, m in zip(yp, omask[n_c:]):
        res.append(JVPTracer(trace, v, next(it)) if m else v)
    return tuple(res)


def _scan_batch(size, vals, batched, body, n_c, length, reverse, ckpt, slots):
    carry, xs = vals[:n_c], vals[n_c:]
    cflags, xflags = list(batched[:n_c]), list(batched[n_c:])
    # time-major xs: batched xs are (B, T, ...) -> (T, B, ...)
    xs_t = [_swap01(x) if b else x for x, b in zip(xs, xflags)]
    if length:
        x0 = [_take(x, 0) for x in xs_t]

        def step(a):
            c, y = body(a[:n_c], a[n_c:])
            return list(c) + list(y)

        cflags, yflags = _carry_fixpoint(step, size, carry, cflags, x0, xflags, n_c, with_outs=True)
        if not _concrete_below(vals):
            yflags = None
    else:
        yflags = None
    try:
        return _scan_batched(size, carry, xs_t, batched, body, n_c, length, reverse, ckpt, slots,
                             cflags, xflags, yflags)
    except _FlagMismatch:  # the trial runs guessed wrong: every carry and y batched
        return _scan_batched(size, carry, xs_t, batched, body, n_c, length, reverse, ckpt, slots,
                             [True] * n_c, xflags, None)


def _scan_batched(size, carry, xs_t, batched, body, n_c, length, reverse, ckpt, slots,
                  cflags, xflags, yflags):
    carry = [c if b0 else (_bcast_raw(_canon(c), size) if f else c)
             for c, b0, f in zip(carry, batched[:n_c], cflags)]

    def bbody(c, x):
        def step(a):
            cc, y = body(a[:n_c], a[n_c:])
            return list(cc) + list(y)
        # an unbatched carry stays unbatched (the fixpoint guarantees it is),
        # and so does a y that does not depend on the batch
        out = _batched_fn(step, size, cflags + xflags,
                          force_out=cflags + (yflags or []))(list(c) + list(x))
        return out[:n_c], out[n_c:]

    outs = scan_p.bind(*carry, *xs_t, bbody, n_c, length, reverse, ckpt, slots)
    ys = outs[n_c:]
    yf = [True] * len(ys) if yflags is None else yflags
    ys = [_swap01(y) if f else y for y, f in zip(ys, yf)]
    return BatchedOuts(tuple(outs[:n_c]) + tuple(ys), list(cflags) + list(yf))


def _swap01(x):
    nd = len(_shape(x))
    perm = (1, 0) + tuple(range(2, nd))
    if isinstance(x, Tracer):
        return P.transpose(x, perm)
    return np.transpose(x, perm)


scan_p = Primitive("scan", _scan_impl_checked, None, nparams=6, multiple_results=True,
                   doc="carry, y = f(carry, x) over the leading axis of xs")
scan_p.jvp_trace = checked_jvp(_scan_jvp)
scan_p.extra["tensor_inline"] = lambda args, params: _scan_impl(*args, *params)
register_batch_rule(scan_p, _scan_batch)


# ----------------------------------------------------------------------------
# scan with checkpointing: one linear equation whose transpose recomputes


def binomial_reps(steps: int, slots: int) -> int:
    """Least ``r`` with ``C(slots + r, slots) >= steps`` (Griewank's bound)."""
    r = 0
    while math.comb(slots + r, slots) < steps:
        r += 1
    return r


def _reach(s, r):
    """Steps reversible with ``s`` free slots (besides the stored start) and
    ``r`` recomputations per step."""
    if s < 0:
        return 1
    return math.comb(s + r + 1, s + 1)


class _ScanLin:
    """The linearized scan: stores only checkpoint carries; the transpose
    recomputes each segment (``"sqrt"``) or follows the binomial schedule."""

    def __init__(self, body, n_c, length, reverse, ckpt, slots, c0, xs, stored, cm, xm):
        self.body = body
        self.n_c = n_c
        self.length = length
        self.order = list(range(length - 1, -1, -1)) if reverse else list(range(length))
        self.ckpt = ckpt
        self.slots = slots
        self.c0 = c0
        self.xs = xs
        self.stored = stored
        self.cm = cm
        self.xm = xm

    def _x(self, k):
        i = self.order[k]
        return [_take(x, i) for x in self.xs]

    def advance(self, carry, k):
        c, _ = self.body(list(carry), self._x(k))
        return c

    def lin_step(self, carry, k):
        n_c = self.n_c

        def flat(a):
            c, y = self.body(a[:n_c], a[n_c:])
            return list(c) + list(y)

        vals, lin = linearize_flat(flat, list(carry) + self._x(k), list(self.cm) + list(self.xm))
        return vals[:n_c], lin

    # forward: the JVP of the whole scan, recomputed step by step
    def forward(self, ts):
        it = iter(ts)
        tc = [next(it) if m else None for m in self.cm]
        tx = [next(it) if m else None for m in self.xm]
        carry = list(self.c0)
        cols = [[None] * self.length for _ in self.ym]
        for k in range(self.length):
            i = self.order[k]
            new, lin = self.lin_step(carry, k)
            res = lin.forward(tc + [None if t is None else _take(t, i) for t in tx])
            tc = res[:self.n_c]
            for j, r in enumerate(res[self.n_c:]):
                cols[j][i] = r
            carry = new
        out = [(_zeros(c) if t is None else t) for t, c, m in zip(tc, self.c0, self.cm) if m]
        for j, (m, av) in enumerate(zip(self.ym, self.y_avals)):
            if m:
                out.append(_stack([np.zeros(av[0], av[1]) if c is None else c for c in cols[j]]))
        return out

    def transpose(self, cts):
        n_cm = sum(self.cm)
        it = iter(cts[:n_cm])
        ct_c = [next(it) if m else None for m in self.cm]
        ct_y = list(cts[n_cm:])
        ct_x = [None] * self.length

        def reverse_step(carry, k):
            _, lin = self.lin_step(carry, k)
            i = self.order[k]
            ys = [None if c is None else _take(c, i) for c in ct_y]
            got = lin.backward(ct_c + ys)
            ct_c[:] = got[:self.n_c]
            ct_x[k] = got[self.n_c:]

        if self.ckpt == "sqrt":
            seg = self.seg
            for s in range(((self.length - 1) // seg) * seg, -1, -seg):
                carry = self.stored[s]
                lins = []
                for k in range(s, min(s + seg, self.length)):
                    new, lin = self.lin_step(carry, k)
                    lins.append((k, lin))
                    carry = new
                for k, lin in reversed(lins):
                    i = self.order[k]
                    ys = [None if c is None else _take(c, i) for c in ct_y]
                    got = lin.backward(ct_c + ys)
                    ct_c[:] = got[:self.n_c]
                    ct_x[k] = got[self.n_c:]
        else:
            r = binomial_reps(self.length, self.slots)
            self._revolve(0, self.length, self.c0, self.slots - 1, r, reverse_step)
        out = [c for c, m in zip(ct_c, self.cm) if m]
        for j, (x, m) in enumerate(zip(self.xs, self.xm)):
            if not m:
                continue
            col = [None] * self.length
            for k in range(self.length):
                col[self.order[k]] = ct_x[k][j]
            if all(c is None for c in col):
                out.append(None)
                continue
            z = np.zeros(_shape(x)[1:], _dtype(x))
            out.append(_stack([z if c is None else c for c in col]))
        return out

    def _revolve(self, i, j, carry, s, r, reverse_step):
        n = j - i
        if n <= 0:
            return
        if n == 1:
            reverse_step(carry, i)
            return
        if s <= 0:
            for k in range(j - 1, i - 1, -1):
                c = carry
                for m in range(i, k):
                    c = self.advance(c, m)
                reverse_step(c, k)
            return
        left = max(1, n - _reach(s - 1, r))
        left = min(left, n - 1)
        c = carry
        for m in range(i, i + left):
            c = self.advance(c, m)
        self._revolve(i + left, j, c, s - 1, r, reverse_step)
        self._revolve(i, i + left, carry, s, r - 1, reverse_step)


def _scan_ckpt_linearize(trace, primals, tangents, params):
    body, n_c, length, reverse, ckpt, slots = params
    carry0, xs = list(primals[:n_c]), list(primals[n_c:])
    ct, xt = tangents[:n_c], tangents[n_c:]
    cm = [_inexact(x) for x in carry0]
    xm = [t is not None and _inexact(x) for x, t in zip(xs, xt)]
    lin = _ScanLin(body, n_c, length, reverse, ckpt, slots, carry0, xs, {}, cm, xm)
    seg = max(1, math.isqrt(length - 1) + 1) if length > 1 else 1
    lin.seg = seg
    carry = carry0
    ys = []
    for k in range(length):
        if ckpt == "sqrt" and k % seg == 0:
            lin.stored[k] = carry
        carry, y = body(list(carry), lin._x(k))
        ys.append(y)
    if reverse:
        ys.reverse()
    ys = _stack_ys(ys, body, carry0, xs)
    ym = [_inexact(y) for y in ys]
    lin.y_avals = [(_shape(y)[1:], _dtype(y)) for y in ys]
    lin.ym = ym
    n_out = sum(cm) + sum(ym)

    def fwd(ts):
        return lin.forward(ts)

    def tr(cts):
        it = iter(cts[sum(cm):])
        full = list(cts[:sum(cm)])
        # cotangents of the y outputs, one per y leaf (None for int leaves)
        ycts = [next(it) if m else None for m in ym]
        return lin.transpose(full + ycts)

    fn = LinearFn("scan", fwd, tr, n_out)
    targs = [(_zeros(x) if t is None else t) for x, t, m in zip(carry0, ct, cm) if m]
    targs += [t for t, m in zip(xt, xm) if m]
    return record_linear(trace, fn, targs, list(carry) + list(ys), cm + ym)


# ----------------------------------------------------------------------------
# The public scan and fori_loop


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, checkpoint: str | None = None,
         checkpoint_slots: int | None = None) -> tuple[Any, Any]:
    """``carry, y = f(carry, x)`` for each ``x`` along the leading axis of ``xs``;
    returns ``(final carry, stacked ys)``, as one operation.

    ``xs`` may be a pytree (or ``None`` with ``length``); ``reverse=True``
    scans from the end.  Reverse mode stores every step by default;
    ``checkpoint="sqrt"`` stores every ⌈√T⌉-th carry and recomputes each
    segment once in the backward pass; ``checkpoint="binomial"`` follows
    Griewank's revolve schedule with ``checkpoint_slots`` stored carries,
    each step recomputed at most ``r`` times, ``r`` the least integer with
    ``C(slots + r, slots) >= T``.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> c, ys = wg.scan(lambda c, x: (c + x, c * x), 0.0, wnp.array([1.0, 2.0, 3.0]))
    >>> float(c), ys
    (6.0, array([0., 2., 9.]))
    >>> g = wg.grad(lambda a: wg.scan(lambda c, x: (c * a + x, None), 1.0, wnp.ones(3),
    ...                               checkpoint="sqrt")[0])
    >>> float(g(2.0))  # d/da (a^3 + a^2 + a + 1)
    17.0
    """
    _check_callable(f, "f", "scan")
    if checkpoint not in (None, "sqrt", "binomial"):
        raise ValueError(f"scan: checkpoint must be None, 'sqrt' or 'binomial', got {checkpoint!r}")
    if checkpoint == "binomial":
        if checkpoint_slots is None or int(checkpoint_slots) < 1:
            raise ValueError("scan(checkpoint='binomial') needs checkpoint_slots=s with s >= 1 "
                             f"(the number of stored carries), got {checkpoint_slots!r}")
        checkpoint_slots = int(checkpoint_slots)
    elif checkpoint_slots is not None:
        raise ValueError("scan: checkpoint_slots is only used with checkpoint='binomial'")
    c_leaves, c_tree = tree_flatten(init)
    c_leaves = [_canon(x) for x in c_leaves]
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [_canon(x) for x in x_leaves]
    lengths = {(_shape(x)[0] if _shape(x) else None) for x in x_leaves}
    if None in lengths:
        raise ValueError("scan: every leaf of xs needs a leading axis to scan over; got a scalar")
    if length is not None:
        length = int(length)
        if lengths and lengths != {length}:
            raise ValueError(f"scan: length={length} but xs have leading sizes {sorted(lengths)}")
    elif not lengths:
        raise ValueError("scan: xs is None (or empty); give length=")
    elif len(lengths) > 1:
        raise ValueError(f"scan: the leaves of xs have different leading sizes {sorted(lengths)}")
    else:
        length = lengths.pop()
    c_avals = _avals(c_leaves)
    y_box = []

    def body(c, x):
        out = f(tree_unflatten(c_tree, list(c)), tree_unflatten(x_tree, list(x)))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"scan: f must return a pair (carry, y), got {type(out).__name__}")
        nc, y = out
        ncl, nct = tree_flatten(nc)
        ncl = [_canon(v) for v in ncl]
        _check_same("scan", "f must return a carry of the same structure, shapes and dtypes "
                    "as init", c_tree, nct, c_avals, _avals(ncl),
                    names=("init is", "f returned"))
        yl, yt = tree_flatten(y)
        yl = [_canon(v) for v in yl]
        if not y_box:
            y_box.append(yt)
        elif y_box[0] != yt:
            raise TypeError(f"scan: f returned ys of structure {yt} after {y_box[0]}")
        return ncl, yl

    n_c = len(c_leaves)
    clo = Closure(f)
    params0 = (body, n_c, length, bool(reverse), checkpoint, checkpoint_slots)

    def inline():
        return _scan_impl(*c_leaves, *x_leaves, *params0)

    if not clo.complete:
        outs = inline()
    else:
        consts = clo.values
        if consts:
            # captured values ride along in the carry, unchanged
            slots = clo.slots
            body_u = body

            def body(c, x):
                with _Substituted(slots, c[n_c:]):
                    nc, y = body_u(c[:n_c], x)
                return list(nc) + list(c[n_c:]), y
        params = (body, n_c + len(consts), length, bool(reverse), checkpoint, checkpoint_slots)

        def bind():
            outs = scan_p.bind(*c_leaves, *consts, *x_leaves, *params)
            return list(outs[:n_c]) + list(outs[n_c + len(consts):])
        outs = run_or_inline(bind, inline)
    return tree_unflatten(c_tree, list(outs[:n_c])), tree_unflatten(y_box[0], list(outs[n_c:]))


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """``for i in range(lower, upper): val = body_fun(i, val)``; returns ``val``.

    Concrete bounds make it a ``scan`` (one operation; reverse mode and
    checkpointing as for scan); traced bounds a ``while_loop``.

    >>> import wengert as wg
    >>> float(wg.grad(lambda x: wg.fori_loop(0, 3, lambda i, v: v * x + i, 1.0))(2.0))
    13.0
    """
    _check_callable(body_fun, "body_fun", "fori_loop")
    if not isinstance(lower, Tracer) and not isinstance(upper, Tracer):
        lo, hi = _as_int(lower, "lower"), _as_int(upper, "upper")
        n = max(hi - lo, 0)

        def step(c, _):
            i, v = c
            return (i + 1, body_fun(i, v)), None

        (_, v), _ = scan(step, (np.int64(lo), init_val), None, length=n)
        return v

    def wcond(c):
        return c[0] < c[1]

    def wbody(c):
        i, hi, v = c
        return i + 1, hi, body_fun(i, v)

    return while_loop(wcond, wbody, (lower, upper, init_val))[2]


def _as_int(v, name):
    a = np.asarray(v)
    if a.shape != () or a.dtype.kind not in "iub":
        raise TypeError(f"fori_loop: {name} must be an integer scalar, got {v!r}")
    return int(a)
