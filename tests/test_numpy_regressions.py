"""Regressions of issue 10 ("fix what they find") in wengert.numpy and the
primitive rules: each checked in every mode (grad, jvp, vjp, jacfwd, jacrev,
hessian, vmap, jit's later calls, Tensor.backward) against finite
differences or a closed form."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _fd import check_grads
from _modes import all_modes

import wengert as wg
import wengert.numpy as wnp


def _every_grad(f, args, argnums=0):
    """The gradient of scalar ``f`` by every route, as a dict of mode -> value."""
    out = {
        "grad": wg.grad(f, argnums=argnums)(*args),
        "value_and_grad": wg.value_and_grad(f, argnums=argnums)(*args)[1],
        "jacrev": wg.jacrev(f, argnums=argnums)(*args),
        "jacfwd": wg.jacfwd(f, argnums=argnums)(*args),
    }
    jg = wg.jit(wg.grad(f, argnums=argnums))
    jg(*args)
    out["jit(grad) 2nd call"] = jg(*args)
    out["jit(grad) 3rd call"] = jg(*args)
    out["vmap(grad)"] = wg.tree_util.tree_map(
        lambda v: v[0], wg.vmap(wg.grad(f, argnums=argnums))(*(np.stack([a, a]) for a in args)))
    nums = (argnums,) if isinstance(argnums, int) else argnums
    jv = []
    for i in nums:
        ts = [np.zeros_like(a) for a in args]
        ts[i] = np.ones_like(args[i])
        jv.append(wg.jvp(f, tuple(args), tuple(ts))[1])
    out["jvp"] = jv[0] if isinstance(argnums, int) else tuple(jv)
    ts = [wg.tensor(a, requires_grad=True) for a in args]
    f(*ts).backward()
    tg = [np.zeros(()) if ts[i].grad is None else ts[i].grad.data for i in nums]
    out["Tensor.backward"] = tg[0] if isinstance(argnums, int) else tuple(tg)
    return out


def _assert_all(got: dict, want, what):
    for mode, v in got.items():
        np.testing.assert_allclose(np.asarray(v, dtype=float), np.asarray(want, dtype=float), rtol=1e-12,
                                   atol=1e-12, equal_nan=True, err_msg=f"{what}: {mode}")
        assert not np.iscomplexobj(v), f"{what}: {mode} gave a complex value"


# --- pow: one rule (JAX's) in every mode and route ------------------------------------


POW_POINTS = [
    # x, y, d/dx, d/dy
    (0.0, 0.0, 0.0, 0.0),                      # 0**0: constant in x (y = 0), log factor 0
    (0.0, 2.5, 0.0, 0.0),                      # y > 0 at x = 0
    (0.0, 1.0, 1.0, 0.0),
    (-2.0, 2.0, -4.0, np.nan),                 # negative base: d/dy is nan (not real-differentiable)
    (-2.0, 3.0, 12.0, np.nan),
    (2.0, 0.0, 0.0, np.log(2.0)),
    (1.5, 2.5, 2.5 * 1.5 ** 1.5, np.log(1.5) * 1.5 ** 2.5),
]


@pytest.mark.parametrize("x,y,dx,dy", POW_POINTS)
def test_pow_derivatives_one_rule_in_every_mode(x, y, dx, dy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in (lambda a, b: a ** b, wnp.power, lambda a, b: wnp.float_power(a, b)):
            got = _every_grad(f, (np.float64(x), np.float64(y)), argnums=(0, 1))
            _assert_all(got, (dx, dy), f"d(x**y) at x={x}, y={y}")
            # differentiating one argument gives the same numbers as both at once
            _assert_all(_every_grad(f, (np.float64(x), np.float64(y)), argnums=1), dy, "d/dy alone")
            _assert_all(_every_grad(f, (np.float64(x), np.float64(y)), argnums=0), dx, "d/dx alone")


def test_x_to_the_x_at_zero_is_the_same_in_every_mode():
    # d(x**x) = x**x (log x + 1) diverges at 0+; JAX's convention gives 0 (y = 0 -> d/dx term 0,
    # x = 0 -> log factor 0): the same number in every mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _assert_all(_every_grad(lambda x: x ** x, (np.float64(0.0),)), 0.0, "d(x**x) at 0")
        _assert_all(_every_grad(lambda x: wnp.sum(x ** x), (np.zeros(3),)), np.zeros(3), "d(x**x) at 0")
    # and away from 0 it is the derivative
    x = np.array([0.3, 1.2, 2.0])
    all_modes(lambda x: x ** x, (x,), grads=(x ** x * (np.log(x) + 1),))


def test_pow_second_derivatives_and_array_exponents():
    x = np.array([0.5, 1.3, 2.0])
    y = np.array([0.0, 1.0, 2.5])
    all_modes(lambda x, y: x ** y, (x, y))
    all_modes(lambda x: x ** np.array([0.0, 1.0, 3.0]), (x,))
    # integer exponents of a negative base: d/dx is defined
    xn = np.array([-2.0, -0.5, 1.5])
    all_modes(lambda x: x ** np.array([2.0, 3.0, 0.0]), (xn,))


def test_pow_complex_result_uses_the_complex_log():
    # a complex exponent makes the result complex: d/dy = log(x) x**y with the principal log
    x, y = -2.0, 1.5 + 0.5j
    got = wg.jvp(lambda y: x ** y, (y,), (1.0 + 0j,))[1]
    np.testing.assert_allclose(got, np.log(x + 0j) * (x + 0j) ** y, rtol=1e-12)


# --- argnums naming an argument twice --------------------------------------------------


def test_argnums_repeated_gets_the_gradient_in_each_place():
    f = lambda x, y: x * x * y  # noqa: E731
    for api in (wg.grad, lambda f, argnums: (lambda *a: wg.value_and_grad(f, argnums=argnums)(*a)[1]),
                wg.jacrev, wg.jacfwd):
        g = api(f, argnums=(0, 0))(1.0, 3.0)
        assert len(g) == 2
        np.testing.assert_allclose(g, [6.0, 6.0])
        g = api(f, argnums=(1, 0, -1))(1.0, 3.0)
        np.testing.assert_allclose(g, [1.0, 6.0, 1.0])
        g = api(lambda x: wnp.sum(x * x), argnums=(0, 0))(np.ones(2))
        np.testing.assert_allclose(g[0], [2.0, 2.0])
        np.testing.assert_allclose(g[1], [2.0, 2.0])
        g[0][0] = 99.0  # separate arrays
        assert g[1][0] == 2.0
    h = wg.hessian(f, argnums=(0, 0))(1.0, 3.0)
    np.testing.assert_allclose(np.asarray(h, dtype=float), np.full((2, 2), 6.0))
    assert wg.jit(wg.grad(f, argnums=(0, 0)))(1.0, 3.0) == (6.0, 6.0)
    assert wg.jit(wg.grad(f, argnums=(0, 0)))(1.0, 3.0) == (6.0, 6.0)


# --- sinc at and near 0 -----------------------------------------------------------------


def test_sinc_derivatives_at_zero():
    # sinc(x) = 1 - (πx)²/6 + (πx)⁴/120 - ...: sinc'(0) = 0, sinc''(0) = -π²/3
    x0 = np.array([0.0, 0.0])
    all_modes(wnp.sinc, (x0,), grads=(np.zeros(2),), hess=np.diag([-np.pi ** 2 / 3] * 2), fd=False)
    d3 = wg.grad(wg.grad(wg.grad(wnp.sinc)))(0.0)
    d4 = wg.grad(wg.grad(wg.grad(wg.grad(wnp.sinc))))(0.0)
    assert abs(d3) < 1e-12
    np.testing.assert_allclose(d4, np.pi ** 4 / 5, rtol=1e-12)
    np.testing.assert_allclose(wg.jit(wg.grad(wg.grad(wg.grad(wg.grad(wnp.sinc)))))(0.0), np.pi ** 4 / 5)


def test_sinc_is_smooth_across_the_series_switch():
    # first and second derivatives against FD at points on both sides of |πx| = 0.5
    x = np.array([-0.3, -0.16, -0.159, -1e-4, 1e-4, 0.159, 0.16, 0.7, 1.5])
    np.testing.assert_allclose(wnp.sinc(x), np.sinc(x), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(wg.jit(wnp.sinc)(x), np.sinc(x), rtol=1e-14, atol=1e-15)
    all_modes(wnp.sinc, (x,), tol=1e-6)
    d2 = wg.vmap(wg.grad(wg.grad(wnp.sinc)))(x)
    d2_fd = np.array([(np.sinc(v + 1e-4) - 2 * np.sinc(v) + np.sinc(v - 1e-4)) / 1e-8 for v in x])
    np.testing.assert_allclose(d2, d2_fd, atol=1e-5)
    # third derivative, forward over reverse
    check_grads(lambda x: wg.grad(lambda y: wnp.sum(wnp.sinc(y)))(x), (x,), order=2, tol=1e-5)


# --- .item() and friends on traced values -----------------------------------------------


@pytest.mark.parametrize("conv", [lambda x: x.item(), lambda x: x.tolist(), int, float, complex,
                                  lambda x: x.item(0)])
def test_python_number_of_a_traced_value_raises(conv):
    x = np.array([[1.5]])
    for transform in (lambda f: wg.grad(lambda x: wnp.sum(f(x) * x)),
                      lambda f: wg.jacfwd(lambda x: f(x) * x),
                      lambda f: wg.jit(lambda x: f(x) * x),
                      lambda f: wg.vmap(lambda x: f(x) * x)):
        with pytest.raises(TypeError):
            transform(lambda x: conv(x.reshape(-1)[0]))(x)
    with pytest.raises(TypeError, match=r"\.item\(\).*would drop its derivative.*stop_gradient"):
        wg.grad(lambda x: x.item() * x)(1.0)


def test_item_still_works_on_concrete_values_and_after_stop_gradient():
    assert np.array([2.5]).item() == 2.5
    g = wg.grad(lambda x: wg.stop_gradient(x).item() * x)(3.0)
    assert g == 3.0
    # bool() of a differentiated value is Python control flow, which carries no derivative
    assert wg.grad(lambda x: x * x if x > 0 else -x)(2.0) == 4.0


# --- std / var where they are constant or not differentiable ---------------------------


@pytest.mark.parametrize("kw,shape", [({}, (1,)), ({}, ()), ({"axis": 1}, (3, 1)), ({"axis": (0, 2)}, (1, 2, 1)),
                                      ({"axis": 0, "keepdims": True}, (1, 3))])
def test_std_var_of_one_element_have_zero_derivatives(kw, shape):
    x = np.random.default_rng(0).uniform(1, 2, shape)
    for fn in (wnp.std, wnp.var):
        all_modes(lambda x: fn(x, **kw), (x,), grads=(np.zeros(shape),), hess=np.zeros(shape * 2), fd=False)
        np.testing.assert_allclose(fn(x, **kw), getattr(np, fn.__name__)(x, **kw))


def test_std_where_the_variance_is_zero_has_derivative_zero_in_every_mode():
    # the cone's tip: 0 (a subgradient, as linalg.norm at 0), never nan or inf in any mode
    x = np.full(3, 2.0)
    _assert_all(_every_grad(lambda x: wnp.std(x), (x,)), np.zeros(3), "std at equal values")
    _assert_all(_every_grad(lambda x: wnp.sum(wnp.std(np.ones((2, 1)) * x, axis=1)), (x,)), np.zeros(3),
                "std along an axis at equal values")
    _assert_all(_every_grad(lambda x: wnp.nanstd(x), (x,)), np.zeros(3), "nanstd at equal values")
    _assert_all(_every_grad(lambda x: wnp.var(x), (x,)), np.zeros(3), "var at equal values")
    # values equal by construction (fuzz finding F5): the function is constant, FD agrees
    x1 = np.array([1.3])
    all_modes(lambda x: wnp.concatenate((x, x, x)).std(axis=0, keepdims=True), (x1,), fd=True)
    all_modes(lambda x: wnp.std(wnp.max(x, axis=1)[:, None], axis=1), (np.array([[0.5], [1.5]]),))
    # and std elsewhere is its derivative
    all_modes(lambda x: wnp.std(x, axis=0, ddof=1), (np.random.default_rng(1).uniform(0, 2, (4, 2)),))


# --- lists and tuples of traced values, as NumPy takes them ----------------------------


def _pair(f):
    return lambda a, b: f([a, b])


def _special():
    from wengert.scipy import special
    return special


LIST_CALLS = {
    "mean": wnp.mean, "std": wnp.std, "var": lambda v: wnp.var(v, ddof=1), "norm": wnp.linalg.norm,
    "sum": wnp.sum, "prod": wnp.prod, "max": wnp.max, "min": wnp.min, "median": wnp.median,
    "ptp": wnp.ptp, "nansum": wnp.nansum, "nanmean": wnp.nanmean, "average": wnp.average,
    "amax": wnp.amax, "quantile": lambda v: wnp.quantile(v, 0.3), "percentile": lambda v: wnp.percentile(v, 30),
    "cumsum": lambda v: wnp.cumsum(v), "cumprod": lambda v: wnp.cumprod(v), "sort": wnp.sort,
    "dot": lambda v: wnp.dot(v, v), "matmul": lambda v: wnp.matmul(v, v), "inner": lambda v: wnp.inner(v, v),
    "vdot": lambda v: wnp.vdot(v, v), "outer": lambda v: wnp.outer(v, v), "kron": lambda v: wnp.kron(v, v),
    "cross": lambda v: wnp.cross(v, [1.0, 3.0]), "einsum": lambda v: wnp.einsum("i,i", v, v),
    "tensordot": lambda v: wnp.tensordot(v, v, 1),
    "sin": wnp.sin, "exp": wnp.exp, "square": wnp.square, "sqrt": wnp.sqrt, "abs": wnp.abs,
    "real": wnp.real, "conj": wnp.conj, "reciprocal": wnp.reciprocal, "sinc": wnp.sinc,
    "deg2rad": wnp.deg2rad, "power": lambda v: wnp.power(v, 1.5), "rpower": lambda v: wnp.power(1.5, v),
    "maximum": lambda v: wnp.maximum(v, 1.5), "fmax": lambda v: wnp.fmax(v, 1.5),
    "arctan2": lambda v: wnp.arctan2(v, 2.0), "clip": lambda v: wnp.clip(v, 0.0, 1.5),
    "where": lambda v: wnp.where([True, False], v, 0.0), "float_power": lambda v: wnp.float_power(v, 2.0),
    "copysign": lambda v: wnp.copysign(v, -1.0),
    "reshape": lambda v: wnp.reshape(v, (2, 1)), "ravel": wnp.ravel, "transpose": lambda v: wnp.transpose([v]),
    "expand_dims": lambda v: wnp.expand_dims(v, 0), "squeeze": lambda v: wnp.squeeze([v]),
    "tile": lambda v: wnp.tile(v, 2), "flip": wnp.flip, "roll": lambda v: wnp.roll(v, 1),
    "repeat": lambda v: wnp.repeat(v, 2), "pad": lambda v: wnp.pad(v, 1), "diag": wnp.diag,
    "concatenate": lambda v: wnp.concatenate([v, [v[0]]]), "stack": lambda v: wnp.stack([v, v]),
    "hstack": lambda v: wnp.hstack([v, [v[1]]]), "atleast_2d": wnp.atleast_2d,
    "array": wnp.array, "asarray": wnp.asarray, "take": lambda v: wnp.take(v, [1, 0, 1]),
    "diff": wnp.diff, "trapezoid": wnp.trapezoid, "interp": lambda v: wnp.interp(0.5, [0.0, 1.0], v),
    "polyval": lambda v: wnp.polyval(v, 2.0), "convolve": lambda v: wnp.convolve(v, [1.0, 2.0]),
    "append": lambda v: wnp.append(v, 1.0), "cov": lambda v: wnp.cov([v, [v[1], 3.0 * v[0]]]),
    "full_like": lambda v: wnp.full_like([1.0, 2.0], v[0]),
    "det": lambda v: wnp.linalg.det([v, [v[1], 3 * v[0]]]), "inv": lambda v: wnp.linalg.inv([v, [v[1], 3 * v[0]]]),
    "eigvalsh": lambda v: wnp.linalg.eigvalsh([v, [v[1], 3 * v[0]]]),
    "solve": lambda v: wnp.linalg.solve([[2.0, 1.0], [1.0, 3.0]], v),
    "solve-a": lambda v: wnp.linalg.solve([v, [v[1], 3 * v[0]]], [1.0, 2.0]),
    "fft": lambda v: wnp.abs(wnp.fft.fft(v)), "rfft": lambda v: wnp.real(wnp.fft.rfft(v)),
    "fftshift": wnp.fft.fftshift, "erf": lambda v: _special().erf(v),
    "logsumexp": lambda v: _special().logsumexp(v), "xlogy": lambda v: _special().xlogy(v, 2.0),
    "multi_dot": lambda v: wnp.linalg.multi_dot([v, [[1.0, 2.0], [v[1], 3.0]], v]),
    "select": lambda v: wnp.select([[True, False], [False, True]], [v, [v[1], 2.0 * v[0]]]),
    "choose": lambda v: wnp.choose([1, 0], [v, [v[1], 2.0 * v[0]]]),
    "broadcast_arrays": lambda v: wnp.broadcast_arrays(v, [[1.0], [v[0]]])[1],
    "tuple": lambda v: wnp.mean(tuple(v)), "nested": lambda v: wnp.sum([[v[0], 2.0], [v[1], v[0] * v[1]]]),
}


@pytest.mark.parametrize("name", sorted(LIST_CALLS))
def test_a_list_of_traced_values_is_an_array(name):
    f = LIST_CALLS[name]
    x = np.array([0.7, 1.3])
    want = np.asarray(f(list(x)))
    np.testing.assert_allclose(np.asarray(f(x)), want, rtol=1e-12)

    def g(a, b):
        return wnp.sum(wnp.real(f([a, b])) * np.arange(1.0, 1.0 + want.size).reshape(want.shape))

    def h(x):
        return g(x[0], x[1])
    gw = wg.grad(h)(x)
    for got in (wg.grad(g, argnums=(0, 1))(*x), wg.jacfwd(g, argnums=(0, 1))(*x),
                wg.jit(wg.grad(g, argnums=(0, 1)))(*x)):
        np.testing.assert_allclose(np.asarray(got, dtype=float), gw, rtol=1e-10, atol=1e-12)
    check_grads(lambda x: f([x[0], x[1]]), (x,), order=1, tol=1e-6)


# --- reshape / ravel / flatten with order --------------------------------------------


@pytest.mark.parametrize("order", ["C", "F", "A"])
@pytest.mark.parametrize("call,tensor", [
    (lambda x, o: wnp.reshape(x, (4, 6), order=o), True), (lambda x, o: x.reshape((3, 8), order=o), False),
    (lambda x, o: x.reshape(6, -1, order=o), False), (lambda x, o: wnp.ravel(x, o), True),
    (lambda x, o: x.ravel(order=o), False), (lambda x, o: x.flatten(o), False),
    (lambda x, o: x.flatten(order=o), False),
])
def test_reshape_orders_in_every_mode(call, tensor, order):
    # (a Tensor's own reshape/flatten follow PyTorch, without order=: only wnp's functions take it)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4))
    want = call(x, order)
    np.testing.assert_array_equal(wg.jit(lambda x: call(x, order))(x), want)
    np.testing.assert_array_equal(wg.jit(lambda x: call(x, order))(x), want)
    np.testing.assert_array_equal(wg.vmap(lambda x: call(x, order))(np.stack([x, x]))[1], want)
    all_modes(lambda x: call(x, order), (x,), order=1, tensor=tensor)


def test_order_a_and_k_follow_the_concrete_layout():
    x = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    s = np.arange(24.0).reshape(2, 3, 4)[:, ::2].transpose(2, 0, 1)  # strided
    for a, order in ((x, "A"), (x, "K"), (s, "K"), (s, "A")):
        want = np.ravel(a, order=order)
        for got in (wg.jvp(lambda v: wnp.ravel(v, order), (a,), (a,))[1],
                    wg.jvp(lambda v: v.ravel(order), (a,), (a,))[0]):
            np.testing.assert_array_equal(got, want)
        g = wg.grad(lambda v: wnp.sum(wnp.ravel(v, order) * np.arange(a.size)))(a)
        where = {v: i for i, v in enumerate(want)}  # the elements are distinct
        np.testing.assert_array_equal(g, np.vectorize(where.get)(a))
    np.testing.assert_array_equal(wg.jvp(lambda v: wnp.reshape(v, (4, 3), order="A"), (x,), (x,))[1],
                                  np.reshape(x, (4, 3), order="A"))
    # under jit there is no concrete array: 'A' and 'K' mean 'C' (documented)
    np.testing.assert_array_equal(wg.jit(lambda v: wnp.ravel(v, "A"))(x), np.ravel(x, "C"))
    with pytest.raises(ValueError, match="order"):
        wg.grad(lambda v: wnp.sum(wnp.reshape(v, (12,), order="K")))(x)
    with pytest.raises(ValueError, match="order"):
        wg.grad(lambda v: wnp.sum(wnp.ravel(v, "Q")))(x)


# --- partition / argpartition with several kth ---------------------------------------


@pytest.mark.parametrize("kth,axis", [([1, 3], -1), ((0, -1), 0), ([2, 5, 7], None), (np.array([1, 2]), 1),
                                      (2, -1)])
def test_partition_with_several_kth(kth, axis):
    rng = np.random.default_rng(3)
    x = (rng.permutation(12) + rng.uniform(0, 0.5, 12)).reshape(3, 4)

    def f(x):
        return wnp.partition(x, kth, axis=axis)
    np.testing.assert_array_equal(f(x), np.partition(x, kth, axis=axis))
    all_modes(f, (x,), vmap=False, jit=False)  # FD of NumPy's own partition, every eager mode
    xs = np.stack([x, x[::-1], x * 2])
    np.testing.assert_array_equal(wg.vmap(f)(xs), np.stack([np.partition(v, kth, axis=axis) for v in xs]))
    g = wg.grad(lambda x: wnp.sum(wnp.sin(f(x))))
    np.testing.assert_allclose(wg.vmap(g)(xs), np.stack([g(v) for v in xs]), rtol=1e-12)
    np.testing.assert_array_equal(wg.vmap(lambda v: wnp.argpartition(v, kth, axis=axis))(xs),
                                  np.stack([np.argpartition(v, kth, axis=axis) for v in xs]))
    # staged like sort (argpartition primitive + gather): NumPy's own result at every call (issue 10, G1)
    jf, jg = wg.jit(f), wg.jit(g)
    for v in (x, x, x[::-1].copy(), x * 2):
        np.testing.assert_array_equal(jf(v), np.partition(v, kth, axis=axis))
        np.testing.assert_allclose(jg(v), g(v), rtol=1e-13)


def test_hypot_at_the_origin_has_derivative_zero_in_every_mode():
    # fuzz finding F3: t * x / hypot was 0/0 = nan at (0, 0), even for a zero tangent
    x = np.array([0.0, 0.6, -1.2])
    y = np.array([0.0, 0.8, 0.5])
    h = np.hypot(x, y)
    safe = np.where(h == 0, 1.0, h)
    all_modes(wnp.hypot, (x, y), grads=(x / safe, y / safe), fd=False, order=1)
    f = lambda x0: x0 + wnp.sum(wnp.hypot(wnp.pad(x0, ((1, 0), (0, 1))), wnp.pad(x0, ((1, 0), (0, 1))))) * 0.5  # noqa: E731
    all_modes(f, (np.array([[-1.2, 1.0], [1.1, -1.3]]),), order=1)


@pytest.mark.parametrize("x,y,dx,dy", POW_POINTS)
def test_pow_rule_of_generated_source_is_the_same(x, y, dx, dy):
    from wengert import source

    def f(x, y):
        return x ** y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, got = source.grad(f)(np.float64(x), np.float64(y))
    np.testing.assert_allclose(np.asarray(got, dtype=float), [dx, dy], rtol=1e-12, atol=1e-12, equal_nan=True)


def test_pow_jacobians_keep_a_nan_partial_in_its_own_entry():
    # elementwise x**y with one negative base: d/dy is nan there only; the other entries of
    # the Jacobian are exact zeros in jacfwd, jacrev, jit and vmap (mul_safe: 0 * nan = 0)
    x, y = np.array([-2.0, 1.5]), np.array([2.0, 1.0])
    want_x = np.diag(y * x ** (y - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want_y = np.diag(np.log(x) * x ** y)
        f = lambda x, y: x ** y  # noqa: E731
        for jac in (wg.jacfwd(f, argnums=(0, 1)), wg.jacrev(f, argnums=(0, 1)),
                    wg.jit(wg.jacrev(f, argnums=(0, 1))), wg.jit(wg.jacfwd(f, argnums=(0, 1)))):
            for _ in range(2):
                jx, jy = jac(x, y)
                np.testing.assert_array_equal(jx, want_x)
                np.testing.assert_array_equal(jy, want_y)
        jx, jy = wg.vmap(wg.jacrev(f, argnums=(0, 1)))(np.stack([x, x]), np.stack([y, y]))
        np.testing.assert_array_equal(jy[1], want_y)


def test_argsort_ties_are_numpys_in_every_mode():
    # fuzz finding F6: the primitive sorted stably, eager NumPy with its default kind
    b = np.array([0.9, 0.5, -0.2])
    f = lambda x: wnp.take_along_axis(wnp.cumsum(wnp.tile(x, (2,))), wnp.argsort(wnp.tile(x, (2,))), axis=0)  # noqa: E731
    j = wg.jit(f)
    for _ in range(3):
        np.testing.assert_array_equal(j(b), f(b))
    x = np.random.default_rng(0).integers(0, 5, (4, 40)).astype(float)
    for kind in (None, "stable", "quicksort"):
        want = np.argsort(x, axis=-1, kind=kind)
        np.testing.assert_array_equal(wg.vmap(lambda v: wnp.argsort(v, kind=kind))(x), want)
        jj = wg.jit(lambda v: wnp.argsort(v, kind=kind))
        np.testing.assert_array_equal(jj(x), want)
        np.testing.assert_array_equal(jj(x), want)
        np.testing.assert_array_equal(wg.jvp(lambda v: wnp.sort(v, kind=kind), (x,), (x,))[1],
                                      np.take_along_axis(x, want, -1))


@pytest.mark.parametrize("decimals", [1, 2, -1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_with_decimals_under_vmap_and_jit(decimals, dtype):
    # fuzz finding F4 (its vmap part): round(x, d) needed a concrete value
    x = (np.random.default_rng(0).standard_normal((3, 50)) * 100).astype(dtype)
    want = np.round(x, decimals)
    for got in (wg.vmap(lambda v: wnp.round(v, decimals))(x), wg.jit(lambda v: wnp.round(v, decimals))(x),
                wg.jit(lambda v: wnp.round(v, decimals))(x), wg.jvp(lambda v: wnp.round(v, decimals), (x,), (x,))[0]):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    # zero derivative in every mode, also through a loop under jacfwd
    x = np.array([0.3, -1.0, 2.0])
    f = lambda x: wnp.round(wg.fori_loop(0, 2, lambda i, c: wnp.sin(c), x), 1) * x  # noqa: E731
    np.testing.assert_allclose(wg.jacfwd(f)(x), wg.jacrev(f)(x))
    np.testing.assert_allclose(wg.jacfwd(f)(x), np.diag(np.round(np.sin(np.sin(x)), 1)))


def test_arctan2_at_the_origin_has_derivative_zero_in_every_mode():
    # fuzz finding F7: (x dy - y dx) / (x² + y²) was 0/0 = nan at (0, 0), even for zero tangents
    y = np.array([0.0, 0.6, -1.2])
    x = np.array([0.0, 0.8, 0.5])
    r2 = x * x + y * y
    safe = np.where(r2 == 0, 1.0, r2)
    all_modes(wnp.arctan2, (y, x), grads=(x / safe, -y / safe), fd=False, order=1)
    f = lambda x0: wnp.arctan2(x0 - x0, wnp.ptp(x0.reshape(-1, 1), axis=1)) + x0  # noqa: E731
    all_modes(f, (np.array([0.5, 1.0]),), grads=(np.ones(2),), fd=False, order=1)
