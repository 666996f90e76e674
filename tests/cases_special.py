"""Sweep cases for ``wengert.scipy.special`` and ``wengert.scipy.stats.norm``."""

from __future__ import annotations

import numpy as np
import pytest
from cases import Case

sp = pytest.importorskip("scipy.special")
st = pytest.importorskip("scipy.stats")

import wengert.numpy as wnp  # noqa: E402
from wengert.scipy import special as S  # noqa: E402
from wengert.scipy.stats import norm  # noqa: E402

CASES: list[Case] = []


def U(lo, hi, *shapes):
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) for s in shapes)
    return build


def add(name, fn, args, ref, **kw):
    CASES.append(Case(f"special.{name}", fn, args, ref, tags=("scipy",), **kw))


_UNARY = {
    "erf": (-2, 2), "erfc": (-2, 2), "erfinv": (-0.9, 0.9), "gammaln": (0.5, 3),
    "digamma": (0.5, 3), "psi": (0.5, 3), "expit": (-3, 3), "logit": (0.1, 0.9),
    "ndtr": (-3, 3), "log_ndtr": (-3, 3), "ndtri": (0.1, 0.9),
    "erfcx": (-2, 2), "erfcinv": (0.1, 1.9), "gamma": (0.5, 3), "rgamma": (0.5, 3),
    "j0": (0.5, 3), "j1": (0.5, 3), "y0": (0.5, 3), "y1": (0.5, 3), "i0": (-2, 2), "i1": (-2, 2),
    "i0e": (0.3, 2), "i1e": (0.3, 2),
}
_NEW = ("erfcx", "erfcinv", "gamma", "rgamma", "j0", "j1", "y0", "y1", "i0", "i1", "i0e", "i1e")
for _n, (_lo, _hi) in _UNARY.items():
    # scalar rows ("name()") are also traced into SymPy by tests/test_symbolic.py, which has no
    # symbolic form for the functions added for autograd users: those are swept on arrays
    for _s in (((3,), (2, 3)) if _n in _NEW else ((), (2, 3))):
        add(f"{_n}{_s}", getattr(S, _n), U(_lo, _hi, _s), getattr(sp, _n))
for _k in (0, 1, 3):
    add(f"polygamma{_k}", (lambda k: lambda x: S.polygamma(k, x))(_k), U(0.5, 3, (3,)),
        (lambda k: lambda x: sp.polygamma(k, x))(_k))
add("xlogy", S.xlogy, lambda rng: (rng.uniform(-2, 2, (2, 3)), rng.uniform(0.5, 2, (3,))), sp.xlogy)
add("xlogy-x0", lambda y: S.xlogy(np.array([0.0, 1.0, 0.0]), y), U(0.5, 2, (3,)),
    lambda y: sp.xlogy(np.array([0.0, 1.0, 0.0]), y))
add("xlog1py", S.xlog1py, U(-0.5, 2, (3,), (3,)), sp.xlog1py)
add("logsumexp", S.logsumexp, U(-2, 2, (2, 3)), sp.logsumexp)
for _kw in ({"axis": 0}, {"axis": -1, "keepdims": True}, {"axis": (0, 1)}):
    add(f"logsumexp{_kw}", (lambda kw: lambda x: S.logsumexp(x, **kw))(_kw), U(-2, 2, (2, 3)),
        (lambda kw: lambda x: sp.logsumexp(x, **kw))(_kw))
add("logsumexp-b", lambda x, b: S.logsumexp(x, axis=1, b=b), U(0.5, 2, (2, 3), (3,)),
    lambda x, b: sp.logsumexp(x, axis=1, b=b))
add("logsumexp-sign", lambda x: S.logsumexp(x, axis=1, b=np.array([1.0, -3.0, 1.0]), return_sign=True)[0],
    U(-1, 1, (2, 3)), lambda x: sp.logsumexp(x, axis=1, b=np.array([1.0, -3.0, 1.0]), return_sign=True)[0])
