"""``wg.check_grads``: AD against finite differences, as in JAX and autograd.

Forward mode is checked by comparing ``jvp(f, args, v)`` with a finite
difference of ``f`` along ``v``; reverse mode by the adjoint identity
``<ct, J v> = <Jᵀ ct, v>`` with the same finite difference, for random
directions ``v`` and cotangents ``ct``.  Each argument is checked on its
own, so a failure names it; the report then finds the worst element by
comparing ``∂<ct, f>/∂x[k]`` element by element.  ``order=2`` repeats the
checks on the JVP and VJP functions themselves (second derivatives), and so
on recursively.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .tree_util import tree_flatten, tree_unflatten

__all__ = ["check_grads"]

# JAX's default gradient tolerances
_DEFAULT_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.complex128): 1e-5,
                np.dtype(np.float32): 2e-3, np.dtype(np.complex64): 2e-3,
                np.dtype(np.float16): 1e-2}
_MAX_DIAGNOSE = 4096  # elements: beyond this a failure is reported without an element index


def check_grads(f: Callable, args: Sequence[Any], order: int = 2,
                modes: Sequence[str] = ("fwd", "rev"), atol: float | None = None,
                rtol: float | None = None, eps: float | None = None) -> None:
    """Check ``f``'s derivatives at ``args`` against finite differences.

    JAX's / autograd's meaning: for each argument, ``"fwd"`` compares the
    JVP along a random direction with a 4th-order central difference, and
    ``"rev"`` checks the VJP of a random cotangent through ``<ct, J v> =
    <Jᵀ ct, v>``; ``order=k`` checks derivatives up to order ``k`` by
    recursing into the JVP/VJP functions.  ``atol``/``rtol`` default to
    JAX's 1e-5 in float64 (2e-3 in float32); ``eps`` is the
    finite-difference step, by default ``eps_dtype^(1/3)·max(|x|, 1)``:
    smaller than the 4th-order optimum ``eps^(1/5)``, which keeps the points
    close to ``x`` (away from kinks) while the rounding error, about
    ``eps^(2/3)``, stays far below the tolerance.
    Passes silently; on a mismatch raises ``AssertionError`` naming the
    argument, the worst element's index, the AD and numerical values and
    their difference.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> wg.check_grads(lambda x, y: wnp.sin(x) * y, (wnp.array([0.5, 1.0]), 2.0), order=2)
    """
    fname = getattr(f, "__name__", None) or type(f).__name__
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"check_grads({fname}): args must be a tuple of arguments, got "
                        f"{type(args).__name__}; for one argument write `(x,)`")
    if isinstance(modes, str):
        modes = (modes,)
    bad = [m for m in modes if m not in ("fwd", "rev")]
    if bad:
        raise ValueError(f"check_grads({fname}): unknown mode(s) {bad}; use 'fwd' and/or 'rev'")
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"check_grads({fname}): order must be a positive int, got {order!r}")
    args = tuple(_as_float_tree(a) for a in args)
    names = _arg_names(f, len(args))
    rng = np.random.default_rng(0)
    _check(f, fname, args, names, int(order), tuple(modes), atol, rtol, eps, rng, "")


# ----------------------------------------------------------------------------


def _as_float_tree(a):
    leaves, tree = tree_flatten(a)
    out = []
    for x in leaves:
        x = np.asarray(x)
        if x.dtype.kind not in "fc":
            x = x.astype(np.float64)
        out.append(x)
    return tree_unflatten(tree, out)


def _arg_names(f, n):
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return [None] * n
    names = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            break
    return (names + [None] * n)[:n]


def _rand_like(rng, x):
    r = rng.standard_normal(np.shape(x))
    if np.iscomplexobj(x):
        r = r + 1j * rng.standard_normal(np.shape(x))
    return np.asarray(r).astype(np.asarray(x).dtype)


def _vdot(a, b):
    return float(np.real(np.sum(np.conj(np.asarray(a)) * np.asarray(b))))


def _leaves(tree):
    return [np.asarray(x) for x in tree_flatten(tree)[0]]


def _tols(dtype, atol, rtol):
    d = _DEFAULT_TOL.get(np.dtype(dtype), 1e-5)
    return (d if atol is None else atol), (d if rtol is None else rtol)


def _with_arg(args, i, value):
    a = list(args)
    a[i] = value
    return tuple(a)


def _axpy(tree, t, v):
    return tree_unflatten(tree_flatten(tree)[1],
                          [x + t * d for x, d in zip(tree_flatten(tree)[0], tree_flatten(v)[0])])


def _fd_directional(f, args, i, v, h):
    """4th-order central difference of f along v in argument i: list of output leaves."""
    def at(t):
        return _leaves(f(*_with_arg(args, i, _axpy(args[i], t, v))))
    p1, m1, p2, m2 = at(h), at(-h), at(2 * h), at(-2 * h)
    return [(8 * (a - b) - (c - d)) / (12 * h) for a, b, c, d in zip(p1, m1, p2, m2)]


def _step(arg, eps):
    leaves = _leaves(arg)
    dt = np.result_type(*[x.dtype for x in leaves])
    if eps is not None:
        return float(eps), dt
    fe = float(np.finfo(dt).eps)
    scale = max([1.0] + [float(np.max(np.abs(x))) for x in leaves if x.size])
    return fe ** (1.0 / 3.0) * scale, dt


def _normalised_direction(rng, arg):
    leaves, tree = tree_flatten(arg)
    vs = [_rand_like(rng, x) for x in leaves]
    m = max([0.0] + [float(np.max(np.abs(v))) for v in vs if v.size])
    if m > 0:
        vs = [v / m for v in vs]
    return tree_unflatten(tree, vs)


def _zeros_tree(arg):
    leaves, tree = tree_flatten(arg)
    return tree_unflatten(tree, [np.zeros_like(x) for x in leaves])


def _check(f, fname, args, names, order, modes, atol, rtol, eps, rng, context):
    from ._api import jvp, vjp

    out = f(*args)
    out_leaves, out_tree = tree_flatten(out)
    out_leaves = [np.asarray(o) for o in out_leaves]
    cts = [_rand_like(rng, o) for o in out_leaves]
    for i, arg in enumerate(args):
        if not tree_flatten(arg)[0]:
            continue
        h, dt = _step(arg, eps)
        a_tol, r_tol = _tols(dt, atol, rtol)
        v = _normalised_direction(rng, arg)
        fd = _fd_directional(f, args, i, v, h)
        if "fwd" in modes:
            tangents = tuple(v if j == i else _zeros_tree(a) for j, a in enumerate(args))
            _, t_out = jvp(f, args, tangents)
            ad = _leaves(t_out)
            if any(_mismatch(a, b, a_tol, r_tol) for a, b in zip(ad, fd)):
                _fail(f, fname, args, names, i, "forward-mode (jvp)", "fwd", cts, h, a_tol, r_tol,
                      context, fallback=(ad, fd))
        if "rev" in modes:
            _, f_vjp = vjp(f, *args)
            x_bar = _pullback(f_vjp, out_tree, cts, i)
            lhs = sum(_vdot(vv, xb) for xb, vv in zip(x_bar, _leaves(v)))
            rhs = sum(_vdot(d, c) for c, d in zip(cts, fd))
            if _mismatch(np.asarray(lhs), np.asarray(rhs), a_tol, r_tol):
                _fail(f, fname, args, names, i, "reverse-mode (vjp)", "rev", cts, h, a_tol, r_tol,
                      context, fallback=([np.asarray(lhs)], [np.asarray(rhs)]))
    if order > 1:
        if "fwd" in modes:
            ts = tuple(_normalised_direction(rng, a) for a in args)

            def f_jvp(*xs):
                return jvp(f, xs, ts)[1]
            f_jvp.__name__ = f"jvp({fname})"
            _check(f_jvp, fname, args, names, order - 1, modes, atol, rtol, eps, rng,
                   context + f" in the JVP of {fname} (derivative order {_depth(context) + 1})")
        if "rev" in modes:
            ct_tree = tree_unflatten(out_tree, [_rand_like(rng, o) for o in out_leaves])

            def f_vjp_fn(*xs):
                return vjp(f, *xs)[1](ct_tree)
            f_vjp_fn.__name__ = f"vjp({fname})"
            _check(f_vjp_fn, fname, args, names, order - 1, modes, atol, rtol, eps, rng,
                   context + f" in the VJP of {fname} (derivative order {_depth(context) + 1})")


def _mismatch(a, b, a_tol, r_tol):
    """Any entry outside ``a_tol + r_tol·|b|``; a nan on one side only is a mismatch."""
    with np.errstate(invalid="ignore"):
        ok = (np.abs(a - b) <= a_tol + r_tol * np.abs(b)) | (np.isnan(a) & np.isnan(b))
    return not bool(np.all(ok))


def _pullback(f_vjp, out_tree, cts, i):
    """``conj(vjp(conj(ct)))`` for argument i, as leaves: with JAX's convention for
    complex numbers this makes ``Re<v, x_bar> = Re<J v, ct>`` (as in JAX's check_vjp)."""
    ct_tree = tree_unflatten(out_tree, [np.conj(c) for c in cts])
    return [np.conj(x) for x in _leaves(f_vjp(ct_tree)[i])]


def _depth(context):
    """The derivative order checked at this depth of the recursion."""
    return 1 + context.count(" in the ")


def _arg_label(names, i):
    n = names[i] if i < len(names) else None
    return f"argument {i} (`{n}`)" if n else f"argument {i}"


def _fail(f, fname, args, names, i, what, mode, cts, h, a_tol, r_tol, context, fallback):
    """Find the worst element of argument i and raise the AssertionError."""
    from ._api import jvp, vjp

    arg = args[i]
    leaves, tree = tree_flatten(arg)
    total = sum(int(x.size) for x in leaves)
    label = _arg_label(names, i)
    where = f"{fname}{context}" if context else fname
    head = (f"check_grads({fname}): {what} derivative with respect to {label} disagrees with "
            f"finite differences{context}.")
    if total > _MAX_DIAGNOSE:
        ad, fd = fallback
        a = np.concatenate([np.ravel(x) for x in ad])
        b = np.concatenate([np.ravel(x) for x in fd])
        k = int(np.argmax(np.abs(a - b)))
        raise AssertionError(
            f"{head}\n  along a random direction ({total} elements, too many to compare one by one),"
            f" worst output entry {k}:\n  AD:          {a[k]!r}\n  numerical:   {b[k]!r}\n"
            f"  difference:  {abs(a[k] - b[k]):.3e}")
    out_tree = tree_flatten(f(*args))[1]
    if mode == "rev":
        x_bar = _pullback(vjp(f, *args)[1], out_tree, cts, i)
    ad_all, fd_all, labels = [], [], []
    for li, x in enumerate(leaves):
        units = (1.0, 1j) if np.iscomplexobj(x) else (1.0,)
        for u in units:
            ad_leaf = np.zeros(x.shape)
            fd_leaf = np.zeros(x.shape)
            for k in np.ndindex(x.shape):
                e_leaves = [np.zeros_like(y) for y in leaves]
                e_leaves[li][k] = u
                e = tree_unflatten(tree, e_leaves)
                fd = _fd_directional(f, args, i, e, h)
                fd_leaf[k] = sum(_vdot(d, c) for c, d in zip(cts, fd))
                if mode == "rev":
                    ad_leaf[k] = _vdot(np.asarray(u), x_bar[li][k])
                else:
                    tangents = tuple(e if j == i else _zeros_tree(a) for j, a in enumerate(args))
                    t_out = _leaves(jvp(f, args, tangents)[1])
                    ad_leaf[k] = sum(_vdot(d, c) for c, d in zip(cts, t_out))
            ad_all.append(ad_leaf)
            fd_all.append(fd_leaf)
            labels.append((li, "" if len(units) == 1 else
                           " (real part)" if u == 1.0 else " (imaginary part)"))
    best = None
    for (li, part), a, b in zip(labels, ad_all, fd_all):
        if not a.size:
            continue
        with np.errstate(invalid="ignore"):
            excess = np.abs(a - b) - (a_tol + r_tol * np.abs(b))
        excess = np.where(np.isnan(excess) & ~(np.isnan(a) & np.isnan(b)), np.inf, excess)
        k = np.unravel_index(int(np.argmax(excess)), a.shape) if a.ndim else ()
        val = float(excess[k])
        if best is None or val > best[0]:
            best = (val, li, part, k, a[k], b[k])
    _, li, part, k, a, b = best
    name = names[i] if i < len(names) and names[i] else f"args[{i}]"
    leaf = f" leaf {li}" if len(leaves) > 1 else ""
    idx = f"[{', '.join(str(int(j)) for j in k)}]" if k else ""
    shape = tuple(leaves[li].shape)
    raise AssertionError(
        f"{head}\n"
        f"  worst element: {name}{leaf}{idx}{part} (shape {shape})\n"
        f"  AD:          {float(a)!r}\n"
        f"  numerical:   {float(b)!r}\n"
        f"  difference:  {abs(float(a) - float(b)):.3e} (allowed {a_tol:g} + {r_tol:g}·|numerical|)\n"
        f"  (entries of ∂<ct, {where}>/∂{name} for a random cotangent ct, step h = {h:.2e})")
