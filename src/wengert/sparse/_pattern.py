"""Index sets of many array elements at once: the sparsity patterns that
detection pushes through a program.

A :class:`Pat` is a boolean ``(rows, n)`` matrix: row ``e`` is the set of
input indices that element ``e`` of a variable depends on.  Two storages:

* **ELL** (the fast one): an integer array ``(k, rows)`` of input indices
  (slot ``j`` of every row is one contiguous array), ``-1`` for "none", no
  repeats within a row (order arbitrary).  Gathers, broadcasts and unions of
  short rows are plain NumPy indexing on it.
* **CSR** (the general one): a ``scipy.sparse.csr_matrix``, used for general
  linear maps (matrix products, cumulative sums, scatter-adds) and whenever
  rows are so uneven that ELL would waste memory.

Every operation takes and returns :class:`Pat` and converts between the two
as needed.  Patterns are never mutated after construction, so one pattern
may be shared by many variables (elementwise functions return their input's).
"""

from __future__ import annotations

import math

import numpy as np

_INT = np.int64


def _eldt(n):
    """ELL entries: int32 while the input indices fit (half the memory traffic)."""
    return np.int32 if n < 2**31 - 1 else np.int64


def scipy_sparse():
    """``scipy.sparse``, or an ImportError saying how to install it."""
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - the test extra has scipy
        raise ImportError("wengert's sparse Jacobians and Hessians need SciPy: "
                          "pip install 'wengert[scipy]' (or pip install scipy)") from None
    return sp


class Pat:
    """A boolean ``(rows, n)`` dependence pattern (see the module docstring)."""

    __slots__ = ("rows", "n", "_ell", "_csr", "_empty", "subs")

    def __init__(self, rows, n, ell=None, csr=None, subs=()):
        self.rows = rows
        self.n = n
        self._ell = ell
        self._csr = csr
        self._empty = None
        # patterns known to be contained in this one (a union's operands): a
        # later union with one of them is this pattern again, at no cost
        self.subs = subs

    # -- storage ------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        e = self._empty
        if e is None:
            if self._ell is not None and self._ell is not False:
                a = self._ell
                # (a first entry that is not a hole settles it without a pass)
                e = a.size == 0 or (a.flat[0] < 0 and not (a >= 0).any())
            else:
                e = self._csr.nnz == 0
            self._empty = e
        return e

    def contains(self, other) -> bool:
        return other is self or any(q is other for q in self.subs)

    def ell(self):
        """The ELL array, or ``None`` when the rows are too uneven for it."""
        if self._ell is None:
            self._ell = _csr_to_ell(self._csr)
        return None if self._ell is False else self._ell

    def csr(self):
        if self._csr is None:
            self._csr = _ell_to_csr(self._ell, self.n)
        return self._csr

    @property
    def k(self) -> int:
        """Width of the ELL array (an upper bound of the longest row)."""
        e = self.ell()
        if e is None:
            return int(np.diff(self._csr.indptr).max(initial=0))
        return e.shape[0]


def empty(rows: int, n: int) -> Pat:
    return Pat(rows, n, ell=np.empty((0, rows), _eldt(n)))


def identity(n: int) -> Pat:
    return Pat(n, n, ell=np.arange(n, dtype=_eldt(n))[None, :])


def from_csr(m) -> Pat:
    return Pat(m.shape[0], m.shape[1], csr=m)


def _index_arrays(indices, indptr, nnz, n):
    """Index arrays in the dtype scipy would choose (int32 when they fit),
    so that building the matrix copies nothing."""
    dt = np.int32 if max(nnz, n) < 2**31 - 1 else _INT
    return indices.astype(dt, copy=False), indptr.astype(dt, copy=False)


def _ell_to_csr(a, n, sort=False):
    sp = scipy_sparse()
    k, rows = a.shape
    if sort and k > 1:
        a = np.sort(a, axis=0)
    if k == 1:
        mask = a[0] >= 0
        indices = a[0][mask]
        counts = mask
    else:
        mask = a >= 0
        indices = a.T[mask.T]
        counts = mask.sum(axis=0)
    indptr = np.zeros(rows + 1, _INT)
    np.cumsum(counts, out=indptr[1:])
    ind, ptr = _index_arrays(indices, indptr, indices.size, n)
    m = sp.csr_matrix((np.ones(ind.size, bool), ind, ptr), shape=(rows, n))
    m.has_sorted_indices = bool(sort or k <= 1)
    if sort or k <= 1:
        m.has_canonical_format = True
    return m


def _csr_to_ell(m):
    rows = m.shape[0]
    m.sum_duplicates()
    counts = np.diff(m.indptr)
    k = int(counts.max(initial=0))
    nnz = int(m.nnz)
    if rows * k > 4 * nnz + 65536:
        return False
    a = np.full((k, rows), -1, _eldt(m.shape[1]))
    if nnz:
        r = np.repeat(np.arange(rows), counts)
        pos = np.arange(nnz) - np.repeat(m.indptr[:-1], counts)
        a[pos, r] = m.indices
    return a


