"""Graph colourings of sparsity patterns (Gebremedhin, Manne, Pothen,
"What color is your Jacobian?", SIAM Review 47(4), 2005).

* ``"column"``: columns that share no row get one colour (a distance-1
  colouring of the column intersection graph, i.e. a partial distance-2
  colouring of the bipartite graph): one JVP per colour recovers the
  Jacobian directly.
* ``"row"``: the same for rows: one VJP per colour.
* ``"star"``: for a symmetric pattern (a Hessian), a distance-1 colouring of
  its adjacency graph in which every path on four vertices uses at least
  three colours: one Hessian-vector product per colour recovers the Hessian,
  each entry read either from its own row or, by symmetry, from its
  transpose's.

All three are greedy, in a vertex order: ``"largest_first"`` (by degree,
largest first), ``"smallest_last"`` (repeatedly remove a vertex of smallest
degree; colour in reverse) or ``"natural"`` (index order).
"""

from __future__ import annotations

import numpy as np

from ._pattern import scipy_sparse

__all__ = ["colour", "check_colouring"]

_MODES = ("column", "row", "star")
_ORDERS = ("largest_first", "smallest_last", "natural")


def _as_pattern(pattern, fname):
    sp = scipy_sparse()
    if sp.issparse(pattern):
        m = sp.csr_matrix(pattern, dtype=bool, copy=True)
    else:
        a = np.asarray(pattern)
        if a.ndim != 2:
            raise ValueError(f"{fname}: the pattern must be a 2-D matrix (scipy.sparse or "
                             f"array), got shape {a.shape}")
        m = sp.csr_matrix(a != 0)
    m.eliminate_zeros()
    m.sum_duplicates()
    m.data = np.ones(m.nnz, bool)
    return m


def _adjacency(m):
    """``(indptr, indices)`` as Python lists, with no self loops."""
    m = m.tocsr()
    m.setdiag(False)
    m.eliminate_zeros()
    m.sort_indices()
    return m.indptr.tolist(), m.indices.tolist()


def _order(indptr, indices, nv, how):
    deg = np.diff(np.asarray(indptr))
    if how == "natural":
        return list(range(nv))
    if how == "largest_first":
        return np.argsort(-deg, kind="stable").tolist()
    # smallest last: bucket queue over the current degrees
    return _smallest_last(indptr, indices, deg.tolist(), nv)


def _smallest_last(indptr, indices, deg, nv):
    if nv == 0:
        return []
    maxd = max(deg)
    buckets = [dict() for _ in range(maxd + 1)]
    for v in range(nv):
        buckets[deg[v]][v] = None
    removed = [False] * nv
    order = []
    low = 0
    for _ in range(nv):
        while not buckets[low]:
            low += 1
        v = next(iter(buckets[low]))
        del buckets[low][v]
        removed[v] = True
        order.append(v)
        for w in indices[indptr[v]:indptr[v + 1]]:
            if not removed[w]:
                d = deg[w]
                del buckets[d][w]
                deg[w] = d - 1
                buckets[d - 1][w] = None
        low = max(low - 1, 0)
    order.reverse()
    return order


def _greedy_distance1(indptr, indices, order, nv):
    colour = [-1] * nv
    forbidden = [-1] * (max(np.diff(np.asarray(indptr)).max(initial=0), 0) + 2)
    for v in order:
        for w in indices[indptr[v]:indptr[v + 1]]:
            c = colour[w]
            if c >= 0:
                forbidden[c] = v
        c = 0
        while forbidden[c] == v:
            c += 1
        colour[v] = c
    return colour


def _greedy_star(indptr, indices, order, nv):
    """Greedy star colouring: when ``v`` is coloured, every path on four
    coloured vertices through ``v`` (as an end, ``v-w-x-y``, or inside,
    ``a-v-w-x``) must not alternate two colours; each colour that would
    make one is forbidden."""
    colour = [-1] * nv
    forbidden = [-1] * (nv + 2)
    for v in order:
        nb = indices[indptr[v]:indptr[v + 1]]
        seen = {}
        for w in nb:
            c = colour[w]
            if c >= 0:
                forbidden[c] = v
                seen[c] = seen.get(c, 0) + 1
        for w in nb:
            cw = colour[w]
            if cw < 0:
                continue
            twice = seen[cw] > 1  # a-v-w with colour(a) == colour(w)
            for x in indices[indptr[w]:indptr[w + 1]]:
                if x == v:
                    continue
                cx = colour[x]
                if cx < 0 or forbidden[cx] == v:
                    continue
                if twice:
                    forbidden[cx] = v
                    continue
                for y in indices[indptr[x]:indptr[x + 1]]:
                    if y != w and colour[y] == cw:
                        forbidden[cx] = v
                        break
        c = 0
        while forbidden[c] == v:
            c += 1
        colour[v] = c
    return colour


