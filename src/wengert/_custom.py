"""``custom_jvp`` and ``custom_vjp``: user-defined derivative rules, as in JAX.

Each decorated call is one primitive holding the user's functions.

* ``custom_jvp``: forward mode calls the rule; reverse mode linearizes the
  rule in its tangents (it must be linear in them, as in JAX) and transposes
  that, recorded as one tape equation.
* ``custom_vjp``: reverse mode runs ``fwd`` and records one tape equation
  whose transpose is ``bwd``.  Unlike JAX it also works in forward mode: with
  ``defvjp(fwd, bwd, jvp=rule)`` the rule is used, otherwise the primal
  implementation is differentiated.
* ``vmap`` binds the primitive again on batched versions of every function,
  so the custom rules survive batching (``vmap(grad(f))``, ``grad(vmap(f))``).

>>> import wengert as wg, wengert.numpy as wnp
>>> @wg.custom_vjp
... def clip_grad(x):
...     return x
>>> clip_grad.defvjp(lambda x: (x, None), lambda res, g: (wnp.clip(g, -1.0, 1.0),))
>>> float(wg.grad(lambda x: 5.0 * clip_grad(x))(2.0))
1.0
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._control import (
    CaptureLeak,
    Closure,
    LinearFn,
    _bcast_raw,
    _canon,
    _inexact,
    _shape,
    _Substituted,
    _zeros,
    check_no_tracers,
    checked_jvp,
    is_linearizing,
    linearize_flat,
    record_linear,
    wrap_jvp,
)
from ._core import JVPTracer, Primitive, Tracer
from ._vmap import register_batch_rule, run_batched
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["custom_jvp", "custom_vjp"]


def _norm_nondiff(nondiff_argnums, name, caller):
    if isinstance(nondiff_argnums, int):
        nondiff_argnums = (nondiff_argnums,)
    try:
        nd = tuple(int(i) for i in nondiff_argnums)
    except TypeError:
        raise TypeError(f"{caller}({name}): nondiff_argnums must be an int or a tuple of "
                        f"ints, got {nondiff_argnums!r}") from None
    return nd


def _split_args(fun, args, kwargs, nondiff, caller, name):
    if kwargs:
        try:
            ba = inspect.signature(fun).bind(*args, **kwargs)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{caller}({name}): {e}") from None
        ba.apply_defaults()
        args = ba.args
        if ba.kwargs:
            raise TypeError(f"{caller}({name}): keyword-only arguments are not supported; "
                            "pass them positionally")
    n = len(args)
    nd = set()
    for i in nondiff:
        if not -n <= i < n:
            raise ValueError(f"{caller}({name}): nondiff_argnums entry {i} is out of range "
                             f"for a call with {n} argument(s)")
        nd.add(i % n)
    for i in sorted(nd):
        leaves = tree_flatten(args[i])[0]
        if any(isinstance(v, (Tracer, np.ndarray)) for v in leaves):
            raise TypeError(
                f"{caller}({name}): argument {i} is in nondiff_argnums but holds an array "
                "(or a traced value); nondiff_argnums is for static values such as functions, "
                "ints and strings. Pass arrays as ordinary arguments (the rule may ignore "
                "their tangents), or close over constants.")
    return tuple(args), sorted(nd)


class _Flat:
    """The call's arguments split into static nondiff values and leaves."""

    def __init__(self, args, nd):
        self.args = args
        self.nd = nd
        self.nd_vals = [args[i] for i in nd]
        diff = [a for i, a in enumerate(args) if i not in nd]
        leaves, self.tree = tree_flatten(diff)
        self.leaves = [_canon(x) for x in leaves]
        self.n_diff_args = len(diff)

    def diff_args(self, leaves):
        return list(tree_unflatten(self.tree, list(leaves)))

    def full_args(self, leaves):
        d = iter(self.diff_args(leaves))
        return [self.args[i] if i in self.nd else next(d) for i in range(len(self.args))]


def _record_out(box, tree, caller, name):
    if not box:
        box.append(tree)
    elif box[0] != tree:
        raise TypeError(f"{caller}({name}): the output structure {tree} differs from {box[0]}")


