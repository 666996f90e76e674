"""Linear-algebra primitives: inv, solve, det, slogdet, cholesky, eigh, svd, qr, pinv.

Each works on the trailing two axes and is batched over the leading ones, as
NumPy's ``linalg`` is.  JVP rules apply only linear primitives (matmul,
transpose, conj, add, multiplication by coefficients, reductions) to the
tangent, so reverse mode comes from the core's transposes and every rule can
be differentiated again.  Coefficients are computed from the primals with
``wengert.numpy`` functions, so they are traced by outer transformations.

Conventions (the tests check each):

* cholesky and eigh read one triangle of a Hermitian matrix (and the real
  part of its diagonal), as LAPACK does; their derivatives are those of
  NumPy's own function: ``dA`` is replaced by the Hermitian matrix built from
  that triangle of ``dA`` (so the other triangle gets derivative 0, and a
  symmetric perturbation of an off-diagonal pair counts once; JAX and PyTorch
  symmetrise instead, which differs from finite differences off the symmetric
  matrices);
* eigh and svd: the eigenvector/singular-vector derivatives need distinct
  eigen/singular values; where two coincide (to rounding) their coupling
  coefficient is set to 0 instead of inf, so functions of the spectrum alone
  (``trace``, ``sum(w**2)``, norms) have finite, correct derivatives at
  degenerate points instead of NaN;
* svd with ``full_matrices=True`` on a non-square matrix: the extra columns
  of U (or rows of Vh) are any orthonormal completion; their derivative is the
  one of minimal rotation, ``dU⊥ = -U (dUᴴ U⊥)``;
* complex inputs follow JAX's convention (cotangents pair bilinearly).
"""

from __future__ import annotations

import numpy as np

from . import _prims as P
from ._prims import defprim, iscomplex

__all__ = ["inv_p", "solve_p", "det_p", "cofactor_p", "slogdet_p", "cholesky_p", "eigh_p", "eig_p",
           "svd_p", "qr_p", "pinv_p"]


def _F():
    from .numpy import _funcs
    return _funcs


# ----------------------------------------------------------------------------
# Helpers usable on tangents (shapes come from the primals)


def _mT(x, nd):
    return P.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _H(x, nd, cplx):
    x = _mT(x, nd)
    return P.conj(x) if cplx else x


def _sym(t, nd, cplx):
    """Hermitian part of a tangent."""
    return (t + _H(t, nd, cplx)) * 0.5


def _tri_herm(t, shape, cplx, uplo, rdt):
    """The tangent of the Hermitian matrix that LAPACK reads from one triangle
    (``uplo`` 'L' or 'U') of ``a``: that strict triangle, its conjugate
    transpose, and the real part of the diagonal.  So the derivative is 0 on
    the other triangle, as finite differences of NumPy's eigh/cholesky give."""
    n = shape[-1]
    nd = len(shape)
    tri = np.tril(np.ones((n, n), rdt), -1) if uplo == "L" else np.triu(np.ones((n, n), rdt), 1)
    s = t * np.broadcast_to(tri, shape)
    d = t * np.broadcast_to(np.eye(n, dtype=rdt), shape)
    return s + _H(s, nd, cplx) + ((d + _H(d, nd, cplx)) * 0.5 if cplx else d)


def _rdt(x):
    """The real dtype of x's precision (float32 stays float32)."""
    return np.finfo(np.dtype(x.dtype)).dtype


def _eye(shape, dtype):
    """Identity matrices of the trailing (n, n) of ``shape``, broadcast over the rest."""
    n = shape[-1]
    return np.broadcast_to(np.eye(n, dtype=dtype), tuple(shape))


def _diag_part(x, shape, dtype):
    """The diagonal (…, n) of a (…, n, n) value (tangents too)."""
    nd = len(shape)
    return P.reduce_sum(x * _eye(shape, dtype), (nd - 1,), tuple(shape))


def _shape(x):
    return tuple(x.shape)


