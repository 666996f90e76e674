"""wnp.linalg hard points: errors under every transformation, degenerate
spectra, conventions (norm at 0, Hermitian derivatives), vmap, JAX cross-checks.
The derivative sweep itself is tests/cases_linalg.py."""

from __future__ import annotations

import numpy as np
import pytest
from _fd import check_grads

import wengert as wg
import wengert.numpy as wnp
from wengert import _prims

LA = wnp.linalg


def _import_all_primitives():
    import wengert._prims_fft  # noqa: F401
    import wengert._prims_linalg  # noqa: F401
    try:
        import wengert.scipy.special  # noqa: F401
    except ImportError:
        pass


def test_every_primitive_has_a_batch_rule():
    _import_all_primitives()
    missing = sorted(n for n, p in _prims.REGISTRY.items() if p.batch is None)
    assert not missing, f"primitives without a vmap batching rule: {missing}"


def test_linalg_primitives_are_registered():
    names = {"linalg_inv", "linalg_solve", "linalg_det", "linalg_cofactor", "linalg_slogdet",
             "linalg_cholesky", "linalg_eigh", "linalg_svd", "linalg_qr", "linalg_pinv"}
    assert names <= set(_prims.REGISTRY)


# --- errors --------------------------------------------------------------------

SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


@pytest.mark.parametrize("how", ["plain", "grad", "jvp", "vjp", "vmap", "jacfwd", "jacrev"])
def test_singular_inv_raises_linalgerror_under_every_transformation(how):
    f = lambda a: wnp.sum(LA.inv(a))
    with pytest.raises(np.linalg.LinAlgError):
        if how == "plain":
            f(SINGULAR)
        elif how == "grad":
            wg.grad(f)(SINGULAR)
        elif how == "jvp":
            wg.jvp(f, (SINGULAR,), (np.ones((2, 2)),))
        elif how == "vjp":
            wg.vjp(f, SINGULAR)
        elif how == "vmap":
            wg.vmap(LA.inv)(np.stack([np.eye(2), SINGULAR]))
        elif how == "jacfwd":
            wg.jacfwd(LA.inv)(SINGULAR)
        else:
            wg.jacrev(LA.inv)(SINGULAR)


def _cofactors(a):
    """The cofactor matrix by its definition: signed minors."""
    n = a.shape[0]
    c = np.zeros_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, 0), j, 1)
            c[i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if minor.size else 1.0)
    return c


@pytest.mark.parametrize("a", [
    SINGULAR,                                                   # rank 1 of 2
    np.zeros((3, 3)),                                           # rank 0: cofactors 0
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),  # rank 2 of 3
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]),  # rank 1 of 3: cofactors 0
    np.array([[2.0, 1.0j], [1.0j, -0.5]]),                      # complex, det = 0
    np.array([[3.0]]),
], ids=["rank1of2", "zero3", "rank2of3", "rank1of3", "complex", "1x1"])
def test_det_gradient_is_the_cofactor_matrix_also_at_singular_matrices(a):
    want = _cofactors(a)
    tol = dict(rtol=1e-10, atol=1e-12)
    if np.iscomplexobj(a):
        np.testing.assert_allclose(wg.grad(lambda z: LA.det(z), holomorphic=True)(a), want, **tol)
    else:
        np.testing.assert_allclose(wg.grad(LA.det)(a), want, **tol)
        np.testing.assert_allclose(wg.jit(wg.grad(LA.det))(a), want, **tol)
        np.testing.assert_allclose(wg.jacfwd(LA.det)(a), want, **tol)
        np.testing.assert_allclose(wg.vmap(wg.grad(LA.det))(np.stack([a, 2 * a])),
                                   np.stack([want, want * 2 ** (a.shape[0] - 1)]), **tol)


def test_singular_solve_raises_linalgerror():
    with pytest.raises(np.linalg.LinAlgError):
        wg.grad(lambda a: wnp.sum(LA.solve(a, np.ones(2))))(SINGULAR)


