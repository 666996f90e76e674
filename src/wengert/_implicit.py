"""Implicit differentiation: derivatives of solutions from the conditions
that define them (the implicit function theorem), never through the
iterations of the solver.

If ``x*(θ)`` solves ``F(x, θ) = 0`` and ``∂ₓF`` is invertible there, then

    ∂x*/∂θ · θ̇ = -(∂ₓF)⁻¹ ∂_θF · θ̇          (forward mode)
    θ̄ = -(∂_θF)ᵀ (∂ₓF)⁻ᵀ x̄                   (reverse mode)

* :func:`linear_solve` is one primitive, linear in ``b``: its JVP solves
  with the tangent (minus the matrix's own tangent times ``x``) and its
  transpose is the transposed solve, so reverse mode is the forward rule
  linearized and transposed (as ``jax.lax.custom_linear_solve``).
* :func:`custom_root` is a :class:`~wengert.custom_jvp` whose rule is the
  JVP above with the tangent solve done by :func:`linear_solve`; reverse mode
  transposes it.  The primal solve runs on concrete values in one primitive,
  so nothing of the iterations is recorded (memory O(1) in their number).
  The rule calls the function again on its primals, so derivatives of every
  order are implicit too.
* :func:`fixed_point`, :func:`root` and :func:`argmin` are
  :func:`custom_root` with ``F(x) = f(x) - x``, ``f`` and ``∇ₓf``.

>>> import wengert as wg, wengert.numpy as wnp
>>> sqrt = lambda a: wg.fixed_point(lambda x, a: 0.5 * (x + a / x), 1.0, a)
>>> float(sqrt(9.0)), float(wg.grad(sqrt)(9.0))          # 1 / (2 sqrt(9))
(3.0, 0.16666666666666666)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from . import numpy as wnp
from ._control import (
    Closure,
    LinearFn,
    _canon,
    _inexact,
    _stack,
    is_linearizing,
    record_linear,
)
from ._core import JVPTracer, Primitive, Tracer
from ._vmap import register_batch_rule
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["linear_solve", "custom_root", "fixed_point", "root", "argmin"]

_SCIPY_HINT = "install SciPy (pip install scipy, or pip install 'wengert[scipy]')"


def _name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _check_fn(f, what, caller):
    if not callable(f):
        raise TypeError(f"{caller}: {what} must be callable, got {type(f).__name__}")


def _scipy(caller, what):
    try:
        import scipy.optimize
        import scipy.sparse.linalg  # noqa: F401
    except ImportError:  # pragma: no cover - scipy is in the test extra
        raise ImportError(f"{caller}: {what} needs SciPy; {_SCIPY_HINT}") from None
    return scipy


def _concrete(x):
    """The concrete value of a leaf (the primitives' implementations only
    ever see these)."""
    return np.asarray(x)


# ----------------------------------------------------------------------------
# Flat vectors of pytrees (traced or concrete)


def _float_leaf(x):
    x = _canon(x)
    if not _inexact(x):
        x = wnp.asarray(x, dtype=np.float64)
    return x


def _ravel(leaves):
    if not any(isinstance(v, Tracer) for v in leaves):   # concrete: NumPy directly
        return np.concatenate([np.ravel(v) for v in leaves]) if len(leaves) > 1 else np.ravel(leaves[0])
    if len(leaves) == 1:
        return wnp.reshape(leaves[0], (-1,))
    return wnp.concatenate([wnp.reshape(v, (-1,)) for v in leaves])


class _Unravel:
    """Splits a flat vector back into leaves of the given shapes."""

    def __init__(self, leaves):
        self.shapes = [tuple(np.shape(v)) if not isinstance(v, Tracer) else tuple(v.shape)
                       for v in leaves]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.size = sum(self.sizes)

    def __call__(self, vec):
        if not isinstance(vec, Tracer):
            vec = np.asarray(vec)
            if len(self.shapes) == 1:
                return [vec.reshape(self.shapes[0])]
            return [vec[k - n:k].reshape(s) for s, n, k in
                    zip(self.shapes, self.sizes, np.cumsum(self.sizes))]
        if len(self.shapes) == 1:
            return [wnp.reshape(vec, self.shapes[0])]
        out, k = [], 0
        for s, n in zip(self.shapes, self.sizes):
            out.append(wnp.reshape(vec[k:k + n], s))
            k += n
        return out


# ----------------------------------------------------------------------------
# Linear solvers on concrete vectors: solve(matvec, b) -> x


def _materialise(matvec, n, dtype):
    eye = np.eye(n, dtype=dtype)
    return np.stack([np.asarray(matvec(eye[i])) for i in range(n)], axis=1)


def _solve_dense(matvec, b):
    A = _materialise(matvec, b.size, b.dtype)
    try:
        return np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(
            "linear_solve: the linear system is singular (at a solution of a root or "
            "fixed-point problem this means ∂F/∂x is not invertible there, so the implicit "
            "derivative does not exist)") from None


def _krylov(kind):
    def solve(matvec, b, tol=1e-12, maxiter=None):
        sp = _scipy("linear_solve", f"solve={kind!r}")
        n = b.size
        if not np.any(b):
            return np.zeros_like(b)
        op = sp.sparse.linalg.LinearOperator((n, n), matvec=lambda v: np.asarray(matvec(v)).ravel(),
                                             dtype=b.dtype)
        fn = getattr(sp.sparse.linalg, kind)
        kw = {"rtol": tol, "atol": 0.0, "maxiter": maxiter or 10 * n}
        if kind == "gmres":
            kw["restart"] = min(n, 50)
        x, info = fn(op, b, **kw)
        if info != 0:
            res = float(np.linalg.norm(np.asarray(matvec(x)) - b) / np.linalg.norm(b))
            raise RuntimeError(
                f"linear_solve: {kind} did not converge (scipy info={info}, relative residual "
                f"{res:.3g}); pass solve='dense' for a small system, solve='gmres' if the "
                "operator is not symmetric positive definite, or a solver of your own")
        return x
    return solve


_SOLVERS = {"dense": _solve_dense, "cg": _krylov("cg"), "gmres": _krylov("gmres"),
            "bicgstab": _krylov("bicgstab")}
_DENSE_MAX = 64


def _auto(symmetric):
    def solve(matvec, b):
        if b.size <= _DENSE_MAX:
            return _solve_dense(matvec, b)
        try:
            import scipy.sparse.linalg  # noqa: F401
        except ImportError:  # pragma: no cover
            return _solve_dense(matvec, b)
        return _SOLVERS["cg" if symmetric else "gmres"](matvec, b)
    return solve


def _pick_solver(solve, symmetric, caller, what="solve"):
    if solve is None or solve == "auto":
        return _auto(symmetric)
    if isinstance(solve, str):
        if solve not in _SOLVERS:
            raise ValueError(f"{caller}: {what}={solve!r} is not one of 'auto', "
                             f"{', '.join(repr(k) for k in _SOLVERS)}, or a function solve(matvec, b)")
        return _SOLVERS[solve]
    _check_fn(solve, what, caller)
    return None  # a user's function: wrapped by the caller


# ----------------------------------------------------------------------------
# The linear-solve primitive: x = A⁻¹ b with A given by a flat matvec
#
# operands: b (a flat vector), *consts (the traced values matvec captured)
# params:   mv (list -> list: [v, *consts] -> [A v]), solve (concrete), tsolve
#           (concrete solver for the transposed system, or None), symmetric, name


def _lsolve_impl(b, *rest):
    *consts, mv, solve, tsolve, symmetric, name = rest
    b = np.asarray(b)
    consts = list(consts)
    x = solve(lambda v: np.asarray(mv([v, *consts])[0]), b)
    x = np.asarray(x, dtype=b.dtype).reshape(b.shape)
    if not np.all(np.isfinite(x)) and np.all(np.isfinite(b)):
        raise FloatingPointError(f"linear_solve({name}): the solver returned non-finite values")
    return x


def _transposed(mv):
    """The flat matvec of Aᵀ: the VJP of the linear map v -> A v."""
    from ._api import vjp

    def mvT(args):
        u, *consts = args
        _, pull = vjp(lambda v: mv([v, *consts])[0], wnp.zeros_like(u))
        return [pull(u)[0]]
    return mvT


def _lsolve_T(ct, consts, params):
    mv, solve, tsolve, symmetric, name = params
    if ct is None:
        return None
    if symmetric:
        return lsolve_p.bind(ct, *consts, *params)
    return lsolve_p.bind(ct, *consts, _transposed(mv), tsolve or solve, solve, False, name + "ᵀ")


def _lsolve_jvp(trace, primals, tangents, params):
    mv = params[0]
    b, *consts = primals
    tb, *tcs = tangents
    if not isinstance(b, Tracer) and not np.any(b):
        x = np.zeros_like(np.asarray(b))   # a tangent-only call: the primal is zero
    else:
        x = lsolve_p.bind(b, *consts, *params)
    rhs = tb
    if any(t is not None for t in tcs):
        # ∂(A x)/∂consts at fixed x: the matrix's own tangent, moved to the right
        wrapped = [c if t is None else JVPTracer(trace, c, t) for c, t in zip(consts, tcs)]
        _, (dA_x,) = trace.split_outputs(list(mv([x, *wrapped])))
        if dA_x is not None:
            rhs = -dA_x if rhs is None else rhs - dA_x
    if rhs is None:
        return x
    if is_linearizing([rhs]):
        fn = LinearFn(f"linear_solve({params[-1]})",
                      lambda ts: [lsolve_p.bind(ts[0], *consts, *params)],
                      lambda cts: [_lsolve_T(cts[0], consts, params)], 1)
        return record_linear(trace, fn, [rhs], [x], [True])[0]
    return JVPTracer(trace, x, lsolve_p.bind(rhs, *consts, *params))


def _loop_batch(p):
    """Batching by solving each example on its own: the solvers run on
    concrete values, and a solver written for one problem need not accept a
    batch."""
    def rule(size, vals, batched, *params):
        outs = []
        for i in range(size):
            outs.append(p.bind(*[v[i] if b else v for v, b in zip(vals, batched)], *params))
        if p.multiple_results:
            return tuple(_stack(list(col)) for col in zip(*outs))
        return _stack(outs)
    return rule


lsolve_p = Primitive("linear_solve", _lsolve_impl, None, nparams=5,
                     doc="x = A⁻¹ b for a matrix-free A (differentiable in b and in A's values)")
lsolve_p.jvp_trace = _lsolve_jvp
register_batch_rule(lsolve_p, _loop_batch(lsolve_p))


def _user_solver(fn, unravel, tree, caller):
    """A user's ``solve(matvec, b)`` on pytrees, as a solver on flat vectors."""
    def solve(matvec_flat, b_flat):
        def matvec(x):
            leaves, t = tree_flatten(x)
            return tree_unflatten(tree, [np.asarray(v) for v in unravel(
                np.asarray(matvec_flat(np.concatenate([np.ravel(v) for v in leaves]))))])
        out = fn(matvec, tree_unflatten(tree, [np.asarray(v) for v in unravel(b_flat)]))
        leaves, t = tree_flatten(out)
        if t != tree:
            raise TypeError(f"{caller}: the solver returned structure {t}, expected {tree}")
        return np.concatenate([np.ravel(np.asarray(v)) for v in leaves])
    return solve


