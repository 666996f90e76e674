"""Sweep cases for ``wnp.linalg``: every function, batched and complex variants.

Cholesky and eigh take Hermitian positive-definite inputs built inside the
case (``spd``), so finite differences perturb them within their domain.
"""

from __future__ import annotations

import numpy as np
from cases import Case

import wengert.numpy as wnp

CASES: list[Case] = []


def _gen(*shapes, cplx=False, well=True):
    def build(rng):
        out = []
        for s in shapes:
            x = rng.standard_normal(s)
            if cplx:
                x = x + 1j * rng.standard_normal(s)
            if well and len(s) >= 2 and s[-1] == s[-2]:
                x = x + 3.0 * np.eye(s[-1])  # well conditioned
            out.append(x)
        return tuple(out)
    return build


def spd(x):
    """A Hermitian positive-definite matrix from any square x (wnp or np)."""
    m = wnp if not isinstance(x, np.ndarray) else np
    xh = m.conj(m.swapaxes(x, -1, -2))
    return m.matmul(x, xh) * 0.5 + 2.0 * np.eye(x.shape[-1])


def add(name, fn, args, ref=None, **kw):
    CASES.append(Case(name, fn, args, ref, tags=("linalg",), **kw))


_L = wnp.linalg
_N = np.linalg

for cplx in (False, True):
    sfx = "-c" if cplx else ""
    kw = {"complex": cplx}
    add(f"linalg.inv{sfx}", _L.inv, _gen((3, 3), cplx=cplx), _N.inv, **kw)
    add(f"linalg.inv-batch{sfx}", _L.inv, _gen((2, 3, 3), cplx=cplx), _N.inv, **kw)
    add(f"linalg.det{sfx}", _L.det, _gen((3, 3), cplx=cplx), _N.det, **kw)
    add(f"linalg.det-batch{sfx}", _L.det, _gen((2, 2, 2), cplx=cplx), _N.det, **kw)
    add(f"linalg.slogdet{sfx}", lambda a: _L.slogdet(a)[1], _gen((3, 3), cplx=cplx),
        lambda a: _N.slogdet(a)[1], **kw)
    add(f"linalg.slogdet-sign{sfx}", lambda a: _L.slogdet(a)[0] * 1.5, _gen((2, 2), cplx=cplx),
        lambda a: _N.slogdet(a)[0] * 1.5, **kw)
    add(f"linalg.solve-vec{sfx}", _L.solve, _gen((3, 3), (3,), cplx=cplx), _N.solve, **kw)
    add(f"linalg.solve-mat-batch{sfx}", _L.solve, _gen((2, 3, 3), (2, 3, 2), cplx=cplx), _N.solve, **kw)
    add(f"linalg.cholesky{sfx}", lambda x: _L.cholesky(spd(x)), _gen((3, 3), cplx=cplx),
        lambda x: _N.cholesky(spd(x)), **kw)
    add(f"linalg.eigh-w{sfx}", lambda x: _L.eigh(spd(x))[0], _gen((2, 3, 3), cplx=cplx),
        lambda x: _N.eigh(spd(x))[0], **kw)
    # eigenvectors are defined up to sign/phase: sweep a gauge-invariant function
    add(f"linalg.eigh-fn{sfx}",
        lambda x: (lambda w, v: wnp.matmul(v * wnp.sin(w)[..., None, :], wnp.conj(wnp.swapaxes(v, -1, -2))))(
            *_L.eigh(spd(x))),
        _gen((3, 3), cplx=cplx),
        lambda x: (lambda w, v: (v * np.sin(w)[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2)))(
            *_N.eigh(spd(x))), **kw)
    add(f"linalg.svdvals{sfx}", lambda x: _L.svd(x, compute_uv=False), _gen((3, 2), cplx=cplx),
        lambda x: _N.svd(x, compute_uv=False), **kw)
    add(f"linalg.svd-recon-wide{sfx}",
        lambda x: (lambda u, s, vh: wnp.matmul(u * wnp.sqrt(s)[..., None, :], vh))(
            *_L.svd(x, full_matrices=False)),
        _gen((2, 2, 3), cplx=cplx),
        lambda x: (lambda u, s, vh: (u * np.sqrt(s)[..., None, :]) @ vh)(*_N.svd(x, full_matrices=False)),
        **kw)
    add(f"linalg.qr-q{sfx}", lambda x: _L.qr(x)[0], _gen((3, 2), cplx=cplx), lambda x: _N.qr(x)[0], **kw)
    add(f"linalg.qr-r{sfx}", lambda x: _L.qr(x)[1], _gen((3, 2), cplx=cplx), lambda x: _N.qr(x)[1], **kw)
    add(f"linalg.pinv{sfx}", _L.pinv, _gen((3, 2), cplx=cplx), _N.pinv, **kw)
    add(f"linalg.norm{sfx}", _L.norm, _gen((2, 3), cplx=cplx), _N.norm, **kw)
    add(f"linalg.norm-nuc{sfx}", lambda x: _L.norm(x, "nuc"), _gen((3, 2), cplx=cplx),
        lambda x: _N.norm(x, "nuc"), **kw)

