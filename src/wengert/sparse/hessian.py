"""Hessian sparsity by direct second-order propagation.

The style of SparseConnectivityTracer.jl: every traced value carries, per
element, its first-order pattern ``g`` (the input indices it depends on, a
:class:`._pattern.Pat` over ``n`` columns) and its second-order pattern: the
index pairs ``(i, j)`` of its Hessian, in both orders, as a ``Pat`` over
``n * n`` columns whose entries are the keys ``i * n + j`` (``hes``), with
the diagonal of each ``g × g`` term kept apart as ``g`` itself (``hd``, a
``Pat`` over ``n`` columns: per element the ``i`` with ``(i, i)``).  Each
primitive maps them by

* **the linear part**: both go through the primitive's own first-order rule
  (its row's ``sparsity``), as ``g`` does: an output element's Hessian
  contains the Hessians of the input elements it depends on;
* **the new second-order part**, from the primitive's class: nothing for a
  primitive linear in its arguments (the row's ``linear`` flag) or piecewise
  linear (``abs`` of a real, ``maximum``, ``minimum``, ``mod``, the max/min
  reductions); ``g × g`` for a nonlinear elementwise function of one varying
  argument; ``g_a × g_b ∪ g_b × g_a`` for a product (``mul``, ``matmul``,
  ``einsum``: term by term); ``g_x × g_y ∪ g_y × g_x ∪ g_y × g_y`` for
  ``x / y``; and, for any other primitive (a conservative rule, never
  missing a nonzero), ``g_out × g_out`` per output element.

Keys are int32/int64 numbers in NumPy arrays.  A one-element result (a
reduction to a scalar, arithmetic on scalars) only gathers its operands'
keys (:class:`KeyBag`) and computes its first-order pattern only if read
(:class:`LazyPat`): for a sum of separable terms the pattern is built once,
by one sort of all the keys, straight into the CSR result.

Constructs this propagation does not cover (an implementation that needs
concrete values, a second-order pattern too large for per-element storage,
a complex output) raise :class:`Unsupported`; the caller then falls back to
the Jacobian pattern of ``wg.grad(f)`` (:func:`.compressed._hess_detect`).
"""

from __future__ import annotations

import math

import numpy as np

from .._core import Tracer, end_level, new_level
from . import _pattern as pt
from .detect import DetectTrace, DetectTracer, _as_input, _inexact, _is_array_leaf, _shape
from .rules import CONSERVATIVE, INDEX_ARGS, RULES, Operand, dense_rule, elementwise, nondiff

__all__ = ["Unsupported", "hessian_pattern"]

# most index-pair keys held per-element by one value before giving up (memory)
MAX_KEYS = 4_000_000

_PIECEWISE_LINEAR = frozenset({"abs", "maximum", "minimum", "mod", "fmod", "reduce_max", "reduce_min"})
_PRODUCTS = frozenset({"mul", "mul_safe"})
# nonlinear elementwise functions of two arguments whose every second partial is
# generically nonzero: (g_a ∪ g_b)² per element is exact for them
_BINARY_EXACT = frozenset({"arctan2", "hypot", "logaddexp", "logaddexp2", "pow"})


class Unsupported(Exception):
    """The direct propagation cannot handle this program (use the fallback)."""


class KeyBag(pt.Pat):
    """The Hessian pairs of one scalar as chunks of keys, unsorted, with
    repeats and ``-1`` holes: a sum of separable terms (reductions to a
    scalar, sums of scalars) only gathers its terms' keys, which are sorted
    and made distinct once, when the pattern is read (``ell()``)."""

    __slots__ = ("chunks", "size", "srcs")

    def __init__(self, chunks, nn, srcs=()):
        super().__init__(1, nn)
        self.chunks = chunks
        self.size = sum(c.size for c in chunks)
        self.srcs = srcs  # the patterns gathered (to spot the input's identity)

    @property
    def is_empty(self) -> bool:
        if self._empty is None:  # built from nonempty patterns only (see _bag)
            self._empty = self.size == 0 or (self._ell is not None and self._ell.shape[0] == 0)
        return self._empty

    def ell(self):
        if self._ell is None:
            many = len(self.chunks) > 1
            v = np.concatenate(self.chunks) if many else self.chunks[0]
            self._ell = _distinct(v, self.n, many).astype(pt._eldt(self.n), copy=False)[:, None]
            self.chunks = [self._ell[:, 0]]
        return self._ell

    def csr(self):
        if self._csr is None:
            self._csr = pt._ell_to_csr(self.ell(), self.n)
        return self._csr


