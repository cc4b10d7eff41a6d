r"""Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor``: its unfactored form on a
vector, its factored form on a parameter group with a shape."""

from __future__ import annotations

import functools
import math
from types import FunctionType

import numpy as np
from numba import prange

from numadam import _validation as check
from numadam.rules._rule import (
    MAXIMIZE,
    Hyperparameter,
    Reduction,
    Rule,
    element,
    lerp,
    maximum,
    nonnegative,
)

DOC = r"""Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor``: unfactored on a
vector, factored on a parameter group with a shape of two or more dimensions.

A second moment with a decay that tends to 1, a step relative to the parameters' scale and an
update clipped by its root mean square. Each step :math:`t`, over the :math:`n` elements:

.. math::
   \begin{aligned}
   &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
     \hat\beta_{2,t} \leftarrow 1 - t^{c}, \quad
     \rho_t \leftarrow \min(\mathrm{lr}, 1/\sqrt{t}) \\
   &\alpha_t \leftarrow \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\, \rho_t, \quad
     \theta \leftarrow \theta_{t-1} (1 - \mathrm{lr}\,\lambda) \\
   &v_t \leftarrow \operatorname{lerp}(v_{t-1}, g_t^2, 1 - \hat\beta_{2,t}), \quad
     u_t \leftarrow \frac{g_t}{\sqrt{\max(v_t, \epsilon_1^2)}} \\
   &\theta_t \leftarrow \theta - \frac{\alpha_t}{\max(1, \mathrm{RMS}(u_t) / d)}\, u_t
   \end{aligned}

with :math:`\mathrm{RMS}(x) = \lVert x \rVert_2 / \sqrt n`, :math:`c` = ``beta2_decay``,
``eps = (eps1, eps2)`` (``eps1=None``: the dtype's machine epsilon) and :math:`\lambda` =
``weight_decay``.

**Factored form.** PyTorch factors the second moment of a parameter of two or more dimensions,
read as a stack of :math:`m \times n` matrices: per matrix, a row variance :math:`r` and a
column variance :math:`k`, lerped as :math:`v` above towards the row and column means of
:math:`g_t^2`, and :math:`v_{ij} = r_i k_j / \max(\operatorname{mean}(r), \epsilon_1)` in
place of :math:`v`. numadam does so for a parameter group with such a shape: a group of one
view, ``Adafactor([{"params": views["W"]}, {"params": views["b"]}])`` (``numadam.ravel``'s
views; PyTorch's root mean squares are per tensor, so a group per tensor matches
``torch.optim.Adafactor([W, b])``), or a range given a shape, ``groups=[{"range": (0, 12),
"shape": (3, 4)}]``. Where :math:`m` or :math:`n` is 1 only the other factor is kept, the one
of length 1 being its mean (equal in exact arithmetic to the variance PyTorch carries for it,
within rounding in floating point).

With a factored group the ``variance`` vector is compact, as PyTorch's state is: each group's
state in group order, a factored group's as its stack's row variances then its column
variances (:math:`m + n` numbers a matrix, where PyTorch keeps as many), any other group's
variance of its elements in their order; elements in no group keep none. (Without one it is
laid out as the parameters, one number each.)

``minimize_batch`` (which takes no shape) and the GPU (which refuses one) step groups
unfactored. The factored steps run on the CPU (chunks of rows on Numba's threads from
``numadam.kernels.PARALLEL_THRESHOLD`` elements a group on, with sums in an order that does
not depend on the threads), in float64, stored in the parameters' dtype.

The two root mean squares are global sums over the vector, so a step is two passes: the
variance and the sums, then the parameters. They are summed in float64 (also for float32
parameters, where PyTorch takes its norms in float32), in blocks of a fixed length and a fixed
order (serial and parallel loops agree bitwise), each term divided by :math:`n` (the sums are
the mean squares).

State vector: ``variance`` (:math:`v`). The optimizer class and every ``minimize`` loop and
``minimize_batch`` (both forms) run it, on the CPU and (the class and ``minimize``) on the GPU;
parameter groups step each group as a separate optimizer on its elements (its own root mean
squares: PyTorch takes them per tensor, so a group per tensor matches it).
"""


