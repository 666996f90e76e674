"""``wengert.scipy.stats.poisson``: the Poisson distribution with mean ``mu``.

Differentiable in ``mu``.  ``k`` (and ``loc``) are counts: like any
piecewise-constant input (``floor``, comparisons) they get derivative 0.
``pmf`` is 0 (``logpmf`` ``-inf``) at non-integer or negative ``k``, as in
SciPy.  Outside transformations each function is SciPy's own.

>>> import wengert as wg
>>> from wengert.scipy.stats import poisson
>>> round(float(wg.grad(lambda mu: poisson.logpmf(3.0, mu))(2.0)), 12)  # k/mu - 1
0.5
"""

from __future__ import annotations

from typing import Any

from ... import numpy as wnp
from ...numpy import _funcs as F
from .. import special as S
from ._util import traced

__all__ = ["pmf", "logpmf", "cdf"]


def _st():
    import scipy.stats
    return scipy.stats.poisson


def _count(k, loc):
    return F.stop_gradient(wnp.subtract(k, loc))


def logpmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """``k log mu − log k! − mu`` at integer ``k ≥ 0``, ``-inf`` elsewhere."""
    if not traced(k, mu, loc):
        return _st().logpmf(k, mu, loc)
    k = _count(k, loc)
    ok = wnp.logical_and(k >= 0, wnp.floor(k) == k)
    ks = wnp.where(ok, k, 0.0)
    v = S.xlogy(ks, mu) - S.gammaln(ks + 1.0) - mu
    return wnp.where(ok, v, -wnp.inf)


def pmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """``exp(logpmf)``."""
    if not traced(k, mu, loc):
        return _st().pmf(k, mu, loc)
    return wnp.exp(logpmf(k, mu, loc))


def cdf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """``P(K ≤ k) = gammaincc(floor(k) + 1, mu)`` (0 for ``k < 0``); its
    derivative in ``mu`` is ``−pmf(floor(k), mu)``."""
    if not traced(k, mu, loc):
        return _st().cdf(k, mu, loc)
    k = _count(k, loc)
    ok = k >= 0
    v = S.gammaincc(wnp.floor(wnp.where(ok, k, 0.0)) + 1.0, mu)
    return wnp.where(ok, v, 0.0)
