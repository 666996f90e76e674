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

Every BLAS runs on one thread (the workers' nannies set the same).  The
workers run with glibc's adaptive malloc (Dask's default MALLOC_TRIM_THRESHOLD_
costs about 1.4x the CPU time of this gradient; ``--malloc-default`` keeps it).  Steps of
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


def _cpu(p) -> float:
    t = p.cpu_times()
    return t.user + t.system


def main(rounds: int = 7, sizes=(1, 16, 64, 256, 1024), n_shards: int = 8, malloc_default: bool = False) -> list[dict]:
    import distributed

    rng = np.random.default_rng(0)
    params = w2_params(rng)
    vg = wg.jit(wg.value_and_grad(loss))
    rows = []
    import dask

    # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive mmap threshold: each
    # large NumPy temporary is then mapped and faulted in afresh (about 1.4x the CPU time of this gradient).
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if not malloc_default:
        environ.update(MALLOC_TRIM_THRESHOLD_=str(2 ** 30), MALLOC_MMAP_THRESHOLD_=str(2 ** 30))
    loopback = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0", "worker_dashboard_address": "127.0.0.1:0"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, **loopback) as cluster, \
            distributed.Client(cluster) as client:
        import psutil

        procs = [psutil.Process(), *(psutil.Process(pid) for pid in client.run(os.getpid).values())]
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
            cpu = {"one process": [], "client+scheduler": [], "worker a": [], "worker b": []}
            for _ in range(rounds):  # interleaved
                c0 = time.process_time()
                times["one process, shard by shard"] += timed(serial_shards, 1, inner)
                cpu["one process"].append((time.process_time() - c0) / inner)
                times["one process, whole batch"] += timed(serial_batch, 1, inner)
                before = [_cpu(p) for p in procs]
                times["2 workers"] += timed(dist, 1, inner)
                for k, p, b in zip(("client+scheduler", "worker a", "worker b"), procs, before):
                    cpu[k].append((_cpu(p) - b) / inner)
            best = {k: min(v) for k, v in times.items()}
            median = {k: statistics.median(v) for k, v in times.items()}
            cpu = {k: statistics.median(v) for k, v in cpu.items()}
            base = min(best["one process, shard by shard"], best["one process, whole batch"])
            # load-independent estimate: the cluster's CPU per step spread over two otherwise idle cores
            bound = max((cpu["client+scheduler"] + cpu["worker a"] + cpu["worker b"]) / 2,
                        cpu["worker a"], cpu["worker b"])
            rows.append({"size": size, "best": best, "median": median, "speedup": base / best["2 workers"],
                         "error": err, "cpu": cpu, "cpu_speedup": cpu["one process"] / bound})

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
    print("CPU time per step (median, ms), and the speed-up two idle cores would give if the cluster's CPU time")
    print("spread evenly over them (an estimate from CPU time, not a measurement):")
    print(f"{'shard size':>10} {'1 process':>10} {'client+sched':>13} {'worker a':>9} {'worker b':>9} {'estimate':>9}")
    for r in rows:
        c = r["cpu"]
        print(f"{r['size']:>10} {1e3 * c['one process']:10.2f} {1e3 * c['client+scheduler']:13.2f} "
              f"{1e3 * c['worker a']:9.2f} {1e3 * c['worker b']:9.2f} {r['cpu_speedup']:8.2f}x")
    print(f"parameter broadcast alone ({info['params_mb']:.2f} MB to 2 workers): {info['broadcast_ms']:.2f} ms")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="1,16,64,256,1024")
    ap.add_argument("--malloc-default", action="store_true",
                    help="keep Dask's MALLOC_TRIM_THRESHOLD_=65536 in the workers")
    a = ap.parse_args()
    main(a.rounds, tuple(int(s) for s in a.sizes.split(",")), malloc_default=a.malloc_default)
