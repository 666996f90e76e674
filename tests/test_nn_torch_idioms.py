"""PyTorch idioms for wg.Tensor and nn (issue 12): factories, Tensor.T /
detach / requires_grad_, no_grad as decorator, Module.forward, named_parameters,
state_dict / load_state_dict, train / eval with Dropout, functional_call —
each against PyTorch's semantics, and against torch itself where installed."""

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import nn, optim
from wengert.nn import losses

# ----------------------------------------------------------------------------
# Tensor factories


def test_factories_shapes_dtypes_requires_grad():
    for f in (wg.zeros, wg.ones, wg.randn, wg.rand):
        a, b = f(2, 3), f((2, 3))
        assert a.shape == b.shape == (2, 3) and a.dtype == np.float64 and not a.requires_grad
        assert a.is_leaf
        c = f(4, dtype=np.float32, requires_grad=True)
        assert c.dtype == np.float32 and c.requires_grad and c.is_leaf
    np.testing.assert_array_equal(wg.zeros(2).numpy(), np.zeros(2))
    np.testing.assert_array_equal(wg.ones(2, 1).numpy(), np.ones((2, 1)))
    np.testing.assert_array_equal(wg.full((2,), 3.5).numpy(), [3.5, 3.5])
    np.testing.assert_array_equal(wg.eye(2, 3).numpy(), np.eye(2, 3))
    np.testing.assert_array_equal(wg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    # arange: NumPy's dtypes (int64 for ints), PyTorch's argument order
    assert wg.arange(4).dtype == np.int64 and wg.arange(4).numpy().tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(wg.arange(1, 7, 2).numpy(), [1, 3, 5])
    r = wg.arange(0.0, 1.0, 0.25, requires_grad=True)
    assert r.requires_grad and r.dtype == np.float64
    # *_like
    x = wg.tensor(np.ones((2, 2), np.float32))
    assert wg.zeros_like(x).dtype == np.float32 and wg.ones_like(x).shape == (2, 2)
    assert wg.full_like(x, 2.0).numpy().sum() == 8.0
    assert wg.randn_like(x, generator=0).dtype == np.float32 and wg.rand_like(np.zeros(3)).shape == (3,)


def test_random_factories_generator_and_seed():
    a = wg.randn(5, generator=3).numpy()
    np.testing.assert_array_equal(a, np.random.default_rng(3).standard_normal(5))
    g = np.random.default_rng(3)
    np.testing.assert_array_equal(wg.randn(5, generator=g).numpy(), a)
    assert not np.array_equal(wg.randn(5, generator=g).numpy(), a)  # the generator advanced
    u = wg.rand(1000, generator=0).numpy()
    assert 0.0 <= u.min() and u.max() < 1.0


def test_factory_errors():
    with pytest.raises(TypeError, match=r"wg.zeros: sizes must be non-negative ints"):
        wg.zeros(2.5)
    with pytest.raises(TypeError, match=r"wg.randn: generator must be a np.random.Generator or an int"):
        wg.randn(2, generator="seed")
    with pytest.raises(RuntimeError, match=r"wg.arange\(..., requires_grad=True\).*dtype=float"):
        wg.arange(3, requires_grad=True)
    with pytest.raises(TypeError, match="wg.cat: expected a list or tuple"):
        wg.cat(wg.ones(2))
    with pytest.raises(ValueError, match="wg.stack: expected a non-empty list"):
        wg.stack([])


def test_cat_and_stack_are_differentiable():
    a = wg.tensor([1.0, 2.0], requires_grad=True)
    b = wg.tensor([3.0], requires_grad=True)
    y = wg.cat([a, b * b], dim=0)
    (y * wg.arange(1.0, 4.0)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [2 * 3.0 * 3.0])
    c = wg.tensor([[1.0, 2.0]], requires_grad=True)
    s = wg.stack([c, 2 * c], dim=1)
    assert s.shape == (1, 2, 2)
    (s ** 2).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), 2 * c.numpy() + 8 * c.numpy())
    assert wg.stack([np.ones(2), np.zeros(2)], axis=1).shape == (2, 2)


