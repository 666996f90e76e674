"""Seeing the computation: evaluation-trace tables and Graphviz graphs.

* :func:`trace_table` prints the tables of the textbooks (Griewank and
  Walther's evaluation trace; Baydin et al., "Automatic differentiation in
  machine learning: a survey", tables 2 and 3): every intermediate ``v_i``,
  its operation, its value and its tangent (forward mode) or adjoint
  (reverse mode).
* :func:`to_dot` returns Graphviz DOT source of the same graph, with values
  and gradients on the nodes; :func:`render` turns it into SVG or PNG with the
  ``dot`` program.

Naming follows Griewank: with ``n`` inputs, the inputs are ``v-(n-1) ...
v0`` (for two inputs ``v-1, v0``), the intermediates ``v1, v2, ...`` in
evaluation order, and the last one computed for the output is ``y``'s.

>>> import wengert as wg, wengert.numpy as wnp
>>> f = lambda x1, x2: wnp.log(x1) + x1 * x2 - wnp.sin(x2)
>>> t = wg.trace_table(f, 2.0, 5.0, mode="reverse")
>>> [(r["name"], r["op"], round(float(r["adjoint"]), 3)) for r in t.rows]  # doctest: +NORMALIZE_WHITESPACE
[('v-1', 'input', 5.5), ('v0', 'input', 1.716), ('v1', 'log', 1.0), ('v2', 'mul', 1.0),
 ('v3', 'add', 1.0), ('v4', 'sin', -1.0), ('v5', 'sub', 1.0)]
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import numpy as np

from ._record import Recording, Var, forward_tangents, record, reverse_adjoints

__all__ = ["trace_table", "TraceTable", "to_dot", "render", "GraphvizNotFoundError"]


# ----------------------------------------------------------------------------
# Formatting values


def _fmt(x: Any, width: int = 10) -> str:
    """Short, readable text for a value (scalars as %.6g, arrays abbreviated)."""
    if x is None:
        return "0"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    a = np.asarray(x)
    if a.ndim == 0:
        v = a.item()
        if isinstance(v, complex):
            return f"{v.real:.6g}{v.imag:+.6g}j"
        if isinstance(v, float):
            return f"{v:.6g}"
        return str(v)
    if a.size <= 4:
        return np.array2string(a, precision=4, separator=", ", suppress_small=True).replace("\n", "")
    flat = a.ravel()
    head = ", ".join(_fmt(v) for v in flat[:3])
    return f"{a.dtype.name}{list(a.shape)} [{head}, …]"


def _fmt_param(p: Any) -> str:
    if isinstance(p, (np.ndarray,)):
        return f"array{list(p.shape)}" if p.size > 4 else np.array2string(p, separator=",")
    r = repr(p) if not isinstance(p, type) else p.__name__
    if isinstance(p, np.dtype):
        r = p.name
    return r if len(r) <= 24 else r[:21] + "..."


def _names(rec: Recording) -> dict[int, str]:
    """Griewank's names: inputs v-(n-1)..v0, then v1, v2, ..."""
    n = len(rec.inputs)
    return {v.index: f"v{v.index - n + 1}" for v in rec.vars}


def _arg_text(a, names) -> str:
    if type(a) is Var:
        return names[a.index]
    return _fmt(a)


def _op_text(e) -> str:
    name = e.prim.name
    params = [p for p in e.params if not callable(p)]
    if params:
        name += "[" + ", ".join(_fmt_param(p) for p in params) + "]"
    return name


def _input_labels(rec: Recording, fun) -> list[str]:
    """'x0', 'x1', ... or the function's parameter names where it has them."""
    import inspect

    try:
        pnames = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        pnames = []
    counts: dict[int, int] = {}
    for a in rec.arg_of_input:
        counts[a] = counts.get(a, 0) + 1
    seen: dict[int, int] = {}
    labels = []
    for a in rec.arg_of_input:
        base = pnames[a] if a < len(pnames) else f"x{a}"
        if counts[a] > 1:
            k = seen.get(a, 0)
            seen[a] = k + 1
            labels.append(f"{base}[{k}]")
        else:
            labels.append(base)
    return labels


