"""wg.jit: caching per signature, static arguments, errors, generated source,
optimisations and composition with the other transformations."""

from __future__ import annotations

import ast

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._ir import ConcretizationError, TracerBoolError
from wengert._jit import optimize


def f1(x, y):
    return x * x * y + y + 2


# --- caching ---------------------------------------------------------------------


def test_w1_values_and_no_retrace():
    df = wg.jit(wg.grad(f1, argnums=(0, 1)))
    gx, gy = df(3.0, 4.0)
    assert (float(gx), float(gy)) == (24.0, 10.0)
    assert isinstance(gx, np.float64)
    assert df.trace_count == 1
    for x, y in [(1.0, 2.0), (5.0, -1.0)]:
        gx, gy = df(x, y)
        assert (float(gx), float(gy)) == (2 * x * y, x * x + 1)
    assert df.trace_count == 1
    assert df._cache_size() == 1


def test_compilation_is_tiered_first_call_traces_second_compiles():
    df = wg.jit(wg.grad(lambda x: wnp.sum(wnp.tanh(x) ** 2)))
    x = np.linspace(-1.0, 1.0, 5)
    want = 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)
    g1 = df(x)  # traced: the values come from the trace
    (entry,) = df._cache.values()
    assert not entry.compiled and not df._fast
    g2 = df(x + 0.5)  # optimised, generated and compiled now
    assert entry.compiled and len(df._fast) == 1
    g3 = df(x)  # the compiled fast path
    np.testing.assert_allclose(g1, want, rtol=1e-13)
    np.testing.assert_allclose(g2, 2 * np.tanh(x + 0.5) * (1 - np.tanh(x + 0.5) ** 2), rtol=1e-13)
    np.testing.assert_allclose(g3, want, rtol=1e-13)
    assert df.trace_count == 1


def test_new_shape_dtype_or_structure_retraces():
    f = wg.jit(lambda x: wnp.sum(wnp.sin(x) * 2.0))
    f(np.ones(3))
    f(np.zeros(3))
    assert f.trace_count == 1
    f(np.ones(4))
    assert f.trace_count == 2
    r = f(np.ones(4, dtype=np.float32))
    assert f.trace_count == 3 and r.dtype == np.float32
    f(np.float64(1.0))
    f(1.0)  # a weak Python float is its own signature
    assert f.trace_count == 5
    f(np.ones(3))
    assert f.trace_count == 5 and f._cache_size() == 5


def test_pytree_arguments_and_results():
    def loss(params, x):
        w, b = params["w"], params["b"]
        y = x @ w + b
        return {"loss": wnp.sum(y * y), "pair": (y, [b])}

    params = {"w": np.arange(6.0).reshape(3, 2), "b": np.array([1.0, -1.0])}
    x = np.ones((4, 3))
    jl = wg.jit(loss)
    got, want = jl(params, x), loss(params, x)
    assert set(got) == {"loss", "pair"} and isinstance(got["pair"][1], list)
    np.testing.assert_allclose(got["loss"], want["loss"])
    np.testing.assert_allclose(got["pair"][0], want["pair"][0])
    jl(params, x)
    assert jl.trace_count == 1
    g = wg.jit(wg.grad(lambda p, x: loss(p, x)["loss"]))(params, x)
    g0 = wg.grad(lambda p, x: loss(p, x)["loss"])(params, x)
    np.testing.assert_allclose(g["w"], g0["w"])
    np.testing.assert_allclose(g["b"], g0["b"])


def test_kwargs_are_traced():
    f = wg.jit(lambda x, scale=1.0: x * scale)
    np.testing.assert_allclose(f(np.ones(2), scale=3.0), [3.0, 3.0])
    np.testing.assert_allclose(f(np.ones(2), scale=4.0), [4.0, 4.0])
    assert f.trace_count == 1


