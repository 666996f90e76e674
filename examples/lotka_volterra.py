"""Fit the four parameters of a Lotka–Volterra predator–prey model to noisy
observations, differentiating through ``wg.odeint`` by the continuous adjoint.

    x' = α x - β x y        (prey)
    y' = δ x y - γ y        (predators)

Synthetic data come from known parameters plus noise; the fit starts from a
guess and runs Adam on the log-parameters (so they stay positive) with the
gradient of the mean squared error.  It prints the loss as it goes, the
recovered parameters next to the true ones, and checks one gradient against
the other route (through the solver's steps) and finite differences.

    python examples/lotka_volterra.py          # about a minute of CPU time
    python examples/lotka_volterra.py --quick  # a few steps
"""

from __future__ import annotations

import sys

import numpy as np

import wengert as wg
import wengert.numpy as wnp
from wengert import numeric, optim

TRUE = np.array([1.0, 0.5, 1.0, 0.3])          # alpha, beta, gamma, delta
U0 = np.array([2.0, 1.0])
TS = np.linspace(0.0, 8.0, 25)


def lotka_volterra(u, t, theta):
    a, b, c, d = theta[0], theta[1], theta[2], theta[3]
    return wnp.stack([a * u[0] - b * u[0] * u[1], d * u[0] * u[1] - c * u[1]])


def make_data(seed: int = 0, noise: float = 0.05):
    rng = np.random.default_rng(seed)
    clean = wg.odeint(lotka_volterra, U0, TS, TRUE, rtol=1e-9, atol=1e-11)
    return clean + noise * rng.standard_normal(clean.shape)


def loss(log_theta, data, adjoint=True):
    pred = wg.odeint(lotka_volterra, U0, TS, wnp.exp(log_theta), adjoint=adjoint, rtol=1e-7, atol=1e-9)
    return wnp.mean((pred - data) ** 2)


def fit(data, steps: int = 80, lr: float = 0.05, verbose: bool = True):
    log_theta = np.log(np.array([0.7, 0.7, 1.3, 0.2]))
    opt = optim.Adam(lr=lr)
    state = opt.init(log_theta)
    value_and_grad = wg.value_and_grad(loss)
    for k in range(steps):
        value, g = value_and_grad(log_theta, data)
        log_theta, state = opt.update(g, state, log_theta)
        if verbose and (k % 25 == 0 or k == steps - 1):
            print(f"step {k:4d}  loss {float(value):.5f}  theta {np.round(np.exp(log_theta), 3)}")
    return np.exp(log_theta), float(loss(log_theta, data))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    data = make_data()

    # one gradient, three ways: adjoint, through the steps, finite differences
    p = np.log(np.array([0.9, 0.45, 1.1, 0.35]))
    g_adj = wg.grad(loss)(p, data)
    g_steps = wg.grad(lambda p: loss(p, data, adjoint=False))(p)
    g_fd = numeric.grad(lambda p: loss(p, data, adjoint=False), p)
    print("gradient (adjoint)       ", g_adj)
    print("gradient (through steps) ", g_steps)
    print("gradient (finite diff.)  ", g_fd)

    theta, final = fit(data, steps=10 if quick else 80)
    print("\nrecovered:", np.round(theta, 3), " true:", TRUE, f" final loss {final:.5f}")
    return theta, final


if __name__ == "__main__":
    main()
