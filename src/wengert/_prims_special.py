"""Special-function primitives (SciPy implementations, imported lazily).

Elementwise and nonlinear; each JVP rule is the derivative written with
primitives, so every order works:

* ``gammaln′ = digamma``, ``digamma′ = polygamma(1, ·)``,
  ``polygamma(n, ·)′ = polygamma(n + 1, ·)``;
* ``erf′ = 2/√π e^{−x²}``, ``erfc′ = −erf′``, ``erfinv′ = √π/2 e^{erfinv²}``;
* ``expit′ = expit (1 − expit)``;
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
           "log_ndtr_p", "ndtri_p", "scipy_special"]

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


def _register():
    from ._vmap import _elementwise, register_batch_rule

    for p in (gammaln_p, digamma_p, polygamma_p, erf_p, erfc_p, erfinv_p, expit_p, log_ndtr_p,
              ndtri_p):
        register_batch_rule(p, _elementwise(p))


_register()