# real-only: raw singular vectors (sign fixed by LAPACK's choice), full matrices,
# the QR modes, norms of every order, matrix powers
add("linalg.svd-u", lambda x: _L.svd(x, full_matrices=False)[0], _gen((3, 2)),
    lambda x: _N.svd(x, full_matrices=False)[0])
add("linalg.svd-vh", lambda x: _L.svd(x, full_matrices=False)[2], _gen((2, 3)),
    lambda x: _N.svd(x, full_matrices=False)[2])
add("linalg.svd-full-u", lambda x: _L.svd(x)[0], _gen((3, 2)), lambda x: _N.svd(x)[0])
add("linalg.svd-full-vh", lambda x: _L.svd(x)[2], _gen((2, 3)), lambda x: _N.svd(x)[2])
add("linalg.svd-square-batch", lambda x: _L.svd(x)[0], _gen((2, 3, 3)), lambda x: _N.svd(x)[0])
add("linalg.eigh-v", lambda x: _L.eigh(spd(x))[1], _gen((3, 3)), lambda x: _N.eigh(spd(x))[1])
add("linalg.eigh-U", lambda x: _L.eigh(spd(x), UPLO="U")[0], _gen((3, 3)),
    lambda x: _N.eigh(spd(x), UPLO="U")[0])
add("linalg.eigvalsh", lambda x: _L.eigvalsh(spd(x)), _gen((3, 3)), lambda x: _N.eigvalsh(spd(x)))
add("linalg.cholesky-upper", lambda x: _L.cholesky(spd(x), upper=True), _gen((2, 3, 3)),
    lambda x: _N.cholesky(spd(x), upper=True))
add("linalg.qr-complete", lambda x: _L.qr(x, mode="complete")[0], _gen((3, 2)),
    lambda x: _N.qr(x, mode="complete")[0])
add("linalg.qr-complete-r", lambda x: _L.qr(x, mode="complete")[1], _gen((3, 2)),
    lambda x: _N.qr(x, mode="complete")[1])
add("linalg.qr-mode-r", lambda x: _L.qr(x, mode="r"), _gen((2, 3, 3)), lambda x: _N.qr(x, mode="r"))
add("linalg.qr-wide", lambda x: _L.qr(x)[1], _gen((2, 3)), lambda x: _N.qr(x)[1])
add("linalg.qr-wide-q", lambda x: _L.qr(x)[0], _gen((2, 3)), lambda x: _N.qr(x)[0])
add("linalg.pinv-wide-batch", _L.pinv, _gen((2, 2, 3)), _N.pinv)
add("linalg.pinv-rtol", lambda x: _L.pinv(x, rtol=None), _gen((3, 3)), lambda x: _N.pinv(x, rtol=None))
for _p in (3, 1, -1, 0, 2, -3):
    add(f"linalg.matrix_power{_p}", (lambda p: lambda x: _L.matrix_power(x, p))(_p), _gen((3, 3)),
        (lambda p: lambda x: _N.matrix_power(x, p))(_p))
add("linalg.multi_dot", lambda a, b, c: _L.multi_dot([a, b, c]), _gen((3,), (3, 2), (2,)),
    lambda a, b, c: _N.multi_dot([a, b, c]))
add("linalg.cond", _L.cond, _gen((3, 3)), _N.cond)
add("linalg.cond-fro", lambda x: _L.cond(x, "fro"), _gen((3, 3)), lambda x: _N.cond(x, "fro"))

