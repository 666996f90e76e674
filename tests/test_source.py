"""wengert.source: generated code agrees with wg.grad / wg.jvp on a corpus of
small user functions; the source reads as documented; unsupported
constructs fail clearly."""

import math

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import source
from wengert.numpy import exp, sin  # imported names resolve through f.__globals__
from wengert.source import SourceTransformError

R = np.random.default_rng(0)
W = R.normal(size=(3, 4))           # a global constant captured by the generated code
N_STEPS = 3


# ----------------------------------------------------------------------------
# The corpus


def poly(x, y):
    return x ** 2 * y + y + 2


def cubic(x):
    return 3 * x ** 3 - 2 * x ** 2 + x - 7


def trig_nest(x, y):
    return wnp.sin(wnp.cos(x) * y) + wnp.tan(x / 3)


def exp_log(x):
    a = wnp.exp(-x * x)
    b = wnp.log(1 + a)
    return wnp.sqrt(b + 1.0) * wnp.log1p(x * x)


def np_names(x):
    return np.sum(np.tanh(x) * np.sinh(x) / np.cosh(x))


def np_names_ref(x):
    return wnp.sum(wnp.tanh(x) * wnp.sinh(x) / wnp.cosh(x))


def imported_names(x):
    return sin(x) * exp(x)


def math_names(x):
    return math.sin(x) + math.exp(x) * math.sqrt(x)


def math_names_ref(x):
    return wnp.sin(x) + wnp.exp(x) * wnp.sqrt(x)


def inverse_trig(x):
    return wnp.sum(wnp.arcsin(x) + wnp.arccos(x / 2) * wnp.arctan(x))


def misc_unary(x):
    return wnp.sum(wnp.expm1(x) + wnp.abs(x) + wnp.square(x) + wnp.reciprocal(x + 3.0))


def power_fn(x, y):
    return wnp.sum(wnp.power(x, y) + x ** 0.5 + y ** x)


def max_min(x, y):
    return wnp.sum(wnp.maximum(x, y) * wnp.minimum(x, 0.5))


def where_fn(x):
    return wnp.sum(wnp.where(x > 0, x, 0.01 * x) ** 2)


def broadcasting(x, b):
    return wnp.sum((x + b) * b - x / (b + 3))


def reductions(x):
    return wnp.sum(wnp.mean(x, axis=0) ** 2) + wnp.sum(x, axis=1, keepdims=True).sum() + x.mean()


def max_reduction(x):
    return wnp.max(x, axis=1).sum() - wnp.min(x)


def matvec(A, v):
    return wnp.sum(wnp.tanh(A @ v))


def dot_fn(x, A):
    y = wnp.dot(A, x)
    return wnp.dot(y, y)


def global_matrix(v):
    return wnp.sum(wnp.sin(W @ v))


def indexing(x):
    return x[0] * x[1] + wnp.sum(x[1:] ** 2) + x[-1]


def matrix_index(M):
    return wnp.sum(M[:, 0] * M[1, :3]) + M[2, 3]


def tuple_unpack(x, y):
    a, b = x * y, x + y
    a, b = b, a
    return a / b


def unpack_array(v):
    p, q, r = v
    return p * q - r


def augmented(x):
    y = x
    y += 2.0
    y *= x
    y -= 1.0
    y /= 2.0
    y **= 2
    return y


def unrolled(x):
    s = 0.0
    for i in range(N_STEPS):
        s = s + x[i] * (i + 1)
        if i > 0:
            s = s * x[i - 1]
    return s


def transposes(A):
    B = A.T @ A
    return wnp.sum(wnp.transpose(B) * B) + wnp.sum(wnp.reshape(A, (4, 3)) ** 2)


def outer_fn(u, v):
    return wnp.sum(wnp.outer(u, v) ** 2)


