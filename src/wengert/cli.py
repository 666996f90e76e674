"""The ``wengert`` command line.

::

    wengert grad  "x**2*y + y + 2" --at x=3 y=4   # every method side by side
    wengert trace "ln(x1) + x1*x2 - sin(x2)" --at x1=2 x2=5
    wengert graph "x*y + sin(x)" --at x=2 y=3 -o graph.svg
    wengert bench --quick

Expressions use Python syntax (``**`` for powers), numbers, the variables
named in ``--at``, and ``wengert.numpy`` function names (plus ``ln``,
``asin``, ``acos``, ``atan``).  They are parsed with :mod:`ast` and checked
node by node before being compiled; user text is never ``eval``-ed.

Bad input (a syntax error, an unknown name, a variable without a value, a
point outside the domain) prints one line on stderr and exits with status 2.

>>> main(["grad", "x**2*y + y + 2", "--at", "x=3", "y=4", "--methods", "reverse,forward",
...       "--no-time"])
f(x, y) = x**2*y + y + 2   at x = 3, y = 4
value   = 42
<BLANKLINE>
method                 ∂f/∂x  ∂f/∂y  error vs reverse mode
---------------------  -----  -----  ---------------------
reverse mode (grad)       24     10                    ref
forward mode (jvp ×2)     24     10                      0
0
"""

from __future__ import annotations

import argparse
import ast
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["main", "parse_expression", "Expression", "CLIError"]


class CLIError(Exception):
    """A user mistake: reported as one line on stderr, exit status 2."""


# ----------------------------------------------------------------------------
# Safe expressions

ALIASES = {"ln": "log", "asin": "arcsin", "acos": "arccos", "atan": "arctan",
           "atan2": "arctan2", "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh",
           "pow": "power"}
CONSTANTS = {"pi": math.pi, "e": math.e}
_UNARY_EXTRA = ("square", "reciprocal", "sinc", "deg2rad", "rad2deg", "absolute", "positive",
                "negative")
_BINARY_EXTRA = ("fmax", "fmin", "true_divide")
_NONDIFF = {"sign", "floor", "ceil", "rint", "trunc", "isnan", "isinf", "isfinite", "logical_not",
            "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
            "logical_or", "logical_xor", "floor_divide", "conj", "real", "imag"}


def _function_table() -> dict[str, int]:
    """Allowed function names -> number of arguments."""
    from .numpy import _funcs

    table = {n: 1 for n in _funcs.UNARY if n not in _NONDIFF}
    table.update({n: 2 for n in _funcs.BINARY if n not in _NONDIFF})
    table.update({n: 1 for n in _UNARY_EXTRA})
    table.update({n: 2 for n in _BINARY_EXTRA})
    for alias, target in ALIASES.items():
        table[alias] = table[target]
    return table


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNOPS = {ast.UAdd: "+", ast.USub: "-"}
_COUNTER = [0]


class Expression:
    """A checked expression compiled into a function of its variables.

    ``fn(*values)`` evaluates it with ``wengert.numpy`` (so every
    transformation applies); ``source`` is the Python source of ``fn``,
    readable by ``inspect.getsource`` (``wengert.source`` needs it).
    """

    def __init__(self, text: str, variables: Sequence[str], fn: Callable, source: str):
        self.text = text
        self.variables = list(variables)
        self.fn = fn
        self.source = source

    def __call__(self, *values):
        return self.fn(*values)


