"""NumPy's keyword arguments on wengert.numpy: each is honoured exactly (value,
dtype, derivative, in every mode) or refused with a clear error — never taken
in a ``**kwargs`` catch-all and ignored."""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp

from wengert.numeric import grad as fd_grad

# Functions whose **kwargs forward every keyword to NumPy (on concrete values,
# or on the index positions of a pure rearrangement), to the user's function,
# or are validated against NumPy's own keyword check (pad).
FORWARDERS = {
    "wengert.numpy": {"apply_along_axis", "arange", "clip", "diagonal", "digitize", "empty", "eye", "flip",
                      "fliplr", "flipud", "fromfunction", "identity", "indices", "isin", "lexsort", "ones",
                      "pad", "printoptions", "repeat", "roll", "rot90", "savez", "tile", "tri", "zeros"},
    "wengert.numpy.linalg": set(),
    "wengert.numpy.fft": set(),
}

MODULES = [(wnp, np), (wnp.linalg, np.linalg), (wnp.fft, np.fft)]


def _public(mod):
    for name in sorted(dir(mod)):
        if name.startswith("_"):
            continue
        try:
            f = getattr(mod, name)
        except AttributeError:
            continue
        if not callable(f) or isinstance(f, (type, np.ufunc)):
            continue
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            continue
        yield name, f, sig


@pytest.mark.parametrize("mod", [m for m, _ in MODULES], ids=lambda m: m.__name__)
def test_no_keyword_catch_alls(mod):
    """Every ``**kwargs`` in a public signature is a reviewed forwarder."""
    catch_all = {name for name, _, sig in _public(mod)
                 if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())}
    assert catch_all == FORWARDERS[mod.__name__]


@pytest.mark.parametrize("mod,npmod", MODULES, ids=lambda m: getattr(m, "__name__", ""))
def test_numpy_keywords_are_named_or_refused(mod, npmod):
    """A NumPy keyword absent from the wnp signature raises TypeError (no
    catch-all can swallow it); one present is a parameter the body reads."""
    checked = 0
    ignored = []
    for name, f, sig in _public(mod):
        body = _body(f)
        npf = getattr(npmod, name, None)
        if npf is None or isinstance(npf, np.ufunc) or name in FORWARDERS[mod.__name__]:
            continue
        try:
            npsig = inspect.signature(npf)
        except (TypeError, ValueError):
            continue
        has_var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        assert not has_var_kw, name
        for p in npsig.parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
                continue
            if p.name not in sig.parameters:
                with pytest.raises(TypeError, match=p.name):
                    sig.bind_partial(**{p.name: None})
            elif body is not None and p.name not in UNREAD.get(name, ()) and not (
                    p.name == "out" and getattr(f, "_wengert_with_out", False)):
                if not re.search(rf"\b{p.name}\b", body):
                    ignored.append(f"{mod.__name__}.{name}({p.name}=)")
            checked += 1
    assert checked > 0
    assert not ignored, ignored


# parameters that do not change the value (memory layout or copying hints)
UNREAD = {"astype": ("copy",), "partition": ("kind", "order")}


def _body(f):
    """The source of ``f`` after its signature (None where there is none)."""
    try:
        lines = inspect.getsource(f).split("\n")
    except (OSError, TypeError):
        return None
    for i, line in enumerate(lines):
        if line.rstrip().endswith(":") and "def " in "".join(lines[: i + 1]):
            return "\n".join(lines[i + 1:])
    return None


X = np.array([[0.5, 3.0, -1.0, 2.5], [2.0, 1.0, 4.0, -0.5], [1.5, -2.0, 0.25, 3.5]])
M = X > 0.7

# (function, keywords): compared with NumPy on concrete inputs and under jit,
# differentiated against finite differences of NumPy's own function
CASES = [
    ("sum", dict(where=M)), ("sum", dict(where=M, initial=2.0, axis=1)), ("sum", dict(initial=-1.5, keepdims=True)),
    ("sum", dict(dtype=np.float32, axis=0)),
    ("prod", dict(where=M, axis=0)), ("prod", dict(initial=2.0, axis=1)),
    ("max", dict(where=M, initial=-5.0, axis=1)), ("max", dict(initial=3.2)), ("min", dict(initial=0.0, axis=0)),
    ("min", dict(where=M, initial=10.0)), ("amax", dict(where=M, initial=-1.0, axis=0, keepdims=True)),
    ("mean", dict(where=M, axis=1)), ("mean", dict(where=M, keepdims=True, axis=0)), ("mean", dict(where=M)),
    ("mean", dict(dtype=np.float32)),
    ("var", dict(where=M)), ("var", dict(where=M, axis=1, ddof=1)), ("var", dict(correction=1, axis=0)),
    ("var", dict(mean=np.mean(X, axis=1, keepdims=True), axis=1)),
    ("std", dict(correction=1, axis=0)), ("std", dict(where=M, axis=0, keepdims=True)),
    ("std", dict(mean=np.mean(X, axis=0, keepdims=True), axis=0, correction=1)),
    ("nansum", dict(where=M, initial=1.0)), ("nanprod", dict(where=M, axis=1)),
    ("nanmax", dict(where=M, initial=-3.0, axis=1)), ("nanmin", dict(initial=0.1)),
    ("nanmean", dict(where=M, axis=0)), ("nanvar", dict(correction=1, axis=1)), ("nanstd", dict(correction=1)),
    ("argsort", dict(stable=True, axis=0)), ("sort", dict(stable=True, axis=1)),
    ("quantile", dict(q=0.3, overwrite_input=True, axis=1)),
]


