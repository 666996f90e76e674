"""cond / fori_loop / while_loop / scan: eager, under vmap, both modes of
differentiation against unrolled Python loops, second order, checkpoint
schedules (recompute counts, peak memory)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._control import binomial_reps

RNG = np.random.default_rng(0)


def close(a, b, tol=1e-9):
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b) \
            and any(np.ndim(x) for x in a):
        for x, y in zip(a, b):
            close(x, y, tol)
        return
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------
# cond


def f_cond(x):
    return wg.cond(wnp.sum(x) > 0, lambda v: wnp.sin(v) * v, lambda v: wnp.cos(v) + v, x)


def f_cond_py(x):
    return wnp.sin(x) * x if wnp.sum(x) > 0 else wnp.cos(x) + x


@pytest.mark.parametrize("x", [np.array([0.3, 0.7]), np.array([-0.5, 0.2])])
def test_cond_values_and_derivatives(x):
    close(f_cond(x), f_cond_py(x))
    s = lambda f: (lambda v: wnp.sum(f(v) ** 2))  # noqa: E731
    close(wg.grad(s(f_cond))(x), wg.grad(s(f_cond_py))(x))
    close(wg.jvp(f_cond, (x,), (np.ones(2),))[1], wg.jvp(f_cond_py, (x,), (np.ones(2),))[1])
    close(wg.hessian(s(f_cond))(x), wg.hessian(s(f_cond_py))(x))
    close(wg.jacfwd(wg.jacrev(s(f_cond)))(x), wg.hessian(s(f_cond))(x))


def test_cond_pytrees_and_operands():
    out = wg.cond(True, lambda a, b: {"s": a + b["y"], "p": (a * 2,)},
                  lambda a, b: {"s": a - b["y"], "p": (a * 3,)}, 1.0, {"y": 2.0})
    assert float(out["s"]) == 3.0 and float(out["p"][0]) == 2.0
    g = wg.grad(lambda a, b: wg.cond(a < b, lambda u, v: u * v, lambda u, v: u + v, a, b),
                argnums=(0, 1))(2.0, 3.0)
    assert (float(g[0]), float(g[1])) == (3.0, 2.0)


def test_cond_under_vmap_batched_predicate():
    xs = np.array([[0.3, 0.7], [-0.5, 0.2], [-1.0, -2.0]])
    close(wg.vmap(f_cond)(xs), np.stack([f_cond_py(x) for x in xs]))
    gv = wg.vmap(wg.grad(lambda v: wnp.sum(f_cond(v))))(xs)
    close(gv, np.stack([wg.grad(lambda v: wnp.sum(f_cond_py(v)))(x) for x in xs]))
    # grad of vmap: the batch trace sits inside the JVP trace
    gv2 = wg.grad(lambda v: wnp.sum(wg.vmap(f_cond)(v)))(xs)
    close(gv2, gv)


def test_cond_under_vmap_unbatched_predicate():
    f = lambda p, x: wg.cond(p, wnp.sin, wnp.cos, x)  # noqa: E731
    xs = np.array([0.1, 0.2, 0.3])
    close(wg.vmap(f, in_axes=(None, 0))(True, xs), np.sin(xs))
    close(wg.vmap(f, in_axes=(None, 0))(False, xs), np.cos(xs))


def test_cond_errors():
    with pytest.raises(TypeError, match="same structure, shapes and dtypes"):
        wg.cond(True, lambda x: x, lambda x: wnp.stack([x, x]), 1.0)
    with pytest.raises(TypeError, match="same structure"):
        wg.cond(True, lambda x: (x, x), lambda x: x, 1.0)
    with pytest.raises(TypeError, match="float32"):
        wg.cond(True, lambda x: x, lambda x: x.astype(np.float32), np.ones(2))
    with pytest.raises(TypeError, match="true_fun must be callable"):
        wg.cond(True, 1.0, lambda x: x, 1.0)
    with pytest.raises(TypeError, match="boolean scalar"):
        wg.cond(np.array([True, False]), lambda x: x, lambda x: x, 1.0)


# ----------------------------------------------------------------------------
# fori_loop and while_loop


def body_fori(i, v):
    return v * wnp.sin(v) + 0.1 * i


def fori_py(x, n=4):
    for i in range(n):
        x = body_fori(i, x)
    return x


def test_fori_loop_values_grad_jvp_second_order():
    x = np.array([0.4, 1.1, -0.7])
    f = lambda v: wg.fori_loop(0, 4, body_fori, v)  # noqa: E731
    close(f(x), fori_py(x))
    s = lambda g: (lambda v: wnp.sum(g(v)))  # noqa: E731
    close(wg.grad(s(f))(x), wg.grad(s(fori_py))(x))
    close(wg.jvp(f, (x,), (np.ones(3),))[1], wg.jvp(fori_py, (x,), (np.ones(3),))[1])
    close(wg.hessian(s(f))(x), wg.hessian(s(fori_py))(x))
    close(wg.jacfwd(wg.jacrev(s(f)))(x), wg.hessian(s(f))(x))
    # jvp of grad
    close(wg.jvp(wg.grad(s(f)), (x,), (np.ones(3),))[1],
          wg.jvp(wg.grad(s(fori_py)), (x,), (np.ones(3),))[1])


def test_fori_loop_empty_and_closure():
    assert float(wg.fori_loop(3, 3, body_fori, 2.0)) == 2.0
    # the body captures the differentiated variable
    g = wg.grad(lambda a: wg.fori_loop(0, 3, lambda i, v: v * a + i, 1.0))(2.0)
    assert float(g) == 13.0


def w_cond(c):
    return c[0] < 5.0


def w_body(c):
    x, a, n = c
    return x * a + 0.5, a, n + 1


def while_py(x, a):
    n = 0
    while x < 5.0:
        x = x * a + 0.5
        n += 1
    return x, n


def test_while_loop_eager_and_reverse_mode():
    f = lambda x, a: wg.while_loop(w_cond, w_body, (x, a, 0))  # noqa: E731
    x, a, n = f(0.3, 1.7)
    xr, nr = while_py(0.3, 1.7)
    close(x, xr)
    assert int(n) == nr and n.dtype.kind == "i"
    fx = lambda x, a: f(x, a)[0]  # noqa: E731
    fp = lambda x, a: while_py(x, a)[0]  # noqa: E731
    close(wg.grad(fx, argnums=(0, 1))(0.3, 1.7), wg.grad(fp, argnums=(0, 1))(0.3, 1.7))
    close(wg.jvp(fx, (0.3, 1.7), (1.0, 0.5))[1], wg.jvp(fp, (0.3, 1.7), (1.0, 0.5))[1])
    # second order, both ways round
    close(wg.grad(wg.grad(fx, 1), 1)(0.3, 1.7), wg.grad(wg.grad(fp, 1), 1)(0.3, 1.7))
    close(wg.hessian(fx, (0, 1))(0.3, 1.7), wg.hessian(fp, (0, 1))(0.3, 1.7))
    close(wg.jvp(wg.grad(fx), (0.3, 1.7), (1.0, 0.0))[1],
          wg.jvp(wg.grad(fp), (0.3, 1.7), (1.0, 0.0))[1])


def test_while_loop_vjp_array_carry():
    def f(x):
        return wg.while_loop(lambda c: wnp.sum(c) < 10.0, lambda c: c * 1.5 + wnp.sin(c), x)

    def fp(x):
        while wnp.sum(x) < 10.0:
            x = x * 1.5 + wnp.sin(x)
        return x

    x = np.array([0.5, 1.0, 0.2])
    close(f(x), fp(x))
    ct = np.array([1.0, -2.0, 0.5])
    close(wg.vjp(f, x)[1](ct)[0], wg.vjp(fp, x)[1](ct)[0])
    close(wg.jacrev(f)(x), wg.jacfwd(fp)(x))


def test_while_loop_under_vmap_masks_finished_examples():
    xs = np.array([0.3, 2.0, 4.9, 6.0])
    a = 1.7
    f = lambda x: wg.while_loop(w_cond, w_body, (x, a, 0))  # noqa: E731
    x, _, n = wg.vmap(f)(xs)
    ref = [while_py(v, a) for v in xs]
    close(x, [r[0] for r in ref])
    assert list(np.asarray(n)) == [r[1] for r in ref]
    # per-example gradients, vmap outside and inside grad
    g = wg.vmap(wg.grad(lambda v: f(v)[0]))(xs)
    gr = [wg.grad(lambda v: while_py(v, a)[0])(v) for v in xs]
    close(g, gr)
    g2 = wg.grad(lambda v: wnp.sum(wg.vmap(f)(v)[0]))(xs)
    close(g2, gr)
    # forward mode under vmap
    t = wg.vmap(lambda v: wg.jvp(lambda u: f(u)[0], (v,), (1.0,))[1])(xs)
    close(t, gr)


def test_fori_loop_traced_bound_under_vmap():
    f = lambda n, x: wg.fori_loop(0, n, lambda i, v: v * 2.0, x)  # noqa: E731
    out = wg.vmap(f, in_axes=(0, None))(np.array([0, 1, 3]), 1.5)
    close(out, [1.5, 3.0, 12.0])


def test_while_loop_errors():
    with pytest.raises(TypeError, match="same structure, shapes and dtypes"):
        wg.while_loop(lambda c: c < 3, lambda c: (c, c), 0)
    with pytest.raises(TypeError, match="float32"):
        wg.while_loop(lambda c: c[0] < 3, lambda c: c.astype(np.float32) + 1, np.zeros(2))
    with pytest.raises(TypeError, match="body_fun must be callable"):
        wg.while_loop(lambda c: c < 3, None, 0)
    with pytest.raises(TypeError, match="boolean scalar"):
        wg.while_loop(lambda c: c, lambda c: c + 1, np.zeros(2))


# ----------------------------------------------------------------------------
# scan


def body_scan(c, x):
    h, s = c
    h = wnp.tanh(h * x["w"] + s)
    return (h, s + 0.1 * wnp.sum(h)), {"y": h * 2.0, "z": wnp.sum(h)}


def scan_py(init, xs, reverse=False):
    c = init
    ys = []
    n = len(xs["w"])
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        c, y = body_scan(c, {"w": xs["w"][i]})
        ys.append(y)
    if reverse:
        ys.reverse()
    return c, {"y": wnp.stack([y["y"] for y in ys]), "z": wnp.stack([y["z"] for y in ys])}


def wscan(init, xs, **kw):
    return wg.scan(body_scan, init, xs, **kw)


def _loss(fn, **kw):
    def loss(h0, w):
        (h, s), ys = fn((h0, 0.2), {"w": w}, **kw)
        return wnp.sum(h ** 2) + s + wnp.sum(ys["y"] * ys["z"][:, None])
    return loss


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_values_and_derivatives(reverse):
    h0 = RNG.normal(size=3)
    w = RNG.normal(size=(5, 3))
    c, ys = wg.scan(body_scan, (h0, 0.2), {"w": w}, reverse=reverse)
    cr, yr = scan_py((h0, 0.2), {"w": w}, reverse)
    close(c[0], cr[0])
    close(c[1], cr[1])
    close(ys["y"], yr["y"])
    close(ys["z"], yr["z"])
    L = _loss(wscan, reverse=reverse)
    Lp = _loss(scan_py, reverse=reverse)
    close(wg.grad(L, (0, 1))(h0, w), wg.grad(Lp, (0, 1))(h0, w))
    close(wg.jvp(L, (h0, w), (np.ones(3), np.ones((5, 3))))[1],
          wg.jvp(Lp, (h0, w), (np.ones(3), np.ones((5, 3))))[1])
    close(wg.hessian(L)(h0, w), wg.hessian(Lp)(h0, w))


def test_scan_length_without_xs_and_zero_length():
    c, ys = wg.scan(lambda c, _: (c * 2.0, c), 1.0, None, length=4)
    assert float(c) == 16.0 and list(ys) == [1.0, 2.0, 4.0, 8.0]
    c, ys = wg.scan(lambda c, x: (c + x, c * x), 1.0, np.zeros((0,)))
    assert float(c) == 1.0 and ys.shape == (0,)


def test_scan_under_vmap():
    h0 = RNG.normal(size=(4, 3))
    w = RNG.normal(size=(4, 5, 3))

    def f(h, w):
        (hh, s), ys = wg.scan(body_scan, (h, 0.2), {"w": w})
        return hh, s, ys["y"]

    def fp(h, w):
        (hh, s), ys = scan_py((h, 0.2), {"w": w})
        return hh, s, ys["y"]

    got = wg.vmap(f)(h0, w)
    for k in range(3):
        close(got[k], np.stack([fp(h0[i], w[i])[k] for i in range(4)]))
    # unbatched xs, batched carry; and batched xs with axis 1
    got = wg.vmap(f, in_axes=(0, None))(h0, w[0])
    close(got[2], np.stack([fp(h0[i], w[0])[2] for i in range(4)]))
    got = wg.vmap(f, in_axes=(None, 1))(h0[0], np.moveaxis(w, 0, 1))
    close(got[0], np.stack([fp(h0[0], w[i])[0] for i in range(4)]))
    # per-example gradients
    L = _loss(wscan)
    g = wg.vmap(wg.grad(L, (0, 1)))(h0, w)
    for i in range(4):
        gi = wg.grad(_loss(scan_py), (0, 1))(h0[i], w[i])
        close(g[0][i], gi[0])
        close(g[1][i], gi[1])


def test_scan_errors():
    with pytest.raises(TypeError, match="same structure, shapes and dtypes"):
        wg.scan(lambda c, x: ((c, c), x), 0.0, np.ones(3))
    with pytest.raises(TypeError, match="pair"):
        wg.scan(lambda c, x: c, 0.0, np.ones(3))
    with pytest.raises(ValueError, match="different leading sizes"):
        wg.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="length="):
        wg.scan(lambda c, x: (c, x), 0.0, None)
    with pytest.raises(ValueError, match="checkpoint must be"):
        wg.scan(lambda c, x: (c, x), 0.0, np.ones(3), checkpoint="all")
    with pytest.raises(ValueError, match="checkpoint_slots"):
        wg.scan(lambda c, x: (c, x), 0.0, np.ones(3), checkpoint="binomial")
    with pytest.raises(TypeError, match="f must be callable"):
        wg.scan(3, 0.0, np.ones(3))


# ----------------------------------------------------------------------------
# checkpointed scans


def _counting_body(counts):
    def body(c, x):
        k = int(x[0])
        counts[k] = counts.get(k, 0) + 1
        c = wnp.sin(c) * x[1] + c
        return c, wnp.sum(c)
    return body


def _ckpt_loss(ckpt, slots, counts, T=13):
    xs = np.stack([np.arange(T, dtype=float), np.linspace(0.5, 1.5, T)], axis=1)

    def loss(c0):
        c, ys = wg.scan(_counting_body(counts), c0, xs, checkpoint=ckpt,
                        checkpoint_slots=slots)
        return wnp.sum(c ** 2) + wnp.sum(ys * ys)
    return loss


@pytest.mark.parametrize("ckpt,slots", [("sqrt", None), ("binomial", 1), ("binomial", 2),
                                        ("binomial", 3), ("binomial", 5)])
def test_checkpointed_scan_gradients_match(ckpt, slots):
    c0 = np.array([0.3, -0.4])
    ref = wg.grad(_ckpt_loss(None, None, {}))(c0)
    close(wg.grad(_ckpt_loss(ckpt, slots, {}))(c0), ref)
    close(wg.hessian(_ckpt_loss(ckpt, slots, {}))(c0), wg.hessian(_ckpt_loss(None, None, {}))(c0))
    close(wg.vmap(wg.grad(_ckpt_loss(ckpt, slots, {})))(np.stack([c0, -c0])),
          np.stack([ref, wg.grad(_ckpt_loss(None, None, {}))(-c0)]))


@pytest.mark.parametrize("T,slots", [(13, 1), (13, 2), (13, 3), (30, 3), (30, 4), (20, 20)])
def test_binomial_recompute_count(T, slots):
    counts = {}
    wg.grad(_ckpt_loss("binomial", slots, counts, T))(np.array([0.3, -0.4]))
    r = binomial_reps(T, slots)
    assert math.comb(slots + r, slots) >= T and (r == 0 or math.comb(slots + r - 1, slots) < T)
    # each step: once in the forward sweep, once linearized for its reverse
    # step, and at most r plain recomputations in between
    assert set(counts) == set(range(T))
    assert max(counts.values()) - 2 <= r
    assert min(counts.values()) >= 2


def test_sqrt_recompute_count_and_no_checkpoint_count():
    counts = {}
    wg.grad(_ckpt_loss("sqrt", None, counts, 16))(np.array([0.3, -0.4]))
    assert counts == {k: 2 for k in range(16)}  # forward once, backward once
    counts = {}
    wg.grad(_ckpt_loss(None, None, counts, 16))(np.array([0.3, -0.4]))
    assert counts == {k: 1 for k in range(16)}  # stored: never recomputed


def _peak(ckpt, slots=None, T=200, n=2000):
    xs = np.linspace(0.5, 1.5, T)
    c0 = np.linspace(-1, 1, n)

    def loss(c):
        c, _ = wg.scan(lambda c, x: (wnp.tanh(wnp.sin(c) * x + c), None), c, xs,
                       checkpoint=ckpt, checkpoint_slots=slots)
        return wnp.sum(c)

    tracemalloc.start()
    try:
        g = wg.grad(loss)(c0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, g


def test_checkpointing_reduces_peak_memory():
    p_all, g_all = _peak(None)
    p_sqrt, g_sqrt = _peak("sqrt")
    p_bin, g_bin = _peak("binomial", 4)
    close(g_sqrt, g_all)
    close(g_bin, g_all)
    # storing every step keeps T carries' worth of coefficients (~16 kB each)
    assert p_sqrt < 0.3 * p_all, (p_sqrt, p_all)
    assert p_bin < 0.3 * p_all, (p_bin, p_all)


def test_checkpointed_scan_linearize_forward():
    # the checkpointed linear equation also runs forwards (linearize's JVP)
    f = lambda c: wg.scan(lambda c, x: (wnp.sin(c) * x, c * x), c, np.linspace(1, 2, 6),  # noqa: E731
                          checkpoint="sqrt")
    g = lambda c: wg.scan(lambda c, x: (wnp.sin(c) * x, c * x), c, np.linspace(1, 2, 6))  # noqa: E731
    _, fj = wg.linearize(f, 0.7)
    _, gj = wg.linearize(g, 0.7)
    a, b = fj(1.0), gj(1.0)
    close(a[0], b[0])
    close(a[1], b[1])


# ----------------------------------------------------------------------------
# under jit: same numbers, and each construct is one operation


def _names(fun, *args):
    return [e.name for e in wg.make_graph(fun, *args).eqns]


def w_loop(x):
    # captures x: closure conversion makes it an operand of the one loop
    return wg.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * x + wnp.sin(c[0]), c[1] + 1),
                         (1.0, 0))[0]


def s_loop(x):
    return wg.scan(lambda c, y: (c * wnp.sin(y) + y, c * y), x, wnp.arange(4.0) + x)


def c_fun(x):
    return wg.cond(x > 0, lambda v: wnp.sin(v) * v, lambda v: wnp.cos(v) - v, x)


def f_fun(x):
    return wg.fori_loop(0, 5, lambda i, v: v * wnp.tanh(v) + x, x)


@pytest.mark.parametrize("fun,prim", [(w_loop, "while_loop"), (s_loop, "scan"), (c_fun, "cond"),
                                      (f_fun, "scan")])
def test_jit_values_gradients_and_single_ops(fun, prim):
    jf = wg.jit(fun)
    scalar = lambda v: wnp.sum(wg.tree_util.tree_leaves(fun(v))[-1])  # noqa: E731
    for x in ((1.3, 2.1, 1.7) if fun is w_loop else (1.3, 2.1, -0.4)):
        # different branches / trip counts, one compilation
        close(jf(x), fun(x))
        close(wg.jit(wg.grad(scalar))(x), wg.grad(scalar)(x))
        close(wg.jit(lambda v: wg.jvp(scalar, (v,), (1.0,))[1])(x), wg.grad(scalar)(x))
    names = _names(fun, 1.3)
    assert names.count(prim) == 1
    assert "sin" not in names and "tanh" not in names and "cos" not in names  # body not unrolled
    # forward mode: still one loop
    names = _names(lambda v: wg.jvp(scalar, (v,), (1.0,))[1], 1.3)
    assert names.count(prim) == 1 and "sin" not in names and "tanh" not in names
    # reverse mode: one operation runs the construct and keeps its linearization,
    # one applies its transpose
    names = _names(wg.grad(scalar), 1.3)
    assert names.count("linearize") == 1 and names.count("linearization_vjp") == 1
    assert "sin" not in names and "tanh" not in names and "cos" not in names
    # a second derivative: a cond of the branches' VJPs on the same predicate
    if prim == "cond":
        names = _names(wg.hessian(scalar), 1.3)
        assert names.count("cond") >= 2 and "linearize" not in names and "sin" not in names


def test_jit_vmap_of_constructs():
    xs = np.array([1.3, 2.1, 1.7])
    close(wg.jit(wg.vmap(w_loop))(xs), wg.vmap(w_loop)(xs))
    close(wg.jit(wg.vmap(wg.grad(w_loop)))(xs), np.array([wg.grad(w_loop)(x) for x in xs]))
    close(wg.jit(wg.vmap(c_fun))(np.array([-1.0, 1.0])), [c_fun(-1.0), c_fun(1.0)])
    assert _names(wg.vmap(w_loop), xs).count("while_loop") == 1
    assert _names(wg.vmap(lambda v: s_loop(v)[0]), xs).count("scan") == 1


def test_jit_checkpointed_scan_and_errors_for_nested_reverse_of_while():
    f = lambda c: wnp.sum(wg.scan(lambda c, x: (wnp.sin(c) * x, c), c, np.linspace(1, 2, 9),  # noqa: E731
                                  checkpoint="sqrt")[1])
    close(wg.jit(wg.grad(f))(0.3), wg.grad(f)(0.3))
    close(wg.jit(wg.hessian(lambda v: s_loop(v)[0]))(0.3), wg.hessian(lambda v: s_loop(v)[0])(0.3))
    with pytest.raises(TypeError, match="outside jit"):
        wg.jit(wg.grad(wg.grad(w_loop)))(1.3)
    close(wg.grad(wg.grad(w_loop))(1.3), wg.grad(wg.grad(lambda v: _w_py(v)))(1.3))


def _w_py(x):
    c = (1.0, 0)
    while c[0] < 10.0:
        c = (c[0] * x + wnp.sin(c[0]), c[1] + 1)
    return c[0]
