"""wg.Tensor: the API, its errors, grad mode, accumulation, retain/create
graph, in-place operations, interop with the functional API, printing, and
memory (the graph is freed with its output)."""

from __future__ import annotations

import gc
import pickle
import threading
import tracemalloc

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp


def T(x, rg=True, **kw):
    return wg.tensor(x, requires_grad=rg, **kw)


# --- construction and attributes -------------------------------------------------


def test_tensor_attributes():
    x = T([[1.0, 2.0, 3.0]])
    assert isinstance(x, wg.Tensor)
    assert x.shape == (1, 3) and x.ndim == 2 and x.dtype == np.float64
    assert type(x.data) is np.ndarray and type(x.numpy()) is np.ndarray
    np.testing.assert_array_equal(x.data, [[1.0, 2.0, 3.0]])
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    assert x.T.shape == (3, 1)
    assert x.size == 3 and x.size() == (1, 3) and x.size(1) == 3 and x.numel() == 3
    assert x.dim() == 2 and len(x) == 1
    s = T(2.5)
    assert type(s.data) is np.ndarray and s.data.shape == () and s.item() == 2.5
    assert float(s) == 2.5 and f"{s:.2f}" == "2.50"


def test_tensor_copies_and_keeps_dtype():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = wg.tensor(a)
    a[0] = 9.0
    assert t.data[0] == 1.0 and t.dtype == np.float32
    assert wg.tensor([1, 2]).dtype == np.int64
    assert wg.tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert wg.Tensor([1.0, 2.0]).shape == (2,)
    y = (t * 2.0).sum()
    assert y.dtype == np.float32


def test_requires_grad_needs_floats():
    with pytest.raises(RuntimeError, match="floating-point"):
        wg.tensor([1, 2], requires_grad=True)
    t = wg.tensor([1.0])
    assert t.requires_grad_() is t and t.requires_grad
    t.requires_grad = False
    assert not t.requires_grad


def test_grad_fn_names_the_operation():
    x = T([1.0, 2.0])
    y = x * x
    assert y.grad_fn.name == "MulBackward" and repr(y.grad_fn) == "<MulBackward>"
    assert (x + 1).grad_fn.name == "AddBackward"
    assert x.sin().grad_fn.name == "SinBackward"
    assert x.sum().grad_fn.name == "SumBackward"
    assert not y.is_leaf and y.requires_grad
    nxt = y.grad_fn.next_functions
    assert len(nxt) == 2 and nxt[0][0].name == "AccumulateGrad"
    assert "grad_fn=<MulBackward>" in repr(y)


# --- the backward pass ----------------------------------------------------------------


def test_spec_example_and_w1():
    x = T([1.0, 2.0, 3.0])
    (x ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 6.0])
    assert isinstance(x.grad, wg.Tensor)
    a, b = T(3.0), T(4.0)
    (a * a * b + b + 2).backward()
    assert float(a.grad) == 24.0 and float(b.grad) == 10.0


def test_gradients_accumulate_and_reset():
    x = T([1.0, 2.0])
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * 2 * np.array([1.0, 2.0]))
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])
    x.grad.zero_()
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0])


def test_grad_is_a_fresh_array_per_leaf():
    a, b = T([1.0, 2.0]), T([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.data[0] = 100.0
    assert b.grad.data[0] == 1.0


def test_grads_never_alias_the_callers_arrays():
    a, b = T([1.0, 2.0]), T([3.0, 4.0])
    g = np.array([1.0, 1.0])
    (a + b).backward(g)  # both leaves receive the seed itself
    a.grad.data[0] = 100.0
    (a + b).backward(g)  # accumulates in place into a.grad's own array
    np.testing.assert_array_equal(g, [1.0, 1.0])
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0])
    x = T([1.0, 2.0])
    c = x + 1
    c.retain_grad()
    (c * 3).sum().backward()
    c.grad.data[0] = 50.0
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_backward_with_gradient_argument():
    x = T([1.0, 2.0, 3.0])
    y = x * x
    y.backward(gradient=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad.data, [2.0, 0.0, 12.0])
    x2 = T([1.0, 2.0])
    (x2 * 3).backward(wg.tensor([1.0, 1.0]))
    np.testing.assert_allclose(x2.grad.data, [3.0, 3.0])


