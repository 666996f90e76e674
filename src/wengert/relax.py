"""Differentiable relaxations of discrete operations.

* :func:`soft_sort` and :func:`soft_rank` (Blondel, Teboul, Berthet and
  Djolonga 2020, "Fast differentiable sorting and ranking"): projections onto
  the permutahedron, computed by isotonic regression (pool adjacent
  violators, O(n log n)) whose exact derivative is an average over each
  pooled block.  As ``regularization_strength → 0`` they tend to ``sort``
  and the ranks; larger values smooth them.
* :func:`gumbel_softmax` (Jang, Gu and Poole 2017; Maddison et al. 2017):
  ``softmax((logits + g) / τ)`` with Gumbel noise ``g``, deterministic given
  the noise or a NumPy generator; ``hard=True`` is the straight-through
  one-hot.
* :func:`sinkhorn` (Cuturi 2013): the entropic optimal-transport plan by
  log-domain Sinkhorn iterations, differentiated through the iterations.

>>> import numpy as np, wengert as wg
>>> from wengert import relax
>>> relax.soft_sort(np.array([3.0, 1.0, 2.0]), regularization_strength=0.1)
array([1., 2., 3.])
>>> relax.soft_rank(np.array([3.0, 1.0, 2.0]), regularization_strength=0.1)
array([3., 1., 2.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import numpy as wnp
from ._core import Primitive, Tracer
from ._implicit import _loop_batch
from ._vmap import register_batch_rule

__all__ = ["soft_sort", "soft_rank", "isotonic_regression", "gumbel_softmax", "sinkhorn"]


def _pav(y):
    """Isotonic regression, decreasing: argmin ‖v - y‖² s.t. v₁ ≥ v₂ ≥ … ≥ vₙ
    (pool adjacent violators)."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    sums, counts, vals = [], [], []
    for i in range(n):
        sums.append(y[i])
        counts.append(1)
        vals.append(y[i])
        while len(vals) > 1 and vals[-2] < vals[-1]:
            s, c = sums.pop(), counts.pop()
            vals.pop()
            sums[-1] += s
            counts[-1] += c
            vals[-1] = sums[-1] / counts[-1]
    return np.repeat(np.asarray(vals), counts)


def _blocks(v):
    """Block id per entry, block starts and ends (consecutive equal values)."""
    n = v.size
    new = np.ones(n, dtype=bool)
    new[1:] = v[1:] != v[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    bid = np.cumsum(new) - 1
    return bid, starts, ends


def _block_mean(t, v):
    """Each entry of ``t`` replaced by its mean over the blocks of ``v``
    (runs of equal values): linear in ``t`` and symmetric."""
    bid, starts, ends = _blocks(np.asarray(v))
    c = np.concatenate([[0.0], np.cumsum(t)])
    return ((c[ends] - c[starts]) / (ends - starts))[bid].astype(np.result_type(t, np.float64))


# The derivative of isotonic regression is the mean over each pooled block
# (Blondel et al. 2020, lemma 1): a primitive linear in its first argument and
# its own transpose; the pooling is read from the solution (second argument),
# one example at a time under vmap.
block_mean_p = Primitive(
    "isotonic_block_mean", _block_mean, 2, linear=True,
    jvps=(lambda t, ans, x, v: block_mean_p.bind(t, v), None),
    transpose=lambda ct, x, v: (block_mean_p.bind(ct, v), None),
    doc="mean over the pooled blocks of an isotonic regression")
register_batch_rule(block_mean_p, _loop_batch(block_mean_p))

iso_p = Primitive("isotonic_regression", lambda y: _pav(y).astype(np.result_type(y, np.float64)), 1,
                  jvps=(lambda t, ans, y: block_mean_p.bind(t, ans),),
                  doc="isotonic regression (decreasing), by pool adjacent violators")
register_batch_rule(iso_p, _loop_batch(iso_p))


def isotonic_regression(y: Any, increasing: bool = False) -> Any:
    """``argmin ‖v - y‖²`` subject to ``v`` non-increasing (``increasing=True``:
    non-decreasing), for a 1-D ``y``; differentiable (each pooled block's
    output is the mean of its inputs, and so is its derivative).

    >>> from wengert import relax
    >>> relax.isotonic_regression([1.0, 3.0, 2.0, 0.0])
    array([2., 2., 2., 0.])
    """
    y = wnp.asarray(y) if not isinstance(y, Tracer) else y
    if len(y.shape) != 1:
        raise ValueError(f"isotonic_regression: y must be 1-D, got shape {tuple(y.shape)}")
    if not np.dtype(y.dtype).kind == "f":
        y = wnp.asarray(y, dtype=np.float64)
    if increasing:
        return -iso_p.bind(-y)
    return iso_p.bind(y)


def _check(name, x, eps, direction):
    x = x if isinstance(x, Tracer) else wnp.asarray(x)
    if np.dtype(x.dtype).kind != "f":
        x = wnp.asarray(x, dtype=np.float64)
    if len(x.shape) != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {tuple(x.shape)}; use "
                         f"wg.vmap({name}) for a batch of rows")
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise ValueError(f"{name}: regularization_strength must be a positive number, got {eps!r}")
    if direction not in ("ascending", "descending"):
        raise ValueError(f"{name}: direction must be 'ascending' or 'descending', got {direction!r}")
    return x


