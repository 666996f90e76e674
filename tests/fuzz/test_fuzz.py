"""The random-program differential test in CI: fixed seeds, every check.

Each test runs a chunk of programs (pytest -n 2 spreads the chunks); a failure's
message is the first failing program of the chunk, shrunk, as a rerunnable
script, followed by the other failures of the chunk (seed, check, kind). The
seeds are fixed and not chosen to pass: a failure here is a defect (or a
false positive of the fuzzer, which is a defect of the fuzzer).
"""

from __future__ import annotations

import os

import pytest

from . import checks as C
from . import shrink as S
from .gen import generate

CHUNKS = 12            # chunks of the wnp. mode
PER_CHUNK = 6          # programs per chunk: 72 programs, ~25 s of CPU on an idle core
NP_CHUNKS = 3          # chunks of the np. (dispatch) mode
BASE_SEED = 100_000
NP_BASE_SEED = 200_000
SHRINK_BUDGET = 3.0    # seconds to shrink the first failure of a chunk


def _dispatch_missing():
    import wengert._core as core
    return getattr(core.Tracer, "__array_function__", None) is None


def _run_chunk(base, plain_numpy):
    failures = []
    for seed in range(base, base + PER_CHUNK):
        prog = generate(seed)
        for r in C.run_program(prog, plain_numpy=plain_numpy, timeout=60):
            if r.status == "fail":
                failures.append((prog, r))
    if not failures:
        return
    order = {c: i for i, c in enumerate(C.ALL_CHECKS)}
    failures.sort(key=lambda pr: order[pr[1].check])
    prog, r = failures[0]
    small, res = S.shrink(prog, r.check, r, budget_s=SHRINK_BUDGET, plain_numpy=plain_numpy)
    script = S.repro_script(small, r.check, plain_numpy=plain_numpy, result=res)
    others = "\n".join(f"  seed {p.seed}: {x.check}: {x.kind}: {x.detail.splitlines()[0][:150] if x.detail else ''}"
                       for p, x in failures[1:])
    pytest.fail(f"{len(failures)} check failure(s) in seeds {base}..{base + PER_CHUNK - 1}; the first, shrunk "
                f"(rerun: python -m tests.fuzz --n 1 --seed {prog.seed}):\n\n{script}\n"
                + (f"other failures:\n{others}\n" if others else ""), pytrace=False)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_programs(chunk):
    _run_chunk(BASE_SEED + chunk * PER_CHUNK, plain_numpy=False)


@pytest.mark.skipif(_dispatch_missing(), reason="np. mode needs __array_function__/__array_ufunc__ dispatch on "
                    "wengert's tracers (issue 12); runs automatically once wengert._core.Tracer has it")
@pytest.mark.parametrize("chunk", range(NP_CHUNKS))
def test_random_programs_plain_numpy(chunk):
    _run_chunk(NP_BASE_SEED + chunk * PER_CHUNK, plain_numpy=True)


def test_generator_is_deterministic():
    for seed in (0, 1, 12345):
        a, b = generate(seed), generate(seed)
        assert a.source() == b.source()
        assert [x.tolist() for x in a.inputs2] == [x.tolist() for x in b.inputs2]
    assert generate(1).source() != generate(2).source()


def test_programs_are_standalone_scripts():
    """A program's source runs as a script, and its function gives the reference values."""
    import numpy as np
    prog = generate(3)
    ns = {}
    exec(compile(prog.source(), "<script>", "exec"), ns)
    got = ns["f"](*[ns[f"x{i}"] for i in range(prog.nin)])
    np.testing.assert_allclose(got, prog.reference()(*prog.inputs), rtol=1e-9, atol=1e-12)
    assert "np." in prog.source(plain_numpy=True)
    assert "wnp.sin(" not in prog.body_source(plain_numpy=True).replace("wnp.array([", "")


def test_oracle_catches_a_wrong_derivative():
    """The checks can fail: a program whose wengert function is swapped for a wrong one fails grad."""
    import numpy as np

    import wengert.numpy as wnp
    prog = generate(5)
    ctx = C.Context(prog)
    f = ctx.f
    ctx.S = lambda *xs: wnp.sum(f(*xs) * ctx.W) * 1.001   # wrong by 0.1 %
    with pytest.raises(C.CheckFailure):
        C.c_grad(ctx)
    assert np.all(np.isfinite(ctx.W))


def test_oracle_flags_kinks_as_unstable():
    import numpy as np
    oracle = C.Oracle(lambda x: np.abs(x), np.ones(1))
    with pytest.raises(C.Unstable):
        oracle.jvp("k", [np.array([1e-9])], [np.array([1.0])], "v")
    r, err = oracle.jvp("s", [np.array([0.7])], [np.array([1.0])], "v")
    assert abs(r[0] - 1.0) < 1e-9 and err[0] < 1e-6


@pytest.mark.fuzz_long
def test_long_run(tmp_path):
    """The long run (opt-in): WENGERT_FUZZ_N programs (default 2000) through the CLI."""
    from .run import main
    n = int(os.environ.get("WENGERT_FUZZ_N", "2000"))
    rc = main(["--n", str(n), "--seed", "0", "--jobs", "2", "--quiet", "--markdown", str(tmp_path / "r.md")])
    assert rc == 0, (tmp_path / "r.md").read_text()


def test_shrinker_keeps_the_failure_and_removes_the_rest(monkeypatch):
    """With a stand-in check that fails while the program calls wnp.sin, the shrinker keeps one sin."""
    prog = next(p for p in map(generate, range(50, 500))
                if p.n_ops() >= 12 and sum("wnp.sin(" in "\n".join(s.lines) for s in p.stmts) == 1)

    def fake_run(q, checks, plain_numpy=False, timeout=None):
        bad = "wnp.sin(" in q.body_source()
        return [C.Result(checks[0], "fail" if bad else "pass", "wrong" if bad else "", "stand-in", "wrong")]

    monkeypatch.setattr(C, "run_program", fake_run)
    first = fake_run(prog, ["grad"])[0]
    small, res = S.shrink(prog, "grad", first, budget_s=30)
    assert res.status == "fail" and "wnp.sin(" in small.body_source()
    assert small.n_ops() < prog.n_ops() // 2
    assert len(small.out) <= len(prog.out)


def test_repro_script_runs():
    """The rerunnable script of a program runs as it is printed."""
    import contextlib
    import io
    prog = generate(7)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(S.repro_script(prog, "value"), "<repro>", "exec"), {"__name__": "repro"})
    assert "wengert:" in out.getvalue() and "NumPy:" in out.getvalue()
