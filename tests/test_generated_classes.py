"""numadam/_optimizer_classes.py, the optimizer classes written out as source, is in step with the
registry it is generated from (and so are numadam/__init__.py's lists of its classes)."""

import difflib
import inspect

import numpy as np
import pytest

import numadam
from numadam import _generate_classes, _optimizer, optimizers
from numadam.rules import VARIANTS


def test_the_generated_files_are_in_step_with_the_registry():
    """Adding a rule or changing one (a default, a hyperparameter, its docs) needs the classes
    regenerated."""
    for path, expected in _generate_classes.outputs().items():
        written = path.read_text(encoding="utf-8")
        diff = "".join(list(difflib.unified_diff(
            written.splitlines(keepends=True), expected.splitlines(keepends=True),
            str(path), "what the registry gives"))[:40])
        assert written == expected, (
            f"{path} is out of step with the registry (numadam.rules): regenerate it with "
            f"`python -m numadam._generate_classes`\n{diff}")
    assert _generate_classes.main(["--check"]) == 0


def test_every_class_is_the_generated_one_bound_to_its_registry_entry():
    for variant in VARIANTS:
        if not variant.class_name:
            continue
        cls = optimizers.CLASSES[variant.class_name]
        assert cls.__module__ == "numadam._optimizer_classes"
        assert cls.__qualname__ == variant.class_name
        assert cls.variant is variant and getattr(numadam, variant.class_name) is cls
        assert getattr(optimizers, variant.class_name) is cls
        assert list(cls.__signature__.parameters) == list(
            _optimizer.signature_of(variant).parameters)
        assert inspect.signature(cls) == cls.__signature__
        assert inspect.getdoc(cls) == inspect.cleandoc(_optimizer.class_doc(variant))
    assert numadam.RMSprop is numadam.RMSProp is optimizers.RMSprop


def test_a_class_out_of_step_warns_and_still_imports():
    """So that the module can be regenerated: importing numadam must not fail on it."""
    stale = _generate_classes.render_module().replace(
        "        lr: float = 0.0001,\n", "        lr: float = 0.5,\n", 1)  # Lion's default
    assert "lr: float = 0.5" in stale
    with pytest.warns(RuntimeWarning, match=r"(?s)out of step.*Lion.*python -m "
                                            r"numadam._generate_classes"):
        namespace = {}
        exec(compile(stale, "<stale numadam/_optimizer_classes.py>", "exec"), namespace)
    assert namespace["Lion"](np.zeros(2)).lr == 0.5  # what its signature says
    assert numadam.Lion(np.zeros(2)).lr == 1e-4  # the real class is untouched


def test_a_class_missing_from_the_generated_module_is_made_from_the_registry():
    adamw = next(variant for variant in VARIANTS if variant.class_name == "AdamW")
    with pytest.warns(RuntimeWarning, match="no class AdamW"):
        cls = _optimizer.optimizer_class(adamw, optimizers.CLASSES)
    assert cls.__bases__ == (numadam.Adam,) and cls.variant is adamw
    assert inspect.signature(cls).parameters.keys() == inspect.signature(
        numadam.AdamW).parameters.keys()
    x, y = np.ones(3), np.ones(3)
    made, generated = cls(x, 0.1, weight_decay=0.5), numadam.AdamW(y, 0.1, weight_decay=0.5)
    made.step(np.arange(3.0))
    generated.step(np.arange(3.0))
    np.testing.assert_array_equal(x, y)
