"""One sparsity rule per primitive: which output elements depend on which
input elements, as patterns (:mod:`._pattern`).

A rule is ``rule(ins, outs, n, *params)``: ``ins`` one :class:`Operand` per
array argument (its pattern, shape and, for a true constant, its value),
``outs`` the output shapes, ``n`` the number of differentiated inputs; it
returns the output's pattern (a list for multiple results; ``None`` for no
dependence).  The rules are stored on the primitives' rows
(``Primitive.sparsity``, set here by :func:`wengert._prims.set_sparsity`).

Most structural rules push an index array through the primitive's own NumPy
implementation: ``impl(arange(size).reshape(shape), *params)`` says exactly
which input element lands where, so reshapes, transposes, broadcasts, any
indexing and padding need no rule of their own beyond that.

Exact (every dependence the primitive's derivative can have, no more, for
all inputs): elementwise functions, arithmetic (products and matrix
products also drop dependences on constant zeros), rearrangements, indexing,
scatter-adds, sums, concatenation, padding, cumulative sums, ``einsum``,
``select``, non-differentiable functions (no dependence).

Conservative (never missing a dependence, possibly more than at a given
point): ``maximum``/``minimum`` and ``max``/``min`` reductions (their
derivative follows the winner; the pattern keeps every candidate), the
linear-algebra primitives (each output of a matrix depends on the whole
matrix) and the FFTs (each output depends on every element along the
transformed axes), and any primitive without a rule (every output depends
on every input element).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _prims as P
from . import _pattern as pt

__all__ = ["Operand", "dense_rule", "RULES", "CONSERVATIVE", "register"]


class Operand:
    """What a rule knows about one array argument."""

    __slots__ = ("pat", "shape", "const")

    def __init__(self, pat, shape, const):
        self.pat = pat  # Pat, or None: no dependence on the inputs
        self.shape = shape
        self.const = const  # the value of a true constant (not traced), else None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dep(self) -> bool:
        return self.pat is not None and not self.pat.is_empty


_BMAP: dict = {}


def bmap(in_shape, out_shape):
    """Flat input index of each output element under broadcasting."""
    key = (in_shape, out_shape)
    r = _BMAP.get(key)
    if r is None:
        r = np.broadcast_to(np.arange(math.prod(in_shape)).reshape(in_shape), out_shape).ravel()
        if len(_BMAP) < 1024:
            _BMAP[key] = r
    return r


def _aligned(o: Operand, shape):
    """The operand's pattern laid out on an output of ``shape``."""
    if o.shape == shape:
        return o.pat
    return pt.gather(o.pat, bmap(o.shape, shape))


def _nonzero(c, shape):
    """Where a constant operand is nonzero, broadcast to ``shape`` (flat);
    ``True`` when it is nonzero everywhere."""
    c = np.asarray(c)
    if c.ndim and not any(c.strides):  # a broadcast single value (a sum's cotangent)
        c = np.asarray(c[(0,) * c.ndim])
    nz = c != 0
    if nz.all():
        return True
    return np.broadcast_to(nz, shape).ravel()


def elementwise(ins, outs, n, *params):
    shape = outs[0]
    rows = math.prod(shape)
    if len(outs) != 1 or any(o.shape != shape and o.shape != () and np.broadcast_shapes(o.shape, shape) != shape
                             for o in ins):
        return dense_rule(ins, outs, n)  # not elementwise after all: stay safe
    return pt.union([_aligned(o, shape) for o in ins if o.dep], rows, n)


def nondiff(ins, outs, n, *params):
    return None


def _mul_like(zero_kills):
    """Elementwise, and an operand's dependence is dropped where the other
    operand (a constant) is zero: ``zero_kills[i]`` lists those operands."""
    def rule(ins, outs, n, *params):
        shape = outs[0]
        pats = []
        for i, o in enumerate(ins):
            if not o.dep:
                continue
            p = _aligned(o, shape)
            for j in zero_kills[i]:
                c = ins[j].const
                if c is not None and ins[j].pat is None:
                    nz = _nonzero(c, shape)
                    if nz is not True:
                        p = pt.mask_rows(p, nz)
            pats.append(p)
        return pt.union(pats, math.prod(shape), n)
    return rule


