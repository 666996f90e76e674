"""NumPy's own dispatch (NEP 13/18): plain ``np.*`` code on traced values
and ``wg.Tensor`` — the calls the issue names, keyword arguments, ufunc
methods, mixed operands, SciPy ufuncs, and every error message for what
dispatch cannot reach.  (The whole sweep table through ``np.*`` is in
``test_dispatch_sweep.py``.)"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

X = np.array([0.3, -1.2, 2.0, 0.7])
A = np.array([[3.0, 0.5, 0.1], [0.2, 2.5, 0.3], [0.1, 0.4, 4.0]])


def _modes(f, x):
    """f's derivatives in every mode, for comparing np.* against wnp.*."""
    s = lambda z: wnp.sum(wnp.real(f(z)))  # noqa: E731
    t = np.linspace(0.5, 1.5, np.size(x)).reshape(np.shape(x))
    return {
        "value": f(x),
        "grad": wg.grad(s)(x),
        "jvp": wg.jvp(f, (x,), (t,)),
        "vjp": wg.vjp(f, x)[1](np.ones_like(np.real(f(x))))[0],
        "jacfwd": wg.jacfwd(f)(x),
        "jacrev": wg.jacrev(f)(x),
        "hessian": wg.hessian(s)(x),
        "vmap": wg.vmap(f)(np.stack([x, 2 * x])),
        "jit1": wg.jit(f)(x),
        "jit2": (lambda j: (j(x), j(x * 0.5))[1])(wg.jit(f)),
        "jit-grad": wg.jit(wg.grad(s))(x),
        "cond": wg.grad(lambda z: wg.cond(True, s, lambda w: 0.0 * s(w), z))(x),
        "scan": wg.grad(lambda z: wg.scan(lambda c, _: (c + s(z), None), 0.0, None, length=2)[0])(x),
    }


def _same(a, b, tol=1e-12):
    la, ta = wg.tree_util.tree_flatten(a)
    lb, tb = wg.tree_util.tree_flatten(b)
    assert ta == tb
    for u, v in zip(la, lb):
        assert np.shape(u) == np.shape(v)
        assert np.result_type(u) == np.result_type(v)
        np.testing.assert_allclose(u, v, rtol=tol, atol=tol)


