"""The long run: ``python -m tests.fuzz --n 20000 --seed 0 --jobs 2``.

Generates programs ``seed .. seed+n-1``, runs the checks on each in a process
pool (a per-program timeout makes a hang a failure of kind ``timeout``),
prints a table per check — programs checked, passed, failed by kind, skipped
(oracle unstable / documented refusal), agreement — then shrinks one program
per distinct failure and prints it as a rerunnable script. ``--out`` writes
everything as JSON, ``--markdown`` writes the table and the shrunk programs as
a Markdown page (docs/fuzz_results.md).
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time

from . import checks as C
from . import shrink as S
from .gen import generate


def _commit() -> str:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "-C", here, "log", "-1", "--format=%h %cI"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def _dispatch_available() -> bool:
    import wengert._core as core
    return getattr(core.Tracer, "__array_function__", None) is not None


_OPTS = {}


def _init(opts):
    _OPTS.update(opts)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_seed(seed):
    t0 = time.perf_counter()
    try:
        prog = generate(seed)
    except Exception as e:  # a generator bug: reported, never hidden
        return {"seed": seed, "n_ops": 0, "time": 0.0,
                "results": [C.Result(c, "fail", "fuzzer", f"generator: {type(e).__name__}: {e}", "fuzzer").as_dict()
                            for c in _OPTS["checks"]]}
    res = C.run_program(prog, _OPTS["checks"], plain_numpy=_OPTS["plain_numpy"], timeout=_OPTS["timeout"])
    return {"seed": seed, "n_ops": prog.n_ops(), "time": time.perf_counter() - t0,
            "results": [r.as_dict() for r in res]}


def shrink_one(job):
    seed, check, kind, detail, signature = job
    t0 = time.perf_counter()
    prog = generate(seed)
    result = C.Result(check, "fail", kind, detail, signature)
    try:
        small, res = S.shrink(prog, check, result, budget_s=_OPTS["shrink_budget"],
                              plain_numpy=_OPTS["plain_numpy"])
        script = S.repro_script(small, check, plain_numpy=_OPTS["plain_numpy"], result=res)
        n_ops = small.n_ops()
    except Exception as e:
        script = f"# shrinking failed: {type(e).__name__}: {e}\n" + S.repro_script(prog, check, result=result)
        n_ops = prog.n_ops()
    return {"seed": seed, "check": check, "kind": kind, "signature": signature, "detail": detail[:600],
            "script": script, "n_ops": n_ops, "shrink_time": time.perf_counter() - t0}


def _failed_record(seed, kind, detail, checks):
    return {"seed": seed, "n_ops": 0, "time": 0.0,
            "results": [C.Result(c, "fail", kind, detail, kind).as_dict() for c in checks]}


def _run_all(pool, new_pool, seeds, opts, jobs, progress):
    """Run every seed in ``pool``; a program that neither finishes nor times out (a hang in C code, a dead
    worker) within a hard limit is recorded as a timeout and the pool is replaced. Returns the records
    followed by the pool in use."""
    hard = 2 * opts["timeout"] + 60
    pending = list(seeds)[::-1]
    inflight = {}
    records = []
    while pending or inflight:
        while pending and len(inflight) < 2 * jobs:
            s = pending.pop()
            inflight[s] = (pool.apply_async(run_seed, (s,)), time.monotonic())
        done = [s for s, (ar, _) in inflight.items() if ar.ready()]
        for s in done:
            ar, _ = inflight.pop(s)
            try:
                records.append(ar.get())
            except Exception as e:
                records.append(_failed_record(s, "crash", f"worker: {type(e).__name__}: {e}", opts["checks"]))
            progress(len(records))
        if done:
            continue
        now = time.monotonic()
        stuck = [s for s, (_, st) in inflight.items() if now - st > hard]
        if not stuck:
            time.sleep(0.005)
            continue
        pool.terminate()
        pool.join()
        pool = new_pool()
        for s in stuck:
            records.append(_failed_record(s, "timeout", f"no result within {hard:.0f} s (hang or crash)",
                                          opts["checks"]))
            progress(len(records))
        pending.extend(s for s in inflight if s not in stuck)
        inflight.clear()
    return records + [pool]


def summarise(records, checks):
    table = {c: {"checked": 0, "passed": 0, "failed": collections.Counter(), "unstable": 0, "refused": 0}
             for c in checks}
    families = collections.OrderedDict()
    refusals = collections.Counter()
    for rec in sorted(records, key=lambda r: r["seed"]):
        for r in rec["results"]:
            row = table[r["check"]]
            row["checked"] += 1
            if r["status"] == "pass":
                row["passed"] += 1
            elif r["status"] == "fail":
                row["failed"][r["kind"]] += 1
                # errors group by their normalised message; numbers (wrong, nan, shape, ...) by program,
                # merged after shrinking when the shrunk programs use the same operations
                numeric = not r["kind"].startswith("error:")
                key = (r["kind"], rec["seed"] if numeric else r["signature"])
                fam = families.setdefault(key, {"count": 0, "checks": collections.Counter(), "example": None,
                                                "seeds": []})
                if rec["seed"] not in fam["seeds"]:
                    fam["seeds"].append(rec["seed"])
                fam["count"] += 1
                fam["checks"][r["check"]] += 1
                if fam["example"] is None:
                    fam["example"] = (rec["seed"], r["check"], r["kind"], r["detail"], r["signature"])
            elif r["kind"] == "unstable":
                row["unstable"] += 1
            else:
                row["refused"] += 1
                refusals[(r["check"], r.get("signature", ""))] += 1
    return table, families, refusals


_CALL = re.compile(r"\b(?:wnp|np|wg)\.(\w+(?:\.\w+)?)|\.(\w+)\(|(@)")


def ops_signature(script: str) -> str:
    """The operations a shrunk program calls (in f), as a sorted string."""
    body = script.split("def f(", 1)[-1].split("\nx0 = ", 1)[0]
    names = set()
    for m in _CALL.finditer(body):
        names.add(next(g for g in m.groups() if g))
    return ",".join(sorted(names - {"array", "functools", "partial", "SimpleNamespace"}))


def merge_families(families, shrunk):
    """One entry per distinct failure: numeric failures whose shrunk programs call the same operations merge."""
    out, by_sig, leftovers = [], {}, collections.OrderedDict()
    for ((kind, _), fam), sh in zip(families.items(), shrunk):
        numeric = not kind.startswith("error:")
        entry = {"kind": kind, "signature": fam["example"][4] if not numeric else kind, "count": fam["count"],
                 "checks": collections.Counter(fam["checks"]), "seeds": list(fam["seeds"]), "shrunk": sh}
        if numeric and sh is None:
            left = leftovers.setdefault(kind, {**entry, "signature": kind, "checks": collections.Counter(),
                                               "count": 0, "seeds": [], "shrunk": None, "unshrunk": True})
            left["count"] += fam["count"]
            left["checks"].update(fam["checks"])
            left["seeds"] += fam["seeds"]
            continue
        if numeric:
            key = (kind, ops_signature(sh["script"]))
            entry["signature"] = f"{kind} [{key[1]}]"
            if key in by_sig:
                e = by_sig[key]
                e["count"] += entry["count"]
                e["checks"].update(entry["checks"])
                e["seeds"] += entry["seeds"]
                continue
            by_sig[key] = entry
        out.append(entry)
    out += list(leftovers.values())
    for e in out:
        checks_s = ", ".join(f"{c} {n}" for c, n in e["checks"].most_common())
        seeds = ", ".join(map(str, e["seeds"][:8])) + (" ..." if len(e["seeds"]) > 8 else "")
        more = " (not shrunk)" if e.get("unshrunk") else ""
        e["title"] = (f"{e['signature']}{more} -- {e['count']} check failures ({checks_s}) in "
                      f"{len(e['seeds'])} program(s), seeds {seeds}")
        e["checks"] = dict(e["checks"])
    return out


def _agreement(row):
    judged = row["passed"] + sum(row["failed"].values())
    return 100.0 * row["passed"] / judged if judged else float("nan")


def format_table(table, markdown=False):
    head = ["check", "programs", "passed", "failed", "failures by kind", "skipped (unstable)", "skipped (refused)",
            "agreement %"]
    rows = []
    for c, row in table.items():
        kinds = ", ".join(f"{k} {v}" for k, v in row["failed"].most_common()) or "-"
        rows.append([c, row["checked"], row["passed"], sum(row["failed"].values()), kinds, row["unstable"],
                     row["refused"], f"{_agreement(row):.2f}"])
    rows = [[str(x) for x in r] for r in rows]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="number of programs (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--checks", default=",".join(C.DEFAULT_CHECKS),
                    help=f"comma-separated checks (default: all); choose from {', '.join(C.ALL_CHECKS)}")
    ap.add_argument("--plain-numpy", action="store_true",
                    help="render programs with np. instead of wnp. (needs __array_function__ dispatch)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per program (default 60)")
    ap.add_argument("--shrink", type=int, default=40, help="shrink at most this many distinct failures (default 40)")
    ap.add_argument("--shrink-numeric", type=int, default=8,
                    help="shrink at most this many programs per numeric failure kind (wrong, nan, ...) (default 8)")
    ap.add_argument("--shrink-budget", type=float, default=20.0, help="seconds per shrink (default 20)")
    ap.add_argument("--out", help="write all results as JSON here")
    ap.add_argument("--markdown", help="write the results table and shrunk programs as Markdown here")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    args = ap.parse_args(argv)
    checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    bad = [c for c in checks if c not in C.CHECKS]
    if bad:
        ap.error(f"unknown check(s) {', '.join(bad)}; choose from {', '.join(C.ALL_CHECKS)}")
    if args.plain_numpy and not _dispatch_available():
        print("warning: wengert's tracers have no __array_function__ yet: every np.-mode program that "
              "differentiates will fail", file=sys.stderr)
    opts = {"checks": checks, "plain_numpy": args.plain_numpy, "timeout": args.timeout,
            "shrink_budget": args.shrink_budget}
    seeds = range(args.seed, args.seed + args.n)
    commit = _commit()
    t0 = time.perf_counter()
    # import wengert once, before the workers fork, so that every worker runs the same code (a worker
    # replaced after maxtasksperchild would otherwise import the files as they are at that moment)
    import wengert  # noqa: F401
    import wengert.numpy  # noqa: F401
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()

    def new_pool():
        return ctx.Pool(args.jobs, initializer=_init, initargs=(opts,), maxtasksperchild=200)

    def progress(i):
        if not args.quiet and i % 50 == 0:
            el = time.perf_counter() - t0
            print(f"\r{i}/{args.n} programs, {el:.0f} s, {i / el:.2f} programs/s", end="", file=sys.stderr, flush=True)

    pool = new_pool()
    try:
        records = _run_all(pool, new_pool, seeds, opts, args.jobs, progress)
        pool = records.pop()    # the pool may have been replaced after a hang
        run_time = time.perf_counter() - t0
        if not args.quiet:
            print(file=sys.stderr)
        table, families, refusals = summarise(records, checks)
        order = {c: i for i, c in enumerate(C.ALL_CHECKS)}
        jobs, per_kind = [], collections.Counter()
        for (kind, _), fam in families.items():
            numeric = not kind.startswith("error:")
            if (numeric and per_kind[kind] >= args.shrink_numeric) or sum(j is not None for j in jobs) >= args.shrink:
                jobs.append(None)
                continue
            per_kind[kind] += numeric
            seed = fam["example"][0]
            # shrink against the most basic check this family fails
            check = min(fam["checks"], key=lambda c: order[c])
            ex = next(r for rec in records if rec["seed"] == seed for r in rec["results"] if r["check"] == check)
            if ex["status"] == "fail" and ex["kind"] == kind:
                jobs.append((seed, check, kind, ex["detail"], ex["signature"]))
            else:
                jobs.append(fam["example"])
        todo = [j for j in jobs if j is not None]
        done = iter(pool.map(shrink_one, todo, chunksize=1) if todo else [])
        shrunk = [None if j is None else next(done) for j in jobs]
    finally:
        pool.terminate()
        pool.join()
    total = time.perf_counter() - t0
    n_ops = sum(r["n_ops"] for r in records)
    speed = args.n / run_time if run_time else float("nan")
    header = (f"{args.n} programs (seeds {args.seed}..{args.seed + args.n - 1}, {n_ops / max(1, args.n):.1f} "
              f"operations on average), {'np.' if args.plain_numpy else 'wnp.'} mode, {args.jobs} jobs, "
              f"commit {commit}: {run_time:.0f} s for the checks ({speed:.2f} programs/s), {total:.0f} s in all")
    print(header)
    print(format_table(table))
    if refusals:
        print("\nrefused with a documented error (not failures):")
        for (c, sig), n in refusals.most_common():
            print(f"  {n:6d}  {c}: {sig}")
    fam_list = merge_families(families, shrunk)
    print(f"\n{len(fam_list)} distinct failure(s):")
    for fam in fam_list:
        print(f"\n=== {fam['title']}")
        if fam["shrunk"]:
            print(fam["shrunk"]["script"])
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"header": header, "commit": commit, "n": args.n, "seed": args.seed, "checks": checks,
                       "run_time_s": run_time, "programs_per_s": speed,
                       "table": {c: {**row, "failed": dict(row["failed"])} for c, row in table.items()},
                       "families": fam_list, "records": records}, fh, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(markdown_page(header, table, fam_list, args))
    failed = sum(sum(row["failed"].values()) for row in table.values())
    return 1 if failed else 0


def markdown_page(header, table, fam_list, args):
    out = ["# Random-program differential test: results", "",
           f"Generated by `python -m tests.fuzz --n {args.n} --seed {args.seed} --jobs {args.jobs}"
           f"{' --plain-numpy' if args.plain_numpy else ''} --markdown ...` (see [fuzz.md](fuzz.md)).", "",
           header + ".", "", format_table(table, markdown=True), "",
           "*agreement* = passed / (passed + failed); skipped checks are those where the finite-difference oracle "
           "is unstable at the point (a kink or jump within the step) or wengert refuses with a documented, "
           "clear error (e.g. data-dependent indexing under `jit`).", ""]
    if fam_list:
        out += [f"## Distinct failures ({len(fam_list)})", ""]
        for fam in fam_list:
            out += [f"### {fam['signature']}", "", fam["title"] + ".", ""]
            if fam["shrunk"]:
                out += ["```python no-run", fam["shrunk"]["script"].rstrip("\n"), "```", ""]
    return "\n".join(out) + "\n"
