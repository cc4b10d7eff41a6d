"""numadam: Numba-accelerated Adam, AdamW, RMSProp and Momentum/SGD for NumPy and SciPy users.

Stateful optimizers on one flat parameter vector, shaped like ``torch.optim``::

    >>> import numpy as np, numadam
    >>> x = np.array([1.0, -1.0])
    >>> opt = numadam.Adam(x, lr=1e-2)
    >>> opt.step(2 * x)        # updates x in place

and a SciPy-style front end, ``numadam.minimize(fun, x0, method="adam")``, whose methods also
plug into ``scipy.optimize.minimize(fun, x0, method=numadam.adam)``.

The kernels behind both live in :mod:`numadam.kernels`, their NumPy ground truth in
:mod:`numadam._reference`.
"""

from numadam._minimize import (
    adam,
    adamw,
    amsgrad,
    minimize,
    momentum,
    nesterov,
    rmsprop,
    sgd,
    show_options,
)
from numadam.optimizers import SGD, Adam, AdamW, Momentum, Optimizer, RMSProp, RMSprop

__version__ = "0.1.0"

__all__ = [
    "Optimizer", "Adam", "AdamW", "RMSProp", "RMSprop", "SGD", "Momentum",
    "minimize", "show_options", "adam", "adamw", "amsgrad", "rmsprop", "momentum", "nesterov",
    "sgd",
]