def test_factories_match_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in ((wg.zeros(2, 3), torch.zeros(2, 3)), (wg.ones((3,)), torch.ones((3,))),
                         (wg.arange(1, 7, 2), torch.arange(1, 7, 2)), (wg.eye(3, 2), torch.eye(3, 2)),
                         (wg.full((2, 2), 1.5), torch.full((2, 2), 1.5)),
                         (wg.linspace(-1, 1, 5), torch.linspace(-1, 1, 5, dtype=torch.float64))):
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())
    a, b = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)
    for dim in (0, 1, -1):
        np.testing.assert_array_equal(wg.cat([wg.tensor(a), wg.tensor(b)], dim=dim).numpy(),
                                      torch.cat([torch.tensor(a), torch.tensor(b)], dim=dim).numpy())
        np.testing.assert_array_equal(wg.stack([wg.tensor(a), wg.tensor(b)], dim=dim).numpy(),
                                      torch.stack([torch.tensor(a), torch.tensor(b)], dim=dim).numpy())


# ----------------------------------------------------------------------------
# Tensor.T, detach, requires_grad_, no_grad / enable_grad


def test_T_detach_requires_grad_():
    x = wg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    assert x.T.shape == (3, 1)
    (x.T * wg.tensor([[1.0], [2.0], [3.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 2.0, 3.0]])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and np.shares_memory(d.numpy(), x.numpy())
    y = wg.tensor([1.0, 2.0])
    assert y.requires_grad_() is y and y.requires_grad
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    assert not y.requires_grad_(False).requires_grad
    z = x * 2
    with pytest.raises(RuntimeError):
        z.requires_grad_(False)  # a non-leaf (PyTorch refuses this too)


def test_no_grad_decorators_and_enable_grad():
    x = wg.tensor(2.0, requires_grad=True)

    @wg.no_grad
    def bare(t):
        return t * 3

    @wg.no_grad()
    def called(t):
        return t * 3

    @wg.enable_grad
    def back_on(t):
        return t * 3

    assert bare.__name__ == "bare"
    assert not bare(x).requires_grad and not called(x).requires_grad
    assert (x * 3).requires_grad  # the mode is restored after the call
    with wg.no_grad():
        assert back_on(x).requires_grad and not (x * 3).requires_grad
        with wg.enable_grad():
            assert (x * 3).requires_grad
        assert not (x * 3).requires_grad

    # an exception inside restores the mode
    @wg.no_grad
    def boom(t):
        raise ValueError("x")
    with pytest.raises(ValueError):
        boom(x)
    assert (x * 3).requires_grad


# ----------------------------------------------------------------------------
# Modules in the PyTorch style


class Net(nn.Module):
    def __init__(self, p=0.0):
        super().__init__()
        self.fc1 = nn.Linear(2, 8, seed=0)
        self.drop = nn.Dropout(p, seed=1)
        self.blocks = [nn.Linear(8, 8, seed=2), nn.Linear(8, 8, seed=3)]
        self.fc2 = nn.Linear(8, 3, seed=4)
        self.scale = nn.Parameter(np.full(3, 1.5))

    def forward(self, x):
        h = nn.tanh(self.fc1(x))
        h = self.drop(h)
        for b in self.blocks:
            h = nn.relu(b(h))
        return self.fc2(h) * self.scale


X = np.random.default_rng(0).normal(size=(6, 2))
Y = np.array([0, 1, 2, 0, 1, 2])


def test_forward_call_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["blocks.0.bias", "blocks.0.weight", "blocks.1.bias", "blocks.1.weight",
                     "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "scale"]
    tensors = net.parameters()
    assert all(t is u for (_, t), u in zip(net.named_parameters(), tensors))
    assert all(isinstance(t, wg.Tensor) and t.requires_grad for t in tensors)
    out = net(X)
    h = np.tanh(X @ net.fc1.params["weight"].numpy().T + net.fc1.params["bias"].numpy())
    for b in net.blocks:
        h = np.maximum(h @ b.params["weight"].numpy().T + b.params["bias"].numpy(), 0)
    ref = (h @ net.fc2.params["weight"].numpy().T + net.fc2.params["bias"].numpy()) * 1.5
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-13)
    # built-in modules: forward is apply(params, x); Sequential names layers by index
    lin = nn.Linear(3, 2, seed=0)
    np.testing.assert_array_equal(lin.forward(np.ones((1, 3))), lin(np.ones((1, 3))))
    seq = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1))
    assert [n for n, _ in seq.named_parameters()] == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert len(net.children()) == 5 and len(net.modules()) == 6


