"""Trace tables, DOT output and rendering (wengert.viz)."""

import os
import shutil

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert.viz import GraphvizNotFoundError


def baydin(x1, x2):
    return wnp.log(x1) + x1 * x2 - wnp.sin(x2)


def test_baydin_forward_table_reproduces_the_survey():
    t = wg.trace_table(baydin, 2.0, 5.0, mode="forward", wrt=0)
    names = [r["name"] for r in t.rows]
    assert names == ["v-1", "v0", "v1", "v2", "v3", "v4", "v5"]
    assert [r["op"] for r in t.rows] == ["input", "input", "log", "mul", "add", "sin", "sub"]
    assert t.rows[3]["inputs"] == ["v-1", "v0"]
    vals = [float(r["value"]) for r in t.rows]
    np.testing.assert_allclose(vals, [2, 5, np.log(2), 10, np.log(2) + 10, np.sin(5),
                                      np.log(2) + 10 - np.sin(5)])
    tans = [float(r["tangent"]) for r in t.rows]
    np.testing.assert_allclose(tans, [1, 0, 0.5, 5, 5.5, 0, 5.5])
    assert round(float(t.value), 3) == 11.652
    assert float(t.derivative) == pytest.approx(5.5)
    assert all("adjoint" not in r for r in t.rows)


def test_baydin_forward_wrt_second_input():
    t = wg.trace_table(baydin, 2.0, 5.0, wrt=1)
    assert float(t.derivative) == pytest.approx(2 - np.cos(5))
    assert round(float(t.derivative), 3) == 1.716


def test_baydin_reverse_table_reproduces_the_survey():
    t = wg.trace_table(baydin, 2.0, 5.0, mode="reverse")
    adj = {r["name"]: float(r["adjoint"]) for r in t.rows}
    expect = {"v5": 1, "v4": -1, "v3": 1, "v2": 1, "v1": 1, "v0": 2 - np.cos(5), "v-1": 5.5}
    for k, v in expect.items():
        assert adj[k] == pytest.approx(v), k
    assert round(adj["v0"], 3) == 1.716
    g = [float(d) for d in t.derivative]
    np.testing.assert_allclose(g, [float(x) for x in wg.grad(baydin, argnums=(0, 1))(2.0, 5.0)])


def test_table_text_is_aligned_and_complete():
    s = str(wg.trace_table(baydin, 2.0, 5.0, mode="reverse"))
    lines = s.splitlines()
    assert lines[0].startswith("reverse mode")
    assert "adjoint" in lines[1]
    body = lines[3:-1]
    assert len(body) == 7
    # right-aligned number columns: every line of the table has one width
    widths = {len(ln.rstrip()) for ln in lines[1:-1]}
    assert len(widths) == 1
    assert "mul(v-1, v0)" in s and "11.6521" in s and "1.71634" in s
    assert lines[-1] == "output: v5"


def test_constants_and_arrays():
    t = wg.trace_table(lambda x: wnp.sum(x ** 2 + 2.0), np.array([1.0, 2.0, 3.0]), mode="reverse")
    ops = [r["op"] for r in t.rows]
    assert "input" in ops[0]
    assert any("2" in r["inputs"] for r in t.rows)
    np.testing.assert_allclose(t.derivative[0], [2.0, 4.0, 6.0])
    tf = wg.trace_table(lambda x: wnp.sum(x ** 2), np.array([1.0, 2.0, 3.0]))
    assert float(tf.derivative) == pytest.approx(12.0)   # along the all-ones direction


def test_pytree_args_and_names():
    t = wg.trace_table(lambda p, x: p["w"] * x + p["b"], {"w": 3.0, "b": 1.0}, 2.0, mode="reverse")
    labels = [r.get("label") for r in t.rows if r["op"] == "input"]
    assert labels == ["p[0]", "p[1]", "x"]
    np.testing.assert_allclose([float(d) for d in t.derivative], [1.0, 2.0, 3.0])


