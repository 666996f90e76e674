"""``wg.Tensor``: PyTorch-style tensors that record their graph as they run.

>>> import wengert as wg
>>> x = wg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x ** 2).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4., 6.])

A Tensor wraps a NumPy array (``.data``) and shares the primitives and
derivative rules of the rest of wengert: every ``wengert.numpy`` function
accepts Tensors and returns Tensors, ``.backward()`` transposes the
primitives' own linear rules, and ``create_graph=True`` records the backward
pass so that higher derivatives work.  Methods take NumPy's arguments
(``axis=``, ``keepdims=``) and PyTorch's ``dim=``/``keepdim=`` as aliases.
See ``docs/tensor.md``.
"""

from __future__ import annotations

import collections
import math
import sys
import types
import weakref
from typing import Any

import numpy as np

from . import _prims as P
from ._core import LinVar, Tracer
from ._tensor_backward import autograd_grad
from ._tensor_backward import tensor_backward as _tensor_backward
from ._tensor_core import (
    INPLACE,
    RETAINED,
    G,
    Tensor,
    _counter,
    _mode,
    binary_methods,
    const,
    enable_grad,
    fast_unary,
    is_grad_enabled,
    make,
    make_leaf,
    no_grad,
    set_grad_enabled,
)
from .numpy import _funcs as F
from .numpy._base import WEAK

__all__ = ["Tensor", "tensor", "autograd_grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled"]

_ndarray = np.ndarray


# ----------------------------------------------------------------------------
# Construction


def _as_data(data, dtype):
    if isinstance(data, Tensor):
        d = data._data
        return d if dtype is None else F.astype(d, dtype)
    if isinstance(data, Tracer):  # a value of an enclosing transformation
        return data if dtype is None else F.astype(data, dtype)
    if dtype is not None:
        dtype = np.dtype(dtype)
    if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in _flat(data)):
        data = _unwrap_nested(data)
    d = np.array(data, dtype=dtype)
    # 0-d values are kept as NumPy scalars (what NumPy's own arithmetic returns,
    # and many times faster); ``.data`` still hands out an ndarray
    return d[()] if d.ndim == 0 else d


def _flat(x):
    out, stack = [], [x]
    while stack:
        y = stack.pop()
        if isinstance(y, (list, tuple)):
            stack.extend(y)
        else:
            out.append(y)
    return out


def _unwrap_nested(x):
    if isinstance(x, (list, tuple)):
        return [_unwrap_nested(v) for v in x]
    return x._data if isinstance(x, Tensor) else x


