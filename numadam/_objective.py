"""The objective adapters: ``fun`` and its gradient as one evaluation, one adapter per shape.

- :class:`PointObjective`: one point, ``(n,) -> (f, g)``, for ``minimize``'s Python loops;
- :class:`RowsObjective`: the active rows of a batch, ``(B', n) -> (F, G)``, for
  ``minimize_batch``'s vectorized form;
- :func:`evaluate`: jitted ``fun``/``jac`` at one point, from Numba (the compiled loops) or from
  Python (:func:`evaluate_row`).

Gradients come from ``jac``, from ``fun`` itself (``jac=True``), written into a buffer
(``jac_out``), by finite differences with SciPy's step rules, never outside the bounds (and
``"cs"``, a true complex step, for a point), or by SPSA (``"spsa"``, :class:`Perturbations`).
User code only ever sees copies of the iterates.

SPSA
----
``jac="spsa"`` is Spall's simultaneous-perturbation estimate (as ``noisyopt.minimizeSPSA``
computes it): at the ``k``-th estimate of a problem, with ``c_k = c / (k + 1) ** gamma`` and a
random direction ``Δ`` of ±1 entries (a Rademacher vector, drawn from the problem's own
``numpy.random.Generator``),

    ĝ = (f(x + c_k Δ) − f(x − c_k Δ)) / (2 c_k Δ)

two evaluations of ``fun`` whatever ``n``; ``spsa_samples`` averages that many independent
estimates. With bounds both points are projected onto the box and ``ĝ = (f(x⁺) − f(x⁻)) / (x⁺ −
x⁻)`` (noisyopt's rule; 0 for a variable fixed by its bounds). When ``fun`` has a ``seed``
parameter, both evaluations of a pair get the same seed (common random numbers, noisyopt's
``paired=True``), drawn from the same generator after the direction. The value the loops see
at ``x`` is the mean of the evaluations around it, which estimates ``f(x)`` without costing
one (biased by ``c_k²`` times the curvature): the front ends evaluate ``fun`` once more at the
returned point for the result's ``fun`` (:meth:`PointObjective.value`,
:meth:`RowsObjective.values`). Its gain sequence lives here, its step gain
``a_k`` with the other learning-rate schedules (:func:`numadam.schedules.spsa`), and
``method="spsa"`` is their composition, declared with the options (:mod:`numadam._options`).
"""

from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np
from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import overload

__all__ = ["Perturbations", "PointObjective", "RowByRow", "RowsObjective", "check_row_arity",
           "evaluate", "evaluate_row", "real_value", "refill", "step_rules", "takes_seed"]

#: The seeds handed to ``fun`` (``seed=``): ``[0, SEED_END)``, noisyopt's range (a signed 32-bit
#: integer, which every generator accepts).
SEED_END = 2**31 - 1


def takes_seed(fun):
    """Whether ``fun`` has a parameter named ``seed`` that a keyword can set (then SPSA hands
    both evaluations of a pair the same seed)."""
    try:
        parameters = inspect.signature(fun).parameters
    except (TypeError, ValueError):
        return False
    parameter = parameters.get("seed")
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD,
                                                        parameter.KEYWORD_ONLY)


class Perturbations:
    """One problem's SPSA draws: its generator ``rng``, the perturbation gain ``c_k = c / (k +
    1) ** gamma`` of its ``k``-th estimate, ``samples`` estimates averaged, and whether ``fun``
    gets a ``seed`` (``seeded``). See the module docstring for the estimate."""

    def __init__(self, rng, c, gamma, samples, seeded):
        self.rng, self.c, self.gamma, self.samples, self.seeded = rng, c, gamma, samples, seeded
        self.k = 0

    def next_gain(self):
        """``c_k`` of the next estimate (and count it)."""
        gain = self.c / (self.k + 1.0) ** self.gamma
        self.k += 1
        return gain

    def draw(self, n, dtype):
        """One estimate's direction ``Δ`` (±1, of ``dtype``) and its pair's seed (``None``
        unless ``seeded``), in this order from the generator."""
        delta = (self.rng.integers(0, 2, size=n) * 2 - 1).astype(dtype)
        return delta, int(self.rng.integers(0, SEED_END)) if self.seeded else None

    def seed(self):
        """The seed of a lone evaluation (the result's ``fun``): ``{}`` unless ``seeded``."""
        return {"seed": int(self.rng.integers(0, SEED_END))} if self.seeded else {}


