"""``wengert.scipy.stats.dirichlet``: the Dirichlet distribution.

``x`` follows SciPy's layout: the components along the *first* axis, shape
``(K,)`` or ``(K, N)`` for ``N`` points, or ``K − 1`` components (the last is
``1 − Σ x``).  ``logpdf``/``pdf`` are differentiable in ``x`` and ``alpha``.
Outside transformations each function is SciPy's own (which also checks
that ``x`` lies in the simplex; under transformations ``x`` is not checked).

>>> import numpy as np, wengert as wg
>>> from wengert.scipy.stats import dirichlet
>>> g = wg.grad(lambda al: dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), al))(np.ones(3))
>>> bool(np.allclose(g, np.log([0.2, 0.3, 0.5]) + 1.5))  # log x + digamma(3) - digamma(1)
True
"""

from __future__ import annotations

from typing import Any

from ... import numpy as wnp
from ...numpy._base import shape_of
from .. import special as S
from ._util import traced

__all__ = ["pdf", "logpdf"]


def _st():
    import scipy.stats
    return scipy.stats.dirichlet


def logpdf(x: Any, alpha: Any) -> Any:
    """``Σ (α_i − 1) log x_i + log Γ(Σ α) − Σ log Γ(α_i)``."""
    if not traced(x, alpha):
        return _st().logpdf(x, alpha)
    x, alpha = wnp.asarray(x), wnp.asarray(alpha)
    if len(shape_of(alpha)) != 1:
        raise ValueError(f"stats.dirichlet.logpdf: alpha must be one-dimensional, got shape {shape_of(alpha)}")
    k = shape_of(alpha)[0]
    xs = tuple(shape_of(x))
    if not xs or xs[0] not in (k, k - 1):
        raise ValueError(f"stats.dirichlet.logpdf: x must have {k} or {k - 1} components along its first "
                         f"axis (alpha has {k}), got shape {xs}")
    if xs[0] == k - 1:
        last = 1.0 - wnp.sum(x, axis=0, keepdims=True)
        x = wnp.concatenate([x, last], axis=0)
    am1 = wnp.reshape(alpha - 1.0, (k,) + (1,) * (len(xs) - 1))
    lnb = wnp.sum(S.gammaln(alpha)) - S.gammaln(wnp.sum(alpha))
    out = wnp.sum(S.xlogy(am1, x), axis=0) - lnb
    return wnp.squeeze(out) if len(xs) > 1 else out


def pdf(x: Any, alpha: Any) -> Any:
    """``exp(logpdf)``."""
    if not traced(x, alpha):
        return _st().pdf(x, alpha)
    return wnp.exp(logpdf(x, alpha))