def test_static_argnums():
    calls = []

    def f(x, n, mode):
        calls.append(n)
        for _ in range(n):  # Python control flow on a static value
            x = wnp.sin(x)
        return x * 2.0 if mode == "double" else x

    jf = wg.jit(f, static_argnums=(1, 2))
    np.testing.assert_allclose(jf(0.5, 2, "double"), 2 * np.sin(np.sin(0.5)))
    jf(0.7, 2, "double")
    assert jf.trace_count == 1
    np.testing.assert_allclose(jf(0.5, 3, "plain"), np.sin(np.sin(np.sin(0.5))))
    assert jf.trace_count == 2
    # negative index
    jg = wg.jit(f, static_argnums=(-2, -1))
    np.testing.assert_allclose(jg(0.5, 1, "x"), np.sin(0.5))


def test_static_arg_must_be_hashable():
    jf = wg.jit(lambda x, shape: wnp.reshape(x, shape), static_argnums=1)
    np.testing.assert_allclose(jf(np.arange(6.0), (2, 3)), np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match=r"static argument 1 .*hashable.*list"):
        jf(np.arange(6.0), [2, 3])


def test_non_array_argument_names_static_argnums():
    jf = wg.jit(lambda x, name: x)
    with pytest.raises(TypeError, match="static_argnums"):
        jf(1.0, "hello")


def test_decorator_form_and_method():
    @wg.jit
    def f(x):
        return x + 1.0

    assert float(f(1.0)) == 2.0

    @wg.jit(static_argnums=1)
    def g(x, k):
        return x * k

    assert float(g(2.0, 3)) == 6.0

    class M:
        @wg.jit
        def h(self, x):
            return x * 2.0

    # bound methods: self is a leaf it cannot trace, so mark it static
    with pytest.raises(TypeError):
        M().h(1.0)


# --- control flow on staged values --------------------------------------------------


def test_python_if_on_traced_value_names_cond_and_line():
    def f(x):
        if x > 0:  # the offending line
            return x
        return -x

    with pytest.raises(TracerBoolError) as info:
        wg.jit(f)(1.0)
    msg = str(info.value)
    assert "wg.cond" in msg and "wg.while_loop" in msg and "static_argnums" in msg
    assert "test_jit.py" in msg and "if x > 0:  # the offending line" in msg
    assert isinstance(info.value, TypeError) and isinstance(info.value, ConcretizationError)


def test_float_int_and_while_under_jit_raise():
    with pytest.raises(ConcretizationError, match="float"):
        wg.jit(lambda x: float(x))(1.0)
    with pytest.raises(ConcretizationError, match="int"):
        wg.jit(lambda x: int(x))(1.0)

    def loop(x):
        while x < 10:
            x = x * 2
        return x

    with pytest.raises(TracerBoolError, match="while_loop"):
        wg.jit(loop)(1.0)
    with pytest.raises(TracerBoolError):
        wg.jit(wg.grad(lambda x: x if x > 0 else -x))(1.0)


def test_data_dependent_indexing_raises_instead_of_baking():
    with pytest.raises(ConcretizationError, match="data-dependent"):
        wg.jit(lambda x: x[x > 0])(np.array([1.0, -1.0, 2.0]))
    with pytest.raises(ConcretizationError):
        wg.jit(lambda x: wnp.nonzero(x > 0)[0] * 1.0)(np.array([3.0, -1.0, 2.0]))
    with pytest.raises(ConcretizationError, match="item"):
        wg.jit(lambda x: x.item())(np.array(3.0))


# --- generated source ------------------------------------------------------------------


def test_source_is_python_calling_numpy():
    def f(x, y):
        return wnp.sum(wnp.sin(x) * y + wnp.exp(x))

    jg = wg.jit(wg.grad(f))
    x, y = np.linspace(0, 1, 5), np.ones(5)
    src = jg.source(x, y)
    ast.parse(src)  # valid Python
    assert "np.cos(" in src and "np.exp(" in src and "np.sin(" not in src  # dead: DCE
    assert " * " in src and "def f(" in src
    assert "# cos" in src and "test_jit.py" in src and "[reverse sweep]" in src
    assert jg.trace_count == 1
    np.testing.assert_allclose(jg(x, y), np.cos(x) * y + np.exp(x))
    assert jg.trace_count == 1  # source() compiled it already


