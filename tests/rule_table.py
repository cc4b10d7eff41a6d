"""The shared rule table: one row per optimizer class / minimize method, with the option grid its
tests sweep. Every test that runs "each rule" reads this table; a new rule adds one row.

A row names the registry entry (``method``), its optimizer class, its reference in
``numadam._reference``, and a grid ``{option: values}`` whose product is tested (``skip`` drops
combinations the optimizer refuses, as PyTorch does).
"""

import itertools
from dataclasses import dataclass, field

import pytest

import numadam
from numadam import _reference


@dataclass(frozen=True)
class Row:
    method: str
    cls: type
    reference: object
    grid: dict
    skip: object = None
    #: options for the short tests (one representative mix)
    sample: dict = field(default_factory=dict)

    def cases(self):
        names = list(self.grid)
        for values in itertools.product(*self.grid.values()):
            options = dict(zip(names, values))
            if self.skip is None or not self.skip(options):
                yield options


def _nesterov_refused(o):
    return o.get("nesterov") and (o.get("momentum", 0) == 0 or o.get("dampening", 0) != 0)


ROWS = [
    Row("adam", numadam.Adam, _reference.adam,
        dict(lr=[1e-2], betas=[(0.9, 0.999), (0.0, 0.99)], weight_decay=[0.0, 0.1],
             amsgrad=[False, True], maximize=[False, True], decoupled_weight_decay=[False, True]),
        sample=dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
    Row("adamw", numadam.AdamW, _reference.adamw,
        dict(lr=[1e-2], weight_decay=[0.0, 0.1], amsgrad=[False, True], maximize=[False, True]),
        sample=dict(lr=1e-2, weight_decay=0.1)),
    Row("rmsprop", numadam.RMSProp, _reference.rmsprop,
        dict(lr=[1e-2], alpha=[0.99, 0.3], weight_decay=[0.0, 0.1], momentum=[0.0, 0.9],
             centered=[False, True], maximize=[False, True]),
        sample=dict(lr=1e-2, centered=True, momentum=0.5)),
    Row("sgd", numadam.SGD, _reference.sgd,
        dict(lr=[1e-2], momentum=[0.0, 0.9], dampening=[0.0, 0.1], nesterov=[False, True],
             weight_decay=[0.0, 0.1], maximize=[False, True]),
        skip=_nesterov_refused, sample=dict(lr=1e-2, momentum=0.9, nesterov=True)),
    Row("momentum", numadam.Momentum, _reference.momentum,
        dict(lr=[1e-2], momentum=[0.9], dampening=[0.0, 0.1], weight_decay=[0.0, 0.1]),
        sample=dict(lr=1e-2)),
    Row("adamax", numadam.Adamax, _reference.adamax,
        dict(lr=[2e-3], betas=[(0.9, 0.999), (0.3, 0.99)], eps=[1e-8, 1e-1],
             weight_decay=[0.0, 0.1], maximize=[False, True]),
        sample=dict(lr=2e-3, weight_decay=0.1)),
    Row("adagrad", numadam.Adagrad, _reference.adagrad,
        dict(lr=[1e-2], lr_decay=[0.0, 0.01], weight_decay=[0.0, 0.1],
             initial_accumulator_value=[0.0, 0.1], maximize=[False, True]),
        sample=dict(lr=1e-2, lr_decay=0.01, initial_accumulator_value=0.1)),
    Row("adadelta", numadam.Adadelta, _reference.adadelta,
        dict(lr=[1.0], rho=[0.9, 0.3], weight_decay=[0.0, 0.1], maximize=[False, True]),
        sample=dict(rho=0.95, weight_decay=0.1)),
    Row("schedulefree_adamw", numadam.ScheduleFreeAdamW, _reference.schedulefree_adamw,
        dict(lr=[1e-2], betas=[(0.9, 0.999), (0.3, 0.99)], weight_decay=[0.0, 0.1],
             warmup_steps=[0, 20], r=[0.0, 0.5], maximize=[False, True]),
        sample=dict(lr=1e-2, warmup_steps=5, weight_decay=0.1)),
    Row("nadam", numadam.NAdam, _reference.nadam,
        dict(lr=[1e-2], betas=[(0.9, 0.999), (0.3, 0.9)], weight_decay=[0.0, 0.1],
             momentum_decay=[4e-3, 0.1], decoupled_weight_decay=[False, True],
             maximize=[False, True]),
        sample=dict(lr=1e-2, weight_decay=0.1, momentum_decay=0.1)),
    Row("radam", numadam.RAdam, _reference.radam,
        dict(lr=[1e-2], betas=[(0.9, 0.999), (0.3, 0.9)], weight_decay=[0.0, 0.1],
             decoupled_weight_decay=[False, True], maximize=[False, True]),
        sample=dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    Row("rprop", numadam.Rprop, _reference.rprop,
        dict(lr=[1e-2, 0.1], etas=[(0.5, 1.2), (0.3, 2.0)],
             step_sizes=[(1e-6, 50.0), (1e-3, 0.05)], maximize=[False, True]),
        sample=dict(lr=1e-2, etas=(0.3, 2.0), step_sizes=(1e-3, 0.05))),
    Row("lion", numadam.Lion, _reference.lion,
        dict(lr=[1e-2], betas=[(0.9, 0.99), (0.0, 0.5), (0.3, 0.9)], weight_decay=[0.0, 0.1],
             maximize=[False, True]),
        sample=dict(lr=1e-2, weight_decay=0.1)),
    Row("asgd", numadam.ASGD, _reference.asgd,
        dict(lr=[1e-2], lambd=[1e-4, 0.1], t0=[1e6, 20.0], weight_decay=[0.0, 0.1],
             maximize=[False, True]),
        sample=dict(lr=1e-2, lambd=0.1, t0=20.0, weight_decay=0.1)),
    Row("adopt", numadam.ADOPT, _reference.adopt,
        dict(lr=[1e-2], betas=[(0.9, 0.9999), (0.3, 0.9)], nesterov=[False, True],
             use_clipping=[True, False], maximize=[False, True]),
        sample=dict(lr=1e-2, nesterov=True)),
    Row("ademamix", numadam.AdEMAMix, _reference.ademamix,
        dict(lr=[1e-2], betas=[(0.9, 0.999, 0.9999), (0.3, 0.9, 0.99)], eps_root=[0.0, 1e-8],
             weight_decay=[0.0, 0.1], maximize=[False, True]),
        sample=dict(lr=1e-2, alpha=2.0, weight_decay=0.1)),
    # a reduction stage (global sums each step): few options varied, each grid point compiles
    # nothing new, but the option mixes are kept short for the suite's time
    Row("prodigy", numadam.Prodigy, _reference.prodigy,
        dict(d0=[1e-2], betas=[(0.9, 0.999), (0.0, 0.99)], weight_decay=[0.0, 0.1],
             decouple=[True, False], use_bias_correction=[False, True]),
        skip=lambda o: not o["weight_decay"] and not o["decouple"],
        sample=dict(d0=1e-2, weight_decay=0.1, safeguard_warmup=True)),
    Row("dadapt_adam", numadam.DAdaptAdam, _reference.dadapt_adam,
        dict(d0=[1e-2], weight_decay=[0.0, 0.1], decouple=[False, True],
             use_bias_correction=[False, True]),
        skip=lambda o: not o["weight_decay"] and o["decouple"],
        sample=dict(d0=1e-2, weight_decay=0.1, decouple=True)),
    Row("dog", numadam.DoG, _reference.dog,
        dict(init_step=[("heuristic", 1e-6), ("distance", 1e-2), ("learning_rate", 1e-2)],
             weight_decay=[None, 0.1], maximize=[False, True]),
        sample=dict(init_step=("distance", 1e-2), weight_decay=0.1)),
    Row("adafactor", numadam.Adafactor, _reference.adafactor,
        dict(lr=[1e-2], weight_decay=[0.0, 0.1], maximize=[False, True],
             eps=[(None, 1e-3), (1e-30, 1e-3)]),
        sample=dict(lr=1e-2, weight_decay=0.1, d=1.5)),
]

BY_METHOD = {row.method: row for row in ROWS}

#: the rows without a reduction stage: what every target runs (ZeRO-1 and parameter groups
#: refuse a rule whose step needs sums over the whole vector; the tests of the other targets
#: check the reduction rules on their own, where they need longer vectors or other steps)
ELEMENTWISE_ROWS = [row for row in ROWS if row.cls.variant.rule.reduction is None]
ELEMENTWISE = tuple(row.method for row in ELEMENTWISE_ROWS)


#: the rows whose parallel kernels the fast suite checks on their own: a parallel kernel is the
#: rule's element in the same threaded template, so the core capabilities (Adam's state vectors,
#: SGD's flags, NAdam's carried scalar, schedule-free's modes) stand for the other elementwise
#: rules, while a rule with a reduction sums in parallel blocks of its own; ``-m slow`` checks
#: every row (and the whole grids run every row threaded)
THREADED_CORE = {"adam", "sgd", "nadam", "schedulefree_adamw"}
PARALLEL_ROWS = [row for row in ROWS
                 if row.method in THREADED_CORE or row.cls.variant.rule.reduction is not None]


def threaded_sample(params, parallel=lambda values: True):
    """``params`` (``pytest.param``s whose first value is a row) with those that run threaded
    (``parallel(values)``) on a row outside :data:`PARALLEL_ROWS` marked ``slow``."""
    return [param if param.values[0] in PARALLEL_ROWS or not parallel(param.values)
            else pytest.param(*param.values, id=param.id, marks=[*param.marks, pytest.mark.slow])
            for param in params]


def all_cases(rows=ROWS):
    """``pytest.param(row, options)`` for every row and every option combination."""
    return [pytest.param(row, options, id=f"{row.method}-{options}")
            for row in rows for options in row.cases()]


def covering_cases(extra=None, shift=0, strength=2, rows=ROWS):
    """``pytest.param(row, options, *extra values)`` for a few option combinations of every row
    that together hold every value of each option (``strength=1``), or every pair of values of
    two options (``strength=2``), that the row's full grid holds; the factors of ``extra``
    ({name: values}, e.g. the dtype) count as options. Deterministic: greedy, the first best
    combination taken; ``shift`` rotates the order in which combinations are considered, so that
    callers passing different shifts cover with different combinations."""
    extra = extra or {}
    params = []
    for row in rows:
        cases = [(options, values) for options in row.cases()
                 for values in itertools.product(*extra.values())]
        start = (shift * 7) % len(cases)
        cases = cases[start:] + cases[:start]

        def covered(case):
            options, values = case
            items = [(name, repr(value)) for name, value in
                     [*options.items(), *zip(extra, values)]]
            return {combination for size in range(1, strength + 1)
                    for combination in itertools.combinations(items, size)}

        needed = set().union(*map(covered, cases))
        while needed:
            best = max(cases, key=lambda case: len(covered(case) & needed))
            needed -= covered(best)
            options, values = best
            label = "-".join([row.method, str(options), *map(_label, values)])
            params.append(pytest.param(row, options, *values, id=label))
    return params


def _label(value):
    return getattr(value, "__name__", str(value))


def sample_cases():
    """One representative option mix per row."""
    return [pytest.param(row, row.sample, id=row.method) for row in ROWS]


class ReferenceRun:
    """The reference update with its own state, driven step by step like an optimizer."""

    def __init__(self, row, x, options):
        self.row, self.x, self.options, self.state = row, x, dict(options), {}
        # the optimizer's full hyperparameters: its defaults, then the options given
        defaults = {name: p.default for name, p in row.cls.__signature__.parameters.items()
                    if name in row.cls.hyperparameter_names()}
        self.hyperparameters = {**defaults, **self.options}

    def step(self, grad):
        self.row.reference(self.x, grad, self.state, **self.hyperparameters)


# -- which methods each front end is checked with ------------------------------------------------

#: The front ends that compile a loop of their own for each rule: minimize's lean loop (a
#: generator driving Python objectives), its compiled loop (jitted objectives) and
#: minimize_batch's vectorized form. Each is checked against minimize's general Python loop.
FRONT_ENDS = ("lean", "compiled", "vectorized")

#: The methods every front end is checked with in the fast suite. Between them they hold every
#: capability of the rule framework a loop has to carry: per-step inputs (Adam's bias
#: corrections), a flag fixed at compile time that adds a state vector (AMSGrad), scalar state
#: carried from step to step (NAdam's momentum product), a parameter vector holding one of two
#: points with a state vector starting as a copy of the parameters (schedule-free), no
#: bias correction and flags among the constants (Nesterov).
CORE_METHODS = ("adam", "amsgrad", "nadam", "schedulefree_adamw", "nesterov")


def front_end_methods(front_end, methods):
    """``methods`` as test parameters for ``front_end`` (one of :data:`FRONT_ENDS`): the
    :data:`CORE_METHODS`, and of the others every len(FRONT_ENDS)-th, so that each method runs
    through one front end at least; the rest are marked ``slow`` (each costs a compile of a few
    seconds, the same code as the core methods' save the rule's element)."""
    others = [method for method in methods if method not in CORE_METHODS]
    turn = FRONT_ENDS.index(front_end)
    fast = set(CORE_METHODS) | set(others[turn::len(FRONT_ENDS)])
    return [method if method in fast else pytest.param(method, marks=pytest.mark.slow)
            for method in methods]