def _beta2_decay(name, value):
    value = check.real_scalar(name, value)
    if not value <= 0.0:  # so that NaN fails too
        raise ValueError(f"{name} should be <= 0 but is: {value}")
    return value


def _eps(name, value):
    """``(eps1, eps2)``: eps1 ``None`` (the dtype's epsilon) or ``>= 0``, eps2 ``>= 0``."""
    try:
        eps1, eps2 = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (eps1 or None, eps2), got {value!r}") from None
    if eps1 is not None:
        eps1 = check.nonnegative(name, eps1, "epsilon1 value")
    return (eps1, check.nonnegative(name, eps2, "epsilon2 value"))


def _d(name, value):
    value = check.real_scalar(name, value)
    if not 1.0 <= value < math.inf:
        raise ValueError(f"Clipping threshold {name} should be >= 1 but is: {value}")
    return value


HYPERPARAMETERS = {
    "lr": Hyperparameter(1e-2, check.learning_rate,
                         "caps the relative step size min(lr, 1/sqrt(t))"),
    "beta2_decay": Hyperparameter(-0.8, _beta2_decay,
                                  "the second moment's weight of g^2 at step t is t**beta2_decay"),
    "eps": Hyperparameter((None, 1e-3), _eps,
                          "(eps1, eps2): floors of sqrt(variance) (None: machine epsilon) "
                          "and of the parameters' RMS", annotation="tuple[float | None, float]"),
    "d": Hyperparameter(1.0, _d, "clipping threshold of the update's RMS"),
    "weight_decay": Hyperparameter(0.0, check.weight_decay, "decoupled weight decay (times lr)"),
    "maximize": MAXIMIZE,
}

STATE = ("variance",)

STATE_INVARIANTS = (nonnegative("variance"),)


@element
def _direction(g, v, c):
    """PyTorch's ``rsqrt(clamp(v, min=eps1^2)) * g``: the reciprocal root first, as it does."""
    return (c[1] / math.sqrt(maximum(v, c[2]))) * g


@element
def reduce(i, g, param, variance, unused1, unused2, unused3, c, s):
    """The first pass: the variance updated; returns ``(param^2 / n, u^2 / n)``, ``param``
    before the weight decay, ``u^2`` as ``g^2 / max(v, eps1^2)`` (the square of the update
    pass's ``u`` in exact arithmetic, within an ulp or two in floating point: a square root
    fewer in a pass bound by its arithmetic).

    The terms are scaled by ``1 / n`` here because ``finish`` does not know the vector's
    length: a product by the float64 ``1 / n`` (a float64 term, the dtype the loop sums in
    anyway), which LLVM hoists out of the loop, where a division per term cost more than the
    rest of the pass.
    """
    weight = s[0]
    g = g * c[0]
    v = lerp(variance[i], g * g, weight, c[1] - weight)
    variance[i] = v
    p = param[i]
    scale = np.float64(1.0) / param.shape[0]  # float64 under the CUDA simulator too
    return (p * p) * scale, ((g * g) / maximum(v, c[2])) * scale


@element
def update(i, g, param, variance, unused1, unused2, unused3, c, s):
    """The second pass: the decayed parameters minus the clipped, scaled update."""
    decay, neg_step = s
    g = g * c[0]
    p = param[i]
    if c[3]:  # weight decay
        p = p * decay
    param[i] = p + neg_step * _direction(g, variance[i], c)


def constants(h, to_dtype):
    eps1 = h["eps"][0]
    if eps1 is None:
        eps1 = float(np.finfo(to_dtype).eps)
    return (to_dtype(-1 if h["maximize"] else 1), to_dtype(1), to_dtype(eps1 * eps1),
            h["weight_decay"] != 0)


def step_inputs(h):
    return (h["lr"], h["beta2_decay"], h["eps"][1], h["d"], h["weight_decay"])


def step_scalars(inputs, carry, step):
    """The first pass's lerp weight ``1 - beta2_t = step ** beta2_decay``."""
    return (float(step) ** inputs[1],), carry


