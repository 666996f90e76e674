"""``wengert.numpy``: NumPy's API over the primitives.

Each function takes the NumPy path when no argument is traced (so an
untraced call costs about one ``isinstance`` more than NumPy) and otherwise
binds primitives, doing NumPy's broadcasting, ``axis``/``keepdims`` handling
and promotion here so that the primitives stay strict.  Functions without a
primitive of their own are compositions and carry no rules.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .. import _prims as P
from .._core import Tracer
from ._base import (
    SEQ,
    WEAK,
    any_tracer,
    as_operand,
    binary,
    broadcast_traced,
    dtype_of,
    index_gather,
    lift,
    norm_axes,
    norm_axis,
    reshape_t,
    shape_of,
)
from ._exact import exact as _exact
from ._exact import exact_call as _exact_call
from ._exact import exact_nodiff as _exact_nodiff
from ._exact import in_composite as _in_composite
from ._exact import inexact as _inexact

_isT = isinstance

# ----------------------------------------------------------------------------
# Elementwise functions, generated from a table

UNARY = {
    # wnp name: (primitive, numpy function)
    "sin": (P.sin_p, np.sin), "cos": (P.cos_p, np.cos), "tan": (P.tan_p, np.tan),
    "arcsin": (P.arcsin_p, np.arcsin), "arccos": (P.arccos_p, np.arccos),
    "arctan": (P.arctan_p, np.arctan), "sinh": (P.sinh_p, np.sinh),
    "cosh": (P.cosh_p, np.cosh), "tanh": (P.tanh_p, np.tanh),
    "arcsinh": (P.arcsinh_p, np.arcsinh), "arccosh": (P.arccosh_p, np.arccosh),
    "arctanh": (P.arctanh_p, np.arctanh), "exp": (P.exp_p, np.exp),
    "exp2": (P.exp2_p, np.exp2), "expm1": (P.expm1_p, np.expm1),
    "log": (P.log_p, np.log), "log2": (P.log2_p, np.log2),
    "log10": (P.log10_p, np.log10), "log1p": (P.log1p_p, np.log1p),
    "sqrt": (P.sqrt_p, np.sqrt), "cbrt": (P.cbrt_p, np.cbrt),
    "abs": (P.abs_p, np.abs), "negative": (P.neg_p, np.negative),
    "conj": (P.conj_p, np.conjugate), "real": (P.real_p, np.real),
    "imag": (P.imag_p, np.imag),
}
for _n in ("sign", "floor", "ceil", "rint", "trunc", "isnan", "isinf", "isfinite",
           "logical_not"):
    UNARY[_n] = (P.NONDIFF[_n], getattr(np, _n))

BINARY = {
    "add": (P.add_p, np.add), "subtract": (P.sub_p, np.subtract),
    "multiply": (P.mul_p, np.multiply), "divide": (P.div_p, np.divide),
    "power": (P.pow_p, np.power), "arctan2": (P.arctan2_p, np.arctan2),
    "hypot": (P.hypot_p, np.hypot), "maximum": (P.maximum_p, np.maximum),
    "minimum": (P.minimum_p, np.minimum), "logaddexp": (P.logaddexp_p, np.logaddexp),
    "logaddexp2": (P.logaddexp2_p, np.logaddexp2), "mod": (P.mod_p, np.mod),
    "fmod": (P.fmod_p, np.fmod),
}
for _n in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
           "logical_and", "logical_or", "logical_xor", "floor_divide"):
    BINARY[_n] = (P.NONDIFF[_n], getattr(np, _n))

_DOCS = {
    "abs": "Derivative follows sign: abs′(0) = 0. For complex z, d|z| = Re(conj(z) dz)/|z|.",
    "sqrt": "At 0 the derivative is inf (NumPy's arithmetic: 1 / (2·0)).",
    "maximum": "Ties split the derivative evenly: ½ to each argument.",
    "minimum": "Ties split the derivative evenly: ½ to each argument.",
    "sign": "Not differentiable: the derivative is zero.",
    "power": ("One rule in every mode (JAX's): d/dx = y·x**(y-1), 0 where y = 0 (also at x = 0); "
              "d/dy = log(x)·x**y, 0 at x = 0 and nan for a negative real x (complex results use "
              "the principal log). So d(x**x) at 0 is 0. A zero tangent contributes 0, so a nan "
              "partial in one argument does not spread to the others under jvp/jacfwd."),
}


def _make_unary(name, p, npf):
    _v = 1.5 if name == "arccosh" else 0.5

    def f(x, /):
        if _isT(x, Tracer) or _isT(x := lift(x), Tracer):
            return x._trace.process(p, (x,), ())  # what bind(x) does, one call less
        return npf(x)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"Elementwise ``numpy.{npf.__name__}``, differentiable in both modes."
                 + (" " + _DOCS[name] if name in _DOCS else "")
                 + "\n\n>>> import numpy, wengert.numpy as wnp\n"
                 + f">>> bool(wnp.{name}({_v}) == numpy.{npf.__name__}({_v}))\nTrue\n")
    return f


def _make_binary(name, p, npf):
    def f(x, y, /):
        if _isT(x, Tracer) or _isT(y, Tracer) or _isT(x := lift(x), Tracer) or _isT(y := lift(y), Tracer):
            return binary(p, x, y)
        return npf(x, y)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"Elementwise ``numpy.{npf.__name__}`` with broadcasting, differentiable."
                 + (" " + _DOCS[name] if name in _DOCS else ""))
    return f


_g = globals()
for _n, (_p, _f) in UNARY.items():
    _g[_n] = _make_unary(_n, _p, _f)
for _n, (_p, _f) in BINARY.items():
    _g[_n] = _make_binary(_n, _p, _f)

def _is_real(x):
    return dtype_of(x).kind != "c"


def real(x, /):
    """Real part (linear); of a real array, the array itself."""
    if type(x) in SEQ:
        x = lift(x)
    if _isT(x, Tracer):
        return x if _is_real(x) else P.real_p.bind(x)
    return np.real(x)


def imag(x, /):
    """Imaginary part (linear); of a real array, zeros with no derivative."""
    if type(x) in SEQ:
        x = lift(x)
    if _isT(x, Tracer):
        return P.imag_p.bind(x) if not _is_real(x) else np.zeros(tuple(x.shape), dtype=dtype_of(x))
    return np.imag(x)


def conj(x, /):
    """Complex conjugate (linear); of a real array, the array itself."""
    if type(x) in SEQ:
        x = lift(x)
    if _isT(x, Tracer):
        if dtype_of(x) == np.bool_:  # NumPy's conjugate of bool is int8
            return _exact_nodiff(np.conjugate, (x,), {})
        return x if _is_real(x) else P.conj_p.bind(x)
    return np.conjugate(x)


absolute = abs  # noqa: F821
conjugate = conj  # noqa: F821
true_divide = divide  # noqa: F821
remainder = mod  # noqa: F821
fabs = abs  # noqa: F821


def positive(x, /):
    """Identity (``+x``)."""
    if type(x) in SEQ:
        x = lift(x)
    if _isT(x, Tracer) and dtype_of(x) == np.bool_:  # NumPy refuses: so does wnp, in every mode
        return _exact_nodiff(np.positive, (x,), {})
    return x if _isT(x, Tracer) else np.positive(x)


def square(x, /):
    """``x * x``."""
    if type(x) in SEQ:
        x = lift(x)
    if _isT(x, Tracer) and dtype_of(x) == np.bool_:  # NumPy's square of bool is int8
        return _exact_nodiff(np.square, (x,), {})
    return multiply(x, x) if _isT(x, Tracer) else np.square(x)  # noqa: F821


def reciprocal(x, /):
    """``1 / x``."""
    if type(x) in SEQ:
        x = lift(x)
    if not _isT(x, Tracer):
        return np.reciprocal(x)
    if not _inexact(x):  # NumPy's integer reciprocal (1 // x), no derivative
        return _exact_nodiff(np.reciprocal, (x,), {})
    if np.dtype(dtype_of(x)).kind == "c":  # NumPy's complex 1/x is not 1.0/x in the last bit
        return _exact(np.reciprocal, lambda x: divide(1.0, x), (x,))  # noqa: F821
    return divide(1.0, x)  # noqa: F821


def float_power(x, y, /):
    """``x ** y`` computed in float64 (or complex128); derivatives as ``power``."""
    if type(x) in SEQ:
        x = lift(x)
    if type(y) in SEQ:
        y = lift(y)
    if not (_isT(x, Tracer) or _isT(y, Tracer)):
        return np.float_power(x, y)
    x = astype(x, np.complex128 if np.issubdtype(dtype_of(x), np.complexfloating) else np.float64)
    return power(x, y)  # noqa: F821


def deg2rad(x, /):
    if type(x) in SEQ:
        x = lift(x)
    if not _isT(x, Tracer):
        return np.deg2rad(x)
    return _angle_convert(np.deg2rad, x, np.pi / 180.0)


def rad2deg(x, /):
    if type(x) in SEQ:
        x = lift(x)
    if not _isT(x, Tracer):
        return np.rad2deg(x)
    return _angle_convert(np.rad2deg, x, 180.0 / np.pi)


def _angle_convert(npf, x, c):
    """NumPy's deg2rad/rad2deg value and dtype (float16 of int8, a TypeError
    for complex) in every mode; the derivative is the constant ``c``."""
    dt = np.dtype(dtype_of(x))
    if dt.kind != "f":
        return _exact_nodiff(npf, (x,), {})
    if dt.itemsize < 8:  # NumPy's float32/float16 loop rounds otherwise than x * c
        return _exact(npf, lambda x: multiply(x, c), (x,))  # noqa: F821
    return multiply(x, c)  # noqa: F821


radians = deg2rad
degrees = rad2deg


# Maclaurin coefficients of sin(y)/y in u = y²: Σ (-1)^k u^k / (2k+1)!
_SINC_TAYLOR = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(10))


def sinc(x, /):
    """Normalised sinc, sin(πx)/(πx), with sinc(0) = 1.

    For |πx| < 0.5 it is evaluated from its Maclaurin series (to degree 18;
    the truncation error is below 1e-24), so every derivative is right at
    and near 0: sinc′(0) = 0, sinc″(0) = −π²/3, sinc⁗(0) = π⁴/5.

    >>> import wengert as wg, wengert.numpy as wnp, numpy as np
    >>> bool(np.isclose(wg.grad(wg.grad(wnp.sinc))(0.0), -np.pi ** 2 / 3))
    True
    """
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return np.sinc(x)
    y = x * np.pi
    small = less(abs(y), 0.5)  # noqa: F821
    ys = where(small, y, 0.0)  # the series only where it is used (no overflow)
    u = ys * ys
    r = _SINC_TAYLOR[-1]
    for c in _SINC_TAYLOR[-2::-1]:
        r = u * r + c
    yl = where(small, 1.0, y)  # sin(y)/y only where |y| >= 0.5
    return where(small, r, sin(yl) / yl)  # noqa: F821


def angle(z, deg=False):
    """Argument of a complex number, ``arctan2(imag, real)``."""
    if not _isT(z, Tracer) and not _isT(z := lift(z), Tracer):
        return np.angle(z, deg)
    if np.issubdtype(dtype_of(z), np.complexfloating):
        r = arctan2(imag(z), real(z))  # noqa: F821
    else:
        dt = dtype_of(z) if dtype_of(z).kind == "f" else np.dtype(np.float64)  # np.angle keeps float32
        r = where(less(z, 0), dt.type(np.pi), dt.type(0.0)) + z * 0.0  # noqa: F821
    return rad2deg(r) if deg else r


def round(a, decimals=0):  # noqa: A001
    """Not differentiable (zero derivative).  With ``decimals`` it is NumPy's
    own arithmetic, ``rint(a * 10**d) / 10**d`` (``d < 0``: ``rint(a / 10**-d)
    * 10**-d``), so it runs under jit and vmap with the same bits."""
    if type(a) in SEQ:
        a = lift(a)
    if _isT(a, Tracer):
        rnd = P.NONDIFF["round"].bind
        if decimals == 0:
            return rnd(a)
        if dtype_of(a).kind not in "fc":
            return _nondiff(np.round, a, decimals)
        f = 10.0 ** builtins.abs(int(decimals))  # a Python float: keeps float32
        return rnd(a * f) / f if decimals > 0 else rnd(a / f) * f
    return np.round(a, decimals)


around = round


def _nondiff(fn, x, *args):
    """Apply a non-differentiable NumPy function to the concrete value of x."""
    return fn(_concrete(x, fn.__name__), *args)


def _concrete(x, fname):
    while _isT(x, Tracer):
        if hasattr(x, "primal"):
            x = x.primal
        elif hasattr(x, "concrete"):
            x = x.concrete()
        else:
            raise TypeError(f"wnp.{fname} needs a concrete value, but got a traced "
                            f"value ({x._describe()}) inside jit or vmap")
    return x


def fmax(x, y, /):
    """Maximum ignoring NaNs; ties split the derivative evenly."""
    if type(x) in SEQ:
        x = lift(x)
    if type(y) in SEQ:
        y = lift(y)
    if not (_isT(x, Tracer) or _isT(y, Tracer)):
        return np.fmax(x, y)
    m = maximum(x, y)  # noqa: F821
    return where(isnan(_value(y)), x, where(isnan(_value(x)), y, m))  # noqa: F821


def fmin(x, y, /):
    """Minimum ignoring NaNs; ties split the derivative evenly."""
    if type(x) in SEQ:
        x = lift(x)
    if type(y) in SEQ:
        y = lift(y)
    if not (_isT(x, Tracer) or _isT(y, Tracer)):
        return np.fmin(x, y)
    m = minimum(x, y)  # noqa: F821
    return where(isnan(_value(y)), x, where(isnan(_value(x)), y, m))  # noqa: F821


def _value(x):
    return x


def where(condition, x=None, y=None, /):
    """``numpy.where``: differentiable in ``x`` and ``y``, not in ``condition``.

    Reverse mode masks the cotangent: the branch not taken receives exactly
    zero.  But a NaN or inf *computed* in the branch not taken still poisons
    the gradient through its own rule (0 · inf = nan), exactly as in JAX and
    autograd: ``where(x > 0, sqrt(x), 0)`` at 0 has gradient nan. Make the
    untaken branch safe instead: ``sqrt(where(x > 0, x, 1))``.
    """
    if type(condition) in SEQ:
        condition = lift(condition)
    if type(x) in SEQ:
        x = lift(x)
    if type(y) in SEQ:
        y = lift(y)
    if x is None and y is None:
        return nonzero(condition)
    if not (_isT(condition, Tracer) or _isT(x, Tracer) or _isT(y, Tracer)):
        return np.where(condition, x, y)
    x = as_operand(x)
    y = as_operand(y)
    shapes = [shape_of(condition), shape_of(x), shape_of(y)]
    out = np.broadcast_shapes(*shapes)
    if _isT(x, Tracer):
        x = broadcast_traced(x, out)
    if _isT(y, Tracer):
        y = broadcast_traced(y, out)
    if _isT(condition, Tracer):
        condition = broadcast_traced(condition, out)
    if not _isT(x, Tracer) and not _isT(y, Tracer):
        return P.select_p.bind(condition, x, y)
    return P.select_p.bind(condition, x, y)


where_ = where  # for functions whose where= parameter shadows it


def clip(a, a_min=None, a_max=None, out=None, **kw):
    """``numpy.clip`` as ``minimum(maximum(a, a_min), a_max)``: at a bound the
    derivative is split ½/½ between ``a`` and the bound.  ``min=``/``max=``
    are NumPy 2's names of the bounds; NumPy's other ufunc keywords
    (``where=``, ``casting=``, ``dtype=``...) are passed to NumPy on concrete
    values and refused on traced ones."""
    if type(a) in SEQ:
        a = lift(a)
    if type(a_min) in SEQ:
        a_min = lift(a_min)
    if type(a_max) in SEQ:
        a_max = lift(a_max)
    if "min" in kw:
        a_min = kw.pop("min")
    if "max" in kw:
        a_max = kw.pop("max")
    if not any_tracer((a, a_min, a_max)):
        return np.clip(a, a_min, a_max, out=out, **kw)
    _traced_out("clip", out)
    if kw:
        raise TypeError(f"wnp.clip: the keyword argument(s) {', '.join(map(repr, kw))} are not supported on "
                        "traced values; leave them out (mask with wnp.where, cast with .astype)")
    from ._dtypes import as_numpy_dtype, cast_inputs, numpy_dtype
    dt = numpy_dtype(np.clip, a, a_min, a_max)  # NumPy's dtype (issue 10)
    (a,) = cast_inputs(dt, a)
    r = a
    if a_min is not None:
        r = maximum(r, a_min)  # noqa: F821
    if a_max is not None:
        r = minimum(r, a_max)  # noqa: F821
    return as_numpy_dtype(r, dt)


# ----------------------------------------------------------------------------
# dtype handling


def astype(x, dtype, copy=True):
    """``x.astype(dtype)``; differentiable between float/complex types."""
    dtype = np.dtype(dtype)
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return np.asarray(x).astype(dtype) if not isinstance(x, np.generic) else dtype.type(x)
    in_dtype = np.dtype(x.dtype)
    if in_dtype == dtype:
        return x
    if dtype.kind not in "fc":
        return _cast_nondiff(x, dtype)
    return P.convert_p.bind(x, dtype, in_dtype)


def _cast_nondiff(x, dtype):
    return P.stop_gradient_p.bind(P.convert_p.bind(x, dtype, np.dtype(x.dtype)))


# ----------------------------------------------------------------------------
# Reductions


def _keep(r, in_shape, axes):
    """``r`` (reduced over ``axes``) with the reduced axes kept as size 1."""
    return P.reshape(r, P.keepdims_shape(in_shape, axes), tuple(r.shape))


def _traced_out(name, out):
    """NumPy's ``out=`` on a traced value: refused (an array cannot hold a
    derivative); on concrete values the functions pass it to NumPy."""
    if out is not None and not (isinstance(out, tuple) and builtins.all(o is None for o in out)):
        raise TypeError(
            f"wnp.{name}(..., out=...) writes into an existing array in place, which a traced value "
            f"cannot be: its derivative would be lost. Use the functional form, `y = wnp.{name}(...)` "
            "(and `x.at[idx].set(y)` to place it into part of an array).")


_NoValue = np._NoValue


def _mask(where, a, name):
    """``where=`` broadcast to ``a``'s shape (a boolean mask; traced masks are
    read as their concrete value, as a mask carries no derivative)."""
    if _isT(where, Tracer):
        where = _concrete(where, name)
    m = np.asarray(where)
    if m.dtype != np.bool_:
        raise TypeError(f"wnp.{name}: where= must be a boolean mask, got dtype {m.dtype}; "
                        "pass e.g. where=(x > 0)")
    return np.broadcast_to(m, shape_of(a))


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NoValue, where=True):  # noqa: A001
    """Sum over ``axis``; its gradient broadcasts the cotangent back.

    ``where=`` (a boolean mask) sums ``where(mask, a, 0)`` and ``initial=`` is
    added to the result, as in NumPy, differentiably:

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> wg.grad(lambda x: wnp.sum(x, where=x > 1.0, initial=2.0))(np.array([0.5, 3.0]))
    array([0., 1.])
    """
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.sum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)
    if out is not None:
        _traced_out("sum", out)
    if where is not True:
        a = where_(_mask(where, a, "sum"), a, 0)
    if dtype is not None:
        a = astype(a, dtype)
    shape = tuple(a.shape)
    axes = norm_axes(axis, len(shape), "sum")
    if not axes:  # a 0-d sum: NumPy still promotes bool and small integers (issue 10)
        dt = np.dtype(dtype_of(a))
        r = astype(a, np.add.reduce(np.zeros(1, dt)).dtype) if dt.kind in "biu" else a
    else:
        r = P.reduce_sum(a, axes, shape)
        r = _keep(r, shape, axes) if keepdims else r
    if initial is not _NoValue:
        r = r + _initial(initial, r, "sum")
    return r


def _initial(initial, r, name):
    if _isT(initial, Tracer) or np.ndim(initial) != 0:
        if _isT(initial, Tracer) and tuple(initial.shape) == ():
            return initial
        raise TypeError(f"wnp.{name}: initial= must be a scalar (got {type(initial).__name__} of "
                        f"shape {shape_of(initial)}), as in NumPy")
    # NumPy casts initial to the result's dtype
    return np.asarray(initial).astype(dtype_of(r), copy=False)[()]


def _count(shape, axes):
    n = 1
    for i in axes:
        n *= shape[i]
    return n


def _masked_count(m, axis, keepdims, r):
    """The number of selected elements per result element, in a dtype that
    keeps the quotient's dtype NumPy's."""
    n = np.sum(m, axis=axis, keepdims=keepdims)
    dt = np.dtype(dtype_of(r))
    if dt.kind in "fc":
        n = n.astype(np.finfo(dt).dtype)
    return n


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    """Arithmetic mean, ``sum / n``; with ``where=`` the mean of the selected
    elements (``n`` counts them), as in NumPy."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.mean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, where=where)
    if out is not None:
        _traced_out("mean", out)
    shape = tuple(a.shape)
    if where is not True:
        m = _mask(where, a, "mean")
        s = sum(a, axis=axis, dtype=dtype, keepdims=keepdims, where=m)
        return divide(s, _masked_count(m, axis, keepdims, s))  # noqa: F821
    n = _count(shape, norm_axes(axis, len(shape), "mean"))
    return divide(sum(a, axis=axis, dtype=dtype, keepdims=keepdims), n)  # noqa: F821


