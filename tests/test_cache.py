"""Numba's disk cache of numadam's per-rule loops follows edits of the code they inline, and of
nothing else."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from numadam import _batch_loops, _cache, _compiled_loop, _step_tables, kernels
from numadam.rules import RULES, adam, nadam, sgd

PACKAGE = _cache.PACKAGE

#: Modules that no loop inlines: an edit of one must not recompile anything.
UNRELATED = ("mnist.py", "functions.py", "problems.py", "datasets.py", "distributed.py",
             "_minimize.py", "optimizers.py", "mlp.py", "cuda.py", "rules/__init__.py",
             "rules/_jit.py", "_validation.py")


def loops(rule):
    """Every generated function of ``rule`` that Numba caches on disk, by the module that
    defines it, before keying (as its call site builds it)."""
    scalars = _step_tables.jitable_step_scalars(rule)
    return {
        "kernels.py": kernels.for_rule(rule.element).serial.py_func,
        "_compiled_loop.py": _compiled_loop.make_loop(rule),
        "_compiled_loop.py (driver)": _compiled_loop.make_driver(rule),
        "_step_tables.py": _step_tables._make_step_table(scalars),
        "_batch_loops.py": _batch_loops.run_source(rule, False),
    }


def names(files):
    return {path.relative_to(PACKAGE).as_posix() for path in files}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_a_loop_depends_on_its_module_and_its_rule_not_on_the_rest(rule):
    rule_file = Path(sys.modules[rule.element.__module__].__file__).name
    for module, loop in loops(rule).items():
        found = names(_cache.dependencies(loop))
        assert module.split()[0] in found, module
        assert f"rules/{rule_file}" in found, module
        assert not found & set(UNRELATED), module
        assert not {name for name in found if name.startswith("rules/")} - {
            f"rules/{rule_file}", "rules/_rule.py", "rules/adam.py"}, module
    everything = names(_cache.dependencies(_batch_loops.run_source(rule, False)))
    assert {"_batch_loops.py", "_compiled_loop.py", "_policy.py", "_step_tables.py",
            "kernels.py"} <= everything


def test_the_modules_a_rule_borrows_from_count_for_its_loops():
    """NAdam's element calls ``adam.moments``; SGD's module imports a hyperparameter check from
    rmsprop.py, which no loop runs."""
    assert "rules/adam.py" in names(_cache.dependencies(kernels.for_rule(nadam.update).serial))
    assert "rules/rmsprop.py" not in names(
        _cache.dependencies(kernels.for_rule(sgd.update).serial))


def test_a_constant_counts_with_the_module_it_is_imported_from():
    """Numba freezes a global constant into the code: a function of _batch_loops.py that names
    NONFINITE depends on _policy.py, where _batch_loops.py imports it from."""
    namespace = {}
    source = "def uses():\n    return NONFINITE, kernels.count_nonfinite\n"
    exec(compile(source, _batch_loops.__file__, "exec"), vars(_batch_loops), namespace)
    found = names(_cache.dependencies(namespace["uses"]))
    assert found == {"_batch_loops.py", "_policy.py", "kernels.py"}


@pytest.fixture
def edited(monkeypatch):
    """``edited({path: (old, new)})``: the keys computed from now on see each file (relative
    to the package) with ``old`` replaced by ``new``; the files themselves stay as they are."""
    edits = {}
    read = _cache._read

    def fake_read(path):
        source = read(path).decode()
        for old, new in edits.get(path.relative_to(PACKAGE).as_posix(), ()):
            assert old in source, (path, old)
            source = source.replace(old, new, 1)
        return source.encode()

    def edit(changes):
        for name, change in changes.items():
            edits.setdefault(name, []).append(change)
        _cache._compiled.cache_clear()

    _cache._compiled.cache_clear()
    monkeypatch.setattr(_cache, "_read", fake_read)
    yield edit
    _cache._compiled.cache_clear()


def keys():
    return {(rule.name, module): _cache.sources_digest(loop)
            for rule in (adam.RULE, sgd.RULE, nadam.RULE) for module, loop in loops(rule).items()}


def test_edits_of_other_modules_comments_and_docstrings_keep_every_key(edited):
    before = keys()
    edited({
        "mnist.py": ("import numpy as np\n", "import numpy as np\n\nUNUSED = 1  # new\n"),
        "functions.py": ('"""', '"""Edited. '),
        "rules/adam.py": ('"""``(-lr / (1 - beta1**t), ', '"""``(-lr / (1 - beta1 ** t), '),
        "rules/_rule.py": ("    return register_jitable(", "    # a comment\n\n    return ("
                           "\n        register_jitable)("),
        "kernels.py": ('    """The CPU loops of the rule', '    """The CPU loops of a rule'),
        "_step_tables.py": ("#: Steps tabulated", "#: The steps tabulated"),
    })
    assert keys() == before


def test_a_code_edit_of_a_rule_changes_the_keys_of_its_loops_and_only_theirs(edited):
    before = keys()
    edited({"rules/adam.py": ("    t = float(step)\n", "    t = float(step)\n    t = t + 0.0\n")})
    after = keys()
    changed = {key for key in before if before[key] != after[key]}
    # NAdam's loops inline adam.moments, not adam.step_scalars: the module counts as a whole
    assert changed == {key for key in before if key[0] in ("adam", "nadam")} - {
        ("nadam", "_step_tables.py")}


def test_a_code_edit_of_the_rule_framework_changes_every_key(edited):
    before = keys()
    edited({"rules/_rule.py": ('register_jitable(inline="always")', "register_jitable()")})
    after = keys()
    assert all(before[key] != after[key] for key in before)


def test_a_code_edit_of_a_loop_module_changes_the_keys_of_the_loops_that_use_it(edited):
    before = keys()
    edited({"kernels.py": ("    while start < stop and grad[start] - grad[start] == 0:",
                           "    while start < stop and grad[start] == grad[start]:")})
    after = keys()
    changed = {key for key in before if before[key] != after[key]}
    # count_nonfinite (kernels.py) is called by the minimize loop and so by the batch run
    assert {module for _, module in changed} == {"kernels.py", "_compiled_loop.py",
                                                "_batch_loops.py"}


def test_code_digest_ignores_comments_blank_lines_and_the_text_of_docstrings(tmp_path):
    def digest(source):
        path = tmp_path / "module.py"
        path.write_text(source)
        _cache._compiled.cache_clear()
        return _cache.code_digest(path)

    source = ('"""Doc."""\n\nX = 1\n"""X\'s doc."""\n\n\ndef f(a):\n    """Doc."""\n'
              '    return a + X\n')
    same = ('"""Other\ndoc."""\n# comment\nX = 1  # one\n"""Edited."""\n\ndef f(a):\n'
            '    """Other doc."""\n\n    return (a\n            + X)\n')
    assert digest(same) == digest(source)
    assert digest(source.replace("X = 1", "X = 2")) != digest(source)
    assert digest(source.replace("a + X", "X + a")) != digest(source)
    assert digest(source.replace("X = 1", "X = 1.0")) != digest(source)
    assert digest(source.replace("a + X", "a + X or {'b', 'c'}")) != digest(source)
    checked = source.replace("    return", "    assert a, 'm'\n    return")  # -OO would drop it
    assert digest(checked.replace("'m'", "'n'")) != digest(checked)


