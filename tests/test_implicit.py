"""Implicit differentiation: linear_solve, custom_root, fixed_point, root, argmin.

Oracles: closed forms (sqrt, a quadratic's argmin A⁻¹b and its derivative in A,
ridge regression) and central finite differences (tests/_fd.py), in forward
and reverse mode, to second order, under vmap and jit.
"""

from __future__ import annotations

import numpy as np
import pytest
from _fd import check_grads

import wengert as wg
import wengert.numpy as wnp


def _babylon(x, a):
    return 0.5 * (x + a / x)


def sqrt_fp(a):
    return wg.fixed_point(_babylon, 1.0, a)


# ----------------------------------------------------------------------------
# fixed_point


def test_fixed_point_sqrt_closed_form_every_mode():
    a = 7.0
    assert np.isclose(sqrt_fp(a), np.sqrt(a), rtol=1e-12)
    assert np.isclose(wg.grad(sqrt_fp)(a), 0.5 / np.sqrt(a), rtol=1e-10)
    assert np.isclose(wg.jvp(sqrt_fp, (a,), (1.0,))[1], 0.5 / np.sqrt(a), rtol=1e-10)
    assert np.isclose(wg.hessian(sqrt_fp)(a), -0.25 * a ** -1.5, rtol=1e-8)
    assert np.isclose(wg.grad(wg.grad(sqrt_fp))(a), -0.25 * a ** -1.5, rtol=1e-8)
    # third order too: every derivative is implicit
    assert np.isclose(wg.grad(wg.grad(wg.grad(sqrt_fp)))(a), 0.375 * a ** -2.5, rtol=1e-6)


def _tanh_layer(x, W, b):
    return wnp.tanh(W @ x + b)


def test_fixed_point_vector_against_fd(rng):
    n = 4
    W = 0.3 * rng.standard_normal((n, n))
    b = rng.standard_normal(n)
    f = lambda W, b: wg.fixed_point(_tanh_layer, wnp.zeros(n), W, b, tol=1e-13)
    x = f(W, b)
    assert np.allclose(x, np.tanh(W @ x + b), atol=1e-12)
    check_grads(f, (W, b), order=2, modes=("fwd", "rev"), tol=1e-5)
    # the Jacobian in closed form: (I - D W)⁻¹ D with D = diag(1 - x²)
    D = np.diag(1 - x ** 2)
    J = np.linalg.solve(np.eye(n) - D @ W, D)
    assert np.allclose(wg.jacfwd(f, argnums=1)(W, b), J, atol=1e-10)
    assert np.allclose(wg.jacrev(f, argnums=1)(W, b), J, atol=1e-10)


def test_fixed_point_pytrees_and_captured_params(rng):
    p = {"w": np.array([0.2, -0.1]), "c": np.array(1.5)}

    def f(x, p):
        return {"u": 0.5 * wnp.cos(x["u"] * p["w"]) + p["c"], "v": 0.3 * x["u"][0] * x["v"]}

    x0 = {"u": np.zeros(2), "v": np.array(0.0)}
    loss = lambda p: wnp.sum(wg.fixed_point(f, x0, p)["u"] ** 2)
    g = wg.grad(loss)(p)
    from wengert import numeric
    gw = numeric.grad(lambda w: loss({"w": w, "c": p["c"]}), p["w"])
    gc = numeric.grad(lambda c: loss({"w": p["w"], "c": c}), p["c"])
    assert np.allclose(g["w"], gw, atol=1e-7) and np.allclose(g["c"], gc, atol=1e-7)

    # a value captured by the function (not passed) is differentiated too
    def by_closure(a):
        return wg.fixed_point(lambda x: _babylon(x, a), 1.0)
    assert np.isclose(wg.grad(by_closure)(4.0), 0.25, rtol=1e-10)
    assert np.isclose(wg.jvp(by_closure, (4.0,), (1.0,))[1], 0.25, rtol=1e-10)


def test_fixed_point_derivative_does_not_trace_the_iterations():
    calls = {"traced": 0, "all": 0}

    def f(x, a):
        calls["all"] += 1
        if isinstance(x, wg._core.Tracer) or isinstance(a, wg._core.Tracer):
            calls["traced"] += 1
        return 0.999 * x + 0.001 * a      # a slow contraction: thousands of iterations

    g = wg.grad(lambda a: wg.fixed_point(f, 0.0, a, max_iter=100_000))(2.0)
    assert np.isclose(g, 1.0, rtol=1e-8)
    assert calls["all"] > 5000            # the solve really iterated
    assert calls["traced"] <= 4           # the derivative evaluated f a fixed number of times