_mean = mean


def _extreme(p, npf, name, combine):
    def f(a, axis=None, out=None, keepdims=False, initial=_NoValue, where=True):
        if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
            return npf(a, axis=axis, out=out, keepdims=keepdims, initial=initial, where=where)
        if out is not None:
            _traced_out(name, out)
        if where is not True:
            if initial is _NoValue:
                raise ValueError(f"wnp.{name}: reduction operation '{name}' does not have an identity, "
                                 "so to use a where mask one has to specify 'initial' (as in NumPy)")
            a = where_(_mask(where, a, name), a, _initial(initial, a, name))
        shape = tuple(a.shape)
        axes = norm_axes(axis, len(shape), name)
        if not axes:
            r = a
        else:
            r = p.bind(a, axes, shape)
            r = _keep(r, shape, axes) if keepdims else r
        if initial is not _NoValue:
            r = combine()(r, _initial(initial, r, name))
        return r

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"``numpy.{name}``; ties split the derivative evenly among the "
                 "tied elements (½ each for two), as autograd, JAX and PyTorch do. "
                 "``initial=`` and ``where=`` (which needs ``initial=``) as in NumPy.")
    return f


max = _extreme(P.reduce_max_p, np.max, "max", lambda: maximum)  # noqa: A001, F821
min = _extreme(P.reduce_min_p, np.min, "min", lambda: minimum)  # noqa: A001, F821
amax = max
amin = min


