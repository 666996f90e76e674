"""Source transformation: derivatives as generated, readable Python code.

``source.grad(f)`` reads ``f``'s source, splits it into one primitive
operation per line (ANF), and writes a new Python function that runs the
forward pass and then the adjoint statements in reverse order, each group
headed by ``# grad of: <the original statement>``, in plain NumPy. No tracing
happens when the generated function runs: it is straight-line NumPy code.

>>> import wengert.numpy as wnp
>>> from wengert import source
>>> def f(x, y):
...     return x ** 2 * y + y + 2
>>> value, grads = source.grad(f)(3.0, 4.0)
>>> float(value), tuple(float(g) for g in grads)
(42.0, (24.0, 10.0))
>>> print(source.grad_source(f))  # doctest: +NORMALIZE_WHITESPACE
def grad_f(x, y):
    # line 2: return x ** 2 * y + y + 2
    t1 = x ** 2
    t2 = t1 * y
    t3 = t2 + y
    ans = t3 + 2
    # -- backward pass: adjoints in reverse order --
    ans_bar = seed(ans, 'f')
    # grad of: return x ** 2 * y + y + 2
    t3_bar = ans_bar
    t2_bar = unbroadcast(t3_bar, t2)
    y_bar = unbroadcast(t3_bar, y)
    t1_bar = unbroadcast(t2_bar * y, t1)
    y_bar = y_bar + unbroadcast(t2_bar * t1, y)
    x_bar = t1_bar * 2 * x
    return ans, (x_bar, y_bar)

Supported: straight-line assignments (also tuple unpacking and ``+=``) and a
final ``return``; ``+ - * / ** @``, unary ``-``; NumPy / ``wengert.numpy`` /
``math`` functions with adjoint rules (called as ``wnp.sin``, ``np.sin``, or
an imported ``sin``: names are resolved through ``f.__globals__`` and its
closure); comparisons and ``np.where``; reductions ``sum mean max min`` with
``axis``/``keepdims``; ``dot``, ``matmul``, ``outer``; indexing by constants;
``for i in range(N)`` with a constant ``N`` (unrolled), ``if`` on a
constant (the branch is chosen when the code is generated), and calls to
the user's own Python functions (inlined). Anything else
raises :class:`SourceTransformError` (a ``SyntaxError``) naming the construct
and the line; ``wg.grad`` runs any Python.

Globals that are not functions (a weight matrix ``W``, a constant ``N``) are
captured when the code is generated, as constants.
"""

from __future__ import annotations

from collections.abc import Callable

from ._source_anf import Op, Program, SourceTransformError, Val, lower
from ._source_rules import PREAMBLE

__all__ = ["grad", "grad_source", "jvp", "jvp_source", "SourceTransformError"]


# ----------------------------------------------------------------------------
# Filling the templates


def _operand(v: Val) -> str:
    c = v.code
    if v.literal and (c.startswith("-") or "j" in c or "e" in c):
        return f"({c})"
    return c


def _params_code(op: Op) -> dict:
    """The static parameters as template fields."""
    p = op.params
    fields = {}
    shown = [f"{k}={p[k]!r}" for k, d in op.rule.params
             if k not in ("index", "shape") and p.get(k, d) != d]
    fields["params"] = "".join(", " + s for s in shown)
    if "index" in p:
        fields["index"] = p["index"]
    if "shape" in p:
        fields["shape"] = repr(p["shape"])
    if op.rule.name == "transpose":
        axes = p.get("axes")
        if axes is None:
            fields["inverse"] = ""
        else:
            n = len(axes)
            inv = [0] * n
            for i, a in enumerate(axes):
                inv[a % n] = i
            fields["inverse"] = f", {tuple(inv)!r}"
    return fields


def _codes(op: Op) -> dict:
    return {s: _operand(v) for s, v in op.args.items()}


def _forward(op: Op) -> str:
    return op.rule.fwd.format(**_codes(op), **_params_code(op))


def _pow_literal(op: Op, g: str) -> str | None:
    """``x ** c`` for a literal ``c``: ``g * c * x ** (c - 1)``, simplified."""
    y = op.args["y"]
    if not y.literal or "j" in y.code or "np." in y.code:
        return None
    c = float(y.code) if "." in y.code or "e" in y.code else int(y.code)
    x = _operand(op.args["x"])
    if c == 1:
        return g
    if c == 2:
        return f"{g} * 2 * {x}"
    cm1 = c - 1
    return f"{g} * {_operand(Val(repr(c), literal=True))} * {x} ** {_operand(Val(repr(cm1), literal=True))}"


