"""The primitive tables: one row per primitive, with its NumPy implementation,
its JVP rule, its transpose (linear primitives only) and what the tests need.

Primitives are strict: array arguments of one shape (or weak Python scalars)
and explicit axes.  NumPy's conventions (broadcasting, ``axis=``,
``keepdims=``) live in :mod:`wengert.numpy`, which binds these.

Rules are written with the primitives' ``bind`` functions and operators, so
they can be differentiated again: the argument order is tangent, output,
inputs, parameters.
"""

from __future__ import annotations

import cmath
import math
import operator

import numpy as np

from ._core import _P, Primitive, Tracer

REGISTRY: dict[str, Primitive] = {}


def defprim(name, impl, nin=1, **kw) -> Primitive:
    """Declare a primitive; every entry of the registry is swept by the tests."""
    test = kw.pop("test", None)
    p = Primitive(name, impl, nin, **kw)
    p.extra.update(test or {})
    REGISTRY[name] = p
    return p


def set_sparsity(p, rule) -> Primitive:
    """Store a sparsity rule on a primitive's row (see wengert.sparse.rules)."""
    if isinstance(p, str):
        p = REGISTRY[p]
    p.sparsity = rule
    return p


def _lin1(p):
    """JVP of a primitive linear in its single array argument."""
    bind = p.bind
    p.jvps = (lambda t, ans, x, *params: bind(t, *params),)
    p.lin1 = True
    return p


# ----------------------------------------------------------------------------
# Linear elementwise arithmetic


def _mul_T(ct, x, y):
    return (ct * y, None) if x is None else (None, x * ct)


neg_p = defprim("neg", operator.neg, 1, linear=True,
                transpose=lambda ct, x: (-ct,))
_lin1(neg_p)
add_p = defprim("add", operator.add, 2, linear=True,
                jvps=(lambda t, ans, x, y: t, lambda t, ans, x, y: t),
                transpose=lambda ct, x, y: (ct, ct))
def _sub_jvp(primals, tangents, ans, params):
    xt, yt = tangents
    if yt is None:
        return xt
    return -yt if xt is None else xt - yt  # one equation on a tape, not neg + add


sub_p = defprim("sub", operator.sub, 2, linear=True,
                jvps=(lambda t, ans, x, y: t, lambda t, ans, x, y: -t), jvp_full=_sub_jvp,
                transpose=lambda ct, x, y: (ct, -ct))
mul_p = defprim("mul", operator.mul, 2,
                jvps=(lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t),
                transpose=_mul_T)
div_p = defprim("div", operator.truediv, 2,
                jvps=(lambda t, ans, x, y: t / y,
                      lambda t, ans, x, y: t * (-ans / y)),
                transpose=lambda ct, x, y: (ct / y, None),
                test={"domain": (0.5, 2.0)})
_P.mul, _P.div, _P.neg, _P.add, _P.sub = mul_p, div_p, neg_p, add_p, sub_p

neg = neg_p.bind
add = add_p.bind
sub = sub_p.bind
mul = mul_p.bind
div = div_p.bind

conj_p = defprim("conj", np.conjugate, 1, linear=True,
                 transpose=lambda ct, x: (conj_p.bind(ct),))
_lin1(conj_p)
# A real-valued node's cotangent is real: a complex one can only come from a
# real tangent that met a complex coefficient, and its real part is the true
# cotangent (JAX's convention, Re(ct * t) pairing).  Hence the `_re`.
real_p = defprim("real", np.real, 1, linear=True,
                 transpose=lambda ct, x: (_re(ct),))
_lin1(real_p)
imag_p = defprim("imag", np.imag, 1, linear=True,
                 transpose=lambda ct, x: (_re(ct) * -1j,))


def _re(ct):
    return real_p.bind(ct) if iscomplex(ct) else ct
_lin1(imag_p)


# ----------------------------------------------------------------------------
# Nonlinear elementwise functions (one row each)


def _u(name, impl, rule, domain=(-2.0, 2.0), **test):
    test["domain"] = domain
    p = defprim(name, impl, 1, jvps=(rule,), test=test)
    return p