class LazyPat(pt.Pat):
    """A one-element first-order pattern computed when first read: the
    pattern of a scalar that only flows into linear operations (a sum of
    terms) is never needed for the Hessian."""

    __slots__ = ("thunk",)

    def __init__(self, rows, n, thunk):
        super().__init__(rows, n)
        self.thunk = thunk

    def _force(self):
        if self.thunk is not None:
            p, self.thunk = self.thunk(), None
            if p is None:
                p = pt.empty(self.rows, self.n)
            self._ell, self._csr, self.subs, self._empty = p._ell, p._csr, p.subs, None
            if self._ell is None and self._csr is None:
                self._ell = p.ell()
                if self._ell is None:
                    self._csr = p.csr()

    @property
    def is_empty(self) -> bool:
        if self.thunk is not None:
            return False  # (operands with a dependence give one, or a harmless empty row)
        return pt.Pat.is_empty.fget(self)

    def ell(self):
        self._force()
        return pt.Pat.ell(self)

    def csr(self):
        self._force()
        return pt.Pat.csr(self)


def _distinct(v, n, fresh=False):
    """Sorted distinct values of ``v`` in ``[0, n)``, ignoring ``-1`` holes
    (``fresh``: ``v`` is a scratch array, sorted in place)."""
    if v.size * 8 >= n:
        mark = np.zeros(n + 1, bool)
        mark[v] = True  # holes land on mark[n] (index -1)
        return np.flatnonzero(mark[:n])
    if not v.size:
        return v
    s = v if fresh else v.copy()
    s.sort(kind="stable")  # timsort: index sets come in sorted runs
    keep = np.empty(s.size, bool)
    keep[0] = s[0] >= 0
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    if s[0] < 0:
        keep[:np.searchsorted(s, 0)] = False
    return s if keep.all() else s[keep]


def _raw(h):
    """A pattern's keys as chunks (with repeats and holes)."""
    if type(h) is KeyBag:
        return h.chunks
    a = h.ell()
    return [a.ravel()] if a is not None else [h.csr().indices]


def _bag(hs, nn):
    if not hs:
        return None
    if len(hs) == 1 and type(hs[0]) is KeyBag:
        return hs[0]
    chunks = [c for h in hs for c in _raw(h)]
    srcs = tuple(q for h in hs for q in (h.srcs if type(h) is KeyBag else (h,)))[:16]
    bag = KeyBag(chunks, nn, srcs)
    if len(chunks) > 64 or bag.size > 4 * MAX_KEYS:
        bag.ell()  # compact
    return bag


_REDUCTIONS = frozenset({"reduce_sum", "reduce_max", "reduce_min"})
_SCALAR_LINEAR = frozenset({"add", "sub", "neg", "reshape", "convert_element_type", "real", "conj",
                            "mul", "mul_safe", "div"})


def _mine(trace, x):
    return type(x) is HessTracer and x._trace is trace


class HessTracer(DetectTracer):
    """A value being traced for Hessian sparsity: its value, ``g`` (``pat``)
    and ``h``, split in the keys of its pairs (``hes``, ``n * n`` columns)
    and, apart, per element the indices ``i`` of its diagonal pairs
    ``(i, i)`` (``hd``, ``n`` columns: ``g × g`` has ``g`` as its diagonal,
    shared rather than made into keys)."""

    __slots__ = ("hes", "hd", "shp")

    def __init__(self, trace, val, pat, hes=None, hd=None, shp=None):
        self._trace = trace
        self.val = val
        self.pat = pat
        self.hes = hes
        self.hd = hd
        self.shp = shp  # the value's shape where known (saves asking again)

    def __repr__(self):
        return f"HessTracer({self._describe()})"