class PointObjective:
    """``fun`` and its gradient as one call, ``evaluate(x) -> (f, g)``, counting evaluations.

    User code only ever sees copies of the iterate: ``fun`` and ``jac`` each get their own, so
    an in-place edit (``x -= 1``) changes the caller's copy, never the optimizer's point.
    Finite differences are SciPy's ``approx_derivative`` with the bounds passed on (no point
    outside the box is ever evaluated); ``"cs"`` is a true complex step.
    """

    def __init__(self, fun, jac, args, x, limits=None, rel_step=None, jac_out=False,
                 spsa=None):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        self.fun, self.args, self.nfev, self.njev = fun, tuple(args), 0, 0
        self.shape, self.dtype, self.point = x.shape, x.dtype, x
        self.fd_bounds = (-np.inf, np.inf) if limits is None else limits
        # the variables that finite differences vary: not those fixed by their bounds
        # (lower == upper), where SciPy's step would be 0 (a 0/0); None when all are free
        fixed = None if limits is None else limits[0] == limits[1]
        self.free = None if fixed is None or not fixed.any() else np.flatnonzero(~fixed)
        self.rel_step = rel_step  # checked by the front end (options.relative_step)
        self.limits = limits
        self.spsa = None
        if isinstance(jac, str) and jac == "spsa":  # spsa: (rng, c, gamma, samples)
            self.spsa = Perturbations(*spsa, seeded=takes_seed(fun))
            self.evaluate = self._with_spsa
        elif jac_out:  # the gradient function writes into a new array it is given
            self.jac, self.evaluate = jac, self._with_gradient_out
        elif callable(jac):
            self.jac, self.evaluate = jac, self._with_jac
        elif jac is True:
            self.evaluate = self._with_value_and_grad
        elif jac is None or jac is False or jac in ("2-point", "3-point", "cs"):
            self.fd_method = "2-point" if jac in (None, False) else jac
            self.evaluate = self._with_finite_differences
        else:
            raise ValueError(f"jac must be a callable, True, None, '2-point', '3-point', "
                             f"'cs' or 'spsa', got {jac!r}")

    def _value(self, value):
        self.nfev += 1
        if isinstance(value, (float, np.floating)):  # the common case, checked cheaply
            return float(value)
        return real_value(value)

    def _gradient(self, g):
        self.njev += 1
        if type(g) is not np.ndarray or g.dtype != self.dtype or not g.flags.c_contiguous:
            array = np.asarray(g)
            if array.dtype.kind not in "biuf":  # complex, text, objects: not a gradient
                raise TypeError(f"jac must return an array of real numbers, got {g!r:.80}")
            g = np.ascontiguousarray(array, dtype=self.dtype)
        elif g.base is not None and np.may_share_memory(g, self.point):
            g = g.copy()  # a view of x itself: x changes during the step
        if g.shape != self.shape:
            raise ValueError(f"jac must return an array of shape {self.shape} like x0, got "
                             f"shape {g.shape}")
        return g

    def _with_jac(self, x):
        # _value and _gradient inlined for the common case (a float and a fresh C-contiguous
        # vector of x's dtype): this runs once per iteration, where ~1 us of checks would be a
        # third of the cost of a small problem.
        f = self.fun(x.copy(), *self.args)
        g = self.jac(x.copy(), *self.args)
        if type(f) is float or type(f) is np.float64:
            self.nfev += 1
        else:
            f = self._value(f)
        if (type(g) is np.ndarray and g.dtype is self.dtype and g.base is None
                and g.shape == self.shape and g.flags.c_contiguous):
            self.njev += 1
        else:
            g = self._gradient(g)
        return f, g

    def _with_gradient_out(self, x):
        g = np.empty(self.shape, self.dtype)
        if self.jac is True:
            f = self.fun(x.copy(), *self.args, g)
        else:
            f = self.fun(x.copy(), *self.args)
            self.jac(x.copy(), *self.args, g)
        return self._value(f), self._gradient(g)

    def _with_value_and_grad(self, x):
        result = self.fun(x.copy(), *self.args)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ValueError("with jac=True, fun must return a pair (f, g)")
        return self._value(result[0]), self._gradient(result[1])

    def _with_finite_differences(self, x):
        f = self._value(self.fun(x.copy(), *self.args))
        if self.fd_method == "cs":
            self._last_f = f  # approx_derivative would evaluate it again at the real point
            return f, self._gradient(self._complex_step(x))

        def counted(point):
            self.nfev += 1
            return real_value(self.fun(point.astype(self.dtype), *self.args))

        # x in its own dtype: SciPy sizes the step by it (a float64 step vanishes in float32)
        return f, self._gradient(self._differences(counted, x, self.fd_method, f))

    def _with_spsa(self, x):
        """The SPSA estimate at ``x`` (module docstring): ``(mean of the evaluations, ĝ)``."""
        spsa, fun, args = self.spsa, self.fun, self.args
        gain = spsa.next_gain()
        total, g = 0.0, np.zeros(self.shape, self.dtype)
        for _ in range(spsa.samples):
            delta, seed = spsa.draw(self.shape[0], self.dtype)
            keywords = {} if seed is None else {"seed": seed}
            step = gain * delta
            plus, minus = x + step, x - step
            if self.limits is None:
                spread = 2 * gain * delta
            else:
                np.clip(plus, *self.limits, out=plus)
                np.clip(minus, *self.limits, out=minus)
                spread = plus - minus
            f_plus = self._value(fun(plus, *args, **keywords))
            f_minus = self._value(fun(minus, *args, **keywords))
            total = total + (f_plus + f_minus)
            with np.errstate(divide="ignore", invalid="ignore"):
                estimate = (f_plus - f_minus) / spread
            if self.limits is not None:
                estimate[spread == 0] = 0  # a variable fixed by its bounds
            g += estimate.astype(self.dtype, copy=False)
        self.njev += 1
        return total / (2 * spsa.samples), g / self.dtype.type(spsa.samples)

    def value(self, x):
        """``fun`` at ``x`` alone, counted (with a fresh seed when SPSA hands it one): the
        result's ``fun`` where the loop saw estimates of it (:attr:`estimates_value`)."""
        return self._value(self.fun(x.copy(), *self.args, **self.spsa.seed()))

    @property
    def estimates_value(self):
        """Whether the values the loop sees are estimates (SPSA's means), not ``fun(x)``."""
        return self.spsa is not None

    def _differences(self, counted, x, method, f0):
        """SciPy's ``approx_derivative`` of ``counted`` at ``x`` within the bounds, over the
        free variables: a variable fixed by its bounds gets 0 (the projection keeps it)."""
        numdiff = scipy_numdiff()
        if numdiff is None:  # a SciPy without it: the same operations, by numadam's copy
            if method == "cs":
                raise ImportError("jac='cs' needs scipy.optimize._numdiff, which this SciPy "
                                  "lacks; use jac='2-point' or '3-point'")
            lower, upper = (np.broadcast_to(bound, x.shape)[None] for bound in self.fd_bounds)
            g = differences(lambda points, on: np.array([counted(points[0])]), x[None],
                            np.array([f0]), lower, upper, method, self.rel_step)
            return np.asarray(g[0], dtype=self.dtype)
        if self.free is None:
            return np.asarray(numdiff.approx_derivative(
                counted, x, method=method, f0=f0, rel_step=self.rel_step,
                bounds=self.fd_bounds), dtype=self.dtype)
        free, (lower, upper) = self.free, self.fd_bounds

        def on_free(point):
            full = x.astype(np.result_type(x, point))
            full[free] = point
            return counted(full)

        g = np.zeros(self.shape, self.dtype)
        if free.size:
            rel_step = self.rel_step if np.ndim(self.rel_step) == 0 else self.rel_step[free]
            g[free] = numdiff.approx_derivative(on_free, x[free], method=method, f0=f0,
                                                rel_step=rel_step,
                                                bounds=(lower[free], upper[free]))
        return g

    def _complex_step(self, x):
        """``Im f(x + ih e_i) / h`` for each i: exact to rounding, for a complex-safe ``fun``."""

        def counted(point):
            self.nfev += 1
            try:
                value = self.fun(point, *self.args)
            except TypeError as error:
                raise ValueError(f"jac='cs' needs a fun that accepts complex arguments; it "
                                 f"raised {type(error).__name__}: {error}") from error
            if np.size(value) != 1:
                raise ValueError(f"fun must return a scalar, got an array of shape "
                                 f"{np.shape(value)}")
            value = np.ravel(value)[0]
            if not np.iscomplexobj(value):
                raise ValueError(
                    "jac='cs' needs a fun that computes in complex arithmetic (it returned a "
                    "real number for a complex x: the imaginary part, hence the gradient, was "
                    "lost); use jac='2-point' or '3-point', or a callable jac")
            return value

        return self._differences(counted, x.astype(np.float64), "cs", self._last_f)

    def __call__(self, x):
        return self.evaluate(x)