def _inv_gaps(w, diff_fn):
    """Coefficients 1/diff_fn(w_j, w_i) off the diagonal, 0 on it and where
    w_j and w_i coincide to rounding (degenerate spectra give no inf/NaN)."""
    F = _F()
    row = F.expand_dims(w, -2)  # (..., 1, n): w_j
    col = F.expand_dims(w, -1)  # (..., n, 1): w_i
    d = diff_fn(row, col)
    scale = F.max(F.abs(w), axis=-1, keepdims=True)
    scale = F.expand_dims(F.where(scale > 0, scale, 1.0), -1)
    eps = np.finfo(np.dtype(F.real(w).dtype) if iscomplex(w) else np.dtype(w.dtype)).eps
    close = F.abs(row - col) <= scale * (1e3 * eps)
    return F.where(close, 0.0, 1.0 / F.where(close, 1.0, d))


# ----------------------------------------------------------------------------
# inv and solve


def _inv_jvp(t, ans, a):
    return -P.matmul(ans, P.matmul(t, ans))


inv_p = defprim("linalg_inv", np.linalg.inv, 1, jvps=(_inv_jvp,),
                doc="d(A⁻¹) = -A⁻¹ dA A⁻¹")


def _solve_impl(a, b):
    return np.linalg.solve(a, b)


def _solve_jvp_a(t, ans, a, b):
    return -solve_p.bind(a, P.matmul(t, ans))


def _solve_jvp_b(t, ans, a, b):
    return solve_p.bind(a, t)


def _solve_T(ct, a, b):
    # linear in b only: bᵀ-pairing transpose is a solve with Aᵀ (no conjugate)
    return (None, solve_p.bind(_mT(a, len(_shape(a))), ct))


solve_p = defprim("linalg_solve", _solve_impl, 2, jvps=(_solve_jvp_a, _solve_jvp_b),
                  transpose=_solve_T, doc="x = A⁻¹ b for b of shape (…, n, k)")


# ----------------------------------------------------------------------------
# det, through the cofactor matrix (also at singular matrices)


def _cofactor_impl(a):
    """cof(A) = adj(A)ᵀ, for singular A too: with A = U S Vᴴ,
    adj(A) = det(U) det(Vᴴ) · V diag(Π_{j≠i} s_j) Uᴴ (the products leave out
    one singular value each, so a single zero one still gives the rank-1
    adjugate)."""
    a = np.asarray(a)
    u, s, vh = np.linalg.svd(a)
    ones = np.ones(s.shape[:-1] + (1,), s.dtype)
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], -1), -1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], -1), -1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vh)
    adj = np.matmul(np.conj(np.swapaxes(vh, -1, -2)) * (before * after)[..., None, :],
                    np.conj(np.swapaxes(u, -1, -2)))
    adj = adj * np.asarray(sign)[..., None, None]
    return np.ascontiguousarray(np.swapaxes(adj, -1, -2)).astype(a.dtype, copy=False)


def _inner2(t, m, shape):
    """Σ over the matrix axes of ``t ∘ m`` (= tr(mᵀ t)), batched; ``t`` may be a tangent."""
    nd = len(shape)
    return P.reduce_sum(t * m, (nd - 2, nd - 1), tuple(shape))


def _keep2(x, shape):
    """A (…,) value as (…, 1, 1), broadcast to ``shape`` (…, n, n)."""
    kd = tuple(shape[:-2]) + (1, 1)
    return P.broadcast_to(P.reshape(x, kd, tuple(shape[:-2])), tuple(shape), kd)


def _cofactor_jvp(t, ans, a):
    # d cof = cof · tr(A⁻¹ dA) − det(A) · (A⁻¹ dA A⁻¹)ᵀ  (A invertible: second
    # derivatives of det at a singular matrix are not defined by this rule)
    shape = _shape(a)
    nd = len(shape)
    ainv = inv_p.bind(a)
    tr = _inner2(t, _mT(ainv, nd), shape)
    return ans * _keep2(tr, shape) - _keep2(det_p.bind(a), shape) * _mT(P.matmul(ainv, P.matmul(t, ainv)), nd)


