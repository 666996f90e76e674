"""JAX's idioms: ``x.at[idx]`` updates, ``jit(static_argnums=,
static_argnames=, backend=)``, dataclasses and NamedTuples as pytrees,
``make_graph(f)(*args)``, ``hasattr(wnp, name)``, traced shapes."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._ir import ConcretizationError

X = np.array([0.5, -1.3, 2.1, 0.8, 1.7])
V = np.array([0.9, 1.4, -0.6])
IDX = [np.array([1, 3, 4]), np.array([1, 1, 4]), slice(1, 4), np.array([True, False, True, False, True])]

# x.at[idx].op(v) -> the NumPy reference, on a copy
_UFUNC = {"add": np.add, "multiply": np.multiply, "divide": np.divide, "power": np.power,
          "min": np.minimum, "max": np.maximum}


def _ref(x, idx, op, v):
    y = np.array(x, dtype=float)
    if op == "set":
        y[idx] = v
    elif op == "subtract":
        np.add.at(y, idx, -np.asarray(v))
    else:
        _UFUNC[op].at(y, idx, v)
    return y


OPS = ["set", "add", "subtract", "multiply", "divide", "power", "min", "max"]


def _values(x, idx):
    n = np.asarray(x)[idx].shape[0]
    return V[:n] if n <= 3 else np.resize(V, n)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("k", range(len(IDX)))
def test_at_values_and_derivatives(op, k):
    idx = IDX[k]
    x = np.abs(X) + 0.5 if op == "power" else X
    v = _values(x, idx)
    f = lambda x, v: getattr(wg.at(x)[idx], op)(v)  # noqa: E731 (plain arrays too: finite differences)
    want = _ref(x, idx, op, v)
    np.testing.assert_allclose(wg.jit(lambda x, v: getattr(x.at[idx], op)(v))(x, v), want, rtol=1e-12)
    np.testing.assert_allclose(getattr(wg.at(x)[idx], op)(v), want, rtol=1e-12)
    # derivatives in both arguments: forward = reverse = finite differences
    wg.check_grads(lambda x, v: wnp.sum(f(x, v) * np.arange(1.0, 6.0)), (x, v), order=2)
    J = wg.jacfwd(f, argnums=(0, 1))(x, v)
    _close_tree(wg.jacrev(f, argnums=(0, 1))(x, v), J)
    _close_tree(wg.jit(wg.jacrev(f, argnums=(0, 1)))(x, v), J)
    # vmap over both
    xs, vs = np.stack([x, x * 0.5 + 0.3]), np.stack([v, v * 2.0])
    np.testing.assert_allclose(wg.vmap(f)(xs, vs), np.stack([_ref(a, idx, op, b) for a, b in zip(xs, vs)]))


def _close_tree(a, b):
    for u, w in zip(wg.tree_util.tree_leaves(a), wg.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(u, w, rtol=1e-10, atol=1e-12)


def test_at_repeated_indices_follow_ufunc_at():
    x = np.array([1.0, 2.0, 3.0])
    idx = np.array([0, 0, 2, 0])
    v = np.array([2.0, 3.0, 4.0, 0.5])
    for op in ("add", "multiply", "max", "set"):
        got = wg.jit(lambda x, v: getattr(x.at[idx], op)(v))(x, v)
        np.testing.assert_allclose(got, _ref(x, idx, op, v))
    # multiply: x0 * 2 * 3 * 0.5 -> d/dx0 = 3, d/dv0 = x0 * 3 * 0.5
    g = wg.grad(lambda x, v: x.at[idx].multiply(v)[0], argnums=(0, 1))(x, v)
    np.testing.assert_allclose(g[0], [3.0, 0, 0])
    np.testing.assert_allclose(g[1], [1.5, 1.0, 0.0, 6.0])
    # set: the last write wins, the earlier values get no derivative
    g = wg.grad(lambda v: wnp.sum(wg.at(np.zeros(3))[idx].set(v)))(v)
    np.testing.assert_allclose(g, [0.0, 0.0, 1.0, 1.0])


def test_at_get_apply_and_plain_arrays():
    x = np.arange(5.0)
    f = lambda z: wg.at(z)[1:3].get() * 2 + wg.at(z)[np.array([0, 0])].apply(np.sin)[:2]  # noqa: E731
    np.testing.assert_allclose(wg.jit(f)(x), x[1:3] * 2 + np.array([np.sin(np.sin(0.0)), 1.0]))
    wg.check_grads(lambda z: wnp.sum(f(z) ** 2), (x + 0.3,), order=2)
    before = x.copy()
    y = wg.at(x)[2].set(10.0)
    np.testing.assert_array_equal(x, before)  # never mutates
    assert y[2] == 10.0 and y is not x
    # values are cast to x's dtype, as JAX does
    x32 = np.ones(3, np.float32)
    assert wg.at(x32)[0].add(np.float64(1.0)).dtype == np.float32
    assert wg.grad(lambda v: wnp.sum(wnp.astype(wg.at(x32)[0].set(v), np.float64)))(2.0) == 1.0
    assert wg.jit(lambda z: z.at[0].set(np.float64(2.0)))(x32).dtype == np.float32


def test_at_on_tensors_and_errors():
    t = wg.tensor(X, requires_grad=True)
    y = t.at[np.array([0, 2])].multiply(3.0).sum()
    y.backward()
    np.testing.assert_allclose(t.grad.data, [3.0, 1.0, 3.0, 1.0, 1.0])
    with pytest.raises(NotImplementedError, match="mode='drop'"):
        wg.grad(lambda z: wnp.sum(z.at[7].set(1.0, mode="drop")))(X)
    with pytest.raises(IndexError):
        wg.grad(lambda z: wnp.sum(z.at[7].set(1.0)))(X)
    with pytest.raises(TypeError, match=r"x\.at\[idx\]\.set"):
        def inplace(z):
            z[0] = 1.0
            return z
        wg.grad(lambda z: wnp.sum(inplace(z)))(X)


# --- jit ------------------------------------------------------------------------

def test_jit_static_argnames_and_argnums():
    def f(x, power=2, *, scale=1.0):
        return wnp.sum(x ** power) * scale
    j = wg.jit(f, static_argnames="power")
    x = np.arange(3.0)
    assert j(x) == 5.0 and j(x, power=3) == 9.0 and j(x, 3) == 9.0
    assert j(x, power=3, scale=2.0) == 18.0
    n = j.trace_count
    j(x + 1.0, power=3)
    assert j.trace_count == n  # same static value: no retrace
    j(x, power=4)
    assert j.trace_count == n + 1  # a new static value: retraced
    # static_argnums also covers the argument passed by keyword (JAX's rule)
    j2 = wg.jit(f, static_argnums=1)
    assert j2(x, 3) == 9.0 and j2(x, power=3) == 9.0
    np.testing.assert_allclose(wg.grad(lambda z: j(z, power=3))(x + 1), 3 * (x + 1) ** 2)
    np.testing.assert_allclose(wg.vmap(lambda z: j(z, power=3))(np.ones((2, 3))), [3.0, 3.0])
    assert "** 3" in j.source(x, power=3)
    with pytest.raises(TypeError, match="static_argnames.*hashable"):
        j(x, power=[2])
    with pytest.raises(TypeError, match="static_argnames must be"):
        wg.jit(f, static_argnames=(1,))
    # as a decorator
    @wg.jit(static_argnames=("n",))
    def g(x, n):
        return wnp.sum(wnp.zeros(n) + x)
    assert g(np.float64(2.0), n=3) == 6.0


def test_jit_backend():
    f = lambda x: wnp.sin(x) * 2  # noqa: E731
    for b in ("auto", "numpy"):
        np.testing.assert_allclose(wg.jit(f, backend=b)(X), np.sin(X) * 2)
    with pytest.raises(NotImplementedError, match="numba"):
        wg.jit(f, backend="numba")
    with pytest.raises(ValueError, match="unknown backend"):
        wg.jit(f, backend="cuda")


def test_traced_shape_names_static_argnums():
    for f in (lambda n: wnp.zeros(n), lambda n: wnp.ones((n, 2)), lambda n: wnp.arange(n),
              lambda n: wnp.eye(n), lambda n: wnp.full(n, 1.0), lambda n: wnp.empty((2, n)),
              lambda n: np.zeros(n), lambda n: np.ones((n, 2))):  # NumPy's own refusal, reworded
        with pytest.raises(ConcretizationError, match="static_argnums"):
            wg.jit(f)(3)
        np.testing.assert_array_equal(wg.jit(f, static_argnums=0)(3).shape, f(3).shape)
    with pytest.raises(ConcretizationError, match="static_argnums"):
        wg.jit(lambda x, n: x.reshape(n, -1))(np.ones(4), 2)


def test_make_graph_curried():
    f = lambda x, y: wnp.sin(x) * y  # noqa: E731
    g1 = wg.make_graph(f)(1.0, 2.0)
    g2 = wg.make_graph(f, 1.0, 2.0)
    assert [e.name for e in g1.eqns] == [e.name for e in g2.eqns] == ["sin", "mul"]
    assert float(g1(0.5, 3.0)) == pytest.approx(np.sin(0.5) * 3.0)
    assert "make_graph" in repr(wg.make_graph(f))
    g3 = wg.make_graph(lambda x, n: x ** n, static_argnums=1)(2.0, 3)
    assert float(g3(2.0)) == 8.0


# --- pytrees ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Frozen:
    w: np.ndarray
    b: float
    name: str = dataclasses.field(default="layer", metadata={"static": True})


@dataclasses.dataclass
class Mutable:
    w: np.ndarray
    n: int


class Pair(NamedTuple):
    a: np.ndarray
    b: float


def _loss(p):
    return wnp.sum(wnp.tanh(p.w) ** 2) * p.b


def test_frozen_dataclass_is_a_pytree_everywhere():
    p = Frozen(np.array([0.3, -0.7]), 1.5)
    g = wg.grad(_loss)(p)
    assert type(g) is Frozen and g.name == "layer"
    wg.check_grads(lambda w, b: _loss(Frozen(w, b)), (p.w, p.b), order=2)
    np.testing.assert_allclose(g.w, wg.grad(lambda w: _loss(Frozen(w, 1.5)))(p.w))
    assert wg.jit(_loss)(p) == pytest.approx(_loss(p))
    ps = Frozen(np.stack([p.w, 2 * p.w]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(wg.vmap(_loss)(ps), [_loss(Frozen(p.w, 1.0)), _loss(Frozen(2 * p.w, 2.0))])
    leaves, tree = wg.tree_util.tree_flatten(p)
    assert len(leaves) == 2 and wg.tree_util.tree_unflatten(tree, leaves) == p
    # the meta field is part of the structure: jit retraces for a new value
    j = wg.jit(_loss)
    j(p)
    j(Frozen(p.w, 1.5, name="other"))
    assert j.trace_count == 2


def test_register_dataclass():
    m = Mutable(np.array([0.2, 0.4]), 3)
    with pytest.raises(TypeError, match="register_dataclass"):
        wg.grad(lambda q: wnp.sum(q.w))(m)
    with pytest.raises(TypeError, match="register_dataclass"):
        wg.jit(lambda q: wnp.sum(q.w))(m)

    @dataclasses.dataclass
    class Local:
        w: np.ndarray
        n: int

    assert wg.tree_util.register_dataclass(Local, data_fields=["w"], meta_fields=["n"]) is Local
    q = Local(np.array([0.2, 0.4]), 3)
    g = wg.grad(lambda q: wnp.sum(q.w ** q.n))(q)
    np.testing.assert_allclose(g.w, 3 * q.w ** 2)
    assert g.n == 3
    assert wg.jit(lambda q: wnp.sum(q.w) * q.n)(q) == pytest.approx(1.8)
    with pytest.raises(ValueError, match="missing"):
        wg.tree_util.register_dataclass(Local, data_fields=["w"], meta_fields=[])
    with pytest.raises(TypeError, match="both"):
        wg.tree_util.register_dataclass(Local, data_fields=["w"])
    with pytest.raises(TypeError, match="not a dataclass"):
        wg.tree_util.register_dataclass(dict)

    @dataclasses.dataclass
    class BadMeta:
        w: np.ndarray
        cfg: list = dataclasses.field(default_factory=list, metadata={"static": True})

    wg.tree_util.register_dataclass(BadMeta)
    with pytest.raises(TypeError, match="hashable"):
        wg.tree_util.tree_flatten(BadMeta(np.ones(2)))


def test_namedtuple_keeps_its_type():
    p = Pair(np.array([0.3, 0.6]), 2.0)
    g = wg.grad(lambda p: wnp.sum(p.a ** 2) * p.b)(p)
    assert type(g) is Pair
    np.testing.assert_allclose(g.a, 2 * p.a * p.b)
    assert g.b == pytest.approx(np.sum(p.a ** 2))
    out = wg.jit(lambda p: Pair(p.a * 2, p.b + 1))(p)
    assert type(out) is Pair
    assert type(wg.tree_util.tree_map(lambda x: x, p)) is Pair


def test_hasattr_on_unimplemented_names():
    assert not hasattr(wnp, "unique") and hasattr(wnp, "sin")
    assert getattr(wnp, "unique", None) is None
    with pytest.raises(NotImplementedError, match="wengert.numpy.unique"):
        wnp.unique  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute"):
        wnp.not_a_numpy_name  # noqa: B018
    assert not hasattr(wnp.linalg, "tensorinv")
    with pytest.raises(NotImplementedError, match="linalg.tensorinv"):
        wnp.linalg.tensorinv  # noqa: B018
