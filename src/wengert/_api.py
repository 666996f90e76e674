"""The differentiation transformations: grad, value_and_grad, jvp, vjp,
linearize, jacfwd, jacrev, hessian, stop_gradient.

User-facing functions flatten pytrees at the edge and call list-level
drivers; traces only ever see flat lists of arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _prims as P
from ._core import (
    JVPTrace,
    JVPTracer,
    LinVar,
    TapeTrace,
    Tracer,
    backward_pass,
    end_level,
    evaluate_tape,
    new_level,
    writeable,
)
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "linearize", "jacfwd", "jacrev",
           "hessian", "stop_gradient"]


# ----------------------------------------------------------------------------
# Argument checking


def _fname(fun) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


def _norm_argnums(argnums, nargs, fname, caller):
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(argnums) if isinstance(argnums, (tuple, list)) else None
    if nums is None or not all(isinstance(a, (int, np.integer)) for a in nums):
        raise TypeError(f"{caller}({fname}): argnums must be an int or a tuple of ints, got {argnums!r}")
    if not nums:
        raise ValueError(f"{caller}({fname}): argnums is empty; name at least one argument")
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(
                f"{caller}({fname}): argnums={argnums!r} asks for argument {a}, but "
                f"{fname} was called with {nargs} positional argument{'s' if nargs != 1 else ''}")
        out.append(int(a) % nargs)
    # each argument is differentiated once; an argument named twice gets its
    # gradient in both places (pick maps argnums' entries to the unique ones)
    uniq = tuple(dict.fromkeys(out))
    pick = None if single else tuple(uniq.index(a) for a in out)
    return pick, uniq


def _pick(g, pick):
    """The result for each entry of argnums from ``g`` (one per distinct argument);
    a repeated entry gets its own copy."""
    if pick is None:
        return g[0]
    if len(pick) == len(g):
        return tuple(g)
    seen = set()
    out = []
    for i in pick:
        out.append(_copy_leaves(g[i]) if i in seen else g[i])
        seen.add(i)
    return tuple(out)


def _copy_leaves(tree):
    from .tree_util import tree_map
    return tree_map(lambda x: x.copy() if isinstance(x, np.ndarray) else x, tree)


def _diff_input(x, fname, caller, holomorphic=False, allow_int=False):
    """Check and canonicalise one differentiated input leaf."""
    x = _unwrap(x)  # a wg.Tensor is differentiated as its value
    t = type(x)
    if t is float:
        return np.float64(x) if not holomorphic else _diff_input(np.float64(x), fname, caller, True)
    if (t is np.float64 or t is np.ndarray and x.dtype.kind == "f") and not holomorphic:
        return x
    if t is complex:
        return np.complex128(x)
    if isinstance(x, Tracer):
        dt = np.dtype(x.dtype)
    else:
        if t is int or t is bool or not isinstance(x, (np.ndarray, np.generic)):
            if isinstance(x, (list, tuple)) or x is None or t is int or t is bool or np.isscalar(x):
                x = np.asarray(x)
            else:
                x = np.asarray(x)
        dt = x.dtype
    if dt.kind not in "fc" and not allow_int:
        if dt.kind == "O" and t not in (list, tuple):
            raise TypeError(
                f"{caller}({fname}): an argument leaf is a {t.__name__}, not an array or number. "
                "Make its class a pytree node: wg.tree_util.register_dataclass(cls) for a "
                "dataclass (frozen dataclasses are nodes automatically), "
                "wg.tree_util.register_pytree_node otherwise.")
        raise TypeError(
            f"{caller}({fname}) requires real- or complex-valued inputs (floating "
            f"dtype), but got {dt.name}. Pass floats, e.g. `3.0` instead of `3`, or "
            "`x.astype(float)`; integer arguments that need no derivative can be left "
            "out of argnums.")
    if holomorphic and dt.kind != "c":
        raise TypeError(f"{caller}({fname}, holomorphic=True) requires complex inputs, got {dt.name}")
    return x


def _unwrap(x):
    """A result that wraps a value (a ``wg.Tensor``, whose data may be this
    transformation's tracer) hands that value over."""
    if type(x) is not JVPTracer and isinstance(x, Tracer):
        f = getattr(type(x), "_unwrap_output", None)
        if f is not None:
            return f(x)
    return x


def _as_out(x):
    """Results leave transformations as NumPy values."""
    if isinstance(x, Tracer) or isinstance(x, (np.ndarray, np.generic)):
        return x
    if isinstance(x, (int, float, complex, bool)):
        return np.asarray(x)[()]
    return x


def _zeros_like(x):
    if isinstance(x, Tracer):
        return np.zeros(tuple(x.shape), dtype=x.dtype)
    return np.zeros(np.shape(x), dtype=np.result_type(x))


def _fit_cts(lins, leaves):
    """The inputs' cotangents as results: each in its input's dtype and
    shape, a fresh writeable array (a sweep may leave a read-only broadcast
    view, or one array shared by several inputs)."""
    out = [_fit_ct(v.ct, x) for v, x in zip(lins, leaves)]
    if len(out) > 1:
        seen = set()
        for i, g in enumerate(out):
            if type(g) is np.ndarray:
                if id(g) in seen:
                    out[i] = g.copy()
                else:
                    seen.add(id(g))
    return out


def _fit_ct(ct, x):
    """Cast a cotangent to its input's dtype (float32 stays float32)."""
    if type(ct) is np.ndarray:
        if type(x) is np.ndarray and ct.dtype == x.dtype and ct.shape == x.shape:
            return ct if ct.flags.writeable else ct.copy()
    elif type(ct) is type(x) and ct.dtype is x.dtype:  # NumPy scalars
        return ct
    if ct is None:
        return _zeros_like(x)
    if isinstance(ct, Tracer):
        if np.dtype(ct.dtype).kind == "c" and np.dtype(x.dtype).kind != "c":
            return P.real(ct)  # a real input's cotangent is real (also when nested)
        return ct
    if not isinstance(ct, (np.ndarray, np.generic)):
        ct = np.asarray(ct)
    dt = x.dtype
    if ct.dtype != dt:
        if ct.dtype.kind == "c" and dt.kind != "c":
            ct = ct.real
        ct = ct.astype(dt)
    xs = x.shape if type(x) is np.ndarray else np.shape(x)
    if ct.shape != xs:
        ct = np.broadcast_to(ct, xs).copy()
    elif type(ct) is np.ndarray and not ct.flags.writeable:
        ct = ct.copy()
    return ct


# ----------------------------------------------------------------------------
# Reverse mode drivers


_LEAF_TYPES = (float, np.ndarray, np.float64, np.float32, np.complex128, np.complex64)


_ARGNUMS_CACHE: dict = {}


def _prepare(fun, args, argnums, caller, holomorphic=False):
    fname = _fname(fun)
    key = (argnums, len(args))
    _cache = _ARGNUMS_CACHE
    try:
        pick, nums = _cache[key]
    except (KeyError, TypeError):
        pick, nums = _norm_argnums(argnums, len(args), fname, caller)
        try:
            _cache[key] = (pick, nums)
        except TypeError:
            pass
    diff = [args[i] for i in nums]
    for d in diff:
        if type(d) not in _LEAF_TYPES:
            break
    else:  # flat fast path: every differentiated argument is one array leaf
        return fname, pick, nums, [_diff_input(x, fname, caller, holomorphic) for x in diff], None
    leaves, in_tree = tree_flatten(diff)
    leaves = [_diff_input(x, fname, caller, holomorphic) for x in leaves]
    return fname, pick, nums, leaves, in_tree


def _unflatten(in_tree, leaves):
    return list(leaves) if in_tree is None else tree_unflatten(in_tree, leaves)


def _rebuild(args, nums, in_tree, new_leaves):
    diff = _unflatten(in_tree, new_leaves)
    args = list(args)
    for i, d in zip(nums, diff):
        args[i] = d
    return args


def _check_scalar(out, fname, caller, holomorphic):
    if isinstance(out, JVPTracer):
        shape, dt = out.shape, np.dtype(out.dtype)
    elif isinstance(out, Tracer):
        shape, dt = tuple(out.shape), np.dtype(out.dtype)
    else:
        arr = out if isinstance(out, (np.ndarray, np.generic)) else None
        if arr is None:
            try:
                arr = np.asarray(out)
            except Exception:
                arr = None
            if arr is None or arr.dtype == object:
                raise TypeError(
                    f"{caller}({fname}) needs a scalar array output, but {fname} returned "
                    f"{type(out).__name__}. Return one scalar (use has_aux=True to return "
                    "extra values as (value, aux)).")
        shape, dt = arr.shape, arr.dtype
    if shape != ():
        raise TypeError(
            f"{caller}({fname}) needs a scalar output (shape ()), but {fname} returned "
            f"shape {tuple(shape)}. Reduce it (e.g. `.sum()`), or use wg.jacrev / wg.vjp "
            "for non-scalar outputs.")
    if dt.kind == "c" and not holomorphic:
        raise TypeError(
            f"{caller}({fname}) needs a real scalar output, but {fname} returned "
            f"{dt.name}. Use holomorphic=True for holomorphic functions, or take the "
            "real part / abs.")
    if dt.kind not in "fc":
        raise TypeError(f"{caller}({fname}) needs a floating-point output, got {dt.name}")


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   holomorphic: bool = False) -> Callable:
    """``(value, gradient)`` of a scalar-output ``fun`` in one reverse pass.

    >>> import wengert as wg
    >>> v, g = wg.value_and_grad(lambda x, y: x * x * y + y + 2, argnums=(0, 1))(3.0, 4.0)
    >>> float(v), float(g[0]), float(g[1])
    (42.0, 24.0, 10.0)
    """
    caller = "value_and_grad"

    @functools.wraps(fun)
    def value_and_grad_f(*args, **kwargs):
        fname, pick, nums, leaves, in_tree = _prepare(fun, args, argnums, caller, holomorphic)
        level = new_level()
        trace = JVPTrace(level)
        tape = TapeTrace(level + 0.5)
        try:
            lins = [LinVar(tape, None, (), ()) for _ in leaves]
            tracers = [JVPTracer(trace, x, v) for x, v in zip(leaves, lins)]
            out = fun(*_rebuild(args, nums, in_tree, tracers), **kwargs)
            if has_aux:
                if not (isinstance(out, (tuple, list)) and len(out) == 2):
                    raise TypeError(f"{caller}({fname}, has_aux=True) needs {fname} to return "
                                    f"a pair (value, aux), got {type(out).__name__}")
                out, aux = out
            out = _unwrap(out)
            if isinstance(out, JVPTracer) and out._trace is trace:
                _check_scalar(out, fname, caller, holomorphic)
                val, t = out.primal, out.tangent
            else:
                _check_scalar(out, fname, caller, holomorphic)
                val, t = out, None
        finally:
            end_level()
            trace.kill()
        try:
            if t is not None:
                backward_pass(tape, [(t, _one(val))])
            grads = _fit_cts(lins, leaves)
        finally:
            tape.tape = []
            tape.kill()
        g = _unflatten(in_tree, grads)
        g = _pick(g, pick)
        val = _as_out(val)
        if has_aux:
            return (val, _strip(aux, trace)), g
        return val, g

    return value_and_grad_f