def linear_solve(matvec: Callable, b: Any, solve: Callable | str | None = None,
                 transpose_solve: Callable | str | None = None, *, symmetric: bool = False) -> Any:
    """The solution ``x`` of ``matvec(x) = b``, differentiable in ``b`` and in
    the values ``matvec`` captures, without differentiating the solver.

    ``matvec`` is a linear function (written with ``wengert.numpy``) from
    pytrees shaped like ``b`` to the same.  ``solve`` is how the system is
    solved on concrete values: ``"auto"`` (default: a dense solve after
    building the matrix with ``b.size`` matvecs for up to 64 unknowns,
    otherwise ``"cg"`` when ``symmetric`` else ``"gmres"``, from
    ``scipy.sparse.linalg``), ``"dense"``, ``"cg"``, ``"gmres"``,
    ``"bicgstab"``, or a function ``solve(matvec, b) -> x`` on NumPy pytrees.
    ``transpose_solve`` solves the transposed system (reverse mode), the same
    kinds of values; by default ``solve`` is used on ``vecmat`` (the transposed
    map, found by reverse mode through ``matvec``); ``symmetric=True`` says
    ``matvec`` is its own transpose.

    Derivatives: ``ẋ = A⁻¹ (ḃ - Ȧ x)`` in forward mode; reverse mode
    transposes that, ``b̄ = A⁻ᵀ x̄`` (as ``jax.lax.custom_linear_solve``).

    >>> import wengert as wg, wengert.numpy as wnp, numpy as np
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> f = lambda b: wnp.sum(wg.linear_solve(lambda x: A @ x, b, symmetric=True))
    >>> wg.grad(f)(np.array([1.0, 2.0])).round(6)          # A⁻ᵀ 1
    array([0.181818, 0.272727])
    """
    caller = f"linear_solve({_name(matvec)})"
    _check_fn(matvec, "matvec", caller)
    leaves, tree = tree_flatten(b)
    if not leaves:
        raise ValueError(f"{caller}: b has no arrays")
    leaves = [_float_leaf(v) for v in leaves]
    unravel = _Unravel(leaves)
    s = _pick_solver(solve, symmetric, caller)
    if s is None:
        s = _user_solver(solve, unravel, tree, caller)
    if transpose_solve is None:
        ts = None
    else:
        ts = _pick_solver(transpose_solve, symmetric, caller, "transpose_solve")
        if ts is None:
            ts = _user_solver(transpose_solve, unravel, tree, caller)
    clo = Closure(matvec)
    if not clo.complete:
        raise TypeError(f"{caller}: matvec captures a traced value in a way that cannot be made "
                        "an explicit operand (e.g. inside an object); capture it directly in a "
                        "closure variable or a tuple/list/dict")

    def mv(args):
        out = matvec(tree_unflatten(tree, unravel(args[0])))
        ol, ot = tree_flatten(out)
        if ot != tree:
            raise TypeError(f"{caller}: matvec returned structure {ot} for an input of structure {tree}")
        for o, s_ in zip(ol, unravel.shapes):
            sh = tuple(o.shape) if isinstance(o, Tracer) else np.shape(o)
            if sh != s_:
                raise TypeError(f"{caller}: matvec returned a leaf of shape {sh} where b has "
                                f"shape {s_}; matvec must map b's shapes to themselves")
        return [_ravel([_float_leaf(o) for o in ol])]

    x = lsolve_p.bind(_ravel(leaves), *clo.values, clo.wrap(mv, 1), s, ts, bool(symmetric),
                      _name(matvec))
    return tree_unflatten(tree, unravel(x))


