"""Bool/int corners (issue 10): NumPy's value and dtype eagerly, under jit
(every call), under vmap, and as constants inside grad/jvp, for every dtype.

``square``/``conj``/``reciprocal``/``deg2rad`` of bools and ints, ``prod``/
``cumprod`` of bools, the ``nan*`` reductions of ints, ``median``/
``nan_to_num``/``diff`` on every dtype; NumPy's errors (``positive`` of bool,
``deg2rad`` of complex) are raised in every mode too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

DTYPES = [np.bool_, np.int8, np.int64, np.float32, np.float64, np.complex128]
NAMES = ["square", "conj", "reciprocal", "deg2rad", "rad2deg", "positive", "prod", "cumprod", "nansum", "nanprod",
         "nancumsum", "nancumprod", "median", "nan_to_num", "diff", "sum", "mean", "cumsum", "var", "std"]


def _value(dt):
    if dt == np.bool_:
        return np.array([[1, 0, 1], [1, 1, 0]]).astype(dt)
    return np.array([[3, -2, 1], [0, 2, 5]]).astype(dt)


def _same(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_dtype_corner_in_every_mode(name, dt):
    npf, wf = getattr(np, name), getattr(wnp, name)
    x = _value(dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = npf(x)
        except TypeError:  # NumPy refuses this dtype: so does wnp, in every mode
            for run in (lambda: wf(x), lambda: wg.jit(wf)(x), lambda: wg.vmap(wf)(x)):
                with pytest.raises(TypeError):
                    run()
            return
        _same(wf(x), want)
        j = wg.jit(wf)
        for _ in range(3):
            _same(j(x), want)
        # a constant inside a derivative: the same value
        _same(wg.jvp(lambda s: (wf(x), s * 2.0), (1.5,), (1.0,))[0][0], want)
        box = []
        wg.grad(lambda s: (box.append(wf(x)), s * 2.0)[1])(1.5)
        _same(box[0], want)
        # per row under vmap (and jit of it): NumPy's dtype; for floats the values of the
        # composition that gives the derivatives (equal to rounding)
        rows = np.stack([npf(r) for r in x])
        for got in (wg.vmap(wf)(x), wg.jit(wg.vmap(wf))(x)):
            if rows.dtype.kind in "fc" and x.dtype.kind in "fc":
                assert np.asarray(got).dtype == rows.dtype
                np.testing.assert_allclose(got, rows, rtol=1e-6)
            else:
                _same(got, rows)
