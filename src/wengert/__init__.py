"""wengert: derivatives of ordinary NumPy-style Python code.

Forward and reverse mode, nested to any order, over a NumPy-compatible
namespace (``wengert.numpy``), with JAX's transformations and a PyTorch-style
``Tensor``.  Only NumPy is imported eagerly; everything else loads on first
use.

>>> import wengert as wg
>>> df = wg.grad(lambda x, y: x * x * y + y + 2, argnums=(0, 1))
>>> tuple(float(g) for g in df(3.0, 4.0))
(24.0, 10.0)
"""

from __future__ import annotations

import importlib

from . import (
    numpy,  # noqa: F401  (installs the tracer operators)
    tree_util,
)
from ._api import (
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linearize,
    stop_gradient,
    value_and_grad,
    vjp,
)
from ._core import LeakedTracerError
from ._vmap import vmap

__version__ = "0.1.0"

# Public names that live in modules loaded on first use: name -> module.
_LAZY = {
    "jit": "._jit",
    "make_graph": "._ir",
    "Graph": "._ir",
    "config": "._config",
    "cond": "._control",
    "fori_loop": "._control",
    "while_loop": "._control",
    "scan": "._control",
    "checkpoint": "._checkpoint",
    "remat": "._checkpoint",
    "custom_jvp": "._custom",
    "custom_vjp": "._custom",
    "linear_solve": "._implicit",
    "custom_root": "._implicit",
    "fixed_point": "._implicit",
    "root": "._implicit",
    "argmin": "._implicit",
    "odeint": "._ode",
    "relax": ".relax",
    "random": ".random",
    "expectation_grad": ".random._expectation",
    "Tensor": ".tensor",
    "tensor": ".tensor",
    "autograd_grad": ".tensor",
    "no_grad": ".tensor",
    "enable_grad": ".tensor",
    **{_n: "._tensor_factories" for _n in (
        "zeros", "ones", "full", "eye", "arange", "linspace", "randn", "rand", "zeros_like",
        "ones_like", "full_like", "randn_like", "rand_like", "cat", "stack")},
    "check_grads": "._check",
    "trace_table": ".viz",
    "to_dot": ".viz",
    "render": ".viz",
    "numeric": ".numeric",
    "symbolic": ".symbolic",
    "source": ".source",
    "nn": ".nn",
    "optim": ".optim",
    "scipy": ".scipy",
    "jacobian_sparsity": ".sparse",
    "hessian_sparsity": ".sparse",
    "sparse_jacfwd": ".sparse",
    "sparse_jacrev": ".sparse",
    "sparse_hessian": ".sparse",
    "colour": ".sparse",
    "at": ".numpy._at",
}

__all__ = [
    "grad", "value_and_grad", "jvp", "vjp", "linearize", "jacfwd", "jacrev",
    "hessian", "vmap", "stop_gradient", "tree_util", "LeakedTracerError",
    *_LAZY,
]


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'wengert' has no attribute '{name}'")
    m = importlib.import_module(mod, __name__)
    value = m if mod.lstrip(".") == name else getattr(m, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
