"""The Wengert list as data: make_graph, the listing format, evaluation,
transformations traced into one graph, hand-built graphs."""

from __future__ import annotations

import re

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._ir import Eqn, Graph, TracerBoolError, Var


def f(x, y):
    return x * y + wnp.sin(x)


def test_listing_format():
    g = wg.make_graph(f, 1.0, 2.0)
    lines = str(g).splitlines()
    assert lines[0] == "inputs  v1: f64[], v2: f64[]"
    assert re.match(r"^\s+1  v3 = mul v1 v2\s+: f64\[\]  # test_ir\.py:\d+$", lines[1])
    assert re.match(r"^\s+2  v4 = sin v1\s+: f64\[\]", lines[2])
    assert re.match(r"^\s+3  v5 = add v3 v4\s+: f64\[\]", lines[3])
    assert lines[-1] == "outputs v5"
    assert len(g) == 3 and len(lines) == 5


def test_listing_shows_params_constants_and_shapes():
    g = wg.make_graph(lambda x: wnp.sum(x * 2.0, axis=0) + wnp.array([1.0, 2.0, 3.0]),
                      np.ones((2, 3), dtype=np.float32))
    s = str(g)
    assert "v1: f32[2,3]" in s
    assert "mul v1 2.0" in s
    assert "reduce_sum[(0,), (2, 3)] v2" in s
    assert "[1. 2. 3.]" in s  # a small constant shown inline
    big = wg.make_graph(lambda x: x + np.ones((40, 3)), np.ones((40, 3)))
    assert "<const f64[40,3]>" in str(big)


def test_eqns_as_data():
    g = wg.make_graph(f, 1.0, 2.0)
    e = g.eqns[0]
    assert e.name == "mul" and e.prim.name == "mul"
    assert e.inputs == [g.inputs[0], g.inputs[1]]
    assert len(e.outputs) == 1 and e.outputs[0].shape == () and e.outputs[0].dtype == np.float64
    assert e.params == ()
    assert g.outputs == [g.eqns[2].outputs[0]]
    rows = g.rows()
    assert rows[1]["op"] == "sin" and rows[1]["inputs"] == ["v1"] and rows[1]["outputs"] == ["v4"]


def test_evaluate_on_new_arguments_and_pytrees():
    g = wg.make_graph(f, 1.0, 2.0)
    assert float(g(0.5, 3.0)) == pytest.approx(0.5 * 3.0 + np.sin(0.5))
    assert float(g.evaluate(2.0, 1.0)) == pytest.approx(2.0 + np.sin(2.0))

    def h(p):
        return {"s": wnp.sum(p["a"] * p["b"]), "t": (p["a"],)}

    p = {"a": np.arange(3.0), "b": np.ones(3)}
    gh = wg.make_graph(h, p)
    out = gh({"a": np.ones(3), "b": np.full(3, 2.0)})
    assert float(out["s"]) == 6.0 and isinstance(out["t"], tuple)


def test_transformations_of_a_graph():
    g = wg.make_graph(f, 1.0, 2.0)
    gx, gy = wg.grad(g, argnums=(0, 1))(0.5, 3.0)
    assert float(gx) == pytest.approx(3.0 + np.cos(0.5)) and float(gy) == pytest.approx(0.5)
    xs = np.linspace(0, 1, 4)
    np.testing.assert_allclose(wg.vmap(g)(xs, xs), xs * xs + np.sin(xs))


def test_grad_is_traced_into_one_graph():
    g = wg.make_graph(wg.grad(f, argnums=(0, 1)), 1.0, 2.0)
    names = [e.name for e in g.eqns]
    assert names[:3] == ["mul", "sin", "cos"] or "cos" in names  # forward and JVP coefficient
    assert any(e.note == "reverse sweep" for e in g.eqns)  # backward ops are in the same list
    gx, gy = g(0.5, 3.0)
    assert float(gx) == pytest.approx(3.0 + np.cos(0.5)) and float(gy) == pytest.approx(0.5)
    # second order: the Hessian's graph
    h = wg.make_graph(wg.grad(wg.grad(lambda x: x ** 4)), 2.0)
    assert float(h(1.0)) == pytest.approx(12.0) and float(h(2.0)) == pytest.approx(48.0)


def test_vmap_and_jvp_traced_into_graphs():
    g = wg.make_graph(wg.vmap(lambda x: wnp.sum(x * x)), np.ones((4, 3)))
    assert [e.name for e in g.eqns] == ["mul", "reduce_sum"]
    assert g.eqns[1].params[0] == (1,)
    jg = wg.make_graph(lambda x, t: wg.jvp(wnp.sin, (x,), (t,)), 0.5, 1.0)
    out, tan = jg(0.0, 2.0)
    assert float(out) == 0.0 and float(tan) == 2.0


def test_make_graph_under_an_outer_grad():
    def via_graph(x):
        return wg.make_graph(lambda y: y * y * x, 2.0)(x)

    assert float(wg.grad(via_graph)(3.0)) == pytest.approx(27.0)  # d/dx x^3


def test_static_argnums_in_make_graph():
    g = wg.make_graph(lambda x, n: x ** n, 2.0, 3, static_argnums=1)
    assert "pow v1 3" in str(g)
    assert float(g(2.0)) == 8.0


def test_control_flow_under_make_graph_raises():
    def f(x):
        return x if x > 0 else -x

    with pytest.raises(TracerBoolError, match="wg.cond"):
        wg.make_graph(f, 1.0)


def test_hand_built_graph():
    from wengert import _prims as P
    x, y, z = Var((3,)), Var((3,)), Var(())
    g = Graph([x], [Eqn(P.sin_p, [x], [y]), Eqn("reduce_sum", [y], [z], ((0,), (3,)))], [z])
    assert str(g).splitlines()[1].split() == ["1", "v2", "=", "sin", "v1", ":", "f64[3]"]
    assert "reduce_sum[(0,), (3,)] v2" in str(g)
    assert float(g(np.zeros(3))) == 0.0
    assert float(g.evaluate(np.full(3, np.pi / 2))) == pytest.approx(3.0)