def _ddof(name, ddof, correction):
    if correction is _NoValue:
        return ddof
    if ddof != 0:
        raise ValueError(f"wnp.{name}: ddof and correction can't be provided simultaneously.")
    return correction


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NoValue,
        correction=_NoValue):
    """Variance with ``ddof``: ``sum(|x - mean|²) / (n - ddof)``.

    ``correction=`` is ``ddof``'s Array-API name; ``where=`` selects the
    elements (``n`` counts them); ``mean=`` gives the mean instead of
    computing it (it must have ``keepdims=True``'s shape), as in NumPy — all
    differentiable.  Of one element (or along an axis of length 1) it is
    constantly 0, and so are its derivatives of every order.
    """
    ddof = _ddof("var", ddof, correction)
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer) and not _isT(mean, Tracer):
        return np.var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean)
    if out is not None:
        _traced_out("var", out)
    if not _isT(mean, Tracer):
        return _exact_moment(np.var, _var_traced, a, axis, dtype, ddof, keepdims, where, mean)
    return _var_traced(a, axis, dtype, ddof, keepdims, where, mean)


def _exact_moment(npf, comp, a, axis, dtype, ddof, keepdims, where, mean):
    """NumPy's var/std for the value (jit equals eager bit for bit), the composition's derivatives."""
    a = as_operand(a)
    axis = tuple(axis) if type(axis) is list else axis
    ops = [a]
    if where is not True:
        ops.append(_mask(where, a, npf.__name__))
    if mean is not _NoValue:
        ops.append(np.asarray(mean))
    nw, nm = where is not True, mean is not _NoValue

    def npcall(a, *r):
        return npf(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, where=r[0] if nw else True,
                   mean=r[-1] if nm else _NoValue)

    def composite(a, *r):
        return comp(a, axis, dtype, ddof, keepdims, r[0] if nw else True, r[-1] if nm else _NoValue)

    npcall.__name__ = composite.__name__ = npf.__name__
    return _exact(npcall, composite, tuple(ops))


def _var_traced(a, axis, dtype, ddof, keepdims, where, mean):
    a = as_operand(a)
    if dtype is not None:
        a = astype(a, dtype)
    shape = tuple(a.shape)
    m = None if where is True else _mask(where, a, "var")
    if mean is _NoValue:
        mu = _mean(a, axis=axis, keepdims=True, where=True if m is None else m)
    else:
        mu = mean
    d = a - mu
    if m is not None:
        d = where_(m, d, 0)
    sq = real(d * conj(d)) if np.issubdtype(dtype_of(a), np.complexfloating) else d * d  # noqa: F821
    s = sum(sq, axis=axis, keepdims=keepdims)
    if m is None:
        n = _count(shape, norm_axes(axis, len(shape), "var"))
        return divide(s, n - ddof)  # noqa: F821
    return divide(s, _masked_count(m, axis, keepdims, s) - ddof)  # noqa: F821


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NoValue,
        correction=_NoValue):
    """Standard deviation, ``sqrt(var)`` (``correction=``, ``where=``, ``mean=`` as for var).

    Where the variance is 0 (one element, an axis of length 1, or all the
    reduced values equal) std is at its minimum, the tip of a cone: its
    derivative there is 0 in every mode and at every order, the subgradient
    that ``linalg.norm`` at 0 and ``abs`` at 0 also take (NumPy's arithmetic,
    and JAX, give 0/0 = nan).  Where the values are equal by construction
    (``std([x, x])``) the function is constant and 0 is its derivative.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> wg.grad(wnp.std)(np.array([3.0]))
    array([0.])
    >>> wg.grad(wnp.std)(np.array([2.0, 2.0]))
    array([0., 0.])
    """
    ddof = _ddof("std", ddof, correction)
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer) and not _isT(mean, Tracer):
        return np.std(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean)
    if out is not None:
        _traced_out("std", out)
    if not _isT(mean, Tracer):
        return _exact_moment(np.std, _std_traced, a, axis, dtype, ddof, keepdims, where, mean)
    return _std_traced(a, axis, dtype, ddof, keepdims, where, mean)


def _std_traced(a, axis, dtype, ddof, keepdims, where, mean):
    if dtype is not None:
        a = astype(a, dtype)
    return _safe_sqrt(_var_traced(a, axis, None, ddof, keepdims, where, mean))


def _safe_sqrt(v):
    """``sqrt(v)`` for ``v >= 0`` whose derivative at ``v = 0`` is 0 (not inf):
    for the minimum of a cone, std or a 2-norm, where 0 is the subgradient."""
    zero = equal(v, 0)  # noqa: F821
    return where(zero, 0.0, sqrt(where(zero, 1.0, v)))  # noqa: F821