class HessTrace(DetectTrace):
    __slots__ = ("nn", "keys")

    def __init__(self, level, n):
        super().__init__(level, n)
        self.nn = n * n
        self.keys = 0

    def process(self, p, args, params):
        name = p.name
        special = _SPECIAL_H.get(name)
        if special is not None and p.multiple_results:
            return special(self, p, args, params)
        if p.jvp_trace is not None:
            if name in _RUN_FUN:
                return tuple(params[0](list(args)))
            if name == "numpy_call":  # NumPy's value, a composition's derivatives: trace that
                return params[2](*args)
            try:
                return p.impl(*args, *params)
            except TypeError:
                raise Unsupported(f"{name} needs concrete values") from None
        vals = []
        gins = []
        mine = []
        foreign = False
        dep = False
        hdep = False
        for a in args:
            if type(a) is HessTracer and a._trace is self:
                v = a.val
                vals.append(v)
                shp = a.shp
                gins.append(Operand(a.pat, shp if shp is not None else _shape(v), None))
                mine.append(a)
                if a.pat is not None:
                    dep = True
                    if a.hes is not None or a.hd is not None:
                        hdep = True
                if isinstance(v, Tracer):
                    foreign = True
            else:
                vals.append(a)
                if isinstance(a, Tracer):
                    foreign = True
                    gins.append(Operand(None, _shape(a), None))
                else:
                    gins.append(Operand(None, _shape(a), a))
                mine.append(None)
        at = INDEX_ARGS.get(p.name)
        if at is not None:  # integer positions computed from the input: read them (local)
            a = args[at]
            if type(a) is HessTracer and a._trace is self and a.pat is None and not isinstance(a.val, Tracer):
                gins[at] = Operand(None, gins[at].shape, a.val)
                self.mark_local("indexing with computed indices")
        out = p.bind(*vals, *params) if foreign else p.impl(*vals, *params)
        multi = p.multiple_results
        if not dep:
            if multi:
                return tuple(HessTracer(self, o, None) for o in out)
            return HessTracer(self, out, None)
        # (a row defined after the rules were installed finds its rule by name)
        rule = p.sparsity or RULES.get(p.name) or (nondiff if p.nondiff else dense_rule)
        if rule is dense_rule or name in CONSERVATIVE or (name == "select" and gins[0].const is None):
            self.exact = False
        n = self.n
        outs = out if multi else (out,)
        shapes = [_shape(o) for o in outs]
        if not multi and (name in _REDUCTIONS or name in _SCALAR_LINEAR) and shapes[0] in ((), (1,)):
            return self._scalar(p, name, rule, gins, mine, vals, out, shapes, params, hdep)
        gpats = rule(gins, shapes, n, *params)
        if not multi:
            gpats = (gpats,)
        hl = dl = None
        if hdep:
            hins = [o if t is None else Operand(t.hes, o.shape, None) for t, o in zip(mine, gins)]
            dins = [o if t is None else Operand(t.hd, o.shape, None) for t, o in zip(mine, gins)]
            if any(t is not None and t.hes is not None for t in mine):
                hl = rule(hins, shapes, self.nn, *params)
                if not multi:
                    hl = (hl,)
            if any(t is not None and t.hd is not None for t in mine):
                dl = rule(dins, shapes, n, *params)
                if not multi:
                    dl = (dl,)
        if p.nondiff or (p.linear and not name.endswith("_tangent")):
            new = None  # linear: nothing new
        else:
            new = self._second(p, gins, shapes, gpats, params, vals)
        res = []
        for k, o in enumerate(outs):
            g = gpats[k]
            if g is None or not _inexact(o):
                res.append(HessTracer(self, o, None))
                continue
            h1 = hl[k] if hl is not None else None
            d1 = dl[k] if dl is not None else None
            h2, d2 = new[k] if new is not None else (None, None)
            rows = math.prod(shapes[k])
            h1 = _join(h1, h2, rows, self.nn)
            d1 = _join(d1, d2, rows, n)
            res.append(HessTracer(self, o, g, h1, d1, shapes[k]))
        return tuple(res) if multi else res[0]

    def _scalar(self, p, name, rule, gins, mine, vals, out, shapes, params, hdep):
        """A one-element result of a reduction or of arithmetic on one-element
        values: its first-order pattern computed only if read (:class:`LazyPat`),
        its pairs the union of the kept operands' ones, gathered unsorted
        (:class:`KeyBag`), plus a product's or quotient's new pairs."""
        if not _inexact(out):
            return HessTracer(self, out, None)
        n = self.n
        g = LazyPat(1, n, lambda: rule(gins, shapes, n, *params))
        hs = []
        ds = []
        if hdep:
            product = name in ("mul", "mul_safe")
            for i, t in enumerate(mine):
                if t is None or (t.hes is None and t.hd is None):
                    continue
                if product or (name == "div" and i == 1):
                    other = gins[1 - i]
                    if other.pat is None and other.const is not None and not np.all(np.asarray(other.const) != 0):
                        continue  # times a constant zero
                if t.hes is not None:
                    hs.append(t.hes)
                if t.hd is not None:
                    ds.append(t.hd)
        if name in ("mul", "mul_safe", "div"):
            h2, d2 = self._second(p, gins, shapes, (g,), params, vals)[0]
            if h2 is not None:
                hs.append(h2)
            if d2 is not None:
                ds.append(d2)
        return HessTracer(self, out, g, _bag(hs, self.nn), _bag(ds, n), shapes[0])

    # -- the new second-order part --------------------------------------------
    def _second(self, p, ins, shapes, gpats, params, vals):
        """Per output, the pairs the primitive itself adds: ``(keys, diag)``."""
        name = p.name
        none = [(None, None)] * len(shapes)
        if p.nondiff:
            return none
        if p.linear and not name.endswith("_tangent"):
            return none
        if name in _PIECEWISE_LINEAR:
            if name == "abs" and not np.isrealobj(vals[0]):  # |z| of a complex z: not piecewise linear
                return [self._outer(gpats[0], gpats[0], True)]
            return none
        deps = [o.dep for o in ins]
        if name in _PRODUCTS:
            if not all(deps):
                return none
            a, b = ins
            ga = _aligned(a, shapes[0])
            if a.pat is b.pat and a.shape == b.shape:
                return [self._outer(ga, ga, True)]
            return [self._outer(ga, _aligned(b, shapes[0]), False)]
        if name == "div":
            x, y = ins
            if not y.dep:
                return none
            gy = _aligned(y, shapes[0])
            rows = math.prod(shapes[0])
            k, d = self._outer(gy, gy, True)
            if x.dep:
                k = _join(k, self._outer(_aligned(x, shapes[0]), gy, False)[0], rows, self.nn)
            return [(_mask_const_zero(k, x, shapes[0]), _mask_const_zero(d, x, shapes[0]))]
        if name in ("matmul", "einsum") and len(ins) == 2:
            if not all(deps):
                return none
            return [(self._contraction(p, ins, shapes[0], params), None)]
        if name == "pow":
            x, y = ins
            if not y.dep and y.const is not None:
                c = np.asarray(y.const)
                if np.all((c == 0) | (c == 1)):
                    return none
        if (p.sparsity or RULES.get(name)) is elementwise and sum(deps) == 1:
            # a nonlinear function of one varying argument (the others constants or
            # independent of x: a Bessel order, a distribution's parameter)
            return [self._outer(gpats[0], gpats[0], True)]
        if name not in _BINARY_EXACT:
            self.exact = False  # the conservative rule
        return [(None, None) if g is None else self._outer(g, g, True) for g in gpats]

    def _outer(self, ga, gb, same):
        """Per element, the pairs of ``ga × gb ∪ gb × ga`` (``same``: ``ga``
        is ``gb``) in both orders, as ``(keys, diag)``: for ``g × g`` the
        diagonal is ``g`` itself and the keys are the off-diagonal pairs."""
        a = _ell(ga)
        b = a if same else _ell(gb)
        ka, kb = a.shape[0], b.shape[0]
        if ka == 0 or kb == 0:
            return None, None
        rows = ga.rows
        n = self.n
        if same:
            pairs = [(a[i], a[j]) for i in range(ka) for j in range(ka) if i != j]
        else:
            pairs = [(a[i], b[j]) for i in range(ka) for j in range(kb)]
            pairs += [(y, x) for x, y in pairs]
        diag = ga if same else None
        if not pairs:
            return None, diag
        self.keys += len(pairs) * rows
        if self.keys > MAX_KEYS:
            raise Unsupported("second-order pattern too large for per-element storage")
        dt = pt._eldt(self.nn)  # keys < n², so int32 arithmetic is exact while n² fits
        neg = rows and (a.min() < 0 or (not same and b.min() < 0))
        out = np.empty((len(pairs), rows), dt)
        for t, (x, y) in enumerate(pairs):
            o = out[t]
            np.multiply(x, n, out=o, dtype=dt, casting="unsafe")
            o += y
            if neg:
                o[(x < 0) | (y < 0)] = -1
        if not same:  # a pair in both products
            out = pt._dedupe_rows(out)
        return pt.Pat(rows, self.nn, ell=out), diag

    def _contraction(self, p, ins, out_shape, params):
        """``out[o] = Σ a[ai] b[bi]``: per term, the pairs ``g_a[ai] × g_b[bi]``."""
        from .rules import _matmul_subs
        a, b = ins
        if p.name == "matmul":
            sa, sb, so = _matmul_subs(a.shape, b.shape)
            if any(x != y for x, y in zip(a.shape[:-2][::-1], b.shape[:-2][::-1])):
                raise Unsupported("matmul with broadcast batch dimensions")
            sizes = {}
            for sub, shape in ((sa, a.shape), (sb, b.shape)):
                for c, s in zip(sub, shape):
                    sizes[c] = s
        else:
            spec, sz = params
            if "." in spec:
                raise Unsupported("einsum with an ellipsis")
            left, so = spec.split("->")
            sa, sb = left.split(",")
            sizes = dict(sz)
        labels = sorted(set(sa) | set(sb) | set(so))
        full = tuple(sizes[c] for c in labels)
        grid = np.indices(full).reshape(len(labels), -1) if labels else np.zeros((0, 1), np.int64)
        pos = {c: grid[i] for i, c in enumerate(labels)}

        def flat(sub, shape):
            if not sub:
                return np.zeros(grid.shape[1], np.int64)
            return np.ravel_multi_index(tuple(pos[c] for c in sub), shape)

        ga = pt.gather(a.pat, flat(sa, a.shape))
        gb = pt.gather(b.pat, flat(sb, b.shape))
        terms = self._outer(ga, gb, False)[0]
        if terms is None:
            return None
        return pt.combine(terms, flat(so, out_shape), np.arange(terms.rows), math.prod(out_shape))


