"""NumPy's own dispatch (NEP 13 ``__array_ufunc__``, NEP 18 ``__array_function__``).

Traced values and ``wg.Tensor`` hand every NumPy ufunc and function applied
to them to the ``wengert.numpy`` function of the same name, so unmodified
NumPy code is differentiated as it is::

    >>> import numpy as np, wengert as wg
    >>> float(wg.grad(lambda x: np.sum(np.exp(x) * x))(np.array([0.0, 1.0]))[1] - 2 * np.e)
    0.0

The mapping is derived, not tabulated: ``numpy.X`` goes to ``wnp.X``,
``numpy.linalg.X`` to ``wnp.linalg.X``, ``numpy.fft.X`` to ``wnp.fft.X``, and a
``scipy.special`` ufunc to ``wengert.scipy.special.X``; each resolution is
cached per NumPy callable.  What wengert does not implement raises
``NotImplementedError`` naming the NumPy function.  Ufunc methods:
``reduce``, ``accumulate`` and ``outer`` are built from the ufunc's own
``wnp`` function; ``reduceat`` and ``at`` (which writes in place) raise.
"""

from __future__ import annotations

import sys

import numpy as np

from .._core import Tracer

# numpy callable -> the function that replaces it on traced arguments
_FUNCS: dict = {}
# ufunc -> wnp function for ``ufunc(*inputs)`` with no keyword arguments
_UFUNCS: dict = {}

_NUMPY_MODULES = {"numpy": "", "numpy.linalg": "linalg", "numpy.fft": "fft"}


class UnsupportedNumPyFunction(NotImplementedError):
    """A NumPy function or ufunc that wengert cannot apply to traced values."""


class NotSupportedError(AttributeError, NotImplementedError):
    """A NumPy name that ``wengert.numpy`` (or its ``linalg``/``fft``) does not implement.

    Both an ``AttributeError`` (so ``hasattr(wnp, "unique")`` is False and
    ``getattr(wnp, name, default)`` works) and a ``NotImplementedError`` (what
    the SPEC promises for unsupported functions), with the helpful message.

    >>> import wengert.numpy as wnp
    >>> hasattr(wnp, "unique"), hasattr(wnp, "sin"), hasattr(wnp.linalg, "tensorinv")
    (False, True, False)
    """


# ----------------------------------------------------------------------------
# Resolution


def _wnp():
    from .. import numpy as wnp
    return wnp


def _public_path(func) -> str:
    """``np.linalg.solve`` for numpy.linalg.solve, ``np.X`` for the rest."""
    mod = getattr(func, "__module__", None) or "numpy"
    name = getattr(func, "__name__", repr(func))
    if mod == "numpy" or mod.startswith("numpy._") or mod.startswith("numpy.lib"):
        if getattr(np, name, None) is func:
            return f"np.{name}"
    if mod.startswith("numpy."):
        return "np." + mod[len("numpy."):] + "." + name
    return f"{mod}.{name}"


def _unsupported(what: str, func=None):
    def f(*args, **kwargs):
        if func is not None and _plain_tensors(args, kwargs):
            # wg.Tensor that records nothing: NumPy's own function on its data, as
            # PyTorch tensors (which convert with __array__) behave
            return func._implementation(*args, **kwargs)
        if _any_tensor(args, kwargs):
            hint_t = "For a wg.Tensor, pass t.detach() (or t.numpy()) where no derivative is needed. "
        else:
            hint_t = ""
        raise UnsupportedNumPyFunction(
            f"{what} is not supported by wengert on traced values: wengert.numpy has no "
            f"derivative rule for it. {hint_t}Apply it to constants only (values that need no "
            "derivative), or open an issue.")
    f.__name__ = what
    f._wengert_unsupported = True
    return f


