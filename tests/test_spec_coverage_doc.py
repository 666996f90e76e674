"""docs/spec_coverage.md stays true: every file it cites exists, every link resolves, and every name
of SPEC §9 (round 2) has a row."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "spec_coverage.md"

SPEC9 = ("__array_ufunc__", "__array_function__", "x.at[idx]", "static_argnames", "backend=",
         "register_dataclass", "make_graph(f)(*args)", "jacobian_sparsity", "hessian_sparsity",
         "sparse_jacfwd", "sparse_jacrev", "sparse_hessian", "wg.colour", "custom_root", "fixed_point",
         "wg.root", "linear_solve", "wg.argmin", "odeint", "wengert.random", "split", "normal", "uniform",
         "bernoulli", "categorical", "gamma", "beta", "dirichlet", "multivariate_normal",
         "expectation_grad", "value_and_grad_map")


def _exists(name: str) -> bool:
    name = name.rstrip("/")
    for base in (ROOT, ROOT / "src" / "wengert", ROOT / "tests", ROOT / "tests" / "fuzz"):
        if (base / name).exists():
            return True
    return False


def test_every_cited_file_exists():
    text = PAGE.read_text()
    cited = set(re.findall(r"`([\w./]+\.py|[\w]+/)`", text))
    assert len(cited) > 40, sorted(cited)
    missing = sorted(c for c in cited if not _exists(c))
    assert not missing, f"docs/spec_coverage.md cites files that are not in the repository: {missing}"


def test_every_link_resolves():
    text = PAGE.read_text()
    for target in re.findall(r"\]\(([^)#]+)", text):
        assert (PAGE.parent / target).exists(), target


def test_every_spec9_name_has_a_row():
    text = PAGE.read_text()
    section = text.split("## Round 2 (SPEC §9)", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    for name in SPEC9:
        assert any(name in row.split(" | ")[0] for row in rows), f"no SPEC §9 row names {name!r}"
