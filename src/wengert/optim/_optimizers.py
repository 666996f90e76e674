"""Optimizers with two faces: functional on pytrees, PyTorch-style on tensors.

Functional (pure; params and state are pytrees, nothing is mutated)::

    opt = optim.Adam(lr=1e-3)
    state = opt.init(params)
    params, state = opt.update(grads, state, params)

PyTorch style (``wg.Tensor`` parameters, updated in place)::

    opt = optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad(); loss.backward(); opt.step()

Each algorithm is one per-parameter rule, ``_leaf(g, p, slots, count, lr)``,
shared by both faces; the formulas are PyTorch's (``torch.optim``), so the
two give the same numbers step for step.

>>> import numpy as np
>>> opt = SGD(lr=0.1)
>>> params = {"w": np.array([1.0, 2.0])}
>>> state = opt.init(params)
>>> params, state = opt.update({"w": np.array([1.0, -1.0])}, state, params)
>>> params["w"], int(state["count"])
(array([0.9, 2.1]), 1)
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import numpy as wnp
from .._core import Tracer
from ..tree_util import tree_flatten, tree_unflatten
from .schedules import Schedule, as_schedule

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad"]

_UNSET = object()


def _is_lr(x) -> bool:
    """A learning rate (a number or a schedule), as opposed to parameters."""
    return isinstance(x, (numbers.Real, Schedule)) or (callable(x) and not isinstance(x, Iterable))


def _zeros_like(p):
    return np.zeros(np.shape(p), dtype=np.result_type(p, 1.0))


def _real_zeros_like(p):
    """Zeros of ``p``'s shape in its real dtype (for running means of ``|g|²``)."""
    return _zeros_like(p).real.copy()


def _dtype(x) -> np.dtype:
    dt = getattr(x, "dtype", None)
    return np.dtype(dt if dt is not None else np.result_type(x))


def _is_complex(x) -> bool:
    return _dtype(x).kind == "c"


def _descent(g):
    """The gradient as the step direction.  wengert's gradients of a real loss of
    complex parameters follow JAX's convention, ``∂f/∂x − i ∂f/∂y`` (see
    docs/complex.md): steepest descent goes along its conjugate (PyTorch's
    ``.grad``), so complex gradients are conjugated here; real ones pass as they are."""
    return wnp.conj(g) if _is_complex(g) else g


def _abs2(g):
    """``|g|²`` elementwise, real (``g * g`` for real ``g``)."""
    if _is_complex(g):
        return wnp.real(g * wnp.conj(g))
    return g * g


