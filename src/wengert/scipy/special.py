"""``wengert.scipy.special``: differentiable special functions.

Outside transformations each function is SciPy's own.  Under them,
``erf erfc erfcx erfinv erfcinv gamma rgamma gammaln digamma polygamma expit
ndtri log_ndtr``, the Bessel functions ``j0 j1 y0 y1 i0 i1 i0e i1e jv yv iv
ive jn yn`` and the incomplete functions ``gammainc gammaincc betainc`` and ``stdtr`` are
primitives (``wengert._prims_special``) and the rest are compositions:

* ``erf``, ``erfc`` and ``erfcx`` take complex inputs too (holomorphic:
  ``erf′(z) = 2/√π e^{−z²}``);
* the functions of an order or shape parameter and ``x`` (``jv(v, x)``,
  ``jn(n, x)``, ``ive(v, x)``, ``gammainc(a, x)``, ``betainc(a, b, x)`` …)
  are differentiable in ``x`` only: asking for a derivative in the parameter
  raises a ``TypeError`` naming it (the parameter may still be traced by
  ``vmap`` and ``jit``);
* ``multigammaln(a, d) = d(d−1)/4 log π + Σ_j gammaln(a − j/2)``;
* ``betaln(a, b) = gammaln(a) + gammaln(b) − gammaln(a + b)`` (``log |B|``),
  ``beta = gammasgn · exp(betaln)``; ``gammasgn`` is piecewise constant
  (derivative 0);

* ``logsumexp`` subtracts the (stop-gradient) maximum, so huge entries do not
  overflow; ``-inf`` entries get gradient 0, and a slice that is all ``-inf``
  gives ``-inf`` with gradient 0 (not NaN);
* ``softmax``/``log_softmax`` are ``exp(x - logsumexp)`` / ``x - logsumexp``;
* ``xlogy(x, y) = x log y`` is 0 where ``x == 0`` and ``y <= 0``; its
  derivative in ``x`` is ``log y`` (also at ``x = 0`` when ``y > 0``);
* ``logit = log x - log1p(-x)``, ``ndtr = erfc(-x/√2)/2``.

>>> import wengert as wg, wengert.numpy as wnp
>>> from wengert.scipy.special import logsumexp, gammaln
>>> float(logsumexp(wnp.array([1000.0, 1000.0])))  # no overflow: 1000 + log 2
1000.6931471805599
>>> round(float(wg.grad(gammaln)(1.0)), 12)  # digamma(1) = -Euler's gamma
-0.577215664902
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _prims_special as SP
from .._core import Tracer
from ..numpy import _funcs as F
from ..numpy._base import any_tracer, as_operand, dtype_of, lift, norm_axes, shape_of

_sp = SP.scipy_special()  # a clear ImportError (pip install wengert[scipy]) if SciPy is missing

__all__ = ["logsumexp", "softmax", "log_softmax", "expit", "logit", "erf", "erfc", "erfinv",
           "gammaln", "digamma", "psi", "polygamma", "xlogy", "xlog1py", "ndtr", "log_ndtr",
           "ndtri", "erfcx", "erfcinv", "gamma", "rgamma", "multigammaln", "j0", "j1", "y0", "y1",
           "i0", "i1", "i0e", "i1e", "jv", "yv", "iv", "ive", "jn", "yn", "gammainc", "gammaincc",
           "betainc", "stdtr", "beta", "betaln", "gammasgn"]

_isT = isinstance


def _unary(name, p, doc, kinds="f"):
    npf = getattr(_sp, name)
    bind = p.bind
    what = "a real or complex floating" if "c" in kinds else "a real floating"

    def f(x: Any, /) -> Any:
        if _isT(x, Tracer) or _isT(x := lift(x), Tracer):
            kind = np.dtype(x.dtype).kind
            if kind not in kinds:
                if kind in "iub":  # integers and booleans: SciPy computes in float64
                    return bind(F.astype(x, np.float64))
                raise TypeError(f"special.{name}: expected {what} input under a "
                                f"transformation, got {np.dtype(x.dtype).name}")
            return bind(x)
        return npf(x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``scipy.special.{name}``; {doc}"
    return f


erf = _unary("erf", SP.erf_p, "derivative 2/√π e^{−x²} (complex inputs too).", "fc")
erfc = _unary("erfc", SP.erfc_p, "derivative −2/√π e^{−x²} (complex inputs too).", "fc")
erfcx = _unary("erfcx", SP.erfcx_p, "the scaled ``e^{x²} erfc(x)``; derivative 2x erfcx − 2/√π "
               "(complex inputs too).", "fc")
erfcinv = _unary("erfcinv", SP.erfcinv_p, "derivative −√π/2 e^{erfcinv(x)²}.")
gamma = _unary("gamma", SP.gamma_p, "derivative gamma · digamma.")
rgamma = _unary("rgamma", SP.rgamma_p, "``1/Γ(x)``; derivative −rgamma · digamma.")
j0 = _unary("j0", SP.j0_p, "Bessel J₀; derivative −j1.")
j1 = _unary("j1", SP.j1_p, "Bessel J₁; derivative (j0 − jv(2, ·))/2.")
y0 = _unary("y0", SP.y0_p, "Bessel Y₀; derivative −y1.")
y1 = _unary("y1", SP.y1_p, "Bessel Y₁; derivative (y0 − yv(2, ·))/2.")
i0 = _unary("i0", SP.i0_p, "modified Bessel I₀; derivative i1.")
i1 = _unary("i1", SP.i1_p, "modified Bessel I₁; derivative (i0 + iv(2, ·))/2.")
i0e = _unary("i0e", SP.i0e_p, "``i0(x) e^{−|x|}``; derivative i1e − sign(x) i0e.")
i1e = _unary("i1e", SP.i1e_p, "``i1(x) e^{−|x|}``; derivative (i0e + ive(2, ·))/2 − sign(x) i1e.")
erfinv = _unary("erfinv", SP.erfinv_p, "derivative √π/2 e^{erfinv(x)²}.")
gammaln = _unary("gammaln", SP.gammaln_p, "derivative digamma.")
digamma = _unary("digamma", SP.digamma_p, "derivative polygamma(1, x).")
psi = digamma
expit = _unary("expit", SP.expit_p, "the logistic sigmoid; derivative expit (1 − expit).")
log_ndtr = _unary("log_ndtr", SP.log_ndtr_p, "log of the normal CDF, accurate in the left tail.")
ndtri = _unary("ndtri", SP.ndtri_p, "the normal quantile Φ⁻¹; derivative √(2π) e^{ndtri²/2}.")


def polygamma(n, x):
    """``scipy.special.polygamma(n, x)``, the n-th derivative of digamma;
    differentiable in ``x`` (``n`` is a non-negative integer, not traced)."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _sp.polygamma(n, x)
    if _isT(n, Tracer) or np.ndim(n) != 0 or int(n) != n or n < 0:
        raise TypeError(f"special.polygamma: under a transformation the order n must be a "
                        f"non-negative Python int, got {n!r}")
    return SP.polygamma_p.bind(x, int(n))


