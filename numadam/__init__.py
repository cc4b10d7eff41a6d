"""numadam: Numba-accelerated first-order optimizers for NumPy and SciPy users.

Stateful optimizers on one flat parameter vector, shaped like ``torch.optim``::

    >>> import numpy as np, numadam
    >>> x = np.array([1.0, -1.0])
    >>> opt = numadam.Adam(x, lr=1e-2)
    >>> opt.step(2 * x)        # updates x in place

and a SciPy-style front end, ``numadam.minimize(fun, x0, method="adam")``, whose methods also
plug into ``scipy.optimize.minimize(fun, x0, method=numadam.adam)``.

Every rule lives in one module of :mod:`numadam.rules`, whose registry lists the optimizer
classes and methods exported here; their NumPy ground truth is :mod:`numadam._reference`.
"""

from numadam import optimizers
from numadam._batch import minimize_batch
from numadam._minimize import minimize
from numadam._multistart import multistart
from numadam._options import show_options
from numadam.backends import NonFiniteGradientError
from numadam.optimizers import Optimizer, RMSprop
from numadam.scipy_methods import (
    adadelta,
    adagrad,
    adam,
    adamax,
    adamw,
    amsgrad,
    lion,
    momentum,
    nadam,
    nesterov,
    radam,
    rmsprop,
    rprop,
    schedulefree_adamw,
    sgd,
)

__version__ = "0.1.0"

# One optimizer class per registry entry.
globals().update(optimizers.CLASSES)

__all__ = [
    "Optimizer", "NonFiniteGradientError", "RMSprop", "minimize", "show_options",
    "minimize_batch", "multistart",
    *optimizers.CLASSES,
    "adadelta", "adagrad", "adam", "adamax", "adamw", "amsgrad", "lion", "momentum", "nadam",
    "nesterov", "radam", "rmsprop", "rprop", "schedulefree_adamw", "sgd",
]
