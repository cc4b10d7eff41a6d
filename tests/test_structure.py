"""The package's structure, read from its source: no import cycle between numadam's modules, and
no module reading another's private names (they pass functions and values instead)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "numadam"


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name):
    """``(imported module, names taken from it, line)`` for every import in module ``name``,
    at module level or inside a function, of numadam's own modules."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names
                      if alias.name.split(".")[0] == "numadam"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}".rstrip(".")
            if base.split(".")[0] != "numadam":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:  # `from numadam import kernels`: a module
                    found.append((submodule, [], node.lineno))
                else:
                    found.append((base, [alias.name], node.lineno))
    return found


def test_no_import_cycle():
    graph = {name: {target for target, _, _ in imports_of(name) if target in MODULES}
             for name in MODULES}
    done, path = set(), []

    def visit(name):
        if name in path:
            cycle = path[path.index(name):] + [name]
            pytest.fail(f"import cycle: {' -> '.join(cycle)}")
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            if target != "numadam":  # `import numadam` (the mnist script): the top, not a cycle
                visit(target)
        path.pop()
        done.add(name)

    for name in MODULES:
        visit(name)


def private(name):
    return name.startswith("_") and not name.startswith("__")


def test_no_module_imports_another_modules_private_names():
    reads = []
    for name in MODULES:
        for target, names, line in imports_of(name):
            reads += [f"{name}:{line} imports {target}.{item}" for item in names
                      if private(item) and target != name]
    assert reads == []


def test_no_module_reads_a_private_attribute_of_another_module():
    reads = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        aliases = {}  # local name -> numadam module, from `from numadam import kernels`, ...
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("numadam"):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in MODULES:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and private(node.attr)
                    and aliases[node.value.id] != name):
                reads.append(f"{name}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    assert reads == []


def test_the_checks_see_a_cycle_and_a_private_read(tmp_path, monkeypatch):
    """The checks above can fail: two modules importing each other's private names."""
    (tmp_path / "numadam").mkdir()
    (tmp_path / "numadam" / "__init__.py").write_text("")
    (tmp_path / "numadam" / "a.py").write_text("from numadam.b import _hidden\n")
    (tmp_path / "numadam" / "b.py").write_text("from numadam import a\nx = a._y\n")
    fake = {module_name_in(tmp_path, path): path
            for path in sorted((tmp_path / "numadam").rglob("*.py"))}
    monkeypatch.setattr(__import__(__name__), "MODULES", fake, raising=False)
    monkeypatch.setitem(globals(), "MODULES", fake)
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycle()
    with pytest.raises(AssertionError, match="_hidden"):
        test_no_module_imports_another_modules_private_names()
    with pytest.raises(AssertionError, match="a._y"):
        test_no_module_reads_a_private_attribute_of_another_module()


def module_name_in(root, path):
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_import_numadam_takes_no_private_name_of_scipy():
    """SciPy's privates (its finite-difference step rules) are imported where they are used,
    with numadam's own copies standing in (numadam._objective): no module imports one when
    numadam is imported."""
    top_level = []
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scipy"):
                parts = node.module.split(".") + [alias.name for alias in node.names]
                if any(private(part) for part in parts):
                    top_level.append(f"{name}:{node.lineno} from {node.module} import ...")
    assert top_level == []