def _call(lib, name, x, kw):
    kw = dict(kw)
    if "q" in kw:
        return getattr(lib, name)(x, kw.pop("q"), **kw)
    return getattr(lib, name)(x, **kw)


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{'-'.join(k)}" for n, k in CASES])
def test_keywords_honoured_in_every_mode(name, kw):
    ref = _call(np, name, X, kw)
    eager = _call(wnp, name, X, kw)
    np.testing.assert_allclose(eager, ref, rtol=1e-6)
    assert np.asarray(eager).dtype == ref.dtype
    j = wg.jit(lambda x: _call(wnp, name, x, kw))
    for _ in range(2):  # trace, then the compiled call
        v = j(X)
        np.testing.assert_allclose(v, ref, rtol=1e-6)
        assert np.asarray(v).dtype == ref.dtype
    if name in ("argsort",):
        return
    t = wg.tensor(X, requires_grad=True)
    np.testing.assert_allclose(_call(wnp, name, t, kw).data, ref, rtol=1e-6)
    w = np.random.default_rng(0).standard_normal(np.shape(ref))

    def f(x):
        return wnp.sum(wnp.astype(_call(wnp, name, x, kw), np.float64) * w)

    # (a float32 result's derivative is its float64 twin's, to float32 precision)
    kw64 = {k: v for k, v in kw.items() if k != "dtype"}
    expected = fd_grad(lambda x: float(np.sum(_call(np, name, x, kw64) * w)), X)
    tol = 1e-5 if kw.get("dtype") == np.float32 else 1e-6
    np.testing.assert_allclose(wg.grad(f)(X), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(wg.jit(wg.grad(f))(X), expected, rtol=tol, atol=tol)
    v = np.random.default_rng(1).standard_normal(X.shape)
    np.testing.assert_allclose(wg.jvp(f, (X,), (v,))[1], np.sum(expected * v), rtol=tol, atol=tol)
    # and through NumPy's own dispatch
    np.testing.assert_allclose(wg.grad(lambda x: np.sum(_call(np, name, x, kw) * w))(X), expected,
                               rtol=tol, atol=tol)


def test_masked_reductions_under_vmap():
    m = np.array([True, False, True, True])
    for name, kw in [("sum", dict(where=m, initial=1.0)), ("max", dict(where=m, initial=-9.0)),
                     ("mean", dict(where=m)), ("var", dict(where=m, correction=1))]:
        got = wg.vmap(lambda r: _call(wnp, name, r, kw))(X)
        np.testing.assert_allclose(got, [_call(np, name, r, kw) for r in X], rtol=1e-12)


def test_refusals_name_the_function_and_the_fix():
    g = wg.grad
    with pytest.raises(ValueError, match="specify 'initial'"):
        g(lambda x: wnp.sum(wnp.max(x, where=M)))(X)
    with pytest.raises(ValueError, match="ddof and correction"):
        g(lambda x: wnp.sum(wnp.std(x, ddof=1, correction=1)))(X)
    with pytest.raises(TypeError, match=r"wnp\.sum\(\.\.\., out=\.\.\.\).*functional form"):
        g(lambda x: wnp.sum(x, out=np.empty(())))(X)
    with pytest.raises(TypeError, match="boolean mask"):
        g(lambda x: wnp.sum(x, where=np.ones(X.shape)))(X)
    with pytest.raises(TypeError, match=r"wnp\.nanvar: where= and mean="):
        g(lambda x: wnp.sum(wnp.nanvar(x, where=M)))(X)
    with pytest.raises(TypeError, match=r"wnp\.quantile\(\.\.\., weights="):
        g(lambda x: wnp.sum(wnp.quantile(x, 0.5, weights=np.ones(X.shape), method="inverted_cdf")))(X)
    with pytest.raises(TypeError, match=r"wnp\.clip: .*'casting'"):
        g(lambda x: wnp.sum(wnp.clip(x, 0, 1, casting="unsafe")))(X)
    with pytest.raises(TypeError, match=r"wnp\.einsum: cannot cast .* 'safe'"):
        g(lambda x: wnp.sum(wnp.einsum("ij->", x, dtype=np.float32)))(X)
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'bogus'"):
        wnp.sum(X, bogus=1)
    with pytest.raises(ValueError, match="unsupported keyword arguments for mode 'constant'"):
        g(lambda x: wnp.sum(wnp.pad(x, 1, end_values=2.0)))(X)


# Functions with NumPy's out=: written into on concrete values, refused on traced ones
OUT_CASES = [
    (wnp, "sum", (X,), {}), (wnp, "prod", (X,), {"axis": 0}), (wnp, "mean", (X,), {"axis": 1}),
    (wnp, "max", (X,), {}), (wnp, "min", (X,), {"axis": 0}), (wnp, "var", (X,), {}), (wnp, "std", (X,), {}),
    (wnp, "cumsum", (X,), {"axis": 1}), (wnp, "cumprod", (X,), {"axis": 0}), (wnp, "argmax", (X,), {"axis": 0}),
    (wnp, "argmin", (X,), {}), (wnp, "dot", (X, X.T), {}), (wnp, "outer", (X[0], X[1]), {}),
    (wnp, "trace", (X,), {}), (wnp, "clip", (X, 0.0, 1.0), {}), (wnp, "concatenate", ([X, X],), {}),
    (wnp, "stack", ([X, X],), {}), (wnp, "einsum", ("ij->j", X), {}), (wnp, "nansum", (X,), {}),
    (wnp, "nanmean", (X,), {"axis": 0}), (wnp, "nanstd", (X,), {}), (wnp, "nanmax", (X,), {}),
    (wnp, "nancumsum", (X,), {"axis": 1}), (wnp, "median", (X,), {"axis": 0}),
    (wnp, "quantile", (X, 0.3), {}), (wnp, "percentile", (X, 30.0), {"axis": 1}),
    (wnp, "choose", (np.array([0, 1, 0, 1]), [X[0], X[1]]), {}),
    (wnp.linalg, "multi_dot", ([X, X.T, X],), {}), (wnp.fft, "fft", (X,), {}), (wnp.fft, "rfft2", (X,), {}),
]


@pytest.mark.parametrize("mod,name,args,kw", OUT_CASES, ids=[c[1] for c in OUT_CASES])
def test_out_is_written_or_refused(mod, name, args, kw):
    f = getattr(mod, name)
    npmod = {wnp: np, wnp.linalg: np.linalg, wnp.fft: np.fft}[mod]
    ref = getattr(npmod, name)(*args, **kw)
    out = np.empty(np.shape(ref), np.asarray(ref).dtype)
    r = f(*args, out=out, **kw)
    assert r is out
    np.testing.assert_allclose(out, ref)
    # traced: the first array argument is the one differentiated
    i = next(k for k, a in enumerate(args) if isinstance(a, list) or getattr(a, "dtype", np.dtype(int)).kind == "f")

    def traced(x):
        a = list(args)
        a[i] = [x] + list(args[i][1:]) if isinstance(args[i], list) else x
        return f(*a, out=np.empty(np.shape(ref), np.asarray(ref).dtype), **kw)

    x0 = args[i][0] if isinstance(args[i], list) else args[i]
    with pytest.raises(TypeError, match=rf"{name}\(\.\.\., out=\.\.\.\)"):
        wg.jit(traced)(x0)


def test_dtype_keyword_of_the_like_functions():
    t = wg.tensor(X)
    for fn in (wnp.zeros_like, wnp.ones_like, wnp.empty_like):
        assert fn(t, dtype=np.float32).dtype == np.float32
        assert fn(X, dtype=np.dtype(np.float32)).dtype == np.float32
    assert wnp.full_like(t, 2.0, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="device="):
        wnp.zeros_like(t, device="gpu")


def test_pad_odd_reflection_is_right():
    x = np.array([1.0, 2.0, 5.0, 3.0])
    for mode in ("reflect", "symmetric"):
        for w in (2, (1, 3)):
            def f(z, mode=mode, w=w):
                return wnp.pad(z, w, mode=mode, reflect_type="odd")
            ref = np.pad(x, w, mode=mode, reflect_type="odd")
            np.testing.assert_allclose(wg.jit(f)(x), ref)
            np.testing.assert_allclose(wg.jacrev(f)(x), wg.jacfwd(f)(x))
            np.testing.assert_allclose(
                wg.jacfwd(f)(x), np.stack([np.pad(e, w, mode=mode, reflect_type="odd") - np.pad(
                    np.zeros(4), w, mode=mode, reflect_type="odd") for e in np.eye(4)], axis=1), atol=1e-12)
    with pytest.raises(NotImplementedError, match="reflect_type='odd'"):
        wg.jit(lambda z: wnp.pad(z, 6, mode="reflect", reflect_type="odd"))(x)
