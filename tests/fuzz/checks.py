"""The finite-difference oracle and the checks run on every random program.

The oracle never calls wengert: it runs the program on plain NumPy (see
``gen.RefWG``) and takes central differences along random directions at two
step sizes, h and h/2. Their Richardson combination is the reference
derivative; their difference (plus a rounding term) is its error estimate. A
point is *unstable* (the check is skipped and counted) where the second
differences at h and h/2 do not scale as h² — a kink, a tie that moves, or a
jump (``floor``, a ``where`` on a traced condition, a ``cond``) within h of
the point.

Every check compares with tolerance ``2·(FD error estimate) + RTOL·scale``,
``scale`` the magnitude of the terms being compared (at least 1).

Checks (names as on the command line):

* ``value``: ``f`` on NumPy arrays (wnp eagerly) vs the NumPy reference.
* ``grad``: ``wg.grad`` of ``S = sum(f(x) * W)`` w.r.t. all inputs, contracted
  with two directions, vs the FD directional derivatives.
* ``jvp``, ``vjp``: ``wg.jvp`` tangent (elementwise) and ``<vjp(U), v>``.
* ``jacobians``: ``jacfwd ≡ jacrev`` elementwise, and ``J·v`` vs FD.
* ``hessian``: ``hessian(S) ≡ jacfwd(jacrev(S))`` and ``v1ᵀ H v2`` vs a mixed
  second difference (Richardson, with its own error estimate).
* ``jit``: ``jit(f)`` and ``jit(grad(S))`` called at p1, p1, p2, p2 (the 1st
  call traces, the 2nd compiles).
* ``vmap``: ``vmap(f, in_axes)`` vs a Python loop over the batch.
* ``tensor``: ``wg.Tensor`` ``.backward()``.
* ``grad_jit``: ``grad(jit(S))``; ``jit_vmap_grad``: ``jit(vmap(grad(S)))``;
  ``vmap_jit_grad``: ``vmap(jit(grad(S)))``; ``grad_checkpoint``:
  ``grad(S∘checkpoint(f))``; ``jvp_grad``: ``jvp(grad(S))`` = H·v;
  ``tensor_double``: Tensor double backward (create_graph) = H·v;
  ``jit_hessian``: ``jit(hessian(S))`` at p1, p1, p2. Second derivatives are judged against a mixed
  second difference at three steps (Richardson on the two smallest, consistency of all three).
* ``jit_exact``: ``jit(f)`` and ``jit(grad(S))`` equal eager wengert bit for bit (sign of zero
  included) at every call.  Through control flow (a staged loop or ``cond``), reverse mode under jit
  linearizes at run time and adds the same cotangents in another order, so ``jit(grad(S))`` of such a
  program is held to a few ulps (``EXACT_CF_RTOL``) instead.
"""

from __future__ import annotations

import re
import signal
import warnings

import numpy as np

EPS = np.finfo(np.float64).eps
H1 = 1e-4          # first-order step
H2 = 1e-3          # second-order (mixed) steps: H2, H2/2, H2/4
RTOL = 1e-6        # relative tolerance of derivative checks
VTOL = 1e-8        # relative tolerance of values (rounding only)
AD_TOL = 1e-8      # two AD results that must agree (jacfwd vs jacrev, ...)

ALL_CHECKS = ["value", "grad", "jvp", "vjp", "jacobians", "hessian", "jit", "vmap", "tensor",
              "grad_jit", "jit_vmap_grad", "vmap_jit_grad", "grad_checkpoint", "jvp_grad",
              "tensor_double", "jit_hessian", "jit_exact"]
DEFAULT_CHECKS = list(ALL_CHECKS)
EXACT_CF_RTOL = 64 * EPS  # jit(grad(S)) vs grad(S) through staged control flow: reassociated sums
_CONTROL_FLOW = re.compile(r"wg\.(while_loop|fori_loop|scan|cond|checkpoint)\(")


