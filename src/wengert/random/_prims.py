"""The random primitives: a key in, numbers out, computed by NumPy's Philox.

A key is a ``uint32[4]`` array, the 128-bit key of a Philox-4x64 counter-based
generator.  Drawing is a primitive (``random_draw``, ``random_gamma``) whose
implementation builds ``Generator(Philox(key))`` with the counter at zero and
draws: the same key gives the same numbers wherever the primitive runs
(eagerly, inside ``jit``'s generated code, per example under ``vmap``).  The
key is an ordinary operand, never a constant of the trace, so a jitted
function called with another key draws other numbers.  ``split`` and
``fold_in`` are primitives too: child keys are Philox outputs of the parent
key at counters reserved for them (top counter word ``2**63`` and ``n`` for
``split(key, n)``, ``2**62`` and the data for ``fold_in``), far from the counters that drawing uses, so a
child's stream never repeats its parent's.

Batching rules loop over the examples (one generator per key); the keys carry
no derivative.  ``random_gamma`` has a derivative in its shape parameter by
implicit reparameterisation (:mod:`._gamma`).
"""

from __future__ import annotations

import numpy as np

from .. import numpy as wnp
from .._core import Primitive, Tracer
from .._vmap import register_batch_rule
from ._gamma import gamma_sample_grad

KEY_SHAPE = (4,)
KEY_DTYPE = np.dtype(np.uint32)
_SPLIT_WORD = np.uint64(1 << 63)
_FOLD_WORD = np.uint64(1 << 62)


def _philox(key, counter=None) -> np.random.Philox:
    k = np.ascontiguousarray(key, dtype=np.uint32).view(np.uint64)
    if counter is None:
        return np.random.Philox(key=k)
    return np.random.Philox(key=k, counter=counter)


def _gen(key) -> np.random.Generator:
    return np.random.Generator(_philox(key))


def _draw_impl(key, kind, shape, dtype):
    g = _gen(key)
    if kind == "normal":
        return g.standard_normal(shape, dtype=dtype)
    if kind == "uniform":
        return g.random(shape, dtype=dtype)
    raise ValueError(f"random_draw: unknown kind {kind!r}")


def _split_impl(key, n):
    bits = _philox(key, counter=np.array([0, n, 0, _SPLIT_WORD], dtype=np.uint64)).random_raw(2 * n)
    return np.ascontiguousarray(bits, dtype=np.uint64).view(np.uint32).reshape(n, 4)


def _fold_in_impl(key, data):
    d = np.uint64(int(np.asarray(data)) & 0xFFFFFFFF)
    bits = _philox(key, counter=np.array([d, 0, 0, _FOLD_WORD], dtype=np.uint64)).random_raw(2)
    return np.ascontiguousarray(bits, dtype=np.uint64).view(np.uint32).reshape(4)


def _gamma_impl(key, a, shape, dtype):
    return _gen(key).standard_gamma(np.asarray(a, dtype=dtype), size=shape, dtype=dtype)


def _gamma_grad_impl(a, z):
    return gamma_sample_grad(a, z).astype(np.result_type(z), copy=False)


def _no_second_order(t, ans, a, z):
    raise NotImplementedError(
        "wengert.random.gamma: second derivatives of a gamma sample in its shape parameter are not "
        "implemented (the implicit reparameterisation gives the first derivative). Use a first-order "
        "gradient, or estimator='score' in wg.expectation_grad.")


draw_p = Primitive("random_draw", _draw_impl, 1, nparams=3, nondiff=True,
                   doc="standard normal or uniform numbers from Philox(key)")
split_p = Primitive("random_split", _split_impl, 1, nparams=1, nondiff=True,
                    doc="n child keys of a key (Philox at reserved counters)")
fold_in_p = Primitive("random_fold_in", _fold_in_impl, 2, nondiff=True,
                      doc="a key derived from a key and an integer")
gamma_grad_p = Primitive("random_gamma_grad", _gamma_grad_impl, 2,
                         jvps=(_no_second_order, _no_second_order),
                         doc="dz/da of a Gamma(a, 1) sample z (implicit reparameterisation)")
gamma_p = Primitive("random_gamma", _gamma_impl, 2, nparams=2,
                    jvps=(None, lambda t, ans, key, a, shape, dtype: t * gamma_grad_p.bind(a, ans)),
                    doc="Gamma(a, 1) samples from Philox(key), differentiable in a")


def _stack(outs):
    if any(isinstance(o, Tracer) for o in outs):
        return wnp.stack(outs)
    return np.stack(outs)


def _loop(p):
    """Batching by drawing each example with its own key (and parameters)."""
    def rule(size, vals, batched, *params):
        return _stack([p.bind(*[v[i] if b else v for v, b in zip(vals, batched)], *params)
                       for i in range(size)])
    return rule


def _elementwise_batch(p):
    def rule(size, vals, batched, *params):
        args = []
        for v, b in zip(vals, batched):
            if b:
                args.append(v)
            elif isinstance(v, Tracer):
                args.append(wnp.broadcast_to(v, (size,) + tuple(v.shape)))
            else:
                args.append(np.broadcast_to(v, (size,) + tuple(np.shape(v))))
        return p.bind(*args, *params)
    return rule


for _p in (draw_p, split_p, fold_in_p, gamma_p):
    register_batch_rule(_p, _loop(_p))
register_batch_rule(gamma_grad_p, _elementwise_batch(gamma_grad_p))