def _ell(g):
    a = g.ell()
    if a is None:
        raise Unsupported("first-order pattern too uneven for per-element pairs")
    return a


def _aligned(o, shape):
    if o.shape == shape:
        return o.pat
    from .rules import bmap
    return pt.gather(o.pat, bmap(o.shape, shape))


def _join(h1, h2, rows, nn):
    """Union of two patterns (``None``: empty), kept lazy for one element."""
    if h1 is None or h2 is None:
        h = h1 if h2 is None else h2
    elif type(h1) is KeyBag or type(h2) is KeyBag:
        h = _bag([h1, h2], nn)
    else:
        h = pt.union([h1, h2], rows, nn)
    return None if h is None or h.is_empty else h


def _mask_const_zero(h, x, shape):
    """``c / y`` with a constant ``c``: nothing where ``c`` is zero."""
    if h is None or x.dep or x.const is None:
        return h
    c = np.asarray(x.const)
    nz = np.broadcast_to(c != 0, shape).ravel()
    return pt.mask_rows(h, nz)


# ----------------------------------------------------------------------------
# Control flow


_RUN_FUN = frozenset({"custom_jvp_call", "custom_vjp_call", "checkpoint"})


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
    except Exception:
        trace.mark_local("wg.cond on a value computed from the input, whose other branch "
                         "could not run at this point")
        return tuple(a)
    out = []
    for x, y in zip(a, b):
        if not _mine(trace, x) and not _mine(trace, y):
            out.append(HessTracer(trace, x, None))
            continue
        val = x.val if _mine(trace, x) else x
        rows = math.prod(_shape(val))
        gs = [v.pat for v in (x, y) if _mine(trace, v)]
        hs = [v.hes for v in (x, y) if _mine(trace, v)]
        ds = [v.hd for v in (x, y) if _mine(trace, v)]
        g = pt.union(gs, rows, trace.n)
        h = pt.union(hs, rows, trace.nn)
        d = pt.union(ds, rows, trace.n)
        out.append(HessTracer(trace, val, None if g.is_empty else g, None if h.is_empty else h,
                              None if d.is_empty else d))
    return tuple(out)