class CheckFailure(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Unstable(Exception):
    """The oracle cannot judge this point (a kink/jump within the step)."""


class Unsupported(Exception):
    """A documented refusal (a clear error the docs promise), not a defect."""


class ProgramTimeout(BaseException):
    pass


# documented refusals: (check substring or None, exception type name, message regex). A clear error
# that the docs promise is counted as "refused", not as a failure: data-dependent operations under
# jit/vmap (wengert's jit traces shapes and values once; indexing by a traced integer, sort
# permutations, ...), and the second reverse derivative of a while_loop inside jit.
DOCUMENTED = [
    (None, "ValueError", r"second reverse derivative of a while_loop"),
    ("jit", "ConcretizationError", r"data-dependent operation"),
    ("vmap", "ConcretizationError", r"data-dependent operation"),
    ("vmap", "TypeError", r"needs a concrete value, but got a traced value .* inside jit or vmap"),
    ("jit", "TypeError", r"needs a concrete value, but got a traced value .* inside jit or vmap"),
]


def error_kind(e: BaseException) -> str:
    return f"error:{type(e).__name__}"


def error_signature(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    msg = re.sub(r"0x[0-9a-f]+", "#", msg)
    msg = re.sub(r"\d+", "#", msg)
    return f"{type(e).__name__}: {msg[:90]}"


# ---------------------------------------------------------------------------
# The oracle


def _tup_add(xs, vs, t):
    return [x + t * v for x, v in zip(xs, vs)]


def _vdot(a, b):
    return float(np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)))


class Oracle:
    """FD directional derivatives of the reference program, with error estimates."""

    def __init__(self, F, W):
        self.F = F
        self.W = W
        self._cache = {}

    def _eval(self, xs):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.asarray(self.F(*xs), dtype=np.float64)
        except Exception as e:
            raise Unstable(f"the reference fails near the point: {type(e).__name__}: {e}") from None

    def value(self, key, xs):
        k = ("value", key)
        if k not in self._cache:
            self._cache[k] = self._eval(xs)
        return self._cache[k]

    def jvp(self, key, xs, vs, vkey):
        """(R, err) arrays shaped like f's output; raises Unstable."""
        k = ("jvp", key, vkey)
        if k in self._cache:
            r = self._cache[k]
            if isinstance(r, Unstable):
                raise r
            return r
        try:
            r = self._jvp(xs, vs)
        except Unstable as e:
            self._cache[k] = e
            raise
        self._cache[k] = r
        return r

    def _jvp(self, xs, vs):
        h = H1
        f0 = self._eval(xs)
        fp, fm = self._eval(_tup_add(xs, vs, h)), self._eval(_tup_add(xs, vs, -h))
        fp2, fm2 = self._eval(_tup_add(xs, vs, h / 2)), self._eval(_tup_add(xs, vs, -h / 2))
        allv = np.stack([f0, fp, fm, fp2, fm2])
        if not np.all(np.isfinite(allv)):
            raise Unstable("non-finite value near the point")
        fmax = float(np.max(np.abs(allv))) if allv.size else 0.0
        noise = 16 * EPS * max(fmax, 1e-300)
        a = fp - 2 * f0 + fm            # ~ h^2 f''
        b = fp2 - 2 * f0 + fm2          # ~ h^2 f'' / 4 when smooth
        bad = np.abs(b - a / 4) > 0.1 * np.abs(a) + 4 * noise
        if np.any(bad):
            raise Unstable("second differences do not scale as h^2 (kink, tie or jump within the step)")
        d1 = (fp - fm) / (2 * h)
        d2 = (fp2 - fm2) / h
        r = (4 * d2 - d1) / 3
        err = np.abs(d2 - d1) + 8 * noise / h
        return r, err

    def dirderiv(self, key, xs, vs, vkey):
        """<W, J v> and its error."""
        r, err = self.jvp(key, xs, vs, vkey)
        return _vdot(self.W, r), _vdot(np.abs(self.W), err), _vdot(np.abs(self.W), np.abs(r))

    def mixed(self, key, xs, us, vs):
        """u^T H v of S = sum(F * W) by a mixed second difference: (M, err)."""
        k = ("mixed", key)
        if k in self._cache:
            r = self._cache[k]
            if isinstance(r, Unstable):
                raise r
            return r
        try:
            r = self._mixed(xs, us, vs)
        except Unstable as e:
            self._cache[k] = e
            raise
        self._cache[k] = r
        return r

    def _mixed(self, xs, us, vs):
        def S(t, s):
            return _vdot(self.W, self._eval([x + t * u + s * v for x, u, v in zip(xs, us, vs)]))

        def M(h):
            vals = [S(h, h), S(h, -h), S(-h, h), S(-h, -h)]
            return (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h * h), max(abs(v) for v in vals)

        # three steps: for a smooth function M(h) = M + c h^2 + O(h^4), so successive differences shrink
        # by 4; a kink or jump crossed by one step but not the next breaks that (a kink at a distance
        # between the steps can make two steps agree with each other and not with the derivative)
        (m1, s1), (m2, s2), (m3, s3) = M(H2), M(H2 / 2), M(H2 / 4)
        if not all(np.isfinite(m) for m in (m1, m2, m3)):
            raise Unstable("non-finite value near the point")
        noise = 8 * EPS * max(s1, s2, s3) / (H2 / 4) ** 2
        d1, d2 = m1 - m2, m2 - m3
        if abs(d2 - d1 / 4) > 0.1 * abs(d1) + 4 * noise:
            raise Unstable("mixed second differences do not scale as h^2 (kink, tie or jump within the step)")
        r = (4 * m3 - m2) / 3
        err = abs(d2) + noise
        if err > 1e-2 * max(1.0, abs(r)):
            raise Unstable("mixed second difference does not converge")
        return r, err