def mlp_loss(W1, b1, W2, b2, X, y):
    h = wnp.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    zmax = wg.stop_gradient(wnp.max(z, axis=1, keepdims=True))
    lse = wnp.log(wnp.sum(wnp.exp(z - zmax), axis=1, keepdims=True)) + zmax
    logp = z - lse
    return -wnp.mean(wnp.sum(logp * y, axis=1))


def relu_net(x, w):
    h = wnp.maximum(w * x, 0.0)
    return wnp.sum(h * h)


def docstring_and_pass(x):
    """A docstring is fine."""
    pass
    return x * x


def _scaled(x, k, square=False):
    k = k * 2
    if square:
        return k * x * x
    else:
        return k * x


def final_if(x):
    if N_STEPS > 2:
        y = _scaled(x, 1.5, square=True)
        return y + _scaled(x, 1)
    return x


def unused_argument(x, y):
    return x * 2.0


def hyperbolic(x):
    return wnp.sum(wnp.arcsinh(x) + wnp.arccosh(x + 2) + wnp.arctanh(x / 4) + wnp.log2(x + 2)
                   + wnp.exp2(x) + wnp.log10(x + 1) + wnp.cbrt(x + 1))


def norms_and_inf(x, M):
    a = wnp.linalg.norm(x) + wnp.linalg.norm(M, axis=1).sum() + wnp.linalg.norm(M, None, 0, True).sum()
    return a + wnp.sum(wnp.minimum(x, np.inf)) + wnp.maximum(wnp.sum(x), -np.inf)


def np_norm(x):
    return np.linalg.norm(x * 2.0)


def np_norm_ref(x):
    return wnp.linalg.norm(x * 2.0)


def build_arrays(x, y):
    v = wnp.array([x, y * 2.0, 1.0])
    M = wnp.array([[x, y], [y, x * x]])
    S = wnp.stack([v, wnp.sin(v)], axis=1)
    T = np.stack((v, v * v))
    return wnp.sum(M @ M) + wnp.sum(S ** 2) + T[1, 0] + wnp.asarray(v)[1]


def build_arrays_ref(x, y):
    v = wnp.array([x, y * 2.0, 1.0])
    M = wnp.array([[x, y], [y, x * x]])
    S = wnp.stack([v, wnp.sin(v)], axis=1)
    T = wnp.stack((v, v * v))
    return wnp.sum(M @ M) + wnp.sum(S ** 2) + T[1, 0] + wnp.asarray(v)[1]