def test_source_falls_back_to_impl_for_other_primitives():
    jf = wg.jit(lambda x: wnp.cumsum(x) + wnp.pad(x, 1)[1:-1])
    src = jf.source(np.arange(3.0))
    ast.parse(src)
    assert "_cumsum" in src and "_pad" in src
    x = np.arange(3.0)
    np.testing.assert_allclose(jf(x), np.cumsum(x) + x)


# --- optimisations --------------------------------------------------------------------


def _names(g):
    return [e.name for e in g.eqns]


def test_dce_cse_and_simplification():
    def f(x):
        a = wnp.sin(x) * wnp.cos(x)
        b = wnp.sin(x) * wnp.cos(x)  # common subexpression
        unused = wnp.exp(x) * 3.0  # noqa: F841  (dead code)
        return (a + b) * 1.0 - 0.0  # x - (+0.0) is x for every float, x + 0.0 is not

    g = wg.make_graph(f, np.ones(3))
    o = optimize(g)
    assert _names(o).count("sin") == 1 and _names(o).count("cos") == 1
    assert "exp" not in _names(o)
    assert len(o.eqns) == 4  # sin, cos, mul, add
    # + 0.0 stays: -0.0 + 0.0 is +0.0
    assert _names(optimize(wg.make_graph(lambda x: x + 0.0, np.ones(3)))) == ["add"]
    x = np.linspace(0, 1, 3)
    np.testing.assert_allclose(wg.jit(f)(x), 2 * np.sin(x) * np.cos(x))


def test_grad_graph_is_simplified():
    o = wg.jit(wg.grad(lambda x: x * x)).graph(3.0)
    assert _names(o) == ["add"]  # 1.0 * x folded, forward product dead
    o = wg.jit(wg.grad(lambda x: wnp.sum(wnp.negative(wnp.negative(wnp.sin(x)))))).graph(np.ones(3))
    assert "neg" not in _names(o)


def test_zero_times_x_is_not_folded():
    # 0 * inf is nan in NumPy: jit keeps IEEE arithmetic
    f = wg.jit(lambda x: x * 0.0)
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(np.inf))
    assert float(f(2.0)) == 0.0


def test_broadcast_folded_into_numpy_broadcasting():
    f = wg.jit(lambda x, b: wnp.tanh(x + b))
    o = f.graph(np.ones((4, 3)), np.ones(3))
    assert "broadcast_to" not in _names(o)
    np.testing.assert_allclose(f(np.ones((4, 3)), np.arange(3.0)), np.tanh(1 + np.arange(3.0)) * np.ones((4, 3)))


def test_unhashable_params_never_merged():
    idx = np.array([0, 2])
    f = wg.jit(lambda x: x[idx] + x[np.array([0, 2])] * 2.0)
    x = np.arange(3.0)
    np.testing.assert_allclose(f(x), 3 * x[idx])


def test_constant_outputs_are_fresh_arrays():
    g = wg.jit(wg.grad(lambda x, y: wnp.sum(x * 2.0), argnums=(0, 1)))
    a = g(np.ones(2), np.ones(2))[1]
    a[0] = 5.0
    np.testing.assert_array_equal(g(np.ones(2), np.ones(2))[1], [0.0, 0.0])


# --- composition ------------------------------------------------------------------


def mlp_loss(W, x):
    return wnp.sum(wnp.tanh(x @ W) ** 2)