def test_errors():
    x = T([1.0, 2.0])
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        wg.tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError, match="mismatch in shape"):
        (x * 2).backward(np.ones(3))
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()
    with pytest.raises(RuntimeError, match="leaf Tensor that requires grad.*in-place"):
        x += 1


def test_identically_zero_derivative_gives_zero_grads():
    x = T([1.0, 2.0])
    y = (x ** 0).sum()
    assert y.requires_grad
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])


def test_retain_graph():
    x = T([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * g1)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_shared_subgraph_freed_by_first_backward():
    x = T(2.0)
    h = x.sin() * x
    a, b = h * 2, h * 3
    a.backward()
    with pytest.raises(RuntimeError, match="second time"):
        b.backward()


def _reused(x, y):
    # intermediates used by several later ops, at several depths (diamonds)
    a = x * y
    b = wnp.sin(a) + a * x
    c = b * a - wnp.exp(y) * b
    d = c / (a + 2.0) + b * b
    return wnp.sum(d * c + a - b)


def test_reused_intermediates_match_grad():
    rng = np.random.default_rng(0)
    xv, yv = rng.uniform(0.5, 1.5, (2, 5))
    want = wg.grad(_reused, argnums=(0, 1))(xv, yv)
    x, y = T(xv), T(yv)
    out = _reused(x, y)
    out.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.data, want[0], rtol=1e-12)
    np.testing.assert_allclose(y.grad.data, want[1], rtol=1e-12)
    out.backward()  # the same sweep again accumulates the same numbers
    np.testing.assert_allclose(x.grad.data, 2 * want[0], rtol=1e-12)
    np.testing.assert_allclose(y.grad.data, 2 * want[1], rtol=1e-12)


def _random_program(seed):
    # a random DAG of operations: each step uses one or two earlier values,
    # so values are shared by many later ones at many depths
    rng = np.random.default_rng(seed)
    steps = []
    for i in range(2, 40):
        op = rng.integers(0, 5)
        a, b = rng.integers(0, i, 2)
        steps.append((op, int(a), int(b)))
    outs = sorted({int(k) for k in rng.integers(2, 40, 3)})

    def run(x, y):
        vals = [x, y]
        for op, a, b in steps:
            u, v = vals[a], vals[b]
            vals.append([u + v, u * v * 0.5, u - v, wnp.sin(u) + v, wnp.tanh(u) * 2.0][op])
        return wnp.sum(sum(vals[k] for k in outs))
    return run


@pytest.mark.parametrize("seed", range(8))
def test_random_graphs_match_grad(seed):
    run = _random_program(seed)
    xv = np.array([0.3, -0.2, 0.1])
    yv = np.array([0.25, 0.4, -0.35])
    want = wg.grad(run, argnums=(0, 1))(xv, yv)
    x, y = T(xv), T(yv)
    run(x, y).backward()
    for t, w in zip((x, y), want):
        got = np.zeros(3) if t.grad is None else t.grad.data
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)


def test_outputs_inside_each_others_graph():
    x = T(np.array([0.5, 2.0]))
    h = x.sin() * x
    y = (h * h).sum()
    # y's graph contains h's; y appears twice
    (g,) = wg.autograd_grad([y, h, y], x, grad_outputs=[None, np.array([1.0, 10.0]), None])
    dh = np.cos(x.data) * x.data + np.sin(x.data)
    want = 2 * (2 * h.data * dh) + np.array([1.0, 10.0]) * dh
    np.testing.assert_allclose(g.data, want, rtol=1e-12)


def test_failed_backward_leaves_the_graph_clean():
    x = T(2.0)
    h = x.sin() * x
    a, b = h * 2, h * 3 + x * x  # b reaches x by a branch that was not freed
    a.backward()
    x.grad = None
    with pytest.raises(RuntimeError, match="second time"):
        b.backward()
    x.grad = None
    (x * x * 5.0).backward()  # nothing left over from the failed sweep
    assert float(x.grad) == 20.0
    y = x * 3.0
    y.backward(retain_graph=True)
    y.backward()
    assert float(x.grad) == 26.0