_ONES = {}


def _one(val):
    """The seed cotangent 1 in the output's dtype."""
    dt = getattr(val, "dtype", None)
    if dt is not None:
        dt = np.dtype(dt)
    one = _ONES.get(dt)
    if one is None:
        one = _ONES[dt] = np.ones((), dtype=dt if dt is not None else np.float64)[()]
    return one


def _strip(tree, trace):
    """Replace this trace's tracers in ``tree`` (an aux output) by their primals."""
    from .tree_util import tree_map

    def f(x):
        while isinstance(x, JVPTracer) and x._trace is trace:
            x = x.primal
        return x
    return tree_map(f, tree)


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False) -> Callable:
    """Gradient of a scalar-output ``fun`` by reverse mode.

    ``argnums`` picks the argument(s) (int or tuple); arguments may be pytrees.
    A non-scalar output is a TypeError, as in JAX: reduce it first, or use
    ``jacrev``.  For real-valued functions of complex inputs the result follows
    JAX's convention (PyTorch returns its conjugate).

    >>> import wengert as wg, wengert.numpy as wnp
    >>> float(wg.grad(lambda x: x ** 4 + 3 * x ** 2 + 2 * x)(2.0))
    46.0
    >>> float(wg.grad(wg.grad(lambda x: x ** 4 + 3 * x ** 2 + 2 * x))(2.0))
    54.0
    """
    vg = value_and_grad(fun, argnums, has_aux, holomorphic)

    @functools.wraps(fun)
    def grad_f(*args, **kwargs):
        if has_aux:
            (_, aux), g = vg(*args, **kwargs)
            return g, aux
        return vg(*args, **kwargs)[1]

    return grad_f


