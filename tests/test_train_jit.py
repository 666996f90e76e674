"""A whole training step under ``wg.jit`` (issue 12): integer labels in
cross_entropy, the optimiser's step count and the learning-rate schedule as
traced state; the jitted loss curve equals the eager one step for step."""

import numpy as np
import pytest

import wengert as wg
from wengert import nn, optim
from wengert.nn import losses

R = np.random.default_rng(0)
X = R.normal(size=(32, 4))
Y = R.integers(0, 3, size=32)

OPTS = [
    lambda: optim.SGD(lr=0.1),
    lambda: optim.SGD(lr=optim.step_decay(0.1, step_size=5, gamma=0.5), momentum=0.9, dampening=0.1),
    lambda: optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: optim.Adam(lr=optim.warmup_cosine(0.05, warmup_steps=5, total_steps=15)),
    lambda: optim.AdamW(lr=optim.exponential_decay(0.02, 0.9), weight_decay=0.1),
    lambda: optim.RMSprop(lr=optim.linear_warmup(0.01, 4), centered=True, momentum=0.5),
    lambda: optim.Adagrad(lr=optim.cosine_decay(0.1, total_steps=10), lr_decay=0.01),
    lambda: optim.Adam(lr=lambda t: 0.01 / (1.0 + t)),  # a user's own schedule
]


def _curves(opt, loss, params, n=20, *args):
    def step(p, s, *a):
        value, g = wg.value_and_grad(loss)(p, *a)
        p, s = opt.update(g, s, p)
        return p, s, value

    js = wg.jit(step)
    curves = []
    for f in (step, js):
        p, s, vals = params, opt.init(params), []
        for _ in range(n):
            p, s, v = f(p, s, *args)
            vals.append(float(v))
        curves.append((np.array(vals), p, s))
    return curves


@pytest.mark.parametrize("make_opt", OPTS, ids=range(len(OPTS)))
def test_jitted_step_equals_eager_functional(make_opt):
    model = nn.MLP([4, 8, 3], activation="tanh", seed=1)
    loss = lambda p, x, y: losses.cross_entropy(model.apply(p, x), y)  # noqa: E731
    (le, pe, se), (lj, pj, sj) = _curves(make_opt(), loss, model.params, 20, X, Y)
    np.testing.assert_allclose(lj, le, rtol=1e-12, atol=0)
    for a, b in zip(wg.tree_util.tree_leaves(pj), wg.tree_util.tree_leaves(pe)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)
    assert int(sj["count"]) == int(se["count"]) == 20
    assert le[-1] < le[0]


def test_jitted_step_with_a_pytorch_style_module():
    class Net(nn.Module):
        def __init__(self):
            self.fc1 = nn.Linear(4, 8, seed=0)
            self.fc2 = nn.Linear(8, 3, seed=1)

        def forward(self, x):
            return self.fc2(nn.relu(self.fc1(x)))

    net = Net()
    loss = lambda p, x, y: losses.cross_entropy(nn.functional_call(net, p, x), y)  # noqa: E731
    (le, _, _), (lj, pj, _) = _curves(optim.Adam(lr=0.05), loss, net.state_dict(), 20, X, Y)
    np.testing.assert_allclose(lj, le, rtol=1e-12, atol=0)
    before = net.state_dict()
    net.load_state_dict(pj)  # write the trained parameters back
    assert losses.cross_entropy(net(X), Y) < le[0]
    assert not np.array_equal(net.state_dict()["fc1.weight"], before["fc1.weight"])


def test_jitted_step_in_the_tensor_style():
    # tensors made inside the jitted step, loss.backward(), .grad, then the
    # functional update: the Tensor trace runs on jit's traced values
    net = nn.MLP([4, 8, 3], activation="tanh", seed=2)
    opt = optim.Adam(lr=optim.cosine_decay(0.05, total_steps=20))

    def step(p, s, x, y):
        w = wg.tree_util.tree_map(lambda a: wg.tensor(a, requires_grad=True), p)
        loss = losses.cross_entropy(nn.functional_call(net, w, wg.tensor(x)), y)
        loss.backward()
        g = wg.tree_util.tree_map(lambda t: t.grad.data, w)
        p, s = opt.update(g, s, p)
        return p, s, loss.data

    js = wg.jit(step)
    curves = []
    for f in (step, js):
        p, s, vals = net.params, opt.init(net.params), []
        for _ in range(20):
            p, s, v = f(p, s, X, Y)
            vals.append(float(v))
        curves.append(np.array(vals))
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-12, atol=0)
    assert curves[0][-1] < curves[0][0]


def test_jitted_step_with_one_hot_targets_and_a_module_pytree():
    model = nn.Sequential(nn.Linear(4, 8, seed=0), nn.Tanh(), nn.Linear(8, 3, seed=1))
    T = np.eye(3)[Y]
    loss = lambda m, x, t: losses.cross_entropy(m(x), t, label_smoothing=0.1)  # noqa: E731
    (le, _, _), (lj, pj, _) = _curves(optim.SGD(lr=0.2, momentum=0.9), loss, model, 15, X, T)
    np.testing.assert_allclose(lj, le, rtol=1e-12, atol=0)
    assert type(pj) is nn.Sequential