def _while(trace, p, args, params):
    cond_fn, body_fn, _ = params
    carry = list(args)
    while True:
        c = cond_fn(carry)
        go = bool(c) if _mine(trace, c) else bool(np.asarray(c))
        if not go:
            return tuple(carry)
        carry = list(body_fn(carry))


_SPECIAL_H = {"cond": _cond, "while_loop": _while}


# ----------------------------------------------------------------------------
# The driver


def hessian_pattern(fun, args, argnums: int, fname: str):
    """``(csr, local, why, exact)``: the symmetric Hessian pattern of the
    scalar ``fun`` in argument ``argnums`` by direct propagation; raises
    :class:`Unsupported` where it cannot run (use the ``wg.grad`` route)."""
    if not isinstance(argnums, int) or isinstance(argnums, bool):
        raise TypeError(f"{fname}: argnums must be one int (the argument to differentiate), "
                        f"got {argnums!r}; for several arguments concatenate them into one array")
    if not -len(args) <= argnums < len(args):
        raise ValueError(f"{fname}: argnums={argnums} but the function got {len(args)} "
                         "positional argument(s)")
    argnums %= len(args)
    x = _as_input(args[argnums], fname, f"argument {argnums}")
    if not np.issubdtype(np.dtype(x.dtype), np.floating):
        raise Unsupported("a complex or integer input")  # the fallback raises the right error
    n = math.prod(x.shape)
    if n * n >= 2**62:
        raise Unsupported("too many inputs for int64 pair keys")
    level = new_level()
    trace = HessTrace(level, n)
    try:
        seed = pt.identity(n)
        xt = HessTracer(trace, x, seed, None)
        full = []
        for i, a in enumerate(args):
            if i == argnums:
                full.append(xt)
            elif _is_array_leaf(a):
                full.append(HessTracer(trace, a if isinstance(a, Tracer) else np.asarray(a), None))
            else:
                full.append(a)
        with np.errstate(all="ignore"):
            out = fun(*full)
        if isinstance(out, (list, tuple, dict)) or out is None:
            raise Unsupported("not one array")
        val = out.val if _mine(trace, out) else out
        shape = _shape(val)
        if shape != ():
            raise TypeError(f"{fname}: the function must return a scalar (shape ()), "
                            f"got shape {shape}; for a vector function use "
                            "wg.jacobian_sparsity, or sum the components you mean")
        if not _inexact(val) or np.dtype(getattr(val, "dtype", np.float64)).kind == "c":
            raise Unsupported("a complex or integer output")  # grad raises the clear error
        dt = pt._eldt(n * n)
        chunks = []
        if _mine(trace, out):
            if out.hes is not None:
                chunks += _raw(out.hes)
            hd = out.hd
            if hd is not None:
                if hd is seed or (type(hd) is KeyBag and any(q is seed for q in hd.srcs)):
                    d = np.arange(n, dtype=dt)  # a term g × g of the input itself: every (i, i)
                else:
                    diag = np.zeros(n + 1, bool)
                    for c in _raw(hd):
                        diag[c] = True  # holes (-1) land on diag[n]
                    d = np.flatnonzero(diag[:n]).astype(dt)
                chunks.append(d * (n + 1))
        # one sort of all the keys (timsort: they come in sorted runs)
        keys = _distinct(np.concatenate(chunks).astype(dt, copy=False), n * n, True) if chunks \
            else np.empty(0, dt)
        return _symmetric(keys, n), trace.local, trace.why, trace.exact
    finally:
        end_level()
        trace.kill()


def _symmetric(keys, n):
    """The boolean CSR of the sorted, distinct keys ``i * n + j`` (a
    symmetric set: every pair was made in both orders)."""
    sp = pt.scipy_sparse()
    keys = np.asarray(keys)
    i = keys // n
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(i, minlength=n), out=indptr[1:])
    np.multiply(i, n, out=i)
    np.subtract(keys, i, out=i)  # the columns, in place
    ind, ptr = pt._index_arrays(i, indptr, keys.size, n)
    m = sp.csr_matrix((np.ones(keys.size, bool), ind, ptr), shape=(n, n))
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m