def _plain_tensors(args, kwargs) -> bool:
    """Only ``wg.Tensor`` values among the arguments, none requiring grad and
    none traced by an enclosing transformation."""
    from .._tensor_core import Tensor
    stack = list(args) + list(kwargs.values())
    seen = 0
    while stack:
        a = stack.pop()
        if isinstance(a, (list, tuple)):
            stack.extend(a)
        elif isinstance(a, Tracer):
            if type(a) is not Tensor or a._rg or isinstance(a._data, Tracer):
                return False
            seen += 1
    return seen > 0


def _any_tensor(args, kwargs) -> bool:
    from .._tensor_core import Tensor
    stack = list(args) + list(kwargs.values())
    while stack:
        a = stack.pop()
        if isinstance(a, (list, tuple)):
            stack.extend(a)
        elif isinstance(a, Tensor):
            return True
    return False


def _resolve_function(func):
    """The wnp implementation of the NumPy function ``func``."""
    wnp = _wnp()
    mod = getattr(func, "__module__", None) or ""
    name = getattr(func, "__name__", "")
    sub = _NUMPY_MODULES.get(mod)
    target = None
    if sub is None and mod.startswith("numpy") and getattr(np, name, None) is func:
        sub = ""  # defined in a private module, public as np.<name>
    if sub is not None:
        ns = wnp if sub == "" else getattr(wnp, sub)
        target = ns.__dict__.get(name)
    if target is None or getattr(target, "_wengert_unsupported", False):
        return _unsupported(_public_path(func), func=func)
    if target is func or getattr(target, "__wrapped__", None) is func:
        # wnp passes the NumPy function through (it needs shapes only, or raises
        # its own clear error on a traced value): NumPy's code, undispatched
        impl = getattr(func, "_implementation", None)
        return impl if impl is not None else _unsupported(_public_path(func))
    return _checked(target, _public_path(func))


def _resolve_ufunc(ufunc):
    """The wnp function implementing ``ufunc.__call__``."""
    name = ufunc.__name__
    if np.__dict__.get(name) is ufunc:
        f = _wnp().__dict__.get(name)
        if f is not None and not getattr(f, "_wengert_unsupported", False):
            return f
        return _unsupported(f"np.{name}")
    sps = sys.modules.get("scipy.special")
    if sps is not None and getattr(sps, name, None) is ufunc:
        try:
            from ..scipy import special as wsp
        except ImportError:  # pragma: no cover - scipy.special is imported, so is ours
            wsp = None
        f = getattr(wsp, name, None) if wsp is not None else None
        if callable(f):
            return f
        return _unsupported(f"scipy.special.{name}")
    return _unsupported(f"the ufunc {name!r}")


def _ufunc_name(ufunc) -> str:
    name = ufunc.__name__
    if np.__dict__.get(name) is ufunc:
        return f"np.{name}"
    sps = sys.modules.get("scipy.special")
    if sps is not None and getattr(sps, name, None) is ufunc:
        return f"scipy.special.{name}"
    return name


# ----------------------------------------------------------------------------
# Keyword arguments NumPy accepts and wnp does not need (or must not swallow)


def _out_error(what):
    aug = {"np.add": "+", "np.subtract": "-", "np.multiply": "*", "np.divide": "/", "np.power": "**",
           "np.matmul": "@"}.get(what)
    hint = (f" (`a {aug}= x` on a NumPy array `a` is {what}(a, x, out=a): write `a = a {aug} x`)"
            if aug else "")
    return TypeError(
        f"{what}(..., out=...) writes into an existing array in place, which a traced value "
        f"cannot be: its derivative would be lost{hint}. Use the functional form, `y = {what}(...)`, "
        "and `x.at[idx].set(y)` to place the result into part of an array.")


def _check_out(kwargs, what):
    out = kwargs.pop("out", None)
    if out is None:
        return
    if isinstance(out, tuple) and all(o is None for o in out):
        return
    raise _out_error(what)


