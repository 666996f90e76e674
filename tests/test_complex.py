"""Complex numbers: JAX's convention for grad, holomorphic=True, the pairing
the FD oracle uses, kinks at 0 (docs/complex.md)."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp


def _pair(a, b):
    return float(np.real(np.sum(np.asarray(a) * np.asarray(b))))


# --- the convention ----------------------------------------------------------------------


def test_grad_of_real_function_of_complex_input_follows_jax():
    assert wg.grad(lambda z: wnp.abs(z) ** 2)(3 + 4j) == pytest.approx(6 - 8j, abs=1e-14)
    assert wg.grad(wnp.real)(1 + 1j) == 1
    assert wg.grad(wnp.imag)(1 + 1j) == -1j
    # grad = ∂f/∂x - i ∂f/∂y; for f = |z - c|² that is 2 conj(z - c)
    c = 1 - 2j
    g = wg.grad(lambda z: wnp.abs(z - c) ** 2)(0j)
    assert g == pytest.approx(2 * np.conj(0 - c))


@pytest.mark.parametrize("direction", [1.0, 1j, 0.6 - 0.8j])
def test_cotangents_pair_bilinearly_in_every_real_direction(direction):
    """<ct, J t> = <Jᵀ ct, t> with <a, b> = Re Σ a·b (no conjugate) — the
    pairing tests/_fd.py uses, checked here in each real direction."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    f = lambda z: wnp.exp(z) * wnp.conj(z) + wnp.abs(z)
    y, f_vjp = wg.vjp(f, z)
    ct = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    t = direction * rng.standard_normal(3)
    _, jt = wg.jvp(f, (z,), (t,))
    h = 1e-6
    fd = (f(z + h * t) - f(z - h * t)) / (2 * h)
    np.testing.assert_allclose(jt, fd, atol=1e-8)
    assert _pair(ct, jt) == pytest.approx(_pair(f_vjp(ct)[0], t), abs=1e-10)


_JAX = {
    "abs2": lambda m, z: m.sum(m.abs(z) ** 2),
    "angle": lambda m, z: m.sum(m.angle(z) * m.arange(3.0)),
    "sin-abs": lambda m, z: m.sum(m.abs(m.sin(z) * m.conj(z))),
    "det": lambda m, z: m.abs(m.linalg.det(m.outer(z, m.conj(z)) + m.eye(3))),
    "fft": lambda m, z: m.sum(m.abs(m.fft.fft(z)) ** 3),
    "inv": lambda m, z: m.real(m.sum(m.linalg.inv(m.outer(z, z) + 2 * m.eye(3)))),
}


@pytest.mark.parametrize("name", sorted(_JAX))
def test_against_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    f = _JAX[name]
    z = np.array([0.5 + 1j, -1.0 + 0.3j, 0.2 - 0.7j])
    ours = wg.grad(lambda z: f(wnp, z))(z)
    theirs = np.asarray(jax.grad(lambda z: f(jax.numpy, z))(z))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_pytorch_returns_the_conjugate():
    torch = pytest.importorskip("torch")
    z = np.array([3 + 4j, -1 + 0.5j])
    tz = torch.tensor(z, requires_grad=True)
    (tz.abs() ** 2).sum().backward()
    ours = wg.grad(lambda z: wnp.sum(wnp.abs(z) ** 2))(z)
    np.testing.assert_allclose(np.conj(ours), tz.grad.numpy())


# --- holomorphic=True ------------------------------------------------------------------------


def test_holomorphic_grad_is_the_complex_derivative():
    z = 0.3 + 1.2j
    assert wg.grad(wnp.sin, holomorphic=True)(z) == pytest.approx(np.cos(z))
    assert wg.grad(lambda z: z ** 3 + 2 * z, holomorphic=True)(z) == pytest.approx(3 * z ** 2 + 2)
    assert wg.grad(wg.grad(wnp.exp, holomorphic=True), holomorphic=True)(z) == pytest.approx(np.exp(z))
    assert wg.grad(wnp.log, holomorphic=True)(z) == pytest.approx(1 / z)


@pytest.mark.parametrize("jac", [wg.jacfwd, wg.jacrev])
def test_holomorphic_jacobians(jac):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
    z = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    np.testing.assert_allclose(jac(lambda z: A @ z, holomorphic=True)(z), A)
    np.testing.assert_allclose(jac(wnp.sin, holomorphic=True)(z), np.diag(np.cos(z)))
    # holomorphic through linalg and fft
    M = np.eye(2) * 2 + 0.5j
    cof = np.linalg.det(M) * np.linalg.inv(M).T
    np.testing.assert_allclose(jac(wnp.linalg.det, holomorphic=True)(M), cof)
    n = 4
    dft = np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n)
    np.testing.assert_allclose(jac(wnp.fft.fft, holomorphic=True)(np.ones(n) + 0j), dft, atol=1e-12)


def test_holomorphic_hessian():
    z = np.array([0.5 + 0.5j, 1.0 - 0.2j])
    H = wg.hessian(lambda z: wnp.sum(z ** 3), holomorphic=True)(z)
    np.testing.assert_allclose(H, np.diag(6 * z))


def test_holomorphic_errors():
    with pytest.raises(TypeError, match="holomorphic=True.*complex"):
        wg.grad(wnp.sin, holomorphic=True)(1.0)
    with pytest.raises(TypeError, match="holomorphic"):
        wg.grad(wnp.sin)(1.0 + 1j)  # complex output without holomorphic=True
    with pytest.raises(TypeError, match="holomorphic=True.*complex"):
        wg.jacfwd(wnp.sin, holomorphic=True)(np.ones(2))


# --- kinks at zero -----------------------------------------------------------------------------


@pytest.mark.parametrize("jac", [wg.jacfwd, wg.jacrev])
def test_abs_and_sqrt_at_zero(jac):
    x = np.array([0.0, 1.0])
    np.testing.assert_array_equal(np.diag(jac(wnp.abs)(x)), [0.0, 1.0])  # abs′(0) = 0
    with np.errstate(divide="ignore", invalid="ignore"):  # off-diagonal 0/(2·0) is nan, as in JAX
        d = np.diag(jac(wnp.sqrt)(x))
    assert d[0] == np.inf and d[1] == 0.5  # sqrt′(0) = 1/(2·0) = inf, NumPy's arithmetic


def test_complex_abs_at_zero_has_zero_gradient():
    assert wg.grad(wnp.abs)(0j) == 0
    assert wg.grad(lambda z: wnp.abs(z) * 2.0)(3 + 4j) == pytest.approx(2 * (3 - 4j) / 5)


def test_real_inputs_get_real_gradients_through_complex_code():
    f = lambda x: wnp.abs(wnp.exp(1j * x) + 2.0) ** 2
    g = wg.grad(f)(0.3)
    assert np.isrealobj(g)
    assert g == pytest.approx(-4 * np.sin(0.3))
    h = wg.grad(wg.grad(f))(0.3)
    assert np.isrealobj(h) and h == pytest.approx(-4 * np.cos(0.3))