def _params_and_x(name, p, args, names):
    """Bind a (parameters…, x) primitive: broadcast to one shape, x floating."""
    args = [lift(a) for a in args]
    if not any_tracer(args):
        return getattr(_sp, name)(*args)
    x = as_operand(args[-1])
    kind = np.dtype(dtype_of(x)).kind
    if kind != "f":
        if kind not in "iub":
            raise TypeError(f"special.{name}: expected a real floating x under a transformation, "
                            f"got {np.dtype(dtype_of(x)).name}")
        x = F.astype(x, np.float64)
    ops = [as_operand(a) for a in args[:-1]] + [x]
    for a, n in zip(ops[:-1], names):
        if np.dtype(dtype_of(a)).kind not in "iuf":
            raise TypeError(f"special.{name}: the parameter {n} must be real, got {np.dtype(dtype_of(a)).name}")
    shape = np.broadcast_shapes(*(tuple(shape_of(a)) for a in ops))
    # Python-number parameters stay weak scalars (float32 x keeps float32, as in SciPy)
    ops = [a if type(a) in (int, float) or tuple(shape_of(a)) == shape else F.broadcast_to(a, shape)
           for a in ops]
    return p.bind(*ops)


def jv(v: Any, x: Any) -> Any:
    """Bessel function of the first kind ``J_v(x)``; differentiable in ``x``:
    ``(jv(v−1, x) − jv(v+1, x))/2`` (``v`` has no derivative).

    >>> import wengert as wg
    >>> import scipy.special as sp
    >>> d = wg.grad(lambda x: jv(1.5, x))(2.0)
    >>> bool(abs(d - (sp.jv(0.5, 2.0) - sp.jv(2.5, 2.0)) / 2) < 1e-14)
    True
    """
    return _params_and_x("jv", SP.jv_p, (v, x), ("v",))