def parse_expression(text: str, variables: Sequence[str]) -> Expression:
    """Parse and check ``text`` and compile it into ``f(*variables)``.

    Raises :class:`CLIError` with a one-line message for anything but
    numbers, the given variables, ``+ - * / **``, unary ``-``/``+`` and
    calls of ``wengert.numpy`` functions.

    >>> e = parse_expression("ln(x) + x*y", ["x", "y"])
    >>> float(e(1.0, 3.0))
    3.0
    >>> parse_expression("__import__('os')", ["x"])
    Traceback (most recent call last):
    ...
    wengert.cli.CLIError: unknown function '__import__'; use a wengert.numpy name such as sin, exp, log or ln
    """
    if not isinstance(text, str) or not text.strip():
        raise CLIError("the expression is empty; give one such as \"x**2*y + y + 2\"")
    funcs = _function_table()
    for v in variables:
        if not v.isidentifier() or v.startswith("_"):
            raise CLIError(f"{v!r} is not a valid variable name (use letters, digits and _ ; "
                           "start with a letter)")
        if v in funcs:
            raise CLIError(f"variable name {v!r} is a function name; pick another name")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise CLIError(f"syntax error in the expression{col}: {exc.msg}") from None
    used: list[str] = []

    def check(node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Expression):
            return ast.Expression(body=check(node.body))
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise CLIError(f"operator {_op_name(node.op)} is not allowed; use + - * / **")
            return ast.BinOp(left=check(node.left), op=node.op, right=check(node.right))
        if isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNOPS:
                raise CLIError(f"operator {_op_name(node.op)} is not allowed; use + - * / **")
            return ast.UnaryOp(op=node.op, operand=check(node.operand))
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise CLIError(f"only numbers may appear as constants, not {v!r}")
            return ast.Constant(value=v)
        if isinstance(node, ast.Name):
            name = node.id
            if name in variables:
                if name not in used:
                    used.append(name)
                return ast.Name(id=name, ctx=ast.Load())
            if name in CONSTANTS:
                return ast.Constant(value=CONSTANTS[name])
            if name in funcs:
                raise CLIError(f"{name!r} is a function: call it, e.g. {name}(x)")
            raise CLIError(f"unknown name {name!r}: give it a value with --at {name}=<number> "
                           "(or use a wengert.numpy function name)")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                what = ast.unparse(node.func)
                raise CLIError(f"only plain function names can be called, not {what!r} "
                               "(write sin(x), not np.sin(x))")
            name = node.func.id
            if name not in funcs:
                if name in variables:
                    raise CLIError(f"{name!r} is a variable, not a function; write {name}*(...) "
                                   "to multiply")
                raise CLIError(f"unknown function {name!r}; use a wengert.numpy name such as "
                               "sin, exp, log or ln")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise CLIError(f"{name}() takes plain positional arguments only")
            n = funcs[name]
            if len(node.args) != n:
                raise CLIError(f"{name}() takes {n} argument{'s' if n > 1 else ''}, got "
                               f"{len(node.args)}")
            target = ALIASES.get(name, name)
            return ast.Call(func=ast.Attribute(value=ast.Name(id="wnp", ctx=ast.Load()),
                                               attr=target, ctx=ast.Load()),
                            args=[check(a) for a in node.args], keywords=[])
        if isinstance(node, ast.Compare):
            raise CLIError("comparisons are not allowed in an expression")
        kind = type(node).__name__
        raise CLIError(f"{_node_name(kind)} is not allowed in an expression; use numbers, "
                       "variables, + - * / ** and function calls")

    body = check(tree)
    ast.fix_missing_locations(body)
    _COUNTER[0] += 1
    fname = f"<wengert-expression-{_COUNTER[0]}>"
    params = ", ".join(variables)
    source = f"def f({params}):\n    return {ast.unparse(body.body)}\n"
    from . import numpy as wnp

    glb: dict[str, Any] = {"wnp": wnp, "__name__": "wengert_expression"}
    code = compile(source, fname, "exec")
    exec(code, glb)  # the source was built from a checked AST, not from user text
    fn = glb["f"]
    from ._linecache import register_source
    register_source(fname, source, fn)  # in linecache while fn lives (issue 10)
    fn.__doc__ = f"f({params}) = {text.strip()}"
    expr = Expression(text.strip(), variables, fn, source)
    expr.used = used  # type: ignore[attr-defined]
    return expr


def _op_name(op: ast.AST) -> str:
    return {"Mod": "%", "FloorDiv": "//", "MatMult": "@", "BitAnd": "&", "BitOr": "|",
            "BitXor": "^", "LShift": "<<", "RShift": ">>", "Not": "not",
            "Invert": "~"}.get(type(op).__name__, type(op).__name__)


def _node_name(kind: str) -> str:
    return {"Attribute": "attribute access", "Subscript": "indexing", "Lambda": "lambda",
            "Tuple": "a tuple", "List": "a list", "Dict": "a dict", "Set": "a set",
            "BoolOp": "and/or", "IfExp": "if-else", "JoinedStr": "an f-string",
            "ListComp": "a comprehension", "GeneratorExp": "a generator",
            "NamedExpr": ":=", "Starred": "*"}.get(kind, kind)


