"""The benchmark suite's correctness checks (no timing assertions here)."""

import numpy as np
import pytest

from wengert import _bench as B


@pytest.mark.parametrize("wl", list(B.WORKLOADS))
def test_every_workload_checks_out_for_hand_and_wengert(wl):
    res = B.run_quick(only=[wl], impls=["hand", "wengert", "wengert-tensor"], budget=0.001)
    ran = [r for r in res if "skipped" not in r]
    assert any(r["impl"] == "wengert" for r in ran)
    for r in ran:
        assert "error" not in r, (r["job"], r["impl"], r.get("error"))
        assert r["ok"] is True, (r["job"], r["impl"])
        if r["job"] != "W6.memory":
            assert r["time"] > 0


@pytest.mark.parametrize("wl", ["W1", "W2", "W3", "W4", "W6", "W7"])
def test_jit_variants_check_out(wl):
    res = B.run_quick(only=[wl], impls=["wengert-jit"], budget=0.001)
    ran = [r for r in res if "skipped" not in r]
    for r in ran:
        assert "error" not in r, (r["job"], r["impl"], r.get("error"))
        assert r["ok"] is True, (r["job"], r["impl"])
        if r["job"] != "W6.memory":
            assert r["time"] > 0


def test_the_check_can_fail():
    ok, err = B._close([np.array([1.0, 2.0]), 3.0], [np.array([1.0, 2.0]), 3.0], 1e-9)
    assert ok and err == 0
    ok, err = B._close([np.array([1.0, 2.1]), 3.0], [np.array([1.0, 2.0]), 3.0], 1e-9)
    assert not ok and err == pytest.approx(0.05)
    ok, _ = B._close(np.zeros(3), np.zeros(4), 1e-9)
    assert not ok
    ok, _ = B._close(np.array([np.nan]), np.array([1.0]), 1e-9)
    assert not ok


def test_float32_results_must_stay_float32():
    f32 = [np.float32(1.0), np.ones(2, np.float32)]
    assert B._dtype_mismatch(f32, f32) is None
    assert "float64" in B._dtype_mismatch([np.float32(1.0), np.ones(2)], f32)
    assert B._dtype_mismatch(np.ones(2), np.ones(2)) is None


def test_a_wrong_gradient_is_reported_not_timed(monkeypatch):
    real = B.build_w1

    def broken(case, impl):
        job = real(case, impl)
        if impl == "wengert":
            fn = job.fn
            job.fn = lambda: [v * 1.01 for v in fn()]
        return job

    monkeypatch.setitem(B.WORKLOADS["W1"], "build", broken)
    r = B.run_job("W1.f1", "wengert", quick=True)
    assert r["ok"] is False and "wrong result" in r["error"] and "time" not in r


def test_hand_references_agree_with_autograd_style_finite_differences():
    # the floor itself is right: hand gradients against central differences
    A, x = B._w4_data()
    H = B._w4_hand(A, x)
    f = B._w4_f(np, A)
    h = 1e-5
    i, j = 3, 4
    e_i, e_j = np.eye(B.W4_N)[i] * h, np.eye(B.W4_N)[j] * h
    fd = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)) / (4 * h * h)
    assert H[i, j] == pytest.approx(fd, rel=1e-4)
    W, xs, h0 = B._w6_data()
    xs = xs[:20]
    g = B._w6_hand(W, xs, h0)
    f6 = B._w6_f(np, xs, h0)
    dW = np.zeros_like(W)
    dW[1, 2] = 1e-6
    assert g[1, 2] == pytest.approx((f6(W + dW) - f6(W - dW)) / 2e-6, rel=1e-5)
    params, X, Y = B._w2_data(np.float64)
    v, grads = B._mlp_hand_vg(params, X, Y)
    assert v == pytest.approx(B._mlp_loss(np)(params, X, Y))
    p2 = [p.copy() for p in params]
    p2[5][3] += 1e-6
    p3 = [p.copy() for p in params]
    p3[5][3] -= 1e-6
    fd = (B._mlp_loss(np)(p2, X, Y) - B._mlp_loss(np)(p3, X, Y)) / 2e-6
    assert grads[5][3] == pytest.approx(fd, rel=1e-5)


def test_autograd_peer_runs_and_checks():
    pytest.importorskip("autograd")
    r = B.run_job("W1.f1", "autograd", quick=True)
    assert r["ok"] is True


def test_report_tables_and_targets():
    res = B.run_quick(only=["W1", "W3"], impls=["hand", "wengert"], budget=0.001)
    text = B.tables(res)
    assert "### W1" in text and "### W3" in text and "| f1 | wengert |" in text
    tt = B.targets_table(res)
    assert "| W1 grad, eager | ≤ 15 µs |" in tt
    status = {line.split("|")[1].strip(): line.split("|")[4].strip() for line in tt.splitlines()[2:]}
    assert status["W1 grad, eager"] in ("met", "**missed**")
    assert status["W4 Hessian, eager"] == "not run"


def test_cli_arguments(capsys):
    assert B.main(["--only", "W9"]) == 2
    assert "unknown workload" in capsys.readouterr().err
    assert B.main(["--impls", "numba"]) == 2


def test_child_environment_is_single_threaded(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1000")
    env = B.child_env()
    assert "OPENBLAS_CORETYPE" not in env and "OPENBLAS_L2_SIZE" not in env
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"


def test_worker_protocol_in_a_fresh_process():
    res = B._spawn([("W1.f2", "hand"), ("W1.f2", "wengert")], core=0, budget=0.001, timeout=120)
    assert [r["impl"] for r in res] == ["hand", "wengert"]
    assert all(r["ok"] for r in res)
