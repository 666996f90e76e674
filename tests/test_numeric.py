"""wengert.numeric: every method against AD on the smooth cases of the sweep
table, convergence orders, the step rule, Hessians/Jacobians, pytrees, the
evaluation counts and the V-shaped step sweep."""

from __future__ import annotations

import re

import numpy as np
import pytest
from cases import all_cases

import wengert as wg
import wengert.numpy as wnp
from wengert import numeric

EPS = np.finfo(np.float64).eps

# Elementwise functions and reductions of the sweep table, one per shape
_SMOOTH_UNARY = set(
    "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh exp exp2 expm1 "
    "log log2 log10 log1p sqrt cbrt square reciprocal negative positive deg2rad rad2deg "
    "radians degrees sinc".split())
_SMOOTH_BINARY = set(
    "add subtract multiply divide true_divide power float_power arctan2 hypot logaddexp "
    "logaddexp2".split())
_REDUCTIONS = ("sum", "mean", "prod", "var", "std", "cumsum", "cumprod", "average")
# analytic in the complex plane and implemented for complex input by NumPy
_ANALYTIC = set(
    "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh exp exp2 expm1 "
    "log log2 log10 log1p sqrt square reciprocal negative positive add subtract multiply "
    "divide true_divide power float_power sum mean prod cumsum cumprod average".split())


def _base(name):
    m = re.match(r"([a-z_0-9]+?)(\(.*\)|\{.*\}|-bcast0?|-w)?$", name)
    return m.group(1) if m else name


def _smooth_cases():
    out = []
    for c in all_cases():
        b = _base(c.name)
        if c.order == 2 and (b in _SMOOTH_UNARY | _SMOOTH_BINARY or b in _REDUCTIONS):
            if c.name.endswith("()"):
                continue  # scalars are covered by the (3,) and (2, 3) rows
            out.append(c)
    return out


SMOOTH = _smooth_cases()


def _scalar_problem(case):
    rng = np.random.default_rng(0)
    args = tuple(np.asarray(a, dtype=np.float64) for a in case.args(rng))
    w = rng.standard_normal(np.shape(case.fn(*args)))

    def f(a):
        return wnp.sum(case.fn(*a) * w)

    return f, args, wg.grad(f)(args)


def _relerr(got, want):
    g = np.concatenate([np.ravel(x) for x in got])
    w = np.concatenate([np.ravel(x) for x in want])
    return float(np.max(np.abs(g - w))) / max(1.0, float(np.max(np.abs(w))))


def test_the_sweep_selection_is_broad():
    names = {_base(c.name) for c in SMOOTH}
    assert len(SMOOTH) >= 80
    assert {"sin", "log", "power", "prod", "var", "cumprod"} <= names


# tolerances: forward O(h) with h = sqrt(eps) ≈ 1.5e-8; central O(h²) with
# h = cbrt(eps) ≈ 6e-6, so ≈ 4e-11 times the function's scale; order 4
# with h = eps^(1/5): ≈ 1e-12 times scale; complex step: rounding only.
@pytest.mark.parametrize("method,order,tol", [
    ("forward", 1, 3e-7), ("backward", 1, 3e-7), ("forward", 2, 5e-9),
    ("central", 2, 5e-9), ("central", 4, 5e-10), ("central", 6, 5e-10),
    ("complex", 2, 1e-13),
])
def test_every_method_matches_ad_on_the_sweep(method, order, tol):
    worst = (0.0, None)
    n = 0
    for case in SMOOTH:
        if method == "complex" and _base(case.name) not in _ANALYTIC:
            continue
        f, args, g = _scalar_problem(case)
        got = numeric.grad(f, args, method=method, order=order)
        e = _relerr(got, g)
        worst = max(worst, (e, case.name), key=lambda t: t[0])
        n += 1
    assert n >= 40
    assert worst[0] <= tol, f"{method} order {order}: worst case {worst[1]} error {worst[0]:.2e}"


def test_richardson_is_better_than_central():
    e2, e4 = [], []
    for case in SMOOTH:
        f, args, g = _scalar_problem(case)
        e2.append(_relerr(numeric.grad(f, args, order=2), g))
        e4.append(_relerr(numeric.grad(f, args, order=4), g))
    e2, e4 = np.array(e2), np.array(e4)
    assert np.median(e4) < np.median(e2) / 10
    assert np.all(e4 <= 3 * e2 + 1e-12)


def _f(x):
    return wnp.sin(x) * wnp.exp(x)


def _df(x):
    return np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x)


@pytest.mark.parametrize("method,order,rate", [
    ("forward", 1, 1), ("backward", 1, 1), ("forward", 2, 2), ("central", 2, 2),
    ("central", 4, 4), ("forward", 3, 3),
])
def test_convergence_order(method, order, rate):
    # error(h) / error(h/2) ≈ 2**rate where truncation dominates
    x = 0.7
    hs = [0.1, 0.05, 0.025]
    errs = [abs(float(numeric.grad(_f, x, method=method, step=h, order=order)) - _df(x)) for h in hs]
    ratios = [errs[i] / errs[i + 1] for i in range(2)]
    for r in ratios:
        assert 2 ** rate * 0.7 < r < 2 ** rate * 1.4, (errs, ratios)


