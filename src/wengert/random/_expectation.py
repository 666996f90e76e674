"""``wg.expectation_grad``: Monte Carlo gradients of expectations
``∇_θ E_{z ~ p(z; θ)}[f(z)]`` (Mohamed, Rosca, Figurnov & Mnih 2020).

* ``"reparam"`` (pathwise): ``z = g(ε; θ)`` with noise ``ε`` free of ``θ``;
  the estimate is ``(1/n) Σ ∇_θ f(g(ε_i; θ))``.  Low variance; needs ``f``
  differentiable and a sampler with a pathwise derivative.
* ``"score"`` (REINFORCE / likelihood ratio): ``(1/n) Σ f(z_i) ∇_θ log p(z_i; θ)``.
  Any ``f`` (discrete ``z``, non-differentiable ``f``); higher variance.
* ``"score+baseline"``: ``(1/n) Σ (f(z_i) − b_i) ∇_θ log p(z_i; θ)`` with the
  leave-one-out baseline ``b_i = (1/(n−1)) Σ_{j≠i} f(z_j)`` (independent of
  ``z_i``, so still unbiased; Kool, van Hoof & Welling 2019).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import numpy as wnp
from .._api import grad, stop_gradient, value_and_grad
from .._core import Tracer
from .._vmap import vmap
from .distributions import Distribution

__all__ = ["expectation_grad"]

_ESTIMATORS = ("reparam", "score", "score+baseline")


def _name(fn):
    return getattr(fn, "__name__", type(fn).__name__)


def _family(sampler):
    """(params -> Distribution) or None for a raw ``sampler(key, params)``."""
    if isinstance(sampler, type) and issubclass(sampler, Distribution):
        def family(p):
            if isinstance(p, dict):
                return sampler(**p)
            if isinstance(p, (tuple, list)):
                return sampler(*p)
            return sampler(p)
        return family
    if isinstance(sampler, Distribution):
        raise TypeError(
            f"expectation_grad: sampler is a {type(sampler).__name__} instance, whose parameters are fixed; pass "
            f"a function of the parameters, e.g. `lambda p: random.{type(sampler).__name__}(*p)`, or the class "
            f"random.{type(sampler).__name__} itself")
    if not callable(sampler):
        raise TypeError(f"expectation_grad: sampler must be callable, got {type(sampler).__name__}")
    try:
        sig = inspect.signature(sampler)
        required = [q for q in sig.parameters.values()
                    if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD) and q.default is q.empty]
        varargs = any(q.kind == q.VAR_POSITIONAL for q in sig.parameters.values())
    except (TypeError, ValueError):
        required, varargs = [None], False
    if len(required) >= 2 or varargs:
        return None
    return sampler


def _dist(family, params, name):
    d = family(params)
    if not (hasattr(d, "sample") and hasattr(d, "log_prob")):
        raise TypeError(f"expectation_grad: sampler {name}(params) must return a distribution (with .sample(key, "
                        f"shape) and .log_prob(x), e.g. random.Normal(...)), got {type(d).__name__}; a function "
                        "sampler(key, params) -> sample takes two arguments")
    return d


def _fvals(f, z, n, batched):
    fz = f(z) if batched else vmap(f)(z)
    if not isinstance(fz, Tracer):
        fz = np.asarray(fz)
    if tuple(fz.shape) != (n,):
        what = f"shape {tuple(fz.shape)} for {n} samples" if batched else f"shape {tuple(fz.shape)[1:]}"
        raise ValueError(f"expectation_grad: f ({_name(f)}) must return a scalar per sample, got {what}")
    return fz


def _total(lp, n):
    """log p of each sample, summed over the distribution's batch axes."""
    nd = len(tuple(lp.shape))
    return lp if nd == 1 else wnp.sum(wnp.reshape(lp, (n, -1)), axis=1)


