"""Defects the random-program test found, each shrunk by hand to a plain test.

Numbers are compared with finite differences of the same function (central,
Richardson) or with eager NumPy; each test names the fuzz family it came from
(docs/fuzz.md).
"""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp


def _fd_dir(f, xs, vs, h=1e-5):
    """Directional derivative of f at xs along vs (central differences, Richardson)."""
    def d(t):
        return (np.asarray(f(*[x + t * v for x, v in zip(xs, vs)]))
                - np.asarray(f(*[x - t * v for x, v in zip(xs, vs)]))) / (2 * t)
    return (4 * d(h / 2) - d(h)) / 3


def _dot(gs, vs):
    return sum(float(np.sum(np.asarray(g) * v)) for g, v in zip(gs, vs))


# --- F1: jit(vmap(grad)) / vmap(jit(grad)) with an unbatched input read in a loop body ---------------


def _f1(x0, x1):
    v6 = wnp.take(x1, np.array([0, 0, 0]), axis=0)
    cell = [x1]

    def body(s):
        return (s[0] + 1.0, s[1] * wnp.tanh(cell[0]))

    v7 = wg.while_loop(lambda s: s[0] < 2.0, body, (0.0, v6))[1]
    v9 = wnp.swapaxes(wnp.take(x1, np.array([0, 0]), axis=1), 2, -3)
    return wnp.sum(wnp.logaddexp2(wnp.sum(x0) * 0.3, v7.T) * v9)


@pytest.mark.parametrize("nest", ["jit(vmap(grad))", "vmap(jit(grad))"])
def test_jit_vmap_grad_of_loop_reading_unbatched_input(nest):
    x0 = np.array([[1.2, 1.3]])
    x1 = np.array([[[-0.8, -1.1]]])
    X0 = np.stack([x0, x0 * 0.5 + 0.1])
    g = wg.grad(_f1, argnums=(0, 1))
    fn = wg.jit(wg.vmap(g, in_axes=(0, None))) if nest == "jit(vmap(grad))" else wg.vmap(wg.jit(g), in_axes=(0, None))
    v = [np.array([[0.3, -0.7]]), np.array([[[0.5, 0.2]]])]
    for _ in range(3):   # trace, compile, compiled
        out = fn(X0, x1)
        assert [np.shape(a) for a in out] == [(2, 1, 2), (2, 1, 1, 2)]
        for b in range(2):
            want = _fd_dir(_f1, [X0[b], x1], v)
            assert abs(_dot([out[0][b], out[1][b]], v) - float(want)) < 1e-6 * max(1.0, abs(float(want)))


def test_jit_vmap_grad_of_checkpointed_scan_unbatched_xs():
    def f(x0, x1, x2):
        def body(c, x):
            c = wnp.tanh(c * (wnp.mean(x1) + wnp.mean(x)) + 0.1)
            return c, wnp.cos(c)
        v = wg.scan(body, wnp.mean(x1, axis=-1, keepdims=True), x1, checkpoint="sqrt")[0]
        return wnp.sum(wnp.logaddexp(v, x0) * (1.0 + x2))

    x0 = np.array([[-0.6, 0.3, 0.2, -0.4]])
    x1 = np.array([[-1.3, 1.4, -1.1, 0.2]])
    x2 = np.array(0.6)
    X0 = np.stack([x0, x0 + 0.2], axis=-1)
    X2 = np.array([0.6, -0.3])
    fn = wg.jit(wg.vmap(wg.grad(f, argnums=(0, 1, 2)), in_axes=(-1, None, 0)))
    ref = wg.vmap(wg.grad(f, argnums=(0, 1, 2)), in_axes=(-1, None, 0))(X0, x1, X2)
    for _ in range(3):
        out = fn(X0, x1, X2)
        for a, b in zip(out, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    v = [np.ones_like(x0), np.ones_like(x1), np.ones_like(x2)]
    want = _fd_dir(f, [x0, x1, x2], v)
    assert abs(_dot([out[0][0], out[1][0], out[2][0]], v) - float(want)) < 1e-6 * max(1.0, abs(float(want)))


# --- F2: Tensor.transpose with an axes tuple follows NumPy ---------------------------------------


@pytest.mark.parametrize("axes", [(0, 1), (1, 0), (0, 2, 1), (2, 0, 1)])
def test_tensor_transpose_axes_tuple_is_numpys(axes):
    a = np.arange(3.0).reshape(1, 3) if len(axes) == 2 else np.arange(6.0).reshape(1, 3, 2)
    t = wg.tensor(a, requires_grad=True)
    y = t.transpose(axes)
    np.testing.assert_array_equal(y.data, a.transpose(axes))
    w = np.linspace(-1.0, 1.0, y.data.size).reshape(y.data.shape)
    (y * wg.tensor(w)).sum().backward()
    np.testing.assert_array_equal(t.grad.data, w.transpose(np.argsort(axes)))


# --- F3: hypot at (0, 0) where the tangent is zero ------------------------------------------------


def test_hypot_of_constant_zeros_has_finite_derivative():
    def f(x0):
        v0 = wnp.pad(x0, ((1, 0), (0, 1)), mode="constant")   # constant zeros around x0
        return x0 + wnp.sum(wnp.hypot(v0, v0)) * 0.5

    x0 = np.array([[-1.2, 1.0], [1.1, -1.3]])
    v = np.array([[0.3, -0.5], [0.7, 0.2]])
    want = _fd_dir(f, [x0], [v])
    _, t = wg.jvp(f, (x0,), (v,))
    np.testing.assert_allclose(t, want, rtol=1e-7, atol=1e-8)
    g = wg.grad(lambda x: wnp.sum(f(x)))(x0)
    assert abs(_dot([g], [v]) - float(np.sum(want))) < 1e-7


# --- F4: jacfwd through control flow keeps the primal unbatched --------------------------------------


@pytest.mark.parametrize("case", ["fori+round", "cond+round", "fori+argmax-index"])
def test_jacfwd_through_control_flow_then_data_dependent_op(case):
    loop = lambda x: wg.fori_loop(0, 2, lambda i, c: wnp.sin(c), x)   # noqa: E731
    f = {
        "fori+round": lambda x: wnp.round(loop(x), 1) * x,
        "cond+round": lambda x: wnp.round(wg.cond(x[0] > 0, wnp.sin, wnp.cos, x), 1) * x,
        "fori+argmax-index": lambda x: (lambda v: v[wnp.argmax(v)] * x)(loop(x)),
    }[case]
    x = np.array([0.3, -1.0, 2.0])
    jr = wg.jacrev(f)(x)
    jf = wg.jacfwd(f)(x)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)
    for i in range(3):
        e = np.eye(3)[i]
        np.testing.assert_allclose(jf[:, i], _fd_dir(f, [x], [e]), rtol=1e-7, atol=1e-8)


