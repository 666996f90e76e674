"""The sweep table: small calls of ``wengert.numpy`` functions.

Every test that sweeps (derivatives vs finite differences, vmap vs a loop,
jit vs eager, Tensor vs grad, ...) iterates ``all_cases()``, which gathers
``CASES`` from this module and every ``tests/cases_*.py``.  A registry test
fails when a registered primitive is not reached by any case, so a new
primitive is swept the moment it is registered.

A case: ``Case(name, fn, args, ref=None, ...)`` where ``fn(*arrays)`` returns
an array computed with ``wnp``; ``args(rng)`` builds float64 inputs inside the
function's domain; ``ref`` is the NumPy function that ``fn``'s value must
equal (``None``: compare against ``fn`` run on plain arrays only).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

import numpy as np

import wengert.numpy as wnp


@dataclass
class Case:
    name: str
    fn: Callable
    args: Callable  # rng -> tuple of float64 arrays
    ref: Callable | None = None
    order: int = 2
    modes: tuple = ("fwd", "rev")
    tol: float = 1e-6
    vmap: bool = True  # include in the vmap / jit sweeps
    complex: bool = False
    tags: tuple = field(default_factory=tuple)

    def __repr__(self):
        return self.name


def U(lo=-2.0, hi=2.0, *shapes):
    """Argument builder: uniform samples in [lo, hi] for each shape."""
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) for s in shapes)
    return build


def away(lo, hi, *shapes, gap=0.2):
    """Uniform samples in [lo, hi] kept at least ``gap`` from integers (for kinks)."""
    def build(rng):
        out = []
        for s in shapes:
            x = rng.uniform(lo, hi, s)
            frac = x - np.round(x)
            x = np.where(np.abs(frac) < gap, x + 2 * gap, x)
            out.append(x)
        return tuple(out)
    return build


def distinct(*shapes):
    """Well-separated values (no ties), for sort/max/min."""
    def build(rng):
        out = []
        for s in shapes:
            n = int(np.prod(s)) if s else 1
            x = rng.permutation(n).astype(float) * 0.5 + rng.uniform(0, 0.1, n)
            out.append(x.reshape(s))
        return tuple(out)
    return build


S = [(), (3,), (2, 3)]
CASES: list[Case] = []


def add(name, fn, args, ref=None, **kw):
    CASES.append(Case(name, fn, args, ref, **kw))


# --- elementwise, one per primitive and shape ---------------------------------
_UNARY_DOMAIN = {
    "sin": (-2, 2), "cos": (-2, 2), "tan": (-1.2, 1.2), "arcsin": (-0.9, 0.9),
    "arccos": (-0.9, 0.9), "arctan": (-2, 2), "sinh": (-2, 2), "cosh": (-2, 2),
    "tanh": (-2, 2), "arcsinh": (-2, 2), "arccosh": (1.2, 3), "arctanh": (-0.9, 0.9),
    "exp": (-2, 2), "exp2": (-2, 2), "expm1": (-2, 2), "log": (0.2, 3),
    "log2": (0.2, 3), "log10": (0.2, 3), "log1p": (-0.5, 3), "sqrt": (0.2, 3),
    "cbrt": (0.2, 3), "abs": (0.2, 2), "negative": (-2, 2), "square": (-2, 2),
    "reciprocal": (0.5, 2), "positive": (-2, 2), "deg2rad": (-2, 2),
    "rad2deg": (-2, 2), "sinc": (0.1, 2), "conj": (-2, 2), "real": (-2, 2),
    "imag": (-2, 2), "conjugate": (-2, 2), "absolute": (-2, -0.2),
    "radians": (-2, 2), "degrees": (-2, 2), "fabs": (0.3, 2),
}
for _n, (_lo, _hi) in _UNARY_DOMAIN.items():
    for _s in S:
        add(f"{_n}{_s}", getattr(wnp, _n), U(_lo, _hi, _s), getattr(np, _n))

_BINARY_DOMAIN = {
    "add": (-2, 2), "subtract": (-2, 2), "multiply": (-2, 2), "divide": (0.5, 2),
    "true_divide": (0.5, 2), "power": (0.5, 2), "float_power": (0.5, 2),
    "arctan2": (0.3, 2), "hypot": (0.3, 2), "logaddexp": (-2, 2),
    "logaddexp2": (-2, 2), "maximum": (-2, 2), "minimum": (-2, 2),
    "fmax": (-2, 2), "fmin": (-2, 2),
}
for _n, (_lo, _hi) in _BINARY_DOMAIN.items():
    for _s in S:
        add(f"{_n}{_s}", getattr(wnp, _n), U(_lo, _hi, _s, _s), getattr(np, _n))
    # broadcasting: (3,) with (2, 3), scalar with matrix
    add(f"{_n}-bcast", getattr(wnp, _n), U(_lo, _hi, (3,), (2, 3)), getattr(np, _n))
    add(f"{_n}-bcast0", getattr(wnp, _n), U(_lo, _hi, (2, 1), ()), getattr(np, _n))
for _n in ("mod", "remainder", "fmod"):
    # away from the jumps of x mod y: x in (2.2, 2.8), y in (1, 1.05)
    add(f"{_n}", getattr(wnp, _n),
        lambda rng: (rng.uniform(2.2, 2.8, (3,)), rng.uniform(1.0, 1.05, (3,))), getattr(np, _n))

# the operators' own broadcasting fast path (tracer with tracer or array)
_OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b, "div": lambda a, b: a / b}
_C23 = np.linspace(0.5, 1.5, 6).reshape(2, 3)
for _n, _op in _OPS.items():
    for _sa, _sb in [((3,), (2, 3)), ((2, 1), (1, 3)), ((2, 3), ())]:
        add(f"op-{_n}-{len(_sa)}{len(_sb)}", _op, U(0.5, 2, _sa, _sb), _op)
    add(f"op-{_n}-const", lambda a, _op=_op: _op(a, _C23), U(0.5, 2, (3,)),
        lambda a, _op=_op: _op(a, _C23))
    add(f"op-{_n}-rconst", lambda a, _op=_op: _op(_C23, a), U(0.5, 2, (2, 1)),
        lambda a, _op=_op: _op(_C23, a))

add("power-const", lambda x: x ** 3, U(-2, 2, (3,)), lambda x: x ** 3)
add("rpow", lambda x: 2.0 ** x, U(-2, 2, (3,)), lambda x: 2.0 ** x)
add("where", lambda x, y: wnp.where(x > 0, x * y, y), away(-2, 2, (2, 3), (3,)),
    lambda x, y: np.where(x > 0, x * y, y))
add("clip", lambda x: wnp.clip(x, -0.5, 0.5), away(-2, 2, (5,), gap=0.05),
    lambda x: np.clip(x, -0.5, 0.5))
add("angle", wnp.angle, U(0.2, 2, (3,)), np.angle, order=1)

# --- reductions -------------------------------------------------------------
for _n in ("sum", "mean", "prod", "var", "std", "max", "min", "amax", "amin", "ptp"):
    _args = distinct((2, 3)) if _n in ("max", "min", "amax", "amin", "ptp") else U(0.5, 2, (2, 3))
    for _kw in ({}, {"axis": 0}, {"axis": 1, "keepdims": True}, {"axis": (0, 1)}, {"axis": -1}):
        add(f"{_n}{_kw}", (lambda n, kw: lambda x: getattr(wnp, n)(x, **kw))(_n, _kw), _args,
            (lambda n, kw: lambda x: getattr(np, n)(x, **kw))(_n, _kw))
add("var-ddof", lambda x: wnp.var(x, axis=0, ddof=1), U(0, 2, (4, 3)), lambda x: np.var(x, axis=0, ddof=1))
add("std-ddof", lambda x: wnp.std(x, ddof=1), U(0, 2, (4, 3)), lambda x: np.std(x, ddof=1))
add("prod-zero", lambda x: wnp.prod(x * wnp.array([0.0, 1.0, 1.0, 1.0, 1.0])), U(0.5, 2, (5,)),
    lambda x: np.prod(x * np.array([0.0, 1, 1, 1, 1])))
for _n in ("cumsum", "cumprod"):
    for _kw in ({}, {"axis": 0}, {"axis": 1}):
        add(f"{_n}{_kw}", (lambda n, kw: lambda x: getattr(wnp, n)(x, **kw))(_n, _kw), U(0.5, 2, (2, 5)),
            (lambda n, kw: lambda x: getattr(np, n)(x, **kw))(_n, _kw))
add("average-w", lambda x, w: wnp.average(x, axis=1, weights=w), U(0.5, 2, (2, 3), (3,)),
    lambda x, w: np.average(x, axis=1, weights=w))
add("average", lambda x: wnp.average(x), U(0.5, 2, (2, 3)), np.average)
add("sum-dtype32", lambda x: wnp.sum(x, dtype=np.float64), U(0.5, 2, (3,)), lambda x: np.sum(x, dtype=np.float64))

# --- linear algebra -----------------------------------------------------------
_LIN = [
    ("dot-vv", wnp.dot, np.dot, [(3,), (3,)]),
    ("dot-mv", wnp.dot, np.dot, [(2, 3), (3,)]),
    ("dot-mm", wnp.dot, np.dot, [(2, 3), (3, 4)]),
    ("dot-3d", wnp.dot, np.dot, [(2, 2, 3), (3, 4)]),
    ("dot-nd", wnp.dot, np.dot, [(2, 3), (2, 3, 2)]),
    ("dot-scalar", wnp.dot, np.dot, [(), (3,)]),
    ("matmul", wnp.matmul, np.matmul, [(2, 3), (3, 4)]),
    ("matmul-vec", wnp.matmul, np.matmul, [(3,), (3, 2)]),
    ("matmul-vec2", wnp.matmul, np.matmul, [(2, 3), (3,)]),
    ("matmul-batch", wnp.matmul, np.matmul, [(2, 2, 3), (3, 2)]),
    ("matmul-bcast", wnp.matmul, np.matmul, [(2, 1, 2, 3), (3, 3, 2)]),
    ("matmul-op", lambda a, b: a @ b, np.matmul, [(2, 3), (3, 2)]),
    ("vdot", wnp.vdot, np.vdot, [(2, 3), (2, 3)]),
    ("inner", wnp.inner, np.inner, [(2, 3), (4, 3)]),
    ("outer", wnp.outer, np.outer, [(3,), (2,)]),
    ("kron", wnp.kron, np.kron, [(2, 2), (2, 3)]),
    ("cross", wnp.cross, np.cross, [(2, 3), (2, 3)]),
    ("cross2", wnp.cross, np.cross, [(2,), (2,)]),
    ("tensordot", lambda a, b: wnp.tensordot(a, b, axes=([1, 0], [0, 1])),
     lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 1])), [(2, 3, 4), (3, 2)]),
    ("tensordot2", lambda a, b: wnp.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1),
     [(2, 3), (3, 2)]),
    ("einsum-mm", lambda a, b: wnp.einsum("ij,jk->ik", a, b),
     lambda a, b: np.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)]),
    ("einsum-implicit", lambda a, b: wnp.einsum("ij,jk", a, b),
     lambda a, b: np.einsum("ij,jk", a, b), [(2, 3), (3, 4)]),
    ("einsum-3", lambda a, b, c: wnp.einsum("ij,jk,k->i", a, b, c),
     lambda a, b, c: np.einsum("ij,jk,k->i", a, b, c), [(2, 3), (3, 4), (4,)]),
    ("einsum-trace", lambda a: wnp.einsum("ii->", a), lambda a: np.einsum("ii->", a), [(3, 3)]),
    ("einsum-diag", lambda a: wnp.einsum("ii->i", a), lambda a: np.einsum("ii->i", a), [(3, 3)]),
    ("einsum-T", lambda a: wnp.einsum("ij->ji", a), lambda a: np.einsum("ij->ji", a), [(2, 3)]),
    ("einsum-ell", lambda a, b: wnp.einsum("...ij,...jk->...ik", a, b),
     lambda a, b: np.einsum("...ij,...jk->...ik", a, b), [(2, 2, 3), (2, 3, 2)]),
    ("einsum-sumout", lambda a, b: wnp.einsum("ij,j->", a, b),
     lambda a, b: np.einsum("ij,j->", a, b), [(2, 3), (3,)]),
    ("einsum-outer", lambda a, b: wnp.einsum("i,j->ij", a, b),
     lambda a, b: np.einsum("i,j->ij", a, b), [(2,), (3,)]),
    ("trace", wnp.trace, np.trace, [(3, 3)]),
    ("trace-off", lambda a: wnp.trace(a, 1), lambda a: np.trace(a, 1), [(3, 4)]),
    ("diag-extract", wnp.diag, np.diag, [(3, 3)]),
    ("diag-build", wnp.diag, np.diag, [(3,)]),
    ("diag-k", lambda v: wnp.diag(v, 1), lambda v: np.diag(v, 1), [(3,)]),
    ("diagonal", wnp.diagonal, np.diagonal, [(3, 4)]),
    ("diagonal-3d", lambda a: wnp.diagonal(a, 0, 1, 2), lambda a: np.diagonal(a, 0, 1, 2), [(2, 3, 3)]),
    ("triu", wnp.triu, np.triu, [(3, 3)]),
    ("tril", lambda a: wnp.tril(a, -1), lambda a: np.tril(a, -1), [(3, 4)]),
]
for _n, _f, _r, _shapes in _LIN:
    add(_n, _f, U(-2, 2, *_shapes), _r)

# --- shapes ------------------------------------------------------------------
_SHAPE = [
    ("reshape", lambda x: wnp.reshape(x, (3, 2)), lambda x: np.reshape(x, (3, 2)), [(2, 3)]),
    ("reshape-1", lambda x: x.reshape(-1), lambda x: x.reshape(-1), [(2, 3)]),
    ("ravel", wnp.ravel, np.ravel, [(2, 3)]),
    ("transpose", wnp.transpose, np.transpose, [(2, 3, 4)]),
    ("transpose-axes", lambda x: wnp.transpose(x, (1, 2, 0)), lambda x: np.transpose(x, (1, 2, 0)), [(2, 3, 4)]),
    ("T", lambda x: x.T, lambda x: x.T, [(2, 3)]),
    ("swapaxes", lambda x: wnp.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), [(2, 3, 4)]),
    ("moveaxis", lambda x: wnp.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), [(2, 3, 4)]),
    ("expand_dims", lambda x: wnp.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), [(2, 3)]),
    ("squeeze", wnp.squeeze, np.squeeze, [(2, 1, 3)]),
    ("squeeze-ax", lambda x: wnp.squeeze(x, 1), lambda x: np.squeeze(x, 1), [(2, 1, 3)]),
    ("broadcast_to", lambda x: wnp.broadcast_to(x, (2, 3)), lambda x: np.broadcast_to(x, (2, 3)), [(3,)]),
    ("concatenate", lambda x, y: wnp.concatenate([x, y], axis=1),
     lambda x, y: np.concatenate([x, y], axis=1), [(2, 3), (2, 2)]),
    ("concatenate-none", lambda x, y: wnp.concatenate([x, y], axis=None),
     lambda x, y: np.concatenate([x, y], axis=None), [(2, 3), (2,)]),
    ("stack", lambda x, y: wnp.stack([x, y]), lambda x, y: np.stack([x, y]), [(2, 3), (2, 3)]),
    ("stack-1", lambda x, y: wnp.stack([x, y], axis=-1), lambda x, y: np.stack([x, y], axis=-1), [(3,), (3,)]),
    ("hstack", lambda x, y: wnp.hstack([x, y]), lambda x, y: np.hstack([x, y]), [(2, 3), (2, 2)]),
    ("vstack", lambda x, y: wnp.vstack([x, y]), lambda x, y: np.vstack([x, y]), [(3,), (2, 3)]),
    ("dstack", lambda x, y: wnp.dstack([x, y]), lambda x, y: np.dstack([x, y]), [(2, 3), (2, 3)]),
    ("column_stack", lambda x, y: wnp.column_stack([x, y]), lambda x, y: np.column_stack([x, y]),
     [(3,), (3, 2)]),
    ("split", lambda x: wnp.split(x, 2, axis=1)[1], lambda x: np.split(x, 2, axis=1)[1], [(2, 4)]),
    ("array_split", lambda x: wnp.array_split(x, 3)[0], lambda x: np.array_split(x, 3)[0], [(7,)]),
    ("split-idx", lambda x: wnp.split(x, [1, 3])[1], lambda x: np.split(x, [1, 3])[1], [(5,)]),
    ("tile", lambda x: wnp.tile(x, (2, 2)), lambda x: np.tile(x, (2, 2)), [(2, 3)]),
    ("repeat", lambda x: wnp.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, axis=0), [(2, 3)]),
    ("repeat-flat", lambda x: wnp.repeat(x, [1, 2, 3]), lambda x: np.repeat(x, [1, 2, 3]), [(3,)]),
    ("flip", wnp.flip, np.flip, [(2, 3)]),
    ("flip-ax", lambda x: wnp.flip(x, 1), lambda x: np.flip(x, 1), [(2, 3)]),
    ("fliplr", wnp.fliplr, np.fliplr, [(2, 3)]),
    ("flipud", wnp.flipud, np.flipud, [(2, 3)]),
    ("roll", lambda x: wnp.roll(x, 1), lambda x: np.roll(x, 1), [(2, 3)]),
    ("roll-ax", lambda x: wnp.roll(x, -1, axis=1), lambda x: np.roll(x, -1, axis=1), [(2, 3)]),
    ("rot90", wnp.rot90, np.rot90, [(2, 3)]),
    ("pad", lambda x: wnp.pad(x, 1), lambda x: np.pad(x, 1), [(2, 3)]),
    ("pad-cv", lambda x: wnp.pad(x, ((1, 0), (0, 2)), constant_values=3.0),
     lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=3.0), [(2, 3)]),
    ("pad-edge", lambda x: wnp.pad(x, 2, mode="edge"), lambda x: np.pad(x, 2, mode="edge"), [(3,)]),
    ("pad-reflect", lambda x: wnp.pad(x, 2, mode="reflect"), lambda x: np.pad(x, 2, mode="reflect"), [(4,)]),
    ("pad-wrap", lambda x: wnp.pad(x, 1, mode="wrap"), lambda x: np.pad(x, 1, mode="wrap"), [(2, 3)]),
    ("atleast_1d", wnp.atleast_1d, np.atleast_1d, [()]),
    ("atleast_2d", wnp.atleast_2d, np.atleast_2d, [(3,)]),
    ("atleast_3d", wnp.atleast_3d, np.atleast_3d, [(2, 3)]),
]
for _n, _f, _r, _shapes in _SHAPE:
    add(_n, _f, U(-2, 2, *_shapes), _r)

# --- indexing -----------------------------------------------------------------
_IDX = [
    ("idx-int", lambda x: x[1], [(3, 4)]),
    ("idx-slice", lambda x: x[1:, ::2], [(3, 4)]),
    ("idx-neg-step", lambda x: x[::-1], [(4,)]),
    ("idx-ellipsis", lambda x: x[..., 1], [(2, 3, 4)]),
    ("idx-none", lambda x: x[None, :, 1], [(3, 4)]),
    ("idx-array", lambda x: x[np.array([0, 2, 2])], [(3, 4)]),
    ("idx-array-rep", lambda x: x[np.array([1, 1, 0, 1])], [(3,)]),
    ("idx-list", lambda x: x[[0, 2], 1], [(3, 4)]),
    ("idx-2arrays", lambda x: x[np.array([0, 2]), np.array([1, 3])], [(3, 4)]),
    ("idx-split-adv", lambda x: x[np.array([0, 1]), :, np.array([1, 0])], [(2, 3, 2)]),
    ("idx-bool", lambda x: x[np.array([True, False, True])], [(3, 2)]),
    ("idx-mask-from-value", lambda x: x[x > 0], [(5,)]),
    ("take", lambda x: wnp.take(x, np.array([2, 0, 2])), [(2, 3)]),
    ("take-axis", lambda x: wnp.take(x, np.array([1, 0]), axis=1), [(2, 3)]),
    ("take_along_axis", lambda x: wnp.take_along_axis(x, np.array([[0, 2], [1, 1]]), axis=1), [(2, 3)]),
    ("select", lambda x: wnp.select([x < -0.5, x > 0.5], [x * 2, x * x], default=x), [(5,)]),
    ("sort", wnp.sort, [(5,)]),
    ("sort-axis0", lambda x: wnp.sort(x, axis=0), [(3, 2)]),
    ("partition", lambda x: wnp.partition(x, 2), [(5,)]),
]
for _n, _f, _shapes in _IDX:
    add(_n, _f, distinct(*_shapes), None)

# --- constructors differentiable in an input ------------------------------------
add("array-stack", lambda x, y: wnp.array([x, y, 1.0]), U(-2, 2, (), ()), None)
add("asarray-nested", lambda x: wnp.asarray([[x, 2 * x], [x * x, 1.0]]), U(-2, 2, ()), None)
add("full", lambda v: wnp.full((2, 3), v), U(-2, 2, ()), lambda v: np.full((2, 3), v))
add("full_like", lambda x, v: wnp.full_like(x, v) * x, U(-2, 2, (3,), ()), None)
add("linspace", lambda a, b: wnp.linspace(a, b, 5), U(-2, 2, (), ()), lambda a, b: np.linspace(a, b, 5))
add("linspace-vec", lambda a, b: wnp.linspace(a, b, 4, endpoint=False), U(-2, 2, (2,), (2,)),
    lambda a, b: np.linspace(a, b, 4, endpoint=False))
add("logspace", lambda a, b: wnp.logspace(a, b, 4), U(-1, 1, (), ()), lambda a, b: np.logspace(a, b, 4))
add("meshgrid", lambda x, y: wnp.meshgrid(x, y)[0] * wnp.meshgrid(x, y)[1], U(-2, 2, (3,), (2,)),
    lambda x, y: np.meshgrid(x, y)[0] * np.meshgrid(x, y)[1])
add("meshgrid-ij", lambda x, y: wnp.meshgrid(x, y, indexing="ij")[1], U(-2, 2, (3,), (2,)),
    lambda x, y: np.meshgrid(x, y, indexing="ij")[1])
add("zeros_like-plus", lambda x: wnp.zeros_like(x) + wnp.ones_like(x) * x + wnp.eye(3)[0],
    U(-2, 2, (3,)), None)

# --- non-differentiable functions: zero derivative, checked through a product ------
for _n in ("floor", "ceil", "rint", "trunc", "round", "sign"):
    add(f"{_n}-times-x", (lambda n: lambda x: x * getattr(wnp, n)(x))(_n), away(-2.5, 2.5, (4,)),
        (lambda n: lambda x: x * getattr(np, n)(x))(_n))
add("floor_divide", lambda x: x * (x // 0.7), lambda rng: (np.array([0.3, 1.0, 1.6, -0.4]),),
    lambda x: x * (x // 0.7))
for _n in ("greater_equal", "less_equal", "not_equal", "equal", "greater", "less"):
    add(f"where-{_n}", (lambda n: lambda x, y: wnp.where(getattr(wnp, n)(x, y), x, 2 * y))(_n),
        distinct((5,), (5,)), (lambda n: lambda x, y: np.where(getattr(np, n)(x, y), x, 2 * y))(_n))
for _n in ("logical_and", "logical_or", "logical_xor"):
    add(f"where-{_n}", (lambda n: lambda x, y: wnp.where(getattr(wnp, n)(x > 1, y > 1), x, y))(_n),
        distinct((5,), (5,)), (lambda n: lambda x, y: np.where(getattr(np, n)(x > 1, y > 1), x, y))(_n))
add("where-not-isfinite", lambda x: wnp.where(wnp.logical_not(wnp.isfinite(x) & ~wnp.isinf(x)
                                                              & ~wnp.isnan(x)), 0.0, x * x),
    U(-2, 2, (3,)), lambda x: x * x)
add("argmax", lambda x: x[wnp.argmax(x)] * x, distinct((5,)), lambda x: x[np.argmax(x)] * x)
add("argmin-axis", lambda x: wnp.take_along_axis(x, wnp.argmin(x, axis=1)[:, None], axis=1),
    distinct((2, 3)), lambda x: np.take_along_axis(x, np.argmin(x, axis=1)[:, None], axis=1))
add("astype-complex", lambda x: wnp.real(wnp.astype(x, np.complex128) * (1 + 2j)) * x,
    U(-2, 2, (3,)), lambda x: x * x)
add("stop_gradient-zero", lambda x: x + wnp.stop_gradient(x - x), U(-2, 2, (3,)), lambda x: x)
add("argsort", lambda x: x[wnp.argsort(x)], distinct((5,)), lambda x: x[np.argsort(x)])

# --- compositions users write -------------------------------------------------------
add("logsumexp-manual", lambda x: wnp.log(wnp.sum(wnp.exp(x - wnp.max(x)))) + wnp.max(x),
    distinct((4,)), None)
add("softmax-manual", lambda x: wnp.exp(x) / wnp.sum(wnp.exp(x), axis=-1, keepdims=True),
    U(-2, 2, (2, 3)), None)
add("mlp", lambda W, b, x: wnp.tanh(x @ W + b).sum(), U(-1, 1, (3, 2), (2,), (4, 3)), None)
add("chain", lambda x: wnp.tanh(wnp.sin(x) * 1.0001 + 0.1) ** 2, U(-2, 2, (4,)), None)


def all_cases() -> list[Case]:
    """CASES of this module and of every ``tests/cases_*.py``."""
    out = list(CASES)
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            mod = importlib.import_module(info.name)
            out.extend(getattr(mod, "CASES", []))
    return out


# Reverse mode's one-equation tangents of the bilinear primitives, called
# directly (they are reached otherwise only as tape equations)
def _tangent_case(name, p, op, shapes):
    from wengert import _prims as P
    prim = getattr(P, p)
    CASES.append(Case(name, lambda a, b, c, d: prim.bind(a, b, c, d), U(-2, 2, *shapes),
                      lambda a, b, c, d: op(a, d) + op(c, b)))


_tangent_case("mul_tangent", "mul_tangent_p", np.multiply, [(2, 3)] * 4)
_tangent_case("matmul_tangent", "matmul_tangent_p", np.matmul, [(2, 3), (3, 4), (2, 3), (3, 4)])
_tangent_case("matmul_tangent-vec", "matmul_tangent_p", np.matmul, [(2, 3), (3,), (2, 3), (3,)])
