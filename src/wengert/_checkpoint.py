"""``checkpoint`` / ``remat``: recompute a function's intermediates in the
backward pass instead of storing them.

A checkpointed call is one primitive.  In reverse mode its linearization is
one tape equation that keeps only the inputs: its transpose linearizes the
function again (recomputing every intermediate) and sweeps that short tape
backwards.  Forward mode and ``vmap`` bind the same primitive on the JVP /
the batched function, and ``jit`` stages it as one operation.

>>> import wengert as wg, wengert.numpy as wnp
>>> f = lambda x: wnp.sum(wnp.sin(wnp.sin(x)) ** 2)
>>> x = wnp.linspace(0.0, 1.0, 4)
>>> bool(wnp.allclose(wg.grad(wg.checkpoint(f))(x), wg.grad(f)(x)))
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from ._control import (
    Closure,
    LinearFn,
    _batched_fn,
    _canon,
    _concrete_below,
    _inexact,
    _zeros,
    check_no_tracers,
    checked_jvp,
    is_linearizing,
    jvp_flat_fn,
    linearize_flat,
    record_linear,
    run_or_inline,
)
from ._core import JVPTracer, Primitive, Tracer
from ._vmap import BatchedOuts, register_batch_rule, run_batched
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["checkpoint", "remat"]


def _remat_impl(*args):
    *xs, fun, name = args
    return check_no_tracers(tuple(fun(list(xs))))


def _remat_jvp(trace, primals, tangents, params):
    fun, name = params
    if not is_linearizing(tangents):
        tm = [t is not None and _inexact(x) for x, t in zip(primals, tangents)]
        box = []
        jf = jvp_flat_fn(fun, tm, box)
        targs = [t for t, m in zip(tangents, tm) if m]
        outs = remat_p.bind(*primals, *targs, jf, name)
        omask = box[0]
        n = len(omask)
        it = iter(outs[n:])
        return tuple(JVPTracer(trace, v, next(it)) if m else v for v, m in zip(outs[:n], omask))
    diff = [t is not None and _inexact(x) for x, t in zip(primals, tangents)]
    outs = list(remat_p.bind(*primals, fun, name))  # the primal: nothing kept
    omask = [_inexact(o) for o in outs]
    primals = list(primals)

    def forward(ts):
        it = iter(ts)
        full = [next(it) if d else None for d in diff]
        _, lin = linearize_flat(fun, primals, diff)  # recompute
        res = lin.forward(full)
        return [_zeros(o) if r is None else r for r, o, m in zip(res, outs, omask) if m]

    def transpose(cts):
        it = iter(cts)
        full = [next(it) if m else None for m in omask]
        _, lin = linearize_flat(fun, primals, diff)  # recompute
        got = lin.backward(full)
        return [g for g, d in zip(got, diff) if d]

    fn = LinearFn(f"checkpoint({name})", forward, transpose, sum(omask))
    targs = [t for t, d in zip(tangents, diff) if d]
    return record_linear(trace, fn, targs, outs, omask)


def _remat_batch(size, vals, batched, fun, name):
    if not _concrete_below(vals):  # staged: replayed later, every output batched
        return remat_p.bind(*vals, _batched_fn(fun, size, batched), name)
    # outputs that do not depend on the batch stay unbatched: the function
    # records which are batched when it runs (during the bind)
    box = []

    def fb(xs):
        outs, flags = run_batched(fun, size, list(xs), list(batched))
        if not box:
            box.append(flags)
        return outs

    outs = remat_p.bind(*vals, fb, name)
    if not box:  # pragma: no cover - the function runs during the bind
        raise RuntimeError("checkpoint: the batched function did not run during the bind")
    return BatchedOuts(outs, box[0])


remat_p = Primitive("checkpoint", _remat_impl, None, nparams=2, multiple_results=True,
                    doc="a function whose intermediates are recomputed in the backward pass")
remat_p.jvp_trace = checked_jvp(_remat_jvp)
# wg.Tensor operands: the function runs as written, recorded op by op
remat_p.extra["tensor_inline"] = lambda args, params: tuple(params[0](list(args)))
register_batch_rule(remat_p, _remat_batch)


def _is_operand(x) -> bool:
    return isinstance(x, (Tracer, np.ndarray, np.generic, int, float, complex, bool))


def checkpoint(fun: Callable, *, prevent_cse: bool = True,
               static_argnums: int | tuple = ()) -> Callable:
    """``fun`` with its intermediates recomputed in the backward pass (alias ``remat``).

    Reverse mode keeps only the inputs of the call; the backward sweep runs
    ``fun``'s linearization again.  ``grad(checkpoint(f)) == grad(f)``, with
    less memory held between the forward and the backward pass.  Array
    arguments are the inputs; other arguments (strings, functions, and those
    in ``static_argnums``) are passed through unchanged.  Traced values that
    ``fun`` captures in its closure become inputs too; a traced value it
    reaches another way (an object attribute, a global) makes the call run
    as plain code, without checkpointing (same derivatives, more memory).
    ``prevent_cse`` is accepted for JAX compatibility.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> layer = wg.checkpoint(lambda w, x: wnp.tanh(w * x))
    >>> float(wg.grad(lambda w: layer(w, layer(w, 1.0)))(0.5)).__round__(6)
    0.811253
    """
    if not callable(fun):
        raise TypeError(f"checkpoint: fun must be callable, got {type(fun).__name__}")
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    name = getattr(fun, "__name__", "fun")

    @functools.wraps(fun)
    def remat_f(*args, **kwargs):
        clo = Closure(fun)
        if not clo.complete or any(isinstance(v, Tracer) for v in tree_flatten(kwargs)[0]):
            return fun(*args, **kwargs)
        nst = {i % len(args) for i in static} if args else set()
        dyn = [a for i, a in enumerate(args) if i not in nst]
        leaves, tree = tree_flatten(dyn)
        opmask = [_is_operand(x) for x in leaves]
        ops = [_canon(x) for x, m in zip(leaves, opmask) if m]
        box = []

        def flat(xs):
            it = iter(xs)
            full = [next(it) if m else x for x, m in zip(leaves, opmask)]
            d = iter(tree_unflatten(tree, full))
            call = [args[i] if i in nst else next(d) for i in range(len(args))]
            out = fun(*call, **kwargs)
            ol, ot = tree_flatten(out)
            if not box:
                box.append(ot)
            return [_canon(o) for o in ol]

        outs = run_or_inline(lambda: remat_p.bind(*ops, *clo.values, clo.wrap(flat, len(ops)), name),
                             lambda: None)
        if outs is None:  # fun uses a traced value it was not given: no checkpoint
            return fun(*args, **kwargs)
        return tree_unflatten(box[0], list(outs))

    return remat_f


remat = checkpoint