def finish(inputs, carry, step, sums):
    """The update pass's ``(1 - lr weight_decay, -alpha / denom)`` from the mean squares
    ``(mean(param^2), mean(u^2))``, with Python's ``min`` and ``max`` as PyTorch's."""
    lr, _, eps2, d, weight_decay = inputs
    rho = min(lr, 1 / (float(step) ** 0.5))
    alpha = max(eps2, math.sqrt(sums[0])) * rho
    denom = max(1.0, math.sqrt(sums[1]) / d)
    return True, (1 - lr * weight_decay, -alpha / denom), carry


# -- the factored form ----------------------------------------------------------------------
#
# PyTorch factors the second moment of a tensor of two or more dimensions, read as a stack of
# (m, n) matrices: a mean of g^2 per row and per column, each lerped as the vector's variance,
# and v_ij = row_i col_j / max(mean(row), eps1) in place of the variance. Its state is m + n
# numbers a matrix, the group's span of the compact ``variance`` vector (every row variance of
# the stack, then every column variance; the optimizer lays the spans out). Where m or n is 1
# only the other factor is kept, and the one of length 1 is its mean (see ``Factored``).
#
# The loops compute in float64 (the parameters' dtype only where they store). Their sums, in
# an order the reference restates: along a row in FACTORED_LANES lanes (lane k adds the terms
# j = k, k + L, ... from 0.0, the row's sum adds its lanes in order from 0.0), so that a row is
# not one chain of dependent additions; down a column, row after row within a chunk of
# FACTORED_CHUNK rows, then the chunks' sums in order; the mean squares of the group, its rows'
# sums in order. An element's reciprocal root is its row's times its
# column's, 1 / sqrt(row_i / den) * 1 / sqrt(col_j), or 1 / eps1 where row_i / den * col_j <
# eps1^2: two multiplications where PyTorch takes a root and two divisions per element, within
# an ulp or two of its.

FACTORED_LANES = 8
#: Rows per chunk: each chunk of rows adds its own column sums (down its rows, in order), and a
#: column's sum adds the chunks' in order, so that chunks run on threads and the sums do not
#: depend on how many there are (serial = threaded, bitwise).
FACTORED_CHUNK = 64


def _denominator(rows, b, eps1):
    """``max(mean(rows[b]), eps1)``: PyTorch's ``row_var.mean(dim=-2).clamp_(min=eps1)``."""
    total = 0.0
    for i in range(rows.shape[1]):
        total += np.float64(rows[b, i])
    return maximum(total / rows.shape[1], eps1)


def _column_roots(cols, b, roots):
    """``roots[j] = 1 / sqrt(cols[b, j])`` in float64."""
    for j in range(cols.shape[1]):
        roots[j] = 1.0 / math.sqrt(np.float64(cols[b, j]))


def _means(source, target):
    """``target[b, 0] = mean(source[b])``, the sum in order from 0.0 in float64."""
    for b in range(source.shape[0]):
        total = 0.0
        for k in range(source.shape[1]):
            total += np.float64(source[b, k])
        target[b, 0] = total / source.shape[1]


def _in_lanes(lanes):
    """The sum of ``lanes`` in order from 0.0."""
    total = 0.0
    for k in range(lanes.shape[0]):
        total += lanes[k]
    return total


@element
def _reciprocal_root(share, root, col, col_root, inverse_eps1, eps1_squared):
    """``rsqrt(clamp(share col, min=eps1^2))`` as ``root col_root`` (``share`` = the row's
    ``row_i / den``, ``root`` its reciprocal root, ``col_root`` the column's); NaN stays
    NaN (the comparison fails, and the product of the roots is NaN)."""
    if share * np.float64(col) < eps1_squared:
        return inverse_eps1
    return root * col_root


@element
def _skipped(g, checked):
    """Whether the checked loops skip an element with gradient ``g``."""
    if checked:
        return not np.isfinite(g)
    return False