def test_matches_grad_on_a_longer_function():
    def f(x, y):
        z = wnp.tanh(x * y) / (1 + x ** 2)
        return wnp.exp(-z) * wnp.sqrt(y) + wnp.maximum(x, y)

    g = wg.grad(f, argnums=(0, 1))(0.7, 1.3)
    rev = wg.trace_table(f, 0.7, 1.3, mode="reverse").derivative
    np.testing.assert_allclose([float(v) for v in rev], [float(v) for v in g], rtol=1e-12)
    for i in range(2):
        fwd = wg.trace_table(f, 0.7, 1.3, wrt=i).derivative
        assert float(fwd) == pytest.approx(float(g[i]), rel=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="mode"):
        wg.trace_table(baydin, 2.0, 5.0, mode="sideways")
    with pytest.raises(ValueError, match="wrt"):
        wg.trace_table(baydin, 2.0, 5.0, wrt=2)
    with pytest.raises(TypeError, match="point"):
        wg.trace_table(baydin)


def test_to_dot_has_values_and_grads():
    src = wg.to_dot(baydin, 2.0, 5.0)
    assert src.startswith("digraph wengert {")
    assert src.rstrip().endswith("}")
    assert "value 11.6521" in src
    assert "grad 5.5" in src and "grad 1.71634" in src
    assert src.count("->") == 9   # 8 operand edges + the output edge
    # an object with its own to_dot is delegated to

    class G:
        def to_dot(self):
            return "digraph g {}"

    assert wg.to_dot(G()) == "digraph g {}"


def test_render_dot_file_needs_no_graphviz(tmp_path):
    p = tmp_path / "g.dot"
    wg.render(wg.to_dot(baydin, 2.0, 5.0), p)
    assert p.read_text().startswith("digraph")


def test_render_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="extension"):
        wg.render("digraph g {}", tmp_path / "noext")
    with pytest.raises(ValueError, match="format"):
        wg.render("digraph g {}", tmp_path / "g.xyz")
    with pytest.raises(TypeError, match="to_dot"):
        wg.render(42, tmp_path / "g.svg")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        wg.render("digraph g {}", tmp_path / "g.svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")
@pytest.mark.parametrize("ext,magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_render_with_graphviz(tmp_path, ext, magic):
    p = tmp_path / f"g.{ext}"
    assert wg.render(wg.to_dot(baydin, 2.0, 5.0), p) == os.fspath(p)
    data = p.read_bytes()
    assert magic in data[:400]
    q = tmp_path / "h.out"
    wg.render(wg.to_dot(baydin, 2.0, 5.0), q, format=ext)
    assert magic in q.read_bytes()[:400]


def test_to_dot_and_render_accept_make_graph(tmp_path):
    try:
        make_graph = wg.make_graph
    except (AttributeError, ImportError):
        pytest.skip("wg.make_graph is not available")
    g = make_graph(lambda x, y: wnp.sin(x) * y + 2.0, 1.0, 2.0)
    src = wg.to_dot(g)
    assert src.startswith("digraph") and "sin" in src and "mul" in src
    with_values = wg.to_dot(g, 1.0, 2.0)
    assert f"grad {np.cos(1.0) * 2:.6g}" in with_values
    p = tmp_path / "g.dot"
    wg.render(g, p)
    assert "sin" in p.read_text()


def test_to_dot_delegates_to_tensor(tmp_path):
    try:
        tensor = wg.tensor
    except (AttributeError, ImportError):
        pytest.skip("wg.Tensor is not available")
    x = tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)  # keeps the graph to draw (a plain backward() frees it)
    if not hasattr(y, "to_dot"):
        pytest.skip("Tensor.to_dot is not available")
    assert wg.to_dot(y) == y.to_dot()
    p = tmp_path / "t.dot"
    wg.render(y, p)
    assert p.read_text().startswith("digraph")
