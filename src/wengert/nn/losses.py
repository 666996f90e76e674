"""Loss functions, numerically stable, differentiable with any wengert
transformation and on ``wg.Tensor``.

Every loss takes ``reduction="mean" | "sum" | "none"``.

>>> import numpy as np
>>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 3.0, 0.0]])
>>> round(float(cross_entropy(logits, np.array([0, 1]))), 4)
0.1681
>>> float(mse(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
2.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import numpy as wnp
from .._core import Tracer
from .._tensor_core import Tensor
from .activations import log_softmax, softplus

__all__ = ["mse", "mse_loss", "l1", "cross_entropy", "nll", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "accuracy"]


def _reduce(loss, reduction, name):
    if reduction == "mean":
        return wnp.mean(loss)
    if reduction == "sum":
        return wnp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _values(x):
    """The concrete NumPy value of targets/labels (never differentiated)."""
    data = getattr(x, "data", None)
    if isinstance(data, np.ndarray) and not isinstance(x, np.ndarray):
        return data
    return np.asarray(x)


def mse(pred: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean squared error ``mean((pred - target)²)``.

    >>> float(mse(np.array([0.0, 0.0]), np.array([1.0, 3.0]), reduction="sum"))
    10.0
    """
    d = pred - target
    return _reduce(d * d, reduction, "mse")


mse_loss = mse


def l1(pred: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean absolute error ``mean(|pred - target|)`` (derivative 0 where equal).

    >>> float(l1(np.array([0.0, 0.0]), np.array([1.0, -3.0])))
    2.0
    """
    return _reduce(wnp.abs(pred - target), reduction, "l1")


def _one_hot(labels, n, dtype, name):
    """One-hot rows for integer ``labels`` and whether each label is valid
    (``None`` when all are, checked here; a boolean array for traced labels,
    which cannot be checked before they run)."""
    if isinstance(labels, Tensor):
        labels = labels._data
    if isinstance(labels, Tracer):  # inside jit/vmap/grad: labels not known yet
        if np.dtype(labels.dtype).kind not in "iu":
            raise TypeError(f"{name}: integer class labels expected, got dtype {labels.dtype}")
        hot = wnp.expand_dims(labels, -1) == np.arange(n)
        valid = wnp.logical_and(labels >= 0, labels < n)
        return wnp.where(hot, np.ones((), dtype), np.zeros((), dtype)), valid
    labels = _values(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: integer class labels expected, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(f"{name}: labels must lie in [0, {n}), got values from "
                         f"{labels.min()} to {labels.max()}")
    return np.eye(n, dtype=dtype)[labels], None


def _mask_invalid(loss, valid):
    """NaN where a traced label was out of range: never a silently wrong loss."""
    return loss if valid is None else wnp.where(valid, loss, np.nan)


def cross_entropy(logits: Any, target: Any, axis: int = -1, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Any:
    """Softmax cross entropy from unnormalised ``logits``.

    ``target`` is either integer class labels (shape ``logits.shape`` without
    the class axis) or class probabilities / one-hot rows (the shape of
    ``logits``).  Labels may be traced (an argument of a jitted training
    step); a traced label outside ``[0, n)`` gives a NaN loss, as it cannot
    be checked before it runs (a concrete one raises ``ValueError``).
    Computed as ``-sum(target * log_softmax(logits))``, which stays finite
    for any logits.

    >>> logits = np.array([[1000.0, 0.0]])
    >>> float(cross_entropy(logits, np.array([1])))
    1000.0
    >>> float(cross_entropy(logits, np.array([[0.0, 1.0]])))
    1000.0
    """
    logp = log_softmax(logits, axis=axis)
    shape = tuple(logp.shape)
    n = shape[axis]
    valid = None
    if _dtype_of(target).kind in "iu":
        t, valid = _one_hot(target, n, _dtype(logits), "cross_entropy")
        if axis % len(shape) != len(shape) - 1:
            t = wnp.moveaxis(t, -1, axis)
    else:
        t = target if hasattr(target, "shape") else np.asarray(target)
    if tuple(t.shape) != shape:
        raise ValueError(
            f"cross_entropy: target has shape {tuple(np.shape(_values(target)))}; expected "
            f"integer labels (the logits' shape {shape} without the class axis) or "
            f"probabilities of shape {shape}")
    if label_smoothing:
        t = (1.0 - label_smoothing) * t + label_smoothing / n
    return _reduce(_mask_invalid(-wnp.sum(t * logp, axis=axis), valid), reduction, "cross_entropy")


def nll(log_probs: Any, labels: Any, axis: int = -1, reduction: str = "mean") -> Any:
    """Negative log likelihood of integer ``labels`` under ``log_probs``.

    >>> float(nll(np.log(np.array([[0.5, 0.5]])), np.array([0])).round(4))
    0.6931
    """
    shape = tuple(log_probs.shape)
    t, valid = _one_hot(labels, shape[axis], _dtype(log_probs), "nll")
    if axis % len(shape) != len(shape) - 1:
        t = wnp.moveaxis(t, -1, axis)
    return _reduce(_mask_invalid(-wnp.sum(t * log_probs, axis=axis), valid), reduction, "nll")


def binary_cross_entropy(probs: Any, target: Any, reduction: str = "mean") -> Any:
    """``-(t log p + (1 - t) log(1 - p))`` from probabilities ``p``; each log
    is clamped at -100, as PyTorch does, so ``p = 0`` or ``1`` stays finite.

    >>> float(binary_cross_entropy(np.array([0.0]), np.array([1.0])))
    100.0
    """
    with np.errstate(divide="ignore"):
        lp = wnp.maximum(wnp.log(probs), -100.0)
        lq = wnp.maximum(wnp.log(1.0 - probs), -100.0)
    return _reduce(-(target * lp + (1.0 - target) * lq), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Any:
    """Binary cross entropy of ``sigmoid(logits)``, computed stably as
    ``softplus(z) - t z``.

    >>> float(binary_cross_entropy_with_logits(np.array([-1000.0]), np.array([1.0])))
    1000.0
    """
    return _reduce(softplus(logits) - target * logits, reduction,
                   "binary_cross_entropy_with_logits")


def accuracy(logits: Any, labels: Any, axis: int = -1) -> float:
    """Fraction of rows whose arg-max matches ``labels`` (not differentiable).

    >>> accuracy(np.array([[0.1, 2.0], [3.0, 0.0]]), np.array([1, 1]))
    0.5
    """
    pred = np.argmax(_values(logits), axis=axis)
    return float(np.mean(pred == _values(labels)))


def _dtype_of(x):
    dt = getattr(x, "dtype", None)
    return np.dtype(dt) if dt is not None else np.asarray(x).dtype


def _dtype(x):
    dt = np.dtype(getattr(x, "dtype", np.float64))
    return dt if dt.kind in "fc" else np.dtype(np.float64)
