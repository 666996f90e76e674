"""wengert.random: keys (reproducible, splittable, operands under jit, per key
under vmap), samplers' statistics against closed forms, and their pathwise
derivatives against finite differences holding the underlying noise fixed."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import random
from wengert.random._gamma import digamma, gammainc_and_da, gamma_sample_grad


# --- keys ------------------------------------------------------------------------


def test_key_is_deterministic_and_seed_dependent():
    assert random.key(0).dtype == np.uint32 and random.key(0).shape == (4,)
    np.testing.assert_array_equal(random.key(7), random.key(7))
    assert not np.array_equal(random.key(7), random.key(8))


def test_same_key_same_numbers_new_key_new_numbers():
    k = random.key(0)
    np.testing.assert_array_equal(random.normal(k, (5,)), random.normal(k, (5,)))
    k1, k2 = random.split(k)
    a, b, c = random.normal(k, (100,)), random.normal(k1, (100,)), random.normal(k2, (100,))
    # no shared values between parent and children streams (continuous draws: equal only if the streams repeat)
    assert not np.intersect1d(a, b).size and not np.intersect1d(b, c).size and not np.intersect1d(a, c).size


def test_split_children_distinct_and_depend_on_n():
    k = random.key(1)
    ks = random.split(k, 50)
    assert ks.shape == (50, 4) and ks.dtype == np.uint32
    rows = {tuple(r) for r in np.vstack([ks, random.split(k, 3), k[None], random.fold_in(k, 0)[None]])}
    assert len(rows) == 50 + 3 + 1 + 1
    np.testing.assert_array_equal(random.split(k, 4), random.split(k, 4))


def test_split_streams_are_uncorrelated():
    ks = random.split(random.key(2), 20)
    x = np.stack([random.normal(kk, (2000,)) for kk in ks])
    c = np.corrcoef(x)
    off = c[~np.eye(20, dtype=bool)]
    assert np.abs(off).max() < 0.1  # |r| of independent streams ~ 1/sqrt(2000) = 0.022


def test_fold_in():
    k = random.key(3)
    a, b = random.fold_in(k, 5), random.fold_in(k, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, random.fold_in(k, 6))
    f = wg.jit(lambda k, i: random.normal(random.fold_in(k, i)))
    assert f(k, np.int64(5)) == random.normal(a) and f(k, np.int64(6)) == random.normal(random.fold_in(k, 6))


def test_key_errors():
    with pytest.raises(TypeError, match=r"random.key\(0\)"):
        random.normal(0, (3,))
    with pytest.raises(TypeError, match="batch of keys"):
        random.normal(random.split(random.key(0), 3))
    with pytest.raises(TypeError, match="key must be a random key"):
        random.uniform(np.zeros(4))
    with pytest.raises(ValueError, match="non-negative"):
        random.key(-1)
    with pytest.raises(ValueError, match="positive int"):
        random.split(random.key(0), 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        random.normal(random.key(0), (2,), dtype=np.int32)
    with pytest.raises(ValueError, match="broadcasts to"):
        random.gamma(random.key(0), np.ones(3), (2,))


# --- jit and vmap ------------------------------------------------------------------


def test_jit_draws_like_eager_for_each_key_without_retracing():
    f = wg.jit(lambda k, mu: mu + random.normal(k, (3,)) + random.uniform(random.split(k)[1], (3,)))
    ks = random.split(random.key(4), 3)
    for kk in ks:
        eager = 1.0 + random.normal(kk, (3,)) + random.uniform(random.split(kk)[1], (3,))
        np.testing.assert_array_equal(f(kk, 1.0), eager)
    assert f.trace_count == 1


@pytest.mark.parametrize("sampler", [
    lambda k: random.normal(k, (3,)),
    lambda k: random.uniform(k, (2,), minval=-1.0, maxval=2.0),
    lambda k: random.gamma(k, np.array([0.5, 3.0])),
    lambda k: random.beta(k, 2.0, 3.0, (2,)),
    lambda k: random.dirichlet(k, np.array([1.0, 2.0, 3.0])),
    lambda k: random.multivariate_normal(k, np.ones(2), np.array([[2.0, 0.5], [0.5, 1.0]])),
    lambda k: random.bernoulli(k, 0.4, (4,)),
    lambda k: random.categorical(k, np.log([0.2, 0.3, 0.5]), shape=(4,)),
    lambda k: random.split(k, 3),
], ids=["normal", "uniform", "gamma", "beta", "dirichlet", "mvn", "bernoulli", "categorical", "split"])
def test_vmap_and_jit_over_keys_equal_eager(sampler):
    ks = random.split(random.key(5), 4)
    want = np.stack([sampler(kk) for kk in ks])
    np.testing.assert_array_equal(wg.vmap(sampler)(ks), want)
    np.testing.assert_array_equal(wg.jit(wg.vmap(sampler))(ks), want)
    np.testing.assert_array_equal(wg.jit(sampler)(ks[2]), want[2])


def test_vmap_over_parameters_with_one_key():
    k = random.key(6)
    a = np.array([0.5, 2.0, 7.0])
    got = wg.vmap(lambda a: random.gamma(k, a, (3,)))(a)
    np.testing.assert_array_equal(got, np.stack([random.gamma(k, ai, (3,)) for ai in a]))


# --- statistics against closed forms (fixed seeds, loose tolerances) ---------------


def _se(x):
    return x.std() / np.sqrt(x.size)


def test_normal_uniform_moments():
    k = random.key(10)
    x = random.normal(k, (40000,))
    assert abs(x.mean()) < 5 * _se(x) and abs(x.var() - 1) < 0.03
    assert random.normal(k, (3,), dtype=np.float32).dtype == np.float32
    u = random.uniform(k, (40000,), minval=-2.0, maxval=4.0)
    assert u.min() >= -2 and u.max() < 4 and abs(u.mean() - 1.0) < 5 * _se(u) and abs(u.var() - 3.0) < 0.1


@pytest.mark.parametrize("a", [0.3, 1.0, 4.5, 60.0])
def test_gamma_moments(a):
    x = random.gamma(random.key(11), a, (40000,))
    assert abs(x.mean() - a) < 5 * _se(x) and abs(x.var() / a - 1) < 0.06


def test_beta_dirichlet_mvn_moments():
    k = random.key(12)
    x = random.beta(k, 2.0, 5.0, (40000,))
    assert abs(x.mean() - 2 / 7) < 5 * _se(x) and abs(x.var() - 10 / (49 * 8)) < 0.002
    alpha = np.array([1.0, 2.0, 5.0])
    d = random.dirichlet(k, alpha, (40000,))
    np.testing.assert_allclose(d.mean(0), alpha / 8, atol=0.005)
    np.testing.assert_allclose(d.sum(-1), 1.0)
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    m = random.multivariate_normal(k, np.array([1.0, -1.0]), cov, (40000,))
    np.testing.assert_allclose(m.mean(0), [1.0, -1.0], atol=0.03)
    np.testing.assert_allclose(np.cov(m.T), cov, atol=0.04)
    me = random.multivariate_normal(k, np.array([1.0, -1.0]), cov, (40000,), method="eigh")
    np.testing.assert_allclose(np.cov(me.T), cov, atol=0.04)


def test_bernoulli_categorical_frequencies_and_zero_derivative():
    k = random.key(13)
    b = random.bernoulli(k, np.array([0.1, 0.7]), (20000, 2))
    np.testing.assert_allclose(b.mean(0), [0.1, 0.7], atol=0.015)
    p = np.array([0.1, 0.6, 0.3])
    c = random.categorical(k, np.log(p), shape=(20000,))
    np.testing.assert_allclose(np.bincount(c, minlength=3) / 20000, p, atol=0.015)
    c2 = random.categorical(k, np.log(np.stack([p, p[::-1]])), axis=-1, shape=(5000, 2))
    np.testing.assert_allclose(np.bincount(c2[:, 1], minlength=3) / 5000, p[::-1], atol=0.03)
    # discrete samples: no pathwise derivative (zero), documented
    assert wg.grad(lambda q: wnp.asarray(random.bernoulli(k, q, (5,)), dtype=float).sum())(0.3) == 0.0


# --- derivatives --------------------------------------------------------------------


def test_digamma_and_incomplete_gamma_derivative_against_scipy():
    sp = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0.05, 3, 100), rng.uniform(3, 400, 100)])
    x = rng.standard_gamma(a) + 1e-3
    np.testing.assert_allclose(digamma(a), sp.digamma(a), rtol=1e-9, atol=1e-12)
    p, dp = gammainc_and_da(a, x)
    np.testing.assert_allclose(p, sp.gammainc(a, x), rtol=1e-10, atol=1e-13)
    h = 1e-5 * np.maximum(a, 1)
    fd = (sp.gammainc(a + h, x) - sp.gammainc(a - h, x)) / (2 * h)
    np.testing.assert_allclose(dp, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("a", [0.2, 1.0, 3.7, 150.0])
def test_gamma_implicit_reparam_against_fd_at_fixed_cdf_level(a):
    """dz/da of the sampler equals d/da F⁻¹(u; a) at the sample's own level u = F(z; a)."""
    sp = pytest.importorskip("scipy.special")
    k = random.key(20)
    z = random.gamma(k, a, (50,))
    dz = wg.jacfwd(lambda a: random.gamma(k, a, (50,)))(a)
    u = sp.gammainc(a, z)
    keep = (u > 1e-6) & (u < 1 - 1e-6)
    h = 1e-5 * max(a, 1.0)
    fd = (sp.gammaincinv(a + h, u) - sp.gammaincinv(a - h, u)) / (2 * h)
    np.testing.assert_allclose(dz[keep], fd[keep], rtol=2e-5)
    # reverse mode agrees with forward mode, under jit and under vmap over keys
    gr = wg.grad(lambda a: random.gamma(k, a, (50,)).sum())(a)
    np.testing.assert_allclose(gr, dz.sum(), rtol=1e-12)
    np.testing.assert_allclose(wg.jit(wg.grad(lambda a, k: random.gamma(k, a, (50,)).sum()))(a, k), gr, rtol=1e-12)
    ks = random.split(k, 2)
    vg = wg.vmap(wg.grad(lambda a, k: random.gamma(k, a, (50,)).sum()), in_axes=(None, 0))(a, ks)
    np.testing.assert_allclose(vg, [wg.grad(lambda a: random.gamma(kk, a, (50,)).sum())(a) for kk in ks])


