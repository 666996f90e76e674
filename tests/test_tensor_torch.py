"""wg.Tensor against PyTorch (float64 on both sides): the same programs give
the same values and the same ``.grad``."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg

torch = pytest.importorskip("torch")


def both(a, rg=True):
    a = np.asarray(a, dtype=np.float64)
    return wg.tensor(a, requires_grad=rg), torch.tensor(a, dtype=torch.float64, requires_grad=rg)


def close(w, t, **kw):
    tv = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    np.testing.assert_allclose(np.asarray(w.data if isinstance(w, wg.Tensor) else w), tv,
                               rtol=kw.get("rtol", 1e-10), atol=kw.get("atol", 1e-12))


def test_mlp_forward_backward():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((8, 3))
    ys = rng.integers(0, 2, 8)
    W1, tW1 = both(rng.standard_normal((3, 5)) * 0.5)
    b1, tb1 = both(np.zeros(5))
    W2, tW2 = both(rng.standard_normal((5, 2)) * 0.5)
    b2, tb2 = both(np.zeros(2))

    def run(x, W1, b1, W2, b2, lib):
        h = (x @ W1 + b1).tanh()
        logits = (h @ W2 + b2).relu() + h.sum(dim=1, keepdim=True) * 0.1
        lp = logits.log_softmax(dim=1)
        return -lp[np.arange(8), ys].mean()

    lw = run(wg.tensor(xs), W1, b1, W2, b2, "wg")
    lt = run(torch.tensor(xs), tW1, tb1, tW2, tb2, "torch")
    close(lw, lt)
    lw.backward()
    lt.backward()
    for w, t in ((W1, tW1), (b1, tb1), (W2, tW2), (b2, tb2)):
        close(w.grad, t.grad)


def test_broadcasting():
    a, ta = both(np.arange(6.0).reshape(2, 3) / 5)
    b, tb = both([0.5, -1.0, 2.0])
    c, tc = both(1.5)
    yw = ((a * b + c) ** 2 / (1 + b * b)).sum()
    yt = ((ta * tb + tc) ** 2 / (1 + tb * tb)).sum()
    close(yw, yt)
    yw.backward()
    yt.backward()
    for w, t in ((a, ta), (b, tb), (c, tc)):
        close(w.grad, t.grad)


def test_indexing_with_repeated_indices():
    x, tx = both([1.0, 2.0, 3.0, 4.0])
    idx = np.array([0, 2, 2, 3, 0, 0])
    w = np.arange(1.0, 7.0)
    (x[idx] * w).sum().backward()
    (tx[torch.tensor(idx)] * torch.tensor(w)).sum().backward()
    close(x.grad, tx.grad)
    m, tm = both(np.arange(12.0).reshape(3, 4))
    (m[[0, 2, 0], 1:3] ** 2).sum().backward()
    (tm[[0, 2, 0], 1:3] ** 2).sum().backward()
    close(m.grad, tm.grad)
    k, tk = both(np.linspace(-1, 1, 6))
    (k[k.data > 0] * 3).sum().backward()
    (tk[tk > 0] * 3).sum().backward()
    close(k.grad, tk.grad)


def test_accumulation_across_two_backward_calls():
    x, tx = both([0.3, -0.7])
    for lib_x in (x, tx):
        (lib_x.sin() * lib_x).sum().backward()
        (lib_x.exp()).sum().backward()
    close(x.grad, tx.grad)


def test_retain_graph():
    x, tx = both([0.3, 1.7])
    yw = (x * x.exp()).sum()
    yt = (tx * tx.exp()).sum()
    yw.backward(retain_graph=True)
    yt.backward(retain_graph=True)
    yw.backward()
    yt.backward()
    close(x.grad, tx.grad)
    with pytest.raises(RuntimeError):
        yt.backward()
    with pytest.raises(RuntimeError, match="second time"):
        yw.backward()


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_create_graph_double_backward():
    x, tx = both([0.5, 1.5])
    yw = (x.tanh() * x ** 3).sum()
    yt = (tx.tanh() * tx ** 3).sum()
    (gw,) = wg.autograd_grad(yw, x, create_graph=True)
    (gt,) = torch.autograd.grad(yt, tx, create_graph=True)
    close(gw, gt)
    (gw * gw).sum().backward()
    (gt * gt).sum().backward()
    close(x.grad, tx.grad)
    # backward(create_graph=True) then differentiate .grad
    z, tz = both(0.8)
    (z.sin() * z).backward(create_graph=True)
    (tz.sin() * tz).backward(create_graph=True)
    gz, gtz = z.grad, tz.grad
    z.grad = None
    tz.grad = None
    gz.backward()
    gtz.backward()
    close(z.grad, tz.grad)


def test_no_grad():
    x, tx = both([1.0, 2.0])
    with wg.no_grad():
        yw = x * 2
    with torch.no_grad():
        yt = tx * 2
    assert yw.requires_grad == yt.requires_grad is False
    close(yw, yt)


def test_detach():
    x, tx = both([1.0, 2.0])
    (x * x.detach() + x).sum().backward()
    (tx * tx.detach() + tx).sum().backward()
    close(x.grad, tx.grad)


def test_retain_grad_non_leaf():
    x, tx = both([1.0, -2.0, 3.0])
    hw, ht = x * 2, tx * 2
    hw.retain_grad()
    ht.retain_grad()
    (hw.sigmoid() * hw).sum().backward()
    (ht.sigmoid() * ht).sum().backward()
    close(hw.grad, ht.grad)
    close(x.grad, tx.grad)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
                                  "abs", "neg", "square", "reciprocal", "rsqrt"])
def test_unary_methods(name):
    a = np.array([0.3, 1.2, 2.5])
    x, tx = both(a)
    getattr(x, name)().sum().backward()
    getattr(tx, name)().sum().backward()
    close(x.grad, tx.grad)


def test_reductions_and_shapes_with_dim_aliases():
    a = np.random.default_rng(1).standard_normal((2, 3, 4))
    x, tx = both(a)

    def prog(t):
        s = t.sum(dim=1, keepdim=True) * t
        m = s.mean(dim=(0, 2))
        v = t.permute(2, 0, 1).reshape(4, 6).transpose(0, 1).softmax(dim=0)
        u = t.flatten(1).unsqueeze(0).squeeze(0).max(dim=1)[0]
        return m.sum() + (v * v).sum() + u.sum() + t.clamp(-0.5, 0.5).prod(dim=2).sum() \
            + t.var(dim=2, unbiased=True).sum() + t.std(dim=0, correction=0).sum()

    close(prog(x), prog(tx))
    prog(x).backward()
    prog(tx).backward()
    close(x.grad, tx.grad)


def test_autograd_grad_matches_torch():
    x, tx = both([0.2, 0.4])
    y, ty = both(1.3)
    gw = wg.autograd_grad((x * y).exp().sum(), [x, y])
    gt = torch.autograd.grad((tx * ty).exp().sum(), [tx, ty])
    for w, t in zip(gw, gt):
        close(w, t)


def test_inplace_under_no_grad_then_backward():
    x, tx = both([1.0, 2.0])
    for t, ng in ((x, wg.no_grad), (tx, torch.no_grad)):
        with ng():
            t.mul_(3)
            t -= 1
        (t * t).sum().backward()
    close(x, tx)
    close(x.grad, tx.grad)
