"""Every name that ``wengert.source`` generates comes from here.

One :class:`Namer` per generated function hands out fresh names that never
collide with the user's names, the helpers of the preamble, or each other:

- forward temporaries (ANF): ``t1``, ``t2``, ...
- a user variable assigned again (SSA): ``x``, then ``x_1``, ``x_2``, ...
- adjoints (cotangents): ``x_bar``; tangents (forward mode): ``x_dot``
- constants captured from the function's globals: their own name, or ``c1``, ...

>>> n = Namer(user={"t1", "x", "y"})
>>> n.temp(), n.version("x"), n.version("x"), n.bar("x_1"), n.dot("y")
('t2', 'x', 'x_1', 'x_1_bar', 'y_dot')
"""

from __future__ import annotations

import builtins
import keyword

__all__ = ["Namer", "HELPERS"]

# Names the generated module defines itself (see _source_rules.PREAMBLE).
HELPERS = ("np", "math", "LN2", "LN10", "unbroadcast", "unreduce", "scatter_add", "matmul_adjoint", "dot_adjoint",
           "seed", "extreme_mask")


class Namer:
    """Fresh, readable, collision-free names for one generated function.

    ``user`` are the function's own local names (arguments and assigned
    variables); ``outer`` are names the generated code must leave alone
    (captured globals, the preamble's helpers).
    """

    def __init__(self, user=(), outer=()):
        self.outer = set(outer) | set(HELPERS) | set(keyword.kwlist)
        self.taken = set(user) | self.outer | set(dir(builtins))
        self.used: set = set()     # names already given to a value
        self._temps = 0
        self._consts = 0
        self._versions: dict[str, int] = {}
        self._bars: dict[str, str] = {}
        self._dots: dict[str, str] = {}

    def declare(self, user=(), outer=()):
        """Names of an inlined function: its locals are kept free of
        temporaries; its globals are left alone."""
        self.outer |= set(outer) - self.used
        self.taken |= set(user) | set(outer)

    def reserve(self, name: str) -> str:
        self.taken.add(name)
        self.used.add(name)
        return name

    def _fresh(self, base: str) -> str:
        name = base
        k = 1
        while name in self.taken:
            name = f"{base}_{k}"
            k += 1
        return self.reserve(name)

    def _numbered(self, prefix: str, counter: str) -> str:
        while True:
            k = getattr(self, counter) + 1
            setattr(self, counter, k)
            if f"{prefix}{k}" not in self.taken:
                return self.reserve(f"{prefix}{k}")

    def temp(self) -> str:
        """A forward temporary: ``t1``, ``t2``, ..."""
        return self._numbered("t", "_temps")

    def const(self) -> str:
        """A captured constant that has no name of its own: ``c1``, ``c2``, ..."""
        return self._numbered("c", "_consts")

    def version(self, user_name: str) -> str:
        """The SSA name of the next assignment to ``user_name``: the name
        itself the first time, then ``name_1``, ``name_2``, ..."""
        k = self._versions.get(user_name)
        if k is None and user_name not in self.outer and user_name not in self.used:
            self._versions[user_name] = 0
            return self.reserve(user_name)
        k = 1 if k is None else k + 1
        while f"{user_name}_{k}" in self.taken:
            k += 1
        self._versions[user_name] = k
        return self.reserve(f"{user_name}_{k}")

    def bar(self, name: str) -> str:
        """The adjoint (cotangent) of ``name``: ``name_bar``."""
        if name not in self._bars:
            self._bars[name] = self._fresh(f"{name}_bar")
        return self._bars[name]

    def dot(self, name: str) -> str:
        """The tangent of ``name``: ``name_dot``."""
        if name not in self._dots:
            self._dots[name] = self._fresh(f"{name}_dot")
        return self._dots[name]
