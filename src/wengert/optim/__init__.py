"""``wengert.optim``: optimizers and learning-rate schedules.

Every optimizer works two ways.  Functional, on pytrees of arrays (pure)::

    opt = optim.Adam(lr=1e-2)
    state = opt.init(params)
    params, state = opt.update(grads, state, params)

and PyTorch style, on ``wg.Tensor`` parameters updated in place::

    opt = optim.Adam(model.parameters(), lr=1e-2)
    opt.zero_grad(); loss.backward(); opt.step()

``lr`` is a float or a schedule (``optim.cosine_decay(...)``, any callable
``step -> lr``).

>>> import numpy as np
>>> import wengert as wg
>>> from wengert import optim
>>> f = lambda p: (p["x"] - 3.0) ** 2
>>> opt = optim.Adam(lr=optim.cosine_decay(0.5, total_steps=200))
>>> params = {"x": np.array(0.0)}; state = opt.init(params)
>>> for _ in range(200):
...     params, state = opt.update(wg.grad(f)(params), state, params)
>>> round(float(params["x"]), 3)
3.0
"""

from ._optimizers import SGD, Adagrad, Adam, AdamW, Momentum, Optimizer, RMSprop
from ._utils import clip_grad_norm, global_norm
from .schedules import (
    Schedule,
    as_schedule,
    constant,
    cosine_decay,
    exponential_decay,
    linear_warmup,
    step_decay,
    warmup_cosine,
)

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Schedule", "as_schedule",
           "constant", "step_decay", "exponential_decay", "cosine_decay", "linear_warmup",
           "warmup_cosine", "clip_grad_norm", "global_norm"]
