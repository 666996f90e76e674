"""Reading a Python function into a straight-line list of operations (ANF).

``lower(f)`` finds ``f``'s source (``inspect.getsource`` + ``ast``, through
decorators, indentation and lambdas), resolves the names it calls through
``f.__globals__`` and its closure, unrolls ``for i in range(N)`` loops with a
constant ``N``, takes ``if`` branches whose test is a constant, renames
reassigned variables (SSA) and splits every expression into one operation per
line.  Anything else raises :class:`SourceTransformError` naming the construct,
the line and the fix.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import math
import numbers
import textwrap
import types
from dataclasses import dataclass, field

import numpy as np

from ._source_naming import Namer
from ._source_rules import ALIASES, METHODS, RULES, Rule, stack_rule

__all__ = ["SourceTransformError", "Val", "Op", "Program", "lower"]

MAX_UNROLL = 10_000
MAX_INLINE_DEPTH = 20


class SourceTransformError(SyntaxError):
    """A construct that ``wengert.source`` cannot transform (a ``SyntaxError``)."""


SourceTransformError.__module__ = "wengert.source"   # where users import it from


@dataclass
class Val:
    """An operand: a variable name or a constant's code."""

    code: str
    active: bool = False     # depends on a differentiated argument
    literal: bool = False    # a Python number written inline (never broadcasts)


@dataclass
class Op:
    out: str
    rule: Rule
    args: dict               # slot -> Val
    params: dict
    stmt: int                # index into Program.stmts
    active: bool


@dataclass
class Program:
    name: str
    args: list
    ops: list = field(default_factory=list)
    stmts: list = field(default_factory=list)   # (lineno, text) of the user's statements
    consts: dict = field(default_factory=dict)  # captured name -> value
    out: Val | None = None
    namer: Namer | None = None


# ----------------------------------------------------------------------------
# Finding the source


def _known_functions():
    import wengert
    import wengert.numpy as wnp

    table = {}
    for mod in (np, wnp, math, np.linalg, wnp.linalg):
        for attr, rule in ALIASES.items():
            try:
                obj = getattr(mod, attr, None)
            except NotImplementedError:
                continue
            if callable(obj) and not isinstance(obj, type):
                table.setdefault(id(obj), (rule, obj))
    table[id(builtins.abs)] = ("abs", builtins.abs)
    table[id(wengert.stop_gradient)] = ("stop_gradient", wengert.stop_gradient)
    return table


_KNOWN = None


def _fail(msg, node=None, prog=None, fix=True):
    line = getattr(node, "lineno", None)
    where = f" (line {line})" if line is not None else ""
    tail = " Write it as straight-line code, or use wg.grad, which runs any Python." if fix else ""
    name = prog.name if prog is not None else "the function"
    raise SourceTransformError(f"source.grad({name}): {msg}{where}.{tail}")


def _parse(f):
    name = getattr(f, "__name__", type(f).__name__)
    if inspect.ismethod(f):
        raise TypeError(f"source.grad({name}): a bound method; pass a plain function (e.g. "
                        f"lambda x: obj.{name}(x) is not transformable either: write {name} as a "
                        "function of its arrays), or use wg.grad")
    if not callable(f) or not hasattr(f, "__code__"):
        raise TypeError(f"source.grad needs a Python function, got {type(f).__name__}; "
                        "use wg.grad for other callables")
    try:
        src = inspect.getsource(f)
    except (OSError, TypeError) as e:
        raise SourceTransformError(
            f"source.grad({name}): cannot read its source code ({e}). Define it in a file "
            "(not at an interactive prompt or with exec), or use wg.grad.") from None
    src = textwrap.dedent(src)
    code = f.__code__
    first = code.co_firstlineno
    try:
        tree = ast.parse(src)
    except SyntaxError:
        tree = None
    if name == "<lambda>":
        nargs = code.co_argcount
        cands = []
        if tree is None:   # a lambda inside a larger expression: parse from 'lambda'
            k = src.find("lambda")
            while k >= 0 and tree is None:
                piece = src[k:]
                for end in range(len(piece), 0, -1):
                    try:
                        tree = ast.parse(piece[:end].strip(), mode="eval")
                        break
                    except SyntaxError:
                        continue
                k = src.find("lambda", k + 1)
        if tree is not None:
            cands = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
                     and [a.arg for a in n.args.args] == list(code.co_varnames[:nargs])]
        if len(cands) != 1:
            raise SourceTransformError(
                f"source.grad(<lambda>): cannot single out this lambda in its source line "
                f"({len(cands)} candidates); define it with `def`, or use wg.grad")
        lam = cands[0]
        body = [ast.Return(value=lam.body, lineno=lam.lineno, col_offset=0)]
        return name, lam.args, body, src, first
    if tree is None:
        raise SourceTransformError(f"source.grad({name}): cannot parse its source; use wg.grad")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
            if isinstance(node, ast.AsyncFunctionDef):
                _fail("async functions are not supported", node, fix=False)
            return name, node.args, node.body, src, first
    raise SourceTransformError(f"source.grad({name}): cannot find `def {code.co_name}` in its source")