def yv(v: Any, x: Any) -> Any:
    """Bessel function of the second kind ``Y_v(x)``; differentiable in ``x``."""
    return _params_and_x("yv", SP.yv_p, (v, x), ("v",))


def iv(v: Any, x: Any) -> Any:
    """Modified Bessel function ``I_v(x)``; derivative in ``x``: ``(iv(v−1) + iv(v+1))/2``."""
    return _params_and_x("iv", SP.iv_p, (v, x), ("v",))


def ive(v: Any, x: Any) -> Any:
    """Exponentially scaled ``iv(v, x) e^{−|x|}``; differentiable in ``x``."""
    return _params_and_x("ive", SP.ive_p, (v, x), ("v",))


def jn(n: Any, x: Any) -> Any:
    """Bessel ``J_n(x)`` of integer order (SciPy's ``jn`` is ``jv``); differentiable in ``x``."""
    return _params_and_x("jv", SP.jv_p, (n, x), ("n",))


def yn(n: Any, x: Any) -> Any:
    """Bessel ``Y_n(x)`` of integer order; differentiable in ``x``."""
    return _params_and_x("yn", SP.yn_p, (n, x), ("n",))


def gammainc(a: Any, x: Any) -> Any:
    """Regularized lower incomplete gamma ``P(a, x)``; derivative in ``x``:
    ``x^{a−1} e^{−x}/Γ(a)``.  A derivative in ``a`` raises a ``TypeError``.

    >>> import wengert as wg
    >>> round(float(wg.grad(lambda x: gammainc(1.0, x))(0.5)), 12)  # 1 - e^{-x}
    0.60653065971
    """
    return _params_and_x("gammainc", SP.gammainc_p, (a, x), ("a",))


def gammaincc(a: Any, x: Any) -> Any:
    """Regularized upper incomplete gamma ``Q(a, x) = 1 − P(a, x)``; differentiable in ``x``."""
    return _params_and_x("gammaincc", SP.gammaincc_p, (a, x), ("a",))


def betainc(a: Any, b: Any, x: Any) -> Any:
    """Regularized incomplete beta ``I_x(a, b)``; derivative in ``x``:
    ``x^{a−1}(1−x)^{b−1}/B(a, b)`` (``a`` and ``b`` have none)."""
    return _params_and_x("betainc", SP.betainc_p, (a, b, x), ("a", "b"))


def stdtr(df: Any, t: Any) -> Any:
    """Student's t CDF with ``df`` degrees of freedom; differentiable in ``t`` (the density)."""
    return _params_and_x("stdtr", SP.stdtr_p, (df, t), ("df",))


def gammasgn(x: Any, /) -> Any:
    """The sign of the gamma function: 1 for ``x > 0``, ``(−1)^⌈−x⌉`` below 0;
    piecewise constant (derivative 0)."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _sp.gammasgn(x)
    neg = F.less(x, 0)
    odd = F.not_equal(F.mod(F.floor(x), 2.0), 0.0)
    one = F.ones_like(x)  # x's dtype (float32 stays float32)
    return F.where(F.logical_and(neg, odd), F.negative(one), one)


def betaln(a: Any, b: Any, /) -> Any:
    """``log |B(a, b)| = gammaln(a) + gammaln(b) − gammaln(a + b)``; differentiable in
    ``a`` and ``b`` (digamma differences)."""
    a, b = lift(a), lift(b)
    if not any_tracer((a, b)):
        return _sp.betaln(a, b)
    return gammaln(a) + gammaln(b) - gammaln(F.add(a, b))


def beta(a: Any, b: Any, /) -> Any:
    """The beta function ``Γ(a) Γ(b) / Γ(a + b)`` as ``gammasgn · exp(betaln)``
    (no overflow for large arguments); derivative ``beta · (ψ(a) − ψ(a + b))`` in ``a``.

    >>> import wengert as wg, scipy.special as sp
    >>> bool(abs(wg.grad(beta)(2.0, 3.0) - sp.beta(2.0, 3.0) * (sp.psi(2.0) - sp.psi(5.0))) < 1e-15)
    True
    """
    a, b = lift(a), lift(b)
    if not any_tracer((a, b)):
        return _sp.beta(a, b)
    sgn = gammasgn(a) * gammasgn(b) * gammasgn(F.add(a, b))
    return sgn * F.exp(betaln(a, b))


def multigammaln(a: Any, d: Any) -> Any:
    """Log of the multivariate gamma function, ``d(d−1)/4 log π + Σ_{j<d} gammaln(a − j/2)``;
    differentiable in ``a`` (``d`` is a positive Python int).

    >>> import wengert as wg
    >>> round(float(wg.grad(lambda a: multigammaln(a, 1))(2.0)), 12)  # digamma(2)
    0.422784335098
    """
    if _isT(d, Tracer) or np.ndim(d) != 0 or int(d) != d or d < 1:
        raise TypeError(f"special.multigammaln: d must be a positive Python int, got {d!r}")
    d = int(d)
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _sp.multigammaln(a, d)
    out = gammaln(a)
    for j in range(1, d):
        out = out + gammaln(a - 0.5 * j)
    return out + d * (d - 1) / 4.0 * math.log(math.pi)


def ndtr(x, /):
    """Normal CDF ``Φ(x) = erfc(-x/√2)/2``."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _sp.ndtr(x)
    return erfc(x * (-1.0 / math.sqrt(2.0))) * 0.5


