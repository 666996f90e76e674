"""wnp.fft hard points: transposes in both real directions of complex inputs,
Hermitian weighting of rfft/irfft, dtypes, errors, vmap, JAX cross-checks.
The derivative sweep is tests/cases_fft.py."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

FFT = wnp.fft


def _pairing(a, b):
    return float(np.real(np.sum(np.asarray(a) * np.asarray(b))))


@pytest.mark.parametrize("n", [6, 7])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
def test_vjp_is_the_transpose_in_both_real_directions(name, norm, n):
    """<ct, J t> = <Jᵀ ct, t> with t purely real and purely imaginary in turn."""
    rng = np.random.default_rng(0)
    real_in = name in ("rfft", "ihfft")
    m = n if real_in or name in ("fft", "ifft") else n // 2 + 1
    x = rng.standard_normal(m) if real_in else rng.standard_normal(m) + 1j * rng.standard_normal(m)
    kw = {"n": n} if name in ("irfft", "hfft") else {}
    f = lambda x: getattr(FFT, name)(x, norm=norm, **kw)
    y, f_vjp = wg.vjp(f, x)
    ct = rng.standard_normal(np.shape(y)) + (1j * rng.standard_normal(np.shape(y)) if np.iscomplexobj(y) else 0)
    (xbar,) = f_vjp(ct)
    directions = [rng.standard_normal(m)] if real_in else [rng.standard_normal(m), 1j * rng.standard_normal(m)]
    for t in directions:
        _, jt = wg.jvp(f, (x,), (t,))
        # the transform is linear: J t is f(t), checked against NumPy too
        np.testing.assert_allclose(jt, getattr(np.fft, name)(t, norm=norm, **kw), atol=1e-12)
        assert abs(_pairing(ct, jt) - _pairing(xbar, t)) < 1e-10


def test_irfft_ignores_imaginary_parts_of_dc_and_nyquist():
    y = np.array([1.0 + 2.0j, 0.5 - 1.0j, 0.25 + 3.0j])  # n = 4: bin 2 is Nyquist
    g = wg.grad(lambda y: wnp.sum(FFT.irfft(y) * np.arange(4.0)))(y)
    assert g[0].imag == 0.0 and g[2].imag == 0.0
    assert g[1].imag != 0.0


def test_power_spectrum_gradient_is_real_and_matches_parseval():
    # sum |fft(x)|² = n sum x²  =>  gradient 2 n x, real
    x = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    g = wg.grad(lambda x: wnp.sum(wnp.abs(FFT.fft(x)) ** 2))(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * 5 * x)


def test_dtypes_follow_numpy():
    x32 = np.ones(4, np.float32)
    assert FFT.fft(x32).dtype == np.fft.fft(x32).dtype
    _, t = wg.jvp(FFT.rfft, (x32,), (x32,))
    assert t.dtype == np.complex64
    assert wg.grad(lambda x: wnp.sum(wnp.real(FFT.fft(x))))(x32).dtype == np.float32


def test_errors():
    with pytest.raises(ValueError, match="norm"):
        wg.jacfwd(lambda x: FFT.fft(x, norm="bad"))(np.ones(3))
    with pytest.raises(ValueError, match="points"):
        wg.jacfwd(lambda x: FFT.fft(x, n=0))(np.ones(3))
    with pytest.raises(TypeError, match="real"):
        wg.jacfwd(FFT.rfft, holomorphic=True)(np.ones(3) + 0j)
    with pytest.raises(np.exceptions.AxisError):
        wg.jacfwd(lambda x: FFT.fft(x, axis=2))(np.ones(3))
    with pytest.raises(AttributeError, match="no attribute"):
        _ = FFT.not_a_function


def test_fftshift_is_a_permutation():
    x = np.arange(5.0)
    J = wg.jacfwd(FFT.fftshift)(x)
    np.testing.assert_array_equal(J, np.eye(5)[np.fft.fftshift(np.arange(5))])
    np.testing.assert_array_equal(wg.jacrev(FFT.ifftshift)(x), np.eye(5)[np.fft.ifftshift(np.arange(5))])


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "fft2", "fftn", "fftshift"])
def test_vmap_matches_loop(name):
    f = getattr(FFT, name)
    X = np.random.default_rng(1).standard_normal((3, 4, 5))
    np.testing.assert_allclose(wg.vmap(f)(X), np.stack([f(x) for x in X]), atol=1e-12)
    w = np.arange(float(np.shape(f(X[0]))[-1]))
    g = lambda x: wnp.sum(wnp.abs(f(x)) ** 2 * w)
    np.testing.assert_allclose(wg.vmap(wg.grad(g))(X), np.stack([wg.grad(g)(x) for x in X]), atol=1e-10)


_JAX = {
    "fft": lambda m, x: m.sum(m.abs(m.fft.fft(x)) ** 1.5),
    "rfft": lambda m, x: m.sum(m.real(m.fft.rfft(x, n=7)) * m.arange(4.0)),
    "irfft": lambda m, x: m.sum(m.fft.irfft(m.fft.rfft(x) * (1 + 2j)) ** 3),
    "fft2": lambda m, x: m.sum(m.imag(m.fft.ifft2(m.reshape(x, (2, 3)), norm="ortho")) ** 2),
}


@pytest.mark.parametrize("name", sorted(_JAX))
def test_against_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    f = _JAX[name]
    x = np.random.default_rng(2).standard_normal(6)
    ours = wg.grad(lambda a: f(wnp, a))(x)
    theirs = np.asarray(jax.grad(lambda a: f(jax.numpy, a))(x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)
