"""Sweep cases for ``wengert/numpy/_extra.py`` and the SPEC §1 options that
compute values (pad statistic modes, sort/partition/quantile order statistics)."""

from __future__ import annotations

import numpy as np
from cases import Case

import wengert.numpy as wnp

CASES: list[Case] = []


def U(lo, hi, *shapes):
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) for s in shapes)
    return build


def distinct(*shapes):
    def build(rng):
        out = []
        for s in shapes:
            n = int(np.prod(s)) if s else 1
            out.append((rng.permutation(n) * 0.5 + rng.uniform(0, 0.1, n)).reshape(s))
        return tuple(out)
    return build


def add(name, call, args, **kw):
    """``call(mod, *xs)`` with mod = wnp (traced) and numpy (reference)."""
    CASES.append(Case(f"extra.{name}", lambda *xs: call(wnp, *xs), args, lambda *xs: call(np, *xs),
                      tags=("extra",), **kw))


for _n in ("acos", "asin", "atan", "asinh", "atanh"):
    add(_n, (lambda n: lambda m, x: getattr(m, n)(x))(_n), U(-0.8, 0.8, (3,)))
add("acosh", lambda m, x: m.acosh(x), U(1.2, 3, (3,)))
add("atan2", lambda m, x, y: m.atan2(x, y), U(0.3, 2, (3,), (3,)))
add("pow", lambda m, x, y: m.pow(x, y), U(0.5, 2, (3,), (3,)))
add("matrix_transpose", lambda m, x: m.matrix_transpose(x), U(-1, 1, (2, 2, 3)))
add("vecdot", lambda m, x, y: m.vecdot(x, y), U(-1, 1, (2, 3), (3,)))
add("matvec", lambda m, x, y: m.matvec(x, y), U(-1, 1, (2, 2, 3), (3,)))
add("vecmat", lambda m, x, y: m.vecmat(x, y), U(-1, 1, (3,), (2, 3, 2)))
add("unstack", lambda m, x: m.unstack(x, axis=1)[1], U(-1, 1, (2, 3)))
add("rollaxis", lambda m, x: m.rollaxis(x, 2, 0), U(-1, 1, (2, 3, 4)))
add("dsplit", lambda m, x: m.dsplit(x, 2)[1], U(-1, 1, (2, 2, 4)))
add("diagflat", lambda m, x: m.diagflat(x, 1), U(-1, 1, (2, 2)))
add("append", lambda m, x, y: m.append(x, y), U(-1, 1, (2, 2), (3,)))
add("append-axis", lambda m, x, y: m.append(x, y, axis=0), U(-1, 1, (2, 3), (1, 3)))
add("delete", lambda m, x: m.delete(x, [0, 2], axis=1), U(-1, 1, (2, 4)))
add("insert", lambda m, x, v: m.insert(x, 1, v, axis=1), U(-1, 1, (2, 3), (2,)))
add("insert-flat", lambda m, x, v: m.insert(x, [0, 2], v), U(-1, 1, (2, 2), ()))
add("block", lambda m, a, b, c: m.block([[a, b], [c]]), U(-1, 1, (2, 2), (2, 1), (1, 3)))
add("resize", lambda m, x: m.resize(x, (3, 3)), U(-1, 1, (2, 2)))
add("choose", lambda m, x, y: m.choose(np.array([0, 1, 1]), [x, y]), U(-1, 1, (3,), (3,)))
add("diff", lambda m, x: m.diff(x, n=2, axis=0), U(-1, 1, (4, 3)))
add("diff-prepend", lambda m, x, p: m.diff(x, prepend=p), U(-1, 1, (2, 3), ()))
add("ediff1d", lambda m, x: m.ediff1d(x, to_end=np.array([1.0]), to_begin=0.5), U(-1, 1, (2, 3)))
add("gradient", lambda m, x: m.gradient(x), U(-1, 1, (5,)))
add("gradient-axis-h", lambda m, x: m.gradient(x, 0.5, axis=1, edge_order=2), U(-1, 1, (2, 5)))
add("gradient-coords", lambda m, x: m.gradient(x, np.array([0.0, 0.5, 1.5, 2.0])), U(-1, 1, (4,)))
add("gradient-2d", lambda m, x: m.gradient(x)[1], U(-1, 1, (3, 4)))
add("trapezoid", lambda m, y: m.trapezoid(y), U(-1, 1, (2, 4)))
add("trapezoid-x", lambda m, y, x: m.trapezoid(y, x, axis=0), lambda rng: (
    rng.uniform(-1, 1, (4, 2)), np.cumsum(rng.uniform(0.2, 1, 4))))