cofactor_p = defprim("linalg_cofactor", _cofactor_impl, 1, jvps=(_cofactor_jvp,),
                     doc="cof(A) = adj(A)ᵀ = det(A) A⁻ᵀ, from the SVD (singular A too)")


def _det_jvp(t, ans, a):
    return _inner2(t, cofactor_p.bind(a), _shape(a))


det_p = defprim("linalg_det", np.linalg.det, 1, jvps=(_det_jvp,),
                doc="d det(A) = Σ cof(A) ∘ dA; defined at singular A too")


# ----------------------------------------------------------------------------
# slogdet


def _slogdet_impl(a):
    return tuple(np.linalg.slogdet(a))


def _slogdet_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    sign, _ = ans
    shape = _shape(a)
    tr = _inner2(t, _mT(inv_p.bind(a), len(shape)), shape)  # tr(A⁻¹ dA)
    if not iscomplex(a):
        return (None, tr)
    # d log det = tr(A⁻¹ dA): real part to log|det|, i·imag part rotates the sign
    return (sign * ((tr - P.conj(tr)) * 0.5), P.real(tr))


slogdet_p = defprim("linalg_slogdet", _slogdet_impl, 1, jvp_full=_slogdet_jvp,
                    multiple_results=True, doc="d log|det A| = Re tr(A⁻¹ dA)")


# ----------------------------------------------------------------------------
# cholesky


def _cholesky_jvp(t, ans, a):
    shape = _shape(a)
    nd = len(shape)
    c = iscomplex(a)
    L = ans
    Linv = inv_p.bind(L)
    tmp = P.matmul(Linv, P.matmul(_tri_herm(t, shape, c, "L", _rdt(a)), _H(Linv, nd, c)))
    n = shape[-1]
    phi = np.broadcast_to((np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)).astype(_rdt(a)), shape)
    return P.matmul(L, tmp * phi)


cholesky_p = defprim("linalg_cholesky", np.linalg.cholesky, 1, jvps=(_cholesky_jvp,),
                     doc="dL = L Φ(L⁻¹ sym(dA) L⁻ᴴ), Φ: lower triangle, half diagonal")


# ----------------------------------------------------------------------------
# eigh


def _eigh_impl(a, uplo):
    return tuple(np.linalg.eigh(a, UPLO=uplo))


def _eigh_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    w, v = ans
    shape = _shape(a)
    nd = len(shape)
    c = iscomplex(a)
    X = P.matmul(_H(v, nd, c), P.matmul(_tri_herm(t, shape, c, params[0], _rdt(a)), v))
    dw = _diag_part(X, shape, _rdt(a))
    if c:
        dw = P.real(dw)
    Fm = _inv_gaps(w, lambda wj, wi: wj - wi)
    dv = P.matmul(v, X * Fm)
    return (dw, dv)


eigh_p = defprim("linalg_eigh", _eigh_impl, 1, jvp_full=_eigh_jvp, multiple_results=True,
                 doc="dw = diag(Vᴴ dA V), dV = V (F ∘ Vᴴ dA V), F_ij = 1/(w_j - w_i)")


# ----------------------------------------------------------------------------
# eig (general square matrices)


def _eig_impl(a):
    return tuple(np.linalg.eig(a))


def _eig_jvp(primals, tangents, ans, params):
    # JAX's rule: with X = V⁻¹ dA V, dw = diag(X), dV = V (F ∘ X) with its
    # component along each (unit-norm) eigenvector's real direction removed
    (a,), (t,) = primals, tangents
    w, v = ans
    shape = _shape(a)
    nd = len(shape)
    if iscomplex(v) and not iscomplex(a):  # a real tangent meets complex eigenvectors
        t = P.convert_p.bind(t, np.dtype(v.dtype), np.dtype(a.dtype))
    X = solve_p.bind(v, P.matmul(t, v))
    dw = _diag_part(X, shape, _rdt(a))
    dv = P.matmul(v, X * _inv_gaps(w, lambda wj, wi: wj - wi))
    if iscomplex(v):
        row = shape[:-2] + (1, shape[-1])
        re = P.real(P.reduce_sum(P.conj(v) * dv, (nd - 2,), shape))
        re = P.broadcast_to(P.reshape(re, row, shape[:-1]), shape, row)
        dv = dv - P.convert_p.bind(re, np.dtype(v.dtype), _rdt(a)) * v
    else:
        re = P.reduce_sum(v * dv, (nd - 2,), shape)
        row = shape[:-2] + (1, shape[-1])
        dv = dv - P.broadcast_to(P.reshape(re, row, shape[:-1]), shape, row) * v
    return (dw, dv)


