"""Generated source in :mod:`linecache`, for as long as the code lives.

``jit``, ``wengert.source`` and the CLI's expression parser compile Python
source they generate; registering it in ``linecache`` lets tracebacks and
``inspect`` show the generated lines.  :func:`register_source` ties the
entry to the compiled function: when the function is collected, a
``weakref.finalize`` drops the lines at once (the entry becomes an empty
placeholder) and the next registration removes the placeholder (issue 10:
ten dropped jits of 2,000 operations kept 12 MiB of source in ``linecache``
forever).  Entries are never deleted from inside a finalizer: a garbage
collection can run in the middle of ``linecache.checkcache()``'s loop over
the cache, which would then miss a key it listed.

>>> import gc, linecache
>>> src = "def f(x):\\n    return x + 1\\n"
>>> ns = {}
>>> exec(compile(src, "<generated demo>", "exec"), ns)
>>> register_source("<generated demo>", src, ns["f"])
>>> linecache.getline("<generated demo>", 2).strip()
'return x + 1'
>>> del ns; _ = gc.collect()
>>> linecache.getlines("<generated demo>")
[]
"""

from __future__ import annotations

import linecache
import weakref
from collections.abc import Sequence
from typing import Any

__all__ = ["register_source"]

_DEAD: set = set()  # placeholders left by finalizers, removed at the next registration


def _drop(filename: str, lines: list) -> None:
    entry = linecache.cache.get(filename)
    if entry is not None and len(entry) > 2 and entry[2] is lines:  # not re-registered since
        linecache.cache[filename] = (0, None, [], filename)  # replace, never delete (see above)
        _DEAD.add(filename)


def _sweep() -> None:
    for filename in list(_DEAD):
        entry = linecache.cache.get(filename)
        if entry is not None and len(entry) > 2 and not entry[2]:
            linecache.cache.pop(filename, None)
        _DEAD.discard(filename)


def register_source(filename: str, source: str | Sequence[str], owner: Any) -> None:
    """Put ``source`` (text, or its lines with their line ends) into
    ``linecache`` under ``filename`` until ``owner`` (the compiled function,
    or anything holding it) is garbage collected."""
    if _DEAD:
        _sweep()
    lines = source.splitlines(True) if isinstance(source, str) else list(source)
    size = sum(len(s) for s in lines)
    linecache.cache[filename] = (size, None, lines, filename)
    weakref.finalize(owner, _drop, filename, lines)
