"""Data sets: digits (the default, ships with scikit-learn), fashion-mnist (IDX files), jets.

Every loader returns seeded train/validation/test splits of scaled float features; putting them on
the model's input fixed-point grid is the flow's job (it knows the input type).
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
JETS_OPENML_NAME = "hls4ml_lhc_jets_hlf"
JETS_FEATURES = (
    "zlogz", "c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt", "c2_b1_mmdt", "c2_b2_mmdt", "d2_b1_mmdt",
    "d2_b2_mmdt", "d2_a1_b1_mmdt", "d2_a1_b2_mmdt", "m2_b1_mmdt", "m2_b2_mmdt", "n2_b1_mmdt",
    "n2_b2_mmdt", "mass_mmdt", "multiplicity",
)
JETS_CLASSES = ("g", "q", "t", "w", "z")


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray  # integer class labels


# Each data set's sample shape (images as H, W, C) and class count, known without loading it.
SHAPES: dict[str, tuple[tuple[int, ...], int]] = {"digits": ((8, 8, 1), 10), "fashion-mnist": ((28, 28, 1), 10), "jets": ((16,), 5)}


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])


def _hold_out(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Stratified, seeded split into (rest, held-out fraction)."""
    from sklearn.model_selection import train_test_split

    if fraction <= 0:
        return split, Split(split.x[:0], split.y[:0])
    x_rest, x_out, y_rest, y_out = train_test_split(split.x, split.y, test_size=fraction, random_state=seed, stratify=split.y)
    return Split(x_rest, y_rest), Split(x_out, y_out)


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, val_fraction: float, seed: int) -> tuple[Split, Split, Split]:
    rest, test = _hold_out(Split(x, y), test_fraction, seed)
    train, val = _hold_out(rest, val_fraction / (1 - test_fraction), seed)
    return train, val, test


def _cap(split: Split, limit: int | None, seed: int) -> Split:
    if limit is None or len(split.y) <= limit:
        return split
    keep = np.sort(np.random.default_rng(seed).choice(len(split.y), size=limit, replace=False))
    return Split(split.x[keep], split.y[keep])


def load_digits(seed: int, test_fraction: float, val_fraction: float) -> tuple[tuple[Split, Split, Split], tuple[str, ...]]:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = bunch.images.astype(np.float64)[..., np.newaxis] / 16.0  # pixels 0..16 -> [0, 1], 8x8x1
    return _split(x, bunch.target.astype(np.int64), test_fraction, val_fraction, seed), tuple(str(c) for c in range(10))


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not), as the MNIST family ships them."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        header = stream.read(4)
        if len(header) != 4 or header[:2] != b"\x00\x00" or header[2] != 0x08:
            raise CodesignError(f"{path} is not an IDX file of unsigned bytes")
        ndim = header[3]
        shape = struct.unpack(">" + "I" * ndim, stream.read(4 * ndim))
        data = np.frombuffer(stream.read(), dtype=np.uint8)
    if data.size != int(np.prod(shape)):
        raise CodesignError(f"{path}: IDX header says shape {shape} but the file holds {data.size} values")
    return data.reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path:
    for candidate in (stem, stem + ".gz"):
        if (directory / candidate).exists():
            return directory / candidate
    raise CodesignError(
        f"fashion-mnist: {stem}[.gz] not found in {directory}; install Debian's dataset-fashion-mnist "
        f"or pass the directory that holds the four IDX files"
    )


def load_fashion_mnist(directory: str | None, seed: int, val_fraction: float) -> tuple[tuple[Split, Split, Split], tuple[str, ...]]:
    root = Path(directory or FASHION_MNIST_DIR)
    if root.is_file():
        raise CodesignError(f"fashion-mnist: {root} is a file; name the directory that holds the four IDX files")
    if not root.is_dir():
        raise CodesignError(f"fashion-mnist: directory {root} does not exist; install Debian's dataset-fashion-mnist or name the IDX directory")
    x_train = read_idx(_find_idx(root, "train-images-idx3-ubyte")).astype(np.float64)[..., np.newaxis] / 255.0
    y_train = read_idx(_find_idx(root, "train-labels-idx1-ubyte")).astype(np.int64)
    x_test = read_idx(_find_idx(root, "t10k-images-idx3-ubyte")).astype(np.float64)[..., np.newaxis] / 255.0
    y_test = read_idx(_find_idx(root, "t10k-labels-idx1-ubyte")).astype(np.int64)
    # The official test split stays the test split; validation comes out of the training images.
    train, val = _hold_out(Split(x_train, y_train), val_fraction, seed)
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    return (train, val, Split(x_test, y_test)), classes