@pytest.mark.parametrize("fname", ["det", "inv", "slogdet", "cholesky", "eigh"])
def test_non_square_names_function_and_shape(fname):
    fn = getattr(LA, fname)
    a = np.ones((2, 3))
    for call in (lambda: fn(a), lambda: wg.jacfwd(lambda x: fn(x)[0] if fname in ("slogdet", "eigh")
                                                  else fn(x))(a)):
        with pytest.raises(np.linalg.LinAlgError) as e:
            call()
        assert fname in str(e.value) and "(2, 3)" in str(e.value)


def test_det_of_vector_is_an_error():
    with pytest.raises(np.linalg.LinAlgError, match=r"det.*\(3,\)"):
        wg.grad(LA.det)(np.ones(3))


def test_rejected_dtypes_are_rejected():
    with pytest.raises(TypeError, match="float16"):
        LA.inv(np.eye(2, dtype=np.float16))
    with pytest.raises(TypeError, match="float16"):
        wg.grad(LA.det)(np.eye(2, dtype=np.float16))
    # what NumPy accepts, we accept: integers are converted
    np.testing.assert_allclose(LA.inv(np.eye(2, dtype=int)), np.eye(2))


def test_qr_raw_mode_has_no_derivative():
    with pytest.raises(ValueError, match="raw"):
        wg.jacfwd(lambda a: LA.qr(a, mode="raw")[0])(np.eye(2))


def test_norm_bad_order():
    with pytest.raises(ValueError, match="order"):
        wg.grad(lambda x: LA.norm(x, "fro"))(np.ones(3))
    with pytest.raises(ValueError, match="dimensions"):
        wg.grad(lambda x: LA.norm(x, 2))(np.ones((2, 2, 2)))


# --- degenerate spectra, kinks, conventions ------------------------------------------


@pytest.mark.parametrize("jac", [wg.jacfwd, wg.jacrev])
def test_eigh_degenerate_trace_has_no_nan(jac):
    g = jac(lambda A: wnp.sum(LA.eigh(A)[0]))(np.eye(3))
    np.testing.assert_allclose(g, np.eye(3))
    # a smooth spectral function at a degenerate point: sum(w²) = ||A||_F², gradient 2A
    A = np.diag([2.0, 2.0, 5.0])
    g2 = jac(lambda A: wnp.sum(LA.eigh(A)[0] ** 2))(A)
    np.testing.assert_allclose(g2, 2 * A, atol=1e-12)
    assert np.all(np.isfinite(wg.hessian(lambda A: wnp.sum(LA.eigh(A)[0] ** 2))(A)))


def test_eigh_gradient_reads_one_triangle():
    # NumPy's eigh reads one triangle (UPLO): the other gets derivative 0, and each
    # read off-diagonal entry stands for both (dλ = vᵀ dS v with S built from it)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3))
    A = x + x.T
    v = np.linalg.eigh(A)[1][:, -1]
    vv = np.outer(v, v)
    for uplo, tri in (("L", np.tril), ("U", np.triu)):
        g = wg.grad(lambda A: LA.eigh(A, UPLO=uplo)[0][-1])(A)
        np.testing.assert_allclose(g, tri(2 * vv) - np.diag(np.diag(vv)), atol=1e-12)
        # its symmetric part is the symmetric-matrix gradient vvᵀ
        np.testing.assert_allclose((g + g.T) / 2, vv, atol=1e-12)


