"""numadam: Numba-accelerated Adam, AdamW, RMSProp and Momentum/SGD for NumPy and SciPy users.

Stateful optimizers on one flat parameter vector, shaped like ``torch.optim``::

    >>> import numpy as np, numadam
    >>> x = np.array([1.0, -1.0])
    >>> opt = numadam.Adam(x, lr=1e-2)
    >>> opt.step(2 * x)        # updates x in place

The kernels behind them live in :mod:`numadam.kernels`, their NumPy ground truth in
:mod:`numadam._reference`.
"""

from numadam.optimizers import SGD, Adam, AdamW, Momentum, Optimizer, RMSProp, RMSprop

__version__ = "0.1.0"

__all__ = ["Optimizer", "Adam", "AdamW", "RMSProp", "RMSprop", "SGD", "Momentum"]
