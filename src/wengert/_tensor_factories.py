"""PyTorch's tensor factories for :class:`wengert.Tensor`: ``wg.zeros``,
``wg.ones``, ``wg.full``, ``wg.eye``, ``wg.arange``, ``wg.linspace``,
``wg.randn``, ``wg.rand``, the ``*_like`` forms, ``wg.cat`` and ``wg.stack``.

Sizes are given as PyTorch takes them (``wg.zeros(2, 3)`` or
``wg.zeros((2, 3))``); every factory takes ``dtype=`` (a NumPy dtype;
the default is NumPy's: float64 for floats, PyTorch's is float32) and
``requires_grad=``.  Randomness comes from ``generator=``, a
``np.random.Generator`` or an int seed (``None``: fresh entropy; wengert has
no global seed).

>>> import wengert as wg
>>> w = wg.randn(3, 2, generator=0, requires_grad=True)
>>> w.shape, w.dtype, w.requires_grad
((3, 2), dtype('float64'), True)
>>> wg.cat([wg.ones(2), wg.zeros(1)])
tensor([1., 1., 0.])
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._tensor_core import Tensor
from .tensor import tensor

__all__ = ["zeros", "ones", "full", "eye", "arange", "linspace", "randn", "rand", "zeros_like",
           "ones_like", "full_like", "randn_like", "rand_like", "cat", "concatenate", "stack"]


def _size(size: tuple, name: str) -> tuple:
    """``(2, 3)`` from ``(2, 3)`` or ``((2, 3),)``, checked."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if not isinstance(n, (numbers.Integral, np.integer)) or isinstance(n, bool) or n < 0:
            raise TypeError(f"wg.{name}: sizes must be non-negative ints (wg.{name}(2, 3) or "
                            f"wg.{name}((2, 3))), got {size!r}")
    return tuple(int(n) for n in size)


def _make(data: np.ndarray, requires_grad: bool, dtype: Any, name: str) -> Tensor:
    if dtype is not None:
        data = data.astype(np.dtype(dtype), copy=False)
    if requires_grad and data.dtype.kind not in "fc":
        raise RuntimeError(f"wg.{name}(..., requires_grad=True): only floating-point and complex "
                           f"tensors can require gradients, got {data.dtype.name}; pass dtype=float")
    return tensor(data, requires_grad=bool(requires_grad))


def _rng(generator: Any, name: str) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None or isinstance(generator, (numbers.Integral, np.integer)):
        return np.random.default_rng(generator)
    raise TypeError(f"wg.{name}: generator must be a np.random.Generator or an int seed, got "
                    f"{type(generator).__name__}")


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A Tensor of zeros (float64 unless ``dtype``).

    >>> import wengert as wg
    >>> wg.zeros(2, 2, dtype="float32")
    tensor([[0., 0.],
            [0., 0.]], dtype=float32)
    """
    return _make(np.zeros(_size(size, "zeros")), requires_grad, dtype, "zeros")


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A Tensor of ones (float64 unless ``dtype``).

    >>> import wengert as wg
    >>> wg.ones(3)
    tensor([1., 1., 1.])
    """
    return _make(np.ones(_size(size, "ones")), requires_grad, dtype, "ones")


