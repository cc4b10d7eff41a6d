"""Where an optimizer's arrays live and which compiled loop updates them: the CPU backend here,
the CUDA one in :mod:`numadam.cuda` (imported only when a GPU array arrives).

A backend checks the parameter vector and each gradient, allocates and copies state vectors, and
hands out the compiled update of a rule for a vector of a given size. The optimizers talk to a
backend through these methods only, so an optimizer does the same thing on either.
"""

from __future__ import annotations

import numpy as np

from numadam import _validation as check
from numadam import kernels


class NonFiniteGradientError(ValueError):
    """A gradient held NaN or infinite entries; the message says what was changed.

    Raised for entries that were skipped (``check_finite=True``; on the GPU for earlier steps,
    see ``Optimizer.synchronize``), it has a ``counts`` attribute: ``{step: number of entries
    skipped}``.
    """

    @classmethod
    def unchanged(cls, count):
        """The error of ``check_finite="before"``: nothing was changed."""
        return cls(f"grad contains {count} non-finite value(s) (NaN or inf); the step was not "
                   f"taken and the parameters and the optimizer state are unchanged")

    @classmethod
    def skipped(cls, count, step):
        """The error of ``check_finite=True``: the bad entries were skipped, the rest stepped."""
        error = cls(f"grad contains {count} non-finite value(s) (NaN or inf): those entries "
                    f"of the parameters and of the optimizer state were left unchanged, all "
                    f"other entries took step {step}; use check_finite='before' to have a bad "
                    f"gradient change nothing")
        error.counts = {step: count}
        return error

    @classmethod
    def late(cls, counts, step=None):
        """The error of ``check_finite=True`` on the GPU, where a step's count reaches the host
        after the step: ``counts`` is ``[(step, count)]`` of earlier steps; ``step`` the step
        that found them, which was taken (``None`` for ``synchronize()``)."""
        total = sum(count for _, count in counts)
        steps = ", ".join(f"{count} at step {at}" for at, count in counts)
        found = ("found after the step ran, by synchronize()" if step is None else
                 f"found after the step ran, by step {step}, which was taken")
        error = cls(f"grad contained {total} non-finite value(s) (NaN or inf) ({steps}): those "
                    f"entries of the parameters and of the optimizer state were left unchanged, "
                    f"all other entries took their step; on the GPU the count is {found}; use "
                    f"check_finite='before' to have a bad gradient change nothing")
        error.counts = dict(counts)
        return error


class CPUBackend:
    """NumPy arrays, updated by the Numba loops of :mod:`numadam.kernels`."""

    device = "cpu"

    @staticmethod
    def parameter_vector(name, value):
        return check.parameter_vector(name, value)

    @staticmethod
    def check_grad(grad, param):
        """``grad`` as a C-contiguous vector like ``param`` that does not overlap it, or raise.
        (``Optimizer.step`` lets the common case through before calling this.)"""
        if not isinstance(grad, np.ndarray):
            raise TypeError(
                f"grad must be a NumPy array like the parameters, got {check.describe_array(grad)}"
            )
        if grad.dtype != param.dtype:
            raise TypeError(
                f"grad has dtype {grad.dtype}, the parameters have {param.dtype}: they must match "
                f"(no silent conversion); convert with grad.astype(np.{param.dtype})"
            )
        if grad.shape != param.shape:
            raise ValueError(
                f"grad has shape {grad.shape}, the parameters have shape {param.shape}"
            )
        if not grad.flags.c_contiguous or np.may_share_memory(grad, param):
            grad = np.array(grad)  # a strided view, or a gradient that overlaps the parameters
        return grad

    @staticmethod
    def full(n, value, dtype):
        return np.full(n, value, dtype)

    @staticmethod
    def copy(vector):
        return vector.copy()

    @staticmethod
    def to_host(vector):
        return vector.copy()

    @staticmethod
    def copy_in(vector, host_values):
        np.copyto(vector, host_values)

    @staticmethod
    def fill(vector, value):
        """Set every element of ``vector`` (a view, maybe) to ``value``."""
        vector[...] = value

    @staticmethod
    def gather(vector, runs, out):
        """Copy the elements of ``vector``'s ``runs`` (``(start, stop)`` pairs), in order, into
        the contiguous ``out``."""
        position = 0
        for start, stop in runs:
            out[position:position + stop - start] = vector[start:stop]
            position += stop - start

    @staticmethod
    def scatter(values, runs, vector):
        """The inverse of :meth:`gather`: ``values`` back into ``vector``'s ``runs``."""
        position = 0
        for start, stop in runs:
            vector[start:stop] = values[position:position + stop - start]
            position += stop - start

    @staticmethod
    def update(rule, n, checked, reports=None, threads=True):
        """The compiled update of ``rule`` for ``n`` elements, called as
        ``f(param, grad, state0, state1, state2, c, s)``; it returns the number of non-finite
        gradient entries it skipped when ``checked``. (A backend whose counts reach the host
        later, the GPU's, returns 0 and hands them to ``reports``.) ``threads=False``: on one
        thread whatever ``n``."""
        return kernels.for_rule(rule.element).choose(n, checked, threads)

    @staticmethod
    def reduction(rule, n, checked, threads=True):
        """The two passes of ``rule``, which has a reduction stage, for ``n`` elements:
        ``(reduce, update, update_unchecked)``, called with the loops' arguments and four
        state slots (see :class:`numadam.kernels.ReductionLoops`). ``update_unchecked`` is for
        a step whose first pass skipped nothing: it does not read the gradient a second time
        only to test it."""
        loops = kernels.for_reduction(rule.reduction.element, rule.element, checked)
        reduce, update = loops.choose(n, threads)
        unchecked = kernels.for_reduction(rule.reduction.element, rule.element, False)
        return reduce, update, unchecked.choose(n, threads)[1]

    @staticmethod
    def nonfinite_reports():
        """Where counts of skipped entries wait for the host: none here (known at once)."""
        return None

    @staticmethod
    def count_nonfinite(grad, threads=True):
        if threads and grad.shape[0] >= kernels.PARALLEL_THRESHOLD:
            return kernels.count_nonfinite_parallel(grad)
        return kernels.count_nonfinite(grad)


CPU = CPUBackend()


def _is_gpu_array(value):
    """A Numba device array or an object exposing ``__cuda_array_interface__`` (CuPy, PyTorch
    CUDA tensors); :func:`numadam.cuda.is_device_array` without importing numba.cuda."""
    if getattr(type(value), "__cuda_ndarray__", False):
        return True
    try:
        return hasattr(value, "__cuda_array_interface__")
    except RuntimeError:  # torch's CUDA tensor that requires grad (see numadam.cuda)
        return True


def backend_for(params):
    """The CPU backend for a NumPy array (or anything not on a GPU), the CUDA one for a GPU
    array."""
    if isinstance(params, np.ndarray) or not _is_gpu_array(params):
        return CPU
    from numadam import cuda

    return cuda.BACKEND
