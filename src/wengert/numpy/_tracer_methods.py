"""Operators and ndarray-style methods of traced values (installed on Tracer)."""

from __future__ import annotations

from .._core import Tracer
from . import _funcs as F


def _rev(f):
    def r(self, other):
        return f(other, self)
    return r


def _T(self):
    return F.transpose(self)


def _reshape(self, *shape, **kw):
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return F.reshape(self, shape, **kw)


def _transpose(self, *axes):
    if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], int)):
        axes = axes[0]
    return F.transpose(self, axes or None)


def _to_python(name):
    def method(self, *args):
        staged = getattr(self, "_staged_error", None)
        if staged is not None:  # under jit: the value is not known at all
            staged(f"x.{name}()")
        raise TypeError(
            f"x.{name}() of a traced value ({self._describe()}) would drop its derivative "
            "(a Python number has none), as float(x) would. Keep it an array: x[()] or "
            f"x.reshape(()) for one element, x[i] to index; if a constant is meant, call "
            f"wg.stop_gradient(x) first (outside jit/vmap it is then a NumPy value with .{name}()).")
    method.__name__ = name
    return method


METHODS = {
    "__add__": F.add, "__radd__": _rev(F.add),
    "__sub__": F.subtract, "__rsub__": _rev(F.subtract),
    "__mul__": F.multiply, "__rmul__": _rev(F.multiply),
    "__truediv__": F.divide, "__rtruediv__": _rev(F.divide),
    "__floordiv__": F.floor_divide, "__rfloordiv__": _rev(F.floor_divide),
    "__mod__": F.mod, "__rmod__": _rev(F.mod),
    "__pow__": F.power, "__rpow__": _rev(F.power),
    "__matmul__": F.matmul, "__rmatmul__": _rev(F.matmul),
    "__neg__": F.negative, "__pos__": F.positive, "__abs__": F.abs,
    "__eq__": F.equal, "__ne__": F.not_equal, "__lt__": F.less,
    "__le__": F.less_equal, "__gt__": F.greater, "__ge__": F.greater_equal,
    "__getitem__": F.getitem,
    "__and__": F.logical_and, "__rand__": _rev(F.logical_and),
    "__or__": F.logical_or, "__ror__": _rev(F.logical_or),
    "__xor__": F.logical_xor, "__rxor__": _rev(F.logical_xor),
    "__invert__": F.logical_not,
    "sum": F.sum, "mean": F.mean, "prod": F.prod, "max": F.max, "min": F.min,
    "var": F.var, "std": F.std, "cumsum": F.cumsum, "cumprod": F.cumprod,
    "ptp": F.ptp, "argmax": F.argmax, "argmin": F.argmin, "argsort": F.argsort,
    "reshape": _reshape, "transpose": _transpose, "ravel": F.ravel,
    "flatten": F.ravel, "squeeze": F.squeeze, "swapaxes": F.swapaxes,
    "astype": F.astype, "dot": F.dot, "clip": F.clip, "conj": F.conj,
    "conjugate": F.conj, "round": F.round, "trace": F.trace,
    "diagonal": F.diagonal, "repeat": F.repeat, "take": F.take, "sort_copy": F.sort,
    "item": _to_python("item"), "tolist": _to_python("tolist"), "copy": F.copy,
}
def _at(self):
    from ._at import at
    return at(self)


PROPERTIES = {"T": _T, "real": F.real, "imag": F.imag, "mT": lambda s: F.swapaxes(s, -1, -2),
              "at": _at}


def install(cls=Tracer):
    """Give ``cls`` NumPy's operators and methods (``x.sum()``, ``x.T``, ...),
    NumPy's dispatch protocols (``np.sin(x)``) and JAX's ``x.at[idx]``."""
    from . import _dispatch
    if cls is Tracer:
        _dispatch.install(cls)
    for name, fn in METHODS.items():
        if name not in cls.__dict__:
            setattr(cls, name, fn)
    for name, fn in PROPERTIES.items():
        if name not in cls.__dict__:
            setattr(cls, name, property(fn))
    cls.__hash__ = Tracer.__dict__.get("__hash__")