class Optimizer:
    """Base class. Subclasses define ``slots`` (per-parameter state arrays) and
    ``_leaf(g, p, slots, count, lr) -> (new_p, new_slots)``."""

    slots: tuple = ()

    def __init__(self, params: Any, lr: Any, default_lr: Any = _UNSET):
        name = type(self).__name__
        if lr is _UNSET:
            lr = default_lr
        if lr is _UNSET:
            raise TypeError(f"{name}: missing the learning rate: {name}(lr), {name}(lr=...) or "
                            f"{name}(model.parameters(), lr=...)")
        if isinstance(lr, numbers.Real) and lr < 0:
            raise ValueError(f"{name}: lr must be non-negative, got {lr}")
        self.lr: Schedule = as_schedule(lr)
        self.tensors: list | None = None
        self.step_count = 0
        if params is not None:
            self._bind(params)

    def _args(self, args: tuple, **named):
        """Sort out the two call styles: ``Cls(lr, hyper, ...)`` (functional)
        and ``Cls(params, lr, hyper, ...)`` (PyTorch); ``named`` are the
        keyword values in positional order, ``params=`` among them."""
        name = type(self).__name__
        sig = inspect.signature(type(self).__init__).parameters
        params = named.pop("params")
        args = list(args)
        if args and not _is_lr(args[0]):
            if params is not None:
                raise TypeError(f"{name}: params given twice (positionally and as params=)")
            params = args.pop(0)
        names = list(named)
        if len(args) > len(names):
            raise TypeError(f"{name} takes at most {len(names)} positional arguments after the "
                            f"parameters ({', '.join(names)}), got {len(args)}")
        for n, v in zip(names, args):
            default = sig[n].default if n in sig else _UNSET
            given = named[n]
            if not (given is default or (type(given) is type(default) and given == default)):
                raise TypeError(f"{name}: {n} given twice (positionally and as {n}=)")
            named[n] = v
        return (params, *named.values())

    # -- functional face -------------------------------------------------------
    def init(self, params: Any) -> dict:
        """The initial state for ``params`` (a pytree): ``{"count": 0, slot: zeros...}``.

        The count is a NumPy ``int64`` (not a Python int), so a jitted step sees the
        same input type on every call and compiles once."""
        leaves, tree = tree_flatten(params)
        state: dict = {"count": np.int64(0)}
        for s in self.slots:
            state[s] = tree_unflatten(tree, [self._init_slot(s, p) for p in leaves])
        return state

    def _init_slot(self, name: str, p):
        return _zeros_like(p)

    def update(self, grads: Any, state: dict, params: Any) -> tuple[Any, dict]:
        """One step: ``(new_params, new_state)`` from ``grads`` (a pytree shaped
        like ``params``); inputs are not modified."""
        name = type(self).__name__
        p_leaves, tree = tree_flatten(params)
        g_leaves, gtree = tree_flatten(grads)
        if gtree != tree:
            raise ValueError(f"{name}.update: grads and params have different structures: "
                             f"{gtree} vs {tree}")
        if not isinstance(state, dict) or "count" not in state:
            raise TypeError(f"{name}.update: state must come from {name}.init(params) or a "
                            "previous update")
        slot_leaves = {}
        for s in self.slots:
            leaves, stree = tree_flatten(state[s])
            if stree != tree:
                raise ValueError(f"{name}.update: the state's '{s}' does not match params' "
                                 "structure; call init(params) again")
            slot_leaves[s] = leaves
        count = state["count"]
        if not isinstance(count, Tracer):  # under jit the count is traced
            count = int(count)
        lr = self.lr(count)
        fused = _fused(self, g_leaves, p_leaves, slot_leaves, count, lr)
        if fused is not None:
            new_p, new_slots = fused
        else:
            new_p, new_slots = self._per_leaf(g_leaves, p_leaves, slot_leaves, count, lr)
        new_state = {"count": count + 1 if isinstance(count, Tracer) else np.int64(count + 1)}
        for s in self.slots:
            new_state[s] = tree_unflatten(tree, new_slots[s])
        return tree_unflatten(tree, new_p), new_state

    def _per_leaf(self, g_leaves, p_leaves, slot_leaves, count, lr):
        new_p: list = []
        new_slots: dict = {s: [] for s in self.slots}
        for i, (g, p) in enumerate(zip(g_leaves, p_leaves)):
            if g is None:
                new_p.append(p)
                for s in self.slots:
                    new_slots[s].append(slot_leaves[s][i])
                continue
            np_, sl = self._leaf(g, p, {s: slot_leaves[s][i] for s in self.slots}, count, lr)
            new_p.append(np_)
            for s in self.slots:
                new_slots[s].append(sl[s])
        return new_p, new_slots

    # -- PyTorch face ----------------------------------------------------------
    def _bind(self, params):
        name = type(self).__name__
        tensors = list(params)
        if not tensors:
            raise ValueError(f"{name}: got an empty parameter list")
        for t in tensors:
            if not (hasattr(t, "grad") and hasattr(t, "requires_grad")):
                raise TypeError(
                    f"{name}(params, ...): params must be wg.Tensor objects (e.g. "
                    f"model.parameters()), got {type(t).__name__}. For arrays and pytrees use "
                    f"the functional API: opt = {name}(lr=...); state = opt.init(params); "
                    "params, state = opt.update(grads, state, params)")
        self.tensors = tensors
        self._tslots = [{s: self._init_slot(s, t.data) for s in self.slots} for t in tensors]
        self._tcount = [0] * len(tensors)

    def _need_tensors(self, what):
        if self.tensors is None:
            name = type(self).__name__
            raise TypeError(f"{name}.{what}() updates wg.Tensor parameters: create it as "
                            f"{name}(model.parameters(), lr=...). With arrays and pytrees use "
                            "opt.update(grads, state, params)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear ``.grad`` of every parameter tensor."""
        self._need_tensors("zero_grad")
        for t in self.tensors:
            if set_to_none or t.grad is None:
                t.grad = None
            else:
                t.grad.data[...] = 0

    def step(self) -> None:
        """Update every parameter tensor that has a ``.grad``, in place."""
        self._need_tensors("step")
        lr = self.lr(self.step_count)
        for i, t in enumerate(self.tensors):
            if t.grad is None:
                continue
            g = t.grad.data if hasattr(t.grad, "requires_grad") else np.asarray(t.grad)
            new, self._tslots[i] = self._leaf(g, t.data, self._tslots[i], self._tcount[i], lr)
            self._tcount[i] += 1
            _assign(t, new)
        self.step_count += 1

    @property
    def current_lr(self) -> float:
        """The learning rate the next ``step()`` will use (PyTorch style)."""
        return self.lr(self.step_count)

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}(lr={self.lr!r}{', ' + hyper if hyper else ''})"

    def _hyper(self) -> dict:
        return {}

    def _leaf(self, g, p, slots: dict, count: int, lr: float):
        raise TypeError(f"{type(self).__name__} defines no update rule")