for _mode in ("full", "same", "valid"):
    add(f"convolve-{_mode}", (lambda md: lambda m, a, v: m.convolve(a, v, md))(_mode), U(-1, 1, (5,), (3,)))
    add(f"correlate-{_mode}", (lambda md: lambda m, a, v: m.correlate(a, v, md))(_mode), U(-1, 1, (5,), (3,)))
    add(f"correlate-short-{_mode}", (lambda md: lambda m, a, v: m.correlate(a, v, md))(_mode),
        U(-1, 1, (2,), (4,)))
add("interp", lambda m, x, fp: m.interp(x, np.array([0.0, 1.0, 2.5, 3.0]), fp), lambda rng: (
    np.array([-0.5, 0.3, 1.7, 2.7, 3.5]), rng.uniform(-1, 1, 4)))
add("interp-lr", lambda m, x, fp, lv: m.interp(x, np.array([0.0, 1.0, 3.0]), fp, left=lv, right=2 * lv),
    lambda rng: (np.array([-0.5, 0.3, 1.7, 3.5]), rng.uniform(-1, 1, 3), rng.uniform(-1, 1, ())))
add("interp-period", lambda m, x, fp: m.interp(x, np.array([0.0, 100.0, 200.0, 300.0]), fp, period=360),
    lambda rng: (np.array([-10.0, 50.0, 330.0, 370.0]), rng.uniform(-1, 1, 4)))
add("polyval", lambda m, p, x: m.polyval(p, x), U(-1, 1, (4,), (3,)))
add("polyadd", lambda m, p, q: m.polyadd(p, q), U(-1, 1, (4,), (2,)))
add("polysub", lambda m, p, q: m.polysub(p, q), U(-1, 1, (2,), (3,)))
add("polymul", lambda m, p, q: m.polymul(p, q), U(-1, 1, (3,), (2,)))
add("polyder", lambda m, p: m.polyder(p, 2), U(-1, 1, (4,)))
add("polyint", lambda m, p: m.polyint(p, 2, k=[1.0, 2.0]), U(-1, 1, (3,)))
add("vander", lambda m, x: m.vander(x, 4), U(-1, 1, (3,)))
add("vander-inc", lambda m, x: m.vander(x, increasing=True), U(-1, 1, (3,)))
add("copysign", lambda m, x, y: m.copysign(x, y), U(0.2, 1, (4,), (4,)))
add("copysign-neg", lambda m, x, y: m.copysign(x, -y), U(0.2, 1, (4,), (4,)))
add("heaviside", lambda m, x, h: m.heaviside(x * np.array([1.0, 0.0, -1.0]), h), U(0.2, 1, (3,), (3,)))
add("nan_to_num", lambda m, x: m.nan_to_num(x + np.array([0.0, np.nan, np.inf, -np.inf])), U(0.2, 1, (4,)))
_NANS = np.array([[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]])  # added: the gradient there is 0
for _n in ("nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin"):
    add(_n, (lambda n: lambda m, x: getattr(m, n)(x + _NANS, axis=1))(_n), distinct((2, 3)))
add("nancumsum", lambda m, x: m.nancumsum(x + _NANS, axis=1), U(0.5, 1, (2, 3)))
add("nancumprod", lambda m, x: m.nancumprod(x + _NANS), U(0.5, 1, (2, 3)))
add("nanargmax", lambda m, x: x * m.nanargmax(x + _NANS), distinct((2, 3)))
add("median-odd", lambda m, x: m.median(x), distinct((5,)))
add("median-even-axis", lambda m, x: m.median(x, axis=1, keepdims=True), distinct((2, 4)))
add("quantile", lambda m, x: m.quantile(x, [0.1, 0.5, 0.77], axis=0), distinct((5, 2)))
add("quantile-axes", lambda m, x: m.quantile(x, 0.3, axis=(0, 2), keepdims=True), distinct((2, 2, 3)))
for _meth in ("lower", "higher", "nearest", "midpoint"):
    add(f"quantile-{_meth}", (lambda me: lambda m, x: m.quantile(x, 0.3, method=me))(_meth), distinct((6,)))
add("percentile", lambda m, x: m.percentile(x, 40.0), distinct((6,)))
add("cov", lambda m, x: m.cov(x), U(-1, 1, (2, 5)))
add("cov-y-cols", lambda m, x, y: m.cov(x, y, rowvar=False, ddof=0), U(-1, 1, (5, 2), (5,)))
add("cov-weights", lambda m, x, w: m.cov(x, fweights=np.array([1, 2, 1, 3]), aweights=w),
    U(0.5, 1.5, (2, 4), (4,)))
add("corrcoef", lambda m, x: m.corrcoef(x), U(-1, 1, (3, 5)))
add("ldexp", lambda m, x: m.ldexp(x, np.array([1, -2, 3])), U(-1, 1, (3,)))
add("modf", lambda m, x: m.modf(x)[0] + 2 * m.modf(x)[1], U(0.2, 0.8, (3,)))
add("divmod", lambda m, x: m.divmod(x + 3.0, 1.3)[1] * x, U(0.1, 0.2, (3,)))
add("fix", lambda m, x: x * m.fix(x * 3), U(0.4, 0.6, (3,)))
add("bincount-w", lambda m, w: m.bincount(np.array([0, 2, 2, 4]), weights=w), U(-1, 1, (4,)))
add("unwrap", lambda m, p: m.unwrap(p * np.array([1.0, 1.0, 1.0, 1.0]) + np.array([0.0, 3.0, 6.5, 0.5])),
    U(-0.2, 0.2, (4,)))
