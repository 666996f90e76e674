"""The docs' code blocks run: every ```python block of README.md and docs/*.md.

Blocks of one page run in order in one namespace (so a page reads as a
session); a block fenced as ```python no-run is shown but not run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


def _blocks(page):
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists() and _blocks(p)],
                         ids=lambda p: p.name)
def test_page_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files a page writes land in a temporary folder
    ns = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), ns)
        except Exception as e:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page.name}, code block {i} failed: {e!r}\n{code}") from e
    os.environ.pop("WENGERT_DEBUG_NANS", None)