def parse_point(items: Sequence[str] | None) -> dict[str, float]:
    """``["x=3", "y=4"]`` (or ``["x=3,y=4"]``) -> ``{"x": 3.0, "y": 4.0}``."""
    out: dict[str, float] = {}
    for item in items or []:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise CLIError(f"--at expects name=value pairs such as x=3, got {part!r}")
            name, _, value = part.partition("=")
            name, value = name.strip(), value.strip()
            if not name:
                raise CLIError(f"--at {part!r}: the variable name is missing (write x=3)")
            if name in out:
                raise CLIError(f"--at gives {name!r} twice")
            try:
                v = float(value)
            except ValueError:
                raise CLIError(f"--at {name}={value!r}: the value must be a number") from None
            if not math.isfinite(v):
                raise CLIError(f"--at {name}={value}: the value must be a finite number")
            out[name] = v
    return out


def _load(text: str, at: Sequence[str] | None) -> tuple[Expression, list[np.float64]]:
    point = parse_point(at)
    if not point:
        raise CLIError("give the point with --at, e.g. --at x=3 y=4")
    expr = parse_expression(text, list(point))
    vals = [np.float64(point[v]) for v in expr.variables]
    _check_domain(expr, vals)
    return expr, vals


def _at_text(expr: Expression, vals) -> str:
    return ", ".join(f"{n} = {_num(v)}" for n, v in zip(expr.variables, vals))


def _check_domain(expr: Expression, vals) -> Any:
    try:
        with np.errstate(all="raise"):
            val = expr(*vals)
    except (FloatingPointError, ZeroDivisionError, OverflowError, ValueError) as exc:
        msg = str(exc) or type(exc).__name__
        what = "overflows" if "overflow" in msg else "is not defined"
        raise CLIError(f"{expr.text} {what} at {_at_text(expr, vals)} ({msg})") from None
    v = np.asarray(val)
    if v.dtype.kind not in "fiu" or v.shape != ():
        raise CLIError(f"{expr.text} does not give a real number at {_at_text(expr, vals)}")
    if not np.isfinite(v):
        raise CLIError(f"{expr.text} is not finite at {_at_text(expr, vals)} (value {v})")
    return val