# ----------------------------------------------------------------------------
# Trace tables


class TraceTable:
    """An evaluation-trace table: ``rows`` (a list of dicts) and ``str()``.

    Each row has the keys ``name`` (``"v-1"``, ``"v0"``, ``"v1"``, ...),
    ``op`` (the primitive's name, or ``"input"``), ``inputs`` (names of the
    operands, constants written out), ``value`` and ``tangent`` (forward
    mode) or ``adjoint`` (reverse mode); also ``label`` (the argument's name,
    inputs only) and ``params`` (the primitive's static parameters).
    ``value`` is the function's value; ``derivative`` is the output's
    tangent (forward mode: the directional derivative along the seed) or the
    tuple of adjoints of the inputs (reverse mode: the gradient, one entry
    per input leaf).
    """

    def __init__(self, mode: str, rows: list[dict], outputs: list[str], title: str,
                 value: Any, derivative: Any):
        self.mode = mode
        self.rows = rows
        self.outputs = outputs
        self.title = title
        self.value = value
        self.derivative = derivative

    @property
    def column(self) -> str:
        """``"tangent"`` or ``"adjoint"``."""
        return "tangent" if self.mode == "forward" else "adjoint"

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __str__(self) -> str:
        col = self.column
        dname = "tangent v̇ᵢ" if col == "tangent" else "adjoint v̄ᵢ"
        header = ["var", "operation", "value", dname]
        body = []
        for r in self.rows:
            if r["op"] == "input":
                opx = f"input {r['label']}"
            else:
                params = [p for p in r.get("params", ()) if not callable(p)]
                ptxt = "[" + ", ".join(_fmt_param(p) for p in params) + "]" if params else ""
                opx = f"{r['op']}{ptxt}({', '.join(r['inputs'])})"
            body.append([r["name"], opx, _fmt(r["value"]), _fmt(r[col])])
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
                  for i, h in enumerate(header)]
        widths[1] = min(widths[1], 48)

        def line(cells):
            out = []
            for i, (c, w) in enumerate(zip(cells, widths)):
                if i == 1 and len(c) > w:
                    c = c[: w - 1] + "…"
                out.append(c.rjust(w) if i >= 2 else c.ljust(w))
            return "  ".join(out).rstrip()

        lines = [self.title, line(header), line(["-" * w for w in widths])]
        lines += [line(b) for b in body]
        if self.outputs:
            lines.append(f"output: {', '.join(self.outputs)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<TraceTable mode={self.mode!r}, {len(self.rows)} rows>\n{self}"


def trace_table(f: Callable, *args: Any, mode: str = "forward", wrt: int = 0) -> TraceTable:
    """The evaluation trace of ``f(*args)`` with tangents or adjoints.

    ``mode="forward"``: input argument ``wrt`` is seeded with tangent 1 (all
    ones for an array argument, a directional derivative) and the others with
    0; each row's ``tangent`` is ``∂v_i/∂x_wrt``.  ``mode="reverse"``: the
    output is seeded with adjoint 1 (all ones for an array output) and each
    row's ``adjoint`` is ``∂y/∂v_i``; the inputs' adjoints are the gradient.
    Every value is exact (no finite differences): tangents come from each
    primitive's JVP rule and adjoints from its VJP, applied one row at a time.

    Inputs are named ``v-(n-1) ... v0`` and intermediates ``v1, v2, ...``, one
    per primitive operation (``wengert.numpy`` functions that are
    compositions show as their primitives).

    The example of Baydin et al. (2018), f(x1, x2) = ln(x1) + x1·x2 − sin(x2)
    at (2, 5):

    >>> import wengert as wg, wengert.numpy as wnp
    >>> f = lambda x1, x2: wnp.log(x1) + x1 * x2 - wnp.sin(x2)
    >>> print(wg.trace_table(f, 2.0, 5.0))
    forward mode: tangent 1 on x1 (v-1), 0 on the other inputs
    var  operation         value  tangent v̇ᵢ
    ---  ------------  ---------  -----------
    v-1  input x1              2            1
    v0   input x2              5            0
    v1   log(v-1)       0.693147          0.5
    v2   mul(v-1, v0)         10            5
    v3   add(v1, v2)     10.6931          5.5
    v4   sin(v0)       -0.958924            0
    v5   sub(v3, v4)     11.6521          5.5
    output: v5
    """
    if mode in ("fwd", "forward"):
        mode = "forward"
    elif mode in ("rev", "reverse"):
        mode = "reverse"
    else:
        raise ValueError(f"trace_table: mode must be 'forward' or 'reverse', got {mode!r}")
    if not callable(f):
        raise TypeError(f"trace_table: the first argument must be a function, got {type(f).__name__}")
    if not args:
        raise TypeError("trace_table(f, *args): give the point to evaluate at, e.g. "
                        "trace_table(f, 2.0, 5.0)")
    if not isinstance(wrt, (int, np.integer)) or not -len(args) <= wrt < len(args):
        raise ValueError(f"trace_table: wrt={wrt!r} must name one of the {len(args)} positional "
                         "arguments (an int)")
    wrt = int(wrt) % len(args)
    rec = record(f, args)
    names = _names(rec)
    labels = _input_labels(rec, f)
    out_vars = [o for o in rec.outputs if type(o) is Var]
    values = [o.value if type(o) is Var else o for o in rec.outputs]
    value = values[0] if len(values) == 1 else tuple(values)

    if mode == "forward":
        seeds = {i: _one(v.value) for i, v in enumerate(rec.inputs) if rec.arg_of_input[i] == wrt}
        d = forward_tangents(rec, seeds)
        outs_d = [d.get(o.index) if type(o) is Var else None for o in rec.outputs]
        outs_d = [np.zeros_like(v) if t is None else t for t, v in zip(outs_d, values)]
        derivative = outs_d[0] if len(outs_d) == 1 else tuple(outs_d)
        seeded = ", ".join(f"{labels[i]} ({names[rec.inputs[i].index]})" for i in seeds)
        title = (f"forward mode: tangent 1 on {seeded}, 0 on the other inputs" if seeds
                 else "forward mode: no input to seed")
    else:
        seeds = {}
        for o in out_vars:
            if o.index not in seeds:
                seeds[o.index] = _one(o.value)
        d = reverse_adjoints(rec, seeds)
        derivative = tuple(_zero_if_none(d.get(v.index), v.value) for v in rec.inputs)
        title = "reverse mode: adjoints seeded with ȳ = 1"
    key = "tangent" if mode == "forward" else "adjoint"
    rows = []
    for i, v in enumerate(rec.inputs):
        rows.append({"name": names[v.index], "op": "input", "inputs": [], "value": v.value,
                     key: _zero_if_none(d.get(v.index), v.value), "label": labels[i]})
    for e in rec.eqns:
        ins = [_arg_text(a, names) for a in e.args]
        for v in e.outs:
            op = e.prim.name + (f"#{v.out_index}" if e.prim.multiple_results else "")
            rows.append({"name": names[v.index], "op": op, "inputs": ins, "value": v.value,
                         key: _zero_if_none(d.get(v.index), v.value), "params": e.params})
    outs = [names[o.index] if type(o) is Var else _fmt(o) for o in rec.outputs]
    return TraceTable(mode, rows, outs, title, value, derivative)


def _one(x):
    a = np.ones(np.shape(x), dtype=np.result_type(x) if _floating(x) else np.float64)
    return a[()] if a.ndim == 0 else a


def _floating(x) -> bool:
    return np.result_type(x).kind in "fc"


def _zero_if_none(d, value):
    if d is not None:
        return d
    z = np.zeros(np.shape(value), dtype=np.result_type(value) if _floating(value) else np.float64)
    return z[()] if z.ndim == 0 else z


# ----------------------------------------------------------------------------
# Graphviz


def _dot_escape(s: str) -> str:
    return (s.replace("\\", "\\\\").replace("\"", "\\\"").replace("{", "\\{").replace("}", "\\}")
            .replace("<", "\\<").replace(">", "\\>").replace("|", "\\|"))


def to_dot(f: Callable | Any, *args: Any, rankdir: str = "LR") -> str:
    """Graphviz DOT source of ``f``'s computation at ``args``, with the value
    and the gradient (adjoint, ``∂y/∂v_i``, from reverse mode) on each node.

    Each node is one ``v_i`` of :func:`trace_table`: inputs are green,
    operations grey, the output orange; constants appear as small plain
    nodes.  No ``graphviz`` package is needed to make the text; use
    :func:`render` to draw it.  ``f`` may also be an object with its own
    ``to_dot()`` method (``wg.Tensor``), which is then called, or a graph
    from ``wg.make_graph``: without arguments its structure is drawn (shapes,
    no values), with arguments it is run and drawn with values and gradients.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> src = wg.to_dot(lambda x, y: x * y + wnp.sin(x), 2.0, 3.0)
    >>> src.splitlines()[0]
    'digraph wengert {'
    >>> "grad 2.58385" in src   # ∂/∂x = y + cos(x)
    True
    """
    if not args and hasattr(f, "to_dot"):
        return f.to_dot()
    if not args and _is_graph(f):
        return _graph_dot(f, rankdir)
    if not callable(f) and hasattr(f, "to_dot"):
        return f.to_dot()
    if not callable(f):
        raise TypeError(f"to_dot: expected a function (and its arguments) or an object with "
                        f".to_dot(), got {type(f).__name__}")
    rec = record(f, args)
    names = _names(rec)
    labels = _input_labels(rec, f)
    out_vars = {o.index for o in rec.outputs if type(o) is Var}
    seeds: dict[int, Any] = {}
    for o in rec.outputs:
        if type(o) is Var:
            seeds.setdefault(o.index, _one(o.value))
    adj = reverse_adjoints(rec, seeds)
    lines = ["digraph wengert {", f"  rankdir={rankdir};",
             '  node [shape=record, fontname="Helvetica", fontsize=10, style=filled, '
             'fillcolor="#eeeeee"];',
             '  edge [fontname="Helvetica", fontsize=9];']

    def node(v: Var, head: str, color: str):
        val = _fmt(v.value)
        g = _fmt(_zero_if_none(adj.get(v.index), v.value))
        label = "{" + _dot_escape(head) + "|" + _dot_escape(f"value {val}") + "|" \
            + _dot_escape(f"grad {g}") + "}"
        if v.index in out_vars:
            color = "#ffd9a8"
        lines.append(f'  {names[v.index].replace("-", "m")} [label="{label}", fillcolor="{color}"];')

    for i, v in enumerate(rec.inputs):
        node(v, f"{names[v.index]} = {labels[i]}", "#c9f2c9")
    nconst = 0
    for e in rec.eqns:
        for v in e.outs:
            op = _op_text(e) + (f"#{v.out_index}" if e.prim.multiple_results else "")
            node(v, f"{names[v.index]} = {op}", "#eeeeee")
        for k, a in enumerate(e.args):
            for v in e.outs:
                dst = names[v.index].replace("-", "m")
                lab = f' [label="{k}"]' if len(e.args) > 1 and e.prim.name not in _COMMUTATIVE else ""
                if type(a) is Var:
                    lines.append(f"  {names[a.index].replace('-', 'm')} -> {dst}{lab};")
                else:
                    cname = f"c{nconst}"
                    nconst += 1
                    lines.append(f'  {cname} [label="{_dot_escape(_fmt(a))}", shape=plaintext, '
                                 'style="", fontcolor="#555555"];')
                    lines.append(f"  {cname} -> {dst}{lab};")
    for o in rec.outputs:
        if type(o) is Var:
            lines.append(f'  y_{names[o.index].replace("-", "m")} [label="y", shape=doublecircle, '
                         'fillcolor="#ffd9a8"];')
            lines.append(f'  {names[o.index].replace("-", "m")} -> y_{names[o.index].replace("-", "m")};')
    lines.append("}")
    return "\n".join(lines) + "\n"


_COMMUTATIVE = {"add", "mul", "maximum", "minimum", "hypot", "logaddexp", "logaddexp2"}


def _is_graph(g: Any) -> bool:
    return hasattr(g, "var_names") and hasattr(g, "eqns") and hasattr(g, "inputs")


def _graph_dot(g: Any, rankdir: str = "LR") -> str:
    """Structure of a ``wg.make_graph`` graph: one node per value, with shapes."""
    names = g.var_names()
    lines = ["digraph wengert {", f"  rankdir={rankdir};",
             '  node [shape=record, fontname="Helvetica", fontsize=10, style=filled, '
             'fillcolor="#eeeeee"];', '  edge [fontname="Helvetica", fontsize=9];']
    outs = {id(o) for o in g.outputs}

    def nid(v):
        return names[v].replace("-", "m")

    def color(v, base):
        return "#ffd9a8" if id(v) in outs else base

    for v in g.inputs:
        lines.append(f'  {nid(v)} [label="{{{_dot_escape(names[v] + " = input")}|'
                     f'{_dot_escape(v.aval)}}}", fillcolor="{color(v, "#c9f2c9")}"];')
    nconst = 0
    for e in g.eqns:
        for v in e.outputs:
            lines.append(f'  {nid(v)} [label="{{{_dot_escape(names[v] + " = " + e.name)}|'
                         f'{_dot_escape(v.aval)}}}", fillcolor="{color(v, "#eeeeee")}"];')
            for a in e.inputs:
                if type(a) is type(v) and a in names:
                    lines.append(f"  {nid(a)} -> {nid(v)};")
                else:
                    lines.append(f'  c{nconst} [label="{_dot_escape(_fmt(a))}", shape=plaintext, '
                                 'style="", fontcolor="#555555"];')
                    lines.append(f"  c{nconst} -> {nid(v)};")
                    nconst += 1
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program is not installed."""


_FORMATS = {"svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps", "json", "plain", "dot", "gv"}


def render(graph: Any, path: str | os.PathLike, format: str | None = None) -> str:  # noqa: A002
    """Write ``graph`` (DOT text, or an object with ``to_dot()``) to ``path``
    as SVG, PNG, PDF... (the format from the file's extension when ``format``
    is None) with Graphviz's ``dot`` program; returns the path.

    ``.dot``/``.gv`` files get the DOT text itself and need no Graphviz.  When
    ``dot`` is missing this raises :class:`GraphvizNotFoundError` saying how
    to install it (``apt-get install graphviz``, ``brew install graphviz``,
    or ``conda install graphviz``; the ``pip install graphviz`` package alone
    does not ship the program).

    >>> import os, tempfile, wengert as wg
    >>> p = os.path.join(tempfile.mkdtemp(), "g.dot")
    >>> wg.render(wg.to_dot(lambda x: x * x, 3.0), p) == p
    True
    """
    if isinstance(graph, str):
        src = graph
    elif hasattr(graph, "to_dot"):
        src = graph.to_dot()
    elif _is_graph(graph):
        src = _graph_dot(graph)
    elif hasattr(graph, "source") and isinstance(graph.source, str):
        src = graph.source  # a graphviz.Digraph
    else:
        raise TypeError(f"render: expected DOT text or an object with .to_dot(), got "
                        f"{type(graph).__name__}; use wg.to_dot(f, *args) first")
    path = os.fspath(path)
    fmt = format
    if fmt is None:
        ext = os.path.splitext(path)[1].lstrip(".").lower()
        if not ext:
            raise ValueError(f"render: cannot tell the format of {path!r}; give the file an "
                             "extension (.svg, .png, .pdf) or pass format='svg'")
        fmt = ext
    fmt = fmt.lower()
    if fmt not in _FORMATS:
        raise ValueError(f"render: unknown format {fmt!r}; use one of svg, png, pdf, dot")
    if fmt in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(src)
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            f"render: drawing {os.path.basename(path)} needs Graphviz's `dot` program, which is not "
            "installed. Install it with `apt-get install graphviz` (Debian/Ubuntu), `brew install "
            "graphviz` (macOS) or `conda install graphviz` (`pip install graphviz` alone installs "
            "only the Python bindings, not the program), or save the DOT text with a .dot "
            "extension and render it elsewhere.")
    proc = subprocess.run([exe, f"-T{fmt}", "-o", path], input=src.encode("utf-8"),
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"render: `dot -T{fmt}` failed: {msg[0] if msg else 'no message'}")
    return path
