"""Train a small MLP classifier with wengert's functional API.

The data: two interleaved half-moons in 2-D (made here with NumPy).  The
model: ``nn.MLP([2, 32, 32, 2])`` whose parameters are a pytree; the loss is
a pure function of them, ``wg.value_and_grad`` differentiates it, and
``optim.Adam`` with a warmup + cosine schedule updates them.

    python examples/train_mlp.py [--steps 400] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

import wengert as wg
from wengert import nn, optim


def make_moons(n: int, noise: float, rng: np.random.Generator):
    """Two interleaved half circles, labels 0 and 1."""
    y = rng.integers(0, 2, size=n)
    t = rng.uniform(0, np.pi, size=n)
    x = np.where(y == 0, np.cos(t), 1.0 - np.cos(t))
    z = np.where(y == 0, np.sin(t), 0.5 - np.sin(t))
    X = np.stack([x, z], axis=1) + noise * rng.normal(size=(n, 2))
    return (X - [0.5, 0.25]) / [0.9, 0.5], y


def main(steps: int = 400, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    X_train, y_train = make_moons(512, 0.1, rng)
    X_test, y_test = make_moons(512, 0.1, rng)

    model = nn.MLP([2, 32, 32, 2], activation="relu", seed=seed)
    schedule = optim.warmup_cosine(0.02, warmup_steps=steps // 10, total_steps=steps)
    opt = optim.Adam(lr=schedule)

    def loss_fn(params, X, y):
        return nn.losses.cross_entropy(model.apply(params, X), y)

    value_and_grad = wg.value_and_grad(loss_fn)
    params = model.params
    state = opt.init(params)
    for step in range(steps):
        loss, grads = value_and_grad(params, X_train, y_train)
        params, state = opt.update(grads, state, params)
        if step % max(steps // 5, 1) == 0 or step == steps - 1:
            acc = nn.losses.accuracy(model.apply(params, X_train), y_train)
            print(f"step {step:4d}  loss {float(loss):.4f}  train accuracy {100 * acc:.1f}%")

    test_acc = nn.losses.accuracy(model.apply(params, X_test), y_test)
    print(f"test accuracy: {100 * test_acc:.2f}%")
    return test_acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.steps, args.seed)
