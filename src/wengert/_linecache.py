"""Generated source in :mod:`linecache`, for as long as the code lives.

``jit``, ``wengert.source`` and the CLI's expression parser compile Python
source they generate; registering it in ``linecache`` lets tracebacks and
``inspect`` show the generated lines.  :func:`register_source` ties the
entry to the compiled function: a ``weakref.finalize`` removes it when the
function is collected (issue 10: ten dropped jits of 2,000 operations kept
12 MiB of source in ``linecache`` forever).

>>> import gc, linecache
>>> src = "def f(x):\\n    return x + 1\\n"
>>> ns = {}
>>> exec(compile(src, "<generated demo>", "exec"), ns)
>>> register_source("<generated demo>", src, ns["f"])
>>> linecache.getline("<generated demo>", 2).strip()
'return x + 1'
>>> del ns; _ = gc.collect()
>>> "<generated demo>" in linecache.cache
False
"""

from __future__ import annotations

import linecache
import weakref
from collections.abc import Sequence
from typing import Any

__all__ = ["register_source"]


def _drop(filename: str, lines: list) -> None:
    entry = linecache.cache.get(filename)
    if entry is not None and len(entry) > 2 and entry[2] is lines:  # not re-registered since
        del linecache.cache[filename]


def register_source(filename: str, source: str | Sequence[str], owner: Any) -> None:
    """Put ``source`` (text, or its lines with their line ends) into
    ``linecache`` under ``filename`` until ``owner`` (the compiled function,
    or anything holding it) is garbage collected."""
    lines = source.splitlines(True) if isinstance(source, str) else list(source)
    size = sum(len(s) for s in lines)
    linecache.cache[filename] = (size, None, lines, filename)
    weakref.finalize(owner, _drop, filename, lines)
