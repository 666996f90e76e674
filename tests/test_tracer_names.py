"""Every public ndarray name that wengert's Tracer supports reaches the
method (or property) on every tracer class and on ``wg.Tensor``: no slot or
instance attribute of a tracer shadows it (issue 10: under ``grad(jit(f))``,
``x.var(axis=0)`` raised "'Var' object is not callable")."""

import inspect

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp
from wengert._core import JVPTracer, LinVar, Tracer
from wengert._ir import StagedTracer
from wengert._record import RecTracer
from wengert._vmap import BatchTracer

NAMES = [n for n in dir(np.ndarray) if not n.startswith("_") and hasattr(Tracer, n)]
CLASSES = [JVPTracer, LinVar, BatchTracer, StagedTracer, RecTracer, wg.Tensor]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_no_slot_or_class_attribute_shadows_an_ndarray_name(cls):
    bad = []
    for n in NAMES:
        mine = inspect.getattr_static(cls, n)
        base = inspect.getattr_static(Tracer, n)
        if mine is base:
            continue
        # a subclass may override with its own method or property, never with data
        if type(mine).__name__ in ("member_descriptor", "getset_descriptor") or not (
                callable(mine) or isinstance(mine, (property, staticmethod, classmethod))):
            bad.append((n, type(mine).__name__))
    assert not bad, f"{cls.__name__}: these ndarray names are shadowed by data attributes: {bad}"


def _instances_seen(fun_transform):
    """Run a transformation on a function that looks up every name on its tracer."""
    seen = {}

    def f(x):
        seen["cls"] = type(x)
        seen["bad"] = []
        for n in NAMES:
            try:
                a = getattr(x, n)
            except Exception:  # a property that refuses this value (e.g. a traced .item)
                continue
            if isinstance(a, (wg._ir.Var, wg._record.Var)):
                seen["bad"].append(n)
            base = inspect.getattr_static(Tracer, n)
            if callable(base) and not isinstance(base, property) and not callable(a):
                seen["bad"].append(n)
        return wnp.sum(x.var(axis=0)) + wnp.sum(x.std(axis=0))
    fun_transform(f)
    return seen


@pytest.mark.parametrize("how", ["grad", "jit", "grad_jit", "vmap", "jvp", "record"])
def test_every_tracer_reaches_the_methods(how):
    x = np.arange(6.0).reshape(3, 2) ** 1.5
    runs = {
        "grad": lambda f: wg.grad(f)(x),
        "jit": lambda f: wg.jit(f)(x),
        "grad_jit": lambda f: wg.grad(wg.jit(f))(x),
        "vmap": lambda f: wg.vmap(f)(np.stack([x, x])),
        "jvp": lambda f: wg.jvp(f, (x,), (np.ones_like(x),)),
        "record": lambda f: wg._record.record(f, (x,)),
    }
    seen = _instances_seen(runs[how])
    assert issubclass(seen["cls"], Tracer)
    assert seen["bad"] == [], f"{how}: {seen['cls'].__name__} shadows {seen['bad']}"


def test_var_method_under_grad_of_jit():
    x = np.array([[1.0, 2.0], [4.0, 3.0], [0.5, -1.0]])

    def f(x):
        return wnp.sum(x.var(axis=0) * x.std(axis=0))
    g = wg.grad(f)(x)
    for h in (wg.grad(wg.jit(f)), wg.jit(wg.grad(f))):
        for _ in range(3):
            np.testing.assert_allclose(h(x), g, rtol=1e-12)


def test_tensor_instance_attributes_do_not_shadow():
    t = wg.Tensor(np.arange(4.0), requires_grad=True)
    y = (t * t).var()
    y.backward()
    for obj in (t, y):
        shadow = [n for n in getattr(obj, "__dict__", {}) if n in NAMES]
        assert shadow == []
    assert callable(t.var) and float(t.var()) == float(np.var(np.arange(4.0)))
