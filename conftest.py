"""What pytest needs before it collects anything: the xdist workers' Numba cache, and which
files the doctest collection (``--doctest-modules``, ``--doctest-glob='*.rst'``) leaves out."""

import importlib.util
import os

# The suite runs in two pytest-xdist workers (pyproject.toml: -n 2 --dist loadfile) that share
# one Numba disk cache, set before Numba is first imported (here, at the root, so that it
# precedes the doctest collection's imports of numadam too): what one worker compiled (a rule's
# kernels, its minimize loops), the other loads. Numba's saves into a cache are not safe when
# two processes save entries of one function at once; tests/numba_cache_lock.py makes them so.
# The processes a worker starts (fresh processes, MPI ranks) use the same folder. It stays
# between runs (under .pytest_cache, which git ignores), so that a local run compiles only
# what changed since the last; a fresh clone, as CI's, starts cold.
if os.environ.get("PYTEST_XDIST_WORKER") and "NUMBA_CACHE_DIR" not in os.environ:
    SHARED_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".pytest_cache",
                                "numba")
    os.makedirs(SHARED_CACHE, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = SHARED_CACHE

from tests.numba_cache_lock import install as _lock_numba_cache_saves  # noqa: E402

_lock_numba_cache_saves()

# Not modules with examples: the Sphinx configuration and extension, the build, the CLI entry.
collect_ignore = ["docs/conf.py", "docs/_ext", "docs/_build", "numadam/__main__.py"]
# Modules whose optional dependency is missing would fail to import: their examples skip.
for module, needs in [("numadam/cuda.py", "numba.cuda"), ("numadam/distributed.py", "numba")]:
    if importlib.util.find_spec(needs.split(".")[0]) is None:
        collect_ignore.append(module)
