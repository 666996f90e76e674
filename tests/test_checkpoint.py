"""checkpoint / remat: same derivatives, fewer saved values, recomputation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._core import JVPTrace, JVPTracer, LinVar, TapeTrace, end_level, new_level

RNG = np.random.default_rng(1)


def close(a, b, tol=1e-10):
    la, ta = wg.tree_util.tree_flatten(a)
    lb, tb = wg.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def block(w, x):
    for _ in range(6):
        x = wnp.tanh(wnp.sin(x) * w + x)
    return x


def net(w, x, remat):
    b = wg.checkpoint(block) if remat else block
    for _ in range(4):
        x = b(w, x)
    return wnp.sum(x ** 2)


def test_alias():
    assert wg.remat is wg.checkpoint


def test_grad_checkpoint_equals_grad():
    w, x = 0.7, RNG.normal(size=5)
    close(wg.grad(net, (0, 1))(w, x, True), wg.grad(net, (0, 1))(w, x, False))
    close(wg.hessian(net, 1)(w, x, True), wg.hessian(net, 1)(w, x, False))
    close(wg.jacfwd(wg.jacrev(net, 1), 1)(w, x, True), wg.hessian(net, 1)(w, x, False))
    close(wg.jvp(lambda v: net(w, v, True), (x,), (x,)), wg.jvp(lambda v: net(w, v, False), (x,), (x,)))
    close(wg.jvp(wg.grad(lambda v: net(w, v, True)), (x,), (x,)),
          wg.jvp(wg.grad(lambda v: net(w, v, False)), (x,), (x,)))
    # reverse-over-reverse
    close(wg.grad(wg.grad(lambda a: net(a, x, True)))(w), wg.grad(wg.grad(lambda a: net(a, x, False)))(w))


def test_checkpoint_under_vmap():
    w, xs = 0.7, RNG.normal(size=(3, 5))
    g = wg.vmap(wg.grad(lambda v: net(w, v, True)))(xs)
    close(g, np.stack([wg.grad(lambda v: net(w, v, False))(x) for x in xs]))
    g2 = wg.grad(lambda v: wnp.sum(wg.vmap(wg.checkpoint(lambda u: block(w, u)))(v) ** 2))(xs)
    close(g2, wg.grad(lambda v: wnp.sum(wg.vmap(lambda u: block(w, u))(v) ** 2))(xs))


def test_pytrees_static_args_and_linearize():
    def f(p, x, mode):
        y = p["a"] * wnp.sin(x) + p["b"]
        return {"y": y if mode == "plain" else y * 2.0, "n": wnp.sum(y)}

    p = {"a": 1.5, "b": RNG.normal(size=3)}
    x = RNG.normal(size=3)
    cf = wg.checkpoint(f, static_argnums=(2,))
    L = lambda f_: lambda p, x: wnp.sum(f_(p, x, "double")["y"]) + f_(p, x, "plain")["n"]  # noqa: E731
    close(wg.grad(L(cf), (0, 1))(p, x), wg.grad(L(f), (0, 1))(p, x))
    close(cf(p, x, "plain"), f(p, x, "plain"))
    # string arguments pass through without static_argnums too
    close(wg.checkpoint(f)(p, x, "plain"), f(p, x, "plain"))
    _, fj = wg.linearize(lambda v: cf(p, v, "plain")["y"], x)
    _, gj = wg.linearize(lambda v: f(p, v, "plain")["y"], x)
    close(fj(np.ones(3)), gj(np.ones(3)))


def test_recomputes_in_the_backward_pass():
    calls = []

    def f(x):
        calls.append(1)
        return wnp.sin(x) * x

    cf = wg.checkpoint(f)
    wg.grad(lambda x: wnp.sum(cf(x)))(np.ones(3))
    assert len(calls) == 2  # forward, then again in the backward pass
    calls.clear()
    wg.grad(lambda x: wnp.sum(f(x)))(np.ones(3))
    assert len(calls) == 1


def _tape_length(fun, x):
    """Number of linear equations on the tape after the forward pass."""
    level = new_level()
    trace = JVPTrace(level)
    tape = TapeTrace(level + 0.5)
    try:
        fun(JVPTracer(trace, x, LinVar(tape, None, (), ())))
    finally:
        end_level()
        trace.kill()
    return len(tape.tape)


def test_tape_holds_fewer_equations():
    x = RNG.normal(size=4)
    plain = _tape_length(lambda v: net(0.7, v, False), x)
    remat = _tape_length(lambda v: net(0.7, v, True), x)
    assert plain >= 4 * 6 * 4  # every sin, mul, add, tanh of every block
    assert remat <= 4 * 2 + 4  # one equation (+ its output) per block, then the loss
    assert remat * 8 < plain


def _peak(remat, n=20000):
    x = np.linspace(-1, 1, n)
    tracemalloc.start()
    try:
        g = wg.grad(lambda v: net(0.7, v, remat))(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, g


def test_peak_memory_is_lower():
    p_plain, g_plain = _peak(False)
    p_remat, g_remat = _peak(True)
    close(g_plain, g_remat)
    # 4 blocks of 6 layers: storing keeps all 24 layers' coefficients, remat
    # keeps 4 block inputs and one block's coefficients at a time
    assert p_remat < 0.5 * p_plain, (p_remat, p_plain)


def test_closure_over_traced_value_still_correct():
    def outer(a, x):
        return wnp.sum(wg.checkpoint(lambda v: wnp.sin(v * a))(x))
    x = RNG.normal(size=3)
    close(wg.grad(outer, (0, 1))(0.3, x),
          wg.grad(lambda a, x: wnp.sum(wnp.sin(x * a)), (0, 1))(0.3, x))


def test_errors():
    with pytest.raises(TypeError, match="callable"):
        wg.checkpoint(3)


def test_checkpoint_under_jit():
    w, x = 0.7, RNG.normal(size=5)
    close(wg.jit(wg.grad(lambda v: net(w, v, True)))(x), wg.grad(lambda v: net(w, v, False))(x))
    close(wg.jit(lambda v: net(w, v, True))(x), net(w, x, False))
    names = [e.name for e in wg.make_graph(lambda v: net(w, v, True), x).eqns]
    assert names.count("checkpoint") == 4 and "tanh" not in names
