"""Datasets from local paths only (never downloaded), held as uint8 NHWC arrays.

``--data`` takes ``digits`` (sklearn's bundled handwritten digits), ``cifar10:<dir>``
(torchvision's ``cifar-10-batches-py`` layout), ``fashion-mnist[:<dir>]`` (the four IDX
files; default Debian's ``dataset-fashion-mnist``), ``idx:<dir>`` (any MNIST-style set) or
``imagefolder:<dir>`` (one folder per class, optionally under ``train/``, ``val/``, ``test/``). Every dataset is split into
train / val / test with a fixed seed and carries the normalisation its models expect.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from edgeprune.data.images import open_rgb
from edgeprune.errors import EdgepruneError
from edgeprune.files import array_digest
from edgeprune.registry import Registry


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> Split:
        return Split(self.images[indices], self.labels[indices])


# Test splits are often stored class by class (an image folder; CIFAR-10 rebuilt from its
# per-class JPEG folders), so "the first N test images" can be a single class. Every part
# of a test split that edgeprune uses (the images it corrupts, the images it explains) is
# drawn so that each class keeps its share, with this seed whatever the run's --seed: the
# same images for every run on the same data.
SUBSET_SEED = 0


def balanced_order(labels: np.ndarray) -> np.ndarray:
    """A permutation of ``labels``' indices whose every prefix keeps each class's share to
    within one image: the members of each class (shuffled) are spread evenly over the order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(SUBSET_SEED)
    indices, keys, classes = [], [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        indices.append(members)
        keys.append((np.arange(len(members)) + 0.5) / len(members))  # evenly spaced in (0, 1)
        classes.append(np.full(len(members), cls))
    if not indices:
        return np.arange(0)
    index, key, cls = (np.concatenate(a) for a in (indices, keys, classes))
    return index[np.lexsort((cls, key))]


def balanced_subset(labels: np.ndarray, count: int | None) -> np.ndarray:
    """Indices of ``count`` images (None: all) that keep each class's share, ascending:
    the subset in the split's own order, the whole split when ``count`` covers it."""
    order = balanced_order(labels)
    return np.sort(order if count is None else order[:count])


@dataclass(frozen=True)
class ImageDataset:
    name: str
    source: str
    train: Split
    val: Split
    test: Split
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str  # training augmentation that suits the data: "shift", "crop-flip" or "none"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.test.images.shape[1:])

    def with_train_images(self, count: int, seed: int) -> ImageDataset:
        """The same data with ``count`` training images drawn at random (0: all of them); the
        validation and test splits stay whole."""
        if not count or count >= len(self.train):
            return self
        keep = np.sort(np.random.default_rng(seed).permutation(len(self.train))[:count])
        train = Split(self.train.images[keep], self.train.labels[keep])
        return dataclasses.replace(self, train=train)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "mean": list(self.mean),
            "std": list(self.std),
            "class_names": list(self.class_names),
            # what a reviewer checks the figures were measured on
            "test_sha256": {
                "images": array_digest(self.test.images),
                "labels": array_digest(self.test.labels),
            },
        }


Loader = Callable[[str, "int | None", int], ImageDataset]  # (argument, input size, seed)
DATASETS: Registry[Loader] = Registry("dataset")


def _stratified_split(labels: np.ndarray, fractions: tuple[float, float], seed: int):
    """Indices of train / val / test with per-class proportions kept (val, test fractions)."""
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_val, n_test = round(len(idx) * fractions[0]), round(len(idx) * fractions[1])
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val : n_val + n_test])
        parts[0].append(idx[n_val + n_test :])
    return [np.sort(np.concatenate(p)) for p in parts]


def _channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return tuple(pixels.mean(0).round(4).tolist()), tuple(
        np.maximum(pixels.std(0), 1e-3).round(4).tolist()
    )


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1] == size and images.shape[2] == size:
        return images
    return np.stack(
        [np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images]
    )