def test_fixed_point_vmap_and_jit():
    a = np.array([1.0, 4.0, 9.0])
    assert np.allclose(wg.vmap(sqrt_fp)(a), np.sqrt(a))
    assert np.allclose(wg.vmap(wg.grad(sqrt_fp))(a), 0.5 / np.sqrt(a))
    assert np.allclose(wg.jacfwd(lambda a: wg.vmap(sqrt_fp)(a))(a), np.diag(0.5 / np.sqrt(a)))
    assert np.isclose(wg.jit(sqrt_fp)(4.0), 2.0)
    assert np.isclose(wg.jit(wg.grad(sqrt_fp))(4.0), 0.25)
    assert np.isclose(wg.jit(wg.hessian(sqrt_fp))(2.0), -0.25 * 2.0 ** -1.5)
    assert np.allclose(wg.jit(wg.vmap(wg.grad(sqrt_fp)))(a), 0.5 / np.sqrt(a))


def test_float32_stays_float32():
    r = wg.fixed_point(_babylon, np.float32(1.0), np.float32(2.0), tol=1e-6)
    assert r.dtype == np.float32 and np.isclose(r, np.sqrt(2.0), rtol=1e-6)
    g = wg.grad(lambda a: wg.fixed_point(_babylon, np.float32(1.0), a, tol=1e-6))(np.float32(2.0))
    assert np.isclose(g, 0.5 / np.sqrt(2.0), rtol=1e-5)
    assert wg.linear_solve(lambda x: 2 * x, np.ones(2, np.float32)).dtype == np.float32


def test_fixed_point_errors():
    with pytest.raises(RuntimeError, match=r"fixed_point\(.*max_iter=5"):
        wg.fixed_point(lambda x, a: 0.99 * x + a, 0.0, 1.0, max_iter=5)
    with pytest.raises(ValueError, match="tol must be"):
        wg.fixed_point(_babylon, 1.0, 2.0, tol=-1.0)
    with pytest.raises(TypeError, match="f must be callable"):
        wg.fixed_point(3.0, 1.0)
    with pytest.raises(FloatingPointError, match="non-finite"), np.errstate(over="ignore"):
        wg.fixed_point(lambda x: x * x + 1.0, 3.0)


# ----------------------------------------------------------------------------
# root and custom_root


@pytest.mark.parametrize("method", ["newton", "broyden", "hybr", "lm"])
def test_root_methods_closed_form(method):
    r = lambda a: wg.root(lambda x, a: x ** 3 + x - a, 0.5, a, method=method)
    assert np.isclose(r(2.0), 1.0, atol=1e-9)
    assert np.isclose(wg.grad(r)(2.0), 0.25, atol=1e-8)          # 1 / (3x² + 1)


def test_root_vector_against_fd(rng):
    A = np.eye(3) * 3 + 0.3 * rng.standard_normal((3, 3))
    c = rng.standard_normal(3)
    r = lambda A, c: wg.root(lambda x, A, c: A @ x + 0.1 * wnp.sin(x) - c, np.zeros(3), A, c)
    x = r(A, c)
    assert np.allclose(A @ x + 0.1 * np.sin(x), c, atol=1e-10)
    check_grads(r, (A, c), order=2, modes=("fwd", "rev"), tol=1e-5)


def test_root_errors():
    with pytest.raises(ValueError, match="method='nope'"):
        wg.root(lambda x: x, 1.0, method="nope")
    with pytest.raises(RuntimeError, match="no convergence"):
        wg.root(lambda x: x * x + 1.0, 1.0, max_iter=20)
    with pytest.raises(TypeError, match="as many equations"):
        wg.root(lambda x: wnp.stack([x[0], x[1], x[0]]), np.ones(2))


def _newton(f, x):
    for _ in range(60):
        x = x - f(x) / wg.grad(f)(x)
    return x


def test_custom_root_jax_style():
    def cbrt(a):
        return wg.custom_root(lambda x: x ** 3 - a, 1.0, _newton, lambda g, y: y / g(1.0))
    assert np.isclose(cbrt(8.0), 2.0)
    assert np.isclose(wg.grad(cbrt)(8.0), 1 / 12)
    assert np.isclose(wg.jvp(cbrt, (8.0,), (1.0,))[1], 1 / 12)
    assert np.isclose(wg.grad(wg.grad(cbrt))(8.0), -2 / 9 * 8.0 ** (-5 / 3))
    # default tangent_solve: linear_solve
    cb2 = lambda a: wg.custom_root(lambda x: x ** 3 - a, 1.0, _newton)
    assert np.isclose(wg.grad(cb2)(8.0), 1 / 12)


# ----------------------------------------------------------------------------
# argmin


def test_argmin_quadratic_closed_form(rng):
    M = rng.standard_normal((3, 3))
    A = M @ M.T + 3 * np.eye(3)
    b = rng.standard_normal(3)
    xs = lambda A, b: wg.argmin(lambda x, A, b: 0.5 * x @ A @ x - b @ x, np.zeros(3), A, b)
    x = xs(A, b)
    Ai = np.linalg.inv(A)
    assert np.allclose(x, Ai @ b)
    assert np.allclose(wg.jacrev(xs, argnums=1)(A, b), Ai)
    assert np.allclose(wg.jacfwd(xs, argnums=1)(A, b), Ai)
    # dx*/dA_kl = -A⁻¹ E_kl x* (A enters symmetrically as xᵀAx: both triangles)
    JA = wg.jacrev(xs, argnums=0)(A, b)
    expect = -0.5 * (np.einsum("ik,l->ikl", Ai, x) + np.einsum("il,k->ikl", Ai, x))
    assert np.allclose(JA, expect, atol=1e-10)
    check_grads(xs, (A, b), order=2, modes=("fwd", "rev"), tol=1e-5)