add("apply_along_axis", lambda m, x: m.apply_along_axis(lambda v: v * v[0], 1, x), U(-1, 1, (2, 3)))
add("signbit-where", lambda m, x: m.where(m.signbit(x - 0.5), x, 2 * x), U(0, 1, (5,)))
add("isposinf", lambda m, x: m.where(m.isposinf(x * np.array([1.0, np.inf])), 0.0, x), U(0.5, 1, (2,)))
# SPEC §1 options that compute values
for _mode in ("maximum", "minimum", "mean", "median", "linear_ramp"):
    add(f"pad-{_mode}", (lambda md: lambda m, x: m.pad(x, ((1, 2), (2, 1)), mode=md))(_mode), distinct((3, 4)))
add("pad-stat_length", lambda m, x: m.pad(x, 2, mode="mean", stat_length=((1, 2),)), distinct((5,)))
add("pad-ramp-ends", lambda m, x: m.pad(x, (2, 3), mode="linear_ramp", end_values=(1.0, -2.0)), distinct((4,)))
add("pad-symmetric", lambda m, x: m.pad(x, ((1, 1), (2, 0)), mode="symmetric"), U(-1, 1, (2, 3)))
add("sort-none", lambda m, x: m.sort(x, axis=None), distinct((2, 3)))
add("take_along_axis-none", lambda m, x: m.take_along_axis(x, np.array([3, 0, 0]), None), U(-1, 1, (2, 2)))
add("average-returned", lambda m, x, w: m.average(x, axis=0, weights=w, returned=True)[0],
    U(0.5, 1, (3, 2), (3,)))
add("meshgrid-3-sparse", lambda m, x, y, z: m.meshgrid(x, y, z, sparse=True)[2] * 2.0, U(-1, 1, (2,), (3,), (2,)))
# more of the namespace through the sweep (aliases and queries used inside differentiable code)
add("cumulative_sum", lambda m, x: m.cumulative_sum(x, axis=1), U(-1, 1, (2, 3)))
add("cumulative_prod", lambda m, x: m.cumulative_prod(x, axis=0), U(0.5, 1, (2, 3)))
add("concat", lambda m, x, y: m.concat([x, y], axis=0), U(-1, 1, (2, 3), (1, 3)))
add("permute_dims", lambda m, x: m.permute_dims(x, (2, 0, 1)), U(-1, 1, (2, 3, 4)))
add("geomspace", lambda m, a, b: m.geomspace(a, b, 4), U(0.5, 2, (), ()))
add("hsplit", lambda m, x: m.hsplit(x, 2)[1], U(-1, 1, (2, 4)))
add("vsplit", lambda m, x: m.vsplit(x, [1])[1], U(-1, 1, (3, 2)))
add("compress", lambda m, x: m.compress([True, False, True], x, axis=1), U(-1, 1, (2, 3)))
add("extract", lambda m, x: m.extract(np.array([True, False, True]), x), U(-1, 1, (3,)))
add("copy", lambda m, x: m.copy(x) * 2.0, U(-1, 1, (3,)))
add("asanyarray", lambda m, x: m.asanyarray(x) + m.ascontiguousarray(x), U(-1, 1, (3,)))
add("broadcast_arrays", lambda m, x, y: m.broadcast_arrays(x, y)[0] * m.broadcast_arrays(x, y)[1],
    U(-1, 1, (2, 1), (3,)))
add("around", lambda m, x: x * m.around(x * 3), U(0.7, 0.8, (3,)))
add("floor_divide", lambda m, x: x * m.floor_divide(x, 0.7), U(0.1, 0.6, (3,)))
add("queries", lambda m, x: m.where(m.isneginf(x) | m.iscomplex(x) | ~m.isreal(x), 0.0, x)
    * m.searchsorted(np.array([0.0, 0.5]), 0.7) * m.count_nonzero(np.array([1, 0, 2])), U(-1, 1, (3,)))
add("nanargmin", lambda m, x: x * m.nanargmin(x + _NANS), distinct((2, 3)))
add("isin-digitize", lambda m, x: x * m.isin(np.array([1, 2, 3]), [2]) + m.digitize(0.3, [0.0, 1.0]), U(-1, 1, (3,)))
add("argpartition-lexsort", lambda m, x: x[m.argpartition(np.array([3, 1, 2]), 1)] * m.lexsort([np.array([2, 1, 0])]),
    U(-1, 1, (3,)))