def real_value(value):
    """``fun``'s value as a float: a real number, or an array of one (SciPy takes a size-1 or
    0-d array as the value); anything else raises."""
    if np.size(value) != 1:
        raise ValueError(f"fun must return a scalar, got an array of shape {np.shape(value)}")
    item = np.ravel(value)[0]
    if not isinstance(item, (numbers.Real, np.integer, np.floating, np.bool_)):
        raise TypeError(f"fun must return a real number, got {value!r:.80}")  # complex, text
    return float(item)


class RowsObjective:
    """``evaluate(rows) -> (F, G)`` for the active problems ``rows``, counting evaluations per
    problem; gradients from ``jac``, from ``fun`` itself (``jac=True``) or by finite
    differences (within the bounds ``limits``, as ``minimize``'s). ``fun`` and ``jac`` each get
    their own copy of the points: user code cannot change the iterates."""

    def __init__(self, fun, jac, args, batch_args, B, n, jac_out=False, limits=None,
                 per_row=False, spsa=None):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        # spsa: (one generator per problem, c, gamma, samples), checked by the front end; a
        # jitted per-row fun is called without keywords (RowByRow): never seeded
        self.spsa = None if not (isinstance(jac, str) and jac == "spsa") else [
            Perturbations(rng, *spsa[1:], seeded=not per_row and takes_seed(fun))
            for rng in spsa[0]]
        if per_row:  # the jitted form's functions, each called with one row (RowByRow)
            count = len(batch_args)
            fun = RowByRow(fun, count, "value and gradient" if jac is True else "value",
                           jac_out and jac is True)
            if callable(jac):
                jac = RowByRow(jac, count, "gradient", jac_out)
        self.fun, self.jac, self.args, self.batch_args = fun, jac, args, batch_args
        self.jac_out, self.limits = jac_out, limits
        self.nfev, self.njev, self.n = np.zeros(B, np.int64), np.zeros(B, np.int64), n
        if not (callable(jac) or jac is True
                or jac in (None, False, "2-point", "3-point", "spsa")):
            raise ValueError(f"jac must be a callable, True, None, '2-point', '3-point' or "
                             f"'spsa', got {jac!r}")

    def _values(self, values, count):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (count,):
            raise ValueError(f"fun must return an array of shape (B',) = ({count},), one value "
                             f"per active problem; got shape {values.shape}")
        return values

    def _gradients(self, gradients, count):
        gradients = np.asarray(gradients, dtype=np.float64)
        if gradients.shape != (count, self.n):
            raise ValueError(f"jac must return an array of shape (B', n) = ({count}, {self.n});"
                             f" got shape {gradients.shape}")
        return gradients

    def __call__(self, X, rows):
        extra = tuple(array[rows] for array in self.batch_args) + self.args
        count = len(rows)
        if self.spsa is not None:
            return self._spsa(X, rows, extra)
        if self.jac_out:  # the gradient function writes into the array it is given
            G = np.empty((count, self.n))
            if self.jac is True:
                F = self._values(self.fun(X.copy(), *extra, G), count)
            else:
                F = self._values(self.fun(X.copy(), *extra), count)
                self.jac(X.copy(), *extra, G)
        elif self.jac is True:
            result = self.fun(X.copy(), *extra)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise ValueError("with jac=True, fun must return a pair (F, G)")
            F, G = self._values(result[0], count), self._gradients(result[1], count)
        elif callable(self.jac):
            F = self._values(self.fun(X.copy(), *extra), count)
            G = self._gradients(self.jac(X.copy(), *extra), count)
        else:
            F = self._values(self.fun(X.copy(), *extra), count)
            G = self._finite_differences(X, F, extra, rows)
        self.nfev[rows] += 1
        self.njev[rows] += 1
        return F, G

    def _spsa(self, X, rows, extra):
        """The SPSA estimates of the active rows (module docstring), each problem with its
        own draws, in :meth:`PointObjective._with_spsa`'s operations (the same bits): ``(F,
        G)``, ``F`` the means of the evaluations. The seeds reach ``fun`` as an array, one per
        row."""
        problems = [self.spsa[b] for b in rows]
        count, samples = len(rows), problems[0].samples if problems else 1
        gain = np.array([problem.next_gain() for problem in problems])[:, None]
        F, G = np.zeros(count), np.zeros_like(X)
        for _ in range(samples):
            draws = [problem.draw(self.n, np.float64) for problem in problems]
            delta = np.array([d for d, _ in draws]).reshape(count, self.n)
            keywords = {} if not problems or draws[0][1] is None else {
                "seed": np.array([seed for _, seed in draws], np.int64)}
            step = gain * delta
            plus, minus = X + step, X - step
            if self.limits is None:
                spread = 2 * gain * delta
            else:
                lower, upper = self.limits[0][rows], self.limits[1][rows]
                np.clip(plus, lower, upper, out=plus)
                np.clip(minus, lower, upper, out=minus)
                spread = plus - minus
            F_plus = self._values(self.fun(plus, *extra, **keywords), count)
            F_minus = self._values(self.fun(minus, *extra, **keywords), count)
            F = F + (F_plus + F_minus)
            with np.errstate(divide="ignore", invalid="ignore"):
                estimate = (F_plus - F_minus)[:, None] / spread
            if self.limits is not None:
                estimate[spread == 0] = 0  # a variable fixed by its bounds
            G += estimate
        self.nfev[rows] += 2 * samples
        self.njev[rows] += 1
        return F / (2 * samples), G / np.float64(samples)

    @property
    def estimates_values(self):
        """Whether the values the loop sees are estimates (SPSA's means), not ``fun(X)``."""
        return self.spsa is not None

    def values(self, X, rows):
        """``fun`` at the rows ``rows`` of ``X`` alone, counted (with fresh seeds when SPSA
        hands ``fun`` some): the result's ``fun`` where the loop saw estimates of it."""
        extra = tuple(array[rows] for array in self.batch_args) + self.args
        keywords = {}
        if self.spsa is not None and self.spsa[0].seeded:
            keywords = {"seed": np.array([self.spsa[b].seed()["seed"] for b in rows],
                                         np.int64)}
        F = self._values(self.fun(X[rows].copy(), *extra, **keywords), len(rows))
        self.nfev[rows] += 1
        return F

    def _finite_differences(self, X, F, extra, rows):
        """:func:`differences` of the active rows, each problem's ``nfev`` counted as
        ``minimize``'s (which ``maxfev`` tests)."""
        batch_count = len(self.batch_args)

        def values_at(points, on):
            if isinstance(on, slice):  # every problem: no copies
                rows_on, extra_on = rows, extra
            else:  # only the problems where the variable is free, with their data rows
                rows_on = rows[on]
                extra_on = (*(array[on] for array in extra[:batch_count]),
                            *extra[batch_count:])
            values = self._values(self.fun(points, *extra_on), len(rows_on))
            self.nfev[rows_on] += 1
            return values

        if self.limits is None:
            lower, upper = np.full_like(X, -np.inf), np.full_like(X, np.inf)
        else:
            lower, upper = self.limits[0][rows], self.limits[1][rows]
        method = "3-point" if self.jac == "3-point" else "2-point"
        return differences(values_at, X, F, lower, upper, method)