def expectation_grad(f: Callable, sampler: Any, params: Any, estimator: str = "reparam", *,
                     key: Any = None, n: int = 1000, batched: bool = False,
                     return_value: bool = False) -> Any:
    """Monte Carlo estimate of ``∇_params E_{z ~ p(z; params)}[f(z)]`` from
    ``n`` samples drawn with ``key``.

    ``f`` maps one sample to a scalar (it is mapped over the samples with
    ``wg.vmap``); with ``batched=True`` it takes all ``n`` samples at once
    (leading axis) and returns ``n`` values — for code ``vmap`` cannot map,
    such as indexing a NumPy table with a sample (``lambda z: table[z]``).  ``sampler`` is one of

    * a distribution class of :mod:`wengert.random` (``random.Normal``):
      ``params`` are its arguments (a tuple, a dict or one value);
    * a function ``params -> distribution`` (``lambda p: random.Normal(p["mu"],
      p["sigma"])``): every estimator;
    * a function ``sampler(key, params) -> sample`` (two arguments): only
      ``estimator="reparam"``, one key per sample (``wg.vmap`` over
      ``random.split(key, n)``).

    ``estimator``: ``"reparam"`` (pathwise; the sampler must be
    differentiable in ``params`` — a discrete distribution raises),
    ``"score"`` (REINFORCE) or ``"score+baseline"`` (REINFORCE with the
    leave-one-out baseline; ``n ≥ 2``).  The result has the structure of
    ``params``; with ``return_value=True`` it is ``(estimate of E[f], grads)``.
    The same ``key`` gives the same estimate: pass a fresh key (``split``) at
    every optimisation step.

    >>> import wengert as wg
    >>> from wengert import random
    >>> g = wg.expectation_grad(lambda z: z ** 2, random.Normal, (1.0, 2.0), key=random.key(0), n=20000)
    >>> bool(abs(g[0] - 2.0) < 0.1), bool(abs(g[1] - 4.0) < 0.1)  # d/dμ (μ² + σ²) = 2μ, d/dσ = 2σ
    (True, True)
    """
    if estimator not in _ESTIMATORS:
        raise ValueError(f"expectation_grad: estimator must be one of {', '.join(map(repr, _ESTIMATORS))}, "
                         f"got {estimator!r}")
    if key is None:
        raise TypeError("expectation_grad: pass key=wengert.random.key(seed) (a fresh key, from "
                        "random.split, at every step: the same key gives the same estimate)")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"expectation_grad: n must be a positive int, got {n!r}")
    n = int(n)
    if estimator == "score+baseline" and n < 2:
        raise ValueError("expectation_grad: estimator='score+baseline' needs n >= 2 (the leave-one-out baseline)")
    from . import _check_key, split
    key = _check_key(key, "expectation_grad")
    family = _family(sampler)
    sname = _name(sampler)

    if family is None:
        if estimator != "reparam":
            raise TypeError(
                f"expectation_grad: estimator={estimator!r} needs log p(z; params): pass a distribution class or a "
                f"function params -> distribution (e.g. lambda p: random.Normal(*p)), not sampler(key, params)")
        keys = split(key, n)

        def loss(p):
            z = vmap(lambda k: sampler(k, p))(keys)
            return wnp.mean(_fvals(f, z, n, batched))
        val, g = value_and_grad(loss)(params)
        return (val, g) if return_value else g

    if estimator == "reparam":
        d0 = _dist(family, params, sname)
        if not getattr(d0, "reparameterized", True):
            raise ValueError(
                f"expectation_grad: {type(d0).__name__} is discrete: its samples have no pathwise derivative, so "
                "estimator='reparam' would give 0. Use estimator='score' or 'score+baseline'")

        def loss(p):
            z = _dist(family, p, sname).sample(key, (n,))
            return wnp.mean(_fvals(f, z, n, batched))
        val, g = value_and_grad(loss)(params)
        return (val, g) if return_value else g

    # score-function estimators: the samples and f's values are constants of θ
    z = stop_gradient(_dist(family, params, sname).sample(key, (n,)))
    fz = stop_gradient(_fvals(f, z, n, batched))
    if estimator == "score+baseline":
        weights = fz - (wnp.sum(fz) - fz) / (n - 1)
    else:
        weights = fz

    def surrogate(p):
        lp = _total(_dist(family, p, sname).log_prob(z), n)
        return wnp.mean(weights * lp)
    g = grad(surrogate)(params)
    if return_value:
        val = wnp.mean(fz)
        return (val if isinstance(val, Tracer) else np.float64(val)), g
    return g