def _jets_frame(path: str | None):
    import pandas as pd

    if path is None:
        try:
            from sklearn.datasets import fetch_openml

            return fetch_openml(JETS_OPENML_NAME, as_frame=True, parser="auto").frame
        except Exception as err:  # the network is the usual culprit; say so and offer the local route
            raise CodesignError(f"jets: cannot fetch {JETS_OPENML_NAME} from OpenML ({err.__class__.__name__}); pass a local parquet or CSV file") from None
    file = Path(path)
    if not file.is_file():
        raise CodesignError(f"jets: file {file} does not exist")
    if file.suffix not in (".parquet", ".csv"):
        raise CodesignError(f"jets: {file} must be a .parquet or .csv file")
    try:
        return pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)
    except Exception as err:  # pandas and pyarrow raise many types for a damaged file
        raise CodesignError(f"jets: cannot read {file}: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}") from None


def load_jets(path: str | None, seed: int, test_fraction: float, val_fraction: float) -> tuple[tuple[Split, Split, Split], tuple[str, ...]]:
    frame = _jets_frame(path)
    source = path or f"OpenML {JETS_OPENML_NAME}"
    missing = [c for c in (*JETS_FEATURES, "class") if c not in frame.columns]
    if missing:
        raise CodesignError(f"jets: {source} lacks the column(s) {', '.join(missing)}; expected the 16 features of {JETS_OPENML_NAME} and 'class'")
    labels = frame["class"].astype(str).to_numpy()
    unknown = sorted(set(labels) - set(JETS_CLASSES))
    if unknown:
        raise CodesignError(f"jets: {source} has unknown class label(s) {unknown}; allowed: {', '.join(JETS_CLASSES)}")
    y = np.array([JETS_CLASSES.index(label) for label in labels], dtype=np.int64)
    x = frame[list(JETS_FEATURES)].to_numpy(dtype=np.float64)
    train, val, test = _split(x, y, test_fraction, val_fraction, seed)
    # Standardize with training statistics only, so nothing of the test split leaks into training.
    mean, std = train.x.mean(axis=0), train.x.std(axis=0) + 1e-12
    scale = lambda s: Split((s.x - mean) / std, s.y)  # noqa: E731
    return (scale(train), scale(val), scale(test)), JETS_CLASSES


def write_jets_sample(path: str | Path, samples: int = 500, seed: int = 0) -> Path:
    """A small synthetic file in the jets schema (class-dependent Gaussians), for tests and offline demos."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(JETS_CLASSES), samples)
    centers = rng.normal(0, 1.5, (len(JETS_CLASSES), len(JETS_FEATURES)))
    features = centers[labels] + rng.normal(0, 1.0, (samples, len(JETS_FEATURES)))
    frame = pd.DataFrame(features, columns=list(JETS_FEATURES))
    frame["class"] = [JETS_CLASSES[i] for i in labels]
    path = Path(path)
    frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


def load(name: str, *, path: str | None = None, seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.1,
         max_train: int | None = None, max_test: int | None = None) -> Dataset:
    if name == "digits":
        (train, val, test), classes = load_digits(seed, test_fraction, val_fraction)
    elif name == "fashion-mnist":
        (train, val, test), classes = load_fashion_mnist(path, seed, val_fraction)
    elif name == "jets":
        (train, val, test), classes = load_jets(path, seed, test_fraction, val_fraction)
    else:
        raise CodesignError(f"unknown data set {name!r}; allowed: digits, fashion-mnist, jets")
    return Dataset(name, _cap(train, max_train, seed), val, _cap(test, max_test, seed), classes)
