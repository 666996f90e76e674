"""Adjoint and tangent rules for ``wengert.source``, one row per operation.

Each :class:`Rule` is a code template: ``fwd`` writes the forward statement,
``adj[slot]`` the adjoint contribution to the operand in ``slot`` given the
output's adjoint ``{g}``; the placeholders are the operands' code (``{x}``,
``{y}``, ``{c}``), the output ``{ans}``, and static parameters.

- ``kind="elementwise"``: the adjoint template, with ``{g}`` replaced by the
  operand's tangent, is also the tangent (the local derivative is diagonal),
  and ``bcast=True`` wraps adjoints in ``unbroadcast`` (NumPy broadcasting).
- ``kind="linear"``: linear in each operand; the tangent is ``fwd`` applied
  to the operand's tangent.
- ``kind="nondiff"``: the output carries no derivative (comparisons, sign).

>>> RULES["sin"].adj["x"].format(g="y_bar", x="x", ans="y")
'y_bar * np.cos(x)'

``PREAMBLE`` is the helper code every generated module starts with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Rule", "RULES", "ALIASES", "METHODS", "PREAMBLE", "stack_rule"]


@dataclass(frozen=True)
class Rule:
    name: str
    fwd: str
    slots: tuple = ("x",)
    adj: dict = field(default_factory=dict)
    kind: str = "elementwise"
    bcast: bool = False
    params: tuple = ()          # ((name, default), ...) static keyword parameters
    jvp: dict | None = None     # explicit tangent terms per slot (overrides kind)
    join_tangent: bool = False  # tangent: fwd of all operands' tangents (zeros where constant)


def stack_rule(n: int, axis=None) -> Rule:
    """``np.array([x0, x1, ...])`` (``axis=None``) or ``np.stack([...], axis)``
    of ``n`` operands: linear, jointly."""
    slots = tuple(f"x{i}" for i in range(n))
    items = ", ".join(f"{{{s}}}" for s in slots)
    if axis is None:
        return Rule("array", f"np.array([{items}])", slots,
                    {s: f"{{g}}[{i}]" for i, s in enumerate(slots)}, kind="linear",
                    join_tangent=True)
    return Rule("stack", f"np.stack([{items}]{{params}})", slots,
                {s: f"np.take({{g}}, {i}, axis={axis})" for i, s in enumerate(slots)},
                kind="linear", params=(("axis", 0),), join_tangent=True)


def _unary(name, d, npname=None):
    return Rule(name, f"np.{npname or name}({{x}})", ("x",), {"x": d})


UNARY = [
    _unary("sin", "{g} * np.cos({x})"),
    _unary("cos", "-{g} * np.sin({x})"),
    _unary("tan", "{g} * (1 + {ans} ** 2)"),
    _unary("exp", "{g} * {ans}"),
    _unary("exp2", "{g} * {ans} * LN2"),
    _unary("expm1", "{g} * ({ans} + 1)"),
    _unary("log", "{g} / {x}"),
    _unary("log2", "{g} / ({x} * LN2)"),
    _unary("log10", "{g} / ({x} * LN10)"),
    _unary("log1p", "{g} / (1 + {x})"),
    _unary("sqrt", "{g} / (2 * {ans})"),
    _unary("cbrt", "{g} / (3 * {ans} ** 2)"),
    _unary("tanh", "{g} * (1 - {ans} ** 2)"),
    _unary("sinh", "{g} * np.cosh({x})"),
    _unary("cosh", "{g} * np.sinh({x})"),
    _unary("arcsin", "{g} / np.sqrt(1 - {x} ** 2)"),
    _unary("arccos", "-{g} / np.sqrt(1 - {x} ** 2)"),
    _unary("arctan", "{g} / (1 + {x} ** 2)"),
    _unary("arcsinh", "{g} / np.sqrt({x} ** 2 + 1)"),
    _unary("arccosh", "{g} / np.sqrt({x} ** 2 - 1)"),
    _unary("arctanh", "{g} / (1 - {x} ** 2)"),
    _unary("abs", "{g} * np.sign({x})"),
    _unary("square", "{g} * 2 * {x}"),
    _unary("reciprocal", "-{g} * {ans} ** 2"),
    _unary("deg2rad", "{g} * (np.pi / 180)"),
    _unary("rad2deg", "{g} * (180 / np.pi)"),
    _unary("sinc", "{g} * np.where({x} == 0, 0.0, (np.cos(np.pi * {x}) - {ans}) / np.where({x} == 0, 1.0, {x}))"),
    Rule("neg", "-{x}", ("x",), {"x": "-{g}"}),
    Rule("pos", "+{x}", ("x",), {"x": "{g}"}),
    Rule("copy", "{x}", ("x",), {"x": "{g}"}),
]


def _binary(name, fwd, dx, dy):
    return Rule(name, fwd, ("x", "y"), {"x": dx, "y": dy}, bcast=True)


BINARY = [
    _binary("add", "{x} + {y}", "{g}", "{g}"),
    _binary("sub", "{x} - {y}", "{g}", "-{g}"),
    _binary("mul", "{x} * {y}", "{g} * {y}", "{g} * {x}"),
    _binary("div", "{x} / {y}", "{g} / {y}", "-{g} * {ans} / {y}"),
    # (x ** c for a literal c gets the simpler `g * c * x ** (c - 1)`; see pow_adjoint)
    # (JAX's rule, as wengert's pow primitive: 0 where y = 0, the log factor 0 at x = 0)
    _binary("pow", "{x} ** {y}", "{g} * {y} * np.where(({y} == 0) & ({x} == 0), 1, {x}) ** ({y} - 1)",
            "{g} * {ans} * np.log(np.where({x} == 0, 1, {x}))"),
    # (sign(x - y) + 1) / 2 is 1 where x wins, 0 where it loses, 1/2 at a tie
    _binary("maximum", "np.maximum({x}, {y})", "{g} * (np.sign({x} - {y}) + 1) / 2",
            "{g} * (np.sign({y} - {x}) + 1) / 2"),
    _binary("minimum", "np.minimum({x}, {y})", "{g} * (np.sign({y} - {x}) + 1) / 2",
            "{g} * (np.sign({x} - {y}) + 1) / 2"),
    _binary("fmax", "np.fmax({x}, {y})", "{g} * np.where(np.isnan({y}), 1, (np.sign({x} - {y}) + 1) / 2)",
            "{g} * np.where(np.isnan({x}), 1, (np.sign({y} - {x}) + 1) / 2)"),
    _binary("fmin", "np.fmin({x}, {y})", "{g} * np.where(np.isnan({y}), 1, (np.sign({y} - {x}) + 1) / 2)",
            "{g} * np.where(np.isnan({x}), 1, (np.sign({x} - {y}) + 1) / 2)"),
    _binary("mod", "{x} % {y}", "{g}", "-{g} * np.floor({x} / {y})"),
    _binary("fmod", "np.fmod({x}, {y})", "{g}", "-{g} * np.trunc({x} / {y})"),
    _binary("logaddexp2", "np.logaddexp2({x}, {y})", "{g} * np.exp2({x} - {ans})",
            "{g} * np.exp2({y} - {ans})"),
    _binary("arctan2", "np.arctan2({x}, {y})", "{g} * {y} / ({x} ** 2 + {y} ** 2)",
            "-{g} * {x} / ({x} ** 2 + {y} ** 2)"),
    _binary("hypot", "np.hypot({x}, {y})", "{g} * {x} / {ans}", "{g} * {y} / {ans}"),
    _binary("logaddexp", "np.logaddexp({x}, {y})", "{g} * np.exp({x} - {ans})",
            "{g} * np.exp({y} - {ans})"),
    Rule("where", "np.where({c}, {x}, {y})", ("c", "x", "y"),
         {"x": "np.where({c}, {g}, 0)", "y": "np.where({c}, 0, {g})"}, bcast=True),
]

_AXIS = (("axis", None), ("keepdims", False))

STRUCTURAL = [
    Rule("matmul", "{x} @ {y}", ("x", "y"),
         {"x": "matmul_adjoint({g}, {x}, {y}, wrt=0)", "y": "matmul_adjoint({g}, {x}, {y}, wrt=1)"},
         kind="linear"),
    Rule("dot", "np.dot({x}, {y})", ("x", "y"),
         {"x": "dot_adjoint({g}, {x}, {y}, wrt=0)", "y": "dot_adjoint({g}, {x}, {y}, wrt=1)"},
         kind="linear"),
    Rule("outer", "np.outer({x}, {y})", ("x", "y"),
         {"x": "np.reshape({g} @ np.ravel({y}), np.shape({x}))",
          "y": "np.reshape(np.ravel({x}) @ {g}, np.shape({y}))"}, kind="linear"),
    Rule("sum", "np.sum({x}{params})", ("x",), {"x": "unreduce({g}, {x}{params})"},
         kind="linear", params=_AXIS),
    Rule("mean", "np.mean({x}{params})", ("x",),
         {"x": "unreduce({g}, {x}{params}) * (np.size({ans}) / np.size({x}))"},
         kind="linear", params=_AXIS),
    Rule("max", "np.max({x}{params})", ("x",),
         {"x": "unreduce({g}, {x}{params}) * extreme_mask({x}, {ans}{params})"},
         kind="elementwise", params=_AXIS,
         jvp={"x": "np.sum({g} * extreme_mask({x}, {ans}{params}){params})"}),
    Rule("min", "np.min({x}{params})", ("x",),
         {"x": "unreduce({g}, {x}{params}) * extreme_mask({x}, {ans}{params})"},
         kind="elementwise", params=_AXIS,
         jvp={"x": "np.sum({g} * extreme_mask({x}, {ans}{params}){params})"}),
    Rule("norm", "np.linalg.norm({x}{params})", ("x",),
         {"x": "unreduce({g}, {x}{params}) * {x} / unreduce({ans}, {x}{params})"},
         kind="elementwise", params=(("ord", None),) + _AXIS,
         jvp={"x": "np.sum({g} * {x}{params}) / {ans}"}),
    Rule("getitem", "{x}[{index}]", ("x",), {"x": "scatter_add({g}, {x}, np.s_[{index}])"},
         kind="linear", params=(("index", None),)),
    Rule("transpose", "np.transpose({x}{params})", ("x",),
         {"x": "np.transpose({g}{inverse})"}, kind="linear", params=(("axes", None),)),
    Rule("reshape", "np.reshape({x}, {shape})", ("x",), {"x": "np.reshape({g}, np.shape({x}))"},
         kind="linear", params=(("shape", None),)),
]

NONDIFF = [
    Rule(n, f"{{x}} {op} {{y}}", ("x", "y"), kind="nondiff")
    for n, op in [("greater", ">"), ("greater_equal", ">="), ("less", "<"), ("less_equal", "<="),
                  ("equal", "=="), ("not_equal", "!="), ("floor_divide", "//")]
] + [Rule(n, f"np.{n}({{x}})", ("x",), kind="nondiff")
     for n in ("sign", "floor", "ceil", "rint", "trunc", "round")] + [
    Rule("stop_gradient", "{x}", ("x",), kind="nondiff"),
]

RULES: dict[str, Rule] = {r.name: r for r in UNARY + BINARY + STRUCTURAL + NONDIFF}

# Names under which NumPy / wengert.numpy / math spell an operation -> rule name.
ALIASES: dict[str, str] = {
    **{n: n for n in RULES},
    "absolute": "abs", "fabs": "abs", "negative": "neg", "positive": "pos",
    "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "power": "pow", "pow": "pow", "amax": "max", "amin": "min",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
    "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh",
    "permute_dims": "transpose", "radians": "deg2rad", "degrees": "rad2deg",
    "remainder": "mod", "stack": "stack", "array": "array", "asarray": "array",
}

# Methods of arrays: x.sum(axis=0), x.T, ...
METHODS = {"sum": "sum", "mean": "mean", "max": "max", "min": "min", "dot": "dot",
           "reshape": "reshape", "transpose": "transpose"}

PREAMBLE = '''\
import math

import numpy as np

LN2, LN10 = math.log(2), math.log(10)   # Python floats: float32 stays float32


def unbroadcast(g, x):
    """Sum the adjoint `g` over the axes along which `x` was broadcast."""
    shape = np.shape(x)
    if np.shape(g) == shape:
        return g
    g = np.asarray(g)
    if g.ndim < len(shape):
        return np.broadcast_to(g, shape).copy()
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return np.reshape(np.sum(g, axis=axes), shape)[()]


def unreduce(g, x, axis=None, keepdims=False):
    """Spread the adjoint `g` of a reduction of `x` over `axis` back to `x`'s shape."""
    shape = np.shape(x)
    if axis is not None and not keepdims:
        axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
        g = np.expand_dims(g, tuple(a % len(shape) for a in axes))
    return np.broadcast_to(g, shape).copy()[()]


