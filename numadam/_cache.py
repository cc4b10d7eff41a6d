"""Numba's disk cache for the functions numadam generates per rule, keyed by the code they inline.

Numba files a cached function under its own source file and checks only that file's timestamp.
The loops numadam builds per rule (the kernels, the compiled minimize loop and its generator,
the batch run, the step table) live in one file but inline code from others (the rule's element
and step-scalar functions, the helpers of :mod:`numadam.rules._rule` and
:mod:`numadam._step_tables`), which Numba's key names but does not read: after an edit of a rule,
a loop would load the code compiled from the old rule. :func:`keyed_by_sources` puts a digest of
those files into the function's name, under which Numba files it, so that an edit of any of them
compiles the loop afresh.

Which files: :func:`dependencies` follows what the function refers to (its closure, the globals
it names, the attributes it names of a numadam module, Numba dispatchers and intrinsics, and the
numadam modules it imports a named constant from), file by file within the package. An edit of
another file (``mnist.py``, ``functions.py``) changes no key. Each file counts by its code
(:func:`code_digest`): an edit of a comment or a docstring changes no key either. Numba itself
still recompiles the functions of a file whose timestamp changed.

A call site names further modules where a loop uses code it does not refer to by name (an
``@overload`` of a function defined elsewhere): ``keyed_by_sources(loop, module)``; the
modules in :data:`ALWAYS` count for every loop.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
import types
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

#: Files in every key, relative to the package: how a rule's element functions are registered
#: with Numba (``inline="always"``), which no reference in a loop shows.
ALWAYS = ("rules/_rule.py",)


def keyed_by_sources(function, *modules):
    """``function``, renamed so that Numba's disk cache for it depends on the code of the
    numadam files it uses (:func:`sources_digest`); apply before ``njit(cache=True)``."""
    function.__qualname__ = f"{function.__qualname__}_{sources_digest(function, *modules)}"
    return function


def sources_digest(function, *modules) -> str:
    """A short digest of the code of ``function``'s :func:`dependencies`, of ``modules``
    (module objects, or paths relative to the package) and of :data:`ALWAYS`."""
    files = set(dependencies(function))
    files.update(_file_of(module) for module in (*ALWAYS, *modules))
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{_name(path)}\n{code_digest(path)}\n".encode())
    return digest.hexdigest()[:16]


def dependencies(function) -> frozenset[Path]:
    """The package's source files whose code Numba may compile into ``function``: the files of
    the functions it refers to, and theirs, through closures, globals, the attributes named of
    numadam modules, Numba dispatchers (``py_func``) and intrinsics (``_defn``); and the numadam
    modules that one of these files imports a referenced name from (a constant, which Numba
    freezes into the code)."""
    found: set[Path] = set()
    seen: set[int] = set()
    pending = [function]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, (tuple, list, set, frozenset)):
            pending.extend(value)
            continue
        if isinstance(value, type):
            module = sys.modules.get(value.__module__)
            path = _in_package(getattr(module, "__file__", None))
            if path is not None:
                found.add(path)
            continue
        if not isinstance(value, types.FunctionType):  # a Numba dispatcher, an intrinsic
            value = _attribute(value, "py_func") or _attribute(value, "_defn")
            if not isinstance(value, types.FunctionType):
                continue
        path = _in_package(value.__code__.co_filename)
        if path is None:
            continue
        found.add(path)
        imported = _parsed(path)[1]
        names = _names(value.__code__)
        for cell in value.__closure__ or ():
            try:
                pending.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        pending.extend(value.__defaults__ or ())
        for name in names:
            if name in imported:
                found.add(imported[name])
            if name not in value.__globals__:
                continue
            referred = value.__globals__[name]
            if isinstance(referred, types.ModuleType):
                module_path = _in_package(getattr(referred, "__file__", None))
                if module_path is not None:
                    found.add(module_path)
                    pending.extend(_attribute(referred, attribute) for attribute in names)
            else:
                pending.append(referred)
    return frozenset(found)


def code_digest(path) -> str:
    """A digest of the code of the Python file ``path``: its syntax tree without docstrings
    (and other string statements); comments, blank lines and line numbers do not count."""
    return _parsed(Path(path).resolve())[0]


class _NoStringStatements(ast.NodeTransformer):
    def visit_Expr(self, node):
        value = node.value
        return None if isinstance(value, ast.Constant) and isinstance(value.value, str) else node


@functools.cache
def _parsed(path: Path) -> tuple[str, dict[str, Path]]:
    """``path``'s :func:`code_digest`, and the numadam files it imports names from
    (``from numadam.x import y``: ``{"y": numadam/x.py}``, or ``numadam/x/y.py`` for a module)."""
    tree = ast.parse(_read(path), str(path))
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == PACKAGE.name or node.module.startswith(PACKAGE.name + ".")):
            folder = PACKAGE.joinpath(*node.module.split(".")[1:])
            for alias in node.names:
                submodule = _module_file(folder / alias.name)
                imported[alias.asname or alias.name] = submodule or _module_file(folder)
    tree = _NoStringStatements().visit(tree)
    digest = hashlib.sha256(ast.dump(tree).encode()).hexdigest()
    return digest, {name: file for name, file in imported.items() if file is not None}


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _attribute(value, name):
    try:
        return getattr(value, name, None)
    except Exception:  # an object whose attributes are computed (a lazy proxy)
        return None


def _module_file(stem: Path) -> Path | None:
    for path in (stem.with_name(stem.name + ".py"), stem / "__init__.py"):
        if path.is_file():
            return path
    return None


def _names(code) -> set[str]:
    """The global and attribute names that ``code`` and the code nested in it use."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names(constant)
    return names


@functools.cache
def _in_package(filename) -> Path | None:
    if not filename:
        return None
    path = Path(filename).resolve()
    return path if path.is_relative_to(PACKAGE) and path.suffix == ".py" else None


def _file_of(module) -> Path:
    if isinstance(module, types.ModuleType):
        return Path(module.__file__).resolve()
    return (PACKAGE / module).resolve()


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else str(path)