sin_p = _u("sin", np.sin, lambda t, ans, x: t * cos(x))
cos_p = _u("cos", np.cos, lambda t, ans, x: t * -sin(x))
sin = sin_p.bind
cos = cos_p.bind
tan_p = _u("tan", np.tan, lambda t, ans, x: t * (1 + ans * ans), (-1.2, 1.2))
arcsin_p = _u("arcsin", np.arcsin, lambda t, ans, x: t / sqrt(1 - x * x), (-0.9, 0.9))
arccos_p = _u("arccos", np.arccos, lambda t, ans, x: t / -sqrt(1 - x * x), (-0.9, 0.9))
arctan_p = _u("arctan", np.arctan, lambda t, ans, x: t / (1 + x * x))
sinh_p = _u("sinh", np.sinh, lambda t, ans, x: t * cosh(x))
cosh_p = _u("cosh", np.cosh, lambda t, ans, x: t * sinh(x))
sinh = sinh_p.bind
cosh = cosh_p.bind
def _tanh_jvp(t, ans, x):
    if type(ans) is np.ndarray:  # 1 - ans², in one fresh temporary
        c = ans * ans
        np.subtract(1, c, out=c)
        return t * c
    return t * (1 - ans * ans)


tanh_p = _u("tanh", np.tanh, _tanh_jvp)
arcsinh_p = _u("arcsinh", np.arcsinh, lambda t, ans, x: t / sqrt(x * x + 1))
arccosh_p = _u("arccosh", np.arccosh, lambda t, ans, x: t / sqrt(x * x - 1), (1.2, 3.0))
arctanh_p = _u("arctanh", np.arctanh, lambda t, ans, x: t / (1 - x * x), (-0.9, 0.9))
exp_p = _u("exp", np.exp, lambda t, ans, x: t * ans)
exp2_p = _u("exp2", np.exp2, lambda t, ans, x: t * (ans * math.log(2.0)))
expm1_p = _u("expm1", np.expm1, lambda t, ans, x: t * (ans + 1))
log_p = _u("log", np.log, lambda t, ans, x: t / x, (0.2, 3.0))
log2_p = _u("log2", np.log2, lambda t, ans, x: t / (x * math.log(2.0)), (0.2, 3.0))
log10_p = _u("log10", np.log10, lambda t, ans, x: t / (x * math.log(10.0)), (0.2, 3.0))
log1p_p = _u("log1p", np.log1p, lambda t, ans, x: t / (x + 1), (-0.5, 3.0))
sqrt_p = _u("sqrt", np.sqrt, lambda t, ans, x: t / (ans * 2), (0.2, 3.0))
cbrt_p = _u("cbrt", np.cbrt, lambda t, ans, x: t / (ans * ans * 3), (0.2, 3.0))
exp = exp_p.bind
log = log_p.bind
sqrt = sqrt_p.bind


def iscomplex(x) -> bool:
    """True for complex arrays and tracers (works on every value rules see)."""
    dt = getattr(x, "dtype", None)
    return isinstance(x, complex) if dt is None else np.dtype(dt).kind == "c"


def _abs_jvp(t, ans, x):
    if iscomplex(x):
        # d|z| = Re(conj(z) dz) / |z|
        return real(t * (conj(x) / select(ans == 0, 1.0, ans)))
    return t * sign(x)


abs_p = _u("abs", np.abs, _abs_jvp, kink=0.0,
           doc="abs′(0) = 0 (the derivative follows sign)")

# Non-differentiable elementwise functions: zero derivative where defined.
_NONDIFF = {
    "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "rint": np.rint, "trunc": np.trunc, "isnan": np.isnan, "isinf": np.isinf,
    "isfinite": np.isfinite, "logical_not": np.logical_not,
    "equal": operator.eq, "not_equal": operator.ne, "less": operator.lt,
    "less_equal": operator.le, "greater": operator.gt,
    "greater_equal": operator.ge, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "floor_divide": operator.floordiv,
}
_NONDIFF_BINARY = {"equal", "not_equal", "less", "less_equal", "greater",
                   "greater_equal", "logical_and", "logical_or", "logical_xor",
                   "floor_divide"}