def _jvp_map_linearized(trace, jvp_flat, primals, tangents, name):
    """Reverse mode through a user JVP rule: linearize it in the tangents
    (at zero; the rule is linear in them) and record its transpose."""
    n_in = len(primals)
    diff = [t is not None and _inexact(x) for x, t in zip(primals, tangents)]

    def g(tt):
        return jvp_flat(primals, tt)

    vals, lin = linearize_flat(g, [_zeros(x) for x in primals], diff)
    n = len(vals) // 2
    outs = vals[:n]
    omask = [_inexact(o) for o in outs]

    def forward(ts):
        it = iter(ts)
        res = lin.forward([next(it) if d else None for d in diff])[n:]
        return [_zeros(o) if r is None else r for r, o, m in zip(res, outs, omask) if m]

    def transpose(cts):
        it = iter(cts)
        full = [None] * n + [next(it) if m else None for m in omask]
        got = lin.backward(full)
        return [c for c, d in zip(got[:n_in], diff) if d]

    fn = LinearFn(f"custom_jvp({name})", forward, transpose, sum(omask))
    return record_linear(trace, fn, [t for t, d in zip(tangents, diff) if d], outs, omask)


def _jvp_map_forward(trace, jvp_flat, primals, tangents):
    ts = [_zeros(x) if t is None else t for x, t in zip(primals, tangents)]
    res = jvp_flat(list(primals), ts)
    n = len(res) // 2
    return tuple(JVPTracer(trace, o, t) if _inexact(o) else o
                 for o, t in zip(res[:n], res[n:]))


# ----------------------------------------------------------------------------
# custom_jvp


def _cjvp_impl(*args):
    *xs, fun, jvp, name = args
    return check_no_tracers(tuple(fun(list(xs))))


def _check_consts(fun, tangents, caller, name):
    """Traced values the functions captured in their closures are operands
    after ``fun``'s own; the rule gives no derivative for them.  True when
    only they have tangents: then ``fun`` itself is differentiated."""
    k = getattr(fun, "n_consts", 0)
    if k and any(t is not None for t in tangents[len(tangents) - k:]):
        if all(t is None for t in tangents[:len(tangents) - k]):
            return True  # only closed-over values vary: the rule has nothing to say
        raise TypeError(
            f"{caller}({name}): differentiating with respect to a value the function (or "
            "its rule) closes over; the custom rule only says how to differentiate with "
            "respect to the function's arguments. Pass that value as an argument (and give "
            "the rule its derivative).")
    return False


def _with_consts(fn, k):
    fn.n_consts = k
    return fn


def _cjvp_jvp(trace, primals, tangents, params):
    fun, jvp, name = params
    if _check_consts(fun, tangents, "custom_jvp", name):
        return tuple(fun(list(wrap_jvp(trace, primals, tangents))))
    if is_linearizing(tangents):
        return _jvp_map_linearized(trace, jvp, primals, tangents, name)
    return _jvp_map_forward(trace, jvp, primals, tangents)


def _all_batched(size, vals, batched):
    return [v if b else _bcast_raw(_canon(v), size) for v, b in zip(vals, batched)]


def _batched2(fn2, size, n_first):
    """``fn2(a, b) -> list`` on all-batched raw values."""
    def f(a, b):
        outs, flags = run_batched(lambda z: fn2(z[:n_first], z[n_first:]), size,
                                  list(a) + list(b), [True] * (len(a) + len(b)))
        return [o if fl else _bcast_raw(_canon(o), size) for o, fl in zip(outs, flags)]
    return f


def _batched1(fn, size, n):
    def f(a):
        outs, flags = run_batched(fn, size, list(a), [True] * n)
        return [o if fl else _bcast_raw(_canon(o), size) for o, fl in zip(outs, flags)]
    return f


def _cjvp_batch(size, vals, batched, fun, jvp, name):
    vals = _all_batched(size, vals, batched)
    n = len(vals)
    return cjvp_p.bind(*vals, _with_consts(_batched1(fun, size, n), getattr(fun, "n_consts", 0)),
                       _batched2(jvp, size, n), name)


cjvp_p = Primitive("custom_jvp_call", _cjvp_impl, None, nparams=3, multiple_results=True,
                   doc="a function with a user-defined JVP rule")
cjvp_p.jvp_trace = checked_jvp(_cjvp_jvp)
register_batch_rule(cjvp_p, _cjvp_batch)


