"""wg.expectation_grad: every estimator converges to closed-form gradients
within a statistical tolerance (fixed seeds, the standard error measured over
independent keys), REINFORCE matches exact gradients of discrete
expectations, and the examples run."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import random

ROOT = Path(__file__).resolve().parent.parent
ESTIMATORS = ("reparam", "score", "score+baseline")


def _repeat(fn, repeats, seed=0):
    ks = random.split(random.key(seed), repeats)
    return np.stack([np.hstack([np.ravel(v) for v in fn(k)]) for k in ks])


def _check_unbiased(g, exact, max_sd=None):
    mean, se = g.mean(0), g.std(0, ddof=1) / np.sqrt(len(g))
    assert np.all(np.abs(mean - exact) < 4.5 * se + 1e-12), (mean, exact, se)
    if max_sd is not None:
        assert np.all(g.std(0) < max_sd), g.std(0)
    return g.std(0)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_normal_second_moment_gradient(estimator):
    """E[x²] = μ² + σ² under N(μ, σ²): gradient (2μ, 2σ)."""
    mu, sigma = 0.7, 1.3
    g = _repeat(lambda k: wg.expectation_grad(lambda x: x ** 2, random.Normal, (mu, sigma), estimator,
                                              key=k, n=500), 20)
    sd = _check_unbiased(g, np.array([2 * mu, 2 * sigma]))
    # the estimate concentrates: one 500-sample estimate is within a fraction of the gradient's size
    assert np.all(sd < 0.6)


def test_estimator_variances_ordered():
    """On E[x²] the pathwise estimator has the smallest spread, the baseline beats plain REINFORCE."""
    sds = [_repeat(lambda k, e=e: wg.expectation_grad(lambda x: x ** 2, random.Normal, (0.7, 1.3), e,
                                                      key=k, n=200), 20).std(0) for e in ESTIMATORS]
    assert np.all(sds[0] < sds[2]) and np.all(sds[2] < sds[1]), sds


def test_sampler_forms_agree():
    """A class with a tuple or dict, a params -> distribution function, and a raw sampler(key, params)."""
    k = random.key(3)
    f = lambda x: wnp.sin(x) + x ** 2  # noqa: E731
    a = wg.expectation_grad(f, random.Normal, (0.2, 0.5), key=k, n=300)
    b = wg.expectation_grad(f, random.Normal, {"loc": 0.2, "scale": 0.5}, key=k, n=300)
    c = wg.expectation_grad(f, lambda p: random.Normal(p["m"], wnp.exp(p["ls"])), {"m": 0.2, "ls": np.log(0.5)},
                            key=k, n=300)
    np.testing.assert_allclose(a, (b["loc"], b["scale"]))
    np.testing.assert_allclose(c["m"], a[0])
    np.testing.assert_allclose(c["ls"], a[1] * 0.5)  # chain rule through exp
    # raw sampler: one key per sample; unbiased for E[sin x + x²] = e^{-σ²/2} sin μ + μ² + σ²
    mu, s = 0.2, 0.5
    exact = [np.exp(-s * s / 2) * np.cos(mu) + 2 * mu, -s * np.exp(-s * s / 2) * np.sin(mu) + 2 * s]
    g = _repeat(lambda k: wg.expectation_grad(f, lambda k, p: p[0] + p[1] * random.normal(k), (mu, s), key=k, n=100),
                20)
    _check_unbiased(g, np.array(exact))


def test_value_same_key_same_estimate_and_jit():
    k = random.key(4)
    f = lambda x: x ** 2  # noqa: E731
    v, g = wg.expectation_grad(f, random.Normal, (0.5, 1.0), "score+baseline", key=k, n=400, return_value=True)
    v2, g2 = wg.expectation_grad(f, random.Normal, (0.5, 1.0), "score+baseline", key=k, n=400, return_value=True)
    assert v == v2 and g == g2 and abs(v - 1.25) < 0.3
    for est in ESTIMATORS:
        jg = wg.jit(lambda p, k, est=est: wg.expectation_grad(f, random.Normal, p, est, key=k, n=64))
        for kk in random.split(k, 2):
            np.testing.assert_allclose(jg((0.5, 1.0), kk),
                                       wg.expectation_grad(f, random.Normal, (0.5, 1.0), est, key=kk, n=64),
                                       rtol=1e-10)


def test_gamma_reparam_and_score_agree_with_closed_form():
    """E[z²] under Gamma(α, β) = α(α+1)/β²: implicit reparameterisation and REINFORCE."""
    a, b = 2.0, 1.5
    exact = np.array([(2 * a + 1) / b ** 2, -2 * a * (a + 1) / b ** 3])
    for est in ("reparam", "score+baseline"):
        g = _repeat(lambda k, est=est: wg.expectation_grad(lambda z: z ** 2, random.Gamma, (a, b), est, key=k,
                                                           n=400), 15)
        _check_unbiased(g, exact)


def test_mvn_reparam_gradient():
    """E[zᵀAz] under N(m, Σ) = mᵀAm + tr(AΣ): gradient 2Am in m; in Σ (lower triangle read, as
    cholesky) the directional derivative along a symmetric E is tr(AE)."""
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    m = np.array([0.3, -0.4])
    cov = np.array([[1.0, 0.3], [0.3, 0.8]])
    E = np.array([[0.2, 0.7], [0.7, -0.1]])
    gs = _repeat(lambda k: wg.expectation_grad(lambda z: z @ A @ z, random.MultivariateNormal, (m, cov),
                                               key=k, n=200), 15)
    gm, gc = gs[:, :2], gs[:, 2:].reshape(-1, 2, 2)
    _check_unbiased(gm, 2 * A @ m)
    _check_unbiased(np.einsum("kij,ij->k", gc, E)[:, None], np.array([np.trace(A @ E)]))


def test_reinforce_categorical_exact():
    """∇_θ E_{z~softmax(θ)}[f_z] = p ⊙ (f − p·f)."""
    p = np.array([0.2, 0.5, 0.3])
    fv = np.array([1.0, 2.0, 5.0])
    exact = p * (fv - p @ fv)
    for est in ("score", "score+baseline"):
        g = _repeat(lambda k, est=est: wg.expectation_grad(lambda z: fv[z], lambda t: random.Categorical(logits=t),
                                                           np.log(p), est, key=k, n=300, batched=True), 20)
        _check_unbiased(g, exact)


def test_reinforce_example_exact(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    sys.modules.pop("reinforce", None)
    import reinforce
    theta = np.array([0.3, -0.8, 1.2])
    exact = wg.grad(reinforce.exact_expectation)(theta)
    # exact gradient by enumeration against central differences
    h = 1e-6
    fd = [(reinforce.exact_expectation(theta + h * e) - reinforce.exact_expectation(theta - h * e)) / (2 * h)
          for e in np.eye(3)]
    np.testing.assert_allclose(exact, fd, rtol=1e-6)
    sd_plain = _check_unbiased(reinforce.estimates(theta, "score", n=100, repeats=20), exact)
    sd_base = _check_unbiased(reinforce.estimates(theta, "score+baseline", n=100, repeats=20), exact)
    assert np.all(sd_base < sd_plain)


def test_vi_logistic_example_fast(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    sys.modules.pop("vi_logistic", None)
    import vi_logistic as vi
    X, y = vi.make_data()
    mu, sigma, history = vi.fit(X, y, steps=150, lr=0.08)
    mean, sd = vi.posterior_grid(X, y, n=121)
    assert history[-20:].mean() > history[:5].mean() + 2.0
    np.testing.assert_allclose(mu, mean, atol=0.15)
    assert np.all(sigma < sd * 1.1) and np.all(sigma > sd * 0.6)


def test_reinforce_example_runs():
    runpy.run_path(str(ROOT / "examples" / "reinforce.py"), run_name="__main__")


def test_errors():
    k = random.key(0)
    f = lambda x: x  # noqa: E731
    with pytest.raises(ValueError, match="estimator must be one of"):
        wg.expectation_grad(f, random.Normal, (0.0, 1.0), "pathwise", key=k)
    with pytest.raises(TypeError, match="pass key="):
        wg.expectation_grad(f, random.Normal, (0.0, 1.0))
    with pytest.raises(ValueError, match="discrete"):
        wg.expectation_grad(f, lambda q: random.Bernoulli(probs=q), 0.3, key=k)
    with pytest.raises(TypeError, match="needs log p"):
        wg.expectation_grad(f, lambda k, p: p + random.normal(k), 0.3, "score", key=k)
    with pytest.raises(ValueError, match="n >= 2"):
        wg.expectation_grad(f, random.Normal, (0.0, 1.0), "score+baseline", key=k, n=1)
    with pytest.raises(ValueError, match="scalar per sample"):
        wg.expectation_grad(lambda x: wnp.stack([x, x]), random.Normal, (0.0, 1.0), key=k, n=4)
    with pytest.raises(TypeError, match="instance"):
        wg.expectation_grad(f, random.Normal(0.0, 1.0), (0.0, 1.0), key=k)
    with pytest.raises(TypeError, match="must return a distribution"):
        wg.expectation_grad(f, lambda p: p, 0.3, key=k)
    with pytest.raises(TypeError, match="random key"):
        wg.expectation_grad(f, random.Normal, (0.0, 1.0), key=0)
