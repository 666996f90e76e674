"""``wengert.numpy``: a drop-in for ``numpy`` in differentiable code.

>>> import wengert as wg, wengert.numpy as wnp
>>> float(wg.grad(lambda x: wnp.sum(wnp.sin(x) ** 2))(wnp.array([0.5]))[0] - 2 * wnp.sin(0.5) * wnp.cos(0.5))
0.0

Every function accepts NumPy arrays, Python scalars and traced values, and
returns NumPy values when nothing is traced.  Functions NumPy has but wengert
does not raise ``NotImplementedError`` naming the function.
"""

from __future__ import annotations

import numpy as _np

from . import _funcs
from ._dispatch import NotSupportedError
from ._funcs import *  # noqa: F401,F403
from ._funcs import BINARY as _BINARY
from ._funcs import UNARY as _UNARY
from ._tracer_methods import install as _install

_g = globals()
for _name in list(_UNARY) + list(_BINARY):
    _g[_name] = getattr(_funcs, _name)
for _name in dir(_funcs):
    if not _name.startswith("_") and callable(getattr(_funcs, _name)) and _name not in _g:
        _g[_name] = getattr(_funcs, _name)

# Names that are data, dtypes or type queries pass straight through.
_PASSTHROUGH = (
    "pi e inf nan newaxis euler_gamma ndarray dtype generic number inexact floating "
    "complexfloating integer signedinteger unsignedinteger bool_ bool float16 float32 "
    "float64 longdouble complex64 complex128 int8 int16 int32 int64 uint8 uint16 "
    "uint32 uint64 intp uintp int_ float_ complex_ finfo iinfo issubdtype "
    "promote_types can_cast errstate seterr geterr set_printoptions printoptions "
    "exceptions broadcast_shapes ndindex ndenumerate unravel_index "
    "ravel_multi_index diag_indices tril_indices triu_indices mask_indices "
    "save load savez frombuffer fromfunction loadtxt savetxt"
).split()
for _name in _PASSTHROUGH:
    if hasattr(_np, _name):
        _g[_name] = getattr(_np, _name)
# every NumPy scalar type is a dtype name here too (clongdouble, single, intc, ...)
for _name in dir(_np):
    _obj = getattr(_np, _name)
    if not _name.startswith("_") and _name not in _g and isinstance(_obj, type) and issubclass(_obj, _np.generic):
        _g[_name] = _obj

from . import fft, linalg  # noqa: E402,F401
from ._extra import *  # noqa: E402,F401,F403
from ._index_tricks import c_, r_, real_if_close  # noqa: E402,F401

_install()


def __getattr__(name: str):
    if name in ("random", "testing"):  # plain NumPy submodules, loaded on first use
        return getattr(_np, name)
    if hasattr(_np, name) and not name.startswith("__"):  # dunders (__all__, ...) are not functions
        raise NotSupportedError(
            f"wengert.numpy.{name} is not supported yet: it has no derivative rule. "
            f"Use numpy.{name} on constants (values that need no derivative), or "
            "open an issue.", name=name, obj=None)
    raise AttributeError(f"module 'wengert.numpy' has no attribute '{name}'", name=name, obj=None)