NONDIFF = {}
for _name, _fn in _NONDIFF.items():
    NONDIFF[_name] = defprim(_name, _fn, 2 if _name in _NONDIFF_BINARY else 1,
                             nondiff=True, test={"domain": (-2.0, 2.0)})
sign = NONDIFF["sign"].bind
floor = NONDIFF["floor"].bind
trunc = NONDIFF["trunc"].bind
greater = NONDIFF["greater"].bind
less = NONDIFF["less"].bind
equal = NONDIFF["equal"].bind


# ----------------------------------------------------------------------------
# Binary nonlinear functions


def _pow_jvp_x(t, ans, x, y):
    """∂(x**y)/∂x = y·x**(y-1), and 0 where y == 0 (JAX's convention: x**0 is
    constant, also at x = 0 where x**-1 is inf)."""
    if isinstance(y, (int, float)) and not isinstance(y, bool):
        if y == 0:
            return None
        if y == 1:
            return t
        if y == 2:
            return t * (x * 2)
        return _scale_tangent(t, y * pow_(x, y - 1))
    # at y = 0 the term is 0; only where also x = 0 (0**-1 = inf) is the base
    # replaced by 1, so that elsewhere its y-derivative x**-1 stays right
    z = NONDIFF["logical_and"].bind(equal(y, 0), equal(x, 0))
    return _scale_tangent(t, y * pow_(select(z, _one_like(x), x), y - 1))


def _scale_tangent(t, coef):
    """``t * coef`` where a zero tangent contributes exactly 0 even if ``coef``
    is inf or nan (``mul_safe``).  Forward mode pushes every argument's
    tangent at once (``jvp``, ``jacfwd`` with several argnums), and reverse
    mode every output's cotangent (``jacrev``): without this a nan partial
    (∂(x**y)/∂y at x < 0) would poison the other entries of the Jacobian."""
    if not isinstance(coef, Tracer) and bool(np.all(np.isfinite(coef))):
        return t * coef
    return mul_safe(t, coef)


def _mul_safe_impl(t, c):
    r = np.multiply(t, c)
    z = np.equal(t, 0)
    if np.any(z):
        r = np.where(z, np.zeros((), r.dtype), r) if np.ndim(r) else r.dtype.type(0)
    return r


def _mul_safe_T(ct, t, c):
    return (mul_safe(ct, c), None) if t is None else (None, mul_safe(t, ct))


def _mul_safe_batch(size, vals, batched):
    from ._vmap import _fix_unbatched_tracers
    return mul_safe(*_fix_unbatched_tracers(size, vals, batched))


mul_safe_p = defprim(
    "mul_safe", _mul_safe_impl, 2,
    jvps=(lambda dt, ans, t, c: mul_safe(dt, c), lambda dc, ans, t, c: mul_safe(t, dc)),
    transpose=_mul_safe_T, batch=_mul_safe_batch,
    doc="t * c, but 0 where t = 0 even if c is inf or nan (a tangent's zero stays zero)")
mul_safe = mul_safe_p.bind


def _one_like(y):
    dt = _dtype(y)
    return dt.type(1) if dt.kind in "fc" else 1.0


def _pow_log(x, ans):
    """log(x) for ∂(x**y)/∂y = log(x)·x**y (JAX's convention): log is taken
    in the result's dtype, so a negative real base gives nan (x**y is not
    real-differentiable in y there) and a complex result the principal
    log; at x = 0 the factor is 0 (so ∂/∂y is 0 for y > 0)."""
    cplx = iscomplex(ans)
    if type(x) in (int, float):
        if x == 0:
            return 0.0
        if cplx:
            return cmath.log(x)
        return math.log(x) if x > 0 else math.nan
    if cplx and not iscomplex(x):
        x = x * (1 + 0j)
    z = equal(x, 0)
    return select(z, 0.0, log(select(z, 1.0, x)))


pow_p = defprim("pow", operator.pow, 2,
                jvps=(_pow_jvp_x, lambda t, ans, x, y: _scale_tangent(t, ans * _pow_log(x, ans))),
                test={"domain": (0.5, 2.0)},
                doc="∂x = y·x**(y-1) (0 where y = 0); ∂y = log(x)·x**y, 0 where x = 0 "
                    "and nan where a real x < 0 (JAX's convention)")