mul_rule = _mul_like({0: (1,), 1: (0,)})
div_rule = _mul_like({0: (), 1: (0,)})  # d(c/y)/dy = -c/y² vanishes where c = 0


def select_rule(ins, outs, n, *params):
    c, x, y = ins
    shape = outs[0]
    rows = math.prod(shape)
    if c.pat is None and c.const is not None:  # a constant condition picks per element
        cond = np.broadcast_to(np.asarray(c.const, bool), shape).ravel()
        px = _aligned(x, shape) if x.dep else pt.empty(rows, n)
        py = _aligned(y, shape) if y.dep else pt.empty(rows, n)
        both = pt.stack_rows([px, py], [rows, rows], n)
        idx = np.arange(rows)
        return pt.gather(both, np.where(cond, idx, idx + rows))
    return pt.union([_aligned(o, shape) for o in (x, y) if o.dep], rows, n)


def convert_rule(ins, outs, n, dtype, in_dtype):
    if not np.issubdtype(np.dtype(dtype), np.inexact):
        return None
    return ins[0].pat


def imag_rule(ins, outs, n, *params):
    o = ins[0]
    return o.pat if o.const is None and o.dep else None


def _through_impl(p):
    """A rearrangement: push an index array through the implementation."""
    def rule(ins, outs, n, *params):
        o = ins[0]
        if not o.dep:
            return None
        idx = np.arange(o.size).reshape(o.shape)
        return pt.gather(o.pat, np.asarray(p.impl(idx, *params)).ravel())
    return rule


def getitem_rule(ins, outs, n, idx, in_shape):
    o = ins[0]
    if not o.dep:
        return None
    if P._is_basic(idx):
        key = (slice(None),) + tuple(idx)
        r = pt.on_slots(o.pat, o.shape, lambda t: t[key], outs[0])
        if r is not None:
            return r
    return _GENERIC["getitem"](ins, outs, n, idx, in_shape)


def transpose_rule(ins, outs, n, perm):
    o = ins[0]
    if not o.dep:
        return None
    axes = (0,) + tuple(int(i) + 1 for i in perm)
    r = pt.on_slots(o.pat, o.shape, lambda t: t.transpose(axes), outs[0])
    return r if r is not None else _GENERIC["transpose"](ins, outs, n, perm)


def broadcast_rule(ins, outs, n, shape, in_shape):
    o = ins[0]
    if not o.dep:
        return None
    shape = tuple(shape)
    lead = (1,) * (len(shape) - len(o.shape))

    def fn(t):
        return np.broadcast_to(t.reshape((t.shape[0],) + lead + tuple(o.shape)), (t.shape[0],) + shape)
    r = pt.on_slots(o.pat, o.shape, fn, shape)
    return r if r is not None else _GENERIC["broadcast_to"](ins, outs, n, shape, in_shape)


def reshape_rule(ins, outs, n, *params):
    return ins[0].pat  # row-major order is kept: element i stays element i


def scatter_add_rule(ins, outs, n, idx, shape):
    o = ins[0]
    if not o.dep:
        return None
    out_rows = math.prod(shape)
    if P._is_basic(idx):  # a basic index hits each position once: an inverse gather
        key = (slice(None),) + tuple(idx)

        def put(t):
            z = np.full((t.shape[0],) + tuple(shape), -1, t.dtype)
            z[key] = t
            return z
        r = pt.on_slots(o.pat, o.shape, put, shape)
        if r is not None:
            return r
        inv = np.full(shape, -1, np.int64)
        inv[idx] = np.arange(o.size).reshape(o.shape)
        return pt.gather(o.pat, inv.ravel(), neg=True)
    pos = np.arange(out_rows).reshape(shape)[idx]
    pos = np.broadcast_to(pos, o.shape).ravel()
    if np.unique(pos).size == pos.size:  # injective: an inverse gather
        inv = np.full(out_rows, -1, np.int64)
        inv[pos] = np.arange(pos.size)
        return pt.gather(o.pat, inv, neg=True)
    return pt.combine(o.pat, pos, np.arange(pos.size), out_rows)


def reduce_rule(ins, outs, n, axes, in_shape):
    o = ins[0]
    if not o.dep:
        return None
    return pt.group_union(o.pat, tuple(in_shape), tuple(axes))


