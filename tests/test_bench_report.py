"""`wengert bench --output` rewrites only its own section of benchmarks/RESULTS.md: the sections
other scripts paste (sparse, diffprog, random, jit_scale, dask, ...) survive a regeneration."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wengert import _bench as B

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def _results():
    return json.loads((ROOT / "benchmarks" / "results.json").read_text())


def test_output_rewrites_only_the_bench_section(tmp_path):
    path = tmp_path / "R.md"
    path.write_text("# top written by hand\n\nintro\n\n<!-- bench:begin -->\nOLD BENCH\n<!-- bench:end -->\n\n"
                    "<!-- other:begin -->\n## Other\n\nProduced by `python other.py`.\n<!-- other:end -->\n")
    B.write_results(_results(), str(path), "wengert bench --output R.md", 3, 0)
    text = path.read_text()
    assert text.startswith("# top written by hand\n\nintro\n\n<!-- bench:begin -->\n")
    assert "OLD BENCH" not in text and "wengert bench --output R.md" in text and "### Targets" in text
    assert text.endswith("<!-- other:begin -->\n## Other\n\nProduced by `python other.py`.\n<!-- other:end -->\n")
    again = text
    B.write_results(_results(), str(path), "wengert bench --output R.md", 3, 0)
    assert re.sub(r"date: .*", "", path.read_text()) == re.sub(r"date: .*", "", again)


def test_a_report_without_markers_keeps_its_marked_sections(tmp_path):
    path = tmp_path / "R.md"
    path.write_text("# old report\n\n## Targets\n\nold\n\n"
                    "<!-- sparse:begin -->\n## Sparse\nrows\n<!-- sparse:end -->\n")
    B.write_results(_results(), str(path), "wengert bench", 3, 0)
    text = path.read_text()
    assert text.count("<!-- bench:begin -->") == 1 and "\nold\n" not in text
    assert text.endswith("<!-- sparse:begin -->\n## Sparse\nrows\n<!-- sparse:end -->\n")
    fresh = tmp_path / "new.md"
    B.write_results(_results(), str(fresh), "wengert bench", 3, 0)
    assert fresh.read_text().startswith("# wengert benchmark results\n")


def test_committed_results_page_has_every_section_marked_with_its_command():
    text = RESULTS.read_text()
    sections = re.findall(r"<!-- ([\w.-]+):begin -->\n(.*?)<!-- \1:end -->", text, re.S)
    names = [n for n, _ in sections]
    assert len(names) == len(set(names)) and "bench" in names and "sparse" in names, names
    for name, body in sections:
        assert body.startswith("## ") and "Produced by" in body, name
    outside = re.sub(r"<!-- ([\w.-]+):begin -->\n.*?<!-- \1:end -->", "", text, flags=re.S)
    assert re.findall(r"(?m)^## .*", outside) == ["## Headline ratios"]
    for name in names:  # the top's table of sections names each of them
        assert f"| `{name}`" in outside, name