_NORMS = [
    ("vec-2", {}, (4,)), ("vec-1", {"ord": 1}, (4,)), ("vec-inf", {"ord": np.inf}, (4,)),
    ("vec--inf", {"ord": -np.inf}, (4,)), ("vec-3", {"ord": 3}, (4,)),
    ("vec-0", {"ord": 0}, (4,)), ("vec-axis", {"axis": 1}, (2, 3)),
    ("vec-axis-keep", {"axis": -1, "keepdims": True}, (2, 3)),
    ("vec-ord1-axis0", {"ord": 1, "axis": 0}, (2, 3)),
    ("flat-3d", {}, (2, 2, 3)), ("flat-keep", {"keepdims": True}, (2, 3)),
    ("fro", {"ord": "fro"}, (2, 3)), ("mat-1", {"ord": 1}, (3, 3)),
    ("mat--1", {"ord": -1}, (3, 3)), ("mat-inf", {"ord": np.inf}, (3, 3)),
    ("mat--inf", {"ord": -np.inf}, (3, 3)), ("mat-2", {"ord": 2}, (3, 2)),
    ("mat--2", {"ord": -2}, (3, 2)),
    ("mat-axes", {"ord": "fro", "axis": (2, 0)}, (2, 2, 3)),
    ("mat-1-axes-keep", {"ord": 1, "axis": (0, 2), "keepdims": True}, (3, 2, 3)),
    ("mat-inf-axes", {"ord": np.inf, "axis": (-1, 0)}, (3, 2, 3)),
    ("nuc-axes", {"ord": "nuc", "axis": (1, 2)}, (2, 3, 2)),
]
for _n, _kw, _s in _NORMS:
    add(f"linalg.norm-{_n}", (lambda kw: lambda x: _L.norm(x, **kw))(_kw), _gen(_s, well=False),
        (lambda kw: lambda x: _N.norm(x, **kw))(_kw))
add("linalg.vector_norm", lambda x: _L.vector_norm(x, axis=(0, 2), ord=3), _gen((2, 2, 3), well=False),
    lambda x: _N.vector_norm(x, axis=(0, 2), ord=3))
add("linalg.matrix_norm", lambda x: _L.matrix_norm(x, ord="nuc"), _gen((2, 3, 2), well=False),
    lambda x: _N.matrix_norm(x, ord="nuc"))
add("linalg.matrix_transpose", _L.matrix_transpose, _gen((2, 3), well=False), _N.matrix_transpose)

# array-API spellings and least squares
add("linalg.matmul", _L.matmul, _gen((2, 3), (3, 2), well=False), _N.matmul)
add("linalg.tensordot", lambda a, b: _L.tensordot(a, b, axes=1), _gen((2, 3), (3, 2), well=False),
    lambda a, b: _N.tensordot(a, b, axes=1))
add("linalg.outer", _L.outer, _gen((3,), (2,)), _N.outer)
add("linalg.cross", _L.cross, _gen((2, 3), (2, 3)), _N.cross)
add("linalg.diagonal", lambda x: _L.diagonal(x, offset=1), _gen((2, 3, 3), well=False),
    lambda x: _N.diagonal(x, offset=1))
add("linalg.trace", _L.trace, _gen((2, 3, 3), well=False), _N.trace)
add("linalg.vecdot", _L.vecdot, _gen((2, 3), (3,)), _N.vecdot)
add("linalg.lstsq", lambda a, b: _L.lstsq(a, b)[0], _gen((4, 2), (4,)), lambda a, b: _N.lstsq(a, b)[0])
add("linalg.lstsq-resid", lambda a, b: _L.lstsq(a, b)[1], _gen((4, 2), (4, 2)), lambda a, b: _N.lstsq(a, b)[1])
add("linalg.lstsq-wide", lambda a, b: _L.lstsq(a, b)[0], _gen((2, 3), (2,)), lambda a, b: _N.lstsq(a, b)[0])
add("linalg.svdvals-batch", _L.svdvals, _gen((2, 3, 2)), _N.svdvals)


# general eigenproblem: eigenvalues (symmetric functions of them) and V f(Λ) V⁻¹ (phase-invariant)
def _expm(m, x):
    w, v = m.linalg.eig(x)
    return m.real(m.matmul(v * m.exp(w)[..., None, :], m.linalg.inv(v)))


def _rot(rng):  # complex-conjugate eigenvalue pairs
    return (np.array([[0.3, -1.2, 0.1], [1.1, 0.2, 0.4], [0.0, 0.3, 2.0]]) + 0.1 * rng.standard_normal((3, 3)),)


add("linalg.eigvals-sum", lambda x: wnp.real(wnp.sum(_L.eigvals(x) ** 3)), _gen((3, 3)),
    lambda x: np.real(np.sum(_N.eigvals(x) ** 3)))
add("linalg.eigvals-complex-pairs", lambda x: wnp.real(wnp.sum(_L.eigvals(x) ** 2)), _rot,
    lambda x: np.real(np.sum(_N.eigvals(x) ** 2)))
add("linalg.eig-expm", lambda x: _expm(wnp, x), _rot, lambda x: _expm(np, x))
add("linalg.eig-expm-batch", lambda x: _expm(wnp, x), _gen((2, 3, 3)), lambda x: _expm(np, x))
add("linalg.eig-expm-c", lambda x: _expm(wnp, x), _gen((2, 2), cplx=True), lambda x: _expm(np, x), complex=True)
