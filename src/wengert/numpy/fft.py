"""``wengert.numpy.fft``: NumPy's discrete Fourier transforms, differentiable.

Every transform is linear, so derivatives of every order are transforms
again (``wengert._prims_fft`` holds the transposes).  ``n=``/``s=`` cut or
zero-pad the input first, as NumPy does; ``norm=`` is 'backward' (default),
'ortho' or 'forward'.  Real inputs of complex transforms are converted to
complex (float32 → complex64, as NumPy 2); the gradient with respect to a real
input is real (JAX's convention).

>>> import wengert as wg, wengert.numpy as wnp
>>> wnp.fft.fft(wnp.array([1.0, 0.0, 0.0, 0.0]))
array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j])
>>> wg.grad(lambda x: wnp.sum(wnp.abs(wnp.fft.rfft(x)) ** 2))(wnp.array([1.0, 2.0]))
array([4., 8.])
"""

from __future__ import annotations

import numpy as _np

from .. import _prims_fft as FP
from .._core import Tracer
from . import _funcs as F
from ._base import dtype_of, index_gather, lift, norm_axes, norm_axis

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "fftn", "ifftn", "rfft2",
           "irfft2", "rfftn", "irfftn", "hfft", "ihfft", "fftshift", "ifftshift",
           "fftfreq", "rfftfreq"]

_isT = isinstance
_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}

fftfreq = _np.fft.fftfreq
rfftfreq = _np.fft.rfftfreq


def _norm(norm, fname):
    if norm is None:
        return "backward"
    if norm not in _DUAL:
        raise ValueError(f"fft.{fname}: invalid norm {norm!r}; use 'backward', 'ortho' or 'forward'")
    return norm


def _to_complex(x):
    dt = dtype_of(x)
    if dt.kind == "c":
        return x
    return F.astype(x, _np.complex64 if dt == _np.float32 else _np.complex128)


def _to_real(x, fname):
    dt = dtype_of(x)
    if dt.kind == "c":
        raise TypeError(f"fft.{fname}: expected a real input, got {dt.name}; use fft.fft "
                        "for complex data")
    if dt.kind != "f":
        return F.astype(x, _np.float64)
    return x


def _resize(x, axis, n, fname):
    """Cut or zero-pad axis ``axis`` of a traced x to length n."""
    if n < 1:
        raise ValueError(f"fft.{fname}: invalid number of FFT data points ({n}) specified")
    shape = tuple(x.shape)
    L = shape[axis]
    if L == n:
        return x
    if L > n:
        idx = (slice(None),) * (axis % len(shape)) + (slice(0, n),)
        return x[idx]
    widths = [(0, 0)] * len(shape)
    widths[axis % len(shape)] = (0, n - L)
    return F.pad(x, widths)


def _neg(axis, nd, fname):
    return norm_axis(axis, nd, f"fft.{fname}") - nd


def _c1(inverse, fname):
    def f(a, n=None, axis=-1, norm=None, out=None):
        if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
            return getattr(_np.fft, fname)(a, n=n, axis=axis, norm=norm)
        norm = _norm(norm, fname)
        ax = _neg(axis, len(a.shape), fname)
        x = _to_complex(a)
        x = _resize(x, ax, a.shape[ax] if n is None else int(n), fname)
        return FP.fft_p.bind(x, (ax,), inverse, norm)
    f.__name__ = f.__qualname__ = fname
    f.__doc__ = (f"``numpy.fft.{fname}``: 1-D {'inverse ' if inverse else ''}DFT along "
                 "``axis``; linear, so its derivative is itself.")
    return f


fft = _c1(False, "fft")
ifft = _c1(True, "ifft")


def _axes_s(a, s, axes, fname, default_axes=None):
    nd = len(a.shape)
    if axes is None:
        if default_axes is not None:
            axes = default_axes
        elif s is None:
            axes = tuple(range(nd))
        else:
            axes = tuple(range(-len(s), 0))
    axes = tuple(_neg(ax, nd, fname) for ax in axes)
    norm_axes(axes, nd, f"fft.{fname}")
    if s is None:
        s = tuple(a.shape[ax] for ax in axes)
    s = tuple(int(v) for v in s)
    if len(s) != len(axes):
        raise ValueError(f"fft.{fname}: shape s={s} and axes={axes} have different lengths")
    return axes, s


def _cn(inverse, fname, default_axes=None):
    def f(a, s=None, axes=default_axes, norm=None, out=None):
        if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
            return getattr(_np.fft, fname)(a, s=s, axes=axes, norm=norm)
        norm = _norm(norm, fname)
        axes_, s_ = _axes_s(a, s, axes, fname)
        x = _to_complex(a)
        for ax, n in zip(axes_, s_):
            x = _resize(x, ax, n, fname)
        return FP.fft_p.bind(x, axes_, inverse, norm)
    f.__name__ = f.__qualname__ = fname
    f.__doc__ = (f"``numpy.fft.{fname}``: {'inverse ' if inverse else ''}DFT over ``axes`` "
                 "(sizes ``s``); linear, so its derivative is itself.")
    return f


