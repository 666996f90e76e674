"""Backward sweeps of the Tensor graph.

The common path sweeps the graph's linear equations (LinVars) in reverse
topological order — the reverse of the post-order of one iterative
depth-first walk, so no use counts are kept — applying the primitives' own
transpose rules (``p.transpose``), exactly as
:func:`wengert._core.backward_pass` does for a tape.  ``create_graph=True`` instead walks the Tensors' op records and
re-runs each op's JVP rule on Tensors with a fresh local tape, transposing it
with ``backward_pass``: the coefficients are then Tensor operations, recorded,
so the gradients can be differentiated again.
"""

from __future__ import annotations

import math

import numpy as np

from . import _tensor_drawing as _drawing
from ._core import _P, LinVar, TapeTrace, Tracer, backward_pass
from ._tensor_core import (
    FREED_P,
    IDENTITY_P,
    INPLACE,
    RELIN_LEVEL,
    RETAINED,
    G,
    Tensor,
    _mode,
    const,
)

_ndarray = np.ndarray
_generic = np.generic

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved "
    "tensors after they have already been freed). Saved intermediate values of the "
    "graph are freed when you call .backward() or autograd_grad(). Specify "
    "retain_graph=True if you need to backward through the graph a second time or if "
    "you need to access saved tensors after calling backward.")


def _describe(t):
    try:
        return f"{np.dtype(t.dtype).name}{list(t.shape)}"
    except Exception:  # pragma: no cover - describing must never fail
        return "tensor"


# ----------------------------------------------------------------------------
# Cotangent helpers


def _fit(ct, like):
    """A cotangent as a fresh array of ``like``'s dtype (complex → real part
    for a real input, as the functional API does)."""
    dt = like.dtype
    if isinstance(ct, Tracer):
        cdt = np.dtype(ct.dtype)
        if cdt != dt:
            from .numpy import _funcs as F
            if cdt.kind == "c" and np.dtype(dt).kind != "c":
                ct = F.real(ct)
            ct = F.astype(ct, dt)
        return ct
    if getattr(ct, "dtype", None) is not None and ct.dtype.kind == "c" and np.dtype(dt).kind != "c":
        ct = np.real(ct)
    out = np.array(ct, dtype=dt)
    if out.shape != tuple(like.shape):
        out = np.array(np.broadcast_to(out, like.shape))
    return out


def _store_grad(t, ct, create, used=None):
    """Accumulate ``ct`` into ``t.grad``.

    ``used``: ids of the arrays this sweep may not hand out (its seeds and
    the arrays already stored); any other fresh, writeable array is stored
    without a copy."""
    old = t._grad
    if type(ct) is type(t._data) and isinstance(ct, _generic) and not create:
        # a NumPy scalar of the leaf's own dtype (a 0-d leaf)
        if old is None:
            t._grad = const(np.array(ct))
            return
        od = old._data
        if type(od) is _ndarray and not od.shape and not old._rg and od.flags.writeable:
            od += ct
            return
    if create:
        ct = ct if isinstance(ct, Tensor) else const(ct)
        if ct.dtype != t.dtype:
            ct = ct.astype(t.dtype) if not (ct.dtype.kind == "c" and t.dtype.kind != "c") \
                else ct.real.astype(t.dtype)
        t._grad = ct if old is None else old + ct
        return
    d = t._data
    if type(ct) is not _ndarray or ct.dtype != d.dtype or ct.shape != d.shape:
        ct = _fit(ct, t)  # a new array
    elif old is None:
        if used is not None and ct.base is None and ct.flags.writeable and id(ct) not in used:
            used.add(id(ct))
        else:
            ct = ct.copy()
    if old is None:
        t._grad = const(ct)
        return
    od = old._data
    if type(od) is _ndarray and od.flags.writeable and od.shape == ct.shape and not old._rg:
        od += ct  # in place, as PyTorch accumulates (the grad array is our own)
    else:
        t._grad = const(np.asarray(od + ct))


