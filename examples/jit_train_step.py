"""A whole training step under ``wg.jit``: gradient, Adam update, step count and
learning-rate schedule compiled together, with the loss curve of the eager
step and the timings of the three ways to run it.

Run: python examples/jit_train_step.py [--steps 20] [--repeat 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import wengert as wg
from wengert import nn, optim


def main(steps: int = 20, repeat: int = 200) -> dict:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 32))
    y = rng.integers(0, 10, size=128)  # integer class labels, traced under jit
    model = nn.MLP([32, 64, 64, 10], activation="relu", seed=0)
    opt = optim.Adam(lr=optim.warmup_cosine(1e-2, warmup_steps=5, total_steps=100))

    def loss(params, x, labels):
        return nn.losses.cross_entropy(model.apply(params, x), labels)

    value_and_grad = wg.value_and_grad(loss)

    def step(params, state, x, labels):
        value, grads = value_and_grad(params, x, labels)
        params, state = opt.update(grads, state, params)
        return params, state, value

    jit_step = wg.jit(step)
    jit_grad = wg.jit(value_and_grad)
    jit_update = wg.jit(opt.update)

    curves = {}
    for name, f in (("eager", step), ("jit", jit_step)):
        params, state, values = model.params, opt.init(model.params), []
        for _ in range(steps):
            params, state, value = f(params, state, X, y)
            values.append(float(value))
        curves[name] = np.array(values)
    diff = float(np.max(np.abs(curves["jit"] - curves["eager"])))

    p0, s0 = model.params, opt.init(model.params)
    g0 = value_and_grad(p0, X, y)[1]
    runs = {
        "jitted gradient alone": lambda: jit_grad(p0, X, y),
        "jitted update alone": lambda: jit_update(g0, s0, p0),
        "jitted whole step": lambda: jit_step(p0, s0, X, y),
        "jitted gradient + eager update": lambda: opt.update(jit_grad(p0, X, y)[1], s0, p0),
        "eager step": lambda: step(p0, s0, X, y),
    }
    best = {k: float("inf") for k in runs}
    for _ in range(5):  # interleaved rounds, best of each: robust to a busy machine
        for k, f in runs.items():
            n = repeat if k != "eager step" else max(repeat // 4, 1)
            t = time.perf_counter()
            for _ in range(n):
                f()
            best[k] = min(best[k], (time.perf_counter() - t) / n)
    print(f"loss: {curves['eager'][0]:.4f} -> {curves['eager'][-1]:.4f} over {steps} steps; "
          f"jit vs eager: max difference {diff:.1e}")
    base = best["jitted gradient alone"]
    for k, v in best.items():
        print(f"{k:32s} {v * 1e6:9.1f} µs  ({v / base:.2f}x the jitted gradient)")
    return {"diff": diff, "times": best, "curves": curves}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=200)
    a = ap.parse_args()
    main(a.steps, a.repeat)
