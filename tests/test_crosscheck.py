"""Cross-checks against HIPS autograd, PyTorch and JAX (skipped when absent).

The same programs, written once against a NumPy-like namespace, give the same
gradients and Hessians in every library.
"""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

PROGRAMS = {
    "poly": (lambda np_, x: np_.sum(x ** 4 + 3 * x ** 2 + 2 * x), [(5,)]),
    "trig": (lambda np_, x: np_.sum(np_.sin(x) * np_.cos(2 * x) + np_.tanh(x) ** 2), [(6,)]),
    "logsumexp": (lambda np_, x: np_.log(np_.sum(np_.exp(x - np_.max(x)))) + np_.max(x), [(4,)]),
    "mlp": (lambda np_, W, x: np_.sum(np_.tanh(np_.dot(x, W)) ** 2), [(3, 2), (4, 3)]),
    "reductions": (lambda np_, x: np_.sum(np_.mean(x, axis=0) * np_.prod(x, axis=1).sum()), [(3, 2)]),
    "broadcast": (lambda np_, a, b: np_.sum(np_.exp(a[:, None] * b[None, :]) / (1 + b * b)), [(3,), (2,)]),
    "sqrt-div": (lambda np_, x: np_.sum(np_.sqrt(x * x + 1) / (x * x + 2)), [(4,)]),
}


def _args(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.2, 1.5, s) for s in shapes]


def _ours(name):
    fn, shapes = PROGRAMS[name]
    args = _args(shapes)
    f = lambda *a: fn(wnp, *a)
    g = wg.grad(f, argnums=tuple(range(len(args))))(*args)
    h = wg.hessian(lambda x: f(x, *args[1:]))(args[0])
    return args, g, h


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_against_autograd(name):
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    fn, _ = PROGRAMS[name]
    args, g, h = _ours(name)
    f = lambda *a: fn(anp, *a)
    g_ref = autograd.grad(f, argnum=list(range(len(args))))(*args) if len(args) > 1 \
        else (autograd.grad(f)(*args),)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    h_ref = autograd.hessian(lambda x: f(x, *args[1:]))(args[0])
    np.testing.assert_allclose(h, h_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_against_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    fn, _ = PROGRAMS[name]
    args, g, h = _ours(name)
    f = lambda *a: fn(jnp, *a)
    g_ref = jax.grad(f, argnums=tuple(range(len(args))))(*args)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-12, atol=1e-12)
    h_ref = jax.hessian(lambda x: f(x, *args[1:]))(args[0])
    np.testing.assert_allclose(h, np.asarray(h_ref), rtol=1e-10, atol=1e-12)


class _TorchNS:
    """Just enough of a NumPy namespace over torch for PROGRAMS."""

    def __init__(self, torch):
        self.t = torch

    def __getattr__(self, name):
        t = self.t
        alias = {"dot": t.matmul, "max": lambda x: t.max(x), "prod": lambda x, axis=None:
                 t.prod(x, dim=axis) if axis is not None else t.prod(x),
                 "sum": lambda x, axis=None: t.sum(x, dim=axis) if axis is not None else t.sum(x),
                 "mean": lambda x, axis=None: t.mean(x, dim=axis) if axis is not None else t.mean(x)}
        return alias.get(name) or getattr(t, name)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_against_torch(name):
    torch = pytest.importorskip("torch")
    fn, _ = PROGRAMS[name]
    args, g, _ = _ours(name)
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    out = fn(_TorchNS(torch), *ts)
    out.backward()
    for a, t in zip(g, ts):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-12, atol=1e-12)
