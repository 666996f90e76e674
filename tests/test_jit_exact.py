"""jit's values equal eager wengert bit for bit (issue 10, fuzz finding F9).

For every case of the sweep table: ``wg.jit(fn)`` at its first (trace) and
second (compiled) call, and the primal value under ``wg.jvp``, equal ``fn``
run eagerly, bit for bit (NaN for NaN and the sign of zero).  Functions whose
traced implementation is a composition of primitives with exact derivatives
(``prod`` as a product tree, ``var``, ``einsum`` as contractions, ...) take
their value from NumPy's own function (``wengert.numpy._exact``).
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import all_cases

import wengert as wg
import wengert.numpy as wnp
from wengert._ir import ConcretizationError

# traced compositions not (yet) routed to NumPy's own function (linalg, fft and the scipy namespaces:
# other owners), whose values agree to rounding
NOT_EXACT = {
    "fft.irfftn", "linalg.eigvalsh", "linalg.qr-wide", "linalg.matrix_power3", "linalg.matrix_power-3",
    "linalg.lstsq", "linalg.lstsq-resid", "linalg.lstsq-wide",
}
OTHER_NAMESPACES = ("special.", "stats.", "scipy.linalg.")
CASES = [c for c in all_cases() if not c.name.startswith(OTHER_NAMESPACES) and c.name not in NOT_EXACT]


def _bitwise(got, want):
    lg, tg = wg.tree_util.tree_flatten(got)
    lw, tw = wg.tree_util.tree_flatten(want)
    assert tg == tw
    for a, b in zip(lg, lw):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=True), np.max(np.abs(a - b))
        if a.dtype.kind in "fc":
            for p, q in ((a.real, b.real), (a.imag, b.imag)):
                assert np.array_equal(np.signbit(p), np.signbit(q))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_jit_and_traced_values_equal_eager_bit_for_bit(case):
    args = case.args(np.random.default_rng(5))
    want = case.fn(*args)
    jf = wg.jit(case.fn)
    try:
        _bitwise(jf(*args), want)
    except ConcretizationError:
        pytest.skip("data-dependent: not staged")
    _bitwise(jf(*args), want)
    if all(np.asarray(a).dtype.kind in "fc" for a in args):
        primal, _ = wg.jvp(case.fn, tuple(args), tuple(np.ones_like(a) for a in args))
        _bitwise(primal, want)


MASK = np.random.default_rng(1).random((2, 3, 4)) < 0.6


@pytest.mark.parametrize("fn", [
    lambda x: wnp.prod(x, axis=None, keepdims=True),
    lambda x: wnp.prod(x, axis=(0, 1)),
    lambda x: wnp.prod(x, axis=0, where=MASK, initial=2.0),
    lambda x: wnp.cumprod(x),
    lambda x: wnp.var(x, axis=(0, 2), ddof=1),
    lambda x: wnp.std(x, where=MASK),
    lambda x: wnp.einsum("ijk,ljk->il", x, x),
    lambda x: wnp.dot(x, x[0].T),
    lambda x: wnp.reciprocal(x * (1 + 2j)),
], ids=["prod-all", "prod-axes", "prod-where-initial", "cumprod", "var-ddof", "std-where", "einsum", "dot-3d",
        "reciprocal-complex"])
def test_prod_var_einsum_jit_exact_and_derivatives(fn):
    """The regression of F9 (prod over several axes staged as a product tree):
    values bit for bit at every jit call; derivatives still the composition's."""
    rng = np.random.default_rng(0)
    x = np.tanh(rng.standard_normal((2, 3, 4))) + 1.2
    j = wg.jit(fn)
    for _ in range(3):
        _bitwise(j(x), fn(x))

    def S(x):
        y = fn(x)
        return wnp.sum(wnp.real(y) if wnp.iscomplexobj(y) else y)
    g = wg.grad(S)(x)
    jg = wg.jit(wg.grad(S))
    for _ in range(2):
        _bitwise(jg(x), g)
    v = rng.standard_normal(x.shape)
    h = 1e-6
    fd = (S(x + h * v) - S(x - h * v)) / (2 * h)
    np.testing.assert_allclose(np.sum(g * v), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(wg.jvp(S, (x,), (v,))[1], fd, rtol=1e-6, atol=1e-8)
    # vmap runs the composition: same values to rounding
    np.testing.assert_allclose(wg.vmap(fn)(np.stack([x, x + 0.1])), np.stack([fn(x), fn(x + 0.1)]),
                               rtol=1e-12, atol=1e-12)
