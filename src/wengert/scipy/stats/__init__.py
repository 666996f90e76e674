"""``wengert.scipy.stats``: differentiable distributions (``norm``).

>>> from wengert.scipy.stats import norm
>>> round(float(norm.cdf(0.0)), 6)
0.5
"""

from __future__ import annotations

from .. import special as _special  # noqa: F401  (checks that SciPy is installed)
from . import norm

__all__ = ["norm"]
