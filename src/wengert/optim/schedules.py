"""Learning-rate schedules: callables ``schedule(step) -> lr``, ``step`` counting
updates from 0.  Every optimizer takes a float or a schedule as ``lr``.

A schedule called with a traced step (the optimizer's count inside
``wg.jit``) returns a traced learning rate, computed with the same
``wengert.numpy`` operations as the eager float, so a jitted training step
follows the schedule without recompiling.

>>> s = warmup_cosine(1.0, warmup_steps=2, total_steps=6)
>>> [round(s(t), 3) for t in range(7)]
[0.0, 0.5, 1.0, 0.854, 0.5, 0.146, 0.0]
"""

from __future__ import annotations

import math

from .. import numpy as wnp
from .._core import Tracer

__all__ = ["Schedule", "constant", "step_decay", "exponential_decay", "cosine_decay",
           "warmup_cosine", "linear_warmup", "as_schedule"]


class Schedule:
    """A named learning-rate schedule: ``fn(step) -> lr`` with a readable repr."""

    def __init__(self, fn, description: str):
        self.fn = fn
        self.description = description

    def __call__(self, step: int) -> float:
        if isinstance(step, Tracer):  # inside jit: a traced learning rate
            return self.fn(step)
        return float(self.fn(int(step)))

    def __repr__(self) -> str:
        return self.description


def _check(name, **kw):
    for k, v in kw.items():
        if v is None or v < 0 or (k.endswith("steps") and k != "warmup_steps" and v <= 0):
            raise ValueError(f"{name}: {k} must be {'positive' if k.endswith('steps') else 'non-negative'}, "
                             f"got {v!r}")


def constant(lr: float) -> Schedule:
    """``lr`` at every step.

    >>> constant(0.1)(1000)
    0.1
    """
    _check("constant", lr=lr)
    return Schedule(lambda t: lr + 0.0 * t, f"constant({lr})")


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr * gamma ** (step // step_size)`` (PyTorch's ``StepLR``).

    >>> s = step_decay(1.0, step_size=10, gamma=0.5)
    >>> s(9), s(10), s(25)
    (1.0, 0.5, 0.25)
    """
    _check("step_decay", lr=lr, step_size_steps=step_size, gamma=gamma)
    return Schedule(lambda t: lr * wnp.power(gamma, t // step_size),
                    f"step_decay({lr}, step_size={step_size}, gamma={gamma})")


def exponential_decay(lr: float, gamma: float) -> Schedule:
    """``lr * gamma ** step`` (PyTorch's ``ExponentialLR``).

    >>> exponential_decay(1.0, 0.5)(3)
    0.125
    """
    _check("exponential_decay", lr=lr, gamma=gamma)
    return Schedule(lambda t: lr * wnp.power(gamma, t), f"exponential_decay({lr}, gamma={gamma})")


def cosine_decay(lr: float, total_steps: int, final_lr: float = 0.0) -> Schedule:
    """Half a cosine from ``lr`` at step 0 to ``final_lr`` at ``total_steps``
    and after (PyTorch's ``CosineAnnealingLR`` with ``T_max = total_steps`` up to
    there; PyTorch's rises again after ``T_max``, this one stays at ``final_lr``).

    >>> s = cosine_decay(1.0, total_steps=4)
    >>> [round(s(t), 3) for t in (0, 2, 4, 9)]
    [1.0, 0.5, 0.0, 0.0]
    """
    _check("cosine_decay", lr=lr, total_steps=total_steps, final_lr=final_lr)

    def fn(t):
        frac = wnp.minimum(t, total_steps) / total_steps
        return final_lr + 0.5 * (lr - final_lr) * (1.0 + wnp.cos(math.pi * frac))
    return Schedule(fn, f"cosine_decay({lr}, total_steps={total_steps}, final_lr={final_lr})")


def linear_warmup(lr: float, warmup_steps: int, init_lr: float = 0.0) -> Schedule:
    """From ``init_lr`` up to ``lr`` linearly over ``warmup_steps``, then ``lr``.

    >>> s = linear_warmup(1.0, 4)
    >>> [s(t) for t in (0, 2, 4, 8)]
    [0.0, 0.5, 1.0, 1.0]
    """
    _check("linear_warmup", lr=lr, warmup_steps=warmup_steps, init_lr=init_lr)

    def fn(t):
        if warmup_steps == 0:
            return lr + 0.0 * t
        return wnp.where(t >= warmup_steps, lr, init_lr + (lr - init_lr) * t / warmup_steps)
    return Schedule(fn, f"linear_warmup({lr}, warmup_steps={warmup_steps}, init_lr={init_lr})")


def warmup_cosine(lr: float, warmup_steps: int, total_steps: int, final_lr: float = 0.0,
                  init_lr: float = 0.0) -> Schedule:
    """Linear warmup from ``init_lr`` to ``lr`` over ``warmup_steps``, then a
    cosine decay to ``final_lr`` at ``total_steps``.

    >>> s = warmup_cosine(0.1, warmup_steps=10, total_steps=110)
    >>> round(s(5), 3), round(s(10), 3), round(s(60), 3), s(500)
    (0.05, 0.1, 0.05, 0.0)
    """
    _check("warmup_cosine", lr=lr, warmup_steps=warmup_steps, total_steps=total_steps,
           final_lr=final_lr, init_lr=init_lr)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_cosine: warmup_steps ({warmup_steps}) must be less than "
                         f"total_steps ({total_steps})")
    warm = linear_warmup(lr, warmup_steps, init_lr)
    decay = cosine_decay(lr, total_steps - warmup_steps, final_lr)
    return Schedule(lambda t: wnp.where(t < warmup_steps, warm.fn(t), decay.fn(wnp.maximum(t - warmup_steps, 0))),
                    f"warmup_cosine({lr}, warmup_steps={warmup_steps}, total_steps={total_steps}, "
                    f"final_lr={final_lr})")


def as_schedule(lr) -> Schedule:
    """A schedule from a float (constant) or a callable ``step -> lr``."""
    if isinstance(lr, Schedule):
        return lr
    if callable(lr):
        return Schedule(lr, getattr(lr, "__name__", repr(lr)))
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise TypeError(f"lr must be a float or a schedule (a callable step -> lr), got "
                        f"{type(lr).__name__}") from None
    return constant(value)