def test_module_without_forward_or_apply_is_a_clear_error():
    class Empty(nn.Module):
        pass
    with pytest.raises(TypeError, match="defines neither"):
        Empty()(1.0)


def test_torch_style_module_trains_functionally_tensor_style_and_as_pytree():
    net = Net()
    sd = net.state_dict()
    loss = lambda p: losses.cross_entropy(nn.functional_call(net, p, X), Y)  # noqa: E731
    g = wg.grad(loss)(sd)
    assert sorted(g) == sorted(sd)
    # against central differences on one entry of each parameter
    h = 1e-6
    for name in ("fc1.weight", "scale", "blocks.1.bias"):
        e = np.zeros_like(sd[name])
        e.flat[0] = h
        fd = (float(loss({**sd, name: sd[name] + e})) - float(loss({**sd, name: sd[name] - e}))) / (2 * h)
        np.testing.assert_allclose(g[name].flat[0], fd, rtol=1e-6, atol=1e-9)
    # functional_call leaves the module as it was
    np.testing.assert_array_equal(net.state_dict()["fc1.weight"], sd["fc1.weight"])
    # the same gradient through the model as a pytree and through backward()
    gm = wg.grad(lambda m: losses.cross_entropy(m(X), Y))(net)
    assert type(gm) is Net
    np.testing.assert_allclose(gm.fc1.params["weight"], g["fc1.weight"], rtol=1e-12)
    np.testing.assert_allclose(gm.scale, g["scale"], rtol=1e-12)
    named = net.named_parameters()  # makes the parameters Tensors (once)
    losses.cross_entropy(net(wg.tensor(X)), Y).backward()
    for n, t in named:
        np.testing.assert_allclose(t.grad.numpy(), g[n], rtol=1e-12, atol=1e-15)
    # and it trains
    opt = optim.Adam(net.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        losses.cross_entropy(net(wg.tensor(X)), Y).backward()
        opt.step()
    assert losses.accuracy(net(X), Y) == 1.0


def test_state_dict_roundtrip_and_errors():
    a, b = Net(), Net()
    b.load_state_dict({k: v + 1.0 for k, v in a.state_dict().items()})
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v + 1.0)
    sd = a.state_dict()
    sd["fc1.weight"][...] = 0.0  # a copy: the model is unchanged
    assert np.any(a.state_dict()["fc1.weight"] != 0)
    # tensors are updated in place: an optimizer built before loading still holds them
    t = a.parameters()
    opt = optim.SGD(t, lr=0.1)
    a.load_state_dict(b.state_dict())
    assert a.parameters()[0] is t[0] and opt.tensors[0] is t[0]
    np.testing.assert_array_equal(t[0].numpy(), b.state_dict()["blocks.0.bias"])
    # strict: missing and unexpected keys, named
    bad = dict(b.state_dict())
    del bad["scale"]
    bad["extra.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r'(?s)Error\(s\) in loading state_dict for Net:.*'
                                           r'Unexpected key\(s\) in state_dict: "extra.weight".*'
                                           r'Missing key\(s\) in state_dict: "scale"'):
        a.load_state_dict(bad)
    res = a.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["scale"] and res.unexpected_keys == ["extra.weight"]
    # shape mismatches are errors even when not strict (as in PyTorch), and nothing is loaded
    before = a.state_dict()
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight: copying a param with shape "
                                           r"\(2, 8\) from checkpoint, the shape in current model is \(8, 2\)"):
        a.load_state_dict({**b.state_dict(), "fc1.weight": np.zeros((2, 8)), "scale": np.zeros(3)},
                          strict=False)
    for k, v in before.items():
        np.testing.assert_array_equal(a.state_dict()[k], v)
    with pytest.raises(TypeError, match="expected a dict of arrays"):
        a.load_state_dict([1, 2])


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)).double()
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    # our state_dict loads into torch and gives the same outputs (same layout)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).normal(size=(4, 2))
    np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-13)
    # and back
    ours2 = nn.Sequential(nn.Linear(2, 3, seed=5), nn.ReLU(), nn.Linear(3, 1, seed=6))
    ours2.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours2(x), ours(x), rtol=1e-15)


