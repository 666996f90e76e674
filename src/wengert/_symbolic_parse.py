"""Safe parsing of expression strings into ``wengert.numpy`` functions.

Only arithmetic (``+ - * / **``, unary ``-``), numbers, variable names,
the constants ``pi``, ``e`` and ``inf``, single comparisons (for ``where``)
and calls of ``wnp`` function names (optionally written ``wnp.sin`` or
``np.sin``) plus the aliases ``ln``, ``asin``, ``acos``, ``atan`` are
accepted; the text is read with :mod:`ast` and never passed to ``eval``.
No SymPy needed: the parsed function runs on NumPy values and on every
wengert transformation.

>>> from wengert._symbolic_parse import parse
>>> p = parse("x**2*y + y + 2")
>>> p.names
('x', 'y')
>>> float(p(3.0, 4.0))
42.0
"""

from __future__ import annotations

import ast
import keyword
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["parse", "ParsedExpression", "FUNCTIONS", "ALIASES", "CONSTANTS"]

# wnp function names usable in strings (all differentiable or piecewise constant)
FUNCTIONS = (
    "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh exp exp2 "
    "expm1 log log2 log10 log1p sqrt cbrt abs absolute square reciprocal sign floor ceil "
    "arctan2 hypot maximum minimum power logaddexp logaddexp2 where"
).split()
ALIASES = {"ln": "log", "asin": "arcsin", "acos": "arccos", "atan": "arctan",
           "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "atan2": "arctan2",
           "pow": "power"}
CONSTANTS = {"pi": np.pi, "e": np.e, "inf": np.inf}

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_BINSYM = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMP = {ast.Lt: "less", ast.LtE: "less_equal", ast.Gt: "greater", ast.GtE: "greater_equal",
        ast.Eq: "equal", ast.NotEq: "not_equal"}


class ParsedExpression:
    """A parsed expression string: call it with its variables (``.names``)
    positionally or by keyword; it computes with ``wengert.numpy``."""

    def __init__(self, text: str, names: tuple, fn: Callable):
        self.text = text
        self.names = names
        self._fn = fn
        self.__name__ = "expr"
        self.__doc__ = f"f({', '.join(names)}) = {text}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) > len(self.names):
            raise TypeError(f"{self.text!r} takes {len(self.names)} argument(s) "
                            f"({', '.join(self.names)}), got {len(args)}")
        env = dict(zip(self.names, args))
        for k, v in kwargs.items():
            if k not in self.names:
                raise TypeError(f"{self.text!r} has no variable {k!r} (variables: "
                                f"{', '.join(self.names) or 'none'})")
            env[k] = v
        missing = [n for n in self.names if n not in env]
        if missing:
            raise TypeError(f"{self.text!r} needs a value for {', '.join(missing)}")
        return self._fn(env)

    def __repr__(self):
        return f"<parsed {self.text!r} of ({', '.join(self.names)})>"


def _wnp():
    from . import numpy as wnp
    return wnp


def _fail(text, node, why):
    col = getattr(node, "col_offset", None)
    where = f" (at column {col + 1})" if col is not None else ""
    raise ValueError(f"cannot use {why} in the expression {text!r}{where}; expressions may "
                     "use numbers, variable names, + - * / **, and calls of functions such as "
                     "sin, exp, log, sqrt")


def _func_name(text, node):
    f = node.func
    if isinstance(f, ast.Name):
        name = f.id
    elif (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
          and f.value.id in ("wnp", "np", "numpy")):
        name = f.attr
    else:
        _fail(text, node, f"the call `{ast.unparse(f)}(...)`")
    name = ALIASES.get(name, name)
    if name not in FUNCTIONS:
        known = ", ".join(sorted(set(FUNCTIONS) | set(ALIASES)))
        raise ValueError(f"unknown function `{ast.unparse(f)}` in {text!r}; known functions: {known}")
    return name


def parse(text: str, names: Sequence[str] | None = None) -> ParsedExpression:
    """Parse ``text`` (Python syntax, ``wnp`` names) into a function of its variables.

    ``names`` fixes the variables and their order; by default they are the
    names in order of first appearance.  Raises ``ValueError`` with a
    one-line message for a syntax error, an unknown function or name, or a
    construct that is not arithmetic.

    >>> from wengert._symbolic_parse import parse
    >>> parse("sin(log(x))", ["x"]).names
    ('x',)
    >>> parse("foo(x)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown function `foo` in 'foo(x)'; known functions: abs, absolute, ...
    """
    if not isinstance(text, str):
        raise TypeError(f"expected an expression string, got {type(text).__name__}")
    src = text.strip()
    if not src:
        raise ValueError("empty expression")
    if len(src) > 100_000:
        raise ValueError("expression too long (over 100000 characters)")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise ValueError(f"syntax error in {src!r}{col}: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"expression {src[:40]!r}... is nested too deeply") from None
    if names is not None:
        names = tuple(names)
        for n in names:
            if not (isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n)):
                raise ValueError(f"{n!r} is not a valid variable name")
            if n in FUNCTIONS or n in ALIASES:
                raise ValueError(f"{n!r} is a function name and cannot be a variable")
    order: list[str] = []
    wnp = _wnp()

    def build(node):
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                _fail(src, node, f"the constant {v!r}")
            return lambda env: v
        if isinstance(node, ast.Name):
            n = node.id
            if names is not None and n in names:
                return lambda env: env[n]
            if n in CONSTANTS:
                c = CONSTANTS[n]
                return lambda env: c
            if n in FUNCTIONS or n in ALIASES:
                _fail(src, node, f"the function name `{n}` without calling it")
            if names is not None:
                raise ValueError(f"unknown name `{n}` in {src!r}; the variables are "
                                 f"{', '.join(names) or '(none)'}")
            if n not in order:
                order.append(n)
            return lambda env: env[n]
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                _fail(src, node, f"the operator `{type(node.op).__name__}`")
            a, b = build(node.left), build(node.right)
            if op is operator.pow:
                return lambda env: _pow(a(env), b(env))
            return lambda env: op(a(env), b(env))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                a = build(node.operand)
                return lambda env: -a(env)
            if isinstance(node.op, ast.UAdd):
                return build(node.operand)
            _fail(src, node, f"the operator `{type(node.op).__name__}`")
        if isinstance(node, ast.Call):
            fname = _func_name(src, node)
            if node.keywords:
                _fail(src, node, "keyword arguments")
            args = [build(a) for a in node.args]
            fn = getattr(wnp, fname)
            if fname == "where" and len(args) != 3:
                raise ValueError(f"where(condition, a, b) takes 3 arguments in {src!r}, "
                                 f"got {len(args)}")
            return lambda env: fn(*[a(env) for a in args])
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                _fail(src, node, "a chained comparison")
            cmp = getattr(wnp, _CMP[type(node.ops[0])]) if type(node.ops[0]) in _CMP else None
            if cmp is None:
                _fail(src, node, f"the comparison `{type(node.ops[0]).__name__}`")
            a, b = build(node.left), build(node.comparators[0])
            return lambda env: cmp(a(env), b(env))
        _fail(src, node, f"`{ast.unparse(node)}`" if hasattr(ast, "unparse") else "this construct")

    try:
        fn = build(tree)
    except RecursionError:
        raise ValueError(f"expression {src[:40]!r}... is nested too deeply") from None
    return ParsedExpression(src, names if names is not None else tuple(order), fn)


def _pow(a, b):
    # constant ** constant in floating point: never a giant Python integer,
    # and an overflow is inf (reported where it is used), not an exception
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        with np.errstate(all="ignore"):
            return np.float64(a) ** np.float64(b)
    return a ** b