# ----------------------------------------------------------------------------
# The primal solve as one primitive: concrete values in, no derivative
# (custom_root supplies it), one example at a time under vmap


def _solve_impl(*args):
    *leaves, run, name = args
    return tuple(run([np.asarray(v) for v in leaves]))


solve_p = Primitive("implicit_solve", _solve_impl, None, nparams=2, multiple_results=True,
                    doc="a root or fixed-point solver run on concrete values")
solve_p.jvp_trace = lambda trace, primals, tangents, params: solve_p.bind(*primals, *params)
register_batch_rule(solve_p, _loop_batch(solve_p))


def _implicit(F, x0, params, solve, tangent_solve, symmetric, caller):
    """``x*`` with ``F(x*, *params) = 0``, found by ``solve(Fc, x0) -> x`` on
    concrete values; derivatives by the implicit function theorem.

    ``F`` may capture traced values: they become operands of their own.
    """
    from ._api import jvp
    from ._custom import custom_jvp

    clo = Closure(F)
    if not clo.complete:
        raise TypeError(f"{caller}: the function captures a traced value in a way that cannot be "
                        "made an explicit operand; pass it as one of the extra arguments (*params)")
    consts = list(clo.values)
    subst = _Cells(clo)
    x_leaves, x_tree = tree_flatten(x0)
    if not x_leaves:
        raise ValueError(f"{caller}: the initial guess has no arrays")
    from ._api import stop_gradient
    x_leaves = [_float_leaf(stop_gradient(v) if isinstance(v, Tracer) else wnp.asarray(v))
                for v in x_leaves]
    unravel = _Unravel(x_leaves)
    x_dtypes = [np.dtype(v.dtype) for v in x_leaves]   # float32 stays float32
    nx = len(x_leaves)
    p_leaves, p_tree = tree_flatten(list(params))
    n_p = len(p_leaves)
    # Nothing below captures a traced value (the custom rule's closure
    # conversion would take it for a value it cannot differentiate): the
    # parameters and captured values arrive as operands.

    def Fx(x, ps, cs):
        """F with the captured values set to ``cs``."""
        with subst(cs):
            return F(x, *ps)

    def run(flat):
        xs, ps, cs = flat[:nx], flat[nx:nx + n_p], flat[nx + n_p:]
        ps = tree_unflatten(p_tree, ps)
        with subst(cs):
            x = solve(lambda x: F(x, *ps), tree_unflatten(x_tree, xs), ps)
        leaves, t = tree_flatten(x)
        if t != x_tree:
            raise TypeError(f"{caller}: the solver returned structure {t}; the initial guess has {x_tree}")
        return [np.asarray(v, dtype=dt).reshape(s) for v, s, dt in zip(leaves, unravel.shapes, x_dtypes)]

    def primal(x0_, ps, cs):
        flat = tree_flatten(x0_)[0] + tree_flatten(list(ps))[0] + list(cs)
        return tree_unflatten(x_tree, list(solve_p.bind(*[_canon(v) for v in flat], run, caller)))

    call = custom_jvp(primal)

    @call.defjvp
    def _(primals, tangents):
        x0_, ps, cs = primals
        _, tps, tcs = tangents
        xs = call(x0_, ps, cs)
        # rhs = -∂_θF(x*, θ) θ̇ over the inexact leaves of (params, captured values)
        th, th_tree = tree_flatten((list(ps), list(cs)))
        tth = tree_flatten((list(tps), list(tcs)))[0]
        m = [_inexact(_canon(v)) for v in th]
        if not any(m):
            return xs, tree_unflatten(x_tree, [wnp.zeros_like(v) for v in tree_flatten(xs)[0]])

        def F_theta(*vals):
            it = iter(vals)
            full = [next(it) if k else v for v, k in zip(th, m)]
            ps2, cs2 = tree_unflatten(th_tree, full)
            return _ravel([_float_leaf(o) for o in tree_flatten(Fx(xs, ps2, cs2))[0]])

        _, r_dot = jvp(F_theta, tuple(v for v, k in zip(th, m) if k),
                       tuple(t for t, k in zip(tth, m) if k))

        def matvec(v):   # ∂ₓF(x*, θ) v, on flat vectors
            return jvp(lambda x: _ravel([_float_leaf(o) for o in tree_flatten(
                Fx(tree_unflatten(x_tree, unravel(x)), ps, cs))[0]]),
                (_ravel(tree_flatten(xs)[0]),), (v,))[1]

        if r_dot.shape != (unravel.size,):
            raise TypeError(f"{caller}: F returned {r_dot.shape[0]} values for {unravel.size} "
                            "unknowns; a root problem needs as many equations as unknowns")
        if tangent_solve is None:
            x_dot = linear_solve(matvec, -r_dot, symmetric=symmetric)
        elif isinstance(tangent_solve, str):
            x_dot = linear_solve(matvec, -r_dot, solve=tangent_solve, symmetric=symmetric)
        else:
            # JAX's convention: tangent_solve(g, y) solves g(x) = y, with g linear;
            # reverse mode transposes it, so it must be written with wengert.numpy
            def g(v):
                return tree_unflatten(x_tree, unravel(matvec(_ravel([_float_leaf(w) for w in
                                                                     tree_flatten(v)[0]]))))
            sol = tangent_solve(g, tree_unflatten(x_tree, unravel(-r_dot)))
            x_dot = _ravel([_float_leaf(w) for w in tree_flatten(sol)[0]])
        return xs, tree_unflatten(x_tree, unravel(x_dot))

    # While the call is set up (and its rule run), F's cells hold placeholders:
    # the captured values reach F only as the explicit operands `consts`, so no
    # closure conversion further in finds the captured tracers themselves.
    with subst([_Placeholder()] * len(consts)):
        return call(tree_unflatten(x_tree, x_leaves), list(params), consts)


