"""``wengert.scipy.stats``: differentiable distributions: ``norm``, ``t``,
``beta``, ``gamma``, ``chi2``, ``poisson``, ``dirichlet`` and
``multivariate_normal`` (the functions autograd's ``scipy.stats`` has).

Each module mirrors SciPy's frozen-free interface (``norm.logpdf(x, loc,
scale)``, ``t.cdf(x, df, loc, scale)`` …): outside transformations it is
SciPy's own function; under them it is differentiable in ``x`` and the
parameters (a cdf in a shape parameter — ``df``, ``a``, ``b`` — raises a
``TypeError`` naming it).

>>> from wengert.scipy.stats import norm
>>> round(float(norm.cdf(0.0)), 6)
0.5
"""

from __future__ import annotations

from .. import special as _special  # noqa: F401  (checks that SciPy is installed)
from . import beta, chi2, dirichlet, gamma, multivariate_normal, norm, poisson, t

__all__ = ["norm", "t", "beta", "gamma", "chi2", "poisson", "dirichlet", "multivariate_normal"]
