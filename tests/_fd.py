"""The tests' own oracle: central finite differences in float64.

Independent of the code under test (it never calls wengert's numeric module):
checks JVPs and VJPs of ``f`` against differences of ``f`` along random
directions, and recursively the JVP/VJP functions themselves, which checks
second derivatives in all four fwd/rev combinations.
"""

from __future__ import annotations

import numpy as np

import wengert as wg


def _rand_like(rng, x):
    x = np.asarray(x)
    r = rng.standard_normal(x.shape)
    if np.iscomplexobj(x):
        r = r + 1j * rng.standard_normal(x.shape)
    return r.astype(x.dtype)


def _add(xs, vs, h):
    return tuple(np.asarray(x) + h * v for x, v in zip(xs, vs))


def _vdot(a, b):
    # JAX's convention: cotangents pair with tangents bilinearly, Re(sum(a * b))
    # (no conjugate), which is what makes grad(|z|**2) = 2 conj(z).
    return np.real(np.sum(np.asarray(a) * np.asarray(b)))


def numerical_jvp(f, args, tangents, eps=1e-6):
    """Central difference along ``tangents`` (4th-order accurate: Richardson)."""
    fp = np.asarray(f(*_add(args, tangents, eps)))
    fm = np.asarray(f(*_add(args, tangents, -eps)))
    fp2 = np.asarray(f(*_add(args, tangents, 2 * eps)))
    fm2 = np.asarray(f(*_add(args, tangents, -2 * eps)))
    return (8 * (fp - fm) - (fp2 - fm2)) / (12 * eps)


def _close(a, b, tol, what):
    a = np.asarray(a)
    b = np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert err <= tol * scale, f"{what}: max error {err:.3e} (tol {tol * scale:.1e})\nAD:\n{a}\nFD:\n{b}"


def check_jvp(f, args, rng, tol):
    ts = tuple(_rand_like(rng, a) for a in args)
    _, t_ad = wg.jvp(f, args, ts)
    t_fd = numerical_jvp(f, args, ts)
    _close(t_ad, t_fd, tol, "jvp vs finite differences")


def check_vjp(f, args, rng, tol):
    y, f_vjp = wg.vjp(f, *args)
    ct = _rand_like(rng, y)
    x_bars = f_vjp(ct)
    ts = tuple(_rand_like(rng, a) for a in args)
    t_fd = numerical_jvp(f, args, ts)
    lhs = sum(_vdot(xb, t) for xb, t in zip(x_bars, ts))
    rhs = _vdot(ct, t_fd)
    _close(lhs, rhs, tol, "vjp: <ct, J v> vs <J^T ct, v>")


def _flat(outs):
    import wengert.numpy as wnp
    if len(outs) == 1:
        return outs[0]
    return wnp.concatenate([wnp.ravel(o) for o in outs])


def check_grads(f, args, order=2, modes=("fwd", "rev"), tol=1e-6, rng=None):
    """Check derivatives of ``f`` at ``args`` up to ``order`` in ``modes``."""
    rng = np.random.default_rng(0) if rng is None else rng
    args = tuple(np.asarray(a, dtype=np.result_type(a, np.float64)) for a in args)
    if "fwd" in modes:
        check_jvp(f, args, rng, tol)
        if order > 1:
            ts = tuple(_rand_like(rng, a) for a in args)

            def f_jvp(*xs):
                return wg.jvp(f, xs, ts)[1]
            check_grads(f_jvp, args, order - 1, modes, tol * 10, rng)
    if "rev" in modes:
        check_vjp(f, args, rng, tol)
        if order > 1:
            y = np.asarray(f(*args))
            ct = _rand_like(rng, y)

            def f_vjp(*xs):
                return _flat(wg.vjp(f, *xs)[1](ct))
            check_grads(f_vjp, args, order - 1, modes, tol * 10, rng)
