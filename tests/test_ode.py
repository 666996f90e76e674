"""odeint: values and derivatives against closed forms and finite differences,
both gradient routes (through the steps; the continuous adjoint), both modes;
the adjoint route's memory flat in the number of steps."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from _fd import check_grads

import wengert as wg
import wengert.numpy as wnp
from wengert import numeric


def decay(y, t, k):
    return -k * y


def _y1(y0, k, t1, **kw):
    return wg.odeint(decay, y0, wnp.stack([wnp.asarray(0.0), t1]), k, **kw)[1]


@pytest.mark.parametrize("adjoint", [False, True])
def test_exponential_decay_closed_form(adjoint):
    y0, k, t1 = 1.5, 0.8, 2.0
    e = np.exp(-k * t1)
    assert np.isclose(_y1(y0, k, t1, adjoint=adjoint), y0 * e, rtol=1e-7)
    g = wg.grad(lambda y0, k, t1: _y1(y0, k, t1, adjoint=adjoint), argnums=(0, 1, 2))(y0, k, t1)
    assert np.allclose(g, [e, -t1 * y0 * e, -k * y0 * e], rtol=1e-6)
    # forward mode (with adjoint=True it differentiates the steps)
    tk = wg.jvp(lambda k: _y1(y0, k, t1, adjoint=adjoint), (k,), (1.0,))[1]
    assert np.isclose(tk, -t1 * y0 * e, rtol=1e-6)


def test_adjoint_route_under_vmap_and_second_order():
    f = lambda k: wg.odeint(decay, 1.0, np.array([0.0, 1.0]), k, adjoint=True)[1]
    ks = np.array([0.5, 1.0, 2.0])
    assert np.allclose(wg.vmap(wg.grad(f))(ks), -np.exp(-ks), rtol=1e-6)
    assert np.allclose(wg.jacrev(wg.vmap(f))(ks), np.diag(-np.exp(-ks)), rtol=1e-6)
    # second order differentiates the backward solve itself
    assert np.isclose(wg.hessian(f)(0.5), np.exp(-0.5), rtol=1e-6)


def test_second_derivatives_through_the_steps():
    y0, k, t1 = 1.5, 0.8, 2.0
    e = np.exp(-k * t1)
    H = wg.hessian(lambda p: _y1(p[0], p[1], p[2]))(np.array([y0, k, t1]))
    expect = np.array([[0, -t1 * e, -k * e],
                       [-t1 * e, t1 ** 2 * y0 * e, (k * t1 - 1) * y0 * e],
                       [-k * e, (k * t1 - 1) * y0 * e, k ** 2 * y0 * e]])
    assert np.allclose(H, expect, rtol=1e-5, atol=1e-7)


def test_linear_ode_against_expm(rng):
    from scipy.linalg import expm, expm_frechet
    A = 0.5 * rng.standard_normal((3, 3))
    y0 = rng.standard_normal(3)
    ts = np.array([0.0, 0.5, 1.5])

    def sol(A, y0, adjoint=False):
        return wg.odeint(lambda y, t, A: A @ y, y0, ts, A, adjoint=adjoint, rtol=1e-10, atol=1e-12)

    ys = sol(A, y0)
    for i, t in enumerate(ts):
        assert np.allclose(ys[i], expm(A * t) @ y0, atol=1e-9)
    # dy(t)/dy0 = expm(A t); dy(t)/dA [E] = frechet derivative of expm at A t in E t, times y0
    assert np.allclose(wg.jacrev(lambda y0: sol(A, y0)[2])(y0), expm(A * 1.5), atol=1e-8)
    assert np.allclose(wg.jacfwd(lambda y0: sol(A, y0)[2])(y0), expm(A * 1.5), atol=1e-8)
    E = rng.standard_normal((3, 3))
    exact = expm_frechet(A * 1.5, E * 1.5, compute_expm=False) @ y0
    for adjoint in (False, True):
        ct = rng.standard_normal(3)
        gA = wg.grad(lambda A: wnp.sum(sol(A, y0, adjoint)[2] * ct))(A)
        assert np.isclose(np.sum(gA * E), exact @ ct, rtol=1e-6)
    assert np.allclose(wg.jvp(lambda A: sol(A, y0)[2], (A,), (E,))[1], exact, atol=1e-8)


@pytest.mark.parametrize("adjoint", [False, True])
def test_harmonic_oscillator_derivative_in_frequency_and_times(adjoint):
    # y'' = -w² y, y(0) = 1, y'(0) = 0: y = cos(w t), dy/dw = -t sin(w t), dy/dt = -w sin(w t)
    def osc(state, t, w):
        return wnp.stack([state[1], -w * w * state[0]])

    ts = np.array([0.0, 1.0, 2.5])
    w = 1.3
    f = lambda w, ts: wg.odeint(osc, np.array([1.0, 0.0]), ts, w, adjoint=adjoint,
                                rtol=1e-9, atol=1e-11)[:, 0]
    assert np.allclose(f(w, ts), np.cos(w * ts), atol=1e-9)
    Jw, Jt = wg.jacrev(f, argnums=(0, 1))(w, ts)
    assert np.allclose(Jw, -ts * np.sin(w * ts), atol=1e-7)
    # y(t_i) depends on t_i and (through the start) on t_0
    expect = np.diag(-w * np.sin(w * ts))
    expect[1:, 0] = w * np.sin(w * ts[1:])          # starting later shifts the solution
    expect[0, 0] = 0.0
    assert np.allclose(Jt, expect, atol=1e-7)


def test_against_finite_differences_both_modes(rng):
    def f(y0, th):
        def rhs(y, t, th):
            return wnp.stack([th[0] * y[0] - th[1] * y[0] * y[1], -th[2] * y[1] + th[1] * y[0] * y[1]])
        return wg.odeint(rhs, y0, np.array([0.0, 0.7, 1.2]), th, rtol=1e-10, atol=1e-12)

    check_grads(f, (np.array([1.0, 0.5]), np.array([1.1, 0.4, 0.9])), order=1, tol=1e-5)
    # and in the output times (both modes)
    g = lambda ts: wg.odeint(lambda y, t: wnp.stack([y[1], -wnp.sin(t) * y[0]]), np.array([1.0, 0.5]), ts,
                             rtol=1e-10, atol=1e-12)
    check_grads(g, (np.array([0.1, 0.7, 1.2]),), order=1, tol=1e-5)
    # the adjoint route gives the same gradient
    ga = wg.grad(lambda th: wnp.sum(wg.odeint(
        lambda y, t, th: wnp.stack([th[0] * y[0] - th[1] * y[0] * y[1], -th[2] * y[1] + th[1] * y[0] * y[1]]),
        np.array([1.0, 0.5]), np.array([0.0, 0.7, 1.2]), th, adjoint=True, rtol=1e-10, atol=1e-12) ** 2))
    gs = wg.grad(lambda th: wnp.sum(f(np.array([1.0, 0.5]), th) ** 2))
    th = np.array([1.1, 0.4, 0.9])
    assert np.allclose(ga(th), gs(th), rtol=1e-6)


@pytest.mark.parametrize("method,steps,tol", [("rk4", 20, 1e-6), ("euler", 500, 2e-3)])
def test_fixed_step_methods(method, steps, tol):
    f = lambda k: wg.odeint(decay, 1.0, np.array([0.0, 1.0]), k, method=method, steps=steps)[1]
    assert np.isclose(f(0.7), np.exp(-0.7), rtol=tol)
    assert np.isclose(wg.grad(f)(0.7), -np.exp(-0.7), rtol=tol)


def test_pytree_state_captured_values_vmap_jit():
    def rhs(s, t, k):
        return {"x": s["v"], "v": -k * s["x"]}

    out = wg.odeint(rhs, {"x": 1.0, "v": 0.0}, np.array([0.0, 1.0]), 4.0)
    assert np.isclose(out["x"][1], np.cos(2.0), atol=1e-7)
    # a captured (traced) value is differentiated too
    g = wg.grad(lambda k: wg.odeint(lambda y, t: -k * y, 1.0, np.array([0.0, 1.0]))[1])(0.5)
    assert np.isclose(g, -np.exp(-0.5), rtol=1e-6)
    y0s = np.array([1.0, 2.0, 3.0])
    vm = wg.vmap(lambda y0: wg.odeint(decay, y0, np.array([0.0, 1.0]), 0.5)[1])(y0s)
    assert np.allclose(vm, y0s * np.exp(-0.5), rtol=1e-7)
    ks = np.array([0.1, 1.0, 3.0])   # different step counts per example
    gv = wg.vmap(wg.grad(lambda k: wg.odeint(decay, 1.0, np.array([0.0, 1.0]), k)[1]))(ks)
    assert np.allclose(gv, -np.exp(-ks), rtol=1e-6)
    jf = wg.jit(lambda k: wg.odeint(decay, 1.0, np.array([0.0, 1.0]), k)[1])
    assert np.isclose(jf(0.5), np.exp(-0.5), rtol=1e-7) and np.isclose(jf(0.7), np.exp(-0.7), rtol=1e-7)


def test_stiff_problem_and_bad_input_raise_clearly():
    stiff = lambda y, t: -1e6 * (y - wnp.cos(t))
    with pytest.raises(RuntimeError, match="mxstep=100.*stiff"):
        wg.odeint(stiff, 0.0, np.array([0.0, 1.0]), mxstep=100)
    with pytest.raises(ValueError, match="method='bdf'"):
        wg.odeint(decay, 1.0, np.array([0.0, 1.0]), 1.0, method="bdf")
    with pytest.raises(ValueError, match="strictly increasing"):
        wg.odeint(decay, 1.0, np.array([0.0, 1.0, 0.5]), 1.0)
    with pytest.raises(TypeError, match="shape"):
        wg.odeint(lambda y, t: y[:1], np.ones(2), np.array([0.0, 1.0]))
    with pytest.raises(NotImplementedError, match="adjoint=True inside jit"):
        wg.jit(wg.grad(lambda k: wg.odeint(decay, 1.0, np.array([0.0, 1.0]), k, adjoint=True)[1]))(0.5)
    # inside jit a failed solve is NaN (values are unknown while tracing)
    out = wg.jit(lambda y0: wg.odeint(stiff, y0, np.array([0.0, 1.0]), mxstep=50))(0.0)
    assert np.isnan(out[1])


def test_decreasing_times():
    ys = wg.odeint(decay, 1.0, np.array([1.0, 0.0]), 0.5)
    assert np.isclose(ys[1], np.exp(0.5), rtol=1e-7)
    assert np.isclose(wg.grad(lambda k: wg.odeint(decay, 1.0, np.array([1.0, 0.0]), k)[1])(0.5),
                      np.exp(0.5), rtol=1e-6)


def _peak(fn):
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_adjoint_memory_flat_in_the_number_of_steps():
    m = 100                                         # 100 oscillators: steps grow with T

    def rhs(y, t, w):
        return wnp.concatenate([y[m:], -w * w * y[:m]])

    def loss(T, adjoint):
        return lambda w: wnp.sum(wg.odeint(rhs, np.ones(2 * m), np.array([0.0, T]), w,
                                           adjoint=adjoint, rtol=1e-5, atol=1e-7)[1])

    w = np.linspace(0.5, 1.5, m)
    wg.grad(loss(0.5, True))(w)                     # warm caches
    wg.grad(loss(0.5, False))(w)
    short = _peak(lambda: wg.grad(loss(1.0, True))(w))
    long_ = _peak(lambda: wg.grad(loss(8.0, True))(w))
    steps_short = _peak(lambda: wg.grad(loss(1.0, False))(w))
    steps_long = _peak(lambda: wg.grad(loss(8.0, False))(w))
    # through the steps: one state per step (memory grows with the span); the
    # adjoint stores no step (what it gains is cyclic garbage of its many
    # small vjp calls, awaiting Python's cycle collector)
    assert steps_long > 3 * steps_short
    assert long_ - short < 0.3 * (steps_long - steps_short)
    assert long_ < 0.6 * steps_long


def test_lotka_volterra_fit_small():
    def lv(y, t, th):
        a, b, c, d = th[0], th[1], th[2], th[3]
        return wnp.stack([a * y[0] - b * y[0] * y[1], d * y[0] * y[1] - c * y[1]])

    ts = np.linspace(0.0, 3.0, 4)
    true = np.array([1.0, 0.5, 1.0, 0.3])
    data = wg.odeint(lv, np.array([2.0, 1.0]), ts, true)

    def loss(th):
        return wnp.mean((wg.odeint(lv, np.array([2.0, 1.0]), ts, th, adjoint=True) - data) ** 2)

    th = np.array([0.9, 0.55, 1.05, 0.28])
    g = wg.grad(loss)(th)
    assert np.allclose(g, numeric.grad(loss, th), rtol=1e-4, atol=1e-7)
    l0 = loss(th)
    for _ in range(3):
        th = th - 0.03 * g / np.linalg.norm(g)      # normalised gradient steps
        g = wg.grad(loss)(th)
    assert loss(th) < 0.7 * l0