def test_gamma_sample_grad_float32_and_underflow():
    z = random.gamma(random.key(1), np.float32(2.0), (3,), dtype=np.float32)
    assert z.dtype == np.float32
    g = wg.grad(lambda a: random.gamma(random.key(1), a, (3,), dtype=np.float32).sum())(np.float32(2.0))
    assert np.isfinite(g)
    assert gamma_sample_grad(0.5, 0.0) == 0.0  # an underflowed sample does not move


def test_gamma_second_derivative_raises():
    k = random.key(0)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        wg.grad(wg.grad(lambda a: random.gamma(k, a)))(2.0)


def test_gamma_mean_gradient_closed_form():
    # E[z] = a: d/da = 1; E[z^2] = a(a+1): d/da = 2a + 1
    k = random.key(21)
    g1 = wg.grad(lambda a: random.gamma(k, a, (40000,)).mean())(2.5)
    g2 = wg.grad(lambda a: (random.gamma(k, a, (40000,)) ** 2).mean())(2.5)
    assert abs(g1 - 1.0) < 0.02 and abs(g2 - 6.0) / 6.0 < 0.03


def test_beta_and_dirichlet_mean_gradients_closed_form():
    k = random.key(22)
    ga, gb = wg.grad(lambda a, b: random.beta(k, a, b, (40000,)).mean(), argnums=(0, 1))(2.0, 3.0)
    np.testing.assert_allclose([ga, gb], [3 / 25, -2 / 25], atol=0.006)
    alpha = np.array([1.0, 2.0, 3.0])
    g = wg.grad(lambda al: random.dirichlet(k, al, (40000,))[:, 0].mean())(alpha)
    np.testing.assert_allclose(g, np.array([5.0, -1.0, -1.0]) / 36, atol=0.006)


