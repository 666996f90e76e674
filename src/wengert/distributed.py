"""Data-parallel gradients on Dask's distributed scheduler.

The gradient of a loss summed over data is the sum of per-shard gradients.
:func:`value_and_grad_map` computes each shard's value and gradient on the
workers of a ``dask.distributed`` cluster and reduces them there, in a fixed
order, so the result is the same to the bit on every run with the same
sharding.  Dask does the scheduling, data movement and recovery from lost
workers; wengert only says what to compute.

Install with ``pip install 'wengert[distributed]'`` (``dask[array]`` and
``distributed``); this module imports them only when called.

>>> import numpy as np, wengert as wg, wengert.numpy as wnp
>>> from distributed import Client, LocalCluster
>>> from wengert.distributed import value_and_grad_map
>>> cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
...                        dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0")
>>> client = Client(cluster)
>>> def loss(w, X, y):
...     return wnp.sum((X @ w - y) ** 2)
>>> X, y = np.arange(12.0).reshape(6, 2), np.arange(6.0)
>>> shards = [(X[:3], y[:3]), (X[3:], y[3:])]
>>> value, grad = value_and_grad_map(loss, np.ones(2), shards, client=client)
>>> float(value) == float(loss(np.ones(2), X, y))
True
>>> grad, wg.grad(loss)(np.ones(2), X, y)   # 2 X^T (X w - y), summed over both shards
(array([720., 822.]), array([720., 822.]))
>>> client.close(); cluster.close()
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree_util

__all__ = ["value_and_grad_map", "ShardError"]

_HINT = "install it with pip install 'wengert[distributed]' (or pip install 'dask[array]' distributed)"
_NAME = "value_and_grad_map"
_ATTEMPTS = 3  # runs of a step whose function or parameters were lost with a worker
_FANIN = 4  # the reduction tree: shards 0-3, 4-7, ... summed in order, then groups of four of those, ...


class ShardError(RuntimeError):
    """``fun`` raised on one shard; raised on the client.

    ``shard`` is the shard's index, ``exception_type`` the name of the
    original exception's type and ``worker_traceback`` the traceback as it
    was on the worker (also part of the message).
    """

    def __init__(self, message: str, shard: int | None = None, exception_type: str = "",
                 worker_traceback: str = ""):
        super().__init__(message)
        self.shard = shard
        self.exception_type = exception_type
        self.worker_traceback = worker_traceback

    def __reduce__(self):  # keeps the attributes when Dask sends the error to the client
        return (type(self), (self.args[0], self.shard, self.exception_type, self.worker_traceback))


def _distributed():
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError as e:
        raise ImportError(f"wengert.distributed needs Dask's distributed scheduler: {_HINT}") from e
    return distributed


# ----------------------------------------------------------------------------
# On the workers


_COMPILED: collections.OrderedDict = collections.OrderedDict()
_COMPILED_LOCK = threading.Lock()
_COMPILED_MAX = 64


def _compiled(fun: Callable, key: str, jit: bool) -> Callable:
    """The worker's ``value_and_grad(fun)``, jitted or not, made once per worker and function.

    ``key`` is the key of the scattered function (fixed while the client keeps
    it), so every step of a training loop finds the same callable, and
    ``wg.jit`` inside it traces once per input signature.
    """
    k = (key, bool(jit))
    with _COMPILED_LOCK:
        f = _COMPILED.get(k)
        if f is not None:
            _COMPILED.move_to_end(k)
            return f
    from ._api import value_and_grad
    f = value_and_grad(fun)
    if jit:
        from ._jit import jit as _jit
        f = _jit(f)
    with _COMPILED_LOCK:
        f = _COMPILED.setdefault(k, f)  # two threads of one worker: both use the first one made
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    return f


def _worker_address() -> str:
    try:
        from distributed import get_worker
        return f" (worker {get_worker().address})"
    except Exception:  # not inside a worker: no address to name
        return ""


def _batch_size(shard: tuple, index: int) -> int:
    for leaf in tree_util.tree_leaves(shard):
        if np.ndim(leaf) >= 1:
            return int(np.shape(leaf)[0])
    raise ShardError(
        f"{_NAME}: reduce='mean' weighs each shard by its number of examples (the length of the leading "
        f"axis of its first array), but shard {index} has no array argument; use reduce='sum'", index, "ValueError")


def _shard_task(fun: Callable, fun_key: str, jit: bool, params: Any, shard: Any, index: int,
                weighted: bool) -> tuple:
    """One shard's (examples or None, value, grads); values and grads times the examples if weighted."""
    if isinstance(shard, list):
        shard = tuple(shard)
    if not isinstance(shard, tuple):
        raise ShardError(
            f"{_NAME}: shard {index} is a {type(shard).__name__}; a shard is a tuple of fun's remaining "
            f"positional arguments, fun(params, *shard): write ({type(shard).__name__},) for one argument",
            index, "TypeError")
    n = _batch_size(shard, index) if weighted else None
    try:
        value, grads = _compiled(fun, fun_key, jit)(params, *shard)
    except Exception as e:
        tb = traceback.format_exc()
        hint = ""
        from ._ir import ConcretizationError
        if jit and isinstance(e, ConcretizationError):
            hint = " (fun is traced by wg.jit on the workers: pass jit=False to run it eagerly)"
        raise ShardError(
            f"{_NAME}: fun raised {type(e).__name__} on shard {index}{_worker_address()}: {e}{hint}\n\n"
            f"Traceback on the worker:\n{tb}", index, type(e).__name__, tb) from None
    if weighted:
        value = value * n
        grads = tree_util.tree_map(lambda g: g * n, grads)
    return n, value, grads