def cli_functions(x, y):
    a = wnp.sinc(x) + wnp.deg2rad(x) * wnp.rad2deg(y) + wnp.radians(y) + wnp.degrees(x)
    b = wnp.fmax(x, y) * wnp.fmin(x, 0.1) + wnp.logaddexp2(x, y)
    c = x % 0.7 + wnp.fmod(y, 0.3) + wnp.mod(x * 3, y) + (x // 0.2) * y
    return wnp.sum(a + b + c)


def atan2_hypot(x, y):
    return wnp.arctan2(x, y) * wnp.hypot(x, y) + wnp.logaddexp(x, y)


def _dense(x, W, b, act=True):
    z = x @ W + b
    if act:
        z = wnp.tanh(z)
    return z


def _two(x):
    return x * 2.0, x + 1.0


def calls_helpers(W1, b1, W2, X):
    h = _dense(X, W1, b1)
    out = _dense(h, W2, 0.0, act=False)
    a, b = _two(wnp.sum(out))
    return a * b + _two(out[0, 0])[1]


def uses_nn_relu(x):
    return wnp.sum(wg.nn.relu(x) ** 2 + wg.nn.leaky_relu(x, 0.2))


def _collide(t1, W):
    t2 = t1 * W
    return wnp.sum(t2) + wnp.sum(W)


def _uses_global_W(v):
    return wnp.sum(W @ v)


def collisions(W, v):
    t1 = v[:3] * 3.0
    return _collide(t1, W[0, :3]) + _uses_global_W(v) + _collide(v[:3], v[1:])


lam = lambda x, y: wnp.sin(x) * y ** 2  # noqa: E731


def _decorate(f):
    return f


@_decorate
def decorated(x):
    return wnp.cos(x) ** 2


def make_closure():
    scale = 2.5

    def closed(x):
        return scale * wnp.sum(x ** 2)
    return closed


closure = make_closure()

vec = lambda: R.normal(size=3)  # noqa: E731
pos = lambda *s: R.uniform(0.5, 1.5, size=s)  # noqa: E731
Y1 = np.eye(3)[[0, 2, 1, 0, 2]]

CORPUS = [
    (poly, (3.0, 4.0)),
    (cubic, (1.5,)),
    (trig_nest, (0.7, 1.3)),
    (exp_log, (0.4,)),
    (np_names, (vec(),), np_names_ref),
    (imported_names, (0.3,)),
    (math_names, (0.8,), math_names_ref),
    (inverse_trig, (R.uniform(-0.9, 0.9, size=4),)),
    (misc_unary, (R.normal(size=5),)),
    (power_fn, (pos(4), pos(4))),
    (max_min, (np.array([1.0, 2.0, 3.0, 0.2]), np.array([1.0, 0.5, 4.0, 0.1]))),
    (where_fn, (np.array([-1.0, 2.0, -0.5, 3.0]),)),
    (broadcasting, (R.normal(size=(2, 3)), pos(3))),
    (reductions, (R.normal(size=(3, 4)),)),
    (max_reduction, (np.array([[1.0, 3.0, 3.0], [0.5, -2.0, 0.1]]),)),
    (matvec, (R.normal(size=(3, 4)), R.normal(size=4))),
    (dot_fn, (vec(), R.normal(size=(2, 3)))),
    (global_matrix, (R.normal(size=4),)),
    (indexing, (R.normal(size=5),)),
    (matrix_index, (R.normal(size=(3, 4)),)),
    (tuple_unpack, (1.5, 0.5)),
    (unpack_array, (vec(),)),
    (augmented, (0.7,)),
    (unrolled, (vec(),)),
    (transposes, (R.normal(size=(3, 4)),)),
    (outer_fn, (vec(), R.normal(size=2))),
    (mlp_loss, (R.normal(size=(4, 6)), R.normal(size=6), R.normal(size=(6, 3)), R.normal(size=3),
                R.normal(size=(5, 4)), Y1)),
    (relu_net, (np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -1.0]))),
    (docstring_and_pass, (1.5,)),
    (unused_argument, (1.0, np.ones(3))),
    (final_if, (0.7,)),
    (hyperbolic, (np.array([0.3, 1.2]),)),
    (atan2_hypot, (0.6, -1.2)),
    (norms_and_inf, (R.normal(size=3), R.normal(size=(2, 3)))),
    (np_norm, (R.normal(size=(2, 2)),), np_norm_ref),
    (build_arrays, (0.7, -0.4), build_arrays_ref),
    (cli_functions, (np.array([0.3, -0.45, 0.0, 1.1]), np.array([0.55, 0.21, 0.4, 1.1]))),
    (lam, (0.5, 2.0)),
    (calls_helpers, (R.normal(size=(3, 5)), R.normal(size=5), R.normal(size=(5, 2)), R.normal(size=(4, 3)))),
    (uses_nn_relu, (np.array([-1.0, 2.0, 0.5]),)),
    (collisions, (R.normal(size=(2, 3)), R.normal(size=4))),
    (decorated, (0.4,)),
    (closure, (vec(),)),
]


def _ids(c):
    return c[0].__name__ if c[0].__name__ != "<lambda>" else "lambda"


