"""Data-parallel gradients on Dask (issue 16): two worker processes against one process.

The W2 model (784-256-256-10 tanh MLP, softmax cross-entropy, float64) on
8 shards of 1,024 examples.  One process computes the same gradient with
``wg.jit(wg.value_and_grad(loss))`` (over the 8 shards in turn, and over the
whole 8,192-example batch at once; the faster is the baseline); the cluster
is a ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` on
127.0.0.1 with the shards scattered once (``client.scatter``) and the
parameters broadcast every step by :func:`wengert.distributed.value_and_grad_map`.
Then the same at smaller shard sizes (when do two workers pay?) and the
fixed overhead of a step (shards of one example), with the parameter
broadcast timed alone.

    python benchmarks/dask_data_parallel.py [--rounds 7] [--sizes 1,16,64,256,1024]

Every BLAS runs on one thread (the workers' nannies set the same).  Steps of
each kind are interleaved round by round; each kind's number is its best
round (the least disturbed by other work on a shared machine), the median is
shown beside it.
"""

# ruff: noqa: E402  (the BLAS thread count is set before NumPy is imported)
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse
import statistics
import time

import numpy as np

import wengert as wg
import wengert.numpy as wnp
from wengert import tree_util
from wengert.distributed import value_and_grad_map


def w2_params(rng):
    sizes = [784, 256, 256, 10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((a, b)) / np.sqrt(a), rng.standard_normal(b) * 0.1]
    return params


def loss(params, X, Y):  # the W2 loss: mean softmax cross-entropy
    W1, b1, W2, b2, W3, b3 = params
    h = wnp.tanh(X @ W1 + b1)
    h = wnp.tanh(h @ W2 + b2)
    z = h @ W3 + b3
    m = wnp.max(z, axis=1, keepdims=True)
    logp = z - m - wnp.log(wnp.sum(wnp.exp(z - m), axis=1, keepdims=True))
    return -wnp.sum(Y * logp) / X.shape[0]


def make_shards(rng, n_shards, size):
    X = rng.standard_normal((n_shards * size, 784))
    Y = np.eye(10)[rng.integers(0, 10, n_shards * size)]
    return X, Y, [(X[k * size:(k + 1) * size], Y[k * size:(k + 1) * size]) for k in range(n_shards)]


def timed(f, rounds, inner):
    return [_one(f, inner) for _ in range(rounds)]


def _one(f, inner):
    t = time.perf_counter()
    for _ in range(inner):
        f()
    return (time.perf_counter() - t) / inner


def main(rounds: int = 7, sizes=(1, 16, 64, 256, 1024), n_shards: int = 8) -> list[dict]:
    import distributed

    rng = np.random.default_rng(0)
    params = w2_params(rng)
    vg = wg.jit(wg.value_and_grad(loss))
    rows = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        for size in sizes:
            X, Y, shards = make_shards(rng, n_shards, size)
            futures = client.scatter(shards)
            distributed.wait(futures)

            def serial_shards():
                vs = [vg(params, *s) for s in shards]
                return sum(v for v, _ in vs) / len(vs)

            def serial_batch():
                return vg(params, X, Y)

            def dist():
                return value_and_grad_map(loss, params, futures, client=client, reduce="mean")

            # warm-up and check: the cluster's gradient is the whole batch's
            v, g = dist()
            v_ref, g_ref = serial_batch()
            serial_shards()
            err = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-300))
                      for a, b in zip(tree_util.tree_leaves(g), tree_util.tree_leaves(g_ref)))
            assert err < 1e-12 and abs(v - v_ref) <= 1e-12 * abs(v_ref), (err, v, v_ref)
            inner = max(1, int(0.25 / max(_one(dist, 1), 1e-4)))
            times = {"one process, shard by shard": [], "one process, whole batch": [], "2 workers": []}
            for _ in range(rounds):  # interleaved
                times["one process, shard by shard"] += timed(serial_shards, 1, inner)
                times["one process, whole batch"] += timed(serial_batch, 1, inner)
                times["2 workers"] += timed(dist, 1, inner)
            best = {k: min(v) for k, v in times.items()}
            median = {k: statistics.median(v) for k, v in times.items()}
            base = min(best["one process, shard by shard"], best["one process, whole batch"])
            rows.append({"size": size, "best": best, "median": median, "speedup": base / best["2 workers"],
                         "error": err})

        bcast = timed(lambda: distributed.wait(client.scatter([params], broadcast=True, hash=False)), rounds, 5)
        info = {"broadcast_ms": 1e3 * min(bcast), "params_mb": sum(p.nbytes for p in params) / 1e6}

    print(f"W2 MLP (784-256-256-10, float64), {n_shards} shards; best of {rounds} interleaved rounds "
          "(median in brackets), ms per step")
    print(f"{'shard size':>10} {'1 process (shards)':>22} {'1 process (batch)':>22} {'2 workers':>20} "
          f"{'speed-up':>9}")
    for r in rows:
        b, m = r["best"], r["median"]
        cells = [f"{1e3 * b[k]:8.2f} ({1e3 * m[k]:8.2f})" for k in
                 ("one process, shard by shard", "one process, whole batch", "2 workers")]
        print(f"{r['size']:>10} {cells[0]:>22} {cells[1]:>22} {cells[2]:>20} {r['speedup']:8.2f}x")
    print(f"parameter broadcast alone ({info['params_mb']:.2f} MB to 2 workers): {info['broadcast_ms']:.2f} ms")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="1,16,64,256,1024")
    a = ap.parse_args()
    main(a.rounds, tuple(int(s) for s in a.sizes.split(",")))
