"""FFT primitives: ``fft`` (complex, n-dimensional, forward or inverse),
``rfft`` (real → half spectrum) and ``irfft`` (half spectrum → real).

All three are linear.  Axes are stored negative (counted from the end), so
batching adds leading axes without touching the parameters.  Inputs are
already cut or zero-padded to the transform length (``wengert.numpy.fft``
does that with ``pad``/indexing, which have their own rules).

Transposes (JAX's bilinear pairing ``Re Σ ct·y``):

* the DFT matrix is symmetric, so ``fft``'s transpose is itself, same norm;
* ``rfft`` keeps the first ``m = n//2 + 1`` rows of the DFT: its transpose
  zero-pads the cotangent to length ``n``, applies the DFT and keeps the real
  part;
* ``irfft`` counts bins ``1 … ⌈n/2⌉-1`` twice (Hermitian symmetry) and
  discards the imaginary parts of bin 0 (and of bin n/2 for even n): its
  transpose is ``w · conj(rfft(ct))`` with weights ``w = (1, 2, …, 2[, 1])``
  and the dual normalisation (backward ↔ forward, ortho ↔ ortho).
"""

from __future__ import annotations

import numpy as np

from . import _prims as P
from ._prims import defprim

__all__ = ["fft_p", "rfft_p", "irfft_p"]

_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _fft_impl(x, axes, inverse, norm):
    f = np.fft.ifftn if inverse else np.fft.fftn
    return f(x, axes=axes, norm=norm)


fft_p = defprim("fft", _fft_impl, 1, linear=True,
                transpose=lambda ct, x, axes, inverse, norm: (fft_p.bind(ct, axes, inverse, norm),))
P._lin1(fft_p)


def _rfft_impl(x, axis, n, norm):
    return np.fft.rfft(x, axis=axis, norm=norm)


def _rfft_T(ct, x, axis, n, norm):
    shape = tuple(ct.shape)
    nd = len(shape)
    ax = axis % nd
    widths = tuple((0, n - shape[ax]) if i == ax else (0, 0) for i in range(nd))
    padded = P.pad_p.bind(ct, widths)
    return (P.real(fft_p.bind(padded, (axis,), False, norm)),)


rfft_p = defprim("rfft", _rfft_impl, 1, linear=True, transpose=_rfft_T)
P._lin1(rfft_p)


def _irfft_impl(y, axis, n, norm):
    return np.fft.irfft(y, n=n, axis=axis, norm=norm)


def _irfft_T(ct, y, axis, n, norm):
    m = n // 2 + 1
    w = np.full(m, 2.0, dtype=np.finfo(np.dtype(ct.dtype)).dtype)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    w = w.reshape((m,) + (1,) * (-axis - 1))
    return (P.conj(rfft_p.bind(ct, axis, n, _DUAL[norm])) * w,)


irfft_p = defprim("irfft", _irfft_impl, 1, linear=True, transpose=_irfft_T)
P._lin1(irfft_p)


def _register():
    from ._vmap import register_batch_rule

    for p in (fft_p, rfft_p, irfft_p):
        register_batch_rule(p, (lambda p: lambda size, vals, batched, *params: p.bind(vals[0], *params))(p))


_register()