# ----------------------------------------------------------------------------
# Operations


def gather(p: Pat, r, neg: bool = False) -> Pat:
    """Rows ``p[r[i]]``: every rearrangement (transpose, broadcast, slicing,
    indexing, padding) is one.  With ``neg``, ``r[i] < 0`` means an empty row."""
    r = np.asarray(r, _INT)
    neg = neg and r.size and r.min() < 0
    a = p.ell()
    if a is not None:
        if a.shape[0] == 0:
            return Pat(r.size, p.n, ell=np.empty((0, r.size), a.dtype))
        out = np.take(a, r, axis=1)  # (several times faster than a[:, r])
        if neg:
            out[:, r < 0] = -1
        return Pat(r.size, p.n, ell=out)
    sp = scipy_sparse()
    m = p.csr()
    if neg:
        keep = r >= 0
        sel = sp.diags(keep.astype(bool), format="csr")
        out = sel @ m[np.where(keep, r, 0)]
    else:
        out = m[r]
    return Pat(r.size, p.n, csr=out.tocsr())


def on_slots(p: Pat, in_shape, fn, out_shape):
    """Apply a rearrangement ``fn`` of arrays laid out as ``(k,) + in_shape``
    straight to the slots (slicing, transposes, broadcasts: strided copies
    instead of an index map and a gather); ``None`` for a CSR pattern."""
    a = p.ell()
    if a is None:
        return None
    k = a.shape[0]
    rows = math.prod(out_shape)
    t = fn(a.reshape((k,) + tuple(in_shape)))
    return Pat(rows, p.n, ell=np.ascontiguousarray(t).reshape(k, rows))


def _dedupe_rows(s):
    """ELL ``(k, rows)`` with repeats within rows removed (and trimmed)."""
    if s.shape[0] <= 1:
        return s
    s = np.sort(s, axis=0)
    dup = s[1:] == s[:-1]
    if dup.any():
        s[1:][dup] = -1
        s = np.sort(s, axis=0)
    width = int((s >= 0).sum(axis=0).max(initial=0))
    return s[s.shape[0] - width:]


def union(pats, rows: int, n: int) -> Pat:
    """Row-wise union of patterns with ``rows`` rows each (``None``: empty)."""
    ps = []
    for p in pats:
        if p is None or p.is_empty:
            continue
        if any(q.contains(p) for q in ps):
            continue
        ps = [q for q in ps if not p.contains(q)]
        ps.append(p)
    if not ps:
        return empty(rows, n)
    if len(ps) == 1:
        return ps[0]
    subs = []
    for p in ps:
        subs.append(p)
        subs.extend(p.subs)
    subs = tuple(subs[:16])
    if rows == 1:  # one element (a reduction's result): sets of indices
        u = _unique(np.concatenate([union_all(p) for p in ps]), n).astype(_eldt(n))
        return Pat(1, n, ell=u[:, None], subs=subs)
    ells = [p.ell() for p in ps]
    if all(e is not None for e in ells) and sum(e.shape[0] for e in ells) <= 32:
        order = sorted(range(len(ells)), key=lambda i: -ells[i].shape[0])
        a = ells[order[0]]
        slots = list(a)
        k0 = len(slots)
        for i in order[1:]:
            b = ells[i]
            if b is a:
                continue
            for col in b:  # (a copy of a column already there is dropped below)
                dup = None
                for c in slots:
                    e = c == col
                    dup = e if dup is None else dup | e
                if not dup.any():  # the common case: all new (holes may stay holes)
                    slots.append(col)
                    continue
                dup |= col < 0
                if dup.all():
                    continue
                slots.append(np.where(dup, -1, col))
        if len(slots) == k0:  # nothing new: the widest contains the others
            return ps[order[0]]
        a = np.stack(slots)
        if a.shape[0] > 8:
            width = int((a >= 0).sum(axis=0).max(initial=0))
            if a.shape[0] > 2 * width:  # many holes: compact (-1 last in each row)
                a = -np.sort(-a, axis=0)[:width]
        return Pat(rows, n, ell=a, subs=subs)
    m = ps[0].csr()
    for p in ps[1:]:
        m = m + p.csr()
    return Pat(rows, n, csr=m.tocsr(), subs=subs)


def union_all(p: Pat) -> np.ndarray:
    """The union of all rows: one array of distinct indices."""
    a = p.ell()
    if a is not None:
        if a.shape[1] == 1:  # one row: its entries are distinct already
            v = a[:, 0]
            return v[v >= 0]
        v = a[a >= 0]
    else:
        v = p.csr().indices
    return _unique(v, p.n)


