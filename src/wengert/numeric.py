"""Finite differences as a first-class way to differentiate.

``numeric.grad``, ``numeric.jacobian``, ``numeric.hessian`` and
``numeric.derivative`` differentiate any Python function of float arrays
(pytrees of them) by evaluating it at nearby points; no tracing is involved,
so they also work on code that wengert cannot trace.

Methods (``method=``):

* ``"forward"`` / ``"backward"``: one-sided differences, error O(h) per level;
* ``"central"`` (default): error O(h²) per level;
* ``"complex"``: the complex step ``Im f(x + i·t) / t``, exact to rounding
  for real-analytic code (``f`` must accept complex input; ``wnp``
  functions do, ``abs``/``maximum``/comparisons are not analytic).

``order=`` is the accuracy order of the formula (2, 4, 6, 8; default 2; 1
too for the one-sided methods).  Orders above the method's own are reached
by Richardson extrapolation over the steps h, h/2, h/4, ...: the error
expansion of central differences has only even powers of h, so each extra
level gains two orders; one-sided differences gain one order per level.

Step rule (``step=None``), with ``eps`` the machine epsilon of ``x``'s
float dtype, ``p`` the accuracy order and ``d`` the derivative order (1 for
gradients and Jacobians, 2 for Hessians)::

    h_j = eps ** (1 / (p + d)) * max(|x_j|, 1)

This balances the truncation error (∝ h^p) against the rounding error
(∝ eps / h^d): forward differences get h = sqrt(eps)·max(|x|, 1) ≈ 1.5e-8,
central differences cbrt(eps)·max(|x|, 1) ≈ 6e-6, central Hessians
eps^(1/4) ≈ 1.2e-4.  The step is then rounded so that ``x + h`` is exactly
representable (``h = (x + h) - x``), which removes one rounding error.

The complex step uses ``t_j = eps · max(|x_j|, 1)``: there is no
subtraction, so any small ``t`` is free of cancellation; its truncation
error, about ``t² |f'''| / 6``, is then of relative size eps², far below
rounding, while ``t`` stays far from underflow in every dtype (1e-20 would
underflow in float32 once squared).  ``order`` has nothing left to gain for
the complex step and is accepted but not used.  For Hessians the complex
method is the complex-step/finite-difference hybrid
``H_ij = Im[f(x + i t e_i + h e_j) - f(x + i t e_i - h e_j)] / (2 t h)``
whose ``h`` follows the first-derivative rule.

An explicit ``step=h`` is used as is (absolute, every coordinate); for the
complex method it is ``t`` (for Hessians the real step ``h``).

>>> import wengert.numpy as wnp
>>> from wengert import numeric
>>> g = numeric.grad(lambda x: wnp.sum(x ** 3), wnp.array([1.0, 2.0]))
>>> [round(float(v), 6) for v in g]
[3.0, 12.0]
>>> g, info = numeric.grad(wnp.sin, 0.5, method="complex", return_info=True)
>>> abs(float(g) - float(wnp.cos(0.5))) < 1e-15, info.evaluations
(True, 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tree_util import tree_flatten, tree_unflatten

__all__ = [
    "grad",
    "jacobian",
    "hessian",
    "derivative",
    "step_sweep",
    "default_step",
    "NumericInfo",
    "StepSweep",
    "sweep_svg",
]

METHODS = ("central", "forward", "backward", "complex")


# ----------------------------------------------------------------------------
# What the caller gets back besides the result


@dataclass
class NumericInfo:
    """How a finite-difference result was obtained and how good it is.

    ``evaluations``: calls of ``f``.  ``error``: an estimate of the largest
    absolute error of any entry, ``truncation_error + rounding_error``.
    ``truncation_error`` comes from the Richardson tableau: the last
    correction (the error of the next-lower order, so an overestimate for
    ``order=4`` central), shrunk by the decay of the corrections when there
    are two or more; ``None`` for a single-level formula (order 2 central,
    order 1 one-sided), which has nothing to compare with.
    ``rounding_error`` is ``eps·max|f|/h^d`` times the formula's weight.
    ``step``: the base step per input coordinate, shaped like ``x``.
    """

    evaluations: int
    error: float
    truncation_error: float | None
    rounding_error: float
    step: Any
    method: str
    order: int

    def __str__(self):
        t = "n/a" if self.truncation_error is None else f"{self.truncation_error:.2e}"
        return (f"{self.method}, order {self.order}: {self.evaluations} evaluations, "
                f"error ≈ {self.error:.2e} (truncation {t}, rounding {self.rounding_error:.2e})")


# ----------------------------------------------------------------------------
# Pytrees of float arrays <-> one flat vector


class _Flat:
    """The differentiated input as one flat real vector, and back."""

    def __init__(self, x, caller, fname):
        leaves, self.tree = tree_flatten(x)
        if not leaves:
            raise ValueError(f"numeric.{caller}({fname}): x has no array leaves to differentiate")
        arrays = []
        for leaf in leaves:
            a = np.asarray(leaf)
            if a.dtype.kind == "c":
                raise TypeError(
                    f"numeric.{caller}({fname}): x has a complex leaf ({a.dtype.name}); finite "
                    "differences here are taken in real directions. Split it into real and "
                    "imaginary parts, or use wg.grad(..., holomorphic=True).")
            if a.dtype.kind not in "fiub":
                raise TypeError(f"numeric.{caller}({fname}): x must hold numbers, got {a.dtype}")
            arrays.append(a)
        floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
        self.dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
        if self.dtype.itemsize < 4:
            self.dtype = np.dtype(np.float32)
        self.shapes = [a.shape for a in arrays]
        self.sizes = [a.size for a in arrays]
        self.x0 = np.concatenate([a.astype(self.dtype).ravel() for a in arrays])
        self.eps = float(np.finfo(self.dtype).eps)

    def unflatten(self, v, shapes_prefix=(), dtype=None):
        out = []
        start = 0
        for s, n in zip(self.shapes, self.sizes):
            blk = v[..., start:start + n].reshape(tuple(shapes_prefix) + s)
            if dtype is not None:
                blk = blk.astype(dtype, copy=False)
            out.append(blk[()] if blk.ndim == 0 else blk)
            start += n
        return tree_unflatten(self.tree, out)

    def split_last(self, m, prefix):
        """Split the last axis of ``m`` (size n) into leaves shaped prefix + leaf.shape."""
        out = []
        start = 0
        for s, n in zip(self.shapes, self.sizes):
            blk = m[..., start:start + n].reshape(tuple(prefix) + s)
            out.append(blk[()] if blk.ndim == 0 else blk)
            start += n
        return out


class _Counted:
    """``f`` on flat vectors: counts calls and flattens outputs consistently."""

    def __init__(self, f, flat, caller, fname, complex_input=False):
        self.f = f
        self.flat = flat
        self.caller = caller
        self.fname = fname
        self.count = 0
        self.out_tree = None
        self.out_shapes = None
        self.complex_input = complex_input
        self.fmax = 0.0

    def __call__(self, v):
        self.count += 1
        x = self.flat.unflatten(v)
        try:
            out = self.f(x)
        except TypeError as e:
            if self.complex_input:
                raise TypeError(
                    f"numeric.{self.caller}({self.fname}, method='complex'): {self.fname} failed on "
                    f"complex input ({e}). The complex step needs code that accepts complex numbers "
                    "(most wengert.numpy functions do); use method='central' otherwise.") from e
            raise
        leaves, tree = tree_flatten(out)
        arrs = [np.asarray(o) for o in leaves]
        if self.out_tree is None:
            self.out_tree = tree
            self.out_shapes = [a.shape for a in arrs]
            for a in arrs:
                if a.dtype.kind not in "fcib":
                    raise TypeError(f"numeric.{self.caller}({self.fname}): {self.fname} must return "
                                    f"numbers, got dtype {a.dtype}")
        elif tree != self.out_tree or [a.shape for a in arrs] != self.out_shapes:
            raise ValueError(f"numeric.{self.caller}({self.fname}): {self.fname} returned outputs of "
                             "different structure or shape at nearby points")
        if self.complex_input and not any(a.dtype.kind == "c" for a in arrs):
            raise TypeError(
                f"numeric.{self.caller}({self.fname}, method='complex'): {self.fname} returned a real "
                "value for complex input, so the imaginary part that carries the derivative was "
                "dropped (abs, float(), np.real or a NumPy function that discards it?). Use "
                "wengert.numpy functions that keep complex values, or method='central'.")
        r = np.concatenate([a.ravel() for a in arrs]) if arrs else np.zeros(0)
        if r.size:
            m = float(np.max(np.abs(r.real)))
            if np.isfinite(m):
                self.fmax = max(self.fmax, m)
        return r


def _check_method(method, order, caller, fname):
    if method not in METHODS:
        raise ValueError(f"numeric.{caller}({fname}): method={method!r} is not one of "
                         f"{', '.join(repr(m) for m in METHODS)}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"numeric.{caller}({fname}): order={order!r} must be a positive int "
                         "(2, 4, 6 or 8; 1 also for forward/backward)")
    order = int(order)
    if method in ("central", "complex"):
        if order % 2 or order > 8:
            raise ValueError(
                f"numeric.{caller}({fname}): order={order} is not available for method="
                f"{method!r}: its error has only even powers of h, so use 2, 4, 6 or 8")
    elif order > 8:
        raise ValueError(f"numeric.{caller}({fname}): order={order} is too high; use 1 to 8")
    return order


def _levels(method, order):
    """(number of Richardson levels, error exponents of the expansion)."""
    if method in ("forward", "backward"):
        return order, [m for m in range(1, order)]
    return order // 2, [2 * m for m in range(1, order // 2)]


def default_step(x: Any, method: str = "central", order: int = 2, deriv: int = 1) -> Any:
    """The automatic step for ``x`` (a pytree), shaped like ``x``.

    ``h = eps ** (1 / (order + deriv)) * max(|x|, 1)`` for finite
    differences; ``eps * max(|x|, 1)`` for the complex step (first
    derivatives).  ``eps`` is the machine epsilon of ``x``'s float dtype.

    >>> from wengert import numeric
    >>> float(numeric.default_step(0.0, "forward", order=1))  # sqrt(eps)
    1.4901161193847656e-08
    >>> round(float(numeric.default_step(100.0, "central")), 12)  # cbrt(eps)·100
    0.000605545445
    """
    flat = _Flat(x, "default_step", "x")
    h = _base_step(flat, method, order, deriv)
    return flat.unflatten(h)


def _base_step(flat, method, order, deriv):
    scale = np.maximum(np.abs(flat.x0.astype(np.float64)), 1.0)
    if method == "complex" and deriv == 1:
        return flat.eps * scale
    if method == "complex":  # the real step of the hybrid Hessian: a first derivative
        return flat.eps ** (1.0 / (order + 1)) * scale
    return flat.eps ** (1.0 / (order + deriv)) * scale


def _steps(flat, method, order, deriv, step, caller, fname):
    if step is None:
        h = _base_step(flat, method, order, deriv)
    else:
        h = np.asarray(step, dtype=np.float64)
        if h.ndim != 0 or not np.isfinite(h) or h <= 0:
            raise ValueError(f"numeric.{caller}({fname}): step={step!r} must be a positive "
                             "finite number (or None for the automatic rule)")
        h = np.full(flat.x0.shape, float(h))
    return h


def _representable(x0, h, sign=1.0):
    """Round steps so that x ± h is exact: returns the actual |(x ± h) - x|."""
    xp = (x0 + sign * h.astype(x0.dtype)).astype(x0.dtype)
    return (sign * (xp - x0)).astype(np.float64)


def _richardson(ests, exps):
    """Neville tableau over estimates at h, h/2, ...: (best, truncation estimate or None).

    The last correction ``c`` measures the error of the next-lower order;
    with two corrections the final error is estimated by their geometric
    decay, ``min(c, c²/c_prev)``; with one, ``c`` itself (pessimistic).
    """
    row = list(ests)
    corrs = []
    for p in exps:
        f = 2.0 ** p - 1.0
        new = [row[i + 1] + (row[i + 1] - row[i]) / f for i in range(len(row) - 1)]
        corrs.append(np.abs(new[-1] - row[-1]))
        row = new
    best = row[-1]
    if not corrs:
        return best, None
    c = corrs[-1]
    if len(corrs) >= 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(corrs[-2] > 0, np.minimum(c, c * c / corrs[-2]), c)
    return best, c


# ----------------------------------------------------------------------------
# Jacobians (first derivatives)


def _jacobian_flat(F, flat, method, order, h):
    """Returns (J (m, n), truncation estimate (m, n) or None, rounding (m, n))."""
    x0 = flat.x0
    n = x0.size
    k, exps = _levels(method, order)
    if n == 0:
        f0 = F(x0)
        return np.zeros((f0.size, 0)), None, np.zeros((f0.size, 0))
    if method == "complex":
        cdt = np.result_type(flat.dtype, np.complex64)
        cols = []
        for j in range(n):
            v = x0.astype(cdt)
            v[j] += 1j * h[j]
            cols.append(F(v).imag / h[j])
        J = np.stack(cols, axis=-1) if cols else np.zeros((0, 0))
        return J, None, flat.eps * np.abs(J)
    f0 = F(x0) if method != "central" else None
    sign = -1.0 if method == "backward" else 1.0
    levels = []
    hmin = None
    for lev in range(k):
        hl = h / 2.0 ** lev
        cols = []
        for j in range(n):
            if method == "central":
                hp = _representable(x0[j:j + 1], hl[j:j + 1], 1.0)[0]
                hm = _representable(x0[j:j + 1], hl[j:j + 1], -1.0)[0]
                v = x0.copy()
                v[j] = x0[j] + hp
                fp = F(v)
                v[j] = x0[j] - hm
                fm = F(v)
                cols.append((fp - fm) / (hp + hm))
            else:
                hs = _representable(x0[j:j + 1], hl[j:j + 1], sign)[0]
                v = x0.copy()
                v[j] = x0[j] + sign * hs
                cols.append(sign * (F(v) - f0) / hs)
        J_l = np.stack(cols, axis=-1)
        levels.append(J_l.astype(np.result_type(J_l.dtype, np.float64)))
        hmin = hl
    J, corr = _richardson(levels, exps)
    # rounding: eps·|f|/h for the smallest step, amplified by the extrapolation weights
    amp = 2.0 ** (k - 1) * (1.0 if method == "central" else 2.0)
    rnd = flat.eps * max(F.fmax, 1e-300) / np.min(hmin) * amp
    return J, corr, np.full(J.shape, rnd)


def _prepare(f, x, method, order, step, caller, deriv):
    fname = getattr(f, "__name__", None) or type(f).__name__
    order = _check_method(method, order, caller, fname)
    flat = _Flat(x, caller, fname)
    h = _steps(flat, method, order, deriv, step, caller, fname)
    F = _Counted(f, flat, caller, fname, complex_input=(method == "complex" and deriv == 1))
    return fname, order, flat, h, F


def _info(F, flat, method, order, h, corr, rnd):
    trunc = None if corr is None else (float(np.max(corr)) if np.size(corr) else 0.0)
    rnd_v = float(np.max(rnd)) if np.size(rnd) else 0.0
    return NumericInfo(
        evaluations=F.count, error=(trunc or 0.0) + rnd_v, truncation_error=trunc,
        rounding_error=rnd_v, step=flat.unflatten(h), method=method, order=order)


def jacobian(f: Callable, x: Any, method: str = "central", step: float | None = None,
             order: int = 2, return_info: bool = False) -> Any:
    """Jacobian of ``f`` at ``x`` by finite differences, shaped ``out.shape + in.shape``.

    ``x`` may be a pytree of float arrays; the result then has ``f``'s output
    structure at the top and ``x``'s inside, as ``wg.jacfwd``.  Evaluations:
    ``2·n·order/2`` for central, ``1 + n·order`` for one-sided, ``n`` for the
    complex step (``n`` = number of input elements).  See the module
    docstring for the step rule and ``order``.

    >>> import wengert.numpy as wnp
    >>> from wengert import numeric
    >>> J = numeric.jacobian(lambda x: wnp.stack([x[0] * x[1], wnp.sin(x[0])]),
    ...                      wnp.array([1.0, 2.0]), order=4)
    >>> J.shape, round(float(J[0, 0]), 9), round(float(J[1, 0] - wnp.cos(1.0)), 9)
    ((2, 2), 2.0, 0.0)
    """
    fname, order, flat, h, F = _prepare(f, x, method, order, step, "jacobian", 1)
    J, corr, rnd = _jacobian_flat(F, flat, method, order, h)
    res = _assemble_jac(J, F, flat)
    if return_info:
        return res, _info(F, flat, method, order, h, corr, rnd)
    return res


def _assemble_jac(J, F, flat):
    out = []
    start = 0
    for shp in F.out_shapes:
        m = int(np.prod(shp, dtype=np.int64))
        rows = J[start:start + m].astype(np.result_type(flat.dtype, J.dtype) if J.dtype.kind == "c"
                                          else flat.dtype)
        start += m
        leaves = flat.split_last(rows, shp)
        out.append(tree_unflatten(flat.tree, leaves))
    return tree_unflatten(F.out_tree, out)


def _check_scalar(F, fname, caller, value=None):
    if F.out_tree is None or F.out_tree.num_leaves != 1 or F.out_shapes[0] != ():
        shapes = F.out_shapes
        raise TypeError(
            f"numeric.{caller}({fname}) needs a scalar output (shape ()), but {fname} returned "
            f"{'shape ' + str(shapes[0]) if shapes and len(shapes) == 1 else 'a pytree of ' + str(shapes)}."
            " Reduce it (e.g. `.sum()`), or use numeric.jacobian.")
    if value is not None and np.iscomplexobj(value):
        raise TypeError(
            f"numeric.{caller}({fname}) needs a real scalar output, but {fname} returned a complex "
            "value. Take the real part or abs, or use numeric.jacobian for the complex derivative.")


def grad(f: Callable, x: Any, method: str = "central", step: float | None = None,
         order: int = 2, return_info: bool = False) -> Any:
    """Gradient of a scalar-output ``f`` at ``x`` by finite differences.

    ``x`` may be a pytree of float arrays; the gradient has its structure
    and dtype.  ``method``: ``"central"`` (default), ``"forward"``,
    ``"backward"`` or ``"complex"``; ``step``: h, or ``None`` for
    ``eps^(1/(order+1))·max(|x|, 1)`` (complex step: ``eps·max(|x|, 1)``);
    ``order``: accuracy order, above the method's own by Richardson
    extrapolation.  ``return_info=True`` returns ``(gradient, NumericInfo)``
    with the number of evaluations and an error estimate.

    >>> import wengert.numpy as wnp
    >>> from wengert import numeric
    >>> g, info = numeric.grad(lambda p: p["a"] ** 2 * p["b"], {"a": 3.0, "b": 4.0},
    ...                        order=4, return_info=True)
    >>> round(float(g["a"]), 8), round(float(g["b"]), 8), info.evaluations
    (24.0, 9.0, 8)
    """
    fname, order, flat, h, F = _prepare(f, x, method, order, step, "grad", 1)
    J, corr, rnd = _jacobian_flat(F, flat, method, order, h)
    _check_scalar(F, fname, "grad", None if method == "complex" else J)
    g = flat.unflatten(J[0], dtype=flat.dtype)
    if return_info:
        return g, _info(F, flat, method, order, h, corr, rnd)
    return g


def derivative(f: Callable, x: float, method: str = "central", step: float | None = None,
               order: int = 2, return_info: bool = False) -> Any:
    """``f'(x)`` for a function of one scalar ``x`` (its output may be an array).

    >>> import wengert.numpy as wnp
    >>> from wengert import numeric
    >>> round(float(numeric.derivative(wnp.exp, 1.0, order=6) - wnp.e), 10)
    0.0
    """
    fname = getattr(f, "__name__", None) or type(f).__name__
    if np.ndim(x) != 0 or isinstance(x, (list, tuple, dict)):
        raise TypeError(f"numeric.derivative({fname}): x must be a scalar, got shape "
                        f"{np.shape(x)}; use numeric.jacobian or numeric.grad for arrays")
    return jacobian(f, x, method, step, order, return_info)


# ----------------------------------------------------------------------------
# Hessians


def _hessian_flat(F, flat, method, order, h, f0=None):
    x0 = flat.x0
    n = x0.size
    k, exps = _levels(method, order)
    if n == 0:
        return np.zeros((0, 0)), None, 0.0
    levels = []
    hmin = None
    if method == "complex":
        cdt = np.result_type(flat.dtype, np.complex64)
        t = flat.eps * np.maximum(np.abs(x0.astype(np.float64)), 1.0)
        for lev in range(k):
            hl = h / 2.0 ** lev
            H = np.zeros((n, n))
            for i in range(n):
                for j in range(n):
                    hp = _representable(x0[j:j + 1], hl[j:j + 1], 1.0)[0]
                    hm = _representable(x0[j:j + 1], hl[j:j + 1], -1.0)[0]
                    v = x0.astype(cdt)
                    v[j] = x0[j] + hp
                    v[i] += 1j * t[i]
                    fp = F(v)
                    v = x0.astype(cdt)
                    v[j] = x0[j] - hm
                    v[i] += 1j * t[i]
                    fm = F(v)
                    H[i, j] = float((fp - fm).imag[0]) / (t[i] * (hp + hm))
            levels.append(0.5 * (H + H.T))
            hmin = hl
        Hb, corr = _richardson(levels, exps)
        amp = 2.0 ** (k - 1)
        rnd = flat.eps * max(F.fmax, 1e-300) / np.min(hmin) * amp
        return Hb, corr, rnd
    sign = -1.0 if method == "backward" else 1.0
    for lev in range(k):
        hl = h / 2.0 ** lev
        hs = _representable(x0, hl, sign)
        H = np.zeros((n, n))

        def at2(i, a, j, b):
            v = x0.copy()
            v[i] = v[i] + a * hs[i]
            v[j] = v[j] + b * hs[j]
            return F(v)[0]

        if method == "central":
            fp = [at2(i, 1, i, 0) for i in range(n)]
            fm = [at2(i, -1, i, 0) for i in range(n)]
            for i in range(n):
                H[i, i] = (fp[i] - 2 * f0 + fm[i]) / (hs[i] * hs[i])
                for j in range(i + 1, n):
                    H[i, j] = H[j, i] = (at2(i, 1, j, 1) - at2(i, 1, j, -1) - at2(i, -1, j, 1)
                                         + at2(i, -1, j, -1)) / (4 * hs[i] * hs[j])
        else:
            s = sign
            f1 = [at2(i, s, i, 0) for i in range(n)]
            for i in range(n):
                H[i, i] = (at2(i, 2 * s, i, 0) - 2 * f1[i] + f0) / (hs[i] * hs[i])
                for j in range(i + 1, n):
                    H[i, j] = H[j, i] = (at2(i, s, j, s) - f1[i] - f1[j] + f0) / (hs[i] * hs[j])
        levels.append(H)
        hmin = hl
    Hb, corr = _richardson(levels, exps)
    amp = 2.0 ** (2 * (k - 1)) * 4.0
    rnd = flat.eps * max(F.fmax, 1e-300) / float(np.min(hmin)) ** 2 * amp
    return Hb, corr, rnd


def hessian(f: Callable, x: Any, method: str = "central", step: float | None = None,
            order: int = 2, return_info: bool = False) -> Any:
    """Hessian of a scalar-output ``f`` at ``x`` by second differences.

    Shaped ``x.shape + x.shape`` (for pytrees: ``x``'s structure of ``x``'s
    structure, as ``wg.hessian``).  Central: ``[f(x+h_i+h_j) - f(x+h_i-h_j)
    - f(x-h_i+h_j) + f(x-h_i-h_j)] / (4 h_i h_j)`` off the diagonal and
    ``[f(x+h_i) - 2f(x) + f(x-h_i)] / h_i²`` on it, error O(h²) with
    ``h = eps^(1/4)·max(|x|, 1)``; forward/backward: O(h) with
    ``h = eps^(1/3)·max(|x|, 1)``; complex: the complex-step/central hybrid
    (see the module docstring).  Higher ``order`` by Richardson extrapolation.

    >>> import wengert.numpy as wnp
    >>> from wengert import numeric
    >>> H = numeric.hessian(lambda x: x[0] ** 2 * x[1], wnp.array([3.0, 4.0]), order=4)
    >>> wnp.round(H, 6)
    array([[8., 6.],
           [6., 0.]])
    """
    fname, order, flat, h, F = _prepare(f, x, method, order, step, "hessian", 2)
    if method == "complex":
        F.complex_input = True
    v0 = F(flat.x0.astype(np.result_type(flat.dtype, np.complex64)) if method == "complex"
           else flat.x0)
    _check_scalar(F, fname, "hessian", None if method == "complex" else v0)
    H, corr, rnd = _hessian_flat(F, flat, method, order, h, v0[0].real)
    H = H.astype(flat.dtype)
    blocks_by_row = [[None] * len(flat.shapes) for _ in flat.shapes]
    # block (i, j) = H[entries of leaf i, entries of leaf j]
    offs = np.cumsum([0] + flat.sizes)
    for i, si in enumerate(flat.shapes):
        for j, sj in enumerate(flat.shapes):
            blk = H[offs[i]:offs[i + 1], offs[j]:offs[j + 1]].reshape(si + sj)
            blocks_by_row[i][j] = blk[()] if blk.ndim == 0 else blk
    res = tree_unflatten(flat.tree, [tree_unflatten(flat.tree, row) for row in blocks_by_row])
    if return_info:
        return res, _info(F, flat, method, order, h, corr, np.asarray(rnd))
    return res


# ----------------------------------------------------------------------------
# The V-shaped error curve


@dataclass
class StepSweep:
    """Error of a finite-difference gradient against AD for a range of steps.

    ``steps`` and ``errors`` (max absolute error over the gradient's
    entries) are NumPy arrays; ``best_step`` minimises the error.
    ``str()`` is a text table with a log-scale bar per step; ``to_svg()``
    draws the curve (see :func:`sweep_svg`).
    """

    steps: np.ndarray
    errors: np.ndarray
    method: str
    order: int
    rows: list = field(default_factory=list)

    @property
    def best_step(self) -> float:
        return float(self.steps[int(np.argmin(self.errors))])

    @property
    def best_error(self) -> float:
        return float(np.min(self.errors))

    def __str__(self):
        lines = [f"step sweep: method={self.method!r}, order={self.order} "
                 f"(best step {self.best_step:.0e}, error {self.best_error:.1e})",
                 "      step      error"]
        floor = 1e-17
        for h, e in zip(self.steps, self.errors):
            bar = "#" * max(0, int(round(np.log10(max(e, floor)) + 17)))
            mark = "  <- best" if h == self.best_step else ""
            lines.append(f"  {h:8.0e}  {e:9.2e}  {bar}{mark}")
        return "\n".join(lines)

    __repr__ = __str__

    def to_svg(self, path: str | None = None, title: str | None = None) -> str:
        """This curve as an SVG plot (see :func:`sweep_svg`)."""
        return sweep_svg([self], path=path, title=title)


def step_sweep(f: Callable, x: Any, method: str = "central", order: int = 2,
               steps: Sequence[float] | None = None, reference: Any = None) -> StepSweep:
    """The error of ``numeric.grad(f, x, method, step=h, order)`` against AD.

    ``steps`` defaults to 1e-1, 1e-2, ..., 1e-15; ``reference`` defaults to
    ``wg.grad(f)(x)``.  Large steps lose to truncation (the right arm of the
    V, slope ``order``), small ones to rounding (the left arm, slope -1):
    the minimum of central differences sits near cbrt(eps) ≈ 6e-6, of
    forward differences near sqrt(eps) ≈ 1.5e-8; the complex step has no
    left arm.

    >>> import wengert.numpy as wnp
    >>> from wengert import numeric
    >>> s = numeric.step_sweep(lambda x: wnp.sin(x) * wnp.exp(x), 0.7)
    >>> 1e-7 <= s.best_step <= 1e-4
    True
    """
    if reference is None:
        from ._api import grad as ad_grad
        reference = ad_grad(f)(x)
    if steps is None:
        steps = [10.0 ** -k for k in range(1, 16)]
    ref_leaves = [np.asarray(r, dtype=np.float64) for r in tree_flatten(reference)[0]]
    errs = []
    rows = []
    for h in steps:
        g, info = grad(f, x, method=method, step=h, order=order, return_info=True)
        g_leaves = [np.asarray(a, dtype=np.float64) for a in tree_flatten(g)[0]]
        e = max(float(np.max(np.abs(a - b))) if a.size else 0.0
                for a, b in zip(g_leaves, ref_leaves))
        errs.append(e)
        rows.append({"step": float(h), "error": e, "evaluations": info.evaluations})
    return StepSweep(np.asarray(steps, dtype=np.float64), np.asarray(errs), method, order, rows)


_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def sweep_svg(sweeps: Sequence[StepSweep], path: str | None = None, title: str | None = None,
              width: int = 560, height: int = 360, marks: dict | None = None) -> str:
    """Plot step sweeps as log-log curves in a small standalone SVG.

    Written by hand (no plotting library needed).  Returns the SVG text and
    writes it to ``path`` when given.  Errors of exactly zero are drawn at
    1e-17.  ``marks`` (``{label: step}``) draws dashed vertical lines, e.g.
    at the theoretical optima ``sqrt(eps)`` and ``cbrt(eps)``.

    >>> import wengert.numpy as wnp
    >>> from wengert import numeric
    >>> svg = numeric.step_sweep(wnp.sin, 0.5, steps=[1e-2, 1e-4]).to_svg()
    >>> svg.startswith("<svg") and "central" in svg
    True
    """
    floor = 1e-17
    left, right, top, bottom = 70, 150, 40, 50
    pw, ph = width - left - right, height - top - bottom
    all_steps = np.concatenate([s.steps for s in sweeps])
    all_errs = np.concatenate([np.maximum(s.errors, floor) for s in sweeps])
    xlo, xhi = math.floor(np.log10(all_steps.min())), math.ceil(np.log10(all_steps.max()))
    ylo, yhi = math.floor(np.log10(all_errs.min())), math.ceil(np.log10(all_errs.max()))
    if yhi == ylo:
        yhi = ylo + 1
    if xhi == xlo:
        xhi = xlo + 1

    def X(h):  # small steps on the left
        return left + (np.log10(h) - xlo) / (xhi - xlo) * pw

    def Y(e):
        return top + (yhi - np.log10(max(e, floor))) / (yhi - ylo) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    t = title or "finite-difference error against AD"
    out.append(f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="14">{_esc(t)}</text>')
    ystep = 1 if yhi - ylo <= 10 else 2
    for k in range(ylo, yhi + 1, ystep):
        y = Y(10.0 ** k)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">1e{k}</text>')
    xstep = 1 if xhi - xlo <= 8 else 2
    for k in range(xlo, xhi + 1, xstep):
        x = X(10.0 ** k)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">1e{k}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">step h</text>')
    out.append(f'<text x="16" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {top + ph / 2})">max |FD − AD|</text>')
    for label, step in (marks or {}).items():
        if not xlo <= np.log10(step) <= xhi:
            continue
        x = X(step)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#888" '
                   'stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x + 3:.1f}" y="{top + 12}" fill="#555">{_esc(label)}</text>')
    for n, s in enumerate(sweeps):
        c = _COLORS[n % len(_COLORS)]
        pts = " ".join(f"{X(h):.1f},{Y(e):.1f}" for h, e in zip(s.steps, s.errors))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        for h, e in zip(s.steps, s.errors):
            out.append(f'<circle cx="{X(h):.1f}" cy="{Y(e):.1f}" r="3" fill="{c}"/>')
        ly = top + 14 + 18 * n
        label = f"{s.method}, order {s.order}" if s.method != "complex" else "complex step"
        out.append(f'<line x1="{left + pw + 12}" y1="{ly - 4}" x2="{left + pw + 32}" y2="{ly - 4}" '
                   f'stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{left + pw + 38}" y="{ly}">{_esc(label)}</text>')
    out.append("</svg>")
    svg = "\n".join(out) + "\n"
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(svg)
    return svg


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