def seed_for(out, g, caller):
    """The cotangent seeding ``out`` (``gradient=``/``grad_outputs`` entry)."""
    if g is None:
        shape = tuple(out.shape)
        if not shape:
            dt = out.dtype
            if dt.kind == "f":
                return dt.type(1)
        if math.prod(shape) != 1:
            raise RuntimeError(
                f"{caller}: grad can be implicitly created only for scalar outputs, but the "
                f"output has shape {shape}. Reduce it first (e.g. `.sum()`), or pass "
                f"`gradient=` with one value per element (shape {shape}).")
        dt = np.dtype(out.dtype)
        if dt.kind == "c":
            raise RuntimeError(
                f"{caller}: grad can be implicitly created only for real scalar outputs, "
                f"but the output is {dt.name}; pass `gradient=` explicitly.")
        return np.ones(shape, dtype=dt)
    if isinstance(g, Tensor):
        gd = g._data
    elif isinstance(g, Tracer):
        gd = g
    else:
        gd = np.asarray(g, dtype=np.result_type(np.asarray(g).dtype, out.dtype)
                        if np.asarray(g).dtype.kind in "biu" else None)
    if tuple(gd.shape) != tuple(out.shape):
        raise RuntimeError(
            f"{caller}: mismatch in shape: the gradient has shape {tuple(gd.shape)} but the "
            f"output has shape {tuple(out.shape)}; they must be equal.")
    return g if isinstance(g, Tensor) else gd


# ----------------------------------------------------------------------------
# The common path: sweep the linear equations


def _is_g(a):
    return type(a) is LinVar and a._trace is G


