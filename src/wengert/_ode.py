"""``odeint``: ordinary differential equations, differentiable two ways.

``y' = func(y, t, *args)`` is integrated between consecutive output times by
an adaptive Dormand–Prince 5(4) method with a PI step-size controller (or
fixed-step ``"rk4"`` / ``"euler"``).  Each interval ``[t₀, t₁]`` is mapped to
``s ∈ [0, 1]`` (``t = t₀ + s (t₁ - t₀)``, ``dz/ds = (t₁ - t₀) f(z, t)``), so
every output time is hit exactly and the times enter the right-hand side
as ordinary differentiable values.

* ``adjoint=False`` (discretise-then-optimise): the solver is written with
  ``wengert.numpy`` and ``wg.while_loop``; derivatives go through its steps
  in forward and reverse mode, to any order, under ``vmap`` and ``jit``.
  The step sizes are chosen on ``stop_gradient`` values (they are not
  differentiated), and each step is a ``wg.checkpoint``, so reverse mode
  keeps one state per step, not every stage.
* ``adjoint=True`` (optimise-then-discretise, Chen et al. 2018): reverse mode
  solves the adjoint system backwards,
  ``a' = -aᵀ ∂f/∂y``, ``θ̄' = -aᵀ ∂f/∂θ``, with ``y`` recomputed backwards from
  each stored output; memory is O(1) in the number of steps.

>>> import wengert as wg, wengert.numpy as wnp, numpy as np
>>> y = lambda k: wg.odeint(lambda y, t, k: -k * y, 1.0, np.array([0.0, 1.0]), k)[1]
>>> round(float(y(2.0)), 7), round(float(wg.grad(y)(2.0)), 6)      # e^-2, -e^-2
(0.1353353, -0.135335)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import numpy as wnp
from ._control import Closure, _canon, _inexact
from ._core import Tracer
from ._implicit import _Cells, _Placeholder
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["odeint"]

# Dormand–Prince 5(4): nodes, stages, 5th-order weights, error weights
_A = (0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0)
_B = (
    (0.2,),
    (3.0 / 40.0, 9.0 / 40.0),
    (44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0),
    (19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0),
    (9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0),
    (35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0),
)
_E = (35.0 / 384.0 - 1951.0 / 21600.0, 0.0, 500.0 / 1113.0 - 22642.0 / 50085.0,
      125.0 / 192.0 - 451.0 / 720.0, -2187.0 / 6784.0 + 12231.0 / 42400.0,
      11.0 / 84.0 - 649.0 / 6300.0, -1.0 / 60.0)
_SAFETY, _IFACTOR, _DFACTOR = 0.9, 10.0, 0.2
_ALPHA, _BETA = 0.7 / 5.0, 0.4 / 5.0        # PI controller exponents (Hairer & Wanner, IV.2)
_METHODS = ("dopri5", "rk4", "euler")


def _sg(x):
    from ._api import stop_gradient
    return stop_gradient(x)


def _peek(x):
    """The concrete value under the transformations in flight, or None
    (inside ``jit``, where it is not known yet)."""
    from ._core import JVPTracer
    from ._vmap import BatchTracer
    while isinstance(x, Tracer):
        if isinstance(x, JVPTracer):
            x = x.primal
        elif isinstance(x, BatchTracer):
            x = x.val
        else:
            return None
    return np.asarray(x)


def _rms(x):
    return wnp.sqrt(wnp.mean(x * x))


def _dopri5_interval(g, z0, rtol, atol, mxstep, caller, plain):
    """Integrate ``dz/ds = g(z, s)`` over ``s ∈ [0, 1]``."""
    from ._checkpoint import checkpoint
    from ._control import while_loop

    k1 = g(z0, 0.0)
    # initial step (Hairer, Nørsett & Wanner, II.4), on constants
    zc, kc = _sg(z0), _sg(k1)
    scale = atol + wnp.abs(zc) * rtol
    d0, d1 = _rms(zc / scale), _rms(kc / scale)
    h0 = wnp.where(wnp.logical_or(d0 < 1e-5, d1 < 1e-5), 1e-6, 0.01 * d0 / wnp.maximum(d1, 1e-300))
    h0 = wnp.minimum(h0, 1.0)
    k_1 = _sg(g(zc + h0 * kc, h0))
    d2 = _rms((k_1 - kc) / scale) / h0
    dmax = wnp.maximum(d1, d2)
    h1 = wnp.where(dmax <= 1e-15, wnp.maximum(1e-6, h0 * 1e-3), (0.01 / wnp.maximum(dmax, 1e-300)) ** 0.2)
    ds0 = wnp.minimum(wnp.minimum(100.0 * h0, h1), 1.0)

    def step(z, k1, s, ds):
        ks = [k1]
        for a, b in zip(_A[:5], _B[:5]):
            zi = z + ds * sum(bj * kj for bj, kj in zip(b, ks) if bj != 0.0)
            ks.append(g(zi, s + a * ds))
        z_new = z + ds * sum(bj * kj for bj, kj in zip(_B[5], ks) if bj != 0.0)
        k7 = g(z_new, s + ds)
        ks.append(k7)
        err = ds * sum(e * k for e, k in zip(_E, ks) if e != 0.0)
        return z_new, k7, err

    step_ck = step if plain else checkpoint(step)

    def cond(c):
        s, z, k, ds, prev, n = c
        return wnp.logical_and(wnp.logical_and(s < 1.0, n < mxstep), ds > 1e-14)

    def body(c):
        s, z, k, ds, prev, n = c
        last = ds >= 1.0 - s
        ds_ = wnp.where(last, 1.0 - s, ds)
        z_new, k_new, err = step_ck(z, k, s, ds_)
        scale = atol + rtol * wnp.maximum(wnp.abs(_sg(z)), wnp.abs(_sg(z_new)))
        ratio = _sg(_rms(err / scale))
        ratio = wnp.where(wnp.isfinite(ratio), ratio, 1e10)
        accept = ratio <= 1.0
        r = wnp.maximum(ratio, 1e-10)
        fac = _SAFETY * r ** (-_ALPHA) * prev ** _BETA
        fac = wnp.where(accept, wnp.clip(fac, _DFACTOR, _IFACTOR),
                        wnp.clip(_SAFETY * r ** (-0.2), _DFACTOR, 1.0))
        s_new = wnp.where(accept, wnp.where(last, 1.0, s + ds_), s)
        z = wnp.where(accept, z_new, z)
        k = wnp.where(accept, k_new, k)
        prev = wnp.where(accept, r, prev)
        return s_new, z, k, ds_ * fac, prev, n + 1

    c = (0.0, z0, k1, ds0, 1e-4, 0)
    if plain:   # nothing to differentiate, batch or stage: a Python loop
        while cond(c):
            c = body(c)
        s, z, _, ds, _, n = c
    else:
        s, z, _, ds, _, n = while_loop(cond, body, c)
    sv, nv, dsv = _peek(s), _peek(n), _peek(ds)
    if sv is not None and np.any(sv < 1.0):
        why = (f"more than mxstep={mxstep} steps" if np.any(nv >= mxstep)
               else f"the step size fell to {float(np.min(dsv)):.3g} of the interval (step size underflow)")
        raise RuntimeError(
            f"{caller}: the solver stopped after {int(np.max(nv))} steps with {why}. "
            "The problem may be stiff, or its solution may blow up: raise mxstep, loosen "
            "rtol/atol, or use method='rk4' with enough steps=; an explicit method cannot "
            "integrate a stiff problem efficiently")
    return wnp.where(s >= 1.0, z, np.nan)   # inside jit a failure shows as NaN


def _fixed_interval(g, z0, steps, method):
    from ._control import fori_loop
    ds = 1.0 / steps

    def body(i, z):
        s = i * ds
        if method == "euler":
            return z + ds * g(z, s)
        k1 = g(z, s)
        k2 = g(z + 0.5 * ds * k1, s + 0.5 * ds)
        k3 = g(z + 0.5 * ds * k2, s + 0.5 * ds)
        k4 = g(z + ds * k3, s + ds)
        return z + (ds / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return fori_loop(0, steps, body, z0)


def _integrate(fv, y0, t, args, opts):
    """All outputs, stacked: ``ys[i] = y(t[i])``; ``fv(y, t, args)`` on flat y."""
    rtol, atol, method, mxstep, steps, caller = opts
    ys = [y0]
    y = y0
    plain = not any(isinstance(v, Tracer) for v in [y0, t] + tree_flatten(args)[0])
    for i in range(1, t.shape[0]):
        ta, tb = t[i - 1], t[i]
        h = tb - ta

        def g(z, s, ta=ta, h=h):
            return h * fv(z, ta + s * h, args)

        if method == "dopri5":
            y = _dopri5_interval(g, y, rtol, atol, mxstep, caller, plain)
        else:
            y = _fixed_interval(g, y, steps, method)
        ys.append(y)
    return wnp.stack(ys)


def _ravel(leaves):
    if len(leaves) == 1:
        return wnp.reshape(leaves[0], (-1,))
    return wnp.concatenate([wnp.reshape(v, (-1,)) for v in leaves])


def _adjoint_call(fv, y0, t, args, opts):
    from ._api import vjp
    from ._custom import custom_vjp

    rtol, atol, method, mxstep, steps, caller = opts

    @custom_vjp
    def solve(y0, t, args):
        return _integrate(fv, y0, t, args, opts)

    def fwd(y0, t, args):
        ys = _integrate(fv, y0, t, args, opts)
        return ys, (ys, t, args)

    n = y0.shape[0]

    def bwd(res, g):
        ys, t, args = res
        a_leaves, a_tree = tree_flatten(args)
        dm = [_inexact(_canon(v)) for v in a_leaves]
        th = [v for v, m in zip(a_leaves, dm) if m]

        def args_of(th_):
            it = iter(th_)
            return tree_unflatten(a_tree, [next(it) if m else v for v, m in zip(a_leaves, dm)])

        sizes = [int(np.size(v)) for v in th]
        shapes = [np.shape(v) for v in th]

        def aug(Y, tt, _):
            y, a = Y[:n], Y[n:2 * n]
            fy, pull = vjp(lambda y_, *th_: fv(y_, tt, args_of(th_)), y, *th)
            cts = pull(a)
            parts = [fy, -cts[0]] + [-wnp.reshape(c, (-1,)) for c in cts[1:]]
            return wnp.concatenate(parts)

        a = g[-1]
        th_bar = np.zeros(sum(sizes))
        t_bar = []
        for i in range(t.shape[0] - 1, 0, -1):
            t_bar.append(wnp.sum(fv(ys[i], t[i], args) * g[i]))
            Y = wnp.concatenate([ys[i], a, th_bar])
            Y = _integrate(aug, Y, wnp.stack([t[i], t[i - 1]]), None, opts)[1]
            a = Y[n:2 * n] + g[i - 1]
            th_bar = Y[2 * n:]
        t_bar.append(-wnp.sum(fv(ys[0], t[0], args) * a))
        t_bar = wnp.stack(t_bar[::-1])
        out, k = [], 0
        for sz, sh in zip(sizes, shapes):
            out.append(wnp.reshape(th_bar[k:k + sz], sh))
            k += sz
        it = iter(out)
        args_bar = tree_unflatten(a_tree, [next(it) if m else None for m in dm])
        return a, t_bar, args_bar

    solve.defvjp(fwd, bwd)
    return solve(y0, t, args)


def odeint(func: Callable, y0: Any, t: Any, *args: Any, rtol: float = 1e-7, atol: float = 1e-9,
           method: str = "dopri5", adjoint: bool = False, mxstep: int = 10_000,
           steps: int = 10) -> Any:
    """Solve ``y' = func(y, t, *args)`` from ``y(t[0]) = y0``; returns ``y``
    at every time in ``t``, stacked on a new leading axis (shape
    ``(len(t),) + y0.shape``; for a pytree ``y0``, each leaf so).

    ``t`` is a 1-D array, strictly increasing or strictly decreasing.
    ``method``: ``"dopri5"`` (adaptive Dormand–Prince 5(4), error per step
    ``≤ atol + rtol |y|`` in the RMS norm, at most ``mxstep`` steps per output
    interval), ``"rk4"`` or ``"euler"`` (``steps`` equal steps per output
    interval).  Derivatives with respect to ``y0``, ``t`` and ``args`` (and
    values ``func`` captures):

    * ``adjoint=False``: through the solver's steps (each step checkpointed;
      the step sizes are not differentiated), forward and reverse mode, any
      order, under ``vmap`` and ``jit``;
    * ``adjoint=True``: reverse mode by the continuous adjoint system solved
      backwards with the same method and tolerances (memory O(1) in the number
      of steps; a reverse-mode rule — forward mode differentiates the steps
      instead, and second derivatives differentiate the backward solve).

    A stiff problem (or one whose solution blows up) exhausts ``mxstep`` or
    the step size: a ``RuntimeError`` says so (inside ``jit``, where values are
    unknown while tracing, the outputs are NaN instead).

    >>> import wengert as wg, wengert.numpy as wnp, numpy as np
    >>> ts = np.linspace(0.0, np.pi, 3)
    >>> ys = wg.odeint(lambda y, t: wnp.stack([y[1], -y[0]]), np.array([0.0, 1.0]), ts)
    >>> np.allclose(ys[:, 0], np.sin(ts), atol=1e-7)
    True
    """
    name = getattr(func, "__name__", type(func).__name__)
    caller = f"odeint({name})"
    if not callable(func):
        raise TypeError(f"{caller}: func must be callable, got {type(func).__name__}")
    if method not in _METHODS:
        raise ValueError(f"{caller}: method={method!r} is not one of {', '.join(map(repr, _METHODS))}")
    for nm, v in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(v, (int, float)) and v >= 0):
            raise ValueError(f"{caller}: {nm} must be a non-negative number, got {v!r}")
    if rtol == 0 and atol == 0:
        raise ValueError(f"{caller}: rtol and atol cannot both be 0")
    for nm, v in (("mxstep", mxstep), ("steps", steps)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"{caller}: {nm} must be a positive int, got {v!r}")
    t = _canon(t)
    if not isinstance(t, Tracer):
        t = np.asarray(t, dtype=np.result_type(t, np.float64))
    if len(t.shape) != 1 or t.shape[0] < 1:
        raise ValueError(f"{caller}: t must be a 1-D array of output times, got shape {tuple(t.shape)}")
    tv = _peek(t)
    if tv is not None and tv.ndim == 1 and tv.size > 1:
        d = np.diff(tv)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError(f"{caller}: t must be strictly increasing or strictly decreasing, got {tv}")
    leaves, tree = tree_flatten(y0)
    if not leaves:
        raise ValueError(f"{caller}: y0 has no arrays")
    leaves = [_canon(v) for v in leaves]
    dtypes = [v.dtype for v in leaves]
    leaves = [v if _inexact(v) else wnp.asarray(v, dtype=np.float64) for v in leaves]
    shapes = [tuple(v.shape) for v in leaves]
    sizes = [int(np.prod(s)) for s in shapes]

    def unravel(vec):
        if len(shapes) == 1:
            return [wnp.reshape(vec, shapes[0])]
        out, k = [], 0
        for s, n in zip(shapes, sizes):
            out.append(wnp.reshape(vec[k:k + n], s))
            k += n
        return out

    clo = Closure(func)
    if not clo.complete:
        raise TypeError(f"{caller}: func captures a traced value in a way that cannot be made an "
                        "explicit operand; pass it through *args")

    subst = _Cells(clo)

    def fv(yvec, tt, full):
        ps, cs = full
        with subst(cs):
            out = func(tree_unflatten(tree, unravel(yvec)), tt, *ps)
        ol, ot = tree_flatten(out)
        if ot != tree:
            raise TypeError(f"{caller}: func returned structure {ot} for y of structure {tree}")
        for o, s in zip(ol, shapes):
            sh = tuple(o.shape) if isinstance(o, Tracer) else np.shape(o)
            if sh != s:
                raise TypeError(f"{caller}: func returned shape {sh} for a state of shape {s}; "
                                "dy/dt must have y's shape")
        return _ravel([_canon(o) for o in ol])

    if adjoint and any(isinstance(v, Tracer) and _peek(v) is None
                       for v in [t, *leaves, *tree_flatten(list(args))[0], *clo.values]):
        raise NotImplementedError(
            f"{caller}: adjoint=True inside jit is not supported (the backward solve chooses its "
            "steps from values jit has not computed yet); use adjoint=False under jit (it is "
            "differentiable through the steps), or call this function without jit")
    opts = (float(rtol), float(atol), method, int(mxstep), int(steps), caller)
    full = (list(args), list(clo.values))
    y0v = _ravel(leaves)
    # the captured values reach func only through `full` (its cells hold
    # placeholders meanwhile), so no closure conversion further in sees them
    with subst([_Placeholder()] * len(clo.values)):
        if adjoint:
            ys = _adjoint_call(fv, y0v, t, full, opts)
        else:
            ys = _integrate(fv, y0v, t, full, opts)
    nt = t.shape[0]
    outs, k = [], 0
    for s, n, dt in zip(shapes, sizes, dtypes):
        o = wnp.reshape(ys[:, k:k + n], (nt,) + s)
        if np.dtype(dt).kind in "fc" and np.dtype(dt) != np.float64:
            o = wnp.asarray(o, dtype=dt) if not isinstance(o, Tracer) else o.astype(dt)
        outs.append(o)
        k += n
    return tree_unflatten(tree, outs)
