"""wengert.relax: soft sort/rank against a brute-force projection onto the
permutahedron, their derivatives against finite differences; gumbel_softmax
and sinkhorn against their definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _fd import check_grads

import wengert as wg
import wengert.numpy as wnp
from wengert import relax


def _project(z, w):
    """argmin ‖μ - z‖² over the convex hull of the permutations of w (a QP)."""
    from scipy.optimize import minimize
    P = np.array(list(itertools.permutations(w)), dtype=float)
    res = minimize(lambda lam: np.sum((lam @ P - z) ** 2), np.full(len(P), 1.0 / len(P)),
                   jac=lambda lam: 2 * P @ (lam @ P - z), method="SLSQP", bounds=[(0, 1)] * len(P),
                   constraints=[{"type": "eq", "fun": lambda lam: lam.sum() - 1}],
                   options={"ftol": 1e-15, "maxiter": 500})
    return res.x @ P


@pytest.mark.parametrize("eps", [0.3, 1.0, 5.0])
def test_soft_sort_and_rank_are_permutahedron_projections(rng, eps):
    x = rng.standard_normal(3)
    rho = np.arange(3, 0, -1.0)
    assert np.allclose(relax.soft_sort(x, eps, "descending"), _project(rho / eps, x), atol=1e-6)
    assert np.allclose(relax.soft_sort(x, eps), -_project(rho / eps, -x), atol=1e-6)
    assert np.allclose(relax.soft_rank(x, eps), _project(x / eps, rho), atol=1e-6)
    assert np.allclose(relax.soft_rank(x, eps, "descending"), _project(-x / eps, rho), atol=1e-6)


def test_hard_limits(rng):
    x = rng.standard_normal(6)
    assert np.allclose(relax.soft_sort(x, 1e-3), np.sort(x))
    assert np.allclose(relax.soft_sort(x, 1e-3, "descending"), np.sort(x)[::-1])
    ranks = np.argsort(np.argsort(x)) + 1.0
    assert np.allclose(relax.soft_rank(x, 1e-3), ranks)
    assert np.allclose(relax.soft_rank(x, 1e6), np.full(6, 3.5), atol=1e-4)   # everything ties
    assert np.isclose(np.sum(relax.soft_sort(x, 2.0)), np.sum(x))


@pytest.mark.parametrize("fn", ["soft_sort", "soft_rank"])
@pytest.mark.parametrize("eps", [0.5, 2.0])
def test_derivatives_against_fd(rng, fn, eps):
    x = rng.standard_normal(5)
    f = lambda x: getattr(relax, fn)(x, eps)
    check_grads(f, (x,), order=2, modes=("fwd", "rev"), tol=1e-6)
    assert np.allclose(wg.jacfwd(f)(x), wg.jacrev(f)(x))


def test_soft_rank_jacobian_closed_form():
    # a single pooled block of all n entries: ranks = x/ε - mean(x/ε) + (n+1)/2,
    # so the Jacobian is (I - 11ᵀ/n) / ε
    x = np.array([0.1, -0.05, 0.02])
    eps = 10.0
    J = wg.jacrev(lambda x: relax.soft_rank(x, eps))(x)
    assert np.allclose(J, (np.eye(3) - 1.0 / 3) / eps)


def test_isotonic_regression_and_vmap(rng):
    y = np.array([1.0, 3.0, 2.0, 0.0, 0.5])
    v = relax.isotonic_regression(y)
    assert np.all(np.diff(v) <= 0) and np.allclose(v, [2.0, 2.0, 2.0, 0.25, 0.25])
    assert np.allclose(relax.isotonic_regression(y, increasing=True), [1.0, 1.375, 1.375, 1.375, 1.375])
    check_grads(relax.isotonic_regression, (y + 0.01 * rng.standard_normal(5),), order=1)
    X = rng.standard_normal((3, 4))
    assert np.allclose(wg.vmap(lambda r: relax.soft_sort(r, 0.5))(X),
                       np.stack([relax.soft_sort(r, 0.5) for r in X]))
    g = wg.vmap(wg.grad(lambda r: wnp.sum(relax.soft_rank(r, 0.5) * wnp.arange(4.0))))(X)
    assert np.allclose(g[1], wg.grad(lambda r: wnp.sum(relax.soft_rank(r, 0.5) * wnp.arange(4.0)))(X[1]))


def test_spearman_loss_decreases():
    # a differentiable rank correlation: fit scores whose ranks follow the targets
    target = np.array([1.0, 2.0, 3.0, 4.0])
    loss = lambda s: wnp.sum((relax.soft_rank(s, 0.1) - target) ** 2)
    s = np.array([0.3, 0.1, 0.2, 0.0])
    l0 = loss(s)
    for _ in range(50):
        s = s - 0.01 * wg.grad(loss)(s)
    assert loss(s) < 0.2 * l0


def test_gumbel_softmax(rng):
    from scipy.special import softmax
    logits = np.log(np.array([0.2, 0.3, 0.5]))
    g = rng.gumbel(size=3)
    y = relax.gumbel_softmax(logits, 0.7, noise=g)
    assert np.allclose(y, softmax((logits + g) / 0.7))
    assert np.allclose(relax.gumbel_softmax(logits, rng=5), relax.gumbel_softmax(logits, rng=5))
    check_grads(lambda lg: relax.gumbel_softmax(lg, 0.7, noise=g), (logits,), order=2)
    hard = relax.gumbel_softmax(logits, 0.7, noise=g, hard=True)
    assert np.array_equal(hard, np.eye(3)[np.argmax(logits + g)])
    w = np.array([1.0, -2.0, 0.5])
    gh = wg.grad(lambda lg: wnp.sum(relax.gumbel_softmax(lg, 0.7, noise=g, hard=True) * w))(logits)
    gs = wg.grad(lambda lg: wnp.sum(relax.gumbel_softmax(lg, 0.7, noise=g) * w))(logits)
    assert np.allclose(gh, gs)                        # straight-through
    # the Gumbel-max trick samples the categorical distribution
    draws = [np.argmax(relax.gumbel_softmax(logits, 0.01, rng=r)) for r in range(2000)]
    assert np.allclose(np.bincount(draws, minlength=3) / 2000, [0.2, 0.3, 0.5], atol=0.04)
    with pytest.raises(ValueError, match="noise= .* or rng="):
        relax.gumbel_softmax(logits)


def test_sinkhorn(rng):
    C = rng.random((3, 4))
    a = np.array([0.2, 0.3, 0.5])
    b = np.full(4, 0.25)
    P = relax.sinkhorn(C, a, b, epsilon=0.5, n_iter=300)
    assert np.allclose(P.sum(1), a, atol=1e-10) and np.allclose(P.sum(0), b, atol=1e-10)
    # Gibbs form: P = diag(u) K diag(v) with K = exp(-C/ε)
    K = np.exp(-C / 0.5)
    u = P[:, 0] / K[:, 0]
    assert np.allclose(P / (u[:, None] * K), (P / (u[:, None] * K))[0], atol=1e-10)
    check_grads(lambda C: wnp.sum(relax.sinkhorn(C, a, b, 0.5, 50) * C), (C,), order=1, tol=1e-6)
    with pytest.raises(ValueError, match="shapes"):
        relax.sinkhorn(C, a[:2], b)


def test_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        relax.soft_sort(np.ones((2, 2)))
    with pytest.raises(ValueError, match="regularization_strength"):
        relax.soft_rank(np.ones(3), 0.0)
    with pytest.raises(ValueError, match="direction"):
        relax.soft_sort(np.ones(3), 1.0, "up")