def ptp(a, axis=None, keepdims=False):
    """``max - min``."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.ptp(a, axis=axis, keepdims=keepdims)
    return max(a, axis=axis, keepdims=keepdims) - min(a, axis=axis, keepdims=keepdims)


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """Weighted average; differentiable in ``a`` and ``weights``."""
    if type(a) in SEQ:
        a = lift(a)
    if type(weights) in SEQ:
        weights = lift(weights)
    if not any_tracer((a, weights)):
        return np.average(a, axis=axis, weights=weights, returned=returned, keepdims=keepdims)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        if returned:
            shape = shape_of(a)
            n = _count(shape, norm_axes(axis, len(shape), "average"))
            return avg, np.full(shape_of(avg), float(n))
        return avg
    a = as_operand(a)
    weights = as_operand(weights)
    if shape_of(weights) != shape_of(a):
        if axis is None or len(shape_of(weights)) != 1:
            raise TypeError("average: weights differ in shape from a; give axis= with 1-D weights")
        ax = norm_axis(axis, len(shape_of(a)), "average")
        wshape = [1] * len(shape_of(a))
        wshape[ax] = shape_of(weights)[0]
        weights = reshape(weights, wshape)
    wsum = sum(weights * ones_like(a) if _isT(weights, Tracer) else np.broadcast_to(weights, shape_of(a)),
               axis=axis, keepdims=keepdims)
    avg = sum(a * weights, axis=axis, keepdims=keepdims) / wsum
    return (avg, wsum) if returned else avg


def _move_axes_last(a, axes):
    nd = len(a.shape)
    rest = [i for i in range(nd) if i not in axes]
    perm = tuple(rest) + tuple(axes)
    if perm != tuple(range(nd)):
        a = P.transpose(a, perm)
    return a, [a.shape[i] for i in range(len(rest))]


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NoValue, where=True):
    """Product over ``axis``, as a balanced tree of multiplications: exact
    derivatives of every order, also where elements are zero.  ``where=``
    multiplies ``where(mask, a, 1)`` and ``initial=`` multiplies the result,
    as in NumPy."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.prod(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)
    if out is not None:
        _traced_out("prod", out)
    m = None if where is True else _mask(where, a, "prod")
    if _isT(initial, Tracer):
        return _prod_traced(a, axis, dtype, keepdims, initial, m)
    # NumPy's np.prod for the value (jit equals eager bit for bit), the product tree's derivatives
    kw = {} if initial is _NoValue else {"initial": initial}
    axis = tuple(axis) if type(axis) is list else axis
    return _exact(_np_prod, lambda a, *mm: _prod_traced(a, axis, dtype, keepdims, initial, mm[0] if mm else None),
                  (a,) if m is None else (a, m), axis=axis, dtype=dtype, keepdims=keepdims, **kw)


def _np_prod(a, where=True, **kw):
    return np.prod(a, where=where, **kw)


def _prod_traced(a, axis, dtype, keepdims, initial, m):
    if m is not None:
        a = where_(m, a, 1)
    r = _prod(a, axis, dtype, keepdims)
    if initial is not _NoValue:
        r = r * _initial(initial, r, "prod")
    return r


def _prod(a, axis, dtype, keepdims):
    if dtype is not None:
        a = astype(a, dtype)
    shape = tuple(a.shape)
    axes = norm_axes(axis, len(shape), "prod")
    if not axes:
        return a
    b, rest = _move_axes_last(a, axes)
    n = _count(shape, axes)
    y = reshape_t(b, tuple(rest) + (n,))
    while n > 1:
        if n % 2:
            one = np.ones(tuple(rest) + (1,), dtype=dtype_of(a))
            y = concatenate([y, one], axis=-1)
            n += 1
        y = y[..., 0::2] * y[..., 1::2]
        n //= 2
    r = reshape_t(y, tuple(rest))
    return _keep(r, shape, axes) if keepdims else r


def cumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum (linear; its transpose is a reversed cumulative sum)."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.cumsum(a, axis=axis, dtype=dtype)
    if dtype is not None:
        a = astype(a, dtype)
    if axis is None:
        a = ravel(a)
        axis = 0
    ax = norm_axis(axis, len(a.shape), "cumsum")
    return P.cumsum_p.bind(a, ax, False)


def cumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product by a log-depth prefix scan of multiplications:
    exact derivatives also where elements are zero."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.cumprod(a, axis=axis, dtype=dtype)
    # NumPy's np.cumprod for the value (jit equals eager bit for bit), the prefix scan's derivatives
    return _exact(np.cumprod, lambda a: _cumprod_traced(a, axis, dtype), (a,), axis=axis, dtype=dtype)


def _cumprod_traced(a, axis, dtype):
    if dtype is not None:
        a = astype(a, dtype)
    if axis is None:
        a = ravel(a)
        axis = 0
    ax = norm_axis(axis, len(a.shape), "cumprod")
    y = moveaxis(a, ax, -1)
    n = y.shape[-1]
    d = 1
    while d < n:
        ones_shape = tuple(y.shape[:-1]) + (d,)
        shifted = concatenate([np.ones(ones_shape, dtype=dtype_of(a)), y[..., : n - d]], axis=-1)
        y = y * shifted
        d *= 2
    return moveaxis(y, -1, ax)


cumulative_sum = cumsum
cumulative_prod = cumprod


# ----------------------------------------------------------------------------
# Shape manipulation


def _primal_array(x):
    """The concrete array under a traced value, if there is one (eager modes)."""
    while _isT(x, Tracer):
        p = getattr(x, "primal", None)
        x = p if p is not None else getattr(x, "_data", None)  # a Tensor holds its array
    return x if isinstance(x, np.ndarray) else None


def _layout_order(a, order, fname, allow_k):
    """'C' or 'F' for ``order`` of a traced ``a``.

    'A' is 'F' when the array is Fortran- but not C-contiguous, as in NumPy:
    for a traced value the layout of its concrete (primal) array decides, and
    under jit or vmap, where there is none, 'A' means 'C'.  'K' (ravel only)
    is handled by the caller."""
    if order is None or order == "C":
        return "C"
    if order == "F":
        return "F"
    if order == "A":
        p = _primal_array(a)
        return "F" if p is not None and p.flags.f_contiguous and not p.flags.c_contiguous else "C"
    if order == "K" and allow_k:
        return "K"
    allowed = "'C', 'F', 'A' or 'K'" if allow_k else "'C', 'F' or 'A'"
    raise ValueError(f"{fname}: order must be {allowed}, got {order!r}")


def _reversed_axes(a):
    nd = len(a.shape)
    return P.transpose(a, tuple(range(nd))[::-1]) if nd > 1 else a


def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """``numpy.reshape`` in 'C', 'F' or 'A' order.

    'F' reads and writes the elements with the first index fastest (the
    reshape of the reversed-axes array, axes reversed back).  'A' is 'F' for
    an array that is Fortran- but not C-contiguous, as in NumPy; for a traced
    value the layout of its concrete array decides, and under jit or vmap
    (no concrete array) 'A' means 'C'.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> x = np.arange(6.0).reshape(2, 3)
    >>> wg.jit(lambda x: wnp.reshape(x, (3, 2), order="F"))(x)
    array([[0., 4.],
           [3., 2.],
           [1., 5.]])
    """
    if shape is None:
        if newshape is None:
            raise TypeError("wnp.reshape() missing required argument 'shape'")
        shape = newshape
    elif newshape is not None:
        raise TypeError("wnp.reshape: give shape= or newshape= (its deprecated name), not both")
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.reshape(a, shape, order=order, copy=copy)
    # copy=: traced values are immutable, so a copy and a view are the same value
    order = _layout_order(a, order, "reshape", allow_k=False)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if -1 in shape:
        size = a.size
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != a.size:
        raise ValueError(f"reshape: cannot reshape array of size {a.size} into shape {shape}")
    if order == "F" and tuple(a.shape) != shape:
        return _reversed_axes(reshape_t(_reversed_axes(a), shape[::-1]))
    return reshape_t(a, shape)


def ravel(a, order="C"):
    """``numpy.ravel`` (also ``x.flatten()``) in 'C', 'F', 'A' or 'K' order.

    'A' as in :func:`reshape`; 'K' reads the elements in the memory order of
    the traced value's concrete array (NumPy's rule), and means 'C' under
    jit or vmap, where there is no concrete array.
    """
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.ravel(a, order=order)
    order = _layout_order(a, order, "ravel", allow_k=True)
    n = a.size
    if order == "K":
        p = _primal_array(a)
        if p is None or p.flags.c_contiguous:
            order = "C"
        elif p.flags.f_contiguous:
            order = "F"
        else:  # strided: NumPy's own memory order, on an index array laid out alike
            lay = np.empty_like(p, dtype=np.intp)
            lay[...] = np.arange(n).reshape(p.shape)
            perm = np.ravel(lay, order="K")
            flat = reshape_t(a, (n,))
            if np.array_equal(perm, np.arange(n)):
                return flat
            return P.getitem(flat, (perm,), (n,))
    if order == "F":
        return reshape_t(_reversed_axes(a), (n,))
    return reshape_t(a, (n,))


def transpose(a, axes=None):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.transpose(a, axes)
    nd = len(a.shape)
    if axes is None:
        axes = tuple(range(nd))[::-1]
    axes = tuple(int(x) % nd if nd else 0 for x in axes)
    if sorted(axes) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} don't match array of dimension {nd}")
    if axes == tuple(range(nd)):
        return a
    return P.transpose(a, axes)


def permute_dims(a, axes=None):
    return transpose(a, axes)


def swapaxes(a, axis1, axis2):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.swapaxes(a, axis1, axis2)
    nd = len(a.shape)
    i, j = norm_axis(axis1, nd, "swapaxes"), norm_axis(axis2, nd, "swapaxes")
    perm = list(range(nd))
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def moveaxis(a, source, destination):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.moveaxis(a, source, destination)
    nd = len(a.shape)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    src = [norm_axis(s, nd, "moveaxis") for s in src]
    dst = [norm_axis(d, nd, "moveaxis") for d in dst]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def expand_dims(a, axis):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.expand_dims(a, axis)
    shape = list(a.shape)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = len(shape) + len(axes)
    for ax in sorted(norm_axis(x, nd, "expand_dims") for x in axes):
        shape.insert(ax, 1)
    return reshape_t(a, tuple(shape))


def squeeze(a, axis=None):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.squeeze(a, axis)
    shape = tuple(a.shape)
    if axis is None:
        axes = [i for i, s in enumerate(shape) if s == 1]
    else:
        axes = norm_axes(axis, len(shape), "squeeze")
        for i in axes:
            if shape[i] != 1:
                raise ValueError("squeeze: cannot select an axis to squeeze out which has size not equal to one")
    return reshape_t(a, tuple(s for i, s in enumerate(shape) if i not in axes))


