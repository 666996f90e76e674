"""Shared helpers of the ``wengert.scipy.stats`` distributions."""

from __future__ import annotations

import contextlib

from ... import numpy as wnp
from ..._core import Tracer
from ...numpy._base import lift


def traced(*args) -> bool:
    """Whether any argument is a traced value (then wengert computes; else SciPy)."""
    return any(isinstance(a, Tracer) or isinstance(lift(a), Tracer) for a in args)


def standardize(x, loc, scale):
    """``(x − loc) / scale`` and ``log(scale)``."""
    return wnp.divide(wnp.subtract(x, loc), scale), wnp.log(scale)


@contextlib.contextmanager
def no_parameter_derivative(fname: str, names: dict):
    """Re-raise a special function's "no derivative in the parameter" error
    with the distribution's own argument name (``names``: special's name →
    the distribution's)."""
    try:
        yield
    except TypeError as e:
        msg = str(e)
        if "no derivative with respect to the parameter" not in msg:
            raise
        arg = next((v for k, v in names.items() if f"parameter {k!r}" in msg), "/".join(names.values()))
        raise TypeError(f"{fname}: no derivative with respect to {arg} (only with respect to x, loc and "
                        f"scale); hold {arg} constant, e.g. wg.stop_gradient({arg})") from e
