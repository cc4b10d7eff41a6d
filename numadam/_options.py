"""Every option of :func:`numadam.minimize` and :func:`numadam.minimize_batch`: the methods of
the rule registry, the options they share, each option's check and its documentation line
(what :func:`numadam.show_options` prints).

A new option is one line in :data:`COMMON_OPTIONS` (its doc), one in :data:`OPTION_DEFAULTS`,
its check here, and its effect in the iteration policy (:mod:`numadam._policy`).

SPSA
----
``method="spsa"`` (Spall's simultaneous perturbation stochastic approximation) is not a rule of
the registry but a composition of three pieces, each written once elsewhere: plain SGD (the
``sgd`` rule, ``θ ← θ − a_k ĝ``), its step gain ``a_k = a / (k + 1 + A) ** alpha`` as a
learning-rate schedule (:func:`numadam.schedules.spsa`), and the gradient estimate
``jac="spsa"`` with its perturbation gain ``c_k = c / (k + 1) ** gamma`` in the objective
adapters (:class:`numadam._objective.Perturbations`). :func:`spsa_parts` says how they compose;
:data:`SPSA_HYPERPARAMETERS` and the ``seed`` / ``spsa_*`` lines of :data:`COMMON_OPTIONS` are
its options. So ``jac="spsa"`` hands the same estimate to every method, and SPSA costs no
compiled code of its own: SGD's kernel is compiled already, and with a schedule the step runs
from ``minimize``'s Python loop, as for any schedule. The defaults are
``noisyopt.minimizeSPSA``'s (``a = c = 1``, ``alpha = 0.602``, ``gamma = 0.101``, ``A = 0.01``
times the iteration budget), and so are its formulas: the same gains computed the same way, its
projection of both points onto the bounds and its division by their actual distance, the
projected step, seeds below 2^31 - 1 for a ``fun`` that takes them, ``fun`` evaluated at the
answer (in one variable, where the estimate does not depend on the direction, the iterates
are noisyopt's bit for bit; tests/test_spsa.py). Where it differs, on purpose: the draws come
from a Generator of ``seed`` rather than NumPy's global state, ``x0`` is never modified
(noisyopt steps in the caller's array), a variable fixed by its bounds gets 0 rather than
0/0, ``nfev`` counts the answer's evaluation too, and a ``fun`` without a ``seed`` parameter
is simply not given one (noisyopt's ``paired=True`` requires it). The policy's loop estimates
at the last iterate too (for ``gtol`` and the status), so at equal ``maxfev`` it takes one step
fewer than noisyopt.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import sys
import types
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import OptimizeWarning

from numadam import schedules
from numadam._validation import flag, nonnegative, real_scalar, unit_interval
from numadam.optimizers import CLASSES
from numadam.rules import VARIANTS

__all__ = [
    "BATCH_OPTIONS", "COMMON_OPTIONS", "METHODS", "OPTION_DEFAULTS", "REFUSED_OPTIONS",
    "SHARED_WITH_BATCH", "SPSA", "SPSA_HYPERPARAMETERS", "batch_method_name", "batch_settings",
    "check_stops",
    "count", "disp_flag", "generator", "generators", "hyperparameters_of", "is_default",
    "jac_out_flag", "method_class", "method_name", "problem_seeds", "relative_step",
    "return_best_flag",
    "schedule_from", "show_options", "spsa_estimate", "spsa_jac", "spsa_parts", "Settings",
    "minimize_settings", "split_options", "tolerance",
]


def method_table():
    """method name -> (optimizer class, hyperparameters the method fixes), from the registry.

    A variant with its own class runs it (``adamw`` runs ``AdamW``); one without runs its rule's
    class with its settings fixed (``amsgrad`` runs ``Adam(amsgrad=True)``).
    """
    table = {}
    for variant in VARIANTS:
        if variant.method is None:
            continue
        if variant.class_name:
            table[variant.method] = (CLASSES[variant.class_name], {})
        else:
            table[variant.method] = (CLASSES[variant.rule.class_name], dict(variant.fixed))
    return table


METHODS = method_table()

#: ``method="spsa"``: Spall's SPSA, SGD stepping by the gain ``a_k`` along ``jac="spsa"``'s
#: estimate (see the module docstring); its hyperparameters, as :func:`hyperparameters_of` gives
#: a rule's.
SPSA = "spsa"
SPSA_HYPERPARAMETERS = types.MappingProxyType({
    "a": (1.0, "step gain a of a_k = a / (k + 1 + A) ** alpha, the SGD step along the SPSA "
               "estimate"),
    "A": (None, "stability constant of the step gain; None: 0.01 times the iteration budget "
                "(maxiter, or maxfev // (2 * spsa_samples) when smaller), noisyopt's "
                "0.01 * niter"),
    "alpha": (0.602, "decay exponent of the step gain"),
})


def method_class(method):
    """``(optimizer class, fixed hyperparameters)`` that run ``method`` (SGD for "spsa")."""
    return (CLASSES["SGD"], {}) if method == SPSA else METHODS[method]


@functools.cache
def hyperparameters_of(method):
    """The method's hyperparameters: ``{name: (default, one-line doc)}``, read-only (computed
    once: building it took 17 us of every call of ``minimize``)."""
    if method == SPSA:
        return SPSA_HYPERPARAMETERS
    cls, fixed = METHODS[method]
    return types.MappingProxyType({name: (fixed.get(name, spec.default), spec.doc)
                                   for name, spec in cls.variant.hyperparameters().items()})


def show_options(method=None, *, disp=True):
    """Print (or return) every option of ``method``, or of every method, with its meaning.

    Parameters
    ----------
    method : str, optional
        One of :data:`METHODS`; all methods when omitted.
    disp : bool, default True
        Print the text; otherwise return it.
    """
    names = [method_name(method)] if method is not None else [*METHODS, SPSA]
    blocks = []
    for name in names:
        lines = [name, "=" * len(name), "Options", "-------"]
        for option, (default, doc) in hyperparameters_of(name).items():
            lines.append(f"{option} : {doc}; default {default!r}")
        lines += [f"{option} : {text}" for option, text in COMMON_OPTIONS.items()]
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    if not disp:
        return text
    print(text)
    return None


def method_name(method):
    if not isinstance(method, str):
        raise TypeError(f"method must be a string or a callable, got {type(method).__name__}")
    name = method.lower()
    if name not in METHODS and name != SPSA:
        raise ValueError(f"Unknown solver {method!r}; numadam's methods are "
                         f"{[*METHODS, SPSA]}")
    return name


def batch_method_name(method):
    """``minimize_batch``'s ``method``: a name, or one of numadam's SciPy entry points
    (``numadam.adam``), taken as its name. Any other callable is refused: a SciPy custom
    method solves one problem, and the batch runs its own loops."""
    if callable(method):
        name = getattr(method, "__name__", None)
        if getattr(method, "__module__", None) == "numadam.scipy_methods" and (
                name in METHODS or name == SPSA):
            return name
        raise TypeError(f"method must be the name of a numadam method (or one of numadam's "
                        f"SciPy entry points such as numadam.adam); minimize_batch cannot run "
                        f"a custom method, got {method!r:.80}")
    return method_name(method)


#: The options every method takes, with their meaning (shown by :func:`show_options`).
COMMON_OPTIONS = {
    "maxiter": "int, default 1000. Number of iterations (optimizer steps).",
    "gtol": "float, optional. Stop when max|g| <= gtol (also set by minimize's `tol`); with "
            "bounds, components pushing out of an active bound are left out (projected "
            "gradient).",
    "ftol": "float, optional. Stop when |f_k - f_(k-1)| <= ftol * max(|f_k|, |f_(k-1)|, 1).",
    "xtol": "float, optional. Stop when max|x_k - x_(k-1)| <= xtol.",
    "schedule": "callable k -> lr, or 'constant', 'step', 'exponential', 'cosine', 'warmup', "
                "'spsa' (Spall's gain lr / (k + 1 + A) ** alpha).",
    "schedule_options": "dict, parameters of a named schedule (see numadam.schedules); "
                        "'cosine' defaults to T_max=maxiter.",
    "clip_norm": "float, optional. Rescale g to this Euclidean norm when it is longer.",
    "clip_value": "float, optional. Clip every component of g to [-clip_value, clip_value].",
    "average": "None, 'polyak' or 'ema'. Return the running mean (Polyak-Ruppert) or an "
               "exponential moving average of the iterates instead of the last one (projected "
               "onto the bounds; a run that stopped at gtol returns its last iterate where "
               "the average does not meet gtol).",
    "average_decay": "float in [0, 1), default 0.99. Decay of the 'ema' average.",
    "average_start": "int, default 0. Iteration from which iterates enter the average.",
    "compiled": "True (default), False or 'specialize'. Run the loop in nopython mode for "
                "jitted fun and jac: True loads it from Numba's disk cache and calls fun and "
                "jac through pointers (a fresh process compiles only fun and jac); "
                "'specialize' compiles it for these very functions, inlined (seconds of "
                "compile, then the fastest iterations; cached on disk when fun and jac are "
                "njit(cache=True), else compiled in every process).",
    "jac_out": "bool, default False. The gradient function writes the gradient into an array "
               "passed as its last argument instead of returning it: jac(x, *args, out) "
               "returns nothing, or with jac=True fun(x, *args, out) returns f. Saves an "
               "allocation per iteration in the compiled loop.",
    "maxfev": "int, optional. Stop (status 2) once fun has been evaluated this many times.",
    "disp": "bool, default False. Print a SciPy-style summary at the end.",
    "return_best": "bool, default True. If the last iterate's fun is above the lowest one "
                   "evaluated (a rough function, a step too long), return that lowest iterate "
                   "instead; with False a run that ends above f(x0) is not a success "
                   "(status 4). Off for iterate averaging and schedule-free rules. Default "
                   "False with jac='spsa' (and method='spsa'), whose values are noisy means: "
                   "the lowest is the luckiest draw, not the best point (noisyopt returns the "
                   "last iterate too).",
    "finite_diff_rel_step": "float or array, optional. Relative step of the finite "
                            "differences (SciPy's approx_derivative rel_step).",
    "device": "'cpu' (default) or 'cuda': run the optimizer's update on the GPU, its state kept "
              "there; fun and jac still see NumPy arrays (x and g cross the bus every "
              "iteration, so this pays off only for large vectors and costly steps).",
    "check_finite": "ignored: minimize always checks f and g and stops at the first NaN/inf.",
    "seed": "None, int, sequence of ints, numpy SeedSequence or Generator. Seeds the random "
            "directions of jac='spsa' (and method='spsa'): the same seed, the same run "
            "(np.random.default_rng(seed)). minimize_batch: problem b runs as minimize with "
            "seed=np.random.SeedSequence(seed).spawn(B)[b], or seed is a sequence of B seeds, "
            "one per problem.",
    "spsa_samples": "int, default 1. SPSA estimates averaged per gradient, 2 evaluations of "
                    "fun each (counted in nfev).",
    "spsa_c": "float > 0, default 1.0. Perturbation gain c of c_k = c / (k + 1) ** "
              "spsa_gamma, the half-width of jac='spsa''s pair of points.",
    "spsa_gamma": "float >= 0, default 0.101. Decay exponent of the perturbation gain.",
    "state": "dict, optional. Resume a run: the `state` of an earlier result (with x0 its "
             "`x`): the optimizer starts from that state, its step count (and so its bias "
             "corrections) continuing, and N iterations then N more equal 2N at once, bitwise "
             "(the state also keeps the last iterate and the lowest point where x is another "
             "point). "
             "The hyperparameters are this call's (pass the same options to continue exactly); "
             "`nit` and `nfev` count this call's. A state that does not fit the method or x0 "
             "raises ValueError. minimize_batch takes its result's state, every problem's "
             "stacked ((B, n) vectors, (B,) step counts).",
    "progress": "bool, default False. Draw a progress bar on stderr while the run goes "
                "(numadam.callbacks.ProgressBar: tqdm when installed); a callback, so it runs "
                "the Python loop.",
    "groups": "list of dicts, optional. Parameter groups by index ranges of x, each with "
              "hyperparameters of its own: [{'range': (0, 10), 'lr': 1e-2}, ...]; the other "
              "options give the rest, and the elements no range covers form one more group "
              "(as the optimizers' groups=, numadam._groups). minimize runs them in its "
              "compiled and lean loops, minimize_batch in both forms (a rule with a "
              "reduction stage: minimize's Python loop, minimize_batch's vectorized form, "
              "groups of one run); no schedule (set each group's lr instead). A range may "
              "give a 'shape' (adafactor steps it factored; minimize_batch takes none).",
}


#: The value each of :data:`COMMON_OPTIONS` takes when not given (``None``: off, or not tested).
OPTION_DEFAULTS = {**dict.fromkeys(COMMON_OPTIONS), "maxiter": 1000, "average_decay": 0.99,
                   "average_start": 0, "compiled": True, "device": "cpu", "disp": False,
                   "return_best": True, "jac_out": False, "spsa_samples": 1,
                   "spsa_c": 1.0, "spsa_gamma": 0.101, "progress": False}

#: The options of :data:`COMMON_OPTIONS` that ``minimize_batch`` takes too, as ``minimize``
#: documents them.
SHARED_WITH_BATCH = ("state", "progress")


def split_options(method, options, hyperparameters, settings, stacklevel):
    """Sort ``options`` into ``hyperparameters`` (the method's names) and ``settings`` (the
    front end's), in place; a value contradicting the method's fixed settings raises, unknown
    names warn (``OptimizeWarning``, at ``stacklevel``), as in SciPy."""
    fixed = method_class(method)[1]
    unknown = []
    for name, value in options.items():
        if name in hyperparameters:
            if name in fixed and not np.array_equal(value, fixed[name]):
                raise ValueError(f"`{name}` is fixed to {fixed[name]!r} by method={method!r}")
            hyperparameters[name] = value
        elif name in settings:
            settings[name] = value
        else:
            unknown.append(name)
    if unknown:
        warnings.warn(f"Unknown solver options: {', '.join(sorted(unknown))}", OptimizeWarning,
                      stacklevel=stacklevel)


def count(name, value, default):
    """``maxiter`` / ``maxfev`` as SciPy's methods take them: a non-negative number (a float is
    truncated, as SciPy's methods take ``maxiter=100.1``: scipy gh-23430), ``None`` for the
    default, ``inf`` for no limit (``sys.maxsize``)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or (
            value < 0):
        raise ValueError(f"{name} must be a non-negative number, None or inf, got {value!r}")
    if math.isinf(value):
        return sys.maxsize
    return min(int(value), sys.maxsize)  # no run gets near: a count compiled code can take


def tolerance(name, value):
    """A tolerance (or clipping threshold): ``None``, or a non-negative real number."""
    if value is None:
        return None
    value = real_scalar(name, value)
    if not value >= 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def disp_flag(value):
    """The ``disp`` option, checked: a bool, or an integer (SciPy's methods take ``disp=1``)."""
    return flag("disp", bool(value) if isinstance(value, (int, np.integer)) else value)


def jac_out_flag(value, jac):
    """The ``jac_out`` option, checked: it needs a gradient function (a callable ``jac`` or
    ``jac=True``) to hand the array to."""
    value = flag("jac_out", value)
    if value and not (callable(jac) or jac is True):
        raise ValueError(f"jac_out=True needs a callable jac or jac=True, got jac={jac!r}")
    return value


def check_stops(maxiter, maxfev, any_tolerance):
    """An unlimited ``maxiter`` needs something else to stop the run."""
    if maxiter == sys.maxsize and maxfev in (None, sys.maxsize) and not any_tolerance:
        raise ValueError("maxiter=inf needs a tolerance (gtol, ftol or xtol) or a finite "
                         "maxfev to stop at")


def relative_step(rel_step, n):
    """``finite_diff_rel_step`` checked: None, or finite numbers, one or one per variable (as
    SciPy, which falls back on its default step where one gives a step of 0)."""
    if rel_step is None:
        return None
    try:
        steps = np.asarray(rel_step, dtype=np.float64)
    except (TypeError, ValueError):
        steps = None
    if steps is None or steps.ndim > 1 or steps.size not in (1, n) or not (
            np.isfinite(steps).all()):
        raise ValueError(f"finite_diff_rel_step must be None or finite numbers (one, or one "
                         f"per variable: {n}), got {rel_step!r}")
    return float(steps.ravel()[0]) if steps.size == 1 else steps


def schedule_from(schedule, schedule_options, lr, maxiter):
    """The ``schedule`` option as a callable ``k -> lr`` (``None`` without one)."""
    if schedule is None:
        return None
    if callable(schedule):
        return schedule
    if schedule not in schedules.SCHEDULES:
        raise ValueError(f"schedule must be a callable or one of {list(schedules.SCHEDULES)}, "
                         f"got {schedule!r}")
    settings = dict(schedule_options or {})
    if schedule == "cosine":
        settings.setdefault("T_max", maxiter)
    return schedules.SCHEDULES[schedule](lr, **settings)


def generator(seed):
    """The ``seed`` option as a ``numpy.random.Generator`` (``np.random.default_rng(seed)``: a
    Generator passed is used as it is); anything it refuses raises a ValueError naming the
    option."""
    if isinstance(seed, (bool, np.bool_, float, np.floating)):
        raise ValueError(f"seed must be None, a non-negative int, a sequence of them, a numpy "
                         f"SeedSequence or Generator, got {seed!r:.80}")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as error:
        raise ValueError(f"seed must be None, a non-negative int, a sequence of them, a numpy "
                         f"SeedSequence or Generator, got {seed!r:.80} ({error})") from None


def generators(seed, B):
    """One generator per problem of a batch (:func:`problem_seeds`)."""
    return [generator(item) for item in problem_seeds(seed, B)]


def problem_seeds(seed, B):
    """The ``seed`` option of a batch as one ``minimize`` seed per problem: problem ``b`` draws
    as ``minimize`` with ``seed=np.random.SeedSequence(seed).spawn(B)[b]`` (``seed`` None, an
    int or a SeedSequence), or with ``seed=seed[b]`` (a sequence of ``B`` seeds)."""
    if seed is None or isinstance(seed, (numbers.Integral, np.random.SeedSequence)) and not (
            isinstance(seed, (bool, np.bool_))):
        try:
            sequence = (seed if isinstance(seed, np.random.SeedSequence)
                        else np.random.SeedSequence(seed))
        except (TypeError, ValueError) as error:
            raise ValueError(f"seed must be None, a non-negative int, a SeedSequence or a "
                             f"sequence of B = {B} seeds, got {seed!r:.80} ({error})") from None
        # sequence.spawn(B)'s children, without counting them as spawned in a SeedSequence the
        # caller passed (a second batch with it draws the same)
        return [np.random.SeedSequence(sequence.entropy, spawn_key=(*sequence.spawn_key, b),
                                       pool_size=sequence.pool_size) for b in range(B)]
    if isinstance(seed, (list, tuple, np.ndarray)) and len(seed) == B:
        return list(seed)
    raise ValueError(f"seed must be None, a non-negative int, a SeedSequence or a sequence of "
                     f"B = {B} seeds (one per problem), got {seed!r:.80}")


def spsa_estimate(settings):
    """The options of ``jac="spsa"`` checked: ``(c, gamma, samples)``."""
    c = real_scalar("spsa_c", settings["spsa_c"])
    if not 0 < c < math.inf:
        raise ValueError(f"spsa_c must be a positive finite number, got {c}")
    gamma = real_scalar("spsa_gamma", settings["spsa_gamma"])
    if not 0 <= gamma < math.inf:
        raise ValueError(f"spsa_gamma must be a non-negative finite number, got {gamma}")
    samples = settings["spsa_samples"]
    if isinstance(samples, (bool, np.bool_)) or not isinstance(samples, numbers.Integral) or (
            samples < 1):
        raise ValueError(f"spsa_samples must be a positive integer, got {samples!r}")
    return c, gamma, int(samples)


def return_best_flag(options, jac):
    """The ``return_best`` option checked, defaulting to False with ``jac="spsa"``: the loop
    compares SPSA's means, noisy estimates, and its lowest is the luckiest draw (in the
    benchmark, 5% higher at the end than the last iterate)."""
    default = OPTION_DEFAULTS["return_best"] and not (isinstance(jac, str) and jac == "spsa")
    return flag("return_best", options.get("return_best", default))


def spsa_jac(method, jac):
    """``jac`` for ``method``: ``method="spsa"`` takes only its own estimate (``None`` or
    ``"spsa"``, which it becomes)."""
    if method != SPSA:
        return jac
    if jac is not None and not (isinstance(jac, str) and jac == "spsa"):
        raise ValueError(f"method='spsa' estimates its gradient itself: jac must be None or "
                         f"'spsa', got {jac!r:.80}")
    return "spsa"


def spsa_parts(hyperparameters, maxiter, maxfev, samples):
    """``method="spsa"`` as what runs it: the SGD hyperparameters and the gain schedule
    ``k -> a / (k + 1 + A) ** alpha`` (:func:`numadam.schedules.spsa`), ``A`` defaulting to
    0.01 times the iteration budget (``maxiter``, or the ``maxfev // (2 * samples)``
    estimates ``maxfev`` affords when fewer; 0 when neither is finite)."""
    a = nonnegative("a", hyperparameters["a"])
    alpha = nonnegative("alpha", hyperparameters["alpha"])
    A = hyperparameters["A"]  # noqa: N806 - Spall's name
    if A is None:
        budget = maxiter if maxfev is None else min(maxiter, maxfev // (2 * samples))
        A = 0.0 if budget == sys.maxsize else 0.01 * budget  # noqa: N806
    A = nonnegative("A", A)  # noqa: N806
    return {"lr": a}, schedules.spsa(a, A, alpha)


_UNSET = object()


#: The options of minimize_batch besides the method's hyperparameters.
BATCH_OPTIONS = {
    "maxiter": 1000,
    "maxfev": None,
    "gtol": None,
    "ftol": None,
    "xtol": None,
    "callback_every": 1,
    "compiled": True,
    "return_best": True,
    "jac_out": False,
    "disp": False,
    # accepted and ignored, as by minimize: every problem stops at its first NaN/inf
    "check_finite": None,
    "groups": None,
    "seed": None,
    "spsa_samples": OPTION_DEFAULTS["spsa_samples"],
    "spsa_c": OPTION_DEFAULTS["spsa_c"],
    "spsa_gamma": OPTION_DEFAULTS["spsa_gamma"],
    **{name: OPTION_DEFAULTS[name] for name in SHARED_WITH_BATCH},
}


#: minimize's options that minimize_batch refuses (ValueError) rather than ignores: schedules,
#: clipping and averaging act in minimize's Python loop between iterations, and the batch has
#: no finite_diff_rel_step or device. Any later option of minimize lands here until the batch
#: supports it.
REFUSED_OPTIONS = tuple(name for name in COMMON_OPTIONS if name not in BATCH_OPTIONS)


def batch_settings(method, options, B):
    """Split ``options`` into the method's hyperparameters (scalar or per problem) and the
    batch settings; minimize's options that the batch does not support raise
    (:data:`REFUSED_OPTIONS`), unknown names warn, as in SciPy."""
    cls, fixed = method_class(method)
    names = SPSA_HYPERPARAMETERS if method == SPSA else cls.hyperparameter_names()
    hyperparameters = dict.fromkeys(names, _UNSET)
    # refused when set to anything but minimize's default (a dict of options shared with
    # minimize may spell out schedule=None or device="cpu")
    refused = sorted(name for name, value in options.items()
                     if name in REFUSED_OPTIONS and name not in hyperparameters
                     and not is_default(value, OPTION_DEFAULTS[name]))
    if refused:
        names = ", ".join(f"{name!r}" for name in refused)
        raise ValueError(f"minimize_batch does not support the option{'s' * (len(refused) > 1)}"
                         f" {names}, which numadam.minimize does: run those problems one by "
                         f"one with numadam.minimize")
    settings = dict(BATCH_OPTIONS)
    # minimize's options left at their defaults are known, not unknown: no warning for them
    options = {name: value for name, value in options.items()
               if name not in REFUSED_OPTIONS or name in hyperparameters}
    split_options(method, options, hyperparameters, settings, stacklevel=4)
    hyperparameters = {k: v for k, v in hyperparameters.items() if v is not _UNSET}
    per_problem = {}
    if method == SPSA:  # the gain is one sequence for the batch (spsa_parts makes it)
        for name, value in hyperparameters.items():
            if np.ndim(value):
                raise ValueError(f"method='spsa' takes {name} as one value for the whole batch, "
                                 f"not an array")
        return cls, {name: SPSA_HYPERPARAMETERS[name][0] for name in SPSA_HYPERPARAMETERS} | (
            hyperparameters), per_problem, settings
    specs = cls.variant.hyperparameters()
    for name, value in hyperparameters.items():
        spec = specs[name]
        # a pair (betas, etas, step_sizes) is per problem as a (B, 2) array, not as one pair
        pair = isinstance(spec.default, tuple)
        if isinstance(value, np.ndarray) and value.ndim >= (2 if pair else 1):
            if value.shape[0] != B:
                raise ValueError(f"per-problem hyperparameter {name} must have length B = {B};"
                                 f" got shape {value.shape}")
            if value.dtype.kind not in "biuf":  # objects, text, complex: not one number each
                raise TypeError(f"per-problem hyperparameter {name} must be an array of real "
                                f"numbers, got dtype {value.dtype}")
            if spec.fixed:
                raise ValueError(f"{name} decides which state vectors exist: it must be one "
                                 f"value for the whole batch, not an array")
            if name == "maximize":
                raise ValueError("maximize must be one value for the whole batch, not an "
                                 "array")
            per_problem[name] = value
    scalars = {k: v for k, v in {**fixed, **hyperparameters}.items() if k not in per_problem}
    return cls, scalars, per_problem, settings


def is_default(value, default):
    """Whether an option's ``value`` is ``default`` (``None``, a string, or a number)."""
    if default is None or value is None:
        return value is default
    if isinstance(default, (str, bool)):
        return type(value) is type(default) and value == default
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == default


@dataclasses.dataclass(frozen=True)
class Settings:
    """``minimize``'s options, checked: what the front end hands to the loop it picks.

    Tolerances are ``None`` when not requested; ``maxfev`` is ``None`` without a limit.
    """

    hyperparameters: dict
    maxiter: int
    maxfev: int | None
    gtol: float | None
    ftol: float | None
    xtol: float | None
    disp: bool
    clip_norm: float | None
    clip_value: float | None
    average: str | None
    average_decay: float
    average_start: int
    compiled: bool | str
    device: str
    return_best: bool
    jac_out: bool
    schedule: object
    schedule_options: object
    finite_diff_rel_step: object
    seed: object = None
    spsa: tuple = (1.0, 0.101, 1)  # jac="spsa"'s (c, gamma, samples)
    state: dict | None = None
    progress: bool = False
    groups: list | None = None

    @property
    def any_tolerance(self):
        return self.gtol is not None or self.ftol is not None or self.xtol is not None

    @property
    def between_iterations(self):
        """Whether an option acts between two iterations (a schedule, clipping, averaging):
        only the Python loop runs those."""
        return (self.schedule is not None or self.clip_norm is not None
                or self.clip_value is not None or self.average is not None)


def minimize_settings(method, options, jac, stacklevel):
    """``options`` of ``minimize(method=method)`` sorted into the method's hyperparameters and
    the front end's settings, every one checked (:class:`Settings`). Unknown names warn at
    ``stacklevel`` (``OptimizeWarning``), as in SciPy."""
    hyperparameters = {name: default for name, (default, _) in hyperparameters_of(method).items()}
    settings = dict(OPTION_DEFAULTS)
    split_options(method, options, hyperparameters, settings, stacklevel + 1)
    gtol, ftol, xtol = (tolerance(k, settings[k]) for k in ("gtol", "ftol", "xtol"))
    maxiter = count("maxiter", settings["maxiter"], OPTION_DEFAULTS["maxiter"])
    maxfev = count("maxfev", settings["maxfev"], None)
    check_stops(maxiter, maxfev, gtol is not None or ftol is not None or xtol is not None)
    average = settings["average"]
    if average not in (None, "polyak", "ema"):
        raise ValueError(f"average must be None, 'polyak' or 'ema', got {average!r}")
    average_start = settings["average_start"]
    if (isinstance(average_start, bool) or not isinstance(average_start, (int, np.integer))
            or average_start < 0):
        raise ValueError(f"average_start must be a non-negative integer, got {average_start!r}")
    compiled = settings["compiled"]
    if compiled not in (True, False, "specialize"):
        raise ValueError(f"compiled must be True, False or 'specialize', got {compiled!r}")
    device = settings["device"]
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    estimate = spsa_estimate(settings)
    schedule = settings["schedule"]
    groups = settings["groups"]
    if groups is not None:
        if isinstance(groups, Mapping) or not isinstance(groups, Sequence):
            raise TypeError(f"groups must be a list of dicts, got {type(groups).__name__}")
        if schedule is not None:
            raise ValueError("groups cannot be combined with a schedule: give each group its "
                             "own lr")
    if method == SPSA:
        if schedule is not None:
            raise ValueError("method='spsa' steps by its own gain sequence (a, A, alpha): the "
                             "schedule option cannot be set")
        hyperparameters, schedule = spsa_parts(hyperparameters, maxiter, maxfev, estimate[2])
    return Settings(
        hyperparameters=hyperparameters, maxiter=maxiter, maxfev=maxfev, gtol=gtol, ftol=ftol,
        xtol=xtol, disp=disp_flag(settings["disp"]),
        clip_norm=tolerance("clip_norm", settings["clip_norm"]),
        clip_value=tolerance("clip_value", settings["clip_value"]), average=average,
        average_decay=unit_interval("average_decay", settings["average_decay"]),
        average_start=average_start, compiled=compiled, device=device,
        return_best=return_best_flag(options, jac),
        jac_out=jac_out_flag(settings["jac_out"], jac), schedule=schedule,
        schedule_options=settings["schedule_options"],
        finite_diff_rel_step=settings["finite_diff_rel_step"], seed=settings["seed"],
        spsa=estimate, state=settings["state"], progress=flag("progress", settings["progress"]),
        groups=None if groups is None else list(groups))