class custom_jvp:
    """A function with a custom JVP rule, as ``jax.custom_jvp``.

    ``@f.defjvp`` takes ``rule(*nondiff_args, primals, tangents) ->
    (primal_out, tangent_out)`` with ``primals`` and ``tangents`` tuples.
    The rule must be linear in the tangents; reverse mode transposes it.
    ``nondiff_argnums`` are static arguments (functions, ints, strings),
    passed to the rule first; arrays there are rejected.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> @wg.custom_jvp
    ... def f(x):
    ...     return wnp.sin(x)
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return wnp.sin(x), 2.0 * t   # a deliberately different derivative
    >>> float(wg.grad(f)(0.3)), float(wg.jvp(f, (0.3,), (1.0,))[1])
    (2.0, 2.0)
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        if not callable(fun):
            raise TypeError(f"custom_jvp: fun must be callable, got {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.name = getattr(fun, "__name__", "fun")
        self.nondiff_argnums = _norm_nondiff(nondiff_argnums, self.name, "custom_jvp")
        self.jvp = None

    def defjvp(self, jvp: Callable, symbolic_zeros: bool = False) -> Callable:
        if not callable(jvp):
            raise TypeError(f"custom_jvp({self.name}).defjvp: the rule must be callable")
        self.jvp = jvp
        return jvp

    def defjvps(self, *rules: Callable | None) -> None:
        """One rule per argument, ``rule(t, ans, *args)`` (JAX's ``defjvps``)."""
        fun = self.fun

        def jvp(primals, tangents):
            ans = fun(*primals)
            out = None
            for r, t in zip(rules, tangents):
                if r is None:
                    continue
                c = r(t, ans, *primals)
                out = c if out is None else out + c
            return ans, (out if out is not None else ans * 0.0)
        self.jvp = jvp

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self.name
        if self.jvp is None:
            raise TypeError(f"custom_jvp({name}) has no JVP rule: define one with "
                            f"@{name}.defjvp before calling it")
        args, nd = _split_args(self.fun, args, kwargs, self.nondiff_argnums, "custom_jvp", name)
        fl = _Flat(args, nd)
        box = []
        fun, rule = self.fun, self.jvp
        clo = Closure(fun, rule)  # traced values in closure cells become operands
        n, slots = len(fl.leaves), clo.slots

        def fun_flat(xs):
            with _Substituted(slots, xs[n:]):
                out = fun(*fl.full_args(xs[:n]))
            ol, ot = tree_flatten(out)
            _record_out(box, ot, "custom_jvp", name)
            return [_canon(o) for o in ol]

        def jvp_flat(ps, ts):
            with _Substituted(slots, ps[n:]):
                res = rule(*fl.nd_vals, tuple(fl.diff_args(ps[:n])), tuple(fl.diff_args(ts[:n])))
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise TypeError(f"custom_jvp({name}): the JVP rule must return a pair "
                                f"(primal_out, tangent_out), got {type(res).__name__}")
            out, tout = res
            ol, ot = tree_flatten(out)
            tl, tt = tree_flatten(tout)
            if ot != tt:
                raise TypeError(f"custom_jvp({name}): the JVP rule's tangent output {tt} does "
                                f"not match its primal output {ot}")
            for o, t in zip(ol, tl):
                if _shape(t) != _shape(o):
                    raise TypeError(f"custom_jvp({name}): the JVP rule returned a tangent of "
                                    f"shape {_shape(t)} for an output of shape {_shape(o)}")
            _record_out(box, ot, "custom_jvp", name)
            return [_canon(o) for o in ol] + [_canon(t) for t in tl]

        fun_flat.n_consts = len(clo.values)
        outs = _bind_custom(lambda: cjvp_p.bind(*fl.leaves, *clo.values, fun_flat, jvp_flat, name),
                            fl, self.fun, "custom_jvp", name)
        return tree_unflatten(box[0], list(outs))


# ----------------------------------------------------------------------------
# custom_vjp


def _cvjp_impl(*args):
    *xs, fun, fwd, bwd, jvp, n_out, name = args
    return check_no_tracers(tuple(fun(list(xs))))


def _cvjp_jvp(trace, primals, tangents, params):
    fun, fwd, bwd, jvp, n_out, name = params
    if _check_consts(fun, tangents, "custom_vjp", name):
        return tuple(fun(list(wrap_jvp(trace, primals, tangents))))
    if not is_linearizing(tangents):
        if jvp is not None:
            return _jvp_map_forward(trace, jvp, primals, tangents)
        # no forward rule: differentiate the primal implementation
        return tuple(fun(list(wrap_jvp(trace, primals, tangents))))
    diff = [t is not None and _inexact(x) for x, t in zip(primals, tangents)]
    res_all = fwd(list(primals))
    n = n_out[0]
    outs, res = res_all[:n], res_all[n:]
    omask = [_inexact(o) for o in outs]
    primals = list(primals)

    def forward(ts):
        it = iter(ts)
        full = [next(it) if d else None for d in diff]
        if jvp is not None:
            tz = [_zeros(x) for x in primals]
            vals, lin = linearize_flat(lambda tt: jvp(primals, tt), tz, diff)
            r = lin.forward(full)[len(vals) // 2:]
        else:
            _, lin = linearize_flat(fun, primals, diff)
            r = lin.forward(full)
        return [_zeros(o) if x is None else x for x, o, m in zip(r, outs, omask) if m]

    def transpose(cts):
        it = iter(cts)
        full = [next(it) if m else None for m in omask]
        full = [_zeros(o) if c is None else c for c, o in zip(full, outs)]
        got = bwd(res, full)
        return [g for g, d in zip(got, diff) if d]

    fn = LinearFn(f"custom_vjp({name})", forward, transpose, sum(omask))
    return record_linear(trace, fn, [t for t, d in zip(tangents, diff) if d], outs, omask)


def _cvjp_batch(size, vals, batched, fun, fwd, bwd, jvp, n_out, name):
    vals = _all_batched(size, vals, batched)
    n = len(vals)
    fun_b = _with_consts(_batched1(fun, size, n), getattr(fun, "n_consts", 0))
    fwd_b = _batched1(fwd, size, n)

    def bwd_b(res, cts):
        return _batched2(bwd, size, len(res))(res, cts)

    jvp_b = None if jvp is None else _batched2(jvp, size, n)
    return cvjp_p.bind(*vals, fun_b, fwd_b, bwd_b, jvp_b, n_out, name)


cvjp_p = Primitive("custom_vjp_call", _cvjp_impl, None, nparams=6, multiple_results=True,
                   doc="a function with a user-defined VJP rule")
cvjp_p.jvp_trace = checked_jvp(_cvjp_jvp)
register_batch_rule(cvjp_p, _cvjp_batch)


class custom_vjp:
    """A function with a custom VJP rule, as ``jax.custom_vjp``.

    ``f.defvjp(fwd, bwd)``: ``fwd(*args) -> (out, residuals)`` and
    ``bwd(*nondiff_args, residuals, cotangent_out) -> tuple`` with one
    cotangent per (non-static) argument (``None`` for zero).  Forward mode
    works too: it uses ``jvp=`` when given (``f.defvjp(fwd, bwd, jvp=rule)``,
    ``rule`` as in :class:`custom_jvp`), otherwise it differentiates ``f``
    itself.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> @wg.custom_vjp
    ... def f(x):
    ...     return x ** 2
    >>> f.defvjp(lambda x: (x ** 2, x), lambda x, g: (g * 100.0,))
    >>> float(wg.grad(f)(3.0)), float(wg.jvp(f, (3.0,), (1.0,))[1])
    (100.0, 6.0)
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        if not callable(fun):
            raise TypeError(f"custom_vjp: fun must be callable, got {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.name = getattr(fun, "__name__", "fun")
        self.nondiff_argnums = _norm_nondiff(nondiff_argnums, self.name, "custom_vjp")
        self.fwd = self.bwd = self.jvp = None

    def defvjp(self, fwd: Callable, bwd: Callable, jvp: Callable | None = None,
               symbolic_zeros: bool = False) -> None:
        for what, f in (("fwd", fwd), ("bwd", bwd)):
            if not callable(f):
                raise TypeError(f"custom_vjp({self.name}).defvjp: {what} must be callable")
        if jvp is not None and not callable(jvp):
            raise TypeError(f"custom_vjp({self.name}).defvjp: jvp must be callable or None")
        self.fwd, self.bwd, self.jvp = fwd, bwd, jvp

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self.name
        if self.fwd is None:
            raise TypeError(f"custom_vjp({name}) has no VJP rule: call "
                            f"{name}.defvjp(fwd, bwd) before calling it")
        args, nd = _split_args(self.fun, args, kwargs, self.nondiff_argnums, "custom_vjp", name)
        fl = _Flat(args, nd)
        box = []
        n_out = []
        res_box = []
        fun, fwd_u, bwd_u, jvp_u = self.fun, self.fwd, self.bwd, self.jvp
        leaves0 = fl.leaves
        # traced values in closure cells become operands (after the arguments);
        # fwd hands them to bwd after the residuals
        clo = Closure(*(g for g in (fun, fwd_u, bwd_u, jvp_u) if g is not None))
        n, slots, k = len(fl.leaves), clo.slots, len(clo.values)

        def fun_flat(xs):
            with _Substituted(slots, xs[n:]):
                out = fun(*fl.full_args(xs[:n]))
            ol, ot = tree_flatten(out)
            _record_out(box, ot, "custom_vjp", name)
            if not n_out:
                n_out.append(len(ol))
            return [_canon(o) for o in ol]

        def fwd_flat(xs):
            with _Substituted(slots, xs[n:]):
                r = fwd_u(*fl.full_args(xs[:n]))
            if not (isinstance(r, (tuple, list)) and len(r) == 2):
                raise TypeError(f"custom_vjp({name}): fwd must return a pair (out, residuals), "
                                f"got {type(r).__name__}")
            out, res = r
            ol, ot = tree_flatten(out)
            _record_out(box, ot, "custom_vjp", name)
            if not n_out:
                n_out.append(len(ol))
            rl, rt = tree_flatten(res)
            if not res_box:
                res_box.append(rt)
            return [_canon(o) for o in ol] + list(rl) + list(xs[n:])

        def bwd_flat(res_leaves, cts):
            res_leaves = list(res_leaves)
            consts = res_leaves[len(res_leaves) - k:] if k else []
            res = tree_unflatten(res_box[0], res_leaves[:len(res_leaves) - k])
            ct = tree_unflatten(box[0], list(cts))
            with _Substituted(slots, consts):
                got = bwd_u(*fl.nd_vals, res, ct)
            if not isinstance(got, (tuple, list)) or len(got) != fl.n_diff_args:
                raise TypeError(
                    f"custom_vjp({name}): bwd must return a tuple with one cotangent per "
                    f"differentiable argument ({fl.n_diff_args}), got "
                    f"{type(got).__name__}{'' if not isinstance(got, (tuple, list)) else f' of length {len(got)}'}")
            out = []
            for g, a in zip(got, fl.diff_args(leaves0)):
                al, at = tree_flatten(a)
                g = _fill_none(g, a)
                gl, gt = tree_flatten(g)
                if gt != at:
                    raise TypeError(f"custom_vjp({name}): bwd returned a cotangent of "
                                    f"structure {gt} for an argument of structure {at}")
                for c, x in zip(gl, al):
                    if c is None:
                        out.append(_zeros(x))
                        continue
                    if _shape(c) != _shape(x):
                        raise TypeError(f"custom_vjp({name}): bwd returned a cotangent of "
                                        f"shape {_shape(c)} for an argument of shape {_shape(x)}")
                    out.append(c)
            return out

        jvp_flat = None
        if jvp_u is not None:
            def jvp_flat(ps, ts):
                with _Substituted(slots, ps[n:]):
                    res = jvp_u(*fl.nd_vals, tuple(fl.diff_args(ps[:n])), tuple(fl.diff_args(ts[:n])))
                out, tout = res
                ol, ot = tree_flatten(out)
                tl, _ = tree_flatten(tout)
                _record_out(box, ot, "custom_vjp", name)
                return [_canon(o) for o in ol] + [_canon(t) for t in tl]

        def fwd_call(xs):
            return fwd_flat(xs)

        fun_flat.n_consts = k
        outs = _bind_custom(lambda: cvjp_p.bind(*fl.leaves, *clo.values, fun_flat, fwd_call,
                                                _bwd_adapter(bwd_flat, res_box), jvp_flat, n_out, name),
                            fl, self.fun, "custom_vjp", name)
        return tree_unflatten(box[0], list(outs))


def _bind_custom(bind, fl, fun, caller, name):
    """Bind a custom-rule call.  When the function or a rule uses a traced
    value that is not one of its arguments (captured in a closure, a global,
    an attribute), the rule cannot account for that value: with no traced
    argument the function runs as plain code (nothing for the rule to do);
    otherwise this is an error, never a silently different derivative."""
    try:
        return bind()
    except CaptureLeak:
        if not any(isinstance(x, Tracer) for x in fl.leaves):
            out = fun(*fl.args)
            return tree_flatten(out)[0]
        raise TypeError(
            f"{caller}({name}): the function or its derivative rule uses a traced value "
            "that is not one of its arguments (it reached it through a closure, a global, "
            "an object attribute or a default argument), so the custom rule cannot account "
            "for it. Pass that value as an explicit argument of the function (and give "
            "the rule its derivative).") from None


def _fill_none(g, a):
    """``None`` in a cotangent stands for zeros shaped like that part of the argument."""
    if g is None:
        return tree_unflatten(tree_flatten(a)[1], [_zeros(x) for x in tree_flatten(a)[0]])
    if isinstance(g, dict) and isinstance(a, dict) and set(g) == set(a):
        return {k: _fill_none(g[k], a[k]) for k in g}
    if isinstance(g, (tuple, list)) and isinstance(a, (tuple, list)) and len(g) == len(a):
        return type(a)(_fill_none(x, y) for x, y in zip(g, a))
    return g


def _bwd_adapter(bwd_flat, res_box):
    def bwd(res, cts):
        return bwd_flat(res, cts)
    return bwd
