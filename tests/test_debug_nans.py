"""wg.config.debug_nans: the first primitive making a NaN primal, tangent or
adjoint raises, naming the primitive, its row and the user's line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert import _core
from wengert._config import NanError
from wengert._core import JVPTrace


@pytest.fixture
def debug_nans():
    wg.config.debug_nans = True
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            yield
    finally:
        wg.config.debug_nans = False


def safe_sqrt_where(x):
    return wnp.where(x > 0, wnp.sqrt(x), 0.0)  # the user line of the NaN


def test_where_sqrt_gradient_is_nan_without_debug():
    # the cotangent of the branch not taken is masked to 0, but sqrt's own rule
    # divides it by 2*sqrt(0) = 0: 0/0 = nan, as in JAX and autograd
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(wg.grad(safe_sqrt_where)(0.0))
        g = wg.grad(lambda x: wnp.sum(safe_sqrt_where(x)))(np.array([0.0, 4.0]))
    assert np.isnan(g[0]) and g[1] == pytest.approx(0.25)
    assert "nan" in wnp.where.__doc__


def test_adjoint_nan_names_primitive_and_user_line(debug_nans):
    with pytest.raises(NanError) as info:
        wg.grad(safe_sqrt_where)(0.0)
    msg = str(info.value)
    assert "adjoint" in msg and "`div`" in msg and "`sqrt`" in msg
    assert "row" in msg
    assert "test_debug_nans.py" in msg and "return wnp.where(x > 0, wnp.sqrt(x), 0.0)" in msg
    assert isinstance(info.value, FloatingPointError)


def test_primal_nan(debug_nans):
    def f(x):
        y = x * 2.0
        return wnp.log(y - 3.0)  # log of a negative number

    with pytest.raises(NanError, match=r"`log` produced NaN in the primal.*row 3") as info:
        wg.grad(f)(1.0)
    assert "return wnp.log(y - 3.0)" in str(info.value)
    # a NaN already in the input is not blamed on the first primitive
    with pytest.raises(NanError, match="`log`"):
        wg.grad(lambda x: wnp.log(x - 3.0) * np.nan)(1.0)


def test_nan_input_is_not_reported(debug_nans):
    assert np.isnan(wg.grad(lambda x: x * x)(np.nan))  # propagated, not made here


def test_tangent_nan_in_forward_mode(debug_nans):
    with pytest.raises(NanError, match=r"`sqrt` produced NaN in the tangent"):
        wg.jvp(wnp.sqrt, (0.0,), (0.0,))


def test_vmap_and_jacfwd(debug_nans):
    with pytest.raises(NanError, match="under vmap"):
        wg.vmap(wnp.log)(np.array([1.0, -1.0]))
    with pytest.raises(NanError, match="`log`"):
        wg.jacfwd(wnp.log)(np.array([1.0, -1.0]))


def test_under_jit(debug_nans):
    with pytest.raises(NanError) as info:
        wg.jit(wg.grad(safe_sqrt_where))(0.0)
    msg = str(info.value)
    assert "`div`" in msg and "adjoint of sqrt" in msg and "inside jit" in msg
    assert "test_debug_nans.py" in msg and "wnp.sqrt(x)" in msg
    with pytest.raises(NanError, match=r"`log`.*row 2"):
        wg.jit(lambda x: wnp.log(x * 2.0))(-1.0)
    # no NaN: runs normally
    assert float(wg.jit(wg.grad(safe_sqrt_where))(4.0)) == pytest.approx(0.25)


def test_no_nan_gives_same_answers(debug_nans):
    f = lambda x: wnp.sum(wnp.tanh(x) ** 2 / (1.0 + x * x))  # noqa: E731
    x = np.linspace(-1, 1, 5)
    g = wg.grad(f)(x)
    wg.config.debug_nans = False
    np.testing.assert_array_equal(g, wg.grad(f)(x))


def test_off_path_is_the_original_code():
    orig_process = JVPTrace.__dict__["process"]
    orig_process2 = JVPTrace.__dict__["process2"]
    wg.config.debug_nans = True
    assert JVPTrace.__dict__["process"] is not orig_process
    assert _core._debug_hooks
    wg.config.update("debug_nans", False)
    assert JVPTrace.__dict__["process"] is orig_process
    assert JVPTrace.__dict__["process2"] is orig_process2
    assert not _core._debug_hooks and wg.config.debug_nans is False
    with pytest.raises(AttributeError, match="unknown option"):
        wg.config.update("debug_infs", True)
    wg.config.update("jax_debug_nans", False)


def test_environment_variable():
    code = ("import wengert as wg, wengert.numpy as wnp, numpy as np\n"
            "np.seterr(all='ignore')\n"
            "assert wg.config.debug_nans\n"
            "try:\n"
            "    wg.grad(lambda x: wnp.log(x))(-1.0)\n"
            "except FloatingPointError as e:\n"
            "    print('raised', type(e).__name__)\n")
    env = {"WENGERT_DEBUG_NANS": "1", "PATH": "/usr/bin:/bin"}
    import os
    env = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "raised NanError" in out.stdout
