"""Special-function primitives (SciPy implementations, imported lazily).

Elementwise and nonlinear; each JVP rule is the derivative written with
primitives, so every order works:

* ``gammaln′ = digamma``, ``digamma′ = polygamma(1, ·)``,
  ``polygamma(n, ·)′ = polygamma(n + 1, ·)``;
* ``erf′ = 2/√π e^{−x²}``, ``erfc′ = −erf′``, ``erfinv′ = √π/2 e^{erfinv²}``;
* ``expit′ = expit (1 − expit)``;
* ``gamma′ = gamma · digamma``, ``rgamma′ = −rgamma · digamma``,
  ``erfcx′ = 2x erfcx − 2/√π``, ``erfcinv′ = −√π/2 e^{erfcinv²}``;
* Bessel functions: ``j0′ = −j1``, ``j1′ = (j0 − jv(2, ·))/2``, likewise ``y``;
  ``i0′ = i1``, ``i1′ = (i0 + iv(2, ·))/2``; ``jv(v, ·)′ = (jv(v−1) − jv(v+1))/2``
  (``yv``, ``yn`` alike; SciPy's ``jn`` is ``jv``), ``iv(v, ·)′ = (iv(v−1) + iv(v+1))/2``, and the
  scaled ``ive(v, x) = iv(v, x) e^{−|x|}``: ``ive′ = (ive(v−1) + ive(v+1))/2 − sign(x) ive``;
* ``gammainc(a, x)`` in ``x``: ``x^{a−1} e^{−x} / Γ(a)`` (``gammaincc`` its negative),
  ``betainc(a, b, x)`` in ``x``: ``x^{a−1} (1−x)^{b−1} / B(a, b)``, ``stdtr(df, t)``
  in ``t``: Student's t density.  The orders and shape parameters (``v``, ``n``,
  ``a``, ``b``, ``df``) may be traced (vmap, jit) but have
  no derivative: differentiating with respect to one raises a ``TypeError`` naming it;
* ``log_ndtr′ = φ(x)/Φ(x) = exp(−x²/2 − log_ndtr(x)) / √(2π)`` (stable far
  into the left tail, where Φ underflows).

Importing this module does not import SciPy; the implementations do.
"""

from __future__ import annotations

import math

import numpy as np

from . import _prims as P
from ._prims import defprim

__all__ = ["gammaln_p", "digamma_p", "polygamma_p", "erf_p", "erfc_p", "erfinv_p", "expit_p",
           "log_ndtr_p", "ndtri_p", "scipy_special", "gamma_p", "rgamma_p", "erfcx_p", "erfcinv_p",
           "j0_p", "j1_p", "y0_p", "y1_p", "i0_p", "i1_p", "i0e_p", "i1e_p", "jv_p", "yv_p", "iv_p",
           "ive_p", "yn_p", "gammainc_p", "gammaincc_p", "betainc_p", "stdtr_p"]

MISSING = ("wengert.scipy needs SciPy, an optional dependency: install it with "
           "`pip install wengert[scipy]` (or `pip install scipy`).")


def scipy_special():
    """``scipy.special``, or an ImportError that says how to install it."""
    try:
        import scipy.special as sp
    except ImportError as e:  # pragma: no cover - exercised in a subprocess test
        raise ImportError(MISSING) from e
    return sp


def _sp(name):
    def impl(x, *params):
        fn = getattr(scipy_special(), name)
        r = fn(*params, x) if params else fn(x)
        dt = getattr(x, "dtype", None)
        if dt is not None and dt.kind == "f" and r.dtype != dt:  # polygamma upcasts float32
            r = np.asarray(r).astype(dt)[()]
        return r
    impl.__name__ = name
    return impl


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _u(name, rule, domain):
    return defprim(name, _sp(name), 1, jvps=(rule,), test={"domain": domain})


