"""One Numba disk cache for processes that compile at the same time (the test workers).

Numba saves a cache entry by reading the function's index file, adding the entry and writing the
index back, and it names the entry's data file after the first number free in the index it read.
Two processes saving entries of one function at once (two signatures of it, or two rules' loops
filed under one name) can each drop the other's index entry, and can write their code into the
same data file, after which one entry loads the other's code. :func:`install` makes a save hold
an exclusive lock (a file beside the index) from reading the index to writing the data, and
names each data file uniquely, so that a process saving without the lock (one
started by a test) never shares a data file with a locked one: the worst it can do is drop an
entry, which costs a compile.
"""

import fcntl
import functools
import uuid

from numba.core import caching


def install():
    """Lock every save into Numba's disk cache in this process (idempotent)."""
    save = caching.IndexDataCacheFile.save
    if getattr(save, "locked", False):
        return

    @functools.wraps(save)
    def locked_save(self, key, data):
        with open(self._index_path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                overloads = self._load_index()
                data_name = overloads.get(key)
                if data_name is None:
                    data_name = f"{self._index_name[:-len('.nbi')]}.{uuid.uuid4().hex}.nbc"
                    overloads[key] = data_name
                    self._save_index(overloads)
                self._save_data(data_name, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    locked_save.locked = True
    caching.IndexDataCacheFile.save = locked_save
