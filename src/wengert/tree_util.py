"""Pytrees: nested tuples, lists, dicts (sorted keys) and registered classes.

``None`` is an empty subtree; everything else is a leaf.

>>> from wengert.tree_util import tree_flatten, tree_unflatten
>>> leaves, tree = tree_flatten({"b": 2.0, "a": (1.0, None)})
>>> leaves
[1.0, 2.0]
>>> tree_unflatten(tree, [10.0, 20.0])
{'a': (10.0, None), 'b': 20.0}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "PyTreeDef",
    "register_pytree_node",
    "tree_flatten",
    "tree_unflatten",
    "tree_leaves",
    "tree_map",
    "tree_structure",
]

_REGISTRY: dict[type, tuple[Callable, Callable]] = {}


def register_pytree_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable) -> None:
    """Make ``nodetype`` a pytree node, as in JAX.

    ``flatten_func(x)`` returns ``(children, aux_data)``;
    ``unflatten_func(aux_data, children)`` rebuilds the node.
    """
    _REGISTRY[nodetype] = (flatten_func, unflatten_func)
    _PLAIN_LEAVES.discard(nodetype)


class PyTreeDef:
    """The structure of a pytree (hashable, comparable)."""

    __slots__ = ("kind", "aux", "children", "num_leaves", "_k")

    def __init__(self, kind, aux, children, num_leaves):
        self.kind = kind
        self.aux = aux
        self.children = children
        self.num_leaves = num_leaves
        self._k = None

    def _key(self):
        k = self._k
        if k is None:
            k = self._k = (self.kind, self.aux, tuple([c._key() for c in self.children]))
        return k

    def __eq__(self, other):
        return self is other or isinstance(other, PyTreeDef) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"PyTreeDef({_show(self)})"

    def unflatten(self, leaves):
        return tree_unflatten(self, leaves)


def _show(t):
    if t.kind == "leaf":
        return "*"
    if t.kind == "none":
        return "None"
    inner = ", ".join(_show(c) for c in t.children)
    if t.kind is tuple:
        return f"({inner}{',' if len(t.children) == 1 else ''})"
    if t.kind is list:
        return f"[{inner}]"
    if t.kind is dict:
        return "{" + ", ".join(f"{k!r}: {_show(c)}" for k, c in zip(t.aux, t.children)) + "}"
    return f"{getattr(t.kind, '__name__', t.kind)}({inner})"


_LEAF = PyTreeDef("leaf", None, (), 1)
# types that are always leaves (and never registered as nodes)
_PLAIN_LEAVES = {float, int, complex, bool, np.ndarray, np.float64, np.float32,
                 np.complex128, np.complex64, np.int64, np.bool_}
_NONE = PyTreeDef("none", None, (), 0)


def _flatten_seq(kind, aux, xs, leaves):
    children = []
    n = 0
    for c in xs:
        if type(c) in _PLAIN_LEAVES:  # the common case, without a call
            leaves.append(c)
            children.append(_LEAF)
            n += 1
        else:
            d = _flatten(c, leaves)
            children.append(d)
            n += d.num_leaves
    return PyTreeDef(kind, aux, tuple(children), n)


def _flatten(x, leaves):
    tx = type(x)
    if tx is tuple or tx is list:
        return _flatten_seq(tx, None, x, leaves)
    if tx is dict:
        keys = tuple(sorted(x))
        return _flatten_seq(dict, keys, [x[k] for k in keys], leaves)
    if x is None:
        return _NONE
    reg = _REGISTRY.get(tx)
    if reg is not None:
        kids, aux = reg[0](x)
        return _flatten_seq(tx, aux, kids, leaves)
    if isinstance(x, tuple) and hasattr(tx, "_fields"):  # namedtuple
        return _flatten_seq(tx, "namedtuple", x, leaves)
    leaves.append(x)
    return _LEAF


def tree_flatten(tree: Any) -> tuple[list, PyTreeDef]:
    """Leaves in a fixed order (dict keys sorted) and the structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def tree_structure(tree: Any) -> PyTreeDef:
    return tree_flatten(tree)[1]


def _unflatten(t, it):
    k = t.kind
    if k == "leaf":
        return next(it)
    if k == "none":
        return None
    kids = [next(it) if c is _LEAF else _unflatten(c, it) for c in t.children]
    if k is tuple:
        return tuple(kids)
    if k is list:
        return kids
    if k is dict:
        return dict(zip(t.aux, kids))
    if t.aux == "namedtuple":
        return k(*kids)
    return _REGISTRY[k][1](t.aux, kids)


def tree_unflatten(treedef: PyTreeDef, leaves) -> Any:
    """Rebuild a pytree of structure ``treedef`` from ``leaves``."""
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(
            f"tree_unflatten: the structure has {treedef.num_leaves} leaves, "
            f"but {len(leaves)} were given")
    return _unflatten(treedef, iter(leaves))


def tree_leaves(tree: Any) -> list:
    return tree_flatten(tree)[0]


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``f`` leafwise; ``rest`` are trees of the same structure.

    >>> tree_map(lambda a, b: a + b, [1, (2, 3)], [10, (20, 30)])
    [11, (22, 33)]
    """
    leaves, treedef = tree_flatten(tree)
    others = []
    for r in rest:
        lv, td = tree_flatten(r)
        if td != treedef:
            raise ValueError(f"tree_map: structures differ: {treedef} and {td}")
        others.append(lv)
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])
