"""micrograd's demo with wg.Tensor: a small MLP learns the two-moons data set.

A hand-written training loop in the PyTorch style: forward with Tensor
operators, ``loss.backward()``, an SGD step under ``wg.no_grad()``, and
``p.grad = None``.  The data set is made with NumPy (seeded), so the run is
reproducible; it reaches 100 % training accuracy in a few seconds.

    python examples/micrograd_moons.py
"""

from __future__ import annotations

import numpy as np

import wengert as wg


def make_moons(n: int = 100, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles, labels -1 / +1 (micrograd's convention)."""
    rng = np.random.default_rng(seed)
    m = n // 2
    t_out = np.linspace(0, np.pi, m)
    t_in = np.linspace(0, np.pi, n - m)
    x = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], 1)])
    x += rng.normal(scale=noise, size=x.shape)
    y = np.concatenate([-np.ones(m), np.ones(n - m)])
    return x, y


class MLP:
    """Fully connected layers with tanh between them (micrograd used ReLU)."""

    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        self.params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = wg.tensor(rng.uniform(-1, 1, (a, b)) / np.sqrt(a), requires_grad=True)
            c = wg.tensor(np.zeros(b), requires_grad=True)
            self.params += [w, c]

    def __call__(self, x):
        n = len(self.params) // 2
        for i in range(n):
            w, b = self.params[2 * i], self.params[2 * i + 1]
            x = x @ w + b
            if i < n - 1:
                x = x.tanh()
        return x


def train(steps: int = 300, lr: float = 0.5, seed: int = 0, verbose: bool = False):
    """Train on two moons; returns (model, final loss, accuracy)."""
    X, y = make_moons(100, noise=0.1, seed=seed)
    model = MLP([2, 16, 16, 1], seed=seed)
    xs, ys = wg.tensor(X), wg.tensor(y)
    acc = 0.0
    for k in range(steps):
        scores = model(xs).reshape(-1)
        # micrograd's SVM "max-margin" loss plus L2 regularisation
        data_loss = (1 - ys * scores).relu().mean()
        reg = 1e-4 * sum((p * p).sum() for p in model.params)
        loss = data_loss + reg
        for p in model.params:
            p.grad = None
        loss.backward()
        rate = lr * (1.0 - 0.9 * k / steps)  # linear decay, as micrograd
        with wg.no_grad():
            for p in model.params:
                p -= rate * p.grad
        acc = float(((scores.data > 0) == (y > 0)).mean())
        if verbose and (k % 50 == 0 or k == steps - 1):
            print(f"step {k:3d}  loss {loss.item():.4f}  accuracy {acc:.0%}")
        if acc == 1.0 and data_loss.item() < 0.05:
            break
    return model, loss.item(), acc


if __name__ == "__main__":
    _, final_loss, accuracy = train(verbose=True)
    print(f"final loss {final_loss:.4f}, training accuracy {accuracy:.0%}")