# ----------------------------------------------------------------------------
# Lowering


def _is_number(v):
    return isinstance(v, (numbers.Number, np.number, np.bool_)) and not isinstance(v, np.ndarray)


def _literal(v):
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if isinstance(v, numbers.Integral):
        return repr(int(v))
    if isinstance(v, numbers.Real):
        v = float(v)
        if math.isnan(v):
            return "np.nan"
        if math.isinf(v):
            return "np.inf" if v > 0 else "-np.inf"
        return repr(v)
    return repr(complex(v))


def _index_code(idx):
    def one(i):
        if i is None:
            return "None"
        if i is Ellipsis:
            return "..."
        if isinstance(i, slice):
            s = f"{'' if i.start is None else i.start}:{'' if i.stop is None else i.stop}"
            return s + (f":{i.step}" if i.step is not None else "")
        if isinstance(i, (numbers.Integral, np.integer)):
            return repr(int(i))
        if isinstance(i, (list, np.ndarray)):
            return repr(np.asarray(i).tolist())
        raise TypeError(type(i).__name__)
    if isinstance(idx, tuple):
        return ", ".join(one(i) for i in idx) + ("," if len(idx) == 1 else "") or "()"
    return one(idx)


class _Lowerer:
    """Lowers one function body; an inlined call gets a child lowerer that
    shares the program and the namer but has its own names and globals."""

    def __init__(self, f, parent=None):
        global _KNOWN
        if _KNOWN is None:
            _KNOWN = _known_functions()
        self.f = f
        name, args, body, self.src, self.line0 = _parse(f)
        self.name = name
        self.ns = dict(vars(builtins))
        self.ns.update(f.__globals__)
        if f.__closure__:
            for n, cell in zip(f.__code__.co_freevars, f.__closure__):
                try:
                    self.ns[n] = cell.cell_contents
                except ValueError:
                    pass
        self.parent = parent
        self.prog = parent.prog if parent else Program(name=name, args=[])
        self.stack = (parent.stack if parent else ()) + (f,)
        if args.vararg or args.kwarg or args.kwonlyargs:
            _fail(f"{self._where()}*args, **kwargs and keyword-only arguments are not "
                  "supported; list the arguments one by one", None, self.prog)
        self.argnames = [a.arg for a in getattr(args, "posonlyargs", [])] + [a.arg for a in args.args]
        locals_ = set(self.argnames)
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                locals_.add(node.id)
        self.locals = locals_
        outer = {n.id for n in ast.walk(ast.Module(body=body, type_ignores=[]))
                 if isinstance(n, ast.Name) and n.id not in locals_}
        if parent is None:
            self.namer = Namer(user=locals_, outer=outer)
            self.prog.namer = self.namer
        else:
            self.namer = parent.namer
            self.namer.declare(user=locals_, outer=outer)
        self.env = {}        # user name -> Val
        self.loopvars = {}   # loop variable -> int
        self.statics = {}    # parameters bound to constants at an inlined call
        if parent is None:
            for a in self.argnames:
                self.env[a] = Val(self.namer.version(a), active=True)
                self.prog.args.append(a)
        self.body = body
        self.stmt = parent.stmt if parent else -1

    def _where(self):
        return "".join(f"in {fn.__name__}(): " for fn in self.stack[1:])

    # -- helpers ---------------------------------------------------------------
    def fail(self, msg, node):
        line = getattr(node, "lineno", None)
        if line is not None:
            node = ast.Pass(lineno=line + self.line0 - 1)
        _fail(self._where() + msg, node, self.prog)

    def is_static(self, node):
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id not in self.loopvars and n.id not in self.statics and (
                    n.id in self.locals or n.id in self.env):
                return False
        return True

    def static_value(self, node, what):
        if not self.is_static(node):
            self.fail(f"{what} `{ast.unparse(node)}` must be a constant, but it depends on a "
                      "variable of the function", node)
        try:
            return eval(compile(ast.Expression(body=node), "<source>", "eval"),
                        {**self.ns, **self.statics, **self.loopvars})
        except Exception as e:  # noqa: BLE001
            self.fail(f"cannot evaluate {what} `{ast.unparse(node)}` ({type(e).__name__}: {e})",
                      node)

    def constant(self, node):
        """A static expression: a literal when it is a number, else a captured name."""
        if isinstance(node, ast.Name) and node.id in self.loopvars:
            return Val(_literal(self.loopvars[node.id]), literal=True)
        if isinstance(node, ast.Name) and node.id in self.statics and not _is_number(
                self.statics[node.id]):
            self.fail(f"the argument `{node.id}` = {self.statics[node.id]!r} is used as an array "
                      "but is not a number", node)
        value = self.static_value(node, "the expression")
        if _is_number(value):
            lit = _literal(value)
            return Val(lit, literal=True)
        if callable(value) or inspect.ismodule(value):
            self.fail(f"`{ast.unparse(node)}` is a function or module used as a value", node)
        name = node.id if isinstance(node, ast.Name) else None
        if name is None or (name in self.namer.used and self.prog.consts.get(name, self) is not value):
            name = self.namer.const()
        self.namer.reserve(name)
        self.prog.consts[name] = value
        return Val(name)

    def emit(self, rule, args, params=None, out=None):
        active = rule.kind != "nondiff" and any(
            v.active for s, v in args.items() if s in rule.adj or rule.kind == "linear")
        out = out or self.namer.temp()
        self.prog.ops.append(Op(out, rule, args, params or {}, self.stmt, active))
        return Val(out, active=active)

    # -- expressions -----------------------------------------------------------
    def expr(self, node, out=None, allow_tuple=False):
        val = self._expr(node, out)
        if isinstance(val, tuple):
            if not allow_tuple:
                self.fail(f"`{ast.unparse(node)}` is a tuple (returned by a function); unpack it "
                          "first (`a, b = ...`) or index it with a constant", node)
            return val
        if out is not None and val.code != out:
            val = self.emit(RULES["copy"], {"x": val}, out=out)
        return val

    def _expr(self, node, out):
        if self.is_static(node) and not isinstance(node, ast.Lambda):
            if isinstance(node, ast.Constant) and not _is_number(node.value):
                self.fail(f"the constant {node.value!r} is not a number", node)
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.env[node.id] if node.id in self.env else self.fail(
                f"`{node.id}` is used before it is assigned", node)
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div",
                   ast.Pow: "pow", ast.MatMult: "matmul", ast.Mod: "mod",
                   ast.FloorDiv: "floor_divide"}
            name = ops.get(type(node.op))
            if name is None:
                self.fail(f"the operator `{_opsym(node.op)}` is not supported (only + - * / ** @ % //)",
                          node)
            x, y = self.expr(node.left), self.expr(node.right)
            return self.emit(RULES[name], {"x": x, "y": y}, out=out)
        if isinstance(node, ast.UnaryOp):
            name = {ast.USub: "neg", ast.UAdd: "pos"}.get(type(node.op))
            if name is None:
                self.fail(f"the operator `{_opsym(node.op)}` is not supported", node)
            return self.emit(RULES[name], {"x": self.expr(node.operand)}, out=out)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                self.fail("chained comparisons are not supported; split them with `&`", node)
            name = {ast.Gt: "greater", ast.GtE: "greater_equal", ast.Lt: "less",
                    ast.LtE: "less_equal", ast.Eq: "equal", ast.NotEq: "not_equal"}.get(
                        type(node.ops[0]))
            if name is None:
                self.fail(f"the comparison `{_opsym(node.ops[0])}` is not supported", node)
            x, y = self.expr(node.left), self.expr(node.comparators[0])
            return self.emit(RULES[name], {"x": x, "y": y}, out=out)
        if isinstance(node, ast.Call):
            return self.call(node, out)
        if isinstance(node, ast.Attribute):
            if node.attr == "T":
                return self.emit(RULES["transpose"], {"x": self.expr(node.value)},
                                 {"axes": None}, out=out)
            self.fail(f"the attribute `.{node.attr}` of a variable is not supported", node)
        if isinstance(node, ast.Subscript):
            x = self.expr(node.value, allow_tuple=True)
            idx = self.static_value(node.slice, "the index")
            if isinstance(x, tuple):
                if not isinstance(idx, int) or not -len(x) <= idx < len(x):
                    self.fail(f"the tuple index `{ast.unparse(node.slice)}` must be a constant "
                              f"int below {len(x)}", node)
                return x[idx]
            try:
                code = _index_code(idx)
            except TypeError:
                self.fail(f"the index `{ast.unparse(node.slice)}` is not supported (use ints, "
                          "slices, None, ... or lists of ints)", node)
            return self.emit(RULES["getitem"], {"x": x}, {"index": code}, out=out)
        if isinstance(node, ast.IfExp):
            self.fail("a conditional expression (`a if cond else b`) on a variable is not "
                      "supported; use np.where(cond, a, b)", node)
        kind = type(node).__name__
        self.fail(f"the expression `{ast.unparse(node)}` ({kind}) is not supported", node)

    def call(self, node, out):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in METHODS and (
                not self.is_static(func.value) or isinstance(
                    self.static_value(func.value, "the object"), np.ndarray)):
            rname = METHODS.get(func.attr)
            if rname is None:
                self.fail(f"the method `.{func.attr}()` is not supported", node)
            posargs = [func.value] + list(node.args)
            if rname in ("reshape", "transpose") and len(node.args) > 1:
                posargs = [func.value, ast.Tuple(elts=list(node.args), ctx=ast.Load())]
            label = f".{func.attr}()"
        else:
            obj = self.static_value(func, "the called function")
            hit = _KNOWN.get(id(obj))
            if hit is None and isinstance(obj, types.FunctionType):
                return self.inline(obj, node, out)
            if hit is None:
                fname = ast.unparse(func)
                self.fail(f"calls to `{fname}` are not supported: only your own Python functions "
                          "(inlined) and NumPy / wengert.numpy functions with adjoint rules "
                          "(listed in docs/source.md) are", node)
            rname = hit[0]
            posargs = list(node.args)
            label = ast.unparse(func)
            if rname in ("array", "stack"):
                return self.stack_call(rname, node, label, out)
        rule = RULES[rname]
        if any(isinstance(a, ast.Starred) for a in posargs):
            self.fail(f"*args in the call to {label} are not supported", node)
        nslots = len(rule.slots)
        if len(posargs) > nslots + len(rule.params):
            self.fail(f"{label} was given {len(posargs)} positional arguments; source.grad "
                      f"supports {', '.join(rule.slots + tuple(p for p, _ in rule.params))}", node)
        params = dict(rule.params)
        arg_nodes = posargs[:nslots]
        for (pname, _), pnode in zip(rule.params, posargs[nslots:]):
            params[pname] = self.static_value(pnode, f"the argument `{pname}` of {label}")
        for kw in node.keywords:
            if kw.arg in params:
                params[kw.arg] = self.static_value(kw.value, f"the argument `{kw.arg}` of {label}")
            else:
                self.fail(f"the keyword `{kw.arg}=` of {label} is not supported", node)
        if len(arg_nodes) != nslots:
            if rname == "where":
                self.fail("np.where needs three arguments here (condition, x, y)", node)
            self.fail(f"{label} needs {nslots} array argument(s)", node)
        if rname == "norm" and params["ord"] is not None:
            self.fail(f"{label} with ord={params['ord']!r} is not supported (only the default "
                      "2-norm / Frobenius norm)", node)
        args = {s: self.expr(a) for s, a in zip(rule.slots, arg_nodes)}
        return self.emit(rule, args, params, out=out)

    def stack_call(self, rname, node, label, out):
        """``np.array([a, b, ...])`` (nested lists too), ``np.stack([a, b], axis)``;
        ``np.array(x)`` / ``np.asarray(x)`` of one array is a copy."""
        args = list(node.args)
        kws = {kw.arg: kw.value for kw in node.keywords}
        axis = None
        if rname == "stack":
            if len(args) > 1:
                kws.setdefault("axis", args.pop())
            axis = int(self.static_value(kws.pop("axis"), "the axis")) if "axis" in kws else 0
        if kws or len(args) != 1:
            self.fail(f"{label} is supported with one list argument{' and axis=' if axis is not None else ''} "
                      f"only (no {', '.join(kws) or 'further arguments'})", node)
        seq = args[0]
        if not isinstance(seq, (ast.List, ast.Tuple)):
            if rname == "stack":
                self.fail(f"{label} needs a literal list of arrays, `[a, b, ...]`", node)
            return self.emit(RULES["copy"], {"x": self.expr(seq)}, out=out)
        if not seq.elts:
            self.fail(f"{label} of an empty list", node)
        vals = [self.stack_call("array", ast.Call(func=node.func, args=[e], keywords=[]), label, None)
                if rname == "array" and isinstance(e, (ast.List, ast.Tuple)) else self.expr(e)
                for e in seq.elts]
        rule = stack_rule(len(vals), axis)
        params = {} if axis is None else {"axis": axis}
        return self.emit(rule, dict(zip(rule.slots, vals)), params, out=out)

    def inline(self, fn, node, out):
        """A call to one of the user's own functions: its body is lowered in
        place (inlined), its parameters bound to the call's operands."""
        if fn in self.stack:
            self.fail(f"the recursive call to {fn.__name__}() is not supported", node)
        if len(self.stack) > MAX_INLINE_DEPTH:
            self.fail(f"calls nest deeper than {MAX_INLINE_DEPTH} functions", node)
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
                kw.arg is None for kw in node.keywords):
            self.fail(f"*args / **kwargs in the call to {fn.__name__}() are not supported", node)
        try:
            bound = inspect.signature(fn).bind(*node.args, **{kw.arg: kw.value for kw in node.keywords})
        except TypeError as e:
            self.fail(f"the call to {fn.__name__}() does not match its signature ({e})", node)
        bound.apply_defaults()
        child = _Lowerer(fn, parent=self)
        child.out_hint = out
        for pname, v in bound.arguments.items():
            if isinstance(v, ast.AST) and not self.is_static(v):
                child.env[pname] = self.expr(v)
                continue
            value = self.static_value(v, "the argument") if isinstance(v, ast.AST) else v
            if isinstance(value, np.ndarray):
                if isinstance(v, ast.Name):
                    child.env[pname] = self.constant(v)
                else:
                    name = self.namer.const()
                    self.prog.consts[name] = value
                    child.env[pname] = Val(name)
            else:
                child.statics[pname] = value
        return child.block(child.body, top=True)

    # -- statements ------------------------------------------------------------
    def new_stmt(self, node):
        text = ast.unparse(node).split("\n")[0]
        if self.parent is not None:
            text += f"   [in {self.name}()]"
        if self.loopvars:
            text += "   [" + ", ".join(f"{k} = {v}" for k, v in self.loopvars.items()) + "]"
        self.prog.stmts.append((node.lineno + self.line0 - 1, text))
        self.stmt = len(self.prog.stmts) - 1

    def assign(self, target, value_node, node):
        if isinstance(target, ast.Name):
            if target.id in self.loopvars:
                self.fail(f"assigning to the loop variable `{target.id}` is not supported", node)
            out = self.namer.version(target.id)
            self.env[target.id] = self.expr(value_node, out=out)
            self.statics.pop(target.id, None)   # a constant parameter, reassigned
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            names = target.elts
            for t in names:
                if not isinstance(t, ast.Name):
                    self.fail("only names can be unpacked into (`a, b = ...`)", node)
            if isinstance(value_node, (ast.Tuple, ast.List)):
                if len(value_node.elts) != len(names):
                    self.fail(f"cannot unpack {len(value_node.elts)} values into {len(names)} names",
                              node)
                vals = [self.expr(v, out=self.namer.version(t.id))
                        for t, v in zip(names, value_node.elts)]
            else:
                whole = self.expr(value_node, allow_tuple=True)
                if isinstance(whole, tuple):
                    if len(whole) != len(names):
                        self.fail(f"cannot unpack {len(whole)} values into {len(names)} names", node)
                    vals = [self.emit(RULES["copy"], {"x": v}, out=self.namer.version(t.id))
                            for t, v in zip(names, whole)]
                else:
                    vals = [self.emit(RULES["getitem"], {"x": whole}, {"index": str(k)},
                                      out=self.namer.version(t.id)) for k, t in enumerate(names)]
            for t, v in zip(names, vals):
                self.env[t.id] = v
            return
        if isinstance(target, ast.Subscript):
            self.fail(f"assignment to `{ast.unparse(target)}` mutates an array in place, which "
                      "has no derivative here; build a new array (e.g. with np.where)", node)
        self.fail(f"assignment to `{ast.unparse(target)}` is not supported", node)

    def block(self, stmts, top=False):
        for i, node in enumerate(stmts):
            last = top and i == len(stmts) - 1
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(
                    node.value.value, str):
                continue   # docstring
            if isinstance(node, ast.Pass):
                continue
            if isinstance(node, ast.Return):
                if not last:
                    self.fail("`return` must be the last statement (returns inside loops, and "
                              "early returns other than under a constant `if`, are not "
                              "supported)", node)
                if node.value is None:
                    self.fail("the function returns None; return a scalar", node)
                if isinstance(node.value, ast.Tuple) and self.parent is None:
                    self.fail("the function returns a tuple; source.grad needs one scalar output",
                              node)
                self.new_stmt(node)
                if isinstance(node.value, ast.Name) and node.value.id in self.env:
                    return self.env[node.value.id]
                if self.parent is None:
                    return self.expr(node.value, out=self.namer.version("ans"))
                if isinstance(node.value, ast.Tuple):
                    return tuple(self.expr(v, allow_tuple=True) for v in node.value.elts)
                return self.expr(node.value, out=self.out_hint)
            if isinstance(node, ast.Assign):
                if len(node.targets) != 1:
                    self.fail("chained assignment (`a = b = ...`) is not supported", node)
                self.new_stmt(node)
                self.assign(node.targets[0], node.value, node)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                self.new_stmt(node)
                self.assign(node.target, node.value, node)
            elif isinstance(node, ast.AugAssign):
                if not isinstance(node.target, ast.Name):
                    self.fail(f"augmented assignment to `{ast.unparse(node.target)}` mutates an "
                              "array in place; assign a new name instead", node)
                self.new_stmt(node)
                binop = ast.BinOp(left=ast.Name(id=node.target.id, ctx=ast.Load()), op=node.op,
                                  right=node.value, lineno=node.lineno, col_offset=0)
                self.assign(node.target, binop, node)
            elif isinstance(node, ast.For):
                self.loop(node)
            elif isinstance(node, ast.If):
                if not self.is_static(node.test):
                    self.fail(f"`if {ast.unparse(node.test)}:` branches on a value computed from "
                              "the arguments; use np.where(cond, a, b) for a choice per element",
                              node)
                test = self.static_value(node.test, "the `if` condition")
                branch = node.body if test else node.orelse
                if last or (top and branch and isinstance(branch[-1], ast.Return)):
                    # the chosen branch ends the function (a final if/else, or an early return)
                    return self.block(branch, top=True)
                self.block(branch)
            else:
                kind = {ast.While: "a `while` loop", ast.FunctionDef: "a nested function",
                        ast.With: "a `with` block", ast.Try: "a `try` block",
                        ast.Import: "an import", ast.ImportFrom: "an import",
                        ast.Global: "`global`", ast.Nonlocal: "`nonlocal`",
                        ast.Expr: "an expression statement (its value is unused)",
                        ast.Assert: "`assert`", ast.Raise: "`raise`", ast.Delete: "`del`",
                        ast.Break: "`break`", ast.Continue: "`continue`"}.get(
                            type(node), f"the statement `{type(node).__name__}`")
                self.fail(f"{kind} is not supported", node)
        if top:
            self.fail("the function has no `return` statement at its end", stmts[-1] if stmts else None)

    def loop(self, node):
        it = node.iter
        if node.orelse or not isinstance(node.target, ast.Name) or not (
                isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"):
            self.fail("only `for i in range(N):` loops (with constant N, no else) are supported",
                      node)
        rng = self.static_value(it, "the loop range")
        if len(rng) > MAX_UNROLL:
            self.fail(f"the loop has {len(rng)} iterations; source.grad unrolls loops of at most "
                      f"{MAX_UNROLL}", node)
        var = node.target.id
        saved = self.loopvars.get(var)
        for i in rng:
            self.loopvars[var] = i
            self.block(node.body)
        if saved is None:
            self.loopvars.pop(var, None)
        else:
            self.loopvars[var] = saved


def _opsym(op):
    return {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>",
            ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.Not: "not", ast.Invert: "~",
            ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}.get(
                type(op), type(op).__name__)


def lower(f) -> Program:
    """``f`` as a :class:`Program`: one operation per line, SSA names."""
    lw = _Lowerer(f)
    lw.prog.out = lw.block(lw.body, top=True)
    return lw.prog