def extreme_mask(x, ans, axis=None, keepdims=False):
    """Where `x` attains its max (or min) `ans` over `axis`; ties share evenly."""
    hit = (x == unreduce(ans, x, axis, keepdims)).astype(np.result_type(x, 1.0))
    return hit / unreduce(np.sum(hit, axis=axis, keepdims=keepdims), x, axis, keepdims)


def scatter_add(g, x, index):
    """Adjoint of `x[index]`: `g` added at `index` into zeros shaped like `x`."""
    out = np.zeros(np.shape(x), dtype=np.result_type(g, 1.0))
    np.add.at(out, index, g)
    return out[()]


def matmul_adjoint(g, a, b, wrt):
    """Adjoint of `a @ b` for `a` (wrt=0) or `b` (wrt=1); NumPy's 1-D and batch rules."""
    a, b, g = np.asarray(a), np.asarray(b), np.asarray(g)
    if b.ndim == 1:
        g = g[..., None]
    if a.ndim == 1:
        g = g[..., None, :]
    if wrt == 0:
        ga = g @ np.swapaxes(b[:, None] if b.ndim == 1 else b, -1, -2)
        return unbroadcast(ga[..., 0, :] if a.ndim == 1 else ga, a)
    gb = np.swapaxes(a[None, :] if a.ndim == 1 else a, -1, -2) @ g
    return unbroadcast(gb[..., 0] if b.ndim == 1 else gb, b)


def dot_adjoint(g, a, b, wrt):
    """Adjoint of `np.dot(a, b)`: a product for scalars, else `a @ b` (b at most 2-D)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * b, a) if wrt == 0 else unbroadcast(g * a, b)
    if np.ndim(b) > 2:
        raise ValueError("source.grad: np.dot with a 3-D or higher second argument is not "
                         "supported; use np.matmul / np.tensordot, or wg.grad")
    return matmul_adjoint(g, a, b, wrt)


def seed(ans, name):
    """The adjoint of the output, one; like wg.grad, the output must be a scalar."""
    if np.ndim(ans) != 0:
        raise TypeError(
            f"source.grad({name}) needs a scalar output, but {name} returned shape "
            f"{np.shape(ans)}. Reduce it (e.g. `.sum()`), or use wg.jacrev / wg.vjp.")
    dtype = np.result_type(ans)
    return np.ones((), dtype if dtype.kind in "fc" else np.float64)[()]
'''