def test_normal_based_samplers_against_fd_with_the_same_key():
    """The same key is the same noise: finite differences of the sampler itself."""
    k = random.key(23)
    mean = np.array([0.5, -1.0])
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    e = np.array([[0.3, -0.2], [-0.2, 0.5]])  # a symmetric direction

    def s(c):
        return random.multivariate_normal(k, mean, c, (4,))
    _, jv = wg.jvp(s, (cov,), (e,))
    h = 1e-6
    np.testing.assert_allclose(jv, (s(cov + h * e) - s(cov - h * e)) / (2 * h), rtol=1e-6, atol=1e-8)
    jm = wg.jacfwd(lambda m: random.multivariate_normal(k, m, cov))(mean)
    np.testing.assert_allclose(jm, np.eye(2))
    gu = wg.grad(lambda lo, hi: random.uniform(k, (3,), minval=lo, maxval=hi).sum(), argnums=(0, 1))(1.0, 3.0)
    u = random.uniform(k, (3,))
    np.testing.assert_allclose(gu, [np.sum(1 - u), np.sum(u)])


def test_sampler_inputs_not_mutated():
    a = np.array([1.0, 2.0])
    a0 = a.copy()
    random.gamma(random.key(0), a)
    random.dirichlet(random.key(0), a)
    np.testing.assert_array_equal(a, a0)


