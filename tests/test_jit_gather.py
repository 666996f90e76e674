"""Indexing with traced integer indices: a staged gather (issue 10, G1).

``x[wnp.argmax(x)]``, ``take``/``take_along_axis`` with traced indices and
``partition`` under jit (every call), vmap (batched indices too) and the
derivatives (gather's transpose is a scatter-add) against eager wengert and
finite differences; a traced boolean mask stays a clear error naming
``wnp.where``; out-of-bounds traced indices raise IndexError at run time.
"""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._ir import ConcretizationError

x1 = np.array([0.3, -1.0, 2.0, 0.5])
X2 = np.arange(12.0).reshape(3, 4) / 7 - 0.5 + np.array([0.0, 0.3, -0.2, 0.1])

CASES = {
    "argmax": (lambda x: x[wnp.argmax(x)] * x, x1),
    "take-argsort": (lambda x: wnp.take(x, wnp.argsort(x)[:2]) * 2.0, x1),
    "partition": (lambda x: wnp.partition(x, 2) ** 2, x1),
    "partition-kths": (lambda x: wnp.partition(x, [1, 3]) ** 2, x1),
    "take_along_axis": (lambda x: wnp.take_along_axis(x, wnp.argsort(x), axis=0) ** 2, x1),
    "row": (lambda X: X[wnp.argmax(X[:, 0])] * 1.5, X2),
    "slice-and-array": (lambda X: X[1:, wnp.argsort(X[0])[:2]] ** 2, X2),
    "two-arrays": (lambda X: X[wnp.argsort(X[:, 0]), wnp.argsort(X[:, 1])[:3]] ** 2, X2),
    "split-advanced": (lambda X: X[wnp.argsort(X[:, 0])[:2], :, None][..., 0] ** 3, X2),
    "scalar-and-array": (lambda X: X[wnp.argmax(X[:, 1]), wnp.argsort(X[0])] ** 2, X2),
    "take-axis": (lambda X: wnp.take(X, wnp.argmax(X, axis=1), axis=1) ** 2, X2),
    "take_along_axis-2d": (lambda X: wnp.take_along_axis(X, wnp.argsort(X, axis=1), axis=1) ** 2, X2),
    "take_along_axis-bcast": (lambda X: wnp.take_along_axis(X, wnp.argmax(X, axis=0)[None, :], axis=0) ** 2, X2),
}


def _S(f):
    return lambda x: wnp.sum(wnp.sin(f(x)))


