"""Every ``wnp`` case of the sweep table, rewritten with plain ``np.*``.

Each case's function is rebuilt with ``numpy`` in place of ``wengert.numpy``
(``wnp.X`` -> ``np.X``, ``wnp.linalg.X`` -> ``np.linalg.X``, a ``wnp``
function passed as the case itself -> the NumPy function of the same name,
``wengert.scipy.special`` ufuncs -> ``scipy.special``), so the NumPy calls
reach wengert only through NumPy's own dispatch (``__array_ufunc__``,
``__array_function__``).  The rewritten function must give the same values,
dtypes and derivatives as the ``wnp`` one: value, grad and jvp for every
case, and one more mode per case in rotation (jacfwd, jacrev, hessian, vmap,
jit's first and second calls, a ``wg.cond`` body, ``wg.Tensor``), so every
primitive is reached through NumPy's dispatch in the basic modes and every
mode on a good share of the cases.
"""

from __future__ import annotations

import re
import types

import numpy as np
import pytest
from cases import all_cases

import wengert as wg
import wengert.numpy as wnp
from wengert.numpy import fft as wfft
from wengert.numpy import linalg as wlinalg

try:
    import scipy.special as sps

    from wengert.scipy import special as wsp
except ImportError:  # pragma: no cover - SciPy is in the test extra
    sps = wsp = None


class _Numpyish:
    """``numpy`` (or ``numpy.linalg``, ``numpy.fft``, ``scipy.special``) seen
    through a wengert namespace: NumPy's function where NumPy has one (only
    ufuncs of scipy.special, which dispatch), wengert's own otherwise
    (``wnp.stop_gradient``, SciPy functions written in Python)."""

    def __init__(self, ours, theirs, ufuncs_only=False):
        self._ours = ours
        self._theirs = theirs
        self._ufuncs_only = ufuncs_only

    def __getattr__(self, name):
        t = getattr(self._theirs, name, None)
        ours = getattr(self._ours, name, None)
        if isinstance(ours, types.ModuleType):
            return _MODULES.get(id(ours), ours)
        if t is None or (self._ufuncs_only and not isinstance(t, np.ufunc)):
            return getattr(self._ours, name)
        return t


_MODULES = {id(wlinalg): _Numpyish(wlinalg, np.linalg), id(wfft): _Numpyish(wfft, np.fft)}
_MODULES[id(wnp)] = _Numpyish(wnp, np)
if wsp is not None:
    _MODULES[id(wsp)] = _Numpyish(wsp, sps, ufuncs_only=True)


def _numpy_twin(fn):
    """The NumPy function ``fn`` (a wnp / wengert.scipy.special function) stands for."""
    name = fn.__name__
    mod = fn.__module__
    if mod == "wengert.scipy.special":
        t = getattr(sps, name, None)
        return t if isinstance(t, np.ufunc) else None  # only ufuncs dispatch
    for wmod, nmod in ((wlinalg, np.linalg), (wfft, np.fft), (wnp, np)):
        for key, val in vars(wmod).items():
            if val is fn and hasattr(nmod, key) and callable(getattr(nmod, key)):
                return getattr(nmod, key)
    return None


def _translate(obj, memo):
    """``obj`` with every reference to wengert.numpy replaced by numpy."""
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, types.ModuleType):
        return _MODULES.get(id(obj), obj)
    if not isinstance(obj, types.FunctionType):
        return obj
    mod = obj.__module__ or ""
    if mod.startswith("wengert"):
        twin = _numpy_twin(obj) if (mod.startswith("wengert.numpy") or mod == "wengert.scipy.special") else None
        return twin if twin is not None else obj
    if not (mod.startswith("cases") or mod == __name__):
        return obj
    g = dict(obj.__globals__)
    cells = None
    if obj.__closure__:
        cells = tuple(types.CellType(_translate(c.cell_contents, memo)) for c in obj.__closure__)
    defaults = tuple(_translate(d, memo) for d in obj.__defaults__) if obj.__defaults__ else None
    new = types.FunctionType(obj.__code__, g, obj.__name__, defaults, cells)
    new.__kwdefaults__ = obj.__kwdefaults__
    memo[id(obj)] = new
    for name in _names(obj.__code__):
        if name in g:
            g[name] = _translate(g[name], memo)
    return new


def _names(code):
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _twin(case):
    """The np.* version of the case's function, or None where the case is not
    written with wnp (primitives bound directly, SciPy functions that are not
    ufuncs)."""
    fn = case.fn
    if fn.__module__.startswith("wengert"):
        return _numpy_twin(fn)
    if "prim" in fn.__code__.co_freevars:  # a primitive bound directly
        return None
    return _translate(fn, {})


# np.array([...traced...]) cannot be intercepted (NumPy builds the array
# itself): these cases must raise the error that names wnp.array/wnp.stack
UNREACHABLE = {"array-stack", "asarray-nested", "full", "extra.asanyarray"}


def _unreachable(case) -> bool:
    """np.array([...traced...]), np.full(shape, traced), and np.f([traced, ...])
    (NumPy converts a list argument itself: only its elements are traced, and
    NEP 18 looks at the arguments, not into lists)."""
    return case.name in UNREACHABLE or re.match(r"regress\..*-(list|tuple)\b", case.name) is not None


CASES = [c for c in all_cases() if _twin(c) is not None]
EXTRA = ["jacfwd", "jacrev", "hessian", "vmap", "jit", "cond", "tensor"]