def _unique(v, n):
    """Sorted distinct values of ``v`` (all in ``[0, n)``)."""
    if v.size * 8 < n:
        if not v.size:
            return v.astype(_INT)
        # sort and drop repeats (several times faster than np.unique, which hashes;
        # timsort: index sets come in long sorted runs)
        s = np.sort(v, kind="stable")
        keep = np.empty(s.size, bool)
        keep[0] = True
        np.not_equal(s[1:], s[:-1], out=keep[1:])
        return s[keep]
    mark = np.zeros(n, bool)
    mark[v] = True
    return np.flatnonzero(mark)


def row_of(idx, rows: int, n: int) -> Pat:
    """``rows`` rows, each the set ``idx``."""
    idx = np.asarray(idx, _INT)
    if rows * idx.size > 4 * idx.size + 65536 and rows > 1:
        sp = scipy_sparse()
        indptr = np.arange(rows + 1, dtype=_INT) * idx.size
        m = sp.csr_matrix((np.ones(rows * idx.size, bool), np.tile(idx, rows), indptr), shape=(rows, n))
        return Pat(rows, n, csr=m)
    return Pat(rows, n, ell=np.repeat(idx.astype(_eldt(n))[:, None], rows, axis=1))


def group_union(p: Pat, in_shape, axes) -> Pat:
    """Union over ``axes`` of a pattern laid out as ``in_shape`` (a reduction)."""
    keep = [i for i in range(len(in_shape)) if i not in axes]
    out_rows = math.prod(in_shape[i] for i in keep)
    if len(keep) == 0:
        u = union_all(p).astype(_eldt(p.n))
        return Pat(1, p.n, ell=u[:, None])
    a = p.ell()
    red = math.prod(in_shape[i] for i in axes)
    if a is not None and red * a.shape[0] <= 64:
        k = a.shape[0]
        t = a.reshape((k,) + tuple(in_shape))
        t = t.transpose([0] + [1 + i for i in axes] + [1 + i for i in keep])
        return Pat(out_rows, p.n, ell=_dedupe_rows(t.reshape(k * red, out_rows)))
    g = np.arange(out_rows).reshape(tuple(in_shape[i] for i in keep))
    g = np.expand_dims(g, tuple(axes))
    g = np.broadcast_to(g, tuple(in_shape)).ravel()
    return combine(p, g, np.arange(p.rows), out_rows)


def combine(p: Pat, out_idx, in_idx, out_rows: int) -> Pat:
    """The general linear map: row ``o`` of the result is the union of rows
    ``in_idx[t]`` of ``p`` over all ``t`` with ``out_idx[t] == o``."""
    sp = scipy_sparse()
    out_idx = np.asarray(out_idx, _INT).ravel()
    in_idx = np.asarray(in_idx, _INT).ravel()
    if p.is_empty or out_idx.size == 0:
        return empty(out_rows, p.n)
    lm = sp.csr_matrix((np.ones(out_idx.size, bool), (out_idx, in_idx)), shape=(out_rows, p.rows))
    return Pat(out_rows, p.n, csr=(lm @ p.csr()).tocsr())


def mask_rows(p: Pat, keep) -> Pat:
    """Rows where ``keep`` is false made empty."""
    keep = np.asarray(keep, bool).ravel()
    if keep.all():
        return p
    a = p.ell()
    if a is not None:
        return Pat(p.rows, p.n, ell=np.where(keep[None, :], a, -1))
    sp = scipy_sparse()
    return Pat(p.rows, p.n, csr=(sp.diags(keep, format="csr") @ p.csr()).tocsr())


def stack_rows(pats, sizes, n: int) -> Pat:
    """Patterns (``None``: empty, of ``sizes[i]`` rows) one above the other."""
    rows = sum(sizes)
    ells = [empty(s, n).ell() if p is None else p.ell() for p, s in zip(pats, sizes)]
    if all(e is not None for e in ells):
        k = max([e.shape[0] for e in ells] + [0])
        a = np.full((k, rows), -1, _eldt(n))
        at = 0
        for e, s in zip(ells, sizes):
            a[:e.shape[0], at:at + s] = e
            at += s
        return Pat(rows, n, ell=a)
    sp = scipy_sparse()
    ms = [sp.csr_matrix((s, n), dtype=bool) if p is None else p.csr() for p, s in zip(pats, sizes)]
    return Pat(rows, n, csr=sp.vstack(ms, format="csr"))


def to_matrix(p: Pat):
    """The pattern as a boolean ``csr_matrix`` with no repeated entries."""
    a = p.ell()
    if a is not None:  # rows have no repeats: read them out (scipy sorts on demand)
        return _ell_to_csr(a, p.n)
    m = p.csr().copy()
    m.sum_duplicates()
    m.sort_indices()
    m.data = np.ones(m.nnz, bool)
    return m