def concat_rule(ins, outs, n, axis, sizes):
    shape = outs[0]
    if not any(o.dep for o in ins):
        return None
    offs = np.cumsum([0] + [o.size for o in ins])
    parts = [(np.arange(o.size) + off).reshape(o.shape) for o, off in zip(ins, offs)]
    r = np.concatenate(parts, axis=axis).ravel()
    stacked = pt.stack_rows([o.pat if o.dep else None for o in ins], [o.size for o in ins], n)
    assert r.size == math.prod(shape)
    return pt.gather(stacked, r)


def pad_rule(ins, outs, n, widths):
    o = ins[0]
    if not o.dep:
        return None
    inner = (slice(None),) + tuple(slice(int(lo), int(lo) + s) for (lo, _), s in zip(widths, o.shape))

    def put(t):
        z = np.full((t.shape[0],) + tuple(outs[0]), -1, t.dtype)
        z[inner] = t
        return z
    r = pt.on_slots(o.pat, o.shape, put, outs[0])
    if r is not None:
        return r
    r = np.pad(np.arange(1, o.size + 1).reshape(o.shape), widths).ravel() - 1
    return pt.gather(o.pat, r, neg=True)


def cumsum_rule(ins, outs, n, axis, reverse):
    o = ins[0]
    if not o.dep:
        return None
    shape = o.shape
    length = shape[axis]
    idx = np.moveaxis(np.arange(o.size).reshape(shape), axis, -1).reshape(-1, length)
    i, j = np.tril_indices(length) if not reverse else np.triu_indices(length)
    # output position (row, i) takes input (row, j) with j <= i (j >= i reversed)
    out_idx = idx[:, i].ravel()
    in_idx = idx[:, j].ravel()
    return pt.combine(o.pat, out_idx, in_idx, o.size)


def _contraction(ins, out_shape, n, a_sub, b_sub, o_sub, sizes):
    """Pattern of an einsum-like bilinear ``out[o] = Σ a[a_sub] b[b_sub]``:
    every term of the sum links its output element with its operands'
    elements (dropped where a constant operand is zero)."""
    a, b = ins
    labels = sorted(set(a_sub) | set(b_sub) | set(o_sub))
    full = tuple(sizes[c] for c in labels)
    grid = np.indices(full).reshape(len(labels), -1) if labels else np.zeros((0, 1), np.int64)
    pos = {c: grid[i] for i, c in enumerate(labels)}

    def flat(sub, shape):
        if not sub:
            return np.zeros(grid.shape[1], np.int64)
        return np.ravel_multi_index(tuple(pos[c] for c in sub), shape)

    ai = flat(a_sub, a.shape)
    bi = flat(b_sub, b.shape)
    oi = flat(o_sub, out_shape)
    rows = math.prod(out_shape)
    pats = []
    for me, other, mi, oth_i in ((a, b, ai, bi), (b, a, bi, ai)):
        if not me.dep:
            continue
        keep = None
        if other.pat is None and other.const is not None:
            keep = np.asarray(other.const).ravel()[oth_i] != 0
        o_idx, m_idx = (oi, mi) if keep is None else (oi[keep], mi[keep])
        pats.append(pt.combine(me.pat, o_idx, m_idx, rows))
    return pt.union(pats, rows, n)


def _matmul_subs(a_shape, b_shape):
    """einsum subscripts of np.matmul for these operand shapes."""
    letters = "abcdefghijklmnopqrstuvw"
    na, nb = len(a_shape), len(b_shape)
    if na == 1 and nb == 1:
        return "x", "x", ""
    if na == 1:
        batch = letters[:nb - 2]
        return "x", batch + "xz", batch + "z"
    if nb == 1:
        batch = letters[:na - 2]
        return batch + "yx", "x", batch + "y"
    nd = max(na, nb)
    batch = letters[:nd - 2]
    return batch[nd - na:] + "yx", batch[nd - nb:] + "xz", batch + "yz"


def matmul_rule(ins, outs, n, *params):
    a, b = ins
    if not (a.dep or b.dep):
        return None
    sa, sb, so = _matmul_subs(a.shape, b.shape)
    if any(x != y for x, y in zip(a.shape[:-2][::-1], b.shape[:-2][::-1])):
        return dense_rule(ins, outs, n)  # broadcast batch dimensions: conservative
    sizes = {}
    for sub, shape in ((sa, a.shape), (sb, b.shape)):
        for c, s in zip(sub, shape):
            sizes[c] = s
    return _contraction(ins, outs[0], n, sa, sb, so, sizes)


