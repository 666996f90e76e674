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

import collections
import copy
import numbers
from collections.abc import Callable, Mapping, Sequence
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

__all__ = ["Module", "Parameter", "Dropout", "dropout", "dropout_mask", "functional_call", "IncompatibleKeys",
           "Linear", "LayerNorm", "Embedding", "Sequential", "MLP", "Activation", "Identity", "ReLU",
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


class Module:
    """Base class: ``params`` (a pytree) and a pure ``apply(params, x)``.

    Every module is also a pytree node whose leaves are its parameters, so a
    whole model can be passed where a pytree goes (equinox style):
    ``wg.grad(lambda m: loss(m(x)))(model)`` returns a model-shaped gradient,
    and ``opt.update(grads, state, model)`` returns an updated copy.

    Two ways to write your own:

    * **functional**: set ``self.params`` (a pytree of arrays) and define
      ``apply(self, params, x)``;
    * **PyTorch style**: assign submodules (``self.fc = nn.Linear(...)``, or
      lists of modules) and parameters (``self.w = nn.Parameter(...)``) as
      attributes and define ``forward(self, x)``.  ``params`` is then the dict
      of the children's params by attribute name, and ``apply(params, x)``
      runs ``forward`` with ``params`` swapped in (as
      ``torch.func.functional_call`` does), so ``wg.grad``/``wg.jit`` work on
      it as on any other module.

    ``model(x)`` calls ``forward(x)``, which is ``apply(self.params, x)`` unless
    overridden.  ``named_parameters()``, ``state_dict()``/``load_state_dict()``,
    ``train()``/``eval()`` (the ``training`` flag, which ``Dropout`` reads)
    work as in PyTorch.

    >>> class Net(Module):
    ...     def __init__(self):
    ...         self.fc1 = Linear(2, 4, seed=0)
    ...         self.fc2 = Linear(4, 1, seed=1)
    ...     def forward(self, x):
    ...         return self.fc2(A.tanh(self.fc1(x)))
    >>> net = Net()
    >>> [name for name, _ in net.named_parameters()]
    ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']
    >>> net(np.ones((3, 2))).shape
    (3, 1)
    """

    training: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_pytree_node(cls, _flatten_module, _unflatten_module)

    # -- parameters: explicit (``self.params = ...``) or from the children ----
    def _children(self) -> list:
        """``(name, value)`` of the attributes that hold parameters: modules,
        lists/tuples of modules, and tensors that require grad (``nn.Parameter``)."""
        pnames = self.__dict__.get("_param_attrs", ())
        out = []
        for name, v in self.__dict__.items():
            if name.startswith("_") or name == "training":
                continue
            if isinstance(v, Module) or name in pnames:
                out.append((name, v))
            elif isinstance(v, (list, tuple)) and v and all(isinstance(m, Module) for m in v):
                out.append((name, v))
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        Tensor = _tensor_class()
        if Tensor is not None and isinstance(value, Tensor) and value.requires_grad and not name.startswith("_"):
            names = self.__dict__.setdefault("_param_attrs", [])
            if name not in names:  # a parameter attribute from now on, whatever it holds
                names.append(name)
        object.__setattr__(self, name, value)

    def _explicit(self) -> bool:
        """Whether ``params`` is held as set (functional modules, which define
        ``apply``) rather than gathered from the children (PyTorch style)."""
        return "_params" in self.__dict__ or type(self).apply is not Module.apply or not self._children()

    @property
    def params(self) -> Any:
        """The parameters as a pytree (see the class docstring)."""
        d = self.__dict__
        if "_params" in d:
            return d["_params"]
        if type(self).apply is not Module.apply:
            return None  # a functional module that has not set its params
        kids = self._children()
        if not kids:
            return None
        return {name: _child_params(v) for name, v in kids}

    @params.setter
    def params(self, value: Any) -> None:
        if self._explicit():
            self.__dict__["_params"] = value
            return
        kids = self._children()
        _check_keys(type(self).__name__, value, [n for n, _ in kids])
        for name, v in kids:
            if isinstance(v, Module):
                v.params = value[name]
            elif isinstance(v, (list, tuple)):
                _check_len(type(self).__name__, name, value[name], v)
                for m, p in zip(v, value[name]):
                    m.params = p
            else:
                self.__dict__[name] = value[name]

    def _structure(self):
        """What makes two modules the same pytree structure."""
        return (type(self), tree_structure(self.params))

    def _with_params(self, params):
        """A shallow copy of this module holding ``params`` (children are copied
        too, so the original is left as it was)."""
        clone = copy.copy(self)
        if self._explicit():
            clone.__dict__["_params"] = params
            return clone
        kids = self._children()
        _check_keys(type(self).__name__, params, [n for n, _ in kids])
        for name, v in kids:
            if isinstance(v, Module):
                clone.__dict__[name] = v._with_params(params[name])
            elif isinstance(v, (list, tuple)):
                _check_len(type(self).__name__, name, params[name], v)
                clone.__dict__[name] = type(v)(m._with_params(p) for m, p in zip(v, params[name]))
            else:
                clone.__dict__[name] = params[name]
        return clone

    # -- calling -----------------------------------------------------------------
    def apply(self, params: Any, *args: Any, **kwargs: Any) -> Any:
        """The output for the inputs with parameters ``params`` (a pure function).

        Functional modules define it; for a PyTorch-style module (one that
        defines ``forward``) it runs ``forward`` with ``params`` swapped into
        the children for the duration of the call."""
        if type(self).forward is Module.forward:
            raise TypeError(f"{type(self).__name__}: a Module defines apply(self, params, x) "
                            "(functional style) or forward(self, x) (PyTorch style); this one "
                            "defines neither")
        if self._explicit() and "_params" in self.__dict__:
            raise TypeError(f"{type(self).__name__}: it sets self.params and defines forward() but "
                            "not apply(params, x); define apply so that the parameters can be "
                            "passed in (what wg.grad and nn.functional_call need)")
        old = self.params
        self.params = params
        try:
            return self.forward(*args, **kwargs)
        finally:
            self.params = old

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The output for the inputs with the module's own parameters:
        ``apply(self.params, *args)`` unless a subclass defines it (PyTorch style)."""
        if type(self).apply is Module.apply:
            raise TypeError(f"{type(self).__name__}: a Module defines apply(self, params, x) "
                            "(functional style) or forward(self, x) (PyTorch style); this one "
                            "defines neither")
        return self.apply(self.params, *args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- PyTorch-style bookkeeping -------------------------------------------------
    def parameters(self) -> list:
        """The parameters as a list of ``wg.Tensor`` (``requires_grad=True``), for
        ``optim.SGD(model.parameters(), lr=...)``.  The first call turns the
        leaves of ``params`` into tensors in place; later calls return the same
        tensors.  The order is the pytree order of ``params`` (dict keys sorted),
        the order of :meth:`named_parameters`."""
        Tensor, tensor = _tensor_api()
        leaves, tree = tree_flatten(self.params)
        if not all(isinstance(leaf, Tensor) for leaf in leaves):
            leaves = [leaf if isinstance(leaf, Tensor) else tensor(leaf, requires_grad=True)
                      for leaf in leaves]
            self.params = tree_unflatten(tree, leaves)
        return leaves

    def named_parameters(self) -> list:
        """``(name, tensor)`` pairs, names dotted as PyTorch's (``"fc1.weight"``,
        ``"0.bias"`` for the first layer of a ``Sequential``); the tensors are
        those of :meth:`parameters`.

        >>> [(n, tuple(t.shape)) for n, t in Linear(3, 2, seed=0).named_parameters()]
        [('bias', (2,)), ('weight', (2, 3))]
        """
        tensors = self.parameters()
        return list(zip(_leaf_names(self.params), tensors))

    def children(self) -> list:
        """The direct submodules."""
        out = []
        for v in self.__dict__.values():
            if isinstance(v, Module):
                out.append(v)
            elif isinstance(v, (list, tuple)):
                out.extend(m for m in v if isinstance(m, Module))
        return out

    def modules(self) -> list:
        """This module and all modules below it, depth first."""
        out = [self]
        for c in self.children():
            out.extend(c.modules())
        return out

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every submodule (``Dropout`` drops
        only in training mode); returns the module.

        >>> m = Sequential(Linear(2, 2, seed=0), Dropout(0.5))
        >>> m.eval().training, m[1].training
        (False, False)
        """
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """``train(False)``: evaluation mode (``Dropout`` passes its input through)."""
        return self.train(False)

    def state_dict(self) -> dict:
        """The parameters by dotted name as NumPy arrays, in a plain ``dict`` (a
        pytree, so ``wg.grad`` and ``wg.jit`` take it; PyTorch's is an
        ``OrderedDict``).  The arrays are copies: a snapshot that later training
        does not change (PyTorch's share storage).

        >>> sorted(Linear(3, 2, seed=0).state_dict())
        ['bias', 'weight']
        """
        leaves = tree_leaves(self.params)
        return {n: np.array(_array_of(v), copy=True) for n, v in zip(_leaf_names(self.params), leaves)}

    def load_state_dict(self, state_dict: Mapping, strict: bool = True):
        """Copy the arrays of ``state_dict`` (as :meth:`state_dict` returns) into the
        parameters; tensors are updated in place (what an optimizer holds stays
        valid).  With ``strict=True`` (the default) the keys must match exactly;
        a shape mismatch is always an error.  Returns ``(missing_keys,
        unexpected_keys)``, as PyTorch does.

        >>> a, b = Linear(3, 2, seed=0), Linear(3, 2, seed=1)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool(np.all(a.params["weight"] == b.params["weight"]))
        True
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}.load_state_dict: expected a dict of arrays (as state_dict() "
                            f"returns), got {type(state_dict).__name__}")
        leaves, tree = tree_flatten(self.params)
        names = _leaf_names(self.params)
        have = set(names)
        missing = [n for n in names if n not in state_dict]
        unexpected = [k for k in state_dict if k not in have]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        new = []
        for n, leaf in zip(names, leaves):
            if n not in state_dict:
                new.append(None)
                continue
            v = _array_of(state_dict[n])
            if not isinstance(v, (np.ndarray, np.generic, numbers.Number, list, tuple)):
                errors.append(f'Value for "{n}" is a {type(v).__name__}, not an array.')
                new.append(None)
                continue
            v = np.asarray(v)
            want = np.shape(_array_of(leaf))
            if v.shape != want:
                errors.append(f"size mismatch for {n}: copying a param with shape {v.shape} from "
                              f"checkpoint, the shape in current model is {want}.")
                new.append(None)
                continue
            dt = np.asarray(_array_of(leaf)).dtype
            if v.dtype.kind == "c" and dt.kind != "c":
                errors.append(f"dtype mismatch for {n}: a complex value for the real parameter "
                              f"({dt.name}).")
                new.append(None)
                continue
            new.append(v.astype(dt, copy=True))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {name}:\n\t" + "\n\t".join(errors))
        Tensor = _tensor_class()
        out = []
        for leaf, v in zip(leaves, new):
            if v is None:
                out.append(leaf)
            elif Tensor is not None and isinstance(leaf, Tensor):
                leaf.data = v  # in place: the optimizer's references stay valid
                out.append(leaf)
            else:
                out.append(v)
        self.params = tree_unflatten(tree, out)
        return IncompatibleKeys(missing, unexpected)

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
        if self._explicit():
            return f"{type(self).__name__}()"
        kids = []
        for n, v in self._children():
            if isinstance(v, (list, tuple)):
                kids.extend((f"{n}.{i}", m) for i, m in enumerate(v))
            elif isinstance(v, Module):
                kids.append((n, v))
            else:
                kids.append((n, f"Parameter(shape={tuple(getattr(v, 'shape', ()))})"))
        inner = ",\n  ".join(f"({n}): " + (v if isinstance(v, str) else repr(v)).replace("\n", "\n  ")
                              for n, v in kids)
        return f"{type(self).__name__}(\n  {inner}\n)"


IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _tensor_class():
    try:
        from .._tensor_core import Tensor
    except ImportError:  # pragma: no cover
        return None
    return Tensor


def _child_params(v):
    if isinstance(v, Module):
        return v.params
    if isinstance(v, (list, tuple)):
        return [m.params for m in v]
    return v


def _check_keys(name, value, keys):
    if not isinstance(value, Mapping) or set(value) != set(keys):
        got = sorted(value) if isinstance(value, Mapping) else type(value).__name__
        raise ValueError(f"{name}: params must be a dict with the keys {sorted(keys)} (one per "
                         f"submodule / parameter attribute), got {got}")


def _check_len(name, attr, value, mods):
    if not isinstance(value, (list, tuple)) or len(value) != len(mods):
        raise ValueError(f"{name}: params['{attr}'] must be a list of {len(mods)} entries (one per "
                         f"module in self.{attr})")


def _array_of(v):
    """The NumPy value of a parameter leaf (a Tensor's ``.data``)."""
    Tensor = _tensor_class()
    if Tensor is not None and isinstance(v, Tensor):
        return v.data
    return v


def _leaf_names(params) -> list:
    """Dotted names of the leaves of ``params``, in pytree order."""
    names: list = []

    def walk(node, prefix):
        if node is None:
            return
        if isinstance(node, Mapping):
            for k in sorted(node):
                walk(node[k], f"{prefix}{k}.")
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f"{prefix}{i}.")
        else:
            names.append(prefix[:-1])

    walk(params, "")
    if len(names) != len(tree_leaves(params)):  # pragma: no cover - a registered node type inside
        raise TypeError("named_parameters: params must be nested dicts, lists and arrays")
    return names