def colour(pattern, mode: str = "column", order: str | None = None) -> np.ndarray:
    """A colouring of a sparsity pattern: a NumPy ``intp`` array of colours
    ``0, 1, ..., c - 1`` — one per column (``mode="column"`` or ``"star"``)
    or per row (``mode="row"``); ``colour.max() + 1`` products recover the
    matrix.

    ``pattern`` is a ``scipy.sparse`` matrix or a 2-D array (nonzeros are
    the pattern), e.g. from :func:`wengert.jacobian_sparsity`.  ``"star"``
    needs a square pattern and colours its symmetric part (``P | P.T``).
    ``order``: ``"largest_first"`` (the default), ``"smallest_last"`` or
    ``"natural"``.

    >>> import numpy as np, wengert as wg
    >>> tridiagonal = np.eye(6) + np.eye(6, k=1) + np.eye(6, k=-1)
    >>> c = wg.colour(tridiagonal, mode="column")
    >>> int(c.max()) + 1, bool(c[0] != c[1] != c[2] != c[0])
    (3, True)
    >>> grid = np.kron(np.eye(4), tridiagonal[:4, :4]) + np.kron(tridiagonal[:4, :4], np.eye(4))
    >>> int(wg.colour(grid, "column").max()) + 1, int(wg.colour(grid, "star").max()) + 1
    (6, 5)
    """
    if mode not in _MODES:
        raise ValueError(f"wg.colour: mode must be one of {_MODES}, got {mode!r}")
    if order is None:
        order = "largest_first"
    if order not in _ORDERS:
        raise ValueError(f"wg.colour: order must be one of {_ORDERS}, got {order!r}")
    m = _as_pattern(pattern, "wg.colour")
    if mode == "row":
        m = m.T.tocsr()
    if mode == "star":
        if m.shape[0] != m.shape[1]:
            raise ValueError(f"wg.colour: star colouring needs a square (symmetric) pattern, "
                             f"got shape {m.shape}; use mode='column' or 'row' for Jacobians")
        graph = (m + m.T).tocsr()
    else:
        graph = (m.T @ m).tocsr()  # columns sharing a row
    nv = graph.shape[0]
    indptr, indices = _adjacency(graph)
    seq = _order(indptr, indices, nv, order)
    if mode == "star":
        c = _greedy_star(indptr, indices, seq, nv)
    else:
        c = _greedy_distance1(indptr, indices, seq, nv)
    return np.asarray(c, dtype=np.intp)


def check_colouring(pattern_csr, colours, mode: str, fname: str) -> np.ndarray:
    """Validate a user's colouring for ``mode``; returns it as an intp array.

    Column (row) colouring: no two columns (rows) of one colour share a row
    (column).  Star (symmetric) colouring: every nonzero ``(i, j)`` can be
    read off, either as the only column of its colour in row ``i`` or as the
    only column of ``i``'s colour in row ``j``.
    """
    m = pattern_csr
    nv = m.shape[0] if mode == "row" else m.shape[1]
    c = np.asarray(colours)
    if c.shape != (nv,) or not np.issubdtype(c.dtype, np.integer) or (nv and c.min() < 0):
        raise ValueError(f"{fname}: colouring must be an array of {nv} non-negative integers "
                         f"(one per {'row' if mode == 'row' else 'column'}), got "
                         f"{getattr(c, 'dtype', type(c))} of shape {c.shape}")
    c = c.astype(np.intp)
    bad = _conflicts(m, c, mode)
    if bad is not None:
        i, j = bad
        raise ValueError(f"{fname}: the colouring is not valid for this pattern ({mode}): "
                         f"entry ({i}, {j}) cannot be recovered; compute one with "
                         f"wg.colour(pattern, mode={mode!r})")
    return c


def _conflicts(m, c, mode):
    """The first entry that the colouring cannot recover, or None."""
    if mode == "star":
        m = (m + m.T).tocsr()
    elif mode == "row":
        m = m.T.tocsr()  # rows of the original are columns here
    coo = m.tocoo()
    r, k = coo.row.astype(np.int64), coo.col.astype(np.int64)
    if r.size == 0:
        return None
    ncol = int(c.max(initial=-1)) + 1
    key = r * ncol + c[k]
    cnt = np.bincount(key, minlength=m.shape[0] * ncol)
    ok = cnt[key] == 1  # the only column of its colour in its row
    if mode == "star":
        ok |= cnt[k * ncol + c[r]] == 1  # or, by symmetry, from the transposed entry
    if ok.all():
        return None
    t = int(np.flatnonzero(~ok)[0])
    i, j = int(r[t]), int(k[t])
    return (j, i) if mode == "row" else (i, j)