def test_eigh_of_a_nonsymmetric_matrix_matches_finite_differences_of_numpy():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3))
    C = A + 1j * rng.standard_normal((3, 3))
    for uplo in ("L", "U"):
        check_grads(lambda a: LA.eigvalsh(a, UPLO=uplo), (A,), order=2, tol=1e-5)
        check_grads(lambda a: LA.eigh(a, UPLO=uplo)[0], (C,), order=2, tol=1e-5)
        check_grads(lambda a: wnp.sum(LA.eigh(a, UPLO=uplo)[1] ** 3), (A,), order=1, tol=1e-5)
        w = np.linspace(1.0, 2.0, 3)
        f = lambda a: wnp.sum(LA.eigvalsh(a, UPLO=uplo) * w)  # noqa: E731
        g = wg.grad(f)(A)
        for got in (wg.jacfwd(f)(A), wg.jit(wg.grad(f))(A), wg.jit(wg.grad(f))(A),
                    wg.vmap(wg.grad(f))(np.stack([A, A]))[1]):
            np.testing.assert_allclose(got, g, atol=1e-12)
        np.testing.assert_array_equal((np.triu if uplo == "L" else np.tril)(g, 1 if uplo == "L" else -1), 0)


def test_svd_singular_values_only():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 3))
    u, s, vh = np.linalg.svd(A, full_matrices=False)
    g = wg.grad(lambda A: wnp.sum(LA.svd(A, compute_uv=False)))(A)
    np.testing.assert_allclose(g, u @ vh, atol=1e-12)  # d Σσ = U Vᵀ
    # degenerate singular values (the identity): still finite, and exact for Σσ
    g_id = wg.grad(lambda A: wnp.sum(LA.svd(A, compute_uv=False)))(np.eye(3))
    np.testing.assert_allclose(g_id, np.eye(3), atol=1e-12)
    g_nuc = wg.grad(lambda A: LA.norm(A, "nuc"))(np.eye(3))
    np.testing.assert_allclose(g_nuc, np.eye(3), atol=1e-12)


@pytest.mark.parametrize("ord_", [None, 2, "fro", 1, np.inf])
def test_norm_at_zero_uses_the_zero_subgradient(ord_):
    x = np.zeros(3) if ord_ != "fro" else np.zeros((2, 2))
    for jac in (wg.jacfwd, wg.jacrev):
        g = jac(lambda x: LA.norm(x, ord_))(x)
        np.testing.assert_array_equal(g, np.zeros_like(x))
    assert float(LA.norm(x, ord_)) == 0.0


def test_norm_away_from_zero_is_x_over_norm():
    x = np.array([3.0, 4.0])
    np.testing.assert_allclose(wg.grad(LA.norm)(x), x / 5.0)


def test_cholesky_derivative_reads_one_triangle():
    # lower=default reads the lower triangle, upper=True the upper one, as NumPy does:
    # derivative 0 on the other triangle, every mode equal to finite differences of NumPy
    A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]])
    B = A + np.triu(np.ones((3, 3)), 1) * 0.3  # not symmetric
    for upper in (False, True):
        np.testing.assert_allclose(wg.jit(lambda a: LA.cholesky(a, upper=upper))(B),
                                   np.linalg.cholesky(B, upper=upper), atol=1e-12)
        g = wg.grad(lambda a: wnp.sum(LA.cholesky(a, upper=upper)))(B)
        np.testing.assert_array_equal(np.triu(g, 1) if not upper else np.tril(g, -1), 0)
        check_grads(lambda a: LA.cholesky(a, upper=upper), (B,), order=2, tol=1e-5)


def test_det_gradient_is_cofactor_matrix():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((2, 3, 3))
    g = wg.grad(lambda A: wnp.sum(LA.det(A)))(A)
    want = np.linalg.det(A)[:, None, None] * np.swapaxes(np.linalg.inv(A), -1, -2)
    np.testing.assert_allclose(g, want, rtol=1e-10)


def test_matrix_power_zero_is_constant_identity():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(wg.jacfwd(lambda a: LA.matrix_power(a, 0))(A), np.zeros((2, 2, 2, 2)))


def test_results_are_numpy_namedtuples_outside_transformations():
    A = np.array([[2.0, 1.0], [1.0, 2.0]])
    w, v = LA.eigh(A)
    assert isinstance(w, np.ndarray) and isinstance(v, np.ndarray)
    r = wg.jvp(lambda a: LA.eigh(a).eigenvalues, (A,), (np.eye(2),))[1]
    np.testing.assert_allclose(r, [1.0, 1.0])


