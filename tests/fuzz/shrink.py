"""Shrink a failing program while the same check fails the same way, and print
it as a standalone script that reproduces the failure.

Moves, tried until none applies (or the time budget is spent): drop a term of
the output; delete a statement (its later uses read a same-shaped earlier
value instead, or, for the output, any earlier value); drop an unused input;
round the inputs. Each candidate must still run on NumPy (the reference) and
make the same check fail with the same kind (for errors: the same exception
type and normalised message).
"""

from __future__ import annotations

import re
import time

import numpy as np

from . import checks as C
from .gen import Program, Stmt

_NAME = re.compile(r"\b([vx]\d+)\b")


def _uses(stmt: Stmt) -> set:
    text = "\n".join(stmt.lines[:-1] + [stmt.lines[-1].split("=", 1)[1]])
    return set(_NAME.findall(text))


def _subst(lines, old, new):
    rx = re.compile(rf"\b{old}\b")
    return [rx.sub(new, ln) for ln in lines]


def _outcome(prog, check, plain_numpy=False):
    res = C.run_program(prog, [check], plain_numpy=plain_numpy, timeout=20)[0]
    return res


def same_failure(a: C.Result, b: C.Result) -> bool:
    if b.status != "fail" or a.kind != b.kind:
        return False
    if a.kind.startswith("error:"):
        return a.signature == b.signature
    return True


def _valid(prog) -> bool:
    try:
        F = prog.reference()
        with np.errstate(all="raise"):
            for xs in (prog.inputs, prog.inputs2):
                y = np.asarray(F(*xs))
                if y.dtype != np.float64 or not np.all(np.isfinite(y)) or y.size == 0:
                    return False
    except Exception:
        return False
    return True


def _candidates(prog: Program):
    # 1. drop extra output terms
    for i in range(len(prog.out) - 1, 0, -1):
        q = prog.copy()
        del q.out[i]
        yield q
    # 2. delete statements, last first
    for idx in range(len(prog.stmts) - 1, -1, -1):
        st = prog.stmts[idx]
        later = prog.stmts[idx + 1:]
        used_later = any(st.name in _uses(s) for s in later)
        in_out = st.name in prog.out
        earlier = [(s.name, s.shape) for s in prog.stmts[:idx]]
        earlier = [(f"x{i}", np.shape(x)) for i, x in enumerate(prog.inputs)] + earlier
        if not used_later and not in_out:
            q = prog.copy()
            del q.stmts[idx]
            yield q
            continue
        same = [n for n, s in earlier if s == st.shape]
        # prefer the statement's own operands
        own = [n for n in _uses(st) if n in same]
        subs = own + [n for n in reversed(same) if n not in own]
        if in_out and not used_later:
            subs += [n for n, _ in reversed(earlier) if n not in subs][:3]
        for sub in subs[:4]:
            q = prog.copy()
            del q.stmts[idx]
            for s in q.stmts[idx:]:
                s.lines = _subst(s.lines, st.name, sub)
            q.out = [sub if n == st.name else n for n in q.out]
            q.out = list(dict.fromkeys(q.out))
            yield q
    # 3. drop unused inputs
    used = set()
    for s in prog.stmts:
        used |= _uses(s)
    used |= set(prog.out)
    for i in range(prog.nin - 1, -1, -1):
        if f"x{i}" in used or prog.nin == 1:
            continue
        q = prog.copy()
        del q.inputs[i]
        del q.inputs2[i]
        for j in range(i + 1, prog.nin):
            for s in q.stmts:
                s.lines = _subst(s.lines, f"x{j}", f"x{j - 1}")
            q.out = [f"x{j - 1}" if n == f"x{j}" else n for n in q.out]
        yield q
    # 4. round the inputs
    for digits in (1, 2, 4):
        q = prog.copy()
        q.inputs = [np.round(x, digits) for x in q.inputs]
        if any(not np.array_equal(a, b) for a, b in zip(q.inputs, prog.inputs)):
            yield q


def shrink(prog: Program, check: str, result: C.Result | None = None, budget_s: float = 30.0,
           plain_numpy: bool = False):
    """The smallest program found that fails ``check`` as ``prog`` does: (program, result)."""
    t0 = time.monotonic()
    if result is None:
        result = _outcome(prog, check, plain_numpy)
        if result.status != "fail":
            return prog, result
    best, best_res = prog, result
    changed = True
    while changed and time.monotonic() - t0 < budget_s:
        changed = False
        for q in _candidates(best):
            if time.monotonic() - t0 > budget_s:
                break
            if not _valid(q):
                continue
            r = _outcome(q, check, plain_numpy)
            if same_failure(result, r):
                best, best_res, changed = q, r, True
                break
    return best, best_res


