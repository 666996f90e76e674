"""``wengert.scipy.special``: differentiable special functions.

Outside transformations each function is SciPy's own.  Under them,
``erf erfc erfinv gammaln digamma polygamma expit ndtri log_ndtr`` are
primitives (``wengert._prims_special``) and the rest are compositions:

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

import numpy as np

from .. import _prims_special as SP
from .._core import Tracer
from ..numpy import _funcs as F
from ..numpy._base import any_tracer, as_operand, lift, norm_axes, shape_of

_sp = SP.scipy_special()  # a clear ImportError (pip install wengert[scipy]) if SciPy is missing

__all__ = ["logsumexp", "softmax", "log_softmax", "expit", "logit", "erf", "erfc", "erfinv",
           "gammaln", "digamma", "psi", "polygamma", "xlogy", "xlog1py", "ndtr", "log_ndtr",
           "ndtri"]

_isT = isinstance


def _unary(name, p, doc):
    npf = getattr(_sp, name)
    bind = p.bind

    def f(x, /):
        if _isT(x, Tracer) or _isT(x := lift(x), Tracer):
            if np.dtype(x.dtype).kind not in "f":
                raise TypeError(f"special.{name}: expected a real floating input under a "
                                f"transformation, got {np.dtype(x.dtype).name}")
            return bind(x)
        return npf(x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``scipy.special.{name}``; {doc}"
    return f


erf = _unary("erf", SP.erf_p, "derivative 2/√π e^{−x²}.")
erfc = _unary("erfc", SP.erfc_p, "derivative −2/√π e^{−x²}.")
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