add("logsumexp-huge", lambda x: S.logsumexp(x * 1e-3 + 700.0), U(-2, 2, (4,)),
    lambda x: sp.logsumexp(x * 1e-3 + 700.0))
add("logsumexp-neginf", lambda x: S.logsumexp(x + np.array([0.0, -np.inf, 0.0]), axis=-1), U(-2, 2, (2, 3)),
    lambda x: sp.logsumexp(x + np.array([0.0, -np.inf, 0.0]), axis=-1))
add("softmax", lambda x: S.softmax(x, axis=1), U(-2, 2, (2, 3)), lambda x: sp.softmax(x, axis=1))
add("softmax-all", S.softmax, U(-2, 2, (2, 3)), sp.softmax)
add("log_softmax", lambda x: S.log_softmax(x, axis=0), U(-2, 2, (2, 3)), lambda x: sp.log_softmax(x, axis=0))

for _n in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"):
    add(f"norm.{_n}", getattr(norm, _n), U(-2, 2, (3,)), getattr(st.norm, _n))
    add(f"norm.{_n}-loc-scale", (lambda n: lambda x, loc, s: getattr(norm, n)(x, loc, s))(_n),
        U(0.5, 2, (2, 3), (3,), ()), (lambda n: lambda x, loc, s: getattr(st.norm, n)(x, loc, s))(_n))
add("norm.ppf", norm.ppf, U(0.1, 0.9, (3,)), st.norm.ppf)
add("norm.logcdf-tail", lambda x: norm.logcdf(x - 30.0), U(-2, 2, (3,)), lambda x: st.norm.logcdf(x - 30.0),
    tol=1e-5)

# functions of (parameter, x): the parameter held constant, x differentiated
_PX = {
    "jv": (1.5, (0.5, 3)), "yv": (1.5, (0.5, 3)), "iv": (1.5, (0.5, 3)), "ive": (1.5, (0.3, 2)),
    "jn": (2, (0.5, 3)), "yn": (2, (0.5, 3)), "gammainc": (2.5, (0.5, 3)), "gammaincc": (2.5, (0.5, 3)),
    "stdtr": (3.5, (-2, 2)),
}
for _n, (_v, (_lo, _hi)) in _PX.items():
    add(f"{_n}", (lambda n, v: lambda x: getattr(S, n)(v, x))(_n, _v), U(_lo, _hi, (2, 3)),
        (lambda n, v: lambda x: getattr(sp, n)(v, x))(_n, _v))
add("ive-neg", lambda x: S.ive(1.0, -x), U(0.3, 2, (3,)), lambda x: sp.ive(1.0, -x))
add("i0e-neg", lambda x: S.i0e(-x), U(0.3, 2, (3,)), lambda x: sp.i0e(-x))
add("jn-array-order", lambda x: S.jn(np.array([0, 1, 3]), x), U(0.5, 3, (2, 3)),
    lambda x: sp.jn(np.array([0, 1, 3]), x))
add("gammainc-array-a", lambda x: S.gammainc(np.array([0.7, 1.0, 4.0]), x), U(0.5, 3, (3,)),
    lambda x: sp.gammainc(np.array([0.7, 1.0, 4.0]), x))
add("betainc", lambda x: S.betainc(np.array([0.8, 2.0, 3.5]), 1.5, x), U(0.1, 0.9, (2, 3)),
    lambda x: sp.betainc(np.array([0.8, 2.0, 3.5]), 1.5, x))
for _d in (1, 3):
    add(f"multigammaln{_d}", (lambda d: lambda a: S.multigammaln(a, d))(_d), U(2.0, 4.0, (3,)),
        (lambda d: lambda a: sp.multigammaln(a, d))(_d))
