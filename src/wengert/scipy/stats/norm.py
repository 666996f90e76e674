"""``wengert.scipy.stats.norm``: the normal distribution, differentiable in
``x``, ``loc`` and ``scale``.

``logcdf``/``logsf`` use ``log_ndtr``, accurate far into the tails (where
``log(cdf)`` would give ``-inf``), and so are their derivatives.

>>> import wengert as wg
>>> from wengert.scipy.stats import norm
>>> round(float(wg.grad(norm.logpdf)(1.0)), 12)
-1.0
"""

from __future__ import annotations

import math

from ... import numpy as wnp
from .. import special as S

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _z(x, loc, scale):
    return wnp.divide(wnp.subtract(x, loc), scale)


def logpdf(x, loc=0.0, scale=1.0):
    """``-z²/2 - log(scale) - log(2π)/2`` with ``z = (x - loc)/scale``."""
    z = _z(x, loc, scale)
    return wnp.subtract(wnp.multiply(wnp.multiply(z, z), -0.5), wnp.add(wnp.log(scale), _HALF_LOG_2PI))


def pdf(x, loc=0.0, scale=1.0):
    """``exp(logpdf)``."""
    return wnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """``Φ(z)`` (``special.ndtr``)."""
    return S.ndtr(_z(x, loc, scale))


def logcdf(x, loc=0.0, scale=1.0):
    """``log Φ(z)`` (``special.log_ndtr``), accurate in the left tail."""
    return S.log_ndtr(_z(x, loc, scale))


def sf(x, loc=0.0, scale=1.0):
    """Survival function ``1 - Φ(z) = Φ(-z)``."""
    return S.ndtr(wnp.negative(_z(x, loc, scale)))


def logsf(x, loc=0.0, scale=1.0):
    """``log Φ(-z)``."""
    return S.log_ndtr(wnp.negative(_z(x, loc, scale)))


def ppf(q, loc=0.0, scale=1.0):
    """Quantile ``loc + scale · Φ⁻¹(q)``."""
    return wnp.add(loc, wnp.multiply(scale, S.ndtri(q)))
