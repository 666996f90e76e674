"""wengert.scipy hard points: logsumexp's -inf and huge values, tails,
special-function derivatives in closed form, vmap, the missing-SciPy message."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import wengert as wg

sp = pytest.importorskip("scipy.special")
st = pytest.importorskip("scipy.stats")

from wengert.scipy import special as S  # noqa: E402
from wengert.scipy.stats import norm  # noqa: E402


# --- logsumexp -----------------------------------------------------------------------


@pytest.mark.parametrize("jac", [wg.jacfwd, wg.jacrev])
def test_logsumexp_neg_inf_entries(jac):
    x = np.array([0.0, -np.inf, np.log(3.0)])
    assert S.logsumexp(x) == pytest.approx(np.log(4.0))
    g = jac(S.logsumexp)(x)
    np.testing.assert_allclose(g, [0.25, 0.0, 0.75])


@pytest.mark.parametrize("jac", [wg.jacfwd, wg.jacrev])
def test_logsumexp_all_neg_inf_row_is_neg_inf_with_zero_gradient(jac):
    x = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    f = lambda x: S.logsumexp(x, axis=1)
    np.testing.assert_array_equal(f(x), sp.logsumexp(x, axis=1))
    v, _ = wg.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(v, [-np.inf, np.log(2.0)])
    g = jac(f)(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[0], 0.0)
    np.testing.assert_allclose(g[1, 1], [0.5, 0.5])


@pytest.mark.parametrize("big", [700.0, 1e5, 1e300, 1.7e308])
def test_logsumexp_huge_values_do_not_overflow(big):
    x = np.array([big, big, big - 1.0 if big < 1e10 else big])
    v, g = wg.value_and_grad(S.logsumexp)(x)
    assert v == pytest.approx(sp.logsumexp(x), rel=1e-14)
    assert np.all(np.isfinite(g)) and g.sum() == pytest.approx(1.0)
    d = x - x.max()  # exact even where big + log(3) rounds to big
    np.testing.assert_allclose(g, np.exp(d) / np.exp(d).sum(), rtol=1e-14)


def test_logsumexp_b_and_return_sign():
    x = np.array([1.0, 2.0, 0.5])
    b = np.array([1.0, -2.0, 0.5])
    v, s = S.logsumexp(x, b=b, return_sign=True)
    want_v, want_s = sp.logsumexp(x, b=b, return_sign=True)
    assert v == pytest.approx(want_v) and s == want_s
    g = wg.grad(lambda x: S.logsumexp(x, b=b, return_sign=True)[0])(x)
    w = b * np.exp(x)
    np.testing.assert_allclose(g, w / w.sum())  # d log|Σ b eˣ| = b eˣ / Σ b eˣ
    gb = wg.grad(lambda b: S.logsumexp(x, b=b))(np.abs(b))
    np.testing.assert_allclose(gb, np.exp(x) / np.sum(np.abs(b) * np.exp(x)))


def test_softmax_rows_sum_to_one_and_jacobian():
    x = np.array([1.0, 2.0, 3.0])
    s = S.softmax(x)
    J = wg.jacrev(S.softmax)(x)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), atol=1e-14)
    np.testing.assert_allclose(wg.jacfwd(S.log_softmax)(x), np.eye(3) - s, atol=1e-14)


# --- closed-form derivatives -----------------------------------------------------------------


def test_special_derivatives_closed_form():
    x = 0.7
    assert wg.grad(S.gammaln)(x) == pytest.approx(sp.digamma(x))
    assert wg.grad(S.digamma)(x) == pytest.approx(sp.polygamma(1, x))
    assert wg.grad(lambda x: S.polygamma(2, x))(x) == pytest.approx(sp.polygamma(3, x))
    assert wg.grad(S.erf)(x) == pytest.approx(2 / math.sqrt(math.pi) * math.exp(-x * x))
    assert wg.grad(S.erfc)(x) == pytest.approx(-2 / math.sqrt(math.pi) * math.exp(-x * x))
    assert wg.grad(S.erfinv)(0.3) == pytest.approx(math.sqrt(math.pi) / 2 * math.exp(sp.erfinv(0.3) ** 2))
    assert wg.grad(wg.grad(S.gammaln))(x) == pytest.approx(sp.polygamma(1, x))
    assert wg.grad(S.expit)(x) == pytest.approx(sp.expit(x) * (1 - sp.expit(x)))
    assert wg.grad(S.logit)(0.3) == pytest.approx(1 / (0.3 * 0.7))


def test_xlogy_at_zero():
    # d/dx x log y = log y, also at x = 0; xlogy(0, 0) = 0 with finite gradients
    assert wg.grad(S.xlogy)(0.0, 2.0) == pytest.approx(np.log(2.0))
    v, (gx, gy) = wg.value_and_grad(S.xlogy, argnums=(0, 1))(0.0, 0.0)
    assert v == 0.0 and np.isfinite(gx) and np.isfinite(gy)


def test_norm_logcdf_far_tail():
    x = -40.0
    assert norm.logcdf(x) == pytest.approx(st.norm.logcdf(x))
    # d log Φ(x) ≈ -x for x → -∞ (Mills ratio), where pdf/cdf would be 0/0
    g = wg.grad(norm.logcdf)(x)
    assert np.isfinite(g) and g == pytest.approx(40.025, rel=1e-4)


def test_norm_matches_scipy_stats_with_loc_scale():
    x = np.linspace(-2, 2, 5)
    for name in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"):
        np.testing.assert_allclose(getattr(norm, name)(x, 0.5, 2.0), getattr(st.norm, name)(x, 0.5, 2.0),
                                   rtol=1e-13)
    g_scale = wg.grad(lambda s: norm.logpdf(1.0, 0.0, s))(2.0)
    assert g_scale == pytest.approx(-1 / 2.0 + 1.0 / 2.0 ** 3)


def test_vmap_and_float32():
    x = np.linspace(0.5, 2.5, 4)
    for f in (S.gammaln, S.digamma, S.erf, S.expit, S.erfc):
        np.testing.assert_allclose(wg.vmap(f)(x), f(x))
        np.testing.assert_allclose(wg.vmap(wg.grad(f))(x), np.array([wg.grad(f)(v) for v in x]))
    x32 = x.astype(np.float32)
    assert wg.jvp(S.digamma, (x32,), (np.ones_like(x32),))[1].dtype == np.float32


def test_polygamma_order_must_be_static_int():
    with pytest.raises(TypeError, match="polygamma"):
        wg.grad(lambda x: S.polygamma(1.5, x))(1.0)


def test_import_wengert_does_not_import_scipy():
    code = "import sys, wengert, wengert.numpy as w; w.linalg.inv; w.fft.fft; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_scipy_gives_install_message():
    code = textwrap.dedent("""
        import sys
        sys.modules["scipy"] = None  # simulate SciPy not installed
        sys.modules["scipy.special"] = None
        sys.modules["scipy.linalg"] = None
        import wengert as wg
        for mod in ("wengert.scipy.special", "wengert.scipy.stats", "wengert.scipy.linalg"):
            try:
                __import__(mod)
            except ImportError as e:
                print(mod, "->", e)
            else:
                print(mod, "imported")
        print(wg.scipy.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.count("pip install wengert[scipy]") == 3, out
    assert "wengert.scipy" in out.splitlines()[-1]


# --- autograd users' drop-in: special functions of a parameter and x -----------------------


def test_parameter_derivatives_raise_naming_the_parameter():
    cases = [(lambda a: S.gammainc(a, 1.0), "gammainc", "'a'"), (lambda a: S.gammaincc(a, 1.0), "gammaincc", "'a'"),
             (lambda v: S.jv(v, 1.0), "jv", "'v'"), (lambda v: S.ive(v, 1.0), "ive", "'v'"),
             (lambda n: S.yn(n, 1.0), "yn", "'n'"), (lambda b: S.betainc(1.0, b, 0.3), "betainc", "'b'"),
             (lambda d: S.stdtr(d, 0.3), "stdtr", "'df'")]
    for f, name, arg in cases:
        for mode in (wg.grad, wg.jacfwd):
            with pytest.raises(TypeError, match=f"special.{name}: no derivative with respect to the parameter {arg}"):
                mode(f)(2.0)
    # the parameter may still be traced without a derivative: vmap, jit
    a = np.array([0.5, 2.0, 4.0])
    np.testing.assert_allclose(wg.vmap(S.gammainc)(a, np.ones(3)), sp.gammainc(a, 1.0), rtol=1e-14)
    np.testing.assert_allclose(wg.jit(S.jv)(a, np.ones(3)), sp.jv(a, 1.0), rtol=1e-14)


def test_new_special_derivatives_closed_form():
    x = 1.3
    assert wg.grad(S.j0)(x) == pytest.approx(-sp.j1(x), rel=1e-13)
    assert wg.grad(S.y0)(x) == pytest.approx(-sp.y1(x), rel=1e-13)
    assert wg.grad(S.i0)(x) == pytest.approx(sp.i1(x), rel=1e-13)
    assert wg.grad(S.j1)(x) == pytest.approx(sp.j0(x) - sp.j1(x) / x, rel=1e-12)
    assert wg.grad(S.i1)(x) == pytest.approx(sp.i0(x) - sp.i1(x) / x, rel=1e-12)
    assert wg.grad(lambda x: S.jn(3, x))(x) == pytest.approx((sp.jn(2, x) - sp.jn(4, x)) / 2, rel=1e-13)
    # ive(v, x) = iv(v, x) e^{-|x|}, on both sides of 0
    for z in (1.3, -1.3):
        want = (sp.iv(0, z) + sp.iv(2, z)) / 2 * math.exp(-abs(z)) - math.copysign(1, z) * sp.ive(1, z)
        assert wg.grad(lambda x: S.ive(1.0, x))(z) == pytest.approx(want, rel=1e-12)
    assert wg.grad(S.rgamma)(x) == pytest.approx(-sp.rgamma(x) * sp.digamma(x), rel=1e-13)
    assert wg.grad(S.erfcx)(x) == pytest.approx(2 * x * sp.erfcx(x) - 2 / math.sqrt(math.pi), rel=1e-12)
    # gammainc(1, x) = 1 - e^{-x}; gammaincc its complement
    assert wg.grad(lambda x: S.gammainc(1.0, x))(x) == pytest.approx(math.exp(-x), rel=1e-13)
    assert wg.grad(lambda x: S.gammaincc(1.0, x))(x) == pytest.approx(-math.exp(-x), rel=1e-13)
    # multigammaln(a, 2) = log(pi)/2 + gammaln(a) + gammaln(a - 1/2)
    assert wg.grad(lambda a: S.multigammaln(a, 2))(3.0) == pytest.approx(sp.digamma(3.0) + sp.digamma(2.5))
    with pytest.raises(TypeError, match="multigammaln: d must be a positive Python int"):
        S.multigammaln(2.0, 1.5)


def test_complex_erf_is_holomorphic():
    z = np.array([0.3 + 0.4j, -0.2 + 0.1j])
    want = 2 / np.sqrt(np.pi) * np.exp(-z * z)
    _, t = wg.jvp(S.erf, (z,), (np.ones_like(z),))
    np.testing.assert_allclose(t, want, rtol=1e-13)
    _, t = wg.jvp(S.erfc, (z,), (1j * np.ones_like(z),))
    np.testing.assert_allclose(t, -1j * want, rtol=1e-13)
    np.testing.assert_allclose(wg.jit(S.erf)(z), sp.erf(z), rtol=1e-14)


def test_scipy_special_ufuncs_dispatch_to_the_new_functions():
    """np-style code calling scipy.special directly on traced values."""
    x = np.array([0.7, 1.9])
    g = wg.grad(lambda x: np.sum(sp.j0(x) * sp.gammainc(2.0, x) + sp.erfcx(x)))(x)
    want = (-sp.j1(x) * sp.gammainc(2.0, x) + sp.j0(x) * x * np.exp(-x) / sp.gamma(2.0)
            + 2 * x * sp.erfcx(x) - 2 / np.sqrt(np.pi))
    np.testing.assert_allclose(g, want, rtol=1e-12)
    g = wg.grad(lambda x: np.sum(sp.jn(2, x) + sp.i1(x) + sp.rgamma(x)))(x)
    want = (sp.jn(1, x) - sp.jn(3, x)) / 2 + (sp.i0(x) + sp.iv(2, x)) / 2 - sp.rgamma(x) * sp.digamma(x)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    with pytest.raises(TypeError, match="no derivative with respect to the parameter 'a'"):
        wg.grad(lambda a: sp.gammainc(a, 1.0))(2.0)


# --- autograd users' drop-in: distributions ----------------------------------------------------


def test_cdf_shape_parameter_derivatives_raise_naming_the_argument():
    from wengert.scipy.stats import beta, chi2, gamma, t
    cases = [(lambda v: t.cdf(0.3, v), "stats.t.cdf", "df"), (lambda v: t.logcdf(0.3, v), "stats.t.logcdf", "df"),
             (lambda v: chi2.cdf(1.3, v), "stats.chi2.cdf", "df"),
             (lambda v: gamma.cdf(1.3, v), "stats.gamma.cdf", "a"),
             (lambda v: beta.cdf(0.3, v, 2.0), "stats.beta.cdf", "a"),
             (lambda v: beta.cdf(0.3, 2.0, v), "stats.beta.cdf", "b")]
    for f, name, arg in cases:
        with pytest.raises(TypeError, match=f"{name}: no derivative with respect to {arg} "):
            wg.grad(f)(2.0)


def test_cdf_derivatives_are_the_densities():
    from wengert.scipy.stats import beta, chi2, gamma, poisson, t
    assert wg.grad(t.cdf)(0.4, 3.0, 0.1, 2.0) == pytest.approx(st.t.pdf(0.4, 3.0, 0.1, 2.0), rel=1e-12)
    assert wg.grad(t.cdf, argnums=3)(0.4, 3.0, 0.1, 2.0) == pytest.approx(
        -st.t.pdf(0.4, 3.0, 0.1, 2.0) * (0.4 - 0.1) / 2.0, rel=1e-12)
    assert wg.grad(beta.cdf)(0.3, 2.0, 3.0) == pytest.approx(st.beta.pdf(0.3, 2.0, 3.0), rel=1e-12)
    assert wg.grad(gamma.cdf)(1.3, 2.5) == pytest.approx(st.gamma.pdf(1.3, 2.5), rel=1e-12)
    assert wg.grad(chi2.cdf)(1.3, 3.0) == pytest.approx(st.chi2.pdf(1.3, 3.0), rel=1e-12)
    # d/dmu P(K <= k) = -pmf(k, mu); k is a count: derivative 0
    assert wg.grad(lambda mu: poisson.cdf(3.0, mu))(2.0) == pytest.approx(-st.poisson.pmf(3, 2.0), rel=1e-12)
    assert wg.grad(lambda k: poisson.logpmf(k, 2.0))(3.0) == 0.0
    # t.logpdf in df (autograd's closed form)
    x, df = 0.7, 3.0
    want = 0.5 * ((x**2 * (df + 1)) / (df * (x**2 + df)) - np.log(x**2 / df + 1) - 1 / df
                  - sp.psi(df / 2) + sp.psi((df + 1) / 2))
    assert wg.grad(lambda d: t.logpdf(x, d))(df) == pytest.approx(want, rel=1e-12)


def test_outside_transformations_the_distributions_are_scipys():
    from wengert.scipy.stats import beta, dirichlet, multivariate_normal, t
    assert t.logpdf(0.3, 2.0) == st.t.logpdf(0.3, 2.0)
    with pytest.raises(ValueError):  # SciPy's own check of the simplex
        dirichlet.logpdf(np.array([0.5, 0.6]), np.ones(2))
    assert beta.pdf(1.5, 2.0, 2.0) == 0.0
    assert multivariate_normal.entropy(np.zeros(2), np.eye(2)) == st.multivariate_normal.entropy(np.zeros(2), np.eye(2))


def test_multivariate_normal_gradients_closed_form_and_errors():
    from wengert.scipy.stats import multivariate_normal as mvn
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    x, m = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(wg.grad(mvn.logpdf)(x, m, cov), -np.linalg.solve(cov, x - m), rtol=1e-12)
    # d/dΣ (lower triangle read, as SciPy): the symmetric gradient folded onto the lower triangle
    inv = np.linalg.inv(cov)
    d = x - m
    sym = -0.5 * (inv - inv @ np.outer(d, d) @ inv)
    want = np.tril(2 * sym) - np.diag(np.diag(sym))
    np.testing.assert_allclose(wg.grad(mvn.logpdf, argnums=2)(x, m, cov), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wg.grad(mvn.entropy, argnums=1)(m, cov), np.tril(inv) - np.diag(np.diag(inv)) / 2,
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="allow_singular=True is not supported"):
        wg.grad(lambda x: mvn.logpdf(x, m, cov, allow_singular=True))(x)
    with pytest.raises(ValueError, match="x must have the dimension 3"):
        wg.grad(lambda x: mvn.logpdf(x, m, cov).sum())(np.ones(2))


# --- autograd users' drop-in: scipy.linalg ------------------------------------------------------


def test_linalg_outside_transformations_is_scipys():
    import scipy.linalg as sl

    from wengert.scipy import linalg as L
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    spd = a @ a.T + 3 * np.eye(3)
    for ours, theirs in ((L.cho_factor(spd), sl.cho_factor(spd)), (L.lu_factor(a), sl.lu_factor(a))):
        for u, v in zip(ours, theirs):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(L.expm(a), sl.expm(a))
    np.testing.assert_array_equal(L.sqrtm(spd), sl.sqrtm(spd))


def test_linalg_traced_factors_equal_scipys():
    """cho_factor/lu_factor under a transformation give SciPy's arrays (the
    factor's triangle and a's entries in the other; the same pivots)."""
    import scipy.linalg as sl

    from wengert.scipy import linalg as L
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 4))
    spd = a @ a.T + 3 * np.eye(4)
    for lower in (False, True):
        c, lo = wg.jit(lambda m, lower=lower: L.cho_factor(m, lower=lower))(spd)
        np.testing.assert_allclose(c, sl.cho_factor(spd, lower=lower)[0], rtol=1e-13)
        assert bool(lo) == lower
    lu, piv = wg.jit(L.lu_factor)(a)
    want_lu, want_piv = sl.lu_factor(a)
    np.testing.assert_allclose(lu, want_lu, rtol=1e-13)
    np.testing.assert_array_equal(piv, want_piv)
    # vmap over a batch of matrices: one LU / solve per matrix
    batch = rng.normal(size=(3, 4, 4)) + 4 * np.eye(4)
    b = rng.normal(size=(3, 4))
    got = wg.vmap(lambda m, v: L.lu_solve(L.lu_factor(m), v))(batch, b)
    np.testing.assert_allclose(got, np.linalg.solve(batch, b[..., None])[..., 0], rtol=1e-12)


