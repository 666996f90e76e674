"""Every transformation at once: the derivatives of one function in grad,
jvp, vjp, jacfwd, jacrev, hessian, vmap (of grad), jit (second and third
calls) and Tensor.backward,
each compared with finite differences of ``f`` (tests/_fd.py) or with a
given closed form."""

from __future__ import annotations

import numpy as np
from _fd import check_grads, numerical_jvp

import wengert as wg
import wengert.numpy as wnp


def _scalarise(f, args, seed=7):
    """``g(*xs) = sum(W * f(*xs))`` with fixed random weights: a scalar with
    the same derivative information."""
    y = np.asarray(f(*args))
    w = np.random.default_rng(seed).uniform(0.5, 1.5, y.shape)

    def g(*xs):
        return wnp.sum(f(*xs) * w)
    return g


def _num_grad(g, args, i, eps=1e-6):
    x = np.asarray(args[i], dtype=float)
    out = np.zeros(x.shape)
    for k in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[k] = 1.0
        ts = [np.zeros(np.shape(a)) for a in args]
        ts[i] = e
        out[k] = numerical_jvp(g, args, ts, eps)
    return out


def _close(a, b, tol, what):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def all_modes(f, args, grads=None, hess=None, tol=1e-6, fd=True, order=2, vmap=True, tensor=True, jit=True):
    """Check ``f`` (arrays -> array) at ``args`` in every mode.

    ``grads``: the closed-form gradient of ``sum(f)`` for each argument (default:
    finite differences).  ``hess``: the closed-form Hessian of ``sum(f)`` w.r.t.
    argument 0 (default: finite differences of the gradient).
    """
    args = tuple(np.asarray(a, dtype=float) for a in args)
    if fd:
        check_grads(f, args, order=order, modes=("fwd", "rev"), tol=tol)
    if grads is not None:
        g = lambda *xs: wnp.sum(f(*xs))  # noqa: E731
        want = tuple(np.asarray(v, dtype=float) for v in grads)
    else:
        g = _scalarise(f, args)
        want = tuple(_num_grad(g, args, i) for i in range(len(args)))
    nums = tuple(range(len(args)))
    ftol = tol if grads is not None else max(tol, 1e-6)
    for name, got in (("grad", wg.grad(g, argnums=nums)(*args)),
                      ("value_and_grad", wg.value_and_grad(g, argnums=nums)(*args)[1]),
                      ("jacrev", wg.jacrev(g, argnums=nums)(*args)),
                      ("jacfwd", wg.jacfwd(g, argnums=nums)(*args)),
                      ("vjp", wg.vjp(g, *args)[1](1.0))):
        for i in nums:
            _close(got[i], want[i], ftol, f"{name} w.r.t. argument {i}")
    rng = np.random.default_rng(3)
    ts = tuple(rng.standard_normal(a.shape) for a in args)
    _, t = wg.jvp(g, args, ts)
    _close(t, sum(np.sum(w * v) for w, v in zip(want, ts)), ftol * 10, "jvp")
    if jit:
        jg = wg.jit(wg.grad(g, argnums=nums))
        for call in (1, 2, 3):
            got = jg(*args)
            for i in nums:
                _close(got[i], want[i], ftol, f"jit(grad) call {call} w.r.t. argument {i}")
        jj = wg.jit(g)
        jj(*args)
        _close(jj(*args), g(*args), 1e-12, "jit value, second call")
    if tensor:
        ts_ = [wg.tensor(a, requires_grad=True) for a in args]
        total = g(*ts_)
        if isinstance(total, wg.Tensor) and total.requires_grad:
            total.backward()
        for i, t in enumerate(ts_):
            got = np.zeros(args[i].shape) if t.grad is None else t.grad.data
            _close(got, want[i], ftol, f"Tensor.backward w.r.t. argument {i}")
    if vmap:
        gb = wg.vmap(wg.grad(g, argnums=nums))(*(np.stack([a, a]) for a in args))
        for i in nums:
            _close(gb[i][1], want[i], ftol, f"vmap(grad) w.r.t. argument {i}")
    if order >= 2:
        if hess is None and args[0].size <= 16:
            g0 = lambda x: wg.grad(g)(x, *args[1:])  # noqa: E731
            h = np.stack([numerical_jvp(g0, (args[0],), (e.reshape(args[0].shape),))
                          for e in np.eye(args[0].size)], axis=-1).reshape(args[0].shape * 2)
        else:
            h = hess
        if h is not None:
            hh = wg.hessian(g)(*args)
            _close(hh, h, max(tol, 1e-5), "hessian")
            if jit:
                _close(wg.jit(wg.hessian(g))(*args), h, max(tol, 1e-5), "jit(hessian)")
            _close(wg.jacrev(wg.jacfwd(g))(*args), h, max(tol, 1e-5), "jacrev(jacfwd)")
