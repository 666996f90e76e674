"""Generate docs/coverage.md: what wengert supports of NumPy and SciPy, and
how each function is tested.

For every public function of ``wengert.numpy`` (and its ``linalg``/``fft``),
``wengert.scipy.special``, ``wengert.scipy.stats.*`` and ``wengert.scipy.linalg``, the sweep cases
(``tests/cases*.py``, checked by ``tests/test_rules.py`` against finite
differences) that call it are found by instrumenting the namespaces and
running every case once; the table lists their number, the modes and the
highest derivative order checked, and whether complex inputs are swept.
NumPy functions that ``wengert.numpy`` does not have yet are listed last.

Usage: ``python tools/gen_coverage.py`` (writes the file) or
``python tools/gen_coverage.py --check`` (exit 1 if the file is stale).
``tests/test_coverage_doc.py`` keeps the committed file true.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "coverage.md"


def _namespaces():
    import wengert.numpy as wnp
    out = [("wnp", wnp, np), ("wnp.linalg", wnp.linalg, np.linalg), ("wnp.fft", wnp.fft, np.fft)]
    try:
        import scipy.linalg
        import scipy.special
        import scipy.stats

        from wengert.scipy import linalg, special, stats
        out += [("special", special, scipy.special)]
        for name in stats.__all__:
            out.append((f"stats.{name}", getattr(stats, name), getattr(scipy.stats, name)))
        out.append(("scipy.linalg", linalg, scipy.linalg))
    except ImportError:  # pragma: no cover - SciPy is a test dependency
        pass
    return out


def _public_functions(mod, prefix, ref):
    """name -> function for the module's public callables that mirror one of
    the reference module's (NumPy/SciPy) names: not types, not modules, not
    internal helpers."""
    names = vars(mod).get("__all__")
    if names is None or prefix == "wnp":
        names = [n for n in dir(mod) if not n.startswith("_")]
    out = {}
    for n in names:
        try:
            obj = getattr(mod, n)
        except (AttributeError, NotImplementedError):
            continue
        if inspect.ismodule(obj) or inspect.isclass(obj) or not callable(obj):
            continue
        if not hasattr(ref, n):
            continue
        if isinstance(obj, np.ufunc) and prefix == "wnp":
            continue  # a NumPy ufunc passed through (not a wengert function)
        if prefix == "wnp" and getattr(obj, "__module__", "") and not str(obj.__module__).startswith("wengert"):
            continue  # NumPy passthroughs (dtype queries, index helpers, windows, I/O)
        out[n] = obj
    return out


def _load_cases():
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        cases = importlib.import_module("cases")
        return cases.all_cases()
    finally:
        sys.path.remove(str(ROOT / "tests"))


def collect():
    """Per function: the cases that call it, the modes and the max order."""
    spaces = _namespaces()
    funcs = {}  # qualified name -> (module, name, function)
    for prefix, mod, ref in spaces:
        for n, f in _public_functions(mod, prefix, ref).items():
            funcs[f"{prefix}.{n}"] = (mod, n, f)
    by_obj = {}
    for q, (_, _, f) in funcs.items():
        by_obj.setdefault(id(f), []).append(q)
    cases = _load_cases()
    seen = {q: [] for q in funcs}
    calls = set()

    def wrap(q, f):
        def w(*a, **k):
            calls.add(q)
            return f(*a, **k)
        return w

    originals = []
    for q, (mod, n, f) in funcs.items():
        originals.append((mod, n, f))
        setattr(mod, n, wrap(q, f))
    try:
        rng = np.random.default_rng(0)
        for case in cases:
            calls.clear()
            for q in by_obj.get(id(case.fn), []):
                calls.add(q)
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    case.fn(*case.args(rng))
            except Exception:  # a broken case is reported by the sweep itself
                pass
            for q in calls:
                seen[q].append(case)
    finally:
        for mod, n, f in originals:
            setattr(mod, n, f)
    return spaces, funcs, seen


def _row(q, cs):
    if not cs:
        return f"| `{q}` | 0 | — | — | — |"
    modes = sorted({m for c in cs for m in c.modes}, key=["fwd", "rev"].index)
    order = max(c.order for c in cs)
    cplx = "yes" if any(c.complex for c in cs) else ""
    return f"| `{q}` | {len(cs)} | {', '.join(modes)} | {order} | {cplx} |"


def _unsupported(spaces):
    out = []
    for prefix, mod, ref in spaces:
        if prefix not in ("wnp", "wnp.linalg", "wnp.fft"):
            continue
        for n in sorted(dir(ref)):
            if n.startswith("_"):
                continue
            obj = getattr(ref, n)
            if inspect.ismodule(obj) or (inspect.isclass(obj) and not isinstance(obj, np.ufunc)):
                continue
            if not callable(obj):
                continue
            try:
                getattr(mod, n)
            except NotImplementedError:
                out.append(f"{prefix}.{n}")
            except AttributeError:
                out.append(f"{prefix}.{n}")
    return out


def generate() -> str:
    spaces, funcs, seen = collect()
    lines = [
        "# Coverage: the NumPy and SciPy functions wengert supports",
        "",
        "Generated by `tools/gen_coverage.py` from the namespaces and the sweep cases",
        "(`tests/cases*.py`); do not edit by hand — run `python tools/gen_coverage.py`.",
        "`tests/test_coverage_doc.py` fails when this page is stale.",
        "",
        "Each sweep case is checked by `tests/test_rules.py`: its value against NumPy/SciPy and",
        "its derivatives against finite differences, in the listed modes (`fwd`: forward,",
        "`rev`: reverse, and their combinations at order 2), up to the listed order; most",
        "cases are also swept under `vmap`, `jit` and `Tensor`.  *cases*: the number of",
        "sweep cases calling the function; *complex*: complex inputs are swept too.",
        "A function with 0 cases is supported (it runs under every transformation) but",
        "is only covered by the hand-written tests, or is not differentiable (a query or",
        "a constant constructor).",
        "",
    ]
    total = 0
    for prefix, _, _ in spaces:
        rows = [q for q in sorted(funcs) if q.rsplit(".", 1)[0] == prefix]
        total += len(rows)
        lines += [f"## `{prefix}` ({len(rows)} functions)", "",
                  "| function | cases | modes | order | complex |",
                  "|---|---|---|---|---|"]
        lines += [_row(q, seen[q]) for q in rows]
        lines.append("")
    uns = _unsupported(spaces)
    lines += [
        f"## Not supported yet ({len(uns)} NumPy functions)",
        "",
        "Calling one of these on `wengert.numpy` raises `NotImplementedError` naming it;",
        "call NumPy's on values that need no derivative.",
        "",
    ]
    lines += [", ".join(f"`{q}`" for q in uns) if uns else "(none)", ""]
    lines.insert(15, f"In all: {total} functions.")
    lines.insert(16, "")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = generate()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python tools/gen_coverage.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
