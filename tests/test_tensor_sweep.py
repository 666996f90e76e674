"""Every case of the sweep table through ``wg.Tensor``: the value equals the
plain run and ``.backward()`` gives the gradient ``wg.grad`` gives (of the
output's sum), so the Tensor interface and the functional one agree on every
primitive's rules."""

from __future__ import annotations

import numpy as np
import pytest
from cases import all_cases

import wengert as wg
import wengert.numpy as wnp

CASES = [c for c in all_cases() if "rev" in c.modes and not c.complex]


def _total(case):
    def f(*xs):
        out = case.fn(*xs)
        return wnp.sum(wnp.real(out)) if wnp.iscomplexobj(out) else wnp.sum(out)
    return f


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backward_matches_grad(case):
    rng = np.random.default_rng(3)
    args = case.args(rng)
    ts = [wg.tensor(a, requires_grad=True) for a in args]
    out = case.fn(*ts)
    want = wg.grad(_total(case), argnums=tuple(range(len(args))))(*args)
    if not isinstance(out, wg.Tensor):  # a constant (e.g. imag of a real array)
        assert all(not np.any(w) for w in want)
        return
    np.testing.assert_allclose(out.data, case.fn(*args), rtol=1e-12, atol=1e-12)
    total = _total(case)(*ts)
    if total.requires_grad:
        total.backward()
    for t, w in zip(ts, want):
        got = np.zeros_like(w) if t.grad is None else t.grad.data
        assert got.shape == np.shape(w)
        np.testing.assert_allclose(got, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.order >= 2], ids=lambda c: c.name)
def test_create_graph_matches_hessian_vector_product(case):
    rng = np.random.default_rng(4)
    args = case.args(rng)
    ts = [wg.tensor(a, requires_grad=True) for a in args]
    total = _total(case)(*ts)
    if not (isinstance(total, wg.Tensor) and total.requires_grad):
        return  # a constant output (imag of a real array, matrix_power(x, 0))
    (g,) = wg.autograd_grad(total, ts[0], create_graph=True, materialize_grads=True)
    v = rng.standard_normal(np.shape(args[0]))
    gv_t = (g * v).sum() if isinstance(g, wg.Tensor) else None
    # a gradient that does not depend on x (a linear function) is a constant
    hv = wg.autograd_grad(gv_t, ts[0], allow_unused=True)[0] if gv_t is not None and gv_t.requires_grad \
        else None
    f = _total(case)

    def gv(x0):
        return wnp.sum(wg.grad(f)(x0, *args[1:]) * v)
    want = wg.grad(gv)(args[0])
    got = np.zeros_like(want) if hv is None else hv.data
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