pow_ = pow_p.bind


def _max_coef(x, y, ans):
    # 1 where x wins, 1/2 on ties, 0 where y wins (in the output's dtype)
    dt = _dtype(ans)
    return select(equal(x, y), dt.type(0.5), select(equal(ans, x), dt.type(1.0), dt.type(0.0)))


maximum_p = defprim(
    "maximum", np.maximum, 2,
    jvps=(lambda t, ans, x, y: t * _max_coef(x, y, ans),
          lambda t, ans, x, y: t * _max_coef(y, x, ans)),
    test={"kink": "tie"}, doc="ties split the derivative evenly (½ each)")
minimum_p = defprim(
    "minimum", np.minimum, 2,
    jvps=(lambda t, ans, x, y: t * _max_coef(x, y, ans),
          lambda t, ans, x, y: t * _max_coef(y, x, ans)),
    test={"kink": "tie"}, doc="ties split the derivative evenly (½ each)")
def _nonzero(ans):
    return select(equal(ans, 0), 1.0, ans)


arctan2_p = defprim(
    "arctan2", np.arctan2, 2,
    jvps=(lambda t, ans, y, x: t * (x / _nonzero(x * x + y * y)),
          lambda t, ans, y, x: t * (-y / _nonzero(x * x + y * y))),
    test={"domain": (0.3, 2.0)}, doc="derivative 0 at (0, 0) (not 0/0), as hypot's")
# at (0, 0), the cone's tip, the derivative is 0 (as abs'(0) and norm's), not 0/0
hypot_p = defprim("hypot", np.hypot, 2,
                  jvps=(lambda t, ans, x, y: t * (x / _nonzero(ans)),
                        lambda t, ans, x, y: t * (y / _nonzero(ans))),
                  test={"domain": (0.3, 2.0)}, doc="derivative 0 at (0, 0)")
logaddexp_p = defprim("logaddexp", np.logaddexp, 2,
                      jvps=(lambda t, ans, x, y: t * exp(x - ans),
                            lambda t, ans, x, y: t * exp(y - ans)))
logaddexp2_p = defprim("logaddexp2", np.logaddexp2, 2,
                       jvps=(lambda t, ans, x, y: t * pow_(2.0, x - ans),
                             lambda t, ans, x, y: t * pow_(2.0, y - ans)))
mod_p = defprim("mod", np.mod, 2,
                jvps=(lambda t, ans, x, y: t,
                      lambda t, ans, x, y: t * -floor(x / y)),
                test={"domain": (0.3, 2.0), "avoid_mod": True})
fmod_p = defprim("fmod", np.fmod, 2,
                 jvps=(lambda t, ans, x, y: t,
                       lambda t, ans, x, y: t * -trunc(x / y)),
                 test={"domain": (0.3, 2.0), "avoid_mod": True})


# select(c, x, y) = where(c, x, y): linear in x and y, not differentiable in c
def _select_T(ct, c, x, y):
    return (None,
            select(c, ct, 0.0) if x is None else None,
            select(c, 0.0, ct) if y is None else None)


select_p = defprim("select", np.where, 3,
                   jvps=(None,
                         lambda t, ans, c, x, y: select(c, t, 0.0),
                         lambda t, ans, c, x, y: select(c, 0.0, t)),
                   transpose=_select_T, linear=True)
select = select_p.bind
real = real_p.bind
imag = imag_p.bind
conj = conj_p.bind


def _convert_impl(x, dtype, in_dtype):
    return np.asarray(x).astype(dtype) if not np.isscalar(x) else np.dtype(dtype).type(x)


convert_p = defprim("convert_element_type", _convert_impl, 1, linear=True,
                    transpose=lambda ct, x, dtype, in_dtype: (
                        convert_p.bind(real(ct) if not np.issubdtype(in_dtype, np.complexfloating)
                                       and np.issubdtype(dtype, np.complexfloating) else ct,
                                       in_dtype, dtype),))
