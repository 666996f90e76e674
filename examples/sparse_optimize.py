"""Sparse Hessians and Jacobians in scipy solvers, at 10,000 variables.

1. The chained Rosenbrock function of n = 10,000 variables minimised by
   ``scipy.optimize.minimize(method="trust-constr")`` with the gradient from
   ``wg.grad`` and the Hessian from ``wg.sparse_hessian`` (tridiagonal: three
   Hessian-vector products per Hessian instead of 10,000).
2. Bratu's problem -Δu = λ exp(u) on a 100 x 100 grid (10,000 unknowns)
   solved by Newton's method, each step one ``wg.sparse_jacfwd`` (five JVPs
   for the 5-point stencil) and one ``scipy.sparse.linalg.spsolve``.

Run: ``python examples/sparse_optimize.py`` (``--n`` for another size).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse.linalg as spla
from scipy.optimize import minimize

import wengert as wg
import wengert.numpy as wnp


def rosenbrock(x):
    return wnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def minimise_rosenbrock(n: int) -> np.ndarray:
    x0 = np.full(n, 0.5)
    hess = wg.sparse_hessian(rosenbrock)
    t = time.perf_counter()
    res = minimize(lambda x: float(rosenbrock(x)), x0, method="trust-constr",
                   jac=wg.grad(rosenbrock), hess=hess,
                   options={"gtol": 1e-8, "xtol": 1e-12, "maxiter": 2000})
    elapsed = time.perf_counter() - t
    plan = next(iter(hess.plans.values()))
    print(f"Rosenbrock, n = {n}: {res.nit} iterations, {res.njev} gradients, {res.nhev} Hessians "
          f"({plan.ncolours} Hessian-vector products each, nnz = {plan.pattern.nnz}) in {elapsed:.1f} s; "
          f"max |x - 1| = {np.max(np.abs(res.x - 1.0)):.2e}")
    return res.x


def bratu_residual(u, lam, m):
    """-Δu - λ exp(u) on the interior of an (m+2) x (m+2) grid, u = 0 on the boundary."""
    h2 = 1.0 / (m + 1) ** 2
    U = wnp.pad(u.reshape(m, m), 1)
    lap = (U[:-2, 1:-1] + U[2:, 1:-1] + U[1:-1, :-2] + U[1:-1, 2:] - 4.0 * U[1:-1, 1:-1]) / h2
    return (-lap - lam * wnp.exp(U[1:-1, 1:-1])).reshape(-1)


def solve_bratu(m: int, lam: float = 6.0) -> np.ndarray:
    u = np.zeros(m * m)
    jac = wg.sparse_jacfwd(bratu_residual)
    t = time.perf_counter()
    steps = 0
    while True:
        r = np.asarray(bratu_residual(u, lam, m))
        norm = np.linalg.norm(r) / np.sqrt(r.size)
        if norm < 1e-10 or steps == 20:
            break
        J = jac(u, lam, m)
        u = u - spla.spsolve(J.tocsc(), r)
        steps += 1
    elapsed = time.perf_counter() - t
    plan = next(iter(jac.plans.values()))
    print(f"Bratu, {m} x {m} grid: {steps} Newton steps ({plan.ncolours} JVPs per Jacobian, "
          f"nnz = {plan.pattern.nnz}) in {elapsed:.1f} s; residual {norm:.1e}, max u = {u.max():.4f}")
    return u


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="number of variables (a square for Bratu)")
    args = ap.parse_args(argv)
    x = minimise_rosenbrock(args.n)
    assert np.allclose(x, 1.0, atol=1e-4)
    m = int(round(np.sqrt(args.n)))
    u = solve_bratu(m)
    r = np.asarray(bratu_residual(u, 6.0, m))
    assert np.linalg.norm(r) / np.sqrt(r.size) < 1e-8


if __name__ == "__main__":
    main()