def check_row_arity(fun, jac, batch_count, arg_count, jac_out):
    """A jitted per-row ``fun`` (and ``jac``) checked against what the batch passes them:
    ``x``, a row of each of the ``batch_count`` ``batch_args``, the ``arg_count`` shared
    ``args`` (and the gradient buffer with ``jac_out``). A TypeError naming the function and
    the count, rather than Numba's "Signature mismatch" (a forgotten ``batch_args``, say)."""
    passed = 1 + batch_count + arg_count
    what = (f"x, a row of each of the {batch_count} batch_args and the {arg_count} args"
            f"{', then the gradient buffer' if jac_out else ''}")
    writes_fun = jac_out and jac is True
    for name, function, count in (("fun", fun, passed + writes_fun),
                                  ("jac", jac, passed + bool(jac_out))):
        python = getattr(function, "py_func", None)
        if python is None:
            continue
        try:
            parameters = inspect.signature(python).parameters.values()
        except (TypeError, ValueError):
            continue
        if any(p.kind == p.VAR_POSITIONAL for p in parameters):
            continue
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY,
                                                           p.POSITIONAL_OR_KEYWORD)]
        required = [p for p in positional if p.default is p.empty]
        if not len(required) <= count <= len(positional):
            raise TypeError(f"{name} takes {len(positional)} positional arguments, but the "
                            f"batch calls it with {count}: {what} (a jitted {name} takes one "
                            f"problem's row)")