def test_jitted_step_compiles_once():
    model = nn.MLP([4, 8, 3], seed=0)
    opt = optim.Adam(lr=optim.warmup_cosine(0.01, 2, 10))
    traces = []

    def step(p, s, x, y):
        traces.append(1)
        g = wg.grad(lambda q: losses.cross_entropy(model.apply(q, x), y))(p)
        return opt.update(g, s, p)

    js = wg.jit(step)
    p, s = model.params, opt.init(model.params)
    for _ in range(6):
        p, s = js(p, s, X, Y)
    assert len(traces) == 1  # the count and the schedule are traced, not baked in


def test_traced_integer_labels():
    logits = R.normal(size=(5, 3))
    y = np.array([0, 2, 1, 1, 0])
    ref = losses.cross_entropy(logits, y, reduction="none")
    np.testing.assert_allclose(wg.jit(lambda z, t: losses.cross_entropy(z, t, reduction="none"))(logits, y),
                               ref, rtol=1e-15)
    np.testing.assert_allclose(wg.vmap(lambda z, t: losses.cross_entropy(z, t))(logits, y), ref, rtol=1e-15)
    np.testing.assert_allclose(wg.jit(lambda z, t: losses.nll(z, t))(logits, y), losses.nll(logits, y),
                               rtol=1e-15)
    # labels along another axis
    np.testing.assert_allclose(wg.jit(lambda z, t: losses.cross_entropy(z, t, axis=0))(logits.T, y),
                               losses.cross_entropy(logits.T, y, axis=0), rtol=1e-15)
    # the gradient with traced labels is softmax - one_hot
    g = wg.jit(wg.grad(lambda z, t: losses.cross_entropy(z, t, reduction="sum")))(logits, y)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(g, p - np.eye(3)[y], rtol=1e-12, atol=1e-15)
    # an out-of-range label: an error eagerly, NaN (never a wrong number) under jit
    bad = np.array([0, 3, 1, 1, -1])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        losses.cross_entropy(logits, bad)
    out = wg.jit(lambda z, t: losses.cross_entropy(z, t, reduction="none"))(logits, bad)
    assert np.isnan(out[[1, 4]]).all() and np.isfinite(out[[0, 2, 3]]).all()
    assert np.isnan(wg.jit(losses.cross_entropy)(logits, bad))
    with pytest.raises(TypeError, match="integer class labels expected"):
        wg.jit(lambda z, t: losses.nll(z, t))(logits, y.astype(float))


def test_traced_schedules_equal_eager():
    for s in (optim.constant(0.3), optim.step_decay(1.0, 3, 0.5), optim.exponential_decay(1.0, 0.9),
              optim.cosine_decay(1.0, 7, 0.1), optim.linear_warmup(1.0, 4, 0.1),
              optim.linear_warmup(1.0, 0), optim.warmup_cosine(0.5, 3, 9, 0.05)):
        j = wg.jit(lambda t, s=s: s(t))
        for t in range(12):
            assert float(j(t)) == pytest.approx(s(t), rel=1e-15, abs=1e-17), (s, t)


@pytest.mark.parametrize("make_opt", OPTS, ids=range(len(OPTS)))
def test_float32_parameters_stay_float32_under_jit(make_opt):
    opt = make_opt()
    p = {"w": np.linspace(-1, 1, 4).astype(np.float32)}
    g = {"w": np.array([0.5, -1.0, 2.0, 0.25], np.float32)}
    ju = wg.jit(opt.update)
    pe, se = p, opt.init(p)
    pj, sj = p, opt.init(p)
    for _ in range(3):
        pe, se = opt.update(g, se, pe)
        pj, sj = ju(g, sj, pj)
    for a, b in zip(wg.tree_util.tree_leaves((pj, sj)), wg.tree_util.tree_leaves((pe, se))):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("make_opt", OPTS, ids=range(len(OPTS)))
def test_fused_jitted_update_is_bit_identical(make_opt):
    # under jit small parameters are updated as one concatenated vector; the
    # update is elementwise, so every number is the same as leaf by leaf
    opt = make_opt()
    r = np.random.default_rng(5)
    shapes = [(3, 4), (4,), (), (2, 1, 3)]
    cases = {
        "fused": [r.normal(size=s) for s in shapes],
        "mixed dtypes": [r.normal(size=s).astype(np.float32 if i % 2 else np.float64)
                         for i, s in enumerate(shapes)],
        "large": [r.normal(size=(130, 130)), r.normal(size=3)],
    }
    for what, p in cases.items():
        g = [r.normal(size=np.shape(x)).astype(np.asarray(x).dtype) for x in p]
        ju = wg.jit(opt.update)
        pe, se, pj, sj = p, opt.init(p), p, opt.init(p)
        for _ in range(4):
            pe, se = opt.update(g, se, pe)
            pj, sj = ju(g, sj, pj)
        for a, b in zip(wg.tree_util.tree_leaves((pj, sj)), wg.tree_util.tree_leaves((pe, se))):
            np.testing.assert_array_equal(a, b, err_msg=what)


def test_example_script_runs(capsys):
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "jit_train_step.py"
    spec = importlib.util.spec_from_file_location("jit_train_step", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(steps=3, repeat=1)
    assert out["diff"] == 0.0 and "jitted whole step" in capsys.readouterr().out