def _checked(target, what):
    """``target`` refusing ``out=`` with a message that names the NumPy
    function; every other keyword (``where=``, ``initial=``, ``correction=``,
    ``mean=``, ``dtype=``...) is the wnp function's to honour exactly or to
    refuse (its signature is NumPy's: no ``**kwargs`` that could swallow one)."""
    def f(*args, **kwargs):
        if kwargs and "out" in kwargs:
            _check_out(kwargs, what)
        return target(*args, **kwargs)
    f.__name__ = getattr(target, "__name__", what)
    f.__wrapped__ = target
    return f


# ----------------------------------------------------------------------------
# The protocols


def array_function(self, func, types, args, kwargs):
    """``__array_function__``: ``np.f(...)`` on a traced value runs ``wnp.f(...)``."""
    impl = _FUNCS.get(func)
    if impl is None:
        impl = _FUNCS[func] = _resolve_function(func)
    for t in types:
        if not (issubclass(t, Tracer) or issubclass(t, np.ndarray)):
            return NotImplemented  # another library's array: let it answer
    return impl(*args, **kwargs)


# ``ndarray op tracer``: the tracer's reflected operator, as before NumPy's
# dispatch existed (the tracers' own fast paths; the same result as wnp's)
_REFLECTED = {np.add: "__radd__", np.subtract: "__rsub__", np.multiply: "__rmul__",
              np.divide: "__rtruediv__", np.power: "__rpow__", np.matmul: "__rmatmul__"}


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``__array_ufunc__``: ``np.sin(x)``, ``ndarray * x``, ``np.add.reduce(x)``..."""
    if method == "__call__" and not kwargs:
        if len(inputs) == 2 and inputs[1] is self and not isinstance(inputs[0], Tracer):
            r = _REFLECTED.get(ufunc)
            if r is not None:
                return getattr(self, r)(inputs[0])
        f = _UFUNCS.get(ufunc)
        if f is None:
            f = _UFUNCS[ufunc] = _resolve_ufunc(ufunc)
        return f(*inputs)
    return _ufunc_slow(ufunc, method, inputs, kwargs)


_DEFAULTS = {"casting": "same_kind", "order": "K", "subok": True, "signature": None}


def _ufunc_slow(ufunc, method, inputs, kwargs):
    name = _ufunc_name(ufunc)
    kwargs = dict(kwargs)
    if method == "at":
        raise TypeError(_at_message(ufunc, name))
    if method == "reduceat":
        raise UnsupportedNumPyFunction(
            f"{name}.reduceat is not supported by wengert on traced values. Reduce each "
            "segment with a slice instead, e.g. wnp.stack([wnp.sum(x[i:j]) for i, j in ...]).")
    _check_out(kwargs, f"{name}.{method}" if method != "__call__" else name)
    where = kwargs.pop("where", True)
    for k, default in _DEFAULTS.items():
        if k in kwargs:
            v = kwargs.pop(k)
            if v != default and not (k == "signature" and v is None):
                raise UnsupportedNumPyFunction(
                    f"{name}(..., {k}={v!r}) is not supported by wengert on traced values "
                    f"(only the default {k}={default!r})")
    f = _UFUNCS.get(ufunc)
    if f is None:
        f = _UFUNCS[ufunc] = _resolve_ufunc(ufunc)
    if method == "__call__":
        if where is not True:
            raise UnsupportedNumPyFunction(
                f"{name}(..., where=...) leaves the masked-out elements uninitialised and is "
                "not supported on traced values; use wnp.where(mask, f(x), other) instead")
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise UnsupportedNumPyFunction(
                f"{name}: keyword argument(s) {sorted(kwargs)} are not supported on traced values")
        if dtype is not None:
            return _with_dtype(f, inputs, dtype)
        return f(*inputs)
    if ufunc.nin != 2 or ufunc.nout != 1:
        raise ValueError(f"{name}.{method} only applies to binary functions")
    if method == "outer":
        if where is not True or kwargs:
            raise UnsupportedNumPyFunction(f"{name}.outer: keyword arguments are not supported "
                                           "on traced values")
        return _outer(f, *inputs)
    if method == "reduce":
        return _reduce(ufunc, name, f, inputs, kwargs, where)
    if method == "accumulate":
        if where is not True:
            raise TypeError(f"{name}.accumulate() got an unexpected keyword argument 'where'")
        return _accumulate(ufunc, name, f, inputs, kwargs)
    raise UnsupportedNumPyFunction(f"{name}.{method} is not supported on traced values")


_AT_METHOD = {"add": "add", "subtract": "add (of the negated values)", "multiply": "multiply",
              "divide": "divide", "true_divide": "divide", "minimum": "min", "maximum": "max",
              "power": "power"}


def _at_message(ufunc, name):
    m = _AT_METHOD.get(ufunc.__name__)
    fix = f"`x = x.at[idx].{m.split(' ')[0]}(values)`" + (f" ({m})" if " " in m else "") if m else \
        "`x = x.at[idx].set(new_values)`"
    return (f"{name}.at(x, idx, values) modifies x in place, which a traced value (or an array "
            f"receiving one) cannot be: its derivative would be lost. Use the functional form {fix}, "
            "which returns a new array (wg.at(x)[idx] for a plain array).")


def _with_dtype(f, inputs, dtype):
    wnp = _wnp()
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        inputs = [wnp.astype(x, dtype) if isinstance(x, Tracer) else np.asarray(x, dtype=dtype)
                  for x in inputs]
        r = f(*inputs)
    else:
        r = f(*inputs)
    if isinstance(r, tuple):
        return tuple(_cast(x, dtype) for x in r)
    return _cast(r, dtype)


def _cast(x, dtype):
    wnp = _wnp()
    dt = getattr(x, "dtype", None)
    if dt is not None and np.dtype(dt) == dtype:
        return x
    return wnp.astype(x, dtype)


def _outer(f, a, b):
    wnp = _wnp()
    a = wnp.asarray(a)
    b = wnp.asarray(b)
    nb = len(wnp.shape(b))
    return f(wnp.reshape(a, tuple(wnp.shape(a)) + (1,) * nb), b)


# reductions with a wnp function of their own: ufunc name -> wnp name
_REDUCE = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
           "logical_and": "all", "logical_or": "any", "fmax": "nanmax", "fmin": "nanmin"}
_ACCUMULATE = {"add": "cumsum", "multiply": "cumprod"}
# associative and commutative: may be reduced as a balanced tree, scanned in log depth
_ASSOC = {"add", "multiply", "maximum", "minimum", "fmax", "fmin", "logaddexp", "logaddexp2",
          "hypot", "logical_and", "logical_or", "logical_xor"}
_IDENTITY_FILL = {"add": 0, "multiply": 1, "logical_and": True, "logical_or": False}


def _reduce(ufunc, name, f, inputs, kwargs, where):
    wnp = _wnp()
    if len(inputs) != 1:
        raise TypeError(f"{name}.reduce takes one array")
    a = wnp.asarray(inputs[0])
    axis = kwargs.pop("axis", 0)
    dtype = kwargs.pop("dtype", None)
    keepdims = kwargs.pop("keepdims", False)
    initial = kwargs.pop("initial", np._NoValue)
    if kwargs:
        raise UnsupportedNumPyFunction(f"{name}.reduce: keyword argument(s) {sorted(kwargs)} are not "
                                       "supported on traced values")
    if dtype is not None:
        a = wnp.astype(a, dtype)
    uname = ufunc.__name__
    if where is not True:
        fill = _IDENTITY_FILL.get(uname, initial)
        if fill is np._NoValue or fill is None:
            raise ValueError(f"{name}.reduce: a where= mask needs initial= (the ufunc has no identity)")
        a = wnp.where(where, a, fill)
    target = _REDUCE.get(uname)
    shape = tuple(wnp.shape(a))
    if target is not None:
        r = getattr(wnp, target)(a, axis=axis, keepdims=keepdims)
    else:
        from ._base import norm_axes
        axes = norm_axes(axis, len(shape), f"{name}.reduce")
        if len(axes) > 1 and uname not in _ASSOC:
            raise ValueError(f"{name}.reduce: reduction over several axes needs an associative "
                             "function")
        r = a
        start = None if initial is np._NoValue else initial
        for ax in sorted(axes, reverse=True):
            r = _fold(f, r, ax, uname in _ASSOC, start)
        if keepdims:
            from .._prims import keepdims_shape
            r = wnp.reshape(r, keepdims_shape(shape, axes))
        return r
    if initial is not np._NoValue and initial is not None:
        r = f(r, initial)
    return r


def _fold(f, a, axis, assoc, start=None):
    """Reduce ``a`` along ``axis`` with the binary ``f`` (NumPy's left fold
    from ``start`` when given; a balanced tree for associative ``f``)."""
    wnp = _wnp()
    a = wnp.moveaxis(a, axis, 0)
    n = wnp.shape(a)[0]
    items = [a[i] for i in range(n)]
    if start is not None:  # NumPy's ``initial``: the fold starts from it
        items = [start] + items
    if not items:
        raise ValueError("zero-size array to a reduction operation which has no identity")
    if not assoc:
        r = items[0]
        for x in items[1:]:
            r = f(r, x)
        return r
    while len(items) > 1:
        nxt = [f(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def _accumulate(ufunc, name, f, inputs, kwargs):
    wnp = _wnp()
    if len(inputs) != 1:
        raise TypeError(f"{name}.accumulate takes one array")
    a = wnp.asarray(inputs[0])
    axis = kwargs.pop("axis", 0)
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise UnsupportedNumPyFunction(f"{name}.accumulate: keyword argument(s) {sorted(kwargs)} "
                                       "are not supported on traced values")
    if dtype is not None:
        a = wnp.astype(a, dtype)
    uname = ufunc.__name__
    if axis is None:
        raise TypeError(f"{name}.accumulate: axis=None is not allowed (pass an integer axis)")
    target = _ACCUMULATE.get(uname)
    if target is not None:
        return getattr(wnp, target)(a, axis=axis)
    nd = len(wnp.shape(a))
    from ._base import norm_axis
    ax = norm_axis(axis, nd, f"{name}.accumulate")
    y = wnp.moveaxis(a, ax, -1)
    n = wnp.shape(y)[-1]
    if uname in _ASSOC:
        # Hillis-Steele scan: log2(n) applications of f
        d = 1
        while d < n:
            y = wnp.concatenate([y[..., :d], f(y[..., :n - d], y[..., d:])], axis=-1)
            d *= 2
    else:  # NumPy's left fold, one element at a time
        acc = [y[..., 0]]
        for i in range(1, n):
            acc.append(f(acc[-1], y[..., i]))
        y = wnp.stack(acc, axis=-1) if acc else y
    return wnp.moveaxis(y, -1, ax)


def install(cls=Tracer):
    """Give ``cls`` (and its subclasses) NumPy's dispatch protocols."""
    cls.__array_ufunc__ = array_ufunc
    cls.__array_function__ = array_function


def check_static_shape(fname, args, kwargs):
    """Raise the error that names ``static_argnums`` when a shape, size or
    count argument of ``fname`` is a traced value (called after NumPy
    refused it, so the common path costs nothing)."""
    stack = list(args) + list(kwargs.values())
    while stack:
        a = stack.pop()
        if isinstance(a, (list, tuple)):
            stack.extend(a)
        elif isinstance(a, Tracer):
            from .._ir import ConcretizationError
            raise ConcretizationError(
                f"{fname}: a shape, size or count argument is a traced value ({a._describe()}); "
                "array shapes must be known while tracing. Under wg.jit, mark that argument "
                "static: wg.jit(f, static_argnums=(i,)) or static_argnames=('name',) (it is "
                "then retraced for each value); under vmap, pass it unbatched (in_axes=None).")