def test_jit_of_grad_is_one_graph():
    g = wg.make_graph(wg.grad(mlp_loss), np.ones((3, 2)), np.ones((4, 3)))
    names = _names(g)
    assert "tanh" in names and names.count("matmul") == 2  # forward and backward
    W, x = np.random.default_rng(0).normal(size=(3, 2)), np.ones((4, 3))
    np.testing.assert_allclose(wg.jit(wg.grad(mlp_loss))(W, x), wg.grad(mlp_loss)(W, x))


def test_jit_vmap_grad():
    f = lambda x: wnp.sum(wnp.sin(x) ** 2)  # noqa: E731
    xs = np.random.default_rng(1).normal(size=(5, 3))
    want = wg.vmap(wg.grad(f))(xs)
    jf = wg.jit(wg.vmap(wg.grad(f)))
    np.testing.assert_allclose(jf(xs), want)
    np.testing.assert_allclose(want, 2 * np.sin(xs) * np.cos(xs))


def test_grad_and_vmap_and_jvp_of_jit():
    jf = wg.jit(lambda x: wnp.sin(x) * x)
    np.testing.assert_allclose(wg.grad(lambda x: wnp.sum(jf(x)))(np.ones(3)),
                               np.cos(1.0) + np.sin(1.0))
    xs = np.linspace(0, 1, 4)
    np.testing.assert_allclose(wg.vmap(jf)(xs), np.sin(xs) * xs)
    out, t = wg.jvp(jf, (0.5,), (1.0,))
    np.testing.assert_allclose(t, np.cos(0.5) * 0.5 + np.sin(0.5))
    np.testing.assert_allclose(wg.grad(wg.grad(jf))(0.5), wg.grad(wg.grad(lambda x: wnp.sin(x) * x))(0.5))
    np.testing.assert_allclose(wg.hessian(lambda x: wnp.sum(jf(x)))(np.ones(2)),
                               wg.hessian(lambda x: wnp.sum(wnp.sin(x) * x))(np.ones(2)))


def test_nested_jit_and_jit_of_jit():
    inner = wg.jit(lambda x: wnp.exp(x) * 2.0)
    outer = wg.jit(lambda x: inner(x) + inner(x * 2.0))
    np.testing.assert_allclose(outer(0.5), 2 * np.exp(0.5) + 2 * np.exp(1.0))
    assert wg.jit(outer) is outer
    np.testing.assert_allclose(wg.jit(wg.grad(outer))(0.5), wg.grad(lambda x: 2 * wnp.exp(x) + 2 * wnp.exp(2 * x))(0.5))


def test_closure_over_outer_tracer_is_correct():
    def f(x):
        g = wg.jit(lambda y: x * y)  # closes over grad's tracer
        return g(3.0) + g(4.0)

    assert float(wg.grad(f)(2.0)) == 7.0


def test_results_are_numpy_and_leaked_tracer_raises():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0

    r = wg.jit(f)(1.0)
    assert isinstance(r, np.float64)
    with pytest.raises(wg.LeakedTracerError):
        leaked[0] * 2.0


def test_debug_nans_is_part_of_the_signature():
    f = wg.jit(lambda x: wnp.log(x))
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(-1.0))
    wg.config.debug_nans = True
    try:
        with pytest.raises(FloatingPointError, match="log"), np.errstate(invalid="ignore"):
            f(-1.0)
        assert f.trace_count == 2
    finally:
        wg.config.debug_nans = False
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(-1.0))
    assert f.trace_count == 2


