"""The Wengert-list verifier (issue 10): ``check_graph`` and
``wg.config.debug_ir``, which runs it after tracing and after every
optimiser pass of jit (on for the whole test suite, see conftest.py)."""

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import _jit
from wengert import _prims as P
from wengert._ir import Eqn, Graph, IRError, Var, check_graph


def _sel_program(x0, x1):
    v0 = x0[np.array([-2]), np.array([-2])]
    v4 = v0 @ v0
    v5 = wnp.where(x1 <= 0.0, v4, v4)
    return wnp.sum(wnp.max(v5))


X0 = np.arange(9.0).reshape(3, 3) / 7 - 0.4
X1 = np.array([0.3, -0.2])


def test_debug_ir_is_on_in_the_test_suite():
    assert wg.config.debug_ir is True


def test_well_formed_graphs_pass():
    g = wg.make_graph(wg.grad(_sel_program), X0, X1)
    check_graph(g)
    check_graph(_jit.optimize(g, check=True))


def test_use_before_definition_and_double_definition():
    x, y, z = Var((), "float64"), Var((), "float64"), Var((), "float64")
    g = Graph([x], [Eqn(P.sin_p, [y], [z]), Eqn(P.cos_p, [x], [y])], [z])
    with pytest.raises(IRError, match=r"row 1: `v2 = sin v3` uses v3 before it is defined"):
        check_graph(g)
    g = Graph([x], [Eqn(P.sin_p, [x], [y]), Eqn(P.cos_p, [x], [y])], [y])
    with pytest.raises(IRError, match="row 2.*defines v2 a second time"):
        check_graph(g)
    g = Graph([x], [Eqn(P.sin_p, [x], [y])], [z])
    with pytest.raises(IRError, match="output 0 .* is never defined"):
        check_graph(g)
    g = Graph([x, x], [], [x])
    with pytest.raises(IRError, match="listed twice"):
        check_graph(g)


def test_wrong_dtype_is_caught():
    x, y = Var((3,), "float32"), Var((3,), "float32")
    g = Graph([x], [Eqn(P.mul_p, [x, np.array(2.0)], [y])], [y])  # f32 * f64 array -> f64
    with pytest.raises(IRError, match=r"declares f32\[3\] but mul computes f64\[3\]"):
        check_graph(g, after="mine")


def _buggy_bcast(p, ins, params, out, prod):
    """The rule as it was before issue 10: drops the broadcast of *both* operands."""
    new = None
    for i in (0, 1):
        a = ins[i]
        src = prod.get(a) if type(a) is Var else None
        if src is not None and src.prim is P.broadcast_p:
            other = ins[1 - i]
            if tuple(other.shape if type(other) is Var else np.shape(other)) == out.shape:
                new = list(ins) if new is None else new
                new[i] = src.inputs[0]
    return None if new is None else ("eqn", p, new, params)


def test_a_broken_rewrite_rule_is_named(monkeypatch):
    monkeypatch.setitem(_jit._rules(), P.REGISTRY["equal"], _buggy_bcast)
    g = wg.jit(wg.grad(_sel_program))
    g(X0, X1)  # the first call only traces
    with pytest.raises(IRError) as info:
        g(X0, X1)
    msg = str(info.value)
    assert "after pass 'simplify'" in msg and "= equal " in msg and "rewrite rule 'buggy_bcast'" in msg
    assert "declares bool[2] but equal computes bool[1]" in msg


def test_a_rule_replacing_a_value_by_one_of_another_shape(monkeypatch):
    def bad_select(p, ins, params, out, prod):
        c, x, y = ins  # "select(c, broadcast(a), broadcast(a)) is a": drops the broadcast
        src = prod.get(x)
        return ("atom", src.inputs[0]) if x is y and src is not None and src.prim is P.broadcast_p else None
    monkeypatch.setitem(_jit._rules(), P.REGISTRY["select"], bad_select)
    g = wg.make_graph(_sel_program, X0, X1)
    with pytest.raises(IRError, match=r"pass 'simplify': rewrite rule 'bad_select' replaces the output f64\[2\]"):
        _jit.optimize(g)


def test_a_broken_pass_is_named(monkeypatch):
    def shuffle(graph, blame):
        return Graph(graph.inputs, graph.eqns[::-1], graph.outputs, graph.in_tree, graph.out_tree)

    def drop_first(graph, blame):
        return Graph(graph.inputs, graph.eqns[1:], graph.outputs, graph.in_tree, graph.out_tree)

    g = wg.make_graph(lambda x: wnp.sin(wnp.cos(x)) * 2.0, np.ones(3))
    monkeypatch.setattr(_jit, "PASSES", _jit.PASSES + [("shuffle", shuffle)])
    with pytest.raises(IRError, match="after pass 'shuffle': row .* before it is defined"):
        _jit.optimize(g)
    monkeypatch.setattr(_jit, "PASSES", [("drop", drop_first)])
    with pytest.raises(IRError, match="after pass 'drop'"):
        _jit.optimize(g)


def test_a_pass_changing_an_output_type_is_caught(monkeypatch):
    def retype(graph, blame):
        e = graph.eqns[-1]
        return Graph(graph.inputs, graph.eqns[:-1] + [Eqn(P.convert_p, [e.inputs[0], np.dtype("float32"),
                                                                        np.dtype("float64")],
                                                          e.outputs)], graph.outputs)
    if not hasattr(P, "convert_p"):
        pytest.skip("no convert primitive handle")
    monkeypatch.setattr(_jit, "PASSES", [("retype", retype)])
    with pytest.raises(IRError, match="after pass 'retype'"):
        _jit.optimize(wg.make_graph(lambda x: wnp.sin(x), np.ones(2)))


def test_user_switch(monkeypatch):
    monkeypatch.setattr(wg.config, "debug_ir", False)
    monkeypatch.setitem(_jit._rules(), P.REGISTRY["equal"], _buggy_bcast)
    # unchecked, the broken rule goes through (this is what debug_ir is for)
    _jit.optimize(wg.make_graph(wg.grad(_sel_program), X0, X1))
    wg.config.update("debug_ir", True)
    with pytest.raises(IRError):
        _jit.optimize(wg.make_graph(wg.grad(_sel_program), X0, X1))
