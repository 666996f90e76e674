"""A recording trace: runs a function once and keeps every primitive
application with its concrete values (the evaluation trace, or Wengert list,
of the textbooks).

:func:`record` gives a :class:`Recording`: the inputs, one :class:`Eqn` per
primitive application and the outputs.  Tangents and adjoints are then
computed *exactly* on the recorded list, one primitive at a time, with the
primitives' own rules: forward mode pushes tangents through each primitive's
JVP rule on concrete values; reverse mode pulls adjoints back through the VJP
of each primitive (``wg.vjp`` of that single primitive at its recorded
inputs).  This is what :mod:`wengert.viz` prints and draws.

>>> import wengert.numpy as wnp
>>> rec = record(lambda x, y: wnp.log(x) + x * y, (2.0, 5.0))
>>> [e.prim.name for e in rec.eqns]
['log', 'mul', 'add']
>>> float(rec.outputs[0].value)
10.693147180559945
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._core import Trace, Tracer, end_level, new_level
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["record", "Recording", "Var", "Eqn", "forward_tangents", "reverse_adjoints"]


class Var:
    """One value of the evaluation trace: an input or a primitive's output."""

    __slots__ = ("index", "value", "eqn", "out_index")

    def __init__(self, index: int, value: Any, eqn: Eqn | None = None, out_index: int = 0):
        self.index = index      # position in the trace: inputs first
        self.value = value
        self.eqn = eqn          # None for an input
        self.out_index = out_index

    def __repr__(self):
        return f"Var({self.index})"


class Eqn:
    """One primitive application: ``outs = prim(*args, *params)``.

    ``args`` holds :class:`Var` objects for traced operands and the constants
    themselves for the rest.
    """

    __slots__ = ("prim", "args", "params", "outs")

    def __init__(self, prim, args, params, outs):
        self.prim = prim
        self.args = args
        self.params = params
        self.outs = outs


class Recording:
    """Inputs, equations (in evaluation order) and outputs of one run."""

    def __init__(self, inputs: list[Var], in_tree, eqns: list[Eqn], outputs: list, out_tree,
                 arg_of_input: list[int]):
        self.inputs = inputs
        self.in_tree = in_tree
        self.eqns = eqns
        self.outputs = outputs          # Vars, or constants for untraced outputs
        self.out_tree = out_tree
        self.arg_of_input = arg_of_input  # positional argument each input leaf came from

    @property
    def vars(self) -> list[Var]:
        """Every value in trace order: inputs, then each equation's outputs."""
        out = list(self.inputs)
        for e in self.eqns:
            out.extend(e.outs)
        return out


class RecordTrace(Trace):
    """Records each primitive applied to its tracers, computing it concretely."""

    __slots__ = ("eqns", "count")

    def __init__(self, level):
        self.level = level
        self.eqns = []
        self.count = 0

    def process(self, p, args, params):
        vals = []
        rargs = []
        for a in args:
            if type(a) is RecTracer and a._trace is self:
                vals.append(a.primal)
                rargs.append(a._var)
            else:
                vals.append(a)
                rargs.append(a)
        ans = p.bind(*vals, *params)
        eqn = Eqn(p, tuple(rargs), tuple(params), [])
        if p.multiple_results:
            outs = []
            for i, v in enumerate(ans):
                var = self._new_var(v, eqn, i)
                eqn.outs.append(var)
                outs.append(RecTracer(self, v, var))
            self.eqns.append(eqn)
            return tuple(outs)
        var = self._new_var(ans, eqn, 0)
        eqn.outs.append(var)
        self.eqns.append(eqn)
        return RecTracer(self, ans, var)

    def _new_var(self, value, eqn, i):
        var = Var(self.count, value, eqn, i)
        self.count += 1
        return var


class RecTracer(Tracer):
    """A traced value with its concrete value at hand (``primal``)."""

    __slots__ = ("primal", "_var")

    def __init__(self, trace, primal, var):
        self._trace = trace
        self.primal = primal
        self._var = var

    @property
    def shape(self):
        return np.shape(self.primal)

    @property
    def dtype(self):
        return np.result_type(self.primal)

    def __bool__(self):
        return bool(self.primal)

    def __repr__(self):
        return f"RecTracer({self.primal!r})"


