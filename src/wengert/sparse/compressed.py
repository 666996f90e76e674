"""Sparse Jacobians and Hessians by compressed sweeps.

One batched JVP (``sparse_jacfwd``), VJP (``sparse_jacrev``) or
Hessian-vector product (``sparse_hessian``, forward over reverse) per colour
of the pattern's colouring, all colours in one ``vmap``, then the entries
read off the compressed products into a ``scipy.sparse.csr_matrix``.

Per input signature (shapes and dtypes of the arguments, values of the
non-array ones) the pattern, its colouring, the seed matrix and the
read-off indices are computed once and cached, and the batched product is
compiled with ``wg.jit`` (falling back to eager evaluation when the
function cannot be staged, e.g. Python ``if`` on values).  A pattern that
is only valid at the given point (see :mod:`.detect`) is recomputed at every
call instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._core import Tracer
from . import _pattern as pt
from .colour import check_colouring, colour
from .detect import detect
from .hessian import Unsupported, hessian_pattern

__all__ = ["jacobian_sparsity", "hessian_sparsity", "sparse_jacfwd", "sparse_jacrev", "sparse_hessian"]


def _grad():
    from .._api import grad
    return grad


# ----------------------------------------------------------------------------
# Detection (public)


def _jac_detect(fun, args, argnums, fname):
    return detect(fun, args, argnums, fname)


def _hess_detect(fun, args, argnums, fname):
    grad = _grad()

    def transform(g):
        def checked(x):
            out = g(x)
            shape = tuple(getattr(out, "shape", ()))
            if shape != ():
                raise TypeError(f"{fname}: the function must return a scalar (shape ()), "
                                f"got shape {shape}; for a vector function use "
                                "wg.jacobian_sparsity, or sum the components you mean")
            return out
        return grad(checked)

    return detect(fun, args, argnums, fname, transform=transform)


def _hess_matrix(fun, args, argnums, fname, route="auto"):
    """``(symmetric csr, local?, exact?, route)``: the Hessian pattern by
    direct second-order propagation (:mod:`.hessian`), or, where that cannot
    run (``route="auto"``) or on request (``route="grad"``), as the Jacobian
    pattern of ``wg.grad(f)``."""
    if route != "grad":
        try:
            m, local, _, exact = hessian_pattern(fun, args, argnums, fname)
            return m, local, exact, "direct"
        except Unsupported:
            if route == "direct":
                raise
        except Exception:
            # a user's error raises the same way on the grad route below (with its
            # message); anything else the direct propagation stumbles on is served there
            if route == "direct":
                raise
    d = _hess_detect(fun, args, argnums, fname)
    return _symmetrise(pt.to_matrix(d.pattern)), d.local, d.exact, "grad"


def jacobian_sparsity(f: Callable, *args: Any, argnums: int = 0):
    """The sparsity pattern of the Jacobian of ``f`` with respect to argument
    ``argnums`` at ``args``: a boolean ``scipy.sparse.csr_matrix`` of shape
    ``(out.size, x.size)`` (rows: the flattened output, columns: the
    flattened input).

    Found by tracing ``f`` once and pushing index sets through every
    primitive; it never misses a nonzero.  The pattern holds for every input
    of these shapes and dtypes unless ``f`` branches on values computed from
    its arguments (Python ``if``, ``wg.while_loop`` conditions, indexing with
    computed indices, sorting): then it is the pattern at ``args``.
    ``wg.cond`` keeps it global (both branches count).  See docs/sparse.md.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> f = lambda x: x[1:] * x[:-1] + wnp.sin(x[1:])
    >>> wg.jacobian_sparsity(f, np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    d = _jac_detect(f, args, argnums, "jacobian_sparsity")
    return pt.to_matrix(d.pattern)


def hessian_sparsity(f: Callable, *args: Any, argnums: int = 0):
    """The sparsity pattern of the Hessian of a scalar ``f`` with respect to
    argument ``argnums`` at ``args``: a symmetric boolean
    ``scipy.sparse.csr_matrix`` of shape ``(x.size, x.size)``.

    Found by propagating first-order index sets and Hessian index pairs
    through ``f`` once (``x * y`` couples ``x`` with ``y``; ``sin(x)`` couples
    ``x`` with itself; ``x / c``, sums and other linear operations couple
    nothing; primitives without a precise rule couple every pair of their
    output's inputs), falling back to the Jacobian pattern of ``wg.grad(f)``
    for constructs the propagation does not cover. It never misses a
    nonzero. Global or local as for :func:`jacobian_sparsity`; see
    docs/sparse.md.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> f = lambda x: wnp.sum((x[1:] - x[:-1]) ** 2) + wnp.sum(x)
    >>> wg.hessian_sparsity(f, np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 1, 0],
           [0, 1, 1, 1],
           [0, 0, 1, 1]])
    """
    return _hess_matrix(f, args, argnums, "hessian_sparsity")[0]


def _symmetrise(m):
    s = (m + m.T).tocsr()
    s.sum_duplicates()
    s.sort_indices()
    s.data = np.ones(s.nnz, bool)
    return s


# ----------------------------------------------------------------------------
# Compressed evaluation


def _is_array(a) -> bool:
    return isinstance(a, (np.ndarray, np.generic, Tracer, float, complex)) and not isinstance(a, bool)


def _signature(args, fname):
    key = []
    for a in args:
        if isinstance(a, (np.ndarray, np.generic, Tracer)):
            key.append(("a", tuple(a.shape), np.dtype(a.dtype).str))
        elif isinstance(a, (float, complex)) and not isinstance(a, bool):
            key.append(("s", type(a)))
        else:
            try:
                hash(a)
            except TypeError:
                raise TypeError(f"{fname}: an argument of type {type(a).__name__} is neither an array "
                                "nor hashable: pass arrays, numbers or hashable values (a tuple for "
                                "a list), or close over it") from None
            key.append(("v", type(a), a))
    return tuple(key)


def _dtype_of(v):
    dt = getattr(v, "dtype", None)
    return np.dtype(dt) if dt is not None else np.result_type(v)


class _Plan:
    """What one input signature needs: pattern, colouring, seeds, read-off."""

    __slots__ = ("pattern", "colours", "ncolours", "seeds", "take", "in_shape", "out_shape",
                 "local", "compiled", "dense_index")

    def __init__(self):
        self.compiled = None
        self.dense_index = None


class _Sparse:
    """The function returned by ``sparse_jacfwd``/``sparse_jacrev``/``sparse_hessian``."""

    def __init__(self, fun, argnums, sparsity, colouring, dense, kind):
        self.fun = fun
        self.argnums = argnums
        self.sparsity = sparsity
        self.colouring = colouring
        self.dense = bool(dense)
        self.kind = kind
        self.name = {"fwd": "sparse_jacfwd", "rev": "sparse_jacrev", "hess": "sparse_hessian"}[kind]
        self.plans: dict = {}
        self.__name__ = f"{self.name}({getattr(fun, '__name__', 'f')})"
        self.__doc__ = getattr(fun, "__doc__", None)

    # -- plans --------------------------------------------------------------
    def _pattern(self, args):
        """(pattern csr, local?, in_shape, out_shape, out dtype)."""
        x = args[self.argnums]
        in_shape = tuple(np.shape(x)) if not isinstance(x, Tracer) else tuple(x.shape)
        if self.sparsity is not None:
            sp = pt.scipy_sparse()
            m = sp.csr_matrix(self.sparsity, dtype=bool)
            m.eliminate_zeros()
            m.sum_duplicates()
            m.sort_indices()
            n = math.prod(in_shape)
            dt = _dtype_of(x)
            if dt.kind not in "fc":
                raise TypeError(f"{self.name}: argument {self.argnums} has dtype {dt.name}; "
                                "derivatives need a float or complex input (pass e.g. x.astype(float))")
            if self.kind == "hess":
                want = (n, n)
            else:
                out = self.fun(*args)  # its shape and dtype (the pattern is the user's)
                out_shape = tuple(getattr(out, "shape", np.shape(out)))
                want = (math.prod(out_shape), n)
            if m.shape != want:
                raise ValueError(f"{self.name}: sparsity has shape {m.shape}, but this Jacobian/"
                                 f"Hessian has shape {want} (rows: the flattened output, "
                                 "columns: the flattened input)")
            if self.kind == "hess":
                m = _symmetrise(m)
                return m, False, in_shape, (), None
            return m, False, in_shape, out_shape, _dtype_of(out)
        if self.kind == "hess":
            m, local, _, _ = _hess_matrix(self.fun, args, self.argnums, self.name)
            return m, local, in_shape, (), None
        d = _jac_detect(self.fun, args, self.argnums, self.name)
        return pt.to_matrix(d.pattern), d.local, in_shape, d.out_shape, _dtype_of(d.out)

    def _make_plan(self, args):
        m, local, in_shape, out_shape, out_dtype = self._pattern(args)
        mode = {"fwd": "column", "rev": "row", "hess": "star"}[self.kind]
        if self.colouring is not None:
            c = check_colouring(m, self.colouring, mode, self.name)
        else:
            c = colour(m, mode=mode)
        plan = _Plan()
        plan.pattern = m
        plan.colours = c
        plan.ncolours = int(c.max(initial=-1)) + 1
        plan.in_shape = in_shape
        plan.out_shape = out_shape
        plan.local = local
        nseed = m.shape[0] if mode == "row" else m.shape[1]
        k = max(plan.ncolours, 1)
        # seeds in the precision of what they perturb (float32 stays float32)
        like = out_dtype if mode == "row" else _dtype_of(args[self.argnums])
        real = np.float32 if like is not None and np.dtype(like) in (np.float32, np.complex64) else np.float64
        seeds = np.zeros((k, nseed), real)
        seeds[c, np.arange(nseed)] = 1.0
        plan.seeds = seeds
        coo = m.tocoo()
        r = coo.row.astype(np.int64)
        j = coo.col.astype(np.int64)
        mrows, ncols = m.shape
        if mode == "column":  # compressed (k, m): entry (r, j) at [c[j], r]
            plan.take = c[j] * mrows + r
        elif mode == "row":  # compressed (k, n): entry (r, j) at [c[r], j]
            plan.take = c[r] * ncols + j
        else:  # compressed (k, n) of H @ seeds: entry (i, j) at [c[j], i], or [c[i], j]
            ncol = k
            cnt = np.bincount(r * ncol + c[j], minlength=mrows * ncol)
            direct = cnt[r * ncol + c[j]] == 1
            plan.take = np.where(direct, c[j] * mrows + r, c[r] * ncols + j)
        return plan

    def _plan(self, args):
        key = _signature(args, self.name)
        plan = self.plans.get(key)
        if plan is None:
            plan = self._make_plan(args)
            if not plan.local:
                if len(self.plans) > 64:
                    self.plans.clear()
                self.plans[key] = plan
        return plan

    # -- products -----------------------------------------------------------
    def _products_fn(self):
        """``(seeds, *args) -> compressed (k, ...)``: one batched product per colour."""
        from .._api import jvp, vjp
        from .._vmap import vmap
        fun, argnums, kind = self.fun, self.argnums, self.kind
        grad = _grad()

        def run(seeds, *args):
            x = args[argnums]

            def g(x_):
                call = list(args)
                call[argnums] = x_
                return fun(*call)

            shape = tuple(getattr(x, "shape", ()))
            if kind == "fwd":
                def one(s):
                    return jvp(g, (x,), (s.reshape(shape),))[1].reshape(-1)
                return vmap(one)(seeds)
            if kind == "rev":
                out, pull = vjp(g, x)
                oshape = tuple(getattr(out, "shape", ()))
                return vmap(lambda s: pull(s.reshape(oshape))[0].reshape(-1))(seeds)
            dg = grad(g)
            return vmap(lambda s: jvp(dg, (x,), (s.reshape(shape),))[1].reshape(-1))(seeds)

        return run

    def _compressed(self, plan, args):
        seeds = plan.seeds
        if plan.local or any(isinstance(a, Tracer) for a in args):
            return self._products_fn()(seeds, *args)
        if plan.compiled is None:
            # first call of this signature: compile, and keep the compiled form only
            # if it reproduces the eager products (a guard against staging limits)
            from .._ir import ConcretizationError
            from .._jit import jit
            eager = np.asarray(self._products_fn()(seeds, *args))
            static = tuple(i + 1 for i, a in enumerate(args) if not _is_array(a))
            compiled = jit(self._products_fn(), static_argnums=static)
            try:
                with np.errstate(all="ignore"):
                    got = np.asarray(compiled(seeds, *args))
                scale = 1.0 + float(np.max(np.abs(eager), initial=0.0))
                same = got.shape == eager.shape and bool(
                    np.all(np.abs(got - eager) <= 1e-12 * scale) or np.array_equal(got, eager, equal_nan=True))
            except ConcretizationError:  # Python control flow on values: stay eager
                same = False
            except Exception:
                same = False
            plan.compiled = compiled if same else False
            return eager
        if plan.compiled is not False:
            return plan.compiled(seeds, *args)
        return self._products_fn()(seeds, *args)

    def __call__(self, *args):
        if not args:
            raise TypeError(f"{self.name}: the function needs its arguments")
        if not isinstance(self.argnums, int) or isinstance(self.argnums, bool) \
                or not -len(args) <= self.argnums < len(args):
            raise TypeError(f"{self.name}: argnums must be one int indexing the {len(args)} "
                            f"argument(s), got {self.argnums!r}")
        if self.argnums < 0:
            self.argnums %= len(args)
        plan = self._plan(args)
        m = plan.pattern
        if plan.ncolours == 0:
            comp = None
        else:
            comp = self._compressed(plan, args)
        traced = isinstance(comp, Tracer)
        if traced and not self.dense:
            raise TypeError(f"{self.name}: called inside a transformation (jit, vmap, grad) the "
                            "result cannot be a scipy.sparse matrix of traced values; use "
                            f"{self.name}(f, dense=True) there, or call it outside")
        if comp is None:
            data = np.zeros(0)
        elif traced:
            from .. import numpy as wnp
            data = wnp.reshape(comp, (-1,))[plan.take]
        else:
            data = np.asarray(comp).reshape(-1)[plan.take]
        if self.dense:
            return self._dense(plan, data, traced)
        sp = pt.scipy_sparse()
        return sp.csr_matrix((np.array(data), m.indices.copy(), m.indptr.copy()), shape=m.shape)

    def _dense(self, plan, data, traced):
        m = plan.pattern
        rows, cols = m.shape
        if not traced:
            out = np.zeros((rows, cols), dtype=np.result_type(data, np.float64))
            coo = m.tocoo()
            out[coo.row, coo.col] = data
            return out
        from .. import numpy as wnp
        if plan.dense_index is None:
            coo = m.tocoo()
            idx = np.full(rows * cols, m.nnz, np.int64)
            idx[coo.row.astype(np.int64) * cols + coo.col] = np.arange(m.nnz)
            plan.dense_index = idx
        padded = wnp.concatenate([data, wnp.zeros(1, dtype=data.dtype)])
        return wnp.reshape(padded[plan.dense_index], (rows, cols))


def _check_fun(f, fname):
    if not callable(f):
        raise TypeError(f"{fname}: f must be callable, got {type(f).__name__}")


def sparse_jacfwd(f: Callable, argnums: int = 0, sparsity=None, colouring=None,
                  dense: bool = False) -> Callable:
    """The Jacobian of ``f`` with respect to argument ``argnums``, as a
    ``scipy.sparse.csr_matrix`` of shape ``(out.size, x.size)``, by one
    batched JVP per colour of a column colouring of its pattern.

    ``sparsity``: the pattern (any scipy.sparse matrix or boolean array of
    that shape; default: :func:`jacobian_sparsity`, computed once per input
    signature); it must hold at every point you call with.
    ``colouring``: a column colouring (default: ``wg.colour(pattern,
    mode="column")``), checked against the pattern.  ``dense=True`` returns
    the same matrix as a 2-D NumPy array (this form also works inside
    ``jit``, ``vmap`` and ``grad``).

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> f = lambda x: x[1:] ** 2 - x[:-1]
    >>> J = wg.sparse_jacfwd(f)(np.arange(4.0))
    >>> J.toarray()
    array([[-1.,  2.,  0.,  0.],
           [ 0., -1.,  4.,  0.],
           [ 0.,  0., -1.,  6.]])
    """
    _check_fun(f, "sparse_jacfwd")
    return _Sparse(f, argnums, sparsity, colouring, dense, "fwd")


def sparse_jacrev(f: Callable, argnums: int = 0, sparsity=None, colouring=None,
                  dense: bool = False) -> Callable:
    """As :func:`sparse_jacfwd`, by one batched VJP per colour of a row
    colouring (better when the Jacobian has fewer row colours than column
    colours, e.g. a few dense rows).

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> f = lambda x: wnp.stack([wnp.sum(x ** 2), x[0] * x[1]])
    >>> wg.sparse_jacrev(f)(np.array([1.0, 2.0, 3.0])).toarray()
    array([[2., 4., 6.],
           [2., 1., 0.]])
    """
    _check_fun(f, "sparse_jacrev")
    return _Sparse(f, argnums, sparsity, colouring, dense, "rev")


def sparse_hessian(f: Callable, argnums: int = 0, sparsity=None, colouring=None,
                   dense: bool = False) -> Callable:
    """The Hessian of a scalar ``f`` with respect to argument ``argnums``, as
    a ``scipy.sparse.csr_matrix`` of shape ``(x.size, x.size)``, by one
    batched Hessian-vector product (forward over reverse) per colour of a
    star colouring of its (symmetric) pattern.

    Arguments as for :func:`sparse_jacfwd`; ``colouring`` is a star
    colouring (or any colouring from which every entry can be read, e.g. a
    column colouring), checked against the pattern.

    >>> import numpy as np, wengert as wg, wengert.numpy as wnp
    >>> f = lambda x: wnp.sum(x[1:] * x[:-1]) + wnp.sum(x ** 3)
    >>> wg.sparse_hessian(f)(np.ones(3)).toarray()
    array([[6., 1., 0.],
           [1., 6., 1.],
           [0., 1., 6.]])
    """
    _check_fun(f, "sparse_hessian")
    return _Sparse(f, argnums, sparsity, colouring, dense, "hess")
