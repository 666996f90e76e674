"""Activation functions, written with ``wengert.numpy`` so that every one is
differentiable in both modes, to any order, and works on ``wg.Tensor``.

Kinks follow ``sign``: ``relu′(0) = 0`` and ``leaky_relu′(0) = slope``.

>>> import numpy as np
>>> relu(np.array([-1.0, 0.0, 2.0]))
array([0., 0., 2.])
>>> softmax(np.array([0.0, np.log(3.0)])).round(3)
array([0.25, 0.75])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import numpy as wnp
from .._api import stop_gradient

__all__ = ["relu", "leaky_relu", "tanh", "sigmoid", "softplus", "gelu", "silu", "elu",
           "softmax", "log_softmax", "logsumexp", "identity"]


def _detach(x):
    """A constant copy of ``x``: ``Tensor.detach()`` for tensors, else stop_gradient."""
    detach = getattr(x, "detach", None)
    return detach() if detach is not None else stop_gradient(x)


def identity(x: Any) -> Any:
    """``x`` unchanged."""
    return x


def relu(x: Any) -> Any:
    """``max(x, 0)``, with derivative 0 at 0 (the convention of JAX and PyTorch).

    >>> import wengert as wg
    >>> float(wg.grad(relu)(0.0))
    0.0
    """
    return wnp.where(x > 0, x, 0.0 * x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    >>> import numpy as np
    >>> leaky_relu(np.array([-2.0, 3.0]), 0.1)
    array([-0.2,  3. ])
    """
    return wnp.where(x > 0, x, negative_slope * x)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    >>> float(elu(-1.0).round(4))
    -0.6321
    """
    return wnp.where(x > 0, x, alpha * wnp.expm1(wnp.minimum(x, 0.0)))


def tanh(x: Any) -> Any:
    """Hyperbolic tangent.

    >>> float(tanh(0.0))
    0.0
    """
    return wnp.tanh(x)


def sigmoid(x: Any) -> Any:
    """Logistic function ``1 / (1 + exp(-x))``, computed as
    ``(1 + tanh(x / 2)) / 2``, which never overflows.

    >>> float(sigmoid(0.0)), float(sigmoid(-1000.0))
    (0.5, 0.0)
    """
    return 0.5 * (wnp.tanh(0.5 * x) + 1.0)


def silu(x: Any) -> Any:
    """``x * sigmoid(x)`` (also called swish).

    >>> float(silu(0.0))
    0.0
    """
    return x * sigmoid(x)


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, stable for large ``|x|`` (``logaddexp(x, 0)``).

    >>> float(softplus(1000.0)), round(float(softplus(0.0)), 6)
    (1000.0, 0.693147)
    """
    return wnp.logaddexp(x, 0.0)


_C = math.sqrt(2.0 / math.pi)


def gelu(x: Any, approximate: str = "tanh") -> Any:
    """Gaussian error linear unit ``x * Φ(x)``.

    ``approximate="tanh"`` (default) uses ``0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))``,
    PyTorch's ``approximate="tanh"``; ``approximate="none"`` uses the exact
    ``erf`` form (needs ``wengert.scipy.special.erf``).

    >>> round(float(gelu(1.0)), 4)
    0.8412
    """
    if approximate == "tanh":
        return 0.5 * x * (1.0 + wnp.tanh(_C * (x + 0.044715 * x * x * x)))
    if approximate == "none":
        from ..scipy.special import erf
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Any:
    """``log(sum(exp(x), axis))`` without overflow: the maximum is taken out
    first (as a constant, so the gradient is exactly ``softmax``).

    ``axis`` is an int, a tuple of ints or ``None`` (all axes).  Infinities
    give SciPy's answers (``scipy.special.logsumexp``): a slice of ``-inf``
    only, or an empty slice, gives ``-inf`` (with gradient 0); a ``+inf`` entry
    gives ``+inf``.  ``-inf`` entries next to finite ones get gradient 0.

    >>> import numpy as np
    >>> float(logsumexp(np.array([1000.0, 1000.0])).round(4))
    1000.6931
    >>> float(logsumexp(np.array([-np.inf, -np.inf]))), float(logsumexp(np.array([np.inf, 1.0])))
    (-inf, inf)
    >>> float(logsumexp(np.zeros(0)))
    -inf
    """
    shape = tuple(wnp.shape(x))
    if not shape and axis in (None, 0, -1, ()):
        return x  # one term
    axes = _axes(axis, len(shape))
    if any(shape[a] == 0 for a in axes):
        # an empty sum: log 0 = -inf (SciPy's answer), kept differentiable
        return wnp.sum(x, axis=axes, keepdims=keepdims) - np.inf
    m = _detach(wnp.max(x, axis=axes, keepdims=True))
    m = wnp.where(wnp.isfinite(m), m, 0.0)  # all -inf, or +inf: no inf - inf
    s = wnp.sum(wnp.exp(x - m), axis=axes, keepdims=True)
    zero = s == 0
    out = wnp.where(zero, -np.inf, wnp.log(wnp.where(zero, 1.0, s))) + m
    return out if keepdims else wnp.squeeze(out, axis=axes)


def _axes(axis, ndim):
    """``axis`` (None, an int or a tuple) as a tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < max(ndim, 1):
            raise ValueError(f"logsumexp: axis {a!r} is out of range for an array of {ndim} "
                             f"dimension(s); use an int in [{-ndim}, {ndim}), a tuple or None")
        out.append(int(a) % max(ndim, 1))
    return tuple(out)


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x) / sum(exp(x), axis)``, shifted by the maximum for stability.

    >>> import numpy as np
    >>> softmax(np.array([1000.0, 1000.0]))
    array([0.5, 0.5])
    """
    e = wnp.exp(x - _detach(wnp.max(x, axis=axis, keepdims=True)))
    return e / wnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x, axis)``: log-probabilities, finite even for huge logits.

    >>> import numpy as np
    >>> log_softmax(np.array([0.0, 1000.0])).round(3)
    array([-1000.,     0.])
    """
    return x - logsumexp(x, axis=axis, keepdims=True)