class RowByRow:
    """A per-row function (the jitted form's protocol: one problem's ``x``, its rows of the
    ``batch_args``, the shared ``args``) called the vectorized form's way, ``(X, *batch_rows,
    *args[, out])``: once per row, from Python. A jitted per-row ``fun`` is never handed the
    matrix where the jitted form cannot run (finite differences, a callback,
    ``compiled=False``): with B == n it would return values of the right shape computed from
    the wrong numbers.

    ``what``: ``"value"`` (returns ``(B',)``), ``"value and gradient"`` (``jac=True``: returns
    ``(F, G)``, or ``F`` while writing ``G`` with ``writes``) or ``"gradient"`` (returns
    ``(B', n)``, or writes it with ``writes``: ``jac_out``)."""

    def __init__(self, function, batch_count, what, writes=False):
        self.function, self.batch_count, self.what, self.writes = (function, batch_count, what,
                                                                   writes)

    def __call__(self, X, *extra):
        out = extra[-1] if self.writes else None
        extra = extra[:-1] if self.writes else extra
        rows, shared = extra[:self.batch_count], extra[self.batch_count:]
        count, n = X.shape
        F = np.empty(count)
        G = np.empty((count, n)) if out is None else out
        for b in range(count):
            point = (X[b], *(array[b] for array in rows), *shared)
            try:
                result = self.function(*point, G[b]) if self.writes else self.function(*point)
            except Exception as error:
                # say which protocol the call followed: a function written for the whole
                # matrix fails here, at its first row
                name = "jac" if self.what == "gradient" else "fun"
                protocol = (f"{name} is jitted, so minimize_batch called it with one "
                            f"problem's row (x of shape ({n},), a row of each batch_args), as "
                            f"its jitted form does; a jitted function written for the whole "
                            f"(B', n) matrix is passed wrapped: lambda X, *a: f(X, *a)")
                if isinstance(error, TypingError):  # Numba's own: a TypeError naming fun
                    raise TypeError(f"{protocol}. Numba could not compile it so: "
                                    f"{str(error)[:300]}") from None
                error.add_note(protocol)
                raise
            if self.what == "gradient":
                if not self.writes:
                    G[b] = self._gradient(result, n)
                continue
            if self.what == "value and gradient" and not self.writes:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise ValueError("with jac=True, fun must return a pair (f, g) for one "
                                     "problem's row")
                result, gradient = result
                G[b] = self._gradient(gradient, n)
            F[b] = real_value(result)
        if self.what == "gradient":
            return G
        return (F, G) if self.what == "value and gradient" and not self.writes else F

    @staticmethod
    def _gradient(g, n):
        if np.shape(g) != (n,):
            raise ValueError(f"jac must return an array of shape ({n},) like a row of x0, got "
                             f"shape {np.shape(g)}")
        return g


