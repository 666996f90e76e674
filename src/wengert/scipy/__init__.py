"""``wengert.scipy``: differentiable parts of SciPy (``special``, ``stats``, ``linalg``).

SciPy is an optional dependency (``pip install wengert[scipy]``); it is
imported when ``wengert.scipy.special``, ``.stats`` or ``.linalg`` is first
used, never by ``import wengert``.

>>> import wengert as wg
>>> from wengert.scipy.special import logsumexp
>>> float(wg.grad(lambda x: logsumexp(x))(wg.numpy.zeros(2))[0])
0.5
"""

from __future__ import annotations

import importlib

__all__ = ["special", "stats", "linalg"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'wengert.scipy' has no attribute '{name}'")
