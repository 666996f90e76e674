"""The reverse sweep's fast paths for matrix-vector products: a linear
matrix's cotangent from many ``W @ h`` steps is summed as one matrix product
at the end, and a linear vector's is ``ct @ W`` (no transpose).  Checked
against hand-written gradients and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

RNG = np.random.default_rng(11)


def central_jacobian(f, x, h=1e-6):
    """Central differences of a scalar function, element by element."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (float(f(x + e)) - float(f(x - e))) / (2 * h)
    return g


def _rnn(W, xs, h0):
    h = h0
    for x in xs:
        h = wnp.tanh(W @ h + x)
    return wnp.sum(h)


def _rnn_hand(W, xs, h0):
    hs = [h0]
    for x in xs:
        hs.append(np.tanh(W @ hs[-1] + x))
    gh = np.ones_like(h0)
    gW = np.zeros_like(W)
    for t in range(len(xs) - 1, -1, -1):
        da = gh * (1 - hs[t + 1] ** 2)
        gW += np.outer(da, hs[t])
        gh = W.T @ da
    return gW, gh


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_recurrence_gradient_matches_hand_written(dtype):
    W = (RNG.standard_normal((5, 5)) / 2).astype(dtype)
    xs = [x.astype(dtype) for x in RNG.standard_normal((30, 5))]
    h0 = RNG.standard_normal(5).astype(dtype)
    gW, gh0 = wg.grad(_rnn, argnums=(0, 2))(W, xs, h0)
    wW, wh0 = _rnn_hand(W, xs, h0)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(gW, wW, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gh0, wh0, rtol=rtol, atol=rtol)
    assert gW.dtype == dtype and gh0.dtype == dtype


def test_vector_times_linear_matrix_and_mixed_contributions():
    v = RNG.standard_normal(4)
    u = RNG.standard_normal(3)

    def f(W):
        W2 = W * 3.0  # the deferred products land on an intermediate, flushed mid-sweep
        a = wnp.tanh(v @ W2)  # (4,) @ (4, 3): outer(v, ct)
        b = wnp.sin(W2 @ u)   # (4, 3) @ (3,): outer(ct, u)
        c = wnp.cos(W @ u)    # straight onto the input
        return wnp.sum(a * a) + wnp.sum(b) + wnp.sum(c) + wnp.sum(W * W)

    W = RNG.standard_normal((4, 3))
    fd = central_jacobian(f, W)
    np.testing.assert_allclose(wg.grad(f)(W), fd, rtol=1e-7, atol=1e-9)
    # second order: the deferred sums stay correct when nested
    fd2 = central_jacobian(lambda Z: wnp.sum(wg.grad(f)(Z)), W)  # H·1, by differences
    hv = wg.jvp(wg.grad(f), (W,), (np.ones_like(W),))[1]  # H·1, forward over reverse
    np.testing.assert_allclose(hv, fd2, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(wg.grad(lambda Z: wnp.sum(wg.grad(f)(Z)))(W), fd2, rtol=1e-6, atol=1e-7)


def test_linear_vector_on_the_right_needs_no_transpose():
    M = RNG.standard_normal((3, 5))

    def f(x):
        return wnp.sum(wnp.sin(M @ x) ** 2)

    x = RNG.standard_normal(5)
    want = M.T @ (2 * np.sin(M @ x) * np.cos(M @ x))
    np.testing.assert_allclose(wg.grad(f)(x), want, rtol=1e-13)
    np.testing.assert_allclose(wg.jacrev(lambda x: wnp.sin(M @ x))(x), np.cos(M @ x)[:, None] * M,
                               rtol=1e-13)


@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((4,), (4, 3)), ((4,), (4,)), ((2, 4), (4, 3))])
def test_matmul_operator_fast_path_in_every_mode(shapes):
    a0 = RNG.standard_normal(shapes[0])
    b0 = RNG.standard_normal(shapes[1])

    def f(a, b):
        return wnp.sum(wnp.sin(a @ b))

    def hand(a, b):
        c = np.cos(a @ b)
        if a.ndim == 2 and b.ndim == 1:
            return np.multiply.outer(c, b), a.T @ c
        if a.ndim == 1 and b.ndim == 2:
            return b @ c, np.multiply.outer(a, c)
        if a.ndim == 1 and b.ndim == 1:
            return c * b, c * a
        return c @ b.T, a.T @ c

    want = hand(a0, b0)
    got = wg.grad(f, argnums=(0, 1))(a0, b0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    # forward mode over reverse, and reverse over reverse, agree with differences
    fd = central_jacobian(lambda a: wnp.sum(wg.grad(f)(a, b0)), a0)
    np.testing.assert_allclose(wg.grad(lambda a: wnp.sum(wg.grad(f)(a, b0)))(a0), fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(wg.jvp(lambda a: wnp.sum(wg.grad(f)(a, b0)), (a0,), (np.ones_like(a0),))[1],
                               np.sum(fd), rtol=1e-6)


def test_same_shape_constant_of_another_dtype_promotes_as_numpy_does():
    x = np.linspace(0.1, 1.0, 4).astype(np.float32)
    c = np.linspace(1.0, 2.0, 4)  # float64
    v, g = wg.value_and_grad(lambda x: wnp.sum(x * c))(x)
    assert np.result_type(v) == np.float64  # NumPy's promotion of the product
    assert g.dtype == np.float32  # the gradient has its input's dtype
    np.testing.assert_allclose(g, c.astype(np.float32), rtol=1e-7)


def test_in_place_scaling_never_touches_arrays_held_elsewhere():
    # the sweep scales a cotangent in place only when nothing else holds it:
    # a user's cotangent, a cotangent shared by two operands (x + x), and the
    # inputs all stay as they were
    x = np.linspace(0.1, 1.0, 6).reshape(2, 3)
    x0 = x.copy()
    ct = np.full((2, 3), 2.0)
    ct0 = ct.copy()
    c = np.linspace(1.0, 2.0, 6).reshape(2, 3)
    _, f_vjp = wg.vjp(lambda x: wnp.tanh(x) * c, x)
    (g,) = f_vjp(ct)
    np.testing.assert_array_equal(ct, ct0)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_allclose(g, ct0 * c * (1 - np.tanh(x0) ** 2), rtol=1e-14)
    g2 = wg.grad(lambda x: wnp.sum((x + x) * c * x))(x)
    np.testing.assert_allclose(g2, 4 * c * x0, rtol=1e-14)