def logit(x, /):
    """``log(x / (1 - x))`` as ``log x - log1p(-x)``."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _sp.logit(x)
    return F.log(x) - F.log1p(-x)


def xlogy(x, y, /):
    """``x · log(y)``, 0 where ``x == 0`` (and ``y <= 0``)."""
    x, y = lift(x), lift(y)
    if not any_tracer((x, y)):
        return _sp.xlogy(x, y)
    x, y = as_operand(x), as_operand(y)
    y_safe = F.where(F.logical_and(F.equal(x, 0), F.less_equal(y, 0)), 1.0, y)
    return F.multiply(x, F.log(y_safe))


def xlog1py(x, y, /):
    """``x · log1p(y)``, 0 where ``x == 0`` (and ``y <= -1``)."""
    x, y = lift(x), lift(y)
    if not any_tracer((x, y)):
        return _sp.xlog1py(x, y)
    x, y = as_operand(x), as_operand(y)
    y_safe = F.where(F.logical_and(F.equal(x, 0), F.less_equal(y, -1)), 0.0, y)
    return F.multiply(x, F.log1p(y_safe))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b · exp(a)))`` over ``axis``, computed stably.

    The maximum is subtracted first (and held constant: the result does not
    depend on it), so entries like 1e308 do not overflow; ``-inf`` entries
    contribute 0 and get gradient 0; an all ``-inf`` slice gives ``-inf``
    with gradient 0.  ``b`` weights the terms (it may be negative: then use
    ``return_sign=True`` to get ``(log|s|, sign(s))``).

    >>> import wengert as wg, wengert.numpy as wnp
    >>> g = wg.grad(lambda x: logsumexp(x))(wnp.array([0.0, -wnp.inf]))
    >>> g
    array([1., 0.])
    """
    a, b = lift(a), lift(b)
    if not any_tracer((a, b)):
        return _sp.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
    a = as_operand(a)
    if b is not None:
        b = as_operand(b)
        shape = np.broadcast_shapes(shape_of(a), shape_of(b))
        a, b = F.broadcast_to(a, shape), F.broadcast_to(b, shape)
    shape = tuple(shape_of(a))
    axes = norm_axes(axis, len(shape), "logsumexp")
    m = F.stop_gradient(F.max(a, axis=axes, keepdims=True)) if axes else F.stop_gradient(a)
    m = F.where(F.isfinite(m), m, 0.0)
    e = F.exp(a - m)
    if b is not None:
        e = b * e
    s = F.sum(e, axis=axes, keepdims=True) if axes else e
    sign = None
    if return_sign:
        sign = F.sign(s)
        s = F.abs(s)
    zero = F.equal(s, 0)
    out = F.where(zero, -np.inf, F.log(F.where(zero, 1.0, s))) + m
    if not keepdims and axes:
        out = F.squeeze(out, axis=axes)
        if sign is not None:
            sign = F.squeeze(sign, axis=axes)
    return (out, sign) if return_sign else out


def softmax(x, axis=None):
    """``exp(x - logsumexp(x, axis, keepdims=True))``."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _sp.softmax(x, axis=axis)
    return F.exp(x - logsumexp(x, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis, keepdims=True)``."""
    if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
        return _sp.log_softmax(x, axis=axis)
    return x - logsumexp(x, axis=axis, keepdims=True)
