"""``wg.Tensor`` through control flow, checkpoint and custom rules (issue 10:
they raised "'NoneType' object is not subscriptable"): ``.backward()`` and
double backward match ``wg.grad`` / ``wg.hessian`` of the same function."""

import types

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

X = np.array([0.3, 0.7, -0.4])
V = np.array([1.0, -0.5, 0.25])


def f_fori(x):
    return wnp.sum(wg.fori_loop(0, 3, lambda i, c: wnp.sin(c) * x + 0.1 * c, x))


def f_scan(x):
    c, ys = wg.scan(lambda c, a: (wnp.sin(c) * a, c * a), x, wnp.stack([x, x * x]))
    return wnp.sum(c) + wnp.sum(ys)


def f_scan_rev_ckpt(x):
    c, ys = wg.scan(lambda c, a: (wnp.tanh(c) * a, c * a), x, wnp.stack([x, x * x, x]),
                    reverse=True, checkpoint="sqrt")
    return wnp.sum(c) + wnp.sum(ys)


def f_cond(x):
    return wnp.sum(wg.cond(wnp.sum(x) > 0, lambda v: wnp.sin(v) * v, lambda v: wnp.cos(v), x))


def f_cond_false(x):
    return wnp.sum(wg.cond(wnp.sum(x) > 5, lambda v: wnp.sin(v) * v, lambda v: wnp.cos(v) * x, x))


def f_while(x):
    return wnp.sum(wg.while_loop(lambda c: c[1] < 3, lambda c: (wnp.sin(c[0]) * x, c[1] + 1), (x, 0))[0])


def f_while_value(x):
    return wnp.sum(wg.while_loop(lambda c: wnp.sum(c) < 6.0, lambda c: c * 1.5 + wnp.sin(c), x * x + 0.5))


def f_traced_fori(x):
    return wnp.sum(wg.fori_loop(0, wnp.argmax(x) + 1, lambda i, c: wnp.sin(c) * x, x))


def f_checkpoint(x):
    return wnp.sum(wg.checkpoint(lambda v: wnp.sin(wnp.sin(v)) * v)(x))


def f_attr(x):
    P = types.SimpleNamespace(w=x * 2.0)
    return wnp.sum(wg.fori_loop(0, 3, lambda i, c: wnp.sin(c) * P.w, x))


def f_nested(x):
    return wnp.sum(wg.fori_loop(0, 2, lambda i, c: wg.cond(i > 0, lambda v: wnp.sin(v) * x, wnp.cos, c), x))


FUNS = [f_fori, f_scan, f_scan_rev_ckpt, f_cond, f_cond_false, f_while, f_while_value, f_traced_fori,
        f_checkpoint, f_attr, f_nested]


@pytest.mark.parametrize("f", FUNS, ids=lambda f: f.__name__)
def test_tensor_backward_through_control_flow(f):
    t = wg.tensor(X, requires_grad=True)
    y = f(t)
    assert isinstance(y, wg.Tensor)
    np.testing.assert_allclose(y.item(), f(X), rtol=1e-12)
    y.backward()
    np.testing.assert_allclose(t.grad.numpy(), wg.grad(f)(X), rtol=1e-12, atol=1e-14)
    # double backward: the gradient's derivative along V is the Hessian times V
    t = wg.tensor(X, requires_grad=True)
    (g,) = wg.autograd_grad(f(t), t, create_graph=True)
    (hv,) = wg.autograd_grad(wnp.sum(g * V), t)
    np.testing.assert_allclose(hv.numpy(), wg.hessian(f)(X) @ V, rtol=1e-10, atol=1e-12)


def test_tensor_through_custom_rules():
    @wg.custom_vjp
    def clip(x):
        return x

    clip.defvjp(lambda x: (x, None), lambda res, g: (wnp.clip(g, -1.0, 1.0),))

    @wg.custom_jvp
    def sq(x):
        return x * x

    sq.defjvp(lambda p, t: (p[0] * p[0], 3.0 * p[0] * t[0]))  # deliberately 3x, not 2x

    def f(x):
        return wnp.sum(5.0 * clip(x)) + wnp.sum(sq(x))

    t = wg.tensor(X, requires_grad=True)
    f(t).backward()
    np.testing.assert_allclose(t.grad.numpy(), wg.grad(f)(X), rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), 1.0 + 3.0 * X, rtol=1e-12)
    # double backward through a custom rule: a clear error, never a missing term
    t = wg.tensor(X, requires_grad=True)
    with pytest.raises(TypeError, match="create_graph=True through `custom_jvp_call`"):
        wg.autograd_grad(wnp.sum(sq(t)), t, create_graph=True)


def test_tensor_without_grad_through_control_flow():
    t = wg.tensor(X)
    y = f_fori(t)
    np.testing.assert_allclose(np.asarray(y.numpy() if isinstance(y, wg.Tensor) else y), f_fori(X))
    with wg.no_grad():
        t = wg.tensor(X, requires_grad=True)
        y = f_scan(t)
        assert not (isinstance(y, wg.Tensor) and y.requires_grad)