eig_p = defprim("linalg_eig", _eig_impl, 1, jvp_full=_eig_jvp, multiple_results=True,
                doc="dw = diag(V⁻¹ dA V); eigenvectors need distinct eigenvalues")


# ----------------------------------------------------------------------------
# svd (always returns a tuple: (u, s, vh), or (s,) when compute_uv is False)


def _svd_impl(a, full_matrices, compute_uv):
    if not compute_uv:
        return (np.linalg.svd(a, compute_uv=False),)
    return tuple(np.linalg.svd(a, full_matrices=full_matrices))


def _complete(dQ, Q, k, nd, cplx):
    """Tangent of an orthonormal completion Q[..., k:] of Q[..., :k]: the
    minimal rotation dQ⊥ = -Q_k (dQ_kᴴ Q⊥), concatenated after dQ_k."""
    shape = _shape(Q)
    m = shape[-1]
    Qk = Q[..., :, :k]
    Qp = Q[..., :, k:]
    dQp = -P.matmul(Qk, P.matmul(_H(dQ, nd, cplx), Qp))
    return P.concatenate_p.bind(dQ, dQp, nd - 1, (k, m - k))


def _svd_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    full, cuv = params
    F = _F()
    shape = _shape(a)
    nd = len(shape)
    m, n = shape[-2:]
    k = min(m, n)
    c = iscomplex(a)
    if cuv:
        U, s, Vh = ans
        if full and m != n:
            U, Vh = U[..., :, :k], Vh[..., :k, :]
    else:
        U, s, Vh = svd_p.bind(a, False, True)
    V = _H(Vh, nd, c)
    Uh = _H(U, nd, c)
    kk = shape[:-2] + (k, k)
    dS = P.matmul(Uh, P.matmul(t, V))
    ds = _diag_part(dS, kk, _rdt(a))
    if c:
        ds = P.real(ds)
    if not cuv:
        return (ds,)
    s_row = F.broadcast_to(F.expand_dims(s, -2), kk)
    s_col = F.broadcast_to(F.expand_dims(s, -1), kk)
    Fm = _inv_gaps(s, lambda sj, si: (sj + si) * (sj - si))
    dSS = dS * s_row
    SdS = dS * s_col
    zero = F.equal(s, 0)
    s_inv = F.where(zero, 0.0, 1.0 / F.where(zero, 1.0, s))
    s_inv_mat = F.broadcast_to(F.expand_dims(s_inv, -2), kk) * _eye(kk, _rdt(a))
    dU = P.matmul(U, (dSS + _H(dSS, nd, c)) * Fm + (dS - _H(dS, nd, c)) * (s_inv_mat * 0.5))
    dV = P.matmul(V, (SdS + _H(SdS, nd, c)) * Fm)
    inv_row = F.expand_dims(s_inv, -2)
    if m > n:
        dAV = P.matmul(t, V)
        dU = dU + (dAV - P.matmul(U, P.matmul(Uh, dAV))) * F.broadcast_to(inv_row, shape[:-2] + (m, k))
    if n > m:
        dAHU = P.matmul(_H(t, nd, c), U)
        dV = dV + (dAHU - P.matmul(V, P.matmul(Vh, dAHU))) * F.broadcast_to(inv_row, shape[:-2] + (n, k))
    dVh = _H(dV, nd, c)
    if full and m > n:
        dU = _complete(dU, ans[0], k, nd, c)
    if full and n > m:
        dVh = _H(_complete(dV, _H(ans[2], nd, c), k, nd, c), nd, c)
    return (dU, ds, dVh)