def test_scalar_grads_are_own_arrays_and_accumulate():
    for dt in (np.float64, np.float32):
        x = T(dt(3.0))
        y = T(dt(4.0))
        (x * x * y + y + 2).backward()
        assert type(x.grad.data) is np.ndarray and x.grad.data.shape == ()
        assert x.grad.dtype == dt and y.grad.dtype == dt
        assert float(x.grad) == 24.0 and float(y.grad) == 10.0
        (x * y).backward()
        assert float(x.grad) == 28.0 and float(y.grad) == 13.0
        x.grad.data[()] = 1.0  # each grad its own writeable array
        assert float(y.grad) == 13.0
    x = T(2.0)
    x.grad = np.array(0.5, dtype=np.float32)  # a grad set by hand, of another dtype
    (x * x).backward()
    assert float(x.grad) == 4.5
    ro = np.array(1.0)
    ro.flags.writeable = False
    x.grad = ro  # read-only: accumulated out of place
    (x * 3.0).backward()
    assert float(x.grad) == 4.0 and float(ro) == 1.0


def test_retain_grad_and_non_leaf_grads():
    a = T([1.0, 2.0])
    b = a * 2
    c = b + 1  # its op passes the tangent through unchanged
    b.retain_grad()
    c.retain_grad()
    assert b.retains_grad and not a.retains_grad
    (c * c).sum().backward()
    np.testing.assert_allclose(c.grad.data, 2 * (2 * a.data + 1))
    np.testing.assert_allclose(b.grad.data, 2 * (2 * a.data + 1))
    np.testing.assert_allclose(a.grad.data, 4 * (2 * a.data + 1))
    d = a * 3
    (d * d).sum().backward()
    assert d.grad is None  # not retained


def test_create_graph_double_backward():
    x = T(2.0)
    y = x ** 4 + 3 * x ** 2 + 2 * x
    y.backward(create_graph=True)
    g = x.grad
    assert float(g) == 46.0 and g.requires_grad
    x.grad = None
    g.backward(create_graph=True)
    h = x.grad
    assert float(h) == 54.0
    x.grad = None
    h.backward()
    assert float(x.grad) == 48.0


def test_autograd_grad():
    x, y = T([1.0, 2.0]), T(3.0)
    z = (x * x * y).sum()
    gx, gy = wg.autograd_grad(z, [x, y], retain_graph=True)
    np.testing.assert_allclose(gx.data, 2 * x.data * 3.0)
    assert float(gy) == 5.0
    assert x.grad is None and y.grad is None  # nothing accumulated
    (gx2,) = wg.autograd_grad([z], x, grad_outputs=[wg.tensor(2.0)])
    np.testing.assert_allclose(gx2.data, 2 * gx.data)
    w = T(1.0)
    with pytest.raises(RuntimeError, match="not have been used"):
        wg.autograd_grad((x * 2).sum(), [x, w])
    gx3, gw = wg.autograd_grad((x * 2).sum(), [x, w], allow_unused=True)
    assert gw is None
    _, gw0 = wg.autograd_grad((x * 2).sum(), [x, w], materialize_grads=True)
    assert float(gw0) == 0.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        wg.autograd_grad((x * 2).sum(), wg.tensor(1.0))
    with pytest.raises(TypeError, match="outputs must be"):
        wg.autograd_grad(3.0, x)


def test_autograd_grad_higher_order_and_non_leaf():
    x = T(2.0)
    (g,) = wg.autograd_grad(x ** 3, x, create_graph=True)
    (h,) = wg.autograd_grad(g, x, create_graph=True)
    (k,) = wg.autograd_grad(h, x)
    assert (float(g), float(h), float(k)) == (12.0, 12.0, 6.0)
    a = T(3.0)
    b = a + 2  # non-leaf whose op passes the tangent through
    c = b * a
    assert float(wg.autograd_grad(c, b, retain_graph=True)[0]) == 3.0
    assert float(wg.autograd_grad(c, a)[0]) == 8.0


def test_mixed_second_derivative_siskind_pearlmutter():
    # d/dx [x * d/dy (x * y)] at any y = 2x
    x, y = T(1.5), T(0.7)
    (gy,) = wg.autograd_grad(x * y, y, create_graph=True)
    (gx,) = wg.autograd_grad(x * gy, x)
    assert float(gx) == 3.0


# --- grad mode ----------------------------------------------------------------