fftn = _cn(False, "fftn")
ifftn = _cn(True, "ifftn")
fft2 = _cn(False, "fft2", (-2, -1))
ifft2 = _cn(True, "ifft2", (-2, -1))


def rfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.rfft``: DFT of a real signal, the ``n//2 + 1`` non-negative
    frequencies.  Its transpose zero-pads, transforms and keeps the real part."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.fft.rfft(a, n=n, axis=axis, norm=norm)
    norm = _norm(norm, "rfft")
    ax = _neg(axis, len(a.shape), "rfft")
    n = a.shape[ax] if n is None else int(n)
    x = _resize(_to_real(a, "rfft"), ax, n, "rfft")
    return FP.rfft_p.bind(x, ax, n, norm)


def irfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.irfft``: the real signal of length ``n`` (default
    ``2 (m - 1)``) with half spectrum ``a``; imaginary parts of the zero (and
    Nyquist) bins are ignored, so their gradient is 0."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.fft.irfft(a, n=n, axis=axis, norm=norm)
    norm = _norm(norm, "irfft")
    ax = _neg(axis, len(a.shape), "irfft")
    n = 2 * (a.shape[ax] - 1) if n is None else int(n)
    if n < 1:
        raise ValueError(f"fft.irfft: invalid number of data points ({n}) specified")
    y = _resize(_to_complex(a), ax, n // 2 + 1, "irfft")
    return FP.irfft_p.bind(y, ax, n, norm)


def rfftn(a, s=None, axes=None, norm=None, out=None):
    """``numpy.fft.rfftn``: ``rfft`` over the last axis, ``fft`` over the others."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.fft.rfftn(a, s=s, axes=axes, norm=norm)
    axes_, s_ = _axes_s(a, s, axes, "rfftn")
    y = rfft(a, s_[-1], axes_[-1], norm)
    if len(axes_) > 1:
        y = fftn(y, s_[:-1], axes_[:-1], norm)
    return y


def irfftn(a, s=None, axes=None, norm=None, out=None):
    """``numpy.fft.irfftn``: ``ifft`` over all axes but the last, ``irfft`` on it."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.fft.irfftn(a, s=s, axes=axes, norm=norm)
    nd = len(a.shape)
    if axes is None:
        axes = tuple(range(nd)) if s is None else tuple(range(-len(s), 0))
    axes = tuple(_neg(ax, nd, "irfftn") for ax in axes)
    if s is None:
        s = tuple(a.shape[ax] for ax in axes[:-1]) + (2 * (a.shape[axes[-1]] - 1),)
    y = a
    if len(axes) > 1:
        y = ifftn(y, tuple(s[:-1]), axes[:-1], norm)
    return irfft(y, int(s[-1]), axes[-1], norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``numpy.fft.rfft2``."""
    a = lift(a)
    return rfftn(a, s, axes, norm) if _isT(a, Tracer) else _np.fft.rfft2(a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``numpy.fft.irfft2``."""
    a = lift(a)
    return irfftn(a, s, axes, norm) if _isT(a, Tracer) else _np.fft.irfft2(a, s, axes, norm)


def hfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.hfft``: ``irfft(conj(a))`` with the dual normalisation."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.fft.hfft(a, n=n, axis=axis, norm=norm)
    return irfft(F.conj(_to_complex(a)), n, axis, _DUAL[_norm(norm, "hfft")])


def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.ihfft``: ``conj(rfft(a))`` with the dual normalisation."""
    if not _isT(a, Tracer) and not _isT(a := lift(a), Tracer):
        return _np.fft.ihfft(a, n=n, axis=axis, norm=norm)
    return F.conj(rfft(a, n, axis, _DUAL[_norm(norm, "ihfft")]))


def _shift(fname):
    npf = getattr(_np.fft, fname)

    def f(x, axes=None):
        if not _isT(x, Tracer) and not _isT(x := lift(x), Tracer):
            return npf(x, axes=axes)
        return index_gather(x, lambda pos: npf(pos, axes=axes))
    f.__name__ = f.__qualname__ = fname
    f.__doc__ = (f"``numpy.fft.{fname}``: a permutation of the elements (one gather; "
                 "its transpose is the inverse permutation).")
    return f


fftshift = _shift("fftshift")
ifftshift = _shift("ifftshift")


def __getattr__(name: str):
    if hasattr(_np.fft, name) and not name.startswith("__"):
        from ._dispatch import NotSupportedError  # AttributeError too: hasattr() is False
        raise NotSupportedError(f"wengert.numpy.fft.{name} is not supported yet: it has no derivative rule. "
            f"Use numpy.fft.{name} on constants, or open an issue.", name=name, obj=None)
    raise AttributeError(f"module 'wengert.numpy.fft' has no attribute '{name}'")


# NumPy's out= (written into on concrete values; refused on traced ones)
fft, ifft, fftn, ifftn, fft2, ifft2 = (F.with_out(f) for f in (fft, ifft, fftn, ifftn, fft2, ifft2))
rfft, irfft, rfftn, irfftn, rfft2, irfft2, hfft, ihfft = (
    F.with_out(f) for f in (rfft, irfft, rfftn, irfftn, rfft2, irfft2, hfft, ihfft))
