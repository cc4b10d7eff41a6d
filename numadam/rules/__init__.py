"""The registry of update rules: the one list everything else is derived from.

Each rule lives in its own module (``numadam/rules/adam.py`` ...) with its element function, its
per-step scalars, its state and its hyperparameters (see :mod:`numadam.rules._rule`). Each entry
of :data:`VARIANTS` below becomes an optimizer class (``numadam.Adam``), a ``minimize`` method
(``method="adam"``) with its SciPy entry point (``numadam.adam``), a CLI ``--optimizer`` choice
and a row of the tests' rule table. Adding a rule: its module, its reference in
``numadam/_reference.py``, one line here, one row in ``tests/rule_table.py``, then
``python -m numadam._generate_classes`` to write its class out (numadam/_optimizer_classes.py;
tests/test_generated_classes.py checks that it is in step with this registry).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from numadam.rules import (
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    ademamix,
    adopt,
    asgd,
    dadapt_adam,
    dog,
    lion,
    nadam,
    prodigy,
    radam,
    rmsprop,
    rprop,
    schedulefree_adamw,
    sgd,
)
from numadam.rules._rule import (
    REDUCTION_BLOCK,
    REDUCTION_LANES,
    Hyperparameter,
    Reduction,
    Rule,
    element_name,
    inlined_on_cpu,
    refuse,
)


@dataclass(frozen=True)
class Variant:
    """A rule under a name: an optimizer class and a ``minimize`` method.

    ``defaults`` change the rule's defaults (``AdamW``'s ``weight_decay=1e-2``); ``fixed`` settings
    are not arguments at all (``AdamW`` is always decoupled). ``class_name=None`` makes a method
    only (``method="amsgrad"``), ``method=None`` a class only.
    """

    method: str | None
    class_name: str | None
    rule: Rule
    defaults: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    doc: str | None = None

    def hyperparameters(self) -> dict[str, Hyperparameter]:
        """The hyperparameters this variant takes, with its own defaults."""
        return {
            name: dataclasses.replace(spec, default=self.defaults.get(name, spec.default))
            for name, spec in self.rule.hyperparameters.items() if name not in self.fixed
        }


VARIANTS = (
    Variant("adam", "Adam", adam.RULE),
    Variant("adamw", "AdamW", adam.RULE, defaults={"weight_decay": 1e-2},
            fixed={"decoupled_weight_decay": True}, doc=adam.DOC_W),
    Variant("amsgrad", None, adam.RULE, fixed={"amsgrad": True}),
    Variant("rmsprop", "RMSProp", rmsprop.RULE),
    Variant("sgd", "SGD", sgd.RULE),
    Variant("momentum", "Momentum", sgd.RULE, defaults={"momentum": 0.9}, doc=sgd.DOC_MOMENTUM),
    Variant("nesterov", None, sgd.RULE, fixed={"momentum": 0.9, "nesterov": True}),
    Variant("adamax", "Adamax", adamax.RULE),
    Variant("adagrad", "Adagrad", adagrad.RULE),
    Variant("adadelta", "Adadelta", adadelta.RULE),
    Variant("schedulefree_adamw", "ScheduleFreeAdamW", schedulefree_adamw.RULE),
    Variant("nadam", "NAdam", nadam.RULE),
    Variant("radam", "RAdam", radam.RULE),
    Variant("rprop", "Rprop", rprop.RULE),
    Variant("lion", "Lion", lion.RULE),
    Variant("asgd", "ASGD", asgd.RULE),
    Variant("adopt", "ADOPT", adopt.RULE),
    Variant("ademamix", "AdEMAMix", ademamix.RULE),
    Variant("prodigy", "Prodigy", prodigy.RULE),
    Variant("dadapt_adam", "DAdaptAdam", dadapt_adam.RULE),
    Variant("dog", "DoG", dog.RULE),
    Variant("adafactor", "Adafactor", adafactor.RULE),
)

RULES = tuple(dict.fromkeys(variant.rule for variant in VARIANTS))

__all__ = ["REDUCTION_BLOCK", "REDUCTION_LANES", "Hyperparameter", "Reduction", "Rule", "Variant",
           "VARIANTS", "RULES", "element_name", "inlined_on_cpu", "refuse"]