def _local(op: Op, slot: str, g: str) -> str:
    """The derivative of ``op`` in ``slot`` applied to ``g`` (no unbroadcast)."""
    if op.rule.name == "pow" and slot == "x":
        simple = _pow_literal(op, g)
        if simple is not None:
            return simple
    return op.rule.adj[slot].format(g=g, ans=op.out, **_codes(op), **_params_code(op))


def _adjoint(op: Op, slot: str, g: str) -> str:
    expr = _local(op, slot, g)
    if op.rule.bcast and any(not v.literal for s, v in op.args.items() if s != slot):
        expr = f"unbroadcast({expr}, {op.args[slot].code})"
    return expr


def _tangent(op: Op, slot: str, dot: str) -> str:
    rule = op.rule
    if rule.jvp and slot in rule.jvp:
        return rule.jvp[slot].format(g=dot, ans=op.out, **_codes(op), **_params_code(op))
    if rule.kind == "linear":
        codes = _codes(op)
        codes[slot] = dot
        return rule.fwd.format(**codes, **_params_code(op))
    return _local(op, slot, dot)


def _diff_slots(op: Op):
    return [(s, v) for s, v in op.args.items()
            if v.active and (s in op.rule.adj or op.rule.kind == "linear")]


# ----------------------------------------------------------------------------
# Writing the functions


def _forward_lines(prog: Program, body: list, tangents: bool = False):
    n = prog.namer
    cur = None
    for op in prog.ops:
        if op.stmt != cur:
            cur = op.stmt
            line, text = prog.stmts[cur]
            body.append(f"# line {line}: {text}")
        body.append(f"{op.out} = {_forward(op)}")
        if tangents and op.active and op.rule.join_tangent:
            codes = {s: n.dot(v.code) if v.active else "0.0" if v.literal
                     else f"np.zeros_like({v.code})" for s, v in op.args.items()}
            body.append(f"{n.dot(op.out)} = " + op.rule.fwd.format(**codes, **_params_code(op)))
        elif tangents and op.active:
            terms = [_tangent(op, s, n.dot(v.code)) for s, v in _diff_slots(op)]
            body.append(f"{n.dot(op.out)} = " + " + ".join(terms).replace("+ -", "- "))


def _indent(name: str, args: list, body: list) -> str:
    return "\n".join([f"def {name}({', '.join(args)}):"] + ["    " + b for b in body])


def _grad_code(prog: Program) -> str:
    n = prog.namer
    body: list = []
    _forward_lines(prog, body)
    out = prog.out
    body.append("# -- backward pass: adjoints in reverse order --")
    done = set()
    if out.active:
        body.append(f"{n.bar(out.code)} = seed({out.code}, {prog.name!r})")
        done.add(out.code)
    else:
        body.append(f"seed({out.code}, {prog.name!r})")
    cur = None
    for op in reversed(prog.ops):
        if not op.active or op.out not in done:
            continue
        if op.stmt != cur:
            cur = op.stmt
            body.append(f"# grad of: {prog.stmts[cur][1]}")
        g = n.bar(op.out)
        for slot, val in _diff_slots(op):
            expr = _adjoint(op, slot, g)
            bar = n.bar(val.code)
            if val.code in done:
                body.append(f"{bar} = {bar} + {expr}")
            else:
                body.append(f"{bar} = {expr}")
                done.add(val.code)
    grads = [n.bar(a) if a in done else f"np.zeros_like({a})" for a in prog.args]
    body.append(f"return {out.code}, ({', '.join(grads)}{',' if len(grads) == 1 else ''})")
    return _indent(n._fresh(f"grad_{_ident(prog.name)}"), prog.args, body)


def _jvp_code(prog: Program) -> str:
    n = prog.namer
    body: list = []
    _forward_lines(prog, body, tangents=True)
    out = prog.out
    ret = n.dot(out.code) if out.active else f"np.zeros_like({out.code})"
    body.append(f"return {out.code}, {ret}")
    return _indent(n._fresh(f"jvp_{_ident(prog.name)}"), prog.args + [n.dot(a) for a in prog.args],
                   body)


def _ident(name: str) -> str:
    return name if name.isidentifier() else "lambda_"


_counter = [0]


