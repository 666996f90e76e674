"""Control flow bodies that reach a traced value other than through their
operands: every way of reaching it x every construct x every transformation,
compared with the same function written as a plain Python loop (issue 10).

The rule: the number is the unrolled loop's (to 1e-12), or a clear error;
never a different number, never a tracer in a result.
"""

import collections
import functools
import types

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._core import Tracer

X = np.array([0.3, 0.7])
W = np.array([1.2, -0.4])
X2 = np.array([0.5, -0.2])
W2 = np.array([0.8, 0.6])
XS = np.array([[1.0, 0.9], [1.1, 0.8], [0.95, 1.05]])
_GW = None  # the "global" way of reaching w (set and cleared by the tests)


def core(c, w):
    return wnp.sin(c) * w + 0.5 * c


# ----------------------------------------------------------------------------
# ways of reaching w: each returns ``body(c)`` that computes ``core(c, w)``


class _Slots:
    __slots__ = ("w",)

    def __init__(self, w):
        self.w = w


class _Prop:
    def __init__(self, w):
        self._w = w

    @property
    def w(self):
        return self._w


class _Method:
    def __init__(self, w):
        self.w = w

    def body(self, c):
        return core(c, self.w)


class _Holder:  # a class attribute (the static scan does not look into classes)
    w = None


def reach(mode, w):
    if mode == "cell":
        return lambda c: core(c, w)
    if mode == "attr":
        P = types.SimpleNamespace(w=w)
        return lambda c: core(c, P.w)
    if mode == "slots":
        S = _Slots(w)
        return lambda c: core(c, S.w)
    if mode == "dict":
        D = {"a": {"w": w}, "b": 1.0}
        return lambda c: core(c, D["a"]["w"])
    if mode == "list":
        L = [[1.0, (w,)]]
        return lambda c: core(c, L[0][1][0])
    if mode == "default":
        def body(c, w=w):
            return core(c, w)
        return body
    if mode == "kwdefault":
        def body(c, *, w=w):
            return core(c, w)
        return body
    if mode == "partial":
        return functools.partial(lambda w, c: core(c, w), w)
    if mode == "partial_kw":
        return functools.partial(lambda c, w: core(c, w), w=w)
    if mode == "method":
        return _Method(w).body
    if mode == "global":
        global _GW
        _GW = w
        return lambda c: core(c, _GW)
    if mode == "nested":
        return lambda c: (lambda z: core(z, w))(c)
    if mode == "property":
        Q = _Prop(w)
        return lambda c: core(c, Q.w)
    if mode == "deque":  # not seen by the static scan: the run-time check
        H = collections.deque([w])
        return lambda c: core(c, H[0])
    if mode == "classattr":
        _Holder.w = w
        return lambda c: core(c, _Holder.w)
    raise AssertionError(mode)


MODES = ["cell", "attr", "slots", "dict", "list", "default", "kwdefault", "partial",
         "partial_kw", "method", "global", "nested", "property", "deque", "classattr"]


# ----------------------------------------------------------------------------
# constructs (and their unrolled references)


@wg.custom_jvp
def _sin_times(c, w):
    return wnp.sin(c) * w


@_sin_times.defjvp
def _sin_times_jvp(p, t):
    (c, w), (tc, tw) = p, t
    return _sin_times(c, w), wnp.cos(c) * w * tc + wnp.sin(c) * tw


def construct(prim, body, x):
    if prim == "custom":  # a custom rule inside the loop, fed the reached value
        return wnp.sum(wg.fori_loop(0, 2, lambda i, c: _sin_times(c, body(c) - 0.5 * c) + 0.5 * c, x))
    if prim == "fori":
        return wnp.sum(wg.fori_loop(0, 3, lambda i, c: body(c), x))
    if prim == "fori_traced":  # traced bounds: a while_loop
        return wnp.sum(wg.fori_loop(0, wnp.argmax(x) * 0 + 3, lambda i, c: body(c), x))
    if prim in ("scan", "scan_rev", "scan_ckpt", "scan_binomial"):
        kw = {"reverse": prim == "scan_rev"}
        if prim == "scan_ckpt":
            kw["checkpoint"] = "sqrt"
        if prim == "scan_binomial":
            kw.update(checkpoint="binomial", checkpoint_slots=1, reverse=True)
        c, ys = wg.scan(lambda c, a: (body(c) * a, c * a), x, XS, **kw)
        return wnp.sum(c) + wnp.sum(ys)
    if prim == "while":
        return wnp.sum(wg.while_loop(lambda s: s[1] < 3, lambda s: (body(s[0]), s[1] + 1), (x, 0))[0])
    if prim == "cond":
        return wnp.sum(wg.cond(wnp.sum(x) > -10.0, body, lambda c: c * 2.0, x))
    if prim == "checkpoint":
        return wnp.sum(wg.checkpoint(lambda c: body(body(c)))(x))
    if prim == "nested":
        inner = lambda c: wg.scan(lambda cc, _: (body(cc), None), c, None, length=2)[0]  # noqa: E731
        return wnp.sum(wg.fori_loop(0, 2, lambda i, c: wg.cond(i >= 0, inner, lambda z: z, c), x))
    raise AssertionError(prim)