class _Mark:
    """A marker in a LinVar's ``ct`` slot during a sweep (``None`` outside one)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


_OPEN = _Mark("open")  # reached; its inputs are being visited
_VISITED = _Mark("visited")  # reached; no cotangent has arrived yet


def sweep(roots, seeds, accumulate, want=None, retain=False):
    """Transpose the graph below ``roots`` (LinVars) seeded with ``seeds``.

    ``accumulate``: write leaf (and retained) cotangents into ``.grad``.
    ``want``: {id(LinVar): None}, filled with those LinVars' cotangents.
    Unless ``retain``, the swept equations are freed as they are swept.
    Returns the LinVars reached.
    """
    # pass 1: a depth-first walk lists the reached LinVars in post-order
    # (every LinVar after its inputs), marking them in the ``ct`` slot
    # (None on entry); the reverse of that list is a topological order, so
    # pass 2 needs no use counts.  Leaves are listed as soon as they are
    # met; a LinVar with other inputs to visit is pushed, marked open, and
    # listed when it is popped again (no (node, state) tuples are made).
    LV = LinVar
    g = G
    seen = _VISITED
    opn = _OPEN
    order = []
    post = order.append
    stack = []
    push = stack.append
    pop = stack.pop
    try:
        for r in roots:
            if r.ct is not None:
                continue
            push(r)
            while stack:
                v = pop()
                c = v.ct
                if c is opn:  # its inputs are listed: list it
                    v.ct = seen
                    post(v)
                    continue
                if c is not None:  # pushed twice, listed already
                    continue
                while True:
                    # v is new: list its new leaves now, stack the other new
                    # inputs and go on with the last (a chain needs no stack)
                    nxt = None
                    for a in v.args:
                        if type(a) is LV and a._trace is g and a.ct is None:
                            if a.args:
                                if nxt is None:
                                    v.ct = opn
                                    push(v)
                                else:
                                    push(nxt)
                                nxt = a
                            else:
                                a.ct = seen
                                post(a)
                    if nxt is None:
                        v.ct = seen
                        post(v)
                        break
                    v = nxt
    except BaseException:
        for v in order:
            v.ct = None
        for v in stack:
            v.ct = None
        raise
    used = set(map(id, seeds))  # a seed may be the caller's array: never hand it out
    for r, s in zip(roots, seeds):
        c = r.ct
        r.ct = s if c is seen else c + s
    # pass 2: transpose each LinVar once all its users have passed their
    # cotangents (reverse post-order); ``ct`` goes back to None
    mul, add, neg, div, sub = _P.mul, _P.add, _P.neg, _P.div, _P.sub
    retained = RETAINED
    try:
        for v in reversed(order):
            ct = v.ct
            v.ct = None
            p = v.prim
            if ct is seen:  # no cotangent reached it
                if p is None:
                    continue
                if p is FREED_P:
                    raise RuntimeError(_FREED_MSG)
            else:
                if want is not None:
                    k = id(v)
                    if k in want:
                        want[k] = ct
                if p is None:
                    if accumulate:
                        t = v.params[0]()
                        if t is not None:
                            if t._grad is None and type(ct) is type(t._data) and isinstance(ct, _generic):
                                t._grad = const(np.array(ct))  # _store_grad's first case
                            else:
                                _store_grad(t, ct, False, used)
                    continue
                if retained and accumulate:
                    r = retained.get(id(v))
                    if r is not None and r() is not None:
                        _store_grad(r(), ct, False, used)
                args = v.args
                if p is mul:
                    a, c = args
                    if type(a) is not LV or a._trace is not g:
                        a, c = c, a
                    c = ct * c
                    o = a.ct
                    a.ct = c if o is seen else o + c
                elif p is IDENTITY_P:
                    a = args[0]
                    o = a.ct
                    a.ct = ct if o is seen else o + ct
                elif p is add or p is sub:
                    a, b = args
                    if type(a) is LV and a._trace is g:
                        o = a.ct
                        a.ct = ct if o is seen else o + ct
                    if type(b) is LV and b._trace is g:
                        o = b.ct
                        if p is add:
                            b.ct = ct if o is seen else o + ct
                        else:
                            b.ct = -ct if o is seen else o - ct
                elif p is neg:
                    a = args[0]
                    c = -ct
                    o = a.ct
                    a.ct = c if o is seen else o + c
                elif p is div and not _is_g(args[1]):
                    a = args[0]
                    c = ct / args[1]
                    o = a.ct
                    a.ct = c if o is seen else o + c
                elif p is FREED_P:
                    raise RuntimeError(_FREED_MSG)
                else:
                    lin = [type(a) is LV and a._trace is g for a in args]
                    targs = [None if f else a for a, f in zip(args, lin)]
                    cts = p.transpose(ct, *targs, *v.params)
                    for a, f, c in zip(args, lin, cts):
                        if f and c is not None:
                            o = a.ct
                            a.ct = c if o is seen else o + c
            if not retain:
                v.prim = FREED_P
                v.args = ()
                v.params = ()
    except BaseException:
        for v in order:
            v.ct = None
        raise
    return order


# ----------------------------------------------------------------------------
# create_graph: re-linearise each op on Tensors


def _tensor_parents(v):
    node = v._node
    if node is None:
        return ()
    return [a for a in node[2] if isinstance(a, Tensor) and a._rg]


def _check_versions(roots):
    """PyTorch's check: a tensor saved by a non-linear op was modified in place
    after that op was recorded."""
    seen = set()
    stack = list(roots)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        node = v._node
        if node is None:
            continue
        p, seq = node[0], node[3]
        for a in node[2]:
            if isinstance(a, Tensor):
                if a._mod > seq and not p.linear:
                    raise RuntimeError(
                        "one of the tensors needed for gradient computation has been "
                        f"modified by an in-place operation: a {_describe(a)} tensor used by "
                        f"`{p.name}` is now at version {a._version}. Compute the gradient "
                        "before modifying it, or modify a copy (`t = t.clone()` or "
                        "out-of-place `t = t + 1`).")
                if a._rg:
                    stack.append(a)


def _vjp_op(v, ct):
    """Cotangents of the inputs of ``v``'s op for output cotangent ``ct``,
    computed from the op's JVP rule on Tensors (so they are recorded)."""
    node = v._node
    p, params, args = node[0], node[1], node[2]
    local = TapeTrace(RELIN_LEVEL)
    lins = []
    for a in args:
        if isinstance(a, Tensor) and a._rg:
            lins.append(LinVar(local, None, (), ()))
        else:
            lins.append(None)
    if p.jvp_trace is not None:  # custom rules (control flow is recorded op by op)
        raise TypeError(
            f"create_graph=True through `{p.name}` (a custom_jvp/custom_vjp rule or an implicit "
            "solve) is not supported on wg.Tensor: its rule runs on the Tensors' data, so a "
            "derivative of the gradient would be missing. Use the functional API for higher "
            "derivatives: wg.hessian, or wg.grad of wg.grad.")
    if p.multiple_results:
        ans = p.bind(*args, *params)
        t_out = p.jvp(list(args), lins, ans, params)[node[4]]
    else:
        t_out = p.jvp(list(args), lins, v, params)
    if t_out is None:
        return [None] * len(args)
    backward_pass(local, [(t_out, ct)])
    local.kill()
    return [None if lv is None else lv.ct for lv in lins]


