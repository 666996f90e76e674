"""docs/coverage.md is what tools/gen_coverage.py generates from the
namespaces and the sweep cases (so the page stays true)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("gen_coverage", ROOT / "tools" / "gen_coverage.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_coverage_page_is_up_to_date():
    want = _tool().generate()
    have = (ROOT / "docs" / "coverage.md").read_text()
    if have != want:
        import difflib
        diff = "\n".join(list(difflib.unified_diff(have.splitlines(), want.splitlines(), "committed",
                                                   "generated", lineterm=""))[:40])
        raise AssertionError("docs/coverage.md is stale: run `python tools/gen_coverage.py`\n" + diff)


def test_coverage_page_lists_the_spec_surface():
    text = (ROOT / "docs" / "coverage.md").read_text()
    for name in ("wnp.linalg.svd", "wnp.linalg.norm", "wnp.fft.irfft", "wnp.fft.fftshift",
                 "special.logsumexp", "special.polygamma", "stats.norm.logcdf", "wnp.take_along_axis"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        cases = int(row.split("|")[2])
        assert cases > 0, f"{name} is not swept: {row}"
        assert "fwd, rev" in row and "| 2 |" in row, row