# ---------------------------------------------------------------------------
# Comparisons


def _is_result(r) -> bool:
    return isinstance(r, (np.ndarray, np.generic, float, int))


def _as_array(r, what):
    if not _is_result(r):
        raise CheckFailure("leak", f"{what} returned {type(r).__module__}.{type(r).__name__}, not a NumPy value")
    return np.asarray(r)


def close_values(got, ref, what, tol=VTOL):
    got = _as_array(got, what)
    ref = np.asarray(ref)
    if got.shape != ref.shape:
        raise CheckFailure("shape", f"{what}: shape {got.shape}, NumPy gives {ref.shape}")
    if got.dtype != ref.dtype and not (got.dtype.kind == ref.dtype.kind == "f"):
        raise CheckFailure("dtype", f"{what}: dtype {got.dtype}, NumPy gives {ref.dtype}")
    if got.size == 0:
        return
    if not np.all(np.isfinite(got)):
        raise CheckFailure("nan", f"{what}: non-finite result {got!r}")
    scale = max(1.0, float(np.max(np.abs(ref))))
    err = float(np.max(np.abs(got - ref)))
    if err > tol * scale:
        raise CheckFailure("wrong", f"{what}: max error {err:.3e} (tol {tol * scale:.1e})\n"
                                    f"got:\n{got}\nexpected:\n{ref}")


