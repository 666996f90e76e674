"""custom_jvp / custom_vjp: the rules are used, in every mode and under vmap."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

RNG = np.random.default_rng(2)


def close(a, b, tol=1e-10):
    la, ta = wg.tree_util.tree_flatten(a)
    lb, tb = wg.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert np.shape(x) == np.shape(y), (np.shape(x), np.shape(y))
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------
# custom_jvp


@wg.custom_jvp
def sin3(x):
    return wnp.sin(x)


@sin3.defjvp
def _sin3_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return wnp.sin(x), 3.0 * wnp.cos(x) * t  # three times the true derivative


def test_custom_jvp_rule_is_used_everywhere():
    x = RNG.normal(size=4)
    d = 3.0 * np.cos(x)
    close(wg.jvp(sin3, (x,), (np.ones(4),))[1], d)
    close(wg.grad(lambda v: wnp.sum(sin3(v)))(x), d)
    close(wg.jacfwd(sin3)(x), np.diag(d))
    close(wg.jacrev(sin3)(x), np.diag(d))
    close(wg.vmap(wg.grad(sin3))(x), d)
    close(wg.grad(lambda v: wnp.sum(wg.vmap(sin3)(v)))(x), d)
    # second order: the rule is itself differentiated
    close(wg.vmap(wg.grad(wg.grad(sin3)))(x), -3.0 * np.sin(x))
    close(wg.hessian(lambda v: wnp.sum(sin3(v)))(x), np.diag(-3.0 * np.sin(x)))
    close(wg.jacfwd(wg.jacrev(lambda v: wnp.sum(sin3(v))))(x),
          wg.hessian(lambda v: wnp.sum(sin3(v)))(x))
    _, fj = wg.linearize(sin3, x)
    close(fj(np.ones(4)), d)


def test_custom_jvp_pytrees_and_wnp_on_tangents():
    @wg.custom_jvp
    def f(p):
        return {"s": wnp.sum(p["a"] * p["b"]), "v": p["a"] * 2.0}

    @f.defjvp
    def f_jvp(primals, tangents):
        (p,), (t,) = primals, tangents
        out = f(p)
        # wnp functions on tangents are fine in user rules
        ts = wnp.dot(t["a"], p["b"]) + wnp.dot(p["a"], t["b"])
        return out, {"s": 10.0 * ts, "v": t["a"] * 2.0}

    p = {"a": RNG.normal(size=3), "b": RNG.normal(size=3)}
    g = wg.grad(lambda q: f(q)["s"])(p)
    close(g, {"a": 10.0 * p["b"], "b": 10.0 * p["a"]})
    t = wg.jvp(lambda q: f(q)["s"], (p,), ({"a": np.ones(3), "b": np.zeros(3)},))[1]
    close(t, 10.0 * np.sum(p["b"]))


def test_custom_jvp_nondiff_argnums():
    @wg.custom_jvp
    def apply(fn, x):
        return fn(x)

    apply = wg.custom_jvp(apply.fun, nondiff_argnums=(0,))

    @apply.defjvp
    def apply_jvp(fn, primals, tangents):
        (x,), (t,) = primals, tangents
        return fn(x), 7.0 * t

    assert float(wg.grad(lambda x: apply(wnp.sin, x))(0.2)) == 7.0
    close(wg.vmap(wg.grad(lambda x: apply(wnp.sin, x)))(np.ones(3)), np.full(3, 7.0))
    with pytest.raises(TypeError, match="nondiff_argnums"):
        apply(np.ones(2), np.ones(2))


def test_custom_jvp_defjvps_and_errors():
    @wg.custom_jvp
    def f(x, y):
        return x * y

    f.defjvps(lambda t, ans, x, y: t * 100.0, lambda t, ans, x, y: t * 1000.0)
    assert wg.grad(f, (0, 1))(2.0, 3.0) == (100.0, 1000.0)

    @wg.custom_jvp
    def g(x):
        return x

    with pytest.raises(TypeError, match="no JVP rule"):
        g(1.0)

    @g.defjvp
    def g_jvp(primals, tangents):
        return primals[0], (tangents[0], tangents[0])

    with pytest.raises(TypeError, match="tangent output"):
        wg.jvp(g, (1.0,), (1.0,))


# ----------------------------------------------------------------------------
# custom_vjp


@wg.custom_vjp
def marked(x):
    return wnp.sin(x)


def _marked_fwd(x):
    return wnp.sin(x), wnp.cos(x)


def _marked_bwd(c, g):
    return (g * c + 1000.0,)  # a marker on top of the true gradient


marked.defvjp(_marked_fwd, _marked_bwd)


def test_custom_vjp_marker_shows_in_gradient():
    x = RNG.normal(size=3)
    close(wg.grad(lambda v: wnp.sum(marked(v)))(x), np.cos(x) + 1000.0)
    close(wg.vjp(marked, x)[1](np.ones(3))[0], np.cos(x) + 1000.0)
    close(wg.jacrev(marked)(x), np.diag(np.cos(x)) + 1000.0)
    close(wg.vmap(wg.grad(marked))(x), np.cos(x) + 1000.0)
    close(wg.grad(lambda v: wnp.sum(wg.vmap(marked)(v)))(x), np.cos(x) + 1000.0)
    # forward mode without a jvp rule differentiates the primal function
    close(wg.jvp(marked, (x,), (np.ones(3),))[1], np.cos(x))
    close(wg.jacfwd(marked)(x), np.diag(np.cos(x)))


def test_custom_vjp_with_jvp_rule_in_forward_mode():
    @wg.custom_vjp
    def f(x):
        return x ** 2

    f.defvjp(lambda x: (x ** 2, x), lambda x, g: (g * 2.0 * x,),
             jvp=lambda primals, tangents: (primals[0] ** 2, 5.0 * tangents[0]))
    assert float(wg.jvp(f, (3.0,), (1.0,))[1]) == 5.0
    assert float(wg.grad(f)(3.0)) == 6.0
    _, fj = wg.linearize(f, 3.0)
    assert float(fj(1.0)) == 5.0


def test_custom_vjp_second_order_through_bwd():
    @wg.custom_vjp
    def f(x):
        return wnp.sin(x)

    f.defvjp(lambda x: (wnp.sin(x), wnp.cos(x)), lambda c, g: (2.0 * c * g,))
    x = 0.4
    assert np.isclose(float(wg.grad(f)(x)), 2.0 * np.cos(x))
    assert np.isclose(float(wg.grad(wg.grad(f))(x)), -2.0 * np.sin(x))


def test_custom_vjp_nondiff_pytrees_and_none_cotangents():
    def clip_impl(lo, hi, p):
        return {"a": p["a"] * 1.0, "b": p["b"] * 1.0}

    clip = wg.custom_vjp(clip_impl, nondiff_argnums=(0, 1))
    clip.defvjp(lambda lo, hi, p: (clip_impl(lo, hi, p), None),
                lambda lo, hi, res, g: ({"a": wnp.clip(g["a"], lo, hi), "b": None},))
    p = {"a": np.array([5.0, -5.0, 0.5]), "b": np.ones(2)}
    g = wg.grad(lambda q: wnp.sum(clip(-1.0, 1.0, q)["a"] * 10.0) + wnp.sum(clip(-1.0, 1.0, q)["b"]))(p)
    close(g, {"a": np.ones(3), "b": np.zeros(2)})
    with pytest.raises(TypeError, match="nondiff_argnums"):
        clip(np.ones(1), 1.0, p)


def test_custom_vjp_errors():
    @wg.custom_vjp
    def f(x, y):
        return x * y

    with pytest.raises(TypeError, match="no VJP rule"):
        f(1.0, 2.0)
    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g,))
    with pytest.raises(TypeError, match="one cotangent per"):
        wg.grad(f)(1.0, 2.0)
    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (np.ones(3), g))
    with pytest.raises(TypeError, match="shape"):
        wg.grad(f)(1.0, 2.0)


def test_log1pexp_stable_gradient():
    """The classic use: a numerically safe derivative."""
    @wg.custom_jvp
    def log1pexp(x):
        return wnp.log1p(wnp.exp(x))

    @log1pexp.defjvp
    def _jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return log1pexp(x), t * (1.0 - 1.0 / (1.0 + wnp.exp(x)))

    with np.errstate(over="ignore"):
        assert float(wg.grad(log1pexp)(1000.0)) == 1.0
    close(wg.vmap(wg.grad(log1pexp))(np.array([0.0, 1.0])), 1 / (1 + np.exp(-np.array([0.0, 1.0]))))


def test_custom_rules_under_jit():
    x = np.array([0.3, -0.2])
    close(wg.jit(wg.grad(lambda v: wnp.sum(marked(v))))(x), np.cos(x) + 1000.0)
    close(wg.jit(wg.grad(lambda v: wnp.sum(sin3(v))))(x), 3.0 * np.cos(x))
    close(wg.jit(lambda v: wg.jvp(sin3, (v,), (np.ones(2),))[1])(x), 3.0 * np.cos(x))
    close(wg.jit(wg.vmap(wg.grad(marked)))(x), np.cos(x) + 1000.0)
    close(wg.jit(sin3)(x), np.sin(x))