def _combine(*parts: tuple) -> tuple:
    """Sum shard results left to right: the same additions in the same order on any worker."""
    n, value, grads = parts[0]
    for m, v, g in parts[1:]:
        n = None if n is None else n + m
        value = value + v
        grads = tree_util.tree_map(np.add, grads, g)
    return n, value, grads


# ----------------------------------------------------------------------------
# On the client


_FUN_FUTURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FUN_LOCK = threading.Lock()


def _fun_future(client, fun: Callable):
    """``fun`` on every worker, sent once per client while ``fun`` lives (state it closes over
    is captured then, as ``wg.jit`` captures it at its first trace)."""
    try:
        with _FUN_LOCK:
            fut = _FUN_FUTURES.get(fun, {}).get(client.id)
    except TypeError:  # not weakly referenceable: sent every call
        fut = None
    if fut is not None and fut.status == "finished":
        return fut
    try:
        fut = client.scatter([fun], broadcast=True, hash=False)[0]
    except Exception as e:
        raise TypeError(f"{_NAME}: fun could not be sent to the workers ({type(e).__name__}: {e}); "
                        "it must be picklable by cloudpickle (define it at module level, or close over "
                        "picklable values only)") from e
    try:
        with _FUN_LOCK:
            _FUN_FUTURES.setdefault(fun, {})[client.id] = fut
    except TypeError:
        pass
    return fut


def _is_dask_collection(x) -> bool:
    from dask.base import is_dask_collection
    return is_dask_collection(x)


def _is_dask_array(x) -> bool:
    da = sys.modules.get("dask.array")  # not imported: no dask array can exist
    return da is not None and isinstance(x, da.Array)


def _dask_array_shards(client, arrays: tuple, distributed) -> tuple[list, list]:
    """Each chunk along axis 0 of the arrays is a shard; chunks are made on the cluster, never gathered here."""
    lengths = []
    for j, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"{_NAME}: argument {j} of shards is a 0-d dask array; each dask array is split "
                             "along its first (batch) axis")
        if any(np.isnan(c) for c in a.chunks[0]):
            raise ValueError(f"{_NAME}: argument {j} of shards has unknown chunk sizes along axis 0; "
                             "call .compute_chunk_sizes() on it first")
        lengths.append(a.shape[0])
    if len(set(lengths)) > 1:
        raise ValueError(f"{_NAME}: the dask arrays in shards have different batch lengths {lengths}; "
                         "they must have the same length along axis 0")
    batch_chunks = arrays[0].chunks[0]
    aligned = [a.rechunk({0: batch_chunks, **{ax: -1 for ax in range(1, a.ndim)}}) for a in arrays]
    persisted = client.persist(aligned)
    by_key = {f.key: f for f in distributed.futures_of(persisted)}
    shards = []
    for k in range(len(batch_chunks)):
        shard = []
        for a in persisted:
            node = a.__dask_keys__()[k]
            while isinstance(node, list):
                node = node[0]
            shard.append(by_key[node])
        shards.append(tuple(shard))
    return shards, persisted