def close_ad(a, b, what):
    """Two AD results that must agree elementwise."""
    a = _as_array(a, what)
    b = _as_array(b, what)
    if a.shape != b.shape:
        raise CheckFailure("shape", f"{what}: shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not (np.all(fa) and np.all(fb)):
        raise CheckFailure("nan", f"{what}: non-finite entries\n{a}\n{b}")
    scale = max(1.0, float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    err = float(np.max(np.abs(a - b)))
    if err > AD_TOL * scale:
        raise CheckFailure("wrong", f"{what}: max difference {err:.3e} (tol {AD_TOL * scale:.1e})\n{a}\n{b}")


def close_scalar(got, ref, err, scale, what):
    if not np.isfinite(got):
        raise CheckFailure("nan", f"{what}: AD gives {got}, finite differences {ref:.10g}")
    tol = 2 * err + RTOL * max(1.0, scale)
    if abs(got - ref) > tol:
        raise CheckFailure("wrong", f"{what}: AD {got:.10g}, finite differences {ref:.10g} "
                                    f"(difference {abs(got - ref):.2e}, tol {tol:.1e})")


def _check_grad_tuple(g, xs, n, what):
    if not isinstance(g, (tuple, list)) or len(g) != n:
        raise CheckFailure("structure", f"{what}: expected a tuple of {n} gradients, got {type(g).__name__}")
    out = []
    for i, (gi, x) in enumerate(zip(g, xs)):
        gi = _as_array(gi, what)
        if gi.shape != np.shape(x):
            raise CheckFailure("shape", f"{what}: gradient {i} has shape {gi.shape}, input {np.shape(x)}")
        out.append(gi)
    return out


# ---------------------------------------------------------------------------
# The context one program's checks share


class Context:
    def __init__(self, prog, plain_numpy=False):
        from . import gen
        self.prog = prog
        self.plain_numpy = plain_numpy
        self.n = prog.nin
        self.argnums = tuple(range(self.n))
        rng = np.random.default_rng([prog.seed, 104729])
        self.F = prog.reference()
        self.p1 = [np.array(x, dtype=np.float64) for x in prog.inputs]
        self.p2 = [np.array(x, dtype=np.float64) for x in prog.inputs2]
        y = np.asarray(self.F(*self.p1))
        self.out_shape = y.shape
        self.W = rng.uniform(0.5, 1.5, y.shape) * np.where(rng.random(y.shape) < 0.5, -1.0, 1.0)
        self.U = rng.standard_normal(y.shape)
        self.V1 = [rng.standard_normal(np.shape(x)) for x in self.p1]
        self.V2 = [rng.standard_normal(np.shape(x)) for x in self.p1]
        self.in_axes = tuple(int(rng.choice([0, 0, -1])) if rng.random() < 0.75 else None for _ in range(self.n))
        if all(a is None for a in self.in_axes):
            self.in_axes = (0,) + self.in_axes[1:]
        self.pm = [b if ax is not None else a for a, b, ax in zip(self.p1, self.p2, self.in_axes)]
        self.oracle = Oracle(self.F, self.W)
        self.f = prog.compile(gen.wengert_namespace(plain_numpy), plain_numpy)
        import wengert.numpy as wnp
        W, f = self.W, self.f
        self.S = lambda *xs: wnp.sum(f(*xs) * W)
        self.points = {"p1": self.p1, "p2": self.p2, "pm": self.pm}

    # -- oracle-based judgements ------------------------------------------
    def judge_grad(self, g, key, what):
        """g: tuple of gradients of S at point ``key``; checked along V1 and V2."""
        xs = self.points[key]
        g = _check_grad_tuple(g, xs, self.n, what)
        judged = 0
        for vkey, vs in (("V1", self.V1), ("V2", self.V2)):
            try:
                ref, err, scale = self.oracle.dirderiv(key, xs, vs, vkey)
            except Unstable:
                continue
            got = sum(_vdot(gi, vi) for gi, vi in zip(g, vs))
            scale = max(scale, sum(_vdot(np.abs(gi), np.abs(vi)) for gi, vi in zip(g, vs)))
            close_scalar(got, ref, err, scale, f"{what} at {key}, <grad, {vkey}>")
            judged += 1
        if not judged:
            raise Unstable("finite differences unstable in every direction")

    def judge_hvp(self, hv, key, what):
        """hv: tuple H·V2 at ``key``; checked as V1ᵀ H V2."""
        xs = self.points[key]
        hv = _check_grad_tuple(hv, xs, self.n, what)
        ref, err = self.oracle.mixed(key, xs, self.V1, self.V2)
        self._first_order_stable(key)
        got = sum(_vdot(a, b) for a, b in zip(hv, self.V1))
        scale = max(abs(ref), sum(_vdot(np.abs(a), np.abs(b)) for a, b in zip(hv, self.V1)))
        close_scalar(got, ref, err, scale, f"{what} at {key}, V1ᵀ H V2")

    def _first_order_stable(self, key):
        xs = self.points[key]
        for vkey, vs in (("V1", self.V1), ("V2", self.V2)):
            self.oracle.jvp(key, xs, vs, vkey)

    def judge_value(self, got, key, what):
        ref = self.oracle.value(key, self.points[key])
        if not np.all(np.isfinite(ref)):
            raise Unstable("reference value not finite")
        close_values(got, ref, what)


# ---------------------------------------------------------------------------
# The checks


def c_value(ctx):
    ctx.judge_value(ctx.f(*ctx.p1), "p1", "f(x)")


def c_grad(ctx):
    import wengert as wg
    ctx.judge_grad(wg.grad(ctx.S, argnums=ctx.argnums)(*ctx.p1), "p1", "grad")


def c_jvp(ctx):
    import wengert as wg
    y, t = wg.jvp(ctx.f, tuple(ctx.p1), tuple(ctx.V1))
    ctx.judge_value(y, "p1", "jvp primal")
    r, err = ctx.oracle.jvp("p1", ctx.p1, ctx.V1, "V1")
    t = _as_array(t, "jvp tangent")
    if t.shape != r.shape:
        raise CheckFailure("shape", f"jvp tangent: shape {t.shape}, expected {r.shape}")
    if not np.all(np.isfinite(t)):
        raise CheckFailure("nan", f"jvp tangent: non-finite {t}")
    tol = 2 * err + RTOL * max(1.0, float(np.max(np.abs(r))) if r.size else 1.0)
    bad = np.abs(t - r) > tol
    if np.any(bad):
        i = np.unravel_index(np.argmax(np.abs(t - r) - tol), r.shape) if r.ndim else ()
        raise CheckFailure("wrong", f"jvp tangent: element {i}: AD {t[i]:.10g}, finite differences {r[i]:.10g}")


def c_vjp(ctx):
    import wengert as wg
    y, pull = wg.vjp(ctx.f, *ctx.p1)
    ctx.judge_value(y, "p1", "vjp primal")
    g = pull(ctx.U)
    g = _check_grad_tuple(g, ctx.p1, ctx.n, "vjp")
    judged = 0
    for vkey, vs in (("V1", ctx.V1), ("V2", ctx.V2)):
        try:
            r, err = ctx.oracle.jvp("p1", ctx.p1, vs, vkey)
        except Unstable:
            continue
        ref = _vdot(ctx.U, r)
        got = sum(_vdot(gi, vi) for gi, vi in zip(g, vs))
        scale = max(_vdot(np.abs(ctx.U), np.abs(r)), sum(_vdot(np.abs(gi), np.abs(vi)) for gi, vi in zip(g, vs)))
        close_scalar(got, ref, _vdot(np.abs(ctx.U), err), scale, f"vjp <vjp(U), {vkey}> vs <U, J {vkey}>")
        judged += 1
    if not judged:
        raise Unstable("finite differences unstable in every direction")


def c_jacobians(ctx):
    import wengert as wg
    jf = wg.jacfwd(ctx.f, argnums=ctx.argnums)(*ctx.p1)
    jr = wg.jacrev(ctx.f, argnums=ctx.argnums)(*ctx.p1)
    for i in range(ctx.n):
        a = _as_array(jf[i], "jacfwd")
        b = _as_array(jr[i], "jacrev")
        want = ctx.out_shape + np.shape(ctx.p1[i])
        if a.shape != want:
            raise CheckFailure("shape", f"jacfwd[{i}]: shape {a.shape}, expected {want}")
        close_ad(a, b, f"jacfwd[{i}] vs jacrev[{i}]")
    # J·V1 against the oracle (through W, as a gradient)
    g = tuple(np.tensordot(ctx.W, _as_array(jf[i], "jacfwd"), axes=len(ctx.out_shape)) for i in range(ctx.n))
    ctx.judge_grad(g, "p1", "Wᵀ·jacfwd")


def c_hessian(ctx):
    import wengert as wg
    H = wg.hessian(ctx.S, argnums=ctx.argnums)(*ctx.p1)
    H2 = wg.jacfwd(wg.jacrev(ctx.S, argnums=ctx.argnums), argnums=ctx.argnums)(*ctx.p1)
    for i in range(ctx.n):
        for j in range(ctx.n):
            a = _as_array(H[i][j], "hessian")
            want = np.shape(ctx.p1[i]) + np.shape(ctx.p1[j])
            if a.shape != want:
                raise CheckFailure("shape", f"hessian[{i}][{j}]: shape {a.shape}, expected {want}")
            close_ad(a, H2[i][j], f"hessian[{i}][{j}] vs jacfwd(jacrev)[{i}][{j}]")
    hv = _hvp_from_hessian(ctx, H)
    ctx.judge_hvp(hv, "p1", "hessian")


def _hvp_from_hessian(ctx, H):
    out = []
    for i in range(ctx.n):
        acc = np.zeros(np.shape(ctx.p1[i]))
        for j in range(ctx.n):
            a = np.asarray(H[i][j])
            acc = acc + np.tensordot(a, ctx.V2[j], axes=np.ndim(ctx.p1[j]))
        out.append(acc)
    return tuple(out)


def c_jit(ctx):
    import wengert as wg
    j = wg.jit(ctx.f)
    for call, key in enumerate(("p1", "p1", "p2", "p2")):
        ctx.judge_value(j(*ctx.points[key]), key, f"jit(f) call {call + 1}")
    jg = wg.jit(wg.grad(ctx.S, argnums=ctx.argnums))
    _judge_calls(ctx, jg, ("p1", "p1", "p2", "p2"), "jit(grad(S))")


def c_jit_exact(ctx):
    """jit's rewrites preserve values bit for bit: jit(f) and jit(grad(S)) equal eager wengert exactly
    (NaN-for-NaN, and the sign of zero), at every call."""
    import wengert as wg
    cf = bool(_CONTROL_FLOW.search(ctx.prog.source()))
    for name, eager, fn in (("jit(f)", ctx.f, wg.jit(ctx.f)),
                            ("jit(grad(S))", wg.grad(ctx.S, argnums=ctx.argnums),
                             wg.jit(wg.grad(ctx.S, argnums=ctx.argnums)))):
        for call, key in enumerate(("p1", "p1", "p2", "p2")):
            xs = ctx.points[key]
            want = eager(*xs)
            got = fn(*xs)
            want = want if isinstance(want, tuple) else (want,)
            got = got if isinstance(got, tuple) else (got,)
            for k, (a, b) in enumerate(zip(got, want)):
                a = _as_array(a, name)
                b = np.asarray(b)
                if a.shape != b.shape or a.dtype != b.dtype:
                    raise CheckFailure("shape" if a.shape != b.shape else "dtype",
                                       f"{name} call {call + 1}, output {k}: {a.dtype}{list(a.shape)}, "
                                       f"eager {b.dtype}{list(b.shape)}")
                if cf and name != "jit(f)":
                    scale = np.max(np.abs(b[np.isfinite(b)]), initial=0.0)
                    same = np.isclose(a, b, rtol=EXACT_CF_RTOL, atol=EXACT_CF_RTOL * scale, equal_nan=True)
                else:
                    same = (a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b))
                if not np.all(same):
                    i = np.unravel_index(np.argmin(same), a.shape) if a.ndim else ()
                    raise CheckFailure("not-bitwise", f"{name} call {call + 1} at {key}, output {k}, element {i}: "
                                                      f"jit {a[i]!r}, eager {b[i]!r}")


def _judge_calls(ctx, fn, keys, what):
    judged = 0
    for call, key in enumerate(keys):
        g = fn(*ctx.points[key])
        try:
            ctx.judge_grad(g, key, f"{what} call {call + 1}")
            judged += 1
        except Unstable:
            pass
    if not judged:
        raise Unstable("finite differences unstable at every point")


def _batch(ctx, order):
    out = []
    for i, ax in enumerate(ctx.in_axes):
        if ax is None:
            out.append(ctx.p1[i])
        else:
            out.append(np.stack([ctx.points[k][i] for k in order], axis=ax))
    return out


def c_vmap(ctx):
    import wengert as wg
    X = _batch(ctx, ("p1", "pm"))
    got = _as_array(wg.vmap(ctx.f, in_axes=ctx.in_axes)(*X), "vmap(f)")
    ref = np.stack([ctx.oracle.value("p1", ctx.p1), ctx.oracle.value("pm", ctx.pm)])
    if not np.all(np.isfinite(ref)):
        raise Unstable("reference value not finite")
    close_values(got, ref, f"vmap(f, in_axes={ctx.in_axes})")


def _judge_batched_grad(ctx, g, order, what):
    if not isinstance(g, (tuple, list)) or len(g) != ctx.n:
        raise CheckFailure("structure", f"{what}: expected a tuple of {ctx.n} gradients")
    judged = 0
    for b, key in enumerate(order):
        gb = []
        for i in range(ctx.n):
            gi = _as_array(g[i], what)
            want = (2,) + np.shape(ctx.p1[i])
            if gi.shape != want:
                raise CheckFailure("shape", f"{what}: gradient {i} has shape {gi.shape}, expected {want}")
            gb.append(gi[b])
        try:
            ctx.judge_grad(tuple(gb), key, f"{what}, batch element {b}")
            judged += 1
        except Unstable:
            pass
    if not judged:
        raise Unstable("finite differences unstable at every point")


def c_jit_vmap_grad(ctx):
    import wengert as wg
    fn = wg.jit(wg.vmap(wg.grad(ctx.S, argnums=ctx.argnums), in_axes=ctx.in_axes))
    for call, order in enumerate((("p1", "pm"), ("p1", "pm"), ("pm", "p1"))):
        _judge_batched_grad(ctx, fn(*_batch(ctx, order)), order, f"jit(vmap(grad(S))) call {call + 1}")


def c_vmap_jit_grad(ctx):
    import wengert as wg
    fn = wg.vmap(wg.jit(wg.grad(ctx.S, argnums=ctx.argnums)), in_axes=ctx.in_axes)
    for call, order in enumerate((("p1", "pm"), ("p1", "pm"), ("pm", "p1"))):
        _judge_batched_grad(ctx, fn(*_batch(ctx, order)), order, f"vmap(jit(grad(S))) call {call + 1}")


def c_grad_jit(ctx):
    import wengert as wg
    fn = wg.grad(wg.jit(ctx.S), argnums=ctx.argnums)
    _judge_calls(ctx, fn, ("p1", "p1", "p2"), "grad(jit(S))")


def c_grad_checkpoint(ctx):
    import wengert as wg
    import wengert.numpy as wnp
    cf = wg.checkpoint(ctx.f)
    W = ctx.W
    fn = wg.grad(lambda *xs: wnp.sum(cf(*xs) * W), argnums=ctx.argnums)
    ctx.judge_grad(fn(*ctx.p1), "p1", "grad(checkpoint(f))")


def c_jvp_grad(ctx):
    import wengert as wg
    _, hv = wg.jvp(wg.grad(ctx.S, argnums=ctx.argnums), tuple(ctx.p1), tuple(ctx.V2))
    ctx.judge_hvp(hv, "p1", "jvp(grad(S))")


def _tensors(ctx):
    import wengert as wg
    return [wg.tensor(x.copy(), requires_grad=True) for x in ctx.p1]


def _tensor_loss(ctx, ts):
    import wengert as wg
    y = ctx.f(*ts)
    if not isinstance(y, wg.Tensor):
        raise CheckFailure("leak", f"f(Tensors) returned {type(y).__name__}, not a Tensor")
    return (y * wg.tensor(ctx.W)).sum()


def _tensor_grads(ts, what):
    out = []
    for t in ts:
        g = t.grad
        out.append(np.zeros(t.shape) if g is None else np.asarray(g.data if hasattr(g, "data") else g))
    return tuple(out)


def c_tensor(ctx):
    ts = _tensors(ctx)
    loss = _tensor_loss(ctx, ts)
    if not loss.requires_grad:      # f is piecewise constant here (floor, sign, ...): the gradient is zero
        ctx.judge_grad(tuple(np.zeros(t.shape) for t in ts), "p1", "Tensor.backward (constant loss)")
        return
    loss.backward()
    ctx.judge_grad(_tensor_grads(ts, "Tensor.backward"), "p1", "Tensor.backward")


def c_tensor_double(ctx):
    import wengert as wg
    ts = _tensors(ctx)
    loss = _tensor_loss(ctx, ts)
    if not loss.requires_grad:      # constant loss: H = 0
        ctx.judge_hvp(tuple(np.zeros(t.shape) for t in ts), "p1", "Tensor double backward (constant loss)")
        return
    gs = wg.autograd_grad(loss, ts, create_graph=True, allow_unused=True)
    z = None
    for g, v in zip(gs, ctx.V2):
        if g is None:
            continue
        term = (g * wg.tensor(v)).sum()
        z = term if z is None else z + term
    if z is None or not getattr(z, "requires_grad", False):
        hv = (None,) * len(ts)     # the gradient is constant: H = 0
    else:
        hv = wg.autograd_grad(z, ts, allow_unused=True)
    hv = tuple(np.zeros(t.shape) if h is None else np.asarray(h.data) for h, t in zip(hv, ts))
    ctx.judge_hvp(hv, "p1", "Tensor double backward")


def c_jit_hessian(ctx):
    import wengert as wg
    fn = wg.jit(wg.hessian(ctx.S, argnums=ctx.argnums))
    judged = 0
    for call, key in enumerate(("p1", "p1", "p2")):
        H = fn(*ctx.points[key])
        for i in range(ctx.n):
            for j in range(ctx.n):
                _as_array(H[i][j], "jit(hessian)")
        hv = _hvp_from_hessian(ctx, H)
        try:
            ctx.judge_hvp(hv, key, f"jit(hessian(S)) call {call + 1}")
            judged += 1
        except Unstable:
            pass
    if not judged:
        raise Unstable("finite differences unstable at every point")


CHECKS = {
    "value": c_value, "grad": c_grad, "jvp": c_jvp, "vjp": c_vjp, "jacobians": c_jacobians,
    "hessian": c_hessian, "jit": c_jit, "vmap": c_vmap, "tensor": c_tensor, "grad_jit": c_grad_jit,
    "jit_vmap_grad": c_jit_vmap_grad, "vmap_jit_grad": c_vmap_jit_grad, "grad_checkpoint": c_grad_checkpoint,
    "jvp_grad": c_jvp_grad, "tensor_double": c_tensor_double, "jit_hessian": c_jit_hessian,
    "jit_exact": c_jit_exact,
}
assert list(CHECKS) == ALL_CHECKS


# ---------------------------------------------------------------------------
# Running


class Result:
    __slots__ = ("check", "status", "kind", "detail", "signature")

    def __init__(self, check, status, kind="", detail="", signature=""):
        self.check, self.status, self.kind, self.detail, self.signature = check, status, kind, detail, signature

    def as_dict(self):
        return {"check": self.check, "status": self.status, "kind": self.kind, "detail": self.detail,
                "signature": self.signature}

    def __repr__(self):
        return f"Result({self.check}, {self.status}, {self.kind})"


def _documented(check, e):
    name = type(e).__name__
    for c, t, rx in DOCUMENTED:
        if (c is None or c in check) and t == name and re.search(rx, str(e)):
            return True
    return False


def run_check(ctx, check) -> Result:
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            CHECKS[check](ctx)
    except Unstable as e:
        return Result(check, "skip", "unstable", str(e))
    except Unsupported as e:
        return Result(check, "skip", "unsupported", str(e))
    except CheckFailure as e:
        return Result(check, "fail", e.kind, e.detail, f"{e.kind}")
    except ProgramTimeout:
        raise
    except RecursionError as e:
        return Result(check, "fail", "error:RecursionError", str(e)[:300], "RecursionError")
    except Exception as e:
        if _documented(check, e):
            return Result(check, "skip", "refused", f"{type(e).__name__}: {e}"[:300], error_signature(e))
        return Result(check, "fail", error_kind(e), f"{type(e).__name__}: {e}"[:2000], error_signature(e))
    return Result(check, "pass")


def _alarm(signum, frame):
    raise ProgramTimeout()


def run_program(prog, checks=None, plain_numpy=False, timeout=None) -> list:
    """Run ``checks`` (default DEFAULT_CHECKS) on ``prog``; a list of Results."""
    checks = list(checks or DEFAULT_CHECKS)
    out = []
    use_alarm = timeout and hasattr(signal, "setitimer")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        try:
            ctx = Context(prog, plain_numpy)
        except ProgramTimeout:
            return [Result(c, "fail", "timeout", "timed out building the program", "timeout") for c in checks]
        except Exception as e:   # the program itself does not compile: a fuzzer bug
            return [Result(c, "fail", "fuzzer", f"{type(e).__name__}: {e}", "fuzzer") for c in checks]
        for i, c in enumerate(checks):
            try:
                out.append(run_check(ctx, c))
            except ProgramTimeout:
                out.append(Result(c, "fail", "timeout", f"program timed out ({timeout} s) in check {c}", "timeout"))
                out += [Result(c2, "skip", "timeout", "an earlier check timed out") for c2 in checks[i + 1:]]
                break
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    return out
