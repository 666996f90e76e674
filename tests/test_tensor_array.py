"""np.asarray/np.array of a wg.Tensor: values of a Tensor that records
nothing, an error naming the fix for one that requires grad (as in PyTorch),
never a silently dropped graph."""
from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
import wengert.numpy as wnp


def test_requires_grad_tensor_does_not_convert():
    a = wg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 3.0
    for convert in (lambda: np.asarray(a), lambda: np.array([a, b]), lambda: np.asarray(b),
                    lambda: np.array([b.sum(), a.sum()]), lambda: np.asarray(a, dtype=np.float32)):
        with pytest.raises(TypeError, match=r"requires grad.*t\.detach\(\).*wg\.stack"):
            convert()


def test_the_named_fixes_work():
    a = wg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 3.0
    s = wg.stack([a, b])
    wnp.sum(wnp.stack([a, b]) * s).backward()
    np.testing.assert_allclose(a.grad.data, 2 * 1 * np.array([1.0, 2.0]) + 2 * 9 * np.array([1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(a.detach()), [1.0, 2.0])
    # .data and .numpy() keep returning the array (SPEC §8), also with requires_grad
    assert type(a.data) is np.ndarray and type(a.numpy()) is np.ndarray
    np.testing.assert_array_equal(b.numpy(), [3.0, 6.0])


def test_plain_tensors_keep_converting():
    t = wg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0])
    np.testing.assert_array_equal(np.array([t, t]), [[1.0, 2.0], [1.0, 2.0]])
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    c = np.array(t, copy=True)
    c[0] = 9.0
    assert t.data[0] == 1.0  # copy=True copies
    with wg.no_grad():
        y = wg.tensor([1.0], requires_grad=True) * 2.0
    np.testing.assert_array_equal(np.asarray(y), [2.0])  # recorded nothing


def test_traced_tensor_does_not_convert():
    def f(x):
        t = wg.tensor(x)
        return wnp.sum(np.asarray(t))
    with pytest.raises(TypeError, match="traced"):
        wg.grad(f)(np.ones(2))
