"""JAX's functional index updates: ``x.at[idx].set(v)`` and friends.

``x.at[idx]`` on a traced value (and ``wg.at(x)[idx]`` on any array) returns
a new array with ``x[idx]`` replaced, incremented, multiplied, ... — never
mutating ``x`` — differentiable in both ``x`` and the values in every mode::

    >>> import numpy as np, wengert as wg
    >>> x = np.zeros(4)
    >>> wg.at(x)[1:3].set(5.0), x
    (array([0., 5., 5., 0.]), array([0., 0., 0., 0.]))
    >>> # d/dv [(1 + 2v)² + 1 + (1 + v)²] = 4(1 + 2v) + 2(1 + v), at v = 2: 26
    >>> wg.grad(lambda v: (wg.at(np.ones(3))[np.array([0, 0, 2])].add(v) ** 2).sum())(2.0)
    np.float64(26.0)

Repeated indices follow ``numpy.ufunc.at``: ``add``/``multiply``/``min``/
``max``/``divide``/``power`` apply once per occurrence (``add`` sums them);
``set`` keeps the last value written.  Values are cast to ``x``'s dtype, as
JAX does.  Indices must be concrete (not traced values of ``jit``/``vmap``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _prims as P
from .._core import Tracer

__all__ = ["at"]


def at(x):
    """``wg.at(x)[idx].set(v)``: JAX's ``x.at[idx]`` for any array (NumPy
    arrays included), returning new arrays, never mutating ``x``.

    >>> import numpy as np, wengert as wg
    >>> wg.at(np.arange(4.0))[np.array([0, 0])].add(1.0)
    array([2., 1., 2., 3.])
    """
    return _IndexUpdateHelper(x)


class _IndexUpdateHelper:
    """``x.at``: index it (``x.at[idx]``) to get the update methods."""

    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return _IndexUpdateRef(self.x, idx)

    def __repr__(self):
        return f"_IndexUpdateHelper({self.x!r})"


def _check_mode(name, mode, fill_value=None):
    if mode not in (None, "promise_in_bounds") or fill_value is not None:
        raise NotImplementedError(
            f"x.at[idx].{name}(mode={mode!r}{', fill_value=...' if fill_value is not None else ''}) "
            "is not supported: wengert follows NumPy's indexing (an out-of-bounds index raises "
            "IndexError). Clip or filter the indices first.")


class _IndexUpdateRef:
    """``x.at[idx]``: ``get``, ``set``, ``add``, ``subtract``, ``multiply``,
    ``divide``, ``power``, ``min``, ``max``, ``apply``."""

    __slots__ = ("x", "idx")

    def __init__(self, x, idx):
        self.x = x
        self.idx = idx

    def __repr__(self):
        return f"_IndexUpdateRef({self.x!r}, {self.idx!r})"

    def get(self, *, indices_are_sorted=False, unique_indices=False, mode=None, fill_value=None):
        """``x[idx]``."""
        _check_mode("get", mode, fill_value)
        x = self.x
        if isinstance(x, Tracer):
            return x[self.idx]
        return np.array(np.asarray(x)[self.idx], copy=True)  # a new array, not a view into x

    def set(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] = values`` (the last write wins for repeated indices)."""
        _check_mode("set", mode)
        return _update(self.x, self.idx, values, "set")

    def add(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] += values`` (repeated indices accumulate)."""
        _check_mode("add", mode)
        return _update(self.x, self.idx, values, "add")

    def subtract(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] -= values`` (repeated indices accumulate)."""
        _check_mode("subtract", mode)
        from . import _funcs as F
        return _update(self.x, self.idx, F.negative(values) if isinstance(values, Tracer)
                       else np.negative(values), "add")

    def multiply(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] *= values``."""
        _check_mode("multiply", mode)
        return _update(self.x, self.idx, values, "multiply")

    mul = multiply

    def divide(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] /= values``."""
        _check_mode("divide", mode)
        return _update(self.x, self.idx, values, "divide")

    def power(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] **= values``."""
        _check_mode("power", mode)
        return _update(self.x, self.idx, values, "power")

    def min(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] = minimum(x[idx], values)`` (ties split the derivative ½/½)."""
        _check_mode("min", mode)
        return _update(self.x, self.idx, values, "min")

    def max(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] = maximum(x[idx], values)`` (ties split the derivative ½/½)."""
        _check_mode("max", mode)
        return _update(self.x, self.idx, values, "max")

    def apply(self, func, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] = func(x[idx])`` (once per occurrence of an index)."""
        _check_mode("apply", mode)
        return _update(self.x, self.idx, func, "apply")


