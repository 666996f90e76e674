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


def logsumexp(x: Any, axis=-1, keepdims: bool = False) -> Any:
    """``log(sum(exp(x), axis))`` without overflow: the maximum is taken out
    first (as a constant, so the gradient is exactly ``softmax``).

    >>> import numpy as np
    >>> float(logsumexp(np.array([1000.0, 1000.0])).round(4))
    1000.6931
    """
    m = _detach(wnp.max(x, axis=axis, keepdims=True))
    out = wnp.log(wnp.sum(wnp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else wnp.squeeze(out, axis=axis)


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