def test_no_grad_and_enable_grad():
    x = T([1.0, 2.0])
    with wg.no_grad():
        y = x * 2
        with wg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad

    @wg.no_grad()
    def f(t):
        return t * 3
    assert not f(x).requires_grad
    from wengert.tensor import is_grad_enabled, set_grad_enabled
    assert is_grad_enabled()
    with set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert is_grad_enabled()


def test_grad_mode_is_per_thread():
    x = T([1.0])
    seen = []
    entered = threading.Event()
    release = threading.Event()

    def worker():
        with wg.no_grad():
            entered.set()
            release.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    entered.wait(5)
    seen.append((x * 2).requires_grad)
    release.set()
    th.join()
    assert seen == [True]


def test_threads_compute_gradients_independently():
    results = {}

    def work(k):
        x = T(np.full(3, float(k)))
        for _ in range(50):
            x.grad = None
            (x ** 3).sum().backward()
        results[k] = x.grad.data.copy()

    ths = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    for k in range(1, 5):
        np.testing.assert_allclose(results[k], 3 * k * k)


def test_detach():
    x = T([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert d.data is x.data
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.data, d.data)  # d is a constant


# --- operators and methods --------------------------------------------------------


def test_operators_and_methods_match_numpy():
    a = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = T(a)
    checks = {
        "add": (x + 1.0, a + 1.0), "radd": (1.0 + x, a + 1.0), "sub": (x - a, a - a),
        "rsub": (2.0 - x, 2.0 - a), "mul": (x * a, a * a), "div": (x / 2.0, a / 2.0),
        "rdiv": (1.0 / x, 1.0 / a), "pow": (x ** 2, a ** 2), "rpow": (2.0 ** x, 2.0 ** a),
        "neg": (-x, -a), "abs": (abs(x), np.abs(a)), "matmul": (x @ a.T, a @ a.T),
        "floordiv": (x // 0.5, a // 0.5), "getitem": (x[1, ::-1], a[1, ::-1]),
        "mask": (x[x.data > 0], a[a > 0]), "sum": (x.sum(dim=1), a.sum(1)),
        "mean": (x.mean(axis=0, keepdims=True), a.mean(0, keepdims=True)),
        "mean-keepdim": (x.mean(dim=1, keepdim=True), a.mean(1, keepdims=True)),
        "prod": (x.prod(), a.prod()), "max": (x.max(), a.max()), "min": (x.min(axis=1), a.min(1)),
        "reshape": (x.reshape(3, 2), a.reshape(3, 2)), "view": (x.view(-1), a.reshape(-1)),
        "transpose": (x.transpose(0, 1), a.T), "permute": (x.permute(1, 0), a.T),
        "squeeze": (x[None].squeeze(0), a), "unsqueeze": (x.unsqueeze(1), a[:, None]),
        "flatten": (x.flatten(), a.ravel()), "exp": (x.exp(), np.exp(a)),
        "log": (abs(x).log(), np.log(np.abs(a))), "sqrt": (abs(x).sqrt(), np.sqrt(np.abs(a))),
        "sin": (x.sin(), np.sin(a)), "cos": (x.cos(), np.cos(a)), "tanh": (x.tanh(), np.tanh(a)),
        "sigmoid": (x.sigmoid(), 1 / (1 + np.exp(-a))), "relu": (x.relu(), np.maximum(a, 0)),
        "clamp": (x.clamp(-0.5, 1.0), np.clip(a, -0.5, 1.0)), "pow-m": (x.pow(3), a ** 3),
        "softmax": (x.softmax(dim=1), np.exp(a) / np.exp(a).sum(1, keepdims=True)),
        "log_softmax": (x.log_softmax(axis=-1),
                        a - np.log(np.exp(a).sum(-1, keepdims=True))),
        "var": (x.var(dim=1, unbiased=True), a.var(1, ddof=1)), "std": (x.std(), a.std()),
        "T": (x.T, a.T), "t": (x.t(), a.T), "expand": (x[:1].expand(4, 3), np.broadcast_to(a[:1], (4, 3))),
        "cumsum": (x.cumsum(dim=1), a.cumsum(1)), "logsumexp": (x.logsumexp(dim=1), np.log(np.exp(a).sum(1))),
        "where": (x.where(a > 0, 0.0), np.where(a > 0, a, 0.0)), "norm": (x.norm(), np.linalg.norm(a)),
    }
    for name, (got, want) in checks.items():
        assert isinstance(got, wg.Tensor), name
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12, err_msg=name)
    cmp = (x > 0, x < 0, x >= a, x <= 0, x == a, x != a)
    for c in cmp:
        assert isinstance(c, wg.Tensor) and c.dtype == np.bool_ and not c.requires_grad
    vals, idx = x.max(dim=1)
    np.testing.assert_allclose(vals.data, a.max(1))
    np.testing.assert_array_equal(idx.data, a.argmax(1))


def test_wnp_functions_accept_and_return_tensors():
    x = T([0.5, 1.0, 2.0])
    for f in (wnp.sin, wnp.exp, wnp.tanh, wnp.log, wnp.sqrt, wnp.cumsum, wnp.flip):
        assert isinstance(f(x), wg.Tensor)
    y = wnp.sum(wnp.sin(x) * wnp.stack([x, x]), axis=0)
    assert isinstance(y, wg.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * (np.cos(x.data) * x.data + np.sin(x.data)))
    assert isinstance(wnp.where(x > 1, x, 0.0), wg.Tensor)
    assert isinstance(wnp.concatenate([x, x]), wg.Tensor)
    assert isinstance(wnp.linalg.norm(x), wg.Tensor)


def test_relu_kink_and_max_ties():
    x = T([-1.0, 0.0, 2.0])
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])
    y = T([1.0, 3.0, 3.0])
    y.max().backward()
    np.testing.assert_array_equal(y.grad.data, [0.0, 0.5, 0.5])