# The calls the issue names, each in every mode against its wnp twin
PAIRS = {
    "sin": (lambda x: np.sin(x) * x, lambda x: wnp.sin(x) * x),
    "exp-sq": (lambda x: np.exp(x ** 2 / 4), lambda x: wnp.exp(x ** 2 / 4)),
    "sum-axis": (lambda x: np.sum(np.outer(x, x), axis=0), lambda x: wnp.sum(wnp.outer(x, x), axis=0)),
    "sum-keepdims": (lambda x: np.sum(x.reshape(2, 2) ** 2, axis=1, keepdims=True),
                     lambda x: wnp.sum(x.reshape(2, 2) ** 2, axis=1, keepdims=True)),
    "solve": (lambda x: np.linalg.solve(A, x[:3] ** 2), lambda x: wnp.linalg.solve(A, x[:3] ** 2)),
    "fft": (lambda x: np.abs(np.fft.fft(x)), lambda x: wnp.abs(wnp.fft.fft(x))),
    "concatenate": (lambda x: np.concatenate([x, x ** 2]), lambda x: wnp.concatenate([x, x ** 2])),
    "where": (lambda x: np.where(x > 0, x ** 2, -x), lambda x: wnp.where(x > 0, x ** 2, -x)),
    "ndarray*tracer": (lambda x: np.arange(4.0) * x + x * np.arange(4.0),
                       lambda x: wnp.arange(4.0) * x + x * wnp.arange(4.0)),
    "float64*tracer": (lambda x: np.float64(2) * x - np.float64(1) / (x + 3),
                       lambda x: 2.0 * x - 1.0 / (x + 3)),
    "ndarray-tracer": (lambda x: np.ones(4) - x + np.ones(4) / (x + 3) + np.ones(4) ** x,
                       lambda x: 1.0 - x + 1.0 / (x + 3) + 1.0 ** x),
    "add.reduce": (lambda x: np.add.reduce(x ** 2), lambda x: wnp.sum(x ** 2, axis=0)),
    "maximum.reduce": (lambda x: np.maximum.reduce(x * x[::-1]), lambda x: wnp.max(x * x[::-1], axis=0)),
    "add.accumulate": (lambda x: np.add.accumulate(x ** 2), lambda x: wnp.cumsum(x ** 2)),
    "multiply.accumulate": (lambda x: np.multiply.accumulate(x), lambda x: wnp.cumprod(x)),
    "multiply.outer": (lambda x: np.multiply.outer(x, x[:2]), lambda x: wnp.outer(x, x[:2])),
    "matmul": (lambda x: np.matmul(A, x[:3]) @ x[1:], lambda x: wnp.matmul(A, x[:3]) @ x[1:]),
    "mean-std": (lambda x: np.mean(x) * np.std(x, ddof=1), lambda x: wnp.mean(x) * wnp.std(x, ddof=1)),
    "dtype32": (lambda x: np.sin(x, dtype=np.float32), lambda x: wnp.sin(wnp.astype(x, np.float32))),
    "sum-dtype": (lambda x: np.sum(x, dtype=np.float32), lambda x: wnp.sum(wnp.astype(x, np.float32))),
    "out=None": (lambda x: np.exp(x, out=None) + np.sum(x, out=None), lambda x: wnp.exp(x) + wnp.sum(x)),
    "where=True": (lambda x: np.add(x, 1.0, where=True), lambda x: x + 1.0),
    "clip-einsum": (lambda x: np.einsum("i,i->", np.clip(x, -1, 1), x),
                    lambda x: wnp.einsum("i,i->", wnp.clip(x, -1, 1), x)),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_numpy_equals_wnp_in_every_mode(name):
    f_np, f_wnp = PAIRS[name]
    got = _modes(f_np, X)
    want = _modes(f_wnp, X)
    for mode in want:
        _same(got[mode], want[mode], 1e-5 if "32" in name else 1e-12)


def test_derivatives_are_right_not_only_equal():
    """The np.* path against finite differences (not only against wnp)."""
    f = lambda x: np.sum(np.sin(x) * np.exp(x / 3) + np.maximum.accumulate(x) ** 2)  # noqa: E731
    wg.check_grads(f, (X,), order=2)


def test_maximum_accumulate_ties_and_generic_fold():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    J = wg.jacrev(lambda z: np.maximum.accumulate(z))(x)
    np.testing.assert_allclose(J.sum(axis=1), 1.0)  # each output moves with one unit of input
    np.testing.assert_allclose(wg.jacfwd(lambda z: np.maximum.accumulate(z))(x), J)
    # subtract.reduce is NumPy's left fold: x0 - x1 - x2 - x3
    g = wg.grad(lambda z: np.subtract.reduce(z))(x)
    np.testing.assert_allclose(g, [1.0, -1.0, -1.0, -1.0])
    np.testing.assert_allclose(np.subtract.accumulate(x), wg.jit(lambda z: np.subtract.accumulate(z))(x))
    np.testing.assert_allclose(wg.jacfwd(lambda z: np.subtract.accumulate(z))(x),
                               np.array([[1, 0, 0, 0], [1, -1, 0, 0], [1, -1, -1, 0], [1, -1, -1, -1.0]]))
    # logaddexp.reduce as a balanced tree equals logsumexp
    v = wg.grad(lambda z: np.logaddexp.reduce(z))(x)
    np.testing.assert_allclose(v, np.exp(x) / np.exp(x).sum())


def test_reductions_with_where_and_initial():
    m = np.array([True, False, True, True])
    for f, ref in [
        (lambda z: np.sum(z ** 2, where=m), lambda z: np.sum((z ** 2)[m])),
        (lambda z: np.prod(z, where=m), lambda z: np.prod(z[m])),
        (lambda z: np.mean(z ** 2, where=m), lambda z: np.mean((z ** 2)[m])),
        (lambda z: np.max(z, where=m, initial=-5.0), lambda z: np.max(z[m])),
        (lambda z: np.sum(z, initial=2.0), lambda z: np.sum(z) + 2.0),
        (lambda z: np.add.reduce(z, where=m), lambda z: np.sum(z[m])),
        (lambda z: np.multiply.reduce(z, initial=2.0), lambda z: 2.0 * np.prod(z)),
    ]:
        np.testing.assert_allclose(wg.jit(f)(X), ref(X))
        np.testing.assert_allclose(wg.grad(f)(X), wg.grad(ref)(X), atol=1e-12)


def test_numpy2_keywords_are_honoured_or_refused():
    """Keywords wnp's functions would take in **kwargs and ignore."""
    np.testing.assert_allclose(wg.jit(lambda z: np.std(z, correction=1))(X), np.std(X, ddof=1))
    _same(wg.grad(lambda z: np.var(z, correction=1))(X), wg.grad(lambda z: wnp.var(z, ddof=1))(X))
    with pytest.raises(ValueError, match="ddof and correction"):
        wg.grad(lambda z: np.var(z, ddof=1, correction=1))(X)
    # mean= is honoured (wnp.var/std take it): the value and derivative of std with its own mean
    _same(wg.grad(lambda z: np.std(z, mean=np.mean(z)))(X), wg.grad(wnp.std)(X))
    with pytest.raises(TypeError, match=r"wnp\.quantile\(\.\.\., weights=\.\.\.\)"):
        wg.grad(lambda z: np.quantile(z, 0.5, weights=np.ones(4), method="inverted_cdf"))(X)


def test_tensor_dispatch():
    t = wg.tensor(X, requires_grad=True)
    y = np.sum(np.sin(t) * np.arange(4.0))
    assert isinstance(y, wg.Tensor)
    y.backward()
    np.testing.assert_allclose(t.grad.data, np.cos(X) * np.arange(4.0))
    assert isinstance(np.ones(4) * t, wg.Tensor) and isinstance(np.float64(2) * t, wg.Tensor)
    assert isinstance(np.linalg.norm(t), wg.Tensor)
    # a Tensor that records nothing: unsupported NumPy functions run on its data
    np.testing.assert_array_equal(np.unique(wg.tensor([3.0, 1.0, 3.0])), [1.0, 3.0])
    with pytest.raises(NotImplementedError, match=r"np\.unique.*t\.detach\(\)"):
        np.unique(t)


def test_scipy_special_ufuncs_dispatch():
    sps = pytest.importorskip("scipy.special")
    from wengert.scipy import special as wsp
    for name in ("expit", "gammaln", "erf", "erfc", "digamma", "logit", "ndtr"):
        if not hasattr(wsp, name):
            continue
        u = getattr(sps, name)
        w = getattr(wsp, name)
        x = np.array([0.2, 0.5, 0.7])
        _same(wg.grad(lambda z: np.sum(u(z)))(x), wg.grad(lambda z: wnp.sum(w(z)))(x))
        _same(wg.jacfwd(lambda z: u(z))(x), wg.jacfwd(lambda z: w(z))(x))
    np.testing.assert_allclose(wg.grad(lambda z: sps.expit(z))(0.3), sps.expit(0.3) * (1 - sps.expit(0.3)))


def test_symbolic_reads_numpy_code():
    pytest.importorskip("sympy")
    e = wg.symbolic.diff(lambda x: np.sin(x) * np.exp(x), "x")
    assert abs(float(e.evaluate(x=0.5)) - (np.cos(0.5) + np.sin(0.5)) * np.exp(0.5)) < 1e-12


# --- errors -------------------------------------------------------------------

def test_unsupported_function_names_the_numpy_function():
    for f, name in [(lambda x: np.unique(x), r"np\.unique"), (lambda x: np.histogram(x), r"np\.histogram"),
                    (lambda x: np.linalg.tensorinv(x), r"np\.linalg\.tensorinv"),
                    (lambda x: np.bitwise_and(x, x), r"np\.bitwise_and"),
                    (lambda x: np.add.reduceat(x, [0, 2]), r"np\.add\.reduceat")]:
        with pytest.raises(NotImplementedError, match=name):
            wg.grad(lambda z: np.sum(f(z)))(X)
        with pytest.raises(NotImplementedError, match=name):
            wg.jit(f)(X)


def test_out_and_where_arguments_raise():
    with pytest.raises(TypeError, match=r"np\.sin\(\.\.\., out=\.\.\.\).*functional form"):
        wg.grad(lambda z: np.sum(np.sin(z, out=np.empty(4))))(X)
    with pytest.raises(TypeError, match=r"np\.sum\(\.\.\., out=\.\.\.\)"):
        wg.grad(lambda z: np.sum(z, out=np.empty(())))(X)
    with pytest.raises(NotImplementedError, match=r"where="):
        wg.grad(lambda z: np.sum(np.sin(z, where=z > 0)))(X)
    # where= of a reduction is honoured (wnp's), not refused
    _same(wg.grad(lambda z: np.var(z, where=z > 0))(X), wg.grad(lambda z: wnp.var(z[X > 0]))(X))


def test_augmented_assignment_into_an_array_names_the_fix():
    def f(z):
        a = np.zeros(4)
        a += z
        return a.sum()
    with pytest.raises(TypeError, match=r"`a \+= x`.*write `a = a \+ x`"):
        wg.grad(f)(X)


def test_ufunc_at_names_the_functional_update():
    with pytest.raises(TypeError, match=r"np\.add\.at.*x\.at\[idx\]\.add"):
        wg.grad(lambda z: np.add.at(z, [0], 1.0))(X)
    with pytest.raises(TypeError, match=r"np\.maximum\.at.*\.max\("):
        wg.grad(lambda z: np.maximum.at(np.zeros(4), [0], z[0]))(X)


def test_what_dispatch_cannot_reach_names_the_fix():
    for build in (lambda z: np.array([z[0], z[1]]), lambda z: np.asarray(z), lambda z: np.array(z) * 2):
        with pytest.raises(TypeError, match=r"wnp\.array.*wnp\.stack"):
            wg.grad(lambda z: np.sum(build(z)))(X)

    def write_row(z):
        a = np.zeros((2, 4))
        a[0] = z  # NumPy converts with __array__: our message
        return a.sum()
    with pytest.raises(TypeError, match=r"wg\.at\(a\)\[i\]\.set\(x\)"):
        wg.grad(write_row)(X)

    def write_element(z):
        a = np.zeros(4)
        a[0] = z[0]  # NumPy asks float() and reports its own ValueError, caused by ours
        return a.sum()
    with pytest.raises((TypeError, ValueError)) as info:
        wg.grad(write_element)(X)
    chain = [info.value, info.value.__cause__, info.value.__context__]
    assert any(e is not None and re.search(r"wg\.at\(a\)\[i\]\.set\(x\)", str(e)) for e in chain)


def test_plain_values_keep_numpy_behaviour():
    """Outside transformations nothing changes: np.* on arrays is NumPy."""
    a = np.arange(3.0)
    out = np.empty(3)
    np.sin(a, out=out)
    np.testing.assert_array_equal(out, np.sin(a))
    b = a.copy()
    np.add.at(b, [0, 0], 1.0)
    np.testing.assert_array_equal(b, [2.0, 1.0, 2.0])


def test_readme_taste_runs_with_plain_numpy():
    """The README's first example with ``wnp.`` replaced by ``np.``."""
    text = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"## A taste\s+```python\n(.*?)```", text, re.S).group(1)
    assert "wnp." in block
    ns_np: dict = {}
    ns_wnp: dict = {}
    exec(compile(block.replace("wnp.", "np."), "README-np", "exec"), ns_np)  # noqa: S102
    exec(compile(block, "README-wnp", "exec"), ns_wnp)  # noqa: S102
    for name in ("g", "H", "per_example"):
        _same(ns_np[name], ns_wnp[name])
