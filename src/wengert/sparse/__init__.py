"""Sparse Jacobians and Hessians: exact sparsity patterns from the traced
program, graph colouring, and compressed forward/reverse/Hessian sweeps.

The public names are re-exported by :mod:`wengert` (``wg.jacobian_sparsity``,
``wg.hessian_sparsity``, ``wg.sparse_jacfwd``, ``wg.sparse_jacrev``,
``wg.sparse_hessian``, ``wg.colour``); see docs/sparse.md.  SciPy is needed
(``pip install 'wengert[scipy]'``) for the ``scipy.sparse`` results.

>>> import numpy as np, wengert as wg
>>> wg.jacobian_sparsity(lambda x: x[:-1] * x[1:], np.ones(3)).nnz
4
"""

from . import rules  # noqa: F401  (stores each primitive's sparsity rule on its row)
from .colour import colour
from .compressed import (
    hessian_sparsity,
    jacobian_sparsity,
    sparse_hessian,
    sparse_jacfwd,
    sparse_jacrev,
)

__all__ = ["jacobian_sparsity", "hessian_sparsity", "sparse_jacfwd", "sparse_jacrev",
           "sparse_hessian", "colour"]
