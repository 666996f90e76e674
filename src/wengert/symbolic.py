"""Derivatives as expressions, on SymPy (optional extra ``wengert[symbolic]``).

wengert does not do algebra itself: it bridges to SymPy.  A ``wnp``
function (or an expression string) is traced into a SymPy expression by a
trace whose tracers carry SymPy expressions, one table row per primitive;
SymPy differentiates and simplifies; the result is an :class:`Expression`
that prints as readable math, evaluates at points, converts to LaTeX or
SymPy, and compiles back into a differentiable ``wnp`` function.

>>> from wengert import symbolic
>>> print(symbolic.diff("x*y", "x"))
y
>>> print(symbolic.diff("sin(log(x))", "x"))
cos(log(x))/x
>>> d = symbolic.diff("x**2*y + y + 2", "x")
>>> print(d)
2*x*y
>>> float(d.evaluate(x=3.0, y=4.0))
24.0

Variables are real.  Strings use Python syntax (``**`` for powers), ``wnp``
names and the aliases ``ln``, ``asin``, ``acos``, ``atan``; ``pi``, ``e``
and ``inf`` are constants.  Parsing uses :mod:`ast` only (never ``eval``).
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._core import Trace, Tracer, end_level, new_level
from ._symbolic_parse import ParsedExpression, parse

__all__ = [
    "Expression",
    "DomainError",
    "SwellReport",
    "expression",
    "diff",
    "gradient",
    "hessian",
    "swell",
    "parse",
    "INSTALL",
]

INSTALL = 'pip install "wengert[symbolic]"'


def _sympy():
    """SymPy, imported on first use, or an ImportError naming the install command."""
    try:
        import sympy
    except ImportError:
        raise ImportError(
            "wengert.symbolic needs SymPy, which is not installed. Install it with: "
            f"{INSTALL}") from None
    return sympy


class DomainError(ValueError):
    """An expression was evaluated outside its domain (log of a negative, ...)."""


# ----------------------------------------------------------------------------
# Tracing wnp code into SymPy


class _SymTrace(Trace):
    __slots__ = ("fname",)

    def process(self, p, args, params):
        sp = _sympy()
        rule = _rules(sp).get(p.name)
        if rule is None:
            raise NotImplementedError(f"symbolic.expression({self.fname}): the primitive `{p.name}` has no symbolic "
                "form (symbolic supports scalar elementwise arithmetic and functions: "
                f"{', '.join(sorted(_rules(sp)))}). Use wg.grad for this function instead.")
        vals = [a.expr if type(a) is _SymTracer and a._trace is self else _const(sp, a, self.fname)
                for a in args]
        out = rule(*vals, *params) if p.name in _WITH_PARAMS else rule(*vals)
        if isinstance(out, sp.Basic) and out.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            shown = ", ".join(sp.sstr(v) for v in vals)
            raise DomainError(
                f"symbolic.expression({self.fname}): `{p.name}({shown})` is undefined or infinite "
                "(division by zero, or a constant that overflows)")
        dtype = np.bool_ if p.name in _BOOLEAN else np.float64
        return _SymTracer(self, out, dtype)


class _SymTracer(Tracer):
    __slots__ = ("expr", "_dtype")

    def __init__(self, trace, expr, dtype=np.float64):
        self._trace = trace
        self.expr = expr
        self._dtype = np.dtype(dtype)

    shape = property(lambda self: ())
    dtype = property(lambda self: self._dtype)

    def __bool__(self):
        raise TypeError(
            f"symbolic.expression({self._trace.fname}): Python `if`/`and`/`or`/bool() on the "
            f"symbolic value {self.expr} cannot be decided; write the branch with "
            "wnp.where(condition, a, b) instead")

    def __repr__(self):
        return f"SymTracer({self.expr})"


_WITH_PARAMS = {"reduce_sum", "reduce_max", "reduce_min", "reshape", "broadcast_to",
                "convert_element_type", "transpose", "polygamma"}
_BOOLEAN = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
            "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf",
            "isfinite"}
_RULES: dict = {}


def _rules(sp):
    if _RULES:
        return _RULES

    def ident(x, *params):
        return x

    def scalar_only(name):
        def rule(x, shape, *params):
            if tuple(shape) != ():
                raise NotImplementedError(f"symbolic expressions are scalar, but the code applies `{name}` to shape "
                    f"{tuple(shape)}; write the function on scalars")
            return x
        return rule

    def piecewise(c, x, y):
        return sp.Piecewise((x, c), (y, True))

    _RULES.update({
        "neg": lambda x: -x, "add": lambda x, y: x + y, "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y, "div": lambda x, y: x / y, "pow": lambda x, y: x ** y,
        "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "arcsin": sp.asin, "arccos": sp.acos,
        "arctan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh,
        "arcsinh": sp.asinh, "arccosh": sp.acosh, "arctanh": sp.atanh, "exp": sp.exp,
        "exp2": lambda x: sp.Integer(2) ** x, "expm1": lambda x: sp.exp(x) - 1,
        "log": sp.log, "log2": lambda x: sp.log(x) / sp.log(2),
        "log10": lambda x: sp.log(x) / sp.log(10), "log1p": lambda x: sp.log(1 + x),
        "sqrt": sp.sqrt, "cbrt": sp.cbrt, "abs": sp.Abs, "sign": sp.sign,
        "floor": sp.floor, "ceil": sp.ceiling, "trunc": lambda x: sp.sign(x) * sp.floor(sp.Abs(x)),
        "maximum": sp.Max, "minimum": sp.Min, "arctan2": sp.atan2,
        "hypot": lambda x, y: sp.sqrt(x ** 2 + y ** 2),
        "logaddexp": lambda x, y: sp.log(sp.exp(x) + sp.exp(y)),
        "logaddexp2": lambda x, y: sp.log(2 ** x + 2 ** y) / sp.log(2),
        "mod": sp.Mod, "select": piecewise,
        "equal": sp.Eq, "not_equal": sp.Ne, "less": sp.Lt, "less_equal": sp.Le,
        "greater": sp.Gt, "greater_equal": sp.Ge, "logical_and": sp.And,
        "logical_or": sp.Or, "logical_xor": sp.Xor, "logical_not": sp.Not,
        "real": lambda x: x, "conj": lambda x: x, "imag": lambda x: sp.Integer(0),
        # variables are real numbers: never nan or infinite
        "isnan": lambda x: sp.false, "isinf": lambda x: sp.false, "isfinite": lambda x: sp.true,
        # scipy.special
        "erf": sp.erf, "erfc": sp.erfc, "erfinv": sp.erfinv, "gammaln": sp.loggamma,
        "digamma": sp.digamma, "polygamma": lambda x, n: sp.polygamma(n, x),
        "expit": lambda x: 1 / (1 + sp.exp(-x)),
        "log_ndtr": lambda x: sp.log(sp.erfc(-x / sp.sqrt(2)) / 2),
        "ndtri": lambda x: sp.sqrt(2) * sp.erfinv(2 * x - 1),
        # structural primitives are identities on scalars
        "reduce_sum": ident, "reduce_max": ident, "reduce_min": ident,
        "reshape": scalar_only("reshape"), "broadcast_to": scalar_only("broadcast_to"),
        "convert_element_type": ident, "transpose": ident,
    })
    return _RULES


def _const(sp, v, fname):
    """A constant of the traced code as an exact SymPy number where that is faithful."""
    if isinstance(v, Tracer):
        raise TypeError(f"symbolic.expression({fname}): a value traced by another transformation "
                        "reached the symbolic trace; call symbolic.expression outside of "
                        "grad/jit/vmap")
    if isinstance(v, (bool, np.bool_)):
        return sp.true if v else sp.false
    if isinstance(v, np.ndarray):
        if v.ndim != 0:
            raise TypeError(f"symbolic.expression({fname}): symbolic expressions are scalar, but "
                            f"the code uses an array constant of shape {v.shape}")
        v = v[()]
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v.is_integer():
            return sp.Integer(int(v))
        if v == np.pi:
            return sp.pi
        if v == np.e:
            return sp.E
        r = repr(v)
        if len(r) <= 10 and "e" not in r and "inf" not in r and "nan" not in r:
            return sp.Rational(r)
        return sp.Float(v, 17)
    if isinstance(v, (complex, np.complexfloating)):
        return sp.sympify(complex(v))
    raise TypeError(f"symbolic.expression({fname}): cannot use the constant {v!r} "
                    f"({type(v).__name__}) in a symbolic expression")


def _check_names(names, caller):
    for n in names:
        if not (isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n)):
            raise ValueError(f"symbolic.{caller}: {n!r} is not a valid variable name")


def expression(f: str | Callable | Expression, *names: str) -> Expression:
    """The SymPy expression of a ``wnp`` function or of an expression string.

    For a function, the variables are its positional parameters (or
    ``names``); each is a real SymPy symbol, and the function runs once on
    tracers that carry SymPy expressions.  For a string, the variables are
    ``names`` or its free names in order of appearance.

    >>> import wengert.numpy as wnp
    >>> from wengert import symbolic
    >>> print(symbolic.expression(lambda x, y: wnp.exp(x) * y + 2.5))
    y*exp(x) + 5/2
    >>> symbolic.expression("x + z", "x", "y").variables
    Traceback (most recent call last):
    ...
    ValueError: unknown name `z` in 'x + z'; the variables are x, y
    """
    sp = _sympy()
    if isinstance(f, Expression):
        return f if not names else Expression(f.to_sympy(), tuple(names))
    if isinstance(f, sp.Basic):
        # variables are real symbols: a plain sympy.Symbol("x") becomes one
        f = f.xreplace({s: sp.Symbol(s.name, real=True) for s in f.free_symbols
                        if isinstance(s, sp.Symbol) and not s.is_real})
        syms = sorted(f.free_symbols, key=lambda s: s.name)
        return Expression(f, tuple(names) if names else tuple(s.name for s in syms))
    if isinstance(f, str):
        f = parse(f, names if names else None)
        names = f.names
    if not callable(f):
        raise TypeError(f"symbolic.expression: expected a string, a function or an Expression, "
                        f"got {type(f).__name__}")
    fname = getattr(f, "__name__", None) or type(f).__name__
    if isinstance(f, ParsedExpression):
        fname = repr(f.text)
    if not names:
        names = _param_names(f, fname)
    _check_names(names, "expression")
    syms = [sp.Symbol(n, real=True) for n in names]
    level = new_level()
    trace = _SymTrace(level)
    trace.fname = fname
    try:
        out = f(*[_SymTracer(trace, s) for s in syms])
    finally:
        end_level()
        trace.kill()
    if type(out) is _SymTracer:
        expr = out.expr
    elif isinstance(out, Tracer):
        raise TypeError(f"symbolic.expression({fname}): the function returned a value traced by "
                        "another transformation")
    else:
        expr = _const(sp, out, fname)
    return Expression(expr, tuple(names))


def _param_names(f, fname):
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = None
    if params is None or any(p.kind == p.VAR_POSITIONAL for p in params):
        raise TypeError(f"symbolic.expression({fname}): cannot tell the variable names; pass "
                        "them, e.g. symbolic.expression(f, 'x', 'y')")
    return tuple(p.name for p in params
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                 and p.default is inspect.Parameter.empty)


# ----------------------------------------------------------------------------
# The expression object


class Expression:
    """A symbolic expression in real variables (a SymPy expression inside).

    ``str()`` is readable math in Python syntax, ``.latex()`` LaTeX,
    ``.to_sympy()`` the SymPy object, ``.evaluate(**values)`` a number (or
    array, for array values), ``.to_function()`` a ``wnp`` function of
    ``variables`` that every wengert transformation can differentiate.
    ``variables`` are kept through ``diff``, so a derivative is still a
    function of all of them.
    """

    __slots__ = ("_expr", "variables", "_fn")

    def __init__(self, expr: Any, variables: Sequence[str]):
        self._expr = expr
        self.variables = tuple(variables)
        self._fn = None

    def __str__(self):
        return _sympy().sstr(self._expr)

    __repr__ = __str__

    def _repr_latex_(self):
        return f"${self.latex()}$"

    def latex(self) -> str:
        r"""LaTeX source, e.g. ``\frac{\cos{\left(\log{\left(x \right)} \right)}}{x}``."""
        return _sympy().latex(self._expr)

    def to_sympy(self) -> Any:
        """The SymPy expression (variables are real ``sympy.Symbol``\\ s)."""
        return self._expr

    def size(self) -> int:
        """Number of nodes of the expression tree (a measure of expression swell)."""
        return _tree_size(self._expr)

    def equals(self, other: Any) -> bool:
        """Mathematical equality (SymPy's ``simplify(a - b) == 0``)."""
        sp = _sympy()
        o = expression(other).to_sympy() if not isinstance(other, sp.Basic) else other
        return bool(sp.simplify(self._expr - o) == 0)

    def evaluate(self, **values: Any) -> Any:
        """The value at ``values`` (numbers or arrays, by variable name).

        Outside the domain (log of a negative, division by zero, sqrt of a
        negative, ...) raises :class:`DomainError` naming the subexpression,
        never a silent nan or complex number.

        >>> from wengert import symbolic
        >>> float(symbolic.expression("log(x) * y").evaluate(x=1.0, y=2.0))
        0.0
        >>> symbolic.expression("log(x)").evaluate(x=-1.0)
        Traceback (most recent call last):
        ...
        wengert.symbolic.DomainError: log(x) is undefined at x = -1.0: log needs a positive argument
        """
        sp = _sympy()
        env = {}
        for k, v in values.items():
            if k not in self.variables:
                raise TypeError(f"evaluate: {k!r} is not a variable of {self} (variables: "
                                f"{', '.join(self.variables) or 'none'})")
            a = np.asarray(v)
            if a.dtype.kind == "c":
                raise TypeError(f"evaluate: {k} = {v!r} is complex; variables are real")
            env[k] = a.astype(np.float64)[()] if a.ndim == 0 else a.astype(np.float64)
        need = sorted(s.name for s in self._expr.free_symbols)
        missing = [n for n in need if n not in env]
        if missing:
            raise TypeError(f"evaluate: {self} needs a value for {', '.join(missing)}")
        bad = None
        try:
            with np.errstate(all="raise"):
                r = _interpret(sp, self._expr, env, {})
            r = np.asarray(r)
            if r.dtype.kind == "c" or not np.all(np.isfinite(r)):
                bad = True
        except (FloatingPointError, ZeroDivisionError, OverflowError):
            bad = True
        if bad:
            raise DomainError(_diagnose(sp, self._expr, env))
        shape = np.broadcast_shapes(*[np.shape(v) for v in env.values()]) if env else ()
        r = np.broadcast_to(r.astype(np.float64), shape)
        return r[()] if r.ndim == 0 else r.copy()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``evaluate`` with positional values in ``variables`` order."""
        if len(args) > len(self.variables):
            raise TypeError(f"{self} takes {len(self.variables)} values, got {len(args)}")
        kwargs.update(zip(self.variables, args))
        return self.evaluate(**kwargs)

    def to_function(self) -> Callable:
        """A ``wnp`` function of ``variables`` (positional) computing this expression.

        It runs on NumPy values and on wengert's tracers, so ``wg.grad``,
        ``wg.jacfwd``, ``wg.vmap`` ... apply.

        >>> import wengert as wg
        >>> from wengert import symbolic
        >>> f = symbolic.diff("x**3 * y", "x").to_function()   # 3*x**2*y
        >>> float(f(2.0, 1.0)), float(wg.grad(f)(2.0, 1.0))
        (12.0, 12.0)
        """
        if self._fn is None:
            sp = _sympy()
            expr = self._expr
            names = self.variables
            text = str(self)

            def fn(*args):
                if len(args) != len(names):
                    raise TypeError(f"f({', '.join(names)}) = {text} takes {len(names)} "
                                    f"argument(s), got {len(args)}")
                return _interpret(sp, expr, dict(zip(names, args)), {})

            fn.__name__ = "expr"
            fn.__qualname__ = "expr"
            fn.__doc__ = f"f({', '.join(names)}) = {text}"
            fn.__signature__ = inspect.Signature(
                [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
            self._fn = fn
        return self._fn


def _tree_size(e):
    n = 0
    stack = [e]
    while stack:
        x = stack.pop()
        n += 1
        stack.extend(x.args)
    return n


def _dag_size(e):
    seen = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        stack.extend(x.args)
    return len(seen)


# ----------------------------------------------------------------------------
# SymPy -> wnp: an interpreter over the expression tree (shared subtrees once)

_FUNCS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin", "acos": "arccos",
    "atan": "arctan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "arcsinh",
    "acosh": "arccosh", "atanh": "arctanh", "exp": "exp", "log": "log", "Abs": "abs",
    "sign": "sign", "floor": "floor", "ceiling": "ceil", "atan2": "arctan2", "Mod": "mod",
}
_SPECIAL = {"erf": "erf", "erfc": "erfc", "erfinv": "erfinv", "loggamma": "gammaln",
            "digamma": "digamma"}
_RECIP = {"sec": "cos", "csc": "sin", "cot": "tan", "sech": "cosh", "csch": "sinh", "coth": "tanh"}
_REL = {"StrictLessThan": "less", "LessThan": "less_equal", "StrictGreaterThan": "greater",
        "GreaterThan": "greater_equal", "Equality": "equal", "Unequality": "not_equal"}


def _interpret(sp, e, env, cache):
    from . import numpy as wnp

    if e in cache:
        return cache[e]
    if e is sp.zoo or e is sp.nan or e is sp.oo or e is sp.S.NegativeInfinity:
        raise FloatingPointError(f"{e} is not a finite real number")
    if e.is_Symbol:
        r = env[e.name]
    elif e.is_Number or e.is_NumberSymbol:
        r = float(e)
    elif e is sp.true or e is sp.false:
        r = bool(e)
    else:
        args = [_interpret(sp, a, env, cache) for a in e.args] if not e.is_Piecewise else None
        name = type(e).__name__
        if e.is_Add:
            r = args[0]
            for a in args[1:]:
                r = r + a
        elif e.is_Mul:
            r = args[0]
            for a in args[1:]:
                r = r * a
        elif e.is_Pow:
            b, x = args
            ex = e.args[1]
            if ex.is_Integer:
                n = int(ex)
                r = b ** n if n > 0 else (1.0 / (b ** -n) if n < -1 else 1.0 / b) if n < 0 else 1.0
            elif ex == sp.Rational(1, 2):
                r = wnp.sqrt(b)
            elif ex == sp.Rational(-1, 2):
                r = 1.0 / wnp.sqrt(b)
            elif ex == sp.Rational(1, 3):
                r = wnp.cbrt(b)
            else:
                r = b ** x
        elif name in _FUNCS:
            r = getattr(wnp, _FUNCS[name])(*args)
        elif name in _SPECIAL:
            from .scipy import special
            r = getattr(special, _SPECIAL[name])(*args)
        elif name == "polygamma":
            from .scipy import special
            r = special.polygamma(int(e.args[0]), args[1])
        elif name in _RECIP:
            r = 1.0 / getattr(wnp, _RECIP[name])(*args)
        elif name in ("Max", "Min"):
            f = wnp.maximum if name == "Max" else wnp.minimum
            r = args[0]
            for a in args[1:]:
                r = f(r, a)
        elif name == "Heaviside":
            x = args[0]
            h0 = args[1] if len(args) > 1 else 0.5
            r = wnp.where(wnp.greater(x, 0.0), 1.0, wnp.where(wnp.less(x, 0.0), 0.0, h0))
        elif name == "DiracDelta":
            r = args[0] * 0.0  # zero away from 0, as AD's derivative of sign
        elif e.is_Piecewise:
            r = None
            for val, cond in reversed(e.args):
                v = _interpret(sp, val, env, cache)
                if cond is sp.true:
                    r = v
                    continue
                c = _interpret(sp, cond, env, cache)
                r = wnp.where(c, v, np.nan if r is None else r)
        elif name in _REL:
            r = getattr(wnp, _REL[name])(*args)
        elif name == "And":
            r = args[0]
            for a in args[1:]:
                r = wnp.logical_and(r, a)
        elif name == "Or":
            r = args[0]
            for a in args[1:]:
                r = wnp.logical_or(r, a)
        elif name == "Not":
            r = wnp.logical_not(args[0])
        elif name in ("re", "conjugate"):
            r = args[0]
        elif name == "im":
            r = args[0] * 0.0
        else:
            raise NotImplementedError(f"symbolic: cannot compute `{name}` (in {e}) with wengert.numpy; it has no "
                "wnp counterpart")
    cache[e] = r
    return r


_HINTS = {
    "log": "log needs a positive argument", "sqrt": "sqrt needs a non-negative argument",
    "asin": "asin needs an argument in [-1, 1]", "acos": "acos needs an argument in [-1, 1]",
    "acosh": "acosh needs an argument >= 1", "atanh": "atanh needs an argument in (-1, 1)",
    "division": "division by zero", "power": "a fractional power needs a non-negative base",
}


def _diagnose(sp, expr, env):
    """The innermost subexpression that leaves the real numbers, as a message."""
    point = ", ".join(f"{k} = {_fmt(v)}" for k, v in env.items()
                      if k in {s.name for s in expr.free_symbols})

    def ok(v):
        v = np.asarray(v)
        return v.dtype.kind != "c" and bool(np.all(np.isfinite(v)))

    with np.errstate(all="ignore"):
        cache = {}
        order = list(sp.postorder_traversal(expr))
        for node in order:
            if node.is_Atom:
                continue
            try:
                val = _interpret(sp, node, env, cache)
            except (FloatingPointError, ZeroDivisionError, OverflowError):
                val = np.nan
            if ok(val):
                continue
            kids_ok = True
            for k in node.args:
                try:
                    kids_ok &= ok(_interpret(sp, k, env, cache))
                except (FloatingPointError, ZeroDivisionError):
                    kids_ok = False
            if not kids_ok:
                continue
            name = type(node).__name__
            if node.is_Pow:
                ex = node.args[1]
                hint = (_HINTS["sqrt"] if ex == sp.Rational(1, 2) else
                        _HINTS["division"] if ex.is_negative else _HINTS["power"])
            else:
                hint = _HINTS.get(name, "the result is not a finite real number")
            return f"{sp.sstr(node)} is undefined at {point}: {hint}"
    return f"{sp.sstr(expr)} is not a finite real number at {point}"


def _fmt(v):
    v = np.asarray(v)
    return repr(float(v)) if v.ndim == 0 else f"array of shape {v.shape}"


# ----------------------------------------------------------------------------
# Differentiation


_FULL_SIMPLIFY_NODES = 60


def _simplify(sp, e):
    """SymPy's ``simplify`` for expressions of up to 60 tree nodes; above that,
    or with integer powers above 24 (where ``simplify``'s trigonometric search
    or expansion can take minutes), the shortest of a few cheap rewritings
    (``factor_terms``, ``together``, ``powsimp``) is kept."""
    big_power = any(p.exp.is_Integer and abs(int(p.exp)) > 24 for p in e.atoms(sp.Pow))
    if _tree_size(e) <= _FULL_SIMPLIFY_NODES and not big_power:
        return sp.simplify(e)
    best = e
    for fn in (sp.factor_terms, sp.together, sp.powsimp):
        try:
            c = fn(e)
        except Exception:  # noqa: BLE001 - a rewriting that fails is simply not used
            continue
        if sp.count_ops(c) < sp.count_ops(best):
            best = c
    return best


def _variable(sp, e, var, caller):
    if isinstance(var, sp.Symbol):
        var = var.name
    if isinstance(var, Expression):
        var = str(var)
    if not isinstance(var, str) or not var.isidentifier():
        raise ValueError(f"symbolic.{caller}: can only differentiate with respect to a variable "
                         f"name, got {var!r}")
    if var not in e.variables:
        if var in ("pi", "e", "inf"):
            raise ValueError(f"symbolic.{caller}: `{var}` is a constant, not a variable of {e}")
        raise ValueError(f"symbolic.{caller}: `{var}` is not a variable of {e} (its variables: "
                         f"{', '.join(e.variables) or 'none'})")
    return sp.Symbol(var, real=True)


def diff(expr: str | Callable | Expression, var: str, n: int = 1) -> Expression:
    """The ``n``-th derivative of ``expr`` with respect to ``var``, simplified.

    ``expr`` is a string, a ``wnp`` function, or an :class:`Expression`
    (so ``diff(diff(e, "x"), "x") == diff(e, "x", n=2)``).  A function that
    SymPy cannot differentiate (``floor``, ``sign`` at its jump, ...) gives
    a ``ValueError`` naming it.

    >>> from wengert import symbolic
    >>> print(symbolic.diff("x**3 + exp(2*x)", "x", n=2))
    6*x + 4*exp(2*x)
    >>> print(symbolic.diff("x*y", "z"))
    Traceback (most recent call last):
    ...
    ValueError: symbolic.diff: `z` is not a variable of x*y (its variables: x, y)
    """
    sp = _sympy()
    e = expression(expr)
    sym = _variable(sp, e, var, "diff")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"symbolic.diff: n must be a non-negative int, got {n!r}")
    d = e.to_sympy()
    for _ in range(int(n)):
        d = _simplify(sp, _check_derivative(sp, sp.diff(d, sym), e, var))
    return Expression(d, e.variables)


def _check_derivative(sp, d, e, var):
    left = d.atoms(sp.Derivative)
    if left:
        inner = sorted(sp.sstr(x.args[0]) for x in left)[0]
        raise ValueError(
            f"symbolic.diff: {inner} in {e} has no derivative with respect to {var} that SymPy can "
            "express (a non-differentiable function); wengert's AD treats floor/ceil/round/sign "
            "as having derivative 0")
    return d


def gradient(expr: str | Callable | Expression,
             variables: Sequence[str] | None = None) -> tuple[Expression, ...]:
    """One simplified partial derivative per variable (default: all, in order).

    >>> from wengert import symbolic
    >>> symbolic.gradient("x**2*y + y + 2")
    (2*x*y, x**2 + 1)
    """
    e = expression(expr)
    names = e.variables if variables is None else \
        (variables,) if isinstance(variables, str) else tuple(variables)
    return tuple(diff(e, v) for v in names)


def hessian(expr: str | Callable | Expression,
            variables: Sequence[str] | None = None) -> tuple[tuple[Expression, ...], ...]:
    """The matrix of simplified second partial derivatives, as nested tuples.

    >>> from wengert import symbolic
    >>> symbolic.hessian("x**2*y + y + 2")
    ((2*y, 2*x), (2*x, 0))
    """
    e = expression(expr)
    names = e.variables if variables is None else \
        (variables,) if isinstance(variables, str) else tuple(variables)
    first = [diff(e, v) for v in names]
    rows: list[list] = [[None] * len(names) for _ in names]
    for i, gi in enumerate(first):
        for j in range(i, len(names)):
            rows[i][j] = rows[j][i] = diff(gi, names[j])
    return tuple(tuple(r) for r in rows)


# ----------------------------------------------------------------------------
# Expression swell


class SwellReport:
    """Sizes of the k-th derivative, k = 0..n, three ways.

    ``unsimplified``: nodes of the expression tree SymPy's ``diff`` returns
    when differentiated k times without simplifying (``unsimplified_dag``:
    distinct subexpressions, i.e. with sharing); ``simplified``: nodes after
    simplifying at each step (what ``symbolic.diff`` gives); ``ad``: the
    length of the Wengert list (primitive applications) of ``wg.grad``
    applied k times, from ``wg.make_graph``.
    """

    def __init__(self, text, var, orders, unsimplified, unsimplified_dag, simplified, ad):
        self.text = text
        self.var = var
        self.orders = orders
        self.unsimplified = unsimplified
        self.unsimplified_dag = unsimplified_dag
        self.simplified = simplified
        self.ad = ad

    @property
    def rows(self) -> list[dict]:
        return [{"order": k, "unsimplified": u, "unsimplified_dag": d, "simplified": s, "ad": a}
                for k, u, d, s, a in zip(self.orders, self.unsimplified, self.unsimplified_dag,
                                         self.simplified, self.ad)]

    def __str__(self):
        lines = [f"expression swell of {self.text}, derivatives in {self.var}",
                 "order  symbolic tree  (shared)  simplified  AD Wengert list"]
        for r in self.rows:
            lines.append(f"{r['order']:5d}  {r['unsimplified']:13d}  {r['unsimplified_dag']:8d}  "
                         f"{r['simplified']:10d}  {r['ad']:15d}")
        return "\n".join(lines)

    __repr__ = __str__


def swell(f: str | Callable | Expression, n: int = 3, var: str | None = None,
          at: dict | None = None) -> SwellReport:
    """Expression swell made measurable: sizes of the 0..n-th derivatives.

    Symbolic derivatives (unsimplified, and simplified at each step) are
    measured in expression-tree nodes; AD in primitive applications of the
    traced program of ``grad`` applied k times (a Wengert list shares every
    intermediate, as a DAG does).  ``var`` defaults to the first variable;
    the other variables are held at ``at`` (default 0.7 each) for AD.

    >>> from wengert import symbolic
    >>> r = symbolic.swell("x*sin(x)*exp(x)", 2)
    >>> r.orders, r.unsimplified[2] > r.unsimplified[1] > r.unsimplified[0]
    ([0, 1, 2], True)
    """
    sp = _sympy()
    e = expression(f)
    if not e.variables:
        raise ValueError(f"symbolic.swell: {e} has no variables")
    var = e.variables[0] if var is None else var
    sym = _variable(sp, e, var, "swell")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"symbolic.swell: n must be a non-negative int, got {n!r}")
    point = {v: 0.7 for v in e.variables}
    point.update(at or {})
    raw = simp = e.to_sympy()
    un, dag, si = [_tree_size(raw)], [_dag_size(raw)], [_tree_size(simp)]
    for _ in range(n):
        raw = sp.diff(raw, sym)
        simp = _simplify(sp, sp.diff(simp, sym))
        un.append(_tree_size(raw))
        dag.append(_dag_size(raw))
        si.append(_tree_size(simp))
    ad = _ad_sizes(f, e, var, point, n)
    if isinstance(f, ParsedExpression):
        text = f.text
    elif isinstance(f, (str, Expression)):
        text = str(f)
    else:
        text = getattr(f, "__name__", None) or str(e)
        text = str(e) if text == "<lambda>" else text
    return SwellReport(text, var, list(range(n + 1)), un, dag, si, ad)


def _ad_sizes(f, e, var, point, n):
    from ._api import grad
    from ._ir import make_graph

    if isinstance(f, str):
        fn = parse(f, e.variables)
    elif isinstance(f, Expression) or not callable(f):
        fn = e.to_function()
    else:
        fn = f
    names = e.variables
    i = names.index(var)
    others = [np.float64(point[v]) for v in names]

    def g(x):
        args = list(others)
        args[i] = x
        return fn(*args)

    sizes = []
    h = g
    for _ in range(n + 1):
        sizes.append(len(make_graph(h, np.float64(point[var])).eqns))
        h = grad(h)
    return sizes