def test_vmap_and_jvp_of_jit_are_compiled_and_cached():
    calls = []

    def f(x, w):
        calls.append(1)
        return wnp.tanh(x * w) + w

    jf = wg.jit(f)
    xs = np.linspace(-1, 1, 6).reshape(3, 2)
    w = np.array([0.5, 2.0])
    want = np.tanh(xs * w) + w
    np.testing.assert_allclose(wg.vmap(jf, in_axes=(0, None))(xs, w), want)
    n = len(calls)
    np.testing.assert_allclose(wg.vmap(jf, in_axes=(0, None))(xs * 2, w), np.tanh(2 * xs * w) + w)
    assert len(calls) == n  # jit(vmap(f)) reused, not retraced
    # batched along both, and vmap of vmap
    np.testing.assert_allclose(wg.vmap(jf)(xs, xs), np.tanh(xs * xs) + xs)
    np.testing.assert_allclose(wg.vmap(wg.vmap(jf))(xs, xs), np.tanh(xs * xs) + xs)
    out, t = wg.jvp(jf, (xs[0], w), (np.ones(2), np.zeros(2)))
    np.testing.assert_allclose(t, (1 - np.tanh(xs[0] * w) ** 2) * w)
    n = len(calls)
    wg.jvp(jf, (xs[1], w), (np.ones(2), np.zeros(2)))
    assert len(calls) == n
    # forward over reverse and reverse over forward through the jitted function
    h = wg.hessian(lambda x: wnp.sum(jf(x, w)))(xs[0])
    h0 = wg.hessian(lambda x: wnp.sum(f(x, w)))(xs[0])
    np.testing.assert_allclose(h, h0)
    gj = wg.grad(lambda x: wg.jvp(lambda y: wnp.sum(jf(y, w)), (x,), (np.ones(2),))[1])(xs[0])
    g0 = wg.grad(lambda x: wg.jvp(lambda y: wnp.sum(f(y, w)), (x,), (np.ones(2),))[1])(xs[0])
    np.testing.assert_allclose(gj, g0)


def test_threads_share_a_jitted_function():
    import threading
    df = wg.jit(wg.grad(lambda x: wnp.sum(wnp.sin(x) * x)))
    results = {}

    def work(k):
        for i in range(20):
            x = np.full(4, 0.1 * k + 0.01 * i)
            results[(k, i)] = (x, df(x))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, g in results.values():
        np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x))
    assert df._cache_size() == 1


def test_first_call_and_compiled_calls_agree():
    f = lambda x: wnp.sum(wnp.exp(-x * x) / (1.0 + x ** 2))  # noqa: E731
    x = np.linspace(-2, 2, 7)
    j = wg.jit(wg.value_and_grad(f))
    first, second = j(x), j(x)
    np.testing.assert_allclose(first[0], second[0], rtol=1e-15)
    np.testing.assert_allclose(first[1], second[1], rtol=1e-15)


def test_reverse_mode_of_jit_is_compiled(monkeypatch):
    traced = []

    def loss(W, b, x):
        traced.append(1)
        return wnp.sum(wnp.tanh(x @ W + b) ** 2)

    jl = wg.jit(loss)
    rng = np.random.default_rng(3)
    # matmul-bound: runs inline under grad (no recomputed forward sweep)
    W, b, x = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3))
    np.testing.assert_allclose(wg.grad(jl)(W, b, x), wg.grad(loss)(W, b, x))

    def loss(W, b, x):  # a long elementwise chain: compiled reverse mode
        traced.append(1)
        h = x * W[0, 0] + b[0]
        for _ in range(40):
            h = wnp.tanh(h) * 1.01 + 0.1
        return wnp.sum(h ** 2)

    jl = wg.jit(loss)
    W, b, x = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3))
    g = wg.grad(jl, argnums=(0, 1))(W, b, x)
    g0 = wg.grad(loss, argnums=(0, 1))(W, b, x)
    np.testing.assert_allclose(g[0], g0[0])
    np.testing.assert_allclose(g[1], g0[1])
    n = len(traced)
    g2 = wg.grad(jl, argnums=(0, 1))(W * 2, b, x)  # cached: no retrace
    assert len(traced) == n
    np.testing.assert_allclose(g2[0], wg.grad(loss)(W * 2, b, x))
    assert any(k[0] == "vjp" for k in jl._derived_cache)  # the compiled VJP was used
    # vjp with a pytree output, linearize, jacrev (vmap over the cotangents)
    monkeypatch.setattr(wg._jit, "_REVERSE_MIN_EQNS", 0)  # small functions too, from here on
    f = wg.jit(lambda x: {"a": wnp.sin(x), "b": (x * x, x.sum())})
    x = np.linspace(0, 1, 3)
    out, pull = wg.vjp(f, x)
    ct = {"a": np.ones(3), "b": (np.full(3, 2.0), 1.0)}
    np.testing.assert_allclose(pull(ct)[0], np.cos(x) + 4 * x + 1)
    y, f_jvp = wg.linearize(lambda x: f(x)["a"], x)
    np.testing.assert_allclose(f_jvp(np.ones(3)), np.cos(x))
    np.testing.assert_allclose(wg.jacrev(lambda x: f(x)["a"])(x), np.diag(np.cos(x)))
    # second order still right (runs inline where the primal is traced)
    np.testing.assert_allclose(wg.grad(wg.grad(lambda x: wnp.sum(f(x)["a"])))(0.3), -np.sin(0.3))
    # integer arguments ride along without tangents
    h = wg.jit(lambda x, n: wnp.sum(x ** n))
    np.testing.assert_allclose(wg.grad(h)(np.array([1.0, 2.0]), 3), [3.0, 12.0])


