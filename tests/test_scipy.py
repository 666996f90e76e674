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
        import wengert as wg
        for mod in ("wengert.scipy.special", "wengert.scipy.stats"):
            try:
                __import__(mod)
            except ImportError as e:
                print(mod, "->", e)
            else:
                print(mod, "imported")
        print(wg.scipy.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.count("pip install wengert[scipy]") == 2, out
    assert "wengert.scipy" in out.splitlines()[-1]
