"""``scipy.linalg`` primitives: triangular solves, Sylvester equations, the
matrix square root and exponential (with its Fréchet derivative), and the LU
factorization.  SciPy is imported by the implementations, never on import.

Each works on the trailing two axes and loops over the leading ones (so
``vmap`` adds a leading axis).  Real matrices only.  The JVP rules apply
only linear primitives to the tangent, with coefficients computed from the
primals, so every order works:

* ``solve_triangular``: ``x = op(A)⁻¹ b`` reads one triangle of ``A`` (and
  not its diagonal when ``unit_diagonal``), as LAPACK does; so does its
  derivative: ``dx = op(A)⁻¹ (db − op(dA△) x)`` with ``dA△`` that triangle of
  ``dA``.  Transposed in ``b``: a solve with ``op(A)ᵀ``;
* ``solve_sylvester``: ``A X + X B = Q`` gives ``A dX + dX B = dQ − dA X − X dB``,
  a Sylvester equation again; transposed in ``Q``: ``Aᵀ Y + Y Bᵀ = G``;
* ``sqrtm``: ``S dS + dS S = dA`` (a Sylvester equation);
* ``expm``: ``d expm(A) = L(A, dA)``, the Fréchet derivative, itself a
  primitive linear in its second argument with transpose ``L(Aᵀ, G)``; its
  own derivative in ``A`` comes from the block identity
  ``L(A, E) = [expm([[A, E], [0, A]])]₀₁``: ``dL = [L(M, [[dA, dE], [0, dA]])]₀₁``;
* ``lu_factor``: ``A = P L U`` gives ``F = L⁻¹ Pᵀ dA U⁻¹``, ``dL = L tril(F, −1)``,
  ``dU = triu(F) U``, packed as ``dL + dU``; the pivots have no derivative.
"""

from __future__ import annotations

import numpy as np

from . import _prims as P
from ._prims import defprim

__all__ = ["solve_triangular_p", "sylvester_p", "sqrtm_p", "expm_p", "expm_frechet_p", "lu_factor_p",
           "lu_perm_p", "scipy_linalg"]

MISSING = ("wengert.scipy.linalg needs SciPy, an optional dependency: install it with "
           "`pip install wengert[scipy]` (or `pip install scipy`).")


def scipy_linalg():
    """``scipy.linalg``, or an ImportError that says how to install it."""
    try:
        import scipy.linalg as sl
    except ImportError as e:  # pragma: no cover - exercised in a subprocess test
        raise ImportError(MISSING) from e
    return sl


def _batched(fn, arrays, core, multiple=False):
    """``fn`` on the trailing ``core[i]`` axes of each array, looping over the
    (broadcast) leading axes."""
    arrays = [np.asarray(x) for x in arrays]
    leads = [x.shape[:x.ndim - c] for x, c in zip(arrays, core)]
    lead = np.broadcast_shapes(*leads)
    if not lead:
        return fn(*arrays)
    arrays = [np.broadcast_to(x, lead + x.shape[x.ndim - c:]) for x, c in zip(arrays, core)]
    outs = [fn(*(x[i] for x in arrays)) for i in np.ndindex(*lead)]
    if multiple:
        return tuple(np.stack([o[k] for o in outs]).reshape(lead + np.shape(outs[0][k]))
                     for k in range(len(outs[0])))
    return np.stack(outs).reshape(lead + np.shape(outs[0]))


def _float_like(r, *inputs):
    dt = np.result_type(*inputs)
    if dt.kind == "f" and np.result_type(r) != dt:
        r = np.asarray(r).astype(dt)
    return r


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _mT(x, nd=None):
    """The transpose of the last two axes (``nd``: the rank, needed for tangents,
    which carry no shape)."""
    nd = len(_shape(x)) if nd is None else nd
    return P.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _F():
    from .numpy import _funcs
    return _funcs


# ----------------------------------------------------------------------------
# solve_triangular(a, b, lower, trans, unit_diagonal): b of shape (…, n, k)