STEP = """
import numpy as np, numadam
from numadam.rules import sgd
optimizer = numadam.SGD(np.ones(3), lr=0.25)
optimizer.step(np.ones(3))
hits = sum(sum(loop.stats.cache_hits.values()) for loop in numadam.kernels.for_rule(sgd.update))
print(optimizer.param.tolist(), "loaded" if hits else "compiled")
"""


def test_an_edited_rule_is_compiled_afresh_an_edit_elsewhere_is_not(tmp_path):
    """The SGD kernel is a closure in kernels.py over the element function in rules/sgd.py;
    Numba alone would key its cache by kernels.py and load the old kernel after an edit of
    rules/sgd.py. Each process builds the one kernel it runs (its loops compile lazily)."""
    import numadam

    package = tmp_path / "numadam"
    shutil.copytree(numadam.__path__[0], package,
                    ignore=shutil.ignore_patterns("__pycache__"))

    def step():
        return subprocess.run([sys.executable, "-c", STEP], cwd=tmp_path, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert step() == "[0.75, 0.75, 0.75] compiled"
    rule = package / "rules" / "sgd.py"
    source = rule.read_text()
    rule.write_text(source.replace('r"""Stochastic', 'r"""Edited: stochastic', 1))
    with open(package / "mnist.py", "a") as mnist:
        mnist.write("\nEDITED = True\n")
    assert step() == "[0.75, 0.75, 0.75] loaded"
    assert "param[i] = p + neg_lr * g" in source
    rule.write_text(source.replace("param[i] = p + neg_lr * g", "param[i] = p + 2 * neg_lr * g"))
    assert step() == "[0.5, 0.5, 0.5] compiled"