def _shard_arguments(client, shards, distributed) -> tuple[list, Any]:
    """What each shard task gets (local tuples, futures) and anything to keep alive until the step ends."""
    Future = distributed.Future
    if _is_dask_array(shards):
        shards = (shards,)
    if isinstance(shards, tuple) and shards and any(_is_dask_array(a) for a in shards):
        if not all(_is_dask_array(a) for a in shards):
            kinds = ", ".join(type(a).__name__ for a in shards)
            raise TypeError(f"{_NAME}: shards mixes dask arrays with other values ({kinds}); pass every "
                            "argument as a dask array chunked along the batch axis, or pass a list of shards")
        return _dask_array_shards(client, shards, distributed)
    if isinstance(shards, (np.ndarray, dict, str, bytes)) or not isinstance(shards, (Sequence, Future)):
        raise TypeError(
            f"{_NAME}: shards must be a list of shards (each a tuple of fun's remaining positional arguments, "
            f"e.g. [(X0, y0), (X1, y1)]), futures of such tuples, or dask arrays chunked along the batch axis; "
            f"got {type(shards).__name__}")
    if isinstance(shards, Future):
        raise TypeError(f"{_NAME}: shards is one future; pass a list of futures, one per shard "
                        "(client.scatter(list_of_tuples) makes it)")
    out = []
    for i, s in enumerate(shards):
        if isinstance(s, Future):
            if s.client is not client and s.client.scheduler.address != client.scheduler.address:
                raise ValueError(f"{_NAME}: shard {i} is a future of another cluster's client")
            if s.status in ("error", "cancelled", "lost"):
                raise ValueError(f"{_NAME}: shard {i} is a future whose data is {s.status} (lost with a worker?); "
                                 "scatter it again")
            out.append(s)
        elif isinstance(s, (tuple, list)):
            for leaf in tree_util.tree_leaves(tuple(s)):
                if _is_dask_collection(leaf):
                    raise TypeError(f"{_NAME}: shard {i} holds a dask collection ({type(leaf).__name__}); pass "
                                    "dask arrays as shards=(X, y), chunked along the batch axis, each chunk a shard")
            out.append(tuple(s))
        elif _is_dask_array(s) or _is_dask_collection(s):
            raise TypeError(f"{_NAME}: shard {i} is a dask collection; pass dask arrays as shards=(X, y), "
                            "chunked along the batch axis, each chunk a shard")
        else:
            raise TypeError(f"{_NAME}: shard {i} is a {type(s).__name__}; each shard is a tuple of fun's "
                            f"remaining positional arguments, fun(params, *shard): write (X_k, y_k), or (X_k,) "
                            "for one argument")
    return out, None


def _get_client(client, distributed):
    if client is None:
        try:
            return distributed.get_client()
        except (ValueError, RuntimeError):
            raise ValueError(
                f"{_NAME}: no Dask client; pass client=Client(...): Client(LocalCluster()) on this machine, "
                "Client('tcp://scheduler-host:8786') for a running cluster") from None
    if not isinstance(client, distributed.Client):
        raise TypeError(f"{_NAME}: client must be a distributed.Client, got {type(client).__name__}")
    if client.asynchronous:
        raise TypeError(f"{_NAME}: client is asynchronous; use a synchronous distributed.Client")
    if client.status != "running":
        raise ValueError(f"{_NAME}: client is {client.status}; pass a running distributed.Client")
    return client


