"""The automatic sweep: every case of the table, value vs NumPy, first and
second derivatives in forward and reverse mode vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from _fd import check_grads
from cases import all_cases

import wengert as wg
from wengert import _prims
from wengert._core import Trace, Tracer, end_level, new_level

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_value_matches_numpy(case):
    rng = np.random.default_rng(1)
    args = case.args(rng)
    got = case.fn(*args)
    assert not isinstance(got, Tracer)
    if case.ref is not None:
        want = case.ref(*args)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert np.shape(got) == np.shape(want)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_derivatives_match_finite_differences(case):
    rng = np.random.default_rng(2)
    args = case.args(rng)
    check_grads(case.fn, args, order=case.order, modes=case.modes, tol=case.tol, rng=rng)


# --- the registry: every primitive has its rules and is swept -----------------


class _RecTrace(Trace):
    __slots__ = ("seen",)

    def process(self, p, args, params):
        self.seen.add(p.name)
        vals = [a.val if type(a) is _RecTracer and a._trace is self else a for a in args]
        out = p.bind(*vals, *params)
        if p.multiple_results:
            return tuple(_RecTracer(self, o) for o in out)
        return _RecTracer(self, out)


class _RecTracer(Tracer):
    __slots__ = ("val",)

    def __init__(self, trace, val):
        self._trace = trace
        self.val = val

    shape = property(lambda s: np.shape(s.val))
    dtype = property(lambda s: np.result_type(s.val))

    def __bool__(self):
        return bool(self.val)


def _reached_primitives():
    seen = set()
    for case in CASES:
        args = case.args(np.random.default_rng(3))
        level = new_level()
        tr = _RecTrace(level)
        tr.seen = seen
        try:
            xs = [_RecTracer(tr, np.asarray(a)) for a in args]
            case.fn(*xs)
            # rules and transposes of the case, traced too
            y = np.asarray(case.fn(*args))
            ct = np.ones_like(y)
            _, f_vjp = wg.vjp(case.fn, *xs)
            f_vjp(ct)
            wg.jvp(case.fn, tuple(xs), tuple(np.ones_like(a) for a in args))
        except Exception:
            pass
        finally:
            end_level()
    return seen


def test_every_primitive_has_rules():
    missing = []
    for name, p in _prims.REGISTRY.items():
        if p.nondiff:
            continue
        if p.jvps is None and p.jvp_full is None:
            missing.append(f"{name}: no JVP rule (forward mode)")
        if p.linear and p.transpose is None:
            missing.append(f"{name}: linear but no transpose (reverse mode)")
    assert not missing, "\n".join(missing)


def test_every_primitive_is_swept():
    seen = _reached_primitives()
    unswept = sorted(set(_prims.REGISTRY) - seen)
    assert not unswept, f"primitives no sweep case reaches: {unswept}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.complex], ids=lambda c: c.name)
def test_float32_is_never_promoted(case):
    """float32 inputs give float32 tangents and cotangents (cheap rules, no promotion)."""
    args = tuple(np.asarray(a, dtype=np.float32) for a in case.args(np.random.default_rng(4)))
    y = case.fn(*args)
    if np.result_type(y) != np.float32:
        pytest.skip("the function itself leaves float32 (e.g. an explicit astype)")
    ts = tuple(np.ones_like(a) for a in args)
    _, t = wg.jvp(case.fn, args, ts)
    assert np.result_type(t) == np.float32, "forward mode promoted float32"
    _, f_jvp = wg.linearize(case.fn, *args)
    assert np.result_type(f_jvp(*ts)) == np.float32, "the linear tape promoted float32"
    from wengert._core import JVPTrace, JVPTracer, LinVar, TapeTrace, backward_pass, new_level
    level = new_level()
    try:
        tr, tape = JVPTrace(level), TapeTrace(level + 0.5)
        lins = [LinVar(tape, None, (), ()) for _ in args]
        out = case.fn(*[JVPTracer(tr, a, v) for a, v in zip(args, lins)])
    finally:
        end_level()
    if isinstance(out, JVPTracer) and out.tangent is not None:
        backward_pass(tape, [(out.tangent, np.ones(np.shape(out.primal), np.float32))])
        for v in lins:
            if v.ct is not None:
                assert np.result_type(v.ct) == np.float32, "reverse mode promoted float32"
