"""Train a digits MLP data-parallel on a Dask cluster, beside the same training in one process.

The data: 8x8 images of the digits 0-9, drawn here with NumPy from a 3x5
pixel font (shifted, dimmed and noisy; nothing is downloaded).  The model:
``nn.MLP([64, 64, 10])``, mean cross-entropy, Adam.  The training set is
split into equal shards, scattered once to a
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` on
127.0.0.1, and every step computes the loss and gradient over all shards
with ``wengert.distributed.value_and_grad_map(..., reduce="mean")``: the
mean over all examples, as the single process computes it in one call.
The two loss curves are printed side by side, with the time per step.

    python examples/digits_distributed.py [--steps 40] [--shards 4] [--examples 4096]

Every process does its linear algebra on one BLAS thread (Dask's nannies set
the same for the workers), so the comparison is one core against two.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import time

import numpy as np

import wengert as wg
from wengert import nn, optim
from wengert.distributed import value_and_grad_map

FONT = {  # 3 wide, 5 high
    0: ["###", "#.#", "#.#", "#.#", "###"], 1: [".#.", "##.", ".#.", ".#.", "###"],
    2: ["###", "..#", "###", "#..", "###"], 3: ["###", "..#", ".##", "..#", "###"],
    4: ["#.#", "#.#", "###", "..#", "..#"], 5: ["###", "#..", "###", "..#", "###"],
    6: ["###", "#..", "###", "#.#", "###"], 7: ["###", "..#", ".#.", ".#.", ".#."],
    8: ["###", "#.#", "###", "#.#", "###"], 9: ["###", "#.#", "###", "..#", "###"],
}
GLYPHS = {d: np.array([[c == "#" for c in row] for row in rows], float) for d, rows in FONT.items()}


def make_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy 8x8 digit images (flattened to 64 values in [0, 1]) and their labels."""
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 8, 8))
    for i, d in enumerate(labels):
        r, c = rng.integers(0, 4), rng.integers(0, 6)  # the 5x3 glyph anywhere in the 8x8 frame
        images[i, r:r + 5, c:c + 3] = GLYPHS[d] * rng.uniform(0.5, 1.0)
    images += 0.15 * rng.normal(size=images.shape)
    return np.clip(images, 0.0, 1.0).reshape(n, 64), labels


def main(steps: int = 40, n_shards: int = 4, examples: int = 4096, processes: bool = True,
         seed: int = 0) -> dict:
    import dask
    import distributed

    rng = np.random.default_rng(seed)
    X, y = make_digits(examples, rng)
    X_test, y_test = make_digits(1024, rng)
    model = nn.MLP([64, 64, 10], activation="relu", seed=seed)
    opt = optim.Adam(lr=0.03)

    def loss(params, X, y):  # mean over the examples it is given
        return nn.losses.cross_entropy(model.apply(params, X), y)

    size = examples // n_shards
    shards = [(X[k * size:(k + 1) * size], y[k * size:(k + 1) * size]) for k in range(n_shards)]
    X_all, y_all = X[:size * n_shards], y[:size * n_shards]

    # One process: the whole batch in one jitted call.
    value_and_grad = wg.jit(wg.value_and_grad(loss))
    params, state = model.params, opt.init(model.params)
    serial, serial_times = [], []
    for _ in range(steps):
        t = time.perf_counter()
        value, grads = value_and_grad(params, X_all, y_all)
        params, state = opt.update(grads, state, params)
        serial_times.append(time.perf_counter() - t)
        serial.append(float(value))

    # Data-parallel: the shards live on the workers; each step sends the parameters.
    kw = {"host": "127.0.0.1"} if processes else {}
    # Workers with glibc's adaptive malloc: Dask's default MALLOC_TRIM_THRESHOLD_ makes every large
    # NumPy temporary a fresh mapping (see docs/distributed.md, "When it pays").
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    environ.update(MALLOC_TRIM_THRESHOLD_=str(2 ** 30), MALLOC_MMAP_THRESHOLD_=str(2 ** 30))
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                     dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                                     **kw) as cluster, distributed.Client(cluster) as client:
        on_cluster = client.scatter(shards)
        params, state = model.params, opt.init(model.params)
        parallel, parallel_times = [], []
        for _ in range(steps):
            t = time.perf_counter()
            value, grads = value_and_grad_map(loss, params, on_cluster, client=client, reduce="mean")
            params, state = opt.update(grads, state, params)
            parallel_times.append(time.perf_counter() - t)
            parallel.append(float(value))

    serial, parallel = np.array(serial), np.array(parallel)
    print(f"{len(X_all)} training examples in {n_shards} shards of {size} on 2 workers "
          f"({'processes' if processes else 'threads'}) against one process")
    print(f"{'step':>4}  {'one process':>12}  {'2 workers':>12}")
    for i in range(steps):
        if i % max(steps // 10, 1) == 0 or i == steps - 1:
            print(f"{i:4d}  {serial[i]:12.6f}  {parallel[i]:12.6f}")
    diff = float(np.max(np.abs(serial - parallel)))
    acc = nn.losses.accuracy(model.apply(params, X_test), y_test)
    t1, t2 = np.median(serial_times[1:]), np.median(parallel_times[1:])  # the first step compiles
    print(f"largest difference between the curves: {diff:.1e}; test accuracy {100 * acc:.1f}%")
    print(f"time per step (median): one process {1e3 * t1:.1f} ms, 2 workers {1e3 * t2:.1f} ms "
          f"({t1 / t2:.2f}x)")
    return {"serial": serial, "parallel": parallel, "diff": diff, "accuracy": acc, "times": (t1, t2)}


if __name__ == "__main__":  # required: worker processes re-import this file
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--examples", type=int, default=4096)
    a = ap.parse_args()
    main(a.steps, a.shards, a.examples)