def reference(prim, x, w):
    def body(c):
        return core(c, w)
    if prim == "custom":
        c = x
        for _ in range(2):
            c = wnp.sin(c) * (body(c) - 0.5 * c) + 0.5 * c
        return wnp.sum(c)
    if prim in ("fori", "fori_traced"):
        c = x
        for _ in range(3):
            c = body(c)
        return wnp.sum(c)
    if prim in ("scan", "scan_rev", "scan_ckpt", "scan_binomial"):
        c = x
        ys = [None] * 3
        order = range(2, -1, -1) if prim in ("scan_rev", "scan_binomial") else range(3)
        for i in order:
            c, ys[i] = body(c) * XS[i], c * XS[i]
        return wnp.sum(c) + wnp.sum(wnp.stack(ys))
    if prim == "while":
        c = x
        for _ in range(3):
            c = body(c)
        return wnp.sum(c)
    if prim == "cond":
        return wnp.sum(body(x))
    if prim == "checkpoint":
        return wnp.sum(body(body(x)))
    if prim == "nested":
        c = x
        for _ in range(4):
            c = body(c)
        return wnp.sum(c)
    raise AssertionError(prim)


PRIMS = ["fori", "fori_traced", "scan", "scan_rev", "scan_ckpt", "scan_binomial", "while", "cond", "checkpoint",
         "nested", "custom"]


def _f(prim, mode):
    def f(x, w):
        return construct(prim, reach(mode, w), x)
    return f


def _leaves(r):
    return wg.tree_util.tree_flatten(r)[0]


def same(got, want):
    for g in _leaves(got):
        assert not isinstance(g, Tracer), f"a tracer leaked into the result: {g!r}"
    g = [np.asarray(v, dtype=float) for v in _leaves(got)]
    w = [np.asarray(v, dtype=float) for v in _leaves(want)]
    assert len(g) == len(w)
    for a, b in zip(g, w):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


TRANSFORMS = ["value", "grad", "jvp", "vjp", "jit_grad", "vmap_grad", "checkpoint_grad", "hessian", "jacfwd",
              "jit"]


def _apply(tname, f, ref):
    """(result of the transformation of f, the same of ref)."""
    if tname == "value":
        return f(X, W), ref(X, W)
    if tname == "grad":
        return wg.grad(f, argnums=(0, 1))(X, W), wg.grad(ref, argnums=(0, 1))(X, W)
    if tname == "jvp":
        t = (np.array([0.3, -1.0]), np.array([0.5, 2.0]))
        return wg.jvp(f, (X, W), t), wg.jvp(ref, (X, W), t)
    if tname == "vjp":
        ct = 0.7
        return wg.vjp(f, X, W)[1](ct), wg.vjp(ref, X, W)[1](ct)
    if tname == "jacfwd":
        return wg.jacfwd(f, argnums=(0, 1))(X, W), wg.jacfwd(ref, argnums=(0, 1))(X, W)
    if tname == "jit_grad":
        g = wg.jit(wg.grad(f, argnums=(0, 1)))
        g(X, W)
        return (g(X2, W2), g(X, W)), (wg.grad(ref, argnums=(0, 1))(X2, W2),
                                      wg.grad(ref, argnums=(0, 1))(X, W))
    if tname == "jit":
        g = wg.jit(f)
        g(X, W)
        return g(X2, W2), ref(X2, W2)
    if tname == "vmap_grad":
        xb = np.stack([X, X2, X * 0.5])
        got = wg.vmap(wg.grad(f, argnums=1), in_axes=(0, None))(xb, W)
        want = np.stack([wg.grad(ref, argnums=1)(x, W) for x in xb])
        return got, want
    if tname == "checkpoint_grad":
        return (wg.grad(wg.checkpoint(f), argnums=(0, 1))(X, W),
                wg.grad(ref, argnums=(0, 1))(X, W))
    if tname == "hessian":
        return wg.hessian(f, argnums=1)(X, W), wg.hessian(ref, argnums=1)(X, W)
    raise AssertionError(tname)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("prim", PRIMS)
