"""Edge cases of ``wengert.nn`` / ``wengert.optim`` / the Tensor drawing found in
trials (issue 10): logsumexp at infinities and empty axes, optimisers on
complex parameters, ``Tensor.to_dot()`` after ``backward()``."""

import warnings

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import nn, optim

from _fd import check_grads

INF = np.inf


# ----------------------------------------------------------------------------
# logsumexp


def _scipy_lse(a, axis=-1, keepdims=False):
    sp = pytest.importorskip("scipy.special")
    with np.errstate(all="ignore"):
        return sp.logsumexp(a, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("a", [[-INF, -INF], [INF, 1.0], [INF, -INF], [INF, INF], [-INF, 1.0, 2.0],
                               [], [np.nan, 1.0], [1000.0, 1000.0]])
def test_logsumexp_matches_scipy_at_infinities_and_empty(a):
    a = np.array(a)
    with np.errstate(all="ignore"):
        got = nn.logsumexp(a)
    ref = _scipy_lse(a)
    np.testing.assert_array_equal(got, ref)
    t = wg.tensor(a)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(t.logsumexp().numpy(), ref)


def test_logsumexp_axes_match_scipy():
    x = np.random.default_rng(0).normal(size=(3, 4, 2))
    x[0, :, 1] = -INF
    for axis in (None, 0, 1, -1, (0, 2)):
        for kd in (False, True):
            np.testing.assert_allclose(nn.logsumexp(x, axis=axis, keepdims=kd),
                                       _scipy_lse(x, axis=axis, keepdims=kd), rtol=1e-14)
    np.testing.assert_array_equal(nn.logsumexp(np.zeros((2, 0)), axis=1), [-INF, -INF])
    assert nn.logsumexp(np.zeros((2, 0)), axis=0).shape == (0,)
    assert float(nn.logsumexp(3.0)) == 3.0
    with pytest.raises(ValueError, match="logsumexp: axis 5"):
        nn.logsumexp(x, axis=5)


def test_logsumexp_gradients_are_softmax_and_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 or inf-inf on the way
        for a in ([-INF, 1.0, 2.0], [1.0, 2.0, -INF]):
            a = np.array(a)
            fin = np.isfinite(a)
            w = np.where(fin, np.exp(np.where(fin, a, 0) - np.log(np.exp(a[fin]).sum())), 0.0)
            for g in (wg.grad(nn.logsumexp)(a), wg.jacfwd(nn.logsumexp)(a), wg.jacrev(nn.logsumexp)(a)):
                np.testing.assert_allclose(g, w, rtol=1e-14)
                assert g[~fin].tolist() == [0.0]
            t = wg.tensor(a, requires_grad=True)
            nn.logsumexp(t).backward()
            np.testing.assert_allclose(t.grad.numpy(), w, rtol=1e-14)
        # all -inf: the value is -inf, constant under finite perturbations: gradient 0
        a = np.array([-INF, -INF])
        np.testing.assert_array_equal(wg.grad(nn.logsumexp)(a), [0.0, 0.0])
        t = wg.tensor(a, requires_grad=True)
        nn.logsumexp(t).backward()
        np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0])
        # an empty axis: gradient of the right (empty) shape
        assert wg.grad(nn.logsumexp)(np.zeros(0)).shape == (0,)
    # second derivatives at a point with a -inf entry: finite differences on the finite entries
    a = np.array([0.3, -INF, 1.1])
    H = wg.hessian(nn.logsumexp)(a)
    f = lambda v: nn.logsumexp(wnp.concatenate([v[:1], np.array([-INF]), v[1:]]))  # noqa: E731
    g = lambda v: wg.grad(f)(v)  # noqa: E731
    h = 1e-6
    v = a[[0, 2]]
    fd = np.stack([(g(v + h * e) - g(v - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(H[np.ix_([0, 2], [0, 2])], fd, atol=1e-8)
    assert not H[1].any() and not H[:, 1].any()


def test_logsumexp_gradients_vs_finite_differences():
    x = np.random.default_rng(1).normal(size=(3, 4))
    check_grads(lambda v: nn.logsumexp(v, axis=(0, 1)), (x,), order=2)
    check_grads(lambda v: nn.logsumexp(v, axis=0), (x,), order=2)


# ----------------------------------------------------------------------------
# Optimisers on complex parameters: step along the conjugate of wengert's
# (JAX-convention) gradient; second moments are |g|².

TARGET = np.array([1 + 1j, -0.5 + 2j])
Z0 = np.array([0j, 2 - 3j])
COMPLEX_OPTS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.Momentum, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.1)),
    (optim.AdamW, dict(lr=0.1, weight_decay=0.0)),
    (optim.RMSprop, dict(lr=0.05)),
    (optim.RMSprop, dict(lr=0.05, centered=True, momentum=0.5)),
    (optim.Adagrad, dict(lr=0.5)),
]


def _cplx_loss(z):
    return wnp.sum(wnp.abs(z - TARGET) ** 2)


@pytest.mark.parametrize("cls,kw", COMPLEX_OPTS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_optimisers_converge_on_complex_parameters(cls, kw):
    # functional form
    opt = cls(**kw)
    p = {"z": Z0.copy()}
    state = opt.init(p)
    for name in opt.slots:  # running means of |g|² are real, the others complex
        dt = state[name]["z"].dtype
        assert dt.kind == ("f" if name in ("v", "square_avg", "sum") else "c"), (name, dt)
    for _ in range(400):
        p, state = opt.update(wg.grad(lambda q: _cplx_loss(q["z"]))(p), state, p)
    tol = 1e-2 if cls is optim.Adagrad else 1e-4
    np.testing.assert_allclose(p["z"], TARGET, atol=tol)
    assert p["z"].dtype == np.complex128
    # Tensor form: the same numbers step for step
    z = wg.tensor(Z0, requires_grad=True)
    topt = cls([z], **kw)
    q = {"z": Z0.copy()}
    s2 = opt.init(q)
    for _ in range(30):
        topt.zero_grad()
        _cplx_loss(z).backward()
        topt.step()
        q, s2 = opt.update(wg.grad(lambda r: _cplx_loss(r["z"]))(q), s2, q)
    np.testing.assert_allclose(z.numpy(), q["z"], rtol=1e-13, atol=1e-13)


def test_complex_sgd_is_steepest_descent():
    # one plain SGD step moves z by -lr * (∂f/∂x + i ∂f/∂y) (the real-pair gradient)
    z = np.array([0.3 - 0.7j])
    h = 1e-6
    f = lambda v: float(np.sum(np.abs(v - TARGET[:1]) ** 2 + np.real(v) ** 3))  # noqa: E731
    d = (f(z + h) - f(z - h)) / (2 * h) + 1j * (f(z + 1j * h) - f(z - 1j * h)) / (2 * h)
    opt = optim.SGD(lr=0.01)
    loss = lambda v: wnp.sum(wnp.abs(v - TARGET[:1]) ** 2 + wnp.real(v) ** 3)  # noqa: E731
    new, _ = opt.update(wg.grad(loss)(z), opt.init(z), z)
    np.testing.assert_allclose(new, z - 0.01 * d, rtol=1e-9)


def test_complex_sgd_matches_torch_and_adaptive_ones_converge_like_it():
    torch = pytest.importorskip("torch")
    for name, kw, steps in (("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1), 50),
                            ("Adam", dict(lr=0.1), 300), ("RMSprop", dict(lr=0.05), 300)):
        zt = torch.tensor(Z0, requires_grad=True)
        ot = getattr(torch.optim, name)([zt], **kw)
        z = wg.tensor(Z0, requires_grad=True)
        o = getattr(optim, name)([z], **kw)
        for _ in range(steps):
            ot.zero_grad()
            ((zt - torch.tensor(TARGET)).abs() ** 2).sum().backward()
            ot.step()
            o.zero_grad()
            _cplx_loss(z).backward()
            o.step()
            if name == "SGD":  # the same update rule: the same numbers
                np.testing.assert_allclose(z.numpy(), zt.detach().numpy(), rtol=1e-12, atol=1e-14)
        if name != "SGD":
            # PyTorch's adaptive optimisers treat Re and Im as two real parameters
            # (view_as_real); wengert's use |g|² (optax's choice): both converge
            np.testing.assert_allclose(zt.detach().numpy(), TARGET, atol=1e-3)
            np.testing.assert_allclose(z.numpy(), TARGET, atol=1e-3)


# ----------------------------------------------------------------------------
# Tensor.to_dot() after backward()


def _labels(dot):
    """{node name: label} of a DOT text from Tensor.to_dot()."""
    out = {}
    for line in dot.splitlines():
        line = line.strip()
        if "[label=\"{" in line:
            name, rest = line.split(" ", 1)
            out[name] = rest.split('"')[1].strip("{}")
    return out


@pytest.fixture
def drawing(monkeypatch):
    """Control whether backward() records graphs for drawing (on once any
    Tensor graph has been drawn in the process)."""
    from wengert import _tensor_drawing
    monkeypatch.setattr(_tensor_drawing.STATE, "enabled", False)
    return _tensor_drawing


@pytest.mark.parametrize("how", ["recorded", "retained"])
def test_to_dot_after_backward_shows_every_value_and_gradient(drawing, how):
    drawing.STATE.enabled = how == "recorded"
    xv = np.array([0.5, -1.25])
    x = wg.tensor(xv, requires_grad=True)
    c = wg.tensor([2.0, 3.0])  # a constant input
    sq = x * x
    s = sq.sin()
    y = (s * c).sum()
    del sq, s  # the drawing must not need them
    y.backward(retain_graph=how == "retained")
    labels = _labels(y.to_dot())
    assert len(labels) == 6  # x, c and the four operations
    fmt = lambda a: np.array2string(np.asarray(a), precision=5, separator=" ")  # noqa: E731
    # every node: its value and d(y)/d(node), against the closed forms
    expect = {
        "mul": (xv * xv, np.cos(xv * xv) * [2.0, 3.0]),
        "sin": (np.sin(xv * xv), np.array([2.0, 3.0])),
        "reduce_sum": (np.sum(np.sin(xv * xv) * [2.0, 3.0]), np.array(1.0)),
    }
    seen = set()
    for label in labels.values():
        for op, (val, grad) in expect.items():
            if f"= {op}|" in label and f"value {fmt(val)}" in label:
                assert f"grad {fmt(grad)}" in label, label
                seen.add(op)
    assert seen == set(expect)
    leaf = [lab for lab in labels.values() if "leaf, requires_grad" in lab]
    assert leaf == [f"v1 (leaf, requires_grad)|f64[2]|value {fmt(xv)}|grad {fmt(2 * xv * np.cos(xv * xv) * [2, 3])}"]
    assert any(lab.startswith("v2 (input)|f64[2]|value [2. 3.]|grad -") for lab in labels.values())
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv * np.cos(xv * xv) * [2, 3])
    if how == "retained":  # drawing changed nothing: the graph is still usable
        y.backward()
        np.testing.assert_allclose(x.grad.numpy(), 4 * xv * np.cos(xv * xv) * [2, 3])
    assert "v5 = mul v4 v2" in y.to_wengert()


def test_drawing_after_a_freeing_backward_before_any_drawing(drawing):
    x = wg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    for draw in (y.to_dot, y.graph, y.to_wengert):
        with pytest.raises(RuntimeError, match=r"(?s)backward\(\) has freed this graph.*no Tensor graph had "
                                               r"been drawn.*retain_graph=True"):
            draw()
    assert drawing.STATE.enabled  # from now on graphs are recorded
    y = (x * x).sum()
    y.backward()
    assert "value 5.|grad 1." in y.to_dot()


def test_recording_skips_big_graphs_and_keeps_no_big_buffers(drawing, monkeypatch):
    import weakref
    drawing.STATE.enabled = True
    x = wg.tensor(np.ones(1000), requires_grad=True)
    y = (x.sin() * x).sum()
    probe = weakref.ref(y._node[2][0])  # the 1000-element product
    y.backward()
    assert probe() is None  # freed by backward, recording or not
    assert "value f64[1000]|grad f64[1000]" in y.to_dot()  # large values print as shapes
    monkeypatch.setattr(drawing, "LIMIT", 3)
    y = ((x * 2.0).sin() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="more than 3 tensors, too many to record"):
        y.to_dot()


def test_recorded_drawing_of_a_non_scalar_output_uses_its_seed(drawing):
    drawing.STATE.enabled = True
    w = wg.tensor(np.ones((2, 3)), requires_grad=True)
    y = (w * 2.0).sum(axis=0)
    y.backward(np.array([1.0, 2.0, 3.0]))
    dot = y.to_dot()
    assert "value [4. 4. 4.]|grad [1. 2. 3.]" in dot
    assert "value f64[2,3]|grad f64[2,3]" in dot