def einsum_rule(ins, outs, n, spec, sizes):
    left, o_sub = spec.split("->")
    a_sub, b_sub = left.split(",")
    if "." in spec:
        return dense_rule(ins, outs, n)
    return _contraction(ins, outs[0], n, a_sub, b_sub, o_sub, dict(sizes))


def _tangent_rule(base):
    """``op(xt, y) + op(x, yt)`` (reverse mode's tangent of a product)."""
    def rule(ins, outs, n, *params):
        xt, yt, x, y = ins
        return pt.union([base([xt, y], outs, n), base([x, yt], outs, n)], math.prod(outs[0]), n)
    return rule


def dense_rule(ins, outs, n, *params):
    """Every output element depends on every element of every input: the
    rule of a primitive without one (never misses a dependence)."""
    sets = [pt.union_all(o.pat) for o in ins if o.dep]
    u = np.unique(np.concatenate(sets)) if sets else np.empty(0, np.int64)
    res = [pt.row_of(u, math.prod(s), n) if u.size else None for s in outs]
    return res if len(res) != 1 else res[0]


def _batch_blocks(core_in):
    """Dense within each matrix of a batch: the leading dimensions (all but
    ``core_in`` of the first operand's) index independent problems."""
    def rule(ins, outs, n, *params):
        first = ins[0]
        nb = max(len(first.shape) - core_in, 0)
        batch = first.shape[:nb]
        if nb == 0 or any(tuple(o.shape[:nb]) != batch for o in ins) or \
                any(tuple(s[:nb]) != batch for s in outs):
            return dense_rule(ins, outs, n)
        nbatch = math.prod(batch)
        groups = []
        for o in ins:
            if not o.dep:
                continue
            per = o.size // nbatch if nbatch else 0
            g = np.repeat(np.arange(nbatch), per)
            groups.append(pt.combine(o.pat, g, np.arange(o.size), nbatch))
        if not groups:
            res = [None for _ in outs]
        else:
            blocks = pt.union(groups, nbatch, n)
            res = []
            for s in outs:
                per = math.prod(s) // nbatch if nbatch else 0
                res.append(pt.gather(blocks, np.repeat(np.arange(nbatch), per)))
        return res if len(res) != 1 else res[0]
    return rule


def _along_axes(get_axes):
    """Each output element depends on every input element that shares its
    coordinates outside the transformed axes (the FFTs)."""
    def rule(ins, outs, n, *params):
        o = ins[0]
        if not o.dep:
            return None
        axes = tuple(a % len(o.shape) for a in get_axes(o.shape, *params))
        blocks = pt.group_union(o.pat, o.shape, axes)
        out_shape = outs[0]
        if len(out_shape) != len(o.shape):
            return dense_rule(ins, outs, n)
        keep_shape = tuple(s for i, s in enumerate(out_shape) if i not in axes)
        g = np.expand_dims(np.arange(math.prod(keep_shape)).reshape(keep_shape), axes)
        return pt.gather(blocks, np.broadcast_to(g, out_shape).ravel())
    return rule


def gather_rule(ins, outs, n, size):
    """``flat[pos]`` (wengert.numpy's staged gather): row ``pos[e]`` of the
    operand, exact for known positions; every element otherwise."""
    flat, pos = ins
    if not flat.dep:
        return None
    if pos.const is None:
        return dense_rule(ins[:1], outs, n)
    return pt.gather(flat.pat, np.asarray(pos.const, np.int64).ravel())


def scatter_rule(ins, outs, n, size):
    """``zeros(size)`` with ``v`` added at ``pos`` (repeats accumulate)."""
    v, pos = ins
    if not v.dep:
        return None
    if pos.const is None:
        return dense_rule(ins[:1], outs, n)
    at = np.broadcast_to(np.asarray(pos.const, np.int64), v.shape).ravel()
    return pt.combine(v.pat, at, np.arange(at.size), int(size))


# operands that are integer positions: detection reads their values (the pattern
# is then local to the point, like any indexing with computed indices)
INDEX_ARGS = {"gather": 1, "scatter": 1}