@pytest.mark.parametrize("case", CORPUS, ids=[_ids(c) for c in CORPUS])
def test_grad_matches_wg_grad(case):
    f, args, ref = (*case, case[0])[:3]   # ref: a wnp twin where f calls np / math
    value, grads = source.grad(f)(*args)
    ref_value, ref_grads = wg.value_and_grad(ref, argnums=tuple(range(len(args))))(*args)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=1e-12)
    assert isinstance(grads, tuple) and len(grads) == len(args)
    for g, r, a in zip(grads, ref_grads, args):
        assert np.shape(g) == np.shape(a)
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CORPUS, ids=[_ids(c) for c in CORPUS])
def test_jvp_matches_wg_jvp(case):
    f, args, ref = (*case, case[0])[:3]
    tangents = tuple(np.asarray(R.normal(size=np.shape(a)))[()] for a in args)
    out, out_dot = source.jvp(f)(args, tangents)
    ref_out, ref_dot = wg.jvp(ref, args, tangents)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out_dot, ref_dot, rtol=1e-10, atol=1e-12)


KINKED = {"max_min", "where_fn", "max_reduction", "relu_net", "cli_functions", "misc_unary",
          "uses_nn_relu"}


@pytest.mark.parametrize("case", [c for c in CORPUS if c[0].__name__ not in KINKED],
                         ids=[_ids(c) for c in CORPUS if c[0].__name__ not in KINKED])
def test_grad_matches_finite_differences(case):
    """The same corpus through another method: wengert.numeric (4th order)."""
    f, args = case[:2]
    _, grads = source.grad(f)(*args)
    fd = wg.numeric.grad(lambda a: f(*a), tuple(np.asarray(a, dtype=float) for a in args), order=4)
    for g, r in zip(grads, fd):
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("f, text, at", [
    (poly, "x**2*y + y + 2", (3.0, 4.0)),
    (trig_nest, "sin(cos(x)*y) + tan(x/3)", (0.7, 1.3)),
    (atan2_hypot, "arctan2(x, y)*hypot(x, y) + logaddexp(x, y)", (0.6, -1.2)),
])
def test_grad_matches_symbolic(f, text, at):
    pytest.importorskip("sympy")
    _, grads = source.grad(f)(*at)
    for g, var in zip(grads, ("x", "y")):
        ref = wg.symbolic.diff(text, var).evaluate(x=at[0], y=at[1])
        assert float(g) == pytest.approx(float(ref), rel=1e-12)


def global_methods(x, scale=2.0):
    return W.dot(x).sum() * scale + W.T.dot(W.dot(x)).mean()


def test_defaults_and_methods_of_global_arrays():
    x = R.normal(size=4)
    value, (dx, dscale) = source.grad(global_methods)(x)
    twin = lambda x, scale: wnp.dot(W, x).sum() * scale + wnp.dot(W.T, wnp.dot(W, x)).mean()
    ref = wg.grad(twin, argnums=(0, 1))(x, 2.0)
    np.testing.assert_allclose(dx, ref[0])
    np.testing.assert_allclose(dscale, ref[1])


def test_w1_example():
    value, grads = source.grad(poly)(3.0, 4.0)
    assert float(value) == 42.0
    assert tuple(float(g) for g in grads) == (24.0, 10.0)


def test_source_is_readable():
    text = source.grad_source(trig_nest)
    assert text.startswith("def grad_trig_nest(x, y):")
    assert "# grad of: return wnp.sin(wnp.cos(x) * y) + wnp.tan(x / 3)" in text
    assert "np.cos(x)" in text and "np.sin(" in text and "wnp." not in text.split("#")[0]
    code_lines = [ln for ln in text.splitlines() if not ln.strip().startswith("#")]
    assert not any("wnp." in ln for ln in code_lines)
    # forward pass before the backward pass, adjoints in reverse order
    fwd, bwd = text.split("# -- backward pass")
    assert "t1 = np.cos(x)" in fwd and "_bar" not in fwd
    assert bwd.index("t2_bar =") < bwd.index("x_bar = x_bar +")