def test_expm_and_sqrtm_derivatives_closed_form():
    from wengert.scipy import linalg as L
    rng = np.random.default_rng(3)
    a, e = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 3))
    import scipy.linalg as sl
    _, t = wg.jvp(L.expm, (a,), (e,))
    np.testing.assert_allclose(t, sl.expm_frechet(a, e, compute_expm=False), rtol=1e-12)
    # reverse mode is the transpose: <G, L(A, E)> = <L(Aᵀ, G), E>
    g = rng.normal(size=(3, 3))
    _, vjp = wg.vjp(L.expm, a)
    assert np.sum(vjp(g)[0] * e) == pytest.approx(np.sum(g * t), rel=1e-12)
    spd = a @ a.T + np.eye(3)
    s = L.sqrtm(spd)
    _, ds = wg.jvp(L.sqrtm, (spd,), (e,))
    np.testing.assert_allclose(s @ ds + ds @ s, e, atol=1e-12)


def test_linalg_errors_name_the_function_and_the_fix():
    from wengert.scipy import linalg as L
    with pytest.raises(ValueError, match="sqrtm: this real matrix has no real square root"):
        wg.grad(lambda a: L.sqrtm(a).sum())(np.diag([1.0, -1.0]))
    with pytest.raises(TypeError, match="solve_triangular: under wengert's transformations a must be real"):
        wg.grad(lambda b: L.solve_triangular(np.eye(2) * (1 + 1j), b).real.sum())(np.ones(2))
    with pytest.raises(ValueError, match="solve_triangular: b must have 2 rows"):
        wg.grad(lambda b: L.solve_triangular(np.eye(2), b).sum())(np.ones(3))
    with pytest.raises(ValueError, match="trans must be 0, 1, 2"):
        wg.grad(lambda b: L.solve_triangular(np.eye(2), b, trans=3).sum())(np.ones(2))
    with pytest.raises(ValueError, match="solve_sylvester: q must have shape"):
        wg.grad(lambda q: L.solve_sylvester(np.eye(2), np.eye(3), q).sum())(np.ones((3, 2)))