svd_p = defprim("linalg_svd", _svd_impl, 1, jvp_full=_svd_jvp, multiple_results=True,
                doc="JAX's SVD rule; needs distinct singular values for U and V")


# ----------------------------------------------------------------------------
# qr (m >= n; wengert.numpy.linalg.qr reduces the wide case to this one)


def _qr_impl(a, complete):
    return tuple(np.linalg.qr(a, mode="complete" if complete else "reduced"))


def _qr_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    (complete,) = params
    shape = _shape(a)
    nd = len(shape)
    m, n = shape[-2:]
    c = iscomplex(a)
    q, r = ans
    if complete and m != n:
        q, r = q[..., :, :n], r[..., :n, :]
    nn = shape[:-2] + (n, n)
    dx_rinv = P.matmul(t, inv_p.bind(r))
    qt_dx_rinv = P.matmul(_H(q, nd, c), dx_rinv)
    lower = qt_dx_rinv * np.broadcast_to(np.tril(np.ones((n, n), _rdt(a)), -1), nn)
    do = lower - _H(lower, nd, c)
    if c:
        # i·Im of the diagonal (the complex part of the gauge)
        do = do + (qt_dx_rinv - P.conj(qt_dx_rinv)) * (_eye(nn, _rdt(a)) * 0.5)
    dq = P.matmul(q, do - qt_dx_rinv) + dx_rinv
    dr = P.matmul(qt_dx_rinv - do, r)
    if complete and m != n:
        dq = _complete(dq, ans[0], n, nd, c)
        zeros = np.zeros(shape[:-2] + (m - n, n), dtype=np.result_type(ans[1].dtype))
        dr = P.concatenate_p.bind(dr, zeros, nd - 2, (n, m - n))
    return (dq, dr)


qr_p = defprim("linalg_qr", _qr_impl, 1, jvp_full=_qr_jvp, multiple_results=True,
               doc="j-towns' QR rule (m >= n)")


# ----------------------------------------------------------------------------
# pinv


def _pinv_impl(a, rcond, hermitian):
    return np.linalg.pinv(a, rcond=rcond, hermitian=hermitian)


def _pinv_jvp(t, ans, a, rcond, hermitian):
    # Golub & Pereyra: valid where the rank is locally constant
    shape = _shape(a)
    nd = len(shape)
    c = iscomplex(a)
    p = ans
    m, n = shape[-2:]
    ph = _H(p, nd, c)
    th = _H(t, nd, c)
    i_m = _eye(shape[:-2] + (m, m), _rdt(a))
    i_n = _eye(shape[:-2] + (n, n), _rdt(a))
    left = i_m - P.matmul(a, p)
    right = i_n - P.matmul(p, a)
    out = -P.matmul(p, P.matmul(t, p))
    out = out + P.matmul(P.matmul(p, ph), P.matmul(th, left))
    out = out + P.matmul(right, P.matmul(th, P.matmul(ph, p)))
    return out


pinv_p = defprim("linalg_pinv", _pinv_impl, 1, jvps=(_pinv_jvp,),
                 doc="dP = -P dA P + P Pᴴ dAᴴ (I - A P) + (I - P A) dAᴴ Pᴴ P")


# ----------------------------------------------------------------------------
# Batching: every primitive works on trailing axes, so the batch (axis 0)
# is one more leading axis; unbatched operands are broadcast.


def _trailing_rule(p):
    from ._vmap import _bcast

    def rule(size, vals, batched, *params):
        vals = [v if b else _bcast(v, size) for v, b in zip(vals, batched)]
        return p.bind(*vals, *params)
    return rule


def _register():
    from ._vmap import register_batch_rule
    for p in (inv_p, solve_p, det_p, cofactor_p, slogdet_p, cholesky_p, eigh_p, eig_p, svd_p, qr_p,
              pinv_p):
        register_batch_rule(p, _trailing_rule(p))


_register()