def test_train_eval_and_dropout():
    net = Net(p=0.5)
    assert net.training and net.drop.training
    assert net.eval() is net and not net.training and not net.drop.training
    assert all(not m.training for m in net.blocks)
    np.testing.assert_array_equal(net(X).data, net(X).data)  # deterministic in eval mode
    net.train()
    assert net.drop.training
    x = np.ones((200, 50))
    d = nn.Dropout(0.3, seed=0)
    y = d(x)
    kept = y != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(y[kept], 1 / 0.7)  # inverted dropout: the mean is kept
    np.testing.assert_array_equal(d.eval()(x), x)
    with pytest.raises(TypeError, match="mode must be a bool"):
        d.train("yes")
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\]"):
        nn.Dropout(1.5)
    # the gradient goes through the kept elements, scaled
    mask = nn.dropout_mask(0, (5,), 0.4)
    g = wg.grad(lambda v: wnp.sum(nn.dropout(v, 0.4, mask=mask)))(np.ones(5))
    np.testing.assert_allclose(g, mask / 0.6)
    t = wg.tensor(np.ones(5), requires_grad=True)
    nn.dropout(t, 0.4, mask=mask).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), mask / 0.6)


def test_dropout_refuses_to_draw_inside_jit_and_vmap():
    d = nn.Dropout(0.5, seed=0)
    with pytest.raises(TypeError, match="inside wg.jit or wg.vmap would freeze"):
        wg.jit(lambda x: d(x))(np.ones(3))
    with pytest.raises(TypeError, match="inside wg.jit or wg.vmap"):
        wg.vmap(lambda x: d(x))(np.ones((2, 3)))
    # eval mode, or a mask passed in, works under jit
    np.testing.assert_array_equal(wg.jit(lambda x: d.eval()(x))(np.ones(3)), np.ones(3))
    d.train()
    m = nn.dropout_mask(1, (3,), 0.5)
    out = wg.jit(lambda x, m: nn.dropout(x, 0.5, mask=m))(np.ones(3), m)
    np.testing.assert_array_equal(out, 2.0 * m)


def test_dropout_matches_torch_semantics():
    torch = pytest.importorskip("torch")
    # the same scaling: kept elements become x / (1 - p); eval is the identity
    x = torch.ones(10000, dtype=torch.float64)
    dt = torch.nn.Dropout(0.25)
    yt = dt(x)
    kept = yt[yt != 0]
    ours = nn.Dropout(0.25, seed=0)(np.ones(10000))
    np.testing.assert_allclose(np.unique(ours[ours != 0]), np.unique(kept.numpy()))
    assert np.array_equal(dt.eval()(x).numpy(), nn.Dropout(0.25).eval()(np.ones(10000)))


def _val(t):
    """The values (np.asarray of a Tensor that requires grad raises, as in PyTorch)."""
    return t.data if isinstance(t, wg.Tensor) else t