def _compile(prog: Program, code: str, kind: str) -> Callable:
    _counter[0] += 1
    filename = f"<wengert.source.{kind}({prog.name}) #{_counter[0]}>"
    text = PREAMBLE + "\n\n" + code + "\n"
    ns: dict = {"__name__": "wengert.source.generated"}
    exec(compile(text, filename, "exec"), ns)  # noqa: S102
    ns.update(prog.consts)
    fn = ns[code.split("(", 1)[0][4:]]
    from ._linecache import register_source
    register_source(filename, text, fn)  # in linecache while fn lives (issue 10)
    fn.source = code
    return fn


def _doc(kind, prog):
    return (f"{kind} of {prog.name}, generated by wengert.source from its source code; "
            "see `.source` for the code.")


# ----------------------------------------------------------------------------
# Public API


def grad_source(f: Callable, helpers: bool = False) -> str:
    """The code of ``source.grad(f)``: the forward pass in ANF, then the
    adjoints in reverse order under ``# grad of:`` comments.

    ``helpers=True`` prepends the helper functions (``unbroadcast``,
    ``unreduce``, ``seed``, ...) so the text runs on its own with NumPy
    (constants captured from ``f``'s globals must still be defined).

    >>> import wengert.numpy as wnp
    >>> def f(x):
    ...     y = wnp.sin(x)
    ...     return y * x
    >>> print(grad_source(f))  # doctest: +NORMALIZE_WHITESPACE
    def grad_f(x):
        # line 2: y = wnp.sin(x)
        y = np.sin(x)
        # line 3: return y * x
        ans = y * x
        # -- backward pass: adjoints in reverse order --
        ans_bar = seed(ans, 'f')
        # grad of: return y * x
        y_bar = unbroadcast(ans_bar * x, y)
        x_bar = unbroadcast(ans_bar * y, x)
        # grad of: y = wnp.sin(x)
        x_bar = x_bar + y_bar * np.cos(x)
        return ans, (x_bar,)
    """
    code = _grad_code(lower(f))
    return PREAMBLE + "\n\n" + code + "\n" if helpers else code


def grad(f: Callable) -> Callable:
    """A new function computing ``(value, grads)`` of scalar-valued ``f`` by
    generated straight-line NumPy code; ``grads`` has one gradient per
    positional argument of ``f``.

    >>> import wengert.numpy as wnp
    >>> def f(x):
    ...     return wnp.sum(wnp.tanh(x) ** 2)
    >>> value, (dx,) = grad(f)(wnp.array([0.0, 1.0]))
    >>> dx.round(4)
    array([0.    , 0.6397])
    """
    prog = lower(f)
    fn = _compile(prog, _grad_code(prog), "grad")
    fn.__doc__ = _doc("Value and gradient", prog)
    fn.__defaults__ = f.__defaults__
    return fn


def jvp_source(f: Callable, helpers: bool = False) -> str:
    """The code of ``source.jvp(f)``: forward mode, each line followed by its
    tangent line (``x_dot``).

    >>> import wengert.numpy as wnp
    >>> def f(x):
    ...     return wnp.exp(x) * x
    >>> print(jvp_source(f))  # doctest: +NORMALIZE_WHITESPACE
    def jvp_f(x, x_dot):
        # line 2: return wnp.exp(x) * x
        t1 = np.exp(x)
        t1_dot = x_dot * t1
        ans = t1 * x
        ans_dot = t1_dot * x + x_dot * t1
        return ans, ans_dot
    """
    code = _jvp_code(lower(f))
    return PREAMBLE + "\n\n" + code + "\n" if helpers else code


def jvp(f: Callable) -> Callable:
    """Forward mode by generated code: ``jvp(f)(primals, tangents)`` returns
    ``(f(*primals), tangent_out)``, as ``wg.jvp(f, primals, tangents)`` does.

    >>> import wengert.numpy as wnp
    >>> def f(x, y):
    ...     return wnp.sin(x) * y
    >>> out, out_dot = jvp(f)((0.0, 2.0), (1.0, 0.0))
    >>> float(out), float(out_dot)
    (0.0, 2.0)
    """
    prog = lower(f)
    fn = _compile(prog, _jvp_code(prog), "jvp")
    nargs = len(prog.args)

    def jvp_f(primals, tangents):
        primals, tangents = tuple(primals), tuple(tangents)
        if len(primals) != nargs or len(tangents) != nargs:
            raise TypeError(
                f"source.jvp({prog.name}): expected {nargs} primals and {nargs} tangents "
                f"(tuples), got {len(primals)} and {len(tangents)}")
        return fn(*primals, *tangents)

    jvp_f.__doc__ = _doc("Forward-mode JVP", prog)
    jvp_f.__name__ = fn.__name__
    jvp_f.source = fn.source
    return jvp_f
