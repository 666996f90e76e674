"""Sparsity detection: index sets pushed through the traced program.

A :class:`DetectTrace` runs the function once on :class:`DetectTracer`
values, each carrying its concrete value and its dependence pattern (for
every element, the set of input elements it depends on, see
:mod:`._pattern`).  Every primitive applied to them computes its value and,
by its row's sparsity rule (:mod:`.rules`), its output's pattern: the
program is traced and propagated in the same pass.

Values that come from the inputs stay tracers even where they carry no
derivative (comparisons, ``argmax``, integer results), so any use of such a
value's *contents* — Python control flow, indexing with it, ``int()`` —
is seen: the pattern is then only valid at this point (*local*), and the
callers do not cache it.  Otherwise the pattern is *global*: the same for
every input of these shapes and dtypes.

``wg.cond`` on a traced predicate keeps the global pattern by running both
branches and taking the union (a pattern for every input, like
``wnp.where``); ``wg.while_loop`` on a traced condition runs at the given
point (local).
"""

from __future__ import annotations

import math

import numpy as np

from .._core import Trace, Tracer, end_level, new_level
from . import _pattern as pt
from .rules import CONSERVATIVE, INDEX_ARGS, RULES, Operand, dense_rule, nondiff

__all__ = ["DetectTrace", "DetectTracer", "detect", "Detected"]


class DetectTrace(Trace):
    __slots__ = ("n", "local", "why", "exact")

    def __init__(self, level, n):
        self.level = level
        self.n = n
        self.local = False
        self.why = None
        self.exact = True  # False once a conservative rule has run (see rules.CONSERVATIVE)

    def mark_local(self, why):
        if not self.local:
            self.local = True
            self.why = why

    def process2(self, p, x, y, params):
        return self.process(p, (x, y), params)

    def process(self, p, args, params):
        special = _SPECIAL.get(p.name)
        if special is not None and getattr(p, "multiple_results", False):
            return special(self, p, args, params)
        if p.jvp_trace is not None:
            # a construct that runs user code (custom rules, checkpoint, scan): run
            # that code on our tracers (the primal function of a custom rule)
            if p.name in _RUN_FUN:
                return tuple(params[0](list(args)))
            if p.name == "numpy_call":  # NumPy's value, a composition's derivatives: trace that
                return params[2](*args)
            try:
                return p.impl(*args, *params)
            except TypeError:
                # an implementation that needs concrete values (a solver): run it
                # on the values, with the dense rule below (never misses)
                return self._opaque(p, args, params)
        vals = []
        ins = []
        foreign = False
        dep = False
        for a in args:
            if type(a) is DetectTracer and a._trace is self:
                v = a.val
                vals.append(v)
                ins.append(Operand(a.pat, _shape(v), None))
                if a.pat is not None:
                    dep = True
                if isinstance(v, Tracer):
                    foreign = True
            else:
                vals.append(a)
                if isinstance(a, Tracer):
                    foreign = True
                    ins.append(Operand(None, _shape(a), None))
                else:
                    ins.append(Operand(None, _shape(a), a))
        at = INDEX_ARGS.get(p.name)
        if at is not None:  # integer positions computed from the input: read them (local)
            a = args[at]
            if type(a) is DetectTracer and a._trace is self and a.pat is None and not isinstance(a.val, Tracer):
                ins[at] = Operand(None, ins[at].shape, a.val)
                self.mark_local("indexing with computed indices")
        out = p.bind(*vals, *params) if foreign else p.impl(*vals, *params)
        multi = p.multiple_results
        if not dep:
            if multi:
                return tuple(DetectTracer(self, o, None) for o in out)
            return DetectTracer(self, out, None)
        # (a row defined after the rules were installed finds its rule by name)
        rule = p.sparsity or RULES.get(p.name) or (nondiff if p.nondiff else dense_rule)
        if rule is dense_rule or p.name in CONSERVATIVE or (p.name == "select" and ins[0].const is None):
            self.exact = False
        if multi:
            pats = rule(ins, [_shape(o) for o in out], self.n, *params)
            return tuple(DetectTracer(self, o, pat if pat is not None and _inexact(o) else None)
                         for o, pat in zip(out, pats))
        pat = rule(ins, [_shape(out)], self.n, *params)
        return DetectTracer(self, out, pat if pat is not None and _inexact(out) else None)


    def _opaque(self, p, args, params):
        vals = [a.val if type(a) is DetectTracer and a._trace is self else a for a in args]
        ins = [Operand(a.pat if type(a) is DetectTracer and a._trace is self else None, _shape(v), None)
               for a, v in zip(args, vals)]
        foreign = any(isinstance(v, Tracer) for v in vals)
        out = p.bind(*vals, *params) if foreign else p.impl(*vals, *params)
        outs = list(out) if p.multiple_results else [out]
        self.exact = False
        pats = dense_rule(ins, [_shape(o) for o in outs], self.n) if any(o.pat is not None for o in ins) \
            else [None] * len(outs)
        if not p.multiple_results:
            pats = [pats]
        elif not isinstance(pats, list):
            pats = [pats]
        res = [DetectTracer(self, o, pat if pat is not None and _inexact(o) else None)
               for o, pat in zip(outs, pats)]
        return tuple(res) if p.multiple_results else res[0]

