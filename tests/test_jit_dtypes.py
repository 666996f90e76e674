"""Same dtype in every mode, NumPy's (issue 10): eager ``wnp``, ``jit`` (first
call = trace, second = compiled code) and forward mode agree on the result
dtype, for functions x argument dtypes x Python-scalar constants.

Eager calls with plain arrays are NumPy itself; traced calls run wengert's
own implementation, which must promote as NumPy does (Python scalars are
weak: ``copysign(1.0, float32)`` is float32).  A Python scalar passed as an
*argument* of a transformation is a float64/int64 value (as in ``wg.grad``
and ``wg.jvp``), so there the reference is eager on ``np.float64(x)``.
"""

import warnings

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "fmax", "fmin",
          "arctan2", "hypot", "logaddexp", "copysign", "heaviside", "mod", "fmod", "floor_divide",
          "dot", "inner", "outer", "kron", "equal", "less", "ldexp"]

SPECIAL = {
    "where": lambda x, y: wnp.where(x > 0.5, x, y),
    "clip": lambda x, y: wnp.clip(x, 0.0, y),
    "clip-lo": lambda x, y: wnp.clip(y, x, None),
    "linspace": lambda x, y: wnp.linspace(x, y, 4),
    "logspace": lambda x, y: wnp.logspace(x, y, 4),
    "polyval": lambda x, y: wnp.polyval(wnp.atleast_1d(y), x),
    "trapezoid": lambda x, y: wnp.trapezoid(wnp.atleast_1d(x), dx=y),
    "vander": lambda x, y: wnp.vander(wnp.atleast_1d(x), 3) * y,
}
UNARY = {
    "angle": wnp.angle, "sin": wnp.sin, "exp": wnp.exp, "sqrt": wnp.sqrt, "abs": wnp.abs,
    "sign": wnp.sign, "sum": wnp.sum, "mean": wnp.mean, "std": wnp.std, "cumsum": wnp.cumsum,
    "max": wnp.max, "square": wnp.square, "negative": wnp.negative,
}
DTYPES = ["float32", "float64", "int64", "bool"]
CONSTANTS = [1.0, 2, np.float32(1.5)]
# NumPy raises for these eagerly too, or they are nonsense with bool operands
SKIP_BOOL = {"power", "subtract", "negative"}


def _arg(dt, scalar):
    x = np.array([0.25, 0.75, 0.5])
    x = (x * 4).astype(dt) if dt in ("int64", "bool") else x.astype(dt)
    return x[1] if scalar else x


def _dtypes(f, x):
    """{mode: result dtype} for eager, jit's two tiers and jvp (float inputs)."""
    out = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            out["eager"] = np.result_type(f(x))
        except Exception:
            return None  # NumPy itself refuses: nothing to compare
        j = wg.jit(f)
        out["jit, 1st call"] = np.result_type(j(x))
        out["jit, 2nd call"] = np.result_type(j(x))
        if np.result_type(x).kind == "f":
            out["jvp"] = np.result_type(wg.jvp(f, (x,), (np.ones_like(x),))[0])
    return out


def _check(f, x, what):
    got = _dtypes(f, x)
    if got is not None:
        assert len(set(got.values())) == 1, f"{what}: {got}"


@pytest.mark.parametrize("name", BINARY + list(SPECIAL))
@pytest.mark.parametrize("dt", DTYPES)
def test_binary_with_python_and_numpy_scalar_constants(name, dt):
    fn = SPECIAL.get(name) or getattr(wnp, name)
    if dt == "bool" and name in SKIP_BOOL:
        pytest.skip("bool arithmetic NumPy refuses")
    for scalar in (False, True):
        x = _arg(dt, scalar)
        for c in CONSTANTS:
            _check(lambda x, c=c: fn(x, c), x, f"{name}(x: {dt}, {c!r})")
            _check(lambda x, c=c: fn(c, x), x, f"{name}({c!r}, x: {dt})")


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float(name):
    for dt in ("float32", "float64"):
        for scalar in (False, True):
            _check(UNARY[name], _arg(dt, scalar), f"{name}({dt})")


@pytest.mark.parametrize("name", ["multiply", "copysign", "arctan2", "clip", "linspace", "vander"])
def test_python_scalar_arguments_are_float64(name):
    # a Python float argument is a float64 value under every transformation
    fn = SPECIAL.get(name) or getattr(wnp, name)
    y = np.ones(3, np.float32)

    def f(x):
        return fn(x, y)
    want = np.result_type(f(np.float64(0.75)))
    j = wg.jit(f)
    assert np.result_type(j(0.75)) == np.result_type(j(0.75)) == want
    assert np.result_type(wg.jvp(f, (0.75,), (1.0,))[0]) == want


def test_issue_examples():
    x32 = np.float32(-0.5)
    for f in (lambda x: wnp.copysign(1.0, x), lambda x: wnp.angle(x), lambda x: wnp.heaviside(x, 0.5),
              lambda x: wnp.linspace(x, 1.0, 3), lambda x: wnp.logspace(x, 1.0, 3)):
        j = wg.jit(f)
        assert np.result_type(f(x32)) == np.result_type(j(x32)) == np.result_type(j(x32)) == np.float32
    np.testing.assert_array_equal(wg.jit(lambda x: wnp.copysign(1.0, x))(np.float32([-2, 3])),
                                  np.float32([-1, 1]))


def test_sort_under_jit_keeps_integer_dtypes_exactly():
    # sort under jit gathers with a one-hot selection: it must not go through float64
    for x in (np.array([3, 1, 2**60 + 1, -5]), np.array([3, 1, 2], np.int32), np.array([True, False, True]),
              np.array([1.5, -1.0, 2.0], np.float32)):
        j = wg.jit(wnp.sort)
        for _ in range(2):
            r = j(x)
            assert r.dtype == x.dtype and np.array_equal(r, np.sort(x))


def test_sum_of_a_zero_d_bool_or_small_int_promotes_as_numpy():
    for x in (np.bool_(True), np.int32(3), np.uint8(4), np.float32(2.0)):
        j = wg.jit(wnp.sum)
        assert np.sum(x).dtype == j(x).dtype == j(x).dtype
