"""Randomness and expectations (issue 15, part 3): the cost of drawing with
explicit keys against NumPy's Generator, and the three gradient estimators of
``wg.expectation_grad`` on a closed form: time of one estimate and its spread.

    python benchmarks/random_bench.py

Prints a Markdown table.  Times are best of 5; the spread is the standard
deviation of one estimate over 50 independent keys; "error" is the largest
|mean of the 50 estimates − exact gradient|.
"""

from __future__ import annotations

import platform
import subprocess
import time

import numpy as np

import wengert as wg
from wengert import random


def best(fn, repeats=5):
    fn()
    t = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main():
    rows = []
    k = random.key(0)
    n = 1_000_000
    gen = np.random.Generator(np.random.Philox(0))
    rows.append(("1e6 standard normals", "`np.random.Generator(Philox).standard_normal`",
                 best(lambda: gen.standard_normal(n)), "", "", ""))
    rows.append(("1e6 standard normals", "`random.normal(key, (10**6,))`",
                 best(lambda: random.normal(k, (n,))), "", "", ""))
    ks = random.split(k, 1000)
    rows.append(("1000 keys x 16 normals", "`wg.vmap(lambda k: random.normal(k, (16,)))(keys)`",
                 best(lambda: wg.vmap(lambda kk: random.normal(kk, (16,)))(ks)), "", "", "one generator per key"))
    rows.append(("1e5 Gamma(2.5) samples", "`random.gamma` value",
                 best(lambda: random.gamma(k, 2.5, (100_000,))), "", "", ""))
    rows.append(("1e5 Gamma(2.5) samples", "`grad` in a (implicit reparameterisation)",
                 best(lambda: wg.grad(lambda a: random.gamma(k, a, (100_000,)).sum())(2.5)), "", "", ""))

    mu, sigma = 0.7, 1.3
    exact = np.array([2 * mu, 2 * sigma])
    f = lambda x: x ** 2  # noqa: E731
    keys = random.split(random.key(1), 50)
    for est in ("reparam", "score", "score+baseline"):
        t = best(lambda est=est: wg.expectation_grad(f, random.Normal, (mu, sigma), est, key=k, n=1000))
        g = np.array([wg.expectation_grad(f, random.Normal, (mu, sigma), est, key=kk, n=1000) for kk in keys])
        sd = g.std(0)
        err = np.abs(g.mean(0) - exact).max()
        rows.append(("grad of E[x²] under N(0.7, 1.3²), n = 1000", f"`{est}`", t,
                     f"({sd[0]:.3f}, {sd[1]:.3f})", f"{err:.3f}", ""))

    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"Commit {sha}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}.\n")
    print("| case | route | time (ms) | sd of one estimate (d/dμ, d/dσ) | error of the mean of 50 | note |")
    print("|---|---|---:|---|---|---|")
    for case, route, t, sd, err, note in rows:
        print(f"| {case} | {route} | {t * 1e3:.1f} | {sd} | {err} | {note} |")


if __name__ == "__main__":
    main()