def _linearize_trace(fun, primals, caller, has_aux=False):
    """Run ``fun`` on JVP tracers whose tangents are fresh LinVar inputs.

    Returns (leaves, in_tree, tape, lins, vals, ts, out_tree, aux): the
    checked input leaves, the linear tape and its input LinVars, the output
    primals and their tangents (None: symbolic zero).
    """
    fname = _fname(fun)
    leaves, in_tree = tree_flatten(list(primals))
    leaves = [_diff_input(x, fname, caller) for x in leaves]
    level = new_level()
    trace = JVPTrace(level)
    tape = TapeTrace(level + 0.5)
    aux = None
    try:
        lins = [LinVar(tape, None, (), ()) for _ in leaves]
        tracers = [JVPTracer(trace, x, v) for x, v in zip(leaves, lins)]
        out = fun(*tree_unflatten(in_tree, tracers))
        if has_aux:
            out, aux = out
            aux = _strip(aux, trace)
        out_leaves, out_tree = tree_flatten(out)
        vals, ts = trace.split_outputs([_unwrap(o) for o in out_leaves], _as_out)
    finally:
        end_level()
        trace.kill()
    return leaves, in_tree, tape, lins, vals, ts, out_tree, aux


def _vjp_fun(who, leaves, in_tree, tape, lins, vals, ts, out_tree):
    """The pullback of a linearised trace: cotangents of the outputs to
    cotangents of the inputs (one backward sweep of ``tape`` per call)."""

    def vjp_fun(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ValueError(f"{who}: the cotangent's structure {ct_tree} does not match "
                             f"the output's {out_tree}")
        for c, v in zip(ct_leaves, vals):
            if np.shape(c) != np.shape(v) and not isinstance(c, Tracer):
                raise ValueError(f"{who}: cotangent of shape {np.shape(c)} for an output "
                                 f"of shape {np.shape(v)}")
        for v in lins:
            v.ct = None
        backward_pass(tape, [(t, c) for t, c in zip(ts, ct_leaves)
                             if t is not None])
        grads = _fit_cts(lins, leaves)
        for v in lins:
            v.ct = None
        return tuple(tree_unflatten(in_tree, grads))

    return vjp_fun


def vjp(fun: Callable, *primals: Any, has_aux: bool = False):
    """Reverse mode: ``(out, vjp_fun)``; ``vjp_fun(ct)`` returns one cotangent per primal.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> out, f_vjp = wg.vjp(lambda x: wnp.stack([x ** 2, x ** 3]), 2.0)
    >>> f_vjp(wnp.ones(2))
    (np.float64(16.0),)
    """
    fname = _fname(fun)
    leaves, in_tree, tape, lins, vals, ts, out_tree, aux = _linearize_trace(fun, primals, "vjp", has_aux)
    vjp_fun = _vjp_fun(f"vjp({fname})", leaves, in_tree, tape, lins, vals, ts, out_tree)
    out = tree_unflatten(out_tree, vals)
    if has_aux:
        return out, vjp_fun, aux
    return out, vjp_fun


def linearize(fun: Callable, *primals: Any):
    """``(out, f_jvp)``: ``f_jvp(*tangents)`` is the JVP at the fixed point,
    evaluated from the recorded linear tape without re-running ``fun``.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> y, f_jvp = wg.linearize(wnp.sin, 0.0)
    >>> float(f_jvp(2.0))
    2.0
    """
    fname = _fname(fun)
    leaves, in_tree, tape, lins, vals, ts, out_tree, _ = _linearize_trace(fun, primals, "linearize")

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(list(tangents))
        if t_tree != in_tree:
            raise ValueError(f"linearize({fname}): tangents' structure {t_tree} does not "
                             f"match the primals' {in_tree}")
        t_leaves = [np.asarray(t) if not isinstance(t, (Tracer, np.ndarray, np.generic)) else t
                    for t in t_leaves]
        res = evaluate_tape(tape, lins, t_leaves, ts)
        res = [(_zeros_like(v) if r is None else r) for r, v in zip(res, vals)]
        return tree_unflatten(out_tree, res)

    return tree_unflatten(out_tree, vals), f_jvp


# ----------------------------------------------------------------------------
# Forward mode


def _jvp_flat(fun_flat, primals, tangents):
    level = new_level()
    trace = JVPTrace(level)
    try:
        tracers = [JVPTracer(trace, x, t) for x, t in zip(primals, tangents)]
        outs = fun_flat(tracers)
        vals, touts = trace.split_outputs([_unwrap(o) for o in outs], _as_out)
    finally:
        end_level()
        trace.kill()
    touts = [_zeros_like(v) if t is None else writeable(t) for t, v in zip(touts, vals)]
    return vals, touts


def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Forward mode: ``(fun(*primals), J·tangents)``.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> wg.jvp(lambda x: wnp.stack([x ** 2, x ** 3]), (2.0,), (1.0,))[1]
    array([ 4., 12.])
    """
    fname = _fname(fun)
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"jvp({fname}): primals and tangents must be tuples or lists, got "
                        f"{type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp({fname}): {len(primals)} primals but {len(tangents)} tangents")
    p_leaves, p_tree = tree_flatten(list(primals))
    t_leaves, t_tree = tree_flatten(list(tangents))
    if p_tree != t_tree:
        raise ValueError(f"jvp({fname}): primals {p_tree} and tangents {t_tree} differ in structure")
    p_leaves = [_diff_input(x, fname, "jvp") for x in p_leaves]
    t_fixed = []
    for x, t in zip(p_leaves, t_leaves):
        if not isinstance(t, Tracer):
            t = np.asarray(t, dtype=x.dtype if np.ndim(t) == 0 and not isinstance(t, np.ndarray) else None)
            if t.shape != np.shape(x):
                raise ValueError(f"jvp({fname}): tangent of shape {t.shape} for a primal of "
                                 f"shape {np.shape(x)}")
            if t.ndim == 0:
                t = t[()]
        t_fixed.append(t)
    aux_box = []

    def fun_flat(tracers):
        out = fun(*tree_unflatten(p_tree, tracers))
        if has_aux:
            out, aux = out
            aux_box.append(aux)
            aux_box.append(tracers[0]._trace if tracers else None)
        leaves, tree = tree_flatten(out)
        aux_box.insert(0, tree)
        return leaves

    vals, touts = _jvp_flat(fun_flat, p_leaves, t_fixed)
    out_tree = aux_box[0]
    res = (tree_unflatten(out_tree, vals), tree_unflatten(out_tree, touts))
    return res + (_strip(aux_box[1], aux_box[2]),) if has_aux else res


# ----------------------------------------------------------------------------
# Jacobians and Hessians


def _std_basis(leaves):
    sizes = [int(np.size(x)) for x in leaves]
    n = sum(sizes)
    dt = np.result_type(*[np.asarray(x).dtype if not isinstance(x, Tracer) else x.dtype for x in leaves])
    return np.eye(n, dtype=dt), sizes


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           chunk_size: int | None = None, holomorphic: bool = False) -> Callable:
    """Jacobian by forward mode, shaped ``out.shape + in.shape``; the basis
    tangents are pushed through together (``vmap`` of ``jvp``), ``chunk_size``
    at a time.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> wg.jacfwd(wnp.sin)(wnp.zeros(2))
    array([[1., 0.],
           [0., 1.]])
    """
    return _jacobian(fun, argnums, has_aux, chunk_size, holomorphic, "jacfwd")


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           chunk_size: int | None = None, holomorphic: bool = False) -> Callable:
    """Jacobian by reverse mode, shaped ``out.shape + in.shape``; the output
    basis cotangents are pulled back together (``vmap`` of ``vjp``).

    >>> import wengert as wg, wengert.numpy as wnp
    >>> wg.jacrev(lambda x: x ** 2)(wnp.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    return _jacobian(fun, argnums, has_aux, chunk_size, holomorphic, "jacrev")


def _jacobian(fun, argnums, has_aux, chunk_size, holomorphic, mode):
    from ._vmap import vmap

    @functools.wraps(fun)
    def jac_f(*args, **kwargs):
        fname, pick, nums, leaves, in_tree = _prepare(fun, args, argnums, mode, holomorphic)

        def f_flat(*xs):
            return fun(*_rebuild(args, nums, in_tree, list(xs)), **kwargs)

        aux = None
        if mode == "jacfwd" and len(leaves) == 1 and not isinstance(leaves[0], Tracer) \
                and np.ndim(leaves[0]) == 0:
            # a scalar input: the Jacobian is one JVP with tangent 1 (no basis, no batching)
            box = []

            def fun_flat(tracers):
                out = f_flat(*tracers)
                if has_aux:
                    out, a = out
                    box.append(_strip(a, tracers[0]._trace))
                out_leaves, out_tree = tree_flatten(out)
                box.insert(0, out_tree)
                return out_leaves

            x0 = leaves[0]
            _, t_leaves = _jvp_flat(fun_flat, [x0], [_one(x0)])
            jac = tree_unflatten(box[0], [_pick([t], pick) for t in t_leaves])
            return (jac, box[1]) if has_aux else jac
        if mode == "jacfwd":
            basis, sizes = _std_basis(leaves)
            n = basis.shape[0]
            tangent_sets = _split_basis(basis, sizes, leaves)
            aux_box = []

            def push(*ts):
                res = jvp(f_flat, tuple(leaves), tuple(ts), has_aux=has_aux)
                if has_aux and not aux_box:
                    aux_box.append(res[2])
                return res[1]

            tout = _chunked_vmap(vmap, push, tangent_sets, n, chunk_size)
            if has_aux:
                aux = aux_box[0]
            tout_leaves, out_tree = tree_flatten(tout)
            jac_leaves = []
            for t in tout_leaves:
                # t: (n,) + out.shape  -> out.shape + (n,)
                out_shape = tuple(t.shape)[1:]
                t = _np_moveaxis(t, 0, -1)
                jac_leaves.append(_split_last(t, sizes, leaves, out_shape))
        else:
            _, l_tree, tape, lins, vals, ts, out_tree, aux = _linearize_trace(f_flat, leaves, mode, has_aux)
            o0 = vals[0] if len(vals) == 1 else None
            if o0 is not None and not isinstance(o0, Tracer) and np.ndim(o0) == 0:
                # a scalar output: the Jacobian is the gradient (one sweep, no basis)
                if ts[0] is not None:
                    backward_pass(tape, [(ts[0], _one(o0))])
                cts = _fit_cts(lins, leaves)
                tape.tape = []
                g = _unflatten(in_tree, cts)
                jac = tree_unflatten(out_tree, [_pick(g, pick)])
                return (jac, aux) if has_aux else jac
            f_vjp = _vjp_fun(f"{mode}({fname})", leaves, l_tree, tape, lins, vals, ts, out_tree)
            out_leaves = vals
            basis, sizes = _std_basis(out_leaves)
            n = basis.shape[0]
            ct_sets = _split_basis(basis, sizes, out_leaves)

            def pull(*cts):
                return f_vjp(tree_unflatten(out_tree, list(cts)))

            cts = _chunked_vmap(vmap, pull, ct_sets, n, chunk_size)
            # cts[j]: (n,) + in_j.shape ; split n over outputs
            jac_leaves = []
            offs = np.cumsum([0] + sizes).tolist()
            for k, o in enumerate(out_leaves):
                per_in = []
                for x, c in zip(leaves, cts):
                    block = c[offs[k]:offs[k + 1]]
                    per_in.append(_reshape_any(block, np.shape(o) + np.shape(x)))
                jac_leaves.append(per_in)
        # assemble: each output leaf -> pytree of inputs
        out_jacs = []
        for per_in in jac_leaves:
            g = _unflatten(in_tree, per_in)
            out_jacs.append(_pick(g, pick))
        jac = tree_unflatten(out_tree, out_jacs)
        return (jac, aux) if has_aux else jac

    return jac_f


def _reshape_any(x, shape):
    if isinstance(x, Tracer):
        from .numpy import reshape
        return reshape(x, shape)
    return np.reshape(x, shape)


def _np_moveaxis(x, a, b):
    if isinstance(x, Tracer):
        from .numpy import moveaxis
        return moveaxis(x, a, b)
    return np.moveaxis(x, a, b)


def _split_basis(basis, sizes, leaves):
    out = []
    start = 0
    for s, x in zip(sizes, leaves):
        blk = basis[:, start:start + s].reshape((basis.shape[0],) + np.shape(x))
        dt = x.dtype
        out.append(blk.astype(dt, copy=False))
        start += s
    return out


def _split_last(t, sizes, leaves, out_shape):
    res = []
    start = 0
    for s, x in zip(sizes, leaves):
        blk = t[..., start:start + s]
        res.append(_reshape_any(blk, tuple(out_shape) + np.shape(x)))
        start += s
    return res


def _chunked_vmap(vmap, fn, batched_args, n, chunk_size):
    if n == 1:
        # one basis vector (a scalar input for jacfwd, a scalar output for
        # jacrev): a single jvp / vjp, no batching machinery
        from .tree_util import tree_map
        out = fn(*[a[0] for a in batched_args])
        return tree_map(lambda v: _reshape_any(v, (1,) + tuple(np.shape(v) if not isinstance(v, Tracer)
                                                                 else v.shape)), out)
    if chunk_size is None or chunk_size >= n:
        return vmap(fn)(*batched_args)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size}")
    from .numpy import concatenate
    parts = []
    for s in range(0, n, chunk_size):
        parts.append(vmap(fn)(*[a[s:s + chunk_size] for a in batched_args]))
    leaves0, tree = tree_flatten(parts[0])
    cols = [tree_flatten(p)[0] for p in parts]
    merged = []
    for j in range(len(leaves0)):
        merged.append(concatenate([c[j] for c in cols], axis=0))
    return tree_unflatten(tree, merged)


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
            chunk_size: int | None = None, holomorphic: bool = False) -> Callable:
    """Hessian by forward-over-reverse: ``jacfwd(jacrev(fun))``, the basis
    tangents batched (no Python loop over them).

    >>> import wengert as wg, wengert.numpy as wnp
    >>> wg.hessian(lambda x: wnp.sum(x ** 3))(wnp.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacfwd(jacrev(fun, argnums, has_aux, holomorphic=holomorphic), argnums,
                  has_aux, chunk_size, holomorphic)


def stop_gradient(x):
    """Identity whose derivative is zero, on pytrees.

    >>> import wengert as wg
    >>> float(wg.grad(lambda x: x * wg.stop_gradient(x))(3.0))
    3.0
    """
    from .tree_util import tree_map
    return tree_map(lambda v: P.stop_gradient_p.bind(v) if isinstance(v, Tracer) else v, x)