def sweep_graph(roots, seeds, accumulate, want=None, retain=True):
    """The create_graph sweep over Tensors (see the module docstring)."""
    deps = {}
    nodes = []
    stack = []
    for r in roots:
        if id(r) not in deps:
            deps[id(r)] = 0
            stack.append(r)
            nodes.append(r)
    while stack:
        v = stack.pop()
        if v._node is not None and type(v._tan) is LinVar and v._tan.prim is FREED_P:
            raise RuntimeError(_FREED_MSG)
        for a in _tensor_parents(v):
            k = id(a)
            d = deps.get(k)
            if d is None:
                deps[k] = 1
                stack.append(a)
                nodes.append(a)
            else:
                deps[k] = d + 1
    cts = {}
    for r, s in zip(roots, seeds):
        s = s if isinstance(s, Tensor) else const(s)
        k = id(r)
        cts[k] = s if k not in cts else cts[k] + s
    ready = list({id(r): r for r in nodes[:len(roots)] if deps[id(r)] == 0}.values())
    prev = _mode.enabled
    _mode.enabled = True
    try:
        while ready:
            v = ready.pop()
            ct = cts.pop(id(v), None)
            if ct is not None:
                if want is not None and id(v) in want:
                    want[id(v)] = ct
                if v._node is None:
                    if accumulate:
                        _store_grad(v, ct, True)
                    continue
                if accumulate and v._retain:
                    _store_grad(v, ct, True)
                in_cts = _vjp_op(v, ct)
                for a, c in zip(v._node[2], in_cts):
                    if c is not None:
                        c = c if isinstance(c, Tensor) else const(c)
                        k = id(a)
                        cts[k] = c if k not in cts else cts[k] + c
            for a in _tensor_parents(v):
                k = id(a)
                d = deps[k] - 1
                deps[k] = d
                if d == 0:
                    ready.append(a)
    finally:
        _mode.enabled = prev
    if not retain:
        for v in nodes:
            t = v._tan
            if v._node is not None and type(t) is LinVar:
                t.prim = FREED_P
                t.args = ()
                t.params = ()
    return nodes


# ----------------------------------------------------------------------------
# Drivers


def _check_out(t, caller, i=None):
    if not isinstance(t, Tensor):
        raise TypeError(f"{caller}: outputs must be wg.Tensor, got {type(t).__name__}")
    if not t._rg:
        which = "the tensor" if i is None else f"element {i} of outputs"
        raise RuntimeError(
            f"{caller}: {which} does not require grad and does not have a grad_fn, so "
            "there is nothing to differentiate. Create the inputs with requires_grad=True "
            "(e.g. wg.tensor(x, requires_grad=True)), and do not compute the output under "
            "wg.no_grad() or from .detach()ed tensors.")