# ---------------------------------------------------------------------------
# Rerunnable scripts


_FD = '''
def fd(fun, xs, vs, h=1e-5):
    """Central difference of fun along vs (Richardson, h and h/2)."""
    d = lambda t: (np.asarray(fun(*[x + t * v for x, v in zip(xs, vs)]))
                   - np.asarray(fun(*[x - t * v for x, v in zip(xs, vs)]))) / (2 * t)
    return (4 * d(h / 2) - d(h)) / 3

def fd2(S, xs, us, vs, h=1e-3):
    """u^T H v of a scalar S by a mixed second difference (Richardson)."""
    def m(h):
        s = lambda a, b: float(S(*[x + a * u + b * v for x, u, v in zip(xs, us, vs)]))
        return (s(h, h) - s(h, -h) - s(-h, h) + s(-h, -h)) / (4 * h * h)
    return (4 * m(h / 2) - m(h)) / 3

dot = lambda gs, vs: sum(float(np.sum(np.asarray(g) * v)) for g, v in zip(gs, vs))
'''

_SNIPPETS = {
    "value": '''f_np = {f_np}
print("wengert:", f(*xs))
print("NumPy:  ", f_np(*xs))''',
    "grad": '''g = wg.grad(S, argnums={argnums})(*xs)
print("AD:", dot(g, V1), "  FD:", float(fd(S, xs, V1)))''',
    "jvp": '''y, t = wg.jvp(f, xs, tuple(V1))
print("AD:", t, "\\nFD:", fd(f, xs, V1))''',
    "vjp": '''y, pull = wg.vjp(f, *xs)
print("AD:", dot(pull(U), V1), "  FD:", float(np.sum(U * fd(f, xs, V1))))''',
    "jacobians": '''jf = wg.jacfwd(f, argnums={argnums})(*xs)
jr = wg.jacrev(f, argnums={argnums})(*xs)
print("jacfwd:", jf, "\\njacrev:", jr)
print("W.jacfwd.V1:", dot([np.tensordot(W, j, axes=W.ndim) for j in jf], V1), "  FD:", float(fd(S, xs, V1)))''',
    "hessian": '''H = wg.hessian(S, argnums={argnums})(*xs)
H2 = wg.jacfwd(wg.jacrev(S, argnums={argnums}), argnums={argnums})(*xs)
hv = [sum(np.tensordot(H[i][j], V2[j], axes=np.ndim(xs[j])) for j in range(len(xs))) for i in range(len(xs))]
print("hessian:", H, "\\njacfwd(jacrev):", H2)
print("V1.H.V2 AD:", dot(hv, V1), "  FD:", fd2(S, xs, V1, V2))''',
    "jit": '''j = wg.jit(f)
for p in (xs, xs, xs2, xs2):
    print("jit(f):", j(*p), "\\n eager:", f(*p))
jg = wg.jit(wg.grad(S, argnums={argnums}))
for p in (xs, xs, xs2, xs2):
    print("jit(grad(S)).V1:", dot(jg(*p), V1), "  FD:", float(fd(S, p, V1)))''',
    "vmap": '''in_axes = {in_axes}
X = [x if a is None else np.stack([x, y], axis=a) for x, y, a in zip(xs, xsm, in_axes)]
print("vmap(f):", wg.vmap(f, in_axes=in_axes)(*X))
print("loop:   ", np.stack([f(*xs), f(*xsm)]))''',
    "tensor": '''ts = [wg.tensor(x, requires_grad=True) for x in xs]
(f(*ts) * wg.tensor(W)).sum().backward()
print("Tensor:", dot([t.grad.data for t in ts], V1), "  FD:", float(fd(S, xs, V1)))''',
    "grad_jit": '''g = wg.grad(wg.jit(S), argnums={argnums})
for p in (xs, xs, xs2):
    print("grad(jit(S)).V1:", dot(g(*p), V1), "  FD:", float(fd(S, p, V1)))''',
    "jit_vmap_grad": '''in_axes = {in_axes}
X = [x if a is None else np.stack([x, y], axis=a) for x, y, a in zip(xs, xsm, in_axes)]
fn = wg.jit(wg.vmap(wg.grad(S, argnums={argnums}), in_axes=in_axes))
for call in range(2):
    g = fn(*X)
    print("jit(vmap(grad)).V1, batch 0:", dot([gi[0] for gi in g], V1), "  FD:", float(fd(S, xs, V1)))''',
    "vmap_jit_grad": '''in_axes = {in_axes}
X = [x if a is None else np.stack([x, y], axis=a) for x, y, a in zip(xs, xsm, in_axes)]
fn = wg.vmap(wg.jit(wg.grad(S, argnums={argnums})), in_axes=in_axes)
for call in range(2):
    g = fn(*X)
    print("vmap(jit(grad)).V1, batch 0:", dot([gi[0] for gi in g], V1), "  FD:", float(fd(S, xs, V1)))''',
    "grad_checkpoint": '''cf = wg.checkpoint(f)
g = wg.grad(lambda *a: wnp.sum(cf(*a) * W), argnums={argnums})(*xs)
print("AD:", dot(g, V1), "  FD:", float(fd(S, xs, V1)))''',
    "jvp_grad": '''_, hv = wg.jvp(wg.grad(S, argnums={argnums}), xs, tuple(V2))
print("V1.H.V2 AD:", dot(hv, V1), "  FD:", fd2(S, xs, V1, V2))''',
    "tensor_double": '''ts = [wg.tensor(x, requires_grad=True) for x in xs]
loss = (f(*ts) * wg.tensor(W)).sum()
gs = wg.autograd_grad(loss, ts, create_graph=True)
z = sum((g * wg.tensor(v)).sum() for g, v in zip(gs, V2))
hv = wg.autograd_grad(z, ts)
print("V1.H.V2 AD:", dot([h.data for h in hv], V1), "  FD:", fd2(S, xs, V1, V2))''',
    "jit_exact": '''g = wg.grad(S, argnums={argnums})
j, jg = wg.jit(f), wg.jit(g)
for p in (xs, xs, xs2, xs2):
    print("jit(f) == f bit for bit:", np.array_equal(j(*p), f(*p)), repr(j(*p)), repr(f(*p)))
    print("jit(grad) == grad bit for bit:", all(np.array_equal(a, b) for a, b in zip(jg(*p), g(*p))))''',
    "jit_hessian": '''fn = wg.jit(wg.hessian(S, argnums={argnums}))
for p in (xs, xs, xs2):
    H = fn(*p)
    hv = [sum(np.tensordot(H[i][j], V2[j], axes=np.ndim(p[j])) for j in range(len(p))) for i in range(len(p))]
    print("V1.H.V2 AD:", dot(hv, V1), "  FD:", fd2(S, p, V1, V2))''',
}