def Parameter(data: Any, requires_grad: bool = True) -> Any:  # noqa: N802 (PyTorch's spelling)
    """A parameter for a PyTorch-style module: a ``wg.Tensor`` that requires grad
    (a copy of ``data``).  Assigned as an attribute, it becomes one of the
    module's ``params``.

    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.s = Parameter(np.ones(2))
    ...     def forward(self, x):
    ...         return self.s * x
    >>> sorted(Scale().state_dict())
    ['s']
    """
    _, tensor = _tensor_api()
    return tensor(_array_of(data), requires_grad=requires_grad)


def functional_call(module: Module, params: Any, args: Any, kwargs: dict | None = None) -> Any:
    """``module(*args, **kwargs)`` computed with ``params`` in place of the module's
    own parameters, which are left as they were (``torch.func.functional_call``).

    ``params`` is either the module's ``params`` pytree (or a model-shaped
    pytree of arrays, e.g. what an optimizer updated) or a dict by dotted name
    as :meth:`Module.state_dict` gives (names not in it keep the module's own
    values).  ``args`` is one input or a tuple of inputs.  Pure, so
    ``wg.grad``, ``wg.jit`` and ``wg.vmap`` apply: this is how a module
    written in the PyTorch style trains inside a jitted step.

    >>> import wengert as wg
    >>> model = Linear(2, 1, seed=0)
    >>> params = model.state_dict()
    >>> x = np.ones((4, 2))
    >>> g = wg.grad(lambda p: functional_call(model, p, x).sum())(params)
    >>> sorted(g), g["weight"].tolist()
    (['bias', 'weight'], [[4.0, 4.0]])
    """
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: module must be an nn.Module, got {type(module).__name__}")
    if not isinstance(args, tuple):
        args = (args,)
    own = module.params
    names = _leaf_names(own)
    if isinstance(params, Mapping) and params and all(isinstance(k, str) and k in names for k in params) \
            and not (isinstance(own, Mapping) and set(params) == set(own) and set(own) != set(names)):
        leaves, tree = tree_flatten(own)
        params = tree_unflatten(tree, [params.get(n, leaf) for n, leaf in zip(names, leaves)])
    elif isinstance(params, Mapping) and any(isinstance(k, str) and "." in k for k in params):
        unknown = sorted(k for k in params if k not in names)
        raise KeyError(f"functional_call: unknown parameter name(s) {unknown}; the module has {names}")
    return module.apply(params, *args, **(kwargs or {}))


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