class _Placeholder:
    """Stands in a function's cell for a captured value passed explicitly."""


class _Cells:
    """The cells of a :class:`Closure`, without the captured values: ``with
    cells(values):`` puts ``values`` in them while the block runs."""

    def __init__(self, clo):
        self.slots = [(cell, tree, mask, [None if m else x for x, m in zip(leaves, mask)])
                      for cell, tree, mask, leaves in clo.slots]

    @contextlib.contextmanager
    def __call__(self, values):
        it = iter(values)
        saved = []
        try:
            for cell, tree, mask, leaves in self.slots:
                saved.append(cell.cell_contents)
                cell.cell_contents = tree_unflatten(tree, [next(it) if m else x
                                                           for x, m in zip(leaves, mask)])
            yield
        finally:
            for (cell, *_), old in zip(self.slots, saved):
                cell.cell_contents = old


def custom_root(f: Callable, initial_guess: Any, solve: Callable,
                tangent_solve: Callable | str | None = None, has_aux: bool = False) -> Any:
    """The root ``x`` of ``f(x) = 0`` found by ``solve(f, initial_guess)``,
    differentiated implicitly (as ``jax.lax.custom_root``).

    ``f`` may capture the values it depends on (parameters, traced or not);
    derivatives with respect to them come from the implicit function theorem,
    ``ẋ = -(∂ₓf)⁻¹ ∂_θf θ̇``, never through ``solve``'s iterations: ``solve``
    runs on concrete NumPy values, with any code (SciPy included).
    ``tangent_solve(g, y)`` solves the linear system ``g(x) = y`` (``g`` the
    Jacobian of ``f`` at the root, as a function); it must be written with
    ``wengert.numpy`` (reverse mode transposes it), e.g. ``lambda g, y: y /
    g(1.0)`` for a scalar.  ``None`` (default) or a solver name uses
    :func:`linear_solve`.  ``has_aux`` is accepted for JAX compatibility and
    must be False.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> def newton(f, x):
    ...     for _ in range(50):
    ...         x = x - f(x) / wg.grad(f)(x)
    ...     return x
    >>> cbrt = lambda a: wg.custom_root(lambda x: x ** 3 - a, 1.0, newton, lambda g, y: y / g(1.0))
    >>> round(float(cbrt(8.0)), 12), round(float(wg.grad(cbrt)(8.0)), 12)   # 1/(3 x²)
    (2.0, 0.083333333333)
    """
    caller = f"custom_root({_name(f)})"
    _check_fn(f, "f", caller)
    _check_fn(solve, "solve", caller)
    if has_aux:
        raise NotImplementedError(f"{caller}: has_aux=True is not supported; return the auxiliary "
                                  "values from a separate call")
    if tangent_solve is not None and not isinstance(tangent_solve, str):
        _check_fn(tangent_solve, "tangent_solve", caller)
    return _implicit(lambda x: f(x), initial_guess, (), lambda F, x0, ps: solve(F, x0),
                     tangent_solve, False, caller)


