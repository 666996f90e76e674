"""Sweep cases with complex inputs: elementwise, reductions, contractions.

The finite-difference oracle perturbs complex inputs in random complex
directions (both real directions at once) and pairs cotangents bilinearly,
``Re Σ ct·t`` — JAX's convention.  Linear-algebra and FFT cases with complex
inputs live in ``cases_linalg.py`` and ``cases_fft.py``.
"""

from __future__ import annotations

import numpy as np
from cases import Case

import wengert.numpy as wnp

CASES: list[Case] = []


def C(lo, hi, *shapes):
    """Complex samples with real and imaginary parts uniform in [lo, hi]."""
    def build(rng):
        return tuple(rng.uniform(lo, hi, s) + 1j * rng.uniform(lo, hi, s) for s in shapes)
    return build


def add(name, fn, args, ref=None, **kw):
    CASES.append(Case(f"complex.{name}", fn, args, ref, complex=True, tags=("complex",), **kw))


# holomorphic elementwise functions (away from branch cuts: positive real parts)
_HOLO = {
    "sin": (-1, 1), "cos": (-1, 1), "tan": (-0.6, 0.6), "exp": (-1, 1), "expm1": (-1, 1),
    "log": (0.3, 2), "log2": (0.3, 2), "log10": (0.3, 2), "log1p": (0.3, 2), "sqrt": (0.3, 2),
    "sinh": (-1, 1), "cosh": (-1, 1), "tanh": (-0.6, 0.6), "arcsin": (0.1, 0.5),
    "arccos": (0.1, 0.5), "arctan": (0.1, 0.5), "arcsinh": (0.2, 1), "arctanh": (0.1, 0.5),
    "square": (-1, 1), "reciprocal": (0.5, 2), "negative": (-1, 1),
}
for _n, (_lo, _hi) in _HOLO.items():
    add(_n, getattr(wnp, _n), C(_lo, _hi, (3,)), getattr(np, _n))
# real-valued and non-holomorphic functions of complex inputs
for _n in ("abs", "absolute", "real", "imag", "conj", "conjugate", "angle"):
    add(_n, getattr(wnp, _n), C(0.3, 2, (2, 3)), getattr(np, _n))
add("abs2", lambda z: wnp.abs(z) ** 2, C(-2, 2, (3,)), lambda z: np.abs(z) ** 2)
add("z-conj-z", lambda z: wnp.real(z * wnp.conj(z)), C(-2, 2, (3,)), lambda z: np.real(z * np.conj(z)))
_BIN = {"add": (-2, 2), "subtract": (-2, 2), "multiply": (-2, 2), "divide": (0.5, 2), "power": (0.5, 2)}
for _n, (_lo, _hi) in _BIN.items():
    add(_n, getattr(wnp, _n), C(_lo, _hi, (2, 3), (3,)), getattr(np, _n))
add("power-int", lambda z: z ** 3, C(-1, 1, (3,)), lambda z: z ** 3)
add("mixed-real-complex", lambda x, z: wnp.real(x * z) + wnp.abs(z) * x, lambda rng: (
    rng.uniform(-1, 1, (3,)), rng.uniform(0.5, 1, (3,)) + 1j * rng.uniform(0.5, 1, (3,))),
    lambda x, z: np.real(x * z) + np.abs(z) * x)
for _n in ("sum", "mean", "prod", "var", "std", "cumsum", "cumprod"):
    add(_n, (lambda n: lambda z: getattr(wnp, n)(z, axis=0))(_n), C(0.5, 1.5, (2, 3)),
        (lambda n: lambda z: getattr(np, n)(z, axis=0))(_n))
add("matmul", wnp.matmul, C(-1, 1, (2, 3), (3, 2)), np.matmul)
add("vdot", wnp.vdot, C(-1, 1, (3,), (3,)), np.vdot)
add("einsum", lambda a, b: wnp.einsum("ij,jk->ik", a, b), C(-1, 1, (2, 3), (3, 2)),
    lambda a, b: np.einsum("ij,jk->ik", a, b))
add("where", lambda z: wnp.where(wnp.real(z) > 0, z * z, wnp.conj(z)), C(-2, 2, (5,)),
    lambda z: np.where(np.real(z) > 0, z * z, np.conj(z)))
add("astype-real", lambda x: wnp.astype(x, np.complex128) * (1 + 2j), lambda rng: (rng.uniform(-1, 1, (3,)),),
    lambda x: x.astype(np.complex128) * (1 + 2j))
add("chain", lambda z: wnp.abs(wnp.exp(1j * z) + wnp.sin(z) * wnp.conj(z)), C(-1, 1, (4,)),
    lambda z: np.abs(np.exp(1j * z) + np.sin(z) * np.conj(z)))
