"""vmap: in_axes/out_axes forms, errors, composition with the derivative
transformations, chunked Jacobians, and a batching rule for every primitive."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import _prims as P

RNG = np.random.default_rng(3)


def close(a, b, tol=1e-10):
    la, ta = wg.tree_util.tree_flatten(a)
    lb, tb = wg.tree_util.tree_flatten(b)
    assert ta == tb, (ta, tb)
    for x, y in zip(la, lb):
        assert np.shape(x) == np.shape(y), (np.shape(x), np.shape(y))
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def f2(x, y):
    return wnp.sin(x) * y + wnp.sum(x * x)


def test_in_axes_forms():
    x = RNG.normal(size=(4, 3))
    y = RNG.normal(size=(3, 4))
    ref = np.stack([f2(x[i], y[:, i]) for i in range(4)])
    close(wg.vmap(f2, in_axes=(0, 1))(x, y), ref)
    close(wg.vmap(f2, in_axes=(0, -1))(x, y), ref)
    close(wg.vmap(f2, in_axes=[0, 1])(x, y), ref)
    close(wg.vmap(f2, in_axes=(np.int64(0), np.int64(1)))(x, y), ref)
    # None: broadcast argument
    ref = np.stack([f2(x[i], y[:, 0]) for i in range(4)])
    close(wg.vmap(f2, in_axes=(0, None))(x, y[:, 0]), ref)


def test_in_axes_pytree_prefix_and_kwargs():
    x = RNG.normal(size=(5, 2))

    def f(p, x, scale=1.0):
        return (p["w"] * x + p["b"]) * scale

    p = {"w": RNG.normal(size=(5, 2)), "b": np.array([0.5, -0.5])}
    got = wg.vmap(f, in_axes=({"w": 0, "b": None}, 0))(p, x, scale=2.0)
    ref = np.stack([f({"w": p["w"][i], "b": p["b"]}, x[i], 2.0) for i in range(5)])
    close(got, ref)
    # a whole-argument prefix
    q = (x, x * 2)
    got = wg.vmap(lambda t: t[0] + t[1], in_axes=((0, 0),))(q)
    close(got, 3 * x)


def test_out_axes_forms():
    x = RNG.normal(size=(4, 3))
    f = lambda v: (v * 2, wnp.sum(v))  # noqa: E731
    a, b = wg.vmap(f, out_axes=(1, 0))(x)
    close(a, (2 * x).T)
    close(b, x.sum(1))
    a, b = wg.vmap(f, out_axes=-1)(x)
    close(a, (2 * x).T)
    c = wg.vmap(lambda v, k: (v * k, k), in_axes=(0, None), out_axes=(0, None))(x, 3.0)
    close(c[0], 3 * x)
    assert float(c[1]) == 3.0
    d = wg.vmap(lambda v: {"s": v.sum(), "m": v * 1.0}, out_axes={"s": 0, "m": 1})(x)
    close(d["m"], x.T)


def test_results_are_numpy():
    out = wg.vmap(wnp.sin)(np.ones(3))
    assert type(out) is np.ndarray
    out = wg.vmap(lambda v: 1.0)(np.ones(3))  # a constant output is broadcast
    close(out, np.ones(3))


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: wg.vmap(f2, in_axes=(0, 0, 0))(np.ones((2, 3)), np.ones((2, 3))), ValueError,
     "one entry per positional argument"),
    (lambda: wg.vmap(f2, in_axes=(0, 2))(np.ones((2, 3)), np.ones((2, 3))), ValueError,
     "out of range for argument 1"),
    (lambda: wg.vmap(wnp.sin)(1.0), ValueError, "use in_axes=None"),
    (lambda: wg.vmap(f2)(np.ones((2, 3)), np.ones((3, 3))), ValueError,
     "argument 0 has size 2 along axis 0 but argument 1 has size 3"),
    (lambda: wg.vmap(lambda v: v if v.sum() > 0 else -v)(np.ones((2, 3))), TypeError,
     "wnp.where.*wg.cond"),
    (lambda: wg.vmap(lambda v: v, out_axes=None)(np.ones(3)), ValueError, "out_axes=None"),
    (lambda: wg.vmap(lambda v: v, out_axes=2)(np.ones((2, 3))), ValueError,
     "out_axes=2 is out of range"),
    (lambda: wg.vmap(lambda v: v, in_axes=0.5)(np.ones(3)), TypeError, "ints or None"),
    (lambda: wg.vmap(f2, in_axes=({"a": 0}, 0))(np.ones((2, 3)), np.ones((2, 3))), ValueError,
     "does not match"),
    (lambda: wg.vmap(lambda v: v, in_axes=None)(np.ones(3)), ValueError,
     "at least one batched argument"),
])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_python_control_flow_on_unbatched_values():
    def f(x, n):
        for _ in range(n):  # concrete loop
            x = wnp.sin(x)
        return x if n > 1 else -x
    close(wg.vmap(f, in_axes=(0, None))(np.ones(3), 2), np.sin(np.sin(np.ones(3))))


def test_nested_vmap_and_compositions():
    x = RNG.normal(size=(2, 3, 4))
    f = lambda v: wnp.tanh(v) * wnp.sum(v ** 2)  # noqa: E731
    close(wg.vmap(wg.vmap(f))(x), np.stack([np.stack([f(x[i, j]) for j in range(3)])
                                             for i in range(2)]))
    close(wg.vmap(wg.vmap(f, in_axes=1), in_axes=2, out_axes=0)(x),
          np.stack([np.stack([f(x[:, j, k]) for j in range(3)]) for k in range(4)]))
    s = lambda v: wnp.sum(f(v))  # noqa: E731
    xs = x[0]
    close(wg.vmap(wg.grad(s))(xs), np.stack([wg.grad(s)(v) for v in xs]))
    close(wg.grad(lambda v: wnp.sum(wg.vmap(s)(v)))(xs), np.stack([wg.grad(s)(v) for v in xs]))
    close(wg.vmap(wg.hessian(s))(xs), np.stack([wg.hessian(s)(v) for v in xs]))
    close(wg.jacfwd(wg.jacrev(s))(xs[0]), wg.hessian(s)(xs[0]))
    close(wg.jacrev(wg.jacfwd(s))(xs[0]), wg.hessian(s)(xs[0]))
    # jvp of grad equals a Hessian-vector product
    t = RNG.normal(size=4)
    close(wg.jvp(wg.grad(s), (xs[0],), (t,))[1], wg.hessian(s)(xs[0]) @ t)


def g_vec(x):
    return wnp.concatenate([wnp.sin(x) * x[0], wnp.cumsum(x) ** 2])


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 100])
def test_chunked_jacobians_equal_unchunked(chunk):
    x = RNG.normal(size=5)
    close(wg.jacfwd(g_vec, chunk_size=chunk)(x), wg.jacfwd(g_vec)(x))
    close(wg.jacrev(g_vec, chunk_size=chunk)(x), wg.jacrev(g_vec)(x))
    close(wg.jacrev(g_vec)(x), wg.jacfwd(g_vec)(x))
    s = lambda v: wnp.sum(g_vec(v) ** 2)  # noqa: E731
    close(wg.hessian(s, chunk_size=chunk)(x), wg.hessian(s)(x))


def test_chunked_jacobians_pytree_inputs():
    def f(p):
        return wnp.tanh(p["a"] @ p["b"])
    p = {"a": RNG.normal(size=(2, 3)), "b": RNG.normal(size=(3,))}
    for chunk in (1, 4):
        close(wg.jacrev(f, chunk_size=chunk)(p), wg.jacrev(f)(p))
        close(wg.jacfwd(f, chunk_size=chunk)(p), wg.jacrev(f)(p))


def _load_optional():
    for mod in ("wengert.numpy.linalg", "wengert.numpy.fft", "wengert.scipy.special",
                "wengert._control", "wengert._checkpoint", "wengert._custom"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass


def test_every_primitive_has_a_batching_rule():
    """No silent fallback to a Python loop: vmap raises for a primitive
    without a rule, so every registered primitive must have one."""
    _load_optional()
    missing = sorted(n for n, p in P.REGISTRY.items() if p.batch is None)
    assert not missing, f"primitives without a batching rule: {missing}"
    from wengert._checkpoint import remat_p
    from wengert._control import cond_p, linear_call_p, proj_p, scan_p, while_p
    from wengert._custom import cjvp_p, cvjp_p
    for p in (cond_p, while_p, scan_p, linear_call_p, proj_p, remat_p, cjvp_p, cvjp_p):
        assert p.batch is not None, p.name


def test_primitive_without_rule_raises():
    from wengert._core import Primitive
    p = Primitive("no_rule_demo", lambda x: x, 1)
    with pytest.raises(NotImplementedError, match="no_rule_demo"):
        wg.vmap(lambda v: p.bind(v))(np.ones(3))