# ----------------------------------------------------------------------------
# Solvers: fixed points, roots, minima


def _flat_problem(F, x0):
    """(Fflat(vec) -> vec, x0 vector, back(vec) -> pytree) on concrete values."""
    leaves, tree = tree_flatten(x0)
    leaves = [np.asarray(v, dtype=np.result_type(np.asarray(v), np.float64)) for v in leaves]
    unravel = _Unravel(leaves)

    def back(v):
        return tree_unflatten(tree, unravel(v))

    def Ff(v):   # written with wnp, so jacfwd(Ff) works (Newton's Jacobian)
        return _ravel([_float_leaf(o) for o in tree_flatten(F(back(v)))[0]])

    return Ff, np.concatenate([v.ravel() for v in leaves]), back


def _check_opts(caller, tol, max_iter):
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"{caller}: tol must be a positive number, got {tol!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise ValueError(f"{caller}: max_iter must be a positive int, got {max_iter!r}")


def fixed_point(f: Callable, x0: Any, *params: Any, tol: float = 1e-10, max_iter: int = 1000,
                tangent_solve: str | Callable | None = None) -> Any:
    """The fixed point ``x = f(x, *params)`` by iteration from ``x0``,
    differentiable in ``params`` by the implicit function theorem.

    Iterates until ``‖x_{k+1} - x_k‖∞ ≤ tol (1 + ‖x_k‖∞)``; raises
    ``RuntimeError`` after ``max_iter`` iterations without convergence.
    Derivatives solve ``(I - ∂ₓf) ẋ = ∂_θf θ̇`` (and its transpose in reverse
    mode) with :func:`linear_solve` (``tangent_solve`` as there, or a
    function ``tangent_solve(g, y)``); memory does not grow with the number
    of iterations.  Forward and reverse mode, any order, ``vmap`` (one solve
    per example) and ``jit``.  ``x0`` and ``params`` may be pytrees; the
    derivative with respect to ``x0`` is zero.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> g = wg.grad(lambda a: wg.fixed_point(lambda x, a: wnp.cos(a * x), 0.5, a))
    >>> round(float(g(1.0)), 6)           # -x sin(x) / (1 + sin(x)) at x = cos(x)
    -0.297474
    """
    caller = f"fixed_point({_name(f)})"
    _check_fn(f, "f", caller)
    _check_opts(caller, tol, max_iter)

    def solve(F, x, ps):
        # F(x) = f(x) - x; iterate x <- F(x) + x = f(x)
        Ff, v, back = _flat_problem(F, x)
        for k in range(max_iter):
            step = Ff(v)
            v_new = v + step
            if not np.all(np.isfinite(v_new)):
                raise FloatingPointError(f"{caller}: the iteration produced non-finite values "
                                         f"after {k + 1} iterations; start closer to the fixed point")
            if np.max(np.abs(step), initial=0.0) <= tol * (1.0 + np.max(np.abs(v), initial=0.0)):
                return back(v_new)
            v = v_new
        raise RuntimeError(f"{caller}: no convergence in max_iter={max_iter} iterations (last change "
                           f"{np.max(np.abs(step)):.3g}, tol={tol:g}); raise max_iter, start closer, "
                           "or use wg.root (Newton) if f is not a contraction")

    def F(x, *ps):
        fx = f(x, *ps)
        fl, ft = tree_flatten(fx)
        xl, xt = tree_flatten(x)
        if ft != xt:
            raise TypeError(f"{caller}: f returned structure {ft} for x of structure {xt}")
        return tree_unflatten(xt, [a - b for a, b in zip(fl, xl)])

    return _implicit(F, x0, params, solve, tangent_solve, False, caller)


