"""wengert.distributed.value_and_grad_map on loopback Dask clusters the tests start and stop.

One module-wide threads cluster (no processes, nothing listening but on
127.0.0.1) serves most tests; one test starts a two-process cluster, kills
a worker in the middle of a step and checks that no process is left.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import wengert as wg
import wengert.numpy as wnp
from wengert import tree_util
from wengert.distributed import _FANIN, ShardError, _combine, value_and_grad_map

LOOPBACK = {"dashboard_address": "127.0.0.1:0", "worker_dashboard_address": "127.0.0.1:0"}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, **LOOPBACK) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def mlp_loss(params, X, y):  # a sum over examples
    h = wnp.tanh(X @ params["W1"] + params["b"][0])
    return wnp.sum((h @ params["W2"] - y) ** 2)


def mlp_mean_loss(params, X, y):
    return mlp_loss(params, X, y) / X.shape[0]


def make(rng, n=37, d=5, hidden=4):
    params = {"W1": rng.normal(size=(d, hidden)), "W2": rng.normal(size=(hidden,)), "b": (rng.normal(size=hidden),)}
    return params, rng.normal(size=(n, d)), rng.normal(size=n)


def split(X, y, sizes):
    edges = np.cumsum([0, *sizes])
    assert edges[-1] == len(X)
    return [(X[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def assert_close(a, b, rtol=1e-12):
    la, lb = tree_util.tree_leaves(a), tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, z in zip(la, lb):
        np.testing.assert_allclose(x, z, rtol=rtol, atol=1e-13)


def tree_reduced(fun, params, shards, weighted=False):
    """The same per-shard values and the same tree of additions, in this process."""
    vg = wg.jit(wg.value_and_grad(fun))
    level = []
    for s in shards:
        v, g = vg(params, *s)
        n = len(s[0])
        level.append((n, v * n, tree_util.tree_map(lambda x: x * n, g)) if weighted else (None, v, g))
    while len(level) > 1:
        level = [_combine(*level[j:j + _FANIN]) if j + 1 < len(level) else level[j]
                 for j in range(0, len(level), _FANIN)]
    n, v, g = level[0]
    return (v / n, tree_util.tree_map(lambda x: x / n, g)) if weighted else (v, g)


def test_sum_equals_serial_and_closed_form(client, rng):
    params, X, y = make(rng)
    shards = split(X, y, [10, 3, 9, 8, 7])
    value, grads = value_and_grad_map(mlp_loss, params, shards, client=client)
    assert_close((value, grads), wg.value_and_grad(mlp_loss)(params, X, y))
    # the closed form of the gradient, independent of wengert
    h = np.tanh(X @ params["W1"] + params["b"][0])
    r = 2 * (h @ params["W2"] - y)
    dpre = np.outer(r, params["W2"]) * (1 - h ** 2)
    assert_close(grads, {"W1": X.T @ dpre, "W2": h.T @ r, "b": (dpre.sum(0),)}, rtol=1e-10)
    assert set(grads) == {"W1", "W2", "b"} and isinstance(grads["b"], tuple)


def test_bit_identical_across_runs_and_to_the_fixed_order_reduction(client, rng):
    params, X, y = make(rng, n=64)
    shards = split(X, y, [4] * 16)  # two levels of the reduction tree
    runs = [value_and_grad_map(mlp_loss, params, shards, client=client) for _ in range(3)]
    ref = tree_reduced(mlp_loss, params, shards)
    for v, g in runs:
        assert v == ref[0]
        for a, b in zip(tree_util.tree_leaves(g), tree_util.tree_leaves(ref[1])):
            assert np.array_equal(a, b)


def test_mean_is_weighted_by_examples(client, rng):
    params, X, y = make(rng)
    shards = split(X, y, [1, 20, 16])
    value, grads = value_and_grad_map(mlp_mean_loss, params, shards, client=client, reduce="mean")
    assert_close((value, grads), wg.value_and_grad(mlp_mean_loss)(params, X, y))
    assert value == tree_reduced(mlp_mean_loss, params, shards, weighted=True)[0]


def test_pytrees_inside_shards_and_jit_false(client, rng):
    params, X, y = make(rng, n=12)

    def loss(p, batch, scale):
        return scale * mlp_loss(p, batch["X"], batch["y"])

    shards = [({"X": X[:5], "y": y[:5]}, 2.0), ({"X": X[5:], "y": y[5:]}, 2.0)]
    for jit in (True, False):
        value, grads = value_and_grad_map(loss, params, shards, client=client, jit=jit)
        assert_close((value, grads), wg.value_and_grad(loss)(params, {"X": X, "y": y}, 2.0))


def test_inputs_are_not_mutated(client, rng):
    params, X, y = make(rng, n=10)
    shards = split(X, y, [4, 6])
    before = [a.copy() for a in tree_util.tree_leaves((params, shards))]
    value_and_grad_map(mlp_mean_loss, params, shards, client=client, reduce="mean")
    for a, b in zip(tree_util.tree_leaves((params, shards)), before):
        assert np.array_equal(a, b)


def test_compiled_once_per_worker_and_signature(client, rng):
    params, X, y = make(rng, n=24)
    calls = []

    def loss(p, X, y):
        calls.append(1)  # Python runs only while wg.jit traces
        return mlp_loss(p, X, y)

    shards = split(X, y, [6, 6, 6, 6])
    value_and_grad_map(loss, params, shards, client=client)
    first = len(calls)
    assert 1 <= first <= 2  # one trace per worker at most (the two threads' workers share a process cache)
    for _ in range(2):
        value_and_grad_map(loss, params, shards, client=client)
    assert len(calls) == first
    value_and_grad_map(loss, params, split(X, y, [12, 12]), client=client)  # a new shape: traced again
    assert first < len(calls) <= first + 2
    calls.clear()
    value_and_grad_map(loss, params, shards, client=client, jit=False)
    assert len(calls) == 4  # eager: fun runs once per shard


def test_vmap_per_example_work_inside_a_shard(client, rng):
    params, X, y = make(rng, n=15)

    def per_example(p, x, t):
        return mlp_loss(p, x[None], t[None])

    def loss(p, X, y):
        return wnp.sum(wg.vmap(per_example, in_axes=(None, 0, 0))(p, X, y))

    value, grads = value_and_grad_map(loss, params, split(X, y, [5, 5, 5]), client=client)
    assert_close((value, grads), wg.value_and_grad(mlp_loss)(params, X, y))


def test_dask_array_chunks_are_the_shards(client, rng):
    params, X, y = make(rng, n=30)
    Xd = da.from_array(X, chunks=((7, 13, 10), (2, 3)))  # the feature axis is joined into one chunk
    yd = da.from_array(y, chunks=10)  # other batch chunks: aligned to X's
    calls = []

    def loss(p, X, y):
        calls.append(X.shape[0])
        return mlp_mean_loss(p, X, y)

    value, grads = value_and_grad_map(loss, params, (Xd, yd), client=client, reduce="mean", jit=False)
    assert sorted(calls) == [7, 10, 13]
    assert_close((value, grads), wg.value_and_grad(mlp_mean_loss)(params, X, y))
    v1, _ = value_and_grad_map(lambda p, X: wnp.sum(X @ p["W1"]), params, Xd, client=client)
    assert np.isclose(v1, np.sum(X @ params["W1"]), rtol=1e-12)


def test_scattered_futures_are_reused(client, rng):
    params, X, y = make(rng, n=20)
    local = split(X, y, [5, 5, 10])
    futures = client.scatter(local)
    ref = value_and_grad_map(mlp_loss, params, local, client=client)
    for _ in range(2):
        v, g = value_and_grad_map(mlp_loss, params, futures, client=client)
        assert v == ref[0]
    assert all(f.status == "finished" for f in futures)
    # the default client is the current one
    assert value_and_grad_map(mlp_loss, params, futures)[0] == ref[0]


def test_a_lost_function_future_is_sent_again(client, rng):
    from wengert.distributed import _FUN_FUTURES

    params, X, y = make(rng, n=12)
    shards = split(X, y, [6, 6])
    ref = value_and_grad_map(mlp_loss, params, shards, client=client)
    fut = _FUN_FUTURES[mlp_loss][client.id]
    client.cancel(fut)  # as if its workers were gone
    v, g = value_and_grad_map(mlp_loss, params, shards, client=client)
    assert v == ref[0] and _FUN_FUTURES[mlp_loss][client.id] is not fut


def test_shard_error_names_the_shard_with_the_worker_traceback(client, rng):
    params, X, y = make(rng, n=20)

    def loss(p, X, y):
        if X.shape[0] in (3, 4):  # shapes are static under jit
            raise_in_user_code(X.shape[0])
        return mlp_loss(p, X, y)

    def raise_in_user_code(n):
        raise ValueError(f"bad shard of {n}")

    with pytest.raises(ShardError) as info:
        value_and_grad_map(loss, params, split(X, y, [5, 6, 3, 4, 2]), client=client)
    e = info.value
    assert e.shard == 2 and e.exception_type == "ValueError"  # the lowest-numbered failing shard
    msg = str(e)
    assert "shard 2" in msg and "bad shard of 3" in msg and "raise_in_user_code" in msg
    assert "raise_in_user_code" in e.worker_traceback


def test_traced_control_flow_hint(client, rng):
    params, X, y = make(rng, n=10)

    def loss(p, X, y):
        v = mlp_loss(p, X, y)
        return v if v > 0 else -v

    with pytest.raises(ShardError, match="jit=False"):
        value_and_grad_map(loss, params, split(X, y, [5, 5]), client=client)
    v, _ = value_and_grad_map(loss, params, split(X, y, [5, 5]), client=client, jit=False)
    assert np.isclose(v, mlp_loss(params, X, y), rtol=1e-12)


def test_bad_input_errors(client, rng, monkeypatch):
    params, X, y = make(rng, n=10)
    shards = split(X, y, [5, 5])
    with pytest.raises(ValueError, match="reduce must be 'sum' or 'mean'"):
        value_and_grad_map(mlp_loss, params, shards, client=client, reduce="max")
    with pytest.raises(TypeError, match="shards must be a list of shards"):
        value_and_grad_map(mlp_loss, params, X, client=client)
    with pytest.raises(TypeError, match=r"shard 1 is a ndarray.*\(X_k,\)"):
        value_and_grad_map(mlp_loss, params, [shards[0], X], client=client)
    with pytest.raises(ValueError, match="shards is empty"):
        value_and_grad_map(mlp_loss, params, [], client=client)
    with pytest.raises(TypeError, match="fun must be callable"):
        value_and_grad_map("loss", params, shards, client=client)
    with pytest.raises(TypeError, match="mixes dask arrays"):
        value_and_grad_map(mlp_loss, params, (da.from_array(X, chunks=5), y), client=client)
    with pytest.raises(TypeError, match="shard 0 holds a dask collection"):
        value_and_grad_map(mlp_loss, params, [(da.from_array(X, chunks=5), y)], client=client)
    with pytest.raises(ValueError, match="different batch lengths"):
        value_and_grad_map(mlp_loss, params, (da.from_array(X, chunks=5), da.from_array(y[:8], chunks=4)),
                           client=client)
    with pytest.raises(ShardError, match="shard 1 has no array argument"):
        value_and_grad_map(lambda p, s: wnp.sum(p["W2"]) * wnp.sum(s), params, [(np.ones(2),), (2.0,)], client=client,
                           reduce="mean")
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        value_and_grad_map(mlp_loss, params, shards, client="tcp://127.0.0.1:1")

    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "get_client", no_client)
    with pytest.raises(ValueError, match=r"no Dask client; pass client=Client"):
        value_and_grad_map(mlp_loss, params, shards)


def test_timeout_cancels_the_step(client, rng):
    params, X, y = make(rng, n=4)

    def slow(p, X, y):
        time.sleep(0.6)
        return mlp_loss(p, X, y)

    with pytest.raises(TimeoutError, match="no result within timeout=0.1 s"):
        value_and_grad_map(slow, params, split(X, y, [2, 2]), client=client, jit=False, timeout=0.1)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        value_and_grad_map(slow, params, split(X, y, [2, 2]), client=client, timeout=-1)


def test_digits_example_loss_curves_match(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "digits_distributed.py"
    spec = importlib.util.spec_from_file_location("digits_distributed", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = example.main(steps=6, n_shards=3, examples=600, processes=False)
    assert out["serial"][-1] < out["serial"][0]  # it trains
    np.testing.assert_allclose(out["parallel"], out["serial"], rtol=1e-12, atol=0)
    assert "one process" in capsys.readouterr().out


def _dask_children():
    import psutil

    def is_tracker(p):
        try:
            return "resource_tracker" in " ".join(p.cmdline())
        except psutil.Error:
            return True
    return [p for p in psutil.Process().children(recursive=True) if not is_tracker(p)]


def test_worker_killed_mid_step_gives_the_full_gradient_and_no_process_is_left(rng):
    pytest.importorskip("psutil")
    params, X, y = make(rng, n=40)
    shards = split(X, y, [10, 10, 10, 10])
    before = {p.pid for p in _dask_children()}

    def slow(p, X, y):
        time.sleep(0.5)
        return mlp_loss(p, X, y)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  **LOOPBACK) as cluster, distributed.Client(cluster) as c:
        pids = c.run(os.getpid)
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in pids)
        scattered = c.scatter(shards, hash=False)  # one copy each, spread over the two workers
        distributed.wait(scattered)
        holders = c.who_has(scattered)
        out = {}
        worker = threading.Thread(target=lambda: out.update(r=value_and_grad_map(slow, params, shards, client=c,
                                                                                  jit=False, timeout=120)))
        worker.start()
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline:  # kill a worker while it runs a shard
            busy = [a for a, tasks in c.processing().items()
                    if any(str(t).startswith("wengert-shard") for t in tasks)]
            victim = busy[0] if busy else None
            time.sleep(0.02)
        assert victim is not None
        for nanny in cluster.workers.values():  # the worker stays dead (no restart for close to wait on)
            if nanny.worker_address == victim:
                nanny.close_gracefully()
        os.kill(pids[victim], signal.SIGKILL)
        worker.join(120)
        assert not worker.is_alive()
        value, grads = out["r"]
        assert list(c.scheduler_info()["workers"]) != list(pids)  # the step ended with the killed worker gone
        assert victim not in c.scheduler_info()["workers"]
        # data scattered once is lost with its worker: a clear error naming the first lost shard, no gradient
        lost = [i for i, f in enumerate(scattered) if victim in holders[f.key]]
        assert lost
        with pytest.raises((ValueError, RuntimeError), match=rf"shard {lost[0]}.*scatter it again"):
            value_and_grad_map(mlp_loss, params, scattered, client=c)
        v2, g2 = value_and_grad_map(mlp_loss, params, c.scatter(shards, hash=False), client=c)  # scattered again
        assert_close((v2, g2), (value, grads))
    serial = wg.value_and_grad(mlp_loss)(params, X, y)
    assert_close((value, grads), serial)
    time.sleep(0.2)
    assert {p.pid for p in _dask_children()} <= before, "a Dask process outlived its cluster"