def _check_float(d, caller):
    if np.dtype(d.dtype).kind not in "fc":
        raise RuntimeError(
            f"{caller}: only floating-point and complex tensors can require gradients, got "
            f"{np.dtype(d.dtype).name}. Pass floats (e.g. [1.0, 2.0]) or dtype=float.")


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf Tensor holding a copy of ``data`` (a NumPy dtype, default as
    NumPy: Python floats become float64).

    >>> import wengert as wg
    >>> t = wg.tensor([[1.0, 2.0]], requires_grad=True)
    >>> t.shape, t.dtype, t.requires_grad, t.is_leaf
    ((1, 2), dtype('float64'), True, True)
    """
    if type(data) is float and dtype is None:
        return make_leaf(np.float64(data), requires_grad)
    d = _as_data(data, dtype)
    if requires_grad:
        _check_float(d, "wg.tensor(..., requires_grad=True)")
    return make_leaf(d, requires_grad)


def _tensor_new(cls, data=None, requires_grad=False, dtype=None):
    if data is None:
        data = np.zeros((0,))
    d = _as_data(data, dtype)
    if requires_grad:
        _check_float(d, "wg.Tensor(..., requires_grad=True)")
    t = make_leaf(d, bool(requires_grad))
    if cls is not Tensor:
        t.__class__ = cls
    return t


# ----------------------------------------------------------------------------
# Argument helpers


def _axis(axis, dim, name):
    if dim is not None:
        if axis is not None:
            raise TypeError(f"Tensor.{name}: give axis= or dim=, not both")
        return tuple(dim) if isinstance(dim, list) else dim
    return tuple(axis) if isinstance(axis, list) else axis


def _keep(keepdims, keepdim):
    return bool(keepdim) if keepdim is not None else bool(keepdims)


def _shape_args(shape):
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        return tuple(shape[0])
    return tuple(shape)


_MinMax = collections.namedtuple("MinMax", ["values", "indices"])

_NAMES = {"reduce_sum": "Sum", "reduce_max": "Max", "reduce_min": "Min", "getitem": "Index",
          "broadcast_to": "Expand", "select": "Where", "convert_element_type": "ToCopy",
          "scatter_add": "IndexPut", "concatenate": "Cat", "matmul": "Mm", "pow": "Pow",
          "einsum": "Einsum", "transpose": "Permute", "reshape": "Reshape"}


def _camel(name):
    return _NAMES.get(name) or "".join(w[:1].upper() + w[1:] for w in name.split("_"))


class GradFn:
    """What made a non-leaf Tensor: ``.name`` (e.g. ``"MulBackward"``), the
    primitive, and ``next_functions`` (one ``(GradFn or None, 0)`` per input)."""

    __slots__ = ("_node",)

    def __init__(self, node):
        self._node = node  # the op record, not the tensor: no reference cycle

    @property
    def primitive(self):
        return self._node[0]

    @property
    def name(self) -> str:
        return _camel(self._node[0].name) + "Backward"

    def __eq__(self, other):
        return isinstance(other, GradFn) and other._node is self._node

    def __hash__(self):
        return id(self._node)

    @property
    def next_functions(self):
        out = []
        for a in self._node[2]:
            if isinstance(a, Tensor) and a._rg:
                out.append((a.grad_fn if a._node is not None else _AccumulateGrad(a), 0))
            else:
                out.append((None, 0))
        return tuple(out)

    def __repr__(self):
        return f"<{self.name}>"


class _AccumulateGrad:
    __slots__ = ("variable",)
    name = "AccumulateGrad"

    def __init__(self, t):
        self.variable = t

    def __repr__(self):
        return "<AccumulateGrad>"


def _other(y):
    """An operand as the primitives take it (Tensors pass, lists become arrays)."""
    if type(y) in WEAK or isinstance(y, (Tracer, _ndarray, np.generic)):
        return y
    return np.asarray(y)


_add, _radd = binary_methods(P.add_p, F.add, _other)
_sub, _rsub = binary_methods(P.sub_p, F.subtract, _other)
_mul, _rmul = binary_methods(P.mul_p, F.multiply, _other)
_div, _rdiv = binary_methods(P.div_p, F.divide, _other)
_pow, _rpow = binary_methods(P.pow_p, F.power, _other)


def _unary(name):
    p = F.UNARY[name][0]
    fn = getattr(F, name)

    def m(self):
        return fast_unary(p, self)

    m.__name__ = name
    m.__doc__ = f"Elementwise ``{name}`` (see ``wengert.numpy.{name}``). ``{fn.__name__}``."
    return m


def _check_inplace_leaf(self, name):
    if self._rg and self._node is None and _mode.enabled:
        raise RuntimeError(
            f"Tensor.{name}: a leaf Tensor that requires grad is being used in an in-place "
            "operation. Update parameters inside `with wg.no_grad():`, or use an "
            "out-of-place operation (`y = x + 1`).")


def _snapshot(self):
    s = make(self._data, self._tan, self._rg, self._node)
    d = self.__dict__
    if d:
        s.__dict__.update(d)
    return s


def _inplace(self, name, compute):
    """Run ``compute(snapshot)`` and make ``self`` its result (in place).

    Arrays the graph saved are never mutated: ``self`` is rebound to the new
    array, and its version counter lets ``backward`` raise if an op recorded
    earlier needed the old value."""
    _check_inplace_leaf(self, name)
    src = _snapshot(self) if (self._rg or self._node is not None) else self
    r = compute(src)
    if not isinstance(r, Tensor):
        r = const(r)
    rd = r._data
    if tuple(np.shape(rd)) != tuple(self.shape):
        raise RuntimeError(f"Tensor.{name}: the result of shape {tuple(np.shape(rd))} does not fit "
                           f"in place into a tensor of shape {tuple(self.shape)}")
    dt = self._data.dtype
    if np.dtype(r.dtype) != dt:
        if not np.can_cast(r.dtype, dt, "same_kind"):
            raise RuntimeError(f"Tensor.{name}: result type {np.dtype(r.dtype).name} can't be "
                               f"cast to the tensor's dtype {np.dtype(dt).name} in place")
        r = r.astype(dt)
        rd = r._data
    self._data = rd
    if self._node is None and self._rg and not r._rg:
        pass  # a leaf updated under no_grad keeps its identity
    elif r._rg:
        if self._retain:
            _unretain(self)
        self._tan, self._rg, self._node = r._tan, True, r._node
        if self._retain:
            _register_retained(self)
    else:
        if self._retain:
            _unretain(self)
            self._retain = False
        self._tan, self._rg, self._node = None, False, None
    self._version = self._version + 1
    self._mod = next(_counter)
    INPLACE.seen = True
    return self


def _inplace_binary(name, fn):
    def m(self, other, *args, **kwargs):
        return _inplace(self, name, lambda s: fn(s, other, *args, **kwargs))

    m.__name__ = name
    m.__doc__ = f"In-place ``{name.rstrip('_')}`` (see :func:`_inplace`)."
    return m


def _inplace_unary(name, fn):
    def m(self, *args, **kwargs):
        return _inplace(self, name, lambda s: fn(s, *args, **kwargs))

    m.__name__ = name
    m.__doc__ = f"In-place ``{name.rstrip('_')}``."
    return m


def _register_retained(t):
    tan = t._tan
    if tan is None:
        return
    key = id(tan)

    def drop(_ref, key=key):
        if RETAINED.get(key) is _ref:
            del RETAINED[key]

    RETAINED[key] = weakref.ref(t, drop)


def _unretain(t):
    if t._tan is not None:
        RETAINED.pop(id(t._tan), None)


def _setitem_value(x, idx, v):
    """``x`` with ``x[idx] = v`` (last write wins), as one differentiable expression."""
    shape = tuple(x.shape)
    n = math.prod(shape)
    idx_n = F._norm_index(idx, shape)
    pos = np.arange(n).reshape(shape)[idx_n]
    sel = np.ravel(pos)
    vb = F.broadcast_to(v, pos.shape) if isinstance(v, Tracer) else np.broadcast_to(
        np.asarray(v, dtype=x.dtype), pos.shape)
    vflat = F.reshape(vb, (sel.size,))
    _, last = np.unique(sel[::-1], return_index=True)
    keep = np.sort(sel.size - 1 - last)
    sel = sel[keep]
    if keep.size != vflat.shape[0]:
        vflat = vflat[keep]
    mask = np.zeros(n, bool)
    mask[sel] = True
    xf = F.reshape(x, (n,))
    if isinstance(vflat, Tracer):
        scattered = P.scatter_add(vflat, (sel,), (n,))
    else:
        scattered = np.zeros(n, dtype=np.result_type(vflat.dtype, x.dtype))
        scattered[sel] = vflat
    return F.reshape(F.where(mask, scattered, xf), shape)


# ----------------------------------------------------------------------------
# The methods


class _TensorAPI:
    """Methods copied onto :class:`Tensor` (kept here to read as one class)."""

    __new__ = _tensor_new

    def __init__(self, data=None, requires_grad=False, dtype=None):
        pass

    # -- the value ------------------------------------------------------------
    @property
    def data(self):
        """The NumPy array (also when ``requires_grad``); setting it replaces the
        value without recording anything (as in PyTorch)."""
        d = self._data
        if type(d) is _ndarray or isinstance(d, Tracer):
            return d
        return np.asarray(d)

    @data.setter
    def data(self, value):
        value = value._data if isinstance(value, Tensor) else value
        self._data = value if isinstance(value, (Tracer, _ndarray)) else np.asarray(value)

    def numpy(self, force=False):
        """The NumPy array (no copy; also when ``requires_grad``)."""
        return self.data

    def concrete(self):
        return self.data

    def item(self, *args):
        """The value of a one-element tensor as a Python number."""
        return np.asarray(self.data).item(*args) if not isinstance(self._data, Tracer) \
            else self._data.item(*args)

    def tolist(self):
        return np.asarray(self._data).tolist()

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``/``np.array([t, ...])``: the values of a Tensor that
        records nothing; refused (as in PyTorch) for one that requires grad or
        is traced, whose graph NumPy would drop silently."""
        if self._rg or isinstance(self._data, Tracer):
            what = "requires grad" if self._rg else "is traced by a transformation"
            raise TypeError(
                f"can't convert a wg.Tensor that {what} to a NumPy array (np.asarray / np.array / "
                "np.stack of Tensors): its graph, and so its gradient, would be lost. Use t.detach() "
                "(or t.numpy(), t.data) for the values without a gradient, or combine Tensors "
                "differentiably with wg.stack([...]) / wnp.stack([...]) / wnp.array([...]).")
        d = np.asarray(self._data)
        if dtype is not None:
            d = d.astype(dtype, copy=bool(copy))
        elif copy:
            d = d.copy()
        return d

    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return len(self._data.shape)

    @property
    def size(self):
        """The number of elements, an int that is also callable: ``t.size()`` is
        the shape and ``t.size(d)`` one dimension, as in PyTorch."""
        return _Size(math.prod(self._data.shape), self._data.shape)

    def numel(self):
        return math.prod(self._data.shape)

    def dim(self):
        return len(self._data.shape)

    def nelement(self):
        return math.prod(self._data.shape)

    device = "cpu"
    is_cuda = False

    def cpu(self):
        return self

    def contiguous(self):
        return self

    def __len__(self):
        s = self._data.shape
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]

    def __bool__(self):
        return bool(self._data)

    def __float__(self):
        return float(self._data)

    def __int__(self):
        return int(self._data)

    def __complex__(self):
        return complex(self._data)

    def __index__(self):
        d = self._data
        if np.dtype(d.dtype).kind not in "iub" or np.ndim(d) != 0:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(d)

    def __format__(self, spec):
        if spec and np.ndim(self._data) == 0 and not isinstance(self._data, Tracer):
            return format(self._data.item(), spec)
        return format(str(self), spec)

    def __hash__(self):
        return id(self)

    def __repr__(self):
        d = self._data
        if isinstance(d, Tracer):
            body = f"<traced {d._describe()}>"
        else:
            body = np.array2string(np.asarray(d), separator=", ", prefix="tensor(")
        extra = ""
        if np.dtype(self.dtype) not in (np.float64, np.int64, np.bool_, np.complex128) \
                or (np.size(d) == 0 and not isinstance(d, Tracer)):
            extra += f", dtype={np.dtype(self.dtype).name}"
        if self._node is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if self._node is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol; use .detach().clone()")
        d = self._data
        t = make_leaf(d.copy() if isinstance(d, _ndarray) else d, self._rg)
        if self._grad is not None:
            t._grad = const(np.array(self._grad._data))
        memo[id(self)] = t
        return t

    def __copy__(self):
        return self.__deepcopy__({})

    def __reduce__(self):
        return (_rebuild, (np.asarray(self.data), self._rg if self._node is None else False))

    # -- autograd attributes --------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded for ``backward``."""
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` of a leaf in place (returns ``self``).

        >>> import wengert as wg
        >>> wg.tensor([1.0]).requires_grad_().requires_grad
        True
        """
        requires_grad = bool(requires_grad)
        if self._node is not None:
            if requires_grad:
                return self
            raise RuntimeError(
                "requires_grad_(False): you can only change requires_grad flags of leaf "
                "variables. Use .detach() to get a tensor that does not require grad.")
        if requires_grad == self._rg:
            return self
        if requires_grad:
            _check_float(self._data, "Tensor.requires_grad_()")
            self._tan = LinVar(G, None, (), (weakref.ref(self),))
        else:
            self._tan = None
        self._rg = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (not by a recorded operation)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The operation that made this tensor (``None`` for leaves)."""
        node = self._node
        return None if node is None else GradFn(node)

    @property
    def grad(self):
        """The accumulated gradient (a Tensor, or ``None``); assign ``None`` to reset."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is None:
            self._grad = None
            return
        if not isinstance(value, Tensor):
            value = const(np.asarray(value))
        if tuple(value.shape) != tuple(self.shape):
            raise RuntimeError(f"Tensor.grad: assigned grad has shape {tuple(value.shape)}, but "
                               f"the tensor has shape {tuple(self.shape)}")
        self._grad = value

    @property
    def _version_(self):
        return self._version

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf tensor in ``backward`` (leaves always keep it)."""
        if not self._rg:
            raise RuntimeError("retain_grad(): can't retain_grad on a tensor that does not "
                               "require grad")
        if self._node is None or self._retain:
            return
        self._retain = True
        _register_retained(self)

    @property
    def retains_grad(self) -> bool:
        return bool(self._retain) and self._node is not None

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares the array)."""
        return const(self._data)

    def detach_(self) -> Tensor:
        if self._retain:
            _unretain(self)
            self._retain = False
        self._tan, self._rg, self._node = None, False, None
        return self

    def clone(self) -> Tensor:
        """A differentiable copy."""
        return P.convert_p.bind(self, np.dtype(self.dtype), np.dtype(self.dtype))

    def zero_(self) -> Tensor:
        """Set every element to 0 in place (as ``p.grad.zero_()`` does)."""
        return _inplace(self, "zero_", lambda s: const(np.zeros(self.shape, self.dtype)))

    def fill_(self, value) -> Tensor:
        if isinstance(value, Tensor):
            return _inplace(self, "fill_", lambda s: F.broadcast_to(value, self.shape) + np.zeros(
                self.shape, self.dtype))
        return _inplace(self, "fill_", lambda s: const(np.full(self.shape, value, self.dtype)))

    def copy_(self, src) -> Tensor:
        if isinstance(src, Tensor):
            return _inplace(self, "copy_", lambda s: F.broadcast_to(src, self.shape))
        return _inplace(self, "copy_", lambda s: const(np.array(np.broadcast_to(src, self.shape),
                                                                dtype=self.dtype)))

    def __setitem__(self, key, value):
        return _inplace(self, "__setitem__", lambda s: _setitem_value(s, key, value))

    backward = _tensor_backward  # (in _tensor_backward, with the sweeps)

    # -- printing the graph ---------------------------------------------------
    def graph(self):
        """The recorded computation as a :class:`wengert._ir.Graph` (a Wengert
        list: inputs are the leaves, one row per recorded primitive)."""
        from ._tensor_viz import to_graph
        return to_graph([self])

    def to_wengert(self) -> str:
        """The recorded computation as the numbered listing ``make_graph`` prints.

        >>> import wengert as wg
        >>> x = wg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> print((x * x).sum().to_wengert())  # doctest: +NORMALIZE_WHITESPACE
        inputs  v1: f64[3]
           1  v2 = mul v1 v1                  : f64[3]
           2  v3 = reduce_sum[(0,), (3,)] v2  : f64[]
        outputs v3
        """
        return str(self.graph())

    def to_dot(self, rankdir: str = "LR") -> str:
        """Graphviz DOT source of the recorded graph, with each node's value and
        (where known: leaves and retained tensors after ``backward``) its gradient."""
        from ._tensor_viz import to_dot
        return to_dot(self, rankdir)

    # -- operators --------------------------------------------------------------
    __add__, __radd__ = _add, _radd
    __sub__, __rsub__ = _sub, _rsub
    __mul__, __rmul__ = _mul, _rmul
    __truediv__, __rtruediv__ = _div, _rdiv
    __pow__, __rpow__ = _pow, _rpow

    def __neg__(self):
        return fast_unary(P.neg_p, self)

    def __abs__(self):
        return fast_unary(P.abs_p, self)

    def __eq__(self, other):
        return F.equal(self, _other(other))

    def __ne__(self, other):
        return F.not_equal(self, _other(other))

    def __lt__(self, other):
        return F.less(self, _other(other))

    def __le__(self, other):
        return F.less_equal(self, _other(other))

    def __gt__(self, other):
        return F.greater(self, _other(other))

    def __ge__(self, other):
        return F.greater_equal(self, _other(other))

    def __getitem__(self, idx):
        if isinstance(idx, Tensor):
            idx = idx._data
        elif isinstance(idx, tuple):
            idx = tuple(i._data if isinstance(i, Tensor) else i for i in idx)
        return F.getitem(self, idx)

    # in place
    __iadd__ = _inplace_binary("__iadd__", lambda s, o: s + o)
    __isub__ = _inplace_binary("__isub__", lambda s, o: s - o)
    __imul__ = _inplace_binary("__imul__", lambda s, o: s * o)
    __itruediv__ = _inplace_binary("__itruediv__", lambda s, o: s / o)
    __ipow__ = _inplace_binary("__ipow__", lambda s, o: s ** o)

    def add_(self, other, alpha=1):
        return _inplace(self, "add_", lambda s: s + (other if alpha == 1 else other * alpha))

    def sub_(self, other, alpha=1):
        return _inplace(self, "sub_", lambda s: s - (other if alpha == 1 else other * alpha))

    mul_ = _inplace_binary("mul_", lambda s, o: s * o)
    div_ = _inplace_binary("div_", lambda s, o: s / o)
    pow_ = _inplace_binary("pow_", lambda s, o: s ** o)
    clamp_ = _inplace_unary("clamp_", lambda s, *a, **k: s.clamp(*a, **k))
    neg_ = _inplace_unary("neg_", lambda s: -s)
    abs_ = _inplace_unary("abs_", lambda s: abs(s))
    exp_ = _inplace_unary("exp_", lambda s: s.exp())
    log_ = _inplace_unary("log_", lambda s: s.log())
    sqrt_ = _inplace_unary("sqrt_", lambda s: s.sqrt())
    tanh_ = _inplace_unary("tanh_", lambda s: s.tanh())
    sigmoid_ = _inplace_unary("sigmoid_", lambda s: s.sigmoid())
    relu_ = _inplace_unary("relu_", lambda s: s.relu())

    # -- elementwise methods -----------------------------------------------------
    exp = _unary("exp")
    log = _unary("log")
    log2 = _unary("log2")
    log10 = _unary("log10")
    log1p = _unary("log1p")
    expm1 = _unary("expm1")
    exp2 = _unary("exp2")
    sqrt = _unary("sqrt")
    sin = _unary("sin")
    cos = _unary("cos")
    tan = _unary("tan")
    arcsin = asin = _unary("arcsin")
    arccos = acos = _unary("arccos")
    arctan = atan = _unary("arctan")
    sinh = _unary("sinh")
    cosh = _unary("cosh")
    tanh = _unary("tanh")
    arcsinh = asinh = _unary("arcsinh")
    arccosh = acosh = _unary("arccosh")
    arctanh = atanh = _unary("arctanh")
    abs = absolute = _unary("abs")
    neg = negative = _unary("negative")
    sign = _unary("sign")
    floor = _unary("floor")
    ceil = _unary("ceil")
    trunc = _unary("trunc")
    isnan = _unary("isnan")
    isinf = _unary("isinf")
    isfinite = _unary("isfinite")
    logical_not = _unary("logical_not")

    def square(self):
        return self * self

    def reciprocal(self):
        return 1.0 / self

    def rsqrt(self):
        return 1.0 / self.sqrt()

    def sigmoid(self):
        """``1 / (1 + exp(-x))``, computed as ``(tanh(x/2) + 1) / 2`` (stable)."""
        return (fast_unary(P.tanh_p, self * 0.5) + 1.0) * 0.5

    def relu(self):
        """``max(x, 0)``; relu′(0) = 0."""
        return F.where(self._data > 0, self, 0.0) if not isinstance(self._data, Tracer) \
            else F.where(self > 0, self, 0.0)

    def softplus(self):
        return F.logaddexp(self, 0.0)

    def pow(self, exponent):
        return self ** exponent

    def clamp(self, min=None, max=None):  # noqa: A002
        """``clip``: at a bound the derivative splits ½/½ (see ``wnp.clip``)."""
        r = self
        if min is not None:
            r = F.maximum(r, _other(min))
        if max is not None:
            r = F.minimum(r, _other(max))
        return r

    clip = clamp

    def maximum(self, other):
        return F.maximum(self, _other(other))

    def minimum(self, other):
        return F.minimum(self, _other(other))

    def where(self, condition, other):
        """PyTorch's ``x.where(condition, other)``: ``x`` where true, else ``other``."""
        return F.where(_cond(condition), self, _other(other))

    def masked_fill(self, mask, value):
        return F.where(_cond(mask), _other(value), self)

    def atan2(self, other):
        return F.arctan2(self, _other(other))

    arctan2 = atan2

    def matmul(self, other):
        return F.matmul(self, _other(other))

    __matmul__ = matmul

    def __rmatmul__(self, other):
        return F.matmul(_other(other), self)

    mm = matmul

    def dot(self, other):
        return F.dot(self, _other(other))

    def float(self):
        """float32 (PyTorch's default float)."""
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def long(self):
        return self.astype(np.int64)

    def int(self):
        return self.astype(np.int32)

    def bool(self):
        return self.astype(np.bool_)

    def to(self, dtype=None, *args, **kwargs):
        """``to(dtype)`` (devices other than "cpu" are not supported)."""
        dtype = kwargs.pop("dtype", dtype)
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        return self if dtype is None else self.astype(dtype)

    def type_as(self, other):
        return self.astype(other.dtype)

    def astype(self, dtype, copy=True):
        return F.astype(self, dtype)

    # -- reductions --------------------------------------------------------------
    def sum(self, axis=None, dtype=None, keepdims=False, *, dim=None, keepdim=None):
        return F.sum(self, axis=_axis(axis, dim, "sum"), dtype=dtype, keepdims=_keep(keepdims, keepdim))

    def mean(self, axis=None, dtype=None, keepdims=False, *, dim=None, keepdim=None):
        return F.mean(self, axis=_axis(axis, dim, "mean"), dtype=dtype, keepdims=_keep(keepdims, keepdim))

    def prod(self, axis=None, dtype=None, keepdims=False, *, dim=None, keepdim=None):
        return F.prod(self, axis=_axis(axis, dim, "prod"), dtype=dtype, keepdims=_keep(keepdims, keepdim))

    def var(self, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None, unbiased=None,
            correction=None):
        """Variance; NumPy's default ``ddof=0`` (PyTorch's ``unbiased=``/``correction=`` accepted)."""
        if unbiased is not None:
            ddof = 1 if unbiased else 0
        if correction is not None:
            ddof = correction
        return F.var(self, axis=_axis(axis, dim, "var"), ddof=ddof, keepdims=_keep(keepdims, keepdim))

    def std(self, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None, unbiased=None,
            correction=None):
        """Standard deviation; NumPy's default ``ddof=0`` (``unbiased=``/``correction=`` accepted);
        derivative 0 where the variance is 0, as ``wnp.std``."""
        return F._safe_sqrt(self.var(axis, ddof, keepdims, dim=dim, keepdim=keepdim, unbiased=unbiased,
                                     correction=correction))

    def _extreme(self, name, axis, keepdims, dim, keepdim, other):
        if isinstance(axis, (Tensor, _ndarray)) or other is not None:
            return (F.maximum if name == "max" else F.minimum)(self, _other(
                axis if other is None else other))
        kd = _keep(keepdims, keepdim)
        ax = _axis(axis, dim, name)
        vals = (F.max if name == "max" else F.min)(self, axis=ax, keepdims=kd)
        if dim is not None and isinstance(dim, (int, np.integer)):
            idx = (F.argmax if name == "max" else F.argmin)(self._data, axis=dim, keepdims=kd)
            return _MinMax(vals, const(np.asarray(idx)))
        return vals

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None, other=None):
        """Maximum over ``axis`` (ties share the gradient evenly). With PyTorch's
        ``dim=`` it returns ``(values, indices)`` as PyTorch does; with a tensor
        argument it is the elementwise maximum."""
        return self._extreme("max", axis, keepdims, dim, keepdim, other)

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None, other=None):
        """Minimum over ``axis``; see :meth:`max`."""
        return self._extreme("min", axis, keepdims, dim, keepdim, other)

    def amax(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return F.max(self, axis=_axis(axis, dim, "amax"), keepdims=_keep(keepdims, keepdim))

    def amin(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return F.min(self, axis=_axis(axis, dim, "amin"), keepdims=_keep(keepdims, keepdim))

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return const(np.asarray(np.argmax(np.asarray(self._data), axis=_axis(axis, dim, "argmax"),
                                          keepdims=_keep(keepdims, keepdim))))

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return const(np.asarray(np.argmin(np.asarray(self._data), axis=_axis(axis, dim, "argmin"),
                                          keepdims=_keep(keepdims, keepdim))))

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """``log(sum(exp(x)))``, shifted by the (constant) max for stability."""
        from .nn.activations import logsumexp  # one implementation (infinities, empty axes)
        return logsumexp(self, axis=_axis(axis, dim, "logsumexp"), keepdims=_keep(keepdims, keepdim))

    def softmax(self, axis=-1, *, dim=None):
        """``exp(x) / sum(exp(x))`` along ``axis`` (default the last)."""
        ax = _axis(axis if dim is None else None, dim, "softmax")
        e = F.exp(self - F.max(self.detach(), axis=ax, keepdims=True))
        return e / F.sum(e, axis=ax, keepdims=True)

    def log_softmax(self, axis=-1, *, dim=None):
        """``x - logsumexp(x)`` along ``axis`` (default the last)."""
        ax = _axis(axis if dim is None else None, dim, "log_softmax")
        return self - self.logsumexp(axis=ax, keepdims=True)

    def cumsum(self, axis=None, *, dim=None):
        return F.cumsum(self, axis=_axis(axis, dim, "cumsum"))

    def cumprod(self, axis=None, *, dim=None):
        return F.cumprod(self, axis=_axis(axis, dim, "cumprod"))

    def norm(self, p=2, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """The ``p``-norm over ``axis`` (all elements by default)."""
        ax = _axis(axis, dim, "norm")
        kd = _keep(keepdims, keepdim)
        if p == 2:
            return F.sqrt(F.sum(self * self, axis=ax, keepdims=kd))
        if p == 1:
            return F.sum(abs(self), axis=ax, keepdims=kd)
        return F.sum(abs(self) ** p, axis=ax, keepdims=kd) ** (1.0 / p)

    def all(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return const(np.asarray(np.all(np.asarray(self._data), axis=_axis(axis, dim, "all"),
                                       keepdims=_keep(keepdims, keepdim))))

    def any(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return const(np.asarray(np.any(np.asarray(self._data), axis=_axis(axis, dim, "any"),
                                       keepdims=_keep(keepdims, keepdim))))

    # -- shapes -----------------------------------------------------------------
    def reshape(self, *shape):
        """``reshape(2, 3)`` or ``reshape((2, 3))``; ``-1`` infers one size."""
        return F.reshape(self, _shape_args(shape))

    view = reshape

    def view_as(self, other):
        return F.reshape(self, tuple(other.shape))

    reshape_as = view_as

    def expand(self, *sizes):
        """Broadcast to ``sizes`` (``-1`` keeps a dimension)."""
        sizes = _shape_args(sizes)
        lead = len(sizes) - self.ndim
        full = tuple(s if s != -1 else self.shape[i - lead] for i, s in enumerate(sizes))
        return F.broadcast_to(self, full)

    def expand_as(self, other):
        return F.broadcast_to(self, tuple(other.shape))

    def broadcast_to(self, shape):
        return F.broadcast_to(self, shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """All dimensions from ``start_dim`` to ``end_dim`` as one."""
        nd = self.ndim
        if nd == 0:
            return F.reshape(self, (1,))
        s, e = start_dim % nd, end_dim % nd
        shape = self.shape
        new = shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:]
        return F.reshape(self, new)

    def ravel(self):
        return F.ravel(self)

    def squeeze(self, axis=None, *, dim=None):
        ax = _axis(axis, dim, "squeeze")
        if ax is not None and dim is not None:
            axes = (ax,) if isinstance(ax, (int, np.integer)) else ax
            axes = tuple(a for a in axes if self.shape[a] == 1)  # PyTorch: no-op if not 1
            if not axes:
                return self
            ax = axes
        return F.squeeze(self, ax)

    def unsqueeze(self, dim):
        return F.expand_dims(self, dim)

    def expand_dims(self, axis):
        return F.expand_dims(self, axis)

    def transpose(self, *axes):
        """Two int arguments swap those dimensions (PyTorch's ``transpose(0, 1)``);
        one tuple or list is a permutation (NumPy's ``transpose((1, 0))``, also
        of length 2), as are three or more ints; none reverses the axes."""
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            if axes[0] is None:
                return F.transpose(self)
            return F.transpose(self, tuple(axes[0]))  # a permutation, whatever its length
        if len(axes) == 0:
            return F.transpose(self)
        if len(axes) == 2:
            return F.swapaxes(self, axes[0], axes[1])
        return F.transpose(self, tuple(axes))

    def permute(self, *dims):
        return F.transpose(self, _shape_args(dims))

    def swapaxes(self, a, b):
        return F.swapaxes(self, a, b)

    swapdims = swapaxes

    def moveaxis(self, source, destination):
        return F.moveaxis(self, source, destination)

    movedim = moveaxis

    def t(self):
        """Transpose of a matrix (≤ 2-D), as ``torch.Tensor.t``."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return F.transpose(self)

    @property
    def T(self):
        return F.transpose(self)

    @property
    def mT(self):
        return F.swapaxes(self, -1, -2)

    @property
    def real(self):
        return F.real(self)

    @property
    def imag(self):
        return F.imag(self)

    def flip(self, *dims):
        dims = _shape_args(dims) if dims else None
        return F.flip(self, dims)

    def roll(self, shifts, dims=None):
        return F.roll(self, shifts, dims)

    def tile(self, *reps):
        return F.tile(self, _shape_args(reps))

    def chunk(self, chunks, dim=0):
        return tuple(F.array_split(self, chunks, axis=dim))

    def split(self, split_size, dim=0):
        n = self.shape[dim]
        if isinstance(split_size, (int, np.integer)):
            cuts = list(range(int(split_size), n, int(split_size)))
        else:
            cuts = list(np.cumsum(split_size)[:-1])
        return tuple(F.array_split(self, cuts, axis=dim))


def _cond(c):
    return c._data if isinstance(c, Tensor) else np.asarray(c)


def _rebuild(data, requires_grad):
    return make_leaf(np.array(data), requires_grad)


class _Size(int):
    """``t.size``: NumPy's element count, callable for PyTorch's ``t.size()``."""

    def __new__(cls, n, shape):
        self = super().__new__(cls, n)
        self._shape = tuple(shape)
        return self

    def __call__(self, dim=None):
        return self._shape if dim is None else self._shape[dim]


for _k, _v in list(_TensorAPI.__dict__.items()):
    if _k in ("__dict__", "__weakref__", "__module__", "__qualname__", "__firstlineno__",
              "__static_attributes__") or (_k == "__doc__"):
        continue
    setattr(Tensor, _k, _v)
Tensor.__doc__ = __doc__
Tensor.__module__ = "wengert"
Tensor.__name__ = Tensor.__qualname__ = "Tensor"
del _k, _v


def _unwrap_output(t):
    return t._data


Tensor._unwrap_output = _unwrap_output


# ----------------------------------------------------------------------------
# ``wg.tensor`` is both this module and the constructor: importing a submodule
# sets the package attribute of the same name, so the module itself is callable.


class _TensorModule(types.ModuleType):
    __call__ = staticmethod(tensor)


sys.modules[__name__].__class__ = _TensorModule