_SCIPY_ROOT = ("hybr", "lm", "krylov", "df-sane", "anderson", "linearmixing", "diagbroyden",
               "excitingmixing")


def _newton(caller, Ff, v, tol, max_iter, jac):
    fv = Ff(v)
    nrm = np.linalg.norm(fv)
    for _ in range(max_iter):
        if nrm <= tol * (1.0 + np.linalg.norm(v)) or nrm <= tol:
            return v
        J = jac(v)
        try:
            d = np.linalg.solve(J, -fv)
        except np.linalg.LinAlgError:
            d = np.linalg.lstsq(J, -fv, rcond=None)[0]
        step = 1.0
        while True:   # backtracking on ‖F‖
            vn = v + step * d
            fn = Ff(vn)
            nn = np.linalg.norm(fn)
            if np.isfinite(nn) and (nn <= (1 - 1e-4 * step) * nrm or step < 1e-8):
                break
            step *= 0.5
        v, fv, nrm = vn, fn, nn
    if nrm <= tol * (1.0 + np.linalg.norm(v)):
        return v
    raise RuntimeError(f"{caller}: no convergence in max_iter={max_iter} iterations (‖f‖ = {nrm:.3g}); "
                       "start closer to a root or try another method")


def _broyden(caller, Ff, v, tol, max_iter, jac):
    fv = Ff(v)
    J = jac(v)
    for _ in range(max_iter):
        nrm = np.linalg.norm(fv)
        if nrm <= tol * (1.0 + np.linalg.norm(v)):
            return v
        try:
            d = np.linalg.solve(J, -fv)
        except np.linalg.LinAlgError:
            J = jac(v)
            d = np.linalg.lstsq(J, -fv, rcond=None)[0]
        vn = v + d
        fn = Ff(vn)
        df = fn - fv
        J = J + np.outer(df - J @ d, d) / max(d @ d, 1e-300)   # Broyden's good update
        v, fv = vn, fn
    raise RuntimeError(f"{caller}: no convergence in max_iter={max_iter} iterations (‖f‖ = "
                       f"{np.linalg.norm(fv):.3g}); start closer to a root or use method='newton'")


