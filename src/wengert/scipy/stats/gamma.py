"""``wengert.scipy.stats.gamma``: the gamma distribution (shape ``a``).

``logpdf``/``pdf`` are differentiable in ``x``, ``a``, ``loc`` and ``scale``;
``cdf`` (``special.gammainc``) in ``x``, ``loc`` and ``scale`` — a
derivative in ``a`` raises a ``TypeError`` naming it.  Below the support the
density is 0 (``logpdf`` ``-inf``) with derivative 0.  Outside
transformations each function is SciPy's own.

>>> import wengert as wg
>>> from wengert.scipy.stats import gamma
>>> round(float(wg.grad(gamma.logpdf)(2.0, 3.0)), 12)  # (a - 1)/x - 1
0.0
"""

from __future__ import annotations

from typing import Any

from ... import numpy as wnp
from .. import special as S
from ._util import no_parameter_derivative, standardize, traced

__all__ = ["pdf", "logpdf", "cdf"]


def _st():
    import scipy.stats
    return scipy.stats.gamma


def _logpdf_z(z, a, logs):
    """log density of the standardized variable, −inf below 0."""
    inside = z >= 0
    zs = wnp.where(inside, z, 1.0)
    v = S.xlogy(wnp.subtract(a, 1.0), zs) - zs - S.gammaln(a) - logs
    return wnp.where(inside, v, -wnp.inf)


def _cdf_z(z, a, fname, argname):
    inside = z > 0
    with no_parameter_derivative(fname, {"a": argname}):
        v = S.gammainc(a, wnp.where(inside, z, 1.0))
    return wnp.where(inside, v, 0.0)


def logpdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``(a−1) log z − z − log Γ(a) − log σ`` for ``z ≥ 0``."""
    if not traced(x, a, loc, scale):
        return _st().logpdf(x, a, loc, scale)
    z, logs = standardize(x, loc, scale)
    return _logpdf_z(z, a, logs)


def pdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``exp(logpdf)``."""
    if not traced(x, a, loc, scale):
        return _st().pdf(x, a, loc, scale)
    return wnp.exp(logpdf(x, a, loc, scale))


def cdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``gammainc(a, z)`` (0 below the support); differentiable in ``x``, ``loc`` and ``scale``."""
    if not traced(x, a, loc, scale):
        return _st().cdf(x, a, loc, scale)
    z, _ = standardize(x, loc, scale)
    return _cdf_z(z, a, "stats.gamma.cdf", "a")
