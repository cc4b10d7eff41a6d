"""Writes the optimizer classes out as source, from the registry (:data:`numadam.rules.VARIANTS`).

::

    python -m numadam._generate_classes           # rewrite them
    python -m numadam._generate_classes --check   # exit 1 if they are out of step

The output is ``numadam/_optimizer_classes.py``, one ``class Adam(Optimizer, variant="Adam")``
per registry entry with a class: its bases, its constructor's signature with types (PyTorch's
positional order), its hyperparameters' types and its numpydoc docstring, so that readers, IDEs
and type checkers see the classes. Its behaviour stays in the registry: ``variant=`` binds the
class to its entry (:func:`numadam._optimizer.bind`), and its ``__init__`` only hands its
arguments to :class:`~numadam.optimizers.Optimizer`'s (directly: ``AdamW``'s are not
``Adam``'s). The two lists of the classes in
``numadam/__init__.py`` are rewritten too: its ``from numadam._optimizer_classes import ...``
and the part of ``__all__`` between its ``# <optimizer classes>`` markers.
``tests/test_generated_classes.py`` checks that both files are in step.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from numadam._optimizer import (
    GENERATED,
    REGENERATE,
    TORCH_FLAGS,
    annotation,
    base_names,
    class_doc,
)
from numadam.rules import VARIANTS

PACKAGE = Path(__file__).resolve().parent
LINE_LENGTH = 99  # ruff's, in pyproject.toml

HEADER = f'''"""The optimizer classes: one per class of the registry (``numadam.rules.VARIANTS``).

Generated from the rule modules by ``{REGENERATE}``: edit the rules,
not this file. Each class spells out its name, bases, signature, hyperparameter types and
documentation for readers, IDEs and type checkers; ``variant=`` binds it to its registry entry,
whose rule does the work (see :class:`numadam.optimizers.Optimizer`), and its ``__init__`` hands
its arguments to ``Optimizer.__init__`` directly (AdamW's arguments are not Adam's).
"""

'''


def _classes():
    return [variant for variant in VARIANTS if variant.class_name]


def _wrapped(items, indent, *, opening="", closing=""):
    """``items`` joined by ", " over as few lines of at most LINE_LENGTH as fit, each indented by
    ``indent`` spaces, the first starting with ``opening``, the last ending with ``closing``."""
    lines, line = [], " " * indent + opening
    for index, item in enumerate(items):
        piece = item + (", " if index < len(items) - 1 else closing)
        if len(line + piece.rstrip()) > LINE_LENGTH and line.strip():
            lines.append(line.rstrip())
            line = " " * indent
        line += piece
    lines.append(line.rstrip())
    return lines


def _literal(value):
    """``value`` as source text, checked to read back as the same value of the same type."""
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return f'float("{value}")'  # Prodigy's growth_rate: no cap
    text = repr(value)
    if ast.literal_eval(text) != value or type(ast.literal_eval(text)) is not type(value):
        raise ValueError(f"the default {value!r} does not read back from its repr")
    return text


def _parameters(variant):
    """``(source text, name)`` of each parameter of the constructor, with ``"*"`` before the
    keyword-only ones."""
    hyperparameters = variant.hyperparameters()
    parameters = [("params: Vector | Sequence[Mapping[str, Any]]", "params")]
    parameters += [(f"{name}: {annotation(spec)} = {_literal(spec.default)}", name)
                   for name, spec in hyperparameters.items() if not spec.keyword_only]
    parameters.append(("*", None))
    parameters += [(f"{name}: {annotation(spec)} = {_literal(spec.default)}", name)
                   for name, spec in hyperparameters.items() if spec.keyword_only]
    parameters.append(("groups: Sequence[Mapping[str, Any]] | None = None", "groups"))
    parameters += [(f"{name}: bool{' | None' if None in accepted else ''} = {default!r}", name)
                   for name, (default, accepted, _) in TORCH_FLAGS.items()]
    parameters.append(('check_finite: bool | Literal["before"] = True', "check_finite"))
    return parameters


def _docstring(text):
    """A class docstring: raw when it holds a backslash (the math), indented by 4."""
    if '"""' in text or text.endswith("\\"):
        raise ValueError(f'a docstring cannot hold """ or end in a backslash: {text[:60]!r}')
    lines = text.rstrip("\n").split("\n")
    body = [f"    {line}".rstrip() for line in lines[1:]]
    prefix = "r" if "\\" in text else ""
    return [f'    {prefix}"""{lines[0]}', *body, '    """']


