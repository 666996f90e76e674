"""The `wengert` command line: in-process through main(argv), and as a subprocess."""

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest

from wengert import cli


def run(argv):
    out = io.StringIO()
    code = cli.main(argv, out=out)
    return code, out.getvalue()


def test_grad_prints_every_method_side_by_side():
    code, text = run(["grad", "x**2*y + y + 2", "--at", "x=3", "y=4"])
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("f(x, y) = x**2*y + y + 2")
    assert lines[1] == "value   = 42"
    header = next(ln for ln in lines if ln.startswith("method"))
    assert "∂f/∂x" in header and "∂f/∂y" in header and "error" in header and "time" in header
    for label in ("symbolic", "finite differences", "forward mode", "reverse mode",
                  "source transformation"):
        assert any(ln.startswith(label) for ln in lines), label
    rev = next(ln for ln in lines if ln.startswith("reverse mode")).split()
    assert "24" in rev and "10" in rev
    fwd = next(ln for ln in lines if ln.startswith("forward mode")).split()
    assert "24" in fwd and "10" in fwd


def test_compare_numbers():
    expr = cli.parse_expression("x**2*y + y + 2", ["x", "y"])
    res = cli.compare(expr, [np.float64(3), np.float64(4)],
                      methods=("numeric", "forward", "reverse"), timing=False)
    rows = {r["method"]: r for r in res["rows"]}
    assert rows["reverse"]["grad"] == [24.0, 10.0]
    assert rows["forward"]["grad"] == [24.0, 10.0]
    np.testing.assert_allclose(rows["numeric"]["grad"], [24.0, 10.0], rtol=1e-7)
    assert 0 < rows["numeric"]["error"] < 1e-6
    assert rows["forward"]["error"] == 0.0
    assert float(res["value"]) == 42.0


def test_aliases_constants_and_functions():
    e = cli.parse_expression("ln(x) + asin(y) + acos(y) + atan(x) + pi*e + hypot(x, y)", ["x", "y"])
    v = float(e(2.0, 0.5))
    want = np.log(2) + np.arcsin(0.5) + np.arccos(0.5) + np.arctan(2) + np.pi * np.e + np.hypot(2, .5)
    assert v == pytest.approx(want)
    assert "wnp.log(x)" in e.source and "wnp.arcsin(y)" in e.source


def test_expression_source_is_inspectable():
    import inspect

    e = cli.parse_expression("sin(x) * y", ["x", "y"])
    assert "return wnp.sin(x) * y" in inspect.getsource(e.fn)


def test_trace_prints_both_tables():
    code, text = run(["trace", "ln(x1) + x1*x2 - sin(x2)", "--at", "x1=2", "x2=5"])
    assert code == 0
    assert "forward mode" in text and "reverse mode" in text
    assert "mul(v-1, v0)" in text and "11.6521" in text
    assert "∂f/∂x1 = 5.5" in text and "∂f/∂x2 = 1.71633781454" in text
    code, text = run(["trace", "x*y", "--at", "x=2", "y=5", "--wrt", "all", "--mode", "forward"])
    assert code == 0 and text.count("forward mode:") == 2 and "reverse mode" not in text


def test_graph_to_stdout_and_files(tmp_path):
    code, text = run(["graph", "x*y + sin(x)", "--at", "x=2", "y=3"])
    assert code == 0 and text.startswith("digraph wengert {")
    p = tmp_path / "g.dot"
    code, text = run(["graph", "x*y + sin(x)", "--at", "x=2", "y=3", "-o", str(p)])
    assert code == 0 and p.read_text().startswith("digraph")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")
def test_graph_svg(tmp_path):
    p = tmp_path / "g.svg"
    code, text = run(["graph", "x*y + sin(x)", "--at", "x=2", "y=3", "-o", str(p)])
    assert code == 0 and "wrote" in text
    assert "<svg" in p.read_text()


def test_graph_without_graphviz_prints_dot_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    p = tmp_path / "g.svg"
    code, text = run(["graph", "x*y", "--at", "x=2", "y=3", "-o", str(p)])
    assert code == 0 and text.startswith("digraph") and not p.exists()
    assert "apt-get install graphviz" in capsys.readouterr().err


