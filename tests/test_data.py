"""Data sets: seeded splits, the IDX reader, the jets schema."""

import gzip

import numpy as np
import pytest

from codesign import data
from codesign.errors import CodesignError


def test_digits_splits_are_seeded_disjoint_and_stratified():
    a, b = data.load("digits", seed=3), data.load("digits", seed=3)
    np.testing.assert_array_equal(a.test.x, b.test.x)
    assert len(a.train.y) + len(a.val.y) + len(a.test.y) == 1797
    assert a.input_shape == (8, 8, 1) and a.train.x.min() == 0.0 and a.train.x.max() == 1.0
    assert set(np.unique(a.test.y)) == set(range(10))
    other = data.load("digits", seed=4)
    assert not np.array_equal(a.test.x, other.test.x)
    capped = data.load("digits", max_train=100)
    assert len(capped.train.y) == 100


def test_idx_reader_round_trip_and_errors(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    with gzip.open(tmp_path / "x-idx3-ubyte.gz", "wb") as f:
        f.write(header + images.tobytes())
    np.testing.assert_array_equal(data.read_idx(tmp_path / "x-idx3-ubyte.gz"), images)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(CodesignError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(header + images.tobytes()[:5])
    with pytest.raises(CodesignError, match="holds 5 values"):
        data.read_idx(tmp_path / "short")


def test_fashion_mnist_from_debian_package():
    ds = data.load("fashion-mnist", max_train=500)
    assert ds.input_shape == (28, 28, 1) and len(ds.test.y) == 10_000 and len(ds.train.y) == 500
    assert ds.classes[9] == "Ankle boot"


def test_fashion_mnist_missing_directory_names_the_fix(tmp_path):
    with pytest.raises(CodesignError, match="dataset-fashion-mnist"):
        data.load("fashion-mnist", path=str(tmp_path / "nowhere"))


def test_jets_local_file_schema(tmp_path):
    path = data.write_jets_sample(tmp_path / "jets.csv", samples=300)
    ds = data.load("jets", path=str(path))
    assert ds.input_shape == (16,) and ds.classes == ("g", "q", "t", "w", "z")
    assert abs(ds.train.x.mean()) < 0.05  # standardized with training statistics
    (tmp_path / "broken.csv").write_text("zlogz,class\n1.0,g\n")
    with pytest.raises(CodesignError, match=r"jets: .*broken\.csv lacks the column\(s\) c1_b0_mmdt, .*multiplicity"):
        data.load("jets", path=str(tmp_path / "broken.csv"))
    with pytest.raises(CodesignError, match=r"jets: file .*missing\.parquet does not exist"):
        data.load("jets", path=str(tmp_path / "missing.parquet"))
    (tmp_path / "garbage.parquet").write_text("not parquet")
    with pytest.raises(CodesignError, match=r"jets: cannot read .*garbage\.parquet"):
        data.load("jets", path=str(tmp_path / "garbage.parquet"))