def _st_impl(a, b, lower, trans, unit):
    sl = scipy_linalg()
    r = _batched(lambda a_, b_: sl.solve_triangular(a_, b_, trans=trans, lower=lower, unit_diagonal=unit),
                 (a, b), (2, 2))
    return _float_like(r, a, b)


def _tri_mask(shape, lower, unit, dtype):
    n = shape[-1]
    m = np.tril(np.ones((n, n)), -1 if unit else 0) if lower else np.triu(np.ones((n, n)), 1 if unit else 0)
    return np.broadcast_to(m.astype(dtype), shape)


def _st_jvp_a(t, ans, a, b, lower, trans, unit):
    shape = _shape(a)
    dA = t * _tri_mask(shape, lower, unit, np.result_type(getattr(a, "dtype", np.float64)))
    if trans:
        dA = _mT(dA, len(shape))
    return -solve_triangular_p.bind(a, P.matmul(dA, ans), lower, trans, unit)


def _st_jvp_b(t, ans, a, b, lower, trans, unit):
    return solve_triangular_p.bind(a, t, lower, trans, unit)


def _st_T(ct, a, b, lower, trans, unit):
    return (None, solve_triangular_p.bind(a, ct, lower, 0 if trans else 1, unit))


solve_triangular_p = defprim("scipy_solve_triangular", _st_impl, 2, jvps=(_st_jvp_a, _st_jvp_b),
                             transpose=_st_T, doc="x = op(A)⁻¹ b, A triangular")


# ----------------------------------------------------------------------------
# solve_sylvester(a, b, q): A X + X B = Q


def _syl_impl(a, b, q):
    sl = scipy_linalg()
    return _float_like(_batched(sl.solve_sylvester, (a, b, q), (2, 2, 2)), a, b, q)


def _syl_T(ct, a, b, q):
    return (None, None, sylvester_p.bind(_mT(a), _mT(b), ct))  # a, b: primals


sylvester_p = defprim(
    "scipy_solve_sylvester", _syl_impl, 3,
    jvps=(lambda t, ans, a, b, q: -sylvester_p.bind(a, b, P.matmul(t, ans)),
          lambda t, ans, a, b, q: -sylvester_p.bind(a, b, P.matmul(ans, t)),
          lambda t, ans, a, b, q: sylvester_p.bind(a, b, t)),
    transpose=_syl_T, doc="X with A X + X B = Q")


# ----------------------------------------------------------------------------
# sqrtm, expm and the Fréchet derivative of expm


def _sqrtm1(a):
    r = scipy_linalg().sqrtm(a)
    if isinstance(r, tuple):  # older SciPy: (sqrtm, errest) with disp=False
        r = r[0]
    if np.iscomplexobj(r) and not np.iscomplexobj(a):
        if np.any(np.abs(r.imag) > 1e-10 * max(1.0, float(np.max(np.abs(r))))):
            raise ValueError("scipy.linalg.sqrtm: this real matrix has no real square root (it has negative "
                             "real eigenvalues); wengert differentiates sqrtm of real matrices with a real "
                             "square root only")
        r = r.real
    return r


def _sqrtm_impl(a):
    return _float_like(_batched(_sqrtm1, (a,), (2,)), a)


sqrtm_p = defprim("scipy_sqrtm", _sqrtm_impl, 1,
                  jvps=(lambda t, ans, a: sylvester_p.bind(ans, ans, t),),
                  doc="S = √A; S dS + dS S = dA")


def _expm_impl(a):
    return _float_like(_batched(scipy_linalg().expm, (a,), (2,)), a)


expm_p = defprim("scipy_expm", _expm_impl, 1,
                 jvps=(lambda t, ans, a: expm_frechet_p.bind(a, t),),
                 doc="d expm(A) = L(A, dA), the Fréchet derivative")


def _frechet1(a, e):
    return scipy_linalg().expm_frechet(a, e, compute_expm=False, check_finite=False)


def _frechet_impl(a, e):
    return _float_like(_batched(_frechet1, (a, e), (2, 2)), a, e)


