"""``wengert.scipy.stats.beta``: the beta distribution on ``[loc, loc + scale]``.

``logpdf``/``pdf`` are differentiable in ``x``, ``a``, ``b``, ``loc`` and
``scale``; ``cdf`` (``special.betainc``) in ``x``, ``loc`` and ``scale`` — a
derivative in ``a`` or ``b`` raises a ``TypeError`` naming it.  Outside the
support the density is 0 (``logpdf`` ``-inf``) with derivative 0, as in
SciPy.  Outside transformations each function is SciPy's own.

>>> import wengert as wg
>>> from wengert.scipy.stats import beta
>>> round(float(wg.grad(beta.logpdf)(0.5, 2.0, 2.0)), 12)  # d/dx [log x + log(1 - x)]
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
    return scipy.stats.beta


def _betaln(a, b):
    return S.gammaln(a) + S.gammaln(b) - S.gammaln(wnp.add(a, b))


def logpdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``(a−1) log z + (b−1) log(1−z) − log B(a, b) − log σ`` on ``0 ≤ z ≤ 1``."""
    if not traced(x, a, b, loc, scale):
        return _st().logpdf(x, a, b, loc, scale)
    z, logs = standardize(x, loc, scale)
    inside = wnp.logical_and(z >= 0, z <= 1)
    zs = wnp.where(inside, z, 0.5)
    v = S.xlogy(wnp.subtract(a, 1.0), zs) + S.xlog1py(wnp.subtract(b, 1.0), -zs) - _betaln(a, b) - logs
    return wnp.where(inside, v, -wnp.inf)


def pdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``exp(logpdf)``."""
    if not traced(x, a, b, loc, scale):
        return _st().pdf(x, a, b, loc, scale)
    return wnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``betainc(a, b, z)`` (0 below the support, 1 above); differentiable in
    ``x``, ``loc`` and ``scale``."""
    if not traced(x, a, b, loc, scale):
        return _st().cdf(x, a, b, loc, scale)
    z, _ = standardize(x, loc, scale)
    inside = wnp.logical_and(z > 0, z < 1)
    with no_parameter_derivative("stats.beta.cdf", {"a": "a", "b": "b"}):
        v = S.betainc(a, b, wnp.where(inside, z, 0.5))
    return wnp.where(inside, v, wnp.where(z <= 0, 0.0, 1.0))