# ------------------------------------------------------------------------------------------------
# SciPy's finite-difference step rules, for many rows at once
# ------------------------------------------------------------------------------------------------


def scipy_numdiff():
    """SciPy's ``scipy.optimize._numdiff``, home of ``approx_derivative``: a SciPy private,
    imported when finite differences are first needed, so that ``import numadam`` never
    depends on it; ``None`` for a SciPy without it (then :func:`differences` stands in)."""
    try:
        from scipy.optimize import _numdiff
    except ImportError:
        return None
    return _numdiff


@functools.cache
def step_rules():
    """``(absolute_step, adjust_to_bounds)``: SciPy's own step rules for finite differences
    (``approx_derivative``'s), so that a batch's differences are ``minimize``'s bit for bit.
    They are SciPy privates: imported when first needed, and where SciPy no longer has them,
    the copies below (SciPy 1.17's) stand in, so ``import numadam`` never depends on them."""
    try:
        from scipy.optimize._numdiff import _adjust_scheme_to_bounds, _compute_absolute_step
    except ImportError:
        return absolute_step, adjust_scheme_to_bounds
    return _compute_absolute_step, _adjust_scheme_to_bounds


def differences(values_at, X, F, lower, upper, method, rel_step=None):
    """SciPy's ``approx_derivative`` (2-point or 3-point) for every row of ``X`` at once, one
    coordinate at a time: its absolute step, its adjustment to the bounds and its quotients,
    the same operations (so the same bits). ``values_at(points, on)`` returns the values at
    ``points``, which are the rows ``on`` of ``X`` (a slice for all, else a mask) with one
    coordinate moved. A variable fixed by its bounds (``lower == upper``) gets 0 without an
    evaluation, as ``minimize``'s differences leave it out."""
    absolute_step_of, adjust_to_bounds = step_rules()
    h = absolute_step_of(rel_step, X, F, method)
    h, one_sided = adjust_to_bounds(
        X, h, 1, "1-sided" if method == "2-point" else "2-sided", lower, upper)
    G = np.zeros_like(X)
    free = lower != upper
    with np.errstate(divide="ignore", invalid="ignore"):  # as SciPy's quotients: no warning
        for i in range(X.shape[1]):
            on = free[:, i]
            if not on.any():
                continue
            if on.all():  # every row (the common case): no copies, no masks
                on = slice(None)
                X_i, F_i = X, F
            else:
                X_i, F_i = X[on], F[on]
            x_i, h_i, side = X_i[:, i], h[on, i], one_sided[on, i]
            if method == "2-point":
                forward = X_i.copy()
                forward[:, i] = x_i + h_i
                G[on, i] = (values_at(forward, on) - F_i) / ((x_i + h_i) - x_i)
                continue
            first, second = X_i.copy(), X_i.copy()
            first[:, i] = np.where(side, x_i + h_i, x_i - h_i)
            second[:, i] = np.where(side, x_i + 2 * h_i, x_i + h_i)
            dx = np.where(side, second[:, i] - x_i, second[:, i] - first[:, i])
            f_first = values_at(first, on)
            f_second = values_at(second, on)
            G[on, i] = np.where(side, -3.0 * F_i + 4 * f_first - f_second,
                                f_second - f_first) / dx
    return G