def _jac_of(Ff):
    from ._api import jacfwd
    return lambda v: np.asarray(jacfwd(Ff)(v)).reshape(v.size, v.size)


def root(f: Callable, x0: Any, *params: Any, method: str = "newton", tol: float = 1e-10,
         max_iter: int = 100, tangent_solve: str | Callable | None = None) -> Any:
    """A root ``x`` of ``f(x, *params) = 0`` from ``x0``, differentiable in
    ``params`` by the implicit function theorem (``ẋ = -(∂ₓf)⁻¹ ∂_θf θ̇``).

    ``method``: ``"newton"`` (default; Jacobian by forward mode, backtracking
    on ``‖f‖``), ``"broyden"`` (one Jacobian, then rank-one updates), or a
    ``scipy.optimize.root`` method (``"hybr"``, ``"lm"``, ``"krylov"``, ...,
    SciPy required).  Converged when ``‖f(x)‖₂ ≤ tol (1 + ‖x‖₂)``, else
    ``RuntimeError``.  ``f`` must return as many values as ``x`` has.

    >>> import wengert as wg, wengert.numpy as wnp
    >>> r = lambda a: wg.root(lambda x, a: x ** 3 + x - a, 0.0, a)
    >>> float(r(2.0)), float(wg.grad(r)(2.0))                 # 1 / (3x² + 1) at x = 1
    (1.0, 0.25)
    """
    caller = f"root({_name(f)})"
    _check_fn(f, "f", caller)
    _check_opts(caller, tol, max_iter)
    if method not in ("newton", "broyden") + _SCIPY_ROOT:
        raise ValueError(f"{caller}: method={method!r} is not 'newton', 'broyden' or a "
                         f"scipy.optimize.root method ({', '.join(_SCIPY_ROOT)})")

    def solve(F, x, ps):
        Ff, v, back = _flat_problem(F, x)
        if Ff(v).shape != v.shape:
            raise TypeError(f"{caller}: f returned {Ff(v).size} values for {v.size} unknowns; a "
                            "root needs as many equations as unknowns (for least squares use wg.argmin)")
        if method in ("newton", "broyden"):
            fn = _newton if method == "newton" else _broyden
            return back(fn(caller, Ff, v, tol, max_iter, _jac_of(Ff)))
        sp = _scipy(caller, f"method={method!r}")
        kw = {"jac": _jac_of(Ff)} if method in ("hybr", "lm") else {}
        res = sp.optimize.root(Ff, v, method=method, tol=tol * 1e-2, **kw)
        nrm = np.linalg.norm(Ff(res.x))
        if not nrm <= 100 * tol * (1.0 + np.linalg.norm(res.x)):
            raise RuntimeError(f"{caller}: scipy.optimize.root(method={method!r}) did not converge "
                               f"(‖f‖ = {nrm:.3g}: {res.message})")
        return back(res.x)

    return _implicit(lambda x, *ps: f(x, *ps), x0, params, solve, tangent_solve, False, caller)