# --- F5: std where the values along the axis are structurally equal ---------------------------------


@pytest.mark.parametrize("case", ["concatenate", "difference", "size-one axis"])
def test_std_of_structurally_equal_values_has_zero_derivative(case):
    f, x = {
        "concatenate": (lambda x: wnp.concatenate((x, x, x)).std(axis=0, keepdims=True), np.array([1.3])),
        "difference": (lambda x: wnp.std(wnp.sum(x - x, axis=0), axis=0), np.arange(6.0).reshape(2, 3)),
        "size-one axis": (lambda x: wnp.std(wnp.max(x, axis=1)[:, None], axis=1), np.array([[-0.5], [1.0], [0.3]])),
    }[case]
    v = np.linspace(-1.0, 1.0, x.size).reshape(x.shape)
    want = _fd_dir(f, [x], [v])
    np.testing.assert_allclose(want, 0.0, atol=1e-9)
    g = wg.grad(lambda x: wnp.sum(f(x)))(x)
    np.testing.assert_allclose(g, 0.0, atol=1e-12)
    _, t = wg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(t, 0.0, atol=1e-12)


# --- F6: jit's argsort breaks ties as eager NumPy does ------------------------------------------------


def test_jit_argsort_ties_match_eager():
    def f(x):
        t = wnp.tile(x, (2,))
        return wnp.take_along_axis(wnp.cumsum(t), wnp.argsort(t), axis=0)

    j = wg.jit(f)
    for x in (np.array([-0.3, 0.5, -0.2]), np.array([0.9, 0.5, -0.2]), np.array([0.9, 0.5, -0.2])):
        np.testing.assert_array_equal(j(x), f(x))


# --- F7: arctan2 at (0, 0) where the tangent is zero --------------------------------------------------


@pytest.mark.parametrize("case", ["diag", "difference"])
def test_arctan2_of_constant_zeros_has_finite_derivative(case):
    if case == "diag":
        def f(x0):
            v3 = wnp.diag(x0, 1)                  # zeros off the first superdiagonal: constants
            return wnp.arctan2(wnp.einsum("im->i", v3), v3)
        x = np.array([-1.5, -0.9])
    else:
        def f(x0):
            v0 = x0.reshape((-1, 1))
            return wnp.arctan2(x0 - x0, wnp.ptp(v0, axis=1)) + x0   # arctan2(0, 0), constant in x0
        x = np.array([0.4, 1.3])
    v = np.array([0.6, -0.8])
    want = _fd_dir(f, [x], [v])
    _, t = wg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(t, want, rtol=1e-7, atol=1e-8)
    g = wg.grad(lambda x: wnp.sum(f(x)))(x)
    assert abs(_dot([g], [v]) - float(np.sum(want))) < 1e-7


# --- F8: jit(hessian) w.r.t. two arguments through a cond nested in a cond's branch -----------------------


def test_jit_hessian_two_argnums_through_nested_cond():
    def f(x0, x1):
        v1 = (wnp.tanh(x0) + 1.2).cumprod()          # shape (1,)

        def false_branch(u):
            return wg.cond(wnp.sum(u) > 0.0, lambda u: wnp.sin(u) * x0, lambda u: wnp.tanh(u), u)

        return wnp.sum(wg.cond(wnp.max(x1) > 1.0, wnp.tanh, false_branch, v1))

    x0, x1 = np.array(-0.7), np.array(0.4)
    ref = wg.hessian(f, argnums=(0, 1))(x0, x1)
    # the eager Hessian against second differences of f
    h = 1e-3
    d2 = (f(x0 + h, x1) - 2 * f(x0, x1) + f(x0 - h, x1)) / h ** 2
    assert abs(float(ref[0][0]) - float(d2)) < 1e-5
    j = wg.jit(wg.hessian(f, argnums=(0, 1)))
    for _ in range(3):
        H = j(x0, x1)
        for i in range(2):
            for k in range(2):
                np.testing.assert_allclose(H[i][k], ref[i][k], rtol=1e-12, atol=1e-12)