BAD = [
    (["grad", "x**", "--at", "x=1"], "syntax error"),
    (["grad", "x + z", "--at", "x=1"], "unknown name 'z'"),
    (["grad", "foo(x)", "--at", "x=1"], "unknown function 'foo'"),
    (["grad", "x*y", "--at", "x=1"], "unknown name 'y'"),
    (["grad", "x", "--at", "x=abc"], "must be a number"),
    (["grad", "x", "--at", "x"], "name=value"),
    (["grad", "x", "--at", "x=1", "x=2"], "twice"),
    (["grad", "log(x)", "--at", "x=-1"], "not defined at x = -1"),
    (["grad", "1/x", "--at", "x=0"], "not defined at x = 0"),
    (["grad", "1/0 + x", "--at", "x=1"], "not defined"),
    (["grad", "__import__('os').system('true')", "--at", "x=1"], "function names"),
    (["grad", "np.sin(x)", "--at", "x=1"], "plain function names"),
    (["grad", "x.real", "--at", "x=1"], "attribute access"),
    (["grad", "x % 2", "--at", "x=1"], "operator %"),
    (["grad", "'a'", "--at", "x=1"], "numbers"),
    (["grad", "sin", "--at", "x=1"], "is a function"),
    (["grad", "sin(x, x)", "--at", "x=1"], "takes 1 argument"),
    (["grad", "x(2)", "--at", "x=1"], "is a variable"),
    (["grad", "[x]", "--at", "x=1"], "a list"),
    (["grad", "lambda: 1", "--at", "x=1"], "lambda"),
    (["grad", "x"], "--at"),
    (["grad", "", "--at", "x=1"], "empty"),
    (["grad", "--at", "x=1"], "give an expression"),
    (["grad", "x", "--at", "sin=1"], "function name"),
    (["grad", "x", "--at", "x=1", "--methods", "magic"], "unknown method"),
    (["trace", "x", "--at", "x=1", "--wrt", "y"], "not one of the variables"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("argv,msg", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_status_2(argv, msg, capsys):
    code, text = run(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert text == ""
    assert err.count("\n") == 1 and err.startswith("wengert: error: "), err
    assert msg in err
    assert "Traceback" not in err


def test_expression_may_start_with_minus():
    code, text = run(["grad", "-x**2", "--at", "x=3", "--methods", "reverse", "--no-time"])
    assert code == 0 and "-6" in text


def test_no_arguments_shows_a_demo_and_help_works(capsys):
    code, text = run([])
    assert code == 0 and "wengert grad" in text and "reverse mode" in text
    code, _ = run(["--help"])
    assert code == 0
    assert "grad" in capsys.readouterr().out


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "wengert", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_subprocess_exit_codes():
    ok = _cli("grad", "x**2*y + y + 2", "--at", "x=3", "y=4", "--methods", "reverse,forward")
    assert ok.returncode == 0 and "24" in ok.stdout
    bad = _cli("grad", "log(x)", "--at", "x=-1")
    assert bad.returncode == 2
    assert bad.stdout == "" and len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr
    syn = _cli("grad", "x +* 2", "--at", "x=1")
    assert syn.returncode == 2 and len(syn.stderr.splitlines()) == 1
    helped = _cli("--help")
    assert helped.returncode == 0 and "usage: wengert" in helped.stdout


def test_console_script_is_installed():
    exe = shutil.which("wengert")
    if exe is None:
        pytest.skip("the `wengert` console script is not on PATH (pip install -e .)")
    r = subprocess.run([exe, "grad", "x*x", "--at", "x=1.5", "--methods", "reverse"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "3" in r.stdout


def test_bench_subcommand(capsys):
    code, text = run(["bench", "--quick", "--only", "W1", "--impls", "hand,wengert"])
    assert code == 0
    assert "### W1" in text and "| f1 | wengert |" in text and "ok" in text
    code, _ = run(["bench", "--bogus"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "unrecognized arguments" in err
    code, _ = run(["bench", "--help"])
    assert code == 0 and "--quick" in capsys.readouterr().out


def test_unused_variable_has_zero_derivative_everywhere():
    expr = cli.parse_expression("x * 3", ["x", "y"])
    res = cli.compare(expr, [np.float64(1), np.float64(2)], timing=False)
    for r in res["rows"]:
        if r["grad"] is not None:
            assert r["grad"] == pytest.approx([3.0, 0.0]), r["method"]
    assert all(r["note"] is None or "not available" in r["note"] for r in res["rows"])


def test_overflow_is_reported(capsys):
    code, _ = run(["grad", "exp(x)", "--at", "x=1000"])
    assert code == 2 and "overflows at x = 1000" in capsys.readouterr().err
