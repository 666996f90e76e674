"""Index sets of many array elements at once: the sparsity patterns that
detection pushes through a program.

A :class:`Pat` is a boolean ``(rows, n)`` matrix: row ``e`` is the set of
input indices that element ``e`` of a variable depends on.  Two storages:

* **ELL** (the fast one): an integer array ``(rows, k)`` of input indices,
  ``-1`` for "none", no repeats within a row (order arbitrary).  Gathers,
  broadcasts and unions of short rows are plain NumPy indexing on it.
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

    __slots__ = ("rows", "n", "_ell", "_csr")

    def __init__(self, rows, n, ell=None, csr=None):
        self.rows = rows
        self.n = n
        self._ell = ell
        self._csr = csr

    # -- storage ------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        if self._ell is not None:
            return self._ell.shape[1] == 0 or not (self._ell >= 0).any()
        return self._csr.nnz == 0

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
        return e.shape[1]


def empty(rows: int, n: int) -> Pat:
    return Pat(rows, n, ell=np.empty((rows, 0), _INT))


def identity(n: int) -> Pat:
    return Pat(n, n, ell=np.arange(n, dtype=_INT)[:, None])


def from_ell(a, n) -> Pat:
    return Pat(a.shape[0], n, ell=a)


def from_csr(m) -> Pat:
    return Pat(m.shape[0], m.shape[1], csr=m)


def _ell_to_csr(a, n):
    sp = scipy_sparse()
    rows, k = a.shape
    if k == 1:
        mask = a[:, 0] >= 0
        indices = a[mask, 0]
        counts = mask.astype(_INT)
    else:
        mask = a >= 0
        indices = a[mask]
        counts = mask.sum(axis=1)
    indptr = np.zeros(rows + 1, _INT)
    np.cumsum(counts, out=indptr[1:])
    m = sp.csr_matrix((np.ones(indices.size, bool), indices.astype(_INT), indptr), shape=(rows, n))
    m.has_sorted_indices = False
    return m


def _csr_to_ell(m):
    rows = m.shape[0]
    m.sum_duplicates()
    counts = np.diff(m.indptr)
    k = int(counts.max(initial=0))
    nnz = int(m.nnz)
    if rows * k > 4 * nnz + 65536:
        return False
    a = np.full((rows, k), -1, _INT)
    if nnz:
        r = np.repeat(np.arange(rows), counts)
        pos = np.arange(nnz) - np.repeat(m.indptr[:-1], counts)
        a[r, pos] = m.indices
    return a


# ----------------------------------------------------------------------------
# Operations


def gather(p: Pat, r) -> Pat:
    """Rows ``p[r[i]]`` (``r[i] < 0``: an empty row): every rearrangement
    (reshape, transpose, broadcast, slicing, indexing, padding) is one."""
    r = np.asarray(r, _INT)
    neg = r.size and r.min() < 0
    a = p.ell()
    if a is not None:
        if a.shape[1] == 0:
            return Pat(r.size, p.n, ell=np.empty((r.size, 0), _INT))
        out = a[r]
        if neg:
            out[r < 0] = -1
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


def _dedupe_rows(s):
    """ELL rows with repeats removed (and the array trimmed)."""
    if s.shape[1] <= 1:
        return s
    s = np.sort(s, axis=1)
    dup = s[:, 1:] == s[:, :-1]
    if dup.any():
        s[:, 1:][dup] = -1
        s = np.sort(s, axis=1)
    width = int((s >= 0).sum(axis=1).max(initial=0))
    return s[:, s.shape[1] - width:]


def union(pats, rows: int, n: int) -> Pat:
    """Row-wise union of patterns with ``rows`` rows each (``None``: empty)."""
    ps = []
    for p in pats:
        if p is None or p.is_empty:
            continue
        if any(p is q for q in ps):
            continue
        ps.append(p)
    if not ps:
        return empty(rows, n)
    if len(ps) == 1:
        return ps[0]
    ells = [p.ell() for p in ps]
    if all(e is not None for e in ells) and sum(e.shape[1] for e in ells) <= 32:
        ells.sort(key=lambda e: -e.shape[1])
        a = ells[0]
        for b in ells[1:]:
            if b.shape == a.shape and np.array_equal(a, b):
                continue
            new = []
            for j in range(b.shape[1]):
                col = b[:, j]
                cur = a if not new else np.column_stack([a] + new)
                hit = (cur == col[:, None]).any(axis=1) | (col < 0)
                if hit.all():
                    continue
                new.append(np.where(hit, -1, col))
            if new:
                a = np.column_stack([a] + new)
        width = int((a >= 0).sum(axis=1).max(initial=0))
        if a.shape[1] > width:  # holes: compact (-1 last in each row)
            a = -np.sort(-a, axis=1)[:, :width]
        return Pat(rows, n, ell=a)
    m = ps[0].csr()
    for p in ps[1:]:
        m = m + p.csr()
    return Pat(rows, n, csr=m.tocsr())


def union_all(p: Pat) -> np.ndarray:
    """The sorted union of all rows: one index array."""
    a = p.ell()
    if a is not None:
        v = a[a >= 0] if a.shape[1] != 1 else a[a[:, 0] >= 0, 0]
    else:
        v = p.csr().indices
    return np.unique(v)


def row_of(idx, rows: int, n: int) -> Pat:
    """``rows`` rows, each the set ``idx``."""
    idx = np.asarray(idx, _INT)
    if rows * idx.size > 4 * idx.size + 65536 and rows > 1:
        sp = scipy_sparse()
        indptr = np.arange(rows + 1, dtype=_INT) * idx.size
        m = sp.csr_matrix((np.ones(rows * idx.size, bool), np.tile(idx, rows), indptr), shape=(rows, n))
        return Pat(rows, n, csr=m)
    return Pat(rows, n, ell=np.broadcast_to(idx, (rows, idx.size)).copy())


def group_union(p: Pat, in_shape, axes) -> Pat:
    """Union over ``axes`` of a pattern laid out as ``in_shape`` (a reduction)."""
    keep = [i for i in range(len(in_shape)) if i not in axes]
    out_rows = math.prod(in_shape[i] for i in keep)
    if len(keep) == 0:
        u = union_all(p)
        return Pat(1, p.n, ell=u[None, :])
    a = p.ell()
    red = math.prod(in_shape[i] for i in axes)
    if a is not None and red * a.shape[1] <= 64:
        k = a.shape[1]
        t = a.reshape(tuple(in_shape) + (k,)).transpose(keep + list(axes) + [len(in_shape)])
        return Pat(out_rows, p.n, ell=_dedupe_rows(t.reshape(out_rows, red * k)))
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
        return Pat(p.rows, p.n, ell=np.where(keep[:, None], a, -1))
    sp = scipy_sparse()
    return Pat(p.rows, p.n, csr=(sp.diags(keep, format="csr") @ p.csr()).tocsr())


def stack_rows(pats, sizes, n: int) -> Pat:
    """Patterns (``None``: empty, of ``sizes[i]`` rows) one above the other."""
    rows = sum(sizes)
    ells = [empty(s, n).ell() if p is None else p.ell() for p, s in zip(pats, sizes)]
    if all(e is not None for e in ells):
        k = max([e.shape[1] for e in ells] + [0])
        a = np.full((rows, k), -1, _INT)
        at = 0
        for e, s in zip(ells, sizes):
            a[at:at + s, :e.shape[1]] = e
            at += s
        return Pat(rows, n, ell=a)
    sp = scipy_sparse()
    ms = [sp.csr_matrix((s, n), dtype=bool) if p is None else p.csr() for p, s in zip(pats, sizes)]
    return Pat(rows, n, csr=sp.vstack(ms, format="csr"))


def to_matrix(p: Pat):
    """The pattern as a canonical boolean ``csr_matrix`` (sorted, no repeats)."""
    m = p.csr().copy()
    m.sum_duplicates()
    m.sort_indices()
    m.data = np.ones(m.nnz, bool)
    return m