def _class(variant, made):
    """The source of ``variant``'s class; ``made`` maps the class names made before it to the
    names of their hyperparameters."""
    name = variant.class_name
    bases = base_names(variant, made)
    lines = [f'class {name}({", ".join(bases)}, variant="{name}"):', *_docstring(
        class_doc(variant)), ""]
    inherited = set().union(*(made.get(base, ()) for base in bases))
    declared = [f"    {hyperparameter}: {annotation(spec)}"
                for hyperparameter, spec in variant.hyperparameters().items()
                if hyperparameter not in inherited]
    if declared:
        lines += [*declared, ""]
    lines += ["    def __init__(", "        self,"]
    lines += [f"        {text}," for text, _ in _parameters(variant)]
    lines += ["    ) -> None:"]
    arguments = ["params"] + [f"{parameter}={parameter}"
                              for _, parameter in _parameters(variant)[1:] if parameter]
    # Optimizer's __init__ itself, not the base's: AdamW's arguments are not Adam's
    lines += ["        Optimizer.__init__(", *_wrapped(["self", *arguments], 12, closing=","),
              "        )"]
    made[name] = tuple(variant.hyperparameters())
    return lines


def render_module():
    """The text of ``numadam/_optimizer_classes.py``."""
    made = {}
    classes = [_class(variant, made) for variant in _classes()]
    modes = any("Modes" in source[0] for source in classes)
    imported = (["Modes"] if modes else []) + ["Optimizer", "Vector"]
    names = [f'"{variant.class_name}"' for variant in _classes()]
    lines = [
        "from collections.abc import Mapping, Sequence",
        "from typing import Any, Literal", "",
        f"from numadam._optimizer import {', '.join(imported)}", "",
        "__all__ = [", *_wrapped(names, 4, closing=","), "]",
    ]
    for source in classes:
        lines += ["", "", *source]
    return HEADER + "\n".join(lines) + "\n"


def _import_order(name):
    """ruff's (isort's) order of imported names: constants, classes, then the rest."""
    kind = 0 if len(name) > 1 and name.isupper() else 1 if name[0].isupper() else 2
    return kind, name.lower(), name


def _import_statement():
    """numadam/__init__.py's import of the classes, as ruff formats it."""
    names = sorted((variant.class_name for variant in _classes()), key=_import_order)
    single = f"from numadam._optimizer_classes import {', '.join(names)}"
    if len(single) <= LINE_LENGTH:
        return single
    return "\n".join(["from numadam._optimizer_classes import (",
                      *(f"    {name}," for name in names), ")"])


_IMPORT = re.compile(r"^from numadam\._optimizer_classes import (\([^)]*\)|[^(\n]*)$", re.M)
_ALL = re.compile(r"^(?P<start>[ \t]*# <optimizer classes>[^\n]*\n).*?"
                  r"^(?P<end>[ \t]*# </optimizer classes>)", re.S | re.M)


def render_init(text):
    """``text`` (numadam/__init__.py) with its two lists of the classes rewritten."""
    if len(_IMPORT.findall(text)) != 1 or len(_ALL.findall(text)) != 1:
        raise ValueError("numadam/__init__.py must hold one 'from numadam._optimizer_classes "
                         "import ...' and one '# <optimizer classes>' ... "
                         "'# </optimizer classes>' part of __all__")
    text = _IMPORT.sub(lambda match: _import_statement(), text)
    names = _wrapped([f'"{variant.class_name}"' for variant in _classes()], 4, closing=",")
    return _ALL.sub(lambda match: match["start"] + "\n".join(names) + "\n" + match["end"], text)


_METHODS = re.compile(r"^(?P<start># <methods>[^\n]*\n).*?^(?P<end># </methods>)", re.S | re.M)


def render_scipy_methods(text):
    """``text`` (numadam/scipy_methods.py) with its methods rewritten: one SciPy custom method
    per method of the registry, and ``__all__``."""
    if len(_METHODS.findall(text)) != 1:
        raise ValueError("numadam/scipy_methods.py must hold one '# <methods>' ... "
                         "'# </methods>' part")
    methods = [variant.method for variant in VARIANTS if variant.method is not None]
    names = _wrapped([f'"{name}"' for name in sorted(methods)], 4,
                     closing=",")
    lines = ["__all__ = [", *names, "]", "",
             *(f'{name} = scipy_method("{name}")' for name in methods)]
    return _METHODS.sub(lambda match: match["start"] + "\n".join(lines) + "\n" + match["end"],
                        text)


def outputs():
    """path -> the text it should hold, for every file the registry generates."""
    init = PACKAGE / "__init__.py"
    methods = PACKAGE / "scipy_methods.py"
    return {
        PACKAGE / Path(GENERATED).name: render_module(),
        init: render_init(init.read_text(encoding="utf-8")),
        methods: render_scipy_methods(methods.read_text(encoding="utf-8")),
    }


def stale():
    """The generated files whose text is not what the registry gives."""
    return [path for path, text in outputs().items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m numadam._generate_classes",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that the files are in step (exit status 1 if not)")
    args = parser.parse_args(argv)
    if args.check:
        paths = stale()
        for path in paths:
            print(f"{path} is out of step with the registry: run {REGENERATE}")
        return 1 if paths else 0
    for path, text in outputs().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