def test_big_intermediates_are_dropped_early():
    W = np.random.default_rng(0).normal(size=(80, 80))

    def f(x):
        h = wnp.tanh(x @ W)
        h = wnp.tanh(h @ W) * np.ones((80, 80))
        return wnp.sum(h * h)

    jg = wg.jit(wg.value_and_grad(f))
    x = np.eye(80)
    src = jg.source(x)
    assert "del " in src
    ast.parse(src)
    for _ in range(2):
        v, g = jg(x)
        np.testing.assert_allclose(v, f(x))
        np.testing.assert_allclose(g, wg.grad(f)(x))


def test_jitted_closure_over_the_same_transformation():
    def f(x):
        g = wg.jit(lambda y: x * y)  # closes over x and is called with x
        return g(x)

    assert float(wg.grad(f)(3.0)) == 6.0
    assert float(wg.jvp(f, (3.0,), (1.0,))[1]) == 6.0
    np.testing.assert_allclose(wg.vmap(f)(np.array([1.0, 2.0])), [1.0, 4.0])


def test_sum_of_products_is_not_turned_into_a_matmul():
    # sum(X * w, axis=-1) -> X @ w was a rewrite once: BLAS sums in another
    # order, so the last bits differ from eager (issue 10: bit for bit)
    rng = np.random.default_rng(0)
    w, X = rng.standard_normal(100), rng.standard_normal((40, 100))
    f = wg.jit(lambda w, X: wnp.sum(X * w, axis=1))
    want = wnp.sum(X * w, axis=1)
    for _ in range(3):
        assert np.array_equal(f(w, X), want)
    assert "np.matmul" not in f.source(w, X)


def test_jit_md_output_blocks_are_what_the_code_prints():
    """Each ```text block after a printing ```python block of docs/jit.md is
    that block's output (blocks run in order, compiled as file "jit.md")."""
    import contextlib
    import io
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "jit.md").read_text()
    blocks = re.compile(r"^```(python|text)[ \t]*\n(.*?)^```", re.S | re.M).findall(page)
    ns = {"__name__": "docs_jit"}
    checked = 0
    try:
        for i, (kind, code) in enumerate(blocks):
            if kind != "python":
                continue
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(code, "jit.md", "exec"), ns)
            if buf.getvalue():
                assert i + 1 < len(blocks) and blocks[i + 1][0] == "text", f"block {i} prints, no output shown"
                assert buf.getvalue().rstrip() == blocks[i + 1][1].rstrip(), f"output of block {i}"
                checked += 1
    finally:
        wg.config.debug_nans = False
    assert checked >= 5