def test_functional_call_forms():
    lin = nn.Linear(2, 1, seed=0)
    x = np.ones((3, 2))
    w = {"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.5])}
    np.testing.assert_array_equal(nn.functional_call(lin, w, x), np.full((3, 1), 3.5))
    np.testing.assert_array_equal(nn.functional_call(lin, w, (x,)), np.full((3, 1), 3.5))
    # dotted names, partial: the rest comes from the module
    net = Net()
    y0 = net(X)
    part = nn.functional_call(net, {"scale": np.ones(3)}, X)
    np.testing.assert_allclose(_val(part * 1.5), _val(y0), rtol=1e-13)
    np.testing.assert_array_equal(_val(net(X)), _val(y0))  # unchanged
    # model-shaped pytree (what opt.update returns) works too
    np.testing.assert_array_equal(_val(nn.functional_call(net, net.params, X)), _val(y0))
    with pytest.raises(KeyError, match=r"unknown parameter name\(s\) \['fc9.weight'\]"):
        nn.functional_call(net, {"fc9.weight": np.zeros(1)}, X)
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        nn.functional_call(lambda x: x, {}, X)


def test_functional_call_matches_torch_func():
    torch = pytest.importorskip("torch")
    from torch.func import functional_call
    ours = nn.Linear(3, 2, seed=0)
    theirs = torch.nn.Linear(3, 2).double()
    p = {"weight": np.arange(6.0).reshape(2, 3) / 7, "bias": np.array([0.1, -0.2])}
    x = np.random.default_rng(2).normal(size=(4, 3))
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    out = functional_call(theirs, tp, (torch.tensor(x),))
    (out ** 2).sum().backward()
    g = wg.grad(lambda q: wnp.sum(nn.functional_call(ours, q, x) ** 2))(p)
    np.testing.assert_allclose(nn.functional_call(ours, p, x), out.detach().numpy(), rtol=1e-13)
    for k in p:
        np.testing.assert_allclose(g[k], tp[k].grad.numpy(), rtol=1e-12)


def test_transpose_tuple_is_numpys_permutation_two_ints_are_torchs_swap():
    # fuzz finding F2: t.transpose((0, 1)) swapped axes (silently a wrong shape)
    a = np.arange(6.0).reshape(1, 2, 3)
    t = wg.tensor(a[0], requires_grad=True)
    assert t.transpose((0, 1)).shape == (2, 3) and t.transpose([1, 0]).shape == (3, 2)
    assert t.transpose(0, 1).shape == (3, 2) and t.transpose().shape == (3, 2)
    u = wg.tensor(a)
    for axes in ((2, 0, 1), (0, 1, 2), (1, 0, 2)):
        np.testing.assert_array_equal(u.transpose(axes).numpy(), a.transpose(axes))
        np.testing.assert_array_equal(u.transpose(*axes).numpy(), a.transpose(*axes))
    np.testing.assert_array_equal(u.transpose(0, 2).numpy(), np.swapaxes(a, 0, 2))
    (t.transpose((0, 1)) * wg.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.arange(6.0).reshape(2, 3))


def test_functional_module_with_submodule_attributes_keeps_its_own_params():
    # a module in the functional style (it defines apply) that also keeps a
    # submodule as an attribute: params is what it sets, as before
    class Residual(nn.Module):
        def __init__(self):
            self.block = nn.Linear(2, 2, seed=0)
            self.params = self.block.params

        def apply(self, params, x):
            return x + self.block.apply(params, x)

    r = Residual()
    assert sorted(r.params) == ["bias", "weight"]
    x = np.ones((3, 2))
    np.testing.assert_allclose(r(x), x + r.block(x))
    g = wg.grad(lambda p: wnp.sum(r.apply(p, x)))(r.params)
    np.testing.assert_allclose(g["weight"], np.full((2, 2), 3.0))
    assert [n for n, _ in r.named_parameters()] == ["bias", "weight"]
    assert "fc1" in repr(Net()) and "blocks.1" in repr(Net()) and "scale" in repr(Net())


def test_tensor_idioms_match_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(6.0).reshape(2, 3)
    for ours, theirs in ((wg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)),):
        assert ours.T.shape == tuple(theirs.T.shape)
        np.testing.assert_array_equal(ours.T.numpy(), theirs.T.detach().numpy())
        # detach: no grad, same storage
        d, dt = ours.detach(), theirs.detach()
        assert d.requires_grad == dt.requires_grad is False
        assert np.shares_memory(d.numpy(), ours.numpy()) and dt.data_ptr() == theirs.data_ptr()
        # requires_grad_ on a non-leaf: both refuse
        with pytest.raises(RuntimeError):
            (theirs * 2).requires_grad_(False)
        with pytest.raises(RuntimeError):
            (ours * 2).requires_grad_(False)

    # no_grad as a bare decorator and with parentheses, enable_grad inside
    def twice(t):
        return t * 2

    for deco, tdeco in ((wg.no_grad, torch.no_grad), (wg.no_grad(), torch.no_grad())):
        assert deco(twice)(wg.tensor(1.0, requires_grad=True)).requires_grad == \
            tdeco(twice)(torch.tensor(1.0, requires_grad=True)).requires_grad == False  # noqa: E712
    with wg.no_grad(), torch.no_grad():
        assert wg.enable_grad()(twice)(wg.tensor(1.0, requires_grad=True)).requires_grad == \
            torch.enable_grad()(twice)(torch.tensor(1.0, requires_grad=True)).requires_grad == True  # noqa: E712
