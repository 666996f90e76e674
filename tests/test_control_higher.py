"""Second derivatives of control flow in every fwd/rev combination, inside and
outside ``jit`` (issue 10: ``jit(hessian(f))`` through a ``cond`` raised),
against finite differences of the gradient."""

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from tests._fd import numerical_jvp

X = np.array([1.3, 0.6])
X2 = np.array([0.9, 1.4])


def _while_value(x):
    # the condition depends on the values (staged under jit)
    return wg.while_loop(lambda c: wnp.sum(c[0]) < 9.0,
                         lambda c: (c[0] * (1.0 + x * x) + wnp.sin(c[0]), c[1] + 1), (x, 0))[0]


FUNS = {
    "cond": lambda x: wnp.sum(wg.cond(x[0] > 1.0, lambda v: wnp.sin(v) * v, lambda v: wnp.cos(v) * v[::-1], x)),
    "fori": lambda x: wnp.sum(wg.fori_loop(0, 3, lambda i, c: wnp.sin(c) * x + c, x)),
    "scan": lambda x: wnp.sum(wg.scan(lambda c, a: (wnp.sin(c) * a, c * a), x, wnp.stack([x, x * x]))[1]),
    "scan_ckpt": lambda x: wnp.sum(wg.scan(lambda c, a: (wnp.sin(c) * a, c * a), x, wnp.stack([x, x, x * x]),
                                           checkpoint="sqrt")[1]),
    "while_counter": lambda x: wnp.sum(wg.while_loop(lambda c: c[1] < 3,
                                                     lambda c: (wnp.sin(c[0]) * x, c[1] + 1), (x, 0))[0]),
    "while_value": lambda x: wnp.sum(_while_value(x)),
    "traced_fori": lambda x: wnp.sum(wg.fori_loop(0, wnp.argmax(x) + 2, lambda i, c: wnp.sin(c) * x, x)),
}

# jit(jacrev(jacrev(f))) with a loop whose condition depends on traced values:
# a clear error (the loop can neither be unrolled nor staged to second order)
RR_ERRORS = ("while_value", "traced_fori")

TRANSFORMS = {
    "hessian": wg.hessian,
    "jacfwd(jacrev)": lambda f: wg.jacfwd(wg.jacrev(f)),
    "jacrev(jacfwd)": lambda f: wg.jacrev(wg.jacfwd(f)),
    "jacrev(jacrev)": lambda f: wg.jacrev(wg.jacrev(f)),
}


def fd_hessian(f, x):
    g = wg.grad(f)
    return np.stack([numerical_jvp(g, (x,), (e,)) for e in np.eye(len(x))], axis=1)


@pytest.mark.parametrize("fname", sorted(FUNS))
def test_second_derivatives_of_control_flow(fname):
    f = FUNS[fname]
    want = {id(x): fd_hessian(f, x) for x in (X, X2)}
    raised = []
    for tname, t in TRANSFORMS.items():
        for jit in (False, True):
            h = wg.jit(t(f)) if jit else t(f)
            name = f"{'jit ' if jit else ''}{tname}"
            try:
                got = [h(X), h(X2), h(X)]  # the compiled tier from the 2nd call on
            except TypeError as e:
                # only reverse over reverse of a value-dependent loop inside jit
                assert jit and tname == "jacrev(jacrev)" and fname in RR_ERRORS, (name, e)
                assert "outside jit" in str(e) and "while_loop" in str(e)
                raised.append(name)
                continue
            for g, x in zip(got, (X, X2, X)):
                np.testing.assert_allclose(g, want[id(x)], rtol=1e-6, atol=1e-6, err_msg=name)
    assert raised == (["jit jacrev(jacrev)"] if fname in RR_ERRORS else [])


def test_jit_derivative_through_the_cotangent_of_a_staged_loop():
    # the staged loop's run-time linearization is applied to a cotangent that is
    # itself differentiated (reverse over reverse, forward over reverse): that
    # application is linear in it, so the outer derivative goes through
    def s(x):
        return wnp.sum(wg.while_loop(lambda c: wnp.sum(c) < 6.0, lambda c: c * 1.5 + wnp.sin(c), x * x + 0.5))

    x0 = np.array([0.3, 0.4])
    want = 2 * 2.0 * wg.grad(s)(x0)  # d/dy of grad_x(s(x) y^2) = 2 y grad s
    rr = lambda x0, y: wg.grad(lambda y: wnp.sum(wg.grad(lambda x: s(x) * y * y)(x0)))(y)  # noqa: E731
    fr = lambda x0, y: wg.jacfwd(lambda y: wg.grad(lambda x: s(x) * y * y)(x0))(y)  # noqa: E731
    for f in (rr, wg.jit(rr)):
        for _ in range(2):
            np.testing.assert_allclose(f(x0, 2.0), np.sum(want), rtol=1e-12)
    for f in (fr, wg.jit(fr)):
        for _ in range(2):
            np.testing.assert_allclose(f(x0, 2.0), want, rtol=1e-12)