@pytest.mark.parametrize("name", list(CASES))
def test_traced_integer_indexing_in_every_mode(name):
    f, x = CASES[name]
    want = f(x)
    j = wg.jit(f)
    for _ in range(3):  # trace, compiled, compiled
        np.testing.assert_array_equal(j(x), want)
    x_new = x[::-1].copy() * 1.3  # another permutation: nothing baked in
    np.testing.assert_array_equal(j(x_new), f(x_new))
    assert j.trace_count == 1
    S = _S(f)
    g = wg.grad(S)(x)
    jg = wg.jit(wg.grad(S))
    for _ in range(3):
        np.testing.assert_allclose(jg(x), g, rtol=1e-13)
    v = np.random.default_rng(0).standard_normal(x.shape)
    h = 1e-6
    fd = (S(x + h * v) - S(x - h * v)) / (2 * h)
    np.testing.assert_allclose(np.sum(g * v), fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(wg.jvp(S, (x,), (v,))[1], fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(wg.jit(lambda x, v: wg.jvp(S, (x,), (v,))[1])(x, v), fd, rtol=1e-6, atol=1e-9)
    xs = np.stack([x, x_new, x * 0.7 + 0.1])
    np.testing.assert_allclose(wg.vmap(f)(xs), np.stack([f(a) for a in xs]), rtol=1e-14)
    np.testing.assert_allclose(wg.jit(wg.vmap(f))(xs), np.stack([f(a) for a in xs]), rtol=1e-14)
    gs = np.stack([wg.grad(S)(a) for a in xs])
    np.testing.assert_allclose(wg.vmap(wg.grad(S))(xs), gs, rtol=1e-12)
    np.testing.assert_allclose(wg.jit(wg.vmap(wg.grad(S)))(xs), gs, rtol=1e-12)
    np.testing.assert_allclose(wg.grad(wg.jit(S))(x), g, rtol=1e-13)
    np.testing.assert_allclose(wg.jit(wg.hessian(S))(x), wg.hessian(S)(x), rtol=1e-10, atol=1e-12)


def test_batched_indices_under_vmap_and_their_gradient():
    f = lambda x, i: x[i] * 2.0  # noqa: E731
    idx = np.array([0, 3, -2])
    np.testing.assert_array_equal(wg.vmap(lambda x, i: wnp.take(x, i) * 2.0, in_axes=(None, 0))(x1, idx),
                                  x1[idx] * 2.0)
    np.testing.assert_array_equal(wg.vmap(f)(X2, idx), X2[np.arange(3), idx] * 2.0)
    np.testing.assert_array_equal(wg.vmap(lambda X, i: wnp.take(X, i, axis=1), in_axes=(None, 0))(X2, np.array([0, 3])),
                                  np.stack([X2[:, 0], X2[:, 3]]))
    # repeated indices accumulate in the gradient (scatter-add)
    g = wg.grad(lambda x: wnp.sum(wg.vmap(f, in_axes=(None, 0))(x, np.array([0, 3, 3]))))(x1)
    np.testing.assert_array_equal(g, [2.0, 0.0, 0.0, 4.0])
    j = wg.jit(f)
    np.testing.assert_array_equal(j(x1, np.array([3, -1, 0])), x1[[3, -1, 0]] * 2.0)
    np.testing.assert_array_equal(j(x1, np.array([1, 2, 2])), x1[[1, 2, 2]] * 2.0)
    assert j.trace_count == 1


def test_out_of_bounds_traced_index_raises_at_run_time():
    j = wg.jit(lambda x, i: x[i] * 2.0)
    j(x1, np.array([0, 1]))
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis with size 4"):
        j(x1, np.array([4, 0]))
    with pytest.raises(IndexError, match="index -5 is out of bounds"):
        j(x1, np.array([-5, 0]))
    with pytest.raises(IndexError, match="out of bounds"):
        wg.vmap(lambda x, i: wnp.take(x, i))(X2, np.array([0, 1, 9]))
    # take's modes as NumPy's
    for mode in ("clip", "wrap"):
        t = wg.jit(lambda x, i, mode=mode: wnp.take(x, i, mode=mode))
        i = np.array([7, -3, 2])
        np.testing.assert_array_equal(t(x1, i), np.take(x1, i, mode=mode))


def test_traced_boolean_mask_is_a_clear_error():
    for run in (lambda f: wg.jit(f)(x1), lambda f: wg.vmap(f)(X2)):
        with pytest.raises(ConcretizationError, match=r"data-dependent.*wnp\.where"):
            run(lambda x: wnp.sum(x[x > 0]))


def test_choose_with_traced_indices():
    x = np.array([1.0, 2.0, 3.0])
    f = lambda i, x: wnp.choose(i, [x, x * 10.0, -x])  # noqa: E731
    j = wg.jit(f)
    for i in ([0, 1, 2], [2, 0, 1], [1, 1, 0]):
        i = np.array(i)
        np.testing.assert_array_equal(j(i, x), np.choose(i, [x, x * 10.0, -x]))
    assert j.trace_count == 1
    i = np.array([1, 0, 2])
    g = wg.jit(wg.grad(lambda x, i: wnp.sum(f(i, x) ** 2)))(x, i)
    np.testing.assert_allclose(g, 2 * np.choose(i, [x, 10 * x, -x]) * np.choose(i, [1.0, 10.0, -1.0]))
    np.testing.assert_array_equal(wg.vmap(f, in_axes=(0, None))(np.array([[0, 1, 2], [2, 2, 0]]), x),
                                  [np.choose([0, 1, 2], [x, 10 * x, -x]), np.choose([2, 2, 0], [x, 10 * x, -x])])
    for bad in ([3, 0, 0], [-1, 0, 0]):  # NumPy's choose refuses both (mode='raise')
        with pytest.raises(IndexError, match="out of bounds"):
            j(np.array(bad), x)
    for mode in ("clip", "wrap"):
        jm = wg.jit(lambda i, x, mode=mode: wnp.choose(i, [x, x * 10.0, -x], mode=mode))
        i = np.array([4, -1, 1])
        np.testing.assert_array_equal(jm(i, x), np.choose(i, [x, x * 10.0, -x], mode=mode))
