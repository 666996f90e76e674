"""``wengert.nn``: layers, activations, losses and initialisers for training
models with wengert's gradients.

Parameters are pytrees: ``model.params`` is a dict (``Linear``) or a list of
the layers' params (``Sequential``, ``MLP``), and ``model.apply(params, x)`` is
a pure function, so ``wg.grad`` differentiates a loss with respect to all of
them at once.  ``model.parameters()`` gives ``wg.Tensor``s for PyTorch-style
training with ``loss.backward()`` and ``wengert.optim``.

>>> import numpy as np
>>> import wengert as wg
>>> from wengert import nn
>>> model = nn.MLP([2, 16, 2], activation="tanh", seed=0)
>>> X = np.array([[0.0, 1.0], [1.0, 0.0]]); y = np.array([0, 1])
>>> def loss(params):
...     return nn.losses.cross_entropy(model.apply(params, X), y)
>>> g = wg.grad(loss)(model.params)
>>> g[0]["weight"].shape
(16, 2)
"""

from . import activations, init, losses
from ._module import (
    ELU,
    GELU,
    MLP,
    Activation,
    Dropout,
    Embedding,
    Identity,
    IncompatibleKeys,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    activation,
    dropout,
    dropout_mask,
    functional_call,
)
from .activations import (
    elu,
    gelu,
    identity,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse,
)

__all__ = [
    "Module", "Linear", "LayerNorm", "Embedding", "Sequential", "MLP", "Activation", "activation",
    "Identity", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "SiLU", "Softplus", "GELU",
    "Softmax", "LogSoftmax", "Dropout", "Parameter", "IncompatibleKeys",
    "dropout", "dropout_mask", "functional_call",
    "relu", "leaky_relu", "elu", "tanh", "sigmoid", "silu", "softplus", "gelu", "softmax",
    "log_softmax", "logsumexp", "identity",
    "mse", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "losses", "init", "activations",
]
