"""NumPy's own value, a composition's derivative: the ``numpy_call`` primitive.

Some ``wengert.numpy`` functions are built from primitives when traced (``prod``
as a product tree, ``var`` as ``sum(|x - mean|**2) / n``, ...) because that
composition has exact derivatives of every order.  Its value, though, may differ
from NumPy's own function in the last bit (another order of the floating-point
operations), so ``jit(f)`` would differ from eager ``f``.  :func:`exact` binds
one primitive whose implementation *is* the NumPy function, so the traced value
(eager forward/reverse mode, jit's trace and its compiled code) is NumPy's bit
for bit, while its derivative is the composition's: the JVP rule runs the
composition on the same primals and tangents and keeps only its tangent;
``vmap`` runs the composition batched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from .._control import wrap_jvp
from .._core import JVPTracer, Primitive, Tracer
from .._vmap import register_batch_rule, run_batched

__all__ = ["exact", "exact_call", "exact_nodiff", "inexact", "in_composite", "numpy_call_p"]


def _impl(*args):
    *xs, npf, kw, comp = args
    return npf(*xs, **dict(kw))


def _jvp_trace(trace, primals, tangents, params):
    npf, kw, comp = params
    ans = numpy_call_p.bind(*primals, *params)
    if comp is None:  # integer/bool values: no derivative
        return ans
    out = comp(*wrap_jvp(trace, primals, tangents))
    if type(out) is JVPTracer and out._trace is trace:
        return JVPTracer(trace, ans, out.tangent)
    return ans


def _batch(size, vals, batched, npf, kw, comp):
    if comp is None or getattr(comp, "batch_by_loop", False) or not any(inexact(v) for v in vals):
        # no composition, or integer/bool values (the composition may have another dtype):
        # NumPy's function on each example, stacked
        from . import _funcs as F
        outs = [numpy_call_p.bind(*[F.getitem(v, (i,)) if b else v for v, b in zip(vals, batched)], npf, kw, None)
                for i in range(size)]
        return F.stack(outs)
    outs, flags = run_batched(lambda xs: [comp(*xs)], size, list(vals), list(batched))
    o = outs[0]
    if not flags[0]:
        from . import _funcs as F
        o = F.broadcast_to(o, (size,) + tuple(F.shape_of(o)))
    return o


numpy_call_p = Primitive("numpy_call", _impl, None, nparams=3,
                         doc="NumPy's function for the value, a composition of primitives for the derivatives")
numpy_call_p.jvp_trace = _jvp_trace


def _no_jvp_full(primals, tangents, ans, params):  # pragma: no cover - jvp_trace runs instead
    raise AssertionError("numpy_call is differentiated by its jvp_trace rule")


# marks the rule as not per-argument, so that every trace (Tensor's too) takes the general path,
# which runs ``jvp_trace``
numpy_call_p.jvp_full = _no_jvp_full
register_batch_rule(numpy_call_p, _batch)


def exact(npf: Callable, comp: Callable, args: tuple, **kw):
    """``npf(*args, **kw)`` as one traced operation whose derivatives (and
    batching) are those of ``comp(*args)``, a composition of primitives that
    computes the same function.  ``args`` are array operands (traced or not);
    ``kw`` static parameters (hashable)."""
    if _has_tensor(args):
        return comp(*args)
    return numpy_call_p.bind(*args, npf, tuple(sorted(kw.items())), comp)


def _has_tensor(ops) -> bool:
    """A ``wg.Tensor`` operand takes the composition itself: its graph then
    supports ``create_graph=True`` (a construct's rule would not)."""
    from .._tensor_core import Tensor
    return any(type(o) is Tensor for o in ops)


_STATE = threading.local()


def in_composite() -> bool:
    """True while :func:`exact_call` runs a function's composition (its
    derivative): the function must then take its traced path, not call
    :func:`exact_call` again."""
    return getattr(_STATE, "depth", 0) > 0


class _Composite:
    def __enter__(self):
        _STATE.depth = getattr(_STATE, "depth", 0) + 1

    def __exit__(self, *exc):
        _STATE.depth -= 1


def _is_operand(a) -> bool:
    return isinstance(a, (Tracer, np.ndarray, np.generic))


def inexact(x) -> bool:
    """Has ``x`` a floating or complex dtype (so a derivative)?"""
    dt = getattr(x, "dtype", None)
    return np.dtype(dt if dt is not None else np.result_type(x)).kind in "fc"


def exact_nodiff(npf: Callable, args: tuple, kwargs: dict):
    """``npf(*args, **kwargs)`` as one traced operation without derivatives
    (integer and boolean values): NumPy's value and dtype in every mode."""
    return exact_call(npf, None, args, kwargs)


def exact_call(npf: Callable, fn: Callable | None, args: tuple, kwargs: dict):
    """``npf(*args, **kwargs)`` (NumPy's function) as one traced operation
    whose derivatives are those of ``fn(*args, **kwargs)``, the ``wnp``
    function itself, which is called under :func:`in_composite` (so it takes
    its composition of primitives).  Arrays and traced values among the
    arguments are operands; everything else is static."""
    from ._base import lift
    args = [lift(a) if type(a) in (list, tuple) else a for a in args]
    pos = [i for i, a in enumerate(args) if _is_operand(a)]
    kpos = [k for k, v in kwargs.items() if _is_operand(v)]
    ops = [args[i] for i in pos] + [kwargs[k] for k in kpos]
    for i in pos:  # the closures keep only the static arguments
        args[i] = None
    kwargs = {k: (None if k in kpos else v) for k, v in kwargs.items()}

    def rebuild(ops):
        a, kw = list(args), dict(kwargs)
        for i, o in zip(pos, ops):
            a[i] = o
        for k, o in zip(kpos, ops[len(pos):]):
            kw[k] = o
        return a, kw

    def np_f(*ops):
        a, kw = rebuild(ops)
        return npf(*a, **kw)

    def comp(*ops):
        a, kw = rebuild(ops)
        with _Composite():
            return fn(*a, **kw)

    np_f.__name__ = comp.__name__ = getattr(npf, "__name__", "numpy_call")
    comp.batch_by_loop = getattr(fn, "batch_by_loop", False)
    if fn is None:
        return numpy_call_p.bind(*ops, np_f, (), None)
    if _has_tensor(ops):
        return comp(*ops)
    return numpy_call_p.bind(*ops, np_f, (), comp)