add("multigammaln-scalar", lambda a: S.multigammaln(a, 2), U(2.0, 4.0, ()), lambda a: sp.multigammaln(a, 2))
add("betaln", S.betaln, U(0.5, 3, (2, 3), (3,)), sp.betaln)
add("beta", S.beta, U(0.5, 3, (2, 3), (3,)), sp.beta)
add("beta-negative", lambda a, b: S.beta(a - 2.0, b), U(0.2, 0.8, (3,), (3,)), lambda a, b: sp.beta(a - 2.0, b))
add("gammasgn", lambda x: S.gammasgn(x * 3.0) * x, U(-1.9, 1.9, (6,)), lambda x: sp.gammasgn(x * 3.0) * x)
add("logsumexp-b-all", lambda x, b: S.logsumexp(x, b=b), U(0.5, 2, (2, 3), (2, 3)),
    lambda x, b: sp.logsumexp(x, b=b))


def _C(lo, hi, *shapes):
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) + 1j * rng.uniform(lo, hi, s) for s in shapes)
    return build


# complex erf/erfc/erfcx: holomorphic (derivative 2/sqrt(pi) e^{-z^2})
for _n in ("erf", "erfc", "erfcx"):
    CASES.append(Case(f"special.{_n}-complex", getattr(S, _n), _C(-1, 1, (3,)), getattr(sp, _n),
                      complex=True, tags=("scipy", "complex")))

# --- the distributions autograd's scipy.stats has ------------------------------
from wengert.scipy.stats import beta as wbeta  # noqa: E402
from wengert.scipy.stats import chi2 as wchi2  # noqa: E402
from wengert.scipy.stats import dirichlet as wdir  # noqa: E402
from wengert.scipy.stats import gamma as wgamma  # noqa: E402
from wengert.scipy.stats import multivariate_normal as wmvn  # noqa: E402
from wengert.scipy.stats import poisson as wpois  # noqa: E402
from wengert.scipy.stats import t as wt  # noqa: E402


def _stat(name, fn, args, ref, **kw):
    CASES.append(Case(f"stats.{name}", fn, args, ref, tags=("scipy",), **kw))


def _args(*spec):
    """per argument: (lo, hi, shape)."""
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) for lo, hi, s in spec)
    return build


# densities: differentiable in x and every parameter
_DENS = {  # module, scipy dist, args (x, shape params..., loc, scale)
    "t": (wt, st.t, _args((-2, 2, (2, 3)), (1.5, 5, (3,)), (-0.5, 0.5, ()), (0.5, 2, ()))),
    "beta": (wbeta, st.beta, _args((0.2, 0.8, (2, 3)), (0.5, 3, (3,)), (0.5, 3, ()), (-0.1, 0.1, ()),
                                   (1.2, 1.5, ()))),
    "gamma": (wgamma, st.gamma, _args((1.0, 3, (2, 3)), (0.5, 3, (3,)), (-0.5, 0.5, ()), (0.5, 2, ()))),
    "chi2": (wchi2, st.chi2, _args((1.0, 3, (2, 3)), (1.0, 4, (3,)), (-0.5, 0.5, ()), (0.5, 2, ()))),
}
for _n, (_m, _d, _a) in _DENS.items():
    for _f in ("logpdf", "pdf"):
        _stat(f"{_n}.{_f}", getattr(_m, _f), _a, getattr(_d, _f))
    # cdfs: in x, loc and scale (shape parameters held constant)
    _fs = ("cdf", "logcdf") if _n == "t" else ("cdf",)
    _shape = {"t": (3.5,), "beta": (1.5, 2.5), "gamma": (2.5,), "chi2": (3.0,)}[_n]
    for _f in _fs:
        _stat(f"{_n}.{_f}", (lambda m, f, sh: lambda x, loc, s: getattr(m, f)(x, *sh, loc, s))(_m, _f, _shape),
              _args((0.3, 0.7, (2, 3)), (-0.1, 0.1, ()), (1.2, 1.5, ())),
              (lambda d, f, sh: lambda x, loc, s: getattr(d, f)(x, *sh, loc, s))(_d, _f, _shape))
_stat("beta.pdf-outside", lambda a: wbeta.pdf(np.array([-0.5, 0.3, 1.5]), a, 2.0), U(0.5, 3, ()),
      lambda a: st.beta.pdf(np.array([-0.5, 0.3, 1.5]), a, 2.0))