def broadcast_to(array, shape):
    if not _isT(array, Tracer) and not _isT(array := lift(array), Tracer):
        return np.broadcast_to(array, shape)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    np.broadcast_shapes(tuple(array.shape), shape)
    if np.broadcast_shapes(tuple(array.shape), shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(array.shape)} to {shape}")
    return broadcast_traced(array, shape)


def broadcast_arrays(*args):
    args = [lift(a) for a in args]
    shape = np.broadcast_shapes(*[shape_of(a) for a in args])
    return [broadcast_to(as_operand(a), shape) for a in args]


def atleast_1d(*arys):
    arys = tuple(lift(a) for a in arys)
    res = [reshape(a, (1,)) if len(shape_of(a)) == 0 else as_operand(a) for a in arys]
    return res[0] if len(res) == 1 else res


def atleast_2d(*arys):
    arys = tuple(lift(a) for a in arys)
    res = []
    for a in arys:
        s = shape_of(a)
        res.append(reshape(a, (1, 1)) if len(s) == 0 else reshape(a, (1,) + tuple(s)) if len(s) == 1 else as_operand(a))
    return res[0] if len(res) == 1 else res


def atleast_3d(*arys):
    arys = tuple(lift(a) for a in arys)
    res = []
    for a in arys:
        s = tuple(shape_of(a))
        if len(s) == 0:
            res.append(reshape(a, (1, 1, 1)))
        elif len(s) == 1:
            res.append(reshape(a, (1,) + s + (1,)))
        elif len(s) == 2:
            res.append(reshape(a, s + (1,)))
        else:
            res.append(as_operand(a))
    return res[0] if len(res) == 1 else res


def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    """Join arrays along an existing axis (``axis=None`` flattens first)."""
    arrays = [as_operand(a) for a in arrays]
    if not any_tracer(arrays):
        return np.concatenate(arrays, axis=axis, dtype=dtype, casting=casting)
    if dtype is not None:
        for a in arrays:
            if type(a) not in WEAK and not np.can_cast(dtype_of(a), dtype, casting):
                raise TypeError(f"wnp.concatenate: cannot cast array data from {np.dtype(dtype_of(a))} to "
                                f"{np.dtype(dtype)} according to the rule {casting!r}")
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    nd = len(shape_of(arrays[0]))
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    ax = norm_axis(axis, nd, "concatenate")
    dt = np.result_type(*[dtype_of(a) if type(a) not in WEAK else a for a in arrays])
    if dtype is not None:
        dt = np.dtype(dtype)
    arrays = [astype(a, dt) if dtype_of(a) != dt else a for a in arrays]
    sizes = tuple(int(shape_of(a)[ax]) for a in arrays)
    for a in arrays:
        s = shape_of(a)
        if len(s) != nd or builtins.any(s[i] != shape_of(arrays[0])[i] for i in range(nd) if i != ax):
            raise ValueError("concatenate: all the input array dimensions except for the "
                             f"concatenation axis must match, got {[shape_of(b) for b in arrays]}")
    return P.concatenate_p.bind(*arrays, ax, sizes)


concat = concatenate


def stack(arrays, axis=0, out=None, dtype=None):
    arrays = [as_operand(a) for a in arrays]
    if not any_tracer(arrays):
        return np.stack(arrays, axis=axis, dtype=dtype)
    shapes = {tuple(shape_of(a)) for a in arrays}
    if len(shapes) != 1:
        raise ValueError("stack: all input arrays must have the same shape")
    nd = len(shapes.pop()) + 1
    ax = norm_axis(axis, nd, "stack")
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax, dtype=dtype)


def hstack(tup, dtype=None):
    arrs = atleast_1d(*tup)
    if not isinstance(arrs, list):
        arrs = [arrs]
    return concatenate(arrs, axis=0 if len(shape_of(arrs[0])) == 1 else 1, dtype=dtype)


def vstack(tup, dtype=None):
    arrs = atleast_2d(*tup)
    if not isinstance(arrs, list):
        arrs = [arrs]
    return concatenate(arrs, axis=0, dtype=dtype)


row_stack = vstack


def dstack(tup):
    arrs = atleast_3d(*tup)
    if not isinstance(arrs, list):
        arrs = [arrs]
    return concatenate(arrs, axis=2)


def column_stack(tup):
    arrs = []
    for a in tup:
        s = shape_of(a)
        arrs.append(reshape(a, (s[0], 1)) if len(s) == 1 else reshape(a, (1, 1)) if len(s) == 0 else as_operand(a))
    return concatenate(arrs, axis=1)


def split(ary, indices_or_sections, axis=0):
    if not _isT(ary, Tracer) and not _isT(ary := lift(ary), Tracer):
        return np.split(ary, indices_or_sections, axis)
    n = shape_of(ary)[norm_axis(axis, len(ary.shape), "split")]
    if isinstance(indices_or_sections, (int, np.integer)) and n % int(indices_or_sections):
        raise ValueError("split: array split does not result in an equal division")
    return array_split(ary, indices_or_sections, axis)


def array_split(ary, indices_or_sections, axis=0):
    if not _isT(ary, Tracer) and not _isT(ary := lift(ary), Tracer):
        return np.array_split(ary, indices_or_sections, axis)
    ax = norm_axis(axis, len(ary.shape), "array_split")
    n = ary.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        each, extra = divmod(n, k)
        sizes = [each + 1] * extra + [each] * (k - extra)
        bounds = np.cumsum([0] + sizes).tolist()
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    pre = (slice(None),) * ax
    return [ary[pre + (slice(lo, builtins.max(lo, hi)),)] for lo, hi in zip(bounds[:-1], bounds[1:])]


def hsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=1 if len(shape_of(ary)) > 1 else 0)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=0)


def _gather_or_np(name):
    npf = getattr(np, name)

    def f(a, *args, **kwargs):
        if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
            return npf(a, *args, **kwargs)
        return index_gather(a, lambda pos: npf(pos, *args, **kwargs))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"``numpy.{name}``. Under a transformation it becomes one gather of "
                 "the elements (its transpose is a scatter-add).")
    return f


flip = _gather_or_np("flip")
fliplr = _gather_or_np("fliplr")
flipud = _gather_or_np("flipud")
roll = _gather_or_np("roll")
rot90 = _gather_or_np("rot90")
tile = _gather_or_np("tile")
repeat = _gather_or_np("repeat")
diagonal = _gather_or_np("diagonal")


def pad(array, pad_width, mode="constant", **kwargs):
    """``numpy.pad``; every mode differentiable in the array (constant mode
    with a traced ``constant_values`` too)."""
    if type(array) in SEQ:
        array = lift(array)
    if not _isT(array, Tracer) and not _isT(kwargs.get("constant_values"), Tracer):
        return np.pad(array, pad_width, mode=mode, **kwargs)
    array = as_operand(array)
    nd = len(shape_of(array))
    widths = tuple(tuple(int(v) for v in w) for w in np.broadcast_to(np.asarray(pad_width), (nd, 2)).tolist())
    # NumPy checks the keywords of the mode (a misspelt or foreign one raises, never ignored)
    np.pad(np.zeros(shape_of(array)), widths, mode=mode,
           **{k: (0 if _isT(v, Tracer) else v) for k, v in kwargs.items()})
    if kwargs.get("reflect_type", "even") == "odd" and mode in ("reflect", "symmetric"):
        # odd reflection: 2 * edge - (even reflection), for pads that reflect once
        n_min = builtins.min(shape_of(array)[i] for i in range(nd) if builtins.any(widths[i])) if nd else 0
        if builtins.max((builtins.max(w) for w in widths), default=0) > n_min - (mode == "reflect"):
            raise NotImplementedError(
                f"wnp.pad(mode={mode!r}, reflect_type='odd') with a pad wider than the array is not supported "
                "on traced values; pad in steps of at most the array's length")
        even = pad(array, widths, mode=mode)
        edge = pad(array, widths, mode="edge")
        return 2 * edge - even
    if mode == "constant":
        cv = kwargs.get("constant_values", 0)
        r = P.pad_p.bind(array, widths) if _isT(array, Tracer) else np.pad(array, widths)
        if isinstance(cv, (int, float)) and cv == 0:
            return r
        mask = np.pad(np.zeros(shape_of(array), bool), widths, constant_values=True)
        if np.ndim(cv) == 0:
            return where(mask, cv, r)
        return where(mask, np.pad(np.zeros(shape_of(array)), widths, mode="constant", constant_values=cv), r)
    if mode in ("maximum", "minimum", "mean", "median", "linear_ramp", "empty"):
        from ._extra import pad_values  # modes that compute values, not rearrangements
        return pad_values(array, widths, mode, kwargs)
    return index_gather(array, lambda pos: np.pad(pos, widths, mode=mode, **kwargs))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """Sum of the diagonal."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.trace(a, offset, axis1, axis2, dtype)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v, k=0):
    """Extract a diagonal (2-D input) or build a diagonal matrix (1-D input)."""
    if not _isT(v, Tracer) and not _isT(v := lift(v), Tracer):
        return np.diag(v, k)
    s = shape_of(v)
    if len(s) == 1:
        n = s[0] + builtins.abs(k)
        rows = np.arange(s[0]) + builtins.max(-k, 0)
        cols = np.arange(s[0]) + builtins.max(k, 0)
        return P.scatter_add(v, (rows, cols), (n, n))
    if len(s) == 2:
        return diagonal(v, k)
    raise ValueError("diag: input must be 1- or 2-d")


def triu(m, k=0):
    if not _isT(m, Tracer) and not _isT(m := lift(m), Tracer):
        return np.triu(m, k)
    s = shape_of(m)
    mask = np.triu(np.ones(s[-2:], bool), k)
    return where(mask, m, 0.0)


def tril(m, k=0):
    if not _isT(m, Tracer) and not _isT(m := lift(m), Tracer):
        return np.tril(m, k)
    s = shape_of(m)
    mask = np.tril(np.ones(s[-2:], bool), k)
    return where(mask, m, 0.0)


# ----------------------------------------------------------------------------
# Indexing


def _norm_index(idx, shape):
    """Index → tuple with concrete index arrays; boolean masks become integer arrays."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out = []
    for i in idx:
        if _isT(i, Tracer):
            i = _concrete(i, "indexing")
            if np.issubdtype(np.asarray(i).dtype, np.floating):
                raise IndexError("arrays used as indices must be of integer (or boolean) type")
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray) and i.dtype == bool:
            out.extend(np.nonzero(i))
            continue
        if isinstance(i, np.ndarray) and i.ndim == 0 and np.issubdtype(i.dtype, np.integer):
            i = int(i)
        out.append(i)
    return tuple(out)


