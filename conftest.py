"""What pytest needs before it collects anything: each xdist worker's Numba cache, and which
files the doctest collection (``--doctest-modules``, ``--doctest-glob='*.rst'``) leaves out."""

import importlib.util
import os

# The suite runs in two pytest-xdist workers (pyproject.toml: -n 2 --dist loadfile). Each worker
# keeps Numba's disk cache in a folder of its own, set before Numba is first imported (here, at
# the root, so that it precedes the doctest collection's imports of numadam too): two processes
# writing the same function's cache index at once can lose each other's entries (Numba reads,
# extends and rewrites it), which the tests that count a fresh process's cache hits would see.
# The processes a worker starts (fresh processes, MPI ranks) share its folder. The folders stay
# between runs (under .pytest_cache, which git ignores), so that a local run compiles only what
# changed since the last; a fresh clone, as CI's, starts cold.
if os.environ.get("PYTEST_XDIST_WORKER") and "NUMBA_CACHE_DIR" not in os.environ:
    WORKER_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".pytest_cache",
                                f"numba-{os.environ['PYTEST_XDIST_WORKER']}")
    os.makedirs(WORKER_CACHE, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = WORKER_CACHE

# Not modules with examples: the Sphinx configuration and extension, the build, the CLI entry.
collect_ignore = ["docs/conf.py", "docs/_ext", "docs/_build", "numadam/__main__.py"]
# Modules whose optional dependency is missing would fail to import: their examples skip.
for module, needs in [("numadam/cuda.py", "numba.cuda"), ("numadam/distributed.py", "numba")]:
    if importlib.util.find_spec(needs.split(".")[0]) is None:
        collect_ignore.append(module)