# Under jit, many small parameters are updated as one vector: the update is
# elementwise, so the numbers are the same bit for bit, and the compiled step
# makes one NumPy call per formula instead of one per formula and parameter.
_FUSE_MEAN_SIZE = 8192  # mean elements per parameter up to which fusing pays


def _fused(opt, g_leaves, p_leaves, slot_leaves, count, lr):
    """``(new_params, new_slots)`` computed on the concatenated parameters, or
    None where that does not apply (eager, mixed dtypes, missing gradients,
    large parameters: there the extra copies would cost more than they save)."""
    if not isinstance(count, Tracer) or len(p_leaves) < 2 or any(g is None for g in g_leaves):
        return None
    dts = {_dtype(x) for x in (*p_leaves, *g_leaves)}
    for s in opt.slots:
        if len({_dtype(x) for x in slot_leaves[s]}) != 1:
            return None
    if len(dts) != 1:
        return None
    shapes = [tuple(p.shape) if hasattr(p, "shape") else np.shape(p) for p in p_leaves]
    sizes = [int(np.prod(sh)) for sh in shapes]
    if sum(sizes) > _FUSE_MEAN_SIZE * len(sizes):
        return None

    def cat(xs):
        return wnp.concatenate([wnp.reshape(x, (-1,)) for x in xs])

    flat_p, flat_slots = opt._leaf(cat(g_leaves), cat(p_leaves), {s: cat(slot_leaves[s]) for s in opt.slots},
                                   count, lr)
    bounds = np.cumsum([0] + sizes)

    def split(v):
        return [wnp.reshape(part, sh) for part, sh in zip(wnp.split(v, list(bounds[1:-1])), shapes)]

    return split(flat_p), {s: split(flat_slots[s]) for s in opt.slots}


def _assign(t, new):
    """Write ``new`` into tensor ``t``'s storage (in place where possible)."""
    data = t.data
    new = np.asarray(new)
    if isinstance(data, np.ndarray) and data.flags.writeable and data.shape == new.shape:
        np.copyto(data, new, casting="unsafe")
        if t.data is data:
            return
    t.data = new.astype(np.asarray(data).dtype, copy=False)


def _like(x, p):
    """A traced scalar hyperparameter (learning rate, bias correction) in ``p``'s
    real dtype: eager Python floats adapt to float32 parameters (NumPy's weak
    scalars); a traced float64 would promote them, so it is cast here."""
    if isinstance(x, Tracer):
        dt = np.dtype(getattr(p, "dtype", np.float64))
        rd = np.empty(0, dt).real.dtype if dt.kind in "fc" else np.dtype(np.float64)
        if np.dtype(x.dtype) != rd:
            return wnp.astype(x, rd)
    return x


def _pow(b, t):
    """``b ** t`` for a float ``b`` and a step count ``t`` (traced under jit)."""
    return wnp.power(b, t) if isinstance(t, Tracer) else b ** t