def _shape(x):
    s = getattr(x, "shape", None)
    return tuple(s) if s is not None else ()


def _inexact(x) -> bool:
    dt = getattr(x, "dtype", None)
    if dt is None:
        return isinstance(x, (float, complex))
    return np.dtype(dt).kind in "fc"


class DetectTracer(Tracer):
    """A value being traced for sparsity: its value and its pattern."""

    __slots__ = ("val", "pat")

    def __init__(self, trace, val, pat):
        self._trace = trace
        self.val = val
        self.pat = pat

    @property
    def shape(self):
        return _shape(self.val)

    @property
    def dtype(self):
        dt = getattr(self.val, "dtype", None)
        return np.dtype(dt) if dt is not None else np.result_type(self.val)

    def _local(self, what):
        self._trace.mark_local(what)

    def __bool__(self):
        self._local("Python control flow (if/while/bool) on a value computed from the input")
        return bool(self.val)

    def concrete(self):
        """The value, for data-dependent operations (indexing with computed
        indices, sorting permutations): the pattern becomes local."""
        self._local("an operation that uses the contents of a value computed from the input "
                    "(indexing with computed indices, a sorting permutation, nonzero, ...)")
        return self.val

    def __index__(self):
        if self.pat is not None and not self.pat.is_empty:
            return Tracer.__index__(self)
        self._local("int()/indexing with a value computed from the input")
        return int(self.val)

    def __int__(self):
        if self.pat is not None and not self.pat.is_empty:
            return Tracer.__int__(self)
        self._local("int() of a value computed from the input")
        return int(self.val)

    def __repr__(self):
        return f"DetectTracer({self._describe()})"


# ----------------------------------------------------------------------------
# Control flow


def _mine(trace, x):
    return type(x) is DetectTracer and x._trace is trace


def _cond(trace, p, args, params):
    pred, *ops = args
    t_fn, f_fn, _ = params
    if not _mine(trace, pred):
        return p.impl(*args, *params)
    take = bool(pred.val)
    trace.exact = False  # both branches count
    a = t_fn(list(ops)) if take else f_fn(list(ops))
    try:
        with np.errstate(all="ignore"):
            b = f_fn(list(ops)) if take else t_fn(list(ops))
    except Exception:  # the other branch cannot run here: the pattern is local
        trace.mark_local("wg.cond on a value computed from the input, whose other branch "
                         "could not run at this point")
        return tuple(a)
    out = []
    for x, y in zip(a, b):
        if not _mine(trace, x) and not _mine(trace, y):
            # a branch result that does not depend on the input: the choice does
            out.append(DetectTracer(trace, x, None))
            continue
        px = x.pat if _mine(trace, x) else None
        py = y.pat if _mine(trace, y) else None
        val = x.val if _mine(trace, x) else x
        rows = math.prod(_shape(val))
        out.append(DetectTracer(trace, val, pt.union([px, py], rows, trace.n)))
    return tuple(out)


def _while(trace, p, args, params):
    cond_fn, body_fn, _ = params
    carry = list(args)
    while True:
        c = cond_fn(carry)
        if _mine(trace, c):
            go = bool(c)  # marks the pattern local
        else:
            go = bool(np.asarray(c))
        if not go:
            return tuple(carry)
        carry = list(body_fn(carry))