def _as_input(x):
    if isinstance(x, Tracer):
        raise TypeError(
            "trace_table/to_dot record a function on concrete values; call them outside "
            "grad/jit/vmap (they got a traced value)")
    if type(x) is float:
        return np.float64(x)
    if type(x) is int:
        return np.float64(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return x
    return np.asarray(x, dtype=float)


def record(fun: Callable, args: Sequence[Any]) -> Recording:
    """Run ``fun(*args)`` once, recording every primitive with its values.

    Arguments may be pytrees; every leaf becomes one input (Python ints are
    taken as floats).
    """
    leaves, in_tree = tree_flatten(list(args))
    arg_of = []
    for i, a in enumerate(args):
        arg_of.extend([i] * len(tree_flatten(a)[0]))
    leaves = [_as_input(x) for x in leaves]
    level = new_level()
    trace = RecordTrace(level)
    try:
        inputs = []
        tracers = []
        for x in leaves:
            var = Var(trace.count, x)
            trace.count += 1
            inputs.append(var)
            tracers.append(RecTracer(trace, x, var))
        out = fun(*tree_unflatten(in_tree, tracers))
        out_leaves, out_tree = tree_flatten(out)
        outputs = []
        for o in out_leaves:
            if type(o) is RecTracer and o._trace is trace:
                outputs.append(o._var)
            else:
                outputs.append(np.asarray(o)[()] if isinstance(o, (int, float)) else o)
    finally:
        end_level()
        trace.kill()
    # renumber so that inputs come first, then outputs in evaluation order
    rec = Recording(inputs, in_tree, trace.eqns, outputs, out_tree, arg_of)
    for i, v in enumerate(rec.vars):
        v.index = i
    return rec


# ----------------------------------------------------------------------------
# Exact tangents and adjoints on a recording


def _is_float(x) -> bool:
    return np.result_type(x).kind in "fc"


def _ones_like(x):
    return np.ones(np.shape(x), dtype=np.result_type(x))[()] if np.ndim(x) == 0 \
        else np.ones(np.shape(x), dtype=np.result_type(x))


def forward_tangents(rec: Recording, seeds: dict[int, Any]) -> dict[int, Any]:
    """Tangent of every value (by ``Var.index``; ``None`` = zero), from input
    tangents ``seeds`` ({input position: tangent}), one JVP rule at a time."""
    tan: dict[int, Any] = {}
    for pos, t in seeds.items():
        tan[rec.inputs[pos].index] = t
    for e in rec.eqns:
        primals = [a.value if type(a) is Var else a for a in e.args]
        tangents = [tan.get(a.index) if type(a) is Var else None for a in e.args]
        if e.prim.nondiff or all(t is None for t in tangents):
            continue
        ans = tuple(v.value for v in e.outs) if e.prim.multiple_results else e.outs[0].value
        t_out = e.prim.jvp(primals, tangents, ans, e.params)
        if e.prim.multiple_results:
            for v, t in zip(e.outs, t_out):
                tan[v.index] = t
        else:
            tan[e.outs[0].index] = t_out
    return tan


def reverse_adjoints(rec: Recording, seeds: dict[int, Any]) -> dict[int, Any]:
    """Adjoint of every value (by ``Var.index``; ``None`` = zero), from the
    output adjoints ``seeds`` ({Var.index: adjoint}), sweeping the equations
    backwards through each primitive's VJP at its recorded inputs."""
    from ._api import vjp

    adj: dict[int, Any] = dict(seeds)
    for e in reversed(rec.eqns):
        cts = [adj.get(v.index) for v in e.outs]
        if e.prim.nondiff or all(c is None for c in cts):
            continue
        pos = [i for i, a in enumerate(e.args) if type(a) is Var and _is_float(a.value)]
        if not pos:
            continue
        base = [a.value if type(a) is Var else a for a in e.args]
        prim, params = e.prim, e.params

        def one(*xs, base=base, pos=pos, prim=prim, params=params):
            full = list(base)
            for i, x in zip(pos, xs):
                full[i] = x
            return prim.bind(*full, *params)

        _, f_vjp = vjp(one, *[base[i] for i in pos])
        if prim.multiple_results:
            ct = tuple(np.zeros_like(v.value) if c is None else c for v, c in zip(e.outs, cts))
        else:
            ct = cts[0]
        grads = f_vjp(ct)
        for i, g in zip(pos, grads):
            k = e.args[i].index
            adj[k] = g if adj.get(k) is None else adj[k] + g
    return adj