_stat("gamma.cdf-outside", lambda x: wgamma.cdf(x - np.array([3.0, 0.0, 0.0]), 2.0), U(0.5, 2, (3,)),
      lambda x: st.gamma.cdf(x - np.array([3.0, 0.0, 0.0]), 2.0))

_K = np.array([0.0, 1.0, 3.0, 2.5, -1.0])  # 2.5 and -1: pmf 0 (logpmf -inf)
for _f in ("logpmf", "pmf", "cdf"):
    _k = _K[:3] if _f == "logpmf" else _K  # finite differences of -inf are NaN
    _stat(f"poisson.{_f}", (lambda f, k: lambda mu: getattr(wpois, f)(k, mu))(_f, _k), U(0.5, 3, _k.shape),
          (lambda f, k: lambda mu: getattr(st.poisson, f)(k, mu))(_f, _k))
_stat("poisson.logpmf-loc", lambda mu: wpois.logpmf(np.array([2.0, 4.0]), mu, 1), U(0.5, 3, (2,)),
      lambda mu: st.poisson.logpmf(np.array([2.0, 4.0]), mu, 1))


for _f in ("logpdf", "pdf"):
    _stat(f"dirichlet.{_f}", (lambda f: lambda u, al: getattr(wdir, f)(u / u.sum(), al))(_f),
          U(0.5, 2, (3,), (3,)), (lambda f: lambda u, al: getattr(st.dirichlet, f)(u / u.sum(), al))(_f))


def _columns(u):  # points in the simplex, in float64 (SciPy checks the sums to 1e-9)
    v = wnp.astype(u, np.float64)
    return v / v.sum(axis=0)


_stat("dirichlet.logpdf-columns", lambda u, al: wdir.logpdf(_columns(u), al),
      U(0.5, 2, (3, 4), (3,)), lambda u, al: st.dirichlet.logpdf(_columns(u), al))
_stat("dirichlet.logpdf-k-1", lambda u, al: wdir.logpdf(u / (u.sum() + 1.0), al), U(0.5, 2, (2,), (3,)),
      lambda u, al: st.dirichlet.logpdf(u / (u.sum() + 1.0), al))


def _spd(a):
    return a @ a.T + np.eye(a.shape[0])


for _f in ("logpdf", "pdf"):
    _stat(f"multivariate_normal.{_f}", (lambda f: lambda x, m, a: getattr(wmvn, f)(x, m, _spd(a)))(_f),
          U(-1, 1, (4, 3), (3,), (3, 3)),
          (lambda f: lambda x, m, a: getattr(st.multivariate_normal, f)(x, m, _spd(a)))(_f))
_stat("multivariate_normal.logpdf-raw-cov", lambda x, c: wmvn.logpdf(x, np.zeros(2), c + 2 * np.eye(2)),
      U(-0.5, 0.5, (2,), (2, 2)), lambda x, c: st.multivariate_normal.logpdf(x, np.zeros(2), c + 2 * np.eye(2)))
_stat("multivariate_normal.logpdf-diag", lambda x, m, c: wmvn.logpdf(x, m, c), U(0.5, 2, (5, 3), (3,), (3,)),
      lambda x, m, c: st.multivariate_normal.logpdf(x, m, c))
_stat("multivariate_normal.logpdf-scalar-cov", lambda x, c: wmvn.logpdf(x, np.zeros(3), c), U(0.5, 2, (3,), ()),
      lambda x, c: st.multivariate_normal.logpdf(x, np.zeros(3), c))
_stat("multivariate_normal.logpdf-1d", lambda x: wmvn.logpdf(x, 0.5, 2.0), U(-1, 1, (4,)),
      lambda x: st.multivariate_normal.logpdf(x, 0.5, 2.0))
_stat("multivariate_normal.entropy", lambda a: wmvn.entropy(np.zeros(3), _spd(a)), U(-1, 1, (3, 3)),
      lambda a: st.multivariate_normal.entropy(np.zeros(3), _spd(a)))