def _num(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if f == int(f) and abs(f) < 1e15:
        return str(int(f))
    return f"{f:.10g}"


# ----------------------------------------------------------------------------
# `wengert grad`: every method side by side


def _time(fn: Callable[[], Any], budget: float = 0.05) -> float:
    """Median seconds per call of ``fn`` over about ``budget`` seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > budget:
        return first
    n = max(1, min(1000, int(budget / 5 / max(first, 1e-7))))
    samples = []
    end = time.perf_counter() + budget
    while len(samples) < 5 or (time.perf_counter() < end and len(samples) < 50):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    samples.sort()
    return samples[len(samples) // 2]


def _fmt_time(s: float | None) -> str:
    if s is None:
        return ""
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _method_symbolic(expr: Expression, vals):
    try:
        from . import symbolic
    except ImportError as exc:
        raise _Unavailable(f"wengert.symbolic is not available ({exc})") from None
    used = getattr(expr, "used", expr.variables)
    point = {k: float(x) for k, x in zip(expr.variables, vals) if k in used}

    def run():  # a variable the expression does not use has derivative 0
        return [symbolic.diff(expr.text, v).evaluate(**point) if v in used else 0.0
                for v in expr.variables]
    try:
        run()
    except ImportError as exc:
        raise _Unavailable(f"needs SymPy: pip install sympy ({exc})") from None
    return run, "symbolic (SymPy)"


def _method_numeric(expr: Expression, vals):
    x0 = np.array(vals, dtype=np.float64)

    def fv(v):
        return expr(*[v[i] for i in range(len(vals))])
    try:
        from . import numeric
        numeric.grad  # noqa: B018  (the module may exist before its grad lands)
    except (ImportError, AttributeError):
        def run():
            g = np.empty_like(x0)
            for i in range(len(x0)):
                h = np.finfo(np.float64).eps ** (1 / 3) * max(1.0, abs(x0[i]))
                xp, xm = x0.copy(), x0.copy()
                xp[i] += h
                xm[i] -= h
                g[i] = (fv(xp) - fv(xm)) / (xp[i] - xm[i])
            return list(g)
        return run, "finite differences (central)"

    def run_numeric():
        return list(np.ravel(numeric.grad(fv, x0, method="central")))
    return run_numeric, "finite differences (central)"


def _method_forward(expr: Expression, vals):
    from ._api import jvp

    n = len(vals)
    zero = np.float64(0.0)
    one = np.float64(1.0)
    tangents = [tuple(one if j == i else zero for j in range(n)) for i in range(n)]

    def run():
        return [jvp(expr.fn, vals, t)[1] for t in tangents]
    return run, f"forward mode (jvp ×{n})" if n > 1 else "forward mode (jvp)"


def _method_reverse(expr: Expression, vals):
    from ._api import grad

    g = grad(expr.fn, argnums=tuple(range(len(vals))))

    def run():
        return list(g(*vals))
    return run, "reverse mode (grad)"


def _method_source(expr: Expression, vals):
    try:
        from . import source
        source.grad  # noqa: B018
    except (ImportError, AttributeError) as exc:
        raise _Unavailable(f"wengert.source is not available ({exc})") from None
    g = source.grad(expr.fn)

    def run():
        _, grads = g(*vals)
        return list(grads)
    return run, "source transformation"


def _method_tensor(expr: Expression, vals):
    try:
        from .tensor import tensor
    except ImportError as exc:
        raise _Unavailable(f"wg.Tensor is not available ({exc})") from None

    def run():
        ts = [tensor(v, requires_grad=True) for v in vals]
        y = expr(*ts)
        y.backward()
        return [0.0 if t.grad is None else t.grad.data if hasattr(t.grad, "data") else t.grad
                for t in ts]
    return run, "tensor (.backward())"


class _Unavailable(Exception):
    pass


METHODS = {
    "symbolic": _method_symbolic,
    "numeric": _method_numeric,
    "forward": _method_forward,
    "reverse": _method_reverse,
    "source": _method_source,
    "tensor": _method_tensor,
}
_DEFAULT_METHODS = ("symbolic", "numeric", "forward", "reverse", "source", "tensor")
_NAMES = {"symbolic": "symbolic", "numeric": "finite differences", "forward": "forward mode",
          "reverse": "reverse mode", "source": "source transformation", "tensor": "tensor"}


def _default_methods() -> tuple[str, ...]:
    """All methods; the Tensor row only once ``wengert.tensor`` exists."""
    import importlib.util

    if importlib.util.find_spec("wengert.tensor") is None:
        return tuple(m for m in _DEFAULT_METHODS if m != "tensor")
    return _DEFAULT_METHODS


def compare(expr: Expression, vals, methods: Sequence[str] | None = None,
            timing: bool = True) -> dict:
    """Run each method; returns {"value", "reference", "rows": [...]}."""
    methods = _default_methods() if methods is None else methods
    value = expr(*vals)
    rows = []
    for m in methods:
        row = {"method": m, "label": _NAMES[m], "grad": None, "time": None, "note": None}
        try:
            with np.errstate(all="ignore"):
                run, label = METHODS[m](expr, vals)
                row["label"] = label
                g = [float(np.asarray(v)) for v in run()]
                row["grad"] = g
                if timing:
                    row["time"] = _time(run)
        except _Unavailable as exc:
            row["note"] = f"not available: {exc}"
        except Exception as exc:  # a method's failure is reported in its row
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            row["note"] = f"failed: {type(exc).__name__}: {msg}"
        rows.append(row)
    ref_row = next((r for r in rows if r["method"] == "symbolic" and r["grad"] is not None), None)
    if ref_row is None:
        ref_row = next((r for r in rows if r["method"] == "reverse" and r["grad"] is not None), None)
    if ref_row is None:
        ref_row = next((r for r in rows if r["grad"] is not None), None)
    for r in rows:
        if r["grad"] is not None and ref_row is not None:
            r["error"] = 0.0 if r is ref_row else float(
                max(abs(a - b) for a, b in zip(r["grad"], ref_row["grad"])))
        else:
            r["error"] = None
    return {"value": value, "reference": ref_row["method"] if ref_row else None, "rows": rows,
            "ref_row": ref_row}


def _fmt_g(v: float) -> str:
    if v == 0:
        return "0"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.12g}"


def _table(header: list[str], body: list[list[str]], right: set[int]) -> str:
    widths = [max([len(h)] + [len(b[i]) for b in body if i < len(b)]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join((c.rjust(w) if i in right else c.ljust(w))
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body])


def cmd_grad(args: argparse.Namespace, out) -> int:
    expr, vals = _load(args.expression, args.at)
    methods = _parse_methods(args.methods)
    res = compare(expr, vals, methods, timing=not args.no_time)
    names = expr.variables
    print(f"f({', '.join(names)}) = {expr.text}   at {_at_text(expr, vals)}", file=out)
    print(f"value   = {_fmt_g(float(res['value']))}", file=out)
    print(file=out)
    ref = res["ref_row"]
    err_head = "error" if ref is None or len(methods) == 1 else \
        f"error vs {'symbolic' if ref['method'] == 'symbolic' else ref['label'].split(' (')[0]}"
    header = ["method"] + [f"∂f/∂{n}" for n in names] + [err_head] + ([] if args.no_time else ["time"])
    body = []
    notes = []
    for r in res["rows"]:
        if r["grad"] is None:
            body.append([r["label"]] + ["—"] * len(names) + [""] * (len(header) - len(names) - 1))
            notes.append(f"  {r['label']}: {r['note']}")
            continue
        err = "ref" if r is ref else (f"{r['error']:.1e}" if r["error"] else "0")
        body.append([r["label"]] + [_fmt_g(g) for g in r["grad"]] + [err]
                    + ([] if args.no_time else [_fmt_time(r["time"])]))
    print(_table(header, body, set(range(1, len(header)))), file=out)
    if notes:
        print(file=out)
        print("\n".join(notes), file=out)
    return 0


def _parse_methods(text: str | None) -> tuple[str, ...]:
    if not text:
        return _default_methods()
    out = []
    for m in text.replace(" ", ",").split(","):
        m = m.strip().lower()
        if not m:
            continue
        m = {"fd": "numeric", "finite": "numeric", "fwd": "forward", "rev": "reverse",
             "sym": "symbolic", "st": "source"}.get(m, m)
        if m not in METHODS:
            raise CLIError(f"--methods: unknown method {m!r}; choose from {', '.join(METHODS)}")
        out.append(m)
    return tuple(out)


# ----------------------------------------------------------------------------
# `wengert trace` and `wengert graph`


def cmd_trace(args: argparse.Namespace, out) -> int:
    from .viz import trace_table

    expr, vals = _load(args.expression, args.at)
    wrts = args.wrt or [expr.variables[0]]
    if wrts == ["all"]:
        wrts = list(expr.variables)
    idx = []
    for w in wrts:
        if w not in expr.variables:
            raise CLIError(f"--wrt {w!r} is not one of the variables ({', '.join(expr.variables)})")
        idx.append(expr.variables.index(w))
    print(f"f({', '.join(expr.variables)}) = {expr.text}   at {_at_text(expr, vals)}", file=out)
    with np.errstate(all="ignore"):
        if args.mode in ("forward", "both"):
            for i in idx:
                print(file=out)
                print(trace_table(expr.fn, *vals, mode="forward", wrt=i), file=out)
        if args.mode in ("reverse", "both"):
            print(file=out)
            t = trace_table(expr.fn, *vals, mode="reverse")
            print(t, file=out)
            g = ", ".join(f"∂f/∂{n} = {_fmt_g(float(d))}" for n, d in zip(expr.variables, t.derivative))
            print(f"gradient: {g}", file=out)
    return 0


def cmd_graph(args: argparse.Namespace, out) -> int:
    import shutil

    from .viz import render, to_dot

    expr, vals = _load(args.expression, args.at)
    with np.errstate(all="ignore"):
        src = to_dot(expr.fn, *vals)
    path = args.output
    if not path:
        out.write(src)
        return 0
    fmt = args.format
    ext = (fmt or path.rsplit(".", 1)[-1] if "." in path else fmt or "").lower()
    if ext in ("dot", "gv"):
        render(src, path, format=ext)
        print(f"wrote {path}", file=out)
        return 0
    if shutil.which("dot") is None:
        out.write(src)
        print(f"wengert: note: Graphviz's `dot` program is not installed, so {path} was not drawn; "
              "the DOT source is printed above. Install it with `apt-get install graphviz` "
              "(or brew/conda install graphviz), or use -o graph.dot.", file=sys.stderr)
        return 0
    try:
        render(src, path, format=fmt)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}", file=out)
    return 0


def cmd_demo(out) -> int:
    print("wengert: derivatives of NumPy-style Python code. A demo "
          "(see `wengert --help` for the commands):\n", file=out)
    print("$ wengert grad \"x**2*y + y + 2\" --at x=3 y=4", file=out)
    ns = argparse.Namespace(expression="x**2*y + y + 2", at=["x=3", "y=4"], methods=None,
                            no_time=False)
    cmd_grad(ns, out)
    print("\nTry also: wengert trace \"ln(x1) + x1*x2 - sin(x2)\" --at x1=2 x2=5", file=out)
    return 0


# ----------------------------------------------------------------------------
# Argument parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise CLIError(f"{message} (see `{self.prog} --help`)")


_EPILOG = """examples:
  wengert grad "x**2*y + y + 2" --at x=3 y=4
  wengert trace "ln(x1) + x1*x2 - sin(x2)" --at x1=2 x2=5
  wengert graph "x*y + sin(x)" --at x=2 y=3 -o graph.svg
  wengert bench --quick

expressions: numbers, the variables given in --at, + - * / ** and wengert.numpy
functions (sin cos tan exp log sqrt tanh arctan2 hypot ..., and ln asin acos atan)."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wengert", description="Derivatives of NumPy-style Python code, "
                "computed every way and shown side by side.", epilog=_EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__
    p.add_argument("--version", action="version", version=f"wengert {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def expr_cmd(name, help_):
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("expression", nargs="?", help='e.g. "x**2*y + y + 2" (quote it)')
        s.add_argument("--expr", dest="expr_opt", help=argparse.SUPPRESS)
        s.add_argument("--at", nargs="+", metavar="NAME=VALUE", required=True,
                       help="the point, e.g. --at x=3 y=4")
        return s

    g = expr_cmd("grad", "value and gradient by every method, with errors and times")
    g.add_argument("--methods", help="comma-separated subset of: " + ", ".join(METHODS))
    g.add_argument("--no-time", action="store_true", help="skip the timings")
    t = expr_cmd("trace", "forward and reverse evaluation-trace tables")
    t.add_argument("--wrt", nargs="+", metavar="NAME",
                   help="variable(s) to seed in forward mode (default: the first; 'all')")
    t.add_argument("--mode", choices=("forward", "reverse", "both"), default="both")
    gr = expr_cmd("graph", "the computational graph as Graphviz DOT, or drawn with -o")
    gr.add_argument("-o", "--output", help="file to write: .svg, .png, .pdf (needs Graphviz) or .dot")
    gr.add_argument("--format", help="output format when the extension does not say it")
    b = sub.add_parser("bench", help="run the benchmark suite (see `wengert bench --help`)",
                       add_help=False)
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    return p


def _fix_argv(argv: list[str]) -> list[str]:
    """Let an expression start with '-' (``wengert grad "-x**2" --at x=1``)."""
    if len(argv) >= 2 and argv[0] in ("grad", "trace", "graph"):
        tok = argv[1]
        if tok.startswith("-") and not tok.startswith("--") and tok not in ("-h", "-o") \
                and len(tok) > 1:
            return [argv[0], f"--expr={tok}"] + argv[2:]
    return argv


def main(argv: Sequence[str] | None = None, out=None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return cmd_demo(out)
    if argv[0] == "bench":  # its own options: see `wengert bench --help`
        from . import _bench

        try:
            return _bench.main(argv[1:], out=out)
        except SystemExit as exc:
            return int(exc.code or 0)
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(_fix_argv(argv))
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0)
        if args.command is None:
            parser.print_help(out)
            return 0
        if args.command in ("grad", "trace", "graph"):
            text = args.expression if args.expression is not None else args.expr_opt
            if args.expression is not None and args.expr_opt is not None:
                raise CLIError("give the expression once")
            if text is None:
                raise CLIError(f"wengert {args.command}: give an expression, e.g. "
                               f"wengert {args.command} \"x**2*y\" --at x=3 y=4")
            args.expression = text
        handler = {"grad": cmd_grad, "trace": cmd_trace, "graph": cmd_graph}[args.command]
        return handler(args, out)
    except CLIError as exc:
        print(f"wengert: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wengert: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # never a traceback for the user
        msg = str(exc).splitlines()[0] if str(exc) else ""
        print(f"wengert: error: {type(exc).__name__}: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
