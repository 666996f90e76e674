"""A Tensor's recorded graph as a Wengert list (``_ir.Graph``) and as DOT."""

from __future__ import annotations

import numpy as np

from . import _tensor_drawing as _drawing
from ._ir import Eqn, Graph, Var, aval_str
from ._tensor_core import Tensor
from ._tensor_drawing import STATE, Aval, Snap

_NODE = (Tensor, Snap)  # a live tensor, or one recorded at backward time


def _collect(outputs):
    """Reachable tensors: (leaves in first-use order, op tensors in creation order)."""
    seen = {}
    stack = list(outputs)
    ops = []
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen[id(t)] = t
        if t._node is not None:
            ops.append(t)
            for a in t._node[2]:
                if isinstance(a, _NODE):
                    stack.append(a)
    ops.sort(key=lambda t: (t._node[3], t._node[4] if len(t._node) > 4 else 0))
    leaves = []
    lseen = set()
    for t in ops:
        for a in t._node[2]:
            if isinstance(a, _NODE) and a._node is None and id(a) not in lseen:
                lseen.add(id(a))
                leaves.append(a)
    for t in outputs:
        if t._node is None and id(t) not in lseen:
            lseen.add(id(t))
            leaves.append(t)
    return leaves, ops


_FREED = (
    "Tensor.to_dot()/graph()/to_wengert(): backward() has freed this graph (as PyTorch frees "
    "saved tensors), {why}. Call backward(retain_graph=True) to keep the graph, or draw before "
    "backward().")
_NOT_YET = ("and no Tensor graph had been drawn before in this process, so it was not recorded "
            "(drawing is on from now: later backward() calls keep a small record of graphs of "
            "up to {limit} tensors, with their values and gradients)")
_TOO_BIG = "and it had more than {limit} tensors, too many to record for drawing"


def _drawable(out):
    """``out`` itself, or its record when backward() has freed its graph."""
    STATE.enabled = True  # whoever draws once is likely to draw again
    rec = out.__dict__.get("_drawing") if isinstance(out, Tensor) else None
    if rec:  # recorded at the last backward(): its values and gradients
        return rec
    node = out._node
    if node is not None and not node[2]:  # cut by backward() (see _tensor_backward._release)
        why = (_TOO_BIG if rec is False else _NOT_YET).format(limit=_drawing.LIMIT)
        raise RuntimeError(_FREED.format(why=why))
    return out


def _var(t):
    return Var(tuple(t.shape), np.dtype(t.dtype))


def to_graph(outputs, with_map=False):
    outputs = [_drawable(out) for out in outputs]
    leaves, ops = _collect(outputs)
    var = {id(t): _var(t) for t in leaves}
    eqns = []
    done = {}
    for t in ops:
        node = t._node
        key = (node[3],)
        if len(node) > 4:  # multiple results share one equation
            if key in done:
                continue
        ins = [var.get(id(a), a) if isinstance(a, _NODE) else a for a in node[2]]
        ins = [a._data if isinstance(a, Tensor) else a for a in ins]
        out = _var(t)
        var[id(t)] = out
        e = Eqn(node[0], ins, [out], node[1])
        done[key] = e
        eqns.append(e)
    g = Graph([var[id(t)] for t in leaves], eqns, [var[id(t)] for t in outputs],
              name="tensor")
    return (g, var, leaves, ops) if with_map else g


def _fmt(x):
    if x is None:
        return "-"
    if isinstance(x, Aval):
        return "<traced>" if x.traced else aval_str(x.shape, x.dtype)
    d = x._data if isinstance(x, Tensor) else x
    try:
        a = np.asarray(d)
    except TypeError:
        return "<traced>"
    if a.size <= 4:
        return np.array2string(a, precision=5, separator=" ").replace("\n", "")
    return aval_str(a.shape, a.dtype)


def _esc(s):
    return (s.replace("\\", "\\\\").replace('"', '\\"').replace("{", "\\{").replace("}", "\\}")
            .replace("<", "\\<").replace(">", "\\>").replace("|", "\\|"))


def _fields(*fs):
    return "|".join(_esc(f) for f in fs)


def _value(t):
    return t.value if isinstance(t, Snap) else t


def _leaf_grad(t):
    if isinstance(t, Snap):
        live = t.leaf()
        return None if live is None else live._grad
    return t._grad


def _node_grads(out, ops, leaves):
    """``{id(tensor): d(out)/d(tensor)}`` for the op tensors: from the record of
    the last backward (``out`` a Snap), or, for a retained live graph with a
    one-element output once a backward has run, by one more sweep that writes
    no ``.grad`` and frees nothing."""
    if isinstance(out, Snap):
        return {id(t): t.grad_ct for t in ops}
    d = out._data
    if out._tan is None or np.size(d) != 1 or not any(t._grad is not None for t in leaves):
        return {}  # (a larger output's seed, backward's gradient=, is not known here)
    from ._tensor_backward import sweep
    want = {id(t._tan): None for t in ops if t._tan is not None}
    seed = np.ones(np.shape(d), np.asarray(d).dtype)
    try:
        sweep([out._tan], [seed], False, want, retain=True)
    except RuntimeError:  # part of the graph was freed by an earlier backward
        return {}
    return {id(t): want.get(id(t._tan)) for t in ops if t._tan is not None}


def to_dot(out, rankdir="LR"):
    g, var, leaves, ops = to_graph([out], with_map=True)
    out = _drawable(out)
    grads = _node_grads(out, ops, leaves)
    names = g.var_names()
    lines = ["digraph wengert {", f"  rankdir={rankdir};",
             '  node [shape=record, fontname="Helvetica", fontsize=10, style=filled, '
             'fillcolor="#eeeeee"];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for t in leaves:
        v = var[id(t)]
        head = f"{names[v]} ({'leaf, requires_grad' if t._rg else 'input'})"
        label = _fields(head, v.aval, f"value {_fmt(_value(t))}", f"grad {_fmt(_leaf_grad(t))}")
        lines.append(f'  {names[v]} [label="{{{label}}}", fillcolor="#d5f5d5"];')
    for t in ops:
        v = var[id(t)]
        op = t._node[0].name
        color = "#fbd9b0" if t is out else "#eeeeee"
        grad = _fmt(t._grad) if t._retain and isinstance(t, Tensor) else _fmt(grads.get(id(t)))
        label = _fields(f"{names[v]} = {op}", v.aval, f"value {_fmt(_value(t))}", f"grad {grad}")
        lines.append(f'  {names[v]} [label="{{{label}}}", fillcolor="{color}"];')
    for t in ops:
        v = var[id(t)]
        k = 0
        for a in t._node[2]:
            if isinstance(a, _NODE) and id(a) in var:
                lines.append(f"  {names[var[id(a)]]} -> {names[v]};")
            else:
                k += 1
                cname = f"c{names[v][1:]}_{k}"
                lines.append(f'  {cname} [label="{_esc(_fmt(a))}", shape=plaintext, style=""];')
                lines.append(f"  {cname} -> {names[v]};")
    lines.append("}")
    return "\n".join(lines)
