"""The vmap sweep: for every case of the table, ``vmap(f)`` equals stacking
``f`` over a batch of 3 (in_axes 0, 1 and None mixes), and
``vmap(grad(sum∘f))`` gives the per-example gradients of a Python loop."""

from __future__ import annotations

import numpy as np
import pytest
from cases import all_cases

import wengert as wg
import wengert.numpy as wnp

B = 3
CASES = [c for c in all_cases() if getattr(c, "vmap", True)]

# Indexing with indices computed from a batched value (a different gather per
# example) is not batched by wnp's indexing, which needs concrete indices:
# these raise a TypeError naming the problem instead of computing garbage.
# (partition batches its permutation since issue 10: swept like the others.)
# a boolean mask has a data-dependent shape; traced integer indices are one staged gather (issue 10, G1)
DATA_DEPENDENT = {"idx-mask-from-value"}


def _sum_f(fn):
    def f(*args):
        y = fn(*args)
        if wnp.iscomplexobj(y):
            y = wnp.real(y)
        return wnp.sum(y)
    return f


def _check(a, b, tol):
    la, ta = wg.tree_util.tree_flatten(a)
    lb, tb = wg.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert not isinstance(x, wg._core.Tracer)
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def _stack_trees(trees):
    leaves = [wg.tree_util.tree_flatten(t)[0] for t in trees]
    tree = wg.tree_util.tree_flatten(trees[0])[1]
    return wg.tree_util.tree_unflatten(tree, [np.stack([np.asarray(lv[k]) for lv in leaves])
                                              for k in range(len(leaves[0]))])


def _axes_configs(args):
    """(in_axes, batched args, per-example args) for axis 0, axis 1 and a None mix."""
    n = len(args)
    configs = [tuple([0] * n)]
    if all(np.ndim(a) >= 1 for a in args):
        configs.append(tuple([1] * n))
    else:
        configs.append(tuple(-1 if np.ndim(a) >= 1 else 0 for a in args))
    if n > 1:
        configs.append((None,) + tuple([0] * (n - 1)))
    return configs


def _build(case, axes, rng):
    samples = [case.args(rng) for _ in range(B)]
    batched, per_ex = [], [[] for _ in range(B)]
    for k, ax in enumerate(axes):
        if ax is None:
            for i in range(B):
                per_ex[i].append(samples[0][k])
            batched.append(samples[0][k])
        else:
            stacked = np.stack([s[k] for s in samples], axis=ax)
            batched.append(stacked)
            for i in range(B):
                per_ex[i].append(samples[i][k])
    return batched, per_ex


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_vmap_matches_loop(case):
    rng = np.random.default_rng(7)
    args0 = case.args(rng)
    if case.name in DATA_DEPENDENT:
        batched, _ = _build(case, tuple([0] * len(args0)), rng)
        with pytest.raises(TypeError, match="concrete|traced"):
            wg.vmap(case.fn)(*batched)
        return
    tol = max(case.tol, 1e-9)
    for axes in _axes_configs(args0):
        batched, per_ex = _build(case, axes, rng)
        try:
            ref = _stack_trees([case.fn(*a) for a in per_ex])
        except Exception:  # noqa: BLE001 - a sample the function rejects
            continue
        got = wg.vmap(case.fn, in_axes=axes)(*batched)
        _check(got, ref, tol)


GRAD_CASES = [c for c in CASES if "rev" in c.modes and c.order >= 1]


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.name)
def test_vmap_of_grad_matches_loop(case):
    rng = np.random.default_rng(11)
    args0 = case.args(rng)
    if any(np.asarray(a).dtype.kind not in "fc" for a in args0) or case.name in DATA_DEPENDENT:
        pytest.skip("integer arguments or data-dependent indexing")
    axes = tuple([0] * len(args0))
    batched, per_ex = _build(case, axes, rng)
    g = wg.grad(_sum_f(case.fn), argnums=tuple(range(len(args0))))
    ref = _stack_trees([g(*a) for a in per_ex])
    got = wg.vmap(g)(*batched)
    _check(got, ref, max(case.tol, 1e-9))