def getitem(x, idx):
    """``x[idx]`` for basic, slice, Ellipsis, None, integer-array and boolean-mask
    indices; the gradient scatters back (repeated indices accumulate)."""
    if type(x) in SEQ:
        x = lift(x)
    shape = tuple(x.shape)
    try:
        idx = _norm_index(idx, shape)
    except TypeError as e:  # an index traced inside jit/vmap: one staged gather
        from ._gather import dynamic_getitem
        return dynamic_getitem(x, _traced_index(idx, e), "indexing")
    np.empty(shape, dtype=np.bool_)[idx]  # validate the index with NumPy's own message
    return P.getitem(x, idx, shape)


def _traced_index(idx, err):
    """The index tuple with lists made arrays and concrete tracers read; traced entries stay."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out = []
    for i in idx:
        if _isT(i, Tracer):
            try:
                i = _concrete(i, "indexing")
            except TypeError:
                pass
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray) and i.dtype == bool:
            out.extend(np.nonzero(i))
            continue
        if isinstance(i, np.ndarray) and i.ndim == 0 and np.issubdtype(i.dtype, np.integer):
            i = int(i)
        if not _isT(i, Tracer) and not isinstance(i, (int, np.integer, slice, np.ndarray)) and i is not None \
                and i is not Ellipsis:
            raise err
        out.append(i)
    return tuple(out)


def take(a, indices, axis=None, mode=None):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer) and not _isT(indices, Tracer):
        return np.take(a, indices, axis=axis, mode=mode)
    try:
        indices = np.asarray(_concrete(indices, "take"))
    except TypeError:  # indices traced inside vmap/jit: one staged gather
        return _take_traced(a, indices, axis, mode)
    return index_gather(a, lambda pos: np.take(pos, indices, axis=axis, mode=mode))


def _take_traced(a, indices, axis, mode):
    from ._gather import dynamic_getitem
    a = as_operand(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = norm_axis(axis, len(a.shape), "take")
    n = a.shape[ax]
    if mode == "clip":
        indices = clip(indices, 0, n - 1)  # noqa: F821
    elif mode == "wrap":
        indices = mod(indices, n)  # noqa: F821
    elif mode not in (None, "raise"):
        raise ValueError(f"wnp.take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return dynamic_getitem(a, (slice(None),) * ax + (indices,), "take")


def take_along_axis(arr, indices, axis):
    if type(arr) in SEQ:
        arr = lift(arr)
    try:
        indices = np.asarray(_concrete(indices, "take_along_axis"))
    except TypeError:  # indices traced inside vmap/jit (e.g. sort): one staged gather
        from ._gather import take_along_axis_gather
        return take_along_axis_gather(arr, indices, axis)
    if not _isT(arr, Tracer) and not _isT(arr := lift(arr), Tracer):
        return np.take_along_axis(arr, indices, axis)
    return index_gather(arr, lambda pos: np.take_along_axis(pos, indices, axis))


def select(condlist, choicelist, default=0):
    """``numpy.select`` as nested ``where`` (first true condition wins)."""
    condlist, choicelist, default = [lift(c) for c in condlist], [lift(c) for c in choicelist], lift(default)
    if not any_tracer(condlist + choicelist + [default]):
        return np.select(condlist, choicelist, default)
    r = default
    for c, v in reversed(list(zip(condlist, choicelist))):
        r = where(c, v, r)
    return r


def compress(condition, a, axis=None):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.compress(condition, a, axis)
    return index_gather(a, lambda pos: np.compress(condition, pos, axis))


def extract(condition, arr):
    return ravel(arr)[np.nonzero(np.ravel(_concrete(condition, "extract")))[0]]


# ----------------------------------------------------------------------------
# Sorting


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """Sorted copy; the gradient follows the sorting permutation."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.sort(a, axis=axis, kind=kind, order=order, stable=stable)
    if stable:
        kind = "stable"
    if axis is None:
        a = ravel(a)
        axis = -1
    perm = argsort(a, axis=axis, kind=kind)
    return take_along_axis(a, perm, axis)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """``numpy.partition`` (``kth`` an int or a sequence); the gradient follows
    NumPy's own permutation (``argpartition`` of the value), also under vmap.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> x = np.array([3.0, 1.0, 4.0, 1.5, 5.0])
    >>> wg.grad(lambda x: wnp.partition(x, [1, 3])[3])(x)
    array([0., 0., 1., 0., 0.])
    """
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.partition(a, kth, axis=axis)
    if axis is None:
        a = ravel(a)
        axis = -1
    ax = norm_axis(axis, len(a.shape), "partition")
    from ._extra import argpartition
    return take_along_axis(a, argpartition(a, kth, axis=ax), ax)


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.argsort(a, axis=axis, kind=kind, order=order, stable=stable)
    if stable:
        kind = "stable"
    k = () if kind is None else (kind,)
    if axis is None:
        return P.argsort_p.bind(ravel(a), 0, *k)
    return P.argsort_p.bind(a, norm_axis(axis, len(a.shape), "argsort"), *k)


def argmax(a, axis=None, out=None, keepdims=False):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.argmax(a, axis=axis, keepdims=keepdims)
    r = P.argmax_p.bind(a, axis)
    return np.expand_dims(r, axis) if keepdims and axis is not None else r


def argmin(a, axis=None, out=None, keepdims=False):
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return np.argmin(a, axis=axis, keepdims=keepdims)
    r = P.argmin_p.bind(a, axis)
    return np.expand_dims(r, axis) if keepdims and axis is not None else r


def nonzero(a):
    return np.nonzero(_concrete(a, "nonzero"))


def argwhere(a):
    return np.argwhere(_concrete(a, "argwhere"))


def flatnonzero(a):
    return np.flatnonzero(_concrete(a, "flatnonzero"))


def count_nonzero(a, axis=None, keepdims=False):
    return np.count_nonzero(_concrete(a, "count_nonzero"), axis=axis, keepdims=keepdims)


def searchsorted(a, v, side="left", sorter=None):
    return np.searchsorted(_concrete(a, "searchsorted"), _concrete(v, "searchsorted"), side, sorter)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np.allclose(_concrete(a, "allclose"), _concrete(b, "allclose"), rtol, atol, equal_nan)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np.isclose(_concrete(a, "isclose"), _concrete(b, "isclose"), rtol, atol, equal_nan)


def array_equal(a1, a2, equal_nan=False):
    return np.array_equal(_concrete(a1, "array_equal"), _concrete(a2, "array_equal"), equal_nan)


def any(a, axis=None, keepdims=False):  # noqa: A001
    return np.any(_concrete(a, "any"), axis=axis, keepdims=keepdims)


def all(a, axis=None, keepdims=False):  # noqa: A001
    return np.all(_concrete(a, "all"), axis=axis, keepdims=keepdims)


# ----------------------------------------------------------------------------
# Linear algebra


def matmul(x1, x2, /):
    """``x1 @ x2`` with NumPy's rules for 1-D operands and batch broadcasting."""
    if type(x1) in SEQ:
        x1 = lift(x1)
    if type(x2) in SEQ:
        x2 = lift(x2)
    if not (_isT(x1, Tracer) or _isT(x2, Tracer)):
        return np.matmul(x1, x2)
    x1 = as_operand(x1)
    x2 = as_operand(x2)
    s1, s2 = tuple(shape_of(x1)), tuple(shape_of(x2))
    if not s1 or not s2:
        raise ValueError("matmul: input operand does not have enough dimensions (0-d)")
    if len(s1) <= 2 and len(s2) <= 2:
        # matrix and vector cases the primitive takes directly (no reshapes on the tape)
        if s1[-1] != s2[0]:
            raise ValueError(f"matmul: mismatch in core dimension: {s1} @ {s2} ({s1[-1]} != {s2[0]})")
        return P.matmul(x1, x2)
    v1, v2 = len(s1) == 1, len(s2) == 1
    if v1:
        x1 = reshape(x1, (1,) + s1)
        s1 = (1,) + s1
    if v2:
        x2 = reshape(x2, s2 + (1,))
        s2 = s2 + (1,)
    if s1[-1] != s2[-2]:
        raise ValueError(f"matmul: mismatch in core dimension: {s1} @ {s2} "
                         f"({s1[-1]} != {s2[-2]})")
    batch = np.broadcast_shapes(s1[:-2], s2[:-2])
    t1, t2 = batch + s1[-2:], batch + s2[-2:]
    if s1 != t1:
        x1 = broadcast_to(x1, t1)
    if s2 != t2:
        x2 = broadcast_to(x2, t2)
    r = P.matmul(x1, x2)
    if v1 or v2:
        out = batch + ((s1[-2],) if not v1 else ()) + ((s2[-1],) if not v2 else ())
        r = reshape(r, out)
    return r


