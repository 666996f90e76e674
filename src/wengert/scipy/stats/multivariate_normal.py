"""``wengert.scipy.stats.multivariate_normal``: the multivariate normal
distribution, differentiable in ``x``, ``mean`` and ``cov``.

``cov`` may be a scalar (``cov · I``), a vector (a diagonal) or a matrix; as
in SciPy, a matrix is read from its lower triangle (the Cholesky factor of
``wnp.linalg.cholesky``), so the derivative in ``cov`` is that of SciPy's
own function (an entry above the diagonal has derivative 0).  ``x`` has the
dimension along its last axis; the result is squeezed as SciPy's.  Outside
transformations each function is SciPy's own.

>>> import numpy as np, wengert as wg
>>> from wengert.scipy.stats import multivariate_normal as mvn
>>> g = wg.grad(lambda x: mvn.logpdf(x, np.zeros(2), np.eye(2)))(np.array([1.0, 2.0]))
>>> g  # -x
array([-1., -2.])
"""

from __future__ import annotations

import math
from typing import Any

from ... import numpy as wnp
from ...numpy._base import shape_of
from ._util import traced

__all__ = ["pdf", "logpdf", "entropy"]

_LOG_2PI = math.log(2.0 * math.pi)


def _st():
    import scipy.stats
    return scipy.stats.multivariate_normal


def _dim_cov(mean, cov, fname):
    """(d, mean, lower Cholesky factor) from SciPy's accepted forms."""
    cs = tuple(shape_of(cov))
    ms = tuple(shape_of(mean)) if mean is not None else None
    if ms is not None and len(ms) > 1:
        raise ValueError(f"{fname}: mean must be a scalar or a vector, got shape {ms}")
    d = ms[0] if ms else (cs[0] if cs else 1)
    if len(cs) == 0:
        chol = wnp.sqrt(cov) * wnp.eye(d)
    elif len(cs) == 1:
        if cs[0] != d:
            raise ValueError(f"{fname}: cov of shape {cs} does not match the dimension {d}")
        chol = wnp.diag(wnp.sqrt(cov))
    elif len(cs) == 2 and cs == (d, d):
        chol = wnp.linalg.cholesky(cov)
    else:
        raise ValueError(f"{fname}: cov must be a scalar, a vector or a ({d}, {d}) matrix, got shape {cs}")
    mean = wnp.zeros(d) if mean is None else wnp.broadcast_to(mean, (d,))
    return d, mean, chol


def _check_singular(allow_singular, fname):
    if allow_singular:
        raise ValueError(f"{fname}: allow_singular=True is not supported under wengert's transformations "
                         f"(it needs the pseudo-determinant); pass a positive-definite cov")


def logpdf(x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Any:
    """``−½ (d log 2π + log det Σ + (x−μ)ᵀ Σ⁻¹ (x−μ))``."""
    if not traced(x, mean, cov):
        return _st().logpdf(x, mean, cov, allow_singular=allow_singular)
    _check_singular(allow_singular, "stats.multivariate_normal.logpdf")
    d, mean, chol = _dim_cov(mean, cov, "stats.multivariate_normal.logpdf")
    x = wnp.asarray(x)
    xs = tuple(shape_of(x))
    if d == 1 and (not xs or xs[-1] != 1):
        x = wnp.reshape(x, xs + (1,))
        xs = xs + (1,)
    if not xs or xs[-1] != d:
        raise ValueError(f"stats.multivariate_normal.logpdf: x must have the dimension {d} along its last "
                         f"axis, got shape {xs}")
    dev = wnp.reshape(wnp.subtract(x, mean), (-1, d))
    y = wnp.linalg.solve(chol, wnp.transpose(dev))  # L⁻¹ (x − μ)ᵀ
    maha = wnp.sum(y * y, axis=0)
    logdet = 2.0 * wnp.sum(wnp.log(wnp.diagonal(chol)))
    out = wnp.reshape(-0.5 * (maha + logdet + d * _LOG_2PI), xs[:-1])
    return wnp.squeeze(out)


def pdf(x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Any:
    """``exp(logpdf)``."""
    if not traced(x, mean, cov):
        return _st().pdf(x, mean, cov, allow_singular=allow_singular)
    return wnp.exp(logpdf(x, mean, cov, allow_singular))


def entropy(mean: Any = None, cov: Any = 1) -> Any:
    """``½ (d (1 + log 2π) + log det Σ)``; differentiable in ``cov``."""
    if not traced(mean, cov):
        return _st().entropy(mean, cov)
    d, _, chol = _dim_cov(mean, cov, "stats.multivariate_normal.entropy")
    logdet = 2.0 * wnp.sum(wnp.log(wnp.diagonal(chol)))
    return 0.5 * (d * (1.0 + _LOG_2PI) + logdet)