def test_most_cases_are_rewritten():
    """The rewriting reaches the wnp cases (a broken rewrite would skip them)
    and really calls NumPy."""
    assert len(CASES) > 0.85 * len(all_cases())
    by_name = {c.name: c for c in CASES}
    assert _twin(by_name["sin()"]) is np.sin
    assert _twin(by_name["sum{}"])(np.arange(3.0)) == 3.0
    assert _twin(by_name["where"]).__globals__["wnp"].where is np.where
    assert _twin(by_name["fft.fft"]).__globals__["wnp"].fft.fft is np.fft.fft


@pytest.mark.parametrize("case", [c for c in CASES if c.vmap and not _unreachable(c)],
                         ids=lambda c: c.name)
def test_same_wengert_list(case):
    """The np.* version stages exactly the wnp version's primitives: every
    primitive the sweep reaches through wnp is reached through NumPy's
    dispatch too, with the same parameters."""
    from wengert._ir import ConcretizationError
    args = case.args(np.random.default_rng(0))
    try:
        want = _listing(wg.make_graph(case.fn, *args))
    except ConcretizationError:
        pytest.skip("data-dependent: not stageable (the same for wnp)")
    assert _listing(wg.make_graph(_twin(case), *args)) == want


def _listing(graph):
    """The numbered listing without the source-line notes."""
    return [line.split("  # ")[0] for line in str(graph).splitlines()]


def _total(fn):
    def f(*xs):
        out = fn(*xs)
        return wnp.sum(wnp.real(out)) if wnp.iscomplexobj(out) else wnp.sum(out)
    return f


def _close(got, want, what, tol=1e-10):
    lg, tg = wg.tree_util.tree_flatten(got)
    lw, tw = wg.tree_util.tree_flatten(want)
    assert tg == tw, what
    for a, b in zip(lg, lw):
        if isinstance(a, wg.Tensor):
            a = a.data
        if isinstance(b, wg.Tensor):
            b = b.data
        assert not isinstance(a, wg._core.Tracer), what
        assert np.shape(a) == np.shape(b), f"{what}: shape {np.shape(a)} != {np.shape(b)}"
        assert np.result_type(a) == np.result_type(b), f"{what}: dtype {np.result_type(a)} != {np.result_type(b)}"
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol, err_msg=what)


def _tangents(args, rng):
    out = []
    for a in args:
        t = rng.standard_normal(np.shape(a))
        if np.iscomplexobj(a):
            t = t + 1j * rng.standard_normal(np.shape(a))
        out.append(np.asarray(t, dtype=np.result_type(a)))
    return tuple(out)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_numpy_dispatch_matches_wnp(case):
    f = case.fn
    g = _twin(case)
    rng = np.random.default_rng(11)
    args = case.args(rng)
    if _unreachable(case):
        with pytest.raises(TypeError, match=r"wnp\.array"):
            wg.grad(_total(g))(*args)
        return
    argnums = tuple(range(len(args)))
    # value (outside any transformation: plain NumPy) and grad, jvp
    _close(g(*args), f(*args), "value")
    if "rev" in case.modes:
        _close(wg.grad(_total(g), argnums=argnums)(*args), wg.grad(_total(f), argnums=argnums)(*args), "grad")
    if "fwd" in case.modes:
        ts = _tangents(args, rng)
        _close(wg.jvp(g, args, ts), wg.jvp(f, args, ts), "jvp")
    mode = EXTRA[CASES.index(case) % len(EXTRA)]
    _extra(mode, case, f, g, args, argnums)


def _extra(mode, case, f, g, args, argnums):
    if mode == "jacfwd" and "fwd" in case.modes:
        _close(wg.jacfwd(g)(*args), wg.jacfwd(f)(*args), "jacfwd")
    elif mode == "jacrev" and "rev" in case.modes:
        _close(wg.jacrev(g)(*args), wg.jacrev(f)(*args), "jacrev")
    elif mode == "hessian" and case.order >= 2 and case.modes == ("fwd", "rev"):
        _close(wg.hessian(_total(g))(*args), wg.hessian(_total(f))(*args), "hessian", tol=1e-8)
    elif mode == "vmap" and case.vmap:
        batched = tuple(np.stack([a, a * 0.9 + 0.05]) for a in args)
        _close(wg.vmap(g)(*batched), wg.vmap(f)(*batched), "vmap")
    elif mode == "jit" and case.vmap:
        from wengert._ir import ConcretizationError
        jg = wg.jit(g)
        try:
            first = jg(*args)
        except ConcretizationError:
            return  # data-dependent (see test_jit_sweep.DATA_DEPENDENT): the same for wnp
        _close(first, f(*args), "jit first call")
        args2 = case.args(np.random.default_rng(12))
        _close(jg(*args2), f(*args2), "jit second call")
    elif mode == "cond" and case.vmap and "rev" in case.modes:
        def through_cond(fn):
            return lambda *a: wg.cond(True, _total(fn), lambda *b: _total(fn)(*b) * 2.0, *a)
        _close(wg.grad(through_cond(g), argnums=argnums)(*args),
               wg.grad(through_cond(f), argnums=argnums)(*args), "cond body")
    elif mode == "tensor" and "rev" in case.modes and not case.complex:
        ts = [wg.tensor(a, requires_grad=True) for a in args]
        out = _total(g)(*ts)
        want = wg.grad(_total(f), argnums=argnums)(*args)
        if not (isinstance(out, wg.Tensor) and out.requires_grad):
            return
        out.backward()
        got = tuple(np.zeros_like(w) if t.grad is None else t.grad.data for t, w in zip(ts, want))
        _close(got, want, "Tensor.backward")
