"""Scale of jit (issue 10): time and peak memory (tracemalloc) of jit's first
two calls on a chain of n elementwise operations, against one eager
``wg.grad`` of the same chain.

    python benchmarks/jit_scale.py 10000 100000 [1000000]

Prints one line per n: eager grad time/peak, jit time/peak for calls 1 and 2
(the first traces, the second optimises, generates and compiles), and the
ratios.  Targets (issue 10): both ratios <= 3 at n = 100,000; n = 1,000,000
completes.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

import numpy as np

import wengert as wg
import wengert.numpy as wnp


def chain(n):
    def f(x):
        for i in range(n):
            k = i % 4
            if k == 0:
                x = wnp.sin(x)
            elif k == 1:
                x = x * 1.0001
            elif k == 2:
                x = x + 0.5
            else:
                x = wnp.tanh(x)
        return wnp.sum(x)
    return f


def measure(make):
    """Seconds (best of two runs, without tracemalloc) and peak traced bytes (a third run)."""
    times = []
    for _ in range(2):
        fn = make()
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        del fn
    fn = make()
    gc.collect()
    tracemalloc.start()
    out = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del out, fn
    gc.collect()
    return min(times), peak


def run(n, x=None):
    x = np.linspace(0.1, 0.9, 8) if x is None else x
    f = chain(n)
    tg, mg = measure(lambda: lambda: wg.grad(f)(x))

    def make_two():
        j = wg.jit(f)

        def two():
            a = j(x)
            b = j(x)
            assert np.array_equal(a, b)
            return j
        return two
    tj, mj = measure(make_two)
    j = make_two()()
    # a third call runs the compiled code only
    t3 = time.perf_counter()
    j(x)
    t3 = time.perf_counter() - t3
    return dict(n=n, grad_s=tg, grad_mib=mg / 2**20, jit_s=tj, jit_mib=mj / 2**20, call3_s=t3,
                time_ratio=tj / tg, mem_ratio=mj / mg)


def main(argv):
    ns = [int(float(a)) for a in argv] or [10_000, 100_000]
    print(f"{'n':>9} {'grad s':>8} {'grad MiB':>9} {'jit 1+2 s':>10} {'jit MiB':>8} {'3rd call s':>10} "
          f"{'time x':>7} {'mem x':>6}")
    for n in ns:
        r = run(n)
        print(f"{r['n']:>9} {r['grad_s']:>8.2f} {r['grad_mib']:>9.1f} {r['jit_s']:>10.2f} {r['jit_mib']:>8.1f} "
              f"{r['call3_s']:>10.3f} {r['time_ratio']:>7.2f} {r['mem_ratio']:>6.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