# --- distributions' log_prob (shared with wengert.scipy.stats) --------------------


def test_log_prob_against_scipy():
    st = pytest.importorskip("scipy.stats")
    x = np.array([0.2, 0.7])
    np.testing.assert_allclose(random.Normal(0.3, 2.0).log_prob(x), st.norm.logpdf(x, 0.3, 2.0))
    np.testing.assert_allclose(random.Gamma(2.0, 3.0).log_prob(x), st.gamma.logpdf(x, 2.0, scale=1 / 3))
    np.testing.assert_allclose(random.Beta(2.0, 3.0).log_prob(x), st.beta.logpdf(x, 2.0, 3.0))
    np.testing.assert_allclose(random.Uniform(0.0, 0.5).log_prob(x), [np.log(2.0), -np.inf])
    np.testing.assert_allclose(random.Bernoulli(logits=0.4).log_prob(np.array([0.0, 1.0])),
                               st.bernoulli.logpmf([0, 1], 1 / (1 + np.exp(-0.4))))
    xd = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(random.Dirichlet(np.array([1.0, 2.0, 3.0])).log_prob(xd),
                               [st.dirichlet.logpdf(r, [1.0, 2.0, 3.0]) for r in xd])
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    xm = np.array([[0.1, 0.2], [1.0, -1.0], [0.0, 0.0]])
    np.testing.assert_allclose(random.MultivariateNormal(np.ones(2), cov).log_prob(xm),
                               st.multivariate_normal.logpdf(xm, np.ones(2), cov))
    # and differentiable: d/dμ log N(x; μ, σ) = (x - μ)/σ²
    g = wg.grad(lambda m: random.Normal(m, 2.0).log_prob(0.2))(0.3)
    np.testing.assert_allclose(g, (0.2 - 0.3) / 4)
    gl = wg.grad(lambda lg: random.Categorical(logits=lg).log_prob(np.array(1)))(np.zeros(3))
    np.testing.assert_allclose(gl, [-1 / 3, 2 / 3, -1 / 3])


def test_distribution_sample_shapes():
    k = random.key(0)
    assert random.Normal(np.zeros(3), 1.0).sample(k, (5,)).shape == (5, 3)
    assert random.Dirichlet(np.ones(4)).sample(k, (2,)).shape == (2, 4)
    assert random.MultivariateNormal(np.zeros(2), np.eye(2)).sample(k, 3).shape == (3, 2)
    assert random.Categorical(logits=np.zeros((2, 5))).sample(k, (7,)).shape == (7, 2)
    assert random.Bernoulli(probs=0.5).sample(k, (3,)).dtype == np.float64
    with pytest.raises(ValueError, match="exactly one"):
        random.Bernoulli()