def test_reached_value_matches_the_unrolled_loop(prim, mode):
    global _GW
    f = _f(prim, mode)
    ref = functools.partial(reference, prim)
    try:
        for tname in TRANSFORMS:
            try:
                got, want = _apply(tname, f, ref)
            except TypeError as e:  # allowed: a clear error, naming the construct
                msg = str(e)
                assert any(k in msg for k in ("while_loop", "cond", "scan", "fori_loop",
                                              "checkpoint")), (tname, msg)
                continue
            same(got, want)
    finally:
        _GW = None
        _Holder.w = None


# ----------------------------------------------------------------------------
# custom rules closing over a traced value


def _custom_fns(w):
    @wg.custom_jvp
    def g(x):
        return wnp.sin(x) * w

    @g.defjvp
    def g_jvp(p, t):
        return g(p[0]), wnp.cos(p[0]) * w * t[0] * 2.0  # deliberately twice the truth

    @wg.custom_vjp
    def h(x):
        return wnp.sin(x) * w

    h.defvjp(lambda x: (h(x), wnp.cos(x)), lambda c, g: (c * w * g * 2.0,))
    return g, h


@pytest.mark.parametrize("which", [0, 1])
def test_custom_rules_closing_over_a_traced_value(which):
    x, w = np.array([0.3, 1.1]), np.array([1.5, -0.5])

    def f(x, w):
        return wnp.sum(_custom_fns(w)[which](x))

    rule = 2.0 * np.cos(x) * w  # the (deliberate) custom derivative in x
    # jit stages w: the rule is used, on the 1st and the 2nd call
    g = wg.jit(wg.grad(f))
    same(g(x, w), rule)
    same(g(x, w), rule)
    # vmap batches w (closed over, no derivative needed)
    wb = np.stack([w, 2 * w])
    same(wg.vmap(wg.grad(f), in_axes=(None, 0))(x, wb), np.stack([rule, 2 * rule]))
    # only the closed-over value varies: the function itself is differentiated
    same(wg.grad(f, argnums=1)(x, w), np.sin(x))
    # both: the rule cannot say; a clear error, never a number
    with pytest.raises(TypeError, match="closes over"):
        wg.grad(f, argnums=(0, 1))(x, w)


def test_custom_rule_reaching_a_traced_value_through_an_attribute_is_an_error():
    def f(x, w):
        P = types.SimpleNamespace(w=w)

        @wg.custom_jvp
        def g(x):
            return wnp.sin(x) * P.w

        g.defjvp(lambda p, t: (g(p[0]), wnp.cos(p[0]) * P.w * t[0]))
        return wnp.sum(g(x))

    x, w = np.array([0.3, 1.1]), np.array([1.5, -0.5])
    with pytest.raises(TypeError, match="custom_jvp.*not one of its arguments"):
        wg.jit(wg.grad(f))(x, w)
    same(wg.grad(f, argnums=1)(x, w), np.sin(x))  # x constant: the function as written


# ----------------------------------------------------------------------------
# more ways of hiding a traced value from the static scan (the run-time check)


def _hidden(kind, w):
    if kind == "object_array":
        A = np.empty(1, dtype=object)
        A[0] = w
        return lambda: A[0]
    if kind == "__getattr__":
        class D:
            def __getattr__(self, name):
                return w
        d = D()
        return lambda: d.w
    if kind == "class_body":
        class K:
            def get(self):
                return w
        return lambda: K().get()
    if kind == "lru_cache":
        @functools.lru_cache(None)
        def get():
            return w
        return get
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["object_array", "__getattr__", "class_body", "lru_cache"])
def test_hidden_values_match_the_unrolled_loop(kind):
    def f(x, w):
        get = _hidden(kind, w)
        return wnp.sum(wg.fori_loop(0, 3, lambda i, c: core(c, get()), x))

    ref = functools.partial(reference, "fori")
    for tname in ("grad", "jit_grad", "vmap_grad", "hessian", "jit"):
        got, want = _apply(tname, f, ref)
        same(got, want)


def test_batched_condition_reached_through_an_attribute():
    def f(x, w):
        P = types.SimpleNamespace(lim=wnp.sum(w) * 3.0)
        return wnp.sum(wg.while_loop(lambda s: wnp.sum(s) < P.lim, lambda s: s * 1.3 + 0.1, x))

    wb = np.stack([W, W + 1.0])
    want = np.stack([wg.grad(f)(X, w) for w in wb])
    same(wg.vmap(wg.grad(f), in_axes=(None, 0))(X, wb), want)
    # under jit the loop must run as Python, and its condition is staged: a clear error
    with pytest.raises(TypeError, match="while_loop.*init_val"):
        wg.jit(wg.vmap(wg.grad(f), in_axes=(None, 0)))(X, wb)
