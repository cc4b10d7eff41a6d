"""numadam: Numba-accelerated first-order optimizers for NumPy and SciPy users.

Stateful optimizers on one flat parameter vector, shaped like ``torch.optim``::

    >>> import numpy as np, numadam
    >>> x = np.array([1.0, -1.0])
    >>> opt = numadam.Adam(x, lr=1e-2)
    >>> opt.step(2 * x)        # updates x in place

and a SciPy-style front end, ``numadam.minimize(fun, x0, method="adam")``, whose methods also
plug into ``scipy.optimize.minimize(fun, x0, method=numadam.adam)``.

Every rule lives in one module of :mod:`numadam.rules`, whose registry lists the optimizer
classes and methods exported here; their NumPy ground truth is :mod:`numadam._reference`. The
classes are written out in ``numadam/_optimizer_classes.py``, generated from the registry by
``python -m numadam._generate_classes``, which also writes their two lists here.
"""

# optimizers before the classes' module, which it imports (callbacks imports no numadam module)
from numadam import callbacks, optimizers, scipy_methods  # noqa: F401
from numadam._batch import minimize_batch
from numadam._minimize import minimize
from numadam._multistart import multistart
from numadam._optimizer_classes import (
    ADOPT,
    ASGD,
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    AdEMAMix,
    DAdaptAdam,
    DoG,
    Lion,
    Momentum,
    NAdam,
    Prodigy,
    RAdam,
    RMSProp,
    Rprop,
    ScheduleFreeAdamW,
)
from numadam._options import show_options
from numadam._tree import ravel, unravel
from numadam.backends import NonFiniteGradientError
from numadam.optimizers import Optimizer, RMSprop
from numadam.scipy_methods import *  # noqa: F403  numadam.adam & co., one per method

__version__ = "0.3.0"  # the one place: pyproject.toml reads it (tool.setuptools.dynamic)

__all__ = [
    "Optimizer", "NonFiniteGradientError", "RMSprop", "minimize", "show_options",
    "minimize_batch", "multistart", "ravel", "unravel", "callbacks",
    # <optimizer classes> written by python -m numadam._generate_classes, as the import
    "Adam", "AdamW", "RMSProp", "SGD", "Momentum", "Adamax", "Adagrad", "Adadelta",
    "ScheduleFreeAdamW", "NAdam", "RAdam", "Rprop", "Lion", "ASGD", "ADOPT", "AdEMAMix", "Prodigy",
    "DAdaptAdam", "DoG", "Adafactor",
    # </optimizer classes>
]
__all__ += scipy_methods.__all__  # numadam.adam & co., SciPy custom methods