def _raise_from_shards(parts: list, shard_args: list, exc: BaseException, distributed) -> None:
    """The step failed: raise the error of the lowest-numbered shard that failed, clearly."""
    try:
        distributed.wait(parts, timeout=60)
    except Exception:  # noqa: S110 - the original error is raised below either way
        pass
    KilledWorker = getattr(distributed, "KilledWorker", None)
    if KilledWorker is None:
        from distributed.scheduler import KilledWorker
    for i, p in enumerate(parts):
        if p.status != "error":
            continue
        e = p.exception()
        if isinstance(e, ShardError):
            raise e
        if isinstance(e, KilledWorker):
            raise RuntimeError(
                f"{_NAME}: shard {i}'s task was started on several workers and each of them died "
                f"(a crash or running out of memory inside fun?); no gradient is returned: {e}") from e
        raise RuntimeError(f"{_NAME}: shard {i} failed: {type(e).__name__}: {e}") from e
    if isinstance(exc, ShardError):
        raise exc
    for i, s in enumerate(shard_args):  # the user's scattered data, lost with a worker, cannot be recomputed
        for f in (s, *s) if isinstance(s, tuple) else (s,):
            if isinstance(f, distributed.Future) and f.status in ("cancelled", "lost", "error"):
                raise RuntimeError(
                    f"{_NAME}: shard {i}'s data (a future) is {f.status}: it was lost with a worker and Dask "
                    "cannot recompute scattered data; scatter it again (dask arrays built from a graph are "
                    "recomputed instead). No gradient is returned") from exc
    if isinstance(exc, KilledWorker):
        raise RuntimeError(f"{_NAME}: the reduction's workers kept dying; no gradient is returned: {exc}") from exc
    raise RuntimeError(f"{_NAME}: the step failed ({type(exc).__name__}: {exc}); no gradient is returned") from exc


def _submit_step(client, fun_future, params_future, shard_args: list, jit: bool, weighted: bool):
    """Submit one task per shard and the reduction tree over them; return (root, shard tasks, all tasks)."""
    token = uuid.uuid4().hex[:12]
    parts = [client.submit(_shard_task, fun_future, fun_future.key, jit, params_future, s, i, weighted,
                           key=f"wengert-shard-{i}-{token}", pure=False)
             for i, s in enumerate(shard_args)]
    level, depth, tasks = parts, 0, list(parts)
    while len(level) > 1:
        depth += 1
        nxt = []
        for j in range(0, len(level), _FANIN):
            group = level[j:j + _FANIN]
            if len(group) == 1:
                nxt.append(group[0])
            else:
                nxt.append(client.submit(_combine, *group, key=f"wengert-reduce-{depth}-{j}-{token}", pure=False))
                tasks.append(nxt[-1])
        level = nxt
    return level[0], parts, tasks


