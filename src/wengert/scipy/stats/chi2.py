"""``wengert.scipy.stats.chi2``: the chi-squared distribution, a gamma
distribution of shape ``df/2`` and scale 2.

``logpdf``/``pdf`` are differentiable in ``x``, ``df``, ``loc`` and
``scale``; ``cdf`` in ``x``, ``loc`` and ``scale`` — a derivative in ``df``
raises a ``TypeError`` naming it.  Outside transformations each function is
SciPy's own.

>>> import wengert as wg
>>> from wengert.scipy.stats import chi2
>>> round(float(wg.grad(chi2.cdf)(1.5, 2.0)), 12) == round(float(chi2.pdf(1.5, 2.0)), 12)
True
"""

from __future__ import annotations

import math
from typing import Any

from ... import numpy as wnp
from ._util import standardize, traced
from .gamma import _cdf_z, _logpdf_z

__all__ = ["pdf", "logpdf", "cdf"]


def _st():
    import scipy.stats
    return scipy.stats.chi2


def logpdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """The gamma log density of ``z/2`` with shape ``df/2``, minus ``log 2σ``."""
    if not traced(x, df, loc, scale):
        return _st().logpdf(x, df, loc, scale)
    z, logs = standardize(x, loc, scale)
    return _logpdf_z(z * 0.5, wnp.multiply(df, 0.5), logs + math.log(2.0))


def pdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``exp(logpdf)``."""
    if not traced(x, df, loc, scale):
        return _st().pdf(x, df, loc, scale)
    return wnp.exp(logpdf(x, df, loc, scale))


def cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``gammainc(df/2, z/2)``; differentiable in ``x``, ``loc`` and ``scale``."""
    if not traced(x, df, loc, scale):
        return _st().cdf(x, df, loc, scale)
    z, _ = standardize(x, loc, scale)
    return _cdf_z(z * 0.5, wnp.multiply(df, 0.5), "stats.chi2.cdf", "df")
