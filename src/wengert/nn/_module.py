"""Modules: parameters as pytrees plus a pure ``apply(params, x)``.

A module owns ``params``, a pytree (dicts and lists of arrays), and a pure
function ``apply(params, x)``; ``model(x)`` is ``model.apply(model.params, x)``.
Differentiate ``apply`` with respect to ``params`` with ``wg.grad`` and update
them with an optimizer from ``wengert.optim`` — or call ``model.parameters()``
to turn the leaves into ``wg.Tensor``s and train in the PyTorch style.

>>> import numpy as np
>>> import wengert as wg
>>> from wengert import nn
>>> model = nn.MLP([2, 8, 1], activation="tanh", seed=0)
>>> x = np.ones((5, 2))
>>> model(x).shape
(5, 1)
>>> loss = lambda p: nn.losses.mse(model.apply(p, x), np.zeros((5, 1)))
>>> grads = wg.grad(loss)(model.params)
>>> [sorted(g) for g in grads if g is not None]
[['bias', 'weight'], ['bias', 'weight']]
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tree_util import (
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)
from . import activations as A
from . import init as I

__all__ = ["Module", "Linear", "LayerNorm", "Embedding", "Sequential", "MLP", "Activation", "Identity", "ReLU",
           "LeakyReLU", "ELU", "Tanh", "Sigmoid", "SiLU", "Softplus", "GELU", "Softmax",
           "LogSoftmax", "activation"]


def _tensor_api():
    try:
        from ..tensor import Tensor, tensor
    except ImportError as e:
        raise ImportError("Module.parameters() needs wg.Tensor (wengert.tensor), which could "
                          f"not be imported ({e}); use the functional API "
                          "(model.params, model.apply) instead") from None
    return Tensor, tensor


class _Skeleton:
    """A module's pytree aux data: the module itself, compared by structure
    (type, sizes, activations), not by identity or parameter values."""

    __slots__ = ("module", "key")

    def __init__(self, module):
        self.module = module
        self.key = module._structure()

    def __eq__(self, other):
        return isinstance(other, _Skeleton) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return type(self.module).__name__


def _flatten_module(m):
    return (m.params,), _Skeleton(m)


def _unflatten_module(skeleton, children):
    return skeleton.module._with_params(children[0])


class Module(abc.ABC):
    """Base class: ``params`` (a pytree) and a pure ``apply(params, x)``.

    Every module is also a pytree node whose leaves are its parameters, so a
    whole model can be passed where a pytree goes (equinox style):
    ``wg.grad(lambda m: loss(m(x)))(model)`` returns a model-shaped gradient,
    and ``opt.update(grads, state, model)`` returns an updated copy.
    """

    params: Any = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_pytree_node(cls, _flatten_module, _unflatten_module)

    def _structure(self):
        """What makes two modules the same pytree structure."""
        return (type(self), tree_structure(self.params))

    def _with_params(self, params):
        """A shallow copy of this module holding ``params``."""
        clone = copy.copy(self)
        clone.params = params
        return clone

    @abc.abstractmethod
    def apply(self, params: Any, x: Any) -> Any:
        """The output for input ``x`` with parameters ``params`` (a pure function)."""

    def __call__(self, x: Any) -> Any:
        return self.apply(self.params, x)

    def parameters(self) -> list:
        """The parameters as a list of ``wg.Tensor`` (``requires_grad=True``), for
        ``optim.SGD(model.parameters(), lr=...)``.  The first call turns the
        leaves of ``params`` into tensors in place; later calls return the same
        tensors."""
        Tensor, tensor = _tensor_api()
        leaves, tree = tree_flatten(self.params)
        if not all(isinstance(leaf, Tensor) for leaf in leaves):
            leaves = [leaf if isinstance(leaf, Tensor) else tensor(leaf, requires_grad=True)
                      for leaf in leaves]
            self.params = tree_unflatten(tree, leaves)
        return leaves

    def zero_grad(self) -> None:
        """Reset ``.grad`` of every tensor parameter (PyTorch style)."""
        for leaf in tree_leaves(self.params):
            if hasattr(leaf, "grad"):
                leaf.grad = None

    def param_arrays(self) -> Any:
        """``params`` with every tensor leaf replaced by its NumPy array."""
        return tree_map(lambda v: v.data if hasattr(v, "requires_grad") else v, self.params)

    @property
    def num_params(self) -> int:
        """The number of scalar parameters."""
        return int(sum(np.size(getattr(v, "data", v)) for v in tree_leaves(self.params)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ----------------------------------------------------------------------------
# Activations as modules


class Activation(Module):
    """A parameter-free module applying ``fn(x, **kwargs)``.

    >>> Activation(A.relu)(np.array([-1.0, 2.0]))
    array([0., 2.])
    """

    def __init__(self, fn: Callable, **kwargs):
        self.fn = fn
        self.kwargs = kwargs
        self.params = None

    def apply(self, params, x):
        return self.fn(x, **self.kwargs)

    def _structure(self):
        return (type(self), self.fn, tuple(sorted(self.kwargs.items())))

    def __repr__(self):
        extra = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{type(self).__name__}({extra})" if type(self) is not Activation else (
            f"Activation({getattr(self.fn, '__name__', self.fn)}{', ' + extra if extra else ''})")


def _act(name, fn, doc, **defaults):
    def __init__(self, **kwargs):
        Activation.__init__(self, fn, **{**defaults, **kwargs})
    cls = type(name, (Activation,), {"__init__": __init__, "__doc__": doc})
    cls.__module__ = __name__
    return cls


Identity = _act("Identity", A.identity, "``x`` unchanged.")
ReLU = _act("ReLU", A.relu, "``nn.relu`` as a module.")
LeakyReLU = _act("LeakyReLU", A.leaky_relu, "``nn.leaky_relu`` as a module "
                 "(``negative_slope=0.01``).")
ELU = _act("ELU", A.elu, "``nn.elu`` as a module (``alpha=1.0``).")
Tanh = _act("Tanh", A.tanh, "``nn.tanh`` as a module.")
Sigmoid = _act("Sigmoid", A.sigmoid, "``nn.sigmoid`` as a module.")
SiLU = _act("SiLU", A.silu, "``nn.silu`` as a module.")
Softplus = _act("Softplus", A.softplus, "``nn.softplus`` as a module.")
GELU = _act("GELU", A.gelu, "``nn.gelu`` as a module (``approximate='tanh'``).")
Softmax = _act("Softmax", A.softmax, "``nn.softmax`` as a module (``axis=-1``).")
LogSoftmax = _act("LogSoftmax", A.log_softmax, "``nn.log_softmax`` as a module (``axis=-1``).")

_ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU, "tanh": Tanh,
                "sigmoid": Sigmoid, "silu": SiLU, "swish": SiLU, "softplus": Softplus,
                "gelu": GELU, "softmax": Softmax, "log_softmax": LogSoftmax,
                "identity": Identity, "linear": Identity, None: Identity}


def activation(spec: Any) -> Module:
    """A module from an activation name (``"relu"``), a function or a module.

    >>> activation("tanh")
    Tanh()
    """
    if isinstance(spec, Module):
        return spec
    if isinstance(spec, type) and issubclass(spec, Module):
        return spec()
    if callable(spec):
        return Activation(spec)
    try:
        return _ACTIVATIONS[spec]()
    except (KeyError, TypeError):
        names = sorted(k for k in _ACTIVATIONS if k)
        raise ValueError(f"unknown activation {spec!r}; use one of {names}, a function or a "
                         "module") from None


# ----------------------------------------------------------------------------
# Layers


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape ``(out_features,
    in_features)`` (PyTorch's layout).

    ``init`` names the weight initialiser (``"glorot_uniform"`` by default;
    ``"he_normal"`` for ReLU networks; see ``nn.init``), or is a callable;
    the bias starts at zero.  Randomness comes from ``rng=``, ``key=`` or
    ``seed=``.

    >>> layer = Linear(3, 2, seed=0)
    >>> {k: v.shape for k, v in layer.params.items()}
    {'weight': (2, 3), 'bias': (2,)}
    >>> layer(np.ones((4, 3))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 init: str | Callable = "glorot_uniform", bias_init: str | Callable = "zeros",
                 dtype=np.float64, rng=None, key=None, seed=None):
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        r = I.make_rng(rng, key, seed, "Linear")
        w = I.get(init)(r, (out_features, in_features), in_features, out_features, dtype)
        self.params = {"weight": np.asarray(w, dtype=dtype)}
        if bias:
            b = I.get(bias_init)(r, (out_features,), in_features, out_features, dtype)
            self.params["bias"] = np.asarray(b, dtype=dtype)

    def _structure(self):
        return (type(self), self.in_features, self.out_features, tree_structure(self.params))

    def apply(self, params, x):
        y = x @ params["weight"].T
        b = params.get("bias")
        return y if b is None else y + b

    def __repr__(self):
        return (f"Linear({self.in_features}, {self.out_features}, "
                f"bias={'bias' in (self.params or {})})")


class LayerNorm(Module):
    """Normalise over the last axis, then scale and shift:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` (PyTorch's ``nn.LayerNorm``
    over one trailing dimension).

    >>> ln = LayerNorm(3)
    >>> ln(np.array([[1.0, 2.0, 3.0]])).round(4)
    array([[-1.2247,  0.    ,  1.2247]])
    """

    def __init__(self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float64):
        self.normalized_shape, self.eps = int(normalized_shape), eps
        self.params = ({"weight": np.ones(normalized_shape, dtype), "bias": np.zeros(normalized_shape, dtype)}
                       if elementwise_affine else None)

    def _structure(self):
        return (type(self), self.normalized_shape, self.eps, tree_structure(self.params))

    def apply(self, params, x):
        from .. import numpy as wnp
        mu = wnp.mean(x, axis=-1, keepdims=True)
        d = x - mu
        y = d / wnp.sqrt(wnp.mean(d * d, axis=-1, keepdims=True) + self.eps)
        return y if params is None else y * params["weight"] + params["bias"]

    def __repr__(self):
        return f"LayerNorm({self.normalized_shape}, eps={self.eps})"


class Embedding(Module):
    """A lookup table: ``weight[indices]`` with ``weight`` of shape
    ``(num_embeddings, embedding_dim)``, initialised ``N(0, 1)`` as in PyTorch.

    >>> emb = Embedding(10, 4, seed=0)
    >>> emb(np.array([[1, 2], [3, 9]])).shape
    (2, 2, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, dtype=np.float64, rng=None,
                 key=None, seed=None):
        r = I.make_rng(rng, key, seed, "Embedding")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.params = {"weight": r.standard_normal((num_embeddings, embedding_dim)).astype(dtype)}

    def _structure(self):
        return (type(self), self.num_embeddings, self.embedding_dim)

    def apply(self, params, indices):
        idx = np.asarray(getattr(indices, "data", indices))
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        return params["weight"][idx]

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"


class Sequential(Module):
    """Layers applied in order; ``params`` is the list of the layers' params.

    Layers may be modules or plain functions (``nn.relu``), which become
    parameter-free :class:`Activation` modules.

    >>> model = Sequential(Linear(2, 4, seed=0), ReLU(), Linear(4, 1, seed=1))
    >>> [p if p is None else sorted(p) for p in model.params]
    [['bias', 'weight'], None, ['bias', 'weight']]
    """

    def __init__(self, *layers: Any):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.layers = [activation(layer) for layer in layers]

    @property
    def params(self):
        return [layer.params for layer in self.layers]

    @params.setter
    def params(self, value):
        value = list(value)
        if len(value) != len(self.layers):
            raise ValueError(f"Sequential: {len(value)} parameter entries for "
                             f"{len(self.layers)} layers")
        for layer, p in zip(self.layers, value):
            layer.params = p

    def apply(self, params, x):
        if len(params) != len(self.layers):
            raise ValueError(f"Sequential.apply: params has {len(params)} entries, the model "
                             f"{len(self.layers)} layers")
        for layer, p in zip(self.layers, params):
            x = layer.apply(p, x)
        return x

    def _structure(self):
        return (type(self), tuple(layer._structure() for layer in self.layers))

    def _with_params(self, params):
        clone = copy.copy(self)
        params = list(params)
        clone.layers = [layer._with_params(p) for layer, p in zip(self.layers, params)]
        return clone

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}(\n  {inner}\n)"


_RELU_LIKE = {"relu", "leaky_relu", "elu", "gelu", "silu", "swish"}


class MLP(Sequential):
    """A multilayer perceptron: ``Linear`` layers of ``sizes[i] -> sizes[i+1]``
    with ``activation`` between them (none after the last unless
    ``final_activation`` is given).

    Weights start with He (Kaiming) normal for ReLU-like activations and
    Glorot uniform otherwise, unless ``init`` says otherwise.

    >>> MLP([4, 16, 3], activation="relu", seed=0)
    MLP(
      Linear(4, 16, bias=True),
      ReLU(),
      Linear(16, 3, bias=True)
    )
    """

    def __init__(self, sizes: Sequence[int], activation: Any = "relu",
                 final_activation: Any = None, *, init: str | Callable | None = None,
                 bias: bool = True, dtype=np.float64, rng=None, key=None, seed=None):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if init is None:
            init = "he_normal" if activation in _RELU_LIKE else "glorot_uniform"
        r = I.make_rng(rng, key, seed, "MLP")
        layers: list = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(a, b, bias, init=init, dtype=dtype, rng=r))
            if i < len(sizes) - 2:
                layers.append(globals()["activation"](activation))
        if final_activation is not None:
            layers.append(globals()["activation"](final_activation))
        super().__init__(*layers)
        self.sizes = sizes