_NP_AT = {"add": np.add, "multiply": np.multiply, "divide": np.divide, "power": np.power,
          "min": np.minimum, "max": np.maximum}


def _update(x, idx, values, op):
    from . import _funcs as F
    if not isinstance(x, Tracer) and not isinstance(values, Tracer):
        return _update_numpy(x, idx, values, op)
    if not isinstance(x, Tracer):
        x = np.asarray(x)
    dtype = np.dtype(x.dtype)
    shape = tuple(x.shape)
    n = math.prod(shape)
    pos = np.arange(n).reshape(shape)[F._norm_index(idx, shape)]
    sel = np.ravel(pos)
    k = sel.size
    xf = F.reshape(x, (n,))
    if op == "apply":
        vflat = None
    else:
        if isinstance(values, Tracer):
            v = values if np.dtype(values.dtype) == dtype else F.astype(values, dtype)
            vflat = F.reshape(F.broadcast_to(v, pos.shape), (k,))
        else:
            vflat = np.ravel(np.broadcast_to(np.asarray(values).astype(dtype, copy=False), pos.shape))
    if op == "add":
        out = F.add(xf, _scatter(vflat, sel, n, dtype, 0))
        return F.reshape(out, shape)
    if op == "set":
        _, last = np.unique(sel[::-1], return_index=True)
        keep = np.sort(k - 1 - last)
        if keep.size != k:
            sel = sel[keep]
            vflat = vflat[keep]
        mask = np.zeros(n, bool)
        mask[sel] = True
        return F.reshape(F.where(mask, _scatter(vflat, sel, n, dtype, 0), xf), shape)
    # once per occurrence: round r updates the r-th occurrence of each position
    order = np.argsort(sel, kind="stable")
    ranks = np.empty(k, np.int64)
    s_sorted = sel[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1] if k else np.zeros(0, np.int64)
    first = np.repeat(starts, np.diff(np.r_[starts, k])) if k else starts
    ranks[order] = np.arange(k) - first
    out = xf
    fill = 1
    for r in range(int(ranks.max()) + 1 if k else 0):
        ent = np.flatnonzero(ranks == r)
        s_r = sel[ent]
        mask = np.zeros(n, bool)
        mask[s_r] = True
        if op == "apply":
            new = values(out)
        else:
            v_r = vflat[ent] if ent.size != k else vflat
            vals = _scatter(v_r, s_r, n, dtype, fill)
            new = _APPLY[op](out, vals)
        out = F.where(mask, new, out)
    return F.reshape(out, shape)


def _scatter(vflat, sel, n, dtype, fill):
    """A length-``n`` vector: ``vflat`` at ``sel`` (unique for fill != 0), ``fill`` elsewhere."""
    if isinstance(vflat, Tracer):
        z = P.scatter_add(vflat, (sel,), (n,))
        if fill:
            from . import _funcs as F
            c = np.full(n, fill, dtype=dtype)
            c[sel] = 0
            z = F.add(z, c)
        return z
    z = np.full(n, fill, dtype=dtype)
    if fill:
        z[sel] = vflat
    else:
        np.add.at(z, sel, vflat)
    return z


def _apply_table():
    from . import _funcs as F
    return {"multiply": F.multiply, "divide": F.divide, "power": F.power,
            "min": F.minimum, "max": F.maximum}


class _LazyTable(dict):
    def __missing__(self, key):
        self.update(_apply_table())
        return dict.__getitem__(self, key)


_APPLY = _LazyTable()


def _update_numpy(x, idx, values, op):
    y = np.array(x, copy=True)
    if op == "set":
        y[idx] = np.asarray(values).astype(y.dtype, copy=False)
        return y
    if op == "apply":
        if isinstance(values, np.ufunc):
            values.at(y, idx)
        else:
            pos = np.arange(y.size).reshape(y.shape)[idx]
            sel = np.ravel(pos)
            flat = y.reshape(-1)
            for s in sel:  # once per occurrence, as ufunc.at
                flat[s] = values(flat[s])
        return y
    _NP_AT[op].at(y, idx, np.asarray(values).astype(y.dtype, copy=False))
    return y