def _block(a, e, shape):
    """[[a, e], [0, a]] from primals (traced by outer transformations)."""
    F = _F()
    nd = len(shape)
    z = np.zeros(shape, dtype=np.result_type(getattr(a, "dtype", np.float64)))
    return F.concatenate([F.concatenate([a, e], axis=nd - 1), F.concatenate([z, a], axis=nd - 1)], axis=nd - 2)


def _frechet_jvp(primals, tangents, ans, params):
    a, e = primals
    da, de = tangents
    out = None if de is None else expm_frechet_p.bind(a, de)
    if da is not None:
        shape = _shape(a)
        n, nd = shape[-1], len(shape)
        lead = ((0, 0),) * (nd - 2)
        dm = P.pad_p.bind(da, lead + ((0, n), (0, n))) + P.pad_p.bind(da, lead + ((n, 0), (n, 0)))
        big = shape[:-2] + (2 * n, 2 * n)
        r = expm_frechet_p.bind(_block(a, e, shape), dm)
        r = P.getitem(r, (Ellipsis, slice(0, n), slice(n, 2 * n)), big)
        out = r if out is None else out + r
    return out


expm_frechet_p = defprim("scipy_expm_frechet", _frechet_impl, 2, jvp_full=_frechet_jvp,
                         transpose=lambda ct, a, e: (None, expm_frechet_p.bind(_mT(a), ct)),
                         doc="L(A, E), linear in E; transpose L(Aᵀ, G)")


# ----------------------------------------------------------------------------
# lu_factor: (lu, piv), A = P L U with L unit lower and U upper, packed in lu


def _lu1(a):
    lu, piv = scipy_linalg().lu_factor(a, check_finite=False)
    return lu, piv


def _lu_impl(a):
    lu, piv = _batched(_lu1, (a,), (2,), multiple=True)
    return _float_like(lu, a), piv


def _perm1(piv, n):
    perm = np.arange(n)
    for i, j in enumerate(piv):
        perm[i], perm[j] = perm[j], perm[i]
    m = np.zeros((n, n))
    m[perm, np.arange(n)] = 1.0  # A[perm] = L U, so A = M L U with M = I[perm]ᵀ
    return m


def _perm_impl(piv, dtype):
    piv = np.asarray(piv)
    n = piv.shape[-1]
    return _batched(lambda p: _perm1(p, n), (piv,), (1,)).astype(dtype)


lu_perm_p = defprim("scipy_lu_perm", _perm_impl, 1, nondiff=True,
                    doc="the permutation matrix P of LAPACK's pivots (A = P L U)")


def _lu_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    lu, piv = ans
    F = _F()
    shape = _shape(a)
    n = shape[-1]
    dt = np.result_type(getattr(a, "dtype", np.float64))
    eye = np.eye(n, dtype=dt)
    L = F.tril(lu, -1) + eye
    U = F.triu(lu)
    pm = lu_perm_p.bind(piv, dt.name)
    nd = len(shape)
    x = solve_triangular_p.bind(lu, P.matmul(_mT(pm, nd), t), True, 0, True)  # L⁻¹ Pᵀ dA
    f = _mT(solve_triangular_p.bind(lu, _mT(x, nd), False, 1, False), nd)  # … U⁻¹
    low = _tri_mask(shape, True, True, dt)
    up = _tri_mask(shape, False, False, dt)
    return (P.matmul(L, f * low) + P.matmul(f * up, U), None)


lu_factor_p = defprim("scipy_lu_factor", _lu_impl, 1, jvp_full=_lu_jvp, multiple_results=True,
                      doc="dL = L tril(F, −1), dU = triu(F) U, F = L⁻¹ Pᵀ dA U⁻¹")


def _register():
    from ._prims_linalg import _trailing_rule
    from ._vmap import register_batch_rule
    for p in (solve_triangular_p, sylvester_p, sqrtm_p, expm_p, expm_frechet_p, lu_factor_p, lu_perm_p):
        register_batch_rule(p, _trailing_rule(p))


_register()
