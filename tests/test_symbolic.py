"""wengert.symbolic: symbolic derivatives agree with AD, print as expected,
compile back into differentiable functions; expression swell; bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sympy")

import wengert as wg  # noqa: E402
import wengert.numpy as wnp  # noqa: E402
from wengert import symbolic  # noqa: E402
from wengert._symbolic_parse import parse  # noqa: E402

# (expression, variables to differentiate in); points are drawn in [0.2, 0.8]
EXPRESSIONS = [
    # polynomials
    "x**2*y + y + 2", "x*y", "x**3 - 2*x**2 + x - 7", "(x + y)**4", "x**5*y**2 - 3*x*y**3",
    "3*x**2 + 2*x*y + y**2", "(x - 1)*(x + 2)*(x - 3)", "x**10", "-x**2/2 + y/3",
    "(2*x + 1)**3 * (y - 2)**2",
    # exp / log nests
    "exp(x)", "exp(x*y)", "exp(-x**2)", "log(x)", "log(x*y + 1)", "log(log(x + 2))",
    "exp(log(x) * y)", "x**y", "2**x", "exp(exp(x))", "log(1 + exp(x))", "ln(x**2 + y**2)",
    "log2(x + y)", "log10(x) * y", "log1p(x * y)", "expm1(x) / x", "exp2(x*y)",
    # trig nests
    "sin(log(x))", "sin(x)*cos(y)", "tan(x*y)", "sin(cos(tan(x)))", "sin(x)**2 + cos(x)**2",
    "cos(x)**3 * sin(y)", "asin(x)", "acos(x*y)", "atan(x/y)", "arctan2(y, x)", "sinh(x)*cosh(y)",
    "tanh(x*y)", "arcsinh(x)", "arctanh(x*y)", "arccosh(x + 1.5)",
    # quotients and roots
    "1/(1 + exp(-x))", "x/(x**2 + y**2)", "(x + 1)/(x - 2)", "sqrt(x**2 + y**2)", "1/sqrt(x)",
    "cbrt(x*y)", "sqrt(1 - x**2)", "x/(1 + x/(1 + x))", "(x**2 - 1)/(x + 1)", "hypot(x, y)",
    # mixed
    "x*exp(-x)*sin(3*x)", "exp(sin(x)) / (1 + y**2)", "log(cosh(x*y))", "x*log(x) - x",
    "sin(pi*x) + e**y", "square(x) + reciprocal(y)", "logaddexp(x, y)", "abs(x - 1) * y",
    "maximum(x, 0.1) + minimum(y, 0.9)", "where(x > 0.5, x**2, x*y)", "power(x, 2.5)",
]


def _points(n_vars, rng, k=3):
    return [tuple(rng.uniform(0.2, 0.8, n_vars)) for _ in range(k)]


def test_there_are_enough_expressions():
    assert len(EXPRESSIONS) >= 50


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_symbolic_diff_matches_ad(text):
    f = parse(text)
    names = f.names
    rng = np.random.default_rng(len(text))
    for var in names:
        d = symbolic.diff(text, var)
        i = names.index(var)
        for pt in _points(len(names), rng):
            want = wg.grad(f, argnums=i)(*pt)
            got = d.evaluate(**dict(zip(names, pt)))
            assert float(got) == pytest.approx(float(want), rel=1e-10, abs=1e-12), (text, var, pt)


@pytest.mark.parametrize("text", EXPRESSIONS[::4])
def test_second_derivatives_match_ad(text):
    f = parse(text)
    names = f.names
    d2 = symbolic.diff(text, names[0], n=2)
    assert str(d2) == str(symbolic.diff(symbolic.diff(text, names[0]), names[0]))
    pt = _points(len(names), np.random.default_rng(0), 1)[0]
    want = wg.grad(wg.grad(f))(*pt)
    assert float(d2.evaluate(**dict(zip(names, pt)))) == pytest.approx(float(want), rel=1e-9, abs=1e-12)


def _scalar_cases():
    from cases import all_cases
    return [c for c in all_cases() if c.name.endswith("()")]


@pytest.mark.parametrize("case", _scalar_cases(), ids=lambda c: c.name)
def test_sweep_table_scalars_traced_and_differentiated(case):
    # every scalar row of the sweep table: wnp code traced into SymPy, its
    # symbolic derivative equal to AD, and the derivative compiled back to wnp
    # differentiable again (second derivative equal to AD's)
    args = [float(a) for a in case.args(np.random.default_rng(0))]
    names = tuple("xyzw"[:len(args)])
    point = dict(zip(names, args))
    e = symbolic.expression(case.fn, *names)
    for i, v in enumerate(names):
        d = symbolic.diff(e, v)
        want = float(wg.grad(case.fn, argnums=i)(*args))
        assert float(d.evaluate(**point)) == pytest.approx(want, rel=1e-10, abs=1e-12), str(d)
        want2 = float(wg.grad(wg.grad(case.fn, argnums=i), argnums=i)(*args))
        got2 = float(wg.grad(d.to_function(), argnums=i)(*args))
        assert got2 == pytest.approx(want2, rel=1e-8, abs=1e-10), str(d)


def test_seed_examples_print_as_math():
    assert str(symbolic.diff("x*y", "x")) == "y"
    assert str(symbolic.diff("sin(log(x))", "x")) == "cos(log(x))/x"
    assert str(symbolic.diff("x**2*y + y + 2", "x")) == "2*x*y"
    assert str(symbolic.diff("x**2*y + y + 2", "y")) == "x**2 + 1"
    assert str(symbolic.diff("x**2*y + y + 2", "x", n=2)) == "2*y"
    assert str(symbolic.diff("sin(x)**2 + cos(x)**2", "x")) == "0"
    assert symbolic.diff("sin(log(x))", "x").latex() == \
        r"\frac{\cos{\left(\log{\left(x \right)} \right)}}{x}"
    g = symbolic.gradient("x**2*y + y + 2")
    assert [str(e) for e in g] == ["2*x*y", "x**2 + 1"]
    H = symbolic.hessian("x**2*y + y + 2")
    assert [[str(e) for e in row] for row in H] == [["2*y", "2*x"], ["2*x", "0"]]
    assert float(g[0].evaluate(x=3.0, y=4.0)) == 24.0


def test_python_functions_are_traced():
    def f(x, y):
        return wnp.exp(x) * wnp.sin(y) + x ** 2 / y

    e = symbolic.expression(f)
    assert e.variables == ("x", "y")
    assert str(e) == "x**2/y + exp(x)*sin(y)"
    dx = symbolic.diff(f, "x")
    assert float(dx.evaluate(x=0.3, y=0.7)) == pytest.approx(float(wg.grad(f)(0.3, 0.7)), rel=1e-12)
    # constants become exact numbers
    assert str(symbolic.expression(lambda x: 0.5 * x + wnp.pi)) == "x/2 + pi"
    # where / maximum / abs become Piecewise / Max / Abs
    w = symbolic.expression(lambda x: wnp.where(x > 1.0, x ** 2, -x))
    assert "Piecewise" in str(w)
    assert "Max" in str(symbolic.expression(lambda x, y: wnp.maximum(x, y)))


def test_ad_traced_symbolically_equals_symbolic_derivative():
    f = lambda x: wnp.sin(x) * wnp.exp(x) / (1 + x ** 2)  # noqa: E731
    ad_expr = symbolic.expression(wg.grad(f), "x")
    assert ad_expr.equals(symbolic.diff(f, "x"))


@pytest.mark.parametrize("text", ["x**2*y + y + 2", "sin(log(x)) * y", "exp(-x*y)/(1 + x)",
                                  "where(x > 0.5, x**3, y)", "maximum(x, y) * x"])
def test_to_function_round_trips(text):
    e = symbolic.expression(text)
    f = e.to_function()
    ref = parse(text)
    for pt in [(0.3, 0.7), (0.8, 0.4)]:
        assert float(f(*pt)) == pytest.approx(float(ref(*pt)), rel=1e-13)
        for i in range(2):
            assert float(wg.grad(f, argnums=i)(*pt)) == pytest.approx(
                float(wg.grad(ref, argnums=i)(*pt)), rel=1e-12)
    # a derivative compiled back is differentiable again: grad of d/dx = d²/dx²
    dfx = symbolic.diff(text, "x").to_function()
    d2 = symbolic.diff(text, "x", n=2)
    assert float(wg.grad(dfx)(0.3, 0.7)) == pytest.approx(float(d2.evaluate(x=0.3, y=0.7)), rel=1e-12)
    # vectorised evaluation and vmap
    xs = np.array([0.3, 0.6, 0.9])
    np.testing.assert_allclose(e.evaluate(x=xs, y=0.7), [ref(x, 0.7) for x in xs], rtol=1e-13)
    np.testing.assert_allclose(wg.vmap(f, in_axes=(0, None))(xs, 0.7), [ref(x, 0.7) for x in xs],
                               rtol=1e-13)


def test_to_sympy():
    import sympy as sp
    e = symbolic.diff("x**3", "x").to_sympy()
    assert isinstance(e, sp.Expr)
    assert e == 3 * sp.Symbol("x", real=True) ** 2
    # a SymPy expression is accepted too
    again = symbolic.diff(e, "x")
    assert str(again) == "6*x"
    # plain (not real) SymPy symbols are taken as the real variables of that name
    x, y = sp.symbols("x y")
    assert str(symbolic.diff(sp.sin(x) * y, "x")) == "y*cos(x)"


def test_derivative_keeps_all_variables():
    d = symbolic.diff("x*y", "x")  # y: still a function of (x, y)
    assert d.variables == ("x", "y")
    assert str(symbolic.diff(d, "x")) == "0"
    assert float(d.to_function()(5.0, 2.0)) == 2.0


def test_swell_grows_for_nested_products():
    # k factors: the unsimplified first derivative has k terms of k factors
    # (quadratic growth); AD's Wengert list grows linearly
    factors = ["x", "sin(x)", "exp(x)", "cos(x)", "log(x)", "tanh(x)", "atan(x)"]
    sym, ad = [], []
    for k in range(2, 8):
        r = symbolic.swell("*".join(factors[:k]), 1)
        assert r.orders == [0, 1]
        sym.append(r.unsimplified[1])
        ad.append(r.ad[1])
    dsym = np.diff(sym)
    dad = np.diff(ad)
    assert np.all(dsym > 0) and np.all(dad > 0)
    assert dsym[-1] > 2 * dsym[0]  # increments grow: superlinear
    assert max(dad) - min(dad) <= 2  # increments constant: linear
    assert sym[-1] > ad[-1]


def test_swell_of_the_logistic_map_is_exponential_for_symbolic_linear_for_ad():
    def logistic(x, n):
        for _ in range(n):
            x = 4 * x * (1 - x)
        return x

    un, ad = [], []
    for n in range(1, 6):
        r = symbolic.swell(lambda x, n=n: logistic(x, n), 1)
        un.append(r.unsimplified[1])
        ad.append(r.ad[1])
    assert all(b > 2.5 * a for a, b in zip(un[1:], un[2:]))  # ~3x per level
    assert len(set(np.diff(ad))) == 1  # exactly linear
    assert un[-1] > 30 * ad[-1]


def test_swell_of_higher_orders_and_report():
    r = symbolic.swell("x*sin(x)*exp(x)", 3)
    assert r.orders == [0, 1, 2, 3]
    assert r.ad == sorted(r.ad) and r.ad[3] > r.ad[1]
    assert all(s <= u for s, u in zip(r.simplified, r.unsimplified))
    txt = str(r)
    assert "Wengert" in txt and len(txt.splitlines()) == 6
    assert r.rows[1]["ad"] == r.ad[1]


# ----------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("text,var,match", [
    ("x*y", "z", r"`z` is not a variable of x\*y \(its variables: x, y\)"),
    ("x*y", "2", "with respect to a variable name"),
    ("x*y", "x + y", "with respect to a variable name"),
    ("pi*x", "pi", "`pi` is a constant"),
    ("floor(x) * x", "x", "floor.*non-differentiable"),
    ("foo(x)", "x", "unknown function `foo`"),
    ("__import__('os').system('true')", "x", "cannot use the call"),
    ("__import__('os')", "x", "unknown function `__import__`"),
    ("x.real", "x", "cannot use"),
    ("x[0]", "x", "cannot use"),
    ("lambda: 1", "x", "cannot use"),
    ("x +* 2", "x", "syntax error"),
    ("'x'", "x", "cannot use the constant 'x'"),
])
def test_bad_input_is_a_clear_error(text, var, match):
    with pytest.raises(ValueError, match=match):
        symbolic.diff(text, var)


def test_outside_the_domain_is_an_error_not_nan():
    with pytest.raises(symbolic.DomainError, match=r"log\(x\) is undefined at x = -1.0: log needs a "
                                                   "positive argument"):
        symbolic.expression("log(x)").evaluate(x=-1.0)
    with pytest.raises(ValueError, match="sqrt"):
        symbolic.expression("sqrt(x - 2) + x").evaluate(x=1.0)
    with pytest.raises(ValueError, match="division by zero"):
        symbolic.diff("log(x)", "x").evaluate(x=0.0)
    with pytest.raises(ValueError, match="asin"):
        symbolic.expression("asin(x*y)").evaluate(x=2.0, y=1.0)
    # the inner culprit is named, and arrays are checked as a whole
    with pytest.raises(ValueError, match=r"sqrt\(log\(x\)\) is undefined at x = array"):
        symbolic.expression("sqrt(log(x)) + 1").evaluate(x=np.array([2.0, 0.5]))
    with pytest.raises(TypeError, match="needs a value for y"):
        symbolic.expression("x*y").evaluate(x=1.0)
    with pytest.raises(TypeError, match="not a variable"):
        symbolic.expression("x*y").evaluate(x=1.0, y=2.0, z=3.0)


def test_undefined_constants_and_huge_powers():
    with pytest.raises(ValueError, match=r"`div\(x, 0\)` is undefined"):
        symbolic.diff("x/0", "x")
    with pytest.raises(ValueError, match="overflows"):
        symbolic.diff("10**10**10 * x", "x")
    # big integer powers skip SymPy's (slow) simplify but stay compact
    assert str(symbolic.diff("(x + 1)**1000", "x")) == "1000*(x + 1)**999"


def test_untraceable_code_is_named():
    with pytest.raises(TypeError, match="wnp.where"):
        symbolic.expression(lambda x: x if x > 0 else -x)
    with pytest.raises(NotImplementedError, match="stop_gradient"):
        symbolic.expression(lambda x: wg.stop_gradient(x) * x)
    with pytest.raises(NotImplementedError, match="scalar"):
        symbolic.expression(lambda x: wnp.sum(wnp.stack([x, x * 2])))
    with pytest.raises(TypeError, match="variable names"):
        symbolic.expression(lambda *xs: xs[0])


def test_missing_sympy_names_the_install_command():
    code = (
        "import sys; sys.modules['sympy'] = None\n"
        "import wengert.symbolic as s\n"
        "p = s.parse('x*y')\n"  # parsing needs no SymPy
        "assert float(p(2.0, 3.0)) == 6.0\n"
        "try:\n"
        "    s.diff('x*y', 'x')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'pip install "wengert[symbolic]"' in out.stdout
    assert "SymPy" in out.stdout