def argmin(f: Callable, x0: Any, *params: Any, method: str = "newton", tol: float = 1e-10,
           max_iter: int = 200, tangent_solve: str | Callable | None = None) -> Any:
    """A minimiser ``x*`` of the scalar ``f(x, *params)`` from ``x0``,
    differentiable in ``params`` at the optimality condition ``∇ₓf(x*) = 0``:
    ``ẋ = -(∇²ₓf)⁻¹ ∂_θ∇ₓf θ̇`` (a symmetric solve; CG for large ``x``).

    ``method``: ``"newton"`` (default: exact Hessian by forward-over-reverse,
    a step along the gradient where the Hessian is not positive definite, and
    backtracking on ``f``), or a ``scipy.optimize.minimize`` method
    (``"BFGS"``, ``"L-BFGS-B"``, ``"trust-exact"``, ..., SciPy required) fed
    wengert's gradient.  Converged when ``‖∇ₓf‖₂ ≤ tol (1 + |f|)`` (``1000 tol`` for
    SciPy's methods), else
    ``RuntimeError`` (a solution the derivative formula does not hold at would
    give wrong derivatives).  The Hessian must be invertible at ``x*``.

    >>> import wengert as wg, wengert.numpy as wnp, numpy as np
    >>> A = np.array([[3.0, 1.0], [1.0, 2.0]])
    >>> xstar = lambda b: wg.argmin(lambda x, b: 0.5 * x @ A @ x - b @ x, np.zeros(2), b)
    >>> np.allclose(wg.jacrev(xstar)(np.ones(2)), np.linalg.inv(A))   # x* = A⁻¹ b
    True
    """
    from ._api import grad, hessian, value_and_grad

    caller = f"argmin({_name(f)})"
    _check_fn(f, "f", caller)
    _check_opts(caller, tol, max_iter)

    def G(x, *ps):
        return grad(lambda z: f(z, *ps))(x)

    def solve(Gc, x, ps):
        leaves, tree = tree_flatten(x)
        unr = _Unravel([np.asarray(v) for v in leaves])

        def fv(v):
            out = f(tree_unflatten(tree, unr(v)), *ps)
            if np.shape(out) != ():
                raise TypeError(f"{caller}: f must return a scalar, got shape {np.shape(out)}")
            return out

        def back(v):
            return tree_unflatten(tree, [np.asarray(w) for w in unr(v)])

        v = np.concatenate([np.ravel(np.asarray(w, dtype=np.float64)) for w in leaves])
        vg = value_and_grad(fv)
        if method == "newton":
            val, gr = vg(v)
            for _ in range(max_iter):
                if np.linalg.norm(gr) <= tol * (1.0 + abs(float(val))):
                    return back(v)
                H = np.asarray(hessian(fv)(v)).reshape(v.size, v.size)
                try:
                    np.linalg.cholesky(H)
                    d = -np.linalg.solve(H, gr)
                except np.linalg.LinAlgError:
                    d = -gr
                step = 1.0
                while True:
                    vn = v + step * d
                    valn, grn = vg(vn)
                    if np.isfinite(valn) and (valn <= val + 1e-4 * step * (gr @ d) or step < 1e-10):
                        break
                    step *= 0.5
                v, val, gr = vn, valn, grn
            raise RuntimeError(f"{caller}: no convergence in max_iter={max_iter} Newton steps "
                               f"(‖∇f‖ = {np.linalg.norm(gr):.3g}); start closer or raise max_iter")
        sp = _scipy(caller, f"method={method!r}")
        uses_jac = method.lower() not in ("nelder-mead", "powell", "cobyla", "cobyqa")
        jac = (lambda w: np.asarray(grad(fv)(w))) if uses_jac else None
        res = sp.optimize.minimize(lambda w: float(fv(w)), v, jac=jac, method=method, tol=tol * 1e-2)
        gn = np.linalg.norm(np.asarray(grad(fv)(res.x)))
        if not gn <= 1e3 * tol * (1.0 + abs(float(res.fun))):
            raise RuntimeError(f"{caller}: scipy.optimize.minimize(method={method!r}) stopped with "
                               f"‖∇f‖ = {gn:.3g} ({res.message}); the implicit derivative needs a "
                               "stationary point: lower tol or use method='newton'")
        return back(res.x)

    return _implicit(G, x0, params, solve, tangent_solve, True, caller)