def soft_sort(x: Any, regularization_strength: float = 1.0, direction: str = "ascending") -> Any:
    """Differentiable sort of a 1-D array (L2 regularisation; Blondel et al. 2020).

    ``soft_sort(x) = P(ρ/ε, x)``, the Euclidean projection of ``ρ/ε`` onto the
    permutahedron of ``x`` (the convex hull of its permutations), with
    ``ρ = (n, n-1, …, 1)`` and ``ε = regularization_strength``; reversed for
    ``direction="ascending"``.  Exactly ``sort(x)`` when ``ε`` is small
    against the gaps between sorted values; the values are always a convex combination of
    permutations of ``x`` (same sum as ``x``).  Derivatives are exact: the
    projection is piecewise linear.

    >>> import numpy as np
    >>> from wengert import relax
    >>> relax.soft_sort(np.array([0.0, 1.0, 0.2]), regularization_strength=1.0)
    array([0. , 0.2, 1. ])
    >>> relax.soft_sort(np.array([0.0, 1.0, 0.2]), regularization_strength=5.0).round(3)
    array([0.2, 0.4, 0.6])
    """
    x = _check("soft_sort", x, regularization_strength, direction)
    n = x.shape[0]
    sign = -1.0 if direction == "ascending" else 1.0
    z = sign * x
    w = np.arange(n, 0, -1, dtype=np.float64) / regularization_strength   # ρ / ε
    perm = wnp.argsort(-z)                       # per example under vmap
    s = wnp.take_along_axis(z, perm, axis=0)     # sorted descending
    out = w - iso_p.bind(w - s)
    return sign * out


def soft_rank(x: Any, regularization_strength: float = 1.0, direction: str = "ascending") -> Any:
    """Differentiable ranks of a 1-D array (1 = smallest for
    ``direction="ascending"``; L2 regularisation; Blondel et al. 2020).

    ``soft_rank(x) = P(x/ε, ρ)``, the Euclidean projection of ``x/ε`` onto the
    permutahedron of ``ρ = (n, …, 1)``: exactly the ranks when ``ε`` is small
    against the gaps between values, smoother as ``ε`` grows (all entries
    tend to the mean rank ``(n+1)/2``).  Derivatives are exact.

    >>> import numpy as np
    >>> from wengert import relax
    >>> relax.soft_rank(np.array([0.0, 1.0, 0.2]), regularization_strength=1.0).round(3)
    array([1.6, 2.6, 1.8])
    """
    x = _check("soft_rank", x, regularization_strength, direction)
    n = x.shape[0]
    sign = 1.0 if direction == "ascending" else -1.0
    z = sign * x / regularization_strength
    w = np.arange(n, 0, -1, dtype=np.float64)
    perm = wnp.argsort(-z)
    inv = wnp.argsort(perm)                      # the inverse permutation
    v = iso_p.bind(wnp.take_along_axis(z, perm, axis=0) - w)
    return z - wnp.take_along_axis(v, inv, axis=0)