def dot(a, b, out=None):
    """``numpy.dot``: scalars multiply, 2-D is matmul, N-D sums over the last
    axis of ``a`` and the second-to-last of ``b``."""
    if type(a) in SEQ:
        a = lift(a)
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return np.dot(a, b)
    # np.dot makes Python scalars arrays (float64), unlike a ufunc (issue 10)
    a, b = (np.asarray(v) if type(v) in WEAK else as_operand(v) for v in (a, b))
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)  # noqa: F821
    if len(sb) <= 2 and len(sa) <= 2:
        return matmul(a, b)
    # NumPy's np.dot for the value (its N-D loop is not matmul's or tensordot's in the last bit)
    if len(sb) <= 2:
        return _exact(np.dot, matmul, (a, b))
    return _exact(np.dot, lambda a, b: tensordot(a, b, axes=([len(sa) - 1], [len(sb) - 2])), (a, b))


def vdot(a, b, /):
    """``sum(conj(a) * b)`` over the flattened inputs."""
    if type(a) in SEQ:
        a = lift(a)
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return np.vdot(a, b)
    a, b = ravel(as_operand(a)), ravel(as_operand(b))
    if np.issubdtype(dtype_of(a), np.complexfloating):
        a = conj(a)  # noqa: F821
    return matmul(a, b)


def inner(a, b, /):
    if type(a) in SEQ:
        a = lift(a)
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return np.inner(a, b)
    a, b = (np.asarray(v) if type(v) in WEAK else as_operand(v) for v in (a, b))  # as np.inner (issue 10)
    if len(shape_of(a)) == 0 or len(shape_of(b)) == 0:
        return multiply(a, b)  # noqa: F821
    return tensordot(a, b, axes=([-1], [-1]))


def outer(a, b, out=None):
    if type(a) in SEQ:
        a = lift(a)
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return np.outer(a, b)
    a, b = ravel(as_operand(a)), ravel(as_operand(b))
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))  # noqa: F821


def tensordot(a, b, axes=2):
    """``numpy.tensordot`` by transposes, reshapes and one matmul (BLAS)."""
    if type(a) in SEQ:
        a = lift(a)
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return np.tensordot(a, b, axes)
    a, b = as_operand(a), as_operand(b)
    sa, sb = tuple(shape_of(a)), tuple(shape_of(b))
    if isinstance(axes, (int, np.integer)):
        axes = (list(range(len(sa) - int(axes), len(sa))), list(range(int(axes))))
    ax_a, ax_b = axes
    ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
    ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a = [int(i) % len(sa) for i in ax_a]
    ax_b = [int(i) % len(sb) for i in ax_b]
    if [sa[i] for i in ax_a] != [sb[i] for i in ax_b]:
        raise ValueError("tensordot: shape-mismatch for sum")
    free_a = [i for i in range(len(sa)) if i not in ax_a]
    free_b = [i for i in range(len(sb)) if i not in ax_b]
    k = math.prod(sa[i] for i in ax_a)
    A = reshape(transpose(a, free_a + ax_a), (math.prod(sa[i] for i in free_a), k))
    B = reshape(transpose(b, ax_b + free_b), (k, math.prod(sb[i] for i in free_b)))
    return reshape(matmul(A, B), tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


def kron(a, b):
    if type(a) in SEQ:
        a = lift(a)
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return np.kron(a, b)
    a, b = as_operand(a), as_operand(b)
    sa, sb = tuple(shape_of(a)), tuple(shape_of(b))
    nd = builtins.max(len(sa), len(sb))
    sa = (1,) * (nd - len(sa)) + sa
    sb = (1,) * (nd - len(sb)) + sb
    a = reshape(a, sum_shapes_interleave(sa, None))
    b = reshape(b, sum_shapes_interleave(None, sb))
    return reshape(a * b, tuple(x * y for x, y in zip(sa, sb)))


def sum_shapes_interleave(sa, sb):
    if sb is None:
        return tuple(v for s in sa for v in (s, 1))
    return tuple(v for s in sb for v in (1, s))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors, giving the z component)."""
    if type(a) in SEQ:
        a = lift(a)
    if type(b) in SEQ:
        b = lift(b)
    if not (_isT(a, Tracer) or _isT(b, Tracer)):
        return np.cross(a, b, axisa, axisb, axisc, axis)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(as_operand(a), axisa, -1)
    b = moveaxis(as_operand(b), axisb, -1)
    if shape_of(a)[-1] == 2 and shape_of(b)[-1] == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    if shape_of(a)[-1] == 2:
        a = concatenate([a, zeros_like(a[..., :1])], axis=-1)
    if shape_of(b)[-1] == 2:
        b = concatenate([b, zeros_like(b[..., :1])], axis=-1)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


def einsum(subscripts, *operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    """``numpy.einsum`` in every form NumPy accepts: explicit (``'ij,jk->ik'``)
    or implicit output (``'ij,jk'``), ``'...'`` broadcasting, repeated indices
    (``'ii->i'``, ``'ii'``), indices summed in one operand only, size-1 axes
    broadcast against other operands, any number of operands, and the
    interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    Under a transformation the expression is split into pairwise
    contractions, each a primitive whose transpose is again an einsum.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> wg.grad(lambda x: wnp.sum(wnp.einsum('ij->j', x) ** 2))(np.ones((2, 3)))
    array([[4., 4., 4.],
           [4., 4., 4.]])
    """
    if not isinstance(subscripts, str):
        from ._einsum import interleaved_to_str
        subscripts, operands = interleaved_to_str((subscripts,) + operands)
    operands = [lift(o) for o in operands]
    if not any_tracer(operands):
        return np.einsum(subscripts, *operands, out=out, optimize=optimize, dtype=dtype, order=order,
                         casting=casting)
    _traced_out("einsum", out)
    if dtype is not None:
        for o in operands:
            if type(o) not in WEAK and not np.can_cast(dtype_of(o), dtype, casting):
                raise TypeError(f"wnp.einsum: cannot cast array data from {np.dtype(dtype_of(o))} to "
                                f"{np.dtype(dtype)} according to the rule {casting!r} (pass casting=)")
    ops = [as_operand(o) for o in operands]

    def np_einsum(*ops):
        return np.einsum(subscripts, *ops, optimize=optimize, dtype=dtype, order=order, casting=casting)

    # NumPy's np.einsum for the value (jit equals eager bit for bit), the contractions' derivatives
    try:
        return _exact(np_einsum, lambda *ops: _einsum_traced(subscripts, list(ops), dtype), tuple(ops))
    except ValueError:
        _einsum_traced(subscripts, ops, dtype)  # wnp's own message for a bad subscript string
        raise


def _einsum_traced(subscripts, ops, dtype):
    from ._einsum import traced_einsum
    if dtype is not None:
        ops = [astype(o, dtype) if _isT(o, Tracer) else np.asarray(o, dtype=dtype) for o in ops]
    else:
        dt = np.result_type(*[dtype_of(o) for o in ops])
        ops = [astype(o, dt) if _isT(o, Tracer) and dtype_of(o) != dt else o for o in ops]
    return traced_einsum(subscripts, ops)


# ----------------------------------------------------------------------------
# Constructors


def array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, ndmax=0, like=None):  # noqa: A002
    """``numpy.array``; lists holding traced values become a traced stack.

    ``order=``/``subok=``/``copy=`` only concern memory (traced values are
    immutable); ``ndmax=`` and ``like=`` are NumPy's on concrete values and
    refused with traced ones."""
    traced = _isT(object, Tracer) or (isinstance(object, (list, tuple)) and any_tracer(_leaves(object)))
    if traced and (ndmax or like is not None):
        raise TypeError("wnp.array: ndmax= and like= are not supported with traced values; leave them out")
    if _isT(object, Tracer):
        r = object if dtype is None else astype(object, dtype)
    elif isinstance(object, (list, tuple)) and any_tracer(_leaves(object)):
        items = [array(o) if isinstance(o, (list, tuple)) else as_operand(o) for o in object]
        dt = dtype
        if dt is None:
            dts = [dtype_of(i) for i in items if type(i) not in WEAK]
            dt = np.result_type(*dts, *[i for i in items if type(i) in WEAK]) if dts else None
        items = [i if _isT(i, Tracer) else np.asarray(i, dtype=dt) for i in items]
        items = [astype(i, dt) if dt is not None and _isT(i, Tracer) and dtype_of(i) != np.dtype(dt) else i
                 for i in items]
        r = stack(items)
    else:
        kw = {"ndmax": ndmax} if ndmax else {}
        return np.array(object, dtype=dtype, copy=copy, order=order, subok=subok, ndmin=ndmin, like=like, **kw)
    while ndmin and len(r.shape) < ndmin:
        r = expand_dims(r, 0)
    return r


def _leaves(x):
    out = []
    stack_ = [x]
    while stack_:
        y = stack_.pop()
        if isinstance(y, (list, tuple)):
            stack_.extend(y)
        else:
            out.append(y)
    return out


def asarray(a, dtype=None, order=None, *, device=None, copy=None, like=None):
    """``numpy.asarray``; lists holding traced values become a traced stack."""
    if _isT(a, Tracer) or (isinstance(a, (list, tuple)) and any_tracer(_leaves(a))):
        _device(device, "asarray")
        if like is not None:
            raise TypeError("wnp.asarray: like= is not supported with traced values; leave it out")
        return array(a, dtype=dtype)
    return np.asarray(a, dtype=dtype, order=order, device=device, copy=copy, like=like)


def _device(device, name):
    if device not in (None, "cpu"):
        raise ValueError(f"wnp.{name}: device= must be 'cpu' or None, got {device!r}")


def asanyarray(a, dtype=None, order=None, *, device=None, copy=None, like=None):
    """``numpy.asanyarray``; as ``asarray`` for traced values."""
    if _isT(a, Tracer) or (isinstance(a, (list, tuple)) and any_tracer(_leaves(a))):
        return asarray(a, dtype=dtype, device=device, like=like)
    return np.asanyarray(a, dtype=dtype, order=order, device=device, copy=copy, like=like)


def ascontiguousarray(a, dtype=None, *, like=None):
    """``numpy.ascontiguousarray``; as ``asarray`` for traced values."""
    if _isT(a, Tracer) or (isinstance(a, (list, tuple)) and any_tracer(_leaves(a))):
        return asarray(a, dtype=dtype, like=like)
    return np.ascontiguousarray(a, dtype=dtype, like=like)


def copy(a, order="K", subok=False):
    if type(a) in SEQ:
        a = lift(a)
    return a if _isT(a, Tracer) else np.copy(a, order=order, subok=subok)


def _like(name, np_like, np_new, a, dtype, order, subok, shape, device):
    """The ``*_like`` constructors: NumPy's own on arrays; on a traced ``a``
    a constant of its shape and dtype (no derivative flows through it)."""
    if type(a) in SEQ:
        a = lift(a)
    if not _isT(a, Tracer):
        return np_like(a, dtype=dtype, order=order, subok=subok, shape=shape, device=device)
    _device(device, name)
    return np_new(shape_of(a) if shape is None else shape, dtype=dtype_of(a) if dtype is None else dtype,
                  order="F" if order == "F" else "C")


def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``numpy.zeros_like``: a constant array (no derivative flows through it)."""
    return _like("zeros_like", np.zeros_like, np.zeros, a, dtype, order, subok, shape, device)