RULES: dict = {}
_GENERIC: dict = {}  # index-map rules behind the strided fast paths

# Rows whose rule may keep more than the derivative at a given point (documented)
CONSERVATIVE = frozenset({
    "maximum", "minimum", "reduce_max", "reduce_min", "fft", "rfft", "irfft", "linalg_inv",
    "linalg_cofactor", "linalg_det", "linalg_slogdet", "linalg_cholesky", "linalg_eigh", "linalg_eig",
    "linalg_svd", "linalg_qr", "linalg_pinv", "linalg_solve",
    "scipy_solve_triangular", "scipy_solve_sylvester", "scipy_sqrtm", "scipy_expm", "scipy_expm_frechet",
    "scipy_lu_factor",
})
_SCIPY_LINALG = ("scipy_solve_triangular", "scipy_solve_sylvester", "scipy_sqrtm", "scipy_expm",
                 "scipy_expm_frechet", "scipy_lu_factor")


def register(name, rule):
    RULES[name] = rule


# Elementwise rows (named: a new primitive gets the dense rule until it has one)
ELEMENTWISE = (
    "neg", "add", "sub", "conj", "real", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "exp", "exp2", "expm1", "log",
    "log2", "log10", "log1p", "sqrt", "cbrt", "abs", "pow", "maximum", "minimum", "arctan2",
    "hypot", "logaddexp", "logaddexp2", "mod", "fmod", "gammaln", "digamma", "polygamma", "erf",
    "erfc", "erfinv", "expit", "log_ndtr", "ndtri",
    "gamma", "rgamma", "erfcx", "erfcinv", "j0", "j1", "y0", "y1", "i0", "i1", "i0e", "i1e", "jv", "yv",
    "iv", "ive", "yn", "gammainc", "gammaincc", "betainc", "stdtr",
)
_STRUCTURAL = ("reshape", "broadcast_to", "transpose", "getitem")


def _install():
    for name, p in P.REGISTRY.items():
        if p.nondiff:
            register(name, nondiff)
    register("gather", gather_rule)  # (rows of wengert.numpy._gather, found by name)
    register("scatter", scatter_rule)
    for name in _STRUCTURAL:
        _GENERIC[name] = _through_impl(P.REGISTRY[name])
        register(name, _GENERIC[name])
    register("reshape", reshape_rule)
    register("getitem", getitem_rule)
    register("transpose", transpose_rule)
    register("broadcast_to", broadcast_rule)
    for name in ELEMENTWISE:
        register(name, elementwise)
    register("mul", mul_rule)
    register("mul_safe", mul_rule)  # t * c, 0 where t = 0: a product's pattern
    register("div", div_rule)
    register("select", select_rule)
    register("convert_element_type", convert_rule)
    register("imag", imag_rule)
    register("scatter_add", scatter_add_rule)
    register("reduce_sum", reduce_rule)
    register("reduce_max", reduce_rule)  # conservative: every candidate of the max
    register("reduce_min", reduce_rule)
    register("concatenate", concat_rule)
    register("pad", pad_rule)
    register("cumsum", cumsum_rule)
    register("matmul", matmul_rule)
    register("einsum", einsum_rule)
    register("mul_tangent", _tangent_rule(mul_rule))
    register("matmul_tangent", _tangent_rule(matmul_rule))
    register("fft", _along_axes(lambda shape, axes, inverse, norm: axes))
    register("rfft", _along_axes(lambda shape, axis, nn, norm: (axis,)))
    register("irfft", _along_axes(lambda shape, axis, nn, norm: (axis,)))
    for name in ("linalg_inv", "linalg_cofactor", "linalg_det", "linalg_slogdet", "linalg_cholesky",
                 "linalg_eigh", "linalg_eig", "linalg_svd", "linalg_qr", "linalg_pinv", "linalg_solve",
                 *_SCIPY_LINALG):
        register(name, _batch_blocks(2))
    for name, rule in RULES.items():
        p = P.REGISTRY.get(name)
        if p is not None:
            P.set_sparsity(p, rule)


def _load_all_prims():
    from .. import _prims_fft, _prims_linalg, _prims_scipy_linalg, _prims_special  # noqa: F401  (their rows)


_load_all_prims()
_install()