def absolute_step(rel_step, x0, f0, method):
    """SciPy's ``_compute_absolute_step``: ``EPS**(1/2)`` (2-point) or ``EPS**(1/3)``
    (3-point) times ``max(1, |x0|)``, signed as ``x0`` (+ at 0); with ``rel_step``, that
    relative step times ``|x0|`` where it moves ``x0``."""
    eps = np.finfo(x0.dtype).eps if np.issubdtype(x0.dtype, np.inexact) else np.finfo(float).eps
    f0_dtype = np.asarray(f0).dtype
    if (np.issubdtype(x0.dtype, np.inexact) and np.issubdtype(f0_dtype, np.inexact)
            and f0_dtype.itemsize < x0.dtype.itemsize):
        eps = np.finfo(f0_dtype).eps
    relative = eps ** 0.5 if method in ("2-point", "cs") else eps ** (1 / 3)
    sign_x0 = (x0 >= 0).astype(float) * 2 - 1
    default = relative * sign_x0 * np.maximum(1.0, np.abs(x0))
    if rel_step is None:
        return default
    step = rel_step * sign_x0 * np.abs(x0)
    return np.where(((x0 + step) - x0) == 0, default, step)


def adjust_scheme_to_bounds(x0, h, num_steps, scheme, lb, ub):
    """SciPy's ``_adjust_scheme_to_bounds``: the steps ``h`` turned or shortened so that every
    point a scheme evaluates lies within ``[lb, ub]``; ``(h, use_one_sided)``."""
    if scheme == "1-sided":
        use_one_sided = np.ones_like(h, dtype=bool)
    else:
        h = np.abs(h)
        use_one_sided = np.zeros_like(h, dtype=bool)
    if np.all((lb == -np.inf) & (ub == np.inf)):
        return h, use_one_sided
    h_total = h * num_steps
    h_adjusted = h.copy()
    lower_dist = x0 - lb
    upper_dist = ub - x0
    if scheme == "1-sided":
        x = x0 + h_total
        violated = (x < lb) | (x > ub)
        fitting = np.abs(h_total) <= np.maximum(lower_dist, upper_dist)
        h_adjusted[violated & fitting] *= -1
        forward = (upper_dist >= lower_dist) & ~fitting
        h_adjusted[forward] = upper_dist[forward] / num_steps
        backward = (upper_dist < lower_dist) & ~fitting
        h_adjusted[backward] = -lower_dist[backward] / num_steps
    else:
        central = (lower_dist >= h_total) & (upper_dist >= h_total)
        forward = (upper_dist >= lower_dist) & ~central
        h_adjusted[forward] = np.minimum(h[forward], 0.5 * upper_dist[forward] / num_steps)
        use_one_sided[forward] = True
        backward = (upper_dist < lower_dist) & ~central
        h_adjusted[backward] = -np.minimum(h[backward], 0.5 * lower_dist[backward] / num_steps)
        use_one_sided[backward] = True
        min_dist = np.minimum(upper_dist, lower_dist) / num_steps
        adjusted_central = ~central & (np.abs(h_adjusted) <= min_dist)
        h_adjusted[adjusted_central] = min_dist[adjusted_central]
        use_one_sided[adjusted_central] = False
    return h_adjusted, use_one_sided