def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``numpy.ones_like``: a constant array (no derivative flows through it)."""
    return _like("ones_like", np.ones_like, np.ones, a, dtype, order, subok, shape, device)


def empty_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``numpy.empty_like``: a constant array (no derivative flows through it)."""
    return _like("empty_like", np.empty_like, np.empty, a, dtype, order, subok, shape, device)


def full(shape, fill_value, dtype=None, order="C"):
    """``numpy.full``; differentiable in a traced ``fill_value``."""
    if not _isT(fill_value, Tracer) and not _isT(fill_value := lift(fill_value), Tracer):
        try:
            return np.full(shape, fill_value, dtype=dtype, order=order)
        except TypeError:
            from ._dispatch import check_static_shape
            check_static_shape("wnp.full", (shape,), {})  # a traced shape: name static_argnums
            raise
    if _isT(shape, Tracer) or (isinstance(shape, (tuple, list)) and any_tracer(shape)):
        from ._dispatch import check_static_shape
        check_static_shape("wnp.full", (shape,), {})
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    v = fill_value if dtype is None else astype(fill_value, dtype)
    return broadcast_to(v, shape) + np.zeros(shape, dtype=dtype_of(v))


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``numpy.full_like``; differentiable in a traced ``fill_value``."""
    if type(a) in SEQ:
        a = lift(a)
    if type(fill_value) in SEQ:
        fill_value = lift(fill_value)
    if not _isT(a, Tracer) and not _isT(fill_value, Tracer):
        return np.full_like(a, fill_value, dtype=dtype, order=order, subok=subok, shape=shape, device=device)
    _device(device, "full_like")
    return full(shape_of(a) if shape is None else shape, fill_value, dtype=dtype_of(a) if dtype is None else dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``numpy.linspace``; differentiable in ``start`` and ``stop``."""
    if type(start) in SEQ:
        start = lift(start)
    if type(stop) in SEQ:
        stop = lift(stop)
    if not (_isT(start, Tracer) or _isT(stop, Tracer)):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    div = (num - 1) if endpoint else num
    start, stop = as_operand(start), as_operand(stop)
    dt = np.result_type(*[dtype_of(v) for v in (start, stop) if type(v) not in WEAK] or [np.float64])
    if dt.kind not in "fc":
        dt = np.dtype(np.float64)
    start, stop = (astype(v, dt) if _isT(v, Tracer) and dtype_of(v).kind not in "fc" else v
                   for v in (start, stop))
    steps = (np.arange(num, dtype=float) / (div if div > 0 else 1)).astype(dt)
    sh = tuple(np.broadcast_shapes(shape_of(start), shape_of(stop)))
    steps = steps.reshape((num,) + (1,) * len(sh))
    delta = subtract(stop, start)  # noqa: F821
    r = add(start, steps * delta)  # noqa: F821
    if endpoint and num > 1:
        r = concatenate([r[:-1], expand_dims(broadcast_to(stop, sh), 0)], axis=0)
    if axis != 0:
        r = moveaxis(r, 0, axis)
    if dtype is not None:
        r = astype(r, dtype)
    elif dtype_of(r) != dt:  # a weak Python scalar end point promotes no further (issue 10)
        r = astype(r, dt)
    return (r, delta / div) if retstep else r


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    if type(start) in SEQ:
        start = lift(start)
    if type(stop) in SEQ:
        stop = lift(stop)
    if not any_tracer((start, stop, base)):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    y = linspace(start, stop, num, endpoint, axis=axis)
    r = power(base, y)  # noqa: F821
    if dtype is None and type(base) in WEAK:  # NumPy's dtype (issue 10)
        dtype = dtype_of(y)
    return astype(r, dtype) if dtype is not None else r


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    if type(start) in SEQ:
        start = lift(start)
    if type(stop) in SEQ:
        stop = lift(stop)
    if not any_tracer((start, stop)):
        return np.geomspace(start, stop, num, endpoint, dtype, axis)
    if not _in_composite():  # NumPy's value bit for bit (jit equals eager), the composition's derivatives
        return _exact_call(np.geomspace, geomspace, (start, stop, num, endpoint, dtype, axis), {})
    return exp(linspace(log(start), log(stop), num, endpoint, axis=axis))  # noqa: F821


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``numpy.meshgrid``; differentiable in every input vector."""
    xi = tuple(lift(a) for a in xi)
    if not any_tracer(xi):
        return np.meshgrid(*xi, copy=copy, sparse=sparse, indexing=indexing)
    nd = len(xi)
    xi = [ravel(as_operand(x)) for x in xi]
    out = []
    for i, x in enumerate(xi):
        shape = [1] * nd
        shape[i] = shape_of(x)[0]
        if indexing == "xy" and nd > 1 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        out.append(reshape(x, shape))
    if not sparse:
        full_shape = np.broadcast_shapes(*[shape_of(o) for o in out])
        out = [broadcast_to(o, full_shape) for o in out]
    return out


def _passthrough_constructor(name):
    npf = getattr(np, name)

    def f(*args, **kwargs):
        try:
            return npf(*args, **kwargs)
        except TypeError:
            from ._dispatch import check_static_shape
            check_static_shape(f"wnp.{name}", args, kwargs)  # a traced shape: name static_argnums
            raise

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``numpy.{name}`` (a constant: no derivative flows through it)."
    return f


zeros = _passthrough_constructor("zeros")
ones = _passthrough_constructor("ones")
empty = _passthrough_constructor("empty")
eye = _passthrough_constructor("eye")
identity = _passthrough_constructor("identity")
arange = _passthrough_constructor("arange")
tri = _passthrough_constructor("tri")
indices = _passthrough_constructor("indices")


# ----------------------------------------------------------------------------
# Queries


def shape(a):
    return tuple(shape_of(a))


def ndim(a):
    return len(shape_of(a))


def size(a, axis=None):
    s = shape_of(a)
    return math.prod(s) if axis is None else s[axis]


def result_type(*arrays_and_dtypes):
    return np.result_type(*[dtype_of(a) if _isT(a, Tracer) else a for a in arrays_and_dtypes])


def iscomplexobj(x):
    return np.issubdtype(dtype_of(x), np.complexfloating)


def isrealobj(x):
    return not iscomplexobj(x)


def isscalar(x):
    return (not _isT(x, Tracer)) and np.isscalar(x)


def stop_gradient(x):
    """Identity whose derivative is zero (also available as ``wg.stop_gradient``)."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return x
    return P.stop_gradient_p.bind(x)


# ----------------------------------------------------------------------------
# NumPy's ``out=`` for the functions that do not pass it on themselves


def with_out(f, name=None):
    """``f`` honouring NumPy's ``out=``: on concrete values the result is
    written into ``out`` (NumPy's ``same_kind`` casting) and ``out`` returned;
    on a traced value ``out=`` raises (an array cannot hold a derivative).
    Never accepted and ignored."""
    import functools
    import inspect

    name = name or f.__name__
    params = list(inspect.signature(f).parameters.values())
    pos = next((i for i, p in enumerate(params) if p.name == "out" and p.kind == p.POSITIONAL_OR_KEYWORD), None)

    @functools.wraps(f)
    def g(*args, **kwargs):
        if pos is not None and len(args) > pos:
            out = args[pos]
            args = args[:pos] + (None,) + args[pos + 1:]
        else:
            out = kwargs.pop("out", None)
        if out is None:
            return f(*args, **kwargs)
        r = f(*args, **kwargs)
        if _isT(r, Tracer) or _isT(out, Tracer):
            _traced_out(name, out)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"wnp.{name}: out= must be a NumPy array, got {type(out).__name__}")
        if np.shape(r) != out.shape:
            raise ValueError(f"wnp.{name}: out= has shape {out.shape}, the result has shape {np.shape(r)}")
        np.copyto(out, r, casting="same_kind")
        return out

    g._wengert_with_out = True
    return g


cumsum = with_out(cumsum)
cumprod = with_out(cumprod)
cumulative_sum = with_out(cumulative_sum, "cumulative_sum")
cumulative_prod = with_out(cumulative_prod, "cumulative_prod")
stack = with_out(stack)
concatenate = with_out(concatenate)
concat = concatenate
trace = with_out(trace)
argmax = with_out(argmax)
argmin = with_out(argmin)
dot = with_out(dot)
outer = with_out(outer)