_lin1(convert_p)


# ----------------------------------------------------------------------------
# Structural (linear) primitives


def _reduce_sum_impl(x, axes, in_shape):
    return np.add.reduce(x, axis=axes)


_KD: dict = {}


def keepdims_shape(in_shape, axes):
    """``in_shape`` with ``axes`` (a reduction's) kept as size 1 (memoised)."""
    key = (in_shape, axes)
    kd = _KD.get(key)
    if kd is None:
        kd = tuple([1 if i in axes else s for i, s in enumerate(in_shape)])
        if len(_KD) < 4096:
            _KD[key] = kd
    return kd


def _reduce_sum_T(ct, x, axes, in_shape):
    if type(ct) is np.ndarray:  # concrete: a zero-stride view of the cotangent
        kd = keepdims_shape(in_shape, axes)
        return (_broadcast_impl(ct.reshape(kd), in_shape, kd),)
    if axes == tuple(range(len(axes))):  # leading axes (a full sum too): broadcasting adds them
        return (broadcast_to(ct, in_shape, in_shape[len(axes):]),)
    kd = keepdims_shape(in_shape, axes)
    return (broadcast_to(reshape(ct, kd, _shape_of_ct(kd, axes)), in_shape, kd),)


def _shape_of_ct(kd, axes):
    return tuple(s for i, s in enumerate(kd) if i not in axes)


reduce_sum_p = defprim("reduce_sum", _reduce_sum_impl, 1, linear=True,
                       transpose=_reduce_sum_T)
_lin1(reduce_sum_p)
reduce_sum = reduce_sum_p.bind


def _reshape_impl(x, shape, in_shape):
    if type(x) is np.ndarray:
        return x.reshape(shape)
    return np.reshape(x, shape)


reshape_p = defprim("reshape", _reshape_impl, 1, linear=True,
                    transpose=lambda ct, x, shape, in_shape: (reshape(ct, in_shape, shape),))
_lin1(reshape_p)
reshape = reshape_p.bind


_BCAST_STRIDES: dict = {}


def _broadcast_impl(x, shape, in_shape):
    if type(x) is not np.ndarray and (type(x) is float or isinstance(x, np.generic)):
        x = np.asarray(x)
    elif type(x) is np.ndarray and not x.flags.c_contiguous and x.size and not any(x.strides):
        x = np.asarray(x[(0,) * x.ndim])  # a broadcast single value (a sum's cotangent)
    if type(x) is np.ndarray and x.flags.c_contiguous:
        # a read-only zero-stride view, like np.broadcast_to but 6x cheaper
        key = (x.shape, x.strides, shape)
        try:
            strides = _BCAST_STRIDES.get(key)
        except TypeError:  # a list for a shape
            shape = tuple(shape)
            key = (x.shape, x.strides, shape)
            strides = _BCAST_STRIDES.get(key)
        if strides is None:
            lead = len(shape) - x.ndim
            strides = (0,) * lead + tuple(0 if n == 1 and m != 1 else st
                                          for n, m, st in zip(x.shape, shape[lead:], x.strides))
            if len(_BCAST_STRIDES) < 4096:
                _BCAST_STRIDES[key] = strides
        r = np.ndarray(shape, x.dtype, x, 0, strides)
        r.flags.writeable = False
        return r
    return np.broadcast_to(x, shape)


_BCAST_T: dict = {}


def _concrete_sum_plan(shape, in_shape):
    """How a concrete cotangent of ``broadcast_to(x, shape)`` sums back to
    ``in_shape`` in one NumPy reduction: (axes, keepdims), or None."""
    key = (tuple(shape), tuple(in_shape))
    plan = _BCAST_T.get(key, False)
    if plan is False:
        lead = len(shape) - len(in_shape)
        if lead == 0:
            plan = (tuple([i for i, s in enumerate(in_shape) if s == 1 and shape[i] != 1]), True)
        elif all(s == shape[lead + i] for i, s in enumerate(in_shape)):
            plan = (tuple(range(lead)), False)
        else:
            plan = None
        if len(_BCAST_T) < 4096:
            _BCAST_T[key] = plan
    return plan