def test_complex_step_is_exact_to_rounding_at_any_small_step():
    for h in (1e-8, 1e-20, 1e-100):
        g = numeric.grad(_f, 0.7, method="complex", step=h)
        assert abs(float(g) - _df(0.7)) <= 4 * EPS * abs(_df(0.7))


def test_default_step_rule():
    x = {"a": np.array([0.0, 3.0, -200.0]), "b": 0.5}
    h = numeric.default_step(x, "forward", order=1)
    np.testing.assert_allclose(h["a"], np.sqrt(EPS) * np.array([1.0, 3.0, 200.0]))
    assert float(h["b"]) == pytest.approx(np.sqrt(EPS))
    np.testing.assert_allclose(numeric.default_step(2.0, "central"), np.cbrt(EPS) * 2.0)
    np.testing.assert_allclose(numeric.default_step(2.0, "central", 4), EPS ** 0.2 * 2.0)
    np.testing.assert_allclose(numeric.default_step(2.0, "central", deriv=2), EPS ** 0.25 * 2.0)
    np.testing.assert_allclose(numeric.default_step(5.0, "complex"), EPS * 5.0)
    h32 = numeric.default_step(np.float32(1.0), "central")
    assert float(h32) == pytest.approx(np.cbrt(np.finfo(np.float32).eps))


def test_float32_stays_float32_and_uses_its_precision():
    x = np.array([0.3, 0.9], dtype=np.float32)
    g = numeric.grad(lambda v: wnp.sum(wnp.sin(v) * v), x)
    assert g.dtype == np.float32
    want = np.cos(x.astype(np.float64)) * x + np.sin(x.astype(np.float64))
    assert np.max(np.abs(g - want)) < 1e-3


def test_evaluation_counts_and_info():
    x = np.array([0.1, 0.2, 0.3])
    f = lambda v: wnp.sum(wnp.exp(v))  # noqa: E731
    counts = {("central", 2): 6, ("central", 4): 12, ("central", 8): 24, ("forward", 1): 4,
              ("forward", 2): 7, ("backward", 3): 10, ("complex", 2): 3}
    for (m, o), n in counts.items():
        g, info = numeric.grad(f, x, method=m, order=o, return_info=True)
        assert info.evaluations == n, (m, o)
        assert info.method == m and info.order == o
        err = float(np.max(np.abs(g - np.exp(x))))
        assert err <= 10 * info.error + 1e-15, (m, o, err, info)
        assert np.shape(info.step) == x.shape
    _, info = numeric.grad(f, x, return_info=True)
    assert info.truncation_error is None and info.rounding_error > 0
    _, info = numeric.grad(f, x, order=6, return_info=True)
    assert info.truncation_error is not None
    assert "evaluations" in str(info)


def test_pytrees_and_jacobian_shapes():
    params = {"w": np.array([[0.5, -1.0], [2.0, 0.3]]), "b": np.array([0.1, 0.2])}
    x = np.array([1.0, -2.0])

    def loss(p):
        return wnp.sum(wnp.tanh(p["w"] @ x + p["b"]) ** 2)

    g = numeric.grad(loss, params, order=4)
    ad = wg.grad(loss)(params)
    for k in params:
        assert g[k].shape == params[k].shape
        np.testing.assert_allclose(g[k], ad[k], atol=1e-9)

    def vec(v):
        return wnp.stack([v[0] * v[1], wnp.sin(v[0]), v[1] ** 3])

    v0 = np.array([[0.5, 1.5]]).reshape(2)
    J = numeric.jacobian(vec, v0, order=4)
    assert J.shape == (3, 2)
    np.testing.assert_allclose(J, wg.jacfwd(vec)(v0), atol=1e-9)
    # matrix in, matrix out: out.shape + in.shape
    A = np.arange(6.0).reshape(2, 3) / 7
    J2 = numeric.jacobian(lambda a: wnp.sin(a).T, A)
    assert J2.shape == (3, 2, 2, 3)
    np.testing.assert_allclose(J2, wg.jacfwd(lambda a: wnp.sin(a).T)(A), atol=1e-8)
    # pytree output of pytree input
    Jt = numeric.jacobian(lambda p: {"s": wnp.sum(p[0] * p[1]), "d": p[0] - p[1]},
                          (np.array([1.0, 2.0]), np.array([3.0, 4.0])))
    assert Jt["d"][0].shape == (2, 2) and Jt["s"][1].shape == (2,)
    np.testing.assert_allclose(Jt["s"][1], [1.0, 2.0], atol=1e-9)


