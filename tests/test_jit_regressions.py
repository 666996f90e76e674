"""jit's rewrites keep shape, dtype and value bit for bit (issue 10): one
regression test per rule that was wrong, comparing jit's first, second and
third calls with eager evaluation at special values (-0.0, inf, NaN,
integer limits)."""

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import _jit
from wengert import _prims as P
from wengert._core import Primitive
from wengert._ir import Eqn, Graph, Var, check_graph

SPECIAL = np.array([-0.0, 0.0, 1.5, -2.0, np.inf, -np.inf, np.nan])


def same_bits(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_array_equal(a, b, err_msg=what)
    if a.dtype.kind in "fc":
        for part in (np.real, np.imag):
            assert np.array_equal(np.signbit(part(a)), np.signbit(part(b))), f"{what}: signs of zeros differ"


def check_calls(f, *args):
    """jit's 1st (traced), 2nd and 3rd (compiled) calls equal eager bit for bit."""
    with np.errstate(all="ignore"):
        # a Python float argument is a float64 value (jit's signature keys on its type)
        want = f(*[np.float64(a) if type(a) is float else a for a in args])
        j = wg.jit(f)
        for k in range(3):
            got = j(*args)
            for i, (g, w) in enumerate(zip(wg.tree_util.tree_flatten(got)[0],
                                           wg.tree_util.tree_flatten(want)[0])):
                same_bits(g, w, f"call {k + 1}, output {i}")
    return j


@pytest.mark.parametrize("x", [-0.0, 0.0, np.float32(-0.0), SPECIAL, SPECIAL.astype(np.float32)],
                         ids=["py-0", "py+0", "f32-0", "f64s", "f32s"])
def test_adding_zero_keeps_minus_zero(x):
    # x + 0.0 -> x was a rule: -0.0 + 0.0 is +0.0 (1/(x+0) was -inf, eagerly +inf)
    check_calls(lambda x: 1.0 / (x + 0.0), x)
    check_calls(lambda x: 1.0 / (0.0 + x), x)
    check_calls(lambda x: 1.0 / (x - -0.0), x)
    check_calls(lambda x: 1.0 / (x + -0.0), x)   # exact: stays an identity
    check_calls(lambda x: 1.0 / (x - 0.0), x)
    check_calls(lambda x: 1.0 / (x + np.zeros_like(x)), x)


def test_issue_program_minus_zero():
    j = wg.jit(lambda x: 1.0 / (x + 0.0))
    with np.errstate(divide="ignore"):
        assert [float(j(-0.0)) for _ in range(3)] == [np.inf] * 3


def test_integer_zero_and_one_identities():
    ints = np.array([0, 1, -1, np.iinfo(np.int64).max, np.iinfo(np.int64).min])
    check_calls(lambda x: (x + 0) * 1 - 0, ints)
    check_calls(lambda x: wnp.negative(wnp.negative(x)), ints)
    check_calls(lambda x: wnp.negative(wnp.negative(x)), np.array([-128, 127], np.int8))


def test_complex_times_one_is_not_an_identity():
    z = np.array([complex(np.inf, 1.0), complex(-0.0, -0.0), complex(np.nan, 0.0), 1 + 2j])
    check_calls(lambda z: z * 1.0, z)
    check_calls(lambda z: 1.0 * z, z)
    check_calls(lambda z: z / 1.0, z)
    check_calls(lambda z: z + 0.0, z)


def test_double_negation_and_reshapes():
    x = np.concatenate([SPECIAL, [3.0]]).reshape(2, 4)
    check_calls(lambda x: wnp.negative(wnp.negative(x)), x)
    check_calls(lambda x: wnp.reshape(wnp.reshape(x, (8,)), (2, 4)), x)
    check_calls(lambda x: wnp.reshape(wnp.reshape(x, (4, 2)), (8,)), x)
    check_calls(lambda x: wnp.transpose(wnp.transpose(x)), x)
    check_calls(lambda x: wnp.transpose(wnp.transpose(x[None], (2, 0, 1)), (1, 2, 0)), x)
    check_calls(lambda x: wnp.broadcast_to(x, (2, 4)) * 1.0, x)
    check_calls(lambda x: x.astype(np.float64) / 1.0, x)


def _select_program(x0, x1):
    v0 = x0[np.array([-2]), np.array([-2])]
    v4 = v0 @ v0
    v5 = wnp.where(x1 <= 0.0, v4, v4)
    return wnp.sum(wnp.max(v5))


def test_select_of_equal_broadcasts_keeps_the_shape():
    # the issue's program: from the 2nd call on jit(grad(f)) was twice grad(f)
    x0 = np.arange(9.0).reshape(3, 3) / 7 - 0.4
    x1 = np.array([0.3, -0.2])
    for f in (_select_program, wg.grad(_select_program), wg.grad(_select_program, argnums=(0, 1))):
        check_calls(f, x0, x1)


def test_dropping_explicit_broadcasts_keeps_the_shape():
    # equal(broadcast(a: ()), broadcast(b: (1,))) -> equal(a, b) is (1,), not (2,)
    def f(a, b, c):
        aa = wnp.broadcast_to(a, (2,))
        bb = wnp.broadcast_to(b, (2,))
        return (aa == bb) * c, wnp.maximum(aa, bb) + c
    check_calls(f, np.float64(1.0), np.array([1.0]), np.array([2.0, 3.0]))
    check_calls(f, np.float64(1.0), np.array([2.0]), np.array([2.0, 3.0]))


def test_sum_of_products_stays_a_reduction():
    rng = np.random.default_rng(3)
    check_calls(lambda w, X: wnp.sum(X * w, axis=-1), rng.standard_normal(50), rng.standard_normal((7, 50)))


def test_commutative_cse_is_exact():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    a[0], b[0] = -0.0, np.inf
    j = check_calls(lambda a, b: (a * b - b * a, a + b, b + a), a, b)
    o = j.graph(a, b)
    assert [e.name for e in o.eqns].count("mul") == 1 and [e.name for e in o.eqns].count("add") == 1
    # mixed dtypes or complex products: not merged
    z = a.astype(complex)
    z.imag = b
    check_calls(lambda z, w: (z * w, w * z), z, z[::-1].copy())


def test_cse_tells_signed_zeros_and_int_float_bool_params_apart():
    scale = Primitive("test_scale", lambda x, c: x * c, 1, nparams=1)
    x = Var((3,), "float64")
    outs = [Var((3,), "float64") for _ in range(3)]
    g = Graph([x], [Eqn(scale, [x], [outs[0]], (0.0,)), Eqn(scale, [x], [outs[1]], (-0.0,)),
                    Eqn(scale, [x], [outs[2]], (0,))], outs)
    o = _jit.optimize(g, check=True)
    assert len(o.eqns) == 3
    _, fn = _jit.codegen(o)
    xs = np.array([1.0, -2.0, 3.0])
    for got, c in zip(fn(xs), (0.0, -0.0, 0)):
        same_bits(got, xs * c)


def test_constant_folding_keeps_the_traced_dtype():
    # a folded Python-scalar result is a strongly typed NumPy value, as traced
    x, c, y = Var((3,), "float32"), Var((), "float64"), Var((3,), "float64")
    g = Graph([x], [Eqn(P.add_p, [2.0, 3.0], [c]), Eqn(P.mul_p, [x, c], [y])], [y])
    o = _jit.optimize(g, check=True)
    check_graph(o)
    _, fn = _jit.codegen(o)
    assert fn(np.ones(3, np.float32)).dtype == np.float64


def test_an_input_standing_for_an_output_is_copied():
    x = np.arange(3.0)
    for f in (lambda x: x * 1.0, lambda x: wnp.negative(wnp.negative(x)), lambda x: wnp.reshape(x, (3,)) - 0.0):
        j = wg.jit(f)
        for _ in range(3):
            r = j(x)
            assert r is not x and not np.shares_memory(r, x)
            r[0] = 99.0
            assert x[0] == 0.0
    ident = wg.jit(lambda x: x)
    assert ident(x) is x and ident(x) is x  # as eagerly: the function returns its argument


def _bitwise_equal(a, b):
    la, lb = wg.tree_util.tree_flatten(a)[0], wg.tree_util.tree_flatten(b)[0]
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        same_bits(x, y)


@pytest.mark.parametrize("tier", ["compiled", "chunked", "interpreted"])
def test_random_programs_optimised_code_equals_the_trace(monkeypatch, tier):
    """The random programs of tests/fuzz: jit's compiled (or interpreted) calls
    equal its first call (the trace: the unoptimised program) bit for bit, for
    f and for grad(sum f), on two points (the verifier runs after every pass)."""
    import warnings

    gen = pytest.importorskip("tests.fuzz.gen")
    if tier == "chunked":
        monkeypatch.setattr(_jit, "CHUNK", 3)
    elif tier == "interpreted":
        monkeypatch.setattr(_jit, "INTERPRET_ABOVE", 0)
    checked = 0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for seed in range({"compiled": 0, "chunked": 40, "interpreted": 80}[tier], 10 ** 9):
            if checked >= 16:
                break
            prog = gen.generate(seed)
            if prog.n_ops() > 25:
                continue
            f = prog.compile(gen.wengert_namespace())
            fns = (f, wg.grad(lambda *a: wnp.sum(f(*a)), argnums=tuple(range(prog.nin))))
            for fn in fns:
                j = wg.jit(fn)
                try:
                    first = j(*prog.inputs)
                except wg._ir.ConcretizationError:
                    continue  # a documented refusal (data-dependent operation)
                _bitwise_equal(j(*prog.inputs), first)
                _bitwise_equal(j(*prog.inputs), first)
                if prog.inputs2:
                    _bitwise_equal(j(*prog.inputs2), wg.jit(fn)(*prog.inputs2))
                checked += 1
