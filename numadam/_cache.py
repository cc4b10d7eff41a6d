"""Numba's disk cache for the functions numadam generates per rule, keyed by numadam's sources.

Numba files a cached function under its own source file and checks only that file's timestamp.
The loops numadam builds per rule (the kernels, the compiled minimize loop and its generator,
the batch run) live in one file but inline code from others (the rule's element and step-scalar
functions), which Numba's key names but does not read: after an edit of a rule, a loop would
load the code compiled from the old rule. :func:`keyed_by_sources` puts a digest of every
source file of the package into the function's name, under which Numba files it, so that any
edit of numadam compiles these loops afresh. An installed release never changes, so its caches
stay valid across processes.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).parent


@functools.cache
def sources_digest() -> str:
    """A short digest of the contents of every ``.py`` file of the package."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def keyed_by_sources(function):
    """``function``, renamed so that Numba's disk cache for it depends on numadam's sources;
    apply before ``njit(cache=True)``."""
    function.__qualname__ = f"{function.__qualname__}_{sources_digest()}"
    return function
