"""einsum in every form against ``numpy.einsum`` (values) and finite
differences (first and second derivatives, forward and reverse), plus jit's
compiled calls and vmap: random specifications with 1-4 operands, implicit
and explicit outputs, '...', repeated indices (diagonals, traces), indices
summed in one operand only, and size-1 axes broadcast against other operands
(issue 10: 'ij->j' and 'ij,k->kj' raised ``substring not found``)."""

from __future__ import annotations

import numpy as np
import pytest
from _fd import check_grads
from _modes import all_modes

import wengert as wg
import wengert.numpy as wnp


def _random_spec(rng):
    """A random einsum call NumPy accepts: (subscripts, shapes)."""
    while True:
        nops = int(rng.integers(1, 5))
        letters = "abcde"
        sizes = {c: int(rng.integers(2, 4)) for c in letters}
        use_ell = rng.random() < 0.3
        ell = tuple(int(n) for n in rng.integers(1, 3, size=int(rng.integers(0, 3))))
        terms, shapes = [], []
        for _ in range(nops):
            nd = int(rng.choice(4, p=[0.1, 0.3, 0.35, 0.25]) if nops < 3 else rng.choice(3, p=[0.15, 0.45, 0.4]))
            term = "".join(rng.choice(list(letters), nd))
            shape = [sizes[c] for c in term]
            for i, c in enumerate(term):
                if term.count(c) == 1 and rng.random() < 0.15:
                    shape[i] = 1  # broadcast against the other operands
            if use_ell and rng.random() < 0.7:
                k = int(rng.integers(0, len(ell) + 1))
                e = [1 if rng.random() < 0.2 else n for n in ell[len(ell) - k:]]
                if rng.random() < 0.5:
                    term, shape = "..." + term, e + shape
                else:
                    term, shape = term + "...", shape + e
            terms.append(term)
            shapes.append(tuple(shape))
        spec = ",".join(terms)
        if rng.random() < 0.6:
            present = sorted(set("".join(terms).replace(".", "")))
            out = list(rng.permutation(present)[: int(rng.integers(0, len(present) + 1))])
            if "..." in spec:
                out.insert(int(rng.integers(0, len(out) + 1)), "...")
            spec += "->" + "".join(out)
        try:
            np.einsum(spec, *[np.ones(s) for s in shapes])
        except ValueError:
            continue
        return spec, shapes


SPECS = [_random_spec(np.random.default_rng(s)) for s in range(60)]
FIXED = [
    ("ij->j", [(3, 4)]), ("ij,k->kj", [(3, 4), (2,)]), ("ij,jk", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("iij->ji", [(2, 2, 3)]), ("...ij->...", [(2, 3, 4)]),
    ("...i,...i", [(3, 1, 4), (2, 4)]), ("ij,jk", [(2, 1), (3, 4)]), ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("i,i", [(3,), (3,)]), ("ba", [(2, 3)]), (",i->i", [(), (3,)]), ("i,j,k,l->", [(2,), (3,), (2,), (2,)]),
    ("abc,cd,de,ea->b", [(2, 3, 2), (2, 3), (3, 2), (2, 2)]), ("ij,k->", [(2, 3), (4,)]),
    ("i...->...", [(2, 3)]), ("...", [(2, 3)]), ("ji,ik->", [(3, 3), (3, 2)]),
]


def _args(shapes, seed):
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(-1.5, 1.5, s) for s in shapes)


@pytest.mark.parametrize("spec,shapes", FIXED + SPECS, ids=lambda v: str(v))
def test_einsum_value_and_derivatives(spec, shapes):
    args = _args(shapes, 0)

    def f(*xs):
        return wnp.einsum(spec, *xs)
    want = np.einsum(spec, *args)
    got = wg.jit(f)(*args)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # each operand traced alone, the others constants; then all together
    check_grads(f, args, order=2, tol=1e-6)
    for i in range(len(args)):
        def fi(x, i=i):
            return wnp.einsum(spec, *(args[:i] + (x,) + args[i + 1:]))
        check_grads(fi, (args[i],), order=1, tol=1e-6)
    g = wg.grad(lambda *xs: wnp.sum(wnp.sin(f(*xs))), argnums=tuple(range(len(args))))
    jg = wg.jit(g)
    ref = g(*args)
    args2 = _args(shapes, 1)
    for got, want in ((jg(*args), ref), (jg(*args), ref), (jg(*args2), g(*args2))):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    vg = wg.vmap(g)(*(np.stack([a, b]) for a, b in zip(args, args2)))
    for i in range(len(args)):
        np.testing.assert_allclose(vg[i][0], ref[i], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec,shapes", FIXED[:10], ids=lambda v: str(v))
def test_einsum_every_mode(spec, shapes):
    all_modes(lambda *xs: wnp.einsum(spec, *xs), _args(shapes, 2))


def test_einsum_interleaved_and_dtype():
    a, b = _args([(2, 3), (3,)], 4)
    g = wg.grad(lambda a: wnp.sum(wnp.einsum(a, [0, 1], b, [1], [0]) ** 2))(a)
    want = 2 * np.outer(a @ b, b)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    y = wg.grad(lambda a: wnp.einsum(a, [Ellipsis, 1], b, [1]).sum())(a)
    np.testing.assert_allclose(y, np.broadcast_to(b, (2, 3)))
    # NumPy's default casting='safe' refuses float64 -> float32: so does wnp; same_kind casts
    r = wg.jvp(lambda a: wnp.einsum("ij,j->i", a, b, dtype=np.float32, casting="same_kind"), (a,), (a,))[0]
    assert r.dtype == np.float32 == np.einsum("ij,j->i", a, b, dtype=np.float32, casting="same_kind").dtype
    with pytest.raises(TypeError, match="according to the rule 'safe'"):
        wg.jvp(lambda a: wnp.einsum("ij,j->i", a, b, dtype=np.float32), (a,), (a,))


@pytest.mark.parametrize("spec,shapes,msg", [
    ("ij->k", [(2, 3)], "does not appear"), ("ij,j", [(2, 3), (4,)], "broadcast"),
    ("ii", [(2, 3)], "repeated index"), ("ijk", [(2, 3)], "don't match"),
    ("...i->i", [(2, 3)], "'...'"), ("i,j", [(2,)], "operand"),
])
def test_einsum_bad_input_is_a_clear_error(spec, shapes, msg):
    with pytest.raises(ValueError):
        np.einsum(spec, *[np.ones(s) for s in shapes])
    with pytest.raises(ValueError, match=msg):
        wg.grad(lambda x: wnp.sum(wnp.einsum(spec, x, *[np.ones(s) for s in shapes[1:]])))(np.ones(shapes[0]))
