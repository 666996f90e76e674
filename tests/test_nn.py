"""wengert.nn: layers and init, activations and losses against NumPy / torch
references, their gradients against finite differences, training to high
accuracy (functional and Tensor style), and the example script."""

import pathlib
import runpy
import sys

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import nn, optim
from wengert.nn import losses

R = np.random.default_rng(3)
ROOT = pathlib.Path(__file__).resolve().parents[1]


def fd_grad(f, x, h=1e-6):
    """Central differences of scalar f at array x."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


# ----------------------------------------------------------------------------
# Activations


ACTS = [
    ("relu", nn.relu, lambda x: np.maximum(x, 0)),
    ("leaky_relu", lambda x: nn.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    ("elu", nn.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    ("tanh", nn.tanh, np.tanh),
    ("sigmoid", nn.sigmoid, sigmoid_ref),
    ("silu", nn.silu, lambda x: x * sigmoid_ref(x)),
    ("softplus", nn.softplus, lambda x: np.log1p(np.exp(x))),
    ("gelu", nn.gelu, lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    ("softmax", nn.softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ("log_softmax", nn.log_softmax, lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
    ("logsumexp", nn.logsumexp, lambda x: np.log(np.exp(x).sum(-1))),
]


@pytest.mark.parametrize("name, f, ref", ACTS, ids=[a[0] for a in ACTS])
def test_activation_values_and_gradients(name, f, ref):
    x = R.normal(size=(3, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5   # keep finite differences away from kinks
    np.testing.assert_allclose(f(x), ref(x), rtol=1e-12, atol=1e-12)
    w = R.normal(size=np.shape(ref(x)))
    loss = lambda z: wnp.sum(f(z) * w)
    np.testing.assert_allclose(wg.grad(loss)(x), fd_grad(lambda z: np.sum(ref(z) * w), x),
                               rtol=1e-6, atol=1e-7)
    wg.check_grads(loss, (x,), order=2)


@pytest.mark.parametrize("name, cls", [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid),
                                       ("softplus", nn.Softplus), ("gelu", nn.GELU),
                                       ("softmax", nn.Softmax), ("log_softmax", nn.LogSoftmax),
                                       ("leaky_relu", nn.LeakyReLU), ("silu", nn.SiLU)])
def test_activation_modules_match_functions(name, cls):
    x = R.normal(size=(2, 5))
    np.testing.assert_allclose(cls()(x), getattr(nn, name)(x))
    assert cls().params is None
    assert type(nn.activation(name)) is cls


def test_kinks_and_stability():
    assert float(wg.grad(nn.relu)(0.0)) == 0.0
    assert float(wg.grad(lambda x: nn.leaky_relu(x, 0.2))(-1.0)) == pytest.approx(0.2)
    big = np.array([[1000.0, -1000.0, 0.0]])
    assert np.all(np.isfinite(nn.log_softmax(big))) and np.all(np.isfinite(nn.softmax(big)))
    g = wg.grad(lambda z: wnp.sum(nn.log_softmax(z)[:, 0]))(big)
    assert np.all(np.isfinite(g))
    assert float(nn.sigmoid(-800.0)) == 0.0 and float(nn.softplus(800.0)) == 800.0
    assert float(wg.grad(nn.softplus)(-800.0)) == 0.0


@pytest.mark.parametrize("name, f, ref", ACTS, ids=[a[0] for a in ACTS])
def test_activations_on_tensors(name, f, ref):
    pytest.importorskip("wengert.tensor", reason="wg.Tensor has not landed yet")
    x = R.normal(size=(2, 3))
    w = R.normal(size=np.shape(ref(x)))
    t = wg.tensor(x, requires_grad=True)
    out = f(t)
    assert isinstance(out, wg.Tensor)
    (out * w).sum().backward()
    np.testing.assert_allclose(t.grad.data, wg.grad(lambda z: wnp.sum(f(z) * w))(x), rtol=1e-12)


def test_losses_on_tensors():
    pytest.importorskip("wengert.tensor", reason="wg.Tensor has not landed yet")
    z, p = R.normal(size=(4, 3)), R.uniform(0.1, 0.9, size=(4, 3))
    t, labels = R.uniform(size=(4, 3)), np.array([0, 2, 1, 1])
    for f, x in [(lambda a: losses.cross_entropy(a, labels), z), (lambda a: losses.mse(a, t), z),
                 (lambda a: losses.binary_cross_entropy(a, t), p),
                 (lambda a: losses.binary_cross_entropy_with_logits(a, t), z)]:
        xt = wg.tensor(x, requires_grad=True)
        f(xt).backward()
        np.testing.assert_allclose(xt.grad.data, wg.grad(f)(x), rtol=1e-12)


def test_gelu_exact_matches_torch():
    torch = pytest.importorskip("torch")
    pytest.importorskip("wengert.scipy.special")
    x = R.normal(size=6)
    ref = torch.nn.functional.gelu(torch.tensor(x)).numpy()
    np.testing.assert_allclose(nn.gelu(x, approximate="none"), ref, rtol=1e-10)


def test_gelu_tanh_matches_torch():
    torch = pytest.importorskip("torch")
    x = R.normal(size=6)
    ref = torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy()
    np.testing.assert_allclose(nn.gelu(x), ref, rtol=1e-12)


# ----------------------------------------------------------------------------
# Losses


def ce_ref(logits, labels):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


def test_cross_entropy_labels_and_probabilities():
    logits = R.normal(size=(5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[labels]
    assert float(losses.cross_entropy(logits, labels)) == pytest.approx(ce_ref(logits, labels), rel=1e-12)
    assert float(losses.cross_entropy(logits, onehot)) == pytest.approx(ce_ref(logits, labels), rel=1e-12)
    probs = nn.softmax(R.normal(size=(5, 4)))
    ref = -np.mean(np.sum(probs * (logits - np.log(np.exp(logits).sum(-1, keepdims=True))), -1))
    assert float(losses.cross_entropy(logits, probs)) == pytest.approx(ref, rel=1e-12)
    per = losses.cross_entropy(logits, labels, reduction="none")
    assert per.shape == (5,)
    assert float(losses.cross_entropy(logits, labels, reduction="sum")) == pytest.approx(per.sum())
    # class axis first
    assert float(losses.cross_entropy(logits.T, labels, axis=0)) == pytest.approx(ce_ref(logits, labels))
    # gradient: (softmax - onehot) / n
    g = wg.grad(lambda z: losses.cross_entropy(z, labels))(logits)
    np.testing.assert_allclose(g, (nn.softmax(logits) - onehot) / 5, rtol=1e-10, atol=1e-14)
    # huge logits stay finite
    assert float(losses.cross_entropy(np.array([[1e4, 0.0]]), np.array([1]))) == pytest.approx(1e4)


def test_losses_gradients_vs_finite_differences():
    z = R.normal(size=(4, 3))
    t = R.uniform(0.05, 0.95, size=(4, 3))
    labels = np.array([2, 0, 1, 1])
    p = R.uniform(0.05, 0.95, size=(4, 3))
    cases = [
        (lambda a: losses.mse(a, t), z),
        (lambda a: losses.l1(a, t), z),
        (lambda a: losses.cross_entropy(a, labels), z),
        (lambda a: losses.cross_entropy(a, nn.softmax(t)), z),
        (lambda a: losses.binary_cross_entropy(a, t), p),
        (lambda a: losses.binary_cross_entropy_with_logits(a, t), z),
        (lambda a: losses.nll(nn.log_softmax(a), labels), z),
    ]
    for f, x in cases:
        np.testing.assert_allclose(wg.grad(f)(x), fd_grad(lambda v: float(f(v)), x), rtol=1e-6, atol=1e-8)


def test_binary_cross_entropy_forms_agree():
    z = R.normal(size=7) * 3
    t = (R.uniform(size=7) > 0.5).astype(float)
    a = losses.binary_cross_entropy(nn.sigmoid(z), t)
    b = losses.binary_cross_entropy_with_logits(z, t)
    ref = -np.mean(t * np.log(sigmoid_ref(z)) + (1 - t) * np.log(1 - sigmoid_ref(z)))
    assert float(a) == pytest.approx(ref, rel=1e-10) and float(b) == pytest.approx(ref, rel=1e-10)
    # stable where the probability form saturates
    assert float(losses.binary_cross_entropy_with_logits(np.array([-500.0]), np.array([1.0]))) == 500.0
    assert float(losses.binary_cross_entropy(np.array([1.0]), np.array([0.0]))) == 100.0


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = R.normal(size=(6, 5))
    labels = R.integers(0, 5, size=6)
    t = R.uniform(size=(6, 5))
    p = R.uniform(0.01, 0.99, size=(6, 5))
    T = lambda a: torch.tensor(a)
    assert float(losses.cross_entropy(z, labels)) == pytest.approx(F.cross_entropy(T(z), T(labels)).item())
    assert float(losses.cross_entropy(z, labels, label_smoothing=0.1)) == pytest.approx(
        F.cross_entropy(T(z), T(labels), label_smoothing=0.1).item())
    assert float(losses.mse(z, t)) == pytest.approx(F.mse_loss(T(z), T(t)).item())
    assert float(losses.binary_cross_entropy(p, t)) == pytest.approx(F.binary_cross_entropy(T(p), T(t)).item())
    assert float(losses.binary_cross_entropy_with_logits(z, t)) == pytest.approx(
        F.binary_cross_entropy_with_logits(T(z), T(t)).item())


def test_loss_errors():
    with pytest.raises(ValueError, match="reduction"):
        losses.mse(np.ones(2), np.ones(2), reduction="avg")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        losses.cross_entropy(np.ones((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="target has shape"):
        losses.cross_entropy(np.ones((2, 3)), np.ones((2, 4)))


# ----------------------------------------------------------------------------
# Layers, init, pytrees


def test_linear_layout_and_torch_agreement():
    layer = nn.Linear(4, 3, seed=0)
    x = R.normal(size=(5, 4))
    W, b = layer.params["weight"], layer.params["bias"]
    assert W.shape == (3, 4) and np.all(b == 0)
    np.testing.assert_allclose(layer(x), x @ W.T + b)
    torch = pytest.importorskip("torch")
    tl = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(W))
        tl.bias.copy_(torch.tensor(b + 1.0))
    np.testing.assert_allclose(layer.apply({"weight": W, "bias": b + 1.0}, x),
                               tl(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert "bias" not in nn.Linear(2, 2, bias=False, seed=0).params


def test_layernorm_and_embedding_match_torch():
    torch = pytest.importorskip("torch")
    x = R.normal(size=(4, 5)) * 3 + 1
    ln = nn.LayerNorm(5)
    ln.params = {"weight": R.normal(size=5), "bias": R.normal(size=5)}
    tln = torch.nn.LayerNorm(5).double()
    with torch.no_grad():
        tln.weight.copy_(torch.tensor(ln.params["weight"]))
        tln.bias.copy_(torch.tensor(ln.params["bias"]))
    xt = torch.tensor(x, requires_grad=True)
    w = R.normal(size=(4, 5))
    (tln(xt) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ln(x), tln(xt).detach().numpy(), rtol=1e-10, atol=1e-12)
    gx = wg.grad(lambda z: wnp.sum(ln(z) * w))(x)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    gp = wg.grad(lambda p: wnp.sum(ln.apply(p, x) * w))(ln.params)
    np.testing.assert_allclose(gp["weight"], tln.weight.grad.numpy(), rtol=1e-9)
    # Embedding: rows gathered; the gradient scatters back (repeated indices add up)
    emb = nn.Embedding(6, 3, seed=0)
    idx = np.array([[1, 4], [1, 0]])
    assert emb(idx).shape == (2, 2, 3)
    g = wg.grad(lambda p: wnp.sum(emb.apply(p, idx)))(emb.params)["weight"]
    np.testing.assert_allclose(g[:, 0], [1, 2, 0, 0, 1, 0])
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))


def test_seeds_and_rngs():
    a = nn.MLP([3, 5, 2], seed=7).params
    b = nn.MLP([3, 5, 2], key=7).params
    c = nn.MLP([3, 5, 2], rng=np.random.default_rng(7)).params
    for x, y, z in zip(wg.tree_util.tree_leaves(a), wg.tree_util.tree_leaves(b), wg.tree_util.tree_leaves(c)):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    with pytest.raises(TypeError, match="at most one"):
        nn.Linear(2, 2, seed=1, key=2)


@pytest.mark.parametrize("init, var", [("glorot_uniform", 2 / (400 + 300)), ("glorot_normal", 2 / 700),
                                       ("he_uniform", 2 / 400), ("he_normal", 2 / 400),
                                       ("lecun_normal", 1 / 400), ("uniform_fan_in", 1 / 1200)])
def test_init_variances(init, var):
    w = nn.Linear(400, 300, init=init, seed=0).params["weight"]
    assert w.var() == pytest.approx(var, rel=0.05)
    assert abs(w.mean()) < 0.01


def test_mlp_structure_and_defaults():
    m = nn.MLP([2, 8, 8, 3], activation="relu", final_activation="log_softmax", seed=0)
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "LogSoftmax"]
    assert m.num_params == 2 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3
    assert m.params[0]["weight"].var() > 0
    out = m(R.normal(size=(4, 2)))
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0)
    seq = nn.Sequential(nn.Linear(2, 3, seed=0), nn.tanh, nn.Linear(3, 1, seed=1))
    assert isinstance(seq[1], nn.Activation) and len(seq) == 3
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([2, 3, 2], activation="nope")


def test_params_are_pytrees_for_wg_grad():
    model = nn.MLP([3, 4, 1], activation="tanh", seed=0)
    x, y = R.normal(size=(6, 3)), R.normal(size=(6, 1))
    loss = lambda p: losses.mse(model.apply(p, x), y)
    g = wg.grad(loss)(model.params)
    leaves, tree = wg.tree_util.tree_flatten(model.params)
    gl, gtree = wg.tree_util.tree_flatten(g)
    assert gtree == tree
    # one leaf against finite differences
    W = model.params[2]["weight"]

    def loss_w(w):
        p = [model.params[0], None, {"weight": w, "bias": model.params[2]["bias"]}]
        return float(loss(p))
    np.testing.assert_allclose(g[2]["weight"], fd_grad(loss_w, W), rtol=1e-6)
    # setting params on a Sequential reaches its layers
    model.params = wg.tree_util.tree_map(lambda a: a * 0, model.params)
    assert np.all(model.layers[0].params["weight"] == 0)


class Affine(nn.Module):
    """A user-defined module: registered as a pytree node automatically."""

    def __init__(self, n):
        self.params = {"a": np.ones(n), "b": np.zeros(n)}

    def apply(self, p, x):
        return p["a"] * x + p["b"]


def test_modules_are_pytrees():
    X, y = _blobs(120)
    model = nn.Sequential(nn.Linear(2, 8, seed=0), nn.Tanh(), nn.Linear(8, 3, seed=1))
    loss = lambda m: losses.cross_entropy(m(X), y)
    g = wg.grad(loss)(model)
    assert type(g) is nn.Sequential and g.layers[0].params["weight"].shape == (8, 2)
    ref = wg.grad(lambda p: losses.cross_entropy(model.apply(p, X), y))(model.params)
    for a, b in zip(wg.tree_util.tree_leaves(g), wg.tree_util.tree_leaves(ref)):
        np.testing.assert_array_equal(a, b)
    # the optimizers take whole models; the original is left alone
    opt = optim.Adam(0.05)
    m, state = model, opt.init(model)
    w0 = model.layers[0].params["weight"].copy()
    for _ in range(100):
        m, state = opt.update(wg.grad(loss)(m), state, m)
    assert losses.accuracy(m(X), y) > 0.95 and type(m) is nn.Sequential
    np.testing.assert_array_equal(model.layers[0].params["weight"], w0)
    # structure: equal for same-shaped models, different otherwise
    S = wg.tree_util.tree_structure
    assert S(nn.MLP([2, 3, 1], seed=0)) == S(nn.MLP([2, 3, 1], seed=5))
    assert S(nn.MLP([2, 3, 1], seed=0)) != S(nn.MLP([2, 4, 1], seed=0))
    assert S(nn.MLP([2, 3, 1], activation="tanh")) != S(nn.MLP([2, 3, 1], activation="relu"))
    # a user's own module
    x = np.array([1.0, 2.0])
    ga = wg.grad(lambda m: wnp.sum(m(x) ** 2))(Affine(2))
    assert isinstance(ga, Affine)
    np.testing.assert_allclose(ga.params["a"], 2 * x * x)
    np.testing.assert_allclose(ga.params["b"], 2 * x)


def _blobs(n=300, seed=0):
    r = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = r.integers(0, 3, size=n)
    X = centers[y] + 0.6 * r.normal(size=(n, 2))
    return X, y


def test_classifier_trains_functional():
    X, y = _blobs()
    model = nn.MLP([2, 16, 3], activation="relu", seed=0)
    opt = optim.Adam(lr=0.05)
    params = model.params
    state = opt.init(params)
    loss = lambda p: losses.cross_entropy(model.apply(p, X), y)
    vg = wg.value_and_grad(loss)
    first, _ = vg(params)
    for _ in range(200):
        value, grads = vg(params)
        params, state = opt.update(grads, state, params)
    assert float(value) < 0.2 * float(first)
    assert losses.accuracy(model.apply(params, X), y) > 0.95


def test_classifier_trains_with_tensors():
    pytest.importorskip("wengert.tensor", reason="wg.Tensor has not landed yet")
    X, y = _blobs()
    model = nn.MLP([2, 16, 3], activation="tanh", seed=0)
    params = model.parameters()
    assert all(isinstance(p, wg.Tensor) and p.requires_grad for p in params)
    assert model.parameters()[0] is params[0]
    opt = optim.SGD(params, lr=0.5, momentum=0.9)
    Xt = wg.tensor(X)
    for _ in range(150):
        opt.zero_grad()
        loss = losses.cross_entropy(model(Xt), y)
        loss.backward()
        opt.step()
    assert losses.accuracy(model(Xt), y) > 0.95
    arrays = model.param_arrays()
    assert isinstance(arrays[0]["weight"], np.ndarray)


def test_example_script_runs(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train_mlp.py", "--steps", "150"])
    runpy.run_path(str(ROOT / "examples" / "train_mlp.py"), run_name="__main__")
    out = capsys.readouterr().out
    acc = float(out.strip().splitlines()[-1].split("accuracy")[-1].strip(" :=%")) / 100
    assert acc > 0.9