gammaln_p = _u("gammaln", lambda t, ans, x: t * digamma_p.bind(x), (0.5, 3.0))
digamma_p = _u("digamma", lambda t, ans, x: t * polygamma_p.bind(x, 1), (0.5, 3.0))
# polygamma(x, n): the order n is a static parameter (scipy's argument order is (n, x))
polygamma_p = _u("polygamma", lambda t, ans, x, n: t * polygamma_p.bind(x, n + 1), (0.5, 3.0))
erf_p = _u("erf", lambda t, ans, x: t * (P.exp(-(x * x)) * _TWO_OVER_SQRT_PI), (-2.0, 2.0))
erfc_p = _u("erfc", lambda t, ans, x: t * (P.exp(-(x * x)) * -_TWO_OVER_SQRT_PI), (-2.0, 2.0))
erfinv_p = _u("erfinv", lambda t, ans, x: t * (P.exp(ans * ans) * _SQRT_PI_OVER_2), (-0.9, 0.9))
expit_p = _u("expit", lambda t, ans, x: t * (ans * (1.0 - ans)), (-3.0, 3.0))
log_ndtr_p = _u("log_ndtr", lambda t, ans, x: t * (P.exp(x * x * -0.5 - ans) * _INV_SQRT_2PI),
                (-3.0, 3.0))
# ndtri = Φ⁻¹: its derivative is 1/φ(ndtri) = √(2π) e^{ndtri²/2}
ndtri_p = _u("ndtri", lambda t, ans, x: t * (P.exp(ans * ans * 0.5) * math.sqrt(2.0 * math.pi)),
             (0.1, 0.9))


gamma_p = _u("gamma", lambda t, ans, x: t * (ans * digamma_p.bind(x)), (0.5, 3.0))
rgamma_p = _u("rgamma", lambda t, ans, x: t * -(ans * digamma_p.bind(x)), (0.5, 3.0))
erfcx_p = _u("erfcx", lambda t, ans, x: t * (x * ans * 2.0 - _TWO_OVER_SQRT_PI), (-2.0, 2.0))
erfcinv_p = _u("erfcinv", lambda t, ans, x: t * (P.exp(ans * ans) * -_SQRT_PI_OVER_2), (0.1, 1.9))
j0_p = _u("j0", lambda t, ans, x: t * -j1_p.bind(x), (0.5, 3.0))
j1_p = _u("j1", lambda t, ans, x: t * ((j0_p.bind(x) - jv_p.bind(2.0, x)) * 0.5), (0.5, 3.0))
y0_p = _u("y0", lambda t, ans, x: t * -y1_p.bind(x), (0.5, 3.0))
y1_p = _u("y1", lambda t, ans, x: t * ((y0_p.bind(x) - yv_p.bind(2.0, x)) * 0.5), (0.5, 3.0))
i0_p = _u("i0", lambda t, ans, x: t * i1_p.bind(x), (-2.0, 2.0))
i1_p = _u("i1", lambda t, ans, x: t * ((i0_p.bind(x) + iv_p.bind(2.0, x)) * 0.5), (-2.0, 2.0))


i0e_p = _u("i0e", lambda t, ans, x: t * (i1e_p.bind(x) - P.sign(x) * ans), (0.5, 2.0))
i1e_p = _u("i1e", lambda t, ans, x: t * ((i0e_p.bind(x) + ive_p.bind(2.0, x)) * 0.5 - P.sign(x) * ans),
           (0.5, 2.0))


# --- functions of (parameter, x): derivatives in x; the parameter has none


def _sp2(name):
    def impl(*args):
        r = getattr(scipy_special(), name)(*args)
        dt = np.result_type(*args)
        if dt.kind == "f" and r.dtype != dt:
            r = np.asarray(r).astype(dt)[()]
        return r
    impl.__name__ = name
    return impl