def test_broadcasting_and_indexing_gradients():
    w = T(np.ones((2, 3)))
    b = T(np.array([1.0, 2.0, 3.0]))
    ((w * b + b) ** 2).sum().backward()
    np.testing.assert_allclose(b.grad.data, 16 * np.array([1.0, 2.0, 3.0]))  # sum of 2 rows of (2b)²
    x = T([1.0, 2.0, 3.0])
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, 1.0])


# --- in place ----------------------------------------------------------------


def test_inplace_operations():
    x = T([1.0, 2.0])
    with wg.no_grad():
        x -= 0.5 * np.array([2.0, 2.0])
        x.mul_(2)
    assert x.is_leaf and x.requires_grad
    np.testing.assert_allclose(x.data, [0.0, 2.0])
    y = x * 1.0
    y += x  # non-leaf in place: recorded
    y[0] = 5.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 2.0])
    np.testing.assert_allclose(y.data, [5.0, 4.0])
    z = wg.tensor([1.0, 2.0, 3.0])
    z[1:] = z[:2]  # no grad: plain update of a copy
    np.testing.assert_allclose(z.data, [1.0, 1.0, 2.0])


def test_setitem_is_differentiable_in_the_value():
    v = T(2.0)
    buf = wg.tensor(np.zeros(3))
    buf[1] = v * 3
    (buf * np.array([1.0, 10.0, 100.0])).sum().backward()
    assert float(v.grad) == 30.0


def test_modifying_a_saved_tensor_raises_at_backward():
    x = T([1.0, 2.0])
    w = T([3.0, 4.0])
    y = (x * w).sum()  # saves x and w
    with wg.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()
    z = (x + w).sum()  # saves nothing: fine after the update
    z.backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 1.0])


# --- interop ---------------------------------------------------------------------


def test_grad_of_function_using_tensors():
    def f(x):
        t = wg.tensor(x)
        return (t.sin() * t).sum()
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(wg.grad(f)(x), np.sin(x) + x * np.cos(x))
    np.testing.assert_allclose(wg.hessian(f)(x), np.diag(2 * np.cos(x) - x * np.sin(x)), atol=1e-12)
    out, f_vjp = wg.vjp(lambda x: wg.tensor(x).exp(), x)
    np.testing.assert_allclose(f_vjp(np.ones(2))[0], np.exp(x))


def test_tensor_given_to_grad_is_differentiated_as_its_value():
    t = T([1.0, 2.0])
    np.testing.assert_allclose(wg.grad(lambda x: wnp.sum(x * x))(t), [2.0, 4.0])
    c = T([3.0, 4.0])  # a tensor closed over: a constant of the function
    np.testing.assert_allclose(wg.grad(lambda x: (x * c).sum())(np.array([1.0, 2.0])), [3.0, 4.0])