def _factored_sums(param, grad, rows, cols, partial, col_roots, totals, sign, eps1, weight,
                   checked):
    """The first pass over the stack ``param`` (B, m, n): the row and column variances lerped
    to this step's means of ``g^2`` with ``weight``; returns ``(skipped, mean(param^2),
    mean(u^2))``. With ``checked``, an element whose gradient is not finite adds nothing (the
    means still divide by n and m, as PyTorch's). Scratch, float64: ``partial`` (chunks, n),
    ``col_roots`` (n,), ``totals`` (3, m)."""
    stack, m, n = param.shape
    chunks = partial.shape[0]
    last_lane = FACTORED_LANES - 1
    scale = 1.0 / (stack * m * n)
    one_minus_weight = 1.0 - weight
    inverse_eps1, eps1_squared = 1.0 / eps1, eps1 * eps1
    skipped = 0
    sum_p = 0.0
    sum_u = 0.0
    for b in range(stack):
        for chunk in prange(chunks):  # each chunk of rows: their sums, its column sums
            lane_g = np.empty(FACTORED_LANES)
            lane_p = np.empty(FACTORED_LANES)
            column = partial[chunk]
            column[:] = 0.0
            for i in range(chunk * FACTORED_CHUNK, min(m, (chunk + 1) * FACTORED_CHUNK)):
                lane_g[:] = 0.0
                lane_p[:] = 0.0
                bad = 0
                for j in range(n):
                    g = sign * np.float64(grad[b, i, j])
                    p = np.float64(param[b, i, j])
                    if _skipped(g, checked):
                        bad += 1
                    else:
                        lane_g[j & last_lane] += g * g
                        column[j] += g * g
                        lane_p[j & last_lane] += (p * p) * scale
                rows[b, i] = lerp(np.float64(rows[b, i]), _in_lanes(lane_g) / n, weight,
                                  one_minus_weight)
                totals[0, i] = bad
                totals[1, i] = _in_lanes(lane_p)
        for chunk in range(1, chunks):  # the chunks' column sums, in order
            partial[0] += partial[chunk]
        for j in range(n):
            cols[b, j] = lerp(np.float64(cols[b, j]), partial[0, j] / m, weight,
                              one_minus_weight)
        denominator = _denominator(rows, b, eps1)
        _column_roots(cols, b, col_roots)
        for chunk in prange(chunks):
            lane_u = np.empty(FACTORED_LANES)
            for i in range(chunk * FACTORED_CHUNK, min(m, (chunk + 1) * FACTORED_CHUNK)):
                share = np.float64(rows[b, i]) / denominator
                root = 1.0 / math.sqrt(share)
                lane_u[:] = 0.0
                for j in range(n):
                    g = sign * np.float64(grad[b, i, j])
                    if not _skipped(g, checked):
                        u = _reciprocal_root(share, root, cols[b, j], col_roots[j],
                                             inverse_eps1, eps1_squared) * g
                        lane_u[j & last_lane] += (u * u) * scale
                totals[2, i] = _in_lanes(lane_u)
        for i in range(m):  # the rows' sums, in order
            skipped += np.int64(totals[0, i])
            sum_p += totals[1, i]
            sum_u += totals[2, i]
    return skipped, sum_p, sum_u


def _factored_update(param, grad, rows, cols, col_roots, sign, eps1, decay, neg_step,
                     checked):
    """The second pass: ``param`` times ``decay`` (1.0 without weight decay: the same bits)
    plus ``neg_step`` times the update; elements whose gradient is not finite unchanged with
    ``checked``.
    ``col_roots``: float64 scratch of length n."""
    stack, m, n = param.shape
    inverse_eps1, eps1_squared = 1.0 / eps1, eps1 * eps1
    for b in range(stack):
        denominator = _denominator(rows, b, eps1)
        _column_roots(cols, b, col_roots)
        for i in prange(m):
            share = np.float64(rows[b, i]) / denominator
            root = 1.0 / math.sqrt(share)
            for j in range(n):
                g = sign * np.float64(grad[b, i, j])
                if not _skipped(g, checked):
                    p = np.float64(param[b, i, j]) * decay
                    param[b, i, j] = p + neg_step * (_reciprocal_root(
                        share, root, cols[b, j], col_roots[j], inverse_eps1, eps1_squared) * g)