@pytest.mark.parametrize("method", ["newton", "BFGS"])
def test_argmin_ridge_regression(rng, method):
    X = rng.standard_normal((20, 3))
    y = rng.standard_normal(20)

    def fit(lam):
        return wg.argmin(lambda w, lam: wnp.sum((X @ w - y) ** 2) + lam * wnp.sum(w * w),
                         np.zeros(3), lam, method=method, tol=1e-9)
    lam = 0.7
    H = X.T @ X + lam * np.eye(3)
    w = np.linalg.solve(H, X.T @ y)
    assert np.allclose(fit(lam), w, atol=1e-7)
    assert np.allclose(wg.jacfwd(fit)(lam), -np.linalg.solve(H, w), atol=1e-6)
    assert np.allclose(wg.jacrev(fit)(lam), -np.linalg.solve(H, w), atol=1e-6)


def test_argmin_errors():
    with pytest.raises(TypeError, match="scalar"):
        wg.argmin(lambda x: x * x, np.ones(2))
    with pytest.raises(RuntimeError, match="no convergence"):
        wg.argmin(lambda x: x ** 4, 1.0, max_iter=3)


# ----------------------------------------------------------------------------
# linear_solve


def test_linear_solve_closed_form_in_b_and_matrix(rng):
    M = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal(3)

    def solve(M, b):
        return wg.linear_solve(lambda x: M @ x, b)
    x = np.linalg.solve(M, b)
    assert np.allclose(solve(M, b), x)
    Mi = np.linalg.inv(M)
    assert np.allclose(wg.jacrev(solve, argnums=1)(M, b), Mi)
    assert np.allclose(wg.jacfwd(solve, argnums=1)(M, b), Mi)
    # dx/dM_kl = -M⁻¹ E_kl x
    expect = -np.einsum("ik,l->ikl", Mi, x)
    assert np.allclose(wg.jacrev(solve, argnums=0)(M, b), expect)
    assert np.allclose(wg.jacfwd(solve, argnums=0)(M, b), expect)
    check_grads(solve, (M, b), order=2, modes=("fwd", "rev"), tol=1e-6)


@pytest.mark.parametrize("solver", ["auto", "dense", "cg", "gmres", "bicgstab", "user"])
def test_linear_solve_solvers_large(rng, solver):
    n = 100
    Q = rng.standard_normal((n, n)) / np.sqrt(n)
    A = Q @ Q.T + np.eye(n)                  # symmetric positive definite
    if solver in ("gmres", "bicgstab", "auto"):
        A = A + 0.1 * np.triu(Q)             # not symmetric
    sym = solver in ("cg", "dense", "user")
    kw = {"solve": (lambda mv, b: np.linalg.solve(A, b)) if solver == "user" else solver}
    b = rng.standard_normal(n)
    f = lambda b: wg.linear_solve(lambda x: A @ x, b, symmetric=sym, **kw)
    assert np.allclose(f(b), np.linalg.solve(A, b), atol=1e-8)
    ct = rng.standard_normal(n)
    g = wg.grad(lambda b: wnp.sum(f(b) * ct))(b)
    assert np.allclose(g, np.linalg.solve(A.T, ct), atol=1e-8)


def test_linear_solve_transpose_solve_and_pytrees(rng):
    A = rng.standard_normal((2, 2)) + 2 * np.eye(2)
    used = []

    def tsolve(vecmat, b):
        used.append(True)
        return {"p": np.linalg.solve(A.T, b["p"])}
    f = lambda b: wg.linear_solve(lambda x: {"p": A @ x["p"]}, b, solve="dense",
                                  transpose_solve=tsolve)["p"]
    b = {"p": np.array([1.0, -1.0])}
    g = wg.grad(lambda b: wnp.sum(f(b)))(b)
    assert used and np.allclose(g["p"], np.linalg.solve(A.T, np.ones(2)))


def test_linear_solve_vmap_jit_and_errors(rng):
    A = np.array([[2.0, 1.0], [0.0, 3.0]])
    B = rng.standard_normal((4, 2))
    f = lambda b: wg.linear_solve(lambda x: A @ x, b)
    assert np.allclose(wg.vmap(f)(B), np.linalg.solve(A, B.T).T)
    assert np.allclose(wg.jit(f)(B[0]), np.linalg.solve(A, B[0]))
    with pytest.raises(TypeError, match="shape"):
        wg.linear_solve(lambda x: x[:1], np.ones(2))
    with pytest.raises(ValueError, match="solve='qr'"):
        wg.linear_solve(lambda x: x, np.ones(2), solve="qr")
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        wg.linear_solve(lambda x: 0.0 * x, np.ones(2))