def test_backward_inside_grad():
    def f(x):
        t = wg.tensor(x, requires_grad=True)
        (t ** 3).sum().backward()
        return t.grad.sum()
    np.testing.assert_allclose(wg.grad(f)(np.array([1.0, 2.0])), [6.0, 12.0])


def test_tensor_escaping_grad_raises():
    box = []

    def f(x):
        t = wg.tensor(x)
        box.append(t)
        return (t * t).sum()
    wg.grad(f)(np.array([1.0]))
    with pytest.raises(wg.LeakedTracerError):
        box[0] * 2


# --- seeing the graph --------------------------------------------------------------


def test_graph_listing_matches_make_graph_format():
    x = T([1.0, 2.0, 3.0])
    y = (x * x).sin().sum()
    listing = y.to_wengert()
    want = str(wg.make_graph(lambda v: wnp.sum(wnp.sin(v * v)), x.data))
    assert listing == "\n".join(line.split("  #")[0].rstrip() for line in want.splitlines())
    assert "mul v1 v1" in listing and "f64[3]" in listing
    assert len(y.graph().eqns) == 3


def test_to_dot_shows_values_and_grads():
    x = T([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    dot = y.to_dot()
    assert dot.startswith("digraph wengert {") and dot.rstrip().endswith("}")
    assert "grad [2. 4.]" in dot and "value 5." in dot and "v1 -\\> v2" not in dot
    assert "v1 -> v2;" in dot
    assert wg.to_dot(y) == dot


# --- memory ----------------------------------------------------------------------


def test_memory_stays_flat_over_training_steps():
    rng = np.random.default_rng(0)
    w = T(rng.standard_normal((8, 4)))
    b = T(np.zeros(4))
    xs = rng.standard_normal((16, 8))

    def step():
        loss = ((wg.tensor(xs) @ w + b).tanh() ** 2).mean()
        loss.backward()
        with wg.no_grad():
            w.sub_(0.01 * w.grad)
            b.sub_(0.01 * b.grad)
        w.grad = None
        b.grad = None

    gc.collect()
    tracemalloc.start()
    for _ in range(1200):  # NumPy's small-buffer caches fill up, then stay
        step()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(1200):
        step()
    now, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # one leaked graph is several KiB per step (~6 MiB over 1200 steps); what
    # remains is NumPy's and the interpreter's caches settling (< 64 KiB)
    assert now - base < 128 * 1024, f"memory grew by {now - base} bytes over 1200 steps"


def test_graph_is_freed_when_output_is_dropped():
    import weakref
    x = T(np.ones(1000))
    y = (x.sin() * x).sum()
    assert y.grad_fn.name == "SumBackward"
    probe = weakref.ref(y._node[2][0])  # an intermediate tensor
    del y
    assert probe() is None  # freed by reference counting, no gc needed


def test_backward_releases_intermediates_held_only_by_the_graph():
    import weakref
    x = T(np.ones(100))
    y = (x.sin() * x).sum()
    probe = weakref.ref(y._node[2][0])  # the product, held only by y's record
    y.backward()
    assert probe() is None  # freed by backward, as PyTorch frees saved tensors
    assert y.grad_fn.name == "SumBackward" and y.requires_grad


def test_long_chain_backward_is_iterative():
    x = T(1.0)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.backward()
    assert float(x.grad) == 1.0


def test_deepcopy_and_pickle_of_leaves():
    import copy
    x = T([1.0, 2.0])
    c = copy.deepcopy(x)
    assert c.requires_grad and c is not x and c.data is not x.data
    with pytest.raises(RuntimeError, match="deepcopy"):
        copy.deepcopy(x * 2)
    p = pickle.loads(pickle.dumps(x))
    assert p.requires_grad and np.array_equal(p.data, x.data)
    assert {x: 1}[x] == 1  # hashable by identity


# --- the micrograd-style example ------------------------------------------------------


def test_micrograd_moons_example_trains_to_full_accuracy():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "micrograd_moons.py"
    spec = importlib.util.spec_from_file_location("micrograd_moons", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model, loss, acc = mod.train(seed=0)
    assert acc == 1.0
    assert loss < 0.1
    assert all(p.is_leaf and p.requires_grad for p in model.params)