def _staged(x) -> bool:
    """Whether ``x`` is (or wraps) a value traced by ``jit`` or batched by ``vmap``,
    where a mask drawn now would be frozen into the trace or shared by the batch."""
    from .._ir import StagedTracer
    from .._vmap import BatchTracer
    seen = 0
    while x is not None and seen < 64:
        if isinstance(x, (StagedTracer, BatchTracer)):
            return True
        nxt = None
        for attr in ("_data", "primal", "val"):
            nxt = getattr(x, attr, None) if isinstance(x, _tracer_class()) else None
            if nxt is not None:
                break
        x, seen = nxt, seen + 1
    return False


def _tracer_class():
    from .._core import Tracer
    return Tracer


def dropout(x: Any, p: float = 0.5, training: bool = True, *, rng=None, mask=None) -> Any:
    """Inverted dropout: zero each element with probability ``p`` and scale the
    rest by ``1 / (1 - p)``, so the expectation is unchanged; ``x`` itself when
    not ``training`` (or ``p == 0``).

    The mask comes from ``mask=`` (a 0/1 array, e.g. drawn outside a jitted
    step and passed in as an argument) or is drawn from ``rng`` (a
    ``np.random.Generator`` or a seed).  Drawing inside ``wg.jit`` or
    ``wg.vmap`` is refused: the mask would be frozen into the compiled code,
    or shared by the whole batch.

    >>> x = np.ones(6)
    >>> y = dropout(x, 0.5, rng=0)
    >>> sorted(set(y.tolist())) == [0.0, 2.0]
    True
    >>> dropout(x, 0.5, training=False) is x
    True
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x
    if mask is None:
        if _staged(x):
            raise TypeError(
                "dropout: drawing a random mask inside wg.jit or wg.vmap would freeze it into the "
                "trace (or share it across the batch). Draw it outside, e.g. mask = "
                "nn.dropout_mask(rng, x.shape, p), pass it as an argument and call "
                "nn.dropout(x, p, mask=mask); or call model.eval() to turn dropout off")
        mask = dropout_mask(rng, tuple(x.shape) if hasattr(x, "shape") else np.shape(x), p)
    if p == 1.0:
        return x * 0.0
    if isinstance(mask, _tracer_class()):  # a traced mask (an argument of a jitted step)
        return x * (mask * (1.0 / (1.0 - p)))
    dt = np.dtype(getattr(x, "dtype", np.float64))
    scale = np.asarray(mask, dtype=dt if dt.kind in "fc" else np.float64) * (1.0 / (1.0 - p))
    return x * scale


def dropout_mask(rng: Any, shape: Sequence[int], p: float = 0.5) -> np.ndarray:
    """A dropout mask: ``1.0`` with probability ``1 - p``, else ``0.0`` (float64),
    from ``rng`` (a ``np.random.Generator``, a seed, or ``None`` for fresh entropy).

    >>> dropout_mask(0, (2, 3), p=0.0)
    array([[1., 1., 1.],
           [1., 1., 1.]])
    """
    r = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return (r.random(tuple(shape)) >= p).astype(np.float64)


class Dropout(Module):
    """Dropout as a module: :func:`dropout` with probability ``p`` while
    ``training`` (the default; ``model.eval()`` turns it off, ``model.train()``
    back on).  Masks come from its own generator (``rng=``, ``seed=``).

    >>> drop = Dropout(0.5, seed=0)
    >>> x = np.ones(1000)
    >>> 0.4 < float(np.mean(drop(x) == 0)) < 0.6
    True
    >>> bool(np.all(drop.eval()(x) == x))
    True
    """

    def __init__(self, p: float = 0.5, *, rng=None, seed=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(
            seed if rng is None else rng)
        self.params = None

    def _structure(self):
        return (type(self), self.p)

    def apply(self, params, x):
        return dropout(x, self.p, self.training, rng=self.rng)

    def __repr__(self):
        return f"Dropout(p={self.p})"


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
