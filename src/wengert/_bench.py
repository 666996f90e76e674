"""The benchmark suite behind ``wengert bench`` and ``benchmarks/run.py``.

Every workload is timed for wengert (eager, ``wg.jit``, ``wg.Tensor``), for
HIPS autograd, PyTorch and JAX where they are installed, and for a
hand-written NumPy gradient, which is the floor.  Every result is checked
against the hand gradient first, so nothing is fast because it is wrong.

Timings are medians: each (workload, library) group runs in ``--repeats``
fresh processes pinned to one core, with the BLAS libraries on one thread
(``OPENBLAS_NUM_THREADS=1`` ... and ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``
unset); inside a process each job is warmed up, then timed in batches, and
the median batch is kept.  ``--quick`` runs everything in this process with
a tiny budget (a smoke test, not a measurement).

Workloads:

====  ==================================================================
W1    gradient of x²y+y+2 at (3, 4) and of x⁴+3x²+2x at 2 (µs per call)
W2    value and gradient of the softmax cross-entropy of a 784-256-256-10
      tanh MLP, batch 128, float64 and float32; the forward pass beside it
W3    gradient of a 300-op elementwise chain (sin, ×1.0001, +0.1, tanh) on
      16 values (µs per op); ``chain.np`` the same code with plain ``np.*``
W4    full Hessian of sum(tanh(A@x)²) + rosenbrock(x), n = 100
W5    Jacobians of f: R¹⁰⁰⁰→R and g: R→R¹⁰⁰⁰ in both modes
W6    gradient of a 1000-step tanh recurrence, 64 hidden units; time and
      peak memory
W7    per-example gradients of 256 examples by vmap(grad)
W8    ``python -c "import wengert, wengert.numpy"`` wall time
====  ==================================================================

>>> r = run_job("W1.f1", "wengert", quick=True)
>>> r["ok"], r["result"]
(True, [24.0, 10.0])
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["main", "run_job", "run_quick", "WORKLOADS", "IMPLS", "TARGETS"]


class Skip(Exception):
    """A job that cannot run here (a library or a wengert feature is missing)."""


# ----------------------------------------------------------------------------
# Libraries


IMPLS = ["hand", "wengert", "wengert-jit", "wengert-tensor", "autograd", "torch", "jax", "jax-jit"]
PEERS = ("autograd", "torch", "jax", "jax-jit")


def _wg():
    import wengert as wg
    return wg


def _jit():
    wg = _wg()
    try:
        return wg.jit
    except (AttributeError, ImportError) as exc:
        raise Skip(f"wg.jit is not available ({exc})") from None


def _tensor():
    wg = _wg()
    try:
        return wg.tensor
    except (AttributeError, ImportError) as exc:
        raise Skip(f"wg.Tensor is not available ({exc})") from None


def _torch():
    try:
        import torch
    except ImportError:
        raise Skip("PyTorch is not installed (pip install torch)") from None
    import torch.func  # noqa: F401  (torch.func.hessian, jacrev, vmap)
    torch.set_num_threads(1)
    return torch


def _jax():
    try:
        import jax
    except ImportError:
        raise Skip("JAX is not installed (pip install jax)") from None
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


def _autograd():
    try:
        import autograd
        import autograd.numpy  # noqa: F401
    except ImportError:
        raise Skip("HIPS autograd is not installed (pip install autograd)") from None
    return autograd


def xp_of(impl: str):
    """The NumPy-like namespace of an implementation."""
    if impl == "hand":
        return np
    if impl.startswith("wengert"):
        import wengert.numpy as wnp
        return wnp
    if impl == "autograd":
        _autograd()
        import autograd.numpy as anp
        return anp
    if impl.startswith("jax"):
        _jax()
        import jax.numpy as jnp
        return jnp
    if impl == "torch":
        return _torch()
    raise ValueError(impl)


def to_np(x: Any) -> Any:
    """Results of any library as NumPy arrays (nested lists/tuples kept as lists)."""
    if isinstance(x, dict):
        return [to_np(x[k]) for k in sorted(x)]
    if isinstance(x, (list, tuple)):
        return [to_np(v) for v in x]
    if hasattr(x, "detach") and hasattr(x, "numpy"):   # torch
        return x.detach().numpy()
    if hasattr(x, "numpy") and callable(x.numpy):        # wg.Tensor
        return np.asarray(x.numpy())
    return np.asarray(x)


def _close(a: Any, b: Any, rtol: float) -> tuple[bool, float]:
    """(ok, worst relative error) of nested results against the reference."""
    a, b = to_np(a), to_np(b)
    if isinstance(b, list):
        if not isinstance(a, list) or len(a) != len(b):
            return False, float("inf")
        worst, ok = 0.0, True
        for u, v in zip(a, b):
            o, w = _close(u, v, rtol)
            ok &= o
            worst = max(worst, w)
        return ok, worst
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False, float("inf")
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    err = float(np.max(np.abs(a - b))) / scale if b.size else 0.0
    if not np.isfinite(err):
        return False, float("inf")
    return err <= rtol, err


def _dtype_mismatch(a: Any, b: Any) -> str | None:
    """A float32 reference must be matched by float32 results (SPEC: float32
    stays float32); returns a description of the first mismatch."""
    a, b = to_np(a), to_np(b)
    if isinstance(b, list):
        if not isinstance(a, list):
            return None
        for u, v in zip(a, b):
            m = _dtype_mismatch(u, v)
            if m:
                return m
        return None
    bd = np.asarray(b).dtype
    ad = np.asarray(a).dtype
    if bd == np.float32 and ad != np.float32:
        return f"wrong dtype: {ad.name} result for a float32 computation"
    return None


class Job:
    """One thing to time: ``fn()`` returns a result checked against ``ref``."""

    def __init__(self, fn: Callable[[], Any], ref: Any, *, per: int = 1, unit: str = "µs",
                 rtol: float = 1e-7, note: str = "", first: bool = False,
                 fresh: Callable[[], Callable[[], Any]] | None = None):
        self.fn = fn
        self.ref = ref
        self.per = per        # divide the time by this (µs per op)
        self.unit = unit
        self.rtol = rtol
        self.note = note
        self.first = first    # report the first call's time (jit compile)
        # makes a new, never-called ``fn`` (a fresh jit cache): its first and
        # second calls are timed once the interpreter is warm
        self.fresh = fresh


# ----------------------------------------------------------------------------
# W1: scalar functions


def _w1_funcs():
    def f1(x, y):
        return x ** 2 * y + y + 2

    def f2(x):
        return x ** 4 + 3 * x ** 2 + 2 * x

    return f1, f2


def build_w1(case: str, impl: str) -> Job:
    f1, f2 = _w1_funcs()
    if case == "f1":
        f, args, nums = f1, (3.0, 4.0), (0, 1)
        ref = [24.0, 10.0]

        def hand():
            x, y = 3.0, 4.0
            return [2 * x * y, x * x + 1]
    elif case == "f2":
        f, args, nums = f2, (2.0,), (0,)
        ref = 46.0

        def hand():
            x = 2.0
            return 4 * x ** 3 + 6 * x + 2
    else:
        raise ValueError(case)
    argnums = nums if len(nums) > 1 else nums[0]

    if impl == "hand":
        return Job(hand, ref)
    if impl == "wengert":
        g = _wg().grad(f, argnums=argnums)
        return Job(lambda: g(*args), ref)
    if impl == "wengert-jit":
        def make():
            g = _jit()(_wg().grad(f, argnums=argnums))
            return lambda: g(*args)
        return Job(make(), ref, first=True, fresh=make)
    if impl == "wengert-tensor":
        tensor = _tensor()

        def tfn():
            ts = [tensor(a, requires_grad=True) for a in args]
            f(*ts).backward()
            return [t.grad for t in ts] if len(ts) > 1 else ts[0].grad
        return Job(tfn, ref)
    if impl == "autograd":
        g = _autograd().grad(f, argnum=argnums)
        return Job(lambda: g(*args), ref)
    if impl == "torch":
        torch = _torch()

        def tfn():
            ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
            g = torch.autograd.grad(f(*ts), ts)
            return g if len(ts) > 1 else g[0]
        return Job(tfn, ref)
    if impl in ("jax", "jax-jit"):
        jax = _jax()
        g = jax.grad(f, argnums=argnums)
        if impl == "jax-jit":
            g = jax.jit(g)
        return Job(lambda: g(*args), ref, first=impl == "jax-jit")
    raise Skip(f"no {impl} variant")


# ----------------------------------------------------------------------------
# W2: MLP value and gradient


def _w2_data(dtype):
    rng = np.random.default_rng(0)
    sizes = [784, 256, 256, 10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype))
        params.append((rng.standard_normal(b) * 0.1).astype(dtype))
    X = rng.standard_normal((128, 784)).astype(dtype)
    labels = rng.integers(0, 10, 128)
    Y = np.eye(10, dtype=dtype)[labels]
    return params, X, Y


def _mlp_loss(xp):
    def loss(params, X, Y):
        W1, b1, W2, b2, W3, b3 = params
        h = xp.tanh(X @ W1 + b1)
        h = xp.tanh(h @ W2 + b2)
        z = h @ W3 + b3
        m = xp.max(z, axis=1, keepdims=True)
        logp = z - m - xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True))
        return -xp.sum(Y * logp) / X.shape[0]
    return loss


def _torch_mlp_loss(torch):
    def loss(params, X, Y):
        W1, b1, W2, b2, W3, b3 = params
        h = torch.tanh(X @ W1 + b1)
        h = torch.tanh(h @ W2 + b2)
        z = h @ W3 + b3
        m = torch.amax(z, dim=1, keepdim=True)
        logp = z - m - torch.log(torch.sum(torch.exp(z - m), dim=1, keepdim=True))
        return -torch.sum(Y * logp) / X.shape[0]
    return loss


def _mlp_hand_vg(params, X, Y):
    W1, b1, W2, b2, W3, b3 = params
    B = X.shape[0]
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    logp = z - m - np.log(s)
    loss = -(Y * logp).sum() / B
    dz = (e / s - Y) / B
    dW3 = h2.T @ dz
    db3 = dz.sum(axis=0)
    da2 = (dz @ W3.T) * (1 - h2 * h2)
    dW2 = h1.T @ da2
    db2 = da2.sum(axis=0)
    da1 = (da2 @ W2.T) * (1 - h1 * h1)
    dW1 = X.T @ da1
    db1 = da1.sum(axis=0)
    return loss, [dW1, db1, dW2, db2, dW3, db3]


def build_w2(case: str, impl: str) -> Job:
    dt_name, _, fwd = case.partition(".")
    dtype = {"f64": np.float64, "f32": np.float32}[dt_name]
    rtol = 1e-9 if dtype == np.float64 else 2e-3
    params, X, Y = _w2_data(dtype)
    ref_v, ref_g = _mlp_hand_vg(params, X, Y)
    if fwd:
        ref: Any = ref_v
        np_loss = _mlp_loss(np)
        if impl == "hand":
            return Job(lambda: np_loss(params, X, Y), ref, rtol=rtol, unit="ms")
        if impl == "wengert":
            import wengert.numpy as wnp
            f = _mlp_loss(wnp)
            return Job(lambda: f(params, X, Y), ref, rtol=rtol, unit="ms")
        if impl == "wengert-jit":
            import wengert.numpy as wnp
            f = _jit()(_mlp_loss(wnp))
            return Job(lambda: f(params, X, Y), ref, rtol=rtol, unit="ms", first=True)
        if impl == "autograd":
            f = _mlp_loss(xp_of("autograd"))
            return Job(lambda: f(params, X, Y), ref, rtol=rtol, unit="ms")
        if impl == "torch":
            torch = _torch()
            f = _torch_mlp_loss(torch)
            tp = [torch.from_numpy(p) for p in params]
            tX, tY = torch.from_numpy(X), torch.from_numpy(Y)

            def tfn():
                with torch.no_grad():
                    return f(tp, tX, tY)
            return Job(tfn, ref, rtol=rtol, unit="ms")
        if impl in ("jax", "jax-jit"):
            jax = _jax()
            import jax.numpy as jnp
            f = _mlp_loss(jnp)
            if impl == "jax-jit":
                f = jax.jit(f)
            jp = [jnp.asarray(p) for p in params]
            jX, jY = jnp.asarray(X), jnp.asarray(Y)
            return Job(lambda: f(jp, jX, jY).block_until_ready(), ref, rtol=rtol, unit="ms",
                       first=impl == "jax-jit")
        raise Skip(f"no {impl} variant")
    ref = [ref_v, ref_g]
    if impl == "hand":
        return Job(lambda: _mlp_hand_vg(params, X, Y), ref, rtol=rtol, unit="ms")
    if impl in ("wengert", "wengert-jit"):
        import wengert.numpy as wnp

        def make():
            vg = _wg().value_and_grad(_mlp_loss(wnp))
            if impl == "wengert-jit":
                vg = _jit()(vg)
            return lambda: vg(params, X, Y)
        return Job(make(), ref, rtol=rtol, unit="ms", first=impl == "wengert-jit",
                   fresh=make if impl == "wengert-jit" else None)
    if impl == "wengert-tensor":
        tensor = _tensor()
        import wengert.numpy as wnp
        f = _mlp_loss(wnp)
        tp = [tensor(p, requires_grad=True) for p in params]
        tX, tY = tensor(X), tensor(Y)

        def tfn():
            for p in tp:
                p.grad = None
            loss = f(tp, tX, tY)
            loss.backward()
            return [loss, [p.grad for p in tp]]
        return Job(tfn, ref, rtol=rtol, unit="ms")
    if impl == "autograd":
        ag = _autograd()
        vg = ag.value_and_grad(_mlp_loss(xp_of("autograd")))
        return Job(lambda: vg(params, X, Y), ref, rtol=rtol, unit="ms")
    if impl == "torch":
        torch = _torch()
        f = _torch_mlp_loss(torch)
        tp = [torch.from_numpy(p.copy()).requires_grad_(True) for p in params]
        tX, tY = torch.from_numpy(X), torch.from_numpy(Y)

        def tfn():
            loss = f(tp, tX, tY)
            return [loss, list(torch.autograd.grad(loss, tp))]
        return Job(tfn, ref, rtol=rtol, unit="ms")
    if impl in ("jax", "jax-jit"):
        jax = _jax()
        import jax.numpy as jnp
        vg = jax.value_and_grad(_mlp_loss(jnp))
        if impl == "jax-jit":
            vg = jax.jit(vg)
        jp = [jnp.asarray(p) for p in params]
        jX, jY = jnp.asarray(X), jnp.asarray(Y)

        def jfn():
            v, g = vg(jp, jX, jY)
            jax.block_until_ready(g)
            return [v, g]
        return Job(jfn, ref, rtol=rtol, unit="ms", first=impl == "jax-jit")
    raise Skip(f"no {impl} variant")


# ----------------------------------------------------------------------------
# W3: a 300-op elementwise chain


W3_REPS = 75   # 4 ops each: 300 ops


def _chain(xp):
    def chain(x):
        for _ in range(W3_REPS):
            x = xp.tanh(xp.sin(x) * 1.0001 + 0.1)
        return xp.sum(x)
    return chain


def _chain_hand_grad(x):
    cs, ts = [], []
    for _ in range(W3_REPS):
        cs.append(np.cos(x))
        x = np.tanh(np.sin(x) * 1.0001 + 0.1)
        ts.append(x)
    g = np.ones_like(x)
    for i in range(W3_REPS - 1, -1, -1):
        t = ts[i]
        g = g * (1 - t * t) * 1.0001 * cs[i]
    return g


def build_w3(case: str, impl: str) -> Job:
    x = np.linspace(-1.0, 1.0, 16)
    ref = _chain_hand_grad(x)
    per = 4 * W3_REPS
    if case == "chain.np" and impl not in ("wengert", "wengert-jit", "wengert-tensor"):
        raise Skip("chain.np is the chain written with plain np.* (NumPy's dispatch): wengert only")
    if impl == "hand":
        return Job(lambda: _chain_hand_grad(x), ref, per=per, unit="µs/op")
    if impl in ("wengert", "wengert-jit"):
        import wengert.numpy as wnp
        xp = np if case == "chain.np" else wnp  # np.sin(tracer): NEP 13 dispatch to wnp.sin

        def make():
            g = _wg().grad(_chain(xp))
            if impl == "wengert-jit":
                g = _jit()(g)
            return lambda: g(x)
        return Job(make(), ref, per=per, unit="µs/op", first=impl == "wengert-jit",
                   fresh=make if impl == "wengert-jit" else None)
    if impl == "wengert-tensor":
        tensor = _tensor()
        import wengert.numpy as wnp
        f = _chain(np if case == "chain.np" else wnp)

        def tfn():
            t = tensor(x, requires_grad=True)
            f(t).backward()
            return t.grad
        return Job(tfn, ref, per=per, unit="µs/op")
    if impl == "autograd":
        g = _autograd().grad(_chain(xp_of("autograd")))
        return Job(lambda: g(x), ref, per=per, unit="µs/op")
    if impl == "torch":
        torch = _torch()
        f = _chain(torch)

        def tfn():
            t = torch.from_numpy(x).requires_grad_(True)
            return torch.autograd.grad(f(t), t)[0]
        return Job(tfn, ref, per=per, unit="µs/op")
    if impl in ("jax", "jax-jit"):
        jax = _jax()
        import jax.numpy as jnp
        g = jax.grad(_chain(jnp))
        if impl == "jax-jit":
            g = jax.jit(g)
        jx = jnp.asarray(x)
        return Job(lambda: g(jx).block_until_ready(), ref, per=per, unit="µs/op",
                   first=impl == "jax-jit")
    raise Skip(f"no {impl} variant")


# ----------------------------------------------------------------------------
# W4: a full Hessian


W4_N = 100


def _w4_data():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((W4_N, W4_N)) / np.sqrt(W4_N)
    x = rng.standard_normal(W4_N) * 0.5
    return A, x


def _w4_f(xp, A):
    def f(x):
        t = xp.tanh(A @ x)
        r = xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        return xp.sum(t * t) + r
    return f


def _w4_hand(A, x):
    t = np.tanh(A @ x)
    d = 2 * (1 - t * t) * (1 - 3 * t * t)
    H = A.T @ (d[:, None] * A)
    i = np.arange(W4_N - 1)
    diag = np.zeros(W4_N)
    diag[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    diag[1:] += 200
    H[np.arange(W4_N), np.arange(W4_N)] += diag
    H[i, i + 1] += -400 * x[:-1]
    H[i + 1, i] += -400 * x[:-1]
    return H


def build_w4(case: str, impl: str) -> Job:
    A, x = _w4_data()
    ref = _w4_hand(A, x)
    if impl == "hand":
        return Job(lambda: _w4_hand(A, x), ref, unit="ms")
    if impl in ("wengert", "wengert-jit"):
        import wengert.numpy as wnp
        h = _wg().hessian(_w4_f(wnp, A))
        if impl == "wengert-jit":
            h = _jit()(h)
        return Job(lambda: h(x), ref, unit="ms", first=impl == "wengert-jit")
    if impl == "autograd":
        h = _autograd().hessian(_w4_f(xp_of("autograd"), A))
        return Job(lambda: h(x), ref, unit="ms")
    if impl == "torch":
        torch = _torch()
        h = torch.func.hessian(_w4_f(torch, torch.from_numpy(A)))
        tx = torch.from_numpy(x)
        return Job(lambda: h(tx), ref, unit="ms", note="torch.func.hessian")
    if impl in ("jax", "jax-jit"):
        jax = _jax()
        import jax.numpy as jnp
        h = jax.hessian(_w4_f(jnp, jnp.asarray(A)))
        if impl == "jax-jit":
            h = jax.jit(h)
        jx = jnp.asarray(x)
        return Job(lambda: h(jx).block_until_ready(), ref, unit="ms", first=impl == "jax-jit")
    raise Skip(f"no {impl} variant")


# ----------------------------------------------------------------------------
# W5: Jacobians of R^1000 -> R and R -> R^1000, both modes


W5_N = 1000


def build_w5(case: str, impl: str) -> Job:
    fname, _, mode = case.partition(".")
    xs = np.linspace(-2.0, 2.0, W5_N)
    c = np.linspace(0.1, 1.0, W5_N)
    t0 = 0.3
    if fname == "f":
        arg = xs
        ref = np.cos(xs) * xs + np.sin(xs)

        def hand():
            return np.cos(xs) * xs + np.sin(xs)

        def make(xp, cc):
            return lambda x: xp.sum(xp.sin(x) * x)
    else:
        arg = t0
        ref = c * np.cos(c * t0)

        def hand():
            return c * np.cos(c * t0)

        def make(xp, cc):
            return lambda t: xp.sin(cc * t)
    right = (fname == "f") == (mode == "rev")
    note = "right mode" if right else "wrong mode"
    if impl == "hand":
        return Job(hand, ref, unit="ms")
    if impl in ("wengert", "wengert-jit"):
        import wengert.numpy as wnp
        wg = _wg()
        jac = (wg.jacrev if mode == "rev" else wg.jacfwd)(make(wnp, c))
        if impl == "wengert-jit":
            jac = _jit()(jac)
        return Job(lambda: jac(arg), ref, unit="ms", note=note)
    if impl == "autograd":
        if mode == "fwd":
            raise Skip("autograd has no forward-mode jacobian")
        jac = _autograd().jacobian(make(xp_of("autograd"), c))
        return Job(lambda: jac(arg), ref, unit="ms", note=note)
    if impl == "torch":
        torch = _torch()
        jac = (torch.func.jacrev if mode == "rev" else torch.func.jacfwd)(make(torch, torch.from_numpy(c)))
        ta = torch.from_numpy(xs) if fname == "f" else torch.tensor(t0, dtype=torch.float64)
        return Job(lambda: jac(ta), ref, unit="ms", note=note)
    if impl in ("jax", "jax-jit"):
        jax = _jax()
        import jax.numpy as jnp
        jac = (jax.jacrev if mode == "rev" else jax.jacfwd)(make(jnp, jnp.asarray(c)))
        if impl == "jax-jit":
            jac = jax.jit(jac)
        ja = jnp.asarray(xs) if fname == "f" else jnp.asarray(t0)
        return Job(lambda: jac(ja).block_until_ready(), ref, unit="ms", note=note,
                   first=impl == "jax-jit")
    raise Skip(f"no {impl} variant")


# ----------------------------------------------------------------------------
# W6: a 1000-step recurrence


W6_T, W6_H = 1000, 64


def _w6_data():
    rng = np.random.default_rng(6)
    W = rng.standard_normal((W6_H, W6_H)) / np.sqrt(W6_H)
    xs = [row for row in rng.standard_normal((W6_T, W6_H)) * 0.5]
    h0 = np.zeros(W6_H)
    return W, xs, h0


def _w6_f(xp, xs, h0):
    def f(W):
        h = h0
        for x in xs:
            h = xp.tanh(W @ h + x)
        return xp.sum(h)
    return f


def _w6_hand(W, xs, h0):
    hs = [h0]
    h = h0
    for x in xs:
        h = np.tanh(W @ h + x)
        hs.append(h)
    gh = np.ones(W6_H)
    gW = np.zeros_like(W)
    for t in range(len(xs) - 1, -1, -1):
        ht = hs[t + 1]
        da = gh * (1 - ht * ht)
        gW += np.outer(da, hs[t])
        gh = W.T @ da
    return gW


def build_w6(case: str, impl: str) -> Job:
    W, xs, h0 = _w6_data()
    ref = _w6_hand(W, xs, h0)
    if impl == "hand":
        return Job(lambda: _w6_hand(W, xs, h0), ref, unit="ms")
    if impl in ("wengert", "wengert-jit"):
        import wengert.numpy as wnp

        def make():
            g = _wg().grad(_w6_f(wnp, xs, h0))
            if impl == "wengert-jit":
                g = _jit()(g)
            return lambda: g(W)
        return Job(make(), ref, unit="ms", first=impl == "wengert-jit",
                   fresh=make if impl == "wengert-jit" else None)
    if impl == "autograd":
        g = _autograd().grad(_w6_f(xp_of("autograd"), xs, h0))
        return Job(lambda: g(W), ref, unit="ms")
    if impl == "torch":
        torch = _torch()
        f = _w6_f(torch, [torch.from_numpy(x) for x in xs], torch.from_numpy(h0))

        def tfn():
            tW = torch.from_numpy(W).requires_grad_(True)
            return torch.autograd.grad(f(tW), tW)[0]
        return Job(tfn, ref, unit="ms")
    if impl in ("jax", "jax-jit"):
        jax = _jax()
        import jax.numpy as jnp
        if impl == "jax-jit":
            jxs = jnp.asarray(np.stack(xs))

            def f(Wm):
                def step(h, x):
                    return jnp.tanh(Wm @ h + x), None
                h, _ = jax.lax.scan(step, jnp.asarray(h0), jxs)
                return jnp.sum(h)
            g = jax.jit(jax.grad(f))
            note = "lax.scan"
        else:
            g = jax.grad(_w6_f(jnp, [jnp.asarray(x) for x in xs], jnp.asarray(h0)))
            note = ""
        jW = jnp.asarray(W)
        return Job(lambda: g(jW).block_until_ready(), ref, unit="ms", note=note,
                   first=impl == "jax-jit")
    raise Skip(f"no {impl} variant")


# ----------------------------------------------------------------------------
# W7: per-example gradients


W7_B, W7_D = 256, 64


def _w7_data():
    rng = np.random.default_rng(7)
    w = rng.standard_normal(W7_D) / np.sqrt(W7_D)
    X = rng.standard_normal((W7_B, W7_D))
    Y = rng.standard_normal(W7_B) * 0.5
    return w, X, Y


def _w7_loss(xp):
    def loss(w, x, y):
        r = xp.tanh(xp.sum(x * w)) - y
        return r * r
    return loss


def _w7_hand(w, X, Y):
    t = np.tanh(X @ w)
    return (2 * (t - Y) * (1 - t * t))[:, None] * X


def build_w7(case: str, impl: str) -> Job:
    w, X, Y = _w7_data()
    ref = _w7_hand(w, X, Y)
    if impl == "hand":
        return Job(lambda: _w7_hand(w, X, Y), ref, unit="ms", note="batched by hand")
    if impl in ("wengert", "wengert-jit"):
        import wengert.numpy as wnp
        wg = _wg()
        pg = wg.vmap(wg.grad(_w7_loss(wnp)), in_axes=(None, 0, 0))
        if impl == "wengert-jit":
            pg = _jit()(pg)
        return Job(lambda: pg(w, X, Y), ref, unit="ms", first=impl == "wengert-jit")
    if impl == "autograd":
        g = _autograd().grad(_w7_loss(xp_of("autograd")))
        return Job(lambda: np.stack([g(w, X[i], Y[i]) for i in range(W7_B)]), ref, unit="ms",
                   note="Python loop (no vmap)")
    if impl == "torch":
        torch = _torch()
        pg = torch.func.vmap(torch.func.grad(_w7_loss(torch)), in_dims=(None, 0, 0))
        tw, tX, tY = (torch.from_numpy(a) for a in (w, X, Y))
        return Job(lambda: pg(tw, tX, tY), ref, unit="ms")
    if impl in ("jax", "jax-jit"):
        jax = _jax()
        import jax.numpy as jnp
        pg = jax.vmap(jax.grad(_w7_loss(jnp)), in_axes=(None, 0, 0))
        if impl == "jax-jit":
            pg = jax.jit(pg)
        jw, jX, jY = (jnp.asarray(a) for a in (w, X, Y))
        return Job(lambda: pg(jw, jX, jY).block_until_ready(), ref, unit="ms",
                   first=impl == "jax-jit")
    raise Skip(f"no {impl} variant")


# ----------------------------------------------------------------------------
# Registry


WORKLOADS: dict[str, dict] = {
    "W1": {"build": build_w1, "cases": ["f1", "f2"], "impls": IMPLS,
           "title": "W1: gradient of x²y+y+2 at (3, 4) [f1] and of x⁴+3x²+2x at 2 [f2]"},
    "W2": {"build": build_w2, "cases": ["f64", "f64.fwd", "f32", "f32.fwd"], "impls": IMPLS,
           "title": "W2: value and gradient of an MLP's softmax cross-entropy "
                    "(784-256-256-10, tanh, batch 128); .fwd = forward pass only"},
    "W3": {"build": build_w3, "cases": ["chain", "chain.np"], "impls": IMPLS,
           "title": "W3: gradient of a 300-op elementwise chain on 16 values (per op); "
                    ".np = the same chain written with plain np.* (NumPy's dispatch)"},
    "W4": {"build": build_w4, "cases": ["hessian"],
           "impls": ["hand", "wengert", "wengert-jit", "autograd", "torch", "jax", "jax-jit"],
           "title": "W4: full Hessian of sum(tanh(A@x)²) + rosenbrock(x), n = 100"},
    "W5": {"build": build_w5, "cases": ["f.rev", "f.fwd", "g.fwd", "g.rev"],
           "impls": ["hand", "wengert", "autograd", "torch", "jax", "jax-jit"],
           "title": "W5: Jacobians of f: R¹⁰⁰⁰→R (f = sum(sin(x)·x)) and g: R→R¹⁰⁰⁰ "
                    "(g = sin(c·t)); .rev = jacrev, .fwd = jacfwd"},
    "W6": {"build": build_w6, "cases": ["rnn"],
           "impls": ["hand", "wengert", "wengert-jit", "autograd", "torch", "jax", "jax-jit"],
           "title": "W6: gradient of a 1000-step tanh recurrence, 64 hidden units"},
    "W7": {"build": build_w7, "cases": ["per-example"],
           "impls": ["hand", "wengert", "wengert-jit", "autograd", "torch", "jax", "jax-jit"],
           "title": "W7: per-example gradients of 256 examples, vmap(grad)"},
}


def make_job(job_id: str, impl: str) -> Job:
    wl, _, case = job_id.partition(".")
    if wl not in WORKLOADS:
        raise ValueError(f"unknown workload {wl!r}; choose from {', '.join(WORKLOADS)}, W8")
    return WORKLOADS[wl]["build"](case, impl)


# ----------------------------------------------------------------------------
# Timing


def _measure(fn: Callable[[], Any], budget: float) -> dict:
    """Seconds per call, timed in batches of about 2 ms after a warm-up.

    Returns the best batch (``best``: the least disturbed by other work on
    the machine, timeit's estimator) and the median batch (``median``).
    """
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    if one * 4 > budget:   # slow: a few single calls
        samples = [one]
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return {"best": min(samples), "median": statistics.median(samples), "calls": 3}
    t0 = time.perf_counter()
    fn()
    one = min(one, time.perf_counter() - t0)
    n = max(1, int(0.002 / max(one, 1e-8)))
    rounds = int(max(5, min(151, budget / max(n * one, 1e-9))))
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return {"best": min(samples), "median": statistics.median(samples), "calls": n * rounds}


def run_job(job_id: str, impl: str, quick: bool = False, budget: float = 0.5) -> dict:
    """Build, check and time one job in this process; returns a result dict."""
    res: dict[str, Any] = {"job": job_id, "impl": impl}
    try:
        job = make_job(job_id, impl)
    except Skip as exc:
        res.update(skipped=str(exc))
        return res
    res.update(unit=job.unit, per=job.per, note=job.note)
    try:
        t0 = time.perf_counter()
        out = job.fn()
        first = time.perf_counter() - t0
        ok, err = _close(out, job.ref, job.rtol)
        bad_dtype = _dtype_mismatch(out, job.ref)
    except Skip as exc:
        res.update(skipped=str(exc))
        return res
    except Exception as exc:  # a failing library is reported, not fatal
        res.update(error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return res
    res.update(ok=ok, rel_err=err, first_call=first)
    if quick:
        res["result"] = [float(v) for v in np.ravel(np.concatenate(
            [np.ravel(a) for a in _flat(to_np(out))]))][:8]
    if not ok:
        res["error"] = f"wrong result: relative error {err:.2e} > {job.rtol:.0e}"
        return res
    if bad_dtype:
        res.update(ok=False, error=bad_dtype)
        return res
    m = _measure(job.fn, 0.02 if quick else budget)
    res.update(time=m["best"], time_median=m["median"], calls=m["calls"])
    if job.fresh is not None:
        res.update(_first_calls(job.fresh, 1 if quick else 5, 0.0 if quick else budget))
    return res


def _first_calls(fresh: Callable[[], Callable[[], Any]], n: int, budget: float) -> dict:
    """The first and second calls of new jitted functions (at least ``n`` of
    them, more while ``budget`` seconds last, at most 50), timed after the
    process has run the job (Python's own cold start, which an eager first
    call pays too, is left out): the first call traces, the second optimises,
    generates and compiles the code and runs it."""
    firsts, seconds = [], []
    end = time.perf_counter() + budget
    while len(firsts) < n or (len(firsts) < 50 and time.perf_counter() < end):
        fn = fresh()
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        fn()
        t2 = time.perf_counter()
        firsts.append(t1 - t0)
        seconds.append(t2 - t1)
    return {"first_call_warm": statistics.median(firsts), "second_call_warm": statistics.median(seconds)}


def _flat(x):
    if isinstance(x, list):
        out = []
        for v in x:
            out.extend(_flat(v))
        return out
    return [np.asarray(x, dtype=np.float64)]


def _memory_job(impl: str) -> dict:
    """W6 peak memory of one gradient call: tracemalloc peak and RSS growth."""
    import resource
    import tracemalloc

    res: dict[str, Any] = {"job": "W6.memory", "impl": impl}
    try:
        job = make_job("W6.rnn", impl)
    except Skip as exc:
        res.update(skipped=str(exc))
        return res
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = job.fn()            # the first call (for jit: tracing and compiling too)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()       # then the peak of a steady-state call
    try:
        job.fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    ok, err = _close(out, job.ref, job.rtol)
    res.update(ok=ok, rel_err=err, tracemalloc_peak=peak, rss_growth=(rss1 - rss0) * 1024,
               rss_import=rss0 * 1024)
    return res


# ----------------------------------------------------------------------------
# Child processes


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               VECLIB_MAXIMUM_THREADS="1", NUMEXPR_NUM_THREADS="1", JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        pass


def _worker(spec: dict) -> list[dict]:
    if spec.get("core") is not None:
        _pin(spec["core"])
    out = []
    for job_id, impl in spec["jobs"]:
        if job_id == "W6.memory":
            out.append(_memory_job(impl))
        else:
            out.append(run_job(job_id, impl, quick=spec.get("quick", False),
                               budget=spec.get("budget", 0.5)))
    return out


def _spawn(jobs: list[tuple[str, str]], core: int | None, budget: float, timeout: float,
           quick: bool = False) -> list[dict]:
    spec = json.dumps({"jobs": jobs, "core": core, "budget": budget, "quick": quick})
    try:
        proc = subprocess.run([sys.executable, "-m", "wengert._bench", "--worker", spec],
                              capture_output=True, text=True, env=child_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"job": j, "impl": i, "error": f"timed out after {timeout:.0f} s"} for j, i in jobs]
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("[") or line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return [{"job": j, "impl": i, "error": f"worker failed: {err}"} for j, i in jobs]


def _import_time(code: str, repeats: int, core: int) -> dict:
    """Wall time of fresh ``python -c code`` processes: median, best, and the
    median CPU time (user + system) of the child, which load does not inflate."""
    import resource

    env = child_env()
    times, cpus = [], []
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(["taskset", "-c", str(core), sys.executable, "-c", code] if _has_taskset()
                       else [sys.executable, "-c", code], env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return {"time": statistics.median(times), "best": min(times), "cpu": statistics.median(cpus)}


def _w8_row(impl: str, code: str, repeats: int, core: int) -> dict:
    t = _import_time(code, repeats, core)
    return {"job": "W8.import", "impl": impl, "unit": "ms", "per": 1, "ok": True,
            "time": t["time"], "best": t["best"], "cpu": t["cpu"],
            "note": f'python -c "{code}" (median of {repeats}; best {t["best"] * 1e3:.0f} ms, '
                    f'CPU {t["cpu"] * 1e3:.0f} ms)'}


def _has_taskset() -> bool:
    import shutil
    return shutil.which("taskset") is not None


# ----------------------------------------------------------------------------
# Driver


def _select(only: Sequence[str] | None, impls: Sequence[str] | None) -> list[tuple[str, str, str]]:
    out = []
    for wl, d in WORKLOADS.items():
        if only and wl not in only:
            continue
        for case in d["cases"]:
            for impl in d["impls"]:
                if impls and impl not in impls:
                    continue
                if case.endswith(".fwd") and wl == "W2" and impl == "wengert-tensor":
                    continue
                out.append((wl, f"{wl}.{case}", impl))
    return out


def run_quick(only: Sequence[str] | None = None, impls: Sequence[str] | None = None,
              budget: float = 0.02, isolated: bool = True) -> list[dict]:
    """Every selected job once (checks + a rough time), in one child process
    with single-threaded BLAS (``isolated``; multi-threaded BLAS on a busy
    machine can be 50x slower) or in this process."""
    impls = impls or ["hand", "wengert", "wengert-jit", "wengert-tensor"]
    jobs = [(job, impl) for _, job, impl in _select(only, impls)]
    if (not only or "W6" in only) and "wengert" in impls:
        jobs.append(("W6.memory", "wengert"))
    if isolated:
        res = _spawn(jobs, None, budget, timeout=600, quick=True)
    else:
        res = [_memory_job(impl) if job == "W6.memory" else
               run_job(job, impl, quick=True, budget=budget) for job, impl in jobs]
    if (not only or "W8" in only) and "wengert" in impls:
        res.append(_w8_row("wengert", "import wengert, wengert.numpy", 1, 0))
    return res


def run_full(only: Sequence[str] | None, impls: Sequence[str] | None, repeats: int, core: int,
             budget: float, log=None) -> list[dict]:
    """Each (workload, library) group in ``repeats`` fresh pinned processes."""
    sel = _select(only, impls)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for wl, job, impl in sel:
        groups.setdefault((wl, impl), []).append((job, impl))
    if (not only or "W6" in only):
        for impl in ("hand", "wengert", "wengert-jit", "autograd", "torch", "jax", "jax-jit"):
            if not impls or impl in impls:
                groups.setdefault(("W6mem", impl), []).append(("W6.memory", impl))
    results: dict[tuple[str, str], list[dict]] = {}
    # round robin: repeat k of every group runs before repeat k + 1 of any, so
    # that a burst of load on the machine does not land on one library only
    for rep in range(repeats):
        for (wl, impl), jobs in groups.items():
            if wl == "W6mem" and rep > 0:
                continue
            if log:
                print(f"  [{rep + 1}/{repeats}] {wl:5s} {impl:15s} ...", end="", file=log, flush=True)
            t0 = time.perf_counter()
            run = _spawn(jobs, core, budget, timeout=300)
            for k, (job, _) in enumerate(jobs):
                if k < len(run):
                    results.setdefault((job, impl), []).append(run[k])
            if log:
                print(f" {time.perf_counter() - t0:5.1f} s", file=log, flush=True)
    merged = []
    for rs in results.values():
        good = [r for r in rs if "time" in r]
        r = dict(rs[0])
        if good:
            r = dict(good[0])
            r["time"] = statistics.median(g["time"] for g in good)
            r["time_median"] = statistics.median(g["time_median"] for g in good)
            for k in ("first_call", "first_call_warm", "second_call_warm"):
                if all(k in g for g in good):
                    r[k] = statistics.median(g[k] for g in good)
            r["times"] = [g["time"] for g in good]
        merged.append(r)
    if not only or "W8" in only:
        n = max(5, repeats * 3)
        merged += [_w8_row("wengert", "import wengert, wengert.numpy", n, core),
                   _w8_row("numpy only", "import numpy", n, core),
                   _w8_row("python only", "pass", n, core)]
    return merged


# ----------------------------------------------------------------------------
# Reporting


def _t(r: dict) -> float | None:
    """Time in the job's unit."""
    if "time" not in r:
        return None
    s = r["time"] / r.get("per", 1)
    return s * 1e3 if r.get("unit") == "ms" else s * 1e6


def _fmt_num(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def _fmt_secs(s: float) -> str:
    if s < 1e-3:
        return f"{_fmt_num(s * 1e6)} µs"
    if s < 1:
        return f"{_fmt_num(s * 1e3)} ms"
    return f"{s:.2f} s"


def _fmt_ratio(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 0.1:
        return f"{v:.2f}"
    return f"{v:.2g}"


def _order(r: dict) -> tuple:
    wl, _, case = r["job"].partition(".")
    wls = list(WORKLOADS) + ["W8"]
    cases = WORKLOADS[wl]["cases"] if wl in WORKLOADS else []
    impl = r["impl"]
    return (wls.index(wl) if wl in wls else 99, cases.index(case) if case in cases else 99,
            IMPLS.index(impl) if impl in IMPLS else 99)


def _index(results: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["job"], r["impl"]): r for r in results}


def tables(results: list[dict]) -> str:
    """Markdown tables: one per workload, one row per (case, library)."""
    idx = _index(results)
    lines = []
    for wl, d in list(WORKLOADS.items()) + [("W8", {"title": "W8: import time", "cases": ["import"]})]:
        rows = sorted((r for r in results if r["job"].split(".")[0] == wl and r["job"] != "W6.memory"),
                      key=_order)
        if not rows:
            continue
        lines.append(f"### {d['title']}\n")
        lines.append("| case | library | time | unit | × hand | × wengert | first call | check | note |")
        lines.append("|---|---|---:|---|---:|---:|---:|---|---|")
        for r in rows:
            case = r["job"].split(".", 1)[1]
            t = _t(r)
            hand = idx.get((r["job"], "hand"))
            wgr = idx.get((r["job"], "wengert"))
            th = _t(hand) if hand else None
            tw = _t(wgr) if wgr else None
            vs_h = _fmt_ratio(t / th) if t and th else ""
            vs_w = _fmt_ratio(t / tw) if t and tw and r["impl"] != "wengert" else ""
            unit = r.get("unit", "")
            first = ""
            if "first_call" in r and r["impl"].endswith("jit"):
                first = _fmt_secs(r["first_call"])
            if "skipped" in r:
                check, note = "skipped", r["skipped"]
            elif "error" in r:
                check, note = "**FAILED**", r["error"]
            elif "ok" in r:
                check = "ok" if r["ok"] else "**WRONG**"
                note = r.get("note", "")
                if "rel_err" in r:
                    check += f" ({r['rel_err']:.0e})"
            else:
                check, note = "", r.get("note", "")
            lines.append(f"| {case} | {r['impl']} | {_fmt_num(t)} | {unit} | {vs_h} | {vs_w} | "
                         f"{first} | {check} | {note} |")
        if wl == "W6":
            mem = [r for r in results if r["job"] == "W6.memory"]
            if mem:
                lines.append("\nPeak memory of one gradient call (W6):\n")
                lines.append("| library | tracemalloc peak | RSS growth over import-only | check |")
                lines.append("|---|---:|---:|---|")
                for r in mem:
                    if "tracemalloc_peak" in r:
                        lines.append(f"| {r['impl']} | {r['tracemalloc_peak'] / 2**20:.2f} MB | "
                                     f"{r['rss_growth'] / 2**20:.2f} MB | "
                                     f"{'ok' if r.get('ok') else 'WRONG'} |")
                    else:
                        lines.append(f"| {r['impl']} | — | — | {r.get('skipped') or r.get('error')} |")
        lines.append("")
    return "\n".join(lines)


def _get(idx, job, impl):
    r = idx.get((job, impl))
    return _t(r) if r else None


# (label, function(idx) -> (value text, met: True/False/None))
def _targets(results: list[dict]) -> list[tuple[str, str, str, str]]:
    idx = _index(results)
    out = []

    def add(label, target_text, value, limit, unit="", ratio=False, missing="not run"):
        if value is None:
            out.append((label, target_text, missing, "not run"))
            return
        txt = f"{value:.2f}×" if ratio else f"{_fmt_num(value)} {unit}".strip()
        out.append((label, target_text, txt, "met" if value <= limit else "missed"))

    def ratio(a, b):
        return a / b if a is not None and b else None

    w1 = _get(idx, "W1.f1", "wengert")
    add("W1 grad, eager", "≤ 15 µs", w1, 15, "µs")
    add("W1 grad, eager (stretch)", "≤ 8 µs", w1, 8, "µs")
    add("W3 grad, eager", "≤ 3 µs/op", _get(idx, "W3.chain", "wengert"), 3, "µs/op")
    add("W3 np.* (NumPy's dispatch) vs wnp.*, eager grad", "≤ 1.3×",
        ratio(_get(idx, "W3.chain.np", "wengert"), _get(idx, "W3.chain", "wengert")), 1.3, ratio=True)
    for dt in ("f64", "f32"):
        add(f"W2 {dt} value-and-grad vs hand", "≤ 1.15×",
            ratio(_get(idx, f"W2.{dt}", "wengert"), _get(idx, f"W2.{dt}", "hand")), 1.15, ratio=True)
        add(f"W2 {dt} value-and-grad vs forward", "≤ 3.5×",
            ratio(_get(idx, f"W2.{dt}", "wengert"), _get(idx, f"W2.{dt}.fwd", "wengert")), 3.5,
            ratio=True)
    add("W6 grad vs hand", "≤ 2×", ratio(_get(idx, "W6.rnn", "wengert"), _get(idx, "W6.rnn", "hand")),
        2, ratio=True)
    mem = idx.get(("W6.memory", "wengert"))
    add("W6 extra peak memory (tracemalloc)", "≤ 10 MB",
        mem["tracemalloc_peak"] / 2**20 if mem and "tracemalloc_peak" in mem else None, 10, "MB")
    add("W6 extra peak memory (RSS growth)", "≤ 10 MB",
        mem["rss_growth"] / 2**20 if mem and "rss_growth" in mem else None, 10, "MB")
    add("W8 import wengert, wengert.numpy (wall)", "≤ 150 ms", _get(idx, "W8.import", "wengert"), 150,
        "ms")
    w8 = idx.get(("W8.import", "wengert"))
    add("W8 the same, CPU time (user + sys; not inflated by load)", "≤ 150 ms",
        w8["cpu"] * 1e3 if w8 and "cpu" in w8 else None, 150, "ms")
    add("jit W1", "≤ 8 µs", _get(idx, "W1.f1", "wengert-jit"), 8, "µs")
    add("jit W3", "≤ 1.3 µs/op", _get(idx, "W3.chain", "wengert-jit"), 1.3, "µs/op")
    for dt in ("f64", "f32"):
        add(f"jit W2 {dt} vs hand", "≤ 1.1×",
            ratio(_get(idx, f"W2.{dt}", "wengert-jit"), _get(idx, f"W2.{dt}", "hand")), 1.1, ratio=True)
    for job in ("W1.f1", "W2.f64", "W3.chain", "W6.rnn"):
        r = idx.get((job, "wengert-jit"))
        eager = idx.get((job, "wengert"))
        v = None
        if r and eager and "first_call_warm" in r and "time" in eager:
            v = r["first_call_warm"] / eager["time"]
        add(f"jit first call vs an eager call, {job}", "≤ 10×", v, 10, ratio=True)
    add("W4 Hessian, eager", "≤ 1 ms", _get(idx, "W4.hessian", "wengert"), 1, "ms")
    add("W4 Hessian, jit", "≤ 0.3 ms", _get(idx, "W4.hessian", "wengert-jit"), 0.3, "ms")
    add("W5 f: jacrev (right mode) vs hand", "≤ 5×",
        ratio(_get(idx, "W5.f.rev", "wengert"), _get(idx, "W5.f.rev", "hand")), 5, ratio=True)
    add("W5 g: jacfwd (right mode) vs hand", "≤ 5×",
        ratio(_get(idx, "W5.g.fwd", "wengert"), _get(idx, "W5.g.fwd", "hand")), 5, ratio=True)
    add("W5 f: jacfwd (wrong mode)", "≤ 10 ms", _get(idx, "W5.f.fwd", "wengert"), 10, "ms")
    add("W5 g: jacrev (wrong mode)", "≤ 10 ms", _get(idx, "W5.g.rev", "wengert"), 10, "ms")
    add("W7 vmap(grad), eager", "≤ 1 ms", _get(idx, "W7.per-example", "wengert"), 1, "ms")
    add("W7 vmap(grad), jit vs hand-batched", "≤ 1.5×",
        ratio(_get(idx, "W7.per-example", "wengert-jit"), _get(idx, "W7.per-example", "hand")), 1.5,
        ratio=True)
    add("Tensor W1", "≤ 15 µs", _get(idx, "W1.f1", "wengert-tensor"), 15, "µs")
    add("Tensor W3", "≤ 3 µs/op", _get(idx, "W3.chain", "wengert-tensor"), 3, "µs/op")
    add("Tensor W2 f64 vs functional value_and_grad", "≤ 1.2×",
        ratio(_get(idx, "W2.f64", "wengert-tensor"), _get(idx, "W2.f64", "wengert")), 1.2, ratio=True)
    # a target whose job was skipped says why
    reasons = {}
    for r in results:
        if "skipped" in r or "error" in r:
            reasons.setdefault(r["impl"], r.get("skipped") or r.get("error"))
    fixed = []
    for label, tgt, val, status in out:
        if status == "not run":
            impl = "wengert-jit" if label.startswith("jit") or "jit" in label else \
                "wengert-tensor" if label.startswith("Tensor") else "wengert"
            val = reasons.get(impl, "not measured")
            job = _TARGET_JOBS.get(label)
            r = idx.get((job, impl)) if job else None
            if r is not None and "error" in r:
                val, status = f"{r['job']}: {r['error']}", "failed"
            elif r is not None and "skipped" in r:
                val = r["skipped"]
        fixed.append((label, tgt, val, status))
    return fixed


# the job behind each target whose failure must show as "failed", not "not run"
_TARGET_JOBS = {"W1 grad, eager": "W1.f1", "W3 grad, eager": "W3.chain", "jit W1": "W1.f1",
                "jit W3": "W3.chain", "jit W2 f64 vs hand": "W2.f64", "jit W2 f32 vs hand": "W2.f32",
                "W2 f64 value-and-grad vs hand": "W2.f64", "W2 f32 value-and-grad vs hand": "W2.f32",
                "W6 grad vs hand": "W6.rnn", "W4 Hessian, eager": "W4.hessian",
                "W4 Hessian, jit": "W4.hessian", "W7 vmap(grad), eager": "W7.per-example",
                "W7 vmap(grad), jit vs hand-batched": "W7.per-example", "Tensor W1": "W1.f1",
                "Tensor W3": "W3.chain", "Tensor W2 f64 vs functional value_and_grad": "W2.f64"}


TARGETS = _targets


def targets_table(results: list[dict], everything: bool = True) -> str:
    lines = ["| target | limit | measured | status |", "|---|---|---|---|"]
    for label, tgt, val, status in _targets(results):
        if not everything and val == "not measured":
            continue
        st = {"met": "met", "missed": "**missed**", "not run": "not run",
              "failed": "**failed** (wrong result)"}[status]
        lines.append(f"| {label} | {tgt} | {val} | {st} |")
    return "\n".join(lines)


def first_calls_table(results: list[dict]) -> str:
    """jit's first two calls for a new signature against one eager call."""
    idx = _index(results)
    lines = ["| workload | one eager call | jit 1st call (traces) | × eager | "
             "jit 2nd call (optimises, compiles, runs) | × eager | "
             "cold 1st call in a fresh process: jit / eager |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for job in ("W1.f1", "W2.f64", "W3.chain", "W6.rnn"):
        r, e = idx.get((job, "wengert-jit")), idx.get((job, "wengert"))
        if not r or not e or "first_call_warm" not in r or "time" not in e:
            continue
        t = e["time"]
        cold = (f"{_fmt_secs(r['first_call'])} / {_fmt_secs(e['first_call'])}"
                if "first_call" in e else "—")
        lines.append(f"| {job} | {_fmt_secs(t)} | {_fmt_secs(r['first_call_warm'])} | "
                     f"{_fmt_ratio(r['first_call_warm'] / t)} | {_fmt_secs(r['second_call_warm'])} | "
                     f"{_fmt_ratio(r['second_call_warm'] / t)} | {cold} |")
    return "\n".join(lines) if len(lines) > 2 else "(no jit first-call measurements in this run)"


def peers_summary(results: list[dict]) -> str:
    """wengert's time as a multiple of each peer's (below 1: wengert is faster)."""
    idx = _index(results)
    jobs = [("W1.f1", "W1 x²y+y+2"), ("W1.f2", "W1 x⁴+3x²+2x"), ("W2.f64", "W2 f64"),
            ("W2.f32", "W2 f32"), ("W3.chain", "W3 chain"), ("W4.hessian", "W4 Hessian"),
            ("W5.f.rev", "W5 f jacrev"), ("W5.g.fwd", "W5 g jacfwd"), ("W6.rnn", "W6 RNN"),
            ("W7.per-example", "W7 vmap(grad)")]
    lines = ["| workload | wengert | × hand | × autograd | × torch | × jax (eager) | × jax (jit) | "
             "wengert-jit × jax-jit |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for job, label in jobs:
        w = _get(idx, job, "wengert")
        if w is None:
            continue
        unit = idx[(job, "wengert")].get("unit", "")
        cells = []
        for impl in ("hand", "autograd", "torch", "jax", "jax-jit"):
            p = _get(idx, job, impl)
            cells.append(_fmt_ratio(w / p) if p else "—")
        wj, jj = _get(idx, job, "wengert-jit"), _get(idx, job, "jax-jit")
        cells.append(_fmt_ratio(wj / jj) if wj and jj else "—")
        lines.append(f"| {label} | {_fmt_num(w)} {unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_info() -> str:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    vers = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    for mod in ("autograd", "torch", "jax"):
        try:
            from importlib.metadata import version
            vers.append(f"{mod} {version(mod)}")
        except Exception:
            pass
    blas = ""
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg.get("Build Dependencies", {}).get("blas", {})
        blas = f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        commit = ""
    return (f"- CPU: {cpu}, {os.cpu_count()} logical cores (shared), {platform.system()} "
            f"{platform.release()}\n- {', '.join(vers)}; NumPy BLAS: {blas or 'unknown'}\n"
            f"- wengert commit: {commit or 'unknown'}; date: "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


BENCH_BEGIN, BENCH_END = "<!-- bench:begin -->", "<!-- bench:end -->"
_REGION = re.compile(r"<!-- ([\w.-]+):begin -->\n.*?<!-- \1:end -->\n?", re.S)

_NEW_FILE_TOP = """# wengert benchmark results

Each section between `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers is written by one
script, named at the top of the section; rerunning a script rewrites its own section only.
`wengert bench --output` rewrites the `bench` section and keeps every other one.

"""


def _write_region(path: str, region: str) -> None:
    """Put ``region`` between the bench markers of the report at ``path``, keeping the rest.

    A new file gets a short top. An existing file with bench markers keeps everything outside
    them; one without them (an older report) keeps its other marked sections, after the new
    bench section. Sections other scripts paste (benchmarks/sparse.py --update, ...) survive.
    """
    block = f"{BENCH_BEGIN}\n{region.rstrip()}\n{BENCH_END}\n"
    try:
        with open(path, encoding="utf-8") as fh:
            old = fh.read()
    except FileNotFoundError:
        old = None
    if old is None:
        text = _NEW_FILE_TOP + block
    elif BENCH_BEGIN in old and BENCH_END in old:
        head, rest = old.split(BENCH_BEGIN, 1)
        tail = rest.split(BENCH_END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        kept = [m.group(0).rstrip() + "\n" for m in _REGION.finditer(old) if m.group(1) != "bench"]
        text = _NEW_FILE_TOP + block + "".join("\n" + k for k in kept)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_results(results: list[dict], path: str, command: str, repeats: int, core: int,
                  budget: float = 0.5) -> None:
    """Write the suite's report into the ``bench`` section of ``path`` (see ``_write_region``)."""
    budget_text = f"{budget:g} s"
    region = f"""## The `wengert bench` suite (W1–W8)

Produced by:

```
{command}
```

### Machine

{machine_info()}

### Method

Each (workload, library) group ran in {repeats} fresh process(es) pinned to core {core}
(`os.sched_setaffinity`), the repeats interleaved round-robin across all groups, with
`OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1`, `OPENBLAS_CORETYPE`/`OPENBLAS_L2_SIZE`
unset, `torch.set_num_threads(1)` and XLA on one thread. Inside a process each job is called once
and its result checked against the hand-written NumPy gradient (the `check` column: relative
error of the worst element; a wrong result is not timed), warmed up, then timed in batches of
about 2 ms for about {budget_text}; the process's number is its best batch (timeit's estimator:
the batch least disturbed by other work) and each table shows the **median over the
processes** (`time_median` in the JSON keeps the median batches too). "first call" in the
tables is the first call's time in a fresh process, Python's cold start included. The machine
has 2 cores shared with other sessions' test runs, so read every number as ±15 % within this
run; absolute times differ 3–4× between sessions (machines differ), so compare ratios.

### Targets

{targets_table(results)}

### jit's first calls

`wg.jit` compiles in tiers: the first call with a new signature traces the function (its
results are the values computed while tracing); the second call optimises the Wengert list,
generates the Python source and compiles it, then runs it; later calls run the compiled code.
Both calls are timed on new jitted functions after the process has run the job once (the
median of 5 to 50 of them), so that Python's own cold start, which an eager first call pays
too, is left out; the last column shows the cold first calls as well. The target row "jit
first call vs an eager call" uses the 1st call.

{first_calls_table(results)}

### wengert against its peers

Time of wengert (eager) as a multiple of each library's (below 1: wengert is faster).

{peers_summary(results)}

### All results

{re.sub(r'(?m)^### ', '#### ', tables(results))}
"""
    _write_region(path, region)


def _print_quick(results: list[dict], out) -> None:
    print(tables(results), file=out)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2
        print(f"wengert bench: error: {message} (see `wengert bench --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wengert bench", description="Run the wengert benchmark suite "
                                "(medians of fresh pinned processes; every result checked).")
    p.add_argument("--quick", action="store_true",
                   help="run every job once in this process: checks and rough times only")
    p.add_argument("--only", help="workloads, e.g. W1,W3 (default: all of W1..W8)")
    p.add_argument("--impls", help="libraries, e.g. hand,wengert,torch (default: all)")
    p.add_argument("--no-peers", action="store_true", help="skip autograd, torch and jax")
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per group (default 3)")
    p.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0)")
    p.add_argument("--budget", type=float, default=0.5, help="seconds of timing per job")
    p.add_argument("--output", help="write a RESULTS.md-style report to this file")
    p.add_argument("--json", help="also write the raw results as JSON")
    p.add_argument("--report-from", metavar="JSON",
                   help="do not run: rewrite --output from the results of an earlier --json")
    p.add_argument("--command", help=argparse.SUPPRESS)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None, out=None, prog: str = "wengert bench") -> int:
    """``wengert bench`` / ``python benchmarks/run.py``."""
    out = out or sys.stdout
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker)), default=float))
        return 0
    only = [w.strip().upper() for w in args.only.split(",")] if args.only else None
    if only:
        bad = [w for w in only if w not in WORKLOADS and w != "W8"]
        if bad:
            print(f"wengert bench: error: unknown workload {bad[0]!r}; choose from "
                  f"{', '.join(list(WORKLOADS) + ['W8'])}", file=sys.stderr)
            return 2
    impls = [i.strip() for i in args.impls.split(",")] if args.impls else None
    if impls:
        bad = [i for i in impls if i not in IMPLS]
        if bad:
            print(f"wengert bench: error: unknown library {bad[0]!r}; choose from "
                  f"{', '.join(IMPLS)}", file=sys.stderr)
            return 2
    if args.no_peers:
        impls = [i for i in (impls or IMPLS) if i not in PEERS]
    if args.report_from:
        with open(args.report_from, encoding="utf-8") as fh:
            res = json.load(fh)
    elif args.quick:
        res = run_quick(only, impls)
        print("quick mode: each job checked once in one child process (rough times, not a "
              "measurement)\n", file=out)
    else:
        print(f"running: {args.repeats} fresh process(es) per group, pinned to core {args.core}",
              file=out, flush=True)
        res = run_full(only, impls, args.repeats, args.core, args.budget, log=out)
    print(file=out)
    print(tables(res), file=out)
    print("Targets:\n", file=out)
    print(targets_table(res, everything=not (only or impls)), file=out)
    if args.json and not args.report_from:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1, default=float)
    if args.output:
        cmd = args.command or prog + " " + " ".join(argv if argv is not None else sys.argv[1:])
        write_results(res, args.output, cmd.strip(), args.repeats, args.core, args.budget)
        print(f"\nwrote {args.output}", file=out)
    bad = [r for r in res if r.get("ok") is False or ("error" in r and "skipped" not in r)]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
