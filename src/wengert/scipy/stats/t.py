"""``wengert.scipy.stats.t``: Student's t distribution.

``logpdf``/``pdf`` are differentiable in ``x``, ``df``, ``loc`` and ``scale``;
``cdf``/``logcdf`` (``special.stdtr``) in ``x``, ``loc`` and ``scale`` — a
derivative in ``df`` raises a ``TypeError`` naming it.  Outside
transformations each function is SciPy's own.

>>> import wengert as wg
>>> from wengert.scipy.stats import t
>>> round(float(wg.grad(t.cdf)(0.0, 3.0)), 12) == round(float(t.pdf(0.0, 3.0)), 12)
True
"""

from __future__ import annotations

import math
from typing import Any

from ... import numpy as wnp
from .. import special as S
from ._util import no_parameter_derivative, standardize, traced

__all__ = ["pdf", "logpdf", "cdf", "logcdf"]


def _st():
    import scipy.stats
    return scipy.stats.t


def logpdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπ) − log σ − (ν+1)/2 · log1p(z²/ν)``."""
    if not traced(x, df, loc, scale):
        return _st().logpdf(x, df, loc, scale)
    z, logs = standardize(x, loc, scale)
    h = wnp.multiply(wnp.add(df, 1.0), 0.5)
    c = S.gammaln(h) - S.gammaln(wnp.multiply(df, 0.5)) - 0.5 * wnp.log(wnp.multiply(df, math.pi))
    return c - logs - h * wnp.log1p(z * z / df)


def pdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``exp(logpdf)``."""
    if not traced(x, df, loc, scale):
        return _st().pdf(x, df, loc, scale)
    return wnp.exp(logpdf(x, df, loc, scale))


def cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``stdtr(ν, z)``; differentiable in ``x``, ``loc`` and ``scale``."""
    if not traced(x, df, loc, scale):
        return _st().cdf(x, df, loc, scale)
    z, _ = standardize(x, loc, scale)
    with no_parameter_derivative("stats.t.cdf", {"df": "df"}):
        return S.stdtr(df, z)


def logcdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    """``log(cdf)``; differentiable in ``x``, ``loc`` and ``scale``."""
    if not traced(x, df, loc, scale):
        return _st().logcdf(x, df, loc, scale)
    z, _ = standardize(x, loc, scale)
    with no_parameter_derivative("stats.t.logcdf", {"df": "df"}):
        return wnp.log(S.stdtr(df, z))