def test_grad_of_comments_name_each_statement():
    text = source.grad_source(exp_log)
    for stmt in ("a = wnp.exp(-x * x)", "b = wnp.log(1 + a)",
                 "return wnp.sqrt(b + 1.0) * wnp.log1p(x * x)"):
        assert f"# grad of: {stmt}" in text
    # reverse order of the statements
    assert text.index("# grad of: return") < text.index("# grad of: b =") < text.index(
        "# grad of: a =")


def test_ssa_and_loops_in_source():
    text = source.grad_source(unrolled)
    assert "[i = 2]" in text and "s_1 =" in text
    text = source.grad_source(augmented)
    assert "y_1 = y + 2.0" in text


def test_helpers_make_the_source_self_contained():
    text = source.grad_source(poly, helpers=True)
    ns: dict = {}
    exec(text, ns)
    value, grads = ns["grad_poly"](3.0, 4.0)
    assert (float(value), float(grads[0]), float(grads[1])) == (42.0, 24.0, 10.0)


def test_generated_function_is_plain_numpy():
    g = source.grad(matvec)
    assert "def grad_matvec" in g.source
    A, v = R.normal(size=(3, 4)), R.normal(size=4)
    value, (dA, dv) = g(A, v)
    assert dA.shape == (3, 4) and dv.shape == (4,)


def test_float32_stays_float32():
    x = np.array([0.1, 0.2], dtype=np.float32)
    value, (dx,) = source.grad(np_names)(x)
    assert dx.dtype == np.float32


@pytest.mark.parametrize("case", CORPUS, ids=[_ids(c) for c in CORPUS])
def test_float32_inputs_give_float32_gradients(case):
    f, args = case[:2]
    args32 = tuple(np.asarray(a, np.float32) if isinstance(a, np.ndarray) else a for a in args)
    if not any(isinstance(a, np.ndarray) for a in args) or f.__name__ in ("global_matrix", "np_names"):
        pytest.skip("no array argument, or a float64 global / float64 reference")
    _, grads = source.grad(f)(*args32)
    for g, a in zip(grads, args32):
        if isinstance(a, np.ndarray) and f.__name__ not in ("collisions", "global_methods"):
            assert np.asarray(g).dtype == np.float32, (f.__name__, source.grad_source(f))


def test_non_scalar_output_is_an_error():
    def vec_out(x):
        return wnp.sin(x)
    with pytest.raises(TypeError, match="scalar output"):
        source.grad(vec_out)(np.ones(3))


# ----------------------------------------------------------------------------
# Unsupported constructs


def uses_while(x):
    while x < 10:
        x = x * 2
    return x


def branches_on_x(x):
    if x > 0:
        y = x
    else:
        y = -x
    return y


def calls_unknown(x):
    return sorted(x)


def mutates(x):
    x[0] = 1.0
    return wnp.sum(x)


def dynamic_range(x, n):
    s = x
    for _i in range(n):
        s = s * x
    return s


def early_return(x):
    for i in range(N_STEPS):
        return x * i


def bit_xor(x):
    return x ^ 2


def ternary(x):
    return x if x > 0 else -x


@pytest.mark.parametrize("f, words", [
    (uses_while, ["`while` loop", "line"]),
    (branches_on_x, ["`if x > 0:`", "np.where"]),
    (calls_unknown, ["sorted"]),
    (mutates, ["x[0]", "in place"]),
    (dynamic_range, ["loop range", "constant"]),
    (early_return, ["`return` must be the last statement"]),
    (bit_xor, ["`^`"]),
    (ternary, ["np.where"]),
])
def test_unsupported_constructs(f, words):
    with pytest.raises(SourceTransformError) as info:
        source.grad(f)
    msg = str(info.value)
    assert isinstance(info.value, SyntaxError)
    assert f.__name__ in msg and "wg.grad" in msg
    for w in words:
        assert w in msg
    # the line number is the real one in this file
    import inspect
    lines, start = inspect.getsourcelines(f)
    line = int(msg.split("(line ")[1].split(")")[0])
    assert start <= line < start + len(lines)


def _rec(x):
    return _rec(x)


def recursive(x):
    return _rec(x) * 2.0