def gumbel_softmax(logits: Any, temperature: float = 1.0, *, noise: Any = None,
                   rng: np.random.Generator | int | None = None, hard: bool = False,
                   axis: int = -1, key: Any = None) -> Any:
    """A relaxed sample of the categorical distribution ``softmax(logits)``:
    ``softmax((logits + g) / temperature)`` with Gumbel(0, 1) noise ``g``.

    The noise is ``noise`` (an array shaped like ``logits``) or drawn from
    ``rng`` (a ``numpy.random.Generator`` or an int seed) or from ``key`` (a
    :mod:`wengert.random` key; works under ``jit`` and ``vmap``): the result is a
    deterministic, differentiable function of ``logits`` given the noise.
    ``hard=True`` returns the one-hot ``argmax`` in the forward pass with the
    relaxed sample's derivative (straight-through estimator).  As
    ``temperature → 0`` samples become one-hot; ``argmax(logits + g)`` is an
    exact sample (the Gumbel-max trick).

    >>> import numpy as np, wengert as wg
    >>> from wengert import relax
    >>> y = relax.gumbel_softmax(np.log([0.2, 0.3, 0.5]), 0.5, noise=np.zeros(3))
    >>> y.round(4)                                       # zero noise: softmax(logits / τ)
    array([0.1053, 0.2368, 0.6579])
    """
    from .scipy.special import softmax

    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"gumbel_softmax: temperature must be a positive number, got {temperature!r}")
    logits = logits if isinstance(logits, Tracer) else wnp.asarray(logits, dtype=np.float64)
    shape = tuple(logits.shape)
    given = [n for n, v in (("noise=", noise), ("rng=", rng), ("key=", key)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"gumbel_softmax: pass one of noise=, rng= and key=, not {' and '.join(given)}")
    if key is not None:
        from .random import uniform
        u = uniform(key, shape, minval=np.finfo(np.float64).tiny)  # u > 0: finite Gumbel noise
        noise = -wnp.log(-wnp.log(u))
    elif noise is None:
        if rng is None:
            raise ValueError("gumbel_softmax: pass noise= (Gumbel samples shaped like logits) or rng= "
                             "(a numpy.random.Generator or an int seed), or key= (a wengert.random key); "
                             "the result is then reproducible")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        noise = gen.gumbel(size=shape)
    if tuple(np.shape(noise)) != shape:
        raise ValueError(f"gumbel_softmax: noise has shape {np.shape(noise)}, logits {shape}")
    y = softmax((logits + noise) / temperature, axis=axis)
    if not hard:
        return y
    from ._api import stop_gradient
    ys = stop_gradient(y)
    onehot = wnp.where(ys == wnp.max(ys, axis=axis, keepdims=True), 1.0, 0.0)
    onehot = onehot / wnp.sum(onehot, axis=axis, keepdims=True)   # ties share
    return onehot + (y - ys)


def sinkhorn(cost: Any, a: Any = None, b: Any = None, epsilon: float = 0.1, n_iter: int = 200) -> Any:
    """The entropic optimal-transport plan between histograms ``a`` (n) and
    ``b`` (m) for the cost matrix ``cost`` (n × m): ``P = argmin ⟨P, C⟩ -
    ε H(P)`` with ``P 1 = a``, ``Pᵀ 1 = b`` (uniform by default), by
    ``n_iter`` log-domain Sinkhorn iterations, differentiated through them
    (so the derivative is that of the computed, slightly unconverged plan).

    >>> import numpy as np
    >>> from wengert import relax
    >>> P = relax.sinkhorn(np.array([[0.0, 1.0], [1.0, 0.0]]), epsilon=0.05)
    >>> P.round(4)
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    from .scipy.special import logsumexp

    C = cost if isinstance(cost, Tracer) else wnp.asarray(cost, dtype=np.float64)
    if len(C.shape) != 2:
        raise ValueError(f"sinkhorn: cost must be a matrix, got shape {tuple(C.shape)}")
    n, m = C.shape
    a = np.full(n, 1.0 / n) if a is None else a
    b = np.full(m, 1.0 / m) if b is None else b
    if tuple(np.shape(a) if not isinstance(a, Tracer) else a.shape) != (n,) or \
            tuple(np.shape(b) if not isinstance(b, Tracer) else b.shape) != (m,):
        raise ValueError(f"sinkhorn: a and b must have shapes ({n},) and ({m},) to match cost")
    if not (isinstance(epsilon, (int, float)) and epsilon > 0):
        raise ValueError(f"sinkhorn: epsilon must be a positive number, got {epsilon!r}")
    loga, logb = wnp.log(a), wnp.log(b)
    f = wnp.zeros(n)
    g = wnp.zeros(m)
    for _ in range(int(n_iter)):
        f = epsilon * loga - epsilon * logsumexp((g[None, :] - C) / epsilon, axis=1)
        g = epsilon * logb - epsilon * logsumexp((f[:, None] - C) / epsilon, axis=0)
    return wnp.exp((f[:, None] + g[None, :] - C) / epsilon)