def full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A Tensor of shape ``size`` filled with ``fill_value`` (its dtype as NumPy's).

    >>> import wengert as wg
    >>> wg.full((2,), 7.0)
    tensor([7., 7.])
    """
    size = _size((size,) if isinstance(size, (tuple, list)) else (size,), "full")
    return _make(np.full(size, fill_value), requires_grad, dtype, "full")


def eye(n: int, m: int | None = None, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n × m`` identity (``m = n`` by default).

    >>> import wengert as wg
    >>> wg.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    n, m = _size((n, n if m is None else m), "eye")
    return _make(np.eye(n, m), requires_grad, dtype, "eye")


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps of ``step`` (``arange(end)`` from 0); int64 for ints,
    float64 for floats (NumPy's dtypes).

    >>> import wengert as wg
    >>> wg.arange(4), wg.arange(0.0, 1.0, 0.25)
    (tensor([0, 1, 2, 3]), tensor([0.  , 0.25, 0.5 , 0.75]))
    """
    if end is None:
        start, end = 0, start
    return _make(np.arange(start, end, step), requires_grad, dtype, "arange")


def linspace(start: float, end: float, steps: int, *, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` points from ``start`` to ``end`` inclusive.

    >>> import wengert as wg
    >>> wg.linspace(0, 1, 3)
    tensor([0. , 0.5, 1. ])
    """
    (steps,) = _size((steps,), "linspace")
    return _make(np.linspace(start, end, steps), requires_grad, dtype, "linspace")


def randn(*size: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``generator`` (a ``np.random.Generator`` or a seed).

    >>> import wengert as wg
    >>> bool((wg.randn(3, generator=1).numpy() == wg.randn(3, generator=1).numpy()).all())
    True
    """
    return _make(_rng(generator, "randn").standard_normal(_size(size, "randn")), requires_grad, dtype,
                 "randn")


def rand(*size: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in ``[0, 1)`` from ``generator`` (a ``np.random.Generator`` or a seed).

    >>> import wengert as wg
    >>> float(wg.rand(100, generator=0).max()) < 1.0
    True
    """
    return _make(_rng(generator, "rand").random(_size(size, "rand")), requires_grad, dtype, "rand")


def _like(x: Any, dtype: Any) -> tuple:
    d = x._data if isinstance(x, Tensor) else np.asarray(x)
    return tuple(np.shape(d)), (np.dtype(d.dtype) if dtype is None else np.dtype(dtype))


def zeros_like(x: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``x``'s shape and dtype."""
    shape, dt = _like(x, dtype)
    return _make(np.zeros(shape, dt), requires_grad, None, "zeros_like")


def ones_like(x: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``x``'s shape and dtype."""
    shape, dt = _like(x, dtype)
    return _make(np.ones(shape, dt), requires_grad, None, "ones_like")


def full_like(x: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` in ``x``'s shape and dtype."""
    shape, dt = _like(x, dtype)
    return _make(np.full(shape, fill_value, dt), requires_grad, None, "full_like")


def randn_like(x: Any, *, generator: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples of ``x``'s shape and (floating) dtype."""
    shape, dt = _like(x, dtype)
    return _make(_rng(generator, "randn_like").standard_normal(shape), requires_grad,
                 dt if dt.kind in "fc" else None, "randn_like")


def rand_like(x: Any, *, generator: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in ``[0, 1)`` of ``x``'s shape and (floating) dtype."""
    shape, dt = _like(x, dtype)
    return _make(_rng(generator, "rand_like").random(shape), requires_grad,
                 dt if dt.kind in "fc" else None, "rand_like")


def _seq(tensors: Any, name: str) -> list:
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"wg.{name}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"wg.{name}: expected a non-empty list of tensors")
    return list(tensors)


def _axis(dim: Any, axis: Any, name: str) -> int:
    if axis is not None:
        if dim is not None and dim != axis:
            raise TypeError(f"wg.{name}: give dim= or axis=, not both")
        return axis
    return 0 if dim is None else dim


def cat(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``dim``, PyTorch's name, or ``axis``),
    differentiably; arrays in the list are taken as constants.

    >>> import wengert as wg
    >>> a = wg.ones(2, requires_grad=True)
    >>> y = wg.cat([a, 2 * a])
    >>> y.sum().backward(); a.grad
    tensor([3., 3.])
    """
    from .numpy import _funcs as F
    out = F.concatenate(_seq(tensors, "cat"), axis=_axis(dim, axis, "cat"))
    return out if isinstance(out, Tensor) else tensor(out)


concatenate = cat


def stack(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join tensors along a new axis (``dim`` or ``axis``), differentiably.

    >>> import wengert as wg
    >>> wg.stack([wg.zeros(2), wg.ones(2)], dim=1).shape
    (2, 2)
    """
    from .numpy import _funcs as F
    out = F.stack(_seq(tensors, "stack"), axis=_axis(dim, axis, "stack"))
    return out if isinstance(out, Tensor) else tensor(out)
