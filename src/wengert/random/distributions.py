"""Distributions with ``sample`` and ``log_prob``, for :func:`wengert.expectation_grad`.

Each distribution holds its parameters (arrays or traced values) and has
``sample(key, shape=())`` (shape ``shape + batch_shape + event_shape``) and
``log_prob(x)`` (shape ``x.shape`` less the event axes).  Sampling is
differentiable in the parameters where ``reparameterized`` is true.  The
densities are :mod:`wengert.scipy.stats`' (so ``log_prob`` needs SciPy).

>>> import numpy as np, wengert as wg
>>> from wengert import random
>>> d = random.Normal(1.0, 2.0)
>>> d.sample(random.key(0), (3,)).shape
(3,)
>>> round(float(d.log_prob(1.0)), 6)  # -log(2) - log(2π)/2
-1.612086
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import numpy as wnp
from .._core import Tracer

__all__ = ["Distribution", "Normal", "Uniform", "Bernoulli", "Categorical", "Gamma", "Beta", "Dirichlet",
           "MultivariateNormal"]


def _f(x):
    """A parameter as a float array (traced values pass through)."""
    if isinstance(x, Tracer):
        return x if np.dtype(x.dtype).kind == "f" else wnp.asarray(x, dtype=np.float64)
    a = np.asarray(x)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _shape(x):
    return tuple(x.shape)


def _sample_shape(shape):
    if isinstance(shape, int):
        return (shape,)
    return tuple(int(s) for s in shape)


def _stats(name):
    import importlib
    return importlib.import_module(f"wengert.scipy.stats.{name}")


class Distribution:
    """Base class: ``sample(key, shape=())``, ``log_prob(x)``, ``batch_shape``,
    ``event_shape``, ``reparameterized`` (``sample`` has a pathwise
    derivative in the parameters) and ``mean``."""

    reparameterized = True
    batch_shape: tuple = ()
    event_shape: tuple = ()

    def sample(self, key: Any, shape: Any = ()) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError(f"{type(self).__name__}.sample")

    def log_prob(self, x: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError(f"{type(self).__name__}.log_prob")

    def __repr__(self):
        return f"{type(self).__name__}(batch_shape={self.batch_shape}, event_shape={self.event_shape})"


class Normal(Distribution):
    """``N(loc, scale²)``; ``sample = loc + scale · ε`` (reparameterised).

    >>> import wengert as wg
    >>> from wengert import random
    >>> float(wg.grad(lambda m: random.Normal(m, 1.0).log_prob(0.5))(0.0))
    0.5
    """

    def __init__(self, loc: Any = 0.0, scale: Any = 1.0):
        self.loc, self.scale = _f(loc), _f(scale)
        self.batch_shape = np.broadcast_shapes(_shape(self.loc), _shape(self.scale))

    def sample(self, key, shape=()):
        from . import normal
        eps = normal(key, _sample_shape(shape) + self.batch_shape)
        return self.loc + self.scale * eps

    def log_prob(self, x):
        return _stats("norm").logpdf(x, self.loc, self.scale)

    @property
    def mean(self):
        return self.loc


class Uniform(Distribution):
    """Uniform on ``[low, high)``; ``sample = low + (high - low) · u`` (reparameterised).

    >>> from wengert import random
    >>> round(float(random.Uniform(0.0, 4.0).log_prob(1.0)), 6)   # -log 4
    -1.386294
    """

    def __init__(self, low: Any = 0.0, high: Any = 1.0):
        self.low, self.high = _f(low), _f(high)
        self.batch_shape = np.broadcast_shapes(_shape(self.low), _shape(self.high))

    def sample(self, key, shape=()):
        from . import uniform
        return self.low + (self.high - self.low) * uniform(key, _sample_shape(shape) + self.batch_shape)

    def log_prob(self, x):
        inside = (x >= self.low) & (x < self.high)
        return wnp.where(inside, -wnp.log(self.high - self.low), -np.inf)

    @property
    def mean(self):
        return (self.low + self.high) / 2


class Bernoulli(Distribution):
    """Bernoulli with ``probs`` or ``logits`` (exactly one); samples are
    floats 0.0/1.0.  Discrete: ``reparameterized`` is false (use
    ``estimator="score"``).

    >>> import numpy as np
    >>> from wengert import random
    >>> np.round(np.exp(random.Bernoulli(probs=0.3).log_prob(np.array([0.0, 1.0]))), 6)
    array([0.7, 0.3])
    """

    reparameterized = False

    def __init__(self, probs: Any = None, logits: Any = None):
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: pass exactly one of probs= and logits=")
        self.logits = None if logits is None else _f(logits)
        self.probs = _f(probs) if probs is not None else 1.0 / (1.0 + wnp.exp(-self.logits))
        self.batch_shape = _shape(self.probs)

    def sample(self, key, shape=()):
        from . import bernoulli
        p = self.probs
        b = bernoulli(key, p, _sample_shape(shape) + self.batch_shape)
        return wnp.asarray(b, dtype=np.float64)

    def log_prob(self, x):
        if self.logits is not None:  # x·l − log(1 + eˡ), stable for any l
            return x * self.logits - wnp.logaddexp(0.0, self.logits)
        p = self.probs
        one = x > 0.5
        return wnp.where(one, wnp.log(wnp.where(one, p, 1.0)), wnp.log1p(-wnp.where(one, 0.0, p)))

    @property
    def mean(self):
        return self.probs


class Categorical(Distribution):
    """Categorical over the last axis of ``probs`` or ``logits`` (exactly
    one); integer samples.  Discrete: ``reparameterized`` is false.

    >>> import numpy as np
    >>> from wengert import random
    >>> np.round(np.exp(random.Categorical(probs=np.array([0.2, 0.8])).log_prob(np.array([1, 0]))), 6)
    array([0.8, 0.2])
    """

    reparameterized = False

    def __init__(self, probs: Any = None, logits: Any = None):
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: pass exactly one of probs= and logits=")
        logits = wnp.log(_f(probs)) if logits is None else _f(logits)
        if len(_shape(logits)) < 1:
            raise ValueError("Categorical: probs/logits need at least one axis (the categories)")
        m = wnp.max(logits, axis=-1, keepdims=True)
        m = wnp.where(wnp.isfinite(m), m, 0.0)
        from .._api import stop_gradient
        m = stop_gradient(m)
        self.logits = logits - m - wnp.log(wnp.sum(wnp.exp(logits - m), axis=-1, keepdims=True))
        self.batch_shape = _shape(logits)[:-1]

    def sample(self, key, shape=()):
        from . import categorical
        return categorical(key, self.logits, axis=-1, shape=_sample_shape(shape) + self.batch_shape)

    def log_prob(self, x):
        x = wnp.asarray(x) if not isinstance(x, Tracer) else x
        lp = wnp.broadcast_to(self.logits, _shape(x) + _shape(self.logits)[-1:])
        return wnp.take_along_axis(lp, wnp.asarray(x, dtype=np.int64)[..., None], axis=-1)[..., 0]

    @property
    def probs(self):
        return wnp.exp(self.logits)


class Gamma(Distribution):
    """Gamma with shape ``concentration`` and ``rate`` (density ∝
    ``x^(α−1) e^(−rate·x)``); implicitly reparameterised in both.

    >>> from wengert import random
    >>> z = random.Gamma(3.0, 2.0).sample(random.key(0), (20000,))
    >>> round(float(z.mean()), 1)   # α / rate
    1.5
    """

    def __init__(self, concentration: Any, rate: Any = 1.0):
        self.concentration, self.rate = _f(concentration), _f(rate)
        self.batch_shape = np.broadcast_shapes(_shape(self.concentration), _shape(self.rate))

    def sample(self, key, shape=()):
        from . import gamma
        return gamma(key, self.concentration, _sample_shape(shape) + self.batch_shape) / self.rate

    def log_prob(self, x):
        return _stats("gamma").logpdf(x, self.concentration, 0.0, 1.0 / self.rate)

    @property
    def mean(self):
        return self.concentration / self.rate


class Beta(Distribution):
    """Beta(``a``, ``b``) on (0, 1); implicitly reparameterised (two gammas).

    >>> from wengert import random
    >>> round(float(random.Beta(2.0, 2.0).log_prob(0.5)), 6)   # log 1.5
    0.405465
    """

    def __init__(self, a: Any, b: Any):
        self.a, self.b = _f(a), _f(b)
        self.batch_shape = np.broadcast_shapes(_shape(self.a), _shape(self.b))

    def sample(self, key, shape=()):
        from . import beta
        return beta(key, self.a, self.b, _sample_shape(shape) + self.batch_shape)

    def log_prob(self, x):
        return _stats("beta").logpdf(x, self.a, self.b)

    @property
    def mean(self):
        return self.a / (self.a + self.b)


class Dirichlet(Distribution):
    """Dirichlet with a 1-D ``concentration`` (for a batch, ``wg.vmap``);
    event shape ``(K,)``; implicitly reparameterised (normalised gammas).

    >>> import numpy as np
    >>> from wengert import random
    >>> round(float(random.Dirichlet(np.ones(3)).log_prob(np.array([0.2, 0.3, 0.5]))), 6)   # log Γ(3)
    0.693147
    """

    def __init__(self, concentration: Any):
        self.concentration = _f(concentration)
        if len(_shape(self.concentration)) != 1:
            raise ValueError(f"Dirichlet: concentration must be 1-D, got shape {_shape(self.concentration)}; "
                             "map over a batch with wg.vmap")
        self.event_shape = _shape(self.concentration)

    def sample(self, key, shape=()):
        from . import dirichlet
        return dirichlet(key, self.concentration, _sample_shape(shape))

    def log_prob(self, x):
        x = x if isinstance(x, Tracer) else np.asarray(x, dtype=np.float64)
        xs = _shape(x)
        out = _stats("dirichlet").logpdf(wnp.moveaxis(x, -1, 0), self.concentration)
        return wnp.reshape(out, xs[:-1])

    @property
    def mean(self):
        return self.concentration / wnp.sum(self.concentration)


class MultivariateNormal(Distribution):
    """``N(loc, covariance_matrix)`` with a 1-D ``loc``; ``sample = loc + L ε``
    with ``L`` the Cholesky factor (reparameterised in both).

    >>> import numpy as np
    >>> from wengert import random
    >>> d = random.MultivariateNormal(np.zeros(2), np.eye(2))
    >>> d.sample(random.key(0), (5,)).shape, round(float(d.log_prob(np.zeros(2))), 6)   # -log 2π
    ((5, 2), -1.837877)
    """

    def __init__(self, loc: Any, covariance_matrix: Any):
        self.loc, self.covariance_matrix = _f(loc), _f(covariance_matrix)
        n = _shape(self.loc)
        if len(n) != 1 or _shape(self.covariance_matrix) != n * 2:
            raise ValueError(f"MultivariateNormal: loc must be (n,) and covariance_matrix (n, n), got "
                             f"{n} and {_shape(self.covariance_matrix)}; map over a batch with wg.vmap")
        self.event_shape = n

    def sample(self, key, shape=()):
        from . import multivariate_normal
        return multivariate_normal(key, self.loc, self.covariance_matrix, _sample_shape(shape))

    def log_prob(self, x):
        x = x if isinstance(x, Tracer) else np.asarray(x, dtype=np.float64)
        xs = _shape(x)
        d = self.event_shape[0]
        out = _stats("multivariate_normal").logpdf(wnp.reshape(x, (-1, d)), self.loc, self.covariance_matrix)
        return wnp.reshape(out, xs[:-1])

    @property
    def mean(self):
        return self.loc
