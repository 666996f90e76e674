"""Weight initialisers: ``init(rng, shape, fan_in, fan_out, dtype)`` -> array.

- ``glorot_uniform`` / ``glorot_normal`` (Xavier): variance ``2 / (fan_in + fan_out)``,
  for tanh / sigmoid / linear layers.
- ``he_uniform`` / ``he_normal`` (Kaiming): variance ``2 / fan_in``, for ReLU layers.
- ``lecun_normal``: variance ``1 / fan_in``; ``zeros``; ``uniform_fan_in``: PyTorch's
  ``nn.Linear`` default, ``U(-1/√fan_in, 1/√fan_in)``.

>>> import numpy as np
>>> w = he_normal(np.random.default_rng(0), (4000, 50), fan_in=50, fan_out=4000)
>>> round(float(w.var() * 50), 1)
2.0
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["glorot_uniform", "glorot_normal", "xavier_uniform", "xavier_normal", "he_uniform",
           "he_normal", "kaiming_uniform", "kaiming_normal", "lecun_normal", "uniform_fan_in",
           "zeros", "get", "make_rng"]


def glorot_uniform(rng, shape, fan_in, fan_out, dtype=np.float64):
    """``U(-a, a)`` with ``a = √(6 / (fan_in + fan_out))``."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def glorot_normal(rng, shape, fan_in, fan_out, dtype=np.float64):
    """``N(0, 2 / (fan_in + fan_out))``."""
    return (rng.standard_normal(shape) * math.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_uniform(rng, shape, fan_in, fan_out, dtype=np.float64):
    """``U(-a, a)`` with ``a = √(6 / fan_in)``."""
    a = math.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


def he_normal(rng, shape, fan_in, fan_out, dtype=np.float64):
    """``N(0, 2 / fan_in)``."""
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


def lecun_normal(rng, shape, fan_in, fan_out, dtype=np.float64):
    """``N(0, 1 / fan_in)``."""
    return (rng.standard_normal(shape) * math.sqrt(1.0 / fan_in)).astype(dtype)


def uniform_fan_in(rng, shape, fan_in, fan_out, dtype=np.float64):
    """``U(-1/√fan_in, 1/√fan_in)`` (PyTorch's default for ``nn.Linear``)."""
    a = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


def zeros(rng, shape, fan_in, fan_out, dtype=np.float64):
    """All zeros."""
    return np.zeros(shape, dtype=dtype)


xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal

_BY_NAME = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                                     lecun_normal, uniform_fan_in, zeros)}
_BY_NAME.update(xavier_uniform=glorot_uniform, xavier_normal=glorot_normal,
                kaiming_uniform=he_uniform, kaiming_normal=he_normal,
                glorot=glorot_uniform, xavier=glorot_uniform, he=he_normal, kaiming=he_normal,
                lecun=lecun_normal, torch=uniform_fan_in)


def get(init):
    """An initialiser from its name (``"glorot_uniform"``, ``"he"``, ...) or a callable."""
    if callable(init):
        return init
    try:
        return _BY_NAME[init]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initialiser {init!r}; use one of {sorted(_BY_NAME)} or a "
                         "callable init(rng, shape, fan_in, fan_out, dtype)") from None


def make_rng(rng=None, key=None, seed=None, caller="nn"):
    """One ``np.random.Generator`` from whichever of ``rng=``, ``key=``, ``seed=`` is given
    (an int or a Generator); a fresh unseeded one when none is."""
    given = [v for v in (rng, key, seed) if v is not None]
    if len(given) > 1:
        raise TypeError(f"{caller}: give at most one of rng=, key=, seed=")
    if not given:
        return np.random.default_rng()
    r = given[0]
    if isinstance(r, np.random.Generator):
        return r
    if isinstance(r, np.random.RandomState):
        return np.random.default_rng(r.randint(2 ** 31))
    return np.random.default_rng(r)