def value_and_grad_map(fun: Callable, params: Any, shards: Any, *, client: Any = None, reduce: str = "sum",
                       jit: bool = True, timeout: float | None = None) -> tuple[Any, Any]:
    """Value and gradient of ``fun`` summed (or averaged) over shards, computed on a Dask cluster.

    Each shard is a tuple of ``fun``'s remaining positional arguments: shard
    ``(X_k, y_k)`` computes ``fun(params, X_k, y_k)`` and its gradient with
    respect to ``params`` (any pytree) on a worker, as ``wg.jit(wg.value_and_grad(fun))``
    (``jit=False``: without ``wg.jit``), made once per worker and function and traced
    once per input signature.  ``params`` and ``fun`` are sent to every worker once per call
    (``fun`` once per client while it lives); per-shard results are reduced
    on the workers by a tree in shard order (shards 0-3 summed left to right,
    4-7, ..., then groups of four of those sums, ...), so the result is the
    same to the bit on every run with the same sharding.  Only the final ``(value, grads)`` comes to the
    client.

    ``shards`` is one of:

    - a list of tuples of arrays (pytrees inside allowed): sent with each call;
    - a list of futures on the cluster, each of such a tuple (``client.scatter(list_of_tuples)``),
      scattered once and reused every step;
    - a dask array, or a tuple of dask arrays of the same length, chunked along the batch axis
      (axis 0): each chunk is a shard (other axes are made one chunk); the chunks are computed
      on the cluster and never gathered on the client.

    ``reduce="sum"`` returns ``Σ_k fun(params, *shard_k)`` and its gradient:
    the full-data result when ``fun`` sums over its examples.  ``reduce="mean"``
    weighs each shard by its number of examples ``n_k`` (the length of the leading
    axis of its first array) and returns ``Σ_k n_k fun_k / Σ_k n_k``: the full-data
    result when ``fun`` averages over its examples, whatever the shard sizes.

    A shard on which ``fun`` raises makes the call raise :class:`ShardError`
    naming the shard (the lowest-numbered one, if several) with the worker's
    traceback.  A worker lost in the middle of a call: Dask runs its tasks
    again elsewhere (list shards travel in the tasks, dask arrays are
    recomputed; ``fun`` and ``params``, if lost, are sent again and the step
    rerun); shard data the user scattered and lost with a worker, or a task
    that keeps killing workers, makes the call raise: never a gradient that
    misses a shard.  ``timeout`` (seconds) bounds the wait for the result:
    past it the call's tasks are cancelled and :class:`TimeoutError` is raised.
    ``client`` defaults to the current Dask client (``distributed.get_client()``).

    >>> import numpy as np, wengert.numpy as wnp
    >>> from distributed import Client
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address="127.0.0.1:0",
    ...                 worker_dashboard_address="127.0.0.1:0")
    >>> def loss(w, X, y):
    ...     return wnp.mean((X @ w - y) ** 2)
    >>> X, y = np.arange(10.0).reshape(5, 2), np.ones(5)
    >>> v, g = value_and_grad_map(loss, np.zeros(2), [(X[:2], y[:2]), (X[2:], y[2:])],
    ...                           client=client, reduce="mean")
    >>> bool(np.isclose(v, loss(np.zeros(2), X, y)))
    True
    >>> client.close()
    """
    distributed = _distributed()
    if not callable(fun):
        raise TypeError(f"{_NAME}: fun must be callable, got {type(fun).__name__}")
    if reduce not in ("sum", "mean"):
        raise ValueError(f"{_NAME}: reduce must be 'sum' or 'mean', got {reduce!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"{_NAME}: timeout must be a positive number of seconds or None, got {timeout!r}")
    client = _get_client(client, distributed)
    shard_args, keep_alive = _shard_arguments(client, shards, distributed)
    if not shard_args:
        raise ValueError(f"{_NAME}: shards is empty; pass at least one shard")
    weighted = reduce == "mean"
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for attempt in range(_ATTEMPTS):
            fun_future = _fun_future(client, fun)
            params_future = client.scatter([params], broadcast=True, hash=False)[0]
            root, parts, tasks = _submit_step(client, fun_future, params_future, shard_args, bool(jit), weighted)
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                n, value, grads = root.result(timeout=left)
                break
            except (TimeoutError, asyncio.TimeoutError):
                done = sum(p.status == "finished" for p in parts)
                client.cancel(tasks)
                raise TimeoutError(f"{_NAME}: no result within timeout={timeout} s ({done} of {len(parts)} shards "
                                   "done); the call's tasks were cancelled") from None
            except Exception as e:
                # fun or the parameters lost with a worker (Dask keeps one copy of data no task waits for):
                # they are ours to send again, so the step is run again, all of it
                ours_lost = any(f.status != "finished" for f in (fun_future, params_future))
                if ours_lost and not isinstance(e, ShardError) and attempt + 1 < _ATTEMPTS:
                    client.cancel(tasks)
                    continue
                _raise_from_shards(parts, shard_args, e, distributed)
    finally:
        del keep_alive
    if weighted:
        if n == 0:
            raise ValueError(f"{_NAME}: reduce='mean' over shards with no examples in all")
        value = value / n
        grads = tree_util.tree_map(lambda g: g / n, grads)
    return value, grads
