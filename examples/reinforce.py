"""REINFORCE (score-function) gradients of a discrete expectation, checked
against the exact gradient.

Three independent coins z_j ~ Bernoulli(sigmoid(theta_j)) and a reward
f(z) = (z_0 + 2 z_1 - z_2 - 1)².  The expectation E[f] is a finite sum over
the 8 outcomes, so its exact gradient is ``wg.grad`` of that sum; the
estimators ``"score"`` and ``"score+baseline"`` (leave-one-out baseline) of
``wg.expectation_grad`` are compared with it over independent keys: both are
unbiased, the baseline shrinks the spread.

Run: python examples/reinforce.py
"""

from __future__ import annotations

import itertools

import numpy as np

import wengert as wg
import wengert.numpy as wnp
from wengert import random

COEF = np.array([1.0, 2.0, -1.0])


def reward(z):
    """The reward of one outcome z ∈ {0, 1}³ (any array code; it need not be differentiable)."""
    return (wnp.sum(COEF * z) - 1.0) ** 2


def exact_expectation(theta):
    """E[f] as the sum over all outcomes of p(z; theta) f(z): differentiable exactly."""
    p = 1 / (1 + wnp.exp(-theta))
    total = 0.0
    for bits in itertools.product([0.0, 1.0], repeat=3):
        z = np.array(bits)
        total = total + wnp.prod(wnp.where(z > 0, p, 1 - p)) * reward(z)
    return total


def family(theta):
    return random.Bernoulli(logits=theta)


def estimates(theta, estimator, n=200, repeats=50, seed=0):
    """``repeats`` independent gradient estimates of ``n`` samples each."""
    keys = random.split(random.key(seed), repeats)
    return np.stack([wg.expectation_grad(reward, family, theta, estimator, key=k, n=n) for k in keys])


if __name__ == "__main__":
    theta = np.array([0.3, -0.8, 1.2])
    exact = wg.grad(exact_expectation)(theta)
    print("exact gradient        ", np.round(exact, 4))
    for est in ("score", "score+baseline"):
        g = estimates(theta, est)
        se = g.std(0) / np.sqrt(len(g))
        print(f"{est:<22}", np.round(g.mean(0), 4), " spread of one estimate (sd):", np.round(g.std(0), 3))
        assert np.all(np.abs(g.mean(0) - exact) < 5 * se + 1e-9), (est, g.mean(0), exact)
