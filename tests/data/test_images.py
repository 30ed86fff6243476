"""Image files keep their meaning: 16-bit greyscale scaled by range, what has no one 8-bit
meaning refused by name, and classes the model cannot learn refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeprune.data.datasets import load_dataset
from edgeprune.data.images import open_rgb
from edgeprune.errors import EdgepruneError


def test_sixteen_bit_greyscale_is_scaled_by_its_range(tmp_path):
    """Before: Pillow's convert("RGB") clipped at 255, a mean of 254.5 for this ramp."""
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    # Pillow >= 10.1 opens it as "I;16", Pillow 10.0 as "I" (32-bit): both are 16-bit data
    assert Image.open(tmp_path / "ramp.png").mode in ("I;16", "I")
    rgb = np.asarray(open_rgb(tmp_path / "ramp.png"))
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(rgb[..., 0], np.round(ramp / 257).astype(np.uint8))
    assert abs(rgb.mean() - ramp.mean() / 257) < 0.01


def test_eight_bit_and_palette_images_are_unchanged(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    np.testing.assert_array_equal(np.asarray(open_rgb(tmp_path / "a.png")), rgb)
    assert np.asarray(open_rgb(tmp_path / "p.png")).shape == (9, 7, 3)


def test_floating_point_and_huge_images_are_refused_by_name(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(EdgepruneError, match="f.tiff: floating-point pixels"):
        open_rgb(tmp_path / "f.tiff")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(EdgepruneError, match="big.png: more than 1,000 pixels, refused"):
        open_rgb(tmp_path / "big.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(EdgepruneError, match="cannot read image .*broken.png"):
        open_rgb(tmp_path / "broken.png")


def _folder(root, layout: dict[str, dict[str, int]]) -> None:
    rng = np.random.default_rng(0)
    for split, classes in layout.items():
        for name, count in classes.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
                Image.fromarray(image).save(root / split / name / f"{i}.png")


def test_a_test_class_missing_from_train_is_refused(tmp_path):
    """Before: the class "bird" was dropped from the test split without a word."""
    _folder(tmp_path, {"train": {"cat": 3, "dog": 3}, "test": {"cat": 2, "dog": 2, "bird": 2}})
    with pytest.raises(EdgepruneError, match="test/ has class folders that train/ lacks: bird"):
        load_dataset(f"imagefolder:{tmp_path}", 12)


def test_a_class_without_training_images_is_refused(tmp_path):
    _folder(tmp_path, {"train": {"cat": 3, "dog": 0}, "test": {"cat": 2, "dog": 2}})
    with pytest.raises(EdgepruneError, match="no training images for class dog"):
        load_dataset(f"imagefolder:{tmp_path}", 12)


def test_a_consistent_folder_still_loads(tmp_path):
    _folder(tmp_path, {"train": {"cat": 10, "dog": 10}, "test": {"cat": 2, "dog": 2}})
    dataset = load_dataset(f"imagefolder:{tmp_path}", 12)
    assert dataset.class_names == ("cat", "dog") and len(dataset.test) == 4
