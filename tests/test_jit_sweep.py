"""The jit sweep: for every case of the table, ``jit(f)`` equals ``f`` and
``jit(grad(sum∘f))`` equals ``grad(sum∘f)``.

Indexing with integers computed from the input (``x[argmax(x)]``,
sort/argsort/partition permutations) is staged as a gather and must match,
also on new data.  Cases whose result's *shape* depends on a traced value
(a boolean mask computed from the input) are listed in ``DATA_DEPENDENT``:
they raise a ConcretizationError and are skipped with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import all_cases

import wengert as wg
import wengert.numpy as wnp
from wengert._ir import ConcretizationError

CASES = all_cases()
VMAP_CASES = [c for c in CASES if getattr(c, "vmap", True)]

DATA_DEPENDENT = {
    "idx-mask-from-value": "boolean mask computed from x (x[x > 0])",
}


def _sum_f(fn):
    def f(*args):
        y = fn(*args)
        if wnp.iscomplexobj(y):
            y = wnp.real(y)
        return wnp.sum(y)
    return f


def _close(a, b, tol=1e-10):
    la, ta = wg.tree_util.tree_flatten(a)
    lb, tb = wg.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert not isinstance(x, wg._core.Tracer)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)
        assert np.shape(x) == np.shape(y)


def _run(jf, args, case):
    """``jf(*args)``; a case listed in DATA_DEPENDENT may raise ConcretizationError
    (then it is skipped with its reason), any other case must run."""
    if case.name not in DATA_DEPENDENT:
        return jf(*args)
    try:
        return jf(*args)
    except ConcretizationError:
        pytest.skip(f"not stageable: {DATA_DEPENDENT[case.name]}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_jit_matches_eager(case):
    args = case.args(np.random.default_rng(5))
    want = case.fn(*args)
    jf = wg.jit(case.fn)
    got = _run(jf, args, case)
    _close(got, want)
    # a second call with new values reuses the compiled code
    args2 = case.args(np.random.default_rng(6))
    _close(jf(*args2), case.fn(*args2))
    assert jf.trace_count == 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_jit_grad_matches_grad(case):
    if "rev" not in case.modes:
        pytest.skip("case has no reverse mode")
    args = case.args(np.random.default_rng(7))
    argnums = tuple(range(len(args)))
    g = wg.grad(_sum_f(case.fn), argnums=argnums)
    want = g(*args)
    jg = wg.jit(g)
    _close(_run(jg, args, case), want, case.tol if case.tol > 1e-10 else 1e-10)
    args2 = case.args(np.random.default_rng(8))
    _close(jg(*args2), g(*args2), case.tol if case.tol > 1e-10 else 1e-10)
    assert jg.trace_count == 1


@pytest.mark.parametrize("case", VMAP_CASES, ids=lambda c: c.name)
def test_vmap_of_jit_matches_vmap(case):
    rng = np.random.default_rng(9)
    a1, a2 = case.args(rng), case.args(rng)
    stacked = [np.stack([x, y]) for x, y in zip(a1, a2)]
    try:
        want = wg.vmap(case.fn)(*stacked)
    except TypeError as e:
        pytest.skip(f"vmap itself cannot batch this case: {e}")
    _close(_run(lambda *a: wg.vmap(wg.jit(case.fn))(*a), stacked, case), want)