_JIT_OPTIONS = dict(cache=True, error_model="numpy")


@functools.cache
def _factored_helpers():
    """The loops' helpers called once a row (a call, not inlined: a loop inlined at several
    call sites trips Numba's SSA checks), compiled as the loops are."""
    from numba import njit

    from numadam._cache import keyed_by_sources

    return {name: njit(**_JIT_OPTIONS)(keyed_by_sources(globals()[name]))
            for name in ("_denominator", "_column_roots", "_in_lanes", "_means")}


@functools.cache
def _factored_loops(threads):
    """The two passes (on Numba's threads with ``threads``), compiled on first use (not at
    import), cached on disk under names keyed by the code they inline
    (:func:`numadam._cache.keyed_by_sources`)."""
    from numba import njit

    from numadam._cache import keyed_by_sources

    suffix = "_threads" if threads else "_serial"
    loops = []
    for loop in (_factored_sums, _factored_update):
        copy = FunctionType(loop.__code__, {**loop.__globals__, **_factored_helpers()},
                            loop.__name__ + suffix)
        copy.__qualname__ = loop.__qualname__ + suffix
        loops.append(njit(parallel=threads, **_JIT_OPTIONS)(keyed_by_sources(copy)))
    return tuple(loops)


class Factored:
    """The factored step of groups of one shape ``(..., m, n)``, as PyTorch's Adafactor steps
    a tensor of that shape. Where m or n is 1, only the other factor is kept: the variance of
    the dimension of length 1 is the mean of the other's (the same recursion from the same
    zeros: equal in exact arithmetic), taken afresh each step."""

    def __init__(self, shape):
        self.stack = stack, m, n = (int(np.prod(shape[:-2])), shape[-2], shape[-1])
        self.partial = np.zeros((-(-m // FACTORED_CHUNK), n))
        self.col_roots = np.zeros(n)
        self.totals = np.zeros((3, m))
        self.derived = None  # the factor of length 1, if any: made at the first step
        #: the state it keeps: every row variance of the stack, then every column variance
        #: (only the other where m or n is 1)
        self.state_size = stack * (n if m == 1 else m if n == 1 else m + n)

    def __call__(self, param, grad, states, h, inputs, scalars, carry, step, checked,
                 threads):
        sums, update = _factored_loops(threads)
        stack, m, n = self.stack
        variance = states[0]
        if m == 1 or n == 1:
            if self.derived is None or self.derived.dtype != variance.dtype:
                self.derived = np.zeros((stack, 1), variance.dtype)
            kept = variance[:stack * (n if m == 1 else m)].reshape(stack, -1)
            _factored_helpers()["_means"](kept, self.derived)
            rows, cols = (self.derived, kept) if m == 1 else (kept, self.derived)
        else:
            rows = variance[:stack * m].reshape(stack, m)
            cols = variance[stack * m:stack * (m + n)].reshape(stack, n)
        param, grad = param.reshape(self.stack), grad.reshape(self.stack)
        eps1 = h["eps"][0]
        eps1 = float(np.finfo(param.dtype).eps) if eps1 is None else float(eps1)
        sign = -1.0 if h["maximize"] else 1.0
        skipped, sum_p, sum_u = sums(param, grad, rows, cols, self.partial, self.col_roots,
                                     self.totals, sign, eps1, float(scalars[0]), checked)
        _, (decay, neg_step), carry = finish(inputs, carry, step, (sum_p, sum_u))
        update(param, grad, rows, cols, self.col_roots, sign, eps1, float(decay), neg_step,
               checked and skipped > 0)
        return skipped, carry


def shaped(shape):
    """The factored step for groups of ``shape``, or ``None`` for a vector."""
    if len(shape) < 2:
        return None
    return Factored(tuple(shape))


RULE = Rule(
    name="adafactor", class_name="Adafactor", doc=DOC, hyperparameters=HYPERPARAMETERS,
    state=STATE, element=update, constants=constants, step_inputs=step_inputs,
    step_scalars=step_scalars, state_invariants=STATE_INVARIANTS,
    reduction=Reduction(element=reduce, finish=finish, shaped=shaped),
)