# ------------------------------------------------------------------------------------------------
# Jitted fun and jac at one point
# ------------------------------------------------------------------------------------------------


def evaluate(fun, jac, x, x_fun, x_jac, args, out):
    """``(f, g)`` at ``x``: ``fun(x_fun, *args)`` and ``jac(x_jac, *args)``, or, with
    ``jac=None`` (``jac=True`` for the user), ``fun(x_fun, *args)`` returning both; ``x_fun``
    and ``x_jac`` are first refilled with ``x`` (only ``x_fun`` without ``jac``).

    With a gradient buffer ``out`` (``jac_out=True``), the gradient function is called with it
    as its last argument and writes the gradient there: ``jac(x_jac, *args, out)`` returns
    nothing, ``fun(x_fun, *args, out)`` (``jac=True``) returns ``f``; ``g`` is ``out``."""
    if jac is None:
        if out is None:
            return fun(refill(x_fun, x), *args)
        return fun(refill(x_fun, x), *args, out), out
    f = fun(refill(x_fun, x), *args)
    if out is None:
        return f, jac(refill(x_jac, x), *args)
    jac(refill(x_jac, x), *args, out)
    return f, out


@overload(evaluate, inline="always")
def _evaluate(fun, jac, x, x_fun, x_jac, args, out):
    # chosen by type when compiling: a branch on `jac is None` would have to type both sides
    with_out = not isinstance(out, types.NoneType)
    if isinstance(jac, types.NoneType):
        if with_out:
            return lambda fun, jac, x, x_fun, x_jac, args, out: (
                fun(refill(x_fun, x), *args, out), out)
        return lambda fun, jac, x, x_fun, x_jac, args, out: fun(refill(x_fun, x), *args)
    if with_out:
        def implementation(fun, jac, x, x_fun, x_jac, args, out):
            f = fun(refill(x_fun, x), *args)
            jac(refill(x_jac, x), *args, out)
            return f, out

        return implementation
    return lambda fun, jac, x, x_fun, x_jac, args, out: (fun(refill(x_fun, x), *args),
                                                         jac(refill(x_jac, x), *args))


@njit(cache=True, error_model="numpy", inline="always")
def refill(buffer, x):
    """``buffer[:] = x``, returning ``buffer``."""
    for i in range(x.shape[0]):
        buffer[i] = x[i]
    return buffer


def evaluate_row(fun, jac, jac_out, x, extra):
    """``(f, g)`` of one problem at ``x`` from Python, as the compiled loops evaluate it
    (:func:`evaluate`): each function gets its own copy of ``x``; ``jac=True`` and ``jac_out``
    as in ``minimize``."""
    out = np.empty(x.shape[0]) if jac_out else None
    return evaluate(fun, None if jac is True else jac, x, x.copy(), x.copy(), extra, out)
