"""The parts of a test split edgeprune uses keep each class's share.

On the CIFAR-10 JPEG copies (and on any image folder) the test split is stored class by
class: a study's "1,000 images per corruption and severity" were 1,000 airplanes, and a
ResNet-56 at 20.7 % clean accuracy scored 78 % under corruption. These tests fail on that.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeprune.data.datasets import balanced_order, balanced_subset


@pytest.mark.parametrize("seed", range(5))
def test_every_prefix_keeps_each_class_share_to_one_image(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 40, size=rng.integers(2, 8))
    labels = np.repeat(np.arange(len(counts)), counts)  # stored class by class
    order = balanced_order(labels)
    assert np.array_equal(np.sort(order), np.arange(len(labels)))  # a permutation
    seen = np.zeros(len(counts))
    for m, index in enumerate(order, 1):
        seen[labels[index]] += 1
        assert np.all(np.abs(seen - m * counts / len(labels)) <= 1), (m, seen)


def test_the_order_is_fixed_whatever_else_is_random():
    labels = np.repeat(np.arange(4), 25)
    np.random.seed(123)  # the global generator plays no part
    first = balanced_order(labels)
    np.random.seed(7)
    assert np.array_equal(first, balanced_order(labels))
    # and within a class the members are drawn, not the first ones stored
    assert not np.array_equal(np.sort(first[:8])[:2], [0, 1])


def test_a_subset_is_in_the_split_order_and_all_of_it_is_the_split():
    labels = np.repeat(np.arange(10), 100)
    subset = balanced_subset(labels, 100)
    assert np.all(np.diff(subset) > 0)
    assert np.array_equal(np.bincount(labels[subset]), np.full(10, 10))
    assert np.array_equal(balanced_subset(labels, None), np.arange(1000))
    assert np.array_equal(balanced_subset(labels, 5000), np.arange(1000))


@pytest.fixture
def folder_by_class(tmp_path):
    """An image folder of 3 classes x 12 images: its test split comes out class by class."""
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog", "eel"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / cls / f"{i}.png")
    return tmp_path / "data"


def test_corrupt_with_a_limit_takes_every_class(folder_by_class, tmp_path):
    from edgeprune.cli import main

    out = tmp_path / "c"
    args = ["corrupt", "--data", f"imagefolder:{folder_by_class}", "--input-size", "8"]
    assert main([*args, "--out", str(out), "--limit", "6", "--corruptions", "brightness"]) == 0
    labels = np.load(out / "labels.npy")
    assert np.array_equal(np.bincount(labels), [10, 10, 10])  # 2 per class x 5 severities


def test_a_run_bundle_corrupts_and_explains_every_class(folder_by_class, tmp_path):
    from edgeprune.config import build_config
    from edgeprune.data.corruption_source import parse_corruption_source
    from edgeprune.data.datasets import load_configured
    from edgeprune.pipeline import prepare_bundle
    from edgeprune.progress import Progress
    from edgeprune.rundir import RunLayout
    from edgeprune.targets.bundle import CLEAN

    config = build_config(
        flag_values={
            "data": f"imagefolder:{folder_by_class}",
            "input-size": "8",
            "corruptions": "generate:6",
        }
    )
    dataset = load_configured(config.data)
    assert len(set(dataset.test.labels[: len(dataset.test) // 3])) == 1  # stored by class
    source = parse_corruption_source(
        config.data.corruptions, dataset.image_shape, len(dataset.test)
    )
    bundle = prepare_bundle(
        config, dataset, RunLayout(tmp_path / "run"), source, Progress(quiet=True)
    )
    clean = np.asarray(bundle.labels(CLEAN))
    assert sorted(clean) == sorted(dataset.test.labels)  # every test image, reordered
    assert len(set(clean[:3])) == 3  # the first images (those explained) span the classes
    corrupted = np.load(tmp_path / "run" / "bundle" / "corruptions" / "labels.npy")
    assert np.array_equal(np.bincount(corrupted), [10, 10, 10])
    assert "each class its share" in bundle.meta["info"]["corruptions"]["source"]