def _arr(x):
    x = np.asarray(x)
    return f"np.array({x.tolist()!r})" if x.ndim else f"np.array({float(x)!r})"


def _tuple_src(arrs):
    return "(" + ", ".join(_arr(a) for a in arrs) + ("," if len(arrs) == 1 else "") + ")"


def repro_script(prog: Program, check: str, plain_numpy: bool = False, result: C.Result | None = None) -> str:
    """A standalone script: the program, its inputs, and the failing check's call."""
    ctx = C.Context.__new__(C.Context)
    # the same random directions/weights the check used
    rng = np.random.default_rng([prog.seed, 104729])
    y = np.asarray(prog.reference()(*prog.inputs))
    W = rng.uniform(0.5, 1.5, y.shape) * np.where(rng.random(y.shape) < 0.5, -1.0, 1.0)
    U = rng.standard_normal(y.shape)
    V1 = [rng.standard_normal(np.shape(x)) for x in prog.inputs]
    V2 = [rng.standard_normal(np.shape(x)) for x in prog.inputs]
    n = prog.nin
    in_axes = tuple(int(rng.choice([0, 0, -1])) if rng.random() < 0.75 else None for _ in range(n))
    if all(a is None for a in in_axes):
        in_axes = (0,) + in_axes[1:]
    xsm = [b if ax is not None else a for a, b, ax in zip(prog.inputs, prog.inputs2, in_axes)]
    del ctx
    out = []
    if result is not None:
        msg = (result.detail or "").strip().splitlines()
        out.append(f"# fuzz program seed {prog.seed}, check {check!r}: {result.kind}")
        out += [f"# {ln}" for ln in msg[:6]]
    out.append(prog.source(plain_numpy).rstrip("\n"))
    out.append(f"xs = {_tuple_src(prog.inputs)}")
    out.append(f"xs2 = {_tuple_src(prog.inputs2)}")
    out.append(f"xsm = {_tuple_src(xsm)}")
    out.append(f"W = {_arr(W)}")
    out.append(f"U = {_arr(U)}")
    out.append(f"V1 = [{', '.join(_arr(v) for v in V1)}]")
    out.append(f"V2 = [{', '.join(_arr(v) for v in V2)}]")
    out.append("S = lambda *a: wnp.sum(f(*a) * W)")
    out.append(_FD.strip("\n"))
    f_np = "None"
    if check == "value":
        src = prog.body_source(plain_numpy=True, name="f_np")
        out.append(src.rstrip("\n"))
        f_np = "f_np"
    out.append(_SNIPPETS[check].format(argnums=tuple(range(n)), in_axes=in_axes, f_np=f_np))
    return "\n".join(out) + "\n"