def _broadcast_T(ct, x, shape, in_shape):
    if type(ct) is np.ndarray:  # a concrete cotangent: NumPy's reduction
        plan = _concrete_sum_plan(shape, in_shape)
        if plan is not None:
            axes, keep = plan
            return (np.add.reduce(ct, axis=axes, keepdims=keep) if axes else ct,)
    lead = len(shape) - len(in_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(in_shape) if s == 1 and shape[lead + i] != 1)
    if not axes:
        return (reshape(ct, in_shape, shape),)
    red = reduce_sum(ct, axes, shape)
    red_shape = tuple(s for i, s in enumerate(shape) if i not in axes)
    if red_shape != in_shape:
        red = reshape(red, in_shape, red_shape)
    return (red,)


broadcast_p = defprim("broadcast_to", _broadcast_impl, 1, linear=True,
                      transpose=_broadcast_T)
_P.broadcast = broadcast_p
_lin1(broadcast_p)
broadcast_to = broadcast_p.bind


def _transpose_impl(x, perm):
    return np.transpose(x, perm)


transpose_p = defprim("transpose", _transpose_impl, 1, linear=True,
                      transpose=lambda ct, x, perm: (transpose(ct, tuple(np.argsort(perm).tolist())),))
_lin1(transpose_p)
transpose = transpose_p.bind


# getitem(x, idx, in_shape): NumPy indexing with a fixed index (basic or advanced)
def _is_basic(idx):
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in idx)


def _getitem_impl(x, idx, in_shape):
    return x[idx]


def _scatter_add_impl(v, idx, shape):
    z = np.zeros(shape, dtype=np.result_type(v))
    if _is_basic(idx):
        z[idx] = v
    else:
        np.add.at(z, idx, v)
    return z


getitem_p = defprim("getitem", _getitem_impl, 1, linear=True,
                    transpose=lambda ct, x, idx, in_shape: (scatter_add(ct, idx, in_shape),))
_lin1(getitem_p)
getitem = getitem_p.bind
scatter_add_p = defprim("scatter_add", _scatter_add_impl, 1, linear=True,
                        transpose=lambda ct, v, idx, shape: (getitem(ct, idx, shape),))
_lin1(scatter_add_p)
scatter_add = scatter_add_p.bind


def _concat_impl(*args):
    *xs, axis, sizes = args
    return np.concatenate(xs, axis=axis)


def _concat_T(ct, *args):
    *xs, axis, sizes = args
    out = []
    start = 0
    shape = tuple(ct.shape)
    for x, n in zip(xs, sizes):
        if x is None:
            idx = (slice(None),) * axis + (slice(start, start + n),)
            out.append(getitem(ct, idx, shape))
        else:
            out.append(None)
        start += n
    return out


def _concat_jvp(primals, tangents, ans, params):
    if all(t is None for t in tangents):
        return None
    ts = [zeros_like_p(x) if t is None else t for x, t in zip(primals, tangents)]
    return concatenate_p.bind(*ts, *params)


concatenate_p = defprim("concatenate", _concat_impl, None, nparams=2, linear=True,
                        jvp_full=_concat_jvp, transpose=_concat_T)


def zeros_like_p(x):
    """Zeros shaped like a primal value (used only for rare symbolic zeros)."""
    x = getattr(x, "primal", x)
    return np.zeros(np.shape(x), dtype=np.result_type(x))


def _pad_impl(x, widths):
    return np.pad(x, widths)


def _pad_T(ct, x, widths):
    shape = tuple(ct.shape)
    idx = tuple(slice(lo, lo + n) for (lo, hi), n in zip(widths, _inner_sizes(ct, widths)))
    return (getitem(ct, idx, shape),)


def _inner_sizes(ct, widths):
    return [s - lo - hi for s, (lo, hi) in zip(ct.shape, widths)]


pad_p = defprim("pad", _pad_impl, 1, linear=True, transpose=_pad_T)
_lin1(pad_p)


