"""The checks of the arrays ``minimize``, ``minimize_batch`` and ``multistart`` are given: the
start point(s), the bounds, the per-problem data and the callback. Each returns what the loops
use (copies: the caller's arrays are never modified) or raises a ``ValueError``/``TypeError``
naming the argument."""

from __future__ import annotations

import inspect

import numpy as np
from scipy.optimize import Bounds

__all__ = ["batch_bounds", "batch_points", "batch_rows", "bounds_arrays", "callback_caller",
           "check_box", "initial_point", "multistart_box"]


def initial_point(x0):
    """A float copy of ``x0`` (float32 stays float32, everything else becomes float64); a
    scalar becomes a vector of one, as SciPy's ``atleast_1d``."""
    array = np.atleast_1d(np.asarray(x0))
    if array.dtype.kind not in "biuf" or array.dtype == bool:
        raise TypeError(f"x0 must be an array of real numbers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"'x0' must only have one dimension; got shape {array.shape}")
    if array.size == 0:
        raise ValueError("x0 must not be empty")
    # float32 in either byte order stays float32
    dtype = np.float32 if array.dtype.kind == "f" and array.dtype.itemsize == 4 else np.float64
    x = np.array(array, dtype=dtype)  # always a copy: the caller's x0 is never modified
    if not np.isfinite(x).all():
        raise ValueError("x0 must be finite; it holds NaN or inf")
    return x


def bounds_arrays(bounds, n, dtype):
    """``(lower, upper)`` arrays from a :class:`scipy.optimize.Bounds` or ``(lo, hi)`` pairs."""
    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        lower, upper = bounds.lb, bounds.ub
        if np.ndim(lower) > 1 or np.ndim(upper) > 1 or np.size(lower) not in (1, n) or (
                np.size(upper) not in (1, n)):
            raise ValueError("The number of bounds is not compatible with the length of `x0`.")
    else:
        try:
            pairs = [tuple(pair) for pair in bounds]
        except TypeError:
            raise TypeError(f"bounds must be a scipy.optimize.Bounds or a sequence of (lo, hi) "
                            f"pairs, got {bounds!r:.80}") from None
        if len(pairs) != n:
            raise ValueError("The number of bounds is not compatible with the length of `x0`.")
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"bounds must be (lo, hi) pairs, got {bounds!r:.80}")
        lower = [-np.inf if lo is None else lo for lo, _ in pairs]
        upper = [np.inf if hi is None else hi for _, hi in pairs]
    try:
        exact_lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,))
        exact_upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,))
    except (TypeError, ValueError):
        raise TypeError(f"bounds must hold real numbers (or None), got {bounds!r:.80}") from None
    check_box(exact_lower, exact_upper)
    # rounded inward in float32, so that no point the box allows lies outside the given one
    lower, upper = exact_lower.astype(dtype), exact_upper.astype(dtype)
    lower = np.where(lower < exact_lower, np.nextafter(lower, dtype.type(np.inf)), lower)
    upper = np.where(upper > exact_upper, np.nextafter(upper, dtype.type(-np.inf)), upper)
    if (lower > upper).any():
        raise ValueError(f"bounds: no {dtype.name} value lies between the lower and the upper "
                         f"bound of variable {int(np.argmax(lower > upper))}")
    return lower, upper


def check_box(lower, upper):
    """Bounds that a box can be made of (``minimize``'s and ``minimize_batch``'s): no NaN,
    ``lower <= upper``, and room for finite values."""
    if np.isnan(lower).any() or np.isnan(upper).any():
        raise ValueError("bounds must not hold NaN")
    if (lower > upper).any():  # SciPy's own message (scipy.optimize.minimize)
        raise ValueError("An upper bound is less than the corresponding lower bound.")
    if (lower == np.inf).any() or (upper == -np.inf).any():
        raise ValueError("bounds must leave room for finite values: a lower bound of +inf or "
                         "an upper bound of -inf allows none")


