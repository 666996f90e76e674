"""wg.check_grads: passes on correct rules, fails with a precise message on
wrong ones (a wrong custom_vjp, and deliberately wrong primitives built here
without registering them)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from cases import all_cases

import wengert as wg
import wengert.numpy as wnp
from wengert import _core
from wengert import _prims as P

# ----------------------------------------------------------------------------
# correct rules pass


@pytest.mark.parametrize("case", [c for c in all_cases() if c.order == 2 and c.name in {
    "sin(3,)", "log(2, 3)", "power-bcast", "prod{'axis': 0}", "mlp", "softmax-manual",
    "matmul", "where", "cumprod{}", "var-ddof", "einsum-3", "idx-array-rep", "chain",
}], ids=lambda c: c.name)
def test_passes_on_correct_rules(case):
    args = case.args(np.random.default_rng(0))
    wg.check_grads(case.fn, args, order=2)


@pytest.mark.parametrize("case", [c for c in all_cases() if c.order == 2], ids=lambda c: c.name)
def test_passes_on_the_whole_sweep_table(case):
    # the same inputs as the sweep in test_rules.py, our own FD oracle there
    wg.check_grads(case.fn, case.args(np.random.default_rng(2)), order=2, modes=case.modes)


def test_pytree_arguments_and_outputs():
    def f(p, x):
        h = wnp.tanh(x @ p["w"] + p["b"])
        return {"h": h, "s": wnp.sum(h ** 2)}

    p = {"w": np.random.default_rng(1).normal(size=(3, 2)), "b": np.array([0.1, -0.2])}
    wg.check_grads(f, (p, np.array([[0.5, -1.0, 2.0]])), order=2, modes=("fwd", "rev"))


def test_float32_uses_loose_default_tolerances():
    x = np.array([0.3, 0.7], dtype=np.float32)
    wg.check_grads(lambda v: wnp.sin(v) * v, (x,), order=1)


def test_arguments_are_checked():
    with pytest.raises(TypeError, match="tuple of arguments"):
        wg.check_grads(wnp.sin, 0.5)
    with pytest.raises(ValueError, match="unknown mode"):
        wg.check_grads(wnp.sin, (0.5,), modes=("forward",))


# ----------------------------------------------------------------------------
# wrong rules fail, naming the argument, the element and the values

def _bad_sin():
    # JVP off by a factor 2 (wrong in both modes: reverse mode transposes the JVP)
    return _core.Primitive("bad_sin", np.sin, 1, jvps=(lambda t, ans, x: t * (2.0 * P.cos(x)),))


def _bad_transpose():
    # linear x -> 3x with a wrong transpose (2·ct): forward mode right, reverse wrong
    p = _core.Primitive("bad_scale3", lambda x: x * 3.0, 1, linear=True,
                        transpose=lambda ct, x: (ct * 2.0,))
    p.jvps = (lambda t, ans, x: p.bind(t),)
    return p


def _parse(msg):
    vals = {k: float(re.search(rf"{k}:\s+(\S+)", msg).group(1)) for k in ("AD", "numerical")}
    vals["difference"] = float(re.search(r"difference:\s+(\S+)", msg).group(1))
    return vals


def test_wrong_jvp_rule_fails_in_forward_mode_with_details():
    bad = _bad_sin()

    def f(scale, x):
        return scale * bad.bind(x)

    x = np.array([[0.1, 0.2, 0.3], [0.4, 1.5, 0.6]])
    with pytest.raises(AssertionError) as ei:
        wg.check_grads(f, (2.0, x), order=1, modes=("fwd",))
    msg = str(ei.value)
    assert "forward-mode (jvp)" in msg
    assert "argument 1 (`x`)" in msg  # argument 0 (the scale) is right
    m = re.search(r"worst element: x\[(\d), (\d)\] \(shape \(2, 3\)\)", msg)
    assert m, msg
    v = _parse(msg)
    # AD is twice the truth for this element; the message's numbers say so
    assert v["AD"] == pytest.approx(2 * v["numerical"], rel=1e-6)
    assert v["difference"] == pytest.approx(abs(v["AD"] - v["numerical"]), rel=1e-3)


def test_wrong_transpose_fails_only_in_reverse_mode():
    bad = _bad_transpose()

    def g(x, y):
        return bad.bind(x) * y

    args = (np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    wg.check_grads(g, args, order=1, modes=("fwd",))  # the JVP is right
    with pytest.raises(AssertionError) as ei:
        wg.check_grads(g, args, order=1, modes=("rev",))
    msg = str(ei.value)
    assert "reverse-mode (vjp)" in msg and "argument 0 (`x`)" in msg
    assert re.search(r"worst element: x\[\d\] \(shape \(3,\)\)", msg), msg
    v = _parse(msg)
    assert v["AD"] == pytest.approx(2 / 3 * v["numerical"], rel=1e-6)


def test_second_order_failures_are_found_in_the_derivative():
    # first derivative right, second wrong: d/dx of the JVP coefficient is off
    p = _core.Primitive("bad_sq", lambda x: x * x, 1)
    p.jvps = (lambda t, ans, x: t * (2.0 * wg.stop_gradient(x)),)  # wrong when differentiated
    f = lambda x: p.bind(x)  # noqa: E731
    x = np.array([0.7, 1.3])
    wg.check_grads(f, (x,), order=1)
    with pytest.raises(AssertionError) as ei:
        wg.check_grads(f, (x,), order=2, modes=("fwd",))
    msg = str(ei.value)
    assert "in the JVP of" in msg and "derivative order 2" in msg
    assert "worst element: x[" in msg


def test_wrong_custom_vjp_fails():
    try:
        custom_vjp = wg.custom_vjp
    except (AttributeError, ImportError):
        pytest.skip("wg.custom_vjp is not available yet")

    @custom_vjp
    def f(x):
        return wnp.sin(x)

    def f_fwd(x):
        return wnp.sin(x), wnp.cos(x)

    def f_bwd(res, g):
        return (g * res * 3.0,)  # wrong: should be g * cos(x)

    f.defvjp(f_fwd, f_bwd)
    x = np.array([0.2, 0.4, 0.9])
    with pytest.raises(AssertionError) as ei:
        wg.check_grads(f, (x,), order=1, modes=("rev",))
    msg = str(ei.value)
    assert "reverse-mode (vjp)" in msg and "argument 0 (`x`)" in msg
    v = _parse(msg)
    assert v["AD"] == pytest.approx(3 * v["numerical"], rel=1e-6)

    @custom_vjp
    def good(x):
        return wnp.sin(x)

    good.defvjp(f_fwd, lambda res, g: (g * res,))
    wg.check_grads(good, (x,), order=1, modes=("rev",))


def test_complex_arguments_follow_jax_convention():
    z = np.array([0.3 + 0.2j, -0.5 + 1.0j])
    for f in (lambda z: z ** 2, lambda z: wnp.sin(z) * z, lambda z: wnp.abs(z) ** 2,
              lambda z: wnp.exp(wnp.conj(z))):
        wg.check_grads(f, (z,), order=2)
    bad = _core.Primitive("bad_csq", lambda z: z * z, 1,
                          jvps=(lambda t, ans, z: t * (2.0 * P.conj(z)),))
    with pytest.raises(AssertionError, match=r"worst element: z\[\d\] \((real|imaginary) part\)"):
        wg.check_grads(lambda z: bad.bind(z), (z,), order=1, modes=("rev",))


def test_a_nan_derivative_is_a_failure():
    nan_rule = _core.Primitive("nan_rule", np.sin, 1,
                               jvps=(lambda t, ans, x: t * (P.cos(x) * np.nan),))
    for mode in ("fwd", "rev"):
        with pytest.raises(AssertionError, match=r"AD:\s+nan"):
            wg.check_grads(lambda x: nan_rule.bind(x), (np.array([0.1, 0.2]),), order=1, modes=(mode,))
