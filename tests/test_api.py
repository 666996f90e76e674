"""The transformations' contract: worked examples, nesting, pytrees, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

# --- the worked examples everyone learns from ------------------------------------


def test_x2y_plus_y_plus_2():
    f = lambda x, y: x ** 2 * y + y + 2
    v, g = wg.value_and_grad(f, argnums=(0, 1))(3.0, 4.0)
    assert v == 42.0
    assert (float(g[0]), float(g[1])) == (24.0, 10.0)
    _, t = wg.jvp(f, (3.0, 4.0), (1.0, 0.0))
    assert t == 24.0
    _, t = wg.jvp(f, (3.0, 4.0), (0.0, 1.0))
    assert t == 10.0


def test_exp_x_squared_both_modes():
    f = lambda x: wnp.exp(x ** 2)
    want = 4 * np.exp(4.0)
    assert np.isclose(wg.grad(f)(2.0), want, rtol=1e-15)
    assert np.isclose(wg.jvp(f, (2.0,), (1.0,))[1], want, rtol=1e-15)
    assert np.isclose(wg.jacfwd(f)(2.0), want, rtol=1e-15)


def test_polynomial_derivatives_to_third_order():
    # f = x⁴+3x²+2x at 2: f = 32, f′ = 4x³+6x+2 = 46, f″ = 12x²+6 = 54, f‴ = 24x = 48
    f = lambda x: x ** 4 + 3 * x ** 2 + 2 * x
    assert f(2.0) == 32.0
    assert wg.grad(f)(2.0) == 46.0
    assert wg.grad(wg.grad(f))(2.0) == 54.0
    assert wg.grad(wg.grad(wg.grad(f)))(2.0) == 48.0
    # every fwd/rev combination of the second derivative
    d_fwd = lambda x: wg.jvp(f, (x,), (1.0,))[1]
    assert wg.jvp(d_fwd, (2.0,), (1.0,))[1] == 54.0
    assert wg.grad(d_fwd)(2.0) == 54.0
    assert wg.jvp(wg.grad(f), (2.0,), (1.0,))[1] == 54.0
    assert wg.hessian(f)(2.0) == 54.0


def test_sin_xy_plus_cos_xy():
    f = lambda x, y: wnp.sin(x * y) + wnp.cos(x * y)
    x, y = 2.0, 3.0
    c, s = np.cos(x * y), np.sin(x * y)
    gx, gy = wg.grad(f, argnums=(0, 1))(x, y)
    assert np.isclose(gx, y * (c - s)) and np.isclose(gy, x * (c - s))
    assert np.isclose(f(x, y), s + c)


def test_vjp_and_jvp_of_x_to_powers():
    f = lambda x: wnp.stack([x ** 2, x ** 3])
    out, f_vjp = wg.vjp(f, 2.0)
    np.testing.assert_array_equal(out, [4.0, 8.0])
    (g,) = f_vjp(np.array([1.0, 1.0]))
    assert g == 16.0
    np.testing.assert_array_equal(wg.jvp(f, (2.0,), (1.0,))[1], [4.0, 12.0])


def test_jacobians_of_wide_and_tall_functions_agree():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    f = lambda x: wnp.sum(wnp.sin(x) * x)  # R^1000 -> R
    g = lambda t: wnp.sin(t * np.arange(1000.0))  # R -> R^1000
    jf, jr = wg.jacfwd(f)(x), wg.jacrev(f)(x)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jr, np.cos(x) * x + np.sin(x), rtol=1e-12)
    t = 0.3
    gf, gr = wg.jacfwd(g)(t), wg.jacrev(g)(t)
    assert gf.shape == gr.shape == (1000,)
    np.testing.assert_allclose(gf, gr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gf, np.cos(t * np.arange(1000.0)) * np.arange(1000.0), rtol=1e-12)


def test_jacobian_shapes_and_chunks():
    f = lambda x: wnp.outer(x, x[:2])
    x = np.arange(3.0) + 1
    jf = wg.jacfwd(f)(x)
    jr = wg.jacrev(f)(x)
    assert jf.shape == jr.shape == (3, 2, 3)
    np.testing.assert_allclose(jf, jr)
    np.testing.assert_allclose(wg.jacfwd(f, chunk_size=2)(x), jf)
    np.testing.assert_allclose(wg.jacrev(f, chunk_size=1)(x), jf)


def test_hessian_matches_analytic():
    A = np.random.default_rng(1).standard_normal((4, 4))
    f = lambda x: x @ A @ x + wnp.sum(x ** 3)
    x = np.array([0.5, -1.0, 2.0, 0.1])
    np.testing.assert_allclose(wg.hessian(f)(x), A + A.T + np.diag(6 * x), rtol=1e-12)
    np.testing.assert_allclose(wg.jacfwd(wg.jacrev(f))(x), wg.jacrev(wg.jacfwd(f))(x), rtol=1e-12)


# --- nesting: the Siskind–Pearlmutter test ---------------------------------------

_D = {
    "rev": lambda f: wg.grad(f),
    "fwd": lambda f: (lambda x: wg.jvp(f, (x,), (1.0,))[1]),
}


@pytest.mark.parametrize("outer", ["rev", "fwd"])
@pytest.mark.parametrize("inner", ["rev", "fwd"])
@pytest.mark.parametrize("x", [0.5, 1.0, 3.0])
def test_siskind_pearlmutter(outer, inner, x):
    # d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1, at any x: no perturbation confusion
    f = lambda x: x * _D[inner](lambda y: x + y)(1.0)
    assert _D[outer](f)(x) == 1.0
    # the variant d/dx [x · d/dy (x·y)] = d/dx [x²] = 2x
    h = lambda x: x * _D[inner](lambda y: x * y)(1.0)
    assert _D[outer](h)(x) == 2 * x


@pytest.mark.parametrize("outer", ["rev", "fwd"])
@pytest.mark.parametrize("inner", ["rev", "fwd"])
def test_siskind_pearlmutter_mutated_closure(outer, inner):
    state = {"x": None}

    def inner_fn(y):
        return state["x"] + y

    def f(x):
        state["x"] = x  # the inner function closes over a mutated variable
        return x * _D[inner](inner_fn)(1.0)

    assert _D[outer](f)(2.0) == 1.0


def test_jvp_of_grad_and_grad_of_jvp():
    f = lambda x: wnp.sin(x) * x
    x = 0.7
    d2 = 2 * np.cos(x) - x * np.sin(x)
    assert np.isclose(wg.jvp(wg.grad(f), (x,), (1.0,))[1], d2)
    assert np.isclose(wg.grad(lambda x: wg.jvp(f, (x,), (1.0,))[1])(x), d2)


# --- pytrees, argnums, has_aux ----------------------------------------------------


def _mlp(params, x):
    for W, b in params:
        x = wnp.tanh(x @ W + b)
    return wnp.sum(x ** 2)


def test_pytree_params_equal_separate_arguments():
    rng = np.random.default_rng(0)
    W1, b1, W2, b2 = (rng.standard_normal(s) for s in [(3, 4), (4,), (4, 2), (2,)])
    x = rng.standard_normal((5, 3))
    g_list = wg.grad(_mlp)([(W1, b1), (W2, b2)], x)
    sep = lambda W1, b1, W2, b2, x: _mlp([(W1, b1), (W2, b2)], x)
    g_sep = wg.grad(sep, argnums=(0, 1, 2, 3))(W1, b1, W2, b2, x)
    assert isinstance(g_list, list) and isinstance(g_list[0], tuple)
    for a, b in zip([g_list[0][0], g_list[0][1], g_list[1][0], g_list[1][1]], g_sep):
        np.testing.assert_array_equal(a, b)
    d = {"w": W1, "b": b1}
    gd = wg.grad(lambda p: wnp.sum(wnp.tanh(x @ p["w"] + p["b"])))(d)
    assert set(gd) == {"w", "b"} and gd["w"].shape == (3, 4)


def test_argnums_and_has_aux():
    f = lambda x, y, z: (x * y * z, {"aux": x + 1})
    (g, aux) = wg.grad(f, argnums=(0, 2), has_aux=True)(2.0, 3.0, 4.0)
    assert g == (12.0, 6.0)
    assert aux["aux"] == 3.0 and not isinstance(aux["aux"], wg._core.Tracer)
    (v, aux2), g2 = wg.value_and_grad(f, argnums=1, has_aux=True)(2.0, 3.0, 4.0)
    assert v == 24.0 and g2 == 8.0 and aux2["aux"] == 3.0
    assert wg.grad(lambda x, y: x * y, argnums=-1)(2.0, 5.0) == 2.0


def test_results_are_numpy_values():
    g = wg.grad(lambda x: wnp.sum(x * x))(np.ones(3))
    assert type(g) is np.ndarray
    s = wg.grad(lambda x: x * x)(3.0)
    assert isinstance(s, np.floating)
    assert type(wnp.sin(np.ones(2))) is np.ndarray
    out = wg.jacfwd(lambda x: x * 2)(np.ones(2))
    assert type(out) is np.ndarray


def test_float32_stays_float32():
    x = np.ones(3, dtype=np.float32)
    g = wg.grad(lambda x: wnp.sum(wnp.tanh(x) * 2.0))(x)
    assert g.dtype == np.float32
    t = wg.jvp(lambda x: wnp.sin(x) * 0.5, (x,), (x,))[1]
    assert t.dtype == np.float32
    assert wnp.sum(x * 2.0).dtype == np.float32


def test_constant_output_gives_zero_gradient():
    g = wg.grad(lambda x: 3.0)(np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(2))
    g = wg.grad(lambda x, y: wnp.sum(y), argnums=0)(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(g, np.zeros(2))


def test_linearize_matches_jvp():
    f = lambda x: wnp.sin(x) * wnp.exp(x)
    x = np.array([0.1, 0.5])
    y, f_jvp = wg.linearize(f, x)
    np.testing.assert_allclose(y, f(x))
    for t in (np.array([1.0, 0.0]), np.array([0.3, -2.0])):
        np.testing.assert_allclose(f_jvp(t), wg.jvp(f, (x,), (t,))[1], rtol=1e-14)


def test_stop_gradient():
    assert wg.grad(lambda x: x * wg.stop_gradient(x))(3.0) == 3.0
    assert wg.grad(lambda x: wnp.stop_gradient(x) ** 2 + x)(3.0) == 1.0


def test_kinks_follow_conventions():
    assert wg.grad(wnp.abs)(0.0) == 0.0
    assert wg.grad(lambda x: wnp.maximum(x, 0.0))(0.0) == 0.5
    assert wg.grad(lambda x: wnp.max(x))(np.array([1.0, 1.0]))[0] == 0.5
    np.testing.assert_array_equal(wg.grad(lambda x: wnp.min(x))(np.array([2.0, 1.0, 1.0])), [0, 0.5, 0.5])
    with np.errstate(divide="ignore"):
        assert np.isinf(wg.grad(wnp.sqrt)(0.0))


def test_where_nan_trap_is_documented():
    # the cotangent of the branch not taken is zero, but sqrt's own rule makes 0·inf = nan
    with np.errstate(divide="ignore", invalid="ignore"):
        g = wg.grad(lambda x: wnp.where(x > 0, wnp.sqrt(x), 0.0))(0.0)
    assert np.isnan(g)
    safe = lambda x: wnp.where(x > 0, wnp.sqrt(wnp.where(x > 0, x, 1.0)), 0.0)
    assert wg.grad(safe)(0.0) == 0.0
    assert "untaken" in wnp.where.__doc__ or "not taken" in wnp.where.__doc__


# --- deep graphs ----------------------------------------------------------------------


def test_deep_chain_is_iterative():
    def chain(x):
        for _ in range(100_000):
            x = x * 1.0000001
        return x
    g = wg.grad(chain)(1.0)
    assert np.isclose(g, 1.0000001 ** 100_000, rtol=1e-9)


def test_reused_nodes_accumulate_once():
    def f(x):
        y = wnp.sin(x)
        z = y * y + y  # y used three times
        return z + z
    x = 0.3
    want = 2 * (2 * np.sin(x) * np.cos(x) + np.cos(x))
    assert np.isclose(wg.grad(f)(x), want, rtol=1e-15)
    # a diamond repeated: 2^k paths but linear work and the right count
    def diamond(x):
        for _ in range(50):
            x = (x * 0.5) + (x * 0.5)
        return x
    assert wg.grad(diamond)(1.0) == 1.0


# --- threads -----------------------------------------------------------------------------


def test_threads_do_not_interfere():
    results = {}

    def work(k):
        f = lambda x: wnp.sum(wnp.sin(x) * k)
        x = np.linspace(0, 1, 50)
        for _ in range(30):
            g = wg.grad(f)(x)
        results[k] = np.allclose(g, k * np.cos(x))

    threads = [threading.Thread(target=work, args=(k,)) for k in (1.0, 2.0, 3.0, 4.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {1.0: True, 2.0: True, 3.0: True, 4.0: True}


def test_leaked_tracer_raises():
    box = []

    def f(x):
        box.append(x)
        return x * 2

    wg.grad(f)(1.0)
    with pytest.raises(wg.LeakedTracerError, match="finished transformation"):
        box[0] * 3.0


# --- bad input ----------------------------------------------------------------------------


def test_grad_of_non_scalar_names_shape():
    with pytest.raises(TypeError, match=r"scalar output.*shape \(3,\)"):
        wg.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(TypeError, match=r"shape \(1,\)"):
        wg.grad(lambda x: wnp.sum(x, keepdims=True))(np.ones(3))


def test_grad_of_integer_input_suggests_float():
    with pytest.raises(TypeError, match=r"int.*3\.0"):
        wg.grad(lambda x: x * x)(3)
    with pytest.raises(TypeError, match="floating"):
        wg.grad(lambda x: wnp.sum(x))(np.arange(3))


def test_unsupported_numpy_function():
    with pytest.raises(NotImplementedError, match="histogramdd"):
        wnp.histogramdd  # noqa: B018
    with pytest.raises(AttributeError):
        wnp.not_a_numpy_function  # noqa: B018


def test_inplace_assignment_into_traced_array():
    def f(x):
        x[0] = 1.0
        return wnp.sum(x)
    with pytest.raises(TypeError, match="in-place"):
        wg.grad(f)(np.ones(3))

    def g(x):
        return wnp.sum(np.asarray(x))  # converting a traced value to a NumPy array
    with pytest.raises(TypeError, match="derivative would be lost"):
        wg.grad(g)(np.ones(2))


def test_wrong_argnums():
    with pytest.raises(ValueError, match=r"argnums=2.*2 positional arguments"):
        wg.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with pytest.raises(TypeError, match="argnums must be"):
        wg.grad(lambda x: x, argnums="0")(1.0)


def test_user_inputs_not_mutated():
    x = np.array([1.0, 2.0])
    params = {"w": x}
    wg.grad(lambda p: wnp.sum(p["w"] ** 2))(params)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert params["w"] is x


def test_jvp_input_errors():
    with pytest.raises(ValueError, match="tangent of shape"):
        wg.jvp(wnp.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="tuples"):
        wg.jvp(wnp.sin, np.ones(3), np.ones(3))


def _count_calls(fn):
    import sys
    n = [0]

    def prof(frame, event, arg):
        if event in ("call", "c_call"):
            n[0] += 1

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return n[0]


def test_pytree_parameters_cost_nothing_extra():
    """Weights passed as a list or dict of arrays cost what separate arguments
    cost, up to a few calls per leaf (counted deterministically, not timed;
    the timing lives in the benchmarks)."""
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((8, 8)) * 0.3 for _ in range(6)]
    x = rng.standard_normal((4, 8))

    def body(ws):
        h = x
        for W in ws:
            h = wnp.tanh(h @ W)
        return wnp.sum(h * h)

    as_list = lambda: wg.grad(lambda ws: body(ws))(Ws)
    as_dict = lambda: wg.grad(lambda d: body([d[k] for k in sorted(d)]))({f"w{i}": W for i, W in enumerate(Ws)})
    separate = lambda: wg.grad(lambda *ws: body(ws), argnums=tuple(range(6)))(*Ws)
    base = _count_calls(separate)
    assert _count_calls(as_list) <= 1.1 * base
    assert _count_calls(as_dict) <= 1.1 * base


@pytest.mark.parametrize("op", ["mul", "rmul", "div", "rdiv"])
def test_forward_mode_of_scalar_times_array_broadcasts_tangents(op):
    # forward mode over concrete values leaves the broadcast of a scalar to NumPy
    c = np.linspace(0.5, 2.0, 4)
    f = {"mul": lambda t: c * t, "rmul": lambda t: t * c,
         "div": lambda t: c / t, "rdiv": lambda t: t / c}[op]
    want = {"mul": c, "rmul": c, "div": -c / 0.7 ** 2, "rdiv": 1 / c}[op]
    y, t = wg.jvp(lambda s: wnp.sin(f(s)), (0.7,), (1.0,))
    np.testing.assert_allclose(t, np.cos(f(0.7)) * want, rtol=1e-13)
    assert np.shape(t) == (4,)
    np.testing.assert_allclose(wg.jacfwd(f)(0.7), want, rtol=1e-13)
    # the same under reverse mode and nested in it: the tangents are traced, so broadcast
    np.testing.assert_allclose(wg.jacrev(f)(0.7), want, rtol=1e-13)
    np.testing.assert_allclose(wg.grad(lambda s: wnp.sum(wg.jacfwd(f)(s)))(0.7),
                               wg.grad(lambda s: wnp.sum(wg.jacrev(f)(s)))(0.7), rtol=1e-12)


def test_gradients_are_fresh_writeable_arrays():
    # a sweep can leave a read-only broadcast view (the cotangent of a sum),
    # or one array for several inputs (x + y): results are separate arrays
    g = wg.grad(lambda x: wnp.sum(x))(np.ones(3))
    assert g.flags.writeable
    g *= 2.0
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])
    gx, gy = wg.grad(lambda x, y: wnp.sum(x + y), argnums=(0, 1))(np.ones(3), np.ones(3))
    assert gx is not gy and gx.flags.writeable and gy.flags.writeable
    gx[0] = 5.0
    np.testing.assert_array_equal(gy, [1.0, 1.0, 1.0])
    (cx,) = wg.vjp(lambda x: wnp.sum(x), np.ones(2))[1](np.float64(1.0))
    assert cx.flags.writeable
    J = wg.jacrev(lambda x: wnp.sum(x))(np.ones(2))
    assert J.flags.writeable
    # forward mode and vmap hand out broadcasts as writeable arrays too
    J = wg.jacfwd(lambda t: wnp.broadcast_to(t, (3,)))(1.0)
    assert J.flags.writeable
    np.testing.assert_array_equal(J, [1.0, 1.0, 1.0])
    v = wg.vmap(wg.grad(lambda x: wnp.sum(x)))(np.ones((2, 3)))
    assert v.flags.writeable
    np.testing.assert_array_equal(v, np.ones((2, 3)))
