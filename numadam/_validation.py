"""Argument checks shared by the front ends: once, at the Python boundary, never in kernels.

Messages follow PyTorch's wording where PyTorch has the same check ("Invalid learning rate: -1"),
so users recognise them, and otherwise name the parameter, what was expected and what was given.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: The floating dtypes every kernel is compiled for.
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def real_scalar(name, value):
    """``value`` as a Python float; TypeError unless it is a real number (bool excluded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range
        raise ValueError(f"{name} is too large for a float: {value!r:.40}") from None


def nonnegative(name, value, label=None):
    """A finite float ``>= 0``; ``label`` is PyTorch's phrase for the parameter in its message."""
    value = real_scalar(name, value)
    if not (0.0 <= value < math.inf):  # written so that NaN fails too
        raise ValueError(f"Invalid {label or name}: {value}")
    return value


def finite_real(name, value):
    """Any finite real number, as a float."""
    value = real_scalar(name, value)
    if not math.isfinite(value):
        raise ValueError(f"Invalid {name} value: {value}")
    return value


def nonnegative_integer(name, value):
    """An integer ``>= 0`` (bool excluded), as an int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"Invalid {name} value: {value}")
    return int(value)


def positive_finite(name, value):
    """A real scalar in (0, inf): a multiplier or an initial estimate."""
    value = real_scalar(name, value)
    if not value > 0.0 or value == math.inf:
        raise ValueError(f"Invalid {name} value: {value}")
    return value


def positive(name, value):
    """A real scalar in (0, inf]: inf means no cap."""
    value = real_scalar(name, value)
    if not value > 0.0:
        raise ValueError(f"Invalid {name} value: {value}")
    return value


def learning_rate(name, value):
    return nonnegative(name, value, "learning rate")


def epsilon(name, value):
    return nonnegative(name, value, "epsilon value")


def weight_decay(name, value):
    return nonnegative(name, value, "weight_decay value")


def momentum(name, value):
    return nonnegative(name, value, "momentum value")


def dampening(name, value):
    value = real_scalar(name, value)
    if not math.isfinite(value):
        raise ValueError(f"Invalid dampening value: {value}")
    return value


def unit_interval(name, value, label=None):
    """A float in ``[0, 1)``, the range of a decay rate such as ``beta1`` or ``alpha``."""
    value = real_scalar(name, value)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"Invalid {label or name}: {value}")
    return value


def alpha(name, value):
    return unit_interval(name, value, "alpha value")


def momentum_decay(name, value):
    return nonnegative(name, value, "momentum_decay value")


def rho(name, value):
    """Adadelta's decay rate: a float in ``[0, 1]`` (1 included, as in PyTorch)."""
    value = real_scalar(name, value)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"Invalid rho value: {value}")
    return value


def lambd(name, value):
    """ASGD's decay term (PyTorch checks nothing; a negative one makes ``eta`` complex)."""
    return nonnegative(name, value, "lambd value")


def lr_decay(name, value):
    return nonnegative(name, value, "lr_decay value")


def initial_accumulator_value(name, value):
    return nonnegative(name, value, "initial_accumulator_value value")


def betas(name, value):
    """A pair ``(beta1, beta2)``, each in ``[0, 1)``, returned as a tuple of floats."""
    try:
        pair = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(
            f"{name} must be a pair (beta1, beta2), got {len(pair)} values: {value!r}")
    return tuple(
        unit_interval(name, beta, f"beta parameter at index {index}")
        for index, beta in enumerate(pair)
    )


def beta_triple(name, value):
    """A triple ``(beta1, beta2, beta3)``, each in ``[0, 1)`` (AdEMAMix's), as floats."""
    try:
        triple = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a triple (beta1, beta2, beta3), got {value!r}") from None
    if len(triple) != 3:
        raise ValueError(f"{name} must be a triple (beta1, beta2, beta3), got {len(triple)} "
                         f"values: {value!r}")
    return tuple(
        unit_interval(name, beta, f"beta parameter at index {index}")
        for index, beta in enumerate(triple)
    )


def real_pair(name, value, description):
    """Two real numbers ``description`` names (``"(etaminus, etaplus)"``), as floats."""
    try:
        pair = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a pair {description}, got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(
            f"{name} must be a pair {description}, got {len(pair)} values: {value!r}")
    return tuple(real_scalar(name, number) for number in pair)


def etas(name, value):
    """Rprop's ``(etaminus, etaplus)`` with ``0 < etaminus < 1 < etaplus``, as in PyTorch."""
    etaminus, etaplus = real_pair(name, value, "(etaminus, etaplus)")
    if not (0.0 < etaminus < 1.0 < etaplus < math.inf):
        raise ValueError(f"Invalid eta values: {etaminus}, {etaplus}")
    return etaminus, etaplus


def step_sizes(name, value):
    """Rprop's ``(min, max)`` step sizes with ``0 <= min <= max`` (min finite, max may be inf).

    PyTorch checks nothing here; NaN or a reversed range would silently clamp every step size
    to ``max``."""
    low, high = real_pair(name, value, "(min, max)")
    if not (0.0 <= low <= high and low < math.inf):
        raise ValueError(f"Invalid step_sizes values: {low}, {high}; expected 0 <= min <= max")
    return low, high


def flag(name, value):
    """A bool; TypeError for anything else, so that ``amsgrad="no"`` is not silently true."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}: {value!r}")
    return bool(value)


def describe_array(value):
    """A short description of ``value`` for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def parameter_vector(name, value):
    """Check the vector an optimizer updates in place: 1-D, writeable, C-contiguous float32/64.

    It is never copied: a copy would leave the caller's array unchanged by ``step``.
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a 1-D NumPy array of float32 or float64, got {describe_array(value)}"
        )
    if value.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {value.dtype}; convert it first, "
            f"e.g. {name} = {name}.astype(np.float64)"
        )
    if value.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one flat parameter vector), got shape {value.shape}; "
            f"numadam.ravel(params) makes one flat vector and views into it"
        )
    if not value.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, so that it can be updated in place")
    if not value.flags.writeable:
        raise ValueError(f"{name} must be writeable: it is updated in place")
    return value
