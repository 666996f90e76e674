"""Sweep cases for ``wnp.fft``: every transform, n=/s=, axis=/axes=, every norm,
real and complex inputs (the oracle perturbs complex inputs in both real
directions)."""

from __future__ import annotations

import numpy as np
from cases import Case

import wengert.numpy as wnp

CASES: list[Case] = []


def _gen(*shapes, cplx=False):
    def build(rng):
        out = []
        for s in shapes:
            x = rng.standard_normal(s)
            out.append(x + 1j * rng.standard_normal(s) if cplx else x)
        return tuple(out)
    return build


def add(name, call, shape, cplx=False):
    """``call(mod, x)`` runs with mod = wnp.fft (traced) and numpy.fft (reference)."""
    CASES.append(Case(f"fft.{name}", lambda x: call(wnp.fft, x), _gen(shape, cplx=cplx),
                      lambda x: call(np.fft, x), complex=cplx, tags=("fft",)))


for norm in (None, "ortho", "forward"):
    k = f"-{norm}" if norm else ""
    add(f"fft{k}", lambda m, x, norm=norm: m.fft(x, norm=norm), (5,))
    add(f"fft-c{k}", lambda m, x, norm=norm: m.fft(x, norm=norm), (2, 5), cplx=True)
    add(f"ifft{k}", lambda m, x, norm=norm: m.ifft(x, norm=norm), (4,), cplx=True)
    add(f"rfft{k}", lambda m, x, norm=norm: m.rfft(x, norm=norm), (5,))
    add(f"irfft{k}", lambda m, x, norm=norm: m.irfft(x, norm=norm), (4,), cplx=True)
    add(f"irfft-odd{k}", lambda m, x, norm=norm: m.irfft(x, n=7, norm=norm), (4,), cplx=True)
add("fft-n-pad", lambda m, x: m.fft(x, n=6), (2, 4), cplx=True)
add("fft-n-cut-axis0", lambda m, x: m.fft(x, n=3, axis=0), (5, 2))
add("ifft-n-axis", lambda m, x: m.ifft(x, n=4, axis=0), (5, 2), cplx=True)
add("rfft-n-pad", lambda m, x: m.rfft(x, n=6, axis=0), (5, 2))
add("rfft-n-cut", lambda m, x: m.rfft(x, n=4), (2, 5))
add("irfft-n-pad", lambda m, x: m.irfft(x, n=10, axis=0), (3, 2), cplx=True)
add("fft2", lambda m, x: m.fft2(x), (2, 3, 4), cplx=True)
add("fft2-real-s", lambda m, x: m.fft2(x, s=(3, 5)), (2, 4))
add("ifft2", lambda m, x: m.ifft2(x, norm="ortho"), (3, 4), cplx=True)
add("fftn", lambda m, x: m.fftn(x), (2, 3, 2), cplx=True)
add("fftn-axes", lambda m, x: m.fftn(x, axes=(0, 2)), (2, 3, 2))
add("ifftn-s", lambda m, x: m.ifftn(x, s=(2, 4)), (2, 3, 3), cplx=True)
add("rfftn", lambda m, x: m.rfftn(x), (2, 3, 4))
add("irfftn", lambda m, x: m.irfftn(x), (2, 3, 3), cplx=True)
add("rfft2", lambda m, x: m.rfft2(x, norm="forward"), (3, 4))
add("irfft2-s", lambda m, x: m.irfft2(x, s=(3, 5)), (3, 3), cplx=True)
add("hfft", lambda m, x: m.hfft(x), (4,), cplx=True)
add("ihfft", lambda m, x: m.ihfft(x), (5,))
add("fftshift", lambda m, x: m.fftshift(x), (2, 5))
add("ifftshift-axes", lambda m, x: m.ifftshift(x, axes=1), (2, 5))
add("fftshift-spectrum", lambda m, x: m.fftshift(m.fft(x)), (5,), cplx=True)
add("power-spectrum", lambda m, x: abs(m.rfft(x)) ** 2, (6,))
