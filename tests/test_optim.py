"""wengert.optim: update formulas step by step (hand-written and torch.optim),
schedules, pytrees, the Tensor face, errors."""

import numpy as np
import pytest

import wengert as wg
from wengert import optim

R = np.random.default_rng(1)
STEPS = 6


def _grads_seq(shapes, n=STEPS, seed=2):
    r = np.random.default_rng(seed)
    return [{k: r.normal(size=s) for k, s in shapes.items()} for _ in range(n)]


SHAPES = {"w": (3, 2), "b": (2,)}


def _run(opt, params, grads_seq):
    state = opt.init(params)
    out = []
    for g in grads_seq:
        params, state = opt.update(g, state, params)
        out.append(params)
    return out, state


# ----------------------------------------------------------------------------
# Hand-written reference formulas


def ref_sgd(p, gs, lr, momentum=0.0, dampening=0.0, nesterov=False, wd=0.0):
    out, buf = [], None
    for k, g in enumerate(gs):
        g = g + wd * p
        if momentum:
            buf = g.copy() if k == 0 else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr(k) * g
        out.append(p)
    return out


def ref_adam(p, gs, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    out, m, v = [], np.zeros_like(p), np.zeros_like(p)
    for k, g in enumerate(gs):
        t = k + 1
        if decoupled:
            p = p * (1 - lr(k) * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr(k) * mhat / (np.sqrt(vhat) + eps)
        out.append(p)
    return out


CONFIGS = [
    ("sgd", lambda lr: optim.SGD(lr=lr), dict()),
    ("sgd_wd", lambda lr: optim.SGD(lr=lr, weight_decay=0.1), dict(wd=0.1)),
    ("momentum", lambda lr: optim.Momentum(lr, momentum=0.9), dict(momentum=0.9)),
    ("nesterov", lambda lr: optim.Momentum(lr, momentum=0.8, nesterov=True),
     dict(momentum=0.8, nesterov=True)),
    ("dampening", lambda lr: optim.SGD(lr=lr, momentum=0.9, dampening=0.3),
     dict(momentum=0.9, dampening=0.3)),
]

ADAM_CONFIGS = [
    ("adam", lambda lr: optim.Adam(lr=lr), dict()),
    ("adam_betas", lambda lr: optim.Adam(lr, betas=(0.8, 0.99), eps=1e-6), dict(b1=0.8, b2=0.99, eps=1e-6)),
    ("adam_l2", lambda lr: optim.Adam(lr=lr, weight_decay=0.1), dict(wd=0.1)),
    ("adamw", lambda lr: optim.AdamW(lr=lr, weight_decay=0.1), dict(wd=0.1, decoupled=True)),
]


@pytest.mark.parametrize("lr", [0.1, optim.exponential_decay(0.2, 0.7)], ids=["const", "sched"])
@pytest.mark.parametrize("name, make, kw", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_sgd_family_matches_formulas(name, make, kw, lr):
    p0 = {k: R.normal(size=s) for k, s in SHAPES.items()}
    gs = _grads_seq(SHAPES)
    got, state = _run(make(lr), p0, gs)
    sched = optim.as_schedule(lr)
    for k in SHAPES:
        ref = ref_sgd(p0[k], [g[k] for g in gs], sched, **kw)
        for step in range(STEPS):
            np.testing.assert_allclose(got[step][k], ref[step], rtol=1e-13, atol=1e-14)
    assert state["count"] == STEPS


@pytest.mark.parametrize("lr", [0.05, optim.cosine_decay(0.1, 4)], ids=["const", "sched"])
@pytest.mark.parametrize("name, make, kw", ADAM_CONFIGS, ids=[c[0] for c in ADAM_CONFIGS])
def test_adam_family_matches_formulas(name, make, kw, lr):
    p0 = {k: R.normal(size=s) for k, s in SHAPES.items()}
    gs = _grads_seq(SHAPES)
    got, _ = _run(make(lr), p0, gs)
    sched = optim.as_schedule(lr)
    for k in SHAPES:
        ref = ref_adam(p0[k], [g[k] for g in gs], sched, **kw)
        for step in range(STEPS):
            np.testing.assert_allclose(got[step][k], ref[step], rtol=1e-7, atol=1e-9)


def test_update_is_pure_and_keeps_structure_and_dtype():
    params = {"a": [np.ones(2, np.float32), np.zeros((1, 2), np.float32)], "b": None}
    before = [x.copy() for x in params["a"]]
    opt = optim.Adam(lr=0.1)
    state = opt.init(params)
    grads = {"a": [np.ones(2, np.float32), np.ones((1, 2), np.float32)], "b": None}
    new, state2 = opt.update(grads, state, params)
    assert isinstance(new["a"], list) and new["b"] is None
    assert new["a"][0].dtype == np.float32 and new["a"][1].shape == (1, 2)
    for x, y in zip(params["a"], before):
        np.testing.assert_array_equal(x, y)
    assert state["count"] == 0 and state2["count"] == 1


def test_minimises_a_quadratic_with_wg_grad():
    target = np.array([1.0, -2.0, 0.5])
    loss = lambda p: wg.numpy.sum((p["x"] - target) ** 2)
    for opt in (optim.SGD(0.1), optim.Momentum(0.05), optim.Adam(0.1), optim.AdamW(0.1, weight_decay=0.0),
                optim.RMSprop(0.01, momentum=0.5), optim.Adagrad(0.5)):
        params = {"x": np.zeros(3)}
        state = opt.init(params)
        for _ in range(300):
            params, state = opt.update(wg.grad(loss)(params), state, params)
        np.testing.assert_allclose(params["x"], target, atol=1e-3)


# ----------------------------------------------------------------------------
# Against torch.optim


TORCH_CASES = [
    (lambda: optim.SGD(lr=0.1), "SGD", dict(lr=0.1)),
    (lambda: optim.SGD(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05), "SGD",
     dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05)),
    (lambda: optim.Momentum(0.1, momentum=0.9, nesterov=True), "SGD",
     dict(lr=0.1, momentum=0.9, nesterov=True)),
    (lambda: optim.Adam(lr=0.01, betas=(0.8, 0.95), eps=1e-7, weight_decay=0.1), "Adam",
     dict(lr=0.01, betas=(0.8, 0.95), eps=1e-7, weight_decay=0.1)),
    (lambda: optim.AdamW(lr=0.01, weight_decay=0.2), "AdamW", dict(lr=0.01, weight_decay=0.2)),
    (lambda: optim.RMSprop(lr=0.01), "RMSprop", dict(lr=0.01)),
    (lambda: optim.RMSprop(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1),
     "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    (lambda: optim.Adagrad(lr=0.1), "Adagrad", dict(lr=0.1)),
    (lambda: optim.Adagrad(lr=0.1, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.3),
     "Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.3)),
]


@pytest.mark.parametrize("make, tname, tkw", TORCH_CASES, ids=[f"{c[1]}{i}" for i, c in enumerate(TORCH_CASES)])
def test_matches_torch_optim(make, tname, tkw):
    torch = pytest.importorskip("torch")
    p0 = R.normal(size=(4, 3))
    gs = [R.normal(size=(4, 3)) for _ in range(8)]
    tp = torch.nn.Parameter(torch.tensor(p0.copy()))
    topt = getattr(torch.optim, tname)([tp], **tkw)
    opt = make()
    p, state = p0, opt.init(p0)
    for g in gs:
        tp.grad = torch.tensor(g)
        topt.step()
        p, state = opt.update(g, state, p)
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: optim.step_decay(0.5, step_size=3, gamma=0.5),
     lambda o, t: t.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    (lambda: optim.exponential_decay(0.5, gamma=0.9),
     lambda o, t: t.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    (lambda: optim.cosine_decay(0.5, total_steps=10, final_lr=0.01),
     lambda o, t: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01)),
], ids=["step", "exponential", "cosine"])
def test_schedules_match_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    o = torch.optim.SGD([p], lr=0.5)
    sched = theirs(o, torch)
    mine = ours()
    for t in range(11):
        assert mine(t) == pytest.approx(o.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        o.step()
        sched.step()


def test_schedules():
    s = optim.warmup_cosine(1.0, warmup_steps=4, total_steps=14, final_lr=0.1)
    assert [s(t) for t in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert s(9) == pytest.approx(0.55)
    assert s(14) == pytest.approx(0.1) and s(100) == pytest.approx(0.1)
    assert optim.constant(0.3)(7) == 0.3
    assert optim.as_schedule(lambda t: 1.0 / (t + 1))(3) == 0.25
    assert "cosine_decay" in repr(optim.cosine_decay(1.0, 10))
    with pytest.raises(ValueError, match="warmup_steps"):
        optim.warmup_cosine(1.0, 10, 5)


def test_clip_grad_norm():
    g = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    clipped, n = optim.clip_grad_norm(g, 2.5)
    assert n == 5.0
    assert optim.global_norm(clipped) == pytest.approx(2.5)
    same, _ = optim.clip_grad_norm(g, 10.0)
    assert same is g


# ----------------------------------------------------------------------------
# Errors


def test_positional_forms():
    m = optim.Momentum(0.1, 0.8, True)
    assert (m.lr(0), m.momentum, m.nesterov) == (0.1, 0.8, True)
    s = optim.SGD(0.1, 0.9)
    assert s.momentum == 0.9 and s.slots == ("momentum",)
    a = optim.Adam(1e-2, (0.8, 0.9), 1e-6)
    assert (a.lr(0), a.betas, a.eps, a.weight_decay) == (1e-2, (0.8, 0.9), 1e-6, 0.0)
    w = optim.AdamW(1e-2, (0.9, 0.999), 1e-8, 0.1)
    assert w.weight_decay == 0.1
    sched = optim.cosine_decay(0.1, 10)
    assert optim.Adam(sched).lr is sched
    with pytest.raises(TypeError, match="at most 4 positional"):
        optim.Adam(0.1, (0.9, 0.9), 1e-8, 0.0, 5)
    with pytest.raises(TypeError, match="eps given twice"):
        optim.Adam(0.1, (0.9, 0.9), 1e-7, eps=1e-6)


def test_positional_forms_with_tensors():
    _tensor_mod()
    t = wg.tensor(np.ones(2), requires_grad=True)
    o = optim.SGD([t], 0.1, 0.9)
    assert o.tensors == [t] and o.momentum == 0.9 and o.lr(0) == 0.1
    o = optim.Adam(params=[t], lr=0.01)
    assert o.tensors == [t]
    with pytest.raises(TypeError, match="params given twice"):
        optim.Adam([t], params=[t], lr=0.01)


def test_errors_are_clear():
    with pytest.raises(TypeError, match="learning rate"):
        optim.SGD()
    with pytest.raises(TypeError, match="functional API"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="lr given twice"):
        optim.SGD(0.1, lr=0.2)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(0.1, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(0.1, nesterov=True)
    opt = optim.SGD(0.1)
    with pytest.raises(ValueError, match="different structures"):
        opt.update({"a": 1.0}, opt.init({"b": 1.0}), {"b": 1.0})
    with pytest.raises(TypeError, match="model.parameters"):
        opt.step()
    assert optim.Adam().lr(0) == 1e-3


# ----------------------------------------------------------------------------
# The Tensor face (PyTorch style)


def _tensor_mod():
    return pytest.importorskip("wengert.tensor", reason="wg.Tensor has not landed yet")


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.Adam(p, lr=0.05),
                                  lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1)],
                         ids=["sgd", "adam", "adamw"])
def test_tensor_step_matches_functional(make):
    _tensor_mod()
    p0 = R.normal(size=(3,))
    target = np.array([1.0, 2.0, 3.0])
    x = wg.tensor(p0.copy(), requires_grad=True)
    opt = make([x])
    fopt = type(opt)(**_hyper_of(opt))   # the same optimizer, functional
    p, state = p0.copy(), fopt.init(p0)
    for _ in range(5):
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        opt.step()
        g = 2 * (p - target)
        p, state = fopt.update(g, state, p)
        np.testing.assert_allclose(x.data, p, rtol=1e-12)
    assert x.grad is not None
    opt.zero_grad()
    assert x.grad is None


def _hyper_of(opt):
    kw = {"lr": opt.lr}
    if isinstance(opt, optim.SGD):
        kw.update(momentum=opt.momentum, nesterov=opt.nesterov, weight_decay=opt.weight_decay,
                  dampening=opt.dampening)
    else:
        kw.update(betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)
    return kw


def test_tensor_step_skips_params_without_grad():
    _tensor_mod()
    a = wg.tensor(np.ones(2), requires_grad=True)
    b = wg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5)
    (a * 2.0).sum().backward()
    opt.step()
    np.testing.assert_allclose(a.data, [0.0, 0.0])
    np.testing.assert_allclose(b.data, [1.0, 1.0])