def _cumsum_impl(x, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    return np.cumsum(x, axis=axis)


cumsum_p = defprim("cumsum", _cumsum_impl, 1, linear=True,
                   transpose=lambda ct, x, axis, reverse: (cumsum_p.bind(ct, axis, not reverse),))
_lin1(cumsum_p)


# ----------------------------------------------------------------------------
# Contractions


def _swap(x):
    nd = len(x.shape)
    perm = tuple(range(nd - 2)) + (nd - 1, nd - 2)
    return transpose(x, perm)


def _outer(a, b):
    """a (M,) ⊗ b (N,) as a (M,1)@(1,N) matmul (linear in each)."""
    if not isinstance(a, Tracer) and not isinstance(b, Tracer):
        return np.multiply.outer(a, b)  # untraced: what the binds would compute
    m, n = a.shape[0], b.shape[0]
    return matmul(reshape(a, (m, 1), (m,)), reshape(b, (1, n), (n,)))


def _matmul_T(ct, x, y):
    """Transpose of matmul in one operand; also the 1-D cases NumPy allows
    ((M,K)@(K,), (K,)@(K,N), (K,)@(K,)), told apart by the ranks."""
    if type(ct) is np.ndarray and ct.ndim >= 2:
        if x is None and type(y) is np.ndarray and y.ndim >= 2:
            return np.matmul(ct, np.swapaxes(y, -1, -2)), None
        if y is None and type(x) is np.ndarray and x.ndim >= 2:
            return None, np.matmul(np.swapaxes(x, -1, -2), ct)
    cnd = len(getattr(ct, "shape", ()))
    if x is None:
        ynd = len(y.shape)
        if ynd == 1:
            return (ct * y if cnd == 0 else _outer(ct, y)), None
        if cnd == ynd - 1:  # x was a vector (K,) @ (K, N)
            return matmul(y, ct), None
        return matmul(ct, _swap(y)), None
    xnd = len(x.shape)
    if xnd == 1:
        return None, (x * ct if cnd == 0 else _outer(x, ct))
    if cnd == xnd - 1:  # y was a vector (M, K) @ (K,)
        return None, matmul(_swap(x), ct)
    return None, matmul(_swap(x), ct)


matmul_p = defprim(
    "matmul", np.matmul, 2,
    jvps=(lambda t, ans, x, y: matmul(t, y), lambda t, ans, x, y: matmul(x, t)),
    transpose=_matmul_T,
    test={"shapes": [((2, 3), (3, 4)), ((2, 2, 3), (2, 3, 2))]},
    doc="np.matmul on operands of equal batch dimensions, or 2-D/1-D operands")
matmul = matmul_p.bind
_P.matmul = matmul_p


def _tangent_prim(op_p, shapes):
    """The tangent ``op(xt, y) + op(x, yt)`` of a bilinear ``op`` as one
    primitive: reverse mode records it as one tape equation (instead of two
    products and a sum) when both operands carry tangents.  Linear in
    ``(xt, yt)``; its transpose is ``op``'s, once per operand."""
    op_impl, op = op_p.impl, op_p.bind

    def impl(xt, yt, x, y):
        return op_impl(xt, y) + op_impl(x, yt)

    def transpose(ct, xt, yt, x, y):
        if xt is not None or yt is not None:
            raise TypeError(f"internal error: {op_p.name}_tangent is linear in its tangents only")
        return op_p.transpose(ct, None, y)[0], op_p.transpose(ct, x, None)[1], None, None

    p = defprim(f"{op_p.name}_tangent", impl, 4, linear=True, transpose=transpose,
                jvps=(lambda t, ans, xt, yt, x, y: op(t, y), lambda t, ans, xt, yt, x, y: op(x, t),
                      lambda t, ans, xt, yt, x, y: op(t, yt), lambda t, ans, xt, yt, x, y: op(xt, t)),
                test={"shapes": shapes},
                doc=f"xt {op_p.name} y + x {op_p.name} yt (reverse mode's tangent of {op_p.name})")
    op_p.bilinear = p
    return p


mul_tangent_p = _tangent_prim(mul_p, [((2, 3),) * 4])
matmul_tangent_p = _tangent_prim(matmul_p, [((2, 3), (3, 4), (2, 3), (3, 4)), ((3,), (3, 2), (3,), (3, 2))])
_P.mul_tangent, _P.matmul_tangent = mul_tangent_p, matmul_tangent_p


def _einsum_impl(x, y, spec, sizes):
    return np.einsum(spec, x, y, optimize=True)


def _einsum_T(ct, x, y, spec, sizes):
    ins, out = spec.split("->")
    a, b = ins.split(",")
    if x is None:
        return (_einsum_to(ct, y, out, b, a, sizes), None)
    return (None, _einsum_to(x, ct, a, out, b, sizes))


def _einsum_to(u, v, su, sv, target, sizes):
    """einsum producing ``target``'s subscripts; an index of the target that is
    in neither u nor v (the operand was summed over it) is broadcast back."""
    have = set(su) | set(sv)
    kept = "".join(c for c in target if c in have)
    r = einsum(u, v, f"{su},{sv}->{kept}", sizes)
    if kept == target:
        return r
    size = dict(sizes)
    kshape = tuple(size[c] for c in kept)
    mid = tuple(size[c] if c in have else 1 for c in target)
    full = tuple(size[c] for c in target)
    return broadcast_to(reshape(r, mid, kshape), full, mid)


einsum_p = defprim(
    "einsum", _einsum_impl, 2,
    jvps=(lambda t, ans, x, y, spec, sizes: einsum(t, y, spec, sizes),
          lambda t, ans, x, y, spec, sizes: einsum(x, t, spec, sizes)),
    transpose=_einsum_T,
    test={"shapes": [((2, 3), (3, 4))], "params": ("ij,jk->ik", (("i", 2), ("j", 3), ("k", 4)))})
einsum = einsum_p.bind


# ----------------------------------------------------------------------------
# Reductions with ties


def _reduce_max_impl(x, axes, in_shape):
    return np.maximum.reduce(x, axis=axes)


def _reduce_min_impl(x, axes, in_shape):
    return np.minimum.reduce(x, axis=axes)


def _reduce_extreme_jvp(t, ans, x, axes, in_shape):
    if type(x) is np.ndarray and type(ans) is np.ndarray:
        # concrete values: the tie weights (1/count where x attains the
        # extreme) in NumPy, and one product and one sum on the tangent
        m = np.equal(x, ans.reshape(keepdims_shape(in_shape, axes)))
        w = np.divide(m, np.add.reduce(m, axis=axes, keepdims=True, dtype=np.intp), dtype=ans.dtype)
        return reduce_sum(t * w, axes, in_shape)
    kd = keepdims_shape(in_shape, axes)
    ans_b = broadcast_to(reshape(ans, kd, _shape_of_ct(kd, axes)), in_shape, kd)
    mask = equal(x, ans_b)
    dt = _dtype(ans)
    mask = convert_p.bind(mask, dt, np.dtype(np.bool_))
    count = reduce_sum(mask, axes, in_shape)
    return reduce_sum(t * mask, axes, in_shape) / count


def _dtype(x):
    dt = getattr(x, "dtype", None)
    return np.dtype(dt) if dt is not None else np.result_type(x)


reduce_max_p = defprim("reduce_max", _reduce_max_impl, 1, jvps=(_reduce_extreme_jvp,),
                       doc="ties split the derivative evenly")
reduce_min_p = defprim("reduce_min", _reduce_min_impl, 1, jvps=(_reduce_extreme_jvp,),
                       doc="ties split the derivative evenly")

# Non-differentiable reductions/queries with parameters
argmax_p = defprim("argmax", lambda x, axis: np.argmax(x, axis=axis), 1, nondiff=True)
argmin_p = defprim("argmin", lambda x, axis: np.argmin(x, axis=axis), 1, nondiff=True)
# NumPy's own algorithm (``kind``, default quicksort), so ties come out in the
# same order eagerly, under jit and under vmap (each lane sorted alone)
argsort_p = defprim("argsort", lambda x, axis, kind=None: np.argsort(x, axis=axis, kind=kind), 1,
                    nondiff=True)


def stop_gradient_impl(x):
    return x


stop_gradient_p = defprim("stop_gradient", stop_gradient_impl, 1, nondiff=True)
