"""``edgeprune corrupt`` beyond a dataset's whole test split: a plain folder of unlabelled
images at their own sizes, and a ``--limit`` folder used with the data it came from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from edgeprune.cli import main
from edgeprune.data.corruption_source import check_corruptions, parse_corruption_source
from edgeprune.data.datasets import load_dataset
from edgeprune.errors import EdgepruneError

FEW = "gaussian_noise,motion_blur,fog"


@pytest.fixture
def photos(tmp_path):
    from skimage import data

    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(data.astronaut()).resize((48, 40)).save(folder / "astronaut.png")
    Image.fromarray(data.coffee()).resize((30, 52)).save(folder / "sub" / "coffee.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def _corrupt(*args: str) -> int:
    return main(["corrupt", "--quiet", "--corruptions", FEW, *args])


def test_a_plain_folder_is_corrupted_at_each_image_own_size(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert _corrupt("--images", str(photos), "--out", str(out)) == 0
    assert (
        "3 corruptions x 5 severities x 2 images (each at its own size)" in capsys.readouterr().out
    )
    for name in FEW.split(","):
        for severity in range(1, 6):
            first = Image.open(out / name / str(severity) / "astronaut.png")
            second = Image.open(out / name / str(severity) / "sub" / "coffee.png")
            assert first.size == (48, 40) and second.size == (30, 52)
    clean = np.asarray(Image.open(photos / "astronaut.png"))
    noisy = np.asarray(Image.open(out / "gaussian_noise" / "5" / "astronaut.png"))
    assert np.abs(noisy.astype(int) - clean).mean() > 10  # corrupted, not copied
    record = json.loads((out / "corruptions.json").read_text())
    assert record["corruptions"] == FEW.split(",") and record["source"]["images"] == 2


def test_a_rerun_keeps_its_files_and_other_settings_are_refused(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert _corrupt("--images", str(photos), "--out", str(out)) == 0
    made = (out / "fog" / "3" / "astronaut.png").stat().st_mtime_ns
    assert _corrupt("--images", str(photos), "--out", str(out)) == 0
    assert (out / "fog" / "3" / "astronaut.png").stat().st_mtime_ns == made
    capsys.readouterr()
    assert _corrupt("--images", str(photos), "--out", str(out), "--seed", "4") == 2
    assert "made from other images or settings: seed 0 (now 4)" in capsys.readouterr().err
    Image.new("RGB", (20, 20)).save(photos / "zebra.png")
    assert _corrupt("--images", str(photos), "--out", str(out)) == 2
    assert "the images' content" in capsys.readouterr().err


def test_input_size_makes_centre_squares(photos, tmp_path):
    out = tmp_path / "out"
    assert _corrupt("--images", str(photos), "--out", str(out), "--input-size", "24") == 0
    assert Image.open(out / "fog" / "1" / "sub" / "coffee.png").size == (24, 24)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda f: (f / "bad.png").write_bytes(b"not a png"), "cannot read image"),
        (lambda f: Image.new("RGB", (8, 8)).save(f / "astronaut.jpg"), "would both be written as"),
    ],
)
def test_a_bad_folder_is_one_line_and_nothing_written(photos, tmp_path, capsys, make, message):
    make(photos)
    out = tmp_path / "out"
    assert _corrupt("--images", str(photos), "--out", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not any(p.suffix == ".png" for p in out.rglob("*")) if out.exists() else True


def test_data_or_images_but_not_both(photos, tmp_path, capsys):
    assert main(["corrupt", "--out", str(tmp_path / "o")]) == 2
    assert (
        main(["corrupt", "--images", str(photos), "--data", "digits", "--out", str(tmp_path / "o")])
        == 2
    )
    assert "--data" in capsys.readouterr().err


def test_a_limit_folder_is_used_with_the_data_it_came_from(tmp_path):
    """A ``--limit 100`` folder holds the class-balanced 100 images of the test split: it was
    refused because its labels were not the whole split's."""
    out = tmp_path / "limited"
    assert _corrupt("--data", "digits", "--limit", "100", "--out", str(out)) == 0
    dataset = load_dataset("digits")
    source = parse_corruption_source(f"cifar10-c:{out}", dataset.image_shape, len(dataset.test))
    splits, missing = check_corruptions(source, dataset)
    assert len(splits) == 15 and splits[0].size == 100 and "fog" not in missing
    other = load_dataset("digits", seed=5)  # another split of the same data: other images
    with pytest.raises(EdgepruneError, match="match neither the test split"):
        check_corruptions(source, other)
    record = json.loads((out / "corruptions.json").read_text())
    record["source"]["images"] = "0" * 64  # the labels agree, the pixels were others
    (out / "corruptions.json").write_text(json.dumps(record))
    with pytest.raises(EdgepruneError, match="the labels agree, the pixels do not"):
        check_corruptions(source, dataset)