@DATASETS.register("digits")
def load_digits(argument: str, input_size: int | None, seed: int) -> ImageDataset:
    """sklearn's 1,797 8x8 handwritten digits, upsampled (bilinear) to 32x32 and replicated to RGB."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    gray = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    images = _resize(gray, input_size or 32)
    images = np.repeat(images[..., None], 3, axis=-1)
    labels = bunch.target.astype(np.int64)
    train, val, test = _stratified_split(labels, (0.1, 0.2), seed)
    mean, std = _channel_stats(images[train])
    return ImageDataset(
        "digits",
        "sklearn.datasets.load_digits",
        Split(images[train], labels[train]),
        Split(images[val], labels[val]),
        Split(images[test], labels[test]),
        tuple(str(d) for d in range(10)),
        mean,
        std,
        augment="shift",
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10's python batches are pickles; allow only what rebuilds numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as handle:
            batch = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
        data = (
            np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        )
        return np.ascontiguousarray(data), np.asarray(batch["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as exc:
        raise EdgepruneError(f"{path} is not a CIFAR-10 python batch: {exc}") from None


@DATASETS.register("cifar10")
def load_cifar10(argument: str, input_size: int | None, seed: int) -> ImageDataset:
    """CIFAR-10 from a local folder in torchvision's layout; 5,000 training images held out for val."""
    root = Path(argument).expanduser()
    folder = root if (root / "test_batch").exists() else root / "cifar-10-batches-py"
    needed = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
    absent = [p.name for p in needed if not p.is_file()]
    if absent:
        raise EdgepruneError(
            f"cifar10:{argument}: expected torchvision's cifar-10-batches-py folder with "
            f"data_batch_1..5 and test_batch; missing {', '.join(absent)} in {folder}"
        )
    parts = [_read_cifar_batch(p) for p in needed[:5]]
    train_x, train_y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    test_x, test_y = _read_cifar_batch(needed[5])
    order = np.random.default_rng(seed).permutation(len(train_y))
    val_idx, train_idx = np.sort(order[:5000]), np.sort(order[5000:])
    size = input_size or 32
    names = (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    return ImageDataset(
        "cifar10",
        str(folder),
        Split(_resize(train_x[train_idx], size), train_y[train_idx]),
        Split(_resize(train_x[val_idx], size), train_y[val_idx]),
        Split(_resize(test_x, size), test_y),
        names,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        augment="crop-flip",
    )


FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip


def _idx_dataset(
    name: str, folder: Path, input_size: int | None, seed: int, missing_hint: str
) -> ImageDataset:
    """An MNIST-style set of four IDX files: grey 28x28 images, resized to 32x32 and
    replicated to RGB like the digits (``--input-size 28`` keeps their size), 5,000 training
    images held out for validation."""
    from edgeprune.data.idx import read_idx_set

    try:
        parts = read_idx_set(folder)
    except FileNotFoundError as exc:
        raise EdgepruneError(
            f"{name}: {folder} has no {exc.args[0]}[.gz]; {missing_hint}"
        ) from None
    (train_x, train_y), (test_x, test_y) = parts["train"], parts["test"]
    size = input_size or 32
    order = np.random.default_rng(seed).permutation(len(train_y))
    held = min(5000, len(train_y) // 10)
    val_idx, train_idx = np.sort(order[:held]), np.sort(order[held:])

    def rgb(images: np.ndarray) -> np.ndarray:
        return np.repeat(_resize(images, size)[..., None], 3, axis=-1)

    train_images = rgb(train_x[train_idx])
    mean, std = _channel_stats(train_images)
    classes = int(max(train_y.max(), test_y.max())) + 1
    names = FASHION_MNIST_CLASSES if name == "fashion-mnist" else tuple(map(str, range(classes)))
    return ImageDataset(
        name,
        str(folder),
        Split(train_images, train_y[train_idx]),
        Split(rgb(train_x[val_idx]), train_y[val_idx]),
        Split(rgb(test_x), test_y),
        names,
        mean,
        std,
        augment="shift",
    )


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(argument: str, input_size: int | None, seed: int) -> ImageDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 grey 28x28 images of 10 classes."""
    folder = Path(argument or FASHION_MNIST_DIR).expanduser()
    hint = (
        "install it with: apt-get install dataset-fashion-mnist"
        if not argument
        else "expected the four Fashion-MNIST IDX files"
    )
    return _idx_dataset("fashion-mnist", folder, input_size, seed, hint)


@DATASETS.register("idx")
def load_idx(argument: str, input_size: int | None, seed: int) -> ImageDataset:
    """Any MNIST-style set of four IDX files in a folder."""
    folder = Path(argument).expanduser()
    hint = "expected {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"
    return _idx_dataset("idx", folder, input_size, seed, hint)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}


def square(im: Image.Image, size: int) -> Image.Image:
    """The shorter side scaled to ``size``, then the centre ``size`` x ``size`` crop."""
    scale = size / min(im.size)
    im = im.resize(
        (max(size, round(im.width * scale)), max(size, round(im.height * scale))),
        Image.BILINEAR,
    )
    left, top = (im.width - size) // 2, (im.height - size) // 2
    return im.crop((left, top, left + size, top + size))


def _read_folder(root: Path, classes: list[str], size: int) -> Split:
    images, labels = [], []
    for label, cls in enumerate(classes):
        for path in sorted((root / cls).rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            images.append(np.asarray(square(open_rgb(path), size)))
            labels.append(label)
    if not images:
        return Split(np.zeros((0, size, size, 3), np.uint8), np.zeros(0, np.int64))
    return Split(np.stack(images), np.asarray(labels, dtype=np.int64))


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def _check_classes(root: Path, classes: list[str], train: Split) -> None:
    """Every class the model is tested on must be one it can learn: a test (or val) class
    folder missing from train/, or a class with no training image, is refused by name."""
    where = root / "train" if (root / "train").is_dir() else root
    if not classes:
        raise EdgepruneError(
            f"imagefolder:{root}: no class folders in {where} (one sub-folder per class, "
            "holding that class's images)"
        )
    if len(train) == 0:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise EdgepruneError(
            f"imagefolder:{root}: no images ({suffixes}) in the class folders of {where}"
        )
    for split in ("test", "val"):
        if (root / split).is_dir():
            extra = sorted(set(_class_folders(root / split)) - set(classes))
            if extra:
                raise EdgepruneError(
                    f"imagefolder:{root}: {split}/ has class folders that train/ lacks: "
                    f"{', '.join(extra)}; every class needs training images"
                )
    counts = np.bincount(train.labels, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if empty:
        raise EdgepruneError(f"imagefolder:{root}: no training images for class {', '.join(empty)}")


@DATASETS.register("imagefolder")
def load_imagefolder(argument: str, input_size: int | None, seed: int) -> ImageDataset:
    """One sub-folder per class; ``train/`` + ``test/`` (+ ``val/``) sub-folders are used as
    given, otherwise one folder is split 70/10/20 per class. Images are resized (shorter side)
    and centre-cropped to ``--input-size`` (default 224) and held in memory."""
    root = Path(argument).expanduser()
    if not root.is_dir():
        raise EdgepruneError(f"imagefolder:{argument}: no such directory")
    size = input_size or 224
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = _class_folders(root / "train")
        train, test = (
            _read_folder(root / "train", classes, size),
            _read_folder(root / "test", classes, size),
        )
        _check_classes(root, classes, train)
        if (root / "val").is_dir():
            val = _read_folder(root / "val", classes, size)
        else:
            tr, va, _ = _stratified_split(train.labels, (0.1, 0.0), seed)
            train, val = (
                Split(train.images[tr], train.labels[tr]),
                Split(train.images[va], train.labels[va]),
            )
    else:
        classes = _class_folders(root)
        every = _read_folder(root, classes, size)
        _check_classes(root, classes, every)
        tr, va, te = _stratified_split(every.labels, (0.1, 0.2), seed)
        train, val, test = (Split(every.images[i], every.labels[i]) for i in (tr, va, te))
    if len(classes) < 2 or len(train) == 0 or len(test) == 0:
        raise EdgepruneError(f"imagefolder:{argument}: need at least two class folders with images")
    # ImageNet statistics: what torchvision's models and most users' checkpoints expect.
    return ImageDataset(
        "imagefolder",
        str(root),
        train,
        val,
        test,
        tuple(classes),
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        augment="crop-flip",
    )


# Per-channel mean and std (of pixel values scaled to 0..1) that pretrained checkpoints
# expect: "imagenet" is torchvision's, which akamaster's CIFAR ResNets use too; "none" is the
# scaling alone. "dataset" (not listed) is the training split's own statistics.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALIZATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "none": ((0.0,), (1.0,))}
NORMALIZE_SYNTAX = (
    "dataset | imagenet | none | MEAN/STD (per channel, e.g. 0.49,0.48,0.45/0.25,0.24,0.26)"
)


def parse_normalization(spec: str) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(mean, std) that ``--normalize`` names, or None for the dataset's own statistics."""
    text = spec.strip().lower()
    if text in ("", "dataset"):
        return None
    if text in NORMALIZATIONS:
        return NORMALIZATIONS[text]
    mean_text, slash, std_text = text.partition("/")
    try:
        if not slash:
            raise ValueError
        mean = tuple(float(v) for v in mean_text.split(","))
        std = tuple(float(v) for v in std_text.split(","))
    except ValueError:
        raise EdgepruneError(f"--normalize {spec!r}: expected {NORMALIZE_SYNTAX}") from None
    if len(mean) != len(std):
        raise EdgepruneError(
            f"--normalize {spec!r}: {len(mean)} mean(s) but {len(std)} std(s); give one per channel"
        )
    if not all(np.isfinite(v) for v in mean + std) or min(std) <= 0:
        raise EdgepruneError(f"--normalize {spec!r}: means must be finite and stds positive")
    return mean, std


def check_normalization(spec: str) -> None:
    parse_normalization(spec)


def with_normalization(dataset: ImageDataset, spec: str) -> ImageDataset:
    """The dataset carrying the normalisation ``spec`` names (one value per channel, or one
    value for every channel); the pixels are untouched."""
    parsed = parse_normalization(spec)
    if parsed is None:
        return dataset
    channels = dataset.image_shape[-1]
    mean, std = parsed
    if len(mean) == 1:
        mean, std = mean * channels, std * channels
    if len(mean) != channels:
        raise EdgepruneError(
            f"--normalize {spec!r} gives {len(mean)} channel(s); the data has {channels}"
        )
    return dataclasses.replace(dataset, mean=tuple(mean), std=tuple(std))


def load_configured(data) -> ImageDataset:
    """The dataset a run's data section (``config.data``) describes: loaded, its training
    images drawn (``train_images``) and carrying the normalisation it names."""
    dataset = load_dataset(data.data, data.input_size or None, data.seed)
    dataset = dataset.with_train_images(data.train_images, data.seed)
    return with_normalization(dataset, data.normalize)


def load_dataset(spec: str, input_size: int | None = None, seed: int = 0) -> ImageDataset:
    """Parse ``name`` or ``name:argument`` and load it."""
    name, _, argument = spec.partition(":")
    loader = DATASETS.get(name)
    if name not in ("digits", "fashion-mnist") and not argument:
        raise EdgepruneError(f"dataset {name!r} needs a local path: --data {name}:<dir>")
    return loader(argument, input_size, seed)