def tensor_backward(self, gradient=None, retain_graph: bool | None = None,
                    create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

    ``gradient`` is needed unless the tensor has one element. The graph is
    freed afterwards unless ``retain_graph`` (default: ``create_graph``);
    ``create_graph=True`` records the backward pass itself, so the ``.grad``
    tensors can be differentiated again.

    >>> import wengert as wg
    >>> x = wg.tensor(3.0, requires_grad=True)
    >>> (x * x).backward()
    >>> x.grad
    tensor(6.)
    """
    tan = self._tan
    if inputs is not None or create_graph or INPLACE.seen or tan is None or not self._rg:
        return _backward_other(self, gradient, retain_graph, create_graph, inputs)
    # the common case, quickly
    s = None
    if gradient is None:
        s = _ONES.get(type(self._data))  # a 0-d float output: NumPy's scalar 1
    if s is None:
        s = seed_for(self, gradient, "Tensor.backward()")
        if isinstance(s, Tensor):
            s = s._data
    if _drawing.STATE.enabled:  # a Tensor graph has been drawn: record this one too
        return _backward_recorded(self, tan, s, retain_graph)
    if retain_graph:
        sweep([tan], [s], True, retain=True)
        return
    sweep([tan], [s], True)
    node = self._node  # as _release([self])
    if node is not None and node[2]:
        self._node = node[:2] + ((),) + node[3:]


tensor_backward.__name__ = "backward"
tensor_backward.__qualname__ = "Tensor.backward"


def _backward_recorded(t, tan, s, retain_graph):
    """The common case with a record for drawing (``_tensor_drawing``)."""
    rec = _drawing.record((t,))
    sweep([tan], [s], True, None if rec is None else rec.want, retain=bool(retain_graph))
    if rec is not None:
        rec.finish((t,))
    if not retain_graph:
        _release([t])


def _backward_other(t, gradient, retain_graph, create_graph, inputs):
    if inputs is None:
        return backward([t], [gradient], retain_graph, create_graph)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    grads = autograd_grad(t, ins, gradient, retain_graph, create_graph, allow_unused=True)
    for x, g in zip(ins, grads):
        if g is not None:
            _store_grad(x, g if create_graph else g._data, create_graph)


# the seeds of 0-d outputs held as NumPy scalars (immutable, so shared)
_ONES = {tp: tp(1) for tp in (np.float16, np.float32, np.float64, np.longdouble)}


def _release(outputs):
    """After a backward that freed the graph, let go of the output's inputs:
    intermediate tensors nobody else holds (and their arrays) are freed now,
    as PyTorch frees its saved tensors, rather than when the output dies."""
    for t in outputs:
        node = t._node
        if node is not None and node[2]:
            t._node = node[:2] + ((),) + node[3:]


def backward(outputs, grads, retain_graph, create_graph, caller="Tensor.backward()"):
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(outputs):
        _check_out(t, caller, i if len(outputs) > 1 else None)
    seeds = [seed_for(t, g, caller) for t, g in zip(outputs, grads)]
    if INPLACE.seen:
        _check_versions(outputs)
    if create_graph:
        sweep_graph(list(outputs), seeds, True, retain=retain_graph)
        return
    roots, rs = [], []
    for t, s in zip(outputs, seeds):
        if t._tan is not None:
            roots.append(t._tan)
            rs.append(s._data if isinstance(s, Tensor) else s)
        else:
            _zero_leaves(t)  # a derivative that is identically zero
    if roots:
        rec = _drawing.record(outputs)  # None unless a Tensor graph has been drawn
        sweep(roots, rs, True, None if rec is None else rec.want, retain=retain_graph)
        if rec is not None:
            rec.finish(outputs)
    if not retain_graph:
        _release(outputs)


def _zero_leaves(t):
    """Give the leaves below ``t`` a zero ``.grad`` where they have none (as
    PyTorch does for a graph whose derivative is identically zero)."""
    seen = set()
    stack = [t]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v._node is None:
            if v._rg and v._grad is None:
                v._grad = const(np.zeros(v.shape, dtype=v.dtype))
            continue
        stack.extend(a for a in v._node[2] if isinstance(a, Tensor) and a._rg)


def autograd_grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
                  allow_unused=False, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, like ``torch.autograd.grad``.

    Returns a tuple with one Tensor per input (``None`` for an input the
    outputs do not depend on, when ``allow_unused=True``; zeros with
    ``materialize_grads=True``).  Nothing is accumulated into ``.grad``.
    ``retain_graph`` defaults to ``create_graph``; with ``create_graph=True``
    the results are themselves differentiable.

    >>> import wengert as wg
    >>> x = wg.tensor(2.0, requires_grad=True)
    >>> (g,) = wg.autograd_grad(x ** 3, x, create_graph=True)
    >>> float(g), float(wg.autograd_grad(g, x)[0])
    (12.0, 12.0)
    """
    caller = "autograd_grad"
    single_out = isinstance(outputs, Tensor)
    if not single_out and not isinstance(outputs, (list, tuple)):
        raise TypeError(f"{caller}: outputs must be a wg.Tensor or a sequence of them, got "
                        f"{type(outputs).__name__}")
    if not isinstance(inputs, (Tensor, list, tuple)):
        raise TypeError(f"{caller}: inputs must be a wg.Tensor or a sequence of them, got "
                        f"{type(inputs).__name__}")
    outputs = [outputs] if single_out else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)) and single_out:
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{caller}: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(outputs):
        _check_out(t, caller, i if len(outputs) > 1 else None)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"{caller}: inputs must be wg.Tensor, got {type(x).__name__} at {i}")
        if not x._rg:
            raise RuntimeError(
                f"{caller}: input {i} does not require grad, so the outputs cannot depend "
                "on it through the graph. Create it with requires_grad=True.")
    seeds = [seed_for(t, g, caller) for t, g in zip(outputs, grad_outputs)]
    if INPLACE.seen:
        _check_versions(outputs)
    if create_graph:
        want = {id(x): None for x in inputs}
        nodes = sweep_graph(outputs, seeds, False, want=want, retain=retain_graph)
        reached = {id(v) for v in nodes}
        res = []
        for x in inputs:
            g = want[id(x)]
            if g is None and id(x) in reached:
                g = const(np.zeros(x.shape, dtype=x.dtype))
            res.append(g)
    else:
        want = {id(x._tan): None for x in inputs if x._tan is not None}
        roots, rs = [], []
        for t, s in zip(outputs, seeds):
            if t._tan is not None:
                roots.append(t._tan)
                rs.append(s._data if isinstance(s, Tensor) else s)
        nodes = sweep(roots, rs, False, want=want, retain=retain_graph) if roots else []
        if not retain_graph:
            _release(outputs)
        reached = {id(v) for v in nodes}
        res = []
        for x in inputs:
            k = id(x._tan) if x._tan is not None else None
            g = want.get(k)
            if g is not None:
                g = const(_fit(g, x))
            elif k in reached:
                g = const(np.zeros(x.shape, dtype=x.dtype))
            res.append(g)
    for i, (x, g) in enumerate(zip(inputs, res)):
        if g is None:
            if materialize_grads:
                res[i] = const(np.zeros(x.shape, dtype=x.dtype))
            elif not allow_unused:
                raise RuntimeError(
                    f"{caller}: one of the differentiated Tensors (input {i}, "
                    f"{_describe(x)}) appears to not have been used in the graph. Set "
                    "allow_unused=True if this is the desired behavior.")
    return tuple(res)