def _no_param_derivative(name, arg):
    def rule(t, ans, *primals):
        raise TypeError(
            f"special.{name}: no derivative with respect to the parameter {arg!r} (only with "
            f"respect to x); hold it constant, e.g. wg.stop_gradient({arg}), or differentiate "
            f"with respect to x only")
    return rule


def _px(name, x_rule, params, domain):
    jvps = tuple(_no_param_derivative(name, a) for a in params) + (x_rule,)
    return defprim(name, _sp2(name), len(params) + 1, jvps=jvps, test={"domain": domain})


jv_p = _px("jv", lambda t, ans, v, x: t * ((jv_p.bind(v - 1.0, x) - jv_p.bind(v + 1.0, x)) * 0.5),
           ("v",), (0.5, 3.0))
yv_p = _px("yv", lambda t, ans, v, x: t * ((yv_p.bind(v - 1.0, x) - yv_p.bind(v + 1.0, x)) * 0.5),
           ("v",), (0.5, 3.0))
iv_p = _px("iv", lambda t, ans, v, x: t * ((iv_p.bind(v - 1.0, x) + iv_p.bind(v + 1.0, x)) * 0.5),
           ("v",), (0.5, 3.0))
ive_p = _px("ive", lambda t, ans, v, x: t * ((ive_p.bind(v - 1.0, x) + ive_p.bind(v + 1.0, x)) * 0.5
                                             - P.sign(x) * ans), ("v",), (0.5, 3.0))
yn_p = _px("yn", lambda t, ans, n, x: t * ((yn_p.bind(n - 1, x) - yn_p.bind(n + 1, x)) * 0.5),
           ("n",), (0.5, 3.0))


def _lgamma(a):
    """gammaln of a parameter: a Python float for a Python number (a weak
    scalar: float32 x stays float32), else the primitive."""
    return math.lgamma(a) if type(a) in (int, float) else gammaln_p.bind(a)


def _gammainc_dx(t, ans, a, x):
    return t * P.exp((a - 1.0) * P.log(x) - x - _lgamma(a))


gammainc_p = _px("gammainc", _gammainc_dx, ("a",), (0.5, 3.0))
gammaincc_p = _px("gammaincc", lambda t, ans, a, x: -_gammainc_dx(t, ans, a, x), ("a",), (0.5, 3.0))


def _betainc_dx(t, ans, a, b, x):
    lb = _lgamma(a) + _lgamma(b) - _lgamma(a + b)
    return t * P.exp((a - 1.0) * P.log(x) + (b - 1.0) * P.log1p_p.bind(-x) - lb)


betainc_p = _px("betainc", _betainc_dx, ("a", "b"), (0.1, 0.9))


def _stdtr_dt(t, ans, df, x):
    # Student's t density: Γ((ν+1)/2) / (Γ(ν/2) √(νπ)) (1 + x²/ν)^{−(ν+1)/2}
    h = (df + 1.0) * 0.5
    if type(df) in (int, float):
        logc = math.lgamma(h) - math.lgamma(df * 0.5) - math.log(df * math.pi) * 0.5
    else:
        logc = gammaln_p.bind(h) - gammaln_p.bind(df * 0.5) - P.log(df * math.pi) * 0.5
    return t * P.exp(logc - P.log1p_p.bind(x * x / df) * h)


stdtr_p = _px("stdtr", _stdtr_dt, ("df",), (-2.0, 2.0))


def _register():
    from ._vmap import _elementwise, register_batch_rule

    for p in (gammaln_p, digamma_p, polygamma_p, erf_p, erfc_p, erfinv_p, expit_p, log_ndtr_p,
              ndtri_p, gamma_p, rgamma_p, erfcx_p, erfcinv_p, j0_p, j1_p, y0_p, y1_p, i0_p, i1_p,
              i0e_p, i1e_p, jv_p, yv_p, iv_p, ive_p, yn_p, gammainc_p, gammaincc_p, betainc_p, stdtr_p):
        register_batch_rule(p, _elementwise(p))


_register()
