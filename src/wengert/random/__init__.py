"""``wengert.random``: explicit, splittable random keys and differentiable
samplers (JAX's ``jax.random`` API, on NumPy's Philox generator).

A key is a small ``uint32[4]`` array.  The same key always gives the same
numbers (eagerly, under ``wg.jit`` and per example under ``wg.vmap``); to get
new numbers, ``split`` the key.  Samplers are differentiable in their
parameters where a pathwise derivative exists: ``normal``/``uniform`` by
location and scale, ``multivariate_normal`` through the Cholesky factor,
``gamma``/``beta``/``dirichlet`` by implicit reparameterisation (Figurnov et
al. 2018); ``bernoulli`` and ``categorical`` return discrete values and carry
no derivative (use a score-function estimator, see :func:`wengert.expectation_grad`).

>>> import wengert as wg
>>> from wengert import random
>>> k = random.key(0)
>>> k1, k2 = random.split(k)
>>> x = random.normal(k1, (3,))
>>> bool((x == random.normal(k1, (3,))).all()), bool((x == random.normal(k2, (3,))).any())
(True, False)
>>> a = 2.5   # d/da E[gamma(a)] = d/da a = 1, estimated pathwise:
>>> g = wg.grad(lambda a: random.gamma(k, a, (20000,)).mean())(a)
>>> abs(float(g) - 1.0) < 0.02
True
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import numpy as wnp
from .._core import Tracer
from ._prims import KEY_DTYPE, KEY_SHAPE, draw_p, fold_in_p, gamma_p, split_p
from .distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Dirichlet,
    Distribution,
    Gamma,
    MultivariateNormal,
    Normal,
    Uniform,
)

__all__ = [
    "key", "split", "fold_in", "normal", "uniform", "bernoulli", "categorical", "gamma", "beta",
    "dirichlet", "multivariate_normal",
    "Distribution", "Normal", "Uniform", "Bernoulli", "Categorical", "Gamma", "Beta", "Dirichlet",
    "MultivariateNormal",
]


# ----------------------------------------------------------------------------
# Argument checks


def _check_key(k, fname):
    shape = tuple(getattr(k, "shape", ()))
    dtype = getattr(k, "dtype", None)
    if shape == KEY_SHAPE and dtype is not None and np.dtype(dtype) == KEY_DTYPE:
        return k if isinstance(k, (Tracer, np.ndarray)) else np.asarray(k)
    if isinstance(k, numbers.Integral):
        raise TypeError(f"wengert.random.{fname}: key must be a random key, got the integer {k!r}; "
                        f"make one with wengert.random.key({k!r})")
    what = f"{np.dtype(dtype).name}{list(shape)}" if dtype is not None else type(k).__name__
    hint = ""
    if len(shape) >= 2 and shape[-1:] == KEY_SHAPE:
        hint = " (a batch of keys: map over it with wg.vmap, or index one key)"
    raise TypeError(f"wengert.random.{fname}: key must be a random key (uint32[4], from "
                    f"wengert.random.key(seed) or wengert.random.split), got {what}{hint}")


def _shape(shape, fname, arg="shape"):
    if shape is None:
        return None
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"wengert.random.{fname}: {arg} must be a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"wengert.random.{fname}: {arg} must have non-negative sizes, got {out}")
    return out


def _float_dtype(dtype, fname):
    dt = np.dtype(dtype)
    if dt.kind != "f" or dt.itemsize < 4:
        raise TypeError(f"wengert.random.{fname}: dtype must be float32 or float64, got {dt.name}")
    return dt


def _arr(x, dtype, fname, arg):
    if isinstance(x, Tracer):
        if np.dtype(x.dtype) != dtype:
            x = wnp.asarray(x, dtype=dtype)
        return x
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"wengert.random.{fname}: {arg} must be real numbers, got dtype {a.dtype}")
    return a.astype(dtype)


def _bshape(fname, shape, *shapes):
    try:
        b = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"wengert.random.{fname}: parameter shapes {shapes} do not broadcast") from None
    if shape is None:
        return b
    try:
        ok = np.broadcast_shapes(shape, b) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"wengert.random.{fname}: shape {shape} must be a shape the parameters' shape "
                         f"{b} broadcasts to")
    return shape


# ----------------------------------------------------------------------------
# Keys


def key(seed: int) -> np.ndarray:
    """A key from an integer seed (NumPy's ``SeedSequence`` hashes it).

    >>> from wengert import random
    >>> random.key(0).dtype, random.key(0).shape
    (dtype('uint32'), (4,))
    """
    if isinstance(seed, Tracer) or not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"wengert.random.key: seed must be a Python int (not traced), got {seed!r}")
    if seed < 0:
        raise ValueError(f"wengert.random.key: seed must be non-negative, got {seed}")
    return np.random.SeedSequence(int(seed)).generate_state(4, dtype=np.uint32)


def split(key: Any, n: int = 2) -> Any:
    """``n`` new keys derived from ``key``, shape ``(n, 4)``; unpack them
    (``k1, k2 = split(k)``) or map over them with ``wg.vmap``.  Each child
    key's stream is independent of its parent's and its siblings'.

    >>> from wengert import random
    >>> ks = random.split(random.key(1), 3)
    >>> ks.shape, len({tuple(k) for k in ks})
    ((3, 4), 3)
    """
    key = _check_key(key, "split")
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"wengert.random.split: n must be a positive int, got {n!r}")
    return split_p.bind(key, int(n))


def fold_in(key: Any, data: Any) -> Any:
    """A new key from ``key`` and an integer ``data`` (e.g. a step number);
    ``data`` may be traced (a loop counter).

    >>> from wengert import random
    >>> k = random.key(0)
    >>> a, b, c = random.fold_in(k, 1), random.fold_in(k, 1), random.fold_in(k, 2)
    >>> bool((a == b).all()), bool((a == c).all())
    (True, False)
    """
    key = _check_key(key, "fold_in")
    if not isinstance(data, Tracer):
        d = np.asarray(data)
        if d.shape != () or d.dtype.kind not in "iu":
            raise TypeError(f"wengert.random.fold_in: data must be an integer scalar, got {data!r}")
        data = d
    elif np.dtype(data.dtype).kind not in "iu" or tuple(data.shape) != ():
        raise TypeError("wengert.random.fold_in: data must be an integer scalar")
    return fold_in_p.bind(key, data)


# ----------------------------------------------------------------------------
# Samplers


def normal(key: Any, shape: Any = (), dtype: Any = float) -> Any:
    """Standard normal samples.  For ``N(μ, σ²)`` write ``mu + sigma * normal(key, shape)``:
    the derivative in ``mu`` and ``sigma`` is then the reparameterisation one.

    >>> import wengert as wg
    >>> from wengert import random
    >>> random.normal(random.key(0), (2,)).shape
    (2,)
    """
    key = _check_key(key, "normal")
    return draw_p.bind(key, "normal", _shape(shape, "normal"), _float_dtype(dtype, "normal"))


def uniform(key: Any, shape: Any = (), dtype: Any = float, minval: Any = 0.0, maxval: Any = 1.0) -> Any:
    """Uniform samples on ``[minval, maxval)``, differentiable in ``minval``
    and ``maxval`` (``minval + (maxval - minval) · u``).

    >>> from wengert import random
    >>> u = random.uniform(random.key(0), (1000,), minval=2.0, maxval=3.0)
    >>> bool((u >= 2).all() and (u < 3).all())
    True
    """
    key = _check_key(key, "uniform")
    dt = _float_dtype(dtype, "uniform")
    shape = _shape(shape, "uniform")
    u = draw_p.bind(key, "uniform", shape, dt)
    if isinstance(minval, (int, float)) and isinstance(maxval, (int, float)) and (minval, maxval) == (0, 1):
        return u
    lo = _arr(minval, dt, "uniform", "minval")
    hi = _arr(maxval, dt, "uniform", "maxval")
    _bshape("uniform", shape, tuple(lo.shape), tuple(hi.shape))
    return lo + (hi - lo) * u


def bernoulli(key: Any, p: Any = 0.5, shape: Any = None) -> Any:
    """Boolean samples, ``True`` with probability ``p``.  Discrete: no
    pathwise derivative in ``p`` (use a score-function estimator).

    >>> from wengert import random
    >>> float(random.bernoulli(random.key(0), 0.3, (20000,)).mean()).__round__(2)
    0.3
    """
    key = _check_key(key, "bernoulli")
    p = _arr(p, np.dtype(np.float64), "bernoulli", "p")
    shape = _bshape("bernoulli", _shape(shape, "bernoulli"), tuple(p.shape))
    return draw_p.bind(key, "uniform", shape, np.dtype(np.float64)) < p


def categorical(key: Any, logits: Any, axis: int = -1, shape: Any = None) -> Any:
    """Integer samples from the categorical distribution with (unnormalised)
    log-probabilities ``logits`` along ``axis``, by the Gumbel-max trick.
    ``shape`` (default: ``logits``' shape without ``axis``) must be a shape that
    the batch shape broadcasts to.  Discrete: no pathwise derivative.

    >>> import numpy as np
    >>> from wengert import random
    >>> z = random.categorical(random.key(0), np.log([0.2, 0.8]), shape=(10000,))
    >>> round(float(z.mean()), 1)
    0.8
    """
    key = _check_key(key, "categorical")
    logits = _arr(logits, np.dtype(np.float64), "categorical", "logits")
    nd = len(logits.shape)
    if nd == 0:
        raise ValueError("wengert.random.categorical: logits must have at least one axis (the categories)")
    if not -nd <= axis < nd:
        raise ValueError(f"wengert.random.categorical: axis {axis} is out of range for logits of shape "
                         f"{tuple(logits.shape)}")
    logits = wnp.moveaxis(logits, axis, -1)
    batch = tuple(logits.shape[:-1])
    shape = _bshape("categorical", _shape(shape, "categorical"), batch)
    u = draw_p.bind(key, "uniform", shape + tuple(logits.shape[-1:]), np.dtype(np.float64))
    with np.errstate(divide="ignore"):
        gumbel = -wnp.log(-wnp.log(u))
    return wnp.argmax(logits + gumbel, axis=-1)


def gamma(key: Any, a: Any, shape: Any = None, dtype: Any = float) -> Any:
    """Gamma(``a``, 1) samples (divide by a rate, or multiply by a scale,
    yourself).  Differentiable in ``a`` by implicit reparameterisation:
    ``dz/da = -(∂F/∂a)/(∂F/∂z)`` with ``F`` the regularised incomplete gamma
    function (first derivatives; a second derivative raises).

    >>> import wengert as wg
    >>> from wengert import random
    >>> k = random.key(3)
    >>> z = random.gamma(k, 2.0, (4,))
    >>> bool((z > 0).all()), wg.grad(lambda a: random.gamma(k, a, (4,)).sum())(2.0).shape
    (True, ())
    """
    key = _check_key(key, "gamma")
    dt = _float_dtype(dtype, "gamma")
    a = _arr(a, dt, "gamma", "a")
    if not isinstance(a, Tracer) and not (a > 0).all():
        raise ValueError("wengert.random.gamma: a must be positive")
    shape = _bshape("gamma", _shape(shape, "gamma"), tuple(a.shape))
    if tuple(a.shape) != shape:
        a = wnp.broadcast_to(a, shape)
    return gamma_p.bind(key, a, shape, dt)


def beta(key: Any, a: Any, b: Any, shape: Any = None, dtype: Any = float) -> Any:
    """Beta(``a``, ``b``) samples as ``X/(X+Y)``, ``X ~ Gamma(a)``, ``Y ~
    Gamma(b)``; differentiable in ``a`` and ``b`` through the gammas' implicit
    reparameterisation.  (For ``a`` or ``b`` below about 0.05 both gammas may
    underflow to 0 and give NaN.)

    >>> from wengert import random
    >>> x = random.beta(random.key(0), 2.0, 3.0, (20000,))
    >>> round(float(x.mean()), 2)
    0.4
    """
    key = _check_key(key, "beta")
    dt = _float_dtype(dtype, "beta")
    a = _arr(a, dt, "beta", "a")
    b = _arr(b, dt, "beta", "b")
    shape = _bshape("beta", _shape(shape, "beta"), tuple(a.shape), tuple(b.shape))
    ka, kb = split(key)
    x = gamma(ka, a, shape, dt)
    y = gamma(kb, b, shape, dt)
    return x / (x + y)


def dirichlet(key: Any, alpha: Any, shape: Any = None, dtype: Any = float) -> Any:
    """Dirichlet(``alpha``) samples (the last axis of ``alpha`` holds the
    concentrations), of shape ``shape + alpha.shape[-1:]`` (``shape`` defaults
    to ``alpha.shape[:-1]``); normalised gammas, differentiable in ``alpha``.

    >>> import numpy as np
    >>> from wengert import random
    >>> x = random.dirichlet(random.key(0), np.array([1.0, 2.0, 3.0]), (5,))
    >>> x.shape, bool(np.allclose(x.sum(-1), 1.0))
    ((5, 3), True)
    """
    key = _check_key(key, "dirichlet")
    dt = _float_dtype(dtype, "dirichlet")
    alpha = _arr(alpha, dt, "dirichlet", "alpha")
    if len(alpha.shape) < 1:
        raise ValueError("wengert.random.dirichlet: alpha must have at least one axis (the concentrations)")
    shape = _bshape("dirichlet", _shape(shape, "dirichlet"), tuple(alpha.shape[:-1]))
    g = gamma(key, alpha, shape + tuple(alpha.shape[-1:]), dt)
    return g / wnp.sum(g, axis=-1, keepdims=True)


def multivariate_normal(key: Any, mean: Any, cov: Any, shape: Any = None, dtype: Any = float,
                        method: str = "cholesky") -> Any:
    """Samples of ``N(mean, cov)``: ``mean + L ε`` with ``cov = L Lᵀ`` (``method="cholesky"``,
    or ``"eigh"``: ``L = U √Λ``, for a positive semi-definite ``cov``); differentiable in
    ``mean`` and ``cov``.  Shape ``shape + mean.shape[-1:]``, ``shape``
    defaulting to the broadcast of ``mean.shape[:-1]`` and ``cov.shape[:-2]``.

    >>> import numpy as np
    >>> from wengert import random
    >>> x = random.multivariate_normal(random.key(0), np.zeros(2), np.array([[2.0, 1.0], [1.0, 2.0]]), (20000,))
    >>> np.round(np.cov(x.T), 1)
    array([[2., 1.],
           [1., 2.]])
    """
    key = _check_key(key, "multivariate_normal")
    dt = _float_dtype(dtype, "multivariate_normal")
    mean = _arr(mean, dt, "multivariate_normal", "mean")
    cov = _arr(cov, dt, "multivariate_normal", "cov")
    if len(mean.shape) < 1 or len(cov.shape) < 2 or tuple(cov.shape[-2:]) != (mean.shape[-1],) * 2:
        raise ValueError(f"wengert.random.multivariate_normal: mean must be (..., n) and cov (..., n, n), got "
                         f"{tuple(mean.shape)} and {tuple(cov.shape)}")
    n = mean.shape[-1]
    shape = _bshape("multivariate_normal", _shape(shape, "multivariate_normal"), tuple(mean.shape[:-1]),
                    tuple(cov.shape[:-2]))
    if method == "cholesky":
        factor = wnp.linalg.cholesky(cov)
    elif method == "eigh":
        w, u = wnp.linalg.eigh(cov)
        factor = u * wnp.sqrt(wnp.maximum(w, 0.0))[..., None, :]
    else:
        raise ValueError(f"wengert.random.multivariate_normal: method must be 'cholesky' or 'eigh', got {method!r}")
    eps = draw_p.bind(key, "normal", shape + (n,), dt)
    return mean + wnp.matmul(factor, eps[..., None])[..., 0]