def callback_caller(callback):
    """``call(result)`` for either SciPy callback protocol, detected as SciPy detects it."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    try:
        parameters = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        parameters = set()
    if parameters == {"intermediate_result"}:
        return lambda result: callback(intermediate_result=result)
    return lambda result: callback(np.copy(result.x))


def batch_points(x0):
    X = np.asarray(x0)
    if X.dtype.kind not in "biuf" or X.dtype == bool:
        raise TypeError(f"x0 must be an array of real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"x0 must be 2-D, shape (B, n): one row per problem; got shape "
                         f"{X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"x0 must hold at least one problem and one variable; got shape "
                         f"{X.shape}")
    X = np.array(X, dtype=np.float64)  # a copy: the caller's x0 is never modified
    if not np.isfinite(X).all():
        raise ValueError("x0 must be finite; it holds NaN or inf")
    return X


def batch_rows(batch_args, B):
    if isinstance(batch_args, list):  # a list of arrays, as a tuple (not stacked into one)
        batch_args = tuple(batch_args)
    if not isinstance(batch_args, tuple):
        batch_args = (batch_args,)
    arrays = []
    for index, array in enumerate(batch_args):
        try:
            array = np.ascontiguousarray(array)
        except (TypeError, ValueError) as error:  # ragged rows, say
            raise ValueError(f"batch_args[{index}] must be an array (one row per problem); "
                             f"NumPy could not make one of it: {error}") from None
        if array.dtype.kind == "O":  # nothing the loops or Numba can index as numbers
            raise TypeError(f"batch_args[{index}] must be an array of numbers, got dtype "
                            f"object")
        if not array.dtype.isnative:  # the other byte order: Numba reads only the native one
            array = array.astype(array.dtype.newbyteorder("="))
        if array.ndim == 0 or array.shape[0] != B:
            raise ValueError(f"batch_args[{index}] must have first axis B = {B} (one row per "
                             f"problem); got shape {array.shape}")
        arrays.append(array)
    return tuple(arrays)


def batch_bounds(bounds, B, n):
    """``(lower, upper)`` of shape (B, n), or None."""
    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        lower, upper = np.asarray(bounds.lb, float), np.asarray(bounds.ub, float)
    elif isinstance(bounds, tuple) and len(bounds) == 2 and np.ndim(bounds[0]) == 2:
        lower, upper = np.asarray(bounds[0], float), np.asarray(bounds[1], float)
    else:
        pairs = list(bounds)
        if len(pairs) != n:
            raise ValueError(f"bounds must hold one (lo, hi) pair per variable, a Bounds, or "
                             f"a pair of (B, n) arrays: got {len(pairs)} pairs for {n} "
                             f"variables")
        lower = np.array([-np.inf if lo is None else lo for lo, _ in pairs], float)
        upper = np.array([np.inf if hi is None else hi for _, hi in pairs], float)
    for name, array in (("lower", lower), ("upper", upper)):
        if array.shape not in ((), (1,), (n,), (B, n)):
            raise ValueError(f"{name} bounds must have shape (n,) = ({n},) shared by all "
                             f"problems or (B, n) = ({B}, {n}) per problem; got {array.shape}")
    # always a writable copy of their own: one array type for the compiled run whatever the
    # user passed (a read-only view would compile the run a second time), and the user's
    # arrays never aliased
    lower = np.array(np.broadcast_to(lower, (B, n)), order="C")
    upper = np.array(np.broadcast_to(upper, (B, n)), order="C")
    check_box(lower, upper)
    return lower, upper


def multistart_box(bounds):
    """``(lower, upper)`` of the box ``multistart`` draws its starts in: finite, non-empty,
    ``lower < upper`` in every variable."""
    try:
        if isinstance(bounds, Bounds):
            lower = np.atleast_1d(np.asarray(bounds.lb, dtype=float))
            upper = np.atleast_1d(np.asarray(bounds.ub, dtype=float))
        else:
            pairs = np.asarray(bounds, dtype=float)
            if pairs.ndim != 2 or pairs.shape[1] != 2:
                pairs = None
            else:
                lower, upper = pairs[:, 0], pairs[:, 1]
    except (TypeError, ValueError):  # text, objects, ragged pairs: not a box
        raise TypeError(f"bounds must be a Bounds or a sequence of (lo, hi) pairs of real "
                        f"numbers, got {bounds!r:.80}") from None
    if not isinstance(bounds, Bounds) and pairs is None:
        raise ValueError(f"bounds must be a Bounds or a sequence of (lo, hi) pairs; got shape "
                         f"{np.shape(bounds)}")
    if lower.ndim != 1 or lower.shape != upper.shape or lower.size == 0:
        raise ValueError(f"bounds must hold one (lo, hi) pair per variable, at least one; got "
                         f"lower bounds of shape {lower.shape} and upper of {upper.shape}")
    if not (np.isfinite(lower).all() and np.isfinite(upper).all() and (lower < upper).all()):
        raise ValueError("bounds must form a finite box with lower < upper in every variable "
                         "(multistart draws its starts in it)")
    return lower, upper