def _check(name, **kw):
    for k, (v, lo, hi) in kw.items():
        if not (lo <= v < hi):
            raise ValueError(f"{name}: {k} must be in [{lo}, {hi}), got {v!r}")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (heavy ball or
    Nesterov), dampening and L2 ``weight_decay``: PyTorch's ``torch.optim.SGD``.

    ``g += weight_decay * p``; with momentum ``b = g`` on the first step, then
    ``b = momentum * b + (1 - dampening) * g``, and ``g = g + momentum * b``
    (Nesterov) or ``g = b``; finally ``p -= lr * g``.

    >>> import numpy as np
    >>> opt = SGD(lr=0.5, momentum=0.9)
    >>> p = np.array([1.0]); s = opt.init(p)
    >>> p, s = opt.update(np.array([1.0]), s, p); p
    array([0.5])
    >>> p, s = opt.update(np.array([1.0]), s, p); p  # b = 0.9 * 1 + 1
    array([-0.45])
    """

    def __init__(self, *args: Any, lr: float | Callable = _UNSET, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 params: Any = None):
        params, lr, momentum, dampening, weight_decay, nesterov = self._args(
            args, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, params=params)
        self._setup(params, lr, momentum, dampening, weight_decay, nesterov)

    def _setup(self, params, lr, momentum, dampening, weight_decay, nesterov):
        _check(type(self).__name__, momentum=(momentum, 0.0, float("inf")),
               weight_decay=(weight_decay, 0.0, float("inf")), dampening=(dampening, 0.0, 1.0 + 1e-12))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"{type(self).__name__}: nesterov=True needs momentum > 0 and "
                             "dampening = 0")
        self.momentum, self.dampening = momentum, dampening
        self.nesterov, self.weight_decay = nesterov, weight_decay
        self.slots = ("momentum",) if momentum else ()
        Optimizer.__init__(self, params, lr)

    def _hyper(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    def _leaf(self, g, p, slots, count, lr):
        g = _descent(g)
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            b = self.momentum * slots["momentum"] + (1.0 - self.dampening) * g
            if isinstance(count, Tracer):  # the first step takes b = g (PyTorch)
                b = wnp.where(count == 0, g, b)
            elif count == 0:
                b = g
            slots = {"momentum": b}
            g = g + self.momentum * b if self.nesterov else b
        return p - _like(lr, p) * g, slots


class Momentum(SGD):
    """SGD with momentum (default 0.9), optionally Nesterov's: ``SGD(lr,
    momentum=momentum, nesterov=nesterov)``.

    >>> Momentum(0.1, nesterov=True)
    Momentum(lr=constant(0.1), momentum=0.9, nesterov=True, weight_decay=0.0)
    """

    def __init__(self, *args: Any, lr: float | Callable = _UNSET, momentum: float = 0.9,
                 nesterov: bool = False, weight_decay: float = 0.0, dampening: float = 0.0,
                 params: Any = None):
        params, lr, momentum, nesterov, weight_decay, dampening = self._args(
            args, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
            dampening=dampening, params=params)
        if momentum <= 0:
            raise ValueError(f"Momentum: momentum must be positive, got {momentum}")
        self._setup(params, lr, momentum, dampening, weight_decay, nesterov)


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``: ``weight_decay`` is an L2
    term added to the gradient.

    ``m = β1 m + (1-β1) g``, ``v = β2 v + (1-β2) g²``, and
    ``p -= lr / (1-β1ᵗ) · m / (√v / √(1-β2ᵗ) + eps)``.

    >>> import numpy as np
    >>> opt = Adam(lr=0.1)
    >>> p = np.array([1.0, -1.0]); s = opt.init(p)
    >>> p, s = opt.update(np.array([3.0, -2.0]), s, p); p  # first step: lr * sign(g)
    array([ 0.9, -0.9])
    """

    slots = ("m", "v")
    decoupled = False

    def _init_slot(self, name, p):
        return _real_zeros_like(p) if name == "v" else _zeros_like(p)

    def __init__(self, *args: Any, lr: float | Callable = _UNSET, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, params: Any = None):
        params, lr, betas, eps, weight_decay = self._args(
            args, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, params=params)
        self._setup(params, lr, betas, eps, weight_decay)

    def _setup(self, params, lr, betas, eps, weight_decay):
        name = type(self).__name__
        b1, b2 = betas
        _check(name, **{"betas[0]": (b1, 0.0, 1.0), "betas[1]": (b2, 0.0, 1.0)},
               eps=(eps, 0.0, float("inf")), weight_decay=(weight_decay, 0.0, float("inf")))
        self.betas, self.eps, self.weight_decay = (float(b1), float(b2)), eps, weight_decay
        Optimizer.__init__(self, params, lr, default_lr=1e-3)

    def _hyper(self):
        return {"betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def _leaf(self, g, p, slots, count, lr):
        b1, b2 = self.betas
        g = _descent(g)
        if self.weight_decay:
            if self.decoupled:
                p = p * _like(1.0 - lr * self.weight_decay, p)
            else:
                g = g + self.weight_decay * p
        m = b1 * slots["m"] + (1.0 - b1) * g
        v = b2 * slots["v"] + (1.0 - b2) * _abs2(g)
        t = count + 1
        step_size = _like(lr / (1.0 - _pow(b1, t)), p)
        denom = wnp.sqrt(v) / _like((1.0 - _pow(b2, t)) ** 0.5, p) + self.eps
        return p - step_size * (m / denom), {"m": m, "v": v}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as
    ``torch.optim.AdamW``: ``p *= 1 - lr * weight_decay`` before the Adam step.

    >>> import numpy as np
    >>> opt = AdamW(lr=0.1, weight_decay=0.5)
    >>> p = np.array([2.0]); s = opt.init(p)
    >>> p, s = opt.update(np.array([1.0]), s, p); p  # 2 * (1 - 0.05) - 0.1
    array([1.8])
    """

    decoupled = True

    def __init__(self, *args: Any, lr: float | Callable = _UNSET, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, params: Any = None):
        params, lr, betas, eps, weight_decay = self._args(
            args, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, params=params)
        self._setup(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Hinton), as ``torch.optim.RMSprop``: ``s = α s + (1-α) g²``,
    ``p -= lr · g / (√s + eps)``; ``centered=True`` divides by the estimated
    standard deviation ``√(s - ḡ²)``; ``momentum`` accumulates the steps.

    >>> import numpy as np
    >>> opt = RMSprop(lr=0.01, alpha=0.9, eps=0.0)
    >>> p = np.array([1.0]); s = opt.init(p)
    >>> p, s = opt.update(np.array([2.0]), s, p); p  # 1 - 0.01 * 2 / sqrt(0.1 * 4)
    array([0.96837722])
    """

    def __init__(self, *args: Any, lr: float | Callable = _UNSET, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, params: Any = None):
        params, lr, alpha, eps, weight_decay, momentum, centered = self._args(
            args, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, params=params)
        _check("RMSprop", alpha=(alpha, 0.0, 1.0 + 1e-12), eps=(eps, 0.0, float("inf")),
               weight_decay=(weight_decay, 0.0, float("inf")), momentum=(momentum, 0.0, float("inf")))
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered
        self.slots = ("square_avg",) + (("grad_avg",) if centered else ()) + (
            ("momentum",) if momentum else ())
        Optimizer.__init__(self, params, lr, default_lr=1e-2)

    def _init_slot(self, name, p):
        return _real_zeros_like(p) if name == "square_avg" else _zeros_like(p)

    def _hyper(self):
        return {"alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "centered": self.centered}

    def _leaf(self, g, p, slots, count, lr):
        a = self.alpha
        g = _descent(g)
        if self.weight_decay:
            g = g + self.weight_decay * p
        out = {"square_avg": a * slots["square_avg"] + (1.0 - a) * _abs2(g)}
        if self.centered:
            out["grad_avg"] = a * slots["grad_avg"] + (1.0 - a) * g
            avg = wnp.sqrt(out["square_avg"] - _abs2(out["grad_avg"])) + self.eps
        else:
            avg = wnp.sqrt(out["square_avg"]) + self.eps
        step = g / avg
        if self.momentum:
            step = out["momentum"] = self.momentum * slots["momentum"] + step
        return p - _like(lr, p) * step, out


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as ``torch.optim.Adagrad``: ``s += g²``,
    ``p -= lr / (1 + (t-1)·lr_decay) · g / (√s + eps)``.

    >>> import numpy as np
    >>> opt = Adagrad(lr=0.5)
    >>> p = np.array([1.0]); s = opt.init(p)
    >>> p, s = opt.update(np.array([4.0]), s, p); p  # 1 - 0.5 * 4 / 4
    array([0.5])
    """

    slots = ("sum",)

    def __init__(self, *args: Any, lr: float | Callable = _UNSET, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, params: Any = None):
        params, lr, lr_decay, weight_decay, initial_accumulator_value, eps = self._args(
            args, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, params=params)
        _check("Adagrad", lr_decay=(lr_decay, 0.0, float("inf")), eps=(eps, 0.0, float("inf")),
               weight_decay=(weight_decay, 0.0, float("inf")),
               initial_accumulator_value=(initial_accumulator_value, 0.0, float("inf")))
        self.lr_decay, self.weight_decay, self.eps = lr_decay, weight_decay, eps
        self.initial_accumulator_value = initial_accumulator_value
        Optimizer.__init__(self, params, lr, default_lr=1e-2)

    def _init_slot(self, name, p):
        return _real_zeros_like(p) + self.initial_accumulator_value

    def _hyper(self):
        return {"lr_decay": self.lr_decay, "weight_decay": self.weight_decay, "eps": self.eps}

    def _leaf(self, g, p, slots, count, lr):
        g = _descent(g)
        if self.weight_decay:
            g = g + self.weight_decay * p
        total = slots["sum"] + _abs2(g)
        clr = _like(lr / (1.0 + count * self.lr_decay), p)
        return p - clr * (g / (wnp.sqrt(total) + self.eps)), {"sum": total}