# --- vmap equals a loop --------------------------------------------------------------

_VMAP = {
    "inv": LA.inv, "det": LA.det, "slogdet": lambda a: LA.slogdet(a)[1],
    "solve": lambda a: LA.solve(a, a[0]), "cholesky": lambda a: LA.cholesky(a @ a.T + np.eye(3)),
    "eigh": lambda a: LA.eigh(a + a.T)[0], "svd": lambda a: LA.svd(a)[1],
    "qr": lambda a: LA.qr(a)[1], "pinv": LA.pinv, "norm": lambda a: LA.norm(a, "nuc"),
    "matrix_power": lambda a: LA.matrix_power(a, 3),
}


@pytest.mark.parametrize("name", sorted(_VMAP))
def test_vmap_matches_loop_and_batched_call(name):
    f = _VMAP[name]
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 3, 3)) + 2 * np.eye(3)
    want = np.stack([f(x) for x in X])
    np.testing.assert_allclose(wg.vmap(f)(X), want, rtol=1e-10, atol=1e-12)
    # per-example gradients: vmap of grad equals a loop of grad
    g = lambda x: wnp.sum(wnp.real(f(x)) ** 2)
    np.testing.assert_allclose(wg.vmap(wg.grad(g))(X), np.stack([wg.grad(g)(x) for x in X]),
                               rtol=1e-9, atol=1e-10)


def test_vmap_solve_with_unbatched_matrix():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    B = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(wg.vmap(lambda b: LA.solve(A, b))(B), np.linalg.solve(A, B.T).T)


# --- JAX cross-checks ------------------------------------------------------------------

_JAX = {
    "inv": lambda m, A: m.sum(m.sin(m.linalg.inv(A))),
    "slogdet": lambda m, A: m.linalg.slogdet(A)[1],
    "solve": lambda m, A: m.sum(m.linalg.solve(A, m.cos(A[0]))),
    "eigh": lambda m, A: m.sum(m.linalg.eigh(A @ A.T)[0] ** 3),
    "eigh-vectors": lambda m, A: m.sum(m.linalg.eigh(A + A.T)[1][:, 0] ** 2 * m.arange(3.0)),
    "svd": lambda m, A: m.sum(m.linalg.svd(A, compute_uv=False) ** 1.5),
    "cholesky": lambda m, A: m.sum(m.linalg.cholesky(A @ A.T + m.eye(3)) ** 2),
    "qr": lambda m, A: m.sum(m.linalg.qr(A)[1] ** 2 * m.arange(3.0)),
    "pinv": lambda m, A: m.sum(m.linalg.pinv(A[:, :2]) ** 3),
    "norm2": lambda m, A: m.linalg.norm(A, 2),
}


@pytest.mark.parametrize("name", sorted(_JAX))
def test_against_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    f = _JAX[name]
    A = np.random.default_rng(4).standard_normal((3, 3)) + 2 * np.eye(3)
    ours = wg.grad(lambda a: f(wnp, a))(A)
    theirs = np.asarray(jax.grad(lambda a: f(jax.numpy, a))(A))
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    if name != "slogdet":
        return  # JAX compiles hessians slowly; one suffices (the sweep checks 2nd order vs FD)
    h = wg.hessian(lambda a: f(wnp, a))(A)
    h_ref = np.asarray(jax.hessian(lambda a: f(jax.numpy, a))(A))
    np.testing.assert_allclose(h, h_ref, rtol=1e-6, atol=1e-8)


def test_star_imports_and_dunder_lookups():
    for mod in ("wengert.numpy", "wengert.numpy.linalg", "wengert.numpy.fft", "wengert.scipy.special"):
        ns = {}
        exec(f"from {mod} import *", ns)  # noqa: S102 - `import *` looks up __all__/__path__
    assert "svd" in ns or "logsumexp" in ns
    assert not hasattr(LA, "__path__")
    with pytest.raises(NotImplementedError, match="linalg.tensorinv "):
        LA.tensorinv  # noqa: B018