_SPECIAL = {"cond": _cond, "while_loop": _while}
# constructs whose first parameter is the function they apply (list -> list)
_RUN_FUN = frozenset({"custom_jvp_call", "custom_vjp_call", "checkpoint"})


# ----------------------------------------------------------------------------
# The driver


class Detected:
    """Result of one detection: the output's value and pattern."""

    __slots__ = ("out", "pattern", "local", "why", "out_shape", "in_shape", "exact")

    def __init__(self, out, pattern, local, why, out_shape, in_shape, exact=True):
        self.out = out
        self.pattern = pattern
        self.local = local
        self.why = why
        self.out_shape = out_shape
        self.in_shape = in_shape
        self.exact = exact  # no conservative rule ran


def _as_input(x, fname, what):
    if isinstance(x, Tracer):
        return x
    if isinstance(x, (list, tuple, dict)) or x is None:
        raise TypeError(f"{fname}: {what} must be one array (or number), not a "
                        f"{type(x).__name__}; flatten a pytree into one array first "
                        "(e.g. wnp.concatenate of the raveled leaves)")
    a = np.asarray(x)
    if a.dtype == object:
        raise TypeError(f"{fname}: {what} must be a numeric array, got {type(x).__name__}")
    return a


def detect(fun, args, argnums: int, fname: str, *, transform=None) -> Detected:
    """Trace ``fun(*args)`` with argument ``argnums`` seeded: the pattern of
    the (flattened) output against the (flattened) input.

    ``transform`` (optional) wraps the function of the seeded argument
    before tracing (``wg.grad`` for Hessian patterns).  Other arguments
    are traced too, with no dependence, so any use of their contents makes
    the pattern local.
    """
    if not isinstance(argnums, int) or isinstance(argnums, bool):
        raise TypeError(f"{fname}: argnums must be one int (the argument to differentiate), "
                        f"got {argnums!r}; for several arguments concatenate them into one array")
    if not -len(args) <= argnums < len(args):
        raise ValueError(f"{fname}: argnums={argnums} but the function got {len(args)} "
                         "positional argument(s)")
    argnums %= len(args)
    x = _as_input(args[argnums], fname, f"argument {argnums}")
    if not np.issubdtype(np.dtype(x.dtype), np.inexact):
        raise TypeError(f"{fname}: argument {argnums} has dtype {np.dtype(x.dtype).name}; "
                        "derivatives need a float or complex input (pass e.g. x.astype(float))")
    in_shape = tuple(x.shape)
    n = math.prod(in_shape)
    level = new_level()
    trace = DetectTrace(level, n)
    try:
        # under an outer transformation (jit, vmap, grad) the value stays the outer
        # tracer: rules only use shapes, and reading its contents raises there
        xt = DetectTracer(trace, x, pt.identity(n))
        full = []
        for i, a in enumerate(args):
            if i == argnums:
                full.append(xt)
            elif _is_array_leaf(a):
                full.append(DetectTracer(trace, a if isinstance(a, Tracer) else np.asarray(a), None))
            else:
                full.append(a)

        def g(x_):
            call = list(full)
            call[argnums] = x_
            return fun(*call)

        h = transform(g) if transform is not None else g
        with np.errstate(all="ignore"):
            out = h(xt)
        if isinstance(out, (list, tuple, dict)) or out is None:
            raise TypeError(f"{fname}: the function must return one array, got a "
                            f"{type(out).__name__}; concatenate the outputs into one array")
        if _mine(trace, out):
            pat = out.pat
            val = out.val
        else:
            pat = None
            val = out
        out_shape = _shape(val)
        rows = math.prod(out_shape)
        if pat is None:
            pat = pt.empty(rows, n)
        return Detected(val, pat, trace.local, trace.why, out_shape, in_shape, trace.exact)
    finally:
        end_level()
        trace.kill()


def _is_array_leaf(a) -> bool:
    if isinstance(a, (np.ndarray, np.generic, Tracer)):
        return True
    return isinstance(a, (float, complex)) and not isinstance(a, bool)
