"""Gradient utilities on pytrees (and on lists of ``wg.Tensor``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tree_util import tree_leaves, tree_map

__all__ = ["global_norm", "clip_grad_norm"]


def global_norm(tree: Any) -> float:
    """The 2-norm of all leaves of ``tree`` together.

    >>> global_norm({"a": np.array([3.0]), "b": np.array([4.0])})
    5.0
    """
    return float(np.sqrt(sum(float(np.sum(np.square(np.abs(x)))) for x in tree_leaves(tree))))


def clip_grad_norm(grads: Any, max_norm: float) -> tuple[Any, float]:
    """Scale ``grads`` (a pytree) so that their global norm is at most
    ``max_norm``; returns ``(clipped, norm_before)``.  Given a list of
    ``wg.Tensor`` parameters instead, scales their ``.grad`` in place (as
    ``torch.nn.utils.clip_grad_norm_``) and returns ``(params, norm_before)``.

    >>> g, n = clip_grad_norm([np.array([3.0, 4.0])], 1.0)
    >>> g[0], n
    (array([0.6, 0.8]), 5.0)
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm}")
    if isinstance(grads, (list, tuple)) and grads and all(hasattr(t, "requires_grad") for t in grads):
        gs = [t.grad.data for t in grads if t.grad is not None]
        norm = global_norm(gs)
        if norm > max_norm:
            for t in grads:
                if t.grad is not None:
                    t.grad.data[...] = t.grad.data * (max_norm / (norm + 1e-12))
        return grads, norm
    norm = global_norm(grads)
    scale = min(1.0, max_norm / (norm + 1e-12))
    return (tree_map(lambda g: g * scale, grads) if scale < 1.0 else grads), norm