# --- autograd users' drop-in: NumPy idioms -------------------------------------------------------


def test_real_if_close():
    import wengert.numpy as wnp
    f = lambda x: wnp.real_if_close(wnp.exp(x * (1 + 0j)))
    x = np.array([0.3, -0.2])
    assert np.result_type(f(x)) == np.float64
    _, t = wg.jvp(f, (x,), (np.ones(2),))
    assert np.result_type(t) == np.float64
    np.testing.assert_allclose(t, np.exp(x), rtol=1e-14)
    # NumPy's own name dispatches to it
    _, t2 = wg.jvp(lambda x: np.real_if_close(np.exp(x * (1 + 0j))), (x,), (np.ones(2),))
    assert np.result_type(t2) == np.float64 and np.allclose(t2, t)
    # not close: stays complex, as NumPy's
    y = wg.jvp(lambda x: wnp.real_if_close(x * (1 + 1j)), (x,), (np.ones(2),))[0]
    assert np.iscomplexobj(y)
    from wengert._ir import ConcretizationError
    with pytest.raises(ConcretizationError, match="data-dependent operation"):  # the dtype depends on the values
        wg.jit(f)(x)


def test_r_and_c_index_tricks():
    import wengert.numpy as wnp
    x = np.array([1.0, 2.0])
    f = lambda x: wnp.sum(wnp.r_[x, 0:3, 2 * x, 7] ** 2)
    np.testing.assert_allclose(wg.grad(f)(x), 2 * x + 8 * x)
    np.testing.assert_array_equal(wnp.r_[x, 0:3], np.r_[x, 0:3])  # untraced: NumPy's own
    assert wnp.c_[x, x].shape == np.c_[x, x].shape
    x32 = x.astype(np.float32)
    assert wg.jit(lambda x: wnp.r_[x, 1.5])(x32).dtype == np.r_[x32, 1.5].dtype
    with pytest.raises(ValueError, match="matrix directives"):
        wg.grad(lambda x: wnp.r_["r", x, x].sum())(x)
    with pytest.raises(ValueError, match="directive must come first"):
        wg.grad(lambda x: wnp.r_[x, "0", x].sum())(x)


def test_every_numpy_scalar_type_is_a_wnp_dtype_name():
    import wengert.numpy as wnp
    for name in dir(np):
        obj = getattr(np, name)
        if not name.startswith("_") and isinstance(obj, type) and issubclass(obj, np.generic):
            assert getattr(wnp, name) is obj, name
    z = wg.grad(lambda x: wnp.sum(wnp.astype(x, wnp.longdouble)).astype(wnp.double))(np.ones(2))
    np.testing.assert_array_equal(z, np.ones(2))