def test_gumbel_softmax_with_a_key():
    from wengert import relax
    pytest.importorskip("scipy")
    logits = np.log(np.array([0.2, 0.3, 0.5]))
    k = random.key(30)
    u = random.uniform(k, (3,), minval=np.finfo(np.float64).tiny)
    want = relax.gumbel_softmax(logits, 0.5, noise=-np.log(-np.log(u)))
    np.testing.assert_allclose(relax.gumbel_softmax(logits, 0.5, key=k), want, rtol=1e-14)
    np.testing.assert_allclose(wg.jit(lambda lg, k: relax.gumbel_softmax(lg, 0.5, key=k))(logits, k), want,
                               rtol=1e-14)
    ks = random.split(k, 3)
    np.testing.assert_allclose(wg.vmap(lambda k: relax.gumbel_softmax(logits, 0.5, key=k))(ks),
                               np.stack([relax.gumbel_softmax(logits, 0.5, key=kk) for kk in ks]), rtol=1e-14)
    draws = wg.vmap(lambda k: wnp.argmax(relax.gumbel_softmax(logits, 0.01, key=k)))(random.split(k, 4000))
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 4000, [0.2, 0.3, 0.5], atol=0.03)
    with pytest.raises(ValueError, match="not rng= and key="):
        relax.gumbel_softmax(logits, key=k, rng=0)


def test_beta_dirichlet_derivatives_against_fd_at_fixed_cdf_levels():
    """Beta and Dirichlet are normalised gammas: finite differences of the same construction with each
    gamma moved along its own CDF level (gammaincinv) give the sampler's derivative."""
    sp = pytest.importorskip("scipy.special")
    k = random.key(24)
    a, b, h = 1.7, 0.6, 1e-6
    ka, kb = random.split(k)
    x, y = random.gamma(ka, a, (20,)), random.gamma(kb, b, (20,))
    np.testing.assert_allclose(random.beta(k, a, b, (20,)), x / (x + y), rtol=1e-14)
    ux, uy = sp.gammainc(a, x), sp.gammainc(b, y)

    def beta_at(a, b):
        gx, gy = sp.gammaincinv(a, ux), sp.gammaincinv(b, uy)
        return gx / (gx + gy)
    ja = wg.jacfwd(lambda a: random.beta(k, a, b, (20,)))(a)
    jb = wg.jacfwd(lambda b: random.beta(k, a, b, (20,)))(b)
    np.testing.assert_allclose(ja, (beta_at(a + h, b) - beta_at(a - h, b)) / (2 * h), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(jb, (beta_at(a, b + h) - beta_at(a, b - h)) / (2 * h), rtol=1e-5, atol=1e-9)

    alpha = np.array([0.8, 2.0, 3.5])
    g = random.gamma(k, alpha, (4, 3))
    u = sp.gammainc(alpha, g)

    def dir_at(al):
        gg = sp.gammaincinv(al, u)
        return gg / gg.sum(-1, keepdims=True)
    jd = wg.jacfwd(lambda al: random.dirichlet(k, al, (4,)))(alpha)
    fd = np.stack([(dir_at(alpha + h * e) - dir_at(alpha - h * e)) / (2 * h) for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(jd, fd, rtol=1e-5, atol=1e-9)


def test_incomplete_gamma_derivative_against_high_precision():
    mp = pytest.importorskip("mpmath")
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.uniform(0.05, 3, 6), rng.uniform(3, 300, 6)])
    x = rng.standard_gamma(a)
    _, dp = gammainc_and_da(a, x)
    with mp.workdps(30):  # mpmath's precision is global: restored on exit
        ref = [float(mp.diff(lambda s, xx=xx: mp.gammainc(s, 0, xx, regularized=True), aa)) for aa, xx in zip(a, x)]
    np.testing.assert_allclose(dp, ref, rtol=1e-11)