def test_derivative_of_scalar_functions():
    assert float(numeric.derivative(wnp.exp, 1.0, order=6)) == pytest.approx(np.e, abs=1e-12)
    d = numeric.derivative(lambda t: wnp.stack([t ** 2, wnp.cos(t)]), 0.5, method="complex")
    np.testing.assert_allclose(d, [1.0, -np.sin(0.5)], rtol=1e-15)
    with pytest.raises(TypeError, match="scalar"):
        numeric.derivative(wnp.exp, np.ones(2))


@pytest.mark.parametrize("method,order,tol", [
    ("central", 2, 1e-6), ("central", 4, 1e-8), ("forward", 1, 1e-4), ("backward", 2, 1e-5),
    ("complex", 2, 1e-8), ("complex", 4, 1e-10),
])
def test_hessian_matches_ad(method, order, tol):
    def f(p):
        x, y = p[0], p[1]
        return wnp.sin(x * y) + wnp.exp(x) * y ** 2 + wnp.log(1 + x * x)

    p = np.array([0.4, -0.8])
    H = numeric.hessian(f, p, method=method, order=order)
    np.testing.assert_allclose(H, wg.hessian(f)(p), atol=tol)
    np.testing.assert_array_equal(H, H.T)


def test_hessian_of_pytrees_and_counts():
    def f(p):
        return p["a"] ** 2 * p["b"][0] + wnp.sum(p["b"] ** 3)

    p = {"a": 3.0, "b": np.array([1.0, 2.0])}
    H, info = numeric.hessian(f, p, order=4, return_info=True)
    ad = wg.hessian(f)(p)
    np.testing.assert_allclose(H["a"]["b"], ad["a"]["b"], atol=1e-7)
    np.testing.assert_allclose(H["b"]["b"], ad["b"]["b"], atol=1e-7)
    assert np.shape(H["b"]["a"]) == (2,)
    n = 3
    assert info.evaluations == 1 + 2 * (2 * n + 2 * n * (n - 1))


def test_step_sweep_has_its_minimum_where_theory_puts_it():
    x = np.array([0.7, -0.3])
    f = lambda v: wnp.sum(wnp.sin(v) * wnp.exp(v))  # noqa: E731
    c = numeric.step_sweep(f, x)
    assert list(c.steps) == [10.0 ** -k for k in range(1, 16)]
    assert 1e-7 <= c.best_step <= 1e-4  # cbrt(eps) ≈ 6e-6
    # the V: truncation on the right (slope 2), rounding on the left
    assert c.errors[0] > 1e3 * c.best_error and c.errors[-1] > 1e3 * c.best_error
    fw = numeric.step_sweep(f, x, method="forward", order=1)
    assert 1e-10 <= fw.best_step <= 1e-6  # sqrt(eps) ≈ 1.5e-8
    cx = numeric.step_sweep(f, x, method="complex")
    assert cx.errors[-1] < 1e-14  # no rounding arm
    assert cx.best_error < 1e-14
    txt = str(c)
    assert "best" in txt and "1e-05" in txt
    svg = numeric.sweep_svg([c, fw, cx])
    assert svg.startswith("<svg") and svg.count("<polyline") == 3


def test_bad_input_messages():
    f = lambda v: wnp.sum(v ** 2)  # noqa: E731
    with pytest.raises(ValueError, match="method='midpoint'"):
        numeric.grad(f, np.ones(2), method="midpoint")
    with pytest.raises(ValueError, match="even powers"):
        numeric.grad(f, np.ones(2), order=3)
    with pytest.raises(ValueError, match="step"):
        numeric.grad(f, np.ones(2), step=-1.0)
    with pytest.raises(TypeError, match=r"scalar output .*shape \(2,\)"):
        numeric.grad(lambda v: v * 2, np.ones(2))
    with pytest.raises(TypeError, match="imaginary part"):
        numeric.grad(lambda v: np.sum(np.abs(v)), np.ones(2), method="complex")
    with pytest.raises(TypeError, match="complex"):
        numeric.grad(f, np.ones(2, dtype=complex))
    with pytest.raises(TypeError, match="scalar output"):
        numeric.hessian(lambda v: v, np.ones(2))
    # integer input is promoted to float64
    np.testing.assert_allclose(numeric.grad(f, np.array([1, 2])), [2.0, 4.0], atol=1e-8)


def test_complex_outputs_and_empty_inputs():
    x = np.array([0.3, 0.5])
    J = numeric.jacobian(lambda v: wnp.exp(1j * v), x, order=4)
    np.testing.assert_allclose(J, np.diag(1j * np.exp(1j * x)), atol=1e-10)
    with pytest.raises(TypeError, match="real scalar output"):
        numeric.grad(lambda v: wnp.sum(wnp.exp(1j * v)), x)
    g = numeric.grad(lambda v: wnp.sum(v) + 1.0, np.zeros(0))
    assert g.shape == (0,)
