"""Pytrees: nested tuples, lists, dicts (sorted keys) and registered classes.

``None`` is an empty subtree; named tuples (``typing.NamedTuple`` included)
are nodes that keep their type; frozen dataclasses are nodes automatically
(other dataclasses with :func:`register_dataclass`); everything else is a leaf.

>>> from wengert.tree_util import tree_flatten, tree_unflatten
>>> leaves, tree = tree_flatten({"b": 2.0, "a": (1.0, None)})
>>> leaves
[1.0, 2.0]
>>> tree_unflatten(tree, [10.0, 20.0])
{'a': (10.0, None), 'b': 20.0}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "PyTreeDef",
    "register_pytree_node",
    "register_dataclass",
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
    _LEAF_TYPES.discard(nodetype)


def register_dataclass(nodetype: type, data_fields: Sequence[str] | None = None,
                       meta_fields: Sequence[str] | None = None) -> type:
    """Make the dataclass ``nodetype`` a pytree node (JAX's signature).

    ``data_fields`` are the children (arrays, differentiated, traced);
    ``meta_fields`` are static data kept in the structure (they must be
    hashable, and a new value means a new structure: ``jit`` traces again).
    Given neither, the dataclass's fields are used: those declared with
    ``field(metadata={"static": True})`` are meta fields, the rest data.
    Returns the class, so it also works as a decorator.  Rebuilding a node
    does not call ``__init__``/``__post_init__`` (traced values would not
    pass their checks).  Frozen dataclasses are registered this way the first
    time they are met.

    >>> import dataclasses, numpy as np, wengert as wg
    >>> @wg.tree_util.register_dataclass
    ... @dataclasses.dataclass
    ... class Params:
    ...     w: np.ndarray
    ...     scale: float = dataclasses.field(default=2.0, metadata={"static": True})
    >>> g = wg.grad(lambda p: p.scale * (p.w ** 2).sum())(Params(np.array([1.0, 3.0])))
    >>> g.w, g.scale
    (array([ 4., 12.]), 2.0)
    """
    import dataclasses

    if not isinstance(nodetype, type):
        raise TypeError(f"register_dataclass: expected a class, got {type(nodetype).__name__}")
    if data_fields is None and meta_fields is None:
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError(
                f"register_dataclass({nodetype.__name__}): not a dataclass; give data_fields= and "
                "meta_fields= explicitly, or decorate the class with @dataclasses.dataclass first")
        fields = dataclasses.fields(nodetype)
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
    elif data_fields is None or meta_fields is None:
        raise TypeError(f"register_dataclass({nodetype.__name__}): give both data_fields and "
                        "meta_fields, or neither (then the dataclass fields are used)")
    data_fields = tuple(data_fields)
    meta_fields = tuple(meta_fields)
    if dataclasses.is_dataclass(nodetype):
        names = {f.name for f in dataclasses.fields(nodetype)}
        missing = names - set(data_fields) - set(meta_fields)
        unknown = (set(data_fields) | set(meta_fields)) - names
        if missing or unknown:
            raise ValueError(
                f"register_dataclass({nodetype.__name__}): data_fields and meta_fields must "
                f"together name every field once; missing {sorted(missing)}, unknown {sorted(unknown)}")
    name = nodetype.__name__

    def flatten(x):
        meta = tuple(getattr(x, f) for f in meta_fields)
        try:
            hash(meta)
        except TypeError:
            raise TypeError(f"{name}: the meta (static) fields {meta_fields} must be hashable; "
                            "make an unhashable one a data field") from None
        return [getattr(x, f) for f in data_fields], meta

    def unflatten(meta, children):
        obj = object.__new__(nodetype)
        for f, v in zip(data_fields, children):
            object.__setattr__(obj, f, v)
        for f, v in zip(meta_fields, meta):
            object.__setattr__(obj, f, v)
        return obj

    register_pytree_node(nodetype, flatten, unflatten)
    return nodetype


def _auto_register(tx) -> bool:
    """Register a frozen dataclass the first time it is flattened."""
    params = getattr(tx, "__dataclass_params__", None)
    if params is None or not getattr(params, "frozen", False) or not isinstance(tx, type):
        return False
    register_dataclass(tx)
    return True


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
# unregistered types met as leaves (not frozen dataclasses)
_LEAF_TYPES: set = set()


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
    if tx not in _LEAF_TYPES:
        if hasattr(tx, "__dataclass_fields__") and _auto_register(tx):
            return _flatten(x, leaves)
        if len(_LEAF_TYPES) < 4096:
            _LEAF_TYPES.add(tx)  # known to be a leaf: the next one costs no hasattr
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
