"""Control-flow defects found by the random-program differential test
(notes/fuzz-findings.md), shrunk by hand."""

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

X = np.array([0.3, -1.0, 2.0])


def test_jit_vmap_grad_with_an_unbatched_value_read_in_a_loop():
    # F1: the run-time linearization of a staged loop, made once, applied to a
    # batch (vmap over grad inside jit); was a wrong shape / wrong numbers
    def f(x0, x1):
        v = wg.while_loop(lambda s: s[0] < 2.0, lambda s: (s[0] + 1.0, s[1] * wnp.tanh(x1)),
                          (0.0, x1 * 1.5))[1]
        w = wg.scan(lambda c, a: (wnp.tanh(c * (wnp.mean(x1) + a) + 0.1), c), wnp.sum(x1), x0,
                    checkpoint="sqrt")[0]
        return wnp.sum(wnp.logaddexp(v, wnp.sum(x0))) + w

    x0 = np.array([[0.4, -0.3], [1.1, 0.2], [-0.7, 0.9]])
    x1 = np.array([-0.8, 0.5])
    want = [np.stack(r) for r in zip(*[wg.grad(f, argnums=(0, 1))(a, x1) for a in x0])]
    for fn in (wg.jit(wg.vmap(wg.grad(f, argnums=(0, 1)), in_axes=(0, None))),
               wg.vmap(wg.jit(wg.grad(f, argnums=(0, 1))), in_axes=(0, None))):
        for _ in range(2):
            got = fn(x0, x1)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,f", [
    ("fori", lambda x: wnp.round(wg.fori_loop(0, 2, lambda i, c: wnp.sin(c), x), 1) * x),
    ("cond", lambda x: wnp.round(wg.cond(x[0] > 0, wnp.sin, wnp.cos, x), 1) * x),
    ("scan", lambda x: wnp.sum(wnp.round(wg.scan(lambda c, a: (wnp.sin(c), c * a), x,
                                                 wnp.stack([x, x]))[1], 1), axis=0) * x),
    ("while", lambda x: wnp.round(wg.while_loop(lambda c: c[1] < 2, lambda c: (wnp.sin(c[0]), c[1] + 1),
                                                (x, 0))[0], 1) * x),
    ("checkpoint", lambda x: wnp.round(wg.checkpoint(wnp.sin)(x), 1) * x),
    ("argmax", lambda x: (lambda v: v[wnp.argmax(v)] * x)(wg.fori_loop(0, 2, lambda i, c: wnp.sin(c), x))),
])
def test_jacfwd_keeps_the_primal_output_of_control_flow_concrete(name, f):
    # F4: under jacfwd (vmap over tangents) the primal output of a construct was
    # batched, so a data-dependent operation on it raised
    np.testing.assert_allclose(wg.jacfwd(f)(X), wg.jacrev(f)(X), rtol=1e-12, atol=1e-12)


def test_vmap_of_cond_whose_batching_depends_on_the_values():
    # fuzz seed 100068: under jacfwd's vmap a nested cond takes another branch on
    # the trial run's zeros than on the real values, and batches another output;
    # the guess is checked and the bind redone with every output batched
    def f(x0, x1):
        v1 = (wnp.tanh(x0) + 1.2).cumprod()

        def inner(u):
            return wg.cond(wnp.sum(u) > 0.0, lambda u: wnp.sin(u) * x0, lambda u: wnp.tanh(u) + x0 * 0.3, u)
        v3 = wg.cond(wnp.max(x1) > 1.0, lambda u: wnp.tanh(u) + x0 * 0.3, inner, v1)
        return wnp.sum(v1 + wnp.sum(v3) * 0.5)

    xs = (np.array(-0.7), np.array(0.4))
    want = wg.jacrev(wg.jacrev(f, argnums=(0, 1)), argnums=(0, 1))(*xs)
    for h in (wg.hessian(f, argnums=(0, 1)), wg.jit(wg.hessian(f, argnums=(0, 1)))):
        for _ in range(2):
            got = h(*xs)
            for g, w in zip(wg.tree_util.tree_leaves(got), wg.tree_util.tree_leaves(want)):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