def _helper_with_while(x):
    while x > 0:
        x = x - 1.0
    return x


def calls_bad_helper(x):
    return _helper_with_while(x) + 1.0


def test_inlined_helpers_in_source_and_errors():
    text = source.grad_source(calls_helpers)
    assert "[in _dense()]" in text and "# grad of: z = x @ W + b   [in _dense()]" in text
    assert "np.tanh" in text
    with pytest.raises(SourceTransformError, match=r"in _rec\(\): the recursive call"):
        source.grad(recursive)
    with pytest.raises(SourceTransformError, match=r"in _helper_with_while\(\): a `while` loop"):
        source.grad(calls_bad_helper)


def test_not_a_python_function():
    with pytest.raises(TypeError, match="Python function"):
        source.grad(np.sin)

    class Model:
        def loss(self, x):
            return x * x
    with pytest.raises(TypeError, match="bound method"):
        source.grad(Model().loss)


# ----------------------------------------------------------------------------
# Random programs: straight-line code with broadcasting, checked against wg.grad


def _random_program(r, name):
    shapes = {"x": (3,), "y": (2, 1), "z": ()}
    unary = ["wnp.sin({})", "wnp.cos({})", "wnp.tanh({})", "wnp.arctan({})", "wnp.exp(-({}) ** 2)",
             "wnp.log(1 + ({}) ** 2)", "wnp.sqrt(1 + ({}) ** 2)", "-{}", "wnp.abs({})",
             "wnp.square({})", "wnp.sum({} * x, axis=-1, keepdims=True)", "wnp.mean({})"]
    binary = ["({} + {})", "({} - {})", "({} * {})", "({} / (1 + {} ** 2))", "wnp.maximum({}, {})",
              "wnp.where({0} > 0.1, {1}, {0} * 0.5)", "wnp.hypot({}, {})"]
    names = list(shapes)

    def expr(depth):
        if depth == 0 or r.random() < 0.25:
            return r.choice(names) if r.random() < 0.85 else repr(round(float(r.normal()), 2))
        if r.random() < 0.45:
            return unary[r.integers(len(unary))].format(expr(depth - 1))
        a, b = expr(depth - 1), expr(depth - 1)
        tmpl = binary[r.integers(len(binary))]
        return tmpl.format(a, b)

    lines = [f"def {name}(x, y, z):"]
    for k in range(int(r.integers(1, 4))):
        v = f"v{k}"
        lines.append(f"    {v} = {expr(3)}")
        names.append(v)
    lines.append(f"    return wnp.sum({expr(2)}) + wnp.sum({names[-1]})")
    return "\n".join(lines) + "\n"


def test_random_programs(tmp_path, monkeypatch):
    r = np.random.default_rng(11)
    src = "import wengert.numpy as wnp\n\n\n" + "\n\n".join(
        _random_program(r, f"prog{i}") for i in range(40))
    (tmp_path / "random_progs.py").write_text(src)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    mod = importlib.import_module("random_progs")
    args = (np.array([0.3, -1.2, 0.8]), np.array([[0.5], [-0.7]]), 1.3)
    for i in range(40):
        f = getattr(mod, f"prog{i}")
        value, grads = source.grad(f)(*args)
        ref_value, ref = wg.value_and_grad(f, argnums=(0, 1, 2))(*args)
        np.testing.assert_allclose(value, ref_value, rtol=1e-12, err_msg=source.grad_source(f))
        for g, rg, a in zip(grads, ref, args):
            assert np.shape(g) == np.shape(a), source.grad_source(f)
            np.testing.assert_allclose(g, rg, rtol=1e-10, atol=1e-12, err_msg=source.grad_source(f))
        t = tuple(np.ones(np.shape(a)) * 0.3 for a in args)
        out, out_dot = source.jvp(f)(args, t)
        np.testing.assert_allclose(out_dot, wg.jvp(f, args, t)[1], rtol=1e-10, atol=1e-12)
