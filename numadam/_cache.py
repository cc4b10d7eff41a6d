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
it names, the attributes it names of a numadam module, Numba dispatchers and intrinsics, the
numadam module a constant it names comes from), file by file within the package. An edit of
another file (``mnist.py``, ``functions.py``) changes no key. Each file counts by its bytecode
(:func:`code_digest`): an edit of a comment or of a docstring's text changes no key either.
(Numba itself still recompiles the functions of a file whose timestamp changed: an edit of
``kernels.py`` recompiles the kernels.)

A call site names further modules where a loop uses code it does not refer to by name (an
``@overload`` of a function defined elsewhere): ``keyed_by_sources(loop, module)``; the
modules in :data:`ALWAYS` count for every loop.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import hashlib
import importlib.util
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


def template_copy(template, name, **names):
    """A copy of the module-level function ``template`` named ``name``, whose globals are its
    module's with ``names`` set: how numadam makes a function per rule that Numba can cache on
    disk. The rule's functions go in the globals, not in a closure: Numba keys a closure by the
    pickle of what it closes over, and a Numba function's pickle holds an identifier that is
    new in every process (the key would never match again); globals are not in the key, and the
    name, under which Numba files the function, tells the copies apart."""
    copy = types.FunctionType(template.__code__, {**template.__globals__, **names}, name)
    copy.__qualname__ = name
    return copy


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
    the functions it refers to, and theirs, through closures, globals, the attributes it names
    of numadam modules, Numba dispatchers (``py_func``) and intrinsics (``_defn``); and for a
    value it refers to (a constant, which Numba freezes into the code), the numadam modules it
    was imported from."""
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
        value = _function(value)
        if value is None:
            continue
        path = _in_package(value.__code__.co_filename)
        if path is None:
            continue
        found.add(path)
        names = _names(value.__code__)
        for cell in value.__closure__ or ():
            try:
                pending.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        pending.extend(value.__defaults__ or ())
        pending.extend((value.__kwdefaults__ or {}).values())
        for name in names & value.__globals__.keys():
            referred = value.__globals__[name]
            if isinstance(referred, types.ModuleType):
                module_path = _in_package(getattr(referred, "__file__", None))
                if module_path is not None:
                    found.add(module_path)
                    pending.extend(_attribute(referred, attribute) for attribute in names)
                continue
            if not isinstance(referred, type) and _function(referred) is None:
                found.update(_origins(path, name))
            pending.append(referred)
    return frozenset(found)


def code_digest(path) -> str:
    """A digest of the code of the Python file ``path``, as Python compiles it: docstrings,
    comments, blank lines and line numbers do not count (an added or removed docstring may:
    Python leaves a no-op in its place)."""
    return _compiled(Path(path).resolve())[0]


@functools.cache
def _compiled(path: Path) -> tuple[str, dict[str, tuple[str, str]]]:
    """``path``'s :func:`code_digest`, and the names its top level imports from modules:
    ``from a.b import c as d`` gives ``{"d": ("a.b", "c")}``."""
    source = _read(path)
    # optimize=2 drops docstrings, and also assert statements and __debug__ blocks, which do
    # count: a file that may have one is compiled as it is run
    optimize = 0 if b"assert" in source or b"__debug__" in source else 2
    code = compile(source, str(path), "exec", dont_inherit=True, optimize=optimize)
    digest = hashlib.sha256(repr(_code_key(code)).encode()).hexdigest()
    imported, constants, module, attribute = {}, [], None, None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_CONST":
            constants.append(instruction.argval)
        elif instruction.opname == "IMPORT_NAME":
            module, level = instruction.argval, constants[-2] if len(constants) > 1 else 0
            if isinstance(level, int) and level > 0:  # from .x import y
                package = ".".join(path.relative_to(PACKAGE.parent).parent.parts)
                with contextlib.suppress(ImportError, ValueError):
                    module = importlib.util.resolve_name("." * level + module, package)
        elif instruction.opname == "IMPORT_FROM":
            attribute = instruction.argval
        elif instruction.opname in ("STORE_NAME", "STORE_GLOBAL") and attribute is not None:
            imported[instruction.argval] = (module, attribute)
            attribute = None
    return digest, imported


def _origins(path: Path, name: str) -> list[Path]:
    """The package's files that the module ``path`` imports ``name`` from, following it on
    through the modules that import it in turn."""
    files = []
    while (source := _compiled(path)[1].get(name)) is not None:
        module, name = source
        submodule = sys.modules.get(f"{module}.{name}")
        path = _in_package(getattr(submodule or sys.modules.get(module), "__file__", None))
        if path is None or path in files:
            break
        files.append(path)
        if submodule is not None:
            break
    return files


def _code_key(code) -> tuple:
    """What of ``code`` makes its compiled version: everything but its file and line numbers."""
    return (code.co_code, getattr(code, "co_exceptiontable", b""), code.co_name, code.co_flags,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_names,
            code.co_varnames, code.co_freevars, code.co_cellvars,
            tuple(_constant_key(constant) for constant in code.co_consts))


def _constant_key(constant):
    if isinstance(constant, types.CodeType):
        return _code_key(constant)
    if isinstance(constant, tuple):
        return tuple(_constant_key(item) for item in constant)
    if isinstance(constant, frozenset):  # in an order that does not depend on the hash seed
        return "frozenset", tuple(sorted(repr(_constant_key(item)) for item in constant))
    return type(constant).__name__, repr(constant)  # -0.0 and 0.0, 1 and 1.0 apart


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _function(value):
    """``value`` if a Python function; a Numba dispatcher's or intrinsic's Python function."""
    if isinstance(value, types.FunctionType):
        return value
    value = _attribute(value, "py_func") or _attribute(value, "_defn")
    return value if isinstance(value, types.FunctionType) else None


def _attribute(value, name):
    try:
        return getattr(value, name, None)
    except Exception:  # an object whose attributes are computed (a lazy proxy)
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
